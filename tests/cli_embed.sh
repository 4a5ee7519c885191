#!/bin/sh
# cli_embed.sh — `oclip embed-image`, `embed-text`, `similarity` as a user runs them, against the
# OpenCLIP outputs in tests/fixtures/engine (see tools/fixtures_engine.py): values, thread- and
# batch-size independence (same bytes), .npy input validation, exit codes and messages.
# Needs only POSIX sh and python3's standard library.
NAME=cli_embed.sh
. tests/lib_cli.sh
E=tests/fixtures/engine
# close GOT.npy WANT.npy: float32 arrays of one shape, max-abs <= 1e-4 and cosine >= 0.99999
close() {
    python3 - "$1" "$2" <<'PY' || bad "close $1 $2"
import ast, math, struct, sys
def load(p):
    b = open(p, "rb").read()
    assert b[:6] == b"\x93NUMPY", p
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    assert h["descr"] == "<f4" and not h["fortran_order"], h
    data = b[10 + n:]
    return h["shape"], struct.unpack("<%df" % (len(data) // 4), data)
(sa, a), (sb, b) = load(sys.argv[1]), load(sys.argv[2])
assert sa == sb, (sa, sb)
mx = max(abs(x - y) for x, y in zip(a, b))
cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
assert mx <= 1e-4 and cos >= 0.99999, (mx, cos)
PY
    ok
}

expect 0 "$OCLIP" embed-image --help
contains "$tmp/out" "usage: oclip embed-image"
contains "$tmp/out" "IMAGE\.\.\.  *image files"
expect 0 "$OCLIP" embed-text --help
expect 0 "$OCLIP" similarity --help

# every variant in f32, one in bf16 (test_engine covers all nine in the library; this keeps the
# script fast under the sanitizers)
for vd in gelu/f32 quickgelu_ls/f32 clipa_like/f32 quickgelu_ls/bf16; do
    M=$E/$vd
    for t in pixels tokens img_norm txt_norm img_proj txt_proj logits; do
        "$OCLIP" inspect --dump $t -o "$tmp/$t.npy" "$M/expected.safetensors" || bad "dump $t"
    done
    expect 0 "$OCLIP" embed-image -m "$M" --pixels "$tmp/pixels.npy" -o "$tmp/img.npy" --threads 1
    close "$tmp/img.npy" "$tmp/img_norm.npy"
    expect 0 "$OCLIP" embed-text -m "$M" --tokens "$tmp/tokens.npy" -o "$tmp/txt.npy" --threads 1
    close "$tmp/txt.npy" "$tmp/txt_norm.npy"
    expect 0 "$OCLIP" embed-text -m "$M/open_clip_model.safetensors" --tokens "$tmp/tokens.npy" \
        -o "$tmp/txt_raw.npy" --no-normalize
    close "$tmp/txt_raw.npy" "$tmp/txt_proj.npy"
    expect 0 "$OCLIP" similarity -m "$M" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" \
        -o "$tmp/lg.npy"
    close "$tmp/lg.npy" "$tmp/logits.npy"
    # same bytes for any thread count and batch size
    expect 0 "$OCLIP" embed-image -m "$M" --pixels "$tmp/pixels.npy" -o "$tmp/img2.npy" --threads 2
    same "$tmp/img.npy" "$tmp/img2.npy"
    expect 0 "$OCLIP" embed-image -m "$M" --pixels "$tmp/pixels.npy" -o "$tmp/img3.npy" \
        --threads 3 --batch-size 1
    same "$tmp/img.npy" "$tmp/img3.npy"
    expect 0 "$OCLIP" embed-text -m "$M" --tokens "$tmp/tokens.npy" -o "$tmp/txt2.npy" \
        --threads 2 --batch-size 3
    same "$tmp/txt.npy" "$tmp/txt2.npy"
done

# similarity printed: one row per image, or JSON
M=$E/gelu/f32
"$OCLIP" inspect --dump pixels -o "$tmp/pixels.npy" "$M/expected.safetensors"
"$OCLIP" inspect --dump tokens -o "$tmp/tokens.npy" "$M/expected.safetensors"
"$OCLIP" inspect --dump logits -o "$tmp/logits.npy" "$M/expected.safetensors"
expect 0 "$OCLIP" similarity -m "$M" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" --json
python3 - "$tmp/out" "$tmp/logits.npy" <<'PY' || bad "similarity --json"
import ast, json, struct, sys
got = json.load(open(sys.argv[1]))["logits"]
b = open(sys.argv[2], "rb").read()
n = struct.unpack("<H", b[8:10])[0]
shape = ast.literal_eval(b[10:10 + n].decode())["shape"]
want = struct.unpack("<%df" % (shape[0] * shape[1]), b[10 + n:])
assert [len(got), len(got[0])] == list(shape)
rows, cols = shape
assert max(abs(got[i][j] - want[i * cols + j]) for i in range(rows) for j in range(cols)) <= 1e-4
PY
expect 0 "$OCLIP" similarity -m "$M" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy"
[ "$(wc -l <"$tmp/out")" -eq 3 ] && ok || bad "similarity: expected 3 rows"
# --config / --quick-gelu are accepted; QuickGELU changes the numbers of a GELU model
expect 0 "$OCLIP" embed-image -m "$M/open_clip_model.safetensors" \
    --config "$M/open_clip_config.json" \
    --pixels "$tmp/pixels.npy" -o "$tmp/a.npy"
expect 0 "$OCLIP" embed-image -m "$M" --quick-gelu --pixels "$tmp/pixels.npy" -o "$tmp/b.npy"
if cmp -s "$tmp/a.npy" "$tmp/b.npy"; then bad "--quick-gelu changed nothing"; else ok; fi

# usage errors (2) and failures (1)
expect 2 "$OCLIP" embed-image -m "$M" -o "$tmp/x.npy"
contains "$tmp/err" "no images: give IMAGE files or --pixels"
expect 1 "$OCLIP" embed-image -m "$M" photo.jpg -o "$tmp/x.npy"
contains "$tmp/err" "'photo.jpg': cannot open"
expect 2 "$OCLIP" embed-image -m "$M" photo.jpg --pixels "$tmp/pixels.npy" -o "$tmp/x.npy"
expect 2 "$OCLIP" embed-text -m "$M" -o "$tmp/x.npy"
contains "$tmp/err" "no text"
# no -m: the embedded default model, whose context length is not the tiny model's
expect 1 "$OCLIP" embed-text --tokens "$tmp/tokens.npy" -o "$tmp/x.npy"
contains "$tmp/err" "the model's context length"
expect 2 "$OCLIP" embed-text --arch ViT-B-32 --tokens "$tmp/tokens.npy" -o "$tmp/x.npy"
contains "$tmp/err" "apply to a checkpoint given with -m"
expect 2 "$OCLIP" embed-text -m "$M" --tokens "$tmp/tokens.npy" -o "$tmp/x.npy" --threads 0
expect 2 "$OCLIP" similarity -m "$M" --pixels "$tmp/pixels.npy"
expect 1 "$OCLIP" embed-image -m "$M" --pixels "$tmp/tokens.npy" -o "$tmp/x.npy"
contains "$tmp/err" "dtype is '<i8', expected '<f4'"
"$OCLIP" inspect --dump pixels -o "$tmp/p48.npy" "$E/clipa_like/f32/expected.safetensors"
expect 1 "$OCLIP" embed-image -m "$M" --pixels "$tmp/p48.npy" -o "$tmp/x.npy"
contains "$tmp/err" "shape must be \[N, 3, 32, 32\]"
head -c 100 "$tmp/pixels.npy" >"$tmp/trunc.npy"
expect 1 "$OCLIP" embed-image -m "$M" --pixels "$tmp/trunc.npy" -o "$tmp/x.npy"
contains "$tmp/err" "truncated"
expect 1 "$OCLIP" embed-image -m "$M" --pixels "$M/open_clip_config.json" -o "$tmp/x.npy"
contains "$tmp/err" "not a .npy file"
# hand-made .npy files the strict reader refuses, each with its reason
python3 - "$tmp" <<'PY'
import struct, sys
def npy(name, header, data, version=(1, 0)):
    h = header.encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    open(sys.argv[1] + "/" + name, "wb").write(b"\x93NUMPY" + bytes(version) + size + h + data)
d = struct.pack("<%df" % (3 * 32 * 32), *([0.5] * (3 * 32 * 32)))
npy("fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 3, 32, 32), }", d)
npy("bigend.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", d)
npy("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", d + d)
npy("extra.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), 'x': 1, }", d)
npy("trailing.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", d + b"xx")
npy("v3.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", d, (3, 0))
npy("v2.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }", d, (2, 0))
npy("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 3, 32, 32), }", d)
PY
for case in "fortran:Fortran-order" "bigend:dtype is '>f4'" "f8:dtype is '<f8'" \
            "extra:bad .npy header" "trailing:bytes after" "v3:version 3.0" "huge:truncated"; do
    expect 1 "$OCLIP" embed-image -m "$M" --pixels "$tmp/${case%%:*}.npy" -o "$tmp/x.npy"
    contains "$tmp/err" "${case#*:}"
done
expect 0 "$OCLIP" embed-image -m "$M" --pixels "$tmp/v2.npy" -o "$tmp/v2out.npy"
HF_HUB_CACHE="$tmp/nocache" expect 1 "$OCLIP" embed-image -m hf-hub:laion/CLIP-ViT-B-32 \
    --pixels "$tmp/pixels.npy" -o "$tmp/x.npy"
contains "$tmp/err" "oclip pull"
expect 1 "$OCLIP" embed-image -m tests/fixtures/arch/mismatch/missing_layer.safetensors \
    --config tests/fixtures/arch/tiny/b32like/open_clip_config.json --pixels "$tmp/pixels.npy" \
    -o "$tmp/x.npy"
contains "$tmp/err" "hint: run 'oclip check"
[ ! -e "$tmp/x.npy" ] && ok || bad "an output file was left behind by a failure"

# image files and prompts: the same bytes as 'oclip preprocess' / 'oclip tokenize' followed by
# --pixels / --tokens (each stage is bit-exact with OpenCLIP in its own tests; test_e2e compares
# the whole pipeline with OpenCLIP). The e2e model has the real 49408-id vocabulary.
M2=tests/fixtures/e2e
I=tests/fixtures/preprocess/img
expect 0 "$OCLIP" preprocess -m "$M2" "$I/p_601x589.png" "$I/jpg_420.jpg" -o "$tmp/pp.npy"
expect 0 "$OCLIP" embed-image -m "$M2" --pixels "$tmp/pp.npy" -o "$tmp/e1.npy"
expect 0 "$OCLIP" embed-image -m "$M2" "$I/p_601x589.png" "$I/jpg_420.jpg" -o "$tmp/e2.npy"
if cmp -s "$tmp/e1.npy" "$tmp/e2.npy"; then ok; else bad "image files != preprocess + --pixels"; fi
"$OCLIP" embed-image -m "$M2" "$I/p_601x589.png" - -o "$tmp/e3.npy" <"$I/jpg_420.jpg" 2>"$tmp/err"
same "$tmp/e2.npy" "$tmp/e3.npy"
expect 2 "$OCLIP" embed-image -m "$M2" - - -o "$tmp/x.npy"
printf 'a photo of a cat\r\nthe dog\n' > "$tmp/prompts.txt"
expect 0 "$OCLIP" tokenize -n 16 -f "$tmp/prompts.txt" -o "$tmp/tk.npy"
expect 0 "$OCLIP" embed-text -m "$M2" --tokens "$tmp/tk.npy" -o "$tmp/t1.npy"
expect 0 "$OCLIP" embed-text -m "$M2" -f "$tmp/prompts.txt" -o "$tmp/t2.npy"
if cmp -s "$tmp/t1.npy" "$tmp/t2.npy"; then ok; else bad "prompts != tokenize + --tokens"; fi
expect 0 "$OCLIP" embed-text -m "$M2" "a photo of a cat" "the dog" -o "$tmp/t3.npy"
if cmp -s "$tmp/t1.npy" "$tmp/t3.npy"; then ok; else bad "TEXT args != -f FILE"; fi
expect 0 "$OCLIP" similarity -m "$M2" --pixels "$tmp/pp.npy" --tokens "$tmp/tk.npy" -o "$tmp/l1.npy"
expect 0 "$OCLIP" similarity -m "$M2" --images "$I/p_601x589.png" "$I/jpg_420.jpg" \
    --texts "a photo of a cat" "the dog" -o "$tmp/l2.npy"
if cmp -s "$tmp/l1.npy" "$tmp/l2.npy"; then ok; else bad "similarity files != arrays"; fi
expect 0 "$OCLIP" similarity -m "$M2" --images "$I/jpg_420.jpg" -f "$tmp/prompts.txt" --json
contains "$tmp/out" '^{"logits": \[\[[-0-9.e]*, [-0-9.e]*\]\]}$'
expect 1 "$OCLIP" embed-text -m "$M" "a cat" -o "$tmp/x.npy"
contains "$tmp/err" "vocabulary of 64 ids, not the 49408 of OpenCLIP's tokenizer"
expect 2 "$OCLIP" similarity -m "$M" --images --texts a

# classify: the probabilities OpenCLIP's zero-shot classifier gives (tests/fixtures/e2e)
expect 0 "$OCLIP" classify --help
contains "$tmp/out" "usage: oclip classify"
IMGS=$(python3 -c "import json; print(' '.join(json.load(open('$M2/expected.json'))['images']))")
LABELS=$(python3 -c "import json; print(','.join(json.load(open('$M2/expected.json'))['zero_shot']['labels']))")
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json
python3 - "$tmp/out" "$M2/expected.json" <<'PY' || bad "classify probabilities"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
exp = json.load(open(sys.argv[2]))
zs = exp["zero_shot"]
assert [r["image"] for r in rows] == exp["images"]
for r, want in zip(rows, zs["probs"]):
    got = {p["label"]: p["prob"] for p in r["predictions"]}
    assert len(got) == len(zs["labels"])
    for label, pw in zip(zs["labels"], want):
        assert abs(got[label] - pw) <= 1e-4, (label, got[label], pw)
    probs = [p["prob"] for p in r["predictions"]]
    assert probs == sorted(probs, reverse=True)
PY
ok
# the class-embedding cache: a second run reads it (same bytes out), a damaged file is ignored,
# a changed one is used (proof that it is read), --no-cache neither reads nor writes it
cp "$tmp/out" "$tmp/cls1.json"
n_cache=$(ls "$OCLIP_CACHE_DIR/classifiers" | wc -l)
[ "$n_cache" -eq 1 ] && ok || bad "one cache file expected, found $n_cache"
cfile=$(ls "$OCLIP_CACHE_DIR"/classifiers/*.bin | head -1)
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json
same "$tmp/out" "$tmp/cls1.json"
cp "$cfile" "$tmp/cache_good.bin"
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-64:]=bytes(64); open(p,'wb').write(b)" "$cfile"
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json
cmp -s "$tmp/out" "$tmp/cls1.json" && bad "a changed cache file was not read" || ok
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json --no-cache
same "$tmp/out" "$tmp/cls1.json"
head -c 100 "$tmp/cache_good.bin" > "$cfile"
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json
same "$tmp/out" "$tmp/cls1.json"
same "$cfile" "$tmp/cache_good.bin"
# a FIFO planted under the entry's name is neither waited on nor read (nothing writes to it)
rm -f "$cfile" && mkfifo "$cfile"
# shellcheck disable=SC2086
expect 0 timeout 60 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS" --templates simple --json
same "$tmp/out" "$tmp/cls1.json"
rm -f "$cfile" # (a regular file again if the fix works; the later runs must not meet a FIFO)
[ ! -s "$tmp/err" ] && ok || bad "classify wrote to stderr without a terminal: $(cat "$tmp/err")"
# the progress bars (forced on: stderr is no terminal here): images, then the classes
# shellcheck disable=SC2086
OCLIP_PROGRESS=always expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels "$LABELS,x,y" --templates simple --json --batch-size 1
contains "$tmp/err" "^images \[.*100% [0-9]*/[0-9]* .*items/s"
contains "$tmp/err" "classes \[#*\] 100% "
printf 'itap of a {}.\na bad photo of the {}.\na origami {}.\na photo of the large {}.\na {} in a video game.\nart of the {}.\na photo of the small {}.\n' > "$tmp/tpl.txt"
printf 'cat\ndog\nred square\ncaf\303\251\n' > "$tmp/labels.txt"
# shellcheck disable=SC2086
expect 0 "$OCLIP" classify -m "$M2" $IMGS --labels-file "$tmp/labels.txt" --templates "$tmp/tpl.txt" --json
python3 - "$tmp/out" "$M2/expected.json" <<'PY' || bad "classify with template and label files"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
zs = json.load(open(sys.argv[2]))["zero_shot"]
for r, want in zip(rows, zs["probs"]):
    got = {p["label"]: p["prob"] for p in r["predictions"]}
    assert all(abs(got[l] - w) <= 1e-4 for l, w in zip(zs["labels"], want))
PY
ok
expect 0 "$OCLIP" classify -m "$M2" "$I/jpg_420.jpg" --labels "cat,dog" --top 1 --templates none
contains "$tmp/out" "^  *[0-9.]*%  [a-z]*$"
expect 2 "$OCLIP" classify -m "$M2" "$I/jpg_420.jpg"
contains "$tmp/err" "give the class names"
expect 2 "$OCLIP" classify -m "$M2" "$I/jpg_420.jpg" --labels "cat,,dog"
contains "$tmp/err" "an empty label"
printf 'a photo\n' > "$tmp/bad_tpl.txt"
expect 1 "$OCLIP" classify -m "$M2" "$I/jpg_420.jpg" --labels "cat" --templates "$tmp/bad_tpl.txt"
contains "$tmp/err" "no {} for the label"
expect 2 "$OCLIP" classify -m "$M2" --labels "cat"
printf 'cat\n\ndog\n' > "$tmp/blank_labels.txt"
expect 2 "$OCLIP" classify -m "$M2" "$I/jpg_420.jpg" --labels-file "$tmp/blank_labels.txt"
contains "$tmp/err" "label 2 is empty"

# --dtype: f32 is the default (same bytes); bf16 rounds the weights (other bytes, same shape)
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" -o "$tmp/d0.npy"
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" -o "$tmp/d32.npy" --dtype f32
same "$tmp/d0.npy" "$tmp/d32.npy"
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" -o "$tmp/d16.npy" --dtype bf16
# (the scalar kernels compute the weights as stored: --dtype applies to the SIMD paths)
if "$OCLIP" info | grep -q "^kernels: *scalar"; then ok
elif cmp -s "$tmp/d0.npy" "$tmp/d16.npy"; then bad "--dtype bf16 changed nothing"; else ok; fi
expect 2 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" -o "$tmp/d.npy" --dtype f8
contains "$tmp/err" "use f32, f16, bf16 or int8"
# --dtype int8 (every kernel path): within cosine 0.999 of f32, the same bytes for 1 and 3 threads
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" "$I/png_rgb8_filt.png" -o "$tmp/q1.npy" \
    --dtype int8 --threads 1
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" "$I/png_rgb8_filt.png" -o "$tmp/q3.npy" \
    --dtype int8 --threads 3
same "$tmp/q1.npy" "$tmp/q3.npy"
expect 0 "$OCLIP" embed-image -m "$M2" "$I/jpg_420.jpg" "$I/png_rgb8_filt.png" -o "$tmp/f1.npy"
python3 - "$tmp/q1.npy" "$tmp/f1.npy" <<'PY' && ok || bad "--dtype int8 vs f32"
import ast, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    d = struct.unpack("<%df" % (len(b[10 + n:]) // 4), b[10 + n:])
    return h["shape"], d
(sq, q), (sf, f) = load(sys.argv[1]), load(sys.argv[2])
assert sq == sf and len(sq) == 2, (sq, sf)
E = sq[1]
for i in range(sq[0]):
    cos = sum(q[i * E + e] * f[i * E + e] for e in range(E))  # both L2-normalized
    assert 0.999 <= cos < 1.0, (i, cos)
PY

echo "cli_embed.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
