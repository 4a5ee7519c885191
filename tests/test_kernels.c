/*
 * test_kernels.c — the CPU kernel paths (scalar reference, AVX2, AVX-512, NEON: every one this
 * CPU supports) against each other and against double-precision references:
 *   - the dispatch table: OCLIP_SIMD and OCLIP_AMX (unset, empty, each value, unknown or
 *     unsupported ones: the path and AMX chosen, and a warning naming the value and what is
 *     used instead exactly when one is ignored), first use raced from four threads (one table),
 *     oclip_simd_name;
 *   - GEMM on odd shapes (M, N, K from 1 to 4001), weights F32/F16/BF16 stored [N, K] or [K, N],
 *     with and without bias, packed at load or packed on the fly: vs a double GEMM over the same
 *     (rounded) weights, vs the scalar path, the same bytes for 1, 2 and 3 threads, packed or
 *     not, and for any subset of rows (batch split); weights cast to BF16 at load (the
 *     AVX512-BF16 kernel where the CPU has it) vs double over the same rounded values;
 *   - the int8 GEMM: the per-column weight quantization value by value, outputs equal to an
 *     integer reference computed here from the test's own quantization of X (the VNNI kernel
 *     where the CPU has it), threads, row subsets, zero and NaN rows, error vs float; on the neon
 *     path both NEON int8 kernels (SDOT where the CPU has it, widening multiplies) called
 *     directly: the reference's bytes, panel ranges, row subsets, nothing written past N;
 *   - the GEMM epilogues (activation, residual add with and without LayerScale) inside the
 *     GEMM's region: the bytes of the separate passes, fp32 and int8, 1-3 threads;
 *   - LayerNorm, GELU (erf and tanh forms), QuickGELU vs the scalar path; the vector erf and exp
 *     vs libm's erff / expf over a dense grid (max error in ulp);
 *   - attention (softmax included) vs the scalar path, thread counts, and causal rows computed
 *     from a shorter sequence giving the same bytes;
 *   - the thread pool: every index in exactly one range (also when the threads take chunks in
 *     turn), for any n and thread count; a caller that waits past its spin (slow worker ranges:
 *     it sleeps until a finishing worker wakes it), slow caller ranges (the workers sleep), and
 *     a region started inside a range (run inline).
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernels/kernels_int.h"
#include "test.h"

static unsigned rng = 12345;
static float rnd(void) { /* [-1, 1) */
    rng = rng * 1103515245u + 12345u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

static const char *path_name;

/* ulp distance between two floats of the same sign region (as ordered integers) */
static double ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return fabs((double)ia - (double)ib);
}

/* ---------------------------------------------------------------------------------------------
 * GEMM
 */
static void gemm_case(size_t M, size_t N, size_t K, oclip_dtype dt, int kn, int use_bias) {
    float *X = malloc((M * K + 1) * sizeof(float)), *Wf = malloc((N * K + 1) * sizeof(float));
    float *Wr = malloc((N * K + 1) * sizeof(float)), *b = malloc(N * sizeof(float));
    uint8_t *Ws = malloc(N * K * 4 + 1);
    float *Y[3], *Yp = malloc(M * N * sizeof(float)), *Ys = malloc(M * N * sizeof(float));
    for (size_t i = 0; i < M * K; i++) X[i] = rnd();
    for (size_t i = 0; i < N * K; i++) Wf[i] = rnd();
    for (size_t i = 0; i < N; i++) b[i] = rnd();
    /* the stored layout, then the rounded values as the kernels see them */
    float *Wl = malloc((N * K + 1) * sizeof(float));
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++) Wl[kn ? k * N + n : n * K + k] = Wf[n * K + k];
    oclip_dtype_cast(Ws, dt, Wl, OCLIP_DTYPE_F32, N * K, NULL);
    oc_load_f32(Wr, Ws, dt, 0, N * K);
    oc_weight w = {Ws, dt, N, K, kn, NULL, OCLIP_DTYPE_F32, 0, NULL, NULL};
    const float *bias = use_bias ? b : NULL;
    for (int th = 0; th < 3; th++) {
        Y[th] = malloc(M * N * sizeof(float));
        oc_gemm(X, M, &w, bias, Y[th], th + 1);
    }
    char tag[160];
    snprintf(tag, sizeof tag, "%s gemm M%zu N%zu K%zu %s kn=%d bias=%d", path_name, M, N, K,
             oclip_dtype_name(dt), kn, use_bias);
    /* vs double */
    double md = 0;
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double ref = use_bias ? b[n] : 0;
            for (size_t k = 0; k < K; k++)
                ref += (double)X[m * K + k] * Wr[kn ? k * N + n : n * K + k];
            md = fmax(md, fabs(ref - Y[0][m * N + n]));
        }
    CHECKF(md <= 2e-7 * (double)K + 1e-6, "%s: max diff vs double %.3g", tag, md);
    CHECKF(!memcmp(Y[0], Y[1], M * N * sizeof(float)) &&
           !memcmp(Y[0], Y[2], M * N * sizeof(float)), "%s: bytes differ across threads", tag);
    /* packed copy (F32 / F16 / BF16 kept as stored): the same bytes */
    CHECK(oc_weight_pack(&w, OCLIP_DTYPE_F32, 0, 2, NULL) == OCLIP_OK);
    oc_gemm(X, M, &w, bias, Yp, 2);
    CHECKF(!memcmp(Y[0], Yp, M * N * sizeof(float)), "%s: packed differs from unpacked", tag);
    /* any subset of rows: the same bytes (batch split) */
    if (M > 2) {
        size_t r0 = M / 3, r1 = M - 1;
        oc_gemm(X + r0 * K, r1 - r0, &w, bias, Yp, 1);
        CHECKF(!memcmp(Y[0] + r0 * N, Yp, (r1 - r0) * N * sizeof(float)), "%s: rows %zu..%zu "
               "alone differ", tag, r0, r1);
    }
    oc_weight_unpack(&w);
    /* weights cast to BF16 in k pairs (from F32, or BF16 as stored): the AVX512-BF16 kernel (X
     * rounded to BF16 too) where the path has it, else widened; vs double over the same rounded
     * values, threads, row subsets */
    if ((dt == OCLIP_DTYPE_F32 || dt == OCLIP_DTYPE_BF16) &&
        oc_simd_get() != OC_SIMD_SCALAR) { /* scalar: as stored */
        int native = oc_kernels_get()->gemm_bf16 != NULL;
        float *Xb = malloc((M * K + 1) * sizeof(float)), *Wb = malloc((N * K + 1) * sizeof(float));
        uint16_t *tmp = malloc((N * K + M * K + 1) * 2);
        oclip_dtype_cast(tmp, OCLIP_DTYPE_BF16, Wr, OCLIP_DTYPE_F32, N * K, NULL);
        oclip_dtype_cast(Wb, OCLIP_DTYPE_F32, tmp, OCLIP_DTYPE_BF16, N * K, NULL);
        memcpy(Xb, X, M * K * sizeof(float));
        if (native) {
            oclip_dtype_cast(tmp, OCLIP_DTYPE_BF16, X, OCLIP_DTYPE_F32, M * K, NULL);
            oclip_dtype_cast(Xb, OCLIP_DTYPE_F32, tmp, OCLIP_DTYPE_BF16, M * K, NULL);
        }
        CHECK(oc_weight_pack(&w, OCLIP_DTYPE_BF16, 1, 2, NULL) == OCLIP_OK && w.pairs);
        oc_gemm(X, M, &w, bias, Yp, 1);
        double mb = 0;
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) {
                double ref = use_bias ? b[n] : 0;
                for (size_t k = 0; k < K; k++)
                    ref += (double)Xb[m * K + k] * Wb[kn ? k * N + n : n * K + k];
                mb = fmax(mb, fabs(ref - Yp[m * N + n]));
            }
        CHECKF(mb <= 2e-7 * (double)K + 1e-6, "%s: bf16%s max diff vs double %.3g", tag,
               native ? " (native)" : " (widened)", mb);
        oc_gemm(X, M, &w, bias, Ys, 3);
        CHECKF(!memcmp(Ys, Yp, M * N * sizeof(float)), "%s: bf16 bytes differ across threads",
               tag);
        if (M > 2) {
            size_t r0 = M / 3, r1 = M - 1;
            oc_gemm(X + r0 * K, r1 - r0, &w, bias, Ys, 2);
            CHECKF(!memcmp(Yp + r0 * N, Ys, (r1 - r0) * N * sizeof(float)), "%s: bf16 rows "
                   "%zu..%zu alone differ", tag, r0, r1);
        }
        oc_weight_unpack(&w);
        free(Xb), free(Wb), free(tmp);
    }
    /* vs the scalar path */
    oc_simd cur = oc_simd_get();
    oc_simd_set(OC_SIMD_SCALAR);
    oc_gemm(X, M, &w, bias, Ys, 1);
    oc_simd_set(cur);
    double ms = 0;
    for (size_t i = 0; i < M * N; i++) ms = fmax(ms, fabs((double)Ys[i] - Y[0][i]));
    CHECKF(ms <= 4e-7 * (double)K + 1e-6, "%s: max diff vs scalar %.3g", tag, ms);
    for (int th = 0; th < 3; th++) free(Y[th]);
    free(X), free(Wf), free(Wr), free(Wl), free(b), free(Ws), free(Yp), free(Ys);
}

static void test_gemm(void) {
    static const size_t shapes[][3] = {
        {1, 1, 1},     {3, 7, 8},      {7, 17, 15},    {8, 33, 17},   {15, 64, 33},
        {17, 100, 64}, {33, 31, 100},  {64, 32, 257},  {100, 3, 769}, {1, 257, 300},
        {13, 769, 7},  {50, 96, 512},  {12, 65, 256},  {257, 40, 33}, {24, 2, 1},
        {100, 40, 4001}, /* rows in two 1 MiB blocks (avx512, neon); unpacked: in scratch */
        {300, 9, 4001},  /* rows in two 4 MiB blocks (avx2); 7 split row blocks (avx512) */
    };
    static const oclip_dtype dts[] = {OCLIP_DTYPE_F32, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int d = 0; d < 3; d++)
            for (int kn = 0; kn < 2; kn++)
                for (int bias = 0; bias < 2; bias++)
                    gemm_case(shapes[s][0], shapes[s][1], shapes[s][2], dts[d], kn, bias);
    /* K = 0: Y = bias (or 0) */
    float X[1] = {0}, b[3] = {1, 2, 3}, Y[6] = {9, 9, 9, 9, 9, 9};
    uint8_t wdata[4] = {0};
    oc_weight w = {wdata, OCLIP_DTYPE_F32, 3, 0, 0, NULL, OCLIP_DTYPE_F32, 0, NULL, NULL};
    oc_gemm(X, 2, &w, b, Y, 2);
    CHECK(Y[0] == 1 && Y[2] == 3 && Y[3] == 1 && Y[5] == 3);
}

/* ---------------------------------------------------------------------------------------------
 * LayerNorm, activations, erf, exp
 */
/* Int8 GEMM on one shape: the packed weights are the per-column quantization of the (rounded)
 * weights, value by value; oc_gemm_i8 equals a computation from the test's own quantization of X
 * bit for bit (integer sums are exact; the epilogue is fixed), on this path (the VNNI kernel
 * where the CPU has it), for 1-3 threads and for a subset of rows; a row of zeros gives the bias,
 * a row holding a NaN gives NaN, and the result stays near the float GEMM. */
static void gemm_i8_case(size_t M, size_t N, size_t K, oclip_dtype dt, int kn, int use_bias) {
    size_t Kq = (K + 3) & ~(size_t)3;
    float *X = malloc(M * K * sizeof(float)), *Wl = malloc(N * K * sizeof(float));
    float *Wr = malloc(N * K * sizeof(float)), *b = malloc(N * sizeof(float));
    float *Y[3], *Ye = malloc(M * N * sizeof(float));
    uint8_t *Ws = malloc(N * K * 4);
    int32_t *qw = malloc(N * K * sizeof(int32_t)), *qx = malloc(K * sizeof(int32_t));
    for (size_t i = 0; i < M * K; i++) X[i] = rnd() * 3.0f;
    for (size_t i = 0; i < N * K; i++) Wl[i] = rnd() * (1.0f + (float)(i % 7));
    for (size_t i = 0; i < N; i++) b[i] = rnd();
    if (M > 1) memset(X, 0, K * sizeof(float)); /* row 0: zeros */
    if (M > 2) X[(M - 1) * K + K / 2] = NAN;    /* last row: a NaN */
    if (M > 3) /* row 1: subnormals, where 127 / max would overflow */
        for (size_t k = 0; k < K; k++) X[K + k] = (float)(k % 3) * 1e-44f;
    if (N > 2) /* column 1 of the weights: subnormals too */
        for (size_t k = 0; k < K; k++) Wl[kn ? k * N + 1 : K + k] = (float)(k % 5) * -1e-44f;
    oclip_dtype_cast(Ws, dt, Wl, OCLIP_DTYPE_F32, N * K, NULL);
    float *Wt = malloc(N * K * sizeof(float));
    oc_load_f32(Wt, Ws, dt, 0, N * K);
    for (size_t n = 0; n < N; n++) /* logical [N, K] */
        for (size_t k = 0; k < K; k++) Wr[n * K + k] = Wt[kn ? k * N + n : n * K + k];
    free(Wt);
    char tag[160];
    snprintf(tag, sizeof tag, "%s gemm_i8 M%zu N%zu K%zu %s kn=%d bias=%d", path_name, M, N, K,
             oclip_dtype_name(dt), kn, use_bias);
    oc_weight w = {Ws, dt, N, K, kn, NULL, OCLIP_DTYPE_F32, 0, NULL, NULL};
    CHECKF(oc_weight_pack(&w, OCLIP_DTYPE_I8, 0, 2, NULL) == OCLIP_OK &&
           w.pdtype == OCLIP_DTYPE_I8 && w.packed && w.qscale && w.qsum, "%s: pack", tag);
    if (!w.packed) goto done;
    /* the weights: scale = max |w| / 127 per column, q = w * (127 / max) to nearest, even */
    size_t bad_q = 0, bad_s = 0;
    for (size_t n = 0; n < N; n++) {
        float amax = 0;
        for (size_t k = 0; k < K; k++) amax = fmaxf(amax, fabsf(Wr[n * K + k]));
        float inv = amax > 0 ? fminf(127.0f / amax, FLT_MAX) : 0.0f, sw = amax / 127.0f;
        int32_t sum = 0;
        for (size_t k = 0; k < K; k++) {
            float v = nearbyintf(Wr[n * K + k] * inv);
            int32_t q = (int32_t)fmaxf(-127.0f, fminf(127.0f, v));
            qw[n * K + k] = q;
            sum += q;
            const int8_t *pk = (const int8_t *)w.packed;
            bad_q += pk[(n / 32) * Kq * 32 + (k / 4) * 128 + (n % 32) * 4 + k % 4] != q;
        }
        bad_s += memcmp(&w.qscale[n], &sw, 4) != 0 || w.qsum[n] != sum;
    }
    CHECKF(!bad_q && !bad_s, "%s: %zu quantized weights and %zu scales/sums differ", tag, bad_q,
           bad_s);
    /* the expected output */
    const float *bias = use_bias ? b : NULL;
    double err2 = 0, ref2 = 0;
    for (size_t m = 0; m < M; m++) {
        const float *x = X + m * K;
        float amax = 0;
        int nan = 0;
        for (size_t k = 0; k < K; k++) {
            nan |= isnan(x[k]);
            amax = fmaxf(amax, fabsf(x[k]));
        }
        float inv = amax > 0 ? fminf(127.0f / amax, FLT_MAX) : 0.0f;
        float sx = nan ? NAN : amax / 127.0f;
        for (size_t k = 0; k < K; k++)
            qx[k] = nan ? 0 : (int32_t)fmaxf(-127.0f, fminf(127.0f, nearbyintf(x[k] * inv)));
        for (size_t n = 0; n < N; n++) {
            int64_t d = 0;
            double ref = bias ? bias[n] : 0;
            for (size_t k = 0; k < K; k++) {
                d += (int64_t)qx[k] * qw[n * K + k];
                ref += (double)x[k] * Wr[n * K + k];
            }
            float sc = w.qscale[n] * sx;
            float y = (float)d * sc;
            if (bias) y = y + bias[n];
            Ye[m * N + n] = y;
            if (!nan) {
                err2 += (y - ref) * (y - ref);
                ref2 += ref * ref;
            }
        }
    }
    void *qs = malloc(oc_gemm_i8_scratch(M, K));
    for (int th = 0; th < 3; th++) {
        Y[th] = malloc(M * N * sizeof(float));
        oc_gemm_i8(X, M, &w, bias, Y[th], th + 1, qs);
    }
    size_t diff = 0;
    for (size_t i = 0; i < M * N; i++)
        diff += isnan(Ye[i]) ? !isnan(Y[0][i]) : memcmp(&Ye[i], &Y[0][i], 4) != 0;
    CHECKF(!diff, "%s: %zu of %zu outputs differ from the integer reference", tag, diff, M * N);
    CHECKF(!memcmp(Y[0], Y[1], M * N * sizeof(float)) &&
           !memcmp(Y[0], Y[2], M * N * sizeof(float)), "%s: bytes differ across threads", tag);
    if (M > 1)
        for (size_t n = 0; n < N; n++)
            CHECKF(Y[0][n] == (bias ? bias[n] : 0.0f), "%s: zero row, column %zu: %g", tag, n,
                   Y[0][n]);
    if (M > 3) { /* rows 1 .. M-2 alone: the same bytes */
        oc_gemm_i8(X + K, M - 2, &w, bias, Y[1], 1, qs);
        CHECKF(!memcmp(Y[0] + N, Y[1], (M - 2) * N * sizeof(float)), "%s: row subset differs",
               tag);
    }
    /* near the float GEMM: relative RMS error of 8-bit rounding on both sides */
    double rel = ref2 > 0 ? sqrt(err2 / ref2) : 0;
    CHECKF(rel < 0.02, "%s: relative RMS error vs float %.4f", tag, rel);
    for (int th = 0; th < 3; th++) free(Y[th]);
    free(qs);
done:
    oc_weight_unpack(&w);
    free(X), free(Wl), free(Wr), free(b), free(Ye), free(Ws), free(qw), free(qx);
}

/* The GEMM epilogues (oc_gemm_ep, oc_gemm_i8_ep): bias + activation and the residual add
 * (res += gamma * Y, res += Y) done on each block of Y inside the GEMM's region give the bytes
 * of the separate passes (oc_gemm, then oc_activate, then the addition), for 1-3 threads and
 * over weights in fp32 and int8; shapes whose row blocks and panel chunks differ by thread. */
static void test_gemm_epilogue(void) {
    static const size_t shapes[][3] = {{1, 40, 33}, {13, 100, 70}, {50, 200, 96}, {120, 70, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int q8 = 0; q8 < 2; q8++)
            for (int a = 0; a < 4; a++) { /* 3: no activation */
                size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                float *X = malloc(M * K * 4), *W = malloc(N * K * 4), *b = malloc(N * 4);
                float *g = malloc(N * 4), *Y0 = malloc(M * N * 4), *R0 = malloc(M * N * 4);
                float *Y1 = malloc(M * N * 4), *R1 = malloc(M * N * 4);
                for (size_t i = 0; i < M * K; i++) X[i] = rnd() * 4.0f;
                for (size_t i = 0; i < N * K; i++) W[i] = rnd() * 0.2f;
                for (size_t i = 0; i < N; i++) b[i] = rnd(), g[i] = rnd();
                oc_weight w = {(const uint8_t *)W, OCLIP_DTYPE_F32, N, K, 0, NULL,
                               OCLIP_DTYPE_F32, 0, NULL, NULL};
                if (q8) CHECK(oc_weight_pack(&w, OCLIP_DTYPE_I8, 0, 1, NULL) == OCLIP_OK);
                else if (oc_kernels_get()->pack_weights)
                    CHECK(oc_weight_pack(&w, OCLIP_DTYPE_F32, 0, 1, NULL) == OCLIP_OK);
                void *qs = malloc(oc_gemm_i8_scratch(M, K));
                const float *gam = s % 2 ? g : NULL;
                for (int th = 1; th <= 3; th++) {
                    for (size_t i = 0; i < M * N; i++) R0[i] = R1[i] = rnd();
                    /* separate passes */
                    if (q8) oc_gemm_i8(X, M, &w, b, Y0, th, qs);
                    else oc_gemm(X, M, &w, b, Y0, th);
                    if (a < 3) oc_activate(Y0, M * N, (oc_act)a, th);
                    for (size_t i = 0; i < M * N; i++) R0[i] += gam ? gam[i % N] * Y0[i] : Y0[i];
                    /* fused */
                    oc_epilogue ep = {a < 3, a < 3 ? (oc_act)a : OC_ACT_GELU, R1, gam};
                    if (q8) oc_gemm_i8_ep(X, M, &w, b, Y1, &ep, th, qs);
                    else oc_gemm_ep(X, M, &w, b, Y1, &ep, th);
                    CHECKF(!memcmp(Y0, Y1, M * N * 4) && !memcmp(R0, R1, M * N * 4),
                           "%s epilogue M%zu N%zu K%zu int8=%d act=%d threads=%d: bytes differ",
                           path_name, M, N, K, q8, a, th);
                }
                oc_weight_unpack(&w);
                free(qs), free(X), free(W), free(b), free(g), free(Y0), free(R0), free(Y1),
                    free(R1);
            }
}

/* The int8 GEMM at the int16 edge: every |q_x| = |q_w| = 127, signs chosen so that every product
 * is +127 * 127 (rows 0, 2) or -127 * 127 (row 1), so each pair of products that a
 * vpmaddubsw-style kernel adds in int16 is +-32258 (and would saturate with the activation
 * bytes q_x + 128: 2 * 255 * 127 > 32767); zero rows and columns around them. The sums are
 * exact: d = +-127 * 127 * K, Y = (float)d * (s_w * s_x) + bias. */
static void test_gemm_i8_edge(void) {
    size_t M = 4, N = 40, K = 68, Kq = K;
    float *X = calloc(M * K, 4), *W = calloc(N * K, 4), *b = malloc(N * 4), *Y = malloc(M * N * 4);
    for (size_t k = 0; k < K; k++) {
        float sg = k % 3 == 0 ? -1.0f : 1.0f;
        X[k] = 2.0f * sg, X[K + k] = -2.0f * sg, X[2 * K + k] = 3.0f * sg; /* row 3: zeros */
        for (size_t n = 0; n + 1 < N; n++) W[n * K + k] = (n % 2 ? 0.5f : 0.25f) * sg;
    }
    for (size_t n = 0; n < N; n++) b[n] = (float)n * 0.125f;
    oc_weight w = {(const uint8_t *)W, OCLIP_DTYPE_F32, N, K, 0, NULL, OCLIP_DTYPE_F32, 0, NULL,
                   NULL};
    CHECK(oc_weight_pack(&w, OCLIP_DTYPE_I8, 0, 1, NULL) == OCLIP_OK);
    void *qs = malloc(oc_gemm_i8_scratch(M, Kq));
    for (int th = 1; th <= 2; th++) {
        oc_gemm_i8(X, M, &w, b, Y, th, qs);
        size_t bad = 0;
        for (size_t m = 0; m < M; m++)
            for (size_t n = 0; n < N; n++) {
                int64_t d = m == 3 || n + 1 == N ? 0 : (m == 1 ? -1 : 1) * 127 * 127 * (int64_t)K;
                float amax = m == 3 ? 0.0f : m == 2 ? 3.0f : 2.0f, sx = amax / 127.0f;
                float y = (float)d * (w.qscale[n] * sx) + b[n];
                bad += memcmp(&y, &Y[m * N + n], 4) != 0;
            }
        CHECKF(!bad, "%s gemm_i8 at the int16 edge, %d threads: %zu of %zu outputs differ",
               path_name, th, bad, M * N);
    }
    oc_weight_unpack(&w);
    free(qs), free(X), free(W), free(b), free(Y);
}

static void test_gemm_i8(void) {
    static const size_t shapes[][3] = {{1, 1, 1},    {2, 5, 3},     {3, 33, 5},  {13, 70, 7},
                                       {25, 40, 130}, {50, 64, 771}, {7, 96, 768}, {70, 33, 120}};
    static const oclip_dtype dts[] = {OCLIP_DTYPE_F32, OCLIP_DTYPE_F16, OCLIP_DTYPE_BF16};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int d = 0; d < 3; d++)
            gemm_i8_case(shapes[s][0], shapes[s][1], shapes[s][2], dts[d], (int)(s + d) & 1,
                         (int)(s + d + 1) & 1 || s == 0);
    const char *i8 = oc_kernels_get()->i8_name;
    fprintf(stderr, "  %s: gemm_i8 kernel %s\n", path_name, i8);
    CHECK(strcmp(i8, "reference") != 0 || oc_simd_get() == OC_SIMD_SCALAR);
    CHECK(!strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_I8), i8));
    CHECK(oclip_dtype_kernel_name(OCLIP_DTYPE_F32) == NULL);
    CHECK(!strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_F16),
                  oc_simd_get() == OC_SIMD_SCALAR ? "as-stored" : "widened"));
}

/* The neon path's int8 kernels, called directly (the table holds one of them): SDOT where this
 * CPU has the dot-product extension, and the widening-multiply kernel everywhere (so a CPU with
 * SDOT checks both). Each gives the reference kernel's bytes on the same quantized rows, over
 * shapes with tails in the rows (tiles of 4), the columns (8 or 16 per step, N past a panel) and
 * the depth; for panel ranges computed apart and for a subset of rows; a zero row gives the bias,
 * a NaN row NaN; nothing is written past the output. */
static void test_neon_i8(void) {
    const oc_isa *kern[2] = {oc_isa_neon(), oc_isa_neon_dot()};
    static const char *const names[2] = {"neon", "neon-sdot"};
    int dot = (oc_cpu_features() & OC_CPU_NEON_DOT) != 0;
    CHECK(kern[0] && kern[0]->gemm_i8);
    if (!dot) kern[1] = NULL;
    CHECK(!dot || (kern[1] && kern[1]->gemm_i8));
    CHECK(!strcmp(oc_kernels_get()->i8_name, kern[1] ? "neon-sdot" : "neon"));
    static const size_t shapes[][3] = {{1, 1, 1},   {2, 5, 3},    {5, 33, 9},   {7, 70, 130},
                                       {4, 16, 8},  {9, 96, 768}, {13, 40, 1001}, {6, 8, 4}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        size_t Kq = (K + 3) & ~(size_t)3, panels = (N + OC_PANEL - 1) / OC_PANEL;
        float *X = malloc(M * K * sizeof(float)), *Wl = malloc(N * K * sizeof(float));
        float *b = malloc(N * sizeof(float)), *Yr = malloc(M * N * sizeof(float));
        float *Y = malloc((M * N + 8) * sizeof(float)), *Y2 = malloc(M * N * sizeof(float));
        uint8_t *xq = malloc(M * Kq);
        float *xs = malloc(M * sizeof(float));
        for (size_t i = 0; i < M * K; i++) X[i] = rnd() * 3.0f;
        for (size_t i = 0; i < N * K; i++) Wl[i] = rnd() * (1.0f + (float)(i % 5));
        for (size_t i = 0; i < N; i++) b[i] = rnd();
        if (M > 1) memset(X, 0, K * sizeof(float)); /* row 0: zeros */
        if (M > 2) X[(M - 1) * K + K / 3] = NAN;    /* last row: a NaN */
        oc_weight w = {(const uint8_t *)Wl, OCLIP_DTYPE_F32, N, K, 0, NULL, OCLIP_DTYPE_F32, 0,
                       NULL, NULL};
        CHECK(oc_weight_pack(&w, OCLIP_DTYPE_I8, 0, 1, NULL) == OCLIP_OK && w.packed);
        for (size_t m = 0; m < M; m++)
            oc_isa_scalar.quant_i8(X + m * K, K, Kq, xq + m * Kq, xs + m);
        const float *bias = s & 1 ? NULL : b;
        oc_isa_scalar.gemm_i8(xq, xs, M, &w, bias, Yr, 0, panels);
        for (int v = 0; v < 2 && w.packed; v++) {
            if (!kern[v]) continue;
            char tag[120];
            snprintf(tag, sizeof tag, "%s int8 kernel M%zu N%zu K%zu bias=%d", names[v], M, N, K,
                     bias != NULL);
            for (size_t i = 0; i < M * N + 8; i++) Y[i] = -7.0f;
            kern[v]->gemm_i8(xq, xs, M, &w, bias, Y, 0, panels);
            size_t diff = 0, guard = 0;
            for (size_t i = 0; i < M * N; i++)
                diff += isnan(Yr[i]) ? !isnan(Y[i]) : memcmp(&Yr[i], &Y[i], 4) != 0;
            for (size_t i = M * N; i < M * N + 8; i++) guard += Y[i] != -7.0f;
            CHECKF(!diff && !guard, "%s: %zu outputs differ from the reference, %zu written past",
                   tag, diff, guard);
            if (M > 2) /* the NaN row (quantized as zeros, NaN scale) */
                CHECKF(isnan(Y[(M - 1) * N]), "%s: NaN row gives %g", tag, Y[(M - 1) * N]);
            if (M > 1)
                for (size_t n = 0; n < N; n++)
                    CHECKF(Y[n] == (bias ? bias[n] : 0.0f), "%s: zero row, column %zu: %g", tag,
                           n, Y[n]);
            if (panels > 1) { /* panel 0, then the rest: the same bytes */
                kern[v]->gemm_i8(xq, xs, M, &w, bias, Y2, 0, 1);
                kern[v]->gemm_i8(xq, xs, M, &w, bias, Y2, 1, panels);
                CHECKF(!memcmp(Y, Y2, M * N * sizeof(float)), "%s: panel ranges differ", tag);
            }
            if (M > 3) { /* rows 1 .. M-2 alone */
                kern[v]->gemm_i8(xq + Kq, xs + 1, M - 2, &w, bias, Y2, 0, panels);
                CHECKF(!memcmp(Y + N, Y2, (M - 2) * N * sizeof(float)), "%s: row subset differs",
                       tag);
            }
        }
        oc_weight_unpack(&w);
        free(X), free(Wl), free(b), free(Yr), free(Y), free(Y2), free(xq), free(xs);
    }
    fprintf(stderr, "  neon: int8 kernels checked: neon%s\n",
            dot ? ", neon-sdot" : " (this CPU has no SDOT)");
}

static void test_rows(const oc_isa *k) {
    static const size_t Ds[] = {1, 7, 16, 33, 768, 1000};
    for (size_t di = 0; di < sizeof Ds / sizeof *Ds; di++) {
        size_t D = Ds[di], R = 5;
        float *x = malloc(R * D * sizeof(float)), *w = malloc(D * sizeof(float));
        float *bb = malloc(D * sizeof(float)), *y = malloc(R * D * sizeof(float));
        float *ys = malloc(R * D * sizeof(float));
        for (size_t i = 0; i < R * D; i++) x[i] = rnd() * 3 + 0.5f;
        for (size_t i = 0; i < D; i++) w[i] = rnd(), bb[i] = rnd();
        k->layernorm(x, y, 0, R, D, w, bb, 1e-5f);
        oc_isa_scalar.layernorm(x, ys, 0, R, D, w, bb, 1e-5f);
        double md = 0;
        for (size_t i = 0; i < R * D; i++) md = fmax(md, fabs((double)y[i] - ys[i]));
        CHECKF(md <= 1e-5, "%s layernorm D=%zu: max diff %.3g", path_name, D, md);
        k->layernorm(x, x, 0, R, D, w, bb, 1e-5f); /* in place */
        CHECKF(!memcmp(x, y, R * D * sizeof(float)), "%s layernorm D=%zu in place", path_name, D);
        free(x), free(w), free(bb), free(y), free(ys);
    }
    /* activations: a grid over [-12, 12] plus odd lengths (vector tails) */
    size_t n = 24001;
    float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float));
    float *s = malloc(n * sizeof(float));
    static const char *const names[] = {"gelu", "gelu_tanh", "quick_gelu"};
    for (int act = 0; act < 3; act++) {
        for (size_t i = 0; i < n; i++) x[i] = -12.0f + 24.0f * (float)i / (float)(n - 1);
        memcpy(a, x, n * sizeof(float));
        memcpy(s, x, n * sizeof(float));
        k->act(a, 0, n, (oc_act)act);
        k->act(a, 0, 0, (oc_act)act);
        oc_isa_scalar.act(s, 0, n, (oc_act)act);
        double md = 0;
        for (size_t i = 0; i < n; i++)
            md = fmax(md, fabs((double)a[i] - s[i]) / fmax(1.0, fabs((double)x[i])));
        CHECKF(md <= 1e-6, "%s %s: max diff %.3g", path_name, names[act], md);
        /* split in odd ranges: the same bytes */
        memcpy(s, x, n * sizeof(float));
        k->act(s, 0, 5, (oc_act)act);
        k->act(s, 5, 1234, (oc_act)act);
        k->act(s, 1234, n, (oc_act)act);
        CHECKF(!memcmp(a, s, n * sizeof(float)), "%s %s: split ranges differ", path_name,
               names[act]);
    }
    free(x), free(a), free(s);
}

static void test_erf_exp(const oc_isa *k) {
    /* every float in [-8, 8] with a step of 2^-12 plus small magnitudes */
    size_t n = 0, cap = 200000;
    float *x = malloc(cap * sizeof(float)), *y = malloc(cap * sizeof(float));
    for (float v = -8.0f; v <= 8.0f && n < cap; v += 1.0f / 4096) x[n++] = v;
    for (int e = -126; e < 0 && n + 2 < cap; e++) {
        x[n++] = ldexpf(1.37f, e);
        x[n++] = -ldexpf(1.91f, e);
    }
    k->erf(y, x, n);
    double mu = 0;
    for (size_t i = 0; i < n; i++) mu = fmax(mu, ulps(y[i], erff(x[i])));
    CHECKF(mu <= 4, "%s erf: max error %.0f ulp (vs erff)", path_name, mu);
    fprintf(stderr, "  %-7s erf max %.0f ulp vs erff", path_name, mu);
    /* exp over the range where expf is normal, plus the edges */
    n = 0;
    for (float v = -87.3f; v <= 88.3f && n < cap; v += 1.0f / 1024) x[n++] = v;
    k->exp(y, x, n);
    mu = 0;
    for (size_t i = 0; i < n; i++) mu = fmax(mu, ulps(y[i], expf(x[i])));
    CHECKF(mu <= 2, "%s exp: max error %.0f ulp (vs expf)", path_name, mu);
    fprintf(stderr, ", exp max %.0f ulp vs expf\n", mu);
    /* below FLT_MIN: expf's subnormal or 0 (the vector exp flushes); overflow: inf */
    float edge[6] = {-1000.0f, -88.0f, 89.0f, 1000.0f, NAN, 0.0f}, ey[6];
    k->exp(ey, edge, 6);
    CHECK(ey[0] == 0 && ey[1] >= 0 && ey[1] < 1.2e-38f && isinf(ey[2]) && isinf(ey[3]) && isnan(ey[4]) &&
          ey[5] == 1.0f);
    float ex[4] = {-30.0f, 30.0f, 0.0f, -0.0f}, ery[4];
    k->erf(ery, ex, 4);
    CHECK(ery[0] == -1.0f && ery[1] == 1.0f && ery[2] == 0.0f && ery[3] == 0.0f);
    free(x), free(y);
}

/* ---------------------------------------------------------------------------------------------
 * Attention
 */
static void att_case(size_t N, size_t T, size_t D, size_t H, int causal) {
    float *qkv = malloc(N * T * 3 * D * sizeof(float));
    float *o[3], *os = malloc(N * T * D * sizeof(float));
    for (size_t i = 0; i < N * T * 3 * D; i++) qkv[i] = rnd() * 2;
    char tag[100];
    snprintf(tag, sizeof tag, "%s attention N%zu T%zu D%zu H%zu causal=%d", path_name, N, T, D, H,
             causal);
    for (int th = 0; th < 3; th++) {
        o[th] = malloc(N * T * D * sizeof(float));
        CHECK(oc_attention(qkv, o[th], N, T, D, H, causal, th + 1, NULL) == OCLIP_OK);
    }
    CHECKF(!memcmp(o[0], o[1], N * T * D * sizeof(float)) &&
           !memcmp(o[0], o[2], N * T * D * sizeof(float)), "%s: threads differ", tag);
    oc_simd cur = oc_simd_get();
    oc_simd_set(OC_SIMD_SCALAR);
    CHECK(oc_attention(qkv, os, N, T, D, H, causal, 1, NULL) == OCLIP_OK);
    oc_simd_set(cur);
    double md = 0;
    for (size_t i = 0; i < N * T * D; i++) md = fmax(md, fabs((double)o[0][i] - os[i]));
    CHECKF(md <= 2e-6, "%s: max diff vs scalar %.3g", tag, md);
    if (causal && T > 3) { /* the first T' rows from a sequence of T' tokens: the same bytes */
        size_t Tt = T - 3;
        float *q2 = malloc(N * Tt * 3 * D * sizeof(float)), *o2 = malloc(N * Tt * D * sizeof(float));
        for (size_t n = 0; n < N; n++)
            memcpy(q2 + n * Tt * 3 * D, qkv + n * T * 3 * D, Tt * 3 * D * sizeof(float));
        CHECK(oc_attention(q2, o2, N, Tt, D, H, causal, 2, NULL) == OCLIP_OK);
        int same = 1;
        for (size_t n = 0; n < N; n++)
            same &= !memcmp(o2 + n * Tt * D, o[0] + n * T * D, Tt * D * sizeof(float));
        CHECKF(same, "%s: truncated sequence differs", tag);
        free(q2), free(o2);
    }
    for (int th = 0; th < 3; th++) free(o[th]);
    free(qkv), free(os);
}

static void test_attention(void) {
    static const size_t cases[][4] = {{1, 1, 8, 1},  {2, 5, 12, 3},  {2, 17, 24, 3},
                                      {1, 50, 128, 2}, {3, 33, 64, 1}, {1, 77, 96, 1},
                                      {2, 20, 80, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int causal = 0; causal < 2; causal++)
            att_case(cases[c][0], cases[c][1], cases[c][2], cases[c][3], causal);
}

/* ---- thread pool ---------------------------------------------------------------------------- */

typedef struct {
    unsigned char *hits; /* per index: ranges that covered it */
    int slow;            /* 1: ranges t >= 1 sleep 2 ms; 2: range 0 does */
    int nested;          /* each range also starts a region of its own */
    int nested_ok;
    size_t longest, shortest; /* the longest and shortest ranges seen (atomic) */
    size_t least;             /* ranges shorter than this are counted in below_least (atomic) */
    int below_least;
} pool_ctx;

static void pool_inner(void *ctx, size_t i0, size_t i1, int t) {
    (void)t;
    int *count = ctx;
    __atomic_add_fetch(count, (int)(i1 - i0), __ATOMIC_RELAXED);
}

static void pool_range(void *ctx, size_t i0, size_t i1, int t) {
    pool_ctx *c = ctx;
    if ((c->slow == 1 && t >= 1) || (c->slow == 2 && t == 0)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = i0; i < i1; i++) c->hits[i]++; /* ranges are disjoint: no race */
    size_t len = i1 - i0, seen = __atomic_load_n(&c->longest, __ATOMIC_RELAXED);
    while (len > seen && !__atomic_compare_exchange_n(&c->longest, &seen, len, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    if (len < c->least) __atomic_add_fetch(&c->below_least, 1, __ATOMIC_RELAXED);
    seen = __atomic_load_n(&c->shortest, __ATOMIC_RELAXED);
    while (len < seen && !__atomic_compare_exchange_n(&c->shortest, &seen, len, 1,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    if (c->nested) {
        int count = 0;
        oc_parallel(3, 10, pool_inner, &count); /* the pool is busy: inline, all 10 */
        if (count == 10) __atomic_add_fetch(&c->nested_ok, 1, __ATOMIC_RELAXED);
    }
}

static void test_pool(void) {
    static const size_t ns[] = {1, 2, 3, 7, 64, 1001};
    unsigned char hits[1001];
    for (int nth = 1; nth <= 4; nth++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (int mode = 0; mode < 4; mode++) {
                size_t n = ns[ni];
                memset(hits, 0, n);
                /* mode 0: no sleep; 1: workers slow (the caller sleeps); 2: the caller slow (the
                 * workers sleep before the next region); 3: nested regions */
                pool_ctx c = {hits, mode == 1 || mode == 2 ? mode : 0, mode == 3, 0, 0,
                              SIZE_MAX, 0, 0};
                oc_parallel(nth, n, pool_range, &c);
                size_t bad = 0;
                for (size_t i = 0; i < n; i++) bad += hits[i] != 1;
                CHECKF(bad == 0, "pool: nth %d n %zu mode %d: %zu indices not covered once", nth,
                       n, mode, bad);
                if (mode == 3) {
                    int ranges = nth < (int)n ? nth : (int)n;
                    CHECKF(c.nested_ok == ranges, "pool: nested regions: %d of %d complete",
                           c.nested_ok, ranges);
                }
                /* chunks taken in turn: each index once, whatever the sizes (0 = 1); no chunk
                 * longer than `most`; shorter than `least` only for the last items (at most one
                 * such chunk); with least 1 the last ones single items (guided), whenever more
                 * than one thread takes part */
                static const size_t chunks[][2] = {{0, 0}, {1, 1}, {3, 1}, {3, 3}, {64, 1},
                                                   {64, 16}, {64, 64}, {5000, 1}};
                for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++) {
                    size_t most = chunks[ci][0] ? chunks[ci][0] : 1, least = chunks[ci][1];
                    memset(hits, 0, n);
                    c.nested_ok = 0;
                    c.longest = 0;
                    c.shortest = SIZE_MAX;
                    c.least = least;
                    c.below_least = 0;
                    oc_parallel_chunks(nth, n, chunks[ci][0], least, pool_range, &c);
                    bad = 0;
                    for (size_t i = 0; i < n; i++) bad += hits[i] != 1;
                    CHECKF(bad == 0, "pool: chunks of %zu-%zu, nth %d n %zu mode %d: %zu indices "
                           "not covered once", least, most, nth, n, mode, bad);
                    int several = nth > 1 && n > most;
                    CHECKF(!several || (c.longest <= most && c.below_least <= 1 &&
                                        (least > 1 || c.shortest == 1)),
                           "pool: chunks of %zu-%zu, nth %d n %zu: ranges of %zu to %zu, %d "
                           "under %zu", least, most, nth, n, c.shortest, c.longest,
                           c.below_least, least);
                }
                /* owned shares: each index once, no chunk longer than the unit (0 = 1) */
                static const size_t units[] = {0, 1, 3, 64};
                for (size_t ui = 0; ui < sizeof units / sizeof *units; ui++) {
                    size_t unit = units[ui] ? units[ui] : 1;
                    memset(hits, 0, n);
                    c.nested_ok = 0;
                    c.longest = 0;
                    oc_parallel_owned(nth, n, units[ui], pool_range, &c);
                    bad = 0;
                    for (size_t i = 0; i < n; i++) bad += hits[i] != 1;
                    CHECKF(bad == 0 && (nth == 1 || c.longest <= unit), "pool: owned shares in "
                           "units of %zu, nth %d n %zu mode %d: %zu indices not covered once, "
                           "a chunk of %zu", unit, nth, n, mode, bad, c.longest);
                }
            }
}

/* Owned shares with a slow thread: the other takes the end of its share. The caller sleeps 1 ms
 * per item, the worker 4 ms; the caller, done with its own half, takes items from the back of
 * the worker's. */
typedef struct {
    int who[64];
} owner_ctx;

static void owner_range(void *ctx, size_t i0, size_t i1, int t) {
    owner_ctx *c = ctx;
    struct timespec ts = {0, t == 1 ? 4000000 : 1000000};
    nanosleep(&ts, NULL);
    for (size_t i = i0; i < i1; i++) c->who[i] = t;
}

static void test_pool_owned_steals(void) {
    owner_ctx c;
    memset(&c, 0xff, sizeof c);
    oc_parallel_owned(2, 64, 1, owner_range, &c);
    int own = 1, stolen = 0;
    for (int i = 0; i < 32; i++) own &= c.who[i] == 0; /* the caller's share: its own */
    for (int i = 32; i < 64; i++) stolen += c.who[i] == 0;
    CHECKF(own && stolen > 0 && c.who[32] == 1 && c.who[63] == 0, "pool: owned shares: the "
           "caller took %d of the slow worker's 32 items (first by %d, last by %d)", stolen,
           c.who[32], c.who[63]);
}

/* A worker asleep when a region starts (between regions longer than its spin) may wake after
 * the caller, done with its own range, has run the worker's range itself: every range still runs
 * exactly once per region, and never two ranges with the same t at once. Regions with gaps of 0
 * to 300 microseconds, so that the workers are sometimes spinning and sometimes asleep. */
typedef struct {
    int hits[3];
    int inside[3];
    int overlap;
} revoke_ctx;

static void revoke_range(void *ctx, size_t i0, size_t i1, int t) {
    revoke_ctx *c = ctx;
    if (__atomic_exchange_n(&c->inside[t], 1, __ATOMIC_ACQ_REL))
        __atomic_store_n(&c->overlap, 1, __ATOMIC_RELAXED);
    for (size_t i = i0; i < i1; i++) __atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
    __atomic_store_n(&c->inside[t], 0, __ATOMIC_RELEASE);
}

static void test_pool_sleeping_worker(void) {
    static revoke_ctx cs[400]; /* kept, and checked after a pause: a late second run shows */
    memset(cs, 0, sizeof cs);
    for (int r = 0; r < 400; r++) {
        struct timespec ts = {0, (long)(rng = rng * 1103515245u + 12345u) % 300 * 1000};
        nanosleep(&ts, NULL);
        oc_parallel(3, 3, revoke_range, &cs[r]);
    }
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    int bad = 0, overlap = 0;
    for (int r = 0; r < 400; r++) {
        revoke_ctx *c = &cs[r];
        bad += __atomic_load_n(&c->hits[0], __ATOMIC_RELAXED) != 1 ||
               __atomic_load_n(&c->hits[1], __ATOMIC_RELAXED) != 1 ||
               __atomic_load_n(&c->hits[2], __ATOMIC_RELAXED) != 1;
        overlap += __atomic_load_n(&c->overlap, __ATOMIC_RELAXED);
    }
    CHECKF(bad == 0 && overlap == 0, "pool: workers woken late: %d of 400 regions did not run "
           "each range once, %d ran one range on two threads at once", bad, overlap);
}

/* Chunks whose longest allowed size is all the items (the convolutions' tiles and depthwise
 * positions: oc_parallel_chunks(nth, n, n, least, ...)) are still shared by every thread: each
 * range waits (up to 5 s) until two threads have taken one, which never happens if the region
 * runs on one thread. */
typedef struct {
    int arrived[2];
    int both;
} meet_ctx;

static void meet_range(void *ctx, size_t i0, size_t i1, int t) {
    (void)i0;
    (void)i1;
    meet_ctx *c = ctx;
    __atomic_store_n(&c->arrived[t ? 1 : 0], 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(&c->arrived[0], __ATOMIC_SEQ_CST) &&
            __atomic_load_n(&c->arrived[1], __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&c->both, 1, __ATOMIC_SEQ_CST);
            return;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_pool_chunks_shared(void) {
    static const size_t least[] = {1, 4};
    for (size_t i = 0; i < sizeof least / sizeof *least; i++) {
        meet_ctx c = {{0, 0}, 0};
        oc_parallel_chunks(2, 64, 64, least[i], meet_range, &c);
        CHECKF(c.both, "pool: chunks of %zu-64 over 64 items with 2 threads ran on one thread",
               least[i]);
    }
}

/* ---- the dispatch table: overrides, first use from several threads ------------------------ */

static const oc_isa *isa_of(oc_simd s) {
    return s == OC_SIMD_AVX512 ? oc_isa_avx512() : s == OC_SIMD_AVX2 ? oc_isa_avx2()
                                               : s == OC_SIMD_NEON   ? oc_isa_neon()
                                                                    : &oc_isa_scalar;
}

static int amx_bf16_on(void) { return !strcmp(oc_kernels_get()->bf16_name, "amx-bf16"); }
static int amx_int8_on(void) { return !strcmp(oc_kernels_get()->i8_name, "amx-int8"); }

/* the best path here (features only: no table is built) */
static oc_simd best_here(void) {
    oc_simd b = OC_SIMD_SCALAR;
    for (int s = 0; s < OC_SIMD_COUNT; s++)
        if (oc_simd_supported((oc_simd)s)) b = (oc_simd)s;
    return b;
}

static int contains(const char *s, const char *part) { return s && strstr(s, part); }

static void *first_use(void *p) {
    *(const oc_kernels **)p = oc_kernels_get();
    return NULL;
}

/* One process per environment (the table is chosen once per process): the path and AMX it
 * selects and the warning it leaves, which names the value and what is used instead. */
static void env_case(const char *simd, const char *amx) {
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        test_failed_ = 0; /* this child's own checks */
        if (simd) setenv("OCLIP_SIMD", simd, 1);
        else unsetenv("OCLIP_SIMD");
        if (amx) setenv("OCLIP_AMX", amx, 1);
        else unsetenv("OCLIP_AMX");
        /* first use from four threads at once: one table for all */
        const oc_kernels *seen[4] = {0};
        pthread_t tid[4];
        int started = 0;
        for (int i = 0; i < 4; i++)
            started += pthread_create(&tid[i], NULL, first_use, &seen[i]) == 0;
        for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
        CHECK(started == 4);
        const oc_kernels *k = oc_kernels_get();
        for (int i = 0; i < started; i++) CHECK(seen[i] == k);
        oc_simd best = best_here(), want = best;
        int named = -1;
        for (int s = 0; simd && s < OC_SIMD_COUNT; s++)
            if (!strcmp(simd, oc_simd_name((oc_simd)s))) named = s;
        if (named >= 0 && oc_simd_supported((oc_simd)named)) want = (oc_simd)named;
        int amx_here = (oc_cpu_features() & (OC_CPU_AMX_BF16 | OC_CPU_AMX_INT8)) != 0;
        const char *w = oc_simd_warning();
        char tag[120];
        snprintf(tag, sizeof tag, "OCLIP_SIMD=%s OCLIP_AMX=%s", simd ? simd : "(unset)",
                 amx ? amx : "(unset)");
        CHECKF(k->path == want && oc_simd_get() == want && !strcmp(oclip_simd_name(),
               oc_simd_name(want)), "%s: path %s, want %s", tag, oc_simd_name(k->path),
               oc_simd_name(want));
        CHECKF(k->amx == !(amx && !strcmp(amx, "0")), "%s: amx %d", tag, k->amx);
        int simd_bad = simd && simd[0] && want != (oc_simd)named;
        int amx_bad = amx && amx[0] && strcmp(amx, "0") &&
                      (strcmp(amx, "1") || !amx_here || want != OC_SIMD_AVX512);
        char part[80];
        if (simd_bad) {
            snprintf(part, sizeof part, "OCLIP_SIMD=%s", simd);
            CHECKF(contains(w, part), "%s: warning \"%s\"", tag, w ? w : "(none)");
            snprintf(part, sizeof part, "using %s", oc_simd_name(best));
            CHECKF(contains(w, part), "%s: warning \"%s\"", tag, w ? w : "(none)");
        }
        if (amx_bad) {
            snprintf(part, sizeof part, "OCLIP_AMX=%s", amx);
            CHECKF(contains(w, part), "%s: warning \"%s\"", tag, w ? w : "(none)");
        }
        CHECKF(!!w == (simd_bad || amx_bad), "%s: warning \"%s\"", tag, w ? w : "(none)");
        if (w) fprintf(stderr, "  %s: \"%s\"\n", tag, w);
        fflush(stderr);
        _exit(test_failed_ ? 1 : 0);
    }
    int status = 0;
    CHECKF(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0, "OCLIP_SIMD=%s OCLIP_AMX=%s: the child failed",
           simd ? simd : "(unset)", amx ? amx : "(unset)");
}

static void test_overrides(void) {
    static const char *const simd[] = {NULL, "", "scalar", "avx2", "avx512", "neon",
                                       "no-such-path", "AVX2"};
    for (size_t i = 0; i < sizeof simd / sizeof *simd; i++) env_case(simd[i], NULL);
    static const char *const amx[] = {"", "0", "1", "yes"};
    for (size_t i = 0; i < sizeof amx / sizeof *amx; i++) {
        env_case(NULL, amx[i]);
        env_case("avx2", amx[i]);
    }
    env_case("no-such-path", "yes"); /* both: two sentences */
}

int main(void) {
    /* before this process builds its own table (each case forks); then every path in turn,
     * starting from the best (the overrides of the caller's environment do not apply here) */
    test_overrides();
    unsetenv("OCLIP_SIMD");
    unsetenv("OCLIP_AMX");
    oc_simd best = oc_simd_get();
    CHECK(best == best_here());
    for (int s = best + 1; s < OC_SIMD_COUNT; s++) CHECK(!oc_simd_supported((oc_simd)s));
    CHECK(!strcmp(oclip_simd_name(), oc_simd_name(best)));
    CHECK(!oc_simd_set((oc_simd)7) && oc_simd_get() == best);
    for (int s = 0; s < OC_SIMD_COUNT; s++) {
        if (!oc_simd_supported((oc_simd)s)) {
            fprintf(stderr, "  %s: not supported here, skipped\n", oc_simd_name((oc_simd)s));
            CHECK(!oc_simd_set((oc_simd)s));
            continue;
        }
        CHECK(oc_simd_set((oc_simd)s) && oc_simd_get() == (oc_simd)s);
        path_name = oc_simd_name((oc_simd)s);
        CHECK(!strcmp(oclip_simd_name(), path_name));
        const oc_isa *k = isa_of((oc_simd)s);
        CHECK(k != NULL);
        if (!k) continue;
        test_gemm();
        test_gemm_i8();
        test_gemm_epilogue();
        test_gemm_i8_edge();
        if (s == OC_SIMD_NEON) test_neon_i8();
        /* BF16 k pairs and int8 panels go to AMX where this CPU has it: the AVX512-BF16 and
         * AVX512-VNNI kernels then too */
        if (s == OC_SIMD_AVX512 && (amx_bf16_on() || amx_int8_on())) {
            fprintf(stderr, "  avx512: gemm on AMX (bf16 %d, int8 %d) checked; again without\n",
                    amx_bf16_on(), amx_int8_on());
            oc_amx_set(0);
            CHECK(!amx_bf16_on() && !amx_int8_on());
            CHECK(strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_BF16), "amx-bf16") &&
                  strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_I8), "amx-int8"));
            test_gemm();
            test_gemm_i8();
            oc_amx_set(1);
            CHECK(!strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_BF16), amx_bf16_on() ? "amx-bf16"
                                                                                : "avx512-bf16"));
            CHECK(!strcmp(oclip_dtype_kernel_name(OCLIP_DTYPE_I8), amx_int8_on() ? "amx-int8"
                                                                              : "avx512-vnni"));
        }
        test_rows(k);
        test_erf_exp(k);
        test_attention();
    }
    oc_simd_set(best);
    test_pool();
    test_pool_chunks_shared();
    test_pool_sleeping_worker();
    test_pool_owned_steals();
    return TEST_REPORT("test_kernels");
}
