"""oclip.collection (the Python / Ray Data recipe of `oclip embed-dir`) against the oclip
program's own output on the same generated collection (tests/collection_check.py make: a folder
tree with planted broken, truncated and non-image files, a WebDataset tar, a cut tar, a list):
the same items in the same order, the same shard bytes (img_emb, text_emb, metadata), the same
errors. The Ray test runs Ray Data in local mode; it is skipped where ray is not installed."""
import importlib.util
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT, oclip_bin

oc = pytest.importorskip("oclip.collection")

_spec = importlib.util.spec_from_file_location(
    "collection_check", os.path.join(ROOT, "tests", "collection_check.py"))
cc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cc)

SHARD = 5


@pytest.fixture(scope="module")
def coll(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("coll"))
    cc.make(os.path.join(ROOT, "tests", "fixtures", "default", "heldout"), d)
    inputs = [os.path.join(d, x) for x in ("photos", "shard-000.tar", "cut.tar", "list.txt")]
    return d, inputs


@pytest.fixture(scope="module")
def c_out(coll):
    """The oclip program's output (embed-dir --text), or a skip where it is not built."""
    b = oclip_bin()
    if not b:
        pytest.skip("build/oclip not built (make); set OCLIP_BIN")
    d, inputs = coll
    out = os.path.join(d, "c_out")
    r = subprocess.run([b, "embed-dir", *inputs, "--text", "--shard-size", str(SHARD), "-o", out],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def errors_of(out):
    res = []
    with open(os.path.join(out, "errors.jsonl"), encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            res.append((e["shard"], e["index"], e.get("path"), e.get("tar"), e.get("key")))
    return sorted(res)


def assert_same(c, py):
    with open(os.path.join(c, "manifest.json")) as f:
        mc = json.load(f)
    with open(os.path.join(py, "manifest.json")) as f:
        mp = json.load(f)
    assert mc["counts"] == mp["counts"]
    assert mc["shards"] == mp["shards"]
    assert mc["settings"]["model"]["fingerprint"] == mp["settings"]["model"]["fingerprint"]
    for k in range(mc["shards"]):
        for kind in ("img", "text", "metadata"):
            with open(oc._shard_path(c, kind, k), "rb") as f:
                a = f.read()
            with open(oc._shard_path(py, kind, k), "rb") as f:
                b = f.read()
            assert a == b, (kind, k)
    assert errors_of(c) == errors_of(py)


def test_walk_order_and_items(coll, c_out):
    d, inputs = coll
    items = list(oc.walk(inputs))
    assert [it["index"] for it in items] == list(range(len(items)))
    with open(os.path.join(c_out, "manifest.json")) as f:
        assert len(items) == json.load(f)["counts"]["items"]
    bad = sorted((it.get("path") or "%s:%s" % (it["tar"], it.get("key")))
                 for it in items if it.get("error"))
    # the walk itself finds the sample without image and the cut member; decoding the rest
    assert bad == [os.path.join(d, "cut.tar") + ":000006",
                   os.path.join(d, "shard-000.tar") + ":000099"]


def test_local_equals_program(coll, c_out, tmp_path):
    d, inputs = coll
    out = str(tmp_path / "py")
    man = oc.embed_collection(inputs, out, shard_size=SHARD, text=True, engine="local",
                              batch_size=4)
    assert man["counts"] == {"items": 53, "images": 47, "errors": 6, "captions": 14}
    assert_same(c_out, out)
    emb, meta = oc.read_embeddings(out)
    assert emb.shape == (47, 128) and len(meta) == 47
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_resume_keeps_complete_shards(coll, c_out, tmp_path):
    d, inputs = coll
    out = str(tmp_path / "py")
    oc.embed_collection(inputs, out, shard_size=SHARD, text=True)
    # a job stopped mid-way: the last shards lost (and a half-written temporary)
    for k in (8, 9, 10):
        os.remove(oc._shard_path(out, "metadata", k))
    open(oc._shard_path(out, "img", 9) + ".tmp", "wb").write(b"partial")
    oc.embed_collection(inputs, out, shard_size=SHARD, text=True)
    assert_same(c_out, out)


def test_parquet_metadata(coll, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    d, inputs = coll
    out = str(tmp_path / "py")
    oc.embed_collection(inputs, out, shard_size=SHARD, text=True)
    t = pq.read_table(os.path.join(out, "metadata", "metadata_0000.parquet")).to_pylist()
    with open(oc._shard_path(out, "metadata", 0), encoding="utf-8") as f:
        lines = [json.loads(x) for x in f]
    assert [r["index"] for r in t] == [m["index"] for m in lines]
    assert [r["path"] for r in t] == [m.get("path") for m in lines]


def test_ray_data_equals_program(coll, c_out, tmp_path):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    d, inputs = coll
    out = str(tmp_path / "ray")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True,
             log_to_driver=False)
    try:
        oc.embed_collection(inputs, out, shard_size=SHARD, text=True, engine="ray",
                            concurrency=2, threads=1)
    finally:
        ray.shutdown()
    assert_same(c_out, out)
