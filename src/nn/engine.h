/*
 * engine.h — the inference engine's internals: the loaded model (src/model/model.c), the
 * transformer blocks both towers run (tower.c), the image tower (vit.c), the text tower
 * (text.c) and the packed weights' life cycle (tower.c). Not installed. The kernels they call
 * (GEMMs, LayerNorm, attention, threads) are kernels/kernels.h.
 *
 * Dimension letters used in shape comments:
 *   N images or texts in a batch, T tokens per sequence, D model width of a tower,
 *   M MLP hidden width, E joint embedding size, P patch size, gh x gw patch grid,
 *   H heads, hd head width (D / H), K inner dimension of a GEMM.
 */
#ifndef OCLIP_ENGINE_H
#define OCLIP_ENGINE_H

#include <pthread.h>

#include "internal.h"
#include "kernels/kernels.h"
#include "text/hf_tokenizer.h"

/* Longest sequence a tower runs (bounds the attention scratch: a [head width, T] copy of K and
 * four rows of scores per thread). ViT-H-14-378 has 730 image tokens; the load refuses configs
 * beyond this. */
#define OC_MAX_TOKENS 4096

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
    /* timm SigLIP tower (timm_vit.c) when `map`: no class token (pos [gh*gw, D]), no ln_pre,
     * conv bias, ln_post = trunk.norm over every token, then the MAP attention pool */
    int map;
    float *conv_b;           /* [D] */
    float *latent;           /* attn_pool.latent [D] */
    oc_weight pool_q, pool_kv, pool_proj, pool_fc1, pool_fc2; /* [D,D] [2D,D] [D,D] [M,D] [D,M] */
    float *pool_q_b, *pool_kv_b, *pool_proj_b, *pool_fc1_b, *pool_fc2_b;
    float *pool_ln_w, *pool_ln_b;
    /* OpenAI's ModifiedResNet (resnet.c) when not NULL: the rest of this struct but img_h /
     * img_w is then unused */
    struct oc_resnet *rn;
    /* timm EVA02 CLIP tower (eva.c) when non-NULL: conv (+ conv_b), pos [1 + G, D], ln_post =
     * trunk.norm, proj = trunk.head [E, D] (kn 0); its blocks are eva->blocks, tw unused */
    struct oc_eva *eva;
    /* timm ConvNeXt (convnext.c) when not NULL: the rest of this struct but img_h / img_w is
     * then unused */
    struct oc_convnext *cnx;
    /* timm class-token ViT (timm_vit.c oc_timmvit_forward, nn/timm_vit.h) when non-NULL */
    struct oc_timmvit *tv;
    /* timm ViTamin (vitamin.c) when not NULL: proj = TimmModel's head.proj [E, D] (packed with
     * the tower), img_h / img_w set; the rest of this struct is unused */
    struct oc_vitamin *vitamin;
    /* timm FastViT (MobileCLIP, fastvit.c) when not NULL: as cnx */
    struct oc_fastvit *fvt;
} oc_vision;

/* ModifiedResNet (open_clip modified_resnet.py): convolutions with their batch norms folded in
 * (oc_conv, kernels.h), channels-last activations. */
typedef struct {
    oc_conv c1, c2, c3, down; /* 1x1, 3x3 pad 1, 1x1; down: the downsample 1x1 (has_down) */
    int stride, has_down;     /* stride > 1: AvgPool2d(stride) after c2 and before down */
} oc_bottleneck;

typedef struct oc_resnet {
    int width, img, heads, C, E, grid; /* C = width * 32 (attnpool), grid = img / 32 */
    int layers[4];
    oc_conv stem[3];        /* 3 -> w/2 stride 2, w/2 -> w/2, w/2 -> w; each + ReLU */
    oc_bottleneck *blocks;  /* layers[0] + ... + layers[3] */
    int nblocks;
    float *pos;             /* attnpool.positional_embedding [grid * grid + 1, C] */
    float *qkv_buf, *qkv_b; /* [q; k^T by head; v] weights (3 C x C) and [q; k; v] biases [3C]
                             * (fp32 copies) */
    oc_weight q, cproj;     /* q: [C, C] at qkv_buf; cproj: attnpool.c_proj [E, C] as stored */
    oc_weight *kt, *vh;     /* [heads]: head h's k rows transposed, [C, hd], and v rows [hd, C] */
    float *cproj_b;         /* [E] */
} oc_resnet;

/* The text tower's pooled position (open_clip transformer.py text_global_pool) */
typedef enum { OC_POOL_ARGMAX = 0, OC_POOL_EOS, OC_POOL_FIRST, OC_POOL_LAST } oc_txt_pool;

/* An HF text tower (open_clip hf_model.py HFTextEncoder over transformers' RobertaModel /
 * XLMRobertaModel: hf_text.c), bound by model/hftext.c. */
typedef enum { OC_HF_MEAN = 0, OC_HF_CLS, OC_HF_CLS_LAST } oc_hf_pooler;
typedef enum { OC_HF_PROJ_NONE = 0, OC_HF_PROJ_LINEAR, OC_HF_PROJ_MLP } oc_hf_proj;
/* GEMM weights of one encoder layer, in oc_hf_text.w order */
enum { OC_HF_Q = 0, OC_HF_K, OC_HF_V, OC_HF_O, OC_HF_FC, OC_HF_OUT, OC_HF_PER_LAYER };
typedef struct {
    float *b[OC_HF_PER_LAYER]; /* the biases [D] [D] [D] [D] [M] [D] */
    float *ln1_w, *ln1_b;      /* attention.output.LayerNorm [D] (m2m: self_attn_layer_norm) */
    float *ln2_w, *ln2_b;      /* output.LayerNorm [D] (m2m: final_layer_norm) */
} oc_hf_layer;
typedef struct {
    int on;                    /* the text tower is this one */
    /* m2m: NLLB's M2M100 encoder (pre-LN layers, ln_w / ln_b its final layer_norm, pos the
     * sinusoidal table computed at load, token embeddings times emb_scale); relu: its FFN
     * activation (else exact GELU) */
    int m2m, relu;
    float emb_scale;
    int D, M, H, layers, vocab, max_pos, pad_id;
    float eps;
    oc_hf_pooler pooler;
    oc_hf_proj proj;
    const uint8_t *tok_emb;    /* word_embeddings [vocab, D] as stored */
    oclip_dtype tok_dtype;
    float *pos, *type0;        /* position_embeddings [max_pos, D]; token_type_embeddings[0] */
    float *ln_w, *ln_b;        /* embeddings.LayerNorm [D] */
    oc_hf_layer *l;            /* [layers] */
    float *pool_b;             /* pooler.dense.bias [D] (OC_HF_CLS) */
    /* every GEMM weight: OC_HF_PER_LAYER per layer (nblock of them), then the pooler's dense
     * [D, D] (OC_HF_CLS), then the projection: proj.weight [E, D], or proj.0 [(D+E)/2, D] and
     * proj.2 [E, (D+E)/2]; w[nblock + n_pool] is the first projection weight */
    oc_weight *w;
    size_t nw, nblock, n_pool;
} oc_hf_text;

/* The text tower (oc_txt_*: the tokenizer's code-point strings are oc_text, src/text/) */
typedef struct {
    oc_hf_text hf;           /* hf.on: an HF text tower, the fields below unused */
    oc_tower tw;
    int ctx, vocab, eos_id;
    oc_txt_pool pool;
    const uint8_t *tok_emb;  /* [vocab, D] as stored */
    oclip_dtype tok_dtype;
    float *pos;              /* [ctx, D] */
    float *ln_w, *ln_b;      /* ln_final [D] */
    int has_proj;
    oc_weight proj;          /* [D, E] stored kn, or [E, D] (Linear) */
    float *proj_b;           /* [E] or NULL */
} oc_txt_tower;

/* CoCa's own parts (open_clip coca_model.py CoCa; nn/coca.c, bound by model/coca.c): the image
 * tower's AttentionalPooler (transformer.py, when attentional_pool), the text tower's appended
 * CLS embedding and the MultimodalTransformer text decoder. */
typedef struct {
    oc_block b;               /* ln_1 (queries), attn (in_proj rows [q; k; v]), ln_2, mlp, ls */
    float *lnkv_w, *lnkv_b;   /* ln_1_kv (the image tokens) */
} oc_xblock;

typedef struct oc_coca {
    /* visual.attn_pool: out [nq, E] = MHA(ln_q(query), ln_k(x), ln_k(x)), E heads pool_heads,
     * keys / values of the tower's width D; 0: OpenCLIP's 'tok' pool over the tower */
    int attn_pool, nq, pool_heads;
    float *query;                            /* [nq, E] */
    float *ln_q_w, *ln_q_b, *ln_k_w, *ln_k_b; /* [E], [D] */
    oc_weight pq, pk, pv, pout;              /* [E, E], [E, D], [E, D], [E, E] */
    float *pin_b, *pout_b;                   /* [3E], [E] */
    float *cls_emb;                          /* text.cls_emb [Wt] */
    int pad_id;                              /* text_cfg.pad_id: the text tower's key mask */
    /* text_decoder: layers x (self-attention block, causal; cross-attention block) */
    oc_tower dec;                            /* D width, H heads, M = 4 D, causal */
    oc_xblock *xattn;                        /* [dec.layers] */
    int dec_ctx, vocab;                      /* multimodal context_length; text vocab_size */
    float *dec_ln_w, *dec_ln_b;              /* ln_final [W] */
    oc_weight dec_proj;                      /* text_projection [W, vocab] (kn) */
} oc_coca;

struct oclip_model {
    oclip_source *src;    /* where the model came from (model.c); owns ck */
    oclip_checkpoint *ck;
    oclip_report *report; /* owns the mapped (OpenCLIP-named) view the weights point into */
    oclip_model_config cfg;
    oclip_preprocess_cfg pre; /* how images are preprocessed for this model (size = image_size) */
    char source[2600];    /* what was loaded and where the architecture came from */
    int threads;          /* read and written atomically (oclip_model_set_threads) */
    int E;
    float logit_scale, logit_bias;
    oc_vision vis;
    oc_txt_tower txt;
    oc_arena arena;       /* fp32 copies of the small vectors (LayerNorm, biases, positions) */
    /* each tower's GEMM weights are packed on its first use (oc_model_prepare), under pack_mu;
     * packed[t] (0 image, 1 text) is set, with release order, once tower t is; used[t]: tower
     * t ran; inplace[t]: calls reading its weights in place now */
    oclip_dtype weight_dtype;
    pthread_mutex_t pack_mu;
    int pack_mu_ok;
    int packed[2], used[2], inplace[2];
    /* the Hugging Face tokenizer (text_cfg.hf_tokenizer_name), loaded on the first text call
     * under pack_mu (model/tokenizer.c); NULL until then or for SimpleTokenizer models */
    struct oc_hftok *hftok;
    oc_hftok_call hfcall;
    oc_coca *coca;        /* CoCa's parts (in arena), or NULL */
    /* the convolutional towers' activations of the last call, kept for the next one
     * (oc_act_alloc / oc_act_release; atomic, NULL when none or in use) */
    void *act_slot;
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
    float *pool_attn, *pool_ln; /* timm MAP pool: attention after its proj, its LayerNorm [N, D] */
    /* ModifiedResNet, NCHW as PyTorch: after the stem [N, w, H/4, W/4] and after each of
     * layer1..4 [N, 4w * 2^i, ...]. timm ConvNeXt: after trunk.stem [N, dims[0], H/4, W/4] and
     * after each of trunk.stages[i] [N, dims[i], ...] (pooled: trunk.head.norm's output
     * [N, dims[3]]) */
    float *rn_stem, *rn_layer[4];
} oc_stages;

/* out [N, E] (unnormalized). The text tower runs only the first T' positions, where T' is one
 * past the last pooled position in the batch (see text.c), unless `full` is set or the pool or
 * the mask needs every position; stages then hold positions < T' only (the rest zero). */
oclip_status oc_vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                            const oc_stages *st, oclip_error *err);
/* The timm SigLIP image tower (timm_vit.c), called by oc_vit_forward when vis.map is set;
 * stages for tests: embed [N, G, D] (patch conv + pos_embed), block0 / last [N, G, D] (last:
 * after trunk.norm), pooled [N, D] (the pool output, = out). */
oclip_status oc_timm_vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                 const oc_stages *st, oclip_error *err);
/* timm AttentionPoolLatent (layers/attention_pool.py forward; timm_vit.c) for n images, x
 * [n, G, D] after trunk.norm (every token), with vis.latent / pool_* and vis.tw's D, H (the
 * pool's heads), M (its MLP width), eps, act: q = q(latent) (one query), k, v = kv(x) split into
 * H heads, a = proj(softmax(q k^T / sqrt(hd)) v), out [n, D] = a + mlp(norm(a)) (no residual
 * around the attention). Scratch: kv [n*G, 2D], q [D], a / h [n, D], f [n, M], scores [G]. */
void oc_map_pool(const oclip_model *m, const float *x, size_t n, size_t G, float *out, float *kv,
                 float *q, float *a, float *h, float *f, float *scores, const oc_stages *st,
                 size_t first);
/* The timm EVA02 / PE image tower (eva.c, its weights nn/eva.h), called by oc_vit_forward when
 * vis.eva is set; stages: embed / block0 / last [N, ncls + G, D] (embed: before PE's norm_pre;
 * last: after trunk.norm), pooled [N, D] (the class token or PE's MAP pool, the head's input). */
oclip_status oc_eva_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                            const oc_stages *st, oclip_error *err);
/* The EVA blocks' GEMM weights for the packing in tower.c (block weights: int8 under
 * OCLIP_DTYPE_I8): their count, and pointers to them in w when not NULL; e may be NULL (0).
 * oc_eva_unpack frees their packed copies (NULL-safe). */
size_t oc_eva_weights(struct oc_eva *e, oc_weight **w);
void oc_eva_unpack(struct oc_eva *e);
oclip_status oc_txt_forward(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                            const oc_stages *st, int full, oclip_error *err);
/* The HF text tower (hf_text.c), called by oc_txt_forward when txt.hf.on: out [N, E]; stages
 * for tests: last [N, T, D] (last_hidden_state at the positions computed: the non-pad ones and
 * position 0; zero elsewhere), pooled [N, D] (the pooler's output). */
oclip_status oc_hf_text_forward(const oclip_model *m, const int64_t *tokens, size_t n,
                                float *out, const oc_stages *st, oclip_error *err);

/* The ModifiedResNet image tower (resnet.c): bound from the mapped checkpoint (folding each
 * batch norm into its convolution, packing the GEMM weights on the SIMD paths), run, freed
 * (NULL-safe, also on a partly bound tower). out [N, E]; stages: the rn_* fields, pooled is
 * unused (out is attnpool's output). */
oclip_status oc_resnet_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err);
oclip_status oc_resnet_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                               const oc_stages *st, oclip_error *err);
void oc_resnet_free(oclip_model *m);

/* A timm ConvNeXt trunk's geometry (timm models/convnext.py ConvNeXt with its defaults: patch
 * stem 4x4 stride 4, 7x7 depthwise blocks, conv_mlp False, layer scale, head_norm_first False)
 * and OpenCLIP's TimmModel head over it (open_clip timm_model.py): mlp 0: head.proj Linear(C,
 * E) without bias; 1: head.mlp (fc1 C -> 2E with bias, GELU, fc2 2E -> E without). */
typedef struct {
    int depths[4], dims[4];
    float eps; /* every LayerNorm / LayerNorm2d of the trunk (norm_eps) */
    int mlp;
} oc_convnext_geom;

/* The timm ConvNeXt image tower (convnext.c): bound from the mapped checkpoint (visual.trunk.*,
 * visual.head.*; the GEMM weights packed on the SIMD paths), run, freed (NULL-safe, also on a
 * partly bound tower). out [N, E]; stages: rn_stem, rn_layer and pooled. */
oclip_status oc_convnext_bind(oclip_model *m, const oclip_checkpoint *ck,
                              const oc_convnext_geom *g, oclip_error *err);
oclip_status oc_convnext_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                 const oc_stages *st, oclip_error *err);
void oc_convnext_free(oclip_model *m);

/* A timm ViTamin trunk's geometry (timm models/vitamin.py: MbConvStages as the HybridEmbed
 * backbone of a VisionTransformer with GeGluMlp blocks; docs in nn/vitamin.c) and OpenCLIP's
 * TimmModel head.proj Linear(D, E) without bias over its fc_norm output. */
typedef struct {
    int img;       /* timm img_size: the learned pos_embed's grid is the backbone's output
                    * grid for it (img / 16 rounded up) */
    int stem;      /* stem width */
    int dims[3];   /* MbConv stage widths, then the ViT width D */
    int depths[2]; /* MbConvLNBlocks per stage */
    int depth, heads, mlp; /* ViT blocks, heads, GeGluMlp hidden width */
    int pos;       /* learned pos_embed (0: pos_embed 'none') */
} oc_vitamin_geom;

/* The timm ViTamin image tower (vitamin.c): bound from the mapped checkpoint (visual.trunk.*,
 * visual.head.proj; the convolutions as fp32 copies packed at once, the ViT blocks' and the
 * head's Linear weights in place, packed with the tower by oc_model_prepare), run, freed
 * (NULL-safe, also on a partly bound tower). out [N, E]; stages for tests (NCHW as PyTorch's):
 * rn_stem after backbone.stem [N, stem, H/2, W/2], rn_layer[0..1] after backbone.stages[i],
 * rn_layer[2] after backbone.pool [N, D, H/16, W/16]; block0 / last [N, G, D] after the first
 * and the last block; pooled [N, D] fc_norm's output. oc_vitamin_weights / oc_vitamin_unpack:
 * the blocks' GEMM weights for tower.c's packing (as oc_eva_weights). */
oclip_status oc_vitamin_bind(oclip_model *m, const oclip_checkpoint *ck,
                             const oc_vitamin_geom *g, oclip_error *err);
oclip_status oc_vitamin_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err);
void oc_vitamin_free(oclip_model *m);
size_t oc_vitamin_weights(struct oc_vitamin *v, oc_weight **w);
void oc_vitamin_unpack(struct oc_vitamin *v);
/* A timm FastViT trunk's geometry (timm models/fastvit.py FastVit as fastvit_mci0 .. mci4 build
 * it: BatchNorm2d in the convolutional parts, GELU, repmixer kernel 3, PatchEmbed 7x7 stride 2, lkc_use_act, the stem's
 * scale branches) under OpenCLIP's TimmModel with timm_pool 'avg' and timm_proj null (the
 * trunk's head.fc Linear(2 * dims[last], E) with bias). */
#define OC_FASTVIT_MAX_STAGES 5
typedef struct {
    int nst;                               /* stages */
    int layers[OC_FASTVIT_MAX_STAGES], dims[OC_FASTVIT_MAX_STAGES];
    int mlp_ratio;                         /* every stage's */
    int se_down[OC_FASTVIT_MAX_STAGES];    /* SE in the stage's downsample (se_downsamples) */
    int attn[OC_FASTVIT_MAX_STAGES];       /* token mixer: 1 attention, 0 repmixer */
    int pos_emb[OC_FASTVIT_MAX_STAGES];    /* RepConditionalPosEnc 7x7 before the blocks */
    int ln_norm;    /* attention blocks' norm: 1 LayerNorm2d eps 1e-5 (mci3 / mci4), 0 BatchNorm2d */
    int stem_scale; /* the stem's MobileOneBlocks have conv_scale (stem_use_scale_branch) */
} oc_fastvit_geom;

/* The timm FastViT image tower (fastvit.c): bound from the mapped checkpoint's train-time form
 * (visual.trunk.*: every re-parameterisable branch folded into one convolution at load), run,
 * freed (NULL-safe, also on a partly bound tower). out [N, E]; stages: rn_stem, rn_layer[0..3]
 * (NCHW after trunk.stem and each trunk.stages[i]) and pooled (the final_conv output averaged,
 * [N, 2 * dims[last]], head.fc's input). */
oclip_status oc_fastvit_bind(oclip_model *m, const oclip_checkpoint *ck,
                             const oc_fastvit_geom *g, oclip_error *err);
oclip_status oc_fastvit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err);
void oc_fastvit_free(oclip_model *m);

/* CoCa (coca.c). oc_coca_attn_pool: the AttentionalPooler's first nq queries over x [n, T, D]
 * (the image tower's last block output): out [n, nq, E], before ln_post. oc_coca_text: the
 * text tower over tokens [n, L] (row stride `stride`) with the CLS embedding appended at
 * position L, the causal mask and the pad-key mask OpenCLIP builds (TextTransformer._embeds,
 * _build_additive_mask with correct_cls_mask False); pooled [n, E] (ln_final of the CLS row, @
 * text_projection) and / or tokens [n, L, Wt] (rows 0..L-1 after the blocks) when not NULL.
 * oc_coca_encode_text: oc_txt_forward's body for a CoCa model (tokens [n, ctx]). */
oclip_status oc_coca_attn_pool(const oclip_model *m, const float *x, size_t n, size_t T,
                               size_t nq, float *out, oclip_error *err);
oclip_status oc_coca_text(const oclip_model *m, const int64_t *tokens, size_t n, size_t L,
                          size_t stride, float *pooled, float *tok, oclip_error *err);
/* The decoder's image tokens of n images: out [n, oc_coca_image_ntok(m), W] (the attentional
 * pool's queries 1.. after ln_post, or ln_post of the patch tokens without one). */
size_t oc_coca_image_ntok(const oclip_model *m);
oclip_status oc_coca_image_tokens(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, oclip_error *err);
/* text_decoder(image tokens img [Ti, W], text tokens tok [L, W]): logits [L, vocab] (tests). */
oclip_status oc_coca_decoder_logits(const oclip_model *m, const float *img, size_t Ti,
                                    const float *tok, size_t L, float *logits, oclip_error *err);
/* CoCa.generate(image, generation_type="beam_search", ...) for one image [3, H, W]: ids
 * [seq_len] (start-of-text first; end-of-text last unless seq_len long), *n_ids of them. The
 * arguments are checked by the caller (oclip_caption); the text tower must be prepared. */
oclip_status oc_coca_caption(const oclip_model *m, const float *pixels, int num_beams,
                             int groups, int seq_len, int min_len, double rep, int64_t sot,
                             int64_t eos, int64_t *ids, size_t *n_ids, oclip_error *err);

/* The patches of pixels [n, 3, img_h, img_w] as the rows of the patch-embedding GEMM (tower.c):
 * patches [n * gh * gw, 3 * P * P], flattened in (c, ky, kx) order, row-major over the grid;
 * pixels past the last full patch are not read, as a strided convolution does not read them. */
void oc_patches(const oc_vision *v, const float *pixels, size_t n, float *patches);

/* A Linear layer: oc_gemm_ep, or oc_gemm_i8_ep for weights quantized at load (qs: its scratch
 * from oc_gemm_i8_scratch) */
void oc_linear(const float *X, size_t rows, const oc_weight *W, const float *bias, float *Y,
               const oc_epilogue *ep, int nth, void *qs);
/* Activation memory for one forward call of m's image tower: the block the previous call
 * released when it is large enough (a batch of convolutional activations is 50-130 MB, above
 * glibc's largest mmap threshold: a fresh block is mapped and zero-filled page by page on every
 * call), else a new one; NULL when out of memory. Several threads may call at once: one of them
 * reuses the kept block, the others allocate. oc_act_release(m, p) keeps p for the next call
 * (freeing what was kept), oc_act_free_slot frees the kept block (oclip_model_free). */
float *oc_act_alloc(const oclip_model *m, size_t floats);
void oc_act_release(const oclip_model *m, float *p);
void oc_act_free_slot(oclip_model *m);
/* Shared by both towers (tower.c): the residual blocks over x [N, T, D] in place, with copies of
 * the activations after the first and the last block into block0 / last when non-NULL. */
oclip_status oc_tower_run(const oc_tower *tw, float *x, size_t N, size_t T, int nth,
                          float *block0, float *last, oclip_error *err);

/* The packed copies of one tower's GEMM weights (tower.c; tower 0 image, 1 text), made on the
 * tower's first use so that a process that embeds only images never packs the text tower: when
 * the kernel table in use packs weights (the SIMD paths), in the stored type (m->weight_dtype
 * F32) or cast to F16 / BF16 (BF16 in k pairs where the table has a BF16 dot-product GEMM:
 * computed natively); I8: the transformer blocks' four Linear weights quantized to int8 on every
 * path (oc_gemm_i8), the patch embedding and the projections as for F32.
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
