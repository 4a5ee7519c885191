"""`engine` fixtures: tiny random-weight OpenCLIP models and what OpenCLIP computes with them.

    .venv/bin/python tools/gen_fixtures.py engine

writes tests/fixtures/engine/<variant>/<dtype>/ for each variant below and dtype f32, f16, bf16:
  open_clip_model.safetensors  the weights, stored in that dtype (as model.half() / .bfloat16())
  open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...} as OpenCLIP writes it
  expected.safetensors         inputs and OpenCLIP 3.3.0 fp32 outputs (for f16/bf16: the model
                               run in fp32 on the stored weights upcast, i.e. exactly the
                               numbers an fp32 engine reading those bytes should produce):
      pixels [N,3,H,W] F32, tokens [N,ctx] I64 (EOT = vocab-1 at positions 1, 3, ctx-1, ctx//2)
      img_embed [N,gh*gw,D]  conv1 output as tokens (forward hook)
      img_block0, img_last [N,T,D]  after the first / last residual block (hooks)
      img_pooled [N,D]  visual._pool(...) of the last block output (ln_post per the config)
      img_proj [N,E]    encode_image(normalize=False); img_norm: normalize=True
      txt_embed [N,ctx,D]  token_embedding(text) + positional_embedding
      txt_block0, txt_last, txt_pooled (text_global_pool of ln_final), txt_proj, txt_norm
      logits [N_img,N_txt]  get_logits(image, text)[0]
manifest.json records the variants, configs and versions.

Weights are drawn so that activations are O(1) (N(0, 1/fan_in) matrices, LayerNorm weights near
1, LayerScale gammas near 0.5): with OpenCLIP's own init or gen_fixtures.randomize_ the towers
would be close to the identity and attention close to uniform, which tests little.
"""

import copy
import math
import os

import torch

import gen_fixtures as gf

OUT = os.path.join(gf.FIX, "engine")

_TEXT = {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 2}
# name -> (seed, model_cfg). Together they use every option the native configs use.
VARIANTS = {
    # ViT-B-32-like: exact GELU, class-token pool, argmax (EOT) text pool
    "gelu": (20, {"embed_dim": 16,
                  "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2,
                                 "head_width": 16},
                  "text_cfg": dict(_TEXT)}),
    # QuickGELU, LayerScale in both towers, 3 heads of 12, mlp_ratio 2.7 -> int(97.2) = 97,
    # 40 px (a 240-like grid of 5), text pool 'eos', 3 text layers, ctx 10
    "quickgelu_ls": (21, {"embed_dim": 20, "quick_gelu": True,
                          "vision_cfg": {"image_size": 40, "patch_size": 8, "width": 36, "layers": 2,
                                         "head_width": 12, "mlp_ratio": 2.7, "ls_init_value": 0.5},
                          "text_cfg": {"context_length": 10, "vocab_size": 64, "width": 24, "heads": 3,
                                       "layers": 3, "mlp_ratio": 3.0, "ls_init_value": 0.5,
                                       "pool_type": "eos", "eos_id": 63}}),
    # CLIPA-like: no ln_pre, avg pool with LN after the pool, eps 1e-6, 48 px (256-like grid 6),
    # tanh-GELU in the image tower (act_kwargs), bidirectional text pooled at the last position,
    # Linear text projection with bias, SigLIP-style logit_bias and a [1]-shaped logit_scale
    "clipa_like": (22, {"embed_dim": 16, "init_logit_bias": -10.0, "nonscalar_logit_scale": True,
                        "vision_cfg": {"image_size": 48, "patch_size": 8, "width": 32, "layers": 2,
                                       "head_width": 8, "no_ln_pre": True, "pool_type": "avg",
                                       "final_ln_after_pool": True, "norm_kwargs": {"eps": 1e-6},
                                       "act_kwargs": {"approximate": "tanh"}},
                        "text_cfg": dict(_TEXT, heads=4, no_causal_mask=True, pool_type="last",
                                         proj_bias=True, norm_kwargs={"eps": 1e-6})}),
}
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def _randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            mod = name.split(".")[-2] if "." in name else ""
            n = lambda std: torch.randn(p.shape, generator=g) * std  # noqa: E731
            if name.endswith("logit_scale"):
                v = math.log(1 / 0.07) + n(0.02)
            elif name.endswith("logit_bias"):
                v = -10.0 + n(0.02)
            elif leaf == "gamma":
                v = 0.5 + n(0.1)
            elif p.ndim == 1 and leaf == "weight" and "ln" in mod:
                v = 1.0 + n(0.1)
            elif name in ("visual.proj", "text_projection"):
                v = n(1 / math.sqrt(p.shape[0]))
            elif name.endswith("embedding") or name == "token_embedding.weight":
                v = n(0.5)
            elif p.ndim >= 2:
                v = n(1 / math.sqrt(p[0].numel()))
            else:
                v = n(0.1)
            p.copy_(v)
    return model


def _inputs(cfg, seed):
    g = torch.Generator().manual_seed(seed + 1000)
    s = cfg["vision_cfg"]["image_size"]
    pixels = torch.randn(3, 3, s, s, generator=g)
    ctx, vocab = cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]
    rows = []
    for eot in (1, 3, ctx - 1, ctx // 2):
        r = torch.zeros(ctx, dtype=torch.long)
        r[:eot] = torch.randint(1, vocab - 1, (eot,), generator=g)
        r[eot] = vocab - 1
        rows.append(r)
    return pixels, torch.stack(rows)


def _run(model, pixels, tokens):
    """Every stage, from OpenCLIP's own modules (forward hooks + its pooling functions)."""
    from open_clip.transformer import text_global_pool
    got = {}

    def hook(key):
        return lambda mod, inp, out: got.__setitem__(key, out.detach().clone())

    vis = model.visual
    hs = [vis.conv1.register_forward_hook(hook("conv")),
          vis.transformer.resblocks[0].register_forward_hook(hook("img_block0")),
          vis.transformer.resblocks[-1].register_forward_hook(hook("img_last")),
          model.transformer.resblocks[0].register_forward_hook(hook("txt_block0")),
          model.transformer.resblocks[-1].register_forward_hook(hook("txt_last"))]
    with torch.no_grad():
        out = {"pixels": pixels, "tokens": tokens}
        out["img_proj"] = model.encode_image(pixels)
        out["txt_proj"] = model.encode_text(tokens)
        for h in hs:
            h.remove()
        c = got["conv"]
        out["img_embed"] = c.reshape(c.shape[0], c.shape[1], -1).permute(0, 2, 1)
        for k in ("img_block0", "img_last", "txt_block0", "txt_last"):
            out[k] = got[k]
        out["img_pooled"] = vis._pool(got["img_last"])[0]
        out["txt_embed"] = model.token_embedding(tokens) + model.positional_embedding
        out["txt_pooled"] = text_global_pool(model.ln_final(got["txt_last"]), tokens,
                                             model.text_pool_type, eos_token_id=model.text_eos_id)
        out["img_norm"] = model.encode_image(pixels, normalize=True)
        out["txt_norm"] = model.encode_text(tokens, normalize=True)
        out["logits"] = model.get_logits(pixels, tokens)[0]
        # the hooks' stage split must reproduce OpenCLIP's own outputs
        proj = out["img_pooled"] @ vis.proj
        assert torch.allclose(proj, out["img_proj"], atol=1e-5), "image stage split"
    return {k: v.contiguous() for k, v in out.items()}


def generate(vers):
    from open_clip.model import CLIP
    import safetensors.torch as st

    gf.fresh_dir(OUT)
    manifest = {"generator": "tools/gen_fixtures.py engine", "versions": vers, "variants": {}}
    for name, (seed, cfg) in VARIANTS.items():
        torch.manual_seed(seed)
        model = _randomize(CLIP(**copy.deepcopy(cfg)), seed).eval()
        sd = model.state_dict()
        pixels, tokens = _inputs(cfg, seed)
        for dname, dt in DTYPES.items():
            d = os.path.join(OUT, name, dname)
            os.makedirs(d)
            stored = {k: v.to(dt).contiguous() for k, v in sd.items()}
            st.save_file(stored, os.path.join(d, "open_clip_model.safetensors"))
            gf.write_json(os.path.join(d, "open_clip_config.json"), {
                "model_cfg": cfg,
                "preprocess_cfg": {"mean": gf.OPENAI_MEAN, "std": gf.OPENAI_STD,
                                   "interpolation": "bicubic", "resize_mode": "shortest"}})
            # fp32 OpenCLIP on exactly the stored values
            ref = CLIP(**copy.deepcopy(cfg)).eval()
            ref.load_state_dict({k: v.float() for k, v in stored.items()})
            st.save_file(_run(ref, pixels, tokens), os.path.join(d, "expected.safetensors"))
        manifest["variants"][name] = {"seed": seed, "model_cfg": cfg, "dtypes": list(DTYPES)}
        print("engine: %s (%d tensors) x %s" % (name, len(sd), ", ".join(DTYPES)))
    gf.write_json(os.path.join(OUT, "manifest.json"), manifest)
