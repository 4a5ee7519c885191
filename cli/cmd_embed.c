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

#include "cli.h"
#include "text.h"
#include "embed.h"
#include "npy.h"
#include "npy_read.h"
#include "progress.h"

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
    MAX_PIXELS_OPTION
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
    MAX_PIXELS_OPTION    "\n"
    "examples:\n"
    "  oclip similarity --images cat.jpg dog.png --texts \"a cat\" \"a dog\"\n"
    "  oclip similarity -m model.safetensors --images a.jpg --texts \"x\" \"y\" --json\n"
    "\n" MODEL_OPTIONS;


int embed_oom(const char *cmd) {
    fprintf(stderr, "oclip: %s: out of memory\n", cmd);
    return EXIT_FAIL;
}

static int parse_int(const char *cmd, const char *opt, const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < 1 || x > 1 << 20) {
        fprintf(stderr, "oclip %s: %s '%s': expected an integer from 1 to %d\n"
                "hint: run 'oclip %s --help'\n", cmd, opt, cli_esc(v), 1 << 20, cmd);
        return EXIT_USAGE;
    }
    *out = (int)x;
    return 0;
}

/* Parses the shared options; returns -1 to go on, or an exit code (help: 0, usage: 2). */
int embed_parse(int argc, char **argv, const char *help, embed_args *a) {
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
        } else if (!strcmp(o, "--max-pixels") && strcmp(a->cmd, "embed-text")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            const char *v = argv[++i];
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end || x == 0 || v[0] == '-')
                return usage_error(a->cmd, "--max-pixels '%s': expected a positive count", v);
            a->max_pixels = x;
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
                if (prompt_add(l, argv[i + 1], strlen(argv[i + 1]))) return embed_oom(a->cmd);
                i++, n++;
            }
            if (!n) return usage_error(a->cmd, "%s needs at least one value", o);
        } else if (!strcmp(o, "-f") || !strcmp(o, "--file")) {
            if (i + 1 >= argc) return usage_error(a->cmd, "%s needs a value", o);
            int rc = prompt_add_file(&a->texts, a->cmd, argv[++i]);
            if (rc) return rc;
        } else if (o[0] == '-' && o[1]) {
            return cli_unknown_option(a->cmd, o, help);
        } else if (a->image_args) {
            if (prompt_add(&a->images, o, strlen(o))) return embed_oom(a->cmd);
        } else if (a->text_args) {
            if (prompt_add(&a->texts, o, strlen(o))) return embed_oom(a->cmd);
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
int embed_load_model(const embed_args *a, oclip_model **m) {
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
    cli_simd_warning();
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
            fprintf(stderr, "oclip: %s: %s\n", a->cmd, cli_esc_msg(err.msg));
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

/* Decoded images into out [n, E]: oclip_encode_images, or with --max-pixels the same steps
 * (oclip_preprocess with the model's settings, oclip_encode_image) with the resize target
 * limited too. */
static int encode_decoded(const embed_args *a, const oclip_model *m,
                          const oclip_image *const *img, size_t n, float *out, oclip_error *err) {
    if (!a->max_pixels) return oclip_encode_images(m, img, n, out, a->normalize, err) != OCLIP_OK;
    oclip_preprocess_cfg cfg = *oclip_model_preprocess(m);
    cfg.max_pixels = a->max_pixels;
    size_t px = 3 * (size_t)cfg.size[0] * (size_t)cfg.size[1];
    size_t E = (size_t)oclip_model_embed_dim(m);
    float *buf = malloc(px * sizeof *buf);
    if (!buf) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = oclip_preprocess(img[i], &cfg, buf, err) != OCLIP_OK ||
              oclip_encode_image(m, buf, 1, out + i * E, a->normalize, err) != OCLIP_OK;
    free(buf);
    return bad;
}

/* Image files: each decoded with --max-pixels and encoded (embed_inputs with --max-pixels). */
static int embed_image_files(const embed_args *a, const oclip_model *m, const prompt_list *l,
                             float *out) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_image_options opt;
    oclip_image_options_default(&opt);
    opt.max_pixels = a->max_pixels;
    cli_progress pg;
    cli_progress_start(&pg, "images", l->n, 0);
    oclip_error err;
    for (size_t i = 0; i < l->n; i++) {
        oclip_image *img = NULL;
        const char *path = l->p[i].s;
        int bad = oclip_image_load(path, &opt, &img, &err) != OCLIP_OK;
        if (!bad) bad = encode_decoded(a, m, (const oclip_image *const *)&img, 1, out + i * E, &err);
        oclip_image_free(img);
        if (bad) {
            fprintf(stderr, "%soclip: %s: %s%s%s%s\n", pg.drawn && pg.tty ? "\n" : "", a->cmd,
                    strstr(err.msg, path) ? "" : "'", strstr(err.msg, path) ? "" : cli_esc(path),
                    strstr(err.msg, path) ? "" : "': ", cli_esc_msg(err.msg));
            return EXIT_FAIL;
        }
        cli_progress_update(&pg, i + 1);
    }
    cli_progress_end(&pg);
    return 0;
}

/* Image files, one of them '-' (standard input): decoded here and encoded together. */
static int embed_image_stream(const embed_args *a, const oclip_model *m, const prompt_list *l,
                              float **out) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    oclip_image **img = calloc(l->n, sizeof *img);
    *out = malloc(l->n * E * sizeof(float));
    int rc = img && *out ? 0 : embed_oom(a->cmd);
    oclip_error err;
    oclip_image_options opt;
    oclip_image_options_default(&opt);
    if (a->max_pixels) opt.max_pixels = a->max_pixels;
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
            s = oclip_image_decode(data, len, "<stdin>", &opt, &img[i], &err);
            free(data);
        } else {
            s = oclip_image_load(l->p[i].s, &opt, &img[i], &err);
        }
        if (s != OCLIP_OK) {
            fprintf(stderr, "oclip: %s: %s\n", a->cmd, cli_esc_msg(err.msg));
            rc = EXIT_FAIL;
        }
    }
    if (!rc && encode_decoded(a, m, (const oclip_image *const *)img, l->n, *out, &err)) {
        fprintf(stderr, "oclip: %s: %s\n", a->cmd, cli_esc_msg(err.msg));
        rc = EXIT_FAIL;
    }
    for (size_t i = 0; img && i < l->n; i++) oclip_image_free(img[i]);
    free(img);
    return rc;
}

/* Embeddings of the images (files, or --pixels) or texts (prompts, or --tokens) into a new
 * buffer *out [*n, E]. Returns 0 or an exit code after printing. */
int embed_inputs(const embed_args *a, const oclip_model *m, int image, float **out,
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
        rc = *out ? embed(a, m, image, in.data, *n, *out) : embed_oom(a->cmd);
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
        if (a->max_pixels) {
            *out = malloc(l->n * E * sizeof(float));
            return *out ? embed_image_files(a, m, l, *out) : embed_oom(a->cmd);
        }
    }
    const char **items = malloc(l->n * sizeof *items);
    size_t *lens = malloc(l->n * sizeof *lens);
    *out = malloc(l->n * E * sizeof(float));
    int rc = 0;
    if (!items || !lens || !*out) {
        rc = embed_oom(a->cmd);
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
                        cli_esc_msg(err.msg));
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

void embed_free_args(embed_args *a) {
    prompt_list_free(&a->images);
    prompt_list_free(&a->texts);
}

/* embed-image and embed-text */
static int cmd_embed(int argc, char **argv, int image) {
    embed_args a = {.cmd = image ? "embed-image" : "embed-text", .normalize = 1,
                    .image_args = image, .text_args = !image};
    int rc = embed_parse(argc, argv, image ? embed_image_help : embed_text_help, &a);
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
    if ((rc = embed_load_model(&a, &m))) goto done;
    float *out = NULL;
    size_t n = 0;
    rc = embed_inputs(&a, m, image, &out, &n);
    if (!rc) rc = write_npy(a.cmd, a.output, out, n, (size_t)oclip_model_embed_dim(m));
    free(out);
    oclip_model_free(m);
done:
    embed_free_args(&a);
    return rc;
}

int cmd_embed_image(int argc, char **argv) { return cmd_embed(argc, argv, 1); }
int cmd_embed_text(int argc, char **argv) { return cmd_embed(argc, argv, 0); }

int cmd_similarity(int argc, char **argv) {
    embed_args a = {.cmd = "similarity", .normalize = 1};
    int rc = embed_parse(argc, argv, similarity_help, &a);
    if (rc >= 0) {
        embed_free_args(&a);
        return rc;
    }
    oclip_model *m = NULL;
    float *img = NULL, *txt = NULL, *lg = NULL;
    size_t ni = 0, nt = 0;
    if ((rc = embed_load_model(&a, &m)) || (rc = embed_inputs(&a, m, 1, &img, &ni)) ||
        (rc = embed_inputs(&a, m, 0, &txt, &nt)))
        goto done;
    lg = malloc((ni && nt ? ni * nt : 1) * sizeof(float));
    if (!lg) {
        rc = embed_oom(a.cmd);
        goto done;
    }
    oclip_error err;
    if (oclip_logits(m, img, ni, txt, nt, lg, &err) != OCLIP_OK) {
        fprintf(stderr, "oclip: %s: %s\n", a.cmd, cli_esc_msg(err.msg));
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
    embed_free_args(&a);
    return rc;
}
