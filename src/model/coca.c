/*
 * coca.c — CoCa configs (open_clip coca_model.py CoCa: a ViT image tower with output_tokens and,
 * in the pretrained configs, attentional_pool; a TextTransformer with embed_cls; a
 * MultimodalTransformer text decoder): what is computed, the state dict OpenCLIP's CoCa has, and
 * the binding of the parts a CLIP does not have (nn/coca.c computes them).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/arch.h"
#include "model/coca.h"
#include "model/model.h"
#include "nn/engine.h"

const char *oc_coca_unsupported(const oclip_model_config *c) {
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    const oclip_multimodal_cfg *mm = &c->multimodal_cfg;
    if (t->hf_model_name[0]) return "CoCa with a Hugging Face text tower (coca_roberta-*)";
    if (v->timm_model_name[0] || v->layers <= 0)
        return "CoCa with a timm or ModifiedResNet image tower";
    if (v->attentional_pool > 1)
        return "CoCa attentional_pool 'parallel' / 'cascade' (work in progress in OpenCLIP)";
    if (!t->embed_cls) return "CoCa text tower without embed_cls";
    int64_t img_dim = v->attentional_pool ? c->embed_dim : v->width;
    if (v->attentional_pool &&
        (v->attn_pooler_heads <= 0 || c->embed_dim % v->attn_pooler_heads != 0))
        return "CoCa attn_pooler_heads not dividing embed_dim";
    if (v->attentional_pool && v->attn_pooler_queries < 2)
        return "CoCa attentional pool with fewer than 2 queries (no image tokens)";
    if (mm->width != t->width || mm->width != img_dim)
        return "CoCa multimodal width other than the text width and the image tokens' width "
               "(OpenCLIP cannot run it either)";
    if (mm->heads <= 0 || mm->width % mm->heads != 0) return "CoCa multimodal heads";
    return NULL;
}

/* a cross-attention ResidualAttentionBlock's parameters in registration order (ln_1, attn, ls_1,
 * ln_1_kv, ln_2, mlp, ls_2); the self-attention blocks are oc_emit_resblocks' */
static void emit_cross_block(const oc_emit *e, int i, int64_t w, int64_t mlp, int ls) {
#define P1(n, leaf) oc_emitf(e, 1, n, 0, 0, 0, "text_decoder.cross_attn.%d." leaf, i)
#define P2(a, b, leaf) oc_emitf(e, 2, a, b, 0, 0, "text_decoder.cross_attn.%d." leaf, i)
    P1(w, "ln_1.weight");
    P1(w, "ln_1.bias");
    P2(3 * w, w, "attn.in_proj_weight");
    P1(3 * w, "attn.in_proj_bias");
    P2(w, w, "attn.out_proj.weight");
    P1(w, "attn.out_proj.bias");
    if (ls) P1(w, "ls_1.gamma");
    P1(w, "ln_1_kv.weight");
    P1(w, "ln_1_kv.bias");
    P1(w, "ln_2.weight");
    P1(w, "ln_2.bias");
    P2(mlp, w, "mlp.c_fc.weight");
    P1(mlp, "mlp.c_fc.bias");
    P2(w, mlp, "mlp.c_proj.weight");
    P1(w, "mlp.c_proj.bias");
    if (ls) P1(w, "ls_2.gamma");
#undef P1
#undef P2
}

void oc_coca_expected(const oclip_model_config *c,
                      void (*put)(void *ctx, int ndim, const int64_t shape[4], const char *name),
                      void *ctx) {
    const oc_emit em = {put, ctx}, *e = &em;
    const oclip_vision_cfg *v = &c->vision;
    const oclip_multimodal_cfg *mm = &c->multimodal_cfg;
    int64_t E = c->embed_dim, Wv = v->width, W = mm->width;
    int64_t mlp_v = (int64_t)(Wv * v->mlp_ratio);
    int64_t gh = v->image_size[0] / v->patch_size, gw = v->image_size[1] / v->patch_size;
    int64_t pool_dim = v->attentional_pool ? E : Wv, Q = v->attn_pooler_queries;
    int ls_dims = c->nonscalar_logit_scale ? 1 : 0;
    oc_emitf(e, ls_dims, 1, 0, 0, 0, "logit_scale");
    if (c->has_logit_bias) oc_emitf(e, ls_dims, 1, 0, 0, 0, "logit_bias");
    /* text: TextTransformer with embed_cls (cls_emb, positional_embedding, text_projection,
     * token_embedding, transformer, ln_final) */
    oc_emit_custom_text(e, c);
    /* visual: VisionTransformer's parameters, conv1, ln_pre, transformer, attn_pool, ln_post */
    oc_emitf(e, 1, Wv, 0, 0, 0, "visual.class_embedding");
    oc_emitf(e, 2, gh * gw + 1, Wv, 0, 0, "visual.positional_embedding");
    oc_emitf(e, 2, pool_dim, E, 0, 0, "visual.proj");
    oc_emitf(e, 4, Wv, 3, v->patch_size, v->patch_size, "visual.conv1.weight");
    if (!v->no_ln_pre) {
        oc_emitf(e, 1, Wv, 0, 0, 0, "visual.ln_pre.weight");
        oc_emitf(e, 1, Wv, 0, 0, 0, "visual.ln_pre.bias");
    }
    oc_emit_resblocks(e, "visual.transformer.", v->layers, Wv, mlp_v, v->has_ls);
    if (v->attentional_pool) {
        /* AttentionalPooler: query, attn (nn.MultiheadAttention with kdim = vdim = Wv: separate
         * q / k / v projection weights), ln_q, ln_k */
        oc_emitf(e, 2, Q, E, 0, 0, "visual.attn_pool.query");
        oc_emitf(e, 2, E, E, 0, 0, "visual.attn_pool.attn.q_proj_weight");
        oc_emitf(e, 2, E, Wv, 0, 0, "visual.attn_pool.attn.k_proj_weight");
        oc_emitf(e, 2, E, Wv, 0, 0, "visual.attn_pool.attn.v_proj_weight");
        oc_emitf(e, 1, 3 * E, 0, 0, 0, "visual.attn_pool.attn.in_proj_bias");
        oc_emitf(e, 2, E, E, 0, 0, "visual.attn_pool.attn.out_proj.weight");
        oc_emitf(e, 1, E, 0, 0, 0, "visual.attn_pool.attn.out_proj.bias");
        oc_emitf(e, 1, E, 0, 0, 0, "visual.attn_pool.ln_q.weight");
        oc_emitf(e, 1, E, 0, 0, 0, "visual.attn_pool.ln_q.bias");
        oc_emitf(e, 1, Wv, 0, 0, 0, "visual.attn_pool.ln_k.weight");
        oc_emitf(e, 1, Wv, 0, 0, 0, "visual.attn_pool.ln_k.bias");
    }
    oc_emitf(e, 1, pool_dim, 0, 0, 0, "visual.ln_post.weight");
    oc_emitf(e, 1, pool_dim, 0, 0, 0, "visual.ln_post.bias");
    /* text_decoder: MultimodalTransformer's text_projection, resblocks, cross_attn, ln_final
     * (its MLP width: MultimodalTransformer's mlp_ratio default 4.0) */
    oc_emitf(e, 2, W, c->text.vocab_size, 0, 0, "text_decoder.text_projection");
    oc_emit_resblocks(e, "text_decoder.", mm->layers, W, 4 * W, mm->has_ls);
    for (int i = 0; i < mm->layers; i++) emit_cross_block(e, i, W, 4 * W, mm->has_ls);
    oc_emitf(e, 1, W, 0, 0, 0, "text_decoder.ln_final.weight");
    oc_emitf(e, 1, W, 0, 0, 0, "text_decoder.ln_final.bias");
}

oclip_status oc_coca_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err) {
    const oclip_model_config *cfg = &m->cfg;
    const oclip_multimodal_cfg *mm = &cfg->multimodal_cfg;
    oc_binder b = {m, ck, err, OCLIP_OK};
    oc_coca *c = oc_arena_alloc(&m->arena, sizeof *c);
    if (!c) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    memset(c, 0, sizeof *c);
    m->coca = c;
    c->pad_id = cfg->text.pad_id;
    c->cls_emb = oc_bind_vec(&b, "text.cls_emb", 0);
    if (cfg->vision.attentional_pool) {
        c->attn_pool = 1;
        c->nq = cfg->vision.attn_pooler_queries;
        c->pool_heads = cfg->vision.attn_pooler_heads;
        c->query = oc_bind_vec(&b, "visual.attn_pool.query", 0);
        c->pq = oc_bind_weight(&b, "visual.attn_pool.attn.q_proj_weight", 0, 0);
        c->pk = oc_bind_weight(&b, "visual.attn_pool.attn.k_proj_weight", 0, 0);
        c->pv = oc_bind_weight(&b, "visual.attn_pool.attn.v_proj_weight", 0, 0);
        c->pin_b = oc_bind_vec(&b, "visual.attn_pool.attn.in_proj_bias", 0);
        c->pout = oc_bind_weight(&b, "visual.attn_pool.attn.out_proj.weight", 0, 0);
        c->pout_b = oc_bind_vec(&b, "visual.attn_pool.attn.out_proj.bias", 0);
        c->ln_q_w = oc_bind_vec(&b, "visual.attn_pool.ln_q.weight", 0);
        c->ln_q_b = oc_bind_vec(&b, "visual.attn_pool.ln_q.bias", 0);
        c->ln_k_w = oc_bind_vec(&b, "visual.attn_pool.ln_k.weight", 0);
        c->ln_k_b = oc_bind_vec(&b, "visual.attn_pool.ln_k.bias", 0);
    }
    oc_tower *d = &c->dec;
    d->D = mm->width;
    d->M = 4 * mm->width; /* MultimodalTransformer's mlp_ratio 4.0 */
    d->H = mm->heads;
    d->layers = mm->layers;
    d->eps = 1e-5f; /* LayerNorm's default: _build_text_decoder_tower passes no norm_kwargs */
    d->act = cfg->quick_gelu ? OC_ACT_QUICK_GELU : OC_ACT_GELU;
    d->causal = 1;
    c->dec_ctx = mm->context_length;
    c->vocab = cfg->text.vocab_size;
    size_t nl = (size_t)(d->layers > 0 ? d->layers : 1);
    d->blocks = oc_arena_alloc(&m->arena, nl * sizeof *d->blocks);
    c->xattn = oc_arena_alloc(&m->arena, nl * sizeof *c->xattn);
    if (!d->blocks || !c->xattn) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    memset(d->blocks, 0, nl * sizeof *d->blocks);
    memset(c->xattn, 0, nl * sizeof *c->xattn);
    for (int l = 0; l < d->layers; l++) {
        oc_bind_block(&b, &d->blocks[l], "text_decoder.resblocks", l, mm->has_ls);
        oc_bind_block(&b, &c->xattn[l].b, "text_decoder.cross_attn", l, mm->has_ls);
        c->xattn[l].lnkv_w = oc_bind_vec(&b, "text_decoder.cross_attn.%d.ln_1_kv.weight", l);
        c->xattn[l].lnkv_b = oc_bind_vec(&b, "text_decoder.cross_attn.%d.ln_1_kv.bias", l);
    }
    c->dec_ln_w = oc_bind_vec(&b, "text_decoder.ln_final.weight", 0);
    c->dec_ln_b = oc_bind_vec(&b, "text_decoder.ln_final.bias", 0);
    c->dec_proj = oc_bind_weight(&b, "text_decoder.text_projection", 0, 1);
    return b.st;
}

/* =============================================================================================
 * Captioning (public API)
 */
void oclip_caption_options_default(oclip_caption_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = (uint32_t)sizeof *o;
    o->num_beams = 6; /* coca_model.py CoCa.generate's defaults */
    o->num_beam_groups = 3;
    o->seq_len = 30;
    o->min_seq_len = 5;
    o->repetition_penalty = 1.0;
}

int oclip_model_can_caption(const oclip_model *m) { return m && m->coca; }

oclip_status oclip_caption(const oclip_model *m, const float *pixels,
                           const oclip_caption_options *opt, int64_t *ids, size_t cap,
                           size_t *n_ids, oclip_error *err) {
    oc_err_clear(err);
    if (!m || !pixels || !ids || !n_ids)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_caption: NULL argument");
    *n_ids = 0;
    oclip_caption_options o = {0};
    if (opt) {
        oclip_status os = OC_OPTIONS_OK(opt, "oclip_caption_options", err);
        if (os) return os;
        memcpy(&o, opt, opt->struct_size && opt->struct_size < sizeof o ? opt->struct_size
                                                                        : sizeof o);
    }
    int nb = o.num_beams ? o.num_beams : 6, ng = o.num_beam_groups ? o.num_beam_groups : 3;
    int sl = o.seq_len ? o.seq_len : 30, ml = o.min_seq_len ? o.min_seq_len : 5;
    double rp = o.repetition_penalty != 0 ? o.repetition_penalty : 1.0;
    if (!m->coca)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: no text decoder (captions need a CoCa "
                          "model)", m->cfg.name[0] ? m->cfg.name : "this model");
    const oc_coca *c = m->coca;
    if (nb < 2 || nb > 64 || ng < 1 || ng > nb || nb % ng)
        return oc_err_set(err, OCLIP_E_ARG, "caption: num_beams %d, num_beam_groups %d: beams "
                          "from 2 to 64, groups dividing them (transformers' BeamSearchScorer)",
                          nb, ng);
    int most = m->txt.ctx < c->dec_ctx ? m->txt.ctx : c->dec_ctx;
    if (ml < 0 || sl <= ml || sl - 1 > most)
        return oc_err_set(err, OCLIP_E_ARG, "caption: seq_len %d, min_seq_len %d: seq_len must "
                          "be larger than min_seq_len (coca_model.py asserts it) and at most %d "
                          "(the text tower's and the decoder's context + 1)", sl, ml, most + 1);
    if (!(rp > 0) || !isfinite(rp))
        return oc_err_set(err, OCLIP_E_ARG, "caption: repetition_penalty %g: a positive number",
                          rp);
    if (cap < (size_t)sl)
        return oc_err_set(err, OCLIP_E_ARG, "caption: room for %zu ids, seq_len %d needs that "
                          "many", cap, sl);
    if (c->vocab <= 49407)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "caption: vocabulary of %d ids has no "
                          "start / end-of-text ids 49406 / 49407", c->vocab);
    int inplace;
    oclip_status s = oc_model_prepare(m, 1, (size_t)nb * (size_t)sl, &inplace, err);
    if (s) return s;
    s = oc_coca_caption(m, pixels, nb, ng, sl, ml, rp, 49406, 49407, ids, n_ids, err);
    oc_model_done(m, 1, inplace);
    return s;
}
