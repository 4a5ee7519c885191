/*
 * vitamin.c — the ViTamin CLIP models oclip computes: OpenCLIP's CustomTextCLIP built with
 * vision_cfg.timm_model_name a timm ViTamin (data/model_configs/ViTamin-*.json), its image tower
 * a TimmModel (open_clip timm_model.py) with timm_pool '' (the trunk keeps its own global_pool
 * 'avg': reset_classifier(0) without a pool) or 'avg', and timm_proj 'linear' (head.proj, no
 * bias). OpenCLIP passes only the name to timm, so the trunk is timm's definition of that name
 * (timm 1.0.31 models/vitamin.py, the vitamin_* functions).
 */
#include <stdio.h>
#include <string.h>

#include "model/vitamin.h"
#include "model/registry.h"

/* timm models/vitamin.py: img_size, stem_width, VitCfg.embed_dim, VitCfg.depths[:2], depth,
 * num_heads, int(embed_dim * mlp_ratio 2), pos_embed ('none' for the xlarge ones) */
static const oc_vitamin_tower towers[] = {
    {"vitamin_small_224", {224, 64, {64, 128, 384}, {2, 4}, 14, 6, 768, 1}},
    {"vitamin_base_224", {224, 128, {128, 256, 768}, {2, 4}, 14, 12, 1536, 1}},
    {"vitamin_large_224", {224, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large_256", {256, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large_336", {336, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large_384", {384, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large2_224", {224, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large2_256", {256, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large2_336", {336, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_large2_384", {384, 160, {160, 320, 1024}, {2, 4}, 31, 16, 2048, 1}},
    {"vitamin_xlarge_256", {256, 192, {192, 384, 1152}, {2, 4}, 32, 16, 2304, 0}},
    {"vitamin_xlarge_336", {336, 192, {192, 384, 1152}, {2, 4}, 32, 16, 2304, 0}},
    {"vitamin_xlarge_384", {384, 192, {192, 384, 1152}, {2, 4}, 32, 16, 2304, 0}},
};

static oc_vitamin_tower registered[8];
/* the towers timm defines, then the ones tests register (registry.h) */
static oc_registry reg = OC_REGISTRY(oc_vitamin_tower, towers, sizeof towers / sizeof towers[0],
                                     registered, "oc_vitamin_register");

bool oc_vitamin_find(const char *name, oc_vitamin_tower *out) {
    return oc_registry_find(&reg, name, out);
}

static bool geom_ok(const oc_vitamin_geom *g) {
    bool ok = g->img > 0 && g->img <= 4096 && g->stem > 0 && g->stem <= 16384 && g->depth >= 0 &&
              g->depth <= 1024 && g->heads > 0 && g->mlp > 0 && g->mlp <= (1 << 20);
    for (int i = 0; ok && i < 3; i++) ok = g->dims[i] > 0 && g->dims[i] <= 16384;
    for (int i = 0; ok && i < 2; i++) ok = g->depths[i] >= 1 && g->depths[i] <= 256;
    return ok && g->dims[2] % g->heads == 0;
}

oclip_status oc_vitamin_register(const oc_vitamin_tower *t, oclip_error *err) {
    if (!t || !geom_ok(&t->g))
        return oc_err_set(err, OCLIP_E_ARG, "oc_vitamin_register: invalid tower");
    return oc_registry_add(&reg, t, err);
}

/* Side after a 3x3 stride-2 pad-1 convolution (or the shortcut's AvgPool2d(3, 2, 1)) */
static int64_t half(int64_t s) { return s < 1 ? 0 : (s - 1) / 2 + 1; }

/* The token grid side for an input side: stem conv1, the first block of each MbConv stage,
 * backbone.pool's convolution */
static int64_t grid_side(int64_t s) { return half(half(half(half(s)))); }

const char *oc_vitamin_unsupported(const oclip_model_config *c, oc_vitamin_tower *tower) {
    const oclip_vision_cfg *v = &c->vision;
    oc_vitamin_tower t;
    if (!oc_vitamin_find(v->timm_model_name, &t)) return "timm image tower not a known ViTamin";
    if (strcmp(v->timm_pool, "") && strcmp(v->timm_pool, "avg"))
        return "timm ViTamin with timm_pool other than '' / 'avg'";
    if (strcmp(v->timm_proj, "linear"))
        return "timm ViTamin with timm_proj other than 'linear'";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (!c->custom_text) return "timm ViTamin without custom_text (CLIP's text keys)";
    if (c->embed_dim <= 0 || c->embed_dim > (1 << 16)) return "embed_dim not in 1 .. 65536";
    for (int i = 0; i < 2; i++)
        if (v->image_size[i] < 16 || v->image_size[i] > 4096)
            return "timm ViTamin image_size outside 16 .. 4096";
    /* a learned pos_embed is added as built (timm _pos_embed, dynamic_img_size False): the
     * input must give its grid; without one any size runs (ViTamin-XL-384 runs at 256) */
    if (t.g.pos && (v->image_size[0] != t.g.img || v->image_size[1] != t.g.img))
        return "vision_cfg.image_size differs from the timm tower's input size (its pos_embed)";
    if (grid_side(v->image_size[0]) * grid_side(v->image_size[1]) > OC_MAX_TOKENS)
        return "sequences longer than 4096 tokens";
    if (tower) *tower = t;
    return NULL;
}

/* timm layers/helpers.py make_divisible(v, 8): the MbConvLNBlock's mid width */
static int64_t make_divisible(double v) {
    int64_t n = (int64_t)(v + 4) / 8 * 8;
    if (n < 8) n = 8;
    if ((double)n < 0.9 * v) n += 8;
    return n;
}

/* TimmModel's state_dict(): trunk.pos_embed (a parameter of the trunk itself), the backbone
 * (stem; each MbConvLNBlock's shortcut.expand before its own modules; pool: proj then norm), the
 * blocks, fc_norm (norm and head are Identity), then head.proj */
void oc_vitamin_visual(const oclip_model_config *c, oc_put_fn put, void *ctx) {
    const oc_emit e = {put, ctx};
    oc_vitamin_tower t;
    if (oc_vitamin_unsupported(c, &t)) return;
    const oc_vitamin_geom *g = &t.g;
    int64_t S = g->stem, D = g->dims[2], M = g->mlp, E = c->embed_dim;
    int64_t grid = grid_side(g->img);
    if (g->pos) oc_emitf(&e, 3, 1, grid * grid, D, 0, "visual.trunk.pos_embed");
#define BB "visual.trunk.patch_embed.backbone."
    oc_emitf(&e, 4, S, 3, 3, 3, BB "stem.conv1.weight");
    oc_emitf(&e, 1, S, 0, 0, 0, BB "stem.conv1.bias");
    oc_emitf(&e, 1, S, 0, 0, 0, BB "stem.norm1.weight");
    oc_emitf(&e, 1, S, 0, 0, 0, BB "stem.norm1.bias");
    oc_emitf(&e, 4, S, S, 3, 3, BB "stem.conv2.weight");
    oc_emitf(&e, 1, S, 0, 0, 0, BB "stem.conv2.bias");
    int64_t C = S;
    for (int s = 0; s < 2; s++) {
        int64_t Co = g->dims[s], mid = make_divisible(4.0 * (double)Co);
        for (int j = 0; j < g->depths[s]; j++) {
#define BLK BB "stages.%d.%d."
            if (j == 0 && C != Co) {
                oc_emitf(&e, 4, Co, C, 1, 1, BLK "shortcut.expand.weight", s, j);
                oc_emitf(&e, 1, Co, 0, 0, 0, BLK "shortcut.expand.bias", s, j);
            }
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "pre_norm.weight", s, j);
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "pre_norm.bias", s, j);
            oc_emitf(&e, 4, mid, C, 1, 1, BLK "conv1_1x1.weight", s, j);
            oc_emitf(&e, 1, mid, 0, 0, 0, BLK "conv1_1x1.bias", s, j);
            oc_emitf(&e, 4, mid, 1, 3, 3, BLK "conv2_kxk.weight", s, j);
            oc_emitf(&e, 1, mid, 0, 0, 0, BLK "conv2_kxk.bias", s, j);
            oc_emitf(&e, 4, Co, mid, 1, 1, BLK "conv3_1x1.weight", s, j);
            oc_emitf(&e, 1, Co, 0, 0, 0, BLK "conv3_1x1.bias", s, j);
#undef BLK
            C = Co;
        }
    }
    oc_emitf(&e, 4, D, C, 3, 3, BB "pool.proj.weight");
    oc_emitf(&e, 1, D, 0, 0, 0, BB "pool.proj.bias");
    oc_emitf(&e, 1, C, 0, 0, 0, BB "pool.norm.weight");
    oc_emitf(&e, 1, C, 0, 0, 0, BB "pool.norm.bias");
#undef BB
    for (int i = 0; i < g->depth; i++) {
#define B "visual.trunk.blocks.%d."
        oc_emitf(&e, 1, D, 0, 0, 0, B "norm1.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "norm1.bias", i);
        oc_emitf(&e, 2, 3 * D, D, 0, 0, B "attn.qkv.weight", i);
        oc_emitf(&e, 1, 3 * D, 0, 0, 0, B "attn.qkv.bias", i);
        oc_emitf(&e, 2, D, D, 0, 0, B "attn.proj.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "attn.proj.bias", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "norm2.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "norm2.bias", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "mlp.norm.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "mlp.norm.bias", i);
        oc_emitf(&e, 2, M, D, 0, 0, B "mlp.w0.weight", i);
        oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.w0.bias", i);
        oc_emitf(&e, 2, M, D, 0, 0, B "mlp.w1.weight", i);
        oc_emitf(&e, 1, M, 0, 0, 0, B "mlp.w1.bias", i);
        oc_emitf(&e, 2, D, M, 0, 0, B "mlp.w2.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, B "mlp.w2.bias", i);
#undef B
    }
    oc_emitf(&e, 1, D, 0, 0, 0, "visual.trunk.fc_norm.weight");
    oc_emitf(&e, 1, D, 0, 0, 0, "visual.trunk.fc_norm.bias");
    oc_emitf(&e, 2, E, D, 0, 0, "visual.head.proj.weight");
}

oclip_status oc_vitamin_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err) {
    oc_vitamin_tower t;
    const char *why = oc_vitamin_unsupported(&m->cfg, &t);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s': %s",
                               m->cfg.vision.timm_model_name, why);
    return oc_vitamin_bind(m, ck, &t.g, err);
}
