/*
 * test_convert_mobileclip.c — oclip_convert (what `oclip convert` runs) round trips on the
 * MobileCLIP fixtures: the FastViT tower (tests/fixtures/fastvit/e2e, MobileCLIP-S*'s
 * fastvit_mci* structure, tools/fixtures_fastvit.py) and the timm ViT tower
 * (tests/fixtures/timmvit/mobileclip_b, MobileCLIP-B's vit_base_mci_224 structure,
 * tools/fixtures_timmvit.py). Their tiny image towers are registered under the test names the
 * generators gave timm (as test_fastvit.c and test_timmvit.c do), which is why this runs through
 * the library and not the program. Per fixture:
 *   - the folder loads and embeds the fixture's pixels as OpenCLIP did (max-abs <= 1e-4);
 *   - converted to an OpenCLIP folder (fp32), and that folder to a single .safetensors file
 *     (the config in its metadata): both embed the same bytes as the original;
 *   - converted to fp16 (a single file), then back to an fp32 folder: the two embed the same
 *     bytes (widening is exact), and stay close to the fp32 model (cosine >= 0.9999).
 */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/fastvit.h"
#include "model/timmvit.h"
#include "test.h"
#include "tower_test.h"
#include "util.h"

static int json_int(const cJSON *o, const char *k, int i) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (i >= 0) v = cJSON_GetArrayItem(v, i);
    return cJSON_IsNumber(v) ? v->valueint : cJSON_IsTrue(v) ? 1 : 0;
}

/* fastvit_oclip_tiny: fastvit/tiny/meta.json's geometry on its base (tools/fixtures_fastvit.py) */
static void register_fastvit(void) {
    cJSON *meta = read_json("tests/fixtures/fastvit/tiny/meta.json");
    if (!meta) return;
    oc_fastvit_geom g;
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(meta, "base");
    CHECKF(cJSON_IsString(base) && oc_fastvit_find(base->valuestring, &g), "fastvit base");
    for (int i = 0; i < g.nst; i++) {
        g.layers[i] = json_int(meta, "layers", i);
        g.dims[i] = json_int(meta, "dims", i);
    }
    cJSON_Delete(meta);
    oclip_error err;
    CHECKF(oc_fastvit_register("fastvit_oclip_tiny", &g, &err) == OCLIP_OK, "%s", err.msg);
}

/* vit_test_mci_70: timmvit/manifest.json timm_test_models (tools/fixtures_timmvit.py) */
static void register_timmvit(void) {
    cJSON *man = read_json("tests/fixtures/timmvit/manifest.json");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(man, "timm_test_models"), "vit_test_mci_70");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "args");
    CHECKF(a != NULL, "manifest.json: vit_test_mci_70");
    if (a) {
        oc_timmvit_tower t = {0};
        snprintf(t.name, sizeof t.name, "%s", "vit_test_mci_70");
        t.img = json_int(a, "img_size", -1);
        t.width = json_int(a, "embed_dim", -1);
        t.depth = json_int(a, "depth", -1);
        t.heads = json_int(a, "num_heads", -1);
        t.mlp = 4 * t.width;
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(a, "norm_eps");
        t.eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-6f;
        t.pre_norm = json_int(a, "pre_norm", -1);
        t.no_embed_class = json_int(a, "no_embed_class", -1);
        t.stem = 1;
        t.patch = 1;
        for (int i = 0; i < 2; i++) t.stem_ch[i] = json_int(a, "stem_channels", i);
        for (int i = 0; i < 3; i++) {
            t.stem_k[i] = json_int(a, "stem_kernel", i);
            t.patch *= t.stem_k[i];
        }
        oclip_error err;
        CHECKF(oc_timmvit_tower_register(&t, &err) == OCLIP_OK, "%s: %s", t.name, err.msg);
    }
    cJSON_Delete(man);
}

/* the raw image embeddings of n images px through the model at spec; NULL on failure */
static float *embed(const char *spec, const float *px, size_t n, size_t E) {
    oclip_model_options o;
    oclip_model_options_default(&o);
    o.threads = 2;
    oclip_model *m = NULL;
    oclip_error err;
    CHECKF(oclip_model_load(spec, &o, &m, &err) == OCLIP_OK, "load %s: %s", spec, err.msg);
    if (!m) return NULL;
    float *e = calloc(n * E, sizeof(float));
    CHECKF(oclip_encode_image(m, px, n, e, 0, &err) == OCLIP_OK, "%s: encode_image: %s", spec,
           err.msg);
    oclip_model_free(m);
    return e;
}

/* oclip_convert(spec -> out) as `oclip convert SPEC OUT [--dtype]` does it */
static int convert(const char *spec, const char *out, oclip_dtype dtype) {
    oclip_source *src = NULL;
    oclip_report *r = NULL;
    oclip_error err;
    int ok = oclip_source_resolve(spec, NULL, &src, &err) == OCLIP_OK &&
             oclip_source_check(src, 0, &r, &err) == OCLIP_OK;
    CHECKF(ok && oclip_report_ok(r), "check %s: %s", spec, ok ? "not OK" : err.msg);
    if (ok && oclip_report_ok(r)) {
        oclip_convert_options co;
        oclip_convert_options_default(&co);
        co.dtype = dtype;
        co.preprocess = oclip_source_preprocess(src);
        ok = oclip_convert(r, out, &co, &err) == OCLIP_OK;
        CHECKF(ok, "convert %s -> %s: %s", spec, out, err.msg);
    }
    oclip_report_free(r);
    oclip_source_free(src);
    return ok;
}

static void round_trip(const char *dir, const char *want_name, const char *tmp) {
    char exp_path[256], f32[300], one[300], h16[300], back[300];
    snprintf(exp_path, sizeof exp_path, "%s/expected.safetensors", dir);
    snprintf(f32, sizeof f32, "%s/f32/", tmp);
    snprintf(one, sizeof one, "%s/one.safetensors", tmp);
    snprintf(h16, sizeof h16, "%s/f16.safetensors", tmp);
    snprintf(back, sizeof back, "%s/back/", tmp);
    oclip_checkpoint *ex = NULL;
    oclip_error err;
    CHECKF(oclip_checkpoint_open(exp_path, NULL, &ex, &err) == OCLIP_OK, "%s", err.msg);
    size_t npx = 0, nw = 0;
    float *px = expect_f32(ex, "pixels", &npx), *want = expect_f32(ex, want_name, &nw);
    size_t N = 4, E = nw / N;
    float *e0 = px && want ? embed(dir, px, N, E) : NULL;
    double cos, mx;
    if (e0) {
        max_abs_cos(e0, want, nw, &mx, &cos);
        CHECKF(mx <= 1e-4 && cos >= 0.99999, "%s: max-abs %.3g, cosine %.9f vs OpenCLIP", dir,
               mx, cos);
    }
    float *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    if (e0 && convert(dir, f32, OCLIP_DTYPE_KEEP) && (e1 = embed(f32, px, N, E)))
        CHECKF(!memcmp(e0, e1, nw * sizeof(float)), "%s: the converted folder embeds other bytes",
               dir);
    if (e1 && convert(f32, one, OCLIP_DTYPE_KEEP) && (e4 = embed(one, px, N, E)))
        CHECKF(!memcmp(e0, e4, nw * sizeof(float)), "%s: the single-file conversion embeds other "
               "bytes", dir);
    if (e0 && convert(dir, h16, OCLIP_DTYPE_F16) && (e2 = embed(h16, px, N, E))) {
        max_abs_cos(e2, e0, nw, &mx, &cos);
        CHECKF(cos >= 0.9999, "%s: fp16 weights: max-abs %.3g, cosine %.9f vs fp32", dir, mx, cos);
        /* the file holds fp16 tensors only (the weights were cast, not copied) */
        oclip_checkpoint *hk = NULL;
        size_t n16 = 0, n32 = 0;
        if (oclip_checkpoint_open(h16, NULL, &hk, &err) == OCLIP_OK)
            for (size_t i = 0; i < oclip_checkpoint_n_tensors(hk); i++) {
                oclip_dtype d = oclip_checkpoint_tensor(hk, i)->dtype;
                n16 += d == OCLIP_DTYPE_F16, n32 += d == OCLIP_DTYPE_F32;
            }
        CHECKF(hk && n16 > 0 && n32 == 0, "%s: %zu fp16 and %zu fp32 tensors after --dtype f16",
               h16, n16, n32);
        oclip_checkpoint_free(hk);
        if (convert(h16, back, OCLIP_DTYPE_F32) && (e3 = embed(back, px, N, E)))
            CHECKF(!memcmp(e2, e3, nw * sizeof(float)), "%s: fp16 -> fp32 embeds other bytes than "
                   "the fp16 file", dir);
    }
    free(px), free(want), free(e0), free(e1), free(e2), free(e3), free(e4);
    oclip_checkpoint_free(ex);
    char p[400];
    static const char *const files[] = {"f32/open_clip_model.safetensors",
                                        "f32/open_clip_config.json", "f32", "one.safetensors",
                                        "f16.safetensors", "back/open_clip_model.safetensors",
                                        "back/open_clip_config.json", "back"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, files[i]);
        remove(p);
    }
}

int main(void) {
    register_fastvit();
    register_timmvit();
    char tmp[] = "/tmp/oclip_test_convert_mcXXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    round_trip("tests/fixtures/fastvit/e2e", "img_pooled", tmp);
    round_trip("tests/fixtures/timmvit/mobileclip_b", "img_raw", tmp);
    rmdir(tmp);
    return TEST_REPORT("test_convert_mobileclip");
}
