/* cli.h — helpers shared by the oclip program's subcommands (cli.c). */
#ifndef OCLIP_CLI_H
#define OCLIP_CLI_H
#include <stddef.h>
#include <stdio.h>

#include "oclip.h"
#include "progress.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* "oclip: <message>" on stderr (the message may hold a "\nhint: ..." line). */
void print_error(const oclip_error *err);
/* "oclip CMD: <fmt with arg>" and a hint to run --help; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, const char *arg);
int is_dir(const char *path);

/* "Did you mean": the candidate closest to `word` by edit distance (insertions, deletions,
 * substitutions, swaps of neighbours), when that is at most 2 and less than half the word's
 * length; NULL when none is that close. */
const char *cli_suggest(const char *word, const char *const *cands, size_t n);
/* usage_error for an unknown option `arg` of `cmd`, with "did you mean '--x'?" when an option
 * that `help` names (every -x / --word in it) is close. Returns EXIT_USAGE. */
int cli_unknown_option(const char *cmd, const char *arg, const char *help);
/* "oclip: warning: <oclip_simd_warning()>" on stderr when the OCLIP_SIMD / OCLIP_AMX setting is
 * not what runs; every command that computes calls it once. */
void cli_simd_warning(void);

/* ---------------------------------------------------------------------------------------------
 * Models: every command names one the same way (a SPEC: -m SPEC, or check/convert/inspect's
 * argument) and resolves it through the library (oclip_source_resolve, oclip_model_load): the
 * rules about specs, configs and overrides live there, not here.
 */
typedef struct {
    const char *spec;       /* NULL: the default model */
    const char *arch;       /* --arch NAME[:TAG] */
    const char *config;     /* --config FILE */
    oclip_quick_gelu quick; /* --quick-gelu / --no-quick-gelu */
} cli_model;

/* argv[*i] when it is --arch, --config, --quick-gelu or --no-quick-gelu (with -m/--model too
 * when take_m): stored in *m (*i moved past a value) and 1; 0 when it is none of them; -1 after
 * a usage error was printed (a missing value). */
int cli_model_option(const char *cmd, int argc, char **argv, int *i, int take_m, cli_model *m);

/* What every download shows: a progress bar per file on stderr, and, for a download the
 * command did not ask for (-m SPEC not in the cache), one line that says it happens. */
typedef struct {
    cli_progress bar;
    char file[256];
    int on;             /* a bar was started for `file` */
    int quiet;          /* no bars */
    char announce[600]; /* "oclip: SPEC is not in the cache: downloading it", once; or "" */
} cli_download;
/* announce_spec: the spec whose download the line announces, or NULL for none. */
void cli_download_init(cli_download *d, const char *announce_spec, int quiet);
void cli_download_progress(void *user, const char *file, uint64_t done, uint64_t total);
void cli_download_end(cli_download *d);

/* The source options of m: its overrides, downloads as `fetch` says (unless HF_HUB_OFFLINE=1)
 * shown by d (cli_download_init'ed here, announcing m->spec). */
void cli_source_options(const cli_model *m, int weights_optional, oclip_fetch fetch,
                        oclip_pull_options *po, cli_download *d, oclip_source_options *so);
/* oclip_source_resolve(m->spec) with those options; 0, or EXIT_FAIL after printing the error. */
int cli_resolve(const cli_model *m, int weights_optional, oclip_fetch fetch, oclip_source **src);
/* The source's notes and warnings, on stderr ("oclip: note: ...", "oclip: warning: ..."). */
void cli_print_source(const oclip_source *src);
/* The architecture of a source resolved with weights_optional (preprocess, tokenize): the
 * spec's, else what the checkpoint says (opened and checked); NULL after printing the error. */
const oclip_model_config *cli_source_config(const char *cmd, oclip_source *src);

int cmd_convert(int argc, char **argv); /* cmd_convert.c */
int cmd_classify(int argc, char **argv); /* cmd_classify.c */
int cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
/* cmd_embed.c: embed-image, embed-text, similarity */
int cmd_embed_image(int argc, char **argv);
int cmd_embed_text(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_preprocess(int argc, char **argv); /* cmd_preprocess.c */
int cmd_list(int argc, char **argv);       /* cmd_list.c */
int cmd_pull(int argc, char **argv);       /* cmd_pull.c */
int cmd_embed_dir(int argc, char **argv);  /* cmd_embed_dir.c */
int cmd_search(int argc, char **argv);     /* cmd_search.c */

/* A prompt: bytes inside a file buffer or an argument (not NUL-terminated). */
typedef struct {
    const char *s;
    size_t len;
} prompt;

typedef struct {
    prompt *p;
    size_t n, cap;
    char **bufs; /* file contents to free */
    size_t n_bufs;
} prompt_list;

/* The whole of stream f in a malloc'd, NUL-terminated buffer; NULL with errno set on failure. */
char *read_stream(FILE *f, size_t *len);

/* Appends a prompt (not copied); -1 when out of memory. */
int prompt_add(prompt_list *l, const char *s, size_t len);
/* Appends the lines of a prompt file ('-' = stdin): a leading UTF-8 BOM skipped, one prompt per
 * line, lines end at '\n', one trailing '\r' dropped, a final line without '\n' counts. Returns 0 or an exit code after
 * printing "oclip: CMD: ...". */
int prompt_add_file(prompt_list *l, const char *cmd, const char *path);
void prompt_list_free(prompt_list *l);
#endif
