/*
 * tokenizer.c — a model's tokenizer, chosen as OpenCLIP's factory.py get_tokenizer chooses it:
 * text_cfg.hf_tokenizer_name set -> HFTokenizer over the Hugging Face tokenizer files (for a
 * local folder the folder's own files, as `local-dir:` does; for hf-hub: and ARCH:TAG the repo
 * named by hf_tokenizer_name in the Hugging Face cache, else the files beside the weights);
 * otherwise OpenCLIP's SimpleTokenizer. The context length is text_cfg.context_length and the
 * keyword arguments text_cfg.tokenizer_kwargs (clean, strip_sep_token).
 *
 * What transformers reads from tokenizer_config.json and OpenCLIP's HFTokenizer relies on --
 * the pad and sep tokens, padding_side, truncation_side -- is read here too; tokenizer.json
 * alone does not say which token pads (SigLIP's T5 tokenizers pad with "</s>").
 *
 * The HF tokenizer is loaded on the model's first text call, under the handle's lock, and kept
 * with the model.
 */
#include <cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "model/hftext.h"
#include "model/model.h"
#include "nn/engine.h"
#include "text/hf_tokenizer.h"

#define TOKENIZER_CONFIG_MAX ((size_t)4 << 20) /* tokenizer_config.json is a few KB */

/* A token of tokenizer_config.json: "text" or {"content": "text", ...} (AddedToken). */
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    const cJSON *c = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "content") : NULL;
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* tokenizer_config.json in dir (optional): the pad / sep ids and sides over call's defaults. */
static oclip_status read_tokenizer_config(const char *dir, const oc_hftok *tok,
                                          oc_hftok_call *call, oclip_error *err) {
    char path[OC_PATH_SIZE];
    if (!oc_fmt(path, sizeof path, "%s/tokenizer_config.json", dir) || oc_path_kind(path) != 1)
        return OCLIP_OK;
    oc_map map;
    oclip_status s = oc_map_file(path, &map, err);
    if (s) return s;
    if (map.size > TOKENIZER_CONFIG_MAX) {
        oc_unmap(&map);
        return oc_err_set(err, OCLIP_E_NOMEM, "'%s': %zu bytes, more than the %zu a tokenizer "
                          "config may have", path, map.size, TOKENIZER_CONFIG_MAX);
    }
    cJSON *j = oc_json_parse((const char *)map.data, map.size, NULL);
    oc_unmap(&map);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return oc_err_set(err, OCLIP_E_FORMAT, "'%s': not a JSON object", path);
    }
    const char *pad = token_text(cJSON_GetObjectItemCaseSensitive(j, "pad_token"));
    const char *sep = token_text(cJSON_GetObjectItemCaseSensitive(j, "sep_token"));
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "padding_side");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "truncation_side");
    if (pad) {
        call->pad_id = oc_hftok_token_id(tok, pad);
        if (call->pad_id < 0)
            s = oc_err_set(err, OCLIP_E_FORMAT, "'%s': pad_token is not a token of the "
                           "tokenizer", path);
    }
    if (sep) call->sep_id = oc_hftok_token_id(tok, sep);
    if (cJSON_IsString(ps)) call->pad_left = strcmp(ps->valuestring, "left") == 0;
    if (cJSON_IsString(ts)) call->truncate_left = strcmp(ts->valuestring, "left") == 0;
    cJSON_Delete(j);
    return s;
}

static oclip_status use_dir(char *dir, const char *found, oclip_error *err) {
    if (oc_fmt(dir, OC_PATH_SIZE, "%s", found)) return OCLIP_OK;
    return oc_err_set(err, OCLIP_E_ARG, "tokenizer folder: path longer than %d bytes",
                      OC_PATH_SIZE - 1);
}

/* The folder holding the model's tokenizer.json, in dir[OC_PATH_SIZE]. */
static oclip_status find_tokenizer_dir(const oclip_model *m, char *dir, oclip_error *err) {
    const char *name = m->cfg.text.hf_tokenizer_name;
    oclip_source_kind kind = oclip_source_kind_of(m->src);
    const char *path = oclip_source_path(m->src);
    char beside[OC_PATH_SIZE] = "", file[OC_PATH_SIZE];
    if (path && path[0]) {
        const char *slash = strrchr(path, '/');
        bool is_dir = kind == OCLIP_SOURCE_DIR && oc_path_kind(path) == 2;
        if (is_dir) oc_fmt(beside, sizeof beside, "%s", path);
        else if (slash) oc_fmt(beside, sizeof beside, "%.*s", (int)(slash - path), path);
        else oc_fmt(beside, sizeof beside, ".");
    }
    /* hf-hub: / ARCH:TAG: the repo hf_tokenizer_name names, in the cache */
    const char *sl = strchr(name, '/');
    if ((kind == OCLIP_SOURCE_HF_HUB || kind == OCLIP_SOURCE_PRETRAINED) && sl &&
        !strchr(sl + 1, '/')) {
        char org[128], repo[128], repo_dir[OC_PATH_SIZE], snap[OC_PATH_SIZE];
        oclip_error ignore;
        if (oc_fmt(org, sizeof org, "%.*s", (int)(sl - name), name) &&
            oc_fmt(repo, sizeof repo, "%s", sl + 1) &&
            oc_hub_snapshot(org, repo, "main", repo_dir, snap, &ignore) == OCLIP_OK &&
            oc_fmt(file, sizeof file, "%s/tokenizer.json", snap) && oc_path_kind(file) == 1)
            return use_dir(dir, snap, err);
    }
    /* a repo without an organisation (xlm-roberta-base, roberta-base) */
    if ((kind == OCLIP_SOURCE_HF_HUB || kind == OCLIP_SOURCE_PRETRAINED) && !sl &&
        oc_hftext_cache_snapshot(name, file, sizeof file) && use_dir(dir, file, err) == OCLIP_OK &&
        oc_fmt(file, sizeof file, "%s/tokenizer.json", dir) && oc_path_kind(file) == 1)
        return OCLIP_OK;
    if (beside[0] && oc_fmt(file, sizeof file, "%s/tokenizer.json", beside) &&
        oc_path_kind(file) == 1)
        return use_dir(dir, beside, err);
    oc_err_set(err, OCLIP_E_NOTFOUND, "this model's tokenizer is the Hugging Face '%s': no "
               "tokenizer.json %s%s%s", name, beside[0] ? "in '" : "", beside,
               beside[0] ? "' (beside the weights)" : "");
    oc_err_hint(err, "put the repo's tokenizer.json (and tokenizer_config.json) beside the "
                "weights, or fetch them into the Hugging Face cache: `oclip pull` on the model "
                "(hf-hub:ORG/NAME or ARCH:TAG) downloads them with it");
    return OCLIP_E_NOTFOUND;
}

static oclip_status load_hf(oclip_model *m, oclip_error *err) {
    char dir[OC_PATH_SIZE], path[OC_PATH_SIZE];
    oclip_status s = find_tokenizer_dir(m, dir, err);
    if (s) return s;
    if (!oc_fmt(path, sizeof path, "%s/tokenizer.json", dir))
        return oc_err_set(err, OCLIP_E_ARG, "tokenizer path too long");
    oc_hftok *tok = NULL;
    if ((s = oc_hftok_load_file(path, &tok, err))) return s;
    const oclip_text_cfg *t = &m->cfg.text;
    oc_hftok_call call = oc_hftok_call_defaults(tok, (size_t)t->context_length);
    call.clean = t->tokenizer_clean >= 0 ? (oclip_clean)t->tokenizer_clean
                                         : OCLIP_CLEAN_WHITESPACE; /* HFTokenizer's default */
    call.strip_sep_token = t->strip_sep_token != 0;
    if ((s = read_tokenizer_config(dir, tok, &call, err))) {
        oc_hftok_free(tok);
        return s;
    }
    if (oc_hftok_id_limit(tok) > (size_t)t->vocab_size) {
        oc_hftok_free(tok);
        oc_err_set(err, OCLIP_E_FORMAT, "'%s' has ids up to %zu, the model's vocabulary %d",
                   path, oc_hftok_id_limit(tok) - 1, t->vocab_size);
        return OCLIP_E_FORMAT;
    }
    m->hftok = tok;
    m->hfcall = call;
    return OCLIP_OK;
}

oclip_status oclip_model_tokenize(const oclip_model *cm, const char *const *texts,
                                  const size_t *lens, size_t n, int64_t *out, oclip_error *err) {
    oc_err_clear(err);
    if (!cm || (n && (!texts || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_model_tokenize: NULL argument");
    oclip_model *m = (oclip_model *)cm; /* the tokenizer is loaded once, under pack_mu */
    const oclip_text_cfg *t = &m->cfg.text;
    size_t ctx = (size_t)t->context_length;
    if (t->hf_tokenizer_name[0]) {
        oclip_status s = OCLIP_OK;
        pthread_mutex_lock(&m->pack_mu);
        if (!m->hftok) s = load_hf(m, err);
        pthread_mutex_unlock(&m->pack_mu);
        if (s) return s;
        size_t *l = NULL;
        if (!lens && n) {
            if (!(l = malloc(n * sizeof *l))) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) l[i] = strlen(texts[i]);
        }
        s = oc_hftok_openclip(m->hftok, texts, lens ? lens : l, n, &m->hfcall, out, err);
        free(l);
        return s;
    }
    if (t->vocab_size != OCLIP_VOCAB_SIZE) {
        oc_err_set(err, OCLIP_E_UNSUPPORTED, "this model has a vocabulary of %d ids, not the %d "
                   "of OpenCLIP's tokenizer", t->vocab_size, OCLIP_VOCAB_SIZE);
        oc_err_hint(err, "pass token ids from this model's own tokenizer (--tokens X.npy)");
        return OCLIP_E_UNSUPPORTED;
    }
    oclip_clean clean = t->tokenizer_clean >= 0 ? (oclip_clean)t->tokenizer_clean
                                                : OCLIP_CLEAN_LOWER; /* SimpleTokenizer's */
    for (size_t i = 0; i < n; i++) {
        oclip_status s = oclip_tokenize(texts[i], lens ? lens[i] : strlen(texts[i]), clean,
                                        out + i * ctx, ctx, err);
        if (s) return oc_err_wrap(err, "text %zu", i + 1), s;
    }
    return OCLIP_OK;
}

void oc_model_tokenizer_free(oclip_model *m) {
    if (m) oc_hftok_free(m->hftok);
}

/* ---------------------------------------------------------------------------------------------
 * oclip_hf_tokenizer: a tokenizer.json without a model (oclip tokenize --tokenizer)
 */
struct oclip_hf_tokenizer {
    oc_hftok *tok;
    oc_hftok_call call; /* pad / sep ids and sides; context length and clean per call */
};

oclip_status oclip_hf_tokenizer_load(const char *path, oclip_hf_tokenizer **out,
                                     oclip_error *err) {
    oc_err_clear(err);
    if (!path || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_hf_tokenizer_load: NULL argument");
    *out = NULL;
    char dir[OC_PATH_SIZE], file[OC_PATH_SIZE];
    int kind = oc_path_kind(path);
    if (kind == 2) {
        if (!oc_fmt(dir, sizeof dir, "%s", path) ||
            !oc_fmt(file, sizeof file, "%s/tokenizer.json", path))
            return oc_err_set(err, OCLIP_E_ARG, "tokenizer path too long");
    } else {
        const char *slash = strrchr(path, '/');
        if (!oc_fmt(file, sizeof file, "%s", path) ||
            !(slash ? oc_fmt(dir, sizeof dir, "%.*s", (int)(slash - path), path)
                    : oc_fmt(dir, sizeof dir, ".")))
            return oc_err_set(err, OCLIP_E_ARG, "tokenizer path too long");
        if (slash == path) oc_fmt(dir, sizeof dir, "/");
    }
    oclip_hf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status s = oc_hftok_load_file(file, &t->tok, err);
    if (!s) {
        t->call = oc_hftok_call_defaults(t->tok, 1);
        s = read_tokenizer_config(dir, t->tok, &t->call, err);
    }
    if (s) {
        oclip_hf_tokenizer_free(t);
        return s;
    }
    *out = t;
    return OCLIP_OK;
}

void oclip_hf_tokenizer_free(oclip_hf_tokenizer *t) {
    if (!t) return;
    oc_hftok_free(t->tok);
    free(t);
}

oclip_status oclip_hf_tokenizer_tokenize(const oclip_hf_tokenizer *t, const char *const *texts,
                                         const size_t *lens, size_t n, size_t context_length,
                                         oclip_clean clean, int64_t *out, oclip_error *err) {
    oc_err_clear(err);
    if (!t || (n && (!texts || !out)))
        return oc_err_set(err, OCLIP_E_ARG, "oclip_hf_tokenizer_tokenize: NULL argument");
    if (context_length < 1 || context_length > 65536)
        return oc_err_set(err, OCLIP_E_ARG, "context length %zu (1..65536)", context_length);
    if (clean != OCLIP_CLEAN_LOWER && clean != OCLIP_CLEAN_WHITESPACE &&
        clean != OCLIP_CLEAN_CANONICALIZE)
        return oc_err_set(err, OCLIP_E_ARG, "unknown clean mode %d", (int)clean);
    oc_hftok_call call = t->call;
    call.context_length = context_length;
    call.clean = clean;
    size_t *l = NULL;
    if (!lens && n) {
        if (!(l = malloc(n * sizeof *l))) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) l[i] = texts[i] ? strlen(texts[i]) : 0;
    }
    oclip_status s = oc_hftok_openclip(t->tok, texts, lens ? lens : l, n, &call, out, err);
    free(l);
    return s;
}

oclip_status oclip_hf_tokenizer_encode(const oclip_hf_tokenizer *t, const char *text, size_t len,
                                       int add_special_tokens, int32_t **ids, size_t *n_ids,
                                       oclip_error *err) {
    oc_err_clear(err);
    if (!t || (!text && len) || !ids || !n_ids)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_hf_tokenizer_encode: NULL argument");
    return oc_hftok_encode(t->tok, text ? text : "", len, add_special_tokens != 0, ids, n_ids,
                           err);
}

void oclip_free_ids(int32_t *ids) { free(ids); }

size_t oclip_hf_tokenizer_id_limit(const oclip_hf_tokenizer *t) {
    return t ? oc_hftok_id_limit(t->tok) : 0;
}
