/*
 * kernels_scalar.c — the scalar path: the reference kernels, in plain C for any CPU (GEMM over
 * weights as stored, the int8 GEMM and its row quantization, LayerNorm, activations,
 * attention), a peer of kernels_avx2.c / kernels_avx512.c. The compiler may vectorise loops
 * across output columns (which does not change any element's arithmetic); no -ffast-math, no FMA
 * contraction (-std=c11 turns it off), so every element's value is fixed by the code below and
 * independent of the thread split.
 */
#include <math.h>
#include <string.h>

#include "kernels/kernels_int.h"

/* =============================================================================================
 * GEMM: panels [p0, p1) of Y [M, N] = X [M, K] . W^T + bias over the weights as stored
 *
 * Blocking: each OC_PANEL panel in sub-panels of GEMM_NB columns, depth in blocks of OC_GEMM_KB,
 * rows four at a time. For each (sub-panel, depth block) the weights are converted to fp32 and
 * packed k-major into Wp [KB][NB] (8 KiB, on the stack), so the inner loop is
 * acc[r][j] += x[r][k] * Wp[k][j]: independent lanes over j (vectorisable, no reassociation)
 * and one accumulator per output element, summed in increasing k. Partial sums live in Y
 * between depth blocks (stored and reloaded as float: the same value), so the result does not
 * depend on the blocking either. A partial last sub-panel is zero-padded and runs the same code.
 */
#define GEMM_NB 8
#define GEMM_MR 4
_Static_assert(OC_PANEL % GEMM_NB == 0, "sub-panels tile a panel");

/* Wp[kk][j] = W(n0 + j, k0 + kk) in fp32, zero for columns past N. */
static void pack_panel(const oc_weight *W, size_t n0, size_t nb, size_t k0, size_t kb,
                       float Wp[OC_GEMM_KB][GEMM_NB]) {
    size_t es = oclip_dtype_size(W->dtype);
    if (nb < GEMM_NB)
        for (size_t kk = 0; kk < kb; kk++) memset(&Wp[kk][nb], 0, (GEMM_NB - nb) * sizeof(float));
    if (W->kn) {
        /* stored [K, N]: a panel row is nb contiguous elements */
        for (size_t kk = 0; kk < kb; kk++)
            oc_load_f32(Wp[kk], W->data + ((k0 + kk) * W->n + n0) * es, W->dtype, 0, nb);
        return;
    }
    /* stored [N, K]: convert kb contiguous elements of each weight row, then transpose */
    float row[OC_GEMM_KB];
    for (size_t j = 0; j < nb; j++) {
        oc_load_f32(row, W->data + ((n0 + j) * W->k + k0) * es, W->dtype, 0, kb);
        for (size_t kk = 0; kk < kb; kk++) Wp[kk][j] = row[kk];
    }
}

/* The end of a sum (the last depth block, or none for K = 0): + bias, then + res (rows at the
 * row stride of Y, or NULL) and ReLU (NaN -> 0) when relu, each rounded */
typedef struct {
    const float *bias, *res;
    int relu;
} ends;

static float end_of(float v, const ends *e, size_t r, size_t ldy, size_t j) {
    if (e->bias) v += e->bias[j];
    if (e->res) v += e->res[r * ldy + j];
    return e->relu && !(v > 0.0f) ? 0.0f : v;
}

/* R <= GEMM_MR rows of one sub-panel over one depth block: X at the first row's depth k0 (row
 * stride ldx), Y at its column n0 (row stride ldy); first: the block at k0 = 0; e: the last
 * block's end (NULL before the last), applied before Y is stored, so res may be Y itself. Rows
 * past R repeat the first row (valid memory) and are not stored. */
static void micro(const float *X, size_t ldx, size_t R, int first, size_t kb,
                  float Wp[OC_GEMM_KB][GEMM_NB], float *Y, size_t ldy, size_t nb, const ends *e) {
    float acc[GEMM_MR][GEMM_NB];
    for (size_t r = 0; r < GEMM_MR; r++)
        for (size_t j = 0; j < GEMM_NB; j++)
            acc[r][j] = r < R && j < nb && !first ? Y[r * ldy + j] : 0.0f;
    const float *x[GEMM_MR];
    for (size_t r = 0; r < GEMM_MR; r++) x[r] = X + (r < R ? r : 0) * ldx;
    /* Fully unrolled (4 x 8 = eight 4-lane accumulators), so the compiler keeps acc in
     * registers; rolled loops kept it in memory and ran at half the speed. Unrolling does not
     * change any element's arithmetic. */
    for (size_t kk = 0; kk < kb; kk++) {
        const float *w = Wp[kk];
#pragma GCC unroll 4
        for (size_t r = 0; r < GEMM_MR; r++) {
            float xv = x[r][kk];
#pragma GCC unroll 8
            for (size_t j = 0; j < GEMM_NB; j++) acc[r][j] += xv * w[j];
        }
    }
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < nb; j++)
            Y[r * ldy + j] = e ? end_of(acc[r][j], e, r, ldy, j) : acc[r][j];
}

/* rows [0, M) at X (stride ldx, at depth k0) and Y (stride ldy, at column n0) over one block;
 * for K = 0 (no block), Y = the end of an empty sum */
static void micro_rows(const float *X, size_t ldx, size_t M, int first, size_t kb,
                       float Wp[OC_GEMM_KB][GEMM_NB], float *Y, size_t ldy, size_t nb,
                       const ends *e) {
    for (size_t m = 0; m < M; m += GEMM_MR) {
        ends em = e ? *e : (ends){NULL, NULL, 0};
        if (em.res) em.res += m * ldy;
        micro(X + m * ldx, ldx, M - m < GEMM_MR ? M - m : GEMM_MR, first, kb, Wp, Y + m * ldy,
              ldy, nb, e ? &em : NULL);
    }
}

static void empty_rows(float *Y, size_t ldy, size_t M, size_t nb, const ends *e) {
    for (size_t m = 0; m < M; m++)
        for (size_t j = 0; j < nb; j++) Y[m * ldy + j] = end_of(0.0f, e, m, ldy, j);
}

static void scalar_gemm(const float *X, size_t M, const oc_weight *W, const float *bias,
                        float *Y, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k;
    size_t c1 = p1 * OC_PANEL < N ? p1 * OC_PANEL : N;
    float Wp[OC_GEMM_KB][GEMM_NB];
    for (size_t n0 = p0 * OC_PANEL; n0 < c1; n0 += GEMM_NB) {
        size_t nb = c1 - n0 < GEMM_NB ? c1 - n0 : GEMM_NB;
        ends e = {bias ? bias + n0 : NULL, NULL, 0};
        for (size_t k0 = 0; k0 < K; k0 += OC_GEMM_KB) {
            size_t kb = K - k0 < OC_GEMM_KB ? K - k0 : OC_GEMM_KB;
            pack_panel(W, n0, nb, k0, kb, Wp);
            micro_rows(X + k0, K, M, k0 == 0, kb, Wp, Y + n0, N, nb, k0 + kb >= K ? &e : NULL);
        }
        if (K == 0) empty_rows(Y + n0, N, M, nb, &e);
    }
}

/* the implicit GEMM (oc_gemm_rows): the same sums, each depth block within one segment of k */
static void scalar_gemm_rows(const oc_gemm_rows *R, size_t t0, size_t t1, const oc_weight *W,
                             const float *bias, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k;
    size_t c1 = p1 * OC_PANEL < N ? p1 * OC_PANEL : N;
    float Wp[OC_GEMM_KB][GEMM_NB];
    for (size_t n0 = p0 * OC_PANEL; n0 < c1; n0 += GEMM_NB) {
        size_t nb = c1 - n0 < GEMM_NB ? c1 - n0 : GEMM_NB;
        for (size_t k0 = 0, kb; k0 < K; k0 += kb) {
            size_t in = k0 % R->seg, xoff = k0 / R->seg * R->seg_step + in;
            kb = R->seg - in < OC_GEMM_KB ? R->seg - in : OC_GEMM_KB;
            kb = K - k0 < kb ? K - k0 : kb;
            pack_panel(W, n0, nb, k0, kb, Wp);
            for (size_t t = t0; t < t1; t++) {
                const oc_gemm_tile *T = &R->tile[t];
                ends e = {bias ? bias + n0 : NULL, T->res ? T->res + n0 : NULL, R->relu};
                for (size_t r = 0; T->xrows && r < T->mr; r++) { /* a row at a time */
                    ends er = {e.bias, e.res ? e.res + r * R->ldy : NULL, e.relu};
                    micro_rows(T->xrows[r] + xoff, 0, 1, k0 == 0, kb, Wp, T->y + r * R->ldy + n0,
                               R->ldy, nb, k0 + kb >= K ? &er : NULL);
                }
                if (!T->xrows)
                    micro_rows(T->x + xoff, R->ldx, T->mr, k0 == 0, kb, Wp, T->y + n0, R->ldy,
                               nb, k0 + kb >= K ? &e : NULL);
            }
        }
        for (size_t t = t0; t < t1 && K == 0; t++) {
            const oc_gemm_tile *T = &R->tile[t];
            ends e = {bias ? bias + n0 : NULL, T->res ? T->res + n0 : NULL, R->relu};
            empty_rows(T->y + n0, R->ldy, T->mr, nb, &e);
        }
    }
}

/* =============================================================================================
 * Int8 GEMM (oc_gemm_i8 in kernels.h)
 */
/* v rounded to the nearest integer, ties to even, for |v| < 2^22 (adding and removing 1.5 * 2^23
 * leaves no fraction bits; default rounding mode; no contraction under -std=c11). The compiler
 * vectorises loops over it, where rintf would be a call. */
static inline float round_even(float v) {
    float r = v + 12582912.0f;
    return r - 12582912.0f;
}

/* the reference quantization of one row */
static void scalar_quant_i8(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx) {
    float amax = 0.0f;
    int bad = 0;
    for (size_t k = 0; k < K; k++) {
        float a = fabsf(x[k]);
        bad |= !(a <= 3.4028234663852886e38f); /* NaN or infinity */
        amax = a > amax ? a : amax;
    }
    if (bad) {
        oc_quant_bad_row(q, Kq, sx);
        return;
    }
    float inv = oc_quant_inv(amax);
    for (size_t k = 0; k < K; k++) {
        float v = round_even(x[k] * inv);
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[k] = (uint8_t)((int)v + 128);
    }
    oc_quant_finish(q, K, Kq, amax, sx);
}

/* the reference panels: exact int32 dot products, then the epilogue every kernel repeats */
static void scalar_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                           const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k, Kq = (K + 3) & ~(size_t)3;
    const int8_t *wq = W->packed;
    for (size_t pi = p0; pi < p1; pi++) {
        size_t n0 = pi * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = wq + pi * OC_PANEL * Kq;
        for (size_t m = 0; m < M; m++) {
            const uint8_t *x = xq + m * Kq;
            int32_t acc[OC_PANEL] = {0};
            for (size_t k4 = 0; k4 < Kq; k4 += 4) {
                const int8_t *w = wp + k4 * OC_PANEL;
                for (size_t j = 0; j < OC_PANEL; j++)
                    acc[j] += x[k4] * w[j * 4] + x[k4 + 1] * w[j * 4 + 1] +
                              x[k4 + 2] * w[j * 4 + 2] + x[k4 + 3] * w[j * 4 + 3];
            }
            float sx;
            memcpy(&sx, (const uint8_t *)xs + m * sizeof(float), sizeof sx);
            for (size_t j = 0; j < nb; j++) {
                float sc = W->qscale[n0 + j] * sx;
                float y = (float)(acc[j] - 128 * W->qsum[n0 + j]) * sc;
                if (bias) y = y + bias[n0 + j];
                Y[m * N + n0 + j] = y;
            }
        }
    }
}

/* =============================================================================================
 * LayerNorm (biased variance, as torch). Mean and variance are accumulated in double: closer to
 * the exact value than any float order, and each row is one thread's, so still deterministic.
 */
static void scalar_layernorm(const float *x, float *y, size_t r0, size_t r1, size_t D,
                             const float *w, const float *b, float eps) {
    for (size_t r = r0; r < r1; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        double s = 0, ss = 0;
        for (size_t i = 0; i < D; i++) s += xr[i];
        double mean = s / (double)D;
        for (size_t i = 0; i < D; i++) {
            double d = xr[i] - mean;
            ss += d * d;
        }
        float rstd = (float)(1.0 / sqrt(ss / (double)D + (double)eps));
        float meanf = (float)mean;
        for (size_t i = 0; i < D; i++) yr[i] = (xr[i] - meanf) * rstd * w[i] + b[i];
    }
}

/* =============================================================================================
 * Activations: exact GELU 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()), its tanh form
 * (act_kwargs approximate='tanh'), and QuickGELU x * sigmoid(1.702 x) (OpenAI's models).
 */
static void scalar_act(float *x, size_t i0, size_t i1, oc_act act) {
    switch (act) {
    case OC_ACT_GELU:
        for (size_t i = i0; i < i1; i++)
            x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    case OC_ACT_GELU_TANH:
        for (size_t i = i0; i < i1; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    case OC_ACT_QUICK_GELU:
        for (size_t i = i0; i < i1; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
        break;
    }
}

static void scalar_erf(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = erff(x[i]);
}

static void scalar_exp(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

/* =============================================================================================
 * Attention, items [i0, i1) (item = sequence n, head h): one query row at a time, dot products
 * in increasing e, softmax in float.
 */
static void scalar_attention(const float *qkv, float *o, size_t T, size_t D, size_t H,
                             int causal, size_t i0, size_t i1, float *s) {
    size_t hd = D / H;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t it = i0; it < i1; it++) {
        size_t n = it / H, h = it % H;
        const float *base = qkv + n * T * 3 * D;
        for (size_t i = 0; i < T; i++) {
            const float *q = base + i * 3 * D + h * hd;
            /* causal: key j > query i is masked (-inf, probability 0): skip it */
            size_t nk = causal ? i + 1 : T;
            float mx = -INFINITY;
            for (size_t j = 0; j < nk; j++) {
                const float *k = base + j * 3 * D + D + h * hd;
                float d = 0;
                for (size_t e = 0; e < hd; e++) d += q[e] * k[e];
                s[j] = d * scale;
                if (s[j] > mx) mx = s[j];
            }
            float sum = 0;
            for (size_t j = 0; j < nk; j++) {
                s[j] = expf(s[j] - mx);
                sum += s[j];
            }
            float inv = 1.0f / sum;
            float *op = o + (n * T + i) * D + h * hd;
            for (size_t e = 0; e < hd; e++) op[e] = 0;
            for (size_t j = 0; j < nk; j++) {
                const float *v = base + j * 3 * D + 2 * D + h * hd;
                float pj = s[j] * inv;
                for (size_t e = 0; e < hd; e++) op[e] += pj * v[e];
            }
        }
    }
}

/* Winograd F(2x2, 3x3)'s transforms (oc_wino_in_fn in kernels.h), a channel at a time: the
 * operations of the SIMD paths' lanes (kernels_simd.h), in their order */
static void scalar_wino_in(const float *const *px, size_t C, float *V, size_t ldv) {
    for (size_t ch = 0; ch < C; ch++) {
        float d[16], e[16];
        for (int i = 0; i < 16; i++) d[i] = px[i] ? px[i][ch] : 0.0f;
        for (int b = 0; b < 4; b++) { /* B^T d */
            e[b] = d[b] - d[8 + b], e[4 + b] = d[4 + b] + d[8 + b];
            e[8 + b] = d[8 + b] - d[4 + b], e[12 + b] = d[4 + b] - d[12 + b];
        }
        for (int a = 0; a < 4; a++) { /* (B^T d) B */
            const float *r = e + a * 4;
            V[(size_t)(a * 4 + 0) * ldv + ch] = r[0] - r[2];
            V[(size_t)(a * 4 + 1) * ldv + ch] = r[1] + r[2];
            V[(size_t)(a * 4 + 2) * ldv + ch] = r[2] - r[1];
            V[(size_t)(a * 4 + 3) * ldv + ch] = r[1] - r[3];
        }
    }
}

static void scalar_wino_out(const float *M, size_t ldm, size_t C, const float *bias,
                            float *const *py, const float *const *pr, int relu) {
    for (size_t ch = 0; ch < C; ch++) {
        float m[16], s[8];
        for (int i = 0; i < 16; i++) m[i] = M[(size_t)i * ldm + ch];
        for (int b = 0; b < 4; b++) { /* A^T m */
            s[b] = m[b] + m[4 + b] + m[8 + b];
            s[4 + b] = m[4 + b] - m[8 + b] - m[12 + b];
        }
        for (int a = 0; a < 2; a++) { /* (A^T m) A */
            const float *r = s + a * 4;
            float o[2] = {r[0] + r[1] + r[2], r[1] - r[2] - r[3]};
            for (int b = 0; b < 2; b++) {
                if (!py[a * 2 + b]) continue;
                float v = o[b] + bias[ch];
                if (pr[a * 2 + b]) v += pr[a * 2 + b][ch];
                py[a * 2 + b][ch] = relu && !(v > 0.0f) ? 0.0f : v;
            }
        }
    }
}

const oc_isa oc_isa_scalar = {
    .gemm = scalar_gemm,
    .gemm_rows = scalar_gemm_rows,
    .pack_block = oc_pack_block,
    .wino_in = scalar_wino_in,
    .wino_out = scalar_wino_out,
    .gemm_bf16 = NULL,
    .gemm_i8 = scalar_gemm_i8,
    .quant_i8 = scalar_quant_i8,
    .layernorm = scalar_layernorm,
    .act = scalar_act,
    .attention = scalar_attention,
    .erf = scalar_erf,
    .exp = scalar_exp,
};
