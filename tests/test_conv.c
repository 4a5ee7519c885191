/*
 * test_conv.c — the convolution kernels (src/kernels/conv.c) against a scalar reference written
 * here from PyTorch's definitions (torch.nn.Conv2d over NCHW weights [cout, cin / groups, kh,
 * kw], zero padding; nn.BatchNorm2d in eval; nn.AvgPool2d(k)), summed in double, on odd shapes:
 * 1x1 (the direct GEMM), 3x3 stride 1 and 2 with padding, 7x7 depthwise, grouped, 5x3 with
 * uneven sizes, with residual and ReLU; on every SIMD path this CPU has, packed and as stored,
 * and with 1 and 3 threads (which must give the same bytes, also where the two split the work
 * differently: by positions or by panels); one group's convolutions also give the bytes of
 * oc_gemm over the test's own im2col rows, and y = res in place the bytes of y apart; the
 * Winograd form of 3x3 convolutions passes the same checks (but the im2col bytes), and with its
 * direct weights kept takes the direct sums for few tiles. The direct loop of depthwise
 * convolutions (channel multiplier 1, 2 and 3) has SIMD kernels of its own (conv_avx2.c): each
 * path is also compared with the scalar path's output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "test.h"

static unsigned rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct {
    int n, cin, h, w, cout, kh, kw, stride, pad, groups, res, relu;
} shape;

/* y [N, Ho, Wo, cout] from x [N, H, W, cin] (channels last) and w [cout, cg, kh, kw] */
static void ref_conv(const shape *s, const float *x, const float *w, const float *b,
                     const float *res, double *y, size_t Ho, size_t Wo) {
    int cg = s->cin / s->groups, cog = s->cout / s->groups;
    for (int n = 0; n < s->n; n++)
        for (size_t oy = 0; oy < Ho; oy++)
            for (size_t ox = 0; ox < Wo; ox++)
                for (int o = 0; o < s->cout; o++) {
                    int g = o / cog;
                    double acc = b[o];
                    for (int c = 0; c < cg; c++)
                        for (int ky = 0; ky < s->kh; ky++)
                            for (int kx = 0; kx < s->kw; kx++) {
                                long iy = (long)oy * s->stride - s->pad + ky;
                                long ix = (long)ox * s->stride - s->pad + kx;
                                if (iy < 0 || ix < 0 || iy >= s->h || ix >= s->w) continue;
                                acc += (double)x[(((size_t)n * s->h + iy) * s->w + ix) * s->cin +
                                                 g * cg + c] *
                                       w[(((size_t)o * cg + c) * s->kh + ky) * s->kw + kx];
                            }
                    size_t i = (((size_t)n * Ho + oy) * Wo + ox) * s->cout + o;
                    if (res) acc += res[i];
                    if (s->relu && acc < 0) acc = 0;
                    y[i] = acc;
                }
}

/* im2col rows (ky, kx, c) of one group's convolution, zero outside the image: cols [P, K] */
static float *im2col_of(const shape *s, const float *x, size_t Ho, size_t Wo) {
    size_t P = (size_t)s->n * Ho * Wo, K = (size_t)s->cin * s->kh * s->kw;
    float *cols = calloc(P * K, sizeof *cols);
    for (size_t p = 0; p < P; p++) {
        size_t n = p / (Ho * Wo), oy = p / Wo % Ho, ox = p % Wo;
        for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++) {
                long iy = (long)oy * s->stride - s->pad + ky;
                long ix = (long)ox * s->stride - s->pad + kx;
                if (iy < 0 || ix < 0 || iy >= s->h || ix >= s->w) continue;
                memcpy(cols + p * K + ((size_t)ky * s->kw + kx) * s->cin,
                       x + ((n * s->h + (size_t)iy) * s->w + (size_t)ix) * s->cin,
                       (size_t)s->cin * sizeof(float));
            }
    }
    return cols;
}

/* Each shape on every path, packed and as stored: against the double reference; 1 and 3
 * threads the same bytes; y = res in place the same bytes; the SIMD paths near the scalar one;
 * and for one group (the implicit GEMM over x, the padded image or im2col rows, with the
 * epilogue fused) the bytes of oc_gemm over the test's own im2col matrix followed by the scalar
 * epilogue (+ res, then ReLU). */
/* wino: the convolution (3x3, stride 1, pad 1, one group) in Winograd's form (oc_conv_winograd):
 * the same checks but the bytes of oc_gemm over im2col rows (within rounding of them instead) */
static void test_shape(const shape *s, int wino) {
    int cg = s->cin / s->groups;
    size_t nx = (size_t)s->n * s->h * s->w * s->cin;
    size_t nw = (size_t)s->cout * cg * s->kh * s->kw;
    size_t Ho = oc_conv_out((size_t)s->h, s->kh, s->stride, s->pad);
    size_t Wo = oc_conv_out((size_t)s->w, s->kw, s->stride, s->pad);
    size_t ny = (size_t)s->n * Ho * Wo * s->cout;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w);
    float *b = malloc((size_t)s->cout * sizeof *b), *res = malloc(ny * sizeof *res);
    float *y = malloc(ny * sizeof *y), *y3 = malloc(ny * sizeof *y3);
    float *ys = malloc(ny * sizeof *ys); /* the scalar path's output */
    int have_scalar = 0;
    double *want = malloc(ny * sizeof *want);
    for (size_t i = 0; i < nx; i++) x[i] = frand();
    for (size_t i = 0; i < nw; i++) w[i] = frand() / sqrtf((float)(cg * s->kh * s->kw));
    for (int i = 0; i < s->cout; i++) b[i] = frand();
    for (size_t i = 0; i < ny; i++) res[i] = frand();
    ref_conv(s, x, w, b, s->res ? res : NULL, want, Ho, Wo);
    float *cols = s->groups == 1 && !wino ? im2col_of(s, x, Ho, Wo) : NULL;
    float *yg = malloc(ny * sizeof *yg);
    oc_simd cur = oc_simd_get();
    for (int path = 0; path < OC_SIMD_COUNT; path++) {
        if (!oc_simd_set((oc_simd)path)) continue;
        for (int pack = 0; pack < 2; pack++) {
            oc_conv cv;
            oclip_error err;
            oclip_status st = oc_conv_init(&cv, w, b, s->cin, s->cout, s->kh, s->kw, s->stride,
                                           s->pad, s->groups, pack, 2, &err);
            if (!st && wino) st = oc_conv_winograd(&cv, pack, 2, &err);
            CHECKF(st == OCLIP_OK && !cv.wino == !wino, "init: %s", err.msg);
            if (st) continue;
            CHECK(oc_conv2d(&cv, x, (size_t)s->n, (size_t)s->h, (size_t)s->w, y,
                            s->res ? res : NULL, s->relu, 1, &err) == OCLIP_OK);
            CHECK(oc_conv2d(&cv, x, (size_t)s->n, (size_t)s->h, (size_t)s->w, y3,
                            s->res ? res : NULL, s->relu, 3, &err) == OCLIP_OK);
            double mx = 0;
            for (size_t i = 0; i < ny; i++) {
                double d = fabs(y[i] - want[i]);
                if (!(d <= mx)) mx = d;
            }
            CHECKF(mx <= 2e-5, "%s pack %d%s: conv %d->%d %dx%d s%d p%d g%d on %dx%dx%d: "
                   "max-abs %.3g vs the reference", oc_simd_name((oc_simd)path), pack,
                   wino ? " Winograd" : "", s->cin, s->cout, s->kh, s->kw, s->stride, s->pad,
                   s->groups, s->n, s->h, s->w, mx);
            CHECKF(!memcmp(y, y3, ny * sizeof *y), "%s: 1 and 3 threads differ",
                   oc_simd_name((oc_simd)path));
            if (cols) {
                oc_gemm(cols, ny / (size_t)s->cout, &cv.wg[0], cv.bias, yg, 1);
                for (size_t i = 0; i < ny; i++) {
                    float v = yg[i];
                    if (s->res) v += res[i];
                    yg[i] = s->relu && !(v > 0.0f) ? 0.0f : v;
                }
                CHECKF(!memcmp(y, yg, ny * sizeof *y), "%s pack %d: conv %d->%d %dx%d s%d p%d "
                       "on %dx%dx%d differs from oc_gemm over im2col rows",
                       oc_simd_name((oc_simd)path), pack, s->cin, s->cout, s->kh, s->kw,
                       s->stride, s->pad, s->n, s->h, s->w);
            }
            if (s->res) { /* in place: y = res (a 1-row kernel of one group adds res as it
                           * stores; the others copy it first): the same bytes */
                for (int th = 1; th <= 3; th += 2) {
                    memcpy(y3, res, ny * sizeof *y3);
                    CHECK(oc_conv2d(&cv, x, (size_t)s->n, (size_t)s->h, (size_t)s->w, y3, y3,
                                    s->relu, th, &err) == OCLIP_OK);
                    CHECKF(!memcmp(y, y3, ny * sizeof *y), "%s pack %d, %d thread(s): conv "
                           "%d->%d %dx%d g%d with y = res differs", oc_simd_name((oc_simd)path),
                           pack, th, s->cin, s->cout, s->kh, s->kw, s->groups);
                }
            }
            if (path == OC_SIMD_SCALAR) {
                memcpy(ys, y, ny * sizeof *y);
                have_scalar = 1;
            } else {
                double ms = 0;
                for (size_t i = 0; i < ny; i++) {
                    double d = fabs((double)y[i] - ys[i]);
                    if (!(d <= ms)) ms = d;
                }
                CHECKF(have_scalar && ms <= 1e-5, "%s pack %d: conv %d->%d %dx%d s%d g%d: max-abs "
                       "%.3g vs the scalar path", oc_simd_name((oc_simd)path), pack, s->cin,
                       s->cout, s->kh, s->kw, s->stride, s->groups, ms);
            }
            oc_conv_free(&cv);
        }
    }
    oc_simd_set(cur);
    free(x), free(w), free(b), free(res), free(y), free(y3), free(ys), free(want), free(cols);
    free(yg);
}

/* oc_bn_fold: conv then BatchNorm2d(eval) equals the folded convolution */
static void test_bn_fold(void) {
    enum { CI = 5, CO = 7, H = 9, W = 6, KK = 9 };
    float x[H * W * CI], w[CO * CI * KK], wf[CO * CI * KK], bias[CO] = {0}, zero[CO] = {0};
    float g[CO], be[CO], mu[CO], var[CO], y[H * W * CO], yf[H * W * CO];
    rng = 777u; /* its own draw, whatever the shapes before it used */
    for (int i = 0; i < H * W * CI; i++) x[i] = frand();
    for (int i = 0; i < CO * CI * KK; i++) wf[i] = w[i] = frand();
    for (int i = 0; i < CO; i++) {
        g[i] = frand() * 2, be[i] = frand(), mu[i] = frand(), var[i] = 0.1f + frand() * frand();
    }
    oc_conv a, f;
    oclip_error err;
    CHECK(oc_conv_init(&a, w, zero, CI, CO, 3, 3, 1, 1, 1, 1, 1, &err) == OCLIP_OK);
    oc_bn_fold(wf, bias, CO, CI * KK, g, be, mu, var, 1e-5f);
    CHECK(oc_conv_init(&f, wf, bias, CI, CO, 3, 3, 1, 1, 1, 1, 1, &err) == OCLIP_OK);
    oc_conv2d(&a, x, 1, H, W, y, NULL, 0, 1, &err);
    oc_conv2d(&f, x, 1, H, W, yf, NULL, 0, 1, &err);
    double mx = 0;
    for (int i = 0; i < H * W * CO; i++) {
        int o = i % CO;
        double bn = (y[i] - (double)mu[o]) / sqrt((double)var[o] + 1e-5) * g[o] + be[o];
        double d = fabs(bn - yf[i]);
        if (d > mx) mx = d;
    }
    CHECKF(mx <= 2e-5, "batch norm folded: max-abs %.3g", mx);
    oc_conv_free(&a);
    oc_conv_free(&f);
    oc_conv_free(NULL);
}

static void test_avgpool(int n, int h, int w, int c, int k) {
    size_t Ho = (size_t)(h / k), Wo = (size_t)(w / k), ny = (size_t)n * Ho * Wo * c;
    float *x = malloc((size_t)n * h * w * c * sizeof *x), *y = malloc(ny * sizeof *y);
    for (size_t i = 0; i < (size_t)n * h * w * c; i++) x[i] = frand();
    oc_avgpool2d(x, (size_t)n, (size_t)h, (size_t)w, (size_t)c, (size_t)k, y, 2);
    double mx = 0;
    for (int b = 0; b < n; b++)
        for (size_t oy = 0; oy < Ho; oy++)
            for (size_t ox = 0; ox < Wo; ox++)
                for (int ch = 0; ch < c; ch++) {
                    double s = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            s += x[(((size_t)b * h + oy * k + ky) * w + ox * k + kx) * c + ch];
                    double d = fabs(s / (k * k) - y[(((size_t)b * Ho + oy) * Wo + ox) * c + ch]);
                    if (d > mx) mx = d;
                }
    CHECKF(mx <= 1e-6, "avgpool k %d on %dx%dx%d: max-abs %.3g", k, h, w, c, mx);
    free(x), free(y);
}

int main(void) {
    static const shape shapes[] = {
        /* n cin h w cout kh kw s p g res relu */
        {2, 13, 7, 5, 37, 1, 1, 1, 0, 1, 1, 1},   /* 1x1: the direct GEMM, residual + ReLU */
        {1, 3, 17, 23, 16, 3, 3, 2, 1, 1, 0, 1},  /* the stem's first convolution, odd size */
        {2, 16, 9, 11, 33, 3, 3, 1, 1, 1, 0, 0},  /* 3x3 pad 1, more than one panel */
        {1, 24, 15, 13, 24, 7, 7, 1, 3, 24, 1, 0}, /* 7x7 depthwise (ConvNeXt) */
        {1, 12, 10, 9, 12, 3, 3, 2, 1, 12, 0, 1}, /* 3x3 depthwise stride 2 */
        {2, 12, 8, 7, 18, 3, 3, 1, 1, 3, 0, 1},   /* grouped */
        {1, 5, 6, 11, 9, 5, 3, 3, 2, 1, 1, 1},    /* 5x3 stride 3, uneven */
        {1, 40, 40, 36, 8, 3, 3, 1, 1, 1, 0, 0},  /* more positions than one im2col tile */
        {1, 7, 4, 4, 5, 1, 1, 2, 0, 1, 0, 0},     /* 1x1 stride 2: im2col, not direct */
        /* the direct loop: 32-channel blocks, 8-channel vectors and a masked tail */
        {1, 75, 9, 10, 75, 7, 7, 1, 3, 75, 1, 1}, /* 7x7 depthwise, 75 channels, res + ReLU */
        {2, 64, 8, 8, 64, 7, 7, 1, 3, 64, 0, 0},  /* 7x7 depthwise, whole vectors */
        {1, 13, 11, 9, 26, 7, 7, 2, 3, 13, 0, 0}, /* multiplier 2 (FastViT downsample) */
        {2, 20, 6, 5, 40, 3, 3, 1, 1, 20, 1, 1},  /* multiplier 2 (FastViT final_conv) */
        {1, 6, 5, 5, 18, 3, 3, 1, 1, 6, 0, 1},    /* multiplier 3: the scalar loop */
        /* 768 to 2303 positions: tiled (per-thread im2col + GEMM + epilogue) at 1 thread,
         * not at 3, so the two runs' equal bytes check tiled against untiled */
        {2, 16, 24, 20, 24, 1, 1, 1, 0, 1, 1, 1}, /* 1x1, residual + ReLU */
        {1, 9, 30, 30, 20, 3, 3, 1, 1, 1, 1, 1},  /* 3x3, residual + ReLU */
        /* wide rows: the AVX2 kernel's four-output row blocks (7x7 / 3x3, stride 1 / 2) */
        {1, 24, 6, 29, 24, 7, 7, 1, 3, 24, 1, 1}, /* 7x7 depthwise, res + ReLU */
        {2, 21, 5, 20, 21, 3, 3, 1, 1, 21, 0, 1}, /* 3x3 depthwise, a 5-channel tail */
        {1, 8, 9, 31, 16, 7, 7, 2, 3, 8, 0, 0},   /* multiplier 2, 7x7 stride 2 */
        {1, 16, 7, 25, 16, 3, 3, 2, 1, 16, 0, 0}, /* 3x3 depthwise stride 2 */
        {1, 12, 5, 17, 24, 3, 3, 1, 1, 12, 1, 0}, /* multiplier 2, 3x3 */
        /* one group: the implicit GEMM over the padded image (a kernel row of >= 32 floats) */
        {1, 16, 9, 11, 24, 3, 3, 2, 1, 1, 1, 1},  /* 3x3 stride 2, res + ReLU */
        {2, 32, 8, 6, 40, 2, 2, 2, 0, 1, 0, 1},   /* 2x2 stride 2, no padding (downsample) */
        {1, 12, 30, 25, 20, 3, 3, 1, 1, 1, 1, 1}, /* blocks of positions across output rows */
        {1, 8, 9, 40, 16, 3, 3, 1, 1, 1, 1, 1},   /* a 24-float kernel row: im2col, res + ReLU */
        /* weights outweigh activations: split by panels at 3 threads, by positions at 1 */
        {1, 128, 4, 4, 128, 3, 3, 1, 1, 1, 1, 1},
        {2, 256, 3, 3, 96, 1, 1, 1, 0, 1, 1, 0},
        {2, 300, 3, 3, 64, 1, 1, 1, 0, 1, 1, 1},  /* K > 256: two depth blocks, res copied */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) test_shape(&shapes[i], 0);
    static const shape wino[] = {
        /* n cin h w cout (3x3 s1 p1 g1) res relu */
        {1, 16, 6, 8, 32, 3, 3, 1, 1, 1, 0, 0},  /* even sides: whole tiles */
        {2, 13, 7, 5, 37, 3, 3, 1, 1, 1, 1, 1},  /* odd sides, channel tails, res + ReLU */
        {1, 12, 40, 36, 20, 3, 3, 1, 1, 1, 1, 0}, /* 360 tiles: several blocks a thread */
        {2, 70, 3, 9, 130, 3, 3, 1, 1, 1, 0, 1}, /* 5 panels: pairs and a partial panel */
        {1, 5, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1},    /* one position */
        /* fewer than OC_WINO_COL_TILES tiles a thread and 2 panels a thread or more: on 3
         * threads the output channels are split (conv.c conv_wino), in odd and even counts
         * of panels */
        {1, 40, 9, 11, 200, 3, 3, 1, 1, 1, 1, 1}, /* 30 tiles, a partial panel, res + ReLU */
        {2, 33, 14, 14, 256, 3, 3, 1, 1, 1, 0, 1}, /* 98 tiles: RN50's 14 x 14 grid, 2 images */
    };
    for (size_t i = 0; i < sizeof wino / sizeof *wino; i++) test_shape(&wino[i], 1);
    {
        oc_conv cv;
        oclip_error e;
        float w[2 * 2 * 9] = {0};
        CHECK(oc_conv_init(&cv, w, NULL, 2, 2, 3, 3, 2, 1, 1, 1, 1, &e) == OCLIP_OK);
        CHECK(oc_conv_winograd(&cv, 1, 1, &e) == OCLIP_E_ARG && cv.wg && !cv.wino);
        oc_conv_free(&cv);
    }
    test_bn_fold();
    test_avgpool(2, 8, 6, 5, 2);
    test_avgpool(1, 7, 9, 3, 2); /* odd: the last row and column dropped (floor) */
    test_avgpool(1, 9, 9, 4, 3);
    CHECK(oc_conv_out(7, 3, 2, 1) == 4 && oc_conv_out(2, 5, 1, 1) == 0);
    oc_conv bad;
    oclip_error err;
    CHECK(oc_conv_init(&bad, NULL, NULL, 6, 4, 3, 3, 1, 1, 4, 0, 1, &err) == OCLIP_E_ARG);
    return TEST_REPORT("test_conv");
}
