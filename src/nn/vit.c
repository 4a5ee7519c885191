/*
 * vit.c — the native ViT image tower (open_clip transformer.py VisionTransformer.forward); its
 * transformer blocks run in tower.c.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"
#include "nn/timm_vit.h"

/* Images per forward chunk: bounds the activation memory (ViT-B-16: 197 tokens x 3072 MLP
 * floats x 8 images = 19 MB) without changing any result (images never interact). */
#define VIT_CHUNK 8

/* =============================================================================================
 * VisionTransformer.forward for one chunk of images
 */
static oclip_status vit_chunk(const oclip_model *m, const float *pixels, size_t n, float *out,
                              const oc_stages *st, size_t first, float *patches, float *x,
                              float *pooled, oclip_error *err) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, G = (size_t)v->gh * (size_t)v->gw, T = G + 1;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */

    /* 1. patch embedding: conv1 (kernel = stride = P, no bias) as a GEMM over the patches
     *    (oc_patches) */
    oc_patches(v, pixels, n, patches);
    float *pe = x + n * T * D - n * G * D; /* the tail of x: freed up as tokens are built */
    oc_gemm(patches, n * G, &v->conv, NULL, pe, nth);
    if (st && st->embed) memcpy(st->embed + first * G * D, pe, n * G * D * sizeof(float));

    /* 2-3. class token first, then the patches; plus positions. Built front to back: token
     *      (b, t) lands at or before the patch row it reads from, so in-place is safe. */
    for (size_t b = 0; b < n; b++) {
        float *xb = x + b * T * D;
        for (size_t t = 0; t < T; t++) {
            const float *src = t == 0 ? v->cls : pe + (b * G + t - 1) * D;
            const float *pos = v->pos + t * D;
            for (size_t i = 0; i < D; i++) xb[t * D + i] = src[i] + pos[i];
        }
    }
    /* 5. ln_pre unless no_ln_pre */
    if (v->ln_pre_w) oc_layernorm(x, x, n * T, D, v->ln_pre_w, v->ln_pre_b, v->tw.eps, nth);

    /* 6. the blocks */
    oclip_status s = oc_tower_run(&v->tw, x, n, T, nth,
                                  st && st->block0 ? st->block0 + first * T * D : NULL,
                                  st && st->last ? st->last + first * T * D : NULL, err);
    if (s) return s;

    /* 7. pool. ln_post then pool == pool then ln_post for the class token (LayerNorm is per
     *    token); for 'avg' the order matters and final_ln_after_pool decides it. CoCa's
     *    attentional pool (coca.c): ln_post(attn_pool(x))[:, 0], the first query's row only
     *    (the queries do not interact), [n, E]. */
    if (m->coca && m->coca->attn_pool) {
        size_t E = (size_t)m->E;
        if ((s = oc_coca_attn_pool(m, x, n, T, 1, pooled, err))) return s;
        oc_layernorm(pooled, pooled, n, E, v->ln_post_w, v->ln_post_b, v->tw.eps, nth);
        if (st && st->pooled) memcpy(st->pooled + first * E, pooled, n * E * sizeof(float));
        oc_gemm(pooled, n, &v->proj, NULL, out, nth);
        return OCLIP_OK;
    }
    for (size_t b = 0; b < n; b++) {
        float *xb = x + b * T * D, *pb = pooled + b * D;
        if (v->tok_pool) {
            memcpy(pb, xb, D * sizeof(float));
            oc_layernorm(pb, pb, 1, D, v->ln_post_w, v->ln_post_b, v->tw.eps, 1);
            continue;
        }
        if (!v->final_ln_after_pool)
            oc_layernorm(xb + D, xb + D, G, D, v->ln_post_w, v->ln_post_b, v->tw.eps, nth);
        for (size_t i = 0; i < D; i++) {
            float sum = 0;
            for (size_t t = 1; t < T; t++) sum += xb[t * D + i];
            pb[i] = sum / (float)G;
        }
        if (v->final_ln_after_pool)
            oc_layernorm(pb, pb, 1, D, v->ln_post_w, v->ln_post_b, v->tw.eps, 1);
    }
    if (st && st->pooled) memcpy(st->pooled + first * D, pooled, n * D * sizeof(float));

    /* 8. pooled @ visual.proj ([D, E], no bias) */
    oc_gemm(pooled, n, &v->proj, NULL, out, nth);
    return OCLIP_OK;
}

static oclip_status vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, P = (size_t)v->P;
    size_t G = (size_t)v->gh * (size_t)v->gw, T = G + 1;
    size_t chunk = n < VIT_CHUNK ? n : VIT_CHUNK;
    /* patches [chunk*G, 3PP], x [chunk, T, D], pooled [chunk, max(D, E)]; sizes come from a validated
     * config (small), the product is still checked */
    uint64_t a, b, c, total;
    if (oc_mul_overflow_u64(chunk * G, 3 * P * P, &a) || oc_mul_overflow_u64(chunk * T, D, &b) ||
        oc_mul_overflow_u64(chunk, D > (size_t)m->E ? D : (size_t)m->E, &c) || oc_add_overflow_u64(a, b, &total) ||
        oc_add_overflow_u64(total, c, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = oc_alloc_large((size_t)total * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations)");
    float *patches = buf, *x = buf + a, *pooled = x + b;
    size_t img = 3 * (size_t)v->img_h * (size_t)v->img_w;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = vit_chunk(m, pixels + i * img, k, out + i * (size_t)m->E, st, i, patches, x, pooled,
                      err);
    }
    free(buf);
    return s;
}

oclip_status oc_vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                            const oc_stages *st, oclip_error *err) {
    if (!n) return OCLIP_OK;
    int inplace;
    size_t rows = n * ((size_t)m->vis.gh * (size_t)m->vis.gw + !m->vis.map);
    oclip_status s = oc_model_prepare(m, 0, rows, &inplace, err);
    if (s) return s;
    s = m->vis.eva  ? oc_eva_forward(m, pixels, n, out, st, err)
        : m->vis.tv ? oc_timmvit_forward(m, pixels, n, out, st, err)
        : m->vis.map ? oc_timm_vit_forward(m, pixels, n, out, st, err)
                   : vit_forward(m, pixels, n, out, st, err);
    oc_model_done(m, 0, inplace);
    return s;
}
