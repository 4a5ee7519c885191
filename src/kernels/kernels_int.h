/*
 * kernels_int.h — inside the kernel layer: what each ISA file provides (kernels_scalar.c,
 * kernels_avx2.c, kernels_avx512.c, kernels_amx.c, kernels_neon.c), from which cpu.c fills the
 * dispatch table (kernels.h), the helpers they share (kernels.c), and the hooks the tests use to
 * run every path and compare the ISAs kernel by kernel (test_kernels, test_engine). The engine
 * does not include this file.
 */
#ifndef OCLIP_KERNELS_INT_H
#define OCLIP_KERNELS_INT_H

#include <string.h>

#include "kernels/kernels.h"

/* The kernels of one ISA file. An entry is NULL where the file does not have that kernel (or
 * the build could not compile it); each states what the CPU must have to call it. */
typedef struct {
    oc_gemm_fn gemm;            /* any CPU of the file's path */
    oc_gemm_rows_fn gemm_rows;  /* gemm over implicit rows (oc_gemm_rows) */
    oc_gemm_fn gemm_bf16;       /* avx512: OC_CPU_AVX512BF16; amx: OC_CPU_AMX_BF16 */
    oc_gemm_i8_fn gemm_i8;      /* avx512: OC_CPU_AVX512VNNI; amx: OC_CPU_AMX_INT8;
                                 * neon_dot: OC_CPU_NEON_DOT */
    oc_quant_i8_fn quant_i8;
    oc_layernorm_fn layernorm;
    oc_act_fn act;
    oc_attention_fn attention;
    void (*erf)(float *y, const float *x, size_t n); /* the vector erf and exp (tests: vs libm) */
    void (*exp)(float *y, const float *x, size_t n);
    size_t gemm_row_bytes; /* the fp32 GEMM's X bytes per row block at large M (kernels.c) */
    oc_pack_fn pack_block; /* weights as stored -> packed fp32 blocks */
    oc_wino_in_fn wino_in; /* Winograd F(2x2, 3x3) transforms */
    oc_wino_out_fn wino_out;
} oc_isa;

extern const oc_isa oc_isa_scalar; /* the reference: every entry */
const oc_isa *oc_isa_avx2(void);   /* NULL on a build without x86 SIMD */
const oc_isa *oc_isa_avx512(void);
const oc_isa *oc_isa_amx(void);    /* gemm_bf16 and gemm_i8 only; NULL where not compiled */
const oc_isa *oc_isa_neon(void);   /* NULL on a build not for AArch64 */
const oc_isa *oc_isa_neon_dot(void); /* gemm_i8 only (SDOT); NULL where not compiled */

/* Test hooks: point the engine at the prebuilt table of path s (0, and no change, when s is not
 * supported here), or of AMX allowed / not on the current path (returns whether this CPU has
 * usable AMX at all). Not thread-safe against running operations; the tests call them between
 * operations. */
int oc_simd_set(oc_simd s);
int oc_amx_set(int on);

/* The fp32 [kb, OC_PANEL] block of panel p at depth k0 packed from the weights as stored (the
 * SIMD GEMMs' operand for weights without a packed copy; kernels.c). */
void oc_pack_block(const oc_weight *W, size_t p, size_t k0, size_t kb, float *buf);
/* oc_attention's scratch per thread, in floats (kernels.c) */
size_t oc_attention_scratch(size_t T, size_t hd);

/* Shared by the int8 row quantizers (kernels_scalar.c, kernels_simd.h): 127 / amax, the
 * multiplier, 0 for amax = 0 and at most FLT_MAX (an amax below 127 / FLT_MAX would make it
 * infinite, and 0 * inf a NaN); and the row of a NaN or an infinity (q = 0, NaN scale). */
static inline float oc_quant_inv(float amax) {
    float inv = amax == 0.0f ? 0.0f : 127.0f / amax;
    return inv <= 3.4028234663852886e38f ? inv : 3.4028234663852886e38f;
}
static inline void oc_quant_bad_row(uint8_t *q, size_t Kq, float *sx) {
    float s = __builtin_nanf("");
    memset(q, 128, Kq);
    memcpy(sx, &s, sizeof s);
}
static inline void oc_quant_finish(uint8_t *q, size_t K, size_t Kq, float amax, float *sx) {
    for (size_t k = K; k < Kq; k++) q[k] = 128;
    float s = amax / 127.0f;
    memcpy(sx, &s, sizeof s);
}

#endif
