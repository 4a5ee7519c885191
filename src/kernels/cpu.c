/*
 * cpu.c — the CPU features and the kernel dispatch table. Features: CPUID, and XGETBV for the
 * vector and tile state (the OS must save it, else the instructions fault); on AArch64 the
 * kernel's HWCAP bits (getauxval). Paths: scalar (the reference, any CPU), avx2 (AVX2 + FMA +
 * F16C) and avx512 (F, BW, VL, DQ + FMA + F16C), each with the BF16 and int8 GEMMs the CPU has
 * (AMX-BF16 / AMX-INT8, AVX512-BF16, AVX512-VNNI); neon on AArch64 (Advanced SIMD, which every
 * AArch64 CPU has), with the SDOT int8 GEMM where the CPU has the dot-product extension.
 *
 * Once per process (pthread_once, on the first call that needs it): the features are detected,
 * one table per (path, AMX allowed or not) is filled from the ISA files' kernels, OCLIP_SIMD
 * (scalar|avx2|avx512|neon) and OCLIP_AMX (0|1) are read, and the table in use is chosen: the path
 * OCLIP_SIMD names when this CPU, OS and build support it, else the best supported one; AMX
 * unless OCLIP_AMX=0. A value that cannot be honoured never fails: it is replaced as just said
 * and oc_simd_warning says so. Nothing changes afterwards, except through the tests' hooks
 * (oc_simd_set, oc_amx_set: another prebuilt table).
 */
#define _DEFAULT_SOURCE /* syscall() */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* AMX tiles need the kernel's permission for this process's tile data state (Linux 5.16+:
 * arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); without it the first tile instruction
 * faults. Asked once, from detect(). */
static int amx_permitted(void) {
#if defined(__linux__) && defined(__x86_64__) && defined(SYS_arch_prctl)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* CPUID bits (Intel SDM vol. 2A, CPUID) and XCR0 state components (vol. 1, 13.1) */
#define BIT(x, n) (((x) >> (n)) & 1u)
#define XCR0_YMM 0x6u        /* SSE, AVX */
#define XCR0_ZMM 0xe0u       /* opmask, ZMM_Hi256, Hi16_ZMM */
#define XCR0_TILE 0x60000u   /* XTILECFG, XTILEDATA */

static unsigned detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned fma = BIT(c, 12), osxsave = BIT(c, 27), avx = BIT(c, 28), f16c = BIT(c, 29);
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & XCR0_YMM) != XCR0_YMM) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned avx2 = BIT(b, 5), f = BIT(b, 16), dq = BIT(b, 17), bw = BIT(b, 30), vl = BIT(b, 31);
    unsigned vnni = BIT(c, 11), amx_bf16 = BIT(d, 22), amx_tile = BIT(d, 24), amx_int8 = BIT(d, 25);
    if (!(avx2 && fma && f16c)) return 0;
    unsigned r = OC_CPU_AVX2;
    if (!(f && dq && bw && vl && (xcr0 & XCR0_ZMM) == XCR0_ZMM)) return r;
    r |= OC_CPU_AVX512;
    if (vnni) r |= OC_CPU_AVX512VNNI;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    if (BIT(a1, 5)) r |= OC_CPU_AVX512BF16;
    if (amx_tile && (amx_bf16 || amx_int8) && (xcr0 & XCR0_TILE) == XCR0_TILE && oc_isa_amx() &&
        amx_permitted()) {
        if (amx_bf16 && (r & OC_CPU_AVX512BF16)) r |= OC_CPU_AMX_BF16;
        if (amx_int8) r |= OC_CPU_AMX_INT8;
    }
    return r;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20) /* Linux arch/arm64/include/uapi/asm/hwcap.h */
#endif
static unsigned detect(void) {
    unsigned r = OC_CPU_NEON; /* Advanced SIMD: part of the AArch64 base architecture */
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) r |= OC_CPU_NEON_DOT;
    return r;
}
#elif defined(__aarch64__)
static unsigned detect(void) { return OC_CPU_NEON; } /* no HWCAP to ask: no SDOT */
#else
static unsigned detect(void) { return 0; }
#endif

/* Filled by init() under `once`, read-only afterwards; `active` is stored last (release), so a
 * thread that loads it (acquire) sees everything else. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned features;
static oc_kernels tables[OC_SIMD_COUNT][2]; /* [path][AMX allowed] */
static char warning[240];
static const oc_kernels *active;

static const oc_isa *isa_of(oc_simd s) {
    return s == OC_SIMD_AVX512 ? oc_isa_avx512() : s == OC_SIMD_AVX2 ? oc_isa_avx2()
                                               : s == OC_SIMD_NEON   ? oc_isa_neon()
                                                                    : &oc_isa_scalar;
}

static int supported(oc_simd s) {
    if (s == OC_SIMD_SCALAR) return 1;
    unsigned need = s == OC_SIMD_AVX512 ? OC_CPU_AVX512
                    : s == OC_SIMD_NEON ? OC_CPU_NEON
                                        : OC_CPU_AVX2;
    return (features & need) && isa_of(s) != NULL;
}

/* The table of path s (supported here) with AMX allowed or not. */
static void fill(oc_kernels *k, oc_simd s, int amx) {
    const oc_isa *base = isa_of(s), *v512 = oc_isa_avx512(), *v2 = oc_isa_avx2(),
                 *tiles = oc_isa_amx(), *dot = oc_isa_neon_dot();
    int is512 = s == OC_SIMD_AVX512;
    k->path = s;
    k->amx = amx;
    k->pack_weights = s != OC_SIMD_SCALAR;
    k->gemm = base->gemm;
    k->gemm_row_bytes = base->gemm_row_bytes;
    k->pack_block = base->pack_block;
    k->gemm_rows = base->gemm_rows;
    k->quant_i8 = base->quant_i8;
    k->layernorm = base->layernorm;
    k->act = base->act;
    k->attention = base->attention;
    k->wino_in = base->wino_in;
    k->wino_out = base->wino_out;
    /* BF16 k pairs: AMX tiles, else AVX512-BF16 dot products; both also use AVX-512 */
    k->gemm_bf16 = NULL;
    k->bf16_name = s == OC_SIMD_SCALAR ? "as-stored" : "widened";
    if (is512 && amx && (features & OC_CPU_AMX_BF16)) {
        k->gemm_bf16 = tiles->gemm_bf16;
        k->bf16_name = "amx-bf16";
    } else if (is512 && (features & OC_CPU_AVX512BF16) && v512->gemm_bf16) {
        k->gemm_bf16 = v512->gemm_bf16;
        k->bf16_name = "avx512-bf16";
    }
    k->bf16_pairs = k->gemm_bf16 != NULL;
    k->f16_name = s == OC_SIMD_SCALAR ? "as-stored" : "widened";
    /* int8 panels: AMX tiles, else AVX512-VNNI, else the AVX2 kernel on either x86 SIMD path (an
     * AVX-512 CPU has AVX2); on the neon path SDOT where the CPU has it, else NEON's widening
     * multiplies; else the reference; the same bytes from each */
    if (is512 && amx && (features & OC_CPU_AMX_INT8)) {
        k->gemm_i8 = tiles->gemm_i8;
        k->i8_name = "amx-int8";
    } else if (is512 && (features & OC_CPU_AVX512VNNI) && v512->gemm_i8) {
        k->gemm_i8 = v512->gemm_i8;
        k->i8_name = "avx512-vnni";
    } else if (s == OC_SIMD_NEON && (features & OC_CPU_NEON_DOT) && dot && dot->gemm_i8) {
        k->gemm_i8 = dot->gemm_i8;
        k->i8_name = "neon-sdot";
    } else if (s == OC_SIMD_NEON) {
        k->gemm_i8 = base->gemm_i8;
        k->i8_name = "neon";
    } else if (s != OC_SIMD_SCALAR && v2 && v2->gemm_i8) {
        k->gemm_i8 = v2->gemm_i8;
        k->i8_name = "avx2";
    } else {
        k->gemm_i8 = oc_isa_scalar.gemm_i8;
        k->i8_name = "reference";
    }
}

/* appends one sentence to the warning, "; " between two */
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
    size_t w = strlen(warning);
    if (w && w + 2 < sizeof warning) memcpy(warning + w, "; ", 3), w += 2;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(warning + w, sizeof warning - w, fmt, ap);
    va_end(ap);
}

static void init(void) {
    features = detect();
    oc_simd best = OC_SIMD_SCALAR;
    for (int s = 0; s < OC_SIMD_COUNT; s++)
        if (supported((oc_simd)s)) {
            fill(&tables[s][0], (oc_simd)s, 0);
            fill(&tables[s][1], (oc_simd)s, 1);
            best = (oc_simd)s;
        }
    /* the overrides (an empty value is no value) */
    oc_simd use = best;
    const char *env = getenv("OCLIP_SIMD");
    if (env && env[0]) {
        int named = -1;
        for (int s = 0; s < OC_SIMD_COUNT; s++)
            if (!strcmp(env, oc_simd_name((oc_simd)s))) named = s;
        if (named < 0)
            warn("OCLIP_SIMD=%.40s is not a kernel path (scalar, avx2, avx512 or neon): using %s",
                 env, oc_simd_name(best));
        else if (!supported((oc_simd)named))
            warn("OCLIP_SIMD=%s: not supported by this %s: using %s", env,
                 isa_of((oc_simd)named) ? "CPU or OS" : "build", oc_simd_name(best));
        else
            use = (oc_simd)named;
    }
    int amx = 1;
    env = getenv("OCLIP_AMX");
    if (env && env[0]) {
        const char *why = !(features & (OC_CPU_AMX_BF16 | OC_CPU_AMX_INT8))
                              ? "this CPU, OS or build has no usable AMX"
                          : use != OC_SIMD_AVX512 ? "AMX runs on the avx512 path only" : NULL;
        if (!strcmp(env, "0"))
            amx = 0;
        else if (strcmp(env, "1") && why)
            warn("OCLIP_AMX=%.40s is neither 0 nor 1, and %s: not used", env, why);
        else if (strcmp(env, "1"))
            warn("OCLIP_AMX=%.40s is neither 0 nor 1: taken as 1", env);
        else if (why)
            warn("OCLIP_AMX=1: %s: not used", why);
    }
    __atomic_store_n(&active, &tables[use][amx], __ATOMIC_RELEASE);
}

static const oc_kernels *table(void) {
    const oc_kernels *k = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (k) return k;
    pthread_once(&once, init);
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

const oc_kernels *oc_kernels_get(void) { return table(); }

unsigned oc_cpu_features(void) {
    (void)table();
    return features;
}

oc_simd oc_simd_get(void) { return table()->path; }

int oc_simd_supported(oc_simd s) {
    (void)table();
    return (int)s >= 0 && s < OC_SIMD_COUNT && supported(s);
}

const char *oc_simd_name(oc_simd s) {
    return s == OC_SIMD_AVX512 ? "avx512" : s == OC_SIMD_AVX2 ? "avx2"
                                        : s == OC_SIMD_NEON   ? "neon"
                                                              : "scalar";
}

const char *oc_simd_warning(void) {
    (void)table();
    return warning[0] ? warning : NULL;
}

int oc_simd_set(oc_simd s) {
    const oc_kernels *k = table();
    if (!oc_simd_supported(s)) return 0;
    __atomic_store_n(&active, &tables[s][k->amx], __ATOMIC_RELEASE);
    return 1;
}

int oc_amx_set(int on) {
    const oc_kernels *k = table();
    __atomic_store_n(&active, &tables[k->path][on ? 1 : 0], __ATOMIC_RELEASE);
    return (features & (OC_CPU_AMX_BF16 | OC_CPU_AMX_INT8)) != 0;
}

const char *oclip_simd_name(void) { return oc_simd_name(table()->path); }
const char *oclip_simd_warning(void) { return oc_simd_warning(); }

const char *oclip_dtype_kernel_name(oclip_dtype dt) {
    const oc_kernels *k = table();
    switch (dt) {
    case OCLIP_DTYPE_I8: return k->i8_name;
    case OCLIP_DTYPE_BF16: return k->bf16_name;
    case OCLIP_DTYPE_F16: return k->f16_name;
    default: return NULL;
    }
}
