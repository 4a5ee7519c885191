/*
 * fuzz_index.c — libFuzzer target for sharded safetensors: the input is a
 * model.safetensors.index.json, written into a private folder that also holds the three shards of
 * tests/fixtures/readers/hf_sharded (symbolic links), and opened with oclip_checkpoint_open.
 * So mutations reach the index JSON checks (weight_map, shard names: no paths, no traversal,
 * metadata) and, for indexes that name the real shards, the cross-checks between the index and
 * the shards' tensors. Run from the repository root (fuzz/run.sh does).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oclip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char index_path[PATH_MAX + 64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static char dir[] = "/tmp/oclip-fuzz-index-XXXXXX";
    if (!mkdtemp(dir)) abort();
    static const char *const shards[] = {"model-00001-of-00003.safetensors",
                                         "model-00002-of-00003.safetensors",
                                         "model-00003-of-00003.safetensors"};
    for (size_t i = 0; i < 3; i++) {
        char src[PATH_MAX], rel[PATH_MAX], dst[PATH_MAX + 64];
        snprintf(rel, sizeof rel, "tests/fixtures/readers/hf_sharded/%s", shards[i]);
        if (!realpath(rel, src)) abort(); /* not run from the repository root */
        snprintf(dst, sizeof dst, "%s/%s", dir, shards[i]);
        if (symlink(src, dst) != 0) abort();
    }
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(index_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open(index_path, NULL, &ck, &err);
    if (st != OCLIP_OK) {
        if (ck != NULL || err.code != st || err.msg[0] == '\0') abort();
        return 0;
    }
    volatile uint8_t sink = 0;
    size_t n = oclip_checkpoint_n_tensors(ck);
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        if (!t || oclip_checkpoint_find(ck, t->name) != t) abort();
        const uint8_t *p = t->data;
        for (uint64_t k = 0; k < t->nbytes; k++) sink = (uint8_t)(sink + p[k]);
    }
    for (size_t i = 0; i < oclip_checkpoint_n_entries(ck); i++) {
        const char *k = NULL, *v = NULL;
        if (!oclip_checkpoint_entry(ck, i, &k, &v) || !k || !v) abort();
    }
    (void)sink;
    oclip_checkpoint_free(ck);
    return 0;
}
