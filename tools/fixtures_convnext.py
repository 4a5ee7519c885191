#!/usr/bin/env python3
"""`convnext` fixtures: tiny timm ConvNeXt CLIP models built by OpenCLIP 3.3.0 (open_clip
timm_model.py TimmModel over timm's models/convnext.py ConvNeXt) from the real convnext_base_w /
convnext_large_d config structure with only the sizes shrunk, and what OpenCLIP computes with them,
stage by stage.

    .venv/bin/python tools/fixtures_convnext.py          # tests/fixtures/convnext/ (committed)
    .venv/bin/python tools/fixtures_convnext.py verify   # recompute from the committed files and compare
    .venv/bin/python tools/fixtures_convnext.py full [convnext_base_w ...] [--out build/convnext_full]
        [--check BUILD/oclip]
        # real configs, random weights made the same way, not committed: <out>/<config>/ with
        # open_clip_config.json, open_clip_model.safetensors, pixels.npy (the 5 images at the
        # config's size) and img_features.npy (OpenCLIP's encode_image(normalize=True)); with
        # --check, `oclip embed-image -m <out>/<config> --pixels pixels.npy` compared to it, and
        # both fp32 results against the model in fp64

The tiny trunks are registered with timm under test names (TIMM_TINY), built exactly as timm builds
its convnext_* models (_create_convnext with depths / dims / norm_eps); manifest.json lists them so
that the C test registers the same geometry (oc_convnext_register).

Variants (tests/fixtures/convnext/<variant>/, laid out as a hub repo: open_clip_config.json with
model_cfg and preprocess_cfg, open_clip_model.safetensors):
  base_w_tiny   convnext_base_w's config (timm_pool '', timm_proj 'linear': head.proj without bias)
                over convnext_oclip_tiny_a (depths [1, 2, 1, 2], dims [8, 12, 16, 24], LayerNorm
                eps 1e-6 as convnext_base), image_size 96, embed_dim 16
  large_d_tiny  convnext_large_d's config (timm_proj 'mlp': head.mlp fc1 with bias, GELU, fc2
                without) over convnext_oclip_tiny_b (depths [2, 1, 2, 1], dims [8, 16, 16, 32],
                norm_eps 1e-5 as convnext_xxlarge), image_size 64, embed_dim 16
Both: text tower width 8 / 2 heads / 1 layer over the real vocabulary, context 77.
expected.safetensors (OpenCLIP fp32):
  pixels [N,3,S,S]; stem [1,C0,S/4,S/4] (trunk.stem of the first image, NCHW); stage0..3 (after each
  trunk.stages[i]); pooled [N,C3] (trunk.head.norm's output, flattened: before the projection);
  img_pooled [N,E] encode_image(normalize=False); img_features [N,E]; tokens [P,77];
  txt_features [P,E]; logits [N,P].

Random weights: every parameter drawn anew (LayerNorm weights 1 +- 0.1, biases, the layer-scale
gammas N(0.6, 0.3) instead of timm's 1e-6 init, so no block is near an identity), and the stem's
convolution scaled by 3e-3 so that its LayerNorm2d sees a variance of the order of eps: a wrong eps
(1e-5 for 1e-6 or the reverse) moves the features far past the tests' tolerance.
"""

import copy
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = fc.out_dir("convnext")
IMAGES = fc.FIVE_IMAGES
PROMPTS = fc.FIVE_PROMPTS
PREPROCESS = fc.OPENAI_PREPROCESS
TEXT = fc.TINY_TEXT
TIMM_TINY = {
    "convnext_oclip_tiny_a": {"depths": [1, 2, 1, 2], "dims": [8, 12, 16, 24], "eps": 1e-6,
                              "args": {"depths": (1, 2, 1, 2), "dims": (8, 12, 16, 24)}},
    "convnext_oclip_tiny_b": {"depths": [2, 1, 2, 1], "dims": [8, 16, 16, 32], "eps": 1e-5,
                              "args": {"depths": (2, 1, 2, 1), "dims": (8, 16, 16, 32),
                                       "norm_eps": 1e-5}},
}
VARIANTS = {
    "base_w_tiny": ("convnext_base_w", 21, "convnext_oclip_tiny_a", 96),
    "large_d_tiny": ("convnext_large_d", 22, "convnext_oclip_tiny_b", 64),
}


def register_timm_tiny():
    from timm.models.convnext import _create_convnext

    def make(name, pretrained, **kwargs):
        return _create_convnext(name, pretrained=pretrained, **dict(TIMM_TINY[name]["args"], **kwargs))
    fc.register_timm_models(TIMM_TINY, "timm.models.convnext", make)


def model_cfg(variant):
    import open_clip
    base, _, tower, img = VARIANTS[variant]
    cfg = copy.deepcopy(open_clip.get_model_config(base))
    cfg["embed_dim"] = 16
    cfg["vision_cfg"]["timm_model_name"] = tower
    cfg["vision_cfg"]["image_size"] = img
    cfg["text_cfg"] = dict(TEXT)
    return cfg


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda std: torch.randn(p.shape, generator=g) * std  # noqa: E731
            leaf = name.split(".")[-1]
            if name == "logit_scale":
                v = math.log(1 / 0.07) + n(0.02)
            elif leaf == "gamma":
                v = 0.6 + n(0.3)
            elif p.ndim == 1 and leaf == "weight":
                v = 1.0 + n(0.1)  # LayerNorm / LayerNorm2d
            elif name == "text_projection":
                v = n(1 / math.sqrt(p.shape[0]))
            elif name.endswith("embedding") or name == "token_embedding.weight":
                v = n(0.5)
            elif p.ndim >= 2:
                v = n(1 / math.sqrt(p[0].numel()))
            else:
                v = n(0.1)
            if name.startswith("visual.trunk.stem.0."):
                v = v * 3e-3
            p.copy_(v)
    return model


def stages(model, x):
    t = model.visual.trunk
    out = {}
    with torch.no_grad():
        h = t.stem(x)
        out["stem"] = h
        for i, s in enumerate(t.stages):
            h = s(h)
            out["stage%d" % i] = h
    return out


def outputs(model, tokenizer, pixels):
    return fc.clip_outputs(model, tokenizer(PROMPTS), pixels, stages,
                           model.visual.trunk.head.norm, lambda o: o.flatten(1))


def build(variant):
    import open_clip
    base, seed, tower, img = VARIANTS[variant]
    cfg = model_cfg(variant)
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**cfg).eval()
    assert isinstance(model.visual, open_clip.timm_model.TimmModel)
    pixels = fc.image_pixels(img, PREPROCESS, IMAGES)
    randomize(model, seed)
    return model, pixels, cfg


def generate():
    import open_clip
    import timm
    register_timm_tiny()
    gf.fresh_dir(OUT)
    tokenizer = open_clip.get_tokenizer("RN50")
    man = {"open_clip": open_clip.__version__, "timm": timm.__version__, "torch": torch.__version__,
           "towers": {k: {"depths": v["depths"], "dims": v["dims"], "eps": v["eps"]}
                      for k, v in TIMM_TINY.items()},
           "variants": {}}
    for variant in VARIANTS:
        d = os.path.join(OUT, variant)
        os.makedirs(d)
        model, pixels, cfg = build(variant)
        sd = model.state_dict()
        fc.save_hub_folder(d, sd, cfg, PREPROCESS)
        res = fc.reloaded_outputs(d, model, lambda m: outputs(m, tokenizer, pixels), variant)
        gap = fc.fp64_gap(model, pixels, res["img_features"])
        # the eps matters: the same model with the other eps differs by far more than 1e-4
        eps = TIMM_TINY[VARIANTS[variant][2]]["eps"]
        eps_gap = fc.eps_gap(model, pixels, res["img_features"], 1e-5 if eps == 1e-6 else 1e-6)
        assert eps_gap > 1e-3, (variant, eps_gap)
        cos, off = fc.distinct_images(res["img_features"], len(IMAGES), 0.99)
        fc.save_tensors(os.path.join(d, "expected.safetensors"), res)
        gf.write_json(os.path.join(d, "expected.json"), {
            "variant": variant, "real_config": VARIANTS[variant][0],
            "real_model_cfg": open_clip.get_model_config(VARIANTS[variant][0]),
            "changes": "vision_cfg timm_model_name (a tiny test trunk) / image_size, embed_dim and "
                       "text_cfg shrunk; everything else as the real config",
            "images": IMAGES, "prompts": PROMPTS, "image_cosines": cos, "max_offdiag_cosine": off,
            "fp32_vs_fp64": gap, "other_eps_gap": eps_gap, "state_dict": list(sd.keys()),
        })
        man["variants"][variant] = VARIANTS[variant][2]
        print(variant, "max offdiag cos %.4f, fp32 vs fp64 %.2e, other eps %.2e" % (off, gap, eps_gap))
    gf.write_json(os.path.join(OUT, "manifest.json"), man)


def verify():
    import open_clip
    register_timm_tiny()
    tokenizer = open_clip.get_tokenizer("RN50")
    for variant in VARIANTS:
        _, pixels, _ = build(variant)
        fc.verify_outputs(os.path.join(OUT, variant), lambda m: outputs(m, tokenizer, pixels),
                          variant)
        print(variant, "ok")


def full_model(cfg, pixels):
    import open_clip
    model = open_clip.model.CLIP(**cfg).eval()
    return randomize(model, 0)


if __name__ == "__main__":
    os.chdir(gf.ROOT)
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        names, out, oclip = fc.full_args("convnext")
        fc.full(names or ["convnext_base_w"], out, oclip, full_model, PREPROCESS, IMAGES,
                fc.fp64_tower_suffix)
    elif len(sys.argv) > 1 and sys.argv[1] == "verify":
        verify()
    else:
        generate()
