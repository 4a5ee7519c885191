#!/bin/sh
# cli_polish.sh — what a new user meets: "did you mean" for mistyped commands, options and
# --templates names; integer options that say their bound; the warning for an OCLIP_SIMD value
# that is not what runs; --max-pixels on every command that decodes images. POSIX sh.
NAME=cli_polish.sh
. tests/lib_cli.sh
EX=examples
IMG=$EX/red_circle.png

# did you mean: commands, options, template sets
expect 2 "$OCLIP" clasify
contains "$tmp/err" "unknown command 'clasify'"
contains "$tmp/err" "did you mean 'oclip classify'"
expect 2 "$OCLIP" embed_image
contains "$tmp/err" "did you mean 'oclip embed-image'"
expect 2 "$OCLIP" frobnicate
if grep -q "did you mean" "$tmp/err"; then bad "a suggestion for frobnicate"; else ok; fi
expect 2 "$OCLIP" classify "$IMG" --lables "a,b"
contains "$tmp/err" "unknown option '--lables'"
contains "$tmp/err" "did you mean '--labels'"
expect 2 "$OCLIP" inspect --tensor default
contains "$tmp/err" "did you mean '--tensors'"
expect 2 "$OCLIP" check default --jsno
contains "$tmp/err" "did you mean '--json'"
expect 2 "$OCLIP" preprocess --max-pixel 5 "$IMG" -o "$tmp/x.npy"
contains "$tmp/err" "did you mean '--max-pixels'"
expect 2 "$OCLIP" tokenize --contex-length 8 hello
contains "$tmp/err" "did you mean '--context-length'"
expect 2 "$OCLIP" embed-text --no-normalise hello -o "$tmp/x.npy"
contains "$tmp/err" "did you mean '--no-normalize'"
expect 2 "$OCLIP" classify "$IMG" --bogus-thing
if grep -q "did you mean" "$tmp/err"; then bad "a suggestion for --bogus-thing"; else ok; fi
expect 2 "$OCLIP" classify "$IMG" --labels "a,b" --templates imagnet
contains "$tmp/err" "did you mean 'imagenet'"
expect 2 "$OCLIP" classify "$IMG" --labels "a,b" --templates simpel
contains "$tmp/err" "did you mean 'simple'"

# --top and the other counts say their bound
expect 2 "$OCLIP" classify "$IMG" --labels "a,b" --top 1000000000
contains "$tmp/err" "--top '1000000000': expected an integer from 1 to 1048576"
expect 2 "$OCLIP" embed-text hello -o "$tmp/x.npy" --threads 0
contains "$tmp/err" "--threads '0': expected an integer from 1 to 1048576"
expect 0 "$OCLIP" classify "$IMG" --labels "a,b" --top 1048576

# OCLIP_SIMD that is not what runs: a warning from info and from every command that computes
OCLIP_SIMD=no-such-path expect 0 "$OCLIP" info
contains "$tmp/err" "^oclip: warning: OCLIP_SIMD=no-such-path is not a kernel path"
OCLIP_SIMD=no-such-path expect 0 "$OCLIP" embed-text hello -o "$tmp/x.npy"
contains "$tmp/err" "^oclip: warning: OCLIP_SIMD=no-such-path"
OCLIP_SIMD=no-such-path expect 0 "$OCLIP" classify "$IMG" --labels "a,b"
contains "$tmp/err" "^oclip: warning: OCLIP_SIMD=no-such-path"
OCLIP_SIMD=scalar expect 0 "$OCLIP" embed-text hello -o "$tmp/x.npy"
if grep -q warning "$tmp/err"; then bad "a warning for OCLIP_SIMD=scalar: $(cat "$tmp/err")"; else ok; fi

# --max-pixels on embed-image, classify and similarity (the examples are 128x128)
for c in "embed-image $IMG -o $tmp/x.npy" "classify $IMG --labels a,b" \
         "similarity --images $IMG --texts a" "embed-image - -o $tmp/x.npy"; do
    # shellcheck disable=SC2086
    expect 1 "$OCLIP" $c --max-pixels 1000 <"$IMG"
    contains "$tmp/err" "more than the limit of 1000"
done
# an image within the limit but a resize target above it (64x64 = 4096 pixels)
python3 -c 'import sys, struct, zlib
def ch(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
raw = b"".join(b"\0" + b"\x80" * 30 for _ in range(10))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + ch(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0)) + ch(b"IDAT", zlib.compress(raw)) + ch(b"IEND", b""))' >"$tmp/small.png"
expect 1 "$OCLIP" embed-image "$tmp/small.png" -o "$tmp/x.npy" --max-pixels 1000
contains "$tmp/err" "1000"
# a limit above the image changes no byte
expect 0 "$OCLIP" embed-image "$IMG" "$EX/blue_triangle.png" -o "$tmp/a.npy"
expect 0 "$OCLIP" embed-image "$IMG" "$EX/blue_triangle.png" -o "$tmp/b.npy" --max-pixels 100000
same "$tmp/a.npy" "$tmp/b.npy"
expect 0 "$OCLIP" classify "$IMG" --labels "a,b" --max-pixels 100000
for c in embed-image classify similarity; do
    expect 0 "$OCLIP" "$c" --help
    contains "$tmp/out" "--max-pixels N"
done
expect 2 "$OCLIP" embed-text hello -o "$tmp/x.npy" --max-pixels 5

echo "cli_polish.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
