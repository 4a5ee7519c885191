#!/usr/bin/env python3
"""`timmvit` fixtures: tiny MobileCLIP models built by OpenCLIP 3.3.0 from its real MobileCLIP configs (a timm
class-token ViT image tower with global_pool 'token' and timm_proj null, OpenCLIP's text.* TextTransformer), and
what OpenCLIP computes with them.

    .venv/bin/python tools/fixtures_timmvit.py tiny      # tests/fixtures/timmvit/ (committed)
    .venv/bin/python tools/fixtures_timmvit.py verify    # recompute from the committed files, compare
    .venv/bin/python tools/fixtures_timmvit.py full      # full-size random MobileCLIP models: OpenCLIP vs build/oclip

`tiny` writes tests/fixtures/timmvit/
  manifest.json        versions, the variants, the timm test towers' arguments, real_preprocess: pretrained.py's
                       mean / std / interpolation / resize_mode of the four real pretrained names, real_towers: what timm built for the two real
                       towers (sizes, eps, pre_norm, no_embed_class, ConvStem), and real_shapes: the state-dict
                       shapes of the real MobileCLIP-B / MobileCLIP2-B / MobileCLIP2-L-14 models (built by OpenCLIP
                       with random weights, nothing downloaded)
  <variant>/
      open_clip_config.json        {"model_cfg", "preprocess_cfg"}: the real config with only the sizes shrunk and
                                   timm_model_name a test tower; preprocess_cfg of the config's pretrained tag
      open_clip_model.safetensors  the weights, F16 (the random weights and BatchNorm statistics are rounded to F16
                                   before anything is computed, so the file holds exactly the model OpenCLIP ran);
                                   num_batches_tracked I64 as PyTorch keeps it
      expected.json                images, prompts, the tower's arguments, changes made to the real config,
                                   pairwise cosines, fp32_vs_fp64, text_causal_gap
      expected.safetensors         OpenCLIP 3.3.0 fp32 outputs:
        pixels [N,3,H,W]           the inference transform of create_model_and_transforms
        img_patches [M,G,W]        trunk.patch_embed output (PatchEmbed conv, or HybridEmbed's ConvStem)
        img_embed [M,1+G,W]        [cls; patches] + pos_embed (trunk.pos_drop output)
        img_block_<i> [M,1+G,W]    after each trunk block
        img_final_norm [M,1+G,W]   trunk.norm
        img_pooled [N,W]           token pool (x[:, 0] after trunk.norm), the head's input
        img_raw [N,E]              encode_image(normalize=False) (trunk.head Linear with bias)
        img_features [N,E]         encode_image(normalize=True)
        tokens [P,77] I64          open_clip.get_tokenizer (SimpleTokenizer)
        txt_raw [P,E], txt_features [P,E], logits [N,P]
    (M = STAGE_IMAGES images of the N)

The timm towers are registered with timm under test names before OpenCLIP builds them: OpenCLIP's TimmModel passes
only the model name to timm, so a shrunk tower needs a name of its own. They are built as timm builds the real ones:
vit_large_patch14_clip_224 through _create_vision_transformer (pre_norm, LayerNorm eps 1e-5), vit_base_mci_224
through _create_vision_transformer_hybrid with a ConvStem (models/vision_transformer_hybrid.py), sizes shrunk.
"""

import argparse
import copy
import math
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = fc.out_dir("timmvit")
IMAGES = ["examples/red_circle.png", "examples/blue_triangle.png", "examples/green_ring.png",
          "tests/fixtures/siglip/img/rgb_97x61.png"]
STAGE_IMAGES = 2
PROMPTS = ["a photo of a red circle.", "", "a photo of a blue triangle", "A photo of a GREEN ring!!!",
           "a photo of a cat", "word " * 80]

TIMM_TINY = {
    # like vit_large_patch14_clip_224: patch 14, pre_norm (norm_pre, patch conv without bias),
    # LayerNorm eps 1e-5, class token with a position; grid 3x3
    "vit_test_patch14_clip_42": dict(
        like="vit_large_patch14_clip_224",
        args=dict(img_size=42, patch_size=14, embed_dim=32, depth=2, num_heads=4, pre_norm=True,
                  norm_eps=1e-5)),
    # like vit_base_mci_224: ConvStem(channels=(c0, c1, embed_dim), kernel = stride = (4, 2, 2),
    # padding 0, GELU), no_embed_class; img 70: every stage drops a remainder (70 -> 17 -> 8 -> 4)
    "vit_test_mci_70": dict(
        like="vit_base_mci_224",
        args=dict(img_size=70, embed_dim=32, depth=2, num_heads=4, no_embed_class=True,
                  stem_channels=[12, 16], stem_kernel=[4, 2, 2])),
}

VARIANTS = {
    "mobileclip2_l14": dict(base="MobileCLIP2-L-14", seed=301, timm="vit_test_patch14_clip_42",
                            embed_dim=24, text=dict(width=16, heads=2, layers=2)),
    "mobileclip_b": dict(base="MobileCLIP-B", seed=303, timm="vit_test_mci_70", embed_dim=24,
                         text=dict(width=16, heads=2, layers=2)),
}
REAL = ["MobileCLIP-B", "MobileCLIP2-B", "MobileCLIP2-L-14"]
REAL_TAGS = [("MobileCLIP-B", "datacompdr"), ("MobileCLIP-B", "datacompdr_lt"), ("MobileCLIP2-B", "dfndr2b"),
             ("MobileCLIP2-L-14", "dfndr2b")]


def register_timm_tiny():
    """Register TIMM_TINY with timm (idempotent), built as timm builds the real towers."""
    from functools import partial
    from timm.layers import LayerNorm
    from timm.models.vision_transformer import _create_vision_transformer
    from timm.models.vision_transformer_hybrid import ConvStem, _create_vision_transformer_hybrid

    def make(name, pretrained, **kwargs):
        a = dict(TIMM_TINY[name]["args"])
        if "stem_channels" in a:
            args = {k: v for k, v in a.items() if not k.startswith("stem_")}
            backbone = ConvStem(channels=tuple(a["stem_channels"]) + (a["embed_dim"],),
                                stride=tuple(a["stem_kernel"]), kernel_size=tuple(a["stem_kernel"]),
                                padding=0, in_chans=3, act_layer=torch.nn.GELU)
            return _create_vision_transformer_hybrid(
                "vit_base_mci_224", backbone=backbone, embed_args=dict(proj=False),
                pretrained=pretrained, **dict(args, **kwargs))
        args = {k: v for k, v in a.items() if k != "norm_eps"}
        args["norm_layer"] = partial(LayerNorm, eps=a["norm_eps"])
        return _create_vision_transformer(
            "vit_large_patch14_clip_224", pretrained=pretrained, **dict(args, **kwargs))
    hybrid = [n for n, s in TIMM_TINY.items() if "stem_channels" in s["args"]]
    fc.register_timm_models([n for n in TIMM_TINY if n not in hybrid],
                            "timm.models.vision_transformer", make)
    fc.register_timm_models(hybrid, "timm.models.vision_transformer_hybrid", make)


def perturb_(model, seed):
    """Seeded random weights, every parameter redrawn: LayerNorm / BatchNorm weights 1 + N(0, 0.25), biases
    N(0, 0.1), matrices N(0, 1/fan_in), convolutions 3x that (image content outweighs positions), q/k rows of the
    attention 2x (peaked attention), class token and position embeddings N(0, 0.2), token embedding N(0, 1),
    logit_scale 2 + N(0, .05); BatchNorm running_mean N(0, 0.3), running_var U(0.3, 2) (eval uses them). Then every
    float value is rounded to F16 (the file's type)."""
    g = torch.Generator().manual_seed(seed)
    owner = fc.param_owners(model, buffers=True)
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point() or name.endswith("attn_mask"):
                continue
            leaf = name.rsplit(".", 1)[-1]
            mod = owner[name]

            def n(std):
                return torch.randn(p.shape, generator=g) * std
            if name == "logit_scale":
                v = 2.0 + n(0.05)
            elif isinstance(mod, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)) and leaf in ("weight", "bias"):
                v = (1.0 + n(0.25)) if leaf == "weight" else n(0.1)
            elif leaf == "running_mean":
                v = n(0.3)
            elif leaf == "running_var":
                v = 0.3 + 1.7 * torch.rand(p.shape, generator=g)
            elif leaf in ("pos_embed", "positional_embedding", "cls_token"):
                v = n(0.2)
            elif isinstance(mod, torch.nn.Embedding):
                v = n(1.0)
            elif p.ndim >= 2:
                v = n((3.0 if p.ndim == 4 else 1.0) / math.sqrt(p[0].numel()))
                if name.endswith("attn.qkv.weight") or name.endswith("attn.in_proj_weight"):
                    v[: 2 * (p.shape[0] // 3)] *= 2.0
            else:
                v = n(0.1)
            p.copy_(v.half().float())
    return model


def tiny_cfg(variant):
    spec = VARIANTS[variant]
    return fc.tiny_cfg(spec["base"], spec["embed_dim"], spec["timm"],
                       TIMM_TINY[spec["timm"]]["args"]["img_size"], spec["text"])


max_diff = fc.max_diff


def run_openclip(model, pixels, tokens):
    trunk = model.visual.trunk
    assert trunk.global_pool == "token" and trunk.cls_token is not None and trunk.reg_token is None
    assert isinstance(trunk.fc_norm, torch.nn.Identity) and trunk.num_prefix_tokens == 1
    assert isinstance(trunk.head, torch.nn.Linear) and len(model.visual.head) == 0
    hooks = fc.vit_stage_hooks(trunk, [("img_patches", trunk.patch_embed)])
    return fc.run_timm_tower(model, pixels, tokens, STAGE_IMAGES, hooks, lambda t, x: x[:, 0])


def compute_folder(folder):
    register_timm_tiny()
    model, pixels, tokens = fc.load_folder(folder, IMAGES, PROMPTS)
    return model, run_openclip(model, pixels, tokens)


def causal_gap(model, tokens):
    """How far encode_text moves when the text tower's causal mask is flipped (the fixture must tell them apart)."""
    t = model.text
    saved = t.attn_mask
    with torch.no_grad():
        a = model.encode_text(tokens)
        if saved is None:
            t.attn_mask = t.build_causal_mask()
        else:
            t.attn_mask = None
        b = model.encode_text(tokens)
    t.attn_mask = saved
    return max_diff(a, b)


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
    gap_mask = causal_gap(model2, res["tokens"])
    print("  encode_text with the causal mask flipped moves by %.4g" % gap_mask)
    assert gap_mask > 1e-2
    gap = fc.fp64_raw_gaps(model2, res)
    print("  fp32 vs fp64: %s" % gap)
    st.save_file(res, os.path.join(folder, "expected.safetensors"))
    info = fc.tiny_info("tools/fixtures_timmvit.py tiny", vers, variant, spec, tag, cfg, pp, changes,
                        TIMM_TINY[spec["timm"]], IMAGES, PROMPTS, STAGE_IMAGES)
    info.update({"max_offdiag_image_cos": round(off.item(), 4), "fp32_vs_fp64": gap,
                 "text_causal_gap": gap_mask, "shapes": {k: list(v.shape) for k, v in res.items()}})
    gf.write_json(os.path.join(folder, "expected.json"), info)


def real_shapes():
    """The state dict of each real model as OpenCLIP builds it (random init; no weights are fetched)."""
    import open_clip
    out, towers = {}, {}
    for name in REAL:
        model = open_clip.create_model(name, pretrained=None)
        out[name] = {k: list(v.shape) for k, v in model.state_dict().items()}
        print("  %s: %d tensors" % (name, len(out[name])))
        towers[model.visual.trunk.default_cfg["architecture"]] = tower_facts(model.visual.trunk)
    return out, towers


def tower_facts(trunk):
    """What timm built for a real tower, in oc_timmvit_tower's terms (checked against oclip's table)."""
    from timm.layers import LayerNorm
    from timm.layers.hybrid_embed import HybridEmbed
    b = trunk.blocks[0]
    norms = [trunk.norm] + [m for m in (trunk.norm_pre,) if not isinstance(m, torch.nn.Identity)]
    norms += [blk.norm1 for blk in trunk.blocks] + [blk.norm2 for blk in trunk.blocks]
    assert all(isinstance(m, (torch.nn.LayerNorm, LayerNorm)) for m in norms)
    eps = {m.eps for m in norms}
    assert len(eps) == 1
    assert isinstance(b.mlp.act, torch.nn.GELU) and b.mlp.act.approximate == "none"
    assert isinstance(b.ls1, torch.nn.Identity) and b.attn.qkv.bias is not None
    assert isinstance(trunk.fc_norm, torch.nn.Identity) and trunk.global_pool == "token"
    f = dict(img=trunk.patch_embed.img_size[0], width=trunk.embed_dim, depth=len(trunk.blocks),
             heads=b.attn.num_heads, mlp=b.mlp.fc1.out_features, eps=eps.pop(),
             pre_norm=not isinstance(trunk.norm_pre, torch.nn.Identity), no_embed_class=trunk.no_embed_class,
             grid=list(trunk.patch_embed.grid_size))
    if isinstance(trunk.patch_embed, HybridEmbed):
        convs = [m.conv for m in trunk.patch_embed.backbone]
        bns = [m.bn for m in trunk.patch_embed.backbone][:2]
        assert all(c.kernel_size == c.stride and c.padding == (0, 0) for c in convs)
        assert all(isinstance(bn, torch.nn.BatchNorm2d) and bn.eps == 1e-5 for bn in bns)
        assert all(bn.act.__class__ is torch.nn.GELU and bn.act.approximate == "none" for bn in bns)
        assert convs[2].bias is not None and convs[0].bias is None and convs[1].bias is None
        assert convs[2].out_channels == trunk.embed_dim
        f.update(stem=1, stem_ch=[convs[0].out_channels, convs[1].out_channels],
                 stem_k=[c.kernel_size[0] for c in convs])
    else:
        pc = trunk.patch_embed.proj
        assert pc.kernel_size == pc.stride and (pc.bias is None) == f["pre_norm"]
        f.update(stem=0, patch=pc.kernel_size[0])
    return f


def real_preprocess():
    """pretrained.py's preprocessing of each real pretrained name."""
    import open_clip
    out = {}
    for arch, tag in REAL_TAGS:
        pc = open_clip.get_pretrained_cfg(arch, tag)
        out[arch + ":" + tag] = {k: pc[k] for k in ("mean", "std", "interpolation", "resize_mode")}
    return out


def generate():
    vers = fc.versions_with_timm()
    os.makedirs(OUT, exist_ok=True)
    shapes, towers = real_shapes()
    for v in VARIANTS:
        gen_variant(v, vers)
    gf.write_json(os.path.join(OUT, "manifest.json"), {
        "generator": "tools/fixtures_timmvit.py tiny", "versions": vers, "variants": list(VARIANTS),
        "timm_test_models": TIMM_TINY, "real_preprocess": real_preprocess(),
        "real_shapes": shapes, "real_towers": towers})


def verify():
    bad = fc.verify_exact([(v, os.path.join(OUT, v)) for v in VARIANTS], compute_folder)
    print("verify: %s" % ("ok" if not bad else "%d differences" % bad))
    return 1 if bad else 0


def full(names, oclip_bin):
    """A full-size model of each real config with perturbed random weights (nothing downloaded): OpenCLIP's
    embeddings of IMAGES and PROMPTS against `oclip embed-image` / `embed-text` (the CLI preprocesses and tokenizes
    itself) on a folder with the config and the pretrained tag's preprocess_cfg. Prints max-abs and worst cosine."""
    import subprocess
    import numpy as np
    import open_clip
    import safetensors.torch as st
    from PIL import Image
    worst = 0.0
    for name in names:
        cfg = copy.deepcopy(open_clip.get_model_config(name))
        pp, tag = fc.preprocess_cfg(name)
        with tempfile.TemporaryDirectory() as tmp:
            gf.write_json(os.path.join(tmp, "open_clip_config.json"), {"model_cfg": cfg, "preprocess_cfg": pp})
            torch.manual_seed(7)
            model = open_clip.create_model("local-dir:" + tmp).eval()
            perturb_(model, 7)
            st.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                         os.path.join(tmp, "open_clip_model.safetensors"))
            model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + tmp)
            model.eval()
            tok = open_clip.get_tokenizer("local-dir:" + tmp)
            pixels = torch.stack([preprocess(Image.open(os.path.join(gf.ROOT, p)).convert("RGB")) for p in IMAGES])
            with torch.no_grad():
                want_i = model.encode_image(pixels, normalize=True).numpy()
                want_t = model.encode_text(tok(PROMPTS), normalize=True).numpy()
            oi, ot = os.path.join(tmp, "img.npy"), os.path.join(tmp, "txt.npy")
            subprocess.run([oclip_bin, "embed-image", "-m", tmp, "-o", oi] +
                           [os.path.join(gf.ROOT, p) for p in IMAGES], check=True)
            subprocess.run([oclip_bin, "embed-text", "-m", tmp, "-o", ot] + PROMPTS, check=True)
            for what, got, want in (("image", np.load(oi), want_i), ("text", np.load(ot), want_t)):
                d = float(np.abs(got.astype(np.float64) - want).max())
                cos = float((got.astype(np.float64) * want).sum(-1).min())
                worst = max(worst, d)
                print("%s (%s preprocessing) %s: max-abs %.3g, worst cosine %.9f" % (name, tag, what, d, cos))
    return 0 if worst <= 1e-4 else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["tiny", "verify", "full"])
    ap.add_argument("--names", nargs="*", default=REAL)
    ap.add_argument("--oclip", default=os.path.join(gf.ROOT, "build", "oclip"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.what == "tiny":
        generate()
        return 0
    if a.what == "full":
        torch.set_num_threads(2)
        return full(a.names, a.oclip)
    return verify()


if __name__ == "__main__":
    sys.exit(main())
