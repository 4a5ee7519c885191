/*
 * test_eva.c — EVA CLIP (CustomTextCLIP with a timm eva02_*_clip_* / eva_giant_* image tower:
 * EVA02 B/L with rope and SwiGLU, EVA01 and the post-norm EVA02-E) against
 * OpenCLIP 3.3.0 + timm 1.0.31, on the tiny models of tests/fixtures/eva/ (tools/fixtures_eva.py
 * tiny; docs/EVA.md). The tiny image towers are timm models the generator registered under test
 * names; they are registered here from its manifest.json. Per model and kernel path:
 *   - preprocessing with the folder's preprocess_cfg: the fixture's pixels bit for bit;
 *   - the rotary table (RotaryEmbeddingCat.get_embed(): [sin | cos], each frequency twice);
 *   - image stages: [cls; patches] + pos_embed, after block 0, after trunk.norm, the class
 *     token; encode_image raw (trunk.head) and normalized; encode_text raw and normalized;
 *     logits;
 *   - the model loads, so its weights passed oclip check against the EVA02 state dict.
 * Then the seven built-in EVA configs accepted with their state-dict sizes, other EVA towers
 * and options refused with the reason.
 * The Perception Encoder (PE-Core-*, timm vit_pe_core_*) the same way on tests/fixtures/pecore/
 * (tools/fixtures_eva.py pe): a tower with a class token and rope grid offset 1, and one like
 * the gigantic (no class token, offset 0); img_embed there is before trunk.norm_pre and
 * img_pooled the attention pool's output. The five built-in PE-Core configs are accepted with
 * exactly the state dict (names, shapes) OpenCLIP builds (pecore/real_configs.json).
 * Tolerances: max-abs <= 1e-4 and cosine >= 0.99999 (OpenCLIP's own fp32 is ~4e-6 from fp64
 * here, expected.json fp32_vs_fp64).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "model/eva.h"
#include "model/model.h"
#include "nn/eva.h"
#include "test.h"
#include "util.h"

#define FIXROOT "tests/fixtures"
#define FIX FIXROOT "/eva"
#define PEFIX FIXROOT "/pecore"
#define TOL 1e-4
#define MIN_COS 0.99999

static const char *const variants[] = {"eva/eva02_b16", "eva/eva02_l14_336", "eva/eva01_g14",
                                       "eva/eva02_e14", "pecore/pe_b16", "pecore/pe_g14"};
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

static const char *str_arg(const cJSON *a, const char *key, const char *def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(a, key);
    return cJSON_IsString(j) ? j->valuestring : def;
}

/* manifest.json timm_test_models, in timm's terms (Eva's defaults where absent): img_size,
 * patch_size, embed_dim, depth, num_heads, mlp_ratio (4; hidden int(dim * mlp_ratio)),
 * use_rot_pos_emb with ref_feat_shape, swiglu_mlp (with scale_mlp), qkv_fused (True),
 * scale_attn_inner, use_post_norm; PE: attn_type 'rope' with use_pre_transformer_norm,
 * global_pool 'map' and norm_eps 1e-5, class_token (True), rope_grid_indexing ('ij'),
 * rope_grid_offset (0), attn_pool_num_heads, attn_pool_mlp_ratio */
static void register_test_towers(const char *fix, int want) {
    char mpath[256];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", fix);
    size_t len = 0;
    unsigned char *text = read_file(mpath, &len);
    CHECKF(text != NULL, "%s", mpath);
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "timm_test_models"), *it;
    int n = 0;
    cJSON_ArrayForEach(it, models) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "args");
#define NUM(key) cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, key))
#define FLAG(key, def)                                                                           \
    (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(a, key))                                      \
         ? cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, key)) : (def))
        oc_eva_tower t = {0};
        snprintf(t.name, sizeof t.name, "%s", it->string);
        t.img = (int)NUM("img_size");
        t.patch = (int)NUM("patch_size");
        t.width = (int)NUM("embed_dim");
        t.depth = (int)NUM("depth");
        t.heads = (int)NUM("num_heads");
        const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(a, "mlp_ratio");
        t.mlp = (int)(t.width * (cJSON_IsNumber(ratio) ? ratio->valuedouble : 4.0));
        if (FLAG("use_rot_pos_emb", 0)) {
            const cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "ref_feat_shape");
            t.ref = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(ref, 0));
            CHECK(t.ref == (int)cJSON_GetNumberValue(cJSON_GetArrayItem(ref, 1)));
        }
        t.swiglu = FLAG("swiglu_mlp", 0);
        CHECK(t.swiglu == FLAG("scale_mlp", 0)); /* SwiGLU without its norm is GluMlp */
        t.fused = FLAG("qkv_fused", 1);
        t.attn_norm = FLAG("scale_attn_inner", 0);
        t.post_norm = FLAG("use_post_norm", 0);
        t.pe = !strcmp(str_arg(a, "attn_type", "eva"), "rope");
        CHECK(t.pe == FLAG("use_pre_transformer_norm", 0));
        CHECK(t.pe == !strcmp(str_arg(a, "global_pool", "token"), "map"));
        if (t.pe) {
            CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "norm_eps")) == 1e-5);
            t.no_cls = !FLAG("class_token", 1);
            t.rope_xy = !strcmp(str_arg(a, "rope_grid_indexing", "ij"), "xy");
            const cJSON *off = cJSON_GetObjectItemCaseSensitive(a, "rope_grid_offset");
            t.rope_off = cJSON_IsNumber(off) ? (float)off->valuedouble : 0.0f;
            t.map_heads = (int)NUM("attn_pool_num_heads");
            t.map_mlp = (int)(t.width * NUM("attn_pool_mlp_ratio"));
        }
#undef NUM
#undef FLAG
        oclip_error err;
        CHECKF(oc_eva_tower_register(&t, &err) == OCLIP_OK, "%s: %s", t.name, err.msg);
        n++;
    }
    CHECKF(n == want, "%s: %d test towers", mpath, n);
    cJSON_Delete(root);
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
    snprintf(dir, sizeof dir, FIXROOT "/%s", variant);
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
    if (!ex || !m || !ej || !m->vis.eva) {
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
    /* the model's tokenizer (SimpleTokenizer, text_cfg.context_length: 77; PE 32 and 72) gives
     * open_clip.get_tokenizer's ids for the prompts */
    {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(ej, "prompts"), *it;
        size_t np = 0, ctx = (size_t)tt->shape[1];
        const char *texts[16];
        cJSON_ArrayForEach(it, pr) if (np < 16) texts[np++] = it->valuestring;
        CHECKF(np == n_txt && ctx == (size_t)m->cfg.text.context_length, "%s: prompts", variant);
        int64_t *ids = calloc(n_txt * ctx, sizeof *ids);
        CHECKF(oclip_model_tokenize(m, texts, NULL, np, ids, &err) == OCLIP_OK, "%s: %s",
               variant, err.msg);
        CHECKF(np == n_txt && !memcmp(ids, tokens, n_txt * ctx * sizeof *ids),
               "%s: token ids differ from open_clip.get_tokenizer's", variant);
        free(ids);
    }

    /* the rotary table: timm's [G, 2 hd] = [sin | cos], frequency i at 2i and 2i + 1 */
    CHECKF(!oclip_checkpoint_find(ex, "rope") == !m->vis.eva->rope_sin, "%s: rope", variant);
    if (m->vis.eva->rope_sin) {
        const struct oc_eva *e = m->vis.eva;
        size_t G = (size_t)m->vis.gh * (size_t)m->vis.gw, hd = (size_t)(e->D / e->H), cnt = 0;
        float *want = expect_f32(ex, "rope", &cnt);
        CHECKF(cnt == G * 2 * hd, "%s: rope %zu values", variant, cnt);
        float *got = malloc(G * 2 * hd * sizeof(float));
        for (size_t t = 0; t < G; t++)
            for (size_t j = 0; j < hd; j++) {
                got[t * 2 * hd + j] = e->rope_sin[t * hd / 2 + j / 2];
                got[t * 2 * hd + hd + j] = e->rope_cos[t * hd / 2 + j / 2];
            }
        if (cnt == G * 2 * hd) compare("rope", variant, got, want, cnt);
        free(got);
        free(want);
    }
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
        size_t D = (size_t)m->vis.eva->D;
        oc_stages st = {.embed = got[0], .block0 = got[1], .last = got[2], .pooled = got[3]};
        float *out = calloc(n_img * E, sizeof(float));
        CHECKF(oc_vit_forward(m, pixels, n, out, &st, &err) == OCLIP_OK, "%s: %s", variant,
               err.msg);
        for (int s = 0; s < 3; s++) compare(names[s], variant, got[s], want[s], cnt[s]);
        compare("img_pooled", variant, got[3], want[3], n * D);
        float *raw = expect_f32(ex, "img_raw", NULL), *feat = expect_f32(ex, "img_features", NULL);
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

/* the built-in EVA configs: accepted with their state-dict sizes; other EVA towers and options
 * refused by name */
static void test_builtins(void) {
    static const struct {
        const char *name;
        size_t tensors;
    } cases[] = {
        /* logit_scale, 8 trunk (cls_token, pos_embed, patch_embed.proj, norm, head), 21 per
         * EVA02 B/L block, 13 per fused-qkv block (q_bias, v_bias, qkv, proj, norm1/2, fc1,
         * fc2), 5 text (positional_embedding, text_projection, token_embedding, ln_final), 12
         * per text block: 410, 662, 662, 1134, 1230, 678, 822, as
         * len(open_clip.create_model(name, device='meta').state_dict()) */
        {"EVA02-B-16", 1 + 8 + 21 * 12 + 5 + 12 * 12},
        {"EVA02-L-14", 1 + 8 + 21 * 24 + 5 + 12 * 12},
        {"EVA02-L-14-336", 1 + 8 + 21 * 24 + 5 + 12 * 12},
        {"EVA02-E-14", 1 + 8 + 13 * 64 + 5 + 12 * 24},
        {"EVA02-E-14-plus", 1 + 8 + 13 * 64 + 5 + 12 * 32},
        {"EVA01-g-14", 1 + 8 + 13 * 40 + 5 + 12 * 12},
        {"EVA01-g-14-plus", 1 + 8 + 13 * 40 + 5 + 12 * 24},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        oclip_model_config c;
        CHECKF(oclip_config_builtin(cases[i].name, &c, NULL) == OCLIP_OK, "%s", cases[i].name);
        const char *why = oclip_config_unsupported(&c);
        CHECKF(!why, "%s: %s", cases[i].name, why);
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_OK && n == cases[i].tensors,
               "%s: %zu tensors, want %zu", cases[i].name, n, cases[i].tensors);
        oc_arena_free(&a);
    }
    /* refused: a timm EVA model that is not a CLIP tower, another pool or projection, another
     * image size */
    static const struct {
        const char *field, *value, *why;
    } bad[] = {
        {"name", "eva02_base_patch14_224", "timm EVA tower other than"},
        {"pool", "avg", "timm_pool 'token'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oclip_model_config c;
        CHECK(oclip_config_builtin("EVA02-B-16", &c, NULL) == OCLIP_OK);
        oclip_vision_cfg *v = &c.vision;
        if (!strcmp(bad[i].field, "name"))
            snprintf(v->timm_model_name, sizeof v->timm_model_name, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "pool")) snprintf(v->timm_pool, sizeof v->timm_pool, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "proj")) snprintf(v->timm_proj, sizeof v->timm_proj, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "size")) v->image_size[0] = v->image_size[1] = 336;
        const char *why = oclip_config_unsupported(&c);
        CHECKF(why && strstr(why, bad[i].why), "%s: %s", bad[i].field, why ? why : "accepted");
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECK(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_E_UNSUPPORTED);
        oc_arena_free(&a);
    }
}

/* --dtype: the EVA blocks' weights go through the packing as the ViT blocks' do (int8: every
 * block Linear quantized; F16 / BF16 on the SIMD paths); features stay close to fp32 */
static void test_weight_dtypes(const char *variant) {
    static const oclip_dtype dts[] = {OCLIP_DTYPE_I8, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIXROOT "/%s", variant);
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
        const oc_eva_block *b = &m->vis.eva->blocks[0];
        CHECKF(b->fg.packed && b->fg.pdtype == dts[d] && b->q.packed && b->fc2.pdtype == dts[d],
               "%s: dtype %d: block weights not packed (%d)", variant, (int)dts[d],
               (int)b->fg.pdtype);
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

/* the five PE-Core configs: accepted, and oclip's expected state dict is exactly OpenCLIP's
 * (real_configs.json: create_model(name, device='meta').state_dict() names and shapes, in
 * order); the PE towers refuse another pool or projection */
static void test_pe_builtins(void) {
    size_t len = 0;
    unsigned char *text = read_file(PEFIX "/real_configs.json", &len);
    CHECKF(text != NULL, "%s", PEFIX "/real_configs.json");
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    const cJSON *sds = cJSON_GetObjectItemCaseSensitive(root, "state_dicts"), *it;
    int models = 0;
    cJSON_ArrayForEach(it, sds) {
        const char *name = it->string;
        oclip_model_config c;
        CHECKF(oclip_config_builtin(name, &c, NULL) == OCLIP_OK, "%s", name);
        const char *why = oclip_config_unsupported(&c);
        CHECKF(!why, "%s: %s", name, why);
        oc_arena a = {0};
        oc_expect *e = NULL;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_OK, "%s", name);
        CHECKF(n == (size_t)cJSON_GetArraySize(it), "%s: %zu tensors, OpenCLIP %d", name, n,
               cJSON_GetArraySize(it));
        size_t i = 0, bad = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, it) {
            const cJSON *key = cJSON_GetArrayItem(kv, 0), *shape = cJSON_GetArrayItem(kv, 1);
            int ok = i < n && !strcmp(e[i].name, key->valuestring) &&
                     e[i].ndim == cJSON_GetArraySize(shape);
            for (int d = 0; ok && d < e[i].ndim; d++)
                ok = e[i].shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            if (!ok && bad++ < 3)
                CHECKF(0, "%s: tensor %zu: oclip %s, OpenCLIP %s", name, i,
                       i < n ? e[i].name : "(none)", key->valuestring);
            i++;
        }
        CHECKF(!bad, "%s: %zu tensors differ", name, bad);
        oc_arena_free(&a);
        models++;
    }
    CHECKF(models == 5, "%d PE-Core configs", models);
    cJSON_Delete(root);
    static const struct {
        const char *field, *value, *why;
    } bad[] = {
        {"pool", "token", "timm_pool 'map'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
        {"name", "vit_pe_core_huge_patch14_448", "timm EVA tower other than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oclip_model_config c;
        CHECK(oclip_config_builtin("PE-Core-B-16", &c, NULL) == OCLIP_OK);
        oclip_vision_cfg *v = &c.vision;
        if (!strcmp(bad[i].field, "name"))
            snprintf(v->timm_model_name, sizeof v->timm_model_name, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "pool")) snprintf(v->timm_pool, sizeof v->timm_pool, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "proj")) snprintf(v->timm_proj, sizeof v->timm_proj, "%s", bad[i].value);
        if (!strcmp(bad[i].field, "size")) v->image_size[0] = v->image_size[1] = 336;
        const char *why = oclip_config_unsupported(&c);
        CHECKF(why && strstr(why, bad[i].why), "PE %s: %s", bad[i].field, why ? why : "accepted");
    }
}

int main(void) {
    register_test_towers(FIX, 4);
    register_test_towers(PEFIX, 2);
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) test_variant(variants[i]);
    }
    oc_simd_set(best);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        test_weight_dtypes(variants[i]);
    test_builtins();
    test_pe_builtins();
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_eva");
}
