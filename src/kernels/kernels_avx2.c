/*
 * kernels_avx2.c — the AVX2 path (AVX2 with FMA and F16C): the kernels of kernels_simd.h over
 * 8-lane vectors, and an int8 GEMM without VNNI (also the avx512 path's where the CPU lacks
 * AVX512-VNNI). Compiled for those extensions through a target pragma (no per-file compiler
 * flags); cpu.c puts them in the dispatch table only on a CPU and OS that support them.
 */
#include <stdint.h>

#include "kernels/kernels_int.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

#define VW 8
#define MR 6
#define FN(name) avx2_##name
typedef __m256 vf;
typedef __m256d vd;

static const int32_t mask_tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static inline __m256i mk(size_t n) {
    return _mm256_loadu_si256((const __m256i *)(mask_tbl + 8 - (n > 8 ? 8 : n)));
}
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vloadn(const float *p, size_t n) { return _mm256_maskload_ps(p, mk(n)); }
static inline vf vloadn_fill(const float *p, size_t n, float fill) {
    __m256i m = mk(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vstoren(float *p, vf v, size_t n) { _mm256_maskstore_ps(p, mk(n), v); }
static inline vf vkeepn(vf v, size_t n) { return _mm256_and_ps(v, _mm256_castsi256_ps(mk(n))); }
static inline vf vset1(float f) { return _mm256_set1_ps(f); }
static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vdiv(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vabs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline vf vcopysign(vf mag, vf sgn) {
    __m256 sb = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sb, mag), _mm256_and_ps(sgn, sb));
}
static inline vf vround(vf a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2i(vf n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(i, 23));
}
static inline vf vsel_gt(vf a, vf b, vf x, vf y) {
    return _mm256_blendv_ps(x, y, _mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
static inline int vany_nle(vf a, vf b) {
    return _mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_NLE_UQ));
}
static inline float vhsum(vf a) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}
static inline float vhmax(vf a) {
    __m128 b = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    b = _mm_max_ss(b, _mm_shuffle_ps(b, b, 1));
    return _mm_cvtss_f32(b);
}
static inline vf cvt_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static inline vf cvt_bf16(const uint16_t *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline void vstore_q8(uint8_t *q, vf v, size_t n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(128)); /* [1, 255] */
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    __m128i b = _mm_packus_epi16(w, w);
    if (n >= 8) {
        _mm_storel_epi64((__m128i *)(void *)q, b);
    } else {
        uint8_t t[16];
        _mm_storeu_si128((__m128i *)(void *)t, b);
        memcpy(q, t, n);
    }
}
static inline vd vd_lo(vf v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); }
static inline vd vd_hi(vf v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); }
static inline vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static inline vd vd_fma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
static inline vd vd_set1(double d) { return _mm256_set1_pd(d); }
static inline vd vd_zero(void) { return _mm256_setzero_pd(); }
static inline double vd_hsum(vd v) {
    __m128d b = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
}

/* r[i] <- column i of the 8 x 8 block whose rows are r (kernels_simd.h's pack_block) */
static inline __attribute__((always_inline)) void vtranspose(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) { /* 128-bit lane L of r[4g + e]: column 4L + e, rows 4g.. */
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int e = 0; e < 4; e++) {
        t[e] = _mm256_permute2f128_ps(r[e], r[e + 4], 0x20);
        t[e + 4] = _mm256_permute2f128_ps(r[e], r[e + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}


/* X blocks of up to 4 MiB (in L3) for the GEMM: on Zen 3 (512 KiB L2 per core) re-reading the
 * weights once per 1 MiB row block cost more than reading X from L3 (ViT-B-32, 8 images, 1
 * thread, CPU time per call, interleaved: 6% less with the weights read in place, the same
 * packed) */
#define GEMM_XBLOCK (4u << 20)
#include "kernels/kernels_simd.h"

/* =============================================================================================
 * Int8 GEMM without VNNI (oc_gemm_i8's panels; also the avx512 path's on CPUs without
 * AVX512-VNNI). vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16, which
 * saturates for the activation bytes as stored (q_x + 128, up to 255: 2 * 255 * 127 > 32767).
 * So the activation is taken as |q_x| (unsigned, <= 127) and its sign moved onto the weight
 * byte (vpsignb: q_w * sign(q_x), 0 for q_x = 0): a pair is then at most 2 * 127 * 127 = 32258,
 * exact, and vpmaddwd against ones adds the pairs of a k quad into one int32 lane per column.
 * Tiles of 4 rows x 16 columns (8 accumulators: enough independent chains for 2 pipes), over a
 * panel's 16 columns for all row tiles in turn (the weights stay in L1 across the rows). The
 * sums are sum_k q_x q_w exactly, as the reference's (d); the epilogue is the reference's: the
 * same bytes. On the Zen 3 VM, in a micro-benchmark of the inner loop (K = 768, 256 columns, in
 * cache, CPU time): 117 GOP/s against 69 for the former vpmaddwd-over-16-bit-copies kernel.
 */
#define I8_MR 4

static inline __attribute__((always_inline)) void
i8_tile(const int mr, const uint8_t *xq, size_t Kq, const int8_t *w, __m256i acc[I8_MR][2]) {
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (size_t k = 0; k < Kq / 4; k++) {
        const int8_t *wk = w + k * 4 * OC_PANEL;
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(const void *)wk);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wk + 32));
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int32_t q4;
            memcpy(&q4, xq + (size_t)r * Kq + 4 * k, 4);
            __m256i xs = _mm256_xor_si256(_mm256_set1_epi32(q4), flip); /* q_x as signed bytes */
            __m256i xa = _mm256_abs_epi8(xs);
            acc[r][0] = _mm256_add_epi32(
                acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xs)), ones));
            acc[r][1] = _mm256_add_epi32(
                acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xs)), ones));
        }
    }
}

static void avx2_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                         const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, Kq = (W->k + 3) & ~(size_t)3;
    for (size_t p = p0; p < p1; p++) {
        size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = (const int8_t *)W->packed + p * OC_PANEL * Kq;
        for (size_t c0 = 0; c0 < nb; c0 += 16) {
            const int8_t *w = wp + c0 * 4;
            for (size_t m0 = 0; m0 < M; m0 += I8_MR) {
                int mr = M - m0 < I8_MR ? (int)(M - m0) : I8_MR;
                __m256i acc[I8_MR][2];
                const uint8_t *x = xq + m0 * Kq;
                switch (mr) {
                case 1: i8_tile(1, x, Kq, w, acc); break;
                case 2: i8_tile(2, x, Kq, w, acc); break;
                case 3: i8_tile(3, x, Kq, w, acc); break;
                default: i8_tile(4, x, Kq, w, acc); break;
                }
                /* Y = (float)d * (s_x * s_w) + bias, 8 columns per accumulator */
                for (size_t g = 0; g < 2 && c0 + 8 * g < nb; g++) {
                    size_t n = n0 + c0 + 8 * g, c = nb - c0 - 8 * g < 8 ? nb - c0 - 8 * g : 8;
                    __m256i m = mk(c);
                    __m256 sw = _mm256_maskload_ps(W->qscale + n, m);
                    __m256 b = bias ? _mm256_maskload_ps(bias + n, m) : _mm256_setzero_ps();
                    for (int r = 0; r < mr; r++) {
                        float sx;
                        memcpy(&sx, xs + m0 + r, sizeof sx);
                        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[r][g]),
                                                 _mm256_mul_ps(sw, _mm256_set1_ps(sx)));
                        if (bias) v = _mm256_add_ps(v, b);
                        float *y = Y + (m0 + (size_t)r) * N + n;
                        if (c == 8) _mm256_storeu_ps(y, v); /* vmaskmovps stores: slow on AMD */
                        else _mm256_maskstore_ps(y, m, v);
                    }
                }
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const oc_isa avx2_isa = {
    .gemm = avx2_gemm,
    .gemm_rows = avx2_gemm_rows,
    .pack_block = avx2_pack_block,
    .wino_in = avx2_wino_in,
    .wino_out = avx2_wino_out,
    .gemm_bf16 = NULL,
    .gemm_i8 = avx2_gemm_i8,
    .quant_i8 = avx2_quant_i8,
    .layernorm = avx2_layernorm,
    .act = avx2_act,
    .attention = avx2_attention,
    .erf = avx2_erf,
    .exp = avx2_exp,
    /* X row blocks of 192 KiB when the threads split a GEMM of 256 rows or more, as on the
     * AVX-512 path: a chunk's X stays in its core's L2 (256 KiB and up on AVX2 CPUs), where a
     * split by panels only streams all of X past every chunk (docs/BENCHMARKS.md, 2026-12-08
     * 04:42 UTC) */
    .gemm_row_bytes = 192u << 10,
};
const oc_isa *oc_isa_avx2(void) { return &avx2_isa; }
#else
const oc_isa *oc_isa_avx2(void) { return NULL; }
#endif
