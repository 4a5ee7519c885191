/*
 * test_tokenizer.c — the tokenizer against OpenCLIP's own output (tests/fixtures/tokenizer/,
 * written by `tools/gen_fixtures.py tokenizer` from open_clip.get_tokenizer('ViT-B-32')).
 *
 *   1. every code point: Python's isspace, lower, final-sigma properties, NFC, ftfy per
 *      character, and what the pre-tokenizer pattern does with it;
 *   2. ~12,000 strings: ids in the three clean modes, and the ids without ftfy's mojibake repair
 *      for the strings that need it (oclip does not repair mojibake);
 *   3. rows for context lengths 1..100 (truncation, EOT forced, padding);
 *   4. hostile input (random bytes, nested entities, huge references) and threads.
 *
 * A mismatch on a code point that one of the Unicode databases involved does not assign
 * (utf8proc 15, Python 3.11's unicodedata 14, or the newer one of the `regex` module) is a
 * Unicode version difference: counted and listed, not a failure; so is a string mismatch
 * explained by such a code point. Everything else must match exactly.
 */
#include <cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "oclip.h"
#include "test.h"
#include "text/tokenizer_int.h"
#include "util.h"

#define DIR "tests/fixtures/tokenizer/"
#define MAX_SHOWN 8

/* Code points where a per-code-point check found a Unicode version difference. */
static uint8_t *version_diff; /* [0x110000] */

static cJSON *load_json(const char *path) {
    size_t n;
    unsigned char *buf = read_file(path, &n);
    if (!buf) {
        fprintf(stderr, "cannot read %s (run: .venv/bin/python tools/gen_fixtures.py tokenizer)\n",
                path);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    return j;
}

/* Python's database said Cn (run-length table from the fixture), or utf8proc does. */
static uint8_t *py_unassigned;
static bool unassigned(uint32_t c) {
    return py_unassigned[c] ||
           utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_CN;
}

static uint8_t *expand_rle(const cJSON *rle) {
    uint8_t *v = calloc(0x110000, 1);
    int n = cJSON_GetArraySize(rle);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(rle, i);
        uint32_t a = (uint32_t)cJSON_GetArrayItem(e, 0)->valuedouble;
        uint32_t b = i + 1 < n ? (uint32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(rle, i + 1), 0)
                                     ->valuedouble
                               : 0x110000;
        int k = cJSON_GetArrayItem(e, 1)->valueint;
        for (uint32_t c = a; c < b; c++) v[c] = (uint8_t)k;
    }
    return v;
}

static bool is_surrogate(uint32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

/* Per-code-point mismatch bookkeeping for one property. */
typedef struct {
    const char *what;
    int bugs, version, shown;
} cp_tally;

static void cp_mismatch(cp_tally *t, uint32_t c, const char *detail) {
    if (unassigned(c)) {
        t->version++;
        version_diff[c] = 1;
        return;
    }
    t->bugs++;
    if (t->shown++ < MAX_SHOWN) fprintf(stderr, "  %s U+%04X: %s\n", t->what, c, detail);
}

static void cp_report(cp_tally *t) {
    fprintf(stderr, "code points, %-8s: %d mismatches, %d Unicode-version differences\n",
            t->what, t->bugs, t->version);
    CHECKF(t->bugs == 0, "%s: %d code points differ from Python", t->what, t->bugs);
}

static bool cps_equal(const oc_text *t, const cJSON *arr) {
    if ((int)t->n != cJSON_GetArraySize(arr)) return false;
    for (size_t i = 0; i < t->n; i++)
        if (t->p[i] != (uint32_t)cJSON_GetArrayItem(arr, (int)i)->valuedouble) return false;
    return true;
}

/* [[c, [code points]], ...] -> expected[c] as index into the array (or -1). */
static int32_t *index_map(const cJSON *list) {
    int32_t *m = malloc(0x110000 * sizeof *m);
    for (uint32_t c = 0; c < 0x110000; c++) m[c] = -1;
    for (int i = 0; i < cJSON_GetArraySize(list); i++)
        m[(uint32_t)cJSON_GetArrayItem(cJSON_GetArrayItem(list, i), 0)->valuedouble] = i;
    return m;
}

/* A whole-text transform on the single character c compared with Python's table; characters
 * absent from the table must stay as they are. */
static void check_map(cp_tally *tally, const cJSON *list, bool (*fn)(oc_text *)) {
    int32_t *m = index_map(list);
    oc_text t = {0};
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (is_surrogate(c)) continue;
        t.n = 0;
        oc_text_push(&t, c);
        if (!fn(&t)) {
            cp_mismatch(tally, c, "failed");
            continue;
        }
        bool ok = m[c] < 0 ? (t.n == 1 && t.p[0] == c)
                           : cps_equal(&t, cJSON_GetArrayItem(cJSON_GetArrayItem(list, m[c]), 1));
        if (!ok) {
            char d[64];
            snprintf(d, sizeof d, "oclip gives %zu code points, first U+%04X", t.n,
                     t.n ? t.p[0] : 0);
            cp_mismatch(tally, c, d);
        }
    }
    oc_text_free(&t);
    free(m);
}

static bool ftfy_fn(oc_text *t) { return oc_ftfy_fix_text(t); }

static void test_codepoints(void) {
    cJSON *j = load_json(DIR "codepoints.json");
    CHECK(j != NULL);
    if (!j) return;
    py_unassigned = expand_rle(cJSON_GetObjectItem(j, "py_unassigned"));

    cp_tally sp = {"isspace", 0, 0, 0};
    uint8_t *space = calloc(0x110000, 1);
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "isspace")) space[(uint32_t)e->valuedouble] = 1;
    for (uint32_t c = 0; c < 0x110000; c++)
        if (!is_surrogate(c) && oc_py_isspace(c) != (space[c] != 0)) cp_mismatch(&sp, c, "differs");
    free(space);
    cp_report(&sp);

    cp_tally lo = {"lower", 0, 0, 0}, nf = {"nfc", 0, 0, 0}, fx = {"ftfy", 0, 0, 0};
    check_map(&lo, cJSON_GetObjectItem(j, "lower"), oc_py_lower);
    cp_report(&lo);
    check_map(&nf, cJSON_GetObjectItem(j, "nfc"), oc_nfc);
    cp_report(&nf);
    /* ftfy: only the characters the generator looked at are listed; the rest must change only
     * by NFC, which the nfc table covers */
    int32_t *nfm = index_map(cJSON_GetObjectItem(j, "nfc"));
    const cJSON *fl = cJSON_GetObjectItem(j, "ftfy");
    int32_t *fm = index_map(fl);
    oc_text t = {0};
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (is_surrogate(c)) continue;
        bool looked = c < 0xA0 || (c >= 0x2000 && c <= 0x2070) || c == 0x3000 ||
                      (c >= 0xFB00 && c <= 0xFB06) || (c >= 0xFE00 && c <= 0xFFFF) ||
                      (c >= 0x130 && c <= 0x1F5) || c == 0x2BC || nfm[c] >= 0;
        if (!looked) continue;
        t.n = 0;
        oc_text_push(&t, c);
        if (!ftfy_fn(&t)) {
            cp_mismatch(&fx, c, "failed");
            continue;
        }
        bool ok = fm[c] < 0 ? (t.n == 1 && t.p[0] == c)
                            : cps_equal(&t, cJSON_GetArrayItem(cJSON_GetArrayItem(fl, fm[c]), 1));
        if (!ok) {
            char d[64];
            snprintf(d, sizeof d, "oclip gives %zu code points, first U+%04X", t.n,
                     t.n ? t.p[0] : 0);
            cp_mismatch(&fx, c, d);
        }
    }
    free(fm);
    free(nfm);
    cp_report(&fx);

    /* final sigma: "ΑΣ" + c and "Α" + c + "Σ" lowercased, as the generator probed them */
    uint8_t *sig = expand_rle(cJSON_GetObjectItem(j, "sigma"));
    cp_tally sg = {"sigma", 0, 0, 0};
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (is_surrogate(c)) continue;
        oc_text a = {0}, b = {0};
        uint32_t pa[] = {0x391, 0x3A3, c}, pb[] = {0x391, c, 0x3A3};
        oc_text_append(&a, pa, 3);
        oc_text_append(&b, pb, 3);
        oc_py_lower(&a);
        oc_py_lower(&b);
        bool p1 = a.n > 1 && a.p[1] == 0x3C2, p3 = b.n && b.p[b.n - 1] == 0x3C2;
        int kind = (p1 && p3) ? 1 : (p3 ? 2 : 0);
        if (kind != sig[c]) {
            char d[64];
            snprintf(d, sizeof d, "kind %d, Python %d", kind, sig[c]);
            cp_mismatch(&sg, c, d);
        }
        oc_text_free(&a);
        oc_text_free(&b);
    }
    free(sig);
    cp_report(&sg);

    uint8_t *pt = expand_rle(cJSON_GetObjectItem(j, "pretok"));
    cp_tally pr = {"pretok", 0, 0, 0};
    for (uint32_t c = 0; c < 0x110000; c++) {
        if (is_surrogate(c)) continue;
        int k = oc_tok_class(c);
        if (k != pt[c]) {
            char d[64];
            snprintf(d, sizeof d, "class %d, Python %d", k, pt[c]);
            cp_mismatch(&pr, c, d);
        }
    }
    free(pt);
    cp_report(&pr);
    oc_text_free(&t);

    /* ftfy's character classes and single-byte decoding tables */
    const cJSON *cls;
    int k = 0, class_bad = 0;
    cJSON_ArrayForEach(cls, cJSON_GetObjectItem(j, "ftfy_classes")) {
        uint8_t *member = calloc(0x10000, 1);
        cJSON_ArrayForEach(e, cJSON_GetArrayItem(cls, 1)) member[(uint32_t)e->valuedouble] = 1;
        for (uint32_t c = 0; c < 0x10000; c++)
            if (((oc_ftfy_class_bits(c) >> k) & 1) != member[c]) class_bad++;
        free(member);
        k++;
    }
    CHECKF(k == 19 && class_bad == 0, "%d classes, %d membership differences", k, class_bad);
    extern const unsigned short oc_ftfy_charmaps[10][256];
    int m = 0, map_bad = 0;
    const cJSON *cm;
    cJSON_ArrayForEach(cm, cJSON_GetObjectItem(j, "charmaps")) {
        for (int b = 0; b < 256; b++)
            map_bad += oc_ftfy_charmaps[m][b] !=
                       (unsigned)cJSON_GetArrayItem(cJSON_GetArrayItem(cm, 1), b)->valuedouble;
        m++;
    }
    CHECKF(m == 10 && map_bad == 0, "%d charmaps, %d differences", m, map_bad);
    fprintf(stderr, "ftfy classes: %d, %d differences; charmaps: %d, %d differences\n", k,
            class_bad, m, map_bad);
    cJSON_Delete(j);
}

/* =============================================================================================
 * Strings
 */
static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* The case's text as bytes: "t" (UTF-8) or "b" (hex). Caller frees. */
static char *case_text(const cJSON *o, size_t *len) {
    const cJSON *t = cJSON_GetObjectItem(o, "t");
    if (cJSON_IsString(t)) {
        *len = strlen(t->valuestring);
        return strdup(t->valuestring);
    }
    const char *h = cJSON_GetObjectItem(o, "b")->valuestring;
    size_t n = strlen(h) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
    s[n] = '\0';
    *len = n;
    return s;
}

static bool ids_equal(const int32_t *ids, size_t n, const cJSON *arr) {
    if ((int)n != cJSON_GetArraySize(arr)) return false;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != cJSON_GetArrayItem(arr, (int)i)->valueint) return false;
    return true;
}

/* Does the text hold a code point with a known Unicode version difference? */
static bool has_version_diff(const char *s, size_t len) {
    oc_text t = {0};
    oc_utf8_decode((const uint8_t *)s, len, &t);
    bool v = false;
    for (size_t i = 0; i < t.n && !v; i++) v = version_diff[t.p[i]];
    oc_text_free(&t);
    return v;
}

typedef struct {
    char cat[32];
    int n, ok, bad, version, mojibake, mojibake_ok;
} cat_tally;

static cat_tally *tally_for(cat_tally *tab, int *n_tab, const char *cat) {
    for (int i = 0; i < *n_tab; i++)
        if (!strcmp(tab[i].cat, cat)) return &tab[i];
    cat_tally *t = &tab[(*n_tab)++];
    memset(t, 0, sizeof *t);
    snprintf(t->cat, sizeof t->cat, "%s", cat);
    return t;
}

static void show_mismatch(const char *what, const char *s, size_t len, const int32_t *ids,
                          size_t n, const cJSON *want, const cJSON *o, oclip_clean mode) {
    static int shown;
    if (shown++ >= 3 * MAX_SHOWN) return;
    fprintf(stderr, "  %s mismatch (%s): text %.*s\n    oclip: [", what,
            cJSON_GetObjectItem(o, "c")->valuestring, (int)(len > 200 ? 200 : len), s);
    for (size_t i = 0; i < n && i < 30; i++) fprintf(stderr, "%s%d", i ? "," : "", ids[i]);
    char *w = cJSON_PrintUnformatted(want);
    fprintf(stderr, "]\n    python: %.300s\n", w);
    free(w);
    char clean[2048];
    size_t cl;
    if (oclip_tokenize_clean(s, len, mode, clean, sizeof clean, &cl, NULL) == OCLIP_OK)
        fprintf(stderr, "    oclip clean:  %s\n", clean);
    const cJSON *k = cJSON_GetObjectItem(o, "k");
    if (cJSON_IsString(k)) fprintf(stderr, "    python clean: %.300s\n", k->valuestring);
}

static void test_cases(void) {
    FILE *f = fopen(DIR "cases.jsonl", "rb");
    CHECKF(f != NULL, "cannot open " DIR "cases.jsonl");
    if (!f) return;
    cat_tally tab[64];
    int n_tab = 0, mode_n = 0, mode_bad = 0, mode_version = 0, total = 0;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    int32_t *ids = malloc(100000 * sizeof *ids);
    while (fgets(line, (int)cap, f)) {
        cJSON *o = cJSON_Parse(line);
        CHECK(o != NULL);
        if (!o) continue;
        total++;
        size_t len, n;
        char *s = case_text(o, &len);
        cat_tally *t = tally_for(tab, &n_tab, cJSON_GetObjectItem(o, "c")->valuestring);
        t->n++;
        oclip_error err;
        oclip_status st = oclip_tokenize_ids(s, len, OCLIP_CLEAN_LOWER, ids, 100000, &n, &err);
        CHECKF(st == OCLIP_OK, "%s", err.msg);
        const cJSON *want = cJSON_GetObjectItem(o, "ids"), *nofe = cJSON_GetObjectItem(o, "nofe");
        bool same = st == OCLIP_OK && n <= 100000 && ids_equal(ids, n, want);
        if (nofe) t->mojibake++; /* Python's ids depend on ftfy's mojibake repair */
        if (same) {
            t->ok++;
            t->mojibake_ok += nofe != NULL;
        } else if (has_version_diff(s, len)) {
            t->version++;
        } else {
            t->bad++;
            show_mismatch("lower", s, len, ids, n, want, o, OCLIP_CLEAN_LOWER);
        }
        /* the other clean modes, where the generator computed them */
        static const struct {
            const char *key;
            oclip_clean mode;
        } modes[] = {{"w", OCLIP_CLEAN_WHITESPACE}, {"z", OCLIP_CLEAN_CANONICALIZE}};
        for (int m = 0; m < 2; m++) {
            const cJSON *w = cJSON_GetObjectItem(o, modes[m].key);
            if (!w) continue;
            if (cJSON_IsNumber(w)) w = want; /* 0: the same ids as clean='lower' */
            mode_n++;
            st = oclip_tokenize_ids(s, len, modes[m].mode, ids, 100000, &n, &err);
            if (st == OCLIP_OK && ids_equal(ids, n, w)) continue;
            if (has_version_diff(s, len)) {
                mode_version++;
                continue;
            }
            mode_bad++;
            show_mismatch(modes[m].key, s, len, ids, n, w, o, modes[m].mode);
        }
        free(s);
        cJSON_Delete(o);
    }
    fclose(f);
    free(line);
    free(ids);
    int bad = 0, moj = 0, moj_ok = 0, ver = 0;
    fprintf(stderr, "strings by category (clean='lower'):\n");
    for (int i = 0; i < n_tab; i++) {
        cat_tally *t = &tab[i];
        fprintf(stderr,
                "  %-17s %5d strings: %5d identical, %d mismatches, %d Unicode-version "
                "(%d need mojibake repair: %d identical)\n",
                t->cat, t->n, t->ok, t->bad, t->version, t->mojibake, t->mojibake_ok);
        bad += t->bad;
        moj += t->mojibake;
        moj_ok += t->mojibake_ok;
        ver += t->version;
    }
    fprintf(stderr,
            "strings: %d total, %d mismatches, %d Unicode-version differences; %d need ftfy's "
            "mojibake repair, %d of them identical\n",
            total, bad, ver, moj, moj_ok);
    fprintf(stderr,
            "clean='whitespace'/'canonicalize': %d checks, %d mismatches, %d Unicode-version\n",
            mode_n, mode_bad, mode_version);
    CHECKF(total >= 5000, "only %d strings", total);
    CHECKF(bad == 0, "%d strings differ from OpenCLIP", bad);
    CHECKF(mode_bad == 0, "%d strings differ in the other clean modes", mode_bad);
}

/* ftfy.fix_encoding and badness.is_bad on strings made for them (mojibake.jsonl) */
static void test_mojibake(void) {
    FILE *f = fopen(DIR "mojibake.jsonl", "rb");
    CHECKF(f != NULL, "cannot open " DIR "mojibake.jsonl");
    if (!f) return;
    char line[8192];
    int n = 0, bad_is_bad = 0, bad_fix = 0, changed = 0, shown = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (!o) continue;
        n++;
        const char *t = cJSON_GetObjectItem(o, "t")->valuestring;
        const char *want = cJSON_GetObjectItem(o, "fix")->valuestring;
        oc_text x = {0}, w = {0};
        oc_utf8_decode((const uint8_t *)t, strlen(t), &x);
        oc_utf8_decode((const uint8_t *)want, strlen(want), &w);
        bool pb = cJSON_IsTrue(cJSON_GetObjectItem(o, "bad"));
        if (oc_ftfy_is_bad(x.p, x.n) != pb) {
            bad_is_bad++;
            if (shown++ < MAX_SHOWN) fprintf(stderr, "  is_bad differs (Python %d): %s\n", pb, t);
        }
        changed += strcmp(t, want) != 0;
        CHECK(oc_ftfy_fix_encoding(&x));
        if (!(x.n == w.n && (!x.n || !memcmp(x.p, w.p, x.n * sizeof *x.p)))) {
            bad_fix++;
            if (shown++ < MAX_SHOWN) {
                fprintf(stderr, "  fix_encoding differs: %s\n    python: %s\n    oclip:  ", t,
                        want);
                for (size_t i = 0; i < x.n; i++) {
                    uint8_t b[4];
                    fwrite(b, 1, oc_utf8_put(x.p[i], b), stderr);
                }
                fputc('\n', stderr);
            }
        }
        oc_text_free(&x);
        oc_text_free(&w);
        cJSON_Delete(o);
    }
    fclose(f);
    fprintf(stderr, "ftfy fix_encoding: %d strings (%d changed by Python), %d differ; is_bad: %d "
            "differ\n", n, changed, bad_fix, bad_is_bad);
    CHECK(n > 1000);
    CHECKF(bad_fix == 0 && bad_is_bad == 0, "%d fix_encoding, %d is_bad differences", bad_fix,
           bad_is_bad);
}

static void test_context(void) {
    cJSON *j = load_json(DIR "context.json");
    CHECK(j != NULL);
    if (!j) return;
    int n = 0, bad = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(j, "rows")) {
        const char *s = cJSON_GetObjectItem(r, "t")->valuestring;
        size_t ctx = (size_t)cJSON_GetObjectItem(r, "ctx")->valueint;
        const cJSON *want = cJSON_GetObjectItem(r, "row");
        int64_t row[128];
        oclip_error err;
        n++;
        if (oclip_tokenize(s, strlen(s), OCLIP_CLEAN_LOWER, row, ctx, &err) != OCLIP_OK) {
            bad++;
            continue;
        }
        bool ok = (size_t)cJSON_GetArraySize(want) == ctx;
        for (size_t i = 0; ok && i < ctx; i++)
            ok = row[i] == (int64_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
        if (!ok) {
            bad++;
            fprintf(stderr, "  context %zu mismatch: %.60s\n", ctx, s);
        }
    }
    fprintf(stderr, "context lengths: %d rows, %d mismatches\n", n, bad);
    CHECK(n > 0 && bad == 0);
    cJSON_Delete(j);
}

/* =============================================================================================
 * API contract, hostile input, threads
 */
static void test_api(void) {
    oclip_error err;
    int64_t row[8];
    /* the first call builds the vocabulary: how long that takes (budget: 20 ms) */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(oclip_tokenizer_init(&err) == OCLIP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "vocabulary ready in %.2f ms\n",
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    CHECK(oclip_tokenize("x", 1, OCLIP_CLEAN_LOWER, row, 0, &err) == OCLIP_E_ARG);
    CHECK(strstr(err.msg, "context length") != NULL);
    CHECK(oclip_tokenize("x", 1, (oclip_clean)7, row, 8, &err) == OCLIP_E_ARG);
    CHECK(oclip_tokenize(NULL, 1, OCLIP_CLEAN_LOWER, row, 8, &err) == OCLIP_E_ARG);
    CHECK(oclip_tokenize(NULL, 0, OCLIP_CLEAN_LOWER, row, 8, &err) == OCLIP_OK);
    CHECK(row[0] == OCLIP_SOT_ID && row[1] == OCLIP_EOT_ID && row[2] == 0 && row[7] == 0);
    size_t n = 99;
    CHECK(oclip_tokenize_ids("a photo of a cat.", 17, OCLIP_CLEAN_LOWER, NULL, 0, &n, &err) ==
          OCLIP_OK);
    CHECK(n == 6);
    int32_t ids[3];
    CHECK(oclip_tokenize_ids("a photo of a cat.", 17, OCLIP_CLEAN_LOWER, ids, 3, &n, &err) ==
          OCLIP_OK);
    CHECK(n == 6 && ids[0] == 320 && ids[1] == 1125 && ids[2] == 539);
    char buf[8];
    size_t cl;
    CHECK(oclip_tokenize_clean("  A  B\tC ", 9, OCLIP_CLEAN_LOWER, buf, 4, &cl, &err) == OCLIP_OK);
    CHECK(cl == 5 && !strcmp(buf, "a b"));
    CHECK(oclip_tokenize_clean("x", 1, OCLIP_CLEAN_LOWER, NULL, 0, &cl, &err) == OCLIP_OK &&
          cl == 1);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}

static void test_hostile(void) {
    int64_t row[77];
    oclip_error err;
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    int fails = 0;
    /* random bytes, biased towards the characters the cleaning reacts to */
    static const char bias[] = "&#;<x\x1b[\xc3\xa9\xe2\x80\x99\xf0\x9f\x98\x80\xcd\x85 \r\n'";
    for (int it = 0; it < 3000; it++) {
        size_t len = rnd() % (it < 2900 ? 200 : cap);
        for (size_t i = 0; i < len; i++)
            buf[i] = rnd() % 3 ? (char)rnd() : bias[rnd() % (sizeof bias - 1)];
        if (oclip_tokenize(buf, len, (oclip_clean)(it % 3), row, 77, &err) != OCLIP_OK) fails++;
        if (row[0] != OCLIP_SOT_ID) fails++;
    }
    CHECKF(fails == 0, "%d random inputs failed", fails);
    /* nested entities: every pass of ftfy undoes one level; bounded */
    size_t len = 0;
    memcpy(buf, "&amp;", 5);
    len = 5;
    while (len + 4 < cap) memcpy(buf + len, "amp;", 4), len += 4;
    CHECK(oclip_tokenize(buf, len, OCLIP_CLEAN_LOWER, row, 77, &err) == OCLIP_OK);
    /* huge numeric references, a very long entity name, a long run of one letter */
    const char *odd[] = {"&#99999999999999999999999999999999999999;", "&#x0000000000000041;",
                         "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"};
    for (size_t i = 0; i < 3; i++)
        CHECK(oclip_tokenize(odd[i], strlen(odd[i]), OCLIP_CLEAN_LOWER, row, 77, &err) == OCLIP_OK);
    memset(buf, 'a', cap);
    CHECK(oclip_tokenize(buf, cap, OCLIP_CLEAN_LOWER, row, 77, &err) == OCLIP_OK);
    CHECK(row[76] == OCLIP_EOT_ID);
    /* one 64 KiB word of random letters: BPE must not be quadratic (the heap path) */
    for (size_t i = 0; i < cap; i++) buf[i] = (char)('a' + rnd() % 26);
    size_t n_ids = 0;
    CHECK(oclip_tokenize_ids(buf, cap, OCLIP_CLEAN_LOWER, NULL, 0, &n_ids, &err) == OCLIP_OK);
    CHECK(n_ids > 1000 && n_ids < cap);
    free(buf);
}

typedef struct {
    int id, bad;
} thread_arg;

static const char *const thread_texts[] = {
    "a photo of a cat.",
    /* Greek, final sigma */
    "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac \xce\xa3\xce\x91\xce\xa3",
    "&amp;lt;b&gt;",
    "\xef\xac\x81nance \xe2\x80\x9cq\xe2\x80\x9d",               /* ligature, curly quotes */
    "caf\xc3\x83\xc2\xa9 \xe6\x97\xa5"};                           /* mojibake, CJK */

static void *thread_main(void *p) {
    thread_arg *a = p;
    int64_t want[5][77], row[77];
    for (int k = 0; k < 5; k++)
        oclip_tokenize(thread_texts[k], strlen(thread_texts[k]), OCLIP_CLEAN_LOWER, want[k], 77,
                       NULL);
    for (int it = 0; it < 2000; it++) {
        int k = (it + a->id) % 5;
        oclip_tokenize(thread_texts[k], strlen(thread_texts[k]), OCLIP_CLEAN_LOWER, row, 77, NULL);
        if (memcmp(row, want[k], sizeof row)) a->bad++;
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].id = i;
        args[i].bad = 0;
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    CHECKF(bad == 0, "%d rows differ between threads", bad);
}

int main(void) {
    version_diff = calloc(0x110000, 1);
    test_api();
    test_codepoints();
    test_cases();
    test_mojibake();
    test_context();
    test_hostile();
    test_threads();
    free(version_diff);
    free(py_unassigned);
    return TEST_REPORT("test_tokenizer");
}
