/*
 * test_report_json.c — the library's JSON reports (oclip_inspect_json, oclip_report_json: what
 * `oclip inspect/check --json` and the Python package print), the OCLIP_E_MISMATCH status of a
 * checkpoint that does not fit, and oclip_model_set_threads while other threads encode.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "oclip.h"
#include "test.h"

#define TINY "tests/fixtures/arch/tiny/b32like"
#define MISMATCH "tests/fixtures/arch/mismatch/missing_layer.safetensors"

/* 1 when s is UTF-8 throughout and holds no raw control character (JSON allows none). */
static int clean_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!len || c < 0x20 || c == 0x7f) return 0;
        for (size_t i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80) return 0;
        if (len == 2 && c == 0xc2 && p[1] < 0xa0) return 0; /* a raw C1 control */
        p += len;
    }
    return 1;
}

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok;
}

static oclip_source *open_source(const char *spec, const char *config) {
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.config_file = config;
    oclip_source *s = NULL;
    oclip_error err;
    CHECKF(oclip_source_resolve(spec, &so, &s, &err) == OCLIP_OK, "%s: %s", spec, err.msg);
    if (s) CHECKF(oclip_source_open(s, &err) == OCLIP_OK, "%s: %s", spec, err.msg);
    return s;
}

/* A checkpoint under a folder whose name holds a quote, ESC, a C1 control and a byte that is
 * not UTF-8: the report is valid UTF-8 JSON, and the path reads back with each escaped. */
static void test_hostile_path(void) {
    char tmpl[] = "/tmp/oclip_report_XXXXXX";
    char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) return;
    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/a\"b\x1b[31m\xc2\x85\xff\\", root);
    snprintf(file, sizeof file, "%s/epoch_2.pt", dir);
    CHECK(mkdir(dir, 0700) == 0);
    CHECK(copy_file(TINY "/epoch_2.pt", file));
    oclip_source *s = open_source(file, NULL);
    oclip_report *r = NULL;
    oclip_error err;
    if (s) CHECKF(oclip_source_check(s, 0, &r, &err) == OCLIP_OK, "%s", err.msg);
    for (int which = 0; s && r && which < 3; which++) {
        char *t = which == 0 ? oclip_inspect_json(s, r, NULL, 1)
                : which == 1 ? oclip_inspect_json(s, NULL, "no \x01 architecture", 0)
                             : oclip_report_json(s, r);
        CHECK(t != NULL);
        if (!t) continue;
        CHECKF(clean_utf8(t), "report %d is not clean UTF-8: %s", which, t);
        CHECKF(strstr(t, "a\\\"b\\u001b[31m\\u0085\\ufffd\\\\/epoch_2.pt") != NULL,
               "report %d: %s", which, t);
        cJSON *o = cJSON_Parse(t);
        CHECKF(o != NULL, "report %d does not parse", which);
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
        CHECK(cJSON_IsString(path) &&
              strstr(path->valuestring, "a\"b\x1b[31m\xc2\x85\xef\xbf\xbd\\/epoch_2.pt"));
        if (which == 1) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "architecture_note");
            CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "architecture")));
            CHECK(cJSON_IsString(n) && !strcmp(n->valuestring, "no \x01 architecture"));
            CHECK(strstr(t, "no \\u0001 architecture") != NULL);
        }
        cJSON_Delete(o);
        oclip_free(t);
    }
    oclip_report_free(r);
    oclip_source_free(s);
    remove(file);
    rmdir(dir);
    rmdir(root);
}

static void test_fields(void) {
    /* the tiny checkpoint fits its config: inspect and check agree with each other */
    oclip_source *s = open_source(TINY "/epoch_2.pt", NULL);
    oclip_report *r = NULL;
    oclip_error err;
    if (s) CHECKF(oclip_source_check(s, 0, &r, &err) == OCLIP_OK, "%s", err.msg);
    if (r) {
        char *t = oclip_inspect_json(s, r, NULL, 1);
        cJSON *o = t ? cJSON_Parse(t) : NULL;
        CHECK(o != NULL);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "architecture");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "fits")));
        CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(a, "config")));
        const cJSON *tl = cJSON_GetObjectItemCaseSensitive(o, "tensor_list");
        const cJSON *nt = cJSON_GetObjectItemCaseSensitive(o, "tensors");
        CHECK(cJSON_IsArray(tl) && cJSON_IsNumber(nt) && cJSON_GetArraySize(tl) == nt->valueint &&
              nt->valueint == (int)oclip_checkpoint_n_tensors(oclip_source_checkpoint(s)));
        cJSON_Delete(o);
        oclip_free(t);
        t = oclip_report_json(s, r);
        o = t ? cJSON_Parse(t) : NULL;
        CHECK(o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
        CHECK(o && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "issues")) == 0);
        cJSON_Delete(o);
        oclip_free(t);
    }
    oclip_report_free(r);
    oclip_source_free(s);

    /* a checkpoint that does not fit: the report lists the issues; loading it is MISMATCH */
    s = open_source(MISMATCH, TINY "/open_clip_config.json");
    r = NULL;
    if (s) CHECKF(oclip_source_check(s, 0, &r, &err) == OCLIP_OK, "%s", err.msg);
    if (r) {
        char *t = oclip_report_json(s, r);
        cJSON *o = t ? cJSON_Parse(t) : NULL;
        CHECK(o && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "ok")));
        const cJSON *is = cJSON_GetObjectItemCaseSensitive(o, "issues");
        CHECK(cJSON_GetArraySize(is) == (int)oclip_report_n_issues(r) && oclip_report_n_issues(r));
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(is, 0), "kind");
        CHECK(cJSON_IsString(k) && !strcmp(k->valuestring, "missing"));
        cJSON_Delete(o);
        oclip_free(t);
        CHECK(oclip_convert(r, "/tmp/oclip_report_never.safetensors", NULL, &err) ==
              OCLIP_E_MISMATCH);
    }
    oclip_report_free(r);
    oclip_source_free(s);
    oclip_model_options mo;
    oclip_model_options_default(&mo);
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.config_file = TINY "/open_clip_config.json";
    mo.source = &so;
    oclip_model *m = NULL;
    CHECK(oclip_model_load(MISMATCH, &mo, &m, &err) == OCLIP_E_MISMATCH && !m);
    CHECKF(err.code == OCLIP_E_MISMATCH && strstr(err.msg, "does not fit"), "%s", err.msg);
    CHECK(strcmp(oclip_status_str(OCLIP_E_MISMATCH), "unknown status") != 0);

    /* what has no checkpoint yet gives NULL, not a crash */
    CHECK(oclip_report_json(NULL, NULL) == NULL && oclip_inspect_json(NULL, NULL, NULL, 0) == NULL);
    oclip_source *bare = NULL;
    CHECK(oclip_source_resolve(TINY "/epoch_2.pt", NULL, &bare, &err) == OCLIP_OK);
    CHECK(oclip_inspect_json(bare, NULL, "", 0) == NULL);
    oclip_source_free(bare);
}

/* ---- oclip_model_set_threads under running encodes ---- */
typedef struct {
    const oclip_model *m;
    const float *px;
    const float *want;
    size_t n, E;
    volatile int *stop;
    int bad, runs;
} worker;

static void *encode_loop(void *p) {
    worker *w = p;
    float *out = malloc(w->n * w->E * sizeof *out);
    if (!out) {
        w->bad = 1;
        return NULL;
    }
    while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
        oclip_error err;
        if (oclip_encode_image(w->m, w->px, w->n, out, 0, &err) != OCLIP_OK ||
            memcmp(out, w->want, w->n * w->E * sizeof *out) != 0)
            w->bad = 1;
        w->runs++;
    }
    free(out);
    return NULL;
}

static void test_set_threads(void) {
    oclip_model_options mo;
    oclip_model_options_default(&mo);
    mo.threads = 1;
    oclip_model *m = NULL;
    oclip_error err;
    CHECKF(oclip_model_load(NULL, &mo, &m, &err) == OCLIP_OK, "%s", err.msg);
    if (!m) return;
    CHECK(oclip_model_threads(m) == 1);
    CHECK(oclip_model_set_threads(m, -1, &err) == OCLIP_E_ARG && oclip_model_threads(m) == 1);
    CHECK(oclip_model_set_threads(NULL, 1, &err) == OCLIP_E_ARG);
    CHECK(oclip_model_set_threads(m, 0, &err) == OCLIP_OK && oclip_model_threads(m) >= 1);
    CHECK(oclip_model_set_threads(m, 3, &err) == OCLIP_OK && oclip_model_threads(m) == 3);

    int h, w;
    oclip_model_image_size(m, &h, &w);
    size_t n = 4, E = (size_t)oclip_model_embed_dim(m), per = (size_t)3 * h * w;
    float *px = malloc(n * per * sizeof *px), *want = malloc(n * E * sizeof *want);
    if (!px || !want) {
        free(px);
        free(want);
        oclip_model_free(m);
        return;
    }
    uint32_t x = 12345;
    for (size_t i = 0; i < n * per; i++) {
        x = x * 1664525u + 1013904223u;
        px[i] = (float)(x >> 8) / 16777216.0f - 0.5f;
    }
    CHECK(oclip_model_set_threads(m, 1, &err) == OCLIP_OK);
    CHECK(oclip_encode_image(m, px, n, want, 0, &err) == OCLIP_OK);

    volatile int stop = 0;
    worker ws[3];
    pthread_t tid[3];
    for (int i = 0; i < 3; i++) {
        ws[i] = (worker){.m = m, .px = px, .want = want, .n = n, .E = E, .stop = &stop};
        CHECK(pthread_create(&tid[i], NULL, encode_loop, &ws[i]) == 0);
    }
    for (int i = 0; i < 400; i++) {
        CHECK(oclip_model_set_threads(m, 1 + i % 4, &err) == OCLIP_OK);
        nanosleep(&(struct timespec){0, 500000}, NULL);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    int runs = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        CHECKF(!ws[i].bad, "worker %d: another result while the thread count changed", i);
        runs += ws[i].runs;
    }
    CHECKF(runs >= 3, "%d encodes", runs);
    free(px);
    free(want);
    oclip_model_free(m);
}

int main(void) {
    test_hostile_path();
    test_fields();
    test_set_threads();
    return TEST_REPORT("test_report_json");
}
