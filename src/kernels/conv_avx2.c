/*
 * conv_avx2.c — the direct (depthwise, and channel multiplier 2: cin / groups = 1, cout = 2 cin)
 * convolution over channels-last activations with AVX2 + FMA: for each output position, 8 to
 * 32 output channels held in registers over all the taps (in (ky, kx) order, one fused
 * multiply-add each), then + bias, + residual, ReLU and one store. The scalar loop in conv.c
 * is the reference (test_conv compares the two); this file is compiled for AVX2 through a
 * target pragma, and conv.c calls it only on the avx2 and avx512 paths.
 */
#include <stdint.h>

#include "kernels/conv_int.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

static const int32_t mask_tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static inline __m256i mask8(size_t n) {
    return _mm256_loadu_si256((const __m256i *)(mask_tbl + 8 - (n > 8 ? 8 : n)));
}
static inline __m128i mask4(size_t n) {
    return _mm_loadu_si128((const __m128i *)(mask_tbl + 8 - (n > 4 ? 4 : n)));
}

/* input channels for output channels [o, o + 8) (the last vector: `rem` of them, mask m) */
static inline __m256 load_x(const float *xp, size_t mult, size_t rem, __m256i m) {
    if (mult == 1) return rem >= 8 ? _mm256_loadu_ps(xp) : _mm256_maskload_ps(xp, m);
    /* mult 2: x[o / 2] for o in [o0, o0 + 8): 4 inputs, each twice */
    __m128 h = rem >= 8 ? _mm_loadu_ps(xp) : _mm_maskload_ps(xp, mask4((rem + 1) / 2));
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(h),
                                    _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3));
}

/* output channels [o0, o0 + 8 NV) of position pos (rem: channels left from o0, < 8 NV only for
 * the last block, which is then one masked vector) */
static inline __attribute__((always_inline)) void block(const oc_dw_args *a, size_t pos,
                                                        size_t o0, size_t rem, int NV,
                                                        size_t mult) {
    const oc_conv *cv = a->cv;
    size_t Co = (size_t)cv->cout, Ci = (size_t)cv->cin;
    size_t n = pos / (a->Ho * a->Wo), q = pos % (a->Ho * a->Wo);
    long oy = (long)(q / a->Wo), ox = (long)(q % a->Wo);
    long y0 = oy * cv->stride - cv->pad, x0 = ox * cv->stride - cv->pad;
    long ky0 = y0 < 0 ? -y0 : 0, ky1 = (long)a->H - y0 < cv->kh ? (long)a->H - y0 : cv->kh;
    long kx0 = x0 < 0 ? -x0 : 0, kx1 = (long)a->W - x0 < cv->kw ? (long)a->W - x0 : cv->kw;
    __m256i m = mask8(rem);
    __m256 acc[4];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; v++) acc[v] = _mm256_setzero_ps();
    for (long ky = ky0; ky < ky1; ky++) {
        const float *xr = a->x + ((n * a->H + (size_t)(y0 + ky)) * a->W) * Ci + o0 / mult;
        const float *wr = cv->wbuf + (size_t)(ky * cv->kw) * Co + o0;
        for (long kx = kx0; kx < kx1; kx++) {
            const float *xp = xr + (size_t)(x0 + kx) * Ci;
            const float *wp = wr + (size_t)kx * Co;
            #pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                __m256 w = rem >= 8 * (size_t)(v + 1) ? _mm256_loadu_ps(wp + 8 * v)
                                                      : _mm256_maskload_ps(wp + 8 * v, m);
                acc[v] = _mm256_fmadd_ps(load_x(xp + 8 * v / mult, mult, rem - 8 * v, m), w,
                                         acc[v]);
            }
        }
    }
    float *yp = a->y + pos * Co + o0;
    const float *rp = a->res ? a->res + pos * Co + o0 : NULL;
    #pragma GCC unroll 16
    for (int v = 0; v < NV; v++) {
        int full = rem >= 8 * (size_t)(v + 1);
        __m256 b = full ? _mm256_loadu_ps(cv->bias + o0 + 8 * v)
                        : _mm256_maskload_ps(cv->bias + o0 + 8 * v, m);
        __m256 r = _mm256_add_ps(acc[v], b);
        if (rp)
            r = _mm256_add_ps(r, full ? _mm256_loadu_ps(rp + 8 * v)
                                      : _mm256_maskload_ps(rp + 8 * v, m));
        /* !(v > 0) -> 0, as the scalar loop (a NaN becomes 0 there too) */
        if (a->relu) r = _mm256_and_ps(r, _mm256_cmp_ps(r, _mm256_setzero_ps(), _CMP_GT_OQ));
        if (full) _mm256_storeu_ps(yp + 8 * v, r);
        else _mm256_maskstore_ps(yp + 8 * v, m, r);
    }
}

/* every output channel of position pos */
static inline __attribute__((always_inline)) void one(const oc_dw_args *a, size_t pos,
                                                      size_t o, size_t mult) {
    size_t Co = (size_t)a->cv->cout;
    for (; o + 32 <= Co; o += 32) block(a, pos, o, 32, 4, mult);
    for (; o + 8 <= Co; o += 8) block(a, pos, o, 8, 1, mult);
    if (o < Co) block(a, pos, o, Co - o, 1, mult);
}

/* Four neighbouring outputs of one row (KW x KW kernel, stride S, both compile-time), 8
 * channels at a time: per kernel row the KW weight vectors are loaded once and each input
 * column once, feeding every output whose window holds it (kx = column - j S, increasing: each
 * output's taps still in (ky, kx) order); columns in the zero padding are skipped, as the
 * scalar loop skips their taps */
static inline __attribute__((always_inline)) void row4(const oc_dw_args *a, size_t pos,
                                                       size_t mult, const int KW, const int S) {
    const oc_conv *cv = a->cv;
    size_t Co = (size_t)cv->cout, Ci = (size_t)cv->cin;
    size_t n = pos / (a->Ho * a->Wo), q = pos % (a->Ho * a->Wo);
    long oy = (long)(q / a->Wo), ox = (long)(q % a->Wo);
    long y0 = oy * S - cv->pad, x0 = ox * S - cv->pad, W = (long)a->W;
    long ky0 = y0 < 0 ? -y0 : 0, ky1 = (long)a->H - y0 < KW ? (long)a->H - y0 : KW;
    int inside = x0 >= 0 && x0 + 3 * S + KW <= W;
    __m256i m = mask8(8);
    size_t o = 0;
    for (; o + 8 <= Co; o += 8) {
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                         _mm256_setzero_ps()};
        __m256 w[7];
        for (long ky = ky0; ky < ky1; ky++) {
            const float *xr = a->x + ((n * a->H + (size_t)(y0 + ky)) * a->W) * Ci + o / mult;
            const float *wr = cv->wbuf + (size_t)(ky * KW) * Co + o;
#pragma GCC unroll 16
            for (int kx = 0; kx < KW; kx++) w[kx] = _mm256_loadu_ps(wr + (size_t)kx * Co);
#pragma GCC unroll 16
            for (int col = 0; col < 3 * S + KW; col++) {
                if (!inside && (x0 + col < 0 || x0 + col >= W)) continue;
                __m256 xv = load_x(xr + (size_t)(x0 + col) * Ci, mult, 8, m);
#pragma GCC unroll 16
                for (int j = 0; j < 4; j++) {
                    int kx = col - j * S;
                    if (kx >= 0 && kx < KW) acc[j] = _mm256_fmadd_ps(xv, w[kx], acc[j]);
                }
            }
        }
        __m256 b = _mm256_loadu_ps(cv->bias + o);
#pragma GCC unroll 16
        for (int j = 0; j < 4; j++) {
            float *yp = a->y + (pos + (size_t)j) * Co + o;
            __m256 r = _mm256_add_ps(acc[j], b);
            if (a->res) r = _mm256_add_ps(r, _mm256_loadu_ps(a->res + (pos + (size_t)j) * Co + o));
            if (a->relu) r = _mm256_and_ps(r, _mm256_cmp_ps(r, _mm256_setzero_ps(), _CMP_GT_OQ));
            _mm256_storeu_ps(yp, r);
        }
    }
    if (o < Co)
        for (size_t j = 0; j < 4; j++) one(a, pos + j, o, mult);
}

static inline __attribute__((always_inline)) void run(const oc_dw_args *a, size_t i0,
                                                      size_t i1, size_t mult, const int KW,
                                                      const int S) {
    for (size_t pos = i0; pos < i1;) {
        /* four outputs of one row, all in [i0, i1) */
        if (KW && pos + 4 <= i1 && pos % a->Wo + 4 <= a->Wo) {
            row4(a, pos, mult, KW, S);
            pos += 4;
            continue;
        }
        one(a, pos, 0, mult);
        pos++;
    }
}

int oc_conv_avx2_built(void) { return 1; }

int oc_conv_dw_avx2(const oc_dw_args *a, size_t i0, size_t i1) {
    const oc_conv *cv = a->cv;
    size_t mult = (size_t)(cv->cout / cv->cin);
    if (mult != 1 && mult != 2) return 0;
    /* the shapes of ConvNeXt and FastViT (7x7 and 3x3, stride 1 and 2) get the row kernel */
    int k = cv->kh == cv->kw && (cv->kh == 7 || cv->kh == 3) ? cv->kh : 0;
    int s = cv->stride == 1 || cv->stride == 2 ? cv->stride : 0;
    if (!k || !s) k = 0;
#define RUN(M, K, S)                                                                             \
    if (mult == M && k == K && s == S) return run(a, i0, i1, M, K, S), 1
    RUN(1, 7, 1);
    RUN(1, 7, 2);
    RUN(1, 3, 1);
    RUN(1, 3, 2);
    RUN(2, 7, 1);
    RUN(2, 7, 2);
    RUN(2, 3, 1);
    RUN(2, 3, 2);
#undef RUN
    run(a, i0, i1, mult, 0, 1);
    return 1;
}

/* y = relu?(y + res?) over n floats: the scalar epi_range's operations (a NaN becomes 0) */
void oc_conv_epi_avx2(float *y, const float *res, size_t n, int relu) {
    __m256 z = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(y + i);
        if (res) v = _mm256_add_ps(v, _mm256_loadu_ps(res + i));
        if (relu) v = _mm256_and_ps(v, _mm256_cmp_ps(v, z, _CMP_GT_OQ));
        _mm256_storeu_ps(y + i, v);
    }
    for (; i < n; i++) {
        float v = y[i];
        if (res) v += res[i];
        y[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else /* no x86 SIMD in this build */
int oc_conv_dw_avx2(const oc_dw_args *a, size_t i0, size_t i1) {
    (void)a, (void)i0, (void)i1;
    return 0;
}
void oc_conv_epi_avx2(float *y, const float *res, size_t n, int relu) {
    (void)y, (void)res, (void)n, (void)relu;
}
int oc_conv_avx2_built(void) { return 0; }
#endif
