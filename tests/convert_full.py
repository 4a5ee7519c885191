#!/usr/bin/env python3
"""convert_full.py — `oclip convert` outputs checked with the real libraries (run by tests/full.sh).

For the tiny fixtures (tests/fixtures/arch/tiny/*, every layout), a few extra architectures built
here (LayerNorm eps 1e-6, non-integer MLP ratio, nonscalar logit_scale, CLIPA-like pooling, text
LayerScale), and the full-size ViT-B-32 of `tools/gen_fixtures.py full` (build/full) when present:

  --to open_clip  open_clip.create_model("local-dir:OUT") builds the model from our
                  open_clip_config.json and loads our safetensors strictly; every tensor equals the
                  source; CLIP(**model_cfg).load_state_dict(strict=True) too.
  --to hf         transformers.CLIPModel.from_pretrained(OUT, output_loading_info=True): no missing,
                  unexpected or mismatched keys; get_image_features / get_text_features equal
                  OpenCLIP's encode_image / encode_text on the source weights.
  --dtype         bytes equal torch's .half() / .bfloat16() / .float(), special values included
                  (subnormals, overflow, ties, NaN payloads, inf).

Needs the developer venv; exits 0 with "skipped" when torch / open_clip / transformers are missing.
OCLIP_BIN selects the program (default build/oclip).
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import open_clip
    import safetensors.torch as st
    import torch
    from transformers import CLIPModel
except ImportError as e:  # not the venv
    print("convert_full: skipped: %s (run tools/setup_venv.sh and use .venv/bin/python)" % e)
    sys.exit(0)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OCLIP = os.environ.get("OCLIP_BIN", os.path.join(ROOT, "build", "oclip"))
TINY = os.path.join(ROOT, "tests", "fixtures", "arch", "tiny")
FULL = os.path.join(ROOT, "build", "full")
TOL = 1e-5       # tiny models (spec: the generator's own HF check uses 1e-5)
TOL_FULL = 1e-4  # full-size ViT-B-32 (the project's embedding tolerance)

failures = []
stats = {"open_clip": 0, "hf": 0, "cast": 0, "refused": 0}
max_diff = {"tiny": 0.0, "full": 0.0}


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def oclip(*args, expect=0):
    r = subprocess.run([OCLIP, "convert"] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != expect:
        fail("oclip convert %s: exit %d (want %d)\n%s" % (" ".join(map(str, args)), r.returncode, expect,
                                                        r.stderr.strip()))
    return r


def load_any(path):
    """A state dict as OpenCLIP's load_state_dict would see it (TorchScript archives included)."""
    if path.endswith(".safetensors"):
        return st.load_file(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        sd = torch.jit.load(path, map_location="cpu").state_dict()
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd["state_dict"].items()}
    return {k: v for k, v in sd.items() if k not in ("input_resolution", "context_length", "vocab_size")}


def same_bits(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype in (torch.float16, torch.bfloat16):
        return torch.equal(a.view(torch.int16), b.view(torch.int16))
    if a.dtype == torch.float32:
        return torch.equal(a.view(torch.int32), b.view(torch.int32))
    return torch.equal(a, b)


def inputs(cfg, seed=5, n=3):
    """Random images; token rows with EOT = vocab-1 (the row maximum) at several positions."""
    g = torch.Generator().manual_seed(seed)
    s = cfg["vision_cfg"]["image_size"]
    img = torch.randn(n, 3, s, s, generator=g)
    ctx, vocab = cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]
    rows = []
    for eot in (1, ctx // 2, ctx - 1):
        r = torch.zeros(ctx, dtype=torch.long)
        r[:eot] = torch.randint(1, vocab - 1, (eot,), generator=g)
        r[eot] = vocab - 1
        rows.append(r)
    return img, torch.stack(rows)


def reference_model(cfg, sd):
    m = open_clip.model.CLIP(**copy.deepcopy(cfg)).eval()
    m.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return m


def check_open_clip(out, src_sd, cfg_expected, what):
    """OUT folder: OpenCLIP builds it from our config and loads our weights strictly."""
    conf = json.load(open(os.path.join(out, "open_clip_config.json")))
    mc = conf["model_cfg"]
    ours = st.load_file(os.path.join(out, "open_clip_model.safetensors"))
    model = open_clip.model.CLIP(**copy.deepcopy(mc))
    sd = model.state_dict()
    if list(sd) and set(sd) != set(ours):
        fail("%s: keys differ from OpenCLIP's: missing %s unexpected %s"
             % (what, sorted(set(sd) - set(ours))[:5], sorted(set(ours) - set(sd))[:5]))
        return
    for k, v in sd.items():
        if ours[k].shape != v.shape:
            fail("%s: %s shape %s, OpenCLIP has %s" % (what, k, list(ours[k].shape), list(v.shape)))
    model.load_state_dict(ours, strict=True)
    for k, v in src_sd.items():
        if not same_bits(ours[k].reshape(v.shape), v):
            fail("%s: tensor %s differs from the source" % (what, k))
    m2 = open_clip.create_model("local-dir:" + out)  # OpenCLIP's own loader (load_checkpoint, strict)
    for k, v in m2.state_dict().items():
        if not torch.equal(v, ours[k].float().reshape(v.shape)):
            fail("%s: local-dir load differs at %s" % (what, k))
    if cfg_expected is not None:
        b1 = open_clip.model.CLIP(**copy.deepcopy(cfg_expected))
        if [(k, tuple(v.shape)) for k, v in b1.state_dict().items()] != \
                [(k, tuple(v.shape)) for k, v in sd.items()]:
            fail("%s: model_cfg builds another architecture than the source config" % what)
        for key in ("quick_gelu",):
            if bool(mc.get(key, False)) != bool(cfg_expected.get(key, False)):
                fail("%s: %s differs" % (what, key))
    stats["open_clip"] += 1


def check_hf(out, cfg, src_sd, what, tol=TOL, kind="tiny"):
    hf, info = CLIPModel.from_pretrained(out, output_loading_info=True)
    hf.eval()
    bad = {k: v for k, v in info.items() if v}
    if bad:
        fail("%s: from_pretrained: %s" % (what, bad))
    ref = reference_model(cfg, src_sd)
    img, txt = inputs(cfg, n=2 if kind == "full" else 3)
    with torch.no_grad():
        di = float((hf.get_image_features(pixel_values=img) - ref.encode_image(img)).abs().max())
        dt = float((hf.get_text_features(input_ids=txt) - ref.encode_text(txt)).abs().max())
    max_diff[kind] = max(max_diff[kind], di, dt)
    if not (di < tol and dt < tol):
        fail("%s: HF vs OpenCLIP max abs diff image %.3g text %.3g (tol %g)" % (what, di, dt, tol))
    stats["hf"] += 1
    return di, dt


# ------------------------------------------------------------------------------------------------
def tiny_fixtures(tmp):
    for variant in sorted(os.listdir(TINY)):
        d = os.path.join(TINY, variant)
        cfg = json.load(open(os.path.join(d, "open_clip_config.json")))["model_cfg"]
        truth = st.load_file(os.path.join(d, "open_clip_model.safetensors"))
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "epoch_2.pt", "hf",
                     "openai.pt"):
            src = os.path.join(d, name)
            if not os.path.exists(src):
                continue
            src_sd = load_any(os.path.join(src, "model.safetensors")) if name == "hf" else load_any(src)
            if name == "hf":
                src_sd = truth
            out = os.path.join(tmp, "%s-%s-oc" % (variant, name))
            if oclip(src, out + "/").returncode == 0:
                check_open_clip(out, src_sd, cfg, "%s/%s -> open_clip" % (variant, name))
            out = os.path.join(tmp, "%s-%s-hf" % (variant, name))
            layerscale = "ls_init_value" in cfg["vision_cfg"] or "ls_init_value" in cfg["text_cfg"]
            r = oclip(src, out, "--to", "hf", expect=1 if layerscale else 0)
            if layerscale:
                if "LayerScale" not in r.stderr or os.path.exists(out):
                    fail("%s: LayerScale -> hf not refused cleanly" % variant)
                stats["refused"] += 1
                continue
            if r.returncode == 0:
                check_hf(out, cfg, src_sd, "%s/%s -> hf" % (variant, name))
                back = os.path.join(tmp, "%s-%s-back" % (variant, name))
                if oclip(out, back + "/").returncode == 0:  # HF -> OpenCLIP again
                    check_open_clip(back, src_sd, cfg, "%s/%s -> hf -> open_clip" % (variant, name))


def extra_architectures(tmp):
    """Options the fixtures do not cover, built here with OpenCLIP."""
    base_v = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 8}
    base_t = {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 4, "layers": 2}
    cases = [
        ("eps_mlp", True, {"embed_dim": 16, "quick_gelu": True,
                           "vision_cfg": dict(base_v, mlp_ratio=2.5, norm_kwargs={"eps": 1e-6}),
                           "text_cfg": dict(base_t, mlp_ratio=3.0, norm_kwargs={"eps": 1e-6})}),
        ("nonscalar", True, {"embed_dim": 24, "nonscalar_logit_scale": True,
                             "vision_cfg": dict(base_v, image_size=48, patch_size=16),
                             "text_cfg": dict(base_t, context_length=12, vocab_size=100)}),
        ("clipa_like", False, {"embed_dim": 16,
                               "vision_cfg": dict(base_v, no_ln_pre=True, pool_type="avg",
                                                  final_ln_after_pool=True),
                               "text_cfg": dict(base_t, pool_type="last", no_causal_mask=True)}),
        ("text_ls", False, {"embed_dim": 16, "vision_cfg": dict(base_v),
                            "text_cfg": dict(base_t, ls_init_value=1e-3)}),
    ]
    for name, hf_ok, cfg in cases:
        torch.manual_seed(len(name))
        model = open_clip.model.CLIP(**copy.deepcopy(cfg)).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        sd = model.state_dict()
        src = os.path.join(tmp, "src-" + name)
        os.makedirs(src)
        st.save_file(dict(sd), os.path.join(src, "open_clip_model.safetensors"))
        json.dump({"model_cfg": cfg, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3,
                                                        "interpolation": "bilinear", "resize_mode": "squash"}},
                  open(os.path.join(src, "open_clip_config.json"), "w"))
        out = os.path.join(tmp, name + "-oc")
        if oclip(src, out + "/").returncode == 0:
            check_open_clip(out, sd, cfg, name + " -> open_clip")
            pre = json.load(open(os.path.join(out, "open_clip_config.json")))["preprocess_cfg"]
            if pre != {"mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear", "resize_mode": "squash"}:
                fail("%s: preprocess_cfg not carried over: %s" % (name, pre))
        out = os.path.join(tmp, name + "-hf")
        r = oclip(src, out, "--to", "hf", expect=0 if hf_ok else 1)
        if hf_ok and r.returncode == 0:
            check_hf(out, cfg, sd, name + " -> hf")
        elif not hf_ok:
            if os.path.exists(out) or "cannot express" not in r.stderr:
                fail("%s -> hf: not refused cleanly: %s" % (name, r.stderr.strip()))
            stats["refused"] += 1
            print("  %s -> hf refused: %s" % (name, r.stderr.strip().splitlines()[0].split("architecture: ", 1)[-1]))


def casts(tmp):
    """Float casts against torch, on a model whose tensors hold special values."""
    d = os.path.join(TINY, "b32like")
    sd = st.load_file(os.path.join(d, "open_clip_model.safetensors"))
    g = np.random.default_rng(0)
    bits = [0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
            0x7fa00000, 0xff812345, 0x7fffffff, 0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001,
            0x33800000, 0x33000000, 0x33000001, 0x387fc000, 0x38800000, 0x387fe000, 0x3f801000,
            0x3f803000, 0x3f800001, 0x00000001, 0x807fffff, 0x7f7fffff, 0x7f7f8000, 0x3f808000,
            0x3f818000, 0x3f80ffff]
    # random bit patterns of every exponent, and values near F16's subnormal / overflow edges
    rnd = g.integers(0, 2 ** 32, size=4096, dtype=np.uint64).astype(np.uint32)
    edge = (np.float32(2.0) ** g.uniform(-27, 17, size=4096).astype(np.float32)).astype(np.float32)
    edge *= np.where(g.random(4096) < 0.5, -1, 1).astype(np.float32)
    special = np.concatenate([np.array(bits, dtype=np.uint32), rnd, edge.view(np.uint32)])
    sd = dict(sd)
    name = "token_embedding.weight"  # [64, 32] = 2048 values
    n = sd[name].numel()
    sd[name] = torch.from_numpy(special[:n].copy().view(np.float32)).reshape(sd[name].shape)
    name2 = "visual.transformer.resblocks.0.mlp.c_fc.weight"  # [128, 32] = 4096
    m = sd[name2].numel()
    sd[name2] = torch.from_numpy(special[n:n + m].copy().view(np.float32)).reshape(sd[name2].shape)
    src = os.path.join(tmp, "cast-src")
    os.makedirs(src)
    shutil.copy(os.path.join(d, "open_clip_config.json"), src)
    st.save_file(sd, os.path.join(src, "open_clip_model.safetensors"))
    torch_cast = {"f16": lambda t: t.half(), "bf16": lambda t: t.bfloat16(), "f32": lambda t: t.float()}
    for to in ("f16", "bf16"):
        out = os.path.join(tmp, "cast-" + to + ".safetensors")
        if oclip(src, out, "--dtype", to).returncode:
            continue
        got = st.load_file(out)
        for k, v in sd.items():
            want = torch_cast[to](v)
            if not same_bits(got[k], want):
                diff = int((got[k].view(torch.int16) != want.view(torch.int16)).sum())
                fail("cast f32 -> %s: %s differs from torch in %d elements" % (to, k, diff))
            stats["cast"] += 1
        # and from the 16-bit file to the other types
        for to2 in ("f32", "f16", "bf16"):
            if to2 == to:
                continue
            src2 = os.path.join(tmp, "cast-src-" + to)
            os.makedirs(src2, exist_ok=True)
            shutil.copy(os.path.join(d, "open_clip_config.json"), src2)
            shutil.copy(out, os.path.join(src2, "open_clip_model.safetensors"))
            out2 = os.path.join(tmp, "cast-%s-%s.safetensors" % (to, to2))
            if oclip(src2, out2, "--dtype", to2).returncode:
                continue
            got2 = st.load_file(out2)
            for k, v in got.items():
                want = torch_cast[to2](v)
                if not same_bits(got2[k], want):
                    fail("cast %s -> %s: %s differs from torch" % (to, to2, k))
                stats["cast"] += 1


def full_model(tmp):
    src = os.path.join(FULL, "open_clip_pytorch_model.bin")
    if not os.path.exists(src):
        print("  full ViT-B-32: skipped (no %s; run tools/gen_fixtures.py full)" % src)
        return
    cfg = open_clip.get_model_config("ViT-B-32")
    sd = torch.load(src, map_location="cpu", weights_only=True)
    out = os.path.join(tmp, "full-oc")
    if oclip(src, out + "/", "--arch", "ViT-B-32").returncode == 0:
        check_open_clip(out, sd, cfg, "full ViT-B-32 -> open_clip")
    out = os.path.join(tmp, "full-hf")
    if oclip(src, out, "--to", "hf", "--arch", "ViT-B-32").returncode == 0:
        check_hf(out, cfg, sd, "full ViT-B-32 -> hf", tol=TOL_FULL, kind="full")
        back = os.path.join(tmp, "full-back.safetensors")
        if oclip(out, back).returncode == 0:
            got = st.load_file(back)
            for k, v in sd.items():
                if not same_bits(got[k].reshape(v.shape), v):
                    fail("full -> hf -> open_clip: %s differs" % k)
    f16 = os.path.join(FULL, "f16.safetensors")
    if os.path.exists(f16):  # torch's .half() of the same state dict
        out = os.path.join(tmp, "full-f16.safetensors")
        if oclip(src, out, "--arch", "ViT-B-32", "--dtype", "f16").returncode == 0:
            got, want = st.load_file(out), st.load_file(f16)
            for k, v in want.items():
                if not same_bits(got[k].reshape(v.shape), v):
                    fail("full f16: %s differs from torch's .half()" % k)
                stats["cast"] += 1


def main():
    r = subprocess.run([OCLIP, "convert", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        print("convert_full: FAIL: '%s convert --help' exits %d: %s" % (OCLIP, r.returncode, r.stderr.strip()))
        return 1
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="oclip-convert-full-")
    try:
        tiny_fixtures(tmp)
        extra_architectures(tmp)
        casts(tmp)
        full_model(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("convert_full: %d open_clip outputs loaded by OpenCLIP, %d HF outputs by transformers, "
          "%d cast tensors vs torch, %d refusals; HF vs OpenCLIP max abs diff: tiny %.3g, full %.3g"
          % (stats["open_clip"], stats["hf"], stats["cast"], stats["refused"], max_diff["tiny"],
             max_diff["full"]))
    if failures:
        print("convert_full: %d FAILED" % len(failures))
        return 1
    print("convert_full: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
