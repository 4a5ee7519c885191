/*
 * hfconfig.c — transformers `CLIPConfig` (config.json beside an HF checkpoint) to the OpenCLIP
 * config it is equivalent to (transformers configuration_clip.py; convert_clip_original_pytorch_to_hf.py). Defaults are those of
 * transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

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
    if (strcmp(mt, "clip") != 0) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF config.json: model_type '%s' is not 'clip'",
                        mt);
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
