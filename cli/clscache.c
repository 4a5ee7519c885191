/* clscache.c — see clscache.h. */
#include "clscache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "OCLIPZS1"

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 4096);
        while (nc < *len + n + 1) nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb) return -1;
        *buf = nb, *cap = nc;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

/* an item as "<length>:<bytes>\n", so no label or template can fake a field boundary */
static int append_item(char **buf, size_t *len, size_t *cap, const char *s) {
    char head[32];
    int k = snprintf(head, sizeof head, "%zu:", strlen(s));
    return append(buf, len, cap, head, (size_t)k) || append(buf, len, cap, s, strlen(s)) ||
           append(buf, len, cap, "\n", 1);
}

static int mkdir_p(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int bad = mkdir(path, 0755) != 0 && errno != EEXIST;
        *p = '/';
        if (bad) return -1;
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* the cache folder into out; 0 when there is none to name */
static int cache_dir(char *out, size_t size) {
    const char *d = getenv("OCLIP_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    int k;
    if (d && d[0]) k = snprintf(out, size, "%s/classifiers", d);
    else if (x && x[0] == '/') k = snprintf(out, size, "%s/oclip/classifiers", x);
    else if (home && home[0]) k = snprintf(out, size, "%s/.cache/oclip/classifiers", home);
    else return 0;
    return k > 0 && (size_t)k < size;
}

int clscache_init(clscache *c, const char *fingerprint, size_t E, const char *const *labels,
                  size_t n_labels, const char *const *templates, size_t n_templates) {
    memset(c, 0, sizeof *c);
    size_t cap = 0;
    char head[256];
    snprintf(head, sizeof head, "oclip class embeddings 1\nmodel %.150s\nE %zu\nlabels %zu\n",
             fingerprint, E, n_labels);
    if (append(&c->key, &c->key_len, &cap, head, strlen(head))) return -1;
    for (size_t i = 0; i < n_labels; i++)
        if (append_item(&c->key, &c->key_len, &cap, labels[i])) return -1;
    snprintf(head, sizeof head, "templates %zu\n", n_templates);
    if (append(&c->key, &c->key_len, &cap, head, strlen(head))) return -1;
    for (size_t i = 0; i < n_templates; i++)
        if (append_item(&c->key, &c->key_len, &cap, templates[i])) return -1;
    char dir[3900];
    if (!cache_dir(dir, sizeof dir)) return 0;
    /* file name: FNV-1a 64 of the key (the key itself is checked on load) */
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < c->key_len; i++) h = (h ^ (uint8_t)c->key[i]) * 0x100000001b3ull;
    snprintf(c->path, sizeof c->path, "%s/%016llx.bin", dir, (unsigned long long)h);
    return 0;
}

int clscache_load(const clscache *c, float *w, size_t n_labels, size_t E) {
    if (!c->path[0] || !c->key) return 0;
    /* the cache folder is not trusted to hold only our files: a FIFO or device planted under the
     * entry's name must not block or be read (non-blocking open, then a regular file only) */
    int fd = open(c->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    FILE *f = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return 0;
    }
    char magic[8];
    uint64_t hdr[3]; /* key length, labels, E */
    int ok = fread(magic, 1, 8, f) == 8 && !memcmp(magic, MAGIC, 8) &&
             fread(hdr, sizeof hdr[0], 3, f) == 3 && hdr[0] == c->key_len &&
             hdr[1] == n_labels && hdr[2] == E;
    char *key = ok ? malloc(c->key_len ? c->key_len : 1) : NULL;
    ok = ok && key && fread(key, 1, c->key_len, f) == c->key_len &&
         !memcmp(key, c->key, c->key_len);
    free(key);
    ok = ok && fread(w, sizeof(float), n_labels * E, f) == n_labels * E && fgetc(f) == EOF;
    fclose(f);
    return ok;
}

int clscache_store(const clscache *c, const float *w, size_t n_labels, size_t E) {
    if (!c->path[0] || !c->key) return -1;
    char dir[4096], tmp[4200];
    snprintf(dir, sizeof dir, "%s", c->path);
    char *slash = strrchr(dir, '/');
    if (!slash) return -1;
    *slash = '\0';
    if (mkdir_p(dir)) return -1;
    static unsigned counter;
    snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", c->path, (long)getpid(), counter++);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return -1;
    }
    uint64_t hdr[3] = {c->key_len, n_labels, E};
    int bad = fwrite(MAGIC, 1, 8, f) != 8 || fwrite(hdr, sizeof hdr[0], 3, f) != 3 ||
              fwrite(c->key, 1, c->key_len, f) != c->key_len ||
              fwrite(w, sizeof(float), n_labels * E, f) != n_labels * E;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, c->path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

void clscache_free(clscache *c) {
    free(c->key);
    c->key = NULL;
}
