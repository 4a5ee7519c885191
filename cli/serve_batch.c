/*
 * serve_batch.c — dynamic batching for `oclip serve`. Each (model, tower) has a queue and one
 * batcher thread. Connection threads put jobs (already tokenized or preprocessed) into the
 * queue and wait; the batcher takes the first job, waits for others while some are on their
 * way (announced: being tokenized or decoded, see sv_queue_announce) up to max_wait or until
 * max_batch inputs are there, concatenates their inputs, runs one forward pass
 * (oclip_encode_text / oclip_encode_image, normalize = 1) and hands each job its rows. A lone
 * request does not wait; requests that arrive during a forward pass join the next one. The
 * engine's results do not depend on the batch ("--threads and --batch-size never change a
 * result", docs/ENGINE.md), so a batched request gets the bytes it would get alone;
 * tests/serve_test.py checks that under concurrent load.
 *
 * A model that can caption (CoCa) has a third queue, SV_CAPTION, for POST /v1/captions: its
 * batcher runs one job at a time and captions the job's images one after the other
 * (oclip_caption: beam search, a decoder pass per step), so captions get the same queue bound,
 * timeout, metrics and graceful stop as embeddings, and run beside the towers' batches as the
 * text and image batches run beside each other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

double sv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct timespec abs_time(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    if (ts.tv_nsec < 0) ts.tv_nsec = 0;
    return ts;
}

/* per-input sizes of the tower's inputs */
static size_t input_floats(const sv_queue *q) {
    int h, w;
    oclip_model_image_size(q->m, &h, &w);
    return 3 * (size_t)h * (size_t)w;
}

static oclip_status encode(const sv_queue *q, const void *in, size_t n, float *out,
                           oclip_error *err) {
    return q->tower == SV_IMAGE ? oclip_encode_image(q->m, in, n, out, 1, err)
                                : oclip_encode_text(q->m, in, n, out, 1, err);
}

/* The captions of one job's images, in order (ids of image i at i * seq_len) */
static oclip_status caption_job(const sv_queue *q, sv_job *j, oclip_error *err) {
    size_t per = input_floats(q), sl = (size_t)j->caption->seq_len;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < j->n && s == OCLIP_OK; i++)
        s = oclip_caption(q->m, j->pixels + i * per, j->caption, j->ids + i * sl, sl,
                          &j->n_ids[i], err);
    return s;
}

/* Runs the jobs of one batch (a list of `k` jobs with `total` inputs). One job runs straight
 * from its own buffers; several are copied into one input buffer and their rows copied back. */
static void run_batch(sv_queue *q, sv_job *first, size_t total) {
    size_t E = (size_t)oclip_model_embed_dim(q->m);
    size_t per = q->tower == SV_IMAGE ? input_floats(q) : (size_t)oclip_model_context_length(q->m);
    size_t elem = q->tower == SV_IMAGE ? sizeof(float) : sizeof(int64_t);
    oclip_error err;
    err.msg[0] = '\0';
    oclip_status s = OCLIP_OK;
    if (q->tower == SV_CAPTION) {
        s = caption_job(q, first, &err); /* max_batch 1: the batch is this one job */
    } else if (!first->next) {
        const void *in = q->tower == SV_IMAGE ? (const void *)first->pixels
                                              : (const void *)first->tokens;
        /* a job larger than max_batch runs in slices of max_batch */
        for (size_t i = 0; i < first->n && s == OCLIP_OK; i += q->max_batch) {
            size_t k = first->n - i < q->max_batch ? first->n - i : q->max_batch;
            s = encode(q, (const char *)in + i * per * elem, k, first->out + i * E, &err);
        }
    } else {
        char *in = malloc(total * per * elem);
        float *out = malloc(total * E * sizeof *out);
        if (!in || !out) {
            s = OCLIP_E_NOMEM;
            snprintf(err.msg, sizeof err.msg, "out of memory for a batch of %zu inputs", total);
        } else {
            size_t at = 0;
            for (sv_job *j = first; j; j = j->next) {
                const void *src = q->tower == SV_IMAGE ? (const void *)j->pixels
                                                       : (const void *)j->tokens;
                memcpy(in + at * per * elem, src, j->n * per * elem);
                at += j->n;
            }
            s = encode(q, in, total, out, &err);
            at = 0;
            for (sv_job *j = first; j && s == OCLIP_OK; j = j->next) {
                memcpy(j->out, out + at * E, j->n * E * sizeof *out);
                at += j->n;
            }
        }
        free(in);
        free(out);
    }
    pthread_mutex_lock(&q->mu);
    q->batches++;
    q->batch_inputs += total;
    int b = 0;
    while (b < 9 && ((size_t)1 << b) < total) b++;
    q->batch_hist[b]++;
    for (sv_job *j = first, *next; j; j = next) {
        next = j->next;
        j->status = s;
        if (s != OCLIP_OK) snprintf(j->msg, sizeof j->msg, "%s", err.msg);
        j->next = NULL;
        j->done = 1;
    }
    pthread_cond_broadcast(&q->done);
    pthread_mutex_unlock(&q->mu);
}

static void *batcher(void *arg) {
    sv_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop) pthread_cond_wait(&q->work, &q->mu);
        if (!q->head) break; /* stopping, nothing left */
        /* wait for company while some is coming (requests announced, not yet queued): until
         * max_batch inputs are queued, none is coming any more, or the first job has waited
         * max_wait (no waiting while stopping: drain) */
        double deadline = q->head->enqueued + q->max_wait;
        while (q->head && q->queued < q->max_batch && q->preparing && !q->stop &&
               sv_now() < deadline) {
            struct timespec ts = abs_time(deadline);
            pthread_cond_timedwait(&q->work, &q->mu, &ts);
        }
        if (!q->head) continue; /* its jobs timed out meanwhile */
        /* take jobs in order while they fit; the first one always */
        sv_job *first = q->head, *last = q->head;
        size_t total = first->n;
        while (last->next && total + last->next->n <= q->max_batch) {
            last = last->next;
            total += last->n;
        }
        q->head = last->next;
        if (!q->head) q->tail = NULL;
        last->next = NULL;
        for (sv_job *j = first; j; j = j->next) j->taken = 1;
        q->queued -= total;
        q->running = total;
        pthread_mutex_unlock(&q->mu);
        run_batch(q, first, total);
        pthread_mutex_lock(&q->mu);
        q->running = 0;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int sv_queue_start(sv_queue *q, const oclip_model *m, int tower, const char *name,
                   size_t max_batch, double max_wait, size_t max_queue) {
    memset(q, 0, sizeof *q);
    q->m = m;
    q->tower = tower;
    q->name = name;
    /* a caption job runs alone: with max_batch 1 the batcher neither waits for company nor
     * takes a second job */
    q->max_batch = max_batch && tower != SV_CAPTION ? max_batch : 1;
    q->max_wait = max_wait;
    q->max_queue = max_queue;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&q->mu, NULL) || pthread_cond_init(&q->work, &ca) ||
        pthread_cond_init(&q->done, &ca)) {
        pthread_condattr_destroy(&ca);
        return -1;
    }
    pthread_condattr_destroy(&ca);
    if (pthread_create(&q->thread, NULL, batcher, q)) return -1;
    q->started = 1;
    return 0;
}

/* one announced request fewer; the batcher may stop waiting for it (under q->mu) */
static void unannounce(sv_queue *q) {
    if (q->preparing) q->preparing--;
    pthread_cond_signal(&q->work);
}

void sv_queue_announce(sv_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->preparing++;
    pthread_mutex_unlock(&q->mu);
}

void sv_queue_withdraw(sv_queue *q) {
    pthread_mutex_lock(&q->mu);
    unannounce(q);
    pthread_mutex_unlock(&q->mu);
}

int sv_queue_run(sv_queue *q, sv_job *j, double timeout) {
    j->taken = j->done = 0;
    j->next = NULL;
    j->msg[0] = '\0';
    j->status = OCLIP_OK;
    pthread_mutex_lock(&q->mu);
    /* queued or refused, it is no longer on its way */
    if (j->announced) {
        unannounce(q);
        j->announced = 0;
    }
    if (q->stop) {
        pthread_mutex_unlock(&q->mu);
        return SV_RUN_STOPPING;
    }
    /* a job alone may be larger than the bound (the request limits cap it) */
    if (q->queued && q->queued + j->n > q->max_queue) {
        pthread_mutex_unlock(&q->mu);
        return SV_RUN_FULL;
    }
    j->enqueued = sv_now();
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->queued += j->n;
    pthread_cond_signal(&q->work);
    double deadline = j->enqueued + timeout;
    int rc = SV_RUN_OK;
    while (!j->done) {
        if (!j->taken && timeout > 0 && sv_now() >= deadline) {
            /* still queued: take it out again */
            sv_job **pp = &q->head, *prev = NULL;
            while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next;
            if (*pp) {
                *pp = j->next;
                if (q->tail == j) q->tail = prev;
                q->queued -= j->n;
            }
            rc = SV_RUN_TIMEOUT;
            break;
        }
        if (j->taken || timeout <= 0) {
            pthread_cond_wait(&q->done, &q->mu);
        } else {
            struct timespec ts = abs_time(deadline);
            pthread_cond_timedwait(&q->done, &q->mu, &ts);
        }
    }
    if (rc == SV_RUN_OK && j->status != OCLIP_OK) rc = SV_RUN_FAILED;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

void sv_queue_stop(sv_queue *q) {
    if (!q->started) return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    q->started = 0;
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
}
