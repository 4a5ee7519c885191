#!/bin/sh
# cli_hftext.sh — the Hugging Face text towers (XLM-RoBERTa, NLLB; tests/fixtures/hftext, made by
# tools/fixtures_hftext.py from OpenCLIP 3.3.0 + transformers) as a user runs them: check,
# tokenize -m, embed-text, embed-image, similarity against OpenCLIP's outputs, and where the
# text tower's config.json is looked for. Needs only POSIX sh and python3's standard library.
NAME=cli_hftext.sh
. tests/lib_cli.sh
F=tests/fixtures/hftext
# the HF model's config.json is in the fixture's cache, where OpenCLIP's AutoConfig found it
HF_HUB_CACHE=$F/hub
HF_HUB_OFFLINE=1
export HF_HUB_CACHE HF_HUB_OFFLINE
# close GOT.npy WANT.npy [normalize-want]: float32 arrays of one shape, max-abs <= 1e-4 and
# cosine >= 0.99999
close() {
    python3 - "$@" <<'PY' || bad "close $1 $2"
import ast, math, struct, sys
def load(p):
    b = open(p, "rb").read()
    assert b[:6] == b"\x93NUMPY", p
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    assert h["descr"] == "<f4" and not h["fortran_order"], h
    data = b[10 + n:]
    return h["shape"], list(struct.unpack("<%df" % (len(data) // 4), data))
(sa, a), (sb, b) = load(sys.argv[1]), load(sys.argv[2])
assert sa == sb, (sa, sb)
if len(sys.argv) > 3:  # rows of b L2-normalized
    E = sb[-1]
    for r in range(0, len(b), E):
        s = math.sqrt(sum(x * x for x in b[r:r + E]))
        b[r:r + E] = [x / s for x in b[r:r + E]]
mx = max(abs(x - y) for x, y in zip(a, b))
cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
assert mx <= 1e-4 and cos >= 0.99999, (mx, cos)
PY
    ok
}

for v in xlmr xlmr_cls xlmr_last nllb; do
    M=$F/$v
    for t in pixels tokens txt_features img_features logits; do
        "$OCLIP" inspect --dump $t -o "$tmp/$t.npy" "$M/expected.safetensors" || bad "dump $t"
    done
    expect 0 "$OCLIP" check "$M"
    contains "$tmp/out" "^OK: "
    contains "$tmp/err" "text tower .*: hidden 64, 2 layers, 4 heads, vocabulary .*, from .*hub/models--.*/snapshots/"
    # the prompts through the folder's tokenizer.json: OpenCLIP's ids, byte for byte
    python3 -c 'import json,sys; [print(p) for p in json.load(open(sys.argv[1]))["prompts"]]' \
        "$M/expected.json" >"$tmp/prompts.txt"
    expect 0 "$OCLIP" tokenize -m "$M" -f "$tmp/prompts.txt" -o "$tmp/tok.npy"
    same "$tmp/tok.npy" "$tmp/tokens.npy"
    expect 0 "$OCLIP" embed-text -m "$M" --tokens "$tmp/tokens.npy" -o "$tmp/txt.npy" --no-normalize
    close "$tmp/txt.npy" "$tmp/txt_features.npy"
    expect 0 "$OCLIP" embed-text -m "$M" -f "$tmp/prompts.txt" -o "$tmp/txt_s.npy" --threads 2 \
        --batch-size 5
    close "$tmp/txt_s.npy" "$tmp/txt_features.npy" normalize
    expect 0 "$OCLIP" embed-image -m "$M" --pixels "$tmp/pixels.npy" -o "$tmp/img.npy" --no-normalize
    close "$tmp/img.npy" "$tmp/img_features.npy"
    expect 0 "$OCLIP" similarity -m "$M" --pixels "$tmp/pixels.npy" --tokens "$tmp/tokens.npy" \
        -o "$tmp/lg.npy"
    # oclip convert to one .safetensors (the config in its metadata, hf_* included) computes
    # the same bytes
    expect 0 "$OCLIP" convert "$M" "$tmp/c_$v.safetensors"
    expect 0 "$OCLIP" embed-text -m "$tmp/c_$v.safetensors" --tokens "$tmp/tokens.npy" \
        -o "$tmp/txt_c.npy" --no-normalize
    same "$tmp/txt_c.npy" "$tmp/txt.npy"
    python3 - "$tmp/lg.npy" "$tmp/logits.npy" <<'PY' || bad "similarity $v"
import ast, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    data = b[10 + n:]
    return struct.unpack("<%df" % (len(data) // 4), data)
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= 1e-3
PY
    ok
done

# hf-hub:ORG/NAME from the cache, its repo without tokenizer files: the tokenizer is the one of
# the repo hf_tokenizer_name names (xlm-roberta-base, no organisation), in the cache too
C=$tmp/hub
c=0123456789abcdef0123456789abcdef01234567
s=e73636d4f797dec63c3081bb6ed5c7b0bb3f2089
mkdir -p "$C/models--oclip-test--xlmr/refs" "$C/models--oclip-test--xlmr/snapshots/$c" \
    "$C/models--xlm-roberta-base/refs" "$C/models--xlm-roberta-base/snapshots/$s"
printf %s $c >"$C/models--oclip-test--xlmr/refs/main"
printf %s $s >"$C/models--xlm-roberta-base/refs/main"
cp $F/xlmr/open_clip_config.json $F/xlmr/open_clip_model.safetensors \
    "$C/models--oclip-test--xlmr/snapshots/$c/"
cp $F/hub/models--xlm-roberta-base/snapshots/$s/config.json $F/xlmr/tokenizer.json \
    $F/xlmr/tokenizer_config.json "$C/models--xlm-roberta-base/snapshots/$s/"
"$OCLIP" inspect --dump tokens -o "$tmp/tokens.npy" "$F/xlmr/expected.safetensors"
"$OCLIP" inspect --dump txt_features -o "$tmp/txt_features.npy" "$F/xlmr/expected.safetensors"
python3 -c 'import json,sys; [print(p) for p in json.load(open(sys.argv[1]))["prompts"]]' \
    "$F/xlmr/expected.json" >"$tmp/prompts.txt"
expect 0 env HF_HUB_CACHE="$C" "$OCLIP" tokenize -m hf-hub:oclip-test/xlmr -f "$tmp/prompts.txt" \
    -o "$tmp/tok.npy"
same "$tmp/tok.npy" "$tmp/tokens.npy"
expect 0 env HF_HUB_CACHE="$C" "$OCLIP" embed-text -m hf-hub:oclip-test/xlmr -f "$tmp/prompts.txt" \
    -o "$tmp/txt_h.npy"
close "$tmp/txt_h.npy" "$tmp/txt_features.npy" normalize
rm "$C/models--xlm-roberta-base/snapshots/$s/tokenizer.json"
expect 1 env HF_HUB_CACHE="$C" "$OCLIP" tokenize -m hf-hub:oclip-test/xlmr "a cat"
contains "$tmp/err" "no tokenizer.json"

# without the cache's config.json: xlm-roberta-base's published sizes (built in), which the
# small model does not have: refused, naming the tensors
M=$F/xlmr
mkdir "$tmp/empty"
expect 1 env HF_HUB_CACHE="$tmp/empty" "$OCLIP" check "$M"
contains "$tmp/out" "text.transformer.embeddings.word_embeddings.weight"
contains "$tmp/out" "hidden 768, 12 layers, 12 heads, vocabulary 250002, from built in (the published config.json of xlm-roberta-base)"
expect 1 env HF_HUB_CACHE="$tmp/empty" "$OCLIP" embed-text -m "$M" "a cat" -o "$tmp/x.npy"
contains "$tmp/err" "does not fit"
# mT5 is refused by name
expect 1 "$OCLIP" check --arch mt5-base-ViT-B-32 "$M"
contains "$tmp/err" "not supported yet: .*mT5"

echo "cli_hftext.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
