/*
 * convnext.c — the timm ConvNeXt image tower as OpenCLIP's TimmModel runs it (open_clip
 * timm_model.py TimmModel.forward: trunk, then head) over timm's ConvNeXt (timm
 * models/convnext.py, conv_mlp False, head_norm_first False):
 *   stem: Conv2d(3, C0, 4, stride 4, bias) + LayerNorm2d;
 *   stages i: downsample (i > 0: LayerNorm2d + Conv2d(C_{i-1}, C_i, 2, stride 2, bias)), then
 *     blocks (ConvNeXtBlock.forward): x + gamma * fc2(GELU(fc1(LayerNorm(conv_dw(x))))), conv_dw
 *     the 7x7 depthwise Conv2d (pad 3, bias), the LayerNorm over the channels (channels-last);
 *   head (NormMlpClassifierHead.forward with the classifier reset): global average pool,
 *     LayerNorm2d (head.norm), flatten; then TimmModel.head: proj (Linear without bias) or mlp
 *     (timm Mlp: fc1 with bias, nn.GELU, fc2 without).
 * Every LayerNorm of the trunk has the same eps (norm_eps: 1e-6 by default, 1e-5 for
 * convnext_xxlarge). Activations are channels-last (kernels.h oc_conv2d), so the LayerNorm2d's
 * and the blocks' LayerNorm are both oc_layernorm over rows of C; the stages handed to tests are
 * NCHW as PyTorch's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define CNX_CHUNK 8                         /* images per forward chunk, at most */
#define CNX_CHUNK_FLOATS ((size_t)48 << 20) /* fewer when one image's activations are large */

typedef struct {
    oc_conv dw;                           /* conv_dw: 7x7 depthwise, pad 3 */
    float *ln_w, *ln_b, *fc1_b, *fc2_b, *gamma;
    oc_weight fc1, fc2;                   /* [4C, C], [C, 4C] as stored (nn.Linear) */
} cnx_block;

typedef struct oc_convnext {
    oc_convnext_geom g;
    int H, W, E;
    oc_conv stem, ds[4];                  /* ds[0] unused (stage 0 has no downsample) */
    float *stem_ln_w, *stem_ln_b, *ds_ln_w[4], *ds_ln_b[4], *head_ln_w, *head_ln_b;
    cnx_block *blocks;                    /* depths[0] + ... + depths[3] */
    int nblocks;
    oc_weight proj, fc1, fc2;             /* head: proj [E, C3]; or mlp fc1 [2E, C3], fc2 [E, 2E] */
    float *fc1_b;                         /* [2E] */
} oc_convnext;

/* =============================================================================================
 * Binding
 */
typedef struct {
    const oclip_checkpoint *ck;
    oclip_error *err;
    int nth, pack;
    oclip_status st;
} cbind;

static bool float_type(oclip_dtype d) {
    return d == OCLIP_DTYPE_F32 || d == OCLIP_DTYPE_F16 || d == OCLIP_DTYPE_BF16;
}

static const oclip_tensor *find(cbind *b, const char *name, uint64_t numel) {
    const oclip_tensor *t = oclip_checkpoint_find(b->ck, name);
    if (!t) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s' missing", name);
        return NULL;
    }
    if (t->numel != numel || !float_type(t->dtype)) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': %llu %s values, expected %llu "
                           "floats", name, (unsigned long long)t->numel,
                           oclip_dtype_name(t->dtype), (unsigned long long)numel);
        return NULL;
    }
    return t;
}

/* tensor `name` as numel fp32 values in a new malloc'd buffer; NULL (b->st set) on failure */
static float *load(cbind *b, uint64_t numel, const char *fmt, ...) OC_PRINTF(3, 4);
static float *load(cbind *b, uint64_t numel, const char *fmt, ...) {
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->st) return NULL;
    const oclip_tensor *t = find(b, name, numel);
    if (!t) return NULL;
    float *p = malloc((size_t)(numel ? numel : 1) * sizeof(float));
    if (!p) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (%s)", name);
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, 0, (size_t)numel);
    return p;
}

/* nn.Linear `name` [n, k] read in place (packed for the SIMD paths) */
static void linear(cbind *b, oc_weight *w, size_t n, size_t k, const char *fmt, ...)
    OC_PRINTF(5, 6);
static void linear(cbind *b, oc_weight *w, size_t n, size_t k, const char *fmt, ...) {
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->st) return;
    const oclip_tensor *t = find(b, name, (uint64_t)n * k);
    if (!t) return;
    *w = (oc_weight){.data = t->data, .dtype = t->dtype, .n = n, .k = k};
    if (b->pack && (b->st = oc_weight_pack(w, OCLIP_DTYPE_F32, 0, b->nth, b->err)))
        oc_err_wrap(b->err, "'%s'", name);
}

/* Conv2d `prefix`.weight [cout, cin / groups, k, k] + .bias [cout] */
static void conv(cbind *b, oc_conv *cv, const char *prefix, int cin, int cout, int k, int stride,
                 int pad, int groups) {
    if (b->st) return;
    uint64_t per = (uint64_t)(cin / groups) * (uint64_t)k * (uint64_t)k;
    float *w = load(b, (uint64_t)cout * per, "%s.weight", prefix);
    float *bias = w ? load(b, (uint64_t)cout, "%s.bias", prefix) : NULL;
    if (w && bias &&
        (b->st = oc_conv_init(cv, w, bias, cin, cout, k, k, stride, pad, groups, b->pack, b->nth,
                              b->err)))
        oc_err_wrap(b->err, "'%s.weight'", prefix);
    free(w), free(bias);
}

/* Output side after the stem (k 4 stride 4) and i downsamples (k 2 stride 2) */
static size_t side(size_t in, int stage) {
    size_t s = oc_conv_out(in, 4, 4, 0);
    for (int i = 0; i < stage; i++) s = oc_conv_out(s, 2, 2, 0);
    return s;
}

oclip_status oc_convnext_bind(oclip_model *m, const oclip_checkpoint *ck,
                              const oc_convnext_geom *g, oclip_error *err) {
    const oclip_vision_cfg *v = &m->cfg.vision;
    oc_convnext *c = calloc(1, sizeof *c);
    if (!c) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    m->vis.cnx = c;
    c->g = *g;
    c->H = v->image_size[0], c->W = v->image_size[1], c->E = m->cfg.embed_dim;
    m->vis.img_h = c->H, m->vis.img_w = c->W;
    for (int i = 0; i < 4; i++)
        if (g->depths[i] < 0 || g->depths[i] > 256 || g->dims[i] <= 0 || g->dims[i] > 16384)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ConvNeXt stage %d: depth %d, width %d",
                              i, g->depths[i], g->dims[i]);
    if (c->E <= 0 || c->H <= 0 || c->W <= 0 || !side((size_t)c->H, 3) || !side((size_t)c->W, 3))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ConvNeXt at image_size %dx%d: smaller than "
                          "the 32x32 its stem and downsamples reduce to one position", c->H,
                          c->W);
    cbind b = {ck, err, m->threads, oc_kernels_get()->pack_weights, OCLIP_OK};
    char p[160];
    int C = g->dims[0];
    conv(&b, &c->stem, "visual.trunk.stem.0", 3, C, 4, 4, 0, 1);
    c->stem_ln_w = load(&b, (uint64_t)C, "visual.trunk.stem.1.weight");
    c->stem_ln_b = load(&b, (uint64_t)C, "visual.trunk.stem.1.bias");
    for (int i = 0; i < 4; i++) c->nblocks += g->depths[i];
    c->blocks = calloc(c->nblocks ? (size_t)c->nblocks : 1, sizeof *c->blocks);
    if (!c->blocks) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < 4 && !b.st; i++) {
        int Co = g->dims[i];
        if (i > 0) {
            c->ds_ln_w[i] = load(&b, (uint64_t)C, "visual.trunk.stages.%d.downsample.0.weight", i);
            c->ds_ln_b[i] = load(&b, (uint64_t)C, "visual.trunk.stages.%d.downsample.0.bias", i);
            snprintf(p, sizeof p, "visual.trunk.stages.%d.downsample.1", i);
            conv(&b, &c->ds[i], p, C, Co, 2, 2, 0, 1);
        }
        C = Co;
        size_t M = 4 * (size_t)C; /* timm ConvNeXtBlock mlp_ratio 4 */
        for (int j = 0; j < g->depths[i] && !b.st; j++, k++) {
            cnx_block *bk = &c->blocks[k];
#define BLK "visual.trunk.stages.%d.blocks.%d."
            snprintf(p, sizeof p, BLK "conv_dw", i, j);
            conv(&b, &bk->dw, p, C, C, 7, 1, 3, C);
            bk->ln_w = load(&b, (uint64_t)C, BLK "norm.weight", i, j);
            bk->ln_b = load(&b, (uint64_t)C, BLK "norm.bias", i, j);
            linear(&b, &bk->fc1, M, (size_t)C, BLK "mlp.fc1.weight", i, j);
            bk->fc1_b = load(&b, M, BLK "mlp.fc1.bias", i, j);
            linear(&b, &bk->fc2, (size_t)C, M, BLK "mlp.fc2.weight", i, j);
            bk->fc2_b = load(&b, (uint64_t)C, BLK "mlp.fc2.bias", i, j);
            bk->gamma = load(&b, (uint64_t)C, BLK "gamma", i, j);
#undef BLK
        }
    }
    c->head_ln_w = load(&b, (uint64_t)C, "visual.trunk.head.norm.weight");
    c->head_ln_b = load(&b, (uint64_t)C, "visual.trunk.head.norm.bias");
    size_t E = (size_t)c->E;
    if (g->mlp) {
        linear(&b, &c->fc1, 2 * E, (size_t)C, "visual.head.mlp.fc1.weight");
        c->fc1_b = load(&b, 2 * E, "visual.head.mlp.fc1.bias");
        linear(&b, &c->fc2, E, 2 * E, "visual.head.mlp.fc2.weight");
    } else {
        linear(&b, &c->proj, E, (size_t)C, "visual.head.proj.weight");
    }
    return b.st;
}

void oc_convnext_free(oclip_model *m) {
    oc_convnext *c = m->vis.cnx;
    if (!c) return;
    oc_conv_free(&c->stem);
    free(c->stem_ln_w), free(c->stem_ln_b);
    for (int i = 0; i < 4; i++) {
        oc_conv_free(&c->ds[i]);
        free(c->ds_ln_w[i]), free(c->ds_ln_b[i]);
    }
    for (int k = 0; c->blocks && k < c->nblocks; k++) {
        cnx_block *bk = &c->blocks[k];
        oc_conv_free(&bk->dw);
        oc_weight_unpack(&bk->fc1), oc_weight_unpack(&bk->fc2);
        free(bk->ln_w), free(bk->ln_b), free(bk->fc1_b), free(bk->fc2_b), free(bk->gamma);
    }
    free(c->blocks);
    free(c->head_ln_w), free(c->head_ln_b), free(c->fc1_b);
    oc_weight_unpack(&c->proj), oc_weight_unpack(&c->fc1), oc_weight_unpack(&c->fc2);
    free(c);
    m->vis.cnx = NULL;
}

/* =============================================================================================
 * Forward
 */
static void to_nchw(float *dst, const float *x, size_t n, size_t H, size_t W, size_t C) {
    for (size_t b = 0; b < n; b++)
        for (size_t p = 0; p < H * W; p++)
            for (size_t c = 0; c < C; c++) dst[(b * C + c) * H * W + p] = x[(b * H * W + p) * C + c];
}

/* floats per image of the three buffers: x and t (a stage's activations, and the pixels), f
 * (the blocks' MLP hidden layer) */
static void sizes(const oc_convnext *c, size_t *sx, size_t *sf) {
    size_t x = 3 * (size_t)c->H * (size_t)c->W, f = 0;
    for (int i = 0; i < 4; i++) {
        size_t a = side((size_t)c->H, i) * side((size_t)c->W, i) * (size_t)c->g.dims[i];
        if (a > x) x = a;
        if (4 * a > f) f = 4 * a;
    }
    size_t head = 2 * (size_t)c->E + (size_t)c->g.dims[3];
    if (head > f) f = head;
    *sx = x, *sf = f;
}

static oclip_status chunk_forward(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, const oc_stages *st, size_t first, float *x,
                                  float *t, float *f, oclip_error *err) {
    const oc_convnext *c = m->vis.cnx;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    float eps = c->g.eps;
    size_t H = (size_t)c->H, W = (size_t)c->W;
    oclip_status s;
    /* NCHW pixels -> channels last, in t */
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < 3; ch++)
            for (size_t p = 0; p < H * W; p++)
                t[(i * H * W + p) * 3 + ch] = pixels[(i * 3 + ch) * H * W + p];
    /* stem: conv 4x4 stride 4, LayerNorm2d */
    if ((s = oc_conv2d(&c->stem, t, n, H, W, x, NULL, 0, nth, err))) return s;
    size_t h = side(H, 0), w = side(W, 0), C = (size_t)c->g.dims[0];
    oc_layernorm(x, x, n * h * w, C, c->stem_ln_w, c->stem_ln_b, eps, nth);
    if (st && st->rn_stem) to_nchw(st->rn_stem + first * C * h * w, x, n, h, w, C);
    int k = 0;
    for (int i = 0; i < 4; i++) {
        if (i > 0) { /* downsample: LayerNorm2d, conv 2x2 stride 2 */
            oc_layernorm(x, t, n * h * w, C, c->ds_ln_w[i], c->ds_ln_b[i], eps, nth);
            if ((s = oc_conv2d(&c->ds[i], t, n, h, w, x, NULL, 0, nth, err))) return s;
            h = oc_conv_out(h, 2, 2, 0), w = oc_conv_out(w, 2, 2, 0);
            C = (size_t)c->g.dims[i];
        }
        size_t P = n * h * w;
        for (int j = 0; j < c->g.depths[i]; j++, k++) {
            const cnx_block *bk = &c->blocks[k];
            if ((s = oc_conv2d(&bk->dw, x, n, h, w, t, NULL, 0, nth, err))) return s;
            oc_layernorm(t, t, P, C, bk->ln_w, bk->ln_b, eps, nth);
            /* fc1 + GELU, then fc2 and x + drop_path(x.mul(gamma)) (the product rounded, then
             * the sum) in the GEMMs' epilogues, each block of the output while it is in cache */
            oc_epilogue gelu = {1, OC_ACT_GELU, NULL, NULL};
            oc_epilogue resid = {0, OC_ACT_GELU, x, bk->gamma};
            oc_gemm_ep(t, P, &bk->fc1, bk->fc1_b, f, &gelu, nth);
            oc_gemm_ep(f, P, &bk->fc2, bk->fc2_b, t, &resid, nth);
        }
        if (st && st->rn_layer[i]) to_nchw(st->rn_layer[i] + first * C * h * w, x, n, h, w, C);
    }
    /* head: global average pool, head.norm (LayerNorm2d over [N, C, 1, 1]) */
    float *pooled = t;
    for (size_t i = 0; i < n; i++) {
        float *pi = pooled + i * C;
        for (size_t ch = 0; ch < C; ch++) pi[ch] = 0.0f;
        for (size_t p = 0; p < h * w; p++)
            for (size_t ch = 0; ch < C; ch++) pi[ch] += x[(i * h * w + p) * C + ch];
        for (size_t ch = 0; ch < C; ch++) pi[ch] /= (float)(h * w);
    }
    oc_layernorm(pooled, pooled, n, C, c->head_ln_w, c->head_ln_b, eps, nth);
    if (st && st->pooled) memcpy(st->pooled + first * C, pooled, n * C * sizeof(float));
    /* TimmModel.head */
    if (c->g.mlp) {
        size_t E = (size_t)c->E;
        oc_gemm(pooled, n, &c->fc1, c->fc1_b, f, nth);
        oc_activate(f, n * 2 * E, OC_ACT_GELU, nth);
        oc_gemm(f, n, &c->fc2, NULL, out, nth);
    } else {
        oc_gemm(pooled, n, &c->proj, NULL, out, nth);
    }
    return OCLIP_OK;
}

oclip_status oc_convnext_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                 const oc_stages *st, oclip_error *err) {
    const oc_convnext *c = m->vis.cnx;
    if (!n) return OCLIP_OK;
    size_t sx, sf;
    sizes(c, &sx, &sf);
    size_t per = 2 * sx + sf, chunk = CNX_CHUNK_FLOATS / (per ? per : 1);
    if (chunk > CNX_CHUNK) chunk = CNX_CHUNK;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    uint64_t total;
    if (oc_mul_overflow_u64((uint64_t)per, chunk, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *mem = oc_act_alloc(m, (size_t)total);
    if (!mem)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations, %llu bytes)",
                          (unsigned long long)(total * sizeof(float)));
    float *x = mem, *t = x + sx * chunk, *f = t + sx * chunk;
    size_t img = 3 * (size_t)c->H * (size_t)c->W;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = chunk_forward(m, pixels + i * img, k, out + i * (size_t)c->E, st, i, x, t, f, err);
    }
    oc_act_release(m, mem);
    return s;
}
