/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader (oc_st_read), aimed at the
 * JSON header validation.
 *
 * Input: when byte 8 is '{' (the sniffer's test) or the first 8 bytes are a little-endian length
 * that fits the rest of the input, the input is a safetensors file as is, whatever length it
 * declares (a length far beyond the input must reach the reader's own checks, not be fixed up
 * here). Otherwise the whole input is treated as header + data: the header runs up to and
 * including the last '}' (or to the end), and a length field for it is prepended, so mutations
 * of plain JSON text always reach the header checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_and_free(oclip_checkpoint *ck, const uint8_t *buf, size_t n) {
    oclip_error err;
    oclip_status st = oc_st_read(ck, buf, n, &err);
    if (st == OCLIP_OK) st = oc_ck_finish(ck, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
        oclip_checkpoint_free(ck);
        return;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const oclip_tensor *t = &ck->tensors[i];
        const uint8_t *p = t->data;
        /* zero-copy: every tensor must lie inside the buffer */
        if (t->nbytes && (p < buf || p > buf + n || t->nbytes > (uint64_t)(buf + n - p))) abort();
        if (oclip_checkpoint_find(ck, t->name) == NULL) abort();
        uint8_t acc = 0;
        for (uint64_t k = 0; k < t->nbytes; k++) acc = (uint8_t)(acc + p[k]);
        sink = (uint8_t)(sink + acc);
    }
    (void)sink;
    oclip_checkpoint_free(ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    oclip_limits lim = {0};
    lim.max_header_bytes = 1 << 20;
    oclip_checkpoint *ck = oc_ck_new("fuzz.safetensors", &lim);
    if (!ck) return 0;
    uint8_t *buf;
    size_t n;
    if ((size >= 9 && data[8] == '{') || (size >= 8 && oc_rd64(data) <= (uint64_t)(size - 8))) {
        /* a real length field: use the input as the file (copied, so that ASan sees its end) */
        n = size;
        buf = malloc(n);
        if (!buf) abort();
        memcpy(buf, data, n);
    } else {
        size_t hlen = size;
        for (size_t i = size; i-- > 0;)
            if (data[i] == '}') {
                hlen = i + 1;
                break;
            }
        n = 8 + size;
        buf = malloc(n);
        if (!buf) abort();
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
        if (size) memcpy(buf + 8, data, size);
    }
    check_and_free(ck, buf, n);
    free(buf);
    return 0;
}
