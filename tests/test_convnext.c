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
#include "model/convnext.h"
#include "nn/engine.h"
#include "tower_test.h"

#define FIX "tests/fixtures/convnext"

static oclip_model *load(const char *spec, oclip_error *err) {
    return tower_load(spec, OCLIP_DTYPE_KEEP, err);
}

/* the generator's tiny trunks (manifest.json towers): depths, dims, eps */
static oc_convnext_tower towers[4];
static int n_towers;

static void register_test_towers(void) {
    cJSON *root = json_file(FIX "/manifest.json");
    CHECKF(root != NULL, "%s", FIX "/manifest.json");
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

static void test_variant(const char *variant) {
    char dir[256];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    tower_fixture f;
    oclip_error err;
    if (!tower_fixture_open(&f, dir)) {
        tower_fixture_close(&f);
        return;
    }
    oclip_checkpoint *ex = f.ex;
    oclip_model *m = f.m;
    cJSON *ej = f.ej;
    CHECKF(oclip_model_config_of(m)->family == OCLIP_FAMILY_TIMM && m->vis.cnx, "%s: family",
           variant);
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant, 5, false);

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

    check_paths(dir, variant, pixels, n_img, E, raw);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    compare("img_features", variant, out, feat, n_img * E);
    check_text_strings(m, ex, ej, variant, out, n_img);
    check_convert_f16(m, variant, "oclip_cnx", pixels, n_img, feat);

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
    free(out), free(out3), free(raw), free(feat), free(pixels);
    tower_fixture_close(&f);
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
    static const config_refusal bad[] = {
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
    check_config_refusals(bad, sizeof bad / sizeof *bad, OCLIP_FAMILY_TIMM);
    /* the weights under the other head's config: refused at load, the report names the keys */
    check_load_refused(FIX "/base_w_tiny/open_clip_model.safetensors",
                       FIX "/large_d_tiny/open_clip_config.json",
                       "base_w_tiny weights under large_d_tiny's config");
}

int main(void) {
    register_test_towers();
    test_configs();
    test_variant("base_w_tiny");
    test_variant("large_d_tiny");
    fprintf(stderr, "test_convnext: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_convnext");
}
