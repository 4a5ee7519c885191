/*
 * test_coverage.c — the coverage table: every (architecture, tag) of OpenCLIP 3.3.0's pretrained
 * list (tests/fixtures/coverage/pretrained.json, from open_clip.list_pretrained() by
 * tools/fixtures_coverage.py) against oclip's:
 *   - oclip's table holds exactly these pairs, in order, with the same hf_hub and url (the files);
 *   - each architecture's config is built in and parses;
 *   - each is either computed (oc_model_unsupported is NULL once an HF text tower's config is
 *     resolved, here from the built-in values) or refused with a reason;
 *   - the table of README.md between the coverage markers is the one this test prints with
 *     --markdown (families, architectures, tags, tags oclip runs, the reasons for the rest), so
 *     the README cannot drift from what the code accepts.
 *
 *     build/tests/test_coverage --markdown    prints the table (paste it into README.md)
 */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/hftext.h"
#include "model/model.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/coverage/pretrained.json"
#define BEGIN "<!-- coverage:begin (build/tests/test_coverage --markdown) -->\n"
#define END "<!-- coverage:end -->\n"
#define MAX_FAM 8
#define MAX_WHY 16

typedef struct {
    const char *why;
    int tags;
} reason;

typedef struct {
    int archs, tags, ok;
    reason why[MAX_WHY];
    int n_why;
    char last_arch[64];
} fam;

static char *table(fam *f, int total, int ok) {
    size_t cap = 8192, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n,
                          "| family | architectures | pretrained tags | oclip runs | refused |\n"
                          "|---|---|---|---|---|\n");
    for (int k = 0; k < MAX_FAM; k++) {
        if (!f[k].tags) continue;
        n += (size_t)snprintf(s + n, cap - n, "| %s | %d | %d | %d | ",
                              oclip_family_name((oclip_family)k), f[k].archs, f[k].tags, f[k].ok);
        for (int i = 0; i < f[k].n_why && n < cap - 600; i++)
            n += (size_t)snprintf(s + n, cap - n, "%s%s (%d)", i ? "; " : "", f[k].why[i].why,
                                  f[k].why[i].tags);
        n += (size_t)snprintf(s + n, cap - n, " |\n");
    }
    snprintf(s + n, cap - n, "| all | | %d | %d | |\n", total, ok);
    return s;
}

int main(int argc, char **argv) {
    int print = argc > 1 && !strcmp(argv[1], "--markdown");
    char empty[] = "/tmp/oclip_coverage_XXXXXX";
    CHECK(mkdtemp(empty) != NULL);
    setenv("HF_HUB_CACHE", empty, 1); /* HF text towers: the built-in configs */
    size_t len = 0;
    unsigned char *text = read_file(FIX, &len);
    cJSON *root = text ? cJSON_ParseWithLength((const char *)text, len) : NULL;
    free(text);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "pretrained");
    CHECKF(cJSON_IsArray(rows), "%s", FIX);
    int n = cJSON_GetArraySize(rows);
    CHECKF((size_t)n == oclip_pretrained_count(), "OpenCLIP lists %d pretrained tags, oclip %zu",
           n, oclip_pretrained_count());
    fam f[MAX_FAM];
    memset(f, 0, sizeof f);
    int ok_all = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *r = cJSON_GetArrayItem(rows, i);
        const char *arch = cJSON_GetArrayItem(r, 0)->valuestring;
        const char *tag = cJSON_GetArrayItem(r, 1)->valuestring;
        const char *a = NULL, *t = NULL;
        CHECKF(oclip_pretrained_at((size_t)i, &a, &t) && a && t && !strcmp(a, arch) &&
                   !strcmp(t, tag),
               "%d: OpenCLIP %s:%s, oclip %s:%s", i, arch, tag, a ? a : "-", t ? t : "-");
        oclip_pretrained pt;
        oclip_error err;
        CHECKF(oclip_pretrained_lookup(arch, tag, &pt, &err) == OCLIP_OK, "%s:%s: %s", arch, tag,
               err.msg);
        CHECKF(!strcmp(pt.hf_hub, cJSON_GetArrayItem(r, 2)->valuestring) &&
                   !strcmp(pt.url, cJSON_GetArrayItem(r, 3)->valuestring),
               "%s:%s: files %s %s", arch, tag, pt.hf_hub, pt.url);
        oclip_model_config c;
        CHECKF(cJSON_IsTrue(cJSON_GetArrayItem(r, 4)), "%s: OpenCLIP has no config", arch);
        if (oclip_config_builtin(arch, &c, &err) != OCLIP_OK) {
            CHECKF(0, "%s: %s", arch, err.msg);
            continue;
        }
        const char *why = oc_model_unsupported(&c);
        if (!why && c.family == OCLIP_FAMILY_HF_TEXT) {
            oclip_status s = oc_hftext_resolve(&c.text, NULL, NULL, &err);
            why = s ? "the HF text model's config.json is not built in" : oc_model_unsupported(&c);
        }
        fam *g = &f[(int)c.family < MAX_FAM ? (int)c.family : MAX_FAM - 1];
        if (strcmp(g->last_arch, arch)) {
            g->archs++;
            snprintf(g->last_arch, sizeof g->last_arch, "%s", arch);
        }
        g->tags++;
        if (!why) {
            g->ok++;
            ok_all++;
            continue;
        }
        int k = 0;
        while (k < g->n_why && strcmp(g->why[k].why, why)) k++;
        if (k == g->n_why && k < MAX_WHY) g->why[g->n_why++].why = why;
        if (k < MAX_WHY) g->why[k].tags++;
    }
    char *md = table(f, n, ok_all);
    if (print) {
        fputs(md, stdout);
    } else {
        unsigned char *readme = read_file("README.md", &len);
        const char *b = readme ? strstr((const char *)readme, BEGIN) : NULL;
        const char *e = b ? strstr(b, END) : NULL;
        CHECKF(b && e, "README.md: no coverage markers");
        if (b && e) {
            b += strlen(BEGIN);
            int same = (size_t)(e - b) == strlen(md) && !memcmp(b, md, strlen(md));
            CHECKF(same, "README.md's coverage table is not what oclip accepts now; paste the "
                         "output of 'build/tests/test_coverage --markdown' between its "
                         "markers:\n%s", md);
        }
        free(readme);
    }
    fprintf(stderr, "coverage: oclip runs %d of the %d pretrained tags of OpenCLIP 3.3.0\n",
            ok_all, n);
    free(md);
    cJSON_Delete(root);
    rmdir(empty);
    return TEST_REPORT("test_coverage");
}
