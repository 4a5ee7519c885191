"""oclip.index (FAISS / usearch over an `oclip embed-dir` folder) against `oclip search --json` on
the same folder: the generated collection of tests/collection_check.py (broken files among the
good ones, so rows are not items; shards of 5 rows, so ids cross shards), embedded by the
program with --text. The flat index (and IVF probing every list, and usearch's exact search)
must give the program's top-k: the same rows in the same order, the same metadata, the scores
within the 6 decimals the program prints. Skipped where faiss / usearch or build/oclip are
missing (CI's fresh venv has neither library)."""
import importlib.util
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT, oclip_bin

oi = pytest.importorskip("oclip.index")

_spec = importlib.util.spec_from_file_location(
    "collection_check", os.path.join(ROOT, "tests", "collection_check.py"))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)

QUERIES = ["a red circle", "a photo of a dog", "green"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    b = oclip_bin()
    if not b:
        pytest.skip("build/oclip not built (make); set OCLIP_BIN")
    d = str(tmp_path_factory.mktemp("index"))
    cc.make(os.path.join(ROOT, "tests", "fixtures", "default", "heldout"), d)
    inputs = [os.path.join(d, x) for x in ("photos", "shard-000.tar", "cut.tar", "list.txt")]
    out = os.path.join(d, "out")
    r = subprocess.run([b, "embed-dir", *inputs, "--text", "--shard-size", "5", "-o", out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return b, out


def program(b, out, query, k, against="img"):
    r = subprocess.run([b, "search", out, query, "-k", str(k), "--json", "--against", against],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["results"]


def query_vec(b, out, text):
    p = os.path.join(out, "..", "q.npy")
    subprocess.run([b, "embed-text", text, "-o", p], check=True, capture_output=True)
    return np.load(p)[0]


def assert_same(got, want):
    assert [(h["shard"], h["row"]) for h in got] == [(h["shard"], h["row"]) for h in want]
    for g, w in zip(got, want):
        assert abs(g["score"] - w["score"]) <= 1.5e-6, (g, w)
        assert {f: v for f, v in g.items() if f != "score"} == \
               {f: v for f, v in w.items() if f != "score"}


def backends():
    have = []
    for mod, kinds in (("faiss", ["flat", "ivf"]), ("usearch.index", ["usearch"])):
        try:
            __import__(mod)
            have += kinds
        except ImportError:
            pass
    return have


@pytest.mark.parametrize("kind", ["flat", "ivf", "usearch"])
@pytest.mark.parametrize("against", ["img", "text"])
def test_top_k_equals_program(folder, kind, against):
    if kind not in backends():
        pytest.skip("%s: its library is not installed" % kind)
    b, out = folder
    ix = oi.build_index(out, which=against, kind=kind, nlist=3 if kind == "ivf" else None)
    if kind == "ivf":
        ix.nprobe = 3  # every list: exhaustive, hence exact
    man = json.load(open(os.path.join(out, "manifest.json")))
    assert ix.rows == man["counts"]["images"] and ix.rows > 10 and len(ix.shard_rows) > 2
    for text in QUERIES:
        for k in (1, 4, ix.rows):
            want = program(b, out, text, k, against)
            got = ix.search(query_vec(b, out, text), k=k, exact=True)
            assert_same(got, want)


def test_ids_map_to_rows_and_metadata(folder):
    if "flat" not in backends():
        pytest.skip("faiss is not installed")
    b, out = folder
    ix = oi.build_index(out)
    at = 0
    for k, emb, lines in oi.iter_shards(out):
        for r, line in enumerate(lines):
            assert ix.locate(at + r) == (k, r)
            assert ix.metadata(at + r) == json.loads(line) and json.loads(line)["row"] == r
        at += emb.shape[0]
    assert at == ix.rows
    with pytest.raises(IndexError):
        ix.locate(ix.rows)
    # a batch of queries: one list each, as the single queries
    qs = np.stack([query_vec(b, out, t) for t in QUERIES])
    assert ix.search(qs, k=3) == [ix.search(q, k=3) for q in qs]


def test_save_and_load(folder, tmp_path):
    b, out = folder
    if not backends():
        pytest.skip("neither faiss nor usearch is installed")
    for kind in backends():
        ix = oi.build_index(out, kind=kind, nlist=2 if kind == "ivf" else None)
        p = str(tmp_path / ("ix." + kind))
        ix.save(p)
        back = oi.load_index(out, p)
        assert back.kind == kind and back.rows == ix.rows
        q = query_vec(b, out, QUERIES[0])
        if kind == "ivf":
            back.nprobe = ix.nprobe
        assert back.search(q, k=5, exact=True) == ix.search(q, k=5, exact=True)


def test_incomplete_folder_is_refused(folder, tmp_path):
    _, out = folder
    man = json.load(open(os.path.join(out, "manifest.json")))
    man["complete"] = False
    d = tmp_path / "half"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="complete run"):
        oi.build_index(str(d))
    with pytest.raises(ValueError, match="kind"):
        oi.build_index(out, kind="hnsw")
