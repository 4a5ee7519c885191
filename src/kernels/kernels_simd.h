/*
 * kernels_simd.h — the SIMD kernels, written once over a small vector vocabulary and compiled
 * three times: by kernels_avx512.c (VW = 16 lanes, __m512), kernels_avx2.c (VW = 8, __m256) and
 * kernels_neon.c (VW = 4, float32x4_t), each of which defines the primitives below and FN(name)
 * before including this file. Not a header in the usual sense: include it only from those files.
 *
 * Primitives: vf (vector of VW floats), vload / vstore (unaligned), vloadn / vstoren (first n
 * lanes, n <= VW; the others read as 0 / not written), vloadn_fill, vkeepn (lanes >= n set to
 * 0), vset1, vzero, vadd, vsub, vmul, vdiv, vmax, vmin, vfma(a, b, c) = a * b + c rounded once,
 * vabs, vcopysign, vround (to nearest even), vpow2i (2^n for integral n in [-126, 127]),
 * vsel_gt(a, b, x, y) = a > b ? y : x per lane, vany_nle(a, b) (nonzero when a lane has
 * !(a <= b)), vhsum / vhmax (a fixed tree), cvt_f16 / cvt_bf16 (VW 16-bit values to floats),
 * vstore_q8(q, v, n) (the first n lanes, integers in [-127, 127], as bytes v + 128), vtranspose
 * (VW x VW), and for LayerNorm vectors of doubles: vd, vd_lo / vd_hi (the low / high half of a
 * vf widened), vd_add, vd_sub, vd_fma, vd_set1, vd_zero, vd_hsum. vprefetch_l2(p) (below: a hint
 * that the cache line at p goes into L2), vprefetch_r and vprefetch_w (into L1, to read or to
 * write) are the primitives defined here, per architecture.
 *
 * Determinism: every output element is computed by one fixed sequence of operations that depends
 * only on its own inputs (lanes never mix, except in the fixed reduction trees of softmax and
 * LayerNorm, whose shape depends only on the row length), so results are independent of the
 * thread split and of which other rows or columns are computed alongside.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define vprefetch_l2(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)
#else
#define vprefetch_l2(p) __builtin_prefetch((p), 0, 2) /* read, locality 2: AArch64 PRFM PLDL2KEEP */
#endif
/* the cache line at p into L1 for reading, or for writing (PREFETCHW where the target has it) */
#define vprefetch_r(p) __builtin_prefetch((p), 0, 3)
#define vprefetch_w(p) __builtin_prefetch((p), 1, 3)

/* =============================================================================================
 * exp and erf
 *
 * exp: Cody-Waite reduction x = n ln2 + r (ln2 in two parts), e^r by the degree-7 polynomial of
 * Cephes' expf, times 2^n; within 2 ulp of expf over the normal range (test_kernels). Results
 * below FLT_MIN are flushed to 0, above FLT_MAX are +inf; NaN propagates.
 *
 * erf: Norbert Juffa's faithfully rounded erff (the polynomial for |x| <= 0.927734375 and
 * 1 - exp(poly) above it; https://stackoverflow.com/a/35148199), both branches evaluated and
 * blended; within a few ulp of erff with this exp (test_kernels).
 */
static inline vf FN(exp_v)(vf x) {
    const vf hi = vset1(88.37f), lo = vset1(-87.3365478515625f);
    vf xc = vmin(hi, vmax(lo, x)); /* x second: a NaN passes through */
    vf n = vround(vmul(xc, vset1(1.44269504088896341f)));
    vf r = vfma(n, vset1(-0.693359375f), xc);
    r = vfma(n, vset1(2.12194440e-4f), r);
    vf z = vmul(r, r);
    vf p = vset1(1.9875691500e-4f);
    p = vfma(p, r, vset1(1.3981999507e-3f));
    p = vfma(p, r, vset1(8.3334519073e-3f));
    p = vfma(p, r, vset1(4.1665795894e-2f));
    p = vfma(p, r, vset1(1.6666665459e-1f));
    p = vfma(p, r, vset1(5.0000001201e-1f));
    p = vfma(p, z, vadd(r, vset1(1.0f)));
    vf y = vmul(p, vpow2i(n));
    y = vsel_gt(x, vset1(88.7228394f), y, vset1(INFINITY));
    y = vsel_gt(lo, x, y, vzero());
    return y;
}

static inline vf FN(erf_v)(vf a) {
    vf t = vabs(a), s = vmul(a, a), big = vset1(0.927734375f);
    /* each branch only when a lane takes it (the same value per lane: a vector of small
     * activations skips the exp); lanes with t > big take r, the others (NaN too) q */
    vf r = vzero(), q = vzero();
    if (vany_nle(t, big)) { /* a lane above big (or NaN: r unused then) */
        r = vfma(vset1(-1.72853470e-5f), t, vset1(3.83197126e-4f));
        vf u = vfma(vset1(-3.88396438e-3f), t, vset1(2.42546219e-2f));
        r = vfma(r, s, u);
        r = vfma(r, t, vset1(-1.06777877e-1f));
        r = vfma(r, t, vset1(-6.34846687e-1f));
        r = vfma(r, t, vset1(-1.28717512e-1f));
        r = vfma(r, t, vsub(vzero(), t));
        r = vcopysign(vsub(vset1(1.0f), FN(exp_v)(r)), a);
    }
    if (vany_nle(vset1(0x1.db0002p-1f), t)) { /* a lane at most big (the float after it), or NaN */
        q = vset1(-5.96761703e-4f);
        q = vfma(q, s, vset1(4.99119423e-3f));
        q = vfma(q, s, vset1(-2.67681349e-2f));
        q = vfma(q, s, vset1(1.12819925e-1f));
        q = vfma(q, s, vset1(-3.76125336e-1f));
        q = vfma(q, s, vset1(1.28379166e-1f));
        q = vfma(q, a, a);
    }
    return vsel_gt(t, big, q, r);
}

static void FN(erf)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) vstore(y + i, FN(erf_v)(vload(x + i)));
    if (i < n) vstoren(y + i, FN(erf_v)(vloadn(x + i, n - i)), n - i);
}

static void FN(exp)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) vstore(y + i, FN(exp_v)(vload(x + i)));
    if (i < n) vstoren(y + i, FN(exp_v)(vloadn(x + i, n - i)), n - i);
}

/* =============================================================================================
 * Activations. GELU = 0.5 x (1 + erf(x / sqrt 2)); the tanh form as x * sigmoid(2y) with
 * y = sqrt(2/pi) (x + 0.044715 x^3), which is 0.5 x (1 + tanh y) without cancellation;
 * QuickGELU = x / (1 + exp(-1.702 x)).
 */
static inline vf FN(gelu_v)(vf x) {
    vf e = FN(erf_v)(vmul(x, vset1(0.70710678118654752f)));
    return vmul(vmul(vset1(0.5f), x), vadd(vset1(1.0f), e));
}

static inline vf FN(gelu_tanh_v)(vf x) {
    vf x3 = vmul(vmul(x, x), x);
    vf y = vmul(vset1(0.79788456080286536f), vfma(vset1(0.044715f), x3, x));
    return vdiv(x, vadd(vset1(1.0f), FN(exp_v)(vmul(vset1(-2.0f), y))));
}

static inline vf FN(quick_gelu_v)(vf x) {
    return vdiv(x, vadd(vset1(1.0f), FN(exp_v)(vmul(vset1(-1.702f), x))));
}

#define ACT_LOOP(F)                                                                              \
    do {                                                                                         \
        size_t i = i0;                                                                           \
        for (; i + VW <= i1; i += VW) vstore(x + i, F(vload(x + i)));                            \
        if (i < i1) vstoren(x + i, F(vloadn(x + i, i1 - i)), i1 - i);                            \
    } while (0)

static void FN(act)(float *x, size_t i0, size_t i1, oc_act act) {
    switch (act) {
    case OC_ACT_GELU: ACT_LOOP(FN(gelu_v)); break;
    case OC_ACT_GELU_TANH: ACT_LOOP(FN(gelu_tanh_v)); break;
    case OC_ACT_QUICK_GELU: ACT_LOOP(FN(quick_gelu_v)); break;
    }
}
#undef ACT_LOOP

/* =============================================================================================
 * LayerNorm: mean and variance accumulated in double (two vector accumulators per pass, a fixed
 * tree, the tail in order), normalisation in float.
 */
static void FN(layernorm)(const float *x, float *y, size_t r0, size_t r1, size_t D,
                          const float *w, const float *b, float eps) {
    for (size_t r = r0; r < r1; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        vd s0 = vd_zero(), s1 = vd_zero();
        size_t i = 0;
        for (; i + VW <= D; i += VW) {
            vf v = vload(xr + i);
            s0 = vd_add(s0, vd_lo(v));
            s1 = vd_add(s1, vd_hi(v));
        }
        double s = vd_hsum(vd_add(s0, s1));
        for (size_t j = i; j < D; j++) s += xr[j];
        double mean = s / (double)D;
        vd m = vd_set1(mean);
        s0 = vd_zero(), s1 = vd_zero();
        for (i = 0; i + VW <= D; i += VW) {
            vf v = vload(xr + i);
            vd d0 = vd_sub(vd_lo(v), m), d1 = vd_sub(vd_hi(v), m);
            s0 = vd_fma(d0, d0, s0);
            s1 = vd_fma(d1, d1, s1);
        }
        double ss = vd_hsum(vd_add(s0, s1));
        for (size_t j = i; j < D; j++) {
            double d = xr[j] - mean;
            ss += d * d;
        }
        vf rstd = vset1((float)(1.0 / sqrt(ss / (double)D + (double)eps)));
        vf meanf = vset1((float)mean);
        for (i = 0; i + VW <= D; i += VW)
            vstore(yr + i, vfma(vmul(vsub(vload(xr + i), meanf), rstd), vload(w + i),
                                vload(b + i)));
        if (i < D) {
            size_t k = D - i;
            vstoren(yr + i, vfma(vmul(vsub(vloadn(xr + i, k), meanf), rstd), vloadn(w + i, k),
                                 vloadn(b + i, k)), k);
        }
    }
}

/* =============================================================================================
 * One row of oc_gemm_i8's activation quantization, the reference's arithmetic (kernels_scalar.c):
 * the largest |x| (exact, in any order), a row holding a NaN or an infinity flagged, then
 * x * (127 / max) rounded to nearest even (vround: the integer the reference's 1.5 * 2^23
 * addition gives), clamped to [-127, 127], + 128, as bytes. The same bytes as the reference.
 */
static void FN(quant_i8)(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx) {
    const vf big = vset1(3.4028234663852886e38f);
    vf mx = vzero();
    int bad = 0;
    for (size_t k = 0; k < K; k += VW) {
        vf a = vabs(vloadn(x + k, K - k));
        bad |= vany_nle(a, big); /* NaN or infinity */
        mx = vmax(mx, a);
    }
    float amax = vhmax(mx);
    if (bad) {
        oc_quant_bad_row(q, Kq, sx);
        return;
    }
    const vf inv = vset1(oc_quant_inv(amax)), lo = vset1(-127.0f), hi = vset1(127.0f);
    for (size_t k = 0; k < K; k += VW) {
        size_t n = K - k < VW ? K - k : VW;
        vstore_q8(q + k, vmin(vmax(vround(vmul(vloadn(x + k, n), inv)), lo), hi), n);
    }
    oc_quant_finish(q, K, Kq, amax, sx);
}

/* =============================================================================================
 * GEMM: Y [M, N] = X [M, K] . W^T + bias over panels [p0, p1) of OC_PANEL columns.
 *
 * For each panel and depth block of OC_GEMM_KB, the weights are an fp32 [kb, 32] block: read in
 * place from the packed copy (F32), converted from it into an L1-resident buffer (F16 / BF16:
 * exact), or packed on the fly from the weights as stored (no packed copy). Rows are taken in
 * blocks whose part of X fits in L2 (all rows at batch 1), each cut into tiles of at most MR (as
 * even as possible); the micro-kernel holds an MR x (2 VW) block of
 * accumulators in registers (AVX-512: 12 x 32 = 24 zmm; AVX2: 6 x 16 = 12 ymm, the panel in two
 * halves) and does acc += x[m][k] * w[k][:] with one fused multiply-add per element per k.
 * Partial sums are kept in Y between depth blocks (stored and reloaded as float: the same value),
 * so each element is one FMA chain over k = 0 .. K-1 in order, then + bias: its value does not
 * depend on M, the tile it falls in, the blocking or the thread split.
 */
/* oc_pack_block for F32 weights stored [N, K] (read in place from the checkpoint: the GEMM's
 * operand when the weights are not packed; and oc_weight_pack's, through the kernel table), by
 * VW x VW transposes in registers (vtranspose, from the ISA's file) instead of one float at a
 * time; other layouts and types go to oc_pack_block. A copy: the same bytes. */
static void FN(pack_block)(const oc_weight *W, size_t p, size_t k0, size_t kb, float *buf) {
    if (W->dtype != OCLIP_DTYPE_F32 || W->kn) {
        oc_pack_block(W, p, k0, kb, buf);
        return;
    }
    size_t N = W->n, K = W->k, n0 = p * OC_PANEL;
    size_t nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
    const float *w = (const float *)(const void *)W->data + n0 * K + k0;
    /* the rows' next depth block goes into L2 while this one is computed: 32 strided streams
     * that the hardware prefetchers follow poorly (perf annotate, Zen 3, in-place ViT-B-32
     * weights: a tenth of the GEMM's samples waited on these loads) */
    size_t knext = k0 + kb < K ? (K - k0 - kb < OC_GEMM_KB ? K - k0 - kb : OC_GEMM_KB) : 0;
    for (size_t j0 = 0; j0 < OC_PANEL; j0 += VW)
        for (size_t kk = 0; kk < kb; kk += VW) {
            size_t kn = kb - kk < VW ? kb - kk : VW;
            vf r[VW];
            for (size_t i = 0; i < VW; i++) { /* rows past N: zero columns */
                const float *src = w + (j0 + i) * K + kk;
                r[i] = j0 + i >= nb ? vzero() : kn == VW ? vload(src) : vloadn(src, kn);
                if (j0 + i < nb && kk % 16 == 0 && kk < knext) vprefetch_l2(src + kb);
            }
            vtranspose(r);
            for (size_t i = 0; i < kn; i++) vstore(buf + (kk + i) * OC_PANEL + j0, r[i]);
        }
}

#define NV 2                       /* vectors per tile row */
#define HALVES (OC_PANEL / (NV * VW))

/* Panel pairs: where a panel is one tile row (HALVES 1) and the ISA file sets PAIR_MR, the
 * micro-kernel may take two adjacent panels at once, PAIR_MR x (4 VW) accumulators (AVX-512:
 * 6 x 64 = 24 zmm): 4 weight loads and 6 broadcasts per 24 fused multiply-adds instead of 2 and
 * 12 (Xeon model 167, one core, a loop of micro-kernel calls alone, X from L2: 84-91% of the FMA
 * peak against 77-81% for 12 x 32; X from L3: 86% against 76%. In the models less: RN50's first
 * 3x3 convolutions and 64 -> 256 1x1 at batch 8 5-8% faster, ViT-B-32 batch 8 5%). The same FMA
 * chain per output element: the same bytes. */
#if HALVES == 1 && defined(PAIR_MR)
#if PAIR_MR > 6
#error "micro_any instantiates pairs of at most 6 rows"
#endif
#define NVMAX (2 * NV)
#else
#define NVMAX NV
#undef PAIR_MR
#endif

/* mr rows (row r of X at xr[r], at the block's depth) x nv vectors (nv = NV: one panel at w;
 * 2 NV: w's panel, then w2's) */
static inline __attribute__((always_inline)) void
FN(micro)(const int mr, const int nv, const float *const *xr, const float *w, const float *w2,
          size_t kb, float *y, size_t ldy, int first, const float *bias, size_t cols,
          const float *pf, size_t pf_lines, const float *res, int relu) {
    vf acc[MR * NV]; /* mr x nv: at most MR x NV (PAIR_MR x 2 NV) */
    size_t pf_acc = 0;
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            size_t c = cols > (size_t)v * VW ? cols - (size_t)v * VW : 0;
            acc[r * nv + v] = first ? vzero() : vloadn(y + (size_t)r * ldy + (size_t)v * VW, c);
        }
    for (size_t k = 0; k < kb; k++) {
        const float *wk = w + k * OC_PANEL, *wk2 = w2 + k * OC_PANEL;
        if (pf) { /* this call's lines of the next weight block, evenly over its k steps */
            for (pf_acc += pf_lines; pf_acc >= kb; pf_acc -= kb, pf += 16) vprefetch_l2(pf);
        }
        vf wv[NVMAX];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) wv[v] = vload(v < NV ? wk + v * VW : wk2 + (v - NV) * VW);
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            vf xb = vset1(xr[r][k]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[r * nv + v] = vfma(xb, wv[v], acc[r * nv + v]);
        }
    }
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
        size_t c = cols > (size_t)v * VW ? cols - (size_t)v * VW : 0;
        if (!c) break;
        vf bv = bias ? vloadn(bias + (size_t)v * VW, c) : vzero();
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            vf a = bias ? vadd(acc[r * nv + v], bv) : acc[r * nv + v];
            /* oc_gemm_rows' epilogue: + res, then ReLU (NaN -> 0, as the scalar path) */
            if (res) a = vadd(a, vloadn(res + (size_t)r * ldy + (size_t)v * VW, c));
            if (relu) a = vsel_gt(a, vzero(), vzero(), a);
            if (c >= VW) vstore(y + (size_t)r * ldy + (size_t)v * VW, a);
            else vstoren(y + (size_t)r * ldy + (size_t)v * VW, a, c);
        }
    }
}

/* w2: the second panel of a pair (mr <= PAIR_MR), else NULL */
static void FN(micro_any)(int mr, const float *const *xr, const float *w, const float *w2,
                          size_t kb, float *y, size_t ldy, int first, const float *bias,
                          size_t cols, const float *pf, size_t pf_lines, const float *res,
                          int relu) {
    /* the next weight block into L2 (GEMM_PF_SPREAD 1: this call's share of it, here; 2: in
     * the k loop); T1 measured a few % faster than T0 at batch 1, where the weights stream from
     * memory */
#if GEMM_PF_SPREAD == 1
    for (size_t l = 0; l < pf_lines; l++) vprefetch_l2(pf + l * 16);
    pf = NULL;
#endif
#ifdef PAIR_MR
    if (w2) {
        switch (mr) {
#define C(R)                                                                                     \
    case R:                                                                                      \
        FN(micro)(R, 2 * NV, xr, w, w2, kb, y, ldy, first, bias, cols, pf, pf_lines, res, relu); \
        break;
            C(1) C(2) C(3) C(4) C(5) C(6)
#undef C
        default: break;
        }
        return;
    }
#else
    (void)w2;
#endif
    switch (mr) {
#define C(R)                                                                                     \
    case R: FN(micro)(R, NV, xr, w, w, kb, y, ldy, first, bias, cols, pf, pf_lines, res, relu);   \
        break;
    C(1) C(2) C(3) C(4) C(5) C(6)
#if MR > 6
    C(7) C(8) C(9) C(10) C(11) C(12)
#endif
#undef C
    default: break;
    }
}

/* Rows per block: a block of X (rows x K floats) stays in cache while every panel of the
 * thread's range runs over it; weights are re-read once per row block. 1 MiB (about an L2)
 * unless the ISA file sets another size. */
#ifndef GEMM_XBLOCK
#define GEMM_XBLOCK (1u << 20)
#endif

/* How the next weight block is prefetched while a block is computed: each micro-kernel call of
 * the block issues its share of the lines, 1: before it runs, so that the misses overlap all of
 * the block's compute (Zen 3, AVX2: ViT-B-32 batch 1 4-8% faster than the whole block in the
 * first call); 2: spread evenly over its k steps, so that the misses in flight stay few and
 * steady where a burst overflows the core's miss buffers (Xeon model 167, weights from memory:
 * ViT-B-32 batch 1 58 -> 50 ms, RN50's layer-4 convolutions at batch 1 -15%). */
#ifndef GEMM_PF_SPREAD
#define GEMM_PF_SPREAD 1
#endif

/* The fp32 [kb, OC_PANEL] weight block of panel p at depth k0: in place in the packed copy, or
 * converted into buf. */
static inline const float *FN(wblock)(const oc_weight *W, size_t p, size_t k0, size_t kb,
                                      float *buf) {
    size_t K = W->k, off = (p * K + k0) * OC_PANEL;
    if (!W->packed) {
        FN(pack_block)(W, p, k0, kb, buf);
    } else if (W->pdtype == OCLIP_DTYPE_F32) {
        return (const float *)W->packed + off;
    } else if (W->pairs) { /* BF16 in k pairs (for the AVX512-BF16 kernel): widened */
        const uint16_t *src = (const uint16_t *)W->packed + (p * (K + (K & 1)) + k0) * OC_PANEL;
        for (size_t kk = 0; kk < kb; kk++)
            for (size_t j = 0; j < OC_PANEL; j++) {
                uint32_t bits = (uint32_t)src[((kk / 2) * OC_PANEL + j) * 2 + kk % 2] << 16;
                memcpy(&buf[kk * OC_PANEL + j], &bits, 4);
            }
    } else if (W->pdtype == OCLIP_DTYPE_F16) {
        for (size_t i = 0; i < kb * OC_PANEL; i += VW)
            vstore(buf + i, cvt_f16((const uint16_t *)W->packed + off + i));
    } else {
        for (size_t i = 0; i < kb * OC_PANEL; i += VW)
            vstore(buf + i, cvt_bf16((const uint16_t *)W->packed + off + i));
    }
    return buf;
}

/* The prefetch of the weight blocks the loop reads next, while a step (one panel or a pair)
 * runs over its block: lines [0, na) at a, [na, n) at b (16 floats each), `calls` micro-kernel
 * calls sharing them evenly (`done` issued after `call` calls). */
typedef struct {
    const float *a, *b;
    size_t na, n, calls, done, call;
} FN(pfq);

/* The weight blocks at depth k0 of the step at panel p (p + 1 too for a pair) of a loop over
 * panels [p0, p1) taken in pairs or not (`pairs`), into *w1 and *w2 (NULL: no pair), and in q
 * the lines of the blocks read next, where the weights are one fp32 stream in the loop's order
 * (own, panels from p0; or the packed copy): the step's next depth blocks, or after its last the
 * next step's first ones. */
static inline void FN(wstep)(const oc_weight *W, const float *own, size_t p0, size_t p1,
                             size_t p, int pairs, size_t k0, size_t kb, float *buf, float *buf2,
                             const float **w1, const float **w2, FN(pfq) *q) {
    size_t K = W->k, panel = K * OC_PANEL, L = kb * OC_PANEL / 16;
    int pair = pairs && p + 1 < p1;
    const float *s = own ? own
                         : W->packed && W->pdtype == OCLIP_DTYPE_F32
                               ? (const float *)W->packed + p0 * panel
                               : NULL;
    *q = (FN(pfq)){NULL, NULL, 0, 0, 1, 0, 0};
    if (!s) {
        *w1 = FN(wblock)(W, p, k0, kb, buf);
        *w2 = pair ? FN(wblock)(W, p + 1, k0, kb, buf2) : NULL;
        return;
    }
    *w1 = s + (p - p0) * panel + k0 * OC_PANEL;
    *w2 = pair ? *w1 + panel : NULL;
    size_t nx = p + (pair ? 2 : 1);
    if (k0 + kb < K) {
        q->a = *w1 + kb * OC_PANEL, q->b = pair ? *w2 + kb * OC_PANEL : NULL;
    } else if (nx < p1) {
        q->a = s + (nx - p0) * panel, q->b = pairs && nx + 1 < p1 ? q->a + panel : NULL;
    }
    q->na = q->a ? L : 0, q->n = q->na + (q->b ? L : 0);
}

/* the lines of q for the next call (*cnt of them, from the result), lines of b that the share
 * reaches past a's end issued here */
static inline const float *FN(pf_take)(FN(pfq) *q, size_t *cnt) {
    size_t upto = q->n * ++q->call / q->calls, d = q->done;
    const float *pf = NULL;
    *cnt = 0;
    if (upto <= d) return NULL;
    q->done = upto;
    if (d >= q->na) {
        *cnt = upto - d;
        return q->b + (d - q->na) * 16;
    }
    pf = q->a + d * 16, *cnt = (upto < q->na ? upto : q->na) - d;
    for (size_t l = q->na; l < upto; l++) vprefetch_l2(q->b + (l - q->na) * 16);
    return pf;
}

/* The micro-kernel calls of one step's weight blocks (w; w2: the pair's second panel, or NULL)
 * over mr rows at x (row stride ldx, already at the block's depth) and y (row stride ldy, at
 * the step's first column; nb columns): tiles of at most MR rows (PAIR_MR for a pair; as even
 * as possible), each over the panel's halves, with a share of q's prefetch each. res (at y's
 * column, row stride ldy) and relu: the epilogue of the last depth block (oc_gemm_rows);
 * pf_out: the next tile's lines of Y (first block: written) and res (last block) are
 * prefetched into L1 while a tile is computed, as they usually come from memory; pf_out 2 also
 * its rows of X into L2 (rows read once, straight from the activations: 1x1 convolutions,
 * whose input at batch 8 is tens of MB; RN50's 256 -> 64 over 56 x 56 positions, input flushed:
 * -15%). */
static inline void FN(block_rows)(size_t mr, const float *x, size_t ldx,
                                  const float *const *xrows, size_t xoff, const float *w,
                                  const float *w2, size_t kb, float *y, size_t ldy, int first,
                                  const float *bias, size_t nb, FN(pfq) *q, const float *res,
                                  int relu, int pf_out) {
#ifdef PAIR_MR
    size_t tmr = w2 ? PAIR_MR : MR;
#else
    size_t tmr = MR;
#endif
    size_t ntiles = (mr + tmr - 1) / tmr, base = mr / ntiles, extra = mr % ntiles, m0 = 0;
    for (size_t t = 0; t < ntiles; t++) {
        size_t r = base + (t < extra);
        if (pf_out && t + 1 < ntiles)
            for (size_t i = m0 + r; i < m0 + r + base + (t + 1 < extra); i++) {
                for (size_t j = 0; j < nb; j += 16) {
                    if (first) vprefetch_w(y + i * ldy + j);
                    if (res) vprefetch_r(res + i * ldy + j);
                }
                const float *xi = xrows ? xrows[i] + xoff : x + i * ldx;
                for (size_t j = 0; pf_out > 1 && j < kb; j += 16) vprefetch_l2(xi + j);
            }
        const float *xr[MR];
        for (size_t i = 0; i < r; i++) xr[i] = xrows ? xrows[m0 + i] + xoff : x + (m0 + i) * ldx;
        for (size_t h = 0; h < HALVES; h++) {
            size_t c0 = h * NV * VW, cnt;
            if (c0 >= nb) break;
            const float *cpf = FN(pf_take)(q, &cnt);
            FN(micro_any)((int)r, xr, w + c0, w2, kb, y + m0 * ldy + c0, ldy,
                          first, bias ? bias + c0 : NULL, nb - c0, cpf, cnt,
                          res ? res + m0 * ldy + c0 : NULL, relu);
        }
        m0 += r;
    }
}

/* micro-kernel calls for mr rows over a step of nb columns (a pair: one call per tile) */
static inline size_t FN(calls)(size_t mr, size_t nb, int pair) {
#ifdef PAIR_MR
    if (pair) return (mr + PAIR_MR - 1) / PAIR_MR;
#endif
    (void)pair;
    return (mr + MR - 1) / MR * ((nb + NV * VW - 1) / (NV * VW));
}

/* panels in pairs where the path has them */
#ifdef PAIR_MR
#define PAIRS 1
#define PAIR_TILE PAIR_MR
#else
#define PAIRS 0
#define PAIR_TILE 1
#endif

/* the columns of the step at panel p of [p0, p1) (two panels for a pair) */
static inline size_t FN(step_cols)(size_t N, size_t p, size_t p1, int pairs) {
    size_t n0 = p * OC_PANEL, w = (pairs && p + 1 < p1 ? 2 : 1) * OC_PANEL;
    return N - n0 < w ? N - n0 : w;
}

/* oc_gemm's row blocks over panels [p0, p1); own: those panels packed (fp32, from p0), else
 * W's packed copy or its weights as stored */
static void FN(gemm_rb)(const float *X, size_t M, const oc_weight *W, const float *own,
                        const float *bias, float *Y, size_t p0, size_t p1, size_t nblocks,
                        float *buf, float *buf2) {
    size_t N = W->n, K = W->k;
    for (size_t rb = 0, r0 = 0; rb < nblocks; rb++) {
        size_t rows = M / nblocks + (rb < M % nblocks);
        for (size_t p = p0, nb; p < p1; p += (nb + OC_PANEL - 1) / OC_PANEL) {
            size_t n0 = p * OC_PANEL;
            nb = FN(step_cols)(N, p, p1, PAIRS);
            for (size_t k0 = 0; k0 < K; k0 += OC_GEMM_KB) {
                size_t kb = K - k0 < OC_GEMM_KB ? K - k0 : OC_GEMM_KB;
                const float *w1, *w2;
                FN(pfq) q;
                FN(wstep)(W, own, p0, p1, p, PAIRS, k0, kb, buf, buf2, &w1, &w2, &q);
                q.calls = FN(calls)(rows, nb, w2 != NULL);
                const float *bb = k0 + kb >= K && bias ? bias + n0 : NULL;
                FN(block_rows)(rows, X + r0 * K + k0, K, NULL, 0, w1, w2, kb, Y + r0 * N + n0, N,
                               k0 == 0, bb, nb, &q, NULL, 0, 0);
            }
        }
        r0 += rows;
    }
}

static void FN(gemm)(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                     size_t p0, size_t p1) {
    size_t K = W->k;
    _Alignas(64) float buf[2][OC_GEMM_KB * OC_PANEL];
    size_t mc = GEMM_XBLOCK / (K * sizeof(float));
    mc = mc < 4 * MR ? 4 * MR : mc / MR * MR;
    size_t nblocks = (M + mc - 1) / mc; /* row blocks, as even as possible */
    /* weights without a packed copy, over several row blocks: the call's panels (a chunk, at
     * most a quarter of a thread's share: kernels.c) are packed once into scratch and every row
     * block reads them there, rather than each row block transposing them anew (a CLI call of 13
     * ViT-B-32 images transposed fc2's weights 8 times); without memory for it, as they go */
    float *own = !W->packed && nblocks > 1
                     ? aligned_alloc(64, (p1 - p0) * K * OC_PANEL * sizeof(float))
                     : NULL;
    for (size_t p = p0; own && p < p1; p++)
        for (size_t k0 = 0; k0 < K; k0 += OC_GEMM_KB)
            FN(pack_block)(W, p, k0, K - k0 < OC_GEMM_KB ? K - k0 : OC_GEMM_KB,
                           own + ((p - p0) * K + k0) * OC_PANEL);
    FN(gemm_rb)(X, M, W, own, bias, Y, p0, p1, nblocks, buf[0], buf[1]);
    free(own);
}

/* The implicit GEMM (oc_gemm_rows) over tiles [t0, t1): blocks of tiles holding about
 * GEMM_XBLOCK bytes of X rows (as oc_gemm's row blocks), then as oc_gemm, each depth block
 * within one segment of k, the epilogue with the last */
static void FN(gemm_rows)(const oc_gemm_rows *R, size_t t0, size_t t1, const oc_weight *W,
                          const float *bias, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k;
    _Alignas(64) float buf[2][OC_GEMM_KB * OC_PANEL];
    for (size_t b0 = t0, b1; b0 < t1; b0 = b1) {
        size_t bytes = 0;
        for (b1 = b0; b1 < t1 && (b1 == b0 || bytes <= GEMM_XBLOCK); b1++)
            bytes += R->tile[b1].mr * (R->tile[b1].xrows ? K : R->ldx) * sizeof(float);
        /* pairs where the block's tiles split into pair tiles of 5 rows or more on average:
         * RN50's last stage cut into tiles of 7 rows (pieces of its output rows, before tiles
         * could span them) took 30% longer in pair tiles of 4 and 3 than in single tiles */
        size_t rows = 0, ptiles = 0;
        for (size_t t = b0; t < b1; t++)
            rows += R->tile[t].mr, ptiles += (R->tile[t].mr + PAIR_TILE - 1) / PAIR_TILE;
        int pairs = PAIRS && rows >= 5 * ptiles;
        for (size_t p = p0, nb; p < p1; p += (nb + OC_PANEL - 1) / OC_PANEL) {
            size_t n0 = p * OC_PANEL, ncalls = 0;
            nb = FN(step_cols)(N, p, p1, pairs);
            int pair = pairs && p + 1 < p1;
            for (size_t t = b0; t < b1; t++) ncalls += FN(calls)(R->tile[t].mr, nb, pair);
            for (size_t k0 = 0, kb; k0 < K; k0 += kb) {
                size_t in = k0 % R->seg, xoff = k0 / R->seg * R->seg_step + in;
                kb = R->seg - in < OC_GEMM_KB ? R->seg - in : OC_GEMM_KB;
                kb = K - k0 < kb ? K - k0 : kb;
                const float *w1, *w2;
                FN(pfq) q;
                FN(wstep)(W, NULL, p0, p1, p, pairs, k0, kb, buf[0], buf[1], &w1, &w2, &q);
                q.calls = ncalls;
                int last = k0 + kb >= K;
                const float *bb = last && bias ? bias + n0 : NULL;
                for (size_t t = b0; t < b1; t++) {
                    const oc_gemm_tile *T = &R->tile[t];
                    FN(block_rows)(T->mr, T->xrows ? NULL : T->x + xoff, R->ldx, T->xrows, xoff,
                                   w1, w2, kb, T->y + n0, R->ldy, k0 == 0, bb, nb, &q,
                                   last && T->res ? T->res + n0 : NULL, last && R->relu,
                                   R->seg >= K && p == p0 ? 2 : 1);
                }
            }
        }
    }
}

/* =============================================================================================
 * Winograd F(2x2, 3x3)'s transforms (oc_wino_in_fn in kernels.h), VW channels at a time; the
 * scalar reference's additions in its order (kernels_scalar.c)
 */
static void FN(wino_in)(const float *const *px, size_t C, float *V, size_t ldv) {
    for (size_t ch = 0; ch < C; ch += VW) {
        size_t n = C - ch < VW ? C - ch : VW;
        vf d[16], e[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            d[i] = !px[i] ? vzero() : n == VW ? vload(px[i] + ch) : vloadn(px[i] + ch, n);
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) { /* B^T d */
            e[b] = vsub(d[b], d[8 + b]), e[4 + b] = vadd(d[4 + b], d[8 + b]);
            e[8 + b] = vsub(d[8 + b], d[4 + b]), e[12 + b] = vsub(d[4 + b], d[12 + b]);
        }
#pragma GCC unroll 4
        for (int a = 0; a < 4; a++) { /* (B^T d) B */
            const vf *r = e + a * 4;
            vf v[4] = {vsub(r[0], r[2]), vadd(r[1], r[2]), vsub(r[2], r[1]), vsub(r[1], r[3])};
#pragma GCC unroll 4
            for (int b = 0; b < 4; b++) {
                float *dst = V + (size_t)(a * 4 + b) * ldv + ch;
                if (n == VW) vstore(dst, v[b]);
                else vstoren(dst, v[b], n);
            }
        }
    }
}

static void FN(wino_out)(const float *M, size_t ldm, size_t C, const float *bias,
                         float *const *py, const float *const *pr, int relu) {
    for (size_t ch = 0; ch < C; ch += VW) {
        size_t n = C - ch < VW ? C - ch : VW;
        vf m[16], s[8];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) m[i] = vloadn(M + (size_t)i * ldm + ch, n);
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) { /* A^T m */
            s[b] = vadd(vadd(m[b], m[4 + b]), m[8 + b]);
            s[4 + b] = vsub(vsub(m[4 + b], m[8 + b]), m[12 + b]);
        }
        vf bv = vloadn(bias + ch, n);
#pragma GCC unroll 2
        for (int a = 0; a < 2; a++) { /* (A^T m) A */
            const vf *r = s + a * 4;
            vf o[2] = {vadd(vadd(r[0], r[1]), r[2]), vsub(vsub(r[1], r[2]), r[3])};
#pragma GCC unroll 2
            for (int b = 0; b < 2; b++) {
                float *dst = py[a * 2 + b];
                if (!dst) continue;
                vf v = vadd(o[b], bv);
                if (pr[a * 2 + b]) v = vadd(v, vloadn(pr[a * 2 + b] + ch, n));
                if (relu) v = vsel_gt(v, vzero(), vzero(), v);
                if (n == VW) vstore(dst + ch, v);
                else vstoren(dst + ch, v, n);
            }
        }
    }
}

/* =============================================================================================
 * Attention for items [i0, i1) (item = sequence n, head h). Per item: K^T copied to scratch
 * [hd, Tp] (zero past T); then query rows four at a time: scores s[r][j] = (sum_e q[e] k[j][e])
 * * scale as one FMA chain per score over e in order (vectors over j), softmax over the row's
 * keys j < nk (nk = i + 1 when causal, else T; lanes past nk masked; max exact, sum a fixed
 * vector-lane order that depends only on nk), then o = sum_j p_j v_j as one FMA chain per output
 * element over j in order (vectors over e). Only four rows of scores exist at a time.
 */
/* output vectors per pass of p v: 64 floats (a whole head of width 64: 8 independent FMA
 * chains on AVX2, enough for 2 pipes x latency 4), at least 4 */
#define ATT_EV (64 / VW > 4 ? 64 / VW : 4)
static void FN(attention)(const float *qkv, float *o, size_t T, size_t D, size_t H, int causal,
                          size_t i0, size_t i1, float *scratch) {
    size_t hd = D / H, Tp = (T + 15) / 16 * 16, ld = 3 * D;
    float scale = 1.0f / sqrtf((float)hd);
    float *kt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *sc = kt + hd * Tp;
    for (size_t it = i0; it < i1; it++) {
        size_t n = it / H, h = it % H;
        const float *base = qkv + n * T * ld;
        /* K^T by VW x VW transposes in registers (keys past T: zero columns) */
        for (size_t j0 = 0; j0 < Tp; j0 += VW)
            for (size_t e0 = 0; e0 < hd; e0 += VW) {
                size_t en = hd - e0 < VW ? hd - e0 : VW;
                vf r[VW];
                for (size_t i = 0; i < VW; i++)
                    r[i] = j0 + i < T ? vloadn(base + (j0 + i) * ld + D + h * hd + e0, en)
                                      : vzero();
                vtranspose(r);
                for (size_t i = 0; i < en; i++) vstore(kt + (e0 + i) * Tp + j0, r[i]);
            }
        for (size_t q0 = 0; q0 < T; q0 += 4) {
            size_t nq = T - q0 < 4 ? T - q0 : 4;
            size_t nkmax = causal ? q0 + nq : T;
            const float *q[4];
            for (size_t r = 0; r < 4; r++)
                q[r] = base + (q0 + (r < nq ? r : 0)) * ld + h * hd;
            size_t jb = 0;
            /* two key vectors at a time while they fit in Tp: 8 independent FMA chains (the
             * scores past nkmax are computed into scratch and never read) */
            for (; jb < nkmax && jb + 2 * VW <= Tp; jb += 2 * VW) {
                vf a0[4] = {vzero(), vzero(), vzero(), vzero()};
                vf a1[4] = {vzero(), vzero(), vzero(), vzero()};
                for (size_t e = 0; e < hd; e++) {
                    vf k0 = vload(kt + e * Tp + jb), k1 = vload(kt + e * Tp + jb + VW);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++) {
                        vf qe = vset1(q[r][e]);
                        a0[r] = vfma(qe, k0, a0[r]);
                        a1[r] = vfma(qe, k1, a1[r]);
                    }
                }
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++) {
                    vstore(sc + (size_t)r * Tp + jb, vmul(a0[r], vset1(scale)));
                    vstore(sc + (size_t)r * Tp + jb + VW, vmul(a1[r], vset1(scale)));
                }
            }
            for (; jb < nkmax; jb += VW) {
                vf acc[4] = {vzero(), vzero(), vzero(), vzero()};
                for (size_t e = 0; e < hd; e++) {
                    vf kv = vload(kt + e * Tp + jb);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++) acc[r] = vfma(vset1(q[r][e]), kv, acc[r]);
                }
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    vstore(sc + (size_t)r * Tp + jb, vmul(acc[r], vset1(scale)));
            }
            for (size_t r = 0; r < nq; r++) {
                size_t i = q0 + r, nk = causal ? i + 1 : T;
                float *s = sc + r * Tp;
                vf mv = vset1(-INFINITY);
                size_t j = 0;
                for (; j + VW <= nk; j += VW) mv = vmax(mv, vload(s + j));
                if (j < nk) mv = vmax(mv, vloadn_fill(s + j, nk - j, -INFINITY));
                vf mx = vset1(vhmax(mv)), sv = vzero();
                for (j = 0; j + VW <= nk; j += VW) {
                    vf ev = FN(exp_v)(vsub(vload(s + j), mx));
                    vstore(s + j, ev);
                    sv = vadd(sv, ev);
                }
                if (j < nk) {
                    vf ev = vkeepn(FN(exp_v)(vsub(vloadn(s + j, nk - j), mx)), nk - j);
                    vstore(s + j, ev);
                    sv = vadd(sv, ev);
                }
                float inv = 1.0f / vhsum(sv);
                float *op = o + (n * T + i) * D + h * hd;
                for (size_t e0 = 0; e0 < hd; e0 += ATT_EV * VW) {
                    size_t ne = hd - e0 < ATT_EV * VW ? hd - e0 : ATT_EV * VW;
                    const float *v = base + 2 * D + h * hd + e0;
                    if (ne == ATT_EV * VW) { /* whole vectors: accumulators in registers */
                        vf a[ATT_EV];
#pragma GCC unroll 16
                        for (int c = 0; c < ATT_EV; c++) a[c] = vzero();
                        for (size_t jj = 0; jj < nk; jj++) {
                            vf pj = vset1(s[jj] * inv);
                            const float *vr = v + jj * ld;
#pragma GCC unroll 16
                            for (int c = 0; c < ATT_EV; c++)
                                a[c] = vfma(pj, vload(vr + c * VW), a[c]);
                        }
                        /* plain stores: a masked store (vmaskmovps) is microcoded on AMD
                         * (perf annotate: a quarter of attention's samples on Zen 3) */
#pragma GCC unroll 16
                        for (int c = 0; c < ATT_EV; c++) vstore(op + e0 + c * VW, a[c]);
                        continue;
                    }
                    vf a[ATT_EV];
                    for (int c = 0; c < ATT_EV; c++) a[c] = vzero();
                    for (size_t jj = 0; jj < nk; jj++) {
                        vf pj = vset1(s[jj] * inv);
                        const float *vr = v + jj * ld;
                        for (size_t c = 0; c * VW < ne; c++) {
                            size_t cn = ne - c * VW < VW ? ne - c * VW : VW;
                            a[c] = vfma(pj, vloadn(vr + c * VW, cn), a[c]);
                        }
                    }
                    for (size_t c = 0; c * VW < ne; c++) {
                        size_t cn = ne - c * VW < VW ? ne - c * VW : VW;
                        if (cn == VW) vstore(op + e0 + c * VW, a[c]);
                        else vstoren(op + e0 + c * VW, a[c], cn);
                    }
                }
            }
        }
    }
}
