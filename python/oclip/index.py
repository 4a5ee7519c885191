"""oclip.index: a FAISS or usearch index over an ``oclip embed-dir`` output folder.

The folder (docs/COLLECTIONS.md) holds shards of L2-normalized float32 embeddings
(``img_emb/img_emb_NNNN.npy``, with ``--text`` also ``text_emb/text_emb_NNNN.npy``) and one
metadata line per row (``metadata/metadata_NNNN.jsonl``). :func:`build_index` reads it shard by
shard (one shard's embeddings in memory at a time besides what the index itself keeps) and adds
the rows in row order, so the index's id of a row is its position in the whole collection;
:meth:`CollectionIndex.search` maps ids back to (shard, row) and the row's metadata line and
answers what ``oclip search --json`` answers::

    import oclip.index as oi
    ix = oi.build_index("photos.emb")                     # FAISS IndexFlatIP: exact
    q = model.encode_text(tokenizer(["a red car"]), normalize=True)[0]
    for hit in ix.search(q, k=5):
        print(hit["rank"], hit["score"], hit.get("path"))

Indexes (``kind``):

``"flat"``  FAISS ``IndexFlatIP``: every row is scored by the inner product (the rows are
            normalized: the cosine), exactly as ``oclip search`` ranks them (ties: the earlier
            row first). Memory: rows x E x 4 bytes.
``"ivf"``   FAISS ``IndexIVFFlat`` (inner product) for large collections: ``nlist`` clusters
            (default ``4 * sqrt(rows)``, at least 1, at most rows), trained by k-means on
            ``train_size`` rows (default ``min(rows, 50 * nlist)``) taken evenly from every
            shard; a search visits ``nprobe`` clusters (default ``max(1, nlist // 16)``;
            ``ix.nprobe = n`` changes it; ``nprobe = nlist`` is exact). Approximate: fewer
            clusters visited, faster and less exact. Same memory as flat, plus the centroids.
``"auto"``  flat up to ``flat_max_rows`` rows (default 1,000,000), ivf above.
``"usearch"`` a usearch ``Index`` (HNSW graph, metric ``ip``): approximate by default;
            ``search(..., exact=True)`` scores every row (brute force) instead.

The FAISS and usearch packages are optional (``pip install faiss-cpu`` / ``usearch``); only
this module needs them. :func:`CollectionIndex.save` writes the index with the library's own
writer; :func:`load_index` reads it back with the folder (for the row -> metadata mapping).
"""
import json
import math
import os

import numpy as np

__all__ = ["build_index", "load_index", "CollectionIndex", "iter_shards"]


def _manifest(out):
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    if not isinstance(man, dict) or man.get("complete") is not True:
        raise ValueError("%r: manifest.json does not describe a complete run (oclip embed-dir "
                         "did not finish: run it again with --resume)" % out)
    shards = man.get("shards")
    if not isinstance(shards, int) or isinstance(shards, bool) or shards < 0:
        raise ValueError("%r: manifest.json: \"shards\" is not a count" % out)
    return man


def _emb_path(out, which, k):
    return os.path.join(out, "%s_emb" % which, "%s_emb_%04d.npy" % (which, k))


def _meta_path(out, k):
    return os.path.join(out, "metadata", "metadata_%04d.jsonl" % k)


def _open_shard(out, which, k, E=None, mmap=False):
    """Shard k's embeddings, checked: float32 [rows, E] (a memory map with mmap=True)."""
    p = _emb_path(out, which, k)
    a = np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    if a.dtype != np.float32 or a.ndim != 2 or (E is not None and a.shape[1] != E):
        raise ValueError("%r: expected float32 [rows, %s], found %s %s"
                         % (p, E if E is not None else "E", a.dtype, list(a.shape)))
    return a


def iter_shards(out, which="img"):
    """Yields (k, embeddings float32 [rows, E], metadata lines) shard by shard, in row order;
    which: "img" or "text" (the captions of an ``embed-dir --text`` run)."""
    if which not in ("img", "text"):
        raise ValueError("which: 'img' or 'text', not %r" % (which,))
    man = _manifest(out)
    E = None
    for k in range(man["shards"]):
        a = _open_shard(out, which, k, E)
        E = a.shape[1]
        with open(_meta_path(out, k), encoding="utf-8") as f:
            lines = f.read().splitlines()
        if len(lines) != a.shape[0]:
            raise ValueError("%r: %d metadata lines for %d rows" % (_meta_path(out, k), len(lines),
                                                                    a.shape[0]))
        yield k, a, lines


def _shard_rows(out, which, man):
    """Row count of every shard (from the .npy headers) and E."""
    rows, E = [], None
    for k in range(man["shards"]):
        a = _open_shard(out, which, k, E, mmap=True)
        E = a.shape[1]
        rows.append(a.shape[0])
    if E is None:
        E = int(man.get("settings", {}).get("model", {}).get("embed_dim", 0) or 0)
    return rows, E


def _faiss():
    try:
        import faiss
    except ImportError as e:
        raise ImportError("oclip.index: FAISS is not installed (pip install faiss-cpu)") from e
    return faiss


def _usearch():
    try:
        from usearch.index import Index
    except ImportError as e:
        raise ImportError("oclip.index: usearch is not installed (pip install usearch)") from e
    return Index


class CollectionIndex:
    """An index over the rows of an embed-dir folder, with the row -> metadata mapping."""

    def __init__(self, out, which, kind, index, shard_rows, E):
        self.out, self.which, self.kind, self.index, self.E = out, which, kind, index, E
        self.shard_rows = list(shard_rows)
        self.starts = np.concatenate([[0], np.cumsum(self.shard_rows, dtype=np.int64)])
        self.rows = int(self.starts[-1])
        self._meta = {}

    @property
    def nprobe(self):
        return self.index.nprobe if self.kind == "ivf" else None

    @nprobe.setter
    def nprobe(self, n):
        if self.kind != "ivf":
            raise ValueError("nprobe is a setting of the ivf index")
        self.index.nprobe = int(n)

    def locate(self, i):
        """The (shard, row) of the index's id i."""
        if not 0 <= i < self.rows:
            raise IndexError("id %d: the index has %d rows" % (i, self.rows))
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return k, int(i - self.starts[k])

    def metadata(self, i):
        """The metadata (a dict) of the index's id i, read from its shard's .jsonl."""
        k, r = self.locate(i)
        if k not in self._meta:
            if len(self._meta) >= 4:  # a few shards' lines at a time
                self._meta.pop(next(iter(self._meta)))
            with open(_meta_path(self.out, k), encoding="utf-8") as f:
                self._meta[k] = f.read().splitlines()
        return json.loads(self._meta[k][r])

    def _raw_search(self, q, k, exact):
        if self.kind == "usearch":
            m = self.index.search(q, k, exact=exact)
            keys = np.atleast_2d(np.asarray(m.keys)).astype(np.int64)
            dist = np.atleast_2d(np.asarray(m.distances, dtype=np.float32))
            return (np.float32(1) - dist), keys  # usearch's "ip" distance is 1 - dot
        scores, ids = self.index.search(q, k)
        return scores, ids

    def search(self, query, k=10, exact=False):
        """The k best rows for a normalized query embedding [E] (or [n, E]: a list per query):
        dicts {"rank", "score", "shard", "row", and the row's metadata fields} as
        ``oclip search --json`` prints them, best first, ties in row order. exact: for usearch,
        score every row (the FAISS flat index always does)."""
        q = np.ascontiguousarray(query, dtype=np.float32)
        one = q.ndim == 1
        q = np.atleast_2d(q)
        if q.ndim != 2 or q.shape[1] != self.E:
            raise ValueError("query: expected [%d] or [n, %d], got %s" % (self.E, self.E,
                                                                          list(np.shape(query))))
        k = max(0, min(int(k), self.rows))
        if k == 0:
            res = [[] for _ in range(q.shape[0])]
            return res[0] if one else res
        # rows tied with the k-th best may be cut off in any order: ask for more until the last
        # one returned scores below the k-th, so that ties are taken in row order as the program
        # takes them
        kk = k
        while True:
            scores, ids = self._raw_search(q, kk, exact)
            if kk >= self.rows or all(sc[kk - 1] < sc[k - 1] for sc in scores):
                break
            kk = min(self.rows, 2 * kk)
        res = []
        for sc, ii in zip(scores, ids):
            hits = sorted(((float(s), int(i)) for s, i in zip(sc, ii) if i >= 0 and s == s),
                          key=lambda h: (-h[0], h[1]))[:k]
            out = []
            for rank, (s, i) in enumerate(hits, 1):
                shard, row = self.locate(i)
                h = {"rank": rank, "score": s, "shard": shard, "row": row}
                h.update((f, v) for f, v in self.metadata(i).items() if f != "row")
                out.append(h)
            res.append(out)
        return res[0] if one else res

    def save(self, path):
        """Writes the index (faiss.write_index / usearch's save) to path."""
        if self.kind == "usearch":
            self.index.save(path)
        else:
            _faiss().write_index(self.index, path)


def _train_sample(out, which, shard_rows, E, n):
    """About n rows taken evenly from every shard, one shard in memory at a time."""
    total = sum(shard_rows)
    step = max(1, total // max(n, 1))
    parts, at = [], 0
    for k, r in enumerate(shard_rows):
        a = _open_shard(out, which, k, E, mmap=True)
        first = (-at) % step
        parts.append(np.array(a[first::step], dtype=np.float32))
        at += r
    return np.concatenate(parts)[:n] if parts else np.zeros((0, E), np.float32)


def build_index(out, which="img", kind="flat", nlist=None, nprobe=None, train_size=None,
                flat_max_rows=1_000_000, connectivity=None, expansion_add=None,
                expansion_search=None):
    """Builds an index over the ``which`` ("img" or "text") embeddings of the embed-dir folder
    ``out``; kind "flat", "ivf", "auto" (FAISS) or "usearch" (see the module doc for the
    parameters). Returns a :class:`CollectionIndex`."""
    if kind not in ("flat", "ivf", "auto", "usearch"):
        raise ValueError("kind: 'flat', 'ivf', 'auto' or 'usearch', not %r" % (kind,))
    if which not in ("img", "text"):
        raise ValueError("which: 'img' or 'text', not %r" % (which,))
    man = _manifest(out)
    if which == "text" and not man.get("settings", {}).get("text"):
        raise ValueError("%r has no caption embeddings: run `oclip embed-dir --text`" % out)
    shard_rows, E = _shard_rows(out, which, man)
    total = sum(shard_rows)
    if E <= 0:
        raise ValueError("%r: no shards and no embed_dim in manifest.json" % out)
    if kind == "auto":
        kind = "flat" if total <= flat_max_rows else "ivf"
    if kind == "usearch":
        Index = _usearch()
        opts = {k: v for k, v in (("connectivity", connectivity), ("expansion_add", expansion_add),
                                  ("expansion_search", expansion_search)) if v is not None}
        index = Index(ndim=E, metric="ip", dtype=np.float32, **opts)
    else:
        faiss = _faiss()
        if kind == "flat":
            index = faiss.IndexFlatIP(E)
        else:
            nl = int(nlist) if nlist else int(round(4 * math.sqrt(max(total, 1))))
            nl = max(1, min(nl, max(total, 1)))
            quantizer = faiss.IndexFlatIP(E)
            index = faiss.IndexIVFFlat(quantizer, E, nl, faiss.METRIC_INNER_PRODUCT)
            n = int(train_size) if train_size else min(total, 50 * nl)
            index.train(_train_sample(out, which, shard_rows, E, max(n, nl)))
            index.nprobe = int(nprobe) if nprobe else max(1, nl // 16)
    at = 0
    for k, a, lines in iter_shards(out, which):
        if a.shape[0] != shard_rows[k]:
            raise ValueError("%r changed while it was read" % _emb_path(out, which, k))
        if a.shape[0]:
            if kind == "usearch":
                index.add(np.arange(at, at + a.shape[0], dtype=np.int64), a)
            else:
                index.add(np.ascontiguousarray(a))
        at += a.shape[0]
    return CollectionIndex(out, which, kind, index, shard_rows, E)


def load_index(out, path, which="img"):
    """An index :meth:`CollectionIndex.save` wrote for the folder out."""
    man = _manifest(out)
    shard_rows, E = _shard_rows(out, which, man)
    try:
        faiss = _faiss()
        index = faiss.read_index(path)
        kind = "ivf" if isinstance(index, faiss.IndexIVF) else "flat"
        n = index.ntotal
    except (ImportError, RuntimeError):
        Index = _usearch()
        index = Index.restore(path)
        if index is None:
            raise ValueError("%r: neither a FAISS nor a usearch index" % path)
        kind, n = "usearch", len(index)
    if n != sum(shard_rows):
        raise ValueError("%r holds %d rows, %r has %d" % (path, n, out, sum(shard_rows)))
    if (index.ndim if kind == "usearch" else index.d) != E:
        raise ValueError("%r: dimension %d, the folder's embeddings %d"
                         % (path, index.ndim if kind == "usearch" else index.d, E))
    return CollectionIndex(out, which, kind, index, shard_rows, E)
