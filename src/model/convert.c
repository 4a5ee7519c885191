/*
 * convert.c — writing checkpoints: a safetensors writer, OpenCLIP / transformers configs as JSON,
 * and `oclip convert` (a checked checkpoint -> OpenCLIP state dict or transformers CLIPModel).
 *
 * safetensors layout written (safetensors src/tensor.rs), as safetensors' own Rust writer does it:
 *     u64 N | N bytes of JSON header, padded with spaces to N % 8 == 0 | data, tightly packed
 * with "__metadata__" first when given, then the tensors sorted by descending dtype rank (the
 * order of safetensors' Dtype enum: U64 > I64 > F64 > C64 > F32 > U32 > I32 > BF16 > F16 > U16 >
 * I16 > F8_E4M3 > F8_E5M2 > I8 > U8 > BOOL), then by name; data in the same order. The same
 * tensors therefore give the same bytes as safetensors.torch.save_file.
 *
 * OpenCLIP -> transformers CLIPModel (the reverse of transformers' convert_clip_original_pytorch_to_hf.py), per layer L of each tower:
 *     attn.in_proj_weight [3D, D] rows 0..D | D..2D | 2D..3D -> self_attn.q_proj | k_proj | v_proj
 *     attn.in_proj_bias   [3D] the same split
 *     attn.out_proj -> self_attn.out_proj, ln_1 -> layer_norm1, mlp.c_fc -> mlp.fc1,
 *     mlp.c_proj -> mlp.fc2, ln_2 -> layer_norm2
 *     visual.proj [W, E] -> visual_projection.weight [E, W] (transposed; a Linear without bias)
 *     text_projection [W, E] -> text_projection.weight [E, W]
 *     visual.ln_pre -> vision_model.pre_layrnorm (sic), ln_post -> post_layernorm,
 *     ln_final -> text_model.final_layer_norm, logit_scale -> logit_scale []
 * Splits point into the source's bytes; only the two transposes are materialised.
 *
 * OpenCLIP SigLIP -> transformers SiglipModel: layout.c's SigLIP name tables read backwards;
 * visual.trunk.blocks.L.attn.qkv rows q | k | v -> self_attn.q_proj | k_proj | v_proj (views),
 * attn_pool.q ++ attn_pool.kv -> head.attention.in_proj (materialised), pos_embed [1, N, W] ->
 * position_embedding.weight [N, W], logit_scale / logit_bias [] -> [1].
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/arch.h"
#include "model/model.h"

/* =============================================================================================
 * Small helpers
 */
static bool is_float_dtype(oclip_dtype d) {
    return d == OCLIP_DTYPE_F32 || d == OCLIP_DTYPE_F16 || d == OCLIP_DTYPE_BF16 ||
           d == OCLIP_DTYPE_F64;
}

static bool path_is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "a/b/c" -> "a/b"; "c" -> "."; "/c" -> "/" (in the arena) */
static char *dir_part(oc_arena *a, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return oc_arena_strndup(a, ".", 1);
    if (slash == path) return oc_arena_strndup(a, "/", 1);
    return oc_arena_strndup(a, path, (size_t)(slash - path));
}

static const char *base_part(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Best effort: make a rename in `dir` durable. */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* =============================================================================================
 * Atomic output files: a temporary file beside the destination, renamed over it at the end.
 */
typedef struct {
    const char *final, *tmp;
} oc_pending;

typedef struct {
    oc_pending items[4];
    size_t n;
    oc_arena *arena;
} oc_outputs;

/* Creates a new, empty temporary file for `final` (same folder, so rename is atomic). */
static oclip_status tmp_create(oc_outputs *o, const char *final, FILE **out, oclip_error *err) {
    if (o->n == sizeof o->items / sizeof *o->items)
        return oc_err_set(err, OCLIP_E_ARG, "too many output files");
    const char *dir = dir_part(o->arena, final);
    if (!dir) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (unsigned attempt = 0;; attempt++) {
        char *tmp = oc_arena_printf(o->arena, "%s/.%s.%ld-%lx.tmp", dir, base_part(final),
                                    (long)getpid(),
                                    (unsigned long)ts.tv_nsec + attempt * 7919ul + o->n);
        if (!tmp) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        /* 0666 and the process umask: the permissions a plain fopen would give */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST && attempt < 100) continue;
            return oc_err_set(err, OCLIP_E_IO, "cannot create a file in '%s': %s", dir,
                              strerror(errno));
        }
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return oc_err_set(err, OCLIP_E_IO, "'%s': %s", tmp, strerror(e));
        }
        o->items[o->n].final = final;
        o->items[o->n].tmp = tmp;
        o->n++;
        *out = f;
        return OCLIP_OK;
    }
}

/* Flushes the data to disk and closes. `st` is the status of the writes so far: when it is an
 * error the file is only closed (the caller discards it) and `st` returned. */
static oclip_status tmp_close(FILE *f, const char *final, oclip_status st, oclip_error *err) {
    int e = 0;
    if (!st && fflush(f) != 0) e = errno;
    if (!st && !e && fsync(fileno(f)) != 0) e = errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (st) return st;
    if (e) return oc_err_set(err, OCLIP_E_IO, "writing '%s': %s", final, strerror(e));
    return OCLIP_OK;
}

static void outputs_discard(oc_outputs *o) {
    for (size_t i = 0; i < o->n; i++) unlink(o->items[i].tmp);
    o->n = 0;
}

/* Renames every temporary file over its destination, in order. */
static oclip_status outputs_commit(oc_outputs *o, oclip_error *err) {
    for (size_t i = 0; i < o->n; i++) {
        if (rename(o->items[i].tmp, o->items[i].final) != 0) {
            int e = errno;
            for (size_t j = i; j < o->n; j++) unlink(o->items[j].tmp);
            o->n = 0;
            return oc_err_set(err, OCLIP_E_IO, "cannot rename into '%s': %s", o->items[i].final,
                              strerror(e));
        }
        char *dir = dir_part(o->arena, o->items[i].final);
        if (dir) sync_dir(dir);
    }
    o->n = 0;
    return OCLIP_OK;
}

static oclip_status write_text(oc_outputs *o, const char *final, const char *text,
                               oclip_error *err) {
    FILE *f;
    oclip_status st = tmp_create(o, final, &f, err);
    if (st) return st;
    size_t n = strlen(text);
    if (fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF)
        st = oc_err_set(err, OCLIP_E_IO, "writing '%s': %s", final, strerror(errno));
    return tmp_close(f, final, st, err);
}

/* =============================================================================================
 * safetensors writer
 */
typedef struct {
    const oclip_tensor *t;
    oclip_dtype dt;  /* dtype written */
    uint64_t nbytes; /* bytes written */
    int rank;
} st_entry;

/* Position in safetensors' Dtype enum, which is ordered by alignment (C128 is not in it). */
static int st_rank(oclip_dtype d) {
    switch (d) {
    case OCLIP_DTYPE_BOOL: return 0;
    case OCLIP_DTYPE_U8: return 1;
    case OCLIP_DTYPE_I8: return 2;
    case OCLIP_DTYPE_F8_E5M2: return 3;
    case OCLIP_DTYPE_F8_E4M3: return 4;
    case OCLIP_DTYPE_I16: return 5;
    case OCLIP_DTYPE_U16: return 6;
    case OCLIP_DTYPE_F16: return 7;
    case OCLIP_DTYPE_BF16: return 8;
    case OCLIP_DTYPE_I32: return 9;
    case OCLIP_DTYPE_U32: return 10;
    case OCLIP_DTYPE_F32: return 11;
    case OCLIP_DTYPE_C64: return 12;
    case OCLIP_DTYPE_F64: return 13;
    case OCLIP_DTYPE_I64: return 14;
    case OCLIP_DTYPE_U64: return 15;
    default: return 16;
    }
}

static int cmp_entry(const void *pa, const void *pb) {
    const st_entry *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank > b->rank ? -1 : 1;
    return strcmp(a->t->name, b->t->name);
}

typedef struct {
    void (*fn)(void *user, uint64_t done, uint64_t total);
    void *user;
    uint64_t done, total;
} oc_progress;

/* The entries to write, sorted as safetensors sorts them. */
static oclip_status st_plan(const oclip_checkpoint *ck, const char *const *names, size_t n_names,
                            oclip_dtype cast, st_entry **out, size_t *n_out, uint64_t *total,
                            oclip_error *err) {
    size_t n = names ? n_names : ck->n_tensors;
    st_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = names ? oclip_checkpoint_find(ck, names[i]) : &ck->tensors[i];
        if (!t) {
            free(e);
            return oc_err_set(err, OCLIP_E_NOTFOUND, "no tensor named '%s'",
                              names[i] ? names[i] : "(null)");
        }
        if (!strcmp(t->name, "__metadata__")) {
            free(e);
            return oc_err_set(err, OCLIP_E_ARG, "a tensor cannot be named '__metadata__'");
        }
        e[i].t = t;
        e[i].dt = cast != OCLIP_DTYPE_KEEP && is_float_dtype(t->dtype) ? cast : t->dtype;
        e[i].nbytes = t->numel * oclip_dtype_size(e[i].dt); /* <= t->nbytes * 2: no overflow */
        e[i].rank = st_rank(e[i].dt);
        if (oc_add_overflow_u64(sum, e[i].nbytes, &sum) || sum >= (1ull << 53)) {
            free(e);
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "more than 2^53 bytes of tensor data");
        }
    }
    qsort(e, n, sizeof *e, cmp_entry);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(e[i - 1].t->name, e[i].t->name)) {
            oc_err_set(err, OCLIP_E_ARG, "tensor '%s' is named twice", e[i].t->name);
            free(e);
            return OCLIP_E_ARG;
        }
    *out = e;
    *n_out = n;
    *total = sum;
    return OCLIP_OK;
}

/* Adds `item` under `key` (or to an array when key is NULL); false, and item freed, on failure. */
static bool jput(cJSON *parent, const char *key, cJSON *item) {
    if (!item) return false;
    bool ok = parent && (key ? cJSON_AddItemToObject(parent, key, item)
                             : cJSON_AddItemToArray(parent, item));
    if (!ok) cJSON_Delete(item);
    return ok;
}

/* The padded header JSON (malloc'd) for entries written in order from data offset 0. */
static oclip_status st_header(const st_entry *e, size_t n, const char *const *meta, size_t n_meta,
                              char **out, size_t *len, oclip_error *err) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_meta) {
        cJSON *m = cJSON_CreateObject();
        ok = jput(root, "__metadata__", m);
        for (size_t i = 0; ok && i < n_meta; i++) {
            if (!meta[2 * i] || !meta[2 * i + 1]) {
                cJSON_Delete(root);
                return oc_err_set(err, OCLIP_E_ARG, "metadata pair %zu holds a NULL string", i);
            }
            ok = jput(m, meta[2 * i], cJSON_CreateString(meta[2 * i + 1]));
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray(),
              *offs = cJSON_CreateArray();
        ok = jput(o, "dtype", cJSON_CreateString(oclip_dtype_name(e[i].dt)));
        for (int d = 0; d < e[i].t->ndim && shape; d++)
            ok = jput(shape, NULL, cJSON_CreateNumber((double)e[i].t->shape[d])) && ok;
        ok = jput(o, "shape", shape) && ok;
        ok = jput(offs, NULL, cJSON_CreateNumber((double)off)) && ok;
        off += e[i].nbytes;
        ok = jput(offs, NULL, cJSON_CreateNumber((double)off)) && ok;
        ok = jput(o, "data_offsets", offs) && ok;
        /* attached last: jput frees what it cannot attach, so nothing is added after that */
        ok = jput(root, e[i].t->name, o) && ok;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    size_t n_text = strlen(text), pad = (8 - n_text % 8) % 8;
    char *buf = malloc(n_text + pad + 1);
    if (!buf) {
        cJSON_free(text);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    memcpy(buf, text, n_text);
    memset(buf + n_text, ' ', pad);
    buf[n_text + pad] = '\0';
    cJSON_free(text);
    *out = buf;
    *len = n_text + pad;
    return OCLIP_OK;
}

enum { CHUNK_ELEMS = 1 << 20, CHUNK_BYTES = 64 << 20 };

/* Header and data into f. */
static oclip_status st_write(FILE *f, const char *path, const st_entry *e, size_t n,
                             const char *const *meta, size_t n_meta, oc_progress *pr,
                             oclip_error *err) {
    char *hdr = NULL;
    size_t hlen = 0;
    oclip_status st = st_header(e, n, meta, n_meta, &hdr, &hlen, err);
    if (st) return st;
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)hlen >> (8 * k));
    bool bad = fwrite(len8, 1, 8, f) != 8 || fwrite(hdr, 1, hlen, f) != hlen;
    free(hdr);
    uint8_t *buf = NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        const oclip_tensor *t = e[i].t;
        const uint8_t *src = t->data;
        if (e[i].dt == t->dtype) {
            for (uint64_t at = 0; at < t->nbytes && !bad; at += CHUNK_BYTES) {
                size_t k = (size_t)(t->nbytes - at < CHUNK_BYTES ? t->nbytes - at : CHUNK_BYTES);
                bad = fwrite(src + at, 1, k, f) != k;
                pr->done += k;
                if (pr->fn) pr->fn(pr->user, pr->done, pr->total);
            }
            continue;
        }
        if (!buf && !(buf = malloc((size_t)CHUNK_ELEMS * 8))) {
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            break;
        }
        size_t in_es = oclip_dtype_size(t->dtype), out_es = oclip_dtype_size(e[i].dt);
        for (uint64_t at = 0; at < t->numel && !bad; at += CHUNK_ELEMS) {
            size_t k = (size_t)(t->numel - at < CHUNK_ELEMS ? t->numel - at : CHUNK_ELEMS);
            if ((st = oclip_dtype_cast(buf, e[i].dt, src + at * in_es, t->dtype, k, err))) {
                oc_err_wrap(err, "tensor '%s'", t->name);
                break;
            }
            bad = fwrite(buf, out_es, k, f) != k;
            pr->done += k * out_es;
            if (pr->fn) pr->fn(pr->user, pr->done, pr->total);
        }
        if (st) break;
    }
    free(buf);
    if (st) return st;
    if (bad) return oc_err_set(err, OCLIP_E_IO, "writing '%s': %s", path, strerror(errno));
    return OCLIP_OK;
}

/* Plans and writes one safetensors file through a temporary file registered in `o`. */
static oclip_status st_save(oc_outputs *o, const oclip_checkpoint *ck, const char *path,
                            const char *const *names, size_t n_names, oclip_dtype cast,
                            const char *const *meta, size_t n_meta, oc_progress *pr,
                            oclip_error *err) {
    if (cast != OCLIP_DTYPE_KEEP && cast != OCLIP_DTYPE_F32 && cast != OCLIP_DTYPE_F16 &&
        cast != OCLIP_DTYPE_BF16)
        return oc_err_set(err, OCLIP_E_ARG, "cannot cast to %s (F32, F16 or BF16)",
                          oclip_dtype_name(cast));
    st_entry *e = NULL;
    size_t n = 0;
    uint64_t total = 0;
    oclip_status st = st_plan(ck, names, n_names, cast, &e, &n, &total, err);
    if (st) return st;
    pr->total += total;
    FILE *f;
    if ((st = tmp_create(o, path, &f, err)) == OCLIP_OK) {
        st = st_write(f, path, e, n, meta, n_meta, pr, err);
        st = tmp_close(f, path, st, err);
    }
    free(e);
    return st;
}

oclip_status oclip_save_safetensors(const oclip_checkpoint *ck, const char *path,
                                    const char *const *names, size_t n_names, oclip_dtype cast,
                                    const char *const *metadata, size_t n_metadata,
                                    oclip_error *err) {
    oc_err_clear(err);
    if (!ck || !path || (n_metadata && !metadata))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_save_safetensors: NULL argument");
    oc_arena a = {0};
    oc_outputs o = {.arena = &a};
    oc_progress pr = {0};
    oclip_status st = st_save(&o, ck, path, names, n_names, cast, metadata, n_metadata, &pr, err);
    if (st == OCLIP_OK) st = outputs_commit(&o, err);
    outputs_discard(&o);
    oc_arena_free(&a);
    if (st) oc_err_wrap(err, "saving '%s'", path);
    return st;
}

/* =============================================================================================
 * Configs as JSON
 */
static bool jnum(cJSON *o, const char *k, double v) { return jput(o, k, cJSON_CreateNumber(v)); }
static bool jstr(cJSON *o, const char *k, const char *v) {
    return jput(o, k, cJSON_CreateString(v));
}
static bool jbool(cJSON *o, const char *k, int v) { return jput(o, k, cJSON_CreateBool(v)); }

/* image_size: an int when square, else [h, w] as OpenCLIP accepts */
static bool jsize(cJSON *o, const char *k, const int hw[2]) {
    if (hw[0] == hw[1]) return jnum(o, k, hw[0]);
    return jput(o, k, cJSON_CreateIntArray(hw, 2));
}

static bool jkwargs(cJSON *o, double eps, const char *approx) {
    bool ok = true;
    if (eps != 1e-5) {
        cJSON *nk = cJSON_CreateObject();
        ok = jput(o, "norm_kwargs", nk) && jnum(nk, "eps", eps);
    }
    if (approx[0]) {
        cJSON *ak = cJSON_CreateObject();
        ok = jput(o, "act_kwargs", ak) && jstr(ak, "approximate", approx) && ok;
    }
    return ok;
}

/*
 * An OpenCLIP model config (the keys of OpenCLIP 3.3.0's CLIP, CLIPVisionCfg and CLIPTextCfg):
 * geometry always, options only when they differ from OpenCLIP's defaults, as the model_configs/
 * files are written. NULL when out of memory.
 */
static cJSON *model_cfg_json(const oclip_model_config *c) {
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    cJSON *m = cJSON_CreateObject(), *vc = cJSON_CreateObject(), *tc = cJSON_CreateObject();
    if (!m || !vc || !tc) {
        cJSON_Delete(m);
        cJSON_Delete(vc);
        cJSON_Delete(tc);
        return NULL;
    }
    bool ok = jnum(m, "embed_dim", c->embed_dim);
    if (c->quick_gelu) ok = jbool(m, "quick_gelu", 1) && ok;
    if (c->has_logit_bias) ok = jnum(m, "init_logit_bias", c->init_logit_bias) && ok;
    if (c->nonscalar_logit_scale) ok = jbool(m, "nonscalar_logit_scale", 1) && ok;
    if (c->custom_text) ok = jbool(m, "custom_text", 1) && ok;

    ok = jsize(vc, "image_size", v->image_size) && ok;
    if (c->family == OCLIP_FAMILY_RESNET) /* ModifiedResNet: layers a list, no patches */
        ok = jput(vc, "layers", cJSON_CreateIntArray(v->resnet_layers, 4)) && ok;
    else ok = jnum(vc, "layers", v->layers) && ok;
    ok = jnum(vc, "width", v->width) && ok;
    ok = jnum(vc, "head_width", v->head_width) && ok;
    ok = jnum(vc, "mlp_ratio", v->mlp_ratio) && ok;
    if (c->family == OCLIP_FAMILY_RESNET) ok = jput(vc, "patch_size", cJSON_CreateNull()) && ok;
    else ok = jnum(vc, "patch_size", v->patch_size) && ok;
    if (v->has_ls) ok = jnum(vc, "ls_init_value", v->ls_init_value) && ok;
    if (v->no_ln_pre) ok = jbool(vc, "no_ln_pre", 1) && ok;
    if (v->final_ln_after_pool) ok = jbool(vc, "final_ln_after_pool", 1) && ok;
    if (v->attentional_pool) {
        ok = jbool(vc, "attentional_pool", 1) && ok;
        ok = jnum(vc, "attn_pooler_queries", v->attn_pooler_queries) && ok;
        ok = jnum(vc, "attn_pooler_heads", v->attn_pooler_heads) && ok;
    }
    if (strcmp(v->pool_type, "tok")) ok = jstr(vc, "pool_type", v->pool_type) && ok;
    if (v->pos_embed_type[0] && strcmp(v->pos_embed_type, "learnable"))
        ok = jstr(vc, "pos_embed_type", v->pos_embed_type) && ok;
    ok = jkwargs(vc, v->ln_eps, v->act_approximate) && ok;
    if (v->timm_model_name[0]) { /* a timm tower: its name decides the rest (timm.c) */
        ok = jstr(vc, "timm_model_name", v->timm_model_name) && ok;
        if (strcmp(v->timm_pool, "avg")) ok = jstr(vc, "timm_pool", v->timm_pool) && ok;
        if (!v->timm_proj[0]) ok = jput(vc, "timm_proj", cJSON_CreateNull()) && ok;
        else if (strcmp(v->timm_proj, "linear")) ok = jstr(vc, "timm_proj", v->timm_proj) && ok;
    }

    ok = jnum(tc, "context_length", t->context_length) && ok;
    ok = jnum(tc, "vocab_size", t->vocab_size) && ok;
    ok = jnum(tc, "width", t->width) && ok;
    ok = jnum(tc, "heads", t->heads) && ok;
    ok = jnum(tc, "layers", t->layers) && ok;
    ok = jnum(tc, "mlp_ratio", t->mlp_ratio) && ok;
    if (t->has_ls) ok = jnum(tc, "ls_init_value", t->ls_init_value) && ok;
    if (t->embed_cls) ok = jbool(tc, "embed_cls", 1) && ok;
    if (t->pad_id) ok = jnum(tc, "pad_id", t->pad_id) && ok;
    if (t->eos_id != 2) ok = jnum(tc, "eos_id", t->eos_id) && ok;
    if (t->no_causal_mask) ok = jbool(tc, "no_causal_mask", 1) && ok;
    if (strcmp(t->pool_type, "argmax")) ok = jstr(tc, "pool_type", t->pool_type) && ok;
    if (t->proj_bias) ok = jbool(tc, "proj_bias", 1) && ok;
    if (t->proj_type[0] && strcmp(t->proj_type, "linear"))
        ok = jstr(tc, "proj_type", t->proj_type) && ok;
    if (t->hf_tokenizer_name[0]) ok = jstr(tc, "hf_tokenizer_name", t->hf_tokenizer_name) && ok;
    if (t->hf_model_name[0]) { /* an HFTextEncoder (model/hftext.c) */
        ok = jstr(tc, "hf_model_name", t->hf_model_name) && ok;
        ok = jstr(tc, "hf_pooler_type", t->hf_pooler_type) && ok;
        ok = (t->hf_proj_type[0] ? jstr(tc, "hf_proj_type", t->hf_proj_type)
                                 : jput(tc, "hf_proj_type", cJSON_CreateNull())) && ok;
    }
    if (t->tokenizer_clean >= 0 || t->strip_sep_token) {
        static const char *const cleans[] = {"lower", "whitespace", "canonicalize"};
        cJSON *tk = cJSON_CreateObject();
        bool kok = tk != NULL;
        if (kok && t->tokenizer_clean >= 0 && t->tokenizer_clean < 3)
            kok = jstr(tk, "clean", cleans[t->tokenizer_clean]);
        if (kok && t->strip_sep_token) kok = jbool(tk, "strip_sep_token", 1);
        ok = (kok ? jput(tc, "tokenizer_kwargs", tk) : (cJSON_Delete(tk), false)) && ok;
    }
    ok = jkwargs(tc, t->ln_eps, t->act_approximate) && ok;
    /* attached last: jput frees what it cannot attach, so nothing is filled after a failure */
    ok = jput(m, "vision_cfg", vc) && ok;
    ok = jput(m, "text_cfg", tc) && ok;
    if (c->multimodal) { /* CoCa's text decoder (model/coca.c) */
        const oclip_multimodal_cfg *mm = &c->multimodal_cfg;
        cJSON *mc = cJSON_CreateObject();
        bool mok = mc && jnum(mc, "context_length", mm->context_length) &&
                   jnum(mc, "width", mm->width) && jnum(mc, "heads", mm->heads) &&
                   jnum(mc, "layers", mm->layers) &&
                   (!mm->has_ls || jnum(mc, "ls_init_value", mm->ls_init_value));
        ok = (mok ? jput(m, "multimodal_cfg", mc) : (cJSON_Delete(mc), false)) && ok;
    }
    if (!ok) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

char *oclip_config_to_json(const oclip_model_config *cfg) {
    if (!cfg) return NULL;
    cJSON *m = model_cfg_json(cfg);
    char *text = m ? cJSON_PrintUnformatted(m) : NULL;
    cJSON_Delete(m);
    return text;
}

void oclip_free(void *p) { cJSON_free(p); }

/* open_clip_config.json as push_to_hf_hub writes it. The preprocess size is left out: OpenCLIP
 * always takes it from the vision tower's image_size. */
/* open_clip_config.json's text (pretty: indented, for the file; else one line, for metadata). */
static char *open_clip_config_text(const oclip_model_config *c, const oclip_preprocess_cfg *pre,
                                   bool pretty) {
    oclip_preprocess_cfg def;
    if (!pre) {
        oclip_preprocess_cfg_default(&def);
        pre = &def;
    }
    cJSON *root = cJSON_CreateObject(), *pc = cJSON_CreateObject();
    bool ok = jput(pc, "mean", cJSON_CreateDoubleArray(pre->mean, 3));
    ok = jput(pc, "std", cJSON_CreateDoubleArray(pre->std, 3)) && ok;
    ok = jstr(pc, "interpolation", pre->interpolation[0] ? pre->interpolation : "bicubic") && ok;
    ok = jstr(pc, "resize_mode", pre->resize_mode[0] ? pre->resize_mode : "shortest") && ok;
    if (pre->fill_color) ok = jnum(pc, "fill_color", pre->fill_color) && ok;
    /* pc attached after it is filled (jput frees what it cannot attach) */
    ok = jput(root, "model_cfg", model_cfg_json(c)) && ok;
    ok = jput(root, "preprocess_cfg", pc) && ok;
    char *text = !ok ? NULL : pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static const char *torch_dtype_name(oclip_dtype d) {
    switch (d) {
    case OCLIP_DTYPE_F16: return "float16";
    case OCLIP_DTYPE_BF16: return "bfloat16";
    case OCLIP_DTYPE_F64: return "float64";
    default: return "float32";
    }
}

/* transformers CLIPConfig (config.json) for a config hf_reasons accepted. */
static char *hf_config_text(const oclip_model_config *c, oclip_dtype dtype) {
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    const char *act = c->quick_gelu ? "quick_gelu" : "gelu";
    cJSON *root = cJSON_CreateObject(), *tc = cJSON_CreateObject(), *vc = cJSON_CreateObject();
    /* CLIP BPE: bos 49406, eos 49407 = vocab - 1 (HF then pools at the first EOT, which is
     * OpenCLIP's argmax pooling); other vocabularies keep EOT as the last id the same way. */
    int V = t->vocab_size;
    bool ok = jstr(tc, "model_type", "clip_text_model");
    ok = jnum(tc, "hidden_size", t->width) && ok;
    ok = jnum(tc, "intermediate_size", (int)(t->width * t->mlp_ratio)) && ok;
    ok = jnum(tc, "num_hidden_layers", t->layers) && ok;
    ok = jnum(tc, "num_attention_heads", t->heads) && ok;
    ok = jnum(tc, "max_position_embeddings", t->context_length) && ok;
    ok = jnum(tc, "vocab_size", V) && ok;
    ok = jstr(tc, "hidden_act", act) && ok;
    ok = jnum(tc, "layer_norm_eps", t->ln_eps) && ok;
    ok = jnum(tc, "projection_dim", c->embed_dim) && ok;
    ok = jnum(tc, "bos_token_id", V >= 2 ? V - 2 : 0) && ok;
    ok = jnum(tc, "eos_token_id", V - 1) && ok;
    ok = jnum(tc, "pad_token_id", 1) && ok;

    ok = jstr(vc, "model_type", "clip_vision_model") && ok;
    ok = jnum(vc, "hidden_size", v->width) && ok;
    ok = jnum(vc, "intermediate_size", (int)(v->width * v->mlp_ratio)) && ok;
    ok = jnum(vc, "num_hidden_layers", v->layers) && ok;
    ok = jnum(vc, "num_attention_heads", v->width / v->head_width) && ok;
    ok = jnum(vc, "image_size", v->image_size[0]) && ok;
    ok = jnum(vc, "patch_size", v->patch_size) && ok;
    ok = jnum(vc, "num_channels", 3) && ok;
    ok = jstr(vc, "hidden_act", act) && ok;
    ok = jnum(vc, "layer_norm_eps", v->ln_eps) && ok;
    ok = jnum(vc, "projection_dim", c->embed_dim) && ok;
    cJSON *arch = cJSON_CreateArray();
    /* tc and vc are filled before they are attached (jput frees what it cannot attach) */
    ok = jput(root, "architectures", arch) && jput(arch, NULL, cJSON_CreateString("CLIPModel")) &&
         ok;
    ok = jstr(root, "model_type", "clip") && ok;
    ok = jnum(root, "projection_dim", c->embed_dim) && ok;
    ok = jnum(root, "logit_scale_init_value", 2.6592) && ok; /* ln(1/0.07), transformers' default */
    ok = jnum(root, "initializer_factor", 1.0) && ok;
    ok = jput(root, "text_config", tc) && ok;
    ok = jput(root, "vision_config", vc) && ok;
    ok = jstr(root, "torch_dtype", torch_dtype_name(dtype)) && ok;

    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* transformers SiglipConfig (config.json) for a config siglip_hf_reasons accepted; hidden_act
 * per tower as OpenCLIP computes it (docs/SIGLIP.md section 8, "Activation mismatch"). */
static char *siglip_config_text(const oclip_model_config *c, oclip_dtype dtype) {
    const oclip_text_cfg *t = &c->text;
    oc_timm_tower tw;
    if (oc_timm_unsupported(c, &tw)) return NULL;
    cJSON *root = cJSON_CreateObject(), *tc = cJSON_CreateObject(), *vc = cJSON_CreateObject();
    bool ok = jstr(tc, "model_type", "siglip_text_model");
    ok = jnum(tc, "hidden_size", t->width) && ok;
    ok = jnum(tc, "intermediate_size", (int)(t->width * t->mlp_ratio)) && ok;
    ok = jnum(tc, "num_hidden_layers", t->layers) && ok;
    ok = jnum(tc, "num_attention_heads", t->heads) && ok;
    ok = jnum(tc, "max_position_embeddings", t->context_length) && ok;
    ok = jnum(tc, "vocab_size", t->vocab_size) && ok;
    ok = jstr(tc, "hidden_act", t->act_approximate[0] ? "gelu_pytorch_tanh" : "gelu") && ok;
    ok = jnum(tc, "layer_norm_eps", t->ln_eps) && ok;
    ok = jnum(tc, "projection_size", c->embed_dim) && ok;
    ok = jstr(vc, "model_type", "siglip_vision_model") && ok;
    ok = jnum(vc, "hidden_size", tw.width) && ok;
    ok = jnum(vc, "intermediate_size", tw.mlp) && ok;
    ok = jnum(vc, "num_hidden_layers", tw.depth) && ok;
    ok = jnum(vc, "num_attention_heads", tw.heads) && ok;
    ok = jnum(vc, "image_size", tw.img) && ok;
    ok = jnum(vc, "patch_size", tw.patch) && ok;
    ok = jnum(vc, "num_channels", 3) && ok;
    ok = jstr(vc, "hidden_act", tw.gelu_tanh ? "gelu_pytorch_tanh" : "gelu") && ok;
    ok = jnum(vc, "layer_norm_eps", 1e-6) && ok;
    cJSON *arch = cJSON_CreateArray();
    ok = jput(root, "architectures", arch) && jput(arch, NULL, cJSON_CreateString("SiglipModel")) &&
         ok;
    ok = jstr(root, "model_type", "siglip") && ok;
    ok = jnum(root, "initializer_factor", 1.0) && ok;
    ok = jput(root, "text_config", tc) && ok;
    ok = jput(root, "vision_config", vc) && ok;
    ok = jstr(root, "torch_dtype", torch_dtype_name(dtype)) && ok;
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* =============================================================================================
 * Target state dicts
 */
static bool is_scalar_param(const char *name) {
    return !strcmp(name, "logit_scale") || !strcmp(name, "logit_bias");
}

static oclip_status add_view(oclip_checkpoint *dst, const char *name, const oclip_tensor *t,
                             int ndim, const int64_t *shape, const void *data, oclip_error *err) {
    return oc_ck_add_tensor(dst, name, strlen(name), t->dtype, ndim, shape, data, 0, err);
}

/* OpenCLIP: the expected keys in OpenCLIP's order; logit_scale/bias with the expected rank. */
static oclip_status build_open_clip(const oclip_checkpoint *src, const oc_expect *e, size_t n,
                                    oclip_checkpoint *dst, oclip_error *err) {
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_find(src, e[i].name);
        if (!t) return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' is missing", e[i].name);
        oclip_status st = is_scalar_param(e[i].name)
                              ? add_view(dst, e[i].name, t, e[i].ndim, e[i].shape, t->data, err)
                              : add_view(dst, e[i].name, t, t->ndim, t->shape, t->data, err);
        if (st) return st;
    }
    return OCLIP_OK;
}

/* A SigLIP config (a timm SigLIP tower oclip computes): written as a transformers SiglipModel. */
static bool is_siglip(const oclip_model_config *c) {
    return oc_timm_is_siglip(c);
}

/* Why transformers' SiglipModel cannot hold this SigLIP config ("" when it can). */
static void siglip_hf_reasons(const oclip_model_config *c, char *buf, size_t cap) {
    const oclip_text_cfg *t = &c->text;
    buf[0] = '\0';
    if (t->proj_type[0] && strcmp(t->proj_type, "linear"))
        snprintf(buf, cap, "text proj_type '%s' (SiglipTextTransformer's head is always a "
                 "Linear)", t->proj_type);
    else if (!t->proj_bias) snprintf(buf, cap, "a text projection without bias");
    else if (!t->no_causal_mask) snprintf(buf, cap, "a causal text mask");
    else if (strcmp(t->pool_type, "last"))
        snprintf(buf, cap, "text pool_type '%s' (SiglipTextTransformer pools the last position)",
                 t->pool_type);
    else if (c->quick_gelu && !t->act_approximate[0]) snprintf(buf, cap, "QuickGELU text tower");
    else if (t->has_ls || t->embed_cls) snprintf(buf, cap, "LayerScale or embed_cls in the text tower");
}

/* Why transformers' CLIPModel cannot hold this architecture ("" when it can). */
static void hf_reasons(const oclip_model_config *c, char *buf, size_t cap) {
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    size_t len = 0;
    buf[0] = '\0';
#define WHY(...)                                                                                 \
    do {                                                                                         \
        if (len + 2 < cap) {                                                                     \
            int k_ = snprintf(buf + len, cap - len, "%s", len ? "; " : "");                      \
            if (k_ > 0) len += (size_t)k_;                                                       \
            if (len < cap) k_ = snprintf(buf + len, cap - len, __VA_ARGS__);                     \
            if (k_ > 0) len += (size_t)k_;                                                       \
            if (len >= cap) len = cap - 1;                                                       \
        }                                                                                        \
    } while (0)
    if (c->family == OCLIP_FAMILY_RESNET || c->family == OCLIP_FAMILY_TIMM) {
        WHY("a %s image tower (CLIPModel's is a ViT)",
            c->family == OCLIP_FAMILY_RESNET ? "ModifiedResNet" : "timm");
        return;
    }
    if (v->has_ls) WHY("LayerScale in the image tower (ls_init_value %g)", v->ls_init_value);
    if (t->has_ls) WHY("LayerScale in the text tower (ls_init_value %g)", t->ls_init_value);
    if (v->no_ln_pre) WHY("no ln_pre (CLIPModel always has pre_layrnorm)");
    if (v->attentional_pool) WHY("attentional pooling in the image tower");
    else if (strcmp(v->pool_type, "tok"))
        WHY("image pool_type '%s' (CLIPModel takes the class token)", v->pool_type);
    if (v->final_ln_after_pool) WHY("final_ln_after_pool in the image tower");
    if (v->image_size[0] != v->image_size[1])
        WHY("non-square image size %dx%d", v->image_size[0], v->image_size[1]);
    if (v->head_width <= 0 || v->width % v->head_width)
        WHY("image head_width %d does not divide width %d", v->head_width, v->width);
    if (t->heads <= 0 || t->width % t->heads)
        WHY("text heads %d do not divide width %d", t->heads, t->width);
    if (v->act_approximate[0] || t->act_approximate[0])
        WHY("GELU approximate='%s'",
            v->act_approximate[0] ? v->act_approximate : t->act_approximate);
    if (t->proj_bias) WHY("a text projection with bias");
    if (t->proj_type[0] && strcmp(t->proj_type, "linear"))
        WHY("text proj_type '%s'", t->proj_type);
    if (strcmp(t->pool_type, "argmax"))
        WHY("text pool_type '%s' (CLIPModel pools at the EOT token, OpenCLIP's 'argmax')",
            t->pool_type);
    if (t->no_causal_mask) WHY("a text tower without causal mask");
    if (t->embed_cls) WHY("a text CLS token (embed_cls)");
    if (c->has_logit_bias) WHY("logit_bias (SigLIP-style)");
#undef WHY
}


static oclip_status find_src(const oclip_checkpoint *src, const char *name,
                             const oclip_tensor **t, oclip_error *err) {
    if (!(*t = oclip_checkpoint_find(src, name)))
        return oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' is missing", name);
    return OCLIP_OK;
}

/* Renamed tensors (views of the source's bytes). */
static oclip_status copy_pairs(const oclip_checkpoint *src, oclip_checkpoint *dst,
                               const oc_name_pair *p, size_t n, oclip_error *err) {
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t;
        oclip_status st = find_src(src, p[i].oc, &t, err);
        if (!st) st = add_view(dst, p[i].hf, t, t->ndim, t->shape, t->data, err);
        if (st) return st;
    }
    return OCLIP_OK;
}

/* One encoder layer: q/k/v as row blocks of in_proj (views), the rest renamed. */
static oclip_status hf_layer(const oclip_checkpoint *src, oclip_checkpoint *dst, const char *hp,
                             const char *op, int L, oclip_error *err) {
    /* CLIPAttention registers k_proj, v_proj, q_proj in this order; in_proj rows are q | k | v */
    static const char *const kvq[3] = {"k_proj", "v_proj", "q_proj"};
    static const int row_block[3] = {1, 2, 0};
    char hf[320], oc[320];
    oclip_status st = OCLIP_OK;
    for (int j = 0; j < 3 && !st; j++) {
        for (int b = 0; b < 2 && !st; b++) {
            const oclip_tensor *t;
            snprintf(oc, sizeof oc, "%s.resblocks.%d.attn.in_proj_%s", op, L,
                     b ? "bias" : "weight");
            if ((st = find_src(src, oc, &t, err))) break;
            int64_t shape[2] = {t->shape[0] / 3, t->ndim == 2 ? t->shape[1] : 0};
            uint64_t part = t->nbytes / 3;
            snprintf(hf, sizeof hf, "%s.encoder.layers.%d.self_attn.%s.%s", hp, L, kvq[j],
                     b ? "bias" : "weight");
            st = add_view(dst, hf, t, t->ndim, shape,
                          (const uint8_t *)t->data + part * (uint64_t)row_block[j], err);
        }
    }
    for (size_t k = 0; k < oc_hf_layer_names_n && !st; k++) {
        const oclip_tensor *t;
        snprintf(oc, sizeof oc, "%s.resblocks.%d.%s", op, L, oc_hf_layer_names[k].oc);
        if ((st = find_src(src, oc, &t, err))) break;
        snprintf(hf, sizeof hf, "%s.encoder.layers.%d.%s", hp, L, oc_hf_layer_names[k].hf);
        st = add_view(dst, hf, t, t->ndim, t->shape, t->data, err);
    }
    return st;
}

/* transformers CLIPModel, in its state_dict order. */
static oclip_status build_hf(const oclip_checkpoint *src, const oclip_model_config *c,
                             oclip_checkpoint *dst, oclip_error *err) {
    const oc_name_pair *text_head = oc_hf_names, *text_tail = oc_hf_names + 2;
    const oc_name_pair *vision_head = oc_hf_names + 4, *vision_tail = oc_hf_names + 9;
    oclip_status st = copy_pairs(src, dst, text_head, 2, err);
    for (int L = 0; L < c->text.layers && !st; L++)
        st = hf_layer(src, dst, "text_model", "transformer", L, err);
    if (!st) st = copy_pairs(src, dst, text_tail, 2, err);
    if (!st) st = copy_pairs(src, dst, vision_head, 5, err);
    for (int L = 0; L < c->vision.layers && !st; L++)
        st = hf_layer(src, dst, "vision_model", "visual.transformer", L, err);
    if (!st) st = copy_pairs(src, dst, vision_tail, 2, err);
    /* projections: OpenCLIP computes x @ proj with proj [W, E]; a Linear stores weight [E, W] */
    const oclip_tensor *t;
    if (!st && !(st = find_src(src, "visual.proj", &t, err)))
        st = oc_add_transposed(dst, "visual_projection.weight", t, err);
    if (!st && !(st = find_src(src, "text_projection", &t, err)))
        st = oc_add_transposed(dst, "text_projection.weight", t, err);
    if (!st && !(st = find_src(src, "logit_scale", &t, err)))
        st = add_view(dst, "logit_scale", t, 0, t->shape, t->data, err);
    return st;
}

/* transformers SiglipModel from an OpenCLIP SigLIP state dict (siglip_hf_reasons accepted it). */
static oclip_status build_hf_siglip(const oclip_checkpoint *src, const oclip_model_config *c,
                                    oclip_checkpoint *dst, oclip_error *err) {
    oc_timm_tower tw;
    if (oc_timm_unsupported(c, &tw))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "not a SigLIP config");
    oclip_status st = copy_pairs(src, dst, oc_siglip_names, oc_siglip_names_n, err);
    for (int L = 0; L < c->text.layers && !st; L++)
        st = hf_layer(src, dst, "text_model", "text.transformer", L, err);
    char oc[320], hf[320];
    for (int L = 0; L < tw.depth && !st; L++) {
        for (int b = 0; b < 2 && !st; b++) {
            const oclip_tensor *t;
            snprintf(oc, sizeof oc, "visual.trunk.blocks.%d.attn.qkv.%s", L, b ? "bias" : "weight");
            if ((st = find_src(src, oc, &t, err))) break;
            int64_t shape[2] = {t->shape[0] / 3, t->ndim == 2 ? t->shape[1] : 0};
            static const char *const qkv[3] = {"q_proj", "k_proj", "v_proj"};
            for (int j = 0; j < 3 && !st; j++) {
                snprintf(hf, sizeof hf, "vision_model.encoder.layers.%d.self_attn.%s.%s", L, qkv[j],
                         b ? "bias" : "weight");
                st = add_view(dst, hf, t, t->ndim, shape,
                              (const uint8_t *)t->data + t->nbytes / 3 * (uint64_t)j, err);
            }
        }
        for (size_t k = 0; k < oc_siglip_vision_layer_names_n && !st; k++) {
            const oclip_tensor *t;
            snprintf(oc, sizeof oc, "visual.trunk.blocks.%d.%s", L,
                     oc_siglip_vision_layer_names[k].oc);
            if ((st = find_src(src, oc, &t, err))) break;
            snprintf(hf, sizeof hf, "vision_model.encoder.layers.%d.%s", L,
                     oc_siglip_vision_layer_names[k].hf);
            st = add_view(dst, hf, t, t->ndim, t->shape, t->data, err);
        }
    }
    /* the MAP head's MultiheadAttention in_proj = rows of q then kv (one new buffer each) */
    for (int b = 0; b < 2 && !st; b++) {
        const oclip_tensor *q, *kv;
        snprintf(oc, sizeof oc, "visual.trunk.attn_pool.q.%s", b ? "bias" : "weight");
        if ((st = find_src(src, oc, &q, err))) break;
        snprintf(oc, sizeof oc, "visual.trunk.attn_pool.kv.%s", b ? "bias" : "weight");
        if ((st = find_src(src, oc, &kv, err))) break;
        if (q->dtype != kv->dtype || q->ndim != kv->ndim || q->nbytes * 2 != kv->nbytes) {
            st = oc_err_set(err, OCLIP_E_FORMAT, "attn_pool.q / attn_pool.kv shapes differ");
            break;
        }
        uint8_t *buf = malloc(q->nbytes ? q->nbytes * 3 : 1);
        if (!buf || !oc_ck_own(dst, buf)) {
            free(buf);
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            break;
        }
        memcpy(buf, q->data, q->nbytes);
        memcpy(buf + q->nbytes, kv->data, kv->nbytes);
        int64_t shape[2] = {q->shape[0] * 3, q->ndim == 2 ? q->shape[1] : 0};
        const char *name = b ? "vision_model.head.attention.in_proj_bias"
                             : "vision_model.head.attention.in_proj_weight";
        st = oc_ck_add_tensor(dst, name, strlen(name), q->dtype, q->ndim, shape, buf, 1, err);
    }
    const oclip_tensor *t;
    if (!st && !(st = find_src(src, "visual.trunk.pos_embed", &t, err))) {
        if (t->ndim != 3) st = oc_err_set(err, OCLIP_E_FORMAT, "visual.trunk.pos_embed is not 3-D");
        else st = add_view(dst, "vision_model.embeddings.position_embedding.weight", t, 2,
                           t->shape + 1, t->data, err);
    }
    static const int64_t one[1] = {1};
    if (!st && !(st = find_src(src, "logit_scale", &t, err)))
        st = add_view(dst, "logit_scale", t, 1, one, t->data, err);
    if (!st && !(st = find_src(src, "logit_bias", &t, err)))
        st = add_view(dst, "logit_bias", t, 1, one, t->data, err);
    return st;
}

/* =============================================================================================
 * oclip_convert
 */
static oclip_dtype main_dtype(const oclip_checkpoint *ck) {
    uint64_t n[OCLIP_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (is_float_dtype(ck->tensors[i].dtype)) n[ck->tensors[i].dtype] += ck->tensors[i].numel;
    oclip_dtype best = OCLIP_DTYPE_F32;
    for (int d = 0; d < OCLIP_DTYPE_COUNT; d++)
        if (n[d] > n[best]) best = (oclip_dtype)d;
    return best;
}

/* An OpenCLIP folder for a SigLIP tower no timm architecture has (oclip's "siglip:" name, from
 * a transformers SiglipModel): OpenCLIP builds it only through timm's "local-dir:PATH" form
 * (timm/models/_factory.py), so PATH = OUT/timm gets the config.json timm reads (an architecture
 * of timm.c's table with every size and the activation in model_args, as save_config_for_hf
 * writes them) and *local the config naming it by its absolute path. Left as it is (local =
 * cfg) when that path does not fit timm_model_name. */
static oclip_status write_timm_tower(oc_outputs *o, oc_arena *a, const char *out, const char *sep,
                                     const oclip_model_config *cfg, oclip_model_config *local,
                                     oclip_error *err) {
    *local = *cfg;
    oc_timm_tower tw;
    if (oc_timm_unsupported(cfg, &tw)) return OCLIP_OK;
    char cwd[4096] = "";
    if (out[0] != '/' && !getcwd(cwd, sizeof cwd))
        return oc_err_set(err, OCLIP_E_IO, "cannot find the working directory: %s",
                          strerror(errno));
    size_t olen = strlen(out);
    while (olen > 1 && out[olen - 1] == '/') olen--;
    bool fits = oc_fmt(local->vision.timm_model_name, sizeof local->vision.timm_model_name,
                       "local-dir:%s%s%.*s/timm", cwd, cwd[0] ? "/" : "", (int)olen, out);
    if (!fits) {
        *local = *cfg;
        return OCLIP_OK;
    }
    const char *dir = oc_arena_printf(a, "%s%stimm", out, sep);
    const char *file = oc_arena_printf(a, "%s%stimm/config.json", out, sep);
    if (!dir || !file) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return oc_err_set(err, OCLIP_E_IO, "cannot create the folder '%s': %s", dir,
                          strerror(errno));
    /* timm Mlp: int(embed_dim * mlp_ratio) must give back the width */
    double ratio = (double)tw.mlp / tw.width;
    while ((long long)(tw.width * ratio) < tw.mlp) ratio = nextafter(ratio, 2.0 * ratio + 1.0);
    cJSON *root = cJSON_CreateObject(), *args = cJSON_CreateObject(), *pc = cJSON_CreateObject();
    int size[3] = {3, tw.img, tw.img};
    bool ok = jstr(root, "architecture", "vit_base_patch16_siglip_224");
    ok = jnum(root, "num_classes", 0) && ok;
    ok = jstr(root, "global_pool", "map") && ok;
    ok = jnum(args, "img_size", tw.img) && ok;
    ok = jnum(args, "patch_size", tw.patch) && ok;
    ok = jnum(args, "embed_dim", tw.width) && ok;
    ok = jnum(args, "depth", tw.depth) && ok;
    ok = jnum(args, "num_heads", tw.heads) && ok;
    ok = jnum(args, "mlp_ratio", ratio) && ok;
    ok = jbool(args, "class_token", 0) && ok;
    ok = jstr(args, "global_pool", "map") && ok;
    ok = jstr(args, "act_layer", tw.gelu_tanh ? "gelu_tanh" : "gelu") && ok;
    ok = jput(pc, "input_size", cJSON_CreateIntArray(size, 3)) && ok;
    ok = jbool(pc, "fixed_input_size", 1) && ok;
    ok = jnum(pc, "num_classes", 0) && ok;
    ok = jput(root, "model_args", args) && ok;
    ok = jput(root, "pretrained_cfg", pc) && ok;
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status st = write_text(o, file, text, err);
    cJSON_free(text);
    return st;
}

static oclip_status convert_files(const oclip_report *r, const char *out,
                                  const oclip_convert_options *opt, oc_arena *a, oc_outputs *o,
                                  bool *made_dir, oclip_error *err) {
    const oclip_model_config *cfg = oclip_report_config(r);
    const oclip_checkpoint *src = oclip_report_mapped(r);
    bool hf = opt->to == OCLIP_FORMAT_HF;
    /* a zero-initialised struct's dtype 0 (F32) means KEEP (include/oclip.h, Conventions) */
    oclip_dtype cast = !opt->struct_size && opt->dtype == OCLIP_DTYPE_F32 ? OCLIP_DTYPE_KEEP
                                                                           : opt->dtype;
    if (cast != OCLIP_DTYPE_KEEP && cast != OCLIP_DTYPE_F32 && cast != OCLIP_DTYPE_F16 &&
        cast != OCLIP_DTYPE_BF16)
        return oc_err_set(err, OCLIP_E_ARG, "cannot cast to %s (F32, F16 or BF16)",
                          oclip_dtype_name(cast));
    bool siglip = is_siglip(cfg);
    if (hf) {
        char why[800];
        if (siglip) siglip_hf_reasons(cfg, why, sizeof why);
        else hf_reasons(cfg, why, sizeof why);
        if (why[0]) {
            oc_err_set(err, OCLIP_E_UNSUPPORTED,
                       "transformers' %s cannot express this architecture: %s",
                       siglip ? "SiglipModel" : "CLIPModel", why);
            oc_err_hint(err, "convert to the OpenCLIP format instead (--to open_clip)");
            return OCLIP_E_UNSUPPORTED;
        }
    }
    oc_expect *e;
    size_t n;
    oclip_status st = oc_arch_expected(cfg, a, &e, &n, err);
    if (st) return st;

    /* the tensors to write, as a checkpoint of views into the mapped one */
    oclip_checkpoint *dst = oc_ck_new(src->name, &src->limits);
    if (!dst) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    st = !hf ? build_open_clip(src, e, n, dst, err)
         : siglip ? build_hf_siglip(src, cfg, dst, err) : build_hf(src, cfg, dst, err);
    if (!st) st = oc_ck_finish(dst, err);

    /* where the files go */
    size_t olen = strlen(out);
    bool folder = hf || path_is_dir(out) || (olen && out[olen - 1] == '/');
    const char *weights = out, *occfg = NULL, *hfcfg = NULL;
    if (!st && folder) {
        struct stat sb;
        if (stat(out, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            st = oc_err_set(err, OCLIP_E_ARG, "'%s' exists and is not a folder", out);
        } else if (stat(out, &sb) != 0) {
            if (mkdir(out, 0777) != 0)
                st = oc_err_set(err, OCLIP_E_IO, "cannot create the folder '%s': %s", out,
                                strerror(errno));
            else *made_dir = true;
        }
        const char *sep = olen && out[olen - 1] == '/' ? "" : "/";
        weights = oc_arena_printf(a, "%s%s%s", out, sep,
                                  hf ? "model.safetensors" : "open_clip_model.safetensors");
        occfg = oc_arena_printf(a, "%s%sopen_clip_config.json", out, sep);
        if (hf) hfcfg = oc_arena_printf(a, "%s%sconfig.json", out, sep);
        if (!st && (!weights || !occfg || (hf && !hfcfg)))
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }

    /* configs first (small), then the weights */
    oclip_model_config local = *cfg;
    if (!st && occfg && !hf && !strncmp(cfg->vision.timm_model_name, "siglip:", 7))
        st = write_timm_tower(o, a, out, olen && out[olen - 1] == '/' ? "" : "/", cfg, &local,
                              err);
    if (!st && occfg) {
        char *text = open_clip_config_text(&local, opt->preprocess, true);
        st = text ? write_text(o, occfg, text, err)
                  : oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        cJSON_free(text);
    }
    if (!st && hfcfg) {
        oclip_dtype dt = cast != OCLIP_DTYPE_KEEP ? cast : main_dtype(dst);
        char *text = siglip ? siglip_config_text(cfg, dt) : hf_config_text(cfg, dt);
        st = text ? write_text(o, hfcfg, text, err)
                  : oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        cJSON_free(text);
    }
    /* a single OpenCLIP file keeps its architecture and preprocessing in __metadata__, where
     * oclip_source_open finds them: nothing beside it is needed to run it as it was */
    char *embedded = NULL;
    if (!st && !folder && !opt->no_metadata &&
        !(embedded = open_clip_config_text(cfg, opt->preprocess, false)))
        st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    if (!st) {
        static const char *const pt[2] = {"format", "pt"};
        const char *meta[2] = {"open_clip_config", embedded};
        oc_progress pr = {opt->progress, opt->progress_user, 0, 0};
        st = st_save(o, dst, weights, NULL, 0, cast, hf ? pt : embedded ? meta : NULL,
                     hf || embedded ? 1 : 0, &pr, err);
    }
    cJSON_free(embedded);
    if (!st) st = outputs_commit(o, err);
    oclip_checkpoint_free(dst);
    return st;
}

oclip_status oclip_convert(const oclip_report *r, const char *out,
                           const oclip_convert_options *opt, oclip_error *err) {
    oc_err_clear(err);
    if (!r || !out || !out[0]) return oc_err_set(err, OCLIP_E_ARG, "oclip_convert: NULL argument");
    oclip_convert_options defaults;
    oclip_convert_options_default(&defaults);
    if (!opt) opt = &defaults;
    oclip_status os = OC_OPTIONS_OK(opt, "oclip_convert_options", err);
    if (os) return os;
    if (opt->to != OCLIP_FORMAT_OPEN_CLIP && opt->to != OCLIP_FORMAT_HF)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_convert: unknown output format %d",
                          (int)opt->to);
    const char *what = opt->to != OCLIP_FORMAT_HF          ? "OpenCLIP"
                       : is_siglip(oclip_report_config(r)) ? "transformers SiglipModel"
                                                           : "transformers CLIPModel";
    if (!oclip_report_ok(r)) {
        oc_err_set(err, OCLIP_E_MISMATCH, "converting '%s': the checkpoint does not fit %s (%zu "
                   "issues)", oclip_report_mapped(r)->name,
                   oclip_report_config(r)->name[0] ? oclip_report_config(r)->name : "its config",
                   oclip_report_n_issues(r));
        oc_err_hint(err, "'oclip check' prints the full report");
        return OCLIP_E_MISMATCH;
    }
    oc_arena a = {0};
    oc_outputs o = {.arena = &a};
    bool made_dir = false;
    oclip_status st = convert_files(r, out, opt, &a, &o, &made_dir, err);
    outputs_discard(&o);
    if (st) {
        if (made_dir) rmdir(out);
        oc_err_wrap(err, "converting '%s' to %s '%s'", oclip_report_mapped(r)->name, what, out);
    }
    oc_arena_free(&a);
    return st;
}
