#!/usr/bin/env bash
# Creates the developer Python environment (fixture generator, benchmark anchors) in .venv/.
# Not needed by `make test` or CI. Versions are pinned so fixtures are reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${OCLIP_VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip==24.3.1
"$VENV/bin/python" -m pip install -q \
    torch==2.9.1 torchvision==0.24.1 \
    open_clip_torch==3.3.0 \
    transformers==4.57.6 \
    safetensors==0.7.0 \
    numpy==2.3.5 \
    pillow==12.0.0 \
    onnxruntime==1.23.2 \
    onnx==1.23.2 \
    ftfy==6.3.1 regex==2025.11.3 \
    sentencepiece==0.2.1 protobuf==7.36.2 tokenizers==0.22.2 timm==1.0.31 \
    fastapi==0.165.0 uvicorn==0.55.0 faiss-cpu==1.15.1 usearch==2.26.6 openai==3.63.0
"$VENV/bin/python" -c "import torch, open_clip; print('torch', torch.__version__, 'open_clip', open_clip.__version__)"
