#!/usr/bin/env bash
# test-arm64.sh — cross-builds oclip for AArch64 with Debian's cross compiler into build-arm64/
# and runs the test suite under qemu-user (`make test-arm64`; `scripts/deps.sh --arm64` installs
# what it needs). Emulation checks correctness only: no timing from it means anything for real
# ARM hardware.
#
# Runs, each a separate qemu CPU model or kernel path (QEMU_CPU selects qemu-user's CPU model;
# the int8 GEMM follows the CPU's dot-product extension):
#   1. every test program (the library's every module: kernels, engine, readers, parsers,
#      hostile inputs, end to end) and the CLI scripts in ARM64_CLI (default: tests/cli_embed.sh,
#      the engine through the program; see below), default path (neon) on qemu's "max" CPU,
#      which has the dot-product extension: the SDOT int8 kernel;
#   2. with OCLIP_SIMD=scalar (the reference kernels as the default path), the tests that run
#      kernels (the whole suite again with OCLIP_ARM64_FULL=1: the CLI scripts, embed-dir's
#      kill-and-resume loop above all, take many minutes under emulation);
#   3. on a Cortex-A53 (no dot product): the neon path with the widening int8 kernel, over the
#      tests that run kernels (ARM64_KERNEL_TESTS, tests/cli_embed.sh); OCLIP_ARM64_FULL=1 runs
#      the whole suite here too.
# test_kernels and test_engine check every path the CPU supports in each run (scalar and neon,
# byte for byte and against each other), whatever OCLIP_SIMD says.
#
# ARM64_CLI: the other CLI scripts test the program's own logic (arguments, hub, server,
# collections, reports), which has no per-ISA code, through many processes that each pay
# emulation's start-up: under qemu they took most of CI's time (embed-dir's kill-and-resume loop
# alone over 10 minutes). They run natively in `make test` and under ASan/UBSan;
# OCLIP_ARM64_FULL=1 runs every script in every run here too.
#
# Emulation is many times slower than native: OCLIP_TEST_TIME_SCALE (default 10 here) widens the
# tests' time limits (tests/test_hostile.c: the hostile-input budgets and the children's alarms).
#
# Environment: OCLIP_ARM64_BUILD (default build-arm64), ARM64_CC (aarch64-linux-gnu-gcc),
# QEMU (qemu-aarch64), OCLIP_ARM64_FULL (1: the whole suite in every run), ARM64_CLI,
# JOBS (make -j).
set -euo pipefail
cd "$(dirname "$0")/.."

B=${OCLIP_ARM64_BUILD:-build-arm64}
CC_ARM=${ARM64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
ARM64_KERNEL_TESTS="test_kernels test_engine test_e2e"
ARM64_CLI=${ARM64_CLI:-cli_embed.sh}
if [ "${OCLIP_ARM64_FULL:-0}" = 1 ]; then ARM64_CLI=$(cd tests && echo cli*.sh); fi
export OCLIP_TEST_TIME_SCALE=${OCLIP_TEST_TIME_SCALE:-10}

missing=""
command -v "$CC_ARM" >/dev/null || missing="$missing $CC_ARM"
command -v "$QEMU" >/dev/null || missing="$missing $QEMU"
command -v taskset >/dev/null || missing="$missing taskset"
# qemu-user finds the program's ELF interpreter (/lib/ld-linux-aarch64.so.1) in the host's root:
# the multiarch libc6:arm64 that the :arm64 libraries were built against. (Not qemu's -L
# /usr/aarch64-linux-gnu: that is the cross toolchain's own glibc, a different build, and its
# ld.so with the multiarch libc.so.6 hangs in the first pthread_create.)
[ -e /lib/ld-linux-aarch64.so.1 ] || missing="$missing libc6:arm64"
[ -e /usr/lib/aarch64-linux-gnu/pkgconfig/libcjson.pc ] || missing="$missing libcjson-dev:arm64"
[ -e /usr/lib/aarch64-linux-gnu/pkgconfig/libarchive.pc ] || missing="$missing libarchive-dev:arm64"
[ -e /usr/lib/aarch64-linux-gnu/pkgconfig/libmicrohttpd.pc ] || missing="$missing libmicrohttpd-dev:arm64"
if [ -n "$missing" ]; then
    echo "test-arm64: missing:$missing (install with: scripts/deps.sh --arm64)" >&2
    exit 1
fi
unset QEMU_LD_PREFIX

# Every emulated program runs on one host CPU. qemu-user (7.2) translates AArch64's
# store-release / load-acquire pair (STLR then LDAR, what C11 seq_cst stores and loads compile
# to) with no store-load barrier between them, so on a multi-core x86 host a later seq_cst load
# can pass an earlier seq_cst store, which the AArch64 memory model forbids: the thread pool's
# wake-up handshake (src/kernels/pool.c) then loses a wake-up and the process waits forever
# (seen: `oclip classify` with 2 threads). On one host CPU the guest threads interleave but see
# each other's memory in program order.
cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
EMU=(taskset -c "${cpu:-0}" "$QEMU")

# the :arm64 libraries' pkg-config files, not the host's
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
MK=(make --no-print-directory B="$B" CC="$CC_ARM")
TESTS=()
for f in tests/test_*.c; do t=${f#tests/}; TESTS+=("$B/tests/${t%.c}"); done

start=$(date +%s)
echo "== test-arm64: building into $B with $CC_ARM"
"${MK[@]}" -j"$JOBS" lib cli
# GCC 12.2 for aarch64 (Debian 12) stops with an internal compiler error in the loop vectorizer
# (vect_transform_reduction) on tests/test_engine.c; that one test program is built without it.
"${MK[@]}" CFLAGS="${CFLAGS:-} -fno-tree-vectorize" "$B/tests/test_engine"
"${MK[@]}" -j"$JOBS" "${TESTS[@]}"
echo "== test-arm64: built in $(( $(date +%s) - start )) s"

# the tests run `oclip` through OCLIP_BIN: a wrapper that runs the AArch64 program under qemu
# (QEMU_CPU and OCLIP_SIMD pass through the environment)
wrapper="$PWD/$B/oclip-qemu"
printf '#!/bin/sh\nexec %s %s "$@"\n' "${EMU[*]}" "$PWD/$B/oclip" > "$wrapper"
chmod +x "$wrapper"

# run NAME QEMU_CPU full|kernels [VAR=VALUE...]: the whole suite, or the tests that run kernels,
# on that qemu CPU model with those variables set
run() {
    local what=$1 qcpu=$2 scope=$3
    shift 3
    local t0
    t0=$(date +%s)
    echo "== test-arm64: $what (QEMU_CPU=$qcpu $*)"
    if [ "$scope" = full ] || [ "${OCLIP_ARM64_FULL:-0}" = 1 ]; then
        env QEMU_CPU="$qcpu" "$@" "${MK[@]}" check-abi RUN="${EMU[*]}"
        for t in "${TESTS[@]}"; do
            echo "== $t"
            env QEMU_CPU="$qcpu" OCLIP_BIN="$wrapper" "$@" "${EMU[@]}" "$t"
        done
        for c in $ARM64_CLI; do
            env QEMU_CPU="$qcpu" OCLIP_BIN="$wrapper" "$@" sh "tests/$c"
        done
    else
        for t in $ARM64_KERNEL_TESTS; do
            echo "== $B/tests/$t"
            env QEMU_CPU="$qcpu" OCLIP_BIN="$wrapper" "$@" "${EMU[@]}" "$B/tests/$t"
        done
        env QEMU_CPU="$qcpu" OCLIP_BIN="$wrapper" "$@" sh tests/cli_embed.sh
    fi
    echo "== test-arm64: $what passed in $(( $(date +%s) - t0 )) s"
}

# the default path must be neon with SDOT on "max", neon without on a Cortex-A53
kernels() { env QEMU_CPU="$1" "$wrapper" info | sed -n 's/^kernels: *//p; s/^--dtype: *//p' | tr '\n' ' '; }
k=$(kernels max)
case "$k" in *"neon "*"int8 neon-sdot"*) ;; *) echo "test-arm64: max: unexpected kernels: $k" >&2; exit 1 ;; esac
k=$(kernels cortex-a53)
case "$k" in *"neon "*"int8 neon "*) ;; *) echo "test-arm64: cortex-a53: unexpected kernels: $k" >&2; exit 1 ;; esac

run "neon, SDOT int8" max full
run "scalar" max kernels OCLIP_SIMD=scalar
run "neon, widening int8 (no dot product)" cortex-a53 kernels
echo "test-arm64: all passed in $(( $(date +%s) - start )) s"
