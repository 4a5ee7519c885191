/*
 * conv.c — 2-D convolution, batch norm folding and average pooling over channels-last
 * activations (x [N, H, W, C]: a position's channels are contiguous, so that a 1x1 convolution
 * is one GEMM over the positions and a k x k one a GEMM over im2col rows, read in place from a
 * padded copy of the image where they are long enough). The arithmetic is
 * the GEMM's (oc_gemm: each output summed over k in increasing order, fused multiply-adds on the
 * SIMD paths, the bias added last) or, for depthwise convolutions (one input channel per output:
 * cin / groups = 1, cout = groups x a channel multiplier), a direct loop: each output the taps'
 * products summed in (ky, kx) order, then the bias; multiply then add on the scalar path, fused
 * multiply-adds on the SIMD ones (conv_avx2.c); or, for a 3x3 convolution the model put in
 * Winograd's form (oc_conv_winograd), transforms around 16 GEMMs (below). Results never depend
 * on the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv_int.h"
#include "kernels/kernels.h"

/* output positions per im2col tile: bounds the im2col buffer (at most OC_CONV_TILE x K floats) */
#define OC_CONV_TILE 1024
/* output positions per block of one group's GEMM: its rows of X, Y and res stay in cache */
#define OC_CONV_ROWS 192

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
    if (cv->wino)
        for (int k = 0; k < 16; k++) oc_weight_unpack(&cv->wino[k]);
    free(cv->wg);
    free(cv->wbuf);
    free(cv->wino);
    free(cv->wino_buf);
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
        long ix0 = ox * cv->stride - cv->pad;
        for (long ky = 0; ky < cv->kh; ky++) {
            long iy = oy * cv->stride - cv->pad + ky;
            if (cg == C && iy >= 0 && iy < (long)c->H && ix0 >= 0 &&
                ix0 + cv->kw <= (long)c->W) {
                /* the kernel row inside the image: its kw pixels' channels are contiguous */
                memcpy(row, c->x + ((n * c->H + (size_t)iy) * c->W + (size_t)ix0) * C,
                       (size_t)cv->kw * C * sizeof(float));
                row += (size_t)cv->kw * C;
                continue;
            }
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
 * One group: an implicit GEMM (oc_gemm_rows) with the epilogue (+ res, ReLU) done as Y is stored.
 * Its rows: x itself for a 1x1 stride-1 convolution; for a k x k one, x copied into a
 * zero-padded image [N, H + 2 pad, W + 2 pad, C], where output (n, oy, ox)'s im2col row is kh
 * segments of kw x C contiguous floats, segment ky at padded pixel (n, oy * stride + ky,
 * ox * stride): tiles are pieces of output rows, their rows stride x C apart; or, where a kernel
 * row is short (below), im2col rows in the thread's buffer. The same products in the same order
 * as oc_gemm over the im2col rows, so the same bytes, without writing kh x kw copies of x.
 *
 * The threads split the work one of two ways, in owned shares (oc_parallel_owned: thread t takes
 * the t-th share, then, done early, the end of a late thread's):
 * - by positions, each thread all the panels of its contiguous share of the positions, in blocks
 *   of at most OC_CONV_ROWS: the same positions in every convolution of a network, so a thread
 *   reads what it wrote the step before from its own core's cache (split by panels, every
 *   thread read every position, half of them from the other core: RN50's convolutions at batch
 *   1 took 15-50% longer);
 * - by panels, each thread all positions for its share of the output columns, where the weights
 *   outweigh the activations (RN50's last stage at batch 1: 9.4 MB of weights for 49
 *   positions), so that each weight is read by one thread only.
 */
/* the shortest kernel row (kw x cin floats) read in place: shorter depth blocks cost more
 * accumulator loads and stores than the im2col copy saves (the stems' 3-channel convolutions) */
#define OC_CONV_IMPLICIT_SEG 32

typedef struct {
    const float *x;
    float *xp;
    size_t H, W, C, pad;
} pad_ctx;

/* padded rows [r0, r1) of xp [N, H + 2 pad, W + 2 pad, C] */
static void pad_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const pad_ctx *c = p;
    size_t Hp = c->H + 2 * c->pad, Wp = c->W + 2 * c->pad, C = c->C;
    for (size_t r = r0; r < r1; r++) {
        size_t n = r / Hp, py = r % Hp;
        float *row = c->xp + r * Wp * C;
        if (py < c->pad || py >= c->pad + c->H) {
            memset(row, 0, Wp * C * sizeof(float));
            continue;
        }
        memset(row, 0, c->pad * C * sizeof(float));
        memcpy(row + c->pad * C, c->x + (n * c->H + py - c->pad) * c->W * C,
               c->W * C * sizeof(float));
        memset(row + (c->pad + c->W) * C, 0, c->pad * C * sizeof(float));
    }
}

typedef struct {
    const oc_conv *cv;
    const float *x, *xp, *res; /* xp: the padded image (k x k in place), else NULL */
    size_t H, W, Hp, Wp, Ho, Wo, K, P;
    float *y, *cols; /* cols: OC_CONV_ROWS x K floats per thread (im2col), else NULL */
    int relu;
    oc_gemm_rows_fn fn;
} one_ctx;

/* positions [b0, b0 + rows) x panels [q0, q1) on thread t; rows <= OC_CONV_ROWS unless the rows
 * are x itself */
static void one_block(const one_ctx *c, size_t b0, size_t rows, int t, size_t q0, size_t q1) {
    const oc_conv *cv = c->cv;
    size_t Co = (size_t)cv->cout, C = (size_t)cv->cin, s = (size_t)cv->stride;
    const float *res = c->res ? c->res + b0 * Co : NULL;
    oc_gemm_tile tile[1];
    const float *xrows[OC_CONV_ROWS];
    oc_gemm_rows R = {tile, 1, c->K, Co, c->K, 0, c->relu};
    if (c->xp) { /* row i: output b0 + i's window, from its first padded pixel */
        R.ldx = s * C, R.seg = (size_t)cv->kw * C, R.seg_step = c->Wp * C;
        for (size_t i = 0; i < rows; i++) {
            size_t q = b0 + i, n = q / (c->Ho * c->Wo), oy = q / c->Wo % c->Ho, ox = q % c->Wo;
            xrows[i] = c->xp + ((n * c->Hp + oy * s) * c->Wp + ox * s) * C;
        }
        tile[0] = (oc_gemm_tile){NULL, c->y + b0 * Co, rows, res, xrows};
    } else if (c->cols) {
        float *cols = c->cols + (size_t)t * OC_CONV_ROWS * c->K;
        im2col_ctx ic = {cv, c->x, c->H, c->W, c->Ho, c->Wo, b0, c->K, 0, cols};
        im2col_range(&ic, 0, rows, 0);
        tile[0] = (oc_gemm_tile){cols, c->y + b0 * Co, rows, res, NULL};
    } else {
        tile[0] = (oc_gemm_tile){c->x + b0 * c->K, c->y + b0 * Co, rows, res, NULL};
    }
    c->fn(&R, 0, R.ntiles, &cv->wg[0], cv->bias, q0, q1);
}

/* positions [i0, i1) x panels [q0, q1) on thread t in blocks of at most OC_CONV_ROWS, as even
 * as possible (196 positions: two of 98, not 192 and 4 that read all the weights again) */
static void blocks(const one_ctx *c, size_t i0, size_t i1, int t, size_t q0, size_t q1) {
    size_t n = (i1 - i0 + OC_CONV_ROWS - 1) / OC_CONV_ROWS;
    for (size_t b = 0; b < n; b++) {
        size_t b0 = i0 + (i1 - i0) * b / n, b1 = i0 + (i1 - i0) * (b + 1) / n;
        one_block(c, b0, b1 - b0, t, q0, q1);
    }
}

static void pos_range(void *p, size_t i0, size_t i1, int t) {
    const one_ctx *c = p;
    blocks(c, i0, i1, t, 0, ((size_t)c->cv->cout + OC_PANEL - 1) / OC_PANEL);
}

/* by panels: all positions at once (the GEMM's own row blocks keep X in cache) where the rows
 * are x itself, else in blocks */
static void panel_range(void *p, size_t q0, size_t q1, int t) {
    const one_ctx *c = p;
    if (!c->xp && !c->cols) one_block(c, 0, c->P, t, q0, q1);
    else blocks(c, 0, c->P, t, q0, q1);
}

static oclip_status conv_one(const oc_conv *cv, const float *x, size_t N, size_t H, size_t W,
                             size_t Ho, size_t Wo, float *y, const float *res, int relu,
                             int nth, oclip_error *err) {
    size_t P = N * Ho * Wo, Co = (size_t)cv->cout, K = cv->wg[0].k, C = (size_t)cv->cin;
    size_t pad = (size_t)cv->pad;
    int direct = cv->kh == 1 && cv->kw == 1 && cv->stride == 1 && pad == 0;
    one_ctx c = {cv, x, NULL, res, H, W, H, W, Ho, Wo, K, P, y, NULL, relu,
                 oc_kernels_get()->gemm_rows};
    /* one thread for a small convolution (about a million multiply-adds or less) */
    if ((double)P * (double)K * (double)Co < 1048576.0) nth = 1;
    float *buf = NULL;
    if (!direct && (size_t)cv->kw * C >= OC_CONV_IMPLICIT_SEG) {
        c.Hp = H + 2 * pad, c.Wp = W + 2 * pad;
        if (N * c.Hp <= SIZE_MAX / sizeof(float) / c.Wp / C)
            buf = malloc(N * c.Hp * c.Wp * C * sizeof(float));
        if (!buf)
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, a padded %zu x %zu "
                              "x %zu x %zu image)", N, c.Hp, c.Wp, C);
        pad_ctx pc = {x, buf, H, W, C, pad};
        oc_parallel_owned(N * c.Hp * c.Wp * C < 65536 ? 1 : nth, N * c.Hp, 4, pad_range, &pc);
        c.xp = buf;
    } else if (!direct) {
        if (!(buf = malloc((size_t)nth * OC_CONV_ROWS * K * sizeof(float))))
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, %d x %d x %zu "
                              "im2col rows)", nth, OC_CONV_ROWS, K);
        c.cols = buf;
    }
    size_t panels = (Co + OC_PANEL - 1) / OC_PANEL;
    double act = (double)N * H * W * C + (double)P * Co, wts = (double)K * Co;
    if (nth > 1 && wts > act && panels >= (size_t)nth) {
        oc_parallel_owned(nth, panels, 1, panel_range, &c);
    } else { /* chunks of a share: as even as possible, at most OC_CONV_ROWS positions */
        size_t share = (P + (size_t)nth - 1) / (size_t)nth;
        size_t nb = (share + OC_CONV_ROWS - 1) / OC_CONV_ROWS;
        oc_parallel_owned(nth, P, (share + nb - 1) / nb, pos_range, &c);
    }
    free(buf);
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Winograd F(2x2, 3x3) (oc_conv_winograd in kernels.h). With d the 4x4 input window of a 2x2
 * output block (rows and columns from -1 around the block's first output, zero outside),
 *   V = B^T d B,  U = G g G^T,  Y = A^T (U . V) A,
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1],
 * where U . V, summed over the input channels, is for each of the 16 elements k of the 4x4
 * transforms a GEMM: M_k [tiles, cout] = V_k [tiles, cin] U_k^T. Blocks of tiles per thread
 * whose V_k and M_k (16 x tiles x C floats each) fit in OC_WINO_BYTES, the core's cache.
 */
#define OC_WINO_BYTES (1u << 20)
/* below this many tiles a thread, the threads split the output channels (conv_wino) */
#ifndef OC_WINO_COL_TILES
#define OC_WINO_COL_TILES 64
#endif

oclip_status oc_conv_winograd(oc_conv *cv, int pack, int nth, oclip_error *err) {
    if (cv->kh != 3 || cv->kw != 3 || cv->stride != 1 || cv->pad != 1 || cv->groups != 1 ||
        cv->depthwise || !cv->wg || cv->wino)
        return oc_err_set(err, OCLIP_E_ARG, "Winograd F(2x2, 3x3) needs a 3x3, stride 1, pad 1, "
                          "one-group convolution");
    size_t C = (size_t)cv->cin, Co = (size_t)cv->cout, K = 9 * C;
    float *u = malloc(16 * Co * C * sizeof(float));
    oc_weight *wt = calloc(16, sizeof *wt);
    if (!u || !wt) {
        free(u), free(wt);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (Winograd weights, 16 x %zu x %zu)",
                          Co, C);
    }
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    for (size_t o = 0; o < Co; o++)
        for (size_t c = 0; c < C; c++) {
            const float *g = cv->wbuf + o * K + c; /* g[(ky * 3 + kx) * C] (im2col order) */
            double t[4][3];                         /* G g */
            for (int a = 0; a < 4; a++)
                for (int kx = 0; kx < 3; kx++)
                    t[a][kx] = G[a][0] * g[(0 + kx) * C] + G[a][1] * g[(3 + kx) * C] +
                               G[a][2] * g[(6 + kx) * C];
            for (int a = 0; a < 4; a++) /* (G g) G^T */
                for (int b = 0; b < 4; b++)
                    u[((size_t)(a * 4 + b) * Co + o) * C + c] =
                        (float)(t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2]);
        }
    for (int k = 0; k < 16; k++) {
        wt[k] = (oc_weight){.data = (const uint8_t *)(u + (size_t)k * Co * C),
                            .dtype = OCLIP_DTYPE_F32, .n = Co, .k = C};
        oclip_status s = pack ? oc_weight_pack(&wt[k], OCLIP_DTYPE_F32, 0, nth, err) : OCLIP_OK;
        if (s) {
            for (int j = 0; j < k; j++) oc_weight_unpack(&wt[j]);
            free(u), free(wt);
            return s;
        }
    }
    oc_weight_unpack(&cv->wg[0]);
    free(cv->wg), free(cv->wbuf);
    cv->wg = NULL, cv->wbuf = NULL;
    cv->wino = wt, cv->wino_buf = u;
    return OCLIP_OK;
}

typedef struct {
    const oc_conv *cv;
    const float *x, *res;
    /* tiles: per thread V [16][tb][cin], then M [16][tb][cout]; columns: per thread V
     * [16][T][cin], and m: one M [16][T][cout] for all */
    float *y, *scratch, *m;
    size_t H, W, th, tw, tb, T;
    int relu;
    const oc_kernels *k;
} wino_ctx;

/* V = B^T d B of tiles [b0, b0 + nb) (tile (n, ty, tx): outputs (2 ty + a, 2 tx + b)) into V
 * (row i of V_k at V + (k ld + i) C) */
static void wino_in_tiles(const wino_ctx *c, size_t b0, size_t nb, float *V, size_t ld) {
    size_t C = (size_t)c->cv->cin, H = c->H, W = c->W;
    for (size_t i = 0; i < nb; i++) {
        size_t q = b0 + i, n = q / (c->th * c->tw), ty = q / c->tw % c->th, tx = q % c->tw;
        const float *px[16];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++) {
                long iy = (long)(2 * ty) - 1 + a, ix = (long)(2 * tx) - 1 + b;
                px[a * 4 + b] = iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W
                                    ? NULL
                                    : c->x + ((n * H + (size_t)iy) * W + (size_t)ix) * C;
            }
        c->k->wino_in(px, C, V + i * C, ld * C);
    }
}

/* Y = A^T M A + bias (+ res), ReLU, of tiles [b0, b0 + nb) over output channels [c0, c1) (row i
 * of M_k at M + (k ld + i) cout) */
static void wino_out_tiles(const wino_ctx *c, size_t b0, size_t nb, const float *M, size_t ld,
                           size_t c0, size_t c1) {
    size_t Co = (size_t)c->cv->cout, H = c->H, W = c->W;
    for (size_t i = 0; i < nb; i++) {
        size_t q = b0 + i, n = q / (c->th * c->tw), ty = q / c->tw % c->th, tx = q % c->tw;
        float *py[4];
        const float *pr[4];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                size_t oy = 2 * ty + (size_t)a, ox = 2 * tx + (size_t)b;
                size_t pos = (n * H + oy) * W + ox;
                int in = oy < H && ox < W;
                py[a * 2 + b] = in ? c->y + pos * Co + c0 : NULL;
                pr[a * 2 + b] = in && c->res ? c->res + pos * Co + c0 : NULL;
            }
        c->k->wino_out(M + i * Co + c0, ld * Co, c1 - c0, c->cv->bias + c0, py, pr, c->relu);
    }
}

/* tiles [t0, t1) on thread t, tb at a time: each block's transforms and all of its GEMMs */
static void wino_range(void *p, size_t t0, size_t t1, int t) {
    const wino_ctx *c = p;
    const oc_conv *cv = c->cv;
    size_t C = (size_t)cv->cin, Co = (size_t)cv->cout, tb = c->tb;
    size_t panels = (Co + OC_PANEL - 1) / OC_PANEL;
    float *V = c->scratch + (size_t)t * 16 * tb * (C + Co), *M = V + 16 * tb * C;
    for (size_t b0 = t0; b0 < t1; b0 += tb) {
        size_t nb = t1 - b0 < tb ? t1 - b0 : tb;
        wino_in_tiles(c, b0, nb, V, tb);
        for (size_t k = 0; k < 16; k++)
            c->k->gemm(V + k * tb * C, nb, &cv->wino[k], NULL, M + k * tb * Co, 0, panels);
        wino_out_tiles(c, b0, nb, M, tb, 0, Co);
    }
}

/* weight panels [p0, p1) on thread t, for all T tiles: the transforms of every tile (each thread
 * its own copy), the 16 GEMMs over its panels, the output transforms of its channels */
static void wino_cols(void *p, size_t p0, size_t p1, int t) {
    const wino_ctx *c = p;
    const oc_conv *cv = c->cv;
    size_t C = (size_t)cv->cin, Co = (size_t)cv->cout, T = c->T;
    size_t c0 = p0 * OC_PANEL, c1 = p1 * OC_PANEL < Co ? p1 * OC_PANEL : Co;
    float *V = c->scratch + (size_t)t * 16 * T * C, *M = c->m;
    wino_in_tiles(c, 0, T, V, T);
    for (size_t k = 0; k < 16; k++)
        c->k->gemm(V + k * T * C, T, &cv->wino[k], NULL, M + k * T * Co, p0, p1);
    wino_out_tiles(c, 0, T, M, T, c0, c1);
}

static oclip_status conv_wino(const oc_conv *cv, const float *x, size_t N, size_t H, size_t W,
                              float *y, const float *res, int nth, int relu, oclip_error *err) {
    size_t th = (H + 1) / 2, tw = (W + 1) / 2, T = N * th * tw;
    size_t C = (size_t)cv->cin, Co = (size_t)cv->cout;
    /* tiles per block: V and M in about OC_WINO_BYTES */
    size_t tb = OC_WINO_BYTES / (16 * (C + Co) * sizeof(float));
    tb = tb < 8 ? 8 : tb > 256 ? 256 : tb;
    wino_ctx c = {cv, x, res, y, NULL, NULL, H, W, th, tw, tb, T, relu, oc_kernels_get()};
    size_t panels = (Co + OC_PANEL - 1) / OC_PANEL;
    if (nth > 1 && T < (size_t)nth * OC_WINO_COL_TILES && panels >= 2 * (size_t)nth) {
        /* few tiles (one image's small grid): the threads split the output channels, each
         * reading its share of the 16 weight matrices once for all the tiles, rather than
         * all of them for its share of the tiles */
        size_t vf = 16 * T * C, mf = 16 * T * Co;
        if ((size_t)nth * vf + mf > SIZE_MAX / sizeof(float) ||
            !(c.scratch = malloc(((size_t)nth * vf + mf) * sizeof(float))))
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (Winograd convolution, %d x 16 "
                              "x %zu tiles)", nth, T);
        c.m = c.scratch + (size_t)nth * vf;
        oc_parallel(nth, panels, wino_cols, &c);
        free(c.scratch);
        return OCLIP_OK;
    }
    if ((size_t)nth > (T + 7) / 8) nth = (int)((T + 7) / 8); /* 8 tiles a thread or more */
    /* each thread's share in chunks of at most tb tiles, as even as possible (a range call
     * is a block: its GEMMs read all 16 weight matrices) */
    size_t share = (T + (size_t)nth - 1) / (size_t)nth, nchunks = (share + tb - 1) / tb;
    size_t unit = (share + nchunks - 1) / nchunks;
    if (!(c.scratch = malloc((size_t)nth * 16 * tb * (C + Co) * sizeof(float))))
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (Winograd convolution, %d x 16 x "
                          "%zu tiles)", nth, tb);
    oc_parallel_owned(nth, T, unit, wino_range, &c);
    free(c.scratch);
    return OCLIP_OK;
}

oclip_status oc_conv2d(const oc_conv *cv, const float *x, size_t N, size_t H, size_t W,
                       float *y, const float *res, int relu, int nth, oclip_error *err) {
    size_t Ho = oc_conv_out(H, cv->kh, cv->stride, cv->pad);
    size_t Wo = oc_conv_out(W, cv->kw, cv->stride, cv->pad);
    size_t P = N * Ho * Wo, Co = (size_t)cv->cout;
    if (!P) return OCLIP_OK;
    /* y = res: in place where each output's sum ends in one depth block (one group, a kernel of
     * one row, K <= OC_GEMM_KB: the GEMM reads an output's res just before it stores it);
     * elsewhere the sum is kept in y before res is added, so res is copied first */
    if (res && res == y &&
        (cv->depthwise || cv->groups != 1 || cv->kh != 1 || cv->wg[0].k > OC_GEMM_KB)) {
        float *rc = malloc(P * Co * sizeof(float));
        if (!rc)
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, a copy of its "
                              "%zu x %zu residual)", P, Co);
        memcpy(rc, res, P * Co * sizeof(float));
        oclip_status s = oc_conv2d(cv, x, N, H, W, y, rc, relu, nth, err);
        free(rc);
        return s;
    }
    if (nth < 1) nth = 1;
    if (cv->wino) return conv_wino(cv, x, N, H, W, y, res, nth, relu, err);
    if (cv->depthwise) {
        oc_simd path = oc_simd_get();
        dw_ctx c = {{cv, x, res, H, W, Ho, Wo, y, relu},
                    path == OC_SIMD_AVX2 || path == OC_SIMD_AVX512};
        /* owned shares: a thread computes the positions it wrote the step before */
        oc_parallel_owned(P * Co * (size_t)(cv->kh * cv->kw) < 65536 ? 1 : nth, P,
                          (P + 4 * (size_t)nth - 1) / (4 * (size_t)nth),
                          dw_range, &c);
        return OCLIP_OK;
    }
    size_t G = (size_t)cv->groups, cog = Co / G, K = cv->wg[0].k;
    oc_simd path = oc_simd_get();
    int simd = oc_conv_avx2_built() && (path == OC_SIMD_AVX2 || path == OC_SIMD_AVX512);
    if (G == 1) return conv_one(cv, x, N, H, W, Ho, Wo, y, res, relu, nth, err);
    /* groups: per block of positions, each group's im2col rows and GEMM, its outputs copied
     * into their columns of y */
    size_t tile = P < OC_CONV_TILE ? P : OC_CONV_TILE;
    float *cols = malloc((tile * K + tile * cog) * sizeof(float));
    if (!cols)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (convolution, %zu x %zu im2col "
                          "rows)", tile, K);
    float *yg = cols + tile * K;
    for (size_t p0 = 0; p0 < P; p0 += tile) {
        size_t rows = P - p0 < tile ? P - p0 : tile;
        for (size_t g = 0; g < G; g++) {
            im2col_ctx ic = {cv, x, H, W, Ho, Wo, p0, K, (int)g, cols};
            oc_parallel(rows * K < 65536 ? 1 : nth, rows, im2col_range, &ic);
            oc_gemm(cols, rows, &cv->wg[g], cv->bias + g * cog, yg, nth);
            for (size_t r = 0; r < rows; r++)
                memcpy(y + (p0 + r) * Co + g * cog, yg + r * cog, cog * sizeof(float));
        }
    }
    free(cols);
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
        const float *x0 = c->x + ((n * c->H + oy * c->k) * c->W + ox * c->k) * c->C;
        size_t ch = 0;
#if defined(__GNUC__)
        /* 8 channels at a time in a register (GCC vector extensions): the same additions in the
         * same order, then the same division, lane by lane */
        typedef float v8 __attribute__((vector_size(32)));
        for (; ch + 8 <= c->C; ch += 8) {
            v8 acc = {0}, v;
            for (size_t ky = 0; ky < c->k; ky++)
                for (size_t kx = 0; kx < c->k; kx++) {
                    memcpy(&v, x0 + (ky * c->W + kx) * c->C + ch, sizeof v);
                    acc += v;
                }
            acc /= inv;
            memcpy(yp + ch, &acc, sizeof acc);
        }
#endif
        for (; ch < c->C; ch++) {
            float acc = 0.0f;
            for (size_t ky = 0; ky < c->k; ky++)
                for (size_t kx = 0; kx < c->k; kx++) acc += x0[(ky * c->W + kx) * c->C + ch];
            yp[ch] = acc / inv;
        }
    }
}

void oc_avgpool2d(const float *x, size_t N, size_t H, size_t W, size_t C, size_t k, float *y,
                  int nth) {
    if (k == 0) return;
    size_t Ho = H / k, Wo = W / k, P = N * Ho * Wo;
    pool_ctx c = {x, y, H, W, C, Ho, Wo, k};
    /* owned shares: a thread pools the rows its share of the convolution before wrote */
    oc_parallel_owned(P * C < 65536 ? 1 : nth, P, (P + 7) / 8, pool_range, &c);
}
