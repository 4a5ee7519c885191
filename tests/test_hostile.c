/*
 * test_hostile.c — hostile and wrong inputs must fail cleanly: the right status, a message that
 * names the file, no crash, no hang, no unbounded memory.
 *
 *   1. every case of tests/fixtures/hostile/manifest.json (files written by the fixture
 *      generator next to what torch/safetensors did with them);
 *   2. files that are no checkpoint at all (tests/fixtures/notckpt/), each named for what it is;
 *   3. pickles built here, byte by byte, inside a minimal in-memory torch zip: cycles, a
 *      200000-entry state dict, truncated strings, odd opcodes, a stride-0 view, TorchScript
 *      module graphs with shared and cyclic submodules;
 *   4. regression inputs found by the fuzzers (fuzz/).
 *
 * Cases that could crash or hang run in a child process with an alarm, so one bad case is
 * reported as a failure and the rest still run. Run from the repository root.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

#define HOSTILE_DIR "tests/fixtures/hostile/"
#define NOTCKPT_DIR "tests/fixtures/notckpt/"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* The time limits below (budgets and the children's alarms) are multiplied by
 * OCLIP_TEST_TIME_SCALE when it is a number above 1: scripts/test-arm64.sh runs the suite under
 * qemu-user, many times slower than native. */
static double time_scale(void) {
    const char *s = getenv("OCLIP_TEST_TIME_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;
    return v > 1.0 && v <= 1000.0 ? v : 1.0;
}

/* =============================================================================================
 * Running a case in a child process (crash and hang containment)
 */

/* Runs fn(arg) in a child with a `seconds` alarm; the child's CHECK tallies come back through a
 * pipe. A crash, a sanitizer report (non-zero exit) or the alarm count as one failure. */
static void guarded(const char *what, void (*fn)(const void *), const void *arg, unsigned seconds) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        test_passed_ = test_failed_ = 0;
        alarm((unsigned)(seconds * time_scale()));
        fn(arg);
        int tally[2] = {test_passed_, test_failed_};
        if (write(fds[1], tally, sizeof tally) != (ssize_t)sizeof tally) _exit(3);
        close(fds[1]);
        exit(0); /* exit, not _exit: LeakSanitizer runs at exit and fails the child on a leak */
    }
    close(fds[1]);
    int tally[2] = {0, 0};
    ssize_t got = read(fds[0], tally, sizeof tally);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    if (got == (ssize_t)sizeof tally) {
        test_passed_ += tally[0];
        test_failed_ += tally[1];
    }
    if (WIFSIGNALED(status)) {
        CHECKF(0, "%s: %s", what,
               WTERMSIG(status) == SIGALRM ? "timed out (hang?)" : "crashed");
        if (WTERMSIG(status) != SIGALRM)
            fprintf(stderr, "    (signal %d)\n", WTERMSIG(status));
    } else {
        CHECKF(WEXITSTATUS(status) == 0 && got == (ssize_t)sizeof tally,
               "%s: child exited with status %d (sanitizer report above?)", what,
               WEXITSTATUS(status));
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long max_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024; /* Linux: KiB */
}

/* =============================================================================================
 * Byte buffers, a minimal zip writer and a pickle writer
 */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void b_u8(buf *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    b_put(b, &c, 1);
}
static void b_u16(buf *b, unsigned v) {
    b_u8(b, v & 0xff);
    b_u8(b, (v >> 8) & 0xff);
}
static void b_u32(buf *b, uint32_t v) {
    b_u16(b, v & 0xffff);
    b_u16(b, v >> 16);
}
static void b_str(buf *b, const char *s) { b_put(b, s, strlen(s)); }

typedef struct {
    const char *name;
    const void *data;
    size_t len;
    int crc; /* CRC-32 written: 0 none (0, as torch with set_crc32_options(False)), 1 the right
              * one, 2 a wrong one */
} zentry;

/* zlib's crc32, bit by bit (independent of the reader's table-driven one) */
static uint32_t crc32_bitwise(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static uint32_t entry_crc(const zentry *e) {
    if (e->crc == 0) return 0;
    uint32_t c = crc32_bitwise(e->data, e->len);
    return e->crc == 1 ? c : c ^ 0x10000u;
}

/* A zip of stored entries: local headers + data, central directory, EOCD (no zip64). */
static buf make_zip(const zentry *e, size_t n) {
    buf z = {0}, cd = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t off = (uint32_t)z.n;
        size_t nl = strlen(e[i].name);
        b_u32(&z, 0x04034b50u);
        b_u16(&z, 20); /* version needed */
        b_u16(&z, 0);  /* flags */
        b_u16(&z, 0);  /* method: stored */
        b_u16(&z, 0);  /* time */
        b_u16(&z, 0x21); /* date */
        b_u32(&z, entry_crc(&e[i]));
        b_u32(&z, (uint32_t)e[i].len);
        b_u32(&z, (uint32_t)e[i].len);
        b_u16(&z, (unsigned)nl);
        b_u16(&z, 0);
        b_str(&z, e[i].name);
        b_put(&z, e[i].data, e[i].len);

        b_u32(&cd, 0x02014b50u);
        b_u16(&cd, 20);
        b_u16(&cd, 20);
        b_u16(&cd, 0);
        b_u16(&cd, 0);
        b_u16(&cd, 0);
        b_u16(&cd, 0x21);
        b_u32(&cd, entry_crc(&e[i]));
        b_u32(&cd, (uint32_t)e[i].len);
        b_u32(&cd, (uint32_t)e[i].len);
        b_u16(&cd, (unsigned)nl);
        b_u16(&cd, 0); /* extra */
        b_u16(&cd, 0); /* comment */
        b_u16(&cd, 0); /* disk */
        b_u16(&cd, 0); /* internal attributes */
        b_u32(&cd, 0); /* external attributes */
        b_u32(&cd, off);
        b_str(&cd, e[i].name);
    }
    uint32_t cd_off = (uint32_t)z.n;
    b_put(&z, cd.p, cd.n);
    b_u32(&z, 0x06054b50u);
    b_u16(&z, 0);
    b_u16(&z, 0);
    b_u16(&z, (unsigned)n);
    b_u16(&z, (unsigned)n);
    b_u32(&z, (uint32_t)cd.n);
    b_u32(&z, cd_off);
    b_u16(&z, 0);
    free(cd.p);
    return z;
}

/* A torch-like archive "a/": data.pkl, version, data/0 (when data != NULL) and, for TorchScript,
 * constants.pkl. */
static buf torch_zip(const buf *pkl, const void *data, size_t dlen, int torchscript) {
    static const uint8_t empty_pkl[] = {0x80, 0x02, ')', '.'};
    zentry e[4];
    size_t n = 0;
    e[n++] = (zentry){"a/data.pkl", pkl->p, pkl->n, 0};
    if (torchscript) e[n++] = (zentry){"a/constants.pkl", empty_pkl, sizeof empty_pkl, 0};
    e[n++] = (zentry){"a/version", "3\n", 2, 0};
    if (data) e[n++] = (zentry){"a/data/0", data, dlen, 0};
    return make_zip(e, n);
}

/* Pickle opcodes used below (Lib/pickle.py names). */
#define P_PROTO2 "\x80\x02"
enum {
    MARK = '(', STOP = '.', EMPTY_DICT = '}', EMPTY_LIST = ']', EMPTY_TUPLE = ')',
    SETITEM = 's', SETITEMS = 'u', APPEND = 'a', TUPLE = 't', TUPLE1 = 0x85, REDUCE = 'R',
    BUILD = 'b', NEWOBJ = 0x81, NEWFALSE = 0x89, BINPERSID = 'Q', BINPUT = 'q', BINGET = 'h',
    LONG_BINPUT = 'r', LONG_BINGET = 'j', LONG1 = 0x8a, BINUNICODE = 'X'
};

static void pk_op(buf *b, int op) { b_u8(b, (unsigned)op); }
static void pk_proto(buf *b) { b_str(b, P_PROTO2); }
static void pk_str(buf *b, const char *s) {
    pk_op(b, BINUNICODE);
    b_u32(b, (uint32_t)strlen(s));
    b_str(b, s);
}
static void pk_global(buf *b, const char *mod, const char *name) {
    pk_op(b, 'c');
    b_str(b, mod);
    b_u8(b, '\n');
    b_str(b, name);
    b_u8(b, '\n');
}
static void pk_int(buf *b, int64_t v) {
    if (v >= 0 && v < 256) {
        pk_op(b, 'K');
        b_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        pk_op(b, 'M');
        b_u16(b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pk_op(b, 'J');
        b_u32(b, (uint32_t)(int32_t)v);
    } else {
        pk_op(b, LONG1);
        b_u8(b, 8);
        for (int i = 0; i < 8; i++) b_u8(b, (unsigned)(((uint64_t)v >> (8 * i)) & 0xff));
    }
}
static void pk_put(buf *b, uint32_t idx) {
    pk_op(b, LONG_BINPUT);
    b_u32(b, idx);
}
static void pk_get(buf *b, uint32_t idx) {
    pk_op(b, LONG_BINGET);
    b_u32(b, idx);
}
static void pk_int_tuple(buf *b, const int64_t *v, int n) {
    pk_op(b, MARK);
    for (int i = 0; i < n; i++) pk_int(b, v[i]);
    pk_op(b, TUPLE);
}

/* The persistent id of FloatStorage "0" with `numel` elements, as torch.save writes it. */
static void pk_storage(buf *b, int64_t numel) {
    pk_op(b, MARK);
    pk_str(b, "storage");
    pk_global(b, "torch", "FloatStorage");
    pk_str(b, "0");
    pk_str(b, "cpu");
    pk_int(b, numel);
    pk_op(b, TUPLE);
    pk_op(b, BINPERSID);
}

/* _rebuild_tensor_v2(storage "0", offset, size, stride, False, OrderedDict()). `offset` is
 * written by the caller's callback when offset_fn is set (for odd integer encodings). */
static void pk_tensor_ex(buf *b, int64_t storage_numel, void (*offset_fn)(buf *), int64_t offset,
                         const int64_t *shape, const int64_t *stride, int nd) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pk_op(b, MARK);
    pk_storage(b, storage_numel);
    if (offset_fn) offset_fn(b);
    else pk_int(b, offset);
    pk_int_tuple(b, shape, nd);
    pk_int_tuple(b, stride, nd);
    pk_op(b, NEWFALSE);
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, EMPTY_TUPLE);
    pk_op(b, REDUCE);
    pk_op(b, TUPLE);
    pk_op(b, REDUCE);
}

/* A one-dimensional contiguous tensor over a storage of `storage_numel` floats. */
static void pk_tensor1(buf *b, int64_t storage_numel, int64_t n) {
    int64_t shape[1] = {n}, stride[1] = {1};
    pk_tensor_ex(b, storage_numel, NULL, 0, shape, stride, 1);
}

static const float four_floats[4] = {1.0f, 2.0f, 3.0f, 4.0f};

/* =============================================================================================
 * Opening built archives
 */

/* Opens the bytes as "<name>" and checks the outcome: status `want` exactly, and for a failure a
 * message that names the file and contains `needle` (NULL: any). Returns the checkpoint on
 * success (caller frees) and NULL otherwise. Every case states the one outcome that is right for
 * it; no case accepts "anything". */
static oclip_checkpoint *open_expect_(const buf *z, const char *name, oclip_status want,
                                      const char *needle, const char *what, int line) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    double t0 = now_s();
    long rss0 = max_rss_mib();
    oclip_status st = oclip_checkpoint_open_memory(z->p, z->n, name, NULL, &ck, &err);
    double dt = now_s() - t0;
    CHECKF(dt < (UNDER_SANITIZER ? 15.0 : 3.0), "line %d (%s): took %.2f s", line, what, dt);
    /* a refusal costs < 300 MiB (ASan's shadow and quarantine add their own); loads that are
     * meant to be large (200000 tensors) have their own bounds */
    CHECKF(st == OCLIP_OK || max_rss_mib() - rss0 < (UNDER_SANITIZER ? 1024 : 300),
           "line %d (%s): peak memory grew by %ld MiB", line, what, max_rss_mib() - rss0);
    CHECKF(st == want, "line %d (%s): status %s, expected %s; msg: %s", line, what,
           oclip_status_str(st), oclip_status_str(want), st ? err.msg : "");
    if (st != OCLIP_OK) {
        CHECKF(ck == NULL, "line %d (%s): *out set on failure", line, what);
        CHECKF(err.code == st && err.msg[0] != '\0', "line %d (%s): empty message or code %d",
               line, what, err.code);
        CHECKF(strstr(err.msg, name) != NULL, "line %d (%s): message does not name '%s': %s",
               line, what, name, err.msg);
        CHECKF(!needle || strstr(err.msg, needle) != NULL, "line %d (%s): message lacks \"%s\": %s",
               line, what, needle, err.msg);
        const char *c = err.msg;
        while (*c && ((unsigned char)*c >= 0x20 || *c == '\n') && *c != 0x7f) c++;
        CHECKF(*c == '\0', "line %d (%s): raw control byte 0x%02x in the message", line, what,
               (unsigned char)*c);
        return NULL;
    }
    return ck;
}
#define open_expect(z, want, needle, what) \
    open_expect_(z, "built.pt", want, needle, what, __LINE__)

/* =============================================================================================
 * 1. The hostile fixtures of manifest.json
 */

/* "format" cases for which a limit (OCLIP_E_NOMEM) is an equally good answer: the hostile value
 * is a size, and refusing it as over a limit is as safe as refusing it as malformed. */
static const char *const format_or_limit[] = {
    "size_overflow.pt",
    "legacy_storage_count.pt",
    "st_header_len_huge.safetensors",
    "long1_numel.pt",
};

static bool in_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

static void test_manifest(void) {
    size_t len = 0;
    char *text = (char *)read_file(HOSTILE_DIR "manifest.json", &len);
    CHECKF(text != NULL, "cannot read %smanifest.json (run from the repository root)", HOSTILE_DIR);
    if (!text) return;
    cJSON *root = cJSON_ParseWithLength(text, len);
    CHECKF(root != NULL, "manifest.json is not JSON");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    int n = cJSON_GetArraySize(files);
    CHECKF(cJSON_IsArray(files) && n >= 30, "manifest lists %d cases, expected at least 30", n);
    int ran = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, files) {
        const cJSON *jp = cJSON_GetObjectItemCaseSensitive(c, "path");
        const cJSON *jw = cJSON_GetObjectItemCaseSensitive(c, "what");
        const cJSON *je = cJSON_GetObjectItemCaseSensitive(c, "expect");
        if (!cJSON_IsString(jp) || !cJSON_IsString(je)) {
            CHECKF(0, "manifest case %d lacks path/expect", ran);
            continue;
        }
        const char *rel = jp->valuestring, *exp = je->valuestring;
        const char *what = cJSON_IsString(jw) ? jw->valuestring : "";
        char path[512];
        snprintf(path, sizeof path, "%s%s", HOSTILE_DIR, rel);

        oclip_status want;
        bool any = false;
        if (strcmp(exp, "unsafe") == 0) want = OCLIP_E_UNSAFE;
        else if (strcmp(exp, "format") == 0) want = OCLIP_E_FORMAT;
        else if (strcmp(exp, "unsupported") == 0) want = OCLIP_E_UNSUPPORTED;
        else if (strcmp(exp, "any-error") == 0) want = OCLIP_E_FORMAT, any = true;
        else {
            CHECKF(0, "%s: unknown expectation '%s'", rel, exp);
            continue;
        }
        bool nomem_ok = want == OCLIP_E_FORMAT &&
                        in_list(rel, format_or_limit, sizeof format_or_limit / sizeof *format_or_limit);

        /* from the file, and from memory under the same name: same status both ways */
        size_t flen = 0;
        unsigned char *bytes = read_file(path, &flen);
        CHECKF(bytes != NULL, "%s: cannot read the fixture", path);
        for (int via_mem = 0; via_mem < 2 && bytes; via_mem++) {
            oclip_checkpoint *ck = NULL;
            oclip_error err;
            double t0 = now_s();
            oclip_status st = via_mem
                ? oclip_checkpoint_open_memory(bytes, flen, path, NULL, &ck, &err)
                : oclip_checkpoint_open(path, NULL, &ck, &err);
            double dt = now_s() - t0;
            bool ok_status = any ? (st == OCLIP_E_FORMAT || st == OCLIP_E_UNSUPPORTED ||
                                    st == OCLIP_E_UNSAFE || st == OCLIP_E_NOMEM)
                                 : (st == want || (nomem_ok && st == OCLIP_E_NOMEM));
            CHECKF(ok_status, "%s (%s; expect %s, via %s): got %s; msg: %s", rel, what, exp,
                   via_mem ? "memory" : "file", oclip_status_str(st), err.msg);
            CHECKF(ck == NULL, "%s: *out set although it failed (status %d)", rel, st);
            CHECKF(st == OCLIP_OK || (err.code == st && err.msg[0] != '\0'),
                   "%s: empty message or err.code %d != %d", rel, err.code, st);
            CHECKF(st == OCLIP_OK || strstr(err.msg, path) != NULL,
                   "%s: message does not name the file: %s", rel, err.msg);
            CHECKF(dt < (UNDER_SANITIZER ? 10.0 : 2.0) * time_scale(), "%s: took %.2f s", rel, dt);
            oclip_checkpoint_free(ck);
        }
        free(bytes);
        ran++;
    }
    cJSON_Delete(root);
    free(text);
    fprintf(stderr, "manifest: %d hostile fixtures\n", ran);
}

/* =============================================================================================
 * 2. Files that are no checkpoint
 */
static void test_notckpt(void) {
    static const struct {
        const char *file, *phrase;
    } cases[] = {
        {"page.html", "HTML"},      {"lfs_pointer.bin", "git-lfs"}, {"gz.bin", "gzip"},
        {"empty.bin", "empty"},     {"model.onnx", "ONNX"},         {"model.gguf", "GGUF"},
        {"plain.pkl", "pickle"},    {"arr.npy", "NumPy"},           {"arr.npz", "data.pkl"},
        {"config.json", "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", NOTCKPT_DIR, cases[i].file);
        oclip_checkpoint *ck = NULL;
        oclip_error err;
        oclip_status st = oclip_checkpoint_open(path, NULL, &ck, &err);
        CHECKF(st != OCLIP_OK && ck == NULL, "%s: loaded", path);
        CHECKF(st == OCLIP_E_FORMAT || st == OCLIP_E_UNSUPPORTED, "%s: status %s; msg: %s", path,
               oclip_status_str(st), err.msg);
        CHECKF(strstr(err.msg, cases[i].phrase) != NULL, "%s: message lacks \"%s\": %s", path,
               cases[i].phrase, err.msg);
        CHECKF(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", path,
               err.msg);
        oclip_checkpoint_free(ck);
    }
}

/* =============================================================================================
 * 3. Hand-built hostile pickles
 */

/* The builder itself: a valid one-tensor archive loads, zero-copy, with the right bytes. */
static void test_builder_sanity(void) {
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor1(&p, 4, 4);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "valid one-tensor archive");
    if (ck) {
        const oclip_tensor *t = oclip_checkpoint_find(ck, "w");
        CHECK(oclip_checkpoint_n_tensors(ck) == 1);
        CHECK(oclip_checkpoint_container(ck) == OCLIP_CONTAINER_TORCH_ZIP);
        CHECK(t && t->dtype == OCLIP_DTYPE_F32 && t->ndim == 1 && t->shape[0] == 4 &&
              t->nbytes == 16 && memcmp(t->data, four_floats, 16) == 0);
        oclip_checkpoint_free(ck);
    }
    free(z.p);
    free(p.p);
}

/* A list that contains itself (EMPTY_LIST, BINPUT, BINGET, APPEND) next to a tensor; and a dict
 * whose "state_dict" is the dict itself. Neither may hang. Memo indexes are used in sequence
 * from 0, as Python's pickler numbers them. */
static void case_cycles(const void *arg) {
    (void)arg;
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor1(&p, 4, 4);
    pk_str(&p, "loop");
    pk_op(&p, EMPTY_LIST);
    pk_put(&p, 0);
    pk_get(&p, 0);
    pk_op(&p, APPEND);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "self-containing list as a value");
    if (ck) {
        CHECK(oclip_checkpoint_n_tensors(ck) == 1);
        const char *k = NULL, *v = NULL;
        bool found = false;
        for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
            if (strcmp(k, "loop") == 0) found = strstr(v, "list") != NULL;
        CHECKF(found, "the cyclic list is not recorded as a 'list' entry");
        oclip_checkpoint_free(ck);
    }
    free(z.p);

    /* {"state_dict": <itself>, "w": tensor} */
    p.n = 0;
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_put(&p, 0);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor1(&p, 4, 4);
    pk_str(&p, "state_dict");
    pk_get(&p, 0);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    /* torch.load returns the recursive dict; its "state_dict" is the dict itself, so it reads
     * as a training checkpoint whose state dict holds "w" (and "state_dict", a dict: an entry) */
    ck = open_expect(&z, OCLIP_OK, NULL, "dict that is its own state_dict");
    if (ck) {
        CHECK(oclip_checkpoint_n_tensors(ck) == 1 && oclip_checkpoint_find(ck, "w"));
        CHECK(oclip_checkpoint_is_training(ck));
        const char *k = NULL, *v = NULL;
        bool found = false;
        for (size_t i = 0; oclip_checkpoint_entry(ck, i, &k, &v); i++)
            found |= strcmp(k, "state_dict") == 0 && strcmp(v, "dict (2 entries)") == 0;
        CHECKF(found, "the nested state_dict is not recorded as a 2-entry dict");
    }
    oclip_checkpoint_free(ck);
    free(z.p);

    /* a list containing itself as the whole state dict's value list, 3 levels of memo reuse */
    p.n = 0;
    pk_proto(&p);
    pk_op(&p, EMPTY_LIST);
    pk_put(&p, 0);
    pk_op(&p, MARK);
    pk_get(&p, 0);
    pk_get(&p, 0);
    pk_get(&p, 0);
    pk_op(&p, 'e'); /* APPENDS */
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    ck = open_expect(&z, OCLIP_E_UNSUPPORTED, "the file holds a list, not a state dict",
                     "a self-containing list as the root object");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* 200000 distinct names, each a tensor over one shared storage (memoised like torch does). Must
 * load, quickly and in bounded memory. */
#define MANY 200000
static void case_many_tensors(const void *arg) {
    (void)arg;
    buf p = {0};
    int64_t shape[1] = {4}, stride[1] = {1};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    for (int i = 0; i < MANY; i++) {
        if (i % 1000 == 0) pk_op(&p, MARK);
        char name[32];
        snprintf(name, sizeof name, "layer.%06d.weight", i);
        pk_str(&p, name);
        if (i == 0) {
            pk_global(&p, "torch._utils", "_rebuild_tensor_v2");
            pk_put(&p, 0);
            pk_op(&p, MARK);
            pk_storage(&p, 4);
            pk_put(&p, 1);
            pk_int(&p, 0);
            pk_int_tuple(&p, shape, 1);
            pk_put(&p, 2);
            pk_int_tuple(&p, stride, 1);
            pk_put(&p, 3);
            pk_op(&p, NEWFALSE);
            pk_global(&p, "collections", "OrderedDict");
            pk_op(&p, EMPTY_TUPLE);
            pk_op(&p, REDUCE);
            pk_put(&p, 4);
        } else {
            pk_get(&p, 0);
            pk_op(&p, MARK);
            pk_get(&p, 1);
            pk_int(&p, 0);
            pk_get(&p, 2);
            pk_get(&p, 3);
            pk_op(&p, NEWFALSE);
            pk_get(&p, 4);
        }
        pk_op(&p, TUPLE);
        pk_op(&p, REDUCE);
        if (i % 1000 == 999 || i == MANY - 1) pk_op(&p, SETITEMS);
    }
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    free(p.p);
    long rss0 = max_rss_mib();
    double t0 = now_s();
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "200000 tensors sharing one storage");
    double dt = now_s() - t0;
    long rss = max_rss_mib() - rss0;
    double tmax = (UNDER_SANITIZER ? 15.0 : 2.0) * time_scale();
    long rmax = UNDER_SANITIZER ? 2048 : 512;
    CHECKF(dt < tmax, "200000 tensors: took %.2f s (limit %.0f)", dt, tmax);
    CHECKF(rss < rmax, "200000 tensors: peak memory grew by %ld MiB (limit %ld)", rss, rmax);
    fprintf(stderr, "200000 tensors: %zu-byte archive, %.2f s, +%ld MiB peak\n", z.n, dt, rss);
    if (ck) {
        CHECK(oclip_checkpoint_n_tensors(ck) == MANY);
        const oclip_tensor *a = oclip_checkpoint_find(ck, "layer.000000.weight");
        const oclip_tensor *b = oclip_checkpoint_find(ck, "layer.199999.weight");
        CHECK(a && b && a->data == b->data && memcmp(b->data, four_floats, 16) == 0);
        oclip_checkpoint_free(ck);
    }
    free(z.p);
}

/* BINUNICODE whose length runs past the end of data.pkl (also: exactly 0xFFFFFFFF). */
static void test_binunicode_past_end(void) {
    static const uint32_t lens[] = {0x7fffffffu, 0xffffffffu, 3};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        buf p = {0};
        pk_proto(&p);
        pk_op(&p, EMPTY_DICT);
        pk_op(&p, BINUNICODE);
        b_u32(&p, lens[i]);
        b_str(&p, "ab"); /* 2 bytes, then the record ends */
        buf z = torch_zip(&p, NULL, 0, 0);
        oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "truncated (needs",
                                         "BINUNICODE past the end");
        oclip_checkpoint_free(ck);
        free(z.p);
        free(p.p);
    }
}

/* LONG1 with 0 bytes is Python's encoding of 0: valid, as a storage offset. */
static void long1_zero(buf *b) {
    pk_op(b, LONG1);
    b_u8(b, 0);
}
static void test_long1_zero(void) {
    buf p = {0};
    int64_t shape[1] = {4}, stride[1] = {1};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor_ex(&p, 4, long1_zero, 0, shape, stride, 1);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "LONG1 of length 0 (= 0) as the offset");
    if (ck) {
        const oclip_tensor *t = oclip_checkpoint_find(ck, "w");
        CHECK(t && t->numel == 4 && memcmp(t->data, four_floats, 16) == 0);
        oclip_checkpoint_free(ck);
    }
    free(z.p);

    /* LONG1 whose length byte promises more than is left */
    p.n = 0;
    pk_proto(&p);
    pk_op(&p, LONG1);
    b_u8(&p, 200);
    b_str(&p, "xyz");
    z = torch_zip(&p, NULL, 0, 0);
    ck = open_expect(&z, OCLIP_E_FORMAT, "truncated (needs 200 more bytes", "LONG1 past the end");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* A MARK left open at STOP. When the value STOP returns lies below the mark, Python's
 * unpickler fails ("unpickling stack underflow": MARK starts a new empty stack); oclip must
 * refuse too. */
static void test_mark_at_stop(void) {
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, NULL, 0, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "STOP with an unclosed MARK",
                                         "MARK left open, STOP below it");
    oclip_checkpoint_free(ck);
    free(z.p);

    /* the same inside a state dict: "(" then "w" <tensor> and no SETITEMS */
    p.n = 0;
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor1(&p, 4, 4);
    pk_op(&p, STOP);
    z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    ck = open_expect(&z, OCLIP_E_FORMAT, "STOP with an unclosed MARK",
                     "MARK without SETITEMS before STOP");
    oclip_checkpoint_free(ck);
    free(z.p);

    /* only a MARK */
    p.n = 0;
    pk_proto(&p);
    pk_op(&p, MARK);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    ck = open_expect(&z, OCLIP_E_FORMAT, "STOP with an empty stack", "MARK then STOP");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* NEWOBJ outside a TorchScript archive: on an allow-listed class and on a __torch__ class. */
static void test_newobj(void) {
    buf p = {0};
    pk_proto(&p);
    pk_global(&p, "collections", "OrderedDict");
    pk_op(&p, EMPTY_TUPLE);
    pk_op(&p, NEWOBJ);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, NULL, 0, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_UNSAFE, "NEWOBJ on a global",
                                         "NEWOBJ outside TorchScript");
    oclip_checkpoint_free(ck);
    free(z.p);

    p.n = 0;
    pk_proto(&p);
    pk_global(&p, "__torch__", "Evil");
    pk_op(&p, EMPTY_TUPLE);
    pk_op(&p, NEWOBJ);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    ck = open_expect(&z, OCLIP_E_UNSAFE, "GLOBAL '__torch__.Evil' is not allowed",
                     "__torch__ class outside TorchScript");
    oclip_checkpoint_free(ck);
    free(z.p);

    /* NEWOBJ on a non-class in TorchScript mode */
    p.n = 0;
    pk_proto(&p);
    pk_int(&p, 7);
    pk_op(&p, EMPTY_TUPLE);
    pk_op(&p, NEWOBJ);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 1);
    ck = open_expect(&z, OCLIP_E_UNSAFE, "NEWOBJ on a int", "NEWOBJ on an int in TorchScript mode");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* A view with stride 0 and a huge extent over a 4-element storage: the expanded tensor has
 * 2^62 elements, whose byte size (2^64) wraps to 0. Must fail (format or limit), never write
 * past a buffer. */
static void case_stride0_huge(const void *arg) {
    (void)arg;
    static const int64_t extents[] = {(int64_t)1 << 62, (int64_t)1 << 61, (int64_t)1 << 40};
    for (size_t i = 0; i < sizeof extents / sizeof *extents; i++) {
        buf p = {0};
        int64_t shape[1] = {extents[i]}, stride[1] = {0};
        pk_proto(&p);
        pk_op(&p, EMPTY_DICT);
        pk_op(&p, MARK);
        pk_str(&p, "w");
        pk_tensor_ex(&p, 4, NULL, 0, shape, stride, 1);
        pk_op(&p, SETITEMS);
        pk_op(&p, STOP);
        buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
        oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "(broadcast strides?)",
                                           "stride-0 view of 2^40..2^62 elements");
        oclip_checkpoint_free(ck);
        free(z.p);
        free(p.p);
    }
}

/* A 2-D stride-0 view of modest size (an expanded tensor, as torch.save keeps them): loads and
 * is materialised correctly. */
static void test_stride0_small(void) {
    buf p = {0};
    int64_t shape[2] = {3, 4}, stride[2] = {0, 1};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "w");
    pk_tensor_ex(&p, 4, NULL, 0, shape, stride, 2);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "expanded (stride 0) 3x4 view");
    if (ck) {
        const oclip_tensor *t = oclip_checkpoint_find(ck, "w");
        CHECK(t && t->copied && t->numel == 12);
        for (int r = 0; t && r < 3; r++)
            CHECK(memcmp((const float *)t->data + 4 * r, four_floats, 16) == 0);
        oclip_checkpoint_free(ck);
    }
    free(z.p);
    free(p.p);
}

/* LONG_BINPUT at memo index 2^26 - 1: a 10-byte pickle must not make the reader allocate a
 * memo table of 2^26 pointers (512 MiB). The memo is a hash table holding one entry per PUT
 * executed, so a sparse index costs one slot. */
static void case_memo_huge(const void *arg) {
    (void)arg;
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_put(&p, (1u << 26) - 1);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, NULL, 0, 0);
    long rss0 = max_rss_mib();
    /* the pickle is {} memoised at index 2^26-1: an empty state dict, as torch.load reads it */
    oclip_checkpoint *ck = open_expect(&z, OCLIP_OK, NULL, "LONG_BINPUT 2^26-1");
    CHECK(!ck || oclip_checkpoint_n_tensors(ck) == 0);
    long rss = max_rss_mib() - rss0;
    CHECKF(rss < 64, "LONG_BINPUT 2^26-1 in a %zu-byte pickle: peak memory grew by %ld MiB", p.n,
           rss);
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* TorchScript module graphs. The walk over submodules must terminate and stay linear in the
 * pickle: (a) a module that lists itself twice as a submodule (a cycle with fan-out 2);
 * (b) a chain of 60 modules, each holding the previous one under two names (a DAG with 2^60
 * paths, no cycle). */
static void ts_module(buf *p, const char *cls) {
    pk_global(p, "__torch__", cls);
    pk_op(p, EMPTY_TUPLE);
    pk_op(p, NEWOBJ);
}
static void case_ts_cycle(const void *arg) {
    (void)arg;
    buf p = {0};
    pk_proto(&p);
    ts_module(&p, "M");
    pk_put(&p, 0);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, "a");
    pk_get(&p, 0);
    pk_str(&p, "b");
    pk_get(&p, 0);
    pk_op(&p, SETITEMS);
    pk_op(&p, BUILD);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, NULL, 0, 1);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "module tree deeper than 1000",
                                       "TorchScript module that contains itself twice");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}
static void case_ts_dag(const void *arg) {
    (void)arg;
    buf p = {0};
    pk_proto(&p);
    ts_module(&p, "Leaf");
    pk_put(&p, 0);
    for (uint32_t i = 1; i <= 60; i++) {
        ts_module(&p, "M");
        pk_op(&p, EMPTY_DICT);
        pk_op(&p, MARK);
        pk_str(&p, "a");
        pk_get(&p, i - 1);
        pk_str(&p, "b");
        pk_get(&p, i - 1);
        pk_op(&p, SETITEMS);
        pk_op(&p, BUILD);
        pk_put(&p, i);
    }
    pk_op(&p, STOP);
    buf z = torch_zip(&p, NULL, 0, 1);
    double t0 = now_s();
    /* 2^60 module paths (torch.jit.load shares the objects; state_dict() would list each
     * path): refused once the walk passes max_tensors paths, in bounded time */
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "module paths (limit max_tensors",
                                       "TorchScript DAG of 60 doubly-shared modules");
    double dt = now_s() - t0;
    CHECKF(dt < 2.0 * time_scale(), "TorchScript DAG: took %.2f s", dt);
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* =============================================================================================
 * 3b. The zip container as PyTorch's reader checks it: format version, duplicate names, CRC-32,
 *     names that are not UTF-8; strings of the pickle; a file cut short
 */

/* {"w": tensor over storage "0" of 4 floats} */
static buf one_tensor_pickle(const char *name) {
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    pk_str(&p, name);
    pk_tensor1(&p, 4, 4);
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    return p;
}

/* a/data.pkl (one tensor "w"), a/version = `version` (none when NULL), a/data/0, each entry with
 * CRC mode `crc[i]`, plus up to two extra entries. */
static buf versioned_zip(const char *version, const int crc[3], const zentry *extra,
                         size_t n_extra) {
    buf p = one_tensor_pickle("w");
    zentry e[5];
    size_t n = 0;
    e[n++] = (zentry){"a/data.pkl", p.p, p.n, crc[0]};
    if (version) e[n++] = (zentry){"a/version", version, strlen(version), crc[1]};
    e[n++] = (zentry){"a/data/0", four_floats, sizeof four_floats, crc[2]};
    for (size_t i = 0; i < n_extra && n < 5; i++) e[n++] = extra[i];
    buf z = make_zip(e, n);
    free(p.p);
    return z;
}

static void expect_zip(const buf *z, oclip_status want, const char *needle, const char *what,
                       int line) {
    oclip_checkpoint *ck = open_expect_(z, "built.pt", want, needle, what, line);
    if (ck) {
        const oclip_tensor *t = oclip_checkpoint_find(ck, "w");
        CHECKF(t && memcmp(t->data, four_floats, 16) == 0, "line %d (%s): tensor w", line, what);
    }
    oclip_checkpoint_free(ck);
}

static void test_zip_version(void) {
    static const int none[3] = {0, 0, 0};
    /* what torch 2.9.1 does with each (torch.load of a torch.save archive whose version record
     * was replaced): loads 1..10 (std::stoull: leading whitespace, trailing text ignored),
     * refuses 0, 11, 999, -1, "abc", a number past 2^64 and a missing record */
    static const struct {
        const char *v;
        oclip_status want;
        const char *needle;
    } cases[] = {
        {"3\n", OCLIP_OK, NULL},
        {"1", OCLIP_OK, NULL},
        {"10", OCLIP_OK, NULL},
        {" 3", OCLIP_OK, NULL},
        {"+4x", OCLIP_OK, NULL},
        {"11", OCLIP_E_UNSUPPORTED, "a/version is '11': PyTorch 2.9 reads archive versions 1 to 10"},
        {"999\n", OCLIP_E_UNSUPPORTED, "a/version is '999\\x0a': PyTorch 2.9 reads"},
        {"0", OCLIP_E_FORMAT, "reads archive versions 1 to 10"},
        {"-1", OCLIP_E_FORMAT, "reads archive versions 1 to 10"},
        {"abc", OCLIP_E_FORMAT, "a/version is 'abc'"},
        {"18446744073709551617", OCLIP_E_FORMAT, "reads archive versions 1 to 10"},
        {"", OCLIP_E_FORMAT, "reads archive versions 1 to 10"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        buf z = versioned_zip(cases[i].v, none, NULL, 0);
        char what[64];
        snprintf(what, sizeof what, "version record '%s'", cases[i].v);
        expect_zip(&z, cases[i].want, cases[i].needle, what, __LINE__);
        free(z.p);
    }
    buf z = versioned_zip(NULL, none, NULL, 0);
    expect_zip(&z, OCLIP_E_FORMAT, "a PyTorch archive without a/version", "no version record",
               __LINE__);
    free(z.p);
    /* .data/version comes first (PyTorchStreamReader::init), whatever version says */
    zentry dv = {"a/.data/version", "999\n", 4, 0};
    z = versioned_zip("3\n", none, &dv, 1);
    expect_zip(&z, OCLIP_E_UNSUPPORTED, "a/.data/version is '999", ".data/version 999", __LINE__);
    free(z.p);
    dv.data = "3\n";
    dv.len = 2;
    z = versioned_zip("999\n", none, &dv, 1);
    expect_zip(&z, OCLIP_OK, NULL, ".data/version 3, version 999", __LINE__);
    free(z.p);
}

static void test_zip_entries(void) {
    static const int none[3] = {0, 0, 0}, good[3] = {1, 1, 1};
    /* two a/data.pkl: PyTorch's reader takes the last, another reader the first, so `oclip
     * check` could pass a file torch reads differently: refused */
    buf evil = one_tensor_pickle("other");
    zentry dup = {"a/data.pkl", evil.p, evil.n, 0};
    buf z = versioned_zip("3\n", none, &dup, 1);
    expect_zip(&z, OCLIP_E_FORMAT, "zip: entry 'a/data.pkl' appears twice", "two data.pkl",
               __LINE__);
    free(z.p);
    free(evil.p);

    /* CRC-32: right ones load; a wrong one on data.pkl, version or a small storage is refused;
     * 0 means "not computed" (torch.serialization.set_crc32_options(False) writes 0) */
    z = versioned_zip("3\n", good, NULL, 0);
    expect_zip(&z, OCLIP_OK, NULL, "right CRCs", __LINE__);
    free(z.p);
    for (int k = 0; k < 3; k++) {
        int crc[3] = {1, 1, 1};
        crc[k] = 2;
        z = versioned_zip("3\n", crc, NULL, 0);
        static const char *const which[3] = {"zip entry 'a/data.pkl': CRC-32 mismatch",
                                             "zip entry 'a/version': CRC-32 mismatch",
                                             "zip entry 'a/data/0': CRC-32 mismatch"};
        expect_zip(&z, OCLIP_E_FORMAT, which[k], "a wrong CRC", __LINE__);
        free(z.p);
    }
    /* names that are not UTF-8: torch sets the zip's UTF-8 flag on every name it writes */
    static const char *const bad_names[] = {"a/x\xff", "a/\xc0\xaf", "a/\xed\xa0\x80",
                                            "a/\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        zentry x = {bad_names[i], "", 0, 0};
        z = versioned_zip("3\n", none, &x, 1);
        expect_zip(&z, OCLIP_E_FORMAT, "is not valid UTF-8", "entry name not UTF-8", __LINE__);
        free(z.p);
    }
}

static void test_pickle_strings(void) {
    /* state dict keys that are not UTF-8 (overlong, surrogate, above U+10FFFF, a stray byte):
     * Python's unpickler fails on them ("'utf-8' codec can't decode"; an encoded surrogate it
     * would read with surrogatepass, but it is no text) */
    static const char *const bad[] = {"w\xff", "w\xc0\xaf", "w\xed\xa0\x80", "w\xf4\x90\x80\x80",
                                      "w\xe2\x82"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        buf p = one_tensor_pickle(bad[i]);
        buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
        oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "a string that is not valid UTF-8",
                                           "BINUNICODE key not UTF-8");
        oclip_checkpoint_free(ck);
        free(z.p);
        free(p.p);
    }
    /* SHORT_BINSTRING decodes as UTF-8 too (torch.load's encoding="utf-8") */
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, 'U');
    b_u8(&p, 2);
    b_str(&p, "\xffw");
    pk_tensor1(&p, 4, 4);
    pk_op(&p, SETITEM);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, "not valid UTF-8",
                                       "SHORT_BINSTRING key not UTF-8");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);

    /* control and bidirectional characters are valid UTF-8: the name loads as it is... */
    static const char ansi[] = "\x1b]0;owned\x07\x1b[2Jw\xe2\x80\xae";
    p = one_tensor_pickle(ansi);
    z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    ck = open_expect(&z, OCLIP_OK, NULL, "name with terminal escapes");
    CHECK(ck && oclip_checkpoint_find(ck, ansi) != NULL);
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
    /* ...and a message about it shows it escaped (open_expect also checks that no control byte
     * is left in any message) */
    p = (buf){0};
    int64_t shape[1] = {8}, stride[1] = {1};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_str(&p, ansi);
    pk_tensor_ex(&p, 4, NULL, 0, shape, stride, 1);
    pk_op(&p, SETITEM);
    pk_op(&p, STOP);
    z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    ck = open_expect(&z, OCLIP_E_FORMAT, "tensor '\\x1b]0;owned\\x07\\x1b[2Jw\\u202e': view reaches",
                     "out-of-range view under an escape-laden name");
    oclip_checkpoint_free(ck);
    free(z.p);
    free(p.p);
}

/* A file cut short says what probably happened. */
static void test_truncation_hints(void) {
    static const char hint[] = "\nhint: truncated download? compare the file's size with the "
                               "original's, or download it again";
    buf p = one_tensor_pickle("w");
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    free(p.p);
    z.n = z.n * 3 / 4; /* the central directory and its end record are gone */
    oclip_checkpoint *ck = open_expect(&z, OCLIP_E_FORMAT, hint, "torch zip cut short");
    oclip_checkpoint_free(ck);
    free(z.p);

    size_t n = 0;
    uint8_t *legacy = read_file("tests/fixtures/readers/oc_legacy.bin", &n);
    CHECK(legacy != NULL);
    if (!legacy) return;
    static const size_t cuts[] = {40, 300}; /* inside the pickles */
    for (size_t i = 0; i < 3; i++) {
        buf c = {0};
        b_put(&c, legacy, i < 2 ? cuts[i] : n - 100); /* the last: inside the storages */
        ck = open_expect(&c, OCLIP_E_FORMAT, hint, "legacy file cut short");
        oclip_checkpoint_free(ck);
        free(c.p);
    }
    free(legacy);
}

/* =============================================================================================
 * 4. Regression inputs found by the fuzzers (fuzz/run.sh)
 */

typedef struct {
    const char *what;
    const uint8_t *bytes;
    size_t len;
    int pickle; /* 1: the bytes are a data.pkl, opened inside a torch zip */
    oclip_status want;
    const char *needle;
} regression;

/* fuzz_zip, heap-use-after-free in oc_zip_open (src/io/zip.c, zip64 extra-field branch): a central
 * directory entry with a saturated (0xFFFFFFFF) size and a zip64 extra field (tag 1) too short
 * to hold it; the "short zip64 extra field" message read e->name after oc_zip_close had freed
 * z->entries. 270 bytes, minimised from fuzz/corpus-zip.out/crash-1255502e... */
static const uint8_t reg_zip64_short_extra[] = {
    0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x50, 0x4f,
    0x70, 0xd3, 0x22, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x70, 0x6f,
    0x73, 0x69, 0x78, 0x5f, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2e,
    0x70, 0x6b, 0x6c, 0x80, 0x02, 0x63, 0x70, 0x6f, 0x73, 0x69, 0x78, 0x00, 0x00, 0x21, 0x00, 0x74,
    0x65, 0x6d, 0x0a, 0x58, 0x0a, 0x00, 0x70, 0x79, 0x74, 0x6f, 0x72, 0x63, 0x68, 0x5f, 0x6d, 0x6f,
    0x64, 0x65, 0x6c, 0x2f, 0x64, 0x61, 0x74, 0x61, 0x2f, 0x32, 0x00, 0x00, 0x70, 0x6f, 0x00, 0x00,
    0x00, 0x21, 0x00, 0xd1, 0x9e, 0x67, 0x55, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x14,
    0x00, 0x00, 0x00, 0x70, 0x6f, 0x73, 0x69, 0x78, 0x5f, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x2f,
    0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x33, 0x0a, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03, 0x14,
    0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0xcb, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0xff, 0xff,
    0x60, 0x60, 0x00, 0x02, 0x16, 0x80, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x18, 0x05, 0x4b, 0x50, 0x6f, 0x78, 0x5f, 0x73, 0x00, 0x00, 0x00, 0x21, 0x00, 0x74,
    0x65, 0x6d, 0x0a, 0x58, 0x0a, 0x00, 0x00, 0x00, 0x65, 0x63, 0x68, 0x6f, 0x20, 0x70, 0x00, 0x00,
    0x00, 0x00, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x85, 0x00, 0x00, 0x00,
    0x89, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x02, 0x00, 0x85, 0x00, 0x00, 0x00, 0x89, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* fuzz_pickle, UBSan "applying zero offset to null pointer" at OP_TUPLE in src/io/pickle.c:
 * MARK + TUPLE before anything was pushed computes m->stack + 0 with m->stack == NULL. */
static const uint8_t reg_tuple_empty_stack[] = {0x80, 0x02, '(', 't', '.'};

static const regression regressions[] = {
    {"zip64 extra field shorter than a saturated size (use after free)", reg_zip64_short_extra,
     sizeof reg_zip64_short_extra, 0, OCLIP_E_FORMAT, "short zip64 extra field"},
    /* an empty tuple: torch.load returns (), which is no state dict */
    {"MARK TUPLE on an empty stack (NULL + 0)", reg_tuple_empty_stack,
     sizeof reg_tuple_empty_stack, 1, OCLIP_E_UNSUPPORTED, "holds a tuple, not a state dict"},
};

static void case_regression(const void *arg) {
    const regression *r = arg;
    buf z = {0};
    if (r->pickle) {
        buf p = {0};
        b_put(&p, r->bytes, r->len);
        z = torch_zip(&p, NULL, 0, 0);
        free(p.p);
    } else {
        b_put(&z, r->bytes, r->len);
    }
    oclip_checkpoint *ck = open_expect_(&z, "fuzz.bin", r->want, r->needle, r->what, __LINE__);
    oclip_checkpoint_free(ck);
    free(z.p);
}

/* =============================================================================================
 * 5. Every resource limit (docs/SECURITY.md, "Limits"): set low, each refuses with its message
 */

/* Opens z with `lim` and expects a refusal with status `want` whose message holds `needle`. */
static void limit_expect_(const buf *z, const char *name, const oclip_limits *lim,
                          oclip_status want, const char *needle, const char *what, int line) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_status st = oclip_checkpoint_open_memory(z->p, z->n, name, lim, &ck, &err);
    CHECKF(st == want && ck == NULL, "line %d (%s): status %s, expected %s; msg: %s", line, what,
           oclip_status_str(st), oclip_status_str(want), err.msg);
    CHECKF(st == OCLIP_OK || strstr(err.msg, needle), "line %d (%s): message lacks '%s': %s",
           line, what, needle, err.msg);
    oclip_checkpoint_free(ck);
}
#define limit_expect(z, name, lim, want, needle, what) \
    limit_expect_(z, name, lim, want, needle, what, __LINE__)

/* A state dict of n one-element tensors over one shared storage. */
static buf n_tensor_zip(int n) {
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_op(&p, MARK);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        pk_str(&p, name);
        pk_tensor1(&p, 4, 1);
    }
    pk_op(&p, SETITEMS);
    pk_op(&p, STOP);
    buf z = torch_zip(&p, four_floats, sizeof four_floats, 0);
    free(p.p);
    return z;
}

/* A safetensors file of n F32 scalars (header padded with spaces to `pad` bytes if larger). */
static buf n_tensor_safetensors(int n, size_t pad) {
    buf h = {0}, f = {0};
    b_str(&h, "{");
    for (int i = 0; i < n; i++) {
        char e[128];
        snprintf(e, sizeof e, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[%d,%d]}",
                 i ? "," : "", i, 4 * i, 4 * i + 4);
        b_str(&h, e);
    }
    b_str(&h, "}");
    while (h.n < pad) b_str(&h, " ");
    uint64_t len = h.n;
    for (int i = 0; i < 8; i++) b_u8(&f, (unsigned)(len >> (8 * i)) & 0xff);
    b_put(&f, h.p, h.n);
    for (int i = 0; i < n; i++) b_put(&f, four_floats, 4);
    free(h.p);
    return f;
}

static void test_limits(void) {
    /* tensors per checkpoint: torch zip and safetensors */
    oclip_limits lim = {.max_tensors = 2};
    buf z = n_tensor_zip(3);
    limit_expect(&z, "three.pt", &lim, OCLIP_E_NOMEM, "limit", "3 tensors, max_tensors 2");
    lim.max_tensors = 3;
    oclip_checkpoint *ck = NULL;
    CHECK(oclip_checkpoint_open_memory(z.p, z.n, "three.pt", &lim, &ck, NULL) == OCLIP_OK);
    oclip_checkpoint_free(ck);
    free(z.p);
    lim = (oclip_limits){.max_tensors = 2};
    buf st = n_tensor_safetensors(3, 0);
    limit_expect(&st, "three.safetensors", &lim, OCLIP_E_NOMEM, "limit",
                 "safetensors: 3 tensors, max_tensors 2");
    /* safetensors header bytes */
    lim = (oclip_limits){.max_header_bytes = 64};
    limit_expect(&st, "three.safetensors", &lim, OCLIP_E_NOMEM, "limit",
                 "safetensors header over max_header_bytes");
    lim.max_header_bytes = 4096;
    ck = NULL;
    CHECK(oclip_checkpoint_open_memory(st.p, st.n, "three.safetensors", &lim, &ck, NULL) ==
          OCLIP_OK);
    oclip_checkpoint_free(ck);
    free(st.p);

    /* pickle objects */
    lim = (oclip_limits){.max_pickle_nodes = 5};
    z = n_tensor_zip(3);
    limit_expect(&z, "three.pt", &lim, OCLIP_E_NOMEM, "object limit",
                 "pickle objects over max_pickle_nodes");
    free(z.p);

    /* the pickle stack: memo GETs push without creating objects */
    buf p = {0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    pk_put(&p, 0);
    for (int i = 0; i < 100; i++) pk_get(&p, 0);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    free(p.p);
    lim = (oclip_limits){.max_pickle_nodes = 50};
    limit_expect(&z, "stack.pt", &lim, OCLIP_E_NOMEM, "the stack holds more than 50 values",
                 "pickle stack over max_pickle_nodes");
    free(z.p);

    /* the pickle memo */
    p = (buf){0};
    pk_proto(&p);
    pk_op(&p, EMPTY_DICT);
    for (uint32_t i = 0; i < 100; i++) pk_put(&p, i);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    free(p.p);
    limit_expect(&z, "memo.pt", &lim, OCLIP_E_NOMEM, "the memo holds more than 50 entries",
                 "pickle memo over max_pickle_nodes");
    free(z.p);

    /* MARKs */
    p = (buf){0};
    pk_proto(&p);
    for (int i = 0; i < 100; i++) pk_op(&p, MARK);
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 0);
    free(p.p);
    limit_expect(&z, "marks.pt", &lim, OCLIP_E_NOMEM, "limit", "MARKs over max_pickle_nodes");
    free(z.p);

    /* nesting: a TorchScript module tree 20 deep, max_depth 5 */
    p = (buf){0};
    pk_proto(&p);
    ts_module(&p, "Leaf");
    pk_put(&p, 0);
    for (uint32_t i = 1; i <= 20; i++) {
        ts_module(&p, "M");
        pk_op(&p, EMPTY_DICT);
        pk_str(&p, "a");
        pk_get(&p, i - 1);
        pk_op(&p, SETITEM);
        pk_op(&p, BUILD);
        pk_put(&p, i);
    }
    pk_op(&p, STOP);
    z = torch_zip(&p, NULL, 0, 1);
    free(p.p);
    lim = (oclip_limits){.max_depth = 5};
    limit_expect(&z, "deep.pt", &lim, OCLIP_E_FORMAT, "deeper than 5 (limit max_depth",
                 "TorchScript module depth over max_depth");
    free(z.p);

    /* image pixels (oclip_image_options.max_pixels) */
    size_t n = 0;
    uint8_t *png = read_file("tests/fixtures/preprocess/img/p_601x589.png", &n);
    CHECK(png != NULL);
    if (png) {
        oclip_image_options io = {.max_pixels = 601 * 589 - 1};
        oclip_image *img = NULL;
        oclip_error err;
        oclip_status s = oclip_image_decode(png, n, "big.png", &io, &img, &err);
        CHECKF(s == OCLIP_E_NOMEM && !img && strstr(err.msg, "pixel"), "max_pixels: %s: %s",
               oclip_status_str(s), err.msg);
        io.max_pixels = 601 * 589;
        s = oclip_image_decode(png, n, "big.png", &io, &img, &err);
        CHECKF(s == OCLIP_OK, "max_pixels at the size: %s", err.msg);
        oclip_image_free(img);
        free(png);
    }

    /* text length: the tokenizer refuses more than 16 MiB before any work */
    size_t big = ((size_t)16 << 20) + 1;
    char *text = malloc(big);
    CHECK(text != NULL);
    if (text) {
        memset(text, 'a', big);
        int64_t row[OCLIP_CONTEXT_LENGTH];
        oclip_error err;
        double t0 = now_s();
        oclip_status s = oclip_tokenize(text, big, OCLIP_CLEAN_LOWER, row, OCLIP_CONTEXT_LENGTH,
                                        &err);
        CHECKF(s == OCLIP_E_NOMEM && strstr(err.msg, "longer than the limit of 16777216 bytes"),
               "16 MiB + 1 text: %s: %s", oclip_status_str(s), err.msg);
        size_t nid = 0;
        s = oclip_tokenize_ids(text, big, OCLIP_CLEAN_LOWER, NULL, 0, &nid, &err);
        CHECKF(s == OCLIP_E_NOMEM, "16 MiB + 1 text (ids): %s", oclip_status_str(s));
        CHECKF(now_s() - t0 < 1.0, "the text limit is checked before any work");
        free(text);
    }

    /* JSON nesting in configs (cJSON's limit, 1000 levels) */
    size_t depth = 1100;
    char *json = malloc(2 * depth + 64);
    if (json) {
        size_t k = 0;
        k += (size_t)sprintf(json, "{\"model_cfg\":");
        for (size_t i = 0; i < depth; i++) json[k++] = '[';
        for (size_t i = 0; i < depth; i++) json[k++] = ']';
        json[k++] = '}';
        oclip_model_config cfg;
        oclip_error err;
        oclip_status s = oclip_config_parse_open_clip(json, k, &cfg, NULL, &err);
        CHECKF(s == OCLIP_E_FORMAT, "1100 nested arrays in open_clip_config.json: %s: %s",
               oclip_status_str(s), err.msg);
        free(json);
    }
}

/* =============================================================================================
 */
int main(void) {
    setvbuf(stderr, NULL, _IONBF, 0);
    (void)sha256_hex; /* util.h helper this file does not need */
    test_manifest();
    test_notckpt();
    test_builder_sanity();
    guarded("cycles", case_cycles, NULL, 10);
    guarded("200000 tensors", case_many_tensors, NULL, UNDER_SANITIZER ? 60 : 20);
    test_binunicode_past_end();
    test_long1_zero();
    test_mark_at_stop();
    test_newobj();
    guarded("stride-0 view of 2^62 elements", case_stride0_huge, NULL, 20);
    test_stride0_small();
    test_zip_version();
    test_zip_entries();
    test_pickle_strings();
    test_truncation_hints();
    guarded("huge memo index", case_memo_huge, NULL, 10);
    guarded("TorchScript self-cycle", case_ts_cycle, NULL, 10);
    guarded("TorchScript shared-module DAG", case_ts_dag, NULL, 10);
    for (size_t i = 0; i < sizeof regressions / sizeof *regressions; i++)
        guarded(regressions[i].what, case_regression, &regressions[i], 10);
    test_limits();
    return TEST_REPORT("test_hostile");
}
