/*
 * test_coca.c — CoCa against OpenCLIP 3.3.0 on the tiny coca_ViT-B-32-shaped model of
 * tests/fixtures/coca/b32_tiny (tools/fixtures_coca.py: random weights, perturbed LayerNorms, CLS
 * embedding and pooler queries, a decoder whose captions differ between images and end at
 * different lengths). Loaded from its hub-style folder (open_clip_config.json), as a user would:
 *   - encode_image raw and normalized (the attentional pool's first query, ln_post, proj);
 *   - encode_text from the prompts' strings (the CLS appended, the legacy pad / CLS key mask; one
 *     prompt fills the whole context, so the CLS key itself is kept);
 *   - the decoder's inputs and output: the image tokens (the pool's other 255 queries after
 *     ln_post), the text tower's token outputs, the decoder logits of a teacher-forced prefix;
 *   - oclip_caption: the ids of OpenCLIP's generate() for 3 images with its defaults (6 beams in
 *     3 groups, min_seq_len 5, seq_len 30), with repetition_penalty 1.5 / seq_len 12, and with 4
 *     beams in 1 group / min_seq_len 8 / seq_len 16: identical ids;
 *   - oclip_decode against OpenCLIP's decode of those ids (expected.json "text");
 *   - the full-size CoCa configs' state dicts (keys.json, OpenCLIP on the meta device) equal
 *     oc_arch_expected's, names, order and shapes;
 *   - option checks and a model without a decoder refused.
 * Features: max-abs <= 1e-4 and cosine >= 0.99999.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/arch.h"
#include "model/model.h"
#include "nn/engine.h"
#include "test.h"
#include "tower_test.h"
#include "util.h"

#define FIX "tests/fixtures/coca"

/* one stage against OpenCLIP's, printed */
static void stage(const char *what, const float *got, const float *want, size_t n) {
    if (!got || !want) return;
    double mx, cos;
    max_abs_cos(got, want, n, &mx, &cos);
    CHECKF(mx <= TOL, "%s: max-abs %.3g > %g", what, mx, TOL);
    CHECKF(cos >= MIN_COS, "%s: cosine %.9f < %g", what, cos, MIN_COS);
    fprintf(stderr, "  %-14s max-abs %.3g, cosine %.9f\n", what, mx, cos);
}

static oclip_model *load(const char *spec, oclip_error *err) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    oclip_model *m = NULL;
    return oclip_model_load(spec, &o, &m, err) == OCLIP_OK ? m : NULL;
}

static void test_features(oclip_model *m, const oclip_checkpoint *ex, const cJSON *ej) {
    oclip_error err;
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t n_img = (size_t)pt->shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *pixels = expect_f32(ex, "pixels", NULL);
    float *out = calloc(n_img * E, sizeof(float));
    float *raw = expect_f32(ex, "img_pooled", NULL), *feat = expect_f32(ex, "img_features", NULL);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 0, &err) == OCLIP_OK, "%s", err.msg);
    stage("img_pooled", out, raw, n_img * E);
    CHECKF(oclip_encode_image(m, pixels, n_img, out, 1, &err) == OCLIP_OK, "%s", err.msg);
    stage("img_features", out, feat, n_img * E);

    /* the decoder's image tokens */
    size_t ntok, Ti = oc_coca_image_ntok(m), W = (size_t)m->coca->dec.D;
    float *img_want = expect_f32(ex, "image_embs", &ntok);
    CHECKF(Ti * W * n_img == ntok, "image tokens: %zu per image, OpenCLIP %zu", Ti,
           ntok / n_img / W);
    float *img = calloc(ntok, sizeof(float));
    CHECKF(oc_coca_image_tokens(m, pixels, n_img, img, &err) == OCLIP_OK, "%s", err.msg);
    stage("image_embs", img, img_want, ntok);

    /* text from the prompts' strings; the tower's token outputs from the fixture's ids */
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(ej, "prompts"), *it;
    size_t n_txt = (size_t)cJSON_GetArraySize(prompts), k = 0;
    const char **texts = calloc(n_txt, sizeof *texts);
    cJSON_ArrayForEach(it, prompts) texts[k++] = it->valuestring;
    float *txt = calloc(n_txt * E, sizeof(float));
    float *txt_want = expect_f32(ex, "txt_features", NULL);
    CHECKF(oclip_encode_text_strings(m, texts, NULL, n_txt, txt, 1, &err) == OCLIP_OK, "%s",
           err.msg);
    stage("txt_features", txt, txt_want, n_txt * E);
    const oclip_tensor *tt = oclip_checkpoint_find(ex, "tokens");
    size_t ctx = (size_t)tt->shape[1], ntt;
    CHECK(ctx == 76 && tt->dtype == OCLIP_DTYPE_I64);
    int64_t *tokens = malloc(tt->nbytes);
    memcpy(tokens, tt->data, tt->nbytes);
    float *tok_want = expect_f32(ex, "txt_tokens", &ntt), *tok = calloc(ntt, sizeof(float));
    CHECKF(oc_coca_text(m, tokens, n_txt, ctx, ctx, NULL, tok, &err) == OCLIP_OK, "%s", err.msg);
    stage("txt_tokens", tok, tok_want, ntt);

    /* decoder logits of image 0 with the first text tokens of prompt 0 */
    size_t nl;
    float *dec_want = expect_f32(ex, "dec_logits", &nl);
    float *dec = calloc(nl, sizeof(float));
    size_t L = (size_t)oclip_checkpoint_find(ex, "dec_logits")->shape[1];
    CHECKF(oc_coca_decoder_logits(m, img, Ti, tok, L, dec, &err) == OCLIP_OK, "%s", err.msg);
    stage("dec_logits", dec, dec_want, nl);
    free(pixels), free(out), free(raw), free(feat), free(img_want), free(img), free(texts);
    free(txt), free(txt_want), free(tokens), free(tok_want), free(tok), free(dec_want), free(dec);
}

static int get_int(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static void test_captions(oclip_model *m, const oclip_checkpoint *ex, const cJSON *ej) {
    const cJSON *gen = cJSON_GetObjectItemCaseSensitive(ej, "generate"), *g;
    const oclip_tensor *pt = oclip_checkpoint_find(ex, "pixels");
    size_t px = (size_t)(pt->numel / pt->shape[0]);
    float *pixels = expect_f32(ex, "pixels", NULL);
    int cases = 0, eos_early = 0;
    cJSON_ArrayForEach(g, gen) {
        const char *key = g->string; /* gen_<kind>_<image> */
        const cJSON *kw = cJSON_GetObjectItemCaseSensitive(g, "kwargs");
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(g, "ids");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(g, "text");
        int img = atoi(strrchr(key, '_') + 1);
        oclip_caption_options o;
        oclip_caption_options_default(&o);
        o.num_beams = get_int(kw, "num_beams", o.num_beams);
        o.num_beam_groups = get_int(kw, "num_beam_groups", o.num_beam_groups);
        o.seq_len = get_int(kw, "seq_len", o.seq_len);
        o.min_seq_len = get_int(kw, "min_seq_len", o.min_seq_len);
        const cJSON *rp = cJSON_GetObjectItemCaseSensitive(kw, "repetition_penalty");
        if (cJSON_IsNumber(rp)) o.repetition_penalty = rp->valuedouble;
        int64_t ids[128];
        size_t n = 0;
        oclip_error err;
        CHECKF(oclip_caption(m, pixels + (size_t)img * px, &o, ids, 128, &n, &err) == OCLIP_OK,
               "%s: %s", key, err.msg);
        size_t nw = (size_t)cJSON_GetArraySize(want), same = n == nw;
        for (size_t i = 0; same && i < n; i++)
            same = ids[i] == (int64_t)cJSON_GetArrayItem(want, (int)i)->valuedouble;
        size_t d = 0;
        while (d < n && d < nw && ids[d] == (int64_t)cJSON_GetArrayItem(want, (int)d)->valuedouble)
            d++;
        CHECKF(same, "%s: %zu ids, OpenCLIP's %zu (first difference at %zu)", key, n, nw, d);
        eos_early += nw < (size_t)o.seq_len;
        char *s = NULL;
        CHECKF(oclip_decode(ids, n, 1, &s, &err) == OCLIP_OK, "%s", err.msg);
        CHECKF(s && cJSON_IsString(text) && !strcmp(s, text->valuestring), "%s: '%s' vs '%s'",
               key, s ? s : "", cJSON_IsString(text) ? text->valuestring : "");
        oclip_free(s);
        cases++;
    }
    CHECKF(cases == 9, "%d generate cases", cases);
    CHECKF(eos_early >= 3, "only %d captions end before seq_len", eos_early);
    free(pixels);
}

/* ids outside the vocabulary (Python's KeyError in decode) */
static void test_decode_hostile(void) {
    oclip_error err;
    char *s = NULL;
    int64_t bad[] = {49406, 49408};
    CHECK(oclip_decode(bad, 2, 0, &s, &err) == OCLIP_E_ARG && !s);
    int64_t neg[] = {-1};
    CHECK(oclip_decode(neg, 1, 0, &s, &err) == OCLIP_E_ARG && !s);
    CHECK(oclip_decode(NULL, 0, 1, &s, &err) == OCLIP_OK && s && !s[0]);
    oclip_free(s);
}

/* the full-size configs' state dicts against OpenCLIP's (meta device, keys.json) */
static void test_keys(void) {
    cJSON *all = read_json(FIX "/keys.json");
    const cJSON *cfg;
    int checked = 0;
    cJSON_ArrayForEach(cfg, all) {
        if (!cJSON_IsArray(cfg)) continue; /* coca_roberta: needs the hub (not built here) */
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_builtin(cfg->string, &c, &err) == OCLIP_OK, "%s: %s", cfg->string,
               err.msg);
        oc_arena a = {0};
        oc_expect *e = NULL;
        size_t n = 0;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", cfg->string, err.msg);
        CHECKF(n == (size_t)cJSON_GetArraySize(cfg), "%s: %zu keys, OpenCLIP %d", cfg->string, n,
               cJSON_GetArraySize(cfg));
        size_t i = 0;
        int bad = 0;
        const cJSON *ent;
        cJSON_ArrayForEach(ent, cfg) {
            if (i >= n) break;
            const cJSON *shape = cJSON_GetArrayItem(ent, 1);
            int ok = !strcmp(e[i].name, cJSON_GetArrayItem(ent, 0)->valuestring) &&
                     e[i].ndim == cJSON_GetArraySize(shape);
            for (int d = 0; ok && d < e[i].ndim; d++)
                ok = e[i].shape[d] == (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
            if (!ok && !bad++)
                CHECKF(0, "%s: entry %zu %s, OpenCLIP %s", cfg->string, i, e[i].name,
                       cJSON_GetArrayItem(ent, 0)->valuestring);
            i++;
        }
        CHECKF(!bad, "%s: %d entries differ", cfg->string, bad);
        CHECKF(oclip_config_unsupported(&c) == NULL, "%s: %s", cfg->string,
               oclip_config_unsupported(&c));
        oc_arena_free(&a);
        checked++;
    }
    CHECKF(checked == 3, "%d configs", checked);
    cJSON_Delete(all);
}

static void test_options(oclip_model *m, const float *pixels) {
    oclip_caption_options o;
    int64_t ids[64];
    size_t n;
    oclip_error err;
    oclip_caption_options_default(&o);
    o.num_beams = 6, o.num_beam_groups = 4;
    CHECK(oclip_caption(m, pixels, &o, ids, 64, &n, &err) == OCLIP_E_ARG);
    oclip_caption_options_default(&o);
    o.seq_len = 5; /* not above min_seq_len */
    CHECK(oclip_caption(m, pixels, &o, ids, 64, &n, &err) == OCLIP_E_ARG);
    oclip_caption_options_default(&o);
    o.seq_len = 78; /* past the context */
    CHECK(oclip_caption(m, pixels, &o, ids, 128, &n, &err) == OCLIP_E_ARG);
    oclip_caption_options_default(&o);
    CHECK(oclip_caption(m, pixels, &o, ids, 10, &n, &err) == OCLIP_E_ARG); /* no room */
    /* a zeroed struct reads as the defaults: the same ids as oclip_caption_options_default */
    int64_t a[64], b[64];
    size_t na = 0, nb = 0;
    oclip_caption_options z = {0};
    CHECK(oclip_caption(m, pixels, &z, a, 64, &na, &err) == OCLIP_OK);
    CHECK(oclip_caption(m, pixels, NULL, b, 64, &nb, &err) == OCLIP_OK);
    CHECK(na == nb && na > 0 && !memcmp(a, b, na * sizeof *a));
    /* a CLIP has no decoder */
    oclip_model *clip = load("default", &err);
    CHECKF(clip != NULL, "%s", err.msg);
    if (clip) {
        CHECK(!oclip_model_can_caption(clip));
        int h, w;
        oclip_model_image_size(clip, &h, &w);
        float *px = calloc((size_t)3 * h * w, sizeof(float));
        CHECK(oclip_caption(clip, px, NULL, ids, 64, &n, &err) == OCLIP_E_UNSUPPORTED);
        free(px);
        oclip_model_free(clip);
    }
}

/* oclip convert (OpenCLIP layout, f32): the written metadata config keeps multimodal_cfg and
 * the pooler's sizes, so the converted file loads as the same CoCa and captions the same */
static void test_convert(oclip_model *m, const float *pixels) {
    oclip_convert_options co;
    oclip_convert_options_default(&co);
    char tmp[] = "/tmp/oclip_coca_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd >= 0) close(fd);
    oclip_error err;
    CHECKF(oclip_convert(m->report, tmp, &co, &err) == OCLIP_OK, "convert: %s", err.msg);
    oclip_model *mc = load(tmp, &err);
    CHECKF(mc != NULL, "converted: %s", err.msg);
    if (mc) {
        int64_t a[64], b[64];
        size_t na = 0, nb = 0;
        CHECK(oclip_caption(m, pixels, NULL, a, 64, &na, &err) == OCLIP_OK);
        CHECKF(oclip_caption(mc, pixels, NULL, b, 64, &nb, &err) == OCLIP_OK, "%s", err.msg);
        CHECK(na == nb && na > 0 && !memcmp(a, b, na * sizeof *a));
        CHECK(mc->cfg.vision.attn_pooler_queries == m->cfg.vision.attn_pooler_queries &&
              mc->cfg.vision.attn_pooler_heads == m->cfg.vision.attn_pooler_heads &&
              mc->cfg.multimodal_cfg.heads == m->cfg.multimodal_cfg.heads);
    }
    oclip_model_free(mc);
    remove(tmp);
}

/* multimodal_cfg and the pooler's sizes as OpenCLIP reads them (hand-made configs) */
static void test_config(void) {
    static const char base[] = "{\"embed_dim\": 16, \"vision_cfg\": {\"image_size\": 64, "
                               "\"patch_size\": 16, \"width\": 32, \"layers\": 1, \"head_width\": 16, "
                               "\"attentional_pool\": %s, \"attn_pooler_heads\": %s}, "
                               "\"text_cfg\": {\"width\": 16, \"heads\": 2, \"layers\": 1, "
                               "\"embed_cls\": true}, \"multimodal_cfg\": %s, "
                               "\"custom_text\": true}";
    struct {
        const char *pool, *heads, *mm;
        oclip_status st;     /* oclip_config_parse */
        const char *refused; /* oclip_config_unsupported contains it; NULL: computed */
    } cases[] = {
        {"true", "2", "{\"width\": 16, \"heads\": 2, \"layers\": 1, \"n_queries\": 9, "
                      "\"dim_head\": 3, \"mlp_ratio\": 7}", OCLIP_OK, NULL},
        {"true", "2", "{\"width\": 16, \"heads\": 3}", OCLIP_E_FORMAT, NULL},
        {"true", "2", "{\"width\": \"16\"}", OCLIP_E_FORMAT, NULL},
        {"true", "2", "[]", OCLIP_E_FORMAT, NULL},
        {"true", "0", "{\"width\": 16}", OCLIP_E_FORMAT, NULL},
        {"true", "3", "{\"width\": 16, \"heads\": 2}", OCLIP_OK, "attn_pooler_heads"},
        {"true", "2", "{\"width\": 32, \"heads\": 2}", OCLIP_OK, "multimodal width"},
        {"\"parallel\"", "2", "{\"width\": 16, \"heads\": 2}", OCLIP_OK, "parallel"},
        {"true", "2", "{\"width\": 16, \"heads\": 2, \"wat\": 1}", OCLIP_OK, "unknown keys"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[1024];
        snprintf(json, sizeof json, base, cases[i].pool, cases[i].heads, cases[i].mm);
        oclip_model_config c;
        oclip_error err;
        oclip_status st = oclip_config_parse(json, strlen(json), &c, &err);
        CHECKF(st == cases[i].st, "case %zu: status %d (%s)", i, (int)st, err.msg);
        if (st != OCLIP_OK) continue;
        CHECK(c.family == OCLIP_FAMILY_COCA);
        const char *why = oclip_config_unsupported(&c);
        if (!cases[i].refused) {
            CHECKF(!why, "case %zu: %s", i, why);
            CHECK(c.multimodal_cfg.width == 16 && c.multimodal_cfg.heads == 2 &&
                  c.multimodal_cfg.layers == 1 && c.multimodal_cfg.context_length == 77 &&
                  c.vision.attn_pooler_queries == 256 && c.vision.attn_pooler_heads == 2);
        } else {
            CHECKF(why && strstr(why, cases[i].refused), "case %zu: '%s'", i, why ? why : "");
        }
    }
}

static void test_variant(const char *variant, int attn_pool) {
    char dir[256], path[300];
    snprintf(dir, sizeof dir, FIX "/%s", variant);
    fprintf(stderr, "%s\n", variant);
    oclip_error err;
    oclip_checkpoint *ex = NULL;
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    CHECKF(oclip_checkpoint_open(path, NULL, &ex, &err) == OCLIP_OK, "%s", err.msg);
    snprintf(path, sizeof path, "%s/expected.json", dir);
    cJSON *ej = read_json(path);
    oclip_model *m = load(dir, &err);
    CHECKF(m != NULL, "%s: %s", dir, err.msg);
    if (m && ex && ej) {
        CHECK(oclip_model_config_of(m)->family == OCLIP_FAMILY_COCA && m->coca &&
              m->coca->attn_pool == attn_pool && oclip_model_can_caption(m));
        test_features(m, ex, ej);
        test_captions(m, ex, ej);
        float *pixels = expect_f32(ex, "pixels", NULL);
        if (attn_pool) test_options(m, pixels);
        test_convert(m, pixels);
        free(pixels);
    }
    oclip_model_free(m);
    oclip_checkpoint_free(ex);
    cJSON_Delete(ej);
}

int main(void) {
    test_variant("b32_tiny", 1);
    test_variant("base_tiny", 0);
    test_decode_hostile();
    test_config();
    test_keys();
    return TEST_REPORT("test_coca");
}
