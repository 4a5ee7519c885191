#!/usr/bin/env python3
"""Benchmark models: random-weight full-size OpenCLIP towers, as the HF hub ships them.

    .venv/bin/python bench/models.py [--out build/bench] [--force] [--models ViT-B-32,RN50,...]

Architectures (OpenCLIP 3.3.0 config names): ViT-B-32, ViT-B-16, and the convolutional image
towers RN50 (ModifiedResNet, 224 px), convnext_base_w (timm ConvNeXt-B, 256 px) and
MobileCLIP-S1 (timm fastvit_mci1, 256 px). For each, build/bench/NAME/ receives
  open_clip_model.safetensors  fp32 state dict of open_clip.create_model(NAME) (random init, fixed
                               seed; every BatchNorm's running statistics and affine parameters
                               perturbed, so that folding them is not the identity; FastViT's
                               MobileOne branches kept unfolded, as OpenCLIP checkpoints store them)
  open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...} as on the hub
  image.onnx, text.onnx        the towers exported with torch.onnx.export (legacy exporter, opset 17,
                               dynamic batch): model.encode_image(x, normalize=True) and
                               model.encode_text(tokens, normalize=True); each is checked against
                               torch with ONNX Runtime (max-abs <= 1e-4) before it is kept. The
                               convolutional models have image.onnx only (their rows are image
                               rows); MobileCLIP-S1's is exported after
                               timm.utils.reparameterize_model (the inference form, as
                               MobileCLIP's authors deploy it)
  manifest.json                what was written, with versions and image_gflop (one image's
                               FLOPs through the image tower: torch.utils.flop_counter, i.e.
                               2 x the multiply-adds of the convolutions and matrix products;
                               MobileCLIP-S1's reparameterized) (written last: its presence means
                               done)
and build/bench/ViT-B-32-bf16/ the same ViT-B-32 weights stored as BF16 (oclip's bf16 row).
Nothing is downloaded. Existing folders whose manifest matches are kept.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {"ViT-B-32": 0, "ViT-B-16": 1, "RN50": 2, "convnext_base_w": 3,
          "MobileCLIP-S1": 4}  # name -> seed
CONV = {"RN50", "convnext_base_w", "MobileCLIP-S1"}  # image-tower rows only
REPARAM = {"MobileCLIP-S1"}  # timm FastViT: PyTorch and ONNX run the reparameterized form
OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]
FORMAT = 2  # bump when the folder layout changes (new keys and models need no bump)


def perturb_bn(model, seed, size):
    """BatchNorm statistics that are not the identity's: random affine parameters, then the
    running statistics measured on random images (one train-mode pass, cumulative average), so
    that folding them is tested and activations keep the scale of a trained network (random
    statistics make RN50's 16 residual blocks grow without bound)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    g = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            if m.weight is not None:
                m.weight.copy_(m.weight * (1 + torch.randn(n, generator=g) * 0.1))
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model.encode_image(torch.randn(4, 3, size, size, generator=g))
        model.eval()
        for m in bns:
            m.momentum = 0.1


def inference_form(name, model):
    """The model PyTorch and ONNX Runtime run: MobileCLIP's FastViT reparameterized (timm
    fastvit.py MobileOneBlock.reparameterize and friends), others as created."""
    if name in REPARAM:
        from timm.utils.model import reparameterize_model
        model = reparameterize_model(model)
    return model.eval()


def image_gflop(model, size):
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model.encode_image(torch.zeros(1, 3, size, size), normalize=True)
    return fc.get_total_flops() / 1e9


def versions():
    import onnxruntime
    import open_clip
    import safetensors
    return {"torch": torch.__version__, "open_clip": open_clip.__version__,
            "safetensors": safetensors.__version__, "onnxruntime": onnxruntime.__version__}


def done(folder, want):
    try:
        with open(os.path.join(folder, "manifest.json")) as f:
            m = json.load(f)
        return m.get("format") == FORMAT and m.get("name") == want and all(
            os.path.exists(os.path.join(folder, p)) for p in m["files"])
    except (OSError, ValueError, KeyError):
        return False


class ImageTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model.encode_image(pixels, normalize=True)


class TextTower(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return self.model.encode_text(tokens, normalize=True)


def export_and_check(tower, example, check, path, in_name):
    import onnxruntime as ort
    with torch.inference_mode():  # before the export, which may leave the module changed
        want = tower(check).numpy()
    torch.onnx.export(tower, (example,), path, input_names=[in_name], output_names=["embedding"],
                      dynamic_axes={in_name: {0: "batch"}, "embedding": {0: "batch"}},
                      opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    got = sess.run(None, {in_name: check.numpy()})[0]
    err = float(np.abs(got - want).max())
    if not err <= 1e-4:
        raise SystemExit("%s: ONNX Runtime differs from torch by %.3g (> 1e-4)" % (path, err))
    return err


def make(name, seed, out, vers):
    import open_clip
    import safetensors.torch
    folder = os.path.join(out, name)
    bf = os.path.join(out, "ViT-B-32-bf16")
    if done(folder, name) and (name != "ViT-B-32" or done(bf, "ViT-B-32-bf16")):
        print("bench models: %s up to date" % folder)
        return
    os.makedirs(folder, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(seed)
    model = open_clip.create_model(name, pretrained=None).eval()
    perturb_bn(model, seed, open_clip.get_model_config(name)["vision_cfg"]["image_size"])
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(sd, os.path.join(folder, "open_clip_model.safetensors"))
    cfg = open_clip.get_model_config(name)
    mean, std = (OPENAI_MEAN, OPENAI_STD) if name not in REPARAM else ([0.0] * 3, [1.0] * 3)
    config = {"model_cfg": cfg, "preprocess_cfg": {"mean": mean, "std": std}}
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    size = cfg["vision_cfg"]["image_size"]
    model = inference_form(name, model)
    tok = open_clip.get_tokenizer(name)
    g = torch.Generator().manual_seed(seed)
    errs = {
        "image.onnx": export_and_check(ImageTower(model), torch.randn(1, 3, size, size, generator=g),
                                       torch.randn(3, 3, size, size, generator=g),
                                       os.path.join(folder, "image.onnx"), "pixels"),
    }
    files = ["open_clip_model.safetensors", "open_clip_config.json", "image.onnx"]
    if name not in CONV:
        errs["text.onnx"] = export_and_check(
            TextTower(model), tok(["a photo of a cat."]),
            tok(["a photo of a dog.", "", "a bad photo of the goldfish."]),
            os.path.join(folder, "text.onnx"), "tokens")
        files.append("text.onnx")
    gflop = image_gflop(model, size)
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump({"format": FORMAT, "name": name, "seed": seed, "generator": "bench/models.py",
                   "versions": vers, "files": files, "onnx_max_abs_vs_torch": errs,
                   "image_gflop": gflop}, f, indent=1)
    print("bench models: wrote %s in %.0f s (ONNX vs torch max-abs: %s)" % (
        folder, time.time() - t0, ", ".join("%s %.1e" % kv for kv in errs.items())))
    if name == "ViT-B-32":
        os.makedirs(bf, exist_ok=True)
        safetensors.torch.save_file({k: v.bfloat16() for k, v in sd.items()},
                                    os.path.join(bf, "open_clip_model.safetensors"))
        with open(os.path.join(bf, "open_clip_config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(bf, "manifest.json"), "w") as f:
            json.dump({"format": FORMAT, "name": "ViT-B-32-bf16", "seed": seed,
                       "generator": "bench/models.py", "versions": vers,
                       "files": files[:2]}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--force", action="store_true", help="rewrite even when up to date")
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of %s" % ", ".join(MODELS))
    args = ap.parse_args()
    want = args.models.split(",")
    unknown = [n for n in want if n not in MODELS]
    if unknown:
        ap.error("unknown model(s) %s: known are %s" % (", ".join(unknown), ", ".join(MODELS)))
    vers = versions()
    for name in want:
        seed = MODELS[name]
        if args.force:
            try:
                os.remove(os.path.join(args.out, name, "manifest.json"))
            except OSError:
                pass
        make(name, seed, args.out, vers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
