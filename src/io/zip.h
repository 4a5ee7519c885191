/*
 * zip.h — read-only view of a zip archive's central directory, over memory (zip.c).
 * Only what torch archives need: stored entries found by name, zero-copy.
 */
#ifndef OCLIP_ZIP_H
#define OCLIP_ZIP_H

#include "internal.h"

typedef struct {
    const char *name; /* points into the central directory: NOT NUL-terminated */
    size_t name_len;
    uint64_t local_offset; /* of the local file header */
    uint64_t csize, usize; /* compressed / uncompressed sizes from the central directory */
    uint16_t method;       /* 0 = stored */
} oc_zip_entry;

typedef struct {
    const uint8_t *base;
    size_t size;
    oc_zip_entry *entries; /* in central-directory order */
    size_t n;
    size_t *sorted; /* indexes into entries, sorted by name */
} oc_zip;

/* Parses the end-of-central-directory (zip64 too) and the central directory. */
oclip_status oc_zip_open(oc_zip *z, const uint8_t *base, size_t size, oclip_error *err);
void oc_zip_close(oc_zip *z);

/* The entry named exactly name[0..len), or NULL. O(log n). */
const oc_zip_entry *oc_zip_find(const oc_zip *z, const char *name, size_t len);

/* The bytes of a stored entry, after checking its local header and bounds. */
oclip_status oc_zip_data(const oc_zip *z, const oc_zip_entry *e, const uint8_t **data,
                         uint64_t *size, oclip_error *err);

#endif
