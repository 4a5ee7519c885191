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
#include "model/timmvit.h"
#include "nn/timm_vit.h"
#include "tower_test.h"

#define FIX "tests/fixtures/timmvit"

static const char *const variants[] = {"mobileclip2_l14", "mobileclip_b"};
static cJSON *manifest;

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

static void test_variant(const char *variant) {
    char dir[256];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    tower_fixture f;
    if (!tower_fixture_open(&f, dir) || !f.m->vis.tv) {
        CHECKF(0, "%s: fixture or model missing", variant);
        tower_fixture_close(&f);
        return;
    }
    const oclip_tensor *pt = oclip_checkpoint_find(f.ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(f.ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0];
    float *pixels = expect_f32(f.ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    check_preprocess(f.m, cJSON_GetObjectItemCaseSensitive(f.ej, "images"), pixels, variant, 4,
                     true);
    check_vit_stages(f.m, f.ex, f.ej, variant, pixels, n_img, (size_t)f.m->vis.tw.D);
    check_text_tokens(f.m, f.ex, variant, tokens, n_txt, n_img);
    free(pixels);
    free(tokens);
    tower_fixture_close(&f);
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
    static const tower_refusal bad[] = {
        {"name", "vit_large_patch14_clip_336", "timm image tower other than"},
        {"pool", "avg", "timm_pool 'token'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
    };
    check_refusals("MobileCLIP-B", bad, sizeof bad / sizeof bad[0], 256, true, "");
}

/* --dtype: the blocks' weights go through the packing as the ViT blocks' do (int8: every block
 * Linear quantized; F16 / BF16 on the SIMD paths); features stay close to fp32 */
static void timmvit_packed(const oclip_model *m, oclip_dtype dt, const char *variant) {
    const oc_block *b = &m->vis.tw.blocks[0];
    CHECKF(b->fc_w.packed && b->fc_w.pdtype == dt && b->in_w.pdtype == dt,
           "%s: dtype %d: block weights not packed (%d)", variant, (int)dt, (int)b->fc_w.pdtype);
}

int main(void) {
    manifest = read_json(FIX "/manifest.json");
    register_test_towers();
    on_every_path(variants, sizeof variants / sizeof variants[0], test_variant);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        check_weight_dtypes_of(FIX, variants[i], timmvit_packed);
    test_real();
    cJSON_Delete(manifest);
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_timmvit");
}
