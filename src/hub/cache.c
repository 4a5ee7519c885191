/*
 * cache.c — where the Hugging Face cache is and what it holds, offline: the cache folder
 * (huggingface_hub constants.py), a repository's snapshot at a revision (file_download.py: refs/
 * and snapshots/), the files OpenCLIP takes from a pretrained tag's repository (pretrained.py),
 * and the folder of OpenCLIP's URL downloads. Nothing here touches the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hub/hub.h"
#include "internal.h"

int oc_path_kind(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0) return 0; /* errno says why */
    if (S_ISREG(st.st_mode)) return 1;
    if (S_ISDIR(st.st_mode)) return 2;
    errno = 0; /* something else (a device, a FIFO) */
    return 0;
}

bool oc_env_true(const char *name) {
    const char *v = getenv(name);
    if (!v) return false;
    return !strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
           !strcasecmp(v, "true");
}

int oclip_hub_offline(void) { return oc_env_true("HF_HUB_OFFLINE"); }

bool oc_hub_name_ok(const char *s, size_t n, size_t max) {
    if (n == 0 || n > max || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.')) return false;
    }
    return true;
}

static oclip_status too_long(oclip_error *err, const char *what) {
    return oc_err_set(err, OCLIP_E_ARG, "%.200s: path longer than %d bytes", what,
                      OC_PATH_SIZE - 1);
}

/* "~/x" -> "$HOME/x" (Python's expanduser on the variables huggingface_hub reads). */
static bool expand_home(const char *v, const char *suffix, char *out, size_t size) {
    const char *home = getenv("HOME");
    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home && home[0])
        return oc_fmt(out, size, "%s%s%s", home, v + 1, suffix);
    return oc_fmt(out, size, "%s%s", v, suffix);
}

oclip_status oclip_hf_cache_dir(char *out, size_t size, oclip_error *err) {
    /* huggingface_hub constants.py: HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else
     * HF_HOME/hub, where HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else
     * ~/.cache/huggingface. Empty variables count as unset. */
    static const char *const direct[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = getenv(direct[i]);
        if (v && v[0]) {
            if (!expand_home(v, "", out, size)) return too_long(err, direct[i]);
            return OCLIP_OK;
        }
    }
    const char *v = getenv("HF_HOME");
    if (v && v[0]) {
        if (!expand_home(v, "/hub", out, size)) return too_long(err, "HF_HOME");
        return OCLIP_OK;
    }
    v = getenv("XDG_CACHE_HOME");
    if (v && v[0]) {
        if (!expand_home(v, "/huggingface/hub", out, size)) return too_long(err, "XDG_CACHE_HOME");
        return OCLIP_OK;
    }
    v = getenv("HOME");
    if (!v || !v[0]) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "cannot tell where the Hugging Face cache is: none of "
                   "HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HOME is set");
        oc_err_hint(err, "set HF_HUB_CACHE to the cache folder");
        return OCLIP_E_NOTFOUND;
    }
    if (!oc_fmt(out, size, "%s/.cache/huggingface/hub", v)) return too_long(err, "HOME");
    return OCLIP_OK;
}

/* Reads the commit hash a refs/ file holds into out[size]; false when it is no valid name. */
static bool read_ref(const char *file, char *out, size_t size) {
    char buf[256];
    size_t n = oc_read_small_file(file, buf, sizeof buf);
    n = strcspn(buf, "\r\n");
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    if (!oc_hub_name_ok(buf, n, 128) || n >= size) return false;
    memcpy(out, buf, n);
    out[n] = '\0';
    return true;
}

oclip_status oc_hub_snapshot(const char *org, const char *name, const char *rev, char *repo_dir,
                             char *snap, oclip_error *err) {
    char root[OC_PATH_SIZE], file[OC_PATH_SIZE], hash[160];
    repo_dir[0] = snap[0] = '\0'; /* callers may print them after a failure */
    oclip_status s = oclip_hf_cache_dir(root, sizeof root, err);
    if (s) return s;
    if (!oc_fmt(repo_dir, OC_PATH_SIZE, "%s/models--%s--%s", root, org, name))
        return too_long(err, "Hugging Face cache folder");
    if (oc_path_kind(repo_dir) != 2)
        return oc_err_set(err, OCLIP_E_NOTFOUND, "%s/%s is not in the Hugging Face cache (no "
                          "folder '%s')", org, name, repo_dir);
    /* a branch or tag name resolves through refs/; otherwise REVISION is the commit itself */
    if (!oc_fmt(file, sizeof file, "%s/refs/%s", repo_dir, rev)) return too_long(err, repo_dir);
    const char *commit = rev;
    if (oc_path_kind(file) == 1) {
        if (!read_ref(file, hash, sizeof hash))
            return oc_err_set(err, OCLIP_E_FORMAT, "'%s': not a commit hash", file);
        commit = hash;
    }
    if (!oc_fmt(snap, OC_PATH_SIZE, "%s/snapshots/%s", repo_dir, commit))
        return too_long(err, repo_dir);
    if (oc_path_kind(snap) != 2) {
        if (commit == rev)
            return oc_err_set(err, OCLIP_E_NOTFOUND, "%s/%s: revision '%s' is not in the "
                              "Hugging Face cache (no '%s/refs/%s', no folder '%s')", org, name,
                              rev, repo_dir, rev, snap);
        return oc_err_set(err, OCLIP_E_NOTFOUND, "%s/%s: refs/%s names commit %s, but its "
                          "snapshot folder '%s' is not in the cache", org, name, rev, commit,
                          snap);
    }
    return OCLIP_OK;
}

int oc_hub_first_file(const char *dir, const char *const *names, size_t n, char *out) {
    for (size_t i = 0; i < n; i++)
        if (oc_fmt(out, OC_PATH_SIZE, "%s/%s", dir, names[i]) && oc_path_kind(out) == 1)
            return (int)i;
    out[0] = '\0';
    return -1;
}

bool oc_hub_split_tag(const char *h, oc_hub_tag_files *t) {
    const char *s1 = strchr(h, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1 || !s2 || strchr(s2 + 1, '/') || !oc_hub_name_ok(h, (size_t)(s1 - h), 96) ||
        !oc_hub_name_ok(s1 + 1, (size_t)(s2 - s1 - 1), 96) ||
        (s2[1] && !oc_hub_name_ok(s2 + 1, strlen(s2 + 1), 200)))
        return false;
    snprintf(t->org, sizeof t->org, "%.*s", (int)(s1 - h), h);
    snprintf(t->name, sizeof t->name, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
    snprintf(t->file, sizeof t->file, "%s", s2[1] ? s2 + 1 : "open_clip_pytorch_model.bin");
    size_t fl = strlen(t->file);
    t->n = 0;
    if (!strcmp(t->file, "open_clip_pytorch_model.bin")) {
        t->names[t->n++] = "open_clip_model.safetensors";
    } else if (fl > 4 &&
               (!strcmp(t->file + fl - 4, ".bin") || !strcmp(t->file + fl - 4, ".pth"))) {
        snprintf(t->alt, sizeof t->alt, "%.*s.safetensors", (int)(fl - 4), t->file);
        t->names[t->n++] = t->alt;
    }
    t->names[t->n++] = t->file;
    return true;
}

bool oc_hub_url_file(const char *url, char *out, size_t size) {
    /* open_clip pretrained.py download_pretrained_from_url: ~/.cache/clip/<basename> */
    const char *base = strrchr(url, '/'), *home = getenv("HOME");
    base = base ? base + 1 : url;
    return oc_hub_name_ok(base, strlen(base), 200) && home && home[0] &&
           oc_fmt(out, size, "%s/.cache/clip/%s", home, base);
}
