/*
 * test_vitamin.c — the timm ViTamin image tower against OpenCLIP 3.3.0 + timm, on the two tiny
 * models of tests/fixtures/vitamin/ (tools/fixtures_vitamin.py: ViTamin-S's config with a learned
 * pos_embed, and ViTamin-XL-384's without one, run at an image size other than the one timm built
 * the trunk for; tiny timm ViTamin trunks registered here from manifest.json; random weights,
 * every LayerNorm / LayerNorm2d perturbed, the stem scaled so that the eps matters: the generator
 * checks that eps 1e-5 moves the features by more than 0.28). Per model, loaded from its
 * hub-style folder (architecture from open_clip_config.json):
 *   - preprocessing with the folder's preprocess_cfg: the fixture's pixels bit for bit;
 *   - stages of the first image: after the stem, after each MbConv stage, after backbone.pool
 *     (NCHW), after the first and the last ViT block; fc_norm's output of every image;
 *   - encode_image raw and normalized (distinct images clearly distinct), encode_text from the
 *     prompts' strings, logits;
 *   - every SIMD path this CPU has, and 2 vs 3 threads bit-identical;
 *   - weight dtypes i8 / f16 / bf16 reach the ViT blocks (packed with the tower), close to fp32;
 *   - oclip convert to f16 loads back; --to hf refused.
 * Also: the state dict oclip expects for each of the 15 built-in ViTamin-* configs is the one
 * OpenCLIP builds (names, shapes, order: real_shapes.json), and what OpenCLIP builds differently
 * is refused by name.
 * Stages and features: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's fp32 is ~2.4e-7 from
 * fp64 here, expected.json fp32_vs_fp64).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "model/arch.h"
#include "model/model.h"
#include "model/vitamin.h"
#include "nn/engine.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/vitamin"
#define TOL 1e-4
#define MIN_COS 0.99999

static double worst_abs, worst_cos = 1.0;

static float *expect_f32(const oclip_checkpoint *ck, const char *name, size_t *n) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    CHECKF(t && t->dtype == OCLIP_DTYPE_F32, "expected tensor %s", name);
    if (!t) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    if (n) *n = (size_t)t->numel;
    return p;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
    }
    return mx;
}

static void compare(const char *what, const char *tag, const float *got, const float *want,
                    size_t n) {
    if (!got || !want) return;
    double mx = max_abs(got, want, n), dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        dot += (double)got[i] * want[i];
        na += (double)got[i] * got[i];
        nb += (double)want[i] * want[i];
    }
    double cos = na > 0 && nb > 0 ? dot / sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    CHECKF(mx <= TOL, "%s %s: max-abs %.3g > %g", tag, what, mx, TOL);
    CHECKF(cos >= MIN_COS, "%s %s: cosine %.9f < %g", tag, what, cos, MIN_COS);
    if (!(mx <= worst_abs)) worst_abs = mx;
    if (cos < worst_cos) worst_cos = cos;
}

static oclip_model *load_dt(const char *spec, oclip_dtype dt, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    o.weight_dtype = dt;
    oclip_model *m = NULL;
    return oclip_model_load(spec, &o, &m, err) == OCLIP_OK ? m : NULL;
}

static oclip_model *load(const char *spec, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    return load_dt(spec, o.weight_dtype, err);
}

static cJSON *read_json(const char *path) {
    size_t len = 0;
    unsigned char *text = read_file(path, &len);
    CHECKF(text != NULL, "%s", path);
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    CHECKF(root != NULL, "%s: not JSON", path);
    return root;
}

static int json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

/* the generator's tiny trunks (manifest.json towers) */
static void register_test_towers(void) {
    cJSON *root = read_json(FIX "/manifest.json");
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "towers")) {
        oc_vitamin_tower t;
        memset(&t, 0, sizeof t);
        snprintf(t.name, sizeof t.name, "%s", it->string);
        t.g.img = json_int(it, "img");
        t.g.stem = json_int(it, "stem");
        t.g.depth = json_int(it, "depth");
        t.g.heads = json_int(it, "heads");
        t.g.mlp = json_int(it, "mlp");
        t.g.pos = json_int(it, "pos");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "dims");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "depths");
        for (int i = 0; i < 3; i++) {
            const cJSON *di = cJSON_GetArrayItem(d, i);
            t.g.dims[i] = cJSON_IsNumber(di) ? di->valueint : -1;
        }
        for (int i = 0; i < 2; i++) {
            const cJSON *si = cJSON_GetArrayItem(s, i);
            t.g.depths[i] = cJSON_IsNumber(si) ? si->valueint : -1;
        }
        oclip_error err;
        CHECKF(oc_vitamin_register(&t, &err) == OCLIP_OK, "%s: %s", t.name, err.msg);
        n++;
    }
    CHECKF(n == 2, "%d test towers in manifest.json", n);
    cJSON_Delete(root);
}

static void check_preprocess(const oclip_model *m, const cJSON *images, const float *want,
                             const char *tag) {
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
        for (size_t k = 0; img && k < px; k++) differ += got[k] != want[i * px + k];
        oclip_image_free(img);
        i++;
    }
    CHECKF(i == 5 && differ == 0, "%s: %zu images, %zu pixel values differ from OpenCLIP's", tag,
           i, differ);
    free(got);
}

/* i8 / f16 / bf16 weights: the ViT blocks' Linear weights packed in that type, the features
 * close to OpenCLIP's fp32 ones */
static void test_weight_dtypes(const char *dir, const char *variant, const float *pixels,
                               size_t n_img, const float *want) {
    static const oclip_dtype dts[] = {OCLIP_DTYPE_I8, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        if (dts[d] != OCLIP_DTYPE_I8 && !oc_kernels_get()->pack_weights) continue;
        oclip_error err;
        oclip_model *m = load_dt(dir, dts[d], &err);
        CHECKF(m != NULL, "%s: %s", dir, err.msg);
        if (!m) continue;
        size_t E = (size_t)oclip_model_embed_dim(m);
        float *out = calloc(n_img * E, sizeof(float));
        /* twice: the first call may read the weights in place (tower.c OC_INPLACE_ROWS) */
        for (int rep = 0; rep < 2; rep++)
            CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
        oc_weight *w[64];
        size_t nw = oc_vitamin_weights(m->vis.vitamin, NULL);
        CHECKF(nw > 0 && nw <= 64, "%s: %zu block weights", variant, nw);
        if (nw <= 64) oc_vitamin_weights(m->vis.vitamin, w);
        for (size_t i = 0; i < nw && nw <= 64; i++)
            CHECKF(w[i]->packed && w[i]->pdtype == dts[d], "%s: dtype %d: block weight %zu not "
                   "packed (%d)", variant, (int)dts[d], i, (int)w[i]->pdtype);
        double worst = 1;
        for (size_t i = 0; i < n_img; i++) {
            double dot = 0;
            for (size_t j = 0; j < E; j++) dot += (double)out[i * E + j] * want[i * E + j];
            if (dot < worst) worst = dot;
        }
        CHECKF(worst >= (dts[d] == OCLIP_DTYPE_F16 ? 0.9999 : 0.99), "%s: dtype %d: cos %.6f",
               variant, (int)dts[d], worst);
        fprintf(stderr, "  %s weight dtype %s: worst cosine to OpenCLIP %.6f\n", variant,
                dts[d] == OCLIP_DTYPE_I8 ? "i8" : dts[d] == OCLIP_DTYPE_F16 ? "f16" : "bf16", worst);
        free(out);
        oclip_model_free(m);
    }
}

static void test_variant(const char *variant) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    oclip_model *m = load(dir, &err);
    CHECKF(m != NULL, "%s: %s", dir, err.msg);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *ej = read_json(path);
    if (!ex || !m || !ej) {
        oclip_checkpoint_free(ex);
        oclip_model_free(m);
        cJSON_Delete(ej);
        return;
    }
    CHECKF(oclip_model_config_of(m)->family == OCLIP_FAMILY_TIMM && m->vis.vitamin,
           "%s: family", variant);
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant);

    /* stages of the first image, pooled of all */
    static const char *const names[] = {"stem", "stage0", "stage1", "embed", "block0", "last",
                                        "pooled"};
    enum { NS = 7 };
    float *want[NS], *got[NS];
    size_t cnt[NS];
    for (int s = 0; s < NS; s++) {
        want[s] = expect_f32(ex, names[s], &cnt[s]);
        got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
    }
    float *out = calloc(n_img * E, sizeof(float)), *out3 = calloc(n_img * E, sizeof(float));
    float *raw = expect_f32(ex, "img_pooled", NULL);
    float *feat = expect_f32(ex, "img_features", NULL);
    oc_stages st = {.rn_stem = got[0], .rn_layer = {got[1], got[2], got[3]}, .block0 = got[4],
                    .last = got[5]};
    CHECKF(oc_vitamin_forward(m, pixels, 1, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
           err.msg);
    for (int s = 0; s < NS - 1; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
    st = (oc_stages){.pooled = got[NS - 1]};
    CHECKF(oc_vitamin_forward(m, pixels, n_img, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
           err.msg);
    compare(names[NS - 1], variant, got[NS - 1], want[NS - 1], cnt[NS - 1]);
    compare("img_pooled", variant, out, raw, n_img * E);

    /* every path: raw features of all images; 2 vs 3 threads the same bytes */
    oc_simd cur = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        oclip_model *mp = load(dir, &err);
        CHECKF(mp != NULL, "%s: %s", variant, err.msg);
        if (!mp) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "%s %s", variant, oc_simd_name((oc_simd)p));
        CHECKF(oclip_encode_image(mp, pixels, n_img, out, 0, &err) == OCLIP_OK, "%s", err.msg);
        compare("img_pooled", tag, out, raw, n_img * E);
        mp->threads = 3;
        CHECKF(oclip_encode_image(mp, pixels, n_img, out3, 0, &err) == OCLIP_OK, "%s", err.msg);
        CHECKF(!memcmp(out, out3, n_img * E * sizeof(float)), "%s: 2 and 3 threads differ", tag);
        oclip_model_free(mp);
    }
    oc_simd_set(cur);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    compare("img_features", variant, out, feat, n_img * E);
    /* distinct images give clearly distinct features */
    double off = -1;
    for (size_t i = 0; i < n_img; i++)
        for (size_t j = 0; j < n_img; j++) {
            if (i == j) continue;
            double dot = 0;
            for (size_t e = 0; e < E; e++) dot += (double)out[i * E + e] * out[j * E + e];
            if (dot > off) off = dot;
        }
    CHECKF(off < 0.99, "%s: two different images at cosine %.5f", variant, off);

    /* text from the prompts' strings, and logits */
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(ej, "prompts"), *it;
    size_t n_txt = (size_t)cJSON_GetArraySize(prompts), k = 0;
    const char **texts = calloc(n_txt, sizeof *texts);
    cJSON_ArrayForEach(it, prompts) texts[k++] = it->valuestring;
    float *txt = calloc(n_txt * E, sizeof(float));
    float *logits = calloc(n_img * n_txt, sizeof(float));
    float *txt_want = expect_f32(ex, "txt_features", NULL);
    float *logits_want = expect_f32(ex, "logits", NULL);
    CHECKF(oclip_encode_text_strings(m, texts, NULL, n_txt, txt, 1, &err) == OCLIP_OK, "%s",
           err.msg);
    compare("txt_features", variant, txt, txt_want, n_txt * E);
    CHECK(oclip_logits(m, out, n_img, txt, n_txt, logits, &err) == OCLIP_OK);
    /* logits are exp(logit_scale) ~ 14 times the cosines */
    double mx = max_abs(logits, logits_want, n_img * n_txt);
    CHECKF(mx <= 20 * TOL, "%s logits: max-abs %.3g", variant, mx);

    test_weight_dtypes(dir, variant, pixels, n_img, feat);

    /* oclip convert: the OpenCLIP layout in f16 gives the fp16-rounded model (within 1e-2 of
     * the fp32 features, not bitwise theirs); transformers' CLIPModel cannot hold the tower */
    {
        oclip_convert_options co;
        oclip_convert_options_default(&co);
        co.dtype = OCLIP_DTYPE_F16;
        char tmp[] = "/tmp/oclip_vitamin_XXXXXX";
        int fd = mkstemp(tmp);
        if (fd >= 0) close(fd);
        CHECKF(oclip_convert(m->report, tmp, &co, &err) == OCLIP_OK, "%s convert: %s", variant,
               err.msg);
        oclip_model *mc = load(tmp, &err);
        CHECKF(mc != NULL, "%s f16: %s", variant, err.msg);
        if (mc) {
            CHECK(oclip_encode_image(mc, pixels, n_img, out3, 1, &err) == OCLIP_OK);
            double d = max_abs(out3, feat, n_img * E);
            CHECKF(d > 0 && d < 1e-2, "%s f16: features %.3g from the fp32 model's", variant, d);
        }
        oclip_model_free(mc);
        remove(tmp);
        co.to = OCLIP_FORMAT_HF;
        co.dtype = OCLIP_DTYPE_KEEP;
        CHECKF(oclip_convert(m->report, "/tmp/oclip_vitamin_never/", &co, &err) ==
                   OCLIP_E_UNSUPPORTED && strstr(err.msg, "timm image tower"),
               "%s --to hf: %s", variant, err.msg);
    }

    for (int s = 0; s < NS; s++) free(want[s]), free(got[s]);
    free(out), free(out3), free(raw), free(feat), free(pixels), free(texts), free(txt);
    free(logits), free(txt_want), free(logits_want);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
    cJSON_Delete(ej);
}

/* every built-in ViTamin config: computed, and its expected state dict is exactly OpenCLIP's
 * (real_shapes.json); what OpenCLIP builds differently is refused */
static void test_configs(void) {
    cJSON *real = read_json(FIX "/real_shapes.json");
    const cJSON *cfgj;
    int n_cfg = 0;
    oclip_error err;
    cJSON_ArrayForEach(cfgj, real) {
        const char *name = cfgj->string;
        n_cfg++;
        oclip_model_config c;
        CHECKF(oclip_config_builtin(name, &c, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        const char *why = oc_model_unsupported(&c);
        CHECKF(why == NULL, "%s: %s", name, why);
        if (why) continue;
        oc_arena a = {0};
        oc_expect *e = NULL;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        size_t want_n = (size_t)cJSON_GetArraySize(cfgj), i = 0, bad = 0;
        CHECKF(n == want_n, "%s: %zu tensors expected by oclip, OpenCLIP has %zu", name, n,
               want_n);
        const cJSON *ent;
        cJSON_ArrayForEach(ent, cfgj) {
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
    CHECKF(n_cfg == 15, "%d ViTamin configs in real_shapes.json", n_cfg);
    cJSON_Delete(real);

    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": {\"timm_model_name\": "
         "\"vitamin_small_224\", \"timm_pool\": \"token\", \"timm_proj\": \"linear\", "
         "\"image_size\": 224}, \"text_cfg\": {}}", "timm_pool"},
        {"{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": {\"timm_model_name\": "
         "\"vitamin_small_224\", \"timm_pool\": \"\", \"timm_proj\": \"mlp\", "
         "\"image_size\": 224}, \"text_cfg\": {}}", "timm_proj"},
        {"{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": {\"timm_model_name\": "
         "\"vitamin_small_224\", \"timm_pool\": \"\", \"timm_proj\": \"linear\", "
         "\"image_size\": 256}, \"text_cfg\": {}}", "pos_embed"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"timm_model_name\": \"vitamin_small_224\", "
         "\"timm_pool\": \"\", \"timm_proj\": \"linear\", \"image_size\": 224}, "
         "\"text_cfg\": {}}", "custom_text"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        oclip_model_config c;
        CHECKF(oclip_config_parse(bad[i].json, strlen(bad[i].json), &c, &err) == OCLIP_OK, "%s",
               err.msg);
        const char *why = oc_model_unsupported(&c);
        CHECKF(c.family == OCLIP_FAMILY_TIMM && why && strstr(why, bad[i].why), "%zu: %s", i,
               why ? why : "(accepted)");
    }
    /* no pos_embed (xlarge): any image size runs, as OpenCLIP's ViTamin-XL-384 at 256 */
    const char *xl = "{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": "
                     "{\"timm_model_name\": \"vitamin_xlarge_384\", \"timm_pool\": \"\", "
                     "\"timm_proj\": \"linear\", \"image_size\": 320}, \"text_cfg\": {}}";
    oclip_model_config c;
    CHECK(oclip_config_parse(xl, strlen(xl), &c, &err) == OCLIP_OK);
    CHECKF(oc_model_unsupported(&c) == NULL, "xlarge at 320: %s", oc_model_unsupported(&c));
    /* the other fixture's weights under this config: refused at load, by name */
    oclip_model_options o;
    oclip_model_options_default(&o);
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.config_file = FIX "/xl_tiny/open_clip_config.json";
    o.source = &so;
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FIX "/s_tiny/open_clip_model.safetensors", &o, &m, &err);
    CHECKF(s != OCLIP_OK && !m, "s_tiny weights under xl_tiny's config: %s",
           s ? err.msg : "loaded");
    oclip_model_free(m);
}

int main(void) {
    register_test_towers();
    test_configs();
    test_variant("s_tiny");
    test_variant("xl_tiny");
    fprintf(stderr, "test_vitamin: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_vitamin");
}
