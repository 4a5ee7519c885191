/*
 * model.c — loading a model for inference: oclip_model_load is resolve (source.c: the spec, the
 * overrides, the files, the architecture) -> open -> check (the weights validated as oclip
 * check does) -> bind (the towers pointed at the weights in the mapped file), refusing what the
 * engine does not compute. Also the public encode / logits entry points.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/coca.h"
#include "model/hftext.h"
#include "model/model.h"
#include "nn/engine.h"

/* =============================================================================================
 * What the engine computes
 */
const char *oc_model_unsupported(const oclip_model_config *c) {
    const char *family = oc_arch_unsupported(c);
    if (family) return family;
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    /* a timm tower (a SigLIP ViT: oc_arch_unsupported checked it) or a ModifiedResNet (checked
     * there too) ignores the native vision options */
    int timm = c->family == OCLIP_FAMILY_TIMM || c->family == OCLIP_FAMILY_RESNET;
    if (t->width <= 0 || c->embed_dim <= 0 || t->context_length <= 0 ||
        (int64_t)(t->width * t->mlp_ratio) <= 0 || t->layers < 0 ||
        (!timm && (v->width <= 0 || (int64_t)(v->width * v->mlp_ratio) <= 0 || v->layers < 0)))
        return "zero-sized dimensions (width, embed_dim, context length or MLP width)";
    int coca = c->family == OCLIP_FAMILY_COCA; /* oc_coca_unsupported checked its options */
    if (!timm && v->attentional_pool && !coca)
        return "vision attentional_pool (CoCa-style attentional pooler)";
    if ((!timm && v->custom_block) || t->custom_block)
        return "custom transformer blocks (block_type 'custom', qk_norm, scale_* options)";
    if (!timm && strcmp(v->pool_type, "tok") && strcmp(v->pool_type, "avg"))
        return "vision pool_type other than 'tok' / 'avg' (no single embedding per image)";
    if (strcmp(t->pool_type, "argmax") && strcmp(t->pool_type, "eos") &&
        strcmp(t->pool_type, "first") && strcmp(t->pool_type, "last"))
        return "text pool_type other than 'argmax' / 'eos' / 'first' / 'last'";
    if (t->embed_cls && !coca) return "text embed_cls (CoCa)";
    if (t->proj_type[0] && strcmp(t->proj_type, "linear") && strcmp(t->proj_type, "none"))
        return "text proj_type other than 'linear' / 'none'";
    if (!timm && v->act_approximate[0] && strcmp(v->act_approximate, "tanh"))
        return "vision act_kwargs.approximate other than 'tanh'";
    if (t->act_approximate[0] && strcmp(t->act_approximate, "tanh"))
        return "text act_kwargs.approximate other than 'tanh'";
    if (!timm && (v->head_width <= 0 || v->width % v->head_width))
        return "vision width not a multiple of head_width";
    if (t->heads <= 0 || t->width % t->heads) return "text width not a multiple of heads";
    if (!timm && (v->patch_size <= 0 || v->image_size[0] < v->patch_size ||
                  v->image_size[1] < v->patch_size))
        return "image smaller than one patch";
    if ((!timm && (int64_t)(v->image_size[0] / v->patch_size) * (v->image_size[1] / v->patch_size) +
                          1 > OC_MAX_TOKENS) ||
        t->context_length > OC_MAX_TOKENS)
        return "sequences longer than 4096 tokens";
    if (c->unknown_keys[0]) return "config keys OpenCLIP 3.3 does not accept (see unknown keys)";
    return NULL;
}

const char *oclip_config_unsupported(const oclip_model_config *cfg) {
    return cfg ? oc_model_unsupported(cfg) : "no config";
}

/* =============================================================================================
 * Binding tensors
 */
typedef oc_binder binder;

const oclip_tensor *oc_bind_tensor(oc_binder *b, const char *fmt, int layer) {
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    const oclip_tensor *t = oclip_checkpoint_find(b->ck, name);
    if (!t && !b->st) b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s' missing", name);
    return t;
}

float *oc_bind_vec(oc_binder *b, const char *fmt, int layer) {
    const oclip_tensor *t = oc_bind_tensor(b, fmt, layer);
    if (!t) return NULL;
    float *p = oc_arena_alloc(&b->m->arena, (size_t)t->numel * sizeof(float));
    if (!p) {
        if (!b->st) b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, 0, (size_t)t->numel);
    return p;
}

oc_weight oc_bind_weight(oc_binder *b, const char *fmt, int layer, int kn) {
    oc_weight w = {0};
    const oclip_tensor *t = oc_bind_tensor(b, fmt, layer);
    if (!t) return w;
    size_t rows = (size_t)t->shape[0];
    size_t cols = rows ? (size_t)(t->numel / (uint64_t)rows) : 0;
    w.data = t->data;
    w.dtype = t->dtype;
    w.kn = kn;
    w.n = kn ? cols : rows;
    w.k = kn ? rows : cols;
    return w;
}

void oc_bind_block(oc_binder *b, oc_block *k, const char *blocks, int l, int ls) {
    char f[160];
#define NAME(leaf) (snprintf(f, sizeof f, "%s.%%d." leaf, blocks), f)
    k->ln1_w = oc_bind_vec(b, NAME("ln_1.weight"), l);
    k->ln1_b = oc_bind_vec(b, NAME("ln_1.bias"), l);
    k->ln2_w = oc_bind_vec(b, NAME("ln_2.weight"), l);
    k->ln2_b = oc_bind_vec(b, NAME("ln_2.bias"), l);
    k->in_w = oc_bind_weight(b, NAME("attn.in_proj_weight"), l, 0);
    k->in_b = oc_bind_vec(b, NAME("attn.in_proj_bias"), l);
    k->out_w = oc_bind_weight(b, NAME("attn.out_proj.weight"), l, 0);
    k->out_b = oc_bind_vec(b, NAME("attn.out_proj.bias"), l);
    k->fc_w = oc_bind_weight(b, NAME("mlp.c_fc.weight"), l, 0);
    k->fc_b = oc_bind_vec(b, NAME("mlp.c_fc.bias"), l);
    k->proj_w = oc_bind_weight(b, NAME("mlp.c_proj.weight"), l, 0);
    k->proj_b = oc_bind_vec(b, NAME("mlp.c_proj.bias"), l);
    if (ls) {
        k->ls1 = oc_bind_vec(b, NAME("ls_1.gamma"), l);
        k->ls2 = oc_bind_vec(b, NAME("ls_2.gamma"), l);
    }
#undef NAME
}

static oclip_status bind_tower(binder *b, oc_tower *tw, const char *blocks,
                               const oclip_model_config *c, int vision) {
    const oclip_vision_cfg *v = &c->vision;
    const oclip_text_cfg *t = &c->text;
    tw->D = vision ? v->width : t->width;
    tw->M = (int)((double)tw->D * (vision ? v->mlp_ratio : t->mlp_ratio)); /* int(): truncation */
    tw->H = vision ? v->width / v->head_width : t->heads;
    tw->layers = vision ? v->layers : t->layers;
    tw->eps = (float)(vision ? v->ln_eps : t->ln_eps);
    const char *approx = vision ? v->act_approximate : t->act_approximate;
    tw->act = c->quick_gelu ? OC_ACT_QUICK_GELU : approx[0] ? OC_ACT_GELU_TANH : OC_ACT_GELU;
    tw->causal = vision ? 0 : !t->no_causal_mask;
    int ls = vision ? v->has_ls : t->has_ls;
    tw->blocks = oc_arena_alloc(&b->m->arena, (size_t)(tw->layers > 0 ? tw->layers : 1) *
                                                  sizeof *tw->blocks);
    if (!tw->blocks) return oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
    for (int l = 0; l < tw->layers; l++) oc_bind_block(b, &tw->blocks[l], blocks, l, ls);
    return b->st;
}

/* The timm SigLIP image tower (visual.trunk.*: timm VisionTransformer, global_pool 'map'). */
static oclip_status bind_timm_vision(binder *b, const oc_timm_tower *tt) {
    oc_vision *v = &b->m->vis;
    oc_tower *tw = &v->tw;
    tw->D = tt->width;
    tw->M = tt->mlp;
    tw->H = tt->heads;
    tw->layers = tt->depth;
    tw->eps = 1e-6f; /* timm LayerNorm default (layers/norm.py) */
    tw->act = tt->gelu_tanh ? OC_ACT_GELU_TANH : OC_ACT_GELU;
    tw->causal = 0;
    tw->blocks = oc_arena_alloc(&b->m->arena, (size_t)(tw->layers > 0 ? tw->layers : 1) *
                                                  sizeof *tw->blocks);
    if (!tw->blocks) return oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
#define BLK(leaf) "visual.trunk.blocks.%d." leaf
    for (int l = 0; l < tw->layers; l++) {
        oc_block *k = &tw->blocks[l];
        k->ln1_w = oc_bind_vec(b, BLK("norm1.weight"), l);
        k->ln1_b = oc_bind_vec(b, BLK("norm1.bias"), l);
        k->ln2_w = oc_bind_vec(b, BLK("norm2.weight"), l);
        k->ln2_b = oc_bind_vec(b, BLK("norm2.bias"), l);
        k->in_w = oc_bind_weight(b, BLK("attn.qkv.weight"), l, 0); /* rows [q; k; v], as in_proj */
        k->in_b = oc_bind_vec(b, BLK("attn.qkv.bias"), l);
        k->out_w = oc_bind_weight(b, BLK("attn.proj.weight"), l, 0);
        k->out_b = oc_bind_vec(b, BLK("attn.proj.bias"), l);
        k->fc_w = oc_bind_weight(b, BLK("mlp.fc1.weight"), l, 0);
        k->fc_b = oc_bind_vec(b, BLK("mlp.fc1.bias"), l);
        k->proj_w = oc_bind_weight(b, BLK("mlp.fc2.weight"), l, 0);
        k->proj_b = oc_bind_vec(b, BLK("mlp.fc2.bias"), l);
    }
#undef BLK
    v->map = 1;
    v->P = tt->patch;
    v->img_h = v->img_w = tt->img;
    v->gh = v->gw = tt->img / tt->patch;
    v->conv = oc_bind_weight(b, "visual.trunk.patch_embed.proj.weight", 0, 0);
    v->conv_b = oc_bind_vec(b, "visual.trunk.patch_embed.proj.bias", 0);
    v->pos = oc_bind_vec(b, "visual.trunk.pos_embed", 0);
    v->ln_post_w = oc_bind_vec(b, "visual.trunk.norm.weight", 0);
    v->ln_post_b = oc_bind_vec(b, "visual.trunk.norm.bias", 0);
    v->latent = oc_bind_vec(b, "visual.trunk.attn_pool.latent", 0);
    v->pool_q = oc_bind_weight(b, "visual.trunk.attn_pool.q.weight", 0, 0);
    v->pool_q_b = oc_bind_vec(b, "visual.trunk.attn_pool.q.bias", 0);
    v->pool_kv = oc_bind_weight(b, "visual.trunk.attn_pool.kv.weight", 0, 0);
    v->pool_kv_b = oc_bind_vec(b, "visual.trunk.attn_pool.kv.bias", 0);
    v->pool_proj = oc_bind_weight(b, "visual.trunk.attn_pool.proj.weight", 0, 0);
    v->pool_proj_b = oc_bind_vec(b, "visual.trunk.attn_pool.proj.bias", 0);
    v->pool_ln_w = oc_bind_vec(b, "visual.trunk.attn_pool.norm.weight", 0);
    v->pool_ln_b = oc_bind_vec(b, "visual.trunk.attn_pool.norm.bias", 0);
    v->pool_fc1 = oc_bind_weight(b, "visual.trunk.attn_pool.mlp.fc1.weight", 0, 0);
    v->pool_fc1_b = oc_bind_vec(b, "visual.trunk.attn_pool.mlp.fc1.bias", 0);
    v->pool_fc2 = oc_bind_weight(b, "visual.trunk.attn_pool.mlp.fc2.weight", 0, 0);
    v->pool_fc2_b = oc_bind_vec(b, "visual.trunk.attn_pool.mlp.fc2.bias", 0);
    return b->st;
}

static oclip_status bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err) {
    const oclip_model_config *c = &m->cfg;
    binder b = {m, mapped, err, OCLIP_OK};
    oc_vision *v = &m->vis;
    oc_txt_tower *t = &m->txt;
    m->E = c->embed_dim;

    /* image tower */
    oclip_status ts; /* bind_tower's own failure (no memory for the blocks) is not in b.st */
    oc_timm_tower tt;
    const oc_timm_family *tf = c->family == OCLIP_FAMILY_TIMM
                                   ? oc_timm_family_of(c->vision.timm_model_name) : NULL;
    if (tf) {
        if ((ts = tf->bind(m, mapped, err))) return ts;
    } else if (c->family == OCLIP_FAMILY_TIMM) {
        if (oc_timm_unsupported(c, &tt))
            return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s' not supported",
                              c->vision.timm_model_name);
        if ((ts = bind_timm_vision(&b, &tt))) return ts;
    } else if (c->family == OCLIP_FAMILY_RESNET) {
        if ((ts = oc_resnet_bind(m, mapped, err))) return ts;
    } else if ((ts = bind_tower(&b, &v->tw, "visual.transformer.resblocks", c, 1))) {
        return ts;
    }
    if (c->family != OCLIP_FAMILY_TIMM && c->family != OCLIP_FAMILY_RESNET) {
    v->P = c->vision.patch_size;
    v->img_h = c->vision.image_size[0];
    v->img_w = c->vision.image_size[1];
    v->gh = v->img_h / v->P;
    v->gw = v->img_w / v->P;
    v->tok_pool = !strcmp(c->vision.pool_type, "tok");
    v->final_ln_after_pool = c->vision.final_ln_after_pool;
    v->conv = oc_bind_weight(&b, "visual.conv1.weight", 0, 0);
    v->cls = oc_bind_vec(&b, "visual.class_embedding", 0);
    v->pos = oc_bind_vec(&b, "visual.positional_embedding", 0);
    if (!c->vision.no_ln_pre) {
        v->ln_pre_w = oc_bind_vec(&b, "visual.ln_pre.weight", 0);
        v->ln_pre_b = oc_bind_vec(&b, "visual.ln_pre.bias", 0);
    }
    v->ln_post_w = oc_bind_vec(&b, "visual.ln_post.weight", 0);
    v->ln_post_b = oc_bind_vec(&b, "visual.ln_post.bias", 0);
    v->proj = oc_bind_weight(&b, "visual.proj", 0, 1);
    }

    /* text tower: an HFTextEncoder (model/hftext.c), or the native one; CustomTextCLIP keeps
     * it under text.* */
    if (c->text.hf_model_name[0]) {
        if ((ts = oc_hftext_bind(m, mapped, err))) return ts;
    } else {
    const char *tp = c->custom_text ? "text." : "";
    char nm[128];
#define TNAME(leaf) (snprintf(nm, sizeof nm, "%s" leaf, tp), nm)
    if ((ts = bind_tower(&b, &t->tw, TNAME("transformer.resblocks"), c, 0))) return ts;
    t->ctx = c->text.context_length;
    t->vocab = c->text.vocab_size;
    t->eos_id = c->text.eos_id;
    t->pool = !strcmp(c->text.pool_type, "eos")     ? OC_POOL_EOS
              : !strcmp(c->text.pool_type, "first") ? OC_POOL_FIRST
              : !strcmp(c->text.pool_type, "last")  ? OC_POOL_LAST
                                                    : OC_POOL_ARGMAX;
    const oclip_tensor *emb = oc_bind_tensor(&b, TNAME("token_embedding.weight"), 0);
    if (emb) {
        t->tok_emb = emb->data;
        t->tok_dtype = emb->dtype;
    }
    t->pos = oc_bind_vec(&b, TNAME("positional_embedding"), 0);
    t->ln_w = oc_bind_vec(&b, TNAME("ln_final.weight"), 0);
    t->ln_b = oc_bind_vec(&b, TNAME("ln_final.bias"), 0);
    t->has_proj = strcmp(c->text.proj_type, "none") != 0;
    if (t->has_proj && c->text.proj_bias) {
        t->proj = oc_bind_weight(&b, TNAME("text_projection.weight"), 0, 0); /* nn.Linear [E, D] */
        t->proj_b = oc_bind_vec(&b, TNAME("text_projection.bias"), 0);
    } else if (t->has_proj) {
        t->proj = oc_bind_weight(&b, TNAME("text_projection"), 0, 1); /* Parameter [D, E] */
    } else if (c->text.width != c->embed_dim) {
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "text proj_type 'none' with width %d != "
                          "embed_dim %d: the towers' embeddings cannot be compared",
                          c->text.width, c->embed_dim);
    }

#undef TNAME
    }
    if (c->family == OCLIP_FAMILY_COCA && (ts = oc_coca_bind(m, mapped, err))) return ts;
    /* logit_scale ([] or [1]) and optional logit_bias */
    const oclip_tensor *ls = oc_bind_tensor(&b, "logit_scale", 0);
    if (ls) oc_load_f32(&m->logit_scale, ls->data, ls->dtype, 0, 1);
    const oclip_tensor *lb = oclip_checkpoint_find(mapped, "logit_bias");
    if (lb) oc_load_f32(&m->logit_bias, lb->data, lb->dtype, 0, 1);
    return b.st;
}

/* =============================================================================================
 * Load
 */
static oclip_status refuse_report(const oclip_report *r, const char *path, oclip_error *err) {
    char list[600] = "";
    size_t n = oclip_report_n_issues(r), k = 0;
    static const char *const kinds[] = {"missing", "unexpected", "shape", "dtype", "non-finite"};
    for (size_t i = 0; i < n && i < 3; i++) {
        const oclip_issue *is = oclip_report_issue(r, i);
        int w = snprintf(list + k, sizeof list - k, "%s%s '%s'", i ? ", " : "",
                         kinds[is->kind], is->key);
        if (w < 0 || (size_t)w >= sizeof list - k) break;
        k += (size_t)w;
    }
    const oclip_model_config *c = oclip_report_config(r);
    oc_err_set(err, OCLIP_E_MISMATCH, "'%s' does not fit %s%s (%s): %zu problem%s: %s%s", path,
               c->name[0] ? "architecture " : "the architecture from ",
               c->name[0] ? c->name : oclip_report_config_source(r),
               oclip_report_config_source(r), n, n == 1 ? "" : "s", list, n > 3 ? ", ..." : "");
    oc_err_hint(err, "run 'oclip check %s' for the full report", path);
    return OCLIP_E_MISMATCH;
}

void oclip_model_free(oclip_model *m) {
    if (!m) return;
    oc_model_unpack(m);
    oc_resnet_free(m);
    oc_convnext_free(m);
    oc_vitamin_free(m);
    oc_fastvit_free(m);
    oc_act_free_slot(m);
    oc_model_tokenizer_free(m);
    if (m->pack_mu_ok) pthread_mutex_destroy(&m->pack_mu);
    oclip_report_free(m->report);
    oclip_source_free(m->src); /* owns m->ck */
    oc_arena_free(&m->arena);
    free(m);
}

/* The source options oclip_model_load resolves with: opt->source's, with the model options'
 * own config / config_source / quick_gelu on top. */
static void source_options(const oclip_model_options *opt, oclip_source_options *so) {
    if (opt->source) *so = *opt->source;
    else oclip_source_options_default(so);
    if (opt->config) {
        so->config = opt->config;
        so->config_source = opt->config_source;
        so->arch = so->config_file = NULL;
    }
    if (opt->quick_gelu != OCLIP_QUICK_GELU_UNSET) so->quick_gelu = opt->quick_gelu;
    so->weights_optional = 0;
}

oclip_status oclip_model_load(const char *spec, const oclip_model_options *opt,
                              oclip_model **out, oclip_error *err) {
    oc_err_clear(err);
    if (!out) return oc_err_set(err, OCLIP_E_ARG, "oclip_model_load: NULL argument");
    *out = NULL;
    oclip_model_options defaults;
    oclip_model_options_default(&defaults);
    if (!opt) opt = &defaults;
    oclip_status os = OC_OPTIONS_OK(opt, "oclip_model_options", err);
    if (os) return os;
    /* KEEP and F32 are the same here: the weights as stored, fp32 arithmetic (vit.c: F32) */
    oclip_dtype wd = opt->weight_dtype == OCLIP_DTYPE_KEEP ? OCLIP_DTYPE_F32 : opt->weight_dtype;
    if (wd != OCLIP_DTYPE_F32 && wd != OCLIP_DTYPE_F16 && wd != OCLIP_DTYPE_BF16 &&
        wd != OCLIP_DTYPE_I8)
        return oc_err_set(err, OCLIP_E_ARG, "weight_dtype %s: not one of KEEP, F32, F16, BF16, "
                          "I8", oclip_dtype_name(wd));
    oclip_model *m = calloc(1, sizeof *m);
    if (!m || pthread_mutex_init(&m->pack_mu, NULL) != 0) {
        free(m);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    m->pack_mu_ok = 1;

    /* 1. resolve: the files, the architecture and preprocessing, from the spec and options */
    oclip_source_options so;
    source_options(opt, &so);
    oclip_status s = oclip_source_resolve(spec, &so, &m->src, err);
    if (s) {
        oclip_model_free(m);
        return s; /* the source's messages name the spec */
    }
    /* 2. open and 3. check: the weights fit the architecture (inferred when nothing names it) */
    const char *path = oclip_source_kind_of(m->src) == OCLIP_SOURCE_EMBEDDED
                           ? "default model" : oclip_source_path(m->src);
    if ((s = oclip_source_check(m->src, 0, &m->report, err))) goto fail;
    m->ck = (oclip_checkpoint *)oclip_source_checkpoint(m->src);
    if (!oclip_report_ok(m->report)) {
        s = refuse_report(m->report, path, err);
        goto fail;
    }
    m->cfg = *oclip_report_config(m->report);
    m->pre = *oclip_source_preprocess(m->src); /* at the architecture's image_size */
    const char *why = oc_model_unsupported(&m->cfg);
    if (why) {
        s = oc_err_set(err, OCLIP_E_UNSUPPORTED, "architecture %s: not supported: %s%s%s",
                       m->cfg.name[0] ? m->cfg.name : oclip_source_config_origin(m->src), why,
                       m->cfg.unknown_keys[0] ? ": " : "", m->cfg.unknown_keys);
        goto fail;
    }
    /* 4. bind */
    m->threads = opt->threads > 0 ? opt->threads : oc_cpu_count();
    if ((s = bind(m, oclip_report_mapped(m->report), err))) goto fail;
    m->weight_dtype = wd; /* each tower's weights are packed on its first use (nn/tower.c) */
    const char *origin = oclip_source_config_origin(m->src);
    int inferred = !strncmp(origin, "inferred", 8);
    size_t k = (size_t)snprintf(m->source, sizeof m->source, "%.1000s (%s, %s%.1000s)", path,
                                m->cfg.name[0] ? m->cfg.name : "unnamed architecture",
                                inferred ? "inferred from shapes" : "from ",
                                inferred ? origin + 8 : origin);
    for (size_t i = 0; i < oclip_source_n_warnings(m->src) && k < sizeof m->source; i++)
        k += (size_t)snprintf(m->source + k, sizeof m->source - k, "; warning: %s",
                              oclip_source_warning(m->src, i));
    *out = m;
    return OCLIP_OK;
fail:
    oclip_model_free(m);
    oc_err_wrap(err, "loading model '%s'", spec && spec[0] ? spec : "default");
    return s;
}

/* =============================================================================================
 * Getters
 */
int oclip_model_embed_dim(const oclip_model *m) { return m->E; }
void oclip_model_image_size(const oclip_model *m, int *h, int *w) {
    if (h) *h = m->vis.img_h;
    if (w) *w = m->vis.img_w;
}
int oclip_model_context_length(const oclip_model *m) { return m->txt.ctx; }
float oclip_model_logit_scale(const oclip_model *m) { return m->logit_scale; }
float oclip_model_logit_bias(const oclip_model *m) { return m->logit_bias; }
int oclip_model_has_logit_bias(const oclip_model *m) { return m->cfg.has_logit_bias != 0; }
int oclip_model_threads(const oclip_model *m) { return __atomic_load_n(&m->threads, __ATOMIC_RELAXED); }

/* The engine reads m->threads atomically at each step of a call (nn/: vit.c, timm_vit.c, text.c,
 * tower.c); as every result has the same bytes for any thread count (kernels/pool.c,
 * "Determinism"), a call that sees the old count in some steps and the new one in others is
 * still exact. */
oclip_status oclip_model_set_threads(oclip_model *m, int threads, oclip_error *err) {
    if (!m) return oc_err_set(err, OCLIP_E_ARG, "oclip_model_set_threads: NULL model");
    if (threads < 0)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_model_set_threads: %d threads: expected 0 "
                          "(all online cores) or more", threads);
    __atomic_store_n(&m->threads, threads > 0 ? threads : oc_cpu_count(), __ATOMIC_RELAXED);
    return OCLIP_OK;
}
const oclip_model_config *oclip_model_config_of(const oclip_model *m) { return &m->cfg; }
const char *oclip_model_source(const oclip_model *m) { return m->source; }
const oclip_source *oclip_model_source_of(const oclip_model *m) { return m->src; }

/* =============================================================================================
 * Encoding and logits
 */
/* F.normalize: x / max(||x||, 1e-12); the norm is summed in double (one row, one thread). */
static void normalize_rows(float *x, size_t n, size_t E) {
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t e = 0; e < E; e++) ss += (double)x[i * E + e] * x[i * E + e];
        double norm = sqrt(ss);
        float inv = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
        for (size_t e = 0; e < E; e++) x[i * E + e] *= inv;
    }
}

oclip_status oclip_encode_image(const oclip_model *m, const float *pixels, size_t n, float *out,
                                int normalize, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n && (!pixels || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_encode_image: NULL argument");
    oclip_status s = m->vis.rn    ? oc_resnet_forward(m, pixels, n, out, NULL, err)
                     : m->vis.cnx ? oc_convnext_forward(m, pixels, n, out, NULL, err)
                     : m->vis.vitamin ? oc_vitamin_forward(m, pixels, n, out, NULL, err)
                     : m->vis.fvt ? oc_fastvit_forward(m, pixels, n, out, NULL, err)
                                  : oc_vit_forward(m, pixels, n, out, NULL, err);
    if (s) {
        oc_err_wrap(err, "encoding %zu image%s", n, n == 1 ? "" : "s");
        return s;
    }
    if (normalize) normalize_rows(out, n, (size_t)m->E);
    return OCLIP_OK;
}

const oclip_preprocess_cfg *oclip_model_preprocess(const oclip_model *m) { return &m->pre; }

/* Inputs given as files, decoded images or strings are prepared (decoded, preprocessed,
 * tokenized) into a buffer of ENCODE_BATCH inputs, and each full buffer is one
 * forward pass: a caller's batch of up to 32 inputs (the CLI's default --batch-size) is one
 * pass, not several small ones -- each of which costs more per input, and the second of which
 * would pack the tower's weights (a copy of all of them) in a process that may end right after.
 * Memory stays bounded for long lists (one decoded image per thread at a time); the split does
 * not change any result (each input is encoded independently). */
#define ENCODE_BATCH 32

/* decodes / preprocesses image i of ctx into px (3 x H x W floats) */
typedef oclip_status (*image_getter)(const oclip_model *m, const void *ctx, size_t i, float *px,
                                     oclip_error *err);

/* One buffer's images [i0, i0 + k) prepared on the model's threads, an image per chunk: decoding
 * a photo can take longer than encoding it. Each thread keeps the error of the first image it
 * failed on; images after the first failure seen are skipped, those before it still run, so the
 * error returned is always the first failing image's, as one thread would find. */
typedef struct {
    oclip_error err;
    oclip_status st;
    size_t at;
} prepare_slot;

typedef struct {
    const oclip_model *m;
    image_getter get;
    const void *ctx;
    float *buf;
    size_t i0, px, fail; /* fail: the first failing image seen so far (k: none) */
    prepare_slot *slot;  /* one per thread */
} prepare_ctx;

static void prepare_range(void *p, size_t j0, size_t j1, int t) {
    prepare_ctx *c = p;
    prepare_slot *sl = &c->slot[t];
    for (size_t j = j0; j < j1 && !sl->st; j++) {
        if (j > __atomic_load_n(&c->fail, __ATOMIC_RELAXED)) return;
        sl->st = c->get(c->m, c->ctx, c->i0 + j, c->buf + j * c->px, &sl->err);
        if (!sl->st) continue;
        sl->at = j;
        size_t f = __atomic_load_n(&c->fail, __ATOMIC_RELAXED);
        while (j < f && !__atomic_compare_exchange_n(&c->fail, &f, j, 0, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED)) {
        }
    }
}

static oclip_status encode_images_by(const oclip_model *m, size_t n, image_getter get,
                                     const void *ctx, float *out, int normalize,
                                     oclip_error *err) {
    size_t px = (size_t)3 * (size_t)m->pre.size[0] * (size_t)m->pre.size[1];
    size_t cap = n < ENCODE_BATCH ? n : ENCODE_BATCH;
    int nth = __atomic_load_n(&m->threads, __ATOMIC_RELAXED);
    nth = nth < 1 ? 1 : nth > OC_MAX_THREADS ? OC_MAX_THREADS : nth;
    float *buf = cap ? oc_alloc_large(cap * px * sizeof *buf) : NULL;
    prepare_slot *slot = cap ? malloc((size_t)nth * sizeof *slot) : NULL;
    if (cap && (!buf || !slot)) {
        free(buf), free(slot);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += cap) {
        size_t k = n - i < cap ? n - i : cap;
        prepare_ctx c = {m, get, ctx, buf, i, px, k, slot};
        for (int t = 0; t < nth; t++) slot[t].st = OCLIP_OK, oc_err_clear(&slot[t].err);
        oc_parallel_chunks(nth, k, 1, 1, prepare_range, &c);
        for (int t = 0; t < nth && !s; t++)
            if (slot[t].st && slot[t].at == c.fail) {
                s = slot[t].st;
                if (err) *err = slot[t].err;
            }
        if (!s) s = oclip_encode_image(m, buf, k, out + i * (size_t)m->E, normalize, err);
    }
    free(slot);
    free(buf);
    return s;
}

static oclip_status get_decoded(const oclip_model *m, const void *ctx, size_t i, float *px,
                                oclip_error *err) {
    const oclip_image *const *images = ctx;
    oclip_status s = oclip_preprocess(images[i], &m->pre, px, err);
    if (s) oc_err_wrap(err, "image %zu", i + 1);
    return s;
}

oclip_status oclip_encode_images(const oclip_model *m, const oclip_image *const *images,
                                 size_t n, float *out, int normalize, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n && (!images || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_encode_images: NULL argument");
    return encode_images_by(m, n, get_decoded, images, out, normalize, err);
}

static oclip_status get_file(const oclip_model *m, const void *ctx, size_t i, float *px,
                             oclip_error *err) {
    const char *path = ((const char *const *)ctx)[i];
    oclip_image *img = NULL;
    oclip_status s = oclip_image_load(path, NULL, &img, err);
    if (!s) s = oclip_preprocess(img, &m->pre, px, err);
    oclip_image_free(img);
    if (s && !strstr(err ? err->msg : "", path)) oc_err_wrap(err, "image '%s'", path);
    return s;
}

oclip_status oclip_encode_image_files(const oclip_model *m, const char *const *paths, size_t n,
                                      float *out, int normalize, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n && (!paths || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_encode_image_files: NULL argument");
    return encode_images_by(m, n, get_file, paths, out, normalize, err);
}

oclip_status oclip_encode_text(const oclip_model *m, const int64_t *tokens, size_t n, float *out,
                               int normalize, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n && (!tokens || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_encode_text: NULL argument");
    oclip_status s = oc_txt_forward(m, tokens, n, out, NULL, 0, err);
    if (s) {
        oc_err_wrap(err, "encoding %zu text%s", n, n == 1 ? "" : "s");
        return s;
    }
    if (normalize) normalize_rows(out, n, (size_t)m->E);
    return OCLIP_OK;
}

oclip_status oclip_encode_text_strings(const oclip_model *m, const char *const *texts,
                                       const size_t *lens, size_t n, float *out, int normalize,
                                       oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n && (!texts || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_encode_text_strings: NULL argument");
    size_t ctx = (size_t)m->cfg.text.context_length;
    size_t cap = n < ENCODE_BATCH ? n : ENCODE_BATCH;
    int64_t *rows = cap ? malloc(cap * ctx * sizeof *rows) : NULL;
    if (cap && !rows) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status s = OCLIP_OK;
    for (size_t i = 0; i < n && !s; i += cap) {
        size_t k = n - i < cap ? n - i : cap;
        s = oclip_model_tokenize(m, texts + i, lens ? lens + i : NULL, k, rows, err);
        if (s && i) oc_err_wrap(err, "texts %zu-%zu", i + 1, i + k);
        if (!s) s = oclip_encode_text(m, rows, k, out + i * (size_t)m->E, normalize, err);
    }
    free(rows);
    return s;
}

oclip_status oclip_logits(const oclip_model *m, const float *img_emb, size_t n_img,
                          const float *txt_emb, size_t n_txt, float *out, oclip_error *err) {
    oc_err_clear(err);
    if (!m || (n_img && !img_emb) || (n_txt && !txt_emb) || (n_img && n_txt && !out))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_logits: NULL argument");
    size_t E = (size_t)m->E;
    uint64_t total;
    if (oc_mul_overflow_u64(n_img + n_txt, E, &total) || total > SIZE_MAX / sizeof(float))
        return oc_err_set(err, OCLIP_E_NOMEM, "too many embeddings");
    float *a = malloc((size_t)(total ? total : 1) * sizeof(float));
    if (!a) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    float *b = a + n_img * E;
    if (n_img) memcpy(a, img_emb, n_img * E * sizeof(float));
    if (n_txt) memcpy(b, txt_emb, n_txt * E * sizeof(float));
    normalize_rows(a, n_img, E);
    normalize_rows(b, n_txt, E);
    float scale = expf(m->logit_scale);
    for (size_t i = 0; i < n_img; i++)
        for (size_t j = 0; j < n_txt; j++) {
            float d = 0;
            for (size_t e = 0; e < E; e++) d += a[i * E + e] * b[j * E + e];
            out[i * n_txt + j] = scale * d + m->logit_bias;
        }
    free(a);
    return OCLIP_OK;
}
