/*
 * coca.h — CoCa models (open_clip coca_model.py CoCa): which configs oclip computes, their state
 * dict, the binding of CoCa's own parts (model/coca.c; computed by nn/coca.c). Internal.
 */
#ifndef OCLIP_MODEL_COCA_H
#define OCLIP_MODEL_COCA_H

#include "internal.h"

/* Why config c (family COCA) is not computed, or NULL. */
const char *oc_coca_unsupported(const oclip_model_config *c);
/* CoCa's state dict in state_dict() order (logit_scale, text.*, visual.*, text_decoder.*), each
 * entry handed to put(ctx, ndim, shape, name). */
void oc_coca_expected(const oclip_model_config *c,
                      void (*put)(void *ctx, int ndim, const int64_t shape[4], const char *name),
                      void *ctx);
/* Binds CoCa's own parts of model m (the towers are bound as a CustomTextCLIP's): the
 * attentional pooler, the text CLS embedding, the text decoder. */
oclip_status oc_coca_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err);

#endif
