/*
 * eva.h — the EVA02 CLIP image towers oclip computes: timm's eva02_*_clip models (timm 1.0.31
 * models/eva.py) as OpenCLIP's TimmModel builds them (open_clip timm_model.py: timm_pool 'token',
 * timm_proj null, so the trunk's head is a Linear(width, embed_dim) with bias), and the
 * Perception Encoder towers vit_pe_core_* (timm_pool 'map': the trunk's AttentionPoolLatent, then
 * the same head). The recognition (model/eva.c), the expected state dict and the binding; the
 * forward is nn/eva.c. docs/EVA.md.
 */
#ifndef OCLIP_MODEL_EVA_H
#define OCLIP_MODEL_EVA_H

#include <stdbool.h>

#include "model/arch.h"

/* One EVA tower: the arguments timm's function for the name passes to Eva. Every one has a class
 * token, LayerNorm eps 1e-6, no LayerScale, no pre-transformer norm. EVA02 B/L: swiglu_mlp +
 * scale_mlp, scale_attn_inner, qkv_fused False, rope 'cat'; EVA01 (eva_giant_*) and EVA02-E
 * (eva02_enormous_*, use_post_norm): qkv_fused (q_bias, v_bias, no k bias), GELU Mlp. */
typedef struct {
    char name[64];
    int img, patch, width, depth, heads;
    int mlp;       /* MLP hidden width: int(width * mlp_ratio) */
    int ref;       /* rope: ref_feat_shape (ref, ref), the grid rescaled to it; 0: no rope */
    int swiglu;    /* SwiGLU (fc1_g, fc1_x, SiLU, mlp.norm) instead of Mlp (fc1, GELU, fc2) */
    int fused;     /* qkv_fused: attn.qkv [3W, W] + q_bias / v_bias; else q/k/v_proj */
    int attn_norm; /* scale_attn_inner: attn.norm before attn.proj */
    int post_norm; /* EvaBlockPostNorm: x + norm1(attn(x)), x + norm2(mlp(x)) */
    /* Perception Encoder (vit_pe_core_*): use_pre_transformer_norm (norm_pre, patch conv without
     * bias), attn_type 'rope' (AttentionRope: attn.qkv [3W, W] with one bias [3W]; with fused),
     * LayerNorm eps 1e-5, global_pool 'map' (AttentionPoolLatent over every token, then the
     * head); rope grid indexing 'xy' and grid_offset as below */
    int pe;
    int no_cls;      /* class_token False: no trunk.cls_token, pos_embed [G, W] */
    int rope_xy;     /* rope_grid_indexing 'xy': [column bands, row bands] per token */
    float rope_off;  /* rope_grid_offset: added to the grid index before the ref rescale */
    int map_heads;   /* pe: attn_pool_num_heads */
    int map_mlp;     /* pe: the pool's MLP hidden width int(W * attn_pool_mlp_ratio) */
} oc_eva_tower;

/* Is `timm_model_name` one of timm's EVA models (eva_*, eva02_*, vit_pe_core_*, or a registered
 * test tower)?
 * Those are answered by oc_eva_unsupported, never by the SigLIP table. */
bool oc_eva_family(const char *timm_model_name);
/* The EVA tower timm builds for `name`; false when oclip does not compute it. */
bool oc_eva_tower_find(const char *name, oc_eva_tower *out);
/* Adds a tower under a name timm does not define (tests: tools/fixtures_eva.py's tiny towers). */
oclip_status oc_eva_tower_register(const oc_eva_tower *t, oclip_error *err);
/* Why config c (family TIMM, an EVA tower) is not computed, or NULL with its tower in *t. */
const char *oc_eva_unsupported(const oclip_model_config *c, oc_eva_tower *t);

/* The tower's entries of the state dict (visual.trunk.*), in state_dict() order, for a config
 * oc_eva_unsupported accepts (none for another). */
void oc_eva_visual(const oclip_model_config *cfg, oc_put_fn put, void *ctx);
/* Points m->vis at the EVA02 tower's weights in `mapped` (model.c's bind, for the image tower). */
oclip_status oc_eva_bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err);

#endif
