#!/usr/bin/env python3
"""`eva` fixtures: tiny EVA02 CLIP models built by OpenCLIP 3.3.0 from its real EVA02 configs and EVA01 / EVA02-E
configs (a timm `eva02_*_clip` / `eva_giant_*` image tower, OpenCLIP's text.* TextTransformer), and what OpenCLIP computes with them
(docs/EVA.md describes the forward pass).

    .venv/bin/python tools/fixtures_eva.py tiny      # tests/fixtures/eva/ (committed)
    .venv/bin/python tools/fixtures_eva.py verify    # recompute from the committed files, compare
    .venv/bin/python tools/fixtures_eva.py pe        # tests/fixtures/pecore/ (committed)
    .venv/bin/python tools/fixtures_eva.py pe-verify # recompute the pecore files, compare

`pe` writes tests/fixtures/pecore/ the same way for the Perception Encoder configs (PE-Core-*,
timm `vit_pe_core_*`: timm_pool 'map', the trunk's AttentionPoolLatent pools every token): its
expected.safetensors has img_pooled = the attention pool's output (the head's input) and
img_embed before trunk.norm_pre; real_configs.json lists the state dict (names, shapes) OpenCLIP
builds for each real PE-Core config (create_model(name, device='meta')).

`tiny` writes tests/fixtures/eva/
  manifest.json        versions, the variants, the timm test towers' arguments
  <variant>/
      open_clip_config.json        {"model_cfg", "preprocess_cfg"}: the real config with only the
                                   sizes shrunk and timm_model_name a test tower; preprocess_cfg of
                                   the config's pretrained tag
      open_clip_model.safetensors  the weights, F16 (the random weights are rounded to F16 before
                                   anything is computed, so the F16 file holds exactly the model
                                   OpenCLIP ran; it keeps the 49408-row token embedding small)
      expected.json                images, prompts, tokens, the timm tower's arguments, changes
                                   made to the real config, pairwise cosines, fp32_vs_fp64
      expected.safetensors         OpenCLIP 3.3.0 fp32 outputs:
        pixels [N,3,H,W]           the inference transform of create_model_and_transforms
        rope [G,2hd]               trunk.rope.get_embed(): [sin | cos], interleaved pairs
                                   (EVA02 B/L only)
        img_embed [M,1+G,W]        [cls; patches] + pos_embed (trunk.pos_drop output)
        img_block_<i> [M,1+G,W]    after each trunk block
        img_final_norm [M,1+G,W]   trunk.norm
        img_pooled [N,W]           token pool (x[:, 0] after trunk.norm), the head's input
        img_raw [N,E]              encode_image(normalize=False) (trunk.head Linear with bias)
        img_features [N,E]         encode_image(normalize=True)
        tokens [P,77] I64          open_clip.get_tokenizer (SimpleTokenizer)
        txt_raw [P,E], txt_features [P,E], logits [N,P]
    (M = STAGE_IMAGES images of the N)

The timm towers are registered with timm under test names before OpenCLIP builds them: OpenCLIP's
TimmModel passes only the model name to timm, so a shrunk tower needs a name of its own; the
arguments are those of the real timm model named in "like" (timm models/eva.py), sizes shrunk.
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = fc.out_dir("eva")
IMAGES = ["examples/red_circle.png", "examples/blue_triangle.png", "examples/green_ring.png",
          "tests/fixtures/siglip/img/rgb_97x61.png"]
STAGE_IMAGES = 2
PROMPTS = ["a photo of a red circle.", "", "a photo of a blue triangle", "A photo of a GREEN ring!!!",
           "a photo of a cat", "word " * 80]

# the model_args of eva02_base_patch16_clip_224 / eva02_large_patch14_clip_336 (timm 1.0.31
# models/eva.py), sizes shrunk; ref_feat_shape (16, 16) kept (it rescales the rope grid)
EVA02_ARGS = dict(qkv_fused=False, mlp_ratio=4 * 2 / 3, swiglu_mlp=True, scale_mlp=True,
                  scale_attn_inner=True, use_rot_pos_emb=True, ref_feat_shape=(16, 16))
TIMM_TINY = {
    # like eva02_base_patch16_clip_224: grid 4x4 (rope positions x 16/4), head width 12
    "eva02_test_patch8_clip_32": dict(
        like="eva02_base_patch16_clip_224",
        args=dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4, **EVA02_ARGS)),
    # like eva02_large_patch14_clip_336: patch 14, grid 3x3 (rope positions x 16/3, not an integer
    # ratio), head width 16, 3 blocks
    "eva02_test_patch14_clip_42": dict(
        like="eva02_large_patch14_clip_336",
        args=dict(img_size=42, patch_size=14, embed_dim=64, depth=3, num_heads=4, **EVA02_ARGS)),
    # like eva_giant_patch14_224 (EVA01-g-14): Eva's defaults: fused qkv with q_bias / v_bias,
    # GELU Mlp, no rope, pre-norm blocks
    "eva01_test_patch14_clip_28": dict(
        like="eva_giant_patch14_224",
        args=dict(img_size=28, patch_size=14, embed_dim=32, depth=2, num_heads=4,
                  mlp_ratio=6144 / 1408)),
    # like eva02_enormous_patch14_clip_224 (EVA02-E-14): as EVA01 with post-norm blocks
    "eva02_test_enormous_patch8_clip_24": dict(
        like="eva02_enormous_patch14_clip_224",
        args=dict(img_size=24, patch_size=8, embed_dim=48, depth=2, num_heads=4,
                  mlp_ratio=15360 / 1792, use_post_norm=True)),
}

# the model_args of timm's vit_pe_core_* (timm 1.0.31 models/eva.py), sizes shrunk; norm_eps is
# their norm_layer partial(LayerNorm, eps=1e-5)
PE_ARGS = dict(global_pool="map", attn_type="rope", use_pre_transformer_norm=True,
               use_rot_pos_emb=True, rope_grid_indexing="xy", attn_pool_num_heads=8,
               attn_pool_mlp_ratio=4.)
PE_TINY = {
    # like vit_pe_core_{tiny,small,base,large}: class token, rope_grid_offset 1, ref_feat_shape the
    # grid (6x6 here), head width 24 (2 heads), pool head width 6 (8 heads)
    "vit_pe_test_patch8_48": dict(
        like="vit_pe_core_base_patch16_224", norm_eps=1e-5,
        args=dict(img_size=48, patch_size=8, embed_dim=48, depth=2, num_heads=2, mlp_ratio=4.0,
                  ref_feat_shape=(6, 6), rope_grid_offset=1., **PE_ARGS)),
    # like vit_pe_core_gigantic_patch14_448: no class token, rope_grid_offset 0, mlp_ratio
    # 8960 / 1536; patch 14, grid 3x3 with ref_feat_shape (4, 4) (positions x 4/3), head width 16
    "vit_pe_test_gigantic_patch14_42": dict(
        like="vit_pe_core_gigantic_patch14_448", norm_eps=1e-5,
        args=dict(img_size=42, patch_size=14, embed_dim=32, depth=3, num_heads=2,
                  mlp_ratio=8960 / 1536, class_token=False, ref_feat_shape=(4, 4), **PE_ARGS)),
}
PE_OUT = fc.out_dir("pecore")
PE_REAL = ["PE-Core-T-16-384", "PE-Core-S-16-384", "PE-Core-B-16", "PE-Core-L-14-336",
           "PE-Core-bigG-14-448"]

VARIANTS = {
    "eva02_b16": dict(base="EVA02-B-16", seed=201, timm="eva02_test_patch8_clip_32", embed_dim=40,
                      text=dict(width=8, heads=2, layers=2)),
    "eva02_l14_336": dict(base="EVA02-L-14-336", seed=202, timm="eva02_test_patch14_clip_42",
                          embed_dim=24, text=dict(width=8, heads=2, layers=1)),
    "eva01_g14": dict(base="EVA01-g-14", seed=203, timm="eva01_test_patch14_clip_28", embed_dim=24,
                      text=dict(width=8, heads=2, layers=1)),
    "eva02_e14": dict(base="EVA02-E-14", seed=204, timm="eva02_test_enormous_patch8_clip_24",
                      embed_dim=32, text=dict(width=8, heads=2, layers=1)),
}
# text: context_length (32; bigG 72) and the rest of the real text_cfg kept, sizes shrunk
PE_VARIANTS = {
    "pe_b16": dict(base="PE-Core-B-16", seed=301, timm="vit_pe_test_patch8_48", embed_dim=40,
                   text=dict(width=16, heads=2, layers=2)),
    "pe_g14": dict(base="PE-Core-bigG-14-448", seed=302, timm="vit_pe_test_gigantic_patch14_42",
                   embed_dim=24, text=dict(width=16, heads=2, layers=1)),
}


def register_timm_tiny():
    """Register TIMM_TINY and PE_TINY with timm (idempotent), built as timm builds its eva02 clip
    and vit_pe_core models."""
    from functools import partial
    from timm.layers import LayerNorm
    from timm.models.eva import _create_eva
    tiny = dict(TIMM_TINY, **PE_TINY)

    def make(name, pretrained, **kwargs):
        spec = tiny[name]
        args = dict(spec["args"], global_pool=kwargs.pop("global_pool",
                                                          spec["args"].get("global_pool", "token")))
        if spec.get("norm_eps") is not None:
            args["norm_layer"] = partial(LayerNorm, eps=spec["norm_eps"])
        return _create_eva(name, pretrained=pretrained, **dict(args, **kwargs))
    fc.register_timm_models(tiny, "timm.models.eva", make)


def perturb_(model, seed):
    """Seeded random weights, every parameter redrawn: LayerNorm weights 1 + N(0, 0.25) (the blocks'
    attn.norm and mlp.norm included), biases N(0, 0.1), matrices N(0, 1/fan_in), the patch conv 3x
    that (image content outweighs positions), q/k projections 2x (peaked attention, so the rope
    matters), class token and pos_embed N(0, 0.2), token embedding N(0, 1), logit_scale 2 + N(0, .05).
    Then every value is rounded to F16 (the file's type)."""
    g = torch.Generator().manual_seed(seed)
    owner = fc.param_owners(model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            mod = owner[name]

            def n(std):
                return torch.randn(p.shape, generator=g) * std
            if name == "logit_scale":
                v = 2.0 + n(0.05)
            elif isinstance(mod, torch.nn.LayerNorm):
                v = (1.0 + n(0.25)) if leaf == "weight" else n(0.1)
            elif leaf in ("pos_embed", "positional_embedding", "cls_token"):
                v = n(0.2)
            elif isinstance(mod, torch.nn.Embedding):
                v = n(1.0)
            elif p.ndim >= 2:
                v = n((3.0 if p.ndim == 4 else 1.0) / math.sqrt(p[0].numel()))
                if name.endswith("attn.q_proj.weight") or name.endswith("attn.k_proj.weight") or \
                        name.endswith("attn.in_proj_weight"):
                    v *= 2.0
            else:
                v = n(0.1)
            p.copy_(v.half().float())
    return model


def tiny_cfg(variant):
    spec = dict(VARIANTS, **PE_VARIANTS)[variant]
    tiny = dict(TIMM_TINY, **PE_TINY)
    return fc.tiny_cfg(spec["base"], spec["embed_dim"], spec["timm"],
                       tiny[spec["timm"]]["args"]["img_size"], spec["text"])


def rope_table(trunk):
    return {"rope": trunk.rope.get_embed().float().clone()} if trunk.rope is not None else {}


def run_openclip(model, pixels, tokens):
    trunk = model.visual.trunk
    assert trunk.global_pool == "token" and trunk.cls_token is not None and trunk.reg_token is None
    assert isinstance(trunk.norm_pre, torch.nn.Identity) and isinstance(trunk.fc_norm, torch.nn.Identity)
    assert isinstance(trunk.head, torch.nn.Linear) and len(model.visual.head) == 0
    assert not trunk.no_embed_class and trunk.num_prefix_tokens == 1
    return fc.run_timm_tower(model, pixels, tokens, STAGE_IMAGES, fc.vit_stage_hooks(trunk),
                             lambda t, x: x[:, 0], rope_table)


def compute_folder(folder):
    register_timm_tiny()
    model, pixels, tokens = fc.load_folder(folder, IMAGES, PROMPTS)
    return model, run_openclip(model, pixels, tokens)


def gen_variant(variant, vers):
    import safetensors.torch as st
    spec = VARIANTS[variant]
    print("== %s (from %s)" % (variant, spec["base"]))
    cfg, changes = tiny_cfg(variant)
    pp, tag = fc.preprocess_cfg(spec["base"])
    folder = os.path.join(OUT, variant)
    register_timm_tiny()
    model2, res = fc.build_save_reload(folder, cfg, pp, spec["seed"], perturb_, compute_folder)
    off = fc.max_offdiag_cos(res["img_features"])
    print("  image features: max off-diagonal cos %.4f" % off)
    assert off < 0.95, "image features too similar"
    gap = fc.fp64_raw_gaps(model2, res)
    print("  fp32 vs fp64: %s" % gap)
    st.save_file(res, os.path.join(folder, "expected.safetensors"))
    info = fc.tiny_info("tools/fixtures_eva.py tiny", vers, variant, spec, tag, cfg, pp, changes,
                        TIMM_TINY[spec["timm"]], IMAGES, PROMPTS, STAGE_IMAGES)
    info.update({"max_offdiag_image_cos": round(off.item(), 4), "fp32_vs_fp64": gap,
                 "shapes": {k: list(v.shape) for k, v in res.items()}})
    gf.write_json(os.path.join(folder, "expected.json"), info)


def generate():
    vers = fc.versions_with_timm()
    os.makedirs(OUT, exist_ok=True)
    for v in VARIANTS:
        gen_variant(v, vers)
    gf.write_json(os.path.join(OUT, "manifest.json"), {
        "generator": "tools/fixtures_eva.py tiny", "versions": vers, "variants": list(VARIANTS),
        "timm_test_models": TIMM_TINY})


def verify():
    bad = fc.verify_exact([(v, os.path.join(OUT, v)) for v in VARIANTS], compute_folder)
    print("verify: %s" % ("ok" if not bad else "%d differences" % bad))
    return 1 if bad else 0


def perturb_pe_(model, seed):
    """perturb_, then the q and k rows of every attn.qkv and the attention pool's q and k (kv's
    first half) 2x (peaked attention, so the rope and the pool's weighting matter); the trunk's
    norm_pre, norm, attn_pool.norm and the pool's latent / MLP are redrawn by perturb_ (nothing is
    the identity). Doubling keeps the F16 rounding exact."""
    perturb_(model, seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("attn.qkv.weight") or name.endswith("attn.qkv.bias"):
                p[: 2 * (p.shape[0] // 3)] *= 2.0
            elif name.endswith("attn_pool.q.weight"):
                p *= 2.0
            elif name.endswith("attn_pool.kv.weight"):
                p[: p.shape[0] // 2] *= 2.0
    return model


def run_openclip_pe(model, pixels, tokens):
    trunk = model.visual.trunk
    assert trunk.global_pool == "map" and trunk.attn_pool is not None and trunk.reg_token is None
    assert isinstance(trunk.norm_pre, torch.nn.LayerNorm) and trunk.patch_embed.proj.bias is None
    assert isinstance(trunk.fc_norm, torch.nn.Identity) and trunk.pos_embed is not None
    assert isinstance(trunk.head, torch.nn.Linear) and len(model.visual.head) == 0
    assert not trunk.no_embed_class and trunk.num_prefix_tokens == (trunk.cls_token is not None)
    assert trunk.rope.grid_indexing == "xy" and not trunk.rope.rotate_half and not trunk.rope_mixed
    return fc.run_timm_tower(model, pixels, tokens, STAGE_IMAGES, fc.vit_stage_hooks(trunk),
                             lambda t, x: t.attn_pool(x), rope_table)


def compute_folder_pe(folder):
    register_timm_tiny()
    model, pixels, tokens = fc.load_folder(folder, IMAGES, PROMPTS)
    return model, run_openclip_pe(model, pixels, tokens)


def gen_pe_variant(variant, vers):
    import safetensors.torch as st
    spec = PE_VARIANTS[variant]
    print("== %s (from %s)" % (variant, spec["base"]))
    cfg, changes = tiny_cfg(variant)
    pp, tag = fc.preprocess_cfg(spec["base"])
    folder = os.path.join(PE_OUT, variant)
    register_timm_tiny()
    model2, res = fc.build_save_reload(folder, cfg, pp, spec["seed"], perturb_pe_, compute_folder_pe)
    off = fc.max_offdiag_cos(res["img_features"])
    offt = fc.max_offdiag_cos(res["txt_features"])
    print("  image features: max off-diagonal cos %.4f; text %.4f" % (off, offt))
    assert off < 0.95 and offt < 0.95, "features too similar"
    gap = fc.fp64_raw_gaps(model2, res)
    print("  fp32 vs fp64: %s" % gap)
    st.save_file(res, os.path.join(folder, "expected.safetensors"))
    info = fc.tiny_info("tools/fixtures_eva.py pe", vers, variant, spec, tag, cfg, pp, changes,
                        PE_TINY[spec["timm"]], IMAGES, PROMPTS, STAGE_IMAGES)
    info.update({"max_offdiag_image_cos": round(off.item(), 4),
                 "max_offdiag_text_cos": round(offt.item(), 4), "fp32_vs_fp64": gap,
                 "shapes": {k: list(v.shape) for k, v in res.items()}})
    gf.write_json(os.path.join(folder, "expected.json"), info)


def real_pe_configs():
    """{name: [[key, shape], ...]}: the state dict OpenCLIP builds for each real PE-Core config."""
    import open_clip
    out = {}
    for name in PE_REAL:
        m = open_clip.create_model(name, device="meta")
        out[name] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    return out


def generate_pe():
    vers = fc.versions_with_timm()
    os.makedirs(PE_OUT, exist_ok=True)
    for v in PE_VARIANTS:
        gen_pe_variant(v, vers)
    with open(os.path.join(PE_OUT, "real_configs.json"), "w") as f:
        json.dump({"generator": "tools/fixtures_eva.py pe", "versions": vers,
                   "state_dicts": real_pe_configs()}, f, separators=(",", ":"))
        f.write("\n")
    gf.write_json(os.path.join(PE_OUT, "manifest.json"), {
        "generator": "tools/fixtures_eva.py pe", "versions": vers, "variants": list(PE_VARIANTS),
        "timm_test_models": PE_TINY})


def verify_pe():
    bad = fc.verify_exact([(v, os.path.join(PE_OUT, v)) for v in PE_VARIANTS], compute_folder_pe)
    with open(os.path.join(PE_OUT, "real_configs.json")) as f:
        if json.load(f)["state_dicts"] != real_pe_configs():
            print("real_configs.json: differs")
            bad += 1
    print("verify: %s" % ("ok" if not bad else "%d differences" % bad))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["tiny", "verify", "pe", "pe-verify"])
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.what == "tiny":
        generate()
        return 0
    if a.what == "pe":
        generate_pe()
        return 0
    if a.what == "pe-verify":
        return verify_pe()
    return verify()


if __name__ == "__main__":
    sys.exit(main())
