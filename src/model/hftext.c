/*
 * hftext.c — OpenCLIP's Hugging Face text towers: CustomTextCLIP whose text tower is
 * HFTextEncoder(hf_model_name, pooler_type = hf_pooler_type, proj_type = hf_proj_type)
 * (open_clip model.py _build_text_tower, hf_model.py). OpenCLIP builds the transformer from the
 * HF model's config.json (AutoConfig.from_pretrained(hf_model_name), then AutoModel.from_config
 * when the CLIP checkpoint brings the weights); this file finds that config, lists the state
 * dict it gives and binds the weights for nn/hf_text.c. Encoders: RoBERTa and XLM-RoBERTa
 * (transformers models/roberta, models/xlm_roberta: the same computation). docs/HF_TEXT.md.
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "model/hftext.h"
#include "model/model.h"
#include "nn/engine.h"

#define HF_CONFIG_MAX ((size_t)1 << 20) /* a model's config.json is a few KB */

/* config.json of the hub repositories FacebookAI/roberta-base, FacebookAI/xlm-roberta-base and
 * FacebookAI/xlm-roberta-large (the names OpenCLIP's roberta-ViT-B-32, xlm-roberta-base-ViT-B-32
 * and xlm-roberta-large-ViT-H-14 configs give; the hub redirects the short names there). Each:
 * hidden_act "gelu", position_embedding_type "absolute", type_vocab_size 1, pad_token_id 1,
 * layer_norm_eps 1e-05, max_position_embeddings 514. */
static const struct {
    const char *name, *model_type;
    int vocab, hidden, layers, heads, inter;
} builtin[] = {
    {"roberta-base", "roberta", 50265, 768, 12, 12, 3072},
    {"xlm-roberta-base", "xlm-roberta", 250002, 768, 12, 12, 3072},
    {"xlm-roberta-large", "xlm-roberta", 250002, 1024, 24, 16, 4096},
};

/* config.json of facebook/nllb-200-distilled-600M and -1.3B (nllb-clip-base / -large; their
 * encoders): M2M100, vocabulary 256206, d_model 1024, 16 heads, max_position_embeddings 1024,
 * scale_embedding true, activation_function relu, pad_token_id 1 */
static const struct {
    const char *name;
    int layers, ffn;
} builtin_nllb[] = {
    {"facebook/nllb-200-distilled-600M", 12, 4096},
    {"facebook/nllb-200-distilled-1.3B", 24, 8192},
};

static bool known_type(const char *t) {
    return !strcmp(t, "roberta") || !strcmp(t, "xlm-roberta") || !strcmp(t, "m2m_100");
}

static bool is_m2m(const oclip_hf_text_cfg *h) { return !strcmp(h->model_type, "m2m_100"); }

/* ---------------------------------------------------------------------------------------------
 * config.json
 */
static oclip_status get_int(const cJSON *j, const char *key, bool required, int lo, int hi,
                            int *out, const char *path, oclip_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v && !required) return OCLIP_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
        v->valuedouble < lo || v->valuedouble > hi)
        return oc_err_set(err, OCLIP_E_FORMAT, "'%s': %s: expected an integer in [%d, %d]%s",
                          path, key, lo, hi, v ? "" : " (missing)");
    *out = (int)v->valuedouble;
    return OCLIP_OK;
}

/* Reads config.json at `path` into *h. *other: the file is the config of another kind of model
 * (its model_type is not an encoder oclip knows); *h is then untouched. */
static oclip_status read_config(const char *path, oclip_hf_text_cfg *h, char *type_out,
                                size_t type_size, bool *other, oclip_error *err) {
    *other = false;
    oc_map map;
    oclip_status s = oc_map_file(path, &map, err);
    if (s) return s;
    if (map.size > HF_CONFIG_MAX) {
        oc_unmap(&map);
        return oc_err_set(err, OCLIP_E_FORMAT, "'%s': %zu bytes, more than the %zu a model "
                          "config may have", path, map.size, HF_CONFIG_MAX);
    }
    cJSON *j = NULL;
    s = oc_json_parse_text((const char *)map.data, map.size, OC_JSON_PYTHON, path, &j, err);
    oc_unmap(&map);
    if (s) return s;
    oclip_hf_text_cfg c = {0};
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    if (!cJSON_IsObject(j) || !cJSON_IsString(mt) || !known_type(mt->valuestring)) {
        if (type_out)
            snprintf(type_out, type_size, "%s", cJSON_IsString(mt) ? mt->valuestring : "");
        cJSON_Delete(j);
        *other = true;
        return OCLIP_OK;
    }
    snprintf(c.model_type, sizeof c.model_type, "%s", mt->valuestring);
    snprintf(c.activation, sizeof c.activation, "gelu");
    if (is_m2m(&c)) { /* M2M100Config's defaults and names */
        c.hidden_size = 1024, c.num_hidden_layers = 12, c.num_attention_heads = 16;
        c.intermediate_size = 4096, c.max_position_embeddings = 1024, c.pad_token_id = 1;
        c.layer_norm_eps = 1e-5; /* nn.LayerNorm's default: M2M100 passes no eps */
        c.scale_embedding = 1;
        snprintf(c.activation, sizeof c.activation, "relu");
        const cJSON *se = cJSON_GetObjectItemCaseSensitive(j, "scale_embedding");
        const cJSON *af = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
        if (se && !cJSON_IsBool(se)) {
            s = oc_err_set(err, OCLIP_E_FORMAT, "'%s': scale_embedding: expected a boolean", path);
            goto done;
        }
        if (se) c.scale_embedding = cJSON_IsTrue(se);
        if (af && !(cJSON_IsString(af) && (!strcmp(af->valuestring, "relu") ||
                                           !strcmp(af->valuestring, "gelu")))) {
            s = oc_err_set(err, OCLIP_E_UNSUPPORTED, "'%s': activation_function other than "
                           "\"relu\" / \"gelu\"", path);
            goto done;
        }
        if (af) snprintf(c.activation, sizeof c.activation, "%s", af->valuestring);
        if ((s = get_int(j, "vocab_size", true, 1, 16 << 20, &c.vocab_size, path, err)) ||
            (s = get_int(j, "d_model", false, 2, 1 << 16, &c.hidden_size, path, err)) ||
            (s = get_int(j, "encoder_layers", false, 0, 1024, &c.num_hidden_layers, path, err)) ||
            (s = get_int(j, "encoder_attention_heads", false, 1, 1 << 16, &c.num_attention_heads,
                         path, err)) ||
            (s = get_int(j, "encoder_ffn_dim", false, 1, 1 << 18, &c.intermediate_size, path,
                         err)) ||
            (s = get_int(j, "max_position_embeddings", false, 1, 1 << 20,
                         &c.max_position_embeddings, path, err)) ||
            (s = get_int(j, "pad_token_id", false, 0, 16 << 20, &c.pad_token_id, path, err)))
            goto done;
        goto check;
    }
    /* RobertaConfig's defaults for the keys a config.json may leave out */
    c.type_vocab_size = 2;
    c.pad_token_id = 1;
    c.max_position_embeddings = 512;
    c.layer_norm_eps = 1e-12;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
    c.intermediate_size = 3072;
    c.hidden_size = 768;
    if ((s = get_int(j, "vocab_size", true, 1, 16 << 20, &c.vocab_size, path, err)) ||
        (s = get_int(j, "hidden_size", false, 1, 1 << 16, &c.hidden_size, path, err)) ||
        (s = get_int(j, "num_hidden_layers", false, 0, 1024, &c.num_hidden_layers, path, err)) ||
        (s = get_int(j, "num_attention_heads", false, 1, 1 << 16, &c.num_attention_heads, path,
                     err)) ||
        (s = get_int(j, "intermediate_size", false, 1, 1 << 18, &c.intermediate_size, path,
                     err)) ||
        (s = get_int(j, "max_position_embeddings", false, 1, 1 << 20,
                     &c.max_position_embeddings, path, err)) ||
        (s = get_int(j, "type_vocab_size", false, 1, 1 << 16, &c.type_vocab_size, path, err)) ||
        (s = get_int(j, "pad_token_id", false, 0, 16 << 20, &c.pad_token_id, path, err)))
        goto done;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))) {
        s = oc_err_set(err, OCLIP_E_FORMAT, "'%s': layer_norm_eps: expected a number in (0, 1)",
                       path);
        goto done;
    }
    if (eps) c.layer_norm_eps = eps->valuedouble;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(j, "position_embedding_type");
    if (act && !(cJSON_IsString(act) && !strcmp(act->valuestring, "gelu"))) {
        s = oc_err_set(err, OCLIP_E_UNSUPPORTED, "'%s': hidden_act other than \"gelu\"", path);
        goto done;
    }
    if (pet && !(cJSON_IsString(pet) && !strcmp(pet->valuestring, "absolute"))) {
        s = oc_err_set(err, OCLIP_E_UNSUPPORTED, "'%s': position_embedding_type other than "
                       "\"absolute\"", path);
        goto done;
    }
check:
    if (c.pad_token_id >= c.vocab_size || c.hidden_size % c.num_attention_heads) {
        s = oc_err_set(err, OCLIP_E_FORMAT, "'%s': pad_token_id %d outside the vocabulary, or "
                       "hidden_size %d not a multiple of num_attention_heads %d", path,
                       c.pad_token_id, c.hidden_size, c.num_attention_heads);
        goto done;
    }
    *h = c;
done:
    cJSON_Delete(j);
    return s;
}

bool oc_hftext_cache_snapshot(const char *name, char *out, size_t size) {
    char root[OC_PATH_SIZE], repo[300], file[OC_PATH_SIZE], ref[64];
    oclip_error ignore;
    const char *sl = strchr(name, '/');
    size_t n = strlen(name);
    /* "name" or "org/name", each part one safe path component */
    if (sl ? (!oc_hub_name_ok(name, (size_t)(sl - name), 96) ||
              !oc_hub_name_ok(sl + 1, n - (size_t)(sl - name) - 1, 96))
           : !oc_hub_name_ok(name, n, 96))
        return false;
    if (sl) snprintf(repo, sizeof repo, "%.*s--%s", (int)(sl - name), name, sl + 1);
    else snprintf(repo, sizeof repo, "%s", name);
    if (oclip_hf_cache_dir(root, sizeof root, &ignore) ||
        !oc_fmt(file, sizeof file, "%s/models--%s/refs/main", root, repo) ||
        oc_read_small_file(file, ref, sizeof ref) == 0)
        return false;
    size_t len = strcspn(ref, "\r\n");
    if (len != 40 || strspn(ref, "0123456789abcdef") < 40) return false;
    ref[40] = '\0';
    return oc_fmt(out, size, "%s/models--%s/snapshots/%s", root, repo, ref) &&
           oc_path_kind(out) == 2;
}

oclip_status oc_hftext_resolve(oclip_text_cfg *t, const char *weights, oc_notes *notes,
                               oclip_error *err) {
    if (t->hf.model_type[0]) return OCLIP_OK;
    char dir[OC_PATH_SIZE], file[OC_PATH_SIZE], other[64] = "";
    bool is_other;
    oclip_status s;
    /* 1. beside the weights */
    const char *slash = weights ? strrchr(weights, '/') : NULL;
    if (weights && weights[0] &&
        (slash ? oc_fmt(dir, sizeof dir, "%.*s", (int)(slash - weights), weights)
               : oc_fmt(dir, sizeof dir, ".")) &&
        oc_fmt(file, sizeof file, "%s/config.json", dir) && oc_path_kind(file) == 1) {
        if ((s = read_config(file, &t->hf, other, sizeof other, &is_other, err))) return s;
        if (!is_other) oc_fmt(t->hf.source, sizeof t->hf.source, "%.300s", file);
    }
    /* 2. the Hugging Face cache, as AutoConfig.from_pretrained(hf_model_name) */
    if (!t->hf.model_type[0] && oc_hftext_cache_snapshot(t->hf_model_name, dir, sizeof dir) &&
        oc_fmt(file, sizeof file, "%s/config.json", dir) && oc_path_kind(file) == 1) {
        if ((s = read_config(file, &t->hf, other, sizeof other, &is_other, err))) return s;
        if (is_other) {
            oc_escbuf e;
            oc_err_set(err, OCLIP_E_UNSUPPORTED, "text tower %s: model_type '%s' ('%s'): oclip "
                       "runs the RoBERTa, XLM-RoBERTa and M2M100 (NLLB) encoders", t->hf_model_name,
                       OC_ESC(e, other), file);
            return OCLIP_E_UNSUPPORTED;
        }
        oc_fmt(t->hf.source, sizeof t->hf.source, "%.300s", file);
    }
    /* 3. built in: the published config.json */
    const char *name = t->hf_model_name;
    if (!strncmp(name, "FacebookAI/", 11)) name += 11;
    for (size_t i = 0; !t->hf.model_type[0] && i < sizeof builtin / sizeof *builtin; i++) {
        if (strcmp(name, builtin[i].name)) continue;
        oclip_hf_text_cfg *h = &t->hf;
        snprintf(h->model_type, sizeof h->model_type, "%s", builtin[i].model_type);
        h->vocab_size = builtin[i].vocab;
        h->hidden_size = builtin[i].hidden;
        h->num_hidden_layers = builtin[i].layers;
        h->num_attention_heads = builtin[i].heads;
        h->intermediate_size = builtin[i].inter;
        h->max_position_embeddings = 514;
        h->type_vocab_size = 1;
        h->pad_token_id = 1;
        h->layer_norm_eps = 1e-5;
        snprintf(h->activation, sizeof h->activation, "gelu");
        snprintf(h->source, sizeof h->source, "built in (the published config.json of %s)",
                 t->hf_model_name);
    }
    for (size_t i = 0; !t->hf.model_type[0] && i < sizeof builtin_nllb / sizeof *builtin_nllb;
         i++) {
        if (strcmp(t->hf_model_name, builtin_nllb[i].name)) continue;
        oclip_hf_text_cfg *h = &t->hf;
        snprintf(h->model_type, sizeof h->model_type, "m2m_100");
        h->vocab_size = 256206;
        h->hidden_size = 1024;
        h->num_hidden_layers = builtin_nllb[i].layers;
        h->num_attention_heads = 16;
        h->intermediate_size = builtin_nllb[i].ffn;
        h->max_position_embeddings = 1024;
        h->pad_token_id = 1;
        h->layer_norm_eps = 1e-5;
        h->scale_embedding = 1;
        snprintf(h->activation, sizeof h->activation, "relu");
        snprintf(h->source, sizeof h->source, "built in (the published config.json of %s)",
                 t->hf_model_name);
    }
    if (!t->hf.model_type[0]) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "text tower %s: no config.json for it beside the "
                   "weights or in the Hugging Face cache, and oclip has none built in",
                   t->hf_model_name);
        oc_err_hint(err, "put the model's config.json beside the weights, or fetch it into the "
                    "cache (huggingface-cli download %s config.json)", t->hf_model_name);
        return OCLIP_E_NOTFOUND;
    }
    t->vocab_size = t->hf.vocab_size; /* HFTextEncoder.vocab_size */
    if (notes)
        oc_note(notes, "text tower %s (%s): hidden %d, %d layers, %d heads, vocabulary %d, "
                "from %s", t->hf_model_name, t->hf.model_type, t->hf.hidden_size,
                t->hf.num_hidden_layers, t->hf.num_attention_heads, t->hf.vocab_size,
                t->hf.source);
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * What is computed
 */
static oc_hf_pooler pooler_of(const char *p, bool *ok) {
    *ok = true;
    if (!strcmp(p, "mean_pooler")) return OC_HF_MEAN;
    if (!strcmp(p, "cls_pooler")) return OC_HF_CLS;
    if (!strcmp(p, "cls_last_hidden_state_pooler")) return OC_HF_CLS_LAST;
    *ok = false;
    return OC_HF_MEAN;
}

const char *oc_hftext_unsupported(const oclip_model_config *c) {
    const oclip_text_cfg *t = &c->text;
    const oclip_hf_text_cfg *h = &t->hf;
    bool ok;
    pooler_of(t->hf_pooler_type, &ok);
    if (!ok)
        return "HF text hf_pooler_type other than 'mean_pooler', 'cls_pooler', "
               "'cls_last_hidden_state_pooler' (max_pooler: OpenCLIP's masks the wrong tokens)";
    if (t->hf_proj_type[0] && strcmp(t->hf_proj_type, "linear") && strcmp(t->hf_proj_type, "mlp"))
        return "HF text hf_proj_type other than 'linear', 'mlp' or null";
    const char *n = t->hf_model_name;
    if (strstr(n, "mt5") || strstr(n, "bert-base"))
        return "HF text tower other than RoBERTa / XLM-RoBERTa / NLLB (mT5's T5 encoder and BERT "
               "are not implemented)";
    if (!h->model_type[0]) return NULL; /* judged once resolved */
    if (is_m2m(h) && h->hidden_size % 2)
        return "HF text M2M100 encoder with an odd d_model";
    if (!t->hf_proj_type[0] && h->hidden_size != c->embed_dim)
        return "HF text hf_proj_type null with hidden_size != embed_dim (OpenCLIP builds no "
               "projection then)";
    if (t->context_length + h->pad_token_id >= h->max_position_embeddings + 2 * is_m2m(h))
        return "HF text context_length past the model's max_position_embeddings";
    if (t->context_length > OC_MAX_TOKENS) return "sequences longer than 4096 tokens";
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The state dict
 */
oclip_status oc_hftext_expected(const oclip_model_config *c, oc_arena *a, oc_expect **out,
                                size_t *n, oclip_error *err) {
    const oclip_hf_text_cfg *h = &c->text.hf;
    if (!h->model_type[0])
        return oc_err_set(err, OCLIP_E_ARG, "text tower %s: its config.json was not read",
                          c->text.hf_model_name);
    /* the image tower, logit_scale / logit_bias: those of the model with a native text tower
     * (a native ViT, or a timm SigLIP tower), less its text keys */
    oclip_model_config nat = *c;
    if (nat.family != OCLIP_FAMILY_TIMM) nat.family = OCLIP_FAMILY_NATIVE;
    nat.text.hf_model_name[0] = '\0';
    oc_expect *ne;
    size_t nn;
    oclip_status s = oc_arch_expected(&nat, a, &ne, &nn, err);
    if (s) return s;
    oc_elist l = {.a = a};
    const oc_emit e = {oc_elist_put, &l};
    for (size_t i = 0; i < nn; i++)
        if (!strncmp(ne[i].name, "visual.", 7) || !strncmp(ne[i].name, "logit_", 6))
            oc_elist_put(&l, ne[i].ndim, ne[i].shape, ne[i].name);
    int64_t D = h->hidden_size, M = h->intermediate_size, E = c->embed_dim;
#define P "text.transformer."
    if (is_m2m(h)) { /* M2M100Model.encoder (the sinusoidal positions are not stored) */
        oc_emitf(&e, 2, h->vocab_size, D, 0, 0, P "embed_tokens.weight");
        for (int i = 0; i < h->num_hidden_layers; i++) {
#define L P "layers.%d."
            oc_emitf(&e, 2, D, D, 0, 0, L "self_attn.k_proj.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn.k_proj.bias", i);
            oc_emitf(&e, 2, D, D, 0, 0, L "self_attn.v_proj.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn.v_proj.bias", i);
            oc_emitf(&e, 2, D, D, 0, 0, L "self_attn.q_proj.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn.q_proj.bias", i);
            oc_emitf(&e, 2, D, D, 0, 0, L "self_attn.out_proj.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn.out_proj.bias", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn_layer_norm.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "self_attn_layer_norm.bias", i);
            oc_emitf(&e, 2, M, D, 0, 0, L "fc1.weight", i);
            oc_emitf(&e, 1, M, 0, 0, 0, L "fc1.bias", i);
            oc_emitf(&e, 2, D, M, 0, 0, L "fc2.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "fc2.bias", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "final_layer_norm.weight", i);
            oc_emitf(&e, 1, D, 0, 0, 0, L "final_layer_norm.bias", i);
#undef L
        }
        oc_emitf(&e, 1, D, 0, 0, 0, P "layer_norm.weight");
        oc_emitf(&e, 1, D, 0, 0, 0, P "layer_norm.bias");
        goto proj;
    }
    /* RobertaModel's state_dict order (embeddings, encoder.layer.*, pooler) */
    oc_emitf(&e, 2, h->vocab_size, D, 0, 0, P "embeddings.word_embeddings.weight");
    oc_emitf(&e, 2, h->max_position_embeddings, D, 0, 0, P "embeddings.position_embeddings.weight");
    oc_emitf(&e, 2, h->type_vocab_size, D, 0, 0, P "embeddings.token_type_embeddings.weight");
    oc_emitf(&e, 1, D, 0, 0, 0, P "embeddings.LayerNorm.weight");
    oc_emitf(&e, 1, D, 0, 0, 0, P "embeddings.LayerNorm.bias");
    for (int i = 0; i < h->num_hidden_layers; i++) {
#define L P "encoder.layer.%d."
        oc_emitf(&e, 2, D, D, 0, 0, L "attention.self.query.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.self.query.bias", i);
        oc_emitf(&e, 2, D, D, 0, 0, L "attention.self.key.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.self.key.bias", i);
        oc_emitf(&e, 2, D, D, 0, 0, L "attention.self.value.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.self.value.bias", i);
        oc_emitf(&e, 2, D, D, 0, 0, L "attention.output.dense.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.output.dense.bias", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.output.LayerNorm.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "attention.output.LayerNorm.bias", i);
        oc_emitf(&e, 2, M, D, 0, 0, L "intermediate.dense.weight", i);
        oc_emitf(&e, 1, M, 0, 0, 0, L "intermediate.dense.bias", i);
        oc_emitf(&e, 2, D, M, 0, 0, L "output.dense.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "output.dense.bias", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "output.LayerNorm.weight", i);
        oc_emitf(&e, 1, D, 0, 0, 0, L "output.LayerNorm.bias", i);
#undef L
    }
    /* add_pooling_layer = (pooler_type == "cls_pooler") (HFTextEncoder.__init__) */
    if (!strcmp(c->text.hf_pooler_type, "cls_pooler")) {
        oc_emitf(&e, 2, D, D, 0, 0, P "pooler.dense.weight");
        oc_emitf(&e, 1, D, 0, 0, 0, P "pooler.dense.bias");
    }
proj:
#undef P
    if (!strcmp(c->text.hf_proj_type, "linear")) {
        oc_emitf(&e, 2, E, D, 0, 0, "text.proj.weight");
    } else if (!strcmp(c->text.hf_proj_type, "mlp")) {
        oc_emitf(&e, 2, (D + E) / 2, D, 0, 0, "text.proj.0.weight");
        oc_emitf(&e, 2, E, (D + E) / 2, 0, 0, "text.proj.2.weight");
    }
    return oc_elist_done(&l, out, n, err);
}

/* ---------------------------------------------------------------------------------------------
 * Binding (the report validated every name, shape and dtype)
 */
typedef oc_binder binder;

/* numel floats (an fp32 copy in the model's arena) of a tensor at least that big */
static float *vec(binder *b, const char *fmt, int layer, size_t first, size_t numel) {
    const oclip_tensor *t = oc_bind_tensor(b, fmt, layer);
    if (!t) return NULL;
    if ((uint64_t)t->numel < first + numel) {
        if (!b->st) b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': too small", fmt);
        return NULL;
    }
    float *p = oc_arena_alloc(&b->m->arena, numel * sizeof(float));
    if (!p) {
        if (!b->st) b->st = oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
        return NULL;
    }
    oc_load_f32(p, t->data, t->dtype, first, numel);
    return p;
}

/* nn.Linear.weight [n, k] */
static void weight(binder *b, oc_weight *w, const char *fmt, int layer, size_t n, size_t k) {
    const oclip_tensor *t = oc_bind_tensor(b, fmt, layer);
    memset(w, 0, sizeof *w);
    if (!t) return;
    if (t->ndim != 2 || (size_t)t->shape[0] != n || (size_t)t->shape[1] != k) {
        if (!b->st) b->st = oc_err_set(b->err, OCLIP_E_FORMAT, "tensor '%s': shape", fmt);
        return;
    }
    w->data = t->data;
    w->dtype = t->dtype;
    w->n = n;
    w->k = k;
}

/* M2M100SinusoidalPositionalEmbedding.get_embedding(rows, D, padding_idx) in float32:
 * freq[i] = exp(i * -(log(10000) / (D/2 - 1))), row p = [sin(p freq), cos(p freq)], the
 * padding_idx row zero */
static float *sinusoids(oclip_model *m, size_t rows, size_t D, size_t pad) {
    float *t = oc_arena_alloc(&m->arena, rows * D * sizeof(float));
    if (!t) return NULL;
    size_t half = D / 2;
    float step = (float)(-(log(10000.0) / (double)(half - 1)));
    for (size_t p = 0; p < rows; p++)
        for (size_t i = 0; i < half && p != pad; i++) {
            float a = (float)p * expf((float)i * step);
            t[p * D + i] = sinf(a);
            t[p * D + half + i] = cosf(a);
        }
    return t;
}

/* NLLB's encoder: M2M100Model.encoder (OpenCLIP keeps .encoder of an encoder-decoder) */
static oclip_status bind_m2m(oclip_model *m, binder *b, oc_hf_text *h,
                             const oclip_hf_text_cfg *hc) {
    const oclip_model_config *c = &m->cfg;
    size_t D = (size_t)h->D, M = (size_t)h->M, E = (size_t)c->embed_dim;
    h->m2m = 1;
    h->relu = !strcmp(hc->activation, "relu");
    h->emb_scale = hc->scale_embedding ? (float)sqrt((double)D) : 1.0f;
    /* the encoder's output has no pooler_output: ClsPooler takes last_hidden_state[:, 0] */
    if (h->pooler == OC_HF_CLS) h->pooler = OC_HF_CLS_LAST;
    h->n_pool = 0;
    h->nblock = (size_t)h->layers * OC_HF_PER_LAYER;
    h->nw = h->nblock + (h->proj == OC_HF_PROJ_MLP ? 2 : h->proj ? 1 : 0);
    h->w = oc_arena_alloc(&m->arena, (h->nw ? h->nw : 1) * sizeof *h->w);
    h->l = oc_arena_alloc(&m->arena, (size_t)(h->layers ? h->layers : 1) * sizeof *h->l);
    /* rows num_positions + offset 2 (M2M100SinusoidalPositionalEmbedding.__init__) */
    h->max_pos += 2;
    h->pos = sinusoids(m, (size_t)h->max_pos, D, (size_t)h->pad_id);
    if (!h->w || !h->l || !h->pos) return oc_err_set(b->err, OCLIP_E_NOMEM, "out of memory");
#define P "text.transformer."
    const oclip_tensor *emb = oc_bind_tensor(b, P "embed_tokens.weight", 0);
    if (emb) {
        h->tok_emb = emb->data;
        h->tok_dtype = emb->dtype;
    }
    h->ln_w = vec(b, P "layer_norm.weight", 0, 0, D);
    h->ln_b = vec(b, P "layer_norm.bias", 0, 0, D);
    static const char *const wn[OC_HF_PER_LAYER] = {"self_attn.q_proj", "self_attn.k_proj",
                                                    "self_attn.v_proj", "self_attn.out_proj",
                                                    "fc1", "fc2"};
    for (int i = 0; i < h->layers && !b->st; i++) {
        oc_hf_layer *L = &h->l[i];
        oc_weight *w = h->w + (size_t)i * OC_HF_PER_LAYER;
        for (int k = 0; k < OC_HF_PER_LAYER; k++) {
            char f[160];
            size_t no = k == OC_HF_FC ? M : D, ni = k == OC_HF_OUT ? M : D;
            snprintf(f, sizeof f, P "layers.%%d.%s.weight", wn[k]);
            weight(b, &w[k], f, i, no, ni);
            snprintf(f, sizeof f, P "layers.%%d.%s.bias", wn[k]);
            L->b[k] = vec(b, f, i, 0, no);
        }
        L->ln1_w = vec(b, P "layers.%d.self_attn_layer_norm.weight", i, 0, D);
        L->ln1_b = vec(b, P "layers.%d.self_attn_layer_norm.bias", i, 0, D);
        L->ln2_w = vec(b, P "layers.%d.final_layer_norm.weight", i, 0, D);
        L->ln2_b = vec(b, P "layers.%d.final_layer_norm.bias", i, 0, D);
    }
#undef P
    oc_weight *pj = &h->w[h->nblock];
    if (h->proj == OC_HF_PROJ_LINEAR) {
        weight(b, pj, "text.proj.weight", 0, E, D);
    } else if (h->proj == OC_HF_PROJ_MLP) {
        weight(b, &pj[0], "text.proj.0.weight", 0, (D + E) / 2, D);
        weight(b, &pj[1], "text.proj.2.weight", 0, E, (D + E) / 2);
    } else if (D != E) {
        return oc_err_set(b->err, OCLIP_E_UNSUPPORTED, "HF text projection none with hidden %zu "
                          "!= embed_dim %zu", D, E);
    }
    return b->st;
}

oclip_status oc_hftext_bind(oclip_model *m, const oclip_checkpoint *mapped, oclip_error *err) {
    const oclip_model_config *c = &m->cfg;
    const oclip_hf_text_cfg *hc = &c->text.hf;
    oc_hf_text *h = &m->txt.hf;
    binder b = {m, mapped, err, OCLIP_OK};
    bool ok;
    if (!hc->model_type[0] || oc_hftext_unsupported(c))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF text tower not resolved or supported");
    size_t D = (size_t)hc->hidden_size, M = (size_t)hc->intermediate_size, E = (size_t)c->embed_dim;
    h->on = 1;
    h->D = hc->hidden_size;
    h->M = hc->intermediate_size;
    h->H = hc->num_attention_heads;
    h->layers = hc->num_hidden_layers;
    h->vocab = hc->vocab_size;
    h->max_pos = hc->max_position_embeddings;
    h->pad_id = hc->pad_token_id;
    h->eps = (float)hc->layer_norm_eps;
    h->pooler = pooler_of(c->text.hf_pooler_type, &ok);
    h->proj = !c->text.hf_proj_type[0]                    ? OC_HF_PROJ_NONE
              : !strcmp(c->text.hf_proj_type, "linear") ? OC_HF_PROJ_LINEAR
                                                          : OC_HF_PROJ_MLP;
    m->txt.ctx = c->text.context_length;
    m->txt.vocab = h->vocab;
    if (is_m2m(hc)) return bind_m2m(m, &b, h, hc);
    h->n_pool = h->pooler == OC_HF_CLS;
    h->nblock = (size_t)h->layers * OC_HF_PER_LAYER;
    h->nw = h->nblock + h->n_pool + (h->proj == OC_HF_PROJ_MLP ? 2 : h->proj ? 1 : 0);
    h->w = oc_arena_alloc(&m->arena, (h->nw ? h->nw : 1) * sizeof *h->w);
    h->l = oc_arena_alloc(&m->arena, (size_t)(h->layers ? h->layers : 1) * sizeof *h->l);
    if (!h->w || !h->l) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
#define P "text.transformer."
    const oclip_tensor *emb = oc_bind_tensor(&b, P "embeddings.word_embeddings.weight", 0);
    if (emb) {
        h->tok_emb = emb->data;
        h->tok_dtype = emb->dtype;
    }
    h->pos = vec(&b, P "embeddings.position_embeddings.weight", 0, 0, (size_t)h->max_pos * D);
    h->type0 = vec(&b, P "embeddings.token_type_embeddings.weight", 0, 0, D);
    h->ln_w = vec(&b, P "embeddings.LayerNorm.weight", 0, 0, D);
    h->ln_b = vec(&b, P "embeddings.LayerNorm.bias", 0, 0, D);
    static const char *const wn[OC_HF_PER_LAYER] = {
        "attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "intermediate.dense", "output.dense"};
    for (int i = 0; i < h->layers && !b.st; i++) {
        oc_hf_layer *L = &h->l[i];
        oc_weight *w = h->w + (size_t)i * OC_HF_PER_LAYER;
        for (int k = 0; k < OC_HF_PER_LAYER; k++) {
            char f[160];
            size_t no = k == OC_HF_FC ? M : D, ni = k == OC_HF_OUT ? M : D;
            snprintf(f, sizeof f, P "encoder.layer.%%d.%s.weight", wn[k]);
            weight(&b, &w[k], f, i, no, ni);
            snprintf(f, sizeof f, P "encoder.layer.%%d.%s.bias", wn[k]);
            L->b[k] = vec(&b, f, i, 0, no);
        }
        L->ln1_w = vec(&b, P "encoder.layer.%d.attention.output.LayerNorm.weight", i, 0, D);
        L->ln1_b = vec(&b, P "encoder.layer.%d.attention.output.LayerNorm.bias", i, 0, D);
        L->ln2_w = vec(&b, P "encoder.layer.%d.output.LayerNorm.weight", i, 0, D);
        L->ln2_b = vec(&b, P "encoder.layer.%d.output.LayerNorm.bias", i, 0, D);
    }
    if (h->n_pool) {
        weight(&b, &h->w[h->nblock], P "pooler.dense.weight", 0, D, D);
        h->pool_b = vec(&b, P "pooler.dense.bias", 0, 0, D);
    }
#undef P
    oc_weight *pj = &h->w[h->nblock + h->n_pool];
    if (h->proj == OC_HF_PROJ_LINEAR) {
        weight(&b, pj, "text.proj.weight", 0, E, D);
    } else if (h->proj == OC_HF_PROJ_MLP) {
        weight(&b, &pj[0], "text.proj.0.weight", 0, (D + E) / 2, D);
        weight(&b, &pj[1], "text.proj.2.weight", 0, E, (D + E) / 2);
    } else if (D != E) {
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "HF text projection none with hidden %zu != "
                          "embed_dim %zu", D, E);
    }
    return b.st;
}
