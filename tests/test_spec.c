/*
 * test_spec.c — model sources (oclip_source_resolve) and oclip_model_load on every form,
 * against fake Hugging Face caches built under a temporary folder (HF_HUB_CACHE / HF_HOME / HOME
 * set here, so the user's real cache is never read):
 *   - hf-hub:ORG/NAME: path through snapshots/<hash>/ (the files are symlinks into blobs/),
 *     architecture and preprocessing from the snapshot's open_clip_config.json, safetensors
 *     before .bin, @REVISION as a ref name and as a commit hash;
 *   - missing repo / revision / config / weights: OCLIP_E_NOTFOUND naming the folder and
 *     `oclip pull`; weights_optional tolerates missing weights;
 *   - hostile names and refs refused; the cache folder from each environment variable;
 *   - ARCH:TAG: built-in architecture, the tag's preprocessing and QuickGELU flag, the tag's
 *     hf_hub repo (default file, explicit file + .safetensors sibling), the URL file in
 *     ~/.cache/clip, tag normalisation, unknown tags listing the valid ones;
 *   - files and folders; NULL / "" / bare architecture names;
 *   - oclip_model_load("hf-hub:...") gives the same bytes as loading the folder, and
 *     oclip_model_load("ViT-B-32:TAG") on a tiny file refuses the shape mismatch clearly.
 * Run from the repository root (the fixtures are under tests/fixtures).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub.h"
#include "oclip.h"
#include "test.h"
#include "util.h"

#define TINY "tests/fixtures/arch/tiny/b32like"
#define HASH1 "0123456789abcdef0123456789abcdef01234567"
#define HASH2 "fedcba9876543210fedcba9876543210fedcba98"

static char tmp[512];  /* the temporary folder */
static char tiny[PATH_MAX]; /* absolute path of the tiny fixture folder */
static oclip_source *sp; /* the last resolution (res) */

/* oclip_source_resolve(spec) into sp, with weights_optional as given. */
static oclip_status res(const char *spec, int weights_optional, oclip_error *err) {
    oclip_source_free(sp);
    sp = NULL;
    oclip_source_options o;
    oclip_source_options_default(&o);
    o.weights_optional = weights_optional;
    return oclip_source_resolve(spec, &o, &sp, err);
}
#define PATH (sp ? oclip_source_path(sp) : "")
#define ORIGIN (sp ? oclip_source_config_origin(sp) : "")
#define DESC (sp ? oclip_source_description(sp) : "")
#define PRE oclip_source_preprocess(sp)
#define CFG oclip_source_config(sp)
#define HAS_CONFIG (sp && oclip_source_config(sp) != NULL)
#define TAG oclip_source_tag(sp)
#define TAG_QG oclip_source_tag_quick_gelu(sp)
#define KIND oclip_source_kind_of(sp)

/* ---------------------------------------------------------------------------------------------
 * Building fake caches
 */
static void mkdirs(const char *path) {
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    unsigned char *d = read_file(from, &n);
    CHECKF(d != NULL, "cannot read %s", from);
    FILE *f = fopen(to, "wb");
    CHECKF(f != NULL, "cannot write %s", to);
    if (d && f) fwrite(d, 1, n, f);
    if (f) fclose(f);
    free(d);
}

/* A preprocess_cfg unlike OpenAI's defaults, to see that it is the one used. */
static const char *const custom_config =
    "{\"model_cfg\": {\"embed_dim\": 16,\n"
    "  \"vision_cfg\": {\"image_size\": 32, \"patch_size\": 8, \"width\": 32, \"layers\": 2,\n"
    "                 \"head_width\": 16},\n"
    "  \"text_cfg\": {\"context_length\": 8, \"vocab_size\": 64, \"width\": 32, \"heads\": 2,\n"
    "               \"layers\": 2}},\n"
    " \"preprocess_cfg\": {\"mean\": [0.5, 0.25, 0.125], \"std\": [0.5, 0.5, 0.5],\n"
    "                    \"interpolation\": \"bilinear\", \"resize_mode\": \"squash\"}}\n";

/*
 * models--ORG--NAME in cache `root`: for each of files[] (a fixture file name, or
 * "open_clip_config.json=custom" for the custom config) a blob and a snapshot link
 * snapshots/<hash>/<name> -> ../../blobs/<blob>; refs/<ref> = hash when ref != NULL.
 * `as` renames the files in the snapshot (NULL: same names).
 */
static void add_snapshot(const char *root, const char *org, const char *name, const char *hash,
                         const char *ref, const char *const *files, const char *const *as,
                         size_t n) {
    char repo[1024], p[2400], link[2400], target[600];
    snprintf(repo, sizeof repo, "%s/models--%s--%s", root, org, name);
    snprintf(p, sizeof p, "%s/blobs", repo);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/snapshots/%s", repo, hash);
    mkdirs(p);
    snprintf(p, sizeof p, "%s/refs", repo);
    mkdirs(p);
    for (size_t i = 0; i < n; i++) {
        const char *dst = as && as[i] ? as[i] : files[i];
        /* blob names are content hashes in a real cache; any unique name will do here */
        snprintf(target, sizeof target, "%s-%s-%zu", hash, dst, i);
        snprintf(p, sizeof p, "%s/blobs/%s", repo, target);
        if (!strcmp(files[i], "custom")) {
            write_text(p, custom_config);
        } else {
            char from[PATH_MAX + 100];
            snprintf(from, sizeof from, "%s/%s", tiny, files[i]);
            copy_file(from, p);
        }
        snprintf(link, sizeof link, "%s/snapshots/%s/%s", repo, hash, dst);
        snprintf(p, sizeof p, "../../blobs/%s", target);
        CHECKF(symlink(p, link) == 0, "symlink %s: %s", link, strerror(errno));
    }
    if (ref) {
        snprintf(p, sizeof p, "%s/refs/%s", repo, ref);
        write_text(p, hash); /* huggingface_hub writes the hash without a newline */
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Clears every variable that says where the caches are, then sets HF_HUB_CACHE. */
static void use_cache(const char *root) {
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HF_HUB_CACHE", root, 1);
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 */
static void test_cache_dir(void) {
    char out[4096], want[1024];
    oclip_error err;
    const char *home = getenv("HOME");
    char saved_home[1024];
    snprintf(saved_home, sizeof saved_home, "%s", home ? home : "");

    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/h", 1);
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK &&
          !strcmp(out, "/h/.cache/huggingface/hub"));
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK &&
          !strcmp(out, "/xdg/huggingface/hub"));
    setenv("HF_HOME", "~/hfh", 1); /* expanduser, as huggingface_hub */
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK && !strcmp(out, "/h/hfh/hub"));
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK && !strcmp(out, "/legacy"));
    setenv("HF_HUB_CACHE", "/direct", 1);
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK && !strcmp(out, "/direct"));
    setenv("HF_HUB_CACHE", "", 1); /* empty counts as unset */
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_OK && !strcmp(out, "/legacy"));
    CHECK(oclip_hf_cache_dir(out, 5, &err) == OCLIP_E_ARG); /* too small: refused, not cut */
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(oclip_hf_cache_dir(out, sizeof out, &err) == OCLIP_E_NOTFOUND &&
          strstr(err.msg, "HF_HUB_CACHE"));
    setenv("HOME", saved_home, 1);

    /* HF_HOME/hub is where hf-hub: looks when HF_HUB_CACHE is unset */
    snprintf(want, sizeof want, "%s/hfhome/hub", tmp);
    static const char *const files[] = {"custom", "open_clip_model.safetensors"};
    static const char *const as[] = {"open_clip_config.json", NULL};
    add_snapshot(want, "viahome", "m", HASH1, "main", files, as, 2);
    snprintf(want, sizeof want, "%s/hfhome", tmp);
    setenv("HF_HOME", want, 1);
    CHECKF(res("hf-hub:viahome/m", 0, &err) == OCLIP_OK, "%s", err.msg);
    snprintf(want, sizeof want, "%s/hfhome/hub/models--viahome--m/snapshots/" HASH1
             "/open_clip_model.safetensors", tmp);
    CHECKF(!strcmp(PATH, want), "%s", PATH);
    unsetenv("HF_HOME");
}

static void test_hf_hub(const char *root) {
    oclip_error err;
    char want[2048];
    use_cache(root);

    /* main: config + both weight files (safetensors wins) */
    static const char *const f1[] = {"custom", "open_clip_model.safetensors",
                                     "open_clip_pytorch_model.bin", "expected.json"};
    static const char *const a1[] = {"open_clip_config.json", NULL, NULL, "README.md"};
    add_snapshot(root, "org", "name", HASH1, "main", f1, a1, 4);
    /* v1 (a tag) -> HASH2: config + .bin only */
    static const char *const f2[] = {"custom", "open_clip_pytorch_model.bin"};
    static const char *const a2[] = {"open_clip_config.json", NULL};
    add_snapshot(root, "org", "name", HASH2, "v1", f2, a2, 2);

    CHECKF(res("hf-hub:org/name", 0, &err) == OCLIP_OK, "%s", err.msg);
    snprintf(want, sizeof want, "%s/models--org--name/snapshots/" HASH1
             "/open_clip_model.safetensors", root);
    CHECK(KIND == OCLIP_SOURCE_HF_HUB);
    CHECKF(!strcmp(PATH, want), "path %s", PATH); /* through the snapshot, not the blob */
    CHECK(HAS_CONFIG && CFG->embed_dim == 16 && CFG->vision.image_size[0] == 32);
    snprintf(want, sizeof want, "%s/models--org--name/snapshots/" HASH1 "/open_clip_config.json",
             root);
    CHECKF(!strcmp(ORIGIN, want), "%s", ORIGIN);
    CHECK(PRE->mean[0] == 0.5 && PRE->mean[2] == 0.125 &&
          PRE->std[1] == 0.5 && !strcmp(PRE->interpolation, "bilinear") &&
          !strcmp(PRE->resize_mode, "squash"));
    CHECK(PRE->size[0] == 32 && PRE->size[1] == 32);
    CHECK(TAG[0] == '\0' && TAG_QG == OCLIP_QUICK_GELU_UNSET);
    CHECK(strstr(DESC, "hf-hub:org/name") && strstr(DESC, PATH));

    /* @REVISION: a ref name, the same commit given directly, and @main */
    snprintf(want, sizeof want, "%s/models--org--name/snapshots/" HASH2
             "/open_clip_pytorch_model.bin", root);
    CHECKF(res("hf-hub:org/name@v1", 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(!strcmp(PATH, want), "path %s", PATH); /* no safetensors there: the .bin */
    CHECKF(res("hf-hub:org/name@" HASH2, 0, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECKF(!strcmp(PATH, want), "path %s", PATH);
    CHECK(res("hf-hub:org/name@main", 0, &err) == OCLIP_OK &&
          strstr(PATH, HASH1 "/open_clip_model.safetensors"));
    /* a ref file with a trailing newline is read all the same */
    snprintf(want, sizeof want, "%s/models--org--name/refs/nl", root);
    write_text(want, HASH2 "\n");
    CHECK(res("hf-hub:org/name@nl", 0, &err) == OCLIP_OK &&
          strstr(PATH, HASH2));

    /* missing: repo, revision, commit */
    CHECK(res("hf-hub:org/missing", 0, &err) == OCLIP_E_NOTFOUND);
    snprintf(want, sizeof want, "%s/models--org--missing", root);
    CHECKF(strstr(err.msg, want) && strstr(err.msg, "oclip pull hf-hub:org/missing"), "%s",
           err.msg);
    CHECK(res("hf-hub:org/name@v9", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "v9") && strstr(err.msg, "models--org--name") &&
           strstr(err.msg, "oclip pull"), "%s", err.msg);
    snprintf(want, sizeof want, "%s/models--org--name/refs/gone", root);
    write_text(want, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    CHECK(res("hf-hub:org/name@gone", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "snapshots/aaaaaaaa"), "%s", err.msg);

    /* a snapshot with the config but no weights; and one without the config */
    static const char *const f3[] = {"custom"};
    static const char *const a3[] = {"open_clip_config.json"};
    add_snapshot(root, "org", "noweights", HASH1, "main", f3, a3, 1);
    CHECK(res("hf-hub:org/noweights", 0, &err) == OCLIP_E_NOTFOUND);
    snprintf(want, sizeof want, "%s/models--org--noweights/snapshots/" HASH1, root);
    CHECKF(strstr(err.msg, want) && strstr(err.msg, "open_clip_model.safetensors") &&
           strstr(err.msg, "oclip pull hf-hub:org/noweights"), "%s", err.msg);
    CHECKF(res("hf-hub:org/noweights", 1, &err) ==
           OCLIP_OK, "%s", err.msg);
    CHECK(PATH[0] == '\0' && HAS_CONFIG && PRE->mean[0] == 0.5);
    static const char *const f4[] = {"open_clip_model.safetensors"};
    add_snapshot(root, "org", "noconfig", HASH1, "main", f4, NULL, 1);
    CHECK(res("hf-hub:org/noconfig", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "open_clip_config.json") && strstr(err.msg, "models--org--noconfig"),
           "%s", err.msg);
    /* a link whose blob is gone (an interrupted download) counts as missing */
    static const char *const f5[] = {"custom", "open_clip_model.safetensors"};
    static const char *const a5[] = {"open_clip_config.json", NULL};
    add_snapshot(root, "org", "dangling", HASH1, "main", f5, a5, 2);
    snprintf(want, sizeof want, "%s/models--org--dangling/blobs/" HASH1
             "-open_clip_model.safetensors-1", root);
    CHECK(unlink(want) == 0);
    CHECK(res("hf-hub:org/dangling", 0, &err) == OCLIP_E_NOTFOUND);

    /* hostile names: never become paths */
    static const char *const bad[] = {
        "hf-hub:", "hf-hub:../x", "hf-hub:x/..", "hf-hub:a/b/c", "hf-hub:org/na me",
        "hf-hub:org/", "hf-hub:/name", "hf-hub:org", "hf-hub:./x", "hf-hub:.hidden/x",
        "hf-hub:org/name@", "hf-hub:org/name@../../x", "hf-hub:org/name@a/b", "hf-hub:org/a..b",
        "hf-hub:org/name@..", "hf-hub:org\\x/y", "hf-hub:org/n%2f", "hf-hub:org/n\xc3\xa9",
        "hf-hub:org/name@v1@v2", "hf-hub:o:rg/name"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        oclip_status s = res(bad[i], 0, &err);
        CHECKF(s == OCLIP_E_ARG && strstr(err.msg, "not a valid hf-hub"), "%s: %d %s", bad[i],
               (int)s, err.msg);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "hf-hub:o/", 9);
    longname[sizeof longname - 1] = '\0';
    CHECK(res(longname, 0, &err) == OCLIP_E_ARG);
    /* a refs/ file that points outside the snapshots folder */
    snprintf(want, sizeof want, "%s/models--org--name/refs/evil", root);
    write_text(want, "../../../../etc");
    CHECK(res("hf-hub:org/name@evil", 0, &err) == OCLIP_E_FORMAT);
}

static void test_pretrained(const char *root) {
    oclip_error err;
    char want[2048];
    use_cache(root);

    /* not cached yet: NOT_FOUND naming the repo folder, and `oclip pull ARCH:TAG` */
    CHECK(res("ViT-B-32:laion2b_s34b_b79k", 0, &err) == OCLIP_E_NOTFOUND);
    snprintf(want, sizeof want, "%s/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K", root);
    CHECKF(strstr(err.msg, want) && strstr(err.msg, "oclip pull ViT-B-32:laion2b_s34b_b79k") &&
           strstr(err.msg, "open_clip_model.safetensors"), "%s", err.msg);
    /* the architecture and preprocessing are known without the weights */
    CHECKF(res("ViT-B-32:laion2b_s34b_b79k", 1, &err) ==
           OCLIP_OK, "%s", err.msg);
    CHECK(KIND == OCLIP_SOURCE_PRETRAINED && PATH[0] == '\0' && HAS_CONFIG &&
          !strcmp(CFG->name, "ViT-B-32") && CFG->embed_dim == 512 &&
          PRE->size[0] == 224);

    /* the tiny model under the tag's repo, without its open_clip_config.json (resolution does
     * not look at shapes) */
    static const char *const f[] = {"open_clip_pytorch_model.bin", "open_clip_model.safetensors"};
    add_snapshot(root, "laion", "CLIP-ViT-B-32-laion2B-s34B-b79K", HASH1, "main", f, NULL, 2);
    CHECKF(res("ViT-B-32:laion2b_s34b_b79k", 0, &err) == OCLIP_OK, "%s",
           err.msg);
    snprintf(want, sizeof want, "%s/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/snapshots/"
             HASH1 "/open_clip_model.safetensors", root);
    CHECKF(!strcmp(PATH, want), "%s", PATH);
    /* ARCH:TAG takes the built-in config */
    CHECK(HAS_CONFIG && !strcmp(CFG->name, "ViT-B-32") && CFG->embed_dim == 512);
    CHECKF(strstr(ORIGIN, "built-in") && strstr(ORIGIN, "ViT-B-32"), "%s",
           ORIGIN);
    CHECK(!strcmp(TAG, "laion2b_s34b_b79k") && TAG_QG != OCLIP_QUICK_GELU_ON);
    CHECK(PRE->size[0] == 224 && !strcmp(PRE->interpolation, "bicubic"));
    /* tag normalisation: lowercase, '-' -> '_' */
    CHECKF(res("ViT-B-32:LAION2B-S34B-B79K", 0, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECK(!strcmp(PATH, want) && !strcmp(TAG, "laion2b_s34b_b79k"));
    /* the model loader refuses the shapes, clearly */
    oclip_model *m = NULL;
    CHECK(oclip_model_load("ViT-B-32:laion2b_s34b_b79k", NULL, &m, &err) == OCLIP_E_MISMATCH &&
          m == NULL);
    CHECKF(strstr(err.msg, "does not fit architecture ViT-B-32") &&
           strstr(err.msg, "hint: run 'oclip check"), "%s", err.msg);
    /* with the repo's open_clip_config.json describing other tensors, that config is used (and
     * named), and the model loads; the tag's preprocessing stays */
    static const char *const fc[] = {"open_clip_config.json"};
    add_snapshot(root, "laion", "CLIP-ViT-B-32-laion2B-s34B-b79K", HASH1, "main", fc, NULL, 1);
    CHECKF(res("ViT-B-32:laion2b_s34b_b79k", 0, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECKF(CFG->embed_dim == 16 && strstr(ORIGIN, "snapshots/" HASH1
           "/open_clip_config.json (the repository's architecture") &&
           strstr(DESC, "the repository's architecture"), "%s | %s", ORIGIN,
           DESC);
    CHECK(!strcmp(TAG, "laion2b_s34b_b79k") && !strcmp(PRE->resize_mode, "shortest"));
    CHECKF(oclip_model_load("ViT-B-32:laion2b_s34b_b79k", NULL, &m, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECK(m && oclip_model_embed_dim(m) == 16);
    oclip_model_free(m);
    m = NULL;
    /* a repo config with the built-in's shapes (QuickGELU set here) leaves the built-in */
    add_snapshot(root, "laion", "CLIP-ViT-B-32-laion2B-s34B-b79K", HASH2, NULL, fc, NULL, 0);
    {
        char cfgp[2400];
        snprintf(cfgp, sizeof cfgp, "%s/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/"
                 "snapshots/" HASH2 "/open_clip_config.json", root);
        write_text(cfgp, "{\"model_cfg\": {\"embed_dim\": 512, \"quick_gelu\": true, "
                   "\"vision_cfg\": {\"image_size\": 224, \"layers\": 12, \"width\": 768, "
                   "\"patch_size\": 32}, \"text_cfg\": {\"context_length\": 77, "
                   "\"vocab_size\": 49408, \"width\": 512, \"heads\": 8, \"layers\": 12}}}");
        snprintf(cfgp, sizeof cfgp, "%s/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/"
                 "snapshots/" HASH2 "/open_clip_model.safetensors", root);
        char from[PATH_MAX + 100];
        snprintf(from, sizeof from, "%s/open_clip_model.safetensors", tiny);
        copy_file(from, cfgp);
        snprintf(cfgp, sizeof cfgp, "%s/models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K/refs/"
                 "main", root);
        write_text(cfgp, HASH2);
    }
    CHECKF(res("ViT-B-32:laion2b_s34b_b79k", 0, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECKF(CFG->embed_dim == 512 && !CFG->quick_gelu &&
           strstr(ORIGIN, "built-in"), "%s", ORIGIN);

    /* unknown tag / architecture */
    CHECK(res("ViT-B-32:nope", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "nope") && strstr(err.msg, "laion2b_s34b_b79k") &&
           strstr(err.msg, "openai"), "%s", err.msg);
    CHECK(res("NoSuchArch:openai", 0, &err) == OCLIP_E_NOTFOUND);

    /* openai: trained with QuickGELU, ViT-B-32 runs exact GELU (OpenCLIP 3.3); -quickgelu alias */
    CHECK(res("ViT-B-32:openai", 1, &err) == OCLIP_OK);
    CHECK(TAG_QG == OCLIP_QUICK_GELU_ON && CFG->quick_gelu == 0 &&
          oclip_source_n_warnings(sp) == 1 &&
          strstr(oclip_source_warning(sp, 0), "tag 'openai' was trained with QuickGELU: use "
                 "ViT-B-32-quickgelu"));
    CHECK(res("ViT-B-32-quickgelu:openai", 1, &err) ==
          OCLIP_OK);
    CHECK(TAG_QG == OCLIP_QUICK_GELU_ON && CFG->quick_gelu == 1 &&
          oclip_source_n_warnings(sp) == 0 &&
          !strcmp(CFG->name, "ViT-B-32-quickgelu"));
    /* openai has a url too: OpenCLIP's URL download folder ~/.cache/clip is the fallback */
    CHECK(res("ViT-B-32:openai", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "models--timm--vit_base_patch32_clip_224.openai") &&
           strstr(err.msg, ".cache/clip/ViT-B-32.pt"), "%s", err.msg);
    char home[1024], saved_home[1024];
    snprintf(saved_home, sizeof saved_home, "%s", getenv("HOME") ? getenv("HOME") : "");
    snprintf(home, sizeof home, "%s/home", tmp);
    snprintf(want, sizeof want, "%s/.cache/clip", home);
    mkdirs(want);
    snprintf(want, sizeof want, "%s/.cache/clip/ViT-B-32.pt", home);
    char from[PATH_MAX + 100];
    snprintf(from, sizeof from, "%s/openai.pt", tiny);
    copy_file(from, want);
    setenv("HOME", home, 1);
    CHECKF(res("ViT-B-32:openai", 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(!strcmp(PATH, want));
    /* ... but the HF cache comes first, as OpenCLIP prefers hf_hub */
    static const char *const fo[] = {"open_clip_model.safetensors"};
    add_snapshot(root, "timm", "vit_base_patch32_clip_224.openai", HASH2, "main", fo, NULL, 1);
    CHECK(res("ViT-B-32:openai", 0, &err) == OCLIP_OK &&
          strstr(PATH, "models--timm--vit_base_patch32_clip_224.openai/snapshots/" HASH2));
    setenv("HOME", saved_home, 1);

    /* the QuickGELU note in the model's source line (architecture overridden to fit the tiny
     * weights; an override without a name means no tag check) */
    oclip_model_config cfg;
    size_t len = 0;
    unsigned char *text = read_file(TINY "/open_clip_config.json", &len);
    CHECK(text && oclip_config_parse_open_clip((const char *)text, len, &cfg, NULL, &err) ==
                      OCLIP_OK);
    free(text);
    oclip_model_options o = {.config = &cfg, .config_source = "test"};
    CHECKF(oclip_model_load("ViT-B-32:openai", &o, &m, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(m && strstr(oclip_model_source(m), "trained with QuickGELU") &&
           strstr(oclip_model_source(m), "snapshots/" HASH2), "%s",
           m ? oclip_model_source(m) : "");
    /* the tag's preprocessing (OpenAI's), at the architecture's image size */
    CHECK(m && oclip_model_preprocess(m)->size[0] == 32 &&
          !strcmp(oclip_model_preprocess(m)->resize_mode, "shortest"));
    oclip_model_free(m);
    m = NULL;
    o.quick_gelu = OCLIP_QUICK_GELU_ON;
    CHECKF(oclip_model_load("ViT-B-32:openai", &o, &m, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(m && !strstr(oclip_model_source(m), "note:"));
    oclip_model_free(m);

    /* an explicit hf_hub file: "org/repo/pytorch_model.bin", its .safetensors sibling first */
    static const char *const fv[] = {"open_clip_pytorch_model.bin"};
    static const char *const av[] = {"pytorch_model.bin"};
    add_snapshot(root, "jienengchen", "ViTamin-S", HASH1, "main", fv, av, 1);
    CHECKF(res("ViTamin-S:datacomp1b", 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(ends_with(PATH, "models--jienengchen--ViTamin-S/snapshots/" HASH1
                              "/pytorch_model.bin"), "%s", PATH);
    static const char *const fs[] = {"open_clip_model.safetensors"};
    static const char *const as[] = {"pytorch_model.safetensors"};
    add_snapshot(root, "jienengchen", "ViTamin-S", HASH1, "main", fs, as, 1);
    CHECK(res("ViTamin-S:datacomp1b", 0, &err) == OCLIP_OK &&
          ends_with(PATH, HASH1 "/pytorch_model.safetensors"));
    CHECK(res("ViTamin-S:nope", 0, &err) == OCLIP_E_NOTFOUND &&
          strstr(err.msg, "datacomp1b"));
}

static void test_paths(void) {
    oclip_error err;
    CHECKF(res(TINY, 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(KIND == OCLIP_SOURCE_DIR && !strcmp(PATH, TINY "/open_clip_model.safetensors"));
    CHECK(HAS_CONFIG && !strcmp(ORIGIN, TINY "/open_clip_config.json") &&
          PRE->size[0] == 32);
    CHECK(res(TINY "/", 0, &err) == OCLIP_OK &&
          !strcmp(PATH, TINY "/open_clip_model.safetensors"));
    CHECK(res(TINY "/epoch_2.pt", 0, &err) == OCLIP_OK);
    CHECK(KIND == OCLIP_SOURCE_FILE && !strcmp(PATH, TINY "/epoch_2.pt") && HAS_CONFIG);
    /* an HF config.json is read once the file is open and shows the HF layout */
    CHECK(res(TINY "/hf/model.safetensors", 0, &err) == OCLIP_OK);
    CHECK(KIND == OCLIP_SOURCE_FILE && !HAS_CONFIG && PRE->size[0] == 224);
    CHECK(oclip_source_checkpoint(sp) == NULL);
    CHECKF(oclip_source_open(sp, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(HAS_CONFIG && !strcmp(ORIGIN, TINY "/hf/config.json") && PRE->size[0] == 32 &&
           strstr(oclip_source_preprocess_origin(sp), "OpenAI") &&
           oclip_source_checkpoint(sp) != NULL, "%s", ORIGIN);
    CHECK(oclip_source_open(sp, &err) == OCLIP_OK); /* the second time: nothing */
    CHECK(res(TINY "/hf", 0, &err) == OCLIP_OK &&
          !strcmp(PATH, TINY "/hf/model.safetensors"));
    /* a folder with no checkpoint */
    CHECK(res("tests/fixtures", 0, &err) == OCLIP_E_NOTFOUND &&
          strstr(err.msg, "no checkpoint in folder"));
    CHECK(res("tests/fixtures", 1, &err) == OCLIP_OK &&
          KIND == OCLIP_SOURCE_DIR && PATH[0] == '\0' && !HAS_CONFIG);
    /* nothing there */
    CHECK(res("no/such/file.bin", 0, &err) == OCLIP_E_IO &&
          strstr(err.msg, "no/such/file.bin"));
    CHECK(res("ViT-B-32", 0, &err) == OCLIP_E_IO &&
          strstr(err.msg, "ViT-B-32:TAG"));
    CHECK(res("/dev/null", 0, &err) == OCLIP_E_IO);
    CHECK(res("dir/with:colon.bin", 0, &err) == OCLIP_E_IO);
    /* the embedded default model: NULL, "" and "default" (a path named so is ./default) */
    static const char *const dflt[] = {NULL, "", "default"};
    for (int i = 0; i < 3; i++) {
        CHECKF(res(dflt[i], 0, &err) == OCLIP_OK, "%s", err.msg);
        CHECK(KIND == OCLIP_SOURCE_EMBEDDED && PATH[0] == '\0' && HAS_CONFIG &&
              CFG->vision.image_size[0] == 64 && CFG->text.context_length == 32 &&
              !strcmp(ORIGIN, "the embedded model's open_clip_config.json") && PRE->size[0] == 64 &&
              strstr(DESC, "embedded"));
    }
    CHECKF(oclip_source_open(sp, &err) == OCLIP_OK && oclip_source_checkpoint(sp) &&
           oclip_checkpoint_n_tensors(oclip_source_checkpoint(sp)) > 0, "%s", err.msg);
    CHECK(res("./default", 0, &err) == OCLIP_E_IO);
    /* architectures without weights (weights_optional only): a bare ARCH, a config file */
    CHECK(res("ViT-L-14-336", 1, &err) == OCLIP_OK && KIND == OCLIP_SOURCE_ARCH &&
          PATH[0] == '\0' && CFG->vision.image_size[0] == 336 && PRE->size[0] == 336 &&
          strstr(oclip_source_preprocess_origin(sp), "OpenCLIP's defaults"));
    CHECK(res(TINY "/open_clip_config.json", 1, &err) == OCLIP_OK && KIND == OCLIP_SOURCE_CONFIG &&
          CFG->embed_dim == 16 && !strcmp(oclip_source_preprocess_origin(sp),
                                          TINY "/open_clip_config.json"));
    CHECK(oclip_source_open(sp, &err) == OCLIP_E_ARG && strstr(err.msg, "no weights"));
    CHECKF(res(TINY "/hf/config.json", 1, &err) == OCLIP_OK && KIND == OCLIP_SOURCE_CONFIG &&
           CFG->embed_dim == 16 && strstr(oclip_source_preprocess_origin(sp), "HF-transformers"),
           "%s", err.msg);
    {   /* a "config" larger than any config: refused before it is parsed */
        char big[600];
        snprintf(big, sizeof big, "%s/big.json", tmp);
        FILE *f = fopen(big, "wb");
        CHECK(f && fseek(f, 17 << 20, SEEK_SET) == 0 && fputc('}', f) != EOF);
        if (f) fclose(f);
        CHECK(res(big, 1, &err) == OCLIP_E_FORMAT && strstr(err.msg, "more than a config holds"));
    }
    CHECK(res(TINY "/open_clip_config.json", 0, &err) == OCLIP_E_ARG &&
          strstr(err.msg, "config file, not weights"));
    /* a checkpoint with no config anywhere: inferred by the check, and, as no built-in config
     * fits the shapes, a warning that heads and activation are guesses */
    CHECKF(res("tests/fixtures/readers/oc_zip_f32.bin", 0, &err) == OCLIP_OK, "%s", err.msg);
    oclip_report *r = NULL;
    CHECK(!HAS_CONFIG && oclip_source_n_warnings(sp) == 0);
    CHECKF(oclip_source_check(sp, 0, &r, &err) == OCLIP_OK && oclip_report_ok(r), "%s", err.msg);
    CHECKF(HAS_CONFIG && !strcmp(ORIGIN, "inferred") && oclip_source_n_warnings(sp) == 1 &&
           strstr(oclip_source_warning(sp, 0), "guesses") &&
           !strcmp(oclip_source_preprocess_origin(sp), ""), "%s", ORIGIN);
    oclip_report_free(r);
    CHECK(oclip_source_resolve("x", NULL, NULL, &err) == OCLIP_E_ARG);
    CHECK(res(TINY, 0, NULL) == OCLIP_OK); /* err may be NULL */
    CHECK(res("hf-hub:../x", 0, NULL) == OCLIP_E_ARG);
    /* a path longer than the buffers: refused, never cut */
    char big[4096 + 20];
    memset(big, 'a', sizeof big);
    big[sizeof big - 1] = '\0';
    CHECK(res(big, 0, &err) != OCLIP_OK);
}

/* The same model through hf-hub: and through its folder: the same bytes. */
static void test_load_same(const char *root) {
    oclip_error err;
    use_cache(root);
    static const char *const f[] = {"open_clip_config.json", "open_clip_model.safetensors"};
    add_snapshot(root, "tiny", "b32like", HASH1, "main", f, NULL, 2);
    oclip_model *a = NULL, *b = NULL;
    CHECKF(oclip_model_load("hf-hub:tiny/b32like", NULL, &a, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_model_load(TINY, NULL, &b, &err) == OCLIP_OK, "%s", err.msg);
    if (!a || !b) {
        oclip_model_free(a);
        oclip_model_free(b);
        return;
    }
    CHECKF(strstr(oclip_model_source(a), "snapshots/" HASH1 "/open_clip_model.safetensors") &&
           strstr(oclip_model_source(a), "snapshots/" HASH1 "/open_clip_config.json"), "%s",
           oclip_model_source(a));
    int E = oclip_model_embed_dim(a), h, w;
    CHECK(E == oclip_model_embed_dim(b) && E == 16);
    oclip_model_image_size(a, &h, &w);
    size_t npx = (size_t)2 * 3 * (size_t)h * (size_t)w;
    float *px = malloc(npx * sizeof *px), *ea = malloc(4 * (size_t)E * sizeof(float));
    float *eb = malloc(4 * (size_t)E * sizeof(float));
    uint32_t s = 12345;
    for (size_t i = 0; i < npx; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (float)(s >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
    }
    CHECK(oclip_encode_image(a, px, 2, ea, 1, &err) == OCLIP_OK);
    CHECK(oclip_encode_image(b, px, 2, eb, 1, &err) == OCLIP_OK);
    CHECK(!memcmp(ea, eb, 2 * (size_t)E * sizeof(float)));
    int64_t tok[2 * 8] = {62, 5, 9, 63, 0, 0, 0, 0, 62, 1, 2, 3, 4, 5, 6, 63};
    CHECK(oclip_encode_text(a, tok, 2, ea, 1, &err) == OCLIP_OK);
    CHECK(oclip_encode_text(b, tok, 2, eb, 1, &err) == OCLIP_OK);
    CHECK(!memcmp(ea, eb, 2 * (size_t)E * sizeof(float)));
    CHECK(!memcmp(oclip_model_preprocess(a), oclip_model_preprocess(b),
                  sizeof(oclip_preprocess_cfg)));
    free(px);
    free(ea);
    free(eb);
    oclip_model_free(a);
    oclip_model_free(b);

    /* hf-hub: with the custom config: its preprocessing reaches the model */
    CHECKF(oclip_model_load("hf-hub:org/name", NULL, &a, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(a && !strcmp(oclip_model_preprocess(a)->resize_mode, "squash") &&
          oclip_model_preprocess(a)->mean[0] == 0.5);
    oclip_model_free(a);
    /* and the cache misses come back from the loader unchanged */
    CHECK(oclip_model_load("hf-hub:org/missing", NULL, &a, &err) == OCLIP_E_NOTFOUND &&
          strstr(err.msg, "oclip pull") && a == NULL);
}

/* The hub layer's internals: the streaming SHA-256 on FIPS 180-4's examples, then fed in uneven pieces
 * against one call, over lengths around the block and padding edges; the ETag normalisation
 * huggingface_hub does; the offline switch. */
static void test_hub_internals(void) {
    static const char *const fips[][2] = {
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}};
    for (size_t k = 0; k < sizeof fips / sizeof *fips; k++) {
        char got[65];
        sha256_hex(fips[k][0], strlen(fips[k][0]), got);
        CHECKF(!strcmp(got, fips[k][1]), "sha256('%s') = %s", fips[k][0], got);
    }
    static unsigned char data[70000];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    static const size_t lens[] = {0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 70000};
    for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
        char want[65], got[65];
        sha256_hex(data, lens[k], want);
        oc_sha256 c;
        oc_sha256_init(&c);
        for (size_t at = 0, step = 1; at < lens[k]; at += step, step = step * 3 + 1)
            oc_sha256_update(&c, data + at, at + step <= lens[k] ? step : lens[k] - at);
        oc_sha256_hex(&c, got);
        CHECKF(!strcmp(want, got), "sha256 of %zu bytes: %s vs %s", lens[k], got, want);
    }
    char e[200];
    CHECK(oc_hub_etag("\"abc123\"", e, sizeof e) && !strcmp(e, "abc123"));
    CHECK(oc_hub_etag("W/\"abc-1_2\"", e, sizeof e) && !strcmp(e, "abc-1_2"));
    CHECK(oc_hub_etag(" deadbeef ", e, sizeof e) && !strcmp(e, "deadbeef"));
    CHECK(!oc_hub_etag("\"\"", e, sizeof e) && !oc_hub_etag("\"../x\"", e, sizeof e) &&
          !oc_hub_etag("\"a/b\"", e, sizeof e) && !oc_hub_etag("\"a b\"", e, sizeof e) &&
          !oc_hub_etag("\".x\"", e, sizeof e));
    CHECK(!oc_hub_etag("\"abcdefgh\"", e, 5));
    CHECK(oc_hub_is_sha256("6a170e0cfbefce11524662119dad7327c2dcdd204900209ccfa24f7d41069164") &&
          !oc_hub_is_sha256("6A170e0cfbefce11524662119dad7327c2dcdd204900209ccfa24f7d41069164") &&
          !oc_hub_is_sha256("abc"));
    setenv("HF_HUB_OFFLINE", "yes", 1);
    CHECK(oclip_hub_offline() == 1);
    setenv("HF_HUB_OFFLINE", "0", 1);
    CHECK(oclip_hub_offline() == 0);
    unsetenv("HF_HUB_OFFLINE");
    CHECK(oclip_hub_offline() == 0);
}

/* An HF-transformers-only snapshot (what `oclip pull` takes when a repo has no OpenCLIP files)
 * resolves through its config.json and loads as the same folder does; oclip_pull without the
 * network: offline answers and errors, arguments refused, an unreachable hub. */
static void test_hub_offline(const char *root) {
    oclip_error err;
    use_cache(root);
    static const char *const f[] = {"hf/config.json", "hf/model.safetensors"};
    static const char *const as[] = {"config.json", "model.safetensors"};
    add_snapshot(root, "org", "hfonly", HASH1, "main", f, as, 2);
    CHECKF(res("hf-hub:org/hfonly", 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(ends_with(PATH, "snapshots/" HASH1 "/model.safetensors") && HAS_CONFIG &&
           ends_with(ORIGIN, "snapshots/" HASH1 "/config.json") &&
           strstr(DESC, "HF-transformers"), "%s | %s", PATH, ORIGIN);
    oclip_model *a = NULL, *b = NULL;
    CHECKF(oclip_model_load("hf-hub:org/hfonly", NULL, &a, &err) == OCLIP_OK, "%s", err.msg);
    CHECKF(oclip_model_load(TINY "/hf", NULL, &b, &err) == OCLIP_OK, "%s", err.msg);
    if (a && b) {
        int64_t tok[8] = {62, 5, 9, 63, 0, 0, 0, 0};
        float ea[64], eb[64];
        CHECK(oclip_model_embed_dim(a) == oclip_model_embed_dim(b) &&
              oclip_model_embed_dim(a) <= 64);
        CHECK(oclip_encode_text(a, tok, 1, ea, 1, &err) == OCLIP_OK);
        CHECK(oclip_encode_text(b, tok, 1, eb, 1, &err) == OCLIP_OK);
        CHECK(!memcmp(ea, eb, (size_t)oclip_model_embed_dim(a) * sizeof(float)));
    }
    oclip_model_free(a);
    oclip_model_free(b);
    /* open_clip_config.json with only HF-transformers weights: those, under OpenCLIP's config */
    static const char *const fm[] = {"open_clip_config.json", "hf/model.safetensors"};
    static const char *const am[] = {"open_clip_config.json", "model.safetensors"};
    add_snapshot(root, "org", "mixed", HASH1, "main", fm, am, 2);
    CHECKF(res("hf-hub:org/mixed", 0, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(ends_with(PATH, "/model.safetensors") &&
          ends_with(ORIGIN, "/open_clip_config.json"));
    CHECKF(oclip_model_load("hf-hub:org/mixed", NULL, &a, &err) == OCLIP_OK, "%s", err.msg);
    oclip_model_free(a);
    a = NULL;
    /* a snapshot with neither config */
    static const char *const fw[] = {"hf/model.safetensors"};
    static const char *const aw[] = {"model.safetensors"};
    add_snapshot(root, "org", "bare", HASH1, "main", fw, aw, 1);
    CHECK(res("hf-hub:org/bare", 0, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "no open_clip_config.json") && strstr(err.msg, "config.json") &&
           strstr(err.msg, "oclip pull hf-hub:org/bare"), "%s", err.msg);

    oclip_source *src = NULL;
    oclip_pull_options off;
    oclip_pull_options_default(&off);
    off.offline = 1;
    CHECKF(oclip_pull("hf-hub:org/hfonly", &off, &src, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(src && oclip_source_fetch_info(src)->offline == 1 &&
          ends_with(oclip_source_path(src), "/model.safetensors") &&
          oclip_source_fetch_info(src)->downloaded == 0);
    oclip_source_free(src);
    src = NULL;
    CHECK(oclip_pull("hf-hub:org/absent", &off, &src, &err) == OCLIP_E_NOTFOUND && !src);
    CHECKF(strstr(err.msg, "offline") && strstr(err.msg, "oclip pull hf-hub:org/absent"), "%s",
           err.msg);
    setenv("HF_HUB_OFFLINE", "1", 1);
    CHECK(oclip_pull("ViT-B-16:openai", NULL, &src, &err) == OCLIP_E_NOTFOUND);
    CHECKF(strstr(err.msg, "HF_HUB_OFFLINE is set") &&
           strstr(err.msg, "oclip pull ViT-B-16:openai") &&
           strstr(err.msg, "open_clip_model.safetensors"), "%s", err.msg);
    unsetenv("HF_HUB_OFFLINE");
    /* what cannot be pulled */
    CHECK(oclip_pull(TINY, NULL, &src, &err) == OCLIP_E_ARG && strstr(err.msg, "nothing to "));
    CHECK(oclip_pull("ViT-B-32", NULL, &src, &err) == OCLIP_E_ARG &&
          strstr(err.msg, "add a pretrained tag"));
    CHECK(oclip_pull("ViT-B-32:nope", NULL, &src, &err) == OCLIP_E_NOTFOUND &&
          strstr(err.msg, "laion2b_s34b_b79k"));
    CHECK(oclip_pull("hf-hub:a/../b", NULL, &src, &err) == OCLIP_E_ARG);
    oclip_pull_options rev;
    oclip_pull_options_default(&rev);
    rev.revision = "b";
    CHECK(oclip_pull("hf-hub:org/x@a", &rev, &src, &err) == OCLIP_E_ARG);
    CHECK(oclip_pull(NULL, NULL, &src, &err) == OCLIP_E_ARG && strstr(err.msg, "embedded"));
    CHECK(oclip_pull("default", NULL, &src, &err) == OCLIP_E_ARG);
    oclip_pull_options bad_ep = {.endpoint = "ftp://x"};
    CHECK(oclip_pull("hf-hub:org/absent", &bad_ep, &src, &err) == OCLIP_E_ARG);
    oclip_pull_options bad_tok = {.token = "a\r\nX-Evil: 1"};
    CHECK(oclip_pull("hf-hub:org/absent", &bad_tok, &src, &err) == OCLIP_E_ARG &&
          strstr(err.msg, "control characters"));
    oclip_pull_options small = {.struct_size = 4};
    CHECK(oclip_pull("hf-hub:org/absent", &small, &src, &err) == OCLIP_E_ARG &&
          strstr(err.msg, "struct_size"));
    /* nothing listens on port 9: a clear network error, or the cache when it has the files */
    oclip_pull_options dead = {.endpoint = "http://127.0.0.1:9"};
    CHECK(oclip_pull("hf-hub:org/absent", &dead, &src, &err) == OCLIP_E_IO);
    CHECKF(strstr(err.msg, "cannot reach 'http://127.0.0.1:9/org/absent/resolve/main/") &&
           strstr(err.msg, "HF_HUB_OFFLINE=1"), "%s", err.msg);
    /* a family oclip does not run is refused before any request (else: "cannot reach"), with
     * its name: every pretrained tag runs now (CoCa included: its pull goes to the network), so
     * a tag whose architecture is overridden by one oclip refuses (an HF-text CoCa) shows it */
    CHECK(oclip_pull("coca_ViT-B-32:laion2b_s13b_b90k", &dead, &src, &err) == OCLIP_E_IO && !src);
    CHECKF(strstr(err.msg, "cannot reach"), "%s", err.msg);
    oclip_source_options so;
    oclip_source_options_default(&so);
    so.fetch = OCLIP_FETCH_MISSING;
    so.pull = &dead;
    so.arch = "coca_roberta-ViT-B-32";
    CHECKF(oclip_source_resolve("coca_ViT-L-14:laion2b_s13b_b90k", &so, &src, &err) ==
               OCLIP_E_UNSUPPORTED && strstr(err.msg, "CoCa") &&
               strstr(err.msg, "nothing was downloaded"),
           "%s", err.msg);
    so.arch = NULL;
    /* SigLIP's timm towers are computed: only the unreachable endpoint stops the download */
    CHECKF(oclip_source_resolve("ViT-SO400M-14-SigLIP:webli", &so, &src, &err) == OCLIP_E_IO &&
               strstr(err.msg, "cannot reach"), "%s", err.msg);
    so.arch = "ViT-B-32";
    CHECK(oclip_source_resolve("RN50:openai", &so, &src, &err) == OCLIP_E_IO &&
          strstr(err.msg, "cannot reach"));
    so.arch = NULL;
    so.weights_optional = 1; /* nothing to download: the architecture is enough */
    CHECKF(oclip_source_resolve("RN50:openai", &so, &src, &err) == OCLIP_OK, "%s", err.msg);
    oclip_source_free(src);
    src = NULL;
    CHECKF(oclip_pull("hf-hub:org/hfonly", &dead, &src, &err) == OCLIP_OK, "%s", err.msg);
    CHECK(src && oclip_source_fetch_info(src)->offline == 1 && oclip_source_n_notes(src) == 2 &&
          strstr(oclip_source_note(src, 1), "could not be reached") &&
          strstr(oclip_source_note(src, 0), "HF-transformers") &&
          ends_with(oclip_source_path(src), "/model.safetensors"));
    oclip_source_free(src);
}

/* rm -rf of the temporary folder (only what this test made: plain files, links, folders). */
static void remove_tree(const char *path) {
    char cmd[700];
    if (strncmp(path, "/tmp/oclip_spec_", 16) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/oclip_spec_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    if (!getcwd(tiny, sizeof tiny - sizeof TINY - 1)) {
        perror("getcwd");
        return 1;
    }
    strcat(tiny, "/" TINY);
    char root[600];
    snprintf(root, sizeof root, "%s/hub", tmp);
    mkdirs(root);

    test_cache_dir();
    test_hf_hub(root);
    test_pretrained(root);
    test_paths();
    test_load_same(root);
    test_hub_internals();
    test_hub_offline(root);

    oclip_source_free(sp);
    remove_tree(tmp);
    return TEST_REPORT("test_spec");
}
