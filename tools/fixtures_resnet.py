#!/usr/bin/env python3
"""`resnet` fixtures: tiny OpenAI ModifiedResNet CLIP models (open_clip modified_resnet.py) built by
OpenCLIP 3.3.0 from the real RN50 / RN50x4-quickgelu config structure with only the sizes shrunk, and
what OpenCLIP computes with them, stage by stage.

    .venv/bin/python tools/fixtures_resnet.py          # tests/fixtures/resnet/ (committed)
    .venv/bin/python tools/fixtures_resnet.py verify   # recompute from the committed files and compare
    .venv/bin/python tools/fixtures_resnet.py full [RN50 ...] [--out build/resnet_full]
        # full-size configs, random weights made the same way, not committed: <out>/<config>/ with
        # open_clip_config.json, open_clip_model.safetensors, pixels.npy (the 5 images) and
        # img_features.npy (OpenCLIP's encode_image(normalize=True)); then
        #   oclip embed-image -m <out>/<config> --pixels pixels.npy -o got.npy
        # and compare (the command prints the comparison when given --check BUILD/oclip, and
        # both fp32 results against the model in fp64 with --fp64)

Variants (tests/fixtures/resnet/<variant>/, laid out as OpenCLIP's push_to_hf_hub writes a hub repo):
  rn50_tiny   RN50's config (exact GELU text tower) with layers [2, 1, 1, 2] (layer1 and layer4 have a
              block without downsample, every layer a first block with one), width 8 (attnpool width
              256, 4 heads of 64), image_size 96 (the smallest multiple of 32 with an odd 3x3 final
              grid), embed_dim 24, text width 8 / 2 heads / 1 layer over the real 49408-token
              vocabulary, context 77
  rn50x4_tiny RN50x4-quickgelu's config (QuickGELU) with layers [1, 1, 1, 1], width 10 (attnpool
              width 320, 5 heads), image_size 64 (2x2 grid), embed_dim 16, text width 8
Each holds
  open_clip_config.json        {"model_cfg", "preprocess_cfg"}: preprocess_cfg is OpenAI's (mean/std,
                               bicubic, shortest side + center crop)
  open_clip_model.safetensors  the weights (F32, with BatchNorm's int64 num_batches_tracked counters
                               as model.state_dict() holds them)
  expected.json                images, prompts, changes to the real config, pairwise cosines of the
                               image features (different images must differ), fp32_vs_fp64
  expected.safetensors         OpenCLIP 3.3.0 fp32 outputs:
      pixels [N,3,S,S]         the model's inference transform of each image
      stem [1,w,S/4,S/4]       visual.stem(x) of the first image (NCHW)
      layer1..layer4 [1,...]   after each residual layer, first image
      img_pooled [N,E]         encode_image(normalize=False) (the attention pool's output)
      img_features [N,E]       encode_image(normalize=True)
      tokens [P,77] I64        open_clip.get_tokenizer(...)(prompts)
      txt_features [P,E]       encode_text(normalize=True)
      logits [N,P]             get_logits(...)[0]
rn50_tiny also has openai.pt: the same weights as an OpenAI-style TorchScript archive (traced
model with the int64 root buffers input_resolution / context_length / vocab_size and the causal mask
as a constant, convolutions / Linear layers / projections cast to fp16 and BatchNorm kept fp32, as
OpenAI's RN50.pt), and expected.safetensors openai_img_features [N,E]: what OpenCLIP computes from
that archive (its weights upcast, as load_openai_model on CPU).

Random weights: every parameter drawn anew (so no constant initialisation survives: BatchNorm weights
around 1 and bn3.weight, zero in OpenCLIP's init, too; biases; LayerNorms), then the BatchNorm running
statistics calibrated on the fixture's own images (train-mode cumulative averages, so activations
stay in range through the layers) and perturbed (mean +- 0.1 std, var x [0.8, 1.25]) so that no BN
is an exact normalisation.
"""

import copy
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_common as fc  # noqa: E402
import gen_fixtures as gf  # noqa: E402

OUT = fc.out_dir("resnet")
IMAGES = fc.FIVE_IMAGES
PROMPTS = fc.FIVE_PROMPTS
PREPROCESS = fc.OPENAI_PREPROCESS
TEXT = fc.TINY_TEXT
VARIANTS = {
    "rn50_tiny": ("RN50", 11, {"embed_dim": 24,
                               "vision_cfg": {"image_size": 96, "layers": [2, 1, 1, 2], "width": 8,
                                              "patch_size": None},
                               "text_cfg": TEXT}),
    "rn50x4_tiny": ("RN50x4-quickgelu", 12, {"embed_dim": 16, "quick_gelu": True,
                                             "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1],
                                                            "width": 10, "patch_size": None},
                                             "text_cfg": TEXT}),
}


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.split(".")[-1]
            mod = name.split(".")[-2] if "." in name else ""
            n = lambda std: torch.randn(p.shape, generator=g) * std  # noqa: E731
            if name == "logit_scale":
                v = math.log(1 / 0.07) + n(0.02)
            elif p.ndim == 1 and leaf == "weight" and (mod.startswith("bn") or mod == "1"):
                v = 1.0 + n(0.25)  # BatchNorm gamma (bn3 included: OpenCLIP zero-inits it)
            elif p.ndim == 1 and leaf == "weight" and "ln" in mod:
                v = 1.0 + n(0.1)
            elif name == "text_projection":
                v = n(1 / math.sqrt(p.shape[0]))
            elif name.endswith("embedding") or name == "token_embedding.weight":
                v = n(0.5)
            elif p.ndim >= 2:
                v = n(1 / math.sqrt(p[0].numel()))
            else:
                v = n(0.1)
            p.copy_(v)
    return model


def calibrate(model, pixels, seed):
    """BatchNorm running statistics from the images (cumulative, train mode), then perturbed."""
    bns = [m for m in model.visual.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.visual.train()
    with torch.no_grad():
        model.visual(pixels)
    model.visual.eval()
    g = torch.Generator().manual_seed(seed + 500)
    with torch.no_grad():
        for m in bns:
            m.momentum = 0.1
            sd = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.1 * sd)
            m.running_var.mul_(torch.exp(torch.empty(m.running_var.shape).uniform_(
                math.log(0.8), math.log(1.25), generator=g)))
    return model


def stages(model, x):
    v = model.visual
    out = {}
    with torch.no_grad():
        h = v.stem(x)
        out["stem"] = h
        for i in range(1, 5):
            h = getattr(v, "layer%d" % i)(h)
            out["layer%d" % i] = h
    return out


def outputs(model, tokenizer, pixels):
    return fc.clip_outputs(model, tokenizer(PROMPTS), pixels, stages)


def build(variant):
    import open_clip
    base, seed, cfg = VARIANTS[variant]
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**cfg).eval()
    assert isinstance(model.visual, open_clip.modified_resnet.ModifiedResNet)
    pixels = fc.image_pixels(cfg["vision_cfg"]["image_size"], PREPROCESS, IMAGES)
    randomize(model, seed)
    calibrate(model, pixels, seed)
    return model, pixels


def generate():
    import open_clip
    gf.fresh_dir(OUT)
    tokenizer = open_clip.get_tokenizer("RN50")
    for variant, (base, seed, cfg) in VARIANTS.items():
        d = os.path.join(OUT, variant)
        os.makedirs(d)
        model, pixels = build(variant)
        fc.save_hub_folder(d, model.state_dict(), cfg, PREPROCESS)
        # the hub repo as OpenCLIP loads it gives the same model
        res = fc.reloaded_outputs(d, model, lambda m: outputs(m, tokenizer, pixels), variant)
        # fp64 run: OpenCLIP's own fp32 rounding on these outputs
        gap = fc.fp64_gap(model, pixels, res["img_features"])
        cos, off = fc.distinct_images(res["img_features"], len(IMAGES), 0.99)
        if variant == "rn50_tiny":
            res["openai_img_features"] = openai_pt(model, pixels, res["tokens"], cfg,
                                                   os.path.join(d, "openai.pt"))
        fc.save_tensors(os.path.join(d, "expected.safetensors"), res)
        real = open_clip.get_model_config(base)
        gf.write_json(os.path.join(d, "expected.json"), {
            "variant": variant, "real_config": base, "real_model_cfg": real,
            "changes": "vision_cfg layers/width/image_size, embed_dim and text_cfg width/heads/"
                       "layers shrunk; everything else as the real config",
            "images": IMAGES, "prompts": PROMPTS, "image_cosines": cos,
            "max_offdiag_cosine": off, "fp32_vs_fp64": gap,
            "heads": model.visual.attnpool.num_heads,
            "open_clip": open_clip.__version__, "torch": torch.__version__,
        })
        print(variant, "max offdiag cos %.4f, fp32 vs fp64 %.2e" % (off, gap))


def openai_pt(model, pixels, tokens, cfg, path):
    """OpenAI-style TorchScript archive (as tools/gen_fixtures.py _arch_openai_worker): traced in
    fp32, then OpenAI's convert_weights cast (convolutions, Linear layers and projections to fp16;
    BatchNorm and attnpool.positional_embedding stay fp32, as in OpenAI's RN50.pt). Returns what
    OpenCLIP computes from it on CPU (load_openai_model: the state dict upcast into an fp32 model):
    the normalized image features."""
    m = copy.deepcopy(model)
    mask = m.attn_mask
    del m._buffers["attn_mask"]
    m.attn_mask = mask
    del m.context_length, m.vocab_size
    m.register_buffer("input_resolution", torch.tensor(cfg["vision_cfg"]["image_size"]))
    m.register_buffer("context_length", torch.tensor(cfg["text_cfg"]["context_length"]))
    m.register_buffer("vocab_size", torch.tensor(cfg["text_cfg"]["vocab_size"]))
    img, txt = pixels[:1], tokens[:1]
    traced = torch.jit.trace_module(m, {"forward": (img, txt), "encode_image": (img,),
                                        "encode_text": (txt,)}, check_trace=False,
                                    _store_inputs=False)
    gf._openai_convert_weights_(m)  # the traced module shares these Parameter objects
    sd = traced.state_dict()
    assert sd["visual.conv1.weight"].dtype == torch.float16
    assert sd["visual.bn1.running_var"].dtype == torch.float32
    tmp = path + ".tmp"
    torch.jit.save(traced, tmp)
    gf._jit_strip_debug(tmp, path)
    os.remove(tmp)
    ref = copy.deepcopy(model)
    loaded = torch.jit.load(path, map_location="cpu").state_dict()
    ref.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in loaded.items()
                         if k not in ("input_resolution", "context_length", "vocab_size")})
    with torch.no_grad():
        return ref.encode_image(pixels, normalize=True)


def verify():
    import open_clip
    tokenizer = open_clip.get_tokenizer("RN50")
    for variant in VARIANTS:
        _, pixels = build(variant)
        fc.verify_outputs(os.path.join(OUT, variant), lambda m: outputs(m, tokenizer, pixels),
                          variant, skip=("openai_img_features",))
        print(variant, "ok")


def full_model(cfg, pixels):
    import open_clip
    model = open_clip.model.CLIP(**cfg).eval()
    randomize(model, 0)
    calibrate(model, pixels, 0)
    return model


def fp64_suffix(model, pixels, feat, got):
    """full --fp64: both fp32 results against the same model in fp64"""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        f64 = m64.encode_image(pixels.double(), normalize=True)
    return "; fp32 vs fp64 max-abs: PyTorch %.3g, oclip %.3g" % (
        (feat.double() - f64).abs().max().item(), (got.double() - f64).abs().max().item())


if __name__ == "__main__":
    os.chdir(gf.ROOT)
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        names, out, oclip = fc.full_args("resnet")
        fp64 = "--fp64" in names
        names = [a for a in names if a != "--fp64"]
        fc.full(names or ["RN50"], out, oclip, full_model, PREPROCESS, IMAGES,
                fp64_suffix if fp64 else None)
    elif len(sys.argv) > 1 and sys.argv[1] == "verify":
        verify()
    else:
        generate()
