# lib_cli.sh — the harness the tests/cli*.sh scripts share; sourced after setting NAME.
#   expect CODE CMD...   run CMD (stdout -> $tmp/out, stderr -> $tmp/err), check its exit status
#   contains FILE RE     FILE has a line matching the grep pattern RE
#   same A B             files A and B are identical
#   ok / bad MSG         count a pass / a failure
# Scripts end with: finish
set -u
OCLIP=${OCLIP_BIN:-build/oclip}
fail=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "$NAME: FAIL: $*" >&2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# classify's class-embedding cache: a fresh one per script, never the user's
OCLIP_CACHE_DIR="$tmp/cache"
export OCLIP_CACHE_DIR

expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -eq "$want" ]; then ok; else bad "exit $got (want $want): $*"; cat "$tmp/err" >&2; fi
}
contains() { if grep -q -- "$2" "$1"; then ok; else bad "'$2' not in $1: $(head -c 300 "$1")"; fi; }
same() { if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi; }
