#!/usr/bin/env python3
"""`fastvit` fixtures: tiny timm FastViT image towers (MobileCLIP's fastvit_mci0 / mci1 / mci2
structure, timm models/fastvit.py FastVit) in their train-time form, as OpenCLIP 3.3.0's TimmModel
builds them for the MobileCLIP configs (timm_pool 'avg', timm_proj null: open_clip timm_model.py
TimmModel.__init__ creates the trunk with num_classes=embed_dim, global_pool='avg', so the
projection is the trunk's own head.fc Linear with bias, and TimmModel.head is empty), and what they
compute in eval mode (not reparameterized: the fixture holds the multi-branch form, exactly as
the released checkpoints do).

    .venv/bin/python tools/fixtures_fastvit.py     # tests/fixtures/fastvit/ (committed)
    .venv/bin/python tools/fixtures_fastvit.py full MobileCLIP2-S0 [...] [--out build/fastvit_full]
        [--check build/oclip]
        # the real configs at full size, random weights (perturbed as below, the layer scales
        # times 0.15 so that 40 blocks keep activations of order 1), not committed:
        # <out>/<config>/ with open_clip_config.json, open_clip_model.safetensors, pixels.npy and
        # OpenCLIP's encode_image(normalize=False) in fp32 and fp64; with --check,
        # `oclip embed-image --pixels --no-normalize` compared to both

tiny/ : timm.create_model('fastvit_mci0', num_classes=E, global_pool='avg', layers=LAYERS,
        embed_dims=DIMS) -- fastvit_mci0's model_args (mlp_ratio 3, se_downsamples
        (F, F, T, T), RepConditionalPosEnc 7x7 before stage 3, repmixer x3 + attention,
        lkc_use_act, BatchNorm) with only the depths and widths shrunk.
  model.safetensors     the trunk's state_dict as visual.trunk.* (num_batches_tracked included)
  expected.safetensors  pixels [N,3,S,S]; features [N,E] (TimmModel.forward: trunk(x));
                        stem [N,C0,S/4,S/4]; stage0..3 (NCHW, after each trunk.stages[i]);
                        final [N,2*C3] the pooled final_conv output (before head.fc)
  meta.json             the geometry the C test gives the binder
e2e/ : a whole MobileCLIP2-S0-shaped CustomTextCLIP (open_clip_config.json with model_cfg and
        preprocess_cfg, open_clip_model.safetensors) over the same tiny trunk registered with timm
        as fastvit_oclip_tiny (timm's own _create_fastvit with fastvit_mci0's model_args, the
        sizes shrunk; the C test registers the same geometry), a text tower of width 8, 2 heads,
        1 layer, no_causal_mask as MobileCLIP's; expected.safetensors: pixels, img_pooled
        (encode_image(normalize=False)), tokens [P,77] and txt_pooled (encode_text,
        normalize=False). Loaded by oclip through the spec path a user uses (the folder).
tiny_mci3/ : the same for fastvit_mci3's structure (five stages, mlp_ratio 4, no SE downsample,
        RepConditionalPosEnc before stages 3 and 4, two attention stages with LayerNorm2d norms,
        no scale branch in the stem), layers (1, 1, 1, 1, 1), embed_dims (16, 32, 32, 64, 64):
        stage0..3 only (the stem, the first four stages), final and features as above.
shapes_<name>.json: the trunk's state_dict names and shapes as TimmModel builds it for each real
MobileCLIP / MobileCLIP2 config (meta device, no weights): the C test checks the binder's
expectations against them.

Random weights: every conv / linear drawn N(0, 1/fan_in); every BatchNorm's running mean N(0, 0.2),
running var U(0.5, 2), weight 1 + N(0, 0.2), bias N(0, 0.1) (so no BN is an identity and the eps
1e-5 is not all that matters); every LayerNorm2d's weight 1 + N(0, 0.2), bias
N(0, 0.1); every layer-scale gamma U(0.3, 0.9) (timm inits them to 1e-5,
which would hide the mixer and MLP branches); head.fc's rows centred (the pooled GELU output
has a large common part that would make every image's features alike).
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = fc.out_dir("fastvit")
LAYERS = (1, 2, 2, 1)
DIMS = (16, 32, 32, 64)  # the attention stage: head_dim 32 -> 2 heads
E = 24
S = 128
N = 4


def perturb(model, g):
    import timm.models.fastvit as fv
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
                fan = mod.weight[0].numel()
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) / fan ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
                mod.weight.copy_(1 + 0.2 * torch.randn(c, generator=g))
                mod.bias.copy_(0.1 * torch.randn(c, generator=g))
            elif isinstance(mod, torch.nn.LayerNorm):  # timm LayerNorm2d (mci3 / mci4)
                mod.weight.copy_(1 + 0.2 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, fv.LayerScale2d):
                mod.gamma.copy_(0.3 + 0.6 * torch.rand(mod.gamma.shape, generator=g))


def tiny(sub="tiny", base="fastvit_mci0", layers=LAYERS, dims=DIMS, seed=23):
    import timm
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    trunk = timm.create_model(base, num_classes=E, global_pool="avg", layers=layers,
                              embed_dims=dims)
    perturb(trunk, g)
    with torch.no_grad():  # GELU / SE outputs share a large common part: keep head.fc off it
        trunk.head.fc.weight.sub_(trunk.head.fc.weight.mean(1, keepdim=True))
    trunk.eval()
    px = torch.randn((N, 3, S, S), generator=g)  # noise, checkerboard, waves, ramp
    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    px[1] = ((xx // 8 + yy // 8) % 2).float()[None].expand(3, S, S) * torch.tensor([2.0, -1.0, 0.5])[:, None, None]
    px[2] = torch.stack([torch.sin(xx / 5.0), torch.cos(yy / 3.0), torch.sin((xx + yy) / 9.0)]) * 1.5
    px[3] = torch.linspace(-2, 2, S * S * 3).reshape(3, S, S)
    ex = {"pixels": px}
    with torch.no_grad():
        x = trunk.stem(px)
        ex["stem"] = x.clone()
        for i, st in enumerate(trunk.stages):
            x = st(x)
            if i < 4:
                ex[f"stage{i}"] = x.clone()
        x = trunk.final_conv(x)
        ex["final"] = x.mean((2, 3))
        ex["features"] = trunk(px)
        # the same in float64: how far OpenCLIP's own fp32 is from exact
        t64 = trunk.double()
        f64 = t64(px.double())
        trunk.float()
    ex = {k: v.contiguous().float() for k, v in ex.items()}
    f = ex["features"]
    cos = torch.nn.functional.cosine_similarity(f[:, None], f[None], dim=-1)
    off = (cos - torch.eye(N)).abs().max().item()
    assert off < 0.99, f"features too alike: {off}"
    d = os.path.join(OUT, sub)
    os.makedirs(d, exist_ok=True)
    sd = {"visual.trunk." + k: v.contiguous() for k, v in trunk.state_dict().items()}
    save_file(sd, os.path.join(d, "model.safetensors"))
    save_file(ex, os.path.join(d, "expected.safetensors"))
    meta = {"base": base, "layers": list(layers), "dims": list(dims), "embed_dim": E,
            "image_size": S,
            "fp32_vs_fp64": (f.double() - f64).abs().max().item(),
            "max_offdiag_cosine": off}
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(sub + ":", meta)


TINY_NAME = "fastvit_oclip_tiny"
PROMPTS = ["a photo of a red circle", "a blue triangle", "a diagram", ""]


def register_tiny():
    import timm.models.fastvit as fv

    def make(name, pretrained, **kwargs):
        args = dict(layers=LAYERS, embed_dims=DIMS, mlp_ratios=(3, 3, 3, 3),
                    se_downsamples=(False, False, True, True),
                    pos_embs=(None, None, None, fv.partial(fv.RepConditionalPosEnc,
                                                          spatial_shape=(7, 7))),
                    token_mixers=("repmixer", "repmixer", "repmixer", "attention"),
                    lkc_use_act=True)
        return fv._create_fastvit("fastvit_mci0", pretrained=pretrained, **dict(args, **kwargs))
    fc.register_timm_models([TINY_NAME], "timm.models.fastvit", make)


def e2e():
    import open_clip
    register_tiny()
    cfgdir = os.path.join(os.path.dirname(open_clip.__file__), "model_configs")
    cfg = json.load(open(os.path.join(cfgdir, "MobileCLIP2-S0.json")))
    cfg["embed_dim"] = E
    cfg["vision_cfg"]["timm_model_name"] = TINY_NAME
    cfg["vision_cfg"]["image_size"] = S
    cfg["text_cfg"].update({"width": 8, "heads": 2, "layers": 1})
    torch.manual_seed(5)
    model = open_clip.model.CustomTextCLIP(**{k: v for k, v in cfg.items() if k != "custom_text"})
    g = torch.Generator().manual_seed(5)
    perturb(model.visual.trunk, g)
    with torch.no_grad():
        w = model.visual.trunk.head.fc.weight
        w.sub_(w.mean(1, keepdim=True))
        for n, p in model.text.named_parameters():  # LayerNorm weights 1 + N(0, 0.1)
            ln_w = ("ln_" in n) and n.endswith(".weight")
            p.copy_(0.1 * torch.randn(p.shape, generator=g) + (1.0 if ln_w else 0.0))
    model.eval()
    ex = {}
    from safetensors.torch import load_file
    ex["pixels"] = load_file(os.path.join(OUT, "tiny", "expected.safetensors"))["pixels"]
    tok = open_clip.get_tokenizer("MobileCLIP2-S0")
    ex["tokens"] = tok(PROMPTS)
    with torch.no_grad():
        ex["img_pooled"] = model.encode_image(ex["pixels"], normalize=False)
        ex["txt_pooled"] = model.encode_text(ex["tokens"], normalize=False)
    d = os.path.join(OUT, "e2e")
    os.makedirs(d, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(d, "open_clip_model.safetensors"))
    pre = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "interpolation": "bilinear",
           "resize_mode": "shortest"}
    with open(os.path.join(d, "open_clip_config.json"), "w") as fh:
        json.dump({"model_cfg": cfg, "preprocess_cfg": pre}, fh, indent=1)
    hub = open_clip.create_model("local-dir:" + d).eval()
    with torch.no_grad():
        assert torch.equal(hub.encode_image(ex["pixels"]), ex["img_pooled"])
    save_file({k: v.contiguous() for k, v in ex.items()}, os.path.join(d, "expected.safetensors"))
    print("e2e:", {k: list(v.shape) for k, v in ex.items()})


def shapes():
    from open_clip.timm_model import TimmModel
    cfgdir = os.path.join(os.path.dirname(__import__("open_clip").__file__), "model_configs")
    for cfg in ["MobileCLIP-S1", "MobileCLIP-S2", "MobileCLIP2-S0", "MobileCLIP2-S2",
                "MobileCLIP2-S3", "MobileCLIP2-S4"]:
        c = json.load(open(os.path.join(cfgdir, cfg + ".json")))
        v = c["vision_cfg"]
        with torch.device("meta"):
            tm = TimmModel(v["timm_model_name"], embed_dim=c["embed_dim"],
                           image_size=v["image_size"], pool=v["timm_pool"], proj=v["timm_proj"])
        rows = [["visual." + k, list(t.shape)] for k, t in tm.state_dict().items()]
        name = v["timm_model_name"]
        out = {"config": cfg, "timm_model_name": name, "embed_dim": c["embed_dim"],
               "image_size": v["image_size"], "tensors": rows}
        with open(os.path.join(OUT, f"shapes_{name}.json"), "w") as fh:
            json.dump(out, fh, separators=(",", ":"))
        print(cfg, name, len(rows))


def full(names, out, check):
    import subprocess
    import numpy as np
    import open_clip
    import timm.models.fastvit as fv
    for name in names:
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        cfg = open_clip.get_model_config(name)
        torch.manual_seed(0)
        model = open_clip.create_model(name).eval()
        g = torch.Generator().manual_seed(1)
        perturb(model.visual.trunk, g)
        with torch.no_grad():
            for m in model.visual.trunk.modules():
                if isinstance(m, fv.LayerScale2d):
                    m.gamma.mul_(0.15)
            w = model.visual.trunk.head.fc.weight
            w.sub_(w.mean(1, keepdim=True))
        s = cfg["vision_cfg"]["image_size"]
        px = torch.randn((3, 3, s, s), generator=g)
        with torch.no_grad():
            f = model.encode_image(px, normalize=False).double().numpy()
            f64 = model.double().encode_image(px.double(), normalize=False).numpy()
            model.float()
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(d, "open_clip_model.safetensors"))
        with open(os.path.join(d, "open_clip_config.json"), "w") as fh:
            json.dump({"model_cfg": cfg, "preprocess_cfg": {"mean": [0, 0, 0], "std": [1, 1, 1]}}, fh)
        np.save(os.path.join(d, "pixels.npy"), px.numpy())
        print(name, "OpenCLIP fp32 vs fp64 max-abs %.3g" % abs(f - f64).max())
        if check:
            got = os.path.join(d, "oclip.npy")
            subprocess.run([check, "embed-image", "-m", d + "/", "--pixels",
                            os.path.join(d, "pixels.npy"), "-o", got, "--no-normalize"], check=True)
            a = np.load(got).astype(np.float64)
            for what, y in (("fp32", f), ("fp64", f64)):
                cos = min(float(x @ z / np.linalg.norm(x) / np.linalg.norm(z)) for x, z in zip(a, y))
                print(f"  oclip vs OpenCLIP {what}: max-abs {abs(a - y).max():.3g} "
                      f"(max |f| {abs(y).max():.3g}), min cosine {cos:.12f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["full"]:
        names, out, check = fc.full_args("fastvit")
        full(names or ["MobileCLIP2-S0"], out, check)
        sys.exit(0)
    os.makedirs(OUT, exist_ok=True)
    tiny()
    tiny("tiny_mci3", "fastvit_mci3", (1, 1, 1, 1, 1), (16, 32, 32, 64, 64), 31)
    e2e()
    shapes()
