#!/usr/bin/env python3
"""Fixtures for OpenCLIP's Hugging Face text towers (open_clip hf_model.py HFTextEncoder:
src/nn/hf_text.c, src/model/hftext.c, tests/test_hftext.c, tests/cli_hftext.sh).

    .venv/bin/python tools/fixtures_hftext.py

Nothing is downloaded. Each variant is an OpenCLIP model with the real config structure of
`xlm-roberta-base-ViT-B-32` (OpenCLIP's own copy of the config; only the sizes changed: a tiny ViT
(image 64, patch 16, width 64, 2 layers) and embed_dim 32), whose text tower is XLM-RoBERTa built by HFTextEncoder from a small
XLMRobertaConfig (2 layers, hidden 64, 4 heads, intermediate 128; vocabulary from the tokenizer,
the other values those of xlm-roberta-base's published config.json). OpenCLIP reads that config
with AutoConfig.from_pretrained('xlm-roberta-base'): it lies in a Hugging Face cache written here
(tests/fixtures/hftext/hub: models--xlm-roberta-base/refs/main + snapshots/<commit>/config.json),
and the generator runs with HF_HUB_CACHE pointing at it and HF_HUB_OFFLINE=1.

Variants (folder tests/fixtures/hftext/<variant>, laid out as a hub repo by OpenCLIP's
push_to_hf_hub.save_for_hf: open_clip_config.json, open_clip_model.safetensors, the tokenizer's
files):
  xlmr        the real config's text_cfg: hf_pooler_type mean_pooler, hf_proj_type default 'mlp'
              (Linear(64, 48) - GELU - Linear(48, 32), no biases)
  xlmr_cls    hf_pooler_type cls_pooler (the transformers pooler: tanh(dense(h[:, 0]))) and
              hf_proj_type linear, as the NLLB-CLIP configs set them
  xlmr_last   cls_last_hidden_state_pooler with hf_proj_type null and embed_dim = hidden (64):
              the projection is nn.Identity

The tokenizer: a SentencePiece Unigram model trained on a generated caption corpus with the
nmt_nfkc rule, converted by transformers' XLMRobertaTokenizerFast (XLMRobertaConverter) as the
hub's xlm-roberta-base tokenizer.json was made: <s> 0, <pad> 1, </s> 2, <unk> 3, pieces offset
by one, <mask> last.

Weights: seeded random, every parameter redrawn (LayerNorm weights 1 + N(0, 0.25), biases
N(0, 0.1), matrices N(0, 1/fan_in), embeddings N(0, 1), position and token-type embeddings
N(0, 0.2)), so no identity or no-op remains.

expected.safetensors per variant: tokens [P, 77] (OpenCLIP's HFTokenizer on the prompts),
txt_features [P, E] (model.encode_text, unnormalized), img_features [I, E], pixels [I, 3, 64, 64], logits [I, P], and for the first prompts: hf_last [S, 77, 64] (the transformer's
last_hidden_state), hf_pooled [S, 64] (the pooler's output, before the projection); odd_tokens
[3, 77] rows no tokenizer makes (a pad id inside the text, one at position 0, none at all) and
odd_features their encode_text.
expected.json: versions, configs, the tokens as lists, the HF config.

state_dicts.json: for roberta-ViT-B-32, xlm-roberta-base-ViT-B-32 and xlm-roberta-large-ViT-H-14,
the keys and shapes of the model OpenCLIP builds (on the meta device) when AutoConfig reads the
published config.json of the HF model the config names (PUBLISHED, written to a temporary cache).
"""
import copy
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "hftext")
HUB = os.path.join(OUT, "hub")
# huggingface_hub reads these when it is imported
if "--meta" not in sys.argv:  # the child of gen_state_dicts gets its own
    os.environ["HF_HUB_CACHE"] = HUB
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools"))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

HF_NAME = "xlm-roberta-base"
COMMIT = "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089"  # any 40 hex digits: the snapshot folder
# xlm-roberta-base's published config.json (the hub repo FacebookAI/xlm-roberta-base) with the
# sizes made small; vocab_size is set from the tokenizer
HF_SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-05,
                pad_token_id=1, bos_token_id=0, eos_token_id=2, hidden_act="gelu",
                hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02,
                position_embedding_type="absolute", use_cache=True, classifier_dropout=None)

VARIANTS = {
    "xlmr": dict(seed=11, embed_dim=32, text={}),
    "xlmr_cls": dict(seed=12, embed_dim=32,
                     text={"hf_pooler_type": "cls_pooler", "hf_proj_type": "linear"}),
    "xlmr_last": dict(seed=13, embed_dim=64,
                      text={"hf_pooler_type": "cls_last_hidden_state_pooler", "hf_proj_type": None}),
}
VISION = {"image_size": 64, "layers": 2, "width": 64, "head_width": 16, "patch_size": 16}

PROMPTS = [
    "a photo of a cat",
    "a photo of a dog",
    "Ein Foto einer Katze",
    "une photo d'un chien sur la plage",
    "猫の写真",
    "фотография кошки",
    "  a  photo\tof   the city at night  ",
    "",
    "a diagram",
    "qx zzq unknown words vbnm",
    " ".join(["a photo of a red car on the street"] * 12),  # truncated at 77
    "صورة قطة",
]
N_STAGE = 4

WORDS = ("a photo of the cat dog car tree house person people woman man child bird flower "
         "picture image small large big little red green blue yellow black white orange on in at "
         "with and or of by for from sitting standing running playing water beach mountain city "
         "street night day sky cloud snow rain food plate table chair room window door diagram "
         "ein foto einer katze une d'un chien sur la plage das haus el perro le chat").split()
LATIN = "abcdefghijklmnoprstuvwyz"
CYRILLIC = "абвгдежзийклмнопрстуфхцчшщыэюя"
CJK = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 600, 7))
FOREIGN = "猫 写真 の 東京 фотография кошки собака صورة قطة कुत्ता Ελλάδα über café".split()


def corpus():
    rng = random.Random(5)
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 12)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(WORDS))
            elif r < 0.75:
                parts.append(rng.choice(FOREIGN))
            else:  # pseudo words, so the vocabulary has room to grow
                abc = rng.choice([LATIN, CYRILLIC, CJK])
                parts.append("".join(rng.choice(abc) for _ in range(rng.randint(2, 6))))
        lines.append(" ".join(parts))
    return lines


def train_sentencepiece():
    """SentencePiece Unigram as XLM-R's sentencepiece.bpe.model: unk 0, bos 1, eos 2, no pad."""
    import sentencepiece as spm
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=buf,
                                   model_type="unigram", vocab_size=600, character_coverage=1.0,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
                                   normalization_rule_name="nmt_nfkc", num_threads=1,
                                   minloglevel=2, seed_sentencepiece_size=100000,
                                   shuffle_input_sentence=False)
    return buf.getvalue()


def write_hub(vocab, name=HF_NAME, cfg=None):
    """The fake Hugging Face cache OpenCLIP's AutoConfig.from_pretrained(name) reads."""
    from transformers import XLMRobertaConfig
    if cfg is None:
        cfg = XLMRobertaConfig(vocab_size=vocab, **HF_SMALL)
    repo = os.path.join(HUB, "models--" + name.replace("/", "--"))
    snap = os.path.join(repo, "snapshots", COMMIT)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    os.makedirs(snap, exist_ok=True)
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(COMMIT)
    cfg.to_json_file(os.path.join(snap, "config.json"))
    with open(os.path.join(snap, "config.json")) as f:
        return json.load(f)


def perturb_(model, seed):
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
            elif "position_embeddings" in name or "token_type_embeddings" in name or \
                    leaf == "positional_embedding":
                v = n(0.2)
            elif name.endswith("embed_tokens.weight"):
                v = n(1.0 / math.sqrt(p.shape[1]))  # M2M100 scales them by sqrt(d_model)
            elif isinstance(mod, torch.nn.Embedding):
                v = n(1.0)
            elif p.ndim >= 2:
                v = n((3.0 if p.ndim == 4 else 1.0) / math.sqrt(p[0].numel()))
                if name.endswith(("query.weight", "key.weight", "q_proj.weight", "k_proj.weight")):
                    v *= 2.0  # peaked attention: positions matter
            else:
                v = n(0.1)
            p.copy_(v)
    return model


def images(size=64):
    rng = np.random.default_rng(3)
    out = []
    for i in range(3):
        base = rng.normal(0, 1, (3, 1, 1)) * 0.5
        out.append(torch.tensor(base + rng.normal(0, 1, (3, size, size)), dtype=torch.float32))
    return torch.stack(out)


def gen_variant(name, spec, tok_dir, hf_cfg, vers):
    import open_clip
    import safetensors.torch as st
    from open_clip.push_to_hf_hub import save_for_hf
    base_name = spec.get("base", "xlm-roberta-base-ViT-B-32")
    base = copy.deepcopy(open_clip.get_model_config(base_name))
    cfg = copy.deepcopy(base)
    cfg["embed_dim"] = spec["embed_dim"]
    if "vision" in spec:  # the base's timm tower with the name and size changed
        cfg["vision_cfg"].update(spec["vision"])
    else:
        cfg["vision_cfg"] = dict(VISION)
    for k, v in spec["text"].items():
        cfg["text_cfg"][k] = v
    folder = os.path.join(OUT, name)
    gf.fresh_dir(folder)
    print("== %s" % name)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": cfg, "preprocess_cfg": {}}, f)
        for fn in os.listdir(tok_dir):
            shutil.copy(os.path.join(tok_dir, fn), tmp)
        torch.manual_seed(spec["seed"])
        # no weights in tmp: OpenCLIP would load the pretrained HF text weights; build the
        # architecture with hf_model_pretrained False (AutoModel.from_config), as a checkpoint
        # load does
        model = open_clip.create_model("local-dir:" + tmp, pretrained_text=False).eval()
        perturb_(model, spec["seed"])
        tok = open_clip.get_tokenizer("local-dir:" + tmp)
        save_for_hf(model, tok, cfg, folder, safe_serialization=True)
    # reload as a user does
    model = open_clip.create_model("local-dir:" + folder).eval()
    tok = open_clip.get_tokenizer("local-dir:" + folder)
    assert type(model.text).__name__ == "HFTextEncoder"
    tokens = tok(PROMPTS)
    pixels = images(cfg["vision_cfg"]["image_size"])
    te = model.text
    with torch.no_grad():
        txt = model.encode_text(tokens)
        img = model.encode_image(pixels)
        logits = model.get_logits(pixels, tokens)[0]
        mask = (tokens[:N_STAGE] != te.config.pad_token_id).long()
        out = te.transformer(input_ids=tokens[:N_STAGE], attention_mask=mask)
        pooled = te.pooler(out, mask)
        txt64 = copy.deepcopy(model).double().encode_text(tokens)
        # rows no tokenizer makes (hand-built): a pad id inside the text, a pad id at position 0
        # (the cls poolers read it), no pad at all
        odd = torch.full((3, tokens.shape[1]), te.config.pad_token_id, dtype=torch.long)
        odd[0, :6] = torch.tensor([0, 18, 1, 132, 1, 2])
        odd[1, :4] = torch.tensor([1, 18, 132, 2])
        odd[2] = tokens[10]
        odd[2, -1] = 5
        odd_feat = model.encode_text(odd)
    gap = (txt64.float() - txt).abs().max().item()
    c = torch.nn.functional.normalize(txt, dim=-1)
    offd = (c @ c.T)[~torch.eye(len(c), dtype=torch.bool)].max().item()
    print("  text features: max off-diagonal cos %.4f, fp32 vs fp64 %.2g" % (offd, gap))
    assert offd < 0.995, offd
    res = {"tokens": tokens.contiguous(), "txt_features": txt.contiguous(),
           "img_features": img.contiguous(), "pixels": pixels.contiguous(),
           "logits": logits.contiguous(), "hf_last": out.last_hidden_state.contiguous(),
           "hf_pooled": pooled.contiguous(), "odd_tokens": odd.contiguous(),
           "odd_features": odd_feat.contiguous()}
    st.save_file(res, os.path.join(folder, "expected.safetensors"))
    keys = list(model.state_dict().keys())
    info = {"generator": "tools/fixtures_hftext.py", "versions": vers, "variant": name,
            "base_config": base_name, "model_cfg": cfg, "hf_config": hf_cfg,
            "hf_cache": "hub (models--%s)" % cfg["text_cfg"]["hf_model_name"].replace("/", "--"), "prompts": PROMPTS, "n_stage": N_STAGE,
            "tokens": tokens.tolist(), "pad_id": te.config.pad_token_id,
            "text_keys": [k for k in keys if k.startswith("text.")],
            "pooler": type(te.pooler).__name__, "proj": type(te.proj).__name__,
            "fp32_vs_fp64_text": gap, "logit_scale": model.logit_scale.item()}
    gf.write_json(os.path.join(folder, "expected.json"), info)
    return info


# The published config.json of the hub repositories the built-in configs name (FacebookAI/...);
# src/model/hftext.c builds the same values in
PUBLISHED = {
    "roberta-base": ("roberta", 50265, 768, 12, 12, 3072),
    "xlm-roberta-base": ("xlm-roberta", 250002, 768, 12, 12, 3072),
    "xlm-roberta-large": ("xlm-roberta", 250002, 1024, 24, 16, 4096),
}
BUILTIN_ARCHS = ["roberta-ViT-B-32", "xlm-roberta-base-ViT-B-32", "xlm-roberta-large-ViT-H-14",
                 "nllb-clip-base", "nllb-clip-large", "nllb-clip-base-siglip",
                 "nllb-clip-large-siglip"]
# facebook/nllb-200-distilled-600M and -1.3B: M2M100, vocabulary 256206, d_model 1024, 16 heads
PUBLISHED_NLLB = {"facebook/nllb-200-distilled-600M": (12, 4096),
                  "facebook/nllb-200-distilled-1.3B": (24, 8192)}


def gen_state_dicts(vers):
    """state_dicts.json: the keys and shapes of OpenCLIP's model for each built-in HF-text config,
    built on the meta device from the published HF configs (in a temporary cache, read by a
    child process: huggingface_hub reads HF_HUB_CACHE when imported)."""
    import subprocess
    from transformers import RobertaConfig, XLMRobertaConfig
    with tempfile.TemporaryDirectory() as tmp:
        for name, (mt, vocab, hidden, layers, heads, inter) in PUBLISHED.items():
            cls = RobertaConfig if mt == "roberta" else XLMRobertaConfig
            cfg = cls(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=inter,
                      max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-05,
                      pad_token_id=1, bos_token_id=0, eos_token_id=2)
            repo = os.path.join(tmp, "models--" + name)
            os.makedirs(os.path.join(repo, "snapshots", COMMIT))
            os.makedirs(os.path.join(repo, "refs"))
            with open(os.path.join(repo, "refs", "main"), "w") as f:
                f.write(COMMIT)
            cfg.to_json_file(os.path.join(repo, "snapshots", COMMIT, "config.json"))
        from transformers import M2M100Config
        for name, (layers, ffn) in PUBLISHED_NLLB.items():
            cfg = M2M100Config(vocab_size=256206, d_model=1024, encoder_layers=layers,
                               decoder_layers=layers, encoder_attention_heads=16,
                               decoder_attention_heads=16, encoder_ffn_dim=ffn,
                               decoder_ffn_dim=ffn, max_position_embeddings=1024,
                               scale_embedding=True, activation_function="relu", pad_token_id=1)
            repo = os.path.join(tmp, "models--" + name.replace("/", "--"))
            os.makedirs(os.path.join(repo, "snapshots", COMMIT))
            os.makedirs(os.path.join(repo, "refs"))
            with open(os.path.join(repo, "refs", "main"), "w") as f:
                f.write(COMMIT)
            cfg.to_json_file(os.path.join(repo, "snapshots", COMMIT, "config.json"))
        env = dict(os.environ, HF_HUB_CACHE=tmp)
        res = subprocess.run([sys.executable, os.path.abspath(__file__), "--meta"], env=env,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-3000:]
        out = json.loads(res.stdout)
    for arch, sd in out.items():
        print("  %s: %d tensors" % (arch, len(sd)))
    gf.write_json(os.path.join(OUT, "state_dicts.json"),
                  {"generator": "tools/fixtures_hftext.py", "versions": vers,
                   "published_hf_configs": PUBLISHED, "state_dicts": out})


def meta_state_dicts():
    import open_clip
    out = {}
    for arch in BUILTIN_ARCHS:
        with torch.device("meta"):
            model = open_clip.create_model(arch, pretrained_text=False, device="meta")
        out[arch] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    json.dump(out, sys.stdout)


NLLB_NAME = "facebook/nllb-200-distilled-600M"
# facebook/nllb-200-distilled-600M's published config.json with the sizes made small
NLLB_SMALL = dict(d_model=64, encoder_layers=2, decoder_layers=1, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
                  max_position_embeddings=1024, scale_embedding=True, activation_function="relu",
                  pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                  dropout=0.1, attention_dropout=0.1, activation_dropout=0.0)


def gen_nllb(tmp, vers):
    """nllb: the real nllb-clip-base config (cls_pooler, linear) over NLLB's M2M100 encoder, with
    a SentencePiece BPE model converted by NllbTokenizerFast (language codes, eng_Latn first)."""
    import sentencepiece as spm
    from transformers import M2M100Config, NllbTokenizerFast
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus()), model_writer=buf,
                                   model_type="bpe", vocab_size=600, character_coverage=1.0,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1,
                                   minloglevel=2, shuffle_input_sentence=False)
    sp_path = os.path.join(tmp, "nllb.model")
    with open(sp_path, "wb") as f:
        f.write(buf.getvalue())
    fast = NllbTokenizerFast(vocab_file=sp_path)
    tok_dir = os.path.join(tmp, "tok_nllb")
    fast.save_pretrained(tok_dir)
    for fn in os.listdir(tok_dir):
        if fn.endswith(".model"):
            os.remove(os.path.join(tok_dir, fn))
    print("nllb tokenizer: %d ids (pad %d)" % (len(fast), fast.pad_token_id))
    hf_cfg = write_hub(len(fast), NLLB_NAME, M2M100Config(vocab_size=len(fast), **NLLB_SMALL))
    info = gen_variant("nllb", dict(seed=14, embed_dim=32, base="nllb-clip-base", text={}),
                       tok_dir, hf_cfg, vers)
    # nllb_siglip: the real nllb-clip-base-siglip config (a timm SigLIP image tower, logit_bias)
    # with fixtures_siglip's tiny tower vit_test_patch8_siglip_32 (img 32, width 48)
    # (named by its timm config folder, as timm's local-dir: source reads it)
    import fixtures_siglip
    gen_variant("nllb_siglip", dict(seed=15, embed_dim=48, base="nllb-clip-base-siglip", text={},
                                    vision={"timm_model_name":
                                            fixtures_siglip.timm_model_name("vit_test_patch8_siglip_32"),
                                            "image_size": 32}),
                tok_dir, hf_cfg, vers)
    return info


def main():
    import sentencepiece as spm
    import tokenizers
    import transformers
    import open_clip
    from transformers import XLMRobertaTokenizerFast
    vers = gf.versions()
    vers.update({"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                 "sentencepiece": spm.__version__, "open_clip": open_clip.__version__})
    if os.path.isdir(HUB):
        shutil.rmtree(HUB)
    sp_model = train_sentencepiece()
    with tempfile.TemporaryDirectory() as tmp:
        sp_path = os.path.join(tmp, "sentencepiece.bpe.model")
        with open(sp_path, "wb") as f:
            f.write(sp_model)
        fast = XLMRobertaTokenizerFast(vocab_file=sp_path)
        tok_dir = os.path.join(tmp, "tok")
        fast.save_pretrained(tok_dir)
        # a hub repo saved by push_to_hf_hub holds only the fast tokenizer's files
        for fn in os.listdir(tok_dir):
            if fn.endswith(".model"):
                os.remove(os.path.join(tok_dir, fn))
        vocab = len(fast)
        hf_cfg = write_hub(vocab)
        print("tokenizer: %d ids (pad %d)" % (vocab, fast.pad_token_id))
        # the tokenizer.json ids equal SentencePiece's own (offset by one, <s> ... </s>)
        sp = spm.SentencePieceProcessor(model_proto=sp_model)
        tk = tokenizers.Tokenizer.from_file(os.path.join(tok_dir, "tokenizer.json"))
        for p in PROMPTS[:10]:
            ids = [0] + [i + 1 if i else 3 for i in sp.encode(p)] + [2]
            assert tk.encode(p).ids == ids, (p, tk.encode(p).ids, ids)
        infos = {n: gen_variant(n, s, tok_dir, hf_cfg, vers) for n, s in VARIANTS.items()}
        infos["nllb"] = gen_nllb(tmp, vers)
    gen_state_dicts(vers)
    gf.write_json(os.path.join(OUT, "manifest.json"),
                  {"generator": "tools/fixtures_hftext.py", "versions": vers,
                   "variants": sorted(infos), "hf_model_name": HF_NAME, "commit": COMMIT})


if __name__ == "__main__":
    if sys.argv[1:] == ["--meta"]:
        meta_state_dicts()
    else:
        main()
