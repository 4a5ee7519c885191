/*
 * arch.h — what an OpenCLIP architecture's state dict holds (arch.c), and how a checkpoint's
 * keys are mapped onto OpenCLIP's names (layout.c). Internal.
 */
#ifndef OCLIP_ARCH_H
#define OCLIP_ARCH_H

#include "internal.h"

/* One expected state-dict entry. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
} oc_expect;

/*
 * The exact state dict (keys, shapes, in OpenCLIP's order) of a native `CLIP` built from cfg.
 * Names live in `a`. Fails with OCLIP_E_UNSUPPORTED for families other than native.
 */
oclip_status oc_arch_expected(const oclip_model_config *cfg, oc_arena *a, oc_expect **out,
                              size_t *n, oclip_error *err);

/* Building an expected state dict: put(ctx, ndim, shape, name) receives one entry (the shape's
 * dimensions past ndim are 0). oc_arch_expected collects them into its list; a test may compare
 * them one by one. */
typedef void (*oc_put_fn)(void *ctx, int ndim, const int64_t shape[4], const char *name);
typedef struct {
    oc_put_fn put;
    void *ctx;
} oc_emit;
/* The list oc_arch_expected builds: entries and their names in arena a (oom: one did not fit). */
typedef struct {
    oc_expect *v;
    size_t n, cap;
    oc_arena *a;
    bool oom;
} oc_elist;
/* An oc_put_fn appending to the oc_elist l (its name copied into the arena). */
void oc_elist_put(void *l, int ndim, const int64_t shape[4], const char *name);
/* The list as *out / *n, or OCLIP_E_NOMEM when an entry did not fit. */
oclip_status oc_elist_done(const oc_elist *l, oc_expect **out, size_t *n, oclip_error *err);
/* One entry, its name formatted from fmt (names longer than 255 bytes are cut). */
void oc_emitf(const oc_emit *e, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
              const char *fmt, ...) OC_PRINTF(7, 8);
/* timm VisionTransformer's Blocks 0 .. depth-1 under visual.trunk.blocks. (norm1, attn.qkv,
 * attn.proj, norm2, mlp.fc1, mlp.fc2, each Linear with its bias; width W, MLP hidden M). */
void oc_emit_timm_blocks(const oc_emit *e, int depth, int64_t W, int64_t M);
/* timm AttentionPoolLatent under visual.trunk.attn_pool. (latent, q, kv, proj, norm, mlp; width
 * W, MLP hidden M). */
void oc_emit_attn_pool(const oc_emit *e, int64_t W, int64_t M);
/* open_clip transformer.py ResidualAttentionBlock x layers under prefix ("<prefix>resblocks.<i>.":
 * ln_1, attn in_proj / out_proj, ls_1 (ls), ln_2, mlp c_fc / c_proj, ls_2 (ls)). */
void oc_emit_resblocks(const oc_emit *e, const char *prefix, int layers, int64_t w, int64_t mlp,
                       bool ls);
/* A CustomTextCLIP's TextTransformer (text.*: positional_embedding, text_projection, token
 * embedding, resblocks, ln_final, in state_dict() order). */
void oc_emit_custom_text(const oc_emit *e, const oclip_model_config *cfg);
/* An image tower's entries (visual.*) in state_dict() order, for a config its family accepts. */
typedef void (*oc_visual_expected_fn)(const oclip_model_config *c, oc_put_fn put, void *ctx);

/* Reason a config cannot be computed by oclip, or NULL when it can. */
const char *oc_arch_unsupported(const oclip_model_config *cfg);
/* The same for a ModifiedResNet config (family RESNET). */
const char *oc_resnet_unsupported(const oclip_model_config *cfg);
/* Keys a checkpoint may hold or not, outside the expected list: a ModifiedResNet's
 * BatchNorm2d num_batches_tracked counters (PyTorch's BatchNorm fills a missing one on load and
 * eval never reads it). */
bool oc_arch_optional(const oclip_model_config *cfg, const char *name);

/*
 * Maps `src` onto OpenCLIP native names as a new checkpoint (zero-copy where a tensor is only
 * renamed; fused q/k/v and transposed projections are materialised). Notes for the user are
 * appended to *notes (an arena-allocated array of strings, grown as needed). `src` must outlive
 * the result.
 */
typedef struct {
    const char **items;
    size_t n, cap;
    oc_arena *arena;
    bool oom; /* a note could not be stored (out of memory): the caller reports OCLIP_E_NOMEM */
} oc_notes;

void oc_note(oc_notes *nt, const char *fmt, ...) OC_PRINTF(2, 3);

oclip_status oc_layout_map(const oclip_checkpoint *src, oclip_checkpoint **out, oc_notes *notes,
                           oclip_error *err);

/* HF transformers CLIPModel <-> OpenCLIP names (layout.c), used in both directions. */
typedef struct {
    const char *hf, *oc;
} oc_name_pair;

/* per encoder layer: suffix after "<tower>.encoder.layers.<L>." <-> after "...resblocks.<L>." */
extern const oc_name_pair oc_hf_layer_names[];
extern const size_t oc_hf_layer_names_n;
/* whole-model renames, in CLIPModel's state_dict order: text embeddings (2), text final norm (2),
 * vision embeddings and pre-norm (5), vision post-norm (2), logit_scale, logit_bias */
extern const oc_name_pair oc_hf_names[];
extern const size_t oc_hf_names_n;

/* HF transformers SiglipModel <-> OpenCLIP SigLIP names (layout.c): the fixed ones, and per
 * vision encoder layer (the text layers use oc_hf_layer_names under text.transformer.). */
extern const oc_name_pair oc_siglip_names[];
extern const size_t oc_siglip_names_n;
extern const oc_name_pair oc_siglip_vision_layer_names[];
extern const size_t oc_siglip_vision_layer_names_n;
/* An HF-layout checkpoint of a SiglipModel (vision_model.head.probe or text_model.head). */
bool oc_is_hf_siglip(const oclip_checkpoint *ck);

/* A 2-D tensor [r, c] as its transpose [c, r], in a new buffer `dst` owns. */
oclip_status oc_add_transposed(oclip_checkpoint *dst, const char *name, const oclip_tensor *t,
                               oclip_error *err);

/* A timm image tower oclip computes (timm.c): a SigLIP ViT as timm defines it for its name. */
typedef struct {
    char name[96];
    int img, patch, width, depth, heads;
    int mlp;       /* MLP hidden width of the blocks and the pool: int(width * mlp_ratio) */
    int gelu_tanh; /* act_layer 'gelu_tanh' (1) or exact nn.GELU (0), blocks and pool */
} oc_timm_tower;

/* The tower timm builds for `name` (*out when not NULL): a vit_*_siglip_* name, or
 * "local-dir:PATH" / "hf-hub:ORG/NAME" whose config.json names one with other sizes (timm.c);
 * false for names oclip does not know. */
bool oc_timm_tower_find(const char *name, oc_timm_tower *out);
/* Sets t->name from its sizes and activation: the timm vit_*_siglip_* architecture that has
 * exactly them, else "siglip:img=S,patch=P,width=W,depth=D,heads=H,mlp=M,act=gelu|gelu_tanh"
 * (a transformers SiglipModel's tower; oc_timm_tower_find reads it back). */
void oc_timm_tower_name(oc_timm_tower *t);
/* Why config c (family TIMM) is not a SigLIP model oclip computes, or NULL, with its image
 * tower in *tower (when not NULL). */
const char *oc_timm_unsupported(const oclip_model_config *c, oc_timm_tower *tower);
/* A timm image-tower family other than the SigLIP ViTs above (timm.c's table): its name, whether
 * a timm_model_name is its own (computed or refused by name), why a config of it is not computed
 * (NULL: it is), its tower's expected state dict (visual.*: oc_arch_expected puts it in a
 * CustomTextCLIP's, or with custom_text false in a CLIP's) and the binding of its tower into a
 * model (model.c). */
typedef struct {
    const char *name;
    bool (*is)(const char *timm_model_name);
    const char *(*unsupported)(const oclip_model_config *c);
    oc_visual_expected_fn visual;
    oclip_status (*bind)(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err);
} oc_timm_family;
/* The family timm_model_name belongs to, or NULL (a SigLIP ViT, or unknown). */
const oc_timm_family *oc_timm_family_of(const char *timm_model_name);
/* Config c is a SigLIP model oclip computes (a timm SigLIP ViT, not ConvNeXt or EVA, whose
 * oc_timm_unsupported is NULL too). */
bool oc_timm_is_siglip(const oclip_model_config *c);

#endif
