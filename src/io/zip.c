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
 * Every offset and size is checked against the buffer before use. Names must be unique (a second
 * data.pkl would be read by one reader and not by another: PyTorch's reader takes the last) and
 * valid UTF-8 (torch sets the zip's UTF-8 flag, bit 11, on every entry it writes).
 */
#include <pthread.h>
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
    if (!find_eocd(b, size, &eocd)) {
        oc_err_set(err, OCLIP_E_FORMAT, "zip: no end-of-central-directory record (the end of "
                   "the archive is missing)");
        oc_err_hint(err, OC_HINT_TRUNCATED);
        return OCLIP_E_FORMAT;
    }
    uint64_t count = oc_rd16(b + eocd + 10);
    uint64_t cd_size = oc_rd32(b + eocd + 12);
    uint64_t cd_off = oc_rd32(b + eocd + 16);

    /* zip64: the locator sits right before the EOCD */
    if (eocd >= 20 && oc_rd32(b + eocd - 20) == SIG_Z64_LOC) {
        uint64_t z64 = oc_rd64(b + eocd - 20 + 8);
        if (z64 > size || size - z64 < 56 || oc_rd32(b + z64) != SIG_Z64_EOCD) {
            oc_err_set(err, OCLIP_E_FORMAT, "zip64: end-of-central-directory locator points "
                       "outside the file (offset %llu, file %zu bytes)", (unsigned long long)z64,
                       size);
            oc_err_hint(err, OC_HINT_TRUNCATED);
            return OCLIP_E_FORMAT;
        }
        count = oc_rd64(b + z64 + 32);
        cd_size = oc_rd64(b + z64 + 40);
        cd_off = oc_rd64(b + z64 + 48);
    }
    if (cd_off > size || cd_size > size - cd_off) {
        oc_err_set(err, OCLIP_E_FORMAT, "zip: central directory [%llu, +%llu) outside the file "
                   "(%zu bytes)", (unsigned long long)cd_off, (unsigned long long)cd_size, size);
        oc_err_hint(err, OC_HINT_TRUNCATED);
        return OCLIP_E_FORMAT;
    }
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
        e->crc = oc_rd32(p + 16);
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
        size_t bad = oc_utf8_check(p + 46, nl);
        if (bad != SIZE_MAX) {
            oc_escbuf nb;
            oc_err_set(err, OCLIP_E_FORMAT, "zip: the name of entry %llu ('%s') is not valid "
                       "UTF-8 (byte %zu of it)", (unsigned long long)i,
                       oc_esc(nb.s, sizeof nb.s, e->name, nl), bad);
            oc_zip_close(z);
            return OCLIP_E_FORMAT;
        }
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
                        oc_escbuf nb;
                        oc_err_set(err, OCLIP_E_FORMAT, "zip: entry '%s': short zip64 extra field",
                                   oc_esc(nb.s, sizeof nb.s, (const char *)p + 46, nl));
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
    /* Sorted, equal names are neighbours. PyTorch's reader (miniz) finds the last of them,
     * Python's zipfile too; a reader that took the first would see another checkpoint. */
    for (size_t i = 1; i < z->n; i++) {
        if (cmp_ctx_entries_fn(z, z->sorted[i - 1], z->sorted[i]) == 0) {
            const oc_zip_entry *e = &z->entries[z->sorted[i]];
            oc_escbuf nb;
            oc_err_set(err, OCLIP_E_FORMAT, "zip: entry '%s' appears twice in the central "
                       "directory (which one counts depends on the reader)",
                       oc_esc(nb.s, sizeof nb.s, e->name, e->name_len));
            oc_zip_close(z);
            return OCLIP_E_FORMAT;
        }
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
    oc_escbuf nb;
    const char *name = oc_esc(nb.s, sizeof nb.s, e->name, e->name_len);
    if (e->method != 0)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "zip entry '%s' is compressed (method %u); torch archives store "
                          "entries uncompressed", name, e->method);
    if (e->csize != e->usize)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip entry '%s': stored sizes differ (%llu vs %llu)", name,
                          (unsigned long long)e->csize, (unsigned long long)e->usize);
    uint64_t lo = e->local_offset;
    if (lo > z->size || z->size - lo < 30 || oc_rd32(z->base + lo) != SIG_LOCAL)
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "zip entry '%s': no local header at offset %llu", name,
                          (unsigned long long)lo);
    uint64_t start = lo + 30 + oc_rd16(z->base + lo + 26) + oc_rd16(z->base + lo + 28);
    if (start > z->size || e->csize > z->size - start) {
        oc_err_set(err, OCLIP_E_FORMAT, "zip entry '%s': data [%llu, +%llu) beyond the end of "
                   "the file (%zu bytes)", name, (unsigned long long)start,
                   (unsigned long long)e->csize, z->size);
        oc_err_hint(err, OC_HINT_TRUNCATED);
        return OCLIP_E_FORMAT;
    }
    *data = z->base + start;
    *size = e->csize;
    return OCLIP_OK;
}

/* =============================================================================================
 * CRC-32 (ISO-HDLC, zlib's crc32), slicing by 8: eight table lookups per 8 bytes.
 */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (uint32_t i = 0; i < 256; i++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

uint32_t oc_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = oc_rd32(p) ^ c, hi = oc_rd32(p + 4);
        c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
            crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
            crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
    }
    while (n--) c = crc_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

oclip_status oc_zip_check_crc(const oc_zip_entry *e, const uint8_t *data, uint64_t size,
                              oclip_error *err) {
    if (e->crc == 0) return OCLIP_OK; /* not computed by the writer (see zip.h) */
    uint32_t got = oc_crc32(0, data, (size_t)size);
    if (got == e->crc) return OCLIP_OK;
    oc_escbuf nb;
    oc_err_set(err, OCLIP_E_FORMAT, "zip entry '%s': CRC-32 mismatch (the directory says "
               "%08x, the bytes give %08x): the file was damaged or edited after it was saved",
               oc_esc(nb.s, sizeof nb.s, e->name, e->name_len), (unsigned)e->crc, (unsigned)got);
    oc_err_hint(err, "download or copy the file again; PyTorch does not check CRCs and may load "
                     "it, but its contents are not what was saved");
    return OCLIP_E_FORMAT;
}
