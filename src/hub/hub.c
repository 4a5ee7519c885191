/*
 * hub.c — `oclip pull`: downloads what a model spec needs from the Hugging Face Hub (or a
 * pretrained tag's direct URL) into the cache huggingface_hub uses, with libcurl.
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
 * Nothing here prints: progress goes to the caller's callback, failures to oclip_error.
 * Every header value is hostile: lengths are bounded, names validated before they become file
 * names, sizes checked against what was announced.
 *
 * libcurl is loaded on the first download (dlopen of libcurl.so.4 or libcurl-gnutls.so.4, or
 * what OCLIP_LIBCURL names), not linked: every other process (inspect, embed, tokenize, a
 * library user that never downloads) starts without the thirty-odd libraries it brings (TLS,
 * Kerberos, LDAP, SSH, IDN, ...), about 6 ms sooner, and none of their code is mapped into a
 * process that parses hostile files.
 */
#define _DEFAULT_SOURCE /* flock(), symlink() */
#define CURL_DISABLE_TYPECHECK /* the calls below go through pointers */
#include <curl/curl.h>
#include <dlfcn.h>
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

#include "hub/hub.h"
#include "internal.h"

#define PSIZE OCLIP_SPEC_PATH_SIZE
#define MAX_JSON (16u << 20) /* /api/models answers are a few kB; refuse absurd ones */
#define MAX_UNSIZED ((uint64_t)1 << 40) /* a file whose size was not announced: 1 TiB at most */

/* ---------------------------------------------------------------------------------------------
 * SHA-256 (FIPS 180-4)
 */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha_block(oc_sha256 *c, const uint8_t *p) {
    uint32_t w[64], s[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(s, c->h, sizeof s);
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = s[7] + (ror(s[4], 6) ^ ror(s[4], 11) ^ ror(s[4], 25)) +
                      ((s[4] & s[5]) ^ (~s[4] & s[6])) + K[i] + w[i];
        uint32_t t2 = (ror(s[0], 2) ^ ror(s[0], 13) ^ ror(s[0], 22)) +
                      ((s[0] & s[1]) ^ (s[0] & s[2]) ^ (s[1] & s[2]));
        s[7] = s[6];
        s[6] = s[5];
        s[5] = s[4];
        s[4] = s[3] + t1;
        s[3] = s[2];
        s[2] = s[1];
        s[1] = s[0];
        s[0] = t1 + t2;
    }
    for (int i = 0; i < 8; i++) c->h[i] += s[i];
}

void oc_sha256_init(oc_sha256 *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->n = 0;
}

void oc_sha256_update(oc_sha256 *c, const void *data, size_t n) {
    const uint8_t *p = data;
    c->len += n;
    if (c->n) {
        size_t take = 64 - c->n < n ? 64 - c->n : n;
        memcpy(c->buf + c->n, p, take);
        c->n += take;
        p += take;
        n -= take;
        if (c->n < 64) return;
        sha_block(c, c->buf);
        c->n = 0;
    }
    for (; n >= 64; p += 64, n -= 64) sha_block(c, p);
    memcpy(c->buf, p, n);
    c->n = n;
}

void oc_sha256_hex(oc_sha256 *c, char hex[65]) {
    uint64_t bits = c->len * 8;
    uint8_t pad[72] = {0x80};
    size_t padn = (c->n < 56 ? 56 : 120) - c->n;
    for (int i = 0; i < 8; i++) pad[padn + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t len = c->len;
    oc_sha256_update(c, pad, padn + 8);
    c->len = len;
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", (unsigned)c->h[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 */
bool oc_env_true(const char *name) {
    const char *v = getenv(name);
    if (!v) return false;
    return !strcasecmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
           !strcasecmp(v, "true");
}

int oclip_hub_offline(void) { return oc_env_true("HF_HUB_OFFLINE"); }

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

typedef struct {
    CURL *c;
    char endpoint[512]; /* no trailing '/' */
    char origin[512];   /* scheme://host[:port] of the endpoint, for relative redirects */
    struct curl_slist *headers;
    int has_token;
    int net_down;       /* the last failure was the network (no answer at all) */
    char curl_msg[CURL_ERROR_SIZE];
    const oclip_pull_options *opt;
} hub;

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

/* The libcurl functions used here, from dlopen("libcurl.so.4") on first use. */
static struct curl_fns {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *c);
    void (*easy_reset)(CURL *c);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
} lc;
#undef curl_easy_setopt /* curl.h's own macros for these two */
#undef curl_easy_getinfo
#define curl_global_init (*lc.global_init)
#define curl_easy_init (*lc.easy_init)
#define curl_easy_cleanup (*lc.easy_cleanup)
#define curl_easy_reset (*lc.easy_reset)
#define curl_easy_setopt (*lc.easy_setopt)
#define curl_easy_perform (*lc.easy_perform)
#define curl_easy_getinfo (*lc.easy_getinfo)
#define curl_easy_strerror (*lc.easy_strerror)
#define curl_slist_append (*lc.slist_append)
#define curl_slist_free_all (*lc.slist_free_all)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ready;             /* libcurl loaded and initialised */
static char curl_init_msg[400];    /* why not */

/* OCLIP_LIBCURL names the library to load (a path or a soname); else libcurl.so.4 (Debian's
 * libcurl4, OpenSSL), then libcurl-gnutls.so.4 (libcurl3-gnutls). */
static void curl_init(void) {
    static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};
    const char *env = getenv("OCLIP_LIBCURL");
    const char *so_name = env && env[0] ? env : names[0];
    void *so = dlopen(so_name, RTLD_NOW | RTLD_LOCAL);
    if (!so && !(env && env[0])) {
        char first[200];
        const char *why = dlerror();
        snprintf(first, sizeof first, "%s", why ? why : "not found");
        so_name = names[1];
        if (!(so = dlopen(so_name, RTLD_NOW | RTLD_LOCAL))) {
            snprintf(curl_init_msg, sizeof curl_init_msg,
                     "downloading needs libcurl, which could not be loaded: %.180s; %s too "
                     "(Debian: apt install libcurl4; OCLIP_LIBCURL names another)", first,
                     so_name);
            return;
        }
    }
    if (!so) {
        const char *why = dlerror();
        snprintf(curl_init_msg, sizeof curl_init_msg,
                 "downloading needs libcurl: OCLIP_LIBCURL=%.100s could not be loaded: %.200s",
                 so_name, why ? why : "not found");
        return;
    }
    static const struct {
        size_t off;
        const char *name;
    } syms[] = {
#define SYM(f, n) {offsetof(struct curl_fns, f), n}
        SYM(global_init, "curl_global_init"),     SYM(easy_init, "curl_easy_init"),
        SYM(easy_cleanup, "curl_easy_cleanup"),   SYM(easy_reset, "curl_easy_reset"),
        SYM(easy_setopt, "curl_easy_setopt"),     SYM(easy_perform, "curl_easy_perform"),
        SYM(easy_getinfo, "curl_easy_getinfo"),   SYM(easy_strerror, "curl_easy_strerror"),
        SYM(slist_append, "curl_slist_append"),   SYM(slist_free_all, "curl_slist_free_all"),
#undef SYM
    };
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
        void *f = dlsym(so, syms[i].name);
        if (!f) {
            snprintf(curl_init_msg, sizeof curl_init_msg, "%s has no %s: not a libcurl 7 or 8",
                     so_name, syms[i].name);
            dlclose(so);
            return;
        }
        /* POSIX guarantees a function's address survives the round trip through void * */
        memcpy((char *)&lc + syms[i].off, &f, sizeof f);
    }
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(curl_init_msg, sizeof curl_init_msg, "libcurl could not start: %s",
                 curl_easy_strerror(rc));
        return; /* the library stays loaded: global state may point into it */
    }
    curl_ready = 1;
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
        FILE *f = path[0] ? fopen(path, "rb") : NULL;
        if (f) {
            size_t n = fread(out, 1, size - 1, f);
            out[n] = '\0';
            fclose(f);
        }
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

    pthread_once(&curl_once, curl_init);
    if (!curl_ready) return oc_err_set(err, OCLIP_E_IO, "%s", curl_init_msg);
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
    curl_slist_free_all(h->headers);
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
    oclip_pull_result *res;
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
    r->res->files++;
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
            r->res->bytes += got;
            if (!s) r->res->downloaded++;
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
        FILE *f = fopen(ref, "rb");
        if (f) {
            size_t n = fread(cur, 1, sizeof cur - 1, f);
            cur[n] = '\0';
            fclose(f);
        }
        if (strcmp(cur, commit) && (s = write_atomic(ref, commit, err))) return s;
    }
    snprintf(r->res->commit, sizeof r->res->commit, "%.63s", commit);
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

static oclip_status no_weights(repo_ctx *r, const char *const *names, int n, oclip_error *err) {
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
                              const char *rev, oclip_pull_result *res, oclip_error *err) {
    memset(r, 0, sizeof *r);
    r->h = h;
    r->res = res;
    oclip_status s = oclip_hf_cache_dir(r->cache, sizeof r->cache, err);
    if (s) return s;
    snprintf(r->repo, sizeof r->repo, "%s/%s", org, name);
    snprintf(r->rev, sizeof r->rev, "%s", rev);
    if (!oc_fmt(r->repo_dir, sizeof r->repo_dir, "%s/models--%s--%s", r->cache, org, name) ||
        !oc_fmt(r->locks, sizeof r->locks, "%s/.locks/models--%s--%s", r->cache, org, name))
        return oc_err_set(err, OCLIP_E_ARG, "cache path too long: '%.300s'", r->cache);
    return OCLIP_OK;
}

/* hf-hub:ORG/NAME[@REV]: open_clip_config.json + OpenCLIP's weights, else HF-transformers
 * weights + config.json. */
static oclip_status pull_hf_hub(hub *h, const char *org, const char *name, const char *rev,
                                oclip_pull_result *res, oclip_error *err) {
    repo_ctx r;
    oclip_status s = repo_init(&r, h, org, name, rev, res, err);
    if (s) return s;
    int absent, which;
    if ((s = cache_file(&r, "open_clip_config.json", &absent, res->config, err))) return s;
    static const char *const oc[] = {"open_clip_model.safetensors",
                                     "open_clip_pytorch_model.bin"};
    static const char *const hf[] = {"model.safetensors", "pytorch_model.bin"};
    if (!absent) {
        if ((s = first_of(&r, oc, 2, &which, res->path, err))) return s;
        if (which >= 0) return OCLIP_OK;
    } else {
        res->config[0] = '\0';
    }
    /* no OpenCLIP weights: an HF-transformers CLIPModel repo? */
    if ((s = first_of(&r, hf, 2, &which, res->path, err))) return s;
    if (which < 0) {
        static const char *const all[] = {"open_clip_model.safetensors",
                                          "open_clip_pytorch_model.bin", "model.safetensors",
                                          "pytorch_model.bin"};
        return no_weights(&r, all, 4, err);
    }
    char cfg[PSIZE];
    if ((s = cache_file(&r, "config.json", &absent, cfg, err))) return s;
    if (absent) {
        oc_err_set(err, OCLIP_E_NOTFOUND, "%s@%s: %s is there but neither "
                   "open_clip_config.json nor config.json says what architecture it has",
                   r.repo, rev, hf[which]);
        return OCLIP_E_NOTFOUND;
    }
    if (!res->config[0]) snprintf(res->config, sizeof res->config, "%s", cfg);
    res->hf_only = 1;
    snprintf(res->note, sizeof res->note, "%s has no OpenCLIP weights (open_clip_model."
             "safetensors, open_clip_pytorch_model.bin): took the HF-transformers %s and "
             "config.json; they are mapped onto OpenCLIP's keys when loaded", r.repo, hf[which]);
    return OCLIP_OK;
}

/* ARCH:TAG with an hf_hub entry: the tag's file (safetensors sibling first) from refs/main,
 * and the repo's open_clip_config.json when it has one. */
static oclip_status pull_tag_hf(hub *h, const oclip_pretrained *pt, oclip_pull_result *res,
                                int *repo_missing, oclip_error *err) {
    *repo_missing = 0;
    oc_tag_files tf;
    oclip_status ts = oc_tag_hf_files(pt, &tf, err);
    if (ts) return ts;
    const char *org = tf.org, *name = tf.name, *const *names = tf.names;
    int n = tf.n;
    repo_ctx r;
    oclip_status s = repo_init(&r, h, org, name, "main", res, err);
    if (s) return s;
    int which;
    s = first_of(&r, names, n, &which, res->path, err);
    if (s) {
        *repo_missing = s == OCLIP_E_NOTFOUND || strstr(err ? err->msg : "", "RepoNotFound");
        return s;
    }
    if (which < 0) return no_weights(&r, names, n, err);
    int absent;
    if ((s = cache_file(&r, "open_clip_config.json", &absent, res->config, err))) return s;
    if (absent) res->config[0] = '\0';
    return OCLIP_OK;
}

/* ARCH:TAG with only a url: ~/.cache/clip/<file name> (OpenCLIP's download_pretrained_from_url),
 * verified against the SHA-256 the URL carries as its folder name, as OpenCLIP does. */
static oclip_status pull_url(hub *h, const oclip_pretrained *pt, oclip_pull_result *res,
                             oclip_error *err) {
    const char *base = strrchr(pt->url, '/'), *home = getenv("HOME");
    base = base ? base + 1 : pt->url;
    if (!oc_spec_name_ok(base, strlen(base), 200))
        return oc_err_set(err, OCLIP_E_FORMAT, "pretrained %s:%s: unexpected url '%s'",
                          pt->arch, pt->tag, pt->url);
    if (!home || !home[0])
        return oc_err_set(err, OCLIP_E_NOTFOUND, "HOME is not set: no ~/.cache/clip");
    char dir[PSIZE], part[PSIZE], lock[PSIZE], sha[65] = "";
    if (!oc_fmt(dir, sizeof dir, "%s/.cache/clip", home) ||
        !oc_fmt(res->path, sizeof res->path, "%s/%s", dir, base) ||
        !oc_fmt(part, sizeof part, "%s.incomplete", res->path) ||
        !oc_fmt(lock, sizeof lock, "%s.lock", res->path))
        return oc_err_set(err, OCLIP_E_ARG, "path too long under '%.300s'", home);
    if (base - pt->url > 66) { /* .../<sha256>/<file> */
        snprintf(sha, sizeof sha, "%.64s", base - 65);
        if (base[-1] != '/' || !oc_hub_is_sha256(sha)) sha[0] = '\0';
    }
    if (!mkdirs(dir))
        return oc_err_set(err, OCLIP_E_IO, "cannot create '%s': %s", dir, strerror(errno));
    res->files = 1;
    if (file_size(res->path) >= 0) return OCLIP_OK;
    int lfd = open(lock, O_RDWR | O_CREAT, 0666);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        int e = errno;
        if (lfd >= 0) close(lfd);
        return oc_err_set(err, OCLIP_E_IO, "cannot lock '%s': %s", lock, strerror(e));
    }
    oclip_status s = OCLIP_OK;
    if (file_size(res->path) < 0) {
        uint64_t got = 0;
        s = fetch(h, pt->url, part, res->path, base, sha[0] ? sha : NULL, 0, 0, pt->url, "-",
                  base, &got, err);
        res->bytes += got;
        if (!s) res->downloaded = 1;
    }
    close(lfd);
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * oclip_pull
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
        if (!slash || slash > end || !oc_spec_name_ok(id, (size_t)(slash - id), 96) ||
            !oc_spec_name_ok(slash + 1, (size_t)(end - slash - 1), 96) ||
            (at && !oc_spec_name_ok(at + 1, strlen(at + 1), 128))) {
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
            if (!oc_spec_name_ok(opt->revision, strlen(opt->revision), 128))
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

    if (offline) {
        oclip_spec *sp = malloc(sizeof *sp);
        if (!sp) return oc_err_set(err, OCLIP_E_NOMEM, "out of memory");
        oclip_status s = oclip_spec_resolve(resolved, 0, sp, err);
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

    hub h;
    oclip_status s = hub_open(&h, opt, err);
    if (s) return s;
    if (is_hf) {
        s = pull_hf_hub(&h, org, name, rev, res, err);
    } else if (pt.hf_hub[0]) {
        int repo_missing = 0;
        s = pull_tag_hf(&h, &pt, res, &repo_missing, err);
        if (s && repo_missing && pt.url[0] && !h.net_down) {
            /* the tag's repository is gone: its direct URL, as OpenCLIP without hf_hub */
            oclip_pull_result r2;
            memset(&r2, 0, sizeof r2);
            oclip_error e2;
            if (pull_url(&h, &pt, &r2, &e2) == OCLIP_OK) {
                *res = r2;
                s = OCLIP_OK;
            }
        }
    } else if (pt.url[0]) {
        s = pull_url(&h, &pt, res, err);
    } else {
        s = oc_err_set(err, OCLIP_E_NOTFOUND, "pretrained %s:%s has neither an hf_hub repo nor "
                       "a url", pt.arch, pt.tag);
    }
    int net_down = h.net_down;
    hub_close(&h);
    if (s && net_down) {
        /* no network: the cache answers if it can (as huggingface_hub does) */
        oclip_spec *sp = malloc(sizeof *sp);
        oclip_error e2;
        if (sp && oclip_spec_resolve(resolved, 0, sp, &e2) == OCLIP_OK) {
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
        free(sp);
    }
    if (s) oc_err_wrap(err, "pulling %.300s", resolved);
    return s;
}
