/*
 * hf_tokenizer.h — a reader of Hugging Face `tokenizer.json` files and the encoder they describe,
 * id for id with the `tokenizers` library (0.22) and with OpenCLIP's HFTokenizer (open_clip
 * tokenizer.py, HFTokenizer.__call__). Internal API (prefix oc_hftok_); docs/HF_TOKENIZER.md
 * lists what is supported and what is refused by name.
 *
 *     oc_hftok *tok;
 *     if (oc_hftok_load(json, json_len, &tok, &err) != OCLIP_OK) ...
 *     oc_hftok_call call = oc_hftok_call_defaults(tok, 64);
 *     call.clean = OCLIP_CLEAN_CANONICALIZE;               // SigLIP's tokenizer_kwargs
 *     int64_t row[64];
 *     oc_hftok_openclip(tok, &text, &len, 1, &call, row, &err);
 *     oc_hftok_free(tok);
 *
 * A loaded tokenizer is read-only: every function may be called from several threads at once.
 */
#ifndef OCLIP_HF_TOKENIZER_H
#define OCLIP_HF_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oclip.h"

typedef struct oc_hftok oc_hftok;

/* Limits on what a tokenizer.json may hold (it comes from a file: hostile). */
#define OC_HFTOK_MAX_JSON ((size_t)512 << 20)     /* bytes of tokenizer.json */
#define OC_HFTOK_MAX_VOCAB ((size_t)1 << 22)      /* entries in a vocabulary or merge list */
#define OC_HFTOK_MAX_PIECE 1024                   /* bytes of one vocabulary entry or token */
#define OC_HFTOK_MAX_TEXT ((size_t)16 << 20)      /* bytes of one text to encode */
#define OC_HFTOK_MAX_DEPTH 16                     /* nesting of Sequence normalizers etc. */

/* Parses tokenizer.json (json[0..len), not NUL-terminated). Refuses, by name, every component it
 * does not implement (OCLIP_E_UNSUPPORTED) and malformed files (OCLIP_E_FORMAT). */
oclip_status oc_hftok_load(const char *json, size_t len, oc_hftok **out, oclip_error *err);
/* The same from a file path; messages name the file. */
oclip_status oc_hftok_load_file(const char *path, oc_hftok **out, oclip_error *err);
void oc_hftok_free(oc_hftok *tok);

/* Tokenizer.encode(text, add_special_tokens).ids from `tokenizers`, ignoring the truncation and
 * padding settings stored in the file (as transformers does when it passes its own). UTF-8 input;
 * ill-formed bytes are read as U+FFFD (Python's errors='replace'). *ids is malloc'd (free it;
 * NULL when *n_ids is 0). */
oclip_status oc_hftok_encode(const oc_hftok *tok, const char *text, size_t len,
                             bool add_special_tokens, int32_t **ids, size_t *n_ids,
                             oclip_error *err);

/* The id of a token (added tokens first, then the model's vocabulary), or -1. */
int64_t oc_hftok_token_id(const oc_hftok *tok, const char *token);
/* The model's vocabulary size as `tokenizers` counts it (Tokenizer.get_vocab_size(False)). */
size_t oc_hftok_vocab_size(const oc_hftok *tok);
/* Largest id any encoding can produce, + 1 (model vocabulary and added tokens). */
size_t oc_hftok_id_limit(const oc_hftok *tok);

/* What OpenCLIP's HFTokenizer(...)(texts, context_length) does around the encoding. The pad and
 * sep ids and the two sides come from transformers' tokenizer_config.json, not tokenizer.json:
 * oc_hftok_call_defaults guesses them from the tokens the file holds ("<pad>", "[PAD]", ...;
 * "[SEP]"), right-side padding and truncation; callers that read tokenizer_config.json override
 * them. */
typedef struct {
    size_t context_length;   /* max_length=context_length, padding='max_length', truncation=True */
    oclip_clean clean;       /* HFTokenizer's clean= ('whitespace' is its default) */
    bool strip_sep_token;    /* ids equal to sep_id become 0 */
    int64_t pad_id;          /* -1: no pad token (transformers refuses to pad: an error here) */
    int64_t sep_id;          /* -1: none */
    bool pad_left;           /* tokenizer.padding_side == 'left' */
    bool truncate_left;      /* tokenizer.truncation_side == 'left' */
} oc_hftok_call;

oc_hftok_call oc_hftok_call_defaults(const oc_hftok *tok, size_t context_length);

/* HFTokenizer(texts) for n texts (texts[i] of lens[i] bytes): writes out[n * context_length]. */
oclip_status oc_hftok_openclip(const oc_hftok *tok, const char *const *texts, const size_t *lens,
                               size_t n, const oc_hftok_call *call, int64_t *out,
                               oclip_error *err);

#endif /* OCLIP_HF_TOKENIZER_H */
