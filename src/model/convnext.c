/*
 * convnext.c — the timm ConvNeXt CLIP models oclip computes: OpenCLIP's `CLIP` built with
 * vision_cfg.timm_model_name a timm ConvNeXt (data/model_configs/convnext_*.json), its image
 * tower a TimmModel (open_clip timm_model.py) with timm_pool '' or 'avg' (the trunk's own global
 * average pool: reset_classifier(0) keeps it) and timm_proj 'linear' (head.proj) or 'mlp'
 * (head.mlp, the `_d` models). OpenCLIP passes only the name to timm, so the trunk is timm's
 * definition of that name (timm models/convnext.py, the convnext_* functions).
 */
#include <stdio.h>
#include <string.h>

#include "model/convnext.h"
#include "model/registry.h"

/* timm models/convnext.py: depths, dims, norm_eps (None: LayerNorm's 1e-6; convnext_xxlarge
 * passes 1e-5) */
static const oc_convnext_tower towers[] = {
    {"convnext_tiny", {3, 3, 9, 3}, {96, 192, 384, 768}, 1e-6f},
    {"convnext_small", {3, 3, 27, 3}, {96, 192, 384, 768}, 1e-6f},
    {"convnext_base", {3, 3, 27, 3}, {128, 256, 512, 1024}, 1e-6f},
    {"convnext_large", {3, 3, 27, 3}, {192, 384, 768, 1536}, 1e-6f},
    {"convnext_xlarge", {3, 3, 27, 3}, {256, 512, 1024, 2048}, 1e-6f},
    {"convnext_xxlarge", {3, 4, 30, 3}, {384, 768, 1536, 3072}, 1e-5f},
};

static oc_convnext_tower registered[8];
/* the towers timm defines, then the ones tests register (registry.h) */
static oc_registry reg = OC_REGISTRY(oc_convnext_tower, towers, sizeof towers / sizeof towers[0],
                                     registered, "oc_convnext_register");

bool oc_convnext_find(const char *name, oc_convnext_tower *out) {
    return oc_registry_find(&reg, name, out);
}

oclip_status oc_convnext_register(const oc_convnext_tower *t, oclip_error *err) {
    bool ok = t && t->eps > 0;
    for (int i = 0; ok && i < 4; i++)
        ok = t->depths[i] >= 0 && t->depths[i] <= 256 && t->dims[i] > 0 && t->dims[i] <= 16384;
    if (!ok) return oc_err_set(err, OCLIP_E_ARG, "oc_convnext_register: invalid tower");
    return oc_registry_add(&reg, t, err);
}

const char *oc_convnext_unsupported(const oclip_model_config *c, oc_convnext_geom *g) {
    const oclip_vision_cfg *v = &c->vision;
    oc_convnext_tower t;
    if (!oc_convnext_find(v->timm_model_name, &t)) return "timm image tower not a known ConvNeXt";
    if (strcmp(v->timm_pool, "") && strcmp(v->timm_pool, "avg"))
        return "timm ConvNeXt with timm_pool other than '' / 'avg' (attention pools)";
    if (strcmp(v->timm_proj, "linear") && strcmp(v->timm_proj, "mlp"))
        return "timm ConvNeXt with timm_proj other than 'linear' / 'mlp'";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (c->custom_text) return "timm ConvNeXt with custom_text (text.* keys)";
    if (c->embed_dim <= 0 || c->embed_dim > (1 << 16))
        return "embed_dim not in 1 .. 65536";
    for (int i = 0; i < 2; i++)
        if (v->image_size[i] < 32 || v->image_size[i] > 4096)
            return "timm ConvNeXt image_size outside 32 .. 4096";
    if (g) {
        memcpy(g->depths, t.depths, sizeof g->depths);
        memcpy(g->dims, t.dims, sizeof g->dims);
        g->eps = t.eps;
        g->mlp = !strcmp(v->timm_proj, "mlp");
    }
    return NULL;
}

/* TimmModel's state_dict(): trunk (stem, stages: downsample, then each block's own gamma before
 * its modules), trunk.head.norm (fc is an Identity after reset_classifier(0)), then head */
void oc_convnext_visual(const oclip_model_config *c, oc_put_fn put, void *ctx) {
    const oc_emit e = {put, ctx};
    oc_convnext_geom g;
    if (oc_convnext_unsupported(c, &g)) return;
    int64_t C = g.dims[0], E = c->embed_dim;
    oc_emitf(&e, 4, C, 3, 4, 4, "visual.trunk.stem.0.weight");
    oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stem.0.bias");
    oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stem.1.weight");
    oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stem.1.bias");
    for (int i = 0; i < 4; i++) {
        int64_t Co = g.dims[i];
        if (i > 0) {
            oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stages.%d.downsample.0.weight", i);
            oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stages.%d.downsample.0.bias", i);
            oc_emitf(&e, 4, Co, C, 2, 2, "visual.trunk.stages.%d.downsample.1.weight", i);
            oc_emitf(&e, 1, Co, 0, 0, 0, "visual.trunk.stages.%d.downsample.1.bias", i);
        }
        C = Co;
        for (int j = 0; j < g.depths[i]; j++) {
#define BLK "visual.trunk.stages.%d.blocks.%d."
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "gamma", i, j);
            oc_emitf(&e, 4, C, 1, 7, 7, BLK "conv_dw.weight", i, j);
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "conv_dw.bias", i, j);
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "norm.weight", i, j);
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "norm.bias", i, j);
            oc_emitf(&e, 2, 4 * C, C, 0, 0, BLK "mlp.fc1.weight", i, j);
            oc_emitf(&e, 1, 4 * C, 0, 0, 0, BLK "mlp.fc1.bias", i, j);
            oc_emitf(&e, 2, C, 4 * C, 0, 0, BLK "mlp.fc2.weight", i, j);
            oc_emitf(&e, 1, C, 0, 0, 0, BLK "mlp.fc2.bias", i, j);
#undef BLK
        }
    }
    oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.head.norm.weight");
    oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.head.norm.bias");
    if (g.mlp) {
        oc_emitf(&e, 2, 2 * E, C, 0, 0, "visual.head.mlp.fc1.weight");
        oc_emitf(&e, 1, 2 * E, 0, 0, 0, "visual.head.mlp.fc1.bias");
        oc_emitf(&e, 2, E, 2 * E, 0, 0, "visual.head.mlp.fc2.weight");
    } else {
        oc_emitf(&e, 2, E, C, 0, 0, "visual.head.proj.weight");
    }
}

oclip_status oc_convnext_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err) {
    oc_convnext_geom g;
    const char *why = oc_convnext_unsupported(&m->cfg, &g);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s': %s",
                               m->cfg.vision.timm_model_name, why);
    return oc_convnext_bind(m, ck, &g, err);
}
