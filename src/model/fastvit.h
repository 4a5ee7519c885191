/*
 * fastvit.h — the timm FastViT image towers of MobileCLIP (fastvit.c): OpenCLIP's TimmModel over
 * timm models/fastvit.py fastvit_mci0 .. mci4 with timm_pool 'avg' and timm_proj null
 * (MobileCLIP-S1 / S2, MobileCLIP2-S0 / S2 / S3 / S4 configs). Internal.
 */
#ifndef OCLIP_MODEL_FASTVIT_H
#define OCLIP_MODEL_FASTVIT_H

#include "model/arch.h"
#include "nn/engine.h"

/* The trunk timm builds for `name` (*g when not NULL): fastvit_mci0 .. mci4, or a registered
 * test tower; false for other names. */
bool oc_fastvit_find(const char *name, oc_fastvit_geom *g);
/* Adds a tower under a fastvit_* name timm does not define (tests: the tiny tower
 * tools/fixtures_fastvit.py registers with timm as fastvit_oclip_tiny). */
oclip_status oc_fastvit_register(const char *name, const oc_fastvit_geom *g, oclip_error *err);
/* Whether `name` is one of timm's fastvit_* towers at all (computed or refused by name). */
bool oc_fastvit_family(const char *name);
/* Why config c (family TIMM, a fastvit_* timm_model_name) is not a tower oclip computes, or
 * NULL, with the geometry in *g when not NULL. */
const char *oc_fastvit_unsupported(const oclip_model_config *c, oc_fastvit_geom *g);
/* The image tower's state dict entries (visual.trunk.*, train-time form; the BatchNorms'
 * num_batches_tracked left out: oc_arch_optional tolerates them) for geometry g and embed_dim
 * E, in TimmModel.state_dict() order, each handed to put(ctx, ndim, shape, name). */
void oc_fastvit_expected(const oc_fastvit_geom *g, int E, oc_put_fn put, void *ctx);
/* The same for config c's tower (visual.trunk.*), for a config oc_fastvit_unsupported accepts
 * (none for another). */
void oc_fastvit_visual(const oclip_model_config *c, oc_put_fn put, void *ctx);
/* Binds the image tower of model m (its config checked with oc_fastvit_unsupported). */
oclip_status oc_fastvit_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err);

#endif
