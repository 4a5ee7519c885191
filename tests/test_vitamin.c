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
#include "model/arch.h"
#include "model/vitamin.h"
#include "nn/engine.h"
#include "tower_test.h"

#define FIX "tests/fixtures/vitamin"

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

/* every block weight packed in dt */
static void vitamin_packed(const oclip_model *m, oclip_dtype dt, const char *variant) {
    oc_weight *w[64];
    size_t nw = oc_vitamin_weights(m->vis.vitamin, NULL);
    CHECKF(nw > 0 && nw <= 64, "%s: %zu block weights", variant, nw);
    if (nw <= 64) oc_vitamin_weights(m->vis.vitamin, w);
    for (size_t i = 0; i < nw && nw <= 64; i++)
        CHECKF(w[i]->packed && w[i]->pdtype == dt, "%s: dtype %d: block weight %zu not "
               "packed (%d)", variant, (int)dt, i, (int)w[i]->pdtype);
}

static void test_variant(const char *variant) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    oclip_model *m = tower_load(dir, OCLIP_DTYPE_KEEP, &err);
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
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant, 5, false);

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
    float *out = calloc(n_img * E, sizeof(float));
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

    check_paths(dir, variant, pixels, n_img, E, raw);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    compare("img_features", variant, out, feat, n_img * E);
    check_distinct(out, n_img, E, 0.99, variant);
    check_text_strings(m, ex, ej, variant, out, n_img);
    check_weight_dtypes(dir, variant, pixels, n_img, feat, vitamin_packed);
    check_convert_f16(m, variant, "oclip_vitamin", pixels, n_img, feat);

    for (int s = 0; s < NS; s++) free(want[s]), free(got[s]);
    free(out), free(raw), free(feat), free(pixels);
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
        check_state_dict(cfgj->string, cfgj);
        n_cfg++;
    }
    CHECKF(n_cfg == 15, "%d ViTamin configs in real_shapes.json", n_cfg);
    /* a zero-sized text tower is refused, not expected with empty shapes */
    {
        oclip_model_config c;
        CHECK(oclip_config_builtin("ViTamin-S", &c, NULL) == OCLIP_OK);
        c.text.width = 0;
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECK(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_E_ARG);
        oc_arena_free(&a);
    }
    cJSON_Delete(real);

    static const config_refusal bad[] = {
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
    check_config_refusals(bad, sizeof bad / sizeof *bad, OCLIP_FAMILY_TIMM);
    /* no pos_embed (xlarge): any image size runs, as OpenCLIP's ViTamin-XL-384 at 256 */
    const char *xl = "{\"embed_dim\": 16, \"custom_text\": true, \"vision_cfg\": "
                     "{\"timm_model_name\": \"vitamin_xlarge_384\", \"timm_pool\": \"\", "
                     "\"timm_proj\": \"linear\", \"image_size\": 320}, \"text_cfg\": {}}";
    oclip_model_config c;
    CHECK(oclip_config_parse(xl, strlen(xl), &c, &err) == OCLIP_OK);
    CHECKF(oc_model_unsupported(&c) == NULL, "xlarge at 320: %s", oc_model_unsupported(&c));
    /* the other fixture's weights under this config: refused at load, by name */
    check_load_refused(FIX "/s_tiny/open_clip_model.safetensors",
                       FIX "/xl_tiny/open_clip_config.json",
                       "s_tiny weights under xl_tiny's config");
}

int main(void) {
    register_test_towers();
    test_configs();
    test_variant("s_tiny");
    test_variant("xl_tiny");
    fprintf(stderr, "test_vitamin: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_vitamin");
}
