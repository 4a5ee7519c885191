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
    uint32_t crc;          /* CRC-32 from the central directory (0: not computed) */
    uint16_t method;       /* 0 = stored */
} oc_zip_entry;

typedef struct {
    const uint8_t *base;
    size_t size;
    oc_zip_entry *entries; /* in central-directory order */
    size_t n;
    size_t *sorted; /* indexes into entries, sorted by name */
} oc_zip;

/* Parses the end-of-central-directory (zip64 too) and the central directory; refuses duplicate
 * names and names that are not UTF-8. */
oclip_status oc_zip_open(oc_zip *z, const uint8_t *base, size_t size, oclip_error *err);
void oc_zip_close(oc_zip *z);

/* The entry named exactly name[0..len), or NULL. O(log n). */
const oc_zip_entry *oc_zip_find(const oc_zip *z, const char *name, size_t len);

/* The bytes of a stored entry, after checking its local header and bounds. */
oclip_status oc_zip_data(const oc_zip *z, const oc_zip_entry *e, const uint8_t **data,
                         uint64_t *size, oclip_error *err);

/* zlib's crc32(): crc32(0, p, n) of n bytes, continued from `crc`. */
uint32_t oc_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Checks data[0..size) (from oc_zip_data) against the entry's CRC-32. A CRC of 0 passes:
 * torch.save writes 0 for every entry when CRCs are turned off
 * (torch.serialization.set_crc32_options(False)), and a real CRC of 0 is 1 in 2^32. */
oclip_status oc_zip_check_crc(const oc_zip_entry *e, const uint8_t *data, uint64_t size,
                              oclip_error *err);

#endif
