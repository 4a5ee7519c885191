#!/bin/sh
# cli_coca.sh — CoCa through the CLI as a user runs it, on the tiny coca_ViT-B-32-shaped model of
# tests/fixtures/coca/b32_tiny (tools/fixtures_coca.py; expected values from OpenCLIP 3.3.0):
# check (the text_decoder.* keys expected, none unexpected), embed-image from image files
# (max-abs <= 1e-4 against OpenCLIP's features), and `oclip caption` on the three images whose
# generate() ids expected.json holds: --json ids identical and captions equal to OpenCLIP's
# decode with the defaults, with --repetition-penalty 1.5 --seq-len 12, and with --beams 4
# --beam-groups 1 --min-len 8 --seq-len 16 (and the defaults on base_tiny, coca_base's shape);
# the plain output (PATH<TAB>caption); usage errors and
# a model without a decoder refused.
# Needs only POSIX sh and python3's standard library.
NAME=cli_coca.sh
. tests/lib_cli.sh
D=tests/fixtures/coca/b32_tiny
IMGS="examples/red_circle.png examples/blue_triangle.png examples/green_ring.png"

py() {
    code=$1; shift
    if python3 -c "$code" "$@" >"$tmp/py.out" 2>&1; then ok; else bad "$(tail -3 "$tmp/py.out")"; fi
}
CMP='
import json, sys
exp = json.load(open(sys.argv[1]))["generate"]
kind = sys.argv[2]
rows = [json.loads(l) for l in open(sys.argv[3])]
assert len(rows) == 3, rows
for i, r in enumerate(rows):
    want = exp["gen_%s_%d" % (kind, i)]
    assert r["image"] == want["image"], (r["image"], want["image"])
    assert r["ids"] == want["ids"], (kind, i, r["ids"], want["ids"])
    assert r["caption"] == want["text"], (kind, i, r["caption"], want["text"])
'

expect 0 "$OCLIP" check "$D"
contains "$tmp/out" "^OK: "

# captions with OpenCLIP generate()'s defaults
expect 0 "$OCLIP" caption -m "$D" $IMGS --json --threads 2
cp "$tmp/out" "$tmp/default.jsonl"
py "$CMP" "$D/expected.json" default "$tmp/default.jsonl"
expect 0 "$OCLIP" caption -m "$D" $IMGS --json --repetition-penalty 1.5 --seq-len 12
cp "$tmp/out" "$tmp/rep.jsonl"
py "$CMP" "$D/expected.json" rep "$tmp/rep.jsonl"
expect 0 "$OCLIP" caption -m "$D" $IMGS --json --beams 4 --beam-groups 1 --min-len 8 --seq-len 16
cp "$tmp/out" "$tmp/b4.jsonl"
py "$CMP" "$D/expected.json" b4 "$tmp/b4.jsonl"
# coca_base's shape (no attentional pool: the decoder attends to the patch tokens)
expect 0 "$OCLIP" caption -m tests/fixtures/coca/base_tiny $IMGS --json
cp "$tmp/out" "$tmp/base.jsonl"
py "$CMP" tests/fixtures/coca/base_tiny/expected.json default "$tmp/base.jsonl"

# the plain output: PATH<TAB>caption, one line per image
expect 0 "$OCLIP" caption -m "$D" examples/blue_triangle.png
py '
import json, sys
want = json.load(open(sys.argv[1]))["generate"]["gen_default_1"]["text"]
got = open(sys.argv[2]).read()
assert got == "examples/blue_triangle.png\t" + want + "\n", repr(got)
' "$D/expected.json" "$tmp/out"

# embed-image from the image files: OpenCLIP's encode_image(normalize=True)
expect 0 "$OCLIP" embed-image -m "$D" $IMGS examples/green_ring.png -o "$tmp/img.npy"
py '
import ast, json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<H", b[8:10])[0]
h = ast.literal_eval(b[10:10 + n].decode())
vals = struct.unpack("<%df" % ((len(b) - 10 - n) // 4), b[10 + n:])
assert h["shape"][0] == 4, h
E = h["shape"][1]
st = open(sys.argv[2], "rb").read()
hl = struct.unpack("<Q", st[:8])[0]
meta = json.loads(st[8:8 + hl])["img_features"]
a, z = meta["data_offsets"]
want = struct.unpack("<%df" % ((z - a) // 4), st[8 + hl + a:8 + hl + z])
for i, j in enumerate([0, 1, 2, 2]):  # the fixture images 0..2, then 2 again
    d = max(abs(vals[i * E + e] - want[j * E + e]) for e in range(E))
    assert d <= 1e-4, (i, d)
' "$tmp/img.npy" "$D/expected.safetensors"

# usage errors and refusals
expect 2 "$OCLIP" caption -m "$D"
contains "$tmp/err" "no images"
expect 2 "$OCLIP" caption -m "$D" examples/red_circle.png --beams 1
expect 2 "$OCLIP" caption -m "$D" examples/red_circle.png --bemas 4
contains "$tmp/err" "beams"
expect 1 "$OCLIP" caption -m "$D" examples/red_circle.png --beams 6 --beam-groups 4
contains "$tmp/err" "num_beam_groups"
expect 1 "$OCLIP" caption -m "$D" examples/red_circle.png --seq-len 5
contains "$tmp/err" "min_seq_len"
expect 1 "$OCLIP" caption examples/red_circle.png
contains "$tmp/err" "no text decoder"
echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
