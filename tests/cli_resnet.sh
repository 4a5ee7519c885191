#!/bin/sh
# cli_resnet.sh — the ModifiedResNet fixtures (tests/fixtures/resnet, tools/fixtures_resnet.py)
# through the program as a user runs it: check (folder, weights alone, the OpenAI-style
# TorchScript archive, a ViT architecture refused with the hint), embed-image from image files,
# embed-text from prompts and similarity against OpenCLIP's outputs, and convert round trips
# (the converted folder embeds the same bytes). Needs only POSIX sh and python3's standard
# library.
NAME=cli_resnet.sh
. tests/lib_cli.sh
R=tests/fixtures/resnet
# close GOT.npy FIXTURE_DIR TENSOR TOL: a float32 .npy against a tensor of the fixture's
# expected.safetensors, max-abs <= TOL and cosine >= 0.99999
close() {
    python3 - "$1" "$2/expected.safetensors" "$3" "$4" <<'PY' || bad "close $1 $3"
import ast, json, math, struct, sys
def npy(p):
    b = open(p, "rb").read()
    assert b[:6] == b"\x93NUMPY", p
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    assert h["descr"] == "<f4" and not h["fortran_order"], h
    data = b[10 + n:]
    return list(h["shape"]), struct.unpack("<%df" % (len(data) // 4), data)
def st(p, name):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])[name]
    assert h["dtype"] == "F32", h
    s, e = h["data_offsets"]
    raw = b[8 + n + s:8 + n + e]
    return h["shape"], struct.unpack("<%df" % (len(raw) // 4), raw)
(sa, a), (sb, b) = npy(sys.argv[1]), st(sys.argv[2], sys.argv[3])
assert sa == sb, (sa, sb)
mx = max(abs(x - y) for x, y in zip(a, b))
cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
assert mx <= float(sys.argv[4]) and cos >= 0.99999, (mx, cos)
PY
    ok
}
IMGS="examples/red_circle.png examples/blue_triangle.png examples/green_ring.png
tests/fixtures/preprocess/img/p_601x589.png tests/fixtures/preprocess/img/jpg_420.jpg"

for v in rn50_tiny rn50x4_tiny; do
    M=$R/$v
    expect 0 "$OCLIP" check "$M"
    contains "$tmp/out" "^OK: "
    contains "$tmp/out" "^activation:    text [a-zA-Z]* *GELU, image tower ReLU (ModifiedResNet)"
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" embed-image --threads 2 -m "$M" $IMGS -o "$tmp/$v.img.npy"
    close "$tmp/$v.img.npy" "$M" img_features 1e-4
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" embed-image --threads 1 -m "$M" $IMGS -o "$tmp/$v.img1.npy"
    same "$tmp/$v.img.npy" "$tmp/$v.img1.npy"
    expect 0 "$OCLIP" embed-text -m "$M" "a photo of a red circle" "a blue triangle" \
        "a green ring" "a photo of a cat." "" -o "$tmp/$v.txt.npy"
    close "$tmp/$v.txt.npy" "$M" txt_features 1e-4
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" similarity -m "$M" --images $IMGS --texts "a photo of a red circle" \
        "a blue triangle" "a green ring" "a photo of a cat." "" -o "$tmp/$v.logits.npy"
    close "$tmp/$v.logits.npy" "$M" logits 2e-3
    # convert: a folder OpenCLIP loads (layers as a list, patch_size null), same embeddings
    expect 0 "$OCLIP" convert "$M" "$tmp/$v.conv/"
    contains "$tmp/$v.conv/open_clip_config.json" "\"patch_size\":.*null"
    # shellcheck disable=SC2086
    expect 0 "$OCLIP" embed-image --threads 2 -m "$tmp/$v.conv" $IMGS -o "$tmp/$v.img2.npy"
    same "$tmp/$v.img.npy" "$tmp/$v.img2.npy"
    expect 0 "$OCLIP" convert "$M" "$tmp/$v.f16.safetensors" --dtype f16
    expect 0 "$OCLIP" check "$tmp/$v.f16.safetensors"
    expect 1 "$OCLIP" convert "$M" "$tmp/$v.hf/" --to hf
    contains "$tmp/err" "ModifiedResNet image tower"
done

# the weights alone: the architecture inferred from the shapes (a ModifiedResNet)
mkdir "$tmp/alone"
cp "$R/rn50_tiny/open_clip_model.safetensors" "$R/rn50_tiny/openai.pt" "$tmp/alone/"
expect 0 "$OCLIP" check "$tmp/alone/open_clip_model.safetensors"
contains "$tmp/out" "inferred from its tensor shapes"
contains "$tmp/err" "attention heads (image 4, text 1)"
expect 0 "$OCLIP" check "$tmp/alone/openai.pt"
contains "$tmp/out" "openai layout"
# the OpenAI archive (fp16 convolutions, fp32 batch norms): OpenCLIP's image features from it
# shellcheck disable=SC2086
expect 0 "$OCLIP" embed-image -m "$tmp/alone/openai.pt" $IMGS -o "$tmp/oai.npy"
close "$tmp/oai.npy" "$R/rn50_tiny" openai_img_features 1e-4

# a ViT architecture over ResNet weights: refused, and the report says what the file holds
expect 1 "$OCLIP" check "$R/rn50_tiny/open_clip_model.safetensors" --arch ViT-B-32
contains "$tmp/out" "the file's image tower is a ModifiedResNet"
contains "$tmp/out" "ModifiedResNet image tower width 8, layers \[2, 1, 1, 2\], 96 px"
expect 1 "$OCLIP" embed-image -m "$R/rn50_tiny/open_clip_model.safetensors" --arch ViT-B-32 \
    examples/red_circle.png -o "$tmp/x.npy"

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
