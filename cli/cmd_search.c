/* cmd_search.c — `oclip search INDEXDIR "text" [--image Q.jpg]`: exact top-k over the shards of
 * `oclip embed-dir` (collection_search.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "collection_search.h"
#include "text.h"

static const char search_help[] =
    "usage: oclip search INDEXDIR [TEXT] [--image Q.jpg] [-k N] [--json] [--against img|text]\n"
    "\n"
    "The rows of an `oclip embed-dir` output nearest to a query: the text, the image, or both\n"
    "(their normalized embeddings summed). Exact: every row is scored by the dot product of\n"
    "normalized embeddings (the cosine). The model is the one manifest.json names (its\n"
    "fingerprint checked).\n"
    "\n"
    "  TEXT               the query text\n"
    "  --image F          a query image\n"
    "  -k N               how many results (default 10)\n"
    "  --against KIND     img (default): the image embeddings; text: the captions' (--text runs)\n"
    "  --json             one JSON object: {\"results\": [{\"rank\", \"score\", \"shard\", \"row\",\n"
    "                     and the row's metadata (path or tar+key, caption)}]}\n"
    "  --threads N        worker threads for the query (default: all cores)\n"
    "  -h, --help         this help\n"
    "\n"
    "examples:\n"
    "  oclip search photos.emb \"a red car\"\n"
    "  oclip search photos.emb --image query.jpg -k 5 --json\n";

static int parse_k(const char *v, size_t *k) {
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || end == v || *end || x < 1 || x > 100000 || v[0] == '-') return -1;
    *k = x;
    return 0;
}

int cmd_search(int argc, char **argv) {
    const char *dir = NULL, *text = NULL, *image = NULL, *against = "img";
    size_t k = 10;
    int json = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(search_help, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--image") || !strcmp(a, "-k") || !strcmp(a, "--against") ||
                   !strcmp(a, "--threads")) {
            if (i + 1 >= argc) return usage_error("search", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--image")) image = v;
            else if (!strcmp(a, "--against")) {
                if (strcmp(v, "img") && strcmp(v, "text"))
                    return usage_error("search", "--against '%s': img or text", v);
                against = v;
            } else {
                size_t x;
                if (parse_k(v, &x) || (a[2] == 't' && x > 4096))
                    return usage_error("search", "'%s': expected a count from 1 to 100000", v);
                if (a[1] == 'k') k = x;
                else threads = (int)x;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown_option("search", a, search_help);
        } else if (!dir) {
            dir = a;
        } else if (!text) {
            text = a;
        } else {
            return usage_error("search", "unexpected argument '%s' (quote a query of several "
                               "words)", a);
        }
    }
    if (!dir) return usage_error("search", "%s", "missing INDEXDIR");
    if (!text && !image) return usage_error("search", "%s", "give a query: TEXT and/or --image F");
    coll_index ix;
    char why[1200];
    if (coll_index_open(dir, &ix, why, sizeof why)) {
        fprintf(stderr, "oclip: search: %s\n", cli_esc_msg(why));
        return EXIT_FAIL;
    }
    if (!strcmp(against, "text") && !ix.text) {
        fprintf(stderr, "oclip: search: '%s' has no text embeddings\nhint: they come from "
                "`oclip embed-dir --text`\n", cli_esc(dir));
        coll_index_close(&ix);
        return EXIT_FAIL;
    }
    oclip_model *m = NULL;
    float *q = NULL;
    coll_hit *hits = NULL;
    size_t n = 0;
    int rc = 0;
    if (coll_index_model(&ix, threads, &m, why, sizeof why)) {
        fprintf(stderr, "oclip: search: %s\n", cli_esc_msg(why));
        rc = EXIT_FAIL;
        goto done;
    }
    q = malloc(ix.embed_dim * sizeof *q);
    hits = calloc(k, sizeof *hits);
    if (!q || !hits) {
        fprintf(stderr, "oclip: search: out of memory\n");
        rc = EXIT_FAIL;
        goto done;
    }
    if (coll_query(m, text, image, q, why, sizeof why) ||
        coll_search(&ix, against, q, k, hits, &n, why, sizeof why)) {
        fprintf(stderr, "oclip: search: %s\n", cli_esc_msg(why));
        rc = EXIT_FAIL;
        goto done;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *res = cJSON_AddArrayToObject(o, "results");
        for (size_t i = 0; i < n; i++) {
            cJSON *h = cJSON_CreateObject();
            cJSON_AddNumberToObject(h, "rank", (double)(i + 1));
            char sc[32];
            snprintf(sc, sizeof sc, "%.6f", hits[i].score);
            cJSON_AddItemToObject(h, "score", cJSON_CreateNumber(strtod(sc, NULL)));
            cJSON_AddNumberToObject(h, "shard", (double)hits[i].shard);
            cJSON_AddNumberToObject(h, "row", (double)hits[i].row);
            cJSON *meta = hits[i].meta ? cJSON_Parse(hits[i].meta) : NULL;
            for (cJSON *f = meta ? meta->child : NULL; f; f = f->next)
                if (strcmp(f->string, "row"))
                    cJSON_AddItemToObject(h, f->string, cJSON_Duplicate(f, 1));
            cJSON_Delete(meta);
            cJSON_AddItemToArray(res, h);
        }
        char *s = cli_json_print(o);
        cJSON_Delete(o);
        if (s) puts(s);
        free(s);
    } else {
        for (size_t i = 0; i < n; i++) {
            cJSON *meta = hits[i].meta ? cJSON_Parse(hits[i].meta) : NULL;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(meta, "path");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(meta, "tar");
            const cJSON *key = cJSON_GetObjectItemCaseSensitive(meta, "key");
            const cJSON *cap = cJSON_GetObjectItemCaseSensitive(meta, "caption");
            printf("%2zu  %.4f  ", i + 1, hits[i].score);
            if (cJSON_IsString(p)) printf("%s", cli_esc(p->valuestring));
            else if (cJSON_IsString(t) && cJSON_IsString(key))
                printf("%s:%s", cli_esc(t->valuestring), cli_esc(key->valuestring));
            else printf("shard %llu row %llu", (unsigned long long)hits[i].shard,
                        (unsigned long long)hits[i].row);
            if (cJSON_IsString(cap)) printf("  \"%s\"", cli_esc(cap->valuestring));
            putchar('\n');
            cJSON_Delete(meta);
        }
    }
    if (fflush(stdout) != 0) rc = EXIT_FAIL;
done:
    if (hits) coll_hits_free(hits, n);
    free(hits);
    free(q);
    oclip_model_free(m);
    coll_index_close(&ix);
    return rc;
}
