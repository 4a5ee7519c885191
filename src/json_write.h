/*
 * json_write.h — compact JSON text from a cJSON tree, with one escaper for every string:
 * '"', '\\' and \b \f \n \r \t as cJSON writes them, every other control character
 * (U+0000-U+001F, U+007F, U+0080-U+009F) as \u00XX, and each byte that is not UTF-8 as \ufffd,
 * so the output is valid UTF-8 JSON whatever a file held (cJSON_PrintUnformatted copies such
 * bytes through). Numbers keep cJSON's own formatting, so apart from strings the bytes are
 * cJSON_PrintUnformatted's.
 *
 * Header-only (static inline, no dependency on the rest of liboclip): the library's reports
 * (src/model/report.c) and the program's --json outputs (cli/text.c, which links only liboclip's
 * public API) share this one source.
 */
#ifndef OCLIP_JSON_WRITE_H
#define OCLIP_JSON_WRITE_H
#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a growing NUL-terminated buffer; oom sticks once an allocation failed */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} ocj_buf;

static inline void ocj_put(ocj_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static inline void ocj_puts(ocj_buf *b, const char *s) { ocj_put(b, s, strlen(s)); }

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..n), its code point in *cp; 0 when the
 * bytes there are not one (overlong forms, surrogates, above U+10FFFF, truncated). */
static inline size_t ocj_utf8_char(const unsigned char *s, size_t n, unsigned *cp) {
    static const unsigned min_cp[5] = {0, 0, 0x80, 0x800, 0x10000}; /* shortest forms */
    if (!n) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!len || n < len) return 0;
    c &= 0x7Fu >> len;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min_cp[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

/* C0, DEL and C1 control characters */
static inline bool ocj_is_control(unsigned cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

static inline void ocj_string(ocj_buf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    ocj_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = ocj_utf8_char(p + i, n - i, &cp);
        if (!k) {
            ocj_puts(b, "\\ufffd");
            i++;
            continue;
        }
        const char *sh = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\b' ? "\\b"
                       : cp == '\f' ? "\\f" : cp == '\n' ? "\\n" : cp == '\r' ? "\\r"
                       : cp == '\t' ? "\\t" : NULL;
        if (sh) {
            ocj_puts(b, sh);
        } else if (ocj_is_control(cp)) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", cp);
            ocj_puts(b, e);
        } else {
            ocj_put(b, (const char *)p + i, k);
        }
        i += k;
    }
    ocj_put(b, "\"", 1);
}

static inline void ocj_value(ocj_buf *b, const cJSON *o) {
    if (cJSON_IsObject(o) || cJSON_IsArray(o)) {
        bool obj = cJSON_IsObject(o);
        ocj_put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = o->child; c; c = c->next) {
            if (c != o->child) ocj_put(b, ",", 1);
            if (obj) {
                ocj_string(b, c->string);
                ocj_put(b, ":", 1);
            }
            ocj_value(b, c);
        }
        ocj_put(b, obj ? "}" : "]", 1);
    } else if (cJSON_IsString(o)) {
        ocj_string(b, o->valuestring);
    } else if (cJSON_IsNumber(o)) {
        char num[64];
        if (!cJSON_PrintPreallocated((cJSON *)o, num, sizeof num, 0)) snprintf(num, sizeof num, "null");
        ocj_puts(b, num);
    } else if (cJSON_IsTrue(o)) {
        ocj_puts(b, "true");
    } else if (cJSON_IsFalse(o)) {
        ocj_puts(b, "false");
    } else {
        ocj_puts(b, "null");
    }
}

/* o as JSON text, malloc'd (free); NULL for a NULL tree or when out of memory */
static inline char *ocj_print(const cJSON *o) {
    ocj_buf b = {0};
    if (!o) return NULL;
    ocj_value(&b, o);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
#endif
