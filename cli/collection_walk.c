/*
 * collection_walk.c — the inputs of `oclip embed-dir` as one ordered stream of items (see
 * collection.h): folders walked depth first in byte order, list files line by line, WebDataset
 * tars with libarchive. Memory: one folder level per depth, one sample of a tar.
 */
#include "collection.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cJSON.h>

static const char *const image_exts[] = {"jpg", "jpeg", "png", "webp", "bmp", "gif",
                                         "tif", "tiff", "ppm", "pgm", "pbm"};

static int is_image_ext(const char *ext) {
    for (size_t i = 0; i < sizeof image_exts / sizeof *image_exts; i++)
        if (!strcasecmp(ext, image_exts[i])) return 1;
    return 0;
}

int coll_is_image_name(const char *name) {
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
    return dot && (!slash || dot > slash) && is_image_ext(dot + 1);
}

void coll_item_clear(coll_item *it) {
    free(it->path);
    free(it->key);
    free(it->member);
    free(it->data);
    free(it->caption);
    free(it->error);
    memset(it, 0, sizeof *it);
}

static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
static char *sdup(const char *s) { return s ? dupn(s, strlen(s)) : NULL; }

char *coll_read_file(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= max) break;
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) {
                int e = errno;
                free(buf);
                buf = NULL;
                errno = e ? e : EIO;
            }
            break;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A caption as stored: one trailing "\n" or "\r\n" dropped, at most COLL_MAX_CAPTION bytes. */
static char *caption_of(const char *s, size_t n, size_t *out_len) {
    if (n > COLL_MAX_CAPTION) n = COLL_MAX_CAPTION;
    if (n && s[n - 1] == '\n') n--;
    if (n && s[n - 1] == '\r') n--;
    *out_len = n;
    return dupn(s, n);
}

/* ---- folders ---- */
typedef struct {
    char *dir;    /* the folder's path */
    char **names; /* its entries, byte order */
    size_t n, i;
} frame;

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of DIR (without '.'-names), sorted; -1 with errno when it cannot be read. */
static int list_dir(const char *dir, frame *f) {
    memset(f, 0, sizeof *f);
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 0;
    struct dirent *e;
    int bad = 0;
    while (!bad && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (f->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(f->names, cap * sizeof *nn);
            if (!nn) {
                bad = 1;
                break;
            }
            f->names = nn;
        }
        if (!(f->names[f->n] = sdup(e->d_name))) bad = 1;
        else f->n++;
    }
    closedir(d);
    if (!bad && !(f->dir = sdup(dir))) bad = 1;
    if (bad) {
        for (size_t i = 0; i < f->n; i++) free(f->names[i]);
        free(f->names);
        free(f->dir);
        memset(f, 0, sizeof *f);
        errno = ENOMEM;
        return -1;
    }
    qsort(f->names, f->n, sizeof *f->names, cmp_names);
    return 0;
}

static void frame_free(frame *f) {
    for (size_t i = 0; i < f->n; i++) free(f->names[i]);
    free(f->names);
    free(f->dir);
    memset(f, 0, sizeof *f);
}

/* ---- the walk ---- */
enum { IN_DIR, IN_TAR, IN_LIST };

/* one sample of a tar being gathered */
typedef struct {
    char *key, *member, *caption, *json_caption;
    unsigned char *data;
    size_t size, caption_len, json_len;
    int members;
    char *error;
} sample;

static void sample_clear(sample *s) {
    free(s->key);
    free(s->member);
    free(s->caption);
    free(s->json_caption);
    free(s->data);
    free(s->error);
    memset(s, 0, sizeof *s);
}

struct coll_walk {
    char **inputs;
    int *kind;
    size_t n_inputs, cur; /* the input being walked */
    int open;             /* the current input is open */
    int count_only;
    uint64_t seq;
    /* folder */
    frame *stack;
    size_t depth, stack_cap;
    /* list */
    FILE *list;
    char *line;
    size_t line_cap;
    /* tar */
    struct archive *ar;
    sample cur_s, next_s; /* the sample being gathered; the first member of the next one */
    int tar_done;         /* no more headers to read */
    char *tar_error;      /* why the tar stopped early: an item after its last sample */
};

static int classify(const char *path, int *kind, char *why, size_t why_size) {
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_size, "input '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(path);
    if (S_ISDIR(st.st_mode)) *kind = IN_DIR;
    else if ((n > 4 && !strcasecmp(path + n - 4, ".tar")) ||
             (n > 7 && !strcasecmp(path + n - 7, ".tar.gz")) ||
             (n > 4 && !strcasecmp(path + n - 4, ".tgz")))
        *kind = IN_TAR;
    else if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) *kind = IN_LIST;
    else {
        snprintf(why, why_size, "input '%s': not a folder, a .tar or a list file", path);
        return -1;
    }
    return 0;
}

int coll_walk_open(const char *const *inputs, size_t n, int count_only, coll_walk **out,
                   char *why, size_t why_size) {
    coll_walk *w = calloc(1, sizeof *w);
    if (!w || !(w->inputs = calloc(n ? n : 1, sizeof *w->inputs)) ||
        !(w->kind = calloc(n ? n : 1, sizeof *w->kind))) {
        coll_walk_free(w);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    w->n_inputs = n;
    w->count_only = count_only;
    for (size_t i = 0; i < n; i++) {
        if (classify(inputs[i], &w->kind[i], why, why_size) ||
            !(w->inputs[i] = sdup(inputs[i]))) {
            if (!w->inputs[i] && !why[0]) snprintf(why, why_size, "out of memory");
            coll_walk_free(w);
            return -1;
        }
    }
    *out = w;
    return 0;
}

static void close_input(coll_walk *w) {
    while (w->depth) frame_free(&w->stack[--w->depth]);
    if (w->list) fclose(w->list);
    w->list = NULL;
    if (w->ar) archive_read_free(w->ar);
    w->ar = NULL;
    sample_clear(&w->cur_s);
    sample_clear(&w->next_s);
    w->tar_done = 0;
    free(w->tar_error);
    w->tar_error = NULL;
    w->open = 0;
}

void coll_walk_free(coll_walk *w) {
    if (!w) return;
    close_input(w);
    for (size_t i = 0; i < w->n_inputs && w->inputs; i++) free(w->inputs[i]);
    free(w->inputs);
    free(w->kind);
    free(w->stack);
    free(w->line);
    free(w);
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a && dir[a - 1] != '/';
    char *p = malloc(a + slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

static int push_dir(coll_walk *w, const char *dir) {
    if (w->depth == w->stack_cap) {
        size_t cap = w->stack_cap ? w->stack_cap * 2 : 16;
        frame *s = realloc(w->stack, cap * sizeof *s);
        if (!s) return -1;
        w->stack = s;
        w->stack_cap = cap;
    }
    if (list_dir(dir, &w->stack[w->depth])) {
        if (errno == ENOMEM) return -1;
        return 1; /* unreadable folder: an error item */
    }
    w->depth++;
    return 0;
}

/* The caption beside an image file: the same path with ".txt" for the extension. */
static void sidecar_caption(const char *path, coll_item *it) {
    const char *dot = strrchr(path, '.');
    size_t stem = (size_t)(dot - path);
    char *p = malloc(stem + 5);
    if (!p) return;
    memcpy(p, path, stem);
    memcpy(p + stem, ".txt", 5);
    struct stat st;
    size_t len;
    char *text;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
        (text = coll_read_file(p, COLL_MAX_CAPTION, &len))) {
        it->caption = caption_of(text, len, &it->caption_len);
        free(text);
    }
    free(p);
}

static int item_error(coll_walk *w, coll_item *it, const char *path, const char *fmt,
                      const char *arg) {
    char msg[1200];
    snprintf(msg, sizeof msg, fmt, arg);
    it->seq = w->seq++;
    if (!(it->path = sdup(path)) || !(it->error = sdup(msg))) return -1;
    return 1;
}

/* 1 item, 0 folder finished, -1 OOM */
static int next_dir(coll_walk *w, coll_item *it) {
    while (w->depth) {
        frame *f = &w->stack[w->depth - 1];
        if (f->i == f->n) {
            frame_free(f);
            w->depth--;
            continue;
        }
        char *p = join(f->dir, f->names[f->i++]);
        if (!p) return -1;
        struct stat st, lst;
        if (stat(p, &st) != 0) { /* a dangling link: not an item unless it is named as one */
            int img = coll_is_image_name(p);
            int rc = img ? item_error(w, it, p, "cannot read: %s", strerror(errno)) : 0;
            free(p);
            if (rc) return rc;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (lstat(p, &lst) == 0 && S_ISLNK(lst.st_mode)) { /* no loops through links */
                free(p);
                continue;
            }
            int rc = push_dir(w, p);
            if (rc > 0) rc = item_error(w, it, p, "cannot read the folder: %s", strerror(errno));
            free(p);
            if (rc) return rc;
            continue;
        }
        if (!S_ISREG(st.st_mode) || !coll_is_image_name(p)) {
            free(p);
            continue;
        }
        it->seq = w->seq++;
        it->path = p;
        if (!w->count_only) sidecar_caption(p, it);
        return 1;
    }
    return 0;
}

static int next_list(coll_walk *w, coll_item *it) {
    ssize_t n;
    while ((n = getline(&w->line, &w->line_cap, w->list)) >= 0) {
        size_t len = (size_t)n;
        while (len && (w->line[len - 1] == '\n' || w->line[len - 1] == '\r')) len--;
        w->line[len] = '\0';
        if (!len) continue;
        char *tab = memchr(w->line, '\t', len);
        size_t plen = tab ? (size_t)(tab - w->line) : len;
        it->seq = w->seq++;
        if (!(it->path = dupn(w->line, plen))) return -1;
        if (tab && !w->count_only) {
            if (!(it->caption = caption_of(tab + 1, len - plen - 1, &it->caption_len))) return -1;
        } else if (!w->count_only) {
            if (coll_is_image_name(it->path)) sidecar_caption(it->path, it);
        }
        return 1;
    }
    return 0;
}

/* ---- tars ---- */
/* The member's key and extension (WebDataset: split at the first '.' of the file name). */
static void split_key(const char *name, size_t *key_len, const char **ext) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    *key_len = dot ? (size_t)(dot - name) : strlen(name);
    *ext = dot ? dot + 1 : "";
}

/* A caption from a .json member: its top-level "caption" string, else "text" (img2dataset's
 * per-sample JSON); NULL when it has neither or is not JSON. Text up to its first NUL. */
static char *json_caption(const char *s, size_t n, size_t *out_len) {
    cJSON *o = cJSON_ParseWithLength(s, n);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "caption");
    if (!cJSON_IsString(c)) c = cJSON_GetObjectItemCaseSensitive(o, "text");
    char *out = NULL;
    if (cJSON_IsString(c) && c->valuestring) {
        size_t len = strlen(c->valuestring);
        out = caption_of(c->valuestring, len, out_len);
    }
    cJSON_Delete(o);
    return out;
}

/* Reads the current member's data (at most max bytes): 0, 1 too large, -1 read error (why). */
static int read_member(struct archive *ar, size_t max, unsigned char **data, size_t *size,
                       char *why, size_t why_size) {
    size_t cap = 0, n = 0;
    unsigned char *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                return 1;
            }
            cap = cap ? cap * 2 : 65536;
            if (cap > max) cap = max;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                snprintf(why, why_size, "out of memory");
                return -1;
            }
            buf = nb;
        }
        la_ssize_t k = archive_read_data(ar, buf + n, cap - n);
        if (k < 0) {
            snprintf(why, why_size, "%s", archive_error_string(ar) ? archive_error_string(ar)
                                                                     : "read error");
            free(buf);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    *data = buf;
    *size = n;
    return 0;
}

/* Adds the member at the archive's position to sample s (whose key is set). 0, or -1 when
 * the data could not be read (s->error set, the tar ends). */
static int add_member(coll_walk *w, sample *s, const char *name, const char *ext) {
    s->members++;
    if (w->count_only) return 0;
    char why[512];
    int want_image = is_image_ext(ext) && !s->data && !s->member;
    int want_txt = !strcasecmp(ext, "txt") && !s->caption;
    int want_json = !strcasecmp(ext, "json") && !s->json_caption;
    if (!want_image && !want_txt && !want_json) return 0;
    unsigned char *data = NULL;
    size_t size = 0;
    int rc = read_member(w->ar, want_image ? COLL_MAX_IMAGE_BYTES : 16u << 20, &data, &size,
                         why, sizeof why);
    if (rc < 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "member '%s': %s", name, why);
        free(s->error);
        s->error = sdup(msg);
        return -1;
    }
    if (rc > 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "member '%s' is larger than %zu bytes", name,
                 want_image ? COLL_MAX_IMAGE_BYTES : (size_t)16 << 20);
        if (!s->error) s->error = sdup(msg);
        return 0;
    }
    if (want_image) {
        s->data = data;
        s->size = size;
        s->member = sdup(name);
    } else if (want_txt) {
        s->caption = caption_of((const char *)data, size, &s->caption_len);
        free(data);
    } else {
        s->json_caption = json_caption((const char *)data, size, &s->json_len);
        free(data);
    }
    return 0;
}

/* Moves a finished sample into an item. */
static int emit_sample(coll_walk *w, sample *s, coll_item *it) {
    it->seq = w->seq++;
    it->from_tar = 1;
    it->path = sdup(w->inputs[w->cur]);
    it->key = s->key;
    s->key = NULL;
    if (!s->error && !s->member && !w->count_only) {
        char msg[600];
        snprintf(msg, sizeof msg, "sample '%s' has no image (%d member%s; image extensions: jpg "
                 "jpeg png webp bmp gif tif tiff ppm pgm pbm)", it->key ? it->key : "",
                 s->members, s->members == 1 ? "" : "s");
        s->error = sdup(msg);
    }
    it->error = s->error;
    s->error = NULL;
    it->member = s->member;
    s->member = NULL;
    it->data = s->data;
    it->size = s->size;
    s->data = NULL;
    if (s->caption) {
        it->caption = s->caption;
        it->caption_len = s->caption_len;
        s->caption = NULL;
    } else if (s->json_caption) {
        it->caption = s->json_caption;
        it->caption_len = s->json_len;
        s->json_caption = NULL;
    }
    sample_clear(s);
    return it->path ? 1 : -1;
}

static int next_tar(coll_walk *w, coll_item *it) {
    for (;;) {
        if (w->tar_done) {
            if (w->cur_s.key) return emit_sample(w, &w->cur_s, it);
            if (w->tar_error) {
                it->seq = w->seq++;
                it->from_tar = 1;
                it->error = w->tar_error;
                w->tar_error = NULL;
                return (it->path = sdup(w->inputs[w->cur])) ? 1 : -1;
            }
            return 0;
        }
        struct archive_entry *e;
        int r = archive_read_next_header(w->ar, &e);
        if (r == ARCHIVE_EOF) {
            w->tar_done = 1;
            continue;
        }
        if (r < ARCHIVE_WARN) {
            /* the tar stops here: its pending sample, then one item for the tar */
            w->tar_done = 1;
            w->tar_error = sdup(archive_error_string(w->ar) ? archive_error_string(w->ar)
                                                           : "unreadable tar");
            if (!w->tar_error) return -1;
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = archive_entry_pathname(e);
        if (!name) continue;
        const char *base = strrchr(name, '/');
        if ((base ? base[1] : name[0]) == '.') continue;
        size_t kl;
        const char *ext;
        split_key(name, &kl, &ext);
        if (w->cur_s.key && (strlen(w->cur_s.key) != kl || memcmp(w->cur_s.key, name, kl))) {
            /* a new sample: gather its first member, hand out the finished one */
            sample *s = &w->next_s;
            if (!(s->key = dupn(name, kl))) return -1;
            if (add_member(w, s, name, ext)) w->tar_done = 1;
            int rc = emit_sample(w, &w->cur_s, it);
            w->cur_s = w->next_s;
            memset(&w->next_s, 0, sizeof w->next_s);
            return rc;
        }
        if (!w->cur_s.key && !(w->cur_s.key = dupn(name, kl))) return -1;
        if (add_member(w, &w->cur_s, name, ext)) w->tar_done = 1;
    }
}

static int open_tar(coll_walk *w, coll_item *it) {
    w->ar = archive_read_new();
    if (!w->ar) return -1;
    archive_read_support_format_tar(w->ar);
    archive_read_support_filter_gzip(w->ar);
    archive_read_support_filter_none(w->ar);
    if (archive_read_open_filename(w->ar, w->inputs[w->cur], 1 << 16) != ARCHIVE_OK) {
        int rc = item_error(w, it, w->inputs[w->cur], "cannot open the tar: %s",
                            archive_error_string(w->ar) ? archive_error_string(w->ar) : "?");
        archive_read_free(w->ar);
        w->ar = NULL;
        it->from_tar = 1;
        return rc;
    }
    return 0;
}

int coll_walk_next(coll_walk *w, coll_item *it, char *why, size_t why_size) {
    memset(it, 0, sizeof *it);
    int rc = 0;
    while (w->cur < w->n_inputs) {
        if (!w->open) {
            w->open = 1;
            const char *in = w->inputs[w->cur];
            if (w->kind[w->cur] == IN_DIR) {
                rc = push_dir(w, in);
                if (rc > 0) rc = item_error(w, it, in, "cannot read the folder: %s", strerror(errno));
                if (rc) {
                    if (rc > 0) close_input(w), w->cur++;
                    goto out;
                }
            } else if (w->kind[w->cur] == IN_LIST) {
                if (!(w->list = fopen(in, "rb"))) {
                    rc = item_error(w, it, in, "cannot read the list: %s", strerror(errno));
                    if (rc > 0) close_input(w), w->cur++;
                    goto out;
                }
            } else {
                rc = open_tar(w, it);
                if (rc) {
                    if (rc > 0) close_input(w), w->cur++;
                    goto out;
                }
            }
        }
        rc = w->kind[w->cur] == IN_DIR ? next_dir(w, it)
             : w->kind[w->cur] == IN_LIST ? next_list(w, it) : next_tar(w, it);
        if (rc) goto out;
        close_input(w);
        w->cur++;
    }
    return 0;
out:
    if (rc < 0) {
        coll_item_clear(it);
        snprintf(why, why_size, "out of memory");
    }
    return rc;
}
