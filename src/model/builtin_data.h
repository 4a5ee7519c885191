/*
 * builtin_data.h — GENERATED FILE, do not edit by hand (tools/embed_data.py writes it with
 * builtin_data.c). What src/model/builtin_data.c defines: OpenCLIP's model configs and
 * pretrained-tag table and the zero-shot metadata as JSON text in string-literal pieces
 * (NULL-terminated; oc_join_pieces joins them), and the tokenizer's tables. Internal.
 */
#ifndef OCLIP_BUILTIN_DATA_H
#define OCLIP_BUILTIN_DATA_H

#include <stddef.h>

struct oc_builtin_config {
    const char *name;         /* model_configs/<name>.json */
    const char *const *json;  /* minified JSON text in pieces, NULL-terminated */
    size_t len;               /* total bytes of the pieces */
};

/* data/model_configs, sorted by name (strcmp order) */
extern const struct oc_builtin_config oc_builtin_configs[];
extern const size_t oc_builtin_configs_n;
/* data/pretrained_tags_v3.3.0.json */
extern const char *const oc_pretrained_json[];
extern const size_t oc_pretrained_json_len;
/* data/zero_shot_metadata.json */
extern const char *const oc_zero_shot_json[];
extern const size_t oc_zero_shot_json_len;

/* Tokenizer data (src/text/tokenizer.c, src/text/ftfy.c, src/text/ftfy_encoding.c). */
struct oc_entity {
    const char *name;  /* without the leading '&' */
    const char *value; /* UTF-8 */
};
extern const unsigned short oc_bpe_merges[];
extern const size_t oc_bpe_n_merges;
extern const struct oc_entity oc_html5_entities[], oc_ftfy_entities[];
extern const size_t oc_html5_entities_n, oc_ftfy_entities_n;
extern const unsigned oc_html_charref_remap[][2], oc_html_invalid_codepoints[];
extern const size_t oc_html_charref_remap_n, oc_html_invalid_codepoints_n;
extern const unsigned short oc_ftfy_charmaps[10][256];

#endif
