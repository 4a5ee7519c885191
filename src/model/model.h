/*
 * model.h — what the model layer's files share besides arch.h: the decisions that more than
 * one of them needs, each made in one place. Internal.
 */
#ifndef OCLIP_MODEL_H
#define OCLIP_MODEL_H

#include "internal.h"

/* Why the engine cannot compute config c (the family first: oc_arch_unsupported, then options
 * vit.c / text.c do not implement), or NULL when it can (model.c). */
const char *oc_model_unsupported(const oclip_model_config *c);

/* When pretrained tag `tag` of architecture `arch` was trained with another activation than
 * the one the model runs (quick = 1: QuickGELU): the sentence that says so and what to do, in
 * out[size], and true; false when they agree or the tag says nothing (check.c). */
bool oc_tag_gelu_mismatch(const char *arch, const char *tag, oclip_quick_gelu trained, int quick,
                          char *out, size_t size);

/* Frees the model's tokenizer (tokenizer.c); oclip_model_tokenize loads it. */
struct oclip_model;
void oc_model_tokenizer_free(struct oclip_model *m);

#endif
