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

#include "internal.h"

/* Longest sequence a tower runs: one row of attention scores lives on the stack (16 KiB).
 * ViT-H-14-378 has 730 image tokens; the load refuses configs beyond this. */
#define OC_MAX_TOKENS 4096

/* ---------------------------------------------------------------------------------------------
 * Threads (pool.c)
 *
 * oc_parallel runs fn(ctx, i0, i1) over [0, n) split into `nth` contiguous ranges, one per
 * thread (the caller's thread takes the first). Each range is the same whatever else runs, and
 * every kernel computes each output element inside one range with a fixed reduction order, so
 * results are bit-identical for any thread count. Falls back to running on the caller's thread
 * when a thread cannot be created (the result is the same, only slower).
 */
typedef void (*oc_range_fn)(void *ctx, size_t i0, size_t i1);
void oc_parallel(int nth, size_t n, oc_range_fn fn, void *ctx);
int oc_cpu_count(void);

/* ---------------------------------------------------------------------------------------------
 * Weights as stored (kernels.c): a 2-D view into the mapped checkpoint, F32/F16/BF16,
 * unaligned, little-endian. Converted to fp32 a panel at a time inside the GEMM.
 */
typedef struct {
    const uint8_t *data;
    oclip_dtype dtype;
    size_t n, k;  /* output features, input features */
    int kn;       /* 0: stored [n, k] (nn.Linear.weight); 1: stored [k, n] (visual.proj, ...) */
} oc_weight;

/* dst[0..count) = elements [first, first + count) of a float tensor, as fp32. */
void oc_load_f32(float *dst, const uint8_t *data, oclip_dtype dt, size_t first, size_t count);

/* Y[m, :] = X[m, :] . W^T + bias for m in [0, M): X [M, K], Y [M, N], bias [N] or NULL.
 * Each Y element is summed over k in increasing order (one float accumulator), whatever the
 * blocking or thread split. Needs no heap memory. */
void oc_gemm(const float *X, size_t M, const oc_weight *W, const float *bias, float *Y, int nth);

/* LayerNorm over rows of width D: y = (x - mean) / sqrt(var + eps) * w + b (biased variance).
 * x and y may alias. */
void oc_layernorm(const float *x, float *y, size_t rows, size_t D, const float *w,
                  const float *b, float eps);

typedef enum { OC_ACT_GELU = 0, OC_ACT_GELU_TANH, OC_ACT_QUICK_GELU } oc_act;
void oc_activate(float *x, size_t n, oc_act act, int nth);

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

#endif
