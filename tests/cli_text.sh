#!/bin/sh
# cli_text.sh — strings from files on their way out: every --json output is valid UTF-8 JSON
# with control characters escaped, labels that are not UTF-8 are refused naming the line, a
# UTF-8 BOM is skipped in labels and prompt files, a labels file may end in blank lines (CRLF
# too), duplicate labels are warned about, and no control character from a file (ESC ...)
# reaches the terminal raw. POSIX sh and python3's standard library.
NAME=cli_text.sh
. tests/lib_cli.sh
EX=examples

# valid_json FILE [WANT...]: every line of FILE parses as strict JSON from UTF-8 bytes, and
# each WANT string occurs among the decoded strings
valid_json() {
    python3 - "$@" <<'PY' || bad "not valid JSON: $(head -c 300 "$1")"
import json, sys
raw = open(sys.argv[1], "rb").read()
text = raw.decode("utf-8")  # strict: raises on bytes that are not UTF-8
strs = []
def walk(v):
    if isinstance(v, str): strs.append(v)
    elif isinstance(v, dict):
        for k, x in v.items(): strs.append(k); walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
for line in text.splitlines():
    walk(json.loads(line, strict=True))
for w in sys.argv[2:]:
    w = w.encode().decode("unicode_escape")
    assert w in strs, (w, strs)
# no raw control character anywhere in the output
assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text.replace("\n", "")), text
PY
}
# no_ctl FILE: no raw control character but newline in FILE
no_ctl() {
    if python3 -c 'import sys; d = open(sys.argv[1], "rb").read().decode("utf-8", "replace"); sys.exit(any(ord(c) < 0x20 and c != "\n" or 0x7f <= ord(c) <= 0x9f for c in d))' "$1"
    then ok; else bad "raw control characters in $1: $(od -c "$1" | head -5)"; fi
}

# labels with control characters: escaped in --json, shown as \xNN in text
printf 'red \033[31mcircle\nblue\177\302\233 triangle\ttab\n' >"$tmp/ctl.txt"
expect 0 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/ctl.txt" --json
valid_json "$tmp/out" 'red \x1b[31mcircle' 'blue\x7f\x9b triangle\ttab'
contains "$tmp/out" 'red \\u001b\[31mcircle'
contains "$tmp/out" 'blue\\u007f\\u009b triangle\\ttab'
expect 0 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/ctl.txt"
no_ctl "$tmp/out"
contains "$tmp/out" 'red \\x1b\[31mcircle'

# labels that are not UTF-8: refused, naming the line
printf 'red circle\nbl\377ue\n' >"$tmp/latin.txt"
expect 2 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/latin.txt" --json
contains "$tmp/err" "line 2 of .*latin.txt is not UTF-8"
if [ -s "$tmp/out" ]; then bad "printed $(cat "$tmp/out")"; else ok; fi
expect 2 "$OCLIP" classify "$EX/red_circle.png" --labels "$(printf 'red,bl\377ue')"
contains "$tmp/err" "label 2 is not UTF-8"
no_ctl "$tmp/err"

# a BOM, CRLF line ends and blank lines at the end of a labels file
printf '\357\273\277red circle\r\nblue triangle\r\n\r\n\r\n' >"$tmp/bom.txt"
expect 0 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/bom.txt" --json
valid_json "$tmp/out" 'red circle' 'blue triangle'
if grep -q "$(printf '\357\273\277')" "$tmp/out"; then bad "the BOM is in a label"; else ok; fi
# a blank line inside the list is still an error
printf 'red circle\n\nblue triangle\n' >"$tmp/hole.txt"
expect 2 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/hole.txt"
contains "$tmp/err" "label 2 is empty (a blank line in"

# duplicate labels: a warning
printf 'red circle\nblue triangle\nred circle\n' >"$tmp/dup.txt"
expect 0 "$OCLIP" classify "$EX/red_circle.png" --labels-file "$tmp/dup.txt"
contains "$tmp/err" "^oclip: warning: label 'red circle' is given more than once (lines 1 and 3"
expect 0 "$OCLIP" classify "$EX/red_circle.png" --labels "red circle,blue triangle"
if grep -q warning "$tmp/err"; then bad "a warning without duplicates"; else ok; fi

# a prompt file's BOM is not part of the first prompt
printf '\357\273\277a red circle\n' >"$tmp/p.txt"
expect 0 "$OCLIP" embed-text -f "$tmp/p.txt" -o "$tmp/bom.npy"
expect 0 "$OCLIP" embed-text "a red circle" -o "$tmp/plain.npy"
same "$tmp/bom.npy" "$tmp/plain.npy"

# tensor names with control characters (a hostile file built here): inspect's text escapes
# them, --json is valid
python3 - "$tmp/ctl.safetensors" <<'PY'
import json, struct, sys
names = ["a\x1b]0;pwned\x07b", "tab\there", "del\x7f", "c1\u009bx"]
hdr, off = {}, 0
for n in names:
    hdr[n] = {"dtype": "F32", "shape": [1], "data_offsets": [off, off + 4]}
    off += 4
h = json.dumps(hdr).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + bytes(off))
PY
expect 0 "$OCLIP" inspect --tensors "$tmp/ctl.safetensors"
no_ctl "$tmp/out"
no_ctl "$tmp/err"
contains "$tmp/out" 'a\\x1b\]0;pwned\\x07b'
expect 0 "$OCLIP" inspect --json --tensors "$tmp/ctl.safetensors"
valid_json "$tmp/out" 'a\x1b]0;pwned\x07b' 'tab\there' 'del\x7f' 'c1\x9bx'
expect 1 "$OCLIP" check "$tmp/ctl.safetensors"
no_ctl "$tmp/out"
no_ctl "$tmp/err"
expect 1 "$OCLIP" check --json "$tmp/ctl.safetensors"
if [ -s "$tmp/out" ]; then valid_json "$tmp/out"; else ok; fi
no_ctl "$tmp/err"
# a file name with an escape sequence, in an error message
cp "$tmp/latin.txt" "$tmp/x$(printf '\033')[2J.pt"
expect 1 "$OCLIP" inspect "$tmp/x$(printf '\033')[2J.pt"
no_ctl "$tmp/err"

echo "cli_text.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
