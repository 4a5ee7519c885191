/*
 * test_siglip.c — SigLIP / SigLIP 2 (CustomTextCLIP with a timm SigLIP image tower) against
 * OpenCLIP 3.3.0, on the four tiny models of tests/fixtures/siglip/ (tools/fixtures_siglip.py
 * tiny; docs/SIGLIP.md section 10). The tiny image towers are timm models the generator
 * registered under test names; they are registered here from its manifest.json. Per model:
 *   - preprocessing with the folder's preprocess_cfg (squash, mean/std 0.5): the fixture's
 *     pixels bit for bit;
 *   - image stages: patch embedding + pos_embed, after block 0, after trunk.norm, the MAP pool's
 *     attention and LayerNorm, the pooled feature; text stages: embedding, after block 0, after
 *     the last block, ln_final at position L-1 (tokens: the fixture's, from the model's HF
 *     tokenizer);
 *   - encode_image / encode_text raw and normalized, logits exp(s) cos + b, sigmoid probabilities
 *     (oclip_logits, and oclip_zero_shot_probs over the text features as classes);
 *   - the model loads, so its weights passed oclip check against the expected SigLIP state
 *     dict; other timm towers and SigLIP configs with other heads stay refused.
 * Stages and features: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's own fp32 is ~5e-6 from
 * fp64 here, expected.json fp32_vs_fp64).
 */
#include "model/arch.h"
#include "nn/engine.h"
#include "tower_test.h"

#define FIX "tests/fixtures/siglip"
#define TOL_FEAT 2e-5  /* features, logits, probabilities (measured <= 7e-6); stages: TOL */

static const char *const variants[] = {"siglip_b16", "siglip_so400m14_384", "siglip2_so400m16",
                                       "siglip_i18n_noproj"};

/* the worst per model into *a / *c */
#define compare_stage(what, tag, got, want, n, a, c) compare_tol(what, tag, got, want, n, TOL, a, c)
#define compare_feat(what, tag, got, want, n, a, c)                                              \
    compare_tol(what, tag, got, want, n, TOL_FEAT, a, c)

/* The generator's tiny timm towers (manifest.json timm_test_models) are named in the fixtures'
 * configs as "local-dir:tests/fixtures/siglip/timm/<name>", a folder holding the config.json
 * timm's save_config_for_hf wrote: oclip must read from it the sizes the generator built the
 * tower with (its args, in timm's own terms; mlp_ratio default 4, act_layer default exact GELU). */
static void test_timm_sources(void) {
    cJSON *root = json_file(FIX "/manifest.json");
    CHECKF(root != NULL, "%s", FIX "/manifest.json");
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "timm_test_models"), *it;
    int n = 0;
    cJSON_ArrayForEach(it, models) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "args");
#define NUM(key, def)                                                                            \
    (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, key))                                    \
         ? cJSON_GetObjectItemCaseSensitive(a, key)->valuedouble : (def))
        char name[160];
        snprintf(name, sizeof name, "local-dir:" FIX "/timm/%s", it->string);
        oc_timm_tower t = {0};
        CHECKF(oc_timm_tower_find(name, &t), "%s not found", name);
        int width = (int)NUM("embed_dim", 0);
        CHECKF(t.img == (int)NUM("img_size", 0) && t.patch == (int)NUM("patch_size", 0) &&
                   t.width == width && t.depth == (int)NUM("depth", 0) &&
                   t.heads == (int)NUM("num_heads", 0) &&
                   t.mlp == (int)(width * NUM("mlp_ratio", 4.0)) && !strcmp(t.name, name),
               "%s: img %d patch %d width %d depth %d heads %d mlp %d", name, t.img, t.patch,
               t.width, t.depth, t.heads, t.mlp);
#undef NUM
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(a, "act_layer");
        CHECKF(t.gelu_tanh == (cJSON_IsString(act) && !strcmp(act->valuestring, "gelu_tanh")),
               "%s: gelu_tanh %d", name, t.gelu_tanh);
        n++;
    }
    CHECKF(n == 4, "%d test towers in manifest.json", n);
    cJSON_Delete(root);

    /* hostile or unsupported tower configs are refused by name, never guessed */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"", "missing or unreadable"},
        {"[1]", "not a JSON object"},
        {"{\"model_args\":{}}", "no \"architecture\""},
        {"{\"architecture\":\"vit_base_patch16_224\"}", "not one of timm's SigLIP ViTs"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"qk_norm\":true}}",
         "model_args.qk_norm not supported"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"class_token\":true}}",
         "class_token must be false"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"img_size\":[32,48]}}",
         "img_size is not a positive integer"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"img_size\":32,"
         "\"act_layer\":\"relu\"}}", "act_layer is not"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"img_size\":32,"
         "\"embed_dim\":50,\"num_heads\":4}}", "inconsistent sizes"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{\"img_size\":32,"
         "\"in_chans\":1}}", "in_chans is not 3"},
        {"{\"architecture\":\"vit_base_patch16_siglip_224\",\"model_args\":{}}",
         "no model_args.img_size and no fixed input_size"},
    };
    char dir[] = "/tmp/oclip_timm_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char file[300], spec[300];
    snprintf(file, sizeof file, "%s/config.json", dir);
    snprintf(spec, sizeof spec, "local-dir:%s", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        remove(file);
        if (bad[i].json[0]) {
            FILE *f = fopen(file, "w");
            fputs(bad[i].json, f);
            fclose(f);
        }
        char cfg[600];
        snprintf(cfg, sizeof cfg,
                 "{\"embed_dim\":48,\"custom_text\":true,\"vision_cfg\":{\"image_size\":32,"
                 "\"timm_model_name\":\"%s\",\"timm_pool\":\"map\",\"timm_proj\":\"none\"},"
                 "\"text_cfg\":{}}", spec);
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_parse(cfg, strlen(cfg), &c, &err) == OCLIP_OK, "bad %zu: %s", i,
               err.msg);
        const char *why = oc_arch_unsupported(&c);
        CHECKF(why && strstr(why, bad[i].why), "bad %zu: %s", i, why ? why : "(accepted)");
        CHECKF(!oc_timm_tower_find(spec, NULL), "bad %zu found", i);
    }
    /* the same folder with a valid config is accepted: the refusals above are the fields' */
    FILE *f = fopen(file, "w");
    fputs("{\"architecture\":\"vit_so400m_patch16_siglip_256\",\"model_args\":{\"img_size\":[32,32],"
          "\"embed_dim\":48,\"depth\":1,\"num_heads\":2,\"num_classes\":0,\"in_chans\":3}}", f);
    fclose(f);
    oc_timm_tower t;
    CHECK(oc_timm_tower_find(spec, &t) && t.img == 32 && t.width == 48 && t.heads == 2 &&
          t.patch == 16 && t.mlp == 179 && t.gelu_tanh == 1 && t.depth == 1);
    /* once read, a name keeps its tower: validation and binding must agree on the sizes even
     * when the file changes in between */
    f = fopen(file, "w");
    fputs("{\"architecture\":\"vit_so400m_patch16_siglip_256\",\"model_args\":{\"img_size\":32,"
          "\"embed_dim\":64,\"depth\":1,\"num_heads\":2}}", f);
    fclose(f);
    CHECK(oc_timm_tower_find(spec, &t) && t.width == 48);
    remove(file);
    rmdir(dir);
    CHECK(!oc_timm_tower_find("hf-hub:oclip-none/not-cached", NULL));
    CHECK(!oc_timm_tower_find("hf-hub:../x", NULL));
}

/* the model's preprocess_cfg is SigLIP's (squash, mean / std 0.5), and gives the fixture's
 * pixels bit for bit */
static void check_siglip_preprocess(const oclip_model *m, const cJSON *images, const float *want,
                                    const char *tag) {
    const oclip_preprocess_cfg *pre = oclip_model_preprocess(m);
    CHECKF(!strcmp(pre->resize_mode, "squash") && pre->mean[0] == 0.5 && pre->std[2] == 0.5,
           "%s: preprocess_cfg %s mean %g std %g", tag, pre->resize_mode, pre->mean[0],
           pre->std[2]);
    check_preprocess(m, images, want, tag, 5, false);
}

static void test_variant(const char *variant) {
    char dir[256];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    tower_fixture f;
    oclip_error err;
    if (!tower_fixture_open(&f, dir)) {
        CHECKF(0, "%s: fixture or model missing", variant);
        tower_fixture_close(&f);
        return;
    }
    oclip_checkpoint *ex = f.ex;
    oclip_model *m = f.m;
    cJSON *ej = f.ej;
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0];
    size_t E = (size_t)oclip_model_embed_dim(m), L = (size_t)oclip_model_context_length(m);
    CHECKF(tt->ndim == 2 && (size_t)tt->shape[1] == L && tt->dtype == OCLIP_DTYPE_I64,
           "%s: tokens [%lld, %lld] for context %zu", variant, (long long)tt->shape[0],
           (long long)tt->shape[1], L);
    float *pixels = expect_f32(ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    double abs_s = 0, cos_s = 1, abs_f = 0, cos_f = 1;

    check_siglip_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant);

    /* image stages over the first 2 images */
    {
        static const char *const names[] = {"img_embed", "img_block_0", "img_final_norm",
                                            "img_pool_attn", "img_pool_ln", "img_pooled"};
        float *want[6], *got[6];
        size_t cnt[6];
        for (int s = 0; s < 6; s++) {
            want[s] = expect_f32(ex, names[s], &cnt[s]);
            got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
        }
        size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(ej, "stage_images")->valueint;
        CHECK(n == 2 && cnt[5] == 5 * E);
        oc_stages st = {.embed = got[0], .block0 = got[1], .last = got[2], .pooled = NULL,
                        .pool_attn = got[3], .pool_ln = got[4]};
        float *out = calloc(n * E, sizeof(float));
        CHECKF(oc_vit_forward(m, pixels, n, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
               err.msg);
        for (int s = 0; s < 5; s++)
            compare_stage(names[s], variant, got[s], want[s], cnt[s], &abs_s, &cos_s);
        compare_stage("img_pooled (stage pass)", variant, out, want[5], n * E, &abs_s, &cos_s);
        free(out);
        /* all 5 images: raw and normalized */
        out = calloc(n_img * E, sizeof(float));
        CHECKF(oclip_encode_image(m, pixels, n_img, out, 0, &err) == OCLIP_OK, "%s", err.msg);
        compare_feat("img_pooled", variant, out, want[5], n_img * E, &abs_f, &cos_f);
        free(out);
        for (int s = 0; s < 6; s++) free(want[s]), free(got[s]);
    }
    /* text stages over the first 4 prompts */
    {
        static const char *const names[] = {"txt_embed", "txt_block_0", "txt_block_last",
                                            "txt_pooled"};
        float *want[4], *got[4];
        size_t cnt[4];
        int layers = oclip_model_config_of(m)->text.layers;
        char last[32];
        snprintf(last, sizeof last, "txt_block_%d", layers - 1);
        for (int s = 0; s < 4; s++) {
            want[s] = expect_f32(ex, s == 2 ? last : names[s], &cnt[s]);
            got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
        }
        size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(ej, "stage_prompts")->valueint;
        CHECK(n == 4);
        oc_stages st = {got[0], got[1], got[2], got[3], NULL, NULL, NULL, {NULL}};
        float *out = calloc(n * E, sizeof(float));
        CHECKF(oc_txt_forward(m, tokens, n, out, &st, 0, &err) == OCLIP_OK, "%s: %s", variant,
               err.msg);
        for (int s = 0; s < 4; s++)
            compare_stage(names[s], variant, got[s], want[s], cnt[s], &abs_s, &cos_s);
        free(out);
        for (int s = 0; s < 4; s++) free(want[s]), free(got[s]);
    }
    /* features, logits, probabilities */
    float *img = calloc(n_img * E, sizeof(float)), *txt = calloc(n_txt * E, sizeof(float));
    float *raw = calloc(n_txt * E, sizeof(float));
    float *logits = calloc(n_img * n_txt, sizeof(float)), *probs = calloc(n_img * n_txt, 4);
    CHECKF(oclip_encode_image(m, pixels, n_img, img, 1, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_encode_text(m, tokens, n_txt, raw, 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_encode_text(m, tokens, n_txt, txt, 1, &err) == OCLIP_OK, "%s", err.msg);
    float *w_img = expect_f32(ex, "img_features", NULL), *w_txt = expect_f32(ex, "txt_features", NULL);
    float *w_raw = expect_f32(ex, "txt_raw", NULL), *w_log = expect_f32(ex, "logits", NULL);
    float *w_prob = expect_f32(ex, "probs", NULL);
    compare_feat("img_features", variant, img, w_img, n_img * E, &abs_f, &cos_f);
    compare_feat("txt_raw", variant, raw, w_raw, n_txt * E, &abs_f, &cos_f);
    compare_feat("txt_features", variant, txt, w_txt, n_txt * E, &abs_f, &cos_f);
    /* the prompts as strings: the model's own tokenizer (tokenizer.json + tokenizer_config.json
     * in the folder, tokenizer_kwargs of the config) gives OpenCLIP's ids, and the features */
    {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(ej, "prompts");
        CHECK((size_t)cJSON_GetArraySize(pr) == n_txt);
        const char **texts = calloc(n_txt, sizeof *texts);
        for (size_t i = 0; i < n_txt; i++) {
            const cJSON *t = cJSON_GetArrayItem(pr, (int)i);
            texts[i] = cJSON_IsString(t) ? t->valuestring : "";
        }
        int64_t *ids = calloc(n_txt * L, sizeof *ids);
        CHECKF(oclip_model_tokenize(m, texts, NULL, n_txt, ids, &err) == OCLIP_OK, "%s: %s",
               variant, err.msg);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n_txt * L; i++)
            if (ids[i] != tokens[i] && !bad++) first = i;
        CHECKF(bad == 0, "%s: %zu token ids differ from OpenCLIP's, first in prompt %zu ('%s')",
               variant, bad, first / L, texts[first / L]);
        float *fs = calloc(n_txt * E, sizeof(float));
        CHECKF(oclip_encode_text_strings(m, texts, NULL, n_txt, fs, 1, &err) == OCLIP_OK, "%s",
               err.msg);
        compare_feat("txt_features (strings)", variant, fs, w_txt, n_txt * E, &abs_f, &cos_f);
        free(fs);
        free(ids);
        free(texts);
    }
    /* logit_scale and logit_bias as stored (0-d) */
    float ls = 0, lb = 0;
    oc_load_f32(&ls, oclip_checkpoint_find(ex, "logit_scale")->data, OCLIP_DTYPE_F32, 0, 1);
    oc_load_f32(&lb, oclip_checkpoint_find(ex, "logit_bias")->data, OCLIP_DTYPE_F32, 0, 1);
    CHECKF(oclip_model_logit_scale(m) == ls && oclip_model_logit_bias(m) == lb,
           "%s: logit scale %g bias %g, want %g %g", variant, oclip_model_logit_scale(m),
           oclip_model_logit_bias(m), ls, lb);
    CHECK(oclip_model_has_logit_bias(m) == 1);
    CHECKF(oclip_logits(m, img, n_img, txt, n_txt, logits, &err) == OCLIP_OK, "%s", err.msg);
    double abs_l = 0, cos_l = 1;
    compare_feat("logits", variant, logits, w_log, n_img * n_txt, &abs_l, &cos_l);
    /* zero-shot with the text features as the classes: independent sigmoids */
    CHECKF(oclip_zero_shot_probs(m, img, n_img, txt, n_txt, probs, &err) == OCLIP_OK, "%s",
           err.msg);
    double abs_p = 0, cos_p = 1;
    compare_feat("probs (zero-shot sigmoid)", variant, probs, w_prob, n_img * n_txt, &abs_p, &cos_p);
    fprintf(stderr, "%-20s stages max-abs %.3g 1-cos %.2g | features max-abs %.3g 1-cos %.2g | "
                    "logits %.3g | probs %.3g\n", variant, abs_s, 1 - cos_s, abs_f, 1 - cos_f, abs_l, abs_p);
    free(img), free(txt), free(raw), free(logits), free(probs);
    free(w_img), free(w_txt), free(w_raw), free(w_log), free(w_prob);

    free(pixels);
    free(tokens);
    tower_fixture_close(&f);
}

/* oclip convert of a SigLIP folder to one OpenCLIP .safetensors file (its config in the
 * metadata: the timm tower, custom_text) loads again and computes the same bytes. */
static void test_convert_roundtrip(const char *variant) {
    char dir[256], out[] = "/tmp/oclip_siglip_XXXXXX", file[64];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    CHECK(mkdtemp(out) != NULL);
    snprintf(file, sizeof file, "%s/m.safetensors", out);
    oclip_error err;
    oclip_source *src = NULL;
    oclip_report *r = NULL;
    CHECKF(oclip_source_resolve(dir, NULL, &src, &err) == OCLIP_OK &&
               oclip_source_check(src, 0, &r, &err) == OCLIP_OK && oclip_report_ok(r),
           "%s: %s", variant, err.msg);
    oclip_convert_options co;
    oclip_convert_options_default(&co);
    co.preprocess = oclip_source_preprocess(src);
    CHECKF(r && oclip_convert(r, file, &co, &err) == OCLIP_OK, "convert %s: %s", variant, err.msg);
    oclip_report_free(r);
    oclip_source_free(src);
    oclip_model *a = NULL, *b = NULL;
    CHECKF(oclip_model_load(dir, NULL, &a, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_model_load(file, NULL, &b, &err) == OCLIP_OK, "converted: %s", err.msg);
    if (a && b) {
        size_t E = (size_t)oclip_model_embed_dim(a), L = (size_t)oclip_model_context_length(a);
        int h, w;
        oclip_model_image_size(a, &h, &w);
        float *px = calloc((size_t)3 * h * w, sizeof(float)), ea[2][64], eb[2][64];
        for (size_t i = 0; i < (size_t)3 * h * w; i++) px[i] = (float)((i * 37) % 101) / 50.0f - 1;
        int64_t *tok = calloc(L, sizeof *tok);
        for (size_t i = 0; i < L; i++) tok[i] = (int64_t)((i * 7 + 3) % 50);
        CHECK(E <= 64 && oclip_model_embed_dim(b) == (int)E);
        CHECK(oclip_encode_image(a, px, 1, ea[0], 1, &err) == OCLIP_OK &&
              oclip_encode_image(b, px, 1, eb[0], 1, &err) == OCLIP_OK);
        CHECK(oclip_encode_text(a, tok, 1, ea[1], 1, &err) == OCLIP_OK &&
              oclip_encode_text(b, tok, 1, eb[1], 1, &err) == OCLIP_OK);
        CHECKF(!memcmp(ea[0], eb[0], E * 4) && !memcmp(ea[1], eb[1], E * 4),
               "%s: converted file computes other bytes", variant);
        CHECK(oclip_model_logit_bias(a) == oclip_model_logit_bias(b) &&
              oclip_model_has_logit_bias(b));
        free(px);
        free(tok);
    }
    oclip_model_free(a);
    oclip_model_free(b);
    remove(file);
    rmdir(out);
}

/* The transformers SiglipModel twin (siglip2_so400m16/hf: config.json + model.safetensors that
 * the generator saved with transformers from the OpenCLIP model's weights): loaded as is, it
 * computes transformers' own outputs (hf/expected.safetensors); `convert --to hf` of the OpenCLIP
 * folder gives the same tensors byte for byte and an equivalent config.json; converting the twin
 * back to OpenCLIP's layout computes the same bytes. */
static void test_hf_siglip(void) {
    const char *dir = FIX "/siglip2_so400m16", *hfdir = FIX "/siglip2_so400m16/hf";
    char path[300];
    oclip_error err;
    oclip_checkpoint *ex = NULL, *hx = NULL;
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/expected.safetensors", hfdir);
    CHECKF(oclip_checkpoint_open(path, NULL, &hx, &err) == OCLIP_OK, "%s", err.msg);
    oclip_model *m = NULL;
    CHECKF(oclip_model_load(hfdir, NULL, &m, &err) == OCLIP_OK, "%s: %s", hfdir, err.msg);
    if (!ex || !hx || !m) {
        oclip_checkpoint_free(ex);
        oclip_checkpoint_free(hx);
        oclip_model_free(m);
        return;
    }
    size_t n_img = 0, n_tok = 0;
    float *px = expect_f32(ex, "pixels", NULL);
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t L = (size_t)oclip_model_context_length(m), E = (size_t)oclip_model_embed_dim(m);
    n_img = (size_t)oclip_checkpoint_find(ex, "pixels")->shape[0];
    n_tok = (size_t)tt->shape[0];
    CHECKF((size_t)tt->shape[1] == L, "context %zu", L);
    int64_t *tok = malloc(tt->nbytes);
    memcpy(tok, tt->data, tt->nbytes);
    float *img = calloc(n_img * E, 4), *txt = calloc(n_tok * E, 4), *imgn = calloc(n_img * E, 4),
          *txtn = calloc(n_tok * E, 4), *lg = calloc(n_img * n_tok, 4), *pr = calloc(n_img * n_tok, 4);
    CHECK(oclip_encode_image(m, px, n_img, img, 0, &err) == OCLIP_OK &&
          oclip_encode_image(m, px, n_img, imgn, 1, &err) == OCLIP_OK &&
          oclip_encode_text(m, tok, n_tok, txt, 0, &err) == OCLIP_OK &&
          oclip_encode_text(m, tok, n_tok, txtn, 1, &err) == OCLIP_OK &&
          oclip_logits(m, imgn, n_img, txtn, n_tok, lg, &err) == OCLIP_OK &&
          oclip_zero_shot_probs(m, imgn, n_img, txtn, n_tok, pr, &err) == OCLIP_OK);
    double a = 0, c = 1;
    float *w = expect_f32(hx, "img_pooled", NULL);
    compare_feat("hf img_pooled", "hf", img, w, n_img * E, &a, &c);
    free(w);
    compare_feat("hf txt_raw", "hf", txt, (w = expect_f32(hx, "txt_raw", NULL)), n_tok * E, &a, &c);
    free(w);
    compare_feat("hf logits", "hf", lg, (w = expect_f32(hx, "logits", NULL)), n_img * n_tok, &a, &c);
    free(w);
    compare_feat("hf probs", "hf", pr, (w = expect_f32(hx, "probs", NULL)), n_img * n_tok, &a, &c);
    free(w);
    fprintf(stderr, "hf SiglipModel twin: max-abs %.3g 1-cos %.2g\n", a, 1 - c);

    /* convert --to hf of the OpenCLIP folder: transformers' own tensors, byte for byte */
    char out[] = "/tmp/oclip_hfsig_XXXXXX", file[300];
    CHECK(mkdtemp(out) != NULL);
    oclip_source *src = NULL;
    oclip_report *r = NULL;
    CHECKF(oclip_source_resolve(dir, NULL, &src, &err) == OCLIP_OK &&
               oclip_source_check(src, 0, &r, &err) == OCLIP_OK && oclip_report_ok(r),
           "%s", err.msg);
    oclip_convert_options co;
    oclip_convert_options_default(&co);
    co.to = OCLIP_FORMAT_HF;
    snprintf(path, sizeof path, "%s/hf", out);
    CHECKF(r && oclip_convert(r, path, &co, &err) == OCLIP_OK, "convert --to hf: %s", err.msg);
    oclip_report_free(r);
    oclip_source_free(src);
    oclip_checkpoint *got = NULL, *want = NULL;
    snprintf(file, sizeof file, "%s/hf/model.safetensors", out);
    snprintf(path, sizeof path, "%s/model.safetensors", hfdir);
    CHECKF(oclip_checkpoint_open(file, NULL, &got, &err) == OCLIP_OK &&
               oclip_checkpoint_open(path, NULL, &want, &err) == OCLIP_OK, "%s", err.msg);
    if (got && want) {
        CHECKF(got->n_tensors == want->n_tensors, "%zu tensors, transformers saved %zu",
               got->n_tensors, want->n_tensors);
        for (size_t i = 0; i < want->n_tensors; i++) {
            const oclip_tensor *wt = &want->tensors[i], *gt = oclip_checkpoint_find(got, wt->name);
            CHECKF(gt && gt->ndim == wt->ndim && gt->nbytes == wt->nbytes &&
                       !memcmp(gt->shape, wt->shape, sizeof(int64_t) * (size_t)wt->ndim) &&
                       !memcmp(gt->data, wt->data, wt->nbytes),
                   "converted %s differs from transformers'", wt->name);
        }
    }
    oclip_checkpoint_free(got);
    oclip_checkpoint_free(want);
    /* the written config.json means the same model as transformers' */
    size_t la = 0, lb = 0;
    snprintf(file, sizeof file, "%s/hf/config.json", out);
    snprintf(path, sizeof path, "%s/config.json", hfdir);
    unsigned char *ta = read_file(file, &la), *tb = read_file(path, &lb);
    oclip_model_config ca, cb;
    CHECKF(ta && tb && oclip_config_from_hf((const char *)ta, la, &ca, &err) == OCLIP_OK &&
               oclip_config_from_hf((const char *)tb, lb, &cb, &err) == OCLIP_OK, "%s", err.msg);
    if (ta && tb) {
        char *ja = oclip_config_to_json(&ca), *jb = oclip_config_to_json(&cb);
        CHECKF(ja && jb && !strcmp(ja, jb), "configs differ:\n%s\n%s", ja, jb);
        oclip_free(ja);
        oclip_free(jb);
    }
    free(ta);
    free(tb);
    remove(file);
    snprintf(file, sizeof file, "%s/hf/model.safetensors", out);
    remove(file);
    snprintf(file, sizeof file, "%s/hf/open_clip_config.json", out);
    remove(file);
    snprintf(file, sizeof file, "%s/hf", out);
    rmdir(file);

    /* the twin converted to OpenCLIP's layout (one file, its config in the metadata) */
    snprintf(file, sizeof file, "%s/oc.safetensors", out);
    CHECKF(oclip_source_resolve(hfdir, NULL, &src, &err) == OCLIP_OK &&
               oclip_source_check(src, 0, &r, &err) == OCLIP_OK && oclip_report_ok(r),
           "%s", err.msg);
    oclip_convert_options_default(&co);
    co.preprocess = oclip_source_preprocess(src);
    CHECKF(r && oclip_convert(r, file, &co, &err) == OCLIP_OK, "convert hf -> open_clip: %s",
           err.msg);
    oclip_report_free(r);
    oclip_source_free(src);
    oclip_model *b = NULL;
    CHECKF(oclip_model_load(file, NULL, &b, &err) == OCLIP_OK, "%s", err.msg);
    if (b) {
        float *img2 = calloc(n_img * E, 4), *txt2 = calloc(n_tok * E, 4);
        CHECK(oclip_encode_image(b, px, n_img, img2, 0, &err) == OCLIP_OK &&
              oclip_encode_text(b, tok, n_tok, txt2, 0, &err) == OCLIP_OK);
        CHECKF(!memcmp(img, img2, n_img * E * 4) && !memcmp(txt, txt2, n_tok * E * 4),
               "the converted twin computes other bytes");
        CHECK(oclip_model_logit_bias(b) == oclip_model_logit_bias(m));
        free(img2);
        free(txt2);
    }
    oclip_model_free(b);
    remove(file);
    /* ... and to a folder: its tower, which no timm architecture has, is written as a timm
     * config.json in OUT/timm that OpenCLIP's timm reads (local-dir:, absolute path) */
    snprintf(file, sizeof file, "%s/ocdir/", out);
    CHECKF(oclip_source_resolve(hfdir, NULL, &src, &err) == OCLIP_OK &&
               oclip_source_check(src, 0, &r, &err) == OCLIP_OK && oclip_report_ok(r),
           "%s", err.msg);
    co.preprocess = oclip_source_preprocess(src);
    CHECKF(r && oclip_convert(r, file, &co, &err) == OCLIP_OK, "convert hf -> folder: %s",
           err.msg);
    oclip_report_free(r);
    oclip_source_free(src);
    b = NULL;
    CHECKF(oclip_model_load(file, NULL, &b, &err) == OCLIP_OK, "%s", err.msg);
    if (b) {
        const oclip_model_config *bc = oclip_model_config_of(b);
        char tname[300];
        snprintf(tname, sizeof tname, "local-dir:%s/ocdir/timm", out);
        CHECKF(!strcmp(bc->vision.timm_model_name, tname), "%s", bc->vision.timm_model_name);
        float *img2 = calloc(n_img * E, 4);
        CHECK(oclip_encode_image(b, px, n_img, img2, 0, &err) == OCLIP_OK);
        CHECKF(!memcmp(img, img2, n_img * E * 4), "the converted folder computes other bytes");
        free(img2);
    }
    oclip_model_free(b);
    static const char *const parts[] = {"timm/config.json", "timm", "open_clip_config.json",
                                        "open_clip_model.safetensors", ""};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        snprintf(path, sizeof path, "%s/ocdir/%s", out, parts[i]);
        remove(path);
    }
    rmdir(out);
    free(px);
    free(tok);
    free(img);
    free(txt);
    free(imgn);
    free(txtn);
    free(lg);
    free(pr);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
    oclip_checkpoint_free(hx);

    /* SiglipConfigs OpenCLIP has no twin for are refused by name */
    static const struct {
        const char *json, *why;
    } bad[] = {
        {"{\"model_type\":\"siglip2\"}", "not 'clip' or 'siglip'"},
        {"{\"model_type\":\"siglip\",\"text_config\":{\"projection_size\":512}}",
         "projection_size 512 differs"},
        {"{\"model_type\":\"siglip\",\"vision_config\":{\"hidden_act\":\"relu\"}}",
         "hidden_act 'relu'"},
        {"{\"model_type\":\"siglip\",\"vision_config\":{\"vision_use_head\":false}}",
         "vision_use_head false"},
        {"{\"model_type\":\"siglip\",\"vision_config\":{\"layer_norm_eps\":1e-5}}",
         "layer_norm_eps is not 1e-6"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oclip_model_config cfg;
        CHECKF(oclip_config_from_hf(bad[i].json, strlen(bad[i].json), &cfg, &err) != OCLIP_OK &&
                   strstr(err.msg, bad[i].why), "bad %zu: %s", i, err.msg);
    }
    /* transformers' defaults (SiglipConfig()): google's siglip-base-patch16-224 sizes with
     * gelu_pytorch_tanh everywhere, which timm's vit_base_patch16_siglip_224 (exact GELU) is not */
    oclip_model_config d;
    const char *def = "{\"model_type\":\"siglip\"}";
    CHECKF(oclip_config_from_hf(def, strlen(def), &d, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(!strcmp(d.vision.timm_model_name, "siglip:img=224,patch=16,width=768,depth=12,"
                   "heads=12,mlp=3072,act=gelu_tanh") && d.text.context_length == 64 &&
               d.text.vocab_size == 32000 && !strcmp(d.text.act_approximate, "tanh") &&
               !oc_arch_unsupported(&d), "%s", d.vision.timm_model_name);
    def = "{\"model_type\":\"siglip\",\"vision_config\":{\"hidden_act\":\"gelu\"}}";
    CHECKF(oclip_config_from_hf(def, strlen(def), &d, &err) == OCLIP_OK &&
               !strcmp(d.vision.timm_model_name, "vit_base_patch16_siglip_224"), "%s",
           d.vision.timm_model_name);
}

/* Configs naming other timm towers, or SigLIP towers with another head, stay refused. */
static void test_refusals(void) {
    static const struct {
        const char *json, *why;
    } cases[] = {
        {"{\"embed_dim\":768,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
         "\"timm_model_name\":\"resnet50d\"},\"text_cfg\":{}}",
         "timm image tower other than the SigLIP ViTs"},
        {"{\"embed_dim\":768,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
         "\"timm_model_name\":\"vit_base_patch16_siglip_224\"},\"text_cfg\":{}}",
         "without timm_pool 'map' and timm_proj 'none'"},
        {"{\"embed_dim\":768,\"custom_text\":true,\"vision_cfg\":{\"image_size\":256,"
         "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\","
         "\"timm_proj\":\"none\"},\"text_cfg\":{}}",
         "image_size differs from the timm tower's input size"},
        {"{\"embed_dim\":512,\"custom_text\":true,\"vision_cfg\":{\"image_size\":224,"
         "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\","
         "\"timm_proj\":\"none\"},\"text_cfg\":{}}",
         "embed_dim differs from the timm tower's width"},
        {"{\"embed_dim\":768,\"vision_cfg\":{\"image_size\":224,"
         "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\","
         "\"timm_proj\":\"none\"},\"text_cfg\":{}}",
         "without custom_text"},
        {"{\"embed_dim\":768,\"vision_cfg\":{\"image_size\":224,"
         "\"timm_model_name\":\"vit_base_patch16_siglip_224\",\"timm_pool\":\"map\","
         "\"timm_proj\":\"none\"},\"text_cfg\":{\"hf_model_name\":\"google/mt5-base\"}}",
         "HF text tower other than"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_parse(cases[i].json, strlen(cases[i].json), &c, &err) == OCLIP_OK,
               "case %zu: %s", i, err.msg);
        const char *why = oc_arch_unsupported(&c);
        CHECKF(c.family == OCLIP_FAMILY_TIMM && why && strstr(why, cases[i].why),
               "case %zu: %s", i, why ? why : "(accepted)");
    }
    /* every built-in SigLIP / SigLIP 2 config of OpenCLIP 3.3.0 is accepted, with the state
     * dict size docs/SIGLIP.md gives (314 for ViT-B-16-SigLIP, 672 for the i18n SO400M) */
    int siglip = 0;
    for (size_t i = 0; i < oclip_config_builtin_count(); i++) {
        oclip_model_config c;
        const char *name = oclip_config_builtin_name(i);
        if (oclip_config_builtin(name, &c, NULL) != OCLIP_OK || !strstr(name, "SigLIP") ||
            strstr(name, "naflex") || strstr(name, "nllb"))
            continue;
        siglip++;
        const char *why = oc_arch_unsupported(&c);
        CHECKF(!why && !oc_model_unsupported(&c), "%s: %s", name, why ? why : oc_model_unsupported(&c));
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_OK, "%s", name);
        if (!strcmp(name, "ViT-B-16-SigLIP")) CHECKF(n == 314, "%s: %zu tensors", name, n);
        if (!strcmp(name, "ViT-SO400M-16-SigLIP-i18n-256")) CHECKF(n == 672, "%s: %zu", name, n);
        if (!strcmp(name, "ViT-SO400M-14-SigLIP")) CHECKF(n == 674, "%s: %zu", name, n);
        oc_arena_free(&a);
    }
    CHECKF(siglip == 26, "%d built-in SigLIP configs", siglip);
}

int main(void) {
    test_timm_sources();
    /* once per kernel path this CPU supports */
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) test_variant(variants[i]);
    }
    test_convert_roundtrip("siglip2_so400m16");
    test_convert_roundtrip("siglip_i18n_noproj");
    test_hf_siglip();
    test_refusals();
    oc_simd_set(best);
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_siglip");
}
