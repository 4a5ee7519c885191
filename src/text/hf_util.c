/*
 * hf_util.c — building blocks of the tokenizer.json reader: aligned strings and piece lists, a
 * byte trie, a string map, the Unicode properties `tokenizers` relies on, and the split patterns
 * (literal strings and the few regular expressions real tokenizer.json files use).
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/hf_int.h"
#include "text/hf_unicode_tables.h"
#include "text/tokenizer_int.h"

/* =============================================================================================
 * Strings and pieces
 */
bool hf_str_reserve(hf_str *s, size_t extra) {
    if (extra > SIZE_MAX / sizeof *s->p - s->n) return false;
    return oc_grow((void **)&s->p, &s->cap, s->n + extra, sizeof *s->p);
}

void hf_str_free(hf_str *s) {
    free(s->p);
    s->p = NULL;
    s->n = s->cap = 0;
}

bool hf_str_utf8(const hf_str *s, size_t from, size_t to, char **buf, size_t *len, size_t *cap) {
    if (to > s->n || from > to) return false;
    if ((to - from) > (SIZE_MAX - *len - 1) / 4) return false;
    if (!oc_grow((void **)buf, cap, *len + 4 * (to - from) + 1, 1)) return false;
    for (size_t i = from; i < to; i++) *len += oc_utf8_put(s->p[i].c, (uint8_t *)*buf + *len);
    (*buf)[*len] = '\0';
    return true;
}

void hf_pieces_free(hf_pieces *l) {
    for (size_t i = 0; i < l->n; i++) hf_str_free(&l->p[i].s);
    free(l->p);
    l->p = NULL;
    l->n = l->cap = 0;
}

bool hf_pieces_add_slice(hf_pieces *l, const hf_str *s, size_t from, size_t to, int64_t id) {
    if (from >= to) return true;
    if (!oc_grow((void **)&l->p, &l->cap, l->n + 1, sizeof *l->p)) return false;
    hf_piece *p = &l->p[l->n];
    memset(p, 0, sizeof *p);
    if (!hf_str_reserve(&p->s, to - from)) return false;
    memcpy(p->s.p, s->p + from, (to - from) * sizeof *s->p);
    p->s.n = to - from;
    p->s.shift = s->p[from].a;
    p->id = id;
    l->n++;
    return true;
}

/* =============================================================================================
 * Byte trie: nodes are numbered, edges live in one open-addressing table keyed by (node, byte).
 */
static inline size_t trie_hash(uint32_t key, size_t mask) {
    return (size_t)((key * 0x9E3779B1u) ^ (key >> 15)) & mask;
}

bool hf_trie_init(hf_trie *t) {
    memset(t, 0, sizeof *t);
    t->cap = 64;
    t->keys = calloc(t->cap, sizeof *t->keys);
    t->child = calloc(t->cap, sizeof *t->child);
    t->cap_nodes = 16;
    t->value = malloc(t->cap_nodes * sizeof *t->value);
    if (!t->keys || !t->child || !t->value) {
        hf_trie_free(t);
        return false;
    }
    t->value[0] = -1;
    t->n_nodes = 1;
    return true;
}

void hf_trie_free(hf_trie *t) {
    free(t->keys);
    free(t->child);
    free(t->value);
    memset(t, 0, sizeof *t);
}

static bool trie_grow(hf_trie *t) {
    size_t cap = t->cap * 2;
    uint32_t *k = calloc(cap, sizeof *k), *c = calloc(cap, sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        return false;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->keys[i]) continue;
        size_t h = trie_hash(t->keys[i], cap - 1);
        while (k[h]) h = (h + 1) & (cap - 1);
        k[h] = t->keys[i];
        c[h] = t->child[i];
    }
    free(t->keys);
    free(t->child);
    t->keys = k;
    t->child = c;
    t->cap = cap;
    return true;
}

uint32_t hf_trie_step(const hf_trie *t, uint32_t node, uint8_t b) {
    uint32_t key = ((node << 8) | b) + 1;
    size_t h = trie_hash(key, t->cap - 1);
    while (t->keys[h]) {
        if (t->keys[h] == key) return t->child[h];
        h = (h + 1) & (t->cap - 1);
    }
    return 0;
}

bool hf_trie_insert(hf_trie *t, const uint8_t *key, size_t len, int32_t value) {
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t next = hf_trie_step(t, node, key[i]);
        if (!next) {
            /* node numbers must fit in 24 bits for the (node << 8 | byte) key */
            if (t->n_nodes >= ((size_t)1 << 24) - 1) return false;
            if ((t->used + 1) * 4 > t->cap * 3 && !trie_grow(t)) return false;
            if (!oc_grow((void **)&t->value, &t->cap_nodes, t->n_nodes + 1, sizeof *t->value))
                return false;
            next = (uint32_t)t->n_nodes++;
            t->value[next] = -1;
            uint32_t k = ((node << 8) | key[i]) + 1;
            size_t h = trie_hash(k, t->cap - 1);
            while (t->keys[h]) h = (h + 1) & (t->cap - 1);
            t->keys[h] = k;
            t->child[h] = next;
            t->used++;
        }
        node = next;
    }
    t->value[node] = value;
    return true;
}

/* =============================================================================================
 * String map (FNV-1a, linear probing)
 */
static uint64_t fnv(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool map_grow(hf_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **k = calloc(cap, sizeof *k);
    uint32_t *kl = calloc(cap, sizeof *kl);
    int64_t *v = calloc(cap, sizeof *v);
    if (!k || !kl || !v) {
        free((void *)k);
        free(kl);
        free(v);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->key[i]) continue;
        size_t h = (size_t)fnv(m->key[i], m->klen[i]) & (cap - 1);
        while (k[h]) h = (h + 1) & (cap - 1);
        k[h] = m->key[i];
        kl[h] = m->klen[i];
        v[h] = m->val[i];
    }
    free((void *)m->key);
    free(m->klen);
    free(m->val);
    m->key = k;
    m->klen = kl;
    m->val = v;
    m->cap = cap;
    return true;
}

bool hf_map_put(hf_map *m, const char *k, size_t n, int64_t v) {
    if (n > UINT32_MAX || !k) return false;
    if ((m->used + 1) * 2 > m->cap && !map_grow(m)) return false;
    size_t h = (size_t)fnv(k, n) & (m->cap - 1);
    while (m->key[h]) {
        if (m->klen[h] == n && memcmp(m->key[h], k, n) == 0) {
            m->val[h] = v;
            return true;
        }
        h = (h + 1) & (m->cap - 1);
    }
    m->key[h] = k;
    m->klen[h] = (uint32_t)n;
    m->val[h] = v;
    m->used++;
    return true;
}

int64_t hf_map_get(const hf_map *m, const char *k, size_t n) {
    if (!m->cap) return -1;
    size_t h = (size_t)fnv(k, n) & (m->cap - 1);
    while (m->key[h]) {
        if (m->klen[h] == n && memcmp(m->key[h], k, n) == 0) return m->val[h];
        h = (h + 1) & (m->cap - 1);
    }
    return -1;
}

void hf_map_free(hf_map *m) {
    free((void *)m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* =============================================================================================
 * Unicode properties
 */
bool hf_rust_whitespace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int cat(uint32_t c) { return c < 0x110000 ? utf8proc_category((utf8proc_int32_t)c) : 0; }

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r[mid][1] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && r[lo][0] <= c;
}
#define IN(table, c) in_ranges(table, sizeof table / sizeof *table, c)

/* The classes below come from tables probed out of tokenizers itself (hf_unicode_tables.h):
 * the crates behind them carry Unicode versions of their own (unicode_categories is frozen at an
 * old one), which utf8proc's categories would not reproduce. */
bool hf_rust_numeric(uint32_t c) { return IN(HF_NUMERIC, c); }
bool hf_is_punctuation(uint32_t c) { return IN(HF_PUNCT, c); }
bool hf_is_word(uint32_t c) { return IN(HF_WORD, c); }
bool hf_bert_control(uint32_t c) { return IN(HF_CONTROL, c); }
bool hf_bert_nonspacing(uint32_t c) { return IN(HF_NONSPACING, c); }
bool hf_combining_mark(uint32_t c) { return IN(HF_MARK, c); }
bool hf_decomposes(uint32_t c, bool compat) { return compat ? IN(HF_NFKD, c) : IN(HF_NFD, c); }

size_t hf_rust_lower(uint32_t c, uint32_t out[2]) {
    size_t lo = 0, hi = sizeof HF_LOWER / sizeof *HF_LOWER;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (HF_LOWER[mid][0] < c) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sizeof HF_LOWER / sizeof *HF_LOWER && HF_LOWER[lo][0] == c) {
        out[0] = HF_LOWER[lo][1];
        out[1] = HF_LOWER[lo][2];
        return out[1] ? 2 : 1;
    }
    out[0] = c;
    return 1;
}

bool hf_is_letter(uint32_t c) {
    int k = cat(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

bool hf_is_number(uint32_t c) {
    int k = cat(c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* =============================================================================================
 * Patterns
 */
/* Real files hold these regular expressions (and no others that this reader knows of). */
static const char GPT2_RE[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

oclip_status hf_pattern_read(const cJSON *j, oc_arena *a, hf_pattern *p, const char *what,
                             oclip_error *err) {
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(j))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"pattern\" is not an object", what);
    const char *s;
    size_t n;
    if (hf_json_str(j, "String", &s, &n)) {
        if (n == 0)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: an empty String pattern", what);
        p->kind = HF_PAT_STRING;
        if (!hf_utf8_to_cps(a, s, n, &p->lit, &p->n_lit))
            return oc_err_set(err, OCLIP_E_NOMEM, "%s: out of memory", what);
        return OCLIP_OK;
    }
    if (hf_json_str(j, "Regex", &s, &n)) {
        if (n == 5 && memcmp(s, " {2,}", 5) == 0) p->kind = HF_PAT_SPACES;
        else if (n == 3 && memcmp(s, "\\s+", 3) == 0) p->kind = HF_PAT_WS_RUN;
        else if (n == sizeof GPT2_RE - 1 && memcmp(s, GPT2_RE, n) == 0) p->kind = HF_PAT_GPT2;
        else
            return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                              "%s: the Regex pattern \"%.80s%s\" is not one this reader "
                              "implements (\" {2,}\", \"\\s+\" and GPT-2's pattern are)",
                              what, s, n > 80 ? "..." : "");
        return OCLIP_OK;
    }
    return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"pattern\" has neither \"String\" nor \"Regex\"",
                      what);
}

/* One match of GPT-2's pattern at i (it always matches at least one character). */
static size_t gpt2_at(const hf_ch *s, size_t n, size_t i) {
    uint32_t c = s[i].c;
    if (c == '\'' && i + 1 < n) {
        uint32_t d = s[i + 1].c;
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < n) {
            uint32_t e = s[i + 2].c;
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l'))
                return i + 3;
        }
    }
    size_t j = c == ' ' ? i + 1 : i;
    if (j < n) {
        uint32_t d = s[j].c;
        int cls = hf_is_letter(d) ? 1 : hf_is_number(d) ? 2 : hf_rust_whitespace(d) ? 0 : 3;
        if (cls) {
            size_t k = j + 1;
            while (k < n) {
                uint32_t e = s[k].c;
                int ce = hf_is_letter(e) ? 1 : hf_is_number(e) ? 2 : hf_rust_whitespace(e) ? 0 : 3;
                if (ce != cls) break;
                k++;
            }
            return k;
        }
    }
    /* c is whitespace here: \s+(?!\S) leaves the last space to the next word, else \s+ */
    size_t k = i + 1;
    while (k < n && hf_rust_whitespace(s[k].c)) k++;
    if (k < n && k - i >= 2) return k - 1;
    return k;
}

bool hf_pattern_find(const hf_pattern *p, const hf_ch *s, size_t n, hf_match_fn fn, void *ctx) {
    size_t i = 0;
    switch (p->kind) {
    case HF_PAT_STRING: {
        /* Knuth-Morris-Pratt, leftmost non-overlapping matches (regex find_iter) */
        size_t m = p->n_lit;
        if (m == 0 || n < m) return true;
        size_t *fail = malloc(m * sizeof *fail);
        if (!fail) return false;
        fail[0] = 0;
        for (size_t q = 1, k = 0; q < m; q++) {
            while (k && p->lit[q] != p->lit[k]) k = fail[k - 1];
            if (p->lit[q] == p->lit[k]) k++;
            fail[q] = k;
        }
        size_t k = 0;
        for (; i < n; i++) {
            while (k && s[i].c != p->lit[k]) k = fail[k - 1];
            if (s[i].c == p->lit[k]) k++;
            if (k == m) {
                if (!fn(ctx, i + 1 - m, i + 1)) {
                    free(fail);
                    return false;
                }
                k = 0; /* non-overlapping: start afresh after the match */
            }
        }
        free(fail);
        return true;
    }
    case HF_PAT_SPACES:
    case HF_PAT_WS_RUN:
        while (i < n) {
            bool sp = p->kind == HF_PAT_SPACES ? s[i].c == ' ' : hf_rust_whitespace(s[i].c);
            if (!sp) {
                i++;
                continue;
            }
            size_t k = i + 1;
            while (k < n && (p->kind == HF_PAT_SPACES ? s[k].c == ' ' : hf_rust_whitespace(s[k].c)))
                k++;
            if ((p->kind == HF_PAT_WS_RUN || k - i >= 2) && !fn(ctx, i, k)) return false;
            i = k;
        }
        return true;
    case HF_PAT_GPT2:
        while (i < n) {
            size_t k = gpt2_at(s, n, i);
            if (!fn(ctx, i, k)) return false;
            i = k;
        }
        return true;
    }
    return true;
}

/* =============================================================================================
 * JSON helpers
 */
bool hf_json_str(const cJSON *j, const char *key, const char **s, size_t *n) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsString(v) || !v->valuestring) return false;
    *s = v->valuestring;
    *n = strlen(v->valuestring);
    return true;
}

oclip_status hf_json_bool(const cJSON *j, const char *key, bool *v, const char *what,
                          oclip_error *err) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!b || cJSON_IsNull(b)) return OCLIP_OK;
    if (!cJSON_IsBool(b))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"%s\" is not a boolean", what, key);
    *v = cJSON_IsTrue(b);
    return OCLIP_OK;
}

bool hf_utf8_to_cps(oc_arena *a, const char *s, size_t n, uint32_t **out, size_t *n_out) {
    uint32_t *p = oc_arena_alloc(a, (n + 1) * sizeof *p);
    if (!p) return false;
    size_t k = 0, i = 0;
    while (i < n) {
        bool valid;
        i += oc_utf8_next((const uint8_t *)s + i, n - i, &p[k++], &valid);
    }
    *out = p;
    *n_out = k;
    return true;
}
