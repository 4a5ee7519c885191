#!/usr/bin/env python3
"""Tokenizer speed: `oclip tokenize` against open_clip's SimpleTokenizer on the same prompts, one
CPU core each (taskset when available). Also checks that both give the same ids.

    .venv/bin/python bench/tokenizer.py [--oclip build/oclip] [--repeat 3]

Corpus: the 80 OpenAI ImageNet templates x 1000 class names (80,000 prompts, what zero-shot
classification tokenizes) plus 20,000 longer caption-like lines. Tokens counted = ids between
SOT and EOT (what BPE produced), per second of wall time for the whole command (process start,
vocab build, file read, .npy write included). Not a test: nothing fails on a timing.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def corpus():
    with open(os.path.join(ROOT, "data", "zero_shot_metadata.json"), encoding="utf-8") as f:
        meta = json.load(f)
    prompts = [t.format(c) for c in meta["IMAGENET_CLASSNAMES"]
               for t in meta["OPENAI_IMAGENET_TEMPLATES"]]
    rng = random.Random(0)
    words = [w for c in meta["IMAGENET_CLASSNAMES"] for w in c.split()] + \
        "a the of in on with and photo image picture large small red blue, . ! it's".split()
    prompts += [" ".join(rng.choice(words) for _ in range(rng.randint(8, 40))).capitalize() + "."
                for _ in range(20000)]
    return prompts


def one_core(cmd):
    return (["taskset", "-c", "0"] + cmd) if shutil.which("taskset") else cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oclip", default=os.environ.get("OCLIP_BIN",
                                                      os.path.join(ROOT, "build", "oclip")))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    prompts = corpus()
    tmp = tempfile.mkdtemp()
    try:
        path = os.path.join(tmp, "prompts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(prompts) + "\n")
        out = os.path.join(tmp, "ids.npy")
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(one_core([args.oclip, "tokenize", "-f", path, "-o", out]), check=True)
            best = min(best, time.perf_counter() - t0)
        ids = np.load(out)
        tokens = int(((ids != 0) & (ids != 49406) & (ids != 49407)).sum())
        # one prompt: process start + vocab build + one row
        t0 = time.perf_counter()
        subprocess.run([args.oclip, "tokenize", "x"], check=True, stdout=subprocess.DEVNULL)
        single = time.perf_counter() - t0

        import open_clip
        tok = open_clip.get_tokenizer("ViT-B-32")
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {0})
        t0 = time.perf_counter()
        ref = tok(prompts).numpy()
        py = time.perf_counter() - t0
        same = bool((ref == ids).all())
        print("| prompts | BPE tokens | oclip (1 core) | tokens/s | open_clip (1 core) | tokens/s "
              "| same ids |")
        print("|---|---|---|---|---|---|---|")
        print("| %d | %d | %.3f s | %.2f M | %.3f s | %.2f M | %s |" % (
            len(prompts), tokens, best, tokens / best / 1e6, py, tokens / py / 1e6, same))
        print("one prompt, whole process (start, vocab build, output): %.1f ms" % (single * 1e3))
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
