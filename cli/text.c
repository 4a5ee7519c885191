/*
 * text.c — strings on their way out of the program: UTF-8 checks, the JSON writer every --json
 * output goes through, and the escaping of file-provided strings for the terminal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

size_t cli_utf8_char(const unsigned char *s, size_t n, unsigned *cp) {
    if (!n) return 0;
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        len = 2, min = 0x80, c &= 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, min = 0x800, c &= 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

int cli_utf8_valid(const char *s, size_t n, size_t *bad) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = cli_utf8_char(p + i, n - i, &cp);
        if (!k) {
            if (bad) *bad = i;
            return 0;
        }
        i += k;
    }
    return 1;
}

static int is_control(unsigned cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

/* ---- a growing buffer ---- */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n <= n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* ---- JSON ---- */
static void json_string(sbuf *b, const char *s) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = cli_utf8_char(p + i, n - i, &cp);
        char e[8];
        if (!k) {
            puts_(b, "\\ufffd");
            i++;
            continue;
        }
        const char *sh = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : cp == '\b' ? "\\b"
                       : cp == '\f' ? "\\f" : cp == '\n' ? "\\n" : cp == '\r' ? "\\r"
                       : cp == '\t' ? "\\t" : NULL;
        if (sh) {
            puts_(b, sh);
        } else if (is_control(cp)) {
            snprintf(e, sizeof e, "\\u%04x", cp);
            puts_(b, e);
        } else {
            put(b, (const char *)p + i, k);
        }
        i += k;
    }
    put(b, "\"", 1);
}

static void json_value(sbuf *b, const cJSON *o) {
    if (cJSON_IsObject(o) || cJSON_IsArray(o)) {
        int obj = cJSON_IsObject(o);
        put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = o->child; c; c = c->next) {
            if (c != o->child) put(b, ",", 1);
            if (obj) {
                json_string(b, c->string);
                put(b, ":", 1);
            }
            json_value(b, c);
        }
        put(b, obj ? "}" : "]", 1);
    } else if (cJSON_IsString(o)) {
        json_string(b, o->valuestring);
    } else if (cJSON_IsNumber(o)) {
        /* cJSON's own formatting of the number, so numbers keep their bytes */
        char num[64];
        if (!cJSON_PrintPreallocated((cJSON *)o, num, sizeof num, 0)) snprintf(num, sizeof num, "null");
        puts_(b, num);
    } else if (cJSON_IsTrue(o)) {
        puts_(b, "true");
    } else if (cJSON_IsFalse(o)) {
        puts_(b, "false");
    } else {
        puts_(b, "null");
    }
}

char *cli_json_print(const cJSON *o) {
    sbuf b = {0};
    if (!o) return NULL;
    json_value(&b, o);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- the terminal ---- */
const char *cli_esc_text(const char *s, int keep_newline) {
    static sbuf ring[8];
    static unsigned next;
    if (!s) return "(null)";
    sbuf *b = &ring[next++ % 8];
    b->n = 0;
    b->oom = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    put(b, "", 0);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = cli_utf8_char(p + i, n - i, &cp);
        char e[8];
        if (!k || (is_control(cp) && cp < 0x80 && !(keep_newline && cp == '\n'))) {
            snprintf(e, sizeof e, "\\x%02x", p[i]);
            puts_(b, e);
            i++;
            continue;
        }
        if (is_control(cp) && cp >= 0x80) {
            snprintf(e, sizeof e, "\\u%04x", cp);
            puts_(b, e);
        } else {
            put(b, (const char *)p + i, k);
        }
        i += k;
    }
    return b->oom ? "(out of memory)" : b->p;
}

const char *cli_esc(const char *s) { return cli_esc_text(s, 0); }
const char *cli_esc_msg(const char *s) { return cli_esc_text(s, 1); }
