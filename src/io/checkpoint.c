/*
 * checkpoint.c — the checkpoint object (an ordered name -> tensor table plus what the file said
 * about itself) and the front end that recognises a file and hands it to the right reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* =============================================================================================
 * Names
 */
const char *oclip_container_name(oclip_container c) {
    switch (c) {
    case OCLIP_CONTAINER_TORCH_ZIP: return "torch-zip";
    case OCLIP_CONTAINER_TORCH_LEGACY: return "torch-legacy";
    case OCLIP_CONTAINER_TORCHSCRIPT: return "torchscript";
    case OCLIP_CONTAINER_SAFETENSORS: return "safetensors";
    case OCLIP_CONTAINER_SAFETENSORS_SHARDED: return "safetensors-sharded";
    }
    return "?";
}

const char *oclip_layout_name(oclip_layout l) {
    switch (l) {
    case OCLIP_LAYOUT_UNKNOWN: return "unknown";
    case OCLIP_LAYOUT_OPEN_CLIP: return "open_clip";
    case OCLIP_LAYOUT_OPEN_CLIP_CUSTOM: return "open_clip-custom-text";
    case OCLIP_LAYOUT_HF: return "hf";
    case OCLIP_LAYOUT_OPENAI: return "openai";
    }
    return "?";
}

/* =============================================================================================
 * Construction
 */
oclip_checkpoint *oc_ck_new(const char *name, const oclip_limits *limits) {
    oclip_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) return NULL;
    if (limits) ck->limits = *limits;
    if (!ck->limits.max_tensors) ck->limits.max_tensors = 1000000;
    if (!ck->limits.max_pickle_nodes) ck->limits.max_pickle_nodes = 50000000;
    if (!ck->limits.max_depth) ck->limits.max_depth = 1000;
    if (!ck->limits.max_header_bytes) ck->limits.max_header_bytes = 100000000;
    ck->name = oc_arena_strndup(&ck->arena, name ? name : "<memory>",
                                strlen(name ? name : "<memory>"));
    if (!ck->name) {
        free(ck);
        return NULL;
    }
    return ck;
}

oclip_status oc_ck_add_tensor(oclip_checkpoint *ck, const char *name, size_t name_len,
                              oclip_dtype dtype, int ndim, const int64_t *shape,
                              const void *data, int copied, oclip_error *err) {
    if (ck->n_tensors >= ck->limits.max_tensors)
        return oc_err_set(err, OCLIP_E_NOMEM, "more than %llu tensors (limit max_tensors)",
                          (unsigned long long)ck->limits.max_tensors);
    if (name_len == 0) return oc_err_set(err, OCLIP_E_FORMAT, "a tensor has an empty name");
    if (memchr(name, '\0', name_len))
        return oc_err_set(err, OCLIP_E_FORMAT, "a tensor name contains a NUL byte");
    /* Every reader hands over UTF-8 already (JSON, pickle strings); this is the guarantee the
     * API gives: names are UTF-8 (control characters included: messages escape them). */
    oc_escbuf nb;
    const char *ename = oc_esc(nb.s, sizeof nb.s, name, name_len);
    size_t bad = oc_utf8_check((const uint8_t *)name, name_len);
    if (bad != SIZE_MAX)
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor name '%s' is not valid UTF-8 (byte %zu)",
                          ename, bad);
    if ((unsigned)dtype >= OCLIP_DTYPE_COUNT)
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': invalid dtype", ename);
    if (ndim < 0 || ndim > OCLIP_MAX_DIMS)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "tensor '%s': %d dimensions (at most %d)",
                          ename, ndim, OCLIP_MAX_DIMS);
    uint64_t numel, nbytes;
    if (!oc_shape_numel(shape, ndim, &numel) ||
        oc_mul_overflow_u64(numel, oclip_dtype_size(dtype), &nbytes))
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s': shape overflows", ename);
    if (!oc_grow((void **)&ck->tensors, &ck->cap_tensors, ck->n_tensors + 1, sizeof *ck->tensors))
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_tensor *t = &ck->tensors[ck->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = oc_arena_strndup(&ck->arena, name, name_len);
    if (!t->name) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        stride *= shape[i] ? shape[i] : 1; /* cannot overflow: numel did not */
    }
    t->numel = numel;
    t->nbytes = nbytes;
    t->data = data;
    t->copied = copied;
    ck->n_tensors++;
    return OCLIP_OK;
}

bool oc_ck_own(oclip_checkpoint *ck, void *buf) {
    if (!oc_grow((void **)&ck->owned, &ck->cap_owned, ck->n_owned + 1, sizeof *ck->owned))
        return false;
    ck->owned[ck->n_owned++] = buf;
    return true;
}

oclip_status oc_ck_add_entry(oclip_checkpoint *ck, const char *key, const char *value,
                             oclip_error *err) {
    size_t need = ck->n_entries + 1;
    size_t cap_k = ck->cap_entries, cap_v = ck->cap_entries;
    if (!oc_grow((void **)&ck->entry_keys, &cap_k, need, sizeof *ck->entry_keys) ||
        !oc_grow((void **)&ck->entry_values, &cap_v, need, sizeof *ck->entry_values))
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    ck->cap_entries = cap_k < cap_v ? cap_k : cap_v;
    const char *k = oc_arena_strndup(&ck->arena, key, strlen(key));
    const char *v = oc_arena_strndup(&ck->arena, value, strlen(value));
    if (!k || !v) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    ck->entry_keys[ck->n_entries] = k;
    ck->entry_values[ck->n_entries] = v;
    ck->n_entries++;
    return OCLIP_OK;
}

bool oc_ck_keep_map(oclip_checkpoint *ck, const oc_map *m) {
    if (!oc_grow((void **)&ck->maps, &ck->cap_maps, ck->n_maps + 1, sizeof *ck->maps))
        return false;
    ck->maps[ck->n_maps++] = *m;
    return true;
}

/* =============================================================================================
 * Finishing: prefix stripping, name index, layout
 */

/* FNV-1a: small, good enough for a few thousand names, and no attacker can make it quadratic
 * beyond the table's linear probing because the table is at most half full. */
static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool all_have_prefix(const oclip_checkpoint *ck, const char *prefix) {
    size_t n = strlen(prefix);
    if (ck->n_tensors == 0) return false;
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (strncmp(ck->tensors[i].name, prefix, n) != 0 || ck->tensors[i].name[n] == '\0')
            return false;
    return true;
}

/* Strips "module." (DDP) and "_orig_mod." (torch.compile) when every name carries it, in any
 * nesting ("module._orig_mod."). OpenCLIP strips "module." when only the first key has it; we
 * require all keys so that a real parameter named "module.x" in a mixed table is never renamed. */
static oclip_status strip_prefixes(oclip_checkpoint *ck, oclip_error *err) {
    static const char *const prefixes[] = {"module.", "_orig_mod."};
    char stripped[64] = "";
    for (;;) {
        const char *hit = NULL;
        for (size_t p = 0; p < sizeof prefixes / sizeof *prefixes; p++)
            if (all_have_prefix(ck, prefixes[p])) hit = prefixes[p];
        if (!hit || strlen(stripped) + strlen(hit) >= sizeof stripped) break;
        size_t n = strlen(hit);
        for (size_t i = 0; i < ck->n_tensors; i++) ck->tensors[i].name += n;
        strcat(stripped, hit);
    }
    if (stripped[0]) {
        ck->prefix_stripped = oc_arena_strndup(&ck->arena, stripped, strlen(stripped));
        if (!ck->prefix_stripped) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    return OCLIP_OK;
}

static oclip_status build_index(oclip_checkpoint *ck, oclip_error *err) {
    size_t cap = 16;
    while (cap < ck->n_tensors * 2) cap *= 2;
    ck->index = calloc(cap, sizeof *ck->index);
    if (!ck->index) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    ck->index_cap = cap;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        size_t slot = name_hash(ck->tensors[i].name) & (cap - 1);
        while (ck->index[slot]) {
            if (strcmp(ck->tensors[ck->index[slot] - 1].name, ck->tensors[i].name) == 0) {
                oc_escbuf nb;
                return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' appears twice",
                                  OC_ESC(nb, ck->tensors[i].name));
            }
            slot = (slot + 1) & (cap - 1);
        }
        ck->index[slot] = (uint32_t)(i + 1);
    }
    return OCLIP_OK;
}

static bool has_name_prefix(const oclip_checkpoint *ck, const char *prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (strncmp(ck->tensors[i].name, prefix, n) == 0) return true;
    return false;
}

/* The key layout, from names alone (the architecture issue validates it in depth). */
static oclip_layout judge_layout(const oclip_checkpoint *ck) {
    if (has_name_prefix(ck, "text_model.") || has_name_prefix(ck, "vision_model."))
        return OCLIP_LAYOUT_HF;
    bool oai_scalars = oclip_checkpoint_find(ck, "input_resolution") ||
                       oclip_checkpoint_find(ck, "context_length") ||
                       oclip_checkpoint_find(ck, "vocab_size");
    bool native_text = oclip_checkpoint_find(ck, "token_embedding.weight") ||
                       has_name_prefix(ck, "transformer.resblocks.");
    bool visual = has_name_prefix(ck, "visual.");
    if (oai_scalars && (visual || native_text)) return OCLIP_LAYOUT_OPENAI;
    if (native_text || oclip_checkpoint_find(ck, "text_projection")) return OCLIP_LAYOUT_OPEN_CLIP;
    if (has_name_prefix(ck, "text.")) return OCLIP_LAYOUT_OPEN_CLIP_CUSTOM;
    if (visual) return OCLIP_LAYOUT_OPEN_CLIP; /* vision-only OpenCLIP tower */
    return OCLIP_LAYOUT_UNKNOWN;
}

oclip_status oc_ck_finish(oclip_checkpoint *ck, oclip_error *err) {
    oclip_status st = strip_prefixes(ck, err);
    if (st) return st;
    if ((st = build_index(ck, err))) return st;
    ck->layout = judge_layout(ck);
    return OCLIP_OK;
}

/* =============================================================================================
 * Public accessors
 */
oclip_container oclip_checkpoint_container(const oclip_checkpoint *ck) { return ck->container; }
oclip_layout oclip_checkpoint_layout(const oclip_checkpoint *ck) { return ck->layout; }
size_t oclip_checkpoint_n_tensors(const oclip_checkpoint *ck) { return ck->n_tensors; }
int oclip_checkpoint_is_training(const oclip_checkpoint *ck) { return ck->is_training; }
const char *oclip_checkpoint_prefix_stripped(const oclip_checkpoint *ck) {
    return ck->prefix_stripped;
}
size_t oclip_checkpoint_n_entries(const oclip_checkpoint *ck) { return ck->n_entries; }

const oclip_tensor *oclip_checkpoint_tensor(const oclip_checkpoint *ck, size_t i) {
    return i < ck->n_tensors ? &ck->tensors[i] : NULL;
}

const oclip_tensor *oclip_checkpoint_find(const oclip_checkpoint *ck, const char *name) {
    if (!ck || !name || !ck->index) return NULL;
    size_t mask = ck->index_cap - 1;
    for (size_t slot = name_hash(name) & mask; ck->index[slot]; slot = (slot + 1) & mask) {
        const oclip_tensor *t = &ck->tensors[ck->index[slot] - 1];
        if (strcmp(t->name, name) == 0) return t;
    }
    return NULL;
}

int oclip_checkpoint_entry(const oclip_checkpoint *ck, size_t i, const char **key,
                           const char **value) {
    if (i >= ck->n_entries) return 0;
    if (key) *key = ck->entry_keys[i];
    if (value) *value = ck->entry_values[i];
    return 1;
}

void oclip_checkpoint_free(oclip_checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->n_maps; i++) oc_unmap(&ck->maps[i]);
    for (size_t i = 0; i < ck->n_owned; i++) free(ck->owned[i]);
    free(ck->maps);
    free(ck->owned);
    free(ck->tensors);
    free(ck->index);
    free(ck->entry_keys);
    free(ck->entry_values);
    oc_arena_free(&ck->arena);
    oclip_checkpoint_free(ck->parent);
    free(ck);
}

/* =============================================================================================
 * Front end
 */
static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reads one container out of `base/size` into ck (not the sharded index). */
static oclip_status read_bytes(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                               oclip_error *err) {
    const char *what = NULL, *hint = NULL;
    switch (oc_sniff(base, size, &what, &hint)) {
    case OC_KIND_ZIP: return oc_torch_read_zip(ck, base, size, err);
    case OC_KIND_TORCH_LEGACY: return oc_torch_read_legacy(ck, base, size, err);
    case OC_KIND_SAFETENSORS: return oc_st_read(ck, base, size, err);
    case OC_KIND_JSON:
        oc_err_set(err, OCLIP_E_UNSUPPORTED, "a JSON file, not a checkpoint");
        oc_err_hint(err, "pass the weights file (.safetensors/.bin), or a "
                         "model.safetensors.index.json for sharded weights");
        return OCLIP_E_UNSUPPORTED;
    case OC_KIND_OTHER:
    case OC_KIND_UNKNOWN:
    {
        oclip_status code = size == 0 ? OCLIP_E_FORMAT : OCLIP_E_UNSUPPORTED;
        oc_err_set(err, code, "not a checkpoint: %s", what);
        if (hint) oc_err_hint(err, "%s", hint);
        return code;
    }
    }
    return oc_err_set(err, OCLIP_E_UNSUPPORTED, "unrecognised file");
}

static oclip_status finish_or_free(oclip_checkpoint *ck, oclip_status st,
                                   oclip_checkpoint **out, oclip_error *err) {
    if (st == OCLIP_OK) st = oc_ck_finish(ck, err);
    if (st != OCLIP_OK) {
        oc_escbuf nb;
        oc_err_wrap(err, "loading '%s'", OC_ESC(nb, ck->name));
        oclip_checkpoint_free(ck);
        return st;
    }
    *out = ck;
    return OCLIP_OK;
}

oclip_status oclip_checkpoint_open(const char *path, const oclip_limits *limits,
                                   oclip_checkpoint **out, oclip_error *err) {
    oc_err_clear(err);
    if (!path || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_checkpoint_open: NULL argument");
    *out = NULL;
    if (limits && OC_OPTIONS_OK(limits, "oclip_limits", err)) return OCLIP_E_ARG;
    oclip_checkpoint *ck = oc_ck_new(path, limits);
    if (!ck) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status st;
    if (ends_with(path, ".index.json")) {
        st = oc_st_read_index(ck, path, err);
    } else {
        oc_map m;
        st = oc_map_file(path, &m, err);
        if (st == OCLIP_OK && !oc_ck_keep_map(ck, &m)) {
            oc_unmap(&m);
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        }
        if (st == OCLIP_OK) st = read_bytes(ck, m.data, m.size, err);
    }
    return finish_or_free(ck, st, out, err);
}

oclip_status oclip_checkpoint_open_memory(const void *data, size_t size, const char *name,
                                          const oclip_limits *limits, oclip_checkpoint **out,
                                          oclip_error *err) {
    oc_err_clear(err);
    if ((!data && size) || !out)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_checkpoint_open_memory: NULL argument");
    *out = NULL;
    if (limits && OC_OPTIONS_OK(limits, "oclip_limits", err)) return OCLIP_E_ARG;
    oclip_checkpoint *ck = oc_ck_new(name, limits);
    if (!ck) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    static const uint8_t empty[1];
    oclip_status st = read_bytes(ck, size ? data : empty, size, err);
    return finish_or_free(ck, st, out, err);
}
