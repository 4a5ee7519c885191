/*
 * fuzz_checkpoint.c — libFuzzer target for the whole front end: oclip_checkpoint_open_memory
 * over arbitrary bytes (sniffing, torch zip, TorchScript, legacy, safetensors). When a file
 * loads, every tensor's bytes are read so that a pointer or size outside the input (or outside
 * a materialised copy) is caught by AddressSanitizer, and the name index and entries are
 * walked.
 *
 * One input in 16 goes through a file instead (oclip_checkpoint_open: the mapping, the
 * regular-file checks), chosen by a hash of the input; of those, some are opened where the path
 * is a FIFO or a folder instead of the file (an open() that blocks is a libFuzzer timeout), and
 * some under a name ending in ".index.json" (the shard-index reader, with no shards beside it).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_blocked.h"
#include "oclip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/oclip-fuzz-checkpoint-XXXXXX";

static void remove_dir(void) { rmdir(dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    return 0;
}

static uint64_t fnv(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Opens the input through a path: 0 a regular file, 1 a FIFO, 2 a folder, 3 an index name. */
static oclip_status open_path(const uint8_t *data, size_t size, int kind, oclip_checkpoint **ck,
                              oclip_error *err) {
    char path[sizeof dir + 32];
    snprintf(path, sizeof path, "%s/%s", dir, kind == 3 ? "x.index.json" : "x.bin");
    if (kind == 1) {
        if (mkfifo(path, 0600) != 0) abort();
    } else if (kind == 2) {
        if (mkdir(path, 0700) != 0) abort();
    } else {
        FILE *f = fopen(path, "wb");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    }
    oclip_limits lim = {0};
    lim.max_pickle_nodes = 2000000;
    oclip_status st = oclip_checkpoint_open(path, &lim, ck, err);
    if (kind == 2) rmdir(path);
    else unlink(path);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_limits lim = {0};
    lim.max_pickle_nodes = 2000000; /* keep each run fast; the defaults suit real files */
    uint64_t h = fnv(data, size);
    double t0 = now_s();
    oclip_status st = h % 16 == 0 ? open_path(data, size, (int)((h >> 8) % 8 < 4 ? 0 : (h >> 8) % 4),
                                              &ck, &err)
                                  : oclip_checkpoint_open_memory(data, size, "fuzz.bin", &lim,
                                                                 &ck, &err);
    blocked_check(st, &err, t0);
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
