/*
 * cmd_tokenize.c — `oclip tokenize`: OpenCLIP token ids for prompts, as JSON lines or .npy.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "text.h"
#include "npy.h"
#include "oclip.h"

static const char tokenize_help[] =
    "usage: oclip tokenize [-m SPEC | --tokenizer FILE.json] [--context-length N] [--clean MODE]\n"
    "                      [-f FILE]... [TEXT]... [-o OUT.npy]\n"
    "\n"
    "Token ids exactly as OpenCLIP's tokenizer gives them (open_clip.get_tokenizer for\n"
    "ViT-B-32 and every other model with the native text tower): one row of N ids per\n"
    "prompt, <start_of_text> ... <end_of_text> then 0-padding; a prompt that is too long is\n"
    "cut and ends with <end_of_text>.\n"
    "\n"
    "Prompts come from -f files and TEXT arguments, in the order given. A file holds one\n"
    "prompt per line (UTF-8; a line ends at \\n, a trailing \\r is dropped, every other\n"
    "character, U+2028 included, belongs to the prompt; an empty line is an empty prompt).\n"
    "'-f -' reads standard input. Bytes that are not UTF-8 are read as U+FFFD.\n"
    "\n"
    "  -m, --model SPEC        tokenize as this model does (as every command names one:\n"
    "                          default for the model embedded in oclip, a checkpoint or\n"
    "                          folder, hf-hub:ORG/NAME, ARCH:TAG, ARCH): its context length,\n"
    "                          and for models with a Hugging Face tokenizer (SigLIP) that\n"
    "                          tokenizer, from tokenizer.json beside the weights or in the\n"
    "                          Hugging Face cache, with the config's tokenizer_kwargs\n"
    "  --tokenizer FILE        a Hugging Face tokenizer.json (or a folder holding one), as\n"
    "                          OpenCLIP's HFTokenizer(FILE's folder, context_length,\n"
    "                          clean=...) uses it: tokenizer_config.json beside it gives the\n"
    "                          pad token; the default clean is whitespace\n"
    "  -n, --context-length N  ids per row (default: the model's, else 77)\n"
    "  --clean MODE            lower (default), whitespace or canonicalize: OpenCLIP's\n"
    "                          SimpleTokenizer(clean=...) / HFTokenizer(clean=...) modes\n"
    "  -f, --file FILE         read prompts from FILE, one per line\n"
    "  -o, --output OUT.npy    write int64 [prompts, N] as .npy instead of printing\n"
    "  -h, --help              this help\n"
    "\n"
    "Without -o, each row is printed as one JSON array per line.\n"
    "\n"
    "examples:\n"
    "  oclip tokenize \"a photo of a cat\"\n"
    "  oclip tokenize -f prompts.txt -o tokens.npy\n"
    "  oclip tokenize --context-length 64 --clean whitespace \"Hello  World\"\n"
    "  oclip tokenize --tokenizer siglip/tokenizer.json -n 64 --clean canonicalize \"a cat\"\n";

/* The context length of the model SPEC names (0 after printing why there is none), and in *hf
 * whether its tokenizer is a Hugging Face one (text_cfg.hf_tokenizer_name). */
static size_t model_context(const char *spec, int *hf) {
    cli_model m = {.spec = spec};
    oclip_source *src;
    *hf = 0;
    if (cli_resolve(&m, 1, OCLIP_FETCH_NEVER, &src)) return 0;
    const oclip_model_config *c = cli_source_config("tokenize", src);
    size_t ctx = 0;
    if (c && !c->text.hf_tokenizer_name[0] && c->text.vocab_size != OCLIP_VOCAB_SIZE)
        fprintf(stderr, "oclip: tokenize: '%s' has a vocabulary of %d ids, not the %d of "
                        "OpenCLIP's tokenizer\n", cli_esc(spec), c->text.vocab_size,
                OCLIP_VOCAB_SIZE);
    else if (c)
        ctx = (size_t)c->text.context_length, *hf = c->text.hf_tokenizer_name[0] != 0;
    oclip_source_free(src);
    return ctx;
}

int cmd_tokenize(int argc, char **argv) {
    size_t ctx = OCLIP_CONTEXT_LENGTH;
    const char *model = NULL, *tokenizer = NULL;
    int ctx_given = 0, clean_given = 0;
    oclip_clean clean = OCLIP_CLEAN_LOWER;
    const char *out_path = NULL;
    prompt_list l = {0};
    int rc = 0, only_texts = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_texts && a[0] == '-' && a[1]) {
            if (!strcmp(a, "--")) {
                only_texts = 1;
            } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                fputs(tokenize_help, stdout);
                prompt_list_free(&l);
                return 0;
            } else if (!strcmp(a, "-n") || !strcmp(a, "--context-length") || !strcmp(a, "-f") ||
                       !strcmp(a, "--file") || !strcmp(a, "-o") || !strcmp(a, "--output") ||
                       !strcmp(a, "--clean") || !strcmp(a, "-m") || !strcmp(a, "--model") ||
                       !strcmp(a, "--tokenizer")) {
                if (i + 1 >= argc) {
                    rc = usage_error("tokenize", "%s needs a value", a);
                    goto done;
                }
                const char *v = argv[++i];
                if (a[1] == 'n' || !strcmp(a, "--context-length")) {
                    char *end;
                    errno = 0;
                    long long n = strtoll(v, &end, 10);
                    if (errno || end == v || *end || n < 1 || n > 65536) {
                        rc = usage_error("tokenize", "--context-length must be 1..65536, not '%s'",
                                         v);
                        goto done;
                    }
                    ctx = (size_t)n;
                    ctx_given = 1;
                } else if (!strcmp(a, "--tokenizer")) {
                    tokenizer = v;
                } else if (a[1] == 'm' || !strcmp(a, "--model")) {
                    model = v;
                } else if (a[1] == 'f' || !strcmp(a, "--file")) {
                    if ((rc = prompt_add_file(&l, "tokenize", v))) goto done;
                } else if (a[1] == 'o' || !strcmp(a, "--output")) {
                    out_path = v;
                } else if ((clean_given = 1) && !strcmp(v, "lower")) {
                    clean = OCLIP_CLEAN_LOWER;
                } else if (!strcmp(v, "whitespace")) {
                    clean = OCLIP_CLEAN_WHITESPACE;
                } else if (!strcmp(v, "canonicalize")) {
                    clean = OCLIP_CLEAN_CANONICALIZE;
                } else {
                    rc = usage_error("tokenize",
                                     "--clean must be lower, whitespace or canonicalize, not '%s'",
                                     v);
                    goto done;
                }
                continue;
            } else {
                rc = cli_unknown_option("tokenize", a, tokenize_help);
                goto done;
            }
            continue;
        }
        if (prompt_add(&l, a, strlen(a))) {
            fprintf(stderr, "oclip: tokenize: out of memory\n");
            rc = EXIT_FAIL;
            goto done;
        }
    }
    if (!l.n && !l.n_bufs) {
        rc = usage_error("tokenize", "%s", "no text: give TEXT arguments or -f FILE");
        goto done;
    }
    if (model && tokenizer) {
        rc = usage_error("tokenize", "%s", "give -m SPEC or --tokenizer FILE, not both");
        goto done;
    }
    oclip_hf_tokenizer *hft = NULL; /* --tokenizer: HFTokenizer over that file */
    if (tokenizer) {
        oclip_error terr;
        if (oclip_hf_tokenizer_load(tokenizer, &hft, &terr) != OCLIP_OK) {
            fprintf(stderr, "oclip: tokenize: %s\n", cli_esc_msg(terr.msg));
            rc = EXIT_FAIL;
            goto done;
        }
        if (!clean_given) clean = OCLIP_CLEAN_WHITESPACE; /* HFTokenizer's default */
    }
    int hf = 0;
    size_t model_ctx = model ? model_context(model, &hf) : 0;
    if (model && !model_ctx) {
        rc = EXIT_FAIL;
        goto done;
    }
    if (model && !ctx_given) ctx = model_ctx;
    oclip_model *hfm = NULL; /* a model with a Hugging Face tokenizer: oclip_model_tokenize */
    if (hf) {
        if (ctx != model_ctx || clean_given) {
            rc = usage_error("tokenize", "'%s' uses a Hugging Face tokenizer: its context "
                             "length and cleaning come from the model (no -n / --clean)",
                             cli_esc(model));
            goto done;
        }
        oclip_model_options mo;
        oclip_model_options_default(&mo);
        mo.threads = 1;
        oclip_error lerr;
        if (oclip_model_load(model, &mo, &hfm, &lerr) != OCLIP_OK) {
            fprintf(stderr, "oclip: tokenize: '%s' uses a Hugging Face tokenizer, which oclip "
                    "reads with the model (tokenizer.json beside its weights or in the Hugging "
                    "Face cache): %s\n", cli_esc(model), cli_esc_msg(lerr.msg));
            rc = EXIT_FAIL;
            goto done;
        }
    }

    int64_t *row = malloc(ctx * sizeof *row);
    unsigned char *le = malloc(ctx * 8);
    if (!row || !le) {
        free(row);
        free(le);
        oclip_hf_tokenizer_free(hft);
        fprintf(stderr, "oclip: tokenize: out of memory\n");
        rc = EXIT_FAIL;
        goto done;
    }
    FILE *out = stdout;
    if (out_path) {
        out = fopen(out_path, "wb");
        if (!out) {
            fprintf(stderr, "oclip: tokenize: cannot create '%s': %s\n", out_path,
                    strerror(errno));
            free(row);
            free(le);
            oclip_hf_tokenizer_free(hft);
            rc = EXIT_FAIL;
            goto done;
        }
        int64_t shape[2] = {(int64_t)l.n, (int64_t)ctx};
        if (npy_write_header(out, "<i8", 2, shape)) rc = EXIT_FAIL;
    }
    oclip_error err;
    for (size_t i = 0; i < l.n && !rc; i++) {
        const char *text = l.p[i].s;
        size_t len = l.p[i].len;
        if ((hfm   ? oclip_model_tokenize(hfm, &text, &len, 1, row, &err)
             : hft ? oclip_hf_tokenizer_tokenize(hft, &text, &len, 1, ctx, clean, row, &err)
                   : oclip_tokenize(text, len, clean, row, ctx, &err)) != OCLIP_OK) {
            fprintf(stderr, "oclip: tokenize: prompt %zu: %s\n", i + 1, cli_esc_msg(err.msg));
            rc = EXIT_FAIL;
            break;
        }
        if (out_path) {
            /* .npy is little-endian: bytes in that order whatever the host's, one write a row */
            for (size_t k = 0; k < ctx; k++) {
                uint64_t v = (uint64_t)row[k];
                for (int b = 0; b < 8; b++) le[8 * k + (size_t)b] = (unsigned char)(v >> (8 * b));
            }
            if (fwrite(le, 8, ctx, out) != ctx) rc = EXIT_FAIL;
        } else {
            putchar('[');
            for (size_t k = 0; k < ctx; k++) printf(k ? ",%lld" : "%lld", (long long)row[k]);
            putchar(']');
            putchar('\n');
        }
    }
    if (out_path) {
        if (fclose(out) != 0 && !rc) rc = EXIT_FAIL;
        if (rc) {
            fprintf(stderr, "oclip: tokenize: '%s' not written\n", out_path);
            remove(out_path);
        }
    } else if (fflush(stdout) != 0) {
        rc = EXIT_FAIL;
    }
    free(row);
    free(le);
    oclip_model_free(hfm);
    oclip_hf_tokenizer_free(hft);
done:
    prompt_list_free(&l);
    return rc;
}
