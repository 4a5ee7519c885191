/*
 * test_check.c — architectures and state-dict validation against what OpenCLIP itself does
 * (fixtures by tools/gen_fixtures.py arch):
 *   - the expected state dict of every native built-in config equals OpenCLIP's (keys, order,
 *     shapes: expected_state_dicts.json, built by open_clip.create_model on the meta device);
 *   - inference from shapes names a config with exactly that state dict;
 *   - every layout of four tiny models (OpenCLIP safetensors/zip, training checkpoint, HF
 *     transformers, OpenAI JIT) maps onto OpenCLIP's state dict byte for byte;
 *   - deliberate mismatches give exactly the missing/unexpected/shape/dtype entries OpenCLIP's
 *     own comparison lists, and the hints.
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "test.h"
#include "util.h"

#define ARCH "tests/fixtures/arch"

static cJSON *load_json(const char *path) {
    size_t n;
    char *text = (char *)read_file(path, &n);
    CHECKF(text != NULL, "cannot read %s", path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECKF(j != NULL, "%s is not JSON", path);
    return j;
}

static bool same_shape(const cJSON *shape, int ndim, const int64_t *d) {
    if (cJSON_GetArraySize(shape) != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if ((int64_t)cJSON_GetArrayItem(shape, i)->valuedouble != d[i]) return false;
    return true;
}

/* A checkpoint with the given names and shapes whose data is never read (shape-only tests). */
static oclip_checkpoint *shape_only(const cJSON *entries) {
    static const uint8_t dummy[16];
    oclip_checkpoint *ck = oc_ck_new("shapes", NULL);
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *shape = cJSON_GetArrayItem(e, 1);
        int64_t d[OCLIP_MAX_DIMS];
        int nd = cJSON_GetArraySize(shape);
        for (int i = 0; i < nd; i++) d[i] = (int64_t)cJSON_GetArrayItem(shape, i)->valuedouble;
        const char *name = cJSON_GetArrayItem(e, 0)->valuestring;
        oc_ck_add_tensor(ck, name, strlen(name), OCLIP_DTYPE_F32, nd, d, dummy, 0, NULL);
    }
    CHECK(oc_ck_finish(ck, NULL) == OCLIP_OK);
    return ck;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static bool has_note(const oclip_report *r, const char *needle) {
    for (size_t i = 0; i < oclip_report_n_notes(r); i++)
        if (strstr(oclip_report_note(r, i), needle)) return true;
    return false;
}

/* 1 + 2: expected state dicts and inference, for every native config OpenCLIP built */
static void test_expected_and_inference(void) {
    cJSON *all = load_json(ARCH "/expected_state_dicts.json");
    const cJSON *cfg;
    int n_configs = 0;
    cJSON_ArrayForEach(cfg, all) {
        const char *name = cfg->string;
        oclip_model_config c;
        oclip_error err;
        CHECKF(oclip_config_builtin(name, &c, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        oc_arena a = {0};
        oc_expect *e;
        size_t n;
        CHECKF(oc_arch_expected(&c, &a, &e, &n, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        CHECKF(n == (size_t)cJSON_GetArraySize(cfg), "%s: %zu keys, OpenCLIP has %d", name, n,
               cJSON_GetArraySize(cfg));
        size_t i = 0;
        const cJSON *ent;
        int bad = 0;
        cJSON_ArrayForEach(ent, cfg) {
            if (i >= n) break;
            const char *key = cJSON_GetArrayItem(ent, 0)->valuestring;
            if (strcmp(e[i].name, key) || !same_shape(cJSON_GetArrayItem(ent, 1), e[i].ndim, e[i].shape)) {
                if (!bad++) CHECKF(0, "%s: entry %zu is %s, OpenCLIP has %s", name, i, e[i].name, key);
            }
            i++;
        }
        CHECKF(!bad, "%s: %d entries differ", name, bad);
        oc_arena_free(&a);

        /* inference from these shapes */
        oclip_checkpoint *ck = shape_only(cfg);
        oclip_model_config inf;
        int amb = 0;
        CHECKF(oclip_infer_config(ck, &inf, &amb, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        char twin[80];
        snprintf(twin, sizeof twin, "%s-quickgelu", inf.name);
        CHECKF(!strcmp(inf.name, name) || !strcmp(twin, name), "%s: inferred '%s'", name, inf.name);
        if (ends_with(name, "-quickgelu")) CHECKF(amb, "%s: QuickGELU ambiguity not flagged", name);
        /* and the report on the correct architecture is clean */
        oclip_check_options opt = {.config = &c, .config_source = "--arch"};
        oclip_report *r = NULL;
        CHECKF(oclip_check(ck, &opt, &r, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        if (r) CHECKF(oclip_report_ok(r), "%s: %zu issues", name, oclip_report_n_issues(r));
        oclip_report_free(r);
        oclip_checkpoint_free(ck);
        n_configs++;
    }
    CHECK(n_configs >= 32);

    /* ViT-B-16 weights checked as ViT-B-32: shape mismatches and a hint naming ViT-B-16 */
    oclip_checkpoint *b16 = shape_only(cJSON_GetObjectItemCaseSensitive(all, "ViT-B-16"));
    oclip_model_config b32;
    CHECK(oclip_config_builtin("ViT-B-32", &b32, NULL) == OCLIP_OK);
    oclip_check_options opt = {.config = &b32, .config_source = "--arch ViT-B-32"};
    oclip_report *r = NULL;
    CHECK(oclip_check(b16, &opt, &r, NULL) == OCLIP_OK);
    CHECK(!oclip_report_ok(r));
    int pos = 0, conv = 0, other = 0;
    for (size_t i = 0; i < oclip_report_n_issues(r); i++) {
        const oclip_issue *is = oclip_report_issue(r, i);
        if (is->kind == OCLIP_ISSUE_SHAPE && !strcmp(is->key, "visual.positional_embedding"))
            pos = is->expected[0] == 50 && is->found[0] == 197;
        else if (is->kind == OCLIP_ISSUE_SHAPE && !strcmp(is->key, "visual.conv1.weight"))
            conv = is->expected[3] == 32 && is->found[3] == 16;
        else other++;
    }
    CHECK(pos && conv && other == 0);
    int hinted = 0;
    for (size_t i = 0; i < oclip_report_n_notes(r); i++)
        hinted |= strstr(oclip_report_note(r, i), "shapes fit ViT-B-16 (patch 16, 197 positions") != NULL;
    CHECK(hinted);
    CHECK(oclip_report_match(r) && !strcmp(oclip_report_match(r), "ViT-B-16"));
    oclip_report_free(r);
    /* inferred without a config: ViT-B-16, with the QuickGELU note */
    CHECK(oclip_check(b16, NULL, &r, NULL) == OCLIP_OK);
    CHECK(oclip_report_ok(r) && !strcmp(oclip_report_config(r)->name, "ViT-B-16"));
    CHECK(!strcmp(oclip_report_config_source(r), "inferred"));
    hinted = 0;
    for (size_t i = 0; i < oclip_report_n_notes(r); i++)
        hinted |= strstr(oclip_report_note(r, i), "QuickGELU cannot be seen in weights") != NULL;
    CHECK(hinted);
    oclip_report_free(r);
    /* a pretrained tag trained with QuickGELU, checked with the plain config: the hint */
    oclip_model_config b16cfg;
    CHECK(oclip_config_builtin("ViT-B-16", &b16cfg, NULL) == OCLIP_OK);
    oclip_check_options tagged = {.config = &b16cfg, .config_source = "--arch", .tag = "openai"};
    CHECK(oclip_check(b16, &tagged, &r, NULL) == OCLIP_OK);
    CHECK(oclip_report_ok(r));
    CHECK(has_note(r, "hint: tag 'openai' was trained with QuickGELU: use ViT-B-16-quickgelu"));
    oclip_report_free(r);
    tagged.tag = "laion2b_s34b_b88k"; /* exact GELU: no hint */
    CHECK(oclip_check(b16, &tagged, &r, NULL) == OCLIP_OK);
    CHECK(oclip_report_n_notes(r) == 0);
    oclip_report_free(r);
    /* the QuickGELU override, on a config inferred (named after the built-in twin it now is)
     * and on one given (named as given); with it the tag's hint is gone */
    oclip_check_options forced;
    oclip_check_options_default(&forced);
    forced.quick_gelu = OCLIP_QUICK_GELU_ON;
    CHECK(oclip_check(b16, &forced, &r, NULL) == OCLIP_OK);
    CHECKF(oclip_report_ok(r) && oclip_report_config(r)->quick_gelu == 1 &&
           !strcmp(oclip_report_config(r)->name, "ViT-B-16-quickgelu") &&
           !strcmp(oclip_report_config_source(r), "inferred + QuickGELU"), "%s %s",
           oclip_report_config(r)->name, oclip_report_config_source(r));
    oclip_report_free(r);
    tagged.quick_gelu = OCLIP_QUICK_GELU_ON;
    tagged.tag = "openai";
    CHECK(oclip_check(b16, &tagged, &r, NULL) == OCLIP_OK);
    CHECK(oclip_report_config(r)->quick_gelu == 1 && !has_note(r, "hint: tag") &&
          !strcmp(oclip_report_config_source(r), "--arch + QuickGELU"));
    oclip_report_free(r);
    tagged.tag = "laion2b_s34b_b88k"; /* the table does not say: no hint either way */
    CHECK(oclip_check(b16, &tagged, &r, NULL) == OCLIP_OK);
    CHECK(!has_note(r, "hint: tag"));
    oclip_report_free(r);
    forced.quick_gelu = OCLIP_QUICK_GELU_OFF;
    forced.config = &b16cfg;
    b16cfg.quick_gelu = 1;
    CHECK(oclip_check(b16, &forced, &r, NULL) == OCLIP_OK);
    CHECK(oclip_report_config(r)->quick_gelu == 0 &&
          !strcmp(oclip_report_config_source(r), "given + exact GELU"));
    oclip_report_free(r);
    /* options from another library version than this one knows: refused, not misread */
    forced.struct_size = 3;
    oclip_error e;
    CHECK(oclip_check(b16, &forced, &r, &e) == OCLIP_E_ARG && r == NULL &&
          strstr(e.msg, "struct_size"));
    oclip_checkpoint_free(b16);
    cJSON_Delete(all);
}

/* 3: every layout of the tiny models maps onto OpenCLIP's state dict byte for byte */
static void compare_tensors(const oclip_checkpoint *m, const cJSON *tensors, const char *what,
                            bool subset) {
    size_t n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tensors) {
        const char *name = cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring;
        const oclip_tensor *x = oclip_checkpoint_find(m, name);
        if (!x) {
            CHECKF(subset, "%s: '%s' missing after mapping", what, name);
            continue;
        }
        n++;
        CHECKF(!strcmp(oclip_dtype_name(x->dtype),
                       cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring),
               "%s: '%s' dtype", what, name);
        CHECKF(same_shape(cJSON_GetObjectItemCaseSensitive(t, "shape"), x->ndim, x->shape),
               "%s: '%s' shape", what, name);
        char hex[65];
        sha256_hex(x->data, (size_t)x->nbytes, hex);
        CHECKF(!strcmp(hex, cJSON_GetObjectItemCaseSensitive(t, "sha256")->valuestring),
               "%s: '%s' bytes differ from OpenCLIP's", what, name);
    }
    CHECKF(n == oclip_checkpoint_n_tensors(m), "%s: %zu mapped tensors, %zu compared", what,
           oclip_checkpoint_n_tensors(m), n);
}

static void test_tiny_layouts(void) {
    static const char *const variants[] = {"b32like", "quickgelu", "alt", "res40"};
    for (size_t v = 0; v < 4; v++) {
        char path[512];
        snprintf(path, sizeof path, ARCH "/tiny/%s/expected.json", variants[v]);
        cJSON *exp = load_json(path);
        snprintf(path, sizeof path, ARCH "/tiny/%s/open_clip_config.json", variants[v]);
        size_t len = 0;
        char *text = (char *)read_file(path, &len);
        oclip_model_config cfg;
        oclip_error err;
        CHECKF(oclip_config_parse_open_clip(text, len, &cfg, NULL, &err) == OCLIP_OK, "%s: %s",
               path, err.msg);
        free(text);
        CHECK(cfg.quick_gelu == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(exp, "quick_gelu")));
        static const char *const files[] = {"open_clip_model.safetensors",
                                            "open_clip_pytorch_model.bin", "epoch_2.pt",
                                            "hf/model.safetensors", "openai.pt"};
        for (size_t f = 0; f < 5; f++) {
            snprintf(path, sizeof path, ARCH "/tiny/%s/%s", variants[v], files[f]);
            FILE *probe = fopen(path, "rb");
            if (!probe) { /* no HF copy of LayerScale models, OpenAI archives for two variants */
                CHECKF(f >= 3, "%s missing", path);
                continue;
            }
            fclose(probe);
            oclip_checkpoint *ck = NULL;
            CHECKF(oclip_checkpoint_open(path, NULL, &ck, &err) == OCLIP_OK, "%s: %s", path, err.msg);
            if (!ck) continue;
            for (int with_cfg = 1; with_cfg >= 0; with_cfg--) {
                oclip_check_options opt = {.config = with_cfg ? &cfg : NULL};
                oclip_report *r = NULL;
                CHECKF(oclip_check(ck, &opt, &r, &err) == OCLIP_OK, "%s: %s", path, err.msg);
                if (!r) continue;
                CHECKF(oclip_report_ok(r), "%s (%s): %zu issues, first '%s'", path,
                       with_cfg ? "config" : "inferred", oclip_report_n_issues(r),
                       oclip_report_n_issues(r) ? oclip_report_issue(r, 0)->key : "");
                if (with_cfg) {
                    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(
                        exp, f == 4 ? "openai_tensors" : "tensors");
                    compare_tensors(oclip_report_mapped(r), tensors, path, f == 4);
                    if (f == 2) CHECK(has_note(r, "training checkpoint (epoch 2)"));
                    if (f == 3) CHECK(has_note(r, "HF-transformers layout: mapped automatically (78 tensors"));
                    if (f == 4) CHECK(has_note(r, "OpenAI JIT archive: dropped its 3 root scalars"));
                } else if (f == 4) {
                    CHECK(oclip_report_config(r)->quick_gelu == 1); /* OpenAI trained with it */
                }
                oclip_report_free(r);
            }
            oclip_checkpoint_free(ck);
        }
        /* the HF config.json says the same architecture as open_clip_config.json */
        snprintf(path, sizeof path, ARCH "/tiny/%s/hf/config.json", variants[v]);
        text = (char *)read_file(path, &len);
        if (text) {
            oclip_model_config hf;
            CHECKF(oclip_config_from_hf(text, len, &hf, &err) == OCLIP_OK, "%s: %s", path, err.msg);
            CHECK(hf.embed_dim == cfg.embed_dim && hf.quick_gelu == cfg.quick_gelu);
            CHECK(hf.vision.width == cfg.vision.width && hf.vision.layers == cfg.vision.layers);
            CHECK(hf.vision.patch_size == cfg.vision.patch_size);
            CHECK(hf.vision.image_size[0] == cfg.vision.image_size[0]);
            CHECK(hf.vision.head_width == cfg.vision.head_width);
            CHECK(hf.vision.mlp_ratio == cfg.vision.mlp_ratio && hf.text.mlp_ratio == cfg.text.mlp_ratio);
            CHECK(hf.text.width == cfg.text.width && hf.text.heads == cfg.text.heads);
            CHECK(hf.text.layers == cfg.text.layers && hf.text.vocab_size == cfg.text.vocab_size);
            CHECK(hf.text.context_length == cfg.text.context_length);
            free(text);
        }
        cJSON_Delete(exp);
    }
}

/* 4: deliberate mismatches: exactly the entries OpenCLIP's comparison lists */
static bool listed(const cJSON *arr, const char *key, const char *field) {
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        const char *k = field ? cJSON_GetObjectItemCaseSensitive(x, field)->valuestring : x->valuestring;
        if (!strcmp(k, key)) return true;
    }
    return false;
}

static void test_mismatches(void) {
    cJSON *man = load_json(ARCH "/mismatch/manifest.json");
    size_t len;
    char *text = (char *)read_file(ARCH "/tiny/b32like/open_clip_config.json", &len);
    oclip_model_config cfg;
    CHECK(oclip_config_parse_open_clip(text, len, &cfg, NULL, NULL) == OCLIP_OK);
    free(text);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(man, "files")) {
        const char *rel = cJSON_GetObjectItemCaseSensitive(f, "path")->valuestring;
        char path[512];
        snprintf(path, sizeof path, ARCH "/%s", rel);
        oclip_checkpoint *ck = NULL;
        oclip_error err;
        CHECKF(oclip_checkpoint_open(path, NULL, &ck, &err) == OCLIP_OK, "%s: %s", path, err.msg);
        if (!ck) continue;
        oclip_check_options opt = {.config = &cfg, .config_source = "b32like"};
        oclip_report *r = NULL;
        CHECK(oclip_check(ck, &opt, &r, &err) == OCLIP_OK);
        bool loadable = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "expect_loadable"));
        CHECKF(oclip_report_ok(r) == loadable, "%s: ok=%d", rel, oclip_report_ok(r));
        const cJSON *missing = cJSON_GetObjectItemCaseSensitive(f, "missing");
        const cJSON *unexpected = cJSON_GetObjectItemCaseSensitive(f, "unexpected");
        const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(f, "shape_mismatch");
        const cJSON *dtypes = cJSON_GetObjectItemCaseSensitive(f, "dtype_mismatch");
        size_t counts[5] = {0};
        for (size_t i = 0; i < oclip_report_n_issues(r); i++) {
            const oclip_issue *is = oclip_report_issue(r, i);
            counts[is->kind]++;
            switch (is->kind) {
            case OCLIP_ISSUE_MISSING: CHECKF(listed(missing, is->key, NULL), "%s: missing %s", rel, is->key); break;
            case OCLIP_ISSUE_UNEXPECTED: CHECKF(listed(unexpected, is->key, NULL), "%s: unexpected %s", rel, is->key); break;
            case OCLIP_ISSUE_SHAPE: CHECKF(listed(shapes, is->key, "key"), "%s: shape %s", rel, is->key); break;
            case OCLIP_ISSUE_DTYPE: CHECKF(listed(dtypes, is->key, "key"), "%s: dtype %s", rel, is->key); break;
            default: CHECKF(0, "%s: unexpected issue kind", rel);
            }
        }
        if (!loadable) {
            CHECKF(counts[0] == (size_t)cJSON_GetArraySize(missing), "%s: missing count", rel);
            CHECKF(counts[1] == (size_t)cJSON_GetArraySize(unexpected), "%s: unexpected count", rel);
            CHECKF(counts[2] == (size_t)cJSON_GetArraySize(shapes), "%s: shape count", rel);
            CHECKF(counts[3] == (size_t)cJSON_GetArraySize(dtypes), "%s: dtype count", rel);
        }
        if (strstr(rel, "vision_only")) CHECK(has_note(r, "no text tower in this file: vision-only"));
        if (strstr(rel, "text_only")) CHECK(has_note(r, "no image tower in this file"));
        if (strstr(rel, "hf_position_ids")) CHECK(has_note(r, "position_ids"));
        if (strstr(rel, "transposed_proj")) {
            const oclip_issue *is = oclip_report_issue(r, 0);
            CHECK(is && is->expected[0] == 32 && is->expected[1] == 16 && is->found[0] == 16);
        }
        oclip_report_free(r);
        oclip_checkpoint_free(ck);
    }
    cJSON_Delete(man);
}

/* Unsupported families are refused with "not supported yet: <family>". */
static void test_unsupported(void) {
    oclip_model_config rn;
    CHECK(oclip_config_builtin("coca_roberta-ViT-B-32", &rn, NULL) == OCLIP_OK);
    oclip_checkpoint *ck = NULL;
    CHECK(oclip_checkpoint_open(ARCH "/tiny/b32like/open_clip_model.safetensors", NULL, &ck, NULL) == OCLIP_OK);
    oclip_check_options opt = {.config = &rn, .config_source = "--arch coca_roberta-ViT-B-32"};
    oclip_report *r = NULL;
    oclip_error err;
    CHECK(oclip_check(ck, &opt, &r, &err) == OCLIP_E_UNSUPPORTED && r == NULL);
    CHECK(strstr(err.msg, "not supported yet: CoCa") != NULL);
    oclip_checkpoint_free(ck);
}

/* --scan: a NaN and an Inf planted in the weights are reported, and only with scan */
static void test_scan(void) {
    size_t size;
    unsigned char *buf = read_file(ARCH "/tiny/b32like/open_clip_model.safetensors", &size);
    CHECK(buf != NULL);
    if (!buf) return;
    oclip_checkpoint *ck = NULL;
    CHECK(oclip_checkpoint_open_memory(buf, size, "scan", NULL, &ck, NULL) == OCLIP_OK);
    const oclip_tensor *proj = oclip_checkpoint_find(ck, "visual.proj");
    const oclip_tensor *ln = oclip_checkpoint_find(ck, "ln_final.bias");
    size_t at_proj = (size_t)((const unsigned char *)proj->data - buf);
    size_t at_ln = (size_t)((const unsigned char *)ln->data - buf);
    oclip_checkpoint_free(ck);
    static const unsigned char nan[4] = {0x00, 0x00, 0xc0, 0x7f}, inf[4] = {0x00, 0x00, 0x80, 0xff};
    memcpy(buf + at_proj + 4, nan, 4);
    memcpy(buf + at_ln, inf, 4);
    memcpy(buf + at_ln + 8, nan, 4);
    CHECK(oclip_checkpoint_open_memory(buf, size, "scan", NULL, &ck, NULL) == OCLIP_OK);
    for (int scan = 0; scan <= 1; scan++) {
        oclip_check_options opt = {.scan = scan};
        oclip_report *r = NULL;
        CHECK(oclip_check(ck, &opt, &r, NULL) == OCLIP_OK);
        if (!r) continue;
        if (!scan) {
            CHECK(oclip_report_ok(r));
        } else {
            CHECK(oclip_report_n_issues(r) == 2);
            for (size_t i = 0; i < oclip_report_n_issues(r); i++) {
                const oclip_issue *is = oclip_report_issue(r, i);
                CHECK(is->kind == OCLIP_ISSUE_NONFINITE);
                if (!strcmp(is->key, "visual.proj")) CHECK(!strcmp(is->detail, "1 NaN, 0 Inf"));
                else CHECK(!strcmp(is->key, "ln_final.bias") && !strcmp(is->detail, "1 NaN, 1 Inf"));
            }
        }
        oclip_report_free(r);
    }
    oclip_checkpoint_free(ck);
    free(buf);
}

int main(void) {
    test_expected_and_inference();
    test_tiny_layouts();
    test_mismatches();
    test_unsupported();
    test_scan();
    return TEST_REPORT("test_check");
}
