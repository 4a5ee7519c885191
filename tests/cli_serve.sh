#!/bin/sh
# cli_serve.sh — `oclip serve` as HTTP clients use it: tests/serve_test.py (python3's standard
# library only) starts the server on a free loopback port and checks start-up time, embeddings
# and classification against the CLI's, concurrent = sequential results, every bad payload's
# 4xx, the 503s of a full queue and a timeout, and SIGTERM under load. Plus the command line.
# tests/serve_page_test.py: --index DIR (search, thumbnails, the page in headless Chromium).
NAME=cli_serve.sh
. tests/lib_cli.sh

expect 0 "$OCLIP" serve --help
contains "$tmp/out" "usage: oclip serve"
contains "$tmp/out" "/v1/embeddings"
contains "$tmp/out" "/v1/captions"
contains "$tmp/out" "--index DIR"
expect 2 "$OCLIP" serve --port 70000
contains "$tmp/err" "expected an integer from 0 to 65535"
expect 2 "$OCLIP" serve --max-btach 3
contains "$tmp/err" "did you mean '--max-batch'"
expect 2 "$OCLIP" serve -m a=default -m a=default
contains "$tmp/err" "two models are named 'a'"
expect 1 "$OCLIP" serve --port 0 -m tests/fixtures/no-such-model.safetensors
contains "$tmp/err" "no-such-model"

# the start-up limit (0.3 s) is for the plain build; sanitizer, valgrind and qemu runs are slower
case $OCLIP in
build/oclip | */build/oclip) ;;
*) SERVE_STARTUP_LIMIT=${SERVE_STARTUP_LIMIT:-30}; export SERVE_STARTUP_LIMIT
   # the browser check may be skipped there (no chromium in those images), never in `make test`
   SERVE_PAGE_BROWSER_OPTIONAL=${SERVE_PAGE_BROWSER_OPTIONAL:-1}; export SERVE_PAGE_BROWSER_OPTIONAL ;;
esac
if python3 tests/serve_test.py "$OCLIP" "$tmp"; then ok; else bad "tests/serve_test.py"; fi

expect 1 "$OCLIP" serve --port 0 --index "$tmp/no-such-index"
contains "$tmp/err" "--index: '.*no-such-index/manifest.json': No such file"
if python3 tests/serve_page_test.py "$OCLIP" "$tmp"; then ok; else bad "tests/serve_page_test.py"; fi

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
