#!/usr/bin/env python3
"""Fixture generator for oclip's tests: PyTorch/OpenCLIP/transformers write the files, oclip reads them.

Every expected value in tests/fixtures/ comes from this script running the real libraries; nothing is
typed by hand and nothing is produced by oclip itself. Output is deterministic (fixed seeds; the
legacy format's memory-address storage keys are rewritten to fixed values, see _legacy_fixed_keys).

Usage (from the repository root, after tools/setup_venv.sh has created .venv/):

    .venv/bin/python tools/gen_fixtures.py readers     # checkpoint-reader fixtures (below)
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
    torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    """C-contiguous little-endian bytes of a tensor (bf16 goes through int16: numpy has no bf16)."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
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
    "full": gen_full,
}
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
