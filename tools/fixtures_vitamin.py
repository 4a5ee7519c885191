#!/usr/bin/env python3
"""`vitamin` fixtures: tiny ViTamin CLIP models built by OpenCLIP 3.3.0 (open_clip timm_model.py
TimmModel, timm_pool '' and timm_proj 'linear', over timm 1.0.31 models/vitamin.py: MbConvStages
as the HybridEmbed backbone of a VisionTransformer with GeGluMlp blocks) from the real ViTamin-S /
ViTamin-XL-384 config structure with only the sizes shrunk, and what OpenCLIP computes with them,
stage by stage; plus the exact state dict (names and shapes) of each of the 15 real ViTamin-*
configs, from OpenCLIP's CustomTextCLIP built on the meta device.

    .venv/bin/python tools/fixtures_vitamin.py          # tests/fixtures/vitamin/ (committed)
    .venv/bin/python tools/fixtures_vitamin.py verify   # recompute from the committed files and compare
    .venv/bin/python tools/fixtures_vitamin.py full [ViTamin-S ...] [--out build/vitamin_full]
        [--check BUILD/oclip]
        # real configs, random weights made the same way, not committed: <out>/<config>/ with
        # open_clip_config.json, open_clip_model.safetensors, pixels.npy (the 5 images at the
        # config's size) and img_features.npy (OpenCLIP's encode_image(normalize=True)); with
        # --check, `oclip embed-image -m <out>/<config> --pixels pixels.npy` compared to it, and
        # both fp32 results against the image tower in fp64

The tiny trunks are registered with timm under test names (TIMM_TINY), built exactly as timm builds
its vitamin_* models (_create_vitamin with a VitCfg and the ViT arguments of vitamin_small_224);
manifest.json lists them so that the C test registers the same geometry (oc_vitamin_register).

Variants (tests/fixtures/vitamin/<variant>/, laid out as a hub repo: open_clip_config.json with
model_cfg and preprocess_cfg, open_clip_model.safetensors):
  s_tiny    ViTamin-S's config over vitamin_oclip_tiny_a: stem 8, MbConv stages 8 (2 blocks: the
            strided first one's shortcut is the average pool alone) and 16 (2 blocks: pool + 1x1
            expand), StridedConv to 32, 2 ViT blocks of width 32 / 2 heads / GeGLU 64, learned
            pos_embed; image_size 64 (a 4x4 grid), embed_dim 16
  xl_tiny   ViTamin-XL-384's config over vitamin_oclip_tiny_b: stem 8, stages 16 (2) and 24 (3),
            width 48 / 3 heads / GeGLU 96, 3 blocks, pos_embed 'none', built by timm for 96 px
            while the config's image_size is 64 (as ViTamin-XL-384: vitamin_xlarge_384 at 256)
Both: text tower width 8 / 2 heads / 1 layer over the real vocabulary, context 77.
expected.safetensors (OpenCLIP fp32):
  pixels [N,3,S,S]; stem [1,C,S/2,S/2] (backbone.stem of the first image, NCHW); stage0, stage1
  (after each backbone.stages[i]); embed [1,C2,S/16,S/16] (after backbone.pool: the tokens before
  pos_embed); block0 / last [1,G,D] (after the first and the last ViT block); pooled [N,D]
  (trunk.fc_norm's output: before head.proj); img_pooled [N,E] encode_image(normalize=False);
  img_features [N,E]; tokens [P,77]; txt_features [P,E]; logits [N,P].
real_shapes.json: per ViTamin-* name, its state_dict() as [name, shape] pairs in order.

Random weights: every parameter drawn anew (LayerNorm / LayerNorm2d weights 1 +- 0.2 and biases
N(0, 0.1), so no norm is an identity), and the stem's first convolution scaled by 3e-3 so that its
LayerNorm2d (norm1) sees a variance of the order of eps: a wrong eps (1e-5 for 1e-6) moves the
features far past the tests' tolerance.
"""

import copy
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = fc.out_dir("vitamin")
IMAGES = fc.FIVE_IMAGES
PROMPTS = fc.FIVE_PROMPTS
PREPROCESS = fc.OPENAI_PREPROCESS
TEXT = fc.TINY_TEXT
REAL = ["ViTamin-S", "ViTamin-S-LTT", "ViTamin-B", "ViTamin-B-LTT", "ViTamin-L", "ViTamin-L-256",
        "ViTamin-L-336", "ViTamin-L-384", "ViTamin-L2", "ViTamin-L2-256", "ViTamin-L2-336",
        "ViTamin-L2-384", "ViTamin-XL-256", "ViTamin-XL-336", "ViTamin-XL-384"]
# stem width, MbConv stage widths + the ViT width, MbConv depths, ViT depth / heads / GeGLU
# hidden, timm img_size, learned pos_embed
TIMM_TINY = {
    "vitamin_oclip_tiny_a": {"stem": 8, "dims": [8, 16, 32], "depths": [2, 2], "depth": 2,
                             "heads": 2, "mlp": 64, "img": 64, "pos": 1},
    "vitamin_oclip_tiny_b": {"stem": 8, "dims": [16, 24, 48], "depths": [2, 3], "depth": 3,
                             "heads": 3, "mlp": 96, "img": 96, "pos": 0},
}
VARIANTS = {
    "s_tiny": ("ViTamin-S", 31, "vitamin_oclip_tiny_a", 64),
    "xl_tiny": ("ViTamin-XL-384", 32, "vitamin_oclip_tiny_b", 64),
}


def register_timm_tiny():
    from timm.models.vitamin import GeGluMlp, VitCfg, VitConvCfg, _create_vitamin

    def make(name, pretrained, **kwargs):
        s = TIMM_TINY[name]
        embed_cfg = VitCfg(embed_dim=tuple(s["dims"]), depths=tuple(s["depths"]) + (1,),
                           stem_width=s["stem"],
                           conv_cfg=VitConvCfg(norm_layer="layernorm2d", norm_eps=1e-6),
                           head_type="1d")
        args = dict(img_size=s["img"], embed_dim=s["dims"][2], depth=s["depth"],
                    num_heads=s["heads"], mlp_layer=GeGluMlp, mlp_ratio=s["mlp"] / s["dims"][2],
                    class_token=False, global_pool="avg", embed_cfg=embed_cfg)
        if not s["pos"]:
            args["pos_embed"] = "none"
        return _create_vitamin(name, pretrained=pretrained, **dict(args, **kwargs))
    fc.register_timm_models(TIMM_TINY, "timm.models.vitamin", make)


def model_cfg(variant):
    import open_clip
    base, _, tower, img = VARIANTS[variant]
    cfg = copy.deepcopy(open_clip.get_model_config(base))
    cfg["embed_dim"] = 16
    cfg["vision_cfg"]["timm_model_name"] = tower
    cfg["vision_cfg"]["image_size"] = img
    cfg["text_cfg"] = dict(TEXT)
    return cfg


def build_model(cfg):
    import open_clip
    c = dict(cfg)
    assert c.pop("custom_text") is True
    return open_clip.model.CustomTextCLIP(**c)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda std: torch.randn(p.shape, generator=g) * std  # noqa: E731
            leaf = name.split(".")[-1]
            if name == "logit_scale":
                v = math.log(1 / 0.07) + n(0.02)
            elif p.ndim == 1 and leaf == "weight":
                v = 1.0 + n(0.2)  # LayerNorm / LayerNorm2d
            elif name == "text.text_projection":
                v = n(1 / math.sqrt(p.shape[0]))
            elif name.endswith("embedding") or name.endswith("token_embedding.weight"):
                v = n(0.5)
            elif name.endswith("pos_embed"):
                v = n(0.5)
            elif p.ndim >= 2:
                v = n(1 / math.sqrt(p[0].numel()))
            else:
                v = n(0.1)
            if ".stem.conv1." in name:
                v = v * 3e-3
            p.copy_(v)
    return model


def stages(model, x):
    t = model.visual.trunk
    bb = t.patch_embed.backbone
    out = {}
    with torch.no_grad():
        h = bb.stem(x)
        out["stem"] = h
        for i, s in enumerate(bb.stages):
            h = s(h)
            out["stage%d" % i] = h
        h = bb.pool(h)
        out["embed"] = h
        tok = t._pos_embed(t.patch_embed(x))
        for i, blk in enumerate(t.blocks):
            tok = blk(tok)
            if i == 0:
                out["block0"] = tok
        out["last"] = tok
    return out


def outputs(model, tokenizer, pixels):
    return fc.clip_outputs(model, tokenizer(PROMPTS), pixels, stages, model.visual.trunk.fc_norm,
                           lambda o: o)


def build(variant):
    import open_clip
    base, seed, tower, img = VARIANTS[variant]
    cfg = model_cfg(variant)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    assert isinstance(model.visual, open_clip.timm_model.TimmModel)
    pixels = fc.image_pixels(img, PREPROCESS, IMAGES)
    randomize(model, seed)
    return model, pixels, cfg


def real_shapes():
    import open_clip
    out = {}
    for name in REAL:
        cfg = open_clip.get_model_config(name)
        with torch.device("meta"):
            m = build_model(cfg)
        out[name] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    return out


def generate():
    import open_clip
    import timm
    register_timm_tiny()
    gf.fresh_dir(OUT)
    tokenizer = open_clip.get_tokenizer("RN50")
    man = {"open_clip": open_clip.__version__, "timm": timm.__version__, "torch": torch.__version__,
           "towers": TIMM_TINY, "variants": {}}
    for variant in VARIANTS:
        d = os.path.join(OUT, variant)
        os.makedirs(d)
        model, pixels, cfg = build(variant)
        sd = model.state_dict()
        fc.save_hub_folder(d, sd, cfg, PREPROCESS)
        res = fc.reloaded_outputs(d, model, lambda m: outputs(m, tokenizer, pixels), variant)
        gap = fc.fp64_gap(model, pixels, res["img_features"])
        # the eps matters: the same model with eps 1e-5 differs by far more than 1e-4
        eps_gap = fc.eps_gap(model, pixels, res["img_features"], 1e-5)
        assert eps_gap > 1e-3, (variant, eps_gap)
        cos, off = fc.distinct_images(res["img_features"], len(IMAGES), 0.99)
        fc.save_tensors(os.path.join(d, "expected.safetensors"), res)
        gf.write_json(os.path.join(d, "expected.json"), {
            "variant": variant, "real_config": VARIANTS[variant][0],
            "real_model_cfg": open_clip.get_model_config(VARIANTS[variant][0]),
            "changes": "vision_cfg timm_model_name (a tiny test trunk) / image_size, embed_dim and "
                       "text_cfg shrunk; everything else as the real config",
            "images": IMAGES, "prompts": PROMPTS, "image_cosines": cos, "max_offdiag_cosine": off,
            "fp32_vs_fp64": gap, "eps_1e-5_gap": eps_gap, "state_dict": list(sd.keys()),
        })
        man["variants"][variant] = VARIANTS[variant][2]
        print(variant, "max offdiag cos %.4f, fp32 vs fp64 %.2e, eps 1e-5 %.2e" % (off, gap, eps_gap))
    fc.write_shapes(os.path.join(OUT, "real_shapes.json"), real_shapes())
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
    with open(os.path.join(OUT, "real_shapes.json")) as f:
        assert json.load(f) == real_shapes()
    print("real_shapes ok")


def full_model(cfg, pixels):
    model = build_model(cfg).eval()
    return randomize(model, 0)


if __name__ == "__main__":
    os.chdir(gf.ROOT)
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        names, out, oclip = fc.full_args("vitamin")
        fc.full(names or ["ViTamin-S"], out, oclip, full_model, PREPROCESS, IMAGES,
                fc.fp64_tower_suffix)
    elif len(sys.argv) > 1 and sys.argv[1] == "verify":
        verify()
    else:
        generate()
