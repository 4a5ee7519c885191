/*
 * test_readers.c — every reader against every fixture the generator wrote with PyTorch
 * (tests/fixtures/readers/manifest.json): container, layout, wrapper, stripped prefix, entries,
 * and for each tensor its name, dtype, shape and the SHA-256 of its bytes as PyTorch holds them.
 * Also: zero-copy (contiguous tensors point into the file), the same results through
 * oclip_checkpoint_open_memory, and every fixture truncated at >= 50 offsets (failing, and past
 * its first 64 bytes with the hint "truncated download?") and with flipped header bytes must
 * fail cleanly or (for bytes that do not matter) still load.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

static const char *dir = "tests/fixtures/readers";

static const char *json_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_tensor(const oclip_checkpoint *ck, const cJSON *exp, const char *file) {
    const char *name = json_str(exp, "name");
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    CHECKF(t != NULL, "%s: tensor '%s' missing", file, name);
    if (!t) return;
    CHECKF(strcmp(oclip_dtype_name(t->dtype), json_str(exp, "dtype")) == 0, "%s: '%s' dtype %s vs %s",
           file, name, oclip_dtype_name(t->dtype), json_str(exp, "dtype"));
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(exp, "shape");
    int nd = cJSON_GetArraySize(shape);
    int same = nd == t->ndim;
    for (int i = 0; same && i < nd; i++)
        same = (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble == t->shape[i];
    CHECKF(same, "%s: '%s' shape differs", file, name);
    char hex[65];
    sha256_hex(t->data, (size_t)t->nbytes, hex);
    CHECKF(strcmp(hex, json_str(exp, "sha256")) == 0, "%s: '%s' bytes differ from PyTorch's", file,
           name);
}

/* Contiguous little-endian tensors must point inside the mapped file, not at a copy. */
static void check_zero_copy(const oclip_checkpoint *ck, const char *file) {
    size_t copied = 0;
    for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++)
        copied += oclip_checkpoint_tensor(ck, i)->copied != 0;
    int views = strstr(file, "views") != NULL || strstr(file, "newdtypes") != NULL;
    CHECKF(views ? copied > 0 && copied < oclip_checkpoint_n_tensors(ck) : copied == 0,
           "%s: %zu tensors copied", file, copied);
}

static void check_file(const cJSON *f) {
    const char *rel = json_str(f, "path");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    oclip_error err;
    oclip_checkpoint *ck = NULL;
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == OCLIP_OK, "%s: %s", rel, err.msg);
    if (st) return;
    CHECKF(strcmp(oclip_container_name(oclip_checkpoint_container(ck)), json_str(f, "container")) == 0,
           "%s: container %s", rel, oclip_container_name(oclip_checkpoint_container(ck)));
    CHECKF(strcmp(oclip_layout_name(oclip_checkpoint_layout(ck)), json_str(f, "layout")) == 0,
           "%s: layout %s", rel, oclip_layout_name(oclip_checkpoint_layout(ck)));
    const char *wrapper = json_str(f, "wrapper");
    CHECKF(oclip_checkpoint_is_training(ck) == (wrapper != NULL), "%s: wrapper", rel);
    const char *pre = json_str(f, "prefix_stripped"), *got = oclip_checkpoint_prefix_stripped(ck);
    CHECKF((pre == NULL && got == NULL) || (pre && got && strcmp(pre, got) == 0),
           "%s: prefix %s vs %s", rel, got ? got : "null", pre ? pre : "null");
    /* entries the generator recorded (epoch, name) appear with the same value */
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(f, "entries")) {
        char want[256];
        if (cJSON_IsString(e)) snprintf(want, sizeof want, "'%s'", e->valuestring);
        else snprintf(want, sizeof want, "%lld", (long long)e->valuedouble);
        const char *k, *v;
        int found = 0;
        for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
            if (!strcmp(k, e->string)) found = !strcmp(v, want);
        CHECKF(found, "%s: entry %s != %s", rel, e->string, want);
    }
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(f, "tensors");
    CHECKF((size_t)cJSON_GetArraySize(tensors) == oclip_checkpoint_n_tensors(ck),
           "%s: %zu tensors, PyTorch has %d", rel, oclip_checkpoint_n_tensors(ck),
           cJSON_GetArraySize(tensors));
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) check_tensor(ck, t, rel);
    check_zero_copy(ck, rel);
    oclip_checkpoint_free(ck);
}

/* Truncations and byte flips: an error with a message, or (flips in bytes that carry no
 * meaning, e.g. zip padding) a successful load; never a crash, leak or hang (ASan run). */
static void check_damage(const cJSON *f) {
    const char *rel = json_str(f, "path");
    if (strstr(rel, ".index.json")) return; /* shards are files: covered by test_safetensors */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    size_t size;
    unsigned char *buf = read_file(path, &size);
    CHECKF(buf != NULL, "%s: cannot read", rel);
    if (!buf) return;
    unsigned char *copy = malloc(size ? size : 1);
    oclip_error err;
    oclip_checkpoint *ck;
    /* the same file through the memory entry point */
    CHECK(oclip_checkpoint_open_memory(buf, size, rel, NULL, &ck, &err) == OCLIP_OK);
    if (err.code == OCLIP_OK) oclip_checkpoint_free(ck);
    /* 64 truncation points spread over the file, plus the first and last 16 bytes */
    int failed = 0, total = 0;
    for (size_t k = 0; k < 96; k++) {
        size_t cut = k < 64 ? size * k / 64 : k < 80 ? k - 64 : size - (k - 79);
        if (cut >= size) continue;
        memcpy(copy, buf, cut);
        total++;
        oclip_status st = oclip_checkpoint_open_memory(copy, cut, rel, NULL, &ck, &err);
        if (st == OCLIP_OK) {
            oclip_checkpoint_free(ck);
        } else {
            failed++;
            CHECKF(err.msg[0] != '\0', "%s: empty message at cut %zu", rel, cut);
            /* past the first bytes (which decide what the file is), a cut file says so */
            CHECKF(cut < 64 || strstr(err.msg, "hint: truncated download?"),
                   "%s: cut at %zu of %zu, no truncation hint: %s", rel, cut, size, err.msg);
        }
    }
    /* A truncated checkpoint must never load: the end of every container is structural. */
    CHECKF(failed == total, "%s: %d of %d truncations loaded", rel, total - failed, total);
    /* flip each of the first 512 bytes and 256 bytes near the end (the zip directory) */
    for (size_t k = 0; k < 768 && k < size; k++) {
        size_t at = k < 512 ? k : size - (k - 511);
        if (at >= size) continue;
        memcpy(copy, buf, size);
        copy[at] ^= 0xA5;
        if (oclip_checkpoint_open_memory(copy, size, rel, NULL, &ck, &err) == OCLIP_OK)
            oclip_checkpoint_free(ck);
        else
            CHECKF(err.msg[0] != '\0', "%s: empty message after flip at %zu", rel, at);
    }
    free(copy);
    free(buf);
}

/* usage: test_readers [DIR]  (default tests/fixtures/readers; another DIR, such as the full-size
 * files of `make test-full`, gets the manifest checks but not the damage loops) */
int main(int argc, char **argv) {
    if (argc > 1) dir = argv[1];
    char mpath[512];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", dir);
    size_t size;
    char *text = (char *)read_file(mpath, &size);
    CHECKF(text != NULL, "cannot read %s (run from the repository root)", mpath);
    if (!text) return TEST_REPORT("test_readers");
    cJSON *m = cJSON_Parse(text);
    free(text);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files"), *f;
    CHECK(cJSON_GetArraySize(files) >= (argc > 1 ? 1 : 18));
    cJSON_ArrayForEach(f, files) check_file(f);
    if (argc == 1) cJSON_ArrayForEach(f, files) check_damage(f);
    cJSON_Delete(m);
    return TEST_REPORT("test_readers");
}
