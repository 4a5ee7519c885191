/*
 * kernels.c — the scalar fp32 reference kernels: GEMM over weights as stored, LayerNorm,
 * activations. Plain C that the compiler may vectorise across output columns (which does not
 * change any element's arithmetic); no -ffast-math, no FMA contraction (-std=c11 turns it off),
 * so every element's value is fixed by the code below and independent of the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/*
 * Widening F16/BF16 to F32 (exact). oclip_dtype_cast is the reference conversion; this is its
 * hot path for the weights the GEMM packs (a whole model per forward pass), where the general
 * routine's per-element dispatch cost as much as the GEMM itself. test_engine checks both give
 * the same bits for all 65536 F16 and BF16 values.
 *   F16 finite: the 15 magnitude bits moved up 13 places are a float 2^-112 times the value
 *   (normals and subnormals alike), so one exact multiplication by 2^112 finishes it.
 *   F16 inf/NaN, and big-endian hosts: oclip_dtype_cast.
 */
void oc_load_f32(float *dst, const uint8_t *data, oclip_dtype dt, size_t first, size_t count) {
    const uint8_t *p = data + first * oclip_dtype_size(dt);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (dt == OCLIP_DTYPE_F32) {
        memcpy(dst, p, count * sizeof(float));
        return;
    }
    if (dt == OCLIP_DTYPE_BF16) {
        for (size_t i = 0; i < count; i++) {
            uint32_t bits = (uint32_t)oc_rd16(p + 2 * i) << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return;
    }
    if (dt == OCLIP_DTYPE_F16) {
        for (size_t i = 0; i < count; i++) {
            uint16_t h = oc_rd16(p + 2 * i);
            if ((h & 0x7c00u) == 0x7c00u) {
                oclip_dtype_cast(&dst[i], OCLIP_DTYPE_F32, p + 2 * i, dt, 1, NULL);
                continue;
            }
            uint32_t bits = (uint32_t)(h & 0x7fffu) << 13;
            float f;
            memcpy(&f, &bits, 4);
            f *= 0x1p112f;
            dst[i] = h & 0x8000u ? -f : f;
        }
        return;
    }
#endif
    oclip_dtype_cast(dst, OCLIP_DTYPE_F32, p, dt, count, NULL);
}

/* =============================================================================================
 * GEMM: Y [M, N] = X [M, K] . W^T + bias
 *
 * Blocking: output columns in panels of GEMM_NB (the unit of the thread split), depth in blocks
 * of GEMM_KB, rows four at a time. For each (panel, depth block) the weights are converted to
 * fp32 and packed k-major into Wp [KB][NB] (8 KiB, on the stack), so the inner loop is
 * acc[r][j] += x[r][k] * Wp[k][j]: independent lanes over j (vectorisable, no reassociation)
 * and one accumulator per output element, summed in increasing k. Partial sums live in Y
 * between depth blocks (stored and reloaded as float: the same value), so the result does not
 * depend on the blocking either. A partial last panel is zero-padded and runs the same code.
 */
#define GEMM_NB 8
#define GEMM_KB 256
#define GEMM_MR 4

typedef struct {
    const float *X;
    size_t M;
    const oc_weight *W;
    const float *bias;
    float *Y;
} gemm_ctx;

/* Wp[kk][j] = W(n0 + j, k0 + kk) in fp32, zero for columns past N. */
static void pack_panel(const oc_weight *W, size_t n0, size_t nb, size_t k0, size_t kb,
                       float Wp[GEMM_KB][GEMM_NB]) {
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
    float row[GEMM_KB];
    for (size_t j = 0; j < nb; j++) {
        oc_load_f32(row, W->data + ((n0 + j) * W->k + k0) * es, W->dtype, 0, kb);
        for (size_t kk = 0; kk < kb; kk++) Wp[kk][j] = row[kk];
    }
}

/* Rows [m, m + R) of one panel over one depth block; R <= GEMM_MR. Rows past R repeat row m
 * (valid memory) and are not stored. */
static void micro(const float *X, size_t K, size_t m, size_t R, size_t k0, size_t kb,
                  float Wp[GEMM_KB][GEMM_NB], float *Y, size_t N, size_t n0, size_t nb) {
    float acc[GEMM_MR][GEMM_NB];
    for (size_t r = 0; r < GEMM_MR; r++)
        for (size_t j = 0; j < GEMM_NB; j++)
            acc[r][j] = r < R && j < nb && k0 ? Y[(m + r) * N + n0 + j] : 0.0f;
    const float *x[GEMM_MR];
    for (size_t r = 0; r < GEMM_MR; r++) x[r] = X + (m + (r < R ? r : 0)) * K + k0;
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
    for (size_t r = 0; r < R; r++) memcpy(&Y[(m + r) * N + n0], acc[r], nb * sizeof(float));
}

static void gemm_range(void *p, size_t p0, size_t p1) {
    const gemm_ctx *c = p;
    const oc_weight *W = c->W;
    size_t N = W->n, K = W->k;
    float Wp[GEMM_KB][GEMM_NB];
    for (size_t pi = p0; pi < p1; pi++) {
        size_t n0 = pi * GEMM_NB, nb = N - n0 < GEMM_NB ? N - n0 : GEMM_NB;
        for (size_t k0 = 0; k0 < K; k0 += GEMM_KB) {
            size_t kb = K - k0 < GEMM_KB ? K - k0 : GEMM_KB;
            pack_panel(W, n0, nb, k0, kb, Wp);
            for (size_t m = 0; m < c->M; m += GEMM_MR) {
                size_t R = c->M - m < GEMM_MR ? c->M - m : GEMM_MR;
                micro(c->X, K, m, R, k0, kb, Wp, c->Y, N, n0, nb);
            }
        }
        if (K == 0)
            for (size_t m = 0; m < c->M; m++) memset(&c->Y[m * N + n0], 0, nb * sizeof(float));
        if (c->bias)
            for (size_t m = 0; m < c->M; m++)
                for (size_t j = 0; j < nb; j++) c->Y[m * N + n0 + j] += c->bias[n0 + j];
    }
}

void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth) {
    gemm_ctx c = {X, M, W, bias, Y};
    size_t panels = (W->n + GEMM_NB - 1) / GEMM_NB;
    oc_parallel(nth, panels, gemm_range, &c);
}

/* =============================================================================================
 * LayerNorm (biased variance, as torch). Mean and variance are accumulated in double: closer to
 * the exact value than any float order, and each row is one thread's, so still deterministic.
 */
void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps) {
    for (size_t r = 0; r < rows; r++) {
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
typedef struct {
    float *x;
    oc_act act;
} act_ctx;

static void act_range(void *p, size_t i0, size_t i1) {
    const act_ctx *c = p;
    float *x = c->x;
    switch (c->act) {
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

/* Element-wise, so any split gives the same bytes. */
void oc_activate(float *x, size_t n, oc_act act, int nth) {
    act_ctx c = {x, act};
    oc_parallel(nth, n, act_range, &c);
}
