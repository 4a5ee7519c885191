#!/bin/sh
# full.sh — `make test-full`: checks against full-size files PyTorch/OpenCLIP write on the spot.
# Needs the developer venv (tools/setup_venv.sh); skipped with a message when it is absent.
set -eu
PY=${OCLIP_VENV:-.venv}/bin/python
if [ ! -x "$PY" ] || ! "$PY" -c "import torch, open_clip" 2>/dev/null; then
    echo "test-full: skipped: no Python venv with torch + open_clip (run tools/setup_venv.sh)"
    exit 0
fi
make -s build/tests/test_readers build/oclip
# full-size random-weight ViT-B-32 in torch zip, legacy, safetensors f32/f16
[ -f build/full/manifest.json ] || "$PY" tools/gen_fixtures.py full
./build/tests/test_readers build/full
# inspect on the 600 MB zip: time and peak memory (acceptance: well under a second, RSS << file)
/usr/bin/time -f "inspect open_clip_pytorch_model.bin: %e s, peak RSS %M KiB" \
    ./build/oclip inspect --json build/full/open_clip_pytorch_model.bin >/dev/null
ls -l build/full/open_clip_pytorch_model.bin | awk '{printf "file size: %d KiB\n", $5/1024}'
"$PY" tests/convert_full.py  # oclip convert outputs loaded by OpenCLIP / transformers
"$PY" tests/engine_full.py   # full-size ViT-B-32 / ViT-B-16 embeddings vs OpenCLIP
# OpenAI's official client against `oclip serve` (openai is in the venv of tools/setup_venv.sh)
if "$PY" -c "import openai" 2>/dev/null; then "$PY" tests/serve_openai.py build/oclip
else echo "test-full: serve_openai.py skipped: no openai package in the venv"; fi
echo "test-full: passed"
