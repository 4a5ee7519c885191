/*
 * text_data.h — GENERATED FILE, do not edit by hand (tools/embed_data.py writes it with
 * text_data.c). The tokenizer's tables (src/text/tokenizer.c, ftfy.c, ftfy_encoding.c).
 * Internal.
 */
#ifndef OCLIP_TEXT_DATA_H
#define OCLIP_TEXT_DATA_H

#include <stddef.h>

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
