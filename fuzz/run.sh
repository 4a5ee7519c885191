#!/bin/sh
# fuzz/run.sh SECONDS — seeds and runs the libFuzzer targets (built by `make fuzz-build`).
#
# For each target fuzz_<t> in build-fuzz/ ($FUZZ_DIR): fills fuzz/corpus-<t>/ with the committed corpus
# tests/fuzz/<t>/ (inputs earlier campaigns found interesting, minimised) and seeds from the fixtures
# (readers/** for checkpoint and zip, the data.pkl records for pickle, the .safetensors files for
# safetensors, hostile/* for those four; the preprocess/** images for image, prompts picked from
# tokenizer/*.json* for tokenizer, data/model_configs/*.json and the tiny models'
# open_clip_config.json and hf/config.json for config; the shard indexes for index), runs the
# target for SECONDS seconds, and prints one summary line (FUZZ_TARGETS="image config" runs a
# subset; FUZZ_RUNS=N also stops each target after N executions, whichever comes first;
# FUZZ_DIR=build-fuzz-ub runs the UBSan-only build of `make fuzz-build FUZZ_DIR=build-fuzz-ub
# FUZZ_SAN=undefined FUZZ_OPT=-O2 FUZZ_EXTRA=-fno-sanitize-coverage=trace-cmp`, several times
# faster, for long campaigns).
#
# FUZZ_IDLE=1 runs the fuzzers under SCHED_IDLE (`chrt -i 0`, util-linux): they take only cycles
# nothing else in the same session wants, so builds and tests beside a long campaign run at full
# speed. Linux with autogroups orders tasks by policy and nice only inside a session: a fuzzer
# started from another session or with setsid gets its own group and half the CPU whatever its
# policy or nice value (`echo 19 > /proc/PID/autogroup` lowers that whole group). Benchmarks want
# no fuzzer at all: even an idle-priority one evicts their caches and holds a core whenever their
# threads sleep, and a thread pool that waits with sched_yield loses the core to it (oclip's did
# until 2026-11-28). Never suspend a fuzzer to make room: its per-input timeout is wall-clock
# time.
#
# FUZZ_MERGE=1 fuzz/run.sh: instead of fuzzing, minimises tests/fuzz/<t>/ + fuzz/corpus-<t>/ into a
# new tests/fuzz/<t>/ (libFuzzer -merge=1: the smallest set of inputs with the same coverage),
# leaving out inputs over FUZZ_MERGE_MAX_LEN bytes (default 65536), then the largest inputs until
# the target's folder holds at most FUZZ_MERGE_BUDGET_KB KiB (default 350), so that all the
# committed corpora together stay under 3 MB. Crash, leak, timeout and
# OOM inputs, and the full log, go to fuzz/corpus-<t>.out/ (ignored by git, like the corpora).
# Exits 1 when any target found something.
set -u

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
fx=tests/fixtures
bin=${FUZZ_DIR:-build-fuzz}

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

# image seeds: byte 0 selects the preprocess options (fuzz_image.c), the rest is the file. The
# decoder fixtures get four selectors (8/64 square, 32x17 and 17x8; shortest, longest, squash,
# EXIF transpose; bicubic and bilinear), the reference decodes (PNG) one.
seed_image() {
    dir=$1
    shift
    for f in "$@"; do
        name=$(printf '%s' "$f" | sed 's|^tests/fixtures/||; s|/|_|g')
        case $f in
        */preprocess/img/*) sels='000 056 323 145' ;;
        *) sels='000' ;;
        esac
        for s in $sels; do
            { printf "\\$s"; cat "$f"; } > "$dir/s${s}_$name"
        done
    done
}

# tokenizer seeds: single prompts (at most 4095 bytes each) taken evenly from every category of
# cases.jsonl (the "b" cases as their raw bytes), from mojibake.jsonl and context.json, each
# behind a selector byte (fuzz_tokenizer.c) that cycles through the clean modes, context
# lengths and id-buffer sizes. Needs python3; without it the lines themselves are the seeds.
# serve: byte 0 picks the endpoint (fuzz/fuzz_serve.c), the rest is a request body
seed_serve() {
    dir=$1
    printf '\000{"input": ["a photo of a cat", "a dog"], "encoding_format": "base64"}' >"$dir/seed-text"
    printf '\000{"input": "x", "modality": "image"}' >"$dir/seed-image-bad"
    img=$(find "$fx/preprocess" -type f -name '*.png' | sort | head -n 1)
    if [ -n "$img" ] && command -v base64 >/dev/null 2>&1; then
        { printf '\001{"images": ["'; base64 -w0 "$img"; printf '"]}'; } >"$dir/seed-images"
        { printf '\002{"images": ["'; base64 -w0 "$img"; printf '"], "labels": "cat,dog"}'; } >"$dir/seed-classify"
        { printf '\003'; cat "$img"; } >"$dir/seed-raw"
    fi
}

seed_tokenizer() {
    dir=$1
    tk=$fx/tokenizer
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$tk" "$dir" <<'PY'
import json, os, sys
tk, out = sys.argv[1], sys.argv[2]
per_cat, texts = {}, []
with open(os.path.join(tk, "cases.jsonl"), encoding="utf-8") as f:
    for line in f:
        d = json.loads(line)
        t = bytes.fromhex(d["b"]) if "b" in d else d["t"].encode("utf-8", "surrogatepass")
        per_cat.setdefault(d["c"], []).append(t)
for cat in sorted(per_cat):
    v = per_cat[cat]
    k = min(len(v), 30)
    texts += [v[i * len(v) // k] for i in range(k)]
with open(os.path.join(tk, "mojibake.jsonl"), encoding="utf-8") as f:
    rows = [json.loads(l) for l in f if l.strip()]
for d in rows[:: max(1, len(rows) // 30)]:
    texts.append(d["t"].encode("utf-8", "surrogatepass"))
with open(os.path.join(tk, "context.json"), encoding="utf-8") as f:
    rows = json.load(f)["rows"]
for d in rows[:: max(1, len(rows) // 10)]:
    texts.append(d["t"].encode("utf-8", "surrogatepass"))
seen = set()
for i, t in enumerate(texts):
    t = t[:4095]
    if t in seen:
        continue
    seen.add(t)
    sel = (i * 37) % 128
    with open(os.path.join(out, "t%04d" % i), "wb") as g:
        g.write(bytes([sel]) + t)
PY
    else
        i=0
        for f in "$tk"/cases.jsonl "$tk"/mojibake.jsonl; do
            head -n 200 "$f" | while IFS= read -r line; do
                i=$((i + 1))
                { printf '\000'; printf '%s' "$line" | head -c 4095; } > "$dir/l${i}_$(basename "$f")"
            done
        done
    fi
}

readers=$(find "$fx/readers" -type f ! -name '*.json' | sort)
hostile=$(find "$fx/hostile" -type f ! -name 'manifest.json' | sort)
notckpt=$(find "$fx/notckpt" -type f | sort)
sts=$(find "$fx/readers" "$fx/hostile" -type f -name '*.safetensors' | sort)
images=$(find "$fx/preprocess" -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.bmp' \
    -o -name '*.gif' -o -name '*.webp' -o -name '*.tif' -o -name '*.pbm' -o -name '*.pgm' \
    -o -name '*.ppm' \) | sort)
configs=$(find data/model_configs -maxdepth 1 -type f -name '*.json' | sort)
configs="$configs $(find "$fx/arch/tiny" -type f \( -path '*/tiny/*/open_clip_config.json' \
    -o -path '*/tiny/*/hf/config.json' \) | sort)"

indexes=$(find "$fx" -type f -name '*.index.json' | sort)

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    status=0
    for t in ${FUZZ_TARGETS:-checkpoint zip pickle safetensors index image tokenizer config hftok serve}; do
        exe=$bin/fuzz_$t
        [ -x "$exe" ] || { echo "fuzz_$t: MISSING"; status=1; continue; }
        new=tests/fuzz/$t.new
        rm -rf "$new"
        mkdir -p "$new" "tests/fuzz/$t" "fuzz/corpus-$t"
        maxlen=${FUZZ_MERGE_MAX_LEN:-65536}
        if "$exe" -merge=1 -max_len="$maxlen" -rss_limit_mb=2048 -timeout=10 "$new" "tests/fuzz/$t" \
            "fuzz/corpus-$t" > "fuzz/corpus-$t.merge.log" 2>&1; then
            # the named regression inputs (regression-*) stay, under their names, whatever the
            # merge kept: test_fuzz_regressions replays them by name
            for f in "tests/fuzz/$t"/regression-*; do
                [ -f "$f" ] && cp "$f" "$new/"
            done
            # largest first out, until the budget holds (never a regression input)
            budget=$(( ${FUZZ_MERGE_BUDGET_KB:-350} * 1024 ))
            total=0
            for f in $(ls "$new" | grep '^regression-') $(ls -Sr "$new" | grep -v '^regression-'); do
                sz=$(wc -c < "$new/$f")
                case $f in
                regression-*) total=$((total + sz)) ;;
                *) if [ $((total + sz)) -le "$budget" ]; then total=$((total + sz)); else rm -f "$new/$f"; fi ;;
                esac
            done
            rm -rf "tests/fuzz/$t"
            mv "$new" "tests/fuzz/$t"
            echo "fuzz_$t: merged into tests/fuzz/$t: $(ls "tests/fuzz/$t" | wc -l) inputs," \
                "$(du -sk "tests/fuzz/$t" | cut -f1) KiB"
        else
            echo "fuzz_$t: merge FAILED (fuzz/corpus-$t.merge.log)"
            rm -rf "$new"
            status=1
        fi
    done
    exit $status
fi

status=0
for t in ${FUZZ_TARGETS:-checkpoint zip pickle safetensors index image tokenizer config hftok serve}; do
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
    image) seed_image "$corpus" $images ;;
    tokenizer) seed_tokenizer "$corpus" ;;
    config) for f in $configs; do seed "$f" "$corpus"; done ;;
    index) for f in $indexes; do seed "$f" "$corpus"; done ;;
    serve) seed_serve "$corpus" ;;
    esac
    # the committed corpus (tests/fuzz/<t>/, file names are content hashes)
    if [ -d "tests/fuzz/$t" ]; then
        for f in "tests/fuzz/$t"/*; do [ -f "$f" ] && cp "$f" "$corpus/"; done
    fi
    # the tokenizer explores breadth on short prompts
    maxlen=1048576
    [ "$t" = tokenizer ] && maxlen=4096
    log=$out/log.txt
    start=$(date +%s)
    idle=
    [ "${FUZZ_IDLE:-0}" = 1 ] && command -v chrt >/dev/null 2>&1 && idle="chrt -i 0"
    $idle "$exe" -max_total_time="$secs" -runs="${FUZZ_RUNS:--1}" -max_len="$maxlen" -rss_limit_mb=2048 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$out/" "$corpus" > "$log" 2>&1
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
