/*
 * eva.h — the timm EVA02 CLIP image tower's weights as the engine runs them (eva.c), bound by
 * model/eva.c. Not installed.
 */
#ifndef OCLIP_NN_EVA_H
#define OCLIP_NN_EVA_H

#include "nn/engine.h"

/* One EvaBlock (timm models/eva.py), pre-norm: x += attn(norm1(x)), x += mlp(norm2(x)); or
 * EvaBlockPostNorm: x += norm1(attn(x)), x += norm2(mlp(x)). attn: q, k, v (fused: one GEMM with
 * bias [q_bias; 0; v_bias], or PE's AttentionRope: attn.qkv with its bias; else q_proj with bias,
 * k_proj without, v_proj with), rope on q and k of the patch tokens (EVA02 B/L, PE), softmax
 * attention, attn.norm (EVA02 B/L), attn.proj. mlp:
 * SwiGLU fc2(norm_m(silu(fc1_g(h)) * fc1_x(h))) (EVA02 B/L) or fc2(gelu(fc1(h))). */
typedef struct {
    float *n1_w, *n1_b, *n2_w, *n2_b;        /* norm1, norm2 [D] */
    oc_weight q, k, v, proj;                 /* attn.{q,k,v}_proj, attn.proj [D, D]; fused:
                                              * q = attn.qkv [3D, D], k, v unused */
    float *q_b, *v_b, *proj_b;               /* [D] (k_proj has no bias); fused: q_b [3D] */
    float *an_w, *an_b;                      /* attn.norm [D], or NULL */
    oc_weight fg, fx, fc2;                   /* mlp.fc1_g (or mlp.fc1), mlp.fc1_x [M, D],
                                              * mlp.fc2 [D, M] */
    float *fg_b, *fx_b, *fc2_b;              /* [M], [M], [D] */
    float *mn_w, *mn_b;                      /* mlp.norm [M] (SwiGLU) */
} oc_eva_block;

struct oc_eva {
    int D, H, M, layers;
    int swiglu, fused, post_norm; /* as oc_eva_tower (model/eva.h) */
    int ncls;             /* prefix tokens: 1 (trunk.cls_token), 0 (PE gigantic) */
    int map;              /* PE: trunk.attn_pool (vis.latent / pool_*, oc_map_pool) over every
                           * token instead of the class token */
    float eps;            /* timm LayerNorm: 1e-6; PE 1e-5 */
    float *cls;           /* trunk.cls_token [D], or NULL (ncls 0) */
    float *pre_w, *pre_b; /* trunk.norm_pre [D] (PE), or NULL (identity) */
    float *head_b;        /* trunk.head.bias [E] */
    /* RotaryEmbeddingCat.get_embed() for the G patch tokens, per frequency pair i < hd / 2:
     * rope_sin / rope_cos [G, hd / 2] (timm repeats each twice: pairs (2i, 2i + 1)); NULL:
     * no rope */
    float *rope_sin, *rope_cos;
    oc_eva_block *blocks; /* [layers] */
};

/* Fills sin / cos [gh * gw, hd / 2] as timm's RotaryEmbeddingCat (layers/pos_embed_sincos.py,
 * in_pixels False, grid 'index' + grid_offset `off` rescaled to ref_feat_shape (ref, ref), rope
 * temperature 10000) builds them, grid_indexing 'ij' (xy 0: EVA02, per token [row bands, column
 * bands]) or 'xy' (xy 1: PE, [column bands, row bands]); hd a multiple of 4. */
void oc_eva_rope_table(int gh, int gw, int hd, int ref, int xy, float off, float *sin_out,
                       float *cos_out);

#endif
