/*
 * fuzz_config.c — libFuzzer target for the config parsers: oclip_config_parse,
 * oclip_config_parse_open_clip and oclip_config_from_hf over the same bytes (no NUL terminator;
 * copied into an exactly sized buffer so that AddressSanitizer sees where the text ends).
 *
 * Checks, beyond the sanitizers: a failure sets err; a success leaves every fixed-size string
 * NUL-terminated, and for a native config oclip_config_to_json of the result parses again
 * (oclip_config_parse) to the same geometry (from_hf results: see round_trip).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static void check_strings(const oclip_model_config *m) {
    if (!TERMINATED(m->name) || !TERMINATED(m->unknown_keys) || !TERMINATED(m->vision.pool_type) ||
        !TERMINATED(m->vision.pos_embed_type) || !TERMINATED(m->vision.act_approximate) ||
        !TERMINATED(m->vision.timm_model_name) || !TERMINATED(m->text.pool_type) ||
        !TERMINATED(m->text.proj_type) || !TERMINATED(m->text.act_approximate) ||
        !TERMINATED(m->text.hf_model_name) || !TERMINATED(m->text.hf_tokenizer_name))
        abort();
    (void)oclip_family_name(m->family);
}

/* to_json -> parse must give back the same geometry. `must_parse` is 0 for oclip_config_from_hf
 * results: it accepts HF configs outside oclip_config_parse's limits and cross-field checks
 * (fuzz/regressions/config-hf-*), so there only a successful re-parse is compared. */
static void round_trip(const oclip_model_config *m, int must_parse) {
    if (m->family != OCLIP_FAMILY_NATIVE) return; /* to_json writes the native keys only */
    char *js = oclip_config_to_json(m);
    if (!js) return; /* out of memory */
    oclip_model_config b;
    oclip_error err;
    oclip_status st = oclip_config_parse(js, strlen(js), &b, &err);
    if (st != OCLIP_OK && !must_parse) {
        oclip_free(js);
        return;
    }
    if (st != OCLIP_OK) {
        fprintf(stderr, "fuzz_config: to_json output does not parse: %s\n%s\n", err.msg, js);
        abort();
    }
    if (b.embed_dim != m->embed_dim || b.quick_gelu != m->quick_gelu || b.family != m->family ||
        b.vision.image_size[0] != m->vision.image_size[0] ||
        b.vision.image_size[1] != m->vision.image_size[1] ||
        b.vision.patch_size != m->vision.patch_size || b.vision.width != m->vision.width ||
        b.vision.layers != m->vision.layers || b.vision.head_width != m->vision.head_width ||
        b.text.context_length != m->text.context_length ||
        b.text.vocab_size != m->text.vocab_size || b.text.width != m->text.width ||
        b.text.heads != m->text.heads || b.text.layers != m->text.layers) {
        fprintf(stderr, "fuzz_config: to_json round trip changed the geometry:\n%s\n", js);
        abort();
    }
    oclip_free(js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size ? size : 1);
    if (!buf) abort();
    if (size) memcpy(buf, data, size);
    oclip_error err;
    oclip_status st;
    oclip_model_config m;
    oclip_preprocess_cfg pre;

    st = oclip_config_parse(buf, size, &m, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
    } else {
        check_strings(&m);
        round_trip(&m, 1);
    }

    st = oclip_config_parse_open_clip(buf, size, &m, &pre, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
    } else {
        check_strings(&m);
        if (!TERMINATED(pre.interpolation) || !TERMINATED(pre.resize_mode)) abort();
        round_trip(&m, 1);
        /* the other two out-pointer combinations */
        if (oclip_config_parse_open_clip(buf, size, NULL, &pre, &err) != OCLIP_OK) abort();
        if (oclip_config_parse_open_clip(buf, size, &m, NULL, &err) != OCLIP_OK) abort();
    }

    st = oclip_config_from_hf(buf, size, &m, &err);
    if (st != OCLIP_OK) {
        if (err.code != st || err.msg[0] == '\0') abort();
    } else {
        check_strings(&m);
        round_trip(&m, 1);
    }
    free(buf);
    return 0;
}
