/*
 * fuzz_index.c — libFuzzer target for sharded safetensors: the input is a
 * model.safetensors.index.json, written into a private folder that also holds the three shards of
 * tests/fixtures/readers/hf_sharded (symbolic links), and opened with oclip_checkpoint_open.
 * So mutations reach the index JSON checks (weight_map, shard names: no paths, no traversal,
 * metadata) and, for indexes that name the real shards, the cross-checks between the index and
 * the shards' tensors.
 *
 * Every other shard file the index names (a plain name, up to 16 per input) is created for the
 * run, chosen by a hash of its name: a link to a real shard, a FIFO, a folder, a copy of a real
 * shard cut short, an empty file, or nothing. So the files a reader may meet in a folder (a FIFO
 * blocks a plain open() forever; the fuzzers that work on memory could never find that) are
 * reachable from the input; they are removed after the run. Run from the repository root
 * (fuzz/run.sh does).
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <limits.h>
#include <stdbool.h>
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

static char dir[] = "/tmp/oclip-fuzz-index-XXXXXX";
static char index_path[PATH_MAX + 64];
static const char *const shards[] = {"model-00001-of-00003.safetensors",
                                     "model-00002-of-00003.safetensors",
                                     "model-00003-of-00003.safetensors"};
static char shard_src[3][PATH_MAX];
static uint8_t *shard_bytes[3];
static size_t shard_size[3];

/* The private folder goes at exit (a crashed run leaves it, with the input that crashed). */
static void remove_dir(void) {
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/%s", dir, shards[i]);
        unlink(p);
    }
    unlink(index_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (!mkdtemp(dir)) abort();
    for (size_t i = 0; i < 3; i++) {
        char rel[PATH_MAX], dst[PATH_MAX + 64];
        snprintf(rel, sizeof rel, "tests/fixtures/readers/hf_sharded/%s", shards[i]);
        if (!realpath(rel, shard_src[i])) abort(); /* not run from the repository root */
        snprintf(dst, sizeof dst, "%s/%s", dir, shards[i]);
        if (symlink(shard_src[i], dst) != 0) abort();
        FILE *f = fopen(shard_src[i], "rb");
        if (!f || fseek(f, 0, SEEK_END) != 0) abort();
        long n = ftell(f);
        if (n <= 0 || fseek(f, 0, SEEK_SET) != 0) abort();
        shard_size[i] = (size_t)n;
        shard_bytes[i] = malloc(shard_size[i]);
        if (!shard_bytes[i] || fread(shard_bytes[i], 1, shard_size[i], f) != shard_size[i])
            abort();
        fclose(f);
    }
    snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
    atexit(remove_dir);
    return 0;
}

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool plain_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 200 || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..")) return false;
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(s, shards[i])) return false; /* the real shards stay */
    return strcmp(s, "model.safetensors.index.json") != 0;
}

/* Creates the file the index names as `name`; returns 1 when something was made. */
static int make_shard(const char *name) {
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint64_t h = fnv(name);
    size_t which = (size_t)(h >> 8) % 3;
    switch (h % 6) {
    case 0: return symlink(shard_src[which], path) == 0;
    case 1: return mkfifo(path, 0600) == 0;
    case 2: return mkdir(path, 0700) == 0;
    case 3:
    case 4: {
        /* a real shard, cut (case 3) or empty (case 4) */
        size_t n = h % 6 == 4 ? 0 : (size_t)((h >> 16) % shard_size[which]);
        FILE *f = fopen(path, "wbx");
        if (!f) return 0;
        if (n && fwrite(shard_bytes[which], 1, n, f) != n) abort();
        fclose(f);
        return 1;
    }
    default: return 0; /* missing */
    }
}

static void remove_made(char made[][256], size_t n) {
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, made[i]);
        if (unlink(path) != 0) rmdir(path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(index_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();

    /* the shard files this index names */
    static char made[16][256];
    size_t n_made = 0;
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map"), *it;
    if (!cJSON_IsObject(map)) map = NULL;
    cJSON_ArrayForEach(it, map) {
        if (n_made == 16) break;
        if (!cJSON_IsString(it) || !plain_name(it->valuestring)) continue;
        bool seen = false;
        for (size_t i = 0; i < n_made && !seen; i++) seen = !strcmp(made[i], it->valuestring);
        if (seen) continue;
        snprintf(made[n_made], sizeof made[n_made], "%s", it->valuestring);
        if (make_shard(made[n_made])) n_made++;
    }
    cJSON_Delete(root);

    oclip_checkpoint *ck = NULL;
    oclip_error err;
    double t0 = now_s();
    oclip_status st = oclip_checkpoint_open(index_path, NULL, &ck, &err);
    blocked_check(st, &err, t0);
    if (st != OCLIP_OK) {
        if (ck != NULL || err.code != st || err.msg[0] == '\0') abort();
        remove_made(made, n_made);
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
    remove_made(made, n_made);
    return 0;
}
