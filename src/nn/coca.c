/*
 * coca.c — what CoCa (open_clip coca_model.py) computes beyond a CLIP's towers:
 *   - the image tower's AttentionalPooler (transformer.py AttentionalPooler.forward):
 *       out = MultiheadAttention(ln_q(query), ln_k(x), ln_k(x))   (kdim = vdim = the tower's width)
 *     VisionTransformer._pool (attentional_pool True, the "original OpenCLIP CoCa setup"): x =
 *     ln_post(attn_pool(x)), pooled = x[:, 0] (@ proj), tokens = x[:, 1:] (the decoder's image
 *     tokens);
 *   - the text tower with embed_cls (TextTransformer._embeds / forward): the CLS embedding appended
 *     after the tokens, the causal mask plus an additive mask over keys (_build_additive_mask,
 *     correct_cls_mask False: key 0 always kept, key j >= 1 kept when token j - 1 is not pad_id),
 *     pooled = ln_final(x[:, -1]) @ text_projection, tokens = x[:, :-1] (without ln_final);
 *   - the MultimodalTransformer text decoder (transformer.py MultimodalTransformer.forward): per
 *     layer a causal self-attention block, then a cross-attention block (queries ln_1(x), keys and
 *     values ln_1_kv(image tokens)); ln_final, @ text_projection -> vocabulary logits;
 *   - CoCa.generate with generation_type "beam_search" (_generate_beamsearch over transformers'
 *     BeamSearchScorer / BeamHypotheses, MinLengthLogitsProcessor, RepetitionPenaltyLogitsProcessor)
 *     in oclip_caption.
 * The attention here is plain loops (short sequences); the GEMMs are the kernels'.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

/* A Linear layer (as tower.c): oc_gemm_ep, or oc_gemm_i8_ep for weights quantized at load */
static void linear(const float *X, size_t rows, const oc_weight *W, const float *bias, float *Y,
                   const oc_epilogue *ep, int nth, void *qs) {
    if (W->pdtype == OCLIP_DTYPE_I8 && W->packed) oc_gemm_i8_ep(X, rows, W, bias, Y, ep, nth, qs);
    else oc_gemm_ep(X, rows, W, bias, Y, ep, nth);
}

/* Rows [r0, r0 + nr) of an unpacked nn.Linear weight [n, k] (in_proj's q / k / v parts). */
static oc_weight rows_of(const oc_weight *w, size_t r0, size_t nr) {
    oc_weight v = *w;
    v.data = w->data + r0 * w->k * oclip_dtype_size(w->dtype);
    v.n = nr;
    v.packed = NULL;
    return v;
}

/* Scaled dot-product attention of one sequence, every head: o [Tq, H*hd] (row stride ldo) from
 * q [Tq] / k, v [Tk] rows (strides ldq, ldk, ldv); key j is skipped for query i when causal and
 * j > i, or when kvalid and !kvalid[j]. `p` scratch [Tk]. A query with no key left gets zeros
 * (never happens here: key 0 is always kept). */
static void attend(const float *q, size_t ldq, const float *k, size_t ldk, const float *v,
                   size_t ldv, float *o, size_t ldo, size_t Tq, size_t Tk, size_t H, size_t hd,
                   int causal, const unsigned char *kvalid, float *p) {
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t h = 0; h < H; h++)
        for (size_t i = 0; i < Tq; i++) {
            const float *qi = q + i * ldq + h * hd;
            float mx = -INFINITY;
            size_t lim = causal && i + 1 < Tk ? i + 1 : Tk;
            for (size_t j = 0; j < lim; j++) {
                if (kvalid && !kvalid[j]) {
                    p[j] = -INFINITY;
                    continue;
                }
                const float *kj = k + j * ldk + h * hd;
                float s = 0;
                for (size_t e = 0; e < hd; e++) s += qi[e] * kj[e];
                p[j] = s * scale;
                if (p[j] > mx) mx = p[j];
            }
            float *oi = o + i * ldo + h * hd;
            memset(oi, 0, hd * sizeof(float));
            if (mx == -INFINITY) continue;
            float sum = 0;
            for (size_t j = 0; j < lim; j++) {
                p[j] = p[j] == -INFINITY ? 0.0f : expf(p[j] - mx);
                sum += p[j];
            }
            for (size_t j = 0; j < lim; j++) {
                if (p[j] == 0.0f) continue;
                float w = p[j] / sum;
                const float *vj = v + j * ldv + h * hd;
                for (size_t e = 0; e < hd; e++) oi[e] += w * vj[e];
            }
        }
}

/* Scratch of one block pass over `rows` rows of width D (MLP width M) with keys of Tk rows. */
typedef struct {
    float *h, *qkv, *o, *f, *p;
    void *qs;
} blk_buf;

static oclip_status buf_get(blk_buf *b, size_t rows, size_t D, size_t M, size_t Tk, int q8,
                            oclip_error *err) {
    uint64_t total;
    if (oc_mul_overflow_u64(rows, 5 * (uint64_t)D + M, &total) ||
        oc_add_overflow_u64(total, Tk + 1, &total) || total > SIZE_MAX / sizeof(float) / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "CoCa activations too large");
    size_t qbytes = q8 ? oc_gemm_i8_scratch(rows, D > M ? D : M) : 0;
    float *p = malloc((size_t)total * sizeof(float) + qbytes);
    if (!p) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (CoCa activations)");
    b->h = p;
    b->qkv = p + rows * D;
    b->o = b->qkv + rows * 3 * D;
    b->f = b->o + rows * D;
    b->p = b->f + rows * M;
    b->qs = q8 ? (void *)(p + total) : NULL;
    return OCLIP_OK;
}

static int tower_q8(const oc_tower *tw) {
    for (int l = 0; l < tw->layers; l++)
        if (tw->blocks[l].in_w.pdtype == OCLIP_DTYPE_I8 && tw->blocks[l].in_w.packed) return 1;
    return 0;
}

/* One ResidualAttentionBlock over x [n, T, D] in place: self-attention (causal, keys masked by
 * kvalid [n, T] when not NULL), or cross-attention over precomputed keys / values kv [Tk, 2D]
 * (bias included; the same for every sequence) when kv is not NULL. */
static void block(const oc_tower *tw, const oc_block *b, float *x, size_t n, size_t T,
                  int causal, const unsigned char *kvalid, const float *kv, size_t Tk,
                  blk_buf *bf, int nth) {
    size_t D = (size_t)tw->D, H = (size_t)tw->H, rows = n * T;
    oc_epilogue res1 = {0, tw->act, x, b->ls1}, act = {1, tw->act, NULL, NULL},
                res2 = {0, tw->act, x, b->ls2};
    oc_layernorm(x, bf->h, rows, D, b->ln1_w, b->ln1_b, tw->eps, nth);
    if (!kv) {
        linear(bf->h, rows, &b->in_w, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++) {
            const float *q = bf->qkv + s * T * 3 * D;
            attend(q, 3 * D, q + D, 3 * D, q + 2 * D, 3 * D, bf->o + s * T * D, D, T, T, H,
                   D / H, causal, kvalid ? kvalid + s * T : NULL, bf->p);
        }
    } else {
        oc_weight wq = rows_of(&b->in_w, 0, D);
        linear(bf->h, rows, &wq, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++)
            attend(bf->qkv + s * T * D, D, kv, 2 * D, kv + D, 2 * D, bf->o + s * T * D, D, T, Tk,
                   H, D / H, 0, NULL, bf->p);
    }
    linear(bf->o, rows, &b->out_w, b->out_b, bf->h, &res1, nth, bf->qs);
    oc_layernorm(x, bf->h, rows, D, b->ln2_w, b->ln2_b, tw->eps, nth);
    linear(bf->h, rows, &b->fc_w, b->fc_b, bf->f, &act, nth, bf->qs);
    linear(bf->f, rows, &b->proj_w, b->proj_b, bf->h, &res2, nth, bf->qs);
}

/* =============================================================================================
 * AttentionalPooler
 */
oclip_status oc_coca_attn_pool(const oclip_model *m, const float *x, size_t n, size_t T,
                               size_t nq, float *out, oclip_error *err) {
    const oc_coca *c = m->coca;
    size_t D = (size_t)m->vis.tw.D, E = (size_t)m->E, H = (size_t)c->pool_heads;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    float eps = m->vis.tw.eps;
    uint64_t total;
    if (oc_mul_overflow_u64(n * T, D + 2 * E, &total) ||
        oc_add_overflow_u64(total, 2 * nq * E + T + 1, &total) ||
        total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "attentional pool activations too large");
    float *buf = malloc((size_t)total * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (attentional pool)");
    float *h = buf, *k = h + n * T * D, *v = k + n * T * E, *q = v + n * T * E, *o = q + nq * E,
          *p = o + nq * E;
    /* keys and values: ln_k(x) through k_proj / v_proj (in_proj_bias [q; k; v]) */
    oc_layernorm(x, h, n * T, D, c->ln_k_w, c->ln_k_b, eps, nth);
    oc_gemm(h, n * T, &c->pk, c->pin_b + E, k, nth);
    oc_gemm(h, n * T, &c->pv, c->pin_b + 2 * E, v, nth);
    /* queries: ln_q(query) through q_proj, the same for every image */
    oc_layernorm(c->query, o, nq, E, c->ln_q_w, c->ln_q_b, eps, nth);
    oc_gemm(o, nq, &c->pq, c->pin_b, q, nth);
    for (size_t b = 0; b < n; b++) {
        attend(q, E, k + b * T * E, E, v + b * T * E, E, o, E, nq, T, H, E / H, 0, NULL, p);
        oc_gemm(o, nq, &c->pout, c->pout_b, out + b * nq * E, nth);
    }
    free(buf);
    return OCLIP_OK;
}

/* =============================================================================================
 * The text tower with the appended CLS embedding
 */
oclip_status oc_coca_text(const oclip_model *m, const int64_t *tokens, size_t n, size_t L,
                          size_t stride, float *pooled, float *tok, oclip_error *err) {
    const oc_txt_tower *t = &m->txt;
    const oc_coca *c = m->coca;
    size_t D = (size_t)t->tw.D, M = (size_t)t->tw.M, T = L + 1, E = (size_t)m->E;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    if (T > (size_t)t->ctx + 1)
        return oc_err_set(err, OCLIP_E_ARG, "CoCa text of %zu tokens: the tower has %d "
                          "positions (context_length + the CLS)", L, t->ctx + 1);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < L; j++)
            if (tokens[i * stride + j] < 0 || tokens[i * stride + j] >= t->vocab)
                return oc_err_set(err, OCLIP_E_ARG, "text %zu, position %zu: token id %lld "
                                  "outside the vocabulary [0, %d)", i, j,
                                  (long long)tokens[i * stride + j], t->vocab);
    uint64_t xs;
    if (oc_mul_overflow_u64(n * T, D + 1, &xs) || xs > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "text activations too large");
    float *x = malloc((size_t)xs * sizeof(float));
    if (!x) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (text activations)");
    unsigned char *kvalid = (unsigned char *)(x + n * T * D);
    blk_buf bf = {0};
    oclip_status s = buf_get(&bf, n * T, D, M, T, tower_q8(&t->tw), err);
    if (s) {
        free(x);
        return s;
    }
    for (size_t b = 0; b < n; b++) {
        const int64_t *row = tokens + b * stride;
        for (size_t j = 0; j < T; j++) {
            float *xr = x + (b * T + j) * D;
            if (j < L) oc_load_f32(xr, t->tok_emb, t->tok_dtype, (size_t)row[j] * D, D);
            else memcpy(xr, c->cls_emb, D * sizeof(float));
            for (size_t e = 0; e < D; e++) xr[e] += t->pos[j * D + e];
            /* the legacy CLS mask: [cls_valid, text != pad] (key 0 always, key j: token j-1) */
            kvalid[b * T + j] = j == 0 || row[j - 1] != c->pad_id;
        }
    }
    for (int l = 0; l < t->tw.layers; l++)
        block(&t->tw, &t->tw.blocks[l], x, n, T, t->tw.causal, kvalid, NULL, 0, &bf, nth);
    if (tok)
        for (size_t b = 0; b < n; b++) memcpy(tok + b * L * D, x + b * T * D, L * D * sizeof(float));
    if (pooled) {
        /* ln_final of the CLS row, then the projection; bf.h holds the rows */
        for (size_t b = 0; b < n; b++)
            oc_layernorm(x + (b * T + L) * D, bf.h + b * D, 1, D, t->ln_w, t->ln_b, t->tw.eps, 1);
        if (t->has_proj) oc_gemm(bf.h, n, &t->proj, t->proj_b, pooled, nth);
        else memcpy(pooled, bf.h, n * D * sizeof(float));
        (void)E;
    }
    free(bf.h);
    free(x);
    return OCLIP_OK;
}
