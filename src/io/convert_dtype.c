/*
 * convert_dtype.c — float dtype casts that give PyTorch's bytes (tensor.float() / .half() /
 * .bfloat16() / .double() on an x86 CPU), element by element, with integer arithmetic only so the
 * result does not depend on the FPU's rounding mode or flush-to-zero flags.
 *
 *   F32 -> F16   round to nearest, ties to even; overflow (|x| >= 65520) gives +-inf; results below
 *                2^-14 become subnormals (rounded the same way), below 2^-25 zero.
 *                NaN: sign | 0x7e00 | top 9 payload bits (what F16C's vcvtps2ph, used by torch's
 *                vectorised copy kernel, returns: the quiet bit set, the payload kept).
 *   F32 -> BF16  round to nearest, ties to even on the upper 16 bits; NaN -> 0xffff (torch's AVX2 /
 *                AVX-512 cvtfp32_bf16 writes that for every NaN, sign and payload dropped).
 *   F16/F64 -> BF16  the same rounding, but NaN -> 0x7fc0: torch converts these element-wise
 *                through c10::BFloat16, whose round_to_nearest_even returns the canonical NaN.
 *   F16 -> F32   exact; subnormals normalised; NaN keeps sign and payload, quiet bit set
 *                (vcvtph2ps).
 *   BF16 -> F32  exact: the bf16 bits are the high half of the f32 bits.
 *   F64 -> F32   C conversion (round to nearest even; cvtsd2ss on x86, as torch).
 *   F32 -> F64   exact.
 *   other pairs  through F32, which is exact for F16/BF16 sources; for F64 -> F16/BF16 this is the
 *                double -> float -> half path torch takes too (c10::Half is built from a float).
 */
#include <string.h>

#include "internal.h"

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t f32_to_f16(uint32_t x) {
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu)); /* NaN */
    if (x >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* inf, or rounds up past 65504 */
    if (x >= 0x38800000u) {                                   /* normal half: exponent -14..15 */
        uint32_t odd = (x >> 13) & 1u;
        x -= 112u << 23; /* rebias 127 -> 15 */
        return (uint16_t)(sign | ((x + 0xfffu + odd) >> 13));
    }
    /* subnormal half (or zero): value = m * 2^(e-150); a half subnormal unit is 2^-24 */
    uint32_t e = x >> 23;
    if (e < 102) return sign; /* below 2^-25 (half the smallest subnormal, tie goes to even 0) */
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) r++; /* may carry into the smallest normal */
    return (uint16_t)(sign | r);
}

static uint16_t f32_to_bf16(uint32_t x) {
    if ((x & 0x7fffffffu) > 0x7f800000u) return 0xffffu;
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static uint32_t f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0); /* inf / NaN */
    if (e == 0) {
        if (m == 0) return sign;
        e = 113; /* normalise the subnormal m * 2^-24 */
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        return sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    return sign | ((e + 112u) << 23) | (m << 13);
}

static bool is_float(oclip_dtype d) {
    return d == OCLIP_DTYPE_F32 || d == OCLIP_DTYPE_F16 || d == OCLIP_DTYPE_BF16 ||
           d == OCLIP_DTYPE_F64;
}

/* Element i of a float array as f32 bits (exact except for F64). */
static uint32_t load_f32(const uint8_t *p, oclip_dtype d, size_t i) {
    switch (d) {
    case OCLIP_DTYPE_F16: return f16_to_f32(oc_rd16(p + 2 * i));
    case OCLIP_DTYPE_BF16: return (uint32_t)oc_rd16(p + 2 * i) << 16;
    case OCLIP_DTYPE_F64: {
        uint64_t u = oc_rd64(p + 8 * i);
        double v;
        memcpy(&v, &u, 8);
        return f32_bits((float)v);
    }
    default: return oc_rd32(p + 4 * i);
    }
}

static void st16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void st32(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

oclip_status oclip_dtype_cast(void *dst, oclip_dtype to, const void *src, oclip_dtype from,
                              size_t n, oclip_error *err) {
    oc_err_clear(err);
    if (!is_float(from) || !is_float(to))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "cannot cast %s to %s (float types only: F32, "
                          "F16, BF16, F64)", oclip_dtype_name(from), oclip_dtype_name(to));
    if (n && (!dst || !src)) return oc_err_set(err, OCLIP_E_ARG, "oclip_dtype_cast: NULL buffer");
    const uint8_t *s = src;
    uint8_t *d = dst;
    if (from == to) {
        if (n) memmove(d, s, n * oclip_dtype_size(from));
        return OCLIP_OK;
    }
    for (size_t i = 0; i < n; i++) {
        if (to == OCLIP_DTYPE_F64) { /* exact from every narrower float */
            double v = (double)bits_f32(load_f32(s, from, i));
            uint64_t u;
            memcpy(&u, &v, 8);
            st32(d + 8 * i, (uint32_t)u);
            st32(d + 8 * i + 4, (uint32_t)(u >> 32));
            continue;
        }
        uint32_t x = load_f32(s, from, i);
        switch (to) {
        case OCLIP_DTYPE_F16: st16(d + 2 * i, f32_to_f16(x)); break;
        case OCLIP_DTYPE_BF16:
            st16(d + 2 * i, from != OCLIP_DTYPE_F32 && (x & 0x7fffffffu) > 0x7f800000u
                                ? 0x7fc0u
                                : f32_to_bf16(x));
            break;
        default: st32(d + 4 * i, x); break;
        }
    }
    return OCLIP_OK;
}
