/*
 * vitamin.h — the ViTamin CLIP models oclip computes: OpenCLIP's CustomTextCLIP with a TimmModel
 * image tower (open_clip timm_model.py: timm_pool '', timm_proj 'linear') over timm's vitamin_*
 * models (timm 1.0.31 models/vitamin.py) and CLIP's own text tower under text.*. Which names
 * oclip computes, their state dict and the binding (model/vitamin.c); the forward is
 * nn/vitamin.c. Internal.
 */
#ifndef OCLIP_MODEL_VITAMIN_H
#define OCLIP_MODEL_VITAMIN_H

#include <stdbool.h>

#include "model/arch.h"
#include "nn/engine.h"

/* A timm ViTamin trunk by name: the VitCfg and the VisionTransformer arguments timm's function
 * for the name passes (every one: LayerNorm2d / LayerNorm eps 1e-6, GELU, MbConv expand ratio
 * 4, no class token, global_pool 'avg' with fc_norm, GeGluMlp), or a tower added with
 * oc_vitamin_register. */
typedef struct {
    char name[64];
    oc_vitamin_geom g; /* nn/engine.h */
} oc_vitamin_tower;

/* The tower timm builds for `name` (*out when not NULL); false for other names. */
bool oc_vitamin_find(const char *name, oc_vitamin_tower *out);
/* Adds a tower under a name timm does not define (tests: the tiny towers
 * tools/fixtures_vitamin.py registers with timm, listed in its manifest.json). */
oclip_status oc_vitamin_register(const oc_vitamin_tower *t, oclip_error *err);
/* Why config c (family TIMM, a ViTamin timm_model_name) is not a model oclip computes, or NULL
 * with its tower in *t when not NULL. */
const char *oc_vitamin_unsupported(const oclip_model_config *c, oc_vitamin_tower *t);
/* The image tower's expected state dict entries (visual.trunk.*, visual.head.*), in state_dict()
 * order, each handed to put(ctx, ndim, shape, name). */
void oc_vitamin_visual(const oclip_model_config *c, oc_put_fn put, void *ctx);
/* Binds the image tower of model m (its config checked with oc_vitamin_unsupported). */
oclip_status oc_vitamin_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err);

#endif
