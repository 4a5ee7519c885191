/*
 * vitamin.c — the timm ViTamin image tower as OpenCLIP's TimmModel runs it (open_clip
 * timm_model.py TimmModel.forward: trunk, then head) over timm's VisionTransformer with a
 * HybridEmbed whose backbone is MbConvStages (timm models/vitamin.py, vision_transformer.py):
 *   backbone.stem: conv1 3x3 stride 2 (pad 1, bias), norm1 = LayerNormAct2d (LayerNorm2d + GELU),
 *     conv2 3x3 (pad 1, bias);
 *   backbone.stages[0..1], MbConvLNBlock each (the first of a stage with stride 2):
 *     shortcut: AvgPool2d(3, 2, pad 1, count_include_pad False), then the 1x1 shortcut.expand
 *     (bias) when the width changes; stride 1: the input itself;
 *     x = conv3_1x1(GELU(conv2_kxk(GELU(conv1_1x1(pre_norm(x)))))) + shortcut, pre_norm a
 *     LayerNorm2d, conv1_1x1 to mid = make_divisible(4 * out), conv2_kxk the 3x3 depthwise
 *     (stride, pad 1), conv3_1x1 back to out, every one with bias;
 *   backbone.pool (StridedConv): LayerNorm2d, then conv 3x3 stride 2 (pad 1, bias) to width D;
 *   the grid flattened row-major into G tokens (no class token), + pos_embed when learned;
 *   blocks: x += attn.proj(attention(attn.qkv(norm1(x)))); x += mlp(norm2(x)), mlp the GeGluMlp:
 *     h = mlp.norm(x); w2(GELU(w0(h)) * w1(h));
 *   norm is Identity (fc_norm used), the mean over the tokens, fc_norm, head Identity; then
 *   TimmModel.head.proj (Linear without bias).
 * Every LayerNorm / LayerNorm2d has eps 1e-6; GELU is exact. Activations are channels-last
 * (kernels.h oc_conv2d), so a LayerNorm2d is oc_layernorm over rows of C; the stages handed to
 * tests are NCHW as PyTorch's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define VT_CHUNK 8                         /* images per forward chunk, at most */
#define VT_CHUNK_FLOATS ((size_t)48 << 20) /* fewer when one image's activations are large */
#define VT_EPS 1e-6f                       /* timm LayerNorm / LayerNorm2d as vitamin.py builds them */

typedef struct {
    int cin, cout, mid, stride, expand;
    oc_conv sc, c1, c2, c3; /* shortcut.expand (expand), conv1_1x1, conv2_kxk, conv3_1x1 */
    float *ln_w, *ln_b;     /* pre_norm [cin] */
} vt_mbconv;

typedef struct {
    float *n1_w, *n1_b, *n2_w, *n2_b, *mn_w, *mn_b;  /* norm1, norm2, mlp.norm [D] */
    float *qkv_b, *proj_b, *w0_b, *w1_b, *w2_b;      /* [3D], [D], [M], [M], [D] */
    oc_weight qkv, proj, w0, w1, w2;                 /* [3D, D], [D, D], [M, D] x2, [D, M] */
} vt_block;

typedef struct oc_vitamin {
    oc_vitamin_geom g;
    int H, W, E, gh, gw;
    oc_conv stem1, stem2, pool;
    float *stem_ln_w, *stem_ln_b, *pool_ln_w, *pool_ln_b, *fc_w, *fc_b;
    vt_mbconv *mb;
    int nmb;
    vt_block *blocks;
    float *pos; /* pos_embed [G, D], or NULL */
} oc_vitamin;

/* Side after a 3x3 stride-2 pad-1 convolution or AvgPool2d(3, 2, 1) */
static size_t half(size_t s) { return oc_conv_out(s, 3, 2, 1); }

/* timm layers/helpers.py make_divisible(v, 8) */
static int make_divisible(double v) {
    int n = (int)(v + 4) / 8 * 8;
    if (n < 8) n = 8;
    if ((double)n < 0.9 * v) n += 8;
    return n;
}

/* =============================================================================================
 * Binding
 */
typedef struct {
    oclip_model *m;
    const oclip_checkpoint *ck;
    oclip_error *err;
    int nth, pack;
    oclip_status st;
} vbind;

static const oclip_tensor *find(vbind *b, const char *name, uint64_t numel) {
    const oclip_tensor *t = oclip_checkpoint_find(b->ck, name);
    if (!t) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s' missing", name);
        return NULL;
    }
    if (t->numel != numel || (t->dtype != OCLIP_DTYPE_F32 && t->dtype != OCLIP_DTYPE_F16 &&
                              t->dtype != OCLIP_DTYPE_BF16)) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': %llu %s values, expected %llu "
                           "floats", name, (unsigned long long)t->numel,
                           oclip_dtype_name(t->dtype), (unsigned long long)numel);
        return NULL;
    }
    return t;
}

/* tensor `name` as numel fp32 values: in the model's arena (tmp 0) or a malloc'd buffer the
 * caller frees (tmp 1); NULL (b->st set) on failure */
static float *load(vbind *b, int tmp, uint64_t numel, const char *fmt, ...) OC_PRINTF(4, 5);
static float *load(vbind *b, int tmp, uint64_t numel, const char *fmt, ...) {
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->st) return NULL;
    const oclip_tensor *t = find(b, name, numel);
    if (!t) return NULL;
    size_t bytes = (size_t)(numel ? numel : 1) * sizeof(float);
    float *p = tmp ? malloc(bytes) : oc_arena_alloc(&b->m->arena, bytes);
    if (!p) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (%s)", name);
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, 0, (size_t)numel);
    return p;
}

/* nn.Linear `name` [n, k] read in place (tower.c packs it with the tower) */
static void linear_w(vbind *b, oc_weight *w, size_t n, size_t k, const char *fmt, ...)
    OC_PRINTF(5, 6);
static void linear_w(vbind *b, oc_weight *w, size_t n, size_t k, const char *fmt, ...) {
    char name[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->st) return;
    const oclip_tensor *t = find(b, name, (uint64_t)n * k);
    if (t) *w = (oc_weight){.data = t->data, .dtype = t->dtype, .n = n, .k = k};
}

/* Conv2d `prefix`.weight [cout, cin / groups, k, k] + .bias [cout] */
static void conv(vbind *b, oc_conv *cv, const char *prefix, int cin, int cout, int k, int stride,
                 int pad, int groups) {
    if (b->st) return;
    uint64_t per = (uint64_t)(cin / groups) * (uint64_t)k * (uint64_t)k;
    float *w = load(b, 1, (uint64_t)cout * per, "%s.weight", prefix);
    float *bias = w ? load(b, 1, (uint64_t)cout, "%s.bias", prefix) : NULL;
    if (w && bias &&
        (b->st = oc_conv_init(cv, w, bias, cin, cout, k, k, stride, pad, groups, b->pack, b->nth,
                              b->err)))
        oc_err_wrap(b->err, "'%s.weight'", prefix);
    free(w), free(bias);
}

oclip_status oc_vitamin_bind(oclip_model *m, const oclip_checkpoint *ck,
                             const oc_vitamin_geom *g, oclip_error *err) {
    const oclip_vision_cfg *v = &m->cfg.vision;
    oc_vitamin *t = calloc(1, sizeof *t);
    if (!t) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    m->vis.vitamin = t;
    t->g = *g;
    t->H = v->image_size[0], t->W = v->image_size[1], t->E = m->cfg.embed_dim;
    m->vis.img_h = t->H, m->vis.img_w = t->W;
    size_t gh = half(half(half(half((size_t)t->H)))), gw = half(half(half(half((size_t)t->W))));
    t->gh = (int)gh, t->gw = (int)gw;
    int D = g->dims[2];
    if (gh * gw == 0 || gh * gw > OC_MAX_TOKENS || g->heads <= 0 || D % g->heads)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ViTamin at image_size %dx%d: %zu x %zu "
                          "tokens, width %d, %d heads", t->H, t->W, gh, gw, D, g->heads);
    vbind b = {m, ck, err, m->threads, oc_kernels_get()->pack_weights, OCLIP_OK};
    char p[200];
#define BB "visual.trunk.patch_embed.backbone."
    int S = g->stem;
    conv(&b, &t->stem1, BB "stem.conv1", 3, S, 3, 2, 1, 1);
    t->stem_ln_w = load(&b, 0, (uint64_t)S, BB "stem.norm1.weight");
    t->stem_ln_b = load(&b, 0, (uint64_t)S, BB "stem.norm1.bias");
    conv(&b, &t->stem2, BB "stem.conv2", S, S, 3, 1, 1, 1);
    t->nmb = g->depths[0] + g->depths[1];
    t->mb = calloc((size_t)t->nmb, sizeof *t->mb);
    if (!t->mb) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    int C = S, k = 0;
    for (int s = 0; s < 2; s++) {
        int Co = g->dims[s], mid = make_divisible(4.0 * Co);
        for (int j = 0; j < g->depths[s] && !b.st; j++, k++) {
            vt_mbconv *mb = &t->mb[k];
            mb->cin = C, mb->cout = Co, mb->mid = mid, mb->stride = j == 0 ? 2 : 1;
            mb->expand = j == 0 && C != Co;
#define BLK BB "stages.%d.%d."
            if (mb->expand) {
                snprintf(p, sizeof p, BLK "shortcut.expand", s, j);
                conv(&b, &mb->sc, p, C, Co, 1, 1, 0, 1);
            }
            mb->ln_w = load(&b, 0, (uint64_t)C, BLK "pre_norm.weight", s, j);
            mb->ln_b = load(&b, 0, (uint64_t)C, BLK "pre_norm.bias", s, j);
            snprintf(p, sizeof p, BLK "conv1_1x1", s, j);
            conv(&b, &mb->c1, p, C, mid, 1, 1, 0, 1);
            snprintf(p, sizeof p, BLK "conv2_kxk", s, j);
            conv(&b, &mb->c2, p, mid, mid, 3, mb->stride, 1, mid);
            snprintf(p, sizeof p, BLK "conv3_1x1", s, j);
            conv(&b, &mb->c3, p, mid, Co, 1, 1, 0, 1);
#undef BLK
            C = Co;
        }
    }
    t->pool_ln_w = load(&b, 0, (uint64_t)C, BB "pool.norm.weight");
    t->pool_ln_b = load(&b, 0, (uint64_t)C, BB "pool.norm.bias");
    conv(&b, &t->pool, BB "pool.proj", C, D, 3, 2, 1, 1);
#undef BB
    if (g->pos) t->pos = load(&b, 0, (uint64_t)gh * gw * (uint64_t)D, "visual.trunk.pos_embed");
    size_t Dz = (size_t)D, M = (size_t)g->mlp;
    t->blocks = g->depth ? calloc((size_t)g->depth, sizeof *t->blocks) : NULL;
    if (g->depth && !t->blocks) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    for (int l = 0; l < g->depth && !b.st; l++) {
        vt_block *k2 = &t->blocks[l];
#define B "visual.trunk.blocks.%d."
        k2->n1_w = load(&b, 0, Dz, B "norm1.weight", l);
        k2->n1_b = load(&b, 0, Dz, B "norm1.bias", l);
        linear_w(&b, &k2->qkv, 3 * Dz, Dz, B "attn.qkv.weight", l);
        k2->qkv_b = load(&b, 0, 3 * Dz, B "attn.qkv.bias", l);
        linear_w(&b, &k2->proj, Dz, Dz, B "attn.proj.weight", l);
        k2->proj_b = load(&b, 0, Dz, B "attn.proj.bias", l);
        k2->n2_w = load(&b, 0, Dz, B "norm2.weight", l);
        k2->n2_b = load(&b, 0, Dz, B "norm2.bias", l);
        k2->mn_w = load(&b, 0, Dz, B "mlp.norm.weight", l);
        k2->mn_b = load(&b, 0, Dz, B "mlp.norm.bias", l);
        linear_w(&b, &k2->w0, M, Dz, B "mlp.w0.weight", l);
        k2->w0_b = load(&b, 0, M, B "mlp.w0.bias", l);
        linear_w(&b, &k2->w1, M, Dz, B "mlp.w1.weight", l);
        k2->w1_b = load(&b, 0, M, B "mlp.w1.bias", l);
        linear_w(&b, &k2->w2, Dz, M, B "mlp.w2.weight", l);
        k2->w2_b = load(&b, 0, Dz, B "mlp.w2.bias", l);
#undef B
    }
    t->fc_w = load(&b, 0, Dz, "visual.trunk.fc_norm.weight");
    t->fc_b = load(&b, 0, Dz, "visual.trunk.fc_norm.bias");
    linear_w(&b, &m->vis.proj, (size_t)t->E, Dz, "visual.head.proj.weight");
    return b.st;
}

size_t oc_vitamin_weights(struct oc_vitamin *t, oc_weight **w) {
    size_t k = 0;
    for (int l = 0; t && t->blocks && l < t->g.depth; l++) {
        vt_block *b = &t->blocks[l];
        oc_weight *all[5] = {&b->qkv, &b->proj, &b->w0, &b->w1, &b->w2};
        for (int i = 0; i < 5; i++)
            if (all[i]->data) {
                if (w) w[k] = all[i];
                k++;
            }
    }
    return k;
}

void oc_vitamin_unpack(struct oc_vitamin *t) {
    for (int l = 0; t && t->blocks && l < t->g.depth; l++) {
        vt_block *b = &t->blocks[l];
        oc_weight_unpack(&b->qkv), oc_weight_unpack(&b->proj), oc_weight_unpack(&b->w0);
        oc_weight_unpack(&b->w1), oc_weight_unpack(&b->w2);
    }
}

void oc_vitamin_free(oclip_model *m) {
    oc_vitamin *t = m->vis.vitamin;
    if (!t) return;
    oc_vitamin_unpack(t);
    oc_conv_free(&t->stem1), oc_conv_free(&t->stem2), oc_conv_free(&t->pool);
    for (int k = 0; t->mb && k < t->nmb; k++) {
        vt_mbconv *mb = &t->mb[k];
        oc_conv_free(&mb->sc), oc_conv_free(&mb->c1), oc_conv_free(&mb->c2);
        oc_conv_free(&mb->c3);
    }
    free(t->mb);
    free(t->blocks);
    free(t);
    m->vis.vitamin = NULL;
}

/* =============================================================================================
 * Forward
 */
static void to_nchw(float *dst, const float *x, size_t n, size_t H, size_t W, size_t C) {
    for (size_t b = 0; b < n; b++)
        for (size_t p = 0; p < H * W; p++)
            for (size_t c = 0; c < C; c++) dst[(b * C + c) * H * W + p] = x[(b * H * W + p) * C + c];
}

/* nn.AvgPool2d(3, stride 2, padding 1, count_include_pad=False) over channels-last x: the sum of
 * the window's positions inside the image in (ky, kx) order, divided by their count */
static void avgpool3s2(const float *x, size_t n, size_t H, size_t W, size_t C, float *y) {
    size_t Ho = half(H), Wo = half(W);
    for (size_t b = 0; b < n; b++)
        for (size_t oy = 0; oy < Ho; oy++)
            for (size_t ox = 0; ox < Wo; ox++) {
                float *yp = y + ((b * Ho + oy) * Wo + ox) * C;
                for (size_t c = 0; c < C; c++) yp[c] = 0.0f;
                int cnt = 0;
                for (long ky = 0; ky < 3; ky++) {
                    long iy = (long)oy * 2 - 1 + ky;
                    if (iy < 0 || iy >= (long)H) continue;
                    for (long kx = 0; kx < 3; kx++) {
                        long ix = (long)ox * 2 - 1 + kx;
                        if (ix < 0 || ix >= (long)W) continue;
                        const float *xp = x + ((b * H + (size_t)iy) * W + (size_t)ix) * C;
                        for (size_t c = 0; c < C; c++) yp[c] += xp[c];
                        cnt++;
                    }
                }
                for (size_t c = 0; c < C; c++) yp[c] /= (float)cnt;
            }
}

/* floats per image: act (each of the three activation buffers), mid (conv1_1x1's output), dmid
 * (conv2_kxk's), vit (the ViT blocks' rows: h, qkv, o, and the GeGLU's two hidden layers) */
static void sizes(const oc_vitamin *t, size_t *act, size_t *mid, size_t *dmid, size_t *vit) {
    size_t h = half((size_t)t->H), w = half((size_t)t->W);
    size_t a = 3 * (size_t)t->H * (size_t)t->W, f = 0, d = 0, C = (size_t)t->g.stem;
    if (h * w * C > a) a = h * w * C;
    for (int k = 0; k < t->nmb; k++) {
        const vt_mbconv *mb = &t->mb[k];
        size_t ho = mb->stride == 2 ? half(h) : h, wo = mb->stride == 2 ? half(w) : w;
        if (h * w * (size_t)mb->cin > a) a = h * w * (size_t)mb->cin;
        if (ho * wo * (size_t)mb->cout > a) a = ho * wo * (size_t)mb->cout;
        if (h * w * (size_t)mb->mid > f) f = h * w * (size_t)mb->mid;
        if (ho * wo * (size_t)mb->mid > d) d = ho * wo * (size_t)mb->mid;
        h = ho, w = wo;
    }
    size_t G = (size_t)t->gh * (size_t)t->gw, D = (size_t)t->g.dims[2], M = (size_t)t->g.mlp;
    if (G * D > a) a = G * D;
    *act = a, *mid = f, *dmid = d;
    *vit = G * (5 * D + 2 * M) + D;
}

typedef struct {
    float *x, *y, *z, *f, *d, *v;
    void *qs;
} vt_buf;

static oclip_status chunk_forward(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, const oc_stages *st, size_t first, vt_buf bf,
                                  oclip_error *err) {
    const oc_vitamin *t = m->vis.vitamin;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    size_t H = (size_t)t->H, W = (size_t)t->W;
    float *x = bf.x, *y = bf.y, *z = bf.z, *tmp;
    oclip_status s;
    /* NCHW pixels -> channels last, in y */
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < 3; ch++)
            for (size_t p = 0; p < H * W; p++)
                y[(i * H * W + p) * 3 + ch] = pixels[(i * 3 + ch) * H * W + p];
    /* stem: conv1, LayerNorm2d + GELU, conv2 */
    if ((s = oc_conv2d(&t->stem1, y, n, H, W, x, NULL, 0, nth, err))) return s;
    size_t h = half(H), w = half(W), C = (size_t)t->g.stem;
    oc_layernorm(x, x, n * h * w, C, t->stem_ln_w, t->stem_ln_b, VT_EPS, nth);
    oc_activate(x, n * h * w * C, OC_ACT_GELU, nth);
    if ((s = oc_conv2d(&t->stem2, x, n, h, w, y, NULL, 0, nth, err))) return s;
    tmp = x, x = y, y = tmp;
    if (st && st->rn_stem) to_nchw(st->rn_stem + first * C * h * w, x, n, h, w, C);
    /* the MbConv stages: x the block's input, y and z scratch */
    for (int k = 0; k < t->nmb; k++) {
        const vt_mbconv *mb = &t->mb[k];
        size_t ho = mb->stride == 2 ? half(h) : h, wo = mb->stride == 2 ? half(w) : w;
        size_t mid = (size_t)mb->mid, Co = (size_t)mb->cout;
        const float *sc = x;
        if (mb->stride == 2) { /* Downsample2d: pool, then expand (or Identity) */
            avgpool3s2(x, n, h, w, C, mb->expand ? y : z);
            if (mb->expand && (s = oc_conv2d(&mb->sc, y, n, ho, wo, z, NULL, 0, nth, err)))
                return s;
            sc = z;
        }
        oc_layernorm(x, y, n * h * w, C, mb->ln_w, mb->ln_b, VT_EPS, nth);
        if ((s = oc_conv2d(&mb->c1, y, n, h, w, bf.f, NULL, 0, nth, err))) return s;
        oc_activate(bf.f, n * h * w * mid, OC_ACT_GELU, nth);
        if ((s = oc_conv2d(&mb->c2, bf.f, n, h, w, bf.d, NULL, 0, nth, err))) return s;
        oc_activate(bf.d, n * ho * wo * mid, OC_ACT_GELU, nth);
        /* conv3_1x1(x) + shortcut: into the buffer neither the input nor the shortcut is */
        float *dst = mb->stride == 2 ? x : y;
        if ((s = oc_conv2d(&mb->c3, bf.d, n, ho, wo, dst, sc, 0, nth, err))) return s;
        if (dst == y) tmp = x, x = y, y = tmp;
        h = ho, w = wo, C = Co;
        if (k == t->g.depths[0] - 1 && st && st->rn_layer[0])
            to_nchw(st->rn_layer[0] + first * C * h * w, x, n, h, w, C);
    }
    if (st && st->rn_layer[1]) to_nchw(st->rn_layer[1] + first * C * h * w, x, n, h, w, C);
    /* backbone.pool: LayerNorm2d, conv 3x3 stride 2: the tokens [n, G, D] row-major */
    oc_layernorm(x, y, n * h * w, C, t->pool_ln_w, t->pool_ln_b, VT_EPS, nth);
    if ((s = oc_conv2d(&t->pool, y, n, h, w, x, NULL, 0, nth, err))) return s;
    size_t D = (size_t)t->g.dims[2], M = (size_t)t->g.mlp, H_ = (size_t)t->g.heads;
    size_t G = (size_t)t->gh * (size_t)t->gw, rows = n * G;
    if (st && st->rn_layer[2])
        to_nchw(st->rn_layer[2] + first * D * G, x, n, (size_t)t->gh, (size_t)t->gw, D);
    if (t->pos)
        for (size_t b = 0; b < n; b++)
            for (size_t i = 0; i < G * D; i++) x[b * G * D + i] += t->pos[i];
    /* the blocks */
    float *hb = bf.v, *qkv = hb + rows * D, *o = qkv + rows * 3 * D, *a = o + rows * D;
    float *u = a + rows * M;
    for (int l = 0; l < t->g.depth; l++) {
        const vt_block *k = &t->blocks[l];
        oc_epilogue res = {0, OC_ACT_GELU, x, NULL}, act = {1, OC_ACT_GELU, NULL, NULL};
        oc_layernorm(x, hb, rows, D, k->n1_w, k->n1_b, VT_EPS, nth);
        oc_linear(hb, rows, &k->qkv, k->qkv_b, qkv, NULL, nth, bf.qs);
        if ((s = oc_attention(qkv, o, n, G, D, H_, 0, nth, err))) return s;
        oc_linear(o, rows, &k->proj, k->proj_b, hb, &res, nth, bf.qs);
        oc_layernorm(x, hb, rows, D, k->n2_w, k->n2_b, VT_EPS, nth);
        oc_layernorm(hb, hb, rows, D, k->mn_w, k->mn_b, VT_EPS, nth); /* GeGluMlp.norm */
        oc_linear(hb, rows, &k->w0, k->w0_b, a, &act, nth, bf.qs);
        oc_linear(hb, rows, &k->w1, k->w1_b, u, NULL, nth, bf.qs);
        for (size_t i = 0; i < rows * M; i++) a[i] *= u[i];
        oc_linear(a, rows, &k->w2, k->w2_b, hb, &res, nth, bf.qs);
        if (l == 0 && st && st->block0)
            memcpy(st->block0 + first * G * D, x, rows * D * sizeof(float));
    }
    if (st && st->last) memcpy(st->last + first * G * D, x, rows * D * sizeof(float));
    /* the mean over the tokens, fc_norm, head.proj */
    float *pooled = hb;
    for (size_t b = 0; b < n; b++) {
        float *pb = pooled + b * D;
        for (size_t i = 0; i < D; i++) pb[i] = 0.0f;
        for (size_t g = 0; g < G; g++)
            for (size_t i = 0; i < D; i++) pb[i] += x[(b * G + g) * D + i];
        for (size_t i = 0; i < D; i++) pb[i] /= (float)G;
    }
    oc_layernorm(pooled, pooled, n, D, t->fc_w, t->fc_b, VT_EPS, nth);
    if (st && st->pooled) memcpy(st->pooled + first * D, pooled, n * D * sizeof(float));
    oc_gemm(pooled, n, &m->vis.proj, NULL, out, nth);
    return OCLIP_OK;
}

static oclip_status vitamin_run(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err) {
    const oc_vitamin *t = m->vis.vitamin;
    size_t act, mid, dmid, vit;
    sizes(t, &act, &mid, &dmid, &vit);
    uint64_t per;
    if (oc_mul_overflow_u64(3, act, &per) || oc_add_overflow_u64(per, mid, &per) ||
        oc_add_overflow_u64(per, dmid, &per) || oc_add_overflow_u64(per, vit, &per))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    size_t chunk = VT_CHUNK_FLOATS / (per ? (size_t)per : 1);
    if (chunk > VT_CHUNK) chunk = VT_CHUNK;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    size_t G = (size_t)t->gh * (size_t)t->gw, D = (size_t)t->g.dims[2], M = (size_t)t->g.mlp;
    int q8 = 0;
    for (int l = 0; l < t->g.depth && !q8; l++)
        q8 = t->blocks[l].w0.pdtype == OCLIP_DTYPE_I8 && t->blocks[l].w0.packed;
    size_t qbytes = q8 ? oc_gemm_i8_scratch(chunk * G, D > M ? D : M) : 0;
    uint64_t total;
    if (oc_mul_overflow_u64(per, chunk, &total) || total > SIZE_MAX / sizeof(float) / 2 ||
        qbytes > SIZE_MAX / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *mem = oc_act_alloc(m, (size_t)total + (qbytes + sizeof(float) - 1) / sizeof(float));
    if (!mem)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations, %llu bytes)",
                          (unsigned long long)(total * sizeof(float) + qbytes));
    vt_buf bf;
    bf.x = mem;
    bf.y = bf.x + act * chunk;
    bf.z = bf.y + act * chunk;
    bf.f = bf.z + act * chunk;
    bf.d = bf.f + mid * chunk;
    bf.v = bf.d + dmid * chunk;
    bf.qs = q8 ? mem + total : NULL;
    size_t img = 3 * (size_t)t->H * (size_t)t->W;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = chunk_forward(m, pixels + i * img, k, out + i * (size_t)t->E, st, i, bf, err);
    }
    oc_act_release(m, mem);
    return s;
}

oclip_status oc_vitamin_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err) {
    const oc_vitamin *t = m->vis.vitamin;
    if (!n) return OCLIP_OK;
    int inplace;
    oclip_status s = oc_model_prepare(m, 0, n * (size_t)t->gh * (size_t)t->gw, &inplace, err);
    if (s) return s;
    s = vitamin_run(m, pixels, n, out, st, err);
    oc_model_done(m, 0, inplace);
    return s;
}
