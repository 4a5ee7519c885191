#!/usr/bin/env python3
"""bench/serve.py -- `oclip serve` under 1, 8 and 64 concurrent clients, against the CLI's batch
throughput on the same model. Python's standard library only (threads + http.client with
keep-alive connections, one per client).

    python3 bench/serve.py [-m SPEC] [--oclip build/oclip] [--seconds 10] [--clients 1,8,64]
                           [--batch 1] [--image examples/red_circle.png] [--threads N]

For texts and for images it prints, per client count: requests/s, inputs/s, p50 and p99
latency, and the ratio to `oclip embed-text` / `embed-image` throughput (inputs/s of one CLI run
over the same number of inputs, model load excluded by subtracting a run over one input). Also
the server's start-up time (to /health 200) and RSS after the run (VmHWM from /proc).

Run it on a quiet machine: the numbers mean nothing while other jobs load the CPU (the issue's
target: >= 90% of the CLI's batch throughput at 64 clients). docs/BENCHMARKS.md records results.
"""
import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time


def start(oclip, spec, extra):
    t0 = time.monotonic()
    p = subprocess.Popen([oclip, "serve", "--port", "0", "-m", spec, *extra],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    port = int(line.rsplit(":", 1)[1])
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p, port, time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.002)


def load(port, path, body, clients, seconds):
    lat, lock, stop = [], threading.Lock(), time.monotonic() + seconds
    errors = [0]

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        while time.monotonic() < stop:
            t = time.monotonic()
            c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errors[0] += 1
            mine.append(time.monotonic() - t)
        with lock:
            lat.extend(mine)

    t0 = time.monotonic()
    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
    return len(lat) / wall, pct(0.5), pct(0.99), errors[0]


def cli_rate(oclip, spec, image, n, extra):
    """inputs/s of one CLI run over n inputs, the load time (a run over 1 input) subtracted"""
    with tempfile.TemporaryDirectory() as d:
        def run(k):
            args = ([oclip, "embed-image", "-m", spec, *([image] * k)] if image else
                    [oclip, "embed-text", "-m", spec, *["a photo of thing %d" % i for i in range(k)]])
            t = time.monotonic()
            subprocess.run(args + ["-o", d + "/o.npy", *extra], check=True, capture_output=True)
            return time.monotonic() - t
        one = min(run(1) for _ in range(3))
        many = min(run(n) for _ in range(2))
        return (n - 1) / max(many - one, 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", default="default")
    ap.add_argument("--oclip", default="build/oclip")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", default="1,8,64")
    ap.add_argument("--batch", type=int, default=1, help="inputs per request")
    ap.add_argument("--image", default="examples/red_circle.png")
    ap.add_argument("--threads", default=None)
    ap.add_argument("--max-batch", default="32")
    ap.add_argument("--max-wait-ms", default="5")
    a = ap.parse_args()
    extra = ["--threads", a.threads] if a.threads else []
    p, port, startup = start(a.oclip, a.m, extra + ["--max-batch", a.max_batch,
                                                    "--max-wait-ms", a.max_wait_ms,
                                                    "--max-queue", "100000"])
    print("start-up to /health 200: %.3f s" % startup)
    img = base64.b64encode(open(a.image, "rb").read()).decode()
    bodies = {
        "text": ("/v1/embeddings", json.dumps({"input": ["a photo of a cat"] * a.batch})),
        "image": ("/v1/images/embeddings", json.dumps({"images": [img] * a.batch})),
    }
    try:
        for kind, (path, body) in bodies.items():
            ref = cli_rate(a.oclip, a.m, a.image if kind == "image" else None, 257, extra)
            print("\n%s: CLI batch throughput %.1f inputs/s" % (kind, ref))
            print("clients  req/s  inputs/s  p50 ms  p99 ms  vs CLI  errors")
            for c in [int(x) for x in a.clients.split(",")]:
                rps, p50, p99, err = load(port, path, body, c, a.seconds)
                print("%7d %6.1f %9.1f %7.1f %7.1f %6.0f%% %7d" %
                      (c, rps, rps * a.batch, p50, p99, 100 * rps * a.batch / ref, err))
        with open("/proc/%d/status" % p.pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM")]
        print("\nserver peak RSS: %s" % (hwm[0].split(":")[1].strip() if hwm else "?"))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    sys.exit(main())
