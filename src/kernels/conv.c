/*
 * conv.c — 2-D convolution, batch norm folding and average pooling over channels-last
 * activations (x [N, H, W, C]: a position's channels are contiguous, so that a 1x1 convolution
 * is one GEMM over the positions and a k x k one is a GEMM over im2col rows). The arithmetic is
 * the GEMM's (oc_gemm: each output summed over k in increasing order, fused multiply-adds on the
 * SIMD paths, the bias added last) or, for depthwise convolutions (one input channel per output:
 * cin / groups = 1, cout = groups x a channel multiplier), a direct loop: each output the taps'
 * products summed in (ky, kx) order, then the bias; multiply then add on the scalar path, fused
 * multiply-adds on the SIMD ones (conv_avx2.c). Results never depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv_int.h"
#include "kernels/kernels.h"

/* output positions per im2col tile: bounds the im2col buffer (at most OC_CONV_TILE x K floats) */
#define OC_CONV_TILE 1024

size_t oc_conv_out(size_t in, int k, int stride, int pad) {
    size_t span = in + 2 * (size_t)pad;
    return span < (size_t)k ? 0 : (span - (size_t)k) / (size_t)stride + 1;
}

void oc_bn_fold(float *w, float *bias, size_t cout, size_t per_out, const float *gamma,
                const float *beta, const float *mean, const float *var, float eps) {
    for (size_t o = 0; o < cout; o++) {
        /* bn(z) = (z - mean) / sqrt(var + eps) * gamma + beta (torch batch_norm, eval) */
        double s = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
        for (size_t i = 0; i < per_out; i++) w[o * per_out + i] = (float)(w[o * per_out + i] * s);
        bias[o] = (float)((double)beta[o] + ((double)bias[o] - (double)mean[o]) * s);
    }
}

void oc_conv_free(oc_conv *cv) {
    if (!cv) return;
    if (cv->wg)
        for (int g = 0; g < cv->groups; g++) oc_weight_unpack(&cv->wg[g]);
    free(cv->wg);
    free(cv->wbuf);
    free(cv->bias);
    memset(cv, 0, sizeof *cv);
}

oclip_status oc_conv_init(oc_conv *cv, const float *w, const float *bias, int cin, int cout,
                          int kh, int kw, int stride, int pad, int groups, int pack, int nth,
                          oclip_error *err) {
    memset(cv, 0, sizeof *cv);
    if (cin <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || stride <= 0 || pad < 0 || groups <= 0 ||
        cin % groups || cout % groups || kh > 64 || kw > 64 || pad > 64)
        return oc_err_set(err, OCLIP_E_ARG, "convolution %d->%d k %dx%d stride %d pad %d groups "
                          "%d: not a valid shape", cin, cout, kh, kw, stride, pad, groups);
    cv->cin = cin, cv->cout = cout, cv->kh = kh, cv->kw = kw;
    cv->stride = stride, cv->pad = pad, cv->groups = groups;
    size_t cg = (size_t)(cin / groups), K = (size_t)kh * (size_t)kw * cg;
    /* one input channel per output (FastViT's grouped downsample and final_conv have two
     * outputs per input channel): the direct loop, not one tiny GEMM per group */
    cv->depthwise = cg == 1;
    cv->wbuf = malloc((size_t)cout * K * sizeof(float));
    cv->bias = malloc((size_t)cout * sizeof(float));
    cv->wg = calloc((size_t)groups, sizeof *cv->wg);
    if (!cv->wbuf || !cv->bias || !cv->wg) {
        oc_conv_free(cv);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution weights)");
    }
    for (int o = 0; o < cout; o++) cv->bias[o] = bias ? bias[o] : 0.0f;
    /* PyTorch's [cout, cg, kh, kw] -> rows of (ky, kx, c) to match the im2col columns; the
     * depthwise loop reads [kh * kw, cout] (a tap's weights over the channels contiguous) */
    for (size_t o = 0; o < (size_t)cout; o++)
        for (size_t c = 0; c < cg; c++)
            for (size_t t = 0; t < (size_t)(kh * kw); t++) {
                float v = w[(o * cg + c) * (size_t)(kh * kw) + t];
                if (cv->depthwise) cv->wbuf[t * (size_t)cout + o] = v;
                else cv->wbuf[o * K + t * cg + c] = v;
            }
    if (cv->depthwise) return OCLIP_OK;
    size_t cog = (size_t)(cout / groups);
    for (int g = 0; g < groups; g++) {
        oc_weight *wt = &cv->wg[g];
        wt->data = (const uint8_t *)(cv->wbuf + (size_t)g * cog * K);
        wt->dtype = OCLIP_DTYPE_F32;
        wt->n = cog;
        wt->k = K;
        oclip_status s = pack ? oc_weight_pack(wt, OCLIP_DTYPE_F32, 0, nth, err) : OCLIP_OK;
        if (s) {
            oc_conv_free(cv);
            return s;
        }
    }
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * im2col: rows [p0, p1) of the output positions of image-batch x, for group g: row r holds
 * (ky, kx, c) for c in the group's channels, zero where the window leaves the image
 */
typedef struct {
    const oc_conv *cv;
    const float *x;
    size_t H, W, Ho, Wo, p0, K;
    int g;
    float *cols;
} im2col_ctx;

static void im2col_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const im2col_ctx *c = p;
    const oc_conv *cv = c->cv;
    size_t C = (size_t)cv->cin, cg = C / (size_t)cv->groups, c0 = (size_t)c->g * cg;
    for (size_t r = r0; r < r1; r++) {
        size_t pos = c->p0 + r, n = pos / (c->Ho * c->Wo), q = pos % (c->Ho * c->Wo);
        long oy = (long)(q / c->Wo), ox = (long)(q % c->Wo);
        float *row = c->cols + r * c->K;
        for (long ky = 0; ky < cv->kh; ky++) {
            long iy = oy * cv->stride - cv->pad + ky;
            for (long kx = 0; kx < cv->kw; kx++, row += cg) {
                long ix = ox * cv->stride - cv->pad + kx;
                if (iy < 0 || ix < 0 || iy >= (long)c->H || ix >= (long)c->W) {
                    memset(row, 0, cg * sizeof(float));
                    continue;
                }
                memcpy(row, c->x + ((n * c->H + (size_t)iy) * c->W + (size_t)ix) * C + c0,
                       cg * sizeof(float));
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Depthwise (cin / groups = 1, cout = groups x mult): y[p, o] = bias[o] + sum over taps in
 * (ky, kx) order of x[., o / mult] * w[tap, o], positions split over the threads
 */
typedef struct {
    oc_dw_args a;
    int simd; /* the AVX2 kernel (the avx2 and avx512 paths) */
} dw_ctx;

static void dw_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const dw_ctx *c = p;
    const oc_dw_args *a = &c->a;
    if (c->simd && oc_conv_dw_avx2(a, i0, i1)) return;
    const oc_conv *cv = a->cv;
    size_t C = (size_t)cv->cout, Ci = (size_t)cv->cin, mult = C / Ci;
    for (size_t pos = i0; pos < i1; pos++) {
        size_t n = pos / (a->Ho * a->Wo), q = pos % (a->Ho * a->Wo);
        long oy = (long)(q / a->Wo), ox = (long)(q % a->Wo);
        float *yp = a->y + pos * C;
        for (size_t ch = 0; ch < C; ch++) yp[ch] = 0.0f;
        for (long ky = 0; ky < cv->kh; ky++) {
            long iy = oy * cv->stride - cv->pad + ky;
            if (iy < 0 || iy >= (long)a->H) continue;
            for (long kx = 0; kx < cv->kw; kx++) {
                long ix = ox * cv->stride - cv->pad + kx;
                if (ix < 0 || ix >= (long)a->W) continue;
                const float *xp = a->x + ((n * a->H + (size_t)iy) * a->W + (size_t)ix) * Ci;
                const float *wp = cv->wbuf + (size_t)(ky * cv->kw + kx) * C;
                if (mult == 1)
                    for (size_t ch = 0; ch < C; ch++) yp[ch] += xp[ch] * wp[ch];
                else
                    for (size_t ch = 0; ch < C; ch++) yp[ch] += xp[ch / mult] * wp[ch];
            }
        }
        for (size_t ch = 0; ch < C; ch++) {
            float v = yp[ch] + cv->bias[ch];
            if (a->res) v += a->res[pos * C + ch];
            yp[ch] = a->relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

/* y = relu?(y + res?) over rows [i0, i1) of width C */
typedef struct {
    float *y;
    const float *res;
    size_t C;
    int relu, simd;
} epi_ctx;

static void epi_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const epi_ctx *c = p;
    if (c->simd) {
        oc_conv_epi_avx2(c->y + i0 * c->C, c->res ? c->res + i0 * c->C : NULL,
                         (i1 - i0) * c->C, c->relu);
        return;
    }
    for (size_t i = i0 * c->C; i < i1 * c->C; i++) {
        float v = c->y[i];
        if (c->res) v += c->res[i];
        c->y[i] = c->relu && !(v > 0.0f) ? 0.0f : v;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Tiled (one group, many positions): the threads take whole tiles of OC_CONV_ROWS positions
 * and runs im2col (unless 1x1 stride 1), a single-threaded oc_gemm and the epilogue on its tile
 * while it is in cache. The same operations on the same rows as the untiled path, so the same
 * bytes.
 */
#define OC_CONV_ROWS 192

typedef struct {
    const oc_conv *cv;
    const float *x, *res;
    size_t H, W, Ho, Wo, P, K;
    float *y, *cols; /* cols: OC_CONV_ROWS x K floats per thread */
    int relu, direct, simd;
} tile_ctx;

static void tile_range(void *p, size_t t0, size_t t1, int t) {
    const tile_ctx *c = p;
    size_t Co = (size_t)c->cv->cout;
    float *cols = c->direct ? NULL : c->cols + (size_t)t * OC_CONV_ROWS * c->K;
    for (size_t tile = t0; tile < t1; tile++) {
        size_t p0 = tile * OC_CONV_ROWS, rows = c->P - p0 < OC_CONV_ROWS ? c->P - p0 : OC_CONV_ROWS;
        const float *a = c->x + p0 * c->K;
        if (!c->direct) {
            im2col_ctx ic = {c->cv, c->x, c->H, c->W, c->Ho, c->Wo, p0, c->K, 0, cols};
            im2col_range(&ic, 0, rows, 0);
            a = cols;
        }
        float *y = c->y + p0 * Co;
        oc_gemm(a, rows, &c->cv->wg[0], c->cv->bias, y, 1);
        if (c->res || c->relu) {
            epi_ctx e = {y, c->res ? c->res + p0 * Co : NULL, Co, c->relu, c->simd};
            epi_range(&e, 0, rows, 0);
        }
    }
}

oclip_status oc_conv2d(const oc_conv *cv, const float *x, size_t N, size_t H, size_t W,
                       float *y, const float *res, int relu, int nth, oclip_error *err) {
    size_t Ho = oc_conv_out(H, cv->kh, cv->stride, cv->pad);
    size_t Wo = oc_conv_out(W, cv->kw, cv->stride, cv->pad);
    size_t P = N * Ho * Wo, Co = (size_t)cv->cout;
    if (!P) return OCLIP_OK;
    if (cv->depthwise) {
        oc_simd path = oc_simd_get();
        dw_ctx c = {{cv, x, res, H, W, Ho, Wo, y, relu},
                    path == OC_SIMD_AVX2 || path == OC_SIMD_AVX512};
        oc_parallel_chunks(P * Co * (size_t)(cv->kh * cv->kw) < 65536 ? 1 : nth, P, P, 4,
                           dw_range, &c);
        return OCLIP_OK;
    }
    size_t G = (size_t)cv->groups, cog = Co / G, K = cv->wg[0].k;
    int direct = cv->kh == 1 && cv->kw == 1 && cv->stride == 1 && cv->pad == 0 && G == 1;
    oc_simd path = oc_simd_get();
    int simd = oc_conv_avx2_built() && (path == OC_SIMD_AVX2 || path == OC_SIMD_AVX512);
    size_t ntiles = (P + OC_CONV_ROWS - 1) / OC_CONV_ROWS;
    if (nth < 1) nth = 1;
    if (G == 1 && ntiles >= 4 * (size_t)nth) { /* enough tiles to keep every thread busy */
        float *cols = NULL;
        if (!direct && !(cols = malloc((size_t)nth * OC_CONV_ROWS * K * sizeof(float))))
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, %d x %d x %zu "
                              "im2col rows)", nth, OC_CONV_ROWS, K);
        tile_ctx c = {cv, x, res, H, W, Ho, Wo, P, K, y, cols, relu, direct, simd};
        /* tiles taken in turn (guided), so that a thread slowed by another process does not
         * hold the others up */
        oc_parallel_chunks(nth, ntiles, ntiles, 1, tile_range, &c);
        free(cols);
        return OCLIP_OK;
    }
    if (direct) {
        oc_gemm(x, P, &cv->wg[0], cv->bias, y, nth);
    } else {
        size_t tile = P < OC_CONV_TILE ? P : OC_CONV_TILE;
        /* im2col rows [tile, K], and for groups the group's outputs [tile, cog] */
        size_t extra = G > 1 ? tile * cog : 0;
        float *cols = malloc((tile * K + extra) * sizeof(float));
        if (!cols)
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, %zu x %zu "
                              "im2col rows)", tile, K);
        float *yg = cols + tile * K;
        for (size_t p0 = 0; p0 < P; p0 += tile) {
            size_t rows = P - p0 < tile ? P - p0 : tile;
            for (size_t g = 0; g < G; g++) {
                im2col_ctx ic = {cv, x, H, W, Ho, Wo, p0, K, (int)g, cols};
                oc_parallel(rows * K < 65536 ? 1 : nth, rows, im2col_range, &ic);
                if (G == 1) {
                    oc_gemm(cols, rows, &cv->wg[0], cv->bias, y + p0 * Co, nth);
                    continue;
                }
                oc_gemm(cols, rows, &cv->wg[g], cv->bias + g * cog, yg, nth);
                for (size_t r = 0; r < rows; r++)
                    memcpy(y + (p0 + r) * Co + g * cog, yg + r * cog, cog * sizeof(float));
            }
        }
        free(cols);
    }
    if (res || relu) {
        epi_ctx c = {y, res, Co, relu, simd};
        oc_parallel(P * Co < 65536 ? 1 : nth, P, epi_range, &c);
    }
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Average pooling, kernel = stride = k, no padding, floor (nn.AvgPool2d(k)): the mean of each
 * k x k window, summed in (ky, kx) order and divided by k * k
 */
typedef struct {
    const float *x;
    float *y;
    size_t H, W, C, Ho, Wo, k;
} pool_ctx;

static void pool_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const pool_ctx *c = p;
    float inv = (float)(c->k * c->k);
    for (size_t pos = i0; pos < i1; pos++) {
        size_t n = pos / (c->Ho * c->Wo), q = pos % (c->Ho * c->Wo);
        size_t oy = q / c->Wo, ox = q % c->Wo;
        float *yp = c->y + pos * c->C;
        for (size_t ch = 0; ch < c->C; ch++) yp[ch] = 0.0f;
        for (size_t ky = 0; ky < c->k; ky++)
            for (size_t kx = 0; kx < c->k; kx++) {
                const float *xp =
                    c->x + ((n * c->H + oy * c->k + ky) * c->W + ox * c->k + kx) * c->C;
                for (size_t ch = 0; ch < c->C; ch++) yp[ch] += xp[ch];
            }
        for (size_t ch = 0; ch < c->C; ch++) yp[ch] /= inv;
    }
}

void oc_avgpool2d(const float *x, size_t N, size_t H, size_t W, size_t C, size_t k, float *y,
                  int nth) {
    if (k == 0) return;
    size_t Ho = H / k, Wo = W / k, P = N * Ho * Wo;
    pool_ctx c = {x, y, H, W, C, Ho, Wo, k};
    oc_parallel(P * C < 65536 ? 1 : nth, P, pool_range, &c);
}
