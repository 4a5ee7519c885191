/*
 * hfconfig.c — transformers `CLIPConfig` / `SiglipConfig` (config.json beside an HF checkpoint)
 * to the OpenCLIP config it is equivalent to (transformers configuration_clip.py,
 * convert_clip_original_pytorch_to_hf.py; configuration_siglip.py). Defaults are those of
 * transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig and SiglipTextConfig /
 * SiglipVisionConfig.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "model/arch.h"

/* Reads an integer member (default when absent); false when present but not a positive int. */
static bool get_int(const cJSON *o, const char *key, int def, int max, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > max)
        return false;
    *out = (int)v->valuedouble;
    return true;
}

static const char *get_str(const cJSON *o, const char *key, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static double get_num(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1 ? v->valuedouble : def;
}

/* OpenCLIP sizes the MLP as (int)(width * mlp_ratio); choose the ratio so that this gives back
 * intermediate_size exactly (inter / hidden can round just below it, e.g. 1952 / 224). */
static double mlp_ratio_for(int hidden, int inter) {
    double r = (double)inter / hidden;
    while ((long long)(hidden * r) < inter) r = nextafter(r, 2.0 * r + 1.0);
    return r;
}

/* Adds item to parent under key; frees item when that fails (out of memory). */
static bool attach(cJSON *parent, const char *key, cJSON *item) {
    if (cJSON_AddItemToObject(parent, key, item)) return true;
    cJSON_Delete(item);
    return false;
}

/* transformers' hidden_act for a GELU: "gelu" (exact, erf) or "gelu_pytorch_tanh" (tanh
 * approximation); 1 for tanh, 0 for exact, -1 for anything else. */
static int hf_gelu_tanh(const char *act) {
    if (!strcmp(act, "gelu_pytorch_tanh")) return 1;
    if (!strcmp(act, "gelu")) return 0;
    return -1;
}

/* SiglipConfig (model_type "siglip", SiglipModel) as the OpenCLIP SigLIP config computing the
 * same thing (docs/SIGLIP.md section 8): a CustomTextCLIP with a timm SigLIP tower (the
 * vit_*_siglip_* architecture with these sizes and activation when timm defines one, else the
 * tower named "siglip-hf:..." that oc_timm_tower_find reads back), a TextTransformer without
 * causal mask pooling the last position, a Linear projection with bias, logit_bias. */
static oclip_status siglip_from_hf(const cJSON *root, oclip_model_config *out, oclip_error *err) {
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    int t_hidden, t_inter, t_layers, t_heads, ctx, vocab, proj, v_hidden, v_inter, v_layers,
        v_heads, image, patch, chans;
    const int big = 1 << 20;
    if (!get_int(tc, "hidden_size", 768, big, &t_hidden) ||
        !get_int(tc, "intermediate_size", 3072, big, &t_inter) ||
        !get_int(tc, "num_hidden_layers", 12, 4096, &t_layers) ||
        !get_int(tc, "num_attention_heads", 12, 4096, &t_heads) ||
        !get_int(tc, "max_position_embeddings", 64, big, &ctx) ||
        !get_int(tc, "vocab_size", 32000, 1 << 24, &vocab) ||
        !get_int(tc, "projection_size", t_hidden, big, &proj) ||
        !get_int(vc, "hidden_size", 768, big, &v_hidden) ||
        !get_int(vc, "intermediate_size", 3072, big, &v_inter) ||
        !get_int(vc, "num_hidden_layers", 12, 4096, &v_layers) ||
        !get_int(vc, "num_attention_heads", 12, 4096, &v_heads) ||
        !get_int(vc, "image_size", 224, 16384, &image) ||
        !get_int(vc, "patch_size", 16, 16384, &patch) ||
        !get_int(vc, "num_channels", 3, 16, &chans))
        return oc_err_set(err, OCLIP_E_FORMAT, "HF config.json: a size is not a positive integer");
    const char *t_act = get_str(tc, "hidden_act", "gelu_pytorch_tanh");
    const char *v_act = get_str(vc, "hidden_act", "gelu_pytorch_tanh");
    int t_tanh = hf_gelu_tanh(t_act), v_tanh = hf_gelu_tanh(v_act);
    if (t_tanh < 0 || v_tanh < 0)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: hidden_act '%s' / '%s' "
                          "(OpenCLIP's SigLIP towers use gelu or gelu_pytorch_tanh)", v_act, t_act);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(vc, "vision_use_head");
    if (chans != 3 || patch > image || v_hidden % v_heads || t_hidden % t_heads ||
        cJSON_IsFalse(head))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: SiglipModel with "
                          "num_channels %d, patch %d / image %d, heads not dividing the width, "
                          "or vision_use_head false: not a model OpenCLIP builds", chans, patch,
                          image);
    if (proj != v_hidden)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: text projection_size %d "
                          "differs from the vision hidden_size %d (OpenCLIP's SigLIP has one "
                          "embed_dim: the image tower has no projection)", proj, v_hidden);
    /* the timm tower's LayerNorms are eps 1e-6 (timm's default), fixed by the architecture */
    const cJSON *veps = cJSON_GetObjectItemCaseSensitive(vc, "layer_norm_eps");
    if (veps && (!cJSON_IsNumber(veps) || veps->valuedouble != 1e-6))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: vision layer_norm_eps is "
                          "not 1e-6 (timm's SigLIP towers)");
    oc_timm_tower tw = {.img = image, .patch = patch, .width = v_hidden, .depth = v_layers,
                        .heads = v_heads, .mlp = v_inter, .gelu_tanh = v_tanh};
    oc_timm_tower_name(&tw);

    cJSON *c = cJSON_CreateObject(), *v = cJSON_CreateObject(), *t = cJSON_CreateObject();
    cJSON *kw = cJSON_CreateObject(), *nk = cJSON_CreateObject();
    cJSON *ak = t_tanh ? cJSON_CreateObject() : NULL;
    if (!c || !v || !t || !kw || !nk || (t_tanh && !ak)) {
        cJSON_Delete(c);
        cJSON_Delete(v);
        cJSON_Delete(t);
        cJSON_Delete(kw);
        cJSON_Delete(nk);
        cJSON_Delete(ak);
        return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    }
    bool ok = true;
    ok = cJSON_AddNumberToObject(c, "embed_dim", v_hidden) != NULL && ok;
    ok = cJSON_AddNumberToObject(c, "init_logit_bias", -10) != NULL && ok;
    ok = cJSON_AddBoolToObject(c, "custom_text", 1) != NULL && ok;
    ok = cJSON_AddNumberToObject(v, "image_size", image) != NULL && ok;
    ok = cJSON_AddStringToObject(v, "timm_model_name", tw.name) != NULL && ok;
    ok = cJSON_AddBoolToObject(v, "timm_model_pretrained", 0) != NULL && ok;
    ok = cJSON_AddStringToObject(v, "timm_pool", "map") != NULL && ok;
    ok = cJSON_AddStringToObject(v, "timm_proj", "none") != NULL && ok;
    ok = cJSON_AddNumberToObject(t, "context_length", ctx) != NULL && ok;
    ok = cJSON_AddNumberToObject(t, "vocab_size", vocab) != NULL && ok;
    /* the tokenizer is the repo's own tokenizer.json (beside the weights): a name without '/'
     * names no other repo; OpenCLIP's SigLIP tokenizer settings */
    ok = cJSON_AddStringToObject(t, "hf_tokenizer_name", "tokenizer.json") != NULL && ok;
    ok = cJSON_AddStringToObject(kw, "clean", "canonicalize") != NULL && ok;
    ok = attach(t, "tokenizer_kwargs", kw) && ok;
    ok = cJSON_AddNumberToObject(t, "width", t_hidden) != NULL && ok;
    ok = cJSON_AddNumberToObject(t, "heads", t_heads) != NULL && ok;
    ok = cJSON_AddNumberToObject(t, "layers", t_layers) != NULL && ok;
    ok = cJSON_AddNumberToObject(t, "mlp_ratio", mlp_ratio_for(t_hidden, t_inter)) != NULL && ok;
    ok = cJSON_AddBoolToObject(t, "no_causal_mask", 1) != NULL && ok;
    ok = cJSON_AddBoolToObject(t, "proj_bias", 1) != NULL && ok;
    ok = cJSON_AddStringToObject(t, "pool_type", "last") != NULL && ok;
    ok = cJSON_AddNumberToObject(nk, "eps", get_num(tc, "layer_norm_eps", 1e-6)) != NULL && ok;
    ok = attach(t, "norm_kwargs", nk) && ok;
    if (ak) {
        ok = cJSON_AddStringToObject(ak, "approximate", "tanh") != NULL && ok;
        ok = attach(t, "act_kwargs", ak) && ok;
    }
    ok = attach(c, "vision_cfg", v) && ok;
    ok = attach(c, "text_cfg", t) && ok;
    /* a member that could not be added (out of memory) makes a config that parses to another
     * model: refuse rather than print it */
    char *text = ok ? cJSON_PrintUnformatted(c) : NULL;
    cJSON_Delete(c);
    if (!text) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status st = oclip_config_parse(text, strlen(text), out, err);
    if (st) oc_err_wrap(err, "HF config.json (SiglipConfig) as an OpenCLIP config");
    cJSON_free(text);
    return st;
}

oclip_status oclip_config_from_hf(const char *json, size_t len, oclip_model_config *out,
                                  oclip_error *err) {
    oc_err_clear(err);
    if (!json || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_config_from_hf: NULL argument");
    memset(out, 0, sizeof *out);
    cJSON *root = oc_json_parse(json, len, NULL);
    if (!root) return oc_json_error(json, len, "HF config.json", err);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return oc_err_set(err, OCLIP_E_FORMAT, "HF config.json is not a JSON object");
    }
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    const char *mt = get_str(root, "model_type", "clip");
    oclip_status st = OCLIP_OK;
    if (!strcmp(mt, "siglip")) {
        st = siglip_from_hf(root, out, err);
        goto done;
    }
    if (strcmp(mt, "clip") != 0) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: model_type '%s' is not 'clip' "
                        "or 'siglip'", mt);
        if (!strcmp(mt, "siglip2"))
            oc_err_hint(err, "siglip2 is transformers' NaFlex SigLIP 2 (Siglip2Model), a "
                        "different computation OpenCLIP 3.3.0 has no config for");
        goto done;
    }
    int t_hidden, t_inter, t_layers, t_heads, ctx, vocab, v_hidden, v_inter, v_layers, v_heads,
        image, patch, proj;
    const int big = 1 << 20;
    if (!get_int(tc, "hidden_size", 512, big, &t_hidden) ||
        !get_int(tc, "intermediate_size", 2048, big, &t_inter) ||
        !get_int(tc, "num_hidden_layers", 12, 4096, &t_layers) ||
        !get_int(tc, "num_attention_heads", 8, 4096, &t_heads) ||
        !get_int(tc, "max_position_embeddings", 77, big, &ctx) ||
        !get_int(tc, "vocab_size", 49408, 1 << 24, &vocab) ||
        !get_int(vc, "hidden_size", 768, big, &v_hidden) ||
        !get_int(vc, "intermediate_size", 3072, big, &v_inter) ||
        !get_int(vc, "num_hidden_layers", 12, 4096, &v_layers) ||
        !get_int(vc, "num_attention_heads", 12, 4096, &v_heads) ||
        !get_int(vc, "image_size", 224, 16384, &image) ||
        !get_int(vc, "patch_size", 32, 16384, &patch) ||
        !get_int(root, "projection_dim", 512, big, &proj)) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "HF config.json: a size is not a positive integer");
        goto done;
    }
    if (patch > image) {
        st = oc_err_set(err, OCLIP_E_FORMAT, "HF config.json: patch_size %d > image_size %d",
                        patch, image);
        goto done;
    }
    /* transformers' CLIPAttention refuses a hidden size its head count does not divide */
    if (v_hidden % v_heads || t_hidden % t_heads) {
        st = oc_err_set(err, OCLIP_E_FORMAT,
                        "HF config.json: hidden_size %d / %d heads (vision) or %d / %d heads "
                        "(text) does not divide", v_hidden, v_heads, t_hidden, t_heads);
        goto done;
    }
    const char *t_act = get_str(tc, "hidden_act", "quick_gelu");
    const char *v_act = get_str(vc, "hidden_act", "quick_gelu");
    if (strcmp(t_act, v_act) != 0 || (strcmp(t_act, "quick_gelu") && strcmp(t_act, "gelu"))) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED,
                        "HF config.json: activations '%s' / '%s' (OpenCLIP uses one of "
                        "quick_gelu, gelu for both towers)", t_act, v_act);
        goto done;
    }
    out->embed_dim = proj;
    out->quick_gelu = !strcmp(t_act, "quick_gelu");
    out->family = OCLIP_FAMILY_NATIVE;
    oclip_vision_cfg *v = &out->vision;
    v->image_size[0] = v->image_size[1] = image;
    v->patch_size = patch;
    v->width = v_hidden;
    v->layers = v_layers;
    v->head_width = v_hidden / v_heads;
    v->mlp_ratio = mlp_ratio_for(v_hidden, v_inter);
    snprintf(v->pool_type, sizeof v->pool_type, "tok");
    snprintf(v->pos_embed_type, sizeof v->pos_embed_type, "learnable");
    v->ln_eps = get_num(vc, "layer_norm_eps", 1e-5);
    oclip_text_cfg *t = &out->text;
    t->context_length = ctx;
    t->vocab_size = vocab;
    t->width = t_hidden;
    t->heads = t_heads;
    t->layers = t_layers;
    t->mlp_ratio = mlp_ratio_for(t_hidden, t_inter);
    t->eos_id = 2;
    snprintf(t->pool_type, sizeof t->pool_type, "argmax");
    snprintf(t->proj_type, sizeof t->proj_type, "linear");
    t->ln_eps = get_num(tc, "layer_norm_eps", 1e-5);
    /* the same limits and consistency checks as an OpenCLIP config: the result must be a config
     * oclip_config_parse accepts (and convert can write back) */
    char *json_text = oclip_config_to_json(out);
    oclip_model_config check;
    if (!json_text) {
        st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    } else if ((st = oclip_config_parse(json_text, strlen(json_text), &check, err)) != OCLIP_OK) {
        oc_err_wrap(err, "HF config.json as an OpenCLIP config");
    }
    oclip_free(json_text);
done:
    cJSON_Delete(root);
    return st;
}
