/*
 * serve_req.c — request bodies of `oclip serve` into validated requests: every byte comes from
 * the network. JSON through cJSON after a UTF-8 check of the whole body (cJSON copies bytes in
 * strings unchecked), typed field by field; base64 and data URLs decoded with bounds; images
 * decoded under the pixel limit and preprocessed with the model's transform. No HTTP, no
 * threads, no model: fuzz/fuzz_serve.c compiles this file with text.c alone.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "serve.h"
#include "text.h"

int sv_failf(sv_fail *f, int status, const char *type, const char *code, const char *fmt, ...) {
    f->status = status;
    f->type = type;
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return -1;
}

#define BAD(f, code, ...) sv_failf(f, 400, "invalid_request_error", code, __VA_ARGS__)

void sv_request_free(sv_request *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].data);
        free(r->items[i].name);
    }
    free(r->items);
    for (size_t i = 0; i < r->n_labels; i++) free(r->labels[i]);
    free(r->labels);
    for (size_t i = 0; i < r->n_templates; i++) free(r->templates[i]);
    free(r->templates);
    free(r->model);
    memset(r, 0, sizeof *r);
}

static char *dup_bytes(const void *s, size_t len) {
    char *d = malloc(len + 1);
    if (!d) return NULL;
    if (len) memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

static int oom(sv_fail *f) {
    return sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
}

int sv_request_add(sv_request *r, const void *data, size_t len, const char *name,
                   const sv_req_limits *lim, sv_fail *f) {
    size_t max = r->kind == SV_IMAGE ? lim->max_images : lim->max_inputs;
    if (r->n >= max)
        return sv_failf(f, 413, "invalid_request_error", "too_many_inputs",
                        "too many %s in one request (at most %zu; split the request)",
                        r->kind == SV_IMAGE ? "images" : "inputs", max);
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        sv_item *it = realloc(r->items, cap * sizeof *it);
        if (!it) return oom(f);
        r->items = it;
        r->cap = cap;
    }
    sv_item *it = &r->items[r->n];
    it->data = dup_bytes(data, len);
    it->name = name ? dup_bytes(name, strlen(name)) : NULL;
    if (!it->data || (name && !it->name)) {
        free(it->data);
        free(it->name);
        return oom(f);
    }
    it->len = len;
    r->n++;
    return 0;
}

/* ---- base64 ---- */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* '-' '_': the URL-safe alphabet too */
    if (c == '/' || c == '_') return 63;
    return -1;
}

int sv_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    while (len && s[len - 1] == '=') len--;
    if (len % 4 == 1) return -1;
    unsigned char *d = malloc(len / 4 * 3 + 3);
    if (!d) return -1;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(d);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[k++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    *out = d;
    *out_len = k;
    return 0;
}

char *sv_base64_encode(const void *data, size_t len) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
    char *o = malloc((len + 2) / 3 * 4 + 1);
    if (!o) return NULL;
    size_t k = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[k++] = A[v >> 18], o[k++] = A[(v >> 12) & 63], o[k++] = A[(v >> 6) & 63],
        o[k++] = A[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        o[k++] = A[v >> 18], o[k++] = A[(v >> 12) & 63];
        o[k++] = i + 1 < len ? A[(v >> 6) & 63] : '=';
        o[k++] = '=';
    }
    o[k] = '\0';
    return o;
}

int sv_image_from_text(const char *s, size_t len, unsigned char **out, size_t *out_len,
                       sv_fail *f) {
    const char *p = s;
    size_t n = len;
    if (n >= 5 && !strncasecmp(p, "data:", 5)) {
        const char *comma = memchr(p, ',', n);
        if (!comma)
            return sv_failf(f, 400, "invalid_request_error", "invalid_image",
                            "an image data URL without ',' before its data");
        /* the media type may say anything (image/png, application/octet-stream): the bytes
         * tell the format; the payload must be base64 */
        size_t hl = (size_t)(comma - p);
        if (hl < 7 || strncasecmp(comma - 7, ";base64", 7))
            return sv_failf(f, 400, "invalid_request_error", "invalid_image",
                            "an image data URL must be base64 (data:image/png;base64,...)");
        n -= hl + 1;
        p = comma + 1;
    } else if ((n >= 7 && !strncasecmp(p, "http://", 7)) ||
               (n >= 8 && !strncasecmp(p, "https://", 8))) {
        return sv_failf(f, 400, "invalid_request_error", "invalid_image",
                        "image URLs are not fetched: send the bytes as a data URL or base64");
    }
    if (!n)
        return sv_failf(f, 400, "invalid_request_error", "invalid_image", "an empty image");
    if (sv_base64_decode(p, n, out, out_len))
        return sv_failf(f, 400, "invalid_request_error", "invalid_base64",
                        "an image is neither a data URL nor valid base64");
    return 0;
}

/* ---- JSON ---- */
static cJSON *parse_body(const char *body, size_t len, sv_fail *f) {
    size_t bad;
    if (!len) {
        BAD(f, "invalid_json", "the request body is empty: send a JSON object");
        return NULL;
    }
    if (!cli_utf8_valid(body, len, &bad)) {
        BAD(f, "invalid_utf8", "the request body is not UTF-8 (byte %zu is 0x%02x)", bad,
            (unsigned char)body[bad]);
        return NULL;
    }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!o) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        BAD(f, "invalid_json", "the request body is not valid JSON (near byte %zu)", at);
        return NULL;
    }
    while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end && end < body + len) {
        size_t at = (size_t)(end - body);
        cJSON_Delete(o);
        BAD(f, "invalid_json", "the request body holds more than one JSON value (byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        BAD(f, "invalid_type", "the request body must be a JSON object");
        return NULL;
    }
    return o;
}

int sv_parse_encoding(const char *s, int *base64, sv_fail *f) {
    if (!strcmp(s, "float")) *base64 = 0;
    else if (!strcmp(s, "base64")) *base64 = 1;
    else return BAD(f, "invalid_value", "'encoding_format' must be \"float\" or \"base64\"");
    return 0;
}

/* "model" and "encoding_format", shared by every endpoint */
static int common_fields(const cJSON *o, sv_request *r, sv_fail *f) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m)) return BAD(f, "invalid_type", "'model' must be a string");
        if (!(r->model = dup_bytes(m->valuestring, strlen(m->valuestring)))) return oom(f);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "encoding_format");
    if (e && !cJSON_IsNull(e)) {
        if (!cJSON_IsString(e)) return BAD(f, "invalid_type", "'encoding_format' must be a string");
        if (sv_parse_encoding(e->valuestring, &r->base64, f)) return -1;
    }
    return 0;
}

static int add_text(sv_request *r, const cJSON *s, const sv_req_limits *lim, sv_fail *f) {
    size_t len = strlen(s->valuestring);
    if (!len)
        return BAD(f, "invalid_value", "input %zu is an empty string", r->n);
    if (len > lim->max_text_bytes)
        return sv_failf(f, 413, "invalid_request_error", "input_too_long",
                        "input %zu has %zu bytes (at most %zu)", r->n, len, lim->max_text_bytes);
    return sv_request_add(r, s->valuestring, len, NULL, lim, f);
}

/* One image: a data URL / base64 string, or {"name": str, "data": str}. */
static int add_image(sv_request *r, const cJSON *v, const sv_req_limits *lim, sv_fail *f) {
    const char *name = NULL;
    if (cJSON_IsObject(v)) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "name");
        if (n && !cJSON_IsString(n))
            return BAD(f, "invalid_type", "image %zu: 'name' must be a string", r->n);
        name = n ? n->valuestring : NULL;
        v = cJSON_GetObjectItemCaseSensitive(v, "data");
    }
    if (!cJSON_IsString(v))
        return BAD(f, "invalid_type", "image %zu must be a data URL or base64 string (or "
                   "{\"name\", \"data\"})", r->n);
    unsigned char *bytes;
    size_t n;
    if (sv_image_from_text(v->valuestring, strlen(v->valuestring), &bytes, &n, f)) {
        char m[sizeof f->message];
        snprintf(m, sizeof m, "image %zu: %.400s", r->n, f->message);
        snprintf(f->message, sizeof f->message, "%s", m);
        return -1;
    }
    int rc = sv_request_add(r, bytes, n, name, lim, f);
    free(bytes);
    return rc;
}

/* str | [str] (or image forms) into items */
static int add_inputs(sv_request *r, const cJSON *in, const char *field, const sv_req_limits *lim,
                      sv_fail *f) {
    if (!in) return BAD(f, "missing_field", "'%s' is missing", field);
    if (cJSON_IsString(in) || (r->kind == SV_IMAGE && cJSON_IsObject(in)))
        return r->kind == SV_IMAGE ? add_image(r, in, lim, f) : add_text(r, in, lim, f);
    if (!cJSON_IsArray(in))
        return BAD(f, "invalid_type", "'%s' must be a string or an array of strings", field);
    int n = cJSON_GetArraySize(in);
    if (n == 0) return BAD(f, "invalid_value", "'%s' is an empty array", field);
    size_t max = r->kind == SV_IMAGE ? lim->max_images : lim->max_inputs;
    if ((size_t)n > max)
        return sv_failf(f, 413, "invalid_request_error", "too_many_inputs",
                        "'%s' holds %d items (at most %zu; split the request)", field, n, max);
    for (const cJSON *v = in->child; v; v = v->next) {
        if (r->kind == SV_TEXT && cJSON_IsNumber(v))
            return BAD(f, "invalid_type", "token-id inputs are not supported: send strings");
        if (r->kind == SV_TEXT && !cJSON_IsString(v))
            return BAD(f, "invalid_type", "'%s' item %zu must be a string", field, r->n);
        if (r->kind == SV_TEXT ? add_text(r, v, lim, f) : add_image(r, v, lim, f)) return -1;
    }
    return 0;
}

int sv_parse_embeddings(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                        sv_fail *f) {
    cJSON *o = parse_body(body, len, f);
    if (!o) return -1;
    int rc = -1;
    r->kind = SV_TEXT;
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(o, "modality");
    if (mod && !cJSON_IsNull(mod)) {
        if (!cJSON_IsString(mod)) {
            BAD(f, "invalid_type", "'modality' must be \"text\" or \"image\"");
            goto done;
        }
        if (!strcmp(mod->valuestring, "image")) {
            r->kind = SV_IMAGE;
        } else if (strcmp(mod->valuestring, "text")) {
            BAD(f, "invalid_value", "'modality' must be \"text\" or \"image\"");
            goto done;
        }
    }
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(o, "dimensions");
    if (dim && !cJSON_IsNull(dim) && !cJSON_IsNumber(dim)) {
        BAD(f, "invalid_type", "'dimensions' must be a number");
        goto done;
    }
    if (common_fields(o, r, f) ||
        add_inputs(r, cJSON_GetObjectItemCaseSensitive(o, "input"), "input", lim, f))
        goto done;
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

int sv_parse_images_json(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                         sv_fail *f) {
    cJSON *o = parse_body(body, len, f);
    if (!o) return -1;
    r->kind = SV_IMAGE;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input");
    const char *field = "input";
    if (!in) in = cJSON_GetObjectItemCaseSensitive(o, "images"), field = "images";
    int rc = common_fields(o, r, f) || add_inputs(r, in, field, lim, f) ? -1 : 0;
    cJSON_Delete(o);
    return rc;
}

/* ---- captions ---- */
const char *const sv_caption_option_names[SV_N_CAPTION_OPTS] = {
    "num_beams", "num_beam_groups", "seq_len", "min_seq_len", "repetition_penalty"};

/* The ranges of `oclip caption`'s options (cli/cmd_caption.c); oclip_caption checks what
 * depends on the model (seq_len against its context, groups dividing beams). */
static int set_caption_option(sv_request *r, int which, double v, sv_fail *f) {
    static const int lo[] = {2, 1, 2, 1}, hi[] = {64, 64, 4096, 4096};
    const char *name = sv_caption_option_names[which];
    if (which == SV_CAP_PENALTY) {
        if (!(v > 0) || v > 1e6)
            return BAD(f, "invalid_value", "'%s' must be a positive number (at most 1e6)", name);
        r->repetition_penalty = v;
        return 0;
    }
    if (!(v >= lo[which] && v <= hi[which]) || v != (double)(int)v)
        return BAD(f, "invalid_value", "'%s' must be an integer from %d to %d", name, lo[which],
                   hi[which]);
    int *dst[] = {&r->num_beams, &r->num_beam_groups, &r->seq_len, &r->min_seq_len};
    *dst[which] = (int)v;
    return 0;
}

int sv_parse_caption_option(sv_request *r, int which, const char *text, sv_fail *f) {
    if (which < 0 || which >= SV_N_CAPTION_OPTS) return BAD(f, "invalid_value", "no such option");
    char *end;
    double v = *text ? strtod(text, &end) : 0;
    if (!*text || *end || text[0] == ' ' || text[0] == '\t')
        return BAD(f, "invalid_value", "'%s' must be a number, not '%.40s'",
                   sv_caption_option_names[which], text);
    return set_caption_option(r, which, v, f);
}

int sv_parse_captions_json(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                           sv_fail *f) {
    cJSON *o = parse_body(body, len, f);
    if (!o) return -1;
    r->kind = SV_IMAGE;
    int rc = -1;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input");
    const char *field = "input";
    if (!in) in = cJSON_GetObjectItemCaseSensitive(o, "images"), field = "images";
    if (common_fields(o, r, f) || add_inputs(r, in, field, lim, f)) goto done;
    for (int k = 0; k < SV_N_CAPTION_OPTS; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, sv_caption_option_names[k]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v)) {
            BAD(f, "invalid_type", "'%s' must be a number", sv_caption_option_names[k]);
            goto done;
        }
        if (set_caption_option(r, k, v->valuedouble, f)) goto done;
    }
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

/* labels: [str] or "a, b,c" (split at commas, spaces trimmed, as `oclip classify --labels`) */
static int add_label(char ***v, size_t *n, const char *s, size_t len, const char *what,
                     const sv_req_limits *lim, sv_fail *f) {
    if (!len) return BAD(f, "invalid_value", "%s %zu is empty", what, *n);
    if (*n >= lim->max_labels)
        return sv_failf(f, 413, "invalid_request_error", "too_many_inputs",
                        "too many %ss (at most %zu)", what, lim->max_labels);
    if (len > lim->max_text_bytes)
        return sv_failf(f, 413, "invalid_request_error", "input_too_long",
                        "%s %zu has %zu bytes (at most %zu)", what, *n, len, lim->max_text_bytes);
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return oom(f);
    *v = nv;
    if (!(nv[*n] = dup_bytes(s, len))) return oom(f);
    (*n)++;
    return 0;
}

int sv_parse_classify(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                      sv_fail *f) {
    cJSON *o = parse_body(body, len, f);
    if (!o) return -1;
    int rc = -1;
    r->kind = SV_IMAGE;
    snprintf(r->template_set, sizeof r->template_set, "imagenet");
    if (common_fields(o, r, f) ||
        add_inputs(r, cJSON_GetObjectItemCaseSensitive(o, "images"), "images", lim, f))
        goto done;
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "labels");
    if (!lab) {
        BAD(f, "missing_field", "'labels' is missing");
        goto done;
    }
    if (cJSON_IsString(lab)) {
        for (const char *p = lab->valuestring;;) {
            const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
            const char *b = p, *e = end;
            while (b < e && (*b == ' ' || *b == '\t')) b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
            if (add_label(&r->labels, &r->n_labels, b, (size_t)(e - b), "label", lim, f))
                goto done;
            if (!comma) break;
            p = comma + 1;
        }
    } else if (cJSON_IsArray(lab)) {
        for (const cJSON *v = lab->child; v; v = v->next) {
            if (!cJSON_IsString(v)) {
                BAD(f, "invalid_type", "'labels' item %zu must be a string", r->n_labels);
                goto done;
            }
            if (add_label(&r->labels, &r->n_labels, v->valuestring, strlen(v->valuestring),
                          "label", lim, f))
                goto done;
        }
    } else {
        BAD(f, "invalid_type", "'labels' must be an array of strings or \"a,b,c\"");
        goto done;
    }
    if (!r->n_labels) {
        BAD(f, "invalid_value", "'labels' is empty");
        goto done;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "templates");
    if (t && cJSON_IsString(t)) {
        if (strcmp(t->valuestring, "imagenet") && strcmp(t->valuestring, "simple") &&
            strcmp(t->valuestring, "none")) {
            BAD(f, "invalid_value", "'templates' must be \"imagenet\", \"simple\", \"none\" or an "
                "array of templates with {}");
            goto done;
        }
        snprintf(r->template_set, sizeof r->template_set, "%s", t->valuestring);
    } else if (t && cJSON_IsArray(t)) {
        for (const cJSON *v = t->child; v; v = v->next) {
            if (!cJSON_IsString(v) || !strstr(v->valuestring, "{}")) {
                BAD(f, "invalid_value", "'templates' item %zu must be a string with {} for the "
                    "label", r->n_templates);
                goto done;
            }
            if (add_label(&r->templates, &r->n_templates, v->valuestring,
                          strlen(v->valuestring), "template", lim, f))
                goto done;
        }
        if (!r->n_templates) {
            BAD(f, "invalid_value", "'templates' is empty");
            goto done;
        }
    } else if (t && !cJSON_IsNull(t)) {
        BAD(f, "invalid_type", "'templates' must be a string or an array of strings");
        goto done;
    }
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(o, "top");
    if (top && !cJSON_IsNull(top)) {
        if (!cJSON_IsNumber(top) || top->valuedouble < 1 || top->valuedouble > 1e6 ||
            top->valuedouble != (double)(int)top->valuedouble) {
            BAD(f, "invalid_value", "'top' must be a positive integer");
            goto done;
        }
        r->top = (int)top->valuedouble;
    }
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

/* ---- images ---- */
int sv_prepare_images(const sv_request *r, const oclip_preprocess_cfg *cfg, uint64_t max_pixels,
                      float *pixels, sv_fail *f) {
    oclip_image_options io;
    oclip_image_options_default(&io);
    if (max_pixels) io.max_pixels = max_pixels;
    oclip_preprocess_cfg pc = *cfg;
    if (max_pixels) pc.max_pixels = max_pixels;
    size_t per = 3 * (size_t)pc.size[0] * (size_t)pc.size[1];
    for (size_t i = 0; i < r->n; i++) {
        oclip_image *img = NULL;
        oclip_error err;
        char name[48];
        snprintf(name, sizeof name, "image %zu", i);
        oclip_status s = oclip_image_decode(r->items[i].data, r->items[i].len, name, &io, &img,
                                            &err);
        if (s == OCLIP_OK) s = oclip_preprocess(img, &pc, pixels + i * per, &err);
        oclip_image_free(img);
        if (s != OCLIP_OK) {
            /* the library's message names "image i"; a line break would break nothing in
             * JSON, but one line reads better */
            for (char *p = err.msg; *p; p++)
                if (*p == '\n') *p = ' ';
            return sv_failf(f, s == OCLIP_E_NOMEM ? 413 : 422, "invalid_request_error",
                            s == OCLIP_E_NOMEM ? "image_too_large" : "invalid_image", "%s",
                            err.msg);
        }
    }
    return 0;
}
