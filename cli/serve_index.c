/*
 * serve_index.c — `oclip serve --index DIR`: search over a folder `oclip embed-dir` wrote
 * (docs/COLLECTIONS.md), as routes beside the API's (serve_api.c):
 *
 *   GET  /                  the search page (serve_page.c)
 *   POST /v1/search         {"text": str} | {"image": base64 or data URL} | {"row": N}, "k"
 *                           -> {"object": "list", "rows": total, "data": [{"row", "score",
 *                           the row's metadata: "path" | "tar", "key", "file"; "caption"}]}
 *   GET  /v1/thumb?row=N    the row's image bytes, read from its file or tar member
 *
 * The image embeddings of every shard and their metadata lines are read once at start-up
 * (memory: rows x embed_dim x 4 bytes plus the metadata); a query is an exact scan. /v1/thumb
 * reads only what a row's metadata names: no request names a path.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cJSON.h>

#include "collection.h"
#include "npy_read.h"
#include "serve.h"
#include "text.h"

/* The largest image /v1/thumb sends. */
#define SV_THUMB_MAX ((size_t)32 << 20)
#define SV_SEARCH_MAX_K 1000

void sv_index_free(sv_index *x) {
    if (!x) return;
    for (size_t i = 0; x->meta && i < x->rows; i++) free(x->meta[i]);
    free(x->meta);
    free(x->emb);
    coll_index_close(&x->ix);
    free(x);
}

/* Splits a metadata file into its lines (appended to x->meta from x->rows on). */
static int add_meta(sv_index *x, const char *path, size_t expect, char *why, size_t why_size) {
    size_t len;
    char *t = coll_read_file(path, (size_t)1 << 32, &len);
    if (!t) {
        snprintf(why, why_size, "'%s': %s", path, strerror(errno));
        return -1;
    }
    size_t got = 0;
    char *p = t;
    while (*p && got < expect) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (!(x->meta[x->rows + got] = strndup(p, n))) {
            free(t);
            snprintf(why, why_size, "out of memory");
            return -1;
        }
        got++;
        p += n + (nl != NULL);
    }
    free(t);
    if (got != expect) {
        snprintf(why, why_size, "'%s': %zu lines for %zu embeddings", path, got, expect);
        return -1;
    }
    return 0;
}

int sv_index_open(const char *dir, sv_index **out, char *why, size_t why_size) {
    sv_index *x = calloc(1, sizeof *x);
    *out = NULL;
    if (!x) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (coll_index_open(dir, &x->ix, why, why_size)) {
        free(x);
        return -1;
    }
    size_t E = x->E = x->ix.embed_dim;
    for (uint64_t s = 0; s < x->ix.shards; s++) {
        char path[4200];
        coll_shard_path(path, sizeof path, dir, "img", s);
        npy_array a;
        char w[200];
        if (npy_read(path, "<f4", &a, w, sizeof w)) {
            snprintf(why, why_size, "'%s': %s", path, w);
            goto fail;
        }
        if (a.ndim != 2 || (size_t)a.shape[1] != E) {
            snprintf(why, why_size, "'%s': shape is not [rows, %zu]", path, E);
            npy_free(&a);
            goto fail;
        }
        size_t n = (size_t)a.shape[0];
        float *emb = n ? realloc(x->emb, (x->rows + n) * E * sizeof *emb) : x->emb;
        char **meta = n ? realloc(x->meta, (x->rows + n) * sizeof *meta) : x->meta;
        if (emb) x->emb = emb;
        if (meta) x->meta = meta;
        if (n && (!emb || !meta || n > SIZE_MAX / E / sizeof *emb)) {
            npy_free(&a);
            snprintf(why, why_size, "out of memory for the index's embeddings");
            goto fail;
        }
        if (n) memcpy(x->emb + x->rows * E, a.data, n * E * sizeof *emb);
        npy_free(&a);
        for (size_t i = 0; i < n; i++) x->meta[x->rows + i] = NULL;
        coll_shard_path(path, sizeof path, dir, "metadata", s);
        int bad = add_meta(x, path, n, why, why_size);
        x->rows += n;
        if (bad) goto fail;
    }
    *out = x;
    return 0;
fail:
    sv_index_free(x);
    return -1;
}

/* ---------------------------------------------------------------------------------------------
 * Handlers
 */
static float dot(const float *a, const float *b, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = 0;
    for (; i < n; i++) t += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

static void fail(sv_http_resp *r, int status, const char *type, const char *code,
                 const char *msg) {
    sv_fail f;
    sv_failf(&f, status, type, code, "%s", msg);
    sv_resp_error(r, &f);
}

/* q[E] += the normalized embedding of the text or the image (base64 / data URL). */
static int add_query(sv_server *s, sv_model *m, int kind, const char *str, size_t len, float *q,
                     sv_fail *f) {
    size_t E = (size_t)oclip_model_embed_dim(m->m);
    float *e = malloc(E * sizeof *e);
    sv_request r = {.kind = kind};
    void *in = NULL;
    int rc = -1;
    if (!e) goto oom;
    sv_job j = {.n = 1, .out = e};
    if (kind == SV_TEXT) {
        if (len > s->lim.max_text_bytes) {
            sv_failf(f, 413, "invalid_request_error", "text_too_long",
                     "\"text\" has %zu bytes (at most %zu)", len, s->lim.max_text_bytes);
            goto done;
        }
        int64_t *tok = malloc((size_t)oclip_model_context_length(m->m) * sizeof *tok);
        in = tok;
        if (!tok) goto oom;
        oclip_error err;
        if (oclip_model_tokenize(m->m, &str, &len, 1, tok, &err) != OCLIP_OK) {
            sv_failf(f, 400, "invalid_request_error", "tokenize_failed", "%s", err.msg);
            goto done;
        }
        j.tokens = tok;
    } else {
        unsigned char *bytes;
        size_t n;
        if (sv_image_from_text(str, len, &bytes, &n, f)) goto done;
        sv_req_limits one = s->lim;
        one.max_images = 1;
        int bad = sv_request_add(&r, bytes, n, "image", &one, f);
        free(bytes);
        if (bad) goto done;
        const oclip_preprocess_cfg *cfg = oclip_model_preprocess(m->m);
        float *px = malloc(3 * (size_t)cfg->size[0] * (size_t)cfg->size[1] * sizeof *px);
        in = px;
        if (!px) goto oom;
        while (sem_wait(&s->decoders) && errno == EINTR) continue;
        bad = sv_prepare_images(&r, cfg, s->max_pixels, px, f);
        sem_post(&s->decoders);
        if (bad) goto done;
        j.pixels = px;
    }
    if (sv_run_job(s, m, kind, &j, f)) goto done;
    for (size_t i = 0; i < E; i++) q[i] += e[i];
    rc = 0;
    goto done;
oom:
    sv_failf(f, 503, "server_error", "out_of_memory", "out of memory");
done:
    sv_request_free(&r);
    free(in);
    free(e);
    return rc;
}

typedef struct {
    float score;
    size_t row;
} hit;

/* The JSON object of a row: its metadata with "row" the index's row and "score". */
static cJSON *row_json(const sv_index *x, size_t row, float score) {
    cJSON *o = cJSON_Parse(x->meta[row]);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
    }
    if (!o) return NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "row");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "index");
    cJSON_AddNumberToObject(o, "row", (double)row);
    char b[32];
    snprintf(b, sizeof b, "%.6f", (double)score);
    cJSON_AddNumberToObject(o, "score", strtod(b, NULL));
    return o;
}

static void h_search(void *ctx, const sv_http_req *req, sv_http_resp *resp) {
    sv_server *s = ctx;
    sv_index *x = s->index;
    sv_fail f;
    if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
        fail(resp, 503, "server_error", "loading", "the model is still loading");
        return;
    }
    cJSON *o = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        fail(resp, 400, "invalid_request_error", "invalid_json",
             "the body is not a JSON object: send {\"text\": \"...\"}, {\"image\": BASE64} or "
             "{\"row\": N}, and \"k\"");
        return;
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(o, "image");
    const cJSON *row = cJSON_GetObjectItemCaseSensitive(o, "row");
    const cJSON *kj = cJSON_GetObjectItemCaseSensitive(o, "k");
    size_t E = x->E, k = 20;
    float *q = calloc(E, sizeof *q);
    hit *hits = NULL;
    if (!q) {
        sv_failf(&f, 503, "server_error", "out_of_memory", "out of memory");
        goto err;
    }
    if ((text && !cJSON_IsString(text)) || (image && !cJSON_IsString(image)) ||
        (row && !cJSON_IsNumber(row))) {
        sv_failf(&f, 400, "invalid_request_error", "invalid_type",
                 "\"text\" and \"image\" are strings, \"row\" a number");
        goto err;
    }
    if (kj) {
        if (!cJSON_IsNumber(kj) || kj->valuedouble < 1 || kj->valuedouble > SV_SEARCH_MAX_K ||
            kj->valuedouble != (double)(size_t)kj->valuedouble) {
            sv_failf(&f, 400, "invalid_request_error", "invalid_k",
                     "\"k\" is an integer from 1 to %d", SV_SEARCH_MAX_K);
            goto err;
        }
        k = (size_t)kj->valuedouble;
    }
    if (!text && !image && !row) {
        sv_failf(&f, 400, "invalid_request_error", "missing_query",
                 "give \"text\", \"image\" (base64 or a data URL) or \"row\"");
        goto err;
    }
    if (row && (text || image)) {
        sv_failf(&f, 400, "invalid_request_error", "invalid_query",
                 "\"row\" (more like this row) goes alone, without \"text\" or \"image\"");
        goto err;
    }
    if (row) {
        if (row->valuedouble < 0 || row->valuedouble >= (double)x->rows ||
            row->valuedouble != (double)(size_t)row->valuedouble) {
            sv_failf(&f, 404, "not_found_error", "row_not_found",
                     "the index has rows 0 to %zu", x->rows ? x->rows - 1 : 0);
            goto err;
        }
        memcpy(q, x->emb + (size_t)row->valuedouble * E, E * sizeof *q);
    } else {
        sv_model *m = s->index_model;
        if ((text && add_query(s, m, SV_TEXT, text->valuestring, strlen(text->valuestring), q,
                               &f)) ||
            (image && add_query(s, m, SV_IMAGE, image->valuestring, strlen(image->valuestring),
                                q, &f)))
            goto err;
        if (text && image) { /* the normalized sum, as `oclip search TEXT --image FILE` */
            double ss = 0;
            for (size_t i = 0; i < E; i++) ss += (double)q[i] * q[i];
            for (size_t i = 0; ss > 0 && i < E; i++) q[i] = (float)(q[i] / sqrt(ss));
        }
    }
    if (k > x->rows) k = x->rows;
    hits = malloc((k ? k : 1) * sizeof *hits);
    if (!hits) {
        sv_failf(&f, 503, "server_error", "out_of_memory", "out of memory");
        goto err;
    }
    size_t n = 0;
    for (size_t r = 0; r < x->rows && k; r++) { /* best first; ties: earlier rows first */
        float sc = dot(x->emb + r * E, q, E);
        if (sc != sc || (n == k && !(sc > hits[k - 1].score))) continue;
        size_t pos = n < k ? n++ : k - 1;
        while (pos > 0 && sc > hits[pos - 1].score) {
            hits[pos] = hits[pos - 1];
            pos--;
        }
        hits[pos] = (hit){sc, r};
    }
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "object", "list");
    cJSON_AddStringToObject(a, "model", s->index_model->name);
    cJSON_AddNumberToObject(a, "rows", (double)x->rows);
    cJSON *d = cJSON_AddArrayToObject(a, "data");
    for (size_t i = 0; d && i < n; i++) cJSON_AddItemToArray(d, row_json(x, hits[i].row,
                                                                      hits[i].score));
    char *body = d ? cli_json_print(a) : NULL;
    cJSON_Delete(a);
    sv_resp_json(resp, 200, body); /* NULL: the 503 out-of-memory answer */
    goto out;
err:
    sv_resp_error(resp, &f);
out:
    free(hits);
    free(q);
    cJSON_Delete(o);
}

static const char *mime_of(const char *name) {
    const char *dot = name ? strrchr(name, '.') : NULL;
    static const struct {
        const char *ext, *type;
    } t[] = {{".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".png", "image/png"},
             {".webp", "image/webp"}, {".gif", "image/gif"},  {".bmp", "image/bmp"},
             {".tif", "image/tiff"},  {".tiff", "image/tiff"}};
    for (size_t i = 0; dot && i < sizeof t / sizeof *t; i++)
        if (!strcasecmp(dot, t[i].ext)) return t[i].type;
    return "application/octet-stream";
}

/* The regular file at `path` (never a FIFO or device: opened without blocking, checked with
 * fstat) into a malloc'd buffer; 0, or an HTTP status (404 unreadable, 413 over the limit). */
static int read_regular(const char *path, char **data, size_t *size) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    *data = NULL;
    if (fd < 0) return 404;
    int status = 404;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) goto out;
    status = 413;
    if (st.st_size < 0 || (uint64_t)st.st_size > SV_THUMB_MAX) goto out;
    status = 503;
    size_t n = (size_t)st.st_size, got = 0;
    if (!(*data = malloc(n + 1))) goto out;
    while (got < n) {
        ssize_t k = read(fd, *data + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    status = got == n ? 0 : 404;
    *size = got;
out:
    if (status) {
        free(*data);
        *data = NULL;
    }
    close(fd);
    return status;
}

/* The member `name` of the tar at `path` into a malloc'd buffer; 0, or an HTTP status. */
static int tar_member(const char *path, const char *name, char **data, size_t *size) {
    struct stat st;
    *data = NULL;
    if (stat(path, &st) || !S_ISREG(st.st_mode)) return 404; /* a FIFO would block */
    struct archive *ar = archive_read_new();
    struct archive_entry *e;
    int status = 404;
    if (!ar) return 503;
    archive_read_support_format_tar(ar);
    archive_read_support_filter_gzip(ar);
    if (archive_read_open_filename(ar, path, 1 << 16) != ARCHIVE_OK) goto out;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        if (!p || strcmp(p, name)) continue;
        la_int64_t sz = archive_entry_size(e);
        if (sz < 0 || (uint64_t)sz > SV_THUMB_MAX) {
            status = 413;
            goto out;
        }
        if (!(*data = malloc((size_t)sz + 1))) {
            status = 503;
            goto out;
        }
        size_t got = 0;
        while (got < (size_t)sz) {
            la_ssize_t k = archive_read_data(ar, *data + got, (size_t)sz - got);
            if (k <= 0) break;
            got += (size_t)k;
        }
        if (got != (size_t)sz) {
            free(*data);
            *data = NULL;
            goto out;
        }
        *size = (size_t)sz;
        status = 0;
        break;
    }
out:
    archive_read_free(ar);
    return status;
}

static void h_thumb(void *ctx, const sv_http_req *req, sv_http_resp *resp) {
    sv_server *s = ctx;
    sv_index *x = s->index;
    const char *v = req->query_row;
    char *end = NULL;
    errno = 0;
    unsigned long long row = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!v || !end || *end || errno) {
        fail(resp, 400, "invalid_request_error", "invalid_row",
             "give ?row=N, a row of the index (GET /v1/thumb serves only the index's images)");
        return;
    }
    if (row >= x->rows) {
        fail(resp, 404, "not_found_error", "row_not_found", "no such row in the index");
        return;
    }
    cJSON *o = cJSON_Parse(x->meta[row]);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *tar = cJSON_GetObjectItemCaseSensitive(o, "tar");
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(o, "file");
    char *data = NULL;
    size_t size = 0;
    const char *name = NULL;
    int status = 404;
    if (cJSON_IsString(tar) && cJSON_IsString(file)) {
        name = file->valuestring;
        status = tar_member(tar->valuestring, name, &data, &size);
    } else if (cJSON_IsString(path)) {
        name = path->valuestring;
        status = read_regular(name, &data, &size);
    }
    if (status) {
        free(data);
        cJSON_Delete(o);
        fail(resp, status, status == 404 ? "not_found_error" : status == 413
                 ? "invalid_request_error" : "server_error",
             status == 404 ? "image_unreadable" : status == 413 ? "image_too_large"
                                                                : "out_of_memory",
             status == 404 ? "the row's image cannot be read (moved since embed-dir ran?)"
             : status == 413 ? "the row's image is larger than 32 MiB" : "out of memory");
        return;
    }
    free(resp->body);
    resp->status = 200;
    resp->body = data;
    resp->len = size;
    resp->content_type = mime_of(name);
    cJSON_Delete(o);
}

static void h_page(void *ctx, const sv_http_req *req, sv_http_resp *resp) {
    (void)ctx, (void)req;
    sv_resp_text(resp, 200, "text/html; charset=utf-8", strdup(sv_page_html));
}

/* The page is open (no data in it; with --api-key it asks for the key); the rest is not. */
const sv_route sv_index_routes[] = {
    {"GET", "/", h_page, 1, 0},
    {"POST", "/v1/search", h_search, 0, 0},
    {"GET", "/v1/thumb", h_thumb, 0, 0},
};
const size_t sv_index_n_routes = sizeof sv_index_routes / sizeof *sv_index_routes;
