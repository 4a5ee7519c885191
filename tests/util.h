/*
 * util.h — helpers for the test programs: SHA-256 to compare tensor bytes with the digests the
 * fixture generator computed in PyTorch, and whole-file reading.
 */
#ifndef OCLIP_TEST_UTIL_H
#define OCLIP_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/sha256.h"

/* SHA-256 of n bytes as 64 lowercase hex digits and a NUL in hex[65]: the library's streaming
 * SHA-256 (src/hub/sha256.c), which test_spec checks against FIPS 180-4's test vectors and the fixture
 * digests (computed by Python's hashlib) check on every tensor. */
static inline void sha256_hex(const void *data, size_t n, char hex[65]) {
    oc_sha256 c;
    oc_sha256_init(&c);
    oc_sha256_update(&c, data, n);
    oc_sha256_hex(&c, hex);
}

/* Reads a whole file into a malloc'd buffer (NUL-terminated for text use); NULL on failure. */
static inline unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t k = fread(buf + n, 1, 65536, f);
        n += k;
        if (k < 65536) break;
    }
    fclose(f);
    buf[n] = '\0';
    *size = n;
    return buf;
}

#endif
