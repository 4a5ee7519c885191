/*
 * kernels.c — the scalar fp32 reference kernels (GEMM over weights as stored, LayerNorm,
 * activations, attention), the packed weight copies the SIMD paths read, and the entry points
 * that dispatch to the path in use (cpu.c; SIMD kernels in kernels_avx2.c / kernels_avx512.c,
 * written once in kernels_simd.h). The scalar code is plain C that the compiler may vectorise
 * across output columns (which does not change any element's arithmetic); no -ffast-math, no FMA
 * contraction (-std=c11 turns it off), so every element's value is fixed by the code below and
 * independent of the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

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

static void gemm_range(void *p, size_t p0, size_t p1, int t) {
    (void)t;
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

/* Scalar reference GEMM. */
static void gemm_scalar(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                        int nth) {
    gemm_ctx c = {X, M, W, bias, Y};
    size_t panels = (W->n + GEMM_NB - 1) / GEMM_NB;
    oc_parallel(nth, panels, gemm_range, &c);
}

/* =============================================================================================
 * Packed weights for the SIMD paths: panels of OC_PANEL (32) output columns, k-major, so a
 * micro-kernel reads row k of a panel as two (AVX-512) or four (AVX2) contiguous vectors.
 */
void oc_pack_block(const oc_weight *W, size_t p, size_t k0, size_t kb, float *buf) {
    size_t N = W->n, K = W->k, n0 = p * OC_PANEL, es = oclip_dtype_size(W->dtype);
    size_t nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
    if (nb < OC_PANEL)
        for (size_t kk = 0; kk < kb; kk++)
            memset(buf + kk * OC_PANEL + nb, 0, (OC_PANEL - nb) * sizeof(float));
    if (W->kn) {
        for (size_t kk = 0; kk < kb; kk++)
            oc_load_f32(buf + kk * OC_PANEL, W->data + ((k0 + kk) * N + n0) * es, W->dtype, 0, nb);
        return;
    }
    float row[OC_GEMM_KB];
    for (size_t j = 0; j < nb; j++) {
        oc_load_f32(row, W->data + ((n0 + j) * K + k0) * es, W->dtype, 0, kb);
        for (size_t kk = 0; kk < kb; kk++) buf[kk * OC_PANEL + j] = row[kk];
    }
}

typedef struct {
    const oc_weight *W;
    uint8_t *out;
} pack_ctx;

static void pack_range(void *p, size_t p0, size_t p1, int t) {
    (void)t;
    const pack_ctx *c = p;
    const oc_weight *W = c->W;
    size_t K = W->k, ps = oclip_dtype_size(W->pdtype);
    float buf[OC_GEMM_KB * OC_PANEL]; /* 32 KiB: no allocation, so no panel can be left out */
    for (size_t pi = p0; pi < p1; pi++)
        for (size_t k0 = 0; k0 < K; k0 += OC_GEMM_KB) {
            size_t kb = K - k0 < OC_GEMM_KB ? K - k0 : OC_GEMM_KB;
            uint8_t *dst = c->out + (pi * K + k0) * OC_PANEL * ps;
            if (W->pdtype == W->dtype && W->dtype != OCLIP_DTYPE_F32 && !W->pairs) {
                /* F16 / BF16 kept as stored: the 16-bit values are moved, not converted (BF16
                 * in k pairs for the AVX512-BF16 dot products goes through the general path) */
                size_t n0 = pi * OC_PANEL, nb = W->n - n0 < OC_PANEL ? W->n - n0 : OC_PANEL;
                memset(dst, 0, kb * OC_PANEL * 2);
                for (size_t j = 0; j < nb; j++)
                    for (size_t kk = 0; kk < kb; kk++) {
                        size_t e = W->kn ? (k0 + kk) * W->n + n0 + j : (n0 + j) * K + k0 + kk;
                        memcpy(dst + (kk * OC_PANEL + j) * 2, W->data + 2 * e, 2);
                    }
                continue;
            }
            oc_pack_block(W, pi, k0, kb, buf); /* widened exactly */
            if (W->pdtype == OCLIP_DTYPE_F32) {
                memcpy(dst, buf, kb * OC_PANEL * sizeof(float));
            } else if (!W->pairs) {
                oclip_dtype_cast(dst, W->pdtype, buf, OCLIP_DTYPE_F32, kb * OC_PANEL, NULL);
            } else {
                /* k pairs: [kk / 2][j][kk % 2]; K odd leaves the last pair's second value 0 */
                uint8_t *pd = c->out + (pi * (K + (K & 1)) + k0) * OC_PANEL * 2;
                uint16_t h[OC_PANEL];
                memset(pd, 0, ((kb + 1) / 2) * 2 * OC_PANEL * 2);
                for (size_t kk = 0; kk < kb; kk++) {
                    oclip_dtype_cast(h, OCLIP_DTYPE_BF16, buf + kk * OC_PANEL, OCLIP_DTYPE_F32,
                                     OC_PANEL, NULL);
                    for (size_t j = 0; j < OC_PANEL; j++)
                        memcpy(pd + (((kk / 2) * OC_PANEL + j) * 2 + kk % 2) * 2, &h[j], 2);
                }
            }
        }
}

/* v rounded to the nearest integer, ties to even, for |v| < 2^22 (adding and removing 1.5 * 2^23
 * leaves no fraction bits; default rounding mode; no contraction under -std=c11). The compiler
 * vectorises loops over it, where rintf would be a call. */
static inline float round_even(float v) {
    float r = v + 12582912.0f;
    return r - 12582912.0f;
}

static void quant_row(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx);

typedef struct {
    const oc_weight *W;
    uint8_t *out;
    float *fbuf;   /* [threads][K]: a weight row as floats */
    uint8_t *qbuf; /* [threads][Kq]: its bytes q + 128 */
    void (*quant)(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx);
} pack_i8_ctx;

/* int8 panels (layout in engine.h): each output column's weights as a row of floats (read in
 * place when stored F32 [N, K]), quantized exactly as oc_gemm_i8 quantizes its input rows (the
 * same function: scale = max |w| / 127, nearest even, NaN scale and zeros for a row holding a
 * NaN or an infinity), then spread into the k quads. */
static void pack_range_i8(void *p, size_t p0, size_t p1, int t) {
    const pack_i8_ctx *c = p;
    const oc_weight *W = c->W;
    size_t K = W->k, N = W->n, Kq = (K + 3) & ~(size_t)3, panels = (N + OC_PANEL - 1) / OC_PANEL;
    float *scale = (float *)(c->out + panels * OC_PANEL * Kq);
    int32_t *sum = (int32_t *)(scale + panels * OC_PANEL);
    float *row = c->fbuf + (size_t)t * K;
    uint8_t *q = c->qbuf + (size_t)t * Kq;
    size_t es = oclip_dtype_size(W->dtype);
    for (size_t pi = p0; pi < p1; pi++) {
        int8_t *dst = (int8_t *)c->out + pi * OC_PANEL * Kq;
        memset(dst, 0, OC_PANEL * Kq);
        for (size_t j = 0; j < OC_PANEL; j++) {
            size_t n = pi * OC_PANEL + j;
            if (n >= N) {
                scale[n] = 0.0f, sum[n] = 0;
                continue;
            }
            const float *src = row;
            if (!W->kn && W->dtype == OCLIP_DTYPE_F32 && ((uintptr_t)W->data & 3) == 0)
                src = (const float *)(const void *)(W->data + n * K * 4);
            else if (!W->kn)
                oc_load_f32(row, W->data + n * K * es, W->dtype, 0, K);
            else
                for (size_t k = 0; k < K; k++) oc_load_f32(row + k, W->data + (k * N + n) * es,
                                                           W->dtype, 0, 1);
            c->quant(src, K, Kq, q, &scale[n]);
            int32_t qs = 0;
            for (size_t k = 0; k < K; k++) {
                int8_t v = (int8_t)((int)q[k] - 128);
                dst[(k / 4) * 4 * OC_PANEL + j * 4 + k % 4] = v;
                qs += v;
            }
            sum[n] = qs;
        }
    }
}

/* Memory for a packed copy: 64-byte aligned; large ones 2 MiB aligned and marked for huge
 * pages (Linux THP: one page fault, and one TLB entry, per 2 MiB instead of per 4 KiB). */
static void *packed_alloc(size_t bytes) {
    void *mem = NULL;
    size_t align = bytes >= ((size_t)4 << 20) ? (size_t)2 << 20 : 64;
    if (posix_memalign(&mem, align, bytes)) return NULL;
    if (align > 64) oc_hint_huge_pages(mem, bytes);
    return mem;
}

oclip_status oc_weight_pack(oc_weight *w, oclip_dtype to, int pairs, int nth,
                            oclip_error *err) {
    oc_weight_unpack(w);
    if (!w->data || w->n == 0 || w->k == 0) return OCLIP_OK;
    if (w->dtype != OCLIP_DTYPE_F32 && w->dtype != OCLIP_DTYPE_F16 &&
        w->dtype != OCLIP_DTYPE_BF16)
        return OCLIP_OK; /* the GEMM packs other types on the fly */
    if (to == OCLIP_DTYPE_I8) {
        size_t panels = (w->n + OC_PANEL - 1) / OC_PANEL;
        uint64_t kq = ((uint64_t)w->k + 3) & ~(uint64_t)3, bytes;
        /* int8 panels, then a float scale and an int32 sum per column */
        if (oc_mul_overflow_u64((uint64_t)panels * OC_PANEL, kq + 8, &bytes) || bytes > SIZE_MAX / 2)
            return oc_err_set(err, OCLIP_E_NOMEM, "packed weights too large");
        void *mem = packed_alloc((size_t)bytes);
        if (!mem)
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (int8 weights, %llu bytes)",
                              (unsigned long long)bytes);
        /* a row of floats and its bytes per thread */
        if (nth < 1) nth = 1;
        if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
        size_t kq4 = (size_t)kq;
        float *fbuf = malloc((size_t)nth * (w->k * sizeof(float) + kq4));
        if (!fbuf) {
            free(mem);
            return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (int8 weights)");
        }
        const oc_kernels *k = oc_kernels_for(oc_simd_get());
        w->pdtype = OCLIP_DTYPE_I8;
        w->pairs = 0;
        pack_i8_ctx c = {w, mem, fbuf, (uint8_t *)(fbuf + (size_t)nth * w->k),
                         k && k->quant_i8 ? k->quant_i8 : quant_row};
        oc_parallel(nth, panels, pack_range_i8, &c);
        free(fbuf);
        w->packed = mem;
        w->qscale = (const float *)((uint8_t *)mem + panels * OC_PANEL * kq);
        w->qsum = (const int32_t *)(w->qscale + panels * OC_PANEL);
        return OCLIP_OK;
    }
    oclip_dtype pdt = to == OCLIP_DTYPE_F16 || to == OCLIP_DTYPE_BF16 ? to : w->dtype;
    pairs = pairs && pdt == OCLIP_DTYPE_BF16;
    size_t panels = (w->n + OC_PANEL - 1) / OC_PANEL;
    uint64_t bytes;
    if (oc_mul_overflow_u64((uint64_t)panels * OC_PANEL, w->k + (pairs ? w->k & 1 : 0), &bytes) ||
        oc_mul_overflow_u64(bytes, oclip_dtype_size(pdt), &bytes) || bytes > SIZE_MAX / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "packed weights too large");
    void *mem = packed_alloc((size_t)bytes);
    if (!mem)
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (packed weights, %llu bytes)",
                          (unsigned long long)bytes);
    w->pdtype = pdt;
    w->pairs = pairs;
    pack_ctx c = {w, mem};
    oc_parallel(nth, panels, pack_range, &c);
    w->packed = mem;
    return OCLIP_OK;
}

void oc_weight_unpack(oc_weight *w) {
    free(w->packed);
    w->packed = NULL;
    w->pairs = 0;
    w->qscale = NULL;
    w->qsum = NULL;
}

/* =============================================================================================
 * GEMM dispatch. The threads split the output per shape: by panels of 32 columns when there are
 * at least 4 per thread (each thread streams its own part of the weights past all the rows),
 * else also by row blocks of at least 24 rows (a wide machine on a narrow layer: ViT-B-32's
 * 768-column layers have 24 panels for 16 threads). Item i is row block i / panels and panel
 * i % panels; the threads take the items in chunks (oc_parallel_chunks), each run as rectangles
 * (a row block, a run of panels). Every kernel computes an element the same way whatever rows
 * and panels it is given, so neither the split nor which thread takes a chunk changes a result.
 */
typedef struct {
    size_t panels, rblocks, M;
} gemm_split;

static gemm_split split_for(size_t M, size_t N, int nth) {
    gemm_split g = {(N + OC_PANEL - 1) / OC_PANEL, 1, M};
    if (nth > 1 && g.panels < 4 * (size_t)nth) {
        size_t want = (4 * (size_t)nth + g.panels - 1) / g.panels, most = M / 24 ? M / 24 : 1;
        g.rblocks = want < most ? want : most;
    }
    return g;
}

/* The longest chunk of oc_parallel_chunks: a quarter of a thread's even share, so that a thread
 * slowed by something outside the process hands work to the others, while the first chunks stay
 * long runs of panels (the weight prefetch runs within a chunk); the chunks shrink toward the
 * end (guided), so the last ones are single panels. */
static size_t gemm_chunk(size_t items, int nth) {
    size_t per = items / ((size_t)(nth > 0 ? nth : 1) * 4);
    return per ? per : 1;
}

/* items [i0, i1) of g as rectangles: fn(ctx, rows [r0, r1), panels [p0, p1)) */
static void split_run(const gemm_split *g, size_t i0, size_t i1, void *ctx,
                      void (*fn)(void *ctx, size_t r0, size_t r1, size_t p0, size_t p1)) {
    while (i0 < i1) {
        size_t rb = i0 / g->panels, p0 = i0 % g->panels;
        size_t p1 = i1 - i0 < g->panels - p0 ? p0 + (i1 - i0) : g->panels;
        fn(ctx, g->M * rb / g->rblocks, g->M * (rb + 1) / g->rblocks, p0, p1);
        i0 += p1 - p0;
    }
}

typedef struct {
    const float *X;
    size_t M;
    const oc_weight *W;
    const float *bias;
    float *Y;
    const oc_kernels *k;
    gemm_split g;
} simd_gemm_ctx;

static void simd_gemm_rect(void *p, size_t r0, size_t r1, size_t p0, size_t p1) {
    const simd_gemm_ctx *c = p;
    const float *X = c->X + r0 * c->W->k;
    float *Y = c->Y + r0 * c->W->n;
    if (c->W->pairs && oc_amx_bf16())
        oc_amx_gemm_bf16(X, r1 - r0, c->W, c->bias, Y, p0, p1);
    else if (c->W->pairs && c->k->gemm_bf16 && oc_cpu_has_avx512bf16())
        c->k->gemm_bf16(X, r1 - r0, c->W, c->bias, Y, p0, p1);
    else
        c->k->gemm(X, r1 - r0, c->W, c->bias, Y, p0, p1); /* pairs: widened exactly */
}

static void simd_gemm_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    simd_gemm_ctx *c = p;
    split_run(&c->g, i0, i1, c, simd_gemm_rect);
}

void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth) {
    if (M == 0 || W->n == 0) return;
    const oc_kernels *k = oc_kernels_for(oc_simd_get());
    if (!k || !k->gemm || W->k == 0) {
        gemm_scalar(X, M, W, bias, Y, nth);
        return;
    }
    simd_gemm_ctx c = {X, M, W, bias, Y, k, split_for(M, W->n, nth)};
    size_t items = c.g.panels * c.g.rblocks, most = gemm_chunk(items, nth);
    /* the BF16 kernels round X anew for each chunk: no shorter chunks at the end for them */
    oc_parallel_chunks(nth, items, most, W->pairs ? most : 1, simd_gemm_range, &c);
}

/* =============================================================================================
 * Int8 GEMM (oc_gemm_i8): the rows of X quantized into scratch (bytes qx + 128, so that the
 * VNNI dot product's unsigned operand is the activation; the 128 * sum_k q(n, k) it adds is
 * taken off again), then integer dot products per panel.
 */
size_t oc_gemm_i8_scratch(size_t M, size_t K) {
    return M * (((K + 3) & ~(size_t)3) + sizeof(float)) + sizeof(float);
}

/* the reference quantization of one row (oc_gemm_i8 in engine.h) */
static void quant_row(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx) {
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
    for (size_t k = K; k < Kq; k++) q[k] = 128;
    float s = amax / 127.0f;
    memcpy(sx, &s, sizeof s);
}

typedef struct {
    const float *X;
    size_t K, Kq;
    uint8_t *xq;
    float *xs;
    void (*quant)(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx);
} quant_ctx;

static void quant_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const quant_ctx *c = p;
    for (size_t m = r0; m < r1; m++)
        c->quant(c->X + m * c->K, c->K, c->Kq, c->xq + m * c->Kq, c->xs + m);
}

void oc_gemm_i8_ref(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
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

typedef void (*i8_fn)(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                      const float *bias, float *Y, size_t p0, size_t p1);

typedef struct {
    const uint8_t *xq;
    const float *xs;
    size_t M;
    const oc_weight *W;
    const float *bias;
    float *Y;
    i8_fn fn;
    gemm_split g;
} i8_ctx;

/* The int8 panel kernel for the path in use: AMX-INT8 or else AVX512-VNNI on the avx512 path of
 * a CPU that has it, else the AVX2 one on a SIMD path, else the reference (all give the same
 * bytes). */
static i8_fn i8_kernel(const char **name) {
    oc_simd s = oc_simd_get();
    const oc_kernels *k512 = oc_kernels_for(OC_SIMD_AVX512), *k2 = oc_kernels_for(OC_SIMD_AVX2);
    const char *dummy;
    if (!name) name = &dummy;
    if (oc_amx_int8()) {
        *name = "amx-int8";
        return oc_amx_gemm_i8;
    }
    if (s == OC_SIMD_AVX512 && k512 && k512->gemm_i8 && oc_cpu_has_avx512vnni()) {
        *name = "avx512-vnni";
        return k512->gemm_i8;
    }
    if (s != OC_SIMD_SCALAR && k2 && k2->gemm_i8) {
        *name = "avx2";
        return k2->gemm_i8;
    }
    *name = "reference";
    return oc_gemm_i8_ref;
}

static void i8_rect(void *p, size_t r0, size_t r1, size_t p0, size_t p1) {
    const i8_ctx *c = p;
    size_t Kq = (c->W->k + 3) & ~(size_t)3;
    c->fn(c->xq + r0 * Kq, c->xs + r0, r1 - r0, c->W, c->bias, c->Y + r0 * c->W->n, p0, p1);
}

static void i8_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    i8_ctx *c = p;
    split_run(&c->g, i0, i1, c, i8_rect);
}

void oc_gemm_i8(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                int nth, void *scratch) {
    if (M == 0 || W->n == 0) return;
    size_t K = W->k, Kq = (K + 3) & ~(size_t)3;
    const oc_kernels *k = oc_kernels_for(oc_simd_get());
    quant_ctx q = {X, K, Kq, scratch, (float *)((uint8_t *)scratch + M * Kq),
                   k && k->quant_i8 ? k->quant_i8 : quant_row};
    oc_parallel(M * K < 32768 ? 1 : nth, M, quant_range, &q);
    i8_ctx c = {q.xq, q.xs, M, W, bias, Y, i8_kernel(NULL), split_for(M, W->n, nth)};
    size_t items = c.g.panels * c.g.rblocks;
    oc_parallel_chunks(nth, items, gemm_chunk(items, nth), 1, i8_range, &c);
}

const char *oc_gemm_i8_kernel(void) {
    const char *name;
    (void)i8_kernel(&name);
    return name;
}

/* =============================================================================================
 * LayerNorm (biased variance, as torch). Mean and variance are accumulated in double: closer to
 * the exact value than any float order, and each row is one thread's, so still deterministic.
 */
static void layernorm_scalar(const float *x, float *y, size_t r0, size_t r1, size_t D,
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

typedef struct {
    const float *x;
    float *y;
    size_t D;
    const float *w, *b;
    float eps;
    const oc_kernels *k;
} ln_ctx;

static void ln_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const ln_ctx *c = p;
    c->k->layernorm(c->x, c->y, r0, r1, c->D, c->w, c->b, c->eps);
}

void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps, int nth) {
    ln_ctx c = {x, y, D, w, b, eps, oc_kernels_for(oc_simd_get())};
    if (rows * D < 32768) nth = 1; /* a region would cost more than it saves */
    oc_parallel(nth, rows, ln_range, &c);
}

/* =============================================================================================
 * Activations: exact GELU 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()), its tanh form
 * (act_kwargs approximate='tanh'), and QuickGELU x * sigmoid(1.702 x) (OpenAI's models).
 */
static void act_scalar(float *x, size_t i0, size_t i1, oc_act act) {
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

static void erf_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = erff(x[i]);
}

static void exp_scalar(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

typedef struct {
    float *x;
    oc_act act;
    const oc_kernels *k;
} act_ctx;

static void act_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const act_ctx *c = p;
    c->k->act(c->x, i0, i1, c->act);
}

/* Element-wise, so any split gives the same bytes. */
void oc_activate(float *x, size_t n, oc_act act, int nth) {
    act_ctx c = {x, act, oc_kernels_for(oc_simd_get())};
    if (n < 16384) nth = 1;
    oc_parallel(nth, n, act_range, &c);
}

/* =============================================================================================
 * Attention: softmax(q k^T / sqrt(hd) + mask) v per (sequence, head); one work item = one
 * (sequence, head) pair, which owns that head's columns of `o`.
 */
size_t oc_attention_scratch(size_t T, size_t hd) {
    size_t Tp = (T + 15) / 16 * 16;
    return hd * Tp + 4 * Tp + 16; /* K^T [hd, Tp], 4 rows of scores, alignment slack */
}

/* The reference: one query row at a time, dot products in increasing e, softmax in float. */
static void attention_scalar(const float *qkv, float *o, size_t T, size_t D, size_t H,
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

typedef struct {
    const float *qkv;
    float *o;
    size_t T, D, H;
    int causal;
    float *scratch;
    size_t per;
    const oc_kernels *k;
} att_ctx;

static void att_range(void *p, size_t i0, size_t i1, int t) {
    const att_ctx *c = p;
    c->k->attention(c->qkv, c->o, c->T, c->D, c->H, c->causal, i0, i1,
                    c->scratch + (size_t)t * c->per);
}

oclip_status oc_attention(const float *qkv, float *o, size_t N, size_t T, size_t D, size_t H,
                          int causal, int nth, oclip_error *err) {
    size_t items = N * H;
    if (!items || !T) return OCLIP_OK;
    if (nth < 1) nth = 1;
    if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
    if ((size_t)nth > items) nth = (int)items;
    size_t per = oc_attention_scratch(T, D / H);
    float *scratch = malloc((size_t)nth * per * sizeof(float));
    if (!scratch) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (attention scratch)");
    att_ctx c = {qkv, o, T, D, H, causal, scratch, per, oc_kernels_for(oc_simd_get())};
    oc_parallel_chunks(nth, items, 1, 1, att_range, &c);
    free(scratch);
    return OCLIP_OK;
}

const oc_kernels oc_kernels_scalar = {NULL,       NULL,       NULL,       NULL,
                                      layernorm_scalar, act_scalar, erf_scalar,
                                      exp_scalar, attention_scalar};
