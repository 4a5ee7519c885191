/*
 * tower_test.h — what the image-tower family tests (test_timmvit, test_eva, test_vitamin,
 * test_convnext, test_resnet, test_siglip, test_fastvit) share, against the fixtures the
 * tools/fixtures_<family>.py generators wrote from OpenCLIP 3.3.0:
 *   - a fixture folder: expected.safetensors, the model loaded from the folder (2 threads) and
 *     expected.json (tower_fixture_open);
 *   - max-abs and cosine of oclip's values against OpenCLIP's (TOL, MIN_COS; a test may define
 *     its own before including), with the worst over the whole test in worst_abs / worst_cos;
 *   - the images of expected.json preprocessed with the model's preprocess_cfg: the fixture's
 *     pixels bit for bit;
 *   - distinct images give clearly distinct features;
 *   - every SIMD path and 2 vs 3 threads; the text from the prompts' strings and the logits;
 *     the weight dtypes i8 / f16 / bf16; oclip convert to f16 and the refusal of --to hf.
 * Header-only: the Makefile builds each test program from its one .c file, every header of
 * tests/ a dependency.
 */
#ifndef OCLIP_TOWER_TEST_H
#define OCLIP_TOWER_TEST_H

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels_int.h" /* oc_simd_set, oc_kernels_get */
#include "model/arch.h"
#include "model/model.h"
#include "nn/engine.h"
#include "test.h"
#include "util.h"

#ifndef TOL
#define TOL 1e-4
#endif
#ifndef MIN_COS
#define MIN_COS 0.99999
#endif

static double worst_abs, worst_cos = 1.0;

/* A copy of the fixture's fp32 tensor `name` (its element count in *n), NULL when absent. */
static inline float *expect_f32(const oclip_checkpoint *ck, const char *name, size_t *n) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    CHECKF(t && t->dtype == OCLIP_DTYPE_F32, "expected tensor %s", name);
    if (!t) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    if (n) *n = (size_t)t->numel;
    return p;
}

static inline double max_abs(const float *a, const float *b, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
    }
    return mx;
}

/* max-abs and cosine of got vs want over n floats (1 when both are zero) */
static inline void max_abs_cos(const float *got, const float *want, size_t n, double *mx_out,
                               double *cos_out) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        dot += (double)got[i] * want[i];
        na += (double)got[i] * got[i];
        nb += (double)want[i] * want[i];
    }
    *mx_out = max_abs(got, want, n);
    *cos_out = na > 0 && nb > 0 ? dot / sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
}

/* got against want within tol and MIN_COS (two CHECKs); the worst of the test, and of the
 * caller's group when abs_out / cos_out are given */
static inline void compare_tol(const char *what, const char *tag, const float *got,
                               const float *want, size_t n, double tol, double *abs_out,
                               double *cos_out) {
    if (!got || !want) return;
    double mx, cos;
    max_abs_cos(got, want, n, &mx, &cos);
    CHECKF(mx <= tol, "%s %s: max-abs %.3g > %g", tag, what, mx, tol);
    CHECKF(cos >= MIN_COS, "%s %s: cosine %.9f < %g", tag, what, cos, MIN_COS);
    if (!(mx <= worst_abs)) worst_abs = mx;
    if (cos < worst_cos) worst_cos = cos;
    if (abs_out && !(mx <= *abs_out)) *abs_out = mx;
    if (cos_out && cos < *cos_out) *cos_out = cos;
}

static inline void compare(const char *what, const char *tag, const float *got,
                           const float *want, size_t n) {
    compare_tol(what, tag, got, want, n, TOL, NULL, NULL);
}

/* A JSON file, parsed; NULL when unreadable or not JSON (no CHECK). */
static inline cJSON *json_file(const char *path) {
    size_t len = 0;
    unsigned char *text = read_file(path, &len);
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    return root;
}

/* The same, with a CHECK that it is read and one that it is JSON. */
static inline cJSON *read_json(const char *path) {
    size_t len = 0;
    unsigned char *text = read_file(path, &len);
    CHECKF(text != NULL, "%s", path);
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    CHECKF(root != NULL, "%s: not JSON", path);
    return root;
}

/* The model of spec (a fixture folder or file) with weights in dt (OCLIP_DTYPE_KEEP: as
 * stored), 2 threads; NULL with *err on failure. */
static inline oclip_model *tower_load(const char *spec, oclip_dtype dt, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    o.weight_dtype = dt;
    oclip_model *m = NULL;
    return oclip_model_load(spec, &o, &m, err) == OCLIP_OK ? m : NULL;
}

/* A fixture folder: OpenCLIP's values (expected.safetensors), the model oclip loads from it,
 * expected.json. */
typedef struct {
    oclip_checkpoint *ex;
    oclip_model *m;
    cJSON *ej;
} tower_fixture;

/* Opens dir's fixture (a CHECK on the expected values, one on the model); true when all three
 * are there. */
static inline bool tower_fixture_open(tower_fixture *f, const char *dir) {
    char path[300];
    oclip_error err;
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    CHECKF(oclip_checkpoint_open(path, NULL, &f->ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    f->m = tower_load(dir, OCLIP_DTYPE_KEEP, &err);
    CHECKF(f->m != NULL, "%s: %s", dir, err.msg);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    f->ej = json_file(path);
    return f->ex && f->m && f->ej;
}

static inline void tower_fixture_close(tower_fixture *f) {
    oclip_checkpoint_free(f->ex);
    oclip_model_free(f->m);
    cJSON_Delete(f->ej);
    memset(f, 0, sizeof *f);
}

/* expected.json "images" (paths from the repository root) preprocessed with the model's
 * preprocess_cfg: the fixture's pixels bit for bit (a CHECK per image that it decodes, with
 * `each` one per image that its pixels are OpenCLIP's, then one that there are n_images and no
 * value differs) */
static inline void check_preprocess(const oclip_model *m, const cJSON *images, const float *want,
                                    const char *tag, size_t n_images, bool each) {
    const oclip_preprocess_cfg *pre = oclip_model_preprocess(m);
    size_t px = (size_t)3 * (size_t)pre->size[0] * (size_t)pre->size[1];
    float *got = malloc(px * sizeof(float));
    size_t i = 0, differ = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, images) {
        oclip_image *img = NULL;
        oclip_error err;
        CHECKF(oclip_image_load(it->valuestring, NULL, &img, &err) == OCLIP_OK &&
                   oclip_preprocess(img, pre, got, &err) == OCLIP_OK,
               "%s %s: %s", tag, it->valuestring, err.msg);
        size_t before = differ;
        for (size_t k = 0; img && k < px; k++)
            differ += memcmp(&got[k], &want[i * px + k], sizeof(float)) != 0;
        if (each)
            CHECKF(img && differ == before, "%s: pixels of %s differ", tag, it->valuestring);
        oclip_image_free(img);
        i++;
    }
    CHECKF(i == n_images && differ == 0, "%s: %zu images, %zu pixel values differ from OpenCLIP's",
           tag, i, differ);
    free(got);
}

/* Distinct images give clearly distinct features: of the n rows of feats [n, E] no two at a
 * cosine of max_cos or more, nor within 100 * TOL of each other (one CHECK). */
static inline void check_distinct(const float *feats, size_t n, size_t E, double max_cos,
                                  const char *tag) {
    double worst = -1, closest = INFINITY;
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            double mx, cos;
            max_abs_cos(feats + a * E, feats + b * E, E, &mx, &cos);
            if (cos > worst) worst = cos;
            if (mx < closest) closest = mx;
        }
    CHECKF(worst < max_cos && closest > 100 * TOL,
           "%s: two different images at cosine %.5f, max-abs %.3g", tag, worst, closest);
}

/* Every SIMD path this CPU has: the raw image features of the n images of dir's model against
 * want [n, E], and 2 vs 3 threads the same bytes. */
static inline void check_paths(const char *dir, const char *variant, const float *pixels,
                               size_t n, size_t E, const float *want) {
    float *out = calloc(n * E, sizeof(float)), *out3 = calloc(n * E, sizeof(float));
    oc_simd cur = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        oclip_error err;
        oclip_model *mp = tower_load(dir, OCLIP_DTYPE_KEEP, &err);
        CHECKF(mp != NULL, "%s: %s", variant, err.msg);
        if (!mp) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "%s %s", variant, oc_simd_name((oc_simd)p));
        CHECKF(oclip_encode_image(mp, pixels, n, out, 0, &err) == OCLIP_OK, "%s", err.msg);
        compare("img_pooled", tag, out, want, n * E);
        mp->threads = 3;
        CHECKF(oclip_encode_image(mp, pixels, n, out3, 0, &err) == OCLIP_OK, "%s", err.msg);
        CHECKF(!memcmp(out, out3, n * E * sizeof(float)), "%s: 2 and 3 threads differ", tag);
        oclip_model_free(mp);
    }
    oc_simd_set(cur);
    free(out);
    free(out3);
}

/* expected.json "prompts" as strings through the model's tokenizer: txt_features; then the
 * logits of img [n_img, E] (the normalized image features) against them (exp(logit_scale) ~ 14
 * times the cosines: within 20 TOL). */
static inline void check_text_strings(const oclip_model *m, const oclip_checkpoint *ex,
                                      const cJSON *ej, const char *variant, const float *img,
                                      size_t n_img) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(ej, "prompts"), *it;
    size_t n_txt = (size_t)cJSON_GetArraySize(prompts), k = 0;
    const char **texts = calloc(n_txt, sizeof *texts);
    cJSON_ArrayForEach(it, prompts) texts[k++] = it->valuestring;
    float *txt = calloc(n_txt * E, sizeof(float));
    float *logits = calloc(n_img * n_txt, sizeof(float));
    float *txt_want = expect_f32(ex, "txt_features", NULL);
    float *logits_want = expect_f32(ex, "logits", NULL);
    oclip_error err;
    CHECKF(oclip_encode_text_strings(m, texts, NULL, n_txt, txt, 1, &err) == OCLIP_OK, "%s",
           err.msg);
    compare("txt_features", variant, txt, txt_want, n_txt * E);
    CHECK(oclip_logits(m, img, n_img, txt, n_txt, logits, &err) == OCLIP_OK);
    double mx = max_abs(logits, logits_want, n_img * n_txt);
    CHECKF(mx <= 20 * TOL, "%s logits: max-abs %.3g", variant, mx);
    free(texts), free(txt), free(logits), free(txt_want), free(logits_want);
}

/* Checks that model m (loaded with weight dtype dt) packed its tower's blocks in dt. */
typedef void (*tower_packed_fn)(const oclip_model *m, oclip_dtype dt, const char *variant);

/* --dtype: dir's model with its weights in i8 (every path) and f16 / bf16 (the SIMD paths that
 * pack weights): the blocks packed (packed), the normalized features of the n_img images within
 * cosine 0.99 (f16: 0.9999) of OpenCLIP's fp32 ones (want). */
static inline void check_weight_dtypes(const char *dir, const char *variant, const float *pixels,
                                       size_t n_img, const float *want, tower_packed_fn packed) {
    static const oclip_dtype dts[] = {OCLIP_DTYPE_I8, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        if (dts[d] != OCLIP_DTYPE_I8 && !oc_kernels_get()->pack_weights) continue;
        oclip_error err;
        oclip_model *m = tower_load(dir, dts[d], &err);
        CHECKF(m != NULL, "%s: %s", dir, err.msg);
        if (!m) continue;
        size_t E = (size_t)oclip_model_embed_dim(m);
        float *out = calloc(n_img * E, sizeof(float));
        /* twice: the first call may read the weights in place (tower.c OC_INPLACE_ROWS) */
        for (int rep = 0; rep < 2; rep++)
            CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
        packed(m, dts[d], variant);
        double worst = 1;
        for (size_t i = 0; i < n_img; i++) {
            double dot = 0;
            for (size_t j = 0; j < E; j++) dot += (double)out[i * E + j] * want[i * E + j];
            if (dot < worst) worst = dot;
        }
        CHECKF(worst >= (dts[d] == OCLIP_DTYPE_F16 ? 0.9999 : 0.99), "%s: dtype %d: cos %.6f",
               variant, (int)dts[d], worst);
        fprintf(stderr, "  %s weight dtype %s: worst cosine to OpenCLIP %.6f\n", variant,
                dts[d] == OCLIP_DTYPE_I8 ? "i8" : dts[d] == OCLIP_DTYPE_F16 ? "f16" : "bf16",
                worst);
        free(out);
        oclip_model_free(m);
    }
}

/* The same with the images and OpenCLIP's normalized features of root/variant's
 * expected.safetensors (a CHECK that it opens). */
static inline void check_weight_dtypes_of(const char *root, const char *variant,
                                          tower_packed_fn packed) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/%s", root, variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    if (!ex) return;
    size_t n_img = (size_t)oclip_checkpoint_find(ex, "pixels")->shape[0];
    float *pixels = expect_f32(ex, "pixels", NULL), *want = expect_f32(ex, "img_features", NULL);
    check_weight_dtypes(dir, variant, pixels, n_img, want, packed);
    free(pixels);
    free(want);
    oclip_checkpoint_free(ex);
}

/* oclip convert: the OpenCLIP layout in f16 gives the fp16-rounded model (within 1e-2 of the
 * fp32 features feat, not bitwise them); transformers' CLIPModel cannot hold a timm tower
 * (--to hf refused). tmp_stem: the temporary files' prefix under /tmp. */
static inline void check_convert_f16(const oclip_model *m, const char *variant,
                                     const char *tmp_stem, const float *pixels, size_t n_img,
                                     const float *feat) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_convert_options co;
    oclip_convert_options_default(&co);
    co.dtype = OCLIP_DTYPE_F16;
    char tmp[128], never[128];
    snprintf(tmp, sizeof tmp, "/tmp/%s_XXXXXX", tmp_stem);
    snprintf(never, sizeof never, "/tmp/%s_never/", tmp_stem);
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    oclip_error err;
    CHECKF(oclip_convert(m->report, tmp, &co, &err) == OCLIP_OK, "%s convert: %s", variant,
           err.msg);
    oclip_model *mc = tower_load(tmp, OCLIP_DTYPE_KEEP, &err);
    CHECKF(mc != NULL, "%s f16: %s", variant, err.msg);
    if (mc) {
        float *out = calloc(n_img * E, sizeof(float));
        CHECK(oclip_encode_image(mc, pixels, n_img, out, 1, &err) == OCLIP_OK);
        double d = max_abs(out, feat, n_img * E);
        CHECKF(d > 0 && d < 1e-2, "%s f16: features %.3g from the fp32 model's", variant, d);
        free(out);
    }
    oclip_model_free(mc);
    remove(tmp);
    co.to = OCLIP_FORMAT_HF;
    co.dtype = OCLIP_DTYPE_KEEP;
    CHECKF(oclip_convert(m->report, never, &co, &err) == OCLIP_E_UNSUPPORTED &&
               strstr(err.msg, "timm image tower"),
           "%s --to hf: %s", variant, err.msg);
}

/* A class-token ViT-like tower (timm ViT, EVA) against the fixture: the image stages over the
 * first stage_images images ([cls; patches] + pos_embed, after block 0, after the final norm, the
 * pooled D-wide token), then encode_image raw (img_raw) and normalized (img_features) of all
 * n_img. */
static inline void check_vit_stages(oclip_model *m, const oclip_checkpoint *ex, const cJSON *ej,
                                    const char *variant, const float *pixels, size_t n_img,
                                    size_t D) {
    static const char *const names[] = {"img_embed", "img_block_0", "img_final_norm",
                                        "img_pooled"};
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_error err;
    float *want[4], *got[4];
    size_t cnt[4];
    for (int s = 0; s < 4; s++) {
        want[s] = expect_f32(ex, names[s], &cnt[s]);
        got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
    }
    size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(ej, "stage_images")->valueint;
    oc_stages st = {.embed = got[0], .block0 = got[1], .last = got[2], .pooled = got[3]};
    float *out = calloc(n_img * E, sizeof(float));
    CHECKF(oc_vit_forward(m, pixels, n, out, &st, &err) == OCLIP_OK, "%s: %s", variant, err.msg);
    for (int s = 0; s < 3; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
    compare("img_pooled", variant, got[3], want[3], n * D);
    float *raw = expect_f32(ex, "img_raw", NULL), *feat = expect_f32(ex, "img_features", NULL);
    /* without stages (the final norm on the class token only), then normalized */
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 0, &err) == OCLIP_OK, "%s", err.msg);
    compare("img_raw", variant, out, raw, n_img * E);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    compare("img_features", variant, out, feat, n_img * E);
    free(raw);
    free(feat);
    free(out);
    for (int s = 0; s < 4; s++) free(want[s]), free(got[s]);
}

/* encode_text of the fixture's n_txt token rows raw (txt_raw) and normalized (txt_features),
 * and the logits of the fixture's n_img image features against them (/ 64: exp(logit_scale) is
 * up to 100) */
static inline void check_text_tokens(const oclip_model *m, const oclip_checkpoint *ex,
                                     const char *variant, const int64_t *tokens, size_t n_txt,
                                     size_t n_img) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_error err;
    float *raw = expect_f32(ex, "txt_raw", NULL), *feat = expect_f32(ex, "txt_features", NULL);
    float *lw = expect_f32(ex, "logits", NULL), *img = expect_f32(ex, "img_features", NULL);
    float *out = calloc(n_txt * E, sizeof(float)), *lg = calloc(n_img * n_txt, sizeof(float));
    CHECKF(oclip_encode_text(m, tokens, n_txt, out, 0, &err) == OCLIP_OK, "%s", err.msg);
    compare("txt_raw", variant, out, raw, n_txt * E);
    CHECKF(oclip_encode_text(m, tokens, n_txt, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    compare("txt_features", variant, out, feat, n_txt * E);
    CHECKF(oclip_logits(m, img, n_img, feat, n_txt, lg, &err) == OCLIP_OK, "%s", err.msg);
    for (size_t i = 0; lw && i < n_img * n_txt; i++) lg[i] /= 64.0f, lw[i] /= 64.0f;
    compare("logits / 64", variant, lg, lw, n_img * n_txt);
    free(raw), free(feat), free(lw), free(img), free(out), free(lg);
}

/* One field of a built-in config changed: the timm tower's name, timm_pool or timm_proj to
 * value, or ("size") image_size to size; refused with a reason containing why. */
typedef struct {
    const char *field, *value, *why;
} tower_refusal;

/* Each of bad[0 .. n) over built-in config `arch`: refused by oclip_config_unsupported (tag
 * before the field in the message), and with `expected` by oc_arch_expected too. */
static inline void check_refusals(const char *arch, const tower_refusal *bad, size_t n, int size,
                                  bool expected, const char *tag) {
    for (size_t i = 0; i < n; i++) {
        oclip_model_config c;
        CHECK(oclip_config_builtin(arch, &c, NULL) == OCLIP_OK);
        oclip_vision_cfg *v = &c.vision;
        if (!strcmp(bad[i].field, "name"))
            snprintf(v->timm_model_name, sizeof v->timm_model_name, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "pool"))
            snprintf(v->timm_pool, sizeof v->timm_pool, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "proj"))
            snprintf(v->timm_proj, sizeof v->timm_proj, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "size")) v->image_size[0] = v->image_size[1] = size;
        const char *why = oclip_config_unsupported(&c);
        CHECKF(why && strstr(why, bad[i].why), "%s%s: %s", tag, bad[i].field,
               why ? why : "accepted");
        if (!expected) continue;
        oc_arena a = {0};
        oc_expect *e;
        size_t ne = 0;
        CHECK(oc_arch_expected(&c, &a, &e, &ne, NULL) == OCLIP_E_UNSUPPORTED);
        oc_arena_free(&a);
    }
}

/* Built-in config `name` is computed and the state dict oclip expects is exactly `entries`
 * (OpenCLIP's [[key, shape], ...] in state_dict() order; the first three differences said). */
static inline void check_state_dict(const char *name, const cJSON *entries) {
    oclip_model_config c;
    oclip_error err;
    CHECKF(oclip_config_builtin(name, &c, &err) == OCLIP_OK, "%s: %s", name, err.msg);
    const char *why = oclip_config_unsupported(&c);
    CHECKF(why == NULL, "%s: %s", name, why);
    if (why) return;
    oc_arena a = {0};
    oc_expect *e = NULL;
    size_t n = 0;
    CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", name, err.msg);
    size_t want_n = (size_t)cJSON_GetArraySize(entries), i = 0, bad = 0;
    CHECKF(n == want_n, "%s: %zu tensors expected by oclip, OpenCLIP has %zu", name, n, want_n);
    const cJSON *ent;
    cJSON_ArrayForEach(ent, entries) {
        if (i >= n) break;
        const cJSON *nm = cJSON_GetArrayItem(ent, 0), *sh = cJSON_GetArrayItem(ent, 1);
        bool ok = cJSON_IsString(nm) && !strcmp(nm->valuestring, e[i].name) &&
                  cJSON_GetArraySize(sh) == e[i].ndim;
        for (int d = 0; ok && d < e[i].ndim; d++)
            ok = cJSON_GetArrayItem(sh, d)->valuedouble == (double)e[i].shape[d];
        if (!ok && bad++ < 3)
            CHECKF(0, "%s: entry %zu: oclip %s, OpenCLIP %s", name, i, e[i].name,
                   cJSON_IsString(nm) ? nm->valuestring : "?");
        i++;
    }
    CHECKF(bad == 0, "%s: %zu entries differ", name, bad);
    oc_arena_free(&a);
}

/* A config (open_clip_config.json's model_cfg, or a model config) of `family` that OpenCLIP
 * builds differently or fails on: refused with a reason containing why. */
typedef struct {
    const char *json, *why;
} config_refusal;

static inline void check_config_refusals(const config_refusal *bad, size_t n,
                                         oclip_family family) {
    for (size_t i = 0; i < n; i++) {
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_parse(bad[i].json, strlen(bad[i].json), &c, &err) == OCLIP_OK, "%s",
               err.msg);
        const char *why = oc_model_unsupported(&c);
        CHECKF(c.family == family && why && strstr(why, bad[i].why), "%zu: %s", i,
               why ? why : "(accepted)");
    }
}

/* The weights of one fixture under another's config file: refused at load (one CHECK). */
static inline void check_load_refused(const char *weights, const char *config_file,
                                      const char *what) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.config_file = config_file;
    o.source = &so;
    oclip_model *m = NULL;
    oclip_error err;
    oclip_status s = oclip_model_load(weights, &o, &m, &err);
    CHECKF(s != OCLIP_OK && !m, "%s: %s", what, s ? err.msg : "loaded");
    oclip_model_free(m);
}

/* test(variant) for each of the n variants on every SIMD path this CPU has (the path's name
 * printed first), then back on the best one */
static inline void on_every_path(const char *const *variants, size_t n,
                                 void (*test)(const char *variant)) {
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        for (size_t i = 0; i < n; i++) test(variants[i]);
    }
    oc_simd_set(best);
}

#endif
