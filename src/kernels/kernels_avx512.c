/*
 * kernels_avx512.c — the AVX-512 path (F, BW, VL, DQ with FMA and F16C): the kernels of
 * kernels_simd.h over 16-lane vectors. The functions are compiled for those extensions through a
 * target pragma (no per-file compiler flags, so every build, including the single-command fuzz
 * build, compiles this file as it is); cpu.c puts them in the dispatch table only on a CPU and OS
 * that support them: the AVX512-BF16 GEMM and the AVX512-VNNI int8 GEMM (in this file too, under
 * their own target pragmas) only where the CPU also has those.
 */
#include <stdint.h>

#include "kernels/kernels_int.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif

#define VW 16
#define MR 12
#define FN(name) avx512_##name
typedef __m512 vf;
typedef __m512d vd;

static inline __mmask16 mk(size_t n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vloadn(const float *p, size_t n) { return _mm512_maskz_loadu_ps(mk(n), p); }
static inline vf vloadn_fill(const float *p, size_t n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mk(n), p);
}
static inline void vstoren(float *p, vf v, size_t n) { _mm512_mask_storeu_ps(p, mk(n), v); }
static inline vf vkeepn(vf v, size_t n) { return _mm512_maskz_mov_ps(mk(n), v); }
static inline vf vset1(float f) { return _mm512_set1_ps(f); }
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vabs(vf a) { return _mm512_abs_ps(a); }
static inline vf vcopysign(vf mag, vf sgn) {
    return _mm512_or_ps(_mm512_abs_ps(mag), _mm512_and_ps(sgn, _mm512_set1_ps(-0.0f)));
}
static inline vf vround(vf a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2i(vf n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(i, 23));
}
static inline vf vsel_gt(vf a, vf b, vf x, vf y) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), x, y);
}
static inline int vany_nle(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLE_UQ) != 0; }
static inline void vstore_q8(uint8_t *q, vf v, size_t n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(128));
    _mm512_mask_cvtepi32_storeu_epi8(q, mk(n), i);
}
static inline float hsum128(__m128 b) {
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}
static inline float vhsum(vf v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)));
}
static inline float vhmax(vf v) {
    __m256 a = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}
static inline vf cvt_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
static inline vf cvt_bf16(const uint16_t *p) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
static inline vd vd_lo(vf v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline vd vd_hi(vf v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }
static inline vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static inline vd vd_fma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
static inline vd vd_set1(double d) { return _mm512_set1_pd(d); }
static inline vd vd_zero(void) { return _mm512_setzero_pd(); }
static inline double vd_hsum(vd v) {
    __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* r[i] <- column i of the 16 x 16 block whose rows are r (kernels_simd.h's pack_block) */
static inline __m512 unpack_pd(__m512 a, __m512 b, int hi) {
    __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
    return _mm512_castpd_ps(hi ? _mm512_unpackhi_pd(x, y) : _mm512_unpacklo_pd(x, y));
}

static void vtranspose(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = unpack_pd(t[i], t[i + 2], 0);
        r[i + 1] = unpack_pd(t[i], t[i + 2], 1);
        r[i + 2] = unpack_pd(t[i + 1], t[i + 3], 0);
        r[i + 3] = unpack_pd(t[i + 1], t[i + 3], 1);
    }
    /* now r[4g + e], 128-bit lane L: column 4L + e of rows 4g .. 4g + 3; gather the lanes so
     * that r[c] holds column c of all 16 rows */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/* the next weight block prefetched evenly over the block's micro-kernel calls (kernels_simd.h) */
#define GEMM_PF_SPREAD 2
/* two panels per micro-kernel call: 6 x 64 accumulators (kernels_simd.h) */
#define PAIR_MR 6
#include "kernels/kernels_simd.h"

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512bf16"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512bf16")
#endif

/* =============================================================================================
 * BF16 GEMM (AVX512-BF16; selected only on CPUs that have it, for weights cast to BF16 at load).
 * X is rounded to BF16 (nearest even) into k pairs a tile and depth block at a time (a stack
 * buffer: no allocation, nothing can fail); the weights are BF16 k pairs (oc_weight.pairs). vdpbf16ps adds x[k] w[k] + x[k+1] w[k+1] into each fp32 accumulator;
 * each output element is one such chain over the k pairs in order, then + bias, so the bytes do
 * not depend on the rows computed together or the thread split. Tiles of 12 rows x 32 columns.
 */
#define BMR 12

static inline __attribute__((always_inline)) void
bf16_micro(const int mr, const uint32_t *xp, size_t ldx, const uint16_t *w, size_t kp,
           float *y, size_t ldy, int first, const float *bias, size_t cols, const uint16_t *pf) {
    __m512 acc[BMR][2];
    __mmask16 m0 = mk(cols), m1 = mk(cols > 16 ? cols - 16 : 0);
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        acc[r][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + (size_t)r * ldy);
        acc[r][1] = first ? _mm512_setzero_ps()
                          : _mm512_maskz_loadu_ps(m1, y + (size_t)r * ldy + 16);
    }
    for (size_t k = 0; k < kp; k++) {
        const uint16_t *wk = w + k * 2 * OC_PANEL;
        if (pf) _mm_prefetch((const char *)(pf + k * 2 * OC_PANEL), _MM_HINT_T0);
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wk), w1 = (__m512bh)_mm512_loadu_si512(wk + 32);
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            __m512bh xb = (__m512bh)_mm512_set1_epi32((int)xp[(size_t)r * ldx + k]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], xb, w0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], xb, w1);
        }
    }
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, bias ? _mm512_add_ps(acc[r][0], b0) : acc[r][0]);
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1,
                              bias ? _mm512_add_ps(acc[r][1], b1) : acc[r][1]);
    }
}

static void bf16_micro_any(int mr, const uint32_t *xp, size_t ldx, const uint16_t *w, size_t kp,
                           float *y, size_t ldy, int first, const float *bias, size_t cols,
                           const uint16_t *pf) {
    switch (mr) {
#define C(R)                                                                                     \
    case R: bf16_micro(R, xp, ldx, w, kp, y, ldy, first, bias, cols, pf); break;
        C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}

/* rows [0, mr) of X (row stride K) at depth k = 2 k0 .. 2 (k0 + kb), rounded to BF16 (nearest
 * even) into pairs: xp[r * KB2 + kk] = (x[2 kk], x[2 kk + 1]); past K reads as 0 */
static void bf16_rows(const float *X, size_t K, size_t mr, size_t k0, size_t kb, uint32_t *xp) {
    for (size_t r = 0; r < mr; r++) {
        const float *xr = X + r * K;
        uint16_t *d = (uint16_t *)(xp + r * (OC_GEMM_KB / 2));
        size_t k = 2 * k0, end = 2 * (k0 + kb) < K ? 2 * (k0 + kb) : K, i = 0;
        for (; k + 16 <= end; k += 16, i += 16)
            _mm256_storeu_si256((__m256i *)(d + i),
                                (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xr + k)));
        if (k < end)
            _mm256_storeu_si256((__m256i *)(d + i), (__m256i)_mm512_cvtneps_pbh(
                                                         _mm512_maskz_loadu_ps(mk(end - k), xr + k)));
        /* the masked tail wrote zeros up to 16 values on; a pair cut by K ends in one of them */
    }
}

static void avx512bf16_gemm(const float *X, size_t M, const oc_weight *W, const float *bias,
                            float *Y, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k, K2 = (K + 1) / 2;
    const size_t KB2 = OC_GEMM_KB / 2;
    _Alignas(64) uint32_t xp[BMR * (OC_GEMM_KB / 2) + 16];
    size_t mc = GEMM_XBLOCK / (K * sizeof(float)); /* rows whose X stays in L2, as above */
    mc = mc < 4 * BMR ? 4 * BMR : mc / BMR * BMR;
    size_t nblocks = (M + mc - 1) / mc;
    for (size_t rb = 0, r0 = 0; rb < nblocks; rb++) {
        size_t rows = M / nblocks + (rb < M % nblocks);
        size_t ntiles = (rows + BMR - 1) / BMR, base = rows / ntiles, extra = rows % ntiles;
        for (size_t p = p0; p < p1; p++) {
            size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
            for (size_t k0 = 0; k0 < K2; k0 += KB2) {
                size_t kb = K2 - k0 < KB2 ? K2 - k0 : KB2;
                const uint16_t *wp = (const uint16_t *)W->packed + (p * K2 + k0) * 2 * OC_PANEL;
                const uint16_t *pf = p + 1 < p1 || k0 + kb < K2 ? wp + kb * 2 * OC_PANEL : NULL;
                const float *bb = k0 + kb >= K2 ? bias : NULL;
                size_t m0 = r0;
                for (size_t t = 0; t < ntiles; t++) {
                    size_t mr = base + (t < extra);
                    bf16_rows(X + m0 * K, K, mr, k0, kb, xp);
                    bf16_micro_any((int)mr, xp, KB2, wp, kb, Y + m0 * N + n0, N, k0 == 0,
                                   bb ? bb + n0 : NULL, nb, t == 0 ? pf : NULL);
                    m0 += mr;
                }
            }
        }
        r0 += rows;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512vnni"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,avx512vnni")
#endif

/* =============================================================================================
 * Int8 GEMM (AVX512-VNNI; selected only on CPUs that have it, for weights quantized at load):
 * the panels of oc_gemm_i8 (kernels.c has the rows quantized). vpdpbusd adds the four products
 * of an activation quad (bytes qx + 128, broadcast) and a weight quad (int8, one per lane) into
 * each int32 accumulator: 64 multiply-adds per instruction. Tiles of 12 rows x 32 columns over
 * the whole depth (a panel is 32 Kq bytes: 96 KiB at K = 3072, read from L2 once per tile), so
 * the sums never leave the registers; the epilogue is the reference's (kernels_scalar.c),
 * operation for operation, and integer sums are exact: the same bytes as the reference.
 */
#define QMR 12

static inline __attribute__((always_inline)) void
i8_micro(const int mr, const uint8_t *x, size_t ldx, const int8_t *w, size_t kq, const float *xs,
         float *y, size_t ldy, const float *ws, const int32_t *qs, const float *bias,
         size_t cols) {
    __m512i acc[QMR][2];
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (size_t k = 0; k < kq; k++) {
        const int8_t *wk = w + k * 4 * OC_PANEL;
        __m512i w0 = _mm512_loadu_si512(wk), w1 = _mm512_loadu_si512(wk + 64);
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            int32_t xv;
            memcpy(&xv, x + (size_t)r * ldx + 4 * k, 4);
            __m512i xb = _mm512_set1_epi32(xv);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], xb, w0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], xb, w1);
        }
    }
    __mmask16 m0 = mk(cols), m1 = mk(cols > 16 ? cols - 16 : 0);
    __m512 s0 = _mm512_maskz_loadu_ps(m0, ws), s1 = _mm512_maskz_loadu_ps(m1, ws + 16);
    __m512i c0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, qs), 7);
    __m512i c1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, qs + 16), 7);
    __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        float sx;
        memcpy(&sx, xs + r, sizeof sx);
        __m512 sv = _mm512_set1_ps(sx);
        __m512 y0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], c0)),
                                  _mm512_mul_ps(s0, sv));
        __m512 y1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], c1)),
                                  _mm512_mul_ps(s1, sv));
        if (bias) {
            y0 = _mm512_add_ps(y0, b0);
            y1 = _mm512_add_ps(y1, b1);
        }
        _mm512_mask_storeu_ps(y + (size_t)r * ldy, m0, y0);
        _mm512_mask_storeu_ps(y + (size_t)r * ldy + 16, m1, y1);
    }
}

static void i8_micro_any(int mr, const uint8_t *x, size_t ldx, const int8_t *w, size_t kq,
                         const float *xs, float *y, size_t ldy, const float *ws,
                         const int32_t *qs, const float *bias, size_t cols) {
    switch (mr) {
#define C(R)                                                                                     \
    case R: i8_micro(R, x, ldx, w, kq, xs, y, ldy, ws, qs, bias, cols); break;
        C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}

static void avx512vnni_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                               const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, Kq = (W->k + 3) & ~(size_t)3;
    size_t ntiles = (M + QMR - 1) / QMR, base = M / ntiles, extra = M % ntiles;
    for (size_t p = p0; p < p1; p++) {
        size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = (const int8_t *)W->packed + p * OC_PANEL * Kq;
        size_t m0 = 0;
        for (size_t t = 0; t < ntiles; t++) {
            size_t mr = base + (t < extra);
            i8_micro_any((int)mr, xq + m0 * Kq, Kq, wp, Kq / 4, xs + m0, Y + m0 * N + n0, N,
                         W->qscale + n0, W->qsum + n0, bias ? bias + n0 : NULL, nb);
            m0 += mr;
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const oc_isa avx512_isa = {
    .gemm = avx512_gemm,
    .gemm_rows = avx512_gemm_rows,
    .pack_block = avx512_pack_block,
    .wino_in = avx512_wino_in,
    .wino_out = avx512_wino_out,
    .gemm_bf16 = avx512bf16_gemm,
    .gemm_i8 = avx512vnni_gemm_i8,
    .quant_i8 = avx512_quant_i8,
    .layernorm = avx512_layernorm,
    .act = avx512_act,
    .attention = avx512_attention,
    .erf = avx512_erf,
    .exp = avx512_exp,
    /* X row blocks of 384 KiB when the threads split a GEMM of 256 rows or more: on the
     * Sapphire Rapids-class Xeon (model 167, 2 MiB L2) split by panels only, every chunk of
     * panels streamed all of X (1.2 MB at ViT-B-32 batch 8) and 2 threads ran at 0.67-0.83x
     * OpenBLAS at M = 400; in blocks, 0.9-1.15x (oclip_bench gemm) */
    .gemm_row_bytes = 384u << 10,
};
const oc_isa *oc_isa_avx512(void) { return &avx512_isa; }
#else
const oc_isa *oc_isa_avx512(void) { return NULL; }
#endif
