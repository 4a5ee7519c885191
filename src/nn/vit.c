/*
 * vit.c — the transformer blocks both towers share (open_clip transformer.py ResidualAttentionBlock) and the
 * native ViT image tower (open_clip transformer.py VisionTransformer.forward).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

/* Images per forward chunk: bounds the activation memory (ViT-B-16: 197 tokens x 3072 MLP
 * floats x 8 images = 19 MB) without changing any result (images never interact). */
#define VIT_CHUNK 8

/* x += gamma * y (LayerScale), or x += y */
static void residual_add(float *x, const float *y, size_t rows, size_t D, const float *gamma) {
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < D; i++)
            x[r * D + i] += gamma ? gamma[i] * y[r * D + i] : y[r * D + i];
}

/* A Linear layer: oc_gemm, or oc_gemm_i8 for weights quantized at load (qs: its scratch) */
static void linear(const float *X, size_t rows, const oc_weight *W, const float *bias, float *Y,
                   int nth, void *qs) {
    if (W->pdtype == OCLIP_DTYPE_I8 && W->packed) oc_gemm_i8(X, rows, W, bias, Y, nth, qs);
    else oc_gemm(X, rows, W, bias, Y, nth);
}

oclip_status oc_tower_run(const oc_tower *tw, float *x, size_t N, size_t T, int nth,
                          float *block0, float *last, oclip_error *err) {
    size_t D = (size_t)tw->D, M = (size_t)tw->M, rows = N * T;
    if (T > OC_MAX_TOKENS)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%zu tokens: at most %d supported", T,
                          OC_MAX_TOKENS);
    oclip_status s = OCLIP_OK;
    /* scratch: h [rows, D], qkv [rows, 3D], o [rows, D], f [rows, M], and for int8 weights the
     * quantized rows of the widest GEMM input */
    int q8 = 0;
    for (int l = 0; l < tw->layers && !q8; l++) q8 = tw->blocks[l].in_w.pdtype == OCLIP_DTYPE_I8;
    uint64_t per_row = 5 * (uint64_t)D + M, total;
    size_t qbytes = q8 ? oc_gemm_i8_scratch(rows, D > M ? D : M) : 0;
    if (oc_mul_overflow_u64(per_row, rows, &total) || total > SIZE_MAX / sizeof(float) / 2 ||
        qbytes > SIZE_MAX / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "activations too large");
    float *buf = malloc((size_t)total * sizeof(float) + qbytes);
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (activations, %llu bytes)",
                                (unsigned long long)(total * sizeof(float) + qbytes));
    float *h = buf, *qkv = h + rows * D, *o = qkv + rows * 3 * D, *f = o + rows * D;
    void *qs = q8 ? buf + total : NULL;
    for (int l = 0; l < tw->layers; l++) {
        const oc_block *b = &tw->blocks[l];
        /* x = x + ls_1(MHA(ln_1(x))) */
        oc_layernorm(x, h, rows, D, b->ln1_w, b->ln1_b, tw->eps, nth);
        linear(h, rows, &b->in_w, b->in_b, qkv, nth, qs);
        if ((s = oc_attention(qkv, o, N, T, D, (size_t)tw->H, tw->causal, nth, err))) break;
        linear(o, rows, &b->out_w, b->out_b, h, nth, qs);
        residual_add(x, h, rows, D, b->ls1);
        /* x = x + ls_2(c_proj(act(c_fc(ln_2(x))))) */
        oc_layernorm(x, h, rows, D, b->ln2_w, b->ln2_b, tw->eps, nth);
        linear(h, rows, &b->fc_w, b->fc_b, f, nth, qs);
        oc_activate(f, rows * M, tw->act, nth);
        linear(f, rows, &b->proj_w, b->proj_b, h, nth, qs);
        residual_add(x, h, rows, D, b->ls2);
        if (l == 0 && block0) memcpy(block0, x, rows * D * sizeof(float));
    }
    if (last && !s) memcpy(last, x, rows * D * sizeof(float));
    free(buf);
    return s;
}

/* =============================================================================================
 * VisionTransformer.forward for one chunk of images
 */
static oclip_status vit_chunk(const oclip_model *m, const float *pixels, size_t n, float *out,
                              const oc_stages *st, size_t first, float *patches, float *x,
                              float *pooled, oclip_error *err) {
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, P = (size_t)v->P, gh = (size_t)v->gh, gw = (size_t)v->gw;
    size_t G = gh * gw, T = G + 1, H = (size_t)v->img_h, W = (size_t)v->img_w;
    size_t KP = 3 * P * P;
    int nth = m->threads;

    /* 1. patch embedding: conv1 (kernel = stride = P, no bias) as a GEMM over patches flattened
     *    in (c, ky, kx) order, patches row-major (y outer); pixels past the last full patch are
     *    ignored, as a strided convolution does */
    for (size_t b = 0; b < n; b++)
        for (size_t py = 0; py < gh; py++)
            for (size_t px = 0; px < gw; px++) {
                float *row = patches + ((b * G) + py * gw + px) * KP;
                for (size_t c = 0; c < 3; c++)
                    for (size_t ky = 0; ky < P; ky++)
                        memcpy(row + (c * P + ky) * P,
                               pixels + ((b * 3 + c) * H + py * P + ky) * W + px * P,
                               P * sizeof(float));
            }
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
     *    token); for 'avg' the order matters and final_ln_after_pool decides it. */
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
    /* patches [chunk*G, 3PP], x [chunk, T, D], pooled [chunk, D]; sizes come from a validated
     * config (small), the product is still checked */
    uint64_t a, b, c, total;
    if (oc_mul_overflow_u64(chunk * G, 3 * P * P, &a) || oc_mul_overflow_u64(chunk * T, D, &b) ||
        oc_mul_overflow_u64(chunk, D, &c) || oc_add_overflow_u64(a, b, &total) ||
        oc_add_overflow_u64(total, c, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = malloc((size_t)(total ? total : 1) * sizeof(float));
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
    size_t rows = n * ((size_t)m->vis.gh * (size_t)m->vis.gw + 1);
    oclip_status s = oc_model_prepare(m, 0, rows, &inplace, err);
    if (s) return s;
    s = vit_forward(m, pixels, n, out, st, err);
    oc_model_done(m, 0, inplace);
    return s;
}

/* =============================================================================================
 * Packed weights (the SIMD paths' GEMM operands), made once per tower, on its first use
 */
/* tower t's GEMM weights: the blocks' four Linear weights first, then the patch embedding and
 * the projection (image) or the projection (text); *nblock = how many are block weights */
static oc_weight **tower_weights(oclip_model *m, int t, size_t *n, size_t *nblock) {
    oc_tower *tw = t ? &m->txt.tw : &m->vis.tw;
    size_t cnt = 2 + 4 * (size_t)(tw->blocks ? tw->layers : 0), k = 0;
    oc_weight **w = malloc(cnt * sizeof *w);
    if (!w) return NULL;
    for (int l = 0; tw->blocks && l < tw->layers; l++) {
        oc_block *b = &tw->blocks[l];
        w[k++] = &b->in_w, w[k++] = &b->out_w, w[k++] = &b->fc_w, w[k++] = &b->proj_w;
    }
    *nblock = k;
    if (t == 0) w[k++] = &m->vis.conv, w[k++] = &m->vis.proj;
    else w[k++] = &m->txt.proj;
    *n = k;
    return w;
}

static void unpack_tower(oclip_model *m, int t) {
    oc_tower *tw = t ? &m->txt.tw : &m->vis.tw;
    for (int l = 0; tw->blocks && l < tw->layers; l++) {
        oc_block *b = &tw->blocks[l];
        oc_weight_unpack(&b->in_w), oc_weight_unpack(&b->out_w);
        oc_weight_unpack(&b->fc_w), oc_weight_unpack(&b->proj_w);
    }
    if (t == 0) oc_weight_unpack(&m->vis.conv), oc_weight_unpack(&m->vis.proj);
    else oc_weight_unpack(&m->txt.proj);
}

static oclip_status pack_tower(oclip_model *m, int t, oclip_error *err) {
    oclip_dtype to = m->weight_dtype;
    int simd = oc_simd_get() != OC_SIMD_SCALAR; /* the scalar path reads floats as stored */
    if (!simd && to != OCLIP_DTYPE_I8) return OCLIP_OK;
    size_t n, nblock;
    oc_weight **w = tower_weights(m, t, &n, &nblock);
    if (!w) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    int pairs = to == OCLIP_DTYPE_BF16 && oc_simd_get() == OC_SIMD_AVX512 &&
                oc_cpu_has_avx512bf16();
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i++) {
        /* int8: the blocks' weights only; the patch embedding and the projections, a small
         * part of the work, stay float */
        oclip_dtype d = to == OCLIP_DTYPE_I8 && i >= nblock ? OCLIP_DTYPE_F32 : to;
        if (!simd && d != OCLIP_DTYPE_I8) continue;
        s = oc_weight_pack(w[i], d, pairs, m->threads, err);
        /* the GEMM reads the packed copy from now on: the stored weights' pages can leave the
         * resident set, so peak memory stays near one copy of the weights, not two */
        if (!s && w[i]->packed)
            oc_release_tensor_pages(m->ck, w[i]->data,
                                    w[i]->n * w[i]->k * oclip_dtype_size(w[i]->dtype));
    }
    free(w);
    if (s) unpack_tower(m, t);
    return s;
}

oclip_status oc_model_prepare(const oclip_model *cm, int tower, size_t rows, int *inplace,
                              oclip_error *err) {
    /* the packed copies are a cache of the weights: filled once, under the model's lock */
    oclip_model *m = (oclip_model *)cm;
    *inplace = 0;
    if (__atomic_load_n(&m->packed[tower], __ATOMIC_ACQUIRE)) return OCLIP_OK;
    pthread_mutex_lock(&m->pack_mu);
    oclip_status s = OCLIP_OK;
    if (m->packed[tower]) {
        /* packed meanwhile */
    } else if (m->weight_dtype == OCLIP_DTYPE_F32 &&
               ((!m->used[tower] && rows <= OC_INPLACE_ROWS) || m->inplace[tower] > 0)) {
        /* weights computed as stored: the GEMM packs each block as it goes, the same values;
         * packing waits until no call reads the weights in place */
        m->inplace[tower]++;
        *inplace = 1;
    } else if (!(s = pack_tower(m, tower, err))) {
        __atomic_store_n(&m->packed[tower], 1, __ATOMIC_RELEASE);
    }
    m->used[tower] = 1;
    pthread_mutex_unlock(&m->pack_mu);
    return s;
}

void oc_model_done(const oclip_model *cm, int tower, int inplace) {
    oclip_model *m = (oclip_model *)cm;
    if (!inplace) return;
    pthread_mutex_lock(&m->pack_mu);
    m->inplace[tower]--;
    pthread_mutex_unlock(&m->pack_mu);
}

void oc_model_unpack(oclip_model *m) {
    unpack_tower(m, 0);
    unpack_tower(m, 1);
    m->packed[0] = m->packed[1] = 0;
}
