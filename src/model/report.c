/*
 * report.c — the reports of `oclip inspect --json` and `oclip check --json` as JSON text, built
 * once here for the CLI and the Python package (oclip_inspect_json, oclip_report_json). The
 * fields are documented in README.md ("oclip inspect", "oclip check").
 *
 * Every string comes from a file (tensor names, entries, paths, notes quoting them): the text
 * goes through json_write.h's writer, which escapes each one (valid UTF-8 JSON whatever a file
 * held).
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "model/model.h"

/* o as text (malloc'd), or NULL when out of memory (ok false: a cJSON constructor or addition
 * failed, so the tree has a hole); o is freed. */
static char *finish(cJSON *o, bool ok) {
    char *text = NULL;
    if (o && ok) {
        text = ocj_print(o);
    }
    cJSON_Delete(o);
    return text;
}

/* Adds item to the object `to` under key (to the array `to` when key is NULL); a failure (NULL
 * to or item, out of memory) frees item and sets *ok to false. */
static void add(cJSON *to, const char *key, cJSON *item, bool *ok) {
    if (!to || !item) {
        cJSON_Delete(item);
        *ok = false;
        return;
    }
    if (key ? !cJSON_AddItemToObject(to, key, item) : !cJSON_AddItemToArray(to, item)) {
        cJSON_Delete(item);
        *ok = false;
    }
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static cJSON *dims(int ndim, const int64_t *d, bool *ok) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < ndim; i++) add(a, NULL, cJSON_CreateNumber((double)d[i]), ok);
    return a;
}

static cJSON *warnings(const oclip_source *s, bool *ok) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < oclip_source_n_warnings(s); i++)
        add(a, NULL, cJSON_CreateString(oclip_source_warning(s, i)), ok);
    return a;
}

static cJSON *notes(const oclip_report *r, bool *ok) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < oclip_report_n_notes(r); i++)
        add(a, NULL, cJSON_CreateString(oclip_report_note(r, i)), ok);
    return a;
}

/* What a report names as the checkpoint: its file, or the embedded model. */
static const char *source_label(const oclip_source *s) {
    return oclip_source_kind_of(s) == OCLIP_SOURCE_EMBEDDED ? "default model (embedded)"
                                                            : oclip_source_path(s);
}

static const char *issue_kind_name(oclip_issue_kind k) {
    switch (k) {
    case OCLIP_ISSUE_MISSING: return "missing";
    case OCLIP_ISSUE_UNEXPECTED: return "unexpected";
    case OCLIP_ISSUE_SHAPE: return "shape";
    case OCLIP_ISSUE_DTYPE: return "dtype";
    case OCLIP_ISSUE_NONFINITE: return "nonfinite";
    }
    return "?";
}

char *oclip_inspect_json(const oclip_source *s, const oclip_report *r, const char *arch_note,
                         int tensors) {
    const oclip_checkpoint *ck = s ? oclip_source_checkpoint(s) : NULL;
    if (!ck) return NULL;
    uint64_t params = 0, by_dtype[OCLIP_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        params += t->numel;
        by_dtype[t->dtype]++;
    }
    bool ok = true;
    cJSON *o = cJSON_CreateObject();
    add(o, "path", cJSON_CreateString(source_label(s)), &ok);
    add(o, "container", cJSON_CreateString(oclip_container_name(oclip_checkpoint_container(ck))), &ok);
    add(o, "layout", cJSON_CreateString(oclip_layout_name(oclip_checkpoint_layout(ck))), &ok);
    add(o, "wrapper", str_or_null(oclip_checkpoint_is_training(ck) ? "training-checkpoint" : NULL), &ok);
    add(o, "prefix_stripped", str_or_null(oclip_checkpoint_prefix_stripped(ck)), &ok);
    add(o, "tensors", cJSON_CreateNumber((double)oclip_checkpoint_n_tensors(ck)), &ok);
    add(o, "parameters", cJSON_CreateNumber((double)params), &ok);
    cJSON *dt = cJSON_CreateObject();
    for (int d = 0; dt && d < OCLIP_DTYPE_COUNT; d++)
        if (by_dtype[d])
            add(dt, oclip_dtype_name((oclip_dtype)d), cJSON_CreateNumber((double)by_dtype[d]), &ok);
    add(o, "dtypes", dt, &ok);
    cJSON *en = cJSON_CreateObject();
    const char *k, *v;
    for (size_t i = 0; en && oclip_checkpoint_entry(ck, i, &k, &v); i++)
        add(en, k, cJSON_CreateString(v), &ok);
    add(o, "entries", en, &ok);
    if (r) {
        const oclip_model_config *c = oclip_report_config(r);
        cJSON *a = cJSON_CreateObject();
        add(a, "name", str_or_null(c->name[0] ? c->name : NULL), &ok);
        add(a, "source", cJSON_CreateString(oclip_report_config_source(r)), &ok);
        add(a, "fits", cJSON_CreateBool(oclip_report_ok(r)), &ok);
        add(a, "issues", cJSON_CreateNumber((double)oclip_report_n_issues(r)), &ok);
        char *cfg = oclip_config_to_json(c);
        cJSON *cj = cfg ? cJSON_Parse(cfg) : NULL;
        ok = ok && cfg && cj; /* the config's own JSON parses: a failure here is memory */
        oclip_free(cfg);
        add(a, "config", cj ? cj : cJSON_CreateNull(), &ok);
        add(a, "notes", notes(r, &ok), &ok);
        add(a, "warnings", warnings(s, &ok), &ok);
        add(o, "architecture", a, &ok);
    } else {
        add(o, "architecture", cJSON_CreateNull(), &ok);
        add(o, "architecture_note", cJSON_CreateString(arch_note ? arch_note : ""), &ok);
    }
    if (tensors) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr && ok && i < oclip_checkpoint_n_tensors(ck); i++) {
            const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
            cJSON *e = cJSON_CreateObject();
            add(e, "name", cJSON_CreateString(t->name), &ok);
            add(e, "dtype", cJSON_CreateString(oclip_dtype_name(t->dtype)), &ok);
            add(e, "shape", dims(t->ndim, t->shape, &ok), &ok);
            add(arr, NULL, e, &ok);
        }
        add(o, "tensor_list", arr, &ok);
    }
    return finish(o, ok);
}

char *oclip_report_json(const oclip_source *s, const oclip_report *r) {
    const oclip_checkpoint *ck = s ? oclip_source_checkpoint(s) : NULL;
    if (!ck || !r) return NULL;
    bool ok = true;
    const oclip_model_config *c = oclip_report_config(r);
    cJSON *o = cJSON_CreateObject();
    add(o, "path", cJSON_CreateString(source_label(s)), &ok);
    add(o, "ok", cJSON_CreateBool(oclip_report_ok(r)), &ok);
    add(o, "layout", cJSON_CreateString(oclip_layout_name(oclip_checkpoint_layout(ck))), &ok);
    add(o, "architecture", str_or_null(c->name[0] ? c->name : NULL), &ok);
    add(o, "source", cJSON_CreateString(oclip_report_config_source(r)), &ok);
    add(o, "quick_gelu", cJSON_CreateBool(c->quick_gelu), &ok);
    add(o, "fits", str_or_null(oclip_report_match(r)), &ok);
    cJSON *issues = cJSON_CreateArray();
    for (size_t i = 0; issues && ok && i < oclip_report_n_issues(r); i++) {
        const oclip_issue *is = oclip_report_issue(r, i);
        cJSON *e = cJSON_CreateObject();
        add(e, "kind", cJSON_CreateString(issue_kind_name(is->kind)), &ok);
        add(e, "key", cJSON_CreateString(is->key), &ok);
        if (is->expected_ndim >= 0) add(e, "expected", dims(is->expected_ndim, is->expected, &ok), &ok);
        if (is->found_ndim >= 0) add(e, "found", dims(is->found_ndim, is->found, &ok), &ok);
        if (is->detail && is->detail[0]) add(e, "detail", cJSON_CreateString(is->detail), &ok);
        add(issues, NULL, e, &ok);
    }
    add(o, "issues", issues, &ok);
    add(o, "notes", notes(r, &ok), &ok);
    add(o, "warnings", warnings(s, &ok), &ok);
    return finish(o, ok);
}
