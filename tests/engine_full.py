#!/usr/bin/env python3
"""engine_full.py — full-size models: oclip's embed-image / embed-text / similarity against OpenCLIP.

Run from the repository root with the developer venv (tests/full.sh calls it):

    .venv/bin/python tests/engine_full.py

Models (random weights from OpenCLIP's own init, nothing downloaded):
  ViT-B-32            build/full/open_clip_model.safetensors (F32) and build/full/f16.safetensors (F16),
                      written by `tools/gen_fixtures.py full`; no config beside them, so oclip infers
                      the architecture from the shapes (ViT-B-32, exact GELU) as OpenCLIP's own model has
  ViT-B-16-quickgelu  build/full_b16/: open_clip_model.safetensors (F32) + open_clip_config.json,
                      written here on first use (seed 1)

Inputs: 3 random pixel tensors [3, 3, 224, 224] and 4 prompts through OpenCLIP's tokenizer (one
longer than 77 tokens, so its EOT sits at the last position). Reference: OpenCLIP 3.3.0 in fp32 on
the same stored values (F16 upcast). Checks: normalized and raw embeddings and the logits with
max-abs <= 1e-4 and cosine >= 0.99999; the same bytes with --threads 1 and 2. Prints the numbers
and the timings.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OCLIP = os.environ.get("OCLIP_BIN", os.path.join(ROOT, "build", "oclip"))
PROMPTS = ["a photo of a cat", "a diagram of a transformer", "",
           " ".join(["a very long prompt that goes on"] * 20)]
failures = []


def run(*args):
    t0 = time.time()
    r = subprocess.run([OCLIP, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("oclip %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return time.time() - t0


def compare(what, got, want):
    got, want = np.asarray(got, np.float64).ravel(), np.asarray(want, np.float64).ravel()
    mx = float(np.abs(got - want).max())
    cos = float(got @ want / np.sqrt((got @ got) * (want @ want)))
    ok = mx <= 1e-4 and cos >= 0.99999
    print("  %-34s max-abs %.2e  1-cos %.1e  %s" % (what, mx, 1 - cos, "ok" if ok else "FAIL"))
    if not ok:
        failures.append(what)


def make_b16(out):
    import json
    import open_clip
    import safetensors.torch
    if os.path.exists(os.path.join(out, "open_clip_model.safetensors")):
        return
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None)
    safetensors.torch.save_file(model.state_dict(), os.path.join(out, "open_clip_model.safetensors"))
    cfg = open_clip.get_model_config("ViT-B-16-quickgelu")
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": {}}, f, indent=1)


def reference(name, weights):
    """OpenCLIP fp32 model `name` holding exactly the stored values of `weights`."""
    import open_clip
    import safetensors.torch
    model = open_clip.create_model(name, pretrained=None).eval()
    sd = {k: v.float() for k, v in safetensors.torch.load_file(weights).items()}
    model.load_state_dict(sd)
    return model


def check(label, arch, spec, weights, tmp, pixels, tokens, threads_check=False):
    print("%s (%s)" % (label, spec))
    model = reference(arch, weights)
    with torch.no_grad():
        t0 = time.time()
        img_raw = model.encode_image(torch.from_numpy(pixels)).numpy()
        t_img = time.time() - t0
        t0 = time.time()
        txt_raw = model.encode_text(torch.from_numpy(tokens)).numpy()
        t_txt = time.time() - t0
        logits = model.get_logits(torch.from_numpy(pixels), torch.from_numpy(tokens))[0].numpy()
    img_n = img_raw / np.linalg.norm(img_raw, axis=1, keepdims=True)
    txt_n = txt_raw / np.linalg.norm(txt_raw, axis=1, keepdims=True)
    px, tk = os.path.join(tmp, "pixels.npy"), os.path.join(tmp, "tokens.npy")
    o = lambda n: os.path.join(tmp, n)  # noqa: E731
    ti = run("embed-image", "-m", spec, "--pixels", px, "-o", o("img.npy"))
    tt = run("embed-text", "-m", spec, "--tokens", tk, "-o", o("txt.npy"))
    run("embed-image", "-m", spec, "--pixels", px, "-o", o("img_raw.npy"), "--no-normalize")
    run("embed-text", "-m", spec, "--tokens", tk, "-o", o("txt_raw.npy"), "--no-normalize")
    run("similarity", "-m", spec, "--pixels", px, "--tokens", tk, "-o", o("logits.npy"))
    compare("image embeddings (normalized)", np.load(o("img.npy")), img_n)
    compare("image features (raw)", np.load(o("img_raw.npy")), img_raw)
    compare("text embeddings (normalized)", np.load(o("txt.npy")), txt_n)
    compare("text features (raw)", np.load(o("txt_raw.npy")), txt_raw)
    compare("logits", np.load(o("logits.npy")), logits)
    print("  time for %d images: oclip %.2f s (whole command), OpenCLIP %.2f s (forward only)"
          % (len(pixels), ti, t_img))
    print("  time for %d texts:  oclip %.2f s (whole command), OpenCLIP %.2f s (forward only)"
          % (len(tokens), tt, t_txt))
    if threads_check:
        # --arch names the architecture the shapes imply: the same bytes
        run("embed-image", "-m", spec, "--arch", arch, "--pixels", px, "-o", o("img_arch.npy"))
        same = open(o("img_arch.npy"), "rb").read() == open(o("img.npy"), "rb").read()
        print("  --arch %s gives the same bytes as the inferred architecture: %s" % (arch, same))
        if not same:
            failures.append("--arch")
        for th in ("1", "2"):
            run("embed-image", "-m", spec, "--pixels", px, "-o", o("img_t%s.npy" % th), "--threads", th)
            run("embed-text", "-m", spec, "--tokens", tk, "-o", o("txt_t%s.npy" % th), "--threads", th)
        for k in ("img", "txt"):
            same = open(o(k + "_t1.npy"), "rb").read() == open(o(k + "_t2.npy"), "rb").read()
            print("  %s: --threads 1 and 2 give the same bytes: %s" % (k, same))
            if not same:
                failures.append(k + " threads")


def main():
    import open_clip
    torch.set_num_threads(os.cpu_count() or 1)
    full = os.path.join(ROOT, "build", "full")
    if not os.path.exists(os.path.join(full, "open_clip_model.safetensors")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_fixtures.py"), "full"], check=True)
    b16 = os.path.join(ROOT, "build", "full_b16")
    make_b16(b16)
    rng = np.random.RandomState(0)
    pixels = rng.randn(3, 3, 224, 224).astype(np.float32)
    tokens = open_clip.get_tokenizer("ViT-B-32")(PROMPTS).numpy().astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "pixels.npy"), pixels)
        np.save(os.path.join(tmp, "tokens.npy"), tokens)
        check("ViT-B-32 F32", "ViT-B-32", os.path.join(full, "open_clip_model.safetensors"),
              os.path.join(full, "open_clip_model.safetensors"), tmp, pixels, tokens, threads_check=True)
        check("ViT-B-32 F16", "ViT-B-32", os.path.join(full, "f16.safetensors"),
              os.path.join(full, "f16.safetensors"), tmp, pixels, tokens)
        check("ViT-B-16-quickgelu F32", "ViT-B-16-quickgelu", b16,
              os.path.join(b16, "open_clip_model.safetensors"), tmp, pixels, tokens)
    if failures:
        raise SystemExit("engine_full: FAILED: " + ", ".join(failures))
    print("engine_full: passed")


if __name__ == "__main__":
    main()
