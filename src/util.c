/*
 * util.c — errors, arena, growable arrays, file mapping, dtypes.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */
#include <cJSON.h>
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static size_t esc_into(char *out, size_t cap, const char *str, size_t n, bool backslash);

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
    case OCLIP_E_MISMATCH: return "does not fit its architecture";
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

/* vsnprintf, then the escaping of oc_esc (backslashes kept) into out[cap]: a file-provided
 * string formatted into a message never brings a control byte with it. */
static void fmt_escaped(char *out, size_t cap, const char *fmt, va_list ap) {
    char raw[OCLIP_ERROR_MSG_SIZE];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    if (n < 0) raw[0] = '\0';
    esc_into(out, cap, raw, strlen(raw), false);
}

oclip_status oc_err_set(oclip_error *err, oclip_status code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    fmt_escaped(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void oc_err_wrap(oclip_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[OCLIP_ERROR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    fmt_escaped(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
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
    if (len + 8 + 8 >= sizeof err->msg) return;
    memcpy(err->msg + len, "\nhint: ", 8);
    len += 7;
    va_list ap;
    va_start(ap, fmt);
    fmt_escaped(err->msg + len, sizeof err->msg - len, fmt, ap);
    va_end(ap);
}

oclip_status oc_options_ok(uint32_t struct_size, size_t size, const char *name,
                           oclip_error *err) {
    if (struct_size == 0 || struct_size >= size) return OCLIP_OK;
    return oc_err_set(err, OCLIP_E_ARG, "%s: struct_size %u is not one this library knows (use "
                      "%s_default)", name, (unsigned)struct_size, name);
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
static const char *file_kind(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO (named pipe)"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static oclip_status not_regular(mode_t m, oclip_error *err) {
    oc_err_set(err, OCLIP_E_IO, "is %s, not a regular file", file_kind(m));
    oc_err_hint(err, "oclip reads checkpoints, configs and images from regular files only (a "
                     "pipe or a device may block or never end); copy the data into a file");
    return OCLIP_E_IO;
}

oclip_status oc_open_regular(const char *path, int *fd_out, uint64_t *size, oclip_error *err) {
    *fd_out = -1;
    /* stat first, so that a device is never opened (opening some has effects) */
    struct stat st;
    if (stat(path, &st) != 0) return oc_err_set(err, OCLIP_E_IO, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode, err);
    /* O_NONBLOCK: a FIFO put in the file's place since the stat must not block the open
     * (without it, open waits for a writer forever); regular files ignore the flag */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return oc_err_set(err, OCLIP_E_IO, "cannot open: %s", strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return not_regular(st.st_mode, err);
    }
    if (st.st_size < 0) {
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "cannot stat: negative size");
    }
    *fd_out = fd;
    *size = (uint64_t)st.st_size;
    return OCLIP_OK;
}

size_t oc_read_small_file(const char *path, char *out, size_t cap) {
    int fd;
    uint64_t size;
    size_t n = 0;
    out[0] = '\0';
    if (!path[0] || oc_open_regular(path, &fd, &size, NULL)) return 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    close(fd);
    out[n] = '\0';
    return n;
}

oclip_status oc_map_file(const char *path, oc_map *m, oclip_error *err) {
    memset(m, 0, sizeof *m);
    int fd;
    uint64_t fsize;
    oclip_status s = oc_open_regular(path, &fd, &fsize, err);
    if (s) return s;
    if (fsize > (uint64_t)SIZE_MAX) {
        close(fd);
        return oc_err_set(err, OCLIP_E_IO, "file too large for this machine");
    }
    size_t size = (size_t)fsize;
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

void *oc_alloc_large(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return malloc(bytes ? bytes : 1);
    void *mem = NULL;
    if (posix_memalign(&mem, huge, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(mem, bytes, MADV_HUGEPAGE); /* a hint, as above */
#endif
    return mem;
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
 * UTF-8
 */
size_t oc_utf8_seq_len(const uint8_t *s, size_t n) {
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000}; /* shortest form */
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || n < len) return 0; /* a continuation or impossible lead byte; cut short */
    uint32_t cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

size_t oc_utf8_check(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = oc_utf8_seq_len(s + i, n - i);
        if (!len) return i;
        i += len;
    }
    return SIZE_MAX;
}

/* Code points a terminal or an editor may act on rather than show: C1 controls (U+0080-U+009F,
 * e.g. U+009B, a CSI), the bidirectional controls behind "Trojan Source" (U+061C, U+200E/F,
 * U+202A-U+202E, U+2066-U+2069), the line and paragraph separators, and U+FEFF. */
static bool cp_unprintable(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* The escaping of oc_esc into out[cap] (cap >= 8); `backslash` doubles '\' (oc_esc does, so that
 * the output reads back unambiguously; whole messages keep theirs). Returns the length. */
static size_t esc_into(char *out, size_t cap, const char *str, size_t n, bool backslash) {
    const uint8_t *s = (const uint8_t *)str;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char tmp[8];
        size_t tl, adv;
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f) {
            tl = 0;
            if (c == '\\' && backslash) tmp[tl++] = '\\';
            tmp[tl++] = (char)c;
            adv = 1;
        } else if (c < 0x80) { /* C0 controls and DEL */
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            tl = 4;
            adv = 1;
        } else if ((adv = oc_utf8_seq_len(s + i, n - i)) != 0) {
            uint32_t cp = c & (0x7fu >> adv);
            for (size_t k = 1; k < adv; k++) cp = (cp << 6) | (s[i + k] & 0x3f);
            if (cp_unprintable(cp)) {
                snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)cp);
                tl = 6;
            } else {
                memcpy(tmp, s + i, adv);
                tl = adv;
            }
        } else { /* a byte that is not UTF-8 */
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            tl = 4;
            adv = 1;
        }
        if (o + tl + 4 > cap) { /* no room for this and "..." */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, tl);
        o += tl;
        i += adv;
    }
    out[o] = '\0';
    return o;
}

const char *oc_esc(char *out, size_t cap, const char *s, size_t n) {
    if (cap < 8) {
        if (cap) out[0] = '\0';
        return out;
    }
    esc_into(out, cap, s ? s : "", s ? n : 0, true);
    return out;
}

/* =============================================================================================
 * JSON
 *
 * cJSON accepts less than Python's json in some places (NaN/Infinity, lone surrogate escapes;
 * duplicate keys are kept and lookups find the first) and more in
 * others (leading zeros, "1.", raw control characters in strings, invalid \u escapes read as
 * U+0000, a byte-order mark). So every text is first scanned here against the JSON grammar
 * (RFC 8259) plus the dialect's extensions; only text that passes reaches cJSON, rewritten where
 * cJSON would read it differently from Python, and a cJSON failure after a clean scan can only
 * be memory.
 */
#ifndef CJSON_NESTING_LIMIT
#define CJSON_NESTING_LIMIT 1000
#endif

/* Longer number tokens are computed here (strtod, as Python's float() reads them) and patched
 * into the tree: cJSON's number parsing has changed between versions (some copy at most 63
 * characters), and Python reads any length. */
#define JSON_NUM_MAX 32

typedef struct {
    size_t index; /* number token, in document order */
    double value;
} json_num_patch;

typedef struct {
    const uint8_t *p;
    size_t n;
    oc_json_dialect dialect;
    bool refuse_nul; /* \u0000 (cJSON returns C strings: "a\u0000b" would read as "a") */
    /* outcome */
    const char *why; /* NULL while clean */
    size_t at;       /* where */
    bool policy;     /* why is a refusal of valid JSON, not a syntax error */
    bool nomem;
    /* rewrites for cJSON: lone surrogate escapes (offsets of their '\') and number tokens
     * (offset, length: replaced by "0" and spaces; the value is patched into the tree) */
    size_t *sur;
    size_t n_sur, cap_sur;
    size_t *num_at, *num_len;
    json_num_patch *num;
    size_t n_num, cap_num;
    size_t numbers; /* number tokens so far */
} jscan;

static bool jfail(jscan *s, size_t at, const char *why) {
    if (!s->why) {
        s->why = why;
        s->at = at;
    }
    return false;
}

static bool jpolicy(jscan *s, size_t at, const char *why) {
    if (!s->why) s->policy = true;
    return jfail(s, at, why);
}

static size_t jws(const jscan *s, size_t i) {
    while (i < s->n && (s->p[i] == ' ' || s->p[i] == '\t' || s->p[i] == '\n' || s->p[i] == '\r'))
        i++;
    return i;
}

static int jhex4(const uint8_t *h) {
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int c = h[k], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A string at s->p[i] == '"'; returns the index after its closing quote, or 0 on failure. */
static size_t jstring(jscan *s, size_t i) {
    const uint8_t *p = s->p;
    for (i++; i < s->n;) {
        uint8_t c = p[i];
        if (c == '"') return i + 1;
        if (c < 0x20) return jfail(s, i, "a raw control character inside a string"), 0;
        if (c >= 0x80) {
            size_t len = oc_utf8_seq_len(p + i, s->n - i);
            if (!len) return jfail(s, i, "invalid UTF-8"), 0;
            i += len;
            continue;
        }
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= s->n) break;
        uint8_t e = p[i + 1];
        if (e != 'u') {
            if (!strchr("\"\\/bfnrt", e) || e == '\0') return jfail(s, i, "an invalid escape"), 0;
            i += 2;
            continue;
        }
        int cp = s->n - i >= 6 ? jhex4(p + i + 2) : -1;
        if (cp < 0) return jfail(s, i, "an invalid \\u escape (4 hex digits expected)"), 0;
        if (cp == 0 && s->refuse_nul)
            return jpolicy(s, i, "a \\u0000 escape (NUL) inside a string"), 0;
        if (cp >= 0xd800 && cp <= 0xdbff && s->n - i >= 12 && p[i + 6] == '\\' &&
            p[i + 7] == 'u') {
            int lo = jhex4(p + i + 8);
            if (lo >= 0xdc00 && lo <= 0xdfff) { /* a surrogate pair: one character */
                i += 12;
                continue;
            }
        }
        if (cp >= 0xd800 && cp <= 0xdfff) {
            if (s->dialect == OC_JSON_SERDE)
                return jpolicy(s, i, "a lone UTF-16 surrogate escape (no character; "
                               "safetensors refuses it)"), 0;
            /* Python keeps the surrogate in its str; UTF-8 cannot hold it: U+FFFD instead */
            if (!oc_grow((void **)&s->sur, &s->cap_sur, s->n_sur + 1, sizeof *s->sur)) {
                s->nomem = true;
                return jfail(s, i, "out of memory"), 0;
            }
            s->sur[s->n_sur++] = i;
        }
        i += 6;
    }
    return jfail(s, s->n, "the text ends inside a string"), 0;
}

static bool jnum_patch(jscan *s, size_t at, size_t len, double v) {
    size_t need = s->n_num + 1;
    size_t c1 = s->cap_num, c2 = s->cap_num, c3 = s->cap_num;
    if (!oc_grow((void **)&s->num_at, &c1, need, sizeof *s->num_at) ||
        !oc_grow((void **)&s->num_len, &c2, need, sizeof *s->num_len) ||
        !oc_grow((void **)&s->num, &c3, need, sizeof *s->num)) {
        s->nomem = true;
        return jfail(s, at, "out of memory");
    }
    s->cap_num = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    s->num_at[s->n_num] = at;
    s->num_len[s->n_num] = len;
    s->num[s->n_num].index = s->numbers;
    s->num[s->n_num].value = v;
    s->n_num++;
    return true;
}

/* The value of a long number token, as Python's float() (strtod, in the C locale's spelling). */
static bool jnum_value(jscan *s, size_t at, size_t len, double *v) {
    char *t = malloc(len + 1);
    if (!t) {
        s->nomem = true;
        return jfail(s, at, "out of memory");
    }
    memcpy(t, s->p + at, len);
    t[len] = '\0';
    char point = localeconv()->decimal_point[0];
    for (size_t k = 0; k < len; k++)
        if (t[k] == '.') t[k] = point;
    *v = strtod(t, NULL);
    free(t);
    return true;
}

/* A scalar at i (not a container); returns the index after it, or 0 on failure. */
static size_t jscalar(jscan *s, size_t i) {
    const uint8_t *p = s->p;
    size_t n = s->n;
    if (p[i] == '"') return jstring(s, i);
    static const char *const words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(words[w]);
        if (n - i >= l && !memcmp(p + i, words[w], l)) return i + l;
    }
    /* Python's json also reads NaN, Infinity and -Infinity (json.loads' parse_constant) */
    static const struct {
        const char *w;
        double v;
    } consts[] = {{"NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    for (int w = 0; w < 3; w++) {
        size_t l = strlen(consts[w].w);
        if (n - i < l || memcmp(p + i, consts[w].w, l) != 0) continue;
        if (s->dialect == OC_JSON_SERDE)
            return jpolicy(s, i, "NaN or Infinity, which JSON does not have (safetensors "
                           "refuses them)"), 0;
        if (!jnum_patch(s, i, l, consts[w].v)) return 0;
        s->numbers++;
        return i + l;
    }
    size_t j = i;
    if (j < n && p[j] == '-') j++;
    if (j >= n || p[j] < '0' || p[j] > '9') return jfail(s, i, "expected a value"), 0;
    if (p[j] == '0') j++;
    else
        while (j < n && p[j] >= '0' && p[j] <= '9') j++;
    if (j < n && p[j] == '.') {
        size_t k = ++j;
        while (j < n && p[j] >= '0' && p[j] <= '9') j++;
        if (j == k) return jfail(s, j, "a number with no digit after its '.'"), 0;
    }
    if (j < n && (p[j] == 'e' || p[j] == 'E')) {
        j++;
        if (j < n && (p[j] == '+' || p[j] == '-')) j++;
        size_t k = j;
        while (j < n && p[j] >= '0' && p[j] <= '9') j++;
        if (j == k) return jfail(s, j, "a number with no digit in its exponent"), 0;
    }
    if (j - i > JSON_NUM_MAX) {
        double v;
        if (!jnum_value(s, i, j - i, &v) || !jnum_patch(s, i, j - i, v)) return 0;
    }
    s->numbers++;
    return j;
}

/* One value at the start of [p, p + n) (after whitespace); returns the index after it (0 and
 * s->why on failure). Containers are tracked on an explicit stack, no recursion. */
static size_t jvalue(jscan *s) {
    unsigned char open[CJSON_NESTING_LIMIT]; /* '{' or '[' around i */
    size_t depth = 0, i = jws(s, 0);
    const uint8_t *p = s->p;
    size_t n = s->n;
    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
        return jpolicy(s, 0, "a UTF-8 byte-order mark, which JSON does not allow"), 0;
    for (;;) {
        /* a value at i */
        if (i >= n) return jfail(s, n, depth ? "the text ends inside the JSON value"
                                             : "no JSON value (empty text)"), 0;
        if (p[i] == '{' || p[i] == '[') {
            if (depth >= CJSON_NESTING_LIMIT)
                return jpolicy(s, i, "nested deeper than 1000 levels (the JSON parser's limit)"), 0;
            open[depth++] = p[i];
            i = jws(s, i + 1);
            if (i < n && p[i] == (open[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                i++;
                goto after_value;
            }
            if (open[depth - 1] == '{') goto key;
            continue;
        }
        if (!(i = jscalar(s, i))) return 0;
    after_value:
        if (depth == 0) return i;
        i = jws(s, i);
        if (i >= n) return jfail(s, n, "the text ends inside the JSON value"), 0;
        if (p[i] == (open[depth - 1] == '{' ? '}' : ']')) {
            depth--;
            i++;
            goto after_value;
        }
        if (p[i] != ',')
            return jfail(s, i, open[depth - 1] == '{' ? "expected ',' or '}'"
                                                      : "expected ',' or ']'"), 0;
        i = jws(s, i + 1);
        if (open[depth - 1] == '[') continue;
    key:
        if (i >= n || p[i] != '"') return jfail(s, i, "expected a string (a key)"), 0;
        if (!(i = jstring(s, i))) return 0;
        i = jws(s, i);
        if (i >= n || p[i] != ':') return jfail(s, i, "expected ':'"), 0;
        i = jws(s, i + 1);
    }
}

static void jscan_free(jscan *s) {
    free(s->sur);
    free(s->num_at);
    free(s->num_len);
    free(s->num);
}

/* Sets a parsed number as cJSON_SetNumberHelper does (valueint saturated; 0 for NaN). */
static void jset_number(cJSON *v, double d) {
    v->valuedouble = d;
    v->valueint = d != d ? 0 : d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
}

/* Walks the tree in document order, giving the k-th number the k-th patched value. */
static void jpatch_numbers(cJSON *v, const json_num_patch *pt, size_t np, size_t *k,
                           size_t *next) {
    for (; v && *next < np; v = v->next) {
        if (cJSON_IsNumber(v)) {
            if (*k == pt[*next].index) jset_number(v, pt[(*next)++].value);
            ++*k;
        }
        if (v->child) jpatch_numbers(v->child, pt, np, k, next);
    }
}

typedef struct {
    cJSON *item;
    size_t pos;
} jmember;

static int cmp_member(const void *a, const void *b) {
    const jmember *x = a, *y = b;
    int c = strcmp(x->item->string, y->item->string);
    return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* Python's dict: of members with the same key the last value wins, at the first one's place.
 * false when out of memory. */
static bool jdedupe(cJSON *v) {
    for (; v; v = v->next) {
        if (cJSON_IsObject(v) && v->child && v->child->next) {
            size_t k = 0;
            for (cJSON *c = v->child; c; c = c->next) k++;
            jmember *m = malloc(k * sizeof *m);
            if (!m) return false;
            k = 0;
            for (cJSON *c = v->child; c; c = c->next, k++) m[k] = (jmember){c, k};
            qsort(m, k, sizeof *m, cmp_member);
            for (size_t a = 0; a < k;) {
                size_t b = a + 1;
                while (b < k && strcmp(m[a].item->string, m[b].item->string) == 0) b++;
                if (b - a > 1) {
                    cJSON *last = cJSON_DetachItemViaPointer(v, m[b - 1].item);
                    for (size_t c = a + 1; c < b - 1; c++)
                        cJSON_Delete(cJSON_DetachItemViaPointer(v, m[c].item));
                    cJSON_ReplaceItemViaPointer(v, m[a].item, last); /* frees the first */
                }
                a = b;
            }
            free(m);
        }
        if (v->child && !jdedupe(v->child)) return false;
    }
    return true;
}

/* cJSON records parse failures in a process-global variable: one parse at a time. */
static cJSON *cjson_parse_locked(const char *p, size_t n, const char **end) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, end, 0);
    pthread_mutex_unlock(&lock);
    return root;
}

/* The core: scan, rewrite, parse, patch. NULL with s->why set on refusal, s->nomem on memory;
 * *used is the length of the value. */
static cJSON *json_parse_core(jscan *s, size_t *used) {
    size_t end = jvalue(s);
    if (!end) return NULL;
    *used = end;
    const char *text = (const char *)s->p;
    char *copy = NULL;
    if (s->n_sur || s->n_num) {
        copy = malloc(end);
        if (!copy) {
            s->nomem = true;
            return NULL;
        }
        memcpy(copy, s->p, end);
        for (size_t k = 0; k < s->n_sur; k++) memcpy(copy + s->sur[k], "\\ufffd", 6);
        for (size_t k = 0; k < s->n_num; k++) {
            copy[s->num_at[k]] = '0';
            memset(copy + s->num_at[k] + 1, ' ', s->num_len[k] - 1);
        }
        text = copy;
    }
    cJSON *root = cjson_parse_locked(text, end, NULL);
    free(copy);
    if (!root) { /* the scan passed: cJSON can only have run out of memory */
        s->nomem = true;
        return NULL;
    }
    if (s->n_num) {
        size_t k = 0, next = 0;
        jpatch_numbers(root, s->num, s->n_num, &k, &next);
    }
    if (s->dialect == OC_JSON_PYTHON && !jdedupe(root)) {
        cJSON_Delete(root);
        s->nomem = true;
        return NULL;
    }
    return root;
}

struct cJSON *oc_json_parse(const char *p, size_t n, const char **end) {
    jscan s = {.p = (const uint8_t *)p, .n = n, .dialect = OC_JSON_PYTHON, .refuse_nul = false};
    size_t used = 0;
    cJSON *root = p ? json_parse_core(&s, &used) : NULL;
    if (end) *end = root ? p + used : s.nomem || !p ? NULL : p + s.at;
    jscan_free(&s);
    return root;
}

/* "line L, column C" (1-based, columns in bytes) of byte `at`. */
static void json_line_col(const char *p, size_t at, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (p[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* The message for a failed scan or parse of [p, p + n) named `what`. */
static oclip_status json_report(const jscan *s, const char *p, const char *what,
                                oclip_error *err) {
    if (s->nomem) return oc_err_set(err, OCLIP_E_NOMEM, "%s: out of memory parsing its JSON", what);
    size_t line, col;
    json_line_col(p, s->at, &line, &col);
    if (s->policy)
        return oc_err_set(err, OCLIP_E_FORMAT, "%s: %s at byte %zu (line %zu, column %zu)", what,
                          s->why, s->at, line, col);
    return oc_err_set(err, OCLIP_E_FORMAT, "%s is not valid JSON (error near line %zu, column "
                      "%zu, byte %zu: %s)", what, line, col, s->at, s->why);
}

oclip_status oc_json_parse_text(const char *p, size_t n, oc_json_dialect dialect,
                                const char *what, struct cJSON **out, oclip_error *err) {
    *out = NULL;
    jscan s = {.p = (const uint8_t *)p, .n = n, .dialect = dialect, .refuse_nul = true};
    size_t used = 0;
    cJSON *root = json_parse_core(&s, &used);
    oclip_status st = root ? OCLIP_OK : json_report(&s, p, what, err);
    jscan_free(&s);
    if (st) return st;
    for (size_t i = used; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            const char *kind = cJSON_IsObject(root) ? "object" : cJSON_IsArray(root) ? "array"
                                                                                    : "value";
            cJSON_Delete(root);
            return oc_err_set(err, OCLIP_E_FORMAT, "%s: unexpected byte 0x%02x after the JSON "
                              "%s (byte %zu of %zu)", what, c, kind, i, n);
        }
    }
    *out = root;
    return OCLIP_OK;
}

oclip_status oc_json_error(const char *p, size_t n, const char *what, oclip_error *err) {
    jscan s = {.p = (const uint8_t *)p, .n = n, .dialect = OC_JSON_PYTHON, .refuse_nul = false};
    oclip_status st;
    if (!p || jvalue(&s)) { /* it scans: the failed parse ran out of memory */
        st = oc_err_set(err, OCLIP_E_NOMEM, "%s: out of memory parsing its JSON", what);
    } else {
        st = json_report(&s, p, what, err);
    }
    jscan_free(&s);
    return st;
}

bool oc_json_failed_for_memory(const char *p, size_t n) {
    jscan s = {.p = (const uint8_t *)p, .n = n, .dialect = OC_JSON_SERDE, .refuse_nul = false};
    bool ok = jvalue(&s) != 0; /* SERDE: NaN, Infinity and lone surrogates, which cJSON cannot
                                * read, are refused */
    jscan_free(&s);
    return ok;
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
