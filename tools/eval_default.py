#!/usr/bin/env python3
"""Held-out evaluation of the default model (models/default), by OpenCLIP and by oclip.

    .venv/bin/python tools/eval_default.py [--model models/default] [--oclip build/oclip]
                                           [--n 200] [--extra 2000]

1. Renders N held-out images with tools/train_default.py's generator and its own seed
   (HELDOUT_SEED, never used in training; shapes balanced, colours random, rendered at 64 px so the
   committed PNGs stay small) into tests/fixtures/default/heldout/.
2. OpenCLIP, loaded as a user loads the folder: open_clip.create_model_and_transforms(
   "local-dir:MODEL") and its preprocess, open_clip.get_tokenizer("local-dir:MODEL"),
   open_clip.build_zero_shot_classifier over examples/labels.txt with OpenCLIP's 80 ImageNet
   templates (what `oclip classify` uses by default), probabilities
   softmax(logit_scale.exp() * image_features @ classifier), fp32 on the CPU. Writes
   tests/fixtures/default/expected.json: per image its file, true label index, OpenCLIP's top-1
   and probabilities; and the accuracy.
3. Runs `oclip classify -m MODEL --labels-file examples/labels.txt --json` on the same files and
   compares image by image: the same top-1 for every image, max |p_oclip - p_openclip| <= 1e-4.
With --extra M, also M more held-out images (another seed, written to a temporary folder, not
committed) through both, for a finer accuracy figure.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no tools/__pycache__ from the import below
import train_default as T  # noqa: E402

ROOT = T.ROOT
FIX = os.path.join(ROOT, "tests", "fixtures", "default")
LABELS = os.path.join(ROOT, "examples", "labels.txt")
TOL = 1e-4


def render_set(folder, n, seed, rel_to=None):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    files, truth = [], []
    for i in range(n):
        kind = T.CLASSES[i % len(T.CLASSES)]
        im, _, colour = T.render(rng, 64, kind)
        path = os.path.join(folder, "%03d_%s_%s.png" % (i, colour, kind))
        im.save(path, optimize=True)
        files.append(os.path.relpath(path, rel_to) if rel_to else path)
        truth.append(T.CLASSES.index(kind))
    return files, truth


def openclip_probs(model_dir, files, labels):
    import open_clip
    import torch
    from PIL import Image
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
    torch.set_num_threads(2)
    spec = "local-dir:" + model_dir
    model, _, preprocess = open_clip.create_model_and_transforms(spec)
    model.eval()
    tokenizer = open_clip.get_tokenizer(spec)
    with torch.no_grad():
        clf = open_clip.build_zero_shot_classifier(
            model, tokenizer=tokenizer, classnames=labels, templates=OPENAI_IMAGENET_TEMPLATES,
            num_classes_per_batch=10, device="cpu", use_tqdm=False)
        out = []
        for i in range(0, len(files), 100):
            x = torch.stack([preprocess(Image.open(f)) for f in files[i:i + 100]])
            img = model.encode_image(x, normalize=True)
            out.append((model.logit_scale.exp() * img @ clf).softmax(dim=-1))
        scale = float(model.logit_scale.exp())
    return torch.cat(out).tolist(), scale


def oclip_probs(oclip, model_dir, files, labels_file, labels):
    r = subprocess.run([oclip, "classify", "-m", model_dir, *files, "--labels-file", labels_file,
                        "--json"], capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(rows) == len(files), (len(rows), len(files))
    out = []
    for f, row in zip(files, rows):
        assert row["image"] == f, (row["image"], f)
        p = {q["label"]: q["prob"] for q in row["predictions"]}
        out.append([p[lab] for lab in labels])
    return out


def compare(name, files, truth, ref, got):
    top_ref = [int(np.argmax(p)) for p in ref]
    top_got = [int(np.argmax(p)) for p in got]
    mism = [f for f, a, b in zip(files, top_ref, top_got) if a != b]
    dmax = float(np.max(np.abs(np.array(ref) - np.array(got))))
    acc_ref = float(np.mean([a == t for a, t in zip(top_ref, truth)]))
    acc_got = float(np.mean([a == t for a, t in zip(top_got, truth)]))
    print("%s: %d images; accuracy OpenCLIP %.2f%%, oclip %.2f%%; top-1 differs on %d; "
          "max |dp| %.3g" % (name, len(files), 100 * acc_ref, 100 * acc_got, len(mism), dmax))
    return acc_ref, acc_got, mism, dmax


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--oclip", default="build/oclip")
    ap.add_argument("--n", type=int, default=140)
    ap.add_argument("--extra", type=int, default=0)
    a = ap.parse_args()
    os.chdir(ROOT)
    import open_clip
    import torch

    labels = [line.strip() for line in open(LABELS, encoding="utf-8") if line.strip()]
    assert labels == T.CLASSES, labels
    held = os.path.join(FIX, "heldout")
    for f in os.listdir(held) if os.path.isdir(held) else []:
        os.remove(os.path.join(held, f))
    files, truth = render_set(held, a.n, T.HELDOUT_SEED, rel_to=ROOT)
    ref, scale = openclip_probs(a.model, files, labels)
    top = [int(np.argmax(p)) for p in ref]
    acc = float(np.mean([p == t for p, t in zip(top, truth)]))
    with open(os.path.join(FIX, "expected.json"), "w") as f:
        json.dump({
            "generator": "tools/eval_default.py",
            "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__},
            "model": a.model, "labels_file": "examples/labels.txt", "labels": labels,
            "templates": "imagenet (OpenCLIP's OPENAI_IMAGENET_TEMPLATES, 80)",
            "logit_scale_exp": scale, "accuracy": acc,
            "images": [{"file": fn, "label": t, "top1": p, "probs": pr}
                       for fn, t, p, pr in zip(files, truth, top, ref)]}, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(held, x)) for x in os.listdir(held))
    print("wrote %d held-out images (%d bytes) and expected.json; OpenCLIP accuracy %.2f%%"
          % (len(files), size, 100 * acc))
    got = oclip_probs(a.oclip, a.model, files, LABELS, labels)
    ok = True
    _, _, mism, dmax = compare("held-out (committed)", files, truth, ref, got)
    ok &= not mism and dmax <= TOL
    if a.extra:
        with tempfile.TemporaryDirectory() as d:
            xf, xt = render_set(d, a.extra, T.HELDOUT_SEED + 1)
            xr, _ = openclip_probs(a.model, xf, labels)
            xg = oclip_probs(a.oclip, a.model, xf, LABELS, labels)
            _, _, mism, dmax = compare("held-out (extra)", xf, xt, xr, xg)
            ok &= not mism and dmax <= TOL
            # confusions of OpenCLIP on the extra set
            conf = {}
            for p, t in zip(xr, xt):
                k = int(np.argmax(p))
                if k != t:
                    conf[(labels[t], labels[k])] = conf.get((labels[t], labels[k]), 0) + 1
            print("extra-set errors (true -> predicted: count):",
                  ", ".join("%s->%s: %d" % (u, v, c) for (u, v), c in
                            sorted(conf.items(), key=lambda x: -x[1])) or "none")
    print("agreement:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
