/*
 * timmvit.h — the class-token timm ViT image towers oclip computes: timm VisionTransformer with
 * a class token and global_pool 'token' as OpenCLIP's TimmModel builds it with timm_pool 'token'
 * and timm_proj null (open_clip timm_model.py: timm.create_model(name, num_classes=embed_dim,
 * global_pool='token'), so the trunk's head Linear(width, embed_dim) with bias is the
 * projection). MobileCLIP2-L-14 (vit_large_patch14_clip_224, timm models/vision_transformer.py)
 * and MobileCLIP-B / MobileCLIP2-B (vit_base_mci_224, timm models/vision_transformer_hybrid.py:
 * a ConvStem backbone as patch embedding, no_embed_class). The recognition, expected state dict
 * and binding (model/timmvit.c); the forward is nn/timm_vit.c (oc_timmvit_forward).
 */
#ifndef OCLIP_MODEL_TIMMVIT_H
#define OCLIP_MODEL_TIMMVIT_H

#include <stdbool.h>

#include "model/arch.h"

/* One tower: the arguments timm's function for the name gives VisionTransformer. Every one has
 * qkv bias, GELU (exact) blocks and MLPs without LayerScale, the final norm over every token and
 * fc_norm Identity (timm: use_fc_norm only for the avg/max pools). */
typedef struct {
    char name[64];
    int img, patch, width, depth, heads;
    int mlp;            /* MLP hidden width: int(width * mlp_ratio) */
    float eps;          /* every LayerNorm of the trunk (norm_layer's eps) */
    int pre_norm;       /* norm_pre LayerNorm after the position embedding; patch conv no bias */
    int no_embed_class; /* pos_embed [1, G, D] added before the class token is prepended */
    /* stem 1: HybridEmbed(ConvStem, proj=False): conv k0/k0 -> BN -> GELU, conv k1/k1 -> BN ->
     * GELU, conv k2/k2 with bias (kernel = stride, padding 0, BatchNorm2d eps 1e-5), channels
     * stem_ch[0], stem_ch[1], width; patch = k0 * k1 * k2. stem 0: PatchEmbed conv P/P. */
    int stem;
    int stem_ch[2], stem_k[3];
} oc_timmvit_tower;

/* The tower timm builds for `name` (a known name or a registered test tower); false otherwise. */
bool oc_timmvit_tower_find(const char *name, oc_timmvit_tower *out);
/* Adds a tower under a name timm does not define (tests: tools/fixtures_timmvit.py's tiny towers). */
oclip_status oc_timmvit_tower_register(const oc_timmvit_tower *t, oclip_error *err);
/* Why config c (family TIMM, one of these towers) is not computed, or NULL with its tower in *t. */
const char *oc_timmvit_unsupported(const oclip_model_config *c, oc_timmvit_tower *t);
/* The tower's entries of the state dict (visual.trunk.*), in state_dict() order, for a config
 * oc_timmvit_unsupported accepts (none for another). */
void oc_timmvit_visual(const oclip_model_config *cfg, oc_put_fn put, void *ctx);
/* Points m->vis at the tower's weights in `mapped` (model.c's bind, for the image tower). */
oclip_status oc_timmvit_bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err);

#endif
