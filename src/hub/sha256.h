/*
 * sha256.h — a streaming SHA-256 (FIPS 180-4, sha256.c): the hub client verifies LFS downloads
 * with it, and the tests compare tensor bytes with PyTorch's digests. Internal.
 */
#ifndef OCLIP_SHA256_H
#define OCLIP_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;     /* bytes hashed so far */
    uint8_t buf[64];
    size_t n;         /* bytes in buf */
} oc_sha256;

void oc_sha256_init(oc_sha256 *c);
void oc_sha256_update(oc_sha256 *c, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL into hex[65]. */
void oc_sha256_hex(oc_sha256 *c, char hex[65]);

#endif
