/*
 * kernels_avx2.c — the AVX2 path (AVX2 with FMA and F16C): the kernels of kernels_simd.h over
 * 8-lane vectors. Compiled for those extensions through a target pragma (no per-file compiler
 * flags); cpu.c only selects them on a CPU and OS that support them.
 */
#include <stdint.h>

#include "engine.h"

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

#include "kernels_simd.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const oc_kernels avx2_table = {avx2_gemm, NULL, NULL, NULL, avx2_layernorm, avx2_act, avx2_erf,
                                      avx2_exp, avx2_attention};
const oc_kernels *oc_kernels_avx2(void) { return &avx2_table; }
#else
const oc_kernels *oc_kernels_avx2(void) { return NULL; }
#endif
