# oclip — plain GNU make. `make help` lists the targets.

PREFIX   ?= /usr/local
CC       ?= cc
CLANG    ?= clang
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?=
PKGS     := libcjson libutf8proc libjpeg libpng libwebp libtiff-4
CPPFLAGS += -Iinclude -Isrc $(shell pkg-config --cflags $(PKGS))
LIBS     := $(shell pkg-config --libs $(PKGS)) -lgif -lpthread -lm
BASE     := -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC $(OPT) $(WARN)

B        ?= build
SRCS     := $(wildcard src/*.c)
OBJS     := $(SRCS:src/%.c=$(B)/obj/%.o)
TESTS    := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
FUZZERS  := $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/fuzz_*.c))
VERSION  := $(shell sed -n 's/^\#define OCLIP_VERSION_STRING "\(.*\)"/\1/p' include/oclip.h)

.PHONY: all lib cli test test-asan test-full fuzz fuzz-build bench install deps clean help

all: lib cli ## build liboclip.a, liboclip.so and the oclip program

lib: $(B)/liboclip.a $(B)/liboclip.so
cli: $(B)/oclip

$(B)/obj/%.o: src/%.c $(wildcard src/*.h) include/oclip.h
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -c $< -o $@

$(B)/liboclip.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/liboclip.so: $(OBJS)
	$(CC) -shared $(BASE) $(CFLAGS) -Wl,-soname,liboclip.so.0 -o $@ $^ $(LIBS)

CLI_SRCS := $(wildcard tools/*.c)
$(B)/oclip: $(CLI_SRCS) $(wildcard tools/*.h) $(B)/liboclip.a
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -Itools -o $@ $(CLI_SRCS) $(B)/liboclip.a $(LIBS)

$(B)/tests/%: tests/%.c tests/test.h $(wildcard tests/*.h) $(B)/liboclip.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(CFLAGS) $(CPPFLAGS) -Itests -o $@ $< $(B)/liboclip.a $(LIBS)

test: $(TESTS) $(B)/oclip ## run the test suite (no Python packages needed)
	@set -e; for t in $(TESTS); do echo "== $$t"; OCLIP_BIN=$(B)/oclip $$t; done
	@set -e; for c in tests/cli*.sh; do OCLIP_BIN=$(B)/oclip sh $$c; done
	@echo "all tests passed"

test-asan: ## the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" test

test-full: all ## larger checks against OpenCLIP; needs the venv (tools/setup_venv.sh)
	@sh tests/full.sh

fuzz-build: $(FUZZERS)
build-fuzz/%: fuzz/%.c $(SRCS) src/internal.h include/oclip.h
	@mkdir -p build-fuzz
	$(CLANG) -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
	    $(CPPFLAGS) -o $@ $< $(SRCS) $(LIBS)

FUZZ_SECONDS ?= 60
fuzz: $(FUZZERS) ## build the libFuzzer targets and run each for FUZZ_SECONDS
	@sh fuzz/run.sh $(FUZZ_SECONDS)

bench: all ## oclip vs PyTorch on the same files, same run (needs the venv)
	@sh bench/run

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
	rm -rf build build-asan build-fuzz

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
