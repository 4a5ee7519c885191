/*
 * kernels_neon.c — the AArch64 path (Advanced SIMD, "NEON", which every AArch64 CPU has): the
 * kernels of kernels_simd.h over 4-lane vectors (float32x4_t; FMA by vfmaq_f32, F16 widened by
 * vcvt_f32_f16, BF16 by shifts), and two int8 GEMMs: one with the dot-product extension's SDOT
 * (vdotq_s32; ARMv8.2 DotProd, optional before ARMv8.4), compiled through a target pragma like the
 * x86 files and put in the dispatch table by cpu.c only where the kernel reports it
 * (HWCAP_ASIMDDP), and one with widening multiplies for the others. Both give the reference's
 * bytes.
 *
 * No FMA contraction: GCC's arm_neon.h writes vmulq_f32 and vaddq_f32 as C operators, which
 * -ffp-contract=fast (GNU C's default) could fuse; the ISO C mode this project builds in
 * (-std=c11) turns contraction off, so every vfma below is the only fused operation, as on x86.
 */
#include <stdint.h>

#include "kernels/kernels_int.h"

#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <arm_neon.h>

#define VW 4
#define MR 12 /* 12 rows x 8 columns: 24 of the 32 vector registers hold accumulators */
#define FN(name) neon_##name
typedef float32x4_t vf;
typedef float64x2_t vd;

static const uint32_t mask_tbl[8] = {~0u, ~0u, ~0u, ~0u, 0, 0, 0, 0};
static inline uint32x4_t mk(size_t n) { return vld1q_u32(mask_tbl + 4 - (n > 4 ? 4 : n)); }
static inline vf vload(const float *p) { return vld1q_f32(p); }
static inline void vstore(float *p, vf v) { vst1q_f32(p, v); }
/* the first n lanes: through a stack copy below 4, so that nothing past p + n is read or
 * written (the x86 files use masked loads and stores) */
static inline vf vloadn_fill(const float *p, size_t n, float fill) {
    if (n >= 4) return vld1q_f32(p);
    float t[4] = {fill, fill, fill, fill};
    memcpy(t, p, n * sizeof(float));
    return vld1q_f32(t);
}
static inline vf vloadn(const float *p, size_t n) { return vloadn_fill(p, n, 0.0f); }
static inline void vstoren(float *p, vf v, size_t n) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, n * sizeof(float));
}
static inline vf vkeepn(vf v, size_t n) {
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), mk(n)));
}
static inline vf vset1(float f) { return vdupq_n_f32(f); }
static inline vf vzero(void) { return vdupq_n_f32(0.0f); }
static inline vf vadd(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vsub(vf a, vf b) { return vsubq_f32(a, b); }
static inline vf vmul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vdiv(vf a, vf b) { return vdivq_f32(a, b); }
/* FMAX / FMIN return NaN when either input is one (x86's max / min return the second): exp_v's
 * clamp lets a NaN through either way */
static inline vf vmax(vf a, vf b) { return vmaxq_f32(a, b); }
static inline vf vmin(vf a, vf b) { return vminq_f32(a, b); }
static inline vf vfma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
static inline vf vabs(vf a) { return vabsq_f32(a); }
static inline vf vcopysign(vf mag, vf sgn) {
    return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag);
}
static inline vf vround(vf a) { return vrndnq_f32(a); } /* FRINTN: nearest, ties to even */
static inline vf vpow2i(vf n) {
    int32x4_t i = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(i, 23));
}
static inline vf vsel_gt(vf a, vf b, vf x, vf y) { return vbslq_f32(vcgtq_f32(a, b), y, x); }
static inline int vany_nle(vf a, vf b) { return vminvq_u32(vcleq_f32(a, b)) == 0; }
static inline float vhsum(vf a) { /* (a0 + a2) + (a1 + a3), the x86 files' tree per 128 bits */
    vf b = vaddq_f32(a, vextq_f32(a, a, 2));
    return vgetq_lane_f32(b, 0) + vgetq_lane_f32(b, 1);
}
static inline float vhmax(vf a) { return vmaxvq_f32(a); }
static inline vf cvt_f16(const uint16_t *p) { /* FCVTL: exact, subnormals included */
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}
static inline vf cvt_bf16(const uint16_t *p) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}
static inline void vstore_q8(uint8_t *q, vf v, size_t n) {
    int32x4_t i = vaddq_s32(vcvtnq_s32_f32(v), vdupq_n_s32(128)); /* [1, 255] */
    uint16x4_t h = vmovn_u32(vreinterpretq_u32_s32(i));
    uint8_t t[8];
    vst1_u8(t, vmovn_u16(vcombine_u16(h, h)));
    memcpy(q, t, n < 4 ? n : 4);
}
static inline vd vd_lo(vf v) { return vcvt_f64_f32(vget_low_f32(v)); }
static inline vd vd_hi(vf v) { return vcvt_high_f64_f32(v); }
static inline vd vd_add(vd a, vd b) { return vaddq_f64(a, b); }
static inline vd vd_sub(vd a, vd b) { return vsubq_f64(a, b); }
static inline vd vd_fma(vd a, vd b, vd c) { return vfmaq_f64(c, a, b); }
static inline vd vd_set1(double d) { return vdupq_n_f64(d); }
static inline vd vd_zero(void) { return vdupq_n_f64(0.0); }
static inline double vd_hsum(vd v) { return vgetq_lane_f64(v, 0) + vgetq_lane_f64(v, 1); }

/* r[i] <- column i of the 4 x 4 block whose rows are r (kernels_simd.h's pack_block) */
static inline void vtranspose(vf r[4]) {
    vf t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]); /* r00 r10 r02 r12 / r01 r11 .. */
    vf t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

#include "kernels/kernels_simd.h"

/* =============================================================================================
 * Int8 GEMMs (oc_gemm_i8's panels). The activations arrive as bytes qx + 128; a quad of them
 * XOR 0x80 is qx as int8 (in [-127, 127]), so both kernels multiply signed by signed and sum
 * d = sum_k qx q(n, k) directly (the reference sums (qx + 128) q and takes 128 sum_k q off: the
 * same integer). Every product and partial sum is exact in its type (|qx q| <= 16129 fits int16;
 * sums in int32), and the epilogue is the reference's, operation for operation: (float)d *
 * (s[n] * s_x) + bias. So both give the reference's bytes. Rows in tiles of at most I8_MR, as
 * even as possible; each tile runs over the whole depth with its sums in registers.
 */
#define I8_MR 4

/* the activation quad of row r at k quad k, as int8 lanes (a 32-bit value holding qx) */
static inline uint32_t i8_quad(const uint8_t *x, size_t ldx, int r, size_t k) {
    uint32_t v;
    memcpy(&v, x + (size_t)r * ldx + 4 * k, 4);
    return v ^ 0x80808080u;
}

/* y[0, c) = the epilogue of 4 columns' sums d for a row of scale sx; ws, bias: the columns' */
static inline void i8_store(int32x4_t d, float sx, const float *ws, const float *bias, float *y,
                            size_t c) {
    vf v = vmulq_f32(vcvtq_f32_s32(d), vmulq_f32(vloadn(ws, c), vdupq_n_f32(sx)));
    if (bias) v = vaddq_f32(v, vloadn(bias, c));
    vstoren(y, v, c);
}

/* Without the dot-product extension: a weight quad of 4 columns x 4 k (16 bytes) times the row's
 * activation quad (broadcast) with vmull_s8 (8 int16 products: 2 columns), and vpadalq_s16 adds
 * adjacent pairs into int32 lanes, so a column spans two lanes until the epilogue adds them
 * (vpaddq_s32). A tile: mr rows x 8 columns, 16 accumulators. */
static inline __attribute__((always_inline)) void
i8w_micro(const int mr, const uint8_t *x, size_t ldx, const int8_t *w, size_t kq,
          int32x4_t out[I8_MR][2]) {
    int32x4_t acc[I8_MR][4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < 4; v++) acc[r][v] = vdupq_n_s32(0);
    for (size_t k = 0; k < kq; k++) {
        const int8_t *wk = w + k * 4 * OC_PANEL;
        int8x16_t w0 = vld1q_s8(wk), w1 = vld1q_s8(wk + 16);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8x8_t xb = vreinterpret_s8_u32(vdup_n_u32(i8_quad(x, ldx, r, k)));
            acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(w0), xb));
            acc[r][1] = vpadalq_s16(acc[r][1], vmull_s8(vget_high_s8(w0), xb));
            acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(w1), xb));
            acc[r][3] = vpadalq_s16(acc[r][3], vmull_s8(vget_high_s8(w1), xb));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
        out[r][0] = vpaddq_s32(acc[r][0], acc[r][1]);
        out[r][1] = vpaddq_s32(acc[r][2], acc[r][3]);
    }
}

static void neon_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                         const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, Kq = (W->k + 3) & ~(size_t)3;
    size_t ntiles = (M + I8_MR - 1) / I8_MR, base = M / ntiles, extra = M % ntiles;
    for (size_t p = p0; p < p1; p++) {
        size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = (const int8_t *)W->packed + p * OC_PANEL * Kq;
        for (size_t t = 0, m0 = 0; t < ntiles; t++) {
            int mr = (int)(base + (t < extra));
            const uint8_t *x = xq + m0 * Kq;
            for (size_t c0 = 0; c0 < nb; c0 += 8) {
                int32x4_t d[I8_MR][2];
                switch (mr) {
                case 1: i8w_micro(1, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                case 2: i8w_micro(2, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                case 3: i8w_micro(3, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                default: i8w_micro(4, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                }
                size_t n = n0 + c0, c = nb - c0 < 8 ? nb - c0 : 8;
                for (int r = 0; r < mr; r++) {
                    float sx;
                    memcpy(&sx, xs + m0 + (size_t)r, sizeof sx);
                    float *y = Y + (m0 + (size_t)r) * N + n;
                    i8_store(d[r][0], sx, W->qscale + n, bias ? bias + n : NULL, y, c < 4 ? c : 4);
                    if (c > 4)
                        i8_store(d[r][1], sx, W->qscale + n + 4, bias ? bias + n + 4 : NULL,
                                 y + 4, c - 4);
                }
            }
            m0 += (size_t)mr;
        }
    }
}

/* With the dot-product extension: vdotq_s32 adds the four products of a weight quad (one per
 * int32 lane: 4 columns) and the row's activation quad (broadcast) into each lane, so a column is
 * one lane. A tile: mr rows x 16 columns, 16 accumulators. */
#if defined(__clang__) || __GNUC__ >= 10
#define OC_NEON_DOT 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod") /* arm_neon.h: vdotq_s32 needs v8.2 */
#endif

static inline __attribute__((always_inline)) void
i8d_micro(const int mr, const uint8_t *x, size_t ldx, const int8_t *w, size_t kq,
          int32x4_t acc[I8_MR][4]) {
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < 4; v++) acc[r][v] = vdupq_n_s32(0);
    for (size_t k = 0; k < kq; k++) {
        const int8_t *wk = w + k * 4 * OC_PANEL;
        int8x16_t w0 = vld1q_s8(wk), w1 = vld1q_s8(wk + 16), w2 = vld1q_s8(wk + 32),
                  w3 = vld1q_s8(wk + 48);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            int8x16_t xb = vreinterpretq_s8_u32(vdupq_n_u32(i8_quad(x, ldx, r, k)));
            acc[r][0] = vdotq_s32(acc[r][0], w0, xb);
            acc[r][1] = vdotq_s32(acc[r][1], w1, xb);
            acc[r][2] = vdotq_s32(acc[r][2], w2, xb);
            acc[r][3] = vdotq_s32(acc[r][3], w3, xb);
        }
    }
}

static void neondot_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                            const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, Kq = (W->k + 3) & ~(size_t)3;
    size_t ntiles = (M + I8_MR - 1) / I8_MR, base = M / ntiles, extra = M % ntiles;
    for (size_t p = p0; p < p1; p++) {
        size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = (const int8_t *)W->packed + p * OC_PANEL * Kq;
        for (size_t t = 0, m0 = 0; t < ntiles; t++) {
            int mr = (int)(base + (t < extra));
            const uint8_t *x = xq + m0 * Kq;
            for (size_t c0 = 0; c0 < nb; c0 += 16) {
                int32x4_t d[I8_MR][4];
                switch (mr) {
                case 1: i8d_micro(1, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                case 2: i8d_micro(2, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                case 3: i8d_micro(3, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                default: i8d_micro(4, x, Kq, wp + c0 * 4, Kq / 4, d); break;
                }
                size_t n = n0 + c0, c = nb - c0 < 16 ? nb - c0 : 16;
                for (int r = 0; r < mr; r++) {
                    float sx;
                    memcpy(&sx, xs + m0 + (size_t)r, sizeof sx);
                    float *y = Y + (m0 + (size_t)r) * N + n;
                    for (size_t v = 0; v * 4 < c; v++)
                        i8_store(d[r][v], sx, W->qscale + n + 4 * v,
                                 bias ? bias + n + 4 * v : NULL, y + 4 * v,
                                 c - 4 * v < 4 ? c - 4 * v : 4);
                }
            }
            m0 += (size_t)mr;
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* OC_NEON_DOT */

static const oc_isa neon_isa = {
    .gemm = neon_gemm,
    .gemm_rows = neon_gemm_rows,
    .pack_block = neon_pack_block,
    .wino_in = neon_wino_in,
    .wino_out = neon_wino_out,
    .gemm_bf16 = NULL,
    .gemm_i8 = neon_gemm_i8,
    .quant_i8 = neon_quant_i8,
    .layernorm = neon_layernorm,
    .act = neon_act,
    .attention = neon_attention,
    .erf = neon_erf,
    .exp = neon_exp,
};
const oc_isa *oc_isa_neon(void) { return &neon_isa; }

#ifdef OC_NEON_DOT
static const oc_isa neondot_isa = {.gemm_i8 = neondot_gemm_i8};
const oc_isa *oc_isa_neon_dot(void) { return &neondot_isa; }
#else
const oc_isa *oc_isa_neon_dot(void) { return NULL; }
#endif
#else
const oc_isa *oc_isa_neon(void) { return NULL; }
const oc_isa *oc_isa_neon_dot(void) { return NULL; }
#endif
