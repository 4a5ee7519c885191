#!/bin/sh
# cli_docs.sh — the help texts and README say what the program does: convert's --to hf example
# writes a folder, check's help and README describe the lines an OK check prints, README's
# working examples name no model family oclip refuses (SigLIP), and every repository file that
# README.md, docs/*.md and the help texts name exists. POSIX sh.
NAME=cli_docs.sh
. tests/lib_cli.sh

# convert --help: an --to hf OUT is a folder (a name without '/' that ends in .safetensors would
# become a folder called model.safetensors)
expect 0 "$OCLIP" convert --help
grep -- "--to hf" "$tmp/out" | grep "^  oclip convert" >"$tmp/hf"
if [ -s "$tmp/hf" ]; then ok; else bad "convert --help has no --to hf example"; fi
if grep -q "\.safetensors --to hf" "$tmp/hf"; then bad "convert --help: $(cat "$tmp/hf")"; else ok; fi

# check: what an OK check prints, and that the help and README say so
expect 0 "$OCLIP" check default
n=$(wc -l <"$tmp/out")
contains "$tmp/out" "^OK: "
contains "$tmp/out" "^activation: "
contains "$tmp/out" "^preprocess: "
if [ "$n" = 3 ]; then ok; else bad "check default printed $n lines"; fi
expect 0 "$OCLIP" check --help
if grep -q "one OK line" "$tmp/out"; then bad "check --help says 'one OK line'"; else ok; fi
contains "$tmp/out" "activation and preprocessing"
if grep -q "one \`OK:\` line" README.md; then bad "README says one OK: line"; else ok; fi
contains README.md "\`activation:\` and \`preprocess:\`"

# the -m help says that pretrained names are downloaded when missing
expect 0 "$OCLIP" classify --help
contains "$tmp/out" "downloaded when missing"

# README's real-weights examples name models oclip runs: SigLIP's among them (issue 20)
contains README.md "oclip classify -m hf-hub:timm/ViT-B-16-SigLIP "

# repository paths named in README.md, docs/*.md and the help texts exist (build outputs, URLs
# and paths with <placeholders> excluded; a glob needs one match)
for c in inspect check convert tokenize preprocess embed-image embed-text similarity classify pull list embed-dir search serve info; do
    "$OCLIP" "$c" --help
done >"$tmp/help" 2>&1
grep -ohE "(^|[^A-Za-z0-9_./~-])(docs|tests|tools|examples|models|data|src|include|cli|scripts|bench|fuzz)/[A-Za-z0-9_./*<>-]*[A-Za-z0-9_*>]" \
    README.md docs/*.md "$tmp/help" | sed 's/^[^a-z]//' | sort -u >"$tmp/paths"
missing=
while read -r p; do
    case $p in *'<'*) continue ;; esac
    # shellcheck disable=SC2086 # a glob: one match is enough
    set -- $p
    [ -e "$1" ] || missing="$missing $p"
done <"$tmp/paths"
if [ -z "$missing" ]; then ok; else bad "named but not in the repository:$missing"; fi
if [ "$(wc -l <"$tmp/paths")" -gt 20 ]; then ok; else bad "only $(wc -l <"$tmp/paths") paths found"; fi

echo "cli_docs.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
