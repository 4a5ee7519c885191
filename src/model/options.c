/*
 * options.c — the *_default() functions of the public options structs, together, so that the
 * defaults are written down in one place (include/oclip.h: "Options structs" in Conventions).
 * Each sets struct_size to the size of the struct this library was built with: a later version
 * that appends fields reads them only when the caller's struct_size covers them.
 */
#include <string.h>

#include "model/model.h"

void oclip_limits_default(oclip_limits *o) {
    memset(o, 0, sizeof *o); /* 0 = each limit's default (checkpoint.c) */
    o->struct_size = (uint32_t)sizeof *o;
}

void oclip_image_options_default(oclip_image_options *o) {
    memset(o, 0, sizeof *o); /* 0 = the default pixel limit; no EXIF rotation, as OpenCLIP */
    o->struct_size = (uint32_t)sizeof *o;
}

void oclip_check_options_default(oclip_check_options *o) {
    memset(o, 0, sizeof *o); /* infer the architecture; no scan; no tag; no override */
    o->struct_size = (uint32_t)sizeof *o;
}

void oclip_convert_options_default(oclip_convert_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = (uint32_t)sizeof *o;
    o->to = OCLIP_FORMAT_OPEN_CLIP;
    o->dtype = OCLIP_DTYPE_KEEP;
}

void oclip_model_options_default(oclip_model_options *o) {
    memset(o, 0, sizeof *o); /* all cores; the spec's architecture; nothing downloaded */
    o->struct_size = (uint32_t)sizeof *o;
    o->weight_dtype = OCLIP_DTYPE_KEEP;
}

void oclip_pull_options_default(oclip_pull_options *o) {
    memset(o, 0, sizeof *o); /* the environment's endpoint and token; the spec's revision */
    o->struct_size = (uint32_t)sizeof *o;
}

void oclip_source_options_default(oclip_source_options *o) {
    memset(o, 0, sizeof *o); /* the spec's architecture; weights required; nothing downloaded */
    o->struct_size = (uint32_t)sizeof *o;
}
