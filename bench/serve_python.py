#!/usr/bin/env python3
"""bench/serve_python.py -- the Python server bench/serve.py measures `oclip serve` against:
FastAPI + uvicorn over OpenCLIP 3.3.0 (torch), the same model, the same request and response
shapes as `oclip serve` for the two embedding endpoints.

    PY bench/serve_python.py [-m SPEC] [--port 8081] [--threads N] [--max-batch 32]
                             [--max-wait-ms 5] [--batcher asyncio|none]
                             [--openclip-model NAME] [--openclip-pretrained TAG]

PY: an interpreter with open_clip_torch, fastapi and uvicorn (tools/setup_venv.sh installs
them). SPEC is resolved to OpenCLIP's (model name, pretrained) by bench/python_api.py's
openclip_args ("default" -> local-dir:models/default, a folder with open_clip_config.json,
ARCH:TAG, hf-hub:...), so both servers load the same weights.

Endpoints (what bench/serve.py sends; not the whole of docs/SERVER.md):
  GET  /health                 200 {"status": "ok"} (the model is loaded before uvicorn listens)
  POST /v1/embeddings          {"input": str | [str], "model", "encoding_format": "float" |
                               "base64", "modality": "text" | "image"}
  POST /v1/images/embeddings   JSON {"images" | "input": [base64 | data URL | {"name", "data"}]}
Answers OpenAI's list object ({"object": "list", "data": [{"object": "embedding", "index",
"embedding"}], "model", "usage"}), embeddings L2-normalized (encode_*(normalize=True)).

What a typical small deployment does, and nothing cleverer:
  - one uvicorn worker process, one asyncio event loop; the bodies are parsed with
    request.json() and the answer written with json.dumps (no pydantic models, no orjson);
  - tokenization (open_clip.get_tokenizer) and image decoding + preprocessing (PIL and the
    model's OpenCLIP val transform) run per request in asyncio's default thread pool;
  - --batcher asyncio (default): one asyncio batcher per tower: the first request waits up to
    --max-wait-ms for others (always, even alone) until --max-batch inputs, their tensors are
    concatenated, one forward pass runs under torch.inference_mode in a single-thread executor
    (torch uses --threads intra-op threads), rows are handed back. A request larger than
    --max-batch runs as one forward pass of its own size.
  - --batcher none: each request runs its own forward pass in that single-thread executor.
Not a reference implementation: bench/serve.py checks only that it answers 200.
"""
import argparse
import asyncio
import base64
import binascii
import concurrent.futures
import io
import json
import os
import sys
import time

T0 = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from python_api import openclip_args  # noqa: E402  (the one SPEC -> OpenCLIP resolution)

import numpy as np  # noqa: E402
import open_clip  # noqa: E402
import torch  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from PIL import Image  # noqa: E402


class Batcher:
    """Merges concurrent submissions into one forward pass (see the module doc)."""

    def __init__(self, fn, max_batch, max_wait, executor):
        self.fn, self.max_batch, self.max_wait, self.ex = fn, max_batch, max_wait, executor
        self.q = asyncio.Queue()
        self.carry = None
        self.task = None

    async def submit(self, x):
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())
        fut = asyncio.get_running_loop().create_future()
        await self.q.put((x, fut))
        return await fut

    async def run(self):
        loop = asyncio.get_running_loop()
        while True:
            first = self.carry if self.carry is not None else await self.q.get()
            self.carry = None
            items, n = [first], first[0].shape[0]
            deadline = loop.time() + self.max_wait
            while n < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    it = await asyncio.wait_for(self.q.get(), left)
                except asyncio.TimeoutError:
                    break
                if n + it[0].shape[0] > self.max_batch:
                    self.carry = it
                    break
                items.append(it)
                n += it[0].shape[0]
            x = items[0][0] if len(items) == 1 else torch.cat([it[0] for it in items])
            try:
                out = await loop.run_in_executor(self.ex, self.fn, x)
            except Exception as e:  # every waiter gets the failure
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            at = 0
            for xi, fut in items:
                k = xi.shape[0]
                if not fut.done():
                    fut.set_result(out[at:at + k])
                at += k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", default="default")
    ap.add_argument("--openclip-model", default=None)
    ap.add_argument("--openclip-pretrained", default=None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's)")
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--max-wait-ms", type=float, default=5)
    ap.add_argument("--batcher", choices=["asyncio", "none"], default="asyncio")
    a = ap.parse_args()
    name, pretrained = openclip_args(a)
    if not name:
        sys.exit("serve_python: cannot map -m %s to an OpenCLIP model: give --openclip-model" % a.m)
    if a.threads:
        torch.set_num_threads(a.threads)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained or None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)
    label = a.m

    def fwd_text(tok):
        with torch.inference_mode():
            return model.encode_text(tok, normalize=True).float().numpy()

    def fwd_image(px):
        with torch.inference_mode():
            return model.encode_image(px, normalize=True).float().numpy()

    ex = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    if a.batcher == "asyncio":
        b_text = Batcher(fwd_text, a.max_batch, a.max_wait_ms / 1000.0, ex)
        b_image = Batcher(fwd_image, a.max_batch, a.max_wait_ms / 1000.0, ex)
        run_text, run_image = b_text.submit, b_image.submit
    else:
        async def run_text(x):
            return await asyncio.get_running_loop().run_in_executor(ex, fwd_text, x)

        async def run_image(x):
            return await asyncio.get_running_loop().run_in_executor(ex, fwd_image, x)

    def image_bytes(v):
        if isinstance(v, dict):
            v = v.get("data")
        if not isinstance(v, str):
            raise ValueError("an image must be a base64 string or {\"name\", \"data\"}")
        if v.startswith("data:"):
            v = v.split(",", 1)[1]
        return base64.b64decode(v, validate=True)

    def prepare_images(values):
        return torch.stack([preprocess(Image.open(io.BytesIO(image_bytes(v)))) for v in values])

    def error(status, code, msg):
        return JSONResponse({"error": {"message": msg, "type": "invalid_request_error",
                                       "code": code}}, status_code=status)

    def answer(emb, b64, tokens):
        data = []
        for i, row in enumerate(emb):
            e = (base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode()
                 if b64 else row.tolist())
            data.append({"object": "embedding", "index": i, "embedding": e})
        body = {"object": "list", "data": data, "model": label,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Response(json.dumps(body), media_type="application/json")

    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    async def embed_images(values, b64):
        if not isinstance(values, list):
            values = [values]
        try:
            px = await asyncio.to_thread(prepare_images, values)
        except (ValueError, binascii.Error, OSError) as e:
            return error(422, "invalid_image", str(e))
        return answer(await run_image(px), b64, 0)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        try:
            o = await request.json()
        except ValueError:
            return error(400, "invalid_json", "the body is not JSON")
        if not isinstance(o, dict) or "input" not in o:
            return error(400, "invalid_type", "expected an object with \"input\"")
        b64 = o.get("encoding_format") == "base64"
        inp = o["input"]
        if o.get("modality") == "image":
            return await embed_images(inp, b64)
        texts = [inp] if isinstance(inp, str) else inp
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return error(400, "invalid_type", "\"input\" must be a string or a list of strings")
        tok = await asyncio.to_thread(tokenizer, texts)
        return answer(await run_text(tok), b64, int((tok != 0).sum()))

    @app.post("/v1/images/embeddings")
    async def images(request: Request):
        try:
            o = await request.json()
        except ValueError:
            return error(400, "invalid_json", "the body is not JSON (this server takes JSON only)")
        if not isinstance(o, dict) or not ("images" in o or "input" in o):
            return error(400, "invalid_type", "expected an object with \"images\"")
        return await embed_images(o.get("images", o.get("input")),
                                  o.get("encoding_format") == "base64")

    print("serve_python: %s (%s, pretrained=%s) loaded in %.3f s; listening on http://%s:%d"
          % (a.m, name, pretrained or "-", time.perf_counter() - T0, a.host, a.port),
          file=sys.stderr, flush=True)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
