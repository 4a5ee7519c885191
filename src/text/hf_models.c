/*
 * hf_models.c — the models of tokenizer.json (tokenizers/src/models/): Unigram (Viterbi over the
 * pieces, unigram/model.rs encode_optimized), BPE (merges by rank, bpe/model.rs merge_word and
 * bpe/word.rs merge_all), WordPiece (greedy longest match, wordpiece/mod.rs) and WordLevel.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/hf_int.h"

typedef enum { HM_UNIGRAM, HM_BPE, HM_WORDPIECE, HM_WORDLEVEL } hm_kind;

typedef struct {
    uint64_t key; /* (a << 32 | b) + 1; 0 = empty */
    uint32_t rank, new_id;
} merge_slot;

struct hf_model {
    hm_kind kind;
    hf_map vocab;       /* token -> id (the last of duplicates, as a HashMap insert leaves it) */
    size_t vocab_size;  /* Model::get_vocab_size */
    int64_t max_id;
    /* Unigram */
    double *scores;     /* per entry of "vocab", in order */
    hf_trie trie;       /* pieces -> id */
    double min_score;
    int64_t unk_id;     /* -1: none */
    bool byte_fallback;
    /* BPE */
    merge_slot *merges;
    size_t merge_cap;
    const char *unk_token; /* BPE, WordPiece, WordLevel; NULL: none */
    size_t unk_len;
    const char *prefix;    /* continuing_subword_prefix */
    size_t prefix_len;
    const char *suffix;    /* end_of_word_suffix */
    size_t suffix_len;
    bool fuse_unk, ignore_merges;
    /* WordPiece */
    size_t max_chars;
    size_t max_key; /* longest vocabulary entry, bytes */
};

bool hf_ids_push(hf_ids *l, int64_t id) {
    if (!oc_grow((void **)&l->p, &l->cap, l->n + 1, sizeof *l->p)) return false;
    l->p[l->n++] = (int32_t)id;
    return true;
}

int64_t hf_model_token_id(const hf_model *m, const char *s, size_t n) {
    return hf_map_get(&m->vocab, s, n);
}
size_t hf_model_vocab_size(const hf_model *m) { return m->vocab_size; }
int64_t hf_model_max_id(const hf_model *m) { return m->max_id; }

static size_t utf8_len(uint8_t b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

static oclip_status oom(oclip_error *err) {
    return oc_err_set(err, OCLIP_E_NOMEM, "model: out of memory");
}

/* "<0x%02X>" for a byte, and its id (-1 when the vocabulary lacks it). */
static int64_t byte_token(const hf_model *m, uint8_t b) {
    char t[8];
    snprintf(t, sizeof t, "<0x%02X>", b);
    return hf_map_get(&m->vocab, t, 6);
}

/* =============================================================================================
 * Unigram
 */
typedef struct {
    int64_t id;
    double score;
    size_t start; /* SIZE_MAX: none */
} best_node;

static oclip_status unigram_tokenize(const hf_model *m, const char *s, size_t n, hf_ids *out,
                                     oclip_error *err) {
    if (n == 0) return OCLIP_OK;
    best_node *best = malloc((n + 1) * sizeof *best);
    size_t *ends = malloc((n + 1) * sizeof *ends);
    if (!best || !ends) {
        free(best);
        free(ends);
        return oom(err);
    }
    for (size_t i = 0; i <= n; i++) best[i] = (best_node){0, 0.0, SIZE_MAX};
    double unk_score = m->min_score - 10.0; /* K_UNK_PENALTY */
    oclip_status st = OCLIP_OK;
    size_t pos = 0;
    while (pos < n) {
        double here = best[pos].score;
        size_t mblen = utf8_len((uint8_t)s[pos]);
        if (mblen > n - pos) mblen = n - pos;
        bool single = false;
        uint32_t node = 0;
        for (size_t k = pos; k < n; k++) {
            node = hf_trie_step(&m->trie, node, (uint8_t)s[k]);
            if (!node) break;
            int32_t id = m->trie.value[node];
            if (id < 0) continue;
            size_t key_pos = k + 1;
            double cand = m->scores[id] + here;
            best_node *t = &best[key_pos];
            if (t->start == SIZE_MAX || cand > t->score) {
                t->score = cand;
                t->start = pos;
                t->id = id;
            }
            if (!single && key_pos - pos == mblen) single = true;
        }
        if (!single) {
            best_node *t = &best[pos + mblen];
            double cand = unk_score + here;
            if (t->start == SIZE_MAX || cand > t->score) {
                if (m->unk_id < 0) {
                    st = oc_err_set(err, OCLIP_E_FORMAT, "Unigram: an unknown character but the "
                                    "model has no unk_id");
                    goto done;
                }
                t->score = cand;
                t->start = pos;
                t->id = m->unk_id;
            }
        }
        pos += mblen;
    }
    /* back from the end; consecutive unknown pieces fuse into one string */
    size_t k = 0, e = n;
    while (e > 0) {
        ends[k++] = e;
        e = best[e].start;
        if (e == SIZE_MAX) { /* unreachable with a well-formed lattice */
            st = oc_err_set(err, OCLIP_E_FORMAT, "Unigram: no segmentation");
            goto done;
        }
    }
    /* ends[] lists token ends from the last; walk them forward, fusing unk runs */
    size_t start = 0;
    for (size_t i = k; i-- > 0;) {
        size_t end = ends[i];
        size_t tstart = best[end].start;
        bool is_unk = m->unk_id >= 0 && best[end].id == m->unk_id;
        if (is_unk && i > 0) {
            size_t next_end = ends[i - 1];
            if (best[next_end].id == m->unk_id) continue; /* fuse with the next one */
        }
        if (!is_unk) start = tstart;
        /* the token string is s[start, end): look it up as Unigram::tokenize does */
        int64_t id = hf_map_get(&m->vocab, s + start, end - start);
        if (id < 0 && m->byte_fallback) {
            bool all = true;
            for (size_t b = start; b < end && all; b++) all = byte_token(m, (uint8_t)s[b]) >= 0;
            if (all) {
                for (size_t b = start; b < end; b++)
                    if (!hf_ids_push(out, byte_token(m, (uint8_t)s[b]))) {
                        st = oom(err);
                        goto done;
                    }
                start = end;
                continue;
            }
        }
        if (id < 0) {
            if (m->unk_id < 0) {
                st = oc_err_set(err, OCLIP_E_FORMAT, "Unigram: an unknown token but the model "
                                "has no unk_id");
                goto done;
            }
            id = m->unk_id;
        }
        if (!hf_ids_push(out, id)) {
            st = oom(err);
            goto done;
        }
        start = end;
    }
done:
    free(best);
    free(ends);
    return st;
}

/* =============================================================================================
 * BPE
 */
static inline size_t merge_hash(uint64_t key, size_t mask) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t)key & mask;
}

static const merge_slot *merge_get(const hf_model *m, uint32_t a, uint32_t b) {
    if (!m->merge_cap) return NULL;
    uint64_t key = (((uint64_t)a << 32) | b) + 1;
    size_t h = merge_hash(key, m->merge_cap - 1);
    while (m->merges[h].key) {
        if (m->merges[h].key == key) return &m->merges[h];
        h = (h + 1) & (m->merge_cap - 1);
    }
    return NULL;
}

typedef struct {
    uint32_t c;
    int64_t prev, next;
    size_t len;
} symbol;

typedef struct {
    size_t pos;
    uint32_t rank, new_id;
} merge_item;

static bool merge_less(const merge_item *x, const merge_item *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static bool heap_push(merge_item **h, size_t *n, size_t *cap, merge_item it) {
    if (!oc_grow((void **)h, cap, *n + 1, sizeof **h)) return false;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&it, &(*h)[p])) break;
        (*h)[i] = (*h)[p];
        i = p;
    }
    (*h)[i] = it;
    return true;
}

static merge_item heap_pop(merge_item *h, size_t *n) {
    merge_item top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        const merge_item *best = &last;
        if (l < *n && merge_less(&h[l], best)) s = l, best = &h[l];
        if (r < *n && merge_less(&h[r], best)) s = r;
        if (s == i) break;
        h[i] = h[s];
        i = s;
    }
    if (*n) h[i] = last;
    return top;
}

typedef struct {
    symbol *p;
    size_t n, cap;
} symbols;

static bool sym_add(symbols *w, uint32_t c, size_t len) {
    if (!oc_grow((void **)&w->p, &w->cap, w->n + 1, sizeof *w->p)) return false;
    int64_t prev = -1;
    if (w->n) {
        w->p[w->n - 1].next = (int64_t)w->n;
        prev = (int64_t)w->n - 1;
    }
    w->p[w->n++] = (symbol){c, prev, -1, len};
    return true;
}

/* Word::merge_all without dropout */
static bool merge_all(const hf_model *m, symbols *w) {
    merge_item *h = NULL;
    size_t hn = 0, hcap = 0;
    bool ok = true;
    for (size_t i = 0; i + 1 < w->n && ok; i++) {
        const merge_slot *ms = merge_get(m, w->p[i].c, w->p[i + 1].c);
        if (ms) ok = heap_push(&h, &hn, &hcap, (merge_item){i, ms->rank, ms->new_id});
    }
    while (ok && hn) {
        merge_item top = heap_pop(h, &hn);
        symbol *cur = &w->p[top.pos];
        if (cur->len == 0 || cur->next == -1) continue;
        size_t next_pos = (size_t)cur->next;
        symbol right = w->p[next_pos];
        const merge_slot *ms = merge_get(m, cur->c, right.c);
        if (!ms || ms->new_id != top.new_id) continue;
        cur->c = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        w->p[next_pos].len = 0;
        if (right.next > -1 && (size_t)right.next < w->n) w->p[right.next].prev = (int64_t)top.pos;
        if (cur->prev >= 0) {
            const merge_slot *pm = merge_get(m, w->p[cur->prev].c, cur->c);
            if (pm)
                ok = heap_push(&h, &hn, &hcap,
                               (merge_item){(size_t)cur->prev, pm->rank, pm->new_id});
        }
        cur = &w->p[top.pos]; /* h may have moved nothing, w is stable; re-read anyway */
        if (ok && cur->next >= 0 && (size_t)cur->next < w->n) {
            const merge_slot *nm = merge_get(m, cur->c, w->p[cur->next].c);
            if (nm) ok = heap_push(&h, &hn, &hcap, (merge_item){top.pos, nm->rank, nm->new_id});
        }
    }
    free(h);
    return ok;
}

static oclip_status bpe_tokenize(const hf_model *m, const char *s, size_t n, hf_ids *out,
                                 oclip_error *err) {
    if (n == 0) return OCLIP_OK;
    if (m->ignore_merges) {
        int64_t id = hf_map_get(&m->vocab, s, n);
        if (id >= 0) return hf_ids_push(out, id) ? OCLIP_OK : oom(err);
    }
    symbols w = {0};
    char *buf = NULL;
    size_t cap = 0;
    oclip_status st = OCLIP_OK;
    int64_t unk_id = -1;
    size_t unk_len = 0;
    bool have_unk = false;
    size_t i = 0;
    while (i < n) {
        size_t cl = utf8_len((uint8_t)s[i]);
        if (cl > n - i) cl = n - i;
        bool first = i == 0, last = i + cl == n;
        size_t need = cl + (first ? 0 : m->prefix_len) + (last ? m->suffix_len : 0);
        if (!oc_grow((void **)&buf, &cap, need + 1, 1)) goto nomem;
        size_t k = 0;
        if (!first && m->prefix) memcpy(buf, m->prefix, m->prefix_len), k = m->prefix_len;
        memcpy(buf + k, s + i, cl);
        k += cl;
        if (last && m->suffix) memcpy(buf + k, m->suffix, m->suffix_len), k += m->suffix_len;
        int64_t id = hf_map_get(&m->vocab, buf, k);
        if (id >= 0) {
            if (have_unk) {
                if (!sym_add(&w, (uint32_t)unk_id, unk_len)) goto nomem;
                have_unk = false;
            }
            if (!sym_add(&w, (uint32_t)id, cl)) goto nomem;
        } else {
            if (m->byte_fallback) {
                bool all = true;
                for (size_t b = 0; b < k && all; b++) all = byte_token(m, (uint8_t)buf[b]) >= 0;
                if (all) {
                    for (size_t b = 0; b < k; b++)
                        if (!sym_add(&w, (uint32_t)byte_token(m, (uint8_t)buf[b]), 1)) goto nomem;
                    i += cl;
                    continue;
                }
            }
            if (m->unk_token) {
                int64_t uid = hf_map_get(&m->vocab, m->unk_token, m->unk_len);
                if (have_unk && m->fuse_unk) {
                    unk_len += cl;
                } else {
                    if (have_unk && !sym_add(&w, (uint32_t)unk_id, unk_len)) goto nomem;
                    if (uid < 0) {
                        st = oc_err_set(err, OCLIP_E_FORMAT, "BPE: the unk_token \"%.40s\" is not "
                                        "in the vocabulary", m->unk_token);
                        goto done;
                    }
                    unk_id = uid;
                    unk_len = cl;
                    have_unk = true;
                }
            }
        }
        i += cl;
    }
    if (have_unk && !sym_add(&w, (uint32_t)unk_id, unk_len)) goto nomem;
    if (!merge_all(m, &w)) goto nomem;
    for (size_t j = 0; j < w.n; j++)
        if (w.p[j].len && !hf_ids_push(out, w.p[j].c)) goto nomem;
    goto done;
nomem:
    st = oom(err);
done:
    free(w.p);
    free(buf);
    return st;
}

/* =============================================================================================
 * WordPiece, WordLevel
 */
static oclip_status unk_of(const hf_model *m, hf_ids *out, oclip_error *err) {
    int64_t id = m->unk_token ? hf_map_get(&m->vocab, m->unk_token, m->unk_len) : -1;
    if (id < 0)
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: the unk_token is not in the vocabulary",
                          m->kind == HM_WORDPIECE ? "WordPiece" : "WordLevel");
    return hf_ids_push(out, id) ? OCLIP_OK : oom(err);
}

static oclip_status wordpiece_tokenize(const hf_model *m, const char *s, size_t n, hf_ids *out,
                                       oclip_error *err) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i += utf8_len((uint8_t)s[i])) chars++;
    if (chars > m->max_chars) return unk_of(m, out, err);
    size_t mark = out->n;
    char *buf = NULL;
    size_t cap = 0;
    size_t start = 0;
    while (start < n) {
        /* substrings longer than the longest entry cannot be in the vocabulary: start below it
         * (at a character boundary), which keeps the search linear in the word */
        size_t room = m->max_key + 1 - (start > 0 ? m->prefix_len : 0);
        size_t end = m->max_key + 1 < (start > 0 ? m->prefix_len : 0) ? start + 1
                     : n - start > room ? start + room : n;
        while (end < n && end > start + 1 && ((uint8_t)s[end] & 0xC0) == 0x80) end--;
        int64_t found = -1;
        while (start < end) {
            size_t k = 0, len = end - start + (start > 0 ? m->prefix_len : 0);
            if (!oc_grow((void **)&buf, &cap, len + 1, 1)) {
                free(buf);
                return oom(err);
            }
            if (start > 0 && m->prefix_len) memcpy(buf, m->prefix, m->prefix_len), k = m->prefix_len;
            memcpy(buf + k, s + start, end - start);
            found = hf_map_get(&m->vocab, buf, len);
            if (found >= 0) break;
            /* drop the last character of the substring */
            size_t e = end - 1;
            while (e > start && ((uint8_t)s[e] & 0xC0) == 0x80) e--;
            end = e;
        }
        if (found < 0) {
            free(buf);
            out->n = mark;
            return unk_of(m, out, err);
        }
        if (!hf_ids_push(out, found)) {
            free(buf);
            return oom(err);
        }
        start = end;
    }
    free(buf);
    return OCLIP_OK;
}

oclip_status hf_model_tokenize(const hf_model *m, const char *s, size_t n, hf_ids *out,
                               oclip_error *err) {
    switch (m->kind) {
    case HM_UNIGRAM: return unigram_tokenize(m, s, n, out, err);
    case HM_BPE: return bpe_tokenize(m, s, n, out, err);
    case HM_WORDPIECE: return wordpiece_tokenize(m, s, n, out, err);
    case HM_WORDLEVEL: {
        int64_t id = hf_map_get(&m->vocab, s, n);
        if (id >= 0) return hf_ids_push(out, id) ? OCLIP_OK : oom(err);
        return unk_of(m, out, err);
    }
    }
    return OCLIP_OK;
}

/* =============================================================================================
 * Reading
 */
static oclip_status read_token_map(const cJSON *j, oc_arena *a, hf_model *m, const char *what,
                                   oclip_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vocab");
    if (!cJSON_IsObject(v))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"vocab\" is not an object", what);
    const cJSON *e;
    size_t count = 0;
    cJSON_ArrayForEach(e, v) {
        if (++count > OC_HFTOK_MAX_VOCAB)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: more than %zu vocabulary entries",
                              what, OC_HFTOK_MAX_VOCAB);
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX ||
            e->valuedouble != floor(e->valuedouble))
            return oc_err_set(err, OCLIP_E_FORMAT, "%s: the id of \"%.40s\" is not an integer in "
                              "0..%d", what, e->string ? e->string : "", INT32_MAX);
        size_t kn = strlen(e->string);
        if (kn > OC_HFTOK_MAX_PIECE)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: a token of %zu bytes (limit %d)",
                              what, kn, OC_HFTOK_MAX_PIECE);
        int64_t id = (int64_t)e->valuedouble;
        if (kn > m->max_key) m->max_key = kn;
        if (!hf_map_put(&m->vocab, e->string, kn, id)) return oom(err);
        if (id > m->max_id) m->max_id = id;
    }
    (void)a;
    m->vocab_size = m->vocab.used;
    return OCLIP_OK;
}

static oclip_status read_opt_string(const cJSON *j, const char *key, const char **s, size_t *n,
                                    const char *what, oclip_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *s = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v)) return OCLIP_OK;
    if (!cJSON_IsString(v))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: \"%s\" is not a string", what, key);
    *s = v->valuestring;
    *n = strlen(v->valuestring);
    if (*n > OC_HFTOK_MAX_PIECE)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: \"%s\" is %zu bytes long", what, key, *n);
    return OCLIP_OK;
}

static oclip_status read_unigram(const cJSON *j, oc_arena *a, hf_model *m, oclip_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "vocab");
    if (!cJSON_IsArray(v))
        return oc_err_set(err, OCLIP_E_FORMAT, "Unigram: \"vocab\" is not a list");
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (n > OC_HFTOK_MAX_VOCAB)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "Unigram: %zu pieces (limit %zu)", n,
                          OC_HFTOK_MAX_VOCAB);
    m->unk_id = -1;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "unk_id");
    if (u && !cJSON_IsNull(u)) {
        if (!cJSON_IsNumber(u) || u->valuedouble < 0 || u->valuedouble != floor(u->valuedouble))
            return oc_err_set(err, OCLIP_E_FORMAT, "Unigram: \"unk_id\" is not a non-negative "
                              "integer");
        if (n == 0)
            return oc_err_set(err, OCLIP_E_FORMAT, "Unigram: the vocabulary is empty but at least "
                              "<unk> is needed");
        if (u->valuedouble >= (double)n)
            return oc_err_set(err, OCLIP_E_FORMAT, "Unigram: unk_id %.0f is larger than the "
                              "vocabulary (%zu pieces)", u->valuedouble, n);
        m->unk_id = (int64_t)u->valuedouble;
    }
    oclip_status st = hf_json_bool(j, "byte_fallback", &m->byte_fallback, "Unigram", err);
    if (st != OCLIP_OK) return st;
    m->scores = oc_arena_alloc(a, (n ? n : 1) * sizeof *m->scores);
    if (!m->scores || !hf_trie_init(&m->trie)) return oom(err);
    m->min_score = INFINITY;
    size_t id = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *sc = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) ||
            !cJSON_IsNumber(sc))
            return oc_err_set(err, OCLIP_E_FORMAT, "Unigram: vocabulary entry %zu is not "
                              "[piece, score]", id);
        size_t pn = strlen(p->valuestring);
        if (pn > OC_HFTOK_MAX_PIECE)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "Unigram: piece %zu is %zu bytes long "
                              "(limit %d)", id, pn, OC_HFTOK_MAX_PIECE);
        m->scores[id] = sc->valuedouble;
        if (sc->valuedouble < m->min_score) m->min_score = sc->valuedouble;
        if (!hf_map_put(&m->vocab, p->valuestring, pn, (int64_t)id)) return oom(err);
        if (!hf_trie_insert(&m->trie, (const uint8_t *)p->valuestring, pn, 0)) return oom(err);
        id++;
    }
    /* the trie's payload is the id the map holds (the last of duplicate pieces) */
    id = 0;
    cJSON_ArrayForEach(e, v) {
        const char *ps = cJSON_GetArrayItem(e, 0)->valuestring;
        size_t pn = strlen(ps);
        int64_t mid = hf_map_get(&m->vocab, ps, pn);
        if (!hf_trie_insert(&m->trie, (const uint8_t *)ps, pn, (int32_t)mid)) return oom(err);
        id++;
    }
    /* an empty piece would match everywhere without advancing; tokenizers' trie never yields it */
    m->trie.value[0] = -1;
    m->vocab_size = n;
    m->max_id = n ? (int64_t)n - 1 : -1;
    return OCLIP_OK;
}

static bool merge_put(hf_model *m, uint32_t a, uint32_t b, uint32_t rank, uint32_t new_id) {
    uint64_t key = (((uint64_t)a << 32) | b) + 1;
    size_t h = merge_hash(key, m->merge_cap - 1);
    while (m->merges[h].key && m->merges[h].key != key) h = (h + 1) & (m->merge_cap - 1);
    m->merges[h] = (merge_slot){key, rank, new_id};
    return true;
}

static oclip_status read_bpe(const cJSON *j, oc_arena *a, hf_model *m, oclip_error *err) {
    oclip_status st = read_token_map(j, a, m, "BPE", err);
    if (st != OCLIP_OK) return st;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dropout");
    if (d && !cJSON_IsNull(d)) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1)
            return oc_err_set(err, OCLIP_E_FORMAT, "BPE: \"dropout\" is not a number in 0..1");
        if (d->valuedouble != 0)
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "BPE: dropout %g makes encoding random; "
                              "only 0 or null is supported", d->valuedouble);
    }
    if ((st = read_opt_string(j, "unk_token", &m->unk_token, &m->unk_len, "BPE", err)) ||
        (st = read_opt_string(j, "continuing_subword_prefix", &m->prefix, &m->prefix_len, "BPE",
                              err)) ||
        (st = read_opt_string(j, "end_of_word_suffix", &m->suffix, &m->suffix_len, "BPE", err)) ||
        (st = hf_json_bool(j, "fuse_unk", &m->fuse_unk, "BPE", err)) ||
        (st = hf_json_bool(j, "byte_fallback", &m->byte_fallback, "BPE", err)) ||
        (st = hf_json_bool(j, "ignore_merges", &m->ignore_merges, "BPE", err)))
        return st;
    const cJSON *mg = cJSON_GetObjectItemCaseSensitive(j, "merges");
    if (!cJSON_IsArray(mg)) return oc_err_set(err, OCLIP_E_FORMAT, "BPE: \"merges\" is not a list");
    size_t n = (size_t)cJSON_GetArraySize(mg);
    if (n > OC_HFTOK_MAX_VOCAB)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "BPE: %zu merges (limit %zu)", n,
                          OC_HFTOK_MAX_VOCAB);
    m->merge_cap = 16;
    while (m->merge_cap < 2 * n + 2) m->merge_cap *= 2;
    m->merges = calloc(m->merge_cap, sizeof *m->merges);
    if (!m->merges) return oom(err);
    /* all pairs ["a", "b"], or all strings "a b" (the older form) */
    bool tuples = n == 0 || cJSON_IsArray(cJSON_GetArrayItem(mg, 0));
    char *buf = NULL;
    size_t cap = 0;
    uint32_t rank = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, mg) {
        const char *l, *r;
        size_t ln, rn;
        if (tuples) {
            const cJSON *x = cJSON_GetArrayItem(e, 0), *y = cJSON_GetArrayItem(e, 1);
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(x) ||
                !cJSON_IsString(y)) {
                free(buf);
                return oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u is not a pair of strings",
                                  rank);
            }
            l = x->valuestring;
            ln = strlen(l);
            r = y->valuestring;
            rn = strlen(r);
        } else {
            if (!cJSON_IsString(e)) {
                free(buf);
                return oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u is not a string", rank);
            }
            l = e->valuestring;
            const char *sp = strchr(l, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(buf);
                return oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u (\"%.40s\") is not two "
                                  "tokens separated by one space", rank, l);
            }
            ln = (size_t)(sp - l);
            r = sp + 1;
            rn = strlen(r);
        }
        int64_t ai = hf_map_get(&m->vocab, l, ln), bi = hf_map_get(&m->vocab, r, rn);
        if (ai < 0 || bi < 0) {
            free(buf);
            return oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u uses a token that is not in "
                              "the vocabulary", rank);
        }
        /* new token: a + b[prefix_len..] */
        if (m->prefix_len > rn || (m->prefix_len < rn && ((uint8_t)r[m->prefix_len] & 0xC0) == 0x80)) {
            free(buf);
            return oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u: its second token does not "
                              "start with the continuing_subword_prefix", rank);
        }
        size_t nn = ln + rn - m->prefix_len;
        if (!oc_grow((void **)&buf, &cap, nn + 1, 1)) {
            free(buf);
            return oom(err);
        }
        memcpy(buf, l, ln);
        memcpy(buf + ln, r + m->prefix_len, rn - m->prefix_len);
        int64_t ni = hf_map_get(&m->vocab, buf, nn);
        if (ni < 0) {
            buf[nn < 40 ? nn : 40] = '\0';
            oc_err_set(err, OCLIP_E_FORMAT, "BPE: merge %u makes \"%s\", which is not in the "
                       "vocabulary", rank, buf);
            free(buf);
            return OCLIP_E_FORMAT;
        }
        merge_put(m, (uint32_t)ai, (uint32_t)bi, rank, (uint32_t)ni);
        rank++;
    }
    free(buf);
    return OCLIP_OK;
}

static oclip_status read_wordpiece(const cJSON *j, oc_arena *a, hf_model *m, bool level,
                                   oclip_error *err) {
    const char *what = level ? "WordLevel" : "WordPiece";
    oclip_status st = read_token_map(j, a, m, what, err);
    if (st != OCLIP_OK) return st;
    if ((st = read_opt_string(j, "unk_token", &m->unk_token, &m->unk_len, what, err))) return st;
    if (level) return OCLIP_OK;
    if (!m->unk_token)
        return oc_err_set(err, OCLIP_E_FORMAT, "WordPiece: no \"unk_token\" string");
    if ((st = read_opt_string(j, "continuing_subword_prefix", &m->prefix, &m->prefix_len, what,
                              err)))
        return st;
    if (!m->prefix)
        return oc_err_set(err, OCLIP_E_FORMAT, "WordPiece: no \"continuing_subword_prefix\"");
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(j, "max_input_chars_per_word");
    if (!cJSON_IsNumber(mc) || mc->valuedouble < 0 || mc->valuedouble != floor(mc->valuedouble))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "WordPiece: \"max_input_chars_per_word\" is not a non-negative integer");
    m->max_chars = mc->valuedouble > 1e15 ? (size_t)1e15 : (size_t)mc->valuedouble;
    return OCLIP_OK;
}

oclip_status hf_model_read(const cJSON *j, oc_arena *a, hf_model **out, oclip_error *err) {
    *out = NULL;
    if (!cJSON_IsObject(j)) return oc_err_set(err, OCLIP_E_FORMAT, "model: not an object");
    const char *type;
    size_t tn;
    if (!hf_json_str(j, "type", &type, &tn))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "model: no \"type\" (untyped legacy models "
                          "are not read)");
    hf_model *m = calloc(1, sizeof *m);
    if (!m) return oom(err);
    m->max_id = -1;
    m->unk_id = -1;
    oclip_status st;
    if (!strcmp(type, "Unigram")) {
        m->kind = HM_UNIGRAM;
        st = read_unigram(j, a, m, err);
    } else if (!strcmp(type, "BPE")) {
        m->kind = HM_BPE;
        st = read_bpe(j, a, m, err);
    } else if (!strcmp(type, "WordPiece")) {
        m->kind = HM_WORDPIECE;
        st = read_wordpiece(j, a, m, false, err);
    } else if (!strcmp(type, "WordLevel")) {
        m->kind = HM_WORDLEVEL;
        st = read_wordpiece(j, a, m, true, err);
    } else {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "model \"%.40s\" is not supported", type);
    }
    if (st != OCLIP_OK) {
        hf_model_free(m);
        return st;
    }
    *out = m;
    return OCLIP_OK;
}

void hf_model_free(hf_model *m) {
    if (!m) return;
    hf_map_free(&m->vocab);
    hf_trie_free(&m->trie);
    free(m->merges);
    free(m);
}
