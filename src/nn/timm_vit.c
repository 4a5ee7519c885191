/*
 * timm_vit.c — the timm SigLIP image tower: timm VisionTransformer with class_token=False,
 * global_pool='map' (timm models/vision_transformer.py forward_features / forward_head), as
 * OpenCLIP's TimmModel runs it with timm_proj 'none' (open_clip timm_model.py). Its blocks are
 * the same pre-norm computation as OpenCLIP's (timm Block: x + attn(norm1(x)), x + mlp(norm2(x)),
 * qkv rows [q; k; v]) and run in tower.c. docs/SIGLIP.md section 2 is the reference.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define TIMM_CHUNK 8 /* images per forward chunk: bounds the activations, changes nothing */

/* timm AttentionPoolLatent, shared with the PE towers (eva.c): engine.h */
void oc_map_pool(const oclip_model *m, const float *x, size_t n, size_t G, float *out, float *kv,
                 float *q, float *a, float *h, float *f, float *scores, const oc_stages *st,
                 size_t first) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, M = (size_t)v->tw.M, H = (size_t)v->tw.H, hd = D / H;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    oc_gemm(v->latent, 1, &v->pool_q, v->pool_q_b, q, 1);
    oc_gemm(x, n * G, &v->pool_kv, v->pool_kv_b, kv, nth);
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t b = 0; b < n; b++)
        for (size_t hh = 0; hh < H; hh++) {
            const float *qh = q + hh * hd;
            float mx = -INFINITY;
            for (size_t j = 0; j < G; j++) {
                const float *kj = kv + (b * G + j) * 2 * D + hh * hd;
                float d = 0;
                for (size_t e = 0; e < hd; e++) d += qh[e] * kj[e];
                scores[j] = d * scale;
                if (scores[j] > mx) mx = scores[j];
            }
            float sum = 0;
            for (size_t j = 0; j < G; j++) sum += scores[j] = expf(scores[j] - mx);
            float *ah = h + b * D + hh * hd;
            for (size_t e = 0; e < hd; e++) ah[e] = 0;
            for (size_t j = 0; j < G; j++) {
                const float *vj = kv + (b * G + j) * 2 * D + D + hh * hd;
                float p = scores[j] / sum;
                for (size_t e = 0; e < hd; e++) ah[e] += p * vj[e];
            }
        }
    oc_gemm(h, n, &v->pool_proj, v->pool_proj_b, a, nth);
    if (st && st->pool_attn) memcpy(st->pool_attn + first * D, a, n * D * sizeof(float));
    oc_layernorm(a, h, n, D, v->pool_ln_w, v->pool_ln_b, v->tw.eps, nth);
    if (st && st->pool_ln) memcpy(st->pool_ln + first * D, h, n * D * sizeof(float));
    oc_gemm(h, n, &v->pool_fc1, v->pool_fc1_b, f, nth);
    oc_activate(f, n * M, v->tw.act, nth);
    oc_gemm(f, n, &v->pool_fc2, v->pool_fc2_b, out, nth);
    for (size_t i = 0; i < n * D; i++) out[i] += a[i];
}

static oclip_status timm_chunk(const oclip_model *m, const float *pixels, size_t n, float *out,
                               const oc_stages *st, size_t first, float *patches, float *x,
                               float *kv, float *small, oclip_error *err) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, M = (size_t)v->tw.M, G = (size_t)v->gh * (size_t)v->gw;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    /* 1. patch_embed: Conv2d(3, D, P, stride P, bias) as a GEMM over the patches
     *    (oc_patches), token = row * gw + column */
    oc_patches(v, pixels, n, patches);
    oc_gemm(patches, n * G, &v->conv, v->conv_b, x, nth);
    /* 2. _pos_embed: + pos_embed, no class token; norm_pre is identity */
    for (size_t b = 0; b < n; b++)
        for (size_t t = 0; t < G; t++)
            for (size_t i = 0; i < D; i++) x[(b * G + t) * D + i] += v->pos[t * D + i];
    if (st && st->embed) memcpy(st->embed + first * G * D, x, n * G * D * sizeof(float));
    /* 3. the blocks */
    oclip_status s = oc_tower_run(&v->tw, x, n, G, nth,
                                  st && st->block0 ? st->block0 + first * G * D : NULL, NULL, err);
    if (s) return s;
    /* 4. trunk.norm over every token */
    oc_layernorm(x, x, n * G, D, v->ln_post_w, v->ln_post_b, v->tw.eps, nth);
    if (st && st->last) memcpy(st->last + first * G * D, x, n * G * D * sizeof(float));
    /* 5. the MAP pool: the image feature (fc_norm and head are identity) */
    float *q = small, *a = q + D, *h = a + n * D, *f = h + n * D, *scores = f + n * M;
    oc_map_pool(m, x, n, G, out, kv, q, a, h, f, scores, st, first);
    if (st && st->pooled) memcpy(st->pooled + first * D, out, n * D * sizeof(float));
    return OCLIP_OK;
}

oclip_status oc_timm_vit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                 const oc_stages *st, oclip_error *err) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, M = (size_t)v->tw.M, P = (size_t)v->P;
    size_t G = (size_t)v->gh * (size_t)v->gw;
    size_t chunk = n < TIMM_CHUNK ? n : TIMM_CHUNK;
    /* patches [chunk*G, 3PP], x [chunk*G, D], kv [chunk*G, 2D], small: q [D], a, h [chunk, D],
     * f [chunk, M], scores [G]; sizes come from a validated config, products still checked */
    uint64_t a, b, c, d, total;
    if (oc_mul_overflow_u64(chunk * G, 3 * P * P, &a) || oc_mul_overflow_u64(chunk * G, D, &b) ||
        oc_mul_overflow_u64(chunk * G, 2 * D, &c) ||
        oc_mul_overflow_u64(chunk, 2 * D + M, &d) || oc_add_overflow_u64(a, b, &total) ||
        oc_add_overflow_u64(total, c, &total) || oc_add_overflow_u64(total, d, &total) ||
        oc_add_overflow_u64(total, D + G, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = malloc((size_t)total * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations)");
    float *patches = buf, *x = buf + a, *kv = x + b, *small = kv + c;
    size_t img = 3 * (size_t)v->img_h * (size_t)v->img_w;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = timm_chunk(m, pixels + i * img, k, out + i * (size_t)m->E, st, i, patches, x, kv,
                       small, err);
    }
    free(buf);
    return s;
}
