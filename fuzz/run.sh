#!/bin/sh
# fuzz/run.sh SECONDS — seeds and runs the libFuzzer targets (built by `make fuzz-build`).
#
# For each target fuzz_<t> in build-fuzz/: fills fuzz/corpus-<t>/ with seeds from the fixtures
# (readers/** for checkpoint and zip, the data.pkl records for pickle, the .safetensors files for
# safetensors, hostile/* for all), runs the target for SECONDS seconds, and prints one summary
# line. Crash, leak, timeout and OOM inputs, and the full log, go to fuzz/corpus-<t>.out/ (ignored
# by git, like the corpora). Exits 1 when any target found something.
set -u

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
fx=tests/fixtures
bin=build-fuzz

# UBSan findings count as crashes; leaks are checked at the end of each input.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS ASAN_OPTIONS

# seed FILE DIR: copies FILE into DIR under a flattened name.
seed() {
    name=$(printf '%s' "$1" | sed 's|^tests/fixtures/||; s|/|_|g')
    cp "$1" "$2/$name"
}

# pickle seeds: each data.pkl record (or the whole file when unzip is missing or it is no zip),
# once per VM mode (the first input byte selects TorchScript mode).
seed_pickle() {
    dir=$1
    shift
    for f in "$@"; do
        [ -f "$f" ] || continue
        name=$(printf '%s' "$f" | sed 's|^tests/fixtures/||; s|/|_|g')
        tmp="$dir/.tmp.pkl"
        if command -v unzip >/dev/null 2>&1 && unzip -p "$f" '*/data.pkl' > "$tmp" 2>/dev/null &&
            [ -s "$tmp" ]; then
            :
        else
            cp "$f" "$tmp"
        fi
        { printf '\000'; cat "$tmp"; } > "$dir/m0_$name"
        { printf '\001'; cat "$tmp"; } > "$dir/m1_$name"
        rm -f "$tmp"
    done
}

readers=$(find "$fx/readers" -type f ! -name '*.json' | sort)
hostile=$(find "$fx/hostile" -type f ! -name 'manifest.json' | sort)
notckpt=$(find "$fx/notckpt" -type f | sort)
sts=$(find "$fx/readers" "$fx/hostile" -type f -name '*.safetensors' | sort)

status=0
for t in checkpoint zip pickle safetensors; do
    exe=$bin/fuzz_$t
    if [ ! -x "$exe" ]; then
        echo "fuzz_$t: MISSING ($exe not built; run make fuzz-build)"
        status=1
        continue
    fi
    corpus=fuzz/corpus-$t
    out=fuzz/corpus-$t.out
    mkdir -p "$corpus" "$out"
    rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*
    case $t in
    checkpoint) for f in $readers $hostile $notckpt; do seed "$f" "$corpus"; done ;;
    zip) for f in $readers $hostile; do seed "$f" "$corpus"; done ;;
    pickle) seed_pickle "$corpus" $readers $hostile ;;
    safetensors) for f in $sts $hostile; do seed "$f" "$corpus"; done ;;
    esac
    log=$out/log.txt
    start=$(date +%s)
    "$exe" -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$out/" "$corpus" > "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    runs=$(printf '%s' "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
    cov=$(printf '%s' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s' "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s' "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$t: ok: ${runs:-?} runs in ${took}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} (log $log)"
    else
        art=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        why=$(grep -m 1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$log")
        echo "fuzz_$t: FAILED (rc $rc) after ${runs:-?} runs, ${took}s: ${why:-see log}; input: ${art:-none}; log $log"
        status=1
    fi
done
exit $status
