/*
 * peak — the machine's fp32 FMA peak, measured (bench/engine.py uses it as the 100% mark).
 *
 *   peak [--seconds S]
 *
 * Each thread runs independent FMA chains (acc = acc * a + b), all held in vector registers, so
 * neither memory nor FMA latency limits it: at least latency x FMA pipes chains are needed (4 x 2
 * = 8 on Zen 3, Skylake-X and Ice Lake), and all chains plus the two constants must fit in the
 * register file, else the compiler spills chains to the stack and each round waits on a store
 * and a reload (16 chains + 2 constants in AVX2's 16 ymm registers did exactly that, and the
 * "peak" came out at 75% of the real one: below what oc_gemm measured). AVX-512: 16 chains (of
 * 32 zmm); AVX2: 12 chains (of 16 ymm). One thread per online core, each pinned to its own core.
 * Reported per ISA (AVX-512: 16 lanes, AVX2+FMA: 8 lanes) for 1 thread and for all cores: the
 * best of 3 runs of S seconds (default 0.3), in GFLOP/s (one FMA = 2 FLOP), with the FMAs per
 * cycle this implies at the clock measured alongside ("ghz": a chain of dependent integer
 * additions, one per cycle on every x86-64 core since the Pentium 4, timed on the same pinned
 * thread; a turbo clock under vector load may differ, so it is noted, not used). ISAs the CPU
 * lacks are skipped; on other architectures nothing is measured. JSON on stdout.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PEAK_X86 1
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define CHAINS_512 16 /* of 32 zmm registers, plus the two constants */
#define CHAINS_256 12 /* of 16 ymm registers, plus the two constants */
#define BLOCK 4096 /* FMA rounds between clock reads */

#ifdef PEAK_X86
/* Returns FLOPs done; runs until `seconds` have passed. sink keeps the result observable. */
__attribute__((target("avx512f"))) static double fma_avx512(double seconds, float *sink) {
    __m512 acc[CHAINS_512];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < CHAINS_512; j++)
        acc[j] = _mm512_set1_ps((float)j);
    double t0 = now(), rounds = 0;
    do {
        for (int i = 0; i < BLOCK; i++) {
#pragma GCC unroll 16
            for (int j = 0; j < CHAINS_512; j++)
                acc[j] = _mm512_fmadd_ps(acc[j], a, b);
        }
        rounds += BLOCK;
    } while (now() - t0 < seconds);
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS_512; j++)
        s = _mm512_add_ps(s, acc[j]);
    *sink = _mm512_reduce_add_ps(s);
    return rounds * CHAINS_512 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(double seconds, float *sink) {
    __m256 acc[CHAINS_256];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < CHAINS_256; j++)
        acc[j] = _mm256_set1_ps((float)j);
    double t0 = now(), rounds = 0;
    do {
        for (int i = 0; i < BLOCK; i++) {
#pragma GCC unroll 12
            for (int j = 0; j < CHAINS_256; j++)
                acc[j] = _mm256_fmadd_ps(acc[j], a, b);
        }
        rounds += BLOCK;
    } while (now() - t0 < seconds);
    __m256 s = acc[0];
    for (int j = 1; j < CHAINS_256; j++)
        s = _mm256_add_ps(s, acc[j]);
    float v[8];
    _mm256_storeu_ps(v, s);
    *sink = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return rounds * CHAINS_256 * 8 * 2;
}

/* The core clock in GHz: 2^26 dependent 64-bit additions (one per cycle) per timing, best of 5,
 * on the calling (pinned) thread. Register operands: Intel's Golden Cove cores (Sapphire
 * Rapids) fold chains of `add $imm` at rename, which read as a 20 GHz clock. */
static double clock_ghz(void) {
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t x = 0, one = 1, n = (uint64_t)1 << 26;
        double t0 = now();
        for (uint64_t i = 0; i < n; i += 8)
            __asm__ volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                             "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                             : "+r"(x)
                             : "r"(one));
        double g = (double)n / (now() - t0) * 1e-9;
        best = g > best ? g : best;
    }
    return best;
}
#endif

typedef double (*fma_fn)(double, float *);

typedef struct {
    fma_fn fn;
    double seconds;
    int cpu;
    double flops, elapsed;
    float sink;
    pthread_barrier_t *start;
} job;

static void *worker(void *arg) {
    job *j = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(j->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    pthread_barrier_wait(j->start);
    double t0 = now();
    j->flops = j->fn(j->seconds, &j->sink);
    j->elapsed = now() - t0;
    return NULL;
}

/* GFLOP/s of nth threads together (total FLOPs over the longest thread's time), best of 3. */
static double measure(fma_fn fn, int nth, const int *cpus, double seconds) {
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        job *jobs = calloc((size_t)nth, sizeof *jobs);
        pthread_t *th = calloc((size_t)nth, sizeof *th);
        pthread_barrier_t bar;
        if (!jobs || !th || pthread_barrier_init(&bar, NULL, (unsigned)nth) != 0) {
            fprintf(stderr, "peak: out of memory\n");
            exit(1);
        }
        int started = 0;
        for (int i = 0; i < nth; i++) {
            jobs[i] = (job){fn, seconds, cpus[i], 0, 0, 0, &bar};
            if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0) {
                fprintf(stderr, "peak: cannot create thread %d\n", i);
                exit(1);
            }
            started++;
        }
        double flops = 0, t = 0;
        for (int i = 0; i < started; i++) {
            pthread_join(th[i], NULL);
            flops += jobs[i].flops;
            t = jobs[i].elapsed > t ? jobs[i].elapsed : t;
        }
        pthread_barrier_destroy(&bar);
        double g = flops / t * 1e-9;
        best = g > best ? g : best;
        free(jobs);
        free(th);
    }
    return best;
}

int main(int argc, char **argv) {
    double seconds = 0.3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: peak [--seconds S]\n");
            return 2;
        }
    }
    if (!(seconds > 0 && seconds < 60)) {
        fprintf(stderr, "peak: --seconds must be in (0, 60)\n");
        return 2;
    }
    /* the CPUs this process may run on: one thread per core */
    cpu_set_t set;
    int cpus[CPU_SETSIZE], n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    }
    if (n == 0) {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        n = k > 0 && k < CPU_SETSIZE ? (int)k : 1;
        for (int c = 0; c < n; c++)
            cpus[c] = c;
    }
    printf("{\"cores\": %d, \"seconds\": %g", n, seconds);
#ifdef PEAK_X86
    __builtin_cpu_init();
    struct {
        const char *name;
        fma_fn fn;
        int ok;
    } isa[] = {
        {"avx512", fma_avx512, __builtin_cpu_supports("avx512f")},
        {"avx2", fma_avx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
    };
    {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[0], &one);
        pthread_setaffinity_np(pthread_self(), sizeof one, &one); /* best effort */
    }
    double ghz = clock_ghz();
    printf(", \"ghz\": %.3f", ghz);
    for (size_t i = 0; i < sizeof isa / sizeof *isa; i++) {
        if (!isa[i].ok) {
            printf(", \"%s\": null", isa[i].name);
            continue;
        }
        double one = measure(isa[i].fn, 1, cpus, seconds);
        double all = measure(isa[i].fn, n, cpus, seconds);
        int lanes = i == 0 ? 16 : 8;
        printf(", \"%s\": {\"gflops_1\": %.2f, \"gflops_all\": %.2f, \"fma_per_cycle_1\": %.2f}",
               isa[i].name, one, all, one / (2.0 * lanes * ghz));
    }
#else
    printf(", \"note\": \"no FMA micro-benchmark for this architecture\"");
#endif
    printf("}\n");
    return 0;
}
