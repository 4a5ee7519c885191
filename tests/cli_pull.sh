#!/bin/sh
# cli_pull.sh — `oclip pull` and the automatic pull against a local mock hub (tests/mockhub.py,
# started here on 127.0.0.1, stopped on exit) that follows the Hugging Face hub's HTTP
# conventions: first download, the cache laid out as huggingface_hub lays it out, cache hit,
# resume after a dropped connection, restart when Range is ignored, hash mismatch refused, 401
# for a gated repo (HF_TOKEN), 404 listing the repo's files, an HF-transformers-only repo, a
# renamed repo (relative redirect), offline mode, a cache written by Python's huggingface_hub
# (tests/fixtures/hub/pycache) read back, concurrent pulls; and the acceptance check: pull
# ViT-B-32:laion2b_s34b_b79k, then offline embed-image --threads 1 -m ViT-B-32:laion2b_s34b_b79k gives the
# bytes the same weights give loaded from their file.
# Needs only POSIX sh and python3's standard library.
NAME=cli_pull.sh
. tests/lib_cli.sh
pull_finish() {
    echo "$NAME: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}
MOCK_PID=
trap 'if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null; fi; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
G=tests/fixtures/engine/gelu/f32    # tiny OpenCLIP model (open_clip_config.json + safetensors)
B=tests/fixtures/arch/tiny/b32like  # tiny model with a .bin and an HF-transformers copy (hf/)
IMG=tests/fixtures/preprocess/img/jpg_420.jpg
S=tests/fixtures/siglip/siglip_b16  # tiny SigLIP: its tokenizer is hf_tokenizer_name's repo
unset HF_HOME HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE XDG_CACHE_HOME HF_TOKEN_PATH \
    HUGGINGFACE_HUB_CACHE
export HOME="$tmp/home" OCLIP_PROGRESS=0
mkdir -p "$HOME" "$tmp/state"

# an OpenCLIP repo of a family oclip does not run (a timm image tower of none of its families:
# MobileCLIP-S1's config on timm's resnet50d), with weights
python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))
c["vision_cfg"]["timm_model_name"] = "resnet50d"
print(json.dumps({"model_cfg": c}))' data/model_configs/MobileCLIP-S1.json >"$tmp/timmrn_config.json"
# SigLIP repos whose config names another repo's tokenizer (text_cfg.hf_tokenizer_name)
sed 's#"oclip-test/siglip_b16"#"org/tok-only"#' "$S/open_clip_config.json" >"$tmp/siglip_shared.json"
sed 's#"oclip-test/siglip_b16"#"org/nofiles"#' "$S/open_clip_config.json" >"$tmp/siglip_notok.json"
cat >"$tmp/repos.json" <<EOF
{"org/timm-resnet": {"files": {"open_clip_config.json": "$tmp/timmrn_config.json",
                             "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}},
 "org/tiny": {"files": {"open_clip_config.json": "$G/open_clip_config.json",
                        "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}},
 "org/tiny2": {"files": {"open_clip_config.json": "$G/open_clip_config.json",
                         "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}},
 "laion/CLIP-ViT-B-32-laion2B-s34B-b79K": {"files": {
     "open_clip_config.json": "$G/open_clip_config.json",
     "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}},
 "org/tiny-bin": {"files": {"open_clip_config.json": "$B/open_clip_config.json",
                            "open_clip_pytorch_model.bin": "$B/open_clip_pytorch_model.bin"}},
 "org/hfonly": {"files": {"config.json": "$B/hf/config.json",
                          "model.safetensors": "$B/hf/model.safetensors"}},
 "org/gated": {"gated": true, "files": {"open_clip_config.json": "$G/open_clip_config.json",
                                        "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}},
 "org/nofiles": {"files": {"README.md": "tests/fixtures/hub/README.md",
                           "weights.npz": "tests/fixtures/hub/README.md"}},
 "oclip-test/siglip_b16": {"files": {"open_clip_config.json": "$S/open_clip_config.json",
                                     "open_clip_model.safetensors": "$S/open_clip_model.safetensors",
                                     "tokenizer.json": "$S/tokenizer.json",
                                     "tokenizer_config.json": "$S/tokenizer_config.json",
                                     "special_tokens_map.json": "$S/special_tokens_map.json"}},
 "org/siglip-shared": {"files": {"open_clip_config.json": "$tmp/siglip_shared.json",
                                 "open_clip_model.safetensors": "$S/open_clip_model.safetensors"}},
 "org/tok-only": {"files": {"tokenizer.json": "$S/tokenizer.json",
                            "tokenizer_config.json": "$S/tokenizer_config.json"}},
 "org/siglip-notok": {"files": {"open_clip_config.json": "$tmp/siglip_notok.json",
                                "open_clip_model.safetensors": "$S/open_clip_model.safetensors"}},
 "org/tiny-new": {"renamed_from": "org/tiny-old",
                  "files": {"open_clip_config.json": "$G/open_clip_config.json",
                            "open_clip_model.safetensors": "$G/open_clip_model.safetensors"}}}
EOF
python3 tests/mockhub.py "$tmp/repos.json" "$tmp/state" >"$tmp/port" 2>"$tmp/mock.err" &
MOCK_PID=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$tmp/port" ]; then
    bad "the mock hub did not start: $(cat "$tmp/mock.err")"
    pull_finish
fi
export HF_ENDPOINT="http://127.0.0.1:$(cat "$tmp/port")"
mode() { echo "$1" >"$tmp/state/mode"; : >"$tmp/state/log"; }
# log_has RE: the mock saw a request matching RE since the last `mode`
log_has() { if grep -q -- "$1" "$tmp/state/log"; then ok; else bad "no request '$1' in the log"; fi; }
log_lacks() { if grep -q -- "$1" "$tmp/state/log"; then bad "unexpected request '$1'"; else ok; fi; }
SHA_G=$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' \
    "$G/open_clip_model.safetensors")
"$OCLIP" inspect --dump pixels -o "$tmp/pixels.npy" "$G/expected.safetensors" || bad "dump pixels"
"$OCLIP" embed-image --threads 1 -m "$G/open_clip_model.safetensors" --pixels "$tmp/pixels.npy" \
    -o "$tmp/want_img.npy" || bad "embed-image --threads 1 by file"

expect 0 "$OCLIP" pull --help
contains "$tmp/out" "usage: oclip pull SPEC"
expect 2 "$OCLIP" pull
expect 2 "$OCLIP" pull hf-hub:org/tiny --bogus

# ---- libcurl is loaded on the first download: no download without it, with a reason; no
# request reaches the server; the other commands never load it
export HF_HUB_CACHE="$tmp/c0"
mode normal
OCLIP_LIBCURL=/nonexistent/libcurl.so.4 expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "downloading needs libcurl: OCLIP_LIBCURL=/nonexistent/libcurl.so.4 could not be loaded"
OCLIP_LIBCURL=libm.so.6 expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "libm.so.6 has no curl_global_init"
log_lacks "HEAD"
if [ -e "$tmp/c0/models--org--tiny/blobs" ]; then bad "a cache entry without libcurl"; else ok; fi
if command -v ldd >/dev/null 2>&1; then
    if ldd "$OCLIP" | grep -q libcurl; then bad "oclip links libcurl"; else ok; fi
fi

# ---- first download: layout as huggingface_hub writes it
export HF_HUB_CACHE="$tmp/c1"
mode normal
expect 0 "$OCLIP" pull hf-hub:org/tiny
R="$tmp/c1/models--org--tiny"
COMMIT=$(cat "$R/refs/main")
contains "$tmp/out" "^$R/snapshots/$COMMIT/open_clip_model.safetensors\$"
contains "$tmp/err" "2 downloaded"
python3 - "$R" "$SHA_G" "$G" <<'PY' || bad "cache layout"
import hashlib, os, re, sys
r, sha, g = sys.argv[1:]
commit = open(os.path.join(r, "refs", "main")).read()
assert re.fullmatch(r"[0-9a-f]{40}", commit), commit     # no newline, as huggingface_hub
snap = os.path.join(r, "snapshots", commit)
assert sorted(os.listdir(snap)) == ["open_clip_config.json", "open_clip_model.safetensors"]
link = os.path.join(snap, "open_clip_model.safetensors")
assert os.readlink(link) == "../../blobs/" + sha, os.readlink(link)
data = open(os.path.join(r, "blobs", sha), "rb").read()
assert data == open(g + "/open_clip_model.safetensors", "rb").read()
cfg = os.readlink(os.path.join(snap, "open_clip_config.json"))
blob = open(os.path.join(r, "blobs", cfg.split("/")[-1]), "rb").read()
# a non-LFS file is named by its git blob sha1 (the hub's ETag)
assert cfg.split("/")[-1] == hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
assert not [f for f in os.listdir(os.path.join(r, "blobs")) if f.endswith(".incomplete")]
PY
ok
log_has "^HEAD /org/tiny/resolve/main/open_clip_config.json"
log_has "^GET /cdn/$SHA_G"

# ---- cache hit: nothing downloaded again
mode normal
expect 0 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "0 downloaded"
log_lacks "^GET /cdn/"
# offline, the cached spec loads and computes what the file gives
mode normal
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 -m hf-hub:org/tiny --pixels "$tmp/pixels.npy" \
    -o "$tmp/img.npy"
same "$tmp/img.npy" "$tmp/want_img.npy"
log_lacks "resolve"
expect 0 "$OCLIP" pull --offline --quiet hf-hub:org/tiny
contains "$tmp/out" "snapshots/$COMMIT/open_clip_model.safetensors"
log_lacks "resolve"
# an explicit revision (the commit) and an unknown one
expect 0 "$OCLIP" pull --quiet "hf-hub:org/tiny@$COMMIT"
expect 1 "$OCLIP" pull --revision nosuch hf-hub:org/tiny
contains "$tmp/err" "has no revision 'nosuch'"

# ---- acceptance: ARCH:TAG against the mock, then offline from the cache
export HF_HUB_CACHE="$tmp/c2"
mode normal
expect 0 "$OCLIP" pull ViT-B-32:laion2b_s34b_b79k
contains "$tmp/out" "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/snapshots/.*/open_clip_model.safetensors"
log_has "^HEAD /laion/CLIP-ViT-B-32-laion2B-s34B-b79K/resolve/main/open_clip_model.safetensors"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 -m ViT-B-32:laion2b_s34b_b79k \
    --pixels "$tmp/pixels.npy" -o "$tmp/img_tag.npy"
same "$tmp/img_tag.npy" "$tmp/want_img.npy"
# every command takes the same specs: check, inspect, convert, preprocess and tokenize on the
# cached tag (whose repository's config describes the tiny weights), offline
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" check ViT-B-32:laion2b_s34b_b79k
contains "$tmp/out" "^OK: .*/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/snapshots/.*/open_clip_model.safetensors loads into"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" inspect ViT-B-32:laion2b_s34b_b79k
contains "$tmp/out" "^path: .*models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/snapshots/"
contains "$tmp/out" "^architecture: .*the repository's architecture"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" convert ViT-B-32:laion2b_s34b_b79k "$tmp/tag.safetensors"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 -m "$tmp/tag.safetensors" \
    --pixels "$tmp/pixels.npy" -o "$tmp/img_conv.npy"
same "$tmp/img_conv.npy" "$tmp/want_img.npy"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" preprocess -m ViT-B-32:laion2b_s34b_b79k "$IMG" -o "$tmp/pp.npy"
HF_HUB_OFFLINE=1 expect 1 "$OCLIP" tokenize -m ViT-B-32:laion2b_s34b_b79k x
contains "$tmp/err" "has a vocabulary of 64 ids, not the 49408 of OpenCLIP's tokenizer"
HF_HUB_OFFLINE=1 expect 1 "$OCLIP" check ViT-B-16:laion2b_s34b_b88k
contains "$tmp/err" "oclip pull ViT-B-16:laion2b_s34b_b88k"
# and download what the cache lacks, as embed-image does
export HF_HUB_CACHE="$tmp/c2b"
mode normal
expect 0 "$OCLIP" check hf-hub:org/tiny
contains "$tmp/err" "hf-hub:org/tiny is not in the cache: downloading it"
log_has "^GET /cdn/$SHA_G"
mode normal
expect 0 "$OCLIP" inspect --json hf-hub:org/tiny
log_lacks "resolve"
export HF_HUB_CACHE="$tmp/c2"

# unknown tags and architectures: the valid tags / the closest names
expect 1 "$OCLIP" pull ViT-B-32:laion2b
contains "$tmp/err" "valid tags for ViT-B-32"
expect 1 "$OCLIP" pull ViT-B-33:openai
contains "$tmp/err" "did you mean"
expect 1 "$OCLIP" pull ViT-B-32:openai --revision dev
contains "$tmp/err" "always uses the revision .main."
expect 1 "$OCLIP" pull ViT-B-32
contains "$tmp/err" "add a pretrained tag"

# ---- resume after a dropped connection
export HF_HUB_CACHE="$tmp/c3"
R="$tmp/c3/models--org--tiny"
mode cut
expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "interrupted after"
contains "$tmp/err" "resumes"
SIZE=$(wc -c <"$G/open_clip_model.safetensors")
HALF=$(wc -c <"$R/blobs/$SHA_G.incomplete")
if [ "$HALF" -gt 0 ] && [ "$HALF" -lt "$SIZE" ]; then ok; else bad "partial file holds $HALF bytes"; fi
if [ -e "$R/blobs/$SHA_G" ]; then bad "a partial download has the final name"; else ok; fi
if [ -e "$R/snapshots/$(cat "$R/refs/main" 2>/dev/null)/open_clip_model.safetensors" ]; then
    bad "snapshot link to an incomplete blob"; else ok; fi
mode normal
expect 0 "$OCLIP" pull hf-hub:org/tiny
log_has "^GET /cdn/$SHA_G.* bytes=$HALF-\$"
same "$R/blobs/$SHA_G" "$G/open_clip_model.safetensors"
if [ -e "$R/blobs/$SHA_G.incomplete" ]; then bad ".incomplete left behind"; else ok; fi
# a server that ignores Range: the download starts over and is still right
export HF_HUB_CACHE="$tmp/c4"
R="$tmp/c4/models--org--tiny"
mode cut
expect 1 "$OCLIP" pull hf-hub:org/tiny
mode norange
expect 0 "$OCLIP" pull hf-hub:org/tiny
same "$R/blobs/$SHA_G" "$G/open_clip_model.safetensors"

# hostile servers: a resume answered from the wrong offset; more bytes than announced
export HF_HUB_CACHE="$tmp/c4b"
mode cut
expect 1 "$OCLIP" pull hf-hub:org/tiny
mode badrange
expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "answered a resume from byte"
mode long
expect 1 "$OCLIP" pull hf-hub:org/tiny2
contains "$tmp/err" "more than the $SIZE bytes announced"
if [ -e "$tmp/c4b/models--org--tiny2/blobs/$SHA_G" ]; then bad "oversized blob kept"; else ok; fi

# ---- a corrupted download is refused, and nothing of it is kept
export HF_HUB_CACHE="$tmp/c5"
R="$tmp/c5/models--org--tiny"
mode corrupt
expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "SHA-256 mismatch"
if [ -e "$R/blobs/$SHA_G" ] || [ -e "$R/blobs/$SHA_G.incomplete" ]; then
    bad "corrupt bytes kept"; else ok; fi
mode normal
expect 0 "$OCLIP" pull hf-hub:org/tiny

# a CDN on the hub's own host (a relative Location on the LFS redirect)
export HF_HUB_CACHE="$tmp/c5b"
mode relcdn
expect 0 "$OCLIP" pull hf-hub:org/tiny
same "$tmp/c5b/models--org--tiny/blobs/$SHA_G" "$G/open_clip_model.safetensors"
log_has "^GET /cdn/$SHA_G"

# ---- errors: gated (401), missing files (404 with the list), missing repo
mode normal
expect 1 "$OCLIP" pull hf-hub:org/gated
contains "$tmp/err" "GatedRepo"
contains "$tmp/err" "HF_TOKEN"
contains "$tmp/err" "$HF_ENDPOINT/org/gated"
HF_TOKEN=wrong expect 1 "$OCLIP" pull hf-hub:org/gated
contains "$tmp/err" "token in HF_TOKEN was not accepted"
HF_TOKEN=hf_mocktoken expect 0 "$OCLIP" pull hf-hub:org/gated
expect 1 "$OCLIP" pull hf-hub:org/nofiles
contains "$tmp/err" "the repository has: README.md, weights.npz"
expect 1 "$OCLIP" pull hf-hub:org/nosuchrepo
contains "$tmp/err" "RepoNotFound"
expect 1 "$OCLIP" pull hf-hub:org/../x
contains "$tmp/err" "not a valid hf-hub"

# ---- the .bin when there is no safetensors; HF-transformers-only repos; a renamed repo
expect 0 "$OCLIP" pull hf-hub:org/tiny-bin
contains "$tmp/out" "open_clip_pytorch_model.bin\$"
expect 0 "$OCLIP" embed-image --threads 1 -m hf-hub:org/tiny-bin "$IMG" -o "$tmp/t1.npy"
expect 0 "$OCLIP" embed-image --threads 1 -m "$B/open_clip_pytorch_model.bin" "$IMG" -o "$tmp/t2.npy"
same "$tmp/t1.npy" "$tmp/t2.npy"
expect 0 "$OCLIP" pull hf-hub:org/hfonly
contains "$tmp/out" "/model.safetensors\$"
contains "$tmp/err" "HF-transformers"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 -m hf-hub:org/hfonly "$IMG" -o "$tmp/t3.npy"
expect 0 "$OCLIP" embed-image --threads 1 -m "$B/hf" "$IMG" -o "$tmp/t4.npy"
same "$tmp/t3.npy" "$tmp/t4.npy"
mode normal
expect 0 "$OCLIP" pull hf-hub:org/tiny-old
log_has "^HEAD /org/tiny-new/resolve/main/open_clip_model.safetensors"

# ---- offline: clear errors naming the file and the command
export HF_HUB_CACHE="$tmp/c6"
mode normal
HF_HUB_OFFLINE=1 expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "oclip pull hf-hub:org/tiny"
contains "$tmp/err" "HF_HUB_OFFLINE"
HF_HUB_OFFLINE=1 expect 1 "$OCLIP" embed-image --threads 1 -m ViT-B-32:laion2b_s34b_b79k \
    --pixels "$tmp/pixels.npy" -o "$tmp/x.npy"
contains "$tmp/err" "open_clip_model.safetensors"
contains "$tmp/err" "oclip pull ViT-B-32:laion2b_s34b_b79k"
expect 1 "$OCLIP" pull --offline hf-hub:org/tiny
log_lacks "resolve"
# no network at all: an unreachable endpoint fails clearly, or answers from the cache
HF_ENDPOINT=http://127.0.0.1:9 expect 1 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "cannot reach"
expect 0 "$OCLIP" pull --quiet hf-hub:org/tiny
HF_ENDPOINT=http://127.0.0.1:9 expect 0 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "could not be reached"

# ---- the automatic pull of commands that take -m
export HF_HUB_CACHE="$tmp/c7"
mode normal
expect 0 "$OCLIP" embed-image --threads 1 -m hf-hub:org/tiny2 --pixels "$tmp/pixels.npy" \
    -o "$tmp/img2.npy"
same "$tmp/img2.npy" "$tmp/want_img.npy"
log_has "^GET /cdn/$SHA_G"
contains "$tmp/err" "downloading it"
mode normal
HF_HUB_OFFLINE=1 expect 1 "$OCLIP" embed-image --threads 1 -m hf-hub:org/tiny-bin \
    --pixels "$tmp/pixels.npy" -o "$tmp/img3.npy"
log_lacks "resolve"

# ---- a model family oclip does not run is refused before anything is downloaded: for ARCH:TAG
# the built-in config says so offline (the hub sees no request at all; every pretrained tag runs,
# so its architecture is overridden by one oclip refuses: an HF-text CoCa), for hf-hub: the
# repository's open_clip_config.json (fetched first; no weights)
export HF_HUB_CACHE="$tmp/c10"
for spec in coca_ViT-L-14:mscoco_finetuned_laion2b_s13b_b90k \
    coca_ViT-B-32:laion2b_s13b_b90k; do
    mode normal
    expect 1 "$OCLIP" embed-image --threads 1 -m "$spec" --arch coca_roberta-ViT-B-32 \
        --pixels "$tmp/pixels.npy" -o "$tmp/x.npy"
    contains "$tmp/err" "^oclip: $spec: .*oclip does not run this model yet, so nothing was downloaded"
    if [ -s "$tmp/state/log" ]; then bad "$spec: requests before the refusal: $(cat "$tmp/state/log")"
    else ok; fi
done
contains "$tmp/err" "CoCa with a Hugging Face text tower"
mode normal
expect 1 "$OCLIP" classify -m hf-hub:org/timm-resnet "$IMG" --labels a,b
contains "$tmp/err" "hf-hub:org/timm-resnet: timm image tower other than the SigLIP ViTs"
log_has "^HEAD /org/timm-resnet/resolve/main/open_clip_config.json"
log_lacks "open_clip_model.safetensors"
log_lacks "^GET /cdn/"
if [ -e "$tmp/c10/models--timm--resnet50_clip.openai" ]; then bad "a cache entry for RN50"; else ok; fi
# the architecture the options give is what counts: ViT-B-32's built-in is run, so a tag of
# that shape downloads as usual
mode normal
expect 0 "$OCLIP" embed-image --threads 1 -m hf-hub:org/tiny --config "$G/open_clip_config.json" \
    --pixels "$tmp/pixels.npy" -o "$tmp/x.npy"
log_has "^GET /cdn/$SHA_G"

# ---- a cache written by Python's huggingface_hub (tests/fixtures/hub/make_pycache.py) is read
mode normal
HF_HUB_CACHE=tests/fixtures/hub/pycache HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 \
    -m hf-hub:org/tiny --pixels "$tmp/pixels.npy" -o "$tmp/img_py.npy"
same "$tmp/img_py.npy" "$tmp/want_img.npy"
HF_HUB_CACHE=tests/fixtures/hub/pycache HF_HUB_OFFLINE=1 expect 0 "$OCLIP" embed-image --threads 1 \
    -m ViT-B-32:laion2b_s34b_b79k --pixels "$tmp/pixels.npy" -o "$tmp/img_py2.npy"
same "$tmp/img_py2.npy" "$tmp/want_img.npy"
# and oclip pull into a copy of it finds everything there (no download)
cp -R tests/fixtures/hub/pycache "$tmp/c8"
HF_HUB_CACHE="$tmp/c8" expect 0 "$OCLIP" pull hf-hub:org/tiny
contains "$tmp/err" "0 downloaded"

# ---- two pulls at once into one cache: one downloads, the other waits for it
export HF_HUB_CACHE="$tmp/c9"
"$OCLIP" pull --quiet hf-hub:org/tiny >"$tmp/p1" 2>&1 &
P1=$!
"$OCLIP" pull --quiet hf-hub:org/tiny >"$tmp/p2" 2>&1
r2=$?
wait $P1
r1=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ]; then ok; else bad "concurrent pulls: $r1 $r2 $(cat "$tmp/p1" "$tmp/p2")"; fi
same "$tmp/c9/models--org--tiny/blobs/$SHA_G" "$G/open_clip_model.safetensors"

# ---- SigLIP: the tokenizer files of text_cfg.hf_tokenizer_name come with the model, into that
# repo's cache folder, so that the tokenizer is found offline afterwards
tok_cat() { # the ids OpenCLIP gives "a photo of a cat" with this fixture
    python3 -c 'import json, sys; e = json.load(open(sys.argv[1])); print(json.dumps(e["tokens"][e["prompts"].index("a photo of a cat")], separators=(",", ":")))' "$S/expected.json"
}
tok_cat >"$tmp/want_tok"
export HF_HUB_CACHE="$tmp/c10"
mode normal
expect 0 "$OCLIP" pull hf-hub:oclip-test/siglip_b16
R="$tmp/c10/models--oclip-test--siglip_b16"
for f in tokenizer.json tokenizer_config.json special_tokens_map.json; do
    same "$R/snapshots/$(cat "$R/refs/main")/$f" "$S/$f"
done
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" tokenize -m hf-hub:oclip-test/siglip_b16 "a photo of a cat"
same "$tmp/out" "$tmp/want_tok"
# a tokenizer in another repo
expect 0 "$OCLIP" pull hf-hub:org/siglip-shared
R="$tmp/c10/models--org--tok-only"
same "$R/snapshots/$(cat "$R/refs/main")/tokenizer.json" "$S/tokenizer.json"
HF_HUB_OFFLINE=1 expect 0 "$OCLIP" tokenize -m hf-hub:org/siglip-shared "a photo of a cat"
same "$tmp/out" "$tmp/want_tok"
# a tokenizer repo without tokenizer.json: the pull fails and says which file is missing where
expect 1 "$OCLIP" pull hf-hub:org/siglip-notok
contains "$tmp/err" "tokenizer (text_cfg.hf_tokenizer_name).*org/nofiles@main has none of tokenizer.json"
# the automatic download of -m fetches the tokenizer too
export HF_HUB_CACHE="$tmp/c11"
"$OCLIP" embed-text -m "$S" "a photo of a cat" -o "$tmp/want_txt.npy" || bad "embed-text from the folder"
expect 0 "$OCLIP" embed-text -m hf-hub:oclip-test/siglip_b16 "a photo of a cat" -o "$tmp/txt.npy"
same "$tmp/txt.npy" "$tmp/want_txt.npy"

pull_finish
