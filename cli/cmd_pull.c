/*
 * cmd_pull.c — `oclip pull SPEC`: downloads a pretrained name or an hf-hub: repo into the
 * Hugging Face cache (oclip_pull, src/model/source.c, which the other commands' -m SPEC also
 * goes through when the cache lacks it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "text.h"

static const char pull_help[] =
    "usage: oclip pull SPEC [--offline] [--quiet] [--revision R]\n"
    "\n"
    "Downloads the files SPEC needs into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or\n"
    "~/.cache/huggingface/hub, laid out as huggingface_hub does) and prints the weights' path.\n"
    "\n"
    "  SPEC          ARCH:TAG, a pretrained name (e.g. ViT-B-32:laion2b_s34b_b79k), or\n"
    "                hf-hub:ORG/NAME[@REVISION]\n"
    "  --revision R  branch, tag or commit of an hf-hub: repo (default main)\n"
    "  --offline     no network: only check that the files are cached (as HF_HUB_OFFLINE=1)\n"
    "  --quiet       no progress bar or notes\n"
    "\n"
    "Picks what OpenCLIP loads: open_clip_config.json and open_clip_model.safetensors, else\n"
    "open_clip_pytorch_model.bin; a repo with only HF-transformers weights gives\n"
    "model.safetensors (or pytorch_model.bin) and config.json. Downloads resume where an\n"
    "interrupted one stopped, are verified (SHA-256 of LFS files, else the size) and appear\n"
    "under their final name only when complete. A model oclip does not run (RN50, SigLIP and\n"
    "other timm towers, CoCa, ...) is refused before anything is downloaded.\n"
    "\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (gated or private\n"
    "repos), HF_HUB_OFFLINE, HF_HUB_CACHE, HF_HOME. The commands that take a model (-m SPEC,\n"
    "check, convert, inspect) pull a missing ARCH:TAG or hf-hub: spec by themselves unless\n"
    "HF_HUB_OFFLINE=1.\n"
    "\n"
    "examples:\n"
    "  oclip pull ViT-B-32:laion2b_s34b_b79k\n"
    "  oclip pull hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K@main\n"
    "  HF_TOKEN=hf_... oclip pull hf-hub:ORG/GATED-MODEL\n"
    "  oclip pull --offline ViT-L-14:openai     # is it cached? (exit 1 and the file if not)\n";

int cmd_pull(int argc, char **argv) {
    const char *spec = NULL, *revision = NULL;
    int offline = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(pull_help, stdout);
            return 0;
        } else if (!strcmp(a, "--offline")) {
            offline = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            quiet = 1;
        } else if (!strcmp(a, "--revision")) {
            if (++i >= argc) return usage_error("pull", "%s", "--revision needs a value");
            revision = argv[i];
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("pull", a, pull_help);
        } else if (spec) {
            return usage_error("pull", "one SPEC only ('%s' is a second one)", a);
        } else {
            spec = a;
        }
    }
    if (!spec) return usage_error("pull", "%s", "missing SPEC (ARCH:TAG or hf-hub:ORG/NAME)");
    cli_download d;
    cli_download_init(&d, NULL, quiet);
    oclip_pull_options opt;
    oclip_pull_options_default(&opt);
    opt.offline = offline;
    opt.revision = revision;
    opt.progress = cli_download_progress;
    opt.user = &d;
    oclip_source *src = NULL;
    oclip_error err;
    oclip_status s = oclip_pull(spec, &opt, &src, &err);
    cli_download_end(&d);
    if (s) {
        print_error(&err);
        return EXIT_FAIL;
    }
    const oclip_fetch_info *fi = oclip_source_fetch_info(src);
    if (!quiet) {
        for (size_t i = 0; i < oclip_source_n_notes(src); i++)
            fprintf(stderr, "oclip: note: %s\n", cli_esc_msg(oclip_source_note(src, i)));
        fprintf(stderr, "oclip: %s: %d file%s, %d downloaded (%.1f MB)%s%s\n", spec, fi->files,
                fi->files == 1 ? "" : "s", fi->downloaded, (double)fi->bytes / 1e6,
                fi->commit[0] ? ", commit " : "", fi->commit);
    }
    printf("%s\n", oclip_source_path(src));
    oclip_source_free(src);
    return 0;
}
