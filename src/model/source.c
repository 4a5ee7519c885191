/*
 * source.c — where a model comes from. oclip_source_resolve turns a model spec (`-m SPEC`) and
 * the overrides (oclip_source_options: arch, config_file, config, quick_gelu) into one
 * description, made here and nowhere else: the weights file, the architecture and the
 * preprocessing with where each came from, the pretrained tag, notes and warnings.
 * oclip_model_load (model.c) is resolve -> open -> check -> bind; every command of the oclip
 * program reads its specs through oclip_source_resolve.
 *
 * The spec forms and the order in which the architecture is chosen are in include/oclip.h
 * ("Model sources"). Files and folders follow OpenCLIP's local-dir loader (open_clip
 * factory.py, pretrained.py file names; open_clip_config.json beside the path as given);
 * hf-hub: and ARCH:TAG follow open_clip pretrained.py / push_to_hf_hub.py. The caches are read
 * offline through src/hub/cache.c; downloads go through the hub client (src/hub/hub.c), which
 * knows nothing of specs: this file tells it which repository, and refuses a model family
 * oclip does not run before any request.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "hub/hub.h"
#include "internal.h"
#include "model/model.h"

#define PSIZE OC_PATH_SIZE
#define MAX_MESSAGES 8 /* notes, and warnings: a handful at most */
#define MAX_CONFIG (16 << 20) /* config files are a few kB: refuse what cannot be one */

struct oclip_source {
    oclip_source_kind kind;
    char path[PSIZE];              /* the weights; "" when none */
    bool has_config;
    oclip_model_config config;
    char config_origin[PSIZE + 200];
    oclip_preprocess_cfg pre;
    char pre_origin[PSIZE + 200];  /* "" = OpenAI's defaults, nothing stated them */
    char tag[64];                  /* ARCH:TAG or arch NAME:TAG */
    char tag_arch[64];             /* the tag's architecture, for the QuickGELU hint */
    oclip_quick_gelu tag_quick_gelu;
    oclip_quick_gelu quick_gelu;   /* the override, applied by the check */
    char desc[1400];
    char tag_warning[400];         /* the tag was trained with the other activation; "" */
    const char *notes[MAX_MESSAGES], *warnings[MAX_MESSAGES];
    size_t n_notes, n_warnings;
    char commit[64];
    oclip_fetch_info fetch;
    oclip_checkpoint *ck;
    bool completed;                /* oclip_source_open ran: the checkpoint is open */
    oc_arena arena;                /* messages */
};

/* What a spec names, before anything is looked up. */
typedef struct {
    oclip_source_kind kind;
    const char *spec;              /* as given ("default" for the embedded model) */
    char org[128], name[128], rev[160]; /* hf-hub: */
    oclip_pretrained pt;           /* ARCH:TAG */
    oclip_model_config arch;       /* a bare ARCH */
    int path_kind;                 /* FILE / DIR / CONFIG: oc_path_kind of the spec */
} spec_parts;

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 */
/* snprintf for text that may be cut short (descriptions, never paths). */
static void OC_PRINTF(3, 4) cut(char *out, size_t size, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, size, f, ap);
    va_end(ap);
}

static oclip_status too_long(oclip_error *err, const char *what) {
    return oc_err_set(err, OCLIP_E_ARG, "%.200s: path longer than %d bytes", what, PSIZE - 1);
}

static oclip_status oom(oclip_error *err) {
    return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
}

static bool add_message(oclip_source *s, bool warning, const char *fmt, ...) OC_PRINTF(3, 4);
static bool add_message(oclip_source *s, bool warning, const char *fmt, ...) {
    const char **list = warning ? s->warnings : s->notes;
    size_t *n = warning ? &s->n_warnings : &s->n_notes;
    if (*n == MAX_MESSAGES) return true;
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *m = oc_arena_strndup(&s->arena, buf, strlen(buf));
    if (!m) return false;
    list[(*n)++] = m;
    return true;
}

/* The hint for anything missing from a cache. `what` is the spec to pull, `repo` "ORG/NAME". */
static oclip_status missing(oclip_error *err, const char *what, const char *repo) {
    oc_err_hint(err, "`oclip pull %.300s` fetches the files into this cache (as does "
                "`hf download %.200s`)%s", what, repo,
                oc_env_true("HF_HUB_OFFLINE") ? "; HF_HUB_OFFLINE is set: unset it to download"
                                              : "");
    return OCLIP_E_NOTFOUND;
}

/* The folder of PATH as given (no symlink resolution: the HF cache links blobs elsewhere). */
static bool dir_of(const char *path, char *out, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) return oc_fmt(out, size, ".");
    if (slash == path) return oc_fmt(out, size, "/");
    return oc_fmt(out, size, "%.*s", (int)(slash - path), path);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* ---------------------------------------------------------------------------------------------
 * Config files: an open_clip_config.json (model_cfg + preprocess_cfg), an OpenCLIP model config
 * (what model_configs/ holds), or an HF-transformers config.json.
 */
typedef enum { CFG_OPEN_CLIP, CFG_HF, CFG_ANY } cfg_kind;

/* Parses config text `what` (a file name or "checkpoint metadata ..." for messages) of *kind;
 * CFG_ANY is told by the content and *kind says what it was. *has_pre: the text held
 * preprocessing (open_clip_config.json's preprocess_cfg). */
static oclip_status parse_config(const char *text, size_t len, cfg_kind *kindp, const char *what,
                                 oclip_model_config *cfg, oclip_preprocess_cfg *pre,
                                 bool *has_pre, oclip_error *err) {
    cfg_kind kind = *kindp;
    *has_pre = false;
    if (len > MAX_CONFIG)
        return oc_err_set(err, OCLIP_E_FORMAT, "config '%.400s': %zu bytes, more than a config "
                          "holds (at most %d)", what, len, MAX_CONFIG);
    if (kind == CFG_ANY) {
        /* an open_clip_config.json holds "model_cfg"; a model config is its content; an HF
         * config.json has text_config and vision_config */
        struct cJSON *root = oc_json_parse(text, len, NULL);
        kind = !root ? CFG_ANY
               : cJSON_GetObjectItemCaseSensitive(root, "model_cfg") ? CFG_OPEN_CLIP
               : cJSON_GetObjectItemCaseSensitive(root, "text_config") &&
                       cJSON_GetObjectItemCaseSensitive(root, "vision_config")
                   ? CFG_HF
                   : CFG_ANY;
        cJSON_Delete(root);
        *kindp = kind;
    }
    oclip_status s;
    if (kind == CFG_OPEN_CLIP) {
        s = oclip_config_parse_open_clip(text, len, cfg, pre, err);
        *has_pre = s == OCLIP_OK;
    } else if (kind == CFG_HF) {
        s = oclip_config_from_hf(text, len, cfg, err);
    } else {
        s = oclip_config_parse(text, len, cfg, err);
    }
    if (s) oc_err_wrap(err, "config '%.400s'", what);
    return s;
}

static oclip_status read_config(const char *file, cfg_kind *kind, oclip_model_config *cfg,
                                oclip_preprocess_cfg *pre, bool *has_pre, oclip_error *err) {
    oc_map map;
    oclip_status s = oc_map_file(file, &map, err);
    if (s) {
        oc_err_wrap(err, "config '%.400s'", file);
        return s;
    }
    s = parse_config((const char *)map.data, map.size, kind, file, cfg, pre, has_pre, err);
    oc_unmap(&map);
    return s;
}

/* The architecture (and preprocessing, when the file holds one) from a config file. */
static oclip_status use_config_file(oclip_source *out, const char *file, cfg_kind kind,
                                    oclip_error *err) {
    oclip_preprocess_cfg pre;
    bool has_pre;
    oclip_status s = read_config(file, &kind, &out->config, &pre, &has_pre, err);
    if (s) return s;
    out->has_config = true;
    if (!oc_fmt(out->config_origin, sizeof out->config_origin, "%s", file))
        return too_long(err, file);
    if (has_pre) {
        out->pre = pre;
        snprintf(out->pre_origin, sizeof out->pre_origin, "%s", out->config_origin);
    } else if (kind == CFG_HF && out->config.has_logit_bias) {
        /* SiglipImageProcessor's defaults, which are OpenCLIP's SigLIP tags' settings
         * (docs/SIGLIP.md section 5): squash bicubic, mean = std = 0.5 */
        oclip_preprocess_cfg_default(&out->pre);
        snprintf(out->pre.resize_mode, sizeof out->pre.resize_mode, "squash");
        for (int c = 0; c < 3; c++) out->pre.mean[c] = out->pre.std[c] = 0.5;
        snprintf(out->pre_origin, sizeof out->pre_origin, "SigLIP's defaults (squash, mean/std "
                 "0.5): an HF-transformers config.json states none");
    } else if (kind == CFG_HF) {
        /* what CLIPImageProcessor does for CLIP: OpenAI's constants */
        oclip_preprocess_cfg_default(&out->pre);
        snprintf(out->pre_origin, sizeof out->pre_origin, "OpenAI's defaults: an "
                 "HF-transformers config.json states none");
    }
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The spec's forms
 */
/* The checkpoint OpenCLIP's local-dir loader picks in a folder (open_clip factory.py
 * `local-dir:` / pretrained.py file names); -1 when none is there. */
static int checkpoint_in_dir(const char *dir, char *out) {
    static const char *const names[] = {
        "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
        "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth", "model.safetensors",
        "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.pth", "model.pth"};
    return oc_hub_first_file(dir, names, sizeof names / sizeof *names, out);
}

static oclip_status locate_embedded(oclip_source *out, oclip_error *err) {
    const void *w;
    const char *json;
    size_t wsize, jsize;
    if (!oc_default_model(&w, &wsize, &json, &jsize))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "this build of oclip has no embedded default model (non-ELF target); "
                          "give a model spec");
    bool has_pre;
    cfg_kind kind = CFG_OPEN_CLIP;
    oclip_status s = parse_config(json, jsize, &kind,
                                  "embedded default model: open_clip_config.json", &out->config,
                                  &out->pre, &has_pre, err);
    if (s) return s;
    out->has_config = true;
    snprintf(out->config_origin, sizeof out->config_origin, "the embedded model's open_clip_config.json");
    snprintf(out->pre_origin, sizeof out->pre_origin, "the embedded model's open_clip_config.json");
    snprintf(out->desc, sizeof out->desc, "the default model embedded in oclip (models/default)");
    return OCLIP_OK;
}

/* A checkpoint file or a folder: the checkpoint, the open_clip_config.json beside it. */
static oclip_status locate_path(oclip_source *out, const spec_parts *p, bool weights_optional,
                                oclip_error *err) {
    char dir[PSIZE], beside[PSIZE + 32];
    const char *spec = p->spec;
    if (p->kind == OCLIP_SOURCE_DIR) {
        if (!oc_fmt(dir, sizeof dir, "%s", spec)) return too_long(err, spec);
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0'; /* "m/" -> "m" */
        if (checkpoint_in_dir(dir, out->path) < 0 && !weights_optional) {
            oc_err_set(err, OCLIP_E_NOTFOUND, "no checkpoint in folder '%.400s'", spec);
            oc_err_hint(err, "expected open_clip_model.safetensors, open_clip_pytorch_model.bin, "
                             "model.safetensors or pytorch_model.bin");
            return OCLIP_E_NOTFOUND;
        }
    } else {
        if (!oc_fmt(out->path, sizeof out->path, "%s", spec)) return too_long(err, spec);
        if (!dir_of(spec, dir, sizeof dir)) return too_long(err, spec);
    }
    snprintf(beside, sizeof beside, "%s/open_clip_config.json", dir);
    oclip_status s = oc_path_kind(beside) == 1 ? use_config_file(out, beside, CFG_OPEN_CLIP, err)
                                               : OCLIP_OK;
    if (s) return s;
    cut(out->desc, sizeof out->desc, "%s%s%s%s", out->path[0] ? out->path : spec,
        out->path[0] && strcmp(out->path, spec) ? " (picked in the folder)" : "",
        out->has_config ? ", architecture and preprocessing from " : "",
        out->has_config ? out->config_origin : "");
    return OCLIP_OK;
}

/* hf-hub:ORG/NAME[@REVISION] in the cache. *absent: the cache lacks what was looked for. */
static oclip_status locate_hf_hub(oclip_source *out, const spec_parts *p, bool weights_optional,
                                  bool *absent, oclip_error *err) {
    char repo[300], pull[320], repo_dir[PSIZE], snap[PSIZE], file[PSIZE];
    snprintf(repo, sizeof repo, "%s/%s", p->org, p->name);
    snprintf(pull, sizeof pull, "hf-hub:%s", repo);
    oclip_status s = oc_hub_snapshot(p->org, p->name, p->rev, repo_dir, snap, err);
    if (s == OCLIP_E_NOTFOUND) {
        *absent = true;
        return missing(err, pull, repo);
    }
    if (s) return s;
    static const char *const weights[] = {"open_clip_model.safetensors",
                                          "open_clip_pytorch_model.bin"};
    /* a repository without OpenCLIP weights: its HF-transformers ones (what oclip_pull takes) */
    static const char *const hf[] = {"model.safetensors", "pytorch_model.bin"};
    /* OpenCLIP's hf-hub: needs open_clip_config.json for the architecture */
    if (!oc_fmt(file, sizeof file, "%s/open_clip_config.json", snap)) return too_long(err, snap);
    if (oc_path_kind(file) == 1) {
        if ((s = use_config_file(out, file, CFG_OPEN_CLIP, err))) return s;
        if (oc_hub_first_file(snap, weights, 2, out->path) < 0 &&
            oc_hub_first_file(snap, hf, 2, out->path) < 0 && !weights_optional) {
            oc_err_set(err, OCLIP_E_NOTFOUND, "%s: neither open_clip_model.safetensors nor "
                       "open_clip_pytorch_model.bin in snapshot '%s'", p->spec, snap);
            *absent = true;
            return missing(err, pull, repo);
        }
        cut(out->desc, sizeof out->desc, "%s -> %s (architecture and preprocessing from "
            "open_clip_config.json in the snapshot)", p->spec,
            out->path[0] ? out->path : "no weights in the cache");
    } else {
        /* an HF-transformers CLIPModel repository: its config.json and weights */
        char cfg[PSIZE];
        if (!oc_fmt(cfg, sizeof cfg, "%s/config.json", snap) || oc_path_kind(cfg) != 1 ||
            (oc_hub_first_file(snap, hf, 2, out->path) < 0 && !weights_optional)) {
            out->path[0] = '\0';
            oc_err_set(err, OCLIP_E_NOTFOUND, "%s: no open_clip_config.json in snapshot '%s' "
                       "(OpenCLIP's hf-hub: needs it for the architecture), and no "
                       "HF-transformers config.json with model.safetensors or pytorch_model.bin",
                       p->spec, snap);
            *absent = true;
            return missing(err, pull, repo);
        }
        if ((s = use_config_file(out, cfg, CFG_HF, err))) return s;
        cut(out->desc, sizeof out->desc, "%s -> %s (HF-transformers repo: architecture from "
            "config.json, OpenAI preprocessing)", p->spec,
            out->path[0] ? out->path : "no weights in the cache");
    }
    const char *base = strrchr(out->path, '/');
    if (base && (!strcmp(base + 1, "model.safetensors") || !strcmp(base + 1, "pytorch_model.bin")) &&
        !add_message(out, false, "%s has no OpenCLIP weights (open_clip_model.safetensors, "
                     "open_clip_pytorch_model.bin): its HF-transformers %s is mapped onto "
                     "OpenCLIP's keys when loaded", repo, base + 1))
        return oom(err);
    return OCLIP_OK;
}

/* The settings that decide which tensors a model has and their shapes. */
static bool same_shapes(const oclip_model_config *a, const oclip_model_config *b) {
    const oclip_vision_cfg *va = &a->vision, *vb = &b->vision;
    const oclip_text_cfg *ta = &a->text, *tb = &b->text;
    return a->family == b->family && a->embed_dim == b->embed_dim &&
           a->has_logit_bias == b->has_logit_bias && a->custom_text == b->custom_text &&
           va->image_size[0] == vb->image_size[0] && va->image_size[1] == vb->image_size[1] &&
           va->patch_size == vb->patch_size && va->width == vb->width &&
           va->layers == vb->layers && va->head_width == vb->head_width &&
           va->mlp_ratio == vb->mlp_ratio && va->has_ls == vb->has_ls &&
           va->no_ln_pre == vb->no_ln_pre && va->attentional_pool == vb->attentional_pool &&
           !strcmp(va->pool_type, vb->pool_type) &&
           !memcmp(va->resnet_layers, vb->resnet_layers, sizeof va->resnet_layers) &&
           !strcmp(va->timm_model_name, vb->timm_model_name) &&
           ta->context_length == tb->context_length && ta->vocab_size == tb->vocab_size &&
           ta->width == tb->width && ta->heads == tb->heads && ta->layers == tb->layers &&
           ta->mlp_ratio == tb->mlp_ratio && ta->has_ls == tb->has_ls &&
           ta->embed_cls == tb->embed_cls && ta->proj_bias == tb->proj_bias &&
           !strcmp(ta->proj_type, tb->proj_type) &&
           !strcmp(ta->hf_model_name, tb->hf_model_name);
}

/* ARCH:TAG found in snapshot `snap`: OpenCLIP 3.3 builds the built-in ARCH whatever the repo
 * holds, and that stays the rule when the snapshot's open_clip_config.json agrees with it on
 * every tensor shape (its activation and other options are then ignored, as OpenCLIP ignores
 * them). When the repo's config describes other tensors (other widths, layers, sizes: weights
 * the built-in config cannot load, which OpenCLIP refuses), the repo's config is used instead
 * and config_origin says so. */
static oclip_status repo_architecture(const oclip_pretrained *pt, const char *snap,
                                      oclip_source *out, oclip_error *err) {
    char file[PSIZE];
    if (!oc_fmt(file, sizeof file, "%s/open_clip_config.json", snap) || oc_path_kind(file) != 1)
        return OCLIP_OK;
    oclip_model_config repo;
    oclip_preprocess_cfg pre;
    bool has_pre;
    cfg_kind kind = CFG_OPEN_CLIP;
    oclip_status s = read_config(file, &kind, &repo, &pre, &has_pre, err);
    if (s) {
        oc_err_wrap(err, "pretrained %s:%s", pt->arch, pt->tag);
        return s;
    }
    if (same_shapes(&repo, &out->config)) return OCLIP_OK;
    out->config = repo;
    cut(out->config_origin, sizeof out->config_origin, "%s (the repository's architecture: its "
        "tensors differ from the built-in %s's)", file, pt->arch);
    return OCLIP_OK;
}

/* ARCH:TAG: the built-in ARCH, the tag's preprocessing, the weights from the caches. */
static oclip_status locate_pretrained(oclip_source *out, const spec_parts *p,
                                      bool weights_optional, bool *absent, oclip_error *err) {
    const oclip_pretrained *pt = &p->pt;
    oclip_status s;
    /* OpenCLIP 3.3: the architecture is the built-in config named, whatever the tag says */
    if ((s = oclip_config_builtin(pt->arch, &out->config, err))) {
        oc_err_wrap(err, "pretrained %s:%s", pt->arch, pt->tag);
        return s;
    }
    out->has_config = true;
    snprintf(out->config_origin, sizeof out->config_origin,
             "built-in config %s (pretrained %s:%s)", pt->arch, pt->arch, pt->tag);
    out->pre = pt->preprocess;
    snprintf(out->pre_origin, sizeof out->pre_origin, "pretrained tag %s:%s", pt->arch,
             pt->tag);

    char where_hf[PSIZE + 200] = "", where_url[PSIZE + 100] = "";
    bool found = false;
    if (pt->hf_hub[0]) {
        /* the tag's hf_hub file at refs/main, with OpenCLIP's safetensors preference */
        oc_hub_tag_files tf;
        if (!oc_hub_split_tag(pt->hf_hub, &tf))
            return oc_err_set(err, OCLIP_E_FORMAT, "pretrained %s:%s: unexpected hf_hub '%s'",
                              pt->arch, pt->tag, pt->hf_hub);
        char repo_dir[PSIZE], snap[PSIZE];
        oclip_error e2;
        s = oc_hub_snapshot(tf.org, tf.name, "main", repo_dir, snap, &e2);
        if (s && (s != OCLIP_E_NOTFOUND || !repo_dir[0])) { /* no cache folder at all: why */
            if (err) *err = e2;
            return s;
        }
        found = !s && oc_hub_first_file(snap, tf.names, (size_t)tf.n, out->path) >= 0;
        if (found && (s = repo_architecture(pt, snap, out, err))) return s;
        if (!found)
            snprintf(where_hf, sizeof where_hf, "%s%s%s in '%s'", tf.names[0],
                     tf.n > 1 ? " or " : "", tf.n > 1 ? tf.names[1] : "", s ? repo_dir : snap);
    }
    if (!found && pt->url[0] && oc_hub_url_file(pt->url, out->path, PSIZE)) {
        /* download_pretrained_from_url: ~/.cache/clip/<basename of the url> */
        found = oc_path_kind(out->path) == 1;
        snprintf(where_url, sizeof where_url, "%s%s", where_hf[0] ? ", nor " : "", out->path);
    }
    if (!found) out->path[0] = '\0';
    if (!found && !weights_optional) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "pretrained %s:%s: weights not in the cache (no %s%s)",
                   pt->arch, pt->tag, where_hf, where_url);
        char repo[160], pull[200];
        snprintf(repo, sizeof repo, "%s", pt->hf_hub);
        char *s2 = strchr(repo, '/');
        if (s2 && (s2 = strchr(s2 + 1, '/'))) *s2 = '\0';
        snprintf(pull, sizeof pull, "%s:%s", pt->arch, pt->tag);
        *absent = true;
        return missing(err, pull, repo);
    }
    bool builtin = !strncmp(out->config_origin, "built-in", 8);
    cut(out->desc, sizeof out->desc, "%s -> %s (%s architecture %s, preprocessing of tag %s)",
        p->spec, out->path[0] ? out->path : "no weights in the cache",
        builtin ? "built-in" : "the repository's", builtin ? pt->arch : out->config_origin,
        pt->tag);
    return OCLIP_OK;
}

/* A bare ARCH or a config file (weights_optional only): OpenCLIP's default preprocessing at the
 * architecture's image size, or the file's preprocess_cfg. */
static oclip_status locate_config(oclip_source *out, const spec_parts *p, oclip_error *err) {
    if (p->kind == OCLIP_SOURCE_ARCH) {
        out->config = p->arch;
        out->has_config = true;
        snprintf(out->config_origin, sizeof out->config_origin, "built-in config %s",
                 p->arch.name);
        snprintf(out->pre_origin, sizeof out->pre_origin, "OpenCLIP's defaults for %s",
                 p->arch.name);
    } else {
        oclip_status s = use_config_file(out, p->spec, CFG_ANY, err);
        if (s) return s;
        if (!out->pre_origin[0])
            snprintf(out->pre_origin, sizeof out->pre_origin, "OpenCLIP's defaults (%.300s "
                     "has no preprocess_cfg)", p->spec);
    }
    cut(out->desc, sizeof out->desc, "%s: architecture %s, no weights", p->spec,
        out->config_origin);
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing a spec
 */
static oclip_status parse_hf_hub(const char *spec, const oclip_pull_options *po, spec_parts *p,
                                 oclip_error *err) {
    const char *id = spec + 7, *slash = strchr(id, '/'), *at = strchr(id, '@');
    const char *end = at ? at : id + strlen(id);
    if (!slash || slash > end || !oc_hub_name_ok(id, (size_t)(slash - id), 96) ||
        !oc_hub_name_ok(slash + 1, (size_t)(end - slash - 1), 96) ||
        (at && !oc_hub_name_ok(at + 1, strlen(at + 1), 128))) {
        oc_err_set(err, OCLIP_E_ARG, "'%.300s': not a valid hf-hub:ORG/NAME[@REVISION]", spec);
        oc_err_hint(err, "ORG, NAME and REVISION may hold letters, digits, '-', '_' and '.' "
                         "(no '..', no leading '.'), e.g. hf-hub:laion/CLIP-ViT-B-32-laion2B-"
                         "s34B-b79K");
        return OCLIP_E_ARG;
    }
    p->kind = OCLIP_SOURCE_HF_HUB;
    snprintf(p->org, sizeof p->org, "%.*s", (int)(slash - id), id);
    snprintf(p->name, sizeof p->name, "%.*s", (int)(end - slash - 1), slash + 1);
    snprintf(p->rev, sizeof p->rev, "%s", at ? at + 1 : "main");
    const char *rev = po ? po->revision : NULL;
    if (rev && rev[0]) {
        if (at && strcmp(rev, p->rev))
            return oc_err_set(err, OCLIP_E_ARG, "'%.300s' names revision '%s', the options "
                              "'%.100s'", spec, p->rev, rev);
        if (!oc_hub_name_ok(rev, strlen(rev), 128))
            return oc_err_set(err, OCLIP_E_ARG, "revision '%.100s': letters, digits, '-', '_' "
                              "and '.' only", rev);
        snprintf(p->rev, sizeof p->rev, "%s", rev);
    }
    return OCLIP_OK;
}

/* ARCH:TAG when the part before ':' is an architecture name (plain, or a built-in one with
 * '/', which OpenCLIP turns into '-'); false when SPEC is not of that form. */
static bool is_pretrained_form(const char *spec) {
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) return false;
    if (!memchr(spec, '/', (size_t)(colon - spec))) return true;
    char arch[128];
    oclip_model_config tmp;
    return oc_fmt(arch, sizeof arch, "%.*s", (int)(colon - spec), spec) &&
           oclip_config_builtin(arch, &tmp, NULL) == OCLIP_OK;
}

static oclip_status parse_pretrained(const char *spec, const oclip_pull_options *po,
                                     spec_parts *p, oclip_error *err) {
    const char *colon = strchr(spec, ':');
    char arch[128];
    if (!oc_fmt(arch, sizeof arch, "%.*s", (int)(colon - spec), spec))
        return oc_err_set(err, OCLIP_E_NOTFOUND, "'%.200s': no such architecture", spec);
    oclip_status s = oclip_pretrained_lookup(arch, colon + 1, &p->pt, err);
    if (s) return s; /* names the closest architectures / the valid tags */
    if (po && po->revision && po->revision[0] && strcmp(po->revision, "main"))
        return oc_err_set(err, OCLIP_E_ARG, "a pretrained name always uses the revision 'main' "
                          "of its repository (OpenCLIP's choice); for another revision use "
                          "hf-hub:ORG/NAME@REVISION");
    p->kind = OCLIP_SOURCE_PRETRAINED;
    return OCLIP_OK;
}

/* What SPEC names. pull: for oclip_pull, which takes hf-hub: and ARCH:TAG only. */
static oclip_status parse_spec(const char *spec, bool weights_optional, bool pull,
                               const oclip_pull_options *po, spec_parts *p, oclip_error *err) {
    memset(p, 0, sizeof *p);
    p->spec = spec && spec[0] ? spec : "default";
    if (!spec || !spec[0] || !strcmp(spec, "default")) {
        if (pull)
            return oc_err_set(err, OCLIP_E_ARG, "the default model is embedded in oclip: "
                              "nothing to download");
        p->kind = OCLIP_SOURCE_EMBEDDED;
        return OCLIP_OK;
    }
    if (!strncmp(spec, "hf-hub:", 7)) return parse_hf_hub(spec, po, p, err);
    p->path_kind = oc_path_kind(spec);
    int e = errno;
    const char *colon = strchr(spec, ':');
    if (pull && (p->path_kind || !colon || colon == spec)) {
        oc_err_set(err, OCLIP_E_ARG, "'%.300s': nothing to download: oclip pull takes "
                   "hf-hub:ORG/NAME[@REVISION] or a pretrained name ARCH:TAG", spec);
        oclip_model_config tmp;
        if (!colon && oclip_config_builtin(spec, &tmp, NULL) == OCLIP_OK)
            oc_err_hint(err, "'%.100s' is an architecture: add a pretrained tag, e.g. %.100s:TAG "
                        "(oclip pull lists them when the tag is wrong)", spec, spec);
        return OCLIP_E_ARG;
    }
    if (p->path_kind == 2) {
        p->kind = OCLIP_SOURCE_DIR;
        return OCLIP_OK;
    }
    if (p->path_kind == 1) {
        /* a .json that is not a shard index is a config file */
        bool config = ends_with(spec, ".json") && !ends_with(spec, ".index.json");
        if (config && !weights_optional)
            return oc_err_set(err, OCLIP_E_ARG, "'%.400s' is a config file, not weights", spec);
        p->kind = config ? OCLIP_SOURCE_CONFIG : OCLIP_SOURCE_FILE;
        return OCLIP_OK;
    }
    if (is_pretrained_form(spec)) return parse_pretrained(spec, po, p, err);
    if (!colon && weights_optional && oclip_config_builtin(spec, &p->arch, NULL) == OCLIP_OK) {
        p->kind = OCLIP_SOURCE_ARCH;
        return OCLIP_OK;
    }
    oc_err_set(err, OCLIP_E_IO, "'%.400s': %s", spec,
               e ? strerror(e) : "not a regular file or folder");
    oclip_model_config tmp;
    if (!colon && oclip_config_builtin(spec, &tmp, NULL) == OCLIP_OK)
        oc_err_hint(err, "'%.100s' is an architecture: name its weights with a pretrained tag "
                    "(%.100s:TAG) or give a checkpoint", spec, spec);
    return OCLIP_E_IO;
}

/* Finds what the spec names on this machine (no network). *absent: hf-hub: / ARCH:TAG whose
 * files the caches lack (a download would fetch them). */
static oclip_status locate(oclip_source *out, const spec_parts *p, bool weights_optional,
                           bool *absent, oclip_error *err) {
    *absent = false;
    out->kind = p->kind;
    out->n_notes = out->n_warnings = 0;
    out->has_config = false;
    out->path[0] = out->config_origin[0] = out->pre_origin[0] = out->desc[0] = '\0';
    oclip_preprocess_cfg_default(&out->pre);
    switch (p->kind) {
    case OCLIP_SOURCE_EMBEDDED: return locate_embedded(out, err);
    case OCLIP_SOURCE_FILE:
    case OCLIP_SOURCE_DIR: return locate_path(out, p, weights_optional, err);
    case OCLIP_SOURCE_HF_HUB: return locate_hf_hub(out, p, weights_optional, absent, err);
    case OCLIP_SOURCE_PRETRAINED:
        return locate_pretrained(out, p, weights_optional, absent, err);
    case OCLIP_SOURCE_ARCH:
    case OCLIP_SOURCE_CONFIG: return locate_config(out, p, err);
    }
    return oc_err_set(err, OCLIP_E_ARG, "unknown spec kind");
}

/* ---------------------------------------------------------------------------------------------
 * Downloads
 */
/* Refuses, before any download, a model family the engine does not run. `what` names it. */
static oclip_status refuse_unsupported(const oclip_model_config *c, const char *what,
                                       oclip_error *err) {
    const char *why = oc_model_unsupported(c);
    if (!why) return OCLIP_OK;
    oc_err_set(err, OCLIP_E_UNSUPPORTED, "%s: %s: oclip does not run this model yet, so nothing "
               "was downloaded", what, why);
    oc_err_hint(err, "oclip runs OpenCLIP's native ViT models (ViT-B-32, ViT-L-14, ...); "
                "`hf download` fetches any repository's files");
    return OCLIP_E_UNSUPPORTED;
}

typedef struct {
    const char *spec;
    const oclip_model_config *override; /* the architecture the options give, or NULL */
    char tokenizer[96];                 /* the config's text_cfg.hf_tokenizer_name */
} repo_check_ctx;

/* oc_hub_pull_repo's check: the repository's architecture, before its weights. */
static oclip_status check_repo_config(void *ctx, const char *path, bool hf, oclip_error *err) {
    repo_check_ctx *c = ctx;
    if (c->override) return refuse_unsupported(c->override, c->spec, err);
    oclip_model_config cfg;
    oclip_preprocess_cfg pre;
    bool has_pre;
    cfg_kind kind = hf ? CFG_HF : CFG_OPEN_CLIP;
    oclip_status s = read_config(path, &kind, &cfg, &pre, &has_pre, err);
    if (!s) snprintf(c->tokenizer, sizeof c->tokenizer, "%s", cfg.text.hf_tokenizer_name);
    return s ? s : refuse_unsupported(&cfg, c->spec, err);
}

/* Downloads what spec p names (the hub is asked about every file); `override` as above. */
static oclip_status fetch(oclip_source *out, const spec_parts *p,
                          const oclip_model_config *override, const oclip_pull_options *po,
                          bool *unreachable, oclip_error *err) {
    *unreachable = false;
    char label[200];
    if (p->kind == OCLIP_SOURCE_PRETRAINED) {
        /* the architecture is known offline: refuse before any request */
        oclip_model_config builtin;
        snprintf(label, sizeof label, "%s:%s", p->pt.arch, p->pt.tag);
        oclip_status s = override ? OCLIP_OK : oclip_config_builtin(p->pt.arch, &builtin, err);
        if (!s) s = refuse_unsupported(override ? override : &builtin, label, err);
        if (s) return s;
    }
    oc_hub *h = NULL;
    oclip_status s = oc_hub_open(po, &h, err);
    if (s) return s;
    char tokenizer[96] = "";
    if (p->kind == OCLIP_SOURCE_HF_HUB) {
        repo_check_ctx ctx = {p->spec, override, ""};
        s = oc_hub_pull_repo(h, p->org, p->name, p->rev, check_repo_config, &ctx, err);
        memcpy(tokenizer, override ? override->text.hf_tokenizer_name : ctx.tokenizer,
               sizeof tokenizer);
    } else {
        s = oc_hub_pull_tag(h, p->pt.hf_hub, p->pt.url, label, err);
        oclip_model_config builtin;
        const oclip_model_config *c = override;
        if (!c && oclip_config_builtin(p->pt.arch, &builtin, NULL) == OCLIP_OK) c = &builtin;
        if (c) memcpy(tokenizer, c->text.hf_tokenizer_name, sizeof tokenizer);
    }
    tokenizer[sizeof tokenizer - 1] = '\0';
    /* a Hugging Face tokenizer (SigLIP: text_cfg.hf_tokenizer_name = ORG/NAME): its files, as
     * OpenCLIP's get_tokenizer fetches them; the source's commit stays the weights' */
    char commit[64];
    snprintf(commit, sizeof commit, "%s", oc_hub_stats_of(h)->commit);
    const char *slash = strchr(tokenizer, '/');
    if (!s && slash && !strchr(slash + 1, '/')) {
        char org[96];
        snprintf(org, sizeof org, "%.*s", (int)(slash - tokenizer), tokenizer);
        s = oc_hub_pull_tokenizer(h, org, slash + 1, err);
    }
    const oc_hub_stats *st = oc_hub_stats_of(h);
    out->fetch.files += st->files;
    out->fetch.downloaded += st->downloaded;
    out->fetch.bytes += st->bytes;
    snprintf(out->commit, sizeof out->commit, "%s", commit);
    *unreachable = oc_hub_unreachable(h);
    oc_hub_close(h);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Overrides
 */
/* The architecture the options give (arch, config_file, config), into *cfg with its origin;
 * *has = false when they give none. The tag of arch NAME:TAG, and the preprocessing that comes
 * with an open_clip_config.json or a tag, go to the source. */
static oclip_status options_architecture(oclip_source *out, const oclip_source_options *o,
                                         oclip_error *err) {
    if (o->config) {
        out->config = *o->config;
        cut(out->config_origin, sizeof out->config_origin, "%s",
            o->config_source ? o->config_source : "given");
    } else if (o->arch) {
        /* NAME or NAME:TAG (a pretrained tag: its preprocessing and QuickGELU statement) */
        char name[128];
        const char *colon = strchr(o->arch, ':');
        if (!oc_fmt(name, sizeof name, "%.*s", colon ? (int)(colon - o->arch)
                                                     : (int)strlen(o->arch), o->arch))
            return oc_err_set(err, OCLIP_E_NOTFOUND, "'%.200s': no such architecture", o->arch);
        oclip_status s = oclip_config_builtin(name, &out->config, err);
        if (s) return s;
        if (colon) {
            oclip_pretrained pt;
            if ((s = oclip_pretrained_lookup(name, colon + 1, &pt, err))) return s;
            snprintf(out->tag, sizeof out->tag, "%s", pt.tag);
            snprintf(out->tag_arch, sizeof out->tag_arch, "%s", pt.arch);
            out->tag_quick_gelu = pt.quick_gelu;
            out->pre = pt.preprocess;
            snprintf(out->pre_origin, sizeof out->pre_origin, "pretrained tag %s:%s", pt.arch,
                     pt.tag);
        }
        cut(out->config_origin, sizeof out->config_origin, "built-in config %s%s%s",
            out->config.name, out->tag[0] ? " with tag " : "", out->tag);
    } else if (o->config_file) {
        oclip_status s = use_config_file(out, o->config_file, CFG_ANY, err);
        if (s) return s;
    } else {
        return OCLIP_OK;
    }
    out->has_config = true;
    return OCLIP_OK;
}

/* What follows from the architecture once it changes: the preprocessing size, and the warning
 * when the tag was trained with the other activation. */
static void settle(oclip_source *s) {
    s->tag_warning[0] = '\0';
    if (!s->has_config) return;
    s->pre.size[0] = s->config.vision.image_size[0];
    s->pre.size[1] = s->config.vision.image_size[1];
    int quick = s->quick_gelu == OCLIP_QUICK_GELU_UNSET ? s->config.quick_gelu
                                                          : s->quick_gelu == OCLIP_QUICK_GELU_ON;
    if (s->tag[0])
        oc_tag_gelu_mismatch(s->tag_arch, s->tag, s->tag_quick_gelu, quick, s->tag_warning,
                             sizeof s->tag_warning);
}

/* ---------------------------------------------------------------------------------------------
 * Resolving
 */
/* Finds the files, downloading them first when the options allow it and the caches lack them
 * (or always, for oclip_pull). `ov` holds the options' architecture, or is NULL. */
static oclip_status find(oclip_source *s, const spec_parts *p, const oclip_source_options *o,
                         const oclip_source *ov, oclip_error *err) {
    bool wo = o->weights_optional != 0, absent, unreachable;
    bool pullable = p->kind == OCLIP_SOURCE_HF_HUB || p->kind == OCLIP_SOURCE_PRETRAINED;
    bool online = pullable && !oclip_hub_offline() && !(o->pull && o->pull->offline);
    const oclip_model_config *arch = ov ? &ov->config : NULL;
    if (o->fetch == OCLIP_FETCH_ALWAYS && online) {
        oclip_status st = fetch(s, p, arch, o->pull, &unreachable, err);
        if (!st) return locate(s, p, wo, &absent, err);
        if (!unreachable) return st;
        /* no network: the caches answer if they can (as huggingface_hub does) */
        oclip_error e2;
        if (locate(s, p, wo, &absent, &e2) != OCLIP_OK) {
            if (err && !strstr(err->msg, "hint:"))
                oc_err_hint(err, "check the network (or HF_ENDPOINT); with the files in the "
                            "cache, HF_HUB_OFFLINE=1 skips the network");
            return st;
        }
        s->fetch.offline = 1;
        if (!add_message(s, false, "the hub could not be reached (%.300s); using the cached "
                         "files", err ? err->msg : ""))
            return oom(err);
        oc_err_clear(err);
        return OCLIP_OK;
    }
    oclip_status st = locate(s, p, wo, &absent, err);
    if (st && absent && o->fetch == OCLIP_FETCH_MISSING && online) {
        oc_err_clear(err);
        if ((st = fetch(s, p, arch, o->pull, &unreachable, err))) {
            if (st == OCLIP_E_UNSUPPORTED) return st; /* refused: nothing was downloaded */
            oc_err_wrap(err, "%.300s is not in the cache, and downloading it failed", p->spec);
            if (unreachable)
                oc_err_hint(err, "check the network (or HF_ENDPOINT); `oclip pull %.300s` "
                            "downloads it once there is one", p->spec);
            return st;
        }
        return locate(s, p, wo, &absent, err);
    }
    if (!st && o->fetch == OCLIP_FETCH_ALWAYS && pullable) {
        s->fetch.offline = 1;
        if (!add_message(s, false, "offline: %s is in the cache", p->spec)) return oom(err);
    }
    return st;
}

static oclip_status resolve(const char *spec, const oclip_source_options *o, bool pull,
                            oclip_source **out, oclip_error *err) {
    oc_err_clear(err);
    if (!out) return oc_err_set(err, OCLIP_E_ARG, "oclip_source_resolve: NULL argument");
    *out = NULL;
    oclip_source_options defaults;
    oclip_source_options_default(&defaults);
    if (!o) o = &defaults;
    oclip_status st = OC_OPTIONS_OK(o, "oclip_source_options", err);
    if (!st && o->pull) st = OC_OPTIONS_OK(o->pull, "oclip_pull_options", err);
    if (st) return st;
    int n_arch = !!o->config + !!o->arch + !!o->config_file;
    if (n_arch > 1)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_source_options: config, arch and "
                          "config_file exclude each other");
    if (o->quick_gelu > OCLIP_QUICK_GELU_OFF || o->fetch > OCLIP_FETCH_ALWAYS)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_source_options: quick_gelu or fetch out of "
                          "range");
    oclip_source *s = calloc(1, sizeof *s), *ov = NULL;
    spec_parts *p = malloc(sizeof *p);
    if (!s || !p) {
        st = oom(err);
        goto done;
    }
    s->quick_gelu = o->quick_gelu;
    s->fetch.commit = s->commit;
    if ((st = parse_spec(spec, o->weights_optional != 0, pull, o->pull, p, err))) goto done;
    if (p->kind == OCLIP_SOURCE_PRETRAINED) {
        snprintf(s->tag, sizeof s->tag, "%s", p->pt.tag);
        snprintf(s->tag_arch, sizeof s->tag_arch, "%s", p->pt.arch);
        s->tag_quick_gelu = p->pt.quick_gelu;
    }
    /* the options' architecture, known before anything is downloaded */
    if (n_arch) {
        if (!(ov = calloc(1, sizeof *ov))) {
            st = oom(err);
            goto done;
        }
        oclip_preprocess_cfg_default(&ov->pre);
        if ((st = options_architecture(ov, o, err))) goto done;
    }
    if ((st = find(s, p, o, ov, err))) {
        if (pull && oclip_hub_offline()) oc_err_wrap(err, "offline (HF_HUB_OFFLINE is set)");
        else if (pull && o->pull && o->pull->offline) oc_err_wrap(err, "offline");
        else if (pull) oc_err_wrap(err, "pulling %.300s", p->spec);
        goto done;
    }
    if (ov) {
        /* the options replace the spec's architecture; the preprocessing that comes with them
         * (an open_clip_config.json's, a tag's) replaces the spec's */
        s->config = ov->config;
        s->has_config = true;
        memcpy(s->config_origin, ov->config_origin, sizeof s->config_origin);
        if (ov->pre_origin[0]) {
            s->pre = ov->pre;
            memcpy(s->pre_origin, ov->pre_origin, sizeof s->pre_origin);
        }
        if (ov->tag[0]) {
            memcpy(s->tag, ov->tag, sizeof s->tag);
            memcpy(s->tag_arch, ov->tag_arch, sizeof s->tag_arch);
            s->tag_quick_gelu = ov->tag_quick_gelu;
        }
    }
    settle(s);
    *out = s;
    s = NULL;
done:
    free(p);
    free(ov);
    oclip_source_free(s);
    return st;
}

oclip_status oclip_source_resolve(const char *spec, const oclip_source_options *opt,
                                  oclip_source **out, oclip_error *err) {
    return resolve(spec, opt, false, out, err);
}

oclip_status oclip_pull(const char *spec, const oclip_pull_options *opt, oclip_source **out,
                        oclip_error *err) {
    oclip_source_options o;
    oclip_source_options_default(&o);
    o.fetch = OCLIP_FETCH_ALWAYS;
    o.pull = opt;
    return resolve(spec, &o, true, out, err);
}

void oclip_source_free(oclip_source *s) {
    if (!s) return;
    oclip_checkpoint_free(s->ck);
    oc_arena_free(&s->arena);
    free(s);
}

/* ---------------------------------------------------------------------------------------------
 * Opening and checking
 */
/* The architecture `oclip convert` writes into a safetensors file's __metadata__. */
#define META_KEY "open_clip_config"

oclip_status oclip_source_open(oclip_source *s, oclip_error *err) {
    oc_err_clear(err);
    if (!s) return oc_err_set(err, OCLIP_E_ARG, "oclip_source_open: NULL argument");
    if (s->completed) return OCLIP_OK;
    oclip_status st;
    if (s->kind == OCLIP_SOURCE_EMBEDDED) {
        const void *w;
        const char *json;
        size_t wsize, jsize;
        oc_default_model(&w, &wsize, &json, &jsize); /* locate_embedded checked it is there */
        st = oclip_checkpoint_open_memory(w, wsize, "default model", NULL, &s->ck, err);
    } else if (!s->path[0]) {
        return oc_err_set(err, OCLIP_E_ARG, "%s: no weights to open", s->desc);
    } else {
        st = oclip_checkpoint_open(s->path, NULL, &s->ck, err);
    }
    if (st) return st;
    s->completed = true;
    if (s->has_config) return OCLIP_OK;
    /* the architecture the file carries (oclip convert to one .safetensors file) */
    oclip_container c = oclip_checkpoint_container(s->ck);
    const char *k, *v;
    for (size_t i = 0; (c == OCLIP_CONTAINER_SAFETENSORS ||
                        c == OCLIP_CONTAINER_SAFETENSORS_SHARDED) &&
                       oclip_checkpoint_entry(s->ck, i, &k, &v);
         i++) {
        if (strcmp(k, META_KEY)) continue;
        bool has_pre;
        oclip_preprocess_cfg pre;
        cfg_kind kind = CFG_OPEN_CLIP;
        if ((st = parse_config(v, strlen(v), &kind, "checkpoint metadata '" META_KEY "'",
                               &s->config, &pre, &has_pre, err))) {
            oc_err_wrap(err, "'%.400s'", s->path);
            return st;
        }
        s->has_config = true;
        snprintf(s->config_origin, sizeof s->config_origin,
                 "the checkpoint's " META_KEY " metadata");
        s->pre = pre;
        snprintf(s->pre_origin, sizeof s->pre_origin, "the checkpoint's " META_KEY " metadata");
        settle(s);
        return OCLIP_OK;
    }
    /* an HF config.json beside an HF-layout checkpoint */
    char dir[PSIZE], file[PSIZE + 16];
    if (oclip_checkpoint_layout(s->ck) == OCLIP_LAYOUT_HF && dir_of(s->path, dir, sizeof dir) &&
        oc_fmt(file, sizeof file, "%s/config.json", dir) && oc_path_kind(file) == 1) {
        if ((st = use_config_file(s, file, CFG_HF, err))) return st;
        settle(s);
    }
    return OCLIP_OK;
}

oclip_status oclip_source_check(oclip_source *s, int scan, oclip_report **out,
                                oclip_error *err) {
    oc_err_clear(err);
    if (!s || !out) return oc_err_set(err, OCLIP_E_ARG, "oclip_source_check: NULL argument");
    *out = NULL;
    oclip_status st = oclip_source_open(s, err);
    if (st) return st;
    oclip_check_options co = {.config = s->has_config ? &s->config : NULL,
                              .config_source = s->config_origin,
                              .scan = scan,
                              .quick_gelu = s->quick_gelu};
    if ((st = oclip_check(s->ck, &co, out, err))) {
        oc_err_wrap(err, "'%.400s'", s->path[0] ? s->path : "default model");
        return st;
    }
    /* the architecture as checked: named after the built-in config it fits, inferred, or
     * with the activation overridden */
    bool inferred = !s->has_config;
    s->config = *oclip_report_config(*out);
    s->has_config = true;
    cut(s->config_origin, sizeof s->config_origin, "%s", oclip_report_config_source(*out));
    if (inferred && !s->config.name[0] &&
        !add_message(s, true, "the architecture was inferred from the tensor shapes and fits no "
                     "built-in config: the attention heads (image %d, text %d), the activation "
                     "(%s) and the norm epsilon are guesses the weights cannot confirm, so the "
                     "results may differ from the model's own; keep its open_clip_config.json "
                     "beside the checkpoint, or give --config / --arch",
                     s->config.vision.head_width
                         ? s->config.vision.width *
                               (s->config.family == OCLIP_FAMILY_RESNET ? 32 : 1) /* attnpool */
                               / s->config.vision.head_width
                         : 0,
                     s->config.text.heads, s->config.quick_gelu ? "QuickGELU" : "exact GELU")) {
        oclip_report_free(*out);
        *out = NULL;
        return oom(err);
    }
    s->quick_gelu = OCLIP_QUICK_GELU_UNSET; /* applied: the config holds it now */
    settle(s);
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Getters
 */
oclip_source_kind oclip_source_kind_of(const oclip_source *s) { return s->kind; }
const char *oclip_source_path(const oclip_source *s) { return s->path; }
const oclip_checkpoint *oclip_source_checkpoint(const oclip_source *s) { return s->ck; }
const oclip_model_config *oclip_source_config(const oclip_source *s) {
    return s->has_config ? &s->config : NULL;
}
const char *oclip_source_config_origin(const oclip_source *s) { return s->config_origin; }
const oclip_preprocess_cfg *oclip_source_preprocess(const oclip_source *s) { return &s->pre; }
const char *oclip_source_preprocess_origin(const oclip_source *s) { return s->pre_origin; }
const char *oclip_source_tag(const oclip_source *s) { return s->tag; }
oclip_quick_gelu oclip_source_tag_quick_gelu(const oclip_source *s) { return s->tag_quick_gelu; }
const char *oclip_source_description(const oclip_source *s) { return s->desc; }
size_t oclip_source_n_notes(const oclip_source *s) { return s->n_notes; }
const char *oclip_source_note(const oclip_source *s, size_t i) {
    return i < s->n_notes ? s->notes[i] : NULL;
}
size_t oclip_source_n_warnings(const oclip_source *s) {
    return s->n_warnings + (s->tag_warning[0] != '\0');
}
const char *oclip_source_warning(const oclip_source *s, size_t i) {
    if (i < s->n_warnings) return s->warnings[i];
    return i == s->n_warnings && s->tag_warning[0] ? s->tag_warning : NULL;
}
const oclip_fetch_info *oclip_source_fetch_info(const oclip_source *s) { return &s->fetch; }
