/*
 * test_config.c — model configs, open_clip_config.json, the built-in configs and the pretrained
 * table (src/model/config.c).
 *
 *   1. Every built-in config against tests/fixtures/arch/configs_resolved.json, which
 *      tools/gen_fixtures.py (`arch`) wrote with OpenCLIP 3.3.0: every field oclip exposes equals
 *      dataclasses.asdict(CLIPVisionCfg(**vision_cfg)) / CLIPTextCfg / the CLIP arguments; for the
 *      configs OpenCLIP 3.3.0 cannot build, oclip lists the same unknown keys.
 *   2. Families of known configs; '/' in names; the NOT_FOUND hint.
 *   3. Every (arch, tag) of data/pretrained_tags_v3.3.0.json, read here with cJSON, through
 *      oclip_pretrained_lookup; tag normalisation; NOT_FOUND messages; concurrent first use.
 *   4. Parsing: defaults, unknown keys, legacy keys, every kind of malformed value with its key
 *      path, bounds, malformed JSON, every truncation of a valid config, open_clip_config.json.
 */
#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "oclip.h"
#include "test.h"
#include "util.h"

#define RESOLVED "tests/fixtures/arch/configs_resolved.json"
#define PRETRAINED "data/pretrained_tags_v3.3.0.json"

/* =============================================================================================
 * Helpers
 */
static cJSON *load_json(const char *path) {
    size_t n = 0;
    unsigned char *buf = read_file(path, &n);
    if (!buf) return NULL;
    cJSON *root = cJSON_ParseWithLength((const char *)buf, n);
    free(buf);
    return root;
}

static const cJSON *get(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The fixture's value of an int field (null -> `if_null`). */
static int jint(const cJSON *o, const char *k, int if_null) {
    const cJSON *v = get(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : if_null;
}
static int jbool(const cJSON *o, const char *k) { return cJSON_IsTrue(get(o, k)) ? 1 : 0; }
static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static oclip_status parse(const char *json, oclip_model_config *m, oclip_error *e) {
    return oclip_config_parse(json, strlen(json), m, e);
}

/* unknown_keys as a set: is `key` in the comma-separated list? */
static bool has_key(const char *list, const char *key) {
    size_t n = strlen(key);
    for (const char *p = list; (p = strstr(p, key)) != NULL; p++)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) return true;
    return false;
}
static size_t count_keys(const char *list) {
    if (!*list) return 0;
    size_t n = 1;
    for (const char *p = list; (p = strstr(p, ", ")) != NULL; p += 2) n++;
    return n;
}

/* Expects failure `st` with every needle (NULL-terminated) in the message. */
static void expect_err_(const char *json, oclip_status st, const char *const *needles, int line) {
    oclip_model_config m;
    oclip_error e;
    oclip_status got = parse(json, &m, &e);
    CHECKF(got == st, "line %d: status %d (%s), want %d for %s", line, got, e.msg, st, json);
    for (size_t i = 0; needles[i]; i++)
        CHECKF(strstr(e.msg, needles[i]) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
               e.msg, needles[i]);
}
#define EXPECT_ERR(json, st, ...)                                                                \
    do {                                                                                         \
        static const char *const needles_[] = {__VA_ARGS__, NULL};                               \
        expect_err_(json, st, needles_, __LINE__);                                               \
    } while (0)

/* =============================================================================================
 * 1. Built-in configs against OpenCLIP's resolved values
 */

/* OpenCLIP's custom-block rule (transformer.py) over the fixture's dataclass fields. */
static int custom_block_of(const cJSON *c) {
    const cJSON *bt = get(c, "block_type");
    if (cJSON_IsString(bt)) return strcmp(bt->valuestring, "custom") == 0;
    static const char *const flags[] = {"qk_norm", "scaled_cosine_attn", "scale_heads",
                                        "scale_attn_inner", "scale_attn", "scale_fc"};
    for (int i = 0; i < 6; i++)
        if (jbool(c, flags[i])) return 1;
    return 0;
}

static double eps_of(const cJSON *c) {
    const cJSON *nk = get(c, "norm_kwargs");
    const cJSON *eps = cJSON_IsObject(nk) ? get(nk, "eps") : NULL;
    return cJSON_IsNumber(eps) ? eps->valuedouble : 1e-5;
}

static const char *approx_of(const cJSON *c) {
    const cJSON *ak = get(c, "act_kwargs");
    const cJSON *a = cJSON_IsObject(ak) ? get(ak, "approximate") : NULL;
    return cJSON_IsString(a) && strcmp(a->valuestring, "none") != 0 ? a->valuestring : "";
}

#define EQ_INT(name, got, want)                                                                  \
    CHECKF((got) == (want), "%s: %s = %d, OpenCLIP %d", cfg, name, (int)(got), (int)(want))
#define EQ_DBL(name, got, want)                                                                  \
    CHECKF((got) == (want), "%s: %s = %.17g, OpenCLIP %.17g", cfg, name, (double)(got),          \
           (double)(want))
#define EQ_STR(name, got, want)                                                                  \
    CHECKF(strcmp((got), (want)) == 0, "%s: %s = \"%s\", OpenCLIP \"%s\"", cfg, name, (got),      \
           (want))

static void compare_vision(const char *cfg, const oclip_vision_cfg *v, const cJSON *x) {
    const cJSON *img = get(x, "image_size");
    if (cJSON_IsArray(img)) {
        EQ_INT("vision.image_size[0]", v->image_size[0], (int)cJSON_GetArrayItem(img, 0)->valuedouble);
        EQ_INT("vision.image_size[1]", v->image_size[1], (int)cJSON_GetArrayItem(img, 1)->valuedouble);
    } else {
        EQ_INT("vision.image_size[0]", v->image_size[0], (int)img->valuedouble);
        EQ_INT("vision.image_size[1]", v->image_size[1], (int)img->valuedouble);
    }
    EQ_INT("vision.patch_size", v->patch_size, jint(x, "patch_size", 0));
    EQ_INT("vision.width", v->width, jint(x, "width", -1));
    const cJSON *layers = get(x, "layers");
    if (cJSON_IsArray(layers)) {
        EQ_INT("vision.layers (ResNet)", v->layers, 0);
        CHECKF(cJSON_GetArraySize(layers) == 4, "%s: fixture layers", cfg);
        for (int i = 0; i < 4 && i < cJSON_GetArraySize(layers); i++)
            EQ_INT("vision.resnet_layers[i]", v->resnet_layers[i],
                   (int)cJSON_GetArrayItem(layers, i)->valuedouble);
    } else {
        EQ_INT("vision.layers", v->layers, (int)layers->valuedouble);
    }
    EQ_INT("vision.head_width", v->head_width, jint(x, "head_width", -1));
    EQ_DBL("vision.mlp_ratio", v->mlp_ratio, get(x, "mlp_ratio")->valuedouble);
    const cJSON *ls = get(x, "ls_init_value");
    EQ_INT("vision.has_ls", v->has_ls, cJSON_IsNumber(ls));
    if (cJSON_IsNumber(ls)) EQ_DBL("vision.ls_init_value", v->ls_init_value, ls->valuedouble);
    EQ_INT("vision.no_ln_pre", v->no_ln_pre, jbool(x, "no_ln_pre"));
    EQ_INT("vision.final_ln_after_pool", v->final_ln_after_pool, jbool(x, "final_ln_after_pool"));
    const cJSON *ap = get(x, "attentional_pool");
    EQ_INT("vision.attentional_pool", v->attentional_pool,
           cJSON_IsTrue(ap) || (cJSON_IsString(ap) && ap->valuestring[0]));
    EQ_STR("vision.pool_type", v->pool_type, jstr(x, "pool_type"));
    EQ_STR("vision.pos_embed_type", v->pos_embed_type, jstr(x, "pos_embed_type"));
    EQ_DBL("vision.ln_eps", v->ln_eps, eps_of(x));
    EQ_STR("vision.act_approximate", v->act_approximate, approx_of(x));
    EQ_STR("vision.timm_model_name", v->timm_model_name, jstr(x, "timm_model_name"));
    EQ_INT("vision.custom_block", v->custom_block, custom_block_of(x));
}

static void compare_text(const char *cfg, const oclip_text_cfg *t, const cJSON *x) {
    EQ_INT("text.context_length", t->context_length, jint(x, "context_length", -1));
    EQ_INT("text.vocab_size", t->vocab_size, jint(x, "vocab_size", -1));
    EQ_INT("text.width", t->width, jint(x, "width", -1));
    EQ_INT("text.heads", t->heads, jint(x, "heads", -1));
    EQ_INT("text.layers", t->layers, jint(x, "layers", -1));
    EQ_DBL("text.mlp_ratio", t->mlp_ratio, get(x, "mlp_ratio")->valuedouble);
    const cJSON *ls = get(x, "ls_init_value");
    EQ_INT("text.has_ls", t->has_ls, cJSON_IsNumber(ls));
    if (cJSON_IsNumber(ls)) EQ_DBL("text.ls_init_value", t->ls_init_value, ls->valuedouble);
    EQ_INT("text.embed_cls", t->embed_cls, jbool(x, "embed_cls"));
    EQ_INT("text.pad_id", t->pad_id, jint(x, "pad_id", -1));
    EQ_INT("text.eos_id", t->eos_id, jint(x, "eos_id", -1));
    EQ_INT("text.no_causal_mask", t->no_causal_mask, jbool(x, "no_causal_mask"));
    EQ_STR("text.pool_type", t->pool_type, jstr(x, "pool_type"));
    EQ_INT("text.proj_bias", t->proj_bias, jbool(x, "proj_bias"));
    EQ_STR("text.proj_type", t->proj_type, jstr(x, "proj_type"));
    EQ_DBL("text.ln_eps", t->ln_eps, eps_of(x));
    EQ_STR("text.act_approximate", t->act_approximate, approx_of(x));
    EQ_STR("text.hf_model_name", t->hf_model_name, jstr(x, "hf_model_name"));
    EQ_STR("text.hf_tokenizer_name", t->hf_tokenizer_name, jstr(x, "hf_tokenizer_name"));
    EQ_INT("text.custom_block", t->custom_block, custom_block_of(x));
}

static bool one_of(const char *s, const char *const *set) {
    for (size_t i = 0; set[i]; i++)
        if (!strcmp(s, set[i])) return true;
    return false;
}

/* The options that make native towers OTHER (src/model/config.c), judged on OpenCLIP's values. */
static bool options_other(const cJSON *vx, const cJSON *tx) {
    static const char *const vpools[] = {"tok", "avg", NULL};
    static const char *const pos[] = {"learnable", "sin_cos_2d", NULL};
    static const char *const tpools[] = {"first", "last", "argmax", "eos", NULL};
    static const char *const projs[] = {"linear", "none", NULL};
    const cJSON *ap = get(vx, "attentional_pool");
    bool vision = cJSON_IsTrue(ap) || (cJSON_IsString(ap) && ap->valuestring[0]) ||
                  custom_block_of(vx) || !one_of(jstr(vx, "pool_type"), vpools) ||
                  !one_of(jstr(vx, "pos_embed_type"), pos);
    bool text = jbool(tx, "embed_cls") || custom_block_of(tx) ||
                !one_of(jstr(tx, "pool_type"), tpools) || !one_of(jstr(tx, "proj_type"), projs);
    return vision || text;
}

static void test_builtins_vs_openclip(void) {
    cJSON *root = load_json(RESOLVED);
    CHECKF(root != NULL, "cannot read %s (written by tools/gen_fixtures.py arch)", RESOLVED);
    if (!root) return;
    const cJSON *configs = get(root, "configs");
    CHECK(cJSON_IsObject(configs));
    size_t n = 0, resolved = 0, unresolved = 0;
    for (const cJSON *x = configs ? configs->child : NULL; x; x = x->next, n++) {
        const char *cfg = x->string;
        oclip_model_config m;
        oclip_error e;
        oclip_status st = oclip_config_builtin(cfg, &m, &e);
        CHECKF(st == OCLIP_OK, "%s: %s", cfg, e.msg);
        if (st != OCLIP_OK) continue;
        EQ_STR("name", m.name, cfg);
        if (get(x, "error")) {
            /* OpenCLIP 3.3.0 cannot build it: oclip must name the same unknown keys. */
            unresolved++;
            const cJSON *uk = get(x, "unknown_keys");
            size_t k = 0;
            for (const cJSON *u = uk ? uk->child : NULL; u; u = u->next, k++)
                CHECKF(has_key(m.unknown_keys, u->valuestring), "%s: unknown key %s not listed (%s)",
                       cfg, u->valuestring, m.unknown_keys);
            CHECKF(count_keys(m.unknown_keys) == k, "%s: unknown_keys \"%s\", OpenCLIP %zu keys",
                   cfg, m.unknown_keys, k);
            CHECKF(m.family != OCLIP_FAMILY_NATIVE, "%s: family native", cfg);
            continue;
        }
        resolved++;
        CHECKF(m.unknown_keys[0] == '\0', "%s: unknown_keys \"%s\" but OpenCLIP took every key",
               cfg, m.unknown_keys);
        EQ_INT("embed_dim", m.embed_dim, jint(x, "embed_dim", -1));
        EQ_INT("quick_gelu", m.quick_gelu, jbool(x, "quick_gelu"));
        const cJSON *lb = get(x, "init_logit_bias");
        EQ_INT("has_logit_bias", m.has_logit_bias, cJSON_IsNumber(lb));
        if (cJSON_IsNumber(lb)) EQ_DBL("init_logit_bias", m.init_logit_bias, lb->valuedouble);
        EQ_INT("nonscalar_logit_scale", m.nonscalar_logit_scale, jbool(x, "nonscalar_logit_scale"));
        EQ_INT("custom_text", m.custom_text, jbool(x, "custom_text"));
        EQ_INT("multimodal", m.multimodal, jbool(x, "multimodal"));
        compare_vision(cfg, &m.vision, get(x, "vision"));
        compare_text(cfg, &m.text, get(x, "text"));

        /* The family agrees with the model class and towers OpenCLIP builds. */
        const char *cls = jstr(x, "model_class");
        const cJSON *vx = get(x, "vision"), *tx = get(x, "text");
        oclip_family want;
        if (!strcmp(cls, "CoCa")) want = OCLIP_FAMILY_COCA;
        else if (cJSON_IsString(get(vx, "timm_model_name"))) want = OCLIP_FAMILY_TIMM;
        else if (cJSON_IsArray(get(vx, "layers"))) want = OCLIP_FAMILY_RESNET;
        else if (cJSON_IsString(get(tx, "hf_model_name"))) want = OCLIP_FAMILY_HF_TEXT;
        else if (options_other(vx, tx)) want = OCLIP_FAMILY_OTHER;
        else if (!strcmp(cls, "CustomTextCLIP")) want = OCLIP_FAMILY_CUSTOM_TEXT;
        else want = OCLIP_FAMILY_NATIVE;
        CHECKF(m.family == want, "%s: family %s, expected %s", cfg, oclip_family_name(m.family),
               oclip_family_name(want));
    }
    CHECKF(n == oclip_config_builtin_count(), "fixture has %zu configs, oclip %zu", n,
           oclip_config_builtin_count());
    /* and every built-in name is in the fixture */
    for (size_t i = 0; i < oclip_config_builtin_count(); i++)
        CHECKF(get(configs, oclip_config_builtin_name(i)) != NULL, "%s not in the fixture",
               oclip_config_builtin_name(i));
    fprintf(stderr, "built-ins: %zu configs, %zu resolved by OpenCLIP 3.3.0, %zu not\n", n,
            resolved, unresolved);
    cJSON_Delete(root);
}

/* =============================================================================================
 * 2. Families, names, lookup errors
 */
static const char *const native_vits[] = {
    "ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-32-256", "ViT-B-32-plus-256", "ViT-B-16",
    "ViT-B-16-quickgelu", "ViT-B-16-plus", "ViT-B-16-plus-240", "ViT-L-14", "ViT-L-14-quickgelu",
    "ViT-L-14-280", "ViT-L-14-336", "ViT-L-14-336-quickgelu", "ViT-L-16", "ViT-L-16-320",
    "ViT-H-14", "ViT-H-14-quickgelu", "ViT-H-14-378", "ViT-H-14-378-quickgelu", "ViT-H-16",
    "ViT-g-14", "ViT-bigG-14", "ViT-bigG-14-quickgelu", "ViT-e-14", "ViT-M-16", "ViT-M-16-alt",
    "ViT-M-32", "ViT-M-32-alt", "ViT-S-16", "ViT-S-16-alt", "ViT-S-32", "ViT-S-32-alt", NULL};

static void expect_family(const char *name, oclip_family f) {
    oclip_model_config m;
    oclip_error e;
    oclip_status st = oclip_config_builtin(name, &m, &e);
    CHECKF(st == OCLIP_OK, "%s: %s", name, e.msg);
    CHECKF(st != OCLIP_OK || m.family == f, "%s: family %s, want %s", name,
           oclip_family_name(m.family), oclip_family_name(f));
}

static void test_families(void) {
    size_t k = 0;
    for (; native_vits[k]; k++) {
        expect_family(native_vits[k], OCLIP_FAMILY_NATIVE);
        oclip_model_config m;
        if (oclip_config_builtin(native_vits[k], &m, NULL) == OCLIP_OK) {
            CHECKF(m.text.hf_tokenizer_name[0] == '\0', "%s: tokenizer", native_vits[k]);
            CHECKF(m.text.context_length == 77 && m.text.vocab_size == 49408, "%s", native_vits[k]);
        }
    }
    CHECK(k == 32);
    expect_family("RN50", OCLIP_FAMILY_RESNET);
    expect_family("RN50x64-quickgelu", OCLIP_FAMILY_RESNET);
    expect_family("convnext_base", OCLIP_FAMILY_TIMM);
    expect_family("ViT-SO400M-14-SigLIP", OCLIP_FAMILY_TIMM);
    expect_family("EVA02-L-14", OCLIP_FAMILY_TIMM);
    expect_family("xlm-roberta-base-ViT-B-32", OCLIP_FAMILY_HF_TEXT);
    expect_family("coca_ViT-B-32", OCLIP_FAMILY_COCA);
    expect_family("coca_roberta-ViT-B-32", OCLIP_FAMILY_COCA); /* CoCa wins over the HF text */
    expect_family("CLAP-HTSAT-base", OCLIP_FAMILY_OTHER);     /* no vision tower */
    expect_family("moderntext-ViT-B-32-256", OCLIP_FAMILY_OTHER);

    /* details of a few */
    oclip_model_config m;
    CHECK(oclip_config_builtin("RN50", &m, NULL) == OCLIP_OK);
    CHECK(m.vision.layers == 0 && m.vision.resnet_layers[0] == 3 && m.vision.resnet_layers[2] == 6);
    CHECK(m.vision.patch_size == 0); /* null in the config */
    CHECK(oclip_config_builtin("ViT-M-16-alt", &m, NULL) == OCLIP_OK);
    CHECK(m.vision.has_ls && m.vision.ls_init_value == 1e-4);
    CHECK(oclip_config_builtin("ViT-bigG-14", &m, NULL) == OCLIP_OK);
    CHECK((int)(m.vision.width * m.vision.mlp_ratio) == 8192); /* int(width * mlp_ratio) truncates, as open_clip transformer.py VisionTransformer */
    CHECK(oclip_config_builtin("ViT-B-16-SigLIP", &m, NULL) == OCLIP_OK);
    CHECK(m.has_logit_bias && m.init_logit_bias == -10 && m.custom_text);
    CHECK(m.text.ln_eps == 1e-6 && m.text.no_causal_mask && m.text.proj_bias);
    CHECK(strcmp(m.text.pool_type, "last") == 0);

    /* names */
    CHECK(oclip_config_builtin_count() == 181);
    CHECK(oclip_config_builtin_name(181) == NULL);
    for (size_t i = 1; i < oclip_config_builtin_count(); i++)
        CHECK(strcmp(oclip_config_builtin_name(i - 1), oclip_config_builtin_name(i)) < 0);
    oclip_error e;
    CHECK(oclip_config_builtin("ViT-B/32", &m, &e) == OCLIP_OK);
    CHECK(strcmp(m.name, "ViT-B-32") == 0 && m.vision.patch_size == 32);
    CHECK(e.code == OCLIP_OK && e.msg[0] == '\0');
    CHECK(oclip_config_builtin("ViT-L/14-336", &m, NULL) == OCLIP_OK);
    CHECK(m.vision.image_size[0] == 336);

    /* NOT_FOUND with the closest names */
    CHECK(oclip_config_builtin("ViT-B-33", &m, &e) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(e.msg, "'ViT-B-33'") && strstr(e.msg, "\nhint: did you mean ViT-B-32"), "%s",
           e.msg);
    CHECK(oclip_config_builtin("vit-l-14", &m, &e) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(e.msg, "did you mean ViT-L-14,") != NULL, "%s", e.msg);
    CHECK(oclip_config_builtin("ViT-B-32:openai", &m, &e) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(e.msg, "the architecture is 'ViT-B-32'") != NULL, "%s", e.msg);
    CHECK(oclip_config_builtin("", &m, &e) == OCLIP_E_NOTFOUND);
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(oclip_config_builtin(longname, &m, &e) == OCLIP_E_NOTFOUND);
    CHECK(oclip_config_builtin(NULL, &m, &e) == OCLIP_E_ARG);
    CHECK(oclip_config_builtin("ViT-B-32", NULL, NULL) == OCLIP_E_ARG);

    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_NATIVE), "native") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_RESNET), "ModifiedResNet") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_TIMM), "timm") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_HF_TEXT), "hf-text") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_CUSTOM_TEXT), "custom-text") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_COCA), "CoCa") == 0);
    CHECK(strcmp(oclip_family_name(OCLIP_FAMILY_OTHER), "other") == 0);
}

/* =============================================================================================
 * 3. Pretrained tags
 */
static bool triple_eq(const double got[3], const cJSON *want) {
    if (!cJSON_IsArray(want) || cJSON_GetArraySize(want) != 3) return false;
    for (int i = 0; i < 3; i++)
        if (got[i] != cJSON_GetArrayItem(want, i)->valuedouble) return false;
    return true;
}

static void test_pretrained_table(void) {
    cJSON *root = load_json(PRETRAINED);
    CHECKF(root != NULL, "cannot read %s", PRETRAINED);
    if (!root) return;
    size_t i = 0;
    for (const cJSON *a = root->child; a; a = a->next) {
        for (const cJSON *t = a->child; t; t = t->next, i++) {
            const char *arch = a->string, *tag = t->string;
            oclip_pretrained p;
            oclip_error e;
            oclip_status st = oclip_pretrained_lookup(arch, tag, &p, &e);
            CHECKF(st == OCLIP_OK, "%s:%s: %s", arch, tag, e.msg);
            if (st != OCLIP_OK) continue;
            CHECKF(!strcmp(p.arch, arch) && !strcmp(p.tag, tag), "%s:%s names", arch, tag);
            CHECKF(!strcmp(p.hf_hub, jstr(t, "hf_hub")), "%s:%s hf_hub %s", arch, tag, p.hf_hub);
            CHECKF(!strcmp(p.url, jstr(t, "url")), "%s:%s url %s", arch, tag, p.url);
            CHECKF(triple_eq(p.preprocess.mean, get(t, "mean")), "%s:%s mean", arch, tag);
            CHECKF(triple_eq(p.preprocess.std, get(t, "std")), "%s:%s std", arch, tag);
            CHECKF(!strcmp(p.preprocess.interpolation, jstr(t, "interpolation")),
                   "%s:%s interpolation %s", arch, tag, p.preprocess.interpolation);
            CHECKF(!strcmp(p.preprocess.resize_mode, jstr(t, "resize_mode")),
                   "%s:%s resize_mode %s", arch, tag, p.preprocess.resize_mode);
            const cJSON *qg = get(t, "quick_gelu");
            oclip_quick_gelu want_qg = !qg                ? OCLIP_QUICK_GELU_UNSET
                                       : cJSON_IsTrue(qg) ? OCLIP_QUICK_GELU_ON
                                                          : OCLIP_QUICK_GELU_OFF;
            CHECKF(p.quick_gelu == want_qg, "%s:%s quick_gelu %d, want %d", arch, tag,
                   (int)p.quick_gelu, (int)want_qg);
            CHECK(p.preprocess.fill_color == 0);
            /* the size is the architecture's image_size */
            oclip_model_config m;
            if (oclip_config_builtin(arch, &m, NULL) == OCLIP_OK)
                CHECKF(p.preprocess.size[0] == m.vision.image_size[0] &&
                       p.preprocess.size[1] == m.vision.image_size[1], "%s:%s size", arch, tag);
            /* table order */
            const char *pa = NULL, *pt = NULL;
            CHECK(oclip_pretrained_at(i, &pa, &pt) == 1);
            CHECKF(pa && pt && !strcmp(pa, arch) && !strcmp(pt, tag), "entry %zu is %s:%s", i,
                   pa ? pa : "?", pt ? pt : "?");
        }
    }
    CHECKF(oclip_pretrained_count() == i, "count %zu, table %zu", oclip_pretrained_count(), i);
    CHECK(i == 196);
    const char *pa = "x";
    CHECK(oclip_pretrained_at(i, &pa, NULL) == 0 && strcmp(pa, "x") == 0);
    fprintf(stderr, "pretrained: %zu (arch, tag) pairs checked\n", i);
    cJSON_Delete(root);
}

static void test_pretrained_lookup(void) {
    oclip_pretrained p;
    oclip_error e;
    /* OpenCLIP's _clean_tag: lowercase, '-' -> '_'; '/' in the architecture as '-' */
    CHECK(oclip_pretrained_lookup("ViT-B-32", "LAION2B-S34B-B79K", &p, &e) == OCLIP_OK);
    CHECK(!strcmp(p.tag, "laion2b_s34b_b79k") && !strcmp(p.hf_hub,
                                                          "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"));
    CHECK(p.quick_gelu == OCLIP_QUICK_GELU_UNSET && p.preprocess.size[0] == 224 &&
          p.preprocess.size[1] == 224);
    CHECK(e.code == OCLIP_OK && e.msg[0] == '\0');
    CHECK(oclip_pretrained_lookup("ViT-B/32", "openai", &p, &e) == OCLIP_OK);
    CHECK(p.quick_gelu == OCLIP_QUICK_GELU_ON && !strcmp(p.arch, "ViT-B-32"));
    CHECK(oclip_pretrained_lookup("ViT-L-14-336", "openai", &p, &e) == OCLIP_OK);
    CHECK(p.preprocess.size[0] == 336);
    CHECK(oclip_pretrained_lookup("ViT-H-14", "dfn5b", &p, &e) == OCLIP_OK);
    CHECK(!strcmp(p.preprocess.resize_mode, "squash"));

    /* unknown tag: the closest one, then the valid ones */
    CHECK(oclip_pretrained_lookup("ViT-B-32", "laion5b", &p, &e) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(e.msg, "no pretrained tag 'laion5b'") &&
               strstr(e.msg, "hint: did you mean ViT-B-32:laion2b_e16? valid tags for ViT-B-32") &&
               strstr(e.msg, "laion2b_s34b_b79k") && strstr(e.msg, "metaclip_fullcc"),
           "%s", e.msg);
    /* a built-in architecture without tags */
    const char *bare = NULL;
    for (size_t i = 0; i < oclip_config_builtin_count() && !bare; i++) {
        const char *n = oclip_config_builtin_name(i);
        if (oclip_pretrained_lookup(n, "x", &p, &e) == OCLIP_E_NOTFOUND &&
            strstr(e.msg, "has no pretrained weights"))
            bare = n;
    }
    CHECKF(bare != NULL, "no built-in architecture without tags found");
    /* unknown architecture: suggestions */
    CHECK(oclip_pretrained_lookup("ViT-B-31", "openai", &p, &e) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(e.msg, "no architecture 'ViT-B-31'") && strstr(e.msg, "did you mean ViT-B-32"),
           "%s", e.msg);
    CHECK(oclip_pretrained_lookup(NULL, "x", &p, &e) == OCLIP_E_ARG);
    CHECK(oclip_pretrained_lookup("ViT-B-32", NULL, &p, &e) == OCLIP_E_ARG);
    CHECK(oclip_pretrained_lookup("ViT-B-32", "openai", NULL, &e) == OCLIP_E_ARG);
    CHECK(oclip_pretrained_lookup("ViT-B-32", "openai", &p, NULL) == OCLIP_OK);
    CHECK(oclip_pretrained_lookup("ViT-B-32", "nope", &p, NULL) == OCLIP_E_NOTFOUND);

    oclip_preprocess_cfg d;
    oclip_preprocess_cfg_default(&d);
    CHECK(d.size[0] == 224 && d.size[1] == 224 && d.fill_color == 0);
    CHECK(d.mean[0] == 0.48145466 && d.std[2] == 0.27577711);
    CHECK(!strcmp(d.interpolation, "bicubic") && !strcmp(d.resize_mode, "shortest"));
    oclip_preprocess_cfg_default(NULL);
}

/* The table is built on first use; several threads racing to be first must all see it whole. */
static void *lookup_thread(void *arg) {
    int *ok = arg;
    oclip_pretrained p;
    *ok = oclip_pretrained_count() == 196 &&
          oclip_pretrained_lookup("ViT-L-14", "laion2b_s32b_b82k", &p, NULL) == OCLIP_OK &&
          p.preprocess.mean[0] == 0.5;
    oclip_model_config m;
    for (int i = 0; i < 20 && *ok; i++)
        *ok = oclip_config_builtin("ViT-B-16", &m, NULL) == OCLIP_OK && m.vision.patch_size == 16;
    return NULL;
}

static void test_threads(void) {
    pthread_t th[8];
    int ok[8] = {0};
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&th[i], NULL, lookup_thread, &ok[i]) == 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK(ok[i] == 1);
    }
}

/* =============================================================================================
 * 4. Parsing
 */
static void test_defaults(void) {
    oclip_model_config m;
    oclip_error e;
    CHECK(parse("{\"embed_dim\": 512, \"vision_cfg\": {}, \"text_cfg\": {}}", &m, &e) == OCLIP_OK);
    CHECK(e.code == OCLIP_OK && e.msg[0] == '\0');
    CHECK(m.name[0] == '\0' && m.embed_dim == 512 && m.family == OCLIP_FAMILY_NATIVE);
    CHECK(m.quick_gelu == 0 && m.has_logit_bias == 0 && m.nonscalar_logit_scale == 0);
    CHECK(m.custom_text == 0 && m.multimodal == 0 && m.unknown_keys[0] == '\0');
    const oclip_vision_cfg *v = &m.vision;
    CHECK(v->image_size[0] == 224 && v->image_size[1] == 224 && v->patch_size == 16);
    CHECK(v->width == 768 && v->layers == 12 && v->head_width == 64 && v->mlp_ratio == 4.0);
    CHECK(!v->has_ls && !v->no_ln_pre && !v->final_ln_after_pool && !v->attentional_pool);
    CHECK(!strcmp(v->pool_type, "tok") && !strcmp(v->pos_embed_type, "learnable"));
    CHECK(v->ln_eps == 1e-5 && !v->act_approximate[0] && !v->timm_model_name[0]);
    CHECK(!v->custom_block);
    const oclip_text_cfg *t = &m.text;
    CHECK(t->context_length == 77 && t->vocab_size == 49408 && t->width == 512);
    CHECK(t->heads == 8 && t->layers == 12 && t->mlp_ratio == 4.0 && !t->has_ls);
    CHECK(!t->embed_cls && t->pad_id == 0 && t->eos_id == 2 && !t->no_causal_mask);
    CHECK(!strcmp(t->pool_type, "argmax") && !t->proj_bias && !strcmp(t->proj_type, "linear"));
    CHECK(t->ln_eps == 1e-5 && !t->act_approximate[0] && !t->hf_model_name[0]);
    CHECK(!t->hf_tokenizer_name[0] && !t->custom_block);

    /* every option oclip reads */
    const char *full =
        "{\"embed_dim\": 64, \"quick_gelu\": true, \"init_logit_scale\": 2.5,"
        " \"init_logit_bias\": -10, \"nonscalar_logit_scale\": true, \"output_dict\": true,"
        " \"vision_cfg\": {\"image_size\": [96, 128], \"patch_size\": 8, \"width\": 128,"
        "  \"layers\": 3, \"head_width\": 32, \"mlp_ratio\": 2.5, \"ls_init_value\": 0.0,"
        "  \"no_ln_pre\": true, \"final_ln_after_pool\": true, \"pool_type\": \"avg\","
        "  \"pos_embed_type\": \"sin_cos_2d\", \"norm_kwargs\": {\"eps\": 1e-6},"
        "  \"act_kwargs\": {\"approximate\": \"tanh\"}, \"patch_dropout\": 0.5,"
        "  \"output_tokens\": false, \"block_type\": \"default\", \"qk_norm\": true},"
        " \"text_cfg\": {\"context_length\": 16, \"vocab_size\": 1000, \"width\": 96, \"heads\": 3,"
        "  \"layers\": 2, \"mlp_ratio\": 3.0, \"ls_init_value\": 1e-5, \"pad_id\": 1,"
        "  \"eos_id\": 999, \"no_causal_mask\": true, \"pool_type\": \"eos\", \"proj_bias\": true,"
        "  \"proj_type\": \"none\", \"norm_kwargs\": null, \"act_kwargs\": {\"approximate\": \"none\"},"
        "  \"hf_tokenizer_name\": \"bert-base-uncased\","
        "  \"tokenizer_kwargs\": {\"clean\": \"canonicalize\", \"strip_sep_token\": true},"
        "  \"final_ln_after_pool\": true}}";
    CHECK(parse(full, &m, &e) == OCLIP_OK);
    CHECKF(m.family == OCLIP_FAMILY_NATIVE, "family %s", oclip_family_name(m.family));
    CHECK(m.quick_gelu && m.has_logit_bias && m.init_logit_bias == -10 && m.nonscalar_logit_scale);
    CHECK(v->image_size[0] == 96 && v->image_size[1] == 128 && v->patch_size == 8);
    CHECK(v->width == 128 && v->layers == 3 && v->head_width == 32 && v->mlp_ratio == 2.5);
    CHECK(v->has_ls && v->ls_init_value == 0.0 && v->no_ln_pre && v->final_ln_after_pool);
    CHECK(!strcmp(v->pool_type, "avg") && !strcmp(v->pos_embed_type, "sin_cos_2d"));
    CHECK(v->ln_eps == 1e-6 && !strcmp(v->act_approximate, "tanh"));
    CHECK(!v->custom_block); /* block_type "default" wins over qk_norm, as in OpenCLIP */
    CHECK(t->context_length == 16 && t->vocab_size == 1000 && t->width == 96 && t->heads == 3);
    CHECK(t->layers == 2 && t->mlp_ratio == 3.0 && t->has_ls && t->ls_init_value == 1e-5);
    CHECK(t->pad_id == 1 && t->eos_id == 999 && t->no_causal_mask && !strcmp(t->pool_type, "eos"));
    CHECK(t->proj_bias && !strcmp(t->proj_type, "none") && t->ln_eps == 1e-5);
    CHECK(!t->act_approximate[0] && !strcmp(t->hf_tokenizer_name, "bert-base-uncased"));
    CHECK(t->tokenizer_clean == OCLIP_CLEAN_CANONICALIZE && t->strip_sep_token);
    CHECK(m.unknown_keys[0] == '\0');

    /* families from options */
    struct {
        const char *json;
        oclip_family f;
    } fam[] = {
        {"{\"embed_dim\":8,\"vision_cfg\":{\"attentional_pool\":true},\"text_cfg\":{}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"qk_norm\":true},\"text_cfg\":{}}", OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"block_type\":\"custom\"},\"text_cfg\":{}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"pool_type\":\"none\"},\"text_cfg\":{}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"pool_type\":\"map\"},\"text_cfg\":{}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"pos_embed_type\":\"rope\"},\"text_cfg\":{}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"embed_cls\":true}}", OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"scale_fc\":true}}", OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"proj_type\":\"mlp\"}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"pool_type\":\"none\"}}",
         OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{},\"custom_text\":true}",
         OCLIP_FAMILY_CUSTOM_TEXT},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"hf_model_name\":null}}",
         OCLIP_FAMILY_CUSTOM_TEXT}, /* OpenCLIP tests the key's presence */
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"hf_model_name\":\"roberta-base\"}}",
         OCLIP_FAMILY_HF_TEXT},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"timm_model_name\":\"\"},\"text_cfg\":{}}",
         OCLIP_FAMILY_NATIVE}, /* "" is falsy in Python */
        {"{\"embed_dim\":8,\"vision_cfg\":{\"timm_model_name\":\"convnext_base\",\"layers\":[1,2,3,4]},"
         "\"text_cfg\":{}}", OCLIP_FAMILY_TIMM},
        {"{\"embed_dim\":8,\"vision_cfg\":{\"layers\":[1,2,3,4],\"patch_size\":null},"
         "\"text_cfg\":{\"hf_model_name\":\"x\"}}", OCLIP_FAMILY_RESNET},
        {"{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{},\"multimodal_cfg\":{}}",
         OCLIP_FAMILY_COCA},
        {"{\"embed_dim\":8,\"text_cfg\":{}}", OCLIP_FAMILY_OTHER},
        {"{\"embed_dim\":8,\"vision_cfg\":{}}", OCLIP_FAMILY_OTHER},
    };
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        oclip_status st = parse(fam[i].json, &m, &e);
        CHECKF(st == OCLIP_OK, "%s: %s", fam[i].json, e.msg);
        CHECKF(st != OCLIP_OK || m.family == fam[i].f, "%s: family %s, want %s", fam[i].json,
               oclip_family_name(m.family), oclip_family_name(fam[i].f));
    }
    CHECK(parse(fam[11].json, &m, &e) == OCLIP_OK && m.custom_text == 1);
    CHECK(parse(fam[16].json, &m, &e) == OCLIP_OK && m.multimodal == 1);
}

static void test_unknown_keys(void) {
    oclip_model_config m;
    oclip_error e;
    /* legacy flags at their inert value: listed, family stays native */
    CHECK(parse("{\"embed_dim\":8,\"vision_cfg\":{\"global_average_pool\":false,"
                "\"input_patchnorm\":false},\"text_cfg\":{\"variable_text\":false}}",
                &m, &e) == OCLIP_OK);
    CHECKF(!strcmp(m.unknown_keys, "vision_cfg.global_average_pool, vision_cfg.input_patchnorm, "
                                   "text_cfg.variable_text"), "%s", m.unknown_keys);
    CHECK(m.family == OCLIP_FAMILY_NATIVE);
    /* the same flags set: family OTHER */
    CHECK(parse("{\"embed_dim\":8,\"vision_cfg\":{\"global_average_pool\":true},\"text_cfg\":{}}",
                &m, &e) == OCLIP_OK);
    CHECK(m.family == OCLIP_FAMILY_OTHER && has_key(m.unknown_keys, "vision_cfg.global_average_pool"));
    /* anything else unknown, at every level, whatever its type */
    CHECK(parse("{\"embed_dim\":8,\"foo\":[1],\"vision_cfg\":{\"image_seq_len\":\"x\","
                "\"norm_kwargs\":{\"eps\":1e-6,\"elementwise_affine\":false}},"
                "\"text_cfg\":{\"text_arch\":\"modern\",\"act_kwargs\":{\"inplace\":true}},"
                "\"cast_dtype\":null}", &m, &e) == OCLIP_OK);
    /* top-level keys first, then vision_cfg, then text_cfg (the order OpenCLIP reports them) */
    CHECKF(!strcmp(m.unknown_keys, "foo, cast_dtype, vision_cfg.image_seq_len, "
                                   "vision_cfg.norm_kwargs.elementwise_affine, text_cfg.text_arch, "
                                   "text_cfg.act_kwargs.inplace"), "%s", m.unknown_keys);
    CHECK(m.family == OCLIP_FAMILY_OTHER && m.vision.ln_eps == 1e-6);
    /* listed once even when repeated */
    CHECK(parse("{\"embed_dim\":8,\"zz\":1,\"zz\":2,\"vision_cfg\":{},\"text_cfg\":{}}", &m, &e) ==
          OCLIP_OK);
    CHECK(!strcmp(m.unknown_keys, "zz"));
    /* a key that is a prefix of another is still told apart */
    CHECK(parse("{\"embed_dim\":8,\"ab\":1,\"a\":2,\"vision_cfg\":{},\"text_cfg\":{}}", &m, &e) ==
          OCLIP_OK);
    CHECK(!strcmp(m.unknown_keys, "ab, a"));
    /* too many to list: the list ends with "..." and stays within its buffer */
    char big[8192];
    size_t len = (size_t)snprintf(big, sizeof big, "{\"embed_dim\":8");
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(big + len, sizeof big - len, ",\"unknown_key_%03d\":0", i);
    snprintf(big + len, sizeof big - len, "}");
    CHECK(parse(big, &m, &e) == OCLIP_OK);
    size_t ul = strlen(m.unknown_keys);
    CHECKF(ul < sizeof m.unknown_keys && ul > 400 && !strcmp(m.unknown_keys + ul - 3, "..."), "%s",
           m.unknown_keys);
    CHECK(has_key(m.unknown_keys, "unknown_key_000"));
    /* duplicate known keys: the last wins (Python's json) */
    CHECK(parse("{\"embed_dim\":8,\"embed_dim\":16,\"vision_cfg\":{\"layers\":[1,2,3,4],"
                "\"layers\":6,\"patch_size\":null,\"patch_size\":14},\"text_cfg\":{}}",
                &m, &e) == OCLIP_OK);
    CHECK(m.embed_dim == 16 && m.vision.layers == 6 && m.vision.resnet_layers[0] == 0);
    CHECK(m.vision.patch_size == 14 && m.family == OCLIP_FAMILY_NATIVE);
    /* eos_id null (OpenCLIP main's default) is "unset" */
    CHECK(parse("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"eos_id\":null}}", &m, &e) ==
          OCLIP_OK);
    CHECK(m.text.eos_id == -1);
    /* optional values given as null */
    CHECK(parse("{\"embed_dim\":8,\"init_logit_bias\":null,\"vision_cfg\":{\"ls_init_value\":null,"
                "\"timm_model_name\":null,\"act_kwargs\":null,\"timm_drop_path\":null,"
                "\"timm_proj\":null,\"block_type\":null},\"text_cfg\":{\"hf_tokenizer_name\":null,"
                "\"tokenizer_kwargs\":null,\"norm_kwargs\":{}}}", &m, &e) == OCLIP_OK);
    CHECK(!m.has_logit_bias && !m.vision.has_ls && m.family == OCLIP_FAMILY_NATIVE);
}

static void test_bad_values(void) {
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":\"x\"},\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.width: expected a positive integer, got \"x\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":-768},\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.width: expected a positive integer no larger than 65536, got -768");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":100000},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.width", "65536", "100000");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":7.5},\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.width: expected a positive integer, got 7.5");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":1e400},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.width");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":null},\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.width: expected a positive integer, got null");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"layers\":2000},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.layers");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"layers\":[3,4,6]},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.layers: expected a positive integer (ViT) or a list of "
                               "4 (ModifiedResNet), got an array");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"layers\":[3,4,\"6\",3]},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.layers[2]: expected a positive integer, got \"6\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"image_size\":20000},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.image_size", "16384");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"image_size\":[224]},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.image_size: expected a positive integer or a list "
                               "[height, width], got an array");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"image_size\":[224,0]},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.image_size[1]");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"image_size\":16,\"patch_size\":32},"
               "\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.patch_size: 32 is larger than the image (16x16)");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"patch_size\":null},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.patch_size: a ViT needs a patch size");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"head_width\":1000},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.head_width: 1000");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"mlp_ratio\":0},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.mlp_ratio: expected a positive number");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"mlp_ratio\":1e-9},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.mlp_ratio", "empty MLP");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"no_ln_pre\":1},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.no_ln_pre: expected true or false, got 1");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"pool_type\":7},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.pool_type: expected one of \"tok\", \"avg\", \"none\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"pool_type\":\"a-pool-type-name-too-long\"},"
               "\"text_cfg\":{}}", OCLIP_E_FORMAT, "vision_cfg.pool_type");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"norm_kwargs\":{\"eps\":-1}},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.norm_kwargs.eps: expected a positive number");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"norm_kwargs\":[1]},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.norm_kwargs: expected an object or null, got an array");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"act_kwargs\":{\"approximate\":\"erf\"}},"
               "\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.act_kwargs.approximate: expected one of \"none\", \"tanh\", got \"erf\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"timm_model_name\":5},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.timm_model_name: expected a string or null, got 5");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"timm_model_name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxx"
               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"
               "\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg.timm_model_name: expected a string of at most 95 bytes, got \"xxx",
               "...\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"attentional_pool\":1},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.attentional_pool");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"ls_init_value\":\"1e-5\"},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "vision_cfg.ls_init_value: expected a number or null, got \"1e-5\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"heads\":0}}", OCLIP_E_FORMAT,
               "text_cfg.heads: expected a positive integer no larger than 65536, got 0");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"heads\":7}}", OCLIP_E_FORMAT,
               "text_cfg.heads: width 512 is not divisible into 7 heads");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"vocab_size\":99999999}}",
               OCLIP_E_FORMAT, "text_cfg.vocab_size");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"context_length\":-1}}",
               OCLIP_E_FORMAT, "text_cfg.context_length");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"pad_id\":-1}}", OCLIP_E_FORMAT,
               "text_cfg.pad_id: expected an integer from 0 to");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"pool_type\":\"eos\","
               "\"eos_id\":null}}", OCLIP_E_FORMAT, "text_cfg.eos_id");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"pool_type\":\"eos\","
               "\"vocab_size\":10,\"eos_id\":10}}", OCLIP_E_FORMAT, "text_cfg.eos_id");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"proj_type\":null}}",
               OCLIP_E_FORMAT, "text_cfg.proj_type: expected a string, got null");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"hf_model_name\":[]}}",
               OCLIP_E_FORMAT, "text_cfg.hf_model_name");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"tokenizer_kwargs\":\"x\"}}",
               OCLIP_E_FORMAT, "text_cfg.tokenizer_kwargs");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{\"qk_norm\":\"yes\"}}",
               OCLIP_E_FORMAT, "text_cfg.qk_norm: expected true or false, got \"yes\"");
    EXPECT_ERR("{\"embed_dim\":\"512\",\"vision_cfg\":{},\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "embed_dim: expected a positive integer, got \"512\"");
    EXPECT_ERR("{\"vision_cfg\":{},\"text_cfg\":{}}", OCLIP_E_FORMAT, "embed_dim: missing");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":null,\"text_cfg\":{}}", OCLIP_E_FORMAT,
               "vision_cfg: expected an object, got null");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":[]}", OCLIP_E_FORMAT,
               "text_cfg: expected an object, got an array");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{},\"quick_gelu\":\"true\"}",
               OCLIP_E_FORMAT, "quick_gelu: expected true or false, got \"true\"");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{},\"init_logit_bias\":\"-10\"}",
               OCLIP_E_FORMAT, "init_logit_bias: expected a number or null");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{},\"multimodal_cfg\":true}",
               OCLIP_E_FORMAT, "multimodal_cfg: expected an object, got true");
    /* string values in messages are escaped */
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"width\":\"a\\\"b\\n\"},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "got \"a\\\"b\\x0a\"");

    /* malformed JSON */
    EXPECT_ERR("", OCLIP_E_FORMAT, "model config is empty");
    EXPECT_ERR("{\"embed_dim\": 8,\n \"vision_cfg\": {,}}", OCLIP_E_FORMAT,
               "model config is not valid JSON (error near line 2");
    EXPECT_ERR("[1, 2]", OCLIP_E_FORMAT, "model config is not a JSON object");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{}} x", OCLIP_E_FORMAT,
               "unexpected text after the JSON object at line 1, column 47");
    EXPECT_ERR("\xef\xbb\xbf{\"embed_dim\":8}", OCLIP_E_FORMAT, "byte-order mark");
    EXPECT_ERR("{\"embed_dim\":8,\"vision_cfg\":{\"timm_model_name\":\"a\\u0000b\"},\"text_cfg\":{}}",
               OCLIP_E_FORMAT, "\\u0000");
    EXPECT_ERR("{\"embed_dim\":8,\"x\xff\":1}", OCLIP_E_FORMAT, "invalid UTF-8 at line 1");
    EXPECT_ERR("{\"embed_dim\":8,\"x\xc0\xaf\":1}", OCLIP_E_FORMAT, "invalid UTF-8"); /* overlong */
    /* a deeply nested unknown value is not a crash */
    char deep[5000];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"embed_dim\":8,\"x\":");
    for (int i = 0; i < 2000; i++) deep[n++] = '[';
    for (int i = 0; i < 2000; i++) deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    oclip_model_config m;
    oclip_error e;
    CHECK(parse(deep, &m, &e) == OCLIP_E_FORMAT); /* beyond cJSON's nesting limit */

    /* arguments */
    CHECK(oclip_config_parse(NULL, 0, &m, &e) == OCLIP_E_ARG);
    CHECK(oclip_config_parse("{}", 2, NULL, &e) == OCLIP_E_ARG);
    CHECK(oclip_config_parse("{}", 2, &m, NULL) == OCLIP_E_FORMAT); /* err may be NULL */
    /* the length is honoured: the text need not end in NUL */
    const char *two = "{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{}}GARBAGE";
    CHECK(oclip_config_parse(two, strlen(two) - 7, &m, &e) == OCLIP_OK && m.embed_dim == 8);
    /* on failure *out is left as it was */
    m.embed_dim = 12345;
    CHECK(parse("{\"embed_dim\":8,\"vision_cfg\":{\"width\":0}}", &m, &e) == OCLIP_E_FORMAT);
    CHECK(m.embed_dim == 12345);
}

/* Every prefix of a valid config, and single-byte corruptions: an error or a config, never a
 * crash (run under ASan/UBSan by `make test-asan`). */
static void test_truncations(void) {
    const char *cfg =
        "{\"embed_dim\": 1024, \"quick_gelu\": true, \"vision_cfg\": {\"image_size\": [224, 196],"
        " \"layers\": 32, \"width\": 1280, \"head_width\": 80, \"patch_size\": 14,"
        " \"norm_kwargs\": {\"eps\": 1e-6}, \"act_kwargs\": {\"approximate\": \"tanh\"}},"
        " \"text_cfg\": {\"hf_tokenizer_name\": \"facebook/xlm-v-base\", \"pool_type\": \"eos\","
        " \"eos_id\": 2, \"context_length\": 77, \"vocab_size\": 901629, \"width\": 1024,"
        " \"heads\": 16, \"layers\": 24, \"unknown\": {\"k\": [1, 2]}}}";
    size_t len = strlen(cfg);
    char *buf = malloc(len);
    if (!buf) abort();
    size_t ok = 0;
    oclip_model_config m;
    oclip_error e;
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(buf, cfg, cut);
        oclip_status st = oclip_config_parse(buf, cut, &m, &e);
        CHECKF(st == OCLIP_E_FORMAT && e.msg[0], "cut at %zu: %d", cut, st);
    }
    static const char flips[] = {'\0', '"', '{', '}', '[', ']', ',', ':', '-', '9', 'x', '\\',
                                 (char)0x80, (char)0xff};
    for (size_t at = 0; at < len; at++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(buf, cfg, len);
            buf[at] = flips[f];
            oclip_status st = oclip_config_parse(buf, len, &m, &e);
            CHECK(st == OCLIP_OK || (st == OCLIP_E_FORMAT && e.msg[0]));
            ok += st == OCLIP_OK;
        }
    }
    CHECK(oclip_config_parse(cfg, len, &m, &e) == OCLIP_OK && m.family == OCLIP_FAMILY_OTHER);
    CHECK(!strcmp(m.unknown_keys, "text_cfg.unknown"));
    CHECK(m.vision.image_size[1] == 196 && m.text.vocab_size == 901629);
    free(buf);
    (void)ok;
}

/* Every field of a config as text, to compare two configs. */
static void config_text(const oclip_model_config *m, char *buf, size_t cap) {
    const oclip_vision_cfg *v = &m->vision;
    const oclip_text_cfg *t = &m->text;
    snprintf(buf, cap,
             "%d %d %d %.17g %d %d %d %d [%s] | %d %d %d %d %d %d %d %d %d %d %.17g %d %.17g %d %d "
             "%d %s %s %.17g %s %s %d | %d %d %d %d %d %.17g %d %.17g %d %d %d %d %s %d %s %.17g %s "
             "%s %s %d",
             m->embed_dim, m->quick_gelu, m->has_logit_bias, m->init_logit_bias,
             m->nonscalar_logit_scale, m->custom_text, m->multimodal, (int)m->family,
             m->unknown_keys, v->image_size[0], v->image_size[1], v->patch_size, v->width,
             v->layers, v->resnet_layers[0], v->resnet_layers[1], v->resnet_layers[2],
             v->resnet_layers[3], v->head_width, v->mlp_ratio, v->has_ls, v->ls_init_value,
             v->no_ln_pre, v->final_ln_after_pool, v->attentional_pool, v->pool_type,
             v->pos_embed_type, v->ln_eps, v->act_approximate, v->timm_model_name,
             v->custom_block, t->context_length, t->vocab_size, t->width, t->heads, t->layers,
             t->mlp_ratio, t->has_ls, t->ls_init_value, t->embed_cls, t->pad_id, t->eos_id,
             t->no_causal_mask, t->pool_type, t->proj_bias, t->proj_type, t->ln_eps,
             t->act_approximate, t->hf_model_name, t->hf_tokenizer_name, t->custom_block);
}

/* data/model_configs/<name>.json, parsed as a model config and wrapped as the model_cfg of an
 * open_clip_config.json, gives what the built-in copy gives (so src/model/builtin_data.c is current). */
static void test_config_files(void) {
    size_t n = 0;
    for (size_t i = 0; i < oclip_config_builtin_count(); i++) {
        const char *name = oclip_config_builtin_name(i);
        char path[256];
        snprintf(path, sizeof path, "data/model_configs/%s.json", name);
        size_t len = 0;
        unsigned char *text = read_file(path, &len);
        CHECKF(text != NULL, "cannot read %s", path);
        if (!text) continue;
        oclip_model_config b, f, w;
        oclip_error e;
        CHECK(oclip_config_builtin(name, &b, &e) == OCLIP_OK);
        CHECKF(oclip_config_parse((const char *)text, len, &f, &e) == OCLIP_OK, "%s: %s", path,
               e.msg);
        size_t wcap = len + 64;
        char *wrapped = malloc(wcap);
        if (!wrapped) abort();
        int wl = snprintf(wrapped, wcap, "{\"model_cfg\": %s, \"preprocess_cfg\": {}}",
                          (const char *)text);
        CHECKF(oclip_config_parse_open_clip(wrapped, (size_t)wl, &w, NULL, &e) == OCLIP_OK,
               "%s wrapped: %s", path, e.msg);
        char tb[2048], tf[2048], tw[2048];
        config_text(&b, tb, sizeof tb);
        config_text(&f, tf, sizeof tf);
        config_text(&w, tw, sizeof tw);
        CHECKF(!strcmp(tb, tf), "%s: built-in and file differ:\n  %s\n  %s", name, tb, tf);
        CHECKF(!strcmp(tb, tw), "%s: built-in and open_clip_config differ:\n  %s\n  %s", name,
               tb, tw);
        CHECK(f.name[0] == '\0' && !strcmp(b.name, name));
        free(wrapped);
        free(text);
        n++;
    }
    CHECK(n == 181);
}

static void test_open_clip_config(void) {
    const char *json =
        "{\"model_cfg\": {\"embed_dim\": 512, \"vision_cfg\": {\"image_size\": 240, \"layers\": 12,"
        " \"width\": 896, \"patch_size\": 16}, \"text_cfg\": {\"context_length\": 77,"
        " \"vocab_size\": 49408, \"width\": 640, \"heads\": 10, \"layers\": 12}, \"zz_model\": 1},"
        " \"preprocess_cfg\": {\"mean\": [0.5, 0.5, 0.5], \"std\": 0.25,"
        " \"interpolation\": \"bilinear\", \"resize_mode\": \"squash\", \"size\": 224,"
        " \"mode\": \"RGB\", \"fill_color\": 128, \"crop_pct\": 0.9, \"interpolation_x\": null},"
        " \"extra\": true}";
    oclip_model_config m;
    oclip_preprocess_cfg p;
    oclip_error e;
    CHECK(oclip_config_parse_open_clip(json, strlen(json), &m, &p, &e) == OCLIP_OK);
    CHECK(e.code == OCLIP_OK && e.msg[0] == '\0');
    CHECK(m.embed_dim == 512 && m.vision.image_size[0] == 240 && m.text.heads == 10);
    CHECK(m.family == OCLIP_FAMILY_OTHER); /* zz_model: an unknown model key */
    CHECKF(!strcmp(m.unknown_keys, "zz_model, preprocess_cfg.crop_pct, "
                                   "preprocess_cfg.interpolation_x, open_clip_config.extra"),
           "%s", m.unknown_keys);
    CHECK(p.mean[0] == 0.5 && p.mean[2] == 0.5 && p.std[0] == 0.25 && p.std[1] == 0.25);
    CHECK(!strcmp(p.interpolation, "bilinear") && !strcmp(p.resize_mode, "squash"));
    CHECK(p.fill_color == 128);
    /* OpenCLIP's create_model sets the final size to the vision tower's image_size */
    CHECK(p.size[0] == 240 && p.size[1] == 240);

    /* defaults; null values are skipped (merge_preprocess_dict); "random" means bicubic */
    const char *j2 = "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {\"image_size\": [64, 32],"
                     " \"patch_size\": 8}, \"text_cfg\": {}}, \"preprocess_cfg\": {\"mean\": null,"
                     " \"interpolation\": \"random\"}}";
    CHECK(oclip_config_parse_open_clip(j2, strlen(j2), &m, &p, &e) == OCLIP_OK);
    CHECK(p.mean[0] == 0.48145466 && p.std[2] == 0.27577711 && !strcmp(p.interpolation, "bicubic"));
    CHECK(!strcmp(p.resize_mode, "shortest") && p.size[0] == 64 && p.size[1] == 32);
    CHECK(m.unknown_keys[0] == '\0' && m.family == OCLIP_FAMILY_NATIVE);
    /* no preprocess_cfg at all; model or pre may be NULL */
    const char *j3 = "{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}}}";
    CHECK(oclip_config_parse_open_clip(j3, strlen(j3), NULL, &p, &e) == OCLIP_OK);
    CHECK(p.size[0] == 224 && !strcmp(p.interpolation, "bicubic"));
    CHECK(oclip_config_parse_open_clip(j3, strlen(j3), &m, NULL, &e) == OCLIP_OK);
    CHECK(m.embed_dim == 8);
    CHECK(oclip_config_parse_open_clip(j3, strlen(j3), NULL, NULL, NULL) == OCLIP_OK);

    /* errors, with key paths */
    struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"preprocess_cfg\": {}}", "open_clip_config.json has no \"model_cfg\""},
        {"{\"model_cfg\": []}", "model_cfg: expected an object, got an array"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {\"width\": \"x\"}, \"text_cfg\": {}}}",
         "model_cfg.vision_cfg.width: expected a positive integer, got \"x\""},
        {"{\"model_cfg\": {\"vision_cfg\": {}, \"text_cfg\": {}}}", "model_cfg.embed_dim: missing"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"mean\": [0.5, 0.5]}}",
         "preprocess_cfg.mean: expected a number or a list of 3, got an array"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"std\": [0.5, 0, 0.5]}}", "preprocess_cfg.std: expected a non-zero"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"mode\": \"BGR\"}}",
         "preprocess_cfg.mode: expected one of \"RGB\", got \"BGR\""},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"interpolation\": \"lanczos\"}}",
         "preprocess_cfg.interpolation: expected one of \"bicubic\", \"bilinear\", \"random\""},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"resize_mode\": 1}}", "preprocess_cfg.resize_mode"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"fill_color\": 300}}",
         "preprocess_cfg.fill_color: expected an integer from 0 to 255, got 300"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": {\"size\": [1, 2, 3]}}", "preprocess_cfg.size"},
        {"{\"model_cfg\": {\"embed_dim\": 8, \"vision_cfg\": {}, \"text_cfg\": {}},"
         " \"preprocess_cfg\": [1]}", "preprocess_cfg: expected an object, got an array"},
        {"{\"model_cfg\": {}", "open_clip_config.json is not valid JSON"},
        {"", "open_clip_config.json is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.fill_color = 77;
        oclip_status st = oclip_config_parse_open_clip(bad[i].json, strlen(bad[i].json), &m, &p, &e);
        CHECKF(st == OCLIP_E_FORMAT && strstr(e.msg, bad[i].needle), "%s: %d \"%s\"", bad[i].json,
               st, e.msg);
        CHECK(p.fill_color == 77); /* outputs untouched on failure */
    }
    CHECK(oclip_config_parse_open_clip(NULL, 0, &m, &p, &e) == OCLIP_E_ARG);
}

/* oc_json_failed_for_memory: strictly valid JSON values (so that a cJSON failure on them can
 * only be memory) and everything else, agreeing with cJSON on each case it parses; nesting at
 * and past cJSON's limit. */
static void test_json_validator(void) {
    static const char *const valid[] = {
        "{}", "[]", " {\"a\": 1}", "{\"a\":[1,2.5,-3e+2,true,false,null,\"x\\n\\u00e9\"]}",
        "\"s\"", "0", "-0.0E1", "[[],{}]", "{\"a\":{\"b\":{}}} trailing", "[1] [2]",
    };
    static const char *const invalid[] = {
        "", " ", "{", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "[01]", "[1.]", "[.5]", "[1e]",
        "\"\\x\"", "\"abc", "[tru]", "{\"a\":1,}", "[\"\t\"]", "\"\\u12G4\"", "nul", "+1", "]",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        CHECKF(oc_json_failed_for_memory(valid[i], strlen(valid[i])), "valid: %s", valid[i]);
        cJSON *j = cJSON_ParseWithLengthOpts(valid[i], strlen(valid[i]), NULL, 0);
        CHECKF(j != NULL, "cJSON rejects %s", valid[i]);
        cJSON_Delete(j);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++)
        CHECKF(!oc_json_failed_for_memory(invalid[i], strlen(invalid[i])), "invalid: %s",
               invalid[i]);
    /* nesting: cJSON's limit is the validator's */
    char deep[2 * (CJSON_NESTING_LIMIT + 1) + 1];
    for (int d = CJSON_NESTING_LIMIT; d <= CJSON_NESTING_LIMIT + 1; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        cJSON *j = cJSON_ParseWithLengthOpts(deep, 2 * (size_t)d, NULL, 0);
        CHECKF(oc_json_failed_for_memory(deep, 2 * (size_t)d) == (j != NULL),
               "depth %d: validator and cJSON disagree", d);
        cJSON_Delete(j);
    }
}

int main(void) {
    (void)sha256_hex; /* tests/util.h is shared; this test only needs read_file */
    test_json_validator();
    test_threads(); /* first: the pretrained table is built by whichever thread comes first */
    test_builtins_vs_openclip();
    test_families();
    test_pretrained_table();
    test_pretrained_lookup();
    test_defaults();
    test_unknown_keys();
    test_bad_values();
    test_truncations();
    test_open_clip_config();
    test_config_files();
    return TEST_REPORT("test_config");
}
