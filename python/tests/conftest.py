"""Shared helpers of the oclip Python tests: the repository's fixtures (tests/fixtures, written by
tools/gen_fixtures.py from OpenCLIP 3.3.0) and the oclip program for the C library's own
outputs."""
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIX = os.path.join(ROOT, "tests", "fixtures")


def fix(*parts):
    return os.path.join(FIX, *parts)


def load_json(*parts):
    with open(fix(*parts), encoding="utf-8") as f:
        return json.load(f)


_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "F64": np.float64,
              "I32": np.int32}


def read_safetensors(path):
    """A safetensors file as {name: array} (the format is an 8-byte header length, a JSON header,
    the data), without the safetensors package."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=_ST_DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def oclip_bin():
    """The oclip program of this checkout (OCLIP_BIN, else build/oclip from `make`), or None."""
    b = os.environ.get("OCLIP_BIN") or os.path.join(ROOT, "build", "oclip")
    return b if os.path.isfile(b) and os.access(b, os.X_OK) else None


@pytest.fixture
def cli(tmp_path):
    """Runs the oclip program; skips where it is not built (.ci/run builds it first)."""
    b = oclip_bin()
    if b is None:
        pytest.skip("build/oclip not built (make); set OCLIP_BIN")

    def run(*args, check=True):
        r = subprocess.run([b, *args], capture_output=True, text=True, cwd=ROOT)
        if check and r.returncode != 0:
            raise AssertionError("oclip %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                               r.stderr))
        return r
    return run


def read_npy(path):
    return np.load(path)


def close(got, want, tol):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    d = float(np.max(np.abs(got - want))) if got.size else 0.0
    assert d <= tol, "max-abs %.3g > %.3g" % (d, tol)
    g = got.reshape(len(got), -1) if got.ndim > 1 else got[None]
    w = want.reshape(len(want), -1) if want.ndim > 1 else want[None]
    cos = (g * w).sum(1) / (np.linalg.norm(g, axis=1) * np.linalg.norm(w, axis=1) + 1e-30)
    assert np.all(cos >= 0.99999), "cosine %s" % (cos.min(),)
