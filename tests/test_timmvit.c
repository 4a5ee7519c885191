/*
 * test_timmvit.c — MobileCLIP (CustomTextCLIP with a timm class-token ViT image tower:
 * vit_large_patch14_clip_224 for MobileCLIP2-L-14, the ConvStem hybrid vit_base_mci_224 for
 * MobileCLIP-B / MobileCLIP2-B; timm_pool 'token', timm_proj null) against OpenCLIP 3.3.0 +
 * timm 1.0.31, on the tiny models of tests/fixtures/timmvit/ (tools/fixtures_timmvit.py tiny).
 * The tiny image towers are timm models the generator registered under test names; they are
 * registered here from its manifest.json. Per model and kernel path:
 *   - preprocessing with the folder's preprocess_cfg (the real config's pretrained tag's): the
 *     fixture's pixels bit for bit;
 *   - image stages: [cls; patches] + pos_embed (ConvStem with its BatchNorm, no_embed_class or
 *     not), after block 0, after trunk.norm, the class token; encode_image raw (trunk.head) and
 *     normalized; encode_text raw and normalized (no_causal_mask on MobileCLIP2-L-14, the
 *     causal mask on MobileCLIP-B); logits;
 *   - the model loads, so its weights passed oclip check against the expected state dict.
 * Then oclip's table of the two real towers equal to what timm builds (manifest.json real_towers),
 * and the real MobileCLIP-B / MobileCLIP2-B / MobileCLIP2-L-14 configs: accepted, their expected
 * state dict equal, name for name and shape for shape, to the one OpenCLIP builds (manifest.json
 * real_shapes), and the four pretrained names' preprocessing equal to pretrained.py's
 * (real_preprocess); other towers and options refused with the reason.
 * Tolerances: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's own fp32 is ~4e-6 from fp64
 * here, expected.json fp32_vs_fp64).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "model/model.h"
#include "model/timmvit.h"
#include "nn/timm_vit.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/timmvit"
#define TOL 1e-4
#define MIN_COS 0.99999

static const char *const variants[] = {"mobileclip2_l14", "mobileclip_b"};
static double worst_abs, worst_cos = 1.0;
static cJSON *manifest;

static float *expect_f32(const oclip_checkpoint *ck, const char *name, size_t *n) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    CHECKF(t && t->dtype == OCLIP_DTYPE_F32, "expected tensor %s", name);
    if (!t) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    if (n) *n = (size_t)t->numel;
    return p;
}

static void compare(const char *what, const char *tag, const float *got, const float *want,
                    size_t n) {
    if (!got || !want) return;
    double mx = 0, dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= mx)) mx = d;
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

static void load_manifest(void) {
    size_t len = 0;
    unsigned char *text = read_file(FIX "/manifest.json", &len);
    CHECKF(text != NULL, "%s", FIX "/manifest.json");
    manifest = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    CHECK(manifest != NULL);
}

/* manifest.json timm_test_models, in timm's terms: img_size, patch_size (the ConvStem's is the
 * product of its kernels), embed_dim, depth, num_heads, pre_norm, norm_eps (timm
 * VisionTransformer's default 1e-6 where absent), no_embed_class, stem_channels /
 * stem_kernel (a ConvStem); mlp_ratio 4 */
static void register_test_towers(void) {
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(manifest, "timm_test_models"), *it;
    int n = 0;
    cJSON_ArrayForEach(it, models) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "args");
#define ITEM(key) cJSON_GetObjectItemCaseSensitive(a, key)
        oc_timmvit_tower t = {0};
        snprintf(t.name, sizeof t.name, "%s", it->string);
        t.img = (int)cJSON_GetNumberValue(ITEM("img_size"));
        t.width = (int)cJSON_GetNumberValue(ITEM("embed_dim"));
        t.depth = (int)cJSON_GetNumberValue(ITEM("depth"));
        t.heads = (int)cJSON_GetNumberValue(ITEM("num_heads"));
        t.mlp = 4 * t.width;
        t.eps = cJSON_IsNumber(ITEM("norm_eps")) ? (float)ITEM("norm_eps")->valuedouble : 1e-6f;
        t.pre_norm = cJSON_IsTrue(ITEM("pre_norm"));
        t.no_embed_class = cJSON_IsTrue(ITEM("no_embed_class"));
        if (cJSON_IsArray(ITEM("stem_channels"))) {
            t.stem = 1;
            t.patch = 1;
            for (int i = 0; i < 2; i++)
                t.stem_ch[i] = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(ITEM("stem_channels"), i));
            for (int i = 0; i < 3; i++) {
                t.stem_k[i] = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(ITEM("stem_kernel"), i));
                t.patch *= t.stem_k[i];
            }
        } else {
            t.patch = (int)cJSON_GetNumberValue(ITEM("patch_size"));
        }
#undef ITEM
        oclip_error err;
        CHECKF(oc_timmvit_tower_register(&t, &err) == OCLIP_OK, "%s: %s", t.name, err.msg);
        n++;
    }
    CHECKF(n == 2, "%d test towers in manifest.json", n);
}

static void check_preprocess(const oclip_model *m, const cJSON *images, const float *want,
                             const char *tag) {
    const oclip_preprocess_cfg *pre = oclip_model_preprocess(m);
    size_t px = (size_t)3 * (size_t)pre->size[0] * (size_t)pre->size[1], i = 0;
    float *got = malloc(px * sizeof(float));
    const cJSON *it;
    cJSON_ArrayForEach(it, images) {
        oclip_image *img = NULL;
        oclip_error err;
        CHECKF(oclip_image_load(it->valuestring, NULL, &img, &err) == OCLIP_OK &&
                   oclip_preprocess(img, pre, got, &err) == OCLIP_OK,
               "%s: %s: %s", tag, it->valuestring, err.msg);
        CHECKF(!memcmp(got, want + i * px, px * sizeof(float)), "%s: pixels of %s differ", tag,
               it->valuestring);
        oclip_image_free(img);
        i++;
    }
    CHECK(i == 4);
    free(got);
}

static void test_variant(const char *variant) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    oclip_model *m = NULL;
    CHECKF(oclip_model_load(dir, &o, &m, &err) == OCLIP_OK, "%s: %s", dir, err.msg);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    size_t jlen = 0;
    unsigned char *jtext = read_file(path, &jlen);
    cJSON *ej = jtext ? cJSON_ParseWithLength((const char *)jtext, jlen) : NULL;
    free(jtext);
    if (!ex || !m || !ej || !m->vis.tv) {
        CHECKF(0, "%s: fixture or model missing", variant);
        oclip_checkpoint_free(ex);
        oclip_model_free(m);
        cJSON_Delete(ej);
        return;
    }
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0];
    size_t E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant);

    /* image stages over the first stage_images images */
    {
        static const char *const names[] = {"img_embed", "img_block_0", "img_final_norm",
                                            "img_pooled"};
        float *want[4], *got[4];
        size_t cnt[4];
        for (int s = 0; s < 4; s++) {
            want[s] = expect_f32(ex, names[s], &cnt[s]);
            got[s] = calloc(cnt[s] ? cnt[s] : 1, sizeof(float));
        }
        size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(ej, "stage_images")->valueint;
        size_t D = (size_t)m->vis.tw.D;
        oc_stages st = {.embed = got[0], .block0 = got[1], .last = got[2], .pooled = got[3]};
        float *out = calloc(n_img * E, sizeof(float));
        CHECKF(oc_vit_forward(m, pixels, n, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
               err.msg);
        for (int s = 0; s < 3; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
        compare("img_pooled", variant, got[3], want[3], n * D);
        float *raw = expect_f32(ex, "img_raw", NULL), *feat = expect_f32(ex, "img_features", NULL);
        /* without stages (trunk.norm on the class token only), then normalized */
        CHECKF(oclip_encode_image(m, pixels, n_img, out, 0, &err) == OCLIP_OK, "%s", err.msg);
        compare("img_raw", variant, out, raw, n_img * E);
        CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
        compare("img_features", variant, out, feat, n_img * E);
        free(raw);
        free(feat);
        free(out);
        for (int s = 0; s < 4; s++) free(want[s]), free(got[s]);
    }
    /* text, logits */
    {
        float *raw = expect_f32(ex, "txt_raw", NULL), *feat = expect_f32(ex, "txt_features", NULL);
        float *lw = expect_f32(ex, "logits", NULL), *img = expect_f32(ex, "img_features", NULL);
        float *out = calloc(n_txt * E, sizeof(float)), *lg = calloc(n_img * n_txt, sizeof(float));
        CHECKF(oclip_encode_text(m, tokens, n_txt, out, 0, &err) == OCLIP_OK, "%s", err.msg);
        compare("txt_raw", variant, out, raw, n_txt * E);
        CHECKF(oclip_encode_text(m, tokens, n_txt, out, 1, &err) == OCLIP_OK, "%s", err.msg);
        compare("txt_features", variant, out, feat, n_txt * E);
        CHECKF(oclip_logits(m, img, n_img, feat, n_txt, lg, &err) == OCLIP_OK, "%s", err.msg);
        for (size_t i = 0; i < n_img * n_txt; i++) lg[i] /= 64.0f, lw[i] /= 64.0f;
        compare("logits / 64", variant, lg, lw, n_img * n_txt);
        free(raw), free(feat), free(lw), free(img), free(out), free(lg);
    }
    free(pixels);
    free(tokens);
    cJSON_Delete(ej);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
}

/* The real configs: oclip's expected state dict is OpenCLIP's, name for name and shape for shape
 * (num_batches_tracked optional: oc_arch_optional); the pretrained names' preprocessing is
 * pretrained.py's. */
static void test_real(void) {
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(manifest, "real_shapes"), *arch;
    int n_arch = 0;
    cJSON_ArrayForEach(arch, shapes) {
        const char *name = arch->string;
        oclip_model_config c;
        CHECKF(oclip_config_builtin(name, &c, NULL) == OCLIP_OK, "%s", name);
        const char *why = oclip_config_unsupported(&c);
        CHECKF(!why, "%s: %s", name, why);
        oc_arena a = {0};
        oc_expect *e = NULL;
        size_t n = 0, want_n = 0;
        oclip_error err;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        const cJSON *it;
        cJSON_ArrayForEach(it, arch) {
            if (oc_arch_optional(&c, it->string)) {
                CHECKF(strstr(it->string, "num_batches_tracked"), "%s: %s optional", name, it->string);
                continue;
            }
            want_n++;
            size_t i = 0;
            while (i < n && strcmp(e[i].name, it->string)) i++;
            CHECKF(i < n, "%s: OpenCLIP's %s not expected", name, it->string);
            if (i == n) continue;
            int nd = cJSON_GetArraySize(it), same = nd == e[i].ndim;
            for (int d = 0; same && d < nd; d++)
                same = (int64_t)cJSON_GetNumberValue(cJSON_GetArrayItem(it, d)) == e[i].shape[d];
            CHECKF(same, "%s: %s: shape differs from OpenCLIP's", name, it->string);
        }
        CHECKF(n == want_n, "%s: %zu tensors expected, OpenCLIP has %zu", name, n, want_n);
        oc_arena_free(&a);
        n_arch++;
    }
    CHECKF(n_arch == 3, "%d real configs", n_arch);
    /* oclip's table of the two real towers: what timm built (eps, norm_pre, ConvStem, ...) */
    const cJSON *towers = cJSON_GetObjectItemCaseSensitive(manifest, "real_towers"), *tw;
    int n_tw = 0;
    cJSON_ArrayForEach(tw, towers) {
        oc_timmvit_tower t;
        CHECKF(oc_timmvit_tower_find(tw->string, &t), "%s not in oclip's table", tw->string);
#define NUM(key) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(tw, key))
#define ARR(key, i) cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(tw, key), i))
        int stem = (int)NUM("stem");
        CHECKF(t.img == (int)NUM("img") && t.width == (int)NUM("width") &&
                   t.depth == (int)NUM("depth") && t.heads == (int)NUM("heads") &&
                   t.mlp == (int)NUM("mlp") && t.eps == (float)NUM("eps") &&
                   t.pre_norm == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tw, "pre_norm")) &&
                   t.no_embed_class ==
                       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tw, "no_embed_class")) &&
                   t.stem == stem,
               "%s: oclip's tower differs from timm's", tw->string);
        if (stem)
            CHECKF(t.stem_ch[0] == (int)ARR("stem_ch", 0) && t.stem_ch[1] == (int)ARR("stem_ch", 1) &&
                       t.stem_k[0] == (int)ARR("stem_k", 0) && t.stem_k[1] == (int)ARR("stem_k", 1) &&
                       t.stem_k[2] == (int)ARR("stem_k", 2) &&
                       t.patch == t.stem_k[0] * t.stem_k[1] * t.stem_k[2] &&
                       t.img / t.patch == (int)ARR("grid", 0),
                   "%s: ConvStem differs from timm's", tw->string);
        else
            CHECKF(t.patch == (int)NUM("patch") && t.img / t.patch == (int)ARR("grid", 0),
                   "%s: patch differs from timm's", tw->string);
#undef NUM
#undef ARR
        n_tw++;
    }
    CHECKF(n_tw == 2, "%d real towers", n_tw);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(manifest, "real_preprocess"), *it;
    int n_tag = 0;
    cJSON_ArrayForEach(it, pre) {
        char arch_name[64];
        const char *colon = strchr(it->string, ':');
        CHECK(colon != NULL);
        if (!colon) continue;
        snprintf(arch_name, sizeof arch_name, "%.*s", (int)(colon - it->string), it->string);
        oclip_pretrained p;
        oclip_error err;
        CHECKF(oclip_pretrained_lookup(arch_name, colon + 1, &p, &err) == OCLIP_OK, "%s: %s",
               it->string, err.msg);
        const cJSON *mean = cJSON_GetObjectItemCaseSensitive(it, "mean");
        const cJSON *std = cJSON_GetObjectItemCaseSensitive(it, "std");
        for (int k = 0; k < 3; k++) {
            CHECKF(p.preprocess.mean[k] == cJSON_GetNumberValue(cJSON_GetArrayItem(mean, k)),
                   "%s: mean[%d] %.9g", it->string, k, p.preprocess.mean[k]);
            CHECKF(p.preprocess.std[k] == cJSON_GetNumberValue(cJSON_GetArrayItem(std, k)),
                   "%s: std[%d] %.9g", it->string, k, p.preprocess.std[k]);
        }
        CHECKF(!strcmp(p.preprocess.interpolation,
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "interpolation"))),
               "%s: interpolation %s", it->string, p.preprocess.interpolation);
        CHECKF(!strcmp(p.preprocess.resize_mode,
                       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "resize_mode"))),
               "%s: resize_mode %s", it->string, p.preprocess.resize_mode);
        n_tag++;
    }
    CHECKF(n_tag == 4, "%d real pretrained names", n_tag);
    /* refused: another timm ViT, another pool or projection, another image size */
    static const struct {
        const char *field, *value, *why;
    } bad[] = {
        {"name", "vit_large_patch14_clip_336", "timm image tower other than"},
        {"pool", "avg", "timm_pool 'token'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oclip_model_config c;
        CHECK(oclip_config_builtin("MobileCLIP-B", &c, NULL) == OCLIP_OK);
        oclip_vision_cfg *v = &c.vision;
        if (!strcmp(bad[i].field, "name"))
            snprintf(v->timm_model_name, sizeof v->timm_model_name, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "pool")) snprintf(v->timm_pool, sizeof v->timm_pool, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "proj")) snprintf(v->timm_proj, sizeof v->timm_proj, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "size")) v->image_size[0] = v->image_size[1] = 256;
        const char *why = oclip_config_unsupported(&c);
        CHECKF(why && strstr(why, bad[i].why), "%s: %s", bad[i].field, why ? why : "accepted");
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECK(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_E_UNSUPPORTED);
        oc_arena_free(&a);
    }
}

/* --dtype: the blocks' weights go through the packing as the ViT blocks' do (int8: every block
 * Linear quantized; F16 / BF16 on the SIMD paths); features stay close to fp32 */
static void test_weight_dtypes(const char *variant) {
    static const oclip_dtype dts[] = {OCLIP_DTYPE_I8, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    if (!ex) return;
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0];
    float *pixels = expect_f32(ex, "pixels", NULL), *want = expect_f32(ex, "img_features", NULL);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        if (dts[d] != OCLIP_DTYPE_I8 && !oc_kernels_get()->pack_weights) continue;
        oclip_model_options o;
        oclip_model_options_default(&o);
        o.threads = 2;
        o.weight_dtype = dts[d];
        oclip_model *m = NULL;
        CHECKF(oclip_model_load(dir, &o, &m, &err) == OCLIP_OK, "%s: %s", dir, err.msg);
        if (!m) continue;
        size_t E = (size_t)oclip_model_embed_dim(m);
        float *out = calloc(n_img * E, sizeof(float));
        /* twice: the first call may read the weights in place (tower.c OC_INPLACE_ROWS) */
        for (int rep = 0; rep < 2; rep++)
            CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
        const oc_block *b = &m->vis.tw.blocks[0];
        CHECKF(b->fc_w.packed && b->fc_w.pdtype == dts[d] && b->in_w.pdtype == dts[d],
               "%s: dtype %d: block weights not packed (%d)", variant, (int)dts[d],
               (int)b->fc_w.pdtype);
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
    free(pixels);
    free(want);
    oclip_checkpoint_free(ex);
}

int main(void) {
    load_manifest();
    register_test_towers();
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) test_variant(variants[i]);
    }
    oc_simd_set(best);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        test_weight_dtypes(variants[i]);
    test_real();
    cJSON_Delete(manifest);
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_timmvit");
}
