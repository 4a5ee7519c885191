# oclip — plain GNU make. `make help` lists the targets.

PREFIX   ?= /usr/local
CC       ?= cc
CLANG    ?= clang
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?=
PKGS     := libcjson libutf8proc libjpeg libpng libwebp libtiff-4
# libcurl: its headers only; src/hub/curl.c loads libcurl.so.4 on the first download (dlopen)
# pkg-config runs only when a recipe compiles or links (deferred `=`, then kept), quietly: `make
# deps` and `make help` work before the packages are there, and a build without them stops
# once with the missing packages and what to run.
PKG_MISSING = $(shell for p in $(PKGS) libarchive libmicrohttpd libcurl; do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
pkgconf  = $(if $(PKG_MISSING),$(error pkg-config does not find $(strip $(PKG_MISSING)): run 'make deps' first (it installs the packages the build needs)),$(shell pkg-config $(1) 2>/dev/null))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkgconf,--cflags $(PKGS) libcurl libarchive libmicrohttpd))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $(call pkgconf,--libs $(PKGS)))$(PKG_LIBS)
CPPFLAGS += -Iinclude -Isrc $(PKG_CFLAGS)
LIBS      = $(PKG_LIBS) -lgif -ldl -lpthread -lm
# the program's own libraries, never the library's: libarchive (embed-dir reads WebDataset tars)
# and libmicrohttpd (oclip serve: cli/serve_http.c)
CLI_LIBS = $(eval CLI_LIBS := $(call pkgconf,--libs libarchive libmicrohttpd))$(CLI_LIBS)
BASE     := -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(OPT) $(WARN)

B        ?= build
SRCS     := $(wildcard src/*.c src/*/*.c)
HDRS     := $(wildcard src/*.h src/*/*.h)
OBJS     := $(SRCS:src/%.c=$(B)/obj/%.o)
TESTS    := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
# fuzz targets: ASan + UBSan at -O1 by default; FUZZ_DIR=build-fuzz-ub FUZZ_SAN=undefined
# FUZZ_OPT=-O2 FUZZ_EXTRA=-fno-sanitize-coverage=trace-cmp builds the faster UBSan-only set for
# long campaigns (docs/SECURITY.md)
FUZZ_DIR ?= build-fuzz
FUZZ_SAN ?= address,undefined
FUZZ_OPT ?= -O1
FUZZ_EXTRA ?=
FUZZERS  := $(patsubst fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard fuzz/fuzz_*.c))
VERSION  := $(shell sed -n 's/^\#define OCLIP_VERSION_STRING "\(.*\)"/\1/p' include/oclip.h)

.PHONY: all lib cli check-abi test test-asan test-tsan test-valgrind test-full fuzz fuzz-build bench bench-build install deps clean help

all: lib cli ## build liboclip.a, liboclip.so and the oclip program

lib: $(B)/liboclip.a $(B)/liboclip.so
cli: $(B)/oclip

# liboclip exports only what include/oclip.h declares OCLIP_API (make check-abi)
$(B)/obj/%.o: src/%.c $(HDRS) include/oclip.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE) -fvisibility=hidden $(CFLAGS) $(CPPFLAGS) -c $< -o $@

# default_model.c embeds these two files (.incbin): rebuild it when they change
DEFAULT_MODEL ?= models/default
$(B)/obj/model/default_model.o: $(DEFAULT_MODEL)/open_clip_model.safetensors \
                          $(DEFAULT_MODEL)/open_clip_config.json
$(B)/obj/model/default_model.o: CPPFLAGS += -DOC_DEFAULT_MODEL_DIR='"$(DEFAULT_MODEL)"'

$(B)/liboclip.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/liboclip.so: $(OBJS)
	$(CC) -shared $(BASE) $(CFLAGS) -Wl,-soname,liboclip.so.0 -o $@ $^ $(LIBS)
	ln -sf liboclip.so $(B)/liboclip.so.0

CLI_SRCS := $(wildcard cli/*.c)
$(B)/oclip: $(CLI_SRCS) $(wildcard cli/*.h) $(B)/liboclip.a
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -Icli -o $@ $(CLI_SRCS) $(B)/liboclip.a $(CLI_LIBS) $(LIBS)

# the same program linked against liboclip.so: it links only if the CLI calls nothing but the
# public API
$(B)/oclip-shared: $(CLI_SRCS) $(wildcard cli/*.h) $(B)/liboclip.so
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -Icli -o $@ $(CLI_SRCS) $(B)/liboclip.so \
	    -Wl,-rpath,'$$ORIGIN' $(CLI_LIBS) $(LIBS)

# the functions liboclip.so exports, against the committed list (include/oclip.symbols: one
# name a line); a difference fails. After a deliberate change of the API:
#   nm -D --defined-only build/liboclip.so | awk '{print $$3}' | sort > include/oclip.symbols
check-abi: $(B)/liboclip.so $(B)/oclip-shared ## exported symbols = include/oclip.symbols; the CLI uses only them
	@nm -D --defined-only $(B)/liboclip.so | awk '{print $$3}' | sort | \
	    diff -u include/oclip.symbols - || \
	    { echo "check-abi: liboclip.so exports other symbols than include/oclip.symbols" >&2; exit 1; }
	@$(RUN) $(B)/oclip-shared --version >/dev/null
	@echo "check-abi: $$(wc -l <include/oclip.symbols) symbols, as listed; oclip links against liboclip.so"

$(B)/tests/%: tests/%.c tests/test.h $(wildcard tests/*.h) $(B)/liboclip.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(B)/liboclip.a $(LIBS) $(LDFLAGS_EXTRA)

# fault injection (tests/test_faults.c): liboclip's allocation and I/O calls go through its wrappers
$(B)/tests/test_faults: LDFLAGS_EXTRA = \
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=open,--wrap=fstat \
    -Wl,--wrap=mmap,--wrap=fopen,--wrap=fread,--wrap=fdopen

# RUN: a prefix for the test programs, TEST_OCLIP: the program the tests run as oclip
# (scripts/test-arm64.sh: qemu-aarch64 and a wrapper that runs build-arm64/oclip under it)
RUN ?=
TEST_OCLIP ?= $(B)/oclip
test: $(TESTS) $(B)/oclip check-abi ## run the test suite (no Python packages needed)
	@set -e; for t in $(TESTS); do echo "== $$t"; OCLIP_BIN=$(TEST_OCLIP) $(RUN) $$t; done
	@set -e; for c in tests/cli*.sh; do OCLIP_BIN=$(TEST_OCLIP) sh $$c; done
	@echo "all tests passed"

.PHONY: test-arm64
test-arm64: ## cross-build for AArch64 (build-arm64) and run the suite under qemu-user
	@bash scripts/test-arm64.sh

test-asan: ## the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" test

# ThreadSanitizer: the thread pool and the threaded kernels (test_kernels), the threaded forward
# pass (test_engine: 1-3 threads and one handle shared by three callers; test_e2e; test_report_json:
# oclip_model_set_threads while three threads encode) and the CLI's
# --threads 2/3 runs (tests/cli_embed.sh): ~2.5 min, in CI.
# TSAN_TESTS="test_engine test_e2e test_tokenizer test_preprocess test_config" adds the
# first-use initialisers raced from several threads (~5 min on 2 cores).
TSAN_TESTS ?= test_kernels test_engine test_e2e test_report_json
test-tsan: ## the threaded tests under ThreadSanitizer (build-tsan)
	$(MAKE) B=build-tsan OPT="-O1 -g -fsanitize=thread" $(TSAN_TESTS:%=build-tsan/tests/%) build-tsan/oclip
	@set -e; for t in $(TSAN_TESTS); do echo "== tsan $$t"; \
	    TSAN_OPTIONS="halt_on_error=1 $${TSAN_OPTIONS:-}" OCLIP_BIN=build-tsan/oclip build-tsan/tests/$$t; done
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66 $${TSAN_OPTIONS:-}" OCLIP_BIN=build-tsan/oclip sh tests/cli_embed.sh
	@echo "tsan: all passed"

# valgrind memcheck over the CLI tests (slow: not in CI); tests/valgrind_wrap.sh exits 99 on errors.
# VALGRIND_SCRIPTS="tests/cli_pull.sh" runs a subset.
VALGRIND_SCRIPTS ?= $(wildcard tests/cli*.sh)
test-valgrind: ## the CLI tests with oclip under valgrind (build-valgrind)
	$(MAKE) B=build-valgrind OPT="-O1 -g" build-valgrind/oclip
	@set -e; for c in $(VALGRIND_SCRIPTS); do echo "== valgrind $$c"; \
	    OCLIP_REAL=$(CURDIR)/build-valgrind/oclip OCLIP_BIN=tests/valgrind_wrap.sh sh $$c; done
	@echo "valgrind: all passed"

test-full: all ## larger checks against OpenCLIP; needs the venv (tools/setup_venv.sh)
	@sh tests/full.sh

fuzz-build: $(FUZZERS)
$(FUZZ_DIR)/%: fuzz/%.c $(SRCS) $(HDRS) include/oclip.h $(wildcard fuzz/*.h)
	@mkdir -p $(FUZZ_DIR)
	$(CLANG) -std=c11 -D_POSIX_C_SOURCE=200809L -g $(FUZZ_OPT) -fsanitize=fuzzer,$(FUZZ_SAN) $(FUZZ_EXTRA) \
	    $(CPPFLAGS) -o $@ $< $(SRCS) $(LIBS)

# fuzz_serve compiles the server's request code from cli/ (fuzz/fuzz_serve.c includes it)
$(FUZZ_DIR)/fuzz_serve: $(wildcard cli/serve*.c cli/serve.h cli/text.c cli/text.h)

FUZZ_SECONDS ?= 60
fuzz: $(FUZZERS) ## build the libFuzzer targets and run each for FUZZ_SECONDS
	@FUZZ_DIR=$(FUZZ_DIR) sh fuzz/run.sh $(FUZZ_SECONDS)

bench: all bench-build ## oclip vs PyTorch/ONNX Runtime/OpenBLAS, same run (needs the venv)
	@OCLIP_BUILD=$(B) sh bench/run

bench-build: $(B)/oclip_bench $(B)/peak ## the benchmark harnesses (bench/; needs libopenblas-dev)
$(B)/oclip_bench: bench/oclip_bench.c $(HDRS) include/oclip.h $(B)/liboclip.a
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(B)/liboclip.a -lopenblas $(LIBS)
$(B)/peak: bench/peak.c
	$(CC) $(BASE) $(CFLAGS) -o $@ $< -lpthread

install: all ## install the library, header, pkg-config file and program under PREFIX
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(B)/liboclip.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/liboclip.so $(DESTDIR)$(PREFIX)/lib/liboclip.so.$(VERSION)
	ln -sf liboclip.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/liboclip.so.0
	ln -sf liboclip.so.0 $(DESTDIR)$(PREFIX)/lib/liboclip.so
	install -m 644 include/oclip.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(B)/oclip $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' oclip.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/oclip.pc

deps: ## install the Debian packages the build needs (idempotent)
	@bash scripts/deps.sh

clean:
	rm -rf build build-asan build-tsan build-valgrind build-fuzz build-fuzz-ub

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
