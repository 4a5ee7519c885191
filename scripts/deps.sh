#!/usr/bin/env bash
# Installs the Debian 12 packages oclip's build, tests, sanitizer run and fuzz targets need.
# Idempotent: packages already present are skipped, and apt is not touched when nothing is missing.
# Each package and why it is here is listed in README.md ("Dependencies").
set -euo pipefail
PKGS=(
    build-essential   # gcc, make, libc headers
    pkg-config        # finds the libraries below
    libcjson-dev      # JSON: safetensors headers, shard indexes, configs
    libutf8proc-dev   # Unicode categories, case mapping, NFC for the tokenizer
    libjpeg62-turbo-dev # JPEG decoding as Pillow does it (libjpeg-turbo)
    libpng-dev        # PNG decoding
    libwebp-dev       # WebP decoding
    libgif-dev        # GIF decoding (first frame)
    libtiff-dev       # TIFF decoding
    libcurl4-openssl-dev # HTTP(S) downloads from the Hugging Face hub (oclip pull)
    clang             # libFuzzer targets (make fuzz)
    libclang-rt-14-dev  # libFuzzer / sanitizer runtimes for clang
    libopenblas-dev   # make bench: the GEMM micro-benchmark's reference (cblas_sgemm); not linked by the library
    python3           # standard-library-only test helpers (no pip packages)
    python3-dev       # Python.h: the extension module of the Python package (pip install .)
    python3-venv      # the fresh virtual environment .ci/run installs the Python package into
)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#PKGS[@]} packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing ${missing[*]}"
# Another apt or dpkg (unattended-upgrades on a fresh VM) may hold the locks: wait for it, up to
# OCLIP_APT_WAIT seconds, instead of failing at once. DPkg::Lock::Timeout covers the dpkg lock;
# `apt-get update` takes the package-lists lock, which the retry loop waits for.
WAIT=${OCLIP_APT_WAIT:-600}
APT=($SUDO apt-get -o DPkg::Lock::Timeout="$WAIT")
start=$(date +%s)
until "${APT[@]}" update -qq; do
    if [ $(( $(date +%s) - start )) -ge "$WAIT" ]; then
        echo "deps: apt-get update failed (another apt still running after ${WAIT} s?)" >&2
        exit 1
    fi
    echo "deps: apt-get update failed; retrying in 10 s (another apt running?)" >&2
    sleep 10
done
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"
