/*
 * fuzz_hftok.c — libFuzzer target for the tokenizer.json reader (src/text/hf_*.c): a hostile
 * tokenizer.json and a text.
 *
 * Input: the tokenizer.json bytes, then a NUL, then the text (no NUL in the JSON: a raw NUL is
 * never valid JSON). Without a NUL the whole input is the JSON and the text is a fixed caption.
 * The text's first byte, when there is one, also picks the OpenCLIP call: bits 0-1 clean mode,
 * bits 2-3 context length (1, 2, 16, 64), bit 4 strip_sep_token, bit 5 pad left, bit 6
 * truncate left.
 *
 * Checks, beyond the sanitizers: a refused file carries a message and a status; every id an
 * encoding produces is below oc_hftok_id_limit; encoding twice gives the same ids; the row
 * OpenCLIP's call writes holds only ids of the encoding, the pad id and 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t CTX[4] = {1, 2, 16, 64};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t jn = nul ? (size_t)(nul - data) : size;
    char *json = malloc(jn ? jn : 1);
    if (!json) abort();
    if (jn) memcpy(json, data, jn);
    static const char caption[] = "a photo of a cat </s> <pad> [SEP] caf\xc3\xa9 \xe7\x8c\xab";
    size_t tn = nul ? size - jn - 1 : sizeof caption - 1;
    char *text = malloc(tn ? tn : 1);
    if (!text) abort();
    if (tn) memcpy(text, nul ? (const char *)nul + 1 : caption, tn);

    oc_hftok *tok = NULL;
    oclip_error err;
    oclip_status st = oc_hftok_load(json, jn, &tok, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0' || tok) abort();
        goto out;
    }
    size_t limit = oc_hftok_id_limit(tok);
    for (int special = 0; special < 2; special++) {
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        oclip_status s1 = oc_hftok_encode(tok, text, tn, special, &a, &na, &err);
        if (s1 != OCLIP_OK && (err.code != s1 || err.msg[0] == '\0')) abort();
        oclip_status s2 = oc_hftok_encode(tok, text, tn, special, &b, &nb, &err);
        if (s1 != s2 || na != nb || (na && memcmp(a, b, na * sizeof *a))) abort();
        for (size_t i = 0; i < na; i++)
            if (a[i] < 0 || (size_t)a[i] >= limit) abort();
        free(a);
        free(b);
    }
    uint8_t sel = tn ? (uint8_t)text[0] : 0;
    oc_hftok_call call = oc_hftok_call_defaults(tok, CTX[(sel >> 2) & 3]);
    call.clean = (sel & 3) == 3 ? OCLIP_CLEAN_LOWER : (oclip_clean)(sel & 3);
    call.strip_sep_token = (sel >> 4) & 1;
    call.pad_left = (sel >> 5) & 1;
    call.truncate_left = (sel >> 6) & 1;
    if (call.pad_id < 0) call.pad_id = 0;
    int64_t *row = malloc(call.context_length * sizeof *row);
    if (!row) abort();
    const char *tp = text;
    st = oc_hftok_openclip(tok, &tp, &tn, 1, &call, row, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
    } else {
        for (size_t i = 0; i < call.context_length; i++)
            if (row[i] < 0 || ((size_t)row[i] >= limit && row[i] != call.pad_id && row[i] != 0))
                abort();
    }
    free(row);
out:
    oc_hftok_free(tok);
    free(json);
    free(text);
    return 0;
}
