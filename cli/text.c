/*
 * text.c — strings on their way out of the program: UTF-8 checks, the JSON writer every --json
 * output goes through, and the escaping of file-provided strings for the terminal.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_write.h"
#include "text.h"

size_t cli_utf8_char(const unsigned char *s, size_t n, unsigned *cp) {
    return ocj_utf8_char(s, n, cp);
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

char *cli_json_print(const cJSON *o) { return ocj_print(o); }

/* ---- the terminal ---- */
const char *cli_esc_text(const char *s, int keep_newline) {
    static ocj_buf ring[8];
    static unsigned next;
    if (!s) return "(null)";
    ocj_buf *b = &ring[next++ % 8];
    b->n = 0;
    b->oom = false;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    ocj_put(b, "", 0);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t k = cli_utf8_char(p + i, n - i, &cp);
        char e[8];
        if (!k || (ocj_is_control(cp) && cp < 0x80 && !(keep_newline && cp == '\n'))) {
            snprintf(e, sizeof e, "\\x%02x", p[i]);
            ocj_puts(b, e);
            i++;
            continue;
        }
        if (ocj_is_control(cp) && cp >= 0x80) {
            snprintf(e, sizeof e, "\\u%04x", cp);
            ocj_puts(b, e);
        } else {
            ocj_put(b, (const char *)p + i, k);
        }
        i += k;
    }
    return b->oom ? "(out of memory)" : b->p;
}

const char *cli_esc(const char *s) { return cli_esc_text(s, 0); }
const char *cli_esc_msg(const char *s) { return cli_esc_text(s, 1); }
