/*
 * cmd_list.c — `oclip list`: OpenCLIP 3.3.0's pretrained names (or the built-in configs) and,
 * for each, whether oclip runs it or why it refuses it (oclip_config_unsupported on the built-in
 * config of the name). tools/coverage.py turns `oclip list --json` into README's coverage table
 * and docs/COVERAGE.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "text.h"

static const char list_help[] =
    "usage: oclip list [PATTERN] [--configs] [--supported | --refused] [--json]\n"
    "\n"
    "Lists OpenCLIP 3.3.0's pretrained names (ARCH:TAG, what -m and pull accept) with the\n"
    "Hugging Face repo each is downloaded from, and whether oclip runs it: 'ok', or 'refused:'\n"
    "and the part of the architecture oclip does not implement. A last line counts them.\n"
    "\n"
    "  PATTERN      only names that contain it (case-insensitive)\n"
    "  --configs    the built-in architecture configs instead of the pretrained tags\n"
    "  --supported  only what oclip runs\n"
    "  --refused    only what it refuses\n"
    "  --json       one JSON array: {\"name\", \"arch\", \"tag\", \"hf_hub\", \"family\",\n"
    "               \"timm_model_name\", \"hf_model_name\", \"supported\", \"reason\"}; no count\n"
    "\n"
    "examples:\n"
    "  oclip list ViT-B-32\n"
    "  oclip list --refused\n"
    "  oclip list --configs SigLIP --json\n";

/* strstr ignoring ASCII case */
static int contains_nocase(const char *s, const char *pat) {
    size_t n = strlen(pat);
    for (; *s; s++) {
        size_t k = 0;
        while (k < n && s[k] && (s[k] | 0x20) == (pat[k] | 0x20)) k++;
        if (k == n) return 1;
    }
    return n == 0;
}

typedef struct {
    const char *pattern;
    int only; /* 0 all, 1 supported, 2 refused */
    int json;
    cJSON *arr;
    size_t n, n_ok;
} lister;

/* one row: the name, its config (NULL if none: refused with cfg_why) and its repo */
static int row(lister *L, const char *arch, const char *tag, const oclip_model_config *cfg,
               const char *cfg_why, const char *hf_hub) {
    char name[160];
    snprintf(name, sizeof name, "%s%s%s", arch, tag ? ":" : "", tag ? tag : "");
    if (L->pattern && !contains_nocase(name, L->pattern)) return 0;
    const char *why = cfg ? oclip_config_unsupported(cfg) : cfg_why;
    if ((L->only == 1 && why) || (L->only == 2 && !why)) return 0;
    L->n++;
    L->n_ok += !why;
    if (!L->json) {
        printf("%-52s  %s%s", cli_esc(name), why ? "refused: " : "ok", why ? why : "");
        if (hf_hub && hf_hub[0]) printf("  (hf-hub:%s)", cli_esc(hf_hub));
        putchar('\n');
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(L->arr, o)) return -1;
    int ok = cJSON_AddStringToObject(o, "name", name) && cJSON_AddStringToObject(o, "arch", arch) &&
             (tag ? cJSON_AddStringToObject(o, "tag", tag) != NULL
                  : cJSON_AddNullToObject(o, "tag") != NULL) &&
             cJSON_AddStringToObject(o, "hf_hub", hf_hub ? hf_hub : "") &&
             cJSON_AddStringToObject(o, "family", cfg ? oclip_family_name(cfg->family) : "") &&
             cJSON_AddStringToObject(o, "timm_model_name", cfg ? cfg->vision.timm_model_name : "") &&
             cJSON_AddStringToObject(o, "hf_model_name", cfg ? cfg->text.hf_model_name : "") &&
             cJSON_AddBoolToObject(o, "supported", !why) &&
             (why ? cJSON_AddStringToObject(o, "reason", why) != NULL
                  : cJSON_AddNullToObject(o, "reason") != NULL);
    return ok ? 0 : -1;
}

int cmd_list(int argc, char **argv) {
    lister L = {0};
    int configs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(list_help, stdout);
            return 0;
        } else if (!strcmp(a, "--configs")) {
            configs = 1;
        } else if (!strcmp(a, "--supported")) {
            L.only = 1;
        } else if (!strcmp(a, "--refused")) {
            L.only = 2;
        } else if (!strcmp(a, "--json")) {
            L.json = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("list", a, list_help);
        } else if (L.pattern) {
            return usage_error("list", "one PATTERN only ('%s' is a second one)", a);
        } else {
            L.pattern = a;
        }
    }
    if (L.json && !(L.arr = cJSON_CreateArray())) goto oom;
    oclip_error err;
    oclip_model_config cfg;
    if (configs) {
        for (size_t i = 0; i < oclip_config_builtin_count(); i++) {
            const char *name = oclip_config_builtin_name(i);
            oclip_status st = oclip_config_builtin(name, &cfg, &err);
            if (row(&L, name, NULL, st ? NULL : &cfg, st ? err.msg : NULL, NULL)) goto oom;
        }
    } else {
        for (size_t i = 0; i < oclip_pretrained_count(); i++) {
            const char *arch, *tag;
            oclip_pretrained pt;
            if (!oclip_pretrained_at(i, &arch, &tag) ||
                oclip_pretrained_lookup(arch, tag, &pt, &err)) {
                print_error(&err);
                cJSON_Delete(L.arr);
                return EXIT_FAIL;
            }
            /* the name's architecture is a built-in config (test_config checks every one) */
            oclip_status st = oclip_config_builtin(arch, &cfg, &err);
            if (row(&L, arch, tag, st ? NULL : &cfg, st ? err.msg : NULL, pt.hf_hub)) goto oom;
        }
    }
    if (L.json) {
        char *text = cli_json_print(L.arr);
        cJSON_Delete(L.arr);
        if (!text) goto oom;
        puts(text);
        free(text);
    } else {
        printf("%zu of %zu %s load%s\n", L.n_ok, L.n,
               configs ? "built-in configs" : "pretrained names", L.pattern ? " (that match)" : "");
    }
    return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
oom:
    cJSON_Delete(L.arr);
    fprintf(stderr, "oclip: list: out of memory\n");
    return EXIT_FAIL;
}
