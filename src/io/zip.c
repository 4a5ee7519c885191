/*
 * zip.c — the zip container of torch.save (torch/serialization.py, caffe2/serialize/inline_container.cc), read over memory.
 *
 * Layout, from the end of the file backwards:
 *   EOCD (PK\5\6, 22 bytes + comment): entry count, central-directory size and offset;
 *   zip64 EOCD locator (PK\6\7, 20 bytes, right before the EOCD) -> zip64 EOCD record
 *   (PK\6\6) with 64-bit count/size/offset; torch always writes both.
 *   Central directory: one PK\1\2 record per entry (46 bytes + name + extra + comment) with the
 *   real sizes and the local header offset; 0xFFFFFFFF fields are continued in a zip64 extra
 *   field (tag 0x0001) in the order usize, csize, offset.
 *   Local header (PK\3\4, 30 bytes + name + extra): torch writes zero CRC/sizes there (data
 *   descriptor flag) and pads the extra field so data is 64-byte aligned, so sizes come from the
 *   central directory and the data offset from the local header's own name/extra lengths.
 * Every offset and size is checked against the buffer before use.
 */
#include <stdlib.h>
#include <string.h>

#include "io/zip.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_Z64_LOC 0x07064b50u
#define SIG_Z64_EOCD 0x06064b50u

/* Finds the classic EOCD: the last PK\5\6 whose comment length reaches exactly the file end. */
static bool find_eocd(const uint8_t *b, size_t size, size_t *pos) {
    if (size < 22) return false;
    size_t lowest = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t p = size - 22 + 1; p-- > lowest;) {
        if (oc_rd32(b + p) == SIG_EOCD && p + 22 + oc_rd16(b + p + 20) == size) {
            *pos = p;
            return true;
        }
    }
    return false;
}

static int cmp_ctx_entries_fn(const oc_zip *z, size_t a, size_t b) {
    const oc_zip_entry *x = &z->entries[a], *y = &z->entries[b];
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Bottom-up merge sort of the index array (qsort has no context argument in C11). */
static bool sort_entries(oc_zip *z) {
    size_t n = z->n;
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) return false;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_ctx_entries_fn(z, z->sorted[i], z->sorted[j]) <= 0 ? z->sorted[i++]
                                                                                   : z->sorted[j++];
            while (i < mid) tmp[k++] = z->sorted[i++];
            while (j < hi) tmp[k++] = z->sorted[j++];
        }
        memcpy(z->sorted, tmp, n * sizeof *tmp);
    }
    free(tmp);
    return true;
}

oclip_status oc_zip_open(oc_zip *z, const uint8_t *b, size_t size, oclip_error *err) {
    memset(z, 0, sizeof *z);
    z->base = b;
    z->size = size;
    size_t eocd;
    if (!find_eocd(b, size, &eocd))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip: no end-of-central-directory record (truncated file?)");
    uint64_t count = oc_rd16(b + eocd + 10);
    uint64_t cd_size = oc_rd32(b + eocd + 12);
    uint64_t cd_off = oc_rd32(b + eocd + 16);

    /* zip64: the locator sits right before the EOCD */
    if (eocd >= 20 && oc_rd32(b + eocd - 20) == SIG_Z64_LOC) {
        uint64_t z64 = oc_rd64(b + eocd - 20 + 8);
        if (z64 > size || size - z64 < 56 || oc_rd32(b + z64) != SIG_Z64_EOCD)
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "zip64: end-of-central-directory locator points outside the file "
                              "(offset %llu, file %zu bytes)", (unsigned long long)z64, size);
        count = oc_rd64(b + z64 + 32);
        cd_size = oc_rd64(b + z64 + 40);
        cd_off = oc_rd64(b + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip: central directory [%llu, +%llu) outside the file (%zu bytes)",
                          (unsigned long long)cd_off, (unsigned long long)cd_size, size);
    if (count > cd_size / 46)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip: %llu entries cannot fit a %llu-byte central directory",
                          (unsigned long long)count, (unsigned long long)cd_size);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    z->sorted = malloc((count ? count : 1) * sizeof *z->sorted);
    if (!z->entries || !z->sorted) {
        oc_zip_close(z);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    const uint8_t *p = b + cd_off, *end = b + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || oc_rd32(p) != SIG_CENTRAL) {
            oc_zip_close(z);
            return oc_err_set(err, OCLIP_E_FORMAT, "zip: central directory entry %llu is corrupt",
                              (unsigned long long)i);
        }
        oc_zip_entry *e = &z->entries[i];
        e->method = oc_rd16(p + 10);
        e->csize = oc_rd32(p + 20);
        e->usize = oc_rd32(p + 24);
        size_t nl = oc_rd16(p + 28), xl = oc_rd16(p + 30), cl = oc_rd16(p + 32);
        e->local_offset = oc_rd32(p + 42);
        if ((size_t)(end - p) - 46 < nl + xl + cl) {
            oc_zip_close(z);
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "zip: central directory entry %llu overruns the directory",
                              (unsigned long long)i);
        }
        e->name = (const char *)p + 46;
        e->name_len = nl;
        /* zip64 extended information: only the fields whose 32-bit value is saturated */
        const uint8_t *x = p + 46 + nl, *xend = x + xl;
        while (xend - x >= 4) {
            uint16_t tag = oc_rd16(x), len = oc_rd16(x + 2);
            if ((size_t)(xend - x) - 4 < len) break;
            if (tag == 0x0001) {
                const uint8_t *f = x + 4, *fend = x + 4 + len;
                uint64_t *fields[3] = {&e->usize, &e->csize, &e->local_offset};
                for (int k = 0; k < 3; k++) {
                    if (*fields[k] != 0xFFFFFFFFu) continue;
                    if (fend - f < 8) {
                        oc_err_set(err, OCLIP_E_FORMAT,
                                   "zip: entry '%.*s': short zip64 extra field", (int)nl,
                                   (const char *)p + 46);
                        oc_zip_close(z);
                        return OCLIP_E_FORMAT;
                    }
                    *fields[k] = oc_rd64(f);
                    f += 8;
                }
            }
            x += 4 + len;
        }
        z->sorted[i] = (size_t)i;
        p += 46 + nl + xl + cl;
    }
    z->n = (size_t)count;
    if (!sort_entries(z)) {
        oc_zip_close(z);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    return OCLIP_OK;
}

void oc_zip_close(oc_zip *z) {
    free(z->entries);
    free(z->sorted);
    memset(z, 0, sizeof *z);
}

const oc_zip_entry *oc_zip_find(const oc_zip *z, const char *name, size_t len) {
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const oc_zip_entry *e = &z->entries[z->sorted[mid]];
        size_t n = e->name_len < len ? e->name_len : len;
        int c = memcmp(e->name, name, n);
        if (!c) c = e->name_len < len ? -1 : e->name_len > len;
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

oclip_status oc_zip_data(const oc_zip *z, const oc_zip_entry *e, const uint8_t **data,
                         uint64_t *size, oclip_error *err) {
    int nl = (int)e->name_len;
    if (e->method != 0)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "zip entry '%.*s' is compressed (method %u); torch archives store "
                          "entries uncompressed", nl, e->name, e->method);
    if (e->csize != e->usize)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip entry '%.*s': stored sizes differ (%llu vs %llu)", nl, e->name,
                          (unsigned long long)e->csize, (unsigned long long)e->usize);
    uint64_t lo = e->local_offset;
    if (lo > z->size || z->size - lo < 30 || oc_rd32(z->base + lo) != SIG_LOCAL)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip entry '%.*s': no local header at offset %llu", nl, e->name,
                          (unsigned long long)lo);
    uint64_t start = lo + 30 + oc_rd16(z->base + lo + 26) + oc_rd16(z->base + lo + 28);
    if (start > z->size || e->csize > z->size - start)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip entry '%.*s': data [%llu, +%llu) beyond the end of the file "
                          "(%zu bytes; truncated download?)", nl, e->name,
                          (unsigned long long)start, (unsigned long long)e->csize, z->size);
    *data = z->base + start;
    *size = e->csize;
    return OCLIP_OK;
}
