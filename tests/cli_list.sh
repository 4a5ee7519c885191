#!/bin/sh
# cli_list.sh — `oclip list`: every pretrained name of OpenCLIP 3.3.0 is listed once with its
# repo, either run or refused with a reason; the count line agrees with the rows; the filters;
# README's coverage table and docs/COVERAGE.md are what tools/coverage.py makes of the list.
# POSIX sh (+ python3 for the JSON).
NAME=cli_list.sh
. tests/lib_cli.sh

expect 0 "$OCLIP" list
cp "$tmp/out" "$tmp/all"
n_rows=$(grep -c -v ' pretrained names load$' "$tmp/all")
n_ok=$(grep -c '^[^ ]*  *ok  ' "$tmp/all")
n_refused=$(grep -c '^[^ ]*  *refused: ..*' "$tmp/all")
if [ "$n_rows" -eq 196 ]; then ok; else bad "$n_rows rows, want OpenCLIP 3.3.0's 196 names"; fi
if [ $((n_ok + n_refused)) -eq "$n_rows" ]; then ok; else bad "$n_ok ok + $n_refused refused != $n_rows"; fi
contains "$tmp/all" "^$n_ok of 196 pretrained names load\$"
contains "$tmp/all" "^ViT-B-32:laion2b_s34b_b79k  *ok  (hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K/)\$"

expect 0 "$OCLIP" list --json
python3 - "$tmp/out" "$n_ok" <<'PY' && ok || bad "list --json"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 196, len(rows)
assert len({r["name"] for r in rows}) == 196
assert sum(r["supported"] for r in rows) == int(sys.argv[2])
for r in rows:
    assert r["name"] == r["arch"] + ":" + r["tag"], r
    assert r["hf_hub"], r                        # where pull downloads it from
    assert r["family"], r                        # the built-in config was found
    assert r["supported"] == (r["reason"] is None), r
    assert r["supported"] or len(r["reason"]) > 10, r
PY

# filters: --supported / --refused partition the list; PATTERN is case-insensitive
expect 0 "$OCLIP" list --supported
if [ "$(grep -c '  ok' "$tmp/out")" -eq "$n_ok" ] && ! grep -q 'refused:' "$tmp/out"; then ok; else bad "--supported"; fi
expect 0 "$OCLIP" list --refused
if [ "$(grep -c 'refused:' "$tmp/out")" -eq "$n_refused" ]; then ok; else bad "--refused"; fi
expect 0 "$OCLIP" list vit-b-32:LAION2B
contains "$tmp/out" "^ViT-B-32:laion2b_s34b_b79k "
contains "$tmp/out" "^[0-9]* of [0-9]* pretrained names load (that match)\$"
contains "$tmp/out" "^coca_ViT-B-32:laion2b_s13b_b90k  *ok"
if grep -v 'names load' "$tmp/out" | grep -qiv '^[^ ]*vit-b-32:laion2b'; then bad "pattern: $(cat "$tmp/out")"; else ok; fi
expect 0 "$OCLIP" list --configs --json
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert len(r) > 150 and all(x['tag'] is None for x in r)" "$tmp/out" && ok || bad "--configs --json"
expect 2 "$OCLIP" list --refsued
contains "$tmp/err" "did you mean '--refused'"

# the generated tables are current
expect 0 python3 tools/coverage.py --check "$OCLIP"

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
