/*
 * kernels.h — the CPU kernel layer as the engine (src/nn/) and the model (src/model/) see it: the
 * thread pool (pool.c), the CPU features and the one kernel dispatch table (cpu.c), weights as
 * stored and their packed copies, and the operations (kernels.c: GEMMs over fp32 / F16 / BF16 /
 * int8 weights, LayerNorm, activations, attention). Not installed. The ISA files' own interface
 * (what cpu.c builds the table from, and what the tests compare ISA by ISA) is kernels_int.h.
 *
 * Process-wide state. The kernel layer keeps exactly this, and nothing else:
 *   - cpu.c: the CPU features (CPUID, XGETBV; on AArch64 the kernel's HWCAP), the environment
 *     overrides OCLIP_SIMD and OCLIP_AMX, the dispatch tables built from them, the table in use
 *     and the override warning (oc_simd_warning). All of it is computed once, on the first call that needs it, under
 *     pthread_once (any thread may make that call; the others wait for it), and never changes
 *     afterwards: the environment is read that once. Detection also asks Linux once for this
 *     process's AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM), where the CPU has AMX. The one
 *     exception is kernels_int.h's test hooks (oc_simd_set, oc_amx_set), which only the tests
 *     call: they point the engine at another of the prebuilt tables.
 *   - pool.c: one pool of worker threads for the process, shared by every caller and model:
 *     created on first use, grown (never shrunk) to the widest region asked for, joined at exit
 *     or library unload; a forked child starts a pool of its own. Internally synchronised (one
 *     region at a time uses it; a caller that finds it busy runs its ranges on its own thread).
 * Neither changes a result: every output's bytes depend only on the inputs and the table in use.
 *
 * Dimension letters: M rows of a GEMM (tokens), N output features, K inner dimension, T tokens
 * per sequence, D width, H heads, hd head width (D / H).
 */
#ifndef OCLIP_KERNELS_H
#define OCLIP_KERNELS_H

#include <stdint.h>

#include "internal.h"

/* ---------------------------------------------------------------------------------------------
 * Threads (pool.c)
 *
 * oc_parallel runs fn(ctx, i0, i1, t) over [0, n) split into `nth` contiguous ranges, range t on
 * one thread (the caller's thread takes range 0; t is also a scratch slot index: no two ranges
 * with the same t ever run at once). Each range is the same whatever else runs, and every kernel
 * computes each output element inside one range with a fixed reduction order, so results are
 * bit-identical for any thread count. A region runs on the caller's thread alone when the pool
 * is busy with another caller's region or threads cannot be created (the result is the same,
 * only slower).
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
/* Owned shares: thread t owns oc_parallel's range t and takes it from the front in chunks of
 * `unit` items (0 = 1); a thread done with its own takes chunks from the back of the others'. On
 * time, every thread computes exactly its range, as with oc_parallel: the same items in every
 * call of the same shape, so what a thread wrote in one step it reads in the next from its own
 * core's cache; a thread that starts late (a sleeping worker woken on a busy host) loses the end
 * of its share to the others instead of holding them up. Same bytes, for kernels whose items are
 * independent of which thread computes them. */
void oc_parallel_owned(int nth, size_t n, size_t unit, oc_range_fn fn, void *ctx);
int oc_cpu_count(void);
#define OC_MAX_THREADS 256

/* ---------------------------------------------------------------------------------------------
 * CPU features and kernel paths (cpu.c)
 *
 * The features the kernels use, as detected (CPU and OS: the OS must save the vector and tile
 * state the instructions use, else they fault).
 */
typedef enum {
    OC_CPU_AVX2 = 1u << 0,       /* AVX2 + FMA + F16C, YMM state: the avx2 path */
    OC_CPU_AVX512 = 1u << 1,     /* AVX-512 F/BW/VL/DQ (+ the above), ZMM and opmask state */
    OC_CPU_AVX512BF16 = 1u << 2, /* AVX512-BF16 (vdpbf16ps) */
    OC_CPU_AVX512VNNI = 1u << 3, /* AVX512-VNNI (vpdpbusd) */
    OC_CPU_AMX_BF16 = 1u << 4,   /* AMX-TILE + AMX-BF16, tile state granted (implies AVX512BF16) */
    OC_CPU_AMX_INT8 = 1u << 5,   /* AMX-TILE + AMX-INT8, tile state granted */
    OC_CPU_NEON = 1u << 6,       /* AArch64 Advanced SIMD (every AArch64 CPU): the neon path */
    OC_CPU_NEON_DOT = 1u << 7,   /* AArch64 dot product (SDOT; Linux HWCAP_ASIMDDP) */
} oc_cpu_feature;
unsigned oc_cpu_features(void); /* OR of oc_cpu_feature: what this CPU and OS support */

/* The vector path: scalar (the reference, any CPU), avx2 or avx512 (x86-64), neon (AArch64).
 * Chosen once per process: OCLIP_SIMD=scalar|avx2|avx512|neon when set (non-empty) and supported
 * here, else the best supported. */
typedef enum {
    OC_SIMD_SCALAR = 0,
    OC_SIMD_AVX2 = 1,
    OC_SIMD_AVX512 = 2,
    OC_SIMD_NEON = 3,
    OC_SIMD_COUNT
} oc_simd;
oc_simd oc_simd_get(void);        /* the path in use (oc_kernels_get()->path) */
int oc_simd_supported(oc_simd s); /* CPU, OS and build: 1 / 0 */
const char *oc_simd_name(oc_simd s);
/* What was wrong with OCLIP_SIMD or OCLIP_AMX, as one sentence that says what is used instead
 * (an unknown value, or a path or AMX this CPU, OS or build does not have); NULL when nothing
 * was. The library does not print: the program shows it. */
const char *oc_simd_warning(void);

/* ---------------------------------------------------------------------------------------------
 * Weights as stored (kernels.c): a 2-D view into the mapped checkpoint, F32/F16/BF16,
 * unaligned, little-endian. Converted to fp32 a block at a time inside the GEMM.
 */
#define OC_PANEL 32    /* output columns per packed panel: the unit of the GEMMs' thread split */
#define OC_GEMM_KB 256 /* depth (k) per block of the fp32 / BF16 GEMMs */
typedef struct {
    const uint8_t *data;
    oclip_dtype dtype;
    size_t n, k;  /* output features, input features */
    int kn;       /* 0: stored [n, k] (nn.Linear.weight); 1: stored [k, n] (visual.proj, ...) */
    /* Packed copy for the SIMD paths (oc_weight_pack), or NULL: panels of OC_PANEL output
     * columns, k-major: element (n, k) at packed[(n / 32) * K * 32 + k * 32 + n % 32], zero past
     * N; in pdtype (F32, F16 or BF16: the stored type, or the type cast to at load). pairs: BF16
     * for the BF16 dot-product kernels, k in pairs: (n, k) at [(n / 32) * Kp * 32 + (k / 2) * 64
     * + (n % 32) * 2 + k % 2], Kp = K rounded up to even (zero-padded). */
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

/* dst[0..count) = elements [first, first + count) of a float tensor, as fp32. */
void oc_load_f32(float *dst, const uint8_t *data, oclip_dtype dt, size_t first, size_t count);

/* The packed copy of w (what oc_kernels.pack_weights asks for): in the stored type (to =
 * OCLIP_DTYPE_F32), or rounded to F16 / BF16 (nearest even, as oclip_dtype_cast), BF16 in k
 * pairs when `pairs`, or quantized to int8 per output column (to = OCLIP_DTYPE_I8, every path:
 * oc_gemm_i8 reads it). OCLIP_E_NOMEM on failure. oc_weight_unpack frees it (NULL-safe). */
oclip_status oc_weight_pack(oc_weight *w, oclip_dtype to, int pairs, int nth, oclip_error *err);
void oc_weight_unpack(oc_weight *w);

/* ---------------------------------------------------------------------------------------------
 * Operations (kernels.c). Each looks the table up once (oc_kernels_get) and runs its entry.
 *
 * Y[m, :] = X[m, :] . W^T + bias for m in [0, M): X [M, K], Y [M, N], bias [N] or NULL.
 * Each Y element is summed over k in increasing order (one float accumulator; fused
 * multiply-adds on the SIMD paths), whatever the blocking, the rows computed with it or the
 * thread split; the bias is added last. BF16 weights in k pairs go to the table's gemm_bf16
 * where it has one (X rounded to BF16 too). Needs no heap memory. */
void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth);

typedef enum { OC_ACT_GELU = 0, OC_ACT_GELU_TANH, OC_ACT_QUICK_GELU } oc_act;

/* What a GEMM does to each block of Y it has just computed, in the same parallel region while
 * the block is in cache (the transformer block's bias + GELU and residual add without a pass of
 * their own): Y = act(Y) when `act`, then res += gamma * Y (gamma NULL: res += Y) when res is
 * not NULL (res [M, N], row stride N). The same operations, so the same bytes, as oc_activate
 * and then that addition after the GEMM. */
typedef struct {
    int act;          /* 1: apply `fn` */
    oc_act fn;
    float *res;
    const float *gamma;
} oc_epilogue;
void oc_gemm_ep(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                const oc_epilogue *ep, int nth);

/* Y = X . W^T + bias over int8 weights (W->pdtype I8), the activations quantized per row:
 * s_x[m] = max_k |X[m, k]| / 127, qx = round(X / s_x) in [-127, 127] (nearest even; a row with
 * a NaN or an infinity gives NaN outputs), then for each element the exact integer dot product
 * d = sum_k qx[m, k] q(n, k) and Y[m, n] = (float)d * (s_x[m] * s[n]) + bias[n]. Integer sums
 * are exact, so every kernel (reference, AVX2, AVX512-VNNI, AMX-INT8) and thread count gives the
 * same bytes. scratch: oc_gemm_i8_scratch(M, K) bytes (any alignment). */
size_t oc_gemm_i8_scratch(size_t M, size_t K);
void oc_gemm_i8(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                int nth, void *scratch);
void oc_gemm_i8_ep(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y,
                   const oc_epilogue *ep, int nth, void *scratch);

/* An implicit GEMM (the table's gemm_rows; conv.c): the rows of X are not a matrix but tiles,
 * tile i being tile[i].mr rows at tile[i].x + r * ldx (or tile[i].xrows[r]) whose outputs go to
 * tile[i].y + r * ldy; along k, X is in segments of `seg` elements, segment s of a row starting
 * s * seg_step after the row's start. A k x k convolution over a zero-padded channels-last image
 * without its im2col matrix: a row is an output position's window (xrows: its first padded
 * pixel), a segment one kernel row (its k taps of C channels are contiguous in the image); a
 * plain matrix is one tile with seg = K.
 * Y = X W^T + bias (fp32 weights, packed or as stored) with oc_gemm's arithmetic, so the bytes
 * oc_gemm gives for the same X as a matrix; then, each rounded, Y += res (the tile's res rows,
 * where not NULL) and Y = ReLU(Y) (NaN -> 0) when relu: the convolution's epilogue, done as Y is
 * stored instead of in a pass of its own. */
typedef struct {
    const float *x;
    float *y;
    size_t mr;
    const float *res; /* the tile's rows of res (row stride ldy), or NULL */
    /* where not NULL, row r of X at xrows[r] instead of x + r * ldx (a tile that spans output
     * rows: the micro-kernel's tiles fill up where pieces of rows were short) */
    const float *const *xrows;
} oc_gemm_tile;
typedef struct oc_gemm_rows {
    const oc_gemm_tile *tile;
    size_t ntiles, ldx, ldy, seg, seg_step;
    int relu;
} oc_gemm_rows;

/* the activation in place over x[0, n) */
void oc_activate(float *x, size_t n, oc_act act, int nth);

/* LayerNorm over rows of width D: y = (x - mean) / sqrt(var + eps) * w + b (biased variance).
 * x and y may alias. Rows are split over nth threads. */
void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps, int nth);


/* Multi-head attention core over qkv [N, T, 3D] (q | k | v, head h at columns [h*hd, (h+1)*hd)
 * of each): o [N, T, D] = softmax(q k^T / sqrt(hd)) v per (sequence, head), keys j > query i
 * skipped when causal (so row i depends only on keys <= i: computing T' < T positions gives the
 * same bytes for them). One work item = one (sequence, head). OCLIP_E_NOMEM if the scratch
 * (a [hd, T] copy of K and a few rows of scores per thread) cannot be allocated. */
oclip_status oc_attention(const float *qkv, float *o, size_t N, size_t T, size_t D, size_t H,
                          int causal, int nth, oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * Convolutions over channels-last activations x [N, H, W, C] (conv.c). A convolution's weights
 * are prepared once (oc_conv_init): PyTorch's [cout, cin / groups, kh, kw] (batch norm already
 * folded in by oc_bn_fold where the model has one) reordered to the im2col column order (ky, kx,
 * c) and, with `pack`, packed for the SIMD GEMMs. oc_conv2d computes
 *   y [N, Ho, Wo, cout] = act(conv(x) + bias + res),  Ho = (H + 2 pad - kh) / stride + 1,
 * zero padding, `res` (same shape as y; may be y itself, not otherwise overlap it) or NULL, act
 * ReLU when `relu`: one group is an implicit
 * GEMM over the positions (oc_gemm_rows: x itself, a zero-padded copy or im2col rows), several
 * groups GEMMs over im2col tiles per group, and depthwise ones (one input channel per group:
 * cin = groups, cout a multiple of it) a direct loop. The arithmetic is oc_gemm's, so the bytes
 * do not depend on the thread count.
 */
typedef struct {
    int cin, cout, kh, kw, stride, pad, groups, depthwise;
    oc_weight *wg;  /* [groups]: group g's [cout / groups, kh * kw * cin / groups] (NULL-free) */
    float *wbuf;    /* the fp32 weights wg point into; depthwise: [kh * kw, cout] */
    float *bias;    /* [cout] (zeros when the convolution has none) */
    oc_weight *wino; /* [16] after oc_conv_winograd: U_k [cout, cin] (wg, wbuf: NULL then) */
    float *wino_buf; /* the fp32 U_k the wino weights point into */
} oc_conv;
oclip_status oc_conv_init(oc_conv *cv, const float *w, const float *bias, int cin, int cout,
                          int kh, int kw, int stride, int pad, int groups, int pack, int nth,
                          oclip_error *err);
void oc_conv_free(oc_conv *cv); /* NULL- and zero-safe */
/* A 3x3, stride 1, pad 1, one-group convolution given Winograd's F(2x2, 3x3) form (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2015): each 2x2 block of outputs
 * from its 4x4 input window as A^T [(G g G^T) . (B^T d B)] A, 16 multiplies per input channel
 * instead of 36, the 16 element-wise products over the channels being 16 GEMMs of the window
 * transforms by U_k = (G g G^T)_k (16/9 of the weights' size). Not the direct sums' bytes: each
 * output differs from them by rounding (the transforms' additions), within a few units of the
 * last place of the sum's terms (test_conv). The direct weights are freed: oc_conv2d takes the
 * Winograd form from then on, the threads splitting the tiles or, with few of them (one image's
 * small grid), the output channels (conv.c conv_wino). OCLIP_E_ARG for another shape. */
oclip_status oc_conv_winograd(oc_conv *cv, int pack, int nth, oclip_error *err);
size_t oc_conv_out(size_t in, int k, int stride, int pad); /* output length along one axis */
oclip_status oc_conv2d(const oc_conv *cv, const float *x, size_t N, size_t H, size_t W,
                       float *y, const float *res, int relu, int nth, oclip_error *err);
/* Batch norm (eval: running statistics) folded into the convolution before it, in place:
 * w [cout, per_out] *= gamma / sqrt(var + eps), bias [cout] = beta + (bias - mean) * that
 * (computed in double). */
void oc_bn_fold(float *w, float *bias, size_t cout, size_t per_out, const float *gamma,
                const float *beta, const float *mean, const float *var, float eps);
/* nn.AvgPool2d(k) (kernel = stride = k, no padding, floor) over x [N, H, W, C] into
 * y [N, H / k, W / k, C]: each window summed in (ky, kx) order, divided by k * k. */
void oc_avgpool2d(const float *x, size_t N, size_t H, size_t W, size_t C, size_t k, float *y,
                  int nth);

/* ---------------------------------------------------------------------------------------------
 * The dispatch table (filled in cpu.c from the ISA files' kernels, once per process)
 *
 * One entry per operation, for the path in use and the features this CPU has; the operations
 * above read it once per call (never per element or per block). Every entry computes the bytes
 * the scalar reference's does for the integer GEMM, and the same function to float rounding for
 * the rest (test_kernels compares them); each entry's own results never depend on the thread
 * split. Range entries work on [i0, i1) of their items so that any split gives the same bytes.
 */
/* panels [p0, p1) of OC_PANEL columns of Y = X W^T + bias, all M rows (Y row stride W->n) */
typedef void (*oc_gemm_fn)(const float *X, size_t M, const oc_weight *W, const float *bias,
                           float *Y, size_t p0, size_t p1);
/* the fp32 [kb, OC_PANEL] block of panel p at depth k0 of W, packed from the weights as stored
 * into buf (the layout of oc_weight_pack's F32 copy; columns past W->n zero) */
typedef void (*oc_pack_fn)(const oc_weight *W, size_t p, size_t k0, size_t kb, float *buf);
/* tiles [t0, t1) x panels [p0, p1) of an implicit GEMM (oc_gemm_rows above) */
typedef void (*oc_gemm_rows_fn)(const struct oc_gemm_rows *R, size_t t0, size_t t1,
                                const oc_weight *W, const float *bias, size_t p0, size_t p1);
/* panels [p0, p1) of oc_gemm_i8: xq [M, Kq] holds qx + 128 (bytes, zero-padded as 128), xs [M]
 * the row scales */
typedef void (*oc_gemm_i8_fn)(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                              const float *bias, float *Y, size_t p0, size_t p1);
/* one row of oc_gemm_i8's activation quantization: q [Kq] = qx + 128 (128 past K), *sx = the
 * row's scale (NaN for a row holding a NaN or an infinity, whose q are then all 128) */
typedef void (*oc_quant_i8_fn)(const float *x, size_t K, size_t Kq, uint8_t *q, float *sx);
typedef void (*oc_layernorm_fn)(const float *x, float *y, size_t r0, size_t r1, size_t D,
                                const float *w, const float *b, float eps);
typedef void (*oc_act_fn)(float *x, size_t i0, size_t i1, oc_act act);
/* items [i0, i1) of oc_attention; scratch: oc_attention_scratch(T, hd) floats (kernels_int.h) */
typedef void (*oc_attention_fn)(const float *qkv, float *o, size_t T, size_t D, size_t H,
                                int causal, size_t i0, size_t i1, float *scratch);
/* Winograd F(2x2, 3x3)'s transforms of one tile over C channels (conv.c). in: the 4x4 window
 * px[a * 4 + b] (NULL: zero padding) -> V + k * ldv, k = a * 4 + b, V = B^T d B; out:
 * M + k * ldm -> A^T M A + bias, + res (pr[a * 2 + b], or NULL), ReLU when relu (NaN -> 0),
 * at py[a * 2 + b] (NULL: past the image's edge). Additions only, in one fixed order: every
 * path gives the same bytes. */
typedef void (*oc_wino_in_fn)(const float *const *px, size_t C, float *V, size_t ldv);
typedef void (*oc_wino_out_fn)(const float *M, size_t ldm, size_t C, const float *bias,
                               float *const *py, const float *const *pr, int relu);

typedef struct {
    oc_simd path;
    int amx;           /* AMX kernels allowed in this table (OCLIP_AMX is not "0") */
    int pack_weights;  /* 1: GEMM weights get a packed copy (the SIMD paths); 0: the scalar
                        * path reads fp32 / F16 / BF16 weights as stored (int8 is always packed) */
    int bf16_pairs;    /* 1: weights cast to BF16 are packed in k pairs, for gemm_bf16 */
    oc_gemm_fn gemm;   /* fp32 arithmetic over F32 / F16 / BF16 weights, packed or as stored
                        * (BF16 k pairs widened exactly) */
    size_t gemm_row_bytes; /* gemm's threads also split by rows of this much X at large M
                            * (0: by panels only; kernels.c, split_for) */
    oc_pack_fn pack_block; /* oc_weight_pack's fp32 blocks (the SIMD paths: register
                            * transposes; the scalar path: oc_pack_block) */
    oc_gemm_rows_fn gemm_rows; /* gemm's arithmetic over implicit rows (fp32 weights) */
    oc_gemm_fn gemm_bf16; /* BF16 k-pair weights, X rounded to BF16: AMX-BF16 or AVX512-BF16;
                           * NULL: none here (gemm widens them) */
    oc_gemm_i8_fn gemm_i8; /* AMX-INT8, AVX512-VNNI, AVX2, NEON SDOT, NEON or the reference */
    oc_quant_i8_fn quant_i8;
    oc_layernorm_fn layernorm;
    oc_act_fn act;
    oc_attention_fn attention;
    oc_wino_in_fn wino_in;
    oc_wino_out_fn wino_out;
    /* what computes each reduced weight type (oclip_dtype_kernel_name) */
    const char *f16_name, *bf16_name, *i8_name;
} oc_kernels;

/* The table in use. Thread-safe; the first call builds the tables (pthread_once). */
const oc_kernels *oc_kernels_get(void);

#endif
