/*
 * fuzz_tokenizer.c — libFuzzer target for the SimpleTokenizer (ftfy-style cleaning, html
 * unescaping, lowercasing, the pre-tokenizer regex and BPE).
 *
 * Input: byte 0 selects the options, the rest is the text (no NUL terminator; copied into an
 * exactly sized buffer so that AddressSanitizer sees where it ends).
 *   bits 0-1  clean mode: 0 lower, 1 whitespace, 2 canonicalize (3 -> lower)
 *   bits 2-3  context length: 1, 5, 77, 77
 *   bits 4-6  size of the small id buffer for oclip_tokenize_ids (0..7)
 *
 * Checks, beyond the sanitizers: the three entry points agree with each other (the row is
 * [SOT] + ids + [EOT] cut and padded as OpenCLIP does; the count asked for with a NULL buffer
 * is the count reported with a short one and a full one; oclip_tokenize_clean reports the same
 * length whatever the buffer, its output is well-formed UTF-8, and a short buffer receives a
 * NUL-terminated prefix cut at a character boundary); every id is in the vocabulary.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t CTX[4] = {1, 5, 77, 77};

static void check_err(oclip_status st, const oclip_error *err) {
    if (err->code != st || err->msg[0] == '\0') abort();
}

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_ok(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return 0;
        if (i + k >= n) return 0; /* bytes i+1 .. i+k must exist */
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF) return 0;
        i += k + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t s = data[0];
    oclip_clean clean = (s & 3) == 3 ? OCLIP_CLEAN_LOWER : (oclip_clean)(s & 3);
    size_t ctx = CTX[(s >> 2) & 3];
    size_t small = (s >> 4) & 7;
    size_t n = size - 1;
    char *text = malloc(n ? n : 1);
    if (!text) abort();
    if (n) memcpy(text, data + 1, n);
    oclip_error err;
    oclip_status st;

    /* oclip_tokenize into an exactly sized row */
    int64_t *row = malloc(ctx * sizeof *row);
    if (!row) abort();
    st = oclip_tokenize(text, n, clean, row, ctx, &err);
    if (st != OCLIP_OK) {
        check_err(st, &err);
        free(row);
        row = NULL;
    } else {
        for (size_t i = 0; i < ctx; i++)
            if (row[i] < 0 || row[i] >= OCLIP_VOCAB_SIZE) abort();
    }

    /* oclip_tokenize_ids: the count alone, then a short buffer, then a full one */
    size_t count = 0, count_small = 0, count_full = 0;
    st = oclip_tokenize_ids(text, n, clean, NULL, 0, &count, &err);
    if (st != OCLIP_OK) {
        check_err(st, &err);
    } else {
        int32_t *ids_small = malloc((small ? small : 1) * sizeof *ids_small);
        int32_t *ids = malloc((count ? count : 1) * sizeof *ids);
        if (!ids_small || !ids) abort();
        oclip_status st2 = oclip_tokenize_ids(text, n, clean, small ? ids_small : NULL, small,
                                              &count_small, &err);
        if (st2 != OCLIP_OK) abort(); /* the same text cannot fail the second time */
        oclip_status st3 = oclip_tokenize_ids(text, n, clean, ids, count, &count_full, &err);
        if (st3 != OCLIP_OK) abort();
        if (count_small != count || count_full != count) abort();
        for (size_t i = 0; i < count; i++) {
            /* "<start_of_text>" / "<end_of_text>" in the text are the special ids, as in OpenCLIP */
            if (ids[i] < 0 || ids[i] >= OCLIP_VOCAB_SIZE) abort();
            if (i < small && ids_small[i] != ids[i]) abort();
        }
        /* the row is OpenCLIP's [SOT] + ids + [EOT], cut (EOT forced last) and zero-padded */
        if (row) {
            size_t len = count + 2;
            for (size_t i = 0; i < ctx; i++) {
                int64_t want;
                if (len > ctx && i == ctx - 1) want = OCLIP_EOT_ID;
                else if (i == 0) want = OCLIP_SOT_ID;
                else if (i <= count) want = ids[i - 1];
                else if (i == count + 1) want = OCLIP_EOT_ID;
                else want = 0;
                if (row[i] != want) abort();
            }
        }
        free(ids_small);
        free(ids);
    }

    /* oclip_tokenize_clean: a short buffer (pre-filled, so that bytes it leaves unwritten show),
     * then the full length. The short result must be a NUL-terminated prefix of the full one
     * that ends on a character boundary and lacks only what did not fit. */
    size_t clen = 0, clen2 = 0;
    char shortbuf[16];
    memset(shortbuf, 0xAA, sizeof shortbuf);
    st = oclip_tokenize_clean(text, n, clean, shortbuf, sizeof shortbuf, &clen, &err);
    if (st != OCLIP_OK) {
        check_err(st, &err);
    } else {
        char *full = malloc(clen + 1);
        if (!full) abort();
        if (oclip_tokenize_clean(text, n, clean, full, clen + 1, &clen2, &err) != OCLIP_OK) abort();
        if (clen2 != clen || full[clen] != '\0') abort();
        if (!utf8_ok((const unsigned char *)full, clen)) abort();
        const char *nul = memchr(shortbuf, '\0', sizeof shortbuf);
        if (!nul) abort();
        size_t p = (size_t)(nul - shortbuf);
        if (p > clen || memcmp(full, shortbuf, p) != 0) abort();
        if (p < clen) {
            unsigned char c = (unsigned char)full[p];
            size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if ((c & 0xC0) == 0x80 || p + k < sizeof shortbuf) abort(); /* cut short */
        }
        free(full);
    }
    free(row);
    free(text);
    return 0;
}
