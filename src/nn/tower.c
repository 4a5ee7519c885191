/*
 * tower.c — what both towers share: the residual attention blocks (open_clip transformer.py
 * ResidualAttentionBlock.forward, over Transformer.resblocks), and the packed copies of a
 * tower's GEMM weights, made on its first use (oc_model_prepare in engine.h).
 */
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

void oc_linear(const float *X, size_t rows, const oc_weight *W, const float *bias, float *Y,
               const oc_epilogue *ep, int nth, void *qs) {
    if (W->pdtype == OCLIP_DTYPE_I8 && W->packed) oc_gemm_i8_ep(X, rows, W, bias, Y, ep, nth, qs);
    else oc_gemm_ep(X, rows, W, bias, Y, ep, nth);
}

/* a kept block: its usable size, then the floats at a 64-byte boundary */
#define ACT_HEAD 64

float *oc_act_alloc(const oclip_model *cm, size_t floats) {
    oclip_model *m = (oclip_model *)cm; /* the slot only: taken and put back atomically */
    unsigned char *b = __atomic_exchange_n((unsigned char **)&m->act_slot, NULL,
                                           __ATOMIC_ACQ_REL);
    if (b) {
        size_t have;
        memcpy(&have, b, sizeof have);
        if (have >= floats) return (float *)(void *)(b + ACT_HEAD);
        free(b);
    }
    if (floats > (SIZE_MAX - ACT_HEAD) / sizeof(float)) return NULL;
    /* on huge pages when large (fewer TLB misses streaming RN50's 25 MB activations at batch 8:
     * 3% faster) */
    if (!(b = oc_alloc_large(ACT_HEAD + floats * sizeof(float)))) return NULL;
    memcpy(b, &floats, sizeof floats);
    return (float *)(void *)(b + ACT_HEAD);
}

void oc_act_release(const oclip_model *cm, float *p) {
    if (!p) return;
    oclip_model *m = (oclip_model *)cm;
    unsigned char *b = (unsigned char *)p - ACT_HEAD;
    free(__atomic_exchange_n((unsigned char **)&m->act_slot, b, __ATOMIC_ACQ_REL));
}

void oc_act_free_slot(oclip_model *m) {
    free(__atomic_exchange_n((unsigned char **)&m->act_slot, NULL, __ATOMIC_ACQ_REL));
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
    float *buf = oc_alloc_large((size_t)total * sizeof(float) + qbytes);
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (activations, %llu bytes)",
                                (unsigned long long)(total * sizeof(float) + qbytes));
    float *h = buf, *qkv = h + rows * D, *o = qkv + rows * 3 * D, *f = o + rows * D;
    void *qs = q8 ? buf + total : NULL;
    for (int l = 0; l < tw->layers; l++) {
        const oc_block *b = &tw->blocks[l];
        /* x = x + ls_1(MHA(ln_1(x))) */
        /* the residual adds (x += ls * y) and the activation run in the GEMMs' epilogues */
        oc_epilogue res1 = {0, tw->act, x, b->ls1}, act = {1, tw->act, NULL, NULL},
                    res2 = {0, tw->act, x, b->ls2};
        oc_layernorm(x, h, rows, D, b->ln1_w, b->ln1_b, tw->eps, nth);
        oc_linear(h, rows, &b->in_w, b->in_b, qkv, NULL, nth, qs);
        if ((s = oc_attention(qkv, o, N, T, D, (size_t)tw->H, tw->causal, nth, err))) break;
        oc_linear(o, rows, &b->out_w, b->out_b, h, &res1, nth, qs);
        /* x = x + ls_2(c_proj(act(c_fc(ln_2(x))))) */
        oc_layernorm(x, h, rows, D, b->ln2_w, b->ln2_b, tw->eps, nth);
        oc_linear(h, rows, &b->fc_w, b->fc_b, f, &act, nth, qs);
        oc_linear(f, rows, &b->proj_w, b->proj_b, h, &res2, nth, qs);
        if (l == 0 && block0) memcpy(block0, x, rows * D * sizeof(float));
    }
    if (last && !s) memcpy(last, x, rows * D * sizeof(float));
    free(buf);
    return s;
}

/* =============================================================================================
 * Packed weights (the SIMD paths' GEMM operands), made once per tower, on its first use
 */
/* tower t's GEMM weights: the blocks' four Linear weights first, then the patch embedding and
 * the projection (image) or the projection (text); *nblock = how many are block weights */
static oc_weight **tower_weights(oclip_model *m, int t, size_t *n, size_t *nblock) {
    oc_tower *tw = t ? &m->txt.tw : &m->vis.tw;
    const oc_hf_text *hf = &m->txt.hf; /* an HF text tower's weights (hf_text.c) */
    size_t cnt = 7 + 4 * (size_t)(tw->blocks ? tw->layers : 0) + (t ? hf->nw : 0), k = 0;
    cnt += t == 0 ? oc_eva_weights(m->vis.eva, NULL) : 0; /* the EVA tower's blocks (eva.c) */
    cnt += t == 0 ? oc_vitamin_weights(m->vis.vitamin, NULL) : 0; /* ViTamin's (vitamin.c) */
    oc_weight **w = malloc(cnt * sizeof *w);
    if (!w) return NULL;
    for (int l = 0; tw->blocks && l < tw->layers; l++) {
        oc_block *b = &tw->blocks[l];
        w[k++] = &b->in_w, w[k++] = &b->out_w, w[k++] = &b->fc_w, w[k++] = &b->proj_w;
    }
    for (size_t i = 0; t && i < hf->nblock; i++) w[k++] = &hf->w[i];
    if (t == 0) k += oc_eva_weights(m->vis.eva, w + k);
    if (t == 0) k += oc_vitamin_weights(m->vis.vitamin, w + k);
    *nblock = k;
    if (t == 0) w[k++] = &m->vis.conv, w[k++] = &m->vis.proj;
    else w[k++] = &m->txt.proj;
    for (size_t i = hf->nblock; t && i < hf->nw; i++) w[k++] = &hf->w[i];
    if (t == 0 && m->vis.map) { /* the timm MAP pool's Linear layers */
        w[k++] = &m->vis.pool_q, w[k++] = &m->vis.pool_kv, w[k++] = &m->vis.pool_proj;
        w[k++] = &m->vis.pool_fc1, w[k++] = &m->vis.pool_fc2;
    }
    *n = k;
    return w;
}

static void unpack_tower(oclip_model *m, int t) {
    oc_tower *tw = t ? &m->txt.tw : &m->vis.tw;
    if (t == 0) oc_eva_unpack(m->vis.eva), oc_vitamin_unpack(m->vis.vitamin);
    for (int l = 0; tw->blocks && l < tw->layers; l++) {
        oc_block *b = &tw->blocks[l];
        oc_weight_unpack(&b->in_w), oc_weight_unpack(&b->out_w);
        oc_weight_unpack(&b->fc_w), oc_weight_unpack(&b->proj_w);
    }
    if (t == 0) oc_weight_unpack(&m->vis.conv), oc_weight_unpack(&m->vis.proj);
    else oc_weight_unpack(&m->txt.proj);
    for (size_t i = 0; t && i < m->txt.hf.nw; i++) oc_weight_unpack(&m->txt.hf.w[i]);
    if (t == 0) {
        oc_weight_unpack(&m->vis.pool_q), oc_weight_unpack(&m->vis.pool_kv);
        oc_weight_unpack(&m->vis.pool_proj), oc_weight_unpack(&m->vis.pool_fc1);
        oc_weight_unpack(&m->vis.pool_fc2);
    }
}

static oclip_status pack_tower(oclip_model *m, int t, oclip_error *err) {
    oclip_dtype to = m->weight_dtype;
    const oc_kernels *k = oc_kernels_get();
    int simd = k->pack_weights; /* the scalar path reads floats as stored */
    if (!simd && to != OCLIP_DTYPE_I8) return OCLIP_OK;
    size_t n, nblock;
    oc_weight **w = tower_weights(m, t, &n, &nblock);
    if (!w) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    int pairs = to == OCLIP_DTYPE_BF16 && k->bf16_pairs;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i++) {
        /* int8: the blocks' weights only; the patch embedding and the projections, a small
         * part of the work, stay float */
        oclip_dtype d = to == OCLIP_DTYPE_I8 && i >= nblock ? OCLIP_DTYPE_F32 : to;
        if (!simd && d != OCLIP_DTYPE_I8) continue;
        s = oc_weight_pack(w[i], d, pairs, __atomic_load_n(&m->threads, __ATOMIC_RELAXED), err);
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

void oc_patches(const oc_vision *v, const float *pixels, size_t n, float *patches) {
    size_t P = (size_t)v->P, gh = (size_t)v->gh, gw = (size_t)v->gw, G = gh * gw;
    size_t H = (size_t)v->img_h, W = (size_t)v->img_w, KP = 3 * P * P;
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
}
