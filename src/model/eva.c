/*
 * eva.c — the EVA CLIP image towers (timm 1.0.31 models/eva.py: eva02_*_clip_*, and
 * eva_giant_patch14_224 for EVA01)
 * as OpenCLIP's TimmModel builds them with timm_pool 'token' and timm_proj null (open_clip
 * timm_model.py: timm.create_model(name, num_classes=embed_dim, global_pool='token'), so the
 * trunk's head Linear(width, embed_dim) with bias is the projection): which names oclip
 * computes, their state dict (CustomTextCLIP: visual.trunk.*, text.*) and the binding of the
 * weights. The forward is nn/eva.c; docs/EVA.md is the reference.
 * The Perception Encoder towers (timm models/eva.py vit_pe_core_*, OpenCLIP's PE-Core-* configs:
 * timm_pool 'map', timm_proj null) are Eva too: timm.create_model(name, num_classes=embed_dim,
 * global_pool='map') keeps their AttentionPoolLatent and adds the head Linear(width, embed_dim).
 */
#include <stdio.h>
#include <string.h>

#include "model/eva.h"
#include "model/registry.h"
#include "model/model.h"
#include "nn/eva.h"

/* name, input size, patch, width, depth, heads, MLP hidden int(width * mlp_ratio), rope
 * ref_feat_shape (0: none), swiglu, fused, attn_norm, post_norm, then for PE: pe, no_cls,
 * rope_xy, rope_off, map_heads, map_mlp: the model_args of timm's function of that name (EVA02
 * B/L mlp_ratio 4 * 2 / 3; EVA01 6144 / 1408; EVA02-E 15360 / 1792, use_post_norm; PE: mlp_ratio
 * 4 (gigantic 8960 / 1536), rope_grid_indexing 'xy', rope_grid_offset 1 (gigantic: 0 and
 * class_token False), attn_pool_num_heads 8, attn_pool_mlp_ratio 4) */
static const oc_eva_tower eva_towers[] = {
    {"eva02_base_patch16_clip_224", 224, 16, 768, 12, 12, 2048, 16, 1, 0, 1, 0, 0, 0, 0, 0.0f, 0,
     0},
    {"eva02_large_patch14_clip_224", 224, 14, 1024, 24, 16, 2730, 16, 1, 0, 1, 0, 0, 0, 0, 0.0f,
     0, 0},
    {"eva02_large_patch14_clip_336", 336, 14, 1024, 24, 16, 2730, 16, 1, 0, 1, 0, 0, 0, 0, 0.0f,
     0, 0},
    {"eva02_enormous_patch14_clip_224", 224, 14, 1792, 64, 16, 15360, 0, 0, 1, 0, 1, 0, 0, 0,
     0.0f, 0, 0},
    {"eva_giant_patch14_224", 224, 14, 1408, 40, 16, 6144, 0, 0, 1, 0, 0, 0, 0, 0, 0.0f, 0, 0},
    {"eva_giant_patch14_clip_224", 224, 14, 1408, 40, 16, 6144, 0, 0, 1, 0, 0, 0, 0, 0, 0.0f, 0, 0},
    {"vit_pe_core_tiny_patch16_384", 384, 16, 192, 12, 3, 768, 24, 0, 1, 0, 0, 1, 0, 1, 1.0f, 8,
     768},
    {"vit_pe_core_small_patch16_384", 384, 16, 384, 12, 6, 1536, 24, 0, 1, 0, 0, 1, 0, 1, 1.0f, 8,
     1536},
    {"vit_pe_core_base_patch16_224", 224, 16, 768, 12, 12, 3072, 14, 0, 1, 0, 0, 1, 0, 1, 1.0f, 8,
     3072},
    {"vit_pe_core_large_patch14_336", 336, 14, 1024, 24, 16, 4096, 24, 0, 1, 0, 0, 1, 0, 1, 1.0f,
     8, 4096},
    {"vit_pe_core_gigantic_patch14_448", 448, 14, 1536, 50, 16, 8960, 32, 0, 1, 0, 0, 1, 1, 1,
     0.0f, 8, 6144},
};

static oc_eva_tower registered[16];
/* the towers timm defines, then the ones tests register (registry.h) */
static oc_registry reg =
    OC_REGISTRY(oc_eva_tower, eva_towers, sizeof eva_towers / sizeof eva_towers[0], registered,
                "oc_eva_tower_register");

bool oc_eva_tower_find(const char *name, oc_eva_tower *out) {
    return oc_registry_find(&reg, name, out);
}

bool oc_eva_family(const char *name) {
    return name && (!strncmp(name, "eva_", 4) || !strncmp(name, "eva02_", 6) ||
                    !strncmp(name, "vit_pe_core_", 12) || oc_eva_tower_find(name, NULL));
}

oclip_status oc_eva_tower_register(const oc_eva_tower *t, oclip_error *err) {
    if (!t || t->img <= 0 || t->patch <= 0 ||
        t->patch > t->img || t->width <= 0 || t->depth < 0 || t->heads <= 0 ||
        t->width % t->heads || t->mlp <= 0 || t->ref < 0 || (t->ref && (t->width / t->heads) % 4) ||
        !(t->rope_off >= 0.0f && t->rope_off <= 64.0f) ||
        (t->pe && (!t->fused || t->swiglu || t->attn_norm || t->post_norm || t->map_heads <= 0 ||
                   t->width % t->map_heads || t->map_mlp <= 0)) ||
        (!t->pe && (t->no_cls || t->map_heads || t->map_mlp)))
        return oc_err_set(err, OCLIP_E_ARG, "oc_eva_tower_register: invalid tower");
    return oc_registry_add(&reg, t, err);
}

const char *oc_eva_unsupported(const oclip_model_config *c, oc_eva_tower *tower) {
    const oclip_vision_cfg *v = &c->vision;
    oc_eva_tower t;
    if (!oc_eva_tower_find(v->timm_model_name, &t))
        return "timm EVA tower other than the EVA CLIP ones (eva02_*_clip_*, eva_giant_*) and "
               "the Perception Encoder ones (vit_pe_core_*)";
    if (!t.pe && (strcmp(v->timm_pool, "token") || v->timm_proj[0]))
        return "EVA timm tower without timm_pool 'token' and timm_proj null";
    if (t.pe && (strcmp(v->timm_pool, "map") || v->timm_proj[0]))
        return "PE timm tower without timm_pool 'map' and timm_proj null";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (!c->custom_text) return "timm image tower without custom_text (CLIP's text keys)";
    if (v->image_size[0] != t.img || v->image_size[1] != t.img)
        return "vision_cfg.image_size differs from the timm tower's input size";
    if ((int64_t)(t.img / t.patch) * (t.img / t.patch) + !t.no_cls > OC_MAX_TOKENS)
        return "sequences longer than 4096 tokens";
    if (tower) *tower = t;
    return NULL;
}

/* =============================================================================================
 * Expected state dict: Eva's cls_token, pos_embed, patch_embed, norm_pre, blocks, norm,
 * attn_pool, head (module order); oc_arch_expected adds logit_scale and text.*
 */
void oc_eva_visual(const oclip_model_config *cfg, oc_put_fn put, void *ctx) {
    oc_eva_tower tw;
    if (oc_eva_unsupported(cfg, &tw)) return;
    const oc_emit e = {put, ctx};
    int64_t W = tw.width, M = tw.mlp, P = tw.patch, g = tw.img / tw.patch, E = cfg->embed_dim;
    if (!tw.no_cls) oc_emitf(&e, 3, 1, 1, W, 0, "visual.trunk.cls_token");
    oc_emitf(&e, 3, 1, g * g + !tw.no_cls, W, 0, "visual.trunk.pos_embed");
    oc_emitf(&e, 4, W, 3, P, P, "visual.trunk.patch_embed.proj.weight");
    if (!tw.pe) oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.patch_embed.proj.bias");
    if (tw.pe) {
        oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm_pre.weight");
        oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm_pre.bias");
    }
    for (int i = 0; i < tw.depth; i++) {
#define B "visual.trunk.blocks.%d."
        oc_emitf(&e, 1, W, 0, 0, 0, B "norm1.weight", i);
        oc_emitf(&e, 1, W, 0, 0, 0, B "norm1.bias", i);
        if (tw.pe) { /* AttentionRope */
            oc_emitf(&e, 2, 3 * W, W, 0, 0, B "attn.qkv.weight", i);
            oc_emitf(&e, 1, 3 * W, 0, 0, 0, B "attn.qkv.bias", i);
        } else if (tw.fused) {
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.q_bias", i);
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.v_bias", i);
            oc_emitf(&e, 2, 3 * W, W, 0, 0, B "attn.qkv.weight", i);
        } else {
            oc_emitf(&e, 2, W, W, 0, 0, B "attn.q_proj.weight", i);
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.q_proj.bias", i);
            oc_emitf(&e, 2, W, W, 0, 0, B "attn.k_proj.weight", i);
            oc_emitf(&e, 2, W, W, 0, 0, B "attn.v_proj.weight", i);
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.v_proj.bias", i);
        }
        if (tw.attn_norm) {
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.norm.weight", i);
            oc_emitf(&e, 1, W, 0, 0, 0, B "attn.norm.bias", i);
        }
        oc_emitf(&e, 2, W, W, 0, 0, B "attn.proj.weight", i);
        oc_emitf(&e, 1, W, 0, 0, 0, B "attn.proj.bias", i);
        oc_emitf(&e, 1, W, 0, 0, 0, B "norm2.weight", i);
        oc_emitf(&e, 1, W, 0, 0, 0, B "norm2.bias", i);
        if (tw.swiglu) {
            oc_emitf(&e, 2, M, W, 0, 0, B "mlp.fc1_g.weight", i);
            oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.fc1_g.bias", i);
            oc_emitf(&e, 2, M, W, 0, 0, B "mlp.fc1_x.weight", i);
            oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.fc1_x.bias", i);
            oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.norm.weight", i);
            oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.norm.bias", i);
        } else {
            oc_emitf(&e, 2, M, W, 0, 0, B "mlp.fc1.weight", i);
            oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.fc1.bias", i);
        }
        oc_emitf(&e, 2, W, M, 0, 0, B "mlp.fc2.weight", i);
        oc_emitf(&e, 1, W, 0, 0, 0, B "mlp.fc2.bias", i);
#undef B
    }
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.weight");
    oc_emitf(&e, 1, W, 0, 0, 0, "visual.trunk.norm.bias");
    if (tw.pe) oc_emit_attn_pool(&e, W, tw.map_mlp);
    oc_emitf(&e, 2, E, W, 0, 0, "visual.trunk.head.weight");
    oc_emitf(&e, 1, E, 0, 0, 0, "visual.trunk.head.bias");
}

/* =============================================================================================
 * Binding (the mapped view: OpenCLIP names, shapes validated against oc_arch_expected)
 */
typedef oc_binder binder;

oclip_status oc_eva_bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err) {
    oc_eva_tower tt;
    const char *why = oc_eva_unsupported(&m->cfg, &tt);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s': %s",
                               m->cfg.vision.timm_model_name, why);
    binder b = {m, mapped, err, OCLIP_OK};
    oc_vision *v = &m->vis;
    struct oc_eva *e = oc_arena_alloc(&m->arena, sizeof *e);
    int G = (tt.img / tt.patch) * (tt.img / tt.patch), hd = tt.width / tt.heads;
    if (e) {
        memset(e, 0, sizeof *e);
        e->blocks = oc_arena_alloc(&m->arena, (size_t)(tt.depth > 0 ? tt.depth : 1) *
                                                  sizeof *e->blocks);
        if (tt.ref)
            e->rope_sin = oc_arena_alloc(&m->arena, (size_t)G * (size_t)hd * sizeof(float));
    }
    if (!e || !e->blocks || (tt.ref && !e->rope_sin))
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    if (tt.ref) e->rope_cos = e->rope_sin + (size_t)G * (size_t)(hd / 2);
    e->D = tt.width;
    e->H = tt.heads;
    e->M = tt.mlp;
    e->layers = tt.depth;
    e->swiglu = tt.swiglu;
    e->fused = tt.fused;
    e->post_norm = tt.post_norm;
    e->ncls = !tt.no_cls;
    /* timm LayerNorm default (layers/norm.py) 1e-6; PE: norm_layer partial(LayerNorm, eps=1e-5) */
    e->eps = tt.pe ? 1e-5f : 1e-6f;
    v->P = tt.patch;
    v->img_h = v->img_w = tt.img;
    v->gh = v->gw = tt.img / tt.patch;
    if (tt.ref)
        oc_eva_rope_table(v->gh, v->gw, hd, tt.ref, tt.rope_xy, tt.rope_off, e->rope_sin,
                          e->rope_cos);
#define BLK(leaf) "visual.trunk.blocks.%d." leaf
    for (int l = 0; l < tt.depth; l++) {
        oc_eva_block *k = &e->blocks[l];
        k->n1_w = oc_bind_vec(&b, BLK("norm1.weight"), l);
        k->n1_b = oc_bind_vec(&b, BLK("norm1.bias"), l);
        if (tt.pe) {
            /* AttentionRope: qkv Linear with bias, rows [q; k; v] */
            k->q = oc_bind_weight(&b, BLK("attn.qkv.weight"), l, 0);
            k->q_b = oc_bind_vec(&b, BLK("attn.qkv.bias"), l);
        } else if (tt.fused) {
            /* F.linear(x, qkv.weight, cat(q_bias, k_bias = 0, v_bias)) */
            k->q = oc_bind_weight(&b, BLK("attn.qkv.weight"), l, 0);
            float *qb = oc_bind_vec(&b, BLK("attn.q_bias"), l);
            float *vb = oc_bind_vec(&b, BLK("attn.v_bias"), l);
            k->q_b = oc_arena_alloc(&m->arena, 3 * (size_t)tt.width * sizeof(float));
            if (!k->q_b) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            for (int i = 0; qb && vb && i < tt.width; i++) {
                k->q_b[i] = qb[i];
                k->q_b[tt.width + i] = 0.0f;
                k->q_b[2 * tt.width + i] = vb[i];
            }
        } else {
            k->q = oc_bind_weight(&b, BLK("attn.q_proj.weight"), l, 0);
            k->q_b = oc_bind_vec(&b, BLK("attn.q_proj.bias"), l);
            k->k = oc_bind_weight(&b, BLK("attn.k_proj.weight"), l, 0);
            k->v = oc_bind_weight(&b, BLK("attn.v_proj.weight"), l, 0);
            k->v_b = oc_bind_vec(&b, BLK("attn.v_proj.bias"), l);
        }
        if (tt.attn_norm) {
            k->an_w = oc_bind_vec(&b, BLK("attn.norm.weight"), l);
            k->an_b = oc_bind_vec(&b, BLK("attn.norm.bias"), l);
        }
        k->proj = oc_bind_weight(&b, BLK("attn.proj.weight"), l, 0);
        k->proj_b = oc_bind_vec(&b, BLK("attn.proj.bias"), l);
        k->n2_w = oc_bind_vec(&b, BLK("norm2.weight"), l);
        k->n2_b = oc_bind_vec(&b, BLK("norm2.bias"), l);
        if (tt.swiglu) {
            k->fg = oc_bind_weight(&b, BLK("mlp.fc1_g.weight"), l, 0);
            k->fg_b = oc_bind_vec(&b, BLK("mlp.fc1_g.bias"), l);
            k->fx = oc_bind_weight(&b, BLK("mlp.fc1_x.weight"), l, 0);
            k->fx_b = oc_bind_vec(&b, BLK("mlp.fc1_x.bias"), l);
            k->mn_w = oc_bind_vec(&b, BLK("mlp.norm.weight"), l);
            k->mn_b = oc_bind_vec(&b, BLK("mlp.norm.bias"), l);
        } else {
            k->fg = oc_bind_weight(&b, BLK("mlp.fc1.weight"), l, 0);
            k->fg_b = oc_bind_vec(&b, BLK("mlp.fc1.bias"), l);
        }
        k->fc2 = oc_bind_weight(&b, BLK("mlp.fc2.weight"), l, 0);
        k->fc2_b = oc_bind_vec(&b, BLK("mlp.fc2.bias"), l);
    }
#undef BLK
    if (!tt.no_cls) e->cls = oc_bind_vec(&b, "visual.trunk.cls_token", 0);
    v->pos = oc_bind_vec(&b, "visual.trunk.pos_embed", 0);
    v->conv = oc_bind_weight(&b, "visual.trunk.patch_embed.proj.weight", 0, 0);
    if (!tt.pe) v->conv_b = oc_bind_vec(&b, "visual.trunk.patch_embed.proj.bias", 0);
    if (tt.pe) {
        e->pre_w = oc_bind_vec(&b, "visual.trunk.norm_pre.weight", 0);
        e->pre_b = oc_bind_vec(&b, "visual.trunk.norm_pre.bias", 0);
#define AP(leaf) "visual.trunk.attn_pool." leaf
        v->latent = oc_bind_vec(&b, AP("latent"), 0);
        v->pool_q = oc_bind_weight(&b, AP("q.weight"), 0, 0);
        v->pool_q_b = oc_bind_vec(&b, AP("q.bias"), 0);
        v->pool_kv = oc_bind_weight(&b, AP("kv.weight"), 0, 0);
        v->pool_kv_b = oc_bind_vec(&b, AP("kv.bias"), 0);
        v->pool_proj = oc_bind_weight(&b, AP("proj.weight"), 0, 0);
        v->pool_proj_b = oc_bind_vec(&b, AP("proj.bias"), 0);
        v->pool_ln_w = oc_bind_vec(&b, AP("norm.weight"), 0);
        v->pool_ln_b = oc_bind_vec(&b, AP("norm.bias"), 0);
        v->pool_fc1 = oc_bind_weight(&b, AP("mlp.fc1.weight"), 0, 0);
        v->pool_fc1_b = oc_bind_vec(&b, AP("mlp.fc1.bias"), 0);
        v->pool_fc2 = oc_bind_weight(&b, AP("mlp.fc2.weight"), 0, 0);
        v->pool_fc2_b = oc_bind_vec(&b, AP("mlp.fc2.bias"), 0);
#undef AP
        e->map = 1;
    }
    v->ln_post_w = oc_bind_vec(&b, "visual.trunk.norm.weight", 0);
    v->ln_post_b = oc_bind_vec(&b, "visual.trunk.norm.bias", 0);
    v->proj = oc_bind_weight(&b, "visual.trunk.head.weight", 0, 0); /* Linear [E, D] */
    e->head_b = oc_bind_vec(&b, "visual.trunk.head.bias", 0);
    /* the shared transformer runner is not used: no blocks to pack there; with PE's MAP pool tw
     * describes the pool for oc_map_pool (engine.h): its heads, its MLP width, nn.GELU */
    memset(&v->tw, 0, sizeof v->tw);
    v->tw.D = tt.width;
    v->tw.H = tt.pe ? tt.map_heads : tt.heads;
    v->tw.M = tt.pe ? tt.map_mlp : tt.mlp;
    v->tw.eps = e->eps;
    v->tw.act = OC_ACT_GELU;
    v->eva = e;
    return b.st;
}
