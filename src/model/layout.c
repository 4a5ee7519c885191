/*
 * layout.c — maps a checkpoint's keys onto OpenCLIP's native `CLIP` names.
 *
 *   open_clip   as is; harmless non-persistent buffers (attn_mask) dropped with a note.
 *   openai      OpenAI JIT archives: drop the root scalars input_resolution, context_length,
 *               vocab_size (OpenCLIP's load_openai_model does the same in model.py build_model_from_openai_state_dict).
 *   hf          transformers CLIPModel (transformers modeling_clip.py): per layer q_proj/k_proj/v_proj are
 *               concatenated row-wise in q|k|v order into attn.in_proj_weight/bias;
 *               text_projection.weight [E,W] and visual_projection.weight [E,W] are transposed
 *               into text_projection / visual.proj [W,E]; pre_layrnorm (sic) -> ln_pre;
 *               position_ids buffers dropped with a note.
 *   hf SigLIP   transformers SiglipModel (modeling_siglip.py; docs/SIGLIP.md section 8), told
 *               apart by vision_model.head.probe / text_model.head.*: the vision tower onto
 *               timm's names (visual.trunk.*: q/k/v fused into attn.qkv, layer_norm1/2 -> norm1/2,
 *               post_layernorm -> norm, position_embedding [N, W] -> pos_embed [1, N, W], the
 *               MAP head's in_proj rows q | k,v split into attn_pool.q / attn_pool.kv), the text
 *               tower onto TextTransformer's (text.*: as CLIP's, head -> text_projection Linear),
 *               logit_scale / logit_bias [1] -> [] (OpenCLIP's 0-d parameters).
 * Renamed tensors point at the source's bytes; fused and transposed ones are materialised once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"

void oc_note(oc_notes *nt, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (nt->n == nt->cap) {
        size_t cap = nt->cap ? nt->cap * 2 : 16;
        const char **items = oc_arena_alloc(nt->arena, cap * sizeof *items);
        if (!items) {
            nt->oom = true;
            return;
        }
        if (nt->n) memcpy(items, nt->items, nt->n * sizeof *items);
        nt->items = items;
        nt->cap = cap;
    }
    const char *s = oc_arena_strndup(nt->arena, buf, strlen(buf));
    if (s) nt->items[nt->n++] = s;
    else nt->oom = true;
}

static bool starts(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static oclip_status copy_as(oclip_checkpoint *dst, const char *name, const oclip_tensor *t,
                            oclip_error *err) {
    return oc_ck_add_tensor(dst, name, strlen(name), t->dtype, t->ndim, t->shape, t->data,
                            t->copied, err);
}

oclip_status oc_add_transposed(oclip_checkpoint *dst, const char *name, const oclip_tensor *t,
                               oclip_error *err) {
    size_t es = oclip_dtype_size(t->dtype);
    int64_t r = t->shape[0], c = t->shape[1];
    uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
    if (!buf || !oc_ck_own(dst, buf)) {
        free(buf);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            memcpy(buf + ((size_t)j * (size_t)r + (size_t)i) * es,
                   src + ((size_t)i * (size_t)c + (size_t)j) * es, es);
    int64_t shape[2] = {c, r};
    return oc_ck_add_tensor(dst, name, strlen(name), t->dtype, 2, shape, buf, 1, err);
}

/* q|k|v rows concatenated (weights [D,D] -> [3D,D], biases [D] -> [3D]). */
static oclip_status add_fused(oclip_checkpoint *dst, const char *name, const oclip_tensor *q,
                              const oclip_tensor *k, const oclip_tensor *v, oclip_error *err) {
    if (q->dtype != k->dtype || q->dtype != v->dtype || q->ndim != k->ndim ||
        q->ndim != v->ndim || q->nbytes != k->nbytes || q->nbytes != v->nbytes ||
        q->ndim < 1 || q->ndim > 2 || (q->ndim == 2 && (q->shape[1] != k->shape[1] ||
                                                        q->shape[1] != v->shape[1])))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "cannot fuse q/k/v into '%s': their dtypes or shapes differ", name);
    uint64_t total = q->nbytes * 3;
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf || !oc_ck_own(dst, buf)) {
        free(buf);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    memcpy(buf, q->data, q->nbytes);
    memcpy(buf + q->nbytes, k->data, k->nbytes);
    memcpy(buf + 2 * q->nbytes, v->data, v->nbytes);
    int64_t shape[2] = {q->shape[0] * 3, q->ndim == 2 ? q->shape[1] : 0};
    return oc_ck_add_tensor(dst, name, strlen(name), q->dtype, q->ndim, shape, buf, 1, err);
}

/* ---------------------------------------------------------------------------------------------
 * HF transformers CLIPModel
 */
const oc_name_pair oc_hf_layer_names[] = {
    {"self_attn.out_proj.weight", "attn.out_proj.weight"},
    {"self_attn.out_proj.bias", "attn.out_proj.bias"},
    {"layer_norm1.weight", "ln_1.weight"},
    {"layer_norm1.bias", "ln_1.bias"},
    {"mlp.fc1.weight", "mlp.c_fc.weight"},
    {"mlp.fc1.bias", "mlp.c_fc.bias"},
    {"mlp.fc2.weight", "mlp.c_proj.weight"},
    {"mlp.fc2.bias", "mlp.c_proj.bias"},
    {"layer_norm2.weight", "ln_2.weight"},
    {"layer_norm2.bias", "ln_2.bias"},
};
const size_t oc_hf_layer_names_n = sizeof oc_hf_layer_names / sizeof *oc_hf_layer_names;

const oc_name_pair oc_hf_names[] = {
    {"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "positional_embedding"},
    {"text_model.final_layer_norm.weight", "ln_final.weight"},
    {"text_model.final_layer_norm.bias", "ln_final.bias"},
    {"vision_model.embeddings.class_embedding", "visual.class_embedding"},
    {"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
    {"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
    {"vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"},
    {"vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"},
    {"vision_model.post_layernorm.weight", "visual.ln_post.weight"},
    {"vision_model.post_layernorm.bias", "visual.ln_post.bias"},
    {"logit_scale", "logit_scale"},
    {"logit_bias", "logit_bias"},
};
const size_t oc_hf_names_n = sizeof oc_hf_names / sizeof *oc_hf_names;

/* Parses "<tower>.encoder.layers.<L>.<rest>"; returns rest or NULL. */
static const char *hf_layer(const char *name, const char *tower, int *layer) {
    size_t n = strlen(tower);
    if (strncmp(name, tower, n) != 0 || strncmp(name + n, ".encoder.layers.", 16) != 0)
        return NULL;
    const char *p = name + n + 16;
    if (*p < '0' || *p > '9') return NULL;
    long L = 0;
    while (*p >= '0' && *p <= '9' && L < 100000) L = L * 10 + (*p++ - '0');
    if (*p != '.') return NULL;
    *layer = (int)L;
    return p + 1;
}

static oclip_status map_hf(const oclip_checkpoint *src, oclip_checkpoint *dst, oc_notes *notes,
                           oclip_error *err) {
    oclip_status st = OCLIP_OK;
    size_t mapped = 0, dropped = 0;
    char name[320], base[320];
    for (size_t i = 0; i < src->n_tensors && !st; i++) {
        const oclip_tensor *t = &src->tensors[i];
        const char *rest;
        int L;
        const char *tower = starts(t->name, "text_model.") ? "text_model" : "vision_model";
        const char *octower = starts(t->name, "text_model.") ? "transformer" : "visual.transformer";
        if (strstr(t->name, "embeddings.position_ids")) {
            dropped++;
            continue;
        }
        if ((rest = hf_layer(t->name, tower, &L))) {
            bool done = false;
            for (size_t r = 0; r < oc_hf_layer_names_n; r++)
                if (!strcmp(rest, oc_hf_layer_names[r].hf)) {
                    snprintf(name, sizeof name, "%s.resblocks.%d.%s", octower, L,
                             oc_hf_layer_names[r].oc);
                    st = copy_as(dst, name, t, err);
                    done = true;
                }
            if (done) {
                mapped++;
                continue;
            }
            /* q_proj drives the fusion; k_proj/v_proj are consumed by it */
            const char *kind = NULL;
            if (!strcmp(rest, "self_attn.q_proj.weight")) kind = "weight";
            else if (!strcmp(rest, "self_attn.q_proj.bias")) kind = "bias";
            if (kind) {
                snprintf(base, sizeof base, "%s.encoder.layers.%d.self_attn.", tower, L);
                char kn[384], vn[384];
                snprintf(kn, sizeof kn, "%sk_proj.%s", base, kind);
                snprintf(vn, sizeof vn, "%sv_proj.%s", base, kind);
                const oclip_tensor *k = oclip_checkpoint_find(src, kn);
                const oclip_tensor *v = oclip_checkpoint_find(src, vn);
                if (!k || !v) {
                    /* leave q as an unexpected key: the report names what is missing */
                    st = copy_as(dst, t->name, t, err);
                    continue;
                }
                snprintf(name, sizeof name, "%s.resblocks.%d.attn.in_proj_%s", octower, L, kind);
                st = add_fused(dst, name, t, k, v, err);
                mapped += 3;
                continue;
            }
            if ((!strcmp(rest, "self_attn.k_proj.weight") || !strcmp(rest, "self_attn.v_proj.weight") ||
                 !strcmp(rest, "self_attn.k_proj.bias") || !strcmp(rest, "self_attn.v_proj.bias"))) {
                /* fused with q only when q, k and v are all there; else left as unexpected */
                char qkv[3][384];
                static const char *const parts[3] = {"q_proj", "k_proj", "v_proj"};
                int all = 1;
                for (int x = 0; x < 3; x++) {
                    snprintf(qkv[x], sizeof qkv[x], "%s.encoder.layers.%d.self_attn.%s.%s", tower,
                             L, parts[x], strrchr(rest, '.') + 1);
                    all &= oclip_checkpoint_find(src, qkv[x]) != NULL;
                }
                if (all) continue;
            }
            st = copy_as(dst, t->name, t, err); /* unknown: reported as unexpected */
            continue;
        }
        if (!strcmp(t->name, "text_projection.weight") || !strcmp(t->name, "visual_projection.weight")) {
            if (t->ndim != 2) {
                st = copy_as(dst, t->name, t, err);
                continue;
            }
            st = oc_add_transposed(dst, t->name[0] == 't' ? "text_projection" : "visual.proj", t,
                                   err);
            mapped++;
            continue;
        }
        bool done = false;
        for (size_t r = 0; r < oc_hf_names_n && !done; r++)
            if (!strcmp(t->name, oc_hf_names[r].hf)) {
                st = copy_as(dst, oc_hf_names[r].oc, t, err);
                done = true;
                mapped++;
            }
        if (!done) st = copy_as(dst, t->name, t, err);
    }
    if (st) return st;
    oc_note(notes, "HF-transformers layout: mapped automatically (%zu tensors; q/k/v fused, "
                   "projections transposed)", mapped);
    if (dropped)
        oc_note(notes, "dropped %zu position_ids buffer%s (older transformers saved them; "
                       "harmless)", dropped, dropped == 1 ? "" : "s");
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * HF transformers SiglipModel
 */
const oc_name_pair oc_siglip_names[] = {
    {"vision_model.embeddings.patch_embedding.weight", "visual.trunk.patch_embed.proj.weight"},
    {"vision_model.embeddings.patch_embedding.bias", "visual.trunk.patch_embed.proj.bias"},
    {"vision_model.post_layernorm.weight", "visual.trunk.norm.weight"},
    {"vision_model.post_layernorm.bias", "visual.trunk.norm.bias"},
    {"vision_model.head.probe", "visual.trunk.attn_pool.latent"},
    {"vision_model.head.attention.out_proj.weight", "visual.trunk.attn_pool.proj.weight"},
    {"vision_model.head.attention.out_proj.bias", "visual.trunk.attn_pool.proj.bias"},
    {"vision_model.head.layernorm.weight", "visual.trunk.attn_pool.norm.weight"},
    {"vision_model.head.layernorm.bias", "visual.trunk.attn_pool.norm.bias"},
    {"vision_model.head.mlp.fc1.weight", "visual.trunk.attn_pool.mlp.fc1.weight"},
    {"vision_model.head.mlp.fc1.bias", "visual.trunk.attn_pool.mlp.fc1.bias"},
    {"vision_model.head.mlp.fc2.weight", "visual.trunk.attn_pool.mlp.fc2.weight"},
    {"vision_model.head.mlp.fc2.bias", "visual.trunk.attn_pool.mlp.fc2.bias"},
    {"text_model.embeddings.token_embedding.weight", "text.token_embedding.weight"},
    {"text_model.embeddings.position_embedding.weight", "text.positional_embedding"},
    {"text_model.final_layer_norm.weight", "text.ln_final.weight"},
    {"text_model.final_layer_norm.bias", "text.ln_final.bias"},
    {"text_model.head.weight", "text.text_projection.weight"},
    {"text_model.head.bias", "text.text_projection.bias"},
};
const size_t oc_siglip_names_n = sizeof oc_siglip_names / sizeof *oc_siglip_names;

/* per vision encoder layer: after "vision_model.encoder.layers.<L>." <-> after
 * "visual.trunk.blocks.<L>." (q/k/v <-> attn.qkv handled apart) */
const oc_name_pair oc_siglip_vision_layer_names[] = {
    {"layer_norm1.weight", "norm1.weight"},
    {"layer_norm1.bias", "norm1.bias"},
    {"self_attn.out_proj.weight", "attn.proj.weight"},
    {"self_attn.out_proj.bias", "attn.proj.bias"},
    {"layer_norm2.weight", "norm2.weight"},
    {"layer_norm2.bias", "norm2.bias"},
    {"mlp.fc1.weight", "mlp.fc1.weight"},
    {"mlp.fc1.bias", "mlp.fc1.bias"},
    {"mlp.fc2.weight", "mlp.fc2.weight"},
    {"mlp.fc2.bias", "mlp.fc2.bias"},
};
const size_t oc_siglip_vision_layer_names_n =
    sizeof oc_siglip_vision_layer_names / sizeof *oc_siglip_vision_layer_names;

bool oc_is_hf_siglip(const oclip_checkpoint *ck) {
    return oclip_checkpoint_find(ck, "vision_model.head.probe") ||
           oclip_checkpoint_find(ck, "text_model.head.weight");
}

/* A view of t's bytes under another name and shape (same element count). */
static oclip_status reshape_as(oclip_checkpoint *dst, const char *name, const oclip_tensor *t,
                               int ndim, const int64_t *shape, const void *data, oclip_error *err) {
    return oc_ck_add_tensor(dst, name, strlen(name), t->dtype, ndim, shape, data, 0, err);
}

static oclip_status map_hf_siglip(const oclip_checkpoint *src, oclip_checkpoint *dst,
                                  oc_notes *notes, oclip_error *err) {
    oclip_status st = OCLIP_OK;
    size_t mapped = 0, dropped = 0;
    char name[320];
    for (size_t i = 0; i < src->n_tensors && !st; i++) {
        const oclip_tensor *t = &src->tensors[i];
        const char *rest;
        int L;
        bool text = starts(t->name, "text_model.");
        if (strstr(t->name, "embeddings.position_ids")) {
            dropped++;
            continue;
        }
        if ((rest = hf_layer(t->name, text ? "text_model" : "vision_model", &L))) {
            const oc_name_pair *tab = text ? oc_hf_layer_names : oc_siglip_vision_layer_names;
            size_t n = text ? oc_hf_layer_names_n : oc_siglip_vision_layer_names_n;
            const char *pre = text ? "text.transformer.resblocks" : "visual.trunk.blocks";
            bool done = false;
            for (size_t r = 0; r < n && !done; r++)
                if (!strcmp(rest, tab[r].hf)) {
                    snprintf(name, sizeof name, "%s.%d.%s", pre, L, tab[r].oc);
                    st = copy_as(dst, name, t, err);
                    done = true;
                }
            if (done) {
                mapped++;
                continue;
            }
            const char *kind = !strcmp(rest, "self_attn.q_proj.weight") ? "weight"
                             : !strcmp(rest, "self_attn.q_proj.bias")   ? "bias" : NULL;
            if (kind) {
                char kn[384], vn[384];
                snprintf(kn, sizeof kn, "%s.encoder.layers.%d.self_attn.k_proj.%s",
                         text ? "text_model" : "vision_model", L, kind);
                snprintf(vn, sizeof vn, "%s.encoder.layers.%d.self_attn.v_proj.%s",
                         text ? "text_model" : "vision_model", L, kind);
                const oclip_tensor *k = oclip_checkpoint_find(src, kn);
                const oclip_tensor *v = oclip_checkpoint_find(src, vn);
                if (!k || !v) {
                    st = copy_as(dst, t->name, t, err); /* reported as unexpected */
                    continue;
                }
                if (text) snprintf(name, sizeof name, "%s.%d.attn.in_proj_%s", pre, L, kind);
                else snprintf(name, sizeof name, "%s.%d.attn.qkv.%s", pre, L, kind);
                st = add_fused(dst, name, t, k, v, err);
                mapped += 3;
                continue;
            }
            if (!strncmp(rest, "self_attn.k_proj.", 17) || !strncmp(rest, "self_attn.v_proj.", 17)) {
                char qn[384];
                snprintf(qn, sizeof qn, "%s.encoder.layers.%d.self_attn.q_proj.%s",
                         text ? "text_model" : "vision_model", L, rest + 17);
                char other[384];
                snprintf(other, sizeof other, "%s.encoder.layers.%d.self_attn.%c_proj.%s",
                         text ? "text_model" : "vision_model", L, rest[10] == 'k' ? 'v' : 'k',
                         rest + 17);
                if (oclip_checkpoint_find(src, qn) && oclip_checkpoint_find(src, other)) continue;
            }
            st = copy_as(dst, t->name, t, err);
            continue;
        }
        /* the MAP head's MultiheadAttention in_proj: rows q | k | v -> attn_pool.q, attn_pool.kv */
        if (!strcmp(t->name, "vision_model.head.attention.in_proj_weight") ||
            !strcmp(t->name, "vision_model.head.attention.in_proj_bias")) {
            bool w = t->ndim == 2;
            if (t->ndim < 1 || t->ndim > 2 || t->shape[0] % 3) {
                st = copy_as(dst, t->name, t, err);
                continue;
            }
            int64_t W = t->shape[0] / 3, qs[2] = {W, w ? t->shape[1] : 0},
                    kvs[2] = {2 * W, w ? t->shape[1] : 0};
            uint64_t part = t->nbytes / 3;
            snprintf(name, sizeof name, "visual.trunk.attn_pool.q.%s", w ? "weight" : "bias");
            st = reshape_as(dst, name, t, t->ndim, qs, t->data, err);
            snprintf(name, sizeof name, "visual.trunk.attn_pool.kv.%s", w ? "weight" : "bias");
            if (!st)
                st = reshape_as(dst, name, t, t->ndim, kvs, (const uint8_t *)t->data + part, err);
            mapped++;
            continue;
        }
        if (!strcmp(t->name, "vision_model.embeddings.position_embedding.weight") && t->ndim == 2) {
            int64_t shape[3] = {1, t->shape[0], t->shape[1]};
            st = reshape_as(dst, "visual.trunk.pos_embed", t, 3, shape, t->data, err);
            mapped++;
            continue;
        }
        if ((!strcmp(t->name, "logit_scale") || !strcmp(t->name, "logit_bias")) &&
            t->numel == 1) {
            st = reshape_as(dst, t->name, t, 0, t->shape, t->data, err);
            mapped++;
            continue;
        }
        bool done = false;
        for (size_t r = 0; r < oc_siglip_names_n && !done; r++)
            if (!strcmp(t->name, oc_siglip_names[r].hf)) {
                st = copy_as(dst, oc_siglip_names[r].oc, t, err);
                done = true;
                mapped++;
            }
        if (!done) st = copy_as(dst, t->name, t, err);
    }
    if (st) return st;
    oc_note(notes, "HF-transformers SiglipModel layout: mapped automatically (%zu tensors; "
                   "q/k/v fused, the pool's in_proj split)", mapped);
    if (dropped)
        oc_note(notes, "dropped %zu position_ids buffer%s (older transformers saved them; "
                       "harmless)", dropped, dropped == 1 ? "" : "s");
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * OpenCLIP / OpenAI
 */
static oclip_status map_native(const oclip_checkpoint *src, oclip_checkpoint *dst, oc_notes *notes,
                               oclip_error *err) {
    size_t scalars = 0, masks = 0;
    for (size_t i = 0; i < src->n_tensors; i++) {
        const oclip_tensor *t = &src->tensors[i];
        if (src->layout == OCLIP_LAYOUT_OPENAI &&
            (!strcmp(t->name, "input_resolution") || !strcmp(t->name, "context_length") ||
             !strcmp(t->name, "vocab_size"))) {
            scalars++;
            continue;
        }
        /* non-persistent causal mask buffer (TorchScript archives store it) */
        if (!strcmp(t->name, "attn_mask") || !strcmp(t->name, "text.attn_mask")) {
            masks++;
            continue;
        }
        oclip_status st = copy_as(dst, t->name, t, err);
        if (st) return st;
    }
    if (scalars)
        oc_note(notes, "OpenAI JIT archive: dropped its %zu root scalars (input_resolution, "
                       "context_length, vocab_size) as OpenCLIP does", scalars);
    if (masks) oc_note(notes, "dropped the stored attn_mask buffer (rebuilt from context_length)");
    return OCLIP_OK;
}

oclip_status oc_layout_map(const oclip_checkpoint *src, oclip_checkpoint **out, oc_notes *notes,
                           oclip_error *err) {
    oclip_checkpoint *dst = oc_ck_new(src->name, &src->limits);
    if (!dst) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    dst->container = src->container;
    dst->is_training = src->is_training;
    dst->prefix_stripped = src->prefix_stripped;
    oclip_status st = src->layout != OCLIP_LAYOUT_HF ? map_native(src, dst, notes, err)
                      : oc_is_hf_siglip(src)        ? map_hf_siglip(src, dst, notes, err)
                                                    : map_hf(src, dst, notes, err);
    if (st == OCLIP_OK) st = oc_ck_finish(dst, err);
    if (st) {
        oclip_checkpoint_free(dst);
        return st;
    }
    *out = dst;
    return OCLIP_OK;
}
