/*
 * timm_vit.h — the class-token timm ViT tower's state (bound by model/timmvit.c, run by
 * timm_vit.c oc_timmvit_forward): timm VisionTransformer with global_pool 'token'.
 */
#ifndef OCLIP_NN_TIMM_VIT_H
#define OCLIP_NN_TIMM_VIT_H

#include "nn/engine.h"

/* Beside it, oc_vision holds: tw (the blocks, timm Block = OpenCLIP's pre-norm block), cls
 * (cls_token [D]), pos (pos_embed [1 + G, D], or [G, D] with no_embed_class), conv / conv_b
 * (patch_embed.proj [D, 3PP] without bias under pre_norm, or the ConvStem's last conv
 * [D, stem_ch[1] * k2 * k2] with bias), ln_pre (norm_pre, or NULL), ln_post (norm), proj
 * (head.weight [E, D], kn 0). */
struct oc_timmvit {
    float eps;          /* the trunk's LayerNorms (norm_pre, norm; the blocks' are tw.eps) */
    int no_embed_class; /* pos_embed has no class-token row; the class token gets no position */
    int stem;           /* 1: the ConvStem below feeds conv; 0: conv is the patch conv */
    /* ConvStem stages 0 and 1: conv (kernel = stride = k[i], no padding) with its BatchNorm
     * folded in (oc_bn_fold), then exact GELU; w[i] [ch[i], cin * k * k] fp32 in PyTorch's
     * (c, ky, kx) order; stage 2 is conv / conv_b with kernel k[2] */
    int k[3], ch[2];
    int h[3], w_[3];    /* output grid of each stage (h[2] x w_[2] = gh x gw) */
    oc_weight w[2];
    float *b[2];
    float *head_b;      /* head.bias [E] */
};

/* out [N, E]; stages: embed [N, 1 + G, D] (tokens + positions, before norm_pre), block0 / last
 * [N, 1 + G, D] (last: after the final norm), pooled [N, D] (the class token after norm). */
oclip_status oc_timmvit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err);

#endif
