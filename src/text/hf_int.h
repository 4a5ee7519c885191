/*
 * hf_int.h — declarations shared by the tokenizer.json reader's files (hf_tokenizer.c: loading,
 * added tokens, the pipeline and post-processing; hf_normalize.c: normalizers; hf_pretok.c:
 * pre-tokenizers; hf_models.c: Unigram, BPE, WordPiece, WordLevel). Not installed.
 *
 * Text is an array of code points, each with the byte offset in the original input where the
 * character it came from starts: `tokenizers` (tokenizer/normalizer.rs, NormalizedString) keeps
 * such alignments, and one decision depends on them (Metaspace's prepend_scheme "first" asks
 * whether a piece starts at offset 0 of the original).
 */
#ifndef OCLIP_HF_INT_H
#define OCLIP_HF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "text/hf_tokenizer.h"

struct cJSON;

/* ---------------------------------------------------------------------------------------------
 * Strings with alignments
 */
typedef struct {
    uint32_t c;  /* code point */
    uint32_t a;  /* original byte offset of the character it came from */
} hf_ch;

typedef struct {
    hf_ch *p;
    size_t n, cap;
    uint32_t shift; /* NormalizedString.original_shift: where this piece starts in the original */
} hf_str;

bool hf_str_reserve(hf_str *s, size_t extra);
static inline bool hf_str_push(hf_str *s, uint32_t c, uint32_t a) {
    if (s->n == s->cap && !hf_str_reserve(s, 1)) return false;
    s->p[s->n].c = c;
    s->p[s->n].a = a;
    s->n++;
    return true;
}
void hf_str_free(hf_str *s);
/* UTF-8 bytes of s[from, to) appended to *buf (malloc'd, grown); false when out of memory. */
bool hf_str_utf8(const hf_str *s, size_t from, size_t to, char **buf, size_t *len, size_t *cap);

/* A list of pieces: text still to tokenize (id < 0) or an added token already recognised. */
typedef struct {
    hf_str s;
    int64_t id;
} hf_piece;

typedef struct {
    hf_piece *p;
    size_t n, cap;
} hf_pieces;

void hf_pieces_free(hf_pieces *l);
/* Appends s[from, to) as a new piece (shift = alignment of its first character); empty ranges
 * are dropped, as PreTokenizedString::split drops empty splits. */
bool hf_pieces_add_slice(hf_pieces *l, const hf_str *s, size_t from, size_t to, int64_t id);

/* ---------------------------------------------------------------------------------------------
 * Byte trie (vocabularies, added tokens): common-prefix walks over UTF-8 bytes.
 */
typedef struct {
    uint32_t *keys;   /* (node << 8 | byte) + 1; 0 = empty */
    uint32_t *child;  /* node reached */
    size_t cap;       /* power of two */
    size_t used;
    int32_t *value;   /* per node: payload or -1 */
    size_t n_nodes, cap_nodes;
} hf_trie;

bool hf_trie_init(hf_trie *t);
void hf_trie_free(hf_trie *t);
/* Inserts key (len bytes) with `value` (a later insert of the same key overwrites). */
bool hf_trie_insert(hf_trie *t, const uint8_t *key, size_t len, int32_t value);
/* The node reached from `node` by byte b, or 0 when none (node 0 is the root). */
uint32_t hf_trie_step(const hf_trie *t, uint32_t node, uint8_t b);

/* String -> id hash map (exact bytes). */
typedef struct {
    const char **key;   /* points into the owner's arena */
    uint32_t *klen;
    int64_t *val;
    size_t cap, used;
} hf_map;

bool hf_map_put(hf_map *m, const char *k, size_t n, int64_t v); /* overwrites */
int64_t hf_map_get(const hf_map *m, const char *k, size_t n);   /* -1 when absent */
void hf_map_free(hf_map *m);

/* ---------------------------------------------------------------------------------------------
 * Unicode properties as the Rust crates behind `tokenizers` define them
 */
bool hf_rust_whitespace(uint32_t c);   /* char::is_whitespace: White_Space */
bool hf_rust_numeric(uint32_t c);      /* char::is_numeric: Nd, Nl, No (Rust's Unicode) */
bool hf_is_punctuation(uint32_t c);    /* is_ascii_punctuation || unicode_categories is_punctuation */
bool hf_is_letter(uint32_t c);         /* Oniguruma \p{L} (utf8proc) */
bool hf_is_number(uint32_t c);         /* Oniguruma \p{N} (utf8proc) */
bool hf_is_word(uint32_t c);           /* regex crate \w */
bool hf_bert_control(uint32_t c);      /* BertNormalizer is_control: unicode_categories is_other */
bool hf_bert_nonspacing(uint32_t c);   /* BertNormalizer strip_accents drops it (after NFD) */
bool hf_combining_mark(uint32_t c);    /* StripAccents drops it */
bool hf_decomposes(uint32_t c, bool compat); /* NFD (NFKD when compat) changes it */
/* char::to_lowercase: writes 1 or 2 code points, returns how many. */
size_t hf_rust_lower(uint32_t c, uint32_t out[2]);

/* ---------------------------------------------------------------------------------------------
 * Patterns (Split pre-tokenizer, Replace normalizer)
 */
typedef enum {
    HF_PAT_STRING = 0, /* a literal (regex::escape(s)) */
    HF_PAT_SPACES,     /* the regex " {2,}" (T5's converter) */
    HF_PAT_WS_RUN,     /* the regex "\s+" */
    HF_PAT_GPT2        /* GPT-2's pre-tokenizer regex */
} hf_pat_kind;

typedef struct {
    hf_pat_kind kind;
    uint32_t *lit;  /* HF_PAT_STRING: code points */
    size_t n_lit;
} hf_pattern;

/* Reads {"String": s} or {"Regex": r}; `what` names the owner for messages. */
oclip_status hf_pattern_read(const struct cJSON *j, oc_arena *a, hf_pattern *p, const char *what,
                             oclip_error *err);
/* Non-overlapping matches in s[0, n): calls back (start, end) for each, in order; false when the
 * callback fails. */
typedef bool (*hf_match_fn)(void *ctx, size_t start, size_t end);
bool hf_pattern_find(const hf_pattern *p, const hf_ch *s, size_t n, hf_match_fn fn, void *ctx);

/* ---------------------------------------------------------------------------------------------
 * Normalizers (hf_normalize.c)
 */
typedef struct hf_norm hf_norm;
oclip_status hf_norm_read(const struct cJSON *j, oc_arena *a, int depth, hf_norm **out,
                          oclip_error *err);
/* Normalizes s in place; OCLIP_E_FORMAT when the charsmap turns out malformed on this input. */
oclip_status hf_norm_apply(const hf_norm *n, hf_str *s, oclip_error *err);
void hf_norm_free(hf_norm *n);

/* ---------------------------------------------------------------------------------------------
 * Pre-tokenizers (hf_pretok.c)
 */
typedef struct hf_pretok hf_pretok;
oclip_status hf_pretok_read(const struct cJSON *j, oc_arena *a, int depth, hf_pretok **out,
                            oclip_error *err);
/* Splits every text piece of *l (added tokens stay as they are). */
bool hf_pretok_apply(const hf_pretok *p, hf_pieces *l);
void hf_pretok_free(hf_pretok *p);

/* ---------------------------------------------------------------------------------------------
 * Models (hf_models.c)
 */
typedef struct hf_model hf_model;
oclip_status hf_model_read(const struct cJSON *j, oc_arena *a, hf_model **out, oclip_error *err);
void hf_model_free(hf_model *m);
int64_t hf_model_token_id(const hf_model *m, const char *s, size_t n);
size_t hf_model_vocab_size(const hf_model *m);
int64_t hf_model_max_id(const hf_model *m);

typedef struct {
    int32_t *p;
    size_t n, cap;
} hf_ids;
bool hf_ids_push(hf_ids *l, int64_t id);

/* Tokenizes one pre-tokenized piece (UTF-8, s[0..n)), appending ids. */
oclip_status hf_model_tokenize(const hf_model *m, const char *s, size_t n, hf_ids *out,
                               oclip_error *err);

/* ---------------------------------------------------------------------------------------------
 * JSON helpers (hf_tokenizer.c)
 */
/* The string member `key` of j: its bytes in *s, *n; false when absent or not a string. */
bool hf_json_str(const struct cJSON *j, const char *key, const char **s, size_t *n);
/* A boolean member: *v set when present (true/false); OCLIP_E_FORMAT when of another type. */
oclip_status hf_json_bool(const struct cJSON *j, const char *key, bool *v, const char *what,
                          oclip_error *err);
/* UTF-8 (valid, from cJSON) to code points in an arena array. */
bool hf_utf8_to_cps(oc_arena *a, const char *s, size_t n, uint32_t **out, size_t *n_out);

#endif /* OCLIP_HF_INT_H */
