/*
 * fuzz_serve.c — libFuzzer target for `oclip serve`'s request path, from the body bytes to the
 * batch: the parsers of cli/serve_req.c (JSON through cJSON after the UTF-8 check, base64 and
 * data URLs, the typed fields and limits), the images decoded and preprocessed with the model's
 * transform (sv_prepare_images), the texts tokenized, and the jobs run through a batcher queue
 * of cli/serve_batch.c with the embedded demo model (64 x 64 images, so a batch costs little).
 * The CLI's files are compiled in here (they use only the public API and cJSON).
 *
 * Input: byte 0 selects the endpoint (low 3 bits: 0 /v1/embeddings, 1 /v1/images/embeddings
 * JSON, 2 /v1/classify, 3 a raw image body, 4 and 6 /v1/captions JSON, 5 and 7 one caption
 * option as a form field or query parameter gives it, the option's index from the high bits,
 * invalid indices included); the rest is the body. Accepted caption options must lie in their
 * ranges; the captions' images go through the image queue (the demo model has no decoder).
 * At most 4 inputs of a request reach the model, under a pixel limit of 1 << 20, so that each
 * run stays fast. Every accepted request must give finite, unit-length embeddings; every refusal
 * a status and a message.
 *
 * Build and run: make fuzz-build (build-fuzz/fuzz_serve), then
 *   build-fuzz/fuzz_serve -max_len=65536 CORPUS_DIR
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/serve_batch.c"
#include "../cli/serve_req.c"
#include "../cli/text.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static oclip_model *model;
static sv_queue queues[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 1;
    oclip_error err;
    if (oclip_model_load(NULL, &o, &model, &err) != OCLIP_OK) {
        fprintf(stderr, "fuzz_serve: %s\n", err.msg);
        abort();
    }
    for (int t = 0; t < 2; t++)
        if (sv_queue_start(&queues[t], model, t, "default", 4, 0.0, 64)) abort();
    return 0;
}

static void check_fail(const sv_fail *f) {
    if (f->status < 400 || f->status > 599 || !f->message[0] || !f->type) abort();
}

/* the caption options an accepted request holds: unset (0) or in `oclip caption`'s ranges */
static void check_caption_options(const sv_request *r) {
    const int v[] = {r->num_beams, r->num_beam_groups, r->seq_len, r->min_seq_len};
    static const int lo[] = {2, 1, 2, 1}, hi[] = {64, 64, 4096, 4096};
    for (int k = 0; k < 4; k++)
        if (v[k] && (v[k] < lo[k] || v[k] > hi[k])) abort();
    if (r->repetition_penalty != 0 && !(r->repetition_penalty > 0 && r->repetition_penalty <= 1e6))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    sv_req_limits lim = {.max_inputs = 64, .max_images = 8, .max_text_bytes = 4096,
                         .max_labels = 64};
    sv_request r = {0};
    sv_fail f = {0};
    int rc;
    switch (data[0] & 7) {
    case 0: rc = sv_parse_embeddings(body, len, &lim, &r, &f); break;
    case 1: rc = sv_parse_images_json(body, len, &lim, &r, &f); break;
    case 2: rc = sv_parse_classify(body, len, &lim, &r, &f); break;
    case 4:
    case 6: rc = sv_parse_captions_json(body, len, &lim, &r, &f); break;
    case 5:
    case 7: { /* the text as the HTTP layer hands it over: NUL-terminated, up to a NUL */
        char *text = malloc(len + 1);
        if (!text) return 0;
        memcpy(text, body, len);
        text[len] = '\0';
        rc = sv_parse_caption_option(&r, (int)(data[0] >> 3) - 1, text, &f);
        free(text);
        if (rc) check_fail(&f);
        check_caption_options(&r);
        sv_request_free(&r);
        return 0;
    }
    default:
        r.kind = SV_IMAGE;
        rc = len ? sv_request_add(&r, body, len, NULL, &lim, &f) : -1;
        if (!len) sv_failf(&f, 400, "invalid_request_error", "invalid_value", "empty");
        break;
    }
    if (rc) {
        check_fail(&f);
        sv_request_free(&r);
        return 0;
    }
    check_caption_options(&r);
    if (!r.n || (r.kind == SV_TEXT && r.n > lim.max_inputs) ||
        (r.kind == SV_IMAGE && r.n > lim.max_images))
        abort();
    for (size_t i = 0; i < r.n; i++)
        if (!r.items[i].data || r.items[i].data[r.items[i].len] != '\0') abort();
    size_t n = r.n > 4 ? 4 : r.n, E = (size_t)oclip_model_embed_dim(model);
    size_t keep = r.n;
    r.n = n;
    float *out = malloc(n * E * sizeof *out);
    void *in = NULL;
    sv_job j = {.n = n, .out = out};
    int ok = out != NULL;
    if (ok && r.kind == SV_TEXT) {
        size_t ctx = (size_t)oclip_model_context_length(model);
        int64_t *tok = malloc(n * ctx * sizeof *tok);
        const char *t[4];
        size_t l[4];
        for (size_t i = 0; i < n; i++) t[i] = r.items[i].data, l[i] = r.items[i].len;
        oclip_error err;
        ok = tok && oclip_model_tokenize(model, t, l, n, tok, &err) == OCLIP_OK;
        in = tok;
        j.tokens = tok;
    } else if (ok) {
        const oclip_preprocess_cfg *cfg = oclip_model_preprocess(model);
        float *px = malloc(n * 3 * (size_t)cfg->size[0] * (size_t)cfg->size[1] * sizeof *px);
        in = px;
        ok = px != NULL;
        if (ok && sv_prepare_images(&r, cfg, 1 << 20, px, &f)) {
            check_fail(&f);
            ok = 0;
        }
        j.pixels = px;
    }
    if (ok) {
        if (sv_queue_run(&queues[r.kind], &j, 0) != SV_RUN_OK) abort();
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (size_t k = 0; k < E; k++) {
                float v = out[i * E + k];
                if (!isfinite(v)) abort();
                s += (double)v * v;
            }
            if (fabs(s - 1.0) > 1e-3) abort();
        }
    }
    r.n = keep;
    free(in);
    free(out);
    sv_request_free(&r);
    return 0;
}
