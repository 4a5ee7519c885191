#!/bin/sh
# cli.sh — the oclip program as a user runs it: exit codes, --help, inspect (text and --json),
# --dump, error messages. Needs only POSIX sh and python3's standard library (json).
NAME=cli.sh
. tests/lib_cli.sh
R=tests/fixtures/readers

# usage errors exit 2, help exits 0
expect 2 "$OCLIP"
expect 2 "$OCLIP" frobnicate
contains "$tmp/err" "unknown command"
expect 0 "$OCLIP" --help
expect 0 "$OCLIP" inspect --help
contains "$tmp/out" "usage: oclip inspect"
expect 2 "$OCLIP" inspect
expect 2 "$OCLIP" inspect --bogus "$R/oc_zip_f32.bin"
expect 2 "$OCLIP" inspect --dump visual.proj "$R/oc_zip_f32.bin"
expect 0 "$OCLIP" info
contains "$tmp/out" "^kernels: *\(avx512\|avx2\|neon\|scalar\)"
contains "$tmp/out" "^default model: embedded, 64x64 images"
contains "$tmp/out" "^--dtype: *bf16 \(amx-bf16\|avx512-bf16\|widened\|as-stored\), int8 \(amx-int8\|avx512-vnni\|avx2\|neon-sdot\|neon\|reference\)$"
OCLIP_SIMD=scalar expect 0 "$OCLIP" info
contains "$tmp/out" "^kernels: *scalar (OCLIP_SIMD=scalar)"
contains "$tmp/out" "^--dtype: *bf16 as-stored, int8 reference$"
expect 2 "$OCLIP" info extra
expect 0 "$OCLIP" --version
contains "$tmp/out" "^oclip [0-9]"

# inspect, text
expect 0 "$OCLIP" inspect "$R/train_module.pt"
contains "$tmp/out" "container:     torch-zip"
contains "$tmp/out" "training checkpoint"
contains "$tmp/out" "'module.' stripped"
contains "$tmp/out" "epoch"

# inspect --json: one object with the documented fields, per fixture in the manifest
for f in oc_zip_f32.bin oc_legacy.bin scripted.pt openai_like.pt oc_bf16.safetensors \
         hf_sharded/model.safetensors.index.json train_orig_mod.pt newdtypes.bin; do
    expect 0 "$OCLIP" inspect --json --tensors "$R/$f"
    python3 - "$tmp/out" "$R/manifest.json" "$f" <<'PY' || bad "json for $f"
import json, sys
out = json.load(open(sys.argv[1]))
man = {m["path"]: m for m in json.load(open(sys.argv[2]))["files"]}[sys.argv[3]]
for k in ("path", "container", "layout", "wrapper", "prefix_stripped", "tensors",
          "parameters", "dtypes", "architecture"):
    assert k in out, k
assert out["container"] == man["container"], out["container"]
assert out["layout"] == man["layout"], out["layout"]
assert out["wrapper"] == man["wrapper"]
assert out["prefix_stripped"] == man["prefix_stripped"]
assert out["tensors"] == len(man["tensors"])
params = 0
dtypes = {}
for t in man["tensors"]:
    n = 1
    for d in t["shape"]:
        n *= d
    params += n
    dtypes[t["dtype"]] = dtypes.get(t["dtype"], 0) + 1
assert out["parameters"] == params, (out["parameters"], params)
assert out["dtypes"] == dtypes, (out["dtypes"], dtypes)
got = {t["name"]: (t["dtype"], t["shape"]) for t in out["tensor_list"]}
assert got == {t["name"]: (t["dtype"], t["shape"]) for t in man["tensors"]}
arch = out["architecture"]
if man["layout"] == "unknown":
    assert arch is None and out["architecture_note"], out
else:
    assert arch["fits"] is True, arch
    # HF files take their architecture from the config.json beside them
    assert arch["source"] == ("inferred" if man["layout"] != "hf" else
                              "tests/fixtures/readers/" + sys.argv[3].rsplit("/", 1)[0] + "/config.json"), arch
    assert arch["config"]["embed_dim"] == 16 and arch["config"]["vision_cfg"]["patch_size"] == 8
PY
    ok
done

# --dump writes a valid .npy with PyTorch's bytes (F32 as is, BF16 widened exactly to F32)
expect 0 "$OCLIP" inspect --dump visual.proj -o "$tmp/p.npy" "$R/oc_zip_f32.bin"
expect 0 "$OCLIP" inspect --dump visual.proj -o "$tmp/b.npy" "$R/oc_bf16.safetensors"
python3 - "$tmp/p.npy" "$tmp/b.npy" "$R/manifest.json" <<'PY' || bad "npy dump"
import hashlib, json, struct, sys
def load(path):
    b = open(path, "rb").read()
    assert b[:8] == b"\x93NUMPY\x01\x00"
    hl = struct.unpack("<H", b[8:10])[0]
    assert (10 + hl) % 64 == 0
    header = eval(b[10:10 + hl].decode("latin1"))
    return header, b[10 + hl:]
man = {m["path"]: m for m in json.load(open(sys.argv[3]))["files"]}
h, data = load(sys.argv[1])
assert h == {"descr": "<f4", "fortran_order": False, "shape": (32, 16)}, h
exp = {t["name"]: t for t in man["oc_zip_f32.bin"]["tensors"]}["visual.proj"]
assert hashlib.sha256(data).hexdigest() == exp["sha256"]
h, data = load(sys.argv[2])
assert h["descr"] == "<f4" and h["shape"] == (32, 16)
bf = b"".join(data[i + 2:i + 4] for i in range(0, len(data), 4))
assert all(data[i:i + 2] == b"\0\0" for i in range(0, len(data), 4))
exp = {t["name"]: t for t in man["oc_bf16.safetensors"]["tensors"]}["visual.proj"]
assert hashlib.sha256(bf).hexdigest() == exp["sha256"]
PY
ok
expect 1 "$OCLIP" inspect --dump no.such.tensor -o "$tmp/x.npy" "$R/oc_zip_f32.bin"
contains "$tmp/err" "no tensor named 'no.such.tensor'"

# failures exit 1 with "oclip: ..." and a hint where one helps
expect 1 "$OCLIP" inspect tests/fixtures/notckpt/page.html
contains "$tmp/err" "^oclip: loading 'tests/fixtures/notckpt/page.html': not a checkpoint: an HTML"
contains "$tmp/err" "^hint: "
expect 1 "$OCLIP" inspect tests/fixtures/hostile/os_system.pt
contains "$tmp/err" "GLOBAL 'os.system' is not allowed"
expect 1 "$OCLIP" inspect /nonexistent/file.bin
contains "$tmp/err" "No such file"

# every spec form: a folder (the checkpoint OpenCLIP's local-dir loader picks), a shard index
# with an HF config.json beside it, the embedded model
expect 0 "$OCLIP" inspect tests/fixtures/arch/tiny/b32like
contains "$tmp/out" "^path:          tests/fixtures/arch/tiny/b32like/open_clip_model.safetensors$"
expect 0 "$OCLIP" check "$R/hf_sharded/model.safetensors.index.json"
contains "$tmp/out" "^OK: $R/hf_sharded/model.safetensors.index.json loads into the architecture from $R/hf_sharded/config.json (hf layout, 62 tensors, QuickGELU)"
contains "$tmp/out" "^preprocess:    32x32, .*(from OpenAI's defaults: an HF-transformers config.json states none)"
expect 0 "$OCLIP" inspect default
contains "$tmp/out" "^path:          default model (embedded)$"
expect 1 "$OCLIP" check no-such-model
contains "$tmp/err" "^oclip: 'no-such-model': No such file or directory"

# check: OK lines, reports, hints, exit codes
A=tests/fixtures/arch
expect 0 "$OCLIP" check --help
contains "$tmp/out" "usage: oclip check"
expect 0 "$OCLIP" check "$A/tiny/b32like/hf"
contains "$tmp/out" "^OK: $A/tiny/b32like/hf/model.safetensors loads into the architecture from $A/tiny/b32like/hf/config.json (hf layout, 62 tensors, GELU)"
contains "$tmp/err" "HF-transformers layout: mapped automatically (78 tensors"
expect 0 "$OCLIP" check "$A/tiny/quickgelu/openai.pt"
contains "$tmp/out" "(openai layout, 62 tensors, QuickGELU)"
expect 0 "$OCLIP" check "$A/tiny/b32like/epoch_2.pt"
contains "$tmp/err" "training checkpoint (epoch 2): using its state_dict"
expect 1 "$OCLIP" check "$A/mismatch/missing_layer.safetensors" --config "$A/tiny/b32like/open_clip_config.json"
contains "$tmp/out" "^missing keys (24):"
contains "$tmp/out" "  transformer.resblocks.1.mlp.c_proj.bias \[32\]"
contains "$tmp/err" "24 missing, 0 unexpected"
expect 1 "$OCLIP" check "$A/mismatch/transposed_proj.safetensors" --config "$A/tiny/b32like/open_clip_config.json"
contains "$tmp/out" "visual.proj: expected \[32, 16\], found \[16, 32\]"
expect 1 "$OCLIP" check "$A/mismatch/vision_only.safetensors" --config "$A/tiny/b32like/open_clip_config.json"
contains "$tmp/out" "hint: no text tower in this file: vision-only checkpoint"
expect 1 "$OCLIP" check "$A/mismatch/int_weight.safetensors" --config "$A/tiny/b32like/open_clip_config.json" --json
python3 - "$tmp/out" <<'PY' || bad "check --json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["ok"] is False
assert o["issues"] == [{"kind": "dtype", "key": "visual.conv1.weight", "detail": "I64"}], o["issues"]
PY
ok
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --arch ViT-B-32
contains "$tmp/out" "positional_embedding: expected \[77, 512\], found \[8, 32\]"
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --arch ViT-Q-99
contains "$tmp/err" "ViT-Q-99"
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --arch RN50
contains "$tmp/out" "the file's image tower is a ViT, the architecture's a ModifiedResNet"
expect 0 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --config "$A/tiny/b32like/open_clip_config.json"
# where the settings come from
expect 0 "$OCLIP" check tests/fixtures/e2e
contains "$tmp/out" "^activation:    exact GELU (from tests/fixtures/e2e/open_clip_config.json)"
contains "$tmp/out" "^preprocess:    32x32, bicubic, resize shortest, mean (0.4815, 0.4578, 0.4082), .*(from tests/fixtures/e2e/open_clip_config.json)"
expect 0 "$OCLIP" check "$A/tiny/quickgelu/open_clip_model.safetensors" --no-quick-gelu
contains "$tmp/out" "^activation:    exact GELU (--no-quick-gelu)"
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --arch ViT-B-32:no_such_tag
contains "$tmp/err" "has no pretrained tag 'no_such_tag'"
contains "$tmp/err" "valid tags for ViT-B-32: openai, "
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --arch ViT-B-32:laion2b_s34b_b97k
contains "$tmp/err" "^hint: did you mean ViT-B-32:laion2b_s34b_b79k? valid tags for ViT-B-32: "
printf '%s' '{"embed_dim":16,"foo":1,"vision_cfg":{"image_size":32,"patch_size":8,"width":32,"layers":2,"head_width":16,"bar":2},"text_cfg":{"context_length":8,"vocab_size":64,"width":32,"heads":2,"layers":2}}' > "$tmp/unknown.json"
expect 1 "$OCLIP" check "$A/tiny/b32like/open_clip_model.safetensors" --config "$tmp/unknown.json"
contains "$tmp/err" "keys oclip does not know: foo, vision_cfg.bar"
expect 2 "$OCLIP" check "$A/tiny/b32like/hf" --arch ViT-B-32 --config x.json

echo "cli.sh: $pass passed, $fail failed" >&2
[ "$fail" -eq 0 ]
