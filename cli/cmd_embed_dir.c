/*
 * cmd_embed_dir.c — `oclip embed-dir`: a whole collection (folders, list files, WebDataset
 * tars; collection.h) into shards of embeddings with per-row metadata, resumable.
 *
 * Pipeline: one reader thread walks the inputs (and reads tar members), a pool of decoder
 * threads decodes and preprocesses, the main thread takes the results in input order, encodes
 * them batch by batch (the model's own worker threads) and writes the shards. Items live in a
 * window of slots (2 batches + 4 per decoder): memory is bounded whatever the collection size.
 *
 * Shard k holds the rows of items k*S ... (k+1)*S - 1 (S = --shard-size) that decoded; the
 * others are lines of errors.jsonl. A shard is committed in this order: img_emb (and text_emb)
 * .npy, its errors appended to errors.jsonl, then metadata_k.jsonl: each file written to a
 * temporary, fsynced and renamed. metadata_k.jsonl is the commit: --resume keeps the shards
 * whose metadata exists (a prefix), drops everything else (later shards, temporaries, the
 * errors.jsonl lines of uncommitted shards) and walks on from item done*S, so that the output
 * is the same bytes as a run that was never stopped.
 */
#define _DEFAULT_SOURCE /* realpath() */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "collection.h"
#include "embed.h"
#include "progress.h"
#include "text.h"

static const char embed_dir_help[] =
    "usage: oclip embed-dir [-m SPEC] INPUT... -o OUTDIR [--text] [--resume] [--strict]\n"
    "                       [--shard-size N] [--batch-size N] [--decode-threads N] [options]\n"
    "\n"
    "Embeds a whole collection: every image of the INPUTs, decoded and preprocessed as OpenCLIP\n"
    "does on a pool of threads while the model encodes, into shards of L2-normalized float32\n"
    "embeddings with a metadata file per shard (row -> file or tar key, caption). Files that do\n"
    "not decode are skipped and listed in OUTDIR/errors.jsonl. A stopped run (Ctrl-C, kill,\n"
    "power loss) continues with --resume, with the same output as a run never stopped.\n"
    "\n"
    "INPUT   a folder (recursive; files with an image extension: jpg jpeg png webp bmp gif\n"
    "        tif tiff ppm pgm pbm; NAME.txt beside an image is its caption), a WebDataset\n"
    "        .tar shard (KEY.jpg|png|webp... + KEY.txt or KEY.json captions), or a text file\n"
    "        listing image paths, one a line (PATH or PATH<TAB>CAPTION)\n"
    "\n"
    "  -o, --output DIR     the output folder:\n"
    "                         img_emb/img_emb_NNNN.npy     float32 [rows, E]\n"
    "                         text_emb/text_emb_NNNN.npy   with --text: the captions' embeddings\n"
    "                         metadata/metadata_NNNN.jsonl one JSON line a row (row, index,\n"
    "                                                      path or tar+key, caption)\n"
    "                         errors.jsonl                 the items skipped, with the reason\n"
    "                         manifest.json                model, fingerprint, preprocessing,\n"
    "                                                      counts, oclip version\n"
    "  --text               also embed the captions (a row without caption: zeros)\n"
    "  --resume             continue the run that OUTDIR holds (same inputs and settings)\n"
    "  --strict             stop at the first file that does not decode (exit 1)\n"
    "  --shard-size N       input items per shard (default 10000)\n"
    "  --decode-threads N   decoding threads (default: a quarter of the cores, at least 2)\n"
    MAX_PIXELS_OPTION
    "\n"
    "examples:\n"
    "  oclip embed-dir -m ViT-B-32:laion2b_s34b_b79k ~/photos -o photos.emb\n"
    "  oclip embed-dir -m ViT-B-32:laion2b_s34b_b79k shards/*.tar --text -o laion.emb\n"
    "  oclip embed-dir -m ViT-B-32:laion2b_s34b_b79k ~/photos -o photos.emb --resume\n"
    "  oclip search photos.emb \"a red car\"\n"
    "\n" MODEL_OPTIONS;

/* ---- a growing text buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} buf;

static void buf_put(buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* ---- the pipeline ---- */
enum { SLOT_FREE, SLOT_LOADED, SLOT_DECODING, SLOT_DONE };

typedef struct {
    coll_item it;
    int state, ok;
    float *pixels;
    char err[OCLIP_ERROR_MSG_SIZE];
} slot;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    size_t W;
    uint64_t next_load, next_decode, next_consume;
    int eof, stop;
    char fatal[600];
    coll_walk *walk;
    uint64_t skip;
    const oclip_model *m;
    oclip_preprocess_cfg pre;
    oclip_image_options iopt;
    size_t px;
    /* the count of items, for the progress bar */
    const char *const *inputs;
    size_t n_inputs;
    uint64_t total;
    int total_known;
} pipe_t;

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static void *reader_main(void *arg) {
    pipe_t *c = arg;
    char why[600];
    for (;;) {
        coll_item it;
        int rc = coll_walk_next(c->walk, &it, why, sizeof why);
        pthread_mutex_lock(&c->mu);
        if (rc <= 0 || c->stop) {
            if (rc < 0) snprintf(c->fatal, sizeof c->fatal, "%s", why);
            if (rc > 0) coll_item_clear(&it);
            c->eof = 1;
            pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if (it.seq < c->skip) {
            pthread_mutex_unlock(&c->mu);
            coll_item_clear(&it);
            continue;
        }
        while (c->next_load - c->next_consume >= c->W && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) {
            pthread_mutex_unlock(&c->mu);
            coll_item_clear(&it);
            continue; /* sets eof above */
        }
        slot *s = &c->slots[c->next_load % c->W];
        s->it = it;
        s->state = SLOT_LOADED;
        c->next_load++;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
}

/* Decodes and preprocesses one item into its slot (ok, or err). */
static void decode_slot(pipe_t *c, slot *s) {
    oclip_error err;
    s->ok = 0;
    s->err[0] = '\0';
    if (s->it.error) {
        snprintf(s->err, sizeof s->err, "%s", s->it.error);
        return;
    }
    oclip_image *img = NULL;
    oclip_status st;
    if (s->it.data) {
        char name[1200];
        snprintf(name, sizeof name, "%s:%s", s->it.path, s->it.member ? s->it.member : "");
        st = oclip_image_decode(s->it.data, s->it.size, name, &c->iopt, &img, &err);
        free(s->it.data);
        s->it.data = NULL;
    } else {
        st = oclip_image_load(s->it.path, &c->iopt, &img, &err);
    }
    if (st == OCLIP_OK) st = oclip_preprocess(img, &c->pre, s->pixels, &err);
    oclip_image_free(img);
    if (st != OCLIP_OK) {
        snprintf(s->err, sizeof s->err, "%s", err.msg[0] ? err.msg : oclip_status_str(st));
        return;
    }
    s->ok = 1;
}

static void *decoder_main(void *arg) {
    pipe_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->next_decode == c->next_load && !c->eof && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop || c->next_decode == c->next_load) break;
        slot *s = &c->slots[c->next_decode % c->W];
        c->next_decode++;
        s->state = SLOT_DECODING;
        pthread_mutex_unlock(&c->mu);
        decode_slot(c, s);
        pthread_mutex_lock(&c->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void *counter_main(void *arg) {
    pipe_t *c = arg;
    coll_walk *w = NULL;
    char why[600];
    if (coll_walk_open(c->inputs, c->n_inputs, 1, &w, why, sizeof why)) return NULL;
    uint64_t n = 0;
    coll_item it;
    int rc;
    while ((rc = coll_walk_next(w, &it, why, sizeof why)) > 0) {
        coll_item_clear(&it);
        n++;
        if ((n & 255) == 0) {
            pthread_mutex_lock(&c->mu);
            int stop = c->stop;
            pthread_mutex_unlock(&c->mu);
            if (stop) break;
        }
    }
    coll_walk_free(w);
    pthread_mutex_lock(&c->mu);
    if (rc == 0) {
        c->total = n;
        c->total_known = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- the run ---- */
typedef struct {
    embed_args a;
    const char *out;
    int text, resume, strict;
    uint64_t shard_size;
    int decode_threads;
    oclip_model *m;
    size_t E;
    /* the current shard */
    uint64_t shard, shard_rows;
    float *img, *txt;
    buf meta, errs;
    /* the pending batch */
    size_t nb, B;
    float *bpix;
    char **bcap;
    size_t *bcap_len;
    uint64_t brow0;
    /* totals */
    uint64_t rows, errors, captions;
    long kill_at, steps; /* OCLIP_TEST_KILL_AT: the test suite's crash points */
} run_t;

static int io_fail(const char *what, const char *path) {
    fprintf(stderr, "oclip: embed-dir: %s '%s': %s\n", what, cli_esc(path), strerror(errno));
    return EXIT_FAIL;
}

/* One step of a commit is durable: the test suite may stop the process here (kill -9). */
static void step_done(run_t *r) {
    r->steps++;
    if (r->kill_at > 0 && r->steps == r->kill_at) raise(SIGKILL);
}

static int flush_batch(run_t *r) {
    if (!r->nb) return 0;
    oclip_error err;
    float *dst = r->img + r->brow0 * r->E;
    if (oclip_encode_image(r->m, r->bpix, r->nb, dst, 1, &err) != OCLIP_OK) {
        fprintf(stderr, "oclip: embed-dir: %s\n", cli_esc_msg(err.msg));
        return EXIT_FAIL;
    }
    if (r->text) {
        /* rows with a caption, encoded together; rows without one stay zero */
        const char *t[1024];
        size_t lens[1024], rowi[1024], k = 0;
        for (size_t i = 0; i < r->nb; i++) {
            float *row = r->txt + (r->brow0 + i) * r->E;
            memset(row, 0, r->E * sizeof *row);
            if (!r->bcap[i]) continue;
            t[k] = r->bcap[i];
            lens[k] = r->bcap_len[i];
            rowi[k++] = i;
        }
        float *tmp = k ? malloc(k * r->E * sizeof *tmp) : NULL;
        if (k && !tmp) return embed_oom("embed-dir");
        if (k && oclip_encode_text_strings(r->m, t, lens, k, tmp, 1, &err) != OCLIP_OK) {
            fprintf(stderr, "oclip: embed-dir: %s\n", cli_esc_msg(err.msg));
            free(tmp);
            return EXIT_FAIL;
        }
        for (size_t j = 0; j < k; j++)
            memcpy(r->txt + (r->brow0 + rowi[j]) * r->E, tmp + j * r->E, r->E * sizeof *tmp);
        free(tmp);
    }
    for (size_t i = 0; i < r->nb; i++) {
        free(r->bcap[i]);
        r->bcap[i] = NULL;
    }
    r->nb = 0;
    return 0;
}

static int append_durable(const char *path, const char *data, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, data + done, len - done);
        if (k < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        done += (size_t)k;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

static int commit_shard(run_t *r) {
    int rc = flush_batch(r);
    if (rc) return rc;
    char path[4200];
    size_t len;
    const char *kinds[2] = {"img", "text"};
    for (int k = 0; k < 1 + r->text; k++) {
        unsigned char *npy = coll_npy_bytes(k ? r->txt : r->img, r->shard_rows, r->E, &len);
        if (!npy) return embed_oom("embed-dir");
        coll_shard_path(path, sizeof path, r->out, kinds[k], r->shard);
        int bad = coll_write_atomic(path, npy, len);
        free(npy);
        if (bad) return io_fail("cannot write", path);
        step_done(r);
    }
    if (r->meta.oom || r->errs.oom) return embed_oom("embed-dir");
    if (r->errs.n) {
        snprintf(path, sizeof path, "%s/errors.jsonl", r->out);
        if (append_durable(path, r->errs.p, r->errs.n)) return io_fail("cannot write", path);
        step_done(r);
    }
    coll_shard_path(path, sizeof path, r->out, "metadata", r->shard);
    if (coll_write_atomic(path, r->meta.n ? r->meta.p : "", r->meta.n))
        return io_fail("cannot write", path);
    step_done(r);
    r->rows += r->shard_rows;
    r->shard++;
    r->shard_rows = 0;
    r->meta.n = r->errs.n = 0;
    return 0;
}

/* The JSON line of an item (metadata or error), without its newline. */
static int item_json(buf *b, const char *field, uint64_t n, uint64_t seq, const coll_item *it,
                     const char *error) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    cJSON_AddNumberToObject(o, field, (double)n);
    cJSON_AddNumberToObject(o, "index", (double)seq);
    if (it->key) {
        cJSON_AddStringToObject(o, "tar", it->path);
        cJSON_AddStringToObject(o, "key", it->key);
        if (it->member) cJSON_AddStringToObject(o, "file", it->member);
    } else {
        cJSON_AddStringToObject(o, it->from_tar ? "tar" : "path", it->path);
    }
    if (error) {
        cJSON_AddStringToObject(o, "error", error);
    } else if (it->caption) {
        /* a caption is text up to its first NUL (cJSON strings) */
        cJSON_AddStringToObject(o, "caption", it->caption);
    }
    char *s = cli_json_print(o);
    cJSON_Delete(o);
    if (!s) return -1;
    buf_put(b, s, strlen(s));
    buf_put(b, "\n", 1);
    free(s);
    return 0;
}

/* ---- the manifest ---- */
static char *abs_path(const char *p) {
    if (!p) return NULL;
    struct stat st;
    if (stat(p, &st) != 0) return strdup(p);
    char *r = realpath(p, NULL);
    return r ? r : strdup(p);
}

static const char *dtype_opt(oclip_dtype d) {
    switch (d) {
    case OCLIP_DTYPE_F16: return "f16";
    case OCLIP_DTYPE_BF16: return "bf16";
    case OCLIP_DTYPE_I8: return "int8";
    default: return "f32";
    }
}

/* What decides the output's bytes: a resumed run must have the same. */
static cJSON *settings_json(const run_t *r, const char *fingerprint) {
    cJSON *s = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(s, "model");
    /* "default" is the embedded model whatever the folder holds (oclip_source_resolve) */
    char *spec = r->a.model.spec && strcmp(r->a.model.spec, "default") ? abs_path(r->a.model.spec)
                                                                        : NULL;
    char *cfg = abs_path(r->a.model.config);
    if (spec) cJSON_AddStringToObject(m, "spec", spec);
    else cJSON_AddStringToObject(m, "spec", "default");
    if (r->a.model.arch) cJSON_AddStringToObject(m, "arch", r->a.model.arch);
    if (cfg) cJSON_AddStringToObject(m, "config", cfg);
    free(spec);
    free(cfg);
    if (r->a.model.quick != OCLIP_QUICK_GELU_UNSET)
        cJSON_AddBoolToObject(m, "quick_gelu", r->a.model.quick == OCLIP_QUICK_GELU_ON);
    cJSON_AddStringToObject(m, "dtype", dtype_opt(r->a.weight_dtype));
    cJSON_AddStringToObject(m, "fingerprint", fingerprint);
    const oclip_model_config *c = oclip_model_config_of(r->m);
    if (c && c->name[0]) cJSON_AddStringToObject(m, "architecture", c->name);
    cJSON_AddNumberToObject(m, "embed_dim", (double)r->E);
    const oclip_preprocess_cfg *p = oclip_model_preprocess(r->m);
    cJSON *pp = cJSON_AddObjectToObject(s, "preprocess");
    cJSON *size = cJSON_AddArrayToObject(pp, "size");
    cJSON_AddItemToArray(size, cJSON_CreateNumber(p->size[0]));
    cJSON_AddItemToArray(size, cJSON_CreateNumber(p->size[1]));
    cJSON *mean = cJSON_AddArrayToObject(pp, "mean"), *std = cJSON_AddArrayToObject(pp, "std");
    for (int i = 0; i < 3; i++) {
        cJSON_AddItemToArray(mean, cJSON_CreateNumber(p->mean[i]));
        cJSON_AddItemToArray(std, cJSON_CreateNumber(p->std[i]));
    }
    cJSON_AddStringToObject(pp, "interpolation", p->interpolation);
    cJSON_AddStringToObject(pp, "resize_mode", p->resize_mode);
    cJSON_AddNumberToObject(pp, "fill_color", p->fill_color);
    if (r->a.max_pixels) cJSON_AddNumberToObject(pp, "max_pixels", (double)r->a.max_pixels);
    cJSON *in = cJSON_AddArrayToObject(s, "inputs");
    for (size_t i = 0; i < r->a.images.n; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(r->a.images.p[i].s));
    cJSON_AddNumberToObject(s, "shard_size", (double)r->shard_size);
    cJSON_AddBoolToObject(s, "text", r->text);
    cJSON_AddStringToObject(s, "dtype", "float32");
    cJSON_AddBoolToObject(s, "normalized", 1);
    cJSON_AddStringToObject(s, "oclip_version", OCLIP_VERSION_STRING);
    return s;
}

static int write_manifest(const run_t *r, const cJSON *settings, int complete, uint64_t items) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "oclip-embeddings");
    cJSON_AddNumberToObject(o, "format_version", 1);
    cJSON_AddItemToObject(o, "settings", cJSON_Duplicate(settings, 1));
    cJSON_AddBoolToObject(o, "complete", complete);
    if (complete) {
        cJSON *n = cJSON_AddObjectToObject(o, "counts");
        cJSON_AddNumberToObject(n, "items", (double)items);
        cJSON_AddNumberToObject(n, "images", (double)r->rows);
        cJSON_AddNumberToObject(n, "errors", (double)r->errors);
        cJSON_AddNumberToObject(n, "captions", (double)r->captions);
        cJSON_AddNumberToObject(o, "shards", (double)r->shard);
    }
    char *s = cli_json_print(o);
    cJSON_Delete(o);
    if (!s) return embed_oom("embed-dir");
    char path[4200];
    snprintf(path, sizeof path, "%s/manifest.json", r->out);
    size_t n = strlen(s);
    s[n] = '\n'; /* the terminator becomes the final newline */
    int bad = coll_write_atomic(path, s, n + 1);
    free(s);
    return bad ? io_fail("cannot write", path) : 0;
}

static int mkdir_p(const char *path) {
    char p[4200];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return -1;
    return is_dir(p) ? 0 : -1;
}

/* Counts the JSON lines of a file, and the captions among them. */
static int count_lines(const char *path, uint64_t *lines, uint64_t *caps) {
    size_t len;
    char *t = coll_read_file(path, (size_t)1 << 40, &len);
    if (!t) return -1;
    for (char *p = t; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        (*lines)++;
        if (caps && strstr(p, "\"caption\":")) (*caps)++;
        p = nl + 1;
    }
    free(t);
    return 0;
}

/* Removes a shard's files (and temporaries) from `from` on. */
static void remove_from(const char *out, uint64_t from, int text) {
    const char *kinds[3] = {"img", "metadata", "text"};
    char path[4200], tmp[4300];
    for (uint64_t k = from;; k++) {
        int any = 0;
        for (int i = 0; i < 2 + text; i++) {
            coll_shard_path(path, sizeof path, out, kinds[i], k);
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            any |= unlink(path) == 0;
            any |= unlink(tmp) == 0;
        }
        if (!any && k > from) break;
    }
    snprintf(path, sizeof path, "%s/manifest.json.tmp", out);
    unlink(path);
    snprintf(path, sizeof path, "%s/errors.jsonl.tmp", out);
    unlink(path);
}

/* Keeps the lines of errors.jsonl whose shard is below done (rewritten atomically). */
static int trim_errors(run_t *r, uint64_t done) {
    char path[4200];
    snprintf(path, sizeof path, "%s/errors.jsonl", r->out);
    size_t len;
    char *t = coll_read_file(path, (size_t)1 << 40, &len);
    if (!t) return errno == ENOENT ? 0 : io_fail("cannot read", path);
    buf keep = {0};
    for (char *p = t; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl) break; /* a line cut by a crash */
        *nl = '\0';
        cJSON *o = cJSON_Parse(p);
        cJSON *sh = o ? cJSON_GetObjectItemCaseSensitive(o, "shard") : NULL;
        if (cJSON_IsNumber(sh) && sh->valuedouble >= 0 && (uint64_t)sh->valuedouble < done) {
            buf_put(&keep, p, strlen(p));
            buf_put(&keep, "\n", 1);
            r->errors++;
        }
        cJSON_Delete(o);
        p = nl + 1;
    }
    free(t);
    int rc = 0;
    if (keep.oom) rc = embed_oom("embed-dir");
    else if (coll_write_atomic(path, keep.p ? keep.p : "", keep.n)) rc = io_fail("cannot write", path);
    free(keep.p);
    return rc;
}

/* Prepares OUTDIR: a new run, or (resume) what a stopped run left; *skip the items done. */
static int prepare_out(run_t *r, const cJSON *settings, uint64_t *skip, int *already) {
    char path[4200];
    *skip = 0;
    *already = 0;
    snprintf(path, sizeof path, "%s/manifest.json", r->out);
    size_t len;
    char *t = coll_read_file(path, 16u << 20, &len);
    if (!t && errno != ENOENT) return io_fail("cannot read", path);
    if (t && !r->resume) {
        free(t);
        fprintf(stderr, "oclip: embed-dir: '%s' already holds a run (manifest.json)\n"
                "hint: add --resume to continue it, or choose another -o folder\n", cli_esc(r->out));
        return EXIT_FAIL;
    }
    if (t) {
        cJSON *o = cJSON_Parse(t);
        free(t);
        cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "settings") : NULL;
        char *a = s ? cli_json_print(s) : NULL, *b = cli_json_print(settings);
        int same = a && b && !strcmp(a, b);
        int complete = o && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete"));
        free(a);
        free(b);
        cJSON_Delete(o);
        if (!s) {
            fprintf(stderr, "oclip: embed-dir: '%s' is not a manifest oclip wrote\n", cli_esc(path));
            return EXIT_FAIL;
        }
        if (!same) {
            fprintf(stderr, "oclip: embed-dir: --resume: the run in '%s' has other settings "
                    "(model, inputs, --shard-size, --text, --max-pixels or version)\n"
                    "hint: give the same command as the first run, or choose another -o folder\n",
                    cli_esc(r->out));
            return EXIT_FAIL;
        }
        if (complete) *already = 1;
        /* the committed shards: a prefix of metadata files */
        uint64_t done = 0;
        struct stat st;
        for (;; done++) {
            coll_shard_path(path, sizeof path, r->out, "metadata", done);
            if (stat(path, &st) != 0) break;
        }
        for (uint64_t k = 0; k < done; k++) {
            coll_shard_path(path, sizeof path, r->out, "metadata", k);
            uint64_t rows = 0;
            if (count_lines(path, &rows, &r->captions)) return io_fail("cannot read", path);
            r->rows += rows;
        }
        remove_from(r->out, done, 1);
        int rc = trim_errors(r, done);
        if (rc) return rc;
        r->shard = done;
        /* every item is a row or an error: done * S, or fewer when the last committed shard
         * was the short one at the end of the inputs */
        *skip = r->rows + r->errors;
        return 0;
    }
    int rc = write_manifest(r, settings, 0, 0);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/errors.jsonl", r->out);
    if (coll_write_atomic(path, "", 0)) return io_fail("cannot write", path);
    return 0;
}

static int mkdir_p2(const run_t *r) {
    const char *sub[3] = {"img_emb", "metadata", "text_emb"};
    char p[4200];
    for (int i = 0; i < 2 + r->text; i++) {
        snprintf(p, sizeof p, "%s/%s", r->out, sub[i]);
        if (mkdir_p(p)) return -1;
    }
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_count(const char *opt, const char *v, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || x < 1 || x > max || v[0] == '-')
        return usage_error("embed-dir", opt, v);
    *out = x;
    return 0;
}

/* Takes the decoded items in order from item `skip` on, batch by batch, shard by shard. */
static int run_pipeline(run_t *r, uint64_t skip, const char *const *inputs, size_t n_inputs) {
    pipe_t c = {.skip = skip, .m = r->m, .inputs = inputs, .n_inputs = n_inputs};
    char why[700];
    int rc = 0;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nd = r->decode_threads ? r->decode_threads : (int)(ncpu / 4 > 2 ? ncpu / 4 : 2);
    r->B = (size_t)(r->a.batch ? r->a.batch : 32);
    if (r->B > 1024) r->B = 1024;
    c.W = 2 * r->B + 4 * (size_t)nd;
    c.pre = *oclip_model_preprocess(r->m);
    if (r->a.max_pixels) c.pre.max_pixels = r->a.max_pixels;
    oclip_image_options_default(&c.iopt);
    if (r->a.max_pixels) c.iopt.max_pixels = r->a.max_pixels;
    c.px = 3 * (size_t)c.pre.size[0] * (size_t)c.pre.size[1];
    c.next_load = c.next_decode = c.next_consume = skip;
    uint64_t S = r->shard_size;
    size_t rows_cap = S < 65536 ? (size_t)S : 65536; /* grown on demand */
    r->img = malloc(rows_cap * r->E * sizeof(float));
    r->txt = r->text ? malloc(rows_cap * r->E * sizeof(float)) : NULL;
    r->bpix = malloc(r->B * c.px * sizeof(float));
    r->bcap = calloc(r->B, sizeof *r->bcap);
    r->bcap_len = calloc(r->B, sizeof *r->bcap_len);
    c.slots = calloc(c.W, sizeof *c.slots);
    int oom = !r->img || (r->text && !r->txt) || !r->bpix || !r->bcap || !r->bcap_len || !c.slots;
    for (size_t i = 0; !oom && i < c.W; i++) oom = !(c.slots[i].pixels = malloc(c.px * sizeof(float)));
    if (oom || coll_walk_open(inputs, n_inputs, 0, &c.walk, why, sizeof why)) {
        rc = oom ? embed_oom("embed-dir") : (fprintf(stderr, "oclip: embed-dir: %s\n",
                                                      cli_esc_msg(why)), EXIT_FAIL);
        goto free_all;
    }
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    pthread_t reader, counter, *dec = calloc((size_t)nd, sizeof *dec);
    int n_dec = 0, have_reader = 0, have_counter = 0;
    if (dec) {
        have_reader = pthread_create(&reader, NULL, reader_main, &c) == 0;
        for (int i = 0; have_reader && i < nd; i++) n_dec += pthread_create(&dec[n_dec], NULL, decoder_main, &c) == 0;
        have_counter = pthread_create(&counter, NULL, counter_main, &c) == 0;
    }
    if (!have_reader || !n_dec) {
        rc = embed_oom("embed-dir");
        pthread_mutex_lock(&c.mu);
        c.stop = 1;
        pthread_cond_broadcast(&c.cv);
        pthread_mutex_unlock(&c.mu);
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    cli_progress pg;
    cli_progress_start(&pg, "images", 0, 0);
    int interrupted = 0;
    uint64_t seq = skip;
    while (!rc) {
        pthread_mutex_lock(&c.mu);
        slot *s = &c.slots[seq % c.W];
        while (!(c.next_consume < c.next_load && s->state == SLOT_DONE) &&
               !(c.eof && c.next_consume == c.next_load) && !g_interrupted) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100000000;
            if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&c.cv, &c.mu, &ts);
        }
        if (c.total_known && !pg.total) pg.total = c.total > skip ? c.total - skip : 1;
        if (g_interrupted) {
            interrupted = 1;
            pthread_mutex_unlock(&c.mu);
            break;
        }
        if (!(c.next_consume < c.next_load && s->state == SLOT_DONE)) { /* the end */
            if (c.fatal[0]) {
                fprintf(stderr, "oclip: embed-dir: %s\n", cli_esc_msg(c.fatal));
                rc = EXIT_FAIL;
            }
            pthread_mutex_unlock(&c.mu);
            break;
        }
        pthread_mutex_unlock(&c.mu);
        /* the slot is ours until next_consume moves */
        uint64_t in_shard = seq - r->shard * S;
        if (!s->ok) {
            if (r->strict) {
                fprintf(stderr, "%soclip: embed-dir: %s%s%s: %s\n", pg.drawn && pg.tty ? "\n" : "",
                        cli_esc(s->it.path), s->it.key ? ":" : "", s->it.key ? cli_esc(s->it.key) : "",
                        cli_esc_msg(s->err));
                fprintf(stderr, "hint: without --strict such files are skipped and listed in "
                        "errors.jsonl; --resume continues after the committed shards\n");
                rc = EXIT_FAIL;
            } else if (item_json(&r->errs, "shard", r->shard, seq, &s->it, s->err)) {
                rc = embed_oom("embed-dir");
            } else {
                r->errors++;
            }
        } else {
            if (r->shard_rows == rows_cap) {
                size_t cap = rows_cap * 2 > S ? (size_t)S : rows_cap * 2;
                float *a = realloc(r->img, cap * r->E * sizeof(float));
                if (a) r->img = a;
                float *b = r->text ? realloc(r->txt, cap * r->E * sizeof(float)) : NULL;
                if (b) r->txt = b;
                if (!a || (r->text && !b)) rc = embed_oom("embed-dir");
                else rows_cap = cap;
            }
            if (!rc && item_json(&r->meta, "row", r->shard_rows, seq, &s->it, NULL))
                rc = embed_oom("embed-dir");
            if (!rc) {
                if (!r->nb) r->brow0 = r->shard_rows;
                memcpy(r->bpix + r->nb * c.px, s->pixels, c.px * sizeof(float));
                r->bcap[r->nb] = s->it.caption;
                r->bcap_len[r->nb] = s->it.caption_len;
                r->captions += s->it.caption != NULL;
                s->it.caption = NULL;
                r->nb++;
                r->shard_rows++;
            }
        }
        coll_item_clear(&s->it);
        pthread_mutex_lock(&c.mu);
        s->state = SLOT_FREE;
        c.next_consume++;
        pthread_cond_broadcast(&c.cv);
        pthread_mutex_unlock(&c.mu);
        seq++;
        if (!rc && r->nb == r->B) rc = flush_batch(r);
        if (!rc && in_shard + 1 == S) rc = commit_shard(r);
        cli_progress_update(&pg, seq - skip);
    }
    /* the end of the inputs: the last, short shard */
    if (!rc && !interrupted && seq > r->shard * S) rc = commit_shard(r);
    if (!rc && !interrupted) cli_progress_end(&pg);
    pthread_mutex_lock(&c.mu);
    c.stop = 1;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    if (have_reader) pthread_join(reader, NULL);
    for (int i = 0; i < n_dec; i++) pthread_join(dec[i], NULL);
    if (have_counter) pthread_join(counter, NULL);
    free(dec);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    if (interrupted && !rc) {
        fprintf(stderr, "%soclip: embed-dir: interrupted: %llu shard%s committed in '%s'\n"
                "hint: the same command with --resume continues from there\n",
                pg.drawn && pg.tty ? "\n" : "", (unsigned long long)r->shard,
                r->shard == 1 ? "" : "s", cli_esc(r->out));
        rc = 130;
    }
free_all:
    coll_walk_free(c.walk);
    for (size_t i = 0; c.slots && i < c.W; i++) {
        coll_item_clear(&c.slots[i].it);
        free(c.slots[i].pixels);
    }
    free(c.slots);
    for (size_t i = 0; r->bcap && i < r->B; i++) free(r->bcap[i]);
    free(r->bcap);
    free(r->bcap_len);
    free(r->bpix);
    free(r->img);
    free(r->txt);
    free(r->meta.p);
    free(r->errs.p);
    return rc;
}

int cmd_embed_dir(int argc, char **argv) {
    run_t r = {.a = {.cmd = "embed-dir", .normalize = 1, .image_args = 1}, .shard_size = 10000};
    /* this command's own options first; the rest are the embed commands' */
    char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
    if (!rest) return embed_oom("embed-dir");
    int nrest = 0, rc = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        uint64_t v = 0;
        if (!strcmp(o, "--text")) r.text = 1;
        else if (!strcmp(o, "--resume")) r.resume = 1;
        else if (!strcmp(o, "--strict")) r.strict = 1;
        else if (!strcmp(o, "--shard-size") || !strcmp(o, "--decode-threads")) {
            if (i + 1 >= argc) {
                free(rest);
                return usage_error("embed-dir", "%s needs a value", o);
            }
            int shard = o[2] == 's';
            if ((rc = parse_count(shard ? "--shard-size '%s': expected a count from 1 to "
                                          "100000000" : "--decode-threads '%s': expected 1 to 256",
                                  argv[++i], shard ? 100000000 : 256, &v))) {
                free(rest);
                return rc;
            }
            if (shard) r.shard_size = v;
            else r.decode_threads = (int)v;
        } else if (!strcmp(o, "--json") || !strcmp(o, "--pixels") || !strcmp(o, "--no-normalize") ||
                   !strcmp(o, "--tokens") || !strcmp(o, "-f") || !strcmp(o, "--file") ||
                   !strcmp(o, "--images") || !strcmp(o, "--texts")) {
            free(rest);
            return cli_unknown_option("embed-dir", o, embed_dir_help);
        } else rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    rc = embed_parse(nrest, rest, embed_dir_help, &r.a);
    free(rest);
    if (rc >= 0) goto done;
    rc = 0;
    r.out = r.a.output;
    if (!r.a.images.n) rc = usage_error("embed-dir", "%s", "no INPUT: give folders, .tar shards or list files");
    else if (!r.out) rc = usage_error("embed-dir", "%s", "missing -o OUTDIR");
    if (rc) goto done;
    /* the inputs must exist before anything is loaded */
    const char **inputs = malloc(r.a.images.n * sizeof *inputs);
    if (!inputs) {
        rc = embed_oom("embed-dir");
        goto done;
    }
    for (size_t i = 0; i < r.a.images.n; i++) inputs[i] = r.a.images.p[i].s;
    coll_walk *w = NULL;
    char why[700];
    if (coll_walk_open(inputs, r.a.images.n, 0, &w, why, sizeof why)) {
        fprintf(stderr, "oclip: embed-dir: %s\n", cli_esc_msg(why));
        free(inputs);
        rc = EXIT_FAIL;
        goto done;
    }
    coll_walk_free(w);
    const char *env = getenv("OCLIP_TEST_KILL_AT");
    r.kill_at = env ? strtol(env, NULL, 10) : 0;
    if ((rc = embed_load_model(&r.a, &r.m))) {
        free(inputs);
        goto done;
    }
    r.E = (size_t)oclip_model_embed_dim(r.m);
    char fp[33];
    oclip_error err;
    if (oclip_model_fingerprint(r.m, fp, &err) != OCLIP_OK) {
        print_error(&err);
        rc = EXIT_FAIL;
    } else if (mkdir_p(r.out) || mkdir_p2(&r)) {
        rc = io_fail("cannot create", r.out);
    }
    cJSON *settings = rc ? NULL : settings_json(&r, fp);
    uint64_t skip = 0;
    int already = 0;
    if (!rc && !settings) rc = embed_oom("embed-dir");
    if (!rc) rc = prepare_out(&r, settings, &skip, &already);
    if (!rc && already) {
        printf("%s: already complete (%llu images, %llu errors, %llu shards)\n", cli_esc(r.out),
               (unsigned long long)r.rows, (unsigned long long)r.errors,
               (unsigned long long)r.shard);
    } else if (!rc) {
        double t0 = now_s();
        uint64_t rows0 = r.rows;
        rc = run_pipeline(&r, skip, inputs, r.a.images.n);
        if (!rc) rc = write_manifest(&r, settings, 1, r.rows + r.errors);
        if (!rc) {
            double dt = now_s() - t0;
            printf("embedded %llu image%s%s into %llu shard%s in %s: %llu error%s%s%s (%.1f s, "
                   "%.1f images/s)\n", (unsigned long long)r.rows, r.rows == 1 ? "" : "s",
                   r.text ? " and their captions" : "", (unsigned long long)r.shard,
                   r.shard == 1 ? "" : "s", cli_esc(r.out), (unsigned long long)r.errors,
                   r.errors == 1 ? "" : "s", r.errors ? " listed in " : "",
                   r.errors ? "errors.jsonl" : "", dt,
                   dt > 0 ? (double)(r.rows - rows0) / dt : 0.0);
        }
    }
    cJSON_Delete(settings);
    free(inputs);
    oclip_model_free(r.m);
done:
    embed_free_args(&r.a);
    return rc;
}
