#!/bin/sh
# cli_tokenize.sh — `oclip tokenize` as a user runs it: exit codes, --help, JSON lines, .npy
# output, prompt files (\n ends a line, a trailing \r is dropped, U+2028 stays in the prompt,
# invalid UTF-8 reads as U+FFFD), context lengths, clean modes. Expected ids come from the
# tokenizer fixtures (OpenCLIP's output). Needs POSIX sh and python3's standard library.
NAME=cli_tokenize.sh
. tests/lib_cli.sh
F=tests/fixtures/tokenizer

# usage
expect 0 "$OCLIP" tokenize --help
contains "$tmp/out" "usage: oclip tokenize"
expect 2 "$OCLIP" tokenize
contains "$tmp/err" "no text"
expect 2 "$OCLIP" tokenize --bogus x
expect 2 "$OCLIP" tokenize --context-length 0 x
expect 2 "$OCLIP" tokenize --context-length 12x x
expect 2 "$OCLIP" tokenize --clean upper x
expect 2 "$OCLIP" tokenize -f
expect 1 "$OCLIP" tokenize -f "$tmp/does-not-exist.txt"
contains "$tmp/err" "cannot open"

# TEXT arguments -> one JSON array per line, as OpenCLIP's rows (context.json)
expect 0 "$OCLIP" tokenize "a photo of a cat." ""
python3 - "$tmp/out" "$F/context.json" <<'PY' || bad "JSON rows for TEXT arguments"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
want = {(r["t"], r["ctx"]): r["row"] for r in json.load(open(sys.argv[2]))["rows"]}
assert len(rows) == 2, rows
assert rows[0] == want[("a photo of a cat.", 77)], rows[0]
assert rows[1] == want[("", 77)], rows[1]
PY

# context lengths, truncation with EOT forced into the last slot
for n in 1 2 3 5 16 100; do
    expect 0 "$OCLIP" tokenize --context-length "$n" "a photo of a cat."
    python3 - "$tmp/out" "$F/context.json" "$n" <<'PY' || bad "context length $n"
import json, sys
n = int(sys.argv[3])
row = json.loads(open(sys.argv[1]).read())
want = {(r["t"], r["ctx"]): r["row"] for r in json.load(open(sys.argv[2]))["rows"]}
assert row == want[("a photo of a cat.", n)], (row, n)
PY
done

# a prompt file: CRLF, U+2028 inside a line, an empty line, invalid UTF-8, no final newline;
# written with printf octal escapes so every byte is explicit
printf 'a\342\200\250b\r\n\ncaf\351\nit'"'"'s 2024' >"$tmp/prompts.txt"
expect 0 "$OCLIP" tokenize -f "$tmp/prompts.txt" -o "$tmp/ids.npy"
python3 - "$tmp/ids.npy" "$F/cases.jsonl" <<'PY' || bad "prompt file -> .npy"
import json, struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x93NUMPY\x01\x00", data[:8]
hlen = struct.unpack("<H", data[8:10])[0]
header = data[10:10 + hlen].decode("latin-1")
assert "'descr': '<i8'" in header and "'shape': (4, 77)" in header, header
assert (10 + hlen) % 64 == 0
vals = struct.unpack("<%dq" % (4 * 77), data[10 + hlen:])
rows = [list(vals[i * 77:(i + 1) * 77]) for i in range(4)]
ids = {}
for line in open(sys.argv[2], encoding="utf-8"):
    o = json.loads(line)
    key = o["t"] if "t" in o else bytes.fromhex(o["b"]).decode("utf-8", "replace")
    ids[key] = o["ids"]
def row(text):
    r = [49406] + ids[text] + [49407]
    return r + [0] * (77 - len(r))
assert rows[0] == row("a\u2028b"), rows[0]          # U+2028 belongs to the prompt, \r dropped
assert rows[1] == row(""), rows[1]                 # empty line = empty prompt
assert rows[2] == row("caf\ufffd"), rows[2]         # invalid UTF-8 -> U+FFFD
assert rows[3] == row("it's 2024"), rows[3]        # last line without newline
PY

# standard input, and files mixed with TEXT arguments in order
printf 'a photo of a cat.\n' | "$OCLIP" tokenize -f - "a photo of a cat." >"$tmp/out" 2>"$tmp/err"
if [ "$(sed -n 1p "$tmp/out")" = "$(sed -n 2p "$tmp/out")" ] && [ "$(wc -l <"$tmp/out")" -eq 2 ]
then ok; else bad "stdin prompt differs from the same TEXT"; fi

# clean modes (cases.jsonl "w" / "z": SimpleTokenizer(clean='whitespace' / 'canonicalize'))
expect 0 "$OCLIP" tokenize --clean whitespace "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T"
cp "$tmp/out" "$tmp/w"
expect 0 "$OCLIP" tokenize --clean canonicalize "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T"
python3 - "$tmp/w" "$tmp/out" "$F/cases.jsonl" <<'PY' || bad "clean modes"
import json, sys
t = "I'M YOU'RE WE'VE THEY'LL SHE'D IT'S DON'T"
case = next(o for o in map(json.loads, open(sys.argv[3], encoding="utf-8")) if o.get("t") == t)
for path, key in ((sys.argv[1], "w"), (sys.argv[2], "z")):
    row = json.loads(open(path).read())
    want = [49406] + case[key] + [49407]
    assert row == want + [0] * (77 - len(want)), (key, row)
PY

# -m SPEC: the model's context length (every spec form, resolved as every command does); an
# explicit --context-length wins; a model without OpenCLIP's tokenizer is refused
expect 0 "$OCLIP" tokenize -m default "a photo of a cat."
python3 - "$tmp/out" "$F/context.json" <<'PY' || bad "-m default: 32 ids"
import json, sys
row = json.loads(open(sys.argv[1]).read())
want = {(r["t"], r["ctx"]): r["row"] for r in json.load(open(sys.argv[2]))["rows"]}
# a short prompt: OpenCLIP's 77-id row cut to the embedded model's 32 (only padding goes)
assert row == want[("a photo of a cat.", 77)][:32], row
PY
expect 0 "$OCLIP" tokenize -m models/default -n 5 "a photo of a cat."
python3 - "$tmp/out" "$F/context.json" <<'PY' || bad "-m with -n"
import json, sys
row = json.loads(open(sys.argv[1]).read())
want = {(r["t"], r["ctx"]): r["row"] for r in json.load(open(sys.argv[2]))["rows"]}
assert row == want[("a photo of a cat.", 5)], row
PY
for spec in ViT-L-14-336 ViT-B-32:openai models/default/open_clip_config.json; do
    expect 0 "$OCLIP" tokenize -m "$spec" x
    python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); assert len(r)==int(sys.argv[2]), len(r)' \
        "$tmp/out" "$( [ "$spec" = models/default/open_clip_config.json ] && echo 32 || echo 77)" \
        && ok || bad "-m $spec: context length"
done
expect 1 "$OCLIP" tokenize -m ViT-B-16-SigLIP x
contains "$tmp/err" "Hugging Face tokenizer"
expect 1 "$OCLIP" tokenize -m no/such/model x
contains "$tmp/err" "no/such/model"

# an unwritable output: exit 1, nothing left behind
expect 1 "$OCLIP" tokenize -o "$tmp/no/such/dir/ids.npy" x

echo "cli_tokenize.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
