/*
 * cmd_embed.c — `oclip embed-image`, `oclip embed-text`, `oclip similarity`: embeddings and the
 * logits matrix from image files and prompts (preprocessed and tokenized exactly as OpenCLIP
 * does), or from preprocessed pixels (--pixels X.npy, float32 [N, 3, H, W]) and token ids
 * (--tokens X.npy, int64 [N, ctx]).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "npy.h"
#include "npy_read.h"
#include "progress.h"
#include "clscache.h"

#define MODEL_OPTIONS                                                                            \
    "model selection:\n"                                                                         \
    "  -m, --model SPEC   default: the small demo model embedded in oclip (models/default:\n" \
    "                     shapes and colours, not a real CLIP). Else a checkpoint file\n"    \
    "                     (.bin/.pt/.pth/.safetensors, an .index.json) or a\n"              \
    "                     folder holding one: open_clip_config.json (or an HF config.json)\n"   \
    "                     beside it gives the architecture, else it is inferred from shapes;\n" \
    "                     hf-hub:ORG/NAME[@REV] from the Hugging Face cache ($HF_HUB_CACHE,\n"  \
    "                     $HF_HOME/hub, ~/.cache/huggingface/hub); or ARCH:TAG, a pretrained\n" \
    "                     name such as ViT-B-32:laion2b_s34b_b79k (weights from the cache)\n"  \
    "  --arch NAME        a built-in OpenCLIP config (ViT-B-32, ViT-B-16-quickgelu, ...)\n"        \
    "  --config FILE      an OpenCLIP model config or open_clip_config.json\n"                    \
    "  --quick-gelu, --no-quick-gelu   override the activation\n"                              \
    "  --dtype T          f32 (default: weights as stored, fp32 arithmetic), f16 or bf16:\n"  \
    "                     round the weights at load (bf16 uses AVX512-BF16 dot products where\n" \
    "                     the CPU has them; cosine to f32 >= 0.9999); int8: quantize the\n"     \
    "                     transformer weights per channel, inputs per token (AVX512-VNNI;\n"   \
    "                     accuracy deltas in docs/ENGINE.md)\n"                               \
    "  --threads N        worker threads (default: all cores; results do not depend on it)\n"    \
    "  --batch-size N     inputs per forward pass (default 32; results do not depend on it)\n"  \
    "  -h, --help         this help\n"

static const char embed_image_help[] =
    "usage: oclip embed-image [-m SPEC] (IMAGE... | --pixels X.npy) -o OUT.npy [--no-normalize]\n"
    "                         [options]\n"
    "\n"
    "Image embeddings, float32 [N, E], L2-normalized unless --no-normalize, as OpenCLIP's\n"
    "model.encode_image(preprocess(image), normalize=True).\n"
    "\n"
    "  IMAGE...           image files (PNG, JPEG, BMP, PPM, GIF, WebP, TIFF; '-' = standard\n"
    "                     input), preprocessed as the model's OpenCLIP transform does\n"
    "  --pixels X.npy     or preprocessed images, float32 [N, 3, H, W] (H x W = model size)\n"
    "  -o, --output F     output .npy\n"
    "  --no-normalize     raw projected features\n"
    "\n"
    "examples:\n"
    "  oclip embed-image cat.jpg dog.png -o emb.npy          # the embedded demo model\n"
    "  oclip embed-image -m ViT-B-32:laion2b_s34b_b79k photos/*.jpg -o emb.npy\n"
    "  oclip embed-image -m ./my-model/ --pixels pixels.npy -o emb.npy\n"
    "\n" MODEL_OPTIONS;

static const char embed_text_help[] =
    "usage: oclip embed-text [-m SPEC] (TEXT... | -f FILE | --tokens X.npy) -o OUT.npy\n"
    "                        [--no-normalize] [options]\n"
    "\n"
    "Text embeddings, float32 [N, E], L2-normalized unless --no-normalize, as OpenCLIP's\n"
    "model.encode_text(tokenizer(texts), normalize=True).\n"
    "\n"
    "  TEXT...            prompts, tokenized as OpenCLIP does (see 'oclip tokenize')\n"
    "  -f, --file FILE    prompts from FILE, one per line ('-' = standard input)\n"
    "  --tokens X.npy     or token ids, int64 [N, context_length]\n"
    "  -o, --output F     output .npy\n"
    "  --no-normalize     raw projected features\n"
    "\n"
    "examples:\n"
    "  oclip embed-text \"a photo of a cat\" \"a dog\" -o emb.npy\n"
    "  oclip embed-text -m hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K -f prompts.txt -o t.npy\n"
    "\n" MODEL_OPTIONS;

static const char similarity_help[] =
    "usage: oclip similarity [-m SPEC] (--images IMAGE... | --pixels X.npy)\n"
    "                        (--texts TEXT... | -f FILE | --tokens Y.npy) [--json | -o OUT.npy]\n"
    "                        [options]\n"
    "\n"
    "The logits matrix [N_images, N_texts] = exp(logit_scale) * cosine (+ logit_bias), as\n"
    "OpenCLIP's model.get_logits(images, texts)[0]. Printed one row per image (or as JSON, or\n"
    "written to a .npy file with -o).\n"
    "\n"
    "  --images IMAGE...  image files (the arguments up to the next option)\n"
    "  --texts TEXT...    prompts (the arguments up to the next option)\n"
    "  -f, --file FILE    prompts from FILE, one per line\n"
    "  --pixels X.npy     preprocessed images, float32 [N, 3, H, W]\n"
    "  --tokens Y.npy     token ids, int64 [M, context_length]\n"
    "  --json             print {\"logits\": [[...], ...]}\n"
    "  -o, --output F     write float32 [N, M] to a .npy file instead of printing\n"
    "\n"
    "examples:\n"
    "  oclip similarity --images cat.jpg dog.png --texts \"a cat\" \"a dog\"\n"
    "  oclip similarity -m model.safetensors --images a.jpg --texts \"x\" \"y\" --json\n"
    "\n" MODEL_OPTIONS;

typedef struct {
    const char *cmd, *pixels, *tokens, *output;
    cli_model model; /* -m, --arch, --config, --quick-gelu */
    int threads, batch, normalize, json;
    prompt_list images, texts; /* file names and prompts */
    int image_args, text_args; /* positional arguments are images / texts */
    const char *labels, *labels_file, *templates; /* classify */
    int top, no_cache;
    oclip_dtype weight_dtype; /* --dtype */
} embed_args;

static int oom(const char *cmd) {
    fprintf(stderr, "oclip: %s: out of memory\n", cmd);
    return EXIT_FAIL;
}

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
        int took = cli_model_option(a->cmd, argc, argv, &i, 1, &a->model);
        if (took < 0) return EXIT_USAGE;
        if (took) continue;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(o, "--no-normalize")) {
            a->normalize = 0;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
        } else if (!strcmp(o, "--pixels")) {
            slot = &a->pixels;
        } else if (!strcmp(o, "--tokens")) {
            slot = &a->tokens;
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            slot = &a->output;
        } else if (!strcmp(a->cmd, "classify") &&
                   (!strcmp(o, "--labels") || !strcmp(o, "--labels-file") ||
                    !strcmp(o, "--templates"))) {
            slot = !strcmp(o, "--labels") ? &a->labels
                   : !strcmp(o, "--labels-file") ? &a->labels_file : &a->templates;
        } else if (!strcmp(a->cmd, "classify") && !strcmp(o, "--no-cache")) {
            a->no_cache = 1;
        } else if (!strcmp(a->cmd, "classify") && !strcmp(o, "--top")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            int rc = parse_int(a->cmd, o, argv[++i], &a->top);
            if (rc) return rc;
        } else if (!strcmp(o, "--dtype")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            const char *v = argv[++i];
            if (!strcmp(v, "f32")) a->weight_dtype = OCLIP_DTYPE_F32;
            else if (!strcmp(v, "f16")) a->weight_dtype = OCLIP_DTYPE_F16;
            else if (!strcmp(v, "bf16")) a->weight_dtype = OCLIP_DTYPE_BF16;
            else if (!strcmp(v, "int8")) a->weight_dtype = OCLIP_DTYPE_I8;
            else return usage_error(a->cmd, "--dtype '%s': use f32, f16, bf16 or int8", v);
        } else if (!strcmp(o, "--threads") || !strcmp(o, "--batch-size")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            int rc = parse_int(a->cmd, o, argv[++i], !strcmp(o, "--threads") ? &a->threads
                                                                             : &a->batch);
            if (rc) return rc;
        } else if (!strcmp(o, "--images") || !strcmp(o, "--texts")) {
            /* the arguments up to the next option ("-" alone is an argument) */
            prompt_list *l = o[2] == 'i' ? &a->images : &a->texts;
            int n = 0;
            while (i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1])) {
                if (prompt_add(l, argv[i + 1], strlen(argv[i + 1]))) return oom(a->cmd);
                i++, n++;
            }
            if (!n) return usage_error(a->cmd, "%s needs at least one value", o);
        } else if (!strcmp(o, "-f") || !strcmp(o, "--file")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            int rc = prompt_add_file(&a->texts, a->cmd, argv[++i]);
            if (rc) return rc;
        } else if (o[0] == '-' && o[1]) {
            return usage_error(a->cmd, "unknown option '%s'", o);
        } else if (a->image_args) {
            if (prompt_add(&a->images, o, strlen(o))) return oom(a->cmd);
        } else if (a->text_args) {
            if (prompt_add(&a->texts, o, strlen(o))) return oom(a->cmd);
        } else {
            return usage_error(a->cmd, "unexpected argument '%s' (use --images / --texts)", o);
        }
        if (slot) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            *slot = argv[++i];
        }
    }
    if (!a->model.spec && (a->model.arch || a->model.config))
        return usage_error(a->cmd, "%s", "--arch and --config apply to a checkpoint given with -m");
    if (a->model.arch && a->model.config)
        return usage_error(a->cmd, "%s", "--arch and --config exclude each other");
    return -1;
}

/* The model -m names (downloaded when it is not in the cache, unless HF_HUB_OFFLINE=1), with
 * the notes and warnings of where it came from. */
static int load_model(const embed_args *a, oclip_model **m) {
    cli_download d;
    oclip_pull_options po;
    oclip_source_options so;
    cli_source_options(&a->model, 0, OCLIP_FETCH_MISSING, &po, &d, &so);
    oclip_model_options opt = {.threads = a->threads, .weight_dtype = a->weight_dtype,
                               .source = &so};
    oclip_error err;
    oclip_status s = oclip_model_load(a->model.spec, &opt, m, &err);
    cli_download_end(&d);
    if (s != OCLIP_OK) {
        print_error(&err);
        return EXIT_FAIL;
    }
    cli_print_source(oclip_model_source_of(*m));
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

/* Image files, one of them '-' (standard input): decoded here and encoded together. */
static int embed_image_stream(const embed_args *a, const oclip_model *m, const prompt_list *l,
                              float **out) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_image **img = calloc(l->n, sizeof *img);
    *out = malloc(l->n * E * sizeof(float));
    int rc = img && *out ? 0 : oom(a->cmd);
    oclip_error err;
    for (size_t i = 0; i < l->n && !rc; i++) {
        oclip_status s;
        if (!strcmp(l->p[i].s, "-")) {
            size_t len = 0;
            char *data = read_stream(stdin, &len);
            if (!data) {
                fprintf(stderr, "oclip: %s: cannot read standard input: %s\n", a->cmd,
                        strerror(errno));
                rc = EXIT_FAIL;
                break;
            }
            s = oclip_image_decode(data, len, "<stdin>", NULL, &img[i], &err);
            free(data);
        } else {
            s = oclip_image_load(l->p[i].s, NULL, &img[i], &err);
        }
        if (s != OCLIP_OK) {
            fprintf(stderr, "oclip: %s: %s\n", a->cmd, err.msg);
            rc = EXIT_FAIL;
        }
    }
    if (!rc && oclip_encode_images(m, (const struct oclip_image *const *)img, l->n, *out,
                                   a->normalize, &err) != OCLIP_OK) {
        fprintf(stderr, "oclip: %s: %s\n", a->cmd, err.msg);
        rc = EXIT_FAIL;
    }
    for (size_t i = 0; img && i < l->n; i++) oclip_image_free(img[i]);
    free(img);
    return rc;
}

/* Embeddings of the images (files, or --pixels) or texts (prompts, or --tokens) into a new
 * buffer *out [*n, E]. Returns 0 or an exit code after printing. */
static int embed_inputs(const embed_args *a, const oclip_model *m, int image, float **out,
                        size_t *n) {
    const prompt_list *l = image ? &a->images : &a->texts;
    const char *npy = image ? a->pixels : a->tokens;
    *out = NULL;
    if (npy && l->n)
        return usage_error(a->cmd, "%s", image ? "give image files or --pixels, not both"
                                               : "give prompts or --tokens, not both");
    if (!npy && !l->n)
        return usage_error(a->cmd, "%s", image ? "no images: give IMAGE files or --pixels X.npy"
                                               : "no text: give TEXT, -f FILE or --tokens X.npy");
    size_t E = (size_t)oclip_model_embed_dim(m);
    if (npy) {
        npy_array in;
        int rc = image ? read_pixels(a->cmd, npy, m, &in) : read_tokens(a->cmd, npy, m, &in);
        if (rc) return rc;
        *n = (size_t)in.shape[0];
        *out = malloc((*n ? *n : 1) * E * sizeof(float));
        rc = *out ? embed(a, m, image, in.data, *n, *out) : oom(a->cmd);
        npy_free(&in);
        return rc;
    }
    *n = l->n;
    if (image) {
        /* '-' is standard input (once): decode the images here, then oclip_encode_images */
        size_t n_stdin = 0;
        for (size_t i = 0; i < l->n; i++) n_stdin += !strcmp(l->p[i].s, "-");
        if (n_stdin > 1) return usage_error(a->cmd, "%s", "'-' (standard input) can be given once");
        if (n_stdin) return embed_image_stream(a, m, l, out);
    }
    const char **items = malloc(l->n * sizeof *items);
    size_t *lens = malloc(l->n * sizeof *lens);
    *out = malloc(l->n * E * sizeof(float));
    int rc = 0;
    if (!items || !lens || !*out) {
        rc = oom(a->cmd);
    } else {
        for (size_t i = 0; i < l->n; i++) items[i] = l->p[i].s, lens[i] = l->p[i].len;
        /* batch by batch (the results do not depend on the batch), with a progress bar */
        size_t batch = (size_t)(a->batch ? a->batch : 32);
        cli_progress pg;
        cli_progress_start(&pg, image ? "images" : "texts", l->n, 0);
        oclip_error err;
        for (size_t i = 0; i < l->n && !rc; i += batch) {
            size_t k = l->n - i < batch ? l->n - i : batch;
            oclip_status s =
                image ? oclip_encode_image_files(m, items + i, k, *out + i * E, a->normalize, &err)
                      : oclip_encode_text_strings(m, items + i, lens + i, k, *out + i * E,
                                                  a->normalize, &err);
            if (s != OCLIP_OK) {
                fprintf(stderr, "%soclip: %s: %s\n", pg.drawn && pg.tty ? "\n" : "", a->cmd,
                        err.msg);
                rc = EXIT_FAIL;
            }
            cli_progress_update(&pg, i + k);
        }
        if (!rc) cli_progress_end(&pg);
    }
    free(items);
    free(lens);
    return rc;
}

static void free_args(embed_args *a) {
    prompt_list_free(&a->images);
    prompt_list_free(&a->texts);
}

/* embed-image and embed-text */
static int cmd_embed(int argc, char **argv, int image) {
    embed_args a = {.cmd = image ? "embed-image" : "embed-text", .normalize = 1,
                    .image_args = image, .text_args = !image};
    int rc = parse(argc, argv, image ? embed_image_help : embed_text_help, &a);
    if (rc >= 0) goto done;
    rc = 0;
    if (image ? (a.tokens != NULL || a.texts.n) : (a.pixels != NULL || a.images.n)) {
        rc = usage_error(a.cmd, "%s", image ? "texts belong to embed-text"
                                            : "images belong to embed-image");
        goto done;
    }
    if (!a.output) rc = usage_error(a.cmd, "%s", "missing -o OUT.npy");
    else if (a.json) rc = usage_error(a.cmd, "%s", "--json is for similarity");
    if (rc) goto done;
    oclip_model *m = NULL;
    if ((rc = load_model(&a, &m))) goto done;
    float *out = NULL;
    size_t n = 0;
    rc = embed_inputs(&a, m, image, &out, &n);
    if (!rc) rc = write_npy(a.cmd, a.output, out, n, (size_t)oclip_model_embed_dim(m));
    free(out);
    oclip_model_free(m);
done:
    free_args(&a);
    return rc;
}

int cmd_embed_image(int argc, char **argv) { return cmd_embed(argc, argv, 1); }
int cmd_embed_text(int argc, char **argv) { return cmd_embed(argc, argv, 0); }

int cmd_similarity(int argc, char **argv) {
    embed_args a = {.cmd = "similarity", .normalize = 1};
    int rc = parse(argc, argv, similarity_help, &a);
    if (rc >= 0) {
        free_args(&a);
        return rc;
    }
    oclip_model *m = NULL;
    float *img = NULL, *txt = NULL, *lg = NULL;
    size_t ni = 0, nt = 0;
    if ((rc = load_model(&a, &m)) || (rc = embed_inputs(&a, m, 1, &img, &ni)) ||
        (rc = embed_inputs(&a, m, 0, &txt, &nt)))
        goto done;
    lg = malloc((ni && nt ? ni * nt : 1) * sizeof(float));
    if (!lg) {
        rc = oom(a.cmd);
        goto done;
    }
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
    oclip_model_free(m);
    free_args(&a);
    return rc;
}

/* =============================================================================================
 * classify
 */
static const char classify_help[] =
    "usage: oclip classify [-m SPEC] IMAGE... (--labels \"a,b,c\" | --labels-file F)\n"
    "                      [--templates imagenet|simple|none|FILE] [--top K] [--json]\n"
    "\n"
    "Zero-shot classification as OpenCLIP does it: each label is put into every template,\n"
    "the template embeddings are normalized, averaged and renormalized into one class\n"
    "embedding; each image's probabilities are softmax(exp(logit_scale) * cosine).\n"
    "\n"
    "  IMAGE...              image files (see 'oclip preprocess')\n"
    "  --labels \"a,b,c\"     the class names, comma-separated\n"
    "  --labels-file F       the class names, one per line\n"
    "  --templates T         imagenet: OpenCLIP's 80 ImageNet templates (default); simple: its\n"
    "                        7; none: the label alone; or a file with one template per line,\n"
    "                        each with {} where the label goes\n"
    "  --top K               only the K most probable labels (default: all)\n"
    "  --json                one JSON object per image and line:\n"
    "                        {\"image\": PATH, \"predictions\": [{\"label\": L, \"prob\": P}, ...]}\n"
    "  --no-cache            neither read nor write the class-embedding cache (class embeddings\n"
    "                        are kept per model, labels and templates in $OCLIP_CACHE_DIR, else\n"
    "                        $XDG_CACHE_HOME/oclip, else ~/.cache/oclip, so that repeated runs\n"
    "                        skip the text tower)\n"
    "\n"
    "examples:\n"
    "  oclip classify examples/*.png --labels-file examples/labels.txt   # demo model\n"
    "  oclip classify -m ViT-B-32:laion2b_s34b_b79k cat.jpg --labels \"cat,dog,car\"\n"
    "  oclip classify -m ./model/ photos/*.jpg --labels-file classes.txt --top 5 --json\n"
    "\n" MODEL_OPTIONS;

/* NUL-terminated copies of a prompt list's items (labels and templates from files) */
static char **copy_items(const prompt_list *l) {
    char **v = calloc(l->n ? l->n : 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++) {
        v[i] = malloc(l->p[i].len + 1);
        if (!v[i]) return v; /* caller frees; checked below */
        memcpy(v[i], l->p[i].s, l->p[i].len);
        v[i][l->p[i].len] = '\0';
    }
    return v;
}

static void free_items(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* --labels "a, b,c": split at commas, surrounding spaces trimmed */
static int split_labels(const char *cmd, const char *s, prompt_list *l) {
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (b == e) return usage_error(cmd, "%s", "--labels: an empty label");
        if (prompt_add(l, b, (size_t)(e - b))) return oom(cmd);
        if (!comma) return 0;
        p = comma + 1;
    }
}

typedef struct {
    float prob;
    size_t label;
} ranked;

static int by_prob(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    return a->prob < b->prob ? 1 : a->prob > b->prob ? -1 : (a->label > b->label) - (a->label < b->label);
}

/* The zero-shot classifier w [nl, E]: from the class-embedding cache when it holds these
 * (model, labels, templates), else computed a few labels at a time (each class embedding is
 * computed on its own, so chunks change nothing) with a progress bar, then stored. */
static int build_classifier(const embed_args *a, const oclip_model *m, const char *const *lab,
                            size_t nl, const char *const *tpl, size_t ntpl, float *w) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    char fp[33], id[96];
    clscache cc = {0};
    int cached = 0;
    oclip_error err;
    /* the kernels and --dtype change the bytes too: part of the key */
    if (!a->no_cache && oclip_model_fingerprint(m, fp, &err) == OCLIP_OK &&
        snprintf(id, sizeof id, "%s %s %s", fp, oclip_simd_name(),
                 a->weight_dtype ? oclip_dtype_name(a->weight_dtype) : "stored") > 0 &&
        clscache_init(&cc, id, E, lab, nl, tpl, ntpl) == 0)
        cached = clscache_load(&cc, w, nl, E);
    if (cached) {
        clscache_free(&cc);
        return 0;
    }
    cli_progress pg;
    cli_progress_start(&pg, "classes", nl, 0);
    size_t step = ntpl >= 64 ? 1 : 64 / ntpl;
    for (size_t c = 0; c < nl; c += step) {
        size_t k = nl - c < step ? nl - c : step;
        if (oclip_zero_shot_classifier(m, lab + c, k, tpl, ntpl, w + c * E, &err)) {
            fprintf(stderr, "%soclip: classify: %s\n", pg.drawn && pg.tty ? "\n" : "", err.msg);
            clscache_free(&cc);
            return EXIT_FAIL;
        }
        cli_progress_update(&pg, c + k);
    }
    cli_progress_end(&pg);
    if (!a->no_cache) clscache_store(&cc, w, nl, E);
    clscache_free(&cc);
    return 0;
}

int cmd_classify(int argc, char **argv) {
    embed_args a = {.cmd = "classify", .normalize = 1, .image_args = 1};
    prompt_list labels = {0}, tpl_list = {0};
    char **lab = NULL, **tpl_own = NULL;
    float *img = NULL, *w = NULL, *pr = NULL;
    ranked *rk = NULL;
    oclip_model *m = NULL;
    int rc = parse(argc, argv, classify_help, &a);
    if (rc >= 0) goto done;
    rc = 0;
    if (!a.images.n) {
        rc = usage_error(a.cmd, "%s", "no images: give IMAGE files");
        goto done;
    }
    if (!a.labels == !a.labels_file) {
        rc = usage_error(a.cmd, "%s", "give the class names with --labels or --labels-file");
        goto done;
    }
    if (a.labels && (rc = split_labels(a.cmd, a.labels, &labels))) goto done;
    if (a.labels_file && (rc = prompt_add_file(&labels, a.cmd, a.labels_file))) goto done;
    for (size_t i = 0; i < labels.n; i++)
        if (labels.p[i].len == 0) {
            fprintf(stderr, "oclip: classify: label %zu is empty%s%s\n", i + 1,
                    a.labels_file ? " in " : "", a.labels_file ? a.labels_file : "");
            rc = EXIT_USAGE;
            goto done;
        }
    if (!labels.n) {
        rc = usage_error(a.cmd, "%s", "the label list is empty");
        goto done;
    }
    /* templates */
    const char *const *tpl;
    static const char *const none[] = {"{}"};
    const char *set = a.templates ? a.templates : "imagenet";
    size_t ntpl = oclip_zero_shot_templates(set, &tpl);
    if (!ntpl && !strcmp(set, "none")) {
        tpl = none;
        ntpl = 1;
    } else if (!ntpl) {
        if ((rc = prompt_add_file(&tpl_list, a.cmd, set))) goto done;
        if (!(tpl_own = copy_items(&tpl_list))) {
            rc = oom(a.cmd);
            goto done;
        }
        for (size_t i = 0; i < tpl_list.n; i++) {
            if (!tpl_own[i]) {
                rc = oom(a.cmd);
                goto done;
            }
            if (!strstr(tpl_own[i], "{}")) {
                fprintf(stderr, "oclip: classify: template file '%s', line %zu: no {} for the "
                                "label\n", set, i + 1);
                rc = EXIT_FAIL;
                goto done;
            }
        }
        tpl = (const char *const *)tpl_own;
        ntpl = tpl_list.n;
        if (!ntpl) {
            rc = usage_error(a.cmd, "%s", "--templates: the template file is empty");
            goto done;
        }
    }
    if (!(lab = copy_items(&labels))) {
        rc = oom(a.cmd);
        goto done;
    }
    for (size_t i = 0; i < labels.n; i++)
        if (!lab[i]) {
            rc = oom(a.cmd);
            goto done;
        }
    if ((rc = load_model(&a, &m))) goto done;
    size_t ni = 0, nl = labels.n, E = (size_t)oclip_model_embed_dim(m);
    if ((rc = embed_inputs(&a, m, 1, &img, &ni))) goto done;
    w = malloc(nl * E * sizeof *w);
    pr = malloc(ni * nl * sizeof *pr);
    rk = malloc(nl * sizeof *rk);
    if (!w || !pr || !rk) {
        rc = oom(a.cmd);
        goto done;
    }
    if ((rc = build_classifier(&a, m, (const char *const *)lab, nl, tpl, ntpl, w))) goto done;
    oclip_error err;
    if (oclip_zero_shot_probs(m, img, ni, w, nl, pr, &err)) {
        fprintf(stderr, "oclip: classify: %s\n", err.msg);
        rc = EXIT_FAIL;
        goto done;
    }
    size_t top = a.top && (size_t)a.top < nl ? (size_t)a.top : nl;
    for (size_t i = 0; i < ni; i++) {
        for (size_t c = 0; c < nl; c++) rk[c] = (ranked){pr[i * nl + c], c};
        qsort(rk, nl, sizeof *rk, by_prob);
        const char *path = a.images.p[i].s;
        if (a.json) {
            cJSON *o = cJSON_CreateObject(), *ps = NULL;
            cJSON_AddStringToObject(o, "image", path);
            ps = cJSON_AddArrayToObject(o, "predictions");
            for (size_t k = 0; k < top; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "label", lab[rk[k].label]);
                cJSON_AddNumberToObject(e, "prob", rk[k].prob);
                cJSON_AddItemToArray(ps, e);
            }
            char *t = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!t) {
                rc = oom(a.cmd);
                goto done;
            }
            puts(t);
            cJSON_free(t);
        } else {
            printf("%s\n", path);
            for (size_t k = 0; k < top; k++)
                printf("  %6.2f%%  %s\n", 100.0 * rk[k].prob, lab[rk[k].label]);
        }
    }
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
done:
    free(img);
    free(w);
    free(pr);
    free(rk);
    free_items(lab, labels.n);
    free_items(tpl_own, tpl_list.n);
    prompt_list_free(&labels);
    prompt_list_free(&tpl_list);
    oclip_model_free(m);
    free_args(&a);
    return rc;
}
