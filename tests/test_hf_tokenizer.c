/*
 * test_hf_tokenizer.c — the tokenizer.json reader against `tokenizers` 0.22 and OpenCLIP's
 * HFTokenizer (tests/fixtures/hftok/, written by tools/fixtures_hftok.py):
 *
 *   1. every string of cases.jsonl through each of the five converted tokenizers (T5-style
 *      Unigram with the Precompiled normalizer, Gemma-style BPE with byte fallback, Llama-style
 *      Metaspace "first", BERT WordPiece, RoBERTa byte-level BPE), and every third one through
 *      five built with the tokenizers API for the remaining components (mix_*):
 *      Tokenizer.encode(text).ids, id for id; the held-out strings (never looked at while
 *      writing the reader) are counted apart;
 *   2. openclip.jsonl: HFTokenizer(dir, context_length, clean, strip_sep_token)(text) rows;
 *   3. codepoints.json: every code point c as "a" + c + "b" through each tokenizer, compared by
 *      CRC-32 per block of 4096 code points (a mismatch names the block);
 *   4. hostile tokenizer.json files built here: each must be refused with the right class;
 *   5. one tokenizer shared by four threads gives the ids a single thread gives;
 *   6. the fuzz seed corpus (tests/fuzz/hftok/: tokenizer.json, NUL, text) replayed: no crash,
 *      and each refusal carries a message.
 */
#include <cJSON.h>
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "text/hf_tokenizer.h"
#include "util.h"

#define FIX_DIR "tests/fixtures/hftok/"
#define MAX_SHOWN 6

static const char *const NAMES[] = {"unigram",       "gemma",       "llama",
                                    "wordpiece",     "bytelevel",   "mix_wordlevel",
                                    "mix_bpe",       "mix_wordpiece", "mix_unigram",
                                    "mix_unkpen",    "mix_spmrules",  "mix_spmfirst"};
#define N_TOK 12

static oc_hftok *toks[N_TOK];
static cJSON *manifest;

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The text of a fixture line: "t", or "x" (hex of its UTF-8 bytes). malloc'd. */
static char *line_text(const cJSON *d, size_t *n) {
    const cJSON *t = cJSON_GetObjectItem(d, "t");
    if (cJSON_IsString(t)) {
        *n = strlen(t->valuestring);
        char *s = malloc(*n + 1);
        memcpy(s, t->valuestring, *n + 1);
        return s;
    }
    const char *x = cJSON_GetObjectItem(d, "x")->valuestring;
    size_t k = strlen(x) / 2;
    char *s = malloc(k + 1);
    for (size_t i = 0; i < k; i++) s[i] = (char)(hexval(x[2 * i]) * 16 + hexval(x[2 * i + 1]));
    s[k] = 0;
    *n = k;
    return s;
}

static void show_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static bool load_all(void) {
    size_t n;
    unsigned char *m = read_file(FIX_DIR "manifest.json", &n);
    if (!m) {
        fprintf(stderr, "cannot read " FIX_DIR "manifest.json (run: .venv/bin/python "
                        "tools/fixtures_hftok.py)\n");
        return false;
    }
    manifest = cJSON_Parse((const char *)m);
    free(m);
    for (int i = 0; i < N_TOK; i++) {
        char path[256];
        snprintf(path, sizeof path, FIX_DIR "%s.json", NAMES[i]);
        oclip_error err;
        oclip_status st = oc_hftok_load_file(path, &toks[i], &err);
        CHECKF(st == OCLIP_OK, "%s: %s", path, err.msg);
        if (st != OCLIP_OK) return false;
    }
    return true;
}

static void test_cases(void) {
    size_t n;
    unsigned char *buf = read_file(FIX_DIR "cases.jsonl", &n);
    CHECK(buf != NULL);
    if (!buf) return;
    int bad[N_TOK][2] = {{0}}, total[N_TOK][2] = {{0}}, shown = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *d = cJSON_Parse(line);
        if (!d) continue;
        size_t len;
        char *text = line_text(d, &len);
        int held = cJSON_GetObjectItem(d, "h") != NULL;
        for (int k = 0; k < N_TOK; k++) {
            const cJSON *want = cJSON_GetObjectItem(d, NAMES[k]);
            if (!want) continue; /* the mix_ tokenizers see every third string */
            int32_t *ids = NULL;
            size_t nid = 0;
            oclip_error err;
            oclip_status st = oc_hftok_encode(toks[k], text, len, true, &ids, &nid, &err);
            bool ok;
            if (cJSON_IsObject(want)) {
                ok = st != OCLIP_OK;
            } else {
                ok = st == OCLIP_OK && (int)nid == cJSON_GetArraySize(want);
                for (size_t i = 0; ok && i < nid; i++)
                    ok = ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint;
            }
            total[k][held]++;
            if (!ok) {
                bad[k][held]++;
                if (shown++ < MAX_SHOWN) {
                    fprintf(stderr, "  %s%s: \"%.120s\"\n", NAMES[k], held ? " (held out)" : "",
                            text);
                    if (st != OCLIP_OK) fprintf(stderr, "    oclip error: %s\n", err.msg);
                    else show_ids("oclip", ids, nid);
                    if (cJSON_IsArray(want)) {
                        int m = cJSON_GetArraySize(want);
                        int32_t *w = malloc((size_t)(m ? m : 1) * sizeof *w);
                        for (int i = 0; i < m; i++) w[i] = cJSON_GetArrayItem(want, i)->valueint;
                        show_ids("tokenizers", w, (size_t)m);
                        free(w);
                    } else {
                        fprintf(stderr, "    tokenizers raised an error\n");
                    }
                }
            }
            free(ids);
        }
        free(text);
        cJSON_Delete(d);
    }
    free(buf);
    for (int k = 0; k < N_TOK; k++) {
        fprintf(stderr, "cases %-10s: %d/%d mismatches, held-out %d/%d\n", NAMES[k], bad[k][0],
                total[k][0], bad[k][1], total[k][1]);
        CHECKF(bad[k][0] == 0 && bad[k][1] == 0 && total[k][0] > 100 && total[k][1] > 20,
               "%s: %d + %d strings differ from tokenizers", NAMES[k], bad[k][0], bad[k][1]);
    }
}

static int tok_index(const char *name) {
    for (int i = 0; i < N_TOK; i++)
        if (!strcmp(NAMES[i], name)) return i;
    return -1;
}

static void test_openclip(void) {
    size_t n;
    unsigned char *buf = read_file(FIX_DIR "openclip.jsonl", &n);
    CHECK(buf != NULL);
    if (!buf) return;
    const cJSON *info = cJSON_GetObjectItem(manifest, "tokenizers");
    int rows = 0, bad = 0, shown = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *d = cJSON_Parse(line);
        if (!d) continue;
        size_t len;
        char *text = line_text(d, &len);
        const char *name = cJSON_GetObjectItem(d, "tok")->valuestring;
        int k = tok_index(name);
        const cJSON *ti = cJSON_GetObjectItem(info, name);
        size_t ctx = (size_t)cJSON_GetObjectItem(d, "ctx")->valueint;
        oc_hftok_call call = oc_hftok_call_defaults(toks[k], ctx);
        const char *clean = cJSON_GetObjectItem(d, "clean")->valuestring;
        call.clean = !strcmp(clean, "lower")          ? OCLIP_CLEAN_LOWER
                     : !strcmp(clean, "canonicalize") ? OCLIP_CLEAN_CANONICALIZE
                                                      : OCLIP_CLEAN_WHITESPACE;
        call.strip_sep_token = cJSON_GetObjectItem(d, "sep")->valueint != 0;
        /* what transformers reads from tokenizer_config.json */
        const cJSON *pad = cJSON_GetObjectItem(ti, "pad"), *sep = cJSON_GetObjectItem(ti, "sep");
        call.pad_id = cJSON_IsNumber(pad) ? pad->valueint : -1;
        call.sep_id = cJSON_IsNumber(sep) ? sep->valueint : -1;
        call.pad_left = !strcmp(cJSON_GetObjectItem(ti, "padding_side")->valuestring, "left");
        call.truncate_left = !strcmp(cJSON_GetObjectItem(ti, "truncation_side")->valuestring, "left");
        const cJSON *row = cJSON_GetObjectItem(d, "row");
        size_t m = (size_t)cJSON_GetArraySize(row);
        int64_t *got = malloc(ctx * sizeof *got);
        oclip_error err;
        const char *tp = text;
        oclip_status st = oc_hftok_openclip(toks[k], &tp, &len, 1, &call, got, &err);
        bool ok;
        if (m > ctx) {
            /* transformers did not truncate (context shorter than the special tokens) */
            ok = st == OCLIP_E_ARG;
        } else {
            ok = st == OCLIP_OK;
            for (size_t i = 0; ok && i < ctx; i++) {
                int64_t want = i < m ? (int64_t)cJSON_GetArrayItem(row, (int)i)->valuedouble
                                     : call.pad_id;
                ok = got[i] == want;
            }
        }
        rows++;
        if (!ok) {
            bad++;
            if (shown++ < MAX_SHOWN) {
                fprintf(stderr, "  openclip %s ctx %zu clean %s sep %d: \"%.100s\"\n", name, ctx,
                        clean, call.strip_sep_token, text);
                if (st != OCLIP_OK) {
                    fprintf(stderr, "    oclip error: %s\n", err.msg);
                } else {
                    fprintf(stderr, "    oclip:");
                    for (size_t i = 0; i < ctx && i < 40; i++) fprintf(stderr, " %lld", (long long)got[i]);
                    fprintf(stderr, "\n    want: ");
                    for (size_t i = 0; i < m && i < 40; i++)
                        fprintf(stderr, " %d", cJSON_GetArrayItem(row, (int)i)->valueint);
                    fprintf(stderr, " (+pad %lld)\n", (long long)call.pad_id);
                }
            }
        }
        free(got);
        free(text);
        cJSON_Delete(d);
    }
    free(buf);
    fprintf(stderr, "openclip rows: %d/%d mismatches\n", bad, rows);
    CHECKF(bad == 0 && rows > 500, "%d of %d HFTokenizer rows differ", bad, rows);
}

static uint32_t crc_table[256];
static uint32_t crc32_update(uint32_t crc, const void *p, size_t n) {
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ b[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
static uint32_t crc32_u32(uint32_t crc, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return crc32_update(crc, b, 4);
}

static void test_codepoints(void) {
    size_t n;
    unsigned char *buf = read_file(FIX_DIR "codepoints.json", &n);
    CHECK(buf != NULL);
    if (!buf) return;
    cJSON *j = cJSON_Parse((const char *)buf);
    free(buf);
    for (int k = 0; k < N_TOK; k++) {
        const cJSON *crcs = cJSON_GetObjectItem(j, NAMES[k]);
        int bad = 0;
        char list[256] = "";
        for (uint32_t blk = 0; blk < 0x110000 / 4096; blk++) {
            uint32_t crc = 0;
            bool any = false;
            for (uint32_t c = blk * 4096; c < (blk + 1) * 4096; c++) {
                if (c >= 0xD800 && c < 0xE000) continue;
                any = true;
                char t[6] = "a";
                uint8_t u[4];
                size_t m = 1;
                /* UTF-8 of c */
                if (c < 0x80) u[0] = (uint8_t)c, m = 1;
                else if (c < 0x800) u[0] = (uint8_t)(0xC0 | c >> 6), u[1] = (uint8_t)(0x80 | (c & 0x3F)), m = 2;
                else if (c < 0x10000)
                    u[0] = (uint8_t)(0xE0 | c >> 12), u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F)),
                    u[2] = (uint8_t)(0x80 | (c & 0x3F)), m = 3;
                else
                    u[0] = (uint8_t)(0xF0 | c >> 18), u[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F)),
                    u[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F)), u[3] = (uint8_t)(0x80 | (c & 0x3F)),
                    m = 4;
                memcpy(t + 1, u, m);
                t[1 + m] = 'b';
                int32_t *ids = NULL;
                size_t nid = 0;
                oclip_error err;
                crc = crc32_u32(crc, c);
                if (oc_hftok_encode(toks[k], t, m + 2, true, &ids, &nid, &err) != OCLIP_OK) {
                    crc = crc32_u32(crc, 0xFFFFFFFFu);
                } else {
                    crc = crc32_u32(crc, (uint32_t)nid);
                    for (size_t i = 0; i < nid; i++) crc = crc32_u32(crc, (uint32_t)ids[i]);
                }
                free(ids);
            }
            uint32_t want = (uint32_t)cJSON_GetArrayItem(crcs, (int)blk)->valuedouble;
            if (any && crc != want) {
                if (bad++ < 12) {
                    size_t l = strlen(list);
                    snprintf(list + l, sizeof list - l, " U+%04X", blk * 4096);
                }
            }
        }
        fprintf(stderr, "code points %-13s: %d of 272 blocks differ%s\n", NAMES[k], bad, list);
        CHECKF(bad == 0, "%s: %d blocks of code points differ", NAMES[k], bad);
    }
    cJSON_Delete(j);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile files, built by hand
 */
static oclip_status load_str(const char *json, oc_hftok **t, oclip_error *err) {
    return oc_hftok_load(json, strlen(json), t, err);
}

static void expect_load(const char *what, const char *json, oclip_status want, const char *needle) {
    oc_hftok *t = NULL;
    oclip_error err;
    oclip_status st = load_str(json, &t, &err);
    CHECKF(st == want && (!needle || strstr(err.msg, needle)), "%s: status %d (want %d): %s",
           what, (int)st, (int)want, st ? err.msg : "loaded");
    oc_hftok_free(t);
}

#define UNI(vocab, extra)                                                                          \
    "{\"version\":\"1.0\",\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":" vocab "}" extra "}"
#define VOCAB "[[\"<unk>\",0],[\"a\",-1],[\"b\",-2]]"

static char *b64(const uint8_t *p, size_t n) {
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1), *q = o;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *q++ = A[v >> 18];
        *q++ = A[(v >> 12) & 63];
        *q++ = i + 1 < n ? A[(v >> 6) & 63] : '=';
        *q++ = i + 2 < n ? A[v & 63] : '=';
    }
    *q = 0;
    return o;
}

static char *with_charsmap(const uint8_t *blob, size_t n) {
    char *b = b64(blob, n);
    size_t cap = strlen(b) + 512;
    char *j = malloc(cap);
    snprintf(j, cap, UNI(VOCAB, ",\"normalizer\":{\"type\":\"Precompiled\","
                                "\"precompiled_charsmap\":\"%s\"}"), b);
    free(b);
    return j;
}

static void test_hostile(void) {
    expect_load("not JSON", "{\"model\":", OCLIP_E_FORMAT, "JSON");
    expect_load("not an object", "[1,2]", OCLIP_E_FORMAT, NULL);
    expect_load("bad UTF-8", "{\"model\":{\"type\":\"Uni\xffgram\"}}", OCLIP_E_FORMAT, "UTF-8");
    expect_load("no model", "{\"version\":\"1.0\"}", OCLIP_E_FORMAT, "model");
    expect_load("version", "{\"version\":\"2.0\",\"model\":{}}", OCLIP_E_UNSUPPORTED, "version");
    expect_load("model type", "{\"model\":{\"type\":\"Magic\"}}", OCLIP_E_UNSUPPORTED, "Magic");
    expect_load("untyped model", "{\"model\":{\"vocab\":{}}}", OCLIP_E_UNSUPPORTED, "type");
    expect_load("unk_id past vocab",
                "{\"model\":{\"type\":\"Unigram\",\"unk_id\":3,\"vocab\":[[\"a\",0]]}}",
                OCLIP_E_FORMAT, "unk_id");
    expect_load("piece not a pair",
                "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}", OCLIP_E_FORMAT, NULL);
    expect_load("id too large",
                "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":4294967296},\"merges\":[]}}",
                OCLIP_E_FORMAT, NULL);
    expect_load("merge out of vocab",
                "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                OCLIP_E_FORMAT, "merge");
    expect_load("merge of three",
                "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}",
                OCLIP_E_FORMAT, "merge");
    expect_load("dropout", "{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{},"
                "\"merges\":[]}}", OCLIP_E_UNSUPPORTED, "dropout");
    expect_load("regex", UNI(VOCAB, ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":"
                "{\"Regex\":\"(?i)x+\"},\"behavior\":\"Isolated\",\"invert\":false}"),
                OCLIP_E_UNSUPPORTED, "(?i)x+");
    expect_load("empty pattern", UNI(VOCAB, ",\"normalizer\":{\"type\":\"Replace\",\"pattern\":"
                "{\"String\":\"\"},\"content\":\"x\"}"), OCLIP_E_UNSUPPORTED, "empty");
    expect_load("normalizer type", UNI(VOCAB, ",\"normalizer\":{\"type\":\"Magic\"}"),
                OCLIP_E_UNSUPPORTED, "Magic");
    expect_load("pair template", UNI(VOCAB, ",\"post_processor\":{\"type\":"
                "\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}],"
                "\"special_tokens\":{}}"), OCLIP_E_UNSUPPORTED, "$A");
    expect_load("template token missing", UNI(VOCAB, ",\"post_processor\":{\"type\":"
                "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
                "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}"),
                OCLIP_E_FORMAT, "<s>");
    /* nesting past the limit */
    char deep[4096] = UNI(VOCAB, ",\"normalizer\":");
    deep[strlen(deep) - 1] = 0;
    for (int i = 0; i < 20; i++) strcat(deep, "{\"type\":\"Sequence\",\"normalizers\":[");
    strcat(deep, "{\"type\":\"NFC\"}");
    for (int i = 0; i < 20; i++) strcat(deep, "]}");
    strcat(deep, "}");
    expect_load("deep", deep, OCLIP_E_FORMAT, "deeper");
    /* a piece past the length limit */
    size_t big = 5000;
    char *j = malloc(big + 256);
    strcpy(j, "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"");
    memset(j + strlen(j), 'x', big);
    strcpy(j + strlen("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"") + big, "\",0]]}}");
    expect_load("long piece", j, OCLIP_E_UNSUPPORTED, "bytes");
    free(j);

    /* precompiled_charsmap: not base64, short, a trie larger than the blob, bad UTF-8 */
    expect_load("charsmap base64", UNI(VOCAB, ",\"normalizer\":{\"type\":\"Precompiled\","
                "\"precompiled_charsmap\":\"A*==\"}"), OCLIP_E_FORMAT, "base64");
    uint8_t blob[4 + 256 * 4 + 4];
    memset(blob, 0, sizeof blob);
    j = with_charsmap(blob, 3);
    expect_load("charsmap short", j, OCLIP_E_FORMAT, "header");
    free(j);
    blob[0] = 0xFF, blob[1] = 0xFF; /* trie of 65535 bytes in an 8-byte blob */
    j = with_charsmap(blob, 8);
    expect_load("charsmap trie too big", j, OCLIP_E_FORMAT, "does not fit");
    free(j);
    memset(blob, 0, sizeof blob);
    blob[0] = 4; /* one unit, then the strings: "\xff" */
    blob[8] = 0xFF;
    j = with_charsmap(blob, 9);
    expect_load("charsmap strings", j, OCLIP_E_FORMAT, "UTF-8");
    free(j);
    /* a well-formed blob whose trie sends 'a' to a leaf value far past the strings: loads, then
     * encoding "a" fails cleanly */
    memset(blob, 0, sizeof blob);
    uint32_t units[256] = {0};
    units[97] = 97u | (1u << 8) | ((uint32_t)(97 ^ 200) << 10);
    units[200] = 0x7FFFFFFFu;
    blob[0] = 0, blob[1] = 4; /* 1024 bytes of trie */
    for (int i = 0; i < 256; i++)
        for (int b = 0; b < 4; b++) blob[4 + 4 * i + b] = (uint8_t)(units[i] >> (8 * b));
    blob[4 + 1024] = 'x';
    j = with_charsmap(blob, sizeof blob);
    oc_hftok *t = NULL;
    oclip_error err;
    CHECKF(load_str(j, &t, &err) == OCLIP_OK, "charsmap with a bad leaf: %s", err.msg);
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(oc_hftok_encode(t, "b", 1, true, &ids, &n, &err) == OCLIP_OK && n == 1);
        free(ids);
        ids = NULL;
        oclip_status st = oc_hftok_encode(t, "a", 1, true, &ids, &n, &err);
        CHECKF(st == OCLIP_E_FORMAT && strstr(err.msg, "charsmap"), "bad leaf: %d %s", (int)st,
               err.msg);
        CHECK(ids == NULL);
        /* a text past the limit */
        char *huge = malloc(OC_HFTOK_MAX_TEXT + 1);
        memset(huge, 'b', OC_HFTOK_MAX_TEXT + 1);
        CHECK(oc_hftok_encode(t, huge, OC_HFTOK_MAX_TEXT + 1, true, &ids, &n, &err) ==
              OCLIP_E_NOMEM);
        free(huge);
        /* no pad token: transformers refuses to pad */
        oc_hftok_call call = oc_hftok_call_defaults(t, 8);
        int64_t row[8];
        const char *txt = "bb";
        size_t tl = 2;
        CHECK(call.pad_id == -1);
        CHECK(oc_hftok_openclip(t, &txt, &tl, 1, &call, row, &err) == OCLIP_E_ARG);
        call.pad_id = 0;
        CHECK(oc_hftok_openclip(t, &txt, &tl, 1, &call, row, &err) == OCLIP_OK);
        oc_hftok_free(t);
    }
    free(j);
    /* Unigram without unk_id meeting an unknown character: tokenizers raises */
    t = NULL;
    CHECK(load_str("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]}}", &t, &err) ==
          OCLIP_OK);
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(oc_hftok_encode(t, "aa", 2, true, &ids, &n, &err) == OCLIP_OK && n == 2);
        free(ids);
        CHECK(oc_hftok_encode(t, "az", 2, true, &ids, &n, &err) == OCLIP_E_FORMAT);
        oc_hftok_free(t);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Threads: a loaded tokenizer is read-only
 */
#define THREAD_TEXTS 64
static const char *thread_texts[THREAD_TEXTS];
static uint64_t thread_want[N_TOK];

static uint64_t hash_all(const oc_hftok *t) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < THREAD_TEXTS; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        oclip_error err;
        if (oc_hftok_encode(t, thread_texts[i], strlen(thread_texts[i]), true, &ids, &n, &err))
            return 0;
        for (size_t k = 0; k < n; k++) h = (h ^ (uint32_t)ids[k]) * 1099511628211ull;
        h = (h ^ 0xFFFFFFFFu) * 1099511628211ull;
        free(ids);
    }
    return h;
}

static void *thread_main(void *arg) {
    intptr_t bad = 0;
    for (int rep = 0; rep < 3; rep++)
        for (int k = 0; k < N_TOK; k++) bad += hash_all(toks[k]) != thread_want[k];
    (void)arg;
    return (void *)bad;
}

static void test_threads(void) {
    static const char *const words[] = {"a photo of", " the cat", " caf\xc3\xa9", " \xe7\x8c\xab",
                                        "</s>", " [SEP]", "  ", "\xf0\x9f\x98\x80", " 123", "<pad>"};
    static char buf[THREAD_TEXTS][128];
    for (int i = 0; i < THREAD_TEXTS; i++) {
        buf[i][0] = 0;
        for (int j = 0; j < 1 + i % 9; j++) strcat(buf[i], words[(i * 7 + j * 3) % 10]);
        thread_texts[i] = buf[i];
    }
    for (int k = 0; k < N_TOK; k++) thread_want[k] = hash_all(toks[k]);
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, thread_main, NULL);
    intptr_t bad = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (intptr_t)r;
    }
    CHECKF(bad == 0, "%ld tokenizer runs differ between threads", (long)bad);
}

static void test_fuzz_corpus(void) {
    const char *dir = "tests/fuzz/hftok/";
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) return;
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s%s", dir, e->d_name);
        size_t n;
        unsigned char *b = read_file(path, &n);
        if (!b) continue;
        files++;
        unsigned char *nul = memchr(b, 0, n);
        size_t jn = nul ? (size_t)(nul - b) : n;
        oc_hftok *t = NULL;
        oclip_error err;
        oclip_status st = oc_hftok_load((const char *)b, jn, &t, &err);
        CHECKF(st == OCLIP_OK || err.msg[0], "%s: refused without a message", path);
        if (t) {
            const char *text = nul ? (const char *)nul + 1 : "";
            size_t tn = nul ? n - jn - 1 : 0;
            int32_t *ids = NULL;
            size_t k = 0;
            st = oc_hftok_encode(t, text, tn, true, &ids, &k, &err);
            CHECKF(st == OCLIP_OK || err.msg[0], "%s: encode failed without a message", path);
            for (size_t i = 0; i < k; i++)
                CHECKF(ids[i] >= 0 && (size_t)ids[i] < oc_hftok_id_limit(t), "%s: id %d", path,
                       ids[i]);
            free(ids);
            oc_hftok_free(t);
        }
        free(b);
    }
    closedir(d);
    CHECKF(files > 10, "%d fuzz seeds", files);
}

int main(void) {
    if (!load_all()) return TEST_REPORT("test_hf_tokenizer");
    test_cases();
    test_openclip();
    test_codepoints();
    test_hostile();
    test_threads();
    test_fuzz_corpus();
    for (int i = 0; i < N_TOK; i++) oc_hftok_free(toks[i]);
    cJSON_Delete(manifest);
    return TEST_REPORT("test_hf_tokenizer");
}
