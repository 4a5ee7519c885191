"""The Python API (the oclip package) against the C API (build/oclip_bench serve, `make
bench-build`) and OpenCLIP, in one run, interleaved.

    python bench/python_api.py [-m SPEC] [--threads N] [--reps R] [--load-reps L]
                               [--openclip-python PY] [--openclip-model NAME]
                               [--openclip-pretrained TAG] [--cases image:1,image:8,text:1000]

Three long-lived processes load the model once each and answer one timed call per request: the
C API (oclip_bench serve: oclip_encode_image / oclip_encode_text_strings), the Python API
(model.encode_image(pixels, normalize=True) / model.encode_text(strings, normalize=True), timed
inside that interpreter, so the binding's argument handling, buffer checks and output
allocation count) and OpenCLIP (model.encode_image(x, normalize=True) / tokenizer + encode_text,
torch.inference_mode, torch.set_num_threads(N)). Inputs: random preprocessed pixels [B, 3, H,
W] (normal, seed 0; the same values in every engine but the C one, which draws its own) and the
prompts "a photo of a {class}." over OpenCLIP's 1000 ImageNet class names. Each of R rounds runs
every case once in every engine, the engine order rotating per round, with a 0.15 s pause before
each call (the engines' spinning worker threads go to sleep, as bench/oclip_bench.c does); the
median of the R runs is reported. Import + load: L fresh interpreters each, alternating: `import
oclip` + `oclip.create_model_and_transforms(SPEC)` against `import open_clip` +
`open_clip.create_model_and_transforms(NAME, pretrained=TAG)` (times taken inside the
interpreter, and the whole process's wall time from here), and the C API's oclip_model_load.

SPEC: as the oclip program's -m (default: the embedded model). OpenCLIP loads the same weights:
"default" -> local-dir:models/default; a folder with open_clip_config.json -> local-dir:FOLDER;
ARCH:TAG -> (ARCH, pretrained=TAG); hf-hub:ORG/NAME -> itself; else give --openclip-model (and
--openclip-pretrained FILE). OpenCLIP is skipped without --openclip-python (an interpreter with
open_clip_torch, e.g. /work/main/.venv/bin/python). --python: the interpreter with oclip
installed (default: this one).

Prints one JSON object (medians in seconds; "python_over_c": the Python API's median over the C
API's, minus 1; "openclip_over_python": OpenCLIP's over the Python API's; "load_ratio": OpenCLIP
import + load over oclip's) and a short table on stderr. Not a test: nothing fails on a
timing. Run it on a quiet machine: the numbers mean nothing while other work shares the cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# One request per stdin line ("image B", "text B", "quit"), one JSON line per answer.
PY_SERVE = r"""
import sys, time, json
t0 = time.perf_counter()
import numpy as np, oclip
t1 = time.perf_counter()
spec = None if sys.argv[1] == "default" else sys.argv[1]
m = oclip.create_model(spec, threads=int(sys.argv[2]))
t2 = time.perf_counter()
h, w = m.image_size
prompts = ["a photo of a %s." % c for c in oclip.IMAGENET_CLASSNAMES]
rng = np.random.default_rng(0)
px = {}
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "threads": m.threads,
                  "embed_dim": m.embed_dim}), flush=True)
for line in sys.stdin:
    kind, _, b = line.strip().partition(" ")
    if kind == "quit":
        break
    b = int(b)
    if kind == "image":
        if b not in px:
            px[b] = rng.standard_normal((b, 3, h, w), dtype=np.float32)
        x = px[b]
        s = time.perf_counter(); m.encode_image(x, normalize=True); dt = time.perf_counter() - s
    else:
        t = [prompts[i % len(prompts)] for i in range(b)]
        s = time.perf_counter(); m.encode_text(t, normalize=True); dt = time.perf_counter() - s
    print(json.dumps({"s": dt}), flush=True)
"""

OC_SERVE = r"""
import sys, time, json
t0 = time.perf_counter()
import torch, open_clip
t1 = time.perf_counter()
torch.set_num_threads(int(sys.argv[3]))
m, _, _ = open_clip.create_model_and_transforms(sys.argv[1], pretrained=sys.argv[2] or None)
m.eval()
tok = open_clip.get_tokenizer(sys.argv[1])
t2 = time.perf_counter()
from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES
prompts = ["a photo of a %s." % c for c in IMAGENET_CLASSNAMES]
size = m.visual.image_size
h, w = size if isinstance(size, (tuple, list)) else (size, size)
import numpy as np
rng = np.random.default_rng(0)
px = {}
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "threads": torch.get_num_threads()}),
      flush=True)
with torch.inference_mode():
    for line in sys.stdin:
        kind, _, b = line.strip().partition(" ")
        if kind == "quit":
            break
        b = int(b)
        if kind == "image":
            if b not in px:
                px[b] = torch.from_numpy(rng.standard_normal((b, 3, h, w), dtype=np.float32))
            x = px[b]
            s = time.perf_counter(); m.encode_image(x, normalize=True); dt = time.perf_counter() - s
        else:
            t = [prompts[i % len(prompts)] for i in range(b)]
            s = time.perf_counter(); m.encode_text(tok(t), normalize=True)
            dt = time.perf_counter() - s
        print(json.dumps({"s": dt}), flush=True)
"""

# Import + load in a fresh interpreter: the times inside it, as one JSON line.
PY_LOAD = r"""
import sys, time, json
t0 = time.perf_counter()
import oclip
t1 = time.perf_counter()
oclip.create_model_and_transforms(None if sys.argv[1] == "default" else sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0}))
"""

OC_LOAD = r"""
import sys, time, json
t0 = time.perf_counter()
import open_clip
t1 = time.perf_counter()
open_clip.create_model_and_transforms(sys.argv[1], pretrained=sys.argv[2] or None)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0}))
"""


class Engine:
    """A server process: the first line it prints is its load report."""

    def __init__(self, name, cmd, env=None):
        self.name = name
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd=ROOT, env=env)
        line = self.p.stdout.readline()
        if not line:
            self.p.wait()
            raise RuntimeError("%s: did not start (exit %s)" % (name, self.p.returncode))
        self.info = json.loads(line)

    def call(self, req):
        self.p.stdin.write(req + "\n")
        self.p.stdin.flush()
        r = json.loads(self.p.stdout.readline())
        if "s" not in r:
            raise RuntimeError("%s: %s: %s" % (self.name, req, r))
        return r["s"]

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=60)


def openclip_args(a):
    """(model name, pretrained) for OpenCLIP from the oclip spec (see the module doc)."""
    if a.openclip_model:
        return a.openclip_model, a.openclip_pretrained or ""
    spec = a.m
    if spec == "default":
        return "local-dir:" + os.path.join(ROOT, "models", "default"), ""
    if os.path.isdir(spec) and os.path.isfile(os.path.join(spec, "open_clip_config.json")):
        return "local-dir:" + os.path.abspath(spec), ""
    if spec.startswith("hf-hub:"):
        return spec, ""
    if ":" in spec and not os.path.exists(spec):
        arch, tag = spec.split(":", 1)
        return arch, tag
    return None, None


def child_env(py_path):
    env = dict(os.environ)
    if py_path:
        env["PYTHONPATH"] = py_path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_json(cmd, env=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (cmd[0], r.stderr.strip()[-800:]))
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", default="default", help="the model, as oclip -m (default: embedded)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=20, help="timed rounds per case")
    ap.add_argument("--load-reps", type=int, default=5, help="fresh interpreters per loader")
    ap.add_argument("--cases", default="image:1,image:8,text:1000")
    ap.add_argument("--python", default=sys.executable, help="interpreter with oclip")
    ap.add_argument("--python-path", default=None,
                    help="PYTHONPATH for it (e.g. python/ after build_ext --inplace)")
    ap.add_argument("--openclip-python", default=None)
    ap.add_argument("--openclip-model", default=None)
    ap.add_argument("--openclip-pretrained", default=None)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "oclip_bench"))
    a = ap.parse_args()
    cases = [(k, int(b)) for k, b in (c.split(":") for c in a.cases.split(","))]
    oc_name, oc_pre = openclip_args(a)
    env = child_env(a.python_path)
    res = {"model": a.m, "threads": a.threads, "reps": a.reps, "load_reps": a.load_reps,
           "openclip": {"model": oc_name, "pretrained": oc_pre} if a.openclip_python else None}

    engines = []
    try:
        if not os.access(a.bench, os.X_OK):
            sys.exit("python_api.py: %s not built (make bench-build)" % a.bench)
        engines.append(Engine("c_api", [a.bench, "serve", "-m", a.m, "--threads",
                                         str(a.threads)]))
        engines.append(Engine("python_api", [a.python, "-c", PY_SERVE, a.m, str(a.threads)],
                              env))
        if a.openclip_python:
            if not oc_name:
                sys.exit("python_api.py: which OpenCLIP model is %r? give --openclip-model" % a.m)
            engines.append(Engine("openclip", [a.openclip_python, "-c", OC_SERVE, oc_name,
                                               oc_pre, str(a.threads)]))
        res["servers"] = {e.name: e.info for e in engines}
        times = {e.name: {"%s_%d" % c: [] for c in cases} for e in engines}
        for e in engines:  # warm-up: first calls pack weights, grow pools, allocate
            for kind, b in cases:
                e.call("%s %d" % (kind, b))
        for r in range(a.reps):
            for kind, b in cases:
                for i in range(len(engines)):
                    e = engines[(i + r) % len(engines)]
                    time.sleep(0.15)
                    times[e.name]["%s_%d" % (kind, b)].append(e.call("%s %d" % (kind, b)))
    finally:
        for e in engines:
            e.close()
    res["calls"] = {n: {c: {"median_s": med(v), "runs": v} for c, v in t.items()}
                    for n, t in times.items()}
    res["python_over_c"] = {c: med(times["python_api"][c]) / med(times["c_api"][c]) - 1
                            for c in times["c_api"]}
    if "openclip" in times:
        res["openclip_over_python"] = {c: med(times["openclip"][c]) / med(times["python_api"][c])
                                       for c in times["c_api"]}

    # import + load, fresh interpreters, alternating
    loads = {"python_api": [], "openclip": []}
    for r in range(a.load_reps):
        order = ["python_api", "openclip"] if r % 2 == 0 else ["openclip", "python_api"]
        for who in order:
            if who == "python_api":
                loads[who].append(run_json([a.python, "-c", PY_LOAD, a.m], env))
            elif a.openclip_python:
                loads[who].append(run_json([a.openclip_python, "-c", OC_LOAD, oc_name, oc_pre]))
    res["import_load"] = {
        who: {k: med([x[k] for x in v]) for k in ("import_s", "load_s", "total_s", "process_s")}
        for who, v in loads.items() if v}
    res["import_load"]["c_api_load_s"] = res["servers"]["c_api"]["load_s"]
    if loads["openclip"]:
        il = res["import_load"]
        res["load_ratio"] = {"inside": il["openclip"]["total_s"] / il["python_api"]["total_s"],
                             "process": il["openclip"]["process_s"] / il["python_api"]["process_s"]}
    print(json.dumps(res, indent=1))

    w = sys.stderr.write
    w("%-12s" % "median ms" + "".join("%14s" % n for n in times) + "   python/c - 1\n")
    for c in times["c_api"]:
        w("%-12s" % c + "".join("%14.3f" % (1e3 * med(times[n][c])) for n in times) +
          "   %+.1f%%\n" % (100 * res["python_over_c"][c]))
    for who, v in res["import_load"].items():
        if isinstance(v, dict):
            w("import+load %-10s %.3f s inside, %.3f s process\n" % (who, v["total_s"],
                                                                   v["process_s"]))
    if "load_ratio" in res:
        w("OpenCLIP / oclip import+load: %.1fx (inside), %.1fx (process)\n" % (
            res["load_ratio"]["inside"], res["load_ratio"]["process"]))


if __name__ == "__main__":
    main()
