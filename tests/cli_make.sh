#!/bin/sh
# cli_make.sh — a first run before `make deps`: pkg-config finds none of the libraries
# (PKG_CONFIG_PATH an empty folder, PKG_CONFIG_LIBDIR empty). `make help` and `make -n deps`
# print no pkg-config error; a build stops once, naming the missing packages and `make deps`.
NAME=cli_make.sh
. tests/lib_cli.sh
mkdir "$tmp/pc"
nopc() { MAKEFLAGS= MAKELEVEL= PKG_CONFIG_PATH="$tmp/pc" PKG_CONFIG_LIBDIR= "$@"; }

expect 0 nopc make -f Makefile help
contains "$tmp/out" "^deps"
if [ -s "$tmp/err" ]; then bad "make help printed: $(head -c 300 "$tmp/err")"; else ok; fi
expect 0 nopc make -f Makefile -n deps
contains "$tmp/out" "scripts/deps.sh"
if [ -s "$tmp/err" ]; then bad "make -n deps printed: $(head -c 300 "$tmp/err")"; else ok; fi
# -n: the recipes are expanded (the pkg-config flags with them), nothing is run
expect 2 nopc make -f Makefile -n B="$tmp/b" all
contains "$tmp/err" "does not find libcjson .*libcurl: run 'make deps' first"
if grep -q "was not found" "$tmp/err"; then bad "pkg-config's own errors: $(head -c 300 "$tmp/err")"; else ok; fi
if [ "$(grep -c "make deps" "$tmp/err")" = 1 ]; then ok; else bad "not said once: $(cat "$tmp/err")"; fi
# with the packages there, the flags are found
if pkg-config --exists libcjson 2>/dev/null; then
    expect 0 env MAKEFLAGS= MAKELEVEL= make -f Makefile -n B="$tmp/b" "$tmp/b/obj/util.o"
    contains "$tmp/out" "$(pkg-config --cflags libcjson)"
fi

echo "cli_make.sh: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
