/*
 * kernels_amx.c — the BF16 and int8 GEMMs on Intel AMX (AMX-TILE, AMX-BF16, AMX-INT8: Sapphire
 * Rapids and later): weights cast to BF16 in k pairs (oc_weight.pairs, the layout the
 * AVX512-BF16 kernel reads), and int8 panels (oc_gemm_i8). Compiled through a target pragma
 * like the other kernel files; cpu.c puts them in the dispatch table only where CPUID and XCR0
 * report AMX and the kernel granted this process the tile data state (Linux arch_prctl
 * ARCH_REQ_XCOMP_PERM), on the avx512 path, unless OCLIP_AMX=0.
 *
 * Tiles (8 of 16 rows x 64 bytes): C0..C3 the fp32 accumulators of a 32 x 32 block of Y (rows
 * 0-15 / 16-31, columns 0-15 / 16-31 of a panel), A0, A1 the block's rows of X rounded to BF16
 * (nearest even; 16 rows x 32 k), B0, B1 the panel's two halves (16 k pairs x 16 columns x 2:
 * in the packed panel one pair row is 64 values, so a half is 64 bytes at a 128-byte stride).
 * TDPBF16PS adds the 16 pair products of a k tile into each accumulator. Rows are taken 64 at a
 * time and depth 256 at a time (X of those rows and depths rounded into a 32 KiB stack buffer,
 * zero past M and K); for each panel, each 32-row block's accumulators are loaded from Y (zero
 * at the first depth block), run over the depth block's 8 k tiles in order and stored back
 * (float: the same value), + bias after the last. So each output element is one chain over the
 * k tiles in order, then + bias: the bytes do not depend on M, the blocks or the thread split.
 * Past the last k pair the tile is read from a zero-padded copy; rows past M compute on zeros
 * and are not stored.
 */
#include <stdint.h>
#include <string.h>

#include "kernels/kernels_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&                         \
    (defined(__clang__) || __GNUC__ >= 11)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")
#endif

#define SB 64         /* rows per super-block (two 32-row blocks) */
#define KC OC_GEMM_KB /* depth per block (k values; tiles of 32) */
_Static_assert(KC % 32 == 0, "whole BF16 k tiles per depth block");
#define PF_AHEAD 2 /* k tiles */

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

static inline __mmask16 mk16(size_t n) {
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* rows [0, mr) of X (row stride K), depth [k0, k0 + KC) rounded to BF16 into a[SB][KC]; zero
 * past K and for rows mr .. SB - 1 */
static void round_rows(const float *X, size_t K, size_t mr, size_t k0, uint16_t *a) {
    size_t end = K - k0 < KC ? K - k0 : KC;
    for (size_t r = 0; r < SB; r++) {
        uint16_t *d = a + r * KC;
        size_t k = 0;
        if (r < mr) {
            const float *xr = X + r * K + k0;
            for (; k + 16 <= end; k += 16)
                _mm256_storeu_si256((__m256i *)(void *)(d + k),
                                    (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xr + k)));
            if (k < end) {
                _mm256_storeu_si256((__m256i *)(void *)(d + k),
                                    (__m256i)_mm512_cvtneps_pbh(
                                        _mm512_maskz_loadu_ps(mk16(end - k), xr + k)));
                k += 16; /* the masked tail wrote zeros up to 16 values on */
            }
        }
        if (k < KC) memset(d + k, 0, (KC - k) * sizeof *d);
    }
}

/* Y block rows [0, mr) x columns [0, nb) <-> the four accumulator tiles, through `t` [4][16][16]
 * (full 32 x 32 blocks go straight to Y) */
static void load_acc(const float *y, size_t ldy, size_t mr, size_t nb, float *t) {
    if (mr >= 32 && nb >= 32) {
        _tile_loadd(0, y, ldy * 4);
        _tile_loadd(1, y + 16, ldy * 4);
        _tile_loadd(2, y + 16 * ldy, ldy * 4);
        _tile_loadd(3, y + 16 * ldy + 16, ldy * 4);
        return;
    }
    for (size_t r = 0; r < 32; r++)
        for (size_t h = 0; h < 2; h++) {
            float *d = t + ((r / 16) * 2 + h) * 256 + (r % 16) * 16;
            size_t c = nb > h * 16 ? nb - h * 16 : 0;
            _mm512_storeu_ps(d, r < mr ? _mm512_maskz_loadu_ps(mk16(c), y + r * ldy + h * 16)
                                       : _mm512_setzero_ps());
        }
    _tile_loadd(0, t, 64);
    _tile_loadd(1, t + 256, 64);
    _tile_loadd(2, t + 512, 64);
    _tile_loadd(3, t + 768, 64);
}

static void store_acc(float *y, size_t ldy, size_t mr, size_t nb, const float *bias, float *t) {
    if (mr >= 32 && nb >= 32 && !bias) {
        _tile_stored(0, y, ldy * 4);
        _tile_stored(1, y + 16, ldy * 4);
        _tile_stored(2, y + 16 * ldy, ldy * 4);
        _tile_stored(3, y + 16 * ldy + 16, ldy * 4);
        return;
    }
    _tile_stored(0, t, 64);
    _tile_stored(1, t + 256, 64);
    _tile_stored(2, t + 512, 64);
    _tile_stored(3, t + 768, 64);
    for (size_t r = 0; r < mr && r < 32; r++)
        for (size_t h = 0; h < 2; h++) {
            size_t c = nb > h * 16 ? nb - h * 16 : 0;
            if (!c) break;
            __m512 v = _mm512_loadu_ps(t + ((r / 16) * 2 + h) * 256 + (r % 16) * 16);
            if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk16(c), bias + h * 16));
            _mm512_mask_storeu_ps(y + r * ldy + h * 16, mk16(c), v);
        }
}

static void amx_gemm_bf16(const float *X, size_t M, const oc_weight *W, const float *bias,
                          float *Y, size_t p0, size_t p1) {
    size_t N = W->n, K = W->k, K2 = (K + 1) / 2;
    amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
    _Alignas(64) uint16_t a[SB * KC];
    _Alignas(64) uint16_t btail[16 * 2 * OC_PANEL];
    _Alignas(64) float t[4 * 256];
    _tile_loadconfig(&cfg);
    for (size_t m0 = 0; m0 < M; m0 += SB) {
        size_t ms = M - m0 < SB ? M - m0 : SB;
        for (size_t k0 = 0; k0 < K; k0 += KC) {
            round_rows(X + m0 * K, K, ms, k0, a);
            size_t kp0 = k0 / 2, kp = K2 - kp0 < KC / 2 ? K2 - kp0 : KC / 2; /* pairs here */
            int last = k0 + KC >= K;
            for (size_t p = p0; p < p1; p++) {
                size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
                const uint16_t *wp = (const uint16_t *)W->packed + (p * K2 + kp0) * 2 * OC_PANEL;
                for (size_t rb = 0; rb < ms; rb += 32) {
                    size_t mr = ms - rb < 32 ? ms - rb : 32;
                    float *y = Y + (m0 + rb) * N + n0;
                    if (k0 == 0) {
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                    } else {
                        load_acc(y, N, mr, nb, t);
                    }
                    const uint16_t *ar = a + rb * KC;
                    size_t nkt = (kp + 15) / 16;
                    for (size_t kt = 0; kt < nkt; kt++) {
                        const uint16_t *b = wp + kt * 16 * 2 * OC_PANEL;
                        size_t np = kp - kt * 16 < 16 ? kp - kt * 16 : 16;
                        /* the weights stream from memory: the k tile PF_AHEAD on in this
                         * loop's order (this panel, then the next one's block) into L1 */
                        if (rb == 0) {
                            const uint16_t *f = NULL;
                            if (kt + PF_AHEAD < nkt && (kt + PF_AHEAD + 1) * 16 <= kp)
                                f = b + PF_AHEAD * 16 * 2 * OC_PANEL;
                            else if (p + 1 < p1 && kt + PF_AHEAD - nkt < nkt)
                                f = wp + (K2 + (kt + PF_AHEAD - nkt) * 16) * 2 * OC_PANEL;
                            for (size_t l = 0; f && l < 16 * 2 * OC_PANEL; l += 32)
                                _mm_prefetch((const char *)(f + l), _MM_HINT_T0);
                        }
                        if (np < 16) { /* the last pairs: a zero-padded copy, never past K2 */
                            memcpy(btail, b, np * 2 * OC_PANEL * sizeof *b);
                            memset(btail + np * 2 * OC_PANEL, 0,
                                   (16 - np) * 2 * OC_PANEL * sizeof *b);
                            b = btail;
                        }
                        _tile_loadd(4, ar + kt * 32, KC * 2);
                        _tile_loadd(6, b, 4 * OC_PANEL);
                        _tile_loadd(7, b + 32, 4 * OC_PANEL);
                        _tile_dpbf16ps(0, 4, 6);
                        _tile_dpbf16ps(1, 4, 7);
                        if (mr > 16) {
                            _tile_loadd(5, ar + 16 * KC + kt * 32, KC * 2);
                            _tile_dpbf16ps(2, 5, 6);
                            _tile_dpbf16ps(3, 5, 7);
                        }
                    }
                    store_acc(y, N, mr, nb, last && bias ? bias + n0 : NULL, t);
                }
            }
        }
    }
    _tile_release();
}

/* =============================================================================================
 * Int8 (AMX-INT8): the panels of oc_gemm_i8 (activation rows of Kq bytes qx + 128, int8 weights
 * in k quads: a panel half is 64 bytes of each 128-byte quad row, an AMX B tile as it is).
 * TDPBUSD adds the 16 quad products of a 64-k tile into each int32 accumulator; the sums are
 * exact, so the order of the tiles changes nothing: C0..C3 hold a 32-row x 32-column block
 * over the whole depth, then the epilogue of the AVX512-VNNI kernel runs on them, operation
 * for operation: the same bytes as the reference (kernels_scalar.c). A block of fewer than 32 rows gets tiles of
 * that many rows (the tile configuration is reloaded, which zeroes every tile, before the
 * block); the depth past the last whole 64-k tile is read from zero-padded copies.
 */
static void config_i8(amx_config *cfg, size_t mr) {
    memset(cfg, 0, sizeof *cfg);
    cfg->palette = 1;
    uint8_t r0 = (uint8_t)(mr < 16 ? mr : 16), r1 = (uint8_t)(mr > 16 ? mr - 16 : 1);
    for (int i = 0; i < 8; i++) cfg->colsb[i] = 64;
    cfg->rows[0] = cfg->rows[1] = cfg->rows[4] = r0; /* C0, C1, A0 */
    cfg->rows[2] = cfg->rows[3] = cfg->rows[5] = r1; /* C2, C3, A1 */
    cfg->rows[6] = cfg->rows[7] = 16;                /* B0, B1 */
}

static void amx_gemm_i8(const uint8_t *xq, const float *xs, size_t M, const oc_weight *W,
                        const float *bias, float *Y, size_t p0, size_t p1) {
    size_t N = W->n, Kq = (W->k + 3) & ~(size_t)3, full = Kq / 64, tail = Kq % 64;
    _Alignas(64) uint8_t atail[32 * 64];
    _Alignas(64) int8_t btail[16 * 4 * OC_PANEL];
    _Alignas(64) int32_t t[4 * 256];
    amx_config cfg;
    size_t cfg_rows = 0;
    for (size_t p = p0; p < p1; p++) {
        size_t n0 = p * OC_PANEL, nb = N - n0 < OC_PANEL ? N - n0 : OC_PANEL;
        const int8_t *wp = (const int8_t *)W->packed + p * OC_PANEL * Kq;
        if (tail) { /* the last quads of this panel, zero-padded to a whole tile */
            memcpy(btail, wp + full * 64 * OC_PANEL, tail / 4 * 4 * OC_PANEL);
            memset(btail + tail / 4 * 4 * OC_PANEL, 0, (16 - tail / 4) * 4 * OC_PANEL);
        }
        for (size_t m0 = 0; m0 < M; m0 += 32) {
            size_t mr = M - m0 < 32 ? M - m0 : 32;
            if (mr != cfg_rows) {
                config_i8(&cfg, mr);
                _tile_loadconfig(&cfg);
                cfg_rows = mr;
            }
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const uint8_t *x = xq + m0 * Kq;
            for (size_t kt = 0; kt < full; kt++) {
                const int8_t *b = wp + kt * 64 * OC_PANEL;
                /* the weights stream from memory: the k tile PF_AHEAD on (this panel, then the
                 * next one, which follows it in memory) into L1, while the first block runs */
                if (m0 == 0 && (kt + PF_AHEAD < full || p + 1 < p1))
                    for (size_t l = 0; l < 64 * OC_PANEL; l += 64)
                        _mm_prefetch((const char *)(b + PF_AHEAD * 64 * OC_PANEL + l),
                                     _MM_HINT_T0);
                _tile_loadd(4, x + kt * 64, Kq);
                _tile_loadd(6, b, 4 * OC_PANEL);
                _tile_loadd(7, b + 64, 4 * OC_PANEL);
                _tile_dpbusd(0, 4, 6);
                _tile_dpbusd(1, 4, 7);
                if (mr > 16) {
                    _tile_loadd(5, x + 16 * Kq + kt * 64, Kq);
                    _tile_dpbusd(2, 5, 6);
                    _tile_dpbusd(3, 5, 7);
                }
            }
            if (tail) {
                for (size_t r = 0; r < mr; r++) {
                    memcpy(atail + r * 64, x + r * Kq + full * 64, tail);
                    memset(atail + r * 64 + tail, 0, 64 - tail);
                }
                _tile_loadd(4, atail, 64);
                _tile_loadd(6, btail, 4 * OC_PANEL);
                _tile_loadd(7, btail + 64, 4 * OC_PANEL);
                _tile_dpbusd(0, 4, 6);
                _tile_dpbusd(1, 4, 7);
                if (mr > 16) {
                    _tile_loadd(5, atail + 16 * 64, 64);
                    _tile_dpbusd(2, 5, 6);
                    _tile_dpbusd(3, 5, 7);
                }
            }
            _tile_stored(0, t, 64);
            _tile_stored(1, t + 256, 64);
            if (mr > 16) {
                _tile_stored(2, t + 512, 64);
                _tile_stored(3, t + 768, 64);
            }
            /* the AVX512-VNNI kernel's epilogue */
            __mmask16 m0m = mk16(nb), m1m = mk16(nb > 16 ? nb - 16 : 0);
            const float *ws = W->qscale + n0;
            const int32_t *qs = W->qsum + n0;
            __m512 s0 = _mm512_maskz_loadu_ps(m0m, ws), s1 = _mm512_maskz_loadu_ps(m1m, ws + 16);
            __m512i c0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0m, qs), 7);
            __m512i c1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1m, qs + 16), 7);
            __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0m, bias + n0) : _mm512_setzero_ps();
            __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1m, bias + n0 + 16) : _mm512_setzero_ps();
            for (size_t r = 0; r < mr; r++) {
                const int32_t *tr = t + (r / 16) * 512 + (r % 16) * 16;
                float sx;
                memcpy(&sx, xs + m0 + r, sizeof sx);
                __m512 sv = _mm512_set1_ps(sx);
                __m512 y0 = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(tr), c0)),
                    _mm512_mul_ps(s0, sv));
                __m512 y1 = _mm512_mul_ps(
                    _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(tr + 256), c1)),
                    _mm512_mul_ps(s1, sv));
                if (bias) {
                    y0 = _mm512_add_ps(y0, b0);
                    y1 = _mm512_add_ps(y1, b1);
                }
                _mm512_mask_storeu_ps(Y + (m0 + r) * N + n0, m0m, y0);
                _mm512_mask_storeu_ps(Y + (m0 + r) * N + n0 + 16, m1m, y1);
            }
        }
    }
    if (cfg_rows) _tile_release();
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const oc_isa amx_isa = {.gemm_bf16 = amx_gemm_bf16, .gemm_i8 = amx_gemm_i8};
const oc_isa *oc_isa_amx(void) { return &amx_isa; }
#else
const oc_isa *oc_isa_amx(void) { return NULL; }
#endif
