/*
 * cmd_embed.c — `oclip embed-image`, `oclip embed-text`, `oclip similarity`: embeddings and the
 * logits matrix from preprocessed pixels (--pixels X.npy, float32 [N, 3, H, W]) and token ids
 * (--tokens X.npy, int64 [N, ctx]). IMAGE / TEXT arguments arrive with the preprocessing and
 * tokenizer stages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "npy.h"
#include "npy_read.h"

#define MODEL_OPTIONS                                                                            \
    "model selection:\n"                                                                         \
    "  -m, --model SPEC   a checkpoint file, model.safetensors.index.json, or a folder holding\n"  \
    "                     one; open_clip_config.json (or an HF config.json) beside it gives\n"    \
    "                     the architecture, else it is inferred from the tensor shapes\n"      \
    "  --arch NAME        a built-in OpenCLIP config (ViT-B-32, ViT-B-16-quickgelu, ...)\n"        \
    "  --config FILE      an OpenCLIP model config or open_clip_config.json\n"                    \
    "  --quick-gelu, --no-quick-gelu   override the activation\n"                              \
    "  --threads N        worker threads (default: all cores; results do not depend on it)\n"    \
    "  --batch-size N     inputs per forward pass (default 32; results do not depend on it)\n"  \
    "  -h, --help         this help\n"

static const char embed_image_help[] =
    "usage: oclip embed-image -m SPEC --pixels X.npy -o OUT.npy [--no-normalize] [options]\n"
    "\n"
    "Image embeddings, float32 [N, E], L2-normalized unless --no-normalize, as OpenCLIP's\n"
    "model.encode_image(pixels, normalize=True).\n"
    "\n"
    "  --pixels X.npy     preprocessed images, float32 [N, 3, H, W] (H x W = the model's size)\n"
    "  IMAGE...           image files: needs the preprocessing stage (not in this version)\n"
    "  -o, --output F     output .npy\n"
    "  --no-normalize     raw projected features\n"
    "\n" MODEL_OPTIONS;

static const char embed_text_help[] =
    "usage: oclip embed-text -m SPEC --tokens X.npy -o OUT.npy [--no-normalize] [options]\n"
    "\n"
    "Text embeddings, float32 [N, E], L2-normalized unless --no-normalize, as OpenCLIP's\n"
    "model.encode_text(tokens, normalize=True).\n"
    "\n"
    "  --tokens X.npy     token ids, int64 [N, context_length], as OpenCLIP's tokenizer gives\n"
    "  TEXT... / -f FILE  prompts: needs the tokenizer stage (not in this version)\n"
    "  -o, --output F     output .npy\n"
    "  --no-normalize     raw projected features\n"
    "\n" MODEL_OPTIONS;

static const char similarity_help[] =
    "usage: oclip similarity -m SPEC --pixels X.npy --tokens Y.npy [--json | -o OUT.npy]\n"
    "                        [options]\n"
    "\n"
    "The logits matrix [N_images, N_texts] = exp(logit_scale) * cosine (+ logit_bias), as\n"
    "OpenCLIP's model.get_logits(images, texts)[0]. Printed one row per image (or as JSON, or\n"
    "written to a .npy file with -o).\n"
    "\n"
    "  --pixels X.npy     preprocessed images, float32 [N, 3, H, W]\n"
    "  --tokens Y.npy     token ids, int64 [M, context_length]\n"
    "  --images/--texts   image files and prompts: need the preprocessing and tokenizer stages\n"
    "  --json             print {\"logits\": [[...], ...]}\n"
    "  -o, --output F     write float32 [N, M] to a .npy file instead of printing\n"
    "\n" MODEL_OPTIONS;

typedef struct {
    const char *cmd, *model, *arch, *config, *pixels, *tokens, *output;
    int quick, threads, batch, normalize, json;
} embed_args;

static int parse_int(const char *cmd, const char *opt, const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < 1 || x > 1 << 20)
        return usage_error(cmd, "%s needs a positive integer", opt);
    *out = (int)x;
    return 0;
}

/* Parses the shared options; returns -1 to go on, or an exit code (help: 0, usage: 2). */
static int parse(int argc, char **argv, const char *help, embed_args *a) {
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(o, "--no-normalize")) {
            a->normalize = 0;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (!strcmp(o, "--quick-gelu") || !strcmp(o, "--no-quick-gelu")) {
            a->quick = !strcmp(o, "--quick-gelu") ? OCLIP_QUICK_GELU_ON : OCLIP_QUICK_GELU_OFF;
        } else if (!strcmp(o, "-m") || !strcmp(o, "--model")) {
            slot = &a->model;
        } else if (!strcmp(o, "--arch")) {
            slot = &a->arch;
        } else if (!strcmp(o, "--config")) {
            slot = &a->config;
        } else if (!strcmp(o, "--pixels")) {
            slot = &a->pixels;
        } else if (!strcmp(o, "--tokens")) {
            slot = &a->tokens;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            slot = &a->output;
        } else if (!strcmp(o, "--threads") || !strcmp(o, "--batch-size")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            int rc = parse_int(a->cmd, o, argv[++i], !strcmp(o, "--threads") ? &a->threads
                                                                             : &a->batch);
            if (rc) return rc;
        } else if (!strcmp(o, "--images") || !strcmp(o, "--texts") || !strcmp(o, "-f")) {
            return usage_error(a->cmd, "%s: image files and prompts need the preprocessing and "
                               "tokenizer stages, not in this version; use --pixels / --tokens",
                               o);
        } else if (o[0] == '-' && o[1]) {
            return usage_error(a->cmd, "unknown option '%s'", o);
        } else {
            return usage_error(a->cmd, "'%s': IMAGE / TEXT arguments need the preprocessing and "
                               "tokenizer stages, not in this version; use --pixels / --tokens",
                               o);
        }
        if (slot) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            *slot = argv[++i];
        }
    }
    if (!a->model) return usage_error(a->cmd, "%s", "missing -m SPEC (the embedded default model "
                                                    "is not part of this version)");
    if (a->arch && a->config)
        return usage_error(a->cmd, "%s", "--arch and --config exclude each other");
    return -1;
}

static int load_model(const embed_args *a, oclip_model **m) {
    arch_choice ac = {0};
    if (a->arch || a->config) {
        /* with --arch / --config choose_arch reads no checkpoint */
        int rc = choose_arch(a->arch, a->config, a->model, NULL, &ac);
        if (rc) return rc;
    }
    oclip_model_options opt = {.threads = a->threads, .quick_gelu = (oclip_quick_gelu)a->quick};
    if (ac.have) {
        opt.config = &ac.cfg;
        opt.config_source = ac.source;
    }
    oclip_error err;
    if (oclip_model_load(a->model, &opt, m, &err) != OCLIP_OK) {
        print_error(&err);
        return EXIT_FAIL;
    }
    return 0;
}

/* Reads --pixels and checks [N, 3, H, W] against the model. */
static int read_pixels(const char *cmd, const char *path, const oclip_model *m, npy_array *a) {
    char why[200];
    if (npy_read(path, "<f4", a, why, sizeof why)) {
        fprintf(stderr, "oclip: %s: --pixels '%s': %s\n", cmd, path, why);
        return EXIT_FAIL;
    }
    int h, w;
    oclip_model_image_size(m, &h, &w);
    if (a->ndim != 4 || a->shape[1] != 3 || a->shape[2] != h || a->shape[3] != w) {
        fprintf(stderr, "oclip: %s: --pixels '%s': shape must be [N, 3, %d, %d] for this model "
                        "(%dx%d px images)\n", cmd, path, h, w, h, w);
        fprintf(stderr, "hint: preprocess with OpenCLIP's transform for this model\n");
        npy_free(a);
        return EXIT_FAIL;
    }
    return 0;
}

static int read_tokens(const char *cmd, const char *path, const oclip_model *m, npy_array *a) {
    char why[200];
    if (npy_read(path, "<i8", a, why, sizeof why)) {
        fprintf(stderr, "oclip: %s: --tokens '%s': %s\n", cmd, path, why);
        return EXIT_FAIL;
    }
    int ctx = oclip_model_context_length(m);
    if (a->ndim != 2 || a->shape[1] != ctx) {
        fprintf(stderr, "oclip: %s: --tokens '%s': shape must be [N, %d] (the model's context "
                        "length)\n", cmd, path, ctx);
        npy_free(a);
        return EXIT_FAIL;
    }
    return 0;
}

/* Embeds n inputs batch by batch into out [n, E]. */
static int embed(const embed_args *a, const oclip_model *m, int image, const void *in, size_t n,
                 float *out) {
    int h, w;
    oclip_model_image_size(m, &h, &w);
    size_t E = (size_t)oclip_model_embed_dim(m), batch = (size_t)(a->batch ? a->batch : 32);
    size_t per = image ? 3 * (size_t)h * (size_t)w : (size_t)oclip_model_context_length(m);
    oclip_error err;
    for (size_t i = 0; i < n; i += batch) {
        size_t k = n - i < batch ? n - i : batch;
        oclip_status s =
            image ? oclip_encode_image(m, (const float *)in + i * per, k, out + i * E,
                                       a->normalize, &err)
                  : oclip_encode_text(m, (const int64_t *)in + i * per, k, out + i * E,
                                      a->normalize, &err);
        if (s != OCLIP_OK) {
            fprintf(stderr, "oclip: %s: %s\n", a->cmd, err.msg);
            return EXIT_FAIL;
        }
    }
    return 0;
}

/* float32 [rows, cols] to a .npy file; the file is removed again on a write error. */
static int write_npy(const char *cmd, const char *path, const float *x, size_t rows, size_t cols) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "oclip: %s: cannot create '%s': %s\n", cmd, path, strerror(errno));
        return EXIT_FAIL;
    }
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
    int bad = npy_write_header(f, "<f4", 2, shape) != 0;
    if (!bad && rows && cols) bad = fwrite(x, sizeof(float), rows * cols, f) != rows * cols;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "oclip: %s: writing '%s' failed: %s\n", cmd, path, strerror(errno));
        remove(path);
        return EXIT_FAIL;
    }
    return 0;
}

/* embed-image and embed-text */
static int cmd_embed(int argc, char **argv, int image) {
    embed_args a = {.cmd = image ? "embed-image" : "embed-text", .normalize = 1};
    int rc = parse(argc, argv, image ? embed_image_help : embed_text_help, &a);
    if (rc >= 0) return rc;
    if (image ? !a.pixels : !a.tokens)
        return usage_error(a.cmd, "%s",
                           image ? "missing --pixels X.npy" : "missing --tokens X.npy");
    if (image ? a.tokens != NULL : a.pixels != NULL)
        return usage_error(a.cmd, "%s", image ? "--tokens belongs to embed-text"
                                               : "--pixels belongs to embed-image");
    if (!a.output) return usage_error(a.cmd, "%s", "missing -o OUT.npy");
    if (a.json) return usage_error(a.cmd, "%s", "--json is for similarity");
    oclip_model *m = NULL;
    if ((rc = load_model(&a, &m))) return rc;
    npy_array in;
    rc = image ? read_pixels(a.cmd, a.pixels, m, &in) : read_tokens(a.cmd, a.tokens, m, &in);
    if (rc) {
        oclip_model_free(m);
        return rc;
    }
    size_t n = (size_t)in.shape[0], E = (size_t)oclip_model_embed_dim(m);
    float *out = malloc((n ? n : 1) * E * sizeof(float));
    if (!out) {
        fprintf(stderr, "oclip: %s: out of memory\n", a.cmd);
        rc = EXIT_FAIL;
    } else {
        rc = embed(&a, m, image, in.data, n, out);
        if (!rc) rc = write_npy(a.cmd, a.output, out, n, E);
    }
    free(out);
    npy_free(&in);
    oclip_model_free(m);
    return rc;
}

int cmd_embed_image(int argc, char **argv) { return cmd_embed(argc, argv, 1); }
int cmd_embed_text(int argc, char **argv) { return cmd_embed(argc, argv, 0); }

int cmd_similarity(int argc, char **argv) {
    embed_args a = {.cmd = "similarity", .normalize = 1};
    int rc = parse(argc, argv, similarity_help, &a);
    if (rc >= 0) return rc;
    if (!a.pixels || !a.tokens)
        return usage_error(a.cmd, "%s", "needs --pixels X.npy and --tokens Y.npy");
    oclip_model *m = NULL;
    if ((rc = load_model(&a, &m))) return rc;
    npy_array px = {0}, tk = {0};
    float *img = NULL, *txt = NULL, *lg = NULL;
    if ((rc = read_pixels(a.cmd, a.pixels, m, &px)) || (rc = read_tokens(a.cmd, a.tokens, m, &tk)))
        goto done;
    size_t ni = (size_t)px.shape[0], nt = (size_t)tk.shape[0];
    size_t E = (size_t)oclip_model_embed_dim(m);
    img = malloc((ni ? ni : 1) * E * sizeof(float));
    txt = malloc((nt ? nt : 1) * E * sizeof(float));
    lg = malloc((ni && nt ? ni * nt : 1) * sizeof(float));
    if (!img || !txt || !lg) {
        fprintf(stderr, "oclip: %s: out of memory\n", a.cmd);
        rc = EXIT_FAIL;
        goto done;
    }
    if ((rc = embed(&a, m, 1, px.data, ni, img)) || (rc = embed(&a, m, 0, tk.data, nt, txt)))
        goto done;
    oclip_error err;
    if (oclip_logits(m, img, ni, txt, nt, lg, &err) != OCLIP_OK) {
        fprintf(stderr, "oclip: %s: %s\n", a.cmd, err.msg);
        rc = EXIT_FAIL;
        goto done;
    }
    if (a.output) {
        rc = write_npy(a.cmd, a.output, lg, ni, nt);
        goto done;
    }
    /* %.9g: enough digits to give back the exact float */
    if (a.json) fputs("{\"logits\": [", stdout);
    for (size_t i = 0; i < ni; i++) {
        if (a.json) fputs(i ? ", [" : "[", stdout);
        for (size_t j = 0; j < nt; j++)
            printf("%s%.9g", j ? (a.json ? ", " : " ") : "", lg[i * nt + j]);
        fputs(a.json ? "]" : "\n", stdout);
    }
    if (a.json) fputs("]}\n", stdout);
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
done:
    free(img);
    free(txt);
    free(lg);
    npy_free(&px);
    npy_free(&tk);
    oclip_model_free(m);
    return rc;
}
