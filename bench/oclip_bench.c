/*
 * oclip_bench — timing harness for the engine (bench/engine.py drives it; `make bench-build`).
 *
 *   oclip_bench model -m DIR [--threads N] [--reps R] [--images 1,8,32] [--texts 1,32,1000]
 *                     [--classes C] [--templates T]
 *       loads DIR once, then for each case one warm-up run and R timed runs (median); JSON on
 *       stdout. Images: random preprocessed pixels [B, 3, H, W] through oclip_encode_image.
 *       Texts: "a photo of a {class}." over the ImageNet class names through
 *       oclip_encode_text_strings. Classifier: oclip_zero_shot_classifier over the first C class
 *       names x the first T ImageNet templates (C = 0 skips it).
 *   oclip_bench serve -m DIR [--threads N] [--dtype f32|f16|bf16|int8]
 *       loads DIR, prints {"load_s": ...}, then answers one command per stdin line with one JSON
 *       line: "image B", "text B", "classifier C T" (one timed run each: {"s": seconds}),
 *       "rss" ({"peak_rss_kb": ...}), "quit". For interleaved runs against other engines.
 *   oclip_bench accuracy -m DIR --dtype f16|bf16|int8 [--threads N] [--classes N]
 *       the DIR model with --dtype against the same weights in fp32: cosine (min, mean) of the
 *       normalized embeddings of N (default 32) of the random images above and of the 1000
 *       prompts; one JSON line.
 *   oclip_bench gemm [--threads N] [--reps R]
 *       oc_gemm (the engine's internal GEMM, weights [N, K] packed as the model packs them:
 *       fp32, and BF16) and oc_gemm_i8 (int8 weights; quantizing X included) against OpenBLAS
 *       cblas_sgemm (fp32) on ViT-B-32's shapes, interleaved, median GFLOP/s (int8: GOP/s) of
 *       each. OpenBLAS picks its kernel at start (OPENBLAS_CORETYPE).
 *
 * Exit status 0, or 1 with a message on stderr. Not a test: nothing here fails on a timing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>

#include "kernels/kernels.h"
#include "oclip.h"

/* OpenBLAS extensions (not in every cblas.h) */
void openblas_set_num_threads(int n);
char *openblas_get_config(void);
char *openblas_get_corename(void);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_s(double s) { /* lets other engines' spinning worker threads go to sleep */
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long peak_rss_kb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "oclip_bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static float frand(void) { /* xorshift64*, uniform in [-1, 1) */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Du;
    return (float)((double)(r >> 40) / (double)(1u << 23) - 1.0);
}

/* ------------------------------------------------------------------------------------------ */
/* model cases */

typedef struct {
    oclip_model *m;
    int threads;
    float *pixels; /* [max_images, 3, H, W] */
    size_t max_images, img_floats;
    const char **prompts; /* [1000] "a photo of a {class}." */
    size_t n_prompts;
} bench_ctx;

static int die_err(const char *what, const oclip_error *err) {
    fprintf(stderr, "oclip_bench: %s: %s\n", what, err->msg);
    return -1;
}

static int ensure_pixels(bench_ctx *c, size_t n) {
    if (n <= c->max_images)
        return 0;
    free(c->pixels);
    c->pixels = xmalloc(n * c->img_floats * sizeof(float));
    for (size_t i = 0; i < n * c->img_floats; i++)
        c->pixels[i] = 2.0f * frand();
    c->max_images = n;
    return 0;
}

#define MAX_IMAGES 4096   /* per call: bounds what a command line or stdin can ask for */
#define MAX_TEXTS 1000000

static double run_image(bench_ctx *c, size_t n) {
    if (n == 0 || n > MAX_IMAGES) {
        fprintf(stderr, "oclip_bench: 1..%d images per call\n", MAX_IMAGES);
        return -1;
    }
    ensure_pixels(c, n);
    size_t E = (size_t)oclip_model_embed_dim(c->m);
    float *out = xmalloc(n * E * sizeof(float));
    oclip_error err;
    double t0 = now();
    oclip_status s = oclip_encode_image(c->m, c->pixels, n, out, 1, &err);
    double dt = now() - t0;
    free(out);
    return s == OCLIP_OK ? dt : die_err("oclip_encode_image", &err);
}

static double run_text(bench_ctx *c, size_t n) {
    if (n == 0 || n > MAX_TEXTS) {
        fprintf(stderr, "oclip_bench: 1..%d texts per call\n", MAX_TEXTS);
        return -1;
    }
    size_t E = (size_t)oclip_model_embed_dim(c->m);
    const char **texts = xmalloc(n * sizeof *texts);
    for (size_t i = 0; i < n; i++)
        texts[i] = c->prompts[i % c->n_prompts];
    float *out = xmalloc(n * E * sizeof(float));
    oclip_error err;
    double t0 = now();
    oclip_status s = oclip_encode_text_strings(c->m, texts, NULL, n, out, 1, &err);
    double dt = now() - t0;
    free(out);
    free(texts);
    return s == OCLIP_OK ? dt : die_err("oclip_encode_text_strings", &err);
}

static double run_classifier(bench_ctx *c, size_t classes, size_t templates) {
    const char *const *names, *const *tmpl;
    size_t nn = oclip_imagenet_classnames(&names);
    size_t nt = oclip_zero_shot_templates("imagenet", &tmpl);
    if (classes > nn || templates > nt || classes == 0 || templates == 0) {
        fprintf(stderr, "oclip_bench: classifier: 1..%zu classes and 1..%zu templates\n", nn, nt);
        return -1;
    }
    size_t E = (size_t)oclip_model_embed_dim(c->m);
    float *w = xmalloc(classes * E * sizeof(float));
    oclip_error err;
    double t0 = now();
    oclip_status s = oclip_zero_shot_classifier(c->m, names, classes, tmpl, templates, w, &err);
    double dt = now() - t0;
    free(w);
    return s == OCLIP_OK ? dt : die_err("oclip_zero_shot_classifier", &err);
}

static oclip_dtype g_dtype = OCLIP_DTYPE_F32; /* --dtype */

static int ctx_open(bench_ctx *c, const char *dir, int threads, double *load_s) {
    memset(c, 0, sizeof *c);
    oclip_model_options opt;
    memset(&opt, 0, sizeof opt);
    opt.threads = threads;
    opt.weight_dtype = g_dtype;
    oclip_error err;
    double t0 = now();
    if (oclip_model_load(dir, &opt, &c->m, &err) != OCLIP_OK)
        return die_err(dir, &err);
    *load_s = now() - t0;
    c->threads = oclip_model_threads(c->m);
    int h, w;
    oclip_model_image_size(c->m, &h, &w);
    c->img_floats = (size_t)3 * (size_t)h * (size_t)w;
    const char *const *names;
    c->n_prompts = oclip_imagenet_classnames(&names);
    c->prompts = xmalloc(c->n_prompts * sizeof *c->prompts);
    for (size_t i = 0; i < c->n_prompts; i++) {
        size_t len = strlen(names[i]) + 32;
        char *p = xmalloc(len);
        snprintf(p, len, "a photo of a %s.", names[i]);
        c->prompts[i] = p;
    }
    return 0;
}

static void ctx_close(bench_ctx *c) {
    for (size_t i = 0; i < c->n_prompts; i++)
        free((void *)c->prompts[i]);
    free(c->prompts);
    free(c->pixels);
    oclip_model_free(c->m);
}

static size_t parse_list(const char *s, size_t *v, size_t cap) {
    size_t n = 0;
    while (*s && n < cap) {
        char *end;
        unsigned long x = strtoul(s, &end, 10);
        if (end == s)
            break;
        v[n++] = x;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* One case: a warm-up run, then reps timed runs; prints "key": {"median_s", "runs"}. */
static int timed_case(bench_ctx *c, const char *kind, size_t a, size_t b, int reps, int first) {
    double *t = xmalloc((size_t)reps * sizeof *t);
    for (int r = -1; r < reps; r++) {
        double dt = !strcmp(kind, "image")  ? run_image(c, a)
                    : !strcmp(kind, "text") ? run_text(c, a)
                                            : run_classifier(c, a, b);
        if (dt < 0) {
            free(t);
            return -1;
        }
        if (r >= 0)
            t[r] = dt;
    }
    printf("%s\n    \"%zu\": {\"runs\": [", first ? "" : ",", a);
    for (int r = 0; r < reps; r++)
        printf("%s%.6f", r ? ", " : "", t[r]);
    printf("], \"median_s\": %.6f}", median(t, reps));
    fflush(stdout);
    free(t);
    return 0;
}

static int cmd_model(const char *dir, int threads, int reps, const char *images, const char *texts,
                     size_t classes, size_t templates) {
    bench_ctx c;
    double load_s;
    if (ctx_open(&c, dir, threads, &load_s) < 0)
        return 1;
    size_t v[64], n;
    int rc = 0;
    printf("{\"model\": \"%s\", \"threads\": %d, \"load_s\": %.6f, \"reps\": %d,\n  \"image\": {",
           dir, c.threads, load_s, reps);
    n = parse_list(images, v, 64);
    for (size_t i = 0; i < n && !rc; i++)
        rc = timed_case(&c, "image", v[i], 0, reps, i == 0);
    printf("},\n  \"text\": {");
    n = parse_list(texts, v, 64);
    for (size_t i = 0; i < n && !rc; i++)
        rc = timed_case(&c, "text", v[i], 0, reps, i == 0);
    printf("},\n  \"classifier\": {");
    if (classes && !rc) {
        rc = timed_case(&c, "classifier", classes, templates, reps, 1);
        printf(", \"templates\": %zu", templates);
    }
    printf("},\n  \"peak_rss_kb\": %ld}\n", peak_rss_kb());
    ctx_close(&c);
    return rc ? 1 : 0;
}

static int cmd_serve(const char *dir, int threads) {
    bench_ctx c;
    double load_s;
    if (ctx_open(&c, dir, threads, &load_s) < 0)
        return 1;
    printf("{\"load_s\": %.6f, \"threads\": %d, \"embed_dim\": %d}\n", load_s, c.threads,
           oclip_model_embed_dim(c.m));
    fflush(stdout);
    char line[256];
    int rc = 0;
    while (fgets(line, sizeof line, stdin)) {
        char cmd[32];
        unsigned long a = 0, b = 0;
        int k = sscanf(line, "%31s %lu %lu", cmd, &a, &b);
        double dt = -2;
        if (k >= 1 && !strcmp(cmd, "quit"))
            break;
        if (k >= 1 && !strcmp(cmd, "rss")) {
            printf("{\"peak_rss_kb\": %ld}\n", peak_rss_kb());
            fflush(stdout);
            continue;
        }
        if (k == 2 && !strcmp(cmd, "image") && a > 0)
            dt = run_image(&c, a);
        else if (k == 2 && !strcmp(cmd, "text") && a > 0)
            dt = run_text(&c, a);
        else if (k == 3 && !strcmp(cmd, "classifier"))
            dt = run_classifier(&c, a, b);
        if (dt == -2)
            fprintf(stderr, "oclip_bench: serve: unknown command: %s", line);
        if (dt < 0) {
            rc = 1;
            printf("{\"error\": true}\n");
        } else {
            printf("{\"s\": %.6f}\n", dt);
        }
        fflush(stdout);
    }
    ctx_close(&c);
    return rc;
}

/* cosines of rows of a and b (normalized embeddings [n, E]): min and mean */
static void cosines(const float *a, const float *b, size_t n, size_t E, double *mn, double *mean) {
    *mn = 1, *mean = 0;
    for (size_t i = 0; i < n; i++) {
        double d = 0;
        for (size_t e = 0; e < E; e++)
            d += (double)a[i * E + e] * b[i * E + e];
        *mn = d < *mn ? d : *mn;
        *mean += d / (double)n;
    }
}

/* accuracy: the --dtype model against the same weights in fp32 (weights as stored), on the
 * timing cases' inputs: n random images and the 1000 prompts "a photo of a {class}." */
static int cmd_accuracy(const char *dir, int threads, size_t n) {
    oclip_dtype want = g_dtype;
    bench_ctx c[2];
    double load_s;
    g_dtype = OCLIP_DTYPE_F32;
    if (ctx_open(&c[0], dir, threads, &load_s) < 0)
        return 1;
    g_dtype = want;
    if (ctx_open(&c[1], dir, threads, &load_s) < 0)
        return 1;
    ensure_pixels(&c[0], n);
    size_t E = (size_t)oclip_model_embed_dim(c[0].m), nt = c[0].n_prompts;
    float *img[2], *txt[2];
    oclip_error err;
    for (int i = 0; i < 2; i++) {
        img[i] = xmalloc(n * E * sizeof(float));
        txt[i] = xmalloc(nt * E * sizeof(float));
        if (oclip_encode_image(c[i].m, c[0].pixels, n, img[i], 1, &err) != OCLIP_OK ||
            oclip_encode_text_strings(c[i].m, c[0].prompts, NULL, nt, txt[i], 1, &err) !=
                OCLIP_OK) {
            die_err("encode", &err);
            return 1;
        }
    }
    double imn, imean, tmn, tmean;
    cosines(img[0], img[1], n, E, &imn, &imean);
    cosines(txt[0], txt[1], nt, E, &tmn, &tmean);
    printf("{\"model\": \"%s\", \"dtype\": \"%s\", \"images\": %zu, \"texts\": %zu, "
           "\"image_cos_min\": %.7f, \"image_cos_mean\": %.7f, \"text_cos_min\": %.7f, "
           "\"text_cos_mean\": %.7f}\n",
           dir, oclip_dtype_name(want), n, nt, imn, imean, tmn, tmean);
    for (int i = 0; i < 2; i++) {
        free(img[i]);
        free(txt[i]);
        ctx_close(&c[i]);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* GEMM: Y[M, N] = X[M, K] . W[N, K]^T, the engine's nn.Linear layout */

static int cmd_gemm(int threads, int reps) {
    static const size_t Ms[] = {50, 400, 1600};
    static const size_t KN[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};
    static const char *what[] = {"attn in_proj (qkv)", "attn out_proj", "mlp c_fc", "mlp c_proj"};
    int nth = threads > 0 ? threads : oc_cpu_count();
    openblas_set_num_threads(nth);
    printf("{\"threads\": %d, \"reps\": %d, \"simd\": \"%s\", \"openblas\": \"%s\", "
           "\"openblas_core\": \"%s\", \"shapes\": [",
           nth, reps, oc_simd_name(oc_simd_get()), openblas_get_config(), openblas_get_corename());
    int first = 1;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++) {
        for (size_t si = 0; si < sizeof KN / sizeof *KN; si++) {
            size_t M = Ms[mi], K = KN[si][0], N = KN[si][1];
            float *X = xmalloc(M * K * sizeof(float)), *W = xmalloc(N * K * sizeof(float));
            float *Y1 = xmalloc(M * N * sizeof(float)), *Y2 = xmalloc(M * N * sizeof(float));
            for (size_t i = 0; i < M * K; i++)
                X[i] = frand();
            for (size_t i = 0; i < N * K; i++)
                W[i] = 0.05f * frand();
            /* as the model does on first use (oc_model_prepare): packed copies for the SIMD paths, fp32
             * and BF16 (in k pairs where the table has a BF16 dot-product GEMM) */
            oc_weight w, wb, wq;
            memset(&w, 0, sizeof w);
            w.data = (const uint8_t *)W;
            w.dtype = OCLIP_DTYPE_F32;
            w.n = N;
            w.k = K;
            w.kn = 0;
            wb = w;
            wq = w;
            oclip_error err;
            const oc_kernels *k = oc_kernels_get();
            int simd = k->pack_weights; /* the scalar path reads as stored */
            int pairs = k->bf16_pairs;
            if ((simd && (oc_weight_pack(&w, OCLIP_DTYPE_F32, 0, nth, &err) != OCLIP_OK ||
                          oc_weight_pack(&wb, OCLIP_DTYPE_BF16, pairs, nth, &err) != OCLIP_OK)) ||
                oc_weight_pack(&wq, OCLIP_DTYPE_I8, 0, nth, &err) != OCLIP_OK) {
                fprintf(stderr, "oclip_bench: oc_weight_pack: %s\n", err.msg);
                return 1;
            }
            double flop = 2.0 * (double)M * (double)N * (double)K;
            /* inner repetitions so that one measurement lasts ~30 ms */
            oc_gemm(X, M, &w, NULL, Y1, nth);
            double t0 = now();
            oc_gemm(X, M, &w, NULL, Y1, nth);
            double one = now() - t0;
            int inner = one > 0.03 ? 1 : (int)(0.03 / (one > 1e-6 ? one : 1e-6)) + 1;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, X,
                        (int)K, W, (int)K, 0.0f, Y2, (int)N);
            double maxd = 0;
            for (size_t i = 0; i < M * N; i++) {
                double d = Y1[i] - Y2[i];
                d = d < 0 ? -d : d;
                maxd = d > maxd ? d : maxd;
            }
            double *ta = xmalloc((size_t)reps * sizeof(double));
            double *tb = xmalloc((size_t)reps * sizeof(double));
            double *tc = xmalloc((size_t)reps * sizeof(double));
            double *td = xmalloc((size_t)reps * sizeof(double));
            void *qs = xmalloc(oc_gemm_i8_scratch(M, K)); /* quantizing X is part of the time */
            for (int r = 0; r < reps; r++) {
                pause_s(0.15);
                t0 = now();
                for (int i = 0; i < inner; i++)
                    oc_gemm(X, M, &w, NULL, Y1, nth);
                ta[r] = (now() - t0) / inner;
                pause_s(0.15);
                t0 = now();
                for (int i = 0; i < inner; i++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K,
                                1.0f, X, (int)K, W, (int)K, 0.0f, Y2, (int)N);
                tb[r] = (now() - t0) / inner;
                pause_s(0.15);
                t0 = now();
                for (int i = 0; i < inner; i++)
                    oc_gemm(X, M, &wb, NULL, Y1, nth);
                tc[r] = (now() - t0) / inner;
                pause_s(0.15);
                t0 = now();
                for (int i = 0; i < inner; i++)
                    oc_gemm_i8(X, M, &wq, NULL, Y1, nth, qs);
                td[r] = (now() - t0) / inner;
            }
            double ma = median(ta, reps), mb = median(tb, reps), mc = median(tc, reps),
                   md = median(td, reps);
            printf("%s\n  {\"what\": \"%s\", \"M\": %zu, \"K\": %zu, \"N\": %zu, \"inner\": %d, "
                   "\"oc_gemm_s\": %.9f, \"openblas_s\": %.9f, \"oc_gemm_bf16_s\": %.9f, "
                   "\"oc_gemm_gflops\": %.2f, \"openblas_gflops\": %.2f, "
                   "\"oc_gemm_bf16_gflops\": %.2f, \"oc_gemm_i8_s\": %.9f, "
                   "\"oc_gemm_i8_gops\": %.2f, \"max_abs_diff\": %.3g}",
                   first ? "" : ",", what[si], M, K, N, inner, ma, mb, mc, flop / ma * 1e-9,
                   flop / mb * 1e-9, flop / mc * 1e-9, md, flop / md * 1e-9, maxd);
            fflush(stdout);
            first = 0;
            free(ta);
            free(tb);
            free(tc);
            free(td);
            free(qs);
            oc_weight_unpack(&w);
            oc_weight_unpack(&wb);
            oc_weight_unpack(&wq);
            free(X);
            free(W);
            free(Y1);
            free(Y2);
        }
    }
    printf("]}\n");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */

static int usage(void) {
    fprintf(stderr,
            "usage: oclip_bench model -m DIR [--threads N] [--reps R] [--images 1,8,32]\n"
            "                         [--texts 1,32,1000] [--classes C] [--templates T]\n"
            "       oclip_bench serve -m DIR [--threads N] [--dtype f32|f16|bf16|int8]\n"
            "       oclip_bench accuracy -m DIR --dtype f16|bf16|int8 [--threads N] [--classes N]\n"
            "       oclip_bench gemm [--threads N] [--reps R]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage();
    const char *mode = argv[1], *dir = NULL, *images = "1,8,32", *texts = "1,32,1000";
    int threads = 0, reps = 5;
    unsigned long classes = 0, templates = 80;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (!strcmp(a, "-m"))
            dir = v;
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else if (!strcmp(a, "--images"))
            images = v;
        else if (!strcmp(a, "--texts"))
            texts = v;
        else if (!strcmp(a, "--classes"))
            classes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--templates"))
            templates = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--dtype") && !strcmp(v, "f32"))
            g_dtype = OCLIP_DTYPE_F32;
        else if (!strcmp(a, "--dtype") && !strcmp(v, "f16"))
            g_dtype = OCLIP_DTYPE_F16;
        else if (!strcmp(a, "--dtype") && !strcmp(v, "bf16"))
            g_dtype = OCLIP_DTYPE_BF16;
        else if (!strcmp(a, "--dtype") && !strcmp(v, "int8"))
            g_dtype = OCLIP_DTYPE_I8;
        else
            return usage();
        i++;
    }
    if (reps < 1 || reps > 10000 || threads < 0)
        return usage();
    if (!strcmp(mode, "gemm"))
        return cmd_gemm(threads, reps);
    if (!dir)
        return usage();
    if (!strcmp(mode, "model"))
        return cmd_model(dir, threads, reps, images, texts, classes, templates);
    if (!strcmp(mode, "serve"))
        return cmd_serve(dir, threads);
    if (!strcmp(mode, "accuracy"))
        return cmd_accuracy(dir, threads, classes ? classes : 32);
    return usage();
}
