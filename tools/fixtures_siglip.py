#!/usr/bin/env python3
"""`siglip` fixtures: tiny SigLIP / SigLIP 2 models built by OpenCLIP 3.3.0 from its real configs, and
what OpenCLIP computes with them, stage by stage (docs/SIGLIP.md describes the forward pass).

    .venv/bin/python tools/fixtures_siglip.py tiny       # tests/fixtures/siglip/ (committed)
    .venv/bin/python tools/fixtures_siglip.py verify     # recompute everything from the committed files
    .venv/bin/python tools/fixtures_siglip.py full [--config ViT-B-16-SigLIP] [--out build/siglip_full]
                                                         # one full-size config, random weights, not committed

`tiny` writes tests/fixtures/siglip/
  img/*.png             two generated non-square images (RGB 97x61, RGBA 45x130); the other inputs are
                        examples/{red_circle,blue_triangle,green_ring}.png
  configs.json          every SigLIP / SigLIP 2 config OpenCLIP 3.3.0 ships, built on the meta device:
                        the numbers a C implementation needs (timm tower: image size, patch, grid, width,
                        depth, heads, MLP width, activation, LayerNorm eps; text tower: the same plus
                        context, vocabulary, projection), state-dict key count and parameter count; the
                        full key/shape list of ViT-B-16-SigLIP and of ViT-SO400M-16-SigLIP-i18n-256
  manifest.json         versions, the variants, the timm test towers' arguments, what was checked
  <variant>/            one folder per variant, laid out as OpenCLIP's push_to_hf_hub (save_for_hf)
                        writes a hub repo:
      open_clip_config.json        {"model_cfg", "preprocess_cfg"}: the real config with only the sizes
                                   shrunk; preprocess_cfg is the SigLIP `webli` tag's (mean/std 0.5,
                                   bicubic, squash)
      open_clip_model.safetensors  the weights (F32)
      tokenizer.json, tokenizer_config.json, special_tokens_map.json
                                   a tiny SentencePiece model trained here and converted by transformers
                                   the way OpenCLIP's SigLipTokenizer made the hub's files (T5TokenizerFast
                                   Unigram for SigLIP, GemmaTokenizerFast byte-fallback BPE for SigLIP 2);
                                   as in the hub repos, no .model file (make_tokenizer has the details)
      expected.json                inputs and small results: prompts, the token ids
                                   open_clip.get_tokenizer('local-dir:<variant>') gives, images,
                                   preprocess settings, logit_scale / logit_bias, pairwise cosines, the
                                   timm tower's arguments, the changes made to the real config,
                                   fp32_vs_fp64 (OpenCLIP's own fp32 rounding noise on these outputs)
                                   and, for the exact-GELU variants, hf_tanh_gap (how far transformers
                                   with its default gelu_pytorch_tanh is from OpenCLIP)
      expected.safetensors         OpenCLIP 3.3.0 fp32 outputs (names below)
      hf/                          (siglip2_so400m16 only) the same weights in transformers' SiglipModel
                                   layout: config.json (model_type siglip), model.safetensors, tokenizer
                                   files, expected.safetensors with transformers' own outputs

expected.safetensors (N images, P prompts, T patches, W widths; the per-stage tensors are for the
first M = STAGE_IMAGES images and the first S = STAGE_PROMPTS prompts, from a separate forward pass):
  pixels [N,3,H,W]          create_model_and_transforms('local-dir:...')[2] (the inference transform)
  img_patch [M,T,Wv]        trunk.patch_embed (conv with bias, flattened row-major over the grid)
  img_embed [M,T,Wv]        + trunk.pos_embed (no class token)
  img_block_<i> [M,T,Wv]    after each of the trunk.blocks
  img_final_norm [M,T,Wv]   trunk.norm
  img_pool_attn [M,Wv]      attn_pool: latent-query attention over the tokens, after attn_pool.proj
  img_pool_ln [M,Wv]        attn_pool.norm of that (the pool MLP's input)
  img_pooled [N,Wv]         attn_pool output = img_pool_attn + mlp(img_pool_ln) = encode_image(normalize=False)
  img_features [N,E]        encode_image(normalize=True)
  tokens [P,ctx] I64        the tokenizer's ids for every prompt
  txt_embed [S,ctx,Wt]      token_embedding + positional_embedding (TextTransformer._embeds)
  txt_block_<i> [S,ctx,Wt]  after each text block (bidirectional: no mask, padding included)
  txt_final_norm [S,ctx,Wt] ln_final
  txt_pooled [S,Wt]         txt_final_norm[:, -1] (pool_type 'last': the last position, usually padding)
  txt_raw [P,E]             encode_text(normalize=False) (text_projection with bias, or none)
  txt_features [P,E]        encode_text(normalize=True)
  logits [N,P]              get_logits(...)[0] = exp(logit_scale) * cos + logit_bias
  probs [N,P]               sigmoid(logits)
  logit_scale [], logit_bias []  the parameters as stored

The timm image towers are real timm SigLIP architectures with their sizes shrunk: OpenCLIP's
TimmModel passes only vision_cfg.timm_model_name to timm, and timm.create_model accepts
"local-dir:PATH" there (timm models/_factory.py _resolve_model_source), building the "architecture"
of PATH/config.json with its "model_args" as keyword arguments. So each config names
"local-dir:tests/fixtures/siglip/timm/<name>" (relative to the repository root, where the tests and
this script run), and timm/<name>/config.json is written by timm's own save_config_for_hf from the
model built with the TIMM_TINY arguments.
"""

import argparse
import copy
import io
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = os.path.join(gf.FIX, "siglip")
EXAMPLES = ["examples/red_circle.png", "examples/blue_triangle.png", "examples/green_ring.png"]
GENERATED = {"rgb_97x61.png": (97, 61, "RGB", 41), "rgba_45x130.png": (45, 130, "RGBA", 42)}
STAGE_IMAGES = 2    # per-stage image outputs for image_paths()[:2]: red_circle.png, rgb_97x61.png
STAGE_PROMPTS = 4   # per-stage text outputs for PROMPTS[:4]: short, empty, past the context, non-ASCII

# The timm towers of the tiny models: the model_args of the real timm model named in "like", sizes
# shrunk. act_layer absent = timm's default nn.GELU (exact, erf); 'gelu_tanh' = GELU tanh approximation.
TIMM_TINY = {
    # like vit_base_patch16_siglip_224 (ViT-B-16-SigLIP): exact GELU, mlp_ratio 4
    "vit_test_patch8_siglip_32": dict(
        like="vit_base_patch16_siglip_224",
        args=dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4, class_token=False,
                  global_pool="map")),
    # like vit_so400m_patch14_siglip_384 (ViT-SO400M-14-SigLIP-384): mlp_ratio 3.7362 (MLP width
    # int(56 * 3.7362) = int(209.23) = 209), exact GELU, and an image size the patch does not divide
    # (44 = 5 * 8 + 4, as 384 = 27 * 14 + 6): the conv drops the last 4 rows and columns
    "vit_test_patch8_siglip_44": dict(
        like="vit_so400m_patch14_siglip_384",
        args=dict(img_size=44, patch_size=8, embed_dim=56, depth=2, num_heads=4, mlp_ratio=3.7362,
                  class_token=False, global_pool="map")),
    # like vit_so400m_patch16_siglip_256 (ViT-SO400M-16-SigLIP2-256): GELU tanh, mlp_ratio 3.7362
    # (int(48 * 3.7362) = int(179.34) = 179), 2 heads of 24
    "vit_test_patch16_siglip_64": dict(
        like="vit_so400m_patch16_siglip_256",
        args=dict(img_size=64, patch_size=16, embed_dim=48, depth=2, num_heads=2, mlp_ratio=3.7362,
                  class_token=False, global_pool="map", act_layer="gelu_tanh")),
    # like vit_so400m_patch16_siglip_256 for ViT-SO400M-16-SigLIP-i18n-256 (GELU tanh; its text tower
    # has no projection, so the text width must equal this width)
    "vit_test_patch8_siglip_40": dict(
        like="vit_so400m_patch16_siglip_256",
        args=dict(img_size=40, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=3.7362,
                  class_token=False, global_pool="map", act_layer="gelu_tanh")),
}

# variant -> the real config it is made from and what is shrunk. Every other option of the real
# config (map pool, timm_proj none, no_causal_mask, pool_type last, proj_bias / proj_type, eps 1e-6,
# act_kwargs, mlp_ratio, tokenizer_kwargs clean=canonicalize, init_logit_bias, custom_text) is kept.
VARIANTS = {
    "siglip_b16": dict(
        base="ViT-B-16-SigLIP", seed=101, tokenizer="t5", timm="vit_test_patch8_siglip_32",
        embed_dim=48, text=dict(context_length=16, width=32, heads=4, layers=2)),
    "siglip_so400m14_384": dict(
        base="ViT-SO400M-14-SigLIP-384", seed=102, tokenizer="t5", timm="vit_test_patch8_siglip_44",
        embed_dim=56, text=dict(context_length=64, width=40, heads=4, layers=2)),
    "siglip2_so400m16": dict(
        base="ViT-SO400M-16-SigLIP2-256", seed=105, tokenizer="gemma", timm="vit_test_patch16_siglip_64",
        embed_dim=48, text=dict(context_length=64, width=32, heads=2, layers=2), hf=True),
    "siglip_i18n_noproj": dict(
        base="ViT-SO400M-16-SigLIP-i18n-256", seed=104, tokenizer="t5", timm="vit_test_patch8_siglip_40",
        embed_dim=32, text=dict(context_length=24, width=32, heads=4, layers=2)),
}

# prompts: plain, long (past 16 and 64 tokens), case and punctuation (canonicalize lowercases and drops
# ASCII punctuation and '_'), HTML entities and mojibake (basic_clean: ftfy + html.unescape twice),
# whitespace, digits, non-ASCII letters (unknown to the tiny vocabularies: <unk> in the Unigram model,
# byte fallback in the BPE one), emoji, non-ASCII punctuation (kept by canonicalize)
PROMPTS = [
    "a photo of a red circle.",
    "",
    "a photo of a yellow star, a photo of a yellow star, a photo of a yellow star, a photo of a yellow "
    "star, a photo of a yellow star, a photo of a yellow star, a photo of a yellow star, the end",
    "caf\u00e9 na\u00efve \u00e9t\u00e9 \u00fcber stra\u00dfe",
    "a photo of a blue triangle",
    "A photo of a GREEN ring!!!",
    "a photo of a cat",
    "a photo of a dog",
    "a bad photo of the tench.",
    "a sculpture of a goldfish.",
    "itap of a great white shark",
    "a close-up photo of the hammerhead shark",
    "a_photo_of_an_electric_ray",
    "tiger shark; stingray: cock? hen... ostrich!",
    "(goldfinch) [house finch] {junco} <indigo bunting>",
    "\"quoted\" 'single' `back` ~tilde~ ^caret^ |pipe| \\backslash\\ /slash/",
    "#hashtag @mention $100 50% 3*4=12 a+b a-b a&b",
    "  leading   and   trailing   spaces  ",
    "tabs\tand\nnewlines\r\nmixed",
    "&amp; &lt;b&gt; &quot;html&quot; &#39;entity&#39; &amp;amp;",
    "Ã©tÃ© mojibake cafÃ©",
    "0123456789 3.14159 1,000,000",
    "20 pictures of 3 birds in 2024",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "\u0440\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442",
    "emoji \U0001F431\U0001F436 \u2764\ufe0f",
    "\u201ccurly quotes\u201d \u2018single\u2019 \u2014 em dash \u2026 ellipsis",
    "\uff21\uff22\uff23 fullwidth \uff41\uff42\uff43",
    "\ufb01nance \ufb02ower ligatures",
    "\u00bd \u00b2 \u2460 compatibility",
    "SCREAMING CAPS PHOTO OF A LORIKEET",
    "a black and white photo of the african grey parrot",
    "a low resolution photo of a macaw",
    "a cropped photo of a toucan.",
    "a bright photo of a hornbill",
    "a pixelated photo of the great grey owl",
    "a jpeg corrupted photo of a bald eagle",
    "a blurry photo of the vulture",
    "a drawing of a kite (bird of prey)",
    "a photo of the hard to see axolotl",
    "a rendering of a european fire salamander",
    "graffiti of the newt",
    "a tattoo of a spotted salamander",
    "the embroidered loggerhead sea turtle",
    "a plastic leatherback sea turtle",
    "a plushie mud turtle",
    "the origami box turtle",
    "a photo of a small banded gecko",
    "word " * 80,
    "x",
    "the the the the",
]

# corpus lines added to the ImageNet prompts the tokenizers are trained on (digits, non-English words)
EXTRA_CORPUS = [
    "0 1 2 3 4 5 6 7 8 9 10 20 100 1000 2024 3 14159",
    "cafe naive ete uber strasse le chat la maison das haus el perro",
    "photo picture image drawing painting sketch render rendering tattoo graffiti origami plushie",
    "red green blue yellow purple orange black white grey gray circle triangle ring star square",
]

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


# ================================================================================================
# helpers
# ================================================================================================

def versions():
    import sentencepiece
    import timm
    import tokenizers
    v = gf.versions()
    v.update({"timm": timm.__version__, "tokenizers": tokenizers.__version__,
              "sentencepiece": sentencepiece.__version__})
    return v


TIMM_DIR = os.path.join(OUT, "timm")


def timm_model_name(name):
    """vision_cfg.timm_model_name of a TIMM_TINY tower: its config folder, from the repository root."""
    return "local-dir:" + os.path.relpath(os.path.join(TIMM_DIR, name), gf.ROOT)


def write_timm_configs():
    """timm/<name>/config.json for every TIMM_TINY tower, as timm exports a model's config
    (save_config_for_hf: architecture, model_args, pretrained_cfg), and checks that timm builds
    the same tower back from it."""
    import timm
    from timm.models._hub import save_config_for_hf
    for name, spec in TIMM_TINY.items():
        d = os.path.join(TIMM_DIR, name)
        os.makedirs(d, exist_ok=True)
        m = timm.create_model(spec["like"], pretrained=False, **spec["args"])
        save_config_for_hf(m, os.path.join(d, "config.json"))
        back = timm.create_model(timm_model_name(name), pretrained=False)
        assert [(k, v.shape) for k, v in back.state_dict().items()] == \
            [(k, v.shape) for k, v in m.state_dict().items()], name
        assert type(back.blocks[0].mlp.act) is type(m.blocks[0].mlp.act), name


def _corpus():
    with open(os.path.join(gf.ROOT, "data", "zero_shot_metadata.json")) as f:
        meta = json.load(f)
    lines = []
    for i, c in enumerate(meta["IMAGENET_CLASSNAMES"]):
        for t in meta["OPENAI_IMAGENET_TEMPLATES"][i % 7::16]:
            lines.append(t.replace("{}", c))
    return lines + EXTRA_CORPUS * 20


def train_sentencepiece(kind):
    """A tiny SentencePiece model with the special-token layout of the real one: T5's (c4-en / mc4:
    Unigram, nmt_nfkc, pad 0 / eos 1 / unk 2, no bos) or Gemma's (BPE with byte fallback, identity
    normalization, no dummy prefix, digits split, pad 0 / eos 1 / bos 2 / unk 3). Returns the bytes."""
    import sentencepiece as spm
    buf = io.BytesIO()
    common = dict(sentence_iterator=iter(_corpus()), model_writer=buf, character_coverage=1.0,
                  num_threads=1, minloglevel=2, seed_sentencepiece_size=100000, shuffle_input_sentence=False)
    if kind == "t5":
        spm.SentencePieceTrainer.train(model_type="unigram", vocab_size=1000, pad_id=0, eos_id=1, unk_id=2,
                                       bos_id=-1, normalization_rule_name="nmt_nfkc", **common)
    else:
        spm.SentencePieceTrainer.train(model_type="bpe", vocab_size=800, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                                       pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
                                       byte_fallback=True, normalization_rule_name="identity",
                                       add_dummy_prefix=False, split_digits=True, allow_whitespace_only_pieces=True,
                                       remove_extra_whitespaces=False, **common)
    return buf.getvalue()


def make_tokenizer(kind, model_path):
    """The HF fast tokenizer as OpenCLIP's SigLipTokenizer builds it (tokenizer.py), for saving.

    Gemma: SigLipTokenizer itself (GemmaTokenizerFast, right padding, no BOS, EOS appended, pad 0).
    T5: SigLipTokenizer's T5TokenizerFast(extra_ids=0, legacy=False), pad = eos = 1, plus
    add_prefix_space=True: transformers 4.57 otherwise converts with Metaspace prepend_scheme 'never'
    (no '\u2581' before the first word), which differs from SentencePiece's own encoding and from the
    hub files made with the transformers of 2023 (which prepended). With it the conversion gives
    prepend_scheme 'first', and the ids equal SentencePiece's (checked in gen_variant)."""
    from open_clip.tokenizer import SigLipTokenizer
    if kind == "gemma":
        return SigLipTokenizer(model_path).tokenizer
    from transformers import T5TokenizerFast
    tok = T5TokenizerFast(model_path, extra_ids=0, legacy=False, add_prefix_space=True)
    # keep the flag out of tokenizer_config.json (the hub's have none): loading it would force a
    # conversion from the slow tokenizer, whose .model file a hub repo does not hold
    tok.init_kwargs.pop("add_prefix_space")
    tok.pad_token_id = 1
    tok.eos_token_id = 1
    return tok


def make_images(dirpath):
    import fixtures_preprocess
    from PIL import Image
    os.makedirs(dirpath, exist_ok=True)
    for name, (w, h, mode, seed) in GENERATED.items():
        a = fixtures_preprocess.content(w, h, seed, channels=4 if mode == "RGBA" else 3)
        if mode == "RGBA":
            a[..., 3] = np.linspace(40, 255, w, dtype=np.float64)[None, :].astype(np.uint8)
        Image.fromarray(a, mode).save(os.path.join(dirpath, name), optimize=False)


def image_paths():
    gen = ["tests/fixtures/siglip/img/" + n for n in GENERATED]
    return EXAMPLES[:1] + gen[:1] + EXAMPLES[1:] + gen[1:]


QK_GAIN = 2.0


def perturb_(model, seed, qk_gain=QK_GAIN):
    """Seeded random weights with no identity or no-op left: every parameter is redrawn (no element
    keeps its initial value). LayerNorm weights 1 + N(0, 0.25), LayerNorm and other biases N(0, 0.1),
    matrices N(0, 1/fan_in) (std 1/sqrt(fan_in)) so activations stay O(1) through the blocks, the
    patch-embedding conv 3x that so the image content outweighs the position embeddings (N(0, 0.2))
    and different images get clearly different features, query and key projections QK_GAIN x that (every
    attention, the pool's included), the latent query N(0, 1), token embeddings
    N(0, 1), logit_scale 2 + N(0, 0.05) (exp ~ 7.4; OpenCLIP's init is log(1/0.07) = 2.659) and
    logit_bias -1 + N(0, 0.05) (init -10), so that sigmoid(logits) spreads over (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    owner = fc.param_owners(model)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            mod = owner[name]

            def n(std):
                return torch.randn(p.shape, generator=g) * std
            if name == "logit_scale":
                v = 2.0 + n(0.05)
            elif name == "logit_bias":
                v = -1.0 + n(0.05)
            elif isinstance(mod, torch.nn.LayerNorm):
                v = (1.0 + n(0.25)) if leaf == "weight" else n(0.1)
            elif leaf == "latent":
                v = n(1.0)
            elif leaf in ("pos_embed", "positional_embedding"):
                v = n(0.2)
            elif isinstance(mod, torch.nn.Embedding):
                v = n(1.0)
            elif p.ndim >= 2:
                v = n((3.0 if p.ndim == 4 else 1.0) / math.sqrt(p[0].numel()))
                # query and key projections QK_GAIN x: attention peaked instead of near-uniform, so
                # that the pooled last text position (mostly padding around it) depends on the words
                w = p.shape[1]
                if leaf == "in_proj_weight" or name.endswith("attn.qkv.weight"):
                    v[:2 * w] *= qk_gain
                elif name.endswith("attn_pool.q.weight"):
                    v *= qk_gain
                elif name.endswith("attn_pool.kv.weight"):
                    v[:w] *= qk_gain
            else:  # biases (Linear, Conv2d, MultiheadAttention in_proj_bias)
                v = n(0.1)
            p.copy_(v)
    for k, v in model.named_parameters():
        # a redrawn float can equal its old value by chance (a few in a million at full size)
        same = int((v == before[k]).sum())
        assert same <= v.numel() // 100000, "perturb_ left %d initial values in %s" % (same, k)
    return model


def fp64_gap(model, res):
    """max |OpenCLIP fp32 - OpenCLIP fp64| of the outputs: the rounding noise any fp32 implementation
    has to be allowed (tolerances for a C engine should sit above it)."""
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        img = m.encode_image(res["pixels"].double())
        txt = m.encode_text(res["tokens"])
        logits = m.get_logits(res["pixels"].double(), res["tokens"])[0]
    return {"img_pooled": max_diff(img, res["img_pooled"]), "txt_raw": max_diff(txt, res["txt_raw"]),
            "logits": max_diff(logits, res["logits"])}


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def pairwise_cos(x):
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    return (x @ x.T).tolist()


def check_diverse(what, feats):
    """The features of different inputs must differ: no off-diagonal cosine close to 1."""
    c = torch.tensor(pairwise_cos(feats))
    off = c[~torch.eye(len(c), dtype=torch.bool)]
    print("  %s pairwise cos (first %d): %s" % (what, len(c), " ".join("%.3f" % x for x in off.tolist()[::2])))
    assert off.max().item() < 0.98, "%s: features nearly identical (max cos %.4f)" % (what, off.max())
    return round(off.max().item(), 4)


# ================================================================================================
# model config
# ================================================================================================

def tiny_model_cfg(variant):
    """The real config (OpenCLIP's own copy) with only the sizes changed; returns (cfg, changes)."""
    import open_clip
    spec = VARIANTS[variant]
    cfg = copy.deepcopy(open_clip.get_model_config(spec["base"]))
    assert cfg is not None, spec["base"]
    changes = {}

    def put(d, path, k, v):
        changes[path + k] = [d.get(k), v]
        d[k] = v
    put(cfg, "", "embed_dim", spec["embed_dim"])
    vc = cfg["vision_cfg"]
    put(vc, "vision_cfg.", "timm_model_name", timm_model_name(spec["timm"]))
    put(vc, "vision_cfg.", "image_size", TIMM_TINY[spec["timm"]]["args"]["img_size"])
    tc = cfg["text_cfg"]
    for k, v in spec["text"].items():
        put(tc, "text_cfg.", k, v)
    put(tc, "text_cfg.", "vocab_size", 1000 if spec["tokenizer"] == "t5" else 800)
    # local-dir: OpenCLIP reads the tokenizer from the folder whatever this names (it only has to be
    # non-empty); hf-hub: it loads this repo, as the real configs name their own (or a shared) repo
    put(tc, "text_cfg.", "hf_tokenizer_name", "oclip-test/" + variant)
    return cfg, changes


def preprocess_cfg(base):
    """The preprocess settings of the config's SigLIP pretrained tag, from OpenCLIP's table."""
    import open_clip
    tags = open_clip.list_pretrained_tags_by_model(base)
    tag = "webli" if "webli" in tags else tags[0]
    pc = open_clip.get_pretrained_cfg(base, tag)
    return {k: pc[k] for k in ("mean", "std", "interpolation", "resize_mode")}, tag


# ================================================================================================
# running OpenCLIP
# ================================================================================================

def run_openclip(model, pixels, tokens, n_stage_images, n_stage_prompts):
    """Every stage of encode_image / encode_text, from OpenCLIP's and timm's own modules (forward
    hooks), checked to recompose into OpenCLIP's outputs."""
    got = {}

    def hook(key, pick=None):
        def fn(mod, inp, out):
            got[key] = (pick(out) if pick else out).detach().clone()
        return fn
    trunk = model.visual.trunk
    assert trunk.cls_token is None and trunk.reg_token is None and trunk.attn_pool is not None
    assert isinstance(trunk.norm_pre, torch.nn.Identity) and isinstance(trunk.fc_norm, torch.nn.Identity)
    assert isinstance(trunk.head, torch.nn.Identity) and len(model.visual.head) == 0
    hs = [trunk.patch_embed.register_forward_hook(hook("img_patch")),
          trunk.pos_drop.register_forward_hook(hook("img_embed")),
          trunk.norm.register_forward_hook(hook("img_final_norm")),
          trunk.attn_pool.proj.register_forward_hook(hook("img_pool_attn", lambda o: o[:, 0])),
          trunk.attn_pool.norm.register_forward_hook(hook("img_pool_ln", lambda o: o[:, 0]))]
    hs += [b.register_forward_hook(hook("img_block_%d" % i)) for i, b in enumerate(trunk.blocks)]
    out = {}
    with torch.no_grad():
        # stages: a forward pass over the first n_stage_images images with hooks
        out["pixels"] = pixels
        staged = model.encode_image(pixels[:n_stage_images])
        for h in hs:
            h.remove()
        for k in ["img_patch", "img_embed"] + ["img_block_%d" % i for i in range(len(trunk.blocks))] + \
                ["img_final_norm", "img_pool_attn", "img_pool_ln"]:
            out[k] = got[k]
        # recomposition: the pool's MLP residual, and the tower output = the pool output
        assert max_diff(got["img_pool_attn"] + trunk.attn_pool.mlp(got["img_pool_ln"]), staged) < 1e-5
        assert max_diff(trunk.attn_pool(got["img_final_norm"]), staged) == 0
        out["img_pooled"] = model.encode_image(pixels)
        assert max_diff(out["img_pooled"][:n_stage_images], staged) < 1e-5
        out["img_features"] = model.encode_image(pixels, normalize=True)

        text = model.text
        stage_tokens = tokens[:n_stage_prompts]
        got.clear()
        hs = [b.register_forward_hook(hook("txt_block_%d" % i)) for i, b in enumerate(text.transformer.resblocks)]
        hs.append(text.ln_final.register_forward_hook(hook("txt_final_norm")))
        out["tokens"] = tokens
        staged_raw = model.encode_text(stage_tokens)
        for h in hs:
            h.remove()
        out["txt_embed"] = text._embeds(stage_tokens)[0]
        for k in ["txt_block_%d" % i for i in range(len(text.transformer.resblocks))] + ["txt_final_norm"]:
            out[k] = got[k]
        from open_clip.transformer import text_global_pool
        out["txt_pooled"] = text_global_pool(got["txt_final_norm"], stage_tokens, text.pool_type)
        assert torch.equal(out["txt_pooled"], got["txt_final_norm"][:, -1])
        proj = text.text_projection(out["txt_pooled"]) if text.text_projection is not None else out["txt_pooled"]
        assert max_diff(proj, staged_raw) == 0
        out["txt_raw"] = model.encode_text(tokens)
        assert max_diff(out["txt_raw"][:len(stage_tokens)], staged_raw) < 1e-5
        out["txt_features"] = model.encode_text(tokens, normalize=True)
        logits = model.get_logits(pixels, tokens)[0]
        manual = model.logit_scale.exp() * out["img_features"] @ out["txt_features"].T + model.logit_bias
        assert max_diff(logits, manual) < 1e-5
        out["logits"] = logits
        out["probs"] = torch.sigmoid(logits)
        out["logit_scale"] = model.logit_scale.detach().clone()
        out["logit_bias"] = model.logit_bias.detach().clone()
    return {k: v.contiguous() for k, v in out.items()}


def load_folder(folder):
    """Model, inference transform and tokenizer exactly as OpenCLIP loads a local hub-style folder."""
    import open_clip
    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + folder)
    tok = open_clip.get_tokenizer("local-dir:" + folder)
    return model.eval(), preprocess, tok


def compute_folder(folder):
    from PIL import Image
    model, preprocess, tok = load_folder(folder)
    pixels = torch.stack([preprocess(Image.open(os.path.join(gf.ROOT, p))) for p in image_paths()])
    tokens = tok(PROMPTS)
    return model, tok, run_openclip(model, pixels, tokens, STAGE_IMAGES, STAGE_PROMPTS)


# ================================================================================================
# transformers SiglipModel twin
# ================================================================================================

def hf_act(mod):
    """transformers' hidden_act for an activation module: exact GELU or the tanh approximation."""
    approx = getattr(mod, "approximate", None)
    if approx is None:  # timm GELUTanh
        assert type(mod).__name__ == "GELUTanh", type(mod)
        approx = "tanh"
    return "gelu_pytorch_tanh" if approx == "tanh" else "gelu"


def hf_config(model, pad_id, eos_id, bos_id=None):
    from transformers import SiglipConfig
    trunk, text = model.visual.trunk, model.text
    blk, tblk = trunk.blocks[0], text.transformer.resblocks[0]
    assert isinstance(text.text_projection, torch.nn.Linear), "transformers' Siglip text head is a Linear"
    return SiglipConfig(
        text_config=dict(vocab_size=text.vocab_size, hidden_size=text.width,
                         intermediate_size=tblk.mlp.c_fc.out_features, num_hidden_layers=len(text.transformer.resblocks),
                         num_attention_heads=text.heads, max_position_embeddings=text.context_length,
                         hidden_act=hf_act(tblk.mlp.gelu), layer_norm_eps=text.ln_final.eps,
                         projection_size=text.text_projection.out_features, pad_token_id=pad_id,
                         eos_token_id=eos_id, bos_token_id=bos_id),
        vision_config=dict(hidden_size=trunk.embed_dim, intermediate_size=blk.mlp.fc1.out_features,
                           num_hidden_layers=len(trunk.blocks), num_attention_heads=blk.attn.num_heads,
                           image_size=trunk.patch_embed.img_size[0], patch_size=trunk.patch_embed.patch_size[0],
                           hidden_act=hf_act(blk.mlp.act), layer_norm_eps=trunk.norm.eps))


def openclip_to_hf(sd, n_vis, n_txt):
    """OpenCLIP SigLIP state dict -> transformers SiglipModel state dict (docs/SIGLIP.md has the table).
    timm's fused qkv rows are [q; k; v]; attn_pool.q + attn_pool.kv rows concatenate to the
    MultiheadAttention in_proj [q; k; v]; scalar logit_scale/logit_bias become shape [1]."""
    used = set()

    class _Track(dict):
        def __getitem__(self, k):
            used.add(k)
            return dict.__getitem__(self, k)
    sd = _Track(sd)
    o = {}
    V, T = "visual.trunk.", "text."
    o["vision_model.embeddings.patch_embedding.weight"] = sd[V + "patch_embed.proj.weight"]
    o["vision_model.embeddings.patch_embedding.bias"] = sd[V + "patch_embed.proj.bias"]
    o["vision_model.embeddings.position_embedding.weight"] = sd[V + "pos_embed"][0]
    for i in range(n_vis):
        s, d = "%sblocks.%d." % (V, i), "vision_model.encoder.layers.%d." % i
        for a, b in (("norm1", "layer_norm1"), ("norm2", "layer_norm2"), ("attn.proj", "self_attn.out_proj"),
                     ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for w in ("weight", "bias"):
                o[d + b + "." + w] = sd[s + a + "." + w]
        for w in ("weight", "bias"):
            q, k, v = sd[s + "attn.qkv." + w].chunk(3, dim=0)
            o[d + "self_attn.q_proj." + w], o[d + "self_attn.k_proj." + w], o[d + "self_attn.v_proj." + w] = q, k, v
    for w in ("weight", "bias"):
        o["vision_model.post_layernorm." + w] = sd[V + "norm." + w]
        o["vision_model.head.attention.in_proj_" + w] = torch.cat([sd[V + "attn_pool.q." + w],
                                                                    sd[V + "attn_pool.kv." + w]])
        o["vision_model.head.attention.out_proj." + w] = sd[V + "attn_pool.proj." + w]
        o["vision_model.head.layernorm." + w] = sd[V + "attn_pool.norm." + w]
        o["vision_model.head.mlp.fc1." + w] = sd[V + "attn_pool.mlp.fc1." + w]
        o["vision_model.head.mlp.fc2." + w] = sd[V + "attn_pool.mlp.fc2." + w]
    o["vision_model.head.probe"] = sd[V + "attn_pool.latent"]
    o["text_model.embeddings.token_embedding.weight"] = sd[T + "token_embedding.weight"]
    o["text_model.embeddings.position_embedding.weight"] = sd[T + "positional_embedding"]
    for i in range(n_txt):
        s, d = "%stransformer.resblocks.%d." % (T, i), "text_model.encoder.layers.%d." % i
        for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
                     ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            for w in ("weight", "bias"):
                o[d + b + "." + w] = sd[s + a + "." + w]
        for w in ("weight", "bias"):
            q, k, v = sd[s + "attn.in_proj_" + w].chunk(3, dim=0)
            o[d + "self_attn.q_proj." + w], o[d + "self_attn.k_proj." + w], o[d + "self_attn.v_proj." + w] = q, k, v
    for w in ("weight", "bias"):
        o["text_model.final_layer_norm." + w] = sd[T + "ln_final." + w]
        o["text_model.head." + w] = sd[T + "text_projection." + w]
    o["logit_scale"] = sd["logit_scale"].reshape(1)
    o["logit_bias"] = sd["logit_bias"].reshape(1)
    assert used == set(sd), "OpenCLIP keys not mapped: %s" % sorted(set(sd) - used)
    return {k: v.contiguous().clone() for k, v in o.items()}


def run_hf(hfdir, pixels, tokens):
    from transformers import SiglipModel
    m = SiglipModel.from_pretrained(hfdir, attn_implementation="eager").eval()
    with torch.no_grad():
        img = m.get_image_features(pixel_values=pixels)
        txt = m.get_text_features(input_ids=tokens)
        out = m(input_ids=tokens, pixel_values=pixels)
    return {"img_pooled": img, "txt_raw": txt, "logits": out.logits_per_image,
            "probs": torch.sigmoid(out.logits_per_image)}


def hf_tanh_gap(model, ref):
    """How far transformers' SiglipModel with hidden_act gelu_pytorch_tanh in both towers (its
    default) is from OpenCLIP on a model whose towers use exact GELU: the price of converting such
    weights without carrying the activation over. Informational, nothing is written."""
    from transformers import SiglipModel
    cfg = hf_config(model, 1, 1)
    acts = {"vision": cfg.vision_config.hidden_act, "text": cfg.text_config.hidden_act}
    cfg.vision_config.hidden_act = cfg.text_config.hidden_act = "gelu_pytorch_tanh"
    hf = SiglipModel(cfg).eval()
    hf.load_state_dict(openclip_to_hf(model.state_dict(), len(model.visual.trunk.blocks),
                                      len(model.text.transformer.resblocks)), strict=True)
    with torch.no_grad():
        img = hf.get_image_features(pixel_values=ref["pixels"])
        txt = hf.get_text_features(input_ids=ref["tokens"])
    gap = {"openclip_hidden_act": acts, "max_abs_diff_img_pooled": max_diff(img, ref["img_pooled"]),
           "max_abs_diff_txt_raw": max_diff(txt, ref["txt_raw"])}
    print("  transformers with gelu_pytorch_tanh instead of %s: max |diff| image %.3g, text %.3g"
          % (acts, gap["max_abs_diff_img_pooled"], gap["max_abs_diff_txt_raw"]))
    return gap


def write_hf_twin(model, folder, hfdir, tok_kind, ref, tol=1e-5):
    """transformers' SiglipModel with the same weights: config.json + model.safetensors, tokenizer files
    copied; returns transformers' outputs after checking them against OpenCLIP's (max abs diff < tol)."""
    from transformers import SiglipModel
    gf.fresh_dir(hfdir)
    pad, eos, bos = (0, 1, 2) if tok_kind == "gemma" else (1, 1, None)
    cfg = hf_config(model, pad, eos, bos)
    hf = SiglipModel(cfg).eval()
    sd = model.state_dict()
    hf.load_state_dict(openclip_to_hf(sd, len(model.visual.trunk.blocks), len(model.text.transformer.resblocks)),
                       strict=True)
    hf.save_pretrained(hfdir, safe_serialization=True)
    for f in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(folder, f)):
            shutil.copyfile(os.path.join(folder, f), os.path.join(hfdir, f))
    got = run_hf(hfdir, ref["pixels"], ref["tokens"])
    diffs = {k: max_diff(got[k], ref[k]) for k in got}
    print("  hf twin: max |transformers - OpenCLIP|: " + ", ".join("%s %.2g" % kv for kv in diffs.items()))
    assert all(d < tol for d in diffs.values()), diffs
    return got, diffs, cfg


# ================================================================================================
# tiny fixtures
# ================================================================================================

def gen_variant(variant, vers, tok_models):
    import open_clip
    import safetensors.torch as st
    from open_clip.push_to_hf_hub import save_for_hf
    from open_clip.tokenizer import basic_clean, canonicalize_text
    import sentencepiece as spm

    spec = VARIANTS[variant]
    print("== " + variant + " (from " + spec["base"] + ")")
    cfg, changes = tiny_model_cfg(variant)
    pp, tag = preprocess_cfg(spec["base"])
    folder = os.path.join(OUT, variant)
    with tempfile.TemporaryDirectory() as tmp:
        # 1. build the model as OpenCLIP builds a local-dir model (no weights yet: random init)
        with open(os.path.join(tmp, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": cfg, "preprocess_cfg": pp}, f)
        torch.manual_seed(spec["seed"])
        model = open_clip.create_model("local-dir:" + tmp).eval()
        perturb_(model, spec["seed"])
        # 2. the tokenizer, as SigLipTokenizer made the hub's
        sp_path = os.path.join(tmp, spec["tokenizer"] + ".model")
        with open(sp_path, "wb") as f:
            f.write(tok_models[spec["tokenizer"]])
        hf_tok = make_tokenizer(spec["tokenizer"], sp_path)
        # SigLipTokenizer read the vocabulary from a temporary file gone by the time push_to_hf_hub
        # saved, so the hub repos hold only the fast tokenizer's files: do the same
        os.remove(sp_path)
        assert not hf_tok.can_save_slow_tokenizer
        # 3. written as push_to_hf_hub's save_for_hf writes a repo (safetensors only)
        gf.fresh_dir(folder)
        save_for_hf(model, hf_tok, cfg, folder, safe_serialization=True)
    assert sorted(os.listdir(folder)) == sorted(("open_clip_config.json", "open_clip_model.safetensors")
                                                + TOKENIZER_FILES), os.listdir(folder)

    # 4. reload it the way a user does, and compute
    model2, tok, res = compute_folder(folder)
    for k, v in model.state_dict().items():
        assert torch.equal(model2.state_dict()[k], v), k
    assert type(tok).__name__ == "HFTokenizer"
    # the ids the folder's tokenizer.json gives = SentencePiece's own encoding of the cleaned text + EOS
    sp = spm.SentencePieceProcessor(model_proto=tok_models[spec["tokenizer"]])
    ctx = cfg["text_cfg"]["context_length"]
    pad = 0 if spec["tokenizer"] == "gemma" else 1
    sp_same = 0
    for p, row in zip(PROMPTS, res["tokens"].tolist()):
        ids = sp.encode(canonicalize_text(basic_clean(p)))[:ctx - 1] + [1]
        sp_same += row == ids + [pad] * (ctx - len(ids))
    print("  tokens: %d of %d prompts equal SentencePiece's encoding + EOS, padded with %d"
          % (sp_same, len(PROMPTS), pad))
    assert sp_same == len(PROMPTS)

    with torch.no_grad():
        cos_img = check_diverse("image features", res["img_features"][:4])
        cos_txt = check_diverse("text features", res["txt_features"][[0, 4, 5, 6]])  # 4 short prompts
    probs = res["probs"]
    print("  probs: min %.3f max %.3f mean %.3f" % (probs.min(), probs.max(), probs.mean()))
    assert 0.01 < probs.mean() < 0.99 and probs.max() - probs.min() > 0.2

    info = {"generator": "tools/fixtures_siglip.py tiny", "versions": vers, "variant": variant,
            "base_config": spec["base"], "pretrained_tag_for_preprocess": tag, "seed": spec["seed"],
            "model_cfg": cfg, "preprocess_cfg": pp, "changed_from_base_config": changes,
            "timm_model": {"name": spec["timm"], "timm_model_name": timm_model_name(spec["timm"]),
                           "like": TIMM_TINY[spec["timm"]]["like"],
                           "args": TIMM_TINY[spec["timm"]]["args"]},
            "tokenizer": {"kind": spec["tokenizer"], "class": type(tok.tokenizer).__name__,
                          "pad_id": pad, "eos_id": 1, "clean": "canonicalize", "context_length": ctx,
                          "sentencepiece_equal": True},
            "images": image_paths(), "prompts": PROMPTS, "stage_images": STAGE_IMAGES,
            "stage_prompts": STAGE_PROMPTS,
            "tokens": res["tokens"].tolist(),
            "logit_scale": res["logit_scale"].item(), "logit_bias": res["logit_bias"].item(),
            "max_offdiag_cos": {"images_0_1_2_3": cos_img, "prompts_0_4_5_6": cos_txt},
            "shapes": {k: list(v.shape) for k, v in res.items()}}
    trunk = model2.visual.trunk
    grid = trunk.patch_embed.grid_size
    border = trunk.patch_embed.img_size[0] - grid[0] * trunk.patch_embed.patch_size[0]
    if border:
        # pixels in the remainder rows/columns never reach the conv: changing them changes nothing
        px = res["pixels"][:1].clone()
        with torch.no_grad():
            a = model2.encode_image(px)
            px[..., -border:, :] = 3.0
            px[..., :, -border:] = -3.0
            assert torch.equal(model2.encode_image(px), a)
        info["ignored_border_px"] = border
        print("  image %d px, patch %d: grid %d, the last %d rows/columns are ignored (checked)"
              % (trunk.patch_embed.img_size[0], trunk.patch_embed.patch_size[0], grid[0], border))
    st.save_file(res, os.path.join(folder, "expected.safetensors"))
    if spec.get("hf"):
        got, diffs, hcfg = write_hf_twin(model2, folder, os.path.join(folder, "hf"), spec["tokenizer"], res)
        st.save_file({k: v.contiguous() for k, v in got.items()},
                     os.path.join(folder, "hf", "expected.safetensors"))
        info["hf_twin"] = {"dir": "hf", "max_abs_diff_vs_openclip": diffs,
                           "hidden_act": {"vision": hcfg.vision_config.hidden_act,
                                          "text": hcfg.text_config.hidden_act}}
    elif isinstance(model2.text.text_projection, torch.nn.Linear):
        info["hf_tanh_gap"] = hf_tanh_gap(model2, res)
    info["fp32_vs_fp64"] = fp64_gap(model2, res)
    print("  OpenCLIP fp32 vs fp64: " + ", ".join("%s %.2g" % kv for kv in info["fp32_vs_fp64"].items()))
    gf.write_json(os.path.join(folder, "expected.json"), info)
    return info


def gen_configs(vers):
    """configs.json: every SigLIP config of OpenCLIP 3.3.0, resolved on the meta device."""
    import open_clip
    from open_clip.model import CustomTextCLIP
    names = sorted(n for n in open_clip.list_models() if "siglip" in n.lower())
    out = {"generator": "tools/fixtures_siglip.py tiny", "versions": vers,
           "note": "OpenCLIP 3.3.0 configs naming SigLIP, built with CustomTextCLIP on the meta device; "
                   "nllb-clip-* use an HF text tower (hf_model_name) and are listed without it. "
                   "mlp = hidden width of each MLP; act 'gelu' = exact (erf), 'gelu_tanh' = tanh "
                   "approximation", "configs": {}, "state_dict": {}}
    for name in names:
        cfg = open_clip.get_model_config(name)
        cfg.pop("custom_text", None)
        entry = {"config": copy.deepcopy(cfg)}
        if "hf_model_name" in cfg["text_cfg"]:
            entry["note"] = "HF text tower %s: not built here" % cfg["text_cfg"]["hf_model_name"]
            out["configs"][name] = entry
            continue
        with torch.device("meta"):
            m = CustomTextCLIP(**cfg)
        t, tx = m.visual.trunk, m.text
        b, tb = t.blocks[0], tx.transformer.resblocks[0]
        act = "gelu_tanh" if hf_act(b.mlp.act) == "gelu_pytorch_tanh" else "gelu"
        tact = "gelu_tanh" if hf_act(tb.mlp.gelu) == "gelu_pytorch_tanh" else "gelu"
        sd = m.state_dict()
        entry.update({
            "vision": {"timm_model_name": cfg["vision_cfg"]["timm_model_name"],
                       "img_size": list(t.patch_embed.img_size), "patch": list(t.patch_embed.patch_size),
                       "grid": list(t.patch_embed.grid_size), "width": t.embed_dim, "depth": len(t.blocks),
                       "heads": b.attn.num_heads, "mlp": b.mlp.fc1.out_features, "act": act,
                       "pool_heads": t.attn_pool.num_heads, "pool_mlp": t.attn_pool.mlp.fc1.out_features,
                       "eps": t.norm.eps, "out_dim": t.attn_pool.out_features},
            "text": {"context_length": tx.context_length, "vocab_size": tx.vocab_size, "width": tx.width,
                     "layers": len(tx.transformer.resblocks), "heads": tx.heads, "mlp": tb.mlp.c_fc.out_features,
                     "act": tact, "eps": tx.ln_final.eps, "pool_type": tx.pool_type,
                     "causal_mask": tx.attn_mask is not None,
                     "projection": (list(tx.text_projection.weight.shape) if tx.text_projection is not None
                                    else None)},
            "embed_dim": cfg["embed_dim"], "logit_scale_shape": list(m.logit_scale.shape),
            "init_logit_scale": math.log(1 / 0.07), "init_logit_bias": cfg.get("init_logit_bias"),
            "n_tensors": len(sd), "n_params": sum(v.numel() for v in sd.values())})
        out["configs"][name] = entry
        if name in ("ViT-B-16-SigLIP", "ViT-SO400M-16-SigLIP-i18n-256"):
            out["state_dict"][name] = [[k, list(v.shape)] for k, v in sd.items()]
    gf.write_json(os.path.join(OUT, "configs.json"), out)
    print("configs.json: %d configs" % len(out["configs"]))


def generate(vers=None):
    """The committed fixtures (tests/fixtures/siglip/)."""
    vers = {**(vers or {}), **versions()}
    assert os.environ.get("TIMM_USE_NAFLEXVIT", "false").lower() != "true", "TIMM_USE_NAFLEXVIT changes the keys"
    gf.fresh_dir(OUT)
    write_timm_configs()
    make_images(os.path.join(OUT, "img"))
    tok_models = {k: train_sentencepiece(k) for k in ("t5", "gemma")}
    man = {"generator": "tools/fixtures_siglip.py tiny", "versions": vers,
           "images": image_paths(), "prompts": len(PROMPTS), "stage_images": STAGE_IMAGES,
           "stage_prompts": STAGE_PROMPTS,
           "timm_test_models": TIMM_TINY, "variants": {}}
    for v in VARIANTS:
        info = gen_variant(v, vers, tok_models)
        man["variants"][v] = {k: info[k] for k in ("base_config", "seed", "timm_model", "tokenizer",
                                                   "changed_from_base_config")}
        if "hf_twin" in info:
            man["variants"][v]["hf_twin"] = info["hf_twin"]
    gen_configs(vers)
    gf.write_json(os.path.join(OUT, "manifest.json"), man)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print("siglip: %d variants, %.2f MB in %s" % (len(VARIANTS), total / 1e6, OUT))
    verify()


def verify():
    """Recompute every committed result from the committed files (OpenCLIP local-dir loading,
    its tokenizer and transform; transformers for the HF twin) and compare."""
    import safetensors.torch as st
    worst = 0.0
    for v, spec in VARIANTS.items():
        folder = os.path.join(OUT, v)
        want = st.load_file(os.path.join(folder, "expected.safetensors"))
        info = json.load(open(os.path.join(folder, "expected.json")))
        _, _, got = compute_folder(folder)
        assert sorted(got) == sorted(want), v
        assert torch.equal(got["tokens"], want["tokens"]) and got["tokens"].tolist() == info["tokens"]
        assert torch.equal(got["pixels"], want["pixels"]), v
        for k in want:
            d = max_diff(got[k], want[k])
            worst = max(worst, d)
            assert d <= 1e-6, (v, k, d)
        if spec.get("hf"):
            hw = st.load_file(os.path.join(folder, "hf", "expected.safetensors"))
            hg = run_hf(os.path.join(folder, "hf"), want["pixels"], want["tokens"])
            for k in hw:
                assert max_diff(hg[k], hw[k]) <= 1e-6 and max_diff(hw[k], want[k]) < 1e-5, (v, k)
    print("verify: %d variants recomputed from the committed files, max |diff| %.3g" % (len(VARIANTS), worst))


# ================================================================================================
# full size (not committed)
# ================================================================================================

def gen_full(name, out, hf=True):
    """A full-size model of config `name` with perturbed random weights, hub-style folder as the tiny
    ones, with expected.safetensors for 2 images and 4 token rows. There is no real tokenizer offline,
    so the token rows are synthetic (random ids, EOS 1, then the config's padding: 1 for the T5
    vocabularies, 0 for Gemma's); the tokenizer files are absent."""
    import open_clip
    import safetensors.torch as st
    from PIL import Image
    vers = versions()
    gf.fresh_dir(out)
    cfg = copy.deepcopy(open_clip.get_model_config(name))
    pp, tag = preprocess_cfg(name)
    gf.write_json(os.path.join(out, "open_clip_config.json"), {"model_cfg": cfg, "preprocess_cfg": pp})
    torch.manual_seed(0)
    model = open_clip.create_model("local-dir:" + out).eval()
    perturb_(model, 7, qk_gain=1.0)  # at full width, 1/sqrt(fan_in) q/k already give peaked attention
    st.save_file(model.state_dict(), os.path.join(out, "open_clip_model.safetensors"))
    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + out)
    model.eval()
    pixels = torch.stack([preprocess(Image.open(os.path.join(gf.ROOT, p))) for p in EXAMPLES[:2]])
    ctx, vocab = model.text.context_length, model.text.vocab_size
    pad = 0 if vocab == 256000 else 1
    g = torch.Generator().manual_seed(1)
    rows = []
    for n in (0, 5, ctx // 2, ctx - 1):
        r = torch.full((ctx,), pad, dtype=torch.long)
        r[:n] = torch.randint(3, vocab, (n,), generator=g)
        r[n] = 1
        rows.append(r)
    tokens = torch.stack(rows)
    res = run_openclip(model, pixels, tokens, len(pixels), len(tokens))
    st.save_file(res, os.path.join(out, "expected.safetensors"))
    info = {"generator": "tools/fixtures_siglip.py full", "versions": vers, "config": name,
            "pretrained_tag_for_preprocess": tag, "images": EXAMPLES[:2], "tokens": tokens.tolist(),
            "shapes": {k: list(v.shape) for k, v in res.items()}, "fp32_vs_fp64": fp64_gap(model, res)}
    print("  OpenCLIP fp32 vs fp64: " + ", ".join("%s %.2g" % kv for kv in info["fp32_vs_fp64"].items()))
    if hf and isinstance(model.text.text_projection, torch.nn.Linear):
        tol = max(1e-5, 4 * max(info["fp32_vs_fp64"].values()))
        got, diffs, hcfg = write_hf_twin(model, out, os.path.join(out, "hf"), "none", res, tol)
        st.save_file({k: v.contiguous() for k, v in got.items()}, os.path.join(out, "hf", "expected.safetensors"))
        info["hf_twin"] = {"max_abs_diff_vs_openclip": diffs, "tolerance": tol}
    gf.write_json(os.path.join(out, "expected.json"), info)
    print("full: %s -> %s" % (name, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["tiny", "verify", "full"])
    ap.add_argument("--config", default="ViT-B-16-SigLIP", help="full: the OpenCLIP config name")
    ap.add_argument("--out", default=os.path.join(gf.ROOT, "build", "siglip_full"), help="full: output folder")
    ap.add_argument("--no-hf", action="store_true", help="full: skip the transformers twin")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    os.chdir(gf.ROOT)
    if args.what == "tiny":
        vers = versions()
        print("versions:", ", ".join("%s %s" % kv for kv in vers.items()))
        generate(vers)
    elif args.what == "verify":
        verify()
    else:
        gen_full(args.config, args.out, hf=not args.no_hf)


if __name__ == "__main__":
    main()
