/*
 * test_fuzz_regressions.c — inputs the fuzzers found problems with (fuzz/regressions/), run
 * through the same calls in `make test` and `make test-asan`, with what must hold now:
 *   config-empty-key-hang        a JSON key "" among unknown keys: the parser terminates
 *   config-hf-*                  HF config.json values OpenCLIP configs cannot hold: refused
 *   tokenizer-empty-text         "" tokenizes to SOT EOT 0... (no NULL+0 under UBSan)
 *   tokenizer-clean-short-buffer a short output buffer holds whole UTF-8 characters only
 * and what a review found: zero-sized dimensions (a division by zero), statuses lost when err is
 * NULL, NULL embeddings with a zero count. An alarm turns a hang into a failure.
 * Then every input of the committed fuzz corpora (tests/fuzz/<target>/) is replayed through the
 * call its target exercises (the checkpoint front end, the pickle VM, image decoding +
 * preprocessing, the tokenizer, the config parsers; not index, whose inputs need shard files):
 * it must not crash (ASan/UBSan in make test-asan), and a
 * failure must carry a message.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oclip.h"
#include "io/pickle.h" /* the pickle VM, replayed as fuzz_pickle.c drives it */
#include "test.h"
#include "util.h"

#define REG_DIR "fuzz/regressions/"

static unsigned char *input(const char *name, size_t *n) {
    unsigned char *b = read_file(name, n);
    CHECKF(b != NULL, "cannot read %s", name);
    return b;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_fuzz_regressions: timed out (a hang is back)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

/* A safetensors file in memory: F32 tensors with the given shapes, data zero. */
static unsigned char *safetensors(const char *const *names, const int (*shapes)[4],
                                  const int *ndims, size_t n, size_t *size) {
    char header[2048];
    size_t hl = 0, off = 0;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{");
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[",
                               i ? "," : "", names[i]);
        for (int d = 0; d < ndims[i]; d++) {
            numel *= (size_t)shapes[i][d];
            hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s%d", d ? "," : "",
                                   shapes[i][d]);
        }
        hl += (size_t)snprintf(header + hl, sizeof header - hl, "],\"data_offsets\":[%zu,%zu]}",
                               off, off + numel * 4);
        off += numel * 4;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8) header[hl++] = ' ';
    *size = 8 + hl + off;
    unsigned char *b = calloc(1, *size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    return b;
}

static void review_findings(void) {
    /* visual.conv1.weight [8, 3, 0, 0]: inference and the check refuse, no SIGFPE */
    static const char *const names[] = {"visual.conv1.weight", "visual.positional_embedding",
                                        "token_embedding.weight", "positional_embedding"};
    static const int shapes[][4] = {{8, 3, 0, 0}, {5, 8}, {64, 8}, {8, 8}};
    static const int ndims[] = {4, 2, 2, 2};
    size_t size;
    unsigned char *b = safetensors(names, shapes, ndims, 4, &size);
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    CHECK(oclip_checkpoint_open_memory(b, size, "zero", NULL, &ck, &err) == OCLIP_OK);
    if (ck) {
        oclip_model_config cfg;
        CHECK(oclip_infer_config(ck, &cfg, NULL, &err) != OCLIP_OK);
        oclip_report *r = NULL;
        CHECK(oclip_check(ck, NULL, &r, &err) != OCLIP_OK && r == NULL);
        oclip_checkpoint_free(ck);
    }
    free(b);

    /* the status survives a NULL err: an unsupported family stays UNSUPPORTED */
    oclip_model_config rn;
    CHECK(oclip_config_builtin("coca_roberta-ViT-B-32", &rn, NULL) == OCLIP_OK);
    oclip_model_options opt = {.config = &rn};
    oclip_model *m = NULL;
    CHECK(oclip_model_load("tests/fixtures/arch/tiny/b32like", &opt, &m, NULL) ==
          OCLIP_E_UNSUPPORTED);
    CHECK(oclip_checkpoint_open("tests/fixtures/notckpt/empty.bin", NULL, &ck, NULL) ==
          OCLIP_E_FORMAT);

    /* logits with no images: no memcpy from NULL */
    CHECK(oclip_model_load("tests/fixtures/e2e", NULL, &m, &err) == OCLIP_OK);
    if (m) {
        float t[8] = {1}, out[1];
        CHECK(oclip_logits(m, NULL, 0, t, 1, out, &err) == OCLIP_OK);
        oclip_model_free(m);
    }
}

/* Calls fn(path, bytes, n) for every file in dir; returns how many. */
static size_t each_input(const char *dir, void (*fn)(const char *, const unsigned char *, size_t)) {
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "cannot open %s (the committed corpus)", dir);
    if (!d) return 0;
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = 0;
        unsigned char *b = read_file(path, &n);
        if (!b) continue;
        fn(path, b, n);
        free(b);
        count++;
    }
    closedir(d);
    return count;
}

static void failed_with_message(const char *path, oclip_status st, const oclip_error *err) {
    CHECKF(st == OCLIP_OK || (err->code == st && err->msg[0]), "%s: status %d, message '%s'",
           path, (int)st, err->msg);
}

static void replay_checkpoint(const char *path, const unsigned char *b, size_t n) {
    oclip_checkpoint *ck = NULL;
    oclip_error err;
    oclip_limits lim = {.max_pickle_nodes = 2000000};
    oclip_status st = oclip_checkpoint_open_memory(b, n, path, &lim, &ck, &err);
    failed_with_message(path, st, &err);
    volatile uint8_t sink = 0;
    for (size_t i = 0; ck && i < oclip_checkpoint_n_tensors(ck); i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        for (uint64_t k = 0; k < t->nbytes; k++) sink = (uint8_t)(sink + ((const uint8_t *)t->data)[k]);
    }
    (void)sink;
    oclip_checkpoint_free(ck);
}

/* byte 0 selects options in fuzz_image.c; here a fixed small preprocessing */
static void replay_image(const char *path, const unsigned char *b, size_t n) {
    if (n < 1) return;
    oclip_image *img = NULL;
    oclip_error err;
    oclip_image_options io = {.max_pixels = 1u << 22, .exif_transpose = b[0] & 1};
    oclip_status st = oclip_image_decode(b + 1, n - 1, path, &io, &img, &err);
    failed_with_message(path, st, &err);
    if (img) {
        oclip_preprocess_cfg cfg;
        oclip_preprocess_cfg_default(&cfg);
        cfg.size[0] = cfg.size[1] = 8;
        float px[3 * 8 * 8];
        st = oclip_preprocess(img, &cfg, px, &err);
        failed_with_message(path, st, &err);
        oclip_image_free(img);
    }
}

static void replay_tokenizer(const char *path, const unsigned char *b, size_t n) {
    if (n < 1) return;
    int64_t row[OCLIP_CONTEXT_LENGTH];
    oclip_error err;
    oclip_status st = oclip_tokenize((const char *)b + 1, n - 1, (oclip_clean)(b[0] % 3), row,
                                     OCLIP_CONTEXT_LENGTH, &err);
    failed_with_message(path, st, &err);
}

static void replay_config(const char *path, const unsigned char *b, size_t n) {
    oclip_model_config cfg;
    oclip_preprocess_cfg pre;
    oclip_error err;
    oclip_status st = oclip_config_parse((const char *)b, n, &cfg, &err);
    failed_with_message(path, st, &err);
    if (st == OCLIP_OK) {
        char *json = oclip_config_to_json(&cfg);
        oclip_free(json);
    }
    st = oclip_config_parse_open_clip((const char *)b, n, &cfg, &pre, &err);
    failed_with_message(path, st, &err);
    st = oclip_config_from_hf((const char *)b, n, &cfg, &err);
    failed_with_message(path, st, &err);
}

/* fuzz_pickle.c's input: byte 0 selects TorchScript mode, the rest is a data.pkl; storages are
 * stand-ins (the VM only records them) */
static const float pk_zeros[1024];
static oclip_status pk_persistent_load(void *ctx, oc_pk *vm, oc_pk_value *pid, oc_pk_value **out,
                                       oclip_error *err) {
    (void)ctx, (void)pid;
    oc_pk_value *st = oc_pk_new(vm, OC_PK_STORAGE);
    if (!st) return oc_err_set(err, OCLIP_E_NOMEM, "over the object limit");
    st->u.storage.key = "0";
    st->u.storage.dtype = OCLIP_DTYPE_F32;
    st->u.storage.numel = 1024;
    st->u.storage.data = (const uint8_t *)pk_zeros;
    *out = st;
    return OCLIP_OK;
}

static void replay_pickle(const char *path, const unsigned char *b, size_t n) {
    if (n < 1) return;
    oc_arena arena = {0};
    arena.limit = 64u << 20;
    oc_pk vm = {0};
    vm.arena = &arena;
    vm.max_nodes = 1000000;
    vm.torchscript = (b[0] & 1) != 0;
    vm.persistent_load = pk_persistent_load;
    oc_pk_value *v = NULL;
    size_t used = 0;
    oclip_error err;
    oclip_status st = oc_pk_run(&vm, b + 1, n - 1, &v, &used, &err);
    failed_with_message(path, st, &err);
    if (st == OCLIP_OK) {
        char desc[256];
        oc_pk_describe(v, desc, sizeof desc);
    }
    oc_arena_free(&arena);
}

static void replay_corpora(void) {
    static const struct {
        const char *target;
        void (*fn)(const char *, const unsigned char *, size_t);
    } t[] = {
        {"checkpoint", replay_checkpoint}, {"zip", replay_checkpoint},
        {"safetensors", replay_checkpoint}, {"image", replay_image},
        {"tokenizer", replay_tokenizer}, {"config", replay_config},
        {"pickle", replay_pickle},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "tests/fuzz/%s", t[i].target);
        alarm(120);
        size_t k = each_input(dir, t[i].fn);
        fprintf(stderr, "replayed %zu inputs of %s\n", k, dir);
    }
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(60);
    size_t n;
    oclip_error err;
    oclip_model_config cfg;

    /* the parser used to loop forever on a second unknown key "" */
    unsigned char *b = input(REG_DIR "config-empty-key-hang", &n);
    if (b) {
        CHECK(oclip_config_parse((const char *)b, n, &cfg, &err) != OCLIP_OK ||
              strstr(cfg.unknown_keys, "a") != NULL);
        free(b);
    }

    /* HF configs whose OpenCLIP equivalent would be invalid (head_width 0, heads that do not
     * divide the width, sizes or MLP ratios beyond the parser's limits) are refused */
    static const char *const hf[] = {"config-hf-head-width-zero", "config-hf-heads-not-dividing",
                                     "config-hf-mlp-ratio", "config-hf-over-limits"};
    for (size_t i = 0; i < sizeof hf / sizeof *hf; i++) {
        char path[256];
        snprintf(path, sizeof path, REG_DIR "%s", hf[i]);
        if (!(b = input(path, &n))) continue;
        CHECKF(oclip_config_from_hf((const char *)b, n, &cfg, &err) != OCLIP_OK, "%s accepted",
               hf[i]);
        CHECKF(err.msg[0] != '\0', "%s: empty message", hf[i]);
        free(b);
    }

    /* empty text: [SOT, EOT, 0, ...] */
    int64_t row[8];
    CHECK(oclip_tokenize("", 0, OCLIP_CLEAN_LOWER, row, 8, &err) == OCLIP_OK);
    CHECK(row[0] == OCLIP_SOT_ID && row[1] == OCLIP_EOT_ID && row[2] == 0 && row[7] == 0);
    if ((b = input(REG_DIR "tokenizer-empty-text", &n))) {
        CHECK(oclip_tokenize((const char *)b + 1, n - 1, OCLIP_CLEAN_LOWER, row, 8, &err) ==
              OCLIP_OK);
        free(b);
    }

    /* "a€€€€€" into 16 bytes: "a" + four whole "€" (13 bytes) and a NUL; full length 16 */
    const char *text = "a\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";
    char out[16];
    memset(out, 0xaa, sizeof out);
    size_t len = 0;
    CHECK(oclip_tokenize_clean(text, strlen(text), OCLIP_CLEAN_LOWER, out, sizeof out, &len,
                               &err) == OCLIP_OK);
    CHECK(len == 16 && strlen(out) == 13 && memcmp(out, text, 13) == 0);
    review_findings();
    replay_corpora();
    return TEST_REPORT("test_fuzz_regressions");
}
