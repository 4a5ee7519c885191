"""Helpers the tools/fixtures_<family>.py generators share (every one runs the real OpenCLIP 3.3.0 /
timm; none of these computes an expected value itself): registering tiny timm towers, the models'
random-but-perturbed weights (who owns a parameter), the hub-style fixture folder
(open_clip_model.safetensors + open_clip_config.json), the checks every generator makes on what it
wrote (the folder reloads to the same outputs, distinct images give distinct features, fp32 against
fp64), and the `full` runs over real configs with random weights against `oclip embed-image`.

FIXTURES_OUT (environment): write the fixture folders under that directory instead of
tests/fixtures/ (to show that a regeneration is byte-identical to the committed fixtures).
"""

import copy
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixtures as gf  # noqa: E402


def out_dir(family):
    """Where a generator writes its fixtures: tests/fixtures/<family>, or $FIXTURES_OUT/<family>."""
    return os.path.join(os.environ.get("FIXTURES_OUT") or gf.FIX, family)


def versions_with_timm():
    import timm
    v = gf.versions()
    v["timm"] = timm.__version__
    return v


def register_timm_models(names, module, make):
    """Registers each of `names` with timm (idempotent) as a model function of `module` that builds
    make(name, pretrained, **kwargs); timm's builder warnings about the test names are silenced."""
    import logging
    from timm.models import register_model
    from timm.models._registry import is_model
    logging.getLogger("timm.models._builder").setLevel(logging.ERROR)
    for name in names:
        if is_model(name):
            continue

        def fn(pretrained=False, _name=name, **kwargs):
            return make(_name, pretrained, **kwargs)
        fn.__name__ = name
        fn.__module__ = module
        register_model(fn)


def param_owners(model, buffers=False):
    """{full parameter (and with `buffers`, buffer) name: the module that holds it}."""
    owner = {}
    for mname, mod in model.named_modules():
        items = list(mod.named_parameters(recurse=False))
        if buffers:
            items += list(mod.named_buffers(recurse=False))
        for pname, _ in items:
            owner[(mname + "." if mname else "") + pname] = mod
    return owner


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def pairwise_cos(x):
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    return x @ x.T


def distinct_images(img, n, limit):
    """Cosines of the n normalized image features img [n, E] and the largest between two
    different images, which must stay below limit (else the fixture could not tell them apart)."""
    cos = (img @ img.T).tolist()
    off = max(cos[i][j] for i in range(n) for j in range(n) if i != j)
    assert off < limit, "different images give near-identical features (%.5f)" % off
    return cos, off


def preprocess_cfg(base):
    """The preprocessing of the first pretrained tag of config `base` (pretrained.py), and the tag."""
    import open_clip
    tag = open_clip.list_pretrained_tags_by_model(base)[0]
    pc = open_clip.get_pretrained_cfg(base, tag)
    return {k: pc[k] for k in ("mean", "std", "interpolation", "resize_mode")}, tag


def tiny_cfg(base, embed_dim, timm_name, img_size, text):
    """Real config `base` with a tiny timm tower (timm_name at img_size), embed_dim and text_cfg
    shrunk; and {path: [old, new]} of what changed."""
    import open_clip
    cfg = copy.deepcopy(open_clip.get_model_config(base))
    changes = {}

    def put(d, path, k, v):
        changes[path + k] = [d.get(k), v]
        d[k] = v
    put(cfg, "", "embed_dim", embed_dim)
    vc = cfg["vision_cfg"]
    put(vc, "vision_cfg.", "timm_model_name", timm_name)
    put(vc, "vision_cfg.", "image_size", img_size)
    for k, v in text.items():
        put(cfg["text_cfg"], "text_cfg.", k, v)
    return cfg, changes


def image_pixels(size, preprocess, images):
    """The images (paths from the repository root) through open_clip.image_transform at `size` with
    the preprocess dict's mean, std, interpolation and resize_mode, stacked."""
    import open_clip
    from PIL import Image
    pre = open_clip.image_transform(size, is_train=False, mean=preprocess["mean"],
                                    std=preprocess["std"], interpolation=preprocess["interpolation"],
                                    resize_mode=preprocess["resize_mode"])
    return torch.stack([pre(Image.open(os.path.join(gf.ROOT, p))) for p in images])


def save_hub_folder(d, state_dict, cfg, preprocess):
    """A hub-style folder: open_clip_model.safetensors and open_clip_config.json."""
    import safetensors.torch
    safetensors.torch.save_file({k: v.contiguous() for k, v in state_dict.items()},
                                os.path.join(d, "open_clip_model.safetensors"))
    gf.write_json(os.path.join(d, "open_clip_config.json"),
                  {"model_cfg": cfg, "preprocess_cfg": preprocess})


def save_tensors(path, res):
    import safetensors.torch
    safetensors.torch.save_file({k: v.contiguous() for k, v in res.items()}, path)


def reloaded_outputs(d, model, outputs, variant):
    """outputs(model), checked equal to outputs() of the model OpenCLIP loads from folder d."""
    import open_clip
    hub = open_clip.create_model("local-dir:" + d).eval()
    res, res2 = outputs(model), outputs(hub)
    for k in res:
        assert torch.equal(res[k], res2[k]), (variant, k)
    return res


def clip_outputs(model, tokens, pixels, stages, pooled_module=None, pooled_of=None):
    """OpenCLIP's outputs of a CLIP / CustomTextCLIP: pixels; with pooled_module, "pooled":
    pooled_of(its output); encode_image raw (img_pooled) and normalized; tokens; encode_text
    normalized; logits; then stages(model, first image)."""
    pooled = {}
    hk = None
    if pooled_module is not None:
        hk = pooled_module.register_forward_hook(
            lambda m, i, o: pooled.__setitem__("pooled", pooled_of(o)))
    with torch.no_grad():
        raw = model.encode_image(pixels)
        img = model.encode_image(pixels, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        logits = model.get_logits(pixels, tokens)[0]
    res = {"pixels": pixels}
    if hk is not None:
        hk.remove()
        res["pooled"] = pooled["pooled"]
    res.update({"img_pooled": raw, "img_features": img, "tokens": tokens, "txt_features": txt,
                "logits": logits})
    res.update(stages(model, pixels[:1]))
    return res


# The five images (paths from the repository root), prompts, OpenAI's preprocessing and the tiny
# text tower of the CLIP-text fixtures (fixtures_resnet.py, fixtures_convnext.py,
# fixtures_vitamin.py)
FIVE_IMAGES = ["examples/red_circle.png", "examples/blue_triangle.png", "examples/green_ring.png",
               "tests/fixtures/preprocess/img/p_601x589.png",
               "tests/fixtures/preprocess/img/jpg_420.jpg"]
FIVE_PROMPTS = ["a photo of a red circle", "a blue triangle", "a green ring", "a photo of a cat.",
                ""]
OPENAI_PREPROCESS = {"mean": [0.48145466, 0.4578275, 0.40821073],
                     "std": [0.26862954, 0.26130258, 0.27577711],
                     "interpolation": "bicubic", "resize_mode": "shortest"}
TINY_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 8, "heads": 2, "layers": 1}


def fp64_gap(model, pixels, feat):
    """max-abs of the fp32 normalized image features feat from the same model in fp64."""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        f64 = m64.encode_image(pixels.double(), normalize=True)
    return (f64 - feat.double()).abs().max().item()


def eps_gap(model, pixels, feat, eps):
    """max-abs of the normalized image features feat from the same model with every LayerNorm of
    its image trunk at eps (the fixture must tell the tower's eps from another)."""
    other = copy.deepcopy(model)
    for mod in other.visual.trunk.modules():
        if isinstance(mod, torch.nn.LayerNorm):
            mod.eps = eps
    with torch.no_grad():
        return (other.encode_image(pixels, normalize=True) - feat).abs().max().item()


def verify_outputs(d, outputs, variant, skip=()):
    """expected.safetensors of folder d against outputs(model) of the model OpenCLIP loads from d
    (within 1e-6), but for the keys in skip."""
    import open_clip
    import safetensors.torch
    hub = open_clip.create_model("local-dir:" + d).eval()
    want = safetensors.torch.load_file(os.path.join(d, "expected.safetensors"))
    got = outputs(hub)
    for k in want:
        if k in skip:
            continue
        assert torch.allclose(want[k].double(), got[k].double(), atol=1e-6, rtol=0), (variant, k)


def write_shapes(path, shapes):
    """{config: [[key, shape], ...]} as JSON, one entry per line (small diffs when timm changes)."""
    with open(path, "w") as f:
        f.write("{\n")
        items = list(shapes.items())
        for i, (name, entries) in enumerate(items):
            f.write(" %s: [\n" % json.dumps(name))
            f.write(",\n".join("  " + json.dumps(e) for e in entries))
            f.write("\n ]%s\n" % ("," if i + 1 < len(items) else ""))
        f.write("}\n")


def take_option(args, flag, default=None):
    """The value after `flag` in args (both removed), or default."""
    if flag not in args:
        return default
    i = args.index(flag)
    value = args[i + 1]
    del args[i:i + 2]
    return value


def full_args(family):
    """`full [NAME ...] [--out DIR] [--check OCLIP]`'s names, output folder (build/<family>_full)
    and oclip binary (None: no check)."""
    args = sys.argv[2:]
    out = take_option(args, "--out", os.path.join(gf.ROOT, "build", family + "_full"))
    oclip = take_option(args, "--check")
    return args, out, oclip


def full(names, out, oclip, make_model, preprocess, images, suffix=None):
    """For each real config: the model make_model(cfg, pixels) builds after torch.manual_seed(0)
    (random-but-perturbed weights) saved as a hub-style folder with pixels.npy and OpenCLIP's
    normalized img_features.npy; PyTorch's time; with oclip, `oclip embed-image` on the pixels: its
    time, max-abs and min cosine (and suffix(model, pixels, feat, got) appended)."""
    import subprocess
    import time
    import numpy as np
    import open_clip
    for name in names:
        cfg = open_clip.get_model_config(name)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        pixels = image_pixels(cfg["vision_cfg"]["image_size"], preprocess, images)
        torch.manual_seed(0)
        model = make_model(cfg, pixels)
        save_hub_folder(d, model.state_dict(), cfg, preprocess)
        with torch.no_grad():
            t = time.time()
            feat = model.encode_image(pixels, normalize=True)
            dt = time.time() - t
        np.save(os.path.join(d, "pixels.npy"), pixels.numpy())
        np.save(os.path.join(d, "img_features.npy"), feat.numpy())
        print("%s: PyTorch encode_image of %d images %.2f s (%d threads)" %
              (name, len(images), dt, torch.get_num_threads()))
        if oclip:
            got = os.path.join(d, "got.npy")
            t = time.time()
            subprocess.run([oclip, "embed-image", "-m", d, "--pixels",
                            os.path.join(d, "pixels.npy"), "-o", got], check=True)
            dt = time.time() - t
            g = torch.from_numpy(np.load(got))
            cos = torch.nn.functional.cosine_similarity(g, feat).min().item()
            print("%s: oclip (load + encode) %.2f s, max-abs %.3g, min cosine %.9f%s" %
                  (name, dt, (g - feat).abs().max().item(), cos,
                   suffix(model, pixels, feat, g) if suffix else ""))


def fp64_tower_suffix(model, pixels, feat, got):
    """full()'s suffix: both fp32 results against the image tower in fp64 (the tower only: memory)."""
    v64 = copy.deepcopy(model.visual).double()
    with torch.no_grad():
        f64 = torch.nn.functional.normalize(v64(pixels.double()), dim=-1)
    return "; fp32 vs fp64 max-abs: PyTorch %.3g, oclip %.3g" % (
        (feat.double() - f64).abs().max().item(), (got.double() - f64).abs().max().item())


# ------------------------------------------------------------------------------------------------
# CustomTextCLIP with a tiny timm tower (fixtures_timmvit.py, fixtures_eva.py): the model built from
# a config in a folder, saved in F16, reloaded from its folder as a user would
# ------------------------------------------------------------------------------------------------

def build_from_cfg(cfg, pp, seed, perturb):
    """The model OpenCLIP builds from a folder holding {cfg, pp} after torch.manual_seed(seed), in
    eval mode, then perturb(model, seed)."""
    import tempfile
    import open_clip
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "open_clip_config.json"), "w") as f:
            json.dump({"model_cfg": cfg, "preprocess_cfg": pp}, f)
        torch.manual_seed(seed)
        model = open_clip.create_model("local-dir:" + tmp).eval()
    perturb(model, seed)
    return model


def save_f16_folder(folder, model, cfg, pp):
    """A fresh hub-style folder: {cfg, pp} and the model's floating tensors in F16."""
    import safetensors.torch as st
    sd = {k: (v.half() if v.is_floating_point() else v).contiguous()
          for k, v in model.state_dict().items()}
    gf.fresh_dir(folder)
    gf.write_json(os.path.join(folder, "open_clip_config.json"), {"model_cfg": cfg, "preprocess_cfg": pp})
    st.save_file(sd, os.path.join(folder, "open_clip_model.safetensors"))


def build_save_reload(folder, cfg, pp, seed, perturb, compute):
    """build_from_cfg, saved with save_f16_folder, then compute(folder)'s (model, outputs) of the
    model OpenCLIP loads back (its state equal to what was saved)."""
    model = build_from_cfg(cfg, pp, seed, perturb)
    save_f16_folder(folder, model, cfg, pp)
    model2, res = compute(folder)
    same_state(model, model2)
    return model2, res


def tiny_info(generator, vers, variant, spec, tag, cfg, pp, changes, tower, images, prompts,
              stage_images):
    """The leading entries of a tiny-timm-tower fixture's expected.json (the caller appends its
    measurements)."""
    return {"generator": generator, "versions": vers, "variant": variant,
            "base_config": spec["base"], "pretrained_tag_for_preprocess": tag, "seed": spec["seed"],
            "model_cfg": cfg, "preprocess_cfg": pp, "changed_from_base_config": changes,
            "timm_model": {"name": spec["timm"], **tower},
            "images": images, "prompts": prompts, "stage_images": stage_images}


def load_folder(folder, images, prompts):
    """The model, preprocessed images and tokenized prompts as OpenCLIP gives them for folder
    (create_model_and_transforms, get_tokenizer)."""
    import open_clip
    from PIL import Image
    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + folder)
    model.eval()
    tok = open_clip.get_tokenizer("local-dir:" + folder)
    pixels = torch.stack([preprocess(Image.open(os.path.join(gf.ROOT, p)).convert("RGB"))
                          for p in images])
    return model, pixels, tok(prompts)


def same_state(model, model2):
    for k, v in model.state_dict().items():
        assert torch.equal(model2.state_dict()[k], v), k


def max_offdiag_cos(x):
    c = pairwise_cos(x)
    return c[~torch.eye(len(c), dtype=torch.bool)].max()


def fp64_raw_gaps(model, res):
    """max-abs of encode_image / encode_text (raw) in fp32 (res) from the same model in fp64."""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        return {"img_raw": max_diff(m64.encode_image(res["pixels"].double()), res["img_raw"]),
                "txt_raw": max_diff(m64.encode_text(res["tokens"]), res["txt_raw"])}


def verify_exact(folders, compute):
    """Each folder's expected.safetensors against compute(folder)'s outputs, exactly; prints the
    differences and returns their number."""
    import safetensors.torch as st
    bad = 0
    for name, folder in folders:
        _, res = compute(folder)
        want = st.load_file(os.path.join(folder, "expected.safetensors"))
        for k, t in res.items():
            d = max_diff(t, want[k])
            if d > 0:
                print("%s %s: differs by %g" % (name, k, d))
                bad += 1
    return bad


def run_timm_tower(model, pixels, tokens, stage_images, hooks, pooled_of, first=None):
    """OpenCLIP's outputs of a CustomTextCLIP with a timm tower: pixels; first(trunk)'s entries; the
    outputs of the hooked (key, module) pairs over the first stage_images images; img_pooled (the
    trunk's pre-logits, equal to pooled_of(trunk, forward_features)); encode_image raw and
    normalized; tokens; encode_text raw and normalized; logits; logit_scale."""
    got = {}

    def hook(key):
        def fn(mod, inp, out):
            got[key] = out.detach().clone()
        return fn
    trunk = model.visual.trunk
    hs = [m.register_forward_hook(hook(k)) for k, m in hooks]
    out = {"pixels": pixels}
    with torch.no_grad():
        if first:
            out.update(first(trunk))
        staged = model.encode_image(pixels[:stage_images])
        for h in hs:
            h.remove()
        for k, _ in hooks:
            out[k] = got[k]
        x = trunk.forward_features(pixels)
        out["img_pooled"] = trunk.forward_head(x, pre_logits=True)
        assert torch.equal(out["img_pooled"], pooled_of(trunk, x))
        out["img_raw"] = model.encode_image(pixels)
        assert max_diff(out["img_raw"][:stage_images], staged) < 1e-5
        assert max_diff(trunk.head(out["img_pooled"]), out["img_raw"]) < 1e-5
        out["img_features"] = model.encode_image(pixels, normalize=True)
        out["tokens"] = tokens
        out["txt_raw"] = model.encode_text(tokens)
        out["txt_features"] = model.encode_text(tokens, normalize=True)
        out["logits"] = model.get_logits(pixels, tokens)[0]
        out["logit_scale"] = model.logit_scale.detach().clone()
    return {k: v.contiguous() for k, v in out.items()}


def vit_stage_hooks(trunk, first=()):
    """[(key, module)]: first, then img_embed (pos_drop), img_block_<i>, img_final_norm (norm)."""
    return list(first) + [("img_embed", trunk.pos_drop)] + \
        [("img_block_%d" % i, b) for i, b in enumerate(trunk.blocks)] + [("img_final_norm", trunk.norm)]
