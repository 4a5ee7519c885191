/*
 * timm.c — the timm image towers oclip computes: the SigLIP ViTs that OpenCLIP builds with
 * TimmModel(timm_model_name, pool 'map', proj 'none') (open_clip timm_model.py). OpenCLIP passes
 * only the name to timm, so the tower's geometry and activation are timm's definition of that
 * name (timm 1.0.31 models/vision_transformer.py, the vit_*_siglip_* functions and their
 * pretrained cfg's input_size); docs/SIGLIP.md section 1 lists them.
 */
#include <pthread.h>
#include <string.h>

#include "model/arch.h"
#include "model/convnext.h"
#include "nn/engine.h"

/* name, input size, patch, width, depth, heads, MLP hidden width (int(width * mlp_ratio)),
 * act_layer 'gelu_tanh' (1) or timm's default nn.GELU (0). Every one of them: LayerNorm eps 1e-6,
 * no class token, no pre-norm, patch conv with bias, final norm, MAP pool with the blocks' heads
 * and MLP. */
static const oc_timm_tower siglip_towers[] = {
    {"vit_base_patch16_siglip_224", 224, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_256", 256, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_384", 384, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_512", 512, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch32_siglip_256", 256, 32, 768, 12, 12, 3072, 1},
    {"vit_large_patch16_siglip_256", 256, 16, 1024, 24, 16, 4096, 0},
    {"vit_large_patch16_siglip_384", 384, 16, 1024, 24, 16, 4096, 0},
    {"vit_large_patch16_siglip_512", 512, 16, 1024, 24, 16, 4096, 1},
    {"vit_so400m_patch14_siglip_224", 224, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch14_siglip_378", 378, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch14_siglip_384", 384, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch16_siglip_256", 256, 16, 1152, 27, 16, 4304, 1},
    {"vit_so400m_patch16_siglip_384", 384, 16, 1152, 27, 16, 4304, 1},
    {"vit_so400m_patch16_siglip_512", 512, 16, 1152, 27, 16, 4304, 1},
    {"vit_giantopt_patch16_siglip_256", 256, 16, 1536, 40, 16, 6144, 1},
    {"vit_giantopt_patch16_siglip_384", 384, 16, 1536, 40, 16, 6144, 1},
};

/* Towers registered at run time (the tests' tiny towers), under a lock; never removed. */
#define MAX_REGISTERED 16
static oc_timm_tower registered[MAX_REGISTERED];
static size_t n_registered;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

bool oc_timm_tower_find(const char *name, oc_timm_tower *out) {
    if (!name || !name[0]) return false;
    for (size_t i = 0; i < sizeof siglip_towers / sizeof siglip_towers[0]; i++)
        if (!strcmp(siglip_towers[i].name, name)) {
            if (out) *out = siglip_towers[i];
            return true;
        }
    bool found = false;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_registered && !found; i++)
        if (!strcmp(registered[i].name, name)) {
            if (out) *out = registered[i];
            found = true;
        }
    pthread_mutex_unlock(&reg_mu);
    return found;
}

oclip_status oc_timm_tower_register(const oc_timm_tower *t, oclip_error *err) {
    if (!t || !t->name[0] || strlen(t->name) >= sizeof t->name || t->img <= 0 || t->patch <= 0 ||
        t->patch > t->img || t->width <= 0 || t->depth < 0 || t->heads <= 0 ||
        t->width % t->heads || t->mlp <= 0)
        return oc_err_set(err, OCLIP_E_ARG, "oc_timm_tower_register: invalid tower");
    oclip_status s = OCLIP_OK;
    pthread_mutex_lock(&reg_mu);
    size_t i = 0;
    while (i < n_registered && strcmp(registered[i].name, t->name)) i++;
    if (i < n_registered) registered[i] = *t;
    else if (n_registered < MAX_REGISTERED) registered[n_registered++] = *t;
    else s = oc_err_set(err, OCLIP_E_NOMEM, "oc_timm_tower_register: table full");
    pthread_mutex_unlock(&reg_mu);
    return s;
}

const char *oc_timm_unsupported(const oclip_model_config *c, oc_timm_tower *tower) {
    const oclip_vision_cfg *v = &c->vision;
    oc_timm_tower t;
    if (oc_convnext_find(v->timm_model_name, NULL)) return oc_convnext_unsupported(c, NULL);
    if (!oc_timm_tower_find(v->timm_model_name, &t))
        return "timm image tower other than the SigLIP ViTs (vit_*_siglip_*)";
    if (strcmp(v->timm_pool, "map") || strcmp(v->timm_proj, "none"))
        return "SigLIP timm tower without timm_pool 'map' and timm_proj 'none'";
    if (c->text.hf_model_name[0]) return "Hugging Face text tower (hf_model_name)";
    if (!c->custom_text) return "timm image tower without custom_text (CLIP's text keys)";
    if (v->image_size[0] != t.img || v->image_size[1] != t.img)
        return "vision_cfg.image_size differs from the timm tower's input size";
    if (c->embed_dim != t.width)
        return "embed_dim differs from the timm tower's width (timm_proj 'none')";
    if ((int64_t)(t.img / t.patch) * (t.img / t.patch) > OC_MAX_TOKENS)
        return "sequences longer than 4096 tokens";
    if (tower) *tower = t;
    return NULL;
}
