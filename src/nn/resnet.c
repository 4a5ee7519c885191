/*
 * resnet.c — OpenAI's ModifiedResNet image tower (open_clip modified_resnet.py ModifiedResNet,
 * Bottleneck, AttentionPool2d): the 3-convolution stem with an average pool, four layers of
 * bottlenecks whose stride is an AvgPool2d (after the 3x3 convolution, and before the
 * downsample's 1x1 convolution), and the attention pool over the mean token and the grid with
 * its positional embedding. Batch norms (eval: running statistics, eps 1e-5, nn.BatchNorm2d's
 * default) are folded into the convolutions at load; the 3x3 convolutions over grids of 14 x 14
 * or more then go to Winograd's form (kernels.h oc_conv_winograd: within rounding of the direct
 * sums, 2.25 times fewer multiplies); activations are channels-last (kernels.h oc_conv2d), the
 * stages handed to tests are NCHW as PyTorch's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define BN_EPS 1e-5f
/* images per forward chunk, at most: fewer when one image's activations are large (RN50x64 at
 * 448 px: 6.4 M floats after the stem's third convolution) */
#define RN_CHUNK 8
#define RN_CHUNK_FLOATS ((size_t)48 << 20)

/* =============================================================================================
 * Binding
 */
typedef struct {
    const oclip_checkpoint *ck;
    oclip_error *err;
    int nth, pack;
    oclip_status st; /* the first failure of load */
} rbind;

/* tensor `name` as numel fp32 values in a new malloc'd buffer; NULL (err set) when missing or
 * of another size */
static float *load(rbind *b, const char *name, uint64_t numel) {
    const oclip_tensor *t = oclip_checkpoint_find(b->ck, name);
    if (!t) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s' missing", name);
        return NULL;
    }
    if (t->numel != numel || (t->dtype != OCLIP_DTYPE_F32 && t->dtype != OCLIP_DTYPE_F16 &&
                              t->dtype != OCLIP_DTYPE_BF16)) {
        b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': %llu %s values, expected %llu floats",
                   name, (unsigned long long)t->numel, oclip_dtype_name(t->dtype),
                   (unsigned long long)numel);
        return NULL;
    }
    float *p = malloc((size_t)(numel ? numel : 1) * sizeof(float));
    if (!p) {
        b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory (%s)", name);
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, 0, (size_t)numel);
    return p;
}

#ifndef RN_WINO_SIDE
#define RN_WINO_SIDE 14
#endif

/* conv `cname` (no bias) followed by BatchNorm2d `bname`, folded into cv */
static oclip_status conv_bn(rbind *b, oc_conv *cv, const char *cname, const char *bname, int cin,
                            int cout, int k, int stride, int pad) {
    char nm[5][200];
    static const char *const leaf[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) snprintf(nm[i], sizeof nm[i], "%s.%s", bname, leaf[i]);
    size_t per = (size_t)cin * (size_t)k * (size_t)k;
    float *w = load(b, cname, (uint64_t)cout * per), *bn[4] = {0};
    for (int i = 0; i < 4 && w; i++)
        if (!(bn[i] = load(b, nm[i], (uint64_t)cout))) break;
    oclip_status s = w && bn[3] ? OCLIP_OK : b->st;
    float *bias = s ? NULL : calloc((size_t)cout, sizeof(float));
    if (!s && !bias) s = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
    if (!s) {
        oc_bn_fold(w, bias, (size_t)cout, per, bn[0], bn[1], bn[2], bn[3], BN_EPS);
        s = oc_conv_init(cv, w, bias, cin, cout, k, k, stride, pad, 1, b->pack, b->nth, b->err);
        if (s) oc_err_wrap(b->err, "'%s'", cname);
    }
    free(w), free(bias);
    for (int i = 0; i < 4; i++) free(bn[i]);
    return s;
}

/* The grid side the tower produces from an img x img image: the stem's stride-2 convolution
 * (k 3, pad 1), its AvgPool2d(2), then layer2..4's AvgPool2d(2) */
static int grid_of(int img) {
    size_t g = oc_conv_out((size_t)img, 3, 2, 1) / 2;
    for (int i = 0; i < 3; i++) g /= 2;
    return (int)g;
}

oclip_status oc_resnet_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err) {
    const oclip_vision_cfg *v = &m->cfg.vision;
    oc_resnet *r = calloc(1, sizeof *r);
    if (!r) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    m->vis.rn = r;
    r->width = v->width;
    r->img = v->image_size[0];
    r->C = v->width * 32;
    r->E = m->cfg.embed_dim;
    r->heads = v->head_width > 0 ? r->C / v->head_width : 0;
    r->grid = r->img / 32;
    memcpy(r->layers, v->resnet_layers, sizeof r->layers);
    m->vis.img_h = m->vis.img_w = r->img;
    /* what OpenCLIP would fail on: the pool's positions are (image_size // 32)^2 + 1 */
    if (v->image_size[0] != v->image_size[1])
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ModifiedResNet with a non-square image "
                          "size %dx%d (OpenCLIP takes one int)", v->image_size[0],
                          v->image_size[1]);
    if (grid_of(r->img) != r->grid || r->grid <= 0)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ModifiedResNet at image_size %d: its "
                          "%dx%d feature grid does not fit the attention pool's %dx%d positions "
                          "(OpenCLIP fails the same way)", r->img, grid_of(r->img),
                          grid_of(r->img), r->grid, r->grid);
    rbind b = {ck, err, m->threads, oc_kernels_get()->pack_weights, OCLIP_OK};
    int w = r->width;
    oclip_status s;
    if ((s = conv_bn(&b, &r->stem[0], "visual.conv1.weight", "visual.bn1", 3, w / 2, 3, 2, 1)) ||
        (s = conv_bn(&b, &r->stem[1], "visual.conv2.weight", "visual.bn2", w / 2, w / 2, 3, 1,
                     1)) ||
        (s = conv_bn(&b, &r->stem[2], "visual.conv3.weight", "visual.bn3", w / 2, w, 3, 1, 1)))
        return s;
    /* 3x3 convolutions over a side of RN_WINO_SIDE or more in Winograd's form (conv.c): 2.25
     * times fewer multiplies; on the smallest grids (RN50's 7 x 7: 16 tiles an image, an eighth
     * of them padding) the 16 transformed weight matrices (16/9 of the weights) would be read
     * for too few positions */
    size_t side = oc_conv_out((size_t)r->img, 3, 2, 1); /* the stem's */
    if (side >= RN_WINO_SIDE &&
        ((s = oc_conv_winograd(&r->stem[1], b.pack, b.nth, err)) ||
         (s = oc_conv_winograd(&r->stem[2], b.pack, b.nth, err))))
        return s;
    side /= 2; /* the stem's AvgPool2d(2): layer1's input */
    for (int i = 0; i < 4; i++) r->nblocks += r->layers[i];
    r->blocks = calloc((size_t)r->nblocks, sizeof *r->blocks);
    if (!r->blocks) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    int inplanes = w, k = 0;
    char cn[160], bn[160];
    for (int li = 0; li < 4; li++) {
        int planes = w << li;
        for (int j = 0; j < r->layers[li]; j++, k++) {
            oc_bottleneck *bk = &r->blocks[k];
            bk->stride = j == 0 && li > 0 ? 2 : 1;
#define CB(c, bb, ...)                                                                           \
    (snprintf(cn, sizeof cn, "visual.layer%d.%d." c ".weight", li + 1, j),                       \
     snprintf(bn, sizeof bn, "visual.layer%d.%d." bb, li + 1, j), conv_bn(&b, __VA_ARGS__))
            if ((s = CB("conv1", "bn1", &bk->c1, cn, bn, inplanes, planes, 1, 1, 0)) ||
                (s = CB("conv2", "bn2", &bk->c2, cn, bn, planes, planes, 3, 1, 1)) ||
                (s = CB("conv3", "bn3", &bk->c3, cn, bn, planes, planes * 4, 1, 1, 0)))
                return s;
            /* conv2 runs on the block's input side (the stride's pool comes after it) */
            if (side >= RN_WINO_SIDE &&
                (s = oc_conv_winograd(&bk->c2, b.pack, b.nth, err)))
                return s;
            if (bk->stride > 1) side /= 2;
            bk->has_down = bk->stride > 1 || inplanes != planes * 4;
            if (bk->has_down &&
                (s = CB("downsample.0", "downsample.1", &bk->down, cn, bn, inplanes, planes * 4,
                        1, 1, 0)))
                return s;
#undef CB
            inplanes = planes * 4;
        }
    }
    /* the attention pool: [q; k; v] (F.multi_head_attention_forward's in_proj_bias is cat(q, k,
     * v) biases in that order); k by head transposed (chunk_forward) */
    size_t C = (size_t)r->C, E = (size_t)r->E, G = (size_t)r->grid * (size_t)r->grid;
    size_t H = (size_t)(r->heads > 0 ? r->heads : 0), hd = H ? C / H : 0;
    if (!H || hd * H != C)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "ModifiedResNet attention pool of width %zu "
                          "with %d heads: not a whole head width", C, r->heads);
    if (!(r->pos = load(&b, "visual.attnpool.positional_embedding", (G + 1) * C))) return b.st;
    r->qkv_buf = malloc(3 * C * C * sizeof(float));
    r->qkv_b = malloc(3 * C * sizeof(float));
    r->kt = calloc(2 * H, sizeof *r->kt);
    if (!r->qkv_buf || !r->qkv_b || !r->kt)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    r->vh = r->kt + H;
    static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        snprintf(cn, sizeof cn, "visual.attnpool.%s.weight", proj[i]);
        snprintf(bn, sizeof bn, "visual.attnpool.%s.bias", proj[i]);
        float *pw = load(&b, cn, C * C), *pb = pw ? load(&b, bn, C) : NULL, *dst;
        if (pw && pb) {
            dst = r->qkv_buf + (size_t)i * C * C;
            if (i == 1) /* head h: [C, hd], element (c, e) = k_proj.weight[h hd + e][c] */
                for (size_t h = 0; h < H; h++)
                    for (size_t c = 0; c < C; c++)
                        for (size_t e = 0; e < hd; e++)
                            dst[(h * C + c) * hd + e] = pw[(h * hd + e) * C + c];
            else
                memcpy(dst, pw, C * C * sizeof(float));
            memcpy(r->qkv_b + (size_t)i * C, pb, C * sizeof(float));
        }
        free(pw), free(pb);
        if (!pw || !pb) return b.st;
    }
    r->q = (oc_weight){.data = (const uint8_t *)r->qkv_buf, .dtype = OCLIP_DTYPE_F32, .n = C,
                       .k = C};
    for (size_t h = 0; h < H; h++) {
        r->kt[h] = (oc_weight){.data = (const uint8_t *)(r->qkv_buf + C * C + h * C * hd),
                               .dtype = OCLIP_DTYPE_F32, .n = C, .k = hd};
        r->vh[h] = (oc_weight){.data = (const uint8_t *)(r->qkv_buf + 2 * C * C + h * hd * C),
                               .dtype = OCLIP_DTYPE_F32, .n = hd, .k = C};
        if (b.pack && ((s = oc_weight_pack(&r->kt[h], OCLIP_DTYPE_F32, 0, b.nth, err)) ||
                       (s = oc_weight_pack(&r->vh[h], OCLIP_DTYPE_F32, 0, b.nth, err))))
            return s;
    }
    const oclip_tensor *cp = oclip_checkpoint_find(ck, "visual.attnpool.c_proj.weight");
    if (!cp || cp->numel != E * C)
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor 'visual.attnpool.c_proj.weight' %s",
                          cp ? "has the wrong size" : "missing");
    r->cproj = (oc_weight){.data = cp->data, .dtype = cp->dtype, .n = E, .k = C};
    if (!(r->cproj_b = load(&b, "visual.attnpool.c_proj.bias", E))) return b.st;
    if (b.pack && ((s = oc_weight_pack(&r->q, OCLIP_DTYPE_F32, 0, b.nth, err)) ||
                   (s = oc_weight_pack(&r->cproj, OCLIP_DTYPE_F32, 0, b.nth, err))))
        return s;
    return OCLIP_OK;
}

void oc_resnet_free(oclip_model *m) {
    oc_resnet *r = m->vis.rn;
    if (!r) return;
    for (int i = 0; i < 3; i++) oc_conv_free(&r->stem[i]);
    for (int i = 0; r->blocks && i < r->nblocks; i++) {
        oc_conv_free(&r->blocks[i].c1), oc_conv_free(&r->blocks[i].c2);
        oc_conv_free(&r->blocks[i].c3), oc_conv_free(&r->blocks[i].down);
    }
    free(r->blocks);
    oc_weight_unpack(&r->q), oc_weight_unpack(&r->cproj);
    for (int h = 0; r->kt && h < r->heads; h++)
        oc_weight_unpack(&r->kt[h]), oc_weight_unpack(&r->vh[h]);
    free(r->pos), free(r->qkv_buf), free(r->qkv_b), free(r->cproj_b), free(r->kt);
    free(r);
    m->vis.rn = NULL;
}

/* =============================================================================================
 * Forward
 */
/* a [n, H, W, C] channels-last stage as NCHW into dst */
static void to_nchw(float *dst, const float *x, size_t n, size_t H, size_t W, size_t C) {
    for (size_t b = 0; b < n; b++)
        for (size_t p = 0; p < H * W; p++)
            for (size_t c = 0; c < C; c++) dst[(b * C + c) * H * W + p] = x[(b * H * W + p) * C + c];
}

/* The largest activation (floats per image) any step writes, at image side img */
static size_t largest(const oc_resnet *r) {
    size_t h = oc_conv_out((size_t)r->img, 3, 2, 1), w = (size_t)r->width;
    size_t mx = h * h * w; /* stem conv3: w channels at half size */
    if ((size_t)r->img * (size_t)r->img * 3 > mx) mx = (size_t)r->img * (size_t)r->img * 3;
    h /= 2;
    for (int li = 0; li < 4; li++) {
        size_t planes = w << li;
        size_t a = h * h * planes * 4; /* a block's input / output (and c1, c2 before pooling) */
        if (a > mx) mx = a;
        if (li < 3) h /= 2;
    }
    /* the pool's tokens, and its per-head [heads, C] rows */
    size_t tok = ((size_t)r->grid * r->grid + 1) * (size_t)r->C;
    size_t heads = (size_t)r->heads * (size_t)r->C;
    if (tok > mx) mx = tok;
    return heads > mx ? heads : mx;
}

/* NCHW pixels -> channels last, rows [r0, r1) of the images' H rows each */
typedef struct {
    const float *px;
    float *x;
    size_t H;
} pix_ctx;

static void pix_rows(void *arg, size_t r0, size_t r1, int t) {
    (void)t;
    const pix_ctx *c = arg;
    size_t H = c->H;
    for (size_t r = r0; r < r1; r++) {
        size_t i = r / H, y = r % H;
        for (size_t ch = 0; ch < 3; ch++) {
            const float *src = c->px + ((i * 3 + ch) * H + y) * H;
            for (size_t x = 0; x < H; x++) c->x[(r * H + x) * 3 + ch] = src[x];
        }
    }
}

/* the attention pool's tokens of images [i0, i1): x [n, G, C] -> tok [n, G + 1, C] = [mean of
 * the grid; the grid] + pos */
typedef struct {
    const float *x;
    float *tok;
    const float *pos;
    size_t G, C;
} pool_tok_ctx;

static void pool_tokens(void *arg, size_t i0, size_t i1, int t) {
    (void)t;
    const pool_tok_ctx *c = arg;
    size_t G = c->G, C = c->C;
    for (size_t i = i0; i < i1; i++) {
        float *ti = c->tok + i * (G + 1) * C;
        const float *xi = c->x + i * G * C;
        for (size_t q = 0; q < C; q++) {
            float sum = 0;
            for (size_t p = 0; p < G; p++) sum += xi[p * C + q];
            ti[q] = sum / (float)G + c->pos[q];
        }
        for (size_t p = 0; p < G; p++)
            for (size_t q = 0; q < C; q++)
                ti[(p + 1) * C + q] = xi[p * C + q] + c->pos[(p + 1) * C + q];
    }
}

/* the pool's per-head products, heads [h0, h1) on one thread each (one parallel region rather
 * than a GEMM call per head, 64 of them: at batch 1 each took 20-120 us, mostly waking the
 * threads). kv 0: qk [head][image] (C) = q [image] (head's hd) W_k,head; 1: o [image] (head's
 * hd) = W_v,head xs [image][head] (C) + b_v,head. scratch: n (C + hd) floats per thread. */
typedef struct {
    const oc_resnet *r;
    const float *in;
    float *out, *scratch;
    size_t n;
    int kv;
    oc_gemm_fn gemm;
} pool_head_ctx;

static void pool_heads(void *p, size_t h0, size_t h1, int t) {
    const pool_head_ctx *c = p;
    const oc_resnet *r = c->r;
    size_t C = (size_t)r->C, H = (size_t)r->heads, hd = C / H, n = c->n;
    float *x = c->scratch + (size_t)t * n * (C + hd), *y = x + n * C;
    for (size_t h = h0; h < h1; h++) {
        size_t f = sizeof(float);
        if (!c->kv) {
            for (size_t i = 0; i < n; i++) memcpy(x + i * hd, c->in + i * C + h * hd, hd * f);
            c->gemm(x, n, &r->kt[h], NULL, c->out + h * n * C, 0, (C + OC_PANEL - 1) / OC_PANEL);
            continue;
        }
        for (size_t i = 0; i < n; i++) memcpy(x + i * C, c->in + (i * H + h) * C, C * f);
        c->gemm(x, n, &r->vh[h], r->qkv_b + 2 * C + h * hd, y, 0, (hd + OC_PANEL - 1) / OC_PANEL);
        for (size_t i = 0; i < n; i++) memcpy(c->out + i * C + h * hd, y + i * hd, hd * f);
    }
}

/* rows [i0, i1) of s [rows, T] *= scale, then softmax (the maximum subtracted, in float as
 * F.multi_head_attention_forward's softmax) */
typedef struct {
    float *s;
    size_t T;
    float scale;
} pool_sm_ctx;

static void pool_softmax(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const pool_sm_ctx *c = p;
    for (size_t i = i0; i < i1; i++) {
        float *row = c->s + i * c->T, mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < c->T; j++) {
            row[j] *= c->scale;
            mx = row[j] > mx ? row[j] : mx;
        }
        for (size_t j = 0; j < c->T; j++) sum += row[j] = expf(row[j] - mx);
        for (size_t j = 0; j < c->T; j++) row[j] /= sum;
    }
}

static oclip_status chunk_forward(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, const oc_stages *st, size_t first, float *buf[5],
                                  oclip_error *err) {
    const oc_resnet *r = m->vis.rn;
    int nth = m->threads;
    size_t H = (size_t)r->img, C = (size_t)r->C;
    float *a = buf[0], *b = buf[1], *c = buf[2], *d = buf[3], *e = buf[4];
    pix_ctx pc = {pixels, a, H};
    oc_parallel(n * H * H < 16384 ? 1 : nth, n * H, pix_rows, &pc);
    /* stem */
    oclip_status s;
    size_t h = oc_conv_out(H, 3, 2, 1);
    if ((s = oc_conv2d(&r->stem[0], a, n, H, H, b, NULL, 1, nth, err)) ||
        (s = oc_conv2d(&r->stem[1], b, n, h, h, c, NULL, 1, nth, err)) ||
        (s = oc_conv2d(&r->stem[2], c, n, h, h, b, NULL, 1, nth, err)))
        return s;
    oc_avgpool2d(b, n, h, h, (size_t)r->width, 2, a, nth);
    h /= 2;
    size_t ch = (size_t)r->width;
    if (st && st->rn_stem) to_nchw(st->rn_stem + first * ch * h * h, a, n, h, h, ch);
    /* layers: x in a */
    int k = 0;
    for (int li = 0; li < 4; li++) {
        for (int j = 0; j < r->layers[li]; j++, k++) {
            const oc_bottleneck *bk = &r->blocks[k];
            size_t planes = (size_t)bk->c1.cout, ho = h / (size_t)bk->stride;
            /* out = relu(bn1(conv1 x)) -> b; relu(bn2(conv2 .)) -> c; avgpool -> b */
            if ((s = oc_conv2d(&bk->c1, a, n, h, h, b, NULL, 1, nth, err)) ||
                (s = oc_conv2d(&bk->c2, b, n, h, h, c, NULL, 1, nth, err)))
                return s;
            const float *mid = c, *idn = a;
            if (bk->stride > 1) {
                oc_avgpool2d(c, n, h, h, planes, (size_t)bk->stride, b, nth);
                mid = b;
            }
            /* identity = downsample(x): AvgPool2d(stride) (identity at 1), conv, bn -> d */
            if (bk->has_down) {
                const float *src = a;
                if (bk->stride > 1) {
                    oc_avgpool2d(a, n, h, h, (size_t)bk->c1.cin, (size_t)bk->stride, e, nth);
                    src = e;
                }
                if ((s = oc_conv2d(&bk->down, src, n, ho, ho, d, NULL, 0, nth, err))) return s;
                idn = d;
            }
            /* relu(bn3(conv3 mid) + identity) written over the identity (a or d): its lines
             * are in cache, where a buffer of its own would be read from memory before each
             * write (RN50 batch 8: a third of the time of layer 1's conv3) */
            if ((s = oc_conv2d(&bk->c3, mid, n, ho, ho, (float *)idn, idn, 1, nth, err)))
                return s;
            if (idn == d) { /* the output becomes x; x's buffer the next downsample's */
                d = a;
                a = (float *)idn;
            }
            h = ho;
            ch = planes * 4;
        }
        if (st && st->rn_layer[li]) to_nchw(st->rn_layer[li] + first * ch * h * h, a, n, h, h, ch);
    }
    /* AttentionPool2d: tokens x_j = [mean; grid] + positions, then attention of which only the
     * mean token's output is used (F.multi_head_attention_forward with query x[:1]), then
     * c_proj. With one query per head, q k_j = (q W_k) x_j + q b_k: the query goes through the
     * keys' weights once instead of every token (q b_k, the same for every j, leaves the softmax
     * as it is), and sum_j p_j v_j = W_v (sum_j p_j x_j) + b_v (the p_j sum to 1): the same
     * products in another association, 30 times fewer multiply-adds (RN50), each weight read
     * once; within rounding of OpenCLIP's order (test_resnet) */
    size_t G = h * h, T = G + 1, Hh = (size_t)r->heads, hd = C / Hh;
    float *tok = b, *qk = c, *qki = d, *p = a, *q0 = e, *o = e + n * C;
    float *scratch = malloc((size_t)nth * n * (C + hd) * sizeof(float));
    if (!scratch) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (attention pool)");
    pool_head_ctx hc = {r, q0, qk, scratch, n, 0, oc_kernels_get()->gemm};
    pool_tok_ctx tc = {a, tok, r->pos, G, C};
    oc_parallel(n * T * C < 65536 ? 1 : nth, n, pool_tokens, &tc);
    for (size_t i = 0; i < n; i++) memcpy(o + i * C, tok + i * T * C, C * sizeof(float));
    oc_gemm(o, n, &r->q, r->qkv_b, q0, nth);
    oc_parallel(nth, Hh, pool_heads, &hc); /* qk [head][image] = q_head W_k,head: [C] */
    for (size_t i = 0; i < n; i++) /* image-major: qki [image][head] */
        for (size_t hh = 0; hh < Hh; hh++)
            memcpy(qki + (i * Hh + hh) * C, qk + (hh * n + i) * C, C * sizeof(float));
    for (size_t i = 0; i < n; i++) { /* scores p [head, T] = qk . x_j, softmax */
        oc_weight xt = {.data = (const uint8_t *)(tok + i * T * C), .dtype = OCLIP_DTYPE_F32,
                        .n = T, .k = C};
        oc_gemm(qki + i * Hh * C, Hh, &xt, NULL, p + i * Hh * T, nth);
    }
    pool_sm_ctx sc = {p, T, 1.0f / sqrtf((float)hd)};
    oc_parallel(n * Hh * T < 65536 ? 1 : nth, n * Hh, pool_softmax, &sc);
    for (size_t i = 0; i < n; i++) { /* sum_j p_j x_j [head, C] */
        oc_weight xs = {.data = (const uint8_t *)(tok + i * T * C), .dtype = OCLIP_DTYPE_F32,
                        .n = C, .k = T, .kn = 1};
        oc_gemm(p + i * Hh * T, Hh, &xs, NULL, qki + i * Hh * C, nth);
    }
    hc.in = qki, hc.out = o, hc.kv = 1; /* W_v,head (sum_j p_j x_j) + b_v,head */
    oc_parallel(nth, Hh, pool_heads, &hc);
    free(scratch);
    oc_gemm(o, n, &r->cproj, r->cproj_b, out, nth);
    return OCLIP_OK;
}

oclip_status oc_resnet_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                               const oc_stages *st, oclip_error *err) {
    const oc_resnet *r = m->vis.rn;
    if (!n) return OCLIP_OK;
    size_t per = largest(r), chunk = RN_CHUNK_FLOATS / 5 / (per ? per : 1);
    if (chunk > RN_CHUNK) chunk = RN_CHUNK;
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    uint64_t total;
    if (oc_mul_overflow_u64((uint64_t)per * chunk, 5, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *mem = oc_act_alloc(m, (size_t)total);
    if (!mem)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations, %llu bytes)",
                          (unsigned long long)(total * sizeof(float)));
    float *buf[5];
    for (int i = 0; i < 5; i++) buf[i] = mem + (size_t)i * per * chunk;
    size_t img = 3 * (size_t)r->img * (size_t)r->img;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = chunk_forward(m, pixels + i * img, k, out + i * (size_t)r->E, st, i, buf, err);
    }
    oc_act_release(m, mem);
    return s;
}
