/*
 * convnext.h — the timm ConvNeXt CLIP models oclip computes (convnext.c): OpenCLIP's `CLIP` with a
 * TimmModel image tower over a timm ConvNeXt (open_clip timm_model.py; timm models/convnext.py)
 * and CLIP's own text tower. Internal.
 */
#ifndef OCLIP_MODEL_CONVNEXT_H
#define OCLIP_MODEL_CONVNEXT_H

#include "model/arch.h"
#include "nn/engine.h"

/* A timm ConvNeXt trunk by name: timm's convnext_* definitions, or a tower added with
 * oc_convnext_register. */
typedef struct {
    char name[96];
    int depths[4], dims[4];
    float eps;
} oc_convnext_tower;

/* The tower timm builds for `name` (*out when not NULL); false for other names. */
bool oc_convnext_find(const char *name, oc_convnext_tower *out);
/* Adds a tower under a name timm does not define (tests: the tiny towers
 * tools/fixtures_convnext.py registers with timm, listed in its manifest.json). */
oclip_status oc_convnext_register(const oc_convnext_tower *t, oclip_error *err);
/* Why config c (family TIMM, a ConvNeXt timm_model_name) is not a model oclip computes, or NULL,
 * with the geometry in *g when not NULL. */
const char *oc_convnext_unsupported(const oclip_model_config *c, oc_convnext_geom *g);
/* The image tower's expected state dict entries (visual.trunk.*, visual.head.*), in state_dict()
 * order, each handed to put(ctx, ndim, shape, name). */
void oc_convnext_visual(const oclip_model_config *c, oc_put_fn put, void *ctx);
/* Binds the image tower of model m (its config checked with oc_convnext_unsupported). */
oclip_status oc_convnext_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err);

#endif
