/*
 * cmd_classify.c — `oclip classify`: zero-shot classification of images over labels, as
 * OpenCLIP's build_zero_shot_classifier and its softmax over exp(logit_scale) * cosine
 * (zero_shot_classifier.py; independent sigmoids with the logit_bias for SigLIP), with the class embeddings kept in a cache (clscache.c) per model,
 * labels and templates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"
#include "text.h"
#include "clscache.h"
#include "embed.h"
#include "progress.h"

static const char classify_help[] =
    "usage: oclip classify [-m SPEC] IMAGE... (--labels \"a,b,c\" | --labels-file F)\n"
    "                      [--templates imagenet|simple|none|FILE] [--top K] [--json]\n"
    "\n"
    "Zero-shot classification as OpenCLIP does it: each label is put into every template,\n"
    "the template embeddings are normalized, averaged and renormalized into one class\n"
    "embedding; each image's probabilities are softmax(exp(logit_scale) * cosine), or for a\n"
    "model with a logit_bias (SigLIP) independent sigmoid(exp(logit_scale) * cosine + bias).\n"
    "\n"
    "  IMAGE...              image files (see 'oclip preprocess')\n"
    "  --labels \"a,b,c\"     the class names, comma-separated\n"
    "  --labels-file F       the class names, one per line\n"
    "  --templates T         imagenet: OpenCLIP's 80 ImageNet templates (default); simple: its\n"
    "                        7; none: the label alone; or a file with one template per line,\n"
    "                        each with {} where the label goes\n"
    "  --top K               only the K most probable labels (default: all)\n"
    "  --json                one JSON object per image and line:\n"
    "                        {\"image\": PATH, \"activation\": \"softmax\" | \"sigmoid\",\n"
    "                         \"predictions\": [{\"label\": L, \"prob\": P}, ...]}\n"
    "  --no-cache            neither read nor write the class-embedding cache (class embeddings\n"
    "                        are kept per model, labels and templates in $OCLIP_CACHE_DIR, else\n"
    "                        $XDG_CACHE_HOME/oclip, else ~/.cache/oclip, so that repeated runs\n"
    "                        skip the text tower)\n"
    "  --max-pixels N        refuse larger images, and images whose resize target is larger\n"
    "                        (default 178956970, Pillow's limit)\n"
    "\n"
    "examples:\n"
    "  oclip classify examples/*.png --labels-file examples/labels.txt   # demo model\n"
    "  oclip classify -m ViT-B-32:laion2b_s34b_b79k cat.jpg --labels \"cat,dog,car\"\n"
    "  oclip classify -m ./model/ photos/*.jpg --labels-file classes.txt --top 5 --json\n"
    "\n" MODEL_OPTIONS;

/* NUL-terminated copies of a prompt list's items (labels and templates from files) */
static char **copy_items(const prompt_list *l) {
    char **v = calloc(l->n ? l->n : 1, sizeof *v);
    for (size_t i = 0; v && i < l->n; i++) {
        v[i] = malloc(l->p[i].len + 1);
        if (!v[i]) return v; /* caller frees; checked below */
        memcpy(v[i], l->p[i].s, l->p[i].len);
        v[i][l->p[i].len] = '\0';
    }
    return v;
}

static void free_items(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* --labels "a, b,c": split at commas, surrounding spaces trimmed */
static int split_labels(const char *cmd, const char *s, prompt_list *l) {
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t')) b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (b == e) return usage_error(cmd, "%s", "--labels: an empty label");
        if (prompt_add(l, b, (size_t)(e - b))) return embed_oom(cmd);
        if (!comma) return 0;
        p = comma + 1;
    }
}

/* Sorts label indices by their bytes, for warn_duplicates. */
static const prompt *dup_items;
static int by_bytes(const void *x, const void *y) {
    const prompt *a = &dup_items[*(const size_t *)x], *b = &dup_items[*(const size_t *)y];
    int c = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

/* "oclip: warning: ..." for each label given more than once (OpenCLIP would split the
 * probability between the copies); sorted, so 21k labels cost nothing. */
static void warn_duplicates(const prompt_list *l, const char *file) {
    size_t *ix = malloc((l->n ? l->n : 1) * sizeof *ix), shown = 0;
    if (!ix) return;
    for (size_t i = 0; i < l->n; i++) ix[i] = i;
    dup_items = l->p;
    qsort(ix, l->n, sizeof *ix, by_bytes);
    for (size_t i = 1; i < l->n; i++) {
        const prompt *a = &l->p[ix[i - 1]], *b = &l->p[ix[i]];
        if (a->len != b->len || memcmp(a->s, b->s, a->len)) continue;
        if (i >= 2 && l->p[ix[i - 2]].len == a->len &&
            !memcmp(l->p[ix[i - 2]].s, a->s, a->len))
            continue; /* a third copy: named once */
        if (shown++ < 10) {
            char lab[256];
            snprintf(lab, sizeof lab, "%.*s", a->len > 200 ? 200 : (int)a->len, a->s);
            fprintf(stderr, "oclip: warning: label '%s' is given more than once (%s %zu and %zu%s%s): "
                    "its copies share its probability\n", cli_esc(lab), file ? "lines" : "labels",
                    ix[i - 1] + 1, ix[i] + 1, file ? " of " : "", file ? cli_esc(file) : "");
        }
    }
    if (shown > 10) fprintf(stderr, "oclip: warning: %zu more labels are given more than once\n",
                            shown - 10);
    free(ix);
}

typedef struct {
    float prob;
    size_t label;
} ranked;

static int by_prob(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    return a->prob < b->prob ? 1 : a->prob > b->prob ? -1 : (a->label > b->label) - (a->label < b->label);
}

/* The zero-shot classifier w [nl, E]: from the class-embedding cache when it holds these
 * (model, labels, templates), else computed a few labels at a time (each class embedding is
 * computed on its own, so chunks change nothing) with a progress bar, then stored. */
static int build_classifier(const embed_args *a, const oclip_model *m, const char *const *lab,
                            size_t nl, const char *const *tpl, size_t ntpl, float *w) {
    size_t E = (size_t)oclip_model_embed_dim(m);
    char fp[33], id[96];
    clscache cc = {0};
    int cached = 0;
    oclip_error err;
    /* the kernels and --dtype change the bytes too: part of the key */
    if (!a->no_cache && oclip_model_fingerprint(m, fp, &err) == OCLIP_OK &&
        snprintf(id, sizeof id, "%s %s %s", fp, oclip_simd_name(),
                 a->weight_dtype ? oclip_dtype_name(a->weight_dtype) : "stored") > 0 &&
        clscache_init(&cc, id, E, lab, nl, tpl, ntpl) == 0)
        cached = clscache_load(&cc, w, nl, E);
    if (cached) {
        clscache_free(&cc);
        return 0;
    }
    cli_progress pg;
    cli_progress_start(&pg, "classes", nl, 0);
    size_t step = ntpl >= 64 ? 1 : 64 / ntpl;
    for (size_t c = 0; c < nl; c += step) {
        size_t k = nl - c < step ? nl - c : step;
        if (oclip_zero_shot_classifier(m, lab + c, k, tpl, ntpl, w + c * E, &err)) {
            fprintf(stderr, "%soclip: classify: %s\n", pg.drawn && pg.tty ? "\n" : "", cli_esc_msg(err.msg));
            clscache_free(&cc);
            return EXIT_FAIL;
        }
        cli_progress_update(&pg, c + k);
    }
    cli_progress_end(&pg);
    if (!a->no_cache) clscache_store(&cc, w, nl, E);
    clscache_free(&cc);
    return 0;
}

int cmd_classify(int argc, char **argv) {
    embed_args a = {.cmd = "classify", .normalize = 1, .image_args = 1};
    prompt_list labels = {0}, tpl_list = {0};
    char **lab = NULL, **tpl_own = NULL;
    float *img = NULL, *w = NULL, *pr = NULL;
    ranked *rk = NULL;
    oclip_model *m = NULL;
    int rc = embed_parse(argc, argv, classify_help, &a);
    if (rc >= 0) goto done;
    rc = 0;
    if (!a.images.n) {
        rc = usage_error(a.cmd, "%s", "no images: give IMAGE files");
        goto done;
    }
    if (!a.labels == !a.labels_file) {
        rc = usage_error(a.cmd, "%s", "give the class names with --labels or --labels-file");
        goto done;
    }
    if (a.labels && (rc = split_labels(a.cmd, a.labels, &labels))) goto done;
    if (a.labels_file && (rc = prompt_add_file(&labels, a.cmd, a.labels_file))) goto done;
    while (a.labels_file && labels.n && !labels.p[labels.n - 1].len) labels.n--; /* blank end */
    for (size_t i = 0; i < labels.n; i++) {
        size_t bad;
        if (labels.p[i].len == 0) {
            fprintf(stderr, "oclip: classify: label %zu is empty%s%s%s\n", i + 1,
                    a.labels_file ? " (a blank line in " : "",
                    a.labels_file ? cli_esc(a.labels_file) : "", a.labels_file ? ")" : "");
            rc = EXIT_USAGE;
            goto done;
        }
        if (!cli_utf8_valid(labels.p[i].s, labels.p[i].len, &bad)) {
            fprintf(stderr, "oclip: classify: %s %zu%s%s is not UTF-8 text (byte %zu is 0x%02x)\n"
                    "hint: save the labels as UTF-8\n", a.labels_file ? "line" : "label", i + 1,
                    a.labels_file ? " of " : "", a.labels_file ? cli_esc(a.labels_file) : "",
                    bad + 1, (unsigned char)labels.p[i].s[bad]);
            rc = EXIT_USAGE;
            goto done;
        }
    }
    warn_duplicates(&labels, a.labels_file);
    if (!labels.n) {
        rc = usage_error(a.cmd, "%s", "the label list is empty");
        goto done;
    }
    /* templates */
    const char *const *tpl;
    static const char *const none[] = {"{}"};
    const char *set = a.templates ? a.templates : "imagenet";
    size_t ntpl = oclip_zero_shot_templates(set, &tpl);
    if (!ntpl && !strcmp(set, "none")) {
        tpl = none;
        ntpl = 1;
    } else if (!ntpl) {
        static const char *const sets[] = {"imagenet", "simple", "none"};
        const char *near = cli_suggest(set, sets, 3);
        if (near && access(set, F_OK) != 0) {
            fprintf(stderr, "oclip classify: --templates '%s': no such template set or file\n"
                    "hint: did you mean '%s'? (sets: imagenet, simple, none)\n", cli_esc(set),
                    near);
            rc = EXIT_USAGE;
            goto done;
        }
        if ((rc = prompt_add_file(&tpl_list, a.cmd, set))) goto done;
        if (!(tpl_own = copy_items(&tpl_list))) {
            rc = embed_oom(a.cmd);
            goto done;
        }
        for (size_t i = 0; i < tpl_list.n; i++) {
            size_t bad;
            if (!tpl_own[i]) {
                rc = embed_oom(a.cmd);
                goto done;
            }
            if (!cli_utf8_valid(tpl_list.p[i].s, tpl_list.p[i].len, &bad)) {
                fprintf(stderr, "oclip: classify: template file '%s', line %zu is not UTF-8 text "
                                "(byte %zu)\n", cli_esc(set), i + 1, bad + 1);
                rc = EXIT_USAGE;
                goto done;
            }
            if (!strstr(tpl_own[i], "{}")) {
                fprintf(stderr, "oclip: classify: template file '%s', line %zu: no {} for the "
                                "label\n", cli_esc(set), i + 1);
                rc = EXIT_FAIL;
                goto done;
            }
        }
        tpl = (const char *const *)tpl_own;
        ntpl = tpl_list.n;
        if (!ntpl) {
            rc = usage_error(a.cmd, "%s", "--templates: the template file is empty");
            goto done;
        }
    }
    if (!(lab = copy_items(&labels))) {
        rc = embed_oom(a.cmd);
        goto done;
    }
    for (size_t i = 0; i < labels.n; i++)
        if (!lab[i]) {
            rc = embed_oom(a.cmd);
            goto done;
        }
    if ((rc = embed_load_model(&a, &m))) goto done;
    size_t ni = 0, nl = labels.n, E = (size_t)oclip_model_embed_dim(m);
    if ((rc = embed_inputs(&a, m, 1, &img, &ni))) goto done;
    w = malloc(nl * E * sizeof *w);
    pr = malloc(ni * nl * sizeof *pr);
    rk = malloc(nl * sizeof *rk);
    if (!w || !pr || !rk) {
        rc = embed_oom(a.cmd);
        goto done;
    }
    if ((rc = build_classifier(&a, m, (const char *const *)lab, nl, tpl, ntpl, w))) goto done;
    oclip_error err;
    if (oclip_zero_shot_probs(m, img, ni, w, nl, pr, &err)) {
        fprintf(stderr, "oclip: classify: %s\n", cli_esc_msg(err.msg));
        rc = EXIT_FAIL;
        goto done;
    }
    size_t top = a.top && (size_t)a.top < nl ? (size_t)a.top : nl;
    for (size_t i = 0; i < ni; i++) {
        for (size_t c = 0; c < nl; c++) rk[c] = (ranked){pr[i * nl + c], c};
        qsort(rk, nl, sizeof *rk, by_prob);
        const char *path = a.images.p[i].s;
        if (a.json) {
            cJSON *o = cJSON_CreateObject(), *ps = NULL;
            cJSON_AddStringToObject(o, "image", path);
            cJSON_AddStringToObject(o, "activation",
                                    oclip_model_has_logit_bias(m) ? "sigmoid" : "softmax");
            ps = cJSON_AddArrayToObject(o, "predictions");
            for (size_t k = 0; k < top; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "label", lab[rk[k].label]);
                cJSON_AddNumberToObject(e, "prob", rk[k].prob);
                cJSON_AddItemToArray(ps, e);
            }
            char *t = cli_json_print(o);
            cJSON_Delete(o);
            if (!t) {
                rc = embed_oom(a.cmd);
                goto done;
            }
            puts(t);
            free(t);
        } else {
            printf("%s\n", cli_esc(path));
            for (size_t k = 0; k < top; k++)
                printf("  %6.2f%%  %s\n", 100.0 * rk[k].prob, cli_esc(lab[rk[k].label]));
        }
    }
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
done:
    free(img);
    free(w);
    free(pr);
    free(rk);
    free_items(lab, labels.n);
    free_items(tpl_own, tpl_list.n);
    prompt_list_free(&labels);
    prompt_list_free(&tpl_list);
    oclip_model_free(m);
    embed_free_args(&a);
    return rc;
}
