/*
 * builtin_data.h — GENERATED FILE, do not edit by hand (tools/embed_data.py writes it with
 * builtin_data.c). What src/model/builtin_data.c defines: OpenCLIP's model configs and
 * pretrained-tag table and the zero-shot metadata as JSON text in string-literal pieces
 * (NULL-terminated; oc_join_pieces joins them). Internal.
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

#endif
