/*
 * eva.h — the timm EVA02 CLIP image tower's weights as the engine runs them (eva.c), bound by
 * model/eva.c. Not installed.
 */
#ifndef OCLIP_NN_EVA_H
#define OCLIP_NN_EVA_H

#include "nn/engine.h"

/* One EvaBlock (timm models/eva.py) with qkv_fused False, swiglu_mlp, scale_mlp and
 * scale_attn_inner: x += proj(norm_a(attn(rope(q), rope(k), v)))(norm1(x)),
 * x += fc2(norm_m(silu(fc1_g(h)) * fc1_x(h))) with h = norm2(x). */
typedef struct {
    float *n1_w, *n1_b, *n2_w, *n2_b;        /* norm1, norm2 [D] */
    oc_weight q, k, v, proj;                 /* attn.{q,k,v}_proj, attn.proj [D, D] */
    float *q_b, *v_b, *proj_b;               /* [D] (k_proj has no bias) */
    float *an_w, *an_b;                      /* attn.norm [D] */
    oc_weight fg, fx, fc2;                   /* mlp.fc1_g, mlp.fc1_x [M, D], mlp.fc2 [D, M] */
    float *fg_b, *fx_b, *fc2_b;              /* [M], [M], [D] */
    float *mn_w, *mn_b;                      /* mlp.norm [M] */
} oc_eva_block;

struct oc_eva {
    int D, H, M, layers;
    float eps;            /* timm LayerNorm: 1e-6 */
    float *cls;           /* trunk.cls_token [D] */
    float *head_b;        /* trunk.head.bias [E] */
    /* RotaryEmbeddingCat.get_embed() for the G patch tokens, per frequency pair i < hd / 2:
     * rope_sin / rope_cos [G, hd / 2] (timm repeats each twice: pairs (2i, 2i + 1)) */
    float *rope_sin, *rope_cos;
    oc_eva_block *blocks; /* [layers] */
};

/* Fills sin / cos [gh * gw, hd / 2] as timm's RotaryEmbeddingCat (layers/pos_embed_sincos.py,
 * in_pixels False, grid 'index' rescaled to ref_feat_shape (ref, ref), indexing 'ij', rope
 * temperature 10000) builds them; hd a multiple of 4. */
void oc_eva_rope_table(int gh, int gw, int hd, int ref, float *sin_out, float *cos_out);

#endif
