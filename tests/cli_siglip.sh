#!/bin/sh
# cli_siglip.sh — SigLIP / SigLIP 2 through the CLI as a user runs them, on the tiny fixtures of
# tests/fixtures/siglip (tools/fixtures_siglip.py: real OpenCLIP 3.3.0 configs with shrunk sizes,
# random weights, the expected values computed by OpenCLIP) laid out in a Hugging Face cache as
# the hub repo would be (HF_HUB_OFFLINE=1): `-m hf-hub:oclip-test/VARIANT` finds the weights, the
# config and, through text_cfg.hf_tokenizer_name, the tokenizer.json. The image towers are named
# "local-dir:tests/fixtures/siglip/timm/..." (timm's own way to build an architecture with other
# sizes), so this script runs from the repository root as the tests do.
# check, preprocess -m (bit-exact), tokenize -m (id for id), embed-image, embed-text (max-abs
# <= 1e-4, cosine >= 0.99999), similarity (logits with the bias) and classify --json (sigmoid
# probabilities, "activation": "sigmoid").
# Needs only POSIX sh and python3's standard library.
NAME=cli_siglip.sh
. tests/lib_cli.sh
F=tests/fixtures/siglip
unset HF_HOME HF_TOKEN HUGGING_FACE_HUB_TOKEN XDG_CACHE_HOME HUGGINGFACE_HUB_CACHE
export HF_HUB_CACHE="$tmp/hub" HF_HUB_OFFLINE=1 OCLIP_PROGRESS=0

# py SCRIPT ARGS...: a python3 check; a failed assertion is a failure
py() {
    code=$1; shift
    if python3 -c "$code" "$@" >"$tmp/py.out" 2>&1; then ok; else bad "$(tail -3 "$tmp/py.out")"; fi
}
NPY='
import ast, json, math, struct, sys
def npy(p):
    b = open(p, "rb").read()
    assert b[:6] == b"\x93NUMPY", p
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    assert not h["fortran_order"], h
    fmt = {"<f4": "f", "<i8": "q"}[h["descr"]]
    data = b[10 + n:]
    vals = struct.unpack("<%d%s" % (len(data) // struct.calcsize(fmt), fmt), data)
    cols = 1
    for d in h["shape"][1:]:
        cols *= d
    return h["shape"], [list(vals[i * cols:(i + 1) * cols]) for i in range(h["shape"][0])]
def close(got, want, what):
    a = [x for r in got for x in r]; b = [x for r in want for x in r]
    assert len(a) == len(b), (what, len(a), len(b))
    mx = max(abs(x - y) for x, y in zip(a, b))
    for r, s in zip(got, want):
        cos = sum(x * y for x, y in zip(r, s)) / math.sqrt(sum(x * x for x in r) * sum(y * y for y in s))
        assert cos >= 0.99999, (what, cos)
    assert mx <= 1e-4, (what, mx)
'

for v in siglip_b16 siglip2_so400m16; do
    D=$F/$v
    R=$tmp/hub/models--oclip-test--$v
    C=0123456789abcdef0123456789abcdef01234567
    mkdir -p "$R/refs" "$R/snapshots/$C"
    printf %s "$C" >"$R/refs/main"
    for f in open_clip_config.json open_clip_model.safetensors tokenizer.json \
        tokenizer_config.json special_tokens_map.json; do
        cp "$D/$f" "$R/snapshots/$C/$f"
    done
    M=hf-hub:oclip-test/$v
    for t in pixels tokens img_features txt_features logits probs; do
        "$OCLIP" inspect --dump $t -o "$tmp/$t.npy" "$D/expected.safetensors" || bad "dump $t"
    done
    # the prompts one per line (those with a line break are left out), their rows in idx
    python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
keep = [i for i, p in enumerate(e["prompts"]) if "\n" not in p and not p.endswith("\r")]
open(sys.argv[2], "w", encoding="utf-8", newline="\n").write("".join(e["prompts"][i] + "\n" for i in keep))
open(sys.argv[3], "w").write(json.dumps(keep))
print(" ".join(e["images"]))' "$D/expected.json" "$tmp/prompts.txt" "$tmp/idx.json" >"$tmp/images"
    IMGS=$(cat "$tmp/images")

    # check: the architecture from the repo's open_clip_config.json, every tensor expected
    expect 0 "$OCLIP" check "$M"
    contains "$tmp/out" "^OK: .*models--oclip-test--$v/snapshots/$C/open_clip_model.safetensors"
    # the activation line names the timm tower, whose act_layer is its own
    contains "$tmp/out" "^activation:    text [^,]*GELU[^,]*, image tower timm's local-dir:tests/fixtures/siglip/timm/"
    # preprocess -m: the pretrained tag's squash / bicubic / mean-std 0.5, bit for bit
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" preprocess -m "$M" $IMGS -o "$tmp/px.npy"
    py "$NPY"'
assert npy(sys.argv[1]) == npy(sys.argv[2]), "pixels differ"' "$tmp/px.npy" "$tmp/pixels.npy"
    # tokenize -m: the repo's tokenizer.json (hf_tokenizer_name), canonicalize, the model's
    # context length and pad id, id for id
    expect 0 "$OCLIP" tokenize -m "$M" -f "$tmp/prompts.txt" -o "$tmp/tok.npy"
    py "$NPY"'
idx = json.load(open(sys.argv[3]))
(sg, g), (sw, w) = npy(sys.argv[1]), npy(sys.argv[2])
assert tuple(sg) == (len(idx), sw[1]), (sg, sw)
bad = [i for k, i in enumerate(idx) if g[k] != w[i]]
assert not bad, ("token rows differ", bad[:5])' "$tmp/tok.npy" "$tmp/tokens.npy" "$tmp/idx.json"
    # tokenize --tokenizer: the same files without the model (HFTokenizer(folder, L,
    # clean='canonicalize')), the pad token from tokenizer_config.json beside tokenizer.json
    L=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tokens"][0]))' "$D/expected.json")
    expect 0 "$OCLIP" tokenize --tokenizer "$R/snapshots/$C/tokenizer.json" -n "$L" \
        --clean canonicalize -f "$tmp/prompts.txt" -o "$tmp/tok2.npy"
    same "$tmp/tok2.npy" "$tmp/tok.npy"
    expect 0 "$OCLIP" tokenize -m "$M" "a photo of a cat"
    py '
import json, sys
e = json.load(open(sys.argv[2]))
row = e["tokens"][e["prompts"].index("a photo of a cat")]
assert json.loads(open(sys.argv[1]).read()) == row' "$tmp/out" "$D/expected.json"
    # embed-image from the image files, embed-text from the prompts
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" embed-image -m "$M" $IMGS -o "$tmp/img.npy" --threads 1
    py "$NPY"'
close(npy(sys.argv[1])[1], npy(sys.argv[2])[1], "image features")' "$tmp/img.npy" "$tmp/img_features.npy"
    expect 0 "$OCLIP" embed-text -m "$M" -f "$tmp/prompts.txt" -o "$tmp/txt.npy" --threads 2
    py "$NPY"'
idx = json.load(open(sys.argv[3]))
w = npy(sys.argv[2])[1]
close(npy(sys.argv[1])[1], [w[i] for i in idx], "text features")' "$tmp/txt.npy" "$tmp/txt_features.npy" "$tmp/idx.json"
    # similarity: exp(logit_scale) * cosine + logit_bias
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" similarity -m "$M" --images $IMGS -f "$tmp/prompts.txt" -o "$tmp/lg.npy"
    py "$NPY"'
idx = json.load(open(sys.argv[3]))
w = npy(sys.argv[2])[1]
close([[x] for r in npy(sys.argv[1])[1] for x in r], [[r[i]] for r in w for i in idx], "logits")' \
        "$tmp/lg.npy" "$tmp/logits.npy" "$tmp/idx.json"
    # classify: one template ("none"), so each class embedding is the prompt's text feature and
    # the probabilities are OpenCLIP's sigmoid(logits), per pair
    python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
labels = [p for p in e["prompts"][4:8] + e["prompts"][8:12] if "," not in p and p.strip() == p]
open(sys.argv[2], "w").write("".join(l + "\n" for l in labels))' "$D/expected.json" "$tmp/labels.txt"
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" classify -m "$M" $IMGS --labels-file "$tmp/labels.txt" --templates none \
        --json --no-cache
    py "$NPY"'
e = json.load(open(sys.argv[2]))
probs = npy(sys.argv[3])[1]
lines = open(sys.argv[1]).read().splitlines()
labels = open(sys.argv[4]).read().splitlines()
assert len(lines) == len(e["images"]) and len(labels) >= 4, (len(lines), labels)
for k, line in enumerate(lines):
    o = json.loads(line)
    assert o["activation"] == "sigmoid", o
    assert o["image"] == e["images"][k], o
    got = {p["label"]: p["prob"] for p in o["predictions"]}
    assert sorted(got) == sorted(labels), got
    for l in labels:
        want = probs[k][e["prompts"].index(l)]
        assert abs(got[l] - want) <= 1e-4, (k, l, got[l], want)' \
        "$tmp/out" "$D/expected.json" "$tmp/probs.npy" "$tmp/labels.txt"
done

# the same model from its fixture folder (a local-dir: spec, the tokenizer beside the weights)
expect 0 "$OCLIP" tokenize -m "$F/siglip_b16" "a photo of a cat"
py '
import json, sys
e = json.load(open(sys.argv[2]))
assert json.loads(open(sys.argv[1]).read()) == e["tokens"][e["prompts"].index("a photo of a cat")]' \
    "$tmp/out" "$F/siglip_b16/expected.json"
# --tokenizer: a folder holding tokenizer.json; refusals name the file
expect 0 "$OCLIP" tokenize --tokenizer "$F/siglip_b16" -n 16 --clean canonicalize "a photo of a cat"
py '
import json, sys
e = json.load(open(sys.argv[2]))
assert json.loads(open(sys.argv[1]).read()) == e["tokens"][e["prompts"].index("a photo of a cat")]' \
    "$tmp/out" "$F/siglip_b16/expected.json"
expect 1 "$OCLIP" tokenize --tokenizer "$tmp/none.json" "x"
contains "$tmp/err" "none.json': cannot open"
expect 2 "$OCLIP" tokenize --tokenizer "$F/siglip_b16" -m "$F/siglip_b16" "x"
contains "$tmp/err" "not both"
printf '{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}, "decoder": null, "normalizer": {"type": "Nope"}}' >"$tmp/bad.json"
expect 1 "$OCLIP" tokenize --tokenizer "$tmp/bad.json" "x"
contains "$tmp/err" "bad.json"

# a config whose timm tower folder is missing is refused with the file it looked for
mkdir -p "$tmp/broken"
sed 's#local-dir:tests/fixtures/siglip/timm/vit_test_patch8_siglip_32#local-dir:'"$tmp"'/nowhere#' \
    "$F/siglip_b16/open_clip_config.json" >"$tmp/broken/open_clip_config.json"
cp "$F/siglip_b16/open_clip_model.safetensors" "$tmp/broken/"
expect 1 "$OCLIP" check "$tmp/broken"
contains "$tmp/err" "$tmp/nowhere/config.json: missing or unreadable"

# transformers' SiglipModel config: tanh GELU in both towers (hidden_act gelu_pytorch_tanh)
expect 0 "$OCLIP" check tests/fixtures/siglip/siglip2_so400m16/hf
contains "$tmp/out" "^activation:    text GELU (tanh approximation), image tower timm's siglip:.*act=gelu_tanh "

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
