/*
 * fuzz_checkpoint.c — libFuzzer target for the whole front end: oclip_checkpoint_open_memory
 * over arbitrary bytes (sniffing, torch zip, TorchScript, legacy, safetensors). When a file
 * loads, every tensor's bytes are read so that a pointer or size outside the input (or outside
 * a materialised copy) is caught by AddressSanitizer, and the name index and entries are
 * walked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_limits lim = {0};
    lim.max_pickle_nodes = 2000000; /* keep each run fast; the defaults suit real files */
    oclip_status st = oclip_checkpoint_open_memory(data, size, "fuzz.bin", &lim, &ck, &err);
    if (st != OCLIP_OK) {
        /* a failure must say so, and leave nothing behind */
        if (ck != NULL || err.code != st || err.msg[0] == '\0') abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    size_t n = oclip_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        if (!t || !t->name || oclip_checkpoint_find(ck, t->name) == NULL) abort();
        if (t->nbytes != t->numel * oclip_dtype_size(t->dtype)) abort();
        const uint8_t *p = t->data;
        uint8_t acc = 0;
        for (uint64_t k = 0; k < t->nbytes; k++) acc = (uint8_t)(acc + p[k]);
        sink = (uint8_t)(sink + acc);
    }
    for (size_t i = 0; i < oclip_checkpoint_n_entries(ck); i++) {
        const char *k = NULL, *v = NULL;
        if (!oclip_checkpoint_entry(ck, i, &k, &v) || !k || !v) abort();
        sink = (uint8_t)(sink + (uint8_t)strlen(k) + (uint8_t)strlen(v));
    }
    (void)oclip_checkpoint_layout(ck);
    (void)oclip_container_name(oclip_checkpoint_container(ck));
    (void)sink;
    oclip_checkpoint_free(ck);
    return 0;
}
