/*
 * test_coverage.c — the coverage table: every (architecture, tag) of OpenCLIP 3.3.0's pretrained
 * list (tests/fixtures/coverage/pretrained.json, from open_clip.list_pretrained() by
 * tools/fixtures_coverage.py) against oclip's:
 *   - oclip's table holds exactly these pairs, in order, with the same hf_hub and url (the files);
 *   - each architecture's config is built in and parses;
 *   - each is either computed (oc_model_unsupported is NULL once an HF text tower's config is
 *     resolved, here from the built-in values) or refused with a reason, and the public
 *     oclip_config_unsupported (what `oclip list` and README's generated coverage table,
 *     tools/coverage.py, report) gives the same verdict.
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

int main(void) {
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
        /* what `oclip list` says, on the config as built in */
        const char *pub = oclip_config_unsupported(&c);
        const char *why = oc_model_unsupported(&c);
        if (!why && c.family == OCLIP_FAMILY_HF_TEXT) {
            oclip_status s = oc_hftext_resolve(&c.text, NULL, NULL, &err);
            why = s ? "the HF text model's config.json is not built in" : oc_model_unsupported(&c);
        }
        CHECKF(!why == !pub, "%s: oclip_config_unsupported says %s, loading %s", arch,
               pub ? pub : "ok", why ? why : "ok");
        CHECKF(!why || strlen(why) > 10, "%s: refused without a reason", arch);
        ok_all += !why;
    }
    fprintf(stderr, "coverage: oclip runs %d of the %d pretrained tags of OpenCLIP 3.3.0\n",
            ok_all, n);
    cJSON_Delete(root);
    rmdir(empty);
    return TEST_REPORT("test_coverage");
}
