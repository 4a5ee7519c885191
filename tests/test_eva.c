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
#include "model/eva.h"
#include "nn/eva.h"
#include "tower_test.h"

#define FIXROOT "tests/fixtures"
#define FIX FIXROOT "/eva"
#define PEFIX FIXROOT "/pecore"

static const char *const variants[] = {"eva/eva02_b16", "eva/eva02_l14_336", "eva/eva01_g14",
                                       "eva/eva02_e14", "pecore/pe_b16", "pecore/pe_g14"};

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
    cJSON *root = json_file(mpath);
    CHECKF(root != NULL, "%s", mpath);
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

static void test_variant(const char *variant) {
    char dir[256];
    snprintf(dir, sizeof dir, FIXROOT "/%s", variant);
    tower_fixture f;
    oclip_error err;
    if (!tower_fixture_open(&f, dir) || !f.m->vis.eva) {
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
    float *pixels = expect_f32(ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    check_preprocess(m, cJSON_GetObjectItemCaseSensitive(ej, "images"), pixels, variant, 4, true);
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
    check_vit_stages(m, ex, ej, variant, pixels, n_img, (size_t)m->vis.eva->D);
    check_text_tokens(m, ex, variant, tokens, n_txt, n_img);
    free(pixels);
    free(tokens);
    tower_fixture_close(&f);
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
    /* the tower's sizes are timm's: vision_cfg.width and patch_size (null in a timm config) are
     * not read */
    {
        oclip_model_config c;
        CHECK(oclip_config_builtin("EVA02-B-16", &c, NULL) == OCLIP_OK);
        c.vision.width = c.vision.patch_size = 0;
        oc_arena a = {0};
        oc_expect *e;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, NULL) == OCLIP_OK && n == cases[0].tensors,
               "EVA02-B-16 with patch_size null: %zu tensors", n);
        oc_arena_free(&a);
    }
    /* refused: a timm EVA model that is not a CLIP tower, another pool or projection, another
     * image size */
    static const tower_refusal bad[] = {
        {"name", "eva02_base_patch14_224", "timm EVA tower other than"},
        {"pool", "avg", "timm_pool 'token'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
    };
    check_refusals("EVA02-B-16", bad, sizeof bad / sizeof bad[0], 336, true, "");
}

/* --dtype: the EVA blocks' weights go through the packing as the ViT blocks' do (int8: every
 * block Linear quantized; F16 / BF16 on the SIMD paths); features stay close to fp32 */
static void eva_packed(const oclip_model *m, oclip_dtype dt, const char *variant) {
    const oc_eva_block *b = &m->vis.eva->blocks[0];
    CHECKF(b->fg.packed && b->fg.pdtype == dt && b->q.packed && b->fc2.pdtype == dt,
           "%s: dtype %d: block weights not packed (%d)", variant, (int)dt, (int)b->fg.pdtype);
}

/* the five PE-Core configs: accepted, and oclip's expected state dict is exactly OpenCLIP's
 * (real_configs.json: create_model(name, device='meta').state_dict() names and shapes, in
 * order); the PE towers refuse another pool or projection */
static void test_pe_builtins(void) {
    cJSON *root = json_file(PEFIX "/real_configs.json");
    CHECKF(root != NULL, "%s", PEFIX "/real_configs.json");
    const cJSON *sds = cJSON_GetObjectItemCaseSensitive(root, "state_dicts"), *it;
    int models = 0;
    cJSON_ArrayForEach(it, sds) {
        check_state_dict(it->string, it);
        models++;
    }
    CHECKF(models == 5, "%d PE-Core configs", models);
    cJSON_Delete(root);
    static const tower_refusal bad[] = {
        {"pool", "token", "timm_pool 'map'"},
        {"proj", "linear", "timm_proj null"},
        {"size", "", "image_size differs"},
        {"name", "vit_pe_core_huge_patch14_448", "timm EVA tower other than"},
    };
    check_refusals("PE-Core-B-16", bad, sizeof bad / sizeof bad[0], 336, false, "PE ");
}

int main(void) {
    register_test_towers(FIX, 4);
    register_test_towers(PEFIX, 2);
    on_every_path(variants, sizeof variants / sizeof variants[0], test_variant);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
        check_weight_dtypes_of(FIXROOT, variants[i], eva_packed);
    test_builtins();
    test_pe_builtins();
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_eva");
}
