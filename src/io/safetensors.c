/*
 * safetensors.c — the safetensors reader (one file, or HF-style shards behind an index).
 *
 * File format (huggingface/safetensors src/tensor.rs):
 *
 *     offset 0      u64 N, little-endian: length of the header
 *     offset 8      N bytes of UTF-8 JSON, padded with trailing spaces so that N % 8 == 0
 *     offset 8+N    the data buffer: every tensor's bytes, C-contiguous, little-endian
 *
 * The header is one JSON object:
 *
 *     {"__metadata__": {"format": "pt"},                          <- optional, string -> string
 *      "visual.proj": {"dtype": "F32", "shape": [768, 512], "data_offsets": [0, 1572864]},
 *      ...}
 *
 * data_offsets are [begin, end) relative to the start of the data buffer. The writer packs the
 * tensors tightly, so a valid file covers the data buffer exactly: sorted by offset, the first
 * tensor begins at 0, each begins where the previous ended and the last ends at the buffer's end.
 *
 * Why so strict: the file is untrusted input and the data is used in place (zero-copy), so every
 * offset must provably lie inside the mapping. Beyond that, we reject everything the reference
 * reader (safetensors/src/tensor.rs) rejects, so a file oclip accepts is one PyTorch accepts:
 * gaps and overlaps mean a corrupt or hand-edited file, and a span that disagrees with the
 * shape means the tensor would be read with the wrong size.
 *
 * Sharded checkpoints (HF convention, not used by open_clip itself):
 *
 *     model.safetensors.index.json = {"metadata": {"total_size": <bytes>},
 *                                     "weight_map": {"<tensor>": "<shard file name>", ...}}
 *
 * Each shard is an ordinary safetensors file in the index's folder.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "internal.h"

/* 2^53: the largest integer a JSON number (an IEEE double in cJSON) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

/* The shard index is a small name -> file table; anything larger is not an index. */
#define ST_MAX_INDEX_BYTES ((size_t)64 << 20)

/* One tensor entry of a header, validated but not yet added to the checkpoint. */
typedef struct {
    const char *name; /* owned by the cJSON tree */
    oclip_dtype dtype;
    int ndim;
    int64_t shape[OCLIP_MAX_DIMS];
    uint64_t begin, end; /* data_offsets, relative to the data buffer */
    size_t order;        /* position in the header (tie-break for deterministic sorting) */
    bool dropped;        /* replaced by a later entry of the same name */
} st_entry;

/* =============================================================================================
 * JSON helpers
 */

/*
 * Checks what cJSON lets through but JSON (and the reference reader) does not: bytes that are
 * not UTF-8, raw control characters, and the escape \u0000. The last matters because cJSON
 * returns C strings: "a\u0000b" would silently become the name "a" (or a shard file name
 * cut short). Returns NULL when the text is clean, else a reason, with *at the byte offset.
 */
static const char *json_prescan(const uint8_t *s, size_t n, size_t *at, size_t *float_at) {
    bool in_str = false;
    *float_at = SIZE_MAX;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        *at = i;
        if (c >= 0x80) {
            size_t len = oc_utf8_seq_len(s + i, n - i);
            if (!len) return "invalid UTF-8";
            i += len;
            continue;
        }
        if (c < 0x20) {
            if (in_str) return "a raw control character inside a string";
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return "a control byte";
        } else if (c == '"') {
            in_str = !in_str;
        } else if (!in_str && (c == '.' || ((c == 'e' || c == 'E') && i > 0 && s[i - 1] >= '0' &&
                                            s[i - 1] <= '9'))) {
            /* cJSON turns 16.0 into the double 16; safetensors (serde, u64) refuses it. Noted
             * here, reported after the per-key checks (which name the key when they fail). */
            if (*float_at == SIZE_MAX) *float_at = i;
        } else if (c == '\\' && in_str && i + 1 < n) {
            if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0)
                return "a \\u0000 escape (NUL) inside a string";
            /* Skip the escaped character so that \" does not end the string. Only ASCII can
             * follow a valid backslash; anything else is left for the UTF-8 check. */
            if (s[i + 1] < 0x80) i++;
        }
        i++;
    }
    return NULL;
}

/* What a cJSON item is, for messages. */
static const char *json_kind(const cJSON *v) {
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/*
 * Parses exactly n bytes at p (never reading past them) as one JSON object followed by nothing
 * but whitespace (the safetensors writer pads its header with spaces), in `dialect` (util.c).
 * `what` names the text in messages ("safetensors header"). On success *out owns the tree.
 */
static oclip_status parse_json_object(const uint8_t *p, size_t n, oc_json_dialect dialect,
                                      const char *what, cJSON **out, size_t *float_at,
                                      oclip_error *err) {
    *out = NULL;
    size_t at = 0;
    const char *bad = json_prescan(p, n, &at, float_at);
    if (bad) return oc_err_set(err, OCLIP_E_FORMAT, "%s: %s at byte %zu", what, bad, at);
    cJSON *root = NULL;
    oclip_status st = oc_json_parse_text((const char *)p, n, dialect, what, &root, err);
    if (st) return st;
    if (!cJSON_IsObject(root)) {
        oc_err_set(err, OCLIP_E_FORMAT, "%s is not a JSON object (it is %s)", what,
                   json_kind(root));
        cJSON_Delete(root);
        return OCLIP_E_FORMAT;
    }
    *out = root;
    return OCLIP_OK;
}

/*
 * Reads a JSON number that must be a non-negative integer. cJSON stores numbers as doubles, so
 * we check the double itself: finite, integral, and at most 2^53 (beyond that a double no longer
 * holds every integer, so the file's value may not be the one we would use). NULL on success,
 * else what is wrong with it.
 */
static const char *json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return "not a number";
    double d = v->valuedouble;
    if (d != d) return "not a number"; /* NaN: cJSON cannot produce it, but be safe */
    if (d < 0) return "negative";      /* -0 compares equal to 0 and passes, as it should */
    /* Also catches infinity: strtod turns "1e400" into HUGE_VAL. */
    if (d > ST_MAX_JSON_INT) return "too large (above 2^53)";
    /* In [0, 2^53] the conversion is defined, and it round-trips only for integers. */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return "not an integer";
    *out = u;
    return NULL;
}

/* "[768,512]" into buf (at most OCLIP_MAX_DIMS dims, each below 2^53: 8 * 17 + 3 bytes). */
static const char *fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t len = 0;
    buf[len++] = '[';
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? "," : "",
                                (long long)shape[i]);
    if (len < cap - 1) buf[len++] = ']';
    buf[len < cap ? len : cap - 1] = '\0';
    return buf;
}

/* The supported dtype names, for the "unknown dtype" message. */
static const char *dtype_list(char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < OCLIP_DTYPE_COUNT && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "",
                                oclip_dtype_name((oclip_dtype)i));
    return buf;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* =============================================================================================
 * One tensor entry of the header
 */

/* Validates one `"name": {"dtype":..., "shape":..., "data_offsets":...}` member into *e. */
static oclip_status parse_entry(const cJSON *item, uint64_t data_len, st_entry *e,
                                oclip_error *err) {
    /* names and strings from the file appear in messages escaped (oc_esc) */
    oc_escbuf nb, fb;
    const char *name = OC_ESC(nb, item->string);
    if (!cJSON_IsObject(item))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "safetensors header: tensor '%s': entry is %s, not an object", name,
                          json_kind(item));

    /* Exactly the three known fields, each once: an unknown field means a format we do not
     * understand (cJSON keeps duplicate keys, so we count them ourselves). */
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *f = item->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0          ? &dtype
                             : strcmp(f->string, "shape") == 0        ? &shape
                             : strcmp(f->string, "data_offsets") == 0 ? &offs
                                                                      : NULL;
        if (!slot)
            return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': unknown field "
                              "'%s' (expected dtype, shape, data_offsets)", name, OC_ESC(fb, f->string));
        if (*slot)
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "safetensors header: tensor '%s': field '%s' appears twice", name,
                              OC_ESC(fb, f->string));
        *slot = f;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': missing field "
                          "'%s'", name, missing);

    /* dtype: one of the safetensors names. Newer releases add types (F4, F8_E8M0, ...): those
     * are valid files we cannot read, hence UNSUPPORTED rather than FORMAT. */
    if (!cJSON_IsString(dtype))
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': dtype is %s, "
                          "not a string", name, json_kind(dtype));
    if (!oc_dtype_from_name(dtype->valuestring, strlen(dtype->valuestring), &e->dtype)) {
        char list[256];
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "safetensors header: tensor '%s': unknown dtype '%s' (supported: %s)",
                          name, oc_esc(fb.s, 80, dtype->valuestring, strlen(dtype->valuestring)),
                          dtype_list(list, sizeof list));
    }

    /* shape: a list of non-negative integers; [] is a scalar, 0 is a valid (empty) extent. */
    if (!cJSON_IsArray(shape))
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': shape is %s, "
                          "not an array", name, json_kind(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > OCLIP_MAX_DIMS)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "safetensors header: tensor '%s': %d "
                          "dimensions (oclip reads at most %d)", name, ndim, OCLIP_MAX_DIMS);
    e->ndim = 0;
    for (const cJSON *d = shape->child; d; d = d->next) {
        uint64_t v = 0;
        const char *why = json_uint(d, &v);
        if (why)
            return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': shape[%d] "
                              "is %s", name, e->ndim, why);
        e->shape[e->ndim++] = (int64_t)v;
    }

    /* data_offsets: [begin, end), begin <= end, inside the data buffer. */
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': data_offsets "
                          "must be an array of 2 integers", name);
    int which = 0;
    const char *why = json_uint(offs->child, &e->begin);
    if (!why) {
        why = json_uint(offs->child->next, &e->end);
        which = 1;
    }
    if (why)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': data_offsets[%d] "
                          "is %s", name, which, why);
    if (e->begin > e->end)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': data_offsets "
                          "begin %llu > end %llu", name, (unsigned long long)e->begin,
                          (unsigned long long)e->end);
    if (e->end > data_len) {
        oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': data_offsets "
                   "[%llu,%llu) end beyond the data buffer (%llu bytes)", name,
                   (unsigned long long)e->begin, (unsigned long long)e->end,
                   (unsigned long long)data_len);
        oc_err_hint(err, OC_HINT_TRUNCATED);
        return OCLIP_E_FORMAT;
    }

    /* The span must hold exactly numel elements: otherwise the shape or dtype is wrong and the
     * tensor would be read with the wrong size. */
    uint64_t numel, nbytes;
    char sh[160];
    if (!oc_shape_numel(e->shape, e->ndim, &numel) ||
        oc_mul_overflow_u64(numel, oclip_dtype_size(e->dtype), &nbytes))
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': shape %s "
                          "overflows", name, fmt_shape(sh, sizeof sh, e->shape, e->ndim));
    if (nbytes != e->end - e->begin)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s': shape %s of %s "
                          "needs %llu bytes but data_offsets [%llu,%llu) span %llu", name,
                          fmt_shape(sh, sizeof sh, e->shape, e->ndim), oclip_dtype_name(e->dtype),
                          (unsigned long long)nbytes, (unsigned long long)e->begin,
                          (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    e->name = item->string;
    return OCLIP_OK;
}

/* Offset order; ties (zero-size tensors at the same offset as the next one) by end so that
 * [100,100) sorts before [100,200), then by header position so the order is deterministic. */
static int cmp_entry_offset(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_entry_name(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->order < y->order ? -1 : x->order > y->order);
}

/*
 * Requires the entries to tile [0, data_len) exactly. `sorted` is in offset order. A gap is
 * bytes that belong to no tensor (a hand-edited or damaged file); an overlap means two tensors
 * share bytes, which no writer produces and which would alias weights; trailing bytes mean the
 * header and the data disagree (often a file appended to, or a header from another file).
 */
static oclip_status check_coverage(st_entry *const *sorted, size_t n, uint64_t data_len,
                                   oclip_error *err) {
    /* An empty header is a valid (empty) file only when there is no data either. */
    if (n == 0) {
        if (data_len == 0) return OCLIP_OK;
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: lists no tensors but the "
                          "data buffer has %llu trailing bytes", (unsigned long long)data_len);
    }
    oc_escbuf b1, b2;
    if (sorted[0]->begin != 0)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: data buffer bytes [0,%llu) "
                          "belong to no tensor (the first, '%s', begins at %llu)",
                          (unsigned long long)sorted[0]->begin, OC_ESC(b1, sorted[0]->name),
                          (unsigned long long)sorted[0]->begin);
    /* Neighbours in offset order must touch: each begins exactly where the previous ended. */
    for (size_t i = 1; i < n; i++) {
        const st_entry *p = sorted[i - 1], *c = sorted[i];
        if (c->begin > p->end)
            return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: gap of %llu bytes between "
                              "tensor '%s' [%llu,%llu) and tensor '%s' [%llu,%llu)",
                              (unsigned long long)(c->begin - p->end), OC_ESC(b1, p->name),
                              (unsigned long long)p->begin, (unsigned long long)p->end,
                              OC_ESC(b2, c->name),
                              (unsigned long long)c->begin, (unsigned long long)c->end);
        if (c->begin < p->end)
            return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: tensor '%s' [%llu,%llu) "
                              "overlaps tensor '%s' [%llu,%llu)", OC_ESC(b1, c->name),
                              (unsigned long long)c->begin, (unsigned long long)c->end,
                              OC_ESC(b2, p->name),
                              (unsigned long long)p->begin, (unsigned long long)p->end);
    }
    const st_entry *last = sorted[n - 1];
    if (last->end != data_len) /* end <= data_len was checked per entry */
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: the data buffer has %llu "
                          "trailing bytes after the last tensor '%s' (ends at %llu, buffer is "
                          "%llu bytes)", (unsigned long long)(data_len - last->end),
                          OC_ESC(b1, last->name), (unsigned long long)last->end,
                          (unsigned long long)data_len);
    return OCLIP_OK;
}

/* =============================================================================================
 * One safetensors file
 */

/* How a file's __metadata__ is recorded: single files record all of it; for shards only the
 * first shard's, skipping keys already present among the first `dedupe_upto` entries. */
typedef struct {
    bool record;
    size_t dedupe_upto;
} st_meta_mode;

typedef struct {
    const cJSON *item;
    size_t pos;
} st_member;

static int cmp_member(const void *a, const void *b) {
    const st_member *x = a, *y = b;
    int c = strcmp(x->item->string, y->item->string);
    return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* Validates __metadata__ (string -> string) and records it per `mode`. Of duplicate keys the
 * last value is kept, as safetensors' serde HashMap does (a later insert replaces). */
static oclip_status read_metadata(oclip_checkpoint *ck, const cJSON *md, st_meta_mode mode,
                                  oclip_error *err) {
    if (!cJSON_IsObject(md))
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: __metadata__ is %s, not an "
                          "object", json_kind(md));
    size_t n = 0;
    for (const cJSON *m = md->child; m; m = m->next) {
        if (!cJSON_IsString(m)) {
            oc_escbuf kb;
            return oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: __metadata__ '%s' is %s, "
                              "not a string", OC_ESC(kb, m->string), json_kind(m));
        }
        n++;
    }
    if (!mode.record || n == 0) return OCLIP_OK;
    /* Which members a later one with the same key replaces: sort (key, position). */
    st_member *ms = malloc(n * sizeof *ms);
    bool *replaced = calloc(n, sizeof *replaced);
    if (!ms || !replaced) {
        free(ms);
        free(replaced);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    size_t i = 0;
    for (const cJSON *m = md->child; m; m = m->next, i++) ms[i] = (st_member){m, i};
    qsort(ms, n, sizeof *ms, cmp_member);
    for (i = 1; i < n; i++)
        if (strcmp(ms[i - 1].item->string, ms[i].item->string) == 0) replaced[ms[i - 1].pos] = true;
    free(ms);
    /* Values are recorded verbatim; dedupe_upto is tiny (the index's "total_size"), so the
     * linear scan costs nothing even for a header with many keys. */
    oclip_status st = OCLIP_OK;
    i = 0;
    for (const cJSON *m = md->child; m && !st; m = m->next, i++) {
        bool dup = replaced[i];
        for (size_t k = 0; k < mode.dedupe_upto && !dup; k++)
            dup = strcmp(ck->entry_keys[k], m->string) == 0;
        if (!dup) st = oc_ck_add_entry(ck, m->string, m->valuestring, err);
    }
    free(replaced);
    return st;
}

/*
 * Reads one safetensors file (base/size is the whole file, kept mapped by the caller) and appends
 * its tensors to ck in header order. Everything is validated before the first tensor is added.
 */
static oclip_status read_file(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                              st_meta_mode mode, oclip_error *err) {
    /* 1. The header length, checked against the file before it is trusted as a size. */
    if (size < 8)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors: the file is %zu bytes, too short for "
                          "the 8-byte header length", size);
    uint64_t hlen = oc_rd64(base);
    if (hlen < 2)
        return oc_err_set(err, OCLIP_E_FORMAT, "safetensors: header length %llu is too small "
                          "(the JSON object takes at least 2 bytes)", (unsigned long long)hlen);
    if (hlen > (uint64_t)(size - 8)) { /* cannot overflow: size >= 8 */
        oc_err_set(err, OCLIP_E_FORMAT, "safetensors: header length %llu goes beyond the end of "
                   "the file (%zu bytes after the length field)", (unsigned long long)hlen,
                   size - 8);
        oc_err_hint(err, OC_HINT_TRUNCATED);
        return OCLIP_E_FORMAT;
    }
    if (hlen > ck->limits.max_header_bytes) {
        oc_err_set(err, OCLIP_E_NOMEM, "safetensors: header length %llu is above the limit of "
                   "%llu bytes", (unsigned long long)hlen,
                   (unsigned long long)ck->limits.max_header_bytes);
        oc_err_hint(err, "raise oclip_limits.max_header_bytes if the file is trusted");
        return OCLIP_E_NOMEM;
    }
    /* From here 8 + hlen <= size, so both pointers lie inside the mapping and every offset
     * compared against data_len below is an offset into it. */
    const uint8_t *hdr = base + 8;
    const uint8_t *data = hdr + hlen;
    uint64_t data_len = (uint64_t)(size - 8 - (size_t)hlen);

    /* 2. The JSON header. */
    cJSON *root = NULL;
    st_entry *ents = NULL;
    st_entry **order = NULL;
    size_t float_at;
    oclip_status st = parse_json_object(hdr, (size_t)hlen, OC_JSON_SERDE, "safetensors header",
                                        &root, &float_at, err);
    if (st) return st;

    /* 3. Count the tensors (every member but __metadata__) and cap them before allocating. */
    size_t n = 0;
    const cJSON *md = NULL;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") != 0) {
            n++;
        } else if (md) {
            st = oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: __metadata__ appears twice");
            goto out;
        } else {
            md = it;
        }
    }
    if (n > ck->limits.max_tensors || ck->n_tensors > ck->limits.max_tensors - n) {
        st = oc_err_set(err, OCLIP_E_NOMEM, "safetensors header: %zu tensors, more than the "
                        "limit of %llu", n, (unsigned long long)ck->limits.max_tensors);
        goto out;
    }
    if (n) {
        ents = calloc(n, sizeof *ents);
        order = malloc(n * sizeof *order);
        if (!ents || !order) {
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            goto out;
        }
    }

    /* 4. Each entry on its own (fields, dtype, shape, offsets inside the buffer, span). */
    size_t i = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (it == md) continue;
        if ((st = parse_entry(it, data_len, &ents[i], err))) goto out;
        ents[i].order = i;
        order[i] = &ents[i];
        i++;
    }
    if (md && (st = read_metadata(ck, md, mode, err))) goto out;

    /* 5. Duplicate names: safetensors' serde HashMap keeps the last entry of a name (a later
     * insert replaces), so the earlier ones are dropped here too, before the coverage check
     * (where the bytes they described become a gap, as in safetensors, unless they are the
     * same bytes). */
    size_t kept = n;
    if (n > 1) {
        qsort(order, n, sizeof *order, cmp_entry_name);
        kept = 0;
        for (i = 0; i < n; i++) {
            if (i + 1 < n && strcmp(order[i]->name, order[i + 1]->name) == 0)
                order[i]->dropped = true;
            else
                order[kept++] = order[i];
        }
    }

    /* 6. The entries must tile the data buffer with no gap, overlap or trailing bytes. */
    if (kept > 1) qsort(order, kept, sizeof *order, cmp_entry_offset);
    if ((st = check_coverage(order, kept, data_len, err))) goto out;
    if (float_at != SIZE_MAX) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "safetensors header: a non-integer number at byte "
                        "%zu (these headers hold integers only)", float_at);
        goto out;
    }

    /* 7. Add the tensors in header order, pointing into the mapping (zero-copy). */
    for (i = 0; i < n; i++) {
        const st_entry *e = &ents[i];
        if (e->dropped) continue;
        st = oc_ck_add_tensor(ck, e->name, strlen(e->name), e->dtype, e->ndim, e->shape,
                              data + e->begin, 0, err);
        if (st) goto out;
    }
    ck->container = OCLIP_CONTAINER_SAFETENSORS;

out:
    free(order);
    free(ents);
    cJSON_Delete(root);
    return st;
}

oclip_status oc_st_read(oclip_checkpoint *ck, const uint8_t *base, size_t size,
                        oclip_error *err) {
    st_meta_mode mode = {true, 0};
    return read_file(ck, base, size, mode, err);
}

/* =============================================================================================
 * Sharded checkpoints
 */

/* One weight_map line: tensor name -> index into the sorted shard list. */
typedef struct {
    const char *name; /* owned by the cJSON tree */
    const char *shard_name;
    size_t shard;
    bool found;
} st_wm_entry;

static int cmp_wm_name(const void *a, const void *b) {
    return strcmp(((const st_wm_entry *)a)->name, ((const st_wm_entry *)b)->name);
}

/*
 * Shard names come from an untrusted file and are joined to a folder: only plain file names
 * pass (an allow-list), so "../x", "/etc/passwd" or "a\b" can never reach outside the folder.
 * (NUL bytes were refused by json_prescan, so the string is the whole name.) A name holding
 * U+FFFD is refused too: the JSON reader puts it for a lone surrogate escape, and the file
 * Python would open under that name is not the one of this spelling.
 * The file itself may be a symbolic link, followed as Python's open() does: the Hugging Face
 * cache's snapshot folders consist of links into ../../blobs/ (docs/SECURITY.md, "Shards").
 */
static oclip_status check_shard_name(const char *tensor, const char *shard, oclip_error *err) {
    oc_escbuf tb, sb;
    if (shard[0] == '\0')
        return oc_err_set(err, OCLIP_E_FORMAT, "shard index: tensor '%s': empty shard file name",
                          OC_ESC(tb, tensor));
    if (strchr(shard, '/') || strchr(shard, '\\') || strcmp(shard, ".") == 0 ||
        strcmp(shard, "..") == 0)
        return oc_err_set(err, OCLIP_E_UNSAFE, "shard index: tensor '%s': shard '%s' is not a "
                          "plain file name in the index's folder (refused: path traversal)",
                          OC_ESC(tb, tensor), OC_ESC(sb, shard));
    if (strstr(shard, "\xef\xbf\xbd"))
        return oc_err_set(err, OCLIP_E_FORMAT, "shard index: tensor '%s': shard '%s' holds "
                          "U+FFFD or a lone surrogate escape, not a file name oclip opens",
                          OC_ESC(tb, tensor), OC_ESC(sb, shard));
    return OCLIP_OK;
}

/* Records metadata.total_size from the index as the entry "total_size" (informational only:
 * a mismatch with the shards' sizes is not an error, as in transformers). */
static oclip_status read_index_metadata(oclip_checkpoint *ck, const cJSON *meta,
                                        oclip_error *err) {
    if (!meta) return OCLIP_OK;
    if (!cJSON_IsObject(meta))
        return oc_err_set(err, OCLIP_E_FORMAT, "shard index: metadata is %s, not an object",
                          json_kind(meta));
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(meta, "total_size");
    char buf[64];
    uint64_t v;
    if (cJSON_IsString(ts)) return oc_ck_add_entry(ck, "total_size", ts->valuestring, err);
    if (!ts || json_uint(ts, &v)) return OCLIP_OK; /* absent or odd: ignore */
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return oc_ck_add_entry(ck, "total_size", buf, err);
}

/* Maps one shard, registers the mapping with ck and reads its tensors. */
static oclip_status read_shard(oclip_checkpoint *ck, const char *dir, size_t dir_len,
                               const char *shard, st_meta_mode mode, oclip_error *err) {
    /* dir[0..dir_len) is the index's folder with its trailing '/', or empty (current folder). */
    size_t len = strlen(shard);
    char *path = malloc(dir_len + len + 1);
    if (!path) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    memcpy(path, dir, dir_len);
    memcpy(path + dir_len, shard, len + 1);
    oc_map m;
    oc_escbuf sb;
    oclip_status st = oc_map_file(path, &m, err);
    free(path);
    if (st) {
        oc_err_wrap(err, "shard '%s'", OC_ESC(sb, shard));
        return st;
    }
    /* Registered before reading: the tensors will point into it, and ck unmaps it on free. */
    if (!oc_ck_keep_map(ck, &m)) {
        oc_unmap(&m);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    /* Anything but safetensors is named by its kind, and nothing read from it is printed (the
     * index decides which file this is: numbers parsed from another file's first bytes would
     * show them). A torch zip shard (pytorch_model-00001-of-00002.bin behind a .bin.index.json)
     * is a valid checkpoint we do not read this way. */
    const char *what, *hint;
    oc_kind kind = oc_sniff(m.data, m.size, &what, &hint);
    if (kind == OC_KIND_ZIP) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "a PyTorch zip file; only safetensors shards "
                        "are read");
    } else if (kind != OC_KIND_SAFETENSORS) {
        st = oc_err_set(err, m.size ? OCLIP_E_UNSUPPORTED : OCLIP_E_FORMAT,
                        "not a safetensors file: %s", what);
        if (m.size == 0) oc_err_hint(err, OC_HINT_TRUNCATED);
    } else {
        st = read_file(ck, m.data, m.size, mode, err);
    }
    if (st) oc_err_wrap(err, "shard '%s'", OC_ESC(sb, shard));
    return st;
}

oclip_status oc_st_read_index(oclip_checkpoint *ck, const char *path, oclip_error *err) {
    /* The index's own name, for messages, and its folder, where the shards live. */
    const char *slash = strrchr(path, '/');
    const char *index_name = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;

    /* 1. Read and parse the index; the tree keeps copies of the strings, so unmap at once. */
    oc_map im;
    oclip_status st = oc_map_file(path, &im, err);
    if (st) return st;
    if (im.size > ST_MAX_INDEX_BYTES) {
        oc_unmap(&im);
        return oc_err_set(err, OCLIP_E_FORMAT, "shard index: %zu bytes, too large for an index "
                          "(at most %zu)", im.size, ST_MAX_INDEX_BYTES);
    }
    cJSON *root = NULL;
    size_t float_at; /* shard indexes may hold other numbers (total_size is an integer) */
    st = parse_json_object(im.data, im.size, OC_JSON_PYTHON, "shard index", &root, &float_at,
                           err);
    oc_unmap(&im);
    if (st) return st;

    st_wm_entry *wm = NULL;
    const char **shards = NULL;
    size_t n = 0, n_shards = 0;

    /* 2. weight_map: tensor -> shard file name, every name plain, no tensor twice. */
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!map) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "shard index: no \"weight_map\"");
        goto out;
    }
    if (!cJSON_IsObject(map)) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "shard index: weight_map is %s, not an object",
                        json_kind(map));
        goto out;
    }
    for (const cJSON *it = map->child; it; it = it->next) n++;
    /* An index that lists nothing is a broken download or a wrong file, never a checkpoint. */
    if (n == 0) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "shard index: weight_map is empty");
        goto out;
    }
    if (n > ck->limits.max_tensors) {
        st = oc_err_set(err, OCLIP_E_NOMEM, "shard index: %zu tensors, more than the limit of "
                        "%llu", n, (unsigned long long)ck->limits.max_tensors);
        goto out;
    }
    wm = calloc(n, sizeof *wm);
    shards = malloc(n * sizeof *shards);
    if (!wm || !shards) {
        st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        goto out;
    }
    size_t i = 0;
    for (const cJSON *it = map->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) {
            oc_escbuf kb;
            st = oc_err_set(err, OCLIP_E_FORMAT, "shard index: weight_map['%s'] is %s, not a "
                            "file name", OC_ESC(kb, it->string), json_kind(it));
            goto out;
        }
        if ((st = check_shard_name(it->string, it->valuestring, err))) goto out;
        wm[i].name = it->string;
        wm[i].shard_name = it->valuestring;
        shards[i] = it->valuestring;
    }
    /* Sorted by name for the lookups below (the JSON reader kept the last of duplicate keys,
     * as Python's json does, so every name is there once). */
    qsort(wm, n, sizeof *wm, cmp_wm_name);

    /* 3. The distinct shards, in sorted order so that the tensor order is deterministic. */
    qsort(shards, n, sizeof *shards, cmp_str_ptr);
    for (i = 0; i < n; i++)
        if (n_shards == 0 || strcmp(shards[n_shards - 1], shards[i]) != 0)
            shards[n_shards++] = shards[i];
    for (i = 0; i < n; i++) {
        const char **hit = bsearch(&wm[i].shard_name, shards, n_shards, sizeof *shards,
                                   cmp_str_ptr);
        wm[i].shard = (size_t)(hit - shards); /* always found: shards came from wm */
    }

    if ((st = read_index_metadata(ck, cJSON_GetObjectItemCaseSensitive(root, "metadata"), err)))
        goto out;
    size_t index_entries = ck->n_entries;

    /* 4. Each shard, checking its tensors against weight_map as they come in. */
    /* A tensor found where the map does not expect it is either unlisted or in the wrong
     * shard; both mean the index and the shards come from different saves. */
    oc_escbuf b1, b2, b3, b4;
    for (size_t s = 0; s < n_shards; s++) {
        size_t first = ck->n_tensors;
        st_meta_mode mode = {s == 0, index_entries}; /* first shard's metadata only */
        if ((st = read_shard(ck, path, dir_len, shards[s], mode, err))) goto out;
        for (size_t t = first; t < ck->n_tensors; t++) {
            st_wm_entry key = {.name = ck->tensors[t].name};
            st_wm_entry *e = bsearch(&key, wm, n, sizeof *wm, cmp_wm_name);
            if (!e) {
                st = oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' is in shard '%s' but not "
                                "listed in the weight_map of '%s'", OC_ESC(b1, key.name),
                                OC_ESC(b2, shards[s]), OC_ESC(b3, index_name));
                goto out;
            }
            if (e->shard != s) {
                st = oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' is in shard '%s' but the "
                                "weight_map of '%s' puts it in '%s'", OC_ESC(b1, key.name),
                                OC_ESC(b2, shards[s]), OC_ESC(b3, index_name),
                                OC_ESC(b4, shards[e->shard]));
                goto out;
            }
            e->found = true; /* at most once: names are unique within a shard */
        }
    }

    /* 5. Nothing the index promises may be missing. */
    for (i = 0; i < n; i++) {
        if (!wm[i].found) {
            st = oc_err_set(err, OCLIP_E_FORMAT, "tensor '%s' is listed in the weight_map of "
                            "'%s' for shard '%s', but that shard does not contain it",
                            OC_ESC(b1, wm[i].name), OC_ESC(b3, index_name),
                            OC_ESC(b2, shards[wm[i].shard]));
            goto out;
        }
    }
    ck->container = OCLIP_CONTAINER_SAFETENSORS_SHARDED;

out:
    free(shards);
    free(wm);
    cJSON_Delete(root);
    return st;
}
