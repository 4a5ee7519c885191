/* cli.h — helpers shared by the oclip program's subcommands (cli.c). */
#ifndef OCLIP_CLI_H
#define OCLIP_CLI_H
#include <stddef.h>
#include <stdio.h>

#include "oclip.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* "oclip: <message>" on stderr (the message may hold a "\nhint: ..." line). */
void print_error(const oclip_error *err);
/* "oclip CMD: <fmt with arg>" and a hint to run --help; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, const char *arg);
/* A whole small file (at most 64 MiB), NUL-terminated; NULL on failure (errno set). */
char *slurp(const char *path, size_t *len);
int is_dir(const char *path);
int is_file(const char *path);
/* The folder part of PATH as given, not resolving symlinks (the HF cache links blobs). */
void dir_of(const char *path, char *out, size_t size);

typedef struct {
    oclip_model_config cfg;
    char source[800];
    char tag[64]; /* pretrained tag given as --arch NAME:TAG, else "" */
    int have;
} arch_choice;

/* The architecture from --arch NAME, --config FILE, or open_clip_config.json / HF config.json
 * beside the checkpoint; out->have = 0 when none of them applies. Returns 0 or an exit code
 * (after printing the error). */
int choose_arch(const char *arch, const char *config_path, const char *ckpt_path,
                const oclip_checkpoint *ck, arch_choice *out);

/* What `oclip check` does before it reports, shared by the subcommands that take a checkpoint:
 * PATH (a file, an index.json or a folder, resolved into `resolved`), its architecture
 * (choose_arch, else inferred; quick = -1 keep, 0/1 override QuickGELU) and oclip_check.
 * Returns 0 with *ck and *r set (free both), or an exit code after printing the error. */
int open_checked(const char *cmd, const char *path, const char *arch, const char *config,
                 int quick, int scan, char *resolved, size_t resolved_size,
                 oclip_checkpoint **ck, oclip_report **r);
int cmd_convert(int argc, char **argv); /* cmd_convert.c */
int cmd_classify(int argc, char **argv); /* cmd_embed.c */
int cmd_tokenize(int argc, char **argv); /* cmd_tokenize.c */
/* cmd_embed.c: embed-image, embed-text, similarity */
int cmd_embed_image(int argc, char **argv);
int cmd_embed_text(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_preprocess(int argc, char **argv); /* cmd_preprocess.c */
/* cmd_pull.c: `oclip pull`, and the automatic pull to call before oclip_model_load /
 * oclip_spec_resolve: downloads an hf-hub: or ARCH:TAG spec that is not in the cache unless
 * offline (argument or HF_HUB_OFFLINE=1); 0, or EXIT_FAIL after printing the error. */
int cmd_pull(int argc, char **argv);
int cli_pull_if_needed(const char *spec, int offline);
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
/* Appends the lines of a prompt file ('-' = stdin): one prompt per line, lines end at '\n', one
 * trailing '\r' dropped, a final line without '\n' counts. Returns 0 or an exit code after
 * printing "oclip: CMD: ...". */
int prompt_add_file(prompt_list *l, const char *cmd, const char *path);
void prompt_list_free(prompt_list *l);
#endif
