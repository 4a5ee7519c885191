/*
 * test_safetensors.c — the safetensors reader: valid files (dtypes, scalars, zero-size tensors,
 * metadata, zero-copy data), every malformed-header case with its status and message, every
 * truncation of a valid file, and sharded checkpoints behind an index (including path
 * traversal in shard names, shards that are FIFOs, folders or links out of the folder).
 *
 * Files are built byte by byte here, so the test needs no Python and no fixtures. An alarm turns
 * a hang (a FIFO opened for reading waits for a writer) into a failure.
 */
#define _DEFAULT_SOURCE /* symlink */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h" /* oc_st_read directly, for headers the front end would not route here */
#include "oclip.h"
#include "test.h"

/* =============================================================================================
 * Building files
 */

/* A safetensors file: u64 LE header length, the header padded with spaces to a multiple of 8
 * (as the writer does), then `dlen` data bytes. Caller frees. */
static uint8_t *make_st(const char *hdr, const void *data, size_t dlen, size_t *out_len) {
    size_t h = strlen(hdr), hp = (h + 7) & ~(size_t)7;
    size_t len = 8 + hp + dlen;
    uint8_t *b = malloc(len ? len : 1);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, hdr, h);
    memset(b + 8 + h, ' ', hp - h);
    if (dlen) memcpy(b + 8 + hp, data, dlen);
    *out_len = len;
    return b;
}

/* Raw bytes with an arbitrary header length field. */
static uint8_t *make_raw(uint64_t hlen, const char *rest, size_t rest_len, size_t *out_len) {
    uint8_t *b = malloc(8 + rest_len);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hlen >> (8 * i));
    memcpy(b + 8, rest, rest_len);
    *out_len = 8 + rest_len;
    return b;
}

/* A data buffer with a recognisable pattern. */
static uint8_t pattern[4096];
static void init_pattern(void) {
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 7 + 1);
}

/* =============================================================================================
 * Checking failures
 */

/* Opens buf through the public front end and expects `status` with `needle` in the message. */
static void expect_fail_(const uint8_t *buf, size_t len, const oclip_limits *lim,
                         oclip_status status, const char *needle, const char *what, int line) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open_memory(buf, len, "t.safetensors", lim, &ck, &err);
    CHECKF(st == status, "line %d (%s): status %d (%s), expected %d; msg: %s", line, what, st,
           oclip_status_str(st), status, err.msg);
    CHECKF(err.code == st, "line %d (%s): err.code %d != status %d", line, what, err.code, st);
    CHECKF(strstr(err.msg, needle) != NULL, "line %d (%s): message lacks \"%s\": %s", line, what,
           needle, err.msg);
    CHECKF((ck == NULL) == (status != OCLIP_OK), "line %d (%s): *out is %p", line, what,
           (void *)ck);
    oclip_checkpoint_free(ck);
}
#define expect_fail(buf, len, status, needle, what)                                              \
    expect_fail_(buf, len, NULL, status, needle, what, __LINE__)

/* A header + data that must fail: builds the file, checks, frees. */
static void header_fails_(const char *hdr, size_t dlen, const oclip_limits *lim,
                          oclip_status status, const char *needle, int line) {
    size_t len;
    uint8_t *b = make_st(hdr, pattern, dlen, &len);
    expect_fail_(b, len, lim, status, needle, hdr, line);
    free(b);
}
#define header_fails(hdr, dlen, status, needle)                                                  \
    header_fails_(hdr, dlen, NULL, status, needle, __LINE__)

/* Calls the reader itself (for bytes that the front end's sniffer would not route to it). */
static oclip_status direct(const uint8_t *buf, size_t len, oclip_error *err) {
    oclip_checkpoint *ck = oc_ck_new("direct", NULL);
    if (!ck) abort();
    oc_err_clear(err);
    oclip_status st = oc_st_read(ck, buf, len, err);
    oclip_checkpoint_free(ck);
    return st;
}

/* =============================================================================================
 * A valid file
 */

/*
 * Header order differs from offset order, and the zero-size tensor "f.empty" [32,32) comes after
 * "b.f16" [32,38) in the header: a sort on `begin` alone could put them the wrong way round and
 * see an overlap. "g.empty" [47,47) sits at the very end of the buffer.
 */
static const char valid_hdr[] =
    "{\"a.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
    "\"__metadata__\":{\"format\":\"pt\",\"note\":\"h\\u00e9llo \\\"q\\\"\"},"
    "\"b.f16\":{\"shape\":[3],\"dtype\":\"F16\",\"data_offsets\":[32,38]},"
    "\"f.empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[32,32]},"
    "\"c.bf16\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[38,42]},"
    "\"d.i64\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
    "\"e.bool\":{\"dtype\":\"BOOL\",\"shape\":[5],\"data_offsets\":[42,47]},"
    "\"g.empty\":{\"dtype\":\"I8\",\"shape\":[4,0],\"data_offsets\":[47,47]}}";
#define VALID_DLEN 47

static void test_valid(void) {
    size_t len;
    uint8_t *b = make_st(valid_hdr, pattern, VALID_DLEN, &len);
    const uint8_t *data = b + len - VALID_DLEN;
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open_memory(b, len, "v.safetensors", NULL, &ck, &err);
    CHECKF(st == OCLIP_OK, "valid file: %s", err.msg);
    if (st != OCLIP_OK) {
        free(b);
        return;
    }
    CHECK(err.code == OCLIP_OK && err.msg[0] == '\0');
    CHECK(oclip_checkpoint_container(ck) == OCLIP_CONTAINER_SAFETENSORS);
    CHECK(oclip_checkpoint_n_tensors(ck) == 7);

    static const struct {
        const char *name;
        oclip_dtype dtype;
        int ndim;
        int64_t shape[2];
        uint64_t numel, nbytes, begin;
    } want[] = {
        /* header order */
        {"a.f32", OCLIP_DTYPE_F32, 2, {2, 3}, 6, 24, 8},
        {"b.f16", OCLIP_DTYPE_F16, 1, {3, 0}, 3, 6, 32},
        {"f.empty", OCLIP_DTYPE_F32, 2, {0, 3}, 0, 0, 32},
        {"c.bf16", OCLIP_DTYPE_BF16, 2, {2, 1}, 2, 4, 38},
        {"d.i64", OCLIP_DTYPE_I64, 0, {0, 0}, 1, 8, 0},
        {"e.bool", OCLIP_DTYPE_BOOL, 1, {5, 0}, 5, 5, 42},
        {"g.empty", OCLIP_DTYPE_I8, 2, {4, 0}, 0, 0, 47},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        CHECK(t != NULL);
        if (!t) continue;
        CHECKF(strcmp(t->name, want[i].name) == 0, "tensor %zu is '%s', want '%s'", i, t->name,
               want[i].name);
        CHECKF(t->dtype == want[i].dtype, "%s dtype %s", t->name, oclip_dtype_name(t->dtype));
        CHECKF(t->ndim == want[i].ndim, "%s ndim %d", t->name, t->ndim);
        for (int d = 0; d < want[i].ndim && d < t->ndim; d++)
            CHECKF(t->shape[d] == want[i].shape[d], "%s shape[%d]", t->name, d);
        CHECKF(t->numel == want[i].numel, "%s numel %llu", t->name, (unsigned long long)t->numel);
        CHECKF(t->nbytes == want[i].nbytes, "%s nbytes", t->name);
        /* zero-copy: the data points into the caller's buffer, at the stated offset */
        CHECKF(t->data == data + want[i].begin, "%s data pointer not at offset %llu", t->name,
               (unsigned long long)want[i].begin);
        CHECK(t->copied == 0);
        CHECKF(memcmp(t->data, pattern + want[i].begin, t->nbytes) == 0, "%s bytes", t->name);
        CHECK(oclip_checkpoint_find(ck, want[i].name) == t);
    }
    const oclip_tensor *a = oclip_checkpoint_find(ck, "a.f32");
    CHECK(a && a->strides[0] == 3 && a->strides[1] == 1);
    CHECK(oclip_checkpoint_find(ck, "nope") == NULL);
    CHECK(oclip_checkpoint_tensor(ck, 7) == NULL);

    /* __metadata__, verbatim and in order (escapes decoded) */
    CHECK(oclip_checkpoint_n_entries(ck) == 2);
    const char *k = NULL, *v = NULL;
    CHECK(oclip_checkpoint_entry(ck, 0, &k, &v) && strcmp(k, "format") == 0 &&
          strcmp(v, "pt") == 0);
    CHECK(oclip_checkpoint_entry(ck, 1, &k, &v) && strcmp(k, "note") == 0 &&
          strcmp(v, "h\xc3\xa9llo \"q\"") == 0);
    CHECK(oclip_checkpoint_entry(ck, 2, &k, &v) == 0);
    oclip_checkpoint_free(ck);

    /* Every truncation must fail cleanly (through the front end and the reader itself). */
    int all_failed = 1;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1); /* exact size: ASan sees any read past the end */
        if (!t) abort();
        memcpy(t, b, cut);
        ck = NULL;
        st = oclip_checkpoint_open_memory(t, cut, NULL, NULL, &ck, &err);
        if (st == OCLIP_OK || ck != NULL || err.msg[0] == '\0') {
            all_failed = 0;
            fprintf(stderr, "truncation at %zu: status %d\n", cut, st);
        }
        oclip_checkpoint_free(ck);
        if (direct(t, cut, &err) == OCLIP_OK) all_failed = 0;
        free(t);
    }
    CHECK(all_failed);
    free(b);
}

/* Smaller valid cases: an empty header, no padding, whitespace, every dtype. */
static void test_valid_small(void) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    size_t len;

    /* "{}" with no data: a valid, empty file (N = 2, no padding). */
    uint8_t *b = make_raw(2, "{}", 2, &len);
    CHECKF(oclip_checkpoint_open_memory(b, len, NULL, NULL, &ck, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECK(ck && oclip_checkpoint_n_tensors(ck) == 0 && oclip_checkpoint_n_entries(ck) == 0);
    oclip_checkpoint_free(ck);
    free(b);

    /* JSON whitespace around the object is fine (the writer pads with spaces). */
    static const char ws[] =
        "{ \"x\" : {\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}\n\t ";
    ck = NULL;
    b = make_raw(sizeof ws - 1, ws, sizeof ws, &len); /* + one data byte: the NUL */
    CHECKF(oclip_checkpoint_open_memory(b, len, NULL, NULL, &ck, &err) == OCLIP_OK, "%s",
           err.msg);
    CHECK(ck && oclip_checkpoint_n_tensors(ck) == 1);
    oclip_checkpoint_free(ck);
    free(b);

    /* Every dtype, one element each (sizes from the spec's table plus C64/C128). */
    static const struct {
        const char *name;
        size_t size;
    } dts[] = {{"F32", 4}, {"F16", 2},  {"BF16", 2},    {"F64", 8},     {"I64", 8},  {"I32", 4},
               {"I16", 2}, {"I8", 1},   {"U8", 1},      {"U16", 2},     {"U32", 4},  {"U64", 8},
               {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"C64", 8}, {"C128", 16}};
    char hdr[4096];
    size_t off = 0, hl = 0;
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "{");
    for (size_t i = 0; i < sizeof dts / sizeof *dts; i++) {
        hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl,
                               "%s\"t%zu\":{\"dtype\":\"%s\",\"shape\":[1],\"data_offsets\":"
                               "[%zu,%zu]}", i ? "," : "", i, dts[i].name, off, off + dts[i].size);
        off += dts[i].size;
    }
    snprintf(hdr + hl, sizeof hdr - hl, "}");
    b = make_st(hdr, pattern, off, &len);
    ck = NULL;
    CHECKF(oclip_checkpoint_open_memory(b, len, NULL, NULL, &ck, &err) == OCLIP_OK, "%s",
           err.msg);
    if (ck) {
        CHECK(oclip_checkpoint_n_tensors(ck) == sizeof dts / sizeof *dts);
        for (size_t i = 0; i < oclip_checkpoint_n_tensors(ck); i++) {
            const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
            CHECKF(strcmp(oclip_dtype_name(t->dtype), dts[i].name) == 0 &&
                       t->nbytes == dts[i].size, "dtype %s", dts[i].name);
        }
    }
    oclip_checkpoint_free(ck);
    free(b);
}

/* =============================================================================================
 * Malformed files
 */
#define T4(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" off "}"

static void test_header_length(void) {
    oclip_error err;
    size_t len;
    uint8_t *b;

    /* Byte 8 is '{' in each so that the front end's sniffer routes them to the reader. */
    b = make_raw(0, "{}      ", 8, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "header length 0 is too small", "N = 0");
    free(b);
    b = make_raw(1, "{}      ", 8, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "header length 1 is too small", "N = 1");
    free(b);
    b = make_raw((uint64_t)1 << 63, "{}      ", 8, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "header length 9223372036854775808 goes beyond the end",
                "N = 2^63");
    free(b);
    b = make_raw(UINT64_MAX, "{}      ", 8, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "goes beyond the end", "N = 2^64-1");
    free(b);
    b = make_raw(9, "{}      ", 8, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "header length 9 goes beyond the end of the file (8 bytes",
                "N = size - 8 + 1");
    free(b);

    /* Too short for the length field: the reader itself (the sniffer needs 9 bytes). */
    for (size_t n = 0; n < 8; n++) {
        b = make_raw(0, "", 0, &len);
        CHECK(direct(b, n, &err) == OCLIP_E_FORMAT && strstr(err.msg, "too short"));
        free(b);
    }

    /* The header-size limit is a resource limit. */
    oclip_limits lim = {0};
    lim.max_header_bytes = 16;
    header_fails_("{" T4("a", "[0,4]") "}", 4, &lim, OCLIP_E_NOMEM, "above the limit of 16",
                  __LINE__);
    lim.max_header_bytes = 0;
    lim.max_tensors = 1;
    header_fails_("{" T4("a", "[0,4]") "," T4("b", "[4,8]") "}", 8, &lim, OCLIP_E_NOMEM,
                  "more than the limit of 1", __LINE__);
    lim.max_tensors = 2;
    header_fails_("{" T4("a", "[0,4]") "," T4("b", "[4,8]") "}", 8, &lim, OCLIP_OK, "",
                  __LINE__);
}

static void test_not_json(void) {
    oclip_error err;
    size_t len;
    uint8_t *b;

    header_fails("{\"a\":", 0, OCLIP_E_FORMAT, "header is not valid JSON");
    header_fails("{abc}", 0, OCLIP_E_FORMAT, "header is not valid JSON");
    header_fails("{" T4("a", "[0,4]") "} x", 4, OCLIP_E_FORMAT, "after the JSON object");
    header_fails("{" T4("a", "[0,4]") "}{}", 4, OCLIP_E_FORMAT, "after the JSON object");

    /* A NUL inside the header (padding with NULs instead of spaces, or a torn write). */
    b = make_raw(16, "{}\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, &len);
    expect_fail(b, len, OCLIP_E_FORMAT, "control byte at byte 2", "NUL padding");
    free(b);

    /* Strings: invalid UTF-8, raw control characters, a \u0000 that would cut a name short. */
    header_fails("{\"a\xff\":{}}", 0, OCLIP_E_FORMAT, "invalid UTF-8 at byte 3");
    header_fails("{\"a\xc0\x80\":{}}", 0, OCLIP_E_FORMAT, "invalid UTF-8"); /* overlong NUL */
    header_fails("{\"\xed\xa0\x80\":{}}", 0, OCLIP_E_FORMAT, "invalid UTF-8"); /* surrogate */
    header_fails("{\"a\tb\":{}}", 0, OCLIP_E_FORMAT, "raw control character");
    header_fails("{" T4("a\\u0000b", "[0,4]") "," T4("a", "[4,8]") "}", 8, OCLIP_E_FORMAT,
                 "\\u0000");
    /* ...but an escaped backslash followed by "u0000" is an ordinary name. */
    header_fails("{" T4("a\\\\u0000", "[0,4]") "}", 4, OCLIP_OK, "");

    /* What serde_json (safetensors) refuses and cJSON cannot read: a lone UTF-16 surrogate
     * escape, in a name or a metadata value, or a high one followed by no low one. These were
     * reported as "out of memory" (cJSON fails; the failure was taken for memory). */
    header_fails("{" T4("a\\ud800", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "safetensors header: a lone UTF-16 surrogate escape (no character; safetensors "
                 "refuses it) at byte 3");
    header_fails("{" T4("\\udc00", "[0,4]") "}", 4, OCLIP_E_FORMAT, "lone UTF-16 surrogate");
    header_fails("{" T4("\\ud800\\u0041", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "lone UTF-16 surrogate");
    header_fails("{\"__metadata__\":{\"k\":\"x\\ud800\"}}", 0, OCLIP_E_FORMAT,
                 "lone UTF-16 surrogate");
    /* a surrogate pair is one character (U+1F600) */
    header_fails("{" T4("\\ud83d\\ude00", "[0,4]") "}", 4, OCLIP_OK, "");
    /* NaN and Infinity: Python's json reads them, serde_json does not ("expected value") */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "NaN or Infinity");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[-Infinity],\"data_offsets\":[0,4]}}",
                 4, OCLIP_E_FORMAT, "NaN or Infinity");
    /* an invalid \u escape: cJSON read "\uzzzz" as U+0000 and so cut the name short to "a",
     * which then loaded as tensor "a" */
    header_fails("{" T4("a\\uzzzzb", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "header is not valid JSON (error near line 1, column 4, byte 3: an invalid \\u "
                 "escape");
    header_fails("{" T4("a\\x41", "[0,4]") "}", 4, OCLIP_E_FORMAT, "an invalid escape");
    /* leading zeros and a bare '.': cJSON read them (01 as 1), JSON and serde do not */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "expected ',' or ']'");
    /* nesting beyond the parser's 1000 levels, in a metadata value: said as such */
    {
        char deep[2100 + 64];
        size_t k = (size_t)snprintf(deep, sizeof deep, "{\"__metadata__\":{\"k\":");
        for (int d = 0; d < 1001; d++) deep[k++] = '[';
        for (int d = 0; d < 1001; d++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k++] = '}';
        deep[k] = '\0';
        header_fails(deep, 0, OCLIP_E_FORMAT, "nested deeper than 1000 levels");
    }

    /* The parser must never read past the N header bytes: every proper prefix of a header,
     * as the whole file (exact-size allocations, so ASan flags a read past the end). */
    int all_failed = 1;
    for (size_t k = 2; k < sizeof valid_hdr - 1; k++) {
        b = make_raw(k, valid_hdr, k, &len);
        oclip_checkpoint *ck = NULL;
        if (oclip_checkpoint_open_memory(b, len, NULL, NULL, &ck, &err) == OCLIP_OK) {
            all_failed = 0;
            fprintf(stderr, "header prefix of %zu bytes accepted\n", k);
        }
        oclip_checkpoint_free(ck);
        free(b);
    }
    CHECK(all_failed);

    /* A JSON array or string is no header. The sniffer wants '{', so call the reader. */
    b = make_raw(8, "[1,2]   ", 8, &len);
    CHECK(direct(b, len, &err) == OCLIP_E_FORMAT &&
          strstr(err.msg, "header is not a JSON object (it is an array)"));
    free(b);
    b = make_raw(8, "\"str\"   ", 8, &len);
    CHECK(direct(b, len, &err) == OCLIP_E_FORMAT && strstr(err.msg, "not a JSON object"));
    free(b);
}

static void test_entries(void) {
    header_fails("{\"a\":5}", 0, OCLIP_E_FORMAT, "tensor 'a': entry is a number, not an object");
    header_fails("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, OCLIP_E_FORMAT,
                 "tensor 'a': missing field 'dtype'");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, OCLIP_E_FORMAT,
                 "tensor 'a': missing field 'shape'");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, OCLIP_E_FORMAT,
                 "tensor 'a': missing field 'data_offsets'");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
                 OCLIP_E_FORMAT, "tensor 'a': unknown field 'x'");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],"
                 "\"data_offsets\":[0,4]}}", 4, OCLIP_E_FORMAT, "field 'dtype' appears twice");

    /* dtype */
    header_fails("{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_UNSUPPORTED, "tensor 'a': unknown dtype 'F7' (supported: F32 F16 BF16");
    header_fails("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_UNSUPPORTED, "unknown dtype 'f32'");
    header_fails("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, OCLIP_E_FORMAT,
                 "dtype is a number, not a string");

    /* shape */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "shape is a number, not an array");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "shape[0] is not an integer");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,-1],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "shape[1] is negative");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "shape[0] is not a number");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,4]}}", 4, OCLIP_E_UNSUPPORTED, "9 dimensions");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1],"
                 "\"data_offsets\":[0,4]}}", 4, OCLIP_OK, ""); /* exactly OCLIP_MAX_DIMS */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", 4, OCLIP_E_FORMAT, "shape [4294967296,");

    /* data_offsets */
    header_fails("{" T4("a", "[0,1.5]") "}", 4, OCLIP_E_FORMAT,
                 "data_offsets[1] is not an integer");
    header_fails("{" T4("a", "[-4,0]") "}", 4, OCLIP_E_FORMAT, "data_offsets[0] is negative");
    header_fails("{" T4("a", "[0,1e300]") "}", 4, OCLIP_E_FORMAT,
                 "data_offsets[1] is too large (above 2^53)");
    header_fails("{" T4("a", "[0,1e400]") "}", 4, OCLIP_E_FORMAT, "too large");
    header_fails("{" T4("a", "[0,9007199254740994]") "}", 4, OCLIP_E_FORMAT, "too large");
    header_fails("{" T4("a", "[0,null]") "}", 4, OCLIP_E_FORMAT,
                 "data_offsets[1] is not a number");
    header_fails("{" T4("a", "[0,4,8]") "}", 4, OCLIP_E_FORMAT, "array of 2 integers");
    header_fails("{" T4("a", "[0]") "}", 4, OCLIP_E_FORMAT, "array of 2 integers");
    header_fails("{" T4("a", "{}") "}", 4, OCLIP_E_FORMAT, "array of 2 integers");
    header_fails("{" T4("a", "[4,0]") "}", 4, OCLIP_E_FORMAT,
                 "tensor 'a': data_offsets begin 4 > end 0");
    header_fails("{" T4("a", "[0,4]") "}", 2, OCLIP_E_FORMAT,
                 "tensor 'a': data_offsets [0,4) end beyond the data buffer (2 bytes)");
    header_fails("{\"visual.proj\":{\"dtype\":\"F32\",\"shape\":[1024],"
                 "\"data_offsets\":[128,4224]}}", 4000, OCLIP_E_FORMAT,
                 "tensor 'visual.proj': data_offsets [128,4224) end "
                 "beyond the data buffer (4000 bytes)");

    /* span vs shape */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "tensor 'a': shape [2] of F32 needs 8 bytes but data_offsets "
                 "[0,4) span 4");
    header_fails("{\"a\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                 OCLIP_E_FORMAT, "shape [] of F16 needs 2 bytes");

    /* __metadata__ */
    header_fails("{\"__metadata__\":{\"k\":1}," T4("a", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "__metadata__ 'k' is a number, not a string");
    header_fails("{\"__metadata__\":[]," T4("a", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "__metadata__ is an array, not an object");
    /* a duplicate __metadata__ key: safetensors' serde HashMap keeps the last value (measured
     * with safetensors 0.7.0: loads), so does oclip; a second __metadata__ is a duplicate struct
     * field, which serde refuses ("duplicate field `__metadata__`") */
    {
        size_t len;
        uint8_t *b = make_st("{\"__metadata__\":{\"k\":\"1\",\"j\":\"x\",\"k\":\"2\"}}", NULL, 0,
                             &len);
        oclip_checkpoint *ck = NULL;
        oclip_error err;
        CHECKF(oclip_checkpoint_open_memory(b, len, "t.safetensors", NULL, &ck, &err) == OCLIP_OK,
               "duplicate __metadata__ key: %s", err.msg);
        const char *k = NULL, *v = NULL;
        CHECK(ck && oclip_checkpoint_n_entries(ck) == 2);
        CHECK(ck && oclip_checkpoint_entry(ck, 0, &k, &v) && !strcmp(k, "j") && !strcmp(v, "x"));
        CHECK(ck && oclip_checkpoint_entry(ck, 1, &k, &v) && !strcmp(k, "k") && !strcmp(v, "2"));
        oclip_checkpoint_free(ck);
        free(b);
    }
    header_fails("{\"__metadata__\":{},\"__metadata__\":{}}", 0, OCLIP_E_FORMAT,
                 "__metadata__ appears twice");
}

static void test_layout(void) {
    /* duplicate names: safetensors keeps the last entry of a name (its serde HashMap) and then
     * finds the first one's bytes unused ("invalid offset for tensor `a`"): a gap here */
    header_fails("{" T4("a", "[0,4]") "," T4("a", "[4,8]") "}", 8, OCLIP_E_FORMAT,
                 "data buffer bytes [0,4) belong to no tensor (the first, 'a', begins at 4)");
    /* ...and loads a duplicate over the same bytes, with the last entry's dtype */
    {
        size_t len;
        uint8_t *b = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                             "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                             "\"a\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                             pattern, 8, &len);
        oclip_checkpoint *ck = NULL;
        oclip_error err;
        CHECKF(oclip_checkpoint_open_memory(b, len, "t.safetensors", NULL, &ck, &err) == OCLIP_OK,
               "duplicate name over the same bytes: %s", err.msg);
        const oclip_tensor *a = ck ? oclip_checkpoint_find(ck, "a") : NULL;
        CHECK(ck && oclip_checkpoint_n_tensors(ck) == 2);
        CHECK(a && a->dtype == OCLIP_DTYPE_I32 && a->data == b + len - 8);
        oclip_checkpoint_free(ck);
        free(b);
    }
    header_fails("{" T4("", "[0,4]") "}", 4, OCLIP_E_FORMAT, "empty name");

    /* coverage: gap, overlap, leading hole, trailing bytes, nothing at all */
    header_fails("{" T4("a", "[0,4]") "," T4("b", "[8,12]") "}", 12, OCLIP_E_FORMAT,
                 "gap of 4 bytes between tensor 'a' [0,4) and tensor 'b' [8,12)");
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                 OCLIP_E_FORMAT, "tensor 'b' [4,12) overlaps tensor 'a' [0,8)");
    header_fails("{" T4("a", "[0,4]") "," T4("b", "[0,4]") "}", 4, OCLIP_E_FORMAT,
                 "tensor 'b' [0,4) overlaps tensor 'a' [0,4)");
    /* a zero-size tensor inside another one is an overlap, too */
    header_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 8,
                 OCLIP_E_FORMAT, "tensor 'z' [4,4) overlaps tensor 'a' [0,8)");
    header_fails("{" T4("a", "[4,8]") "}", 8, OCLIP_E_FORMAT,
                 "data buffer bytes [0,4) belong to no tensor (the first, 'a', begins at 4)");
    header_fails("{" T4("a", "[0,4]") "}", 8, OCLIP_E_FORMAT,
                 "4 trailing bytes after the last tensor 'a' (ends at 4, buffer is 8 bytes)");
    header_fails("{}", 8, OCLIP_E_FORMAT, "lists no tensors but the data buffer has 8");
    header_fails("{\"__metadata__\":{\"a\":\"b\"}}", 0, OCLIP_OK, "");
    /* zero-size tensors in several places, ties at the same offset */
    header_fails("{\"z1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                 T4("b", "[4,8]") "," T4("a", "[0,4]") ","
                 "\"z2\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
                 "\"z0\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 8, OCLIP_OK,
                 "");
}

/* =============================================================================================
 * Sharded checkpoints
 */
static char tmpdir[64];

static void write_file(const char *name, const void *data, size_t len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

static void write_st(const char *name, const char *hdr, const void *data, size_t dlen) {
    size_t len;
    uint8_t *b = make_st(hdr, data, dlen, &len);
    write_file(name, b, len);
    free(b);
}

/* Writes `json` as index file `name` and opens it, expecting `status` and `needle`. */
static void index_case_(const char *name, const char *json, oclip_status status,
                        const char *needle, int line) {
    char path[256];
    write_file(name, json, strlen(json));
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == status, "line %d (%s): status %d, expected %d; msg: %s", line, name, st, status,
           err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "line %d (%s): message lacks \"%s\": %s", line,
           name, needle, err.msg);
    oclip_checkpoint_free(ck);
}
#define index_case(name, json, status, needle)                                                   \
    index_case_(name, json, status, needle, __LINE__)

#define SH1 "model-00001-of-00002.safetensors"
#define SH2 "model-00002-of-00002.safetensors"

static const char *const tmp_files[] = {
    SH1, SH2, "bad.safetensors", "torch.bin", "model.safetensors.index.json", "missing.index.json",
    "unlisted.index.json", "wrong.index.json", "trav.index.json", "abs.index.json",
    "bslash.index.json", "dot.index.json", "empty.index.json", "nofile.index.json",
    "notjson.index.json", "nomap.index.json", "mapnotobj.index.json", "valnotstr.index.json",
    "dupe.index.json", "badshard.index.json", "zip.index.json", "emptymap.index.json",
    "nul.index.json", "arr.index.json", "fifo.safetensors", "fifo.index.json", "dir.index.json",
    "fifoshard.index.json", "outside.safetensors", "link.index.json", "secret.safetensors",
    "secret.index.json", "emptyshard.safetensors", "emptyshard.index.json", "cut.safetensors",
    "cut.index.json", "sur.index.json", "ctl.index.json",
};

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_safetensors: timed out: opening a FIFO blocked\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

/* Shards that are no regular file, links out of the folder, a link to a file that is no
 * safetensors, an empty and a truncated shard. `outside` is a folder beside tmpdir. */
static void test_shard_files(const char *outside) {
    char path[256], target[256];
    signal(SIGALRM, on_alarm);
    alarm(10);

    /* a FIFO (named pipe) as a shard, as the index itself, a folder as a shard: refused at
     * once, without blocking in open() */
    snprintf(path, sizeof path, "%s/fifo.safetensors", tmpdir);
    CHECK(mkfifo(path, 0600) == 0);
    index_case("fifoshard.index.json", "{\"weight_map\":{\"a\":\"fifo.safetensors\"}}",
               OCLIP_E_IO, "shard 'fifo.safetensors': is a FIFO (named pipe), not a regular file");
    snprintf(path, sizeof path, "%s/fifo.index.json", tmpdir);
    CHECK(mkfifo(path, 0600) == 0);
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == OCLIP_E_IO && strstr(err.msg, "is a FIFO (named pipe), not a regular file") &&
           strstr(err.msg, "hint: "), "FIFO index: %s", err.msg);
    oclip_checkpoint_free(ck);
    snprintf(path, sizeof path, "%s/dir.index.json", tmpdir);
    CHECK(mkdir(path, 0700) == 0);
    st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == OCLIP_E_IO && strstr(err.msg, "is a directory, not a regular file"),
           "folder index: %s", err.msg);
    CHECK(rmdir(path) == 0);

    /* A shard that is a link out of the folder is followed, as Python's open() does (the
     * Hugging Face cache's snapshots are links into ../../blobs/): names are checked, not
     * where they lead. */
    snprintf(target, sizeof target, "%s/blob", outside);
    size_t len;
    uint8_t *b = make_st("{" "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                         pattern, 4, &len);
    FILE *f = fopen(target, "wb");
    CHECK(f && fwrite(b, 1, len, f) == len && fclose(f) == 0);
    free(b);
    snprintf(path, sizeof path, "%s/outside.safetensors", tmpdir);
    CHECK(symlink(target, path) == 0);
    index_case("link.index.json", "{\"weight_map\":{\"a\":\"outside.safetensors\"}}", OCLIP_OK,
               "");

    /* ...but a link to a file that is no safetensors (here 16 secret bytes) is named by its
     * kind: nothing read from it (such as a "header length" made of its first 8 bytes) may
     * reach the message */
    snprintf(target, sizeof target, "%s/secret", outside);
    f = fopen(target, "wb");
    CHECK(f && fwrite("S3CR3T-T0K3N-123", 1, 16, f) == 16 && fclose(f) == 0);
    snprintf(path, sizeof path, "%s/secret.safetensors", tmpdir);
    CHECK(symlink(target, path) == 0);
    index_case("secret.index.json", "{\"weight_map\":{\"a\":\"secret.safetensors\"}}",
               OCLIP_E_UNSUPPORTED, "shard 'secret.safetensors': not a safetensors file: data of "
               "an unknown kind");
    char digits[32];
    uint64_t h = 0;
    memcpy(&h, "S3CR3T-T", 8);
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)h);
    for (int via_index = 0; via_index < 2; via_index++) {
        snprintf(path, sizeof path, "%s/secret.%s", tmpdir,
                 via_index ? "index.json" : "safetensors");
        st = oclip_checkpoint_open(path, NULL, &ck, &err);
        CHECKF(st != OCLIP_OK && !strstr(err.msg, "S3CR3T") && !strstr(err.msg, digits),
               "a linked non-safetensors file shows its bytes: %s", err.msg);
        oclip_checkpoint_free(ck);
    }

    /* an empty shard and one cut short: the hint names the likely cause */
    write_file("emptyshard.safetensors", "", 0);
    index_case("emptyshard.index.json", "{\"weight_map\":{\"a\":\"emptyshard.safetensors\"}}",
               OCLIP_E_FORMAT, "hint: truncated download?");
    b = make_st("{" "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", pattern,
                16, &len);
    write_file("cut.safetensors", b, len - 5);
    free(b);
    index_case("cut.index.json", "{\"weight_map\":{\"a\":\"cut.safetensors\"}}", OCLIP_E_FORMAT,
               "end beyond the data buffer (11 bytes)\nhint: truncated download? compare the "
               "file's size with the original's, or download it again");

    /* shard names: a lone surrogate escape (read as U+FFFD) is no file name; a control
     * character is one, and is escaped in the message */
    index_case("sur.index.json", "{\"weight_map\":{\"a\":\"x\\udc80.safetensors\"}}",
               OCLIP_E_FORMAT, "holds U+FFFD or a lone surrogate escape");
    index_case("ctl.index.json", "{\"weight_map\":{\"a\\u001b[2J\":\"x\\u001b]0;pwn\\u0007\"}}",
               OCLIP_E_IO, "shard 'x\\x1b]0;pwn\\x07': cannot open");

    alarm(0);
    snprintf(path, sizeof path, "%s/blob", outside);
    unlink(path);
    snprintf(path, sizeof path, "%s/secret", outside);
    unlink(path);
}

static void test_sharded(void) {
    strcpy(tmpdir, "/tmp/oclip_test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        CHECKF(0, "mkdtemp failed");
        return;
    }
    /* shard 1: a [0,8) b [8,12) with metadata; shard 2: c [0,4) with other metadata */
    write_st(SH1, "{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             pattern, 12);
    write_st(SH2, "{\"__metadata__\":{\"format\":\"pt\",\"total_size\":\"999\",\"x\":\"y\"},"
                  "\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
             pattern + 100, 4);

    /* success: shards in sorted-name order (SH1 first though listed second), header order */
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", tmpdir);
    static const char good[] = "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                               "\"c\":\"" SH2 "\",\"a\":\"" SH1 "\",\"b\":\"" SH1 "\"}}";
    write_file("model.safetensors.index.json", good, strlen(good));
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    CHECKF(st == OCLIP_OK, "sharded: %s", err.msg);
    if (ck) {
        CHECK(oclip_checkpoint_container(ck) == OCLIP_CONTAINER_SAFETENSORS_SHARDED);
        CHECK(oclip_checkpoint_n_tensors(ck) == 3);
        static const char *const names[] = {"b", "a", "c"};
        static const size_t offs[] = {8, 0, 100};
        for (size_t i = 0; i < 3; i++) {
            const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
            CHECKF(t && strcmp(t->name, names[i]) == 0, "shard tensor %zu", i);
            if (t) CHECK(memcmp(t->data, pattern + offs[i], t->nbytes) == 0);
        }
        const oclip_tensor *a = oclip_checkpoint_find(ck, "a");
        CHECK(a && a->dtype == OCLIP_DTYPE_F32 && a->numel == 2);
        const oclip_tensor *c = oclip_checkpoint_find(ck, "c");
        CHECK(c && c->dtype == OCLIP_DTYPE_I32 && c->nbytes == 4);
        /* entries: total_size from the index, then the first shard's metadata only */
        const char *k, *v;
        CHECK(oclip_checkpoint_n_entries(ck) == 2);
        CHECK(oclip_checkpoint_entry(ck, 0, &k, &v) && strcmp(k, "total_size") == 0 &&
              strcmp(v, "16") == 0);
        CHECK(oclip_checkpoint_entry(ck, 1, &k, &v) && strcmp(k, "format") == 0 &&
              strcmp(v, "pt") == 0);
    }
    oclip_checkpoint_free(ck);

    /* a relative path (no folder part) also resolves next to the index */
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
        ck = NULL;
        st = oclip_checkpoint_open("model.safetensors.index.json", NULL, &ck, &err);
        CHECKF(st == OCLIP_OK, "relative index path: %s", err.msg);
        oclip_checkpoint_free(ck);
        CHECK(chdir(cwd) == 0);
    }

    /* consistency between weight_map and the shards */
    index_case("missing.index.json",
               "{\"weight_map\":{\"a\":\"" SH1 "\",\"b\":\"" SH1 "\",\"c\":\"" SH2 "\","
               "\"z\":\"" SH1 "\"}}",
               OCLIP_E_FORMAT, "tensor 'z' is listed in the weight_map of 'missing.index.json' "
               "for shard '" SH1 "', but that shard does not contain it");
    index_case("unlisted.index.json",
               "{\"weight_map\":{\"a\":\"" SH1 "\",\"c\":\"" SH2 "\"}}", OCLIP_E_FORMAT,
               "tensor 'b' is in shard '" SH1 "' but not listed in the weight_map of "
               "'unlisted.index.json'");
    index_case("wrong.index.json",
               "{\"weight_map\":{\"a\":\"" SH1 "\",\"b\":\"" SH1 "\",\"c\":\"" SH1 "\","
               "\"x\":\"" SH2 "\"}}",
               OCLIP_E_FORMAT, "tensor 'c' is in shard '" SH2 "' but the weight_map of "
               "'wrong.index.json' puts it in '" SH1 "'");

    /* shard names: only plain file names in the index's folder */
    index_case("trav.index.json", "{\"weight_map\":{\"a\":\"../x.safetensors\"}}",
               OCLIP_E_UNSAFE, "shard '../x.safetensors' is not a plain file name");
    index_case("abs.index.json", "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", OCLIP_E_UNSAFE,
               "path traversal");
    index_case("bslash.index.json", "{\"weight_map\":{\"a\":\"..\\\\x\"}}", OCLIP_E_UNSAFE,
               "path traversal");
    index_case("dot.index.json", "{\"weight_map\":{\"a\":\"..\"}}", OCLIP_E_UNSAFE,
               "path traversal");
    index_case("empty.index.json", "{\"weight_map\":{\"a\":\"\"}}", OCLIP_E_FORMAT,
               "empty shard file name");
    index_case("nul.index.json", "{\"weight_map\":{\"a\":\"x\\u0000/../y\"}}", OCLIP_E_FORMAT,
               "\\u0000");

    /* missing or bad shard files */
    index_case("nofile.index.json",
               "{\"weight_map\":{\"a\":\"model-00003-of-00003.safetensors\"}}", OCLIP_E_IO,
               "shard 'model-00003-of-00003.safetensors': cannot open");
    write_st("bad.safetensors", "{" T4("a", "[0,4]") "}", pattern, 8);
    index_case("badshard.index.json", "{\"weight_map\":{\"a\":\"bad.safetensors\"}}",
               OCLIP_E_FORMAT, "shard 'bad.safetensors': safetensors header: the data buffer "
               "has 4 trailing bytes");
    write_file("torch.bin", "PK\x03\x04rest", 8);
    index_case("zip.index.json", "{\"weight_map\":{\"a\":\"torch.bin\"}}", OCLIP_E_UNSUPPORTED,
               "shard 'torch.bin': a PyTorch zip file");

    /* malformed indexes */
    index_case("notjson.index.json", "{\"weight_map\":", OCLIP_E_FORMAT,
               "shard index is not valid JSON");
    index_case("arr.index.json", "[]", OCLIP_E_FORMAT, "shard index is not a JSON object");
    index_case("nomap.index.json", "{\"metadata\":{}}", OCLIP_E_FORMAT, "no \"weight_map\"");
    index_case("mapnotobj.index.json", "{\"weight_map\":[]}", OCLIP_E_FORMAT,
               "weight_map is an array, not an object");
    index_case("emptymap.index.json", "{\"weight_map\":{}}", OCLIP_E_FORMAT,
               "weight_map is empty");
    index_case("valnotstr.index.json", "{\"weight_map\":{\"a\":1}}", OCLIP_E_FORMAT,
               "weight_map['a'] is a number, not a file name");
    /* a duplicate key: transformers reads the index with Python's json, where the last one
     * wins; "a" -> SH2 first would fail (SH2 has no "a") */
    index_case("dupe.index.json",
               "{\"weight_map\":{\"a\":\"" SH2 "\",\"b\":\"" SH1 "\",\"c\":\"" SH2 "\","
               "\"a\":\"" SH1 "\"}}", OCLIP_OK, "");

    char outside[64];
    strcpy(outside, "/tmp/oclip_test_st_out_XXXXXX");
    CHECK(mkdtemp(outside) != NULL);
    test_shard_files(outside);
    CHECK(rmdir(outside) == 0);

    /* clean up */
    for (size_t i = 0; i < sizeof tmp_files / sizeof *tmp_files; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, tmp_files[i]);
        unlink(path);
    }
    CHECKF(rmdir(tmpdir) == 0, "temporary folder %s not empty", tmpdir);
}

int main(void) {
    init_pattern();
    test_valid();
    test_valid_small();
    test_header_length();
    test_not_json();
    test_entries();
    test_layout();
    test_sharded();
    return TEST_REPORT("test_safetensors");
}
