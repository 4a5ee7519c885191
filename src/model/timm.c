/*
 * timm.c — the timm image towers oclip computes: the SigLIP ViTs that OpenCLIP builds with
 * TimmModel(timm_model_name, pool 'map', proj 'none') (open_clip timm_model.py). OpenCLIP passes
 * only the name to timm, so the tower's geometry and activation are timm's definition of that
 * name (timm 1.0.31 models/vision_transformer.py, the vit_*_siglip_* functions and their
 * pretrained cfg's input_size); docs/SIGLIP.md section 1 lists them.
 *
 * A name may also be "local-dir:PATH" or "hf-hub:ORG/NAME" (timm models/_factory.py
 * parse_model_name, _resolve_model_source): timm then reads PATH/config.json (or the repo's, from
 * the Hugging Face cache), builds its "architecture" and passes its "model_args" as keyword
 * arguments over the architecture's own (models/_hub.py _parse_model_cfg). That is how a SigLIP
 * tower with other sizes is named in an OpenCLIP config; the fields read are allow-listed below.
 *
 * A transformers SiglipModel (config.json model_type "siglip") gives its vision tower's sizes and
 * activation directly; hfconfig.c names it after the timm architecture with exactly those, and
 * when timm has none (other sizes, or transformers' default gelu_pytorch_tanh on a tower timm
 * defines with exact GELU) "siglip:img=S,patch=P,width=W,depth=D,heads=H,mlp=M,act=gelu|gelu_tanh",
 * which only oclip reads (oc_timm_tower_name, parse_siglip_name).
 */
#include <cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub.h"
#include "model/arch.h"
#include "model/convnext.h"
#include "model/eva.h"
#include "model/fastvit.h"
#include "model/hftext.h"
#include "model/timmvit.h"
#include "model/vitamin.h"
#include "nn/engine.h"

/* name, input size, patch, width, depth, heads, MLP hidden width (int(width * mlp_ratio)),
 * act_layer 'gelu_tanh' (1) or timm's default nn.GELU (0). Every one of them: LayerNorm eps 1e-6,
 * no class token, no pre-norm, patch conv with bias, final norm, MAP pool with the blocks' heads
 * and MLP. */
static const oc_timm_tower siglip_towers[] = {
    {"vit_base_patch16_siglip_224", 224, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_256", 256, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_384", 384, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch16_siglip_512", 512, 16, 768, 12, 12, 3072, 0},
    {"vit_base_patch32_siglip_256", 256, 32, 768, 12, 12, 3072, 1},
    {"vit_large_patch16_siglip_256", 256, 16, 1024, 24, 16, 4096, 0},
    {"vit_large_patch16_siglip_384", 384, 16, 1024, 24, 16, 4096, 0},
    {"vit_large_patch16_siglip_512", 512, 16, 1024, 24, 16, 4096, 1},
    {"vit_so400m_patch14_siglip_224", 224, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch14_siglip_378", 378, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch14_siglip_384", 384, 14, 1152, 27, 16, 4304, 0},
    {"vit_so400m_patch16_siglip_256", 256, 16, 1152, 27, 16, 4304, 1},
    {"vit_so400m_patch16_siglip_384", 384, 16, 1152, 27, 16, 4304, 1},
    {"vit_so400m_patch16_siglip_512", 512, 16, 1152, 27, 16, 4304, 1},
    {"vit_giantopt_patch16_siglip_256", 256, 16, 1536, 40, 16, 6144, 1},
    {"vit_giantopt_patch16_siglip_384", 384, 16, 1536, 40, 16, 6144, 1},
};

/* mlp_ratio of each table entry: timm's Mlp width is int(embed_dim * mlp_ratio), so a config
 * that changes embed_dim but not mlp_ratio needs the ratio, not the width. */
static double table_mlp_ratio(const oc_timm_tower *t) {
    return t->mlp == 4 * t->width ? 4.0 : 3.7362; /* vit_so400m_*: mlp_ratio=3.7362 */
}

static const oc_timm_tower *table_find(const char *name) {
    for (size_t i = 0; i < sizeof siglip_towers / sizeof siglip_towers[0]; i++)
        if (!strcmp(siglip_towers[i].name, name)) return &siglip_towers[i];
    return NULL;
}

/* Why a "local-dir:"/"hf-hub:" tower is refused, with the file and field (per thread: the
 * checks run on the caller's thread and return this text). */
static _Thread_local char why_buf[OC_PATH_SIZE + 160];

#define TIMM_CONFIG_MAX (256 * 1024)

/* An int model_arg, or a pair [a, a] (timm's to_2tuple sizes): -1 when absent, -2 invalid. */
static int arg_int(const cJSON *args, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!v) return -1;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        const cJSON *a = cJSON_GetArrayItem(v, 0), *b = cJSON_GetArrayItem(v, 1);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble != b->valuedouble)
            return -2;
        v = a;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 1 ||
        v->valuedouble > 65536)
        return -2;
    return (int)v->valuedouble;
}

/* The tower timm builds from config.json text `js` (read from `file`); NULL or why not. */
static const char *tower_from_json(const char *file, const char *js, size_t n, oc_timm_tower *out) {
    cJSON *root = cJSON_ParseWithLength(js, n);
    const char *why = NULL;
#define FAIL(...)                                                                                \
    do {                                                                                         \
        oc_fmt(why_buf, sizeof why_buf, __VA_ARGS__);                                            \
        why = why_buf;                                                                           \
        goto done;                                                                               \
    } while (0)
    if (!cJSON_IsObject(root)) FAIL("timm tower config %s: not a JSON object", file);
    /* legacy single-dict form (_parse_model_cfg): architecture beside the pretrained cfg */
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architecture");
    if (!cJSON_IsString(arch)) FAIL("timm tower config %s: no \"architecture\" string", file);
    const oc_timm_tower *base = table_find(arch->valuestring);
    if (!base)
        FAIL("timm tower config %s: architecture '%.96s' is not one of timm's SigLIP ViTs "
             "(vit_*_siglip_*)", file, arch->valuestring);
    const cJSON *pcfg = cJSON_GetObjectItemCaseSensitive(root, "pretrained_cfg");
    if (!pcfg) pcfg = root;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "model_args");
    if (args && !cJSON_IsObject(args)) FAIL("timm tower config %s: model_args is not an object", file);
    oc_timm_tower t = *base;
    double ratio = table_mlp_ratio(base);
    const cJSON *it;
    cJSON_ArrayForEach(it, args) {
        const char *k = it->string;
        /* the fields a SigLIP VisionTransformer's size and activation come from; num_classes and
         * global_pool are overridden by OpenCLIP's TimmModel (num_classes=0, global_pool='map'),
         * in_chans must be 3 (RGB input), class_token false as in every vit_*_siglip_* */
        if (!strcmp(k, "num_classes") || !strcmp(k, "global_pool")) continue;
        if (!strcmp(k, "in_chans")) {
            if (arg_int(args, k) != 3) FAIL("timm tower config %s: model_args.in_chans is not 3", file);
        } else if (!strcmp(k, "class_token")) {
            if (!cJSON_IsFalse(it))
                FAIL("timm tower config %s: model_args.class_token must be false (SigLIP)", file);
        } else if (!strcmp(k, "act_layer")) {
            if (cJSON_IsString(it) && !strcmp(it->valuestring, "gelu_tanh")) t.gelu_tanh = 1;
            else if (cJSON_IsString(it) && !strcmp(it->valuestring, "gelu")) t.gelu_tanh = 0;
            else FAIL("timm tower config %s: model_args.act_layer is not 'gelu' or 'gelu_tanh'", file);
        } else if (!strcmp(k, "mlp_ratio")) {
            if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || it->valuedouble > 64)
                FAIL("timm tower config %s: model_args.mlp_ratio out of range", file);
            ratio = it->valuedouble;
        } else {
            int *dst = !strcmp(k, "img_size") ? &t.img : !strcmp(k, "patch_size") ? &t.patch
                     : !strcmp(k, "embed_dim") ? &t.width : !strcmp(k, "depth") ? &t.depth
                     : !strcmp(k, "num_heads") ? &t.heads : NULL;
            if (!dst)
                FAIL("timm tower config %s: model_args.%.64s not supported (oclip computes SigLIP "
                     "ViTs with their sizes, mlp_ratio and act_layer changed)", file, k);
            int v = arg_int(args, k);
            if (v < 0) FAIL("timm tower config %s: model_args.%s is not a positive integer", file, k);
            *dst = v;
        }
    }
    if (!cJSON_GetObjectItemCaseSensitive(args, "img_size")) {
        /* timm _update_default_model_kwargs: a fixed-input-size cfg's input_size is the img_size */
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(pcfg, "input_size");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pcfg, "fixed_input_size")) ||
            !cJSON_IsArray(in) || cJSON_GetArraySize(in) != 3)
            FAIL("timm tower config %s: no model_args.img_size and no fixed input_size", file);
        const cJSON *h = cJSON_GetArrayItem(in, 1), *w = cJSON_GetArrayItem(in, 2);
        if (!cJSON_IsNumber(h) || !cJSON_IsNumber(w) || h->valuedouble != w->valuedouble ||
            h->valuedouble < 1 || h->valuedouble > 65536 || h->valuedouble != floor(h->valuedouble))
            FAIL("timm tower config %s: pretrained_cfg.input_size is not square", file);
        t.img = (int)h->valuedouble;
    }
    double mlp = (double)t.width * ratio; /* timm Mlp: int(in_features * mlp_ratio) */
    if (t.patch > t.img || t.width % t.heads || mlp < 1 || mlp > 1 << 20 || t.depth > 1024)
        FAIL("timm tower config %s: inconsistent sizes (img %d, patch %d, width %d, heads %d, "
             "depth %d)", file, t.img, t.patch, t.width, t.heads, t.depth);
    t.mlp = (int)mlp;
    /* the name the tower is known by is the one the OpenCLIP config gives (set by the caller) */
    *out = t;
done:
#undef FAIL
    cJSON_Delete(root);
    return why;
}

/* "local-dir:PATH" / "hf-hub:ORG/NAME[@REV]": the folder holding config.json, or why not. */
static const char *source_dir(const char *name, char *dir) {
    if (!strncmp(name, "local-dir:", 10)) {
        /* timm: Path(model_id) / "config.json", relative to the working directory */
        if (!name[10] || !oc_fmt(dir, OC_PATH_SIZE, "%s", name + 10))
            return "timm_model_name local-dir: without a usable path";
        return NULL;
    }
    const char *id = !strncmp(name, "hf-hub:", 7) ? name + 7 : !strncmp(name, "hf_hub:", 7) ? name + 7 : NULL;
    if (!id) return "";
    char org[128], repo[128], rev[128] = "main", repo_dir[OC_PATH_SIZE];
    const char *sl = strchr(id, '/'), *at = strchr(id, '@');
    size_t rl = sl ? (at && at > sl ? (size_t)(at - sl - 1) : strlen(sl + 1)) : 0;
    if (!sl || !oc_hub_name_ok(id, (size_t)(sl - id), 96) || !oc_hub_name_ok(sl + 1, rl, 96) ||
        (at && at > sl && !oc_hub_name_ok(at + 1, strlen(at + 1), 96)))
        return "timm_model_name hf-hub: is not ORG/NAME[@REVISION]";
    oc_fmt(org, sizeof org, "%.*s", (int)(sl - id), id);
    oc_fmt(repo, sizeof repo, "%.*s", (int)rl, sl + 1);
    if (at && at > sl) oc_fmt(rev, sizeof rev, "%s", at + 1);
    oclip_error e;
    if (oc_hub_snapshot(org, repo, rev, repo_dir, dir, &e) != OCLIP_OK) {
        oc_fmt(why_buf, sizeof why_buf, "timm tower repo %s/%s is not in the Hugging Face cache "
               "(fetch its config.json: huggingface-cli download %s/%s config.json)", org, repo,
               org, repo);
        return why_buf;
    }
    return NULL;
}

void oc_timm_tower_name(oc_timm_tower *t) {
    for (size_t i = 0; i < sizeof siglip_towers / sizeof siglip_towers[0]; i++) {
        const oc_timm_tower *k = &siglip_towers[i];
        if (k->img == t->img && k->patch == t->patch && k->width == t->width &&
            k->depth == t->depth && k->heads == t->heads && k->mlp == t->mlp &&
            k->gelu_tanh == t->gelu_tanh) {
            memcpy(t->name, k->name, sizeof t->name);
            return;
        }
    }
    oc_fmt(t->name, sizeof t->name, "siglip:img=%d,patch=%d,width=%d,depth=%d,heads=%d,mlp=%d,act=%s",
           t->img, t->patch, t->width, t->depth, t->heads, t->mlp, t->gelu_tanh ? "gelu_tanh" : "gelu");
}

/* "siglip:img=...,act=..." (oc_timm_tower_name's form, exactly): NULL, "" (not that form) or
 * why not. */
static const char *parse_siglip_name(const char *name, oc_timm_tower *out) {
    if (strncmp(name, "siglip:", 7)) return "";
    oc_timm_tower t = {0};
    char act[16] = "";
    int used = 0;
    if (sscanf(name + 7, "img=%d,patch=%d,width=%d,depth=%d,heads=%d,mlp=%d,act=%15[a-z_]%n",
               &t.img, &t.patch, &t.width, &t.depth, &t.heads, &t.mlp, act, &used) != 7 ||
        name[7 + used] || (strcmp(act, "gelu") && strcmp(act, "gelu_tanh")))
        return "timm_model_name 'siglip:' is not img=S,patch=P,width=W,depth=D,heads=H,mlp=M,"
               "act=gelu|gelu_tanh";
    t.gelu_tanh = !strcmp(act, "gelu_tanh");
    if (t.img < 1 || t.img > 65536 || t.patch < 1 || t.patch > t.img || t.width < 1 ||
        t.width > 1 << 20 || t.heads < 1 || t.width % t.heads || t.depth < 0 || t.depth > 1024 ||
        t.mlp < 1 || t.mlp > 1 << 20)
        return "timm_model_name 'siglip:' with inconsistent sizes";
    oc_fmt(t.name, sizeof t.name, "%s", name);
    *out = t;
    return NULL;
}

/* Towers read from config.json files, per name, for the life of the process: the validation of
 * a checkpoint and the binding of its tensors (separate calls of oc_timm_unsupported) must see
 * the same sizes even if the file changes in between, since the binding trusts the validated
 * shapes. The first successful read of a name wins; failures are not kept. */
#define SOURCE_CACHE_MAX 64
static struct {
    char name[96];
    oc_timm_tower t;
} source_cache[SOURCE_CACHE_MAX];
static size_t n_source_cache;
static pthread_mutex_t source_mu = PTHREAD_MUTEX_INITIALIZER;

static bool cache_get(const char *name, oc_timm_tower *out) {
    bool found = false;
    pthread_mutex_lock(&source_mu);
    for (size_t i = 0; i < n_source_cache && !found; i++)
        if (!strcmp(source_cache[i].name, name)) {
            *out = source_cache[i].t;
            found = true;
        }
    pthread_mutex_unlock(&source_mu);
    return found;
}

/* Keeps t under name unless the name is there already (then *t becomes that one); false when
 * the table is full. */
static bool cache_put(const char *name, oc_timm_tower *t) {
    bool ok = true;
    pthread_mutex_lock(&source_mu);
    size_t i = 0;
    while (i < n_source_cache && strcmp(source_cache[i].name, name)) i++;
    if (i < n_source_cache) {
        *t = source_cache[i].t;
    } else if (n_source_cache < SOURCE_CACHE_MAX && strlen(name) < sizeof source_cache[0].name) {
        memcpy(source_cache[i].name, name, strlen(name) + 1);
        source_cache[i].t = *t;
        n_source_cache++;
    } else {
        ok = false;
    }
    pthread_mutex_unlock(&source_mu);
    return ok;
}

/* The tower of a "local-dir:" / "hf-hub:" name; NULL, "" (not such a name) or why not. */
static const char *tower_from_source(const char *name, oc_timm_tower *out) {
    char dir[OC_PATH_SIZE], file[OC_PATH_SIZE];
    const char *why = parse_siglip_name(name, out);
    if (!why || why[0]) return why;
    if (cache_get(name, out)) return NULL;
    if ((why = source_dir(name, dir))) return why;
    if (!oc_fmt(file, sizeof file, "%s/config.json", dir))
        return "timm_model_name: path too long";
    char *buf = malloc(TIMM_CONFIG_MAX);
    if (!buf) return "out of memory reading the timm tower config";
    size_t n = oc_read_small_file(file, buf, TIMM_CONFIG_MAX);
    if (n == 0 || n >= TIMM_CONFIG_MAX - 1) {
        free(buf);
        oc_fmt(why_buf, sizeof why_buf, "timm tower config %s: %s", file,
               n ? "larger than 256 KiB" : "missing or unreadable (timm reads config.json there)");
        return why_buf;
    }
    oc_timm_tower t;
    why = tower_from_json(file, buf, n, &t);
    free(buf);
    if (why) return why;
    oc_fmt(t.name, sizeof t.name, "%s", name);
    if (!cache_put(name, &t))
        return "more than 64 timm tower configs (local-dir: / hf-hub:) in one process";
    *out = t;
    return NULL;
}

bool oc_timm_tower_find(const char *name, oc_timm_tower *out) {
    if (!name || !name[0]) return false;
    const oc_timm_tower *t = table_find(name);
    oc_timm_tower tmp;
    if (!t && !tower_from_source(name, &tmp)) t = &tmp;
    if (t && out) *out = *t;
    return t != NULL;
}

/* The timm image-tower families beside this file's SigLIP ViTs, each in its own file: whether a
 * timm_model_name is the family's (computed or refused by name), why a config of it is not
 * computed (NULL: it is), its tower's expected state dict (visual.*) and the binding of its
 * tower. A new timm family adds one row here. */
static bool convnext_is(const char *n) { return oc_convnext_find(n, NULL); }
static bool timmvit_is(const char *n) { return oc_timmvit_tower_find(n, NULL); }
static bool vitamin_is(const char *n) { return oc_vitamin_find(n, NULL); }
static const char *convnext_why(const oclip_model_config *c) { return oc_convnext_unsupported(c, NULL); }
static const char *eva_why(const oclip_model_config *c) { return oc_eva_unsupported(c, NULL); }
static const char *timmvit_why(const oclip_model_config *c) { return oc_timmvit_unsupported(c, NULL); }
static const char *vitamin_why(const oclip_model_config *c) { return oc_vitamin_unsupported(c, NULL); }
static const char *fastvit_why(const oclip_model_config *c) { return oc_fastvit_unsupported(c, NULL); }

static const oc_timm_family families[] = {
    {"ConvNeXt", convnext_is, convnext_why, oc_convnext_visual, oc_convnext_model_bind},
    {"EVA / PE", oc_eva_family, eva_why, oc_eva_visual, oc_eva_bind},
    {"class-token ViT", timmvit_is, timmvit_why, oc_timmvit_visual, oc_timmvit_bind},
    {"ViTamin", vitamin_is, vitamin_why, oc_vitamin_visual, oc_vitamin_model_bind},
    {"FastViT", oc_fastvit_family, fastvit_why, oc_fastvit_visual, oc_fastvit_model_bind},
};

const oc_timm_family *oc_timm_family_of(const char *timm_model_name) {
    if (!timm_model_name || !timm_model_name[0]) return NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (families[i].is(timm_model_name)) return &families[i];
    return NULL;
}

bool oc_timm_is_siglip(const oclip_model_config *c) {
    return c->family == OCLIP_FAMILY_TIMM && !oc_timm_family_of(c->vision.timm_model_name) &&
           !oc_timm_unsupported(c, NULL);
}

const char *oc_timm_unsupported(const oclip_model_config *c, oc_timm_tower *tower) {
    const oclip_vision_cfg *v = &c->vision;
    oc_timm_tower t;
    const oc_timm_family *f = oc_timm_family_of(v->timm_model_name);
    if (f) {
        /* not a ViT of this table: *tower says nothing */
        if (tower) memset(tower, 0, sizeof *tower);
        return f->unsupported(c);
    }
    const oc_timm_tower *known = table_find(v->timm_model_name);
    if (known) {
        t = *known;
    } else {
        const char *why = tower_from_source(v->timm_model_name, &t);
        if (why && why[0]) return why;
        if (why) return "timm image tower other than the SigLIP ViTs (vit_*_siglip_*)";
    }
    if (strcmp(v->timm_pool, "map") || strcmp(v->timm_proj, "none"))
        return "SigLIP timm tower without timm_pool 'map' and timm_proj 'none'";
    const char *hf = c->text.hf_model_name[0] ? oc_hftext_unsupported(c) : NULL; /* NLLB */
    if (hf) return hf;
    if (!c->custom_text) return "timm image tower without custom_text (CLIP's text keys)";
    if (v->image_size[0] != t.img || v->image_size[1] != t.img)
        return "vision_cfg.image_size differs from the timm tower's input size";
    if (c->embed_dim != t.width)
        return "embed_dim differs from the timm tower's width (timm_proj 'none')";
    if ((int64_t)(t.img / t.patch) * (t.img / t.patch) > OC_MAX_TOKENS)
        return "sequences longer than 4096 tokens";
    if (tower) *tower = t;
    return NULL;
}
