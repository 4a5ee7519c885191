/*
 * check.c — validation of a checkpoint against an architecture, collected into one report:
 * missing keys, unexpected keys, shape mismatches (expected vs found), dtypes oclip cannot use,
 * optionally NaN/Inf, plus notes and hints a user can act on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/hftext.h"
#include "model/model.h"

struct oclip_report {
    oc_arena arena;
    oclip_checkpoint *mapped;
    oclip_model_config config;
    const char *config_source;
    const char *match;
    oclip_issue *issues;
    size_t n_issues, cap_issues;
    oc_notes notes;
};

void oclip_report_free(oclip_report *r) {
    if (!r) return;
    oclip_checkpoint_free(r->mapped);
    free(r->issues);
    oc_arena_free(&r->arena);
    free(r);
}

int oclip_report_ok(const oclip_report *r) { return r->n_issues == 0; }
size_t oclip_report_n_issues(const oclip_report *r) { return r->n_issues; }
const oclip_issue *oclip_report_issue(const oclip_report *r, size_t i) {
    return i < r->n_issues ? &r->issues[i] : NULL;
}
size_t oclip_report_n_notes(const oclip_report *r) { return r->notes.n; }
const char *oclip_report_note(const oclip_report *r, size_t i) {
    return i < r->notes.n ? r->notes.items[i] : NULL;
}
const oclip_model_config *oclip_report_config(const oclip_report *r) { return &r->config; }
const char *oclip_report_config_source(const oclip_report *r) { return r->config_source; }
const char *oclip_report_match(const oclip_report *r) { return r->match; }
const oclip_checkpoint *oclip_report_mapped(const oclip_report *r) { return r->mapped; }

static oclip_issue *add_issue(oclip_report *r, oclip_issue_kind kind, const char *key) {
    if (!oc_grow((void **)&r->issues, &r->cap_issues, r->n_issues + 1, sizeof *r->issues))
        return NULL;
    oclip_issue *is = &r->issues[r->n_issues++];
    memset(is, 0, sizeof *is);
    is->kind = kind;
    is->key = key;
    is->source_key = key;
    is->expected_ndim = is->found_ndim = -1;
    is->detail = "";
    return is;
}

/* ---------------------------------------------------------------------------------------------
 * Non-finite scan (F32/F16/BF16/F64 bit patterns: exponent all ones)
 */
static void count_nonfinite(const oclip_tensor *t, uint64_t *nan, uint64_t *inf) {
    const uint8_t *p = t->data;
    *nan = *inf = 0;
    for (uint64_t i = 0; i < t->numel; i++) {
        uint64_t bits = 0, exp_mask, man_mask;
        switch (t->dtype) {
        case OCLIP_DTYPE_F32: bits = oc_rd32(p + 4 * i); exp_mask = 0x7f800000u; man_mask = 0x7fffffu; break;
        case OCLIP_DTYPE_F16: bits = oc_rd16(p + 2 * i); exp_mask = 0x7c00u; man_mask = 0x3ffu; break;
        case OCLIP_DTYPE_BF16: bits = oc_rd16(p + 2 * i); exp_mask = 0x7f80u; man_mask = 0x7fu; break;
        case OCLIP_DTYPE_F64:
            bits = oc_rd64(p + 8 * i);
            exp_mask = 0x7ff0000000000000ull;
            man_mask = 0xfffffffffffffull;
            break;
        default: return;
        }
        if ((bits & exp_mask) == exp_mask) {
            if (bits & man_mask) (*nan)++;
            else (*inf)++;
        }
    }
}

static bool is_float_weight(oclip_dtype d) {
    return d == OCLIP_DTYPE_F32 || d == OCLIP_DTYPE_F16 || d == OCLIP_DTYPE_BF16;
}

/* ---------------------------------------------------------------------------------------------
 * Hints
 */
static void describe_geometry(oc_notes *nt, const oclip_model_config *c, const char *what) {
    if (c->family == OCLIP_FAMILY_RESNET) {
        const int *L = c->vision.resnet_layers;
        oc_note(nt, "%s: ModifiedResNet image tower width %d, layers [%d, %d, %d, %d], %d px; "
                    "text tower width %d, %d layers, context %d, vocab %d; embed_dim %d", what,
                c->vision.width, L[0], L[1], L[2], L[3], c->vision.image_size[0], c->text.width,
                c->text.layers, c->text.context_length, c->text.vocab_size, c->embed_dim);
        return;
    }
    int gh = c->vision.patch_size ? c->vision.image_size[0] / c->vision.patch_size : 0;
    int gw = c->vision.patch_size ? c->vision.image_size[1] / c->vision.patch_size : 0;
    oc_note(nt, "%s: image tower width %d, %d layers, patch %d, %d positions (%dx%d px); text "
                "tower width %d, %d layers, context %d, vocab %d; embed_dim %d", what,
            c->vision.width, c->vision.layers, c->vision.patch_size, gh * gw + 1,
            c->vision.image_size[0], c->vision.image_size[1], c->text.width, c->text.layers,
            c->text.context_length, c->text.vocab_size, c->embed_dim);
}

static bool prefix_any(const oclip_checkpoint *ck, const char *prefix) {
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (!strncmp(ck->tensors[i].name, prefix, strlen(prefix))) return true;
    return false;
}

/* After a failed comparison: say what the tensors do fit. */
static void hint_architecture(oclip_report *r) {
    const oclip_checkpoint *m = r->mapped;
    bool has_visual = prefix_any(m, "visual."), has_text = oclip_checkpoint_find(m, "token_embedding.weight") ||
                                                           prefix_any(m, "transformer.");
    if (!has_text && has_visual)
        oc_note(&r->notes, "hint: no text tower in this file: vision-only checkpoint");
    if (!has_visual && has_text)
        oc_note(&r->notes, "hint: no image tower in this file: text-only checkpoint");
    if (!has_text || !has_visual) return;
    oclip_model_config inf;
    int amb = 0;
    oclip_error ierr;
    oclip_status st = oclip_infer_config(m, &inf, &amb, &ierr);
    if (st == OCLIP_E_NOMEM) r->notes.oom = true; /* the hint would be missing */
    if (st != OCLIP_OK) return;
    bool rn_file = inf.family == OCLIP_FAMILY_RESNET, rn_cfg = r->config.family == OCLIP_FAMILY_RESNET;
    if (rn_file != rn_cfg)
        oc_note(&r->notes, "hint: the file's image tower is a %s, the architecture's a %s",
                rn_file ? "ModifiedResNet (convolutional, RN50 family)" : "ViT",
                rn_cfg ? "ModifiedResNet" : "ViT");
    if (inf.name[0] && strcmp(inf.name, r->config.name) != 0 && rn_file) {
        const int *L = inf.vision.resnet_layers;
        oc_note(&r->notes, "hint: shapes fit %s (ModifiedResNet, layers [%d, %d, %d, %d], width "
                "%d, %d px)%s%s: use --arch %s", inf.name, L[0], L[1], L[2], L[3],
                inf.vision.width, inf.vision.image_size[0], r->config.name[0] ? ", not " : "",
                r->config.name, inf.name);
    } else if (inf.name[0] && strcmp(inf.name, r->config.name) != 0) {
        int gh = inf.vision.image_size[0] / inf.vision.patch_size;
        oc_note(&r->notes, "hint: shapes fit %s (patch %d, %d positions, %d px)%s%s: use --arch %s",
                inf.name, inf.vision.patch_size, gh * gh + 1, inf.vision.image_size[0],
                r->config.name[0] ? ", not " : "", r->config.name, inf.name);
    } else if (!inf.name[0]) {
        describe_geometry(&r->notes, &inf, "hint: the tensors say");
    }
}

/* A config without a name (from open_clip_config.json, an HF config.json, or inferred) whose
 * expected state dict is exactly a built-in one's takes that name: the -quickgelu twin when
 * the config runs QuickGELU and such a twin exists. */
static void name_config(oclip_report *r) {
    if (r->config.name[0] || !r->match || r->n_issues) return;
    oclip_model_config twin;
    char name[80];
    snprintf(name, sizeof name, "%s-quickgelu", r->match);
    oclip_error berr;
    oclip_status st = r->config.quick_gelu ? oclip_config_builtin(name, &twin, &berr) : OCLIP_OK;
    if (st == OCLIP_E_NOMEM) r->notes.oom = true; /* the name would depend on memory */
    if (r->config.quick_gelu && st == OCLIP_OK)
        snprintf(r->config.name, sizeof r->config.name, "%.63s", name);
    else if (!r->config.quick_gelu)
        snprintf(r->config.name, sizeof r->config.name, "%s", r->match);
}

/* ---------------------------------------------------------------------------------------------
 * The check
 */
bool oc_tag_gelu_mismatch(const char *arch, const char *tag, oclip_quick_gelu trained, int quick,
                          char *out, size_t size) {
    if (trained == OCLIP_QUICK_GELU_ON && !quick) {
        /* OpenCLIP 3.3 builds the config as named and only warns (factory.py create_model) */
        snprintf(out, size, "tag '%s' was trained with QuickGELU: use %.60s-quickgelu (or "
                 "--quick-gelu); this runs exact GELU, as OpenCLIP does, which only warns", tag,
                 arch);
        return true;
    }
    if (trained == OCLIP_QUICK_GELU_OFF && quick) {
        snprintf(out, size, "tag '%s' was trained with exact GELU, but this runs QuickGELU", tag);
        return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static oclip_status compare(oclip_report *r, const oc_expect *e, size_t n, int scan,
                            oclip_error *err) {
    const oclip_checkpoint *m = r->mapped;
    /* expected keys: present with the right shape and a usable dtype */
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_find(m, e[i].name);
        oclip_issue *is;
        if (!t) {
            if (!(is = add_issue(r, OCLIP_ISSUE_MISSING, e[i].name))) goto oom;
            is->expected_ndim = e[i].ndim;
            memcpy(is->expected, e[i].shape, sizeof e[i].shape);
            continue;
        }
        bool scalar_like = !strcmp(e[i].name, "logit_scale") || !strcmp(e[i].name, "logit_bias");
        bool same = scalar_like ? t->numel == 1 : t->ndim == e[i].ndim;
        for (int d = 0; same && !scalar_like && d < t->ndim; d++) same = t->shape[d] == e[i].shape[d];
        if (!same) {
            if (!(is = add_issue(r, OCLIP_ISSUE_SHAPE, e[i].name))) goto oom;
            is->expected_ndim = e[i].ndim;
            memcpy(is->expected, e[i].shape, sizeof e[i].shape);
            is->found_ndim = t->ndim;
            memcpy(is->found, t->shape, sizeof t->shape);
        }
        if (!is_float_weight(t->dtype)) {
            if (!(is = add_issue(r, OCLIP_ISSUE_DTYPE, e[i].name))) goto oom;
            is->detail = oclip_dtype_name(t->dtype);
        } else if (scan) {
            uint64_t nan, inf;
            count_nonfinite(t, &nan, &inf);
            if (nan || inf) {
                if (!(is = add_issue(r, OCLIP_ISSUE_NONFINITE, e[i].name))) goto oom;
                is->detail = oc_arena_printf(&r->arena, "%llu NaN, %llu Inf",
                                             (unsigned long long)nan, (unsigned long long)inf);
                if (!is->detail) goto oom;
            }
        }
    }
    /* keys the architecture does not have (expected names sorted for binary search) */
    const char **names = malloc((n ? n : 1) * sizeof *names);
    if (!names) goto oom;
    for (size_t j = 0; j < n; j++) names[j] = e[j].name;
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *key = m->tensors[i].name;
        if (bsearch(&key, names, n, sizeof *names, cmp_str)) continue;
        if (oc_arch_optional(&r->config, key) && m->tensors[i].numel == 1) continue;
        /* the buffer transformers < 4.31 saved; open_clip factory.py load_checkpoint drops it */
        if (r->config.text.hf_model_name[0] &&
            !strcmp(key, "text.transformer.embeddings.position_ids")) {
            oc_note(&r->notes, "dropped %s (a buffer older transformers saved), as OpenCLIP's "
                    "load_checkpoint does", key);
            continue;
        }
        oclip_issue *is = add_issue(r, OCLIP_ISSUE_UNEXPECTED, key);
        if (!is) {
            free(names);
            goto oom;
        }
        is->found_ndim = m->tensors[i].ndim;
        memcpy(is->found, m->tensors[i].shape, sizeof m->tensors[i].shape);
    }
    free(names);
    return OCLIP_OK;
oom:
    return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
}

oclip_status oclip_check(const oclip_checkpoint *ck, const oclip_check_options *opt,
                         oclip_report **out, oclip_error *err) {
    oc_err_clear(err);
    if (!ck || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_check: NULL argument");
    *out = NULL;
    oclip_check_options defaults;
    oclip_check_options_default(&defaults);
    if (!opt) opt = &defaults;
    oclip_status st = OC_OPTIONS_OK(opt, "oclip_check_options", err);
    if (st) return st;
    oclip_report *r = calloc(1, sizeof *r);
    if (!r) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    r->notes.arena = &r->arena;

    /* 1. what the file is */
    if (ck->is_training) {
        const char *k, *v, *epoch = NULL;
        for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
            if (!strcmp(k, "epoch")) epoch = v;
        if (epoch) oc_note(&r->notes, "training checkpoint (epoch %s): using its state_dict", epoch);
        else oc_note(&r->notes, "training checkpoint: using its state_dict");
    }
    if (ck->prefix_stripped)
        oc_note(&r->notes, "stripped the '%s' prefix from every key", ck->prefix_stripped);
    if (ck->layout == OCLIP_LAYOUT_OPEN_CLIP_CUSTOM || ck->layout == OCLIP_LAYOUT_UNKNOWN) {
        oc_note(&r->notes, "%s layout",
                ck->layout == OCLIP_LAYOUT_UNKNOWN ? "unrecognised" : "CustomTextCLIP (text.*)");
    }

    /* 2. OpenCLIP names */
    if ((st = oc_layout_map(ck, &r->mapped, &r->notes, err))) goto fail;

    /* 3. the architecture */
    if (opt->config) {
        r->config = *opt->config;
        /* copied: the caller's string may not outlive the report */
        const char *src = opt->config_source ? opt->config_source : "given";
        r->config_source = oc_arena_strndup(&r->arena, src, strlen(src));
        if (!r->config_source) {
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            goto fail;
        }
    } else {
        int amb = 0;
        if ((st = oclip_infer_config(r->mapped, &r->config, &amb, err))) goto fail;
        r->config_source = "inferred";
        if (r->config.name[0] && amb)
            oc_note(&r->notes, "QuickGELU cannot be seen in weights: using %s (exact GELU, "
                               "OpenCLIP's default); pass --quick-gelu or --arch %s-quickgelu "
                               "for weights trained with QuickGELU (OpenAI's, and tags marked "
                               "quick_gelu)", r->config.name, r->config.name);
        if (ck->layout == OCLIP_LAYOUT_OPENAI && !r->config.quick_gelu) {
            oc_note(&r->notes, "OpenAI weights were trained with QuickGELU: using it");
            r->config.quick_gelu = 1;
        }
    }
    if (opt->quick_gelu != OCLIP_QUICK_GELU_UNSET) {
        /* the override, whatever the config given or inferred says */
        int quick = opt->quick_gelu == OCLIP_QUICK_GELU_ON;
        /* an inferred config is named after the built-in it fits (below), with the activation
         * it now runs; a config given keeps the name it was given */
        if (!opt->config && r->config.quick_gelu != quick) r->config.name[0] = '\0';
        r->config.quick_gelu = quick;
        r->config_source = oc_arena_printf(&r->arena, "%s + %s", r->config_source,
                                           r->config.quick_gelu ? "QuickGELU" : "exact GELU");
        if (!r->config_source) {
            st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (r->config.unknown_keys[0])
        oc_note(&r->notes, "the config has keys oclip does not use: %s", r->config.unknown_keys);
    if (opt->tag && r->config.name[0]) {
        oclip_pretrained pt;
        char why[400];
        if ((st = oclip_pretrained_lookup(r->config.name, opt->tag, &pt, err))) goto fail;
        if (oc_tag_gelu_mismatch(r->config.name, pt.tag, pt.quick_gelu, r->config.quick_gelu,
                                 why, sizeof why))
            oc_note(&r->notes, "hint: %s", why);
    }
    /* an HF text tower: its transformer's config.json */
    if (r->config.text.hf_model_name[0] && !oc_arch_unsupported(&r->config) &&
        (st = oc_hftext_resolve(&r->config.text, ck->name, &r->notes, err)))
        goto fail;
    const char *why = oc_arch_unsupported(&r->config);
    if (why) {
        st = oc_err_set(err, OCLIP_E_UNSUPPORTED, "architecture %s: not supported yet: %s%s%s",
                        r->config.name[0] ? r->config.name : "(from the config)", why,
                        r->config.unknown_keys[0] ? "; keys oclip does not know: " : "",
                        r->config.unknown_keys);
        goto fail;
    }

    /* 4. compare */
    oc_expect *e;
    size_t n;
    if ((st = oc_arch_expected(&r->config, &r->arena, &e, &n, err))) goto fail;
    if ((st = compare(r, e, n, opt->scan, err))) goto fail;
    {
        oclip_model_config inf;
        int amb;
        oclip_error ierr;
        st = oclip_infer_config(r->mapped, &inf, &amb, &ierr);
        if (st == OCLIP_E_NOMEM) {
            if (err) *err = ierr;
            goto fail;
        }
        if (st == OCLIP_OK && inf.name[0]) {
            r->match = oc_arena_strndup(&r->arena, inf.name, strlen(inf.name));
            if (!r->match) r->notes.oom = true;
        }
    }
    name_config(r);
    if (r->n_issues) hint_architecture(r);
    if (r->notes.oom) { /* a note or name could not be stored: no report with parts missing */
        st = oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        goto fail;
    }
    *out = r;
    return OCLIP_OK;
fail:
    oclip_report_free(r);
    return st;
}
