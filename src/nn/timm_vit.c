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
#include "nn/timm_vit.h"

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

/* =============================================================================================
 * Class-token towers (global_pool 'token'): timm VisionTransformer forward_features /
 * forward_head with a class token, OpenCLIP TimmModel with timm_proj null (head = projection)
 */

/* Non-overlapping k x k windows (kernel = stride = k, no padding: a strided convolution reads
 * no pixel past the last full window) of x [n, C, H, W] (nchw) or [n, H, W, C] as GEMM rows
 * [n * Ho * Wo, C * k * k] in PyTorch's weight order (c, ky, kx), rows (b, oy, ox). */
static void windows(const float *x, int nchw, size_t n, size_t C, size_t H, size_t W, size_t k,
                    size_t Ho, size_t Wo, float *rows) {
    size_t K = C * k * k;
    for (size_t b = 0; b < n; b++)
        for (size_t oy = 0; oy < Ho; oy++)
            for (size_t ox = 0; ox < Wo; ox++) {
                float *r = rows + ((b * Ho + oy) * Wo + ox) * K;
                for (size_t c = 0; c < C; c++)
                    for (size_t ky = 0; ky < k; ky++)
                        for (size_t kx = 0; kx < k; kx++) {
                            size_t y = oy * k + ky, xx = ox * k + kx;
                            r[(c * k + ky) * k + kx] =
                                nchw ? x[((b * C + c) * H + y) * W + xx]
                                     : x[((b * H + y) * W + xx) * C + c];
                        }
            }
}

/* HybridEmbed(ConvStem) for n images: the patch tokens pe [n * G, D]; s0 / s1 / rows are
 * scratch of the sizes oc_timmvit_forward reserves. */
static void conv_stem(const oclip_model *m, const float *pixels, size_t n, float *pe, float *s0,
                      float *s1, float *rows, int nth) {
    const oc_vision *v = &m->vis;
    const struct oc_timmvit *t = v->tv;
    size_t H = (size_t)v->img_h, W = (size_t)v->img_w;
    /* stage 0: conv (BN folded) + GELU, NCHW pixels -> [n, h0, w0, ch0] */
    windows(pixels, 1, n, 3, H, W, (size_t)t->k[0], (size_t)t->h[0], (size_t)t->w_[0], rows);
    size_t p0 = n * (size_t)t->h[0] * (size_t)t->w_[0];
    oc_gemm(rows, p0, &t->w[0], t->b[0], s0, nth);
    oc_activate(s0, p0 * (size_t)t->ch[0], OC_ACT_GELU, nth);
    /* stage 1: conv (BN folded) + GELU -> [n, h1, w1, ch1] */
    windows(s0, 0, n, (size_t)t->ch[0], (size_t)t->h[0], (size_t)t->w_[0], (size_t)t->k[1],
            (size_t)t->h[1], (size_t)t->w_[1], rows);
    size_t p1 = n * (size_t)t->h[1] * (size_t)t->w_[1];
    oc_gemm(rows, p1, &t->w[1], t->b[1], s1, nth);
    oc_activate(s1, p1 * (size_t)t->ch[1], OC_ACT_GELU, nth);
    /* stage 2: conv with bias -> [n, gh, gw, D] = the tokens (flatten(2).transpose(1, 2)) */
    windows(s1, 0, n, (size_t)t->ch[1], (size_t)t->h[1], (size_t)t->w_[1], (size_t)t->k[2],
            (size_t)t->h[2], (size_t)t->w_[2], rows);
    oc_gemm(rows, n * (size_t)t->h[2] * (size_t)t->w_[2], &v->conv, v->conv_b, pe, nth);
}

typedef struct {
    float *patches, *x, *pe, *s0, *s1, *pooled;
} tv_scratch;

static oclip_status tv_chunk(const oclip_model *m, const float *pixels, size_t n, float *out,
                             const oc_stages *st, size_t first, const tv_scratch *sc,
                             oclip_error *err) {
    const oc_vision *v = &m->vis;
    const struct oc_timmvit *t = v->tv;
    size_t D = (size_t)v->tw.D, G = (size_t)v->gh * (size_t)v->gw, T = G + 1;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    float *x = sc->x, *pe = sc->pe;
    /* 1. patch_embed: PatchEmbed's conv as a GEMM over the patches, or the ConvStem */
    if (t->stem) {
        conv_stem(m, pixels, n, pe, sc->s0, sc->s1, sc->patches, nth);
    } else {
        oc_patches(v, pixels, n, sc->patches);
        oc_gemm(sc->patches, n * G, &v->conv, v->conv_b, pe, nth);
    }
    /* 2. _pos_embed: class token first; pos_embed over all T tokens, or (no_embed_class) over
     *    the patches only, the class token without position */
    for (size_t b = 0; b < n; b++) {
        float *xb = x + b * T * D;
        for (size_t i = 0; i < D; i++) xb[i] = t->no_embed_class ? v->cls[i] : v->cls[i] + v->pos[i];
        for (size_t g = 0; g < G; g++) {
            const float *p = pe + (b * G + g) * D;
            const float *pos = v->pos + (t->no_embed_class ? g : g + 1) * D;
            for (size_t i = 0; i < D; i++) xb[(1 + g) * D + i] = p[i] + pos[i];
        }
    }
    if (st && st->embed) memcpy(st->embed + first * T * D, x, n * T * D * sizeof(float));
    /* 3. norm_pre (pre_norm), else Identity */
    if (v->ln_pre_w) oc_layernorm(x, x, n * T, D, v->ln_pre_w, v->ln_pre_b, t->eps, nth);
    /* 4. the blocks */
    oclip_status s = oc_tower_run(&v->tw, x, n, T, nth,
                                  st && st->block0 ? st->block0 + first * T * D : NULL, NULL, err);
    if (s) return s;
    /* 5. norm (per token: only the class token is read unless the stages want every one), then
     *    forward_head: x[:, 0] ('token'), fc_norm Identity, head Linear(D, E) with bias */
    if (st && st->last) {
        oc_layernorm(x, x, n * T, D, v->ln_post_w, v->ln_post_b, t->eps, nth);
        memcpy(st->last + first * T * D, x, n * T * D * sizeof(float));
    }
    for (size_t b = 0; b < n; b++) {
        float *pb = sc->pooled + b * D;
        memcpy(pb, x + b * T * D, D * sizeof(float));
        if (!(st && st->last)) oc_layernorm(pb, pb, 1, D, v->ln_post_w, v->ln_post_b, t->eps, 1);
    }
    if (st && st->pooled) memcpy(st->pooled + first * D, sc->pooled, n * D * sizeof(float));
    oc_gemm(sc->pooled, n, &v->proj, t->head_b, out, nth);
    return OCLIP_OK;
}

oclip_status oc_timmvit_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                                const oc_stages *st, oclip_error *err) {
    const oc_vision *v = &m->vis;
    const struct oc_timmvit *t = v->tv;
    size_t D = (size_t)v->tw.D, P = (size_t)v->P;
    size_t G = (size_t)v->gh * (size_t)v->gw, T = G + 1;
    size_t chunk = n < TIMM_CHUNK ? n : TIMM_CHUNK;
    /* rows: the GEMM input of the patch conv or of the largest stem stage; s0 / s1 the stem's
     * stage outputs; x [chunk, T, D], pe [chunk * G, D], pooled [chunk, D]. Sizes come from a
     * validated config; the products are still checked. */
    uint64_t r = 3 * P * P * G, a0 = 0, a1 = 0, tot = 0, q;
    if (t->stem) {
        uint64_t g0 = (uint64_t)t->h[0] * (uint64_t)t->w_[0], g1 = (uint64_t)t->h[1] * (uint64_t)t->w_[1];
        uint64_t r0 = g0 * 3 * (uint64_t)(t->k[0] * t->k[0]);
        uint64_t r1 = g1 * (uint64_t)t->ch[0] * (uint64_t)(t->k[1] * t->k[1]);
        uint64_t r2 = G * (uint64_t)t->ch[1] * (uint64_t)(t->k[2] * t->k[2]);
        r = r0 > r1 ? r0 : r1;
        r = r > r2 ? r : r2;
        a0 = g0 * (uint64_t)t->ch[0];
        a1 = g1 * (uint64_t)t->ch[1];
    }
    uint64_t per = 0;
    if (oc_add_overflow_u64(r, a0, &per) || oc_add_overflow_u64(per, a1, &per) ||
        oc_mul_overflow_u64(T + G + 1, D, &q) || oc_add_overflow_u64(per, q, &per) ||
        oc_mul_overflow_u64(per, chunk, &tot) || tot > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = malloc((size_t)(tot ? tot : 1) * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations)");
    tv_scratch sc;
    sc.patches = buf;
    sc.s0 = sc.patches + chunk * r;
    sc.s1 = sc.s0 + chunk * a0;
    sc.x = sc.s1 + chunk * a1;
    sc.pe = sc.x + chunk * T * D;
    sc.pooled = sc.pe + chunk * G * D;
    size_t img = 3 * (size_t)v->img_h * (size_t)v->img_w;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = tv_chunk(m, pixels + i * img, k, out + i * (size_t)m->E, st, i, &sc, err);
    }
    free(buf);
    return s;
}
