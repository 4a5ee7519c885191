"""The Python API (the oclip package) against the C API (build/oclip_bench, `make bench-build`)
and OpenCLIP, on one model: image embeddings at batch 1 and 8 (random preprocessed pixels,
median of --reps runs after one warm-up), and import + load time (a fresh interpreter each).

    python bench/python_api.py [-m SPEC] [--threads N] [--reps R] [--openclip-python PY]

SPEC: a folder/file/ARCH:TAG as oclip -m (default: the embedded default model; OpenCLIP is
timed only for folders holding an open_clip_config.json, loaded with its local-dir support).
--openclip-python: an interpreter with open_clip_torch (e.g. /work/main/.venv/bin/python).
Not a test: nothing here fails on a timing. Prints one JSON object.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

PY_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import numpy as np, oclip
t1 = time.perf_counter()
m = oclip.create_model(None if sys.argv[1] == "default" else sys.argv[1], threads=int(sys.argv[2]))
t2 = time.perf_counter()
h, w = m.image_size
rng = np.random.default_rng(0)
out = {"import_s": t1 - t0, "load_s": t2 - t1}
for b in (1, 8):
    x = rng.standard_normal((b, 3, h, w), dtype=np.float32)
    m.encode_image(x)
    ts = []
    for _ in range(int(sys.argv[3])):
        s = time.perf_counter(); m.encode_image(x); ts.append(time.perf_counter() - s)
    out["image_%d_s" % b] = sorted(ts)[len(ts) // 2]
print(json.dumps(out))
"""

OC_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import torch, open_clip
t1 = time.perf_counter()
torch.set_num_threads(int(sys.argv[2]))
m, _, _ = open_clip.create_model_and_transforms("local-dir:" + sys.argv[1])
m.eval()
t2 = time.perf_counter()
size = m.visual.image_size
h, w = size if isinstance(size, (tuple, list)) else (size, size)
out = {"import_s": t1 - t0, "load_s": t2 - t1}
g = torch.Generator().manual_seed(0)
with torch.inference_mode():
    for b in (1, 8):
        x = torch.randn((b, 3, h, w), generator=g)
        m.encode_image(x)
        ts = []
        for _ in range(int(sys.argv[3])):
            s = time.perf_counter(); m.encode_image(x); ts.append(time.perf_counter() - s)
        out["image_%d_s" % b] = sorted(ts)[len(ts) // 2]
print(json.dumps(out))
"""


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-500:]}
    try:
        return json.loads(r.stdout)
    except ValueError:
        return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", default="default")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--openclip-python", default=None)
    a = ap.parse_args()
    res = {"model": a.m, "threads": a.threads, "reps": a.reps}
    res["python_api"] = run_json([sys.executable, "-c", PY_CHILD, a.m, str(a.threads), str(a.reps)])
    bench = os.path.join(ROOT, "build", "oclip_bench")
    if os.access(bench, os.X_OK):
        t0 = time.perf_counter()
        c = run_json([bench, "model", "-m", a.m, "--threads", str(a.threads), "--reps",
                      str(a.reps), "--images", "1,8", "--texts", "1", "--classes", "0"])
        proc = time.perf_counter() - t0
        res["c_api"] = c if "error" in c else {
            "load_s": c["load_s"], "process_s": proc,
            "image_1_s": c["image"]["1"]["median_s"], "image_8_s": c["image"]["8"]["median_s"]}
    else:
        res["c_api"] = {"error": "build/oclip_bench not built (make bench-build)"}
    if a.openclip_python and os.path.isfile(os.path.join(a.m, "open_clip_config.json")):
        res["openclip"] = run_json([a.openclip_python, "-c", OC_CHILD, os.path.abspath(a.m),
                                    str(a.threads), str(a.reps)])
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
