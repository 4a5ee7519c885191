#!/bin/sh
# cli_preprocess.sh — `oclip preprocess` as a user runs it: exit codes, --help, model specs and
# flags, standard input, all-or-nothing output. The float32 bytes are compared with the sha256
# OpenCLIP's own transform gave (tests/fixtures/preprocess/manifest.json). POSIX sh, sha256sum
# and python3's standard library (json).
NAME=cli_preprocess.sh
. tests/lib_cli.sh
F=tests/fixtures/preprocess

# sha256 of image I (0-based) of an .npy holding N images of 3 x H x W float32
npy_sha() { # FILE I N H W
    bytes=$((3 * $4 * $5 * 4))
    total=$(wc -c <"$1")
    off=$((total - $3 * bytes + $2 * bytes))
    tail -c +$((off + 1)) "$1" | head -c "$bytes" | sha256sum | cut -d' ' -f1
}
want_sha() { python3 -c "import json,sys; m=json.load(open('$F/manifest.json'))
print({c['name']: c.get('f32_sha256', '') for c in m['cases']}[sys.argv[1]])" "$1"; }
same_as() { # FILE I N H W CASE
    got=$(npy_sha "$1" "$2" "$3" "$4" "$5"); want=$(want_sha "$6")
    if [ "$got" = "$want" ]; then ok; else bad "$1[$2] differs from OpenCLIP's $6"; fi
}

if ! "$OCLIP" preprocess --help >/dev/null 2>&1; then
    echo "cli_preprocess.sh: FAIL: '$OCLIP' has no 'preprocess' command (cli/oclip.c must" \
         "dispatch it to cmd_preprocess)" >&2
    exit 1
fi

# usage
expect 0 "$OCLIP" preprocess --help
contains "$tmp/out" "usage: oclip preprocess"
expect 2 "$OCLIP" preprocess
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png"
contains "$tmp/err" "missing -o"
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png" -o "$tmp/x.npy" --bogus
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png" -o "$tmp/x.npy" --image-size 0
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png" -o "$tmp/x.npy" --resize-mode crop
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png" -o "$tmp/x.npy" --mean 1,2
expect 2 "$OCLIP" preprocess "$F/img/rgb_1x1.png" -o "$tmp/x.npy" --std 0
expect 2 "$OCLIP" preprocess - - -o "$tmp/x.npy"

# defaults (224, OpenAI mean/std, bicubic, shortest) on two images
expect 0 "$OCLIP" preprocess "$F/img/rgb_224x224.png" "$F/img/jpg_photo.jpg" -o "$tmp/a.npy"
if head -c 128 "$tmp/a.npy" | grep -q "'shape': (2, 3, 224, 224)"; then ok; else bad "shape"; fi
same_as "$tmp/a.npy" 0 2 224 224 rgb_224x224__shortest_bicubic_224x224
same_as "$tmp/a.npy" 1 2 224 224 jpg_photo__shortest_bicubic_224x224

# flags, and the image from standard input
expect 0 "$OCLIP" preprocess --resize-mode squash --interpolation bilinear --mean 0.5 \
    --std 0.5 -o "$tmp/b.npy" - <"$F/img/jpg_photo.jpg"
same_as "$tmp/b.npy" 0 1 224 224 jpg_photo__squash_bilinear_224x224_inception
expect 0 "$OCLIP" preprocess --image-size 64x40 --resize-mode longest "$F/img/rgb_2x3.png" \
    "$F/img/rgb_61x47.png" -o "$tmp/c.npy"
same_as "$tmp/c.npy" 0 2 64 40 rgb_2x3__longest_bicubic_64x40
same_as "$tmp/c.npy" 1 2 64 40 rgb_61x47__longest_bicubic_64x40
# a side OpenCLIP would resize to 0 px fails there too
expect 1 "$OCLIP" preprocess --image-size 64x40 --resize-mode longest "$F/img/rgb_4000x30.png" \
    -o "$tmp/c.npy"
contains "$tmp/err" "rgb_4000x30.png"
expect 0 "$OCLIP" preprocess --image-size 72 --resize-mode longest --fill-color 9 \
    "$F/img/png_p4.png" -o "$tmp/d.npy"
same_as "$tmp/d.npy" 0 1 72 72 png_p4__longest_bicubic_72x72_fill9

# model specs: pretrained tag, architecture, open_clip_config.json folder
expect 0 "$OCLIP" preprocess -m ViT-B-32:openai "$F/img/rgb_224x224.png" -o "$tmp/e.npy"
same_as "$tmp/e.npy" 0 1 224 224 rgb_224x224__shortest_bicubic_224x224
expect 0 "$OCLIP" preprocess -m ViT-B-32 "$F/img/rgb_224x224.png" -o "$tmp/e.npy"
same_as "$tmp/e.npy" 0 1 224 224 rgb_224x224__shortest_bicubic_224x224
# pretrained tags with their own preprocessing (DFN5B squash, CLIPA bilinear + ImageNet at 336,
# MobileCLIP mean 0 / std 1 at 256)
for spec in ViT-H-14-quickgelu:dfn5b ViT-bigG-14-CLIPA-336:datacomp1b MobileCLIP-S1:datacompdr; do
    expect 0 "$OCLIP" preprocess -m "$spec" "$F/img/rgb_303x299.png" -o "$tmp/t.npy"
    size=$(python3 -c "import json; m=json.load(open('$F/manifest.json'))
print(*[c['size'][0] for c in m['cases'] if c['name'] == 'pretrained__' + '$spec'.replace(':', '__')])")
    same_as "$tmp/t.npy" 0 1 "$size" "$size" "pretrained__$(echo "$spec" | sed 's/:/__/')"
done
mkdir "$tmp/model"
cat >"$tmp/model/open_clip_config.json" <<'EOF'
{"model_cfg": {"embed_dim": 512,
               "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512,
                            "heads": 8, "layers": 12}},
 "preprocess_cfg": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                    "interpolation": "bilinear", "resize_mode": "squash"}}
EOF
expect 0 "$OCLIP" preprocess -m "$tmp/model" "$F/img/rgb_224x224.png" -o "$tmp/f.npy"
same_as "$tmp/f.npy" 0 1 224 224 rgb_224x224__squash_bilinear_224x224_imagenet
# -m default: the embedded model's settings (64 px, OpenAI mean/std, bicubic, shortest), the
# same as its folder's open_clip_config.json and as a single file oclip convert wrote
expect 0 "$OCLIP" preprocess -m default "$F/img/rgb_2x3.png" -o "$tmp/m.npy"
same_as "$tmp/m.npy" 0 1 64 64 rgb_2x3__shortest_bicubic_64x64
expect 0 "$OCLIP" preprocess -m models/default "$F/img/rgb_2x3.png" -o "$tmp/m2.npy"
same "$tmp/m.npy" "$tmp/m2.npy"
expect 0 "$OCLIP" convert default "$tmp/one.safetensors"
expect 0 "$OCLIP" preprocess -m "$tmp/one.safetensors" "$F/img/rgb_2x3.png" -o "$tmp/m3.npy"
same "$tmp/m.npy" "$tmp/m3.npy"
# a checkpoint that states no preprocessing (no config beside it, no metadata): refused
expect 0 "$OCLIP" convert default "$tmp/bare.safetensors" --no-metadata
expect 1 "$OCLIP" preprocess -m "$tmp/bare.safetensors" "$F/img/rgb_2x3.png" -o "$tmp/x.npy"
contains "$tmp/err" "nothing states how this model preprocesses images"
expect 1 "$OCLIP" preprocess -m NoSuchArch "$F/img/rgb_1x1.png" -o "$tmp/x.npy"
expect 1 "$OCLIP" preprocess -m "hf-hub:nobody/nothing" "$F/img/rgb_1x1.png" -o "$tmp/x.npy"
contains "$tmp/err" "oclip pull"

# failures: named file, exit 1, nothing written
head -c 300 "$F/img/jpg_photo.jpg" >"$tmp/cut.jpg"
expect 1 "$OCLIP" preprocess "$F/img/rgb_1x1.png" "$tmp/cut.jpg" -o "$tmp/g.npy"
contains "$tmp/err" "cut.jpg"
if [ -e "$tmp/g.npy" ]; then bad "output written despite an error"; else ok; fi
expect 1 "$OCLIP" preprocess "$F/manifest.json" -o "$tmp/g.npy"
contains "$tmp/err" "not an image"
expect 1 "$OCLIP" preprocess --max-pixels 100 "$F/img/rgb_61x47.png" -o "$tmp/g.npy"
contains "$tmp/err" "limit"
expect 1 "$OCLIP" preprocess "$tmp/missing.png" -o "$tmp/g.npy"
contains "$tmp/err" "missing.png"
# a thin image: 40x1 decodes (40 pixels) but resizes to 8960x224 before the crop; --max-pixels
# bounds that too
{ printf 'P6\n40 1\n255\n'; head -c 120 /dev/zero; } >"$tmp/thin.ppm"
expect 1 "$OCLIP" preprocess --max-pixels 5000 "$tmp/thin.ppm" -o "$tmp/g.npy"
contains "$tmp/err" "resizes to 8960x224 (2007040 pixels) before the crop"
expect 0 "$OCLIP" preprocess --max-pixels 2007040 "$tmp/thin.ppm" -o "$tmp/g.npy"

echo "cli_preprocess.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
