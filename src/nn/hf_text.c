/*
 * hf_text.c — OpenCLIP's HFTextEncoder (open_clip hf_model.py) over a RoBERTa / XLM-RoBERTa
 * encoder as transformers computes it (models/roberta/modeling_roberta.py; XLM-RoBERTa is the
 * same module) or NLLB's M2M100 encoder (models/m2m_100/modeling_m2m_100.py M2M100Encoder), with
 * OpenCLIP's poolers and projection. docs/HF_TEXT.md is the reference.
 *
 *   mask  = tokens != pad_token_id                             (HFTextEncoder.forward)
 *   pos   = cumsum(mask) * mask + pad_token_id                 (create_position_ids_from_input_ids)
 *   x     = LayerNorm(word[tokens] + token_type[0] + position[pos])       (RobertaEmbeddings)
 *   per layer (post-LN, RobertaLayer):
 *     x = LayerNorm(x + dense(attention(query(x), key(x), value(x), keys where mask)))
 *     x = LayerNorm(x + dense_out(gelu(dense_in(x))))                       (exact GELU)
 *   M2M100: x = word[tokens] * embed_scale + sinusoid[pos]; per layer (pre-LN)
 *     x += out_proj(attention(self_attn_layer_norm(x))); x += fc2(relu(fc1(final_layer_norm(x))))
 *     then x = layer_norm(x); no pooler_output, so cls_pooler reads x[0]
 *   pooled = mean_pooler: sum(x * mask) / sum(mask)
 *            cls_pooler: tanh(pooler.dense(x[0]))           (RobertaPooler; add_pooling_layer)
 *            cls_last_hidden_state_pooler: x[0]
 *   out   = proj(pooled): nn.Identity, Linear(D, E, bias=False), or Linear(D, (D+E)//2) - GELU -
 *           Linear((D+E)//2, E), both without bias ('mlp')
 *
 * Computing only the positions that matter. The attention mask removes the pad positions as
 * keys: no position's output depends on a pad position's, and the pooled result reads the
 * non-pad positions only (mean) or position 0 (cls). So each text runs only its non-pad
 * positions (plus position 0 for the cls poolers, even when it holds the pad id), with their
 * position ids from the whole row: "a photo of a cat" costs 7 positions, not 77, and every
 * pooled value is the same computation as transformers' on the full row (the masked keys add
 * exact zeros to the softmax). A text whose every token is the pad id has an empty mask
 * (OpenCLIP's mean divides by zero) and is refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define HF_CHUNK 16 /* texts per forward chunk (bounds the activations, changes nothing) */

/* Masked multi-head attention over the chunk's compacted rows: one item = (text, head). */
typedef struct {
    const float *q, *k, *v; /* [R, D] each */
    float *o;               /* [R, D] */
    const size_t *first;    /* first row of text b; first[k] = R */
    const unsigned char *key; /* row r is a key (not a pad token) */
    size_t D, H, hd;
    float *scores;          /* per thread: [OC_MAX_TOKENS] */
} attn_ctx;

static void attn_range(void *vctx, size_t i0, size_t i1, int t) {
    const attn_ctx *c = vctx;
    size_t D = c->D, hd = c->hd;
    float *sc = c->scores + (size_t)t * OC_MAX_TOKENS;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t it = i0; it < i1; it++) {
        size_t b = it / c->H, h = it % c->H, r0 = c->first[b], r1 = c->first[b + 1];
        for (size_t i = r0; i < r1; i++) {
            const float *qi = c->q + i * D + h * hd;
            float mx = -INFINITY;
            for (size_t j = r0; j < r1; j++) {
                if (!c->key[j]) continue;
                const float *kj = c->k + j * D + h * hd;
                float d = 0;
                for (size_t e = 0; e < hd; e++) d += qi[e] * kj[e];
                sc[j - r0] = d * scale;
                if (sc[j - r0] > mx) mx = sc[j - r0];
            }
            float sum = 0;
            for (size_t j = r0; j < r1; j++)
                if (c->key[j]) sum += sc[j - r0] = expf(sc[j - r0] - mx);
            float *oi = c->o + i * D + h * hd;
            for (size_t e = 0; e < hd; e++) oi[e] = 0;
            for (size_t j = r0; j < r1; j++) {
                if (!c->key[j]) continue;
                const float *vj = c->v + j * D + h * hd;
                float p = sc[j - r0] / sum;
                for (size_t e = 0; e < hd; e++) oi[e] += p * vj[e];
            }
        }
    }
}

/* x [R, D] += y, then LayerNorm in place */
static void add_norm(float *x, const float *y, size_t R, size_t D, const float *w, const float *b,
                     float eps, int nth) {
    for (size_t i = 0; i < R * D; i++) x[i] = y[i] + x[i];
    oc_layernorm(x, x, R, D, w, b, eps, nth);
}

typedef struct {
    float *x, *q, *k, *v, *a, *f; /* [R, D] x5, [R, M] */
    float *pooled, *hidden;       /* [chunk, D], [chunk, (D+E)/2] */
    float *scores;                /* [nth, OC_MAX_TOKENS] */
    void *qs;                     /* int8 activation scratch, or NULL */
    size_t *first;
    unsigned char *key;
    size_t *posn;                 /* the position (column) of each compacted row */
    int nth;                      /* threads (the scores' slots) */
} hf_buf;

static oclip_status hf_chunk(const oclip_model *m, const int64_t *tok, size_t k, size_t i0,
                             float *out, const oc_stages *st, hf_buf *bf, oclip_error *err) {
    const oc_hf_text *h = &m->txt.hf;
    size_t D = (size_t)h->D, M = (size_t)h->M, ctx = (size_t)m->txt.ctx, E = (size_t)m->E;
    int nth = bf->nth, cls = h->pooler != OC_HF_MEAN;
    /* 1. the rows computed, and their embeddings */
    size_t R = 0;
    for (size_t b = 0; b < k; b++) {
        const int64_t *row = tok + b * ctx;
        bf->first[b] = R;
        int64_t count = 0;
        for (size_t j = 0; j < ctx; j++) {
            int is_key = row[j] != h->pad_id;
            count += is_key;
            if (!is_key && !(cls && j == 0)) continue;
            /* create_position_ids_from_input_ids: cumsum(mask) * mask + padding_idx */
            size_t p = (size_t)(count * is_key + h->pad_id);
            float *xr = bf->x + R * D;
            oc_load_f32(xr, h->tok_emb, h->tok_dtype, (size_t)row[j] * D, D);
            if (h->m2m) /* M2M100ScaledWordEmbedding, + the sinusoidal position */
                for (size_t e = 0; e < D; e++) xr[e] = xr[e] * h->emb_scale + h->pos[p * D + e];
            else
                for (size_t e = 0; e < D; e++) xr[e] = (xr[e] + h->type0[e]) + h->pos[p * D + e];
            bf->key[R] = (unsigned char)is_key;
            bf->posn[R] = j;
            R++;
        }
        if (!count)
            return oc_err_set(err, OCLIP_E_ARG, "text %zu: every token is the pad id %d: the "
                              "attention mask is empty (OpenCLIP's mean over it divides by zero)",
                              i0 + b, h->pad_id);
    }
    bf->first[k] = R;
    if (!h->m2m) oc_layernorm(bf->x, bf->x, R, D, h->ln_w, h->ln_b, h->eps, nth);
    if (st && st->embed)
        for (size_t r = 0, b = 0; r < R; r++) {
            while (r >= bf->first[b + 1]) b++;
            memcpy(st->embed + ((i0 + b) * ctx + bf->posn[r]) * D, bf->x + r * D,
                   D * sizeof(float));
        }
    /* 2. the layers */
    attn_ctx ac = {bf->q, bf->k, bf->v, bf->a, bf->first, bf->key, D, (size_t)h->H,
                   D / (size_t)h->H, bf->scores};
    for (int l = 0; l < h->layers && h->m2m; l++) {
        /* M2M100EncoderLayer (pre-LN): x += out_proj(attention(self_attn_layer_norm(x))),
         * x += fc2(act(fc1(final_layer_norm(x)))); the attention reads the normalized rows
         * from bf->a and writes its output there */
        const oc_weight *w = h->w + (size_t)l * OC_HF_PER_LAYER;
        const oc_hf_layer *L = &h->l[l];
        oc_layernorm(bf->x, bf->a, R, D, L->ln1_w, L->ln1_b, h->eps, nth);
        oc_linear(bf->a, R, &w[OC_HF_Q], L->b[OC_HF_Q], bf->q, NULL, nth, bf->qs);
        oc_linear(bf->a, R, &w[OC_HF_K], L->b[OC_HF_K], bf->k, NULL, nth, bf->qs);
        oc_linear(bf->a, R, &w[OC_HF_V], L->b[OC_HF_V], bf->v, NULL, nth, bf->qs);
        oc_parallel_chunks(nth, k * (size_t)h->H, 0, 1, attn_range, &ac);
        oc_linear(bf->a, R, &w[OC_HF_O], L->b[OC_HF_O], bf->q, NULL, nth, bf->qs);
        for (size_t i = 0; i < R * D; i++) bf->x[i] = bf->x[i] + bf->q[i];
        oc_layernorm(bf->x, bf->a, R, D, L->ln2_w, L->ln2_b, h->eps, nth);
        oc_linear(bf->a, R, &w[OC_HF_FC], L->b[OC_HF_FC], bf->f, NULL, nth, bf->qs);
        if (h->relu)
            for (size_t i = 0; i < R * M; i++) bf->f[i] = bf->f[i] > 0 ? bf->f[i] : 0;
        else
            oc_activate(bf->f, R * M, OC_ACT_GELU, nth);
        oc_linear(bf->f, R, &w[OC_HF_OUT], L->b[OC_HF_OUT], bf->q, NULL, nth, bf->qs);
        for (size_t i = 0; i < R * D; i++) bf->x[i] = bf->x[i] + bf->q[i];
    }
    if (h->m2m) oc_layernorm(bf->x, bf->x, R, D, h->ln_w, h->ln_b, h->eps, nth);
    for (int l = 0; l < h->layers && !h->m2m; l++) {
        const oc_weight *w = h->w + (size_t)l * OC_HF_PER_LAYER;
        const oc_hf_layer *L = &h->l[l];
        oc_linear(bf->x, R, &w[OC_HF_Q], L->b[OC_HF_Q], bf->q, NULL, nth, bf->qs);
        oc_linear(bf->x, R, &w[OC_HF_K], L->b[OC_HF_K], bf->k, NULL, nth, bf->qs);
        oc_linear(bf->x, R, &w[OC_HF_V], L->b[OC_HF_V], bf->v, NULL, nth, bf->qs);
        oc_parallel_chunks(nth, k * (size_t)h->H, 0, 1, attn_range, &ac);
        oc_linear(bf->a, R, &w[OC_HF_O], L->b[OC_HF_O], bf->q, NULL, nth, bf->qs);
        add_norm(bf->x, bf->q, R, D, L->ln1_w, L->ln1_b, h->eps, nth);
        oc_linear(bf->x, R, &w[OC_HF_FC], L->b[OC_HF_FC], bf->f, NULL, nth, bf->qs);
        oc_activate(bf->f, R * M, OC_ACT_GELU, nth);
        oc_linear(bf->f, R, &w[OC_HF_OUT], L->b[OC_HF_OUT], bf->q, NULL, nth, bf->qs);
        add_norm(bf->x, bf->q, R, D, L->ln2_w, L->ln2_b, h->eps, nth);
    }
    if (st && st->last)
        for (size_t r = 0, b = 0; r < R; r++) {
            while (r >= bf->first[b + 1]) b++;
            memcpy(st->last + ((i0 + b) * ctx + bf->posn[r]) * D, bf->x + r * D,
                   D * sizeof(float));
        }
    /* 3. the pooler */
    for (size_t b = 0; b < k; b++) {
        float *pb = bf->pooled + b * D;
        size_t r0 = bf->first[b], r1 = bf->first[b + 1];
        if (cls) { /* position 0 is the text's first row */
            memcpy(pb, bf->x + r0 * D, D * sizeof(float));
            continue;
        }
        /* MeanPooler: (x * mask).sum(1) / mask.sum(-1) */
        float cnt = 0;
        for (size_t e = 0; e < D; e++) pb[e] = 0;
        for (size_t r = r0; r < r1; r++) {
            cnt += 1;
            for (size_t e = 0; e < D; e++) pb[e] += bf->x[r * D + e];
        }
        for (size_t e = 0; e < D; e++) pb[e] /= cnt;
    }
    if (h->pooler == OC_HF_CLS) { /* RobertaPooler: tanh(dense(h[:, 0])) */
        const oc_weight *pw = &h->w[h->nblock];
        oc_gemm(bf->pooled, k, pw, h->pool_b, bf->a, nth);
        for (size_t i = 0; i < k * D; i++) bf->pooled[i] = tanhf(bf->a[i]);
    }
    if (st && st->pooled) memcpy(st->pooled + i0 * D, bf->pooled, k * D * sizeof(float));
    /* 4. the projection */
    const oc_weight *pj = &h->w[h->nblock + h->n_pool];
    float *o = out + i0 * E;
    if (h->proj == OC_HF_PROJ_NONE) {
        memcpy(o, bf->pooled, k * D * sizeof(float));
    } else if (h->proj == OC_HF_PROJ_LINEAR) {
        oc_gemm(bf->pooled, k, pj, NULL, o, nth);
    } else {
        oc_gemm(bf->pooled, k, &pj[0], NULL, bf->hidden, nth);
        oc_activate(bf->hidden, k * pj[0].n, OC_ACT_GELU, nth);
        oc_gemm(bf->hidden, k, &pj[1], NULL, o, nth);
    }
    return OCLIP_OK;
}

static oclip_status hf_forward(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                               const oc_stages *st, oclip_error *err) {
    const oc_hf_text *h = &m->txt.hf;
    size_t D = (size_t)h->D, M = (size_t)h->M, ctx = (size_t)m->txt.ctx;
    size_t chunk = n < HF_CHUNK ? n : HF_CHUNK, rows = chunk * ctx;
    int nth = m->threads > 0 ? m->threads : 1;
    if (nth > OC_MAX_THREADS) nth = OC_MAX_THREADS;
    size_t hidden = h->proj == OC_HF_PROJ_MLP ? h->w[h->nblock + h->n_pool].n : 0;
    int q8 = 0;
    for (size_t i = 0; i < h->nblock && !q8; i++) q8 = h->w[i].pdtype == OCLIP_DTYPE_I8;
    size_t qbytes = q8 ? oc_gemm_i8_scratch(rows, D > M ? D : M) : 0;
    /* floats: x q k v a [rows, D], f [rows, M], pooled [chunk, D], hidden [chunk, hidden],
     * scores [nth, OC_MAX_TOKENS]; sizes from a validated config, products still checked */
    uint64_t a, b, c, total;
    if (oc_mul_overflow_u64(rows, 5 * D + M, &a) ||
        oc_mul_overflow_u64(chunk, D + hidden, &b) ||
        oc_mul_overflow_u64((uint64_t)nth, OC_MAX_TOKENS, &c) || oc_add_overflow_u64(a, b, &total) ||
        oc_add_overflow_u64(total, c, &total) || total > SIZE_MAX / sizeof(float) / 2 ||
        qbytes > SIZE_MAX / 4)
        return oc_err_set(err, OCLIP_E_NOMEM, "text activations too large");
    size_t fbytes = (size_t)total * sizeof(float);
    size_t ibytes = (chunk + 1 + rows) * sizeof(size_t) + rows;
    char *mem = malloc(fbytes + qbytes + ibytes + 16);
    if (!mem) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (text activations)");
    hf_buf bf;
    float *f = (float *)mem;
    bf.x = f, bf.q = f + rows * D, bf.k = bf.q + rows * D, bf.v = bf.k + rows * D;
    bf.a = bf.v + rows * D, bf.f = bf.a + rows * D, bf.pooled = bf.f + rows * M;
    bf.hidden = bf.pooled + chunk * D, bf.scores = bf.hidden + chunk * hidden;
    bf.qs = q8 ? mem + fbytes : NULL;
    bf.nth = nth;
    size_t *z = (size_t *)(mem + ((fbytes + qbytes + 15) & ~(size_t)15));
    bf.first = z, bf.posn = z + chunk + 1;
    bf.key = (unsigned char *)(bf.posn + rows);
    if (st)
        for (int s = 0; s < 2; s++) {
            float *p = s == 0 ? st->embed : st->last;
            if (p) memset(p, 0, n * ctx * D * sizeof(float));
        }
    oclip_status s = OCLIP_OK;
    for (size_t i0 = 0; i0 < n && !s; i0 += chunk) {
        size_t k = n - i0 < chunk ? n - i0 : chunk;
        s = hf_chunk(m, tokens + i0 * ctx, k, i0, out, st, &bf, err);
    }
    free(mem);
    return s;
}

oclip_status oc_hf_text_forward(const oclip_model *m, const int64_t *tokens, size_t n,
                                float *out, const oc_stages *st, oclip_error *err) {
    const oc_hf_text *h = &m->txt.hf;
    size_t ctx = (size_t)m->txt.ctx;
    /* ids outside the vocabulary would index past word_embeddings (torch raises IndexError) */
    for (size_t i = 0; i < n * ctx; i++)
        if (tokens[i] < 0 || tokens[i] >= h->vocab)
            return oc_err_set(err, OCLIP_E_ARG, "text %zu, position %zu: token id %lld outside "
                              "the vocabulary [0, %d)", i / ctx, i % ctx, (long long)tokens[i],
                              h->vocab);
    if (!n) return OCLIP_OK;
    int inplace;
    oclip_status s = oc_model_prepare(m, 1, n * ctx, &inplace, err);
    if (s) return s;
    s = hf_forward(m, tokens, n, out, st, err);
    oc_model_done(m, 1, inplace);
    return s;
}
