/*
 * spec.c — model specs (`-m SPEC`) resolved to files on this machine, offline: checkpoint files
 * and folders, hf-hub:ORG/NAME[@REVISION] in the local Hugging Face cache, and OpenCLIP
 * pretrained names ARCH:TAG (open_clip pretrained.py, push_to_hf_hub.py). Nothing is downloaded; what is not
 * here is OCLIP_E_NOTFOUND with the folder looked at and a hint.
 *
 * Hugging Face cache layout (huggingface_hub file_download.py / constants.py):
 *     <cache>/models--ORG--NAME/refs/<branch or tag>        the commit hash, one line
 *     <cache>/models--ORG--NAME/snapshots/<hash>/<file>     usually a symlink into ../../blobs/
 * Paths are always built through the snapshot folder, never through a blob, so that the
 * open_clip_config.json beside the weights is found by the folder of the path.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hub/hub.h"
#include "internal.h"

#define PSIZE OC_PATH_SIZE

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

/* The hint for anything missing from a cache. `what` is the spec to pull, `repo` "ORG/NAME". */
static oclip_status missing(oclip_error *err, const char *what, const char *repo) {
    oc_err_hint(err, "`oclip pull %.300s` fetches the files into this cache (as does "
                "`hf download %.200s`)%s", what, repo,
                oc_env_true("HF_HUB_OFFLINE") ? "; HF_HUB_OFFLINE is set: unset it to download"
                                              : "");
    return OCLIP_E_NOTFOUND;
}

/* Parses an open_clip_config.json into out->config / out->preprocess. */
static oclip_status read_open_clip_config(const char *file, oclip_spec *out, oclip_error *err) {
    oc_map map;
    oclip_status s = oc_map_file(file, &map, err);
    if (!s) {
        s = oclip_config_parse_open_clip((const char *)map.data, map.size, &out->config,
                                         &out->preprocess, err);
        oc_unmap(&map);
    }
    if (s) {
        oc_err_wrap(err, "config '%.400s'", file);
        return s;
    }
    if (!oc_fmt(out->config_source, sizeof out->config_source, "%s", file))
        return too_long(err, file);
    out->has_config = 1;
    return OCLIP_OK;
}

/* An HF-transformers snapshot: the architecture from its config.json (oclip_config_from_hf),
 * OpenAI's preprocessing (what CLIPImageProcessor uses for CLIP). */
static oclip_status read_hf_config(const char *spec, const char *file, oclip_spec *out,
                                   oclip_error *err) {
    oc_map map;
    oclip_status s = oc_map_file(file, &map, err);
    if (!s) {
        s = oclip_config_from_hf((const char *)map.data, map.size, &out->config, err);
        oc_unmap(&map);
    }
    if (s) {
        oc_err_wrap(err, "config '%.400s'", file);
        return s;
    }
    if (!oc_fmt(out->config_source, sizeof out->config_source, "%s", file))
        return too_long(err, file);
    out->has_config = 1;
    cut(out->desc, sizeof out->desc, "%s -> %s (HF-transformers repo: architecture from "
        "config.json, OpenAI preprocessing)", spec,
        out->path[0] ? out->path : "no weights in the cache");
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The forms
 */
static oclip_status resolve_hf_hub(const char *spec, unsigned flags, oclip_spec *out,
                                   oclip_error *err) {
    const char *id = spec + 7, *slash = strchr(id, '/'), *at = strchr(id, '@');
    const char *end = at ? at : id + strlen(id);
    char org[128], name[128], rev[160] = "main";
    if (!slash || slash > end || !oc_hub_name_ok(id, (size_t)(slash - id), 96) ||
        !oc_hub_name_ok(slash + 1, (size_t)(end - slash - 1), 96) ||
        (at && !oc_hub_name_ok(at + 1, strlen(at + 1), 128))) {
        oc_err_set(err, OCLIP_E_ARG, "'%.300s': not a valid hf-hub:ORG/NAME[@REVISION]", spec);
        oc_err_hint(err, "ORG, NAME and REVISION may hold letters, digits, '-', '_' and '.' "
                         "(no '..', no leading '.'), e.g. hf-hub:laion/CLIP-ViT-B-32-laion2B-"
                         "s34B-b79K");
        return OCLIP_E_ARG;
    }
    snprintf(org, sizeof org, "%.*s", (int)(slash - id), id);
    snprintf(name, sizeof name, "%.*s", (int)(end - slash - 1), slash + 1);
    if (at) snprintf(rev, sizeof rev, "%s", at + 1);
    char repo[300], repo_dir[PSIZE], snap[PSIZE], file[PSIZE];
    snprintf(repo, sizeof repo, "%s/%s", org, name);

    oclip_status s = oc_hub_snapshot(org, name, rev, repo_dir, snap, err);
    if (s == OCLIP_E_NOTFOUND) {
        char pull[320];
        snprintf(pull, sizeof pull, "hf-hub:%s", repo);
        return missing(err, pull, repo);
    }
    if (s) return s;
    /* OpenCLIP's hf-hub: needs open_clip_config.json for the architecture */
    if (!oc_fmt(file, sizeof file, "%s/open_clip_config.json", snap)) return too_long(err, snap);
    if (oc_path_kind(file) != 1) {
        /* an HF-transformers CLIPModel repo (what `oclip pull` takes when a repo has no
         * OpenCLIP files): its config.json and model.safetensors / pytorch_model.bin */
        static const char *const hf[] = {"model.safetensors", "pytorch_model.bin"};
        char cfg[PSIZE];
        if (oc_fmt(cfg, sizeof cfg, "%s/config.json", snap) && oc_path_kind(cfg) == 1 &&
            (oc_hub_first_file(snap, hf, 2, out->path) >= 0 || (flags & OCLIP_SPEC_CONFIG_ONLY)))
            return read_hf_config(spec, cfg, out, err);
        out->path[0] = '\0';
        oc_err_set(err, OCLIP_E_NOTFOUND, "%s: no open_clip_config.json in snapshot '%s' "
                   "(OpenCLIP's hf-hub: needs it for the architecture), and no HF-transformers "
                   "config.json with model.safetensors or pytorch_model.bin", spec, snap);
        char pull[320];
        snprintf(pull, sizeof pull, "hf-hub:%s", repo);
        return missing(err, pull, repo);
    }
    if ((s = read_open_clip_config(file, out, err))) return s;
    static const char *const weights[] = {"open_clip_model.safetensors",
                                          "open_clip_pytorch_model.bin"};
    /* a repo without OpenCLIP weights: its HF-transformers ones, which `oclip pull` took */
    static const char *const hf[] = {"model.safetensors", "pytorch_model.bin"};
    if (oc_hub_first_file(snap, weights, 2, out->path) < 0 &&
        oc_hub_first_file(snap, hf, 2, out->path) < 0 &&
        !(flags & OCLIP_SPEC_CONFIG_ONLY)) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "%s: neither open_clip_model.safetensors nor "
                   "open_clip_pytorch_model.bin in snapshot '%s'", spec, snap);
        char pull[320];
        snprintf(pull, sizeof pull, "hf-hub:%s", repo);
        return missing(err, pull, repo);
    }
    cut(out->desc, sizeof out->desc, "%s -> %s (architecture and preprocessing from "
             "open_clip_config.json in the snapshot)", spec,
             out->path[0] ? out->path : "no weights in the cache");
    return OCLIP_OK;
}

/* The tag's hf_hub file in the HF cache (refs/main), with OpenCLIP's safetensors preference.
 * *found = 0 when not cached; tried[] lists what was looked for (for the message). */
static oclip_status pretrained_hf(const oclip_pretrained *pt, char *path, char *where,
                                  size_t wsize, int *found, oclip_error *err) {
    *found = 0;
    oc_hub_tag_files tf;
    if (!oc_hub_split_tag(pt->hf_hub, &tf))
        return oc_err_set(err, OCLIP_E_FORMAT, "pretrained %s:%s: unexpected hf_hub '%s'",
                          pt->arch, pt->tag, pt->hf_hub);
    char repo_dir[PSIZE], snap[PSIZE];
    const char *org = tf.org, *name = tf.name, *const *names = tf.names;
    size_t n = (size_t)tf.n;
    oclip_error e2;
    oclip_status s = oc_hub_snapshot(org, name, "main", repo_dir, snap, &e2);
    if (s && (s != OCLIP_E_NOTFOUND || !repo_dir[0])) { /* no cache folder at all: say why */
        if (err) *err = e2;
        return s;
    }
    if (!s && oc_hub_first_file(snap, names, n, path) >= 0) {
        *found = 1;
        snprintf(where, wsize, "%s", snap);
        return OCLIP_OK;
    }
    path[0] = '\0';
    snprintf(where, wsize, "%s%s%s in '%s'", names[0], n > 1 ? " or " : "", n > 1 ? names[1] : "",
             s ? repo_dir : snap);
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
 * and config_source says so. */
static oclip_status repo_architecture(const oclip_pretrained *pt, const char *snap,
                                      oclip_spec *out, oclip_error *err) {
    char file[PSIZE];
    if (!oc_fmt(file, sizeof file, "%s/open_clip_config.json", snap) || oc_path_kind(file) != 1)
        return OCLIP_OK;
    oc_map map;
    oclip_model_config repo;
    oclip_status s = oc_map_file(file, &map, err);
    if (!s) {
        s = oclip_config_parse_open_clip((const char *)map.data, map.size, &repo, NULL, err);
        oc_unmap(&map);
    }
    if (s) {
        oc_err_wrap(err, "pretrained %s:%s: config '%.400s'", pt->arch, pt->tag, file);
        return s;
    }
    if (same_shapes(&repo, &out->config)) return OCLIP_OK;
    out->config = repo;
    cut(out->config_source, sizeof out->config_source, "%s (the repository's architecture: its "
        "tensors differ from the built-in %s's)", file, pt->arch);
    return OCLIP_OK;
}

static oclip_status resolve_pretrained(const char *spec, const char *colon, unsigned flags,
                                       oclip_spec *out, oclip_error *err) {
    char arch[128];
    if (!oc_fmt(arch, sizeof arch, "%.*s", (int)(colon - spec), spec))
        return oc_err_set(err, OCLIP_E_NOTFOUND, "'%.200s': no such architecture", spec);
    oclip_pretrained pt;
    oclip_status s = oclip_pretrained_lookup(arch, colon + 1, &pt, err);
    if (s) return s; /* names the tags there are */
    /* OpenCLIP 3.3: the architecture is the built-in config named, whatever the tag says */
    if ((s = oclip_config_builtin(pt.arch, &out->config, err))) {
        oc_err_wrap(err, "pretrained %s:%s", pt.arch, pt.tag);
        return s;
    }
    out->has_config = 1;
    snprintf(out->config_source, sizeof out->config_source,
             "built-in config %s (pretrained %s:%s)", pt.arch, pt.arch, pt.tag);
    out->preprocess = pt.preprocess;
    snprintf(out->tag, sizeof out->tag, "%s", pt.tag);
    out->tag_quick_gelu = pt.quick_gelu;

    char where_hf[PSIZE + 200] = "", where_url[PSIZE + 100] = "";
    int found = 0;
    if (pt.hf_hub[0] && (s = pretrained_hf(&pt, out->path, where_hf, sizeof where_hf, &found,
                                           err)))
        return s;
    if (found && (s = repo_architecture(&pt, where_hf, out, err))) return s;
    if (!found && pt.url[0]) {
        /* download_pretrained_from_url: ~/.cache/clip/<basename of the url> */
        if (oc_hub_url_file(pt.url, out->path, PSIZE)) {
            found = oc_path_kind(out->path) == 1;
            snprintf(where_url, sizeof where_url, "%s%s", where_hf[0] ? ", nor " : "",
                     out->path);
            if (!found) out->path[0] = '\0';
        }
    }
    if (!found && !(flags & OCLIP_SPEC_CONFIG_ONLY)) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "pretrained %s:%s: weights not in the cache (no %s%s)",
                   pt.arch, pt.tag, where_hf, where_url);
        char repo[160];
        snprintf(repo, sizeof repo, "%s", pt.hf_hub);
        char *s2 = strchr(repo, '/');
        if (s2 && (s2 = strchr(s2 + 1, '/'))) *s2 = '\0';
        char pull[320];
        snprintf(pull, sizeof pull, "%s:%s", pt.arch, pt.tag);
        return missing(err, pull, repo);
    }
    bool builtin = !strncmp(out->config_source, "built-in", 8);
    cut(out->desc, sizeof out->desc, "%s -> %s (%s architecture %s, preprocessing of "
             "tag %s%s)", spec, out->path[0] ? out->path : "no weights in the cache",
             builtin ? "built-in" : "the repository's", builtin ? pt.arch : out->config_source,
             pt.tag, pt.quick_gelu == 1 && !out->config.quick_gelu
                         ? "; the tag was trained with QuickGELU, the architecture runs exact "
                           "GELU as OpenCLIP does"
                         : "");
    return OCLIP_OK;
}

static oclip_status resolve_path(const char *spec, int kind, unsigned flags, oclip_spec *out,
                                 oclip_error *err) {
    char dir[PSIZE], beside[PSIZE];
    if (kind == 2) {
        out->kind = OCLIP_SPEC_DIR;
        if (!oc_fmt(dir, sizeof dir, "%s", spec)) return too_long(err, spec);
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0'; /* "m/" -> "m" */
        if (!oclip_checkpoint_in_dir(dir, out->path, sizeof out->path)) {
            out->path[0] = '\0';
            if (!(flags & OCLIP_SPEC_CONFIG_ONLY)) {
                oc_err_set(err, OCLIP_E_NOTFOUND, "no checkpoint in folder '%.400s'", spec);
                oc_err_hint(err, "expected open_clip_model.safetensors, open_clip_pytorch_model"
                                 ".bin, model.safetensors or pytorch_model.bin");
                return OCLIP_E_NOTFOUND;
            }
        }
        /* open_clip_config.json beside the checkpoint = in the folder */
        if (!oc_fmt(beside, sizeof beside, "%s/open_clip_config.json", dir))
            return too_long(err, spec);
    } else {
        out->kind = OCLIP_SPEC_FILE;
        if (!oc_fmt(out->path, sizeof out->path, "%s", spec)) return too_long(err, spec);
        snprintf(beside, sizeof beside, "%s", spec);
    }
    int found = 0;
    char src[PSIZE];
    oclip_status s = oclip_config_beside(beside, NULL, &out->config, &out->preprocess, src,
                                         sizeof src, &found, err);
    if (s) return s;
    if (found) {
        out->has_config = 1;
        snprintf(out->config_source, sizeof out->config_source, "%s", src);
    }
    cut(out->desc, sizeof out->desc, "%s%s%s%s", out->path[0] ? out->path : spec,
             out->path[0] && strcmp(out->path, spec) ? " (picked in the folder)" : "",
             found ? ", architecture and preprocessing from " : "", found ? src : "");
    return OCLIP_OK;
}

oclip_status oclip_spec_resolve(const char *spec, unsigned flags, oclip_spec *out,
                                oclip_error *err) {
    oc_err_clear(err);
    if (!out) return oc_err_set(err, OCLIP_E_ARG, "oclip_spec_resolve: NULL argument");
    memset(out, 0, sizeof *out);
    out->tag_quick_gelu = -1;
    oclip_preprocess_cfg_default(&out->preprocess);
    if (!spec || !spec[0]) {
        oc_err_set(err, OCLIP_E_UNSUPPORTED, "no model given: the embedded default model has no "
                   "file to resolve (oclip_model_load with a NULL spec loads it)");
        oc_err_hint(err, "pass a checkpoint file or folder, hf-hub:ORG/NAME or ARCH:TAG");
        return OCLIP_E_UNSUPPORTED;
    }
    if (!strncmp(spec, "hf-hub:", 7)) {
        out->kind = OCLIP_SPEC_HF_HUB;
        return resolve_hf_hub(spec, flags, out, err);
    }
    int kind = oc_path_kind(spec);
    if (kind) return resolve_path(spec, kind, flags, out, err);

    /* ARCH:TAG — the architecture part is a model name (OpenCLIP turns '/' into '-') */
    int e = errno;
    const char *colon = strchr(spec, ':');
    if (colon && colon > spec) {
        char arch[128];
        oclip_model_config tmp;
        bool plain = memchr(spec, '/', (size_t)(colon - spec)) == NULL;
        if (plain || (oc_fmt(arch, sizeof arch, "%.*s", (int)(colon - spec), spec) &&
                      oclip_config_builtin(arch, &tmp, NULL) == OCLIP_OK)) {
            out->kind = OCLIP_SPEC_PRETRAINED;
            return resolve_pretrained(spec, colon, flags, out, err);
        }
    }
    oc_err_set(err, OCLIP_E_IO, "'%.400s': %s", spec,
               e == ENOENT ? "no such file or folder"
               : e ? strerror(e) : "not a regular file or folder");
    oclip_model_config tmp;
    if (!colon && oclip_config_builtin(spec, &tmp, NULL) == OCLIP_OK)
        oc_err_hint(err, "'%.100s' is an architecture: name its weights with a pretrained tag "
                    "(%.100s:TAG) or give a checkpoint", spec, spec);
    return OCLIP_E_IO;
}

/* ---------------------------------------------------------------------------------------------
 * oclip_pull: what a spec names, downloaded by the hub client (src/hub/hub.c), then resolved in
 * the cache as oclip_spec_resolve does.
 */
oclip_status oclip_pull(const char *spec, const oclip_pull_options *opt, oclip_pull_result *res,
                        oclip_error *err) {
    oc_err_clear(err);
    if (!spec || !res) return oc_err_set(err, OCLIP_E_ARG, "oclip_pull: NULL argument");
    memset(res, 0, sizeof *res);
    oclip_pull_options defaults = {0};
    if (!opt) opt = &defaults;
    int offline = opt->offline || oclip_hub_offline();

    /* what the spec names */
    char org[128] = "", name[128] = "", rev[160] = "main", resolved[800];
    oclip_pretrained pt;
    int is_hf = !strncmp(spec, "hf-hub:", 7);
    if (is_hf) {
        const char *id = spec + 7, *slash = strchr(id, '/'), *at = strchr(id, '@');
        const char *end = at ? at : id + strlen(id);
        if (!slash || slash > end || !oc_hub_name_ok(id, (size_t)(slash - id), 96) ||
            !oc_hub_name_ok(slash + 1, (size_t)(end - slash - 1), 96) ||
            (at && !oc_hub_name_ok(at + 1, strlen(at + 1), 128))) {
            oc_err_set(err, OCLIP_E_ARG, "'%.300s': not a valid hf-hub:ORG/NAME[@REVISION]",
                       spec);
            oc_err_hint(err, "ORG, NAME and REVISION may hold letters, digits, '-', '_' and "
                        "'.' (no '..', no leading '.')");
            return OCLIP_E_ARG;
        }
        snprintf(org, sizeof org, "%.*s", (int)(slash - id), id);
        snprintf(name, sizeof name, "%.*s", (int)(end - slash - 1), slash + 1);
        if (at) snprintf(rev, sizeof rev, "%s", at + 1);
        if (opt->revision && opt->revision[0]) {
            if (at && strcmp(opt->revision, rev))
                return oc_err_set(err, OCLIP_E_ARG, "'%.300s' names revision '%s', the options "
                                  "'%.100s'", spec, rev, opt->revision);
            if (!oc_hub_name_ok(opt->revision, strlen(opt->revision), 128))
                return oc_err_set(err, OCLIP_E_ARG, "revision '%.100s': letters, digits, '-', "
                                  "'_' and '.' only", opt->revision);
            snprintf(rev, sizeof rev, "%s", opt->revision);
        }
        snprintf(resolved, sizeof resolved, "hf-hub:%s/%s@%s", org, name, rev);
    } else {
        const char *colon = strchr(spec, ':');
        struct stat st;
        if (!colon || colon == spec || stat(spec, &st) == 0) {
            oc_err_set(err, OCLIP_E_ARG, "'%.300s': nothing to download: oclip pull takes "
                       "hf-hub:ORG/NAME[@REVISION] or a pretrained name ARCH:TAG", spec);
            if (colon == NULL) {
                oclip_model_config tmp;
                if (oclip_config_builtin(spec, &tmp, NULL) == OCLIP_OK)
                    oc_err_hint(err, "'%.100s' is an architecture: add a pretrained tag, e.g. "
                                "%.100s:TAG (oclip pull lists them when the tag is wrong)",
                                spec, spec);
            }
            return OCLIP_E_ARG;
        }
        char arch[128];
        if (!oc_fmt(arch, sizeof arch, "%.*s", (int)(colon - spec), spec))
            return oc_err_set(err, OCLIP_E_NOTFOUND, "'%.200s': no such architecture", spec);
        oclip_status s = oclip_pretrained_lookup(arch, colon + 1, &pt, err);
        if (s) return s; /* closest architectures / the valid tags */
        if (opt->revision && opt->revision[0] && strcmp(opt->revision, "main"))
            return oc_err_set(err, OCLIP_E_ARG, "a pretrained name always uses the revision "
                              "'main' of its repository (OpenCLIP's choice); for another "
                              "revision use hf-hub:ORG/NAME@REVISION");
        snprintf(resolved, sizeof resolved, "%s:%s", pt.arch, pt.tag);
    }

    oclip_spec *sp = malloc(sizeof *sp);
    if (!sp) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status s;
    if (offline) {
        s = oclip_spec_resolve(resolved, 0, sp, err);
        if (!s) {
            snprintf(res->path, sizeof res->path, "%s", sp->path);
            res->offline = 1;
            snprintf(res->note, sizeof res->note, "offline: %.300s is in the cache", resolved);
        } else {
            oc_err_wrap(err, "offline (%s)", opt->offline ? "--offline" : "HF_HUB_OFFLINE is set");
        }
        free(sp);
        return s;
    }

    oc_hub *h = NULL;
    if ((s = oc_hub_open(opt, &h, err))) {
        free(sp);
        return s;
    }
    if (is_hf) {
        s = oc_hub_pull_repo(h, org, name, rev, NULL, NULL, err);
    } else {
        char label[200];
        snprintf(label, sizeof label, "%s:%s", pt.arch, pt.tag);
        s = oc_hub_pull_tag(h, pt.hf_hub, pt.url, label, err);
    }
    const oc_hub_stats *st = oc_hub_stats_of(h);
    res->files = st->files;
    res->downloaded = st->downloaded;
    res->bytes = st->bytes;
    snprintf(res->commit, sizeof res->commit, "%s", st->commit);
    bool net_down = oc_hub_unreachable(h);
    oc_hub_close(h);
    if (!s) {
        /* what the cache now holds, resolved as every spec is */
        s = oclip_spec_resolve(resolved, 0, sp, err);
        if (!s) {
            snprintf(res->path, sizeof res->path, "%s", sp->path);
            if (sp->has_config && sp->kind == OCLIP_SPEC_HF_HUB)
                snprintf(res->config, sizeof res->config, "%s", sp->config_source);
            const char *base = strrchr(sp->path, '/');
            base = base ? base + 1 : sp->path;
            if (is_hf &&
                (!strcmp(base, "model.safetensors") || !strcmp(base, "pytorch_model.bin"))) {
                res->hf_only = 1;
                snprintf(res->note, sizeof res->note, "%s/%s has no OpenCLIP weights "
                         "(open_clip_model.safetensors, open_clip_pytorch_model.bin): took the "
                         "HF-transformers %.40s and config.json; they are mapped onto OpenCLIP's "
                         "keys when loaded", org, name, base);
            }
        }
    } else if (net_down) {
        /* no network: the cache answers if it can (as huggingface_hub does) */
        oclip_error e2;
        if (oclip_spec_resolve(resolved, 0, sp, &e2) == OCLIP_OK) {
            memset(res, 0, sizeof *res);
            snprintf(res->path, sizeof res->path, "%s", sp->path);
            res->offline = 1;
            snprintf(res->note, sizeof res->note, "the hub could not be reached (%.300s); "
                     "using the cached files", err ? err->msg : "");
            oc_err_clear(err);
            s = OCLIP_OK;
        } else if (err && !strstr(err->msg, "hint:")) {
            oc_err_hint(err, "check the network (or HF_ENDPOINT); with the files in the cache, "
                        "HF_HUB_OFFLINE=1 skips the network");
        }
    }
    free(sp);
    if (s) oc_err_wrap(err, "pulling %.300s", resolved);
    return s;
}
