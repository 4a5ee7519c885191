/*
 * timmvit.c — the class-token timm ViT image towers (model/timmvit.h): which names oclip
 * computes, their state dict (CustomTextCLIP: visual.trunk.*, text.*) and the binding of the
 * weights. The forward is nn/timm_vit.c oc_timmvit_forward.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/timmvit.h"
#include "model/registry.h"
#include "nn/timm_vit.h"

/* The model_args of timm's function of each name (timm 1.0.31):
 * vit_large_patch14_clip_224 (models/vision_transformer.py): patch 14, 1024 wide, depth 24, 16
 *   heads, pre_norm=True, norm_layer LayerNorm(eps=1e-5), mlp_ratio 4;
 * vit_base_mci_224 (models/vision_transformer_hybrid.py): embed_dim 768, depth 12, 12 heads,
 *   no_embed_class=True, ConvStem(channels=(192, 192, 768), stride = kernel_size = (4, 2, 2),
 *   padding 0, act GELU), VisionTransformer's default LayerNorm eps 1e-6. */
static const oc_timmvit_tower towers[] = {
    {"vit_large_patch14_clip_224", 224, 14, 1024, 24, 16, 4096, 1e-5f, 1, 0, 0, {0, 0}, {0, 0, 0}},
    {"vit_base_mci_224", 224, 16, 768, 12, 12, 3072, 1e-6f, 0, 1, 1, {192, 192}, {4, 2, 2}},
};

static oc_timmvit_tower registered[16];
/* the towers timm defines, then the ones tests register (registry.h) */
static oc_registry reg = OC_REGISTRY(oc_timmvit_tower, towers, sizeof towers / sizeof towers[0],
                                     registered, "oc_timmvit_tower_register");

bool oc_timmvit_tower_find(const char *name, oc_timmvit_tower *out) {
    return oc_registry_find(&reg, name, out);
}

/* The token grid timm's patch embedding gives an img x img image: floor(img / patch) for the
 * conv, and for the ConvStem each stage's floor (HybridEmbed runs the backbone to find it). */
static int grid(const oc_timmvit_tower *t) {
    if (!t->stem) return t->img / t->patch;
    return t->img / t->stem_k[0] / t->stem_k[1] / t->stem_k[2];
}

oclip_status oc_timmvit_tower_register(const oc_timmvit_tower *t, oclip_error *err) {
    bool ok = t && t->img > 0 &&
              t->img <= 4096 && t->width > 0 && t->width <= 1 << 16 && t->depth >= 0 &&
              t->depth <= 1024 && t->heads > 0 && t->width % t->heads == 0 && t->mlp > 0 &&
              t->mlp <= 1 << 20 && t->eps > 0;
    if (ok && t->stem) {
        for (int i = 0; i < 3; i++) ok = ok && t->stem_k[i] > 0 && t->stem_k[i] <= 64;
        ok = ok && t->stem_ch[0] > 0 && t->stem_ch[0] <= 1 << 16 && t->stem_ch[1] > 0 &&
             t->stem_ch[1] <= 1 << 16 && t->patch == t->stem_k[0] * t->stem_k[1] * t->stem_k[2];
    }
    ok = ok && t->patch > 0 && t->patch <= t->img && grid(t) > 0;
    if (!ok) return oc_err_set(err, OCLIP_E_ARG, "oc_timmvit_tower_register: invalid tower");
    return oc_registry_add(&reg, t, err);
}

const char *oc_timmvit_unsupported(const oclip_model_config *c, oc_timmvit_tower *tower) {
    const oclip_vision_cfg *v = &c->vision;
    oc_timmvit_tower t;
    if (!oc_timmvit_tower_find(v->timm_model_name, &t))
        return "timm ViT other than vit_large_patch14_clip_224 and vit_base_mci_224";
    /* timm_pool 'token' and timm_proj null: TimmModel makes the trunk's head the projection */
    if (strcmp(v->timm_pool, "token") || v->timm_proj[0])
        return "class-token timm ViT without timm_pool 'token' and timm_proj null";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (!c->custom_text) return "timm image tower without custom_text (CLIP's text keys)";
    if (v->image_size[0] != t.img || v->image_size[1] != t.img)
        return "vision_cfg.image_size differs from the timm tower's input size";
    if ((int64_t)grid(&t) * grid(&t) + 1 > OC_MAX_TOKENS) return "sequences longer than 4096 tokens";
    if (tower) *tower = t;
    return NULL;
}

/* =============================================================================================
 * Expected state dict: VisionTransformer's cls_token, pos_embed, patch_embed, norm_pre, blocks,
 * norm, head (module order); oc_arch_expected adds logit_scale and text.*
 */
void oc_timmvit_visual(const oclip_model_config *cfg, oc_put_fn put, void *ctx) {
    oc_timmvit_tower tw;
    if (oc_timmvit_unsupported(cfg, &tw)) return;
    const oc_emit e = {put, ctx};
    int64_t W = tw.width, P = tw.patch, g = grid(&tw), E = cfg->embed_dim;
    oc_emitf(&e, 3, 1, 1, W, 0, "visual.trunk.cls_token");
    oc_emitf(&e, 3, 1, g * g + !tw.no_embed_class, W, 0, "visual.trunk.pos_embed");
    if (tw.stem) {
        /* ConvStem: ConvNormAct 0, 1 (conv without bias, BatchNormAct2d), 2 (conv with bias);
         * num_batches_tracked is optional (oc_arch_optional) */
        int64_t cin = 3;
        for (int i = 0; i < 3; i++) {
            int64_t co = i < 2 ? tw.stem_ch[i] : W, k = tw.stem_k[i];
            oc_emitf(&e, 4, co, cin, k, k, "visual.trunk.patch_embed.backbone.%d.conv.weight", i);
            if (i == 2) {
                oc_emitf(&e, 1, co, 0, 0, 0, "visual.trunk.patch_embed.backbone.2.conv.bias");
            } else {
                static const char *const bn[] = {"weight", "bias", "running_mean", "running_var"};
                for (int j = 0; j < 4; j++)
                    oc_emitf(&e, 1, co, 0, 0, 0, "visual.trunk.patch_embed.backbone.%d.bn.%s", i,
                             bn[j]);
            }
            cin = co;
        }
    } else {
        oc_emitf(&e, 4, W, 3, P, P, "visual.trunk.patch_embed.proj.weight");
        if (!tw.pre_norm) oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.patch_embed.proj.bias");
    }
    if (tw.pre_norm) {
        oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm_pre.weight");
        oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm_pre.bias");
    }
    oc_emit_timm_blocks(&e, tw.depth, W, tw.mlp);
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.weight");
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.bias");
    oc_emitf(&e, 2, E, W, 0, 0, "visual.trunk.head.weight");
    oc_emitf(&e, 1, E, 0, 0, 0, "visual.trunk.head.bias");
}

/* =============================================================================================
 * Binding (the mapped view: OpenCLIP names, shapes validated against oc_arch_expected)
 */
typedef oc_binder binder;

/* ConvStem stage i (0, 1): its conv as fp32 [cout, cin * k * k] with the BatchNorm folded in
 * (eval: running statistics; nn.BatchNorm2d eps 1e-5) */
static void bind_stem_stage(binder *b, struct oc_timmvit *tv, int i) {
    char nm[96];
    snprintf(nm, sizeof nm, "visual.trunk.patch_embed.backbone.%d.conv.weight", i);
    float *w = oc_bind_vec(b, nm, 0);
    float *bn[4];
    static const char *const leaf[] = {"weight", "bias", "running_mean", "running_var"};
    for (int j = 0; j < 4; j++) {
        snprintf(nm, sizeof nm, "visual.trunk.patch_embed.backbone.%d.bn.%s", i, leaf[j]);
        bn[j] = oc_bind_vec(b, nm, 0);
    }
    size_t cout = (size_t)tv->ch[i], per = (size_t)(i ? tv->ch[0] : 3) * (size_t)tv->k[i] *
                                           (size_t)tv->k[i];
    float *bias = oc_arena_alloc(&b->m->arena, cout * sizeof(float));
    if (!bias && !b->st) b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
    if (b->st || !w || !bias) return;
    memset(bias, 0, cout * sizeof(float));
    oc_bn_fold(w, bias, cout, per, bn[0], bn[1], bn[2], bn[3], 1e-5f);
    tv->w[i] = (oc_weight){.data = (const uint8_t *)w, .dtype = OCLIP_DTYPE_F32, .n = cout, .k = per};
    tv->b[i] = bias;
}

oclip_status oc_timmvit_bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err) {
    oc_timmvit_tower tt;
    const char *why = oc_timmvit_unsupported(&m->cfg, &tt);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s': %s",
                               m->cfg.vision.timm_model_name, why);
    binder b = {m, mapped, err, OCLIP_OK};
    oc_vision *v = &m->vis;
    oc_tower *tw = &v->tw;
    struct oc_timmvit *tv = oc_arena_alloc(&m->arena, sizeof *tv);
    if (tv) memset(tv, 0, sizeof *tv);
    tw->blocks = oc_arena_alloc(&m->arena, (size_t)(tt.depth > 0 ? tt.depth : 1) * sizeof *tw->blocks);
    if (!tv || !tw->blocks) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    tw->D = tt.width;
    tw->M = tt.mlp;
    tw->H = tt.heads;
    tw->layers = tt.depth;
    tw->eps = tt.eps;
    tw->act = OC_ACT_GELU; /* VisionTransformer's default act_layer: nn.GELU */
    tw->causal = 0;
#define BLK(leaf) "visual.trunk.blocks.%d." leaf
    for (int l = 0; l < tw->layers; l++) {
        oc_block *k = &tw->blocks[l];
        memset(k, 0, sizeof *k);
        k->ln1_w = oc_bind_vec(&b, BLK("norm1.weight"), l);
        k->ln1_b = oc_bind_vec(&b, BLK("norm1.bias"), l);
        k->ln2_w = oc_bind_vec(&b, BLK("norm2.weight"), l);
        k->ln2_b = oc_bind_vec(&b, BLK("norm2.bias"), l);
        k->in_w = oc_bind_weight(&b, BLK("attn.qkv.weight"), l, 0); /* rows [q; k; v], as in_proj */
        k->in_b = oc_bind_vec(&b, BLK("attn.qkv.bias"), l);
        k->out_w = oc_bind_weight(&b, BLK("attn.proj.weight"), l, 0);
        k->out_b = oc_bind_vec(&b, BLK("attn.proj.bias"), l);
        k->fc_w = oc_bind_weight(&b, BLK("mlp.fc1.weight"), l, 0);
        k->fc_b = oc_bind_vec(&b, BLK("mlp.fc1.bias"), l);
        k->proj_w = oc_bind_weight(&b, BLK("mlp.fc2.weight"), l, 0);
        k->proj_b = oc_bind_vec(&b, BLK("mlp.fc2.bias"), l);
    }
#undef BLK
    tv->eps = tt.eps;
    tv->no_embed_class = tt.no_embed_class;
    tv->stem = tt.stem;
    v->img_h = v->img_w = tt.img;
    v->P = tt.patch;
    v->gh = v->gw = grid(&tt);
    if (tt.stem) {
        int s = tt.img;
        for (int i = 0; i < 3; i++) {
            tv->k[i] = tt.stem_k[i];
            s /= tt.stem_k[i];
            tv->h[i] = tv->w_[i] = s;
        }
        tv->ch[0] = tt.stem_ch[0];
        tv->ch[1] = tt.stem_ch[1];
        bind_stem_stage(&b, tv, 0);
        bind_stem_stage(&b, tv, 1);
        v->conv = oc_bind_weight(&b, "visual.trunk.patch_embed.backbone.2.conv.weight", 0, 0);
        v->conv_b = oc_bind_vec(&b, "visual.trunk.patch_embed.backbone.2.conv.bias", 0);
    } else {
        v->conv = oc_bind_weight(&b, "visual.trunk.patch_embed.proj.weight", 0, 0);
        if (!tt.pre_norm) v->conv_b = oc_bind_vec(&b, "visual.trunk.patch_embed.proj.bias", 0);
    }
    if (tt.pre_norm) {
        v->ln_pre_w = oc_bind_vec(&b, "visual.trunk.norm_pre.weight", 0);
        v->ln_pre_b = oc_bind_vec(&b, "visual.trunk.norm_pre.bias", 0);
    }
    v->cls = oc_bind_vec(&b, "visual.trunk.cls_token", 0);
    v->pos = oc_bind_vec(&b, "visual.trunk.pos_embed", 0);
    v->ln_post_w = oc_bind_vec(&b, "visual.trunk.norm.weight", 0);
    v->ln_post_b = oc_bind_vec(&b, "visual.trunk.norm.bias", 0);
    v->proj = oc_bind_weight(&b, "visual.trunk.head.weight", 0, 0); /* Linear [E, D] */
    tv->head_b = oc_bind_vec(&b, "visual.trunk.head.bias", 0);
    v->tv = tv;
    return b.st;
}
