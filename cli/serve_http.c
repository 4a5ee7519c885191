/*
 * serve_http.c — the HTTP side of `oclip serve` on libmicrohttpd (Debian's libmicrohttpd-dev):
 * MHD parses HTTP; this file collects bodies under the size limit, runs multipart bodies through
 * MHD's post processor, checks the API key, finds the route, and turns handler results into
 * responses ({"error": {...}} JSON for every refusal). MHD runs one thread per connection, so a
 * handler may block (decode images, wait for its batch) without holding up anyone else; the
 * number of connections is bounded (connection_limit).
 *
 * Stopping (sv_http_stop): MHD_quiesce_daemon closes the listening socket (no new connections),
 * responses from then on say "Connection: close", and the requests in flight (counted from
 * their first call to the access handler to MHD's completion notice) are finished before the
 * daemon stops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "serve.h"
#include "text.h"

/* bodies over the limit are read and thrown away (so that the client, which sends all of its
 * body before reading, gets its 413) up to this many bytes; past it the connection is closed */
#define DISCARD_MAX ((size_t)256 << 20)

struct sv_http {
    struct MHD_Daemon *d;
    sv_http_options o;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    unsigned in_flight;
    int stopping;
    size_t buffered; /* body bytes held by all connections */
};

typedef struct {
    const sv_route *route;
    int early;           /* a refusal decided before the body ended */
    sv_fail fail;
    char *body;
    size_t len, cap, received;
    struct MHD_PostProcessor *pp;
    sv_request mp;       /* multipart parts */
    int mp_part_open;
    char field[128];
    size_t field_len;
    char opt[SV_N_CAPTION_OPTS][128]; /* multipart caption option fields (POST /v1/captions) */
    int opt_set[SV_N_CAPTION_OPTS];
    double t0;
    const sv_req_limits *lim;
    size_t accounted; /* this request's part of sv_http.buffered */
} conn;

/* =============================================================================================
 * Metrics
 */
#define N_BUCKETS 12
static const double lat_bounds[N_BUCKETS - 1] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10};
typedef struct {
    char path[48];
    int status;
    uint64_t count;
} status_count;
typedef struct {
    char path[48];
    uint64_t hist[N_BUCKETS], count;
    double sum;
} latency;
static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static status_count m_status[96];
static size_t m_n_status;
static latency m_lat[24];
static size_t m_n_lat;

void sv_metrics_request(const char *path, int status, double seconds) {
    pthread_mutex_lock(&metrics_mu);
    size_t i = 0;
    for (; i < m_n_status; i++)
        if (m_status[i].status == status && !strcmp(m_status[i].path, path)) break;
    if (i == m_n_status && m_n_status < sizeof m_status / sizeof *m_status) {
        snprintf(m_status[i].path, sizeof m_status[i].path, "%s", path);
        m_status[i].status = status;
        m_n_status++;
    }
    if (i < m_n_status) m_status[i].count++;
    for (i = 0; i < m_n_lat; i++)
        if (!strcmp(m_lat[i].path, path)) break;
    if (i == m_n_lat && m_n_lat < sizeof m_lat / sizeof *m_lat) {
        snprintf(m_lat[i].path, sizeof m_lat[i].path, "%s", path);
        m_n_lat++;
    }
    if (i < m_n_lat) {
        int b = 0;
        while (b < N_BUCKETS - 1 && seconds > lat_bounds[b]) b++;
        m_lat[i].hist[b]++;
        m_lat[i].count++;
        m_lat[i].sum += seconds;
    }
    pthread_mutex_unlock(&metrics_mu);
}

uint64_t sv_metrics_answered(const char *path) {
    uint64_t n = 0;
    pthread_mutex_lock(&metrics_mu);
    for (size_t i = 0; i < m_n_status; i++)
        if (!strcmp(m_status[i].path, path)) n += m_status[i].count;
    pthread_mutex_unlock(&metrics_mu);
    return n;
}

typedef struct {
    char *s;
    size_t len, cap;
    int bad;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->bad = 1;
            return;
        }
        if (b->s && b->len + (size_t)k < b->cap) {
            b->len += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? 2 * b->cap : 4096) + (size_t)k;
        char *n = realloc(b->s, cap);
        if (!n) {
            b->bad = 1;
            return;
        }
        b->s = n;
        b->cap = cap;
    }
}

/* the server whose body bytes /metrics reports (one per process) */
static sv_http *the_http;

char *sv_metrics_render(const char *extra) {
    sbuf b = {0};
    if (the_http) {
        pthread_mutex_lock(&the_http->mu);
        size_t held = the_http->buffered;
        unsigned in_flight = the_http->in_flight;
        pthread_mutex_unlock(&the_http->mu);
        sb_printf(&b, "# HELP oclip_body_bytes Request body bytes held by all connections.\n"
                      "# TYPE oclip_body_bytes gauge\noclip_body_bytes %zu\n"
                      "# HELP oclip_requests_in_flight Requests between their headers and the "
                      "end of their response.\n# TYPE oclip_requests_in_flight gauge\n"
                      "oclip_requests_in_flight %u\n", held, in_flight);
    }
    pthread_mutex_lock(&metrics_mu);
    sb_printf(&b, "# HELP oclip_requests_total HTTP requests answered, by path and status.\n"
                  "# TYPE oclip_requests_total counter\n");
    for (size_t i = 0; i < m_n_status; i++)
        sb_printf(&b, "oclip_requests_total{path=\"%s\",code=\"%d\"} %llu\n", m_status[i].path,
                  m_status[i].status, (unsigned long long)m_status[i].count);
    sb_printf(&b, "# HELP oclip_request_errors_total HTTP requests answered with a 4xx or 5xx "
                  "status.\n# TYPE oclip_request_errors_total counter\n");
    for (size_t i = 0; i < m_n_lat; i++) {
        uint64_t e = 0;
        for (size_t k = 0; k < m_n_status; k++)
            if (m_status[k].status >= 400 && !strcmp(m_status[k].path, m_lat[i].path))
                e += m_status[k].count;
        sb_printf(&b, "oclip_request_errors_total{path=\"%s\"} %llu\n", m_lat[i].path,
                  (unsigned long long)e);
    }
    sb_printf(&b, "# HELP oclip_request_duration_seconds Time from the request's headers to its "
                  "response.\n# TYPE oclip_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m_n_lat; i++) {
        uint64_t cum = 0;
        for (int k = 0; k < N_BUCKETS; k++) {
            cum += m_lat[i].hist[k];
            if (k < N_BUCKETS - 1)
                sb_printf(&b, "oclip_request_duration_seconds_bucket{path=\"%s\",le=\"%g\"} %llu\n",
                          m_lat[i].path, lat_bounds[k], (unsigned long long)cum);
            else
                sb_printf(&b, "oclip_request_duration_seconds_bucket{path=\"%s\",le=\"+Inf\"} %llu\n",
                          m_lat[i].path, (unsigned long long)cum);
        }
        sb_printf(&b, "oclip_request_duration_seconds_sum{path=\"%s\"} %.6f\n", m_lat[i].path,
                  m_lat[i].sum);
        sb_printf(&b, "oclip_request_duration_seconds_count{path=\"%s\"} %llu\n", m_lat[i].path,
                  (unsigned long long)m_lat[i].count);
    }
    pthread_mutex_unlock(&metrics_mu);
    if (extra) sb_printf(&b, "%s", extra);
    if (b.bad) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* =============================================================================================
 * Responses
 */
void sv_resp_text(sv_http_resp *r, int status, const char *content_type, char *body) {
    free(r->body);
    r->status = status;
    r->body = body;
    r->len = body ? strlen(body) : 0;
    r->content_type = content_type;
}

void sv_resp_json(sv_http_resp *r, int status, char *body) {
    sv_resp_text(r, status, "application/json", body);
}

void sv_resp_error(sv_http_resp *r, const sv_fail *f) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", f->message);
    cJSON_AddStringToObject(e, "type", f->type ? f->type : "invalid_request_error");
    if (f->code) cJSON_AddStringToObject(e, "code", f->code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cli_json_print(o);
    cJSON_Delete(o);
    sv_resp_json(r, f->status ? f->status : 500, s);
    if (f->status == 503 && !r->retry_after) r->retry_after = 1;
}

static enum MHD_Result send_resp(sv_http *h, struct MHD_Connection *c, conn *cs,
                                 sv_http_resp *r) {
    static const char fallback[] =
        "{\"error\": {\"message\": \"out of memory\", \"type\": \"server_error\", \"code\": null}}";
    struct MHD_Response *resp;
    if (r->body) {
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    } else {
        r->status = 503;
        r->content_type = "application/json";
        resp = MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) {
        free(r->body);
        r->body = NULL;
        return MHD_NO;
    }
    r->body = NULL; /* MHD owns it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    if (r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->status == 405 && cs && cs->route)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, cs->route->method);
    pthread_mutex_lock(&h->mu);
    int stopping = h->stopping;
    pthread_mutex_unlock(&h->mu);
    if (stopping) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    if (cs) {
        const char *path = cs->route ? cs->route->path : "other";
        sv_metrics_request(path, r->status, sv_now() - cs->t0);
    }
    return ok;
}

/* =============================================================================================
 * Requests
 */
static enum MHD_Result mp_iterator(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *transfer_encoding, const char *data,
                                   uint64_t off, size_t size) {
    conn *cs = cls;
    (void)kind, (void)content_type, (void)transfer_encoding;
    if (cs->early) return MHD_NO;
    if (!filename) {
        /* a form field: "model", "encoding_format" or a caption option (short values) */
        int opt = -1;
        for (int k = 0; key && k < SV_N_CAPTION_OPTS; k++)
            if (!strcmp(key, sv_caption_option_names[k])) opt = k;
        if (!key || (strcmp(key, "model") && strcmp(key, "encoding_format") && opt < 0))
            return MHD_YES;
        if (off == 0) cs->field_len = 0;
        if (cs->field_len + size >= sizeof cs->field) {
            sv_failf(&cs->fail, 400, "invalid_request_error", "invalid_value",
                     "multipart field '%s' is too long", key);
            cs->early = 1;
            return MHD_NO;
        }
        memcpy(cs->field + cs->field_len, data, size);
        cs->field_len += size;
        cs->field[cs->field_len] = '\0';
        if (opt >= 0) {
            /* judged by the endpoint that takes it, once the body is complete */
            memcpy(cs->opt[opt], cs->field, cs->field_len + 1);
            cs->opt_set[opt] = 1;
        } else if (!strcmp(key, "model")) {
            free(cs->mp.model);
            cs->mp.model = strdup(cs->field);
        } else if (sv_parse_encoding(cs->field, &cs->mp.base64, &cs->fail) &&
                   cs->field_len >= 6) {
            /* "float" / "base64" may arrive in pieces: judged once it is long enough */
            cs->early = 1;
            return MHD_NO;
        }
        return MHD_YES;
    }
    /* a file: off 0 starts a new one */
    if (off == 0 && !(cs->mp_part_open && cs->mp.n && cs->mp.items[cs->mp.n - 1].len == 0)) {
        if (sv_request_add(&cs->mp, "", 0, filename, cs->lim, &cs->fail)) {
            cs->early = 1;
            return MHD_NO;
        }
        cs->mp_part_open = 1;
    }
    if (!size) return MHD_YES;
    sv_item *it = &cs->mp.items[cs->mp.n - 1];
    char *d = realloc(it->data, it->len + size + 1);
    if (!d) {
        sv_failf(&cs->fail, 503, "server_error", "out_of_memory", "out of memory");
        cs->early = 1;
        return MHD_NO;
    }
    memcpy(d + it->len, data, size);
    it->data = d;
    it->len += size;
    d[it->len] = '\0';
    return MHD_YES;
}

static int key_ok(const char *got, const char *key) {
    /* constant time in the key's length */
    if (!got || strncmp(got, "Bearer ", 7)) return 0;
    got += 7;
    size_t n = strlen(key), m = strlen(got);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(key[i] ^ (i < m ? got[i] : 0));
    return diff == 0;
}

static enum MHD_Result refuse(sv_http *h, struct MHD_Connection *c, conn *cs, int status,
                              const char *type, const char *code, const char *msg) {
    sv_fail f;
    sv_failf(&f, status, type, code, "%s", msg);
    sv_http_resp r = {0};
    sv_resp_error(&r, &f);
    return send_resp(h, c, cs, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    sv_http *h = cls;
    (void)version;
    conn *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        cs->t0 = sv_now();
        cs->lim = h->o.limits;
        *con_cls = cs;
        pthread_mutex_lock(&h->mu);
        h->in_flight++;
        pthread_mutex_unlock(&h->mu);
        const sv_route *path_match = NULL;
        for (size_t i = 0; i < h->o.n_routes; i++) {
            const sv_route *r = &h->o.routes[i];
            if (strcmp(r->path, url)) continue;
            path_match = r;
            if (!strcmp(r->method, method)) {
                cs->route = r;
                break;
            }
        }
        if (!cs->route) {
            cs->route = path_match; /* for Allow and the metrics */
            if (path_match)
                return refuse(h, c, cs, 405, "invalid_request_error", "method_not_allowed",
                              "method not allowed");
            return refuse(h, c, cs, 404, "not_found_error", "not_found",
                          "no such endpoint (GET /v1/models lists the models; docs/SERVER.md "
                          "the endpoints)");
        }
        if (h->o.api_key && !cs->route->open &&
            !key_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                    h->o.api_key))
            return refuse(h, c, cs, 401, "authentication_error", "invalid_api_key",
                          "missing or wrong API key (Authorization: Bearer KEY)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (!errno && end != cl && n > h->o.max_body) {
                sv_failf(&cs->fail, 413, "invalid_request_error", "body_too_large",
                         "the request body has %llu bytes (at most %zu)", n, h->o.max_body);
                cs->early = 1;
                /* a client that waits for "100 Continue" (or a body we would not even read
                 * through) gets the refusal now */
                if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT) ||
                    n > DISCARD_MAX) {
                    sv_http_resp r = {0};
                    sv_resp_error(&r, &cs->fail);
                    return send_resp(h, c, cs, &r);
                }
            }
        }
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!cs->early && cs->route->multipart && ct &&
            !strncasecmp(ct, "multipart/form-data", 19)) {
            cs->mp.kind = SV_IMAGE;
            cs->pp = MHD_create_post_processor(c, 64 * 1024, mp_iterator, cs);
            if (!cs->pp)
                return refuse(h, c, cs, 400, "invalid_request_error", "invalid_multipart",
                              "a multipart/form-data body without a boundary");
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        cs->received += n;
        if (cs->received > DISCARD_MAX) return MHD_NO;
        if (cs->early) return MHD_YES; /* read and dropped */
        if (cs->received > h->o.max_body) {
            sv_failf(&cs->fail, 413, "invalid_request_error", "body_too_large",
                     "the request body is larger than %zu bytes", h->o.max_body);
            cs->early = 1;
            free(cs->body);
            cs->body = NULL;
            cs->len = cs->cap = 0;
            return MHD_YES;
        }
        /* all connections together hold at most body_budget bytes of bodies: more waits for
         * the server to have room (503 + Retry-After) */
        pthread_mutex_lock(&h->mu);
        int room = h->buffered + n <= h->o.body_budget;
        if (room) h->buffered += n;
        pthread_mutex_unlock(&h->mu);
        if (!room) {
            sv_failf(&cs->fail, 503, "server_error", "server_busy",
                     "the server holds too many request bodies: try again");
            cs->early = 1;
            return MHD_YES;
        }
        cs->accounted += n;
        if (cs->pp) {
            if (MHD_post_process(cs->pp, upload_data, n) != MHD_YES && !cs->early) {
                sv_failf(&cs->fail, 400, "invalid_request_error", "invalid_multipart",
                         "the multipart/form-data body is malformed");
                cs->early = 1;
            }
            return MHD_YES;
        }
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 16384;
            while (cap < cs->len + n + 1) cap *= 2;
            if (cap > h->o.max_body + 1) cap = h->o.max_body + 1;
            char *b = realloc(cs->body, cap);
            if (!b) {
                sv_failf(&cs->fail, 503, "server_error", "out_of_memory", "out of memory");
                cs->early = 1;
                return MHD_YES;
            }
            cs->body = b;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload_data, n);
        cs->len += n;
        cs->body[cs->len] = '\0';
        return MHD_YES;
    }
    /* the whole request is here */
    if (cs->pp) {
        struct MHD_PostProcessor *pp = cs->pp;
        cs->pp = NULL;
        if (MHD_destroy_post_processor(pp) != MHD_YES && !cs->early) {
            sv_failf(&cs->fail, 400, "invalid_request_error", "invalid_multipart",
                     "the multipart/form-data body is truncated or malformed");
            cs->early = 1;
        }
        if (!cs->early && !cs->mp.n) {
            sv_failf(&cs->fail, 400, "invalid_request_error", "missing_field",
                     "the multipart/form-data body holds no file");
            cs->early = 1;
        }
    }
    sv_http_resp r = {0};
    if (cs->early) {
        sv_resp_error(&r, &cs->fail);
        return send_resp(h, c, cs, &r);
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    sv_http_req q = {
        .method = method,
        .path = url,
        .content_type = ct ? ct : "",
        .query_model = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "model"),
        .query_encoding = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding_format"),
        .query_row = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "row"),
        .body = cs->body ? cs->body : "",
        .body_len = cs->len,
        .multipart = cs->mp.n ? &cs->mp : NULL,
    };
    for (int k = 0; k < SV_N_CAPTION_OPTS; k++)
        q.caption_opts[k] = cs->opt_set[k] ? cs->opt[k]
                                           : MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                                         sv_caption_option_names[k]);
    cs->route->fn(h->o.ctx, &q, &r);
    return send_resp(h, c, cs, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    sv_http *h = cls;
    (void)c, (void)toe;
    conn *cs = *con_cls;
    if (!cs) return;
    *con_cls = NULL;
    if (cs->pp) MHD_destroy_post_processor(cs->pp);
    sv_request_free(&cs->mp);
    free(cs->body);
    size_t accounted = cs->accounted;
    free(cs);
    pthread_mutex_lock(&h->mu);
    h->buffered -= accounted;
    h->in_flight--;
    if (!h->in_flight) pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->mu);
}

sv_http *sv_http_start(const sv_http_options *o, int *port_out) {
    sv_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->o = *o;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->idle, NULL);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int gai = getaddrinfo(o->host, port, &hints, &ai);
    if (gai) {
        hints.ai_flags = AI_PASSIVE;
        gai = getaddrinfo(o->host, port, &hints, &ai);
    }
    if (gai || !ai) {
        fprintf(stderr, "oclip: serve: --host '%s': %s\n", cli_esc(o->host), gai_strerror(gai));
        free(h);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    errno = 0;
    h->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_CONNECTION_LIMIT, o->connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 256u,
                            MHD_OPTION_END);
    int e = errno;
    freeaddrinfo(ai);
    if (!h->d) {
        fprintf(stderr, "oclip: serve: cannot listen on %s:%d%s%s\n", cli_esc(o->host), o->port,
                e ? ": " : "", e ? strerror(e) : "");
        if (e == EADDRINUSE)
            fprintf(stderr, "hint: another program uses the port: pick another with --port\n");
        free(h);
        return NULL;
    }
    the_http = h;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : o->port;
    return h;
}

unsigned sv_http_stop(sv_http *h, double grace) {
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_mutex_unlock(&h->mu);
    MHD_socket s = MHD_quiesce_daemon(h->d);
    if (s != MHD_INVALID_SOCKET) close(s);
    double deadline = sv_now() + grace;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)grace;
    pthread_mutex_lock(&h->mu);
    while (h->in_flight && sv_now() < deadline)
        if (pthread_cond_timedwait(&h->idle, &h->mu, &ts) == ETIMEDOUT) break;
    unsigned left = h->in_flight;
    pthread_mutex_unlock(&h->mu);
    MHD_stop_daemon(h->d);
    the_http = NULL;
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return left;
}
