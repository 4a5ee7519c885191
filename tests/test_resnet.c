/*
 * test_resnet.c — OpenAI's ModifiedResNet image tower against OpenCLIP 3.3.0, on the two tiny
 * models of tests/fixtures/resnet/ (tools/fixtures_resnet.py: RN50's and RN50x4-quickgelu's
 * configs with the sizes shrunk, random weights, BatchNorm statistics calibrated and perturbed).
 * Per model, loaded from its hub-style folder (architecture from open_clip_config.json):
 *   - preprocessing with the folder's preprocess_cfg: the fixture's pixels bit for bit;
 *   - stages of the first image (NCHW): after the stem and after each of layer1..4;
 *   - encode_image raw (the attention pool's output) and normalized, encode_text from the
 *     prompts' strings (the model's tokenizer), logits;
 *   - every SIMD path this CPU has, and 1 vs 3 threads bit-identical;
 *   - the same weights inferred from shapes alone (no config) give the same features, and
 *     rn50_tiny's OpenAI-style TorchScript archive (openai.pt: fp16 convolutions, fp32 batch
 *     norms) OpenCLIP's features from it;
 *   - a ViT config over ResNet weights (and the reverse) is refused with a hint that says so.
 * Stages and features: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's own fp32 is ~1e-6
 * from fp64 here, expected.json fp32_vs_fp64).
 */
#include "nn/engine.h"
#include "tower_test.h"

#define FIX "tests/fixtures/resnet"

static oclip_model *load(const char *spec, const char *arch, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.arch = arch;
    if (arch) o.source = &so;
    oclip_model *m = NULL;
    return oclip_model_load(spec, &o, &m, err) == OCLIP_OK ? m : NULL;
}

/* encode_image(normalize=True) of the fixture's pixels by model m against img_features */
static void check_features(const oclip_model *m, const float *pixels, size_t n,
                           const float *want, const char *tag) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    float *out = calloc(n * E, sizeof(float));
    oclip_error err;
    CHECKF(oclip_encode_image(m, pixels, n, out, 1, &err) == OCLIP_OK, "%s: %s", tag, err.msg);
    compare("img_features", tag, out, want, n * E);
    free(out);
}

static void test_variant(const char *variant) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    tower_fixture fx;
    oclip_error err;
    if (!tower_fixture_open(&fx, dir)) {
        tower_fixture_close(&fx);
        return;
    }
    oclip_checkpoint *ex = fx.ex;
    oclip_model *m = fx.m;
    cJSON *ej = fx.ej;
    CHECKF(oclip_model_config_of(m)->family == OCLIP_FAMILY_RESNET, "%s: family", variant);
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant, 5, false);

    /* stages of the first image */
    static const char *const names[] = {"stem", "layer1", "layer2", "layer3", "layer4"};
    float *want[5], *got[5];
    size_t cnt[5];
    for (int s = 0; s < 5; s++) {
        want[s] = expect_f32(ex, names[s], &cnt[s]);
        got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
    }
    oc_stages st = {.rn_stem = got[0], .rn_layer = {got[1], got[2], got[3], got[4]}};
    float *out = calloc(n_img * E, sizeof(float));
    float *pooled = expect_f32(ex, "img_pooled", NULL);
    float *feat = expect_f32(ex, "img_features", NULL);
    CHECKF(oc_resnet_forward(m, pixels, 1, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
           err.msg);
    for (int s = 0; s < 5; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
    compare("img_pooled (first image)", variant, out, pooled, E);

    check_paths(dir, variant, pixels, n_img, E, pooled);
    check_features(m, pixels, n_img, feat, variant);
    float *img = calloc(n_img * E, sizeof(float));
    CHECK(oclip_encode_image(m, pixels, n_img, img, 1, &err) == OCLIP_OK);
    check_text_strings(m, ex, ej, variant, img, n_img);
    free(img);

    /* the weights alone: the architecture inferred from shapes */
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    oclip_model *mi = load(path, NULL, &err);
    CHECKF(mi != NULL, "%s inferred: %s", variant, err.msg);
    if (mi) {
        const oclip_model_config *c = oclip_model_config_of(mi);
        const oclip_model_config *want_c = oclip_model_config_of(m);
        CHECKF(c->family == OCLIP_FAMILY_RESNET && c->vision.width == want_c->vision.width &&
                   !memcmp(c->vision.resnet_layers, want_c->vision.resnet_layers,
                           sizeof c->vision.resnet_layers) &&
                   c->vision.image_size[0] == want_c->vision.image_size[0] &&
                   c->embed_dim == want_c->embed_dim,
               "%s: inferred width %d layers [%d %d %d %d] image %d", variant, c->vision.width,
               c->vision.resnet_layers[0], c->vision.resnet_layers[1], c->vision.resnet_layers[2],
               c->vision.resnet_layers[3], c->vision.image_size[0]);
        check_features(mi, pixels, n_img, feat, "inferred");
        oclip_model_free(mi);
    }
    snprintf(path, sizeof path, "%s/openai.pt", dir);
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        oclip_model *mo = load(path, NULL, &err);
        CHECKF(mo != NULL, "%s: %s", path, err.msg);
        float *oai = expect_f32(ex, "openai_img_features", NULL);
        if (mo && oai) {
            /* fp16 convolutions and fp32 batch norms, as OpenAI's archives; OpenAI archives run
             * QuickGELU (check.c): only the image tower is compared */
            check_features(mo, pixels, n_img, oai, "openai.pt");
            /* the fp16 rounding is visible: the comparison above is not the fp32 model's */
            double d = 0;
            for (size_t i = 0; i < n_img * E; i++) d = fmax(d, fabs(oai[i] - feat[i]));
            CHECKF(d > 1e-4, "openai.pt features within %.3g of the fp32 model's", d);
        }
        oclip_model_free(mo);
        free(oai);
    }

    for (int s = 0; s < 5; s++) free(want[s]), free(got[s]);
    free(out), free(pooled), free(feat), free(pixels);
    tower_fixture_close(&fx);
}

/* A ViT architecture over ResNet weights and the reverse: refused, and the report says which
 * image tower the file has */
static void test_mismatch(void) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    CHECK(oclip_checkpoint_open(FIX "/rn50_tiny/open_clip_model.safetensors", NULL, &ck, &err) ==
          OCLIP_OK);
    oclip_model_config vit, rn;
    CHECK(oclip_config_builtin("ViT-B-32", &vit, &err) == OCLIP_OK);
    CHECK(oclip_config_builtin("RN50", &rn, &err) == OCLIP_OK);
    CHECK(rn.family == OCLIP_FAMILY_RESNET);
    oclip_check_options o;
    oclip_check_options_default(&o);
    o.config = &vit;
    oclip_report *r = NULL;
    CHECKF(oclip_check(ck, &o, &r, &err) == OCLIP_OK, "%s", err.msg);
    int said = 0, described = 0;
    for (size_t i = 0; r && i < oclip_report_n_notes(r); i++) {
        said |= strstr(oclip_report_note(r, i), "file's image tower is a ModifiedResNet") != NULL;
        described |= strstr(oclip_report_note(r, i), "layers [2, 1, 1, 2]") != NULL;
    }
    CHECKF(r && !oclip_report_ok(r) && said && described,
           "ResNet weights under ViT-B-32: the notes say what the file holds");
    oclip_report_free(r);
    /* RN50 (full size) over the tiny weights: shape issues, not a crash */
    o.config = &rn;
    CHECK(oclip_check(ck, &o, &r, &err) == OCLIP_OK && !oclip_report_ok(r));
    oclip_report_free(r);
    oclip_checkpoint_free(ck);
    /* loading them as RN50 is refused with the report's first problems and the way to see all */
    oclip_model *m = load(FIX "/rn50_tiny/open_clip_model.safetensors", "RN50", &err);
    CHECKF(!m && err.code == OCLIP_E_MISMATCH && strstr(err.msg, "does not fit architecture RN50") &&
               strstr(err.msg, "oclip check"),
           "%s", err.msg);
    oclip_model_free(m);
    /* a ViT file under RN50 */
    CHECK(oclip_checkpoint_open("tests/fixtures/e2e/open_clip_model.safetensors", NULL, &ck,
                                &err) == OCLIP_OK);
    CHECK(oclip_check(ck, &o, &r, &err) == OCLIP_OK);
    said = 0;
    for (size_t i = 0; r && i < oclip_report_n_notes(r); i++)
        said |= strstr(oclip_report_note(r, i), "file's image tower is a ViT, the architecture's "
                       "a ModifiedResNet") != NULL;
    CHECKF(r && !oclip_report_ok(r) && said, "ViT weights under RN50: the notes say so");
    oclip_report_free(r);
    oclip_checkpoint_free(ck);
    /* every built-in RN config is computed (its expected state dict builds) */
    static const char *const rns[] = {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64",
                                      "RN50-quickgelu"};
    for (size_t i = 0; i < sizeof rns / sizeof *rns; i++) {
        oclip_model_config c;
        CHECK(oclip_config_builtin(rns[i], &c, &err) == OCLIP_OK);
        CHECKF(oc_model_unsupported(&c) == NULL, "%s: %s", rns[i], oc_model_unsupported(&c));
    }
}

/* configs OpenCLIP would fail on are refused by name; the config writes back as OpenCLIP reads it */
static void test_configs(void) {
    static const config_refusal bad[] = {
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 63, \"layers\": [1, 1, 1, 1], "
         "\"width\": 8, \"patch_size\": null}, \"text_cfg\": {}}", "feature grid"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": [64, 96], \"layers\": [1, 1, 1, 1], "
         "\"width\": 8, \"patch_size\": null}, \"text_cfg\": {}}", "non-square"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 64, \"layers\": [1, 1, 1, 1], "
         "\"width\": 7, \"patch_size\": null}, \"text_cfg\": {}}", "width not even"},
        {"{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 64, \"layers\": [1, 1, 1, 1], "
         "\"width\": 8, \"head_width\": 48, \"patch_size\": null}, \"text_cfg\": {}}", "head_width"},
    };
    check_config_refusals(bad, sizeof bad / sizeof *bad, OCLIP_FAMILY_RESNET);
    oclip_model_config rn, back;
    oclip_error err;
    CHECK(oclip_config_builtin("RN50x16", &rn, &err) == OCLIP_OK);
    char *json = oclip_config_to_json(&rn);
    CHECK(json && oclip_config_parse(json, strlen(json), &back, &err) == OCLIP_OK);
    CHECKF(back.family == OCLIP_FAMILY_RESNET && back.vision.resnet_layers[2] == 18 &&
               back.vision.image_size[0] == 384 && back.vision.width == 96,
           "RN50x16 written back: %s", json ? json : "(null)");
    oclip_free(json);
}

int main(void) {
    test_configs();
    test_variant("rn50_tiny");
    test_variant("rn50x4_tiny");
    test_mismatch();
    fprintf(stderr, "test_resnet: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_resnet");
}
