/*
 * test_e2e.c — the whole pipeline against OpenCLIP (fixtures by tools/gen_fixtures.py e2e):
 * image files decoded and preprocessed, prompts tokenized, both towers, logits — compared with
 * what OpenCLIP 3.3.0 computed from the same files, prompts and weights (max-abs <= 1e-4,
 * cosine >= 0.99999), plus the token ids exactly.
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

#define DIR "tests/fixtures/e2e"

/* max |a - b| and the cosine of two rows of n floats against expected JSON numbers */
static void compare_row(const float *got, const cJSON *exp, int n, const char *what, int row) {
    double dot = 0, na = 0, nb = 0, maxabs = 0;
    for (int i = 0; i < n; i++) {
        double e = cJSON_GetArrayItem(exp, i)->valuedouble, g = got[i];
        maxabs = fmax(maxabs, fabs(e - g));
        dot += e * g, na += g * g, nb += e * e;
    }
    double cos = dot / (sqrt(na) * sqrt(nb) + 1e-30);
    CHECKF(maxabs <= 1e-4 && cos >= 0.99999, "%s %d: max-abs %.3g, cosine %.9f", what, row,
           maxabs, cos);
}

int main(void) {
    size_t len;
    char *text = (char *)read_file(DIR "/expected.json", &len);
    CHECKF(text != NULL, "cannot read " DIR "/expected.json");
    if (!text) return TEST_REPORT("test_e2e");
    cJSON *exp = cJSON_Parse(text);
    free(text);
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(exp, "images");
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(exp, "prompts");
    size_t ni = (size_t)cJSON_GetArraySize(images), nt = (size_t)cJSON_GetArraySize(prompts);

    oclip_error err;
    oclip_model *m = NULL;
    CHECKF(oclip_model_load(DIR, NULL, &m, &err) == OCLIP_OK, "%s", err.msg);
    if (!m) return TEST_REPORT("test_e2e");
    int E = oclip_model_embed_dim(m), ctx = oclip_model_context_length(m);

    /* token ids: exactly OpenCLIP's */
    const char **p = malloc(nt * sizeof *p);
    for (size_t j = 0; j < nt; j++) p[j] = cJSON_GetArrayItem(prompts, (int)j)->valuestring;
    int64_t *row = malloc((size_t)ctx * sizeof *row);
    for (size_t j = 0; j < nt; j++) {
        CHECK(oclip_tokenize(p[j], strlen(p[j]), OCLIP_CLEAN_LOWER, row, (size_t)ctx, &err) ==
              OCLIP_OK);
        const cJSON *want = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(exp, "tokens"),
                                               (int)j);
        int same = 1;
        for (int k = 0; k < ctx; k++)
            same &= row[k] == (int64_t)cJSON_GetArrayItem(want, k)->valuedouble;
        CHECKF(same, "prompt %zu: token ids differ from OpenCLIP's", j);
    }

    /* embeddings from files and strings */
    const char **paths = malloc(ni * sizeof *paths);
    for (size_t i = 0; i < ni; i++) paths[i] = cJSON_GetArrayItem(images, (int)i)->valuestring;
    float *img = malloc(ni * (size_t)E * sizeof *img), *txt = malloc(nt * (size_t)E * sizeof *txt);
    float *lg = malloc(ni * nt * sizeof *lg);
    CHECKF(oclip_encode_image_files(m, paths, ni, img, 1, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_encode_text_strings(m, p, NULL, nt, txt, 1, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(oclip_logits(m, img, ni, txt, nt, lg, &err) == OCLIP_OK);
    const cJSON *ie = cJSON_GetObjectItemCaseSensitive(exp, "image_embeddings");
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(exp, "text_embeddings");
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(exp, "logits");
    for (size_t i = 0; i < ni; i++)
        compare_row(img + i * (size_t)E, cJSON_GetArrayItem(ie, (int)i), E, "image", (int)i);
    for (size_t j = 0; j < nt; j++)
        compare_row(txt + j * (size_t)E, cJSON_GetArrayItem(te, (int)j), E, "text", (int)j);
    /* logits are ~100 x cosine: compare with a relative bound of the same 1e-4 order */
    for (size_t i = 0; i < ni; i++)
        for (size_t j = 0; j < nt; j++) {
            double e = cJSON_GetArrayItem(cJSON_GetArrayItem(le, (int)i), (int)j)->valuedouble;
            CHECKF(fabs(e - lg[i * nt + j]) <= 1e-4 * fmax(1.0, fabs(e)), "logit %zu,%zu: %g vs %g",
                   i, j, lg[i * nt + j], e);
        }

    /* zero-shot: OpenCLIP's classifier (simple templates) and probabilities */
    const cJSON *zs = cJSON_GetObjectItemCaseSensitive(exp, "zero_shot");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(zs, "labels");
    size_t nl = (size_t)cJSON_GetArraySize(labels);
    const char **lab = malloc(nl * sizeof *lab);
    for (size_t c = 0; c < nl; c++) lab[c] = cJSON_GetArrayItem(labels, (int)c)->valuestring;
    const char *const *tpl;
    size_t ntpl = oclip_zero_shot_templates("simple", &tpl);
    CHECK(ntpl == 7 && oclip_zero_shot_templates("imagenet", &tpl) == 80);
    ntpl = oclip_zero_shot_templates("simple", &tpl);
    const char *const *classes;
    CHECK(oclip_imagenet_classnames(&classes) == 1000 && !strcmp(classes[0], "tench"));
    float *w = malloc(nl * (size_t)E * sizeof *w), *pr = malloc(ni * nl * sizeof *pr);
    CHECKF(oclip_zero_shot_classifier(m, lab, nl, tpl, ntpl, w, &err) == OCLIP_OK, "%s", err.msg);
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(zs, "classifier");
    for (size_t c = 0; c < nl; c++)
        compare_row(w + c * (size_t)E, cJSON_GetArrayItem(cw, (int)c), E, "class", (int)c);
    CHECK(oclip_zero_shot_probs(m, img, ni, w, nl, pr, &err) == OCLIP_OK);
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(zs, "probs");
    for (size_t i = 0; i < ni; i++)
        for (size_t c = 0; c < nl; c++) {
            double e = cJSON_GetArrayItem(cJSON_GetArrayItem(pe, (int)i), (int)c)->valuedouble;
            CHECKF(fabs(e - pr[i * nl + c]) <= 1e-4, "prob %zu,%zu: %g vs %g", i, c,
                   pr[i * nl + c], e);
        }
    free(lab);
    free(w);
    free(pr);

    /* a missing file is named in the error */
    const char *bad[] = {"tests/fixtures/e2e/no-such-image.png"};
    CHECK(oclip_encode_image_files(m, bad, 1, img, 1, &err) == OCLIP_E_IO);
    CHECK(strstr(err.msg, "no-such-image.png") != NULL);

    /* 40 files (two buffers), prepared on 3 threads: the same embeddings as one by one, and with
     * missing files among them the error names the first missing one, whichever thread met it */
    {
        enum { NF = 40 };
        const char *many[NF];
        float *e40 = malloc((size_t)NF * (size_t)E * sizeof *e40);
        for (size_t i = 0; i < NF; i++) many[i] = paths[i % ni];
        CHECK(oclip_model_set_threads(m, 3, &err) == OCLIP_OK);
        CHECKF(oclip_encode_image_files(m, many, NF, e40, 1, &err) == OCLIP_OK, "%s", err.msg);
        for (size_t i = 0; i < NF; i++)
            CHECKF(memcmp(e40 + i * E, img + (i % ni) * E, (size_t)E * sizeof *img) == 0,
                   "file %zu of 40: not the embedding of its image alone", i);
        const size_t first[][2] = {{5, 2}, {2, 5}, {36, 38}, {39, 33}, {0, 31}};
        for (size_t c = 0; c < sizeof first / sizeof first[0]; c++) {
            many[first[c][0]] = "tests/fixtures/e2e/missing-a.png";
            many[first[c][1]] = "tests/fixtures/e2e/missing-b.png";
            const char *want = first[c][0] < first[c][1] ? "missing-a" : "missing-b";
            CHECK(oclip_encode_image_files(m, many, NF, e40, 1, &err) == OCLIP_E_IO);
            CHECKF(strstr(err.msg, want) != NULL, "case %zu: %s", c, err.msg);
            many[first[c][0]] = paths[first[c][0] % ni];
            many[first[c][1]] = paths[first[c][1] % ni];
        }
        free(e40);
    }

    /* the fingerprint (class-embedding cache key): the same weights give the same one whether
     * loaded through the folder or the file; another model gives another one */
    char fp1[33], fp2[33], fp3[33];
    CHECK(oclip_model_fingerprint(m, fp1, &err) == OCLIP_OK && strlen(fp1) == 32);
    oclip_model *m2 = NULL, *d = NULL;
    CHECKF(oclip_model_load(DIR "/open_clip_model.safetensors", NULL, &m2, &err) == OCLIP_OK,
           "%s", err.msg);
    CHECK(m2 && oclip_model_fingerprint(m2, fp2, &err) == OCLIP_OK && !strcmp(fp1, fp2));
    oclip_model_options q = {.quick_gelu = OCLIP_QUICK_GELU_ON};
    oclip_model_free(m2);
    m2 = NULL;
    CHECKF(oclip_model_load(DIR, &q, &m2, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(m2 && oclip_model_fingerprint(m2, fp2, &err) == OCLIP_OK && strcmp(fp1, fp2));
    oclip_model_free(m2);

    /* the embedded default model: NULL or "" loads it, with its own config and preprocessing */
    CHECKF(oclip_model_load(NULL, NULL, &d, &err) == OCLIP_OK, "%s", err.msg);
    if (d) {
        int h, w2;
        oclip_model_image_size(d, &h, &w2);
        CHECK(h > 0 && h == w2 && oclip_model_embed_dim(d) > 0);
        CHECK(strstr(oclip_model_source(d), "default model") != NULL);
        CHECK(oclip_model_fingerprint(d, fp3, &err) == OCLIP_OK && strcmp(fp1, fp3));
        oclip_model_free(d);
    }
    d = NULL;
    CHECKF(oclip_model_load("", NULL, &d, &err) == OCLIP_OK, "%s", err.msg);
    oclip_model_free(d);
    /* "default" names it too, and the source says where everything came from */
    d = NULL;
    CHECKF(oclip_model_load("default", NULL, &d, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(d && oclip_model_fingerprint(d, fp2, &err) == OCLIP_OK && !strcmp(fp2, fp3));
    CHECK(d && oclip_source_kind_of(oclip_model_source_of(d)) == OCLIP_SOURCE_EMBEDDED &&
          oclip_source_n_warnings(oclip_model_source_of(d)) == 0 &&
          oclip_model_context_length(d) == 32);
    oclip_model_free(d);

    /* options from oclip_model_options_default: the weights kept as stored (KEEP), the same
     * model as with NULL options; a struct_size this library does not know is refused */
    oclip_model_options mo;
    oclip_model_options_default(&mo);
    CHECK(mo.struct_size == sizeof mo && mo.weight_dtype == OCLIP_DTYPE_KEEP);
    d = NULL;
    CHECKF(oclip_model_load(DIR, &mo, &d, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(d && oclip_model_fingerprint(d, fp2, &err) == OCLIP_OK && !strcmp(fp1, fp2));
    if (d) {
        float e1[64], e2[64];
        int Ed = oclip_model_embed_dim(d);
        CHECK(Ed <= 64 && oclip_encode_text(d, row, 1, e1, 1, &err) == OCLIP_OK &&
              oclip_encode_text(m, row, 1, e2, 1, &err) == OCLIP_OK &&
              !memcmp(e1, e2, (size_t)Ed * sizeof(float)));
    }
    oclip_model_free(d);
    d = NULL;
    mo.struct_size = 5;
    CHECK(oclip_model_load(DIR, &mo, &d, &err) == OCLIP_E_ARG && !d &&
          strstr(err.msg, "struct_size"));
    CHECK(oclip_model_fingerprint(NULL, fp3, &err) == OCLIP_E_ARG);

    free(p);
    free(row);
    free(paths);
    free(img);
    free(txt);
    free(lg);
    oclip_model_free(m);
    cJSON_Delete(exp);
    return TEST_REPORT("test_e2e");
}
