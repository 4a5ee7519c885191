/*
 * arch.c — the state dict a native OpenCLIP `CLIP` has (open_clip model.py CLIP), and
 * architecture inference from tensor shapes (as OpenCLIP's build_model_from_openai_state_dict
 * does, generalised), matched against the built-in configs.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/coca.h"
#include "model/hftext.h"

/* The side of ModifiedResNet's last feature grid for an img x img image: the stem's stride-2
 * 3x3 convolution (pad 1), its AvgPool2d(2), layer2..4's AvgPool2d(2) (modified_resnet.py) */
static int64_t resnet_grid(int64_t img) {
    int64_t g = (img - 1) / 2 + 1;
    return g / 2 / 2 / 2 / 2;
}

const char *oc_resnet_unsupported(const oclip_model_config *cfg) {
    const oclip_vision_cfg *v = &cfg->vision;
    for (int i = 0; i < 4; i++)
        if (v->resnet_layers[i] <= 0) return "ModifiedResNet with an empty layer";
    if (v->width <= 0 || v->width % 2 || v->width > (1 << 16) || v->head_width <= 0 ||
        (v->width * 32) % v->head_width || cfg->embed_dim <= 0)
        return "ModifiedResNet width not even, or width * 32 not a multiple of head_width";
    if (v->image_size[0] != v->image_size[1])
        return "ModifiedResNet with a non-square image_size (OpenCLIP takes one int)";
    if (v->image_size[0] < 32 || v->image_size[0] > 4096 ||
        resnet_grid(v->image_size[0]) != v->image_size[0] / 32)
        return "ModifiedResNet image_size whose feature grid is not image_size // 32 (the "
               "attention pool's positions; OpenCLIP fails on it too)";
    return NULL;
}

const char *oc_arch_unsupported(const oclip_model_config *cfg) {
    switch (cfg->family) {
    case OCLIP_FAMILY_NATIVE: break;
    case OCLIP_FAMILY_RESNET: return oc_resnet_unsupported(cfg);
    case OCLIP_FAMILY_TIMM: return oc_timm_unsupported(cfg, NULL);
    case OCLIP_FAMILY_HF_TEXT: return oc_hftext_unsupported(cfg);
    case OCLIP_FAMILY_CUSTOM_TEXT: return "CustomTextCLIP (text.* keys)";
    case OCLIP_FAMILY_COCA: return oc_coca_unsupported(cfg);
    case OCLIP_FAMILY_OTHER: return "native towers with options oclip does not implement";
    }
    return NULL;
}

/* =============================================================================================
 * Expected state dict
 */
typedef oc_elist elist;

void oc_elist_put(void *lp, int ndim, const int64_t shape[4], const char *name) {
    elist *l = lp;
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        oc_expect *v = oc_arena_alloc(l->a, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return;
        }
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    oc_expect *e = &l->v[l->n++];
    e->name = oc_arena_strndup(l->a, name, strlen(name));
    if (!e->name) l->oom = true;
    e->ndim = ndim;
    memcpy(e->shape, shape, sizeof e->shape);
}

oclip_status oc_elist_done(const oc_elist *l, oc_expect **out, size_t *n, oclip_error *err) {
    if (l->oom) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    *out = l->v;
    *n = l->n;
    return OCLIP_OK;
}

void oc_emitf(const oc_emit *e, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
              const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const int64_t shape[4] = {d0, d1, d2, d3};
    e->put(e->ctx, ndim, shape, name);
}

/* One entry, its name formatted, into the elist l */
#define put(l, ...) oc_emitf(&(const oc_emit){oc_elist_put, (l)}, __VA_ARGS__)

void oc_emit_timm_blocks(const oc_emit *e, int depth, int64_t W, int64_t M) {
    for (int i = 0; i < depth; i++) {
#define B "visual.trunk.blocks.%d."
        oc_emitf(e, 1, W, 0, 0, 0, B "norm1.weight", i);
        oc_emitf(e, 1, W, 0, 0, 0, B "norm1.bias", i);
        oc_emitf(e, 2, 3 * W, W, 0, 0, B "attn.qkv.weight", i);
        oc_emitf(e, 1, 3 * W, 0, 0, 0, B "attn.qkv.bias", i);
        oc_emitf(e, 2, W, W, 0, 0, B "attn.proj.weight", i);
        oc_emitf(e, 1, W, 0, 0, 0, B "attn.proj.bias", i);
        oc_emitf(e, 1, W, 0, 0, 0, B "norm2.weight", i);
        oc_emitf(e, 1, W, 0, 0, 0, B "norm2.bias", i);
        oc_emitf(e, 2, M, W, 0, 0, B "mlp.fc1.weight", i);
        oc_emitf(e, 1, M, 0, 0, 0, B "mlp.fc1.bias", i);
        oc_emitf(e, 2, W, M, 0, 0, B "mlp.fc2.weight", i);
        oc_emitf(e, 1, W, 0, 0, 0, B "mlp.fc2.bias", i);
#undef B
    }
}

void oc_emit_attn_pool(const oc_emit *e, int64_t W, int64_t M) {
#define AP "visual.trunk.attn_pool."
    oc_emitf(e, 3, 1, 1, W, 0, AP "latent");
    oc_emitf(e, 2, W, W, 0, 0, AP "q.weight");
    oc_emitf(e, 1, W, 0, 0, 0, AP "q.bias");
    oc_emitf(e, 2, 2 * W, W, 0, 0, AP "kv.weight");
    oc_emitf(e, 1, 2 * W, 0, 0, 0, AP "kv.bias");
    oc_emitf(e, 2, W, W, 0, 0, AP "proj.weight");
    oc_emitf(e, 1, W, 0, 0, 0, AP "proj.bias");
    oc_emitf(e, 1, W, 0, 0, 0, AP "norm.weight");
    oc_emitf(e, 1, W, 0, 0, 0, AP "norm.bias");
    oc_emitf(e, 2, M, W, 0, 0, AP "mlp.fc1.weight");
    oc_emitf(e, 1, M, 0, 0, 0, AP "mlp.fc1.bias");
    oc_emitf(e, 2, W, M, 0, 0, AP "mlp.fc2.weight");
    oc_emitf(e, 1, W, 0, 0, 0, AP "mlp.fc2.bias");
#undef AP
}

/* ResidualAttentionBlock: ln_1, attn, ls_1, ln_2, mlp, ls_2 (module registration order). */
void oc_emit_resblocks(const oc_emit *e, const char *prefix, int layers, int64_t w, int64_t mlp,
                       bool ls) {
    for (int i = 0; i < layers; i++) {
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ln_1.weight", prefix, i);
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ln_1.bias", prefix, i);
        oc_emitf(e, 2, 3 * w, w, 0, 0, "%sresblocks.%d.attn.in_proj_weight", prefix, i);
        oc_emitf(e, 1, 3 * w, 0, 0, 0, "%sresblocks.%d.attn.in_proj_bias", prefix, i);
        oc_emitf(e, 2, w, w, 0, 0, "%sresblocks.%d.attn.out_proj.weight", prefix, i);
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.attn.out_proj.bias", prefix, i);
        if (ls) oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ls_1.gamma", prefix, i);
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ln_2.weight", prefix, i);
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ln_2.bias", prefix, i);
        oc_emitf(e, 2, mlp, w, 0, 0, "%sresblocks.%d.mlp.c_fc.weight", prefix, i);
        oc_emitf(e, 1, mlp, 0, 0, 0, "%sresblocks.%d.mlp.c_fc.bias", prefix, i);
        oc_emitf(e, 2, w, mlp, 0, 0, "%sresblocks.%d.mlp.c_proj.weight", prefix, i);
        oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.mlp.c_proj.bias", prefix, i);
        if (ls) oc_emitf(e, 1, w, 0, 0, 0, "%sresblocks.%d.ls_2.gamma", prefix, i);
    }
}

/* CustomTextCLIP's TextTransformer (text.*): its parameters, then its modules (token_embedding,
 * transformer, ln_final, text_projection when a Linear) */
void oc_emit_custom_text(const oc_emit *e, const oclip_model_config *cfg) {
    const oclip_text_cfg *t = &cfg->text;
    int64_t E = cfg->embed_dim, Wt = t->width, mlp_t = (int64_t)(Wt * t->mlp_ratio);
    /* embed_cls (CoCa): the CLS embedding first, one more position for it */
    if (t->embed_cls) oc_emitf(e, 1, Wt, 0, 0, 0, "text.cls_emb");
    oc_emitf(e, 2, t->context_length + (t->embed_cls ? 1 : 0), Wt, 0, 0,
             "text.positional_embedding");
    int has_proj = !strcmp(t->proj_type, "linear") || t->proj_type[0] == '\0';
    if (has_proj && !t->proj_bias) oc_emitf(e, 2, Wt, E, 0, 0, "text.text_projection");
    oc_emitf(e, 2, t->vocab_size, Wt, 0, 0, "text.token_embedding.weight");
    oc_emit_resblocks(e, "text.transformer.", t->layers, Wt, mlp_t, t->has_ls);
    oc_emitf(e, 1, Wt, 0, 0, 0, "text.ln_final.weight");
    oc_emitf(e, 1, Wt, 0, 0, 0, "text.ln_final.bias");
    if (has_proj && t->proj_bias) {
        oc_emitf(e, 2, E, Wt, 0, 0, "text.text_projection.weight");
        oc_emitf(e, 1, E, 0, 0, 0, "text.text_projection.bias");
    }
}

/* CustomTextCLIP with a timm image tower (the SigLIP ViTs, or a family of timm.c's table), in
 * state_dict() order: logit_scale (logit_bias), visual.* from `visual`, text.* */
static oclip_status custom_text_expected(const oclip_model_config *cfg,
                                         oc_visual_expected_fn visual, oc_arena *a,
                                         oc_expect **out, size_t *n, oclip_error *err) {
    elist l = {.a = a};
    int ls_dims = cfg->nonscalar_logit_scale ? 1 : 0;
    put(&l, ls_dims, 1, 0, 0, 0, "logit_scale");
    if (cfg->has_logit_bias) put(&l, ls_dims, 1, 0, 0, 0, "logit_bias");
    visual(cfg, oc_elist_put, &l);
    oc_emit_custom_text(&(const oc_emit){oc_elist_put, &l}, cfg);
    return oc_elist_done(&l, out, n, err);
}

/* A timm SigLIP tower (docs/SIGLIP.md section 7): visual.trunk.* of a timm VisionTransformer
 * with class_token False and global_pool 'map' */
static void siglip_visual(const oclip_model_config *cfg, oc_put_fn put_fn, void *ctx) {
    oc_timm_tower tw;
    if (oc_timm_unsupported(cfg, &tw)) return;
    const oc_emit e = {put_fn, ctx};
    int64_t W = tw.width, M = tw.mlp, P = tw.patch, g = tw.patch ? tw.img / tw.patch : 0;
    oc_emitf(&e, 3, 1, g * g, W, 0, "visual.trunk.pos_embed");
    oc_emitf(&e, 4, W, 3, P, P, "visual.trunk.patch_embed.proj.weight");
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.patch_embed.proj.bias");
    oc_emit_timm_blocks(&e, tw.depth, W, M);
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.weight");
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.bias");
    oc_emit_attn_pool(&e, W, M);
}

/* BatchNorm2d's state: weight, bias, running_mean, running_var (num_batches_tracked, an int64
 * counter eval never reads, is optional: oc_arch_optional) */
static void put_bn(elist *l, int64_t c, const char *prefix) {
    put(l, 1, c, 0, 0, 0, "%s.weight", prefix);
    put(l, 1, c, 0, 0, 0, "%s.bias", prefix);
    put(l, 1, c, 0, 0, 0, "%s.running_mean", prefix);
    put(l, 1, c, 0, 0, 0, "%s.running_var", prefix);
}

/* CLIP with a ModifiedResNet (modified_resnet.py), in state_dict() order */
static void resnet_visual(elist *l, const oclip_model_config *cfg) {
    const oclip_vision_cfg *v = &cfg->vision;
    int64_t w = v->width, g = v->image_size[0] / 32, C = w * 32, E = cfg->embed_dim;
    char p[96], q[112];
    put(l, 4, w / 2, 3, 3, 3, "visual.conv1.weight");
    put_bn(l, w / 2, "visual.bn1");
    put(l, 4, w / 2, w / 2, 3, 3, "visual.conv2.weight");
    put_bn(l, w / 2, "visual.bn2");
    put(l, 4, w, w / 2, 3, 3, "visual.conv3.weight");
    put_bn(l, w, "visual.bn3");
    int64_t inplanes = w;
    for (int li = 0; li < 4; li++) {
        int64_t planes = w << li;
        for (int j = 0; j < v->resnet_layers[li]; j++) {
            snprintf(p, sizeof p, "visual.layer%d.%d", li + 1, j);
            put(l, 4, planes, inplanes, 1, 1, "%s.conv1.weight", p);
            put_bn(l, planes, (snprintf(q, sizeof q, "%s.bn1", p), q));
            put(l, 4, planes, planes, 3, 3, "%s.conv2.weight", p);
            put_bn(l, planes, (snprintf(q, sizeof q, "%s.bn2", p), q));
            put(l, 4, planes * 4, planes, 1, 1, "%s.conv3.weight", p);
            put_bn(l, planes * 4, (snprintf(q, sizeof q, "%s.bn3", p), q));
            if ((j == 0 && li > 0) || inplanes != planes * 4) {
                put(l, 4, planes * 4, inplanes, 1, 1, "%s.downsample.0.weight", p);
                put_bn(l, planes * 4, (snprintf(q, sizeof q, "%s.downsample.1", p), q));
            }
            inplanes = planes * 4;
        }
    }
    put(l, 2, g * g + 1, C, 0, 0, "visual.attnpool.positional_embedding");
    static const char *const proj[3] = {"k_proj", "q_proj", "v_proj"};
    for (int i = 0; i < 3; i++) {
        put(l, 2, C, C, 0, 0, "visual.attnpool.%s.weight", proj[i]);
        put(l, 1, C, 0, 0, 0, "visual.attnpool.%s.bias", proj[i]);
    }
    put(l, 2, E, C, 0, 0, "visual.attnpool.c_proj.weight");
    put(l, 1, E, 0, 0, 0, "visual.attnpool.c_proj.bias");
}

bool oc_arch_optional(const oclip_model_config *cfg, const char *name) {
    const char *leaf = ".num_batches_tracked";
    size_t n = strlen(name), m = strlen(leaf);
    /* BatchNorm2d's: ModifiedResNet's, timm ConvStem's (MobileCLIP-B) and FastViT's */
    return (cfg->family == OCLIP_FAMILY_RESNET || cfg->family == OCLIP_FAMILY_TIMM) && n > m &&
           !strcmp(name + n - m, leaf) && !strncmp(name, "visual.", 7);
}

oclip_status oc_arch_expected(const oclip_model_config *cfg, oc_arena *a, oc_expect **out,
                              size_t *n, oclip_error *err) {
    const char *why = oc_arch_unsupported(cfg);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "not supported yet: %s", why);
    if (cfg->family == OCLIP_FAMILY_COCA) { /* model/coca.c */
        oc_elist l = {.a = a};
        oc_coca_expected(cfg, oc_elist_put, &l);
        return oc_elist_done(&l, out, n, err);
    }
    bool rn = cfg->family == OCLIP_FAMILY_RESNET;
    /* a timm tower of timm.c's table: in a CustomTextCLIP, or (ConvNeXt) in a CLIP */
    const oc_timm_family *tf = cfg->family == OCLIP_FAMILY_TIMM
                                   ? oc_timm_family_of(cfg->vision.timm_model_name) : NULL;
    if ((rn || tf) && (cfg->text.width <= 0 || cfg->embed_dim <= 0))
        return oc_err_set(err, OCLIP_E_ARG, "config with zero-sized dimensions");
    if (tf && cfg->custom_text) return custom_text_expected(cfg, tf->visual, a, out, n, err);
    if (rn || tf) goto native;
    if (cfg->vision.patch_size <= 0 || cfg->vision.width <= 0 || cfg->text.width <= 0 ||
        cfg->embed_dim <= 0)
        return oc_err_set(err, OCLIP_E_ARG, "config with zero-sized dimensions");
    if (cfg->text.hf_model_name[0]) return oc_hftext_expected(cfg, a, out, n, err);
    if (cfg->family == OCLIP_FAMILY_TIMM)
        return custom_text_expected(cfg, siglip_visual, a, out, n, err);
native:;
    const oclip_vision_cfg *v = &cfg->vision;
    const oclip_text_cfg *t = &cfg->text;
    elist l = {.a = a};
    int64_t E = cfg->embed_dim, Wv = v->width, Wt = t->width;
    int64_t gh = rn || tf ? 0 : v->image_size[0] / v->patch_size;
    int64_t gw = rn || tf ? 0 : v->image_size[1] / v->patch_size;
    int64_t mlp_v = (int64_t)(Wv * v->mlp_ratio), mlp_t = (int64_t)(Wt * t->mlp_ratio);
    int ls_dims = cfg->nonscalar_logit_scale ? 1 : 0;

    /* CLIP's own parameters, then visual, transformer, token_embedding, ln_final */
    put(&l, 2, t->context_length, Wt, 0, 0, "positional_embedding");
    if (!strcmp(t->proj_type, "linear") || t->proj_type[0] == '\0') {
        if (t->proj_bias) {
            put(&l, 2, E, Wt, 0, 0, "text_projection.weight");
            put(&l, 1, E, 0, 0, 0, "text_projection.bias");
        } else {
            put(&l, 2, Wt, E, 0, 0, "text_projection");
        }
    }
    put(&l, ls_dims, 1, 0, 0, 0, "logit_scale");
    if (cfg->has_logit_bias) put(&l, ls_dims, 1, 0, 0, 0, "logit_bias");

    if (rn) {
        resnet_visual(&l, cfg);
        goto text;
    }
    if (tf) {
        tf->visual(cfg, oc_elist_put, &l);
        goto text;
    }
    put(&l, 1, Wv, 0, 0, 0, "visual.class_embedding");
    put(&l, 2, gh * gw + 1, Wv, 0, 0, "visual.positional_embedding");
    put(&l, 2, Wv, E, 0, 0, "visual.proj");
    put(&l, 4, Wv, 3, v->patch_size, v->patch_size, "visual.conv1.weight");
    if (!v->no_ln_pre) {
        put(&l, 1, Wv, 0, 0, 0, "visual.ln_pre.weight");
        put(&l, 1, Wv, 0, 0, 0, "visual.ln_pre.bias");
    }
    oc_emit_resblocks(&(const oc_emit){oc_elist_put, &l}, "visual.transformer.", v->layers, Wv,
                      mlp_v, v->has_ls);
    put(&l, 1, Wv, 0, 0, 0, "visual.ln_post.weight");
    put(&l, 1, Wv, 0, 0, 0, "visual.ln_post.bias");
text:
    oc_emit_resblocks(&(const oc_emit){oc_elist_put, &l}, "transformer.", t->layers, Wt, mlp_t,
                      t->has_ls);
    put(&l, 2, t->vocab_size, Wt, 0, 0, "token_embedding.weight");
    put(&l, 1, Wt, 0, 0, 0, "ln_final.weight");
    put(&l, 1, Wt, 0, 0, 0, "ln_final.bias");
    return oc_elist_done(&l, out, n, err);
}

/* =============================================================================================
 * Inference from shapes
 */
static const oclip_tensor *find(const oclip_checkpoint *ck, const char *name, int ndim) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    return t && t->ndim == ndim ? t : NULL;
}

/* Number of blocks: the largest i with `<prefix>resblocks.<i>.attn.in_proj_weight`, plus one. */
static int count_blocks(const oclip_checkpoint *ck, const char *prefix) {
    int n = 0;
    char name[256];
    for (;;) {
        snprintf(name, sizeof name, "%sresblocks.%d.attn.in_proj_weight", prefix, n);
        if (!oclip_checkpoint_find(ck, name) || n > 4096) return n;
        n++;
    }
}

static double mlp_ratio_of(const oclip_checkpoint *ck, const char *prefix, int64_t width) {
    char name[256];
    snprintf(name, sizeof name, "%sresblocks.0.mlp.c_fc.weight", prefix);
    const oclip_tensor *t = find(ck, name, 2);
    return t && width ? (double)t->shape[0] / (double)width : 4.0;
}

static bool has_ls(const oclip_checkpoint *ck, const char *prefix) {
    char name[256];
    snprintf(name, sizeof name, "%sresblocks.0.ls_1.gamma", prefix);
    return oclip_checkpoint_find(ck, name) != NULL;
}

/* A ModifiedResNet image tower's geometry, as OpenCLIP's build_model_from_openai_state_dict
 * reads it: width from conv3 (the stem's last convolution), blocks per layer, image size =
 * 32 * the attention pool's grid, heads width * 32 / 64; false with a reason when incomplete */
static bool resnet_shapes(const oclip_checkpoint *ck, oclip_vision_cfg *v, const char **why) {
    const oclip_tensor *c3 = find(ck, "visual.conv3.weight", 4);
    const oclip_tensor *pos = find(ck, "visual.attnpool.positional_embedding", 2);
    if (!c3 || !pos || c3->shape[0] <= 0 || c3->shape[0] > (1 << 16)) {
        *why = "the ModifiedResNet image tower is incomplete (visual.conv3.weight, "
               "visual.attnpool.positional_embedding)";
        return false;
    }
    v->width = (int)c3->shape[0];
    char name[96];
    for (int li = 0; li < 4; li++) {
        int n = 0;
        for (;;) {
            snprintf(name, sizeof name, "visual.layer%d.%d.conv1.weight", li + 1, n);
            if (!oclip_checkpoint_find(ck, name) || n > 4096) break;
            n++;
        }
        v->resnet_layers[li] = n;
    }
    int64_t tokens = pos->shape[0] - 1;
    int64_t g = (int64_t)llround(sqrt((double)(tokens > 0 ? tokens : 0)));
    if (g <= 0 || g * g != tokens || g > 128) {
        *why = "visual.attnpool.positional_embedding is not a square grid plus one mean token";
        return false;
    }
    v->image_size[0] = v->image_size[1] = (int)(32 * g);
    v->layers = 0;
    v->patch_size = 0;
    v->head_width = 64;
    v->mlp_ratio = 4.0;
    snprintf(v->pool_type, sizeof v->pool_type, "tok");
    snprintf(v->pos_embed_type, sizeof v->pos_embed_type, "learnable");
    v->ln_eps = 1e-5;
    return true;
}

/* Fills the geometry the tensors show; false (with a reason) when a tower is absent. */
static bool shapes_to_config(const oclip_checkpoint *ck, oclip_model_config *c, const char **why) {
    memset(c, 0, sizeof *c);
    bool rn = oclip_checkpoint_find(ck, "visual.layer1.0.conv1.weight") != NULL;
    const oclip_tensor *conv = find(ck, "visual.conv1.weight", 4);
    const oclip_tensor *vpos = find(ck, "visual.positional_embedding", 2);
    const oclip_tensor *vproj = find(ck, "visual.proj", 2);
    const oclip_tensor *tok = find(ck, "token_embedding.weight", 2);
    const oclip_tensor *tpos = find(ck, "positional_embedding", 2);
    const oclip_tensor *tproj = find(ck, "text_projection", 2);
    if (!conv && !vpos && !tok && !tpos) {
        *why = "no OpenCLIP image or text tower in this file";
        return false;
    }
    if (rn && !resnet_shapes(ck, &c->vision, why)) return false;
    if (!rn && (!conv || !vpos)) {
        *why = conv || vpos ? "the image tower is incomplete"
                            : "no image tower in this file (text-only checkpoint?)";
        return false;
    }
    if (!tok || !tpos) {
        *why = tok || tpos ? "the text tower is incomplete"
                           : "no text tower in this file: vision-only checkpoint";
        return false;
    }
    /* zero-sized dimensions describe no model (and would divide by zero below) */
    if ((!rn && (conv->shape[0] <= 0 || conv->shape[3] <= 0 || conv->shape[2] != conv->shape[3])) ||
        tok->shape[0] <= 0 || tok->shape[1] <= 0 || tpos->shape[0] <= 0) {
        *why = "a tower has zero-sized or non-square dimensions";
        return false;
    }
    oclip_vision_cfg *v = &c->vision;
    if (rn) goto text;
    v->width = (int)conv->shape[0];
    v->patch_size = (int)conv->shape[3];
    int64_t tokens = vpos->shape[0] - 1;
    int64_t g = (int64_t)llround(sqrt((double)(tokens > 0 ? tokens : 0)));
    if (g * g != tokens) {
        *why = "visual.positional_embedding is not a square grid plus one class token";
        return false;
    }
    v->image_size[0] = v->image_size[1] = (int)(g * v->patch_size);
    v->layers = count_blocks(ck, "visual.transformer.");
    /* heads cannot be seen in weights: OpenCLIP's head_width 64 where the width allows it,
     * else one head (narrow test models) */
    v->head_width = v->width % 64 == 0 ? 64 : v->width;
    v->mlp_ratio = mlp_ratio_of(ck, "visual.transformer.", v->width);
    v->has_ls = has_ls(ck, "visual.transformer.");
    v->ls_init_value = v->has_ls ? 1e-5 : 0;
    v->no_ln_pre = oclip_checkpoint_find(ck, "visual.ln_pre.weight") == NULL;
    snprintf(v->pool_type, sizeof v->pool_type, "tok");
    snprintf(v->pos_embed_type, sizeof v->pos_embed_type, "learnable");
    v->ln_eps = 1e-5;
text:;
    oclip_text_cfg *t = &c->text;
    t->vocab_size = (int)tok->shape[0];
    t->width = (int)tok->shape[1];
    t->context_length = (int)tpos->shape[0];
    t->layers = count_blocks(ck, "transformer.");
    t->heads = t->width % 64 == 0 ? t->width / 64 : 1;
    t->mlp_ratio = mlp_ratio_of(ck, "transformer.", t->width);
    t->has_ls = has_ls(ck, "transformer.");
    t->ls_init_value = t->has_ls ? 1e-5 : 0;
    t->eos_id = 2;
    snprintf(t->pool_type, sizeof t->pool_type, "argmax");
    t->ln_eps = 1e-5;
    if (tproj) {
        snprintf(t->proj_type, sizeof t->proj_type, "linear");
        c->embed_dim = (int)tproj->shape[1];
    } else if (find(ck, "text_projection.weight", 2)) {
        snprintf(t->proj_type, sizeof t->proj_type, "linear");
        t->proj_bias = 1;
        c->embed_dim = (int)oclip_checkpoint_find(ck, "text_projection.weight")->shape[0];
    } else {
        snprintf(t->proj_type, sizeof t->proj_type, "none");
        const oclip_tensor *cp = find(ck, "visual.attnpool.c_proj.weight", 2);
        c->embed_dim = vproj ? (int)vproj->shape[1] : rn && cp ? (int)cp->shape[0] : t->width;
    }
    const oclip_tensor *ls = oclip_checkpoint_find(ck, "logit_scale");
    c->nonscalar_logit_scale = ls && ls->ndim == 1;
    c->has_logit_bias = oclip_checkpoint_find(ck, "logit_bias") != NULL;
    c->init_logit_bias = c->has_logit_bias ? -10.0 : 0.0;
    c->family = rn ? OCLIP_FAMILY_RESNET : OCLIP_FAMILY_NATIVE;
    return true;
}

/* Does the checkpoint hold exactly the expected keys with the expected shapes?
 * logit_scale/logit_bias may be [] or [1] (OpenCLIP reshapes them on load). */
static bool fits_exactly(const oclip_checkpoint *ck, const oclip_model_config *cfg,
                         const oc_expect *e, size_t n) {
    size_t have = oclip_checkpoint_n_tensors(ck);
    if (cfg->family == OCLIP_FAMILY_RESNET)
        for (size_t i = 0; i < ck->n_tensors; i++) have -= oc_arch_optional(cfg, ck->tensors[i].name);
    if (have != n) return false;
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_find(ck, e[i].name);
        if (!t) return false;
        bool scalar_like = !strcmp(e[i].name, "logit_scale") || !strcmp(e[i].name, "logit_bias");
        if (scalar_like) {
            if (t->numel != 1) return false;
            continue;
        }
        if (t->ndim != e[i].ndim) return false;
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] != e[i].shape[d]) return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* The native built-in configs with their expected state dicts, built once per process
 * (pthread_once) and read-only afterwards, so that inference costs a few comparisons rather than
 * parsing 181 configs. Never freed (like the pretrained-tag table in config.c). */
typedef struct {
    oclip_model_config cfg;
    oc_expect *e;
    size_t n;
} native_entry;

static struct {
    native_entry *v;
    size_t n;
    oc_arena arena;
} natives;
static pthread_once_t natives_once = PTHREAD_ONCE_INIT;

static void natives_init(void) {
    size_t count = oclip_config_builtin_count();
    natives.v = calloc(count ? count : 1, sizeof *natives.v);
    if (!natives.v) return;
    for (size_t i = 0; i < count; i++) {
        native_entry *ne = &natives.v[natives.n];
        if (oclip_config_builtin(oclip_config_builtin_name(i), &ne->cfg, NULL) != OCLIP_OK ||
            (ne->cfg.family != OCLIP_FAMILY_NATIVE && ne->cfg.family != OCLIP_FAMILY_RESNET) ||
            oc_arch_expected(&ne->cfg, &natives.arena, &ne->e, &ne->n, NULL) != OCLIP_OK)
            continue;
        natives.n++;
    }
}

oclip_status oclip_infer_config(const oclip_checkpoint *ck, oclip_model_config *out,
                                int *ambiguous_quick_gelu, oclip_error *err) {
    oc_err_clear(err);
    if (!ck || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_infer_config: NULL argument");
    if (ambiguous_quick_gelu) *ambiguous_quick_gelu = 0;
    const char *why = NULL;
    if (!shapes_to_config(ck, out, &why))
        return oc_err_set(err, OCLIP_E_FORMAT, "cannot infer the architecture: %s", why);
    pthread_once(&natives_once, natives_init);
    /* a built-in config that expects exactly these tensors */
    int found = 0, quick_variants = 0;
    const oclip_model_config *best = NULL;
    for (size_t i = 0; i < natives.n; i++) {
        const native_entry *ne = &natives.v[i];
        if (ne->cfg.family != out->family || !fits_exactly(ck, &ne->cfg, ne->e, ne->n)) continue;
        /* prefer the plain config over its -quickgelu twin, and the first one found else */
        if (!best || (ends_with(best->name, "-quickgelu") && !ends_with(ne->cfg.name, "-quickgelu")))
            best = &ne->cfg;
        quick_variants += ne->cfg.quick_gelu != 0;
        found++;
    }
    if (best) {
        *out = *best;
        if (ambiguous_quick_gelu) *ambiguous_quick_gelu = quick_variants > 0 && quick_variants < found;
    } else {
        out->name[0] = '\0';
    }
    return OCLIP_OK;
}
