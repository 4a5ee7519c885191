/*
 * cmd_convert.c — `oclip convert SPEC OUT`: any model `oclip check` accepts, validated the same
 * way, written as an OpenCLIP safetensors state dict or a transformers CLIPModel folder.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "text.h"
#include "oclip.h"

static const char convert_help[] =
    "usage: oclip convert SPEC OUT [--to open_clip|hf] [--dtype f32|f16|bf16] [--no-metadata]\n"
    "                     [--arch NAME | --config FILE.json] [--quick-gelu|--no-quick-gelu]\n"
    "\n"
    "Writes a checkpoint in another format, after the same validation as 'oclip check'\n"
    "(nothing is written when the checkpoint does not fit its architecture). Files are\n"
    "written to a temporary name and renamed at the end: never a partial output.\n"
    "\n"
    "SPEC   a checkpoint file, a model.safetensors.index.json, or a folder holding one\n"
    "       (OpenCLIP, HF transformers, OpenAI archive, training checkpoint ...),\n"
    "       hf-hub:ORG/NAME[@REV], ARCH:TAG (downloaded when not in the cache), or default\n"
    "OUT    --to open_clip: a .safetensors file, which keeps the architecture and\n"
    "       preprocessing in its metadata (open_clip_config); or a folder (existing, or a\n"
    "       name ending in '/') that receives open_clip_model.safetensors +\n"
    "       open_clip_config.json\n"
    "       --to hf: a folder that receives model.safetensors, config.json (transformers\n"
    "       CLIPModel) and open_clip_config.json\n"
    "\n"
    "The architecture and preprocessing are the model's as 'oclip check' finds them: from\n"
    "--arch / --config, else what SPEC names (open_clip_config.json or an HF config.json in\n"
    "the folder of the file, the file's own metadata, a pretrained tag), else inferred from\n"
    "the tensor shapes (a warning says what was guessed).\n"
    "\n"
    "  --to FORMAT        open_clip (default): OpenCLIP's state dict, exactly its keys\n"
    "                     hf: transformers CLIPModel (q/k/v split, projections transposed),\n"
    "                     SiglipModel for SigLIP; refused for architectures they cannot\n"
    "                     express (LayerScale ...)\n"
    "  --dtype D          cast float tensors to f32, f16 or bf16 (rounding as PyTorch's\n"
    "                     .float()/.half()/.bfloat16()); default: keep each tensor's dtype\n"
    "  --no-metadata      a .safetensors OUT without the architecture in its metadata (the\n"
    "                     bytes safetensors.torch.save_file writes for the tensors alone)\n"
    "  --arch NAME        a built-in OpenCLIP config (ViT-B-32, ViT-B-16-quickgelu, ...)\n"
    "  --config FILE      an OpenCLIP model config or open_clip_config.json\n"
    "  --quick-gelu, --no-quick-gelu   override the activation\n"
    "  -h, --help         this help\n"
    "\n"
    "examples:\n"
    "  oclip convert open_clip_pytorch_model.bin model.safetensors\n"
    "  oclip convert pytorch_model.bin out/model.safetensors --to open_clip   # HF -> OpenCLIP\n"
    "  oclip convert model.safetensors clip-hf/ --to hf --dtype f16        # a folder\n";

static void progress_bar(void *user, uint64_t done, uint64_t total) {
    int *last = user;
    int pct = total ? (int)(done * 100 / total) : 100;
    if (pct == *last) return;
    *last = pct;
    int w = pct / 4;
    fprintf(stderr, "\rwriting [%.*s%*s] %3d%%", w, "#########################", 25 - w, "", pct);
    if (pct == 100) fputc('\n', stderr);
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *to = "open_clip", *dtype = NULL;
    cli_model m = {0};
    int no_metadata = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int took = cli_model_option("convert", argc, argv, &i, 0, &m);
        if (took < 0) return EXIT_USAGE;
        if (took) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(convert_help, stdout);
            return 0;
        } else if (!strcmp(a, "--no-metadata")) {
            no_metadata = 1;
        } else if (!strcmp(a, "--to") || !strcmp(a, "--dtype")) {
            if (i + 1 >= argc) return usage_error("convert", "%s needs a value", a);
            if (!strcmp(a, "--to")) to = argv[++i];
            else dtype = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("convert", a, convert_help);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return usage_error("convert", "unexpected argument '%s'", a);
        }
    }
    if (!in) return usage_error("convert", "%s", "missing SPEC and OUT");
    if (!out) return usage_error("convert", "%s", "missing OUT");
    if (m.arch && m.config)
        return usage_error("convert", "%s", "--arch and --config exclude each other");
    oclip_convert_options copt;
    oclip_convert_options_default(&copt);
    copt.no_metadata = no_metadata;
    if (!strcmp(to, "open_clip")) copt.to = OCLIP_FORMAT_OPEN_CLIP;
    else if (!strcmp(to, "hf")) copt.to = OCLIP_FORMAT_HF;
    else return usage_error("convert", "--to '%s': expected open_clip or hf", to);
    if (dtype) {
        if (!strcmp(dtype, "f32") || !strcmp(dtype, "float32")) copt.dtype = OCLIP_DTYPE_F32;
        else if (!strcmp(dtype, "f16") || !strcmp(dtype, "float16")) copt.dtype = OCLIP_DTYPE_F16;
        else if (!strcmp(dtype, "bf16") || !strcmp(dtype, "bfloat16"))
            copt.dtype = OCLIP_DTYPE_BF16;
        else return usage_error("convert", "--dtype '%s': expected f32, f16 or bf16", dtype);
    }

    m.spec = in;
    oclip_source *src;
    int rc = cli_resolve(&m, 0, OCLIP_FETCH_MISSING, &src);
    if (rc) return rc;
    oclip_report *r = NULL;
    oclip_error err;
    if (oclip_source_check(src, 0, &r, &err) != OCLIP_OK) {
        print_error(&err);
        oclip_source_free(src);
        return EXIT_FAIL;
    }
    const oclip_checkpoint *ck = oclip_source_checkpoint(src);
    in = oclip_source_kind_of(src) == OCLIP_SOURCE_EMBEDDED ? "default" : oclip_source_path(src);
    const oclip_model_config *cfg = oclip_report_config(r);
    const char *label = cfg->name[0] ? cfg->name : "its architecture";
    if (!oclip_report_ok(r)) {
        size_t counts[5] = {0};
        for (size_t i = 0; i < oclip_report_n_issues(r); i++)
            counts[oclip_report_issue(r, i)->kind]++;
        size_t n = oclip_report_n_issues(r);
        fprintf(stderr, "oclip: convert: '%s' does not fit %s (architecture: %s): %zu issue%s "
                        "(%zu missing, %zu unexpected, %zu shape, %zu dtype); nothing written\n",
                in, label, oclip_report_config_source(r), n, n == 1 ? "" : "s", counts[0],
                counts[1], counts[2], counts[3]);
        fprintf(stderr, "hint: run 'oclip check %s%s%s%s%s' for the full report\n", in,
                m.arch ? " --arch " : m.config ? " --config " : "",
                m.arch ? m.arch : m.config ? m.config : "",
                m.quick == OCLIP_QUICK_GELU_ON ? " --quick-gelu" : "",
                m.quick == OCLIP_QUICK_GELU_OFF ? " --no-quick-gelu" : "");
        oclip_report_free(r);
        oclip_source_free(src);
        return EXIT_FAIL;
    }
    /* the preprocessing the source states (else OpenAI's, the library's default) */
    if (oclip_source_preprocess_origin(src)[0]) copt.preprocess = oclip_source_preprocess(src);

    int last = -1;
    if (isatty(2)) {
        copt.progress = progress_bar;
        copt.progress_user = &last;
    }
    oclip_status st = oclip_convert(r, out, &copt, &err);
    if (st != OCLIP_OK) {
        if (last >= 0 && last < 100) fputc('\n', stderr);
        print_error(&err);
    } else {
        size_t olen = strlen(out);
        int folder = copt.to == OCLIP_FORMAT_HF || is_dir(out) || out[olen - 1] == '/';
        const char *sep = out[olen - 1] == '/' ? "" : "/";
        const char *cast = copt.dtype == OCLIP_DTYPE_KEEP      ? ""
                           : copt.dtype == OCLIP_DTYPE_F16  ? ", cast to F16"
                           : copt.dtype == OCLIP_DTYPE_BF16 ? ", cast to BF16"
                                                            : ", cast to F32";
        const char *origin = oclip_report_config_source(r);
        int inferred = !strncmp(origin, "inferred", 8);
        printf("wrote %s%s%s (%s%s; from the %s layout; architecture %s%s%s%s%s)\n", out,
               folder ? sep : "",
               folder ? (copt.to == OCLIP_FORMAT_HF
                             ? "{model.safetensors,config.json,open_clip_config.json}"
                             : "{open_clip_model.safetensors,open_clip_config.json}")
                      : "",
               copt.to != OCLIP_FORMAT_HF ? "OpenCLIP state dict"
               : cfg->has_logit_bias      ? "transformers SiglipModel"
                                          : "transformers CLIPModel",
               cast, oclip_layout_name(oclip_checkpoint_layout(ck)), cfg->name,
               cfg->name[0] ? " " : "", inferred ? "" : "from ", origin,
               cfg->quick_gelu ? ", QuickGELU" : "");
        for (size_t i = 0; i < oclip_report_n_notes(r); i++)
            fprintf(stderr, "note: %s\n", cli_esc_msg(oclip_report_note(r, i)));
        cli_print_source(src);
    }
    oclip_report_free(r);
    oclip_source_free(src);
    if (fflush(stdout) != 0) return EXIT_FAIL;
    return st == OCLIP_OK ? 0 : EXIT_FAIL;
}
