/*
 * ftfy_encoding.c — ftfy's mojibake repair (ftfy 6.3 `fix_encoding`), which ftfy.fix_text runs
 * on every segment right after its HTML step: text that was UTF-8 decoded in a single-byte
 * encoding ("cafÃ©") is re-encoded and decoded again ("café").
 *
 * One step (ftfy __init__.py _fix_encoding_one_step_and_explain), repeated until nothing changes:
 *   1. ASCII-only text, or text in which the "badness" expression (badness.BADNESS_RE) finds no
 *      typical mojibake sequence, is left alone.
 *   2. For each encoding of chardata.CHARMAP_ENCODINGS in order that can represent every
 *      character: encode; optionally restore bytes 0xA0 that became spaces (restore_byte_a0)
 *      and, for the "sloppy" codecs, turn lossy sequences into U+FFFD (replace_lossy_sequences);
 *      decode as strict UTF-8 (ftfy's "utf-8-variants" when a 0xED or 0xC0 byte is present,
 *      which also accepts CESU-8 surrogate pairs and C0 80). The first that decodes wins.
 *   3. Otherwise, pieces that look like UTF-8 mojibake (chardata.UTF8_DETECTOR_RE) and are bad
 *      by themselves are fixed one by one (decode_inconsistent_utf8).
 *   4. Otherwise Latin-1 text is read as Windows-1252, or C1 controls are fixed.
 *
 * The character classes below are ftfy's heuristics (badness.MOJIBAKE_CATEGORIES and
 * chardata.UTF8_CLUES), copied verbatim from ftfy 6.3.1 (MIT license) with the ranges as ftfy
 * writes them; tests/test_tokenizer.c checks them against the installed ftfy for every code
 * point. The regular expressions are written out as fixed-length sequences of those classes.
 * The single-byte decoding tables come from Python's codecs (src/text/text_data.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uchar.h>
#include <utf8proc.h>

#include "text/text_data.h"
#include "text/tokenizer_int.h"

/* chardata.CHARMAP_ENCODINGS indices (the order of oc_ftfy_charmaps) */
enum { ENC_LATIN1 = 0, ENC_SLOPPY_FIRST = 1, ENC_SLOPPY_LAST = 6, ENC_MACROMAN = 8, N_ENC = 10 };

/* fix_encoding loops until the text stops changing; bounded like ftfy.c's pass loop. */
#define MAX_STEPS 1000
/* decode_inconsistent_utf8 calls fix_encoding on shorter pieces; bounded recursion. */
#define MAX_DEPTH 32

/* =============================================================================================
 * Character classes
 */
enum {
    C_COMMON, C_C1, C_BAD, C_LAW, C_CURRENCY, C_START, C_END, C_NUMERIC, C_KAOMOJI, C_UPPER_ACC,
    C_LOWER_ACC, C_UPPER_COMMON, C_LOWER_COMMON, C_BOX, /* badness.MOJIBAKE_CATEGORIES */
    C_FIRST2, C_FIRST3, C_FIRST4, C_CONT, C_CONT_STRICT, /* chardata.UTF8_CLUES */
    N_CLASSES
};

static const char32_t *const class_text[N_CLASSES] = {
    /* common */
        U"\u00a0\u00ad\u00b7\u00b4\u2013\u2014\u2015\u2026\u2019",
    /* c1 */
        U"\x80-\x9f",
    /* bad */
        U"\u00a6\u00a4\u00a8\u00ac\u00af\u00b8\u0192\u02c6\u02c7\u02d8\u02db\u02dc\u2020\u2021"
        U"\u2030\u2310\u25ca\ufffd\u00aa\u00ba",
    /* law */
        U"\u00b6\u00a7",
    /* currency */
        U"\u00a2\u00a3\u00a5\u20a7\u20ac",
    /* start_punctuation */
        U"\u00a1\u00ab\u00bf\u00a9\u0384\u0385\u2018\u201a\u201c\u201e\u2022\u2039\uf8ff",
    /* end_punctuation */
        U"\u00ae\u00bb\u02dd\u201d\u203a\u2122",
    /* numeric */
        U"\u00b2\u00b3\u00b9\u00b1\u00bc\u00bd\u00be\u00d7\u00b5\u00f7\u2044\u2202\u2206\u220f"
        U"\u2211\u221a\u221e\u2229\u222b\u2248\u2260\u2261\u2264\u2265\u2116",
    /* kaomoji */
        U"\u00d2-\u00d6\u00d9-\u00dc\u00f2-\u00f6\u00f8-\u00fc\u0150\u014c\u016a\u0172\u00b0",
    /* upper_accented */
        U"\u00c0-\u00d1\u00d8\u00dc\u00dd\u0102\u0100\u0104\u0106\u010c\u010e\u0110\u0118\u011a"
        U"\u0112\u0116\u011e\u0122\u0130\u012a\u0136\u0139\u013d\u0141\u013b\u0143\u0147\u0145"
        U"\u0152\u0158\u015a\u015e\u0160\u0162\u0164\u016e\u0170\u0178\u0179\u017b\u017d\u0490",
    /* lower_accented */
        U"\u00df\u00e0-\u00f1\u0103\u0105\u0101\u0107\u010d\u010f\u0111\u0119\u011b\u0113\u0117"
        U"\u011f\u0123\u012f\u012b\u0137\u013a\u013e\u0142\u013c\u0153\u0155\u015b\u015f\u0161"
        U"\u0165\u00fc\u017a\u017c\u017e\u0491\ufb01\ufb02",
    /* upper_common */
        U"\u00de\u0391-\u03a9\u0386\u0388\u0389\u038a\u038c\u038e\u038f\u03aa\u03ab\u0401-"
        U"\u042f",
    /* lower_common */
        U"\u03b1-\u03c9\u03ac\u03ad\u03ae\u03af\u03b0\u0430-\u045f",
    /* box */
        U"\u2502\u250c\u2510\u2518\u251c\u2524\u252c\u253c\u2550-\u256c\u2580\u2584\u2588\u258c"
        U"\u2590\u2591\u2592\u2593",
    /* utf8_first_of_2 */
        U"\u0102\u00c2\u00c4\u0100\u00c5\u00c3\u00c6\u0106\u010c\u00c7\u010e\u0110\u00c9\u011a"
        U"\u00ca\u00cb\u0116\u00c8\u0112\u0118\u00d0\u011e\u0122\u00cd\u00ce\u00cf\u0130\u00cc"
        U"\u012a\u0136\u0139\u013b\u0141\u0143\u0147\u0145\u00d1\u00d3\u00d4\u00d6\u0150\u00d2"
        U"\u014c\u00d8\u00d5\u0158\u015a\u0160\u015e\u0162\u00de\u00da\u00db\u00dc\u0170\u00d9"
        U"\u016a\u0172\u016e\u00dd\u0179\u017d\u017b\u00df\u00d7\u0392\u0393\u0394\u0395\u0396"
        U"\u0397\u0398\u0399\u039a\u039b\u039c\u039d\u039e\u039f\u03a0\u03a1\u03a3\u03a4\u03a5"
        U"\u03a6\u03a7\u03a8\u03a9\u03aa\u03ab\u03ac\u03ad\u03ae\u03af\u0412\u0413\u0414\u0415"
        U"\u0416\u0417\u0418\u0419\u041a\u041b\u041c\u041d\u041e\u041f\u0420\u0421\u0422\u0423"
        U"\u0424\u0425\u0426\u0427\u0428\u0429\u042a\u042b\u042c\u042d\u042e\u042f",
    /* utf8_first_of_3 */
        U"\u00e1\u0103\u00e2\u00e4\u00e0\u0101\u0105\u00e5\u00e3\u00e6\u0107\u010d\u00e7\u010f"
        U"\u00e9\u011b\u00ea\u00eb\u0117\u00e8\u0113\u0119\u0119\u0123\u00ed\u00ee\u00ef\u00ec"
        U"\u012b\u012f\u0137\u013a\u013c\u0155\u017a\u03b0\u03b1\u03b2\u03b3\u03b4\u03b5\u03b6"
        U"\u03b7\u03b8\u03b9\u03ba\u03bb\u03bc\u03bd\u03be\u03bf\u0430\u0431\u0432\u0433\u0434"
        U"\u0435\u0436\u0437\u0438\u0439\u043a\u043b\u043c\u043d\u043e\u043f",
    /* utf8_first_of_4 */
        U"\u0111\u00f0\u011f\u00f3\u0161\u03c0\u03c3\u0440\u0443",
    /* utf8_continuation */
        U"\x80-\u00bf\x20\u0104\u00c6\u013d\u0141\u00d8\u0156\u015a\u0160\u015e\u0164\u0178"
        U"\u0179\u017d\u017b\u0152\u0105\u00e6\u0192\u013e\u0142\u00f8\u0157\u015b\u0161\u015f"
        U"\u0165\u017a\u017e\u017c\u0153\u02c6\u02c7\u02d8\u02db\u02dc\u02dd\u0384\u0385\u0386"
        U"\u0388\u0389\u038a\u038c\u038e\u038f\u0401\u0402\u0403\u0404\u0405\u0406\u0407\u0408"
        U"\u0409\u040a\u040b\u040c\u040e\u040f\u0451\u0452\u0453\u0454\u0455\u0456\u0457\u0458"
        U"\u0459\u045a\u045b\u045c\u045e\u045f\u0490\u0491\u2013\u2014\u2015\u2018\u2019\u201a"
        U"\u201c\u201d\u201e\u2020\u2021\u2022\u2026\u2030\u2039\u203a\u20ac\u2116\u2122",
    /* utf8_continuation_strict */
        U"\x80-\u00bf\u0104\u00c6\u013d\u0141\u00d8\u0156\u015a\u0160\u015e\u0164\u0178\u0179"
        U"\u017d\u017b\u0152\u0105\u00e6\u0192\u013e\u0142\u00f8\u0157\u015b\u0161\u015f\u0165"
        U"\u017a\u017e\u017c\u0153\u02c6\u02c7\u02d8\u02db\u02dc\u02dd\u0384\u0385\u0386\u0388"
        U"\u0389\u038a\u038c\u038e\u038f\u0401\u0402\u0403\u0404\u0405\u0406\u0407\u0408\u0409"
        U"\u040a\u040b\u040c\u040e\u040f\u0451\u0452\u0453\u0454\u0455\u0456\u0457\u0458\u0459"
        U"\u045a\u045b\u045c\u045e\u045f\u0490\u0491\u2020\u2021\u2030\u2039\u203a\u20ac\u2116"
        U"\u2122",
};

/* Code point -> class bits, for the few hundred characters in any class: sorted pairs. */
typedef struct {
    uint32_t c, bits;
} class_entry;
static class_entry *class_tab;
static size_t class_n;
static uint32_t class_low[256]; /* direct table below U+0100 */
/* Encoders: for each encoding, (code point, byte) pairs sorted by code point. */
typedef struct {
    uint16_t c;
    uint8_t byte;
} enc_entry;
static enc_entry enc_tab[N_ENC][256];
static bool init_ok;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int cmp_class(const void *a, const void *b) {
    uint32_t x = ((const class_entry *)a)->c, y = ((const class_entry *)b)->c;
    return x < y ? -1 : x > y;
}
static int cmp_enc(const void *a, const void *b) {
    const enc_entry *x = a, *y = b;
    if (x->c != y->c) return x->c < y->c ? -1 : 1;
    return x->byte < y->byte ? -1 : x->byte > y->byte; /* Python's charmap_build keeps ... */
}

static bool badness_index_init(void);
static void byte_patterns_init(void);

static void init_tables(void) {
    /* expand "a-b" ranges as Python's re does inside a character class */
    size_t cap = 0;
    for (int k = 0; k < N_CLASSES; k++) {
        const char32_t *s = class_text[k];
        for (size_t i = 0; s[i]; i++) {
            uint32_t lo = s[i], hi = s[i];
            if (s[i + 1] == '-' && s[i + 2]) hi = s[i + 2], i += 2;
            for (uint32_t c = lo; c <= hi; c++) {
                if (c < 256) {
                    class_low[c] |= 1u << k;
                    continue;
                }
                size_t j = 0;
                while (j < class_n && class_tab[j].c != c) j++;
                if (j == class_n) {
                    if (class_n == cap) {
                        cap = cap ? 2 * cap : 512;
                        class_entry *p = realloc(class_tab, cap * sizeof *p);
                        if (!p) return;
                        class_tab = p;
                    }
                    class_tab[class_n].c = c;
                    class_tab[class_n++].bits = 0;
                }
                class_tab[j].bits |= 1u << k;
            }
        }
    }
    qsort(class_tab, class_n, sizeof *class_tab, cmp_class);
    for (int e = 0; e < N_ENC; e++) {
        for (int b = 0; b < 256; b++) {
            enc_tab[e][b].c = oc_ftfy_charmaps[e][b];
            enc_tab[e][b].byte = (uint8_t)b;
        }
        qsort(enc_tab[e], 256, sizeof **enc_tab, cmp_enc);
    }
    byte_patterns_init();
    init_ok = badness_index_init();
}

static uint32_t class_bits(uint32_t c) {
    if (c < 256) return class_low[c];
    size_t lo = 0, hi = class_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (class_tab[mid].c == c) return class_tab[mid].bits;
        if (class_tab[mid].c < c) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* Exposed for the tests: the class bits of c, in the order of class_text. */
uint32_t oc_ftfy_class_bits(uint32_t c) {
    pthread_once(&init_once, init_tables);
    return init_ok ? class_bits(c) : 0;
}

/* =============================================================================================
 * badness.BADNESS_RE, as a list of fixed-length alternatives. Each position is a set: class
 * bits, extra characters, and one of the few generic tests the expression uses.
 */
enum { G_NONE, G_SPACE, G_WORD, G_AZ, G_AZAZ, G_NOT_AZAZ, G_NOT_NL };

typedef struct {
    uint32_t bits;
    const char32_t *extra; /* more members (NULL: none) */
    int generic;
} cset;

typedef struct {
    int len;
    bool anchored; /* '^': only at the start of the text */
    cset s[5];
} alt;

#define B(x) (1u << C_##x)
/* [{lower_accented}{upper_accented}{box}{start}{end}{currency}{numeric}{law}] and friends */
#define ACCENTED_ETC (B(LOWER_ACC) | B(UPPER_ACC) | B(BOX) | B(START) | B(END) | B(CURRENCY) | \
                      B(NUMERIC) | B(LAW))

static const alt badness[] = {
    {1, 0, {{B(C1), 0, 0}}},
    {2, 0, {{B(BAD) | ACCENTED_ETC, 0, 0}, {B(BAD), 0, 0}}},
    {3, 0, {{0, 0, G_AZAZ}, {B(LOWER_COMMON) | B(UPPER_COMMON), 0, 0}, {B(BAD), 0, 0}}},
    {2, 0, {{B(BAD), 0, 0}, {ACCENTED_ETC, 0, 0}}},
    {2, 0, {{B(LOWER_ACC) | B(LOWER_COMMON) | B(BOX) | B(END) | B(CURRENCY) | B(NUMERIC), 0, 0},
            {B(UPPER_ACC), 0, 0}}},
    {2, 0, {{B(BOX) | B(END) | B(CURRENCY) | B(NUMERIC), 0, 0}, {B(LOWER_ACC), 0, 0}}},
    {2, 0, {{B(LOWER_ACC) | B(BOX) | B(END), 0, 0}, {B(CURRENCY), 0, 0}}},
    {3, 0, {{0, 0, G_SPACE}, {B(UPPER_ACC), 0, 0}, {B(CURRENCY), 0, 0}}},
    {2, 0, {{B(UPPER_ACC) | B(BOX), 0, 0}, {B(NUMERIC) | B(LAW), 0, 0}}},
    {3, 0, {{B(LOWER_ACC) | B(UPPER_ACC) | B(BOX) | B(CURRENCY) | B(END), 0, 0},
            {B(START), 0, 0}, {B(NUMERIC), 0, 0}}},
    {3, 0, {{B(LOWER_ACC) | B(UPPER_ACC) | B(CURRENCY) | B(NUMERIC) | B(BOX) | B(LAW), 0, 0},
            {B(END), 0, 0}, {B(START), 0, 0}}},
    {2, 0, {{B(CURRENCY) | B(NUMERIC) | B(BOX), 0, 0}, {B(START), 0, 0}}},
    {3, 0, {{0, 0, G_AZ}, {B(UPPER_ACC), 0, 0}, {B(START) | B(CURRENCY), 0, 0}}},
    {2, 0, {{B(BOX), 0, 0}, {B(KAOMOJI), 0, 0}}},
    {2, 0, {{B(LOWER_ACC) | B(UPPER_ACC) | B(CURRENCY) | B(NUMERIC) | B(START) | B(END) | B(LAW),
             0, 0},
            {B(BOX), 0, 0}}},
    {2, 0, {{B(BOX), 0, 0}, {B(END), 0, 0}}},
    {3, 0, {{B(LOWER_ACC) | B(UPPER_ACC), 0, 0}, {B(START) | B(END), 0, 0}, {0, 0, G_WORD}}},
    /* the ligature œ when not followed by an unaccented Latin letter */
    {2, 0, {{0, U"\u0152\u0153", 0}, {0, 0, G_NOT_AZAZ}}},
    /* degree signs after capital letters */
    {2, 0, {{B(UPPER_ACC), 0, 0}, {0, U"\u00b0", 0}}},
    /* common Windows-1252 2-character mojibake */
    {2, 0, {{0, U"\u00c2\u00c3\u00ce\u00d0", 0},
            {B(START) | B(END),
             U"\u20ac\u0153\u0160\u0161\u00a2\u00a3\u0178\u017e\u00a0\u00ad\u00ae\u00a9\u00b0"
             U"\u00b7\u00bb\u2013\u2014\u00b4",
             0}}},
    {2, 0, {{0, U"\u00d7", 0}, {0, U"\u00b2\u00b3", 0}}},
    /* Windows-1252 mojibake of Arabic words: four characters */
    {4, 0, {{0, U"\u00d8\u00d9", 0},
            {B(COMMON) | B(CURRENCY) | B(BAD) | B(NUMERIC) | B(START),
             U"\u0178\u0160\u00ae\u00b0\u00b5\u00bb", 0},
            {0, U"\u00d8\u00d9", 0},
            {B(COMMON) | B(CURRENCY) | B(BAD) | B(NUMERIC) | B(START),
             U"\u0178\u0160\u00ae\u00b0\u00b5\u00bb", 0}}},
    /* Windows-1252 mojibake starting 3-byte sequences of South Asian scripts */
    {2, 0, {{0, U"\u00e0", 0}, {0, U"\u00b2\u00b5\u00b9\u00bc\u00bd\u00be", 0}}},
    /* MacRoman mojibake */
    {2, 0, {{0, U"\u221a", 0},
            {0, U"\u00b1\u2202\u2020\u2260\u00ae\u2122\u00b4\u2264\u2265\u00a5\u00b5\u00f8", 0}}},
    {2, 0, {{0, U"\u2248", 0}, {0, U"\u00b0\u00a2", 0}}},
    {3, 0, {{0, U"\u201a", 0}, {0, U"\u00c4", 0},
            {0, U"\u00ec\u00ee\u00ef\u00f2\u00f4\u00fa\u00f9\u00fb\u2020\u00b0\u00a2\u03c0", 0}}},
    {3, 0, {{0, U"\u201a", 0}, {0, U"\u00e2\u00f3", 0}, {0, U"\u00e0\u00e4\u00b0\u00ea", 0}}},
    /* Windows-1251 mojibake of the U+2000 range, of Latin-1 and of Cyrillic */
    {2, 0, {{0, U"\u0432", 0}, {0, U"\u0402", 0}}},
    {3, 0, {{0, U"\u0412\u0413\u0420\u0421", 0},
            {B(C1) | B(BAD) | B(START) | B(END) | B(CURRENCY), U"\u00b0\u00b5", 0},
            {0, U"\u0412\u0413\u0420\u0421", 0}}},
    {5, 0, {{0, U"\u0413", 0}, {0, U"\u045e", 0}, {0, U"\u0412", 0}, {0, U"\u0402", 0},
            {0, U"\u0412", 0}}}, /* followed by .[A-Za-z ]: see is_bad_at */
    /* Windows-1252 encodings of 'à', 'á' and U+00A0 itself */
    {2, 0, {{0, U"\u00c3", 0}, {0, U"\u00a0\u00a1", 0}}},
    {3, 0, {{0, 0, G_AZ}, {0, U"\u00c3\u00c2", 0}, {0, U" ", 0}}},             /* [a-z][ÃÂ][ ] */
    {4, 0, {{0, 0, G_AZ}, {0, 0, G_SPACE}, {0, U"\u00c3\u00c2", 0}, {0, U" ", 0}}}, /* \s */
    {2, 1, {{0, U"\u00c3\u00c2", 0}, {0, U" ", 0}}},
    {3, 0, {{B(END), U".,?!", G_AZ}, {0, U"\u00c2", 0}, {B(START) | B(END), U" ", 0}}},
    /* Windows-1253 mojibake */
    {3, 0, {{0, U"\u03b2", 0}, {0, U"\u20ac", 0},
            {0, U"\u2122\u00a0\u0386\u00ad\u00ae\u00b0", 0}}},
    {3, 0, {{0, U"\u0392\u0393\u039e\u039f", 0},
            {B(C1) | B(BAD) | B(START) | B(END) | B(CURRENCY), U"\u00b0", 0},
            {0, U"\u0392\u0393\u039e\u039f", 0}}},
    /* Windows-1257 mojibake */
    {2, 0, {{0, U"\u0101", 0}, {0, U"\u20ac", 0}}},
};
#define LONG_CYRILLIC 29 /* index of the ГўВЂВ alternative, which needs 2 more characters */

static bool in_extra(const char32_t *e, uint32_t c) {
    if (!e) return false;
    for (; *e; e++)
        if (*e == c) return true;
    return false;
}

/* Python re's \w on str: alphanumeric (categories L*, N*) or '_'. */
static bool py_word(uint32_t c) {
    if (c < 0x80) return (c | 0x20) - 'a' < 26 || c - '0' < 10 || c == '_';
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static bool cset_has(const cset *s, uint32_t c, uint32_t bits) {
    if (s->bits & bits) return true;
    if (in_extra(s->extra, c)) return true;
    switch (s->generic) {
    case G_SPACE: return oc_py_isspace(c);
    case G_WORD: return py_word(c);
    case G_AZ: return c >= 'a' && c <= 'z';
    case G_AZAZ: return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    case G_NOT_AZAZ: return !((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    case G_NOT_NL: return c != '\n';
    default: return false;
    }
}

/* The alternatives whose first set can hold a character, an exact answer below U+0100 and a
 * superset above (each candidate is then matched in full): is_bad tests one character against
 * a few alternatives instead of forty, and looks its class bits up once. */
#define N_BADNESS (sizeof badness / sizeof *badness)
_Static_assert(N_BADNESS <= 64, "one bit per alternative");
typedef struct {
    uint32_t c;
    uint64_t alts;
} extra_first;
static uint64_t first_low[256];           /* alternatives for each c < U+0100 */
static uint64_t first_class[N_CLASSES];   /* ... whose first set holds a class */
static uint64_t first_space, first_other; /* ... whose first set is \s; \w or a negation */
static extra_first first_extra[96];       /* ... listing c >= U+0100: sorted by c */
static size_t first_extra_n;

static int cmp_extra_first(const void *a, const void *b) {
    uint32_t x = ((const extra_first *)a)->c, y = ((const extra_first *)b)->c;
    return x < y ? -1 : x > y;
}

static bool badness_index_init(void) {
    for (size_t a = 0; a < N_BADNESS; a++) {
        const cset *f = &badness[a].s[0];
        uint64_t bit = (uint64_t)1 << a;
        for (uint32_t c = 0; c < 256; c++)
            if (cset_has(f, c, class_low[c])) first_low[c] |= bit;
        for (int k = 0; k < N_CLASSES; k++)
            if (f->bits & (1u << k)) first_class[k] |= bit;
        if (f->generic == G_SPACE) first_space |= bit;
        else if (f->generic == G_WORD || f->generic == G_NOT_AZAZ || f->generic == G_NOT_NL)
            first_other |= bit;
        for (const char32_t *e = f->extra; e && *e; e++) {
            if (*e < 256) continue;
            size_t j = 0;
            while (j < first_extra_n && first_extra[j].c != *e) j++;
            if (j == first_extra_n) {
                if (j == sizeof first_extra / sizeof *first_extra) return false;
                first_extra[first_extra_n++] = (extra_first){*e, 0};
            }
            first_extra[j].alts |= bit;
        }
    }
    qsort(first_extra, first_extra_n, sizeof *first_extra, cmp_extra_first);
    return true;
}

static uint64_t first_alts(uint32_t c) {
    if (c < 256) return first_low[c];
    uint64_t m = first_other | (oc_py_isspace(c) ? first_space : 0);
    for (uint32_t bits = class_bits(c); bits; bits &= bits - 1)
        m |= first_class[__builtin_ctz(bits)];
    size_t lo = 0, hi = first_extra_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (first_extra[mid].c == c) return m | first_extra[mid].alts;
        if (first_extra[mid].c < c) lo = mid + 1;
        else hi = mid;
    }
    return m;
}

/* badness.is_bad: does BADNESS_RE match anywhere? */
static bool is_bad(const uint32_t *s, size_t n) {
    static const cset any_but_nl = {0, 0, G_NOT_NL}, az_space = {0, U" ", G_AZAZ};
    for (size_t i = 0; i < n; i++) {
        for (uint64_t cand = first_alts(s[i]); cand; cand &= cand - 1) {
            size_t a = (size_t)__builtin_ctzll(cand);
            const alt *p = &badness[a];
            if ((p->anchored && i) || (size_t)p->len > n - i) continue;
            int k = 0;
            while (k < p->len && cset_has(&p->s[k], s[i + k], class_bits(s[i + k]))) k++;
            if (k < p->len) continue;
            if (a == LONG_CYRILLIC) { /* ГўВЂВ.[A-Za-z ] */
                if (n - i < 7 || !cset_has(&any_but_nl, s[i + 5], 0) ||
                    !cset_has(&az_space, s[i + 6], 0))
                    continue;
            }
            return true;
        }
    }
    return false;
}

bool oc_ftfy_is_bad(const uint32_t *s, size_t n) {
    pthread_once(&init_once, init_tables);
    return init_ok && is_bad(s, n);
}

/* =============================================================================================
 * Bytes
 */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static bool bytes_push(bytes *b, uint8_t v) {
    if (b->n == b->cap) {
        void *p = b->p;
        if (!oc_grow(&p, &b->cap, b->n + 1, 1)) return false;
        b->p = p;
    }
    b->p[b->n++] = v;
    return true;
}

/* One byte-level pattern position: up to 3 inclusive ranges. */
typedef struct {
    uint8_t r[3][2];
    int nr;
} bset;
typedef struct {
    int len;
    bset e[6];
} bpat;

static bool bset_has(const bset *s, uint8_t v) {
    for (int i = 0; i < s->nr; i++)
        if (v >= s->r[i][0] && v <= s->r[i][1]) return true;
    return false;
}

/* first[v]: the alternatives of a pattern list whose first set holds the byte v. */
static void bpat_first(const bpat *pats, size_t np, uint16_t first[256]) {
    for (size_t a = 0; a < np; a++)
        for (int v = 0; v < 256; v++)
            if (bset_has(&pats[a].e[0], (uint8_t)v)) first[v] |= (uint16_t)(1u << a);
}

/* Length of the first alternative of `pats` matching at b[i], or 0 (`first`: bpat_first). */
static int bmatch(const bpat *pats, const uint16_t first[256], const uint8_t *b, size_t n,
                  size_t i) {
    for (unsigned cand = first[b[i]]; cand; cand &= cand - 1) {
        const bpat *p = &pats[__builtin_ctz(cand)];
        if ((size_t)p->len > n - i) continue;
        int k = 0;
        while (k < p->len && bset_has(&p->e[k], b[i + k])) k++;
        if (k == p->len) return k;
    }
    return 0;
}

#define R1(x) {{{x, x}}, 1}
#define CONT_NOT_85_A0 {{{0x80, 0x84}, {0x86, 0x9F}, {0xA1, 0xBF}}, 3}
#define CONT {{{0x80, 0xBF}}, 1}
/* chardata.ALTERED_UTF8_RE: UTF-8 sequences in which a 0xA0 byte became a space */
static const bpat altered_utf8[] = {
    {2, {{{{0xC2, 0xC3}, {0xC5, 0xC5}, {0xCE, 0xCE}}, 3}, R1(0x20)}},
    {2, {{{{0xD0, 0xD0}, {0xD9, 0xD9}}, 2}, R1(0x20)}},
    {3, {{{{0xE2, 0xE3}}, 1}, R1(0x20), CONT_NOT_85_A0}},
    {3, {{{{0xE0, 0xE3}}, 1}, CONT_NOT_85_A0, R1(0x20)}},
    {4, {R1(0xF0), R1(0x20), CONT, CONT}},
    {4, {R1(0xF0), CONT, R1(0x20), CONT}},
    {4, {R1(0xF0), CONT, CONT, R1(0x20)}},
};
/* chardata.LOSSY_UTF8_RE: UTF-8 sequences with bytes lost to U+FFFD (0x1A here) or '?' */
#define LOST {{{0x1A, 0x1A}, {0x3F, 0x3F}}, 2}
#define LOST_OR_CONT {{{0x1A, 0x1A}, {0x3F, 0x3F}, {0x80, 0xBF}}, 3}
#define SUB_OR_CONT {{{0x1A, 0x1A}, {0x80, 0xBF}}, 2}
static const bpat lossy[] = {
    {2, {{{{0xC2, 0xDF}}, 1}, R1(0x1A)}},
    {2, {{{{0xC2, 0xC3}}, 1}, R1(0x3F)}},
    {6, {R1(0xED), {{{0xA0, 0xAF}}, 1}, LOST, R1(0xED), {{{0xB0, 0xBF}}, 1}, LOST_OR_CONT}},
    {6, {R1(0xED), {{{0xA0, 0xAF}}, 1}, LOST_OR_CONT, R1(0xED), {{{0xB0, 0xBF}}, 1}, LOST}},
    {3, {{{{0xE0, 0xEF}}, 1}, LOST, SUB_OR_CONT}},
    {3, {{{{0xE0, 0xEF}}, 1}, SUB_OR_CONT, LOST}},
    {4, {{{{0xF0, 0xF4}}, 1}, LOST, SUB_OR_CONT, SUB_OR_CONT}},
    {4, {{{{0xF0, 0xF4}}, 1}, SUB_OR_CONT, LOST, SUB_OR_CONT}},
    {4, {{{{0xF0, 0xF4}}, 1}, SUB_OR_CONT, SUB_OR_CONT, LOST}},
    {1, {R1(0x1A)}},
};
_Static_assert(sizeof altered_utf8 / sizeof *altered_utf8 <= 16 &&
                   sizeof lossy / sizeof *lossy <= 16,
               "one bit per alternative");
static uint16_t altered_first[256], lossy_first[256];

static void byte_patterns_init(void) {
    bpat_first(altered_utf8, sizeof altered_utf8 / sizeof *altered_utf8, altered_first);
    bpat_first(lossy, sizeof lossy / sizeof *lossy, lossy_first);
}

/* fixes.restore_byte_a0: first A_GRAVE_WORD_RE (b"\xc3 (?! |quele|quela|quilo|s )" ->
 * b"\xc3\xa0 "), then every ALTERED_UTF8_RE match with its spaces made 0xA0. */
static bool restore_byte_a0(bytes *b) {
    static const char *const keep[] = {" ", "quele", "quela", "quilo", "s "};
    bytes t = {0};
    for (size_t i = 0; i < b->n; i++) {
        bool sub = b->p[i] == 0xC3 && i + 1 < b->n && b->p[i + 1] == ' ';
        for (size_t k = 0; sub && k < 5; k++) {
            size_t l = strlen(keep[k]);
            if (b->n - (i + 2) >= l && !memcmp(b->p + i + 2, keep[k], l)) sub = false;
        }
        if (sub) {
            if (!bytes_push(&t, 0xC3) || !bytes_push(&t, 0xA0) || !bytes_push(&t, ' ')) goto fail;
            i++;
        } else if (!bytes_push(&t, b->p[i])) {
            goto fail;
        }
    }
    b->n = 0;
    for (size_t i = 0; i < t.n;) {
        int k = bmatch(altered_utf8, altered_first, t.p, t.n, i);
        if (!k) k = 1;
        else
            for (int q = 0; q < k; q++)
                if (t.p[i + q] == 0x20) t.p[i + q] = 0xA0;
        for (int q = 0; q < k; q++)
            if (!bytes_push(b, t.p[i + q])) goto fail;
        i += (size_t)k;
    }
    free(t.p);
    return true;
fail:
    free(t.p);
    return false;
}

/* fixes.replace_lossy_sequences: every LOSSY_UTF8_RE match -> U+FFFD (EF BF BD). */
static bool replace_lossy(bytes *b) {
    bytes t = {0};
    for (size_t i = 0; i < b->n;) {
        int k = bmatch(lossy, lossy_first, b->p, b->n, i);
        if (k) {
            if (!bytes_push(&t, 0xEF) || !bytes_push(&t, 0xBF) || !bytes_push(&t, 0xBD)) goto fail;
            i += (size_t)k;
        } else if (!bytes_push(&t, b->p[i++])) {
            goto fail;
        }
    }
    free(b->p);
    *b = t;
    return true;
fail:
    free(t.p);
    return false;
}

/* Strict UTF-8 decoding (bytes.decode('utf-8')), or ftfy's 'utf-8-variants', which also takes
 * C0 80 as U+0000 and CESU-8 surrogate pairs (ED A0..AF xx ED B0..BF xx) as one character.
 * Returns 1 when decoded, 0 when the bytes are not valid, -1 when out of memory. */
static int decode_strict(const uint8_t *s, size_t n, bool variants, oc_text *out) {
    out->n = 0;
    if (!oc_text_reserve(out, n)) return -1;
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        if (b < 0x80) {
            out->p[out->n++] = b;
            i++;
            continue;
        }
        if (variants && b == 0xC0 && i + 1 < n && s[i + 1] == 0x80) {
            out->p[out->n++] = 0;
            i += 2;
            continue;
        }
        if (variants && b == 0xED && n - i >= 6 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xAF &&
            (s[i + 2] & 0xC0) == 0x80 && s[i + 3] == 0xED && s[i + 4] >= 0xB0 &&
            s[i + 4] <= 0xBF && (s[i + 5] & 0xC0) == 0x80) {
            out->p[out->n++] = (((uint32_t)s[i + 1] & 0x0F) << 16) +
                               (((uint32_t)s[i + 2] & 0x3F) << 10) +
                               (((uint32_t)s[i + 4] & 0x0F) << 6) + (s[i + 5] & 0x3F) + 0x10000;
            i += 6;
            continue;
        }
        bool valid;
        uint32_t c;
        size_t len = oc_utf8_next(s + i, n - i, &c, &valid);
        if (!valid) return 0;
        out->p[out->n++] = c;
        i += len;
    }
    return 1;
}

/* =============================================================================================
 * Single-byte encodings
 */

/* The byte that encoding e writes for c, or -1 when c is not representable. chardata's
 * possible_encoding allows exactly the characters of bytes 0x00..0x19, 0x1B..0x7F (the same in
 * every one of these encodings) and of 0x80..0xFF and 0x1A. */
static int enc_byte(int e, uint32_t c) {
    if (c < 0x80 && c != 0x1A) return (int)c;
    if (c > 0xFFFF) return -1;
    size_t lo = 0, hi = 256;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (enc_tab[e][mid].c == c) {
            int b = enc_tab[e][mid].byte;
            return b >= 0x80 || b == 0x1A ? b : -1;
        }
        if (enc_tab[e][mid].c < c) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static bool possible(int e, const oc_text *t) {
    for (size_t i = 0; i < t->n; i++)
        if (enc_byte(e, t->p[i]) < 0) return false;
    return true;
}

/* =============================================================================================
 * chardata.UTF8_DETECTOR_RE and fixes.decode_inconsistent_utf8
 *
 *   (?<![{utf8_continuation_strict}])
 *   ([{first_of_2}][{cont}] | [{first_of_3}][{cont}]{2} | [{first_of_4}][{cont}]{3})+
 */
static size_t detector_at(const uint32_t *s, size_t n, size_t i) {
    if (i > 0 && (class_bits(s[i - 1]) & B(CONT_STRICT))) return 0;
    size_t j = i;
    for (;;) {
        uint32_t b = j < n ? class_bits(s[j]) : 0;
        /* alternatives in order: the first whose continuations are all there */
        static const uint32_t first[3] = {B(FIRST2), B(FIRST3), B(FIRST4)};
        size_t got = 0;
        for (size_t a = 0; a < 3 && !got; a++) {
            if (!(b & first[a]) || n - j < a + 2) continue;
            size_t q = 1;
            while (q <= a + 1 && (class_bits(s[j + q]) & B(CONT))) q++;
            if (q == a + 2) got = a + 2;
        }
        if (!got) break;
        j += got;
    }
    return j - i;
}

static bool fix_encoding(oc_text *t, int depth);

static bool decode_inconsistent_utf8(oc_text *t, int depth) {
    oc_text out = {0}, piece = {0};
    for (size_t i = 0; i < t->n;) {
        size_t k = detector_at(t->p, t->n, i);
        if (!k) {
            if (!oc_text_push(&out, t->p[i++])) goto fail;
            continue;
        }
        piece.n = 0;
        if (!oc_text_append(&piece, t->p + i, k)) goto fail;
        /* only shorter pieces, so that this cannot recurse forever */
        if (k < t->n && is_bad(piece.p, piece.n) && depth < MAX_DEPTH &&
            !fix_encoding(&piece, depth + 1))
            goto fail;
        if (!oc_text_append(&out, piece.p, piece.n)) goto fail;
        i += k;
    }
    oc_text_free(&piece);
    oc_text_free(t);
    *t = out;
    return true;
fail:
    oc_text_free(&piece);
    oc_text_free(&out);
    return false;
}

/* =============================================================================================
 * fix_encoding
 */
static bool same_text(const oc_text *a, const oc_text *b) {
    return a->n == b->n && (!a->n || !memcmp(a->p, b->p, a->n * sizeof *a->p));
}

/* One _fix_encoding_one_step_and_explain. *t is replaced when a step applies. */
static bool one_step(oc_text *t, int depth) {
    bool ascii = true;
    for (size_t i = 0; i < t->n && ascii; i++) ascii = t->p[i] < 0x80;
    if (ascii || !is_bad(t->p, t->n)) return true;

    bool can[N_ENC] = {0};
    bytes b = {0};
    oc_text dec = {0};
    bool ok = false;
    for (int e = 0; e < N_ENC; e++) {
        if (!(can[e] = possible(e, t))) continue;
        b.n = 0;
        for (size_t i = 0; i < t->n; i++)
            if (!bytes_push(&b, (uint8_t)enc_byte(e, t->p[i]))) goto done;
        if (e != ENC_MACROMAN) {
            bool altered = false;
            for (size_t i = 0; i < b.n && !altered; i++)
                altered = bmatch(altered_utf8, altered_first, b.p, b.n, i) != 0;
            if (altered && !restore_byte_a0(&b)) goto done;
        }
        if (e >= ENC_SLOPPY_FIRST && e <= ENC_SLOPPY_LAST && !replace_lossy(&b)) goto done;
        bool variants = memchr(b.p, 0xED, b.n) || memchr(b.p, 0xC0, b.n);
        int r = decode_strict(b.p, b.n, variants, &dec);
        if (r < 0) goto done;
        if (r == 1) {
            oc_text_free(t);
            *t = dec;
            dec = (oc_text){0};
            ok = true;
            goto done;
        }
    }
    /* inconsistent UTF-8: fix the mojibake-looking pieces one by one */
    bool any = false;
    for (size_t i = 0; i < t->n && !any; i++) any = detector_at(t->p, t->n, i) != 0;
    if (any) {
        oc_text f = {0};
        if (!oc_text_append(&f, t->p, t->n) || !decode_inconsistent_utf8(&f, depth)) {
            oc_text_free(&f);
            goto done;
        }
        if (!same_text(&f, t)) {
            oc_text_free(t);
            *t = f;
            ok = true;
            goto done;
        }
        oc_text_free(&f);
    }
    /* ftfy asks whether "windows-1252" was a possible encoding, a name its list never holds
     * (it has "sloppy-windows-1252"), so Latin-1 text is always tried as strict Windows-1252 */
    if (can[ENC_LATIN1]) {
        bool strict = true;
        for (size_t i = 0; i < t->n && strict; i++) {
            uint32_t c = t->p[i];
            strict = !(c == 0x81 || c == 0x8D || c == 0x8F || c == 0x90 || c == 0x9D);
        }
        if (strict) {
            bool changed = false;
            for (size_t i = 0; i < t->n; i++) {
                uint32_t c = t->p[i];
                if (c >= 0x80 && c <= 0x9F) {
                    t->p[i] = oc_ftfy_c1(c);
                    changed = true;
                }
            }
            if (changed) {
                ok = true;
                goto done;
            }
        }
    }
    /* C1 controls as Windows-1252: fix_c1_controls (the same mapping, undefined bytes kept) */
    for (size_t i = 0; i < t->n; i++) t->p[i] = oc_ftfy_c1(t->p[i]);
    ok = true;
done:
    free(b.p);
    oc_text_free(&dec);
    return ok;
}

static bool fix_encoding(oc_text *t, int depth) {
    oc_text prev = {0};
    bool ok = true;
    for (int step = 0; step < MAX_STEPS && ok; step++) {
        prev.n = 0;
        if (!oc_text_append(&prev, t->p, t->n) || !one_step(t, depth)) ok = false;
        else if (same_text(&prev, t)) break;
    }
    oc_text_free(&prev);
    return ok;
}

uint32_t oc_ftfy_c1(uint32_t c) {
    return c >= 0x80 && c <= 0x9F ? oc_ftfy_charmaps[ENC_SLOPPY_FIRST][c] : c;
}

bool oc_ftfy_fix_encoding(oc_text *t) {
    pthread_once(&init_once, init_tables);
    if (!init_ok) return false;
    return fix_encoding(t, 0);
}
