/*
 * hf_normalize.c — the normalizers of tokenizer.json (tokenizers/src/normalizers/):
 * Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend,
 * BertNormalizer, Nmt, ByteLevel and Precompiled (SentencePiece's precompiled_charsmap, read as
 * the spm_precompiled crate reads it).
 *
 * Every step is written as tokenizers writes it: a list of (character, change) pairs handed to
 * NormalizedString::transform, so that the alignments (which character of the original each one
 * came from) follow the same rules (hf_transform below).
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/hf_int.h"
#include "text/tokenizer_int.h"

typedef enum {
    HN_SEQUENCE,
    HN_NFC,
    HN_NFD,
    HN_NFKC,
    HN_NFKD,
    HN_LOWERCASE,
    HN_STRIP,
    HN_STRIP_ACCENTS,
    HN_REPLACE,
    HN_PREPEND,
    HN_BERT,
    HN_NMT,
    HN_BYTELEVEL,
    HN_PRECOMPILED
} hn_kind;

struct hf_norm {
    hn_kind kind;
    hf_norm **sub; /* Sequence */
    size_t n_sub;
    bool left, right;                                   /* Strip */
    hf_pattern pat;                                     /* Replace */
    uint32_t *str;                                      /* Replace content, Prepend prepend */
    size_t n_str;
    bool clean_text, chinese, strip_accents, lowercase; /* BertNormalizer */
    const uint32_t *trie;                               /* Precompiled: the double array */
    size_t n_trie;
    const uint8_t *norm;                                /* Precompiled: normalized strings */
    size_t n_norm;
};

/* =============================================================================================
 * NormalizedString::transform(dest, initial_offset) on a whole string: each (c, change) either
 * replaces the next original character (change <= 0, also removing -change more) or is inserted
 * (change > 0, aligned with the character before).
 */
typedef struct {
    uint32_t c;
    int32_t change;
} hf_tr;

typedef struct {
    hf_tr *p;
    size_t n, cap;
} hf_trs;

static bool tr_push(hf_trs *t, uint32_t c, int64_t change) {
    if (!oc_grow((void **)&t->p, &t->cap, t->n + 1, sizeof *t->p)) return false;
    t->p[t->n].c = c;
    t->p[t->n].change = (int32_t)change;
    t->n++;
    return true;
}

static bool hf_transform(hf_str *s, const hf_trs *t, size_t initial_offset) {
    hf_str out = {0};
    out.shift = s->shift;
    if (!hf_str_reserve(&out, t->n ? t->n : 1)) return false;
    size_t idx = initial_offset;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t a;
        if (t->p[i].change > 0) a = idx >= 1 && idx - 1 < s->n ? s->p[idx - 1].a : s->shift;
        else a = idx < s->n ? s->p[idx].a : (s->n ? s->p[s->n - 1].a : s->shift);
        if (t->p[i].change <= 0) idx += 1 + (size_t)(-(int64_t)t->p[i].change);
        out.p[out.n].c = t->p[i].c;
        out.p[out.n].a = a;
        out.n++;
    }
    hf_str_free(s);
    *s = out;
    return true;
}

/* NormalizedString::filter(keep) */
static bool do_filter(hf_str *s, bool (*keep)(uint32_t)) {
    hf_trs t = {0};
    int64_t removed = 0;
    size_t removed_start = 0;
    bool have_last = false;
    uint32_t last = 0;
    bool ok = true;
    for (size_t i = 0; i < s->n && ok; i++) {
        uint32_t c = s->p[i].c;
        if (keep(c)) {
            if (have_last) ok = tr_push(&t, last, -removed);
            else removed_start = (size_t)removed;
            last = c;
            have_last = true;
            removed = 0;
        } else {
            removed++;
        }
    }
    if (ok && have_last) ok = tr_push(&t, last, -removed);
    ok = ok && hf_transform(s, &t, have_last ? removed_start : (size_t)removed);
    free(t.p);
    return ok;
}

/* NormalizedString::map(f): one for one. */
static void do_map(hf_str *s, uint32_t (*f)(uint32_t)) {
    for (size_t i = 0; i < s->n; i++) s->p[i].c = f(s->p[i].c);
}

/* char::to_lowercase (U+0130 becomes two characters, "i\u0307"). */
static bool do_lowercase(hf_str *s) {
    hf_trs t = {0};
    bool ok = true;
    for (size_t i = 0; i < s->n && ok; i++) {
        uint32_t l[2];
        size_t k = hf_rust_lower(s->p[i].c, l);
        ok = tr_push(&t, l[0], 0) && (k < 2 || tr_push(&t, l[1], 1));
    }
    ok = ok && hf_transform(s, &t, 0);
    free(t.p);
    return ok;
}

/* Unicode normalization forms through utf8proc: decomposition per character (of the characters
 * tokenizers' unicode-normalization-alignments crate decomposes), canonical reordering, then
 * composition for NFC/NFKC. Alignments: each character keeps the one of the
 * character it came from (a composed one, the first of its parts). */
static bool do_unicode(hf_str *s, bool compat, bool compose) {
    hf_str d = {0};
    d.shift = s->shift;
    utf8proc_int32_t buf[32];
    for (size_t i = 0; i < s->n; i++) {
        int bc = 0;
        /* only what the crate behind tokenizers decomposes (its Unicode is older) */
        if (!hf_decomposes(s->p[i].c, compat)) {
            if (!hf_str_push(&d, s->p[i].c, s->p[i].a)) {
                hf_str_free(&d);
                return false;
            }
            continue;
        }
        utf8proc_ssize_t k = utf8proc_decompose_char(
            (utf8proc_int32_t)s->p[i].c, buf, 32,
            (utf8proc_option_t)(UTF8PROC_DECOMPOSE | UTF8PROC_STABLE | (compat ? UTF8PROC_COMPAT : 0)), &bc);
        if (k < 0 || k > 32) {
            buf[0] = (utf8proc_int32_t)s->p[i].c;
            k = 1;
        }
        for (utf8proc_ssize_t j = 0; j < k; j++)
            if (!hf_str_push(&d, (uint32_t)buf[j], s->p[i].a)) {
                hf_str_free(&d);
                return false;
            }
    }
    /* canonical ordering: a stable sort of each run of non-starters by combining class
     * (counting sort: linear however long the run) */
    {
        size_t i = 0;
        hf_ch *tmp = NULL;
        size_t tcap = 0;
        while (i < d.n) {
            if (!utf8proc_get_property((utf8proc_int32_t)d.p[i].c)->combining_class) {
                i++;
                continue;
            }
            size_t b = i + 1;
            while (b < d.n && utf8proc_get_property((utf8proc_int32_t)d.p[b].c)->combining_class)
                b++;
            if (b - i > 1) {
                if (!oc_grow((void **)&tmp, &tcap, b - i, sizeof *tmp)) {
                    free(tmp);
                    hf_str_free(&d);
                    return false;
                }
                size_t count[257] = {0};
                for (size_t k = i; k < b; k++)
                    count[utf8proc_get_property((utf8proc_int32_t)d.p[k].c)->combining_class + 1]++;
                for (int k = 1; k < 257; k++) count[k] += count[k - 1];
                for (size_t k = i; k < b; k++)
                    tmp[count[utf8proc_get_property((utf8proc_int32_t)d.p[k].c)->combining_class]++] =
                        d.p[k];
                memcpy(d.p + i, tmp, (b - i) * sizeof *tmp);
            }
            i = b;
        }
        free(tmp);
    }
    if (compose && d.n) {
        utf8proc_int32_t *u = malloc(d.n * sizeof *u);
        if (!u) {
            hf_str_free(&d);
            return false;
        }
        for (size_t i = 0; i < d.n; i++) u[i] = (utf8proc_int32_t)d.p[i].c;
        utf8proc_ssize_t m = utf8proc_normalize_utf32(u, (utf8proc_ssize_t)d.n,
                                                      (utf8proc_option_t)(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
        if (m < 0) m = (utf8proc_ssize_t)d.n;
        /* alignments: walk the decomposed string alongside the composed one */
        size_t j = 0;
        for (utf8proc_ssize_t o = 0; o < m; o++) {
            size_t at = j < d.n ? j : d.n - 1;
            uint32_t a = d.p[at].a;
            if (j < d.n && (uint32_t)u[o] == d.p[j].c) {
                j++;
            } else {
                j++;
                while (j < d.n && o + 1 < m && d.p[j].c != (uint32_t)u[o + 1]) j++;
            }
            d.p[o].c = (uint32_t)u[o];
            d.p[o].a = a;
        }
        d.n = (size_t)m;
        free(u);
    }
    hf_str_free(s);
    *s = d;
    return true;
}

static bool not_mark(uint32_t c) { return !hf_combining_mark(c); }
static bool not_nonspacing(uint32_t c) { return !hf_bert_nonspacing(c); }

/* NormalizedString::lrstrip */
static void do_strip(hf_str *s, bool left, bool right) {
    size_t a = 0, b = s->n;
    if (left)
        while (a < b && hf_rust_whitespace(s->p[a].c)) a++;
    if (right)
        while (b > a && hf_rust_whitespace(s->p[b - 1].c)) b--;
    if (a) memmove(s->p, s->p + a, (b - a) * sizeof *s->p);
    s->n = b - a;
}

/* NormalizedString::prepend: the prefix and the first character all take its alignment. */
static bool do_prepend(hf_str *s, const uint32_t *p, size_t n) {
    if (!s->n || !n) return true;
    hf_trs t = {0};
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) ok = tr_push(&t, p[i], i != 0);
    ok = ok && tr_push(&t, s->p[0].c, 1);
    for (size_t i = 1; i < s->n && ok; i++) ok = tr_push(&t, s->p[i].c, 0);
    ok = ok && hf_transform(s, &t, 0);
    free(t.p);
    return ok;
}

/* NormalizedString::replace(pattern, content): a match's replacement takes the alignment of the
 * match's last character. */
typedef struct {
    const hf_str *s;
    hf_str *out;
    const uint32_t *content;
    size_t n_content;
    size_t last;
    bool ok;
} replace_ctx;

static bool replace_cb(void *vctx, size_t start, size_t end) {
    replace_ctx *r = vctx;
    for (size_t i = r->last; i < start; i++)
        if (!hf_str_push(r->out, r->s->p[i].c, r->s->p[i].a)) return r->ok = false;
    uint32_t a = end > 0 ? r->s->p[end - 1].a : r->s->shift;
    for (size_t i = 0; i < r->n_content; i++)
        if (!hf_str_push(r->out, r->content[i], a)) return r->ok = false;
    r->last = end;
    return true;
}

bool hf_replace(hf_str *s, const hf_pattern *pat, const uint32_t *content, size_t n_content);
bool hf_replace(hf_str *s, const hf_pattern *pat, const uint32_t *content, size_t n_content) {
    hf_str out = {0};
    out.shift = s->shift;
    replace_ctx r = {s, &out, content, n_content, 0, true};
    if (!hf_pattern_find(pat, s->p, s->n, replace_cb, &r) || !r.ok) {
        hf_str_free(&out);
        return false;
    }
    for (size_t i = r.last; i < s->n; i++)
        if (!hf_str_push(&out, s->p[i].c, s->p[i].a)) {
            hf_str_free(&out);
            return false;
        }
    hf_str_free(s);
    *s = out;
    return true;
}

/* ---- BertNormalizer (normalizers/bert.rs) ---- */
static bool bert_keep(uint32_t c) { return !(c == 0 || c == 0xFFFD || hf_bert_control(c)); }
static uint32_t bert_space(uint32_t c) {
    return (c == '\t' || c == '\n' || c == '\r' || hf_rust_whitespace(c)) ? ' ' : c;
}
static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool do_bert(const hf_norm *n, hf_str *s) {
    if (n->clean_text) {
        if (!do_filter(s, bert_keep)) return false;
        do_map(s, bert_space);
    }
    if (n->chinese) {
        hf_trs t = {0};
        bool ok = true;
        for (size_t i = 0; i < s->n && ok; i++) {
            uint32_t c = s->p[i].c;
            if (is_chinese(c)) ok = tr_push(&t, ' ', 0) && tr_push(&t, c, 1) && tr_push(&t, ' ', 1);
            else ok = tr_push(&t, c, 0);
        }
        ok = ok && hf_transform(s, &t, 0);
        free(t.p);
        if (!ok) return false;
    }
    if (n->strip_accents) {
        if (!do_unicode(s, false, false) || !do_filter(s, not_nonspacing)) return false;
    }
    if (n->lowercase && !do_lowercase(s)) return false;
    return true;
}

/* ---- Nmt (normalizers/unicode.rs do_nmt) ---- */
static bool nmt_keep(uint32_t c) {
    return !((c >= 0x1 && c <= 0x8) || c == 0xB || (c >= 0xE && c <= 0x1F) || c == 0x7F ||
             c == 0x8F || c == 0x9F);
}
static uint32_t nmt_map(uint32_t c) {
    if (c == 0x9 || c == 0xA || c == 0xC || c == 0xD || c == 0x1680 ||
        (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
        c == 0xFEFF || c == 0xFFFD)
        return ' ';
    return c;
}

/* ---- ByteLevel (normalizers/byte_level.rs): each UTF-8 byte becomes GPT-2's byte character ---- */
uint32_t hf_byte_char(uint8_t b);
uint32_t hf_byte_char(uint8_t b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
    /* the others, in order, become 256, 257, ... */
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) n++;
    return 256 + n;
}

bool hf_bytelevel_map(hf_str *s);
bool hf_bytelevel_map(hf_str *s) {
    hf_trs t = {0};
    bool ok = true;
    for (size_t i = 0; i < s->n && ok; i++) {
        uint8_t b[4];
        size_t k = oc_utf8_put(s->p[i].c, b);
        for (size_t j = 0; j < k && ok; j++) ok = tr_push(&t, hf_byte_char(b[j]), j > 0);
    }
    ok = ok && hf_transform(s, &t, 0);
    free(t.p);
    return ok;
}

/* ---- Precompiled (spm_precompiled: DoubleArray::common_prefix_search, Precompiled::transform;
 * tokenizers normalizers/precompiled.rs) ---- */

/* The first entry of common_prefix_search(key), as an offset into the normalized strings:
 * 1 found (*value), 0 none, -1 the array or an offset in it is out of range. */
static int pc_first(const hf_norm *n, const uint8_t *key, size_t len, size_t *value) {
    const uint32_t *a = n->trie;
    size_t na = n->n_trie;
    if (na == 0) return -1;
    size_t pos = 0;
    uint32_t unit = a[0];
#define PC_OFFSET(u) (((size_t)(u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= PC_OFFSET(unit);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = key[i];
        if (c == 0) break;
        pos ^= c;
        if (pos >= na) return -1;
        unit = a[pos];
        if ((unit & ((1u << 31) | 0xFFu)) != c) return 0;
        pos ^= PC_OFFSET(unit);
        if ((unit >> 8) & 1) {
            if (pos >= na) return -1;
            *value = a[pos] & ((1u << 31) - 1);
            return 1;
        }
    }
#undef PC_OFFSET
    return 0;
}

/* Precompiled::transform(chunk): 1 with the replacement in [*r, *r + *rn), 0 none, -1 bad data */
static int pc_transform(const hf_norm *n, const uint8_t *key, size_t len, const uint8_t **r,
                        size_t *rn) {
    size_t idx;
    int k = pc_first(n, key, len, &idx);
    if (k <= 0) return k;
    if (idx > n->n_norm) return -1;
    size_t end = idx;
    while (end < n->n_norm && n->norm[end] != 0) end++;
    /* &normalized[index..index2] must fall on character boundaries */
    if (idx < n->n_norm && (n->norm[idx] & 0xC0) == 0x80) return -1;
    *r = n->norm + idx;
    *rn = end - idx;
    return 1;
}

/* precompiled.rs replace(): the new characters, then the change in length pushed onto the last
 * entries (positive: the extra ones are insertions; negative: the last entry removes more). */
static bool pc_replace(hf_trs *t, size_t old_count, const uint8_t *r, size_t rn) {
    size_t new_count = 0;
    size_t i = 0;
    while (i < rn) {
        uint32_t c;
        bool valid;
        i += oc_utf8_next(r + i, rn - i, &c, &valid);
        if (!tr_push(t, c, 0)) return false;
        new_count++;
    }
    int64_t diff = (int64_t)new_count - (int64_t)old_count;
    if (diff > 0) {
        for (int64_t k = 0; k < diff; k++) t->p[t->n - 1 - (size_t)k].change = 1;
    } else if (diff < 0 && t->n) {
        t->p[t->n - 1].change += (int32_t)diff;
    }
    return true;
}

static oclip_status do_precompiled(const hf_norm *n, hf_str *s, oclip_error *err) {
    hf_trs t = {0};
    bool modified = false;
    uint8_t key[64];
    utf8proc_int32_t state = 0;
    size_t g = 0;
    oclip_status st = OCLIP_OK;
    while (g < s->n) {
        /* one extended grapheme cluster [g, e) */
        size_t e = g + 1;
        while (e < s->n && !utf8proc_grapheme_break_stateful((utf8proc_int32_t)s->p[e - 1].c,
                                                              (utf8proc_int32_t)s->p[e].c, &state))
            e++;
        size_t blen = 0;
        for (size_t i = g; i < e && blen < 6; i++) {
            uint8_t b[4];
            blen += oc_utf8_put(s->p[i].c, b);
        }
        const uint8_t *r;
        size_t rn;
        if (blen < 6) {
            size_t k = 0;
            for (size_t i = g; i < e; i++) k += oc_utf8_put(s->p[i].c, key + k);
            int x = pc_transform(n, key, k, &r, &rn);
            if (x < 0) goto bad;
            if (x > 0) {
                modified = true;
                if (!pc_replace(&t, e - g, r, rn)) goto oom;
                g = e;
                continue;
            }
        }
        for (size_t i = g; i < e; i++) {
            size_t k = oc_utf8_put(s->p[i].c, key);
            int x = pc_transform(n, key, k, &r, &rn);
            if (x < 0) goto bad;
            if (x > 0) {
                modified = true;
                if (!pc_replace(&t, 1, r, rn)) goto oom;
            } else if (!tr_push(&t, s->p[i].c, 0)) {
                goto oom;
            }
        }
        g = e;
    }
    if (modified && !hf_transform(s, &t, 0)) goto oom;
    free(t.p);
    return OCLIP_OK;
bad:
    st = oc_err_set(err, OCLIP_E_FORMAT,
                    "Precompiled normalizer: the precompiled_charsmap points outside itself");
    free(t.p);
    return st;
oom:
    free(t.p);
    return oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
}

/* =============================================================================================
 * Applying
 */
oclip_status hf_norm_apply(const hf_norm *n, hf_str *s, oclip_error *err) {
    bool ok = true;
    switch (n->kind) {
    case HN_SEQUENCE:
        for (size_t i = 0; i < n->n_sub; i++) {
            oclip_status st = hf_norm_apply(n->sub[i], s, err);
            if (st != OCLIP_OK) return st;
        }
        return OCLIP_OK;
    case HN_NFC: ok = do_unicode(s, false, true); break;
    case HN_NFD: ok = do_unicode(s, false, false); break;
    case HN_NFKC: ok = do_unicode(s, true, true); break;
    case HN_NFKD: ok = do_unicode(s, true, false); break;
    case HN_LOWERCASE: ok = do_lowercase(s); break;
    case HN_STRIP: do_strip(s, n->left, n->right); break;
    case HN_STRIP_ACCENTS: ok = do_filter(s, not_mark); break;
    case HN_REPLACE: ok = hf_replace(s, &n->pat, n->str, n->n_str); break;
    case HN_PREPEND: ok = do_prepend(s, n->str, n->n_str); break;
    case HN_BERT: ok = do_bert(n, s); break;
    case HN_NMT:
        ok = do_filter(s, nmt_keep);
        if (ok) do_map(s, nmt_map);
        break;
    case HN_BYTELEVEL: ok = hf_bytelevel_map(s); break;
    case HN_PRECOMPILED: return do_precompiled(n, s, err);
    }
    return ok ? OCLIP_OK : oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
}

/* =============================================================================================
 * Reading
 */
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, as the base64 crate's BASE64_STANDARD decodes it (canonical
 * padding required; no whitespace). */
static bool b64_decode(const char *s, size_t n, oc_arena *a, uint8_t **out, size_t *out_n) {
    if (n % 4) return false;
    uint8_t *o = oc_arena_alloc(a, n / 4 * 3 + 4);
    if (!o) return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = s[i + j];
            const char *p = c ? strchr(B64, c) : NULL;
            if (c == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad) return false;
            v = v << 6 | (uint32_t)(p - B64);
        }
        o[k++] = (uint8_t)(v >> 16);
        if (pad < 2) o[k++] = (uint8_t)(v >> 8);
        if (pad < 1) o[k++] = (uint8_t)v;
        /* canonical: the bits dropped by the padding must be zero */
        if ((pad == 1 && (v & 0xFF)) || (pad == 2 && (v & 0xFFFF))) return false;
    }
    *out = o;
    *out_n = k;
    return true;
}

static bool utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        bool valid;
        i += oc_utf8_next(s + i, n - i, &c, &valid);
        if (!valid) return false;
    }
    return true;
}

static oclip_status read_precompiled(const cJSON *j, oc_arena *a, hf_norm *n, oclip_error *err) {
    const char *s;
    size_t len;
    if (!hf_json_str(j, "precompiled_charsmap", &s, &len))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "Precompiled normalizer: \"precompiled_charsmap\" is missing");
    uint8_t *blob;
    size_t nb;
    if (!b64_decode(s, len, a, &blob, &nb))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "Precompiled normalizer: \"precompiled_charsmap\" is not base64");
    if (nb < 4)
        return oc_err_set(err, OCLIP_E_FORMAT, "Precompiled normalizer: the charsmap is %zu "
                          "bytes, shorter than its 4-byte header", nb);
    uint32_t trie_size = oc_rd32(blob);
    size_t units = trie_size / 4;
    if (units > (nb - 4) / 4)
        return oc_err_set(err, OCLIP_E_FORMAT, "Precompiled normalizer: the charsmap's trie of "
                          "%u bytes does not fit in its %zu bytes", trie_size, nb);
    uint32_t *trie = oc_arena_alloc(a, (units ? units : 1) * sizeof *trie);
    if (!trie) return oc_err_set(err, OCLIP_E_NOMEM, "Precompiled normalizer: out of memory");
    for (size_t i = 0; i < units; i++) trie[i] = oc_rd32(blob + 4 + 4 * i);
    n->trie = trie;
    n->n_trie = units;
    n->norm = blob + 4 + 4 * units;
    n->n_norm = nb - 4 - 4 * units;
    if (!utf8_valid(n->norm, n->n_norm))
        return oc_err_set(err, OCLIP_E_FORMAT,
                          "Precompiled normalizer: the charsmap's strings are not valid UTF-8");
    return OCLIP_OK;
}

oclip_status hf_norm_read(const cJSON *j, oc_arena *a, int depth, hf_norm **out,
                          oclip_error *err) {
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return OCLIP_OK;
    if (!cJSON_IsObject(j)) return oc_err_set(err, OCLIP_E_FORMAT, "normalizer: not an object");
    if (depth > OC_HFTOK_MAX_DEPTH)
        return oc_err_set(err, OCLIP_E_FORMAT, "normalizer: nested deeper than %d",
                          OC_HFTOK_MAX_DEPTH);
    const char *type;
    size_t tn;
    if (!hf_json_str(j, "type", &type, &tn))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "normalizer: no \"type\" (untyped legacy "
                          "normalizers are not read)");
    hf_norm *n = oc_arena_alloc(a, sizeof *n);
    if (!n) return oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
    oclip_status st = OCLIP_OK;
    const char *s;
    size_t sn;
    if (!strcmp(type, "Sequence")) {
        n->kind = HN_SEQUENCE;
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(arr))
            return oc_err_set(err, OCLIP_E_FORMAT, "Sequence normalizer: no \"normalizers\" list");
        int k = cJSON_GetArraySize(arr);
        n->sub = oc_arena_alloc(a, (size_t)(k ? k : 1) * sizeof *n->sub);
        if (!n->sub) return oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            hf_norm *sub;
            st = hf_norm_read(e, a, depth + 1, &sub, err);
            if (st != OCLIP_OK) return st;
            if (!sub) return oc_err_set(err, OCLIP_E_FORMAT, "Sequence normalizer: a null entry");
            n->sub[n->n_sub++] = sub;
        }
    } else if (!strcmp(type, "NFC")) n->kind = HN_NFC;
    else if (!strcmp(type, "NFD")) n->kind = HN_NFD;
    else if (!strcmp(type, "NFKC")) n->kind = HN_NFKC;
    else if (!strcmp(type, "NFKD")) n->kind = HN_NFKD;
    else if (!strcmp(type, "Lowercase")) n->kind = HN_LOWERCASE;
    else if (!strcmp(type, "StripAccents")) n->kind = HN_STRIP_ACCENTS;
    else if (!strcmp(type, "Nmt")) n->kind = HN_NMT;
    else if (!strcmp(type, "ByteLevel")) n->kind = HN_BYTELEVEL;
    else if (!strcmp(type, "Strip")) {
        n->kind = HN_STRIP;
        if ((st = hf_json_bool(j, "strip_left", &n->left, "Strip normalizer", err)) ||
            (st = hf_json_bool(j, "strip_right", &n->right, "Strip normalizer", err)))
            return st;
    } else if (!strcmp(type, "Replace")) {
        n->kind = HN_REPLACE;
        st = hf_pattern_read(cJSON_GetObjectItemCaseSensitive(j, "pattern"), a, &n->pat,
                             "Replace normalizer", err);
        if (st != OCLIP_OK) return st;
        if (!hf_json_str(j, "content", &s, &sn))
            return oc_err_set(err, OCLIP_E_FORMAT, "Replace normalizer: no \"content\" string");
        if (!hf_utf8_to_cps(a, s, sn, &n->str, &n->n_str))
            return oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
    } else if (!strcmp(type, "Prepend")) {
        n->kind = HN_PREPEND;
        if (!hf_json_str(j, "prepend", &s, &sn))
            return oc_err_set(err, OCLIP_E_FORMAT, "Prepend normalizer: no \"prepend\" string");
        if (!hf_utf8_to_cps(a, s, sn, &n->str, &n->n_str))
            return oc_err_set(err, OCLIP_E_NOMEM, "normalizer: out of memory");
    } else if (!strcmp(type, "BertNormalizer")) {
        n->kind = HN_BERT;
        n->clean_text = n->chinese = n->lowercase = true;
        bool sa_set = false, sa = false;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
        if (cJSON_IsBool(v)) {
            sa_set = true;
            sa = cJSON_IsTrue(v);
        } else if (v && !cJSON_IsNull(v)) {
            return oc_err_set(err, OCLIP_E_FORMAT, "BertNormalizer: \"strip_accents\" is not a "
                              "boolean or null");
        }
        if ((st = hf_json_bool(j, "clean_text", &n->clean_text, "BertNormalizer", err)) ||
            (st = hf_json_bool(j, "handle_chinese_chars", &n->chinese, "BertNormalizer", err)) ||
            (st = hf_json_bool(j, "lowercase", &n->lowercase, "BertNormalizer", err)))
            return st;
        n->strip_accents = sa_set ? sa : n->lowercase;
    } else if (!strcmp(type, "Precompiled")) {
        n->kind = HN_PRECOMPILED;
        st = read_precompiled(j, a, n, err);
        if (st != OCLIP_OK) return st;
    } else {
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "normalizer \"%.40s\" is not supported",
                          type);
    }
    *out = n;
    return OCLIP_OK;
}

void hf_norm_free(hf_norm *n) { (void)n; /* everything lives in the tokenizer's arena */ }
