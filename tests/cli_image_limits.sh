#!/bin/sh
# cli_image_limits.sh — declared-size bombs (tests/fixtures/image_limits/bombs.tsv: tiny files
# declaring images far over the pixel limit) through `oclip preprocess` and `oclip embed-image`:
# each one refused with exit 1, a message naming the file, its declared size and the limit, no
# output file, in under 3 s and 300 MB of peak RSS (checked with python3's resource module; not
# under valgrind, OCLIP_REAL set). POSIX sh and python3's standard library.
NAME=cli_image_limits.sh
. tests/lib_cli.sh
F=tests/fixtures/image_limits

# run CMD...: exit status, seconds and peak RSS (KiB) of CMD on stdout; its stderr to $tmp/err.
# CMD may map at most 4 GB (RLIMIT_AS), so that a regression fails here instead of taking the
# machine's memory (an unchecked PNG bomb asks for 32 GB), except under AddressSanitizer, which
# reserves terabytes of address space, and under valgrind (OCLIP_REAL set).
run() {
    python3 - "$@" 2>"$tmp/err" <<'PY'
import os, resource, subprocess, sys, time
exe = sys.argv[1]
with open(exe, "rb") as f:
    asan = b"__asan_init" in f.read()
cap = not asan and not os.environ.get("OCLIP_REAL")
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
t = time.monotonic()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   preexec_fn=limit if cap else None, timeout=120)
dt = time.monotonic() - t
sys.stderr.buffer.write(p.stderr)
print(p.returncode, "%.3f" % dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
}

n=0
while IFS='	' read -r file want; do
    [ -n "$file" ] || continue
    n=$((n + 1))
    for cmd in preprocess embed-image; do
        rm -f "$tmp/x.npy"
        set -- $(run "$OCLIP" "$cmd" "$F/$file" -o "$tmp/x.npy")
        rc=$1 secs=$2 kib=$3
        if [ "$rc" = 1 ]; then ok; else bad "$cmd $file: exit $rc (want 1)"; cat "$tmp/err" >&2; fi
        contains "$tmp/err" "$file"
        contains "$tmp/err" "$want"
        case $want in
        *needs*) contains "$tmp/err" "truncated" ;;
        *) contains "$tmp/err" "more than the limit of 178956970" ;;
        esac
        if [ -e "$tmp/x.npy" ]; then bad "$cmd $file: wrote $tmp/x.npy"; else ok; fi
        if [ -z "${OCLIP_REAL:-}" ]; then
            if awk "BEGIN { exit !($secs < 3) }"; then ok; else bad "$cmd $file: took $secs s"; fi
            if [ "$kib" -lt 307200 ]; then ok; else bad "$cmd $file: peak RSS $kib KiB"; fi
        fi
    done
done <"$F/bombs.tsv"
if [ "$n" -ge 17 ]; then ok; else bad "only $n bombs in $F/bombs.tsv"; fi

# --max-pixels moves the limit: a bomb's message names the limit given
expect 1 "$OCLIP" preprocess --max-pixels 1000 "$F/webp_16384x16384.webp" -o "$tmp/x.npy"
contains "$tmp/err" "16384x16384 = 268435456 pixels, more than the limit of 1000"

echo "cli_image_limits.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
