/*
 * ftfy.c — the text cleaning OpenCLIP runs before BPE: ftfy.fix_text (ftfy 6.3, default
 * configuration) and Python's html.unescape, on code-point arrays (open_clip tokenizer.py basic_clean).
 *
 * ftfy.fix_text cuts the text after every '\n' (and every 1,000,000 code points) and fixes
 * each segment by running these steps until a whole pass changes nothing:
 *     unescape_html       ftfy's own, narrower, entity decoding; off for a segment holding '<'
 *                         and, because fix_text keeps the modified config, for every later one
 *     fix_encoding        mojibake repair (ftfy_encoding.c)
 *     fix_c1_controls     U+0080..U+009F read as Windows-1252
 *     fix_latin_ligatures ﬁ -> fi, ĳ -> ij, ... (ftfy chardata.LIGATURES)
 *     fix_character_width U+3000 -> space, U+FF01..U+FFEF -> their NFKC form
 *     uncurl_quotes       ʼ ‘ ’ ‚ ‛ -> ',  “ ” „ ‟ -> "
 *     fix_line_breaks     \r\n, \r, U+2028, U+2029, U+0085 -> \n
 *     fix_surrogates      nothing to do: decoded UTF-8 holds no surrogates
 *     remove_terminal_escapes  ESC [ (digits|;)* letter
 *     remove_control_chars     ftfy chardata.CONTROL_CHARS
 *     NFC
 * Unicode properties come from utf8proc; the entity tables are generated from Python's own
 * `html` module by tools/embed_data.py (src/text/text_data.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/text_data.h"
#include "text/tokenizer_int.h"

/* ftfy's segment length bound (TextFixerConfig.max_decode_length). */
#define FTFY_MAX_SEGMENT 1000000
/* fix_and_explain loops until nothing changes. Each pass over "&amp;amp;amp;..." undoes one
 * level, so Python's loop is unbounded (quadratic in the length). oclip bounds the work: at most
 * max(FTFY_MIN_PASSES, FTFY_PASS_BUDGET / length) passes per segment, which is exact for every
 * text that needs fewer (real text needs 1 to 3; a 1,000-character segment may take 16,000). */
#define FTFY_MIN_PASSES 64
#define FTFY_PASS_BUDGET ((size_t)1 << 24)

static bool is_ascii_alnum(uint32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_ascii_hex(uint32_t c) {
    return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* =============================================================================================
 * Entity tables
 */

/* Binary search of a table sorted by name bytes; `name` is ASCII (a key with another character
 * cannot be in the table, the caller checks). */
static const char *entity_find(const struct oc_entity *tab, size_t n, const char *name) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, tab[mid].name);
        if (cmp == 0) return tab[mid].value;
        if (cmp < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* Appends the UTF-8 string `v` (from the generated tables: valid) as code points. */
static bool append_utf8(oc_text *out, const char *v) {
    return oc_utf8_decode((const uint8_t *)v, strlen(v), out);
}

/* Python html._replace_charref for a numeric reference whose value is `num` (saturated: any
 * value past 0x10FFFF behaves the same). Appends the replacement. */
static bool append_charref(oc_text *out, uint64_t num) {
    for (size_t i = 0; i < oc_html_charref_remap_n; i++)
        if (oc_html_charref_remap[i][0] == num)
            return oc_text_push(out, oc_html_charref_remap[i][1]);
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return oc_text_push(out, 0xFFFD);
    for (size_t i = 0; i < oc_html_invalid_codepoints_n; i++)
        if (oc_html_invalid_codepoints[i] == num) return true; /* the reference vanishes */
    return oc_text_push(out, (uint32_t)num);
}

/* Parses the digits of a numeric reference, saturating at 0x110000 (Python's int has no bound;
 * past 4300 decimal digits it even raises, which makes OpenCLIP fail: oclip gives U+FFFD). */
static uint64_t parse_num(const uint32_t *s, size_t n, int base) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        unsigned d = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
        v = v * (uint64_t)base + d;
        if (v > 0x110000) v = 0x110000;
    }
    return v;
}

/* =============================================================================================
 * html.unescape (Python 3.11 html/__init__.py)
 *
 *   _charref = re.compile(r'&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)')
 *
 * Named references: the exact name (with or without ';') from html.entities.html5, else the
 * longest prefix of at least 2 characters that is a name (only the semicolon-less legacy
 * names can match as a prefix), followed by the rest; else the text stays.
 */
static bool html_name_char(uint32_t c) {
    return !(c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
             c == '#' || c == ';');
}

/* One reference starting at s[0] == '&'. Appends its replacement to out and returns the code
 * points consumed, or 0 when nothing matches (the '&' is then literal). */
static size_t html_charref(const uint32_t *s, size_t n, oc_text *out, bool *ok) {
    size_t i = 1;
    if (i < n && s[i] == '#') {
        i++;
        int base = 10;
        if (i < n && (s[i] == 'x' || s[i] == 'X') && i + 1 < n && is_ascii_hex(s[i + 1])) {
            base = 16;
            i++;
        } else if (!(i < n && is_ascii_digit(s[i]))) {
            return 0;
        }
        size_t d0 = i;
        while (i < n && (base == 16 ? is_ascii_hex(s[i]) : is_ascii_digit(s[i]))) i++;
        uint64_t num = parse_num(s + d0, i - d0, base);
        if (i < n && s[i] == ';') i++;
        *ok = append_charref(out, num);
        return i;
    }
    size_t len = 0;
    while (len < 32 && i + len < n && html_name_char(s[i + len])) len++;
    if (len == 0) return 0;
    size_t end = i + len;
    if (end < n && s[end] == ';') end++;
    /* the name as ASCII; a non-ASCII character ends the part that could be a table key */
    size_t nlen = end - 1, ascii = 0;
    char name[40];
    while (ascii < nlen && s[1 + ascii] < 0x80) {
        name[ascii] = (char)s[1 + ascii];
        ascii++;
    }
    const char *v = NULL;
    size_t used = 0;
    if (ascii == nlen) {
        name[nlen] = '\0';
        v = entity_find(oc_html5_entities, oc_html5_entities_n, name);
        used = nlen;
    }
    /* longest prefix s[:x], x from len(s)-1 down to 2 */
    for (size_t x = nlen - 1; !v && x >= 2; x--) {
        if (x > ascii) continue;
        name[x] = '\0';
        v = entity_find(oc_html5_entities, oc_html5_entities_n, name);
        used = x;
    }
    if (!v) { /* '&' + s: unchanged */
        *ok = oc_text_append(out, s, end);
        return end;
    }
    *ok = append_utf8(out, v) && oc_text_append(out, s + 1 + used, nlen - used);
    return end;
}

bool oc_html_unescape(oc_text *t) {
    size_t i = 0;
    while (i < t->n && t->p[i] != '&') i++;
    if (i == t->n) return true; /* if '&' not in s: return s */
    oc_text out = {0};
    if (!oc_text_append(&out, t->p, i)) return false;
    while (i < t->n) {
        if (t->p[i] == '&') {
            bool ok = true;
            size_t k = html_charref(t->p + i, t->n - i, &out, &ok);
            if (!ok) goto fail;
            if (k) {
                i += k;
                continue;
            }
        }
        if (!oc_text_push(&out, t->p[i++])) goto fail;
    }
    oc_text_free(t);
    *t = out;
    return true;
fail:
    oc_text_free(&out);
    return false;
}

/* =============================================================================================
 * ftfy fixers. Each reads `in` and writes `out` (emptied first); returns false when out of
 * memory.
 */

/* fixes.unescape_html: HTML_ENTITY_RE = r"&#?[0-9A-Za-z]{1,24};". A match found in
 * chardata.HTML_ENTITIES is replaced; one starting with "&#" is passed through html.unescape
 * and kept only if that consumed the ';'; anything else stays. */
static bool fx_unescape_html(const oc_text *in, oc_text *out) {
    const uint32_t *s = in->p;
    size_t n = in->n;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            size_t j = i + 1;
            bool hash = j < n && s[j] == '#';
            if (hash) j++;
            size_t a = j;
            while (j < n && j - a < 25 && is_ascii_alnum(s[j])) j++;
            if (j - a >= 1 && j - a <= 24 && j < n && s[j] == ';') {
                size_t end = j + 1; /* the match is s[i, end) */
                char key[32];
                size_t k = 0;
                for (size_t q = i + 1; q < end; q++) key[k++] = (char)s[q];
                key[k] = '\0';
                const char *v = entity_find(oc_ftfy_entities, oc_ftfy_entities_n, key);
                if (v) {
                    if (!append_utf8(out, v)) return false;
                    i = end;
                    continue;
                }
                if (hash) {
                    oc_text u = {0};
                    if (!oc_text_append(&u, s + i, end - i) || !oc_html_unescape(&u)) {
                        oc_text_free(&u);
                        return false;
                    }
                    bool semi = false;
                    for (size_t q = 0; q < u.n; q++) semi |= u.p[q] == ';';
                    bool ok = semi ? oc_text_append(out, s + i, end - i)
                                   : oc_text_append(out, u.p, u.n);
                    oc_text_free(&u);
                    if (!ok) return false;
                    i = end;
                    continue;
                }
            }
        }
        if (!oc_text_push(out, s[i++])) return false;
    }
    return true;
}

/* ftfy chardata.LIGATURES (ftfy's choice of ligatures, not a Unicode property: æ, œ are kept). */
static const struct {
    uint32_t from;
    uint32_t to[3];
} ligatures[] = {
    {0x0132, {'I', 'J'}},        {0x0133, {'i', 'j'}},        {0x0149, {0x02BC, 'n'}},
    {0x01C4, {'D', 0x017D}},     {0x01C5, {'D', 0x017E}},     {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}},        {0x01C8, {'L', 'j'}},        {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}},        {0x01CB, {'N', 'j'}},        {0x01CC, {'n', 'j'}},
    {0x01F1, {'D', 'Z'}},        {0x01F2, {'D', 'z'}},        {0x01F3, {'d', 'z'}},
    {0xFB00, {'f', 'f'}},        {0xFB01, {'f', 'i'}},        {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}},   {0xFB04, {'f', 'f', 'l'}},   {0xFB05, {0x017F, 't'}},
    {0xFB06, {'s', 't'}},
};

/* ftfy chardata.WIDTH_MAP: U+3000 -> ' ', and U+FF01..U+FFEF -> NFKC when that differs.
 * Built once from utf8proc (fx_tables_init). Each value is at most 3 code points. */
#define WIDTH_LO 0xFF01
#define WIDTH_HI 0xFFEF
static uint32_t width_map[WIDTH_HI - WIDTH_LO + 1][4]; /* [0] = count */
static pthread_once_t width_once = PTHREAD_ONCE_INIT;

static void width_init(void) {
    for (uint32_t c = WIDTH_LO; c <= WIDTH_HI; c++) {
        uint8_t buf[4];
        size_t len = oc_utf8_put(c, buf);
        utf8proc_uint8_t *nf = NULL;
        utf8proc_ssize_t r = utf8proc_map(buf, (utf8proc_ssize_t)len, &nf,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
        uint32_t *e = width_map[c - WIDTH_LO];
        e[0] = 0;
        if (r > 0) {
            oc_text t = {0};
            if (oc_utf8_decode(nf, (size_t)r, &t) && t.n <= 3 && !(t.n == 1 && t.p[0] == c)) {
                e[0] = (uint32_t)t.n;
                memcpy(e + 1, t.p, t.n * sizeof *t.p);
            }
            oc_text_free(&t);
        }
        free(nf);
    }
}

/* The character-level fixers that map one code point to a fixed string: C1 controls,
 * ligatures, width, quotes. One pass each, in ftfy's order. */
static bool fx_c1(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (!oc_text_push(out, oc_ftfy_c1(c))) return false;
    }
    return true;
}

static bool fx_ligatures(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if ((c >= 0x0132 && c <= 0x01F3) || (c >= 0xFB00 && c <= 0xFB06)) {
            size_t k = 0;
            while (k < sizeof ligatures / sizeof *ligatures && ligatures[k].from != c) k++;
            if (k < sizeof ligatures / sizeof *ligatures) {
                for (int q = 0; q < 3 && ligatures[k].to[q]; q++)
                    if (!oc_text_push(out, ligatures[k].to[q])) return false;
                continue;
            }
        }
        if (!oc_text_push(out, c)) return false;
    }
    return true;
}

static bool fx_width(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c == 0x3000) c = ' ';
        else if (c >= WIDTH_LO && c <= WIDTH_HI && width_map[c - WIDTH_LO][0]) {
            const uint32_t *e = width_map[c - WIDTH_LO];
            if (!oc_text_append(out, e + 1, e[0])) return false;
            continue;
        }
        if (!oc_text_push(out, c)) return false;
    }
    return true;
}

static bool fx_quotes(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
        else if (c >= 0x201C && c <= 0x201F) c = '"';
        if (!oc_text_push(out, c)) return false;
    }
    return true;
}

static bool fx_line_breaks(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->p[i];
        if (c == '\r') {
            if (i + 1 < in->n && in->p[i + 1] == '\n') i++; /* "\r\n" -> "\n" */
            c = '\n';
        } else if (c == 0x2028 || c == 0x2029 || c == 0x0085) {
            c = '\n';
        }
        if (!oc_text_push(out, c)) return false;
    }
    return true;
}

/* Python re's \d on str: a Unicode decimal digit (category Nd). */
static bool is_nd(uint32_t c) {
    if (c < 0x80) return is_ascii_digit(c);
    return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND;
}

/* ANSI_RE = "\033\[((?:\d|;)*)([a-zA-Z])" */
static bool fx_terminal_escapes(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        if (in->p[i] == 0x1B && i + 1 < in->n && in->p[i + 1] == '[') {
            size_t j = i + 2;
            while (j < in->n && (in->p[j] == ';' || is_nd(in->p[j]))) j++;
            uint32_t c = j < in->n ? in->p[j] : 0;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                i = j + 1;
                continue;
            }
        }
        if (!oc_text_push(out, in->p[i++])) return false;
    }
    return true;
}

/* chardata.CONTROL_CHARS: C0 controls except \t \n \f \r, DEL, the deprecated format
 * characters U+206A..U+206F, the BOM U+FEFF and the interlinear annotations U+FFF9..U+FFFC. */
static bool is_ftfy_control(uint32_t c) {
    return (c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
           (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

static bool fx_control_chars(const oc_text *in, oc_text *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++)
        if (!is_ftfy_control(in->p[i]) && !oc_text_push(out, in->p[i])) return false;
    return true;
}

/* =============================================================================================
 * NFC
 */
bool oc_nfc(oc_text *t) {
    /* Text below U+0300 is already NFC: no combining marks, no singleton decompositions, and
     * every precomposed letter there is its own NFC form. Skips utf8proc for typical prompts. */
    size_t i = 0;
    while (i < t->n && t->p[i] < 0x300) i++;
    if (i == t->n) return true;
    /* utf8proc normalises UTF-8: encode, map, decode. */
    uint64_t bytes;
    if (oc_mul_overflow_u64(t->n, 4, &bytes) || bytes > (uint64_t)PTRDIFF_MAX) return false;
    uint8_t *buf = malloc((size_t)bytes + 1);
    if (!buf) return false;
    size_t len = 0;
    for (i = 0; i < t->n; i++) len += oc_utf8_put(t->p[i], buf + len);
    utf8proc_uint8_t *nf = NULL;
    utf8proc_ssize_t r = utf8proc_map(buf, (utf8proc_ssize_t)len, &nf,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    free(buf);
    if (r < 0) return false;
    t->n = 0;
    bool ok = oc_utf8_decode(nf, (size_t)r, t);
    free(nf);
    return ok;
}

/* =============================================================================================
 * fix_text
 */

/* A segment that only holds printable ASCII other than '&', and \t \n \f, is left unchanged
 * by every step: the common case, answered without copying. */
static bool inert(const uint32_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (!((c >= 0x20 && c < 0x7F && c != '&') || c == '\t' || c == '\n' || c == '\f'))
            return false;
    }
    return true;
}

static bool same(const oc_text *a, const oc_text *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->p, b->p, a->n * sizeof *a->p));
}

/* ftfy fix_and_explain on one segment (cur), with `unescape` as the config says. */
static bool fix_segment(oc_text *cur, bool unescape) {
    oc_text orig = {0}, tmp = {0};
    bool ok = false;
    size_t max_passes = FTFY_PASS_BUDGET / (cur->n + 1);
    if (max_passes < FTFY_MIN_PASSES) max_passes = FTFY_MIN_PASSES;
    for (size_t pass = 0; pass < max_passes; pass++) {
        orig.n = 0;
        if (!oc_text_append(&orig, cur->p, cur->n)) goto done;
        /* each fixer writes tmp from cur, then the two swap buffers: cur holds the latest */
        oc_text *a = cur, *b = &tmp;
#define STEP(fn)                                                                                   \
    do {                                                                                           \
        if (!fn(a, b)) goto done;                                                                  \
        oc_text sw = *a;                                                                           \
        *a = *b;                                                                                   \
        *b = sw;                                                                                   \
    } while (0)
        if (unescape) STEP(fx_unescape_html);
        if (!oc_ftfy_fix_encoding(cur)) goto done;
        STEP(fx_c1);
        STEP(fx_ligatures);
        STEP(fx_width);
        STEP(fx_quotes);
        STEP(fx_line_breaks);
        STEP(fx_terminal_escapes);
        STEP(fx_control_chars);
#undef STEP
        if (!oc_nfc(cur)) goto done;
        if (same(cur, &orig)) break;
    }
    ok = true;
done:
    oc_text_free(&orig);
    oc_text_free(&tmp);
    return ok;
}

bool oc_ftfy_fix_text(oc_text *t) {
    if (inert(t->p, t->n)) return true;
    pthread_once(&width_once, width_init);
    oc_text out = {0}, seg = {0};
    bool unescape = true; /* "auto" until a segment holds '<'; then off for good */
    size_t pos = 0;
    while (pos < t->n) {
        size_t end = pos;
        while (end < t->n && end - pos < FTFY_MAX_SEGMENT && t->p[end] != '\n') end++;
        if (end < t->n && end - pos < FTFY_MAX_SEGMENT) end++; /* the '\n' belongs to it */
        const uint32_t *s = t->p + pos;
        size_t n = end - pos;
        for (size_t i = 0; i < n && unescape; i++) unescape = s[i] != '<';
        if (inert(s, n)) {
            if (!oc_text_append(&out, s, n)) goto fail;
        } else {
            seg.n = 0;
            if (!oc_text_append(&seg, s, n) || !fix_segment(&seg, unescape) ||
                !oc_text_append(&out, seg.p, seg.n))
                goto fail;
        }
        pos = end;
    }
    oc_text_free(&seg);
    oc_text_free(t);
    *t = out;
    return true;
fail:
    oc_text_free(&seg);
    oc_text_free(&out);
    return false;
}
