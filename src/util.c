/*
 * util.c — errors, arena, growable arrays, file mapping, dtypes.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */
#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* =============================================================================================
 * Errors
 */
const char *oclip_status_str(oclip_status s) {
    switch (s) {
    case OCLIP_OK: return "ok";
    case OCLIP_E_IO: return "i/o error";
    case OCLIP_E_FORMAT: return "format error";
    case OCLIP_E_UNSUPPORTED: return "unsupported";
    case OCLIP_E_UNSAFE: return "refused as unsafe";
    case OCLIP_E_NOMEM: return "out of memory or over a limit";
    case OCLIP_E_ARG: return "invalid argument";
    case OCLIP_E_NOTFOUND: return "not found";
    }
    return "unknown status";
}

bool oc_fmt(char *out, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

void oc_err_clear(oclip_error *err) {
    if (!err) return;
    err->code = OCLIP_OK;
    err->msg[0] = '\0';
}

oclip_status oc_err_set(oclip_error *err, oclip_status code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void oc_err_wrap(oclip_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[OCLIP_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    /* "prefix: msg", truncated to the buffer */
    size_t cap = sizeof err->msg - 1, plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen > cap - 2) plen = cap - 2;
    if (mlen > cap - plen - 2) mlen = cap - plen - 2;
    memmove(err->msg + plen + 2, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    err->msg[plen] = ':';
    err->msg[plen + 1] = ' ';
    err->msg[plen + 2 + mlen] = '\0';
}

void oc_err_hint(oclip_error *err, const char *fmt, ...) {
    if (!err || strstr(err->msg, "\nhint: ")) return;
    size_t len = strlen(err->msg);
    if (len + 8 >= sizeof err->msg) return;
    memcpy(err->msg + len, "\nhint: ", 8);
    len += 7;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + len, sizeof err->msg - len, fmt, ap);
    va_end(ap);
}

/* =============================================================================================
 * Arena: a list of blocks, each at least 64 KiB, carved with 16-byte alignment.
 */
struct oc_arena_block {
    oc_arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void *oc_arena_alloc(oc_arena *a, size_t n) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    if (a->limit && (need > a->limit || a->used > a->limit - need)) return NULL;
    oc_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t bsize = need > 65536 ? need : 65536;
        if (bsize > SIZE_MAX - sizeof *b) return NULL;
        b = malloc(sizeof *b + bsize);
        if (!b) return NULL;
        b->next = a->head;
        b->size = bsize;
        b->used = 0;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

char *oc_arena_strndup(oc_arena *a, const char *s, size_t n) {
    if (n == SIZE_MAX) return NULL;
    char *p = oc_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *oc_arena_printf(oc_arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = oc_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void oc_arena_free(oc_arena *a) {
    oc_arena_block *b = a->head;
    while (b) {
        oc_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}

bool oc_grow(void **ptr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return false;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem) return false;
    void *p = realloc(*ptr, ncap * elem);
    if (!p) return false;
    *ptr = p;
    *cap = ncap;
    return true;
}

/* =============================================================================================
 * File mapping. Empty files map to a zero-length view with no mapping.
 */
oclip_status oc_map_file(const char *path, oc_map *m, oclip_error *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return oc_err_set(err, OCLIP_E_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "not a regular file");
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "file too large for this machine");
    }
    size_t size = (size_t)st.st_size;
    if (size == 0) {
        close(fd);
        static const uint8_t empty[1];
        m->data = empty;
        return OCLIP_OK;
    }
    void *addr = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (addr == MAP_FAILED) return oc_err_set(err, OCLIP_E_IO, "cannot map: %s", strerror(e));
    m->addr = addr;
    m->map_size = size;
    m->data = addr;
    m->size = size;
    return OCLIP_OK;
}

void oc_release_pages(const void *p, size_t n) {
#ifdef MADV_PAGEOUT
    long pg = sysconf(_SC_PAGESIZE);
    if (!p || pg <= 0 || n < (size_t)pg) return;
    uintptr_t mask = (uintptr_t)pg - 1;
    uintptr_t a = ((uintptr_t)p + mask) & ~mask, b = ((uintptr_t)p + n) & ~mask;
    if (b > a) (void)madvise((void *)a, b - a, MADV_PAGEOUT); /* a hint: failure changes nothing */
#else
    (void)p, (void)n;
#endif
}

void oc_hint_huge_pages(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    if (p && n) (void)madvise(p, n, MADV_HUGEPAGE); /* a hint, as above */
#else
    (void)p, (void)n;
#endif
}

void oc_release_tensor_pages(const oclip_checkpoint *ck, const void *p, size_t n) {
#ifdef MADV_DONTNEED
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t s = (uintptr_t)p;
    for (size_t i = 0; ck && p && pg > 0 && i < ck->n_maps; i++) {
        const oc_map *m = &ck->maps[i];
        uintptr_t a0 = (uintptr_t)m->addr;
        if (!m->addr || s < a0 || s - a0 > m->map_size || n > m->map_size - (s - a0)) continue;
        uintptr_t mask = (uintptr_t)pg - 1;
        uintptr_t a = (s + mask) & ~mask, b = (s + n) & ~mask;
        if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED); /* a hint, as above */
        return;
    }
#endif
    oc_release_pages(p, n);
}

void oc_unmap(oc_map *m) {
    if (m->addr) munmap(m->addr, m->map_size);
    memset(m, 0, sizeof *m);
}

/* =============================================================================================
 * dtypes
 */
static const struct {
    const char *name;
    size_t size;
} dtype_info[OCLIP_DTYPE_COUNT] = {
    [OCLIP_DTYPE_F32] = {"F32", 4},         [OCLIP_DTYPE_F16] = {"F16", 2},
    [OCLIP_DTYPE_BF16] = {"BF16", 2},       [OCLIP_DTYPE_F64] = {"F64", 8},
    [OCLIP_DTYPE_I64] = {"I64", 8},         [OCLIP_DTYPE_I32] = {"I32", 4},
    [OCLIP_DTYPE_I16] = {"I16", 2},         [OCLIP_DTYPE_I8] = {"I8", 1},
    [OCLIP_DTYPE_U8] = {"U8", 1},           [OCLIP_DTYPE_U16] = {"U16", 2},
    [OCLIP_DTYPE_U32] = {"U32", 4},         [OCLIP_DTYPE_U64] = {"U64", 8},
    [OCLIP_DTYPE_BOOL] = {"BOOL", 1},       [OCLIP_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [OCLIP_DTYPE_F8_E5M2] = {"F8_E5M2", 1}, [OCLIP_DTYPE_C64] = {"C64", 8},
    [OCLIP_DTYPE_C128] = {"C128", 16},
};

const char *oclip_dtype_name(oclip_dtype dt) {
    return (unsigned)dt < OCLIP_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t oclip_dtype_size(oclip_dtype dt) {
    return (unsigned)dt < OCLIP_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

bool oc_dtype_from_name(const char *s, size_t n, oclip_dtype *out) {
    for (int i = 0; i < OCLIP_DTYPE_COUNT; i++) {
        if (strlen(dtype_info[i].name) == n && memcmp(dtype_info[i].name, s, n) == 0) {
            *out = (oclip_dtype)i;
            return true;
        }
    }
    return false;
}

bool oc_shape_numel(const int64_t *shape, int ndim, uint64_t *numel) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || oc_mul_overflow_u64(n, (uint64_t)shape[i], &n)) return false;
    }
    *numel = n;
    return true;
}

/* =============================================================================================
 * JSON
 */
struct cJSON *oc_json_parse(const char *p, size_t n, const char **end) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, end, 0);
    pthread_mutex_unlock(&lock);
    return root;
}

/* A strict JSON syntax check without allocation: one value at the start of [p, p + n), leading
 * whitespace allowed, containers nested at most CJSON_NESTING_LIMIT deep (cJSON's own limit; a
 * deeper file fails in cJSON without any allocation failing). */
#ifndef CJSON_NESTING_LIMIT
#define CJSON_NESTING_LIMIT 1000
#endif
static size_t json_ws(const char *p, size_t n, size_t i) {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
    return i;
}

static size_t json_digits(const char *p, size_t n, size_t i) {
    while (i < n && p[i] >= '0' && p[i] <= '9') i++;
    return i;
}

/* end of the scalar at i, or 0 when there is none (a scalar is never at offset 0 of its own
 * end, so 0 cannot be a valid end) */
static size_t json_scalar(const char *p, size_t n, size_t i) {
    static const char *const words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(words[w]);
        if (n - i >= l && !memcmp(p + i, words[w], l)) return i + l;
    }
    if (p[i] == '"') {
        for (i++; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == '"') return i + 1;
            if (c < 0x20) return 0;
            if (c != '\\') continue;
            if (++i >= n) return 0;
            if (p[i] == 'u') {
                for (int k = 0; k < 4; k++)
                    if (++i >= n || !isxdigit((unsigned char)p[i])) return 0;
            } else if (!strchr("\"\\/bfnrt", p[i]) || p[i] == '\0') {
                return 0;
            }
        }
        return 0;
    }
    size_t j = i;
    if (j < n && p[j] == '-') j++;
    if (j >= n || p[j] < '0' || p[j] > '9') return 0;
    j = p[j] == '0' ? j + 1 : json_digits(p, n, j);
    if (j < n && p[j] == '.') {
        size_t k = json_digits(p, n, j + 1);
        if (k == j + 1) return 0;
        j = k;
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-')) j++;
        size_t k = json_digits(p, n, j);
        if (k == j) return 0;
        j = k;
    }
    return j;
}

bool oc_json_failed_for_memory(const char *p, size_t n) {
    unsigned char open[CJSON_NESTING_LIMIT]; /* the containers around i: '{' or '[' */
    size_t depth = 0, i = json_ws(p, n, 0);
    for (;;) {
        /* a value at i */
        if (i >= n) return false;
        if (p[i] == '{' || p[i] == '[') {
            if (depth >= CJSON_NESTING_LIMIT) return false;
            open[depth++] = (unsigned char)p[i];
            i = json_ws(p, n, i + 1);
            if (i < n && p[i] == (open[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                i++;
                goto after_value;
            }
            if (open[depth - 1] == '{') goto key;
            continue;
        }
        if (!(i = json_scalar(p, n, i))) return false;
    after_value:
        if (depth == 0) return true;
        i = json_ws(p, n, i);
        if (i >= n) return false;
        if (p[i] == (open[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            i++;
            goto after_value;
        }
        if (p[i] != ',') return false;
        i = json_ws(p, n, i + 1);
        if (open[depth - 1] == '[') continue;
    key:
        if (i >= n || p[i] != '"' || !(i = json_scalar(p, n, i))) return false;
        i = json_ws(p, n, i);
        if (i >= n || p[i] != ':') return false;
        i = json_ws(p, n, i + 1);
    }
}

/* =============================================================================================
 * Generated data (builtin_data.c) comes as string pieces under the compilers' literal limits
 */
char *oc_join_pieces(const char *const *pieces, size_t len) {
    char *s = malloc(len + 1);
    if (!s) return NULL;
    size_t at = 0;
    for (size_t i = 0; pieces[i]; i++) {
        size_t n = strlen(pieces[i]);
        if (n > len - at) { /* cannot happen with generated data */
            free(s);
            return NULL;
        }
        memcpy(s + at, pieces[i], n);
        at += n;
    }
    s[at] = '\0';
    return s;
}
