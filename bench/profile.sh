#!/bin/sh
# bench/profile.sh — where the image tower's time goes, per op class: perf's on-CPU samples of
# an oclip_bench serve worker over CALLS calls of `image BATCH`, after 3 warm-up calls (the
# first calls read the weights in place, then pack them: not the steady state), grouped by the
# kernel symbol that ran. Shares of the process's CPU time, so they hold on a loaded machine
# (unlike wall times); needs perf (software event cpu-clock: no hardware counters required).
#   sh bench/profile.sh [MODEL_DIR] [BATCH] [CALLS] [THREADS]
# defaults: build/bench/ViT-B-32 1 30 1. OCLIP_BENCH: the harness (default build/oclip_bench).
set -eu
M=${1:-build/bench/ViT-B-32}; B=${2:-1}; R=${3:-30}; TH=${4:-1}
BIN=${OCLIP_BENCH:-build/oclip_bench}
command -v perf >/dev/null || { echo "profile: needs perf (linux-perf)"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
mkfifo "$T/in"
"$BIN" serve -m "$M" --threads "$TH" <"$T/in" >"$T/out" 2>&1 &
PID=$!
exec 3>"$T/in"
calls() { grep -c '"s"' "$T/out" || true; }
for _ in 1 2 3; do echo "image $B" >&3; done
while [ "$(calls)" -lt 3 ]; do sleep 0.2; done
perf record -q -e cpu-clock -F 2000 -p "$PID" -o "$T/perf.data" 2>/dev/null &
PP=$!
sleep 0.5
i=0; while [ $i -lt "$R" ]; do echo "image $B" >&3; i=$((i + 1)); done
while [ "$(calls)" -lt $((3 + R)) ]; do sleep 0.2; done
kill -INT $PP; wait $PP || true
echo quit >&3; exec 3>&-; wait $PID
echo "$M, image batch $B, $TH thread(s), $R calls: share of on-CPU samples"
perf report -i "$T/perf.data" --stdio --no-children --sort sym 2>/dev/null |
    awk '/%/ && !/^#/ {
        p = $1 + 0; s = $NF
        if (s ~ /_gemm|pack_block|vtranspose/) c = "GEMM (patch embedding, qkv, out, fc, proj; packing on the fly)"
        else if (s ~ /attention/) c = "attention (q.k, softmax, p.v)"
        else if (s ~ /_act$/) c = "GELU / QuickGELU"
        else if (s ~ /epilogue|residual/) c = "residual adds (GEMM epilogue)"
        else if (s ~ /layernorm/) c = "LayerNorm"
        else if (s ~ /^worker$|oc_parallel|chunks_range/) c = "thread pool (wake-ups, waiting)"
        else if ($2 == "[k]") c = "kernel (scheduling, page faults)"
        else c = "other"
        sum[c] += p }
        END { for (c in sum) printf "  %6.2f%%  %s\n", sum[c], c }' | sort -rn
