/*
 * test_convert.c — oclip_save_safetensors, oclip_dtype_cast, oclip_convert and `oclip convert`
 * against files PyTorch, safetensors and transformers wrote (tests/fixtures/arch/tiny/<variant>,
 * tests/fixtures/readers):
 *   - every layout of every tiny variant (OpenCLIP safetensors / torch zip, training checkpoint,
 *     HF CLIPModel, OpenAI archive) -> OpenCLIP safetensors: exactly OpenCLIP's keys, each
 *     tensor's dtype, shape and SHA-256 as the generator recorded them; and the file is
 *     byte-identical to safetensors.torch.save_file's open_clip_model.safetensors;
 *   - OpenCLIP -> HF: the tensors (and the file bytes) of transformers' save_pretrained; HF ->
 *     OpenCLIP round trip byte-identical; config.json / open_clip_config.json read back;
 *   - F32 -> F16 / BF16 casts equal torch's .half() / .bfloat16() bytes (readers fixtures);
 *   - refusals: LayerScale -> HF, a checkpoint that does not fit, bad arguments; nothing written;
 *   - the command line (OCLIP_BIN): exit codes, messages, no partial output.
 */
#include <cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

#define ARCH "tests/fixtures/arch/tiny"
#define READERS "tests/fixtures/readers"

static char tmpdir[256];

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */
static cJSON *load_json(const char *path) {
    size_t n;
    unsigned char *text = read_file(path, &n);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength((const char *)text, n);
    free(text);
    return j;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* 1 when the two files hold the same bytes */
static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = read_file(a, &na), *y = read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* Files in tmpdir whose name contains ".tmp" (left-over temporaries) */
static int leftover_temps(void) {
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) n++;
    if (d) closedir(d);
    return n;
}

/* Compares a checkpoint with a generator tensor table: same names (and count), and per tensor
 * dtype, shape and SHA-256. `skip` names entries of the table that must be absent. */
static void check_table(const char *what, const oclip_checkpoint *ck, const cJSON *table,
                        const char *const *skip) {
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, table) {
        const char *name = jstr(e, "name");
        int skipped = 0;
        for (size_t i = 0; skip && skip[i]; i++) skipped |= !strcmp(skip[i], name);
        const oclip_tensor *t = oclip_checkpoint_find(ck, name);
        if (skipped) {
            CHECKF(t == NULL, "%s: '%s' should have been dropped", what, name);
            continue;
        }
        n++;
        CHECKF(t != NULL, "%s: tensor '%s' missing", what, name);
        if (!t) continue;
        CHECKF(!strcmp(oclip_dtype_name(t->dtype), jstr(e, "dtype")), "%s: '%s' dtype %s vs %s",
               what, name, oclip_dtype_name(t->dtype), jstr(e, "dtype"));
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        int same = cJSON_GetArraySize(shape) == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble == t->shape[d];
        CHECKF(same, "%s: '%s' shape differs", what, name);
        char hex[65];
        sha256_hex(t->data, (size_t)t->nbytes, hex);
        CHECKF(!strcmp(hex, jstr(e, "sha256")), "%s: '%s' bytes differ from PyTorch's", what, name);
    }
    CHECKF(oclip_checkpoint_n_tensors(ck) == n, "%s: %zu tensors, expected %zu", what,
           oclip_checkpoint_n_tensors(ck), n);
}

/* Tensors of two checkpoints: same names, dtypes, shapes and bytes. */
static void check_same_tensors(const char *what, const oclip_checkpoint *a,
                               const oclip_checkpoint *b) {
    CHECKF(oclip_checkpoint_n_tensors(a) == oclip_checkpoint_n_tensors(b), "%s: %zu vs %zu tensors",
           what, oclip_checkpoint_n_tensors(a), oclip_checkpoint_n_tensors(b));
    for (size_t i = 0; i < oclip_checkpoint_n_tensors(a); i++) {
        const oclip_tensor *x = oclip_checkpoint_tensor(a, i);
        const oclip_tensor *y = oclip_checkpoint_find(b, x->name);
        CHECKF(y != NULL, "%s: '%s' missing", what, x->name);
        if (!y) continue;
        int same = x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes &&
                   memcmp(x->shape, y->shape, sizeof x->shape[0] * (size_t)x->ndim) == 0 &&
                   memcmp(x->data, y->data, x->nbytes) == 0;
        CHECKF(same, "%s: '%s' differs (%s vs %s)", what, x->name, oclip_dtype_name(x->dtype),
               oclip_dtype_name(y->dtype));
    }
}

static oclip_checkpoint *open_ck(const char *path) {
    oclip_error err;
    oclip_checkpoint *ck = NULL;
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == OCLIP_OK, "open %s: %s", path, err.msg);
    return st == OCLIP_OK ? ck : NULL;
}

/* The variant's open_clip_config.json */
static int variant_config(const char *variant, oclip_model_config *cfg, oclip_preprocess_cfg *pre) {
    char path[256];
    snprintf(path, sizeof path, ARCH "/%s/open_clip_config.json", variant);
    size_t n;
    unsigned char *text = read_file(path, &n);
    oclip_error err;
    oclip_status st = text ? oclip_config_parse_open_clip((const char *)text, n, cfg, pre, &err)
                           : OCLIP_E_IO;
    free(text);
    CHECKF(st == OCLIP_OK, "%s: %s", path, text ? err.msg : "unreadable");
    return st == OCLIP_OK;
}

/* check + convert; returns the convert status (report problems are test failures) */
static oclip_status convert_file(const char *in, const oclip_model_config *cfg, const char *out,
                                 const oclip_convert_options *opt, oclip_error *err) {
    oclip_checkpoint *ck = open_ck(in);
    if (!ck) return OCLIP_E_IO;
    oclip_check_options co = {.config = cfg, .config_source = "test"};
    oclip_report *r = NULL;
    oclip_status st = oclip_check(ck, cfg ? &co : NULL, &r, err);
    CHECKF(st == OCLIP_OK, "check %s: %s", in, err->msg);
    if (st == OCLIP_OK) {
        CHECKF(oclip_report_ok(r), "%s does not fit (%zu issues)", in, oclip_report_n_issues(r));
        st = oclip_convert(r, out, opt, err);
    }
    oclip_report_free(r);
    oclip_checkpoint_free(ck);
    return st;
}

/* Geometry and options that open_clip_config.json must carry through a conversion. */
static int same_config(const oclip_model_config *a, const oclip_model_config *b) {
    const oclip_vision_cfg *va = &a->vision, *vb = &b->vision;
    const oclip_text_cfg *ta = &a->text, *tb = &b->text;
    return a->embed_dim == b->embed_dim && a->quick_gelu == b->quick_gelu &&
           a->nonscalar_logit_scale == b->nonscalar_logit_scale && a->family == b->family &&
           va->image_size[0] == vb->image_size[0] && va->image_size[1] == vb->image_size[1] &&
           va->patch_size == vb->patch_size && va->width == vb->width &&
           va->layers == vb->layers && va->head_width == vb->head_width &&
           va->mlp_ratio == vb->mlp_ratio && va->has_ls == vb->has_ls &&
           va->ls_init_value == vb->ls_init_value && va->no_ln_pre == vb->no_ln_pre &&
           !strcmp(va->pool_type, vb->pool_type) && va->ln_eps == vb->ln_eps &&
           ta->context_length == tb->context_length && ta->vocab_size == tb->vocab_size &&
           ta->width == tb->width && ta->heads == tb->heads && ta->layers == tb->layers &&
           ta->mlp_ratio == tb->mlp_ratio && ta->has_ls == tb->has_ls &&
           !strcmp(ta->pool_type, tb->pool_type) && ta->proj_bias == tb->proj_bias &&
           ta->ln_eps == tb->ln_eps;
}

/* ---------------------------------------------------------------------------------------------
 * dtype casts
 */
static void test_casts(void) {
    /* every F16 / BF16 value survives a trip through F32 (NaN stays NaN) */
    static uint16_t h[65536], back[65536];
    static float f[65536];
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    oclip_error err;
    int bad_f16 = 0, bad_bf16 = 0;
    CHECK(oclip_dtype_cast(f, OCLIP_DTYPE_F32, h, OCLIP_DTYPE_F16, 65536, &err) == OCLIP_OK);
    CHECK(oclip_dtype_cast(back, OCLIP_DTYPE_F16, f, OCLIP_DTYPE_F32, 65536, &err) == OCLIP_OK);
    for (int i = 0; i < 65536; i++) {
        int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        if (nan ? !((back[i] & 0x7c00) == 0x7c00 && (back[i] & 0x3ff)) || f[i] == f[i]
                : back[i] != h[i])
            bad_f16++;
    }
    CHECKF(bad_f16 == 0, "%d F16 values changed through F32", bad_f16);
    CHECK(oclip_dtype_cast(f, OCLIP_DTYPE_F32, h, OCLIP_DTYPE_BF16, 65536, &err) == OCLIP_OK);
    CHECK(oclip_dtype_cast(back, OCLIP_DTYPE_BF16, f, OCLIP_DTYPE_F32, 65536, &err) == OCLIP_OK);
    for (int i = 0; i < 65536; i++) {
        int nan = (i & 0x7f80) == 0x7f80 && (i & 0x7f);
        if (nan ? back[i] != 0xffff || f[i] == f[i] : back[i] != h[i]) bad_bf16++;
    }
    CHECKF(bad_bf16 == 0, "%d BF16 values changed through F32", bad_bf16);
    /* F64 -> F32 rounds as C does; non-float types are refused */
    double d[3] = {0.5, -3.0, 1e-3};
    float fd[3];
    CHECK(oclip_dtype_cast(fd, OCLIP_DTYPE_F32, d, OCLIP_DTYPE_F64, 3, &err) == OCLIP_OK);
    CHECK(fd[0] == 0.5f && fd[1] == -3.0f && fd[2] == (float)1e-3);
    int64_t i64 = 1;
    CHECK(oclip_dtype_cast(&i64, OCLIP_DTYPE_I64, f, OCLIP_DTYPE_F32, 1, &err) ==
          OCLIP_E_UNSUPPORTED);
    CHECK(strstr(err.msg, "I64") != NULL);
}

/* ---------------------------------------------------------------------------------------------
 * oclip_save_safetensors
 */
static void test_save(void) {
    char out[512];
    oclip_error err;
    /* a torch-written OpenCLIP file saved again: the same bytes */
    oclip_checkpoint *ck = open_ck(ARCH "/b32like/open_clip_model.safetensors");
    if (!ck) return;
    snprintf(out, sizeof out, "%s/resave.safetensors", tmpdir);
    CHECK(oclip_save_safetensors(ck, out, NULL, 0, OCLIP_DTYPE_KEEP, NULL, 0, &err) == OCLIP_OK);
    CHECKF(same_file(out, ARCH "/b32like/open_clip_model.safetensors"),
           "re-saved file differs from safetensors.torch.save_file's");

    /* a subset, with metadata */
    const char *names[] = {"visual.proj", "logit_scale"};
    const char *meta[] = {"format", "pt", "note", "q\"uote"};
    snprintf(out, sizeof out, "%s/subset.safetensors", tmpdir);
    CHECK(oclip_save_safetensors(ck, out, names, 2, OCLIP_DTYPE_BF16, meta, 2, &err) == OCLIP_OK);
    oclip_checkpoint *sub = open_ck(out);
    if (sub) {
        CHECK(oclip_checkpoint_n_tensors(sub) == 2);
        const oclip_tensor *t = oclip_checkpoint_find(sub, "visual.proj");
        CHECK(t && t->dtype == OCLIP_DTYPE_BF16 && t->ndim == 2 && t->shape[0] == 32);
        const char *k, *v;
        int found = 0;
        for (size_t i = 0; oclip_checkpoint_entry(sub, i, &k, &v); i++)
            found += !strcmp(k, "note") && !strcmp(v, "q\"uote");
        CHECK(found == 1);
        oclip_checkpoint_free(sub);
    }

    /* errors: unknown name, duplicate, cast to a non-float type, a folder in the way */
    const char *missing[] = {"no.such.tensor"};
    CHECK(oclip_save_safetensors(ck, out, missing, 1, OCLIP_DTYPE_KEEP, NULL, 0, &err) ==
          OCLIP_E_NOTFOUND);
    CHECK(strstr(err.msg, "no.such.tensor") != NULL);
    const char *dup[] = {"visual.proj", "visual.proj"};
    CHECK(oclip_save_safetensors(ck, out, dup, 2, OCLIP_DTYPE_KEEP, NULL, 0, &err) == OCLIP_E_ARG);
    CHECK(oclip_save_safetensors(ck, out, NULL, 0, OCLIP_DTYPE_I64, NULL, 0, &err) == OCLIP_E_ARG);
    snprintf(out, sizeof out, "%s/a_folder", tmpdir);
    mkdir(out, 0755);
    CHECK(oclip_save_safetensors(ck, out, NULL, 0, OCLIP_DTYPE_KEEP, NULL, 0, &err) == OCLIP_E_IO);
    CHECKF(strstr(err.msg, "a_folder") != NULL, "%s", err.msg);
    snprintf(out, sizeof out, "%s/no/such/folder/x.safetensors", tmpdir);
    CHECK(oclip_save_safetensors(ck, out, NULL, 0, OCLIP_DTYPE_KEEP, NULL, 0, &err) == OCLIP_E_IO);
    CHECK(leftover_temps() == 0);
    oclip_checkpoint_free(ck);

    /* casts as torch does them: oc_f32 -> F16 / BF16 equals torch's oc_f16 / oc_bf16 */
    ck = open_ck(READERS "/oc_f32.safetensors");
    static const struct {
        oclip_dtype dt;
        const char *ref;
    } casts[] = {{OCLIP_DTYPE_F16, READERS "/oc_f16.safetensors"},
                 {OCLIP_DTYPE_BF16, READERS "/oc_bf16.safetensors"}};
    for (size_t i = 0; ck && i < 2; i++) {
        snprintf(out, sizeof out, "%s/cast_%s.safetensors", tmpdir, oclip_dtype_name(casts[i].dt));
        CHECK(oclip_save_safetensors(ck, out, NULL, 0, casts[i].dt, NULL, 0, &err) == OCLIP_OK);
        oclip_checkpoint *got = open_ck(out), *ref = open_ck(casts[i].ref);
        if (got && ref) check_same_tensors(casts[i].ref, ref, got);
        /* and back: F16/BF16 -> F32 -> F16/BF16 is exact */
        if (got) {
            char back[512], again[512];
            snprintf(back, sizeof back, "%s/back.safetensors", tmpdir);
            snprintf(again, sizeof again, "%s/again.safetensors", tmpdir);
            CHECK(oclip_save_safetensors(got, back, NULL, 0, OCLIP_DTYPE_F32, NULL, 0, &err) ==
                  OCLIP_OK);
            oclip_checkpoint *b = open_ck(back);
            if (b) {
                CHECK(oclip_checkpoint_find(b, "visual.proj")->dtype == OCLIP_DTYPE_F32);
                CHECK(oclip_save_safetensors(b, again, NULL, 0, casts[i].dt, NULL, 0, &err) ==
                      OCLIP_OK);
                CHECKF(same_file(again, out), "%s -> F32 -> back is not exact",
                       oclip_dtype_name(casts[i].dt));
            }
            oclip_checkpoint_free(b);
        }
        oclip_checkpoint_free(got);
        oclip_checkpoint_free(ref);
    }
    oclip_checkpoint_free(ck);
}

/* ---------------------------------------------------------------------------------------------
 * oclip_convert on the tiny variants
 */
static const char *const variants[] = {"b32like", "quickgelu", "alt", "res40"};
static const char *const openai_scalars[] = {"input_resolution", "context_length", "vocab_size",
                                             NULL};

/* A single .safetensors file keeps the architecture and the preprocessing in its metadata
 * ("open_clip_config"): the same tensors as without it, and a source resolved from the file
 * alone gets both back. */
static void test_metadata(const char *in, const oclip_model_config *cfg, const char *plain,
                          const cJSON *table) {
    char out[600];
    snprintf(out, sizeof out, "%s.meta.safetensors", plain);
    oclip_preprocess_cfg pre;
    oclip_preprocess_cfg_default(&pre);
    pre.mean[1] = 0.25;
    snprintf(pre.interpolation, sizeof pre.interpolation, "bilinear");
    oclip_convert_options o;
    oclip_convert_options_default(&o);
    o.preprocess = &pre;
    oclip_error err;
    CHECKF(convert_file(in, cfg, out, &o, &err) == OCLIP_OK, "%s: %s", in, err.msg);
    oclip_checkpoint *ck = open_ck(out);
    if (!ck) return;
    check_table(out, ck, table, NULL);
    const char *k = NULL, *v = NULL;
    size_t n = 0;
    for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++) n++;
    CHECK(n == 1 && oclip_checkpoint_entry(ck, 0, &k, &v) && !strcmp(k, "open_clip_config") &&
          !strchr(v, '\n'));
    if (!v) {
        oclip_checkpoint_free(ck);
        return;
    }
    oclip_model_config got;
    oclip_preprocess_cfg gp;
    CHECK(oclip_config_parse_open_clip(v, strlen(v), &got, &gp, &err) == OCLIP_OK &&
          same_config(&got, cfg) && gp.mean[1] == 0.25 && !strcmp(gp.interpolation, "bilinear"));
    oclip_checkpoint_free(ck);

    /* read back: the architecture and preprocessing from the file's own metadata */
    oclip_source *src = NULL;
    CHECKF(oclip_source_resolve(out, NULL, &src, &err) == OCLIP_OK, "%s", err.msg);
    if (!src) return;
    CHECK(oclip_source_config(src) == NULL); /* not before the file is open */
    CHECKF(oclip_source_open(src, &err) == OCLIP_OK, "%s", err.msg);
    const oclip_model_config *c = oclip_source_config(src);
    CHECKF(c && same_config(c, cfg) && c->quick_gelu == cfg->quick_gelu &&
           !strcmp(oclip_source_config_origin(src), "the checkpoint's open_clip_config metadata") &&
           oclip_source_preprocess(src)->mean[1] == 0.25 &&
           oclip_source_preprocess(src)->size[0] == cfg->vision.image_size[0],
           "%s", oclip_source_config_origin(src));
    oclip_report *r = NULL;
    CHECK(oclip_source_check(src, 0, &r, &err) == OCLIP_OK && r && oclip_report_ok(r) &&
          oclip_source_n_warnings(src) == 0);
    oclip_report_free(r);
    oclip_source_free(src);
    /* the file without it: the architecture is inferred */
    CHECK(oclip_source_resolve(plain, NULL, &src, &err) == OCLIP_OK &&
          oclip_source_open(src, &err) == OCLIP_OK && !oclip_source_config(src));
    oclip_source_free(src);
}

static void test_to_open_clip(const char *variant, const cJSON *exp,
                              const oclip_model_config *cfg) {
    static const char *const inputs[] = {"open_clip_model.safetensors",
                                         "open_clip_pytorch_model.bin", "epoch_2.pt",
                                         "hf/model.safetensors", "openai.pt"};
    char in[256], out[512], what[300], ref[256];
    snprintf(ref, sizeof ref, ARCH "/%s/open_clip_model.safetensors", variant);
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        snprintf(in, sizeof in, ARCH "/%s/%s", variant, inputs[i]);
        if (!file_exists(in)) continue;
        int openai = strstr(inputs[i], "openai") != NULL;
        snprintf(out, sizeof out, "%s/%s_%zu.safetensors", tmpdir, variant, i);
        snprintf(what, sizeof what, "%s -> open_clip", in);
        oclip_error err;
        /* without the metadata: the bytes of safetensors.torch.save_file */
        oclip_convert_options plain = {.no_metadata = 1};
        oclip_status st = convert_file(in, cfg, out, &plain, &err);
        CHECKF(st == OCLIP_OK, "%s: %s", what, err.msg);
        if (st) continue;
        oclip_checkpoint *ck = open_ck(out);
        if (!ck) continue;
        const cJSON *table = cJSON_GetObjectItemCaseSensitive(exp, openai ? "openai_tensors"
                                                                          : "tensors");
        check_table(what, ck, table, openai ? openai_scalars : NULL);
        const oclip_tensor *ls = oclip_checkpoint_find(ck, "logit_scale");
        CHECK(ls && ls->ndim == 0);
        if (!openai) CHECKF(same_file(out, ref), "%s: not byte-identical to %s", what, ref);
        oclip_checkpoint_free(ck);
        if (i == 0) test_metadata(in, cfg, out, table);
    }
}

static void test_hf(const char *variant, const cJSON *exp, const oclip_model_config *cfg) {
    char in[256], out[512], path[600], back[512];
    snprintf(in, sizeof in, ARCH "/%s/open_clip_model.safetensors", variant);
    snprintf(out, sizeof out, "%s/%s_hf", tmpdir, variant);
    oclip_convert_options opt = {.to = OCLIP_FORMAT_HF};
    oclip_error err;
    oclip_status st = convert_file(in, cfg, out, &opt, &err);
    const cJSON *hf_table = cJSON_GetObjectItemCaseSensitive(exp, "hf_tensors");
    if (!hf_table) { /* LayerScale: refused with the reason, nothing written */
        CHECKF(st == OCLIP_E_UNSUPPORTED, "%s -> hf: %d %s", variant, st, err.msg);
        CHECKF(strstr(err.msg, "LayerScale") && strstr(err.msg, "hint: "), "%s", err.msg);
        CHECK(!file_exists(out));
        return;
    }
    CHECKF(st == OCLIP_OK, "%s -> hf: %s", variant, err.msg);
    if (st) return;
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    oclip_checkpoint *ck = open_ck(path);
    if (ck) {
        check_table(path, ck, hf_table, NULL);
        const char *k, *v;
        int fmt = 0;
        for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
            fmt += !strcmp(k, "format") && !strcmp(v, "pt");
        CHECK(fmt == 1);
        oclip_checkpoint_free(ck);
    }
    char ref[256];
    snprintf(ref, sizeof ref, ARCH "/%s/hf/model.safetensors", variant);
    CHECKF(same_file(path, ref), "%s: not byte-identical to transformers' %s", path, ref);

    /* config.json reads back as the same architecture; open_clip_config.json exactly */
    oclip_model_config got;
    size_t n;
    snprintf(path, sizeof path, "%s/config.json", out);
    unsigned char *text = read_file(path, &n);
    CHECK(text && oclip_config_from_hf((const char *)text, n, &got, &err) == OCLIP_OK);
    if (text) {
        CHECKF(got.embed_dim == cfg->embed_dim && got.quick_gelu == cfg->quick_gelu &&
                   got.vision.width == cfg->vision.width &&
                   got.vision.head_width == cfg->vision.head_width &&
                   got.vision.image_size[0] == cfg->vision.image_size[0] &&
                   got.text.heads == cfg->text.heads &&
                   got.text.context_length == cfg->text.context_length &&
                   got.vision.mlp_ratio == cfg->vision.mlp_ratio,
               "%s: config.json does not describe the architecture", variant);
        cJSON *j = cJSON_Parse((const char *)text);
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "text_config");
        CHECK(cJSON_GetObjectItemCaseSensitive(tc, "eos_token_id")->valuedouble ==
              cfg->text.vocab_size - 1);
        CHECK(!strcmp(jstr(tc, "hidden_act"), cfg->quick_gelu ? "quick_gelu" : "gelu"));
        cJSON_Delete(j);
    }
    free(text);
    snprintf(path, sizeof path, "%s/open_clip_config.json", out);
    text = read_file(path, &n);
    CHECK(text &&
          oclip_config_parse_open_clip((const char *)text, n, &got, NULL, &err) == OCLIP_OK);
    if (text) CHECKF(same_config(&got, cfg), "%s: open_clip_config.json differs", variant);
    free(text);

    /* and back: HF -> OpenCLIP gives the original file byte for byte */
    snprintf(back, sizeof back, "%s/%s_back.safetensors", tmpdir, variant);
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    oclip_convert_options plain = {.no_metadata = 1};
    st = convert_file(path, cfg, back, &plain, &err);
    CHECKF(st == OCLIP_OK, "%s hf -> open_clip: %s", variant, err.msg);
    if (!st)
        CHECKF(same_file(back, in), "%s: OpenCLIP -> HF -> OpenCLIP is not identical", variant);
}

/* The dtype of every written tensor, or -1 when they differ (or the file does not open). */
static int written_dtype(const char *path) {
    oclip_checkpoint *ck = open_ck(path);
    int dt = ck && oclip_checkpoint_n_tensors(ck) ? (int)oclip_checkpoint_tensor(ck, 0)->dtype
                                                  : -1;
    for (size_t i = 0; ck && i < oclip_checkpoint_n_tensors(ck); i++)
        if ((int)oclip_checkpoint_tensor(ck, i)->dtype != dt) dt = -1;
    oclip_checkpoint_free(ck);
    return dt;
}

/* One way to say "keep the dtype": OCLIP_DTYPE_KEEP, what oclip_convert_options_default sets;
 * a zero-initialised struct (struct_size 0) reads its dtype 0 (F32) as KEEP too; F32 set after
 * oclip_convert_options_default casts. `dir` holds F16 weights (test_folder). */
static void test_dtype_options(const oclip_model_config *cfg, const char *dir) {
    char in[600], out[512];
    snprintf(in, sizeof in, "%sopen_clip_model.safetensors", dir);
    snprintf(out, sizeof out, "%s/dtype.safetensors", tmpdir);
    oclip_error err;
    oclip_convert_options o;
    oclip_convert_options_default(&o);
    CHECK(o.struct_size == sizeof o && o.dtype == OCLIP_DTYPE_KEEP && o.to == OCLIP_FORMAT_OPEN_CLIP);
    CHECK(convert_file(in, cfg, out, &o, &err) == OCLIP_OK &&
          written_dtype(out) == OCLIP_DTYPE_F16);
    o.dtype = OCLIP_DTYPE_F32;
    CHECK(convert_file(in, cfg, out, &o, &err) == OCLIP_OK &&
          written_dtype(out) == OCLIP_DTYPE_F32);
    oclip_convert_options zero = {0};
    CHECK(convert_file(in, cfg, out, &zero, &err) == OCLIP_OK &&
          written_dtype(out) == OCLIP_DTYPE_F16);
    CHECK(convert_file(in, cfg, out, NULL, &err) == OCLIP_OK &&
          written_dtype(out) == OCLIP_DTYPE_F16);
    oclip_convert_options odd = {.struct_size = 2};
    CHECK(convert_file(in, cfg, out, &odd, &err) == OCLIP_E_ARG && strstr(err.msg, "struct_size"));
}

/* Folder output: open_clip_model.safetensors + open_clip_config.json; preprocess carried. */
static void test_folder(const oclip_model_config *cfg) {
    char out[512], path[600];
    snprintf(out, sizeof out, "%s/oc_dir/", tmpdir); /* trailing '/': created */
    oclip_preprocess_cfg pre;
    oclip_preprocess_cfg_default(&pre);
    pre.mean[0] = 0.5;
    snprintf(pre.resize_mode, sizeof pre.resize_mode, "squash");
    oclip_convert_options opt = {.preprocess = &pre, .dtype = OCLIP_DTYPE_F16};
    oclip_error err;
    oclip_status st = convert_file(ARCH "/res40/epoch_2.pt", cfg, out, &opt, &err);
    CHECKF(st == OCLIP_OK, "folder: %s", err.msg);
    snprintf(path, sizeof path, "%sopen_clip_model.safetensors", out);
    oclip_checkpoint *ck = open_ck(path);
    if (ck) {
        size_t f16 = 0;
        for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++)
            f16 += oclip_checkpoint_tensor(ck, i)->dtype == OCLIP_DTYPE_F16;
        CHECK(f16 == oclip_checkpoint_n_tensors(ck) && f16 == 62);
        oclip_checkpoint_free(ck);
    }
    snprintf(path, sizeof path, "%sopen_clip_config.json", out);
    size_t n;
    unsigned char *text = read_file(path, &n);
    oclip_model_config got;
    oclip_preprocess_cfg gp;
    CHECK(text && oclip_config_parse_open_clip((const char *)text, n, &got, &gp, &err) == OCLIP_OK);
    if (text) {
        CHECK(same_config(&got, cfg));
        CHECK(gp.mean[0] == 0.5 && gp.mean[1] == pre.mean[1] && gp.std[2] == pre.std[2] &&
              !strcmp(gp.resize_mode, "squash") && !strcmp(gp.interpolation, "bicubic"));
        CHECK(got.unknown_keys[0] == '\0');
    }
    free(text);
    test_dtype_options(cfg, out);
}

/* nonscalar_logit_scale: logit_scale written as [1] */
static void test_nonscalar(oclip_model_config cfg) {
    cfg.nonscalar_logit_scale = 1;
    char out[512];
    snprintf(out, sizeof out, "%s/nonscalar.safetensors", tmpdir);
    oclip_error err;
    CHECK(convert_file(ARCH "/b32like/open_clip_model.safetensors", &cfg, out, NULL, &err) ==
          OCLIP_OK);
    oclip_checkpoint *ck = open_ck(out);
    const oclip_tensor *t = ck ? oclip_checkpoint_find(ck, "logit_scale") : NULL;
    CHECK(t && t->ndim == 1 && t->shape[0] == 1);
    oclip_checkpoint_free(ck);
}

/* A report that is not OK is refused; a bad option too; nothing is written. */
static void test_refusals(const oclip_model_config *cfg) {
    char out[512];
    snprintf(out, sizeof out, "%s/refused.safetensors", tmpdir);
    oclip_checkpoint *ck = open_ck("tests/fixtures/arch/mismatch/transposed_proj.safetensors");
    if (!ck) return;
    oclip_check_options co = {.config = cfg, .config_source = "test"};
    oclip_report *r = NULL;
    oclip_error err;
    CHECK(oclip_check(ck, &co, &r, &err) == OCLIP_OK);
    if (r) {
        CHECK(!oclip_report_ok(r));
        CHECK(oclip_convert(r, out, NULL, &err) == OCLIP_E_MISMATCH);
        CHECKF(strstr(err.msg, "does not fit") != NULL, "%s", err.msg);
        CHECK(!file_exists(out));
        oclip_report_free(r);
    }
    oclip_checkpoint_free(ck);
    ck = open_ck(ARCH "/b32like/open_clip_model.safetensors");
    if (ck && oclip_check(ck, &co, &r, &err) == OCLIP_OK) {
        oclip_convert_options bad = {.dtype = OCLIP_DTYPE_I8};
        CHECK(oclip_convert(r, out, &bad, &err) == OCLIP_E_ARG);
        CHECK(oclip_convert(r, "", NULL, &err) == OCLIP_E_ARG);
        /* HF into an existing file */
        oclip_convert_options hf = {.to = OCLIP_FORMAT_HF};
        char file[512];
        snprintf(file, sizeof file, "%s/resave.safetensors", tmpdir);
        CHECK(oclip_convert(r, file, &hf, &err) == OCLIP_E_ARG);
        CHECK(!file_exists(out));
        oclip_report_free(r);
    }
    oclip_checkpoint_free(ck);
    CHECK(leftover_temps() == 0);
}

/* ---------------------------------------------------------------------------------------------
 * The command line
 */
static int run(const char *cmd, const char *err_file) {
    char full[2048];
    snprintf(full, sizeof full, "%s >/dev/null 2>%s", cmd, err_file);
    int rc = system(full);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int file_contains(const char *path, const char *needle) {
    size_t n;
    unsigned char *text = read_file(path, &n);
    int found = text && strstr((const char *)text, needle);
    free(text);
    return found;
}

static void test_cli(void) {
    const char *bin = getenv("OCLIP_BIN");
    if (!bin) bin = "build/oclip";
    char cmd[1536], errf[512], out[512];
    snprintf(errf, sizeof errf, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s convert --help", bin);
    CHECKF(run(cmd, errf) == 0, "'%s' failed", cmd);
    snprintf(cmd, sizeof cmd, "%s convert", bin);
    CHECK(run(cmd, errf) == 2);
    snprintf(cmd, sizeof cmd, "%s convert a b --dtype f8", bin);
    CHECK(run(cmd, errf) == 2);
    snprintf(cmd, sizeof cmd, "%s convert a b --to onnx", bin);
    CHECK(run(cmd, errf) == 2);

    /* a checkpoint that does not fit: exit 1, a summary and a hint, nothing written */
    snprintf(out, sizeof out, "%s/cli_mismatch.safetensors", tmpdir);
    snprintf(cmd, sizeof cmd,
             "%s convert tests/fixtures/arch/mismatch/missing_layer.safetensors %s "
             "--config " ARCH "/b32like/open_clip_config.json", bin, out);
    CHECK(run(cmd, errf) == 1);
    CHECK(file_contains(errf, "does not fit"));
    CHECK(file_contains(errf, "hint: run 'oclip check tests/fixtures/arch/mismatch/"
                              "missing_layer.safetensors --config"));
    CHECK(!file_exists(out));

    /* LayerScale to HF: exit 1 with the reason, no folder */
    snprintf(out, sizeof out, "%s/cli_alt_hf", tmpdir);
    snprintf(cmd, sizeof cmd, "%s convert " ARCH "/alt %s --to hf", bin, out);
    CHECK(run(cmd, errf) == 1);
    CHECK(file_contains(errf, "LayerScale"));
    CHECK(!file_exists(out));

    /* success: HF folder in, OpenCLIP file out, identical to the generator's (--no-metadata);
     * with the metadata, `oclip check` finds the architecture in the file alone */
    snprintf(out, sizeof out, "%s/cli_ok.safetensors", tmpdir);
    snprintf(cmd, sizeof cmd, "%s convert " ARCH "/quickgelu/hf %s --no-metadata", bin, out);
    CHECK(run(cmd, errf) == 0);
    CHECK(same_file(out, ARCH "/quickgelu/open_clip_model.safetensors"));
    snprintf(cmd, sizeof cmd, "%s convert " ARCH "/quickgelu/hf %s", bin, out);
    CHECK(run(cmd, errf) == 0);
    CHECK(!same_file(out, ARCH "/quickgelu/open_clip_model.safetensors"));
    snprintf(cmd, sizeof cmd, "(%s check %s >%s/check.txt)", bin, out, tmpdir);
    CHECK(run(cmd, errf) == 0);
    snprintf(cmd, sizeof cmd, "%s/check.txt", tmpdir);
    CHECKF(file_contains(cmd, "from the checkpoint's open_clip_config metadata") &&
           file_contains(cmd, "QuickGELU"), "%s", cmd);
    snprintf(out, sizeof out, "%s/cli_dir", tmpdir);
    mkdir(out, 0755);
    snprintf(cmd, sizeof cmd, "%s convert " ARCH "/b32like/openai.pt %s --dtype f32", bin, out);
    CHECK(run(cmd, errf) == 0);
    snprintf(out, sizeof out, "%s/cli_dir/open_clip_config.json", tmpdir);
    CHECK(file_exists(out));
    CHECK(leftover_temps() == 0);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oclip-test-convert-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_casts();
    test_save();
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        char path[256];
        snprintf(path, sizeof path, ARCH "/%s/expected.json", variants[i]);
        cJSON *exp = load_json(path);
        CHECKF(exp != NULL, "cannot read %s", path);
        oclip_model_config cfg;
        if (exp && variant_config(variants[i], &cfg, NULL)) {
            test_to_open_clip(variants[i], exp, &cfg);
            test_hf(variants[i], exp, &cfg);
            if (!strcmp(variants[i], "res40")) test_folder(&cfg);
            if (!strcmp(variants[i], "b32like")) {
                test_nonscalar(cfg);
                test_refusals(&cfg);
            }
        }
        cJSON_Delete(exp);
    }
    test_cli();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT("test_convert");
}
