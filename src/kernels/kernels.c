/*
 * kernels.c — the operations the engine calls (kernels.h: oc_gemm, oc_gemm_i8, oc_layernorm,
 * oc_activate, oc_attention), each of which looks the dispatch table up once (cpu.c) and splits
 * its work over the threads; and the code every path shares: weights widened to fp32, and their
 * packed copies (fp32 / F16 / BF16 panels, BF16 k pairs, int8 quads). The kernels themselves are
 * in kernels_scalar.c (the reference), kernels_avx2.c and kernels_avx512.c (written once in
 * kernels_simd.h) and kernels_amx.c.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h"

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
    oc_pack_fn pack; /* the kernel table's: 16 x 16 register transposes on AVX-512 */
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
            if (W->pdtype == OCLIP_DTYPE_F32) { /* widened exactly, in place */
                c->pack(W, pi, k0, kb, (float *)(void *)dst);
                continue;
            }
            c->pack(W, pi, k0, kb, buf);
            if (!W->pairs) {
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

typedef struct {
    const oc_weight *W;
    uint8_t *out;
    float *fbuf;   /* [threads][K]: a weight row as floats */
    uint8_t *qbuf; /* [threads][Kq]: its bytes q + 128 */
    oc_quant_i8_fn quant;
} pack_i8_ctx;

/* int8 panels (layout in kernels.h): each output column's weights as a row of floats (read in
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

/* Memory for a packed copy: 64-byte aligned (the panels' loads), on huge pages when large */
static void *packed_alloc(size_t bytes) {
    void *mem = NULL;
    if (bytes >= ((size_t)2 << 20)) return oc_alloc_large(bytes);
    return posix_memalign(&mem, 64, bytes) ? NULL : mem;
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
        w->pdtype = OCLIP_DTYPE_I8;
        w->pairs = 0;
        pack_i8_ctx c = {w, mem, fbuf, (uint8_t *)(fbuf + (size_t)nth * w->k),
                         oc_kernels_get()->quant_i8};
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
    pack_ctx c = {w, mem, oc_kernels_get()->pack_block};
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
 * 768-column layers have 24 panels for 16 threads), and on a path that sets gemm_row_bytes by
 * row blocks of that much X at large M. Item i is row block i / panels and panel
 * i % panels; the threads take the items in chunks (oc_parallel_chunks; with several row blocks,
 * owned shares: oc_parallel_owned), each run as rectangles
 * (a row block, a run of panels). Every kernel computes an element the same way whatever rows
 * and panels it is given, so neither the split nor which thread takes a chunk changes a result.
 */
typedef struct {
    size_t panels, rblocks, M;
} gemm_split;

static gemm_split split_for(size_t M, size_t N, size_t K, int nth, size_t row_bytes) {
    gemm_split g = {(N + OC_PANEL - 1) / OC_PANEL, 1, M};
    if (nth > 1 && g.panels < 4 * (size_t)nth) {
        size_t want = (4 * (size_t)nth + g.panels - 1) / g.panels, most = M / 24 ? M / 24 : 1;
        g.rblocks = want < most ? want : most;
    }
    /* many rows (not batch 1 of a ViT-B: there the weights stream from memory and each row
     * block would read them again) on a path that asks for it: row blocks of about row_bytes of
     * X, at least 48 rows, so that a chunk's X stays in the core's L2 over its panels. Packed
     * weights only (the caller passes 0 otherwise): weights read in place are transposed anew
     * for every row block. */
    if (nth > 1 && row_bytes && K && M >= 256) {
        size_t rows = row_bytes / (K * sizeof(float));
        rows = rows < 48 ? 48 : rows;
        size_t rb = (M + rows - 1) / rows;
        g.rblocks = rb > g.rblocks ? rb : g.rblocks;
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

/* oc_epilogue over rows [r0, r1) and panels [p0, p1) of Y [., N] (act_fn: the table's) */
static void epilogue(const oc_epilogue *ep, oc_act_fn act_fn, float *Y, size_t N, size_t r0,
                     size_t r1, size_t p0, size_t p1) {
    if (!ep) return;
    size_t n0 = p0 * OC_PANEL, n1 = p1 * OC_PANEL < N ? p1 * OC_PANEL : N;
    for (size_t r = r0; r < r1; r++) {
        float *y = Y + r * N;
        if (ep->act) act_fn(y, n0, n1, ep->fn);
        if (!ep->res) continue;
        float *x = ep->res + r * N;
        const float *g = ep->gamma;
        size_t i = n0;
#if defined(__GNUC__)
        /* 8 lanes at a time (GCC vector extensions: SSE or NEON pairs); element by element the
         * same multiply then add, each rounded (ISO C mode: no contraction into an FMA) */
        typedef float v8 __attribute__((vector_size(32)));
        for (; i + 8 <= n1; i += 8) {
            v8 xv, yv, gv;
            memcpy(&xv, x + i, sizeof xv);
            memcpy(&yv, y + i, sizeof yv);
            if (g) {
                memcpy(&gv, g + i, sizeof gv);
                xv += gv * yv;
            } else {
                xv += yv;
            }
            memcpy(x + i, &xv, sizeof xv);
        }
#endif
        for (; i < n1; i++) x[i] += g ? g[i] * y[i] : y[i];
    }
}

typedef struct {
    const float *X;
    size_t M;
    const oc_weight *W;
    const float *bias;
    float *Y;
    oc_gemm_fn fn;
    gemm_split g;
    const oc_epilogue *ep;
    oc_act_fn act_fn;
} gemm_ctx;

static void gemm_rect(void *p, size_t r0, size_t r1, size_t p0, size_t p1) {
    const gemm_ctx *c = p;
    c->fn(c->X + r0 * c->W->k, r1 - r0, c->W, c->bias, c->Y + r0 * c->W->n, p0, p1);
    epilogue(c->ep, c->act_fn, c->Y, c->W->n, r0, r1, p0, p1);
}

static void gemm_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    gemm_ctx *c = p;
    split_run(&c->g, i0, i1, c, gemm_rect);
}

void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth) {
    oc_gemm_ep(X, M, W, bias, Y, NULL, nth);
}

void oc_gemm_ep(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                const oc_epilogue *ep, int nth) {
    if (M == 0 || W->n == 0) return;
    const oc_kernels *k = oc_kernels_get();
    /* K = 0 (Y = bias): the reference's blocking has no depth block to divide by */
    oc_gemm_fn fn = W->k == 0 ? oc_isa_scalar.gemm
                    : W->pairs && k->gemm_bf16 ? k->gemm_bf16 : k->gemm; /* else widened */
    gemm_ctx c = {X, M, W, bias, Y, fn,
                  split_for(M, W->n, W->k, nth,
                            fn == k->gemm && W->packed ? k->gemm_row_bytes : 0), ep, k->act};
    size_t items = c.g.panels * c.g.rblocks, most = gemm_chunk(items, nth);
    /* the BF16 kernels round X anew for each chunk: no shorter chunks at the end for them */
    /* split by rows too: owned shares, so that each thread keeps its rows from one GEMM to the
     * next (FastViT's and ConvNeXt's MLPs over thousands of positions; the residual stream stays
     * in the core that updated it) */
    if (c.g.rblocks > 1)
        oc_parallel_owned(nth, items, most, gemm_range, &c);
    else
        oc_parallel_chunks(nth, items, most, W->pairs ? most : 1, gemm_range, &c);
}

/* =============================================================================================
 * Int8 GEMM (oc_gemm_i8): the rows of X quantized into scratch (bytes qx + 128, so that the
 * VNNI dot product's unsigned operand is the activation; the 128 * sum_k q(n, k) it adds is
 * taken off again), then integer dot products per panel.
 */
size_t oc_gemm_i8_scratch(size_t M, size_t K) {
    return M * (((K + 3) & ~(size_t)3) + sizeof(float)) + sizeof(float);
}

typedef struct {
    const float *X;
    size_t K, Kq;
    uint8_t *xq;
    float *xs;
    oc_quant_i8_fn quant;
} quant_ctx;

static void quant_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const quant_ctx *c = p;
    for (size_t m = r0; m < r1; m++)
        c->quant(c->X + m * c->K, c->K, c->Kq, c->xq + m * c->Kq, c->xs + m);
}

typedef struct {
    const uint8_t *xq;
    const float *xs;
    size_t M;
    const oc_weight *W;
    const float *bias;
    float *Y;
    oc_gemm_i8_fn fn;
    gemm_split g;
    const oc_epilogue *ep;
    oc_act_fn act_fn;
} i8_ctx;

static void i8_rect(void *p, size_t r0, size_t r1, size_t p0, size_t p1) {
    const i8_ctx *c = p;
    size_t Kq = (c->W->k + 3) & ~(size_t)3;
    c->fn(c->xq + r0 * Kq, c->xs + r0, r1 - r0, c->W, c->bias, c->Y + r0 * c->W->n, p0, p1);
    epilogue(c->ep, c->act_fn, c->Y, c->W->n, r0, r1, p0, p1);
}

static void i8_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    i8_ctx *c = p;
    split_run(&c->g, i0, i1, c, i8_rect);
}

void oc_gemm_i8(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                int nth, void *scratch) {
    oc_gemm_i8_ep(X, M, W, bias, Y, NULL, nth, scratch);
}

void oc_gemm_i8_ep(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                   const oc_epilogue *ep, int nth, void *scratch) {
    if (M == 0 || W->n == 0) return;
    size_t K = W->k, Kq = (K + 3) & ~(size_t)3;
    const oc_kernels *k = oc_kernels_get();
    quant_ctx q = {X, K, Kq, scratch, (float *)((uint8_t *)scratch + M * Kq), k->quant_i8};
    oc_parallel(M * K < 32768 ? 1 : nth, M, quant_range, &q);
    i8_ctx c = {q.xq, q.xs, M, W, bias, Y, k->gemm_i8, split_for(M, W->n, W->k, nth, 0), ep,
                k->act};
    size_t items = c.g.panels * c.g.rblocks;
    oc_parallel_chunks(nth, items, gemm_chunk(items, nth), 1, i8_range, &c);
}

/* =============================================================================================
 * LayerNorm, activations: rows / elements split over the threads (each computed the same way
 * whatever the split)
 */
typedef struct {
    const float *x;
    float *y;
    size_t D;
    const float *w, *b;
    float eps;
    oc_layernorm_fn fn;
} ln_ctx;

static void ln_range(void *p, size_t r0, size_t r1, int t) {
    (void)t;
    const ln_ctx *c = p;
    c->fn(c->x, c->y, r0, r1, c->D, c->w, c->b, c->eps);
}

void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps, int nth) {
    ln_ctx c = {x, y, D, w, b, eps, oc_kernels_get()->layernorm};
    if (rows * D < 32768) nth = 1; /* a region would cost more than it saves */
    oc_parallel(nth, rows, ln_range, &c);
}

typedef struct {
    float *x;
    oc_act act;
    oc_act_fn fn;
} act_ctx;

static void act_range(void *p, size_t i0, size_t i1, int t) {
    (void)t;
    const act_ctx *c = p;
    c->fn(c->x, i0, i1, c->act);
}

void oc_activate(float *x, size_t n, oc_act act, int nth) {
    act_ctx c = {x, act, oc_kernels_get()->act};
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

typedef struct {
    const float *qkv;
    float *o;
    size_t T, D, H;
    int causal;
    float *scratch;
    size_t per;
    oc_attention_fn fn;
} att_ctx;

static void att_range(void *p, size_t i0, size_t i1, int t) {
    const att_ctx *c = p;
    c->fn(c->qkv, c->o, c->T, c->D, c->H, c->causal, i0, i1, c->scratch + (size_t)t * c->per);
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
    att_ctx c = {qkv, o, T, D, H, causal, scratch, per, oc_kernels_get()->attention};
    oc_parallel_chunks(nth, items, 1, 1, att_range, &c);
    free(scratch);
    return OCLIP_OK;
}
