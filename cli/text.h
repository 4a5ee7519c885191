/* text.h — strings from files and arguments on their way out of the program (text.c): valid
 * UTF-8 checks, the one JSON writer of every --json output, and terminal-safe escaping. */
#ifndef OCLIP_CLI_TEXT_H
#define OCLIP_CLI_TEXT_H
#include <stddef.h>

#include <cJSON.h>

/* Length (1-4) of the well-formed UTF-8 sequence at s[0..n), its code point in *cp; 0 when the
 * bytes there are not one (overlong forms, surrogates, above U+10FFFF, truncated). */
size_t cli_utf8_char(const unsigned char *s, size_t n, unsigned *cp);
/* 1 when s[0..n) is UTF-8 throughout; else 0 and *bad the offset of the first bad byte. */
int cli_utf8_valid(const char *s, size_t n, size_t *bad);

/* o as compact JSON (cJSON_PrintUnformatted's bytes for the same tree, except in strings), one
 * escaper for every string: '"', '\\' and \b \f \n \r \t as cJSON writes them, every other
 * control character (U+0000-U+001F, U+007F, U+0080-U+009F) as \u00XX, and each byte that is
 * not UTF-8 as \ufffd, so the output is valid UTF-8 JSON whatever a file held. malloc'd (free);
 * NULL when out of memory. */
char *cli_json_print(const cJSON *o);

/* s for a terminal: control characters (C0 but '\n' when keep_newline, DEL, C1) as \xNN or
 * \u00XX and bytes that are not UTF-8 as \xNN, so no escape sequence from a file reaches it.
 * The result lives in one of 8 rotating buffers (so up to 8 can appear in one printf); NULL
 * gives "(null)". */
const char *cli_esc_text(const char *s, int keep_newline);
/* cli_esc_text(s, 0): a name from a file (tensor, label, path, key) */
const char *cli_esc(const char *s);
/* cli_esc_text(s, 1): a message that may hold a "\nhint: ..." line */
const char *cli_esc_msg(const char *s);
#endif
