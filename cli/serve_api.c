/*
 * serve_api.c — the endpoints of `oclip serve` (docs/SERVER.md) over the loaded models:
 *
 *   GET  /health               200 {"status": "ok"} once every model is loaded, 503 before
 *   GET  /v1/models            the models, OpenAI's list format
 *   POST /v1/embeddings        OpenAI's embeddings API for texts; images with "modality":
 *                              "image" (data URLs or base64 as inputs, as infinity does)
 *   POST /v1/images/embeddings images as multipart/form-data files, a raw body, or JSON
 *   POST /v1/classify          zero-shot classification, the objects `oclip classify --json`
 *                              prints
 *   POST /v1/captions          captions of images by a CoCa model (OpenCLIP's generate() and
 *                              decode, as `oclip caption --json`), images as for
 *                              /v1/images/embeddings
 *   GET  /metrics              Prometheus text
 *
 * Texts are tokenized and images decoded and preprocessed on the connection's thread; the
 * forward pass is the batcher's (serve_batch.c). Embeddings are always L2-normalized, as
 * `oclip embed-text` / `embed-image` write them by default.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <cJSON.h>

#include "serve.h"
#include "text.h"

static int is_ready(const sv_server *s) { return __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE); }

static void not_ready(sv_http_resp *r) {
    sv_fail f;
    sv_failf(&f, 503, "server_error", "loading", "the model is still loading");
    sv_resp_error(r, &f);
}

static void oom(sv_http_resp *r) {
    sv_fail f;
    sv_failf(&f, 503, "server_error", "out_of_memory", "out of memory");
    sv_resp_error(r, &f);
}

static sv_model *find_model(sv_server *s, const char *name, sv_fail *f) {
    if (!name) return &s->models[0];
    for (size_t i = 0; i < s->n_models; i++)
        if (!strcmp(s->models[i].name, name)) return &s->models[i];
    char list[256] = "";
    size_t k = 0;
    for (size_t i = 0; i < s->n_models && k < sizeof list - 1; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", i ? ", " : "",
                              s->models[i].name);
    sv_failf(f, 404, "invalid_request_error", "model_not_found",
             "the model '%.100s' is not served (models: %s)", name, list);
    return NULL;
}

int sv_run_job(sv_server *s, sv_model *m, int tower, sv_job *j, sv_fail *f) {
    int rc = sv_queue_run(&m->q[tower], j, s->timeout);
    switch (rc) {
    case SV_RUN_OK:
        return 0;
    case SV_RUN_FULL:
        return sv_failf(f, 503, "server_error", "queue_full",
                        "the server is busy (its queue is full): try again");
    case SV_RUN_TIMEOUT:
        return sv_failf(f, 503, "server_error", "timeout",
                        "the request waited longer than the server's timeout: try again");
    case SV_RUN_STOPPING:
        return sv_failf(f, 503, "server_error", "stopping", "the server is stopping");
    default:
        for (char *p = j->msg; *p; p++)
            if (*p == '\n') *p = ' ';
        /* options the model cannot take (a caption's seq_len beyond its context, groups
         * that do not divide the beams): the request's fault */
        if (j->status == OCLIP_E_ARG)
            return sv_failf(f, 400, "invalid_request_error", "invalid_value", "%s", j->msg);
        return sv_failf(f, 500, "server_error", "inference_failed", "%s", j->msg);
    }
}

/* Embeddings of r's texts or images into *out [r->n, E] (malloc'd); *tokens the token count
 * (texts). */
static int embed_request(sv_server *s, sv_model *m, const sv_request *r, float **out,
                         size_t *tokens, sv_fail *f) {
    size_t E = (size_t)oclip_model_embed_dim(m->m);
    /* the batcher waits for this request while it is being prepared (serve_batch.c) */
    sv_queue_announce(&m->q[r->kind]);
    *out = malloc(r->n * E * sizeof(float));
    *tokens = 0;
    sv_job j = {.n = r->n, .out = *out, .announced = 1};
    void *in = NULL;
    int rc = -1;
    if (!*out) goto oom;
    if (r->kind == SV_TEXT) {
        size_t ctx = (size_t)oclip_model_context_length(m->m);
        const char **texts = malloc(r->n * sizeof *texts);
        size_t *lens = malloc(r->n * sizeof *lens);
        int64_t *tok = malloc(r->n * ctx * sizeof *tok);
        in = tok;
        if (!texts || !lens || !tok) {
            free(texts);
            free(lens);
            goto oom;
        }
        for (size_t i = 0; i < r->n; i++) texts[i] = r->items[i].data, lens[i] = r->items[i].len;
        oclip_error err;
        oclip_status st = oclip_model_tokenize(m->m, texts, lens, r->n, tok, &err);
        free(texts);
        free(lens);
        if (st != OCLIP_OK) {
            sv_failf(f, 400, "invalid_request_error", "tokenize_failed", "%s", err.msg);
            goto done;
        }
        for (size_t i = 0; i < r->n * ctx; i++) *tokens += tok[i] != 0;
        j.tokens = tok;
    } else {
        const oclip_preprocess_cfg *cfg = oclip_model_preprocess(m->m);
        size_t per = 3 * (size_t)cfg->size[0] * (size_t)cfg->size[1];
        float *px = malloc(r->n * per * sizeof *px);
        in = px;
        if (!px) goto oom;
        while (sem_wait(&s->decoders) && errno == EINTR) continue;
        int bad = sv_prepare_images(r, cfg, s->max_pixels, px, f);
        sem_post(&s->decoders);
        if (bad) goto done;
        j.pixels = px;
    }
    rc = sv_run_job(s, m, r->kind, &j, f);
    goto done;
oom:
    sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
done:
    if (j.announced) sv_queue_withdraw(&m->q[r->kind]); /* it never reached sv_queue_run */
    free(in);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* The double nearest to f's shortest round-trip decimal (9 significant digits): cJSON prints
 * it with those digits (not the 17 of the double f widens to), and the reader's float of it is
 * f again. */
static double short_float(float f) {
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)f);
    return strtod(b, NULL);
}

/* OpenAI's embeddings response */
static char *embeddings_json(const sv_model *m, const float *emb, size_t n, int base64,
                             size_t tokens) {
    size_t E = (size_t)oclip_model_embed_dim(m->m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    int bad = !o || !data;
    for (size_t i = 0; i < n && !bad; i++) {
        cJSON *e = cJSON_CreateObject();
        bad = !e;
        if (bad) break;
        cJSON_AddItemToArray(data, e);
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", (double)i);
        if (base64) {
            /* little-endian float32 bytes, as OpenAI's base64 format (x86 / AArch64 hosts are
             * little-endian; a big-endian one swaps) */
            const float *row = emb + i * E;
            unsigned char *le = malloc(E * 4);
            bad = !le;
            for (size_t k = 0; le && k < E; k++) {
                uint32_t u;
                memcpy(&u, &row[k], 4);
                le[4 * k] = (unsigned char)u, le[4 * k + 1] = (unsigned char)(u >> 8);
                le[4 * k + 2] = (unsigned char)(u >> 16), le[4 * k + 3] = (unsigned char)(u >> 24);
            }
            char *b = le ? sv_base64_encode(le, E * 4) : NULL;
            free(le);
            bad = !b || !cJSON_AddStringToObject(e, "embedding", b);
            free(b);
        } else {
            cJSON *a = cJSON_AddArrayToObject(e, "embedding");
            for (size_t k = 0; a && k < E; k++)
                cJSON_AddItemToArray(a, cJSON_CreateNumber(short_float(emb[i * E + k])));
            bad = !a;
        }
    }
    cJSON_AddStringToObject(o, "model", m->name);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
    char *s = bad ? NULL : cli_json_print(o);
    cJSON_Delete(o);
    return s;
}

static void answer_embeddings(sv_server *s, sv_request *r, sv_http_resp *resp) {
    sv_fail f;
    float *emb = NULL;
    size_t tokens = 0;
    sv_model *m = find_model(s, r->model, &f);
    if (!m || embed_request(s, m, r, &emb, &tokens, &f)) {
        sv_resp_error(resp, &f);
        return;
    }
    char *body = embeddings_json(m, emb, r->n, r->base64, tokens);
    free(emb);
    if (!body) oom(resp);
    else sv_resp_json(resp, 200, body);
}

static void h_embeddings(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    if (!is_ready(s)) {
        not_ready(resp);
        return;
    }
    sv_request r = {0};
    sv_fail f;
    if (sv_parse_embeddings(q->body, q->body_len, &s->lim, &r, &f)) sv_resp_error(resp, &f);
    else answer_embeddings(s, &r, resp);
    sv_request_free(&r);
}

/* The images of a request to /v1/images/embeddings or /v1/captions, by its Content-Type:
 * multipart/form-data files, JSON, or the raw body as one image (?model=, ?encoding_format=).
 * *r is `own` or the multipart request; 0, or -1 with f filled. With `captions`, the caption
 * options too: JSON fields, else the multipart fields or query parameters. */
static int images_request(sv_server *s, const sv_http_req *q, int captions, sv_request *own,
                          sv_request **r, sv_fail *f) {
    int rc = 0;
    *r = own;
    if (q->multipart) {
        *r = q->multipart;
        (*r)->kind = SV_IMAGE;
        if ((*r)->n > s->lim.max_images)
            rc = sv_failf(f, 413, "invalid_request_error", "too_many_inputs",
                          "too many images in one request (at most %zu)", s->lim.max_images);
    } else if (!strncasecmp(q->content_type, "application/json", 16)) {
        rc = captions ? sv_parse_captions_json(q->body, q->body_len, &s->lim, own, f)
                      : sv_parse_images_json(q->body, q->body_len, &s->lim, own, f);
    } else if (!strncasecmp(q->content_type, "multipart/", 10)) {
        rc = sv_failf(f, 400, "invalid_request_error", "invalid_multipart",
                      "a multipart body must be multipart/form-data with a file part");
    } else {
        /* the body is one image; ?model= and ?encoding_format= say the rest */
        own->kind = SV_IMAGE;
        if (!q->body_len)
            rc = sv_failf(f, 400, "invalid_request_error", "invalid_value",
                          "an empty body: send an image (raw, multipart/form-data or JSON)");
        else rc = sv_request_add(own, q->body, q->body_len, NULL, &s->lim, f);
        if (!rc && q->query_model && !(own->model = strdup(q->query_model)))
            rc = sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
    }
    if (!rc && q->query_encoding) rc = sv_parse_encoding(q->query_encoding, &(*r)->base64, f);
    for (int k = 0; captions && !rc && k < SV_N_CAPTION_OPTS; k++)
        if (q->caption_opts[k]) rc = sv_parse_caption_option(*r, k, q->caption_opts[k], f);
    return rc;
}

static void h_images(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    if (!is_ready(s)) {
        not_ready(resp);
        return;
    }
    sv_request own = {0}, *r;
    sv_fail f;
    if (images_request(s, q, 0, &own, &r, &f)) sv_resp_error(resp, &f);
    else answer_embeddings(s, r, resp);
    sv_request_free(&own);
}

/* The caption ids of r's images ([r->n, o->seq_len], counts in n_ids) through the model's
 * caption queue; 0, or -1 with f filled. */
static int caption_request(sv_server *s, sv_model *m, const sv_request *r,
                           const oclip_caption_options *o, int64_t *ids, size_t *n_ids,
                           sv_fail *f) {
    sv_queue_announce(&m->q[SV_CAPTION]);
    sv_job j = {.n = r->n, .caption = o, .ids = ids, .n_ids = n_ids, .announced = 1};
    const oclip_preprocess_cfg *cfg = oclip_model_preprocess(m->m);
    size_t per = 3 * (size_t)cfg->size[0] * (size_t)cfg->size[1];
    float *px = malloc(r->n * per * sizeof *px);
    int rc = -1;
    if (!px) {
        sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
    } else {
        while (sem_wait(&s->decoders) && errno == EINTR) continue;
        int bad = sv_prepare_images(r, cfg, s->max_pixels, px, f);
        sem_post(&s->decoders);
        j.pixels = px;
        if (!bad) rc = sv_run_job(s, m, SV_CAPTION, &j, f);
    }
    if (j.announced) sv_queue_withdraw(&m->q[SV_CAPTION]); /* it never reached sv_queue_run */
    free(px);
    return rc;
}

/* {"object": "list", "data": [{"object": "caption", "index", "text", "ids"}], "model"}: the
 * texts are OpenCLIP's decode(ids).split("<end_of_text>")[0].replace("<start_of_text>", ""),
 * as `oclip caption --json` prints them */
static char *captions_json(const sv_model *m, const int64_t *ids, const size_t *n_ids, size_t n,
                           size_t seq_len, sv_fail *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    int bad = !o || !data;
    for (size_t i = 0; i < n && !bad; i++) {
        char *text = NULL;
        oclip_error err;
        if (oclip_decode(ids + i * seq_len, n_ids[i], 1, &text, &err) != OCLIP_OK) {
            sv_failf(f, 500, "server_error", "inference_failed", "image %zu: %s", i, err.msg);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON *e = cJSON_CreateObject(), *a = cJSON_CreateArray();
        bad = !e || !a;
        if (e) cJSON_AddItemToArray(data, e);
        if (bad) {
            cJSON_Delete(a);
            oclip_free(text);
            break;
        }
        cJSON_AddStringToObject(e, "object", "caption");
        cJSON_AddNumberToObject(e, "index", (double)i);
        bad = !cJSON_AddStringToObject(e, "text", text);
        oclip_free(text);
        for (size_t k = 0; k < n_ids[i] && !bad; k++)
            bad = !cJSON_AddItemToArray(a, cJSON_CreateNumber((double)ids[i * seq_len + k]));
        cJSON_AddItemToObject(e, "ids", a);
    }
    cJSON_AddStringToObject(o, "model", m->name);
    char *body = bad ? NULL : cli_json_print(o);
    cJSON_Delete(o);
    if (!body) sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
    return body;
}

static void h_captions(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    if (!is_ready(s)) {
        not_ready(resp);
        return;
    }
    sv_request own = {0}, *r;
    sv_fail f;
    int64_t *ids = NULL;
    size_t *n_ids = NULL;
    char *body = NULL;
    sv_model *m = NULL;
    if (images_request(s, q, 1, &own, &r, &f) || !(m = find_model(s, r->model, &f))) goto done;
    if (!oclip_model_can_caption(m->m)) {
        char list[256] = "";
        size_t k = 0;
        for (size_t i = 0; i < s->n_models && k < sizeof list - 1; i++)
            if (oclip_model_can_caption(s->models[i].m))
                k += (size_t)snprintf(list + k, sizeof list - k, "%s'%s'", k ? ", " : "",
                                      s->models[i].name);
        sv_failf(&f, 404, "invalid_request_error", "model_cannot_caption",
                 "the model '%.100s' has no text decoder: captions need a CoCa model (served "
                 "ones: %s)", m->name, k ? list : "none");
        goto done;
    }
    oclip_caption_options o;
    oclip_caption_options_default(&o);
    if (r->num_beams) o.num_beams = r->num_beams;
    if (r->num_beam_groups) o.num_beam_groups = r->num_beam_groups;
    if (r->seq_len) o.seq_len = r->seq_len;
    if (r->min_seq_len) o.min_seq_len = r->min_seq_len;
    if (r->repetition_penalty > 0) o.repetition_penalty = r->repetition_penalty;
    size_t sl = (size_t)o.seq_len;
    ids = malloc(r->n * sl * sizeof *ids);
    n_ids = calloc(r->n, sizeof *n_ids);
    if (!ids || !n_ids) sv_failf(&f, 503, "server_error", "out_of_memory", "out of memory");
    else if (!caption_request(s, m, r, &o, ids, n_ids, &f))
        body = captions_json(m, ids, n_ids, r->n, sl, &f);
done:
    if (body) sv_resp_json(resp, 200, body);
    else sv_resp_error(resp, &f);
    free(ids);
    free(n_ids);
    sv_request_free(&own);
}

typedef struct {
    float prob;
    size_t label;
} ranked;

static int by_prob(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    return a->prob < b->prob ? 1 : a->prob > b->prob ? -1 : (a->label > b->label) - (a->label < b->label);
}

/* The class embeddings of the last few (model, templates, labels): computing them runs the text
 * tower labels x templates times (80 templates a label for "imagenet"), so repeated requests
 * take them from here. In memory only (a disk cache would let clients fill the disk), at most
 * CLS_SLOTS entries of at most CLS_MAX_FLOATS floats, the least recently used replaced. */
#define CLS_SLOTS 8
#define CLS_MAX_FLOATS ((size_t)16 << 20)
typedef struct {
    const sv_model *m;
    char *key;
    size_t key_len;
    float *w;
    size_t n;
    uint64_t used;
} cls_entry;
static cls_entry cls_cache[CLS_SLOTS];
static uint64_t cls_tick;
static pthread_mutex_t cls_mu = PTHREAD_MUTEX_INITIALIZER;

/* templates and labels, each with its NUL, a 0x01 between the two lists */
static char *cls_key(const sv_request *r, const char *const *tpl, size_t ntpl, size_t *len) {
    size_t n = 2;
    for (size_t i = 0; i < ntpl; i++) n += strlen(tpl[i]) + 1;
    for (size_t i = 0; i < r->n_labels; i++) n += strlen(r->labels[i]) + 1;
    char *k = malloc(n), *p = k;
    if (!k) return NULL;
    for (size_t i = 0; i < ntpl; i++) p = stpcpy(p, tpl[i]) + 1;
    *p++ = 1;
    for (size_t i = 0; i < r->n_labels; i++) p = stpcpy(p, r->labels[i]) + 1;
    *len = (size_t)(p - k);
    return k;
}

static int cls_get(const sv_model *m, const char *key, size_t len, float *w, size_t n) {
    int hit = 0;
    pthread_mutex_lock(&cls_mu);
    for (int i = 0; i < CLS_SLOTS && !hit; i++) {
        cls_entry *e = &cls_cache[i];
        if (e->m == m && e->key_len == len && e->n == n && !memcmp(e->key, key, len)) {
            memcpy(w, e->w, n * sizeof *w);
            e->used = ++cls_tick;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&cls_mu);
    return hit;
}

static void cls_put(const sv_model *m, const char *key, size_t len, const float *w, size_t n) {
    if (n > CLS_MAX_FLOATS) return;
    char *k = malloc(len);
    float *c = malloc(n * sizeof *c);
    if (!k || !c) {
        free(k);
        free(c);
        return;
    }
    memcpy(k, key, len);
    memcpy(c, w, n * sizeof *c);
    pthread_mutex_lock(&cls_mu);
    cls_entry *e = &cls_cache[0];
    for (int i = 1; i < CLS_SLOTS; i++)
        if (cls_cache[i].used < e->used) e = &cls_cache[i];
    free(e->key);
    free(e->w);
    *e = (cls_entry){m, k, len, c, n, ++cls_tick};
    pthread_mutex_unlock(&cls_mu);
}

static void h_classify(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    if (!is_ready(s)) {
        not_ready(resp);
        return;
    }
    sv_request r = {0};
    sv_fail f;
    float *img = NULL, *w = NULL, *pr = NULL;
    ranked *rk = NULL;
    size_t tokens;
    sv_model *m = NULL;
    cJSON *o = NULL;
    if (sv_parse_classify(q->body, q->body_len, &s->lim, &r, &f) ||
        !(m = find_model(s, r.model, &f)) || embed_request(s, m, &r, &img, &tokens, &f)) {
        sv_resp_error(resp, &f);
        goto done;
    }
    size_t E = (size_t)oclip_model_embed_dim(m->m), nl = r.n_labels, ni = r.n;
    const char *const *tpl = (const char *const *)r.templates;
    size_t ntpl = r.n_templates;
    static const char *const none[] = {"{}"};
    if (!tpl) {
        ntpl = oclip_zero_shot_templates(r.template_set, &tpl);
        if (!ntpl) tpl = none, ntpl = 1; /* "none" */
    }
    w = malloc(nl * E * sizeof *w);
    pr = malloc(ni * nl * sizeof *pr);
    rk = malloc(nl * sizeof *rk);
    if (!w || !pr || !rk) {
        oom(resp);
        goto done;
    }
    oclip_error err;
    size_t klen = 0;
    char *key = cls_key(&r, tpl, ntpl, &klen);
    int bad = 0;
    if (!key || !cls_get(m, key, klen, w, nl * E)) {
        bad = oclip_zero_shot_classifier(m->m, (const char *const *)r.labels, nl, tpl, ntpl, w,
                                         &err) != OCLIP_OK;
        if (!bad && key) cls_put(m, key, klen, w, nl * E);
    }
    free(key);
    if (bad || oclip_zero_shot_probs(m->m, img, ni, w, nl, pr, &err)) {
        for (char *p = err.msg; *p; p++)
            if (*p == '\n') *p = ' ';
        sv_failf(&f, 400, "invalid_request_error", "classify_failed", "%s", err.msg);
        sv_resp_error(resp, &f);
        goto done;
    }
    size_t top = r.top && (size_t)r.top < nl ? (size_t)r.top : nl;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < ni && data; i++) {
        for (size_t c = 0; c < nl; c++) rk[c] = (ranked){pr[i * nl + c], c};
        qsort(rk, nl, sizeof *rk, by_prob);
        /* the objects of `oclip classify --json` (cmd_classify.c); "image" is the name the
         * request gave, else the index */
        cJSON *e = cJSON_CreateObject();
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        cJSON_AddStringToObject(e, "image", r.items[i].name ? r.items[i].name : idx);
        cJSON_AddStringToObject(e, "activation",
                                oclip_model_has_logit_bias(m->m) ? "sigmoid" : "softmax");
        cJSON *ps = cJSON_AddArrayToObject(e, "predictions");
        for (size_t k = 0; k < top; k++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "label", r.labels[rk[k].label]);
            cJSON_AddNumberToObject(p, "prob", rk[k].prob);
            cJSON_AddItemToArray(ps, p);
        }
        cJSON_AddItemToArray(data, e);
    }
    cJSON_AddStringToObject(o, "model", m->name);
    char *body = cli_json_print(o);
    if (!body) oom(resp);
    else sv_resp_json(resp, 200, body);
done:
    cJSON_Delete(o);
    free(img);
    free(w);
    free(pr);
    free(rk);
    sv_request_free(&r);
}

static void h_health(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    (void)q;
    if (!is_ready(s)) {
        sv_resp_json(resp, 503, strdup("{\"status\":\"loading\"}"));
        resp->retry_after = 1;
    } else {
        sv_resp_json(resp, 200, strdup("{\"status\":\"ok\"}"));
    }
}

static void h_models(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    (void)q;
    if (!is_ready(s)) {
        not_ready(resp);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < s->n_models && data; i++) {
        const sv_model *m = &s->models[i];
        int h, w;
        oclip_model_image_size(m->m, &h, &w);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "id", m->name);
        cJSON_AddStringToObject(e, "object", "model");
        cJSON_AddNumberToObject(e, "created", 0);
        cJSON_AddStringToObject(e, "owned_by", "oclip");
        cJSON_AddNumberToObject(e, "embed_dim", oclip_model_embed_dim(m->m));
        cJSON_AddNumberToObject(e, "context_length", oclip_model_context_length(m->m));
        cJSON *is = cJSON_AddArrayToObject(e, "image_size");
        cJSON_AddItemToArray(is, cJSON_CreateNumber(h));
        cJSON_AddItemToArray(is, cJSON_CreateNumber(w));
        cJSON_AddStringToObject(e, "source", oclip_model_source(m->m));
        cJSON_AddBoolToObject(e, "can_caption", oclip_model_can_caption(m->m));
        cJSON_AddItemToArray(data, e);
    }
    char *body = cli_json_print(o);
    cJSON_Delete(o);
    if (!body) oom(resp);
    else sv_resp_json(resp, 200, body);
}

/* Prometheus label values: '\\', '"' and newlines escaped */
static void label_value(char *out, size_t size, const char *s) {
    size_t k = 0;
    for (; *s && k + 3 < size; s++) {
        if (*s == '\\' || *s == '"') out[k++] = '\\', out[k++] = *s;
        else if (*s == '\n') out[k++] = '\\', out[k++] = 'n';
        else out[k++] = *s;
    }
    out[k] = '\0';
}

static void h_metrics(void *ctx, const sv_http_req *q, sv_http_resp *resp) {
    sv_server *s = ctx;
    (void)q;
    static const char *const tower[SV_N_QUEUES] = {"text", "image", "caption"};
    size_t cap = 2048 + s->n_models * SV_N_QUEUES * 4096; /* 15 lines per queue, names <= 160 */
    char *extra = malloc(cap);
    if (!extra) {
        oom(resp);
        return;
    }
    size_t k = 0;
#define PUT(...) k += (size_t)snprintf(extra + k, k < cap ? cap - k : 0, __VA_ARGS__)
    PUT("# HELP oclip_ready 1 once every model is loaded.\n# TYPE oclip_ready gauge\n"
        "oclip_ready %d\n", is_ready(s));
    /* one gauge per model and tower from a counter of its queue */
    static const struct {
        const char *metric, *help;
        size_t offset;
    } gauges[] = {
        {"oclip_queue_depth", "Inputs waiting for a batch.", offsetof(sv_queue, queued)},
        {"oclip_queue_preparing",
         "Requests being tokenized or decoded, not yet queued (the batcher waits for them).",
         offsetof(sv_queue, preparing)},
        {"oclip_batch_running", "Inputs in the forward pass running now.",
         offsetof(sv_queue, running)},
    };
    for (size_t g = 0; g < sizeof gauges / sizeof gauges[0]; g++) {
        PUT("# HELP %s %s\n# TYPE %s gauge\n", gauges[g].metric, gauges[g].help,
            gauges[g].metric);
        for (size_t i = 0; i < s->n_models && is_ready(s); i++)
            for (int t = 0; t < SV_N_QUEUES; t++) {
                sv_queue *qq = &s->models[i].q[t];
                if (!qq->started) continue; /* the caption queue of a model without a decoder */
                char name[160];
                label_value(name, sizeof name, s->models[i].name);
                pthread_mutex_lock(&qq->mu);
                size_t v = *(const size_t *)((const char *)qq + gauges[g].offset);
                PUT("%s{model=\"%s\",tower=\"%s\"} %zu\n", gauges[g].metric, name, tower[t], v);
                pthread_mutex_unlock(&qq->mu);
            }
    }
    PUT("# HELP oclip_batch_size Inputs per forward pass.\n# TYPE oclip_batch_size histogram\n");
    for (size_t i = 0; i < s->n_models && is_ready(s); i++)
        for (int t = 0; t < SV_N_QUEUES; t++) {
            sv_queue *qq = &s->models[i].q[t];
            if (!qq->started) continue; /* the caption queue of a model without a decoder */
            char name[160];
            label_value(name, sizeof name, s->models[i].name);
            pthread_mutex_lock(&qq->mu);
            uint64_t cum = 0;
            for (int b = 0; b < 10; b++) {
                cum += qq->batch_hist[b];
                if (b < 9)
                    PUT("oclip_batch_size_bucket{model=\"%s\",tower=\"%s\",le=\"%d\"} %llu\n",
                        name, tower[t], 1 << b, (unsigned long long)cum);
                else
                    PUT("oclip_batch_size_bucket{model=\"%s\",tower=\"%s\",le=\"+Inf\"} %llu\n",
                        name, tower[t], (unsigned long long)cum);
            }
            PUT("oclip_batch_size_sum{model=\"%s\",tower=\"%s\"} %llu\n", name, tower[t],
                (unsigned long long)qq->batch_inputs);
            PUT("oclip_batch_size_count{model=\"%s\",tower=\"%s\"} %llu\n", name, tower[t],
                (unsigned long long)qq->batches);
            pthread_mutex_unlock(&qq->mu);
        }
#undef PUT
    char *body = k < cap ? sv_metrics_render(extra) : NULL;
    free(extra);
    if (!body) {
        oom(resp);
        return;
    }
    sv_resp_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", body);
}

const sv_route sv_api_routes[] = {
    {"GET", "/health", h_health, 1, 0},
    {"GET", "/v1/models", h_models, 0, 0},
    {"POST", "/v1/embeddings", h_embeddings, 0, 0},
    {"POST", "/v1/images/embeddings", h_images, 0, 1},
    {"POST", "/v1/classify", h_classify, 0, 0},
    {"POST", "/v1/captions", h_captions, 0, 1},
    {"GET", "/metrics", h_metrics, 0, 0},
};
const size_t sv_api_n_routes = sizeof sv_api_routes / sizeof *sv_api_routes;
