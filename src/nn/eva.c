/*
 * eva.c — the timm EVA02 CLIP image tower: timm Eva (models/eva.py forward_features /
 * forward_head) as OpenCLIP's TimmModel runs it with timm_pool 'token' and timm_proj null
 * (open_clip timm_model.py: the trunk's head Linear(width, embed_dim) is the projection).
 * docs/EVA.md is the reference.
 *   1. patch_embed (conv with bias), [cls_token; patches] + pos_embed; norm_pre is identity
 *   2. EvaBlocks (nn/eva.h): EVA02 B/L: rotary position embedding on q and k of the patch
 *      tokens (not the class token), an inner LayerNorm on the attention output before
 *      attn.proj, SwiGLU MLP with a LayerNorm on its hidden units; EVA01: fused qkv, GELU MLP;
 *      EVA02-E: the same with post-norm blocks; no LayerScale
 *   3. trunk.norm over every token, the class token (fc_norm identity), trunk.head
 * The Perception Encoder towers (vit_pe_core_*) are the same Eva with: a patch conv without bias
 * and norm_pre (use_pre_transformer_norm), a class token or none (gigantic), AttentionRope
 * blocks (qkv with one bias, no attn.norm, GELU Mlp), rope on a grid with offset and 'xy'
 * indexing, LayerNorm eps 1e-5, and trunk.attn_pool (AttentionPoolLatent over every token,
 * oc_map_pool) instead of the class token before trunk.head.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/eva.h"

#define EVA_CHUNK 8 /* images per forward chunk: bounds the activations, changes nothing */

void oc_eva_rope_table(int gh, int gw, int hd, int ref, int xy, float off, float *sin_out,
                       float *cos_out) {
    /* freq_bands(hd / 4, temperature 10000, step 1): 1 / 10000 ** (j / nb), in float32 as torch;
     * _build_grid 'index': t = (arange(s) + grid_offset) / s * ref per axis (float32); meshgrid
     * 'ij': per token (row-major over the grid) the angles [row * bands, column * bands]; 'xy'
     * (the axes swapped before the meshgrid, the layout still row-major): [column * bands, row *
     * bands]; each repeated twice by _rope_layout (interleaved pairs, rotate_half False) */
    int nb = hd / 4, half = hd / 2;
    for (int r = 0; r < gh; r++)
        for (int c = 0; c < gw; c++) {
            float ty = ((float)r + off) / (float)gh * (float)ref;
            float tx = ((float)c + off) / (float)gw * (float)ref;
            float t0 = xy ? tx : ty, t1 = xy ? ty : tx;
            size_t row = ((size_t)r * (size_t)gw + (size_t)c) * (size_t)half;
            for (int i = 0; i < half; i++) {
                int j = i < nb ? i : i - nb;
                float band = 1.0f / powf(10000.0f, (float)j / (float)nb);
                float a = (i < nb ? t0 : t1) * band;
                sin_out[row + i] = sinf(a);
                cos_out[row + i] = cosf(a);
            }
        }
}

/* apply_rot_embed_cat (half False) on one head's vector of token t (patch t - 1):
 * out[2i] = x[2i] cos - x[2i+1] sin, out[2i+1] = x[2i+1] cos + x[2i] sin */
static void rope_apply(float *x, const float *sn, const float *cs, size_t half) {
    for (size_t i = 0; i < half; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cs[i] + -b * sn[i];
        x[2 * i + 1] = b * cs[i] + a * sn[i];
    }
}

size_t oc_eva_weights(struct oc_eva *e, oc_weight **w) {
    size_t k = 0;
    for (int l = 0; e && l < e->layers; l++) {
        oc_eva_block *b = &e->blocks[l];
        oc_weight *all[7] = {&b->q, &b->k, &b->v, &b->proj, &b->fg, &b->fx, &b->fc2};
        for (int i = 0; i < 7; i++)
            if (all[i]->data) {
                if (w) w[k] = all[i];
                k++;
            }
    }
    return k;
}

void oc_eva_unpack(struct oc_eva *e) {
    for (int l = 0; e && l < e->layers; l++) {
        oc_eva_block *b = &e->blocks[l];
        oc_weight_unpack(&b->q), oc_weight_unpack(&b->k), oc_weight_unpack(&b->v);
        oc_weight_unpack(&b->proj), oc_weight_unpack(&b->fg), oc_weight_unpack(&b->fx);
        oc_weight_unpack(&b->fc2);
    }
}

typedef struct {
    float *patches, *x, *h, *t, *qkv, *o, *g, *u;
    float *pool; /* oc_map_pool's q [D], f [chunk, Mp], scores [T] (PE) */
    void *qs; /* oc_gemm_i8's scratch when the blocks' weights are int8, else NULL */
} eva_buf;

static oclip_status eva_chunk(const oclip_model *m, const float *pixels, size_t n, float *out,
                              const oc_stages *st, size_t first, const eva_buf *bf,
                              oclip_error *err) {
    const oc_vision *v = &m->vis;
    const struct oc_eva *e = v->eva;
    size_t D = (size_t)e->D, M = (size_t)e->M, H = (size_t)e->H, hd = D / H, half = hd / 2;
    size_t npt = (size_t)e->ncls, G = (size_t)v->gh * (size_t)v->gw, T = G + npt, rows = n * T;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED); /* oclip_model_set_threads */
    float *x = bf->x, *h = bf->h, *t = bf->t, *qkv = bf->qkv, *o = bf->o, *g = bf->g, *u = bf->u;

    /* 1. patch_embed as a GEMM over the patches (into h), then [cls; patches] + pos_embed */
    oc_patches(v, pixels, n, bf->patches);
    oc_gemm(bf->patches, n * G, &v->conv, v->conv_b, h, nth);
    for (size_t b = 0; b < n; b++)
        for (size_t tok = 0; tok < T; tok++) {
            const float *src = tok >= npt ? h + (b * G + tok - npt) * D : e->cls;
            float *dst = x + (b * T + tok) * D;
            for (size_t i = 0; i < D; i++) dst[i] = src[i] + v->pos[tok * D + i];
        }
    if (st && st->embed) memcpy(st->embed + first * T * D, x, rows * D * sizeof(float));
    if (e->pre_w) oc_layernorm(x, x, rows, D, e->pre_w, e->pre_b, e->eps, nth); /* norm_pre */

    /* 2. the blocks */
    for (int l = 0; l < e->layers; l++) {
        const oc_eva_block *k = &e->blocks[l];
        /* attention input: norm1(x), or x itself in a post-norm block */
        const float *ain = x;
        if (!e->post_norm) {
            oc_layernorm(x, h, rows, D, k->n1_w, k->n1_b, e->eps, nth);
            ain = h;
        }
        if (e->fused) {
            /* [q; k; v], bias [q_b; 0; v_b] */
            oc_linear(ain, rows, &k->q, k->q_b, qkv, NULL, nth, bf->qs);
        } else {
            /* q, k, v projections into the [q | k | v] rows oc_attention reads */
            const oc_weight *w[3] = {&k->q, &k->k, &k->v};
            const float *bias[3] = {k->q_b, NULL, k->v_b};
            for (size_t j = 0; j < 3; j++) {
                oc_linear(ain, rows, w[j], bias[j], t, NULL, nth, bf->qs);
                for (size_t r = 0; r < rows; r++)
                    memcpy(qkv + r * 3 * D + j * D, t + r * D, D * sizeof(float));
            }
        }
        /* rope on q and k of the patch tokens (not the class token), per head */
        for (size_t r = 0; e->rope_sin && r < rows; r++) {
            size_t tok = r % T;
            if (tok < npt) continue;
            const float *sn = e->rope_sin + (tok - npt) * half;
            const float *cs = e->rope_cos + (tok - npt) * half;
            for (size_t j = 0; j < 2; j++)
                for (size_t hh = 0; hh < H; hh++)
                    rope_apply(qkv + r * 3 * D + j * D + hh * hd, sn, cs, half);
        }
        oclip_status s = oc_attention(qkv, o, n, T, D, H, 0, nth, err);
        if (s) return s;
        if (k->an_w) oc_layernorm(o, o, rows, D, k->an_w, k->an_b, e->eps, nth); /* attn.norm */
        oc_linear(o, rows, &k->proj, k->proj_b, h, NULL, nth, bf->qs);
        if (e->post_norm) oc_layernorm(h, h, rows, D, k->n1_w, k->n1_b, e->eps, nth);
        for (size_t i = 0; i < rows * D; i++) x[i] += h[i];
        /* MLP input: norm2(x), or x in a post-norm block */
        const float *min = x;
        if (!e->post_norm) {
            oc_layernorm(x, h, rows, D, k->n2_w, k->n2_b, e->eps, nth);
            min = h;
        }
        oc_linear(min, rows, &k->fg, k->fg_b, g, NULL, nth, bf->qs);
        if (e->swiglu) {
            /* SwiGLU: fc2(norm(silu(fc1_g(h)) * fc1_x(h))) */
            oc_linear(min, rows, &k->fx, k->fx_b, u, NULL, nth, bf->qs);
            for (size_t i = 0; i < rows * M; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
            oc_layernorm(g, g, rows, M, k->mn_w, k->mn_b, e->eps, nth); /* mlp.norm */
        } else {
            oc_activate(g, rows * M, OC_ACT_GELU, nth); /* timm Mlp: nn.GELU (exact) */
        }
        oc_linear(g, rows, &k->fc2, k->fc2_b, h, NULL, nth, bf->qs);
        if (e->post_norm) oc_layernorm(h, h, rows, D, k->n2_w, k->n2_b, e->eps, nth);
        for (size_t i = 0; i < rows * D; i++) x[i] += h[i];
        if (l == 0 && st && st->block0)
            memcpy(st->block0 + first * T * D, x, rows * D * sizeof(float));
    }
    /* 3. trunk.norm, the class token or the MAP pool (over every token), trunk.head */
    oc_layernorm(x, x, rows, D, v->ln_post_w, v->ln_post_b, e->eps, nth);
    if (st && st->last) memcpy(st->last + first * T * D, x, rows * D * sizeof(float));
    if (e->map) {
        size_t Mp = (size_t)v->tw.M;
        float *q = bf->pool, *f = q + D, *scores = f + n * Mp;
        oc_map_pool(m, x, n, T, h, qkv, q, o, t, f, scores, st, first);
    } else {
        for (size_t b = 0; b < n; b++) memcpy(h + b * D, x + b * T * D, D * sizeof(float));
    }
    if (st && st->pooled) memcpy(st->pooled + first * D, h, n * D * sizeof(float));
    oc_gemm(h, n, &v->proj, e->head_b, out, nth);
    return OCLIP_OK;
}

oclip_status oc_eva_forward(const oclip_model *m, const float *pixels, size_t n, float *out,
                            const oc_stages *st, oclip_error *err) {
    const oc_vision *v = &m->vis;
    const struct oc_eva *e = v->eva;
    size_t D = (size_t)e->D, M = (size_t)e->M, P = (size_t)v->P;
    size_t G = (size_t)v->gh * (size_t)v->gw, T = G + (size_t)e->ncls;
    if (T > OC_MAX_TOKENS)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%zu tokens: at most %d supported", T,
                          OC_MAX_TOKENS);
    size_t chunk = n < EVA_CHUNK ? n : EVA_CHUNK, rows = chunk * T;
    /* patches [chunk*G, 3PP]; x, h, t, o [rows, D]; qkv [rows, 3D]; g, u [rows, M]; sizes from
     * a validated config, products still checked */
    /* pool (PE's MAP pool): q [D], f [chunk, Mp], scores [T] */
    uint64_t a, per_row, b, total, pool = 0;
    if (e->map && (oc_mul_overflow_u64(chunk, (uint64_t)m->vis.tw.M, &pool) ||
                   oc_add_overflow_u64(pool, D + T, &pool)))
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    if (oc_mul_overflow_u64(chunk * G, 3 * P * P, &a) ||
        oc_add_overflow_u64(7 * (uint64_t)D, 2 * (uint64_t)M, &per_row) ||
        oc_mul_overflow_u64(per_row, rows, &b) || oc_add_overflow_u64(a, b, &total) ||
        oc_add_overflow_u64(total, pool, &total) || total > SIZE_MAX / sizeof(float) / 2)
        return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    int q8 = 0;
    for (int l = 0; l < e->layers && !q8; l++)
        q8 = e->blocks[l].fg.pdtype == OCLIP_DTYPE_I8 && e->blocks[l].fg.packed;
    size_t qbytes = q8 ? oc_gemm_i8_scratch(rows, D > M ? D : M) : 0;
    if (qbytes > SIZE_MAX / 2) return oc_err_set(err, OCLIP_E_NOMEM, "image activations too large");
    float *buf = malloc((size_t)(total ? total : 1) * sizeof(float) + qbytes);
    if (!buf) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory (image activations)");
    eva_buf bf;
    bf.patches = buf;
    bf.x = buf + a;
    bf.h = bf.x + rows * D;
    bf.t = bf.h + rows * D;
    bf.o = bf.t + rows * D;
    bf.qkv = bf.o + rows * D;
    bf.g = bf.qkv + rows * 3 * D;
    bf.u = bf.g + rows * M;
    bf.pool = e->map ? bf.u + rows * M : NULL;
    bf.qs = q8 ? buf + total : NULL;
    size_t img = 3 * (size_t)v->img_h * (size_t)v->img_w;
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        s = eva_chunk(m, pixels + i * img, k, out + i * (size_t)m->E, st, i, &bf, err);
    }
    free(buf);
    return s;
}
