/*
 * hf_pretok.c — the pre-tokenizers of tokenizer.json (tokenizers/src/pre_tokenizers/):
 * Sequence, Metaspace, ByteLevel, Whitespace, WhitespaceSplit, Split, Punctuation, Digits and
 * BertPreTokenizer, over NormalizedString::split's five delimiter behaviours
 * (tokenizer/normalizer.rs) and the Pattern implementations of tokenizer/pattern.rs.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "text/hf_int.h"

bool hf_replace(hf_str *s, const hf_pattern *pat, const uint32_t *content, size_t n_content);
bool hf_bytelevel_map(hf_str *s);

typedef enum {
    HB_REMOVED,
    HB_ISOLATED,
    HB_MERGED_WITH_PREVIOUS,
    HB_MERGED_WITH_NEXT,
    HB_CONTIGUOUS
} hb_behavior;

typedef enum {
    HP_SEQUENCE,
    HP_METASPACE,
    HP_BYTELEVEL,
    HP_WHITESPACE,
    HP_WHITESPACE_SPLIT,
    HP_SPLIT,
    HP_PUNCTUATION,
    HP_DIGITS,
    HP_BERT
} hp_kind;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

struct hf_pretok {
    hp_kind kind;
    hf_pretok **sub;
    size_t n_sub;
    uint32_t replacement;  /* Metaspace */
    prepend_scheme scheme; /* Metaspace */
    bool split;            /* Metaspace */
    bool add_prefix_space, use_regex; /* ByteLevel */
    hf_pattern pat;        /* Split */
    bool invert;           /* Split */
    hb_behavior behavior;  /* Split, Punctuation */
    bool individual;       /* Digits */
};

/* =============================================================================================
 * Splitting one string: find_matches gives (range, is_match) events covering it; the behaviour
 * turns them into the ranges kept (normalizer.rs NormalizedString::split).
 */
typedef struct {
    size_t s, e;
    bool m;
} ev;

typedef struct {
    ev *p;
    size_t n, cap;
} evs;

static bool ev_push(evs *v, size_t s, size_t e, bool m) {
    if (!oc_grow((void **)&v->p, &v->cap, v->n + 1, sizeof *v->p)) return false;
    v->p[v->n].s = s;
    v->p[v->n].e = e;
    v->p[v->n].m = m;
    v->n++;
    return true;
}

/* Pattern for Fn(char) -> bool */
static bool events_pred(const hf_str *s, bool (*pred)(uint32_t), evs *v) {
    if (s->n == 0) return ev_push(v, 0, 0, false);
    size_t last = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!pred(s->p[i].c)) continue;
        if (last < i && !ev_push(v, last, i, false)) return false;
        if (!ev_push(v, i, i + 1, true)) return false;
        last = i + 1;
    }
    if (s->n > last) return ev_push(v, last, s->n, false);
    return true;
}

typedef struct {
    evs *v;
    size_t prev;
} regex_ctx;

static bool regex_cb(void *vctx, size_t start, size_t end) {
    regex_ctx *r = vctx;
    if (r->prev != start && !ev_push(r->v, r->prev, start, false)) return false;
    if (!ev_push(r->v, start, end, true)) return false;
    r->prev = end;
    return true;
}

/* Pattern for &Regex / &SysRegex (and literal strings, which tokenizers runs as escaped regexes) */
static bool events_pattern(const hf_str *s, const hf_pattern *p, evs *v) {
    if (s->n == 0) return ev_push(v, 0, 0, false);
    regex_ctx r = {v, 0};
    if (!hf_pattern_find(p, s->p, s->n, regex_cb, &r)) return false;
    if (r.prev != s->n) return ev_push(v, r.prev, s->n, false);
    return true;
}

/* `\w+|[^\w\s]+` (Whitespace pre-tokenizer), Rust regex classes */
static int ws_class(uint32_t c) { return hf_is_word(c) ? 1 : hf_rust_whitespace(c) ? 0 : 2; }

static bool events_whitespace(const hf_str *s, evs *v) {
    if (s->n == 0) return ev_push(v, 0, 0, false);
    size_t prev = 0, i = 0;
    while (i < s->n) {
        int k = ws_class(s->p[i].c);
        if (!k) {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < s->n && ws_class(s->p[j].c) == k) j++;
        if (prev != i && !ev_push(v, prev, i, false)) return false;
        if (!ev_push(v, i, j, true)) return false;
        prev = i = j;
    }
    if (prev != s->n) return ev_push(v, prev, s->n, false);
    return true;
}

/* Applies the behaviour to the events (in place) and appends the kept ranges as pieces. */
static bool split_apply(const hf_str *s, evs *v, hb_behavior b, hf_pieces *out) {
    size_t k = 0;
    bool prev = false;
    switch (b) {
    case HB_ISOLATED:
        for (size_t i = 0; i < v->n; i++) v->p[i].m = false;
        k = v->n;
        break;
    case HB_REMOVED:
        k = v->n;
        break;
    case HB_CONTIGUOUS:
        for (size_t i = 0; i < v->n; i++) {
            ev e = v->p[i];
            if (e.m == prev && k) v->p[k - 1].e = e.e;
            else v->p[k++] = (ev){e.s, e.e, false};
            prev = e.m;
        }
        break;
    case HB_MERGED_WITH_PREVIOUS:
        for (size_t i = 0; i < v->n; i++) {
            ev e = v->p[i];
            if (e.m && !prev && k) v->p[k - 1].e = e.e;
            else v->p[k++] = (ev){e.s, e.e, false};
            prev = e.m;
        }
        break;
    case HB_MERGED_WITH_NEXT: {
        /* folded from the end; the result is written backwards into the tail, then moved */
        size_t w = v->n;
        for (size_t i = v->n; i-- > 0;) {
            ev e = v->p[i];
            if (e.m && !prev && w < v->n) v->p[w].s = e.s;
            else v->p[--w] = (ev){e.s, e.e, false};
            prev = e.m;
        }
        k = v->n - w;
        memmove(v->p, v->p + w, k * sizeof *v->p);
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (!v->p[i].m && !hf_pieces_add_slice(out, s, v->p[i].s, v->p[i].e, -1)) return false;
    return true;
}

/* =============================================================================================
 * Applying
 */
typedef bool (*piece_fn)(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v);

/* PreTokenizedString::split: each text piece goes through fn; added tokens pass through. */
static bool for_each_piece(const hf_pretok *p, hf_pieces *l, piece_fn fn) {
    hf_pieces out = {0};
    evs v = {0};
    bool ok = true;
    for (size_t i = 0; i < l->n && ok; i++) {
        if (l->p[i].id >= 0) {
            if (!oc_grow((void **)&out.p, &out.cap, out.n + 1, sizeof *out.p)) {
                ok = false;
                break;
            }
            out.p[out.n++] = l->p[i];
            memset(&l->p[i].s, 0, sizeof l->p[i].s);
            continue;
        }
        v.n = 0;
        ok = fn(p, &l->p[i].s, &out, &v);
    }
    free(v.p);
    hf_pieces_free(l);
    *l = out;
    return ok;
}

static bool prefixed_with(const hf_str *s, uint32_t c) { return s->n && s->p[0].c == c; }

static bool is_replacement_of(uint32_t c, uint32_t r) { return c == r; }

static bool metaspace_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    static const uint32_t space = ' ';
    hf_pattern sp = {HF_PAT_STRING, (uint32_t *)&space, 1};
    if (!hf_replace(s, &sp, &p->replacement, 1)) return false;
    bool pre = false;
    if (p->scheme == PREPEND_ALWAYS) pre = !prefixed_with(s, p->replacement);
    else if (p->scheme == PREPEND_FIRST)
        pre = !prefixed_with(s, p->replacement) && s->shift == 0;
    if (pre && s->n) {
        /* NormalizedString::prepend: the new character takes the first one's alignment */
        if (!hf_str_reserve(s, 1)) return false;
        memmove(s->p + 1, s->p, s->n * sizeof *s->p);
        s->p[0].c = p->replacement;
        s->n++;
    }
    if (!p->split) return hf_pieces_add_slice(out, s, 0, s->n, -1);
    /* split on the replacement character, MergedWithNext */
    if (s->n == 0) return ev_push(v, 0, 0, false) && split_apply(s, v, HB_MERGED_WITH_NEXT, out);
    size_t last = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!is_replacement_of(s->p[i].c, p->replacement)) continue;
        if (last < i && !ev_push(v, last, i, false)) return false;
        if (!ev_push(v, i, i + 1, true)) return false;
        last = i + 1;
    }
    if (s->n > last && !ev_push(v, last, s->n, false)) return false;
    return split_apply(s, v, HB_MERGED_WITH_NEXT, out);
}

static const hf_pattern GPT2 = {HF_PAT_GPT2, NULL, 0};

static bool bytelevel_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    if (p->add_prefix_space && !prefixed_with(s, ' ') && s->n) {
        if (!hf_str_reserve(s, 1)) return false;
        memmove(s->p + 1, s->p, s->n * sizeof *s->p);
        s->p[0].c = ' ';
        s->n++;
    }
    size_t first = out->n;
    if (p->use_regex) {
        if (!events_pattern(s, &GPT2, v) || !split_apply(s, v, HB_ISOLATED, out)) return false;
    } else if (!hf_pieces_add_slice(out, s, 0, s->n, -1)) {
        return false;
    }
    for (size_t i = first; i < out->n; i++)
        if (!hf_bytelevel_map(&out->p[i].s)) return false;
    return true;
}

static bool whitespace_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    (void)p;
    if (!events_whitespace(s, v)) return false;
    for (size_t i = 0; i < v->n; i++) v->p[i].m = !v->p[i].m; /* Invert */
    return split_apply(s, v, HB_REMOVED, out);
}

static bool wsplit_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    (void)p;
    return events_pred(s, hf_rust_whitespace, v) && split_apply(s, v, HB_REMOVED, out);
}

static bool split_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    if (!events_pattern(s, &p->pat, v)) return false;
    if (p->invert)
        for (size_t i = 0; i < v->n; i++) v->p[i].m = !v->p[i].m;
    return split_apply(s, v, p->behavior, out);
}

static bool punct_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    return events_pred(s, hf_is_punctuation, v) && split_apply(s, v, p->behavior, out);
}

static bool digits_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    return events_pred(s, hf_rust_numeric, v) &&
           split_apply(s, v, p->individual ? HB_ISOLATED : HB_CONTIGUOUS, out);
}

static bool bert_punct_piece(const hf_pretok *p, hf_str *s, hf_pieces *out, evs *v) {
    (void)p;
    return events_pred(s, hf_is_punctuation, v) && split_apply(s, v, HB_ISOLATED, out);
}

bool hf_pretok_apply(const hf_pretok *p, hf_pieces *l) {
    switch (p->kind) {
    case HP_SEQUENCE:
        for (size_t i = 0; i < p->n_sub; i++)
            if (!hf_pretok_apply(p->sub[i], l)) return false;
        return true;
    case HP_METASPACE: return for_each_piece(p, l, metaspace_piece);
    case HP_BYTELEVEL: return for_each_piece(p, l, bytelevel_piece);
    case HP_WHITESPACE: return for_each_piece(p, l, whitespace_piece);
    case HP_WHITESPACE_SPLIT: return for_each_piece(p, l, wsplit_piece);
    case HP_SPLIT: return for_each_piece(p, l, split_piece);
    case HP_PUNCTUATION: return for_each_piece(p, l, punct_piece);
    case HP_DIGITS: return for_each_piece(p, l, digits_piece);
    case HP_BERT:
        return for_each_piece(p, l, wsplit_piece) && for_each_piece(p, l, bert_punct_piece);
    }
    return false;
}

/* =============================================================================================
 * Reading
 */
static oclip_status read_behavior(const cJSON *j, bool required, hb_behavior def,
                                  hb_behavior *out, const char *what, oclip_error *err) {
    *out = def;
    const char *s;
    size_t n;
    if (!hf_json_str(j, "behavior", &s, &n)) {
        if (required)
            return oc_err_set(err, OCLIP_E_FORMAT, "%s: no \"behavior\" string", what);
        return OCLIP_OK;
    }
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (hb_behavior)i;
            return OCLIP_OK;
        }
    return oc_err_set(err, OCLIP_E_FORMAT, "%s: unknown behavior \"%.40s\"", what, s);
}

oclip_status hf_pretok_read(const cJSON *j, oc_arena *a, int depth, hf_pretok **out,
                            oclip_error *err) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return OCLIP_OK;
    if (!cJSON_IsObject(j)) return oc_err_set(err, OCLIP_E_FORMAT, "pre_tokenizer: not an object");
    if (depth > OC_HFTOK_MAX_DEPTH)
        return oc_err_set(err, OCLIP_E_FORMAT, "pre_tokenizer: nested deeper than %d",
                          OC_HFTOK_MAX_DEPTH);
    const char *type;
    size_t tn;
    if (!hf_json_str(j, "type", &type, &tn))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "pre_tokenizer: no \"type\"");
    hf_pretok *p = oc_arena_alloc(a, sizeof *p);
    if (!p) return oc_err_set(err, OCLIP_E_NOMEM, "pre_tokenizer: out of memory");
    oclip_status st = OCLIP_OK;
    if (!strcmp(type, "Sequence")) {
        p->kind = HP_SEQUENCE;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(arr))
            return oc_err_set(err, OCLIP_E_FORMAT,
                              "Sequence pre_tokenizer: no \"pretokenizers\" list");
        int k = cJSON_GetArraySize(arr);
        p->sub = oc_arena_alloc(a, (size_t)(k ? k : 1) * sizeof *p->sub);
        if (!p->sub) return oc_err_set(err, OCLIP_E_NOMEM, "pre_tokenizer: out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            hf_pretok *sub;
            st = hf_pretok_read(e, a, depth + 1, &sub, err);
            if (st != OCLIP_OK) return st;
            if (!sub)
                return oc_err_set(err, OCLIP_E_FORMAT, "Sequence pre_tokenizer: a null entry");
            p->sub[p->n_sub++] = sub;
        }
    } else if (!strcmp(type, "Metaspace")) {
        p->kind = HP_METASPACE;
        const char *s;
        size_t n;
        if (!hf_json_str(j, "replacement", &s, &n))
            return oc_err_set(err, OCLIP_E_FORMAT, "Metaspace: no \"replacement\" string");
        uint32_t *cps;
        size_t nc;
        if (!hf_utf8_to_cps(a, s, n, &cps, &nc))
            return oc_err_set(err, OCLIP_E_NOMEM, "pre_tokenizer: out of memory");
        if (nc != 1)
            return oc_err_set(err, OCLIP_E_FORMAT, "Metaspace: \"replacement\" is %zu characters, "
                              "not one", nc);
        p->replacement = cps[0];
        p->scheme = PREPEND_ALWAYS;
        if (hf_json_str(j, "prepend_scheme", &s, &n)) {
            if (!strcmp(s, "always")) p->scheme = PREPEND_ALWAYS;
            else if (!strcmp(s, "first")) p->scheme = PREPEND_FIRST;
            else if (!strcmp(s, "never")) p->scheme = PREPEND_NEVER;
            else
                return oc_err_set(err, OCLIP_E_FORMAT, "Metaspace: unknown prepend_scheme "
                                  "\"%.40s\"", s);
        }
        /* add_prefix_space: false (the older spelling) means never, and must agree */
        const cJSON *aps = cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space");
        if (cJSON_IsFalse(aps)) {
            if (p->scheme != PREPEND_NEVER && hf_json_str(j, "prepend_scheme", &s, &n))
                return oc_err_set(err, OCLIP_E_FORMAT, "Metaspace: add_prefix_space does not "
                                  "match declared prepend_scheme");
            p->scheme = PREPEND_NEVER;
        }
        p->split = true;
        if ((st = hf_json_bool(j, "split", &p->split, "Metaspace", err))) return st;
    } else if (!strcmp(type, "ByteLevel")) {
        p->kind = HP_BYTELEVEL;
        p->add_prefix_space = true;
        p->use_regex = true;
        if ((st = hf_json_bool(j, "add_prefix_space", &p->add_prefix_space, "ByteLevel", err)) ||
            (st = hf_json_bool(j, "use_regex", &p->use_regex, "ByteLevel", err)))
            return st;
    } else if (!strcmp(type, "Whitespace")) {
        p->kind = HP_WHITESPACE;
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p->kind = HP_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "BertPreTokenizer")) {
        p->kind = HP_BERT;
    } else if (!strcmp(type, "Split")) {
        p->kind = HP_SPLIT;
        st = hf_pattern_read(cJSON_GetObjectItemCaseSensitive(j, "pattern"), a, &p->pat,
                             "Split pre_tokenizer", err);
        if (st != OCLIP_OK) return st;
        if ((st = read_behavior(j, true, HB_REMOVED, &p->behavior, "Split pre_tokenizer", err)))
            return st;
        if ((st = hf_json_bool(j, "invert", &p->invert, "Split pre_tokenizer", err))) return st;
    } else if (!strcmp(type, "Punctuation")) {
        p->kind = HP_PUNCTUATION;
        if ((st = read_behavior(j, false, HB_ISOLATED, &p->behavior, "Punctuation", err)))
            return st;
    } else if (!strcmp(type, "Digits")) {
        p->kind = HP_DIGITS;
        if ((st = hf_json_bool(j, "individual_digits", &p->individual, "Digits", err))) return st;
    } else {
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "pre_tokenizer \"%.40s\" is not supported",
                          type);
    }
    *out = p;
    return OCLIP_OK;
}

void hf_pretok_free(hf_pretok *p) { (void)p; /* lives in the tokenizer's arena */ }
