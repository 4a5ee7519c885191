/*
 * serve.h — `oclip serve`, in layers that know nothing of the ones above them:
 *
 *   serve_req.c    request bodies -> a validated sv_request (JSON, base64, data URLs, UTF-8),
 *                  and its images decoded and preprocessed into pixels. No HTTP, no threads, no
 *                  model: the fuzz target fuzz/fuzz_serve.c compiles it on its own.
 *   serve_batch.c  dynamic batching: one queue and batcher thread per (model, tower); jobs from
 *                  many connections are merged into one forward pass.
 *   serve_http.c   libmicrohttpd glue: bodies, multipart, limits, API key, the route table,
 *                  JSON errors, Prometheus metrics, graceful stop.
 *   serve_api.c    the endpoints (/v1/embeddings, /v1/images/embeddings, /v1/classify,
 *                  /v1/captions, /v1/models, /health) as route handlers over the loaded models.
 *   cmd_serve.c    the command: options, model loading, signals.
 *
 * Another endpoint (e.g. a search over an index) is one more sv_route with its handler.
 */
#ifndef OCLIP_CLI_SERVE_H
#define OCLIP_CLI_SERVE_H
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>

#include "collection_search.h"
#include "oclip.h"

/* =============================================================================================
 * Requests (serve_req.c)
 */
/* request kinds, and the queues of a model: one per tower, and one for captions (CoCa models
 * only: its jobs run one at a time, one image after the other, see serve_batch.c) */
enum { SV_TEXT = 0, SV_IMAGE = 1, SV_CAPTION = 2, SV_N_QUEUES = 3 };

/* The options of POST /v1/captions (oclip_caption_options): JSON numbers, multipart form fields
 * or query parameters of these names */
enum { SV_CAP_BEAMS, SV_CAP_GROUPS, SV_CAP_SEQ_LEN, SV_CAP_MIN_LEN, SV_CAP_PENALTY,
       SV_N_CAPTION_OPTS };
extern const char *const sv_caption_option_names[SV_N_CAPTION_OPTS];

/* Why a request is refused: HTTP status and the OpenAI-style error object's fields. */
typedef struct {
    int status;       /* 400, 404, 413, 415, 422, 503 ... */
    const char *type; /* "invalid_request_error", "not_found_error", "server_error" ... */
    const char *code; /* "invalid_json", "invalid_type", "model_not_found" ... */
    char message[512];
} sv_fail;

/* Fills f and returns -1 (so that `return sv_failf(...)` ends a parser). */
int sv_failf(sv_fail *f, int status, const char *type, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* One input: a UTF-8 text (NUL-terminated) or an image's encoded bytes. */
typedef struct {
    char *data;
    size_t len;
    char *name; /* multipart filename or the JSON object's "name"; NULL */
} sv_item;

typedef struct {
    size_t max_inputs;     /* texts per request */
    size_t max_images;     /* images per request */
    size_t max_text_bytes; /* bytes per text */
    size_t max_labels;     /* classify: labels (and templates) */
} sv_req_limits;

typedef struct {
    int kind;        /* SV_TEXT or SV_IMAGE */
    char *model;     /* "model", or NULL: the first model */
    int base64;      /* encoding_format "base64" (else "float") */
    sv_item *items;
    size_t n, cap;
    /* classify */
    char **labels;
    size_t n_labels;
    char **templates; /* NULL: template_set */
    size_t n_templates;
    char template_set[16]; /* "imagenet" (default), "simple", "none" */
    int top;               /* 0: all */
    /* captions: the oclip_caption_options fields; 0: OpenCLIP's default */
    int num_beams, num_beam_groups, seq_len, min_seq_len;
    double repetition_penalty;
} sv_request;

void sv_request_free(sv_request *r);
/* Appends a copy of data[0..len) (NUL-terminated) as an item; -1 with f filled on a limit or
 * out of memory. */
int sv_request_add(sv_request *r, const void *data, size_t len, const char *name,
                   const sv_req_limits *lim, sv_fail *f);

/* POST /v1/embeddings: {"model", "input": str | [str], "encoding_format": "float" | "base64",
 * "modality": "text" | "image", "dimensions", "user"}; with modality "image" (as infinity) the
 * inputs are data URLs or bare base64 image bytes. 0, or -1 with f filled. */
int sv_parse_embeddings(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                        sv_fail *f);
/* POST /v1/images/embeddings as JSON: {"model", "input" | "images": str | [str | {"name",
 * "data"}], "encoding_format"}. */
int sv_parse_images_json(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                         sv_fail *f);
/* POST /v1/classify: {"model", "images": [...] as above, "labels": [str] | "a,b,c",
 * "templates": "imagenet" | "simple" | "none" | [str with "{}"], "top": K}. */
int sv_parse_classify(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                      sv_fail *f);
/* POST /v1/captions as JSON: the images as sv_parse_images_json takes them, and the caption
 * options "num_beams", "num_beam_groups", "seq_len", "min_seq_len", "repetition_penalty"
 * (numbers; null or absent: OpenCLIP's defaults). */
int sv_parse_captions_json(const char *body, size_t len, const sv_req_limits *lim, sv_request *r,
                           sv_fail *f);
/* One caption option (SV_CAP_*) from text (a multipart field or a query parameter) into r;
 * -1 (400) when it is not a number in the option's range. */
int sv_parse_caption_option(sv_request *r, int which, const char *text, sv_fail *f);
/* "float" / "base64" into *base64; -1 (400) for anything else. */
int sv_parse_encoding(const char *s, int *base64, sv_fail *f);

/* Standard base64 (RFC 4648, '=' padding optional, no whitespace) into a malloc'd buffer; -1 on
 * a character outside the alphabet or a bad length. */
int sv_base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len);
/* base64 of data[0..len), malloc'd and NUL-terminated; NULL when out of memory. */
char *sv_base64_encode(const void *data, size_t len);
/* An image given as text: "data:[<type>][;base64],<payload>" or bare base64 -> its bytes. */
int sv_image_from_text(const char *s, size_t len, unsigned char **out, size_t *out_len,
                       sv_fail *f);

/* Decodes and preprocesses the request's images into pixels[n, 3, H, W] (cfg->size), each
 * refused (422, naming it) when it does not decode or has over max_pixels pixels. */
int sv_prepare_images(const sv_request *r, const oclip_preprocess_cfg *cfg, uint64_t max_pixels,
                      float *pixels, sv_fail *f);

/* =============================================================================================
 * Dynamic batching (serve_batch.c)
 */
typedef struct sv_job {
    size_t n;              /* inputs */
    const float *pixels;   /* image tower: [n, 3, H, W] */
    const int64_t *tokens; /* text tower: [n, context_length] */
    float *out;            /* [n, E], normalized */
    /* the caption queue: pixels are the images; ids [n, caption->seq_len], n_ids [n] */
    const oclip_caption_options *caption;
    int64_t *ids;
    size_t *n_ids;
    int announced;         /* sv_queue_announce was called for it: sv_queue_run withdraws it */
    /* owned by the queue's lock */
    int taken, done;
    double enqueued;       /* monotonic seconds */
    oclip_status status;
    char msg[OCLIP_ERROR_MSG_SIZE];
    struct sv_job *next;
} sv_job;

typedef struct {
    const oclip_model *m;
    int tower;             /* SV_TEXT / SV_IMAGE / SV_CAPTION */
    const char *name;      /* the model's name, for metrics */
    size_t max_batch;      /* inputs per forward pass (SV_CAPTION: 1, one job at a time) */
    double max_wait;       /* seconds the first job of a batch may wait for company that is
                              on its way (announced); a lone job does not wait */
    size_t max_queue;      /* inputs waiting at most; more are refused */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    sv_job *head, *tail;
    size_t queued;         /* inputs in jobs not yet taken */
    size_t preparing;      /* requests announced (being tokenized / decoded), not yet queued */
    size_t running;        /* inputs in the forward pass running now (0: none) */
    int stop, started;
    pthread_t thread;
    /* statistics (under mu) */
    uint64_t batches, batch_inputs;
    uint64_t batch_hist[10]; /* batch sizes <= 1, 2, 4, ... 256, +Inf */
} sv_queue;

enum { SV_RUN_OK = 0, SV_RUN_FULL, SV_RUN_TIMEOUT, SV_RUN_FAILED, SV_RUN_STOPPING };

double sv_now(void); /* CLOCK_MONOTONIC seconds */
/* Starts the batcher thread; 0 or -1. An SV_CAPTION queue runs each job alone (max_batch is
 * ignored), captioning its images one after the other (oclip_caption). */
int sv_queue_start(sv_queue *q, const oclip_model *m, int tower, const char *name,
                   size_t max_batch, double max_wait, size_t max_queue);
/* A request for q is being prepared (tokenized, or its images decoded): the batcher waits for
 * it (up to max_wait) before it runs a batch without it. Every announce is followed by one
 * sv_queue_run of a job with announced = 1, or by one sv_queue_withdraw. */
void sv_queue_announce(sv_queue *q);
/* The announced request will not come (it failed before its job was made). */
void sv_queue_withdraw(sv_queue *q);
/* Queues j and waits for its result: SV_RUN_OK; SV_RUN_FULL when the queue holds max_queue
 * inputs already; SV_RUN_TIMEOUT when it waited `timeout` seconds without being taken into a
 * batch (a job already computing is waited for); SV_RUN_FAILED with j->msg; SV_RUN_STOPPING
 * after sv_queue_stop. */
int sv_queue_run(sv_queue *q, sv_job *j, double timeout);
/* Finishes the queued jobs, then ends the thread. */
void sv_queue_stop(sv_queue *q);

/* =============================================================================================
 * HTTP (serve_http.c)
 */
typedef struct {
    const char *method, *path; /* path without the query */
    const char *content_type;  /* the header, or "" */
    const char *query_model, *query_encoding; /* ?model=, ?encoding_format= or NULL */
    const char *query_row;     /* ?row= (GET /v1/thumb) or NULL */
    /* the caption options (SV_CAP_*) as text: the multipart form field, else the query
     * parameter of that name; NULL when neither */
    const char *caption_opts[SV_N_CAPTION_OPTS];
    const char *body;          /* the raw body (not for multipart), NUL-terminated */
    size_t body_len;
    sv_request *multipart;     /* multipart/form-data: the files as items, fields "model" and
                                  "encoding_format" set; NULL otherwise */
} sv_http_req;

typedef struct {
    int status;
    char *body;                /* malloc'd */
    size_t len;
    const char *content_type;  /* default application/json */
    int retry_after;           /* seconds, for 503; 0: none */
} sv_http_resp;

typedef void (*sv_handler)(void *ctx, const sv_http_req *req, sv_http_resp *resp);

typedef struct {
    const char *method, *path;
    sv_handler fn;
    int open;                  /* answered without the API key (/health) */
    int multipart;             /* accepts multipart/form-data */
} sv_route;

typedef struct {
    const char *host;          /* "127.0.0.1", "::1", "0.0.0.0" ... */
    int port;                  /* 0: any free port */
    const char *api_key;       /* NULL: none */
    size_t max_body;           /* bytes */
    size_t body_budget;        /* body bytes all connections hold together */
    unsigned connection_limit;
    unsigned idle_timeout;     /* seconds a connection may stay silent */
    const sv_req_limits *limits;
    const sv_route *routes;
    size_t n_routes;
    void *ctx;                 /* passed to the handlers */
} sv_http_options;

typedef struct sv_http sv_http;
/* Listens; *port_out the port bound. NULL after printing why. */
sv_http *sv_http_start(const sv_http_options *o, int *port_out);
/* Stops accepting connections, waits until no request is in flight (at most `grace` seconds),
 * then closes everything. Returns the requests that were still in flight when it gave up. */
unsigned sv_http_stop(sv_http *h, double grace);

/* Responses */
void sv_resp_json(sv_http_resp *r, int status, char *body); /* takes body */
void sv_resp_error(sv_http_resp *r, const sv_fail *f);
void sv_resp_text(sv_http_resp *r, int status, const char *content_type, char *body);

/* Metrics */
void sv_metrics_request(const char *path, int status, double seconds);
/* Prometheus text of the request counters and latency histogram; `extra` is appended. */
char *sv_metrics_render(const char *extra);
uint64_t sv_metrics_answered(const char *path); /* responses sent for path */

/* =============================================================================================
 * The endpoints (serve_api.c)
 */
typedef struct {
    char *name;        /* what "model" says; the spec when -m gave no NAME= */
    const char *spec;
    oclip_model *m;
    sv_queue q[SV_N_QUEUES]; /* [SV_TEXT], [SV_IMAGE], [SV_CAPTION] (started for a model that
                                can caption: oclip_model_can_caption) */
} sv_model;

typedef struct {
    sv_model *models;
    size_t n_models;
    int ready;                /* set (atomically) once every model is loaded */
    sv_req_limits lim;
    uint64_t max_pixels;      /* 0: the library's default */
    double timeout;           /* seconds a request may wait for its batch */
    sem_t decoders;           /* image decodes at once (one per core): bounds their memory and
                                 leaves the forward pass its cores */
    struct sv_index *index;   /* --index: the collection searched; NULL without */
    sv_model *index_model;    /* the model of its queries (one of models[]) */
} sv_server;

/* The routes of the API, with ctx = an sv_server. */
extern const sv_route sv_api_routes[];
extern const size_t sv_api_n_routes;
/* Runs job j through model m's queue for tower (SV_TEXT / SV_IMAGE) with the server's timeout:
 * 0, or -1 with f filled (503 queue full, timeout or stopping; 500 with the job's message). */
int sv_run_job(sv_server *s, sv_model *m, int tower, sv_job *j, sv_fail *f);

/* =============================================================================================
 * Search over an `oclip embed-dir` folder (serve_index.c) and its page (serve_page.c)
 */
typedef struct sv_index {
    coll_index ix;
    size_t rows, E;
    float *emb;  /* [rows, E]: every shard's image embeddings, in row order */
    char **meta; /* [rows]: each row's metadata line (a JSON object) */
} sv_index;

/* Reads DIR's manifest, embeddings and metadata; 0, or -1 with why. */
int sv_index_open(const char *dir, sv_index **out, char *why, size_t why_size);
void sv_index_free(sv_index *x);
/* GET /, POST /v1/search, GET /v1/thumb with ctx = an sv_server whose index is set. */
extern const sv_route sv_index_routes[];
extern const size_t sv_index_n_routes;
extern const char sv_page_html[]; /* the search page: HTML with its CSS and JS inline */

int cmd_serve(int argc, char **argv); /* cmd_serve.c */
#endif
