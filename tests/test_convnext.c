/*
 * test_convnext.c — the timm ConvNeXt image tower against OpenCLIP 3.3.0 + timm, on the two tiny
 * models of tests/fixtures/convnext/ (tools/fixtures_convnext.py: convnext_base_w's config with
 * its linear head and convnext_large_d's with its MLP head, over tiny timm ConvNeXt trunks
 * registered here from manifest.json; random weights, layer-scale gammas far from timm's 1e-6
 * init, the stem scaled so that the LayerNorm eps matters). Per model, loaded from its hub-style
 * folder (architecture from open_clip_config.json):
 *   - preprocessing with the folder's preprocess_cfg: the fixture's pixels bit for bit;
 *   - stages of the first image (NCHW): after the stem and after each of the four stages, and
 *     trunk.head.norm's output (the pooled features before the projection) of every image;
 *   - encode_image raw and normalized, encode_text from the prompts' strings, logits;
 *   - every SIMD path this CPU has, and 2 vs 3 threads bit-identical;
 *   - the tower's eps matters: the same trunk registered with the other eps gives features
 *     beyond the tolerance (so the comparisons above test it).
 * Also: every built-in convnext_* config is computed, the head / pool / text options OpenCLIP
 * builds differently are refused by name.
 * Stages and features: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's fp32 is ~2.5e-7 from
 * fp64 here, expected.json fp32_vs_fp64).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "model/convnext.h"
#include "model/model.h"
#include "nn/engine.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/convnext"
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

static oclip_model *load(const char *spec, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    oclip_model *m = NULL;
    return oclip_model_load(spec, &o, &m, err) == OCLIP_OK ? m : NULL;
}

/* the generator's tiny trunks (manifest.json towers): depths, dims, eps */
static oc_convnext_tower towers[4];
static int n_towers;

static void register_test_towers(void) {
    size_t len = 0;
    unsigned char *text = read_file(FIX "/manifest.json", &len);
    CHECKF(text != NULL, "%s", FIX "/manifest.json");
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "towers")) {
        if (n_towers == 4) break;
        oc_convnext_tower *t = &towers[n_towers++];
        snprintf(t->name, sizeof t->name, "%s", it->string);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "depths");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(it, "dims");
        for (int i = 0; i < 4; i++) {
            const cJSON *di = cJSON_GetArrayItem(d, i), *wi = cJSON_GetArrayItem(w, i);
            t->depths[i] = cJSON_IsNumber(di) ? di->valueint : -1;
            t->dims[i] = cJSON_IsNumber(wi) ? wi->valueint : -1;
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(it, "eps");
        t->eps = cJSON_IsNumber(e) ? (float)e->valuedouble : 0;
        oclip_error err;
        CHECKF(oc_convnext_register(t, &err) == OCLIP_OK, "%s: %s", t->name, err.msg);
    }
    CHECKF(n_towers == 2, "%d test towers in manifest.json", n_towers);
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
    size_t jlen = 0;
    unsigned char *jtext = read_file(path, &jlen);
    cJSON *ej = jtext ? cJSON_ParseWithLength((const char *)jtext, jlen) : NULL;
    free(jtext);
    if (!ex || !m || !ej) {
        oclip_checkpoint_free(ex);
        oclip_model_free(m);
        cJSON_Delete(ej);
        return;
    }
    CHECKF(oclip_model_config_of(m)->family == OCLIP_FAMILY_TIMM && m->vis.cnx, "%s: family",
           variant);
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant);

    /* stages of the first image, pooled of all */
    static const char *const names[] = {"stem", "stage0", "stage1", "stage2", "stage3", "pooled"};
    float *want[6], *got[6];
    size_t cnt[6];
    for (int s = 0; s < 6; s++) {
        want[s] = expect_f32(ex, names[s], &cnt[s]);
        got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
    }
    float *out = calloc(n_img * E, sizeof(float)), *out3 = calloc(n_img * E, sizeof(float));
    float *raw = expect_f32(ex, "img_pooled", NULL);
    float *feat = expect_f32(ex, "img_features", NULL);
    oc_stages st = {.rn_stem = got[0], .rn_layer = {got[1], got[2], got[3], got[4]}};
    CHECKF(oc_convnext_forward(m, pixels, 1, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
           err.msg);
    for (int s = 0; s < 5; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
    st = (oc_stages){.pooled = got[5]};
    CHECKF(oc_convnext_forward(m, pixels, n_img, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
           err.msg);
    compare(names[5], variant, got[5], want[5], cnt[5]);
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

    /* oclip convert: the OpenCLIP layout in f16 gives the fp16-rounded model (within 1e-2 of
     * the fp32 features, not bitwise theirs); transformers' CLIPModel cannot hold the tower */
    {
        oclip_convert_options co;
        oclip_convert_options_default(&co);
        co.dtype = OCLIP_DTYPE_F16;
        char tmp[] = "/tmp/oclip_cnx_XXXXXX";
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
        CHECKF(oclip_convert(m->report, "/tmp/oclip_cnx_never/", &co, &err) ==
                   OCLIP_E_UNSUPPORTED && strstr(err.msg, "timm image tower"),
               "%s --to hf: %s", variant, err.msg);
    }

    /* the trunk's eps is in the comparison: the other eps is far off */
    const char *tname = oclip_model_config_of(m)->vision.timm_model_name;
    for (int i = 0; i < n_towers; i++) {
        if (strcmp(towers[i].name, tname)) continue;
        oc_convnext_tower t = towers[i];
        t.eps = t.eps == 1e-6f ? 1e-5f : 1e-6f;
        CHECK(oc_convnext_register(&t, &err) == OCLIP_OK);
        oclip_model *me = load(dir, &err);
        CHECKF(me != NULL, "%s: %s", variant, err.msg);
        if (me) {
            CHECK(oclip_encode_image(me, pixels, n_img, out3, 1, &err) == OCLIP_OK);
            double d = max_abs(out3, feat, n_img * E);
            CHECKF(d > 1e-3, "%s: eps %g gives features within %.3g", variant, (double)t.eps, d);
        }
        oclip_model_free(me);
        CHECK(oc_convnext_register(&towers[i], &err) == OCLIP_OK);
    }

    for (int s = 0; s < 6; s++) free(want[s]), free(got[s]);
    free(out), free(out3), free(raw), free(feat), free(pixels), free(texts), free(txt);
    free(logits), free(txt_want), free(logits_want);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
    cJSON_Delete(ej);
}

/* every built-in ConvNeXt config is computed; what OpenCLIP builds differently is refused */
static void test_configs(void) {
    static const char *const ok[] = {"convnext_base", "convnext_base_w", "convnext_base_w_320",
                                     "convnext_large", "convnext_large_d", "convnext_large_d_320",
                                     "convnext_small", "convnext_tiny", "convnext_xlarge",
                                     "convnext_xxlarge", "convnext_xxlarge_320"};
    oclip_error err;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        oclip_model_config c;
        CHECKF(oclip_config_builtin(ok[i], &c, &err) == OCLIP_OK, "%s: %s", ok[i], err.msg);
        CHECKF(oc_model_unsupported(&c) == NULL, "%s: %s", ok[i], oc_model_unsupported(&c));
        oc_convnext_geom g;
        CHECK(oc_convnext_unsupported(&c, &g) == NULL);
        CHECKF(g.eps == (strstr(ok[i], "xxlarge") ? 1e-5f : 1e-6f), "%s eps %g", ok[i],
               (double)g.eps);
        CHECKF(g.mlp == (strstr(ok[i], "_d") != NULL), "%s head", ok[i]);
    }
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"timm_model_name\": \"convnext_base\", "
         "\"timm_pool\": \"abs_attn\", \"timm_proj\": \"linear\", \"image_size\": 64}, "
         "\"text_cfg\": {}}", "timm_pool"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"timm_model_name\": \"convnext_base\", "
         "\"timm_pool\": \"\", \"timm_proj\": \"none\", \"image_size\": 64}, "
         "\"text_cfg\": {}}", "timm_proj"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"timm_model_name\": \"convnext_base\", "
         "\"timm_pool\": \"\", \"timm_proj\": \"linear\", \"image_size\": 16}, "
         "\"text_cfg\": {}}", "image_size"},
        {"{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": {\"timm_model_name\": "
         "\"convnext_base\", \"timm_pool\": \"\", \"timm_proj\": \"linear\", \"image_size\": 64}, "
         "\"text_cfg\": {}}", "custom_text"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"timm_model_name\": \"convnextv2_base\", "
         "\"timm_pool\": \"\", \"timm_proj\": \"linear\", \"image_size\": 64}, "
         "\"text_cfg\": {}}", "timm image tower"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        oclip_model_config c;
        CHECKF(oclip_config_parse(bad[i].json, strlen(bad[i].json), &c, &err) == OCLIP_OK, "%s",
               err.msg);
        const char *why = oc_model_unsupported(&c);
        CHECKF(c.family == OCLIP_FAMILY_TIMM && why && strstr(why, bad[i].why), "%zu: %s", i,
               why ? why : "(accepted)");
    }
    /* the weights under the other head's config: refused at load, the report names the keys */
    oclip_model_options o;
    oclip_model_options_default(&o);
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.config_file = FIX "/large_d_tiny/open_clip_config.json";
    o.source = &so;
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FIX "/base_w_tiny/open_clip_model.safetensors", &o, &m, &err);
    CHECKF(s != OCLIP_OK && !m, "base_w_tiny weights under large_d_tiny's config: %s",
           s ? err.msg : "loaded");
    oclip_model_free(m);
}

int main(void) {
    register_test_towers();
    test_configs();
    test_variant("base_w_tiny");
    test_variant("large_d_tiny");
    fprintf(stderr, "test_convnext: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_convnext");
}
