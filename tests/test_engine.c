/*
 * test_engine.c — the inference engine against OpenCLIP (fixtures by
 * `tools/gen_fixtures.py engine`, see tools/fixtures_engine.py):
 *   - per-stage activations (patch embedding, after block 0, after the last block, pooled,
 *     projected) and final embeddings / logits of three tiny models (exact GELU; QuickGELU +
 *     LayerScale + eos pool; CLIPA-like avg pool + LN after pool + no ln_pre + tanh GELU +
 *     bidirectional text + projection bias + logit_bias), stored as F32, F16 and BF16, vs OpenCLIP
 *     fp32 on the same (upcast) weights: max-abs <= 1e-4 and cosine >= 0.99999;
 *   - text computed up to the last EOT equals the full-context computation;
 *   - the same bytes for 1, 2 and 3 threads (whole models, and the GEMM on odd shapes);
 *   - the GEMM over F32/F16/BF16 weights in both storage orders against a double reference;
 *   - int8 weights: embeddings within cosine 0.999 of OpenCLIP fp32, the same bytes for 1-3
 *     threads; weight_dtype values the engine does not compute are refused;
 *   - refusals: hf-hub / ARCH:TAG / default specs, weights that do not fit, options the engine
 *     does not compute, token ids outside the vocabulary;
 *   - the same weights in other layouts (HF transformers folder, training checkpoint, torch zip)
 *     give the same bytes; one handle shared by three calling threads gives the same bytes.
 * All of it once per kernel path the CPU supports (scalar, avx2, avx512; test_kernels compares
 * the paths kernel by kernel).
 */
#include <pthread.h>

#include "nn/engine.h"
#include "tower_test.h"

#define FIX "tests/fixtures/engine"

static const char *const variants[] = {"gelu", "quickgelu_ls", "clipa_like"};
static const char *const dtypes[] = {"f32", "f16", "bf16"};

/* max |a-b| and cosine checked against the tolerances; the worst per group into *a / *c */
#define compare_group(what, tag, got, want, n, a, c) compare_tol(what, tag, got, want, n, TOL, a, c)

static oclip_model *load(const char *dir, int threads) {
    oclip_model_options o = {.threads = threads};
    oclip_model *m = NULL;
    oclip_error err;
    CHECKF(oclip_model_load(dir, &o, &m, &err) == OCLIP_OK, "%s: %s", dir, err.msg);
    return m;
}

/* One variant in one dtype: stages, embeddings, logits, truncation, thread counts. */
static void test_variant(const char *variant, const char *dtype) {
    char dir[256], path[300], tag[64];
    snprintf(dir, sizeof dir, FIX "/%s/%s", variant, dtype);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    snprintf(tag, sizeof tag, "%s/%s", variant, dtype);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    oclip_model *m = load(dir, 1);
    if (!ex || !m) {
        oclip_checkpoint_free(ex);
        oclip_model_free(m);
        return;
    }
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0], E = (size_t)m->E;
    float *pixels = expect_f32(ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    double abs_s = 0, cos_s = 1, abs_e = 0, cos_e = 1; /* stages, final embeddings+logits */

    /* stages of both towers, one buffer per stage sized as OpenCLIP's tensor */
    static const char *const img_st[] = {"img_embed", "img_block0", "img_last", "img_pooled"};
    static const char *const txt_st[] = {"txt_embed", "txt_block0", "txt_last", "txt_pooled"};
    for (int tower = 0; tower < 2; tower++) {
        const char *const *names = tower ? txt_st : img_st;
        float *want[4], *got[4];
        size_t cnt[4];
        for (int s = 0; s < 4; s++) {
            want[s] = expect_f32(ex, names[s], &cnt[s]);
            got[s] = calloc(cnt[s], sizeof(float));
        }
        oc_stages st = {got[0], got[1], got[2], got[3], NULL, NULL, NULL, {NULL}};
        size_t n = tower ? n_txt : n_img;
        float *out = malloc(n * E * sizeof(float));
        oclip_status s = tower ? oc_txt_forward(m, tokens, n, out, &st, 1, &err)
                               : oc_vit_forward(m, pixels, n, out, &st, &err);
        CHECKF(s == OCLIP_OK, "%s forward: %s", tag, err.msg);
        for (int k = 0; k < 4; k++)
            compare_group(names[k], tag, got[k], want[k], cnt[k], &abs_s, &cos_s);
        float *proj = expect_f32(ex, tower ? "txt_proj" : "img_proj", NULL);
        compare_group(tower ? "txt_proj" : "img_proj", tag, out, proj, n * E, &abs_e, &cos_e);
        if (tower) {
            /* up to the last EOT vs the full context: the same terms, float rounding apart */
            float *trunc = malloc(n * E * sizeof(float));
            CHECK(oc_txt_forward(m, tokens, n, trunc, NULL, 0, &err) == OCLIP_OK);
            double d = 0;
            for (size_t i = 0; i < n * E; i++) d = fmax(d, fabs((double)trunc[i] - out[i]));
            CHECKF(d <= 1e-5, "%s: truncated text differs from the full one by %.3g", tag, d);
            /* with these kernels it is exact: masked keys are skipped, not added as exp(-inf) */
            CHECKF(d == 0, "%s: truncated text not bit-identical (%.3g)", tag, d);
            free(trunc);
        }
        free(proj);
        free(out);
        for (int k = 0; k < 4; k++) {
            free(want[k]);
            free(got[k]);
        }
    }

    /* public API: normalized embeddings and logits */
    float *img = malloc(n_img * E * sizeof(float)), *txt = malloc(n_txt * E * sizeof(float));
    float *lg = malloc(n_img * n_txt * sizeof(float));
    CHECK(oclip_encode_image(m, pixels, n_img, img, 1, &err) == OCLIP_OK);
    CHECK(oclip_encode_text(m, tokens, n_txt, txt, 1, &err) == OCLIP_OK);
    CHECK(oclip_logits(m, img, n_img, txt, n_txt, lg, &err) == OCLIP_OK);
    float *w_img = expect_f32(ex, "img_norm", NULL), *w_txt = expect_f32(ex, "txt_norm", NULL);
    float *w_lg = expect_f32(ex, "logits", NULL);
    compare_group("img_norm", tag, img, w_img, n_img * E, &abs_e, &cos_e);
    compare_group("txt_norm", tag, txt, w_txt, n_txt * E, &abs_e, &cos_e);
    compare_group("logits", tag, lg, w_lg, n_img * n_txt, &abs_e, &cos_e);

    /* 2 and 3 threads: the same bytes */
    for (int th = 2; th <= 3; th++) {
        oclip_model *mt = load(dir, th);
        float *i2 = malloc(n_img * E * sizeof(float)), *t2 = malloc(n_txt * E * sizeof(float));
        CHECK(mt && oclip_encode_image(mt, pixels, n_img, i2, 1, &err) == OCLIP_OK);
        CHECK(mt && oclip_encode_text(mt, tokens, n_txt, t2, 1, &err) == OCLIP_OK);
        CHECKF(!memcmp(i2, img, n_img * E * sizeof(float)), "%s: image bytes differ with %d "
               "threads", tag, th);
        CHECKF(!memcmp(t2, txt, n_txt * E * sizeof(float)), "%s: text bytes differ with %d "
               "threads", tag, th);
        free(i2);
        free(t2);
        oclip_model_free(mt);
    }
    fprintf(stderr, "  %-18s stages max-abs %.2e 1-cos %.1e | embeddings+logits max-abs %.2e "
            "1-cos %.1e\n", tag, abs_s, 1 - cos_s, abs_e, 1 - cos_e);

    /* a token id outside the vocabulary is an argument error, not a read past the table */
    tokens[1] = 1 << 20;
    CHECK(oclip_encode_text(m, tokens, 1, txt, 0, &err) == OCLIP_E_ARG);
    CHECK(strstr(err.msg, "outside the vocabulary") != NULL);
    CHECK(oclip_encode_image(m, NULL, 0, NULL, 1, &err) == OCLIP_OK); /* empty batch */

    free(img), free(txt), free(lg), free(w_img), free(w_txt), free(w_lg);
    free(pixels);
    free(tokens);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
}

/* Int8 weights (weight_dtype I8) on one variant: every image and text embedding within cosine
 * 0.999 of OpenCLIP's fp32 one (the int8 accuracy bound of docs/ENGINE.md, on models whose
 * weights are random), the same bytes for 1-3 threads; other weight_dtype values refused. */
static void test_int8(const char *variant) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s/f32", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    if (!ex) return;
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0];
    float *pixels = expect_f32(ex, "pixels", NULL);
    float *w_img = expect_f32(ex, "img_norm", NULL), *w_txt = expect_f32(ex, "txt_norm", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    float *first[2] = {NULL, NULL};
    double worst = 1;
    for (int th = 1; th <= 3; th++) {
        oclip_model_options o = {.threads = th, .weight_dtype = OCLIP_DTYPE_I8};
        oclip_model *m = NULL;
        CHECKF(oclip_model_load(dir, &o, &m, &err) == OCLIP_OK, "%s int8: %s", dir, err.msg);
        if (!m) break;
        size_t E = (size_t)m->E;
        for (int tower = 0; tower < 2; tower++) {
            size_t n = tower ? n_txt : n_img;
            float *got = malloc(n * E * sizeof(float));
            oclip_status st = tower ? oclip_encode_text(m, tokens, n, got, 1, &err)
                                    : oclip_encode_image(m, pixels, n, got, 1, &err);
            CHECKF(st == OCLIP_OK, "%s int8 encode: %s", variant, err.msg);
            const float *want = tower ? w_txt : w_img;
            for (size_t i = 0; i < n; i++) {
                double d = 0;
                for (size_t e = 0; e < E; e++) d += (double)got[i * E + e] * want[i * E + e];
                worst = fmin(worst, d);
            }
            if (th == 1) {
                first[tower] = got;
                continue;
            }
            CHECKF(!memcmp(got, first[tower], n * E * sizeof(float)), "%s int8: %s bytes "
                   "differ with %d threads", variant, tower ? "text" : "image", th);
            free(got);
        }
        oclip_model_free(m);
    }
    CHECKF(worst >= 0.999, "%s int8: cosine to OpenCLIP fp32 %.6f < 0.999", variant, worst);
    fprintf(stderr, "  %-18s int8 weights: worst cosine to OpenCLIP fp32 %.6f\n", variant, worst);
    /* a weight_dtype the engine does not compute */
    oclip_model_options bad = {.weight_dtype = OCLIP_DTYPE_I64};
    oclip_model *m = (oclip_model *)1;
    CHECK(oclip_model_load(dir, &bad, &m, &err) == OCLIP_E_ARG && m == NULL);
    CHECK(strstr(err.msg, "weight_dtype I64") != NULL);
    free(first[0]), free(first[1]), free(pixels), free(w_img), free(w_txt), free(tokens);
    oclip_checkpoint_free(ex);
}

/* a fixed LCG: values in [-0.5, 0.5) */
static float lcg(unsigned *r) {
    *r = *r * 1103515245u + 12345u;
    return (float)(*r >> 8) / 16777216.0f - 0.5f;
}

/* GEMM on odd shapes, weights F32/F16/BF16 in both storage orders, vs a double reference
 * over the same (rounded) weights; and the same bytes for 1, 2, 3 threads. */
static void test_gemm(void) {
    static const size_t shapes[][3] = {{1, 1, 1}, {5, 17, 3}, {7, 33, 300}, {13, 70, 515}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        size_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
        float *X = malloc(M * K * sizeof(float)), *Wf = malloc(N * K * sizeof(float));
        float *b = malloc(N * sizeof(float)), *Y[3];
        uint8_t *Ws = malloc(N * K * 4);
        unsigned r = 12345;
        for (size_t i = 0; i < M * K; i++) X[i] = lcg(&r);
        for (size_t i = 0; i < N * K; i++) Wf[i] = lcg(&r);
        for (size_t i = 0; i < N; i++) b[i] = (float)i * 0.01f;
        static const oclip_dtype dts[] = {OCLIP_DTYPE_F32, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
        for (int di = 0; di < 3; di++)
            for (int kn = 0; kn < 2; kn++) {
                /* stored layout: [N, K] or [K, N] */
                float *Wl = malloc(N * K * sizeof(float)), *Wr = malloc(N * K * sizeof(float));
                for (size_t n = 0; n < N; n++)
                    for (size_t k = 0; k < K; k++) Wl[kn ? k * N + n : n * K + k] = Wf[n * K + k];
                oclip_dtype_cast(Ws, dts[di], Wl, OCLIP_DTYPE_F32, N * K, NULL);
                oc_load_f32(Wr, Ws, dts[di], 0, N * K); /* rounded weights, stored layout */
                oc_weight w = {Ws, dts[di], N, K, kn, NULL, OCLIP_DTYPE_F32, 0, NULL, NULL};
                for (int th = 0; th < 3; th++) {
                    Y[th] = malloc(M * N * sizeof(float));
                    oc_gemm(X, M, &w, b, Y[th], th + 1);
                }
                double md = 0;
                for (size_t m = 0; m < M; m++)
                    for (size_t n = 0; n < N; n++) {
                        double ref = b[n];
                        for (size_t k = 0; k < K; k++)
                            ref += (double)X[m * K + k] * Wr[kn ? k * N + n : n * K + k];
                        md = fmax(md, fabs(ref - Y[0][m * N + n]));
                    }
                CHECKF(md <= 1e-5 * (double)K, "gemm %zux%zux%zu %s kn=%d: max diff %.3g", M, N,
                       K, oclip_dtype_name(dts[di]), kn, md);
                CHECK(!memcmp(Y[0], Y[1], M * N * sizeof(float)));
                CHECK(!memcmp(Y[0], Y[2], M * N * sizeof(float)));
                for (int th = 0; th < 3; th++) free(Y[th]);
                free(Wl);
                free(Wr);
            }
        free(X), free(Wf), free(b), free(Ws);
    }
}

/* The GEMM's fast widening equals the reference conversion bit for bit, for every value. */
static void test_widening(void) {
    static const oclip_dtype dts[] = {OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    uint8_t src[2 * 65536];
    for (uint32_t i = 0; i < 65536; i++) {
        src[2 * i] = (uint8_t)i;
        src[2 * i + 1] = (uint8_t)(i >> 8);
    }
    float *a = malloc(65536 * sizeof(float)), *b = malloc(65536 * sizeof(float));
    for (int d = 0; d < 2; d++) {
        oc_load_f32(a, src, dts[d], 0, 65536);
        CHECK(oclip_dtype_cast(b, OCLIP_DTYPE_F32, src, dts[d], 65536, NULL) == OCLIP_OK);
        CHECKF(!memcmp(a, b, 65536 * sizeof(float)), "%s widening differs",
               oclip_dtype_name(dts[d]));
        oc_load_f32(a, src + 2, dts[d], 5, 3); /* `first` counts elements: values 6, 7, 8 */
        CHECK(!memcmp(a, b + 6, 3 * sizeof(float)));
    }
    free(a);
    free(b);
}

static void test_refusals(void) {
    oclip_model *m = NULL;
    oclip_error err;
    /* specs resolved in the Hugging Face cache: absent there -> NOT_FOUND, naming `oclip pull` */
    setenv("HF_HUB_CACHE", "/nonexistent-oclip-cache", 1);
    CHECK(oclip_model_load("hf-hub:laion/CLIP-ViT-B-32", NULL, &m, &err) == OCLIP_E_NOTFOUND);
    CHECK(strstr(err.msg, "oclip pull hf-hub:laion/CLIP-ViT-B-32") != NULL && m == NULL);
    CHECK(oclip_model_load("ViT-B-32:laion2b_s34b_b79k", NULL, &m, &err) == OCLIP_E_NOTFOUND);
    CHECK(strstr(err.msg, "oclip pull ViT-B-32:laion2b_s34b_b79k") != NULL);
    /* no spec: the embedded default model, or OCLIP_E_UNSUPPORTED in a build without one */
    oclip_status ds = oclip_model_load(NULL, NULL, &m, &err);
    CHECKF(ds == OCLIP_OK ? m != NULL : ds == OCLIP_E_UNSUPPORTED && m == NULL, "%s", err.msg);
    oclip_model_free(m);
    m = NULL;
    CHECK(oclip_model_load("tests/fixtures/engine", NULL, &m, &err) == OCLIP_E_NOTFOUND);
    CHECK(oclip_model_load("no/such/file.bin", NULL, &m, &err) == OCLIP_E_IO);

    /* weights that do not fit the architecture: refused with the first issues + hint */
    oclip_model_config cfg;
    size_t len;
    FILE *f = fopen("tests/fixtures/arch/tiny/b32like/open_clip_config.json", "rb");
    char text[8192];
    len = f ? fread(text, 1, sizeof text, f) : 0;
    if (f) fclose(f);
    CHECK(oclip_config_parse_open_clip(text, len, &cfg, NULL, &err) == OCLIP_OK);
    oclip_model_options o = {.config = &cfg, .config_source = "test"};
    CHECK(oclip_model_load("tests/fixtures/arch/mismatch/missing_layer.safetensors", &o, &m,
                           &err) == OCLIP_E_MISMATCH);
    CHECKF(strstr(err.msg, "missing") && strstr(err.msg, "hint: run 'oclip check"), "%s",
           err.msg);

    /* options the engine does not compute are refused, never approximated */
    oclip_model_config c2 = cfg;
    snprintf(c2.vision.pool_type, sizeof c2.vision.pool_type, "none");
    o.config = &c2;
    CHECK(oclip_model_load("tests/fixtures/arch/tiny/b32like", &o, &m, &err) ==
          OCLIP_E_UNSUPPORTED);
    CHECKF(strstr(err.msg, "pool_type") != NULL, "%s", err.msg);
    c2 = cfg;
    c2.family = OCLIP_FAMILY_TIMM;
    CHECK(oclip_model_load("tests/fixtures/arch/tiny/b32like", &o, &m, &err) ==
          OCLIP_E_UNSUPPORTED);

    /* the architecture from open_clip_config.json beside a file; --quick-gelu override */
    o = (oclip_model_options){.quick_gelu = OCLIP_QUICK_GELU_ON};
    CHECKF(oclip_model_load(FIX "/gelu/f32/open_clip_model.safetensors", &o, &m, &err) ==
           OCLIP_OK, "%s", err.msg);
    CHECK(m && oclip_model_config_of(m)->quick_gelu == 1 && oclip_model_embed_dim(m) == 16);
    CHECK(m && oclip_model_context_length(m) == 8);
    int h = 0, w = 0;
    if (m) oclip_model_image_size(m, &h, &w);
    CHECK(h == 32 && w == 32);
    oclip_model_free(m);
    m = NULL;
}

/* The same weights in other layouts give the same bytes: an HF-transformers folder (config.json,
 * q/k/v fused by the mapping), a training checkpoint with `module.` keys beside the
 * open_clip_config.json, and an OpenCLIP zip. */
static void test_layouts(void) {
    static const char *const specs[] = {
        "tests/fixtures/arch/tiny/b32like", "tests/fixtures/arch/tiny/b32like/hf",
        "tests/fixtures/arch/tiny/b32like/epoch_2.pt",
        "tests/fixtures/arch/tiny/b32like/open_clip_pytorch_model.bin"};
    float px[2 * 3 * 32 * 32], ref_i[2 * 16], ref_t[2 * 16], img[2 * 16], txt[2 * 16];
    int64_t tok[2 * 8] = {5, 9, 63, 0, 0, 0, 0, 0, 7, 3, 2, 8, 1, 4, 6, 63};
    for (size_t i = 0; i < sizeof px / sizeof *px; i++) px[i] = (float)(i % 97) / 50.0f - 1.0f;
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        oclip_model *m = load(specs[s], 2);
        oclip_error err;
        if (!m) continue;
        float *oi = s ? img : ref_i, *ot = s ? txt : ref_t;
        /* the first encode of each tower packs it and hands the stored pages back (dropped from
         * a file mapping, kept on the heap): the weights read the same afterwards */
        char fp0[33] = "", fp1[33] = "";
        CHECK(oclip_model_fingerprint(m, fp0, &err) == OCLIP_OK);
        CHECK(oclip_encode_image(m, px, 2, oi, 1, &err) == OCLIP_OK);
        CHECK(oclip_encode_text(m, tok, 2, ot, 1, &err) == OCLIP_OK);
        CHECK(oclip_model_fingerprint(m, fp1, &err) == OCLIP_OK);
        CHECKF(!strcmp(fp0, fp1), "%s: fingerprint changed after packing", specs[s]);
        oc_simd path = oc_simd_get();
        if (path != OC_SIMD_SCALAR && oc_simd_set(OC_SIMD_SCALAR)) {
            /* the scalar path reads the stored weights again (heap copies included) */
            float again[2 * 16];
            CHECK(oclip_encode_image(m, px, 2, again, 1, &err) == OCLIP_OK);
            double d = 0;
            for (size_t i = 0; i < 2 * 16; i++) d = fmax(d, fabs((double)again[i] - oi[i]));
            CHECKF(d <= 1e-5, "%s: stored weights changed after packing (%.3g)", specs[s], d);
            oc_simd_set(path);
        }
        if (s) {
            CHECKF(!memcmp(img, ref_i, sizeof img), "%s: image embeddings differ", specs[s]);
            CHECKF(!memcmp(txt, ref_t, sizeof txt), "%s: text embeddings differ", specs[s]);
        }
        oclip_model_free(m);
    }
}

/* A tower's first small call reads fp32 / fp16 / bf16 weights in place (no packed copy); the
 * second packs them; both give the bytes of a handle packed from its first call (over 1024 GEMM
 * rows: packed at once). Not the int8 or cast copies, which change the values. */
static void test_inplace_first_call(void) {
    static const char *const dirs[] = {FIX "/gelu/f32", FIX "/gelu/bf16"};
    int simd = oc_simd_get() != OC_SIMD_SCALAR;
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
        oclip_model *big = load(dirs[d], 2), *m = load(dirs[d], 2);
        if (!big || !m) goto next;
        size_t T = (size_t)m->vis.gh * (size_t)m->vis.gw + 1, img = 3 * (size_t)m->vis.img_h *
                                                                    (size_t)m->vis.img_w;
        size_t n = OC_INPLACE_ROWS / T + 1, E = (size_t)m->E; /* just over the limit */
        float *px = malloc(n * img * sizeof *px), *ref = malloc(n * E * sizeof *ref);
        float *out = malloc(n * E * sizeof *out);
        if (!px || !ref || !out) {
            CHECK(0);
            free(px), free(ref), free(out);
            goto next;
        }
        for (size_t i = 0; i < n * img; i++) px[i] = (float)((i * 7919) % 255) / 64.0f - 2.0f;
        CHECK(oclip_encode_image(big, px, n, ref, 1, NULL) == OCLIP_OK);
        CHECKF(big->packed[0] == 1 && big->inplace[0] == 0, "%s: %zu images packed at once",
               dirs[d], n);
        CHECK(oclip_encode_image(m, px, 2, out, 1, NULL) == OCLIP_OK);
        CHECKF(m->packed[0] == 0 && m->inplace[0] == 0 && !m->vis.tw.blocks[0].in_w.packed,
               "%s: a first call of 2 images reads the weights in place", dirs[d]);
        CHECKF(!memcmp(out, ref, 2 * E * sizeof *out), "%s: in place != packed", dirs[d]);
        CHECK(oclip_encode_image(m, px, 3, out, 1, NULL) == OCLIP_OK);
        CHECKF(m->packed[0] == 1 && (m->vis.tw.blocks[0].in_w.packed != NULL) == simd,
               "%s: the second call packs", dirs[d]);
        CHECKF(!memcmp(out, ref, 3 * E * sizeof *out), "%s: second call differs", dirs[d]);
        free(px), free(ref), free(out);
    next:
        oclip_model_free(big);
        oclip_model_free(m);
    }
}

/* The file and string APIs encode a caller's batch of up to 32 inputs in one forward pass: 13
 * images or texts on a fresh handle are one in-place call (the weights are not packed; a split
 * into passes of 8 packed them on the second), and give the bytes of 13 one-input calls. */
static void test_one_pass(void) {
    enum { N = 13 };
    oclip_model *m = load(FIX "/gelu/f32", 2), *one = load(FIX "/gelu/f32", 2);
    if (!m || !one) goto done;
    const char *paths[N], *texts[N];
    char buf[N][32];
    for (int i = 0; i < N; i++) {
        paths[i] = i % 2 ? "tests/fixtures/preprocess/img/jpg_420.jpg"
                         : "tests/fixtures/preprocess/img/p_601x589.png";
        snprintf(buf[i], sizeof buf[i], "a photo of %d dogs", i);
        texts[i] = buf[i];
    }
    size_t E = (size_t)m->E;
    float *out = malloc(N * E * sizeof *out), *ref = malloc(N * E * sizeof *ref);
    if (!out || !ref) {
        CHECK(0);
        goto free;
    }
    oclip_error err;
    CHECKF(oclip_encode_image_files(m, paths, N, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(m->used[0] == 1 && m->packed[0] == 0, "%d image files: one in-place pass", N);
    /* texts on the built-in default model (OpenCLIP's vocabulary; 13 x 77 rows fit in place) */
    oclip_model *d = load("default", 2);
    float *tout = d ? malloc(N * (size_t)d->E * sizeof *tout) : NULL;
    CHECK(tout != NULL);
    if (tout) {
        CHECKF(oclip_encode_text_strings(d, texts, NULL, N, tout, 1, &err) == OCLIP_OK, "%s",
               err.msg);
        CHECKF(d->used[1] == 1 && d->packed[1] == 0, "%d texts: one in-place pass", N);
    }
    free(tout);
    oclip_model_free(d);
    for (int i = 0; i < N; i++)
        CHECK(oclip_encode_image_files(one, paths + i, 1, ref + i * E, 1, NULL) == OCLIP_OK);
    CHECK(oclip_encode_image_files(m, paths, N, out, 1, NULL) == OCLIP_OK);
    CHECK(m->packed[0] == 1 || oc_simd_get() == OC_SIMD_SCALAR);
    CHECKF(!memcmp(out, ref, N * E * sizeof *out), "%d images in one pass != one by one", N);
free:
    free(out), free(ref);
done:
    oclip_model_free(m);
    oclip_model_free(one);
}

/* One read-only handle, several callers at once (each with its own threads): same bytes; also
 * when they are the handle's first calls. */
typedef struct {
    const oclip_model *m;
    const float *px;
    float out[3 * 16];
    oclip_status st;
} caller;

static void *call_encode(void *p) {
    caller *c = p;
    for (int r = 0; r < 3 && c->st == OCLIP_OK; r++)
        c->st = oclip_encode_image(c->m, c->px, 3, c->out, 1, NULL);
    return NULL;
}

static void test_shared_handle(void) {
    oclip_model *m = load(FIX "/gelu/bf16", 2);
    oclip_checkpoint *ex = NULL;
    const char *path = FIX "/gelu/bf16/expected.safetensors";
    CHECK(oclip_checkpoint_open(path, NULL, &ex, NULL) == OCLIP_OK);
    if (!m || !ex) goto done;
    float *px = expect_f32(ex, "pixels", NULL), ref[3 * 16];
    CHECK(oclip_encode_image(m, px, 3, ref, 1, NULL) == OCLIP_OK);
    caller c[3];
    pthread_t tid[3];
    for (int i = 0; i < 3; i++) {
        c[i] = (caller){.m = m, .px = px, .st = OCLIP_OK};
        CHECK(pthread_create(&tid[i], NULL, call_encode, &c[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        CHECK(c[i].st == OCLIP_OK && !memcmp(c[i].out, ref, sizeof ref));
    }
    /* a fresh handle whose first calls race: the first reads the weights in place, and so do
     * those that start while one does; a call that finds none packs the tower, under the
     * model's lock, while calls arriving meanwhile wait */
    oclip_model *m2 = load(FIX "/gelu/bf16", 2);
    for (int i = 0; m2 && i < 3; i++) {
        c[i] = (caller){.m = m2, .px = px, .st = OCLIP_OK};
        CHECK(pthread_create(&tid[i], NULL, call_encode, &c[i]) == 0);
    }
    for (int i = 0; m2 && i < 3; i++) {
        pthread_join(tid[i], NULL);
        CHECK(c[i].st == OCLIP_OK && !memcmp(c[i].out, ref, sizeof ref));
    }
    if (m2) { /* none running now: this call packs (on the SIMD paths) */
        CHECK(oclip_encode_image(m2, px, 3, c[0].out, 1, NULL) == OCLIP_OK &&
              !memcmp(c[0].out, ref, sizeof ref));
        CHECK(m2->packed[0] == 1 && m2->inplace[0] == 0);
    }
    oclip_model_free(m2);
    free(px);
done:
    oclip_checkpoint_free(ex);
    oclip_model_free(m);
}

/* oc_act_alloc / oc_act_release: the block a call releases is the next call's when large
 * enough; a second concurrent taker gets its own; a larger request a new block (ASan checks
 * that it is not the small one); sizes that overflow are refused */
static void test_act_slot(void) {
    oclip_model *m = calloc(1, sizeof *m);
    CHECK(m != NULL);
    if (!m) return;
    float *a = oc_act_alloc(m, 1000);
    CHECK(a != NULL);
    if (!a) return;
    a[999] = 1.0f;
    oc_act_release(m, a);
    float *b = oc_act_alloc(m, 500);
    CHECKF(b == a, "activation slot: a smaller call did not reuse the kept block");
    float *c = oc_act_alloc(m, 10);
    CHECKF(c != NULL && c != b, "activation slot: a concurrent call got the block in use");
    oc_act_release(m, b);
    oc_act_release(m, c); /* keeps c (10 floats), frees b */
    float *d = oc_act_alloc(m, 4096);
    CHECK(d != NULL);
    if (d) {
        d[4095] = 2.0f;
        oc_act_release(m, d);
    }
    CHECK(oc_act_alloc(m, SIZE_MAX / 2) == NULL);
    oc_act_free_slot(m);
    free(m);
}

int main(void) {
    /* everything once per kernel path this CPU supports (OCLIP_SIMD=scalar|avx2|avx512) */
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        worst_abs = 0, worst_cos = 1.0;
        test_gemm();
        test_widening();
        test_refusals();
        test_layouts();
        test_shared_handle();
        test_act_slot();
        test_inplace_first_call();
        test_one_pass();
        for (size_t v = 0; v < sizeof variants / sizeof *variants; v++)
            for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++)
                test_variant(variants[v], dtypes[d]);
        for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) test_int8(variants[v]);
        fprintf(stderr, "  worst over all: max-abs %.2e, 1-cosine %.1e (tolerances %g, %g)\n",
                worst_abs, 1 - worst_cos, TOL, 1 - MIN_COS);
    }
    oc_simd_set(best);
    return TEST_REPORT("test_engine");
}
