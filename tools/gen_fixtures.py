#!/usr/bin/env python3
"""Fixture generator for oclip's tests: PyTorch/OpenCLIP/transformers write the files, oclip reads them.

Every expected value in tests/fixtures/ comes from this script running the real libraries; nothing is
typed by hand and nothing is produced by oclip itself. Output is deterministic (fixed seeds; the
legacy format's memory-address storage keys are rewritten to fixed values, see _legacy_fixed_keys).

Usage (from the repository root, after tools/setup_venv.sh has created .venv/):

    .venv/bin/python tools/gen_fixtures.py readers     # checkpoint-reader fixtures (below)
    .venv/bin/python tools/gen_fixtures.py arch        # architecture/config fixtures (below)
    .venv/bin/python tools/gen_fixtures.py all         # every subcommand

Subcommands are registered in SUBCOMMANDS at the bottom; add new ones there (engine, tokenizer, ...).

`readers` writes
  tests/fixtures/readers/   a tiny random-weight OpenCLIP `CLIP` (embed 16, ViT 32px/8px patch, width
                            32, 2 layers; text ctx 8, vocab 64, width 32, 2 layers) in every container
                            oclip reads: torch zip (f32/f16/bf16, file and buffer prefixes), legacy
                            (pre-1.6) format, safetensors, training checkpoints (`module.`,
                            `_orig_mod.`, legacy), shared-storage views, TorchScript (traced
                            open_clip, and an OpenAI-style archive with mixed fp16/fp32 weights and
                            scalar root buffers), and a tiny HF transformers CLIPModel (safetensors,
                            pytorch_model.bin, sharded safetensors).
                            manifest.json lists, per file, the container, layout, wrapper, stripped
                            prefix, entries, and every tensor's name, dtype (safetensors spelling),
                            shape and sha256 of its C-contiguous little-endian bytes, as PyTorch
                            itself loads them.
  tests/fixtures/hostile/   hand-assembled malicious or malformed pickles/zips/safetensors/legacy
                            files that a safe loader must refuse; manifest.json gives each file's
                            expected error class ("unsafe", "format", "unsupported", "any-error").
  tests/fixtures/notckpt/   files that are not checkpoints (HTML 404 page, git-lfs pointer, gzip,
                            empty, ONNX, GGUF, plain pickle, .npy, .npz, JSON).

`arch` writes tests/fixtures/arch/
  configs_resolved.json     every model_configs/*.json (OCLIP_MODEL_CONFIGS, default
                            /work/shared/data/model_configs) resolved as OpenCLIP 3.3.0 does: top-level
                            defaults (quick_gelu, init_logit_bias, nonscalar_logit_scale, effective
                            custom_text, multimodal, model class) and dataclasses.asdict of
                            CLIPVisionCfg/CLIPTextCfg; configs this version cannot build carry "error",
                            "unknown_keys" and "raw".
  expected_state_dicts.json {name: [[key, shape, dtype], ...]} in state_dict order for the 32 native
                            native ViT configs and the 6 CLIPA ones, from open_clip.create_model(name)
                            built on the meta device (ViT-B-32: 302 entries).
  tiny/<variant>/           b32like, quickgelu, alt (LayerScale in vision as ViT-M-16-alt, vision
                            mlp_ratio 2), res40 (40px, grid 5, widths 48/32, ctx 10, embed 24): an
                            OpenCLIP HF-hub-style directory (open_clip_config.json,
                            open_clip_model.safetensors, open_clip_pytorch_model.bin), a training
                            checkpoint epoch_2.pt (`module.` keys), hf/ (a transformers CLIPModel built
                            from transformers' CLIP key mapping and checked to reproduce encode_image/encode_text;
                            not for alt) and openai.pt (OpenAI-style TorchScript; b32like, quickgelu).
                            expected.json: config, quick_gelu and tensor tables of every file.
  mismatch/                 checkpoints derived from b32like with keys dropped, transposed, retyped or
                            reshaped, and an HF copy with the old position_ids buffers; manifest.json
                            lists each file's missing/unexpected/shape/dtype differences and what
                            open_clip.load_checkpoint does with it.

The library versions used are printed and recorded in each manifest.
"""

import argparse
import collections
import copy
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import pickletools
import platform
import shutil
import struct
import sys
import zipfile
import zlib

import numpy as np
import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")


# ================================================================================================
# Shared helpers
# ================================================================================================

def versions():
    """Versions of everything that shapes the fixture bytes."""
    import open_clip
    import safetensors
    import transformers
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def fresh_dir(path):
    """Empty (or create) an output directory so stale files never survive a regeneration."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# torch dtype -> safetensors dtype string (the spelling every manifest uses)
ST_DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.uint16: "U16", torch.uint32: "U32",
    torch.uint64: "U64", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2",
    torch.complex64: "C64", torch.complex128: "C128",
}


def tensor_bytes(t):
    """C-contiguous little-endian bytes of a tensor (bf16 goes through int16: numpy has no bf16)."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    elif t.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):  # numpy has no float8 either
        t = t.view(torch.uint8)
    a = t.numpy()
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return a.tobytes(order="C")


def tensor_entry(name, t):
    return {
        "name": name,
        "dtype": ST_DTYPE[t.dtype],
        "shape": list(t.shape),
        "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest(),
    }


def tensor_table(d):
    """Manifest tensor list for a name->tensor dict, in the dict's order."""
    return [tensor_entry(k, v) for k, v in d.items()]


def randomize_(model, seed):
    """Overwrite every parameter with seeded random values so no two tensors are alike.

    Weights/biases ~ N(0, 0.02); LayerNorm weights 1 + N(0, 0.02) (so they are neither 1 nor 0 but
    still sane); logit_scale log(1/0.07) + N(0, 0.02).
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * 0.02
            leaf = name.split(".")[-2] if "." in name else ""
            if name.endswith("logit_scale"):
                base = math.log(1 / 0.07)
            elif name.endswith(".weight") and p.ndim == 1 and ("ln" in leaf or "norm" in leaf or "layrnorm" in leaf):
                base = 1.0
            else:
                base = 0.0
            p.copy_((noise + base).to(p.dtype))
    return model


# ================================================================================================
# Tiny models
# ================================================================================================

TINY_VISION = dict(image_size=32, patch_size=8, width=32, layers=2, head_width=16, mlp_ratio=4)
TINY_TEXT = dict(context_length=8, vocab_size=64, width=32, heads=2, layers=2)
TINY_EMBED = 16


def tiny_openclip(seed=0, quick_gelu=False):
    """The tiny OpenCLIP `CLIP` (open_clip.model.CLIP with a custom config), random fp32 weights."""
    from open_clip.model import CLIP
    torch.manual_seed(seed)
    model = CLIP(TINY_EMBED, dict(TINY_VISION), dict(TINY_TEXT), quick_gelu=quick_gelu)
    randomize_(model, seed)
    return model.eval()


def tiny_hf_clip(seed=0):
    """A transformers CLIPModel with a config equivalent to tiny_openclip(), random fp32 weights."""
    from transformers import CLIPConfig, CLIPModel
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                         max_position_embeddings=8, vocab_size=64),
        vision_config=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    model = CLIPModel(cfg)
    randomize_(model, seed + 1)
    return model.eval()


def tiny_inputs(seed=0):
    """A fixed image batch and token batch for tracing (ids < vocab 64, EOT = max id at the end)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(1, 3, 32, 32, generator=g)
    txt = torch.tensor([[1, 5, 9, 63, 0, 0, 0, 0]], dtype=torch.long)
    return img, txt


# ================================================================================================
# readers: checkpoint containers
# ================================================================================================

class _Wrap(torch.nn.Module):
    """Holds a model under one attribute name, so state_dict() carries that prefix the way DDP
    (`module.`) or torch.compile's OptimizedModule (`_orig_mod.`) produce it, _metadata included."""

    def __init__(self, attr, model):
        super().__init__()
        setattr(self, attr, model)


_LEGACY_ELEMSIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
}


def _legacy_fixed_keys(path):
    """Make a legacy (non-zip) torch file reproducible by renaming its storage keys.

    Legacy torch.save names each storage str(storage._cdata), a heap address, and writes the key list
    and the storage blocks sorted by that string, so names and block order change from run to run.
    We rename the keys to fixed address-like strings (140000000000000 + 4096*i, i = order of first
    appearance in the object pickle), then rewrite the key list (pickle 5) and reorder the storage
    blocks to match, sorted exactly as torch sorts them. The object pickle (4) is re-emitted opcode by
    opcode with only those BINUNICODE strings replaced; protocol-2 pickles hold no absolute offsets
    (no FRAME), so changing string lengths is safe. The result is what torch would write had the
    allocator returned those addresses.
    """
    data = open(path, "rb").read()
    ends = []
    pos = 0
    for _ in range(5):  # magic, protocol, sys_info, object, key list
        for op, arg, p in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                ends.append(pos + p + 1)
                break
        pos = ends[-1]

    class _Stub:
        def __init__(self, name):
            self.name = name

        def __call__(self, *a, **k):
            return None

    order, elemsize = [], {}

    class _Scan(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == "collections":
                return getattr(collections, name)
            return _Stub(name)

        def persistent_load(self, pid):
            key = pid[2]
            if key not in elemsize:
                order.append(key)
                elemsize[key] = _LEGACY_ELEMSIZE[pid[1].name]
            return None

    _Scan(io.BytesIO(data[ends[2]:ends[3]])).load()
    old_keys = pickle.loads(data[ends[3]:ends[4]])
    assert pickle.dumps(old_keys, protocol=2) == data[ends[3]:ends[4]] and sorted(old_keys) == sorted(order)
    blocks, pos = {}, ends[4]
    for k in old_keys:  # u64 element count, then count * elemsize bytes
        n = struct.unpack_from("<q", data, pos)[0] * elemsize[k]
        blocks[k] = data[pos:pos + 8 + n]
        pos += 8 + n
    assert pos == len(data)
    keymap = {k: str(140000000000000 + 4096 * i) for i, k in enumerate(order)}
    inv = {v: k for k, v in keymap.items()}
    new_keys = sorted(inv)

    seg = data[ends[2]:ends[3]]
    obj = bytearray()
    ops = list(pickletools.genops(io.BytesIO(seg)))
    for i, (op, arg, p) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(seg)
        if op.name == "BINUNICODE" and arg in keymap:
            new = keymap[arg].encode()
            obj += b"X" + struct.pack("<I", len(new)) + new
        else:
            obj += seg[p:end]
    with open(path, "wb") as f:
        f.write(data[:ends[2]] + bytes(obj) + pickle.dumps(new_keys, protocol=2)
                + b"".join(blocks[inv[k]] for k in new_keys))


def torch_save(obj, path, legacy=False):
    if legacy:
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        _legacy_fixed_keys(path)
    else:
        torch.save(obj, path)


def _training_checkpoint(model, attr, epoch):
    """A checkpoint as open_clip_train's main.py writes it: epoch, name, state_dict, optimizer, scaler.

    The optimizer state comes from one real AdamW step on a copy of the model (so it holds tensor
    state: step, exp_avg, exp_avg_sq); the saved state_dict is the unmodified model's, so after
    unwrapping and prefix stripping it equals oc_zip_f32.bin tensor for tensor.
    """
    work = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(work.parameters(), lr=1e-3, weight_decay=0.1)
    img, txt = tiny_inputs(1)
    imf, txf, scale = work(img, txt)
    loss = (scale * (imf * txf).sum()).neg() + imf.pow(2).mean() + txf.pow(2).mean()
    loss.backward()
    opt.step()
    return {
        "epoch": epoch,
        "name": "tiny-run",
        "state_dict": _Wrap(attr, model).state_dict(),
        "optimizer": opt.state_dict(),
        "scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                   "growth_interval": 2000, "_growth_tracker": 0},
    }


# OpenAI convert_weights: these become fp16; LayerNorm, embeddings, class/positional embeddings and
# logit_scale stay fp32.
def _openai_convert_weights_(module):
    def cast(t):
        t.data = t.data.half()

    for m in module.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            cast(m.weight)
            if m.bias is not None:
                cast(m.bias)
        if isinstance(m, torch.nn.MultiheadAttention):
            for a in ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight",
                      "in_proj_bias", "bias_k", "bias_v"]:
                t = getattr(m, a)
                if t is not None:
                    cast(t)
        for a in ["text_projection", "proj"]:
            t = getattr(m, a, None)
            if isinstance(t, torch.nn.Parameter):
                cast(t)


def _st_sort_metadata(path):
    """safetensors keeps __metadata__ in a Rust HashMap, so its key order is random per run. Rewrite
    that object with sorted keys (same bytes, same length) so the file is reproducible."""
    data = bytearray(open(path, "rb").read())
    n = struct.unpack_from("<Q", data)[0]
    meta = json.loads(bytes(data[8:8 + n]))["__metadata__"]
    perms = [dict(zip(ks, (meta[k] for k in ks))) for ks in (list(meta), list(reversed(list(meta))))]
    for m in perms:  # find the order safetensors wrote (2 keys: one of two orders)
        old = b'"__metadata__":' + json.dumps(m, separators=(",", ":")).encode()
        at = data.find(old, 8, 8 + n)
        if at >= 0:
            new = b'"__metadata__":' + json.dumps(dict(sorted(meta.items())), separators=(",", ":")).encode()
            data[at:at + len(old)] = new
            open(path, "wb").write(data)
            return
    raise RuntimeError(path + ": __metadata__ not found in the header")


def _scripted_state(path):
    sm = torch.jit.load(path, map_location="cpu")
    return sm.state_dict()


def gen_readers(vers):
    import safetensors.torch as st

    out = os.path.join(FIX, "readers")
    fresh_dir(out)
    files = []

    def add(path, container, layout, tensors, wrapper=None, prefix=None, entries=None):
        files.append({
            "path": path, "container": container, "layout": layout, "wrapper": wrapper,
            "prefix_stripped": prefix, "entries": entries or {}, "tensors": tensor_table(tensors),
        })

    def p(name):
        return os.path.join(out, name)

    model = tiny_openclip(0)
    sd = model.state_dict()  # OrderedDict with _metadata, fp32, no attn_mask (non-persistent)
    sd16 = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    sdbf = collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items())

    # 1-4. torch zip / legacy state dicts
    torch_save(sd, p("oc_zip_f32.bin"))
    add("oc_zip_f32.bin", "torch-zip", "open_clip", sd)
    torch_save(sd16, p("oc_zip_f16.bin"))
    add("oc_zip_f16.bin", "torch-zip", "open_clip", sd16)
    torch_save(sdbf, p("oc_zip_bf16.bin"))
    add("oc_zip_bf16.bin", "torch-zip", "open_clip", sdbf)
    buf = io.BytesIO()
    torch.save(sd, buf)  # file object -> archive prefix "archive/"
    with open(p("oc_zip_buffer.bin"), "wb") as f:
        f.write(buf.getvalue())
    add("oc_zip_buffer.bin", "torch-zip", "open_clip", sd)
    torch_save(sd, p("oc_legacy.bin"), legacy=True)
    add("oc_legacy.bin", "torch-legacy", "open_clip", sd)

    # 5. safetensors
    st.save_file(dict(sd), p("oc_f32.safetensors"))
    add("oc_f32.safetensors", "safetensors", "open_clip", sd)
    st.save_file(dict(sd16), p("oc_f16.safetensors"))
    add("oc_f16.safetensors", "safetensors", "open_clip", sd16)
    st.save_file(dict(sdbf), p("oc_bf16.safetensors"), metadata={"format": "pt", "note": "bf16 copy"})
    _st_sort_metadata(p("oc_bf16.safetensors"))
    add("oc_bf16.safetensors", "safetensors", "open_clip", sdbf)

    # 6-8. training checkpoints
    ck = _training_checkpoint(model, "module", 3)
    torch_save(ck, p("train_module.pt"))
    add("train_module.pt", "torch-zip", "open_clip", sd, "training-checkpoint", "module.",
        {"epoch": 3, "name": "tiny-run"})
    ck1 = _training_checkpoint(model, "_orig_mod", 1)
    torch_save(ck1, p("train_orig_mod.pt"))
    add("train_orig_mod.pt", "torch-zip", "open_clip", sd, "training-checkpoint", "_orig_mod.",
        {"epoch": 1, "name": "tiny-run"})
    torch_save(ck, p("legacy_train.pt"), legacy=True)
    add("legacy_train.pt", "torch-legacy", "open_clip", sd, "training-checkpoint", "module.",
        {"epoch": 3, "name": "tiny-run"})

    # 9. shared storage and non-contiguous views
    g = torch.Generator().manual_seed(9)
    base = torch.randn(4, 6, generator=g)
    views = {
        "base": base, "row": base[1], "slice": base[1:3], "t": base.t(), "strided": base[:, ::2],
        "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3), "i64": torch.arange(5),
        "bool": torch.tensor([True, False]), "f64": torch.randn(3, dtype=torch.float64, generator=g),
    }
    torch_save(views, p("views.bin"))
    add("views.bin", "torch-zip", "unknown", views)
    torch_save(views, p("views_legacy.bin"), legacy=True)
    add("views_legacy.bin", "torch-legacy", "unknown", views)

    # 9a. every zip field in its zip64 form (as for checkpoints beyond 4 GiB, e.g. ViT-bigG)
    zip64_rewrite(p("oc_zip_f32.bin"), p("oc_zip64.bin"))
    z64 = torch.load(p("oc_zip64.bin"), map_location="cpu", weights_only=True)
    assert all(torch.equal(z64[k], v) for k, v in sd.items()) and len(z64) == len(sd)
    add("oc_zip64.bin", "torch-zip", "open_clip", sd)

    # 9b. dtypes without a typed storage class: torch writes _rebuild_tensor_v3 with a
    # torch.storage.UntypedStorage (byte) storage and an explicit dtype global
    newdt = {
        "f8_e4m3": torch.tensor([1.0, -2.0, 0.5, 448.0]).to(torch.float8_e4m3fn),
        "f8_e5m2": torch.tensor([1.0, 3.0, -0.25]).to(torch.float8_e5m2),
        "u16": torch.tensor([[1, 2, 65535]], dtype=torch.int32).to(torch.uint16),
        "u32": torch.tensor([7, 4000000000], dtype=torch.int64).to(torch.uint32),
        "u64": torch.tensor([9], dtype=torch.int64).to(torch.uint64),
        "c64": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
        "u16_view": torch.tensor([[1, 2], [3, 4]], dtype=torch.int32).to(torch.uint16).t(),
    }
    torch_save(newdt, p("newdtypes.bin"))
    add("newdtypes.bin", "torch-zip", "unknown", newdt)

    # 10. TorchScript archive of the open_clip model
    img, txt = tiny_inputs(0)
    traced = torch.jit.trace_module(copy.deepcopy(model),
                                    {"forward": (img, txt), "encode_image": (img,), "encode_text": (txt,)},
                                    check_trace=False)
    torch.jit.save(traced, p("scripted.pt"))
    add("scripted.pt", "torchscript", "open_clip", _scripted_state(p("scripted.pt")))

    # 11. OpenAI-style JIT archive: QuickGELU model, causal mask as a plain attribute (so tracing turns
    # it into a constant, as in OpenAI's model.py), int64 scalar buffers on the root, fp16 weights per
    # convert_weights. Traced in fp32 (the fp16/fp32 mix cannot run on CPU without OpenAI's casts),
    # then the traced module's parameters are cast in place before saving.
    oai = tiny_openclip(0, quick_gelu=True)
    oai.load_state_dict(sd)
    mask = oai.attn_mask
    del oai._buffers["attn_mask"]
    oai.attn_mask = mask
    del oai.context_length, oai.vocab_size  # plain ints on open_clip's CLIP; buffers in OpenAI's archives
    oai.register_buffer("input_resolution", torch.tensor(32))
    oai.register_buffer("context_length", torch.tensor(8))
    oai.register_buffer("vocab_size", torch.tensor(64))
    traced = torch.jit.trace_module(oai, {"forward": (img, txt), "encode_image": (img,), "encode_text": (txt,)},
                                    check_trace=False)
    _openai_convert_weights_(oai)  # the traced module shares these Parameter objects
    half_names = {n for n, t in oai.state_dict().items() if t.dtype == torch.float16}
    for n, t in traced.state_dict().items():
        if n in half_names and t.dtype != torch.float16:
            raise RuntimeError("traced module did not pick up the fp16 cast of " + n)
    torch.jit.save(traced, p("openai_like.pt"))
    add("openai_like.pt", "torchscript", "openai", _scripted_state(p("openai_like.pt")))

    # 12. HF transformers CLIPModel
    from safetensors import safe_open
    hf = tiny_hf_clip(0)
    hf.save_pretrained(p("hf_model"))
    add("hf_model/model.safetensors", "safetensors", "hf", st.load_file(p("hf_model/model.safetensors")))
    hf.save_pretrained(p("hf_bin"), safe_serialization=False)
    add("hf_bin/pytorch_model.bin", "torch-zip", "hf",
        torch.load(p("hf_bin/pytorch_model.bin"), map_location="cpu", weights_only=True))
    hf.save_pretrained(p("hf_sharded"), max_shard_size="100KB")
    index = json.load(open(p("hf_sharded/model.safetensors.index.json")))
    shards = {}
    for fn in dict.fromkeys(index["weight_map"].values()):
        shards.update(st.load_file(p(os.path.join("hf_sharded", fn))))
    if len(set(index["weight_map"].values())) < 3:
        raise RuntimeError("hf_sharded: fewer than 3 shards")
    add("hf_sharded/model.safetensors.index.json", "safetensors-sharded", "hf",
        collections.OrderedDict((k, shards[k]) for k in index["weight_map"]))

    write_json(p("manifest.json"), {
        "generator": "tools/gen_fixtures.py readers",
        "versions": vers,
        "note": "tensors: what PyTorch itself loads (state dict after unwrapping 'state_dict' and "
                "stripping the prefix; torch.jit.load(path).state_dict() for TorchScript; the "
                "safetensors/torch.load result for HF files). sha256 over C-contiguous "
                "little-endian bytes. Training checkpoints hold the same weights as oc_zip_f32.bin.",
        "files": files,
    })

    gen_hostile(vers)
    gen_notckpt()
    verify_readers()


# ================================================================================================
# hostile: inputs a safe loader must refuse
# ================================================================================================

# --- pickle byte assembly (protocol-2 opcodes unless a case is about a forbidden one) ---
PROTO2 = b"\x80\x02"
STOP = b"."
MARK = b"("


def p_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(n):
    """Integer as pickle protocol 2 encodes it."""
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    nb = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([nb]) + n.to_bytes(nb, "little", signed=True)


def p_tuple(items):
    body = b"".join(items)
    return {0: b")", 1: body + b"\x85", 2: body + b"\x86", 3: body + b"\x87"}.get(
        len(items), MARK + body + b"t")


def p_tensor(key, numel_enc, offset, size, stride, storage="FloatStorage"):
    """_rebuild_tensor_v2(('storage', torch.<storage>, key, 'cpu', numel), offset, size, stride,
    False, OrderedDict()). numel_enc is the already-encoded numel and offset may be pre-encoded bytes
    (so cases can forge them)."""
    pid = MARK + p_str("storage") + p_global("torch", storage) + p_str(key) + p_str("cpu") + numel_enc + b"t"
    off = offset if isinstance(offset, bytes) else p_int(offset)
    return (p_global("torch._utils", "_rebuild_tensor_v2") + MARK + pid + b"Q" + off
            + p_tuple([p_int(s) for s in size]) + p_tuple([p_int(s) for s in stride]) + b"\x89"
            + p_global("collections", "OrderedDict") + b")R" + b"tR")


def p_statedict(items):
    """OrderedDict root with (name, value-bytes) pairs, then STOP."""
    body = b"".join(p_str(k) + v for k, v in items)
    return PROTO2 + p_global("collections", "OrderedDict") + b")R" + MARK + body + b"u" + STOP


def torch_zip(path, pkl, records=None, compress_pkl=False, version=b"3\n"):
    """A zip laid out like a torch archive: <stem>/data.pkl, <stem>/data/<k>..., <stem>/version."""
    stem = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w") as z:
        def put(name, data, method=zipfile.ZIP_STORED):
            zi = zipfile.ZipInfo(stem + "/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            z.writestr(zi, data)
        if pkl is not None:
            put("data.pkl", pkl, zipfile.ZIP_DEFLATED if compress_pkl else zipfile.ZIP_STORED)
        for k, v in (records or {}).items():
            put("data/" + k, v)
        put("version", version)


def zip64_rewrite(src, dst):
    """Rewrite a torch zip so that every central-directory entry carries its sizes and local
    header offset in a zip64 extended-information extra field (the 32-bit fields saturated to
    0xFFFFFFFF), as writers do for entries or offsets beyond 4 GiB, and end with a zip64 EOCD
    record + locator. Entry data stay stored and 64-byte aligned. torch.load must still read it."""
    import struct
    zin = zipfile.ZipFile(src)
    out = bytearray()
    central = bytearray()
    for zi in zin.infolist():
        data = zin.read(zi.filename)
        name = zi.filename.encode()
        crc = zlib.crc32(data) & 0xFFFFFFFF
        # local header: zip64 extra with both sizes, padded (torch's 'FB' field) to align data
        z64 = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        off = len(out)
        pad = (-(off + 30 + len(name) + len(z64) + 4)) % 64
        fb = struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(name), len(z64) + len(fb)) + name + z64 + fb + data
        cz64 = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(name), len(cz64), 0, 0, 0, 0,
                               0xFFFFFFFF) + name + cz64
    cd_off = len(out)
    out += central
    z64_off = len(out)
    n = len(zin.infolist())
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(dst, "wb") as f:
        f.write(out)


def st_raw(path, header, data, hlen=None):
    """A safetensors file from a header object (or raw header bytes) and a data buffer."""
    hb = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    n = len(hb) if hlen is None else hlen
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n) + hb + data)


def gen_hostile(vers):
    out = os.path.join(FIX, "hostile")
    fresh_dir(out)
    cases = []

    def case(name, what, expect):
        cases.append({"path": name, "what": what, "expect": expect})
        return os.path.join(out, name)

    f4 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    ok_tensor = p_tensor("0", p_int(4), 0, [4], [1])

    def reduce_call(mod, name, args):
        return PROTO2 + p_global(mod, name) + p_tuple(args) + b"R" + STOP

    # --- code execution through globals ---
    torch_zip(case("os_system.pt", "GLOBAL os.system + REDUCE('echo pwned')", "unsafe"),
              reduce_call("os", "system", [p_str("echo pwned")]))
    torch_zip(case("builtins_eval.pt", "GLOBAL builtins.eval + REDUCE", "unsafe"),
              reduce_call("builtins", "eval", [p_str("__import__('os').system('echo pwned')")]))
    torch_zip(case("subprocess_popen.pt", "GLOBAL subprocess.Popen + REDUCE(['echo','pwned'])", "unsafe"),
              PROTO2 + p_global("subprocess", "Popen") + b"]" + MARK + p_str("echo") + p_str("pwned")
              + b"e" + b"\x85R" + STOP)
    torch_zip(case("posix_system.pt", "GLOBAL posix.system + REDUCE", "unsafe"),
              reduce_call("posix", "system", [p_str("echo pwned")]))
    torch_zip(case("builtins_getattr.pt", "REDUCE on non-allow-listed builtins.getattr", "unsafe"),
              reduce_call("builtins", "getattr", [p_global("collections", "OrderedDict"), p_str("__init__")]))
    torch_zip(case("stack_global.pt", "protocol-4 STACK_GLOBAL ('os','system') + REDUCE", "unsafe"),
              b"\x80\x04" + p_str("os") + p_str("system") + b"\x93" + p_str("echo pwned") + b"\x85R" + STOP)

    # --- opcodes applied to the wrong types (torch weights_only rejects each) ---
    torch_zip(case("build_on_int.pt", "BUILD with an int as the target", "any-error"),
              PROTO2 + p_int(5) + b"}" + p_str("x") + p_int(1) + b"s" + b"b" + STOP)
    torch_zip(case("build_on_str.pt", "BUILD with a str as the target", "any-error"),
              PROTO2 + p_str("abc") + b"}" + p_str("x") + p_int(1) + b"s" + b"b" + STOP)
    torch_zip(case("setitem_on_list.pt", "SETITEM on a list", "any-error"),
              PROTO2 + b"]" + p_str("k") + ok_tensor + b"s" + STOP, {"0": f4})
    torch_zip(case("append_on_dict.pt", "APPEND on a dict", "any-error"),
              PROTO2 + b"}" + ok_tensor + b"a" + STOP, {"0": f4})

    # --- memo / stack / structure abuse ---
    torch_zip(case("binget_unset.pt", "BINGET of memo index 7 that was never BINPUT", "format"),
              PROTO2 + b"}" + b"q\x00" + b"h\x07" + b"0" + STOP)
    torch_zip(case("long_binget_huge.pt", "LONG_BINGET index 0xFFFFFFF0", "format"),
              PROTO2 + b"}" + b"q\x00" + b"j" + struct.pack("<I", 0xFFFFFFF0) + b"0" + STOP)
    depth = 100000
    torch_zip(case("deep_list.pt", "100000 nested EMPTY_LIST + APPEND (value of key 'x')", "any-error"),
              PROTO2 + b"}" + p_str("x") + b"]" * depth + b"a" * (depth - 1) + b"s" + STOP)
    torch_zip(case("deep_tuple.pt", "100000 nested MARK ... TUPLE (value of key 'x')", "any-error"),
              PROTO2 + b"}" + p_str("x") + MARK * depth + b"t" * depth + b"s" + STOP)
    torch_zip(case("reduce_empty_stack.pt", "REDUCE on an empty stack (underflow)", "format"),
              PROTO2 + b"R" + STOP)
    good = p_statedict([("w", ok_tensor)])
    torch_zip(case("no_stop.pt", "truncated pickle: valid state dict without the final STOP", "format"),
              good[:-1], {"0": f4})
    torch_zip(case("long4.pt", "LONG4 opcode (outside the allow-list) as a tensor offset", "any-error"),
              p_statedict([("w", p_tensor("0", p_int(4), b"\x8b" + struct.pack("<i", 1) + b"\x00", [4], [1]))]),
              {"0": f4})
    frame_body = p_statedict([("w", ok_tensor)])[2:]
    torch_zip(case("frame.pt", "protocol-4 FRAME opcode around an otherwise valid state dict", "any-error"),
              b"\x80\x04" + b"\x95" + struct.pack("<Q", len(frame_body)) + frame_body, {"0": f4})

    # --- tensor geometry / storage records ---
    torch_zip(case("long1_numel.pt", "storage numel encoded as LONG1 with 255 bytes", "format"),
              p_statedict([("w", p_tensor("0", b"\x8a\xff" + b"\xff" * 254 + b"\x7f", 0, [4], [1]))]), {"0": f4})
    torch_zip(case("size_overflow.pt", "size (2**40, 2**40): numel*elemsize overflows 64 bits", "format"),
              p_statedict([("w", p_tensor("0", p_int(4), 0, [2 ** 40, 2 ** 40], [2 ** 40, 1]))]), {"0": f4})
    torch_zip(case("offset_past_end.pt", "storage_offset 100 in a 4-element storage", "format"),
              p_statedict([("w", p_tensor("0", p_int(4), 100, [2], [1]))]), {"0": f4})
    torch_zip(case("size_exceeds_storage.pt", "size (10,) over a 4-element storage", "format"),
              p_statedict([("w", p_tensor("0", p_int(4), 0, [10], [1]))]), {"0": f4})
    torch_zip(case("missing_record.pt", "persistent id names data/7, which is not in the zip", "format"),
              p_statedict([("w", p_tensor("7", p_int(4), 0, [4], [1]))]), {"0": f4})
    torch_zip(case("short_record.pt", "storage numel 16 (64 bytes) but data/0 holds 16 bytes", "format"),
              p_statedict([("w", p_tensor("0", p_int(16), 0, [16], [1]))]), {"0": f4})

    # --- zip container ---
    torch_zip(case("no_data_pkl.pt", "torch-like zip with version and data/0 but no data.pkl", "format"),
              None, {"0": f4})
    torch_zip(case("zip_deflate.pt", "data.pkl stored with deflate compression", "unsupported"),
              good, {"0": f4}, compress_pkl=True)
    path = case("zip_cd_offset_past_end.pt",
                "torch.save zip whose central-directory entry for data.pkl points past EOF", "format")
    torch.save({"w": torch.arange(4, dtype=torch.float32)}, path)
    b = bytearray(open(path, "rb").read())
    cd = b.find(b"PK\x01\x02")
    struct.pack_into("<I", b, cd + 42, len(b) + 4096)
    open(path, "wb").write(b)
    path = case("zip64_locator_outside.pt",
                "torch.save zip; zip64 EOCD locator points past EOF, classic EOCD fields set to 0xFFFF.. "
                "so the zip64 record must be used", "format")
    torch.save({"w": torch.arange(4, dtype=torch.float32)}, path)
    b = bytearray(open(path, "rb").read())
    loc = b.rfind(b"PK\x06\x07")
    struct.pack_into("<Q", b, loc + 8, 1 << 62)
    eocd = b.rfind(b"PK\x05\x06")
    struct.pack_into("<HHHHII", b, eocd + 4, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    open(path, "wb").write(b)

    # --- legacy format ---
    path = case("legacy_storage_count.pt",
                "legacy file (valid magic) whose storage element count (2**40) exceeds the file", "format")
    torch_save({"w": torch.arange(4, dtype=torch.float32)}, path, legacy=True)
    b = bytearray(open(path, "rb").read())
    struct.pack_into("<q", b, len(b) - 24, 2 ** 40)
    open(path, "wb").write(b)

    # --- safetensors ---
    t = lambda dt, shape, a, e: {"dtype": dt, "shape": shape, "data_offsets": [a, e]}
    d16 = bytes(range(16))
    st_raw(case("st_header_len_huge.safetensors", "header length field = 2**63", "format"),
           {"a": t("F32", [4], 0, 16)}, d16, hlen=2 ** 63)
    st_raw(case("st_overlap.safetensors", "data_offsets of two tensors overlap", "format"),
           {"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, d16[:12])
    st_raw(case("st_gap.safetensors", "8-byte gap between two tensors' data", "format"),
           {"a": t("F32", [1], 0, 4), "b": t("F32", [1], 12, 16)}, d16)
    st_raw(case("st_unknown_dtype.safetensors", "dtype 'F7' (not a safetensors dtype)", "any-error"),
           {"a": t("F7", [4], 0, 16)}, d16)
    st_raw(case("st_shape_span.safetensors", "shape [3] F32 (12 bytes) over a 16-byte span", "format"),
           {"a": t("F32", [3], 0, 16)}, d16)
    st_raw(case("st_negative_offset.safetensors", "data_offsets [-4, 12]", "format"),
           {"a": t("F32", [4], -4, 12)}, d16)
    st_raw(case("st_float_offset.safetensors", "data_offsets [0.0, 16.0] (floats)", "format"),
           {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0.0, 16.0]}}, d16)
    st_raw(case("st_header_not_json.safetensors", "header is not JSON", "format"),
           b"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]", d16)

    # What the reference loaders do with each file (informational: torch accepts a few of them).
    import safetensors.torch as st
    import warnings
    for c in cases:
        path = os.path.join(out, c["path"])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if path.endswith(".safetensors"):
                    st.load_file(path)
                else:
                    torch.load(path, map_location="cpu", weights_only=True)
            c["reference"] = "accepted"
        except Exception as e:
            c["reference"] = "refused: %s" % type(e).__name__
    accepted = [c["path"] for c in cases if c["reference"] == "accepted"]
    print("hostile: %d files; torch.load(weights_only=True)/safetensors accept: %s"
          % (len(cases), ", ".join(accepted) or "none"))

    write_json(os.path.join(out, "manifest.json"), {
        "generator": "tools/gen_fixtures.py readers",
        "versions": vers,
        "note": "every file must be refused. reference: what torch.load(weights_only=True) or "
                "safetensors.torch.load_file did with it (deep_* load as nested lists in torch; "
                "short_record reads past the record in torch; zip_deflate is inflated by torch). "
                "unsafe: disallowed global/opcode that executes code; "
                "format: malformed structure; unsupported: valid but outside what a safe loader reads; "
                "any-error: the exact class (unsafe/format/unsupported/nomem) is the reader's choice.",
        "files": cases,
    })


# ================================================================================================
# notckpt: files that are not checkpoints
# ================================================================================================

def _onnx_by_hand():
    """Minimal ONNX ModelProto (ir_version 8, producer 'pytorch', opset 17, one Identity node)."""
    def varint(n):
        o = b""
        while True:
            c = n & 0x7F
            n >>= 7
            o += bytes([c | (0x80 if n else 0)])
            if not n:
                return o

    def fld(num, payload):  # length-delimited field
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    def vint(num, v):
        return varint(num << 3) + varint(v)

    tensor_type = fld(1, vint(1, 1) + fld(2, fld(1, vint(1, 4))))  # float, shape [4]
    value = lambda name: fld(1, name) + fld(2, tensor_type)
    node = fld(1, b"x") + fld(2, b"y") + fld(4, b"Identity")
    graph = fld(1, node) + fld(2, b"g") + fld(11, value(b"x")) + fld(12, value(b"y"))
    return vint(1, 8) + fld(2, b"pytorch") + fld(7, graph) + fld(8, fld(1, b"") + vint(2, 17))


def gen_notckpt():
    out = os.path.join(FIX, "notckpt")
    fresh_dir(out)

    def w(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    w("page.html", b"<!DOCTYPE html>\n<html class=\"\" lang=\"en\">\n<head><meta charset=\"utf-8\">"
      b"<title>404 &ndash; Hugging Face</title></head>\n<body><h1>404</h1>\n"
      b"<p>Sorry, we can't find the page you are looking for.</p>\n</body>\n</html>\n")
    w("lfs_pointer.bin", b"version https://git-lfs.github.com/spec/v1\n"
      b"oid sha256:" + hashlib.sha256(b"oclip lfs pointer fixture").hexdigest().encode() + b"\n"
      b"size 605157465\n")
    w("gz.bin", gzip.compress(b"not a checkpoint\n" * 8, mtime=0))
    w("empty.bin", b"")
    onnx_path = os.path.join(out, "model.onnx")
    try:
        torch.manual_seed(0)
        torch.onnx.export(torch.nn.Linear(4, 2), (torch.randn(1, 4),), onnx_path, dynamo=False)
        print("notckpt/model.onnx: torch.onnx.export(dynamo=False)")
    except Exception as e:  # the TorchScript exporter needs the onnx package in newer torch
        print("notckpt/model.onnx: torch.onnx.export failed (%s: %s); writing a minimal ModelProto by hand"
              % (type(e).__name__, str(e).splitlines()[0][:100]))
        w("model.onnx", _onnx_by_hand())
    w("model.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    w("plain.pkl", pickle.dumps({"a": 1}, protocol=2))
    np.save(os.path.join(out, "arr.npy"), np.arange(6, dtype=np.float32).reshape(2, 3))
    np.savez(os.path.join(out, "arr.npz"), a=np.arange(4, dtype=np.int64), b=np.ones(2, dtype=np.float32))
    _fix_npz_times(os.path.join(out, "arr.npz"))
    w("config.json", b'{"model_type": "clip", "projection_dim": 16}\n')


def _fix_npz_times(path):
    """numpy.savez stamps the current time into the zip; rewrite with a fixed date for determinism."""
    with zipfile.ZipFile(path) as z:
        items = [(i, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w") as z:
        for i, data in items:
            zi = zipfile.ZipInfo(i.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = i.compress_type
            z.writestr(zi, data)


# ================================================================================================
# verification: reload every readers fixture with torch/safetensors and compare with the manifest
# ================================================================================================

def verify_readers():
    import safetensors.torch as st
    out = os.path.join(FIX, "readers")
    man = json.load(open(os.path.join(out, "manifest.json")))
    for f in man["files"]:
        path = os.path.join(out, f["path"])
        c = f["container"]
        if c == "safetensors":
            d = st.load_file(path)
        elif c == "safetensors-sharded":
            idx = json.load(open(path))
            d = {}
            for fn in dict.fromkeys(idx["weight_map"].values()):
                d.update(st.load_file(os.path.join(os.path.dirname(path), fn)))
        elif c == "torchscript":
            d = torch.jit.load(path, map_location="cpu").state_dict()
        else:
            d = torch.load(path, map_location="cpu", weights_only=True)
        if f["wrapper"] == "training-checkpoint":
            for k, v in f["entries"].items():
                assert d[k] == v, (f["path"], k)
            d = d["state_dict"]
        if f["prefix_stripped"]:
            n = len(f["prefix_stripped"])
            assert all(k.startswith(f["prefix_stripped"]) for k in d)
            d = {k[n:]: v for k, v in d.items()}
        got = {e["name"]: e for e in tensor_table(d)}
        want = {e["name"]: e for e in f["tensors"]}
        assert got == want, "manifest mismatch for " + f["path"]
        if c not in ("safetensors", "safetensors-sharded"):  # dict order is meaningful there too
            assert list(got) == [e["name"] for e in f["tensors"]], "order mismatch " + f["path"]
    print("verify: %d readers fixtures match manifest.json" % len(man["files"]))

    # the views files must keep storage sharing (one storage for base and its five views)
    for name in ("views.bin", "views_legacy.bin"):
        v = torch.load(os.path.join(out, name), weights_only=True)
        ptrs = {v[k].untyped_storage().data_ptr() for k in ("base", "row", "slice", "t", "strided")}
        assert len(ptrs) == 1, name + ": views lost their shared storage"




# ================================================================================================
# arch: resolved configs, expected state dicts, tiny variants in OpenCLIP/HF/OpenAI layouts, mismatches
# ================================================================================================

# The 181 model_configs JSONs (OpenCLIP 3.3.0's 144 plus those only on OpenCLIP main).
MODEL_CONFIG_DIR = os.environ.get("OCLIP_MODEL_CONFIGS", "/work/shared/data/model_configs")

# native ViT + native text + SimpleTokenizer
ARCH_NATIVE = [
    "ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-32-256", "ViT-B-32-plus-256", "ViT-B-16", "ViT-B-16-quickgelu",
    "ViT-B-16-plus", "ViT-B-16-plus-240", "ViT-L-14", "ViT-L-14-quickgelu", "ViT-L-14-280", "ViT-L-14-336",
    "ViT-L-14-336-quickgelu", "ViT-L-16", "ViT-L-16-320", "ViT-H-14", "ViT-H-14-quickgelu", "ViT-H-14-378",
    "ViT-H-14-378-quickgelu", "ViT-H-16", "ViT-g-14", "ViT-bigG-14", "ViT-bigG-14-quickgelu", "ViT-e-14",
    "ViT-M-16", "ViT-M-16-alt", "ViT-M-32", "ViT-M-32-alt", "ViT-S-16", "ViT-S-16-alt", "ViT-S-32",
    "ViT-S-32-alt",
]
# CLIPA: native ViT (no ln_pre, avg pool, LN after pool) + native bidirectional text; the BERT tokenizer is
# only needed by get_tokenizer, so the model itself builds offline as a plain CLIP.
ARCH_CLIPA = ["ViT-L-14-CLIPA", "ViT-L-14-CLIPA-336", "ViT-H-14-CLIPA", "ViT-H-14-CLIPA-336",
              "ViT-bigG-14-CLIPA", "ViT-bigG-14-CLIPA-336"]

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

# Tiny variants: model_cfg exactly as written to open_clip_config.json, and the randomize_ seed.
_TINY_TEXT = {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 2}
_TINY_VIS = {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16}
ARCH_VARIANTS = collections.OrderedDict([
    ("b32like", (10, {"embed_dim": 16, "vision_cfg": dict(_TINY_VIS), "text_cfg": dict(_TINY_TEXT)})),
    ("quickgelu", (11, {"embed_dim": 16, "quick_gelu": True, "vision_cfg": dict(_TINY_VIS),
                        "text_cfg": dict(_TINY_TEXT)})),
    # ViT-M-16-alt (the only -alt config with LayerScale) sets ls_init_value in vision_cfg only; mirror that.
    ("alt", (12, {"embed_dim": 16, "vision_cfg": dict(_TINY_VIS, ls_init_value=1e-4, mlp_ratio=2.0),
                  "text_cfg": dict(_TINY_TEXT)})),
    ("res40", (13, {"embed_dim": 24,
                    "vision_cfg": {"image_size": 40, "patch_size": 8, "width": 48, "layers": 2, "head_width": 24},
                    "text_cfg": {"context_length": 10, "vocab_size": 64, "width": 32, "heads": 4, "layers": 2}})),
])
ARCH_HF = ("b32like", "quickgelu", "res40")      # LayerScale (alt) has no HF CLIPModel equivalent
ARCH_OPENAI = ("b32like", "quickgelu")


def _jsonable(x):
    """Tuples -> lists, recursively; refuse anything json.dump would not write as plain JSON."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float):
        assert math.isfinite(x), x
        return x
    if x is None or isinstance(x, (bool, int, str)):
        return x
    raise TypeError("not JSON-serialisable: %r" % (x,))


def _resolve_config(raw):
    """A model_configs JSON resolved as OpenCLIP 3.3.0 create_model would see it (open_clip model.py CLIPVisionCfg / CLIPTextCfg)."""
    import dataclasses
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    known_top = {"embed_dim", "vision_cfg", "text_cfg", "quick_gelu", "init_logit_scale", "init_logit_bias",
                 "nonscalar_logit_scale", "custom_text", "multimodal_cfg"}
    errors, unknown, towers = [], [], {}
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in raw]
    if missing:
        errors.append("missing %s: OpenCLIP 3.3.0 _rescan_model_configs registers only configs with "
                      "embed_dim, vision_cfg and text_cfg" % ", ".join(missing))
    extra = [k for k in raw if k not in known_top]
    if extra:
        unknown += extra
        errors.append("unexpected top-level keys %s: the model class __init__ raises TypeError" % extra)
    for key, cls, label in (("vision_cfg", CLIPVisionCfg, "vision"), ("text_cfg", CLIPTextCfg, "text")):
        if key not in raw:
            continue
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown += [key + "." + k for k in raw[key] if k not in fields]
        try:
            towers[label] = _jsonable(dataclasses.asdict(cls(**raw[key])))
        except Exception as e:
            errors.append("%s: %s" % (key, e))
    out = {}
    if errors:
        out["error"] = "; ".join(errors)
        out["unknown_keys"] = unknown
        out["raw"] = _jsonable(raw)
    else:
        text_cfg = raw["text_cfg"]
        custom = bool(raw.get("custom_text", False)) or "hf_model_name" in text_cfg  # factory.py
        out["embed_dim"] = raw["embed_dim"]
        out["quick_gelu"] = bool(raw.get("quick_gelu", False))
        if "init_logit_scale" in raw:
            out["init_logit_scale"] = raw["init_logit_scale"]
        out["init_logit_bias"] = raw.get("init_logit_bias", None)
        out["nonscalar_logit_scale"] = bool(raw.get("nonscalar_logit_scale", False))
        out["custom_text"] = custom
        out["custom_text_raw"] = bool(raw.get("custom_text", False))
        out["multimodal"] = "multimodal_cfg" in raw
        out["model_class"] = ("CoCa" if "multimodal_cfg" in raw else "CustomTextCLIP") if custom else "CLIP"
        out["vision"] = towers["vision"]
        out["text"] = towers["text"]
    out["raw_top_keys"] = list(raw)
    return out


def _write_rows_json(path, obj):
    """{name: [row, ...]} with one compact row per line (the usual indent=1 would be ~10 lines a row)."""
    lines = ["{"]
    items = list(obj.items())
    for i, (name, rows) in enumerate(items):
        lines.append(" %s: [" % json.dumps(name))
        for j, r in enumerate(rows):
            lines.append("  " + json.dumps(r, separators=(",", ":")) + ("," if j + 1 < len(rows) else ""))
        lines.append(" ]" + ("," if i + 1 < len(items) else ""))
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _meta_state_dict(name):
    """open_clip.create_model(name) built on the meta device: names, shapes, dtypes, no memory."""
    import logging
    import open_clip
    logging.getLogger().setLevel(logging.ERROR)  # "No pretrained weights loaded" warnings
    with torch.device("meta"):
        model = open_clip.create_model(name, device="meta")
    sd = model.state_dict()
    assert all(t.device.type == "meta" for t in sd.values()), name
    return type(model).__name__, sd


def _arch_model(variant):
    """The tiny variant as open_clip.model.CLIP(**model_cfg), seeded random fp32 weights."""
    from open_clip.model import CLIP
    seed, cfg = ARCH_VARIANTS[variant]
    torch.manual_seed(seed)
    model = CLIP(**copy.deepcopy(cfg))
    randomize_(model, seed)
    return model.eval()


def _arch_inputs(cfg, seed, n_img=3):
    """Random image batch, and token rows (ids 1..V-2, EOT = V-1 as the row maximum at positions 1, 3,
    ctx-1, ctx//2; zeros after EOT as SimpleTokenizer pads)."""
    g = torch.Generator().manual_seed(seed)
    s = cfg["vision_cfg"]["image_size"]
    img = torch.randn(n_img, 3, s, s, generator=g)
    ctx, vocab = cfg["text_cfg"]["context_length"], cfg["text_cfg"]["vocab_size"]
    rows = []
    for eot in (1, 3, ctx - 1, ctx // 2):
        r = torch.zeros(ctx, dtype=torch.long)
        r[:eot] = torch.randint(1, vocab - 1, (eot,), generator=g)
        r[eot] = vocab - 1
        rows.append(r)
    return img, torch.stack(rows)


def _hf_config(cfg):
    """transformers CLIPConfig equivalent to an OpenCLIP native model_cfg."""
    from transformers import CLIPConfig
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    act = "quick_gelu" if cfg.get("quick_gelu", False) else "gelu"
    E = cfg["embed_dim"]
    return CLIPConfig(
        text_config=dict(vocab_size=t["vocab_size"], hidden_size=t["width"],
                         intermediate_size=int(t["width"] * t.get("mlp_ratio", 4.0)),
                         num_hidden_layers=t["layers"], num_attention_heads=t["heads"],
                         max_position_embeddings=t["context_length"], hidden_act=act, layer_norm_eps=1e-5,
                         projection_dim=E, pad_token_id=0, bos_token_id=t["vocab_size"] - 2,
                         eos_token_id=t["vocab_size"] - 1),
        vision_config=dict(hidden_size=v["width"], intermediate_size=int(v["width"] * v.get("mlp_ratio", 4.0)),
                           num_hidden_layers=v["layers"], num_attention_heads=v["width"] // v.get("head_width", 64),
                           image_size=v["image_size"], patch_size=v["patch_size"], hidden_act=act,
                           layer_norm_eps=1e-5, projection_dim=E),
        projection_dim=E,
    )


def _oc_to_hf(sd, cfg):
    """OpenCLIP CLIP state dict -> transformers CLIPModel state dict (transformers convert_clip_original_pytorch_to_hf.py), written here from the
    table, not taken from any converter."""
    out = collections.OrderedDict()

    def blocks(src, dst, n):
        for L in range(n):
            s, d = "%s.%d." % (src, L), "%s.%d." % (dst, L)
            qkv_w = sd[s + "attn.in_proj_weight"].chunk(3, 0)  # rows q | k | v
            qkv_b = sd[s + "attn.in_proj_bias"].chunk(3, 0)
            for i, nm in enumerate(("q_proj", "k_proj", "v_proj")):
                out[d + "self_attn.%s.weight" % nm] = qkv_w[i].clone()
                out[d + "self_attn.%s.bias" % nm] = qkv_b[i].clone()
            for a, b in (("self_attn.out_proj", "attn.out_proj"), ("layer_norm1", "ln_1"),
                         ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"), ("layer_norm2", "ln_2")):
                out[d + a + ".weight"] = sd[s + b + ".weight"]
                out[d + a + ".bias"] = sd[s + b + ".bias"]

    out["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    blocks("transformer.resblocks", "text_model.encoder.layers", cfg["text_cfg"]["layers"])
    out["text_model.final_layer_norm.weight"] = sd["ln_final.weight"]
    out["text_model.final_layer_norm.bias"] = sd["ln_final.bias"]
    out["vision_model.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    out["vision_model.pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    out["vision_model.pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    blocks("visual.transformer.resblocks", "vision_model.encoder.layers", cfg["vision_cfg"]["layers"])
    out["vision_model.post_layernorm.weight"] = sd["visual.ln_post.weight"]
    out["vision_model.post_layernorm.bias"] = sd["visual.ln_post.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    out["text_projection.weight"] = sd["text_projection"].t().contiguous()
    out["logit_scale"] = sd["logit_scale"]
    return out


def _hf_to_oc(hf):
    """Inverse of _oc_to_hf by key pattern; keys it does not know (position_ids) pass through unchanged."""
    import re
    out = collections.OrderedDict()
    fixed = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight", "text_model.final_layer_norm.bias": "ln_final.bias",
        "vision_model.embeddings.class_embedding": "visual.class_embedding",
        "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
        "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
        "vision_model.pre_layrnorm.weight": "visual.ln_pre.weight", "vision_model.pre_layrnorm.bias": "visual.ln_pre.bias",
        "vision_model.post_layernorm.weight": "visual.ln_post.weight",
        "vision_model.post_layernorm.bias": "visual.ln_post.bias", "logit_scale": "logit_scale",
    }
    sub = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "mlp.fc1": "mlp.c_fc",
           "mlp.fc2": "mlp.c_proj", "layer_norm2": "ln_2"}
    for k, v in hf.items():
        m = re.match(r"(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$", k)
        if k in fixed:
            out[fixed[k]] = v
        elif k in ("visual_projection.weight", "text_projection.weight"):
            out["visual.proj" if k.startswith("visual") else "text_projection"] = v.t().contiguous()
        elif m:
            base = ("visual.transformer.resblocks.%s." if m.group(1) == "vision" else "transformer.resblocks.%s.") \
                % m.group(2)
            if m.group(3) == "self_attn.q_proj":
                out[base + "attn.in_proj_" + m.group(4)] = torch.cat(
                    [hf[k], hf[k.replace("q_proj", "k_proj")], hf[k.replace("q_proj", "v_proj")]], 0)
            elif m.group(3) in ("self_attn.k_proj", "self_attn.v_proj"):
                pass
            else:
                out[base + sub[m.group(3)] + "." + m.group(4)] = v
        else:
            out[k] = v
    return out


def _jit_strip_debug(src, dst):
    """Copy a torch.jit.save archive without its *.debug_pkl records (they hold the Python call stacks
    of the trace: absolute paths into the venv and line numbers of this script), re-written by torch's
    own PyTorchFileWriter so alignment, version and serialization_id stay torch's."""
    z = zipfile.ZipFile(src)
    names = [i.filename for i in z.infolist()]
    prefix = names[0].split("/", 1)[0] + "/"
    version = None
    w = torch._C.PyTorchFileWriter(dst)
    for n in names:
        rec = n[len(prefix):]
        if rec in ("version", ".data/version"):
            version = int(z.read(n))
            continue
        if rec.endswith(".debug_pkl") or rec in ("byteorder", ".data/serialization_id"):
            continue
        data = z.read(n)
        w.write_record(rec, data, len(data))
    w.set_min_version(version)
    w.write_end_of_file()
    del w
    z.close()


def _arch_openai_worker(variant, path):
    """Runs in a fresh interpreter (a subprocess) so TorchScript's ___torch_mangle_N class numbers do not depend
    on what the parent traced before. Builds the OpenAI-style archive exactly as readers' openai_like.pt:
    causal mask as a plain attribute (becomes a trace constant), int64 scalar root buffers
    input_resolution/context_length/vocab_size, OpenAI convert_weights fp16 cast after tracing."""
    seed, cfg = ARCH_VARIANTS[variant]
    model = _arch_model(variant)
    img, txt = _arch_inputs(cfg, seed + 100, n_img=1)
    txt = txt[:1]
    mask = model.attn_mask
    del model._buffers["attn_mask"]
    model.attn_mask = mask
    del model.context_length, model.vocab_size
    model.register_buffer("input_resolution", torch.tensor(cfg["vision_cfg"]["image_size"]))
    model.register_buffer("context_length", torch.tensor(cfg["text_cfg"]["context_length"]))
    model.register_buffer("vocab_size", torch.tensor(cfg["text_cfg"]["vocab_size"]))
    traced = torch.jit.trace_module(model, {"forward": (img, txt), "encode_image": (img,), "encode_text": (txt,)},
                                    check_trace=False, _store_inputs=False)
    _openai_convert_weights_(model)
    half = {n for n, t in model.state_dict().items() if t.dtype == torch.float16}
    for n, t in traced.state_dict().items():
        if n in half and t.dtype != torch.float16:
            raise RuntimeError("traced module did not pick up the fp16 cast of " + n)
    tmp = path + ".tmp"
    torch.jit.save(traced, tmp)
    _jit_strip_debug(tmp, path)
    os.remove(tmp)


def _sd_compare(expected, found):
    """missing / unexpected / shape / dtype differences of `found` relative to `expected` (name->tensor)."""
    common = [k for k in expected if k in found]
    return {
        "missing": [k for k in expected if k not in found],
        "unexpected": [k for k in found if k not in expected],
        "shape_mismatch": [{"key": k, "expected": list(expected[k].shape), "found": list(found[k].shape)}
                           for k in common if expected[k].shape != found[k].shape],
        "dtype_mismatch": [{"key": k, "expected": ST_DTYPE[expected[k].dtype], "found": ST_DTYPE[found[k].dtype]}
                           for k in common if expected[k].dtype != found[k].dtype],
    }


def _max_diff(a, b):
    return float((a.detach() - b.detach()).abs().max())


def gen_arch(vers):
    import glob
    import open_clip
    import safetensors.torch as st
    from transformers import CLIPModel

    out = os.path.join(FIX, "arch")
    fresh_dir(out)

    # ---- 1. every model_configs JSON resolved through OpenCLIP 3.3.0's dataclasses ----
    files = sorted(glob.glob(os.path.join(MODEL_CONFIG_DIR, "*.json")))
    if not files:
        raise SystemExit("no model configs under %s (set OCLIP_MODEL_CONFIGS)" % MODEL_CONFIG_DIR)
    bundled = os.path.join(os.path.dirname(open_clip.__file__), "model_configs")
    configs, failed = collections.OrderedDict(), []
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0]
        raw = json.load(open(path))
        r = _resolve_config(raw)
        bpath = os.path.join(bundled, name + ".json")
        r["in_open_clip_3_3_0"] = os.path.isfile(bpath)
        if r["in_open_clip_3_3_0"] and json.load(open(bpath)) != raw:
            raise RuntimeError(name + ": differs from the config bundled with open_clip")
        configs[name] = r
        if "error" in r:
            failed.append(name)
    write_json(os.path.join(out, "configs_resolved.json"), {
        "generator": "tools/gen_fixtures.py arch", "versions": vers,
        "note": "every model_configs/*.json; vision/text = dataclasses.asdict(CLIPVisionCfg/CLIPTextCfg(**cfg)) "
                "of open_clip %s; custom_text is the effective value (forced by text_cfg.hf_model_name); "
                "entries with 'error' do not resolve in this version" % open_clip.__version__,
        "configs": configs})
    print("arch: %d configs resolved, %d fail in open_clip %s: %s"
          % (len(configs), len(failed), open_clip.__version__, ", ".join(failed)))

    # ---- 2. exact state dicts of the native configs, built on the meta device ----
    expected_sd = collections.OrderedDict()
    for name in ARCH_NATIVE + [n for n in ARCH_CLIPA if n in configs]:
        cls, sd = _meta_state_dict(name)
        assert cls == "CLIP", (name, cls)
        expected_sd[name] = [[k, list(v.shape), ST_DTYPE[v.dtype]] for k, v in sd.items()]
    assert len(expected_sd["ViT-B-32"]) == 302, len(expected_sd["ViT-B-32"])
    for name in ("ViT-B-32", "ViT-M-16-alt"):  # the meta build equals a real one
        torch.manual_seed(0)
        real = open_clip.create_model(name).state_dict()
        assert [[k, list(v.shape), ST_DTYPE[v.dtype]] for k, v in real.items()] == expected_sd[name], name
        del real
    _write_rows_json(os.path.join(out, "expected_state_dicts.json"), expected_sd)
    print("arch: expected_state_dicts.json: %d models (%s)"
          % (len(expected_sd), ", ".join("%s %d" % (k, len(v)) for k, v in expected_sd.items()
                                         if k in ("ViT-B-32", "ViT-M-16-alt", "ViT-e-14", "ViT-H-14-CLIPA"))))

    # ---- 3. tiny variants ----
    state = {}
    for variant, (seed, cfg) in ARCH_VARIANTS.items():
        d = os.path.join(out, "tiny", variant)
        os.makedirs(d)
        model = _arch_model(variant)
        sd = model.state_dict()
        state[variant] = sd
        write_json(os.path.join(d, "open_clip_config.json"), {
            "model_cfg": cfg,
            "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD, "interpolation": "bicubic",
                               "resize_mode": "shortest"}})
        st.save_file(dict(sd), os.path.join(d, "open_clip_model.safetensors"))
        torch_save(sd, os.path.join(d, "open_clip_pytorch_model.bin"))
        torch_save({"epoch": 2, "name": variant,
                    "state_dict": collections.OrderedDict(("module." + k, v) for k, v in sd.items())},
                   os.path.join(d, "epoch_2.pt"))
        info = {"generator": "tools/gen_fixtures.py arch", "versions": vers, "variant": variant, "seed": seed,
                "config": cfg, "quick_gelu": bool(cfg.get("quick_gelu", False)),
                "files": ["open_clip_config.json", "open_clip_model.safetensors", "open_clip_pytorch_model.bin",
                          "epoch_2.pt"],
                "note": "tensors: model.state_dict() of open_clip.model.CLIP(**config), identical in "
                        "open_clip_model.safetensors, open_clip_pytorch_model.bin and epoch_2.pt (under "
                        "'state_dict', keys prefixed 'module.').",
                "tensors": tensor_table(sd)}

        if variant in ARCH_HF:
            hf = CLIPModel(_hf_config(cfg)).eval()
            hf.load_state_dict(_oc_to_hf(sd, cfg), strict=True)
            img, txt = _arch_inputs(cfg, seed + 100)
            with torch.no_grad():
                di = _max_diff(hf.get_image_features(pixel_values=img), model.encode_image(img))
                dt = _max_diff(hf.get_text_features(input_ids=txt), model.encode_text(txt))
            print("arch: tiny/%s HF vs OpenCLIP max abs diff: image %.3g, text %.3g" % (variant, di, dt))
            if not (di < 1e-5 and dt < 1e-5):
                raise RuntimeError("HF copy of %s does not reproduce OpenCLIP (%g, %g)" % (variant, di, dt))
            hf.save_pretrained(os.path.join(d, "hf"))
            back = _hf_to_oc(st.load_file(os.path.join(d, "hf", "model.safetensors")))
            assert set(back) == set(sd) and all(torch.equal(back[k], v) for k, v in sd.items()), variant
            info["files"] += ["hf/config.json", "hf/model.safetensors"]
            info["hf_check"] = {"image_max_abs_diff": di, "text_max_abs_diff": dt,
                                "how": "transformers get_image_features/get_text_features vs open_clip "
                                       "encode_image/encode_text on %d random images and token rows with "
                                       "EOT=%d at positions %s" % (
                                           img.shape[0], cfg["text_cfg"]["vocab_size"] - 1,
                                           [int(r.argmax()) for r in txt])}
            info["hf_tensors"] = tensor_table(st.load_file(os.path.join(d, "hf", "model.safetensors")))

        if variant in ARCH_OPENAI:
            # a fresh interpreter, so ___torch_mangle_N numbering does not depend on earlier traces
            import subprocess
            subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import gen_fixtures; "
                            "gen_fixtures._arch_openai_worker(sys.argv[2], sys.argv[3])",
                            os.path.dirname(os.path.abspath(__file__)), variant, os.path.join(d, "openai.pt")],
                           check=True)
            info["files"].append("openai.pt")
            info["openai_tensors"] = tensor_table(_scripted_state(os.path.join(d, "openai.pt")))
            info["openai_note"] = ("TorchScript archive as OpenAI's: root int64 scalar buffers input_resolution/"
                                   "context_length/vocab_size, convert_weights fp16 (LayerNorm, embeddings, "
                                   "class/positional embeddings, logit_scale fp32), *.debug_pkl records "
                                   "removed. open_clip.load_openai_model cannot build it: "
                                   "build_model_from_openai_state_dict infers heads = width // 64, which is 0 "
                                   "for these widths (ValueError); it would also force quick_gelu=True.")
        write_json(os.path.join(d, "expected.json"), info)

    # ---- 4. deliberate mismatches against b32like ----
    md = os.path.join(out, "mismatch")
    os.makedirs(md)
    sd = state["b32like"]
    cases = collections.OrderedDict()

    def case(name, what, tensors, loadable=False):
        st.save_file(dict(tensors), os.path.join(md, name))
        cases[name] = (what, tensors, loadable)

    case("vision_only.safetensors", "only visual.* keys, plus logit_scale",
         collections.OrderedDict((k, v) for k, v in sd.items() if k.startswith("visual.") or k == "logit_scale"))
    case("text_only.safetensors", "every key except visual.*",
         collections.OrderedDict((k, v) for k, v in sd.items() if not k.startswith("visual.")))
    case("missing_layer.safetensors", "layer 1 dropped from both towers (visual.transformer.resblocks.1.*, "
         "transformer.resblocks.1.*)",
         collections.OrderedDict((k, v) for k, v in sd.items()
                                 if not k.startswith(("visual.transformer.resblocks.1.", "transformer.resblocks.1."))))
    case("transposed_proj.safetensors", "visual.proj stored transposed",
         collections.OrderedDict((k, v.t().contiguous() if k == "visual.proj" else v) for k, v in sd.items()))
    case("int_weight.safetensors", "visual.conv1.weight cast to int64 (values *1000, truncated)",
         collections.OrderedDict(((k, (v * 1000).to(torch.int64)) if k == "visual.conv1.weight" else (k, v))
                                 for k, v in sd.items()))
    case("logit_scale_1d.safetensors", "logit_scale reshaped to [1]; valid: OpenCLIP load_checkpoint reshapes it "
         "to the model's rank", collections.OrderedDict((k, v.reshape(1) if k == "logit_scale" else v)
                                                        for k, v in sd.items()), loadable=True)
    case("no_logit_scale.safetensors", "logit_scale missing",
         collections.OrderedDict((k, v) for k, v in sd.items() if k != "logit_scale"))

    # HF copy with the position_ids buffers older transformers (< ~4.31) saved
    hfd = os.path.join(md, "hf_position_ids")
    os.makedirs(hfd)
    shutil.copyfile(os.path.join(out, "tiny", "b32like", "hf", "config.json"), os.path.join(hfd, "config.json"))
    hf_sd = st.load_file(os.path.join(out, "tiny", "b32like", "hf", "model.safetensors"))
    cfg = ARCH_VARIANTS["b32like"][1]
    grid = cfg["vision_cfg"]["image_size"] // cfg["vision_cfg"]["patch_size"]
    hf_pos = dict(hf_sd)
    hf_pos["text_model.embeddings.position_ids"] = torch.arange(cfg["text_cfg"]["context_length"]).unsqueeze(0)
    hf_pos["vision_model.embeddings.position_ids"] = torch.arange(grid * grid + 1).unsqueeze(0)
    st.save_file(hf_pos, os.path.join(hfd, "model.safetensors"), metadata={"format": "pt"})
    hf2 = CLIPModel.from_pretrained(hfd).eval()
    img, txt = _arch_inputs(cfg, 999)
    with torch.no_grad():
        ref = _arch_model("b32like")
        dpos = max(_max_diff(hf2.get_image_features(pixel_values=img), ref.encode_image(img)),
                   _max_diff(hf2.get_text_features(input_ids=txt), ref.encode_text(txt)))
    assert dpos < 1e-5, dpos

    entries = []
    for name, (what, tensors, loadable) in cases.items():
        e = {"path": "mismatch/" + name, "layout": "open_clip", "what": what,
             "reference": "tiny/b32like open_clip state dict", "expect_loadable": loadable}
        e.update(_sd_compare(sd, tensors))
        model = _arch_model("b32like")
        try:
            open_clip.load_checkpoint(model, os.path.join(md, name), strict=True)
            e["open_clip_load_checkpoint"] = "ok"
        except Exception as ex:
            e["open_clip_load_checkpoint"] = "%s: %s" % (
                type(ex).__name__, " ".join(x.strip() for x in str(ex).strip().splitlines())[:400])
        entries.append(e)
    e = {"path": "mismatch/hf_position_ids/model.safetensors", "layout": "hf",
         "what": "tiny/b32like/hf plus text_model.embeddings.position_ids [1,%d] and "
                 "vision_model.embeddings.position_ids [1,%d] (int64), as transformers < ~4.31 saved them; "
                 "valid: drop them" % (cfg["text_cfg"]["context_length"], grid * grid + 1),
         "reference": "tiny/b32like/hf/model.safetensors", "expect_loadable": True}
    e.update(_sd_compare(hf_sd, hf_pos))
    e["after_hf_to_open_clip_mapping"] = _sd_compare(sd, _hf_to_oc(hf_pos))
    e["transformers_from_pretrained"] = "ok, max abs diff vs OpenCLIP %.3g" % dpos
    entries.append(e)
    write_json(os.path.join(md, "manifest.json"), {
        "generator": "tools/gen_fixtures.py arch", "versions": vers,
        "note": "each file derived from tiny/b32like. missing/unexpected/shape_mismatch/dtype_mismatch: the file's "
                "tensors compared with the reference state dict (the expected report entries). "
                "open_clip_load_checkpoint: what open_clip.load_checkpoint(CLIP(**b32like config), file, "
                "strict=True) did (it reshapes logit_scale; torch load_state_dict casts dtypes silently). "
                "expect_loadable: the file is a valid checkpoint after OpenCLIP's (or, for HF, the key mapping's) fixups.",
        "files": entries})
    for x in entries:
        print("arch: %s: open_clip.load_checkpoint -> %s" % (x["path"], x.get("open_clip_load_checkpoint", "n/a (HF)")[:150]))

    verify_arch()


def verify_arch():
    """Reload every arch fixture with torch/safetensors/open_clip/transformers and compare."""
    import open_clip
    import safetensors.torch as st
    from transformers import CLIPModel

    out = os.path.join(FIX, "arch")
    n = 0
    for variant, (seed, cfg) in ARCH_VARIANTS.items():
        d = os.path.join(out, "tiny", variant)
        info = json.load(open(os.path.join(d, "expected.json")))
        want = info["tensors"]
        loaded = {
            "open_clip_model.safetensors": st.load_file(os.path.join(d, "open_clip_model.safetensors")),
            "open_clip_pytorch_model.bin": torch.load(os.path.join(d, "open_clip_pytorch_model.bin"),
                                                      weights_only=True),
        }
        ck = torch.load(os.path.join(d, "epoch_2.pt"), weights_only=True)
        assert ck["epoch"] == 2 and ck["name"] == variant and set(ck) == {"epoch", "name", "state_dict"}
        loaded["epoch_2.pt"] = collections.OrderedDict((k[len("module."):], v) for k, v in ck["state_dict"].items())
        for fn, sd in loaded.items():
            got = tensor_table(sd)
            if fn.endswith(".safetensors"):  # safetensors stores keys sorted; compare as sets
                got = sorted(got, key=lambda e: e["name"])
                assert got == sorted(want, key=lambda e: e["name"]), (variant, fn)
            else:
                assert got == want, (variant, fn)
            n += 1
        # the directory is a valid OpenCLIP local-dir model, and the training checkpoint loads into it
        ref = _arch_model(variant)
        m = open_clip.create_model("local-dir:" + d)
        m2 = open_clip.model.CLIP(**copy.deepcopy(cfg))
        open_clip.load_checkpoint(m2, os.path.join(d, "epoch_2.pt"))
        for mm in (m, m2):
            for k, v in ref.state_dict().items():
                assert torch.equal(mm.state_dict()[k], v), (variant, k)
        if "hf_tensors" in info:
            hf = CLIPModel.from_pretrained(os.path.join(d, "hf")).eval()
            img, txt = _arch_inputs(cfg, seed + 7)
            with torch.no_grad():
                assert _max_diff(hf.get_image_features(pixel_values=img), ref.encode_image(img)) < 1e-5
                assert _max_diff(hf.get_text_features(input_ids=txt), ref.encode_text(txt)) < 1e-5
            n += 1
        if "openai_tensors" in info:
            path = os.path.join(d, "openai.pt")
            js = _scripted_state(path)
            assert tensor_table(js) == info["openai_tensors"], variant
            assert not any(x.endswith(".debug_pkl") for x in zipfile.ZipFile(path).namelist())
            assert [k for k, v in js.items() if v.ndim == 0 and v.dtype == torch.int64] == \
                ["input_resolution", "context_length", "vocab_size"]
            # open_clip.load_openai_model cannot build these: it infers heads = width // 64 (= 0 here).
            # Load what build_model_from_openai_state_dict would: drop the root scalars, upcast, strict.
            oai = open_clip.model.CLIP(**dict(copy.deepcopy(cfg), quick_gelu=True))
            oai.load_state_dict({k: v.float() for k, v in js.items()
                                 if k not in ("input_resolution", "context_length", "vocab_size")}, strict=True)
            osd = oai.state_dict()
            assert list(osd) == list(ref.state_dict()), variant
            for k, v in ref.state_dict().items():
                w = v.half().float() if js[k].dtype == torch.float16 else v
                assert torch.equal(osd[k], w), (variant, k)
            n += 1
    man = json.load(open(os.path.join(out, "mismatch", "manifest.json")))
    for e in man["files"]:
        sd = st.load_file(os.path.join(out, e["path"]))
        ref = (st.load_file(os.path.join(out, "tiny", "b32like", "hf", "model.safetensors")) if e["layout"] == "hf"
               else _arch_model("b32like").state_dict())
        c = _sd_compare(ref, sd)
        assert all(c[k] == e[k] for k in c), e["path"]
        n += 1
    exp = json.load(open(os.path.join(out, "expected_state_dicts.json")))
    assert len(exp["ViT-B-32"]) == 302
    print("verify: %d arch fixtures match (tensor tables; open_clip local-dir and load_checkpoint; "
          "OpenAI archive weights; transformers outputs)" % n)


# ================================================================================================
# full: full-size random-weight ViT-B-32 in the main containers (not committed; make test-full)
# ================================================================================================

def gen_full(vers, out="build/full"):
    """Full-size ViT-B-32 (random init, 151M parameters) saved as torch zip, legacy and safetensors
    f32/f16, with a manifest in the readers format. Used by tests/full.sh and bench/run."""
    import open_clip
    import safetensors.torch

    fresh_dir(out)
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    sd = model.state_dict()
    files = []

    def add(path, container, tensors):
        files.append({"path": path, "container": container, "layout": "open_clip",
                      "wrapper": None, "prefix_stripped": None, "entries": {},
                      "tensors": tensor_table(tensors)})

    torch.save(sd, os.path.join(out, "open_clip_pytorch_model.bin"))
    add("open_clip_pytorch_model.bin", "torch-zip", sd)
    torch.save(sd, os.path.join(out, "legacy.bin"), _use_new_zipfile_serialization=False)
    add("legacy.bin", "torch-legacy", sd)
    safetensors.torch.save_file(sd, os.path.join(out, "open_clip_model.safetensors"))
    add("open_clip_model.safetensors", "safetensors", sd)
    half = {k: v.half() for k, v in sd.items()}
    safetensors.torch.save_file(half, os.path.join(out, "f16.safetensors"))
    add("f16.safetensors", "safetensors", half)
    write_json(os.path.join(out, "manifest.json"),
               {"generator": "tools/gen_fixtures.py full", "versions": vers, "files": files})
    print("wrote %d files to %s" % (len(files), out))

# ================================================================================================
# main
# ================================================================================================

SUBCOMMANDS = {
    "readers": gen_readers,
    "arch": gen_arch,
    "full": gen_full,
}
# Subcommands in their own modules beside this script (tools/fixtures_<name>.py, each with a
# generate(vers) function), so that independent fixture sets can be developed side by side.
for _name in ("tokenizer", "preprocess", "engine", "e2e"):
    if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures_%s.py" % _name)):
        SUBCOMMANDS[_name] = (lambda mod: lambda vers: __import__(mod).generate(vers))("fixtures_" + _name)
# large outputs under build/, not committed: run by name only, never by "all"
NOT_IN_ALL = {"full"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=sorted(SUBCOMMANDS) + ["all"])
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    vers = versions()
    print("versions:", ", ".join("%s %s" % kv for kv in vers.items()))
    for name, fn in SUBCOMMANDS.items():
        if args.what == name or (args.what == "all" and name not in NOT_IN_ALL):
            print("== " + name)
            fn(vers)


if __name__ == "__main__":
    main()
