/*
 * hub.c — the hub client: downloads a repository's files from the Hugging Face Hub (or a
 * pretrained tag's direct URL) into the cache huggingface_hub uses, with libcurl (curl.h).
 *
 * The hub's HTTP conventions and the cache layout are written down, with sources, in
 * docs/HUB.md. In short, for file F of repo ORG/NAME at revision R:
 *   HEAD {endpoint}/ORG/NAME/resolve/R/F   (relative redirects followed, absolute ones not)
 *     -> X-Repo-Commit: the commit;  X-Linked-Etag (LFS: the SHA-256) or ETag: the blob name;
 *        X-Linked-Size or Content-Length: the size;  302 Location: the CDN for LFS files;
 *        X-Error-Code: RepoNotFound | EntryNotFound | RevisionNotFound | GatedRepo on errors.
 *   GET the same URL (redirects followed; "Range: bytes=N-" resumes, 206 Partial Content).
 *   Cache: models--ORG--NAME/blobs/<etag>(.incomplete), snapshots/<commit>/F -> ../../blobs/
 *   <etag> (relative symlink), refs/R = <commit>; .locks/models--ORG--NAME/<etag>.lock (flock,
 *   the lock Python's filelock takes on Unix).
 *
 * Which files a model needs is OpenCLIP's choice (oc_hub_pull_repo, oc_hub_pull_tag); which
 * repository a model spec names is the model layer's (src/model/source.c).
 * Nothing here prints: progress goes to the caller's callback, failures to oclip_error.
 * Every header value is hostile: lengths are bounded, names validated before they become file
 * names, sizes checked against what was announced.
 */
#define _DEFAULT_SOURCE /* flock(), symlink() */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "hub/curl.h"
#include "hub/hub.h"
#include "hub/sha256.h"
#include "internal.h"

#define PSIZE OC_PATH_SIZE
#define MAX_JSON (16u << 20) /* /api/models answers are a few kB; refuse absurd ones */
#define MAX_UNSIZED ((uint64_t)1 << 40) /* a file whose size was not announced: 1 TiB at most */

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 */
bool oc_hub_is_sha256(const char *s) {
    size_t n = strlen(s);
    if (n != 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

bool oc_hub_etag(const char *value, char *out, size_t size) {
    const char *v = value;
    while (*v == ' ' || *v == '\t') v++;
    if (!strncmp(v, "W/", 2)) v += 2;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n == 0 || n >= size || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* mkdir -p; false with errno set. */
static bool mkdirs(const char *path) {
    char p[PSIZE];
    if (!oc_fmt(p, sizeof p, "%s", path)) {
        errno = ENAMETOOLONG;
        return false;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) return false;
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) return false;
    struct stat st;
    if (stat(p, &st) != 0) return false;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

/* Size of a regular file (links followed); -1 when there is none. */
static int64_t file_size(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    return (int64_t)st.st_size;
}

/* A temporary name beside path, unique in this process too (pid and a counter), so threads
 * pulling the same repository never share one. */
static bool tmp_name(char *out, size_t size, const char *path) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static unsigned long counter;
    pthread_mutex_lock(&lock);
    unsigned long c = counter++;
    pthread_mutex_unlock(&lock);
    return oc_fmt(out, size, "%s.tmp.%ld.%lu", path, (long)getpid(), c);
}

/* Writes text to path atomically (a temporary name in the same folder, fsync, rename). */
static oclip_status write_atomic(const char *path, const char *text, oclip_error *err) {
    char tmp[PSIZE];
    if (!tmp_name(tmp, sizeof tmp, path))
        return oc_err_set(err, OCLIP_E_ARG, "'%.300s': path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0666);
    if (fd < 0) return oc_err_set(err, OCLIP_E_IO, "cannot write '%s': %s", tmp, strerror(errno));
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return oc_err_set(err, OCLIP_E_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return OCLIP_OK;
}

/* snapshots/<commit>/<file> -> ../../blobs/<etag>, replacing whatever is there atomically. */
static oclip_status link_snapshot(const char *link, const char *etag, oclip_error *err) {
    char target[300], tmp[PSIZE];
    snprintf(target, sizeof target, "../../blobs/%s", etag);
    if (!tmp_name(tmp, sizeof tmp, link))
        return oc_err_set(err, OCLIP_E_ARG, "'%.300s': path too long", link);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        int e = errno;
        unlink(tmp);
        return oc_err_set(err, OCLIP_E_IO, "cannot link '%s' to %s: %s", link, target,
                          strerror(e));
    }
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * HTTP
 */
typedef struct {
    long status;
    char commit[100];      /* X-Repo-Commit */
    char etag[200];        /* ETag */
    char linked_etag[200]; /* X-Linked-Etag */
    char location[2048];   /* Location */
    char err_code[64];     /* X-Error-Code */
    char err_msg[300];     /* X-Error-Message */
    char range[128];       /* Content-Range */
    uint64_t linked_size, length;
    int has_linked_size, has_length;
} meta;

struct oc_hub {
    CURL *c;
    char endpoint[512]; /* no trailing '/' */
    char origin[512];   /* scheme://host[:port] of the endpoint, for relative redirects */
    struct curl_slist *headers;
    int has_token;
    int net_down;       /* the last failure was the network (no answer at all) */
    char curl_msg[CURL_ERROR_SIZE];
    const oclip_pull_options *opt;
    oc_hub_stats stats;
};
typedef struct oc_hub hub;

static void copy_value(char *dst, size_t cap, const char *v, size_t n) {
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static bool parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (*s < '0' || *s > '9') return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return *s == '\0';
}

/* One header line; a status line starts a new response (redirects give several). */
static size_t on_header(char *buf, size_t size, size_t nitems, void *user) {
    meta *m = user;
    size_t n = size * nitems, len = n;
    while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n')) len--;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        memset(m, 0, sizeof *m);
        const char *sp = memchr(buf, ' ', len);
        if (sp && (size_t)(sp - buf) + 4 <= len) m->status = strtol(sp + 1, NULL, 10);
        return n;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return n;
    size_t kn = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vn = len - kn - 1;
    while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
    char val[2048];
    copy_value(val, sizeof val, v, vn);
#define IS(name) (kn == sizeof(name) - 1 && !strncasecmp(buf, name, kn))
    if (IS("x-repo-commit")) copy_value(m->commit, sizeof m->commit, v, vn);
    else if (IS("etag")) copy_value(m->etag, sizeof m->etag, v, vn);
    else if (IS("x-linked-etag")) copy_value(m->linked_etag, sizeof m->linked_etag, v, vn);
    else if (IS("location")) copy_value(m->location, sizeof m->location, v, vn);
    else if (IS("x-error-code")) copy_value(m->err_code, sizeof m->err_code, v, vn);
    else if (IS("x-error-message")) copy_value(m->err_msg, sizeof m->err_msg, v, vn);
    else if (IS("content-range")) copy_value(m->range, sizeof m->range, v, vn);
    else if (IS("x-linked-size")) m->has_linked_size = parse_u64(val, &m->linked_size);
    else if (IS("content-length")) m->has_length = parse_u64(val, &m->length);
#undef IS
    return n;
}

/* A header value must not smuggle a second header line. */
static bool header_safe(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

/* The token huggingface_hub would send: HF_TOKEN, the legacy HUGGING_FACE_HUB_TOKEN, else the
 * file `hf auth login` writes (HF_TOKEN_PATH, else HF_HOME/token, else
 * ~/.cache/huggingface/token). "" when none. */
static void find_token(char *out, size_t size) {
    out[0] = '\0';
    const char *v = getenv("HF_TOKEN");
    if (!v || !v[0]) v = getenv("HUGGING_FACE_HUB_TOKEN");
    if (v && v[0]) {
        snprintf(out, size, "%s", v);
    } else {
        char path[PSIZE] = "";
        const char *tp = getenv("HF_TOKEN_PATH"), *hh = getenv("HF_HOME"), *home = getenv("HOME");
        if (tp && tp[0]) snprintf(path, sizeof path, "%s", tp);
        else if (hh && hh[0]) snprintf(path, sizeof path, "%s/token", hh);
        else if (home && home[0]) snprintf(path, sizeof path, "%s/.cache/huggingface/token", home);
        oc_read_small_file(path, out, size);
    }
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) out[--n] = '\0';
}

static oclip_status hub_open(hub *h, const oclip_pull_options *opt, oclip_error *err) {
    memset(h, 0, sizeof *h);
    h->opt = opt;
    const char *ep = opt->endpoint && opt->endpoint[0] ? opt->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !ep[0]) ep = "https://huggingface.co";
    if ((strncmp(ep, "https://", 8) && strncmp(ep, "http://", 7)) || !header_safe(ep) ||
        strchr(ep, ' ') || !oc_fmt(h->endpoint, sizeof h->endpoint, "%s", ep))
        return oc_err_set(err, OCLIP_E_ARG, "hub endpoint '%.200s': not an http(s):// address",
                          ep);
    size_t n = strlen(h->endpoint);
    while (n > 8 && h->endpoint[n - 1] == '/') h->endpoint[--n] = '\0';
    const char *host = strstr(h->endpoint, "://") + 3, *slash = strchr(host, '/');
    snprintf(h->origin, sizeof h->origin, "%.*s",
             (int)(slash ? (size_t)(slash - h->endpoint) : n), h->endpoint);

    const char *why;
    if (!oc_curl_load(&why)) return oc_err_set(err, OCLIP_E_IO, "%s", why);
    if (!(h->c = curl_easy_init())) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");

    char token[1100], auth[1200];
    if (opt->token && opt->token[0]) snprintf(token, sizeof token, "%s", opt->token);
    else find_token(token, sizeof token);
    if (token[0]) {
        if (!header_safe(token) || strlen(token) > 1000) {
            curl_easy_cleanup(h->c);
            h->c = NULL;
            return oc_err_set(err, OCLIP_E_ARG, "the Hugging Face token (HF_TOKEN) holds control "
                              "characters or is longer than 1000 bytes");
        }
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        /* curl does not send a custom Authorization header to another host after a redirect
         * (the CDN), as huggingface_hub does not */
        h->headers = curl_slist_append(NULL, auth);
        h->has_token = 1;
    }
    return OCLIP_OK;
}

static void hub_close(hub *h) {
    if (h->c) curl_easy_cleanup(h->c);
    if (h->headers) curl_slist_free_all(h->headers);
}

/* Options every request shares. */
static void base_opts(hub *h, const char *url, meta *m) {
    CURL *c = h->c;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "oclip/" OCLIP_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, m);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_msg);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a connection that moves less than 1 byte/s for 60 s is lost */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (h->headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    h->curl_msg[0] = '\0';
    memset(m, 0, sizeof *m);
}

static oclip_status net_error(hub *h, CURLcode rc, const char *url, oclip_error *err) {
    h->net_down = 1;
    oc_err_set(err, OCLIP_E_IO, "cannot reach '%.300s': %s", url,
               h->curl_msg[0] ? h->curl_msg : curl_easy_strerror(rc));
    return OCLIP_E_IO;
}

/* HEAD url, following relative redirects only (huggingface_hub's get_hf_file_metadata): the
 * metadata of an LFS file is on the 302 that points to the CDN, so a redirect that carries
 * X-Linked-Etag is the answer even when its Location is relative. */
static oclip_status head(hub *h, const char *url0, meta *m, oclip_error *err) {
    char url[4096];
    snprintf(url, sizeof url, "%s", url0);
    for (int hop = 0; hop < 10; hop++) {
        base_opts(h, url, m);
        curl_easy_setopt(h->c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 60L);
        CURLcode rc = curl_easy_perform(h->c);
        if (rc != CURLE_OK) return net_error(h, rc, url, err);
        curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &m->status);
        /* a relative redirect (not "//host/...") is followed, unless it carries the file's
         * metadata itself (an LFS redirect to a CDN on the same host) */
        if (m->status >= 300 && m->status < 400 && m->location[0] == '/' &&
            m->location[1] != '/' && !m->linked_etag[0]) {
            char next[4096];
            if (!oc_fmt(next, sizeof next, "%s%s", h->origin, m->location) || !header_safe(next))
                return oc_err_set(err, OCLIP_E_FORMAT, "'%.300s': unusable redirect", url);
            snprintf(url, sizeof url, "%s", next);
            continue;
        }
        return OCLIP_OK;
    }
    return oc_err_set(err, OCLIP_E_FORMAT, "'%.300s': more than 10 redirects", url0);
}

typedef struct {
    char *p;
    size_t n, cap, max;
    int over;
} membuf;

static size_t on_mem(char *buf, size_t size, size_t nitems, void *user) {
    membuf *b = user;
    size_t n = size * nitems;
    if (b->n + n + 1 > b->max) {
        b->over = 1;
        return 0;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, buf, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* GET url into memory (at most `max` bytes), redirects followed. *out malloc'd. */
static oclip_status get_mem(hub *h, const char *url, size_t max, meta *m, membuf *out,
                            oclip_error *err) {
    memset(out, 0, sizeof *out);
    out->max = max;
    base_opts(h, url, m);
    curl_easy_setopt(h->c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h->c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(h->c, CURLOPT_WRITEDATA, out);
    CURLcode rc = curl_easy_perform(h->c);
    if (rc != CURLE_OK) {
        free(out->p);
        out->p = NULL;
        if (out->over)
            return oc_err_set(err, OCLIP_E_FORMAT, "'%.300s': answer longer than %zu bytes", url,
                              max);
        return net_error(h, rc, url, err);
    }
    curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &m->status);
    return OCLIP_OK;
}

/* "a, b, c": the files the repo has at `rev` (/api/models/ORG/NAME/revision/REV), or "" when
 * the API does not answer. */
static void list_files(hub *h, const char *repo, const char *rev, char *out, size_t size) {
    out[0] = '\0';
    char url[1200];
    meta m;
    membuf b;
    if (!oc_fmt(url, sizeof url, "%s/api/models/%s/revision/%s", h->endpoint, repo, rev) ||
        get_mem(h, url, MAX_JSON, &m, &b, NULL) != OCLIP_OK)
        return;
    if (m.status == 200 && b.p) {
        struct cJSON *root = oc_json_parse(b.p, b.n, NULL);
        const cJSON *sib = root ? cJSON_GetObjectItemCaseSensitive(root, "siblings") : NULL;
        size_t len = 0;
        const cJSON *s;
        cJSON_ArrayForEach(s, sib) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(s, "rfilename");
            if (!cJSON_IsString(f) || !header_safe(f->valuestring)) continue;
            int k = snprintf(out + len, size - len, "%s%s", len ? ", " : "", f->valuestring);
            if (k < 0 || (size_t)k >= size - len) {
                snprintf(out + (size > 5 ? size - 5 : 0), size > 5 ? 5 : size, "...");
                break;
            }
            len += (size_t)k;
        }
        cJSON_Delete(root);
    }
    free(b.p);
}

/* The message for an HTTP failure of `what` (a file URL or the repo). */
static oclip_status http_error(hub *h, const meta *m, const char *repo, const char *rev,
                               const char *file, oclip_error *err) {
    h->net_down = 0;
    char why[400] = "";
    if (m->err_msg[0] && header_safe(m->err_msg)) snprintf(why, sizeof why, ": %s", m->err_msg);
    const char *code = header_safe(m->err_code) ? m->err_code : "";
    if (m->status == 401 || m->status == 403 || !strcmp(code, "GatedRepo")) {
        oc_err_set(err, OCLIP_E_IO, "%s/%s: HTTP %ld%s%s%s%s", repo, file, m->status,
                   code[0] ? " " : "", code, why,
                   m->status == 401 && !strcmp(code, "RepoNotFound")
                       ? " (a private or gated repository answers like a missing one)"
                       : "");
        if (h->has_token)
            oc_err_hint(err, "the token in HF_TOKEN was not accepted for %s: check that it is "
                        "valid and that your account has access (accept the conditions on "
                        "%s/%s)", repo, h->endpoint, repo);
        else
            oc_err_hint(err, "%s may be gated or private: accept its conditions on %s/%s, then "
                        "set HF_TOKEN to an access token (%s/settings/tokens)", repo,
                        h->endpoint, repo, h->endpoint);
        return OCLIP_E_IO;
    }
    if (m->status == 404 && !strcmp(code, "RevisionNotFound")) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "%s has no revision '%s'%s", repo, rev, why);
        oc_err_hint(err, "see the branches, tags and commits on %s/%s", h->endpoint, repo);
        return OCLIP_E_NOTFOUND;
    }
    if (m->status == 404 && !strcmp(code, "RepoNotFound")) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "no repository %s on %s%s", repo, h->endpoint, why);
        return OCLIP_E_NOTFOUND;
    }
    if (m->status == 404) {
        char files[700];
        list_files(h, repo, rev, files, sizeof files);
        oc_err_set(err, OCLIP_E_NOTFOUND, "%s@%s has no file '%s'%s", repo, rev, file, why);
        if (files[0]) oc_err_hint(err, "the repository has: %s", files);
        return OCLIP_E_NOTFOUND;
    }
    return oc_err_set(err, OCLIP_E_IO, "%s/%s: HTTP %ld%s%s%s", repo, file, m->status,
                      code[0] ? " " : "", code, why);
}

/* ---------------------------------------------------------------------------------------------
 * Downloading one file to disk: `part` grows (resumed from its size with a Range request),
 * is verified, fsynced and renamed to `final`.
 */
typedef struct {
    hub *h;
    int fd;
    oc_sha256 sha;
    uint64_t have;   /* bytes in the part file */
    uint64_t start;  /* bytes there when the request began */
    uint64_t want;
    int has_want;
    int checked;     /* the response's status and range were looked at */
    int bad;         /* refused: why[] says why */
    char why[300];
    meta m;
    const char *label;
} dl;

static bool write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static size_t on_body(char *buf, size_t size, size_t nitems, void *user) {
    dl *d = user;
    size_t n = size * nitems;
    if (d->m.status != 200 && d->m.status != 206) return n; /* an error page: not kept */
    if (!d->checked) {
        d->checked = 1;
        if (d->m.status == 200 && d->start > 0) { /* the server ignored Range: start over */
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
                snprintf(d->why, sizeof d->why, "cannot truncate: %s", strerror(errno));
                d->bad = 1;
                return 0;
            }
            oc_sha256_init(&d->sha);
            d->have = d->start = 0;
        } else if (d->m.status == 206) {
            uint64_t first = 0;
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s", d->m.range);
            char *dash = strchr(tmp, '-');
            if (dash) *dash = '\0';
            if (strncmp(tmp, "bytes ", 6) || !parse_u64(tmp + 6, &first) || first != d->start) {
                snprintf(d->why, sizeof d->why, "the server answered a resume from byte %llu "
                         "with Content-Range '%.60s'", (unsigned long long)d->start,
                         header_safe(d->m.range) ? d->m.range : "(control characters)");
                d->bad = 1;
                return 0;
            }
        }
    }
    if ((d->has_want && d->have + n > d->want) || d->have + n > MAX_UNSIZED) {
        snprintf(d->why, sizeof d->why, "the server sent more than the %llu bytes announced",
                 (unsigned long long)(d->has_want ? d->want : MAX_UNSIZED));
        d->bad = 1;
        return 0;
    }
    if (!write_all(d->fd, buf, n)) {
        snprintf(d->why, sizeof d->why, "cannot write: %s", strerror(errno));
        d->bad = 1;
        return 0;
    }
    oc_sha256_update(&d->sha, buf, n);
    d->have += n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dlnow, (void)ultotal, (void)ulnow;
    dl *d = user;
    const oclip_pull_options *o = d->h->opt;
    uint64_t total = d->has_want ? d->want : dltotal > 0 ? d->start + (uint64_t)dltotal : 0;
    if (o->progress) o->progress(o->user, d->label, d->have, total);
    return 0;
}

/* Hashes what the part file already holds (a resumed download is verified as a whole). */
static bool hash_existing(dl *d) {
    char buf[1 << 16];
    if (lseek(d->fd, 0, SEEK_SET) != 0) return false;
    uint64_t left = d->have;
    while (left) {
        ssize_t k = read(d->fd, buf, left < sizeof buf ? (size_t)left : sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        oc_sha256_update(&d->sha, buf, (size_t)k);
        left -= (uint64_t)k;
    }
    return lseek(d->fd, 0, SEEK_END) == (off_t)d->have;
}

/*
 * Downloads url into `final` through `part`. sha256: 64 hex digits to verify, or NULL (then
 * the size is checked when known). *got: bytes transferred now.
 */
static oclip_status fetch(hub *h, const char *url, const char *part, const char *final,
                          const char *label, const char *sha256, uint64_t want, int has_want,
                          const char *repo, const char *rev, const char *file, uint64_t *got,
                          oclip_error *err) {
    *got = 0;
    dl d;
    memset(&d, 0, sizeof d);
    d.h = h;
    d.label = label;
    d.want = want;
    d.has_want = has_want;
    d.fd = open(part, O_RDWR | O_CREAT, 0666);
    if (d.fd < 0)
        return oc_err_set(err, OCLIP_E_IO, "cannot write '%s': %s", part, strerror(errno));
    oclip_status s = OCLIP_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        struct stat st;
        if (fstat(d.fd, &st) != 0) {
            s = oc_err_set(err, OCLIP_E_IO, "'%s': %s", part, strerror(errno));
            break;
        }
        d.have = (uint64_t)st.st_size;
        if (has_want && d.have > want) { /* not this file: start over */
            if (ftruncate(d.fd, 0) != 0) {
                s = oc_err_set(err, OCLIP_E_IO, "'%s': %s", part, strerror(errno));
                break;
            }
            d.have = 0;
        }
        oc_sha256_init(&d.sha);
        if (!hash_existing(&d)) {
            s = oc_err_set(err, OCLIP_E_IO, "cannot read '%s': %s", part, strerror(errno));
            break;
        }
        d.start = d.have;
        d.checked = d.bad = 0;
        if (has_want && d.have == want) break; /* complete already: verify below */

        char range[64];
        snprintf(range, sizeof range, "%llu-", (unsigned long long)d.have);
        base_opts(h, url, &d.m);
        curl_easy_setopt(h->c, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h->c, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h->c, CURLOPT_WRITEDATA, &d);
        curl_easy_setopt(h->c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h->c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h->c, CURLOPT_XFERINFODATA, &d);
        if (d.have) curl_easy_setopt(h->c, CURLOPT_RANGE, range);
        CURLcode rc = curl_easy_perform(h->c);
        *got += d.have - d.start;
        long status = 0;
        curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
        if (d.bad) {
            s = oc_err_set(err, OCLIP_E_FORMAT, "downloading %s: %s", label, d.why);
            break;
        }
        if (rc != CURLE_OK) {
            net_error(h, rc, url, err);
            oc_err_wrap(err, "download of %s interrupted after %llu of %s bytes (kept in '%s')",
                        label, (unsigned long long)d.have,
                        has_want ? "the announced" : "unknown", part);
            oc_err_hint(err, "run the same command again: it resumes where this one stopped");
            s = OCLIP_E_IO;
            break;
        }
        if (status == 416 && d.start > 0 && attempt == 0) { /* stale part file: start over */
            if (ftruncate(d.fd, 0) != 0) {
                s = oc_err_set(err, OCLIP_E_IO, "'%s': %s", part, strerror(errno));
                break;
            }
            continue;
        }
        if (status != 200 && status != 206) {
            meta m = d.m;
            m.status = status;
            s = http_error(h, &m, repo, rev, file, err);
            break;
        }
        break;
    }
    if (!s && has_want && d.have != want)
        s = oc_err_set(err, OCLIP_E_FORMAT, "downloading %s: got %llu bytes, the hub announced "
                       "%llu", label, (unsigned long long)d.have, (unsigned long long)want);
    if (!s && sha256) {
        char hex[65];
        oc_sha256_hex(&d.sha, hex);
        if (strcmp(hex, sha256) != 0) {
            /* a corrupt download must not be resumed: drop it */
            ftruncate(d.fd, 0);
            unlink(part);
            oc_err_set(err, OCLIP_E_FORMAT, "downloading %s: SHA-256 mismatch: the hub says %s, "
                       "the %llu bytes received hash to %s; refused and deleted", label, sha256,
                       (unsigned long long)d.have, hex);
            oc_err_hint(err, "run the command again; if it repeats, the server or a proxy is "
                        "altering the file");
            s = OCLIP_E_FORMAT;
        }
    }
    if (!s && fsync(d.fd) != 0)
        s = oc_err_set(err, OCLIP_E_IO, "cannot write '%s': %s", part, strerror(errno));
    if (close(d.fd) != 0 && !s)
        s = oc_err_set(err, OCLIP_E_IO, "cannot write '%s': %s", part, strerror(errno));
    if (!s && rename(part, final) != 0)
        s = oc_err_set(err, OCLIP_E_IO, "cannot rename '%s' to '%s': %s", part, final,
                       strerror(errno));
    if (!s && h->opt->progress) h->opt->progress(h->opt->user, label, d.have, d.have);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * One file of a repo into the cache
 */
typedef struct {
    hub *h;
    char cache[PSIZE];    /* the hub cache folder */
    char repo[200];       /* ORG/NAME */
    char repo_dir[PSIZE]; /* <cache>/models--ORG--NAME */
    char locks[PSIZE];    /* <cache>/.locks/models--ORG--NAME */
    char rev[160];
    char commit[100];     /* of the first file fetched; all must agree */
} repo_ctx;

/* Fetches FILE. *absent = 1 (and OCLIP_OK) when the repo exists but has no such file (404
 * EntryNotFound), if absent is not NULL. out[PSIZE]: the snapshot path. */
static oclip_status cache_file(repo_ctx *r, const char *file, int *absent, char *out,
                               oclip_error *err) {
    hub *h = r->h;
    if (absent) *absent = 0;
    char url[1400];
    if (!oc_fmt(url, sizeof url, "%s/%s/resolve/%s/%s", h->endpoint, r->repo, r->rev, file))
        return oc_err_set(err, OCLIP_E_ARG, "URL too long");
    meta m;
    oclip_status s = head(h, url, &m, err);
    if (s) return s;
    if (m.status == 404 && absent && (!m.err_code[0] || !strcmp(m.err_code, "EntryNotFound"))) {
        *absent = 1;
        return OCLIP_OK;
    }
    if (m.status >= 400 || m.status < 200) return http_error(h, &m, r->repo, r->rev, file, err);

    char etag[160], commit[100];
    const char *ev = m.linked_etag[0] ? m.linked_etag : m.etag;
    if (!ev[0])
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: the server sent no ETag (is %s a Hugging "
                          "Face hub?)", url, h->endpoint);
    if (!oc_hub_etag(ev, etag, sizeof etag))
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: unusable ETag '%.100s'", url,
                          header_safe(ev) ? ev : "(control characters)");
    if (!oc_hub_etag(m.commit, commit, sizeof commit) || strlen(commit) > 64)
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: %s X-Repo-Commit header", url,
                          m.commit[0] ? "unusable" : "no");
    if (r->commit[0] && strcmp(commit, r->commit))
        return oc_err_set(err, OCLIP_E_IO, "%s changed while downloading (commit %s, then %s): "
                          "run the command again", r->repo, r->commit, commit);
    snprintf(r->commit, sizeof r->commit, "%s", commit);
    /* the size: X-Linked-Size for LFS files; Content-Length only on a 200 (on a redirect it
     * is the length of the redirect's own body) */
    uint64_t size = m.has_linked_size ? m.linked_size : m.length;
    int has_size = m.has_linked_size || (m.has_length && m.status == 200);
    /* LFS files: the linked etag is the SHA-256 of the content */
    const char *sha = m.linked_etag[0] && oc_hub_is_sha256(etag) ? etag : NULL;

    char blobs[PSIZE], snapdir[PSIZE], blob[PSIZE], part[PSIZE], lock[PSIZE];
    if (!oc_fmt(blobs, sizeof blobs, "%s/blobs", r->repo_dir) ||
        !oc_fmt(snapdir, sizeof snapdir, "%s/snapshots/%s", r->repo_dir, commit) ||
        !oc_fmt(blob, sizeof blob, "%s/%s", blobs, etag) ||
        !oc_fmt(part, sizeof part, "%s.incomplete", blob) ||
        !oc_fmt(lock, sizeof lock, "%s/%s.lock", r->locks, etag) ||
        !oc_fmt(out, PSIZE, "%s/%s", snapdir, file))
        return oc_err_set(err, OCLIP_E_ARG, "cache path too long under '%.300s'", r->repo_dir);
    if (!mkdirs(blobs) || !mkdirs(snapdir) || !mkdirs(r->locks))
        return oc_err_set(err, OCLIP_E_IO, "cannot create folders in '%s': %s", r->repo_dir,
                          strerror(errno));
    h->stats.files++;
    int64_t have = file_size(out);
    if (have < 0 || (has_size && (uint64_t)have != size)) {
        int lfd = open(lock, O_RDWR | O_CREAT, 0666);
        if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
            int e = errno;
            if (lfd >= 0) close(lfd);
            return oc_err_set(err, OCLIP_E_IO, "cannot lock '%s': %s", lock, strerror(e));
        }
        /* another process may have finished it while we waited */
        have = file_size(blob);
        if (have < 0 || (has_size && (uint64_t)have != size)) {
            uint64_t got = 0;
            s = fetch(h, url, part, blob, file, sha, size, has_size, r->repo, r->rev, file, &got,
                      err);
            h->stats.bytes += got;
            if (!s) h->stats.downloaded++;
        }
        close(lfd); /* releases the lock */
        if (s) return s;
        if ((s = link_snapshot(out, etag, err))) return s;
    }
    /* refs/<revision> -> commit, unless the revision is the commit */
    if (strcmp(r->rev, commit) != 0) {
        char refs[PSIZE], ref[PSIZE];
        if (!oc_fmt(refs, sizeof refs, "%s/refs", r->repo_dir) ||
            !oc_fmt(ref, sizeof ref, "%s/%s", refs, r->rev))
            return oc_err_set(err, OCLIP_E_ARG, "cache path too long");
        if (!mkdirs(refs))
            return oc_err_set(err, OCLIP_E_IO, "cannot create '%s': %s", refs, strerror(errno));
        char cur[128] = "";
        oc_read_small_file(ref, cur, sizeof cur);
        if (strcmp(cur, commit) && (s = write_atomic(ref, commit, err))) return s;
    }
    snprintf(h->stats.commit, sizeof h->stats.commit, "%.63s", commit);
    return OCLIP_OK;
}

/* The first of names[] the repo has; *which = its index, or -1 when none (not an error). */
static oclip_status first_of(repo_ctx *r, const char *const *names, int n, int *which, char *out,
                             oclip_error *err) {
    *which = -1;
    for (int i = 0; i < n; i++) {
        int absent;
        oclip_status s = cache_file(r, names[i], &absent, out, err);
        if (s) return s;
        if (!absent) {
            *which = i;
            return OCLIP_OK;
        }
    }
    out[0] = '\0';
    return OCLIP_OK;
}

/* "ORG/NAME@REV has none of a, b or c", with what the repository does have as the hint. */
static oclip_status none_of(repo_ctx *r, const char *const *names, int n, oclip_error *err) {
    char want[400] = "", files[700];
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(want + len, len < sizeof want ? sizeof want - len : 0, "%s%s",
                                i ? (i + 1 == n ? " or " : ", ") : "", names[i]);
    list_files(r->h, r->repo, r->rev, files, sizeof files);
    oc_err_set(err, OCLIP_E_NOTFOUND, "%s@%s has none of %s", r->repo, r->rev, want);
    if (files[0]) oc_err_hint(err, "the repository has: %s", files);
    return OCLIP_E_NOTFOUND;
}

static oclip_status repo_init(repo_ctx *r, hub *h, const char *org, const char *name,
                              const char *rev, oclip_error *err) {
    memset(r, 0, sizeof *r);
    r->h = h;
    oclip_status s = oclip_hf_cache_dir(r->cache, sizeof r->cache, err);
    if (s) return s;
    snprintf(r->repo, sizeof r->repo, "%s/%s", org, name);
    snprintf(r->rev, sizeof r->rev, "%s", rev);
    if (!oc_fmt(r->repo_dir, sizeof r->repo_dir, "%s/models--%s--%s", r->cache, org, name) ||
        !oc_fmt(r->locks, sizeof r->locks, "%s/.locks/models--%s--%s", r->cache, org, name))
        return oc_err_set(err, OCLIP_E_ARG, "cache path too long: '%.300s'", r->cache);
    return OCLIP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * What OpenCLIP loads from a repository or a tag
 */
oclip_status oc_hub_pull_repo(oc_hub *h, const char *org, const char *name, const char *rev,
                              oc_hub_config_check check, void *ctx, oclip_error *err) {
    repo_ctx r;
    oclip_status s = repo_init(&r, h, org, name, rev, err);
    if (s) return s;
    static const char *const oc[] = {"open_clip_model.safetensors",
                                     "open_clip_pytorch_model.bin"};
    static const char *const hf[] = {"model.safetensors", "pytorch_model.bin"};
    char cfg[PSIZE], weights[PSIZE];
    int absent, which;
    if ((s = cache_file(&r, "open_clip_config.json", &absent, cfg, err))) return s;
    if (!absent) {
        if (check && (s = check(ctx, cfg, false, err))) return s;
        if ((s = first_of(&r, oc, 2, &which, weights, err))) return s;
        if (which >= 0) return OCLIP_OK;
        /* a repository without OpenCLIP weights: its HF-transformers ones, under OpenCLIP's
         * config */
        if ((s = first_of(&r, hf, 2, &which, weights, err))) return s;
    } else {
        /* an HF-transformers CLIPModel repository: config.json says the architecture */
        if ((s = cache_file(&r, "config.json", &absent, cfg, err))) return s;
        if (absent) {
            static const char *const cfgs[] = {"open_clip_config.json", "config.json"};
            none_of(&r, cfgs, 2, err);
            oc_err_wrap(err, "nothing says what architecture %s has", r.repo);
            return OCLIP_E_NOTFOUND;
        }
        if (check && (s = check(ctx, cfg, true, err))) return s;
        if ((s = first_of(&r, hf, 2, &which, weights, err))) return s;
    }
    if (which < 0) {
        static const char *const all[] = {"open_clip_model.safetensors",
                                          "open_clip_pytorch_model.bin", "model.safetensors",
                                          "pytorch_model.bin"};
        return none_of(&r, all, 4, err);
    }
    return OCLIP_OK;
}

oclip_status oc_hub_pull_tokenizer(oc_hub *h, const char *org, const char *name,
                                   oclip_error *err) {
    /* the names come from a config file: they become path components */
    if (!org || !name || !oc_hub_name_ok(org, strlen(org), 96) ||
        !oc_hub_name_ok(name, strlen(name), 96))
        return oc_err_set(err, OCLIP_E_FORMAT, "hf_tokenizer_name '%.100s/%.100s' is not a "
                          "repository name", org ? org : "", name ? name : "");
    repo_ctx r;
    oclip_status s = repo_init(&r, h, org, name, "main", err);
    if (s) return s;
    char path[PSIZE];
    int absent;
    /* what AutoTokenizer.from_pretrained reads for a fast tokenizer (transformers
     * tokenization_utils_base.py): tokenizer.json, and beside it tokenizer_config.json and
     * special_tokens_map.json when the repository has them */
    if ((s = cache_file(&r, "tokenizer.json", &absent, path, err))) return s;
    if (absent) {
        static const char *const want[] = {"tokenizer.json"};
        none_of(&r, want, 1, err);
        oc_err_wrap(err, "the model's tokenizer (text_cfg.hf_tokenizer_name)");
        return OCLIP_E_NOTFOUND;
    }
    if ((s = cache_file(&r, "tokenizer_config.json", &absent, path, err))) return s;
    return cache_file(&r, "special_tokens_map.json", &absent, path, err);
}

/* The tag's hf_hub file (safetensors sibling first) from refs/main, and the repo's
 * open_clip_config.json when it has one. *repo_missing: the repository itself is not there. */
static oclip_status pull_tag_hf(hub *h, const char *hf_hub, const char *label, int *repo_missing,
                                oclip_error *err) {
    *repo_missing = 0;
    oc_hub_tag_files tf;
    if (!oc_hub_split_tag(hf_hub, &tf))
        return oc_err_set(err, OCLIP_E_FORMAT, "pretrained %s: unexpected hf_hub '%s'", label,
                          hf_hub);
    repo_ctx r;
    oclip_status s = repo_init(&r, h, tf.org, tf.name, "main", err);
    if (s) return s;
    char path[PSIZE], cfg[PSIZE];
    int which;
    s = first_of(&r, tf.names, tf.n, &which, path, err);
    if (s) {
        *repo_missing = s == OCLIP_E_NOTFOUND || strstr(err ? err->msg : "", "RepoNotFound");
        return s;
    }
    if (which < 0) return none_of(&r, tf.names, tf.n, err);
    int absent;
    return cache_file(&r, "open_clip_config.json", &absent, cfg, err);
}

/* A tag with only a url: ~/.cache/clip/<file name> (OpenCLIP's download_pretrained_from_url),
 * verified against the SHA-256 the URL carries as its folder name, as OpenCLIP does. */
static oclip_status pull_url(hub *h, const char *url, const char *label, oclip_error *err) {
    const char *base = strrchr(url, '/'), *home = getenv("HOME");
    base = base ? base + 1 : url;
    if (!oc_hub_name_ok(base, strlen(base), 200))
        return oc_err_set(err, OCLIP_E_FORMAT, "pretrained %s: unexpected url '%s'", label, url);
    if (!home || !home[0])
        return oc_err_set(err, OCLIP_E_NOTFOUND, "HOME is not set: no ~/.cache/clip");
    char dir[PSIZE], path[PSIZE], part[PSIZE], lock[PSIZE], sha[65] = "";
    if (!oc_fmt(dir, sizeof dir, "%s/.cache/clip", home) || !oc_hub_url_file(url, path, PSIZE) ||
        !oc_fmt(part, sizeof part, "%s.incomplete", path) ||
        !oc_fmt(lock, sizeof lock, "%s.lock", path))
        return oc_err_set(err, OCLIP_E_ARG, "path too long under '%.300s'", home);
    if (base - url > 66) { /* .../<sha256>/<file> */
        snprintf(sha, sizeof sha, "%.64s", base - 65);
        if (base[-1] != '/' || !oc_hub_is_sha256(sha)) sha[0] = '\0';
    }
    if (!mkdirs(dir))
        return oc_err_set(err, OCLIP_E_IO, "cannot create '%s': %s", dir, strerror(errno));
    h->stats.files++;
    h->stats.commit[0] = '\0';
    if (file_size(path) >= 0) return OCLIP_OK;
    int lfd = open(lock, O_RDWR | O_CREAT, 0666);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        int e = errno;
        if (lfd >= 0) close(lfd);
        return oc_err_set(err, OCLIP_E_IO, "cannot lock '%s': %s", lock, strerror(e));
    }
    oclip_status s = OCLIP_OK;
    if (file_size(path) < 0) {
        uint64_t got = 0;
        s = fetch(h, url, part, path, base, sha[0] ? sha : NULL, 0, 0, url, "-", base, &got,
                  err);
        h->stats.bytes += got;
        if (!s) h->stats.downloaded++;
    }
    close(lfd);
    return s;
}

oclip_status oc_hub_pull_tag(oc_hub *h, const char *hf_hub, const char *url, const char *label,
                             oclip_error *err) {
    if (!hf_hub[0] && !url[0])
        return oc_err_set(err, OCLIP_E_NOTFOUND, "pretrained %s has neither an hf_hub repo nor "
                          "a url", label);
    if (!hf_hub[0]) return pull_url(h, url, label, err);
    int repo_missing = 0;
    oclip_status s = pull_tag_hf(h, hf_hub, label, &repo_missing, err);
    if (s && repo_missing && url[0] && !h->net_down) {
        /* the tag's repository is gone: its direct URL, as OpenCLIP without hf_hub */
        oc_hub_stats before = h->stats;
        memset(&h->stats, 0, sizeof h->stats); /* what the URL took, not the failed requests */
        oclip_error e2;
        if (pull_url(h, url, label, &e2) == OCLIP_OK) {
            oc_err_clear(err);
            return OCLIP_OK;
        }
        h->stats = before;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * The client
 */
oclip_status oc_hub_open(const oclip_pull_options *opt, oc_hub **out, oclip_error *err) {
    static const oclip_pull_options defaults = {0};
    hub *h = malloc(sizeof *h);
    if (!h) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
    oclip_status s = hub_open(h, opt ? opt : &defaults, err);
    if (s) {
        hub_close(h);
        free(h);
        return s;
    }
    *out = h;
    return OCLIP_OK;
}

void oc_hub_close(oc_hub *h) {
    if (!h) return;
    hub_close(h);
    free(h);
}

bool oc_hub_unreachable(const oc_hub *h) { return h->net_down != 0; }

const oc_hub_stats *oc_hub_stats_of(const oc_hub *h) { return &h->stats; }
