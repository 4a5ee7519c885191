/*
 * fuzz_zip.c — libFuzzer target for the zip directory reader: oc_zip_open over the input, then
 * for every entry oc_zip_find(its name), oc_zip_data and oc_zip_check_crc, reading every byte
 * returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    oc_zip z;
    oclip_error err;
    oclip_status st = oc_zip_open(&z, data, size, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < z.n; i++) {
        const oc_zip_entry *e = &z.entries[i];
        /* names point into the directory, which lies inside the input */
        if (e->name_len &&
            ((const uint8_t *)e->name < data || (const uint8_t *)e->name + e->name_len > data + size))
            abort();
        const oc_zip_entry *f = oc_zip_find(&z, e->name, e->name_len);
        if (!f || f->name_len != e->name_len || memcmp(f->name, e->name, e->name_len) != 0)
            abort();
        const uint8_t *p = NULL;
        uint64_t n = 0;
        st = oc_zip_data(&z, f, &p, &n, &err);
        if (st != OCLIP_OK) {
            if (err.code != st || err.msg[0] == '\0') abort();
            continue;
        }
        if (n && (p < data || n > (uint64_t)(data + size - p))) abort();
        st = oc_zip_check_crc(f, p, n, &err);
        if (st != OCLIP_OK && (err.code != st || err.msg[0] == '\0')) abort();
        uint8_t acc = 0;
        for (uint64_t k = 0; k < n; k++) acc = (uint8_t)(acc + p[k]);
        sink = (uint8_t)(sink + acc);
    }
    (void)oc_zip_find(&z, "data.pkl", 8);
    (void)sink;
    oc_zip_close(&z);
    return 0;
}
