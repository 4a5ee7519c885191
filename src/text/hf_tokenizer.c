/*
 * hf_tokenizer.c — tokenizer.json: loading (tokenizer/serialization.rs), the added vocabulary
 * (tokenizer/added_vocabulary.rs), the encoding pipeline (tokenizer/mod.rs: split on added
 * tokens, normalize, split on normalized added tokens, pre-tokenize, model), post-processing
 * (processors/template.rs, bert.rs, roberta.rs, sequence.rs; utils/truncation.rs,
 * utils/padding.rs) and OpenCLIP's HFTokenizer.__call__ on top (open_clip tokenizer.py).
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "text/hf_int.h"
#include "text/tokenizer_int.h"

typedef struct {
    const char *content;
    size_t len;
    bool single_word, lstrip, rstrip, normalized, special;
} added_token;

/* One post-processing step for a single sequence: ids before and after it. */
typedef struct {
    int32_t *pre, *post;
    size_t n_pre, n_post;
} wrap;

struct oc_hftok {
    oc_arena arena;
    cJSON *json;
    hf_norm *norm;
    hf_pretok *pretok;
    hf_model *model;

    added_token *tokens; /* as read, in order */
    size_t n_tokens;
    hf_map added;        /* content -> id */
    /* id -> the token registered last under that id (added_tokens_map_r) */
    int64_t *rid;        /* sorted ids */
    const added_token **rtok;
    size_t n_r;
    hf_trie split, split_norm; /* payload: id */
    int64_t max_added_id;

    wrap *wraps;         /* applied in order (processors Sequence) */
    size_t n_wraps;
    size_t n_added;      /* special ids a single sequence gains */
};

/* =============================================================================================
 * Added vocabulary
 */
static const added_token *token_of_id(const oc_hftok *t, int64_t id) {
    size_t lo = 0, hi = t->n_r;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->rid[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < t->n_r && t->rid[lo] == id ? t->rtok[lo] : NULL;
}

int64_t oc_hftok_token_id(const oc_hftok *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t n = strlen(token);
    int64_t id = hf_map_get(&tok->added, token, n);
    return id >= 0 ? id : hf_model_token_id(tok->model, token, n);
}

size_t oc_hftok_vocab_size(const oc_hftok *tok) { return hf_model_vocab_size(tok->model); }

size_t oc_hftok_id_limit(const oc_hftok *tok) {
    int64_t m = hf_model_max_id(tok->model);
    if (tok->max_added_id > m) m = tok->max_added_id;
    for (size_t w = 0; w < tok->n_wraps; w++) {
        for (size_t i = 0; i < tok->wraps[w].n_pre; i++)
            if (tok->wraps[w].pre[i] > m) m = tok->wraps[w].pre[i];
        for (size_t i = 0; i < tok->wraps[w].n_post; i++)
            if (tok->wraps[w].post[i] > m) m = tok->wraps[w].post[i];
    }
    return (size_t)(m + 1);
}

static bool same_token(const added_token *a, const added_token *b) {
    return a->len == b->len && !memcmp(a->content, b->content, a->len) &&
           a->single_word == b->single_word && a->lstrip == b->lstrip && a->rstrip == b->rstrip &&
           a->normalized == b->normalized && a->special == b->special;
}

/* Inserts key -> value unless the key is already there (aho-corasick's leftmost-longest keeps the
 * pattern added first among identical ones). */
static bool trie_add_first(hf_trie *t, const uint8_t *k, size_t n, int32_t v) {
    uint32_t node = 0;
    size_t i = 0;
    for (; i < n; i++) {
        node = hf_trie_step(t, node, k[i]);
        if (!node) break;
    }
    if (i == n && node && t->value[node] >= 0) return true;
    return hf_trie_insert(t, k, n, v);
}

/* AddedVocabulary::add_tokens + refresh_added_tokens, at load time (ids from the file are not
 * used: tokens already in the vocabulary keep their ids, the others are numbered from the
 * model's vocabulary size, as tokenizers does). */
static oclip_status build_added(oc_hftok *t, oclip_error *err) {
    size_t n = t->n_tokens;
    const added_token **specials = calloc(n ? n : 1, sizeof *specials);
    const added_token **plain = calloc(n ? n : 1, sizeof *plain);
    const added_token **existing = calloc(n ? n : 1, sizeof *existing);
    t->rid = calloc(n ? n : 1, sizeof *t->rid);
    t->rtok = calloc(n ? n : 1, sizeof *t->rtok);
    oclip_status st = OCLIP_OK;
    hf_str s = {0};
    char *buf = NULL;
    size_t blen = 0, bcap = 0;
    size_t n_spec = 0, n_plain = 0, n_exist = 0;
    if (!specials || !plain || !existing || !t->rid || !t->rtok || !hf_trie_init(&t->split) ||
        !hf_trie_init(&t->split_norm))
        goto nomem;
    hf_map spec_set = {0};
    for (size_t i = 0; i < n; i++) {
        const added_token *a = &t->tokens[i];
        if (a->special && a->len && hf_map_get(&spec_set, a->content, a->len) < 0) {
            if (!hf_map_put(&spec_set, a->content, a->len, 1)) {
                hf_map_free(&spec_set);
                goto nomem;
            }
            specials[n_spec++] = a;
        }
    }
    int64_t next_id = (int64_t)hf_model_vocab_size(t->model);
    t->max_added_id = -1;
    for (size_t i = 0; i < n; i++) {
        const added_token *a = &t->tokens[i];
        bool seen = false;
        for (size_t k = 0; k < n_exist && !seen; k++) seen = same_token(existing[k], a);
        if (!a->len || seen) continue;
        int64_t id = hf_map_get(&t->added, a->content, a->len);
        if (id < 0) id = hf_model_token_id(t->model, a->content, a->len);
        if (id < 0) {
            if (next_id > INT32_MAX) {
                hf_map_free(&spec_set);
                st = oc_err_set(err, OCLIP_E_FORMAT, "added_tokens: ids past %d", INT32_MAX);
                goto done;
            }
            id = next_id++;
        }
        if (!hf_map_put(&t->added, a->content, a->len, id)) {
            hf_map_free(&spec_set);
            goto nomem;
        }
        if (id > t->max_added_id) t->max_added_id = id;
        /* map_r[id] = token: sorted insert, or overwrite */
        size_t lo = 0, hi = t->n_r;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (t->rid[mid] < id) lo = mid + 1;
            else hi = mid;
        }
        if (lo < t->n_r && t->rid[lo] == id) {
            t->rtok[lo] = a;
        } else {
            memmove(t->rid + lo + 1, t->rid + lo, (t->n_r - lo) * sizeof *t->rid);
            memmove(t->rtok + lo + 1, t->rtok + lo, (t->n_r - lo) * sizeof *t->rtok);
            t->rid[lo] = id;
            t->rtok[lo] = a;
            t->n_r++;
        }
        if (hf_map_get(&spec_set, a->content, a->len) < 0) plain[n_plain++] = a;
        existing[n_exist++] = a;
    }
    hf_map_free(&spec_set);
    /* the two tries: special tokens first, then the others */
    for (size_t i = 0; i < n_spec + n_plain; i++) {
        const added_token *a = i < n_spec ? specials[i] : plain[i - n_spec];
        int64_t id = hf_map_get(&t->added, a->content, a->len);
        if (id < 0) id = hf_model_token_id(t->model, a->content, a->len);
        if (!a->normalized) {
            if (!trie_add_first(&t->split, (const uint8_t *)a->content, a->len, (int32_t)id))
                goto nomem;
            continue;
        }
        /* the pattern is the content passed through the normalizer */
        hf_str_free(&s);
        s.shift = 0;
        size_t off = 0;
        while (off < a->len) {
            uint32_t c;
            bool valid;
            size_t k = oc_utf8_next((const uint8_t *)a->content + off, a->len - off, &c, &valid);
            if (!hf_str_push(&s, c, (uint32_t)off)) goto nomem;
            off += k;
        }
        if (t->norm && (st = hf_norm_apply(t->norm, &s, err)) != OCLIP_OK) {
            oc_err_wrap(err, "added token \"%.40s\"", a->content);
            goto done;
        }
        blen = 0;
        if (!hf_str_utf8(&s, 0, s.n, &buf, &blen, &bcap)) goto nomem;
        /* an empty pattern would match everywhere: such a token cannot be matched here */
        if (blen && !trie_add_first(&t->split_norm, (const uint8_t *)buf, blen, (int32_t)id))
            goto nomem;
    }
    goto done;
nomem:
    st = oc_err_set(err, OCLIP_E_NOMEM, "added_tokens: out of memory");
done:
    hf_str_free(&s);
    free(buf);
    free(specials);
    free(plain);
    free(existing);
    return st;
}

/* AddedVocabulary::find_matches + split_with_indices on one text piece, appending to *out. */
static bool split_added(const oc_hftok *t, const hf_trie *trie, const hf_str *s, hf_pieces *out) {
    size_t n = s->n, start_offset = 0, i = 0;
    if (trie->n_nodes <= 1) return hf_pieces_add_slice(out, s, 0, n, -1);
    while (i < n) {
        /* leftmost-longest: the first position with a match, its longest match */
        size_t best_end = 0;
        int32_t best_id = -1;
        uint32_t node = 0;
        for (size_t j = i; j < n; j++) {
            uint8_t b[4];
            size_t k = oc_utf8_put(s->p[j].c, b);
            for (size_t q = 0; q < k && node != UINT32_MAX; q++) {
                uint32_t nx = hf_trie_step(trie, node, b[q]);
                node = nx ? nx : UINT32_MAX;
            }
            if (node == UINT32_MAX) break;
            if (trie->value[node] >= 0) {
                best_end = j + 1;
                best_id = trie->value[node];
            }
        }
        if (best_id < 0) {
            i++;
            continue;
        }
        size_t start = i, stop = best_end;
        i = best_end; /* find_iter resumes after the match */
        const added_token *a = token_of_id(t, best_id);
        if (a && a->single_word) {
            bool start_space = start == 0 || !hf_is_word(s->p[start - 1].c);
            bool stop_space = stop == n || !hf_is_word(s->p[stop].c);
            if (!start_space || !stop_space) continue;
        }
        if (a && a->lstrip) {
            size_t ns = start;
            while (ns > 0 && hf_rust_whitespace(s->p[ns - 1].c)) ns--;
            start = ns > start_offset ? ns : start_offset;
        }
        if (a && a->rstrip)
            while (stop < n && hf_rust_whitespace(s->p[stop].c)) stop++;
        if (start_offset < start && !hf_pieces_add_slice(out, s, start_offset, start, -1))
            return false;
        /* the token itself (its text is not needed, only that it is a token) */
        if (!oc_grow((void **)&out->p, &out->cap, out->n + 1, sizeof *out->p)) return false;
        memset(&out->p[out->n], 0, sizeof out->p[out->n]);
        out->p[out->n].id = best_id;
        out->n++;
        start_offset = stop;
    }
    if (start_offset < n && !hf_pieces_add_slice(out, s, start_offset, n, -1)) return false;
    return true;
}

/* =============================================================================================
 * Encoding (no truncation, no post-processing): the ids of every piece, in order
 */
static oclip_status encode_raw(const oc_hftok *t, const char *text, size_t len, hf_ids *ids,
                               oclip_error *err) {
    if (!text && len) return oc_err_set(err, OCLIP_E_ARG, "encode: NULL text");
    if (len > OC_HFTOK_MAX_TEXT)
        return oc_err_set(err, OCLIP_E_NOMEM, "encode: a text of %zu bytes is longer than the "
                          "limit of %zu bytes", len, OC_HFTOK_MAX_TEXT);
    oclip_status st = OCLIP_OK;
    hf_str s = {0};
    hf_pieces a = {0}, b = {0};
    char *buf = NULL;
    size_t blen = 0, bcap = 0;
    /* code points with their byte offsets in the (re-encoded) text */
    size_t off = 0, enc = 0;
    while (off < len) {
        uint32_t c;
        bool valid;
        off += oc_utf8_next((const uint8_t *)text + off, len - off, &c, &valid);
        if (!hf_str_push(&s, c, (uint32_t)enc)) goto nomem;
        uint8_t tmp[4];
        enc += oc_utf8_put(c, tmp);
    }
    /* 1. added tokens matched on the raw text (normalized: false) */
    if (!split_added(t, &t->split, &s, &a)) goto nomem;
    /* 2. each remaining piece normalized, then the normalized added tokens */
    for (size_t i = 0; i < a.n; i++) {
        if (a.p[i].id >= 0) {
            if (!oc_grow((void **)&b.p, &b.cap, b.n + 1, sizeof *b.p)) goto nomem;
            b.p[b.n++] = a.p[i];
            memset(&a.p[i].s, 0, sizeof a.p[i].s);
            continue;
        }
        if (t->norm && (st = hf_norm_apply(t->norm, &a.p[i].s, err)) != OCLIP_OK) goto done;
        if (!split_added(t, &t->split_norm, &a.p[i].s, &b)) goto nomem;
    }
    /* 3. pre-tokenization */
    if (t->pretok && !hf_pretok_apply(t->pretok, &b)) goto nomem;
    /* 4. the model */
    for (size_t i = 0; i < b.n; i++) {
        if (b.p[i].id >= 0) {
            if (!hf_ids_push(ids, b.p[i].id)) goto nomem;
            continue;
        }
        blen = 0;
        if (!hf_str_utf8(&b.p[i].s, 0, b.p[i].s.n, &buf, &blen, &bcap)) goto nomem;
        if ((st = hf_model_tokenize(t->model, buf, blen, ids, err)) != OCLIP_OK) goto done;
    }
    goto done;
nomem:
    st = oc_err_set(err, OCLIP_E_NOMEM, "encode: out of memory (text of %zu bytes)", len);
done:
    hf_str_free(&s);
    hf_pieces_free(&a);
    hf_pieces_free(&b);
    free(buf);
    return st;
}

/* The post-processor's special ids around ids[0..n) (processors applied in order). */
static bool post_process(const oc_hftok *t, const int32_t *ids, size_t n, hf_ids *out) {
    out->n = 0;
    if (!t->n_wraps) {
        for (size_t i = 0; i < n; i++)
            if (!hf_ids_push(out, ids[i])) return false;
        return true;
    }
    /* pre of the last wrap, ..., pre of the first, ids, post of the first, ..., last */
    for (size_t w = t->n_wraps; w-- > 0;)
        for (size_t i = 0; i < t->wraps[w].n_pre; i++)
            if (!hf_ids_push(out, t->wraps[w].pre[i])) return false;
    for (size_t i = 0; i < n; i++)
        if (!hf_ids_push(out, ids[i])) return false;
    for (size_t w = 0; w < t->n_wraps; w++)
        for (size_t i = 0; i < t->wraps[w].n_post; i++)
            if (!hf_ids_push(out, t->wraps[w].post[i])) return false;
    return true;
}

oclip_status oc_hftok_encode(const oc_hftok *tok, const char *text, size_t len,
                             bool add_special_tokens, int32_t **ids, size_t *n_ids,
                             oclip_error *err) {
    oc_err_clear(err);
    if (!tok || !ids || !n_ids) return oc_err_set(err, OCLIP_E_ARG, "encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    hf_ids raw = {0}, out = {0};
    oclip_status st = encode_raw(tok, text, len, &raw, err);
    if (st != OCLIP_OK) {
        free(raw.p);
        return st;
    }
    if (!add_special_tokens) {
        *ids = raw.p;
        *n_ids = raw.n;
        return OCLIP_OK;
    }
    bool ok = post_process(tok, raw.p, raw.n, &out);
    free(raw.p);
    if (!ok) {
        free(out.p);
        return oc_err_set(err, OCLIP_E_NOMEM, "encode: out of memory");
    }
    *ids = out.p;
    *n_ids = out.n;
    return OCLIP_OK;
}

/* =============================================================================================
 * OpenCLIP's HFTokenizer.__call__
 */
oc_hftok_call oc_hftok_call_defaults(const oc_hftok *tok, size_t context_length) {
    oc_hftok_call c;
    memset(&c, 0, sizeof c);
    c.context_length = context_length;
    c.clean = OCLIP_CLEAN_WHITESPACE;
    c.pad_id = c.sep_id = -1;
    static const char *const pads[] = {"<pad>", "[PAD]", "<|pad|>", "<|padding|>"};
    for (size_t i = 0; i < sizeof pads / sizeof *pads && c.pad_id < 0; i++)
        c.pad_id = oc_hftok_token_id(tok, pads[i]);
    c.sep_id = oc_hftok_token_id(tok, "[SEP]");
    return c;
}

/* clean_fn(text) through the SimpleTokenizer's cleaning (the same functions, tokenizer.py) */
static oclip_status clean_text(const char *text, size_t len, oclip_clean clean, char **out,
                               size_t *out_len, oclip_error *err) {
    size_t cap = len + 64, n = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *b = malloc(cap);
        if (!b) return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: out of memory");
        oclip_status st = oclip_tokenize_clean(text, len, clean, b, cap, &n, err);
        if (st != OCLIP_OK) {
            free(b);
            return st;
        }
        if (n < cap) {
            *out = b;
            *out_len = n;
            return OCLIP_OK;
        }
        free(b);
        cap = n + 1;
    }
    return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: the cleaned text did not fit");
}

oclip_status oc_hftok_openclip(const oc_hftok *tok, const char *const *texts, const size_t *lens,
                               size_t n, const oc_hftok_call *call, int64_t *out,
                               oclip_error *err) {
    oc_err_clear(err);
    if (!tok || !call || (n && (!texts || !lens || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: NULL argument");
    size_t ctx = call->context_length;
    if (ctx == 0) return oc_err_set(err, OCLIP_E_ARG, "tokenize: context length must be >= 1");
    if ((unsigned)call->clean > OCLIP_CLEAN_CANONICALIZE)
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: unknown clean mode %d", (int)call->clean);
    if (call->pad_id < 0 || call->pad_id > INT32_MAX)
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: the tokenizer has no padding token "
                          "(transformers refuses to pad to max_length without one)");
    /* tokenizer/mod.rs post_process: max_length - added_tokens, a usize subtraction */
    if (ctx < tok->n_added)
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: context length %zu is shorter than the %zu "
                          "special tokens this tokenizer adds (transformers then does not "
                          "truncate at all)", ctx, tok->n_added);
    size_t keep = ctx - tok->n_added;
    for (size_t r = 0; r < n; r++) {
        char *clean = NULL;
        size_t cn = 0;
        oclip_status st = clean_text(texts[r], lens[r], call->clean, &clean, &cn, err);
        if (st != OCLIP_OK) return st;
        hf_ids raw = {0}, row = {0};
        st = encode_raw(tok, clean, cn, &raw, err);
        free(clean);
        if (st != OCLIP_OK) {
            free(raw.p);
            oc_err_wrap(err, "text %zu", r);
            return st;
        }
        /* truncation (stride 0): the first `keep` ids, or the last ones */
        const int32_t *p = raw.p;
        size_t m = raw.n;
        if (m > keep) {
            if (call->truncate_left) p += m - keep;
            m = keep;
        }
        bool ok = post_process(tok, p, m, &row);
        free(raw.p);
        if (!ok) {
            free(row.p);
            return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: out of memory");
        }
        int64_t *o = out + r * ctx;
        size_t pad = ctx - row.n; /* row.n <= keep + n_added == ctx */
        size_t k = 0;
        if (call->pad_left)
            for (; k < pad; k++) o[k] = call->pad_id;
        for (size_t i = 0; i < row.n; i++) o[k++] = row.p[i];
        while (k < ctx) o[k++] = call->pad_id;
        free(row.p);
        if (call->strip_sep_token)
            for (size_t i = 0; i < ctx; i++)
                if (o[i] == call->sep_id) o[i] = 0;
    }
    return OCLIP_OK;
}

/* =============================================================================================
 * Loading
 */
static oclip_status read_added(oc_hftok *t, const cJSON *arr, oclip_error *err) {
    if (!arr || cJSON_IsNull(arr)) return OCLIP_OK;
    if (!cJSON_IsArray(arr))
        return oc_err_set(err, OCLIP_E_FORMAT, "\"added_tokens\" is not a list");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n > 1000000)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%zu added tokens (limit 1000000)", n);
    t->tokens = oc_arena_alloc(&t->arena, (n ? n : 1) * sizeof *t->tokens);
    if (!t->tokens) return oc_err_set(err, OCLIP_E_NOMEM, "added_tokens: out of memory");
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        added_token *a = &t->tokens[t->n_tokens];
        if (!cJSON_IsObject(e) || !hf_json_str(e, "content", &a->content, &a->len))
            return oc_err_set(err, OCLIP_E_FORMAT, "added token %zu has no \"content\" string",
                              t->n_tokens);
        if (a->len > OC_HFTOK_MAX_PIECE)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "added token %zu is %zu bytes long "
                              "(limit %d)", t->n_tokens, a->len, OC_HFTOK_MAX_PIECE);
        a->normalized = true;
        oclip_status st;
        if ((st = hf_json_bool(e, "single_word", &a->single_word, "added token", err)) ||
            (st = hf_json_bool(e, "lstrip", &a->lstrip, "added token", err)) ||
            (st = hf_json_bool(e, "rstrip", &a->rstrip, "added token", err)) ||
            (st = hf_json_bool(e, "normalized", &a->normalized, "added token", err)) ||
            (st = hf_json_bool(e, "special", &a->special, "added token", err)))
            return st;
        t->n_tokens++;
    }
    return OCLIP_OK;
}

static oclip_status ids_of(oc_hftok *t, const cJSON *ids, int32_t **out, size_t *n,
                           const char *what, oclip_error *err) {
    if (!cJSON_IsArray(ids))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"ids\" is not a list", what);
    size_t k = (size_t)cJSON_GetArraySize(ids);
    if (k > 1024) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: %zu ids", what, k);
    int32_t *p = oc_arena_alloc(&t->arena, (k ? k : 1) * sizeof *p);
    if (!p) return oc_err_set(err, OCLIP_E_NOMEM, "post_processor: out of memory");
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ids) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != (double)(int64_t)e->valuedouble)
            return oc_err_set(err, OCLIP_E_FORMAT, "%s: an id is not an integer in 0..%d", what,
                              INT32_MAX);
        p[i++] = (int32_t)e->valuedouble;
    }
    *out = p;
    *n = k;
    return OCLIP_OK;
}

static oclip_status add_wrap(oc_hftok *t, wrap w, oclip_error *err) {
    if (t->n_wraps >= 8) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "post_processor: too many");
    wrap *n = oc_arena_alloc(&t->arena, (t->n_wraps + 1) * sizeof *n);
    if (!n) return oc_err_set(err, OCLIP_E_NOMEM, "post_processor: out of memory");
    if (t->n_wraps) memcpy(n, t->wraps, t->n_wraps * sizeof *n);
    n[t->n_wraps++] = w;
    t->wraps = n;
    t->n_added += w.n_pre + w.n_post;
    return OCLIP_OK;
}

/* ["[SEP]", 102] of BertProcessing / RobertaProcessing */
static oclip_status pair_id(const cJSON *j, const char *key, int32_t *id, const char *what,
                            oclip_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key), *x = cJSON_GetArrayItem(v, 1);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsString(cJSON_GetArrayItem(v, 0)) ||
        !cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > INT32_MAX)
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"%s\" is not [token, id]", what, key);
    *id = (int32_t)x->valuedouble;
    return OCLIP_OK;
}

static oclip_status read_post(oc_hftok *t, const cJSON *j, int depth, oclip_error *err) {
    if (!j || cJSON_IsNull(j)) return OCLIP_OK;
    if (!cJSON_IsObject(j)) return oc_err_set(err, OCLIP_E_FORMAT, "post_processor: not an object");
    if (depth > OC_HFTOK_MAX_DEPTH)
        return oc_err_set(err, OCLIP_E_FORMAT, "post_processor: nested too deep");
    const char *type;
    size_t tn;
    if (!hf_json_str(j, "type", &type, &tn))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "post_processor: no \"type\"");
    oclip_status st;
    if (!strcmp(type, "Sequence")) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "processors"), *e;
        if (!cJSON_IsArray(arr))
            return oc_err_set(err, OCLIP_E_FORMAT, "Sequence post_processor: no \"processors\"");
        cJSON_ArrayForEach(e, arr) if ((st = read_post(t, e, depth + 1, err))) return st;
        return OCLIP_OK;
    }
    if (!strcmp(type, "ByteLevel")) return OCLIP_OK; /* offsets only */
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        int32_t *ids = oc_arena_alloc(&t->arena, 2 * sizeof *ids);
        if (!ids) return oc_err_set(err, OCLIP_E_NOMEM, "post_processor: out of memory");
        if ((st = pair_id(j, "cls", &ids[0], type, err)) || (st = pair_id(j, "sep", &ids[1], type, err)))
            return st;
        return add_wrap(t, (wrap){ids, ids + 1, 1, 1}, err);
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
        if (!cJSON_IsArray(single))
            return oc_err_set(err, OCLIP_E_FORMAT, "TemplateProcessing: \"single\" is not a list");
        wrap w = {0};
        w.pre = oc_arena_alloc(&t->arena, 1024 * sizeof *w.pre);
        w.post = oc_arena_alloc(&t->arena, 1024 * sizeof *w.post);
        if (!w.pre || !w.post) return oc_err_set(err, OCLIP_E_NOMEM, "post_processor: out of memory");
        bool seen_a = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, single) {
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
            const char *id;
            size_t idn;
            if (seq) {
                if (!hf_json_str(seq, "id", &id, &idn) || strcmp(id, "A") || seen_a)
                    return oc_err_set(err, OCLIP_E_UNSUPPORTED, "TemplateProcessing: a single "
                                      "template other than one $A with special tokens around it");
                seen_a = true;
                continue;
            }
            if (!sp || !hf_json_str(sp, "id", &id, &idn))
                return oc_err_set(err, OCLIP_E_FORMAT, "TemplateProcessing: an item is neither "
                                  "a Sequence nor a SpecialToken");
            const cJSON *tokv = cJSON_GetObjectItemCaseSensitive(specials, id);
            int32_t *ids = NULL;
            size_t k = 0;
            if (!tokv)
                return oc_err_set(err, OCLIP_E_FORMAT, "TemplateProcessing: missing special "
                                  "token \"%.40s\"", id);
            if ((st = ids_of(t, cJSON_GetObjectItemCaseSensitive(tokv, "ids"), &ids, &k,
                             "TemplateProcessing", err)))
                return st;
            int32_t *dst = seen_a ? w.post : w.pre;
            size_t *dn = seen_a ? &w.n_post : &w.n_pre;
            if (*dn + k > 1024)
                return oc_err_set(err, OCLIP_E_UNSUPPORTED, "TemplateProcessing: too many ids");
            memcpy(dst + *dn, ids, k * sizeof *ids);
            *dn += k;
        }
        if (!seen_a)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "TemplateProcessing: the single template "
                              "has no $A");
        return add_wrap(t, w, err);
    }
    return oc_err_set(err, OCLIP_E_UNSUPPORTED, "post_processor \"%.40s\" is not supported", type);
}

static bool utf8_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t c;
        bool valid;
        i += oc_utf8_next(s + i, n - i, &c, &valid);
        if (!valid) return false;
    }
    return true;
}

oclip_status oc_hftok_load(const char *json, size_t len, oc_hftok **out, oclip_error *err) {
    oc_err_clear(err);
    if (!out || (!json && len)) return oc_err_set(err, OCLIP_E_ARG, "tokenizer.json: NULL argument");
    *out = NULL;
    if (len > OC_HFTOK_MAX_JSON)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "tokenizer.json: %zu bytes (limit %zu)", len,
                          OC_HFTOK_MAX_JSON);
    /* serde_json reads a Rust String: the file must be UTF-8 */
    if (!utf8_ok((const uint8_t *)json, len))
        return oc_err_set(err, OCLIP_E_FORMAT, "not valid UTF-8");
    oc_hftok *t = calloc(1, sizeof *t);
    if (!t) return oc_err_set(err, OCLIP_E_NOMEM, "tokenizer.json: out of memory");
    oclip_status st = OCLIP_OK;
    t->json = oc_json_parse(json, len, NULL);
    if (!t->json) {
        st = oc_json_failed_for_memory(json, len)
                 ? oc_err_set(err, OCLIP_E_NOMEM, "out of memory parsing JSON")
                 : oc_err_set(err, OCLIP_E_FORMAT, "not valid JSON");
        goto fail;
    }
    if (!cJSON_IsObject(t->json)) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "not a JSON object");
        goto fail;
    }
    const char *ver;
    size_t vn;
    if (cJSON_GetObjectItemCaseSensitive(t->json, "version") &&
        (!hf_json_str(t->json, "version", &ver, &vn) || strcmp(ver, "1.0"))) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "unknown version (1.0 is read)");
        goto fail;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(t->json, "model");
    if (!model) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "no \"model\"");
        goto fail;
    }
    if ((st = hf_model_read(model, &t->arena, &t->model, err)) != OCLIP_OK) goto fail;
    st = hf_norm_read(cJSON_GetObjectItemCaseSensitive(t->json, "normalizer"), &t->arena, 0,
                      &t->norm, err);
    if (st != OCLIP_OK) goto fail;
    st = hf_pretok_read(cJSON_GetObjectItemCaseSensitive(t->json, "pre_tokenizer"), &t->arena, 0,
                        &t->pretok, err);
    if (st != OCLIP_OK) goto fail;
    if ((st = read_post(t, cJSON_GetObjectItemCaseSensitive(t->json, "post_processor"), 0, err)))
        goto fail;
    if ((st = read_added(t, cJSON_GetObjectItemCaseSensitive(t->json, "added_tokens"), err)))
        goto fail;
    if ((st = build_added(t, err)) != OCLIP_OK) goto fail;
    *out = t;
    return OCLIP_OK;
fail:
    oc_err_wrap(err, "tokenizer.json");
    oc_hftok_free(t);
    return st;
}

oclip_status oc_hftok_load_file(const char *path, oc_hftok **out, oclip_error *err) {
    oc_err_clear(err);
    if (!path || !out) return oc_err_set(err, OCLIP_E_ARG, "NULL argument");
    oc_map m;
    oclip_status st = oc_map_file(path, &m, err);
    if (st != OCLIP_OK) return oc_err_wrap(err, "'%s'", path), st;
    st = oc_hftok_load((const char *)m.data, m.size, out, err);
    oc_unmap(&m);
    if (st != OCLIP_OK) oc_err_wrap(err, "'%s'", path);
    return st;
}

void oc_hftok_free(oc_hftok *t) {
    if (!t) return;
    hf_model_free(t->model);
    hf_map_free(&t->added);
    hf_trie_free(&t->split);
    hf_trie_free(&t->split_norm);
    free(t->rid);
    free((void *)t->rtok);
    if (t->json) cJSON_Delete(t->json);
    oc_arena_free(&t->arena);
    free(t);
}
