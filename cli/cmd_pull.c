/*
 * cmd_pull.c — `oclip pull SPEC`: downloads a pretrained name or an hf-hub: repo into the
 * Hugging Face cache (oclip_pull, src/hub/hub.c), and cli_pull_if_needed, the automatic pull the
 * model-loading commands do for specs that are not cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "progress.h"

typedef struct {
    cli_progress bar;
    char file[256];
    int on;    /* a bar was started for `file` */
    int quiet;
} pull_ui;

static void on_progress(void *user, const char *file, uint64_t done, uint64_t total) {
    pull_ui *u = user;
    if (u->quiet) return;
    if (!u->on || strcmp(u->file, file)) {
        if (u->on) cli_progress_end(&u->bar);
        snprintf(u->file, sizeof u->file, "%s", file);
        cli_progress_start(&u->bar, file, total, 1);
        u->on = 1;
    }
    if (total && u->bar.total != total) u->bar.total = total; /* learnt after the start */
    cli_progress_update(&u->bar, done);
}

static void ui_end(pull_ui *u) {
    if (u->on) cli_progress_end(&u->bar);
    u->on = 0;
}

/* Runs oclip_pull with a progress bar; prints the error and returns EXIT_FAIL on failure. */
static int pull(const char *spec, int offline, const char *revision, int quiet,
                oclip_pull_result *res) {
    pull_ui ui;
    memset(&ui, 0, sizeof ui);
    ui.quiet = quiet;
    oclip_pull_options opt = {.offline = offline, .revision = revision, .progress = on_progress,
                              .user = &ui};
    oclip_error err;
    oclip_status s = oclip_pull(spec, &opt, res, &err);
    ui_end(&ui);
    if (s) {
        print_error(&err);
        return EXIT_FAIL;
    }
    if (res->note[0] && !quiet) fprintf(stderr, "oclip: note: %s\n", res->note);
    return 0;
}

int cli_pull_if_needed(const char *spec, int offline) {
    if (!spec || !spec[0]) return 0;
    struct stat st;
    if (stat(spec, &st) == 0) return 0; /* a file or folder: nothing to fetch */
    oclip_spec *sp = malloc(sizeof *sp);
    if (!sp) return 0;
    oclip_error err;
    oclip_status s = oclip_spec_resolve(spec, 0, sp, &err);
    int pullable = s == OCLIP_E_NOTFOUND &&
                   (sp->kind == OCLIP_SPEC_HF_HUB || sp->kind == OCLIP_SPEC_PRETRAINED) &&
                   strstr(err.msg, "oclip pull") != NULL; /* not cached (not a bad tag) */
    free(sp);
    /* cached, malformed, or offline: oclip_model_load gives the answer or the message (which
     * names the missing file and the command that fetches it) */
    if (!pullable || offline || oclip_hub_offline()) return 0;
    fprintf(stderr, "oclip: %s is not in the cache: downloading it (oclip pull)\n", spec);
    oclip_pull_result *res = malloc(sizeof *res);
    if (!res) return 0;
    int rc = pull(spec, 0, NULL, 0, res);
    free(res);
    return rc;
}

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
    "under their final name only when complete.\n"
    "\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (gated or private\n"
    "repos), HF_HUB_OFFLINE, HF_HUB_CACHE, HF_HOME. Commands that take -m SPEC pull a missing\n"
    "ARCH:TAG or hf-hub: spec by themselves unless HF_HUB_OFFLINE=1.\n"
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
            return usage_error("pull", "unknown option '%s'", a);
        } else if (spec) {
            return usage_error("pull", "one SPEC only ('%s' is a second one)", a);
        } else {
            spec = a;
        }
    }
    if (!spec) return usage_error("pull", "%s", "missing SPEC (ARCH:TAG or hf-hub:ORG/NAME)");
    oclip_pull_result *res = malloc(sizeof *res);
    if (!res) {
        fputs("oclip: out of memory\n", stderr);
        return EXIT_FAIL;
    }
    int rc = pull(spec, offline, revision, quiet, res);
    if (!rc) {
        if (!quiet)
            fprintf(stderr, "oclip: %s: %d file%s, %d downloaded (%.1f MB)%s%s\n", spec,
                    res->files, res->files == 1 ? "" : "s", res->downloaded,
                    (double)res->bytes / 1e6, res->commit[0] ? ", commit " : "", res->commit);
        printf("%s\n", res->path);
    }
    free(res);
    return rc;
}
