/*
 * pool.c — the engine's threads: one persistent process-wide pool. Workers are created on first
 * use (as many as the widest region asked for so far, at most OC_MAX_THREADS - 1), each woken
 * per region through its own slot: it polls the slot's sequence number for 2 ms (SPIN_NS),
 * then sleeps on a condition variable. The caller runs range 0 itself, then takes over every
 * range whose worker has not claimed it yet (a worker asleep when the region started: waking one
 * can take a millisecond on a VM; the worker skips a job the caller took), then waits for the
 * others the same way: it polls for up to 2 ms, then sleeps until a finishing worker wakes it.
 * (It never yields: sched_yield hands the core to any runnable task, an idle-priority one
 * included, and the caller would get it back only at the next scheduler tick although its
 * workers were done; docs/BENCHMARKS.md has the measurement.)
 *
 * Concurrency: one region at a time uses the pool. A caller that finds the pool busy (another
 * thread's region, or a region started from inside a range) runs all of its ranges on its own
 * thread, one after the other: the same ranges, so the same bytes, without waiting. Several
 * threads may therefore encode with one model (or several) at once; only one of them gets the
 * pool's help at any moment.
 *
 * Determinism: the ranges depend only on (n, nth), and kernels never reduce across ranges, so
 * the bytes of every result are the same for any thread count. (oc_parallel_chunks and
 * oc_parallel_owned hand out their items at run time, for kernels whose items are independent
 * of the thread that computes them.)
 *
 * The workers are joined when the library is unloaded or the process exits (a destructor); a
 * forked child starts with no workers and creates its own.
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "kernels/kernels.h"

/* How long a worker polls for its next job, and the caller for a worker to finish, before it
 * sleeps: 2 ms, as polls of one pause each, counted (`spin`) from the pause's duration measured
 * when the pool starts. Between the regions of one forward pass a worker must not fall asleep:
 * woken again, it comes too late and the caller runs its range itself (docs/BENCHMARKS.md,
 * 2026-12-08 04:42 UTC). OpenMP runtimes poll for milliseconds too (libgomp's GOMP_SPINCOUNT,
 * KMP_BLOCKTIME); ONNX Runtime's workers poll through a whole run. */
#define SPIN_NS 2000000
static int spin = 4000; /* polls in SPIN_NS (spin_calibrate) */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef struct {
    _Alignas(64) unsigned seq; /* bumped by the caller per job (atomic) */
    unsigned claim;            /* = seq once the worker or the caller has taken the job (atomic) */
    unsigned done;             /* = seq when the worker has finished the job (atomic) */
    oc_range_fn fn;
    void *ctx;
    size_t i0, i1;
    int t;
} slot;

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;  /* held while a region uses the pool */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  /* sleepers / wake / finished */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;     /* workers: a job or stop */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER; /* the caller: a worker is done */
static int sleepers, waiting, stop, nworkers;
static pid_t owner;
static pthread_t tid[OC_MAX_THREADS];
static slot slots[OC_MAX_THREADS];

static void *worker(void *p) {
    slot *s = p;
    unsigned seen = 0; /* grow() zeroes seq before creating the thread */
    for (;;) {
        unsigned q = 0;
        for (int i = 0, n = __atomic_load_n(&spin, __ATOMIC_RELAXED); i < n; i++) {
            q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
            if (q != seen || __atomic_load_n(&stop, __ATOMIC_RELAXED)) break;
            cpu_relax();
        }
        if (q == seen) {
            pthread_mutex_lock(&lock);
            __atomic_add_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
            while ((q = __atomic_load_n(&s->seq, __ATOMIC_SEQ_CST)) == seen &&
                   !__atomic_load_n(&stop, __ATOMIC_SEQ_CST))
                pthread_cond_wait(&wake, &lock);
            __atomic_sub_fetch(&sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&lock);
            q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        }
        if (q == seen) return NULL; /* stop */
        seen = q;
        /* the job is the worker's unless the caller, done with its own range first, took it */
        unsigned prev = q - 1;
        if (!__atomic_compare_exchange_n(&s->claim, &prev, q, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            continue;
        s->fn(s->ctx, s->i0, s->i1, s->t);
        /* done, then the caller's flag, both sequentially consistent: either this worker sees
         * the caller waiting and wakes it (under the lock, so not before it sleeps), or the
         * caller, setting the flag later, sees done */
        __atomic_store_n(&s->done, q, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&waiting, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&finished);
            pthread_mutex_unlock(&lock);
        }
    }
}

__attribute__((destructor)) static void pool_shutdown(void) {
    if (owner != getpid() || !nworkers) return;
    /* a region in flight on another thread at exit: leave the workers to die with the process
     * rather than wait for it */
    if (pthread_mutex_trylock(&busy) != 0) return;
    pthread_mutex_lock(&lock);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    for (int i = 1; i <= nworkers; i++) pthread_join(tid[i], NULL);
    nworkers = 0;
    __atomic_store_n(&stop, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&busy);
}

int oc_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > OC_MAX_THREADS ? OC_MAX_THREADS : (int)n;
}

/* spin = the polls in SPIN_NS: the best of three timings of 2000 pauses (about 20-300 us) */
static void spin_calibrate(void) {
    double best = 0;
    for (int r = 0; r < 3; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 2000; i++) cpu_relax();
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
                    2000;
        if (ns > 0 && (best == 0 || ns < best)) best = ns;
    }
    double n = best > 0 ? SPIN_NS / best : 4000;
    __atomic_store_n(&spin, n < 1000 ? 1000 : n > 1e7 ? 10000000 : (int)n, __ATOMIC_RELAXED);
}

/* Workers 1 .. want-1 exist (or as many as could be created); called holding `busy`. */
static void grow(int want) {
    if (owner != getpid()) { /* first use, or a forked child: the parent's workers are gone */
        spin_calibrate();
        owner = getpid();
        nworkers = 0;
        sleepers = 0;
        waiting = 0;
        pthread_mutex_init(&lock, NULL);
        pthread_cond_init(&wake, NULL);
        pthread_cond_init(&finished, NULL);
    }
    while (nworkers + 1 < want) {
        int i = nworkers + 1;
        slots[i].seq = slots[i].claim = slots[i].done = 0;
        if (pthread_create(&tid[i], NULL, worker, &slots[i]) != 0) break;
        nworkers = i;
    }
}

void oc_parallel(int nth, size_t n, oc_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
    if (nth < 1 || (size_t)nth > n) nth = nth < 1 ? 1 : (int)n;
    /* range t = [t*n/nth, (t+1)*n/nth): as even as integer division allows */
#define LO(t) (n * (size_t)(t) / (size_t)nth)
    if (nth == 1 || pthread_mutex_trylock(&busy) != 0) {
        for (int t = 0; t < nth; t++) fn(ctx, LO(t), LO(t + 1), t);
        return;
    }
    grow(nth);
    int used = nth - 1 < nworkers ? nth - 1 : nworkers;
    for (int t = 1; t <= used; t++) {
        slot *s = &slots[t];
        s->fn = fn;
        s->ctx = ctx;
        s->i0 = LO(t);
        s->i1 = LO(t + 1);
        s->t = t;
        __atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
    }
    fn(ctx, LO(0), LO(1), 0);
    for (int t = used + 1; t < nth; t++) fn(ctx, LO(t), LO(t + 1), t); /* no worker for it */
    /* a range whose worker has not started yet (asleep: on a VM a sleeping vCPU can take a
     * millisecond to wake) is run here rather than waited for; the worker skips it */
    for (int t = 1; t <= used; t++) {
        unsigned want = slots[t].seq, prev = want - 1;
        if (__atomic_load_n(&slots[t].claim, __ATOMIC_RELAXED) == prev &&
            __atomic_compare_exchange_n(&slots[t].claim, &prev, want, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            fn(ctx, LO(t), LO(t + 1), t);
            __atomic_store_n(&slots[t].done, want, __ATOMIC_RELAXED);
        }
    }
    int spins = 0, most = __atomic_load_n(&spin, __ATOMIC_RELAXED);
    for (int t = 1; t <= used; t++) {
        unsigned want = slots[t].seq;
        while (__atomic_load_n(&slots[t].done, __ATOMIC_ACQUIRE) != want && spins < most) {
            cpu_relax();
            spins++;
        }
        if (__atomic_load_n(&slots[t].done, __ATOMIC_SEQ_CST) == want) continue;
        pthread_mutex_lock(&lock);
        __atomic_store_n(&waiting, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&slots[t].done, __ATOMIC_SEQ_CST) != want)
            pthread_cond_wait(&finished, &lock);
        __atomic_store_n(&waiting, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&lock);
    }
#undef LO
    pthread_mutex_unlock(&busy);
}

/* oc_parallel_chunks: one range per thread, each taking chunks from a shared counter. Guided:
 * a chunk is a 1/(2 nth) share of the items left, between `least` and `most` items (fewer only
 * where fewer are left), so the chunks are long at first (a GEMM's weight prefetch runs within
 * one) and short at the end, where a thread that takes the last long chunk would keep the
 * others waiting. */
typedef struct {
    size_t next; /* the first item not yet taken (atomic) */
    size_t n, most, least, share;
    oc_range_fn fn;
    void *ctx;
} chunks_ctx;

static void chunks_range(void *p, size_t i0, size_t i1, int t) {
    (void)i0;
    (void)i1;
    chunks_ctx *c = p;
    size_t a = __atomic_load_n(&c->next, __ATOMIC_RELAXED);
    while (a < c->n) {
        size_t take = (c->n - a) / c->share;
        take = take > c->most ? c->most : take < c->least ? c->least : take;
        if (take > c->n - a) take = c->n - a;
        if (!__atomic_compare_exchange_n(&c->next, &a, a + take, 1, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            continue; /* a is the counter's value now */
        c->fn(c->ctx, a, a + take, t);
        a = __atomic_load_n(&c->next, __ATOMIC_RELAXED);
    }
}

void oc_parallel_chunks(int nth, size_t n, size_t most, size_t least, oc_range_fn fn,
                        void *ctx) {
    if (n == 0) return;
    if (most == 0) most = 1;
    if (most > n) most = n;
    if (least == 0) least = 1;
    if (least > most) least = most;
    /* no more threads than chunks there can be: guided chunks are at least `least` long (not
     * `most`: with most = n there is still one chunk per thread and more) */
    size_t nchunks = (n + least - 1) / least;
    if (nth < 1) nth = 1;
    if ((size_t)nth > nchunks) nth = (int)nchunks;
    if (nth == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    chunks_ctx c = {0, n, most, least, 2 * (size_t)nth, fn, ctx};
    oc_parallel(nth, (size_t)nth, chunks_range, &c);
}

/* oc_parallel_owned: per share, its first and end item not yet taken in one atomic word (32 bits
 * each), so that the owner taking from the front and a thief taking from the back never both
 * take an item */
typedef struct {
    _Alignas(64) uint64_t fb;
} share;

typedef struct {
    share *sh;
    size_t unit;
    int nth;
    oc_range_fn fn;
    void *ctx;
} owned_ctx;

/* one chunk of share s, from its front (own) or back; 0 when it is empty */
static int take(share *s, size_t unit, int front, size_t *i0, size_t *i1) {
    uint64_t v = __atomic_load_n(&s->fb, __ATOMIC_RELAXED);
    for (;;) {
        size_t f = (size_t)(v >> 32), b = (size_t)(v & 0xffffffffu);
        if (f >= b) return 0;
        size_t n = b - f < unit ? b - f : unit;
        uint64_t nv = front ? (uint64_t)(f + n) << 32 | b : (uint64_t)f << 32 | (b - n);
        if (__atomic_compare_exchange_n(&s->fb, &v, nv, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            *i0 = front ? f : b - n;
            *i1 = front ? f + n : b;
            return 1;
        }
    }
}

static void owned_range(void *p, size_t i0, size_t i1, int t) {
    (void)i0, (void)i1;
    owned_ctx *c = p;
    size_t a, b;
    while (take(&c->sh[t], c->unit, 1, &a, &b)) c->fn(c->ctx, a, b, t);
    for (int k = 1; k < c->nth; k++) /* then the others', the next thread first */
        while (take(&c->sh[(t + k) % c->nth], c->unit, 0, &a, &b)) c->fn(c->ctx, a, b, t);
}

void oc_parallel_owned(int nth, size_t n, size_t unit, oc_range_fn fn, void *ctx) {
    if (n == 0) return;
    if (unit == 0) unit = 1;
    if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
    if (nth < 1 || (size_t)nth > n) nth = nth < 1 ? 1 : (int)n;
    if (nth == 1 || n > 0xffffffffu) { /* 32-bit item indices: beyond, the plain split */
        oc_parallel(nth, n, fn, ctx);
        return;
    }
    share sh[OC_MAX_THREADS];
    for (int t = 0; t < nth; t++) {
        uint64_t lo = n * (size_t)t / (size_t)nth, hi = n * (size_t)(t + 1) / (size_t)nth;
        sh[t].fb = lo << 32 | hi;
    }
    owned_ctx c = {sh, unit, nth, fn, ctx};
    oc_parallel(nth, (size_t)nth, owned_range, &c);
}
