"""oclip.collection: embed a collection as ``oclip embed-dir`` does, here or on Ray Data.

The inputs are read exactly as ``oclip embed-dir`` reads them (docs/COLLECTIONS.md): folders
walked depth first in byte order of the names, WebDataset ``.tar`` shards (``KEY.jpg|png|webp...``
with ``KEY.txt`` / ``KEY.json`` captions), list files (``PATH`` or ``PATH<TAB>CAPTION`` a line).
Items are numbered in that order; shard ``k`` holds the rows of items ``k*S ... (k+1)*S - 1``
that decode. The output folder has the same layout, and for the same model the same bytes in
``img_emb/``, ``text_emb/`` and ``metadata/`` as the program writes::

    img_emb/img_emb_NNNN.npy      float32 [rows, E], L2-normalized
    text_emb/text_emb_NNNN.npy    with text=True: the captions' embeddings (zeros: no caption)
    metadata/metadata_NNNN.jsonl  {"row", "index", "path" | "tar", "key", "file", "caption"}
    metadata/metadata_NNNN.parquet  the same columns (with pyarrow)
    errors.jsonl                  the items that did not decode, with the reason
    manifest.json                 settings, counts

Distributed (Ray Data, one model per actor)::

    import ray, oclip.collection as oc
    ray.init()
    oc.embed_collection(["photos/", "shards/000.tar"], "out/", model="ViT-B-32:laion2b_s34b_b79k",
                        engine="ray", concurrency=8, text=True)

Each shard is one Ray Data row; ``map_batches`` with a callable class gives every actor its own
model (loaded once), which embeds its shards and writes their files (atomically: temporary,
fsync, rename) into the output folder, which therefore must be shared by the workers (NFS, a
mounted bucket). Shards whose metadata file exists are skipped, so a stopped job is resumed by
running it again. No scheduler of our own: Ray places the actors and retries failed tasks.
``engine="local"`` runs the same code in this process (no Ray).
"""
import json
import os
import stat
import tarfile

import numpy as np

__all__ = ["walk", "plan", "embed_collection", "embed_shard", "read_embeddings"]

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm", "pgm", "pbm")
MAX_CAPTION = 64 * 1024


def _is_image_name(name):
    base = name.rsplit("/", 1)[-1]
    return "." in base and base.rsplit(".", 1)[1].lower() in IMAGE_EXTS


def _caption(b):
    """A caption as embed-dir stores it: at most 64 KiB, one trailing newline (and CR) off."""
    b = b[:MAX_CAPTION]
    if b.endswith(b"\n"):
        b = b[:-1]
    if b.endswith(b"\r"):
        b = b[:-1]
    return b


def _sidecar(path):
    p = path[: path.rfind(".")] + ".txt"
    try:
        if stat.S_ISREG(os.stat(p).st_mode):
            with open(p, "rb") as f:
                return _caption(f.read(MAX_CAPTION))
    except OSError:
        pass
    return None


def _join(d, name):
    return d + name if d.endswith("/") else d + "/" + name


def _walk_dir(top):
    stack = [(top, sorted((n for n in os.listdir(top) if not n.startswith(".")),
                          key=os.fsencode))]
    while stack:
        d, names = stack[-1]
        if not names:
            stack.pop()
            continue
        p = _join(d, names.pop(0))
        try:
            st = os.stat(p)
        except OSError as e:
            if _is_image_name(p):
                yield {"path": p, "error": "cannot read: %s" % e.strerror}
            continue
        if stat.S_ISDIR(st.st_mode):
            if not os.path.islink(p):
                stack.append((p, sorted((n for n in os.listdir(p) if not n.startswith(".")),
                                        key=os.fsencode)))
            continue
        if stat.S_ISREG(st.st_mode) and _is_image_name(p):
            yield {"path": p, "caption": _sidecar(p)}


def _walk_list(path):
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            p, tab, cap = line.partition(b"\t")
            p = os.fsdecode(p)
            yield {"path": p, "caption": _caption(cap) if tab else
                   (_sidecar(p) if _is_image_name(p) else None)}


def _json_caption(b):
    try:
        o = json.loads(b)
    except ValueError:
        return None
    if not isinstance(o, dict):
        return None
    c = o.get("caption")
    if not isinstance(c, str):
        c = o.get("text")
    if not isinstance(c, str):
        return None
    return _caption(c.split("\0", 1)[0].encode("utf-8", "surrogatepass"))


def _walk_tar(path):
    """Samples of a WebDataset tar: consecutive members with one key. The image member is read
    by its offset later (embed_shard); a member cut short ends the tar with an error item."""
    size = os.path.getsize(path)
    cur = None
    try:
        with tarfile.open(path, "r|*") as t:
            for ti in t:
                if not ti.isreg():
                    continue
                name = ti.name
                base = name.rsplit("/", 1)[-1]
                if base.startswith("."):
                    continue
                dot = base.find(".")
                key = name[: len(name) - len(base) + dot] if dot >= 0 else name
                ext = base[dot + 1:] if dot >= 0 else ""
                if cur is None or cur["key"] != key:
                    if cur is not None:
                        yield _finish(path, cur)
                    cur = {"key": key, "members": 0}
                cur["members"] += 1
                want_img = ext.lower() in IMAGE_EXTS and "file" not in cur
                want_txt = ext.lower() == "txt" and "txt" not in cur
                want_json = ext.lower() == "json" and "json" not in cur
                if not (want_img or want_txt or want_json):
                    continue
                if ti.offset_data + ti.size > size:
                    cur["error"] = "member '%s': Truncated tar archive" % name
                    yield _finish(path, cur)
                    return
                if want_img:
                    cur["file"] = name
                    cur["offset"] = ti.offset_data
                    cur["size"] = ti.size
                else:
                    data = t.extractfile(ti).read()
                    if want_txt:
                        cur["txt"] = _caption(data)
                    else:
                        cur["json"] = _json_caption(data)
    except (tarfile.ReadError, EOFError) as e:
        if cur is not None:
            yield _finish(path, cur)
        yield {"tar": path, "error": "Truncated tar archive (%s)" % e}
        return
    if cur is not None:
        yield _finish(path, cur)


def _finish(path, s):
    it = {"tar": path, "key": s["key"]}
    if "error" in s:
        it["error"] = s["error"]
    elif "file" not in s:
        n = s["members"]
        it["error"] = ("sample '%s' has no image (%d member%s; image extensions: %s)"
                       % (s["key"], n, "" if n == 1 else "s", " ".join(IMAGE_EXTS)))
    else:
        it["file"], it["offset"], it["size"] = s["file"], s["offset"], s["size"]
    cap = s.get("txt")
    if cap is None:
        cap = s.get("json")
    it["caption"] = cap
    return it


def _kind(p):
    st = os.stat(p)
    low = p.lower()
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if low.endswith(".tar") or low.endswith(".tar.gz") or low.endswith(".tgz"):
        return "tar"
    return "list"


def walk(inputs):
    """The items of the inputs in embed-dir's order: dicts with "index", "path" (a file) or
    "tar" + "key" (+ "file", "offset", "size": the image member), "caption" (bytes or None),
    and "error" for items that cannot be an image. Raises OSError for a missing input."""
    kinds = [_kind(p) for p in inputs]
    i = 0
    for p, k in zip(inputs, kinds):
        gen = _walk_dir(p) if k == "dir" else _walk_tar(p) if k == "tar" else _walk_list(p)
        for it in gen:
            it["index"] = i
            i += 1
            yield it


def plan(inputs, shard_size=10000):
    """[(shard, [items])]: the items of walk(inputs) cut into shards of shard_size items."""
    shards, cur = [], []
    for it in walk(inputs):
        cur.append(it)
        if len(cur) == shard_size:
            shards.append((len(shards), cur))
            cur = []
    if cur:
        shards.append((len(shards), cur))
    return shards


# ---- JSON lines with the bytes embed-dir writes (cli/text.c cli_json_print) ----
def _utf8_chars(b):
    """bytes -> str, each byte that does not start a well-formed UTF-8 sequence as U+FFFD"""
    out, i, n = [], 0, len(b)
    while i < n:
        c = b[i]
        k = 1 if c < 0x80 else 2 if 0xC2 <= c < 0xE0 else 3 if 0xE0 <= c < 0xF0 else \
            4 if 0xF0 <= c < 0xF5 else 0
        if k:
            try:
                out.append(b[i:i + k].decode("utf-8"))
                i += k
                continue
            except UnicodeDecodeError:
                pass
        out.append("\ufffd")
        i += 1
    return "".join(out)


_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
          "\t": "\\t"}


def _jstr(s):
    if isinstance(s, bytes):
        s = _utf8_chars(s.split(b"\0", 1)[0])
    else:
        s = _utf8_chars(os.fsencode(s).split(b"\0", 1)[0])
    out = []
    for ch in s:
        cp = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif cp < 0x20 or 0x7F <= cp <= 0x9F:
            out.append("\\u%04x" % cp)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _line(field, n, it, error=None):
    parts = ['"%s":%d' % (field, n), '"index":%d' % it["index"]]
    if it.get("key") is not None:
        parts += ['"tar":' + _jstr(it["tar"]), '"key":' + _jstr(it["key"])]
        if it.get("file") and error is None:
            parts.append('"file":' + _jstr(it["file"]))
        elif it.get("file"):
            parts.append('"file":' + _jstr(it["file"]))
    else:
        parts.append(('"tar":' if "tar" in it else '"path":') + _jstr(it.get("tar") or it["path"]))
    if error is not None:
        parts.append('"error":' + _jstr(error))
    elif it.get("caption") is not None:
        parts.append('"caption":' + _jstr(it["caption"]))
    return "{" + ",".join(parts) + "}\n"


def _npy(x):
    x = np.ascontiguousarray(x, dtype="<f4")
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % x.shape
    pad = (64 - (10 + len(d) + 1) % 64) % 64
    hdr = (d + " " * pad + "\n").encode()
    return b"\x93NUMPY\x01\x00" + len(hdr).to_bytes(2, "little") + hdr + x.tobytes()


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _image_bytes(it):
    if it.get("key") is None:
        return it["path"]  # the model's transform reads the file
    with open(it["tar"], "rb") as f:
        f.seek(it["offset"])
        return f.read(it["size"])


def _shard_path(out, kind, k):
    if kind == "metadata":
        return os.path.join(out, "metadata", "metadata_%04d.jsonl" % k)
    return os.path.join(out, "%s_emb" % kind, "%s_emb_%04d.npy" % (kind, k))


def embed_shard(model, shard, items, out, text=False, batch_size=32, parquet=True):
    """Embeds one shard's items with `model` (an oclip.CLIP) and writes its files into `out`
    (metadata last: its presence means the shard is complete). Returns the error lines."""
    import oclip

    E = model.embed_dim
    pre = model.preprocess
    rows, errors, pixels = [], [], []
    for it in items:
        if it.get("error"):
            errors.append(it)
            continue
        try:
            pixels.append(pre(_image_bytes(it)))
            rows.append(it)
        except oclip.Error as e:
            it = dict(it, error=str(e.message if hasattr(e, "message") else e))
            if getattr(e, "hint", None):
                it["error"] += "\nhint: " + e.hint
            errors.append(it)
    img = np.zeros((len(rows), E), np.float32)
    for i in range(0, len(rows), batch_size):
        img[i:i + batch_size] = model.encode_image(np.stack(pixels[i:i + batch_size]),
                                                   normalize=True)
    txt = None
    if text:
        txt = np.zeros((len(rows), E), np.float32)
        idx = [i for i, it in enumerate(rows) if it.get("caption") is not None]
        for j in range(0, len(idx), batch_size):
            sel = idx[j:j + batch_size]
            caps = [rows[i]["caption"].decode("utf-8", "replace") for i in sel]
            txt[sel] = model.encode_text(caps, normalize=True)
    _write_atomic(_shard_path(out, "img", shard), _npy(img))
    if text:
        _write_atomic(_shard_path(out, "text", shard), _npy(txt))
    if parquet:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            pq = None
        if pq is not None:
            cols = {"row": list(range(len(rows))), "index": [it["index"] for it in rows],
                    "path": [it.get("path") for it in rows], "tar": [it.get("tar") for it in rows],
                    "key": [it.get("key") for it in rows], "file": [it.get("file") for it in rows],
                    "caption": [None if it.get("caption") is None else
                                _utf8_chars(it["caption"].split(b"\0", 1)[0]) for it in rows]}
            p = os.path.join(out, "metadata", "metadata_%04d.parquet" % shard)
            pq.write_table(pa.table(cols), p + ".tmp")
            os.replace(p + ".tmp", p)
    meta = "".join(_line("row", r, it) for r, it in enumerate(rows))
    err = [_line("shard", shard, it, it["error"]) for it in errors]
    _write_atomic(os.path.join(out, "errors", "errors_%04d.jsonl" % shard),
                  "".join(err).encode())
    _write_atomic(_shard_path(out, "metadata", shard), meta.encode())
    return err


class _ShardEmbedder:
    """A Ray Data actor: one model, loaded once, embeds whole shards."""

    def __init__(self, model, out, text, batch_size, threads):
        import oclip
        self.model = oclip.create_model(model, threads=threads)
        self.out, self.text, self.batch_size = out, text, batch_size

    def __call__(self, batch):
        done = []
        for shard, items in zip(batch["shard"], batch["items"]):
            embed_shard(self.model, int(shard), json.loads(items, object_hook=_dec), self.out,
                        self.text, self.batch_size)
            done.append(int(shard))
        return {"shard": np.array(done, np.int64)}


def _enc(it):
    return {k: (v.hex() if isinstance(v, bytes) else v) for k, v in it.items()} | \
        {"_bytes": [k for k, v in it.items() if isinstance(v, bytes)]}


def _dec(d):
    if "_bytes" in d:
        for k in d.pop("_bytes"):
            d[k] = bytes.fromhex(d[k])
    return d


def embed_collection(inputs, out, model=None, shard_size=10000, text=False, batch_size=32,
                     engine="local", concurrency=2, threads=0):
    """Embeds the inputs into the folder `out` (layout above); returns the manifest as a dict.

    engine "local": in this process; "ray": Ray Data, `concurrency` actors of `threads` threads
    each (ray.init() first, or Ray starts a local cluster). Shards already complete in `out`
    are kept (resume)."""
    import oclip

    inputs = [os.fspath(p) for p in inputs]
    for sub in ("img_emb", "metadata", "errors") + (("text_emb",) if text else ()):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    shards = plan(inputs, shard_size)
    todo = [(k, items) for k, items in shards
            if not os.path.exists(_shard_path(out, "metadata", k))]
    if engine == "local":
        m = oclip.create_model(model, threads=threads)
        for k, items in todo:
            embed_shard(m, k, items, out, text, batch_size)
    elif engine == "ray":
        import ray.data

        rows = [{"shard": k, "items": json.dumps([_enc(it) for it in items])} for k, items in todo]
        if rows:
            ds = ray.data.from_items(rows, override_num_blocks=len(rows))
            res = ds.map_batches(_ShardEmbedder, batch_size=1, concurrency=concurrency,
                                 fn_constructor_args=(model, out, text, batch_size, threads))
            got = sorted(int(s) for s in res.to_pandas()["shard"]) if hasattr(res, "to_pandas") \
                else sorted(int(r["shard"]) for r in res.take_all())
            if got != [k for k, _ in todo]:
                raise RuntimeError("ray: shards %s were not embedded" %
                                   sorted(set(k for k, _ in todo) - set(got)))
    else:
        raise ValueError("engine: 'local' or 'ray', not %r" % (engine,))
    # errors.jsonl: the shards' error lines in shard order; counts from the metadata
    errs, images, captions = [], 0, 0
    for k, _ in shards:
        with open(os.path.join(out, "errors", "errors_%04d.jsonl" % k), encoding="utf-8") as f:
            errs.append(f.read())
        with open(_shard_path(out, "metadata", k), encoding="utf-8") as f:
            for line in f:
                images += 1
                captions += '"caption":' in line
    _write_atomic(os.path.join(out, "errors.jsonl"), "".join(errs).encode())
    m = oclip.create_model(model, threads=1)
    n_items = sum(len(items) for _, items in shards)
    manifest = {
        "format": "oclip-embeddings", "format_version": 1,
        "settings": {
            "model": {"spec": model if model in (None, "default") or not os.path.exists(model)
                      else os.path.realpath(model), "fingerprint": m.fingerprint(),
                      "embed_dim": m.embed_dim},
            "inputs": inputs, "shard_size": shard_size, "text": bool(text), "dtype": "float32",
            "normalized": True, "oclip_version": oclip.__version__,
            "writer": "oclip.collection (%s)" % engine},
        "complete": True,
        "counts": {"items": n_items, "images": images, "errors": n_items - images,
                   "captions": captions},
        "shards": len(shards)}
    if manifest["settings"]["model"]["spec"] is None:
        manifest["settings"]["model"]["spec"] = "default"
    _write_atomic(os.path.join(out, "manifest.json"),
                  (json.dumps(manifest, separators=(",", ":")) + "\n").encode())
    return manifest


def read_embeddings(out, kind="img"):
    """All rows of an output folder: (float32 [N, E], [metadata dicts]) in row order."""
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        n = json.load(f)["shards"]
    embs, meta = [], []
    for k in range(n):
        embs.append(np.load(_shard_path(out, kind, k)))
        with open(_shard_path(out, "metadata", k), encoding="utf-8") as f:
            meta += [json.loads(line) for line in f]
    return (np.concatenate(embs) if embs else np.zeros((0, 0), np.float32)), meta
