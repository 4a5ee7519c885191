/*
 * default_model.c — the default model (models/default: a small CLIP trained with OpenCLIP on
 * generated images, see models/default/README.md), embedded in the library so that a model spec
 * of NULL / "" works with no file and no network. The assembler's .incbin copies the two files
 * in at build time (the Makefile makes this object depend on them). Only on ELF targets; elsewhere
 * oc_default_model reports that there is none.
 */
#include "internal.h"

#ifndef OC_DEFAULT_MODEL_DIR
#define OC_DEFAULT_MODEL_DIR "models/default"
#endif

#if defined(__ELF__)
/* global (hidden: not exported from liboclip.so) so that the C references below name the symbols:
 * against a local label the AArch64 assembler writes a GOT relocation on .rodata + offset, and the
 * linker gives all four one GOT entry (the section's start), so every size came out 0 */
__asm__(".pushsection .rodata\n"
        ".balign 64\n"
        ".globl oc_default_weights_begin, oc_default_weights_end\n"
        ".globl oc_default_config_begin, oc_default_config_end\n"
        ".hidden oc_default_weights_begin\n"
        ".hidden oc_default_weights_end\n"
        ".hidden oc_default_config_begin\n"
        ".hidden oc_default_config_end\n"
        "oc_default_weights_begin:\n"
        ".incbin \"" OC_DEFAULT_MODEL_DIR "/open_clip_model.safetensors\"\n"
        "oc_default_weights_end:\n"
        ".balign 8\n"
        "oc_default_config_begin:\n"
        ".incbin \"" OC_DEFAULT_MODEL_DIR "/open_clip_config.json\"\n"
        "oc_default_config_end:\n"
        ".byte 0\n"
        ".popsection\n");
extern const unsigned char oc_default_weights_begin[], oc_default_weights_end[];
extern const unsigned char oc_default_config_begin[], oc_default_config_end[];

bool oc_default_model(const void **weights, size_t *weights_size, const char **config,
                      size_t *config_size) {
    *weights = oc_default_weights_begin;
    *weights_size = (size_t)(oc_default_weights_end - oc_default_weights_begin);
    *config = (const char *)oc_default_config_begin;
    *config_size = (size_t)(oc_default_config_end - oc_default_config_begin);
    return true;
}
#else
bool oc_default_model(const void **weights, size_t *weights_size, const char **config,
                      size_t *config_size) {
    *weights = NULL, *config = NULL;
    *weights_size = *config_size = 0;
    return false;
}
#endif
