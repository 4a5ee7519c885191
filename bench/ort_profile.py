#!/usr/bin/env python3
"""ONNX Runtime's own per-op profile of an exported image tower (enable_profiling), grouped as
bench/profile.sh groups oclip's: the share of node kernel time per op class.

    .venv/bin/python bench/ort_profile.py [build/bench/ViT-B-32/image.onnx] [--threads N]

Per batch size (1 and 8): a session with intra_op_num_threads = N, 2 warm-up runs, then 20
(batch 1) or 3 (batch 8) profiled runs; the warm-up runs' events are left out. The attention
is what the legacy exporter emits for nn.MultiheadAttention's core: attn/MatMul_1 (q.k),
Softmax and attn/MatMul_2 (p.v); every other MatMul or Gemm is a Linear layer.
"""
import argparse
import collections
import json
import os

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=os.path.join(ROOT, "build", "bench", "ViT-B-32",
                                                             "image.onnx"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    for batch, reps in ((1, 20), (8, 3)):
        so = ort.SessionOptions()
        so.enable_profiling = True
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.profile_file_prefix = os.path.join("/tmp", f"oclip_ort_profile_b{batch}")
        s = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
        name = s.get_inputs()[0].name
        for _ in range(2 + reps):
            s.run(None, {name: x})
        path = s.end_profiling()
        with open(path) as f:
            events = json.load(f)
        os.remove(path)
        runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
        t0 = runs[2]
        agg = collections.Counter()
        for e in events:
            if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time") or e["ts"] < t0:
                continue
            node, op = e["name"], e["args"]["op_name"]
            if "/attn/MatMul_1" in node or "/attn/MatMul_2" in node or op == "Softmax":
                k = "attention (q.k, softmax, p.v)"
            elif op in ("MatMul", "Gemm", "FusedMatMul"):
                k = "GEMM (Linear layers)"
            elif op == "Conv":
                k = "patch embedding (Conv)"
            elif op in ("BiasGelu", "Gelu", "FastGelu", "Erf"):
                k = "GELU (with bias)"
            elif op in ("LayerNormalization", "SkipLayerNormalization"):
                k = "LayerNorm"
            else:
                k = op
            agg[k] += e["dur"]
        total = sum(agg.values())
        print(f"{os.path.basename(os.path.dirname(args.model))}, image batch {batch}, "
              f"{args.threads} intra-op thread(s), {reps} runs: share of node kernel time")
        for k, v in agg.most_common():
            if 100 * v / total >= 0.1:
                print(f"  {100 * v / total:6.2f}%  {k}")


if __name__ == "__main__":
    main()
