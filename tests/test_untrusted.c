/*
 * test_untrusted.c — what the library does with untrusted paths and text before any format
 * reader runs:
 *   1. files that are not regular files (a FIFO, a folder, a socket, a character device) given
 *      as a checkpoint, a shard index, an image or beside a checkpoint as its config: refused at
 *      once with a message, never a blocked open() (an alarm turns a hang into a failure);
 *   2. JSON as Python's json reads it (configs) and as serde_json in safetensors reads it
 *      (headers): lone surrogate escapes, NaN/Infinity, duplicate keys, long numbers, invalid
 *      escapes, nesting; a parse failure is never reported as memory;
 *   3. strings from files in messages: control and bidirectional characters and bytes that are
 *      not UTF-8 are escaped (oc_esc, and oc_err_set/wrap/hint for everything they format).
 */
#define _DEFAULT_SOURCE /* mkfifo, symlink */
#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "oclip.h"
#include "test.h"

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_untrusted: timed out: an open() blocked (FIFO?)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* No byte below 0x20 (but the '\n' before "hint: ") and no DEL in a message. */
static bool printable_msg(const char *m) {
    for (; *m; m++)
        if (((unsigned char)*m < 0x20 && *m != '\n') || *m == 0x7f) return false;
    return true;
}

/* =============================================================================================
 * 1. Paths that are no regular file
 */
static char tmpdir[64];

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* oclip_checkpoint_open(path) fails at once with OCLIP_E_IO and `needle`. */
static void ckpt_refused_(const char *path, const char *needle, int line) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    double t0 = now_s();
    oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
    double dt = now_s() - t0;
    CHECKF(st == OCLIP_E_IO && ck == NULL, "line %d: %s: status %s; msg: %s", line, path,
           oclip_status_str(st), err.msg);
    CHECKF(strstr(err.msg, needle) != NULL && strstr(err.msg, path) != NULL,
           "line %d: %s: message lacks \"%s\" or the path: %s", line, path, needle, err.msg);
    CHECKF(dt < 1.0, "line %d: %s: took %.2f s", line, path, dt);
    oclip_checkpoint_free(ck);
}
#define ckpt_refused(path, needle) ckpt_refused_(path, needle, __LINE__)

static void test_not_regular(void) {
    char fifo[128], dir[128], sock[128], index[128], img[128], folder[128], ck_path[256],
        cfg[256];
    strcpy(tmpdir, "/tmp/oclip_test_untrusted_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    signal(SIGALRM, on_alarm);
    alarm(20);

    /* a FIFO as the checkpoint: open(O_RDONLY) waited for a writer forever */
    path_in(fifo, sizeof fifo, "model.safetensors");
    CHECK(mkfifo(fifo, 0600) == 0);
    ckpt_refused(fifo, "is a FIFO (named pipe), not a regular file");
    /* ... also under the names of the other containers and of a shard index */
    path_in(index, sizeof index, "model.safetensors.index.json");
    CHECK(mkfifo(index, 0600) == 0);
    ckpt_refused(index, "is a FIFO (named pipe), not a regular file");
    /* a folder, a socket, character devices */
    path_in(dir, sizeof dir, "folder.bin");
    CHECK(mkdir(dir, 0700) == 0);
    ckpt_refused(dir, "is a directory, not a regular file");
    path_in(sock, sizeof sock, "socket.pt");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(sock) < sizeof addr.sun_path) memcpy(addr.sun_path, sock, strlen(sock) + 1);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&addr, sizeof addr) == 0);
    ckpt_refused(sock, "is a socket, not a regular file");
    if (s >= 0) close(s);
    ckpt_refused("/dev/null", "is a character device, not a regular file");
    ckpt_refused("/dev/zero", "is a character device, not a regular file");
    /* a link to a FIFO is the FIFO */
    char link[128];
    path_in(link, sizeof link, "link.pt");
    CHECK(symlink(fifo, link) == 0);
    ckpt_refused(link, "is a FIFO (named pipe)");
    /* the hint says what to do */
    oclip_error err;
    oclip_checkpoint *ck = NULL;
    CHECK(oclip_checkpoint_open(fifo, NULL, &ck, &err) == OCLIP_E_IO &&
          strstr(err.msg, "\nhint: oclip reads checkpoints, configs and images from regular files"));

    /* a FIFO as an image */
    path_in(img, sizeof img, "cat.png");
    CHECK(mkfifo(img, 0600) == 0);
    oclip_image *im = NULL;
    double t0 = now_s();
    oclip_status st = oclip_image_load(img, NULL, &im, &err);
    CHECKF(st == OCLIP_E_IO && !im && strstr(err.msg, "is a FIFO"), "FIFO image: %s: %s",
           oclip_status_str(st), err.msg);
    CHECK(now_s() - t0 < 1.0);
    oclip_image_free(im);

    /* a FIFO where open_clip_config.json belongs, beside a regular checkpoint: no hang (the
     * config is not a regular file, so there is none) */
    path_in(folder, sizeof folder, "m");
    CHECK(mkdir(folder, 0700) == 0);
    snprintf(ck_path, sizeof ck_path, "%s/open_clip_model.safetensors", folder);
    FILE *f = fopen(ck_path, "wb");
    static const char empty_st[] = "\x08\0\0\0\0\0\0\0{}      ";
    CHECK(f && fwrite(empty_st, 1, 16, f) == 16 && fclose(f) == 0);
    snprintf(cfg, sizeof cfg, "%s/open_clip_config.json", folder);
    CHECK(mkfifo(cfg, 0600) == 0);
    oclip_source *src = NULL;
    t0 = now_s();
    st = oclip_source_resolve(ck_path, NULL, &src, &err);
    CHECKF((st == OCLIP_OK && !strstr(oclip_source_config_origin(src), "open_clip_config")) ||
               st == OCLIP_E_IO,
           "FIFO config: %s: %s", oclip_status_str(st), st ? err.msg : oclip_source_config_origin(src));
    CHECK(now_s() - t0 < 1.0);
    oclip_source_free(src);

    alarm(0);
    unlink(cfg);
    unlink(ck_path);
    rmdir(folder);
    unlink(img);
    unlink(link);
    unlink(sock);
    rmdir(dir);
    unlink(index);
    unlink(fifo);
    CHECKF(rmdir(tmpdir) == 0, "temporary folder %s not empty", tmpdir);
}

/* =============================================================================================
 * 2. JSON
 */

/* A model config with `extra` members added at the end. */
static oclip_status model_cfg(const char *extra, oclip_model_config *m, oclip_error *err) {
    char json[4096];
    snprintf(json, sizeof json, "{\"embed_dim\":8,\"vision_cfg\":{},\"text_cfg\":{}%s}", extra);
    return oclip_config_parse(json, strlen(json), m, err);
}

static void test_json_configs(void) {
    oclip_model_config m;
    oclip_error err;
    oclip_status st;
    /* Python's json reads a lone surrogate escape (OpenCLIP would load the config); it was
     * reported as "out of memory parsing its JSON" */
    static const char *const lone[] = {"\"\\ud800\"", "\"x\\udc00y\"", "\"\\ud800\\ud800\"",
                                       "\"\\ud800\\u0041\"", "\"\\udbff\""};
    for (size_t i = 0; i < sizeof lone / sizeof *lone; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"model_cfg\":{\"embed_dim\":8,\"vision_cfg\":{},"
                 "\"text_cfg\":{}},\"note\":%s,\"%s\":1}", lone[i], "k\\ud800");
        st = oclip_config_parse_open_clip(json, strlen(json), &m, NULL, &err);
        CHECKF(st == OCLIP_OK, "lone surrogate %s in open_clip_config.json: %s: %s", lone[i],
               oclip_status_str(st), err.msg);
    }
    static const char hf[] = "{\"model_type\":\"clip\",\"text_config\":{},\"vision_config\":{},"
                             "\"_name_or_path\":\"\\ud83d\\ud83d\"}";
    st = oclip_config_from_hf(hf, strlen(hf), &m, &err);
    CHECKF(st == OCLIP_OK, "lone surrogate in an HF config.json: %s: %s", oclip_status_str(st),
           err.msg);

    /* NaN, Infinity, -Infinity: numbers to Python's json (outside model_cfg OpenCLIP does not
     * look at them); where a value must be finite the config check says so */
    static const char nan_doc[] = "{\"model_cfg\":{\"embed_dim\":8,\"vision_cfg\":{},"
                                  "\"text_cfg\":{}},\"x\":[NaN,Infinity,-Infinity]}";
    st = oclip_config_parse_open_clip(nan_doc, strlen(nan_doc), &m, NULL, &err);
    CHECKF(st == OCLIP_OK, "NaN outside model_cfg: %s: %s", oclip_status_str(st), err.msg);
    st = model_cfg(",\"init_logit_bias\":NaN", &m, &err);
    CHECKF(st == OCLIP_E_FORMAT && strstr(err.msg, "init_logit_bias: expected a number or null, "
                                                   "got nan"), "NaN logit bias: %s", err.msg);

    /* duplicate keys: the last value wins, as in Python (cJSON's lookup finds the first: the HF
     * config reader took the first; the model-config reader already looked for the last) */
    static const char hf_dup[] = "{\"model_type\":\"clip\",\"text_config\":{},\"vision_config\":{},"
                                 "\"projection_dim\":256,\"projection_dim\":640}";
    st = oclip_config_from_hf(hf_dup, strlen(hf_dup), &m, &err);
    CHECKF(st == OCLIP_OK && m.embed_dim == 640, "duplicate projection_dim: %s, %d", err.msg,
           m.embed_dim);
    st = model_cfg(",\"embed_dim\":16", &m, &err);
    CHECKF(st == OCLIP_OK && m.embed_dim == 16, "duplicate embed_dim: %s, %d", err.msg,
           m.embed_dim);
    st = model_cfg(",\"vision_cfg\":{\"width\":64}", &m, &err);
    CHECKF(st == OCLIP_OK && m.vision.width == 64, "duplicate vision_cfg: %s, %d", err.msg,
           m.vision.width);

    /* numbers of any length (Python reads them; oclip computes those over 32 characters) */
    char extra[256];
    snprintf(extra, sizeof extra, ",\"init_logit_scale\":2.%0100d5", 0);
    st = model_cfg(extra, &m, &err);
    CHECKF(st == OCLIP_OK, "100-digit number: %s", err.msg);

    /* what Python refuses is a syntax error with its place, never "out of memory" */
    static const struct {
        const char *extra, *needle;
    } bad[] = {
        {",\"k\":\"\\uzz00\"", "byte 50: an invalid \\u escape"},
        {",\"k\":01", "expected ',' or '}'"},
        {",\"k\":1.", "a number with no digit after its '.'"},
        {",\"k\":\"a\tb\"", "a raw control character inside a string"},
        {",\"k\":nan", "expected a value"},
        {",\"k\":\"\\x\"", "an invalid escape"},
        {",}", "expected a string (a key)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        st = model_cfg(bad[i].extra, &m, &err);
        CHECKF(st == OCLIP_E_FORMAT && strstr(err.msg, "model config is not valid JSON (error "
                                                       "near line 1, column ") &&
               strstr(err.msg, bad[i].needle), "%s: %s: %s", bad[i].extra,
               oclip_status_str(st), err.msg);
    }
    /* nesting past the parser's limit is said as such */
    char *deep = malloc(5000);
    if (deep) {
        size_t k = (size_t)snprintf(deep, 5000, "{\"embed_dim\":8,\"x\":");
        for (int d = 0; d < 1500; d++) deep[k++] = '[';
        for (int d = 0; d < 1500; d++) deep[k++] = ']';
        deep[k++] = '}';
        st = oclip_config_parse(deep, k, &m, &err);
        CHECKF(st == OCLIP_E_FORMAT && strstr(err.msg, "nested deeper than 1000 levels"),
               "1500 levels: %s", err.msg);
        free(deep);
    }
}

/* The reader itself: the two dialects side by side. */
static void test_json_dialects(void) {
    oclip_error err;
    cJSON *j = NULL;
    /* Python: U+FFFD for a lone surrogate (the escape's 6 bytes become \ufffd), a pair stays
     * one character */
    static const char t1[] = "[\"a\\ud800b\", \"\\ud83d\\ude00\", \"\\udc00\\ud800\"]";
    CHECK(oc_json_parse_text(t1, strlen(t1), OC_JSON_PYTHON, "t", &j, &err) == OCLIP_OK);
    CHECK(j && strcmp(cJSON_GetArrayItem(j, 0)->valuestring, "a\xef\xbf\xbd" "b") == 0);
    CHECK(j && strcmp(cJSON_GetArrayItem(j, 1)->valuestring, "\xf0\x9f\x98\x80") == 0);
    CHECK(j && strcmp(cJSON_GetArrayItem(j, 2)->valuestring,
                      "\xef\xbf\xbd\xef\xbf\xbd") == 0);
    cJSON_Delete(j);
    CHECK(oc_json_parse_text(t1, strlen(t1), OC_JSON_SERDE, "t", &j, &err) == OCLIP_E_FORMAT &&
          !j && strstr(err.msg, "t: a lone UTF-16 surrogate escape") && strstr(err.msg, "byte 3"));

    /* Python: NaN, Infinity, long numbers as float() reads them, in document order */
    static const char t2[] = "{\"a\":[NaN,1,-Infinity],\"b\":{\"c\":Infinity},\"d\":"
                             "1000000000000000000000000000000000000000000000000000000000000000000001,"
                             "\"e\":2}";
    CHECK(oc_json_parse_text(t2, strlen(t2), OC_JSON_PYTHON, "t", &j, &err) == OCLIP_OK);
    if (j) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "a");
        CHECK(isnan(cJSON_GetArrayItem(a, 0)->valuedouble));
        CHECK(cJSON_GetArrayItem(a, 1)->valuedouble == 1);
        CHECK(isinf(cJSON_GetArrayItem(a, 2)->valuedouble) &&
              cJSON_GetArrayItem(a, 2)->valuedouble < 0);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(j, "b"), "c");
        CHECK(isinf(c->valuedouble) && c->valuedouble > 0);
        CHECK(cJSON_GetObjectItemCaseSensitive(j, "d")->valuedouble == 1e69);
        CHECK(cJSON_GetObjectItemCaseSensitive(j, "e")->valuedouble == 2);
    }
    cJSON_Delete(j);
    CHECK(oc_json_parse_text(t2, strlen(t2), OC_JSON_SERDE, "t", &j, &err) == OCLIP_E_FORMAT &&
          strstr(err.msg, "NaN or Infinity"));

    /* duplicate keys: Python keeps the last value at the first key's place; serde's reader
     * here keeps every member for the caller to judge */
    static const char t3[] = "{\"a\":1,\"b\":2,\"a\":3,\"c\":{\"x\":1,\"x\":[2]},\"a\":4}";
    CHECK(oc_json_parse_text(t3, strlen(t3), OC_JSON_PYTHON, "t", &j, &err) == OCLIP_OK);
    if (j) {
        char *out = cJSON_PrintUnformatted(j);
        CHECKF(out && strcmp(out, "{\"a\":4,\"b\":2,\"c\":{\"x\":[2]}}") == 0, "dedupe: %s",
               out ? out : "(null)");
        free(out);
    }
    cJSON_Delete(j);
    CHECK(oc_json_parse_text(t3, strlen(t3), OC_JSON_SERDE, "t", &j, &err) == OCLIP_OK);
    CHECK(j && cJSON_GetArraySize(j) == 5);
    cJSON_Delete(j);

    /* exactly 1000 levels parse, 1001 are refused (cJSON's CJSON_NESTING_LIMIT) */
    char deep[2 * 1001];
    for (int d = 1000; d <= 1001; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        oclip_status st = oc_json_parse_text(deep, 2 * (size_t)d, OC_JSON_PYTHON, "t", &j, &err);
        CHECKF(d == 1000 ? st == OCLIP_OK : st == OCLIP_E_FORMAT && strstr(err.msg, "nested"),
               "depth %d: %s", d, err.msg);
        cJSON_Delete(j);
    }
    /* never past the n bytes given; whitespace only after the value */
    static const char t4[] = "{\"a\":1}  x";
    CHECK(oc_json_parse_text(t4, 9, OC_JSON_PYTHON, "t", &j, &err) == OCLIP_OK);
    cJSON_Delete(j);
    CHECK(oc_json_parse_text(t4, 10, OC_JSON_PYTHON, "t", &j, &err) == OCLIP_E_FORMAT &&
          strstr(err.msg, "unexpected byte 0x78 after the JSON object"));
    CHECK(oc_json_parse_text(t4, 5, OC_JSON_PYTHON, "t", &j, &err) == OCLIP_E_FORMAT &&
          strstr(err.msg, "the text ends inside the JSON value"));
    /* the oc_json_parse entry point: *end at the error, NULL for memory only */
    const char *end = NULL;
    static const char t5[] = "[1, 2, 01]";
    CHECK(oc_json_parse(t5, strlen(t5), &end) == NULL && end == t5 + 8);
}

/* =============================================================================================
 * 3. Escaping
 */
static void test_escaping(void) {
    char out[64];
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain.name_1", "plain.name_1"},
        {"a\x1b[31mred", "a\\x1b[31mred"},
        {"bell\x07 del\x7f nl\n tab\t", "bell\\x07 del\\x7f nl\\x0a tab\\x09"},
        {"back\\slash", "back\\\\slash"},
        {"caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5"},     /* printable UTF-8 kept */
        {"c1 \xc2\x9b[2J", "c1 \\u009b[2J"},                          /* C1 CSI */
        {"rlo \xe2\x80\xae evil", "rlo \\u202e evil"},                 /* bidi override */
        {"bad \xff \xc0\xaf \xed\xa0\x80", "bad \\xff \\xc0\\xaf \\xed\\xa0\\x80"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        oc_esc(out, sizeof out, cases[i].in, strlen(cases[i].in));
        CHECKF(strcmp(out, cases[i].want) == 0, "oc_esc(%zu): got \"%s\"", i, out);
    }
    /* a NUL inside the given length is escaped too; output is cut with "..." */
    oc_esc(out, sizeof out, "a\0b", 3);
    CHECK(strcmp(out, "a\\x00b") == 0);
    char small[16];
    oc_esc(small, sizeof small, "\x1b\x1b\x1b\x1b\x1b\x1b", 6);
    CHECKF(strcmp(small, "\\x1b\\x1b\\x1b...") == 0 && strlen(small) < sizeof small, "cut: %s", small);

    /* oc_err_set, oc_err_wrap and oc_err_hint escape what they format */
    oclip_error e;
    oc_err_set(&e, OCLIP_E_FORMAT, "tensor '%s'", "\x1b]0;pwn\x07");
    oc_err_wrap(&e, "loading '%s'", "x\ny.pt");
    oc_err_hint(&e, "%s", "\x1b[2J");
    CHECKF(strcmp(e.msg, "loading 'x\\x0ay.pt': tensor '\\x1b]0;pwn\\x07'\nhint: \\x1b[2J") == 0,
           "message: %s", e.msg);
    CHECK(printable_msg(e.msg));
}

/* The Hugging Face cache's small text files (refs/main, the token file) read without blocking:
 * a FIFO as refs/main makes hf-hub: resolution fail at once instead of waiting for a writer. */
static void test_cache_fifo(void) {
    char root[96], d[256], ref[300];
    strcpy(root, "/tmp/oclip_test_cache_XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    snprintf(d, sizeof d, "%s/models--org--m", root);
    CHECK(mkdir(d, 0700) == 0);
    snprintf(d, sizeof d, "%s/models--org--m/refs", root);
    CHECK(mkdir(d, 0700) == 0);
    snprintf(ref, sizeof ref, "%s/main", d);
    CHECK(mkfifo(ref, 0600) == 0);
    setenv("HF_HUB_CACHE", root, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    alarm(10); /* a regression hangs: SIGALRM ends the test as a failure */
    double t0 = now_s();
    oclip_source *src = NULL;
    oclip_error err;
    oclip_status st = oclip_source_resolve("hf-hub:org/m", NULL, &src, &err);
    CHECKF(st != OCLIP_OK && now_s() - t0 < 1.0, "FIFO refs/main: %s: %s",
           oclip_status_str(st), err.msg);
    alarm(0);
    oclip_source_free(src);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
    unlink(ref);
    rmdir(d);
    snprintf(d, sizeof d, "%s/models--org--m", root);
    rmdir(d);
    CHECK(rmdir(root) == 0);
}

int main(void) {
    setvbuf(stderr, NULL, _IONBF, 0);
    test_cache_fifo();
    test_not_regular();
    test_json_configs();
    test_json_dialects();
    test_escaping();
    return TEST_REPORT("test_untrusted");
}
