/*
 * tokenizer_int.h — declarations shared by the tokenizer's source files (tokenizer.c, ftfy.c).
 * Not installed.
 *
 * Text is handled as arrays of code points (oc_text), because every step being reproduced is
 * defined on Python `str`, which indexes code points: "split after each \n", "segments of
 * 1,000,000 characters", "32 characters of an entity name" all count code points.
 */
#ifndef OCLIP_TOKENIZER_INT_H
#define OCLIP_TOKENIZER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A growable array of code points. Zero-initialise; free with oc_text_free. */
typedef struct {
    uint32_t *p;
    size_t n, cap;
} oc_text;

void oc_text_free(oc_text *t);
bool oc_text_reserve(oc_text *t, size_t extra); /* room for n + extra; false when out of memory */
static inline bool oc_text_push(oc_text *t, uint32_t c) {
    if (t->n == t->cap && !oc_text_reserve(t, 1)) return false;
    t->p[t->n++] = c;
    return true;
}
bool oc_text_append(oc_text *t, const uint32_t *s, size_t n);

/* One step of UTF-8 decoding at s[0] (n >= 1): the bytes consumed, *c the code point, or
 * U+FFFD with *valid = false for a maximal ill-formed subpart. */
size_t oc_utf8_next(const uint8_t *s, size_t n, uint32_t *c, bool *valid);
/* Decodes UTF-8 as Python's bytes.decode('utf-8', errors='replace') does: each maximal
 * ill-formed subpart becomes one U+FFFD (so do encoded surrogates and overlongs). */
bool oc_utf8_decode(const uint8_t *s, size_t n, oc_text *out);
/* Writes the UTF-8 form of c (< 0x110000) to buf; returns its length (1..4). */
size_t oc_utf8_put(uint32_t c, uint8_t buf[4]);

/* Python str.isspace(): general category Zs or bidirectional class WS, B or S. */
bool oc_py_isspace(uint32_t c);

/* Python str.lower(), in place (tokenizer.c). */
bool oc_py_lower(oc_text *t);
/* What the pre-tokenizer pattern does with c alone: 0 skips it (whitespace, U+0345), 1 letter
 * run, 2 single number, 3 run of other characters. */
int oc_tok_class(uint32_t c);

/* ftfy.fix_text(text) with ftfy 6.3's default configuration, in place (ftfy.c). */
bool oc_ftfy_fix_text(oc_text *t);
/* ftfy.fix_encoding(text): mojibake repair, in place (ftfy_encoding.c). */
bool oc_ftfy_fix_encoding(oc_text *t);
/* U+0080..U+009F read as Windows-1252, its 5 undefined bytes kept ("sloppy-windows-1252",
 * fixes.fix_c1_controls); other characters unchanged. */
uint32_t oc_ftfy_c1(uint32_t c);
/* ftfy.badness.is_bad(text). */
bool oc_ftfy_is_bad(const uint32_t *s, size_t n);
/* For the tests: bit k set when c is in the k-th of ftfy's character classes (the 14
 * badness.MOJIBAKE_CATEGORIES in their order, then the 5 chardata.UTF8_CLUES). */
uint32_t oc_ftfy_class_bits(uint32_t c);
/* Python html.unescape(text), in place. */
bool oc_html_unescape(oc_text *t);
/* unicodedata.normalize('NFC', text) through utf8proc, in place. */
bool oc_nfc(oc_text *t);

#endif /* OCLIP_TOKENIZER_INT_H */
