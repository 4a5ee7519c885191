/*
 * text.c — the native text tower (open_clip model.py CLIP.encode_text).
 *
 * Computing only up to the last EOT. Under the causal mask, position t attends to positions
 * <= t only, so the pooled row (the EOT for 'argmax'/'eos', position 0 for 'first') does not
 * depend on anything after it. A batch therefore runs positions [0, T') where T' is one past
 * the largest pooled position in the batch: "a photo of a cat" (7 tokens) costs 7 positions,
 * not 77. The pooled rows are the same computation as OpenCLIP's on the full context (each
 * dot product and softmax sees the same terms; softmax over the masked tail adds exact zeros),
 * so results agree with the full computation to float rounding (the test checks both). With
 * no_causal_mask or pool 'last' every position matters and the whole context runs.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/engine.h"

#define TXT_CHUNK 16 /* texts per forward chunk (bounds the activations, changes nothing) */

/* Position whose features are pooled for one row of tokens (text_global_pool). */
static size_t pool_pos(const oc_txt_tower *t, const int64_t *row) {
    size_t best = 0;
    switch (t->pool) {
    case OC_POOL_ARGMAX: /* first position holding the maximum id: the EOT (49407) */
        for (size_t i = 1; i < (size_t)t->ctx; i++)
            if (row[i] > row[best]) best = i;
        return best;
    case OC_POOL_EOS: /* first position == eos_id; 0 when there is none (argmax of all-false) */
        for (size_t i = 0; i < (size_t)t->ctx; i++)
            if (row[i] == t->eos_id) return i;
        return 0;
    case OC_POOL_FIRST: return 0;
    case OC_POOL_LAST: return (size_t)t->ctx - 1;
    }
    return 0;
}

static oclip_status text_forward(const oclip_model *m, const int64_t *tokens, size_t n,
                                 float *out, const oc_stages *st, int full, oclip_error *err) {
    const oc_txt_tower *t = &m->txt;
    size_t D = (size_t)t->tw.D, ctx = (size_t)t->ctx, E = (size_t)m->E;
    int truncate = !full && t->tw.causal && t->pool != OC_POOL_LAST;
    size_t chunk = n < TXT_CHUNK ? n : TXT_CHUNK;
    uint64_t a, total;
    if (oc_mul_overflow_u64(chunk * ctx, D, &a) || oc_add_overflow_u64(a, chunk * D, &total) ||
        total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "text activations too large");
    float *buf = malloc((size_t)(total ? total : 1) * sizeof(float));
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (text activations)");
    float *x = buf, *pooled = buf + a;
    if (st) /* stage rows past T' stay zero */
        for (int s = 0; s < 3; s++) {
            float *p = s == 0 ? st->embed : s == 1 ? st->block0 : st->last;
            if (p) memset(p, 0, n * ctx * D * sizeof(float));
        }
    oclip_status s = OCLIP_OK;
    for (size_t i0 = 0; i0 < n && !s; i0 += chunk) {
        size_t k = n - i0 < chunk ? n - i0 : chunk;
        const int64_t *tok = tokens + i0 * ctx;
        size_t pos[TXT_CHUNK], T = 1;
        for (size_t b = 0; b < k; b++) {
            pos[b] = pool_pos(t, tok + b * ctx);
            if (pos[b] + 1 > T) T = pos[b] + 1;
        }
        if (!truncate) T = ctx;
        /* 1-2. token embedding rows (converted from the stored dtype) + positions */
        for (size_t b = 0; b < k; b++)
            for (size_t j = 0; j < T; j++) {
                float *xr = x + (b * T + j) * D;
                oc_load_f32(xr, t->tok_emb, t->tok_dtype, (size_t)tok[b * ctx + j] * D, D);
                for (size_t e = 0; e < D; e++) xr[e] += t->pos[j * D + e];
            }
        float *tmp_b0 = NULL, *tmp_last = NULL;
        if (st && st->embed)
            for (size_t b = 0; b < k; b++)
                memcpy(st->embed + ((i0 + b) * ctx) * D, x + b * T * D, T * D * sizeof(float));
        /* 3. the blocks; stage copies are [k, T, D] and are spread to [k, ctx, D] below */
        if (st && (st->block0 || st->last)) {
            tmp_b0 = malloc(2 * k * T * D * sizeof(float));
            if (!tmp_b0) {
                s = oc_err_set(err, OCLIP_E_NOMEM, "out of memory (text stages)");
                break;
            }
            tmp_last = tmp_b0 + k * T * D;
        }
        s = oc_tower_run(&t->tw, x, k, T, __atomic_load_n(&m->threads, __ATOMIC_RELAXED), tmp_b0,
                           tmp_last, err);
        for (size_t b = 0; tmp_b0 && !s && b < k; b++) {
            if (st->block0)
                memcpy(st->block0 + (i0 + b) * ctx * D, tmp_b0 + b * T * D, T * D * sizeof(float));
            if (st->last)
                memcpy(st->last + (i0 + b) * ctx * D, tmp_last + b * T * D, T * D * sizeof(float));
        }
        free(tmp_b0);
        if (s) break;
        /* 4-5. ln_final on the pooled row only (LayerNorm is per position) */
        for (size_t b = 0; b < k; b++) {
            float *pb = pooled + b * D;
            memcpy(pb, x + (b * T + pos[b]) * D, D * sizeof(float));
            oc_layernorm(pb, pb, 1, D, t->ln_w, t->ln_b, t->tw.eps, 1);
        }
        if (st && st->pooled) memcpy(st->pooled + i0 * D, pooled, k * D * sizeof(float));
        /* 6. projection: x @ text_projection, nn.Linear (proj_bias), or none (E == D) */
        if (t->has_proj)
            oc_gemm(pooled, k, &t->proj, t->proj_b, out + i0 * E, __atomic_load_n(&m->threads, __ATOMIC_RELAXED));
        else memcpy(out + i0 * E, pooled, k * D * sizeof(float));
    }
    free(buf);
    return s;
}

oclip_status oc_txt_forward(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                            const oc_stages *st, int full, oclip_error *err) {
    if (m->txt.hf.on) return oc_hf_text_forward(m, tokens, n, out, st, err);
    const oc_txt_tower *t = &m->txt;
    size_t ctx = (size_t)t->ctx;
    /* ids outside the vocabulary would index past token_embedding (torch raises IndexError) */
    for (size_t i = 0; i < n * ctx; i++)
        if (tokens[i] < 0 || tokens[i] >= t->vocab)
            return oc_err_set(err, OCLIP_E_ARG, "text %zu, position %zu: token id %lld outside "
                              "the vocabulary [0, %d)", i / ctx, i % ctx, (long long)tokens[i],
                              t->vocab);
    if (!n) return OCLIP_OK;
    int inplace;
    oclip_status s = oc_model_prepare(m, 1, n * ctx, &inplace, err);
    if (s) return s;
    if (m->coca && m->coca->cls_emb) /* CoCa: the CLS appended, its masks (coca.c) */
        for (size_t i = 0; i < n && !s; i += TXT_CHUNK)
            s = oc_coca_text(m, tokens + i * ctx, n - i < TXT_CHUNK ? n - i : TXT_CHUNK, ctx, ctx,
                             out + i * (size_t)m->E, NULL, err);
    else s = text_forward(m, tokens, n, out, st, full, err);
    oc_model_done(m, 1, inplace);
    return s;
}
