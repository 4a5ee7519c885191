/*
 * engine.h — the inference engine's internals: the loaded model (model.c), the thread helper
 * (pool.c), the fp32 kernels (kernels.c) and the two towers (vit.c, text.c). Not installed.
 *
 * Dimension letters used in shape comments:
 *   N images or texts in a batch, T tokens per sequence, D model width of a tower,
 *   M MLP hidden width, E joint embedding size, P patch size, gh x gw patch grid,
 *   H heads, hd head width (D / H), K inner dimension of a GEMM.
 */
#ifndef OCLIP_ENGINE_H
#define OCLIP_ENGINE_H

#include <pthread.h>
#include <string.h>

#include "internal.h"

/* Longest sequence a tower runs (bounds the attention scratch: a [head width, T] copy of K and
 * four rows of scores per thread). ViT-H-14-378 has 730 image tokens; the load refuses configs
 * beyond this. */
#define OC_MAX_TOKENS 4096

/* ---------------------------------------------------------------------------------------------
 * Threads (pool.c)
 *
 * oc_parallel runs fn(ctx, i0, i1, t) over [0, n) split into `nth` contiguous ranges, range t on
 * one thread (the caller's thread takes range 0; t is also a scratch slot index: no two ranges
 * with the same t ever run at once). Each range is the same whatever else runs, and every kernel
 * computes each output element inside one range with a fixed reduction order, so results are
 * bit-identical for any thread count. The threads are a persistent process-wide pool (created on
 * first use, woken per region); a region runs on the caller's thread alone when the pool is busy
 * with another caller's region or threads cannot be created (the result is the same, only
 * slower).
 */
typedef void (*oc_range_fn)(void *ctx, size_t i0, size_t i1, int t);
void oc_parallel(int nth, size_t n, oc_range_fn fn, void *ctx);
/* The same, but the ranges are chunks that the threads take in turn as they finish the
 * previous one, so a thread slowed by something else (another process on its core, a shared
 * host) takes fewer of them. Guided: each chunk is 1/(2 nth) of the items left, at most `most`
 * items and at least `least` (0 = 1; fewer only where fewer are left), so the last chunks are
 * short and no thread finishes long after the others. For kernels whose items are independent
 * of which thread computes them (the GEMM's panels, attention's heads): the result is the same
 * bytes as with oc_parallel. t is the thread's index, as above. */
void oc_parallel_chunks(int nth, size_t n, size_t most, size_t least, oc_range_fn fn,
                        void *ctx);
int oc_cpu_count(void);
#define OC_MAX_THREADS 256

/* ---------------------------------------------------------------------------------------------
 * CPU kernel paths (cpu.c). The path is chosen once per process: OCLIP_SIMD=scalar|avx2|avx512
 * if set and supported, else the best the CPU and OS support. oc_simd_set (tests) switches it.
 */
typedef enum { OC_SIMD_SCALAR = 0, OC_SIMD_AVX2 = 1, OC_SIMD_AVX512 = 2, OC_SIMD_COUNT } oc_simd;
oc_simd oc_simd_get(void);
int oc_simd_supported(oc_simd s); /* CPU and OS: 1 / 0 */
int oc_simd_set(oc_simd s);       /* 0 (and no change) when unsupported */
const char *oc_simd_name(oc_simd s);
int oc_cpu_has_avx512bf16(void);
int oc_cpu_has_avx512vnni(void);
/* AMX (kernels_amx.c): oc_amx_bf16() says whether BF16 k-pair weights go to the AMX kernel
 * (the CPU has it, the kernel granted the tile state, the path is avx512, OCLIP_AMX is not "0");
 * oc_amx_set switches it (tests) and returns whether AMX is usable here at all. */
int oc_amx_compiled(void);
int oc_amx_bf16(void);
int oc_amx_int8(void); /* the same for oc_gemm_i8 on AMX-INT8 */
int oc_amx_set(int on);

/* ---------------------------------------------------------------------------------------------
 * Weights as stored (kernels.c): a 2-D view into the mapped checkpoint, F32/F16/BF16,
 * unaligned, little-endian. Converted to fp32 a panel at a time inside the GEMM.
 */
typedef struct {
    const uint8_t *data;
    oclip_dtype dtype;
    size_t n, k;  /* output features, input features */
    int kn;       /* 0: stored [n, k] (nn.Linear.weight); 1: stored [k, n] (visual.proj, ...) */
    /* Packed copy for the SIMD paths (oc_weight_pack), or NULL: panels of OC_PANEL output
     * columns, k-major: element (n, k) at packed[(n / 32) * K * 32 + k * 32 + n % 32], zero past
     * N; in pdtype (F32, F16 or BF16: the stored type, or the type cast to at load). pairs: BF16
     * for the AVX512-BF16 kernel, k in pairs: (n, k) at [(n / 32) * Kp * 32 + (k / 2) * 64 +
     * (n % 32) * 2 + k % 2], Kp = K rounded up to even (zero-padded). */
    void *packed;
    oclip_dtype pdtype;
    int pairs;
    /* pdtype I8 (oc_weight_pack with to = OCLIP_DTYPE_I8): per output column n a scale s[n] =
     * max_k |W(n, k)| / 127 and q(n, k) = round(W(n, k) / s[n]) in [-127, 127], in k quads for
     * the VNNI dot products: (n, k) at [(n / 32) * Kq * 32 + (k / 4) * 128 + (n % 32) * 4 + k % 4],
     * Kq = K rounded up to a multiple of 4 (zero-padded); qscale[n] = s[n] and qsum[n] =
     * sum_k q(n, k) (both [panels * 32], zero past N) live in the same allocation. */
    const float *qscale;
    const int32_t *qsum;
} oc_weight;

/* the AMX BF16 GEMM over panels [p0, p1) (kernels_amx.c; only where oc_amx_bf16()) */
void oc_amx_gemm_bf16(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                      size_t p0, size_t p1);
/* oc_gemm_i8's panels [p0, p1) on AMX-INT8 (only where oc_amx_int8()): the reference's bytes */
void oc_amx_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                    const float *bias, float *Y, size_t p0, size_t p1);
#define OC_PANEL 32

/* dst[0..count) = elements [first, first + count) of a float tensor, as fp32. */
void oc_load_f32(float *dst, const uint8_t *data, oclip_dtype dt, size_t first, size_t count);

/* Y[m, :] = X[m, :] . W^T + bias for m in [0, M): X [M, K], Y [M, N], bias [N] or NULL.
 * Each Y element is summed over k in increasing order (one float accumulator; fused
 * multiply-adds on the SIMD paths), whatever the blocking, the rows computed with it or the
 * thread split; the bias is added last. Needs no heap memory. */
void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth);

/* The packed copy of w for the SIMD paths: in the stored type (to = OCLIP_DTYPE_F32), or rounded
 * to F16 / BF16 (nearest even, as oclip_dtype_cast), BF16 in k pairs when `pairs`, or quantized
 * to int8 per output column (to = OCLIP_DTYPE_I8, every path: oc_gemm_i8 reads it).
 * OCLIP_E_NOMEM on failure. oc_weight_unpack frees it (NULL-safe). */
oclip_status oc_weight_pack(oc_weight *w, oclip_dtype to, int pairs, int nth, oclip_error *err);
void oc_weight_unpack(oc_weight *w);

/* Y = X . W^T + bias over int8 weights (W->pdtype I8), the activations quantized per row:
 * s_x[m] = max_k |X[m, k]| / 127, qx = round(X / s_x) in [-127, 127] (nearest even; a row with
 * a NaN or an infinity gives NaN outputs), then for each element the exact integer dot product
 * d = sum_k qx[m, k] q(n, k) and Y[m, n] = (float)d * (s_x[m] * s[n]) + bias[n]. Integer sums
 * are exact, so every path (reference or AVX512-VNNI) and thread count gives the same bytes.
 * scratch: oc_gemm_i8_scratch(M, K) bytes (any alignment). */
size_t oc_gemm_i8_scratch(size_t M, size_t K);
void oc_gemm_i8(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                int nth, void *scratch);
/* Shared by the row quantizers (kernels.c, kernels_avx2.c, kernels_avx512.c): 127 / amax, the
 * multiplier, 0 for amax = 0 and at most FLT_MAX (an amax below 127 / FLT_MAX would make it
 * infinite, and 0 * inf a NaN); and the row of a NaN or an infinity (q = 0, NaN scale). */
static inline float oc_quant_inv(float amax) {
    float inv = amax == 0.0f ? 0.0f : 127.0f / amax;
    return inv <= 3.4028234663852886e38f ? inv : 3.4028234663852886e38f;
}
static inline void oc_quant_bad_row(uint8_t *q, size_t Kq, float *sx) {
    float s = __builtin_nanf("");
    memset(q, 128, Kq);
    memcpy(sx, &s, sizeof s);
}

/* the int8 panel kernel oc_gemm_i8 uses on this CPU and path: "avx512-vnni", "avx2" or
 * "reference" */
const char *oc_gemm_i8_kernel(void);
/* the reference kernel of oc_gemm_i8 for panels [p0, p1): xq [M, Kq] holds qx + 128 (bytes,
 * zero-padded as 128), xs [M] the row scales */
void oc_gemm_i8_ref(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                    const float *bias, float *Y, size_t p0, size_t p1);

/* LayerNorm over rows of width D: y = (x - mean) / sqrt(var + eps) * w + b (biased variance).
 * x and y may alias. Rows are split over nth threads. */
void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps, int nth);

typedef enum { OC_ACT_GELU = 0, OC_ACT_GELU_TANH, OC_ACT_QUICK_GELU } oc_act;
void oc_activate(float *x, size_t n, oc_act act, int nth);

/* Multi-head attention core over qkv [N, T, 3D] (q | k | v, head h at columns [h*hd, (h+1)*hd)
 * of each): o [N, T, D] = softmax(q k^T / sqrt(hd)) v per (sequence, head), keys j > query i
 * skipped when causal (so row i depends only on keys <= i: computing T' < T positions gives the
 * same bytes for them). One work item = one (sequence, head). OCLIP_E_NOMEM if the scratch
 * (a [hd, T] copy of K and a few rows of scores per thread) cannot be allocated. */
oclip_status oc_attention(const float *qkv, float *o, size_t N, size_t T, size_t D, size_t H,
                          int causal, int nth, oclip_error *err);

/* The kernels of one path (kernels.c: scalar; kernels_avx2.c, kernels_avx512.c). Element-wise
 * and row functions work on [i0, i1) so any split gives the same bytes. */
typedef struct {
    /* panels [p0, p1) of Y = X W^T + bias, all M rows (the SIMD paths; NULL for scalar) */
    void (*gemm)(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                 size_t p0, size_t p1);
    /* the same over BF16 weights in k pairs with X rounded to BF16 (AVX512-BF16 dot products);
     * NULL if not compiled in; call only on a CPU with AVX512-BF16 */
    void (*gemm_bf16)(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                     size_t p0, size_t p1);
    /* panels [p0, p1) of oc_gemm_i8 (the same bytes as oc_gemm_i8_ref): the avx512 one uses
     * AVX512-VNNI (call it only on a CPU that has it; oc_gemm_i8 runs the avx2 one elsewhere);
     * NULL if not compiled in */
    void (*gemm_i8)(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                    const float *bias, float *Y, size_t p0, size_t p1);
    /* one row of oc_gemm_i8's activation quantization (the same bytes as the reference in
     * kernels.c): q [Kq] = qx + 128 (128 past K), *sx = the row's scale; NULL: the reference */
    void (*quant_i8)(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx);
    void (*layernorm)(const float *x, float *y, size_t r0, size_t r1, size_t D, const float *w,
                      const float *b, float eps);
    void (*act)(float *x, size_t i0, size_t i1, oc_act act);
    void (*erf)(float *y, const float *x, size_t n); /* vector erf (tests) */
    void (*exp)(float *y, const float *x, size_t n); /* vector exp (tests) */
    /* one item range of oc_attention; scratch: oc_attention_scratch(T, hd) floats */
    void (*attention)(const float *qkv, float *o, size_t T, size_t D, size_t H, int causal,
                      size_t i0, size_t i1, float *scratch);
} oc_kernels;
const oc_kernels *oc_kernels_for(oc_simd s); /* NULL when the path is not compiled in */
/* Depth block of the SIMD GEMM, and the fp32 [kb, OC_PANEL] block of panel p at depth k0 packed
 * from the weights as stored (the SIMD paths' fallback for weights without a packed copy). */
#define OC_GEMM_KB 256
void oc_pack_block(const oc_weight *W, size_t p, size_t k0, size_t kb, float *buf);
size_t oc_attention_scratch(size_t T, size_t hd);
/* the paths' kernel tables (NULL pointers on a build without x86 SIMD) */
extern const oc_kernels oc_kernels_scalar;
const oc_kernels *oc_kernels_avx2(void);
const oc_kernels *oc_kernels_avx512(void);

/* ---------------------------------------------------------------------------------------------
 * The model (model.c)
 */
typedef struct {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* [D] */
    float *in_b, *out_b, *fc_b, *proj_b;  /* [3D], [D], [M], [D] */
    float *ls1, *ls2;                      /* LayerScale gamma [D], or NULL */
    oc_weight in_w, out_w, fc_w, proj_w;   /* [3D, D], [D, D], [M, D], [D, M] */
} oc_block;

/* One transformer tower's shared part. */
typedef struct {
    int D, M, H, layers;
    float eps;
    oc_act act;
    int causal;
    oc_block *blocks; /* [layers] */
} oc_tower;

typedef struct {
    oc_tower tw;
    int P, gh, gw, img_h, img_w;
    int tok_pool;            /* 1: class token, 0: mean of the patch tokens */
    int final_ln_after_pool;
    oc_weight conv;          /* conv1 as a Linear: [D, 3*P*P] (flattened c, ky, kx) */
    float *cls, *pos;        /* [D], [1 + gh*gw, D] */
    float *ln_pre_w, *ln_pre_b; /* [D], or NULL (no_ln_pre) */
    float *ln_post_w, *ln_post_b;
    oc_weight proj;          /* [D, E] stored kn */
} oc_vision;

typedef enum { OC_POOL_ARGMAX = 0, OC_POOL_EOS, OC_POOL_FIRST, OC_POOL_LAST } oc_text_pool;

typedef struct {
    oc_tower tw;
    int ctx, vocab, eos_id;
    oc_text_pool pool;
    const uint8_t *tok_emb;  /* [vocab, D] as stored */
    oclip_dtype tok_dtype;
    float *pos;              /* [ctx, D] */
    float *ln_w, *ln_b;      /* ln_final [D] */
    int has_proj;
    oc_weight proj;          /* [D, E] stored kn, or [E, D] (Linear) */
    float *proj_b;           /* [E] or NULL */
} oc_text;

struct oclip_model {
    oclip_source *src;    /* where the model came from (model.c); owns ck */
    oclip_checkpoint *ck;
    oclip_report *report; /* owns the mapped (OpenCLIP-named) view the weights point into */
    oclip_model_config cfg;
    oclip_preprocess_cfg pre; /* how images are preprocessed for this model (size = image_size) */
    char source[2600];    /* what was loaded and where the architecture came from */
    int threads;
    int E;
    float logit_scale, logit_bias;
    oc_vision vis;
    oc_text txt;
    oc_arena arena;       /* fp32 copies of the small vectors (LayerNorm, biases, positions) */
    /* each tower's GEMM weights are packed on its first use (oc_model_prepare), under pack_mu;
     * packed[t] (0 image, 1 text) is set, with release order, once tower t is; used[t]: tower
     * t ran; inplace[t]: calls reading its weights in place now */
    oclip_dtype weight_dtype;
    pthread_mutex_t pack_mu;
    int pack_mu_ok;
    int packed[2], used[2], inplace[2];
};

/* ---------------------------------------------------------------------------------------------
 * Towers. `stages` (optional, for tests) receives intermediate activations; each non-NULL
 * pointer is a caller buffer of the size given.
 */
typedef struct {
    float *embed;  /* image: patch embedding [N, gh*gw, D]; text: tokens + positions [N, T, D] */
    float *block0; /* after the first block [N, T, D] */
    float *last;   /* after the last block [N, T, D] */
    float *pooled; /* pooled, after ln_post / ln_final, before the projection [N, D] */
} oc_stages;

/* out [N, E] (unnormalized). The text tower runs only the first T' positions, where T' is one
 * past the last pooled position in the batch (see text.c), unless `full` is set or the pool or
 * the mask needs every position; stages then hold positions < T' only (the rest zero). */
oclip_status oc_vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                            const oc_stages *st, oclip_error *err);
oclip_status oc_text_forward(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                             const oc_stages *st, int full, oclip_error *err);

/* Shared by both towers (vit.c): the residual blocks over x [N, T, D] in place, with copies of
 * the activations after the first and the last block into block0 / last when non-NULL. */
oclip_status oc_tower_run(const oc_tower *tw, float *x, size_t N, size_t T, int nth,
                          float *block0, float *last, oclip_error *err);

/* The packed copies of one tower's GEMM weights (vit.c; tower 0 image, 1 text), made on the
 * tower's first use so that a process that embeds only images never packs the text tower: when
 * the kernel path in use is a SIMD one, in the stored type (m->weight_dtype F32) or cast to
 * F16 / BF16 (BF16 in k pairs when the CPU has AVX512-BF16 and the path is avx512: computed
 * natively); I8: the transformer blocks' four Linear weights quantized to int8 on every path
 * (oc_gemm_i8), the patch embedding and the projections as for F32.
 *
 * Weights computed as stored (m->weight_dtype F32) are not packed by a tower's first call when
 * it runs at most OC_INPLACE_ROWS GEMM rows (`rows`): that call reads them in place (*inplace =
 * 1; the GEMM packs each block into a small buffer as it goes, the same values, so the same
 * results), which spares a one-off embedding (the CLI's) the copy; the next call packs, once no
 * call reads the weights in place. Every call with `n` > 0 calls oc_model_prepare first and
 * oc_model_done(m, tower, *inplace) when done. Thread-safe; a failure (OCLIP_E_NOMEM) leaves the
 * tower unpacked and the next call tries again. oc_model_unpack frees every packed copy (safe
 * on a partly packed or bound model; no call may be running). */
#define OC_INPLACE_ROWS 1024
oclip_status oc_model_prepare(const oclip_model *m, int tower, size_t rows, int *inplace,
                              oclip_error *err);
void oc_model_done(const oclip_model *m, int tower, int inplace);
void oc_model_unpack(oclip_model *m);

#endif
