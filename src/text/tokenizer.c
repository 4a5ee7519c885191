/*
 * tokenizer.c — OpenCLIP's SimpleTokenizer (open_clip/tokenizer.py), id for
 * id: cleaning, pre-tokenisation, byte-level BPE, special tokens, truncation and padding.
 *
 * Pipeline for one text (clean='lower', the default):
 *   1. UTF-8 -> code points; ill-formed bytes become U+FFFD as Python's errors='replace' does.
 *   2. ftfy.fix_text (ftfy.c), html.unescape twice, str.strip().
 *   3. " ".join(text.split()) and str.lower() (full lowercase: İ -> i̇, final sigma).
 *   4. The `regex` pattern
 *        <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 *      with IGNORECASE, whitespace skipped.
 *   5. Each piece as UTF-8 bytes, one symbol per byte, '</w>' on the last; BPE merges the
 *      adjacent pair of lowest rank (every occurrence, left to right) until none is known.
 *
 * Vocabulary ids (SimpleTokenizer.__init__): 0..255 the byte symbols in bytes_to_unicode order, 256..511 the same
 * with '</w>', 512 + i the result of merge i, 49406/49407 the special tokens. Only the merge
 * pairs are data (src/text/text_data.c, generated from data/bpe_simple_vocab_16e6.txt.gz); the
 * pair -> rank hash table is built once, on first use (pthread_once), and is read-only after.
 *
 * Unicode properties (letters, numbers, case, whitespace, NFC) come from utf8proc; the places
 * where Python's answers are not a plain utf8proc property are commented where they are used.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/text_data.h"
#include "text/tokenizer_int.h"

/* =============================================================================================
 * Code-point arrays and UTF-8
 */
void oc_text_free(oc_text *t) {
    free(t->p);
    t->p = NULL;
    t->n = t->cap = 0;
}

bool oc_text_reserve(oc_text *t, size_t extra) {
    if (extra > SIZE_MAX - t->n) return false;
    void *p = t->p;
    if (!oc_grow(&p, &t->cap, t->n + extra, sizeof *t->p)) return false;
    t->p = p;
    return true;
}

bool oc_text_append(oc_text *t, const uint32_t *s, size_t n) {
    if (!n) return true;
    if (!oc_text_reserve(t, n)) return false;
    memcpy(t->p + t->n, s, n * sizeof *s);
    t->n += n;
    return true;
}

size_t oc_utf8_put(uint32_t c, uint8_t b[4]) {
    if (c < 0x80) {
        b[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (uint8_t)(0xC0 | (c >> 6));
        b[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (uint8_t)(0xE0 | (c >> 12));
        b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    b[0] = (uint8_t)(0xF0 | (c >> 18));
    b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    b[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/*
 * Well-formed UTF-8 (Unicode Table 3-7): the second byte's range depends on the lead byte, so
 * overlongs (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and values past U+10FFFF (F4 90..)
 * fail at the second byte. On an ill-formed sequence the step covers its maximal ill-formed
 * subpart (the lead byte and the continuation bytes that were still acceptable), which CPython
 * replaces with one U+FFFD before resuming at the byte that failed.
 */
size_t oc_utf8_next(const uint8_t *s, size_t n, uint32_t *c, bool *valid) {
    uint8_t b = s[0];
    *valid = true;
    if (b < 0x80) {
        *c = b;
        return 1;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    uint32_t v;
    if (b >= 0xC2 && b <= 0xDF) need = 1, v = b & 0x1F;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 2, v = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3, v = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else { /* 80..C1, F5..FF: never valid */
        *valid = false;
        *c = 0xFFFD;
        return 1;
    }
    size_t j = 1;
    int k = 0;
    for (; k < need && j < n; k++, j++) {
        uint8_t cb = s[j];
        if (k == 0 ? (cb < lo || cb > hi) : (cb < 0x80 || cb > 0xBF)) break;
        v = (v << 6) | (cb & 0x3F);
    }
    *valid = k == need;
    *c = *valid ? v : 0xFFFD;
    return j;
}

bool oc_utf8_decode(const uint8_t *s, size_t n, oc_text *out) {
    if (n == 0) return true; /* nothing to add (and out->p may still be NULL) */
    if (!oc_text_reserve(out, n)) return false; /* never more code points than bytes */
    uint32_t *o = out->p + out->n;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) { /* ASCII: the common case */
            *o++ = s[i++];
            continue;
        }
        bool valid;
        i += oc_utf8_next(s + i, n - i, o++, &valid);
    }
    out->n = (size_t)(o - out->p);
    return true;
}

/* Python str.isspace (Objects/unicodectype.c): bidirectional class WS, B or S, or category
 * Zs. Includes \x1c..\x1f and U+0085, not U+200B or U+180E. */
bool oc_py_isspace(uint32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* =============================================================================================
 * Lowercase: Python str.lower()
 *
 * The simple lowercase mapping (utf8proc) except where SpecialCasing.txt has an unconditional
 * full mapping — only U+0130 İ -> "i\u0307" — and capital sigma, which becomes final ς when
 * preceded by a cased letter and not followed by one, case-ignorable characters skipped both
 * ways (Python's handle_capital_sigma).
 */

/* Case_Ignorable (DerivedCoreProperties): categories Mn Me Cf Lm Sk, plus the characters whose
 * Word_Break is MidLetter, MidNumLet or Single_Quote, which utf8proc does not expose (list from
 * WordBreakProperty.txt, Unicode 14; tests/test_tokenizer.c checks every code point against
 * Python). */
static bool case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55:
    case 0xFF07: case 0xFF0E: case 0xFF1A:
        return true;
    }
    if (c < 0x80) return c == '^' || c == '`'; /* Sk */
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        return false;
    }
}

/* Cased (DerivedCoreProperties): Lu Ll Lt, Other_Lowercase, Other_Uppercase. Approximated by
 * those categories or having a case mapping, plus the Other_* characters with neither that are
 * not Lm (Lm is case-ignorable, which the sigma rule tests first): ª º and the squared /
 * negative squared Latin capitals. */
static bool cased(uint32_t c) {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    if (c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return true;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    return p->category == UTF8PROC_CATEGORY_LU || p->category == UTF8PROC_CATEGORY_LL ||
           p->category == UTF8PROC_CATEGORY_LT || p->lowercase_seqindex != UINT16_MAX ||
           p->uppercase_seqindex != UINT16_MAX || p->titlecase_seqindex != UINT16_MAX;
}

static bool final_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(s[j - 1])) j--;
    if (j == 0 || !cased(s[j - 1])) return false;
    j = i + 1;
    while (j < n && case_ignorable(s[j])) j++;
    return j == n || !cased(s[j]);
}

bool oc_py_lower(oc_text *t) {
    oc_text out = {0};
    if (!oc_text_reserve(&out, t->n)) return false;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->p[i];
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z') c += 32;
        } else if (c == 0x130) {
            if (!oc_text_push(&out, 'i')) goto fail;
            c = 0x307;
        } else if (c == 0x3A3) {
            c = final_sigma(t->p, t->n, i) ? 0x3C2 : 0x3C3;
        } else {
            c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
        }
        if (!oc_text_push(&out, c)) goto fail;
    }
    oc_text_free(t);
    *t = out;
    return true;
fail:
    oc_text_free(&out);
    return false;
}

/* =============================================================================================
 * Cleaning (tokenizer.py basic_clean, whitespace_clean, canonicalize_text)
 */

/* str.strip(): Python whitespace at both ends. */
static void py_strip(oc_text *t) {
    size_t a = 0, b = t->n;
    while (a < b && oc_py_isspace(t->p[a])) a++;
    while (b > a && oc_py_isspace(t->p[b - 1])) b--;
    if (a) memmove(t->p, t->p + a, (b - a) * sizeof *t->p);
    t->n = b - a;
}

/* " ".join(text.split()): runs of whitespace become one space, none at the ends. In place. */
static void py_split_join(oc_text *t) {
    size_t o = 0;
    bool gap = false;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->p[i];
        if (oc_py_isspace(c)) {
            gap = o > 0;
            continue;
        }
        if (gap) t->p[o++] = ' ';
        gap = false;
        t->p[o++] = c;
    }
    t->n = o;
}

/* ASCII string.punctuation: !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ */
static bool ascii_punct(uint32_t c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static bool clean_text(oc_text *t, oclip_clean mode) {
    /* basic_clean */
    if (!oc_ftfy_fix_text(t) || !oc_html_unescape(t) || !oc_html_unescape(t)) return false;
    py_strip(t);
    if (mode == OCLIP_CLEAN_CANONICALIZE) {
        size_t o = 0;
        for (size_t i = 0; i < t->n; i++) {
            uint32_t c = t->p[i] == '_' ? ' ' : t->p[i];
            if (!ascii_punct(c)) t->p[o++] = c;
        }
        t->n = o;
        if (!oc_py_lower(t)) return false;
        py_split_join(t);
        return true;
    }
    py_split_join(t); /* whitespace_clean (its strip() has nothing left to do) */
    return mode == OCLIP_CLEAN_WHITESPACE || oc_py_lower(t);
}

/* =============================================================================================
 * Vocabulary: byte symbols and the merge table
 */
#define N_BYTE_IDS 256
#define FIRST_MERGE_ID 512
#define PAIR_BITS 17 /* 131072 slots for 48,894 merges: load 0.37 */

typedef struct {
    uint32_t key;  /* (left << 16 | right) + 1; 0 = empty */
    uint32_t rank;
} pair_slot;

static struct {
    uint16_t byte_id[256]; /* byte -> symbol id (0..255) */
    pair_slot *pairs;      /* 1 << PAIR_BITS slots */
    oclip_status status;
} vocab;
static pthread_once_t vocab_once = PTHREAD_ONCE_INIT;

static inline uint32_t pair_hash(uint32_t key) { return (key * 0x9E3779B1u) >> (32 - PAIR_BITS); }

static void vocab_init(void) {
    /* bytes_to_unicode dict order: the 188 printable bytes (33..126, 161..172, 174..255) in byte
     * order, then the 68 others in byte order. The id of a byte is its position. */
    uint16_t next = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++) {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
            if (printable == (pass == 0)) vocab.byte_id[b] = next++;
        }
    size_t nslots = (size_t)1 << PAIR_BITS;
    vocab.pairs = calloc(nslots, sizeof *vocab.pairs);
    if (!vocab.pairs) {
        vocab.status = OCLIP_E_NOMEM;
        return;
    }
    for (size_t i = 0; i < oc_bpe_n_merges; i++) {
        uint32_t key = ((uint32_t)oc_bpe_merges[2 * i] << 16 | oc_bpe_merges[2 * i + 1]) + 1;
        uint32_t h = pair_hash(key);
        while (vocab.pairs[h].key && vocab.pairs[h].key != key) h = (h + 1) & (nslots - 1);
        if (!vocab.pairs[h].key) { /* the file holds no duplicate pair; keep the first anyway */
            vocab.pairs[h].key = key;
            vocab.pairs[h].rank = (uint32_t)i;
        }
    }
    vocab.status = OCLIP_OK;
}

static oclip_status vocab_ready(oclip_error *err) {
    pthread_once(&vocab_once, vocab_init);
    if (vocab.status != OCLIP_OK)
        return oc_err_set(err, vocab.status,
                          "tokenizer: cannot build the BPE table: out of memory");
    return OCLIP_OK;
}

/* The rank of merging symbols (a, b), or UINT32_MAX when they do not merge. */
static inline uint32_t pair_rank(uint32_t a, uint32_t b) {
    uint32_t key = (a << 16 | b) + 1;
    size_t mask = ((size_t)1 << PAIR_BITS) - 1;
    for (uint32_t h = pair_hash(key);; h = (h + 1) & mask) {
        if (vocab.pairs[h].key == key) return vocab.pairs[h].rank;
        if (!vocab.pairs[h].key) return UINT32_MAX;
    }
}

/* =============================================================================================
 * Pre-tokenisation and BPE
 */
typedef enum { CL_SPACE, CL_SKIP, CL_LETTER, CL_NUMBER, CL_OTHER } char_class;

/* Which part of the pattern a character can belong to. `regex`'s \s is Python's whitespace
 * without \x1c..\x1f. U+0345 COMBINING GREEK YPOGEGRAMMENI (Mn) matches no branch under
 * IGNORECASE (it case-folds to ι, a letter, so the negated class refuses it while [\p{L}] does
 * not take it), and findall steps over it like whitespace. */
static char_class classify(uint32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_LETTER;
        if (c >= '0' && c <= '9') return CL_NUMBER;
        if ((c >= 0x09 && c <= 0x0D) || c == ' ') return CL_SPACE;
        return CL_OTHER;
    }
    if (c == 0x345) return CL_SKIP;
    const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)c);
    switch (p->category) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_NUMBER;
    default:
        return oc_py_isspace(c) ? CL_SPACE : CL_OTHER;
    }
}

int oc_tok_class(uint32_t c) {
    static const int kind[] = {[CL_SPACE] = 0, [CL_SKIP] = 0, [CL_LETTER] = 1, [CL_NUMBER] = 2,
                               [CL_OTHER] = 3};
    return kind[classify(c)];
}

/* Case-insensitive match of ASCII `lit` at s[0..n): as `regex` with IGNORECASE, a letter also
 * matches its other case, and 's' also matches U+017F ſ (its case fold). */
static size_t match_ci(const uint32_t *s, size_t n, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++) {
        if (k >= n) return 0;
        uint32_t c = s[k], l = (uint32_t)lit[k];
        if (c == l) continue;
        if (l >= 'a' && l <= 'z' && (c == l - 32 || (l == 's' && c == 0x17F))) continue;
        return 0;
    }
    return k;
}

/* Growable id list with an optional stop: encoding ends once `limit` ids exist. */
typedef struct {
    int32_t *p;
    size_t n, cap, limit;
} id_list;

static bool ids_push(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        void *p = l->p;
        if (!oc_grow(&p, &l->cap, l->n + 1, sizeof *l->p)) return false;
        l->p = p;
    }
    l->p[l->n++] = id;
    return true;
}

/*
 * BPE for long pieces, in O(m log m) instead of the plain loop's O(m^2) (a 1 MB word would take
 * minutes). Same result: merge r only has components older than itself (ids < 512 + r), so a
 * pair created by merge r always ranks after r, and taking (rank, position) pairs from a heap in
 * order replays Python's rounds: all occurrences of the best pair, left to right, where an
 * occurrence whose left symbol was just consumed is no longer valid and is skipped.
 */
#define BPE_HEAP_MIN 24 /* symbols; shorter pieces take the plain loop */

typedef struct {
    uint32_t rank;
    size_t pos; /* index of the pair's left symbol */
} heap_item;

static bool heap_less(const heap_item *a, const heap_item *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(heap_item *h, size_t *n, heap_item it) {
    size_t i = (*n)++;
    while (i > 0 && heap_less(&it, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = it;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

#define NONE SIZE_MAX

static bool bpe_long(uint32_t *w, size_t *mp) {
    size_t m = *mp;
    /* a doubly linked list over w (removed symbols drop out), and a heap of candidate pairs:
     * the m - 1 initial ones plus at most 2 per merge, and there are at most m - 1 merges */
    if (m > SIZE_MAX / (3 * sizeof(heap_item))) return false;
    size_t *next = malloc(m * sizeof *next), *prev = malloc(m * sizeof *prev);
    heap_item *heap = malloc(3 * m * sizeof *heap);
    bool ok = next && prev && heap;
    if (!ok) goto done;
    size_t nh = 0;
    for (size_t i = 0; i < m; i++) {
        next[i] = i + 1 < m ? i + 1 : NONE;
        prev[i] = i ? i - 1 : NONE;
        uint32_t r = i + 1 < m ? pair_rank(w[i], w[i + 1]) : UINT32_MAX;
        if (r != UINT32_MAX) heap_push(heap, &nh, (heap_item){r, i});
    }
    while (nh) {
        heap_item it = heap_pop(heap, &nh);
        size_t i = it.pos, j = next[i];
        /* stale: the left symbol was removed (UINT32_MAX) or the pair changed since */
        if (w[i] == UINT32_MAX || j == NONE || pair_rank(w[i], w[j]) != it.rank) continue;
        w[i] = FIRST_MERGE_ID + it.rank;
        w[j] = UINT32_MAX; /* removed */
        next[i] = next[j];
        if (next[j] != NONE) prev[next[j]] = i;
        uint32_t r;
        if (prev[i] != NONE && (r = pair_rank(w[prev[i]], w[i])) != UINT32_MAX)
            heap_push(heap, &nh, (heap_item){r, prev[i]});
        if (next[i] != NONE && (r = pair_rank(w[i], w[next[i]])) != UINT32_MAX)
            heap_push(heap, &nh, (heap_item){r, i});
    }
    size_t o = 0;
    for (size_t i = 0; i != NONE; i = next[i]) w[o++] = w[i]; /* symbol 0 is never removed */
    *mp = o;
done:
    free(next);
    free(prev);
    free(heap);
    return ok;
}

/* BPE of one piece (code points s[0..n)) appended to out. `sym` is scratch space. */
static bool bpe_piece(const uint32_t *s, size_t n, id_list *out, oc_text *sym) {
    /* the special tokens are in OpenCLIP's cache as themselves: exact lowercase spelling only */
    static const uint32_t sot[] = {'<', 's', 't', 'a', 'r', 't', '_', 'o', 'f', '_', 't', 'e',
                                   'x', 't', '>'};
    static const uint32_t eot[] = {'<', 'e', 'n', 'd', '_', 'o', 'f', '_', 't', 'e', 'x', 't',
                                   '>'};
    if (n == 15 && !memcmp(s, sot, sizeof sot)) return ids_push(out, OCLIP_SOT_ID);
    if (n == 13 && !memcmp(s, eot, sizeof eot)) return ids_push(out, OCLIP_EOT_ID);

    /* one symbol per UTF-8 byte, '</w>' on the last */
    sym->n = 0;
    if (n > SIZE_MAX / 4 || !oc_text_reserve(sym, 4 * n)) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4];
        size_t k = oc_utf8_put(s[i], b);
        for (size_t q = 0; q < k; q++) sym->p[sym->n++] = vocab.byte_id[b[q]];
    }
    uint32_t *w = sym->p;
    size_t m = sym->n;
    w[m - 1] += N_BYTE_IDS;

    if (m > BPE_HEAP_MIN) {
        if (!bpe_long(w, &m)) return false;
        goto emit;
    }
    /* Merge the lowest-ranked known pair everywhere, left to right without overlap, until no
     * adjacent pair is known (tokenizer.py bpe()). Words are short: a plain scan per round. */
    while (m > 1) {
        uint32_t best = UINT32_MAX;
        for (size_t i = 0; i + 1 < m; i++) {
            uint32_t r = pair_rank(w[i], w[i + 1]);
            if (r < best) best = r;
        }
        if (best == UINT32_MAX) break;
        uint32_t a = oc_bpe_merges[2 * best], b = oc_bpe_merges[2 * best + 1];
        size_t o = 0;
        for (size_t i = 0; i < m; i++) {
            if (i + 1 < m && w[i] == a && w[i + 1] == b) {
                w[o++] = FIRST_MERGE_ID + best;
                i++;
            } else {
                w[o++] = w[i];
            }
        }
        m = o;
    }
emit:
    for (size_t i = 0; i < m; i++)
        if (!ids_push(out, (int32_t)w[i])) return false;
    return true;
}

/* tokenizer.py encode() on cleaned text: pieces by the pattern, BPE on each. */
static bool encode_clean(const oc_text *t, id_list *out) {
    const uint32_t *s = t->p;
    size_t n = t->n;
    oc_text sym = {0};
    bool ok = true;
    size_t i = 0;
    while (i < n && ok && (!out->limit || out->n < out->limit)) {
        char_class cl = classify(s[i]);
        if (cl == CL_SPACE || cl == CL_SKIP) {
            i++;
            continue;
        }
        size_t len = 0;
        /* alternatives in pattern order; the first that matches here wins */
        if (s[i] == '<') {
            len = match_ci(s + i, n - i, "<start_of_text>");
            if (!len) len = match_ci(s + i, n - i, "<end_of_text>");
        } else if (s[i] == '\'') {
            static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
            for (size_t k = 0; k < 7 && !len; k++) len = match_ci(s + i, n - i, contractions[k]);
        }
        if (!len) {
            len = 1;
            if (cl == CL_LETTER)
                while (i + len < n && classify(s[i + len]) == CL_LETTER) len++;
            else if (cl == CL_OTHER)
                while (i + len < n && classify(s[i + len]) == CL_OTHER) len++;
        }
        ok = bpe_piece(s + i, len, out, &sym);
        i += len;
    }
    oc_text_free(&sym);
    return ok;
}

/* =============================================================================================
 * Public API
 */
/* Longer texts are refused before any work: time and memory grow with the text (ftfy, BPE,
 * the id list of oclip_tokenize_ids), and no CLIP prompt comes near it. A build-time constant
 * (docs/SECURITY.md, "Limits"). */
#ifndef OC_MAX_TEXT_BYTES
#define OC_MAX_TEXT_BYTES ((size_t)16 << 20)
#endif

static oclip_status check_args(const char *text, size_t len, oclip_clean clean, oclip_error *err) {
    if (!text && len) return oc_err_set(err, OCLIP_E_ARG, "tokenize: NULL text");
    if (len > OC_MAX_TEXT_BYTES)
        return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: a text of %zu bytes is longer than the "
                          "limit of %zu bytes", len, (size_t)OC_MAX_TEXT_BYTES);
    if ((unsigned)clean > OCLIP_CLEAN_CANONICALIZE)
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: unknown clean mode %d", (int)clean);
    return vocab_ready(err);
}

/* Decodes and cleans; *t owns the result. */
static oclip_status cleaned(const char *text, size_t len, oclip_clean clean, oc_text *t,
                            oclip_error *err) {
    oclip_status st = check_args(text, len, clean, err);
    if (st != OCLIP_OK) return st;
    if (!oc_utf8_decode((const uint8_t *)text, len, t) || !clean_text(t, clean)) {
        oc_text_free(t);
        return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: out of memory (text of %zu bytes)", len);
    }
    return OCLIP_OK;
}

oclip_status oclip_tokenizer_init(oclip_error *err) {
    oc_err_clear(err);
    return vocab_ready(err);
}

oclip_status oclip_tokenize_clean(const char *text, size_t len, oclip_clean clean, char *out,
                                  size_t cap, size_t *out_len, oclip_error *err) {
    oc_err_clear(err);
    if (!out_len || (!out && cap)) return oc_err_set(err, OCLIP_E_ARG, "tokenize: NULL output");
    oc_text t = {0};
    oclip_status st = cleaned(text, len, clean, &t, err);
    if (st != OCLIP_OK) return st;
    /* n: the full length; w: what fits, whole characters only, so out stays valid UTF-8 */
    size_t n = 0, w = 0;
    for (size_t i = 0; i < t.n; i++) {
        uint8_t b[4];
        size_t k = oc_utf8_put(t.p[i], b);
        if (w == n && n + k < cap) {
            memcpy(out + w, b, k);
            w += k;
        }
        n += k;
    }
    if (cap) out[w] = '\0';
    *out_len = n;
    oc_text_free(&t);
    return OCLIP_OK;
}

oclip_status oclip_tokenize_ids(const char *text, size_t len, oclip_clean clean, int32_t *ids,
                                size_t max_ids, size_t *n_ids, oclip_error *err) {
    oc_err_clear(err);
    if (!n_ids || (!ids && max_ids)) return oc_err_set(err, OCLIP_E_ARG, "tokenize: NULL output");
    oc_text t = {0};
    oclip_status st = cleaned(text, len, clean, &t, err);
    if (st != OCLIP_OK) return st;
    id_list l = {0};
    bool ok = encode_clean(&t, &l);
    oc_text_free(&t);
    if (!ok) {
        free(l.p);
        return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: out of memory (text of %zu bytes)", len);
    }
    if (l.n && max_ids) memcpy(ids, l.p, (l.n < max_ids ? l.n : max_ids) * sizeof *ids);
    *n_ids = l.n;
    free(l.p);
    return OCLIP_OK;
}

oclip_status oclip_tokenize(const char *text, size_t len, oclip_clean clean, int64_t *row,
                            size_t context_length, oclip_error *err) {
    oc_err_clear(err);
    if (!row) return oc_err_set(err, OCLIP_E_ARG, "tokenize: NULL output row");
    if (context_length == 0)
        return oc_err_set(err, OCLIP_E_ARG, "tokenize: context length must be at least 1");
    oc_text t = {0};
    oclip_status st = cleaned(text, len, clean, &t, err);
    if (st != OCLIP_OK) return st;
    /* [SOT] + ids + [EOT]; only the first context_length - 1 ids can show, so stop there */
    id_list l = {0};
    l.limit = context_length;
    bool ok = encode_clean(&t, &l);
    oc_text_free(&t);
    if (!ok) {
        free(l.p);
        return oc_err_set(err, OCLIP_E_NOMEM, "tokenize: out of memory (text of %zu bytes)", len);
    }
    size_t k = 0;
    row[k++] = OCLIP_SOT_ID;
    for (size_t i = 0; i < l.n && k < context_length; i++) row[k++] = l.p[i];
    /* too long: the last slot is overwritten with EOT, so EOT is always present */
    if (k < context_length) row[k++] = OCLIP_EOT_ID;
    else row[context_length - 1] = OCLIP_EOT_ID;
    while (k < context_length) row[k++] = 0; /* pad with 0 (also the id of '!') */
    free(l.p);
    return OCLIP_OK;
}

/* =============================================================================================
 * Decoding (SimpleTokenizer.decode)
 */
typedef struct {
    char *p;
    size_t n, cap;
} byte_buf;

static bool bb_put(byte_buf *b, const void *s, size_t n) {
    void *p = b->p;
    if (n > SIZE_MAX - b->n - 1 || !oc_grow(&p, &b->cap, b->n + n + 1, 1)) return false;
    b->p = p;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

/* The bytes of symbol `id`: a byte (0..255), a byte + "</w>" (256..511), or merge id - 512's
 * two symbols (each an earlier id), expanded left to right with an explicit stack. */
static bool symbol_bytes(uint32_t id, const uint8_t byte_of[256], byte_buf *out) {
    uint32_t stack[512];
    size_t sp = 0;
    stack[sp++] = id;
    while (sp) {
        uint32_t s = stack[--sp];
        if (s < 256) {
            if (!bb_put(out, &byte_of[s], 1)) return false;
        } else if (s < 512) {
            if (!bb_put(out, &byte_of[s - 256], 1) || !bb_put(out, "</w>", 4)) return false;
        } else {
            size_t i = s - 512;
            uint32_t l = oc_bpe_merges[2 * i], r = oc_bpe_merges[2 * i + 1];
            if (l >= s || r >= s || sp + 2 > sizeof stack / sizeof *stack) return false;
            stack[sp++] = r;
            stack[sp++] = l;
        }
    }
    return true;
}

/* Every occurrence of `what` in b replaced by `with` (not longer than `what`), in place. */
static void bb_replace(byte_buf *b, const char *what, const char *with) {
    size_t wl = strlen(what), rl = strlen(with), o = 0;
    for (size_t i = 0; i < b->n;) {
        if (i + wl <= b->n && !memcmp(b->p + i, what, wl)) {
            memcpy(b->p + o, with, rl);
            o += rl;
            i += wl;
        } else {
            b->p[o++] = b->p[i++];
        }
    }
    b->n = o;
    b->p[o] = '\0';
}

oclip_status oclip_decode(const int64_t *ids, size_t n, int caption, char **text,
                          oclip_error *err) {
    oc_err_clear(err);
    if (!text || (n && !ids)) return oc_err_set(err, OCLIP_E_ARG, "decode: NULL argument");
    *text = NULL;
    oclip_status st = vocab_ready(err);
    if (st) return st;
    uint8_t byte_of[256];
    for (int b = 0; b < 256; b++) byte_of[vocab.byte_id[b]] = (uint8_t)b;
    byte_buf raw = {0}, out = {0};
    bool ok = bb_put(&raw, "", 0);
    for (size_t i = 0; i < n && ok; i++) {
        int64_t id = ids[i];
        if (id < 0 || id > OCLIP_EOT_ID || (id >= 512 + (int64_t)oc_bpe_n_merges &&
                                              id < OCLIP_SOT_ID)) {
            free(raw.p);
            return oc_err_set(err, OCLIP_E_ARG, "decode: id %lld at position %zu is not in the "
                              "vocabulary [0, %d)", (long long)id, i, OCLIP_EOT_ID + 1);
        }
        if (id == OCLIP_SOT_ID) ok = bb_put(&raw, "<start_of_text>", 15);
        else if (id == OCLIP_EOT_ID) ok = bb_put(&raw, "<end_of_text>", 13);
        else ok = symbol_bytes((uint32_t)id, byte_of, &raw);
    }
    /* bytearray(...).decode("utf-8", errors="replace"): each maximal ill-formed subpart -> U+FFFD */
    ok = ok && bb_put(&out, "", 0);
    for (size_t i = 0; ok && i < raw.n;) {
        uint32_t c;
        bool valid;
        size_t k = oc_utf8_next((const uint8_t *)raw.p + i, raw.n - i, &c, &valid);
        ok = valid ? bb_put(&out, raw.p + i, k) : bb_put(&out, "\xEF\xBF\xBD", 3);
        i += k;
    }
    free(raw.p);
    if (!ok) {
        free(out.p);
        return oc_err_set(err, OCLIP_E_NOMEM, "decode: out of memory (%zu ids)", n);
    }
    bb_replace(&out, "</w>", " ");
    if (caption) {
        char *e = strstr(out.p, "<end_of_text>");
        if (e) {
            *e = '\0';
            out.n = (size_t)(e - out.p);
        }
        bb_replace(&out, "<start_of_text>", "");
    }
    *text = out.p;
    return OCLIP_OK;
}
