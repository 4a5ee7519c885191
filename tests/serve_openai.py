#!/usr/bin/env python3
"""serve_openai.py [OCLIP] -- developer test (`make test-full`, not `make test`): OpenAI's official
Python client against `oclip serve`, and the embeddings it gets against OpenCLIP's own.

Needs the venv with open_clip_torch and `pip install openai`:
    /work/main/.venv/bin/python tests/serve_openai.py build/oclip

Starts the server with the embedded demo model (models/default, an OpenCLIP checkpoint folder),
then:
  - client.embeddings.create(input=[...]) (the client asks for base64 and decodes it) and with
    encoding_format="float": the same floats, equal to OpenCLIP's
    model.encode_text(tokenizer(texts), normalize=True) within 1e-5 (max abs);
  - images through extra_body={"modality": "image"} (infinity's convention), equal to OpenCLIP's
    encode_image(preprocess(PIL image), normalize=True) within 1e-5;
  - errors come back as the client's exceptions (NotFoundError, BadRequestError) with the
    server's message, and models.list() lists the model.
"""
import base64
import os
import subprocess
import sys

import numpy as np
import open_clip
import openai
import torch
from PIL import Image

OCLIP = sys.argv[1] if len(sys.argv) > 1 else "build/oclip"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
p = subprocess.Popen([OCLIP, "serve", "--port", "0"], stderr=subprocess.PIPE, text=True)
port = int(p.stderr.readline().rsplit(":", 1)[1])
while "ready in" not in p.stderr.readline():
    pass
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    fails += not cond


try:
    client = openai.OpenAI(base_url="http://127.0.0.1:%d/v1" % port, api_key="unused")
    texts = ["a red circle", "a blue triangle", "a green ring on white"]
    r64 = client.embeddings.create(model="default", input=texts)
    rf = client.embeddings.create(model="default", input=texts, encoding_format="float")
    a64 = np.array([d.embedding for d in r64.data], dtype=np.float32)
    af = np.array([d.embedding for d in rf.data], dtype=np.float32)
    check(a64.shape == (3, 128) and np.array_equal(a64, af), "base64 and float answers agree")
    check(r64.usage.prompt_tokens > 0 and r64.model == "default", "usage and model")

    model, _, preprocess = open_clip.create_model_and_transforms(
        "local-dir:" + os.path.join(ROOT, "models/default"))
    model.eval()
    tok = open_clip.get_tokenizer("local-dir:" + os.path.join(ROOT, "models/default"))
    with torch.no_grad():
        want = model.encode_text(tok(texts), normalize=True).numpy()
    check(np.abs(a64 - want).max() <= 1e-5, "texts = OpenCLIP (max abs %.2g)" % np.abs(a64 - want).max())

    paths = [os.path.join(ROOT, "examples", f) for f in ("red_circle.png", "yellow_star.png")]
    urls = ["data:image/png;base64," + base64.b64encode(open(f, "rb").read()).decode() for f in paths]
    ri = client.embeddings.create(model="default", input=urls, extra_body={"modality": "image"})
    ai = np.array([d.embedding for d in ri.data], dtype=np.float32)
    with torch.no_grad():
        wi = model.encode_image(torch.stack([preprocess(Image.open(f)) for f in paths]),
                                normalize=True).numpy()
    check(np.abs(ai - wi).max() <= 1e-5, "images = OpenCLIP (max abs %.2g)" % np.abs(ai - wi).max())

    try:
        client.embeddings.create(model="nope", input="x")
        check(False, "unknown model raises")
    except openai.NotFoundError as e:
        check("not served" in str(e), "unknown model: NotFoundError with the server's message")
    try:
        client.embeddings.create(model="default", input=[])
        check(False, "empty input raises")
    except openai.BadRequestError as e:
        check("empty" in str(e), "empty input: BadRequestError")
    check([m.id for m in client.models.list()] == ["default"], "models.list()")
finally:
    p.terminate()
    p.wait()
print("serve_openai: %s" % ("all passed" if not fails else "%d failed" % fails))
sys.exit(1 if fails else 0)
