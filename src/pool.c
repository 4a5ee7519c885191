/*
 * pool.c — the engine's threads. A parallel region splits [0, n) into `nth` contiguous ranges
 * and runs one per thread; threads are created per region and joined at its end, so a model
 * handle carries no thread state and can be shared by callers on several threads at once.
 * (A region costs tens of microseconds; a ViT-B-32 forward has about a hundred of them.)
 *
 * Determinism: the ranges depend only on (n, nth), and kernels never reduce across ranges, so
 * the bytes of every result are the same for any thread count (style.md §3).
 */
#include <pthread.h>
#include <unistd.h>

#include "engine.h"

#define OC_MAX_THREADS 256

typedef struct {
    oc_range_fn fn;
    void *ctx;
    size_t i0, i1;
} job;

static void *run_job(void *p) {
    job *j = p;
    j->fn(j->ctx, j->i0, j->i1);
    return NULL;
}

int oc_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > OC_MAX_THREADS ? OC_MAX_THREADS : (int)n;
}

void oc_parallel(int nth, size_t n, oc_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
    if (nth < 1 || (size_t)nth > n) nth = nth < 1 ? 1 : (int)n;
    if (nth == 1) {
        fn(ctx, 0, n);
        return;
    }
    job jobs[OC_MAX_THREADS];
    pthread_t tid[OC_MAX_THREADS];
    bool started[OC_MAX_THREADS];
    /* range t = [t*n/nth, (t+1)*n/nth): as even as integer division allows */
    for (int t = 0; t < nth; t++) {
        jobs[t] = (job){fn, ctx, n * (size_t)t / (size_t)nth, n * (size_t)(t + 1) / (size_t)nth};
        started[t] = false;
    }
    for (int t = 1; t < nth; t++)
        started[t] = pthread_create(&tid[t], NULL, run_job, &jobs[t]) == 0;
    run_job(&jobs[0]);
    for (int t = 1; t < nth; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else run_job(&jobs[t]); /* no thread: same range, same bytes, on this thread */
    }
}
