/*
 * hftext.h — OpenCLIP's Hugging Face text towers (text_cfg.hf_model_name): the HF model's
 * config, the state dict, the binding (hftext.c). Internal.
 */
#ifndef OCLIP_HFTEXT_H
#define OCLIP_HFTEXT_H

#include "model/arch.h"

/* Fills t->hf (and t->vocab_size: HFTextEncoder.vocab_size is the HF config's) for text_cfg
 * t->hf_model_name from the first of: config.json in the folder of `weights` (when its
 * model_type is an encoder oclip knows; another config.json there, a CLIP one, is passed over),
 * config.json of the hf_model_name repository's refs/main snapshot in the Hugging Face cache
 * (as transformers' AutoConfig.from_pretrained finds it), the values built in for the names
 * OpenCLIP's configs use. A note says which. OCLIP_E_NOTFOUND when none has it; OCLIP_E_FORMAT
 * / OCLIP_E_UNSUPPORTED for a config.json oclip cannot use. Does nothing when t->hf is filled. */
oclip_status oc_hftext_resolve(oclip_text_cfg *t, const char *weights, oc_notes *notes,
                               oclip_error *err);

/* The snapshot folder of the repository `name` ("org/name", or a name without an organisation
 * such as "xlm-roberta-base": models--NAME) at refs/main in the Hugging Face cache, in
 * out[size]; false when it is not there. */
bool oc_hftext_cache_snapshot(const char *name, char *out, size_t size);

/* Why config c (family HF_TEXT) is not an HF text tower oclip computes, or NULL. Before
 * oc_hftext_resolve only the OpenCLIP side (pooler, projection) is judged. */
const char *oc_hftext_unsupported(const oclip_model_config *c);

/* The state dict of CustomTextCLIP with an HFTextEncoder (c->text.hf resolved): the native
 * image tower's keys, logit_scale (and logit_bias), then text.transformer.* and text.proj.*. */
oclip_status oc_hftext_expected(const oclip_model_config *c, oc_arena *a, oc_expect **out,
                                size_t *n, oclip_error *err);

/* Points m->txt.hf at the mapped, validated weights (model.c bind). */
struct oclip_model;
oclip_status oc_hftext_bind(struct oclip_model *m, const oclip_checkpoint *mapped,
                            oclip_error *err);

#endif
