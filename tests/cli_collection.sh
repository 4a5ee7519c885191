#!/bin/sh
# cli_collection.sh — `oclip embed-dir` and `oclip search` on a generated collection (folders,
# a WebDataset tar, a truncated tar, a list; planted broken, truncated and non-image files):
# rows <-> files, embeddings equal to embed-image's / embed-text's, errors.jsonl, --strict,
# kill -9 at every commit step and at a random moment then --resume = the same bytes as an
# uninterrupted run, SIGINT, settings checks, search finding the planted nearest neighbours.
# Needs only POSIX sh and python3's standard library (tests/collection_check.py).
NAME=cli_collection.sh
. tests/lib_cli.sh
H="python3 tests/collection_check.py"
C=$tmp/c
mkdir -p "$C"
$H make tests/fixtures/default/heldout "$C" || bad "making the collection"
IN="$C/photos $C/shard-000.tar $C/cut.tar $C/list.txt"
# the default model (embedded): small, and it knows shapes and colours (models/default)
run() { "$OCLIP" embed-dir $IN --text --shard-size 5 --batch-size 3 "$@"; }

expect 0 "$OCLIP" embed-dir --help
contains "$tmp/out" "usage: oclip embed-dir"
expect 0 "$OCLIP" search --help
expect 2 "$OCLIP" embed-dir "$C/photos"
contains "$tmp/err" "missing -o OUTDIR"
expect 1 "$OCLIP" embed-dir "$C/nonexistent" -o "$tmp/x"
contains "$tmp/err" "input '.*nonexistent': No such file or directory"
[ ! -e "$tmp/x" ] && ok || bad "an output folder for a failed start"

# the uninterrupted run
expect 0 run -o "$tmp/base" --decode-threads 3
contains "$tmp/out" "embedded 47 images and their captions into 11 shards"
contains "$tmp/out" "6 errors listed in errors.jsonl"
$H errors "$tmp/base" > "$tmp/errs" || bad "errors.jsonl"
cat > "$tmp/errs_want" <<W
$C/cut.tar:000006
$C/missing.png
$C/photos/a/notanimage.jpg
$C/photos/b/truncated.png
$C/photos/broken.png
$C/shard-000.tar:000099
W
same "$tmp/errs" "$tmp/errs_want"
contains "$tmp/base/errors.jsonl" '"error":".*truncated'
contains "$tmp/base/errors.jsonl" '"error":".*HTML page'
contains "$tmp/base/errors.jsonl" '"error":"member .000006.png.: Truncated tar archive'
contains "$tmp/base/manifest.json" '"fingerprint":"[0-9a-f]\{32\}"'
contains "$tmp/base/manifest.json" '"counts":{"items":53,"images":47,"errors":6,"captions":14}'
contains "$tmp/base/metadata/metadata_0000.jsonl" '^{"row":0,"index":0,"path":".*/photos/000_'
contains "$tmp/base/metadata/metadata_0005.jsonl" '"tar":".*shard-000.tar","key":"000000","file":"000000.png","caption":"a '
contains "$tmp/base/metadata/metadata_0010.jsonl" '"caption":"a caption from the list"'
grep -q "hidden\|README" "$tmp"/base/metadata/*.jsonl && bad "hidden / non-image-extension files embedded" || ok

# rows <-> files: every row equals embed-image of its file (tar members extracted), every
# caption row embed-text of its caption, byte for byte
mkdir -p "$tmp/rows"
$H rows "$tmp/base" "$tmp/rows" || bad "rows"
tr '\n' '\0' < "$tmp/rows/paths.txt" | xargs -0 "$OCLIP" embed-image -o "$tmp/ref_img.npy" \
    >/dev/null 2>&1 || bad "embed-image of the rows"
$H same_rows "$tmp/rows/img.npy" "$tmp/ref_img.npy" && ok || bad "img_emb rows != embed-image"
expect 0 "$OCLIP" embed-text -f "$tmp/rows/captions.txt" -o "$tmp/ref_txt.npy"
$H same_rows "$tmp/rows/txt.npy" "$tmp/ref_txt.npy" && ok || bad "text_emb rows != embed-text"

# the same bytes for other batch sizes and thread counts
expect 0 "$OCLIP" embed-dir $IN --text --shard-size 5 --batch-size 7 --threads 2 \
    --decode-threads 1 -o "$tmp/other"
diff -r "$tmp/base" "$tmp/other" >/dev/null && ok || bad "output depends on batch/threads"

# --strict stops at the first bad file, without committing the shard it is in
expect 1 run -o "$tmp/strict" --strict
contains "$tmp/err" "notanimage.jpg.*HTML page"
contains "$tmp/err" "hint: without --strict"
[ -e "$tmp/strict/metadata/metadata_0001.jsonl" ] && [ ! -e "$tmp/strict/metadata/metadata_0002.jsonl" ] \
    && ok || bad "--strict: shards 0-1 committed, not 2"

# an existing run is not overwritten; --resume with other settings is refused
expect 1 run -o "$tmp/base"
contains "$tmp/err" "already holds a run"
expect 1 "$OCLIP" embed-dir $IN --text --shard-size 6 -o "$tmp/strict" --resume
contains "$tmp/err" "other settings"
expect 0 run -o "$tmp/base" --resume
contains "$tmp/out" "already complete (47 images, 6 errors, 11 shards)"

# killed (SIGKILL) right after each durable step of the commits (every step, until a run gets
# through), then --resume: the same bytes. Shards of 10 items (6 shards) to keep it short.
expect 0 run -o "$tmp/base10" --shard-size 10
i=1
while :; do
    rm -rf "$tmp/k"
    OCLIP_TEST_KILL_AT=$i run -o "$tmp/k" --shard-size 10 >/dev/null 2>&1
    rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -eq 137 ] || { bad "kill at step $i: exit $rc (want 137)"; break; }
    run -o "$tmp/k" --shard-size 10 --resume >/dev/null 2>"$tmp/err" || { bad "resume after step $i"; cat "$tmp/err"; }
    diff -r "$tmp/base10" "$tmp/k" >/dev/null && ok || bad "kill at step $i + --resume differs"
    i=$((i + 1))
done
[ $i -ge 20 ] && ok || bad "only $i crash points (6 shards x 3 files + the errors.jsonl appends)"
# stopped twice, resumed twice
rm -rf "$tmp/k"
OCLIP_TEST_KILL_AT=7 run -o "$tmp/k" >/dev/null 2>&1
OCLIP_TEST_KILL_AT=9 run -o "$tmp/k" --resume >/dev/null 2>&1
expect 0 run -o "$tmp/k" --resume
diff -r "$tmp/base" "$tmp/k" >/dev/null && ok || bad "two kills + resumes differ"

# a real kill -9 and a SIGINT at some moment of a longer run (a list of 600 items, one at a time)
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$C/list.txt"; done > "$C/long0.txt"
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$C/long0.txt"; done > "$C/long.txt"
long() { "$OCLIP" embed-dir "$C/long.txt" --shard-size 16 --batch-size 1 --threads 1 --decode-threads 1 "$@"; }
OCLIP_PROGRESS=always; export OCLIP_PROGRESS
expect 0 long -o "$tmp/lbase"
unset OCLIP_PROGRESS
# the progress line: count, rate, and the ETA once the counting walk has the total
contains "$tmp/err" "^images \[.*\] .*% [0-9]*/600 .*items/s ETA"
for sig in KILL INT; do
    rm -rf "$tmp/l"
    # oclip itself in the background (not a subshell running it), so that the signal reaches it
    "$OCLIP" embed-dir "$C/long.txt" --shard-size 16 --batch-size 1 --threads 1 \
        --decode-threads 1 -o "$tmp/l" >/dev/null 2>"$tmp/err" &
    pid=$!
    sleep 0.6
    kill -$sig $pid 2>/dev/null
    wait $pid
    rc=$?
    if [ $sig = INT ] && [ $rc -ne 0 ]; then
        [ $rc -eq 130 ] && ok || bad "SIGINT: exit $rc (want 130)"
        contains "$tmp/err" "interrupted: .* committed"
    fi
    expect 0 long -o "$tmp/l" --resume
    diff -r "$tmp/lbase" "$tmp/l" >/dev/null && ok || bad "kill -$sig + --resume differs"
done

# options of the other embed commands are refused
expect 2 "$OCLIP" embed-dir "$C/photos" -o "$tmp/y" --pixels x.npy
contains "$tmp/err" "unknown option '--pixels'"

# search: a collection image finds itself (cosine 1), then its near duplicate (the same PNG in
# the tar and the list); a text finds the shape it names
q=$(ls "$C"/photos/b/deep/*.png | head -1)
expect 0 "$OCLIP" search "$tmp/base" --image "$q" -k 3 --json
contains "$tmp/out" "\"results\":\\[{\"rank\":1,\"score\":1,\"shard\":[0-9]*,\"row\":[0-9]*,\"index\":[0-9]*,\"path\":\"$q\""
expect 0 "$OCLIP" search "$tmp/base" "a photo of a star" -k 3
n=$(grep -c "star" "$tmp/out")
[ "$n" -eq 3 ] && ok || bad "text search 'star': $n of the top 3 are stars: $(cat "$tmp/out")"
expect 0 "$OCLIP" search "$tmp/base" "a caption from the list" --against text -k 1
contains "$tmp/out" '^ 1  1.0000  .*"a caption from the list"'
expect 1 "$OCLIP" search "$tmp/strict" "x"
contains "$tmp/err" "did not finish"
expect 2 "$OCLIP" search "$tmp/base"
echo "cli_collection.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
