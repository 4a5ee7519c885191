"""bench/collection.py — end-to-end images/s of `oclip embed-dir` on a folder of generated JPEGs
(and a WebDataset tar of them) against the forward pass alone and against an equivalent
PyTorch + OpenCLIP DataLoader script (PIL decoding and OpenCLIP's transform in DataLoader
workers, model.encode_image under torch.inference_mode), same model, same machine.

    /work/main/.venv/bin/python bench/collection.py [--model ViT-B-32] [--n 2000] [--batch 64]
        [--threads N] [--workers N] [--oclip build/oclip] [--work /tmp/oclip-bench-coll]
        [--dtype int8|bf16|f16]

--dtype runs oclip (embed-dir and the forward pass alone) with reduced weights, against
PyTorch in fp32 as always.

The model is OpenCLIP's ARCH with its random initialisation (no download), saved once as an
OpenCLIP folder (open_clip_model.safetensors + open_clip_config.json) that both sides load, so
both compute the same network. Prints one JSON object: images/s of each run and the ratios the
issue asks about (embed-dir / forward alone >= 0.9; embed-dir / PyTorch >= 2).

Run it on a quiet machine: the numbers mean nothing while other jobs share the cores.
"""
import argparse
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time

import numpy as np


def make_images(work, n, seed=0):
    """n JPEGs of 320x240..640x480 (shapes, gradients and noise, quality 90) and a tar of them."""
    from PIL import Image, ImageDraw

    d = os.path.join(work, "jpegs")
    tar = os.path.join(work, "jpegs.tar")
    if os.path.isdir(d) and len(os.listdir(d)) == n and os.path.exists(tar):
        return d, tar
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    with tarfile.open(tar, "w") as t:
        for i in range(n):
            w, h = int(rng.integers(320, 641)), int(rng.integers(240, 481))
            base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * rng.random(3)
            img = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(img)
            dr = ImageDraw.Draw(im)
            for _ in range(3):
                x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
                dr.ellipse([x0, y0, x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))],
                           fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
            b = io.BytesIO()
            im.save(b, "JPEG", quality=90)
            data = b.getvalue()
            name = "%06d.jpg" % i
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
            cap = ("a generated picture number %d" % i).encode()
            ti = tarfile.TarInfo("%06d.txt" % i)
            ti.size = len(cap)
            t.addfile(ti, io.BytesIO(cap))
    return d, tar


def make_model(work, arch):
    """OpenCLIP's ARCH, randomly initialised (seed 0), as an OpenCLIP folder."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    d = os.path.join(work, "model-" + arch)
    if os.path.exists(os.path.join(d, "open_clip_model.safetensors")):
        return d
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(d, "open_clip_model.safetensors"))
    cfg = open_clip.get_model_config(arch)
    with open(os.path.join(d, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": {}}, f)
    return d


def run_oclip(oclip, model, inp, work, batch, threads, tag, dtype):
    out = os.path.join(work, "out-" + tag)
    subprocess.run(["rm", "-rf", out], check=True)
    cmd = [oclip, "embed-dir", "-m", model, inp, "-o", out, "--batch-size", str(batch)]
    if threads:
        cmd += ["--threads", str(threads)]
    if dtype:
        cmd += ["--dtype", dtype]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode:
        sys.exit("oclip embed-dir failed: %s" % r.stderr)
    with open(os.path.join(out, "manifest.json")) as f:
        n = json.load(f)["counts"]["images"]
    # the program's own summary: the pipeline's rate after the model is loaded
    m = re.search(r"\(([0-9.]+) s, ([0-9.]+) images/s\)", r.stdout)
    return {"images": n, "seconds_with_model_load": round(dt, 3),
            "images_per_s_with_model_load": round(n / dt, 1),
            "images_per_s": float(m.group(2)) if m else None}


def run_forward_only(model, n, batch, threads, dtype):
    """oclip's forward pass alone on preprocessed pixels (the Python binding: the same library)."""
    import oclip

    m = oclip.create_model(model, threads=threads or 0, dtype=dtype)
    shape = m.preprocess(np.zeros((8, 8, 3), np.uint8)).shape  # [3, H, W]
    x = np.random.default_rng(0).standard_normal((batch,) + tuple(shape)).astype(np.float32)
    m.encode_image(x[:2])  # packs the weights
    done, t = 0, time.perf_counter()
    while done < n:
        m.encode_image(x, normalize=True)
        done += batch
    dt = time.perf_counter() - t
    return {"images": done, "seconds": round(dt, 3), "images_per_s": round(done / dt, 1)}


def run_torch(model_dir, arch, folder, batch, threads, workers):
    import open_clip
    import torch
    from PIL import Image

    torch.set_num_threads(threads or os.cpu_count())
    model, _, preprocess = open_clip.create_model_and_transforms(
        arch, pretrained=os.path.join(model_dir, "open_clip_model.safetensors"))
    model.eval()
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            return preprocess(Image.open(files[i]))

    dl = torch.utils.data.DataLoader(DS(), batch_size=batch, num_workers=workers)
    t = time.perf_counter()
    n = 0
    with torch.inference_mode():
        for x in dl:
            e = model.encode_image(x)
            e = e / e.norm(dim=-1, keepdim=True)
            n += x.shape[0]
    dt = time.perf_counter() - t
    return {"images": n, "seconds": round(dt, 3), "images_per_s": round(n / dt, 1),
            "workers": workers, "torch_threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 4) // 4))
    ap.add_argument("--oclip", default=os.path.join(os.path.dirname(__file__), "..", "build", "oclip"))
    ap.add_argument("--work", default="/tmp/oclip-bench-coll")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--dtype", choices=["f16", "bf16", "int8"], help="oclip's weights (PyTorch: fp32)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    folder, tar = make_images(a.work, a.n)
    model = make_model(a.work, a.model)
    res = {"model": a.model + " (random init)", "n": a.n, "batch": a.batch,
           "cpus": os.cpu_count(), "oclip_dtype": a.dtype or "f32"}
    res["forward_only"] = run_forward_only(model, a.n, a.batch, a.threads, a.dtype)
    res["embed_dir_folder"] = run_oclip(a.oclip, model, folder, a.work, a.batch, a.threads,
                                        "folder", a.dtype)
    res["embed_dir_tar"] = run_oclip(a.oclip, model, tar, a.work, a.batch, a.threads, "tar",
                                     a.dtype)
    if not a.skip_torch:
        res["torch_dataloader"] = run_torch(model, a.model, folder, a.batch, a.threads, a.workers)
    f = res["embed_dir_folder"]["images_per_s"]
    res["ratio_folder_vs_forward"] = round(f / res["forward_only"]["images_per_s"], 3)
    if "torch_dataloader" in res:
        res["ratio_folder_vs_torch"] = round(f / res["torch_dataloader"]["images_per_s"], 3)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
