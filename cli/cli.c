/*
 * cli.c — helpers shared by the oclip program's subcommands: error printing, the model options
 * every command takes (resolved by the library), download progress, prompt lists.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "text.h"

/* Prints an oclip_error: its first line after "oclip: ", continuation lines as they are. */
void print_error(const oclip_error *err) {
    fprintf(stderr, "oclip: %s\n", err->msg[0] ? cli_esc_msg(err->msg) : oclip_status_str(err->code));
}

int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "oclip%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, cli_esc(arg));
    fprintf(stderr, "\nhint: run 'oclip %s%s--help'\n", cmd ? cmd : "", cmd ? " " : "");
    return EXIT_USAGE;
}

/* Optimal string alignment distance, stopped early above 3 (the callers want <= 2). */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    if ((la > lb ? la - lb : lb - la) > 3) return 99;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < c)
                c = d[i - 2][j - 2] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *cli_suggest(const char *word, const char *const *cands, size_t n) {
    const char *best = NULL;
    size_t bd = 3, len = strlen(word);
    for (size_t i = 0; i < n; i++) {
        size_t dd = edit_distance(word, cands[i]);
        if (dd < bd && 2 * dd < len) bd = dd, best = cands[i];
    }
    return best;
}

int cli_unknown_option(const char *cmd, const char *arg, const char *help) {
    /* the options help names: "-x" or "--word" after a space, '[', '(' or '|' */
    char opts[96][32];
    const char *cands[96];
    size_t n = 0;
    for (const char *p = help; *p && n < 96; p++) {
        if (p[0] != '-' || (p != help && !strchr(" [(|,", p[-1]))) continue;
        size_t k = 1 + (p[1] == '-');
        while (p[k] && (isalnum((unsigned char)p[k]) || p[k] == '-') && k < 31) k++;
        if (k < 2 || (k == 2 && p[1] == '-') || !isalpha((unsigned char)p[p[1] == '-' ? 2 : 1]))
            continue;
        memcpy(opts[n], p, k);
        opts[n][k] = '\0';
        cands[n] = opts[n];
        n++;
        p += k - 1;
    }
    const char *s = cli_suggest(arg, cands, n);
    if (!s) return usage_error(cmd, "unknown option '%s'", arg);
    fprintf(stderr, "oclip %s: unknown option '%s'\nhint: did you mean '%s'? ('oclip %s --help' "
                    "lists the options)\n", cmd, cli_esc(arg), s, cmd);
    return EXIT_USAGE;
}

void cli_simd_warning(void) {
    const char *w = oclip_simd_warning();
    if (w) fprintf(stderr, "oclip: warning: %s\n", cli_esc_msg(w));
}

int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* =============================================================================================
 * Models
 */
int cli_model_option(const char *cmd, int argc, char **argv, int *i, int take_m, cli_model *m) {
    const char *a = argv[*i];
    const char **slot = NULL;
    if (!strcmp(a, "--quick-gelu") || !strcmp(a, "--no-quick-gelu")) {
        m->quick = a[2] == 'q' ? OCLIP_QUICK_GELU_ON : OCLIP_QUICK_GELU_OFF;
        return 1;
    }
    if (!strcmp(a, "--arch")) slot = &m->arch;
    else if (!strcmp(a, "--config")) slot = &m->config;
    else if (take_m && (!strcmp(a, "-m") || !strcmp(a, "--model"))) slot = &m->spec;
    else return 0;
    if (*i + 1 >= argc) {
        usage_error(cmd, "%s needs a value", a);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

void cli_download_init(cli_download *d, const char *announce_spec, int quiet) {
    memset(d, 0, sizeof *d);
    d->quiet = quiet;
    if (announce_spec)
        snprintf(d->announce, sizeof d->announce,
                 "oclip: %.500s is not in the cache: downloading it", announce_spec);
}

void cli_download_progress(void *user, const char *file, uint64_t done, uint64_t total) {
    cli_download *d = user;
    if (d->announce[0]) {
        fprintf(stderr, "%s\n", d->announce);
        d->announce[0] = '\0';
    }
    if (d->quiet) return;
    if (!d->on || strcmp(d->file, file)) {
        if (d->on) cli_progress_end(&d->bar);
        snprintf(d->file, sizeof d->file, "%s", file);
        cli_progress_start(&d->bar, file, total, 1);
        d->on = 1;
    }
    if (total && d->bar.total != total) d->bar.total = total; /* learnt after the start */
    cli_progress_update(&d->bar, done);
}

void cli_download_end(cli_download *d) {
    if (d->on) cli_progress_end(&d->bar);
    d->on = 0;
}

void cli_source_options(const cli_model *m, int weights_optional, oclip_fetch fetch,
                        oclip_pull_options *po, cli_download *d, oclip_source_options *so) {
    oclip_pull_options_default(po);
    cli_download_init(d, m->spec, 0);
    po->progress = cli_download_progress;
    po->user = d;
    oclip_source_options_default(so);
    so->arch = m->arch;
    so->config_file = m->config;
    so->quick_gelu = m->quick;
    so->weights_optional = weights_optional;
    so->fetch = fetch;
    so->pull = po;
}

int cli_resolve(const cli_model *m, int weights_optional, oclip_fetch fetch, oclip_source **src) {
    cli_download d;
    oclip_pull_options po;
    oclip_source_options so;
    cli_source_options(m, weights_optional, fetch, &po, &d, &so);
    oclip_error err;
    oclip_status s = oclip_source_resolve(m->spec, &so, src, &err);
    cli_download_end(&d);
    if (s) {
        print_error(&err);
        return EXIT_FAIL;
    }
    return 0;
}

void cli_print_source(const oclip_source *src) {
    for (size_t i = 0; i < oclip_source_n_notes(src); i++)
        fprintf(stderr, "oclip: note: %s\n", cli_esc_msg(oclip_source_note(src, i)));
    for (size_t i = 0; i < oclip_source_n_warnings(src); i++)
        fprintf(stderr, "oclip: warning: %s\n", cli_esc_msg(oclip_source_warning(src, i)));
}

const oclip_model_config *cli_source_config(const char *cmd, oclip_source *src) {
    oclip_error err;
    if (!oclip_source_config(src) && oclip_source_path(src)[0]) {
        /* a checkpoint without a config beside it: what it carries, else its shapes */
        oclip_report *r = NULL;
        if (oclip_source_check(src, 0, &r, &err) != OCLIP_OK) {
            fprintf(stderr, "oclip: %s: %s\n", cmd, cli_esc_msg(err.msg));
            return NULL;
        }
        oclip_report_free(r);
    }
    if (!oclip_source_config(src))
        fprintf(stderr, "oclip: %s: %s: no architecture: no open_clip_config.json and no "
                "checkpoint\nhint: give the settings with options (see --help)\n", cmd,
                cli_esc(oclip_source_description(src)));
    return oclip_source_config(src);
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

/* Lines of a prompt file: a leading UTF-8 BOM skipped, split at '\n', one trailing '\r'
 * dropped; a final line without '\n' counts, an empty remainder after the last '\n' does not. */
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
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) start = 3; /* a UTF-8 BOM (Notepad) */
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

