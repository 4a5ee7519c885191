/*
 * cli.c — helpers shared by the oclip program's subcommands: error printing, small files,
 * folders, and where a checkpoint's architecture comes from.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* Prints an oclip_error: its first line after "oclip: ", continuation lines as they are. */
void print_error(const oclip_error *err) {
    fprintf(stderr, "oclip: %s\n", err->msg[0] ? err->msg : oclip_status_str(err->code));
}

int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "oclip%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nhint: run 'oclip %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = read_stream(f, len);
    int e = errno;
    fclose(f);
    if (buf && *len > (64u << 20)) { /* configs are small */
        free(buf);
        buf = NULL;
        e = EFBIG;
    }
    errno = e;
    return buf;
}

int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The folder part of PATH as given (not resolving symlinks: the HF cache links blobs). */
void dir_of(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, size, ".");
    else if (slash == path) snprintf(out, size, "/");
    else snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* --arch / --config / config files beside the checkpoint. Returns 0, or an exit code. */
int choose_arch(const char *arch, const char *config_path, const char *ckpt_path,
                       const oclip_checkpoint *ck, arch_choice *out) {
    oclip_error err;
    memset(out, 0, sizeof *out);
    if (arch) {
        /* NAME or NAME:TAG (a pretrained tag, whose QuickGELU setting the check compares) */
        char name[128];
        const char *colon = strchr(arch, ':');
        snprintf(name, sizeof name, "%.*s", colon ? (int)(colon - arch) : (int)strlen(arch), arch);
        if (oclip_config_builtin(name, &out->cfg, &err) != OCLIP_OK) {
            print_error(&err);
            return EXIT_FAIL;
        }
        if (colon) {
            oclip_pretrained pt;
            if (oclip_pretrained_lookup(name, colon + 1, &pt, &err) != OCLIP_OK) {
                print_error(&err);
                return EXIT_FAIL;
            }
            snprintf(out->tag, sizeof out->tag, "%s", pt.tag);
        }
        snprintf(out->source, sizeof out->source, "--arch %s", arch);
        out->have = 1;
        return 0;
    }
    if (!config_path) {
        int found = 0;
        if (oclip_config_beside(ckpt_path, ck, &out->cfg, NULL, out->source, sizeof out->source, &found,
                                &err) != OCLIP_OK) {
            print_error(&err);
            return EXIT_FAIL;
        }
        out->have = found;
        return 0;
    }
    /* --config: an OpenCLIP model config or an open_clip_config.json */
    size_t len;
    char *text = slurp(config_path, &len);
    if (!text) {
        fprintf(stderr, "oclip: cannot read '%s': %s\n", config_path, strerror(errno));
        return EXIT_FAIL;
    }
    oclip_status st = strstr(text, "\"model_cfg\"")
                          ? oclip_config_parse_open_clip(text, len, &out->cfg, NULL, &err)
                          : oclip_config_parse(text, len, &out->cfg, &err);
    free(text);
    if (st != OCLIP_OK) {
        fprintf(stderr, "oclip: config '%s': %s\n", config_path, err.msg);
        return EXIT_FAIL;
    }
    snprintf(out->source, sizeof out->source, "%s", config_path);
    out->have = 1;
    return 0;
}

int open_checked(const char *cmd, const char *path, const char *arch, const char *config,
                 int quick, int scan, char *resolved, size_t resolved_size,
                 oclip_checkpoint **ck_out, oclip_report **r_out) {
    *ck_out = NULL;
    *r_out = NULL;
    if ((size_t)snprintf(resolved, resolved_size, "%s", path) >= resolved_size) {
        fprintf(stderr, "oclip: %s: path too long: '%.200s...'\n", cmd, path);
        return EXIT_FAIL;
    }
    if (is_dir(path) && !oclip_checkpoint_in_dir(path, resolved, resolved_size)) {
        fprintf(stderr, "oclip: %s: no checkpoint in folder '%s'\n", cmd, path);
        fprintf(stderr, "hint: expected open_clip_model.safetensors, open_clip_pytorch_model.bin, "
                        "model.safetensors or pytorch_model.bin\n");
        return EXIT_FAIL;
    }
    oclip_error err;
    oclip_checkpoint *ck = NULL;
    if (oclip_checkpoint_open(resolved, NULL, &ck, &err) != OCLIP_OK) {
        print_error(&err);
        return EXIT_FAIL;
    }
    arch_choice ac;
    int rc = choose_arch(arch, config, resolved, ck, &ac);
    if (rc) {
        oclip_checkpoint_free(ck);
        return rc;
    }
    if (!ac.have && quick >= 0) {
        /* an override needs a config to apply to: infer one first */
        if (oclip_infer_config(ck, &ac.cfg, NULL, &err) == OCLIP_OK) {
            snprintf(ac.source, sizeof ac.source, "inferred");
            ac.have = 1;
        }
    }
    oclip_check_options opt = {.scan = scan, .tag = ac.tag[0] ? ac.tag : NULL};
    if (ac.have) {
        if (quick >= 0) {
            ac.cfg.quick_gelu = quick;
            strncat(ac.source, quick ? " + --quick-gelu" : " + --no-quick-gelu",
                    sizeof ac.source - strlen(ac.source) - 1);
        }
        opt.config = &ac.cfg;
        opt.config_source = ac.source;
    }
    if (oclip_check(ck, &opt, r_out, &err) != OCLIP_OK) {
        fprintf(stderr, "oclip: %s: '%s': %s\n", cmd, resolved, err.msg);
        oclip_checkpoint_free(ck);
        return EXIT_FAIL;
    }
    *ck_out = ck;
    return 0;
}

/* =============================================================================================
 * Prompts
 */
int prompt_add(prompt_list *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        prompt *p = cap > SIZE_MAX / sizeof *p ? NULL : realloc(l->p, cap * sizeof *p);
        if (!p) return -1;
        l->p = p;
        l->cap = cap;
    }
    l->p[l->n].s = s;
    l->p[l->n].len = len;
    l->n++;
    return 0;
}

/* The whole of f; NULL with errno set on failure. */
char *read_stream(FILE *f, size_t *len) {
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            if (cap > SIZE_MAX / 2 - 65536) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            size_t ncap = cap * 2 + 65536;
            char *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                errno = ENOMEM;
                return NULL;
            }
            buf = p;
            cap = ncap;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0'; /* room is left: the loop keeps cap - n >= 65536 */
    *len = n;
    return buf;
}

/* Lines of a prompt file: split at '\n', one trailing '\r' dropped; a final line without '\n'
 * counts, an empty remainder after the last '\n' does not. */
int prompt_add_file(prompt_list *l, const char *cmd, const char *path) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "oclip: %s: cannot open '%s': %s\n", cmd, path, strerror(errno));
        return EXIT_FAIL;
    }
    size_t len = 0;
    char *buf = read_stream(f, &len);
    int e = errno;
    if (f != stdin) fclose(f);
    if (!buf) {
        fprintf(stderr, "oclip: %s: cannot read '%s': %s\n", cmd, path, strerror(e));
        return EXIT_FAIL;
    }
    char **b = realloc(l->bufs, (l->n_bufs + 1) * sizeof *b);
    if (!b) {
        free(buf);
        fprintf(stderr, "oclip: %s: out of memory\n", cmd);
        return EXIT_FAIL;
    }
    l->bufs = b;
    l->bufs[l->n_bufs++] = buf;
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t n = end - start;
        if (n && buf[start + n - 1] == '\r') n--;
        if (prompt_add(l, buf + start, n)) {
            fprintf(stderr, "oclip: %s: out of memory\n", cmd);
            return EXIT_FAIL;
        }
        start = end + 1;
    }
    return 0;
}

void prompt_list_free(prompt_list *l) {
    for (size_t i = 0; i < l->n_bufs; i++) free(l->bufs[i]);
    free(l->bufs);
    free(l->p);
}

