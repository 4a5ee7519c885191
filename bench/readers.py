#!/usr/bin/env python3
"""Checkpoint opening: oclip vs torch.load / safetensors on full-size ViT-B-32 files (build/full).

For each file and each reader, a fresh process opens the file and builds its name -> tensor table
REPEAT times; we report the median wall time of the open itself (measured inside the process, so
Python's and torch's import time is excluded, which favours the Python readers), the whole
process's wall time, and the process's peak RSS. oclip is measured through `oclip inspect --json`,
whose process time includes printing the report.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPEAT = 5
OCLIP = os.environ.get("OCLIP_BIN", "build/oclip")
FULL = "build/full"

PY_OPEN = r"""
import resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
import torch, safetensors.torch
from safetensors import safe_open
t0 = time.perf_counter()
if kind == "torch.load":
    sd = torch.load(path, map_location="cpu", weights_only=True)
elif kind == "torch.load-mmap":
    sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
elif kind == "safetensors.load_file":
    sd = safetensors.torch.load_file(path)
elif kind == "safetensors.safe_open":
    with safe_open(path, framework="pt") as f:
        sd = {k: f.get_slice(k).get_shape() for k in f.keys()}
n = len(sd)
dt = time.perf_counter() - t0
print(dt, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_py(kind, path):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PY_OPEN, kind, path], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), time.perf_counter() - t0, int(out[2])


def run_oclip(path):
    t0 = time.perf_counter()
    out = subprocess.run([OCLIP, "inspect", "--json", path], check=True,
                         capture_output=True).stdout
    dt = time.perf_counter() - t0
    json.loads(out)
    return dt, dt, None


def peak_rss_oclip(path):
    # /usr/bin/time reports the child's peak RSS in KiB
    r = subprocess.run(["/usr/bin/time", "-f", "%M", OCLIP, "inspect", "--json", path],
                       capture_output=True, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1])


def median_of(fn, *a):
    runs = [fn(*a) for _ in range(REPEAT)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            max((r[2] or 0) for r in runs))


def main():
    import torch
    files = [("open_clip_pytorch_model.bin", ["torch.load", "torch.load-mmap"]),
             ("legacy.bin", ["torch.load"]),
             ("open_clip_model.safetensors", ["safetensors.load_file", "safetensors.safe_open"])]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.processor())
    print("CPU: %s, %d cores; torch %s; python %s; threads: each reader single-threaded" %
          (cpu, os.cpu_count(), torch.__version__, platform.python_version()))
    print()
    print("| file | size MB | reader | open (median of %d) | process | peak RSS MB | oclip speed-up (open) |" % REPEAT)
    print("|---|---|---|---|---|---|---|")
    for name, readers in files:
        path = os.path.join(FULL, name)
        size = os.path.getsize(path) / 1e6
        o_open, o_proc, _ = median_of(run_oclip, path)
        o_rss = peak_rss_oclip(path) / 1024
        print("| %s | %.0f | oclip inspect | %.4f s | %.4f s | %.1f | 1 |" %
              (name, size, o_open, o_proc, o_rss))
        for kind in readers:
            t_open, t_proc, rss = median_of(run_py, kind, path)
            print("| %s | %.0f | %s | %.4f s | %.2f s | %.1f | %.2gx |" %
                  (name, size, kind, t_open, t_proc, rss / 1024, t_open / o_open))


if __name__ == "__main__":
    main()
