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
        oc_linear(bf->h, rows, &b->in_w, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++) {
            const float *q = bf->qkv + s * T * 3 * D;
            attend(q, 3 * D, q + D, 3 * D, q + 2 * D, 3 * D, bf->o + s * T * D, D, T, T, H,
                   D / H, causal, kvalid ? kvalid + s * T : NULL, bf->p);
        }
    } else {
        oc_weight wq = rows_of(&b->in_w, 0, D);
        oc_linear(bf->h, rows, &wq, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++)
            attend(bf->qkv + s * T * D, D, kv, 2 * D, kv + D, 2 * D, bf->o + s * T * D, D, T, Tk,
                   H, D / H, 0, NULL, bf->p);
    }
    oc_linear(bf->o, rows, &b->out_w, b->out_b, bf->h, &res1, nth, bf->qs);
    oc_layernorm(x, bf->h, rows, D, b->ln2_w, b->ln2_b, tw->eps, nth);
    oc_linear(bf->h, rows, &b->fc_w, b->fc_b, bf->f, &act, nth, bf->qs);
    oc_linear(bf->f, rows, &b->proj_w, b->proj_b, bf->h, &res2, nth, bf->qs);
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
    size_t D = (size_t)t->tw.D, M = (size_t)t->tw.M, T = L + 1;
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
    }
    free(bf.h);
    free(x);
    return OCLIP_OK;
}

/* =============================================================================================
 * The image tokens the decoder attends to (CoCa._encode_image's second output)
 */
size_t oc_coca_image_ntok(const oclip_model *m) {
    return m->coca->attn_pool ? (size_t)m->coca->nq - 1 : (size_t)m->vis.gh * (size_t)m->vis.gw;
}

oclip_status oc_coca_image_tokens(const oclip_model *m, const float *pixels, size_t n,
                                  float *out, oclip_error *err) {
    const oc_coca *c = m->coca;
    const oc_vision *v = &m->vis;
    size_t D = (size_t)v->tw.D, E = (size_t)m->E, T = (size_t)v->gh * (size_t)v->gw + 1;
    size_t nq = c->attn_pool ? (size_t)c->nq : 0, W = c->attn_pool ? E : D;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    uint64_t total;
    if (oc_mul_overflow_u64(n, T * D + E + nq * E, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = malloc((size_t)(total ? total : 1) * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image tokens)");
    float *last = buf, *emb = last + n * T * D, *pool = emb + n * E;
    oc_stages st = {.last = last};
    oclip_status s = oc_vit_forward(m, pixels, n, emb, &st, err);
    if (!s) {
        /* attentional pool: x = ln_post(attn_pool(x)), tokens x[:, 1:]; else ln_post(x)[:, 1:] */
        const float *src = last;
        size_t R = T;
        if (c->attn_pool) {
            s = oc_coca_attn_pool(m, last, n, T, nq, pool, err);
            src = pool;
            R = nq;
        }
        for (size_t b = 0; b < n && !s; b++)
            oc_layernorm(src + (b * R + 1) * W, out + b * (R - 1) * W, R - 1, W, v->ln_post_w,
                         v->ln_post_b, v->tw.eps, nth);
    }
    free(buf);
    return s;
}

/* =============================================================================================
 * The text decoder
 */
/* Keys and values of every cross-attention block over the image tokens img [Ti, W]: kv[l]
 * [Ti, 2W] = ln_1_kv(img) through in_proj's k and v rows (computed once per image: they do not
 * depend on the text). */
static oclip_status decoder_kv(const oclip_model *m, const float *img, size_t Ti, float *kv,
                               oclip_error *err) {
    const oc_coca *c = m->coca;
    size_t W = (size_t)c->dec.D;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    float *h = malloc(Ti * W * sizeof(float) + 1);
    if (!h) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (decoder keys)");
    for (int l = 0; l < c->dec.layers; l++) {
        const oc_xblock *x = &c->xattn[l];
        oc_layernorm(img, h, Ti, W, x->lnkv_w, x->lnkv_b, c->dec.eps, nth);
        oc_weight wkv = rows_of(&x->b.in_w, W, 2 * W);
        oc_gemm(h, Ti, &wkv, x->b.in_b + W, kv + (size_t)l * Ti * 2 * W, nth);
    }
    free(h);
    return OCLIP_OK;
}

/* MultimodalTransformer.forward over the text tokens x [n, L, W] (in place) and the image's
 * keys / values kv; logits [n, vocab] of the last position only (ln_final is per position; the
 * causal mask keeps the earlier ones independent of it). */
static oclip_status decoder_last(const oclip_model *m, float *x, size_t n, size_t L,
                                 const float *kv, size_t Ti, float *logits, oclip_error *err) {
    const oc_coca *c = m->coca;
    size_t W = (size_t)c->dec.D;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    if (L > (size_t)c->dec_ctx)
        return oc_err_set(err, OCLIP_E_ARG, "CoCa decoder: %zu tokens, its causal mask has %d",
                          L, c->dec_ctx);
    blk_buf bf;
    oclip_status s = buf_get(&bf, n * L, W, (size_t)c->dec.M, L > Ti ? L : Ti, 0, err);
    if (s) return s;
    for (int l = 0; l < c->dec.layers; l++) {
        block(&c->dec, &c->dec.blocks[l], x, n, L, 1, NULL, NULL, 0, &bf, nth);
        block(&c->dec, &c->xattn[l].b, x, n, L, 0, NULL, kv + (size_t)l * Ti * 2 * W, Ti, &bf,
              nth);
    }
    for (size_t b = 0; b < n; b++)
        oc_layernorm(x + (b * L + L - 1) * W, bf.h + b * W, 1, W, c->dec_ln_w, c->dec_ln_b,
                     c->dec.eps, 1);
    oc_gemm(bf.h, n, &c->dec_proj, NULL, logits, nth);
    free(bf.h);
    return OCLIP_OK;
}

oclip_status oc_coca_decoder_logits(const oclip_model *m, const float *img, size_t Ti,
                                    const float *tok, size_t L, float *logits,
                                    oclip_error *err) {
    const oc_coca *c = m->coca;
    size_t W = (size_t)c->dec.D;
    float *kv = malloc((size_t)c->dec.layers * Ti * 2 * W * sizeof(float) + L * W * sizeof(float) + 1);
    if (!kv) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (decoder)");
    float *x = kv + (size_t)c->dec.layers * Ti * 2 * W;
    oclip_status s = decoder_kv(m, img, Ti, kv, err);
    /* every prefix [0, i] gives position i's logits (the causal mask) */
    for (size_t i = 1; i <= L && !s; i++) {
        memcpy(x, tok, i * W * sizeof(float));
        s = decoder_last(m, x, 1, i, kv, Ti, logits + (i - 1) * (size_t)c->vocab, err);
    }
    free(kv);
    return s;
}

/* =============================================================================================
 * One generation step with key / value caches. Row i of a causal tower depends on rows <= i
 * only, and every operation here is per row (LayerNorm, the GEMMs: each element summed in the
 * same order whatever the rows computed with it; attend: each query over its keys in order), so
 * computing the new last row against the cached keys / values of the earlier ones gives the same
 * bytes as rerunning the whole prefix, which is what OpenCLIP does at every step.
 */
/* One block for the new rows x [n, D] at position pos of each sequence: self-attention over
 * cache [n, S, 2D] (this row's k | v stored at pos first; keys masked by kvalid [n, S] when not
 * NULL), or cross-attention over xkv [Ti, 2D] when xkv is not NULL. */
static void step_block(const oc_tower *tw, const oc_block *b, float *x, size_t n, size_t pos,
                       float *cache, size_t S, const unsigned char *kvalid, const float *xkv,
                       size_t Ti, blk_buf *bf, int nth) {
    size_t D = (size_t)tw->D, H = (size_t)tw->H;
    oc_epilogue res1 = {0, tw->act, x, b->ls1}, act = {1, tw->act, NULL, NULL},
                res2 = {0, tw->act, x, b->ls2};
    oc_layernorm(x, bf->h, n, D, b->ln1_w, b->ln1_b, tw->eps, nth);
    if (!xkv) {
        oc_linear(bf->h, n, &b->in_w, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++) {
            float *c = cache + s * S * 2 * D;
            memcpy(c + pos * 2 * D, bf->qkv + s * 3 * D + D, 2 * D * sizeof(float));
            attend(bf->qkv + s * 3 * D, 3 * D, c, 2 * D, c + D, 2 * D, bf->o + s * D, D, 1,
                   pos + 1, H, D / H, 0, kvalid ? kvalid + s * S : NULL, bf->p);
        }
    } else {
        oc_weight wq = rows_of(&b->in_w, 0, D);
        oc_linear(bf->h, n, &wq, b->in_b, bf->qkv, NULL, nth, bf->qs);
        for (size_t s = 0; s < n; s++)
            attend(bf->qkv + s * D, D, xkv, 2 * D, xkv + D, 2 * D, bf->o + s * D, D, 1, Ti, H,
                   D / H, 0, NULL, bf->p);
    }
    oc_linear(bf->o, n, &b->out_w, b->out_b, bf->h, &res1, nth, bf->qs);
    oc_layernorm(x, bf->h, n, D, b->ln2_w, b->ln2_b, tw->eps, nth);
    oc_linear(bf->h, n, &b->fc_w, b->fc_b, bf->f, &act, nth, bf->qs);
    oc_linear(bf->f, n, &b->proj_w, b->proj_b, bf->h, &res2, nth, bf->qs);
}

/* The next-token logits [n, vocab] of n beams whose ids are in [n, S] (cur of them): the text
 * tower's and the decoder's row cur - 1, against the caches tc [text layers][n, S, 2Wt] and dc
 * [decoder layers][n, S, 2W] of rows 0 .. cur - 2 (filled by the earlier steps). x [n, Wt],
 * kvalid [n, S] scratch. */
static void step_logits(const oclip_model *m, const int64_t *ids, size_t n, size_t S, size_t cur,
                        float *tc, float *dc, const float *xkv, size_t Ti, float *x,
                        unsigned char *kvalid, blk_buf *bf, float *logits) {
    const oc_txt_tower *t = &m->txt;
    const oc_coca *c = m->coca;
    size_t Dt = (size_t)t->tw.D, W = (size_t)c->dec.D, pos = cur - 1;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    for (size_t b = 0; b < n; b++) {
        const int64_t *row = ids + b * S;
        float *xr = x + b * Dt;
        oc_load_f32(xr, t->tok_emb, t->tok_dtype, (size_t)row[pos] * Dt, Dt);
        for (size_t e = 0; e < Dt; e++) xr[e] += t->pos[pos * Dt + e];
        for (size_t j = 0; j < cur; j++) /* the legacy key mask (as oc_coca_text) */
            kvalid[b * S + j] = j == 0 || row[j - 1] != c->pad_id;
    }
    for (int l = 0; l < t->tw.layers; l++)
        step_block(&t->tw, &t->tw.blocks[l], x, n, pos, tc + (size_t)l * n * S * 2 * Dt, S,
                   kvalid, NULL, 0, bf, nth);
    /* the decoder (text width = its width: oc_coca_unsupported) */
    for (int l = 0; l < c->dec.layers; l++) {
        step_block(&c->dec, &c->dec.blocks[l], x, n, pos, dc + (size_t)l * n * S * 2 * W, S,
                   NULL, NULL, 0, bf, nth);
        step_block(&c->dec, &c->xattn[l].b, x, n, pos, NULL, S, NULL,
                   xkv + (size_t)l * Ti * 2 * W, Ti, bf, nth);
    }
    oc_layernorm(x, bf->h, n, W, c->dec_ln_w, c->dec_ln_b, c->dec.eps, nth);
    oc_gemm(bf->h, n, &c->dec_proj, NULL, logits, nth);
}

/* The caches of beam r after a step = those of its source beam src[r], rows [0, rows) */
static void cache_reorder(const float *from, float *to, int layers, size_t n, size_t S,
                          size_t D2, const size_t *src, size_t rows) {
    for (int l = 0; l < layers; l++)
        for (size_t r = 0; r < n; r++)
            memcpy(to + ((size_t)l * n + r) * S * D2, from + ((size_t)l * n + src[r]) * S * D2,
                   rows * D2 * sizeof(float));
}

/* =============================================================================================
 * Beam search (coca_model.py _generate_beamsearch with transformers' BeamSearchScorer)
 */
typedef struct {
    double score;   /* sum of the token scores / length (length_penalty 1.0) */
    size_t len;
    int64_t *ids;   /* [seq_len] */
} hyp;

typedef struct {
    hyp *h;         /* [cap]: BeamHypotheses.beams, in insertion order */
    size_t n, cap;
    double worst;   /* worst_score, 1e9 at first */
} hyp_list;

/* BeamHypotheses.add: keep the `cap` best; on overflow drop the lowest (the first of equal
 * lowest ones, as sorted() of (score, index) pairs does), worst = the next lowest. */
static void hyp_add(hyp_list *l, const int64_t *ids, size_t len, double score) {
    if (!(l->n < l->cap || score > l->worst)) return;
    if (l->n == l->cap) {
        /* append, then delete the lowest of the cap + 1 (the new one is above worst, the
         * current lowest): the first of the equal lowest existing ones */
        size_t lo = 0;
        for (size_t i = 1; i < l->n; i++)
            if (l->h[i].score < l->h[lo].score) lo = i;
        int64_t *buf = l->h[lo].ids;
        memmove(l->h + lo, l->h + lo + 1, (l->n - lo - 1) * sizeof *l->h);
        l->h[l->n - 1] = (hyp){score, len, buf};
        memcpy(buf, ids, len * sizeof *ids);
        double w = l->h[0].score;
        for (size_t i = 1; i < l->n; i++)
            if (l->h[i].score < w) w = l->h[i].score;
        l->worst = w;
        return;
    }
    hyp *e = &l->h[l->n++];
    e->score = score;
    e->len = len;
    memcpy(e->ids, ids, len * sizeof *ids);
    if (score < l->worst) l->worst = score;
}

/* top 2 * gs of next [gs * V] (value desc, index asc on ties) */
static void topk(const float *next, size_t count, size_t k, float *val, size_t *idx) {
    size_t got = 0;
    for (size_t i = 0; i < count; i++) {
        float s = next[i];
        if (got == k && !(s > val[k - 1])) continue;
        size_t p = got < k ? got++ : k - 1;
        while (p > 0 && s > val[p - 1]) {
            val[p] = val[p - 1];
            idx[p] = idx[p - 1];
            p--;
        }
        val[p] = s;
        idx[p] = i;
    }
}

oclip_status oc_coca_caption(const oclip_model *m, const float *pixels, int num_beams,
                             int groups, int seq_len, int min_len, double rep, int64_t sot,
                             int64_t eos, int64_t *ids, size_t *n_ids, oclip_error *err) {
    const oc_coca *c = m->coca;
    size_t NB = (size_t)num_beams, G = (size_t)groups, gs = NB / G, S = (size_t)seq_len;
    size_t V = (size_t)c->vocab, W = (size_t)c->dec.D, Ti = oc_coca_image_ntok(m);
    size_t Wt = (size_t)m->txt.tw.D;
    int64_t pad = c->pad_id;
    oclip_status s = OCLIP_OK;
    /* memory: image tokens, their keys / values, logits [NB, V], scores [gs * V], ids [NB, S]
     * x 2, hypotheses G * gs * S */
    /* + the caches (text and decoder, two of each for the reordering), the step's rows */
    size_t tcs = (size_t)m->txt.tw.layers * NB * S * 2 * Wt, dcs = (size_t)c->dec.layers * NB * S * 2 * W;
    size_t fl = Ti * W + (size_t)c->dec.layers * Ti * 2 * W + NB * V + gs * V +
                2 * tcs + 2 * dcs + NB * Wt + (NB * S + 3) / 4;
    blk_buf bf = {0};
    float *fb = malloc(fl * sizeof(float));
    int64_t *ib = malloc((2 * NB * S + G * gs * S) * sizeof(int64_t));
    hyp *hb = malloc(G * gs * sizeof(hyp));
    hyp_list *hl = malloc(G * sizeof *hl);
    unsigned char *done = calloc(G, 1);
    float *bscore = malloc(NB * sizeof(float)), *nbs = malloc(2 * NB * sizeof(float));
    size_t *nidx = malloc(2 * NB * sizeof(size_t)), *src = malloc(NB * sizeof(size_t));
    int64_t *cur_tok = malloc(NB * sizeof(int64_t));
    if (!fb || !ib || !hb || !hl || !done || !bscore || !nbs || !nidx || !src || !cur_tok) {
        s = oc_err_set(err, OCLIP_E_NOMEM, "out of memory (caption)");
        goto out;
    }
    float *img = fb, *kv = img + Ti * W, *logits = kv + (size_t)c->dec.layers * Ti * 2 * W,
          *next = logits + NB * V, *tc = next + gs * V,
          *tc2 = tc + tcs, *dc = tc2 + tcs, *dc2 = dc + dcs, *xrow = dc2 + dcs;
    unsigned char *kvalid = (unsigned char *)(xrow + NB * Wt);
    size_t Mx = (size_t)(m->txt.tw.M > c->dec.M ? m->txt.tw.M : c->dec.M);
    if ((s = buf_get(&bf, NB, Wt, Mx, (S > Ti ? S : Ti), tower_q8(&m->txt.tw), err))) goto out;
    int64_t *in = ib, *in2 = ib + NB * S;
    for (size_t g = 0; g < G; g++) {
        hl[g] = (hyp_list){hb + g * gs, 0, gs, 1e9};
        for (size_t i = 0; i < gs; i++) hb[g * gs + i].ids = ib + 2 * NB * S + (g * gs + i) * S;
    }
    if ((s = oc_coca_image_tokens(m, pixels, 1, img, err))) goto out;
    if ((s = decoder_kv(m, img, Ti, kv, err))) goto out;
    for (size_t r = 0; r < NB; r++) {
        in[r * S] = sot;
        /* the first beam of each group starts at 0, the others at -1e9 */
        bscore[r] = r % gs == 0 ? 0.0f : -1e9f;
    }
    size_t cur = 1;
    for (;;) {
        /* logits of every beam's next token: the text tower's tokens, then the decoder */
        step_logits(m, in, NB, S, cur, tc, dc, kv, Ti, xrow, kvalid, &bf, logits);
        for (size_t g = 0; g < G; g++) {
            size_t g0 = g * gs;
            /* logits processors, then + the beam's score: next [gs, V] */
            for (size_t i = 0; i < gs; i++) {
                float *row = next + i * V;
                memcpy(row, logits + (g0 + i) * V, V * sizeof(float));
                if (cur < (size_t)min_len) row[eos] = -INFINITY; /* MinLengthLogitsProcessor */
                if (rep != 1.0) /* RepetitionPenaltyLogitsProcessor (once per distinct id) */
                    for (size_t j = 0; j < cur; j++) {
                        int64_t t = in[(g0 + i) * S + j];
                        int seen = 0;
                        for (size_t q = 0; q < j && !seen; q++) seen = in[(g0 + i) * S + q] == t;
                        if (seen) continue;
                        float sc = row[t];
                        row[t] = sc < 0 ? (float)(sc * (float)rep) : (float)(sc / (float)rep);
                    }
                for (size_t v = 0; v < V; v++) row[v] = row[v] + bscore[g0 + i];
            }
            topk(next, gs * V, 2 * gs, nbs, nidx);
            /* BeamSearchScorer.process */
            if (done[g]) {
                for (size_t i = 0; i < gs; i++) {
                    bscore[g0 + i] = 0;
                    cur_tok[g0 + i] = pad;
                    src[g0 + i] = g0;
                }
            } else {
                size_t k = 0;
                for (size_t r = 0; r < 2 * gs && k < gs; r++) {
                    size_t b = nidx[r] / V;
                    int64_t t = (int64_t)(nidx[r] % V);
                    if (t == eos) {
                        if (r >= gs) continue;
                        hyp_add(&hl[g], in + (g0 + b) * S, cur, (double)nbs[r] / (double)(cur + 1));
                        continue;
                    }
                    bscore[g0 + k] = nbs[r];
                    cur_tok[g0 + k] = t;
                    src[g0 + k] = g0 + b;
                    k++;
                }
                if (k < gs) {
                    s = oc_err_set(err, OCLIP_E_ARG, "caption: fewer than %zu beams left", gs);
                    goto out;
                }
                /* BeamHypotheses.is_done (early_stopping False, length_penalty 1.0) */
                if (hl[g].n >= gs && hl[g].worst >= (double)nbs[0] / (double)(cur + 1)) done[g] = 1;
            }
        }
        /* reorder the beams, append their tokens */
        for (size_t r = 0; r < NB; r++) {
            memcpy(in2 + r * S, in + src[r] * S, cur * sizeof(int64_t));
            in2[r * S + cur] = cur_tok[r];
        }
        int64_t *t = in;
        in = in2;
        in2 = t;
        cache_reorder(tc, tc2, m->txt.tw.layers, NB, S, 2 * Wt, src, cur);
        cache_reorder(dc, dc2, c->dec.layers, NB, S, 2 * W, src, cur);
        float *f = tc;
        tc = tc2;
        tc2 = f;
        f = dc;
        dc = dc2;
        dc2 = f;
        cur++;
        int all = 1;
        for (size_t g = 0; g < G; g++) all &= done[g];
        if (all || cur >= S) break;
    }
    /* BeamSearchScorer.finalize: the unfinished groups' beams join their hypotheses; the best of
     * all (the last of equal best ones in group order), + eos when shorter than seq_len */
    for (size_t g = 0; g < G; g++)
        for (size_t i = 0; !done[g] && i < gs; i++)
            hyp_add(&hl[g], in + (g * gs + i) * S, cur, (double)bscore[g * gs + i] / (double)cur);
    const hyp *best = NULL;
    for (size_t g = 0; g < G; g++)
        for (size_t i = 0; i < hl[g].n; i++)
            if (!best || hl[g].h[i].score >= best->score) best = &hl[g].h[i];
    if (!best) {
        s = oc_err_set(err, OCLIP_E_ARG, "caption: no hypothesis");
        goto out;
    }
    memcpy(ids, best->ids, best->len * sizeof(int64_t));
    *n_ids = best->len;
    if (best->len < S) ids[(*n_ids)++] = eos;
out:
    free(bf.h);
    free(fb);
    free(ib);
    free(hb);
    free(hl);
    free(done);
    free(bscore);
    free(nbs);
    free(nidx);
    free(src);
    free(cur_tok);
    return s;
}
