#!/usr/bin/env python3
"""Train oclip's embedded default model: a small CLIP, trained from scratch with OpenCLIP itself
on rendered shapes, saved in OpenCLIP's own format.

    .venv/bin/python tools/train_default.py --out models/default        # train (CPU: hours)
    .venv/bin/python tools/train_default.py --out models/default --device cuda --workers 14
                                                                         # how the shipped one was
    .venv/bin/python tools/train_default.py --examples examples         # the example images
    .venv/bin/python tools/train_default.py --bench 5                   # time 5 steps

Data (generated here, deterministically, nothing downloaded): one shape per image, one of the
ten CLASSES, filled with one of the six COLOURS (jittered), at a random size, position and
rotation, over a grey-ish background with a tint, a gradient, smooth blotches and pixel noise.
A pool of POOL images is rendered with 4x supersampling at 64, 96 or 128 px (image i from its
own seed (SEED, 0, i), so any number of --workers renders the same pool) and taken through
OpenCLIP's own inference transform (`open_clip.image_transform` with the preprocess_cfg written
beside the weights) up to the resized 64x64 image; each batch then flips and rotates its images
by multiples of 90 degrees (class-preserving) and applies ToTensor + Normalize. Captions are a
template from OpenCLIP's zero-shot templates (the 80 OpenAI ImageNet ones and the 7 "simple"
ones, the sets `oclip classify --templates imagenet|simple` uses) filled with the class phrase:
the shape name ("star"), or half of the time the colour and the shape ("red star"). So zero-shot
classification over the shape names (examples/labels.txt) and over the colour names both work.

Training: `open_clip.create_model` on the MODEL_CFG below, registered with
`open_clip.add_model_config` (a native `CLIP`: ViT image tower, standard text transformer, exact
GELU), `open_clip.loss.ClipLoss`, AdamW (no weight decay on gains, biases and logit_scale, as
OpenCLIP's trainer) with linear warmup and cosine decay, logit_scale clamped to ln(100) as
OpenCLIP's trainer does, fp32 (TF32 off). Every batch is drawn from its own seed (SEED, 1, step).
On the CPU a run is deterministic for a given torch version and thread count (two short runs gave
bit-identical tensors; only the order of the safetensors metadata keys varies). On a GPU some
kernels (the token embedding's backward) add atomically, so runs differ in the last bits; CPU and
GPU runs give slightly different weights of the same quality.

Time: the shipped weights (models/default/README.md) were trained with --device cuda on one
NVIDIA H200 (torch 2.11.0+cu130, open_clip 3.3.0): 16 s to render the pool with 14 workers,
8000 steps of 256 in 258 s. On the 2-core development VM, shared with other jobs, the same recipe
costs about 4 s a step (--bench 3, with a compile running beside it), i.e. about 9 hours for the
8000 steps, so use a GPU where there is one: a first CPU run of a smaller
variant (patch 16, 1500 steps of 128) took 37 minutes there and reached only 52% held-out
accuracy, which is why the GPU was used.

After training, the rows of the token embedding (49408 x text width) for token ids that never
occur in a training caption (every template x every phrase and colour, tokenized, padding id 0
included: 80 rows) are set to zero: they were never trained and would only carry their random
init. Labels made of other words then embed those words as zero vectors (the position embedding
and the context still apply). All weights are stored as F16 safetensors (OpenCLIP loads them into
fp32; oclip widens them to fp32 as it computes), which with the zeroed rows keeps the file at
7.5 MB (2.5 MB gzipped).
"""

import argparse
import json
import math
import os
import sys
import time

# torch's OpenMP workers sleep instead of spinning between regions: on a 2-core machine shared
# with other jobs, spinning threads made steps 3x slower
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CLASSES = ["circle", "square", "triangle", "star", "hexagon", "cross", "heart", "ring",
           "crescent", "arrow"]
COLOURS = {"red": (215, 35, 35), "green": (35, 160, 55), "blue": (40, 80, 225),
           "yellow": (235, 205, 35), "purple": (135, 55, 185), "orange": (245, 135, 25)}
SEED = 1234           # training batches
HELDOUT_SEED = 98765  # tools/eval_default.py
EXAMPLE_SEED = 4242   # examples/

MODEL_CFG = {
    "embed_dim": 128,
    "quick_gelu": False,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 128, "layers": 6,
                   "head_width": 32, "mlp_ratio": 4.0},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 48, "heads": 4,
                 "layers": 4},
}
PREPROCESS_CFG = {"size": 64, "mode": "RGB",
                  "mean": [0.48145466, 0.4578275, 0.40821073],
                  "std": [0.26862954, 0.26130258, 0.27577711],
                  "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}

POOL = 100000         # rendered training images
STEPS = 8000
BATCH = 256
LR = 1e-3
WD = 0.1
WARMUP = 150
RENDER_SIZES = (64, 64, 96, 128)


# ---------------------------------------------------------------------------------------------
# data

def _regular(n, r=1.0, start=-math.pi / 2):
    return [(r * math.cos(start + 2 * math.pi * i / n), r * math.sin(start + 2 * math.pi * i / n))
            for i in range(n)]


def _star():
    pts = []
    for i in range(10):
        r = 1.0 if i % 2 == 0 else 0.42
        a = -math.pi / 2 + math.pi * i / 5
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _heart():
    pts = []
    for i in range(48):
        t = 2 * math.pi * i / 48
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 17.0, -(y + 2.5) / 17.0))
    return pts


POLYGONS = {
    "square": _regular(4, start=math.pi / 4),
    "triangle": [(x, y + 0.2) for x, y in _regular(3, 1.15)],
    "star": _star(),
    "hexagon": _regular(6),
    "cross": [(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1),
              (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)],
    "heart": _heart(),
    "arrow": [(-1, -0.22), (0.15, -0.22), (0.15, -0.6), (1, 0), (0.15, 0.6), (0.15, 0.22),
              (-1, 0.22)],
}


def _shape_mask(kind, size, cx, cy, r, theta):
    """Coverage of the shape as float32 [size, size] in 0..1, rendered at 4x and box-filtered."""
    ss = 4 * size
    m = Image.new("L", (ss, ss), 0)
    d = ImageDraw.Draw(m)
    X, Y, R = cx * ss, cy * ss, r * ss

    def circ(x, y, rad, fill):
        d.ellipse([x - rad, y - rad, x + rad, y + rad], fill=fill)

    if kind == "circle":
        circ(X, Y, R, 255)
    elif kind == "ring":
        circ(X, Y, R, 255)
        circ(X, Y, 0.58 * R, 0)
    elif kind == "crescent":
        circ(X, Y, R, 255)
        circ(X + 0.5 * R * math.cos(theta), Y + 0.5 * R * math.sin(theta), 0.85 * R, 0)
    else:
        c, s = math.cos(theta), math.sin(theta)
        pts = [(X + R * (x * c - y * s), Y + R * (x * s + y * c)) for x, y in POLYGONS[kind]]
        d.polygon(pts, fill=255)
    m = m.resize((size, size), Image.BOX)
    return np.asarray(m, dtype=np.float32) / 255.0


def render(rng, size, kind=None, colour=None, r=None):
    """One image (PIL RGB, size x size) and its (shape, colour). rng: numpy Generator; r: the
    shape's radius as a fraction of the side (default: random in 0.16..0.34)."""
    if kind is None:
        kind = CLASSES[rng.integers(len(CLASSES))]
    if colour is None:
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
    if r is None:
        r = rng.uniform(0.16, 0.34)
    cx, cy = rng.uniform(r + 0.02, 0.98 - r, size=2)
    theta = rng.uniform(0, 2 * math.pi)
    a = _shape_mask(kind, size, cx, cy, r, theta)[..., None]

    # background: grey level with a small tint, a linear gradient, smooth blotches
    g = rng.uniform(40, 235)
    base = g + rng.uniform(-18, 18, size=3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ang = rng.uniform(0, 2 * math.pi)
    grad = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) * rng.uniform(0, 50)
    blot = np.asarray(Image.fromarray(rng.uniform(0, 255, (6, 6)).astype(np.uint8))
                      .resize((size, size), Image.BICUBIC), dtype=np.float32)
    bg = base[None, None, :] + grad[..., None] + (blot[..., None] - 128) * rng.uniform(0, 0.15)

    col = np.array(COLOURS[colour], np.float32) + rng.uniform(-22, 22, size=3)
    col *= rng.uniform(0.85, 1.1)
    img = bg * (1 - a) + col[None, None, :] * a
    img += rng.normal(0, rng.uniform(0, 5), size=img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB"), kind, colour


def all_templates():
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES
    return list(OPENAI_IMAGENET_TEMPLATES) + list(SIMPLE_IMAGENET_TEMPLATES)


def phrase(rng, kind, colour):
    return "%s %s" % (colour, kind) if rng.random() < 0.5 else kind


def all_phrases():
    return list(CLASSES) + ["%s %s" % (c, k) for c in COLOURS for k in CLASSES]


def _pool_item(args):
    """Image i of the pool: its own generator (seed, 0, i), so any number of workers renders the
    same pool."""
    i, seed = args
    rng = np.random.default_rng([seed, 0, i])
    size = RENDER_SIZES[rng.integers(len(RENDER_SIZES))]
    im, kind, colour = render(rng, size)
    for t in preprocess_fn().transforms[:-2]:  # Resize, CenterCrop, _convert_to_rgb
        im = t(im)
    return np.asarray(im), CLASSES.index(kind), list(COLOURS).index(colour)


def make_pool(n, workers=1, seed=SEED):
    """n rendered images through OpenCLIP's inference transform up to the resized, cropped PIL
    image (uint8 [n, 64, 64, 3]; ToTensor and Normalize are applied per batch), with their shape
    and colour indices."""
    jobs = [(i, seed) for i in range(n)]
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as p:
            items = p.map(_pool_item, jobs, chunksize=256)
    else:
        items = [_pool_item(j) for j in jobs]
    pix = np.stack([it[0] for it in items])
    kinds = np.array([it[1] for it in items], np.int64)
    colours = np.array([it[2] for it in items], np.int64)
    return pix, kinds, colours


def caption_tokens(tokenizer, templates):
    """Token ids of every caption: [len(templates), len(all_phrases()), context_length]."""
    ph = all_phrases()
    return tokenizer([t(p) for t in templates for p in ph]).view(len(templates), len(ph), -1)


def batch(step, n, pool, captions, device, seed=SEED):
    """Batch `step`: n pool images, each flipped and rotated by a multiple of 90 degrees (which
    keeps its class), ToTensor + Normalize as OpenCLIP's transform; and a fresh caption for each:
    a random template with the shape, or half of the time the colour and the shape."""
    import torch
    pix, kinds, colours = pool
    rng = np.random.default_rng([seed, 1, step])
    idx = rng.choice(len(pix), n, replace=False)
    rot = torch.from_numpy(rng.integers(4, size=n))
    flip = torch.from_numpy(rng.integers(2, size=n).astype(bool))
    tmpl = rng.integers(captions.shape[0], size=n)
    with_colour = rng.random(n) < 0.5
    x = torch.from_numpy(pix[idx]).to(device).permute(0, 3, 1, 2).float().div(255)
    x[flip.to(device)] = x[flip.to(device)].flip(3)
    for k in range(1, 4):
        sel = (rot == k).to(device)
        x[sel] = torch.rot90(x[sel], k, dims=(2, 3))
    mean = torch.tensor(PREPROCESS_CFG["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(PREPROCESS_CFG["std"], device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    ph = np.where(with_colour, len(CLASSES) + colours[idx] * len(CLASSES) + kinds[idx], kinds[idx])
    return x, captions[torch.from_numpy(tmpl), torch.from_numpy(ph)].to(device)


def preprocess_fn():
    import open_clip
    p = PREPROCESS_CFG
    return open_clip.image_transform(MODEL_CFG["vision_cfg"]["image_size"], is_train=False,
                                     mean=p["mean"], std=p["std"], interpolation=p["interpolation"],
                                     resize_mode=p["resize_mode"], fill_color=p["fill_color"])


def used_token_ids(tokenizer, templates):
    import torch
    texts = [t(p) for t in templates for p in all_phrases() + list(COLOURS)]
    ids = torch.unique(tokenizer(texts))
    return ids


def _cosine_lr(optimizer, base_lr, warmup, steps):
    def f(step):
        if step < warmup:
            lr = base_lr * (step + 1) / warmup
        else:
            e = step - warmup
            es = steps - warmup
            lr = 0.5 * (1 + math.cos(math.pi * e / es)) * base_lr
        for g in optimizer.param_groups:
            g["lr"] = lr
        return lr
    return f


def run_training(out, steps, bench, pool_size=POOL, device="cpu", workers=1, threads=2,
                 save_every=0):
    import open_clip
    import torch
    from open_clip.loss import ClipLoss

    torch.set_num_threads(threads)
    torch.backends.cudnn.allow_tf32 = False  # fp32 everywhere, also on a GPU
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(SEED)
    _register()
    model = open_clip.create_model("oclip-default-shapes", pretrained=None).to(device)
    model.train()
    tokenizer = open_clip.get_tokenizer("oclip-default-shapes")
    templates = all_templates()
    captions = caption_tokens(tokenizer, templates)
    t0 = time.time()
    pool = make_pool(min(pool_size, bench * BATCH) if bench else pool_size, workers)
    print("rendered %d training images in %.0f s" % (len(pool[0]), time.time() - t0), flush=True)

    # OpenCLIP's trainer: no weight decay on gains, biases, embeddings' norms and logit_scale
    def excl(n, p):
        return p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
    named = list(model.named_parameters())
    opt = torch.optim.AdamW([
        {"params": [p for n, p in named if excl(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not excl(n, p)], "weight_decay": WD}],
        lr=LR, betas=(0.9, 0.98), eps=1e-6)
    sched = _cosine_lr(opt, LR, WARMUP, steps)
    loss_fn = ClipLoss()
    n_steps = bench or steps
    t0 = time.time()
    tdata = 0.0
    hist = []
    for step in range(n_steps):
        lr = sched(step)
        td = time.time()
        images, texts = batch(step, BATCH, pool, captions, device)
        tdata += time.time() - td
        img_f, txt_f, scale = model(images, texts)
        loss = loss_fn(img_f, txt_f, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        hist.append(loss.item())
        if out and save_every and (step + 1) % save_every == 0 and step + 1 < n_steps:
            save(model, tokenizer, templates, out, time.time() - t0, step + 1)
            model.train()
        if (step + 1) % 50 == 0 or step + 1 == n_steps:
            el = time.time() - t0
            print("step %5d/%d  loss %.4f (mean of last 50 %.4f)  lr %.2e  scale %.1f  "
                  "%.0f s (data %.0f s)" % (step + 1, n_steps, hist[-1], np.mean(hist[-50:]), lr,
                                           model.logit_scale.exp().item(), el, tdata), flush=True)
    el = time.time() - t0
    print("%d steps of %d in %.0f s (%.2f s/step, data %.0f s)" % (n_steps, BATCH, el,
                                                                  el / n_steps, tdata))
    if bench:
        return
    # loss curve summary: mean loss per tenth of the run
    k = max(1, n_steps // 10)
    print("loss curve (mean per tenth of the run): " +
          " ".join("%.3f" % np.mean(hist[i:i + k]) for i in range(0, n_steps, k)))

    save(model, tokenizer, templates, out, el, n_steps)


def save(model, tokenizer, templates, out, seconds, step):
    import open_clip
    import safetensors.torch
    import torch
    model.eval()
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    used = used_token_ids(tokenizer, templates)
    keep = torch.zeros(sd["token_embedding.weight"].shape[0], dtype=torch.bool)
    keep[used] = True
    sd["token_embedding.weight"][~keep] = 0
    print("token embedding: kept %d of %d rows (ids in any training caption), zeroed the rest"
          % (int(keep.sum()), keep.numel()))
    sd16 = {k: v.to(torch.float16).contiguous() for k, v in sd.items()}
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "open_clip_model.safetensors")
    safetensors.torch.save_file(sd16, path, metadata={
        "format": "pt", "generator": "tools/train_default.py", "steps": str(step),
        "versions": "torch %s, open_clip %s" % (torch.__version__, open_clip.__version__)})
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}, f, indent=2)
        f.write("\n")
    print("wrote %s (%d bytes, step %d) and open_clip_config.json; training took %.1f min"
          % (path, os.path.getsize(path), step, seconds / 60), flush=True)


def _register():
    """open_clip.add_model_config on a config file named after the model, as a user would."""
    import tempfile
    import open_clip
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "oclip-default-shapes.json"), "w") as f:
        json.dump(MODEL_CFG, f)
    open_clip.add_model_config(d)


def write_examples(out):
    """One 128x128 PNG per shape (colours cycled; sizes in the upper part of the training range,
    so they are easy to see) and labels.txt (the shape names)."""
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(EXAMPLE_SEED)
    colours = list(COLOURS)
    for i, kind in enumerate(CLASSES):
        colour = colours[i % len(colours)]
        im, _, _ = render(rng, 128, kind, colour, r=rng.uniform(0.26, 0.34))
        im.save(os.path.join(out, "%s_%s.png" % (colour, kind)), optimize=True)
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print("wrote %d examples and labels.txt to %s" % (len(CLASSES), out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write the trained model to this folder")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--pool", type=int, default=POOL, help="rendered training images")
    ap.add_argument("--bench", type=int, default=0, help="only time this many steps")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--workers", type=int, default=1, help="processes rendering the images")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--save-every", type=int, default=0, help="also save every N steps")
    ap.add_argument("--examples", help="write the example images to this folder")
    a = ap.parse_args()
    if a.examples:
        write_examples(a.examples)
    if a.out or a.bench:
        run_training(a.out, a.steps, a.bench, a.pool, a.device, a.workers, a.threads,
                     a.save_every)
    if not (a.examples or a.out or a.bench):
        ap.error("nothing to do: give --out, --examples or --bench")


if __name__ == "__main__":
    sys.exit(main())
