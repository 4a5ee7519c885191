#!/usr/bin/env python3
"""bench/ab.py — round-robin A/B timing of engine builds (a development tool, not `make bench`).

On a shared VM the speed of a vCPU changes by the minute, so two builds timed one after the other
compare the hours, not the builds. This starts one worker per LABEL=SPEC (a build's
`oclip_bench serve`, or bench/engine.py's PyTorch / ONNX Runtime worker), warms each up, then
sends the same command to every worker in turn (the order rotating between rounds) for R rounds
and prints the median, minimum and mean per worker. Give each build two workers (A, B, A2, B2)
to see the noise.

  python3 bench/ab.py [--rounds R] [--pause S] [--threads N] [--model DIR] CMD LABEL=SPEC ...

  CMD    a serve command: "image 1", "image 8", "text 1000", "classifier 10 80"
  SPEC   PATH/oclip_bench[:DTYPE] (DTYPE f32|f16|bf16|int8: --dtype of the worker), or
         torch / ort (needs the venv: run this with .venv/bin/python)

Example (two builds of the library, `make B=build-a bench-build` and `make B=build-b ...`):
  python3 bench/ab.py --rounds 30 "image 1" a=build-a/oclip_bench b=build-b/oclip_bench \\
      a2=build-a/oclip_bench b2=build-b/oclip_bench
Nothing else should run meanwhile (a fuzzer at idle priority in another session still takes
half the CPU: docs/SECURITY.md).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(spec, model, threads):
    path, _, dtype = spec.partition(":")
    if path in ("torch", "ort"):
        cmd = [sys.executable, os.path.join(ROOT, "bench", "engine.py"), "--worker", path,
               os.path.basename(os.path.normpath(model)), model, str(threads)]
    else:
        cmd = [path, "serve", "-m", model, "--threads", str(threads)]
        cmd += ["--dtype", dtype] if dtype else []
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if not p.stdout.readline():
        raise SystemExit("ab: %s did not start" % spec)
    return p


def call(p, cmd):
    p.stdin.write(cmd + "\n")
    p.stdin.flush()
    line = p.stdout.readline()
    if not line:
        raise SystemExit("ab: a worker died")
    return json.loads(line)["s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds before each call (0.3 in make bench)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "bench", "ViT-B-32"))
    ap.add_argument("cmd")
    ap.add_argument("workers", nargs="+", metavar="LABEL=SPEC")
    a = ap.parse_args()
    ws = []
    for w in a.workers:
        label, sep, spec = w.partition("=")
        if not sep:
            ap.error("%s: expected LABEL=SPEC" % w)
        ws.append((label, start(spec, a.model, a.threads), []))
    for _, p, _ in ws:  # warm-up: the first call packs the weights
        for _ in range(2):
            call(p, a.cmd)
    for r in range(a.rounds):
        # the order rotates between rounds, as in bench/engine.py: with a fixed order the first
        # worker of every round ran 15-20% slower than the others here (RN50 batch 1)
        k = r % len(ws)
        for _, p, times in ws[k:] + ws[:k]:
            if a.pause:
                time.sleep(a.pause)
            times.append(call(p, a.cmd))
    for label, p, times in ws:
        p.stdin.write("quit\n")
        p.stdin.close()
        p.wait()
        print("%-12s median %8.2f ms  min %8.2f  mean %8.2f" % (
            label, statistics.median(times) * 1e3, min(times) * 1e3,
            statistics.mean(times) * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
