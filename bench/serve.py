#!/usr/bin/env python3
"""bench/serve.py -- `oclip serve` under 1, 8 and 64 concurrent clients, against the CLI's batch
throughput on the same model. Python's standard library only (threads + http.client with
keep-alive connections, one per client).

    python3 bench/serve.py [-m SPEC] [--oclip build/oclip] [--seconds 10] [--clients 1,8,64]
                           [--batch 1] [--image examples/red_circle.png] [--threads N]
                           [--python-server PY [--python-batcher asyncio|none]]

For texts and for images it prints, per client count: requests/s, inputs/s, p50 and p99
latency, and the ratio to `oclip embed-text` / `embed-image` throughput (inputs/s of one CLI run
over the same number of inputs, model load excluded by subtracting a run over one input). Also
the server's start-up time (to /health 200) and RSS after the run (VmHWM from /proc).

--python-server PY: also bench/serve_python.py (FastAPI + uvicorn + OpenCLIP 3.3.0 on the same
model, its own asyncio batcher with the same --max-batch / --max-wait-ms; PY an interpreter
with open_clip_torch, fastapi, uvicorn) under the same load in the same run, interleaved: for
each client count the two servers run one after the other, the order alternating. It prints
both rows and oclip's inputs/s over Python's, and the start-up time and peak RSS of both.
--threads N is given to both (torch.set_num_threads for Python).

Run it on a quiet machine: the numbers mean nothing while other jobs load the CPU (the issue's
target: >= 90% of the CLI's batch throughput at 64 clients). docs/BENCHMARKS.md records results.
"""
import argparse
import base64
import http.client
import json
import os
import socket
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


def wait_health(p, port, t0, what):
    while True:
        if p.poll() is not None:
            raise SystemExit("bench/serve.py: %s exited (%s) before /health answered" % (what, p.returncode))
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.01)


def start_python(py, spec, extra):
    """bench/serve_python.py on a free port: (process, port, seconds to /health 200)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    p = subprocess.Popen([py, os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve_python.py"),
                          "-m", spec, "--port", str(port), *extra])
    return p, port, wait_health(p, port, t0, "bench/serve_python.py")


def peak_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            hwm = [l for l in f if l.startswith("VmHWM")]
        return hwm[0].split(":")[1].strip() if hwm else "?"
    except OSError:
        return "?"


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
    ap.add_argument("--python-server", default=None, metavar="PY",
                    help="also bench/serve_python.py, run by this interpreter")
    ap.add_argument("--python-batcher", default="asyncio", choices=["asyncio", "none"])
    ap.add_argument("--openclip-model", default=None, help="for the Python server (see bench/python_api.py)")
    ap.add_argument("--openclip-pretrained", default=None)
    a = ap.parse_args()
    extra = ["--threads", a.threads] if a.threads else []
    servers = []  # (name, process, port)
    try:
        p, port, startup = start(a.oclip, a.m, extra + ["--max-batch", a.max_batch,
                                                        "--max-wait-ms", a.max_wait_ms,
                                                        "--max-queue", "100000"])
        servers.append(("oclip", p, port))
        print("oclip serve start-up to /health 200: %.3f s" % startup)
        if a.python_server:
            py_extra = extra + ["--max-batch", a.max_batch, "--max-wait-ms", a.max_wait_ms,
                                "--batcher", a.python_batcher]
            if a.openclip_model:
                py_extra += ["--openclip-model", a.openclip_model]
            if a.openclip_pretrained:
                py_extra += ["--openclip-pretrained", a.openclip_pretrained]
            pp, pport, pstart = start_python(a.python_server, a.m, py_extra)
            servers.append(("python", pp, pport))
            print("Python server (FastAPI + OpenCLIP, batcher %s) start-up to /health 200: %.3f s"
                  % (a.python_batcher, pstart))
        img = base64.b64encode(open(a.image, "rb").read()).decode()
        bodies = {
            "text": ("/v1/embeddings", json.dumps({"input": ["a photo of a cat"] * a.batch})),
            "image": ("/v1/images/embeddings", json.dumps({"images": [img] * a.batch})),
        }
        rnd = 0
        for kind, (path, body) in bodies.items():
            ref = cli_rate(a.oclip, a.m, a.image if kind == "image" else None, 257, extra)
            print("\n%s: CLI batch throughput %.1f inputs/s" % (kind, ref))
            print("server  clients  req/s  inputs/s  p50 ms  p99 ms  vs CLI  errors  oclip/python")
            for c in [int(x) for x in a.clients.split(",")]:
                order = servers if rnd % 2 == 0 else servers[::-1]
                rnd += 1
                rows = {}
                for name, _, sport in order:
                    rows[name] = load(sport, path, body, c, a.seconds)
                for name, _, _ in servers:
                    rps, p50, p99, err = rows[name]
                    ratio = ("%.2fx" % (rows["oclip"][0] / rps) if name == "python" and rps > 0
                             else "")
                    print("%-6s %8d %6.1f %9.1f %7.1f %7.1f %6.0f%% %7d  %s" %
                          (name, c, rps, rps * a.batch, p50, p99, 100 * rps * a.batch / ref, err,
                           ratio))
        print()
        for name, sp, _ in servers:
            print("%s server peak RSS: %s" % (name, peak_rss(sp.pid)))
    finally:
        for _, sp, _ in servers:
            sp.terminate()
            sp.wait()


if __name__ == "__main__":
    sys.exit(main())
