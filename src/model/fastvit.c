/*
 * fastvit.c — the MobileCLIP image towers oclip computes: OpenCLIP's TimmModel (open_clip
 * timm_model.py) over timm's fastvit_mci0 / mci1 / mci2 (timm models/fastvit.py, the fastvit_mci*
 * functions' model_args) with timm_pool 'avg' and timm_proj null, as the MobileCLIP-S1 / S2 and
 * MobileCLIP2-S0 / S2 configs build them, and fastvit_mci3 / mci4 (MobileCLIP2-S3 / S4: five
 * stages, LayerNorm2d in the attention blocks, no scale branch in the stem): TimmModel creates
 * the trunk with num_classes=embed_dim and global_pool='avg', so the projection is the trunk's
 * head.fc.
 */
#include <stdio.h>
#include <string.h>

#include "model/fastvit.h"
#include "model/registry.h"

typedef struct {
    const char *name;
    int nst, layers[5], dims[5], mlp_ratio, mci34;
} mci_tower;

/* fastvit.py fastvit_mci0 / mci1 / mci2: mlp_ratios 3, se_downsamples (F, F, T, T),
 * RepConditionalPosEnc 7x7 before stage 3, token mixers repmixer x3 + attention, lkc_use_act,
 * BatchNorm2d norms. fastvit_mci3 / mci4 (mci34): five stages, mlp_ratios 4, no SE downsample,
 * RepConditionalPosEnc before stages 3 and 4, repmixer x3 + attention x2, lkc_use_act, the
 * attention norms LayerNorm2d(eps=1e-5), stem_use_scale_branch False. */
static const mci_tower towers[] = {
    {"fastvit_mci0", 4, {2, 6, 10, 2}, {64, 128, 256, 512}, 3, 0},
    {"fastvit_mci1", 4, {4, 12, 20, 4}, {64, 128, 256, 512}, 3, 0},
    {"fastvit_mci2", 4, {4, 12, 24, 4}, {80, 160, 320, 640}, 3, 0},
    {"fastvit_mci3", 5, {2, 12, 24, 4, 2}, {96, 192, 384, 768, 1536}, 4, 1},
    {"fastvit_mci4", 5, {2, 12, 24, 4, 4}, {128, 256, 512, 1024, 2048}, 4, 1},
};

static void mci_geom(const mci_tower *t, oc_fastvit_geom *g) {
    memset(g, 0, sizeof *g);
    g->nst = t->nst;
    g->mlp_ratio = t->mlp_ratio;
    for (int i = 0; i < t->nst; i++) g->layers[i] = t->layers[i], g->dims[i] = t->dims[i];
    if (!t->mci34) g->se_down[2] = g->se_down[3] = 1;
    for (int i = 3; i < t->nst; i++) g->attn[i] = g->pos_emb[i] = 1;
    g->ln_norm = t->mci34;
    g->stem_scale = !t->mci34;
}

/* the towers tests register (registry.h); timm's own are the table above */
typedef struct {
    char name[96];
    oc_fastvit_geom g;
} added_tower;
static added_tower registered[8];
static oc_registry reg = OC_REGISTRY(added_tower, NULL, 0, registered, "oc_fastvit_register");

bool oc_fastvit_find(const char *name, oc_fastvit_geom *g) {
    if (!name) return false;
    for (size_t i = 0; i < sizeof towers / sizeof towers[0]; i++)
        if (!strcmp(towers[i].name, name)) {
            if (g) mci_geom(&towers[i], g);
            return true;
        }
    added_tower t;
    if (!oc_registry_find(&reg, name, &t)) return false;
    if (g) *g = t.g;
    return true;
}

oclip_status oc_fastvit_register(const char *name, const oc_fastvit_geom *g, oclip_error *err) {
    added_tower t;
    bool ok = name && !strncmp(name, "fastvit_", 8) && strlen(name) < sizeof t.name && g &&
              g->nst >= 1 && g->nst <= OC_FASTVIT_MAX_STAGES && g->mlp_ratio >= 1 &&
              g->mlp_ratio <= 16;
    for (int i = 0; ok && i < g->nst; i++)
        ok = g->layers[i] >= 0 && g->layers[i] <= 256 && g->dims[i] > 0 && g->dims[i] <= 8192 &&
             (!g->attn[i] || g->dims[i] % 32 == 0);
    if (!ok) return oc_err_set(err, OCLIP_E_ARG, "oc_fastvit_register: invalid tower");
    memset(&t, 0, sizeof t);
    memcpy(t.name, name, strlen(name) + 1);
    t.g = *g;
    return oc_registry_add(&reg, &t, err);
}

bool oc_fastvit_family(const char *name) { return name && !strncmp(name, "fastvit_", 8); }

const char *oc_fastvit_unsupported(const oclip_model_config *c, oc_fastvit_geom *g) {
    const oclip_vision_cfg *v = &c->vision;
    oc_fastvit_geom t;
    if (!oc_fastvit_find(v->timm_model_name, &t))
        return "timm FastViT other than MobileCLIP's fastvit_mci0 .. mci4";
    if (strcmp(v->timm_pool, "avg"))
        return "timm FastViT with timm_pool other than 'avg' (MobileCLIP's)";
    if (v->timm_proj[0])
        return "timm FastViT with a timm_proj (MobileCLIP's is null: the trunk's head.fc)";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (!c->custom_text) return "timm FastViT without custom_text (MobileCLIP's text.* keys)";
    if (c->embed_dim <= 0 || c->embed_dim > (1 << 16)) return "embed_dim not in 1 .. 65536";
    for (int i = 0; i < 2; i++)
        if (v->image_size[i] < 64 || v->image_size[i] > 4096)
            return "timm FastViT image_size outside 64 .. 4096";
    if (g) *g = t;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The expected state dict (TimmModel.state_dict() of the train-time trunk)
 */
static void bn(const oc_emit *e, const char *p, int64_t C) {
    oc_emitf(e, 1, C, 0, 0, 0, "%s.weight", p);
    oc_emitf(e, 1, C, 0, 0, 0, "%s.bias", p);
    oc_emitf(e, 1, C, 0, 0, 0, "%s.running_mean", p);
    oc_emitf(e, 1, C, 0, 0, 0, "%s.running_var", p);
    /* num_batches_tracked: an int64 count eval mode never reads; optional (oc_arch_optional) */
}

/* ConvNormAct: conv (no bias), bn */
static void conv_bn(const oc_emit *e, const char *p, int64_t co, int64_t cg, int64_t k) {
    char q[240];
    oc_emitf(e, 4, co, cg, k, k, "%s.conv.weight", p);
    snprintf(q, sizeof q, "%s.bn", p);
    bn(e, q, co);
}

static void se(const oc_emit *e, const char *p, int64_t C, int64_t rd) {
    oc_emitf(e, 4, rd, C, 1, 1, "%s.se.fc1.weight", p);
    oc_emitf(e, 1, rd, 0, 0, 0, "%s.se.fc1.bias", p);
    oc_emitf(e, 4, C, rd, 1, 1, "%s.se.fc2.weight", p);
    oc_emitf(e, 1, C, 0, 0, 0, "%s.se.fc2.bias", p);
}

/* MobileOneBlock in registration order: se, identity, conv_kxk.0, conv_scale */
static void mobileone(const oc_emit *e, const char *p, int64_t ci, int64_t co, int64_t k,
                      int stride, int64_t groups, int64_t se_rd, int kxk, int scale) {
    char q[224];
    if (se_rd) se(e, p, co, se_rd);
    if (ci == co && stride == 1) {
        snprintf(q, sizeof q, "%s.identity", p);
        bn(e, q, ci);
    }
    if (kxk) {
        snprintf(q, sizeof q, "%s.conv_kxk.0", p);
        conv_bn(e, q, co, ci / groups, k);
    }
    if (k > 1 && scale) {
        snprintf(q, sizeof q, "%s.conv_scale", p);
        conv_bn(e, q, co, ci / groups, 1);
    }
}

static void conv_mlp(const oc_emit *e, const char *p, int64_t C, int64_t M) {
    char q[224];
    snprintf(q, sizeof q, "%s.conv", p);
    conv_bn(e, q, C, 1, 7);
    oc_emitf(e, 4, M, C, 1, 1, "%s.fc1.weight", p);
    oc_emitf(e, 1, M, 0, 0, 0, "%s.fc1.bias", p);
    oc_emitf(e, 4, C, M, 1, 1, "%s.fc2.weight", p);
    oc_emitf(e, 1, C, 0, 0, 0, "%s.fc2.bias", p);
}

static int64_t make_divisible(double v, int divisor) {
    int64_t nv = (int64_t)(v + divisor / 2.0) / divisor * divisor;
    return nv < divisor ? divisor : nv;
}

void oc_fastvit_expected(const oc_fastvit_geom *g, int E, oc_put_fn put, void *ctx) {
    const oc_emit e = {put, ctx};
    char p[160];
    int64_t C = g->dims[0];
    int sc = g->stem_scale;
    mobileone(&e, "visual.trunk.stem.0", 3, C, 3, 2, 1, 0, 1, sc);
    mobileone(&e, "visual.trunk.stem.1", C, C, 3, 2, C, 0, 1, sc);
    mobileone(&e, "visual.trunk.stem.2", C, C, 1, 1, 1, 0, 1, sc);
    for (int i = 0; i < g->nst; i++) {
        int64_t Co = g->dims[i], M = Co * g->mlp_ratio;
        if (i > 0 || Co != C) {
            snprintf(p, sizeof p, "visual.trunk.stages.%d.downsample.proj.0", i);
            char q[200];
            snprintf(q, sizeof q, "%s.large_conv", p);
            conv_bn(&e, q, Co, 1, 7);
            snprintf(q, sizeof q, "%s.small_conv", p);
            conv_bn(&e, q, Co, 1, 3);
            if (g->se_down[i]) se(&e, p, Co, make_divisible((double)Co * 0.25, 8));
            snprintf(p, sizeof p, "visual.trunk.stages.%d.downsample.proj.1", i);
            mobileone(&e, p, Co, Co, 1, 1, 1, 0, 1, 1);
        }
        C = Co;
        if (g->pos_emb[i]) {
            oc_emitf(&e, 4, C, 1, 7, 7, "visual.trunk.stages.%d.pos_emb.pos_enc.weight", i);
            oc_emitf(&e, 1, C, 0, 0, 0, "visual.trunk.stages.%d.pos_emb.pos_enc.bias", i);
        }
        for (int j = 0; j < g->layers[i]; j++) {
#define BLK "visual.trunk.stages.%d.blocks.%d"
            if (!g->attn[i]) {
                snprintf(p, sizeof p, BLK ".token_mixer.norm", i, j);
                mobileone(&e, p, C, C, 3, 1, C, 0, 0, 0);
                snprintf(p, sizeof p, BLK ".token_mixer.mixer", i, j);
                mobileone(&e, p, C, C, 3, 1, C, 0, 1, 1);
                oc_emitf(&e, 3, C, 1, 1, 0, BLK ".token_mixer.layer_scale.gamma", i, j);
                snprintf(p, sizeof p, BLK ".mlp", i, j);
                conv_mlp(&e, p, C, M);
                oc_emitf(&e, 3, C, 1, 1, 0, BLK ".layer_scale.gamma", i, j);
            } else {
                if (g->ln_norm) {
                    oc_emitf(&e, 1, C, 0, 0, 0, BLK ".norm.weight", i, j);
                    oc_emitf(&e, 1, C, 0, 0, 0, BLK ".norm.bias", i, j);
                } else {
                    snprintf(p, sizeof p, BLK ".norm", i, j);
                    bn(&e, p, C);
                }
                oc_emitf(&e, 2, 3 * C, C, 0, 0, BLK ".token_mixer.qkv.weight", i, j);
                oc_emitf(&e, 2, C, C, 0, 0, BLK ".token_mixer.proj.weight", i, j);
                oc_emitf(&e, 1, C, 0, 0, 0, BLK ".token_mixer.proj.bias", i, j);
                oc_emitf(&e, 3, C, 1, 1, 0, BLK ".layer_scale_1.gamma", i, j);
                snprintf(p, sizeof p, BLK ".mlp", i, j);
                conv_mlp(&e, p, C, M);
                oc_emitf(&e, 3, C, 1, 1, 0, BLK ".layer_scale_2.gamma", i, j);
            }
#undef BLK
        }
    }
    int64_t F = 2 * C;
    mobileone(&e, "visual.trunk.final_conv", C, F, 3, 1, C, make_divisible((double)F / 16.0, 1),
              1, 1);
    oc_emitf(&e, 2, E, F, 0, 0, "visual.trunk.head.fc.weight");
    oc_emitf(&e, 1, E, 0, 0, 0, "visual.trunk.head.fc.bias");
}

void oc_fastvit_visual(const oclip_model_config *c, oc_put_fn put, void *ctx) {
    oc_fastvit_geom g;
    if (!oc_fastvit_unsupported(c, &g)) oc_fastvit_expected(&g, c->embed_dim, put, ctx);
}

oclip_status oc_fastvit_model_bind(oclip_model *m, const oclip_checkpoint *ck, oclip_error *err) {
    oc_fastvit_geom g;
    const char *why = oc_fastvit_unsupported(&m->cfg, &g);
    if (why) return oc_err_set(err, OCLIP_E_UNSUPPORTED, "timm tower '%s': %s",
                               m->cfg.vision.timm_model_name, why);
    oclip_status s = oc_fastvit_bind(m, ck, &g, err);
    if (s) oc_err_wrap(err, "timm tower '%s'", m->cfg.vision.timm_model_name);
    return s;
}
