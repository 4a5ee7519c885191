#!/bin/sh
# cli_default.sh — the default model (models/default, trained by tools/train_default.py) as a user
# runs it: `oclip classify` on the held-out images of tests/fixtures/default must give OpenCLIP's
# top-1 for every image and its probabilities within 1e-4 (expected.json, written by
# tools/eval_default.py from OpenCLIP 3.3.0), and the shipped examples/*.png must be classified
# as what their file names say. Needs only POSIX sh and python3's standard library.
NAME=cli_default.sh
. tests/lib_cli.sh
M=models/default
F=tests/fixtures/default

# heldout_vs_openclip OUT.jsonl MAX_DP: `classify --json` output for the held-out images (in
# expected.json's order) gives OpenCLIP's top-1 for every image and its probabilities within MAX_DP
heldout_vs_openclip() {
    python3 - "$F/expected.json" "$1" "$2" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
tol = float(sys.argv[3])
labels = exp["labels"]
assert len(rows) == len(exp["images"]) >= 100, (len(rows), len(exp["images"]))
worst, wrong = 0.0, []
for want, got in zip(exp["images"], rows):
    assert got["image"] == want["file"], (got["image"], want["file"])
    p = {q["label"]: q["prob"] for q in got["predictions"]}
    assert sorted(p) == sorted(labels), p
    probs = [p[l] for l in labels]
    top = max(range(len(labels)), key=lambda i: probs[i])
    if top != want["top1"]:
        wrong.append(want["file"])
    worst = max(worst, max(abs(a - b) for a, b in zip(probs, want["probs"])))
if wrong or worst > tol:
    sys.exit("top-1 differs on %d images %s; max |dp| %.3g" % (len(wrong), wrong[:5], worst))
PY
}

# held-out images: every image against OpenCLIP (the file list comes from expected.json)
python3 -c 'import json,sys; print("\n".join(i["file"] for i in json.load(open(sys.argv[1]))["images"]))' \
    "$F/expected.json" >"$tmp/files" || bad "read $F/expected.json"
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m "$M" $(cat "$tmp/files") --labels-file examples/labels.txt --json
heldout_vs_openclip "$tmp/out" 1e-4 && ok || bad "held-out images differ from OpenCLIP"

# --dtype int8 (weights per channel, activations per token): OpenCLIP fp32's top-1 on every
# held-out image, probabilities within 0.005 (measured: 3.9e-4; docs/ENGINE.md)
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m "$M" $(cat "$tmp/files") --labels-file examples/labels.txt --json \
    --dtype int8 --no-cache
heldout_vs_openclip "$tmp/out" 5e-3 && ok || bad "int8: held-out images differ from OpenCLIP"

# the examples: each file is named COLOUR_SHAPE.png and must come out as SHAPE
ls examples/*.png >"$tmp/ex" || bad "no examples/*.png"
[ "$(wc -l <"$tmp/ex")" -ge 6 ] && ok || bad "fewer than 6 examples"
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m "$M" $(cat "$tmp/ex") --labels-file examples/labels.txt --json --top 1
python3 - "$tmp/out" <<'PY' && ok || bad "an example is misclassified"
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) >= 6
# the default model has no logit_bias: a softmax over the labels
assert all(r["activation"] == "softmax" for r in rows), "activation"
bad = [(r["image"], r["predictions"][0]["label"]) for r in rows
       if os.path.basename(r["image"])[:-4].split("_", 1)[1] != r["predictions"][0]["label"]]
if bad:
    sys.exit("misclassified: %s" % bad)
PY
cp "$tmp/out" "$tmp/ex_m.jsonl"

# without -m: the embedded copy of models/default, the same bytes out (the README's first command),
# also from another working directory
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify $(cat "$tmp/ex") --labels-file examples/labels.txt --json --top 1
same "$tmp/out" "$tmp/ex_m.jsonl"
here=$(pwd)
case "$OCLIP" in /*) bin=$OCLIP ;; *) bin=$here/$OCLIP ;; esac
(cd "$tmp" && "$bin" classify "$here/examples/red_circle.png" --labels-file "$here/examples/labels.txt" \
    --top 1) >"$tmp/o2" 2>&1 || bad "classify without -m from another directory"
contains "$tmp/o2" "%  circle$"

# the folder loads as it is shipped: F16 weights, its own config
expect 0 "$OCLIP" check "$M"
contains "$tmp/out" "^OK:"

# `-m default` names the embedded model (no file, no network)
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m default $(cat "$tmp/ex") --labels-file examples/labels.txt --json \
    --no-cache
cp "$tmp/out" "$tmp/embedded.jsonl"
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify $(cat "$tmp/ex") --labels-file examples/labels.txt --json --no-cache
same "$tmp/out" "$tmp/embedded.jsonl"
expect 0 "$OCLIP" check default
contains "$tmp/out" "^OK: default model (embedded) loads into"

# converted to one file, the model keeps its architecture and preprocessing (the file's
# open_clip_config metadata): the file alone gives the embedded model's probabilities, and no
# warning
expect 0 "$OCLIP" convert default "$tmp/one.safetensors"
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m "$tmp/one.safetensors" $(cat "$tmp/ex") \
    --labels-file examples/labels.txt --json --no-cache
same "$tmp/out" "$tmp/embedded.jsonl"
if grep -q "warning" "$tmp/err"; then bad "a warning for a file that carries its config"; else ok; fi
expect 0 "$OCLIP" inspect "$tmp/one.safetensors"
contains "$tmp/out" "^architecture:  .*from the checkpoint's open_clip_config metadata"
# without the metadata and without a config beside it, the architecture is inferred from the
# shapes: its heads are a guess (2 image heads instead of 4, 1 text head instead of 4), the
# probabilities are not the model's, and every command says so
expect 0 "$OCLIP" convert default "$tmp/bare.safetensors" --no-metadata
# shellcheck disable=SC2046
expect 0 "$OCLIP" classify -m "$tmp/bare.safetensors" $(cat "$tmp/ex") \
    --labels-file examples/labels.txt --json --no-cache
contains "$tmp/err" "^oclip: warning: the architecture was inferred from the tensor shapes .*attention heads (image 2, text 1).*are guesses"
if cmp -s "$tmp/out" "$tmp/embedded.jsonl"; then bad "the guessed heads changed nothing"; else ok; fi
expect 0 "$OCLIP" check "$tmp/bare.safetensors"
contains "$tmp/err" "^warning: the architecture was inferred from the tensor shapes"
expect 0 "$OCLIP" inspect "$tmp/bare.safetensors"
contains "$tmp/out" "^warning: .*are guesses"
expect 0 "$OCLIP" inspect --json "$tmp/bare.safetensors"
python3 - "$tmp/out" <<'PY' && ok || bad "inspect --json: no warning"
import json, sys
a = json.load(open(sys.argv[1]))["architecture"]
assert a["source"] == "inferred" and len(a["warnings"]) == 1 and "guesses" in a["warnings"][0], a
PY

echo "cli_default.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
