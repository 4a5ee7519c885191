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


def fp64_gap(model, pixels, feat):
    """max-abs of the fp32 normalized image features feat from the same model in fp64."""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        f64 = m64.encode_image(pixels.double(), normalize=True)
    return (f64 - feat.double()).abs().max().item()


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
