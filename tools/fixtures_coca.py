#!/usr/bin/env python3
"""`coca` fixtures: a tiny CoCa built by OpenCLIP 3.3.0 (open_clip coca_model.py CoCa) from the real
coca_ViT-B-32 config structure with only the sizes shrunk, what OpenCLIP computes with it (image and
text features, the image tokens the decoder attends to, decoder logits) and the ids of its
`generate` (beam search with its defaults, and with a repetition penalty / shorter lengths).

    .venv/bin/python tools/fixtures_coca.py          # tests/fixtures/coca/ (committed)
    .venv/bin/python tools/fixtures_coca.py keys     # the full-size CoCa configs' state-dict keys
                                                     # (meta device) -> tests/fixtures/coca/keys.json
    .venv/bin/python tools/fixtures_coca.py full [coca_ViT-B-32 ...] [--out build/coca_full]
        [--check BUILD/oclip] [--no-generate]
        # a real config with random weights (randomize() as above), not committed: <out>/<config>/
        # with open_clip_config.json, open_clip_model.safetensors, pixels.npy (3 images) and
        # img_features.npy, gen.json (generate() ids per image, unless --no-generate); with
        # --check, oclip embed-image --pixels and oclip caption --json on the image files
        # compared to them

Variants (tests/fixtures/coca/<variant>/, hub repos: open_clip_config.json with model_cfg and
preprocess_cfg, open_clip_model.safetensors):
  b32_tiny   coca_ViT-B-32's config with image_size 64, patch 16, vision width 32 / 2 layers /
             head_width 16, attn_pooler_heads 2 (256 queries as the real one), embed_dim 16, text
             width 16 / 2 heads / 2 layers (context 76 + the appended CLS, the real vocabulary),
             multimodal width 16 / 2 heads / 2 layers.
  base_tiny  coca_base's (no attentional pool: the decoder attends to ln_post of the patch tokens)
             with image_size 72, patch 18, widths 8, 2 heads / 2 layers everywhere, embed_dim 16,
             vocab_size 49408 (64000 in the real config: decode() knows 49408 ids).

expected.safetensors (OpenCLIP fp32):
  pixels [N,3,64,64]; img_pooled [N,E] encode_image(normalize=False); img_features [N,E];
  image_embs [N,255,E] (the caption pooler's tokens after ln_post: _encode_image's second output);
  tokens [P,76]; txt_features [P,E]; txt_tokens [P,76,W] (the text tower's token outputs, before
  ln_final); dec_logits [1,4,V]: text_decoder(image_embs[0], txt_tokens[0,:4]);
  gen_default_<i> (generate(pixels[i:i+1]) with its defaults: beam_search, 6 beams in 3 groups,
  seq_len 30, min_seq_len 5), gen_rep_<i> (repetition_penalty 1.5, seq_len 12), gen_b4_<i>
  (num_beams 4, num_beam_groups 1, min_seq_len 8, seq_len 16), each [1, L] int64.

Random weights: every parameter drawn anew (LayerNorm weights 1 +- 0.1, biases N(0, 0.1), the CLS
embedding, the pooler's queries and the class / positional embeddings N(0, 0.5), matrices N(0,
1/fan_in)), and the decoder's vocabulary projection scaled by 4 with the end-of-text column moved up
(by 6 b / |b|^2, b = the decoder's ln_final bias) so that captions are several tokens long, differ between images and some of them end early;
in base_tiny the column of "!" (id 0, the pad id) is moved up too, so that captions hold it.
"""

import copy
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixtures as gf  # noqa: E402


def _beam_search_scorer():
    """OpenCLIP 3.3.0's coca_model.py imports BeamSearchScorer from `transformers` or
    `transformers.generation`; transformers 4.57 exports it from neither (it lives in
    transformers.generation.beam_search, deprecated), so coca_model sets _has_transformers False and
    generate() refuses to run. The class is exported where coca_model looks before it is imported:
    the same class, so generate() runs OpenCLIP's own code unchanged."""
    import transformers.generation
    import transformers.generation.beam_search as bs
    if not hasattr(transformers.generation, "BeamSearchScorer"):
        transformers.generation.BeamSearchScorer = bs.BeamSearchScorer


_beam_search_scorer()

OUT = os.path.join(gf.FIX, "coca")
IMAGES = ["examples/red_circle.png", "examples/blue_triangle.png", "examples/green_ring.png",
          "tests/fixtures/preprocess/img/p_601x589.png", "tests/fixtures/preprocess/img/jpg_420.jpg"]
PROMPTS = ["a photo of a red circle", "a blue triangle", "a green ring", "a photo of a cat.", "",
           " ".join(["word%d" % i for i in range(60)])]  # fills the context: the CLS key unmasked
PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073],
              "std": [0.26862954, 0.26130258, 0.27577711],
              "interpolation": "bicubic", "resize_mode": "shortest"}
N_GEN = 3
GEN = {
    "default": {},
    "rep": {"repetition_penalty": 1.5, "seq_len": 12},
    "b4": {"num_beams": 4, "num_beam_groups": 1, "min_seq_len": 8, "seq_len": 16},
}
SEED = 24
FULL = ["coca_ViT-B-32", "coca_ViT-L-14", "coca_base", "coca_roberta-ViT-B-32"]


VARIANTS = {
    # variant: (real config, seed, "!" logit boost, updates of vision / text / multimodal_cfg)
    "b32_tiny": ("coca_ViT-B-32", SEED, 0.0, {
        "vision_cfg": {"image_size": 64, "patch_size": 16, "width": 32, "layers": 2,
                       "head_width": 16, "attn_pooler_heads": 2},
        "text_cfg": {"width": 16, "heads": 2, "layers": 2},
        "multimodal_cfg": {"width": 16, "heads": 2, "layers": 2, "attn_pooler_heads": 2}}),
    "base_tiny": ("coca_base", SEED + 1, 4.0, {
        "vision_cfg": {"image_size": 72, "patch_size": 18, "width": 8, "layers": 2,
                       "head_width": 4},
        "text_cfg": {"width": 8, "heads": 2, "layers": 2, "vocab_size": 49408},
        "multimodal_cfg": {"width": 8, "heads": 2, "layers": 2, "vocab_size": 49408}}),
}


def model_cfg(variant):
    import open_clip
    base, _, _, upd = VARIANTS[variant]
    cfg = copy.deepcopy(open_clip.get_model_config(base))
    cfg["embed_dim"] = 16
    for k, v in upd.items():
        cfg[k].update(v)
    return cfg


def randomize(model, seed, bang=0.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            n = lambda std: torch.randn(p.shape, generator=g) * std  # noqa: E731
            leaf = name.split(".")[-1]
            if name == "logit_scale":
                v = math.log(1 / 0.07) + n(0.02)
            elif p.ndim == 1 and leaf == "weight":
                v = 1.0 + n(0.1)  # LayerNorm
            elif leaf in ("cls_emb", "query", "class_embedding", "positional_embedding"):
                v = n(0.5)
            elif name == "text.token_embedding.weight":
                v = n(0.5)
            elif p.ndim >= 2:
                v = n(1 / math.sqrt(p.shape[-1] if leaf.endswith("weight") else p.shape[0]))
            else:
                v = n(0.1)
            p.copy_(v)
        tp = model.text_decoder.text_projection
        tp.mul_(4.0)
        # the end-of-text logit moved up by about 6 (ln_final's output carries its bias b)
        b = model.text_decoder.ln_final.bias
        tp[:, 49407] += 6.0 * b / b.dot(b)
        # base_tiny: "!" (id 0, also the pad id) moved up by `bang` the same way, so that
        # captions hold it and the text tower's pad-key mask matters in the later steps
        tp[:, 0] += bang * b / b.dot(b)
    return model


def build(variant):
    import open_clip
    from PIL import Image
    cfg = model_cfg(variant)
    seed = VARIANTS[variant][1]
    torch.manual_seed(seed)
    model = open_clip.CoCa(**{k: v for k, v in cfg.items() if k != "custom_text"}).eval()
    pre = open_clip.image_transform(cfg["vision_cfg"]["image_size"], is_train=False,
                                    mean=PREPROCESS["mean"], std=PREPROCESS["std"],
                                    interpolation=PREPROCESS["interpolation"],
                                    resize_mode=PREPROCESS["resize_mode"])
    pixels = torch.stack([pre(Image.open(os.path.join(gf.ROOT, p))) for p in IMAGES])
    randomize(model, seed, VARIANTS[variant][2])
    return model, pixels, cfg


def outputs(model, tokenizer, pixels):
    tokens = tokenizer(PROMPTS)
    with torch.no_grad():
        raw = model.encode_image(pixels, normalize=False)
        img = model.encode_image(pixels, normalize=True)
        _, image_embs = model._encode_image(pixels)
        txt = model.encode_text(tokens, normalize=True)
        _, txt_tokens = model._encode_text(tokens)
        dec = model.text_decoder(image_embs[:1], txt_tokens[:1, :4])
    res = {"pixels": pixels, "img_pooled": raw, "img_features": img, "image_embs": image_embs,
           "tokens": tokens, "txt_features": txt, "txt_tokens": txt_tokens, "dec_logits": dec}
    with torch.no_grad():
        for tag, kw in GEN.items():
            for i in range(N_GEN):
                res["gen_%s_%d" % (tag, i)] = model.generate(pixels[i:i + 1], **kw)
    return res


def generate():
    import open_clip
    import transformers
    gf.fresh_dir(OUT)
    man = {"open_clip": open_clip.__version__, "torch": torch.__version__,
           "transformers": transformers.__version__, "variants": list(VARIANTS)}
    for variant in VARIANTS:
        generate_variant(variant)
    gf.write_json(os.path.join(OUT, "manifest.json"), man)
    keys()


def generate_variant(variant):
    import open_clip
    import safetensors.torch
    tokenizer = open_clip.get_tokenizer("coca_ViT-B-32")
    real = VARIANTS[variant][0]
    d = os.path.join(OUT, variant)
    os.makedirs(d)
    model, pixels, cfg = build(variant)
    sd = model.state_dict()
    safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()},
                                os.path.join(d, "open_clip_model.safetensors"))
    gf.write_json(os.path.join(d, "open_clip_config.json"),
                  {"model_cfg": cfg, "preprocess_cfg": PREPROCESS})
    hub = open_clip.create_model("local-dir:" + d).eval()
    assert isinstance(hub, open_clip.CoCa)
    res = outputs(model, tokenizer, pixels)
    res2 = outputs(hub, tokenizer, pixels)
    for k in res:
        assert torch.equal(res[k], res2[k]), k
    img = res["img_features"]
    cos = (img @ img.T).tolist()
    off = max(cos[i][j] for i in range(len(IMAGES)) for j in range(len(IMAGES)) if i != j)
    assert off < 0.99, "different images give near-identical features (%.5f)" % off
    gens = {k: v[0].tolist() for k, v in res.items() if k.startswith("gen_")}
    for tag in GEN:
        rows = [gens["gen_%s_%d" % (tag, i)] for i in range(N_GEN)]
        assert len({tuple(r) for r in rows}) == N_GEN, ("images give the same caption", tag, rows)
        assert all(len(r) > 3 for r in rows), (tag, rows)
    texts = {k: open_clip.decode(torch.tensor(v)).split("<end_of_text>")[0]
             .replace("<start_of_text>", "") for k, v in gens.items()}
    safetensors.torch.save_file({k: v.contiguous() for k, v in res.items()},
                                os.path.join(d, "expected.safetensors"))
    gf.write_json(os.path.join(d, "expected.json"), {
        "variant": variant, "real_config": real,
        "real_model_cfg": open_clip.get_model_config(real),
        "changes": "image_size / patch_size, widths, layers, heads, embed_dim (and coca_base's "
                   "vocab_size 64000 -> 49408: decode() knows 49408 ids) shrunk; everything "
                   "else as the real config",
        "images": IMAGES, "prompts": PROMPTS, "image_cosines": cos, "max_offdiag_cosine": off,
        "generate": {k: {"kwargs": GEN[k.split("_")[1]], "image": IMAGES[int(k.split("_")[2])],
                         "ids": v, "text": texts[k]} for k, v in gens.items()},
        "state_dict": list(sd.keys()),
    })
    for k in sorted(gens):
        print(variant, k, len(gens[k]), gens[k][:8], repr(texts[k][:50]))
    print(variant, "max offdiag cos %.4f" % off)


def keys():
    os.environ["HF_HUB_OFFLINE"] = "1"  # coca_roberta's tower needs roberta-base's config
    import open_clip
    out = {}
    for name in FULL:
        with torch.device("meta"):
            cfg = open_clip.get_model_config(name)
            try:
                model = open_clip.CoCa(**{k: v for k, v in cfg.items() if k != "custom_text"})
            except Exception as e:  # noqa: BLE001 (an HF tower needs its config from the hub)
                out[name] = {"error": str(e)[:200]}
                continue
        out[name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    gf.write_json(os.path.join(OUT, "keys.json"), out)
    for k, v in out.items():
        print(k, len(v) if isinstance(v, list) else v)


def full(names, out, oclip, gen=True):
    import subprocess
    import time
    import numpy as np
    import open_clip
    import safetensors.torch
    from PIL import Image
    for name in names:
        cfg = open_clip.get_model_config(name)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(0)
        model = open_clip.CoCa(**{k: v for k, v in cfg.items() if k != "custom_text"}).eval()
        randomize(model, 0)
        img = cfg["vision_cfg"]["image_size"]
        pre = open_clip.image_transform(img, is_train=False, mean=PREPROCESS["mean"],
                                        std=PREPROCESS["std"],
                                        interpolation=PREPROCESS["interpolation"],
                                        resize_mode=PREPROCESS["resize_mode"])
        pixels = torch.stack([pre(Image.open(os.path.join(gf.ROOT, p))) for p in IMAGES[:3]])
        safetensors.torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                                    os.path.join(d, "open_clip_model.safetensors"))
        gf.write_json(os.path.join(d, "open_clip_config.json"),
                      {"model_cfg": cfg, "preprocess_cfg": PREPROCESS})
        with torch.no_grad():
            feat = model.encode_image(pixels, normalize=True)
            t = time.time()
            gen = [model.generate(pixels[i:i + 1])[0].tolist() for i in range(3)] if gen else None
            dt = time.time() - t
        np.save(os.path.join(d, "pixels.npy"), pixels.numpy())
        np.save(os.path.join(d, "img_features.npy"), feat.numpy())
        if gen:
            gf.write_json(os.path.join(d, "gen.json"), gen)
            print("%s: PyTorch generate() of 3 images %.1f s (%d threads); lengths %s" %
                  (name, dt, torch.get_num_threads(), [len(g) for g in gen]))
        if oclip:
            got = os.path.join(d, "got.npy")
            subprocess.run([oclip, "embed-image", "-m", d, "--pixels",
                            os.path.join(d, "pixels.npy"), "-o", got], check=True)
            g = np.load(got)
            print("%s: embed-image max-abs %.3g" % (name, abs(g - feat.numpy()).max()))
            if not gen:
                continue
            t = time.time()
            r = subprocess.run([oclip, "caption", "-m", d, "--json"] + IMAGES[:3], check=True,
                               capture_output=True, text=True)
            dt = time.time() - t
            rows = [json.loads(x) for x in r.stdout.splitlines()]
            print("%s: oclip caption (load + 3 images) %.1f s; ids identical: %s" %
                  (name, dt, [row["ids"] == gen[i] for i, row in enumerate(rows)]))


if __name__ == "__main__":
    os.chdir(gf.ROOT)
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        args = sys.argv[2:]
        out, oclip = os.path.join(gf.ROOT, "build", "coca_full"), None
        if "--out" in args:
            i = args.index("--out")
            out = args[i + 1]
            del args[i:i + 2]
        if "--check" in args:
            i = args.index("--check")
            oclip = args[i + 1]
            del args[i:i + 2]
        gen = "--no-generate" not in args
        args = [a for a in args if a != "--no-generate"]
        full(args or ["coca_ViT-B-32"], out, oclip, gen)
    elif len(sys.argv) > 1 and sys.argv[1] == "keys":
        keys()
    else:
        generate()
