/*
 * model.h — what the model layer's files share besides arch.h: the decisions that more than
 * one of them needs, each made in one place. Internal.
 */
#ifndef OCLIP_MODEL_H
#define OCLIP_MODEL_H

#include "internal.h"
#include "kernels/kernels.h"
#include "nn/engine.h"

/* Why the engine cannot compute config c (the family first: oc_arch_unsupported, then options
 * vit.c / text.c do not implement), or NULL when it can (model.c). */
const char *oc_model_unsupported(const oclip_model_config *c);

/* When pretrained tag `tag` of architecture `arch` was trained with another activation than
 * the one the model runs (quick = 1: QuickGELU): the sentence that says so and what to do, in
 * out[size], and true; false when they agree or the tag says nothing (check.c). */
bool oc_tag_gelu_mismatch(const char *arch, const char *tag, oclip_quick_gelu trained, int quick,
                          char *out, size_t size);

/* Binding a tower's tensors from the mapped view (OpenCLIP names; shapes and dtypes validated
 * against the expected state dict before): `fmt` is a name with at most one %d (`layer`). The
 * first failure is kept in st (and err); later calls still return, NULL or an empty weight.
 * model.c and the family files (eva.c, timmvit.c, hftext.c) share these. */
struct oclip_model;
typedef struct {
    struct oclip_model *m;
    const oclip_checkpoint *ck;
    oclip_error *err;
    oclip_status st;
} oc_binder;
const oclip_tensor *oc_bind_tensor(oc_binder *b, const char *fmt, int layer);
/* An fp32 copy of a small tensor (LayerNorm, bias, positions): numel floats in the arena. */
float *oc_bind_vec(oc_binder *b, const char *fmt, int layer);
/* A 2-D weight used in place: n outputs x k inputs, stored [n, k] (kn = 0) or [k, n]; a 4-D
 * convolution [cout, cin, kh, kw] is a [cout, cin * kh * kw] matrix in the same bytes. */
oc_weight oc_bind_weight(oc_binder *b, const char *fmt, int layer, int kn);
/* open_clip's ResidualAttentionBlock l under "<blocks>.<l>." (ln_1, attn in_proj / out_proj,
 * ln_2, mlp c_fc / c_proj, ls_1 / ls_2 when ls) into k. */
void oc_bind_block(oc_binder *b, oc_block *k, const char *blocks, int l, int ls);

/* Frees the model's tokenizer (tokenizer.c); oclip_model_tokenize loads it. */
void oc_model_tokenizer_free(struct oclip_model *m);

#endif
