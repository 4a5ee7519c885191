/*
 * test_fastvit.c — the timm FastViT image tower of MobileCLIP (src/nn/fastvit.c,
 * src/model/fastvit.c) against OpenCLIP 3.3.0 + timm, on tests/fixtures/fastvit/
 * (tools/fixtures_fastvit.py):
 *   - tiny/: fastvit_mci0's structure with shrunk depths / widths, in its train-time form (every
 *     MobileOneBlock / ReparamLargeKernelConv branch with its BatchNorm, RepMixer and block layer
 *     scales, RepConditionalPosEnc, SE), every BatchNorm's statistics and affine and every layer
 *     scale perturbed: folded at load, the stem, each stage (NCHW), the pooled final_conv output
 *     and the features compared to timm's eval-mode outputs (max-abs <= 1e-4, cosine >=
 *     0.99999); the four images give clearly distinct features; 2 vs 3 threads bit-identical;
 *   - the binder's expected state dict (oc_fastvit_expected) equals, name for name and shape for
 *     shape, the one TimmModel builds for fastvit_mci0 .. mci4 (shapes_*.json, meta device)
 *     but for the BatchNorms' num_batches_tracked (tolerated, not expected);
 *   - e2e/: the whole model loaded from its folder, encode_image and encode_text;
 *   - tiny_mci3/: the same over fastvit_mci3's structure (five stages, two attention stages with
 *     LayerNorm2d norms, no stem scale branches, mlp_ratio 4);
 *   - other FastViTs and other pools / projections are refused by name.
 * tiny/ is bound below the model loader (a bare oclip_model bound from the fixture's checkpoint).
 */
#include "model/fastvit.h"
#include "tower_test.h"

#define FIX "tests/fixtures/fastvit"

static int json_int(const cJSON *o, const char *k, int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (i >= 0) v = cJSON_GetArrayItem(v, i);
    return cJSON_IsNumber(v) ? v->valueint : cJSON_IsTrue(v) ? 1 : 0;
}

/* a bare model bound with geometry g from checkpoint ck */
static oclip_model *bind_tiny(const oc_fastvit_geom *g, int E, int S, const oclip_checkpoint *ck,
                              int threads, oclip_error *err) {
    oclip_model *m = calloc(1, sizeof *m);
    m->cfg.vision.image_size[0] = m->cfg.vision.image_size[1] = S;
    m->cfg.embed_dim = E;
    m->E = E;
    m->threads = threads;
    if (oc_fastvit_bind(m, ck, g, err) != OCLIP_OK) {
        oc_fastvit_free(m);
        free(m);
        return NULL;
    }
    return m;
}

static oc_fastvit_geom tiny_geom;

/* tiny/ (fastvit_mci0's structure) or tiny_mci3/ (fastvit_mci3's) */
static void test_tiny(const char *sub) {
    char path[256];
    snprintf(path, sizeof path, FIX "/%s/meta.json", sub);
    cJSON *meta = read_json(path);
    oc_fastvit_geom g;
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(meta, "base");
    CHECKF(cJSON_IsString(base) && oc_fastvit_find(base->valuestring, &g), "%s: base", sub);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "layers")) == g.nst);
    for (int i = 0; i < g.nst; i++) {
        g.layers[i] = json_int(meta, "layers", i);
        g.dims[i] = json_int(meta, "dims", i);
    }
    int E = json_int(meta, "embed_dim", -1), S = json_int(meta, "image_size", -1);
    cJSON_Delete(meta);
    if (!strcmp(sub, "tiny")) tiny_geom = g;
    oclip_checkpoint *ck = NULL, *ex = NULL;
    oclip_error err;
    snprintf(path, sizeof path, FIX "/%s/model.safetensors", sub);
    CHECKF(oclip_checkpoint_open(path, NULL, &ck, &err) == OCLIP_OK, "%s", err.msg);
    snprintf(path, sizeof path, FIX "/%s/expected.safetensors", sub);
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s", err.msg);
    if (!ck || !ex) goto out;
    oclip_model *m = bind_tiny(&g, E, S, ck, 2, &err);
    oclip_model *m3 = bind_tiny(&g, E, S, ck, 3, &err);
    CHECKF(m && m3, "bind: %s", err.msg);
    if (!m || !m3) goto out;
    size_t npx, nfeat, nfinal;
    float *px = expect_f32(ex, "pixels", &npx), *want = expect_f32(ex, "features", &nfeat);
    float *want_final = expect_f32(ex, "final", &nfinal);
    size_t N = npx / (3 * (size_t)S * (size_t)S);
    CHECK(N == 4 && nfeat == N * (size_t)E);
    float *want_st[5] = {0};
    size_t nst[5];
    want_st[0] = expect_f32(ex, "stem", &nst[0]);
    for (int i = 0; i < 4; i++) {
        char k[24];
        snprintf(k, sizeof k, "stage%d", i);
        want_st[i + 1] = expect_f32(ex, k, &nst[i + 1]);
    }
    oc_stages st = {0};
    float *got_st[5];
    for (int i = 0; i < 5; i++) got_st[i] = calloc(nst[i], sizeof(float));
    st.rn_stem = got_st[0];
    for (int i = 0; i < 4; i++) st.rn_layer[i] = got_st[i + 1];
    float *final = calloc(nfinal, sizeof(float)), *out = calloc(nfeat, sizeof(float));
    float *out3 = calloc(nfeat, sizeof(float));
    st.pooled = final;
    CHECKF(oc_fastvit_forward(m, px, N, out, &st, &err) == OCLIP_OK, "forward: %s", err.msg);
    CHECKF(oc_fastvit_forward(m3, px, N, out3, NULL, &err) == OCLIP_OK, "forward: %s", err.msg);
    const char *names[5] = {"stem", "stage0", "stage1", "stage2", "stage3"};
    for (int i = 0; i < 5; i++) compare(names[i], sub, got_st[i], want_st[i], nst[i]);
    compare("pooled final_conv", sub, final, want_final, nfinal);
    for (size_t i = 0; i < N; i++) {
        char what[32];
        snprintf(what, sizeof what, "features[%zu]", i);
        compare(what, sub, out + i * (size_t)E, want + i * (size_t)E, (size_t)E);
    }
    CHECKF(!memcmp(out, out3, nfeat * sizeof(float)), "2 vs 3 threads differ");
    /* distinct images give distinct features, each pair far beyond the tolerance */
    check_distinct(want, N, (size_t)E, 0.999, sub);
    for (int i = 0; i < 5; i++) free(got_st[i]), free(want_st[i]);
    free(px), free(want), free(want_final), free(final), free(out), free(out3);
    oc_fastvit_free(m), oc_fastvit_free(m3);
    oc_act_free_slot(m), oc_act_free_slot(m3); /* the activation block each forward kept */
    free(m), free(m3);
out:
    oclip_checkpoint_free(ck);
    oclip_checkpoint_free(ex);
}

/* oc_fastvit_expected against TimmModel's state_dict for the real configs */
typedef struct {
    const cJSON *rows;
    int i, bad;
    char first[300];
} cmp_ctx;

/* skips TimmModel's num_batches_tracked rows (0-dim int64 buffers, not expected but tolerated) */
static void skip_nbt(cmp_ctx *c) {
    const char *leaf = ".num_batches_tracked";
    for (;;) {
        const cJSON *nm = cJSON_GetArrayItem(cJSON_GetArrayItem(c->rows, c->i), 0);
        if (!cJSON_IsString(nm) || strlen(nm->valuestring) < strlen(leaf) ||
            strcmp(nm->valuestring + strlen(nm->valuestring) - strlen(leaf), leaf))
            return;
        c->i++;
    }
}

static void cmp_put(void *p, int ndim, const int64_t shape[4], const char *name) {
    cmp_ctx *c = p;
    skip_nbt(c);
    const cJSON *row = cJSON_GetArrayItem(c->rows, c->i++);
    const cJSON *nm = cJSON_GetArrayItem(row, 0), *sh = cJSON_GetArrayItem(row, 1);
    bool ok = cJSON_IsString(nm) && !strcmp(nm->valuestring, name) &&
              cJSON_GetArraySize(sh) == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = cJSON_GetArrayItem(sh, d)->valuedouble == shape[d];
    if (!ok && !c->bad++)
        snprintf(c->first, sizeof c->first, "entry %d: oclip %s (%d dims), TimmModel %s", c->i - 1,
                 name, ndim, cJSON_IsString(nm) ? nm->valuestring : "(none)");
}

static void test_shapes(void) {
    const char *names[] = {"fastvit_mci0", "fastvit_mci1", "fastvit_mci2", "fastvit_mci3",
                           "fastvit_mci4"};
    for (int k = 0; k < 5; k++) {
        char path[256];
        snprintf(path, sizeof path, FIX "/shapes_%s.json", names[k]);
        cJSON *j = read_json(path);
        oc_fastvit_geom g;
        CHECK(oc_fastvit_find(names[k], &g));
        cmp_ctx c = {cJSON_GetObjectItemCaseSensitive(j, "tensors"), 0, 0, ""};
        oc_fastvit_expected(&g, json_int(j, "embed_dim", -1), cmp_put, &c);
        skip_nbt(&c);
        CHECKF(!c.bad && c.i == cJSON_GetArraySize(c.rows), "%s: %d mismatches, %d of %d "
               "entries; first: %s", names[k], c.bad, c.i, cJSON_GetArraySize(c.rows), c.first);
        /* the config OpenCLIP ships is accepted */
        oclip_model_config cfg = {0};
        cfg.family = OCLIP_FAMILY_TIMM;
        snprintf(cfg.vision.timm_model_name, sizeof cfg.vision.timm_model_name, "%s", names[k]);
        snprintf(cfg.vision.timm_pool, sizeof cfg.vision.timm_pool, "avg");
        cfg.vision.image_size[0] = cfg.vision.image_size[1] = json_int(j, "image_size", -1);
        cfg.embed_dim = json_int(j, "embed_dim", -1);
        CHECKF(oc_fastvit_unsupported(&cfg, NULL) != NULL, "%s: no custom_text accepted", names[k]);
        cfg.custom_text = 1;
        const char *why = oc_fastvit_unsupported(&cfg, NULL);
        CHECKF(!why, "%s: refused: %s", names[k], why);
        snprintf(cfg.vision.timm_pool, sizeof cfg.vision.timm_pool, "token");
        CHECKF(oc_fastvit_unsupported(&cfg, NULL) != NULL, "%s: pool 'token' accepted", names[k]);
        snprintf(cfg.vision.timm_pool, sizeof cfg.vision.timm_pool, "avg");
        snprintf(cfg.vision.timm_proj, sizeof cfg.vision.timm_proj, "linear");
        CHECKF(oc_fastvit_unsupported(&cfg, NULL) != NULL, "%s: proj 'linear' accepted", names[k]);
        cJSON_Delete(j);
    }
    /* FastViTs OpenCLIP's configs do not name (ImageNet classifiers) are refused by name */
    oclip_model_config cfg = {0};
    cfg.family = OCLIP_FAMILY_TIMM;
    cfg.custom_text = 1, cfg.embed_dim = 512;
    cfg.vision.image_size[0] = cfg.vision.image_size[1] = 256;
    snprintf(cfg.vision.timm_pool, sizeof cfg.vision.timm_pool, "avg");
    snprintf(cfg.vision.timm_model_name, sizeof cfg.vision.timm_model_name, "fastvit_t8");
    CHECK(!oc_fastvit_find("fastvit_t8", NULL) && oc_fastvit_family("fastvit_t8"));
    CHECK(oc_fastvit_unsupported(&cfg, NULL) != NULL);
}

/* e2e/: the whole CustomTextCLIP loaded from its folder as a user would (the tiny trunk
 * registered under the name the generator registered with timm) */
static void test_e2e(void) {
    oclip_error err;
    CHECKF(oc_fastvit_register("fastvit_oclip_tiny", &tiny_geom, &err) == OCLIP_OK, "%s", err.msg);
    oclip_checkpoint *ex = NULL;
    CHECKF(oclip_checkpoint_open(FIX "/e2e/expected.safetensors", NULL, &ex, &err) == OCLIP_OK,
           "%s", err.msg);
    oclip_model *m = tower_load(FIX "/e2e", OCLIP_DTYPE_KEEP, &err);
    CHECKF(m != NULL, "load: %s", err.msg);
    if (!m || !ex) goto out;
    size_t npx, nimg, ntxt;
    float *px = expect_f32(ex, "pixels", &npx), *want = expect_f32(ex, "img_pooled", &nimg);
    float *want_t = expect_f32(ex, "txt_pooled", &ntxt);
    const oclip_tensor *tk = oclip_checkpoint_find(ex, "tokens");
    size_t N = 4, E = nimg / N;
    float *got = calloc(nimg, sizeof(float)), *got_t = calloc(ntxt, sizeof(float));
    CHECKF(oclip_encode_image(m, px, N, got, 0, &err) == OCLIP_OK, "encode_image: %s", err.msg);
    for (size_t i = 0; i < N; i++) {
        char what[40];
        snprintf(what, sizeof what, "encode_image[%zu]", i);
        compare(what, "e2e", got + i * E, want + i * E, E);
    }
    /* the text side (no_causal_mask) is the text tower's; checked here as the whole model */
    CHECK(tk && tk->dtype == OCLIP_DTYPE_I64 && tk->numel == 4 * 77);
    if (tk && tk->dtype == OCLIP_DTYPE_I64 && tk->numel == 4 * 77) {
        CHECKF(oclip_encode_text(m, (const int64_t *)tk->data, 4, got_t, 0, &err) == OCLIP_OK,
               "encode_text: %s", err.msg);
        compare("encode_text", "e2e", got_t, want_t, ntxt);
    }
    free(px), free(want), free(want_t), free(got), free(got_t);
out:
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
}

int main(void) {
    test_shapes();
    test_tiny("tiny");
    test_tiny("tiny_mci3");
    test_e2e();
    fprintf(stderr, "test_fastvit: worst max-abs %.3g, worst cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_fastvit");
}
