/*
 * conv_int.h — inside conv.c: the direct ("depthwise") convolution's SIMD kernels, which conv.c
 * dispatches to on the path in use (oc_simd_get) and test_conv compares with the scalar loop.
 */
#ifndef OCLIP_CONV_INT_H
#define OCLIP_CONV_INT_H

#include "kernels/kernels.h"

/* The arguments of a direct convolution (cin / groups = 1, cout = groups * mult): output
 * positions [i0, i1) of y [N, Ho, Wo, cout], y[p, o] = act(bias[o] + sum over the taps in
 * (ky, kx) order of x[., o / mult] * w[tap, o] (+ res[p, o])). */
typedef struct {
    const oc_conv *cv;
    const float *x, *res;
    size_t H, W, Ho, Wo;
    float *y;
    int relu;
} oc_dw_args;

/* AVX2 + FMA (conv_avx2.c): the same sums with fused multiply-adds, 8 channels per vector.
 * Returns 0 (and does nothing) where the build has no x86 SIMD or mult is not 1 or 2; the
 * caller then runs the scalar loop. */
int oc_conv_dw_avx2(const oc_dw_args *a, size_t i0, size_t i1);

/* y = relu?(y + res?) over y[0, n) (res NULL: none), the scalar epilogue's operations, so its
 * bytes; only where oc_conv_avx2_built() (1 when this build has the x86 kernels). */
void oc_conv_epi_avx2(float *y, const float *res, size_t n, int relu);
int oc_conv_avx2_built(void);

#endif
