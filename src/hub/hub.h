/*
 * hub.h — internals of hub.c shared with tests: a streaming SHA-256 and the helpers that turn
 * Hugging Face response headers into cache names. Not installed.
 */
#ifndef OCLIP_HUB_H
#define OCLIP_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oclip.h"

/* FIPS 180-4 SHA-256, streaming. */
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

/* An ETag header value as huggingface_hub normalises it (file_download._normalize_etag: a
 * leading "W/" and the quotes dropped) into out[size]; false when the result is empty, too long,
 * or holds anything but letters, digits, '-' and '_' (it becomes a file name in blobs/). */
bool oc_hub_etag(const char *value, char *out, size_t size);

/* True for 64 hex digits (an LFS file's SHA-256, as X-Linked-Etag carries it). */
bool oc_hub_is_sha256(const char *s);

/* True when the environment variable holds one of huggingface_hub's true values
 * ("1", "ON", "YES", "TRUE", any case). */
bool oc_env_true(const char *name);

/* spec.c: a name that may become one path component (letters, digits, '-', '_', '.'; 1..max
 * bytes; no "..", no leading '.'). */
bool oc_spec_name_ok(const char *s, size_t n, size_t max);

/* spec.c: a pretrained tag's hf_hub ("org/repo/" or "org/repo/file"; the file is after the last
 * '/') split into checked parts, with the files OpenCLIP tries in order (pretrained.py
 * _get_safe_alternatives: the .safetensors sibling of a .bin/.pth first, then the file itself).
 * OCLIP_E_FORMAT when hf_hub is malformed. */
typedef struct {
    char org[128], name[128], file[256], alt[256];
    const char *names[2]; /* point into file / alt or at a constant */
    int n;                /* 1 or 2 */
} oc_tag_files;

oclip_status oc_tag_hf_files(const oclip_pretrained *pt, oc_tag_files *t, oclip_error *err);

#endif
