/*
 * cmd_serve.c — `oclip serve`: options, models, the batchers and the HTTP server, and the
 * signals that stop it (SIGTERM / SIGINT: stop accepting, finish what is in flight, exit 0).
 * The parts are in serve.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "embed.h"
#include "serve.h"
#include "text.h"

static const char serve_help[] =
    "usage: oclip serve [-m [NAME=]SPEC ...] [--host ADDR] [--port N] [options]\n"
    "\n"
    "An HTTP server for embeddings and zero-shot classification (docs/SERVER.md):\n"
    "  POST /v1/embeddings         OpenAI's embeddings API (texts; images with\n"
    "                              \"modality\": \"image\" and data URLs or base64)\n"
    "  POST /v1/images/embeddings  images as multipart/form-data, a raw body or JSON\n"
    "  POST /v1/classify           images + labels -> probabilities (as classify --json)\n"
    "  POST /v1/captions           images -> captions by a CoCa model (as caption --json)\n"
    "  GET  /v1/models, /health, /metrics (Prometheus)\n"
    "With --index DIR (a folder 'oclip embed-dir' wrote), also a search page:\n"
    "  GET  /                      the page: text or image queries, thumbnails, more like this\n"
    "  POST /v1/search             {\"text\"} | {\"image\": base64} | {\"row\": N}, \"k\"\n"
    "  GET  /v1/thumb?row=N        the image of row N of the index\n"
    "Concurrent requests for one model and tower are merged into batches; each gets the\n"
    "embeddings it would get alone (those of 'oclip embed-text' / 'embed-image').\n"
    "\n"
    "  -m, --model [NAME=]SPEC  a model to serve (repeat for several; the first is the\n"
    "                     default when a request names none); NAME is what requests put in\n"
    "                     \"model\" (default: SPEC as written). No -m: the embedded demo model\n"
    "  --host ADDR        the address to listen on (default 127.0.0.1; 0.0.0.0 or :: for\n"
    "                     every interface: give --api-key then)\n"
    "  --port N           the port (default 8080; 0: any free port, printed)\n"
    "  --api-key KEY      require 'Authorization: Bearer KEY' (all but /health); the\n"
    "                     environment variable OCLIP_API_KEY does the same unseen by ps\n"
    "  --max-batch N      inputs per forward pass (default 32)\n"
    "  --max-wait-ms N    how long a batch may wait for requests still being tokenized or\n"
    "                     decoded to join it (default 5); a lone request does not wait\n"
    "  --max-queue N      inputs waiting per model and tower; more get 503 + Retry-After\n"
    "                     (default 1024)\n"
    "  --timeout-ms N     a request not in a batch after N ms gets 503 (default 30000)\n"
    "  --max-body-bytes N request bodies (default 33554432, 32 MiB; more: 413)\n"
    "  --max-inputs N     texts per request (default 2048)\n"
    "  --max-images N     images per request (default 64)\n"
    "  --max-pixels N     refuse larger images, and images whose resize target is larger\n"
    "                     (default 178956970, Pillow's limit)\n"
    "  --max-connections N  open connections at most (default 256)\n"
    "  --dtype T          f32 (default), f16, bf16 or int8 (see 'oclip embed-image --help')\n"
    "  --threads N        worker threads of each forward pass (default: all cores)\n"
    "  --arch NAME, --config FILE, --quick-gelu, --no-quick-gelu  as for the other\n"
    "                     commands; they apply to every -m\n"
    "  --index DIR        serve a search over DIR (oclip embed-dir's output; its manifest\n"
    "                     names the model, loaded unless a -m is that model; relative\n"
    "                     image paths are read from the current folder)\n"
    "  -h, --help         this help\n"
    "\n"
    "examples:\n"
    "  oclip serve -m ViT-B-32:laion2b_s34b_b79k --port 8080\n"
    "  curl -s localhost:8080/v1/embeddings -H 'Content-Type: application/json' \\\n"
    "       -d '{\"model\": \"ViT-B-32:laion2b_s34b_b79k\", \"input\": [\"a cat\", \"a dog\"]}'\n"
    "  curl -s localhost:8080/v1/images/embeddings -F file=@cat.jpg\n"
    "  oclip serve --index photos.emb   # then open http://127.0.0.1:8080/\n";

static int parse_count(const char *opt, const char *v, unsigned long long max,
                       unsigned long long *out, int zero_ok) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x > max || (!x && !zero_ok)) {
        fprintf(stderr, "oclip serve: %s '%s': expected an integer from %d to %llu\n"
                        "hint: run 'oclip serve --help'\n", opt, cli_esc(v), zero_ok ? 0 : 1, max);
        return EXIT_USAGE;
    }
    *out = x;
    return 0;
}

static int is_loopback(const char *host) {
    return !strcmp(host, "localhost") || !strncmp(host, "127.", 4) || !strcmp(host, "::1");
}

typedef struct {
    const char **specs;
    size_t n;
} spec_list;

/* Warms a model's towers up (their weights are packed by the first call: docs/ENGINE.md), so
 * that the first requests do not wait for it. */
static int warm_up(const sv_model *m) {
    int h, w;
    oclip_model_image_size(m->m, &h, &w);
    size_t E = (size_t)oclip_model_embed_dim(m->m), ctx = (size_t)oclip_model_context_length(m->m);
    float *px = calloc(3 * (size_t)h * (size_t)w, sizeof *px), *out = malloc(E * sizeof *out);
    int64_t *tok = calloc(ctx, sizeof *tok);
    oclip_error err;
    const char *t = "a";
    int rc = !px || !out || !tok ||
             oclip_encode_image(m->m, px, 1, out, 1, &err) != OCLIP_OK ||
             oclip_model_tokenize(m->m, &t, NULL, 1, tok, &err) != OCLIP_OK ||
             oclip_encode_text(m->m, tok, 1, out, 1, &err) != OCLIP_OK;
    if (rc) fprintf(stderr, "oclip: serve: %s: %s\n", cli_esc(m->name),
                    px && out && tok ? cli_esc_msg(err.msg) : "out of memory");
    free(px);
    free(out);
    free(tok);
    return rc;
}

int cmd_serve(int argc, char **argv) {
    const char *host = "127.0.0.1";
    const char *api_key = getenv("OCLIP_API_KEY");
    const char *index_dir = NULL;
    sv_index *index = NULL;
    sv_route *routes = NULL;
    unsigned long long port = 8080, max_batch = 32, max_wait_ms = 5, max_queue = 1024,
                       timeout_ms = 30000, max_body = 32ull << 20, max_inputs = 2048,
                       max_images = 64, max_pixels = 0, max_conn = 256, threads = 0;
    oclip_dtype dtype = OCLIP_DTYPE_KEEP;
    cli_model mo = {0};
    const char **specs = calloc((size_t)argc + 1, sizeof *specs);
    size_t n_specs = 0;
    if (!specs) return embed_oom("serve");
    int rc = 0;
#define COUNT(var, max, zero)                                                                   \
    do {                                                                                        \
        if (i + 1 >= argc) {                                                                    \
            rc = usage_error("serve", "%s needs a value", o);                                   \
            goto out;                                                                           \
        }                                                                                       \
        if ((rc = parse_count(o, argv[++i], max, &var, zero))) goto out;                        \
    } while (0)
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int took = cli_model_option("serve", argc, argv, &i, 0, &mo);
        if (took < 0) {
            rc = EXIT_USAGE;
            goto out;
        }
        if (took) continue;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(serve_help, stdout);
            goto out;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model") || !strcmp(o, "--host") ||
                   !strcmp(o, "--api-key") || !strcmp(o, "--dtype") || !strcmp(o, "--index")) {
            if (i + 1 >= argc) {
                rc = usage_error("serve", "%s needs a value", o);
                goto out;
            }
            const char *v = argv[++i];
            if (o[1] == 'm' || !strcmp(o, "--model")) {
                specs[n_specs++] = v;
            } else if (!strcmp(o, "--host")) {
                host = v;
            } else if (!strcmp(o, "--api-key")) {
                api_key = v;
            } else if (!strcmp(o, "--index")) {
                index_dir = v;
            } else if (!strcmp(v, "f32")) {
                dtype = OCLIP_DTYPE_F32;
            } else if (!strcmp(v, "f16")) {
                dtype = OCLIP_DTYPE_F16;
            } else if (!strcmp(v, "bf16")) {
                dtype = OCLIP_DTYPE_BF16;
            } else if (!strcmp(v, "int8")) {
                dtype = OCLIP_DTYPE_I8;
            } else {
                rc = usage_error("serve", "--dtype '%s': use f32, f16, bf16 or int8", v);
                goto out;
            }
        } else if (!strcmp(o, "--port")) {
            COUNT(port, 65535, 1);
        } else if (!strcmp(o, "--max-batch")) {
            COUNT(max_batch, 4096, 0);
        } else if (!strcmp(o, "--max-wait-ms")) {
            COUNT(max_wait_ms, 10000, 1);
        } else if (!strcmp(o, "--max-queue")) {
            COUNT(max_queue, 1u << 24, 0);
        } else if (!strcmp(o, "--timeout-ms")) {
            COUNT(timeout_ms, 3600000, 0);
        } else if (!strcmp(o, "--max-body-bytes")) {
            COUNT(max_body, 1ull << 31, 0);
        } else if (!strcmp(o, "--max-inputs")) {
            COUNT(max_inputs, 1u << 20, 0);
        } else if (!strcmp(o, "--max-images")) {
            COUNT(max_images, 1u << 16, 0);
        } else if (!strcmp(o, "--max-pixels")) {
            COUNT(max_pixels, UINT64_MAX, 0);
        } else if (!strcmp(o, "--max-connections")) {
            COUNT(max_conn, 65536, 0);
        } else if (!strcmp(o, "--threads")) {
            COUNT(threads, 1u << 20, 0);
        } else if (o[0] == '-' && o[1]) {
            rc = cli_unknown_option("serve", o, serve_help);
            goto out;
        } else {
            rc = usage_error("serve", "unexpected argument '%s' (models go after -m)", o);
            goto out;
        }
    }
#undef COUNT
    if (index_dir) {
        char why[1024];
        if (sv_index_open(index_dir, &index, why, sizeof why)) {
            fprintf(stderr, "oclip: serve: --index: %s\n", cli_esc_msg(why));
            rc = EXIT_FAIL;
            goto out;
        }
        fprintf(stderr, "oclip serve: index '%s': %zu rows of %zu-d embeddings (model %s)\n",
                cli_esc(index_dir), index->rows, index->E, cli_esc(index->ix.spec));
    }
    if (!n_specs && !index) specs[n_specs++] = "default";
    if (api_key && !api_key[0]) api_key = NULL;
    if (!api_key && !is_loopback(host))
        fprintf(stderr, "oclip: warning: serve: listening on %s without --api-key: anyone who "
                        "reaches this address may use the server\n", cli_esc(host));

    sv_server srv = {0};
    srv.lim = (sv_req_limits){.max_inputs = max_inputs, .max_images = max_images,
                              .max_text_bytes = 1 << 20, .max_labels = 100000};
    srv.max_pixels = max_pixels;
    srv.timeout = (double)timeout_ms / 1000.0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    sem_init(&srv.decoders, 0, cores > 1 ? (unsigned)cores : 1u);
    srv.index = index;
    /* one more slot: the index's model when no -m is it */
    if (!(srv.models = calloc(n_specs + 1, sizeof *srv.models))) {
        rc = embed_oom("serve");
        goto out;
    }
    srv.n_models = n_specs;
    for (size_t k = 0; k < n_specs; k++) {
        const char *s = specs[k], *eq = strchr(s, '=');
        sv_model *m = &srv.models[k];
        /* NAME=SPEC: a name without '/' before the first '=' */
        if (eq && eq != s && eq[1] && !memchr(s, '/', (size_t)(eq - s))) {
            m->name = strndup(s, (size_t)(eq - s));
            m->spec = eq + 1;
        } else {
            m->name = strdup(s);
            m->spec = s;
        }
        if (!m->name) {
            rc = embed_oom("serve");
            goto out_models;
        }
        for (size_t j = 0; j < k; j++)
            if (!strcmp(srv.models[j].name, m->name)) {
                rc = usage_error("serve", "two models are named '%s': give them NAME=SPEC",
                                 m->name);
                goto out_models;
            }
    }

    /* signals: blocked in every thread (they inherit the mask) and taken by sigwait below */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    double t0 = sv_now();
    const sv_route *rt = sv_api_routes;
    size_t n_rt = sv_api_n_routes;
    if (index) {
        if (!(routes = malloc((sv_api_n_routes + sv_index_n_routes) * sizeof *routes))) {
            rc = embed_oom("serve");
            goto out_models;
        }
        memcpy(routes, sv_api_routes, sv_api_n_routes * sizeof *routes);
        memcpy(routes + sv_api_n_routes, sv_index_routes, sv_index_n_routes * sizeof *routes);
        rt = routes;
        n_rt = sv_api_n_routes + sv_index_n_routes;
    }
    sv_http_options ho = {.host = host, .port = (int)port, .api_key = api_key,
                          .max_body = (size_t)max_body,
                          .body_budget = 8 * (size_t)max_body,
                          .connection_limit = (unsigned)max_conn,
                          .idle_timeout = 60, .limits = &srv.lim, .routes = rt,
                          .n_routes = n_rt, .ctx = &srv};
    int bound = 0;
    sv_http *http = sv_http_start(&ho, &bound);
    if (!http) {
        rc = EXIT_FAIL;
        goto out_models;
    }
    int v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "oclip serve: listening on http://%s%s%s:%d\n", v6 ? "[" : "", host,
            v6 ? "]" : "", bound);
    if (index && !srv.n_models) { /* no -m: the index's model is the one served */
        char why[1024];
        sv_model *x = &srv.models[0];
        if (coll_index_model(&index->ix, (int)threads, &x->m, why, sizeof why)) {
            fprintf(stderr, "oclip: serve: --index: %s\n", cli_esc_msg(why));
            rc = EXIT_FAIL;
        } else if (!(x->name = strdup(index->ix.spec))) {
            oclip_model_free(x->m);
            x->m = NULL;
            rc = embed_oom("serve");
        } else {
            x->spec = index->ix.spec;
            srv.n_models = 1;
        }
    }
    for (size_t k = 0; k < srv.n_models && !rc; k++) {
        sv_model *m = &srv.models[k];
        embed_args a = {.cmd = "serve", .model = mo, .threads = (int)threads,
                        .weight_dtype = dtype};
        a.model.spec = m->spec;
        if (m->m) { /* the index's model, loaded below */
        } else if ((rc = embed_load_model(&a, &m->m))) {
            break;
        }
        if (index && !srv.index_model) {
            char fp[33];
            oclip_error err;
            if (oclip_model_fingerprint(m->m, fp, &err) == OCLIP_OK &&
                !strcmp(fp, index->ix.fingerprint))
                srv.index_model = m;
        }
        if (index && !srv.index_model && k + 1 == srv.n_models) {
            /* no -m is the index's model: load it (fingerprint checked) as one more model */
            char why[1024];
            sv_model *x = &srv.models[srv.n_models];
            if (coll_index_model(&index->ix, (int)threads, &x->m, why, sizeof why)) {
                fprintf(stderr, "oclip: serve: --index: %s\n", cli_esc_msg(why));
                rc = EXIT_FAIL;
                break;
            }
            int clash = 0;
            for (size_t j = 0; j < srv.n_models; j++)
                clash |= !strcmp(srv.models[j].name, index->ix.spec);
            x->spec = index->ix.spec;
            if (!(x->name = strdup(clash ? "index" : index->ix.spec))) {
                oclip_model_free(x->m);
                x->m = NULL;
                rc = embed_oom("serve");
                break;
            }
            srv.index_model = x;
            srv.n_models++;
        }
        if ((rc = warm_up(m) ? EXIT_FAIL : 0)) break;
        for (int t = 0; t < SV_N_QUEUES && !rc; t++)
            if ((t != SV_CAPTION || oclip_model_can_caption(m->m)) && /* captions: CoCa */
                sv_queue_start(&m->q[t], m->m, t, m->name, (size_t)max_batch,
                               (double)max_wait_ms / 1000.0, (size_t)max_queue)) {
                fprintf(stderr, "oclip: serve: cannot start a batcher thread\n");
                rc = EXIT_FAIL;
            }
        if (!rc) {
            int h, w;
            oclip_model_image_size(m->m, &h, &w);
            fprintf(stderr, "oclip serve: model '%s': %s (%d-d embeddings, %dx%d images)\n",
                    cli_esc(m->name), cli_esc_msg(oclip_model_source(m->m)),
                    oclip_model_embed_dim(m->m), h, w);
        }
    }
    if (!rc) {
        __atomic_store_n(&srv.ready, 1, __ATOMIC_RELEASE);
        fprintf(stderr, "oclip serve: ready in %.3f s (%zu model%s); SIGTERM or Ctrl-C stops it\n",
                sv_now() - t0, srv.n_models, srv.n_models == 1 ? "" : "s");
        int sig = 0;
        while (sigwait(&sigs, &sig)) continue;
        fprintf(stderr, "oclip serve: %s: finishing the requests in flight\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    unsigned left = sv_http_stop(http, 30.0);
    if (left) {
        fprintf(stderr, "oclip serve: %u requests still running after 30 s: stopped anyway\n", left);
        if (!rc) rc = EXIT_FAIL;
    }
    if (!rc)
        fprintf(stderr, "oclip serve: stopped (%llu embedding, %llu image, %llu classify requests "
                        "answered)\n",
                (unsigned long long)sv_metrics_answered("/v1/embeddings"),
                (unsigned long long)sv_metrics_answered("/v1/images/embeddings"),
                (unsigned long long)sv_metrics_answered("/v1/classify"));
out_models:
    for (size_t k = 0; k < srv.n_models; k++) {
        for (int t = 0; t < SV_N_QUEUES; t++) sv_queue_stop(&srv.models[k].q[t]);
        oclip_model_free(srv.models[k].m);
        free(srv.models[k].name);
    }
    free(srv.models);
    sem_destroy(&srv.decoders);
    free(routes);
out:
    sv_index_free(index);
    free(specs);
    return rc;
}
