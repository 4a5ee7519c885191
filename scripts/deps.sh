#!/usr/bin/env bash
# Installs the Debian 12 packages oclip's build, tests, sanitizer run and fuzz targets need.
# Idempotent: packages already present are skipped, and apt is not touched when nothing is missing.
# Each package and why it is here is listed in README.md ("Dependencies").
#
# `scripts/deps.sh --arm64` (or OCLIP_DEPS_ARM64=1) also installs what `make test-arm64` needs:
# the arm64 architecture added to dpkg (multiarch), the AArch64 cross compiler, qemu-user, and the
# libraries above as :arm64 packages (the cross build links them; qemu runs the tests with them).
set -euo pipefail
ARM64=${OCLIP_DEPS_ARM64:-0}
for a in "$@"; do
    case "$a" in
    --arm64) ARM64=1 ;;
    *) echo "usage: scripts/deps.sh [--arm64]" >&2; exit 2 ;;
    esac
done
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
    libarchive-dev    # WebDataset .tar shards for `oclip embed-dir` (the program only, not the library)
    libmicrohttpd-dev # the HTTP server of `oclip serve` (linked into the program, not the library)
    clang             # libFuzzer targets (make fuzz)
    libclang-rt-14-dev  # libFuzzer / sanitizer runtimes for clang
    libopenblas-dev   # make bench: the GEMM micro-benchmark's reference (cblas_sgemm); not linked by the library
    python3           # standard-library-only test helpers (no pip packages)
    python3-dev       # Python.h: the extension module of the Python package (pip install .)
    python3-venv      # the fresh virtual environment .ci/run installs the Python package into
    chromium          # headless browser: tests/serve_page_test.py loads the search page of `oclip serve --index`
)
# the build's libraries, for AArch64
ARM64_PKGS=(
    gcc-aarch64-linux-gnu  # the cross compiler (and the cross toolchain's libc headers)
    qemu-user              # qemu-aarch64 runs the AArch64 tests on this machine
    libc6:arm64            # the dynamic loader and libc the AArch64 programs run with under qemu
    libcjson-dev:arm64 libutf8proc-dev:arm64 libjpeg62-turbo-dev:arm64 libpng-dev:arm64
    libwebp-dev:arm64 libgif-dev:arm64 libtiff-dev:arm64 libcurl4-openssl-dev:arm64
    libarchive-dev:arm64 libmicrohttpd-dev:arm64
)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
new_arch=0
if [ "$ARM64" = 1 ]; then
    PKGS+=("${ARM64_PKGS[@]}")
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "deps: adding the arm64 architecture to dpkg"
        $SUDO dpkg --add-architecture arm64
        new_arch=1 # the arm64 package lists come with the next apt-get update
    fi
fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "$new_arch" = 0 ]; then
    echo "deps: all ${#PKGS[@]} packages present"
    exit 0
fi
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
