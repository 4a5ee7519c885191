/*
 * cpu.c — which kernel path runs: scalar (the reference, any CPU), AVX2+FMA+F16C, or AVX-512
 * (F, BW, VL, DQ + FMA + F16C). Detected with CPUID and, for the vector registers, XGETBV (the OS
 * must save the YMM / ZMM state, else the instructions fault). Chosen once per process:
 * OCLIP_SIMD=scalar|avx2|avx512 when set and supported here, else the best supported (an unknown
 * or unsupported value never fails, it falls back). oc_simd_set switches (tests).
 */
#define _DEFAULT_SOURCE /* syscall() */
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

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

/* bit 0: AVX2 path usable, bit 1: AVX-512 path usable, bit 2: AVX512-BF16, bit 3: AVX512-VNNI,
 * bit 4: AMX-BF16 usable (CPU, XCR0 tile state, the kernel's permission), bit 5: AMX-INT8 */
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0; /* XMM and YMM state */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1,
        vl = (b >> 31) & 1;
    int r = avx2 && fma && f16c ? 1 : 0;
    if (r && f && dq && bw && vl && (xcr0 & 0xe0) == 0xe0) { /* opmask, ZMM_Hi256, Hi16_ZMM */
        r |= 2;
        if ((c >> 11) & 1) r |= 8;
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        if ((a1 >> 5) & 1) r |= 4;
        int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
        if (amx_tile && (amx_bf16 || amx_int8) && (xcr0 & 0x60000) == 0x60000 &&
            oc_amx_compiled() && amx_permitted()) {
            if (amx_bf16 && (r & 4)) r |= 16;
            if (amx_int8) r |= 32;
        }
    }
    return r;
}
#else
static int detect(void) { return 0; }
#endif

static int features = -1; /* detect(), computed once (a benign race: same value) */
static int current = -1;  /* oc_simd */

static int feat(void) {
    int f = __atomic_load_n(&features, __ATOMIC_RELAXED);
    if (f < 0) {
        f = detect();
        __atomic_store_n(&features, f, __ATOMIC_RELAXED);
    }
    return f;
}

int oc_simd_supported(oc_simd s) {
    if (s == OC_SIMD_SCALAR) return 1;
    if (s == OC_SIMD_AVX2) return (feat() & 1) && oc_kernels_avx2() != NULL;
    if (s == OC_SIMD_AVX512) return (feat() & 2) && oc_kernels_avx512() != NULL;
    return 0;
}

int oc_cpu_has_avx512bf16(void) { return (feat() & 4) != 0 && oc_simd_supported(OC_SIMD_AVX512); }

static int amx_on = -1; /* OCLIP_AMX=0 turns AMX off; oc_amx_set switches (tests) */

static int amx_enabled(void) {
    int on = __atomic_load_n(&amx_on, __ATOMIC_RELAXED);
    if (on < 0) {
        const char *env = getenv("OCLIP_AMX");
        on = !(env && !strcmp(env, "0"));
        __atomic_store_n(&amx_on, on, __ATOMIC_RELAXED);
    }
    return on;
}

/* bit 4 implies AVX512-BF16; both kernels also use AVX-512, hence the avx512 path */
int oc_amx_bf16(void) { return amx_enabled() && (feat() & 16) && oc_simd_get() == OC_SIMD_AVX512; }
int oc_amx_int8(void) { return amx_enabled() && (feat() & 32) && oc_simd_get() == OC_SIMD_AVX512; }

int oc_amx_set(int on) {
    __atomic_store_n(&amx_on, on ? 1 : 0, __ATOMIC_RELAXED);
    return (feat() & 48) != 0;
}

int oc_cpu_has_avx512vnni(void) { return (feat() & 8) != 0 && oc_simd_supported(OC_SIMD_AVX512); }

const char *oc_simd_name(oc_simd s) {
    return s == OC_SIMD_AVX512 ? "avx512" : s == OC_SIMD_AVX2 ? "avx2" : "scalar";
}

oc_simd oc_simd_get(void) {
    int c = __atomic_load_n(&current, __ATOMIC_RELAXED);
    if (c >= 0) return (oc_simd)c;
    c = oc_simd_supported(OC_SIMD_AVX512) ? OC_SIMD_AVX512
        : oc_simd_supported(OC_SIMD_AVX2) ? OC_SIMD_AVX2 : OC_SIMD_SCALAR;
    const char *env = getenv("OCLIP_SIMD");
    for (int s = 0; env && s < OC_SIMD_COUNT; s++)
        if (!strcmp(env, oc_simd_name((oc_simd)s)) && oc_simd_supported((oc_simd)s)) c = s;
    __atomic_store_n(&current, c, __ATOMIC_RELAXED);
    return (oc_simd)c;
}

int oc_simd_set(oc_simd s) {
    if ((int)s < 0 || s >= OC_SIMD_COUNT || !oc_simd_supported(s)) return 0;
    __atomic_store_n(&current, (int)s, __ATOMIC_RELAXED);
    return 1;
}

const oc_kernels *oc_kernels_for(oc_simd s) {
    return s == OC_SIMD_AVX512 ? oc_kernels_avx512()
           : s == OC_SIMD_AVX2 ? oc_kernels_avx2() : &oc_kernels_scalar;
}

const char *oclip_simd_name(void) { return oc_simd_name(oc_simd_get()); }

const char *oclip_dtype_kernel_name(oclip_dtype dt) {
    switch (dt) {
    case OCLIP_DTYPE_I8: return oc_gemm_i8_kernel();
    case OCLIP_DTYPE_BF16: {
        const oc_kernels *k = oc_kernels_for(oc_simd_get());
        if (oc_simd_get() == OC_SIMD_SCALAR) return "as-stored";
        if (oc_amx_bf16()) return "amx-bf16";
        return oc_simd_get() == OC_SIMD_AVX512 && k && k->gemm_bf16 && oc_cpu_has_avx512bf16()
                   ? "avx512-bf16" : "widened";
    }
    case OCLIP_DTYPE_F16: return oc_simd_get() == OC_SIMD_SCALAR ? "as-stored" : "widened";
    default: return NULL;
    }
}
