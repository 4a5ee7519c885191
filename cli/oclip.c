/*
 * oclip.c — the command-line program. The only code that prints or exits.
 *
 * Exit codes: 0 success; 1 the work failed (bad file, mismatch ...); 2 usage error.
 * Errors: "oclip: <what>: <why>" on stderr, then "hint: ..." where one helps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "text.h"
#include "npy.h"
#include "oclip.h"


/* =============================================================================================
 * inspect
 */
static const char inspect_help[] =
    "usage: oclip inspect SPEC [--json] [--tensors] [--dump NAME -o OUT.npy]\n"
    "\n"
    "Reads a checkpoint and reports what it is, without converting any weights:\n"
    "container, key layout, training-checkpoint wrapper, stripped prefix, tensor and\n"
    "parameter counts, dtypes, the entries the file stores besides the tensors, and its\n"
    "architecture (from open_clip_config.json / config.json beside it, the file's own\n"
    "metadata, else inferred), with a warning when it had to be guessed.\n"
    "\n"
    "SPEC   a .bin/.pt/.pth (torch.save or TorchScript), .safetensors, a\n"
    "       model.safetensors.index.json for sharded weights, a folder holding one,\n"
    "       hf-hub:ORG/NAME[@REV], ARCH:TAG (downloaded when not in the cache), or\n"
    "       default (the model embedded in oclip)\n"
    "\n"
    "  --json           print one JSON object (fields documented in README.md)\n"
    "  --tensors        also list every tensor (name, dtype, shape)\n"
    "  --dump NAME      write tensor NAME to the .npy file given by -o\n"
    "                   (BF16 is written as float32, exactly; F8 cannot be dumped)\n"
    "  -o, --output F   output file for --dump\n"
    "  -h, --help       this help\n"
    "\n"
    "examples:\n"
    "  oclip inspect open_clip_pytorch_model.bin\n"
    "  oclip inspect --json --tensors model.safetensors\n"
    "  oclip inspect model.safetensors --dump visual.proj -o proj.npy\n";

/* Where the settings a model runs with come from (the source, checked): the activation (the
 * config, or an override) and the preprocessing. */
static void print_settings(const oclip_source *src, oclip_quick_gelu quick) {
    const oclip_model_config *c = oclip_source_config(src);
    const oclip_preprocess_cfg *pre = oclip_source_preprocess(src);
    const char *origin = oclip_source_config_origin(src);
    const char *pre_origin = oclip_source_preprocess_origin(src);
    int inferred = !strncmp(origin, "inferred", 8);
    /* the activation the config selects: QuickGELU or GELU (exact or tanh) for the native towers;
     * a timm tower's is its own (its act_layer), ModifiedResNet's ReLU */
    const char *gelu = c->quick_gelu ? "QuickGELU"
                       : !strcmp(c->text.act_approximate, "tanh") ? "GELU (tanh approximation)"
                                                                  : "exact GELU";
    char act[200];
    if (c->family == OCLIP_FAMILY_TIMM)
        snprintf(act, sizeof act, "text %s, image tower timm's %s", gelu,
                 c->vision.timm_model_name);
    else if (c->family == OCLIP_FAMILY_RESNET)
        snprintf(act, sizeof act, "text %s, image tower ReLU (ModifiedResNet)", gelu);
    else if (strcmp(c->vision.act_approximate, c->text.act_approximate))
        snprintf(act, sizeof act, "text %s, image %s", gelu,
                 c->quick_gelu ? "QuickGELU"
                 : !strcmp(c->vision.act_approximate, "tanh") ? "GELU (tanh approximation)"
                                                               : "exact GELU");
    else
        snprintf(act, sizeof act, "%s", gelu);
    printf("activation:    %s (%s%s)\n", cli_esc(act),
           quick != OCLIP_QUICK_GELU_UNSET
               ? (quick == OCLIP_QUICK_GELU_ON ? "--quick-gelu" : "--no-quick-gelu")
           : inferred ? "inferred architecture: OpenCLIP's default"
                      : "from ",
           quick == OCLIP_QUICK_GELU_UNSET && !inferred ? cli_esc(origin) : "");
    printf("preprocess:    %dx%d, %s, resize %s, mean (%.4g, %.4g, %.4g), std (%.4g, %.4g, %.4g) "
           "(from %s)\n", pre->size[0], pre->size[1], pre->interpolation, pre->resize_mode,
           pre->mean[0], pre->mean[1], pre->mean[2], pre->std[0], pre->std[1], pre->std[2],
           pre_origin[0] ? cli_esc(pre_origin) : "OpenCLIP's defaults: no tag or open_clip_config.json");
}

/* What the report says of where its checkpoint came from: the file, or the embedded model. */
static const char *source_label(const oclip_source *src) {
    return oclip_source_kind_of(src) == OCLIP_SOURCE_EMBEDDED ? "default model (embedded)"
                                                              : oclip_source_path(src);
}

static void fmt_thousands(uint64_t v, char *buf, size_t size) {
    char raw[32];
    snprintf(raw, sizeof raw, "%llu", (unsigned long long)v);
    size_t n = strlen(raw), k = 0;
    for (size_t i = 0; i < n && k + 2 < size; i++) {
        if (i && (n - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
}

static void fmt_shape(const oclip_tensor *t, char *buf, size_t size) {
    int k = snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && k > 0 && (size_t)k < size; i++)
        k += snprintf(buf + k, size - (size_t)k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
}

typedef struct {
    uint64_t params;
    uint64_t by_dtype[OCLIP_DTYPE_COUNT];
} stats;

static stats compute_stats(const oclip_checkpoint *ck) {
    stats s = {0};
    for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        s.params += t->numel;
        s.by_dtype[t->dtype]++;
    }
    return s;
}

/* The architecture of an inspected checkpoint (the source's, checked); *r is NULL (and why[]
 * says why) when none could be determined. */
typedef struct {
    oclip_source *src;
    oclip_report *r;
    char why[OCLIP_ERROR_MSG_SIZE];
} inspect_arch;

static void find_arch(inspect_arch *ia) {
    ia->r = NULL;
    ia->why[0] = '\0';
    oclip_error err;
    if (oclip_source_check(ia->src, 0, &ia->r, &err) != OCLIP_OK) {
        snprintf(ia->why, sizeof ia->why, "%s", err.msg);
        ia->r = NULL;
    }
}

/* The report as the library writes it (oclip_inspect_json), on one line. */
static int inspect_json(const inspect_arch *ia, int list) {
    char *text = oclip_inspect_json(ia->src, ia->r, ia->why, list);
    if (!text) {
        fprintf(stderr, "oclip: inspect: out of memory\n");
        return EXIT_FAIL;
    }
    puts(text);
    oclip_free(text);
    return 0;
}

static int inspect_text(const char *path, const oclip_checkpoint *ck, int list,
                        const inspect_arch *ia) {
    stats s = compute_stats(ck);
    char buf[64];
    printf("path:          %s\n", cli_esc(path));
    printf("container:     %s\n", oclip_container_name(oclip_checkpoint_container(ck)));
    printf("layout:        %s\n", oclip_layout_name(oclip_checkpoint_layout(ck)));
    if (oclip_checkpoint_is_training(ck))
        printf("wrapper:       training checkpoint (its state_dict is used)\n");
    if (oclip_checkpoint_prefix_stripped(ck))
        printf("prefix:        '%s' stripped from every name\n",
               cli_esc(oclip_checkpoint_prefix_stripped(ck)));
    printf("tensors:       %zu\n", oclip_checkpoint_n_tensors(ck));
    fmt_thousands(s.params, buf, sizeof buf);
    printf("parameters:    %s\n", buf);
    printf("dtypes:       ");
    for (int d = 0; d < OCLIP_DTYPE_COUNT; d++)
        if (s.by_dtype[d])
            printf(" %s %llu", oclip_dtype_name((oclip_dtype)d), (unsigned long long)s.by_dtype[d]);
    printf("\n");
    const char *k, *v;
    for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
        printf("%s %-13s %s\n", i ? "              " : "entries:     ", cli_esc(k), cli_esc_msg(v));
    if (ia->r) {
        const oclip_model_config *c = oclip_report_config(ia->r);
        const char *src = oclip_report_config_source(ia->r);
        printf("architecture:  %s (%s%s; %s)\n", c->name[0] ? cli_esc(c->name) : "no built-in name",
               strcmp(src, "inferred") ? "from " : "inferred from the tensor shapes",
               strcmp(src, "inferred") ? cli_esc(src) : "",
               oclip_report_ok(ia->r) ? "the tensors fit it"
                                      : "the tensors do not fit it: run 'oclip check'");
        for (size_t i = 0; i < oclip_report_n_notes(ia->r); i++)
            printf("               %s\n", cli_esc_msg(oclip_report_note(ia->r, i)));
        for (size_t i = 0; i < oclip_source_n_warnings(ia->src); i++)
            printf("warning:       %s\n", cli_esc_msg(oclip_source_warning(ia->src, i)));
        print_settings(ia->src, OCLIP_QUICK_GELU_UNSET);
    } else {
        printf("architecture:  unknown (%s)\n", cli_esc_msg(ia->why));
    }
    if (list) {
        for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++) {
            const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
            char shape[160];
            fmt_shape(t, shape, sizeof shape);
            printf("  %-60s %-5s %s\n", cli_esc(t->name), oclip_dtype_name(t->dtype), shape);
        }
    }
    return 0;
}

/* bf16 -> f32 is exact: the bf16 bits are the high half of the f32 bits. */
static int dump_tensor(const oclip_checkpoint *ck, const char *name, const char *out) {
    const oclip_tensor *t = oclip_checkpoint_find(ck, name);
    if (!t) {
        fprintf(stderr, "oclip: inspect: no tensor named '%s'\n", name);
        fprintf(stderr, "hint: 'oclip inspect --tensors PATH' lists the names\n");
        return EXIT_FAIL;
    }
    static const char *const descr[OCLIP_DTYPE_COUNT] = {
        [OCLIP_DTYPE_F32] = "<f4", [OCLIP_DTYPE_F16] = "<f2", [OCLIP_DTYPE_BF16] = "<f4",
        [OCLIP_DTYPE_F64] = "<f8", [OCLIP_DTYPE_I64] = "<i8", [OCLIP_DTYPE_I32] = "<i4",
        [OCLIP_DTYPE_I16] = "<i2", [OCLIP_DTYPE_I8] = "|i1",  [OCLIP_DTYPE_U8] = "|u1",
        [OCLIP_DTYPE_U16] = "<u2", [OCLIP_DTYPE_U32] = "<u4", [OCLIP_DTYPE_U64] = "<u8",
        [OCLIP_DTYPE_BOOL] = "|b1", [OCLIP_DTYPE_C64] = "<c8", [OCLIP_DTYPE_C128] = "<c16",
    };
    if (!descr[t->dtype]) {
        fprintf(stderr, "oclip: inspect: tensor '%s' is %s, which .npy cannot hold\n", name,
                oclip_dtype_name(t->dtype));
        return EXIT_FAIL;
    }
    FILE *f = fopen(out, "wb");
    if (!f) {
        fprintf(stderr, "oclip: inspect: cannot create '%s': %s\n", out, strerror(errno));
        return EXIT_FAIL;
    }
    int bad = npy_write_header(f, descr[t->dtype], t->ndim, t->shape) != 0;
    if (!bad && t->dtype == OCLIP_DTYPE_BF16) {
        const uint8_t *p = t->data;
        for (uint64_t i = 0; i < t->numel && !bad; i++) {
            uint8_t b[4] = {0, 0, p[2 * i], p[2 * i + 1]};
            bad = fwrite(b, 1, 4, f) != 4;
        }
    } else if (!bad && t->nbytes) {
        bad = fwrite(t->data, 1, t->nbytes, f) != t->nbytes;
    }
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        fprintf(stderr, "oclip: inspect: writing '%s' failed: %s\n", out, strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}

static int cmd_inspect(int argc, char **argv) {
    const char *path = NULL, *dump = NULL, *out = NULL;
    int json = 0, list = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(inspect_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--tensors")) {
            list = 1;
        } else if (!strcmp(a, "--dump") || !strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) return usage_error("inspect", "%s needs a value", a);
            if (!strcmp(a, "--dump")) dump = argv[++i];
            else out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("inspect", a, inspect_help);
        } else if (!path) {
            path = a;
        } else {
            return usage_error("inspect", "unexpected argument '%s'", a);
        }
    }
    if (!path) return usage_error("inspect", "%s", "missing SPEC");
    if ((dump != NULL) != (out != NULL))
        return usage_error("inspect", "%s", "--dump NAME and -o OUT.npy go together");
    inspect_arch ia = {0};
    cli_model m = {.spec = path};
    int rc = cli_resolve(&m, 0, OCLIP_FETCH_MISSING, &ia.src);
    if (rc) return rc;
    oclip_error err;
    if (oclip_source_open(ia.src, &err) != OCLIP_OK) {
        print_error(&err);
        oclip_source_free(ia.src);
        return EXIT_FAIL;
    }
    const oclip_checkpoint *ck = oclip_source_checkpoint(ia.src);
    if (dump) {
        rc = dump_tensor(ck, dump, out);
    } else {
        find_arch(&ia);
        path = source_label(ia.src);
        rc = json ? inspect_json(&ia, list) : inspect_text(path, ck, list, &ia);
        oclip_report_free(ia.r);
    }
    oclip_source_free(ia.src);
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
    return rc;
}


/* =============================================================================================
 * check
 */
static const char check_help[] =
    "usage: oclip check SPEC [--arch NAME[:TAG] | --config FILE.json] [--quick-gelu|--no-quick-gelu]\n"
    "                   [--scan] [--json]\n"
    "\n"
    "Validates that a checkpoint loads into an OpenCLIP architecture: every expected key\n"
    "present with the expected shape and a usable dtype, nothing unexpected. Known layouts\n"
    "(HF transformers CLIPModel, OpenAI JIT archives, training checkpoints) are mapped onto\n"
    "OpenCLIP's keys first. Exit 0 with an OK line and the activation and preprocessing the\n"
    "model runs with (and where each comes from), or 1 with the full report.\n"
    "\n"
    "SPEC   a checkpoint file, a model.safetensors.index.json, a folder holding one,\n"
    "       hf-hub:ORG/NAME[@REV], ARCH:TAG (downloaded when not in the cache), or default\n"
    "\n"
    "The architecture comes from --arch / --config, else from what SPEC names (an\n"
    "open_clip_config.json or HF config.json in the folder of the file, the file's own\n"
    "metadata, a pretrained tag's built-in config), else it is inferred from the tensor\n"
    "shapes (with a warning when that is a guess).\n"
    "\n"
    "  --arch NAME[:TAG]  a built-in OpenCLIP config (ViT-B-32, ViT-B-16-quickgelu, ...);\n"
    "                     with a pretrained TAG, its QuickGELU setting is checked too\n"
    "  --config FILE      an OpenCLIP model config or open_clip_config.json\n"
    "  --quick-gelu, --no-quick-gelu   override the activation\n"
    "  --scan             also look for NaN/Inf values\n"
    "  --json             print the report as one JSON object\n"
    "  -h, --help         this help\n"
    "\n"
    "examples:\n"
    "  oclip check open_clip_pytorch_model.bin              # architecture inferred\n"
    "  oclip check epoch_32.pt --arch ViT-B-32               # a training checkpoint\n"
    "  oclip check model.bin --arch ViT-B-16:openai          # the tag checks QuickGELU\n"
    "  oclip check ~/Downloads/clip-vit-base-patch32/        # an HF-transformers folder\n";

static void fmt_dims(int ndim, const int64_t *d, char *buf, size_t size) {
    int k = snprintf(buf, size, "[");
    for (int i = 0; i < ndim && k > 0 && (size_t)k < size; i++)
        k += snprintf(buf + k, size - (size_t)k, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
}

/* "ViT-B-32", or "the architecture from <source>" when the config has no name */
static const char *arch_label(const oclip_report *r, char *buf, size_t size) {
    const oclip_model_config *c = oclip_report_config(r);
    if (c->name[0]) return c->name;
    if (!strcmp(oclip_report_config_source(r), "inferred"))
        snprintf(buf, size, "the architecture inferred from its tensor shapes");
    else
        snprintf(buf, size, "the architecture from %s", oclip_report_config_source(r));
    return buf;
}

/* The report as the library writes it (oclip_report_json), on one line. */
static int check_json(const oclip_source *src, const oclip_report *r) {
    char *text = oclip_report_json(src, r);
    if (!text) {
        fprintf(stderr, "oclip: check: out of memory\n");
        return EXIT_FAIL;
    }
    puts(text);
    oclip_free(text);
    return oclip_report_ok(r) ? 0 : EXIT_FAIL;
}

static int check_text(const char *path, const oclip_source *src, const oclip_checkpoint *ck,
                      const oclip_report *r) {
    size_t counts[5] = {0};
    char label[900];
    for (size_t i = 0; i < oclip_report_n_issues(r); i++) counts[oclip_report_issue(r, i)->kind]++;
    if (oclip_report_ok(r)) {
        const oclip_model_config *c = oclip_report_config(r);
        printf("OK: %s loads into %s (%s layout, %zu tensors, %s%s%s)\n", cli_esc(path),
               cli_esc(arch_label(r, label, sizeof label)), oclip_layout_name(oclip_checkpoint_layout(ck)),
               oclip_checkpoint_n_tensors(oclip_report_mapped(r)),
               c->quick_gelu ? "QuickGELU" : "GELU",
               !c->name[0] ? "" : !strcmp(oclip_report_config_source(r), "inferred")
                                      ? "; inferred from the tensor shapes" : "; from ",
               c->name[0] && strcmp(oclip_report_config_source(r), "inferred")
                   ? oclip_report_config_source(r) : "");
        for (size_t i = 0; i < oclip_report_n_notes(r); i++) {
            const char *n = oclip_report_note(r, i);
            fprintf(stderr, "%s%s\n", strncmp(n, "hint: ", 6) ? "note: " : "", cli_esc_msg(n));
        }
        for (size_t i = 0; i < oclip_source_n_warnings(src); i++)
            fprintf(stderr, "warning: %s\n", cli_esc_msg(oclip_source_warning(src, i)));
        return 0;
    }
    printf("%s does not load into %s\n", cli_esc(path), cli_esc(arch_label(r, label, sizeof label)));
    static const char *const titles[5] = {"missing keys", "unexpected keys", "shape mismatches",
                                          "unusable dtypes", "non-finite values"};
    for (int k = 0; k < 5; k++) {
        if (!counts[k]) continue;
        printf("%s (%zu):\n", titles[k], counts[k]);
        for (size_t i = 0; i < oclip_report_n_issues(r); i++) {
            const oclip_issue *is = oclip_report_issue(r, i);
            if ((int)is->kind != k) continue;
            char e[160], f[160];
            fmt_dims(is->expected_ndim, is->expected, e, sizeof e);
            fmt_dims(is->found_ndim, is->found, f, sizeof f);
            if (is->kind == OCLIP_ISSUE_SHAPE) printf("  %s: expected %s, found %s\n", cli_esc(is->key), e, f);
            else if (is->kind == OCLIP_ISSUE_MISSING) printf("  %s %s\n", cli_esc(is->key), e);
            else if (is->kind == OCLIP_ISSUE_UNEXPECTED) printf("  %s %s\n", cli_esc(is->key), f);
            else printf("  %s: %s\n", cli_esc(is->key), cli_esc_msg(is->detail));
        }
    }
    for (size_t i = 0; i < oclip_report_n_notes(r); i++) {
        const char *n = oclip_report_note(r, i);
        printf("%s%s\n", strncmp(n, "hint: ", 6) ? "note: " : "", cli_esc_msg(n));
    }
    fprintf(stderr, "oclip: check: '%s' does not load into %s: %zu missing, %zu unexpected, "
                    "%zu shape, %zu dtype, %zu non-finite\n", cli_esc(path), cli_esc(arch_label(r, label, sizeof label)), counts[0], counts[1],
            counts[2], counts[3], counts[4]);
    return EXIT_FAIL;
}

static int cmd_check(int argc, char **argv) {
    cli_model m = {0};
    int json = 0, scan = 0, have_spec = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int took = cli_model_option("check", argc, argv, &i, 0, &m);
        if (took < 0) return EXIT_USAGE;
        if (took) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(check_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--scan")) {
            scan = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("check", a, check_help);
        } else if (!have_spec) {
            m.spec = a;
            have_spec = 1;
        } else {
            return usage_error("check", "unexpected argument '%s'", a);
        }
    }
    if (!have_spec) return usage_error("check", "%s", "missing SPEC");
    if (m.arch && m.config)
        return usage_error("check", "%s", "--arch and --config exclude each other");
    oclip_source *src;
    int rc = cli_resolve(&m, 0, OCLIP_FETCH_MISSING, &src);
    if (rc) return rc;
    oclip_report *r = NULL;
    oclip_error err;
    if (oclip_source_check(src, scan, &r, &err) != OCLIP_OK) {
        print_error(&err);
        oclip_source_free(src);
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < oclip_source_n_notes(src); i++)
        fprintf(stderr, "note: %s\n", cli_esc_msg(oclip_source_note(src, i)));
    const char *path = source_label(src);
    const oclip_checkpoint *ck = oclip_source_checkpoint(src);
    rc = json ? check_json(src, r) : check_text(path, src, ck, r);
    if (!json && rc == 0) print_settings(src, m.quick);
    oclip_report_free(r);
    oclip_source_free(src);
    return rc;
}

/* =============================================================================================
 * info, help, dispatch
 */
static const char info_help[] =
    "usage: oclip info\n"
    "\n"
    "Prints the version and what this build and machine use: readers, image formats, CPU\n"
    "kernels and threads, the embedded default model, and the cache folders.\n"
    "\n"
    "examples:\n"
    "  oclip info\n"
    "  OCLIP_SIMD=scalar oclip info    # check which kernels an override selects\n";

static int cmd_info(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(info_help, stdout);
        return 0;
    }
    if (argc > 1) return usage_error("info", "unexpected argument '%s'", argv[1]);
    printf("oclip %s\n", OCLIP_VERSION_STRING);
    if (!strcmp(argv[0], "--version")) return 0;
    printf("readers:       torch-zip torch-legacy torchscript safetensors safetensors-sharded\n");
    printf("images:        PNG JPEG BMP PPM/PGM/PBM GIF WebP TIFF\n");
    const char *env = getenv("OCLIP_SIMD");
    printf("kernels:       %s%s%s%s\n", oclip_simd_name(), env && env[0] ? " (OCLIP_SIMD=" : "",
           env && env[0] ? cli_esc(env) : "", env && env[0] ? ")" : "");
    cli_simd_warning();
    printf("--dtype:       bf16 %s, int8 %s\n", oclip_dtype_kernel_name(OCLIP_DTYPE_BF16),
           oclip_dtype_kernel_name(OCLIP_DTYPE_I8));
    oclip_model *m = NULL;
    oclip_error err;
    if (oclip_model_load(NULL, NULL, &m, &err) == OCLIP_OK) {
        int h, w;
        oclip_model_image_size(m, &h, &w);
        printf("threads:       %d (all cores; --threads N changes it)\n", oclip_model_threads(m));
        printf("default model: embedded, %dx%d images, %d-d embeddings (models/default)\n", h, w,
               oclip_model_embed_dim(m));
        oclip_model_free(m);
    } else {
        printf("default model: none (%s)\n", cli_esc_msg(err.msg));
    }
    char hf[4096];
    if (oclip_hf_cache_dir(hf, sizeof hf, &err) == OCLIP_OK) printf("HF cache:      %s\n", hf);
    else printf("HF cache:      none (%s)\n", cli_esc_msg(err.msg));
    const char *d = getenv("OCLIP_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (d && d[0]) printf("class cache:   %s/classifiers\n", d);
    else if (x && x[0] == '/') printf("class cache:   %s/oclip/classifiers\n", x);
    else if (home && home[0]) printf("class cache:   %s/.cache/oclip/classifiers\n", home);
    printf("compiler:      %s\n", __VERSION__);
    return 0;
}

static const char main_help[] =
    "usage: oclip COMMAND [ARGS]\n"
    "\n"
    "OpenCLIP checkpoints without Python.\n"
    "\n"
    "commands:\n"
    "  inspect SPEC    what a checkpoint file is: container, layout, tensors, dtypes\n"
    "  check SPEC      does it load into an OpenCLIP architecture? the full report if not\n"
    "  convert IN OUT  write safetensors in OpenCLIP or HF-transformers layout (f32/f16/bf16)\n"
    "  tokenize TEXT   OpenCLIP token ids for prompts (JSON lines or -o .npy)\n"
    "  preprocess      images -> float32 [N,3,H,W] .npy, bit-identical to OpenCLIP\n"
    "  embed-image     image embeddings (.npy) from preprocessed pixels (--pixels X.npy)\n"
    "  embed-text      text embeddings (.npy) from token ids (--tokens X.npy)\n"
    "  similarity      the logits matrix of images x texts\n"
    "  classify        zero-shot classification of images over labels\n"
    "  caption         captions of images by a CoCa model\n"
    "  embed-dir       a collection (folders, WebDataset tars, lists) -> sharded embeddings\n"
    "  search INDEX Q  the nearest images of an embed-dir output to a text or an image\n"
    "  pull SPEC       download ARCH:TAG or hf-hub:ORG/NAME into the Hugging Face cache\n"
    "  list [PATTERN]  the pretrained names (ARCH:TAG) and whether oclip runs each\n"
    "  serve           HTTP server: OpenAI-style embeddings, classification, batching\n"
    "  info            version and build configuration\n"
    "\n"
    "SPEC (and -m SPEC) names a model the same way in every command: a checkpoint file or\n"
    "folder, hf-hub:ORG/NAME[@REV], ARCH:TAG (a pretrained name), or default (the small demo\n"
    "model embedded in oclip).\n"
    "\n"
    "'oclip COMMAND --help' describes a command.\n";

int cmd_serve(int argc, char **argv); /* cmd_serve.c */
int cmd_caption(int argc, char **argv); /* cmd_caption.c */

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) return cmd_info(1, argv + 1);
    if (!strcmp(cmd, "inspect")) return cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "preprocess")) return cmd_preprocess(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed-image")) return cmd_embed_image(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed-text")) return cmd_embed_text(argc - 1, argv + 1);
    if (!strcmp(cmd, "similarity")) return cmd_similarity(argc - 1, argv + 1);
    if (!strcmp(cmd, "classify")) return cmd_classify(argc - 1, argv + 1);
    if (!strcmp(cmd, "pull")) return cmd_pull(argc - 1, argv + 1);
    if (!strcmp(cmd, "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "embed-dir")) return cmd_embed_dir(argc - 1, argv + 1);
    if (!strcmp(cmd, "search")) return cmd_search(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "caption")) return cmd_caption(argc - 1, argv + 1);
    static const char *const commands[] = {"inspect", "check", "convert", "tokenize",
                                           "preprocess", "embed-image", "embed-text",
                                           "similarity", "classify", "pull", "list", "embed-dir",
                                           "search", "serve", "caption", "info", "help"};
    const char *s = cli_suggest(cmd, commands, sizeof commands / sizeof *commands);
    if (!s) return usage_error(NULL, "unknown command '%s'", cmd);
    fprintf(stderr, "oclip: unknown command '%s'\nhint: did you mean 'oclip %s'? ('oclip --help' "
                    "lists the commands)\n", cli_esc(cmd), s);
    return EXIT_USAGE;
}
