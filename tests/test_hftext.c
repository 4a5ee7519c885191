/*
 * test_hftext.c — OpenCLIP's Hugging Face text towers (HFTextEncoder over XLM-RoBERTa: src/nn/
 * hf_text.c, src/model/hftext.c) against OpenCLIP 3.3.0 + transformers, on three models of
 * tests/fixtures/hftext/ and NLLB's M2M100 encoder on the fourth (tools/fixtures_hftext.py;
 * docs/HF_TEXT.md). The HF model's config.json
 * is in the fixture's Hugging Face cache (hub/), as AutoConfig.from_pretrained found it. Per
 * model, on every kernel path:
 *   - the transformer's last_hidden_state at the positions computed (the non-pad ones and
 *     position 0) and the pooler's output (mean / cls with the dense + tanh / cls of the last
 *     hidden state) for the first prompts;
 *   - encode_text raw and normalized, the prompts through the model's tokenizer (tokenizer.json
 *     in the folder: ids identical to OpenCLIP's HFTokenizer), encode_image, logits;
 *   - F16 weights (packed, converted) still agree to cos 0.9999.
 * Then where the HF config is found (beside the weights, the cache, built in; another kind of
 * config.json passed over; hostile ones refused), the state dict of the three built-in configs
 * against the one OpenCLIP builds (state_dicts.json), and the refusals (NLLB, unknown poolers, an
 * all-pad row, ids outside the vocabulary).
 * Features: max-abs <= 1e-4, cosine >= 0.99999 (OpenCLIP's fp32 is ~2e-6 from its fp64 here).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels_int.h" /* oc_simd_set */
#include "model/arch.h"
#include "model/hftext.h"
#include "model/model.h"
#include "nn/engine.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/hftext"
#define TOL 1e-4
#define MIN_COS 0.99999

static const char *const variants[] = {"xlmr", "xlmr_cls", "xlmr_last", "nllb", "nllb_siglip"};
static double worst_abs, worst_cos = 1.0;
static char empty_cache[64];

static float *expect_f32(const oclip_checkpoint *ck, const char *name, size_t *n) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    CHECKF(t && t->dtype == OCLIP_DTYPE_F32, "expected tensor %s", name);
    if (!t) return NULL;
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    if (n) *n = (size_t)t->numel;
    return p;
}

static void compare_tol(const char *what, const char *tag, const float *got, const float *want,
                        size_t n, double tol, double min_cos) {
    if (!got || !want) return;
    double mx = 0, dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= mx)) mx = d;
        dot += (double)got[i] * want[i];
        na += (double)got[i] * got[i];
        nb += (double)want[i] * want[i];
    }
    double cos = na > 0 && nb > 0 ? dot / sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
    CHECKF(mx <= tol, "%s %s: max-abs %.3g > %g", tag, what, mx, tol);
    CHECKF(cos >= min_cos, "%s %s: cosine %.9f < %g", tag, what, cos, min_cos);
    if (tol == TOL) {
        if (!(mx <= worst_abs)) worst_abs = mx;
        if (cos < worst_cos) worst_cos = cos;
    }
}
#define compare(what, tag, got, want, n) compare_tol(what, tag, got, want, n, TOL, MIN_COS)

static void use_cache(const char *dir) {
    setenv("HF_HUB_CACHE", dir, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
}

static cJSON *load_json(const char *path) {
    size_t len = 0;
    unsigned char *text = read_file(path, &len);
    cJSON *j = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    CHECKF(j != NULL, "%s", path);
    return j;
}

static void test_variant(const char *variant, oclip_dtype wd) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    use_cache(FIX "/hub");
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s: %s", path, err.msg);
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    o.weight_dtype = wd;
    oclip_model *m = NULL;
    CHECKF(oclip_model_load(dir, &o, &m, &err) == OCLIP_OK, "%s: %s", dir, err.msg);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *ej = load_json(path);
    if (!ex || !m || !ej) {
        oclip_checkpoint_free(ex), oclip_model_free(m), cJSON_Delete(ej);
        return;
    }
    const oclip_hf_text_cfg *hc = &oclip_model_config_of(m)->text.hf;
    int nllb = !strncmp(variant, "nllb", 4);
    CHECKF(strstr(hc->source, nllb ? "hub/models--facebook--nllb-200-distilled-600M/snapshots/"
                                   : "hub/models--xlm-roberta-base/snapshots/") &&
           !strcmp(hc->model_type, nllb ? "m2m_100" : "xlm-roberta") && hc->hidden_size == 64,
           "%s: HF config from %s", variant, hc->source);
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t n_img = (size_t)pt->shape[0], n_txt = (size_t)tt->shape[0];
    size_t E = (size_t)oclip_model_embed_dim(m), L = (size_t)oclip_model_context_length(m);
    CHECK(L == 77 && (size_t)tt->shape[1] == L && tt->dtype == OCLIP_DTYPE_I64);
    float *pixels = expect_f32(ex, "pixels", NULL);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    char tag[64];
    snprintf(tag, sizeof tag, "%s/%s", variant, oclip_dtype_name(wd));
    /* reduced weights: F16 close, BF16 and int8 (the layers' Linear weights) looser */
    double tol = wd == OCLIP_DTYPE_F32 ? TOL : wd == OCLIP_DTYPE_F16 ? 0.05 : 0.2;
    double mcos = wd == OCLIP_DTYPE_F32 ? MIN_COS : wd == OCLIP_DTYPE_F16 ? 0.9999 : 0.998;

    /* stages: last_hidden_state at the positions computed, the pooler's output */
    if (wd == OCLIP_DTYPE_F32) {
        size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(ej, "n_stage")->valueint, cl, cp;
        int pad = cJSON_GetObjectItemCaseSensitive(ej, "pad_id")->valueint;
        float *want_last = expect_f32(ex, "hf_last", &cl), *want_pool = expect_f32(ex, "hf_pooled", &cp);
        size_t D = cp / n;
        float *last = calloc(cl, sizeof(float)), *pooled = calloc(cp, sizeof(float));
        float *out = calloc(n * E, sizeof(float));
        oc_stages st = {.last = last, .pooled = pooled};
        CHECKF(oc_txt_forward(m, tokens, n, out, &st, 0, &err) == OCLIP_OK, "%s: %s", tag, err.msg);
        size_t used = 0;
        for (size_t b = 0; b < n; b++)
            for (size_t j = 0; j < L; j++) {
                const float *g = last + (b * L + j) * D, *w = want_last + (b * L + j) * D;
                if (tokens[b * L + j] == pad && j) { /* not computed: left zero */
                    for (size_t e = 0; e < D; e++) CHECK(g[e] == 0);
                    continue;
                }
                used++;
                compare("last_hidden_state", tag, g, w, D);
            }
        CHECKF(used >= n * 3, "%s: %zu positions", tag, used);
        compare("pooled", tag, pooled, want_pool, cp);
        free(want_last), free(want_pool), free(last), free(pooled), free(out);
    }
    /* features */
    float *w_txt = expect_f32(ex, "txt_features", NULL), *w_img = expect_f32(ex, "img_features", NULL);
    float *w_log = expect_f32(ex, "logits", NULL);
    float *raw = calloc(n_txt * E, sizeof(float)), *txt = calloc(n_txt * E, sizeof(float));
    float *img = calloc(n_img * E, sizeof(float)), *logits = calloc(n_img * n_txt, sizeof(float));
    CHECKF(oclip_encode_text(m, tokens, n_txt, raw, 0, &err) == OCLIP_OK, "%s", err.msg);
    compare_tol("txt_features (raw)", tag, raw, w_txt, n_txt * E, tol, mcos);
    /* one text at a time: the same rows */
    for (size_t i = 0; i < n_txt; i++)
        CHECKF(oclip_encode_text(m, tokens + i * L, 1, txt + i * E, 0, &err) == OCLIP_OK, "%s",
               err.msg);
    compare_tol("txt_features (one by one)", tag, txt, w_txt, n_txt * E, tol, mcos);
    CHECKF(oclip_encode_image(m, pixels, n_img, img, 0, &err) == OCLIP_OK, "%s", err.msg);
    compare_tol("img_features", tag, img, w_img, n_img * E, tol, mcos);
    CHECKF(oclip_logits(m, img, n_img, raw, n_txt, logits, &err) == OCLIP_OK, "%s", err.msg);
    compare_tol("logits", tag, logits, w_log, n_img * n_txt, wd == OCLIP_DTYPE_F32 ? 1e-3 : 0.5,
                wd == OCLIP_DTYPE_I8 ? 0.995 : mcos);
    /* the prompts as strings: the folder's tokenizer.json gives OpenCLIP's ids */
    {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(ej, "prompts");
        CHECK((size_t)cJSON_GetArraySize(pr) == n_txt);
        const char **texts = calloc(n_txt, sizeof *texts);
        for (size_t i = 0; i < n_txt; i++) {
            const cJSON *t = cJSON_GetArrayItem(pr, (int)i);
            texts[i] = cJSON_IsString(t) ? t->valuestring : "";
        }
        int64_t *ids = calloc(n_txt * L, sizeof *ids);
        CHECKF(oclip_model_tokenize(m, texts, NULL, n_txt, ids, &err) == OCLIP_OK, "%s: %s", tag,
               err.msg);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n_txt * L; i++)
            if (ids[i] != tokens[i] && !bad++) first = i;
        CHECKF(bad == 0, "%s: %zu token ids differ from OpenCLIP's, first in prompt %zu ('%s')",
               tag, bad, first / L, texts[first / L]);
        CHECKF(oclip_encode_text_strings(m, texts, NULL, n_txt, txt, 1, &err) == OCLIP_OK, "%s",
               err.msg);
        for (size_t i = 0; i < n_txt; i++) { /* normalized */
            double s = 0;
            for (size_t e = 0; e < E; e++) s += (double)w_txt[i * E + e] * w_txt[i * E + e];
            for (size_t e = 0; e < E; e++) w_txt[i * E + e] = (float)(w_txt[i * E + e] / sqrt(s));
        }
        compare_tol("txt_features (strings, normalized)", tag, txt, w_txt, n_txt * E,
                    wd == OCLIP_DTYPE_F32 ? TOL : tol / 2, mcos);
        free(ids), free(texts);
    }
    /* rows no tokenizer makes: a pad id inside the text (masked, position ids from the
     * cumulative count), one at position 0 (the cls poolers read its row), no pad at all */
    {
        const oclip_tensor *ot = oclip_checkpoint_find(ex, "odd_tokens");
        size_t no = ot ? (size_t)ot->shape[0] : 0;
        float *want = expect_f32(ex, "odd_features", NULL), *got = calloc(no * E + 1, sizeof(float));
        CHECKF(ot && oclip_encode_text(m, ot->data, no, got, 0, &err) == OCLIP_OK, "%s: %s", tag,
               err.msg);
        compare_tol("odd token rows", tag, got, want, no * E, tol, mcos);
        free(want), free(got);
    }
    /* an all-pad row has an empty attention mask: refused; an id past the vocabulary too */
    {
        int64_t *row = calloc(L, sizeof *row);
        for (size_t j = 0; j < L; j++) row[j] = 1;
        CHECK(oclip_encode_text(m, row, 1, raw, 0, &err) == OCLIP_E_ARG &&
              strstr(err.msg, "pad id"));
        row[0] = 0, row[1] = hc->vocab_size;
        CHECK(oclip_encode_text(m, row, 1, raw, 0, &err) == OCLIP_E_ARG &&
              strstr(err.msg, "outside the vocabulary"));
        free(row);
    }
    free(raw), free(txt), free(img), free(logits), free(w_txt), free(w_img), free(w_log);
    free(pixels), free(tokens);
    cJSON_Delete(ej);
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
}

/* ---------------------------------------------------------------------------------------------
 * Where the HF config comes from
 */
static int copy_file(const char *from, const char *to) {
    size_t n = 0;
    unsigned char *d = read_file(from, &n);
    FILE *f = d ? fopen(to, "wb") : NULL;
    int ok = f && fwrite(d, 1, n, f) == n;
    if (f) fclose(f);
    free(d);
    return ok;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) fputs(text, f), fclose(f);
}

static oclip_status load(const char *dir, oclip_model **m, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 1;
    *m = NULL;
    return oclip_model_load(dir, &o, m, err);
}

static void test_config_sources(void) {
    char tmp[] = "/tmp/oclip_hftext_XXXXXX", f[300], g[300];
    CHECK(mkdtemp(tmp) != NULL);
    static const char *const files[] = {"open_clip_config.json", "open_clip_model.safetensors",
                                        "tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(f, sizeof f, FIX "/xlmr/%s", files[i]);
        snprintf(g, sizeof g, "%s/%s", tmp, files[i]);
        CHECK(copy_file(f, g));
    }
    oclip_model *m;
    oclip_error err;
    /* no config anywhere but built in: xlm-roberta-base's real sizes, so every text tensor of
     * the small model is a shape problem the report names */
    use_cache(empty_cache);
    CHECK(load(tmp, &m, &err) == OCLIP_E_MISMATCH &&
          strstr(err.msg, "shape 'text.transformer.embeddings.word_embeddings.weight'"));
    /* a CLIP config.json beside it is not the text tower's: passed over */
    snprintf(f, sizeof f, "%s/config.json", tmp);
    write_text(f, "{\"model_type\": \"clip\", \"projection_dim\": 32}");
    CHECK(load(tmp, &m, &err) == OCLIP_E_MISMATCH && strstr(err.msg, "shape 'text.transformer."));
    /* the cache's config.json copied beside the weights: found there */
    CHECK(copy_file(FIX "/hub/models--xlm-roberta-base/snapshots/"
                        "e73636d4f797dec63c3081bb6ed5c7b0bb3f2089/config.json", f));
    CHECKF(load(tmp, &m, &err) == OCLIP_OK, "%s", err.msg);
    if (m) {
        CHECKF(!strcmp(oclip_model_config_of(m)->text.hf.source, f), "%s",
               oclip_model_config_of(m)->text.hf.source);
        oclip_model_free(m);
    }
    /* hostile config.json beside the weights */
    static const struct {
        const char *json;
        oclip_status st;
        const char *msg;
    } bad[] = {
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": \"602\"}", OCLIP_E_FORMAT, "vocab_size"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"hidden_act\": \"relu\"}",
         OCLIP_E_UNSUPPORTED, "hidden_act"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"position_embedding_type\": "
         "\"relative_key\"}", OCLIP_E_UNSUPPORTED, "position_embedding_type"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"pad_token_id\": 602}",
         OCLIP_E_FORMAT, "pad_token_id"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"hidden_size\": 64, "
         "\"num_attention_heads\": 5}", OCLIP_E_FORMAT, "num_attention_heads"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 1e300}", OCLIP_E_FORMAT, "vocab_size"},
        {"{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"layer_norm_eps\": -1}",
         OCLIP_E_FORMAT, "layer_norm_eps"},
        {"{\"model_type\": \"xlm-roberta\", ", OCLIP_E_FORMAT, "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(f, bad[i].json);
        oclip_status s = load(tmp, &m, &err);
        CHECKF(s == bad[i].st && strstr(err.msg, bad[i].msg), "case %zu: %d %s", i, s, err.msg);
        oclip_model_free(m);
    }
    /* a config of the right model_type but other sizes: the report names the tensors */
    write_text(f, "{\"model_type\": \"xlm-roberta\", \"vocab_size\": 602, \"hidden_size\": 64, "
                  "\"num_hidden_layers\": 3, \"num_attention_heads\": 4, \"intermediate_size\": "
                  "128, \"max_position_embeddings\": 514, \"type_vocab_size\": 1, "
                  "\"layer_norm_eps\": 1e-05, \"pad_token_id\": 1}");
    CHECKF(load(tmp, &m, &err) == OCLIP_E_MISMATCH &&
           strstr(err.msg, "missing 'text.transformer.encoder.layer.2."), "%s", err.msg);
    /* model_type "roberta" (RobertaModel: the same module as XLMRobertaModel) loads too */
    write_text(f, "{\"model_type\": \"roberta\", \"vocab_size\": 602, \"hidden_size\": 64, "
                  "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": "
                  "128, \"max_position_embeddings\": 514, \"type_vocab_size\": 1, "
                  "\"layer_norm_eps\": 1e-05, \"pad_token_id\": 1}");
    CHECKF(load(tmp, &m, &err) == OCLIP_OK, "%s", err.msg);
    if (m) {
        CHECK(!strcmp(oclip_model_config_of(m)->text.hf.model_type, "roberta"));
        oclip_model_free(m);
    }
    unlink(f);
    for (size_t i = 0; i < 4; i++) {
        snprintf(g, sizeof g, "%s/%s", tmp, files[i]);
        unlink(g);
    }
    rmdir(tmp);
}

/* The fixture's weights plus text.transformer.embeddings.position_ids [1, 514] int64 (the
 * buffer transformers < 4.31 saved, as in the 2022 checkpoints), written as safetensors: OpenCLIP's
 * load_checkpoint deletes that key, so the model loads, with a note, and computes the same. */
static void test_position_ids_buffer(void) {
    char tmp[] = "/tmp/oclip_hftext_pid_XXXXXX", path[300], f[300], g[300];
    CHECK(mkdtemp(tmp) != NULL);
    use_cache(FIX "/hub");
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(FIX "/xlmr/open_clip_model.safetensors", NULL, &ck, &err) ==
           OCLIP_OK, "%s", err.msg);
    if (!ck) return;
    cJSON *hdr = cJSON_CreateObject();
    uint64_t off = 0;
    size_t nt = oclip_checkpoint_n_tensors(ck);
    for (size_t i = 0; i <= nt; i++) {
        const oclip_tensor *t = i < nt ? oclip_checkpoint_tensor(ck, i) : NULL;
        CHECK(!t || t->dtype == OCLIP_DTYPE_F32);
        cJSON *e = cJSON_CreateObject(), *sh = cJSON_CreateArray(), *of = cJSON_CreateArray();
        cJSON_AddStringToObject(e, "dtype", t ? "F32" : "I64");
        for (int d = 0; t && d < t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        if (!t) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber(1));
            cJSON_AddItemToArray(sh, cJSON_CreateNumber(514));
        }
        uint64_t nb = t ? t->nbytes : 514 * 8;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        cJSON_AddItemToObject(e, "shape", sh);
        cJSON_AddItemToObject(e, "data_offsets", of);
        cJSON_AddItemToObject(hdr, t ? t->name : "text.transformer.embeddings.position_ids", e);
        off += nb;
    }
    char *h = cJSON_PrintUnformatted(hdr);
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", tmp);
    FILE *fp = fopen(path, "wb");
    uint64_t hl = strlen(h);
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    CHECK(fp && fwrite(le, 1, 8, fp) == 8 && fwrite(h, 1, hl, fp) == hl);
    for (size_t i = 0; fp && i < nt; i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        CHECK(fwrite(t->data, 1, t->nbytes, fp) == t->nbytes);
    }
    for (int64_t j = 0; fp && j < 514; j++) CHECK(fwrite(&j, 8, 1, fp) == 1); /* arange(514) */
    if (fp) fclose(fp);
    free(h);
    cJSON_Delete(hdr);
    oclip_checkpoint_free(ck);
    static const char *const files[] = {"open_clip_config.json", "tokenizer.json",
                                        "tokenizer_config.json"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(f, sizeof f, FIX "/xlmr/%s", files[i]);
        snprintf(g, sizeof g, "%s/%s", tmp, files[i]);
        CHECK(copy_file(f, g));
    }
    oclip_model *m = NULL;
    CHECKF(load(tmp, &m, &err) == OCLIP_OK, "%s", err.msg);
    if (m) {
        size_t notes = 0;
        for (size_t i = 0; i < oclip_report_n_notes(m->report); i++)
            notes += strstr(oclip_report_note(m->report, i),
                            "dropped text.transformer.embeddings.position_ids") != NULL;
        CHECK(notes == 1);
        oclip_checkpoint *ex = NULL;
        CHECK(oclip_checkpoint_open(FIX "/xlmr/expected.safetensors", NULL, &ex, &err) == OCLIP_OK);
        if (ex) {
            const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
            size_t n = (size_t)tt->shape[0], E = (size_t)oclip_model_embed_dim(m);
            float *out = calloc(n * E, sizeof(float)), *want = expect_f32(ex, "txt_features", NULL);
            CHECKF(oclip_encode_text(m, tt->data, n, out, 0, &err) == OCLIP_OK, "%s", err.msg);
            compare("txt_features (position_ids buffer)", "xlmr", out, want, n * E);
            free(out), free(want);
            oclip_checkpoint_free(ex);
        }
        oclip_model_free(m);
    }
    unlink(path);
    for (size_t i = 0; i < 3; i++) {
        snprintf(g, sizeof g, "%s/%s", tmp, files[i]);
        unlink(g);
    }
    rmdir(tmp);
}

/* The seven built-in configs (RoBERTa, XLM-RoBERTa, NLLB, NLLB with SigLIP), resolved with their built-in HF configs: the state dict OpenCLIP
 * builds from the published config.json, name for name, shape for shape, in order. */
static void test_builtin_state_dicts(void) {
    use_cache(empty_cache);
    cJSON *j = load_json(FIX "/state_dicts.json");
    const cJSON *sds = cJSON_GetObjectItemCaseSensitive(j, "state_dicts"), *it;
    int n_arch = 0;
    cJSON_ArrayForEach(it, sds) {
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_builtin(it->string, &c, &err) == OCLIP_OK, "%s", it->string);
        CHECKF((c.family == OCLIP_FAMILY_HF_TEXT ||
                (c.family == OCLIP_FAMILY_TIMM && strstr(it->string, "siglip"))) &&
                   !oc_model_unsupported(&c),
               "%s", it->string);
        CHECKF(oc_hftext_resolve(&c.text, NULL, NULL, &err) == OCLIP_OK, "%s: %s", it->string,
               err.msg);
        CHECKF(strstr(c.text.hf.source, "built in") != NULL, "%s", c.text.hf.source);
        CHECKF(!oc_model_unsupported(&c), "%s: %s", it->string, oc_model_unsupported(&c));
        oc_arena a = {0};
        oc_expect *e = NULL;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", it->string, err.msg);
        CHECKF(n == (size_t)cJSON_GetArraySize(it), "%s: %zu tensors, OpenCLIP %d", it->string, n,
               cJSON_GetArraySize(it));
        /* as sets: OpenCLIP's CustomTextCLIP registers visual, text, then logit_scale */
        size_t found = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, it) {
            const char *name = cJSON_GetArrayItem(kv, 0)->valuestring;
            const cJSON *shape = cJSON_GetArrayItem(kv, 1);
            for (size_t i = 0; i < n; i++) {
                if (strcmp(e[i].name, name)) continue;
                int ok = e[i].ndim == cJSON_GetArraySize(shape);
                for (int d = 0; ok && d < e[i].ndim; d++)
                    ok = e[i].shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
                CHECKF(ok, "%s: %s shape", it->string, name);
                found++;
                break;
            }
        }
        CHECKF(found == n, "%s: %zu of %zu names found", it->string, found, n);
        oc_arena_free(&a);
        n_arch++;
    }
    CHECK(n_arch == 7);
    cJSON_Delete(j);
}

/* hf_pooler_type / hf_proj_type of every built-in config as OpenCLIP's CLIPTextCfg resolves
 * them (tests/fixtures/arch/configs_resolved.json: dataclasses.asdict; null -> "") */
static void test_config_fields(void) {
    cJSON *j = load_json("tests/fixtures/arch/configs_resolved.json");
    const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(j, "configs"), *it;
    int n = 0, hf = 0;
    cJSON_ArrayForEach(it, cfgs) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "text");
        const cJSON *pool = cJSON_GetObjectItemCaseSensitive(t, "hf_pooler_type");
        const cJSON *proj = cJSON_GetObjectItemCaseSensitive(t, "hf_proj_type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "hf_model_name");
        oclip_model_config c;
        oclip_error err;
        if (!t || oclip_config_builtin(it->string, &c, &err) != OCLIP_OK) continue;
        n++;
        hf += cJSON_IsString(name);
        CHECKF(cJSON_IsString(pool) && !strcmp(c.text.hf_pooler_type, pool->valuestring),
               "%s: hf_pooler_type %s", it->string, c.text.hf_pooler_type);
        CHECKF(cJSON_IsString(proj) ? !strcmp(c.text.hf_proj_type, proj->valuestring)
                                    : cJSON_IsNull(proj) && !c.text.hf_proj_type[0],
               "%s: hf_proj_type %s", it->string, c.text.hf_proj_type);
    }
    CHECKF(n > 140 && hf >= 9, "%d configs, %d with an HF text tower", n, hf);
    cJSON_Delete(j);
}

/* What stays refused, by name */
static void test_refusals(void) {
    static const struct {
        const char *arch, *why;
    } cases[] = {
        {"mt5-base-ViT-B-32", "mT5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_builtin(cases[i].arch, &c, &err) == OCLIP_OK, "%s", cases[i].arch);
        const char *why = oc_model_unsupported(&c);
        CHECKF(why && strstr(why, cases[i].why), "%s: %s", cases[i].arch, why ? why : "accepted");
    }
    static const struct {
        const char *text, *why;
    } cfgs[] = {
        {"\"hf_pooler_type\": \"max_pooler\"", "hf_pooler_type"},
        {"\"hf_proj_type\": \"conv\"", "hf_proj_type"},
        {"\"hf_proj_type\": null", NULL}, /* accepted until the HF config says hidden != E */
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 224, "
                 "\"layers\": 12, \"width\": 768, \"patch_size\": 32}, \"text_cfg\": "
                 "{\"hf_model_name\": \"xlm-roberta-base\", \"hf_tokenizer_name\": "
                 "\"xlm-roberta-base\", %s}}", cfgs[i].text);
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_parse(json, strlen(json), &c, &err) == OCLIP_OK, "%s", err.msg);
        const char *why = oc_model_unsupported(&c);
        if (cfgs[i].why) {
            CHECKF(why && strstr(why, cfgs[i].why), "%zu: %s", i, why ? why : "accepted");
        } else {
            CHECKF(!why, "%zu: %s", i, why);
            use_cache(empty_cache);
            CHECK(oc_hftext_resolve(&c.text, NULL, NULL, &err) == OCLIP_OK);
            why = oc_model_unsupported(&c);
            CHECKF(why && strstr(why, "hidden_size != embed_dim"), "%s", why ? why : "accepted");
        }
    }
    /* a name neither beside, cached nor built in */
    {
        oclip_model_config c;
        oclip_error err;
        const char *json = "{\"embed_dim\": 512, \"vision_cfg\": {}, \"text_cfg\": "
                           "{\"hf_model_name\": \"someone/roberta-tiny\"}}";
        CHECK(oclip_config_parse(json, strlen(json), &c, &err) == OCLIP_OK);
        use_cache(empty_cache);
        CHECK(oc_hftext_resolve(&c.text, NULL, NULL, &err) == OCLIP_E_NOTFOUND &&
              strstr(err.msg, "someone/roberta-tiny") && strstr(err.msg, "hint: put"));
    }
}

int main(void) {
    snprintf(empty_cache, sizeof empty_cache, "/tmp/oclip_hftext_empty_XXXXXX");
    CHECK(mkdtemp(empty_cache) != NULL);
    oc_simd best = oc_simd_get();
    for (int p = 0; p < OC_SIMD_COUNT; p++) {
        if (!oc_simd_set((oc_simd)p)) continue;
        fprintf(stderr, " path %s\n", oc_simd_name((oc_simd)p));
        for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++)
            test_variant(variants[i], OCLIP_DTYPE_F32);
    }
    oc_simd_set(best);
    test_variant("xlmr", OCLIP_DTYPE_F16);
    test_variant("xlmr_cls", OCLIP_DTYPE_I8);
    test_variant("nllb", OCLIP_DTYPE_BF16);
    test_config_sources();
    test_position_ids_buffer();
    test_builtin_state_dicts();
    test_config_fields();
    test_refusals();
    rmdir(empty_cache);
    fprintf(stderr, "worst: max-abs %.3g, cosine %.9f\n", worst_abs, worst_cos);
    return TEST_REPORT("test_hftext");
}
