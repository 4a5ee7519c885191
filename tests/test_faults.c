/*
 * test_faults.c — allocation and I/O fault injection over the load and encode paths.
 *
 * The program is linked with -Wl,--wrap=malloc,... (Makefile: FAULTS_LDFLAGS), so every call that
 * liboclip.a's objects make to malloc, calloc, realloc, free, open, fstat, mmap, fopen, fread and
 * fdopen goes through the counting wrappers below; cJSON's allocations are routed through them
 * too (cJSON_InitHooks). Calls made inside the shared decoder libraries (libjpeg, libpng, libwebp,
 * libtiff, giflib, utf8proc) are not seen: --wrap only rewrites liboclip's own references.
 *
 * For each scenario (open every reader fixture kind, oclip_check, configs, model loads, image
 * decoding + preprocessing, the tokenizer, encoding images and text, a fresh model's first
 * encodes (which pack each tower, fp32 and int8: a failed packing must be retried by the same
 * call made again), the zero-shot classifier, saving and converting), a clean run counts the calls of each kind; then the k-th call is made
 * to fail, for k = 1..N (when N > 200: every k up to 200, then a stride that gives about 200 more,
 * and the last one; each line of the report says which),
 * each run in a forked child with an alarm, and the test asserts:
 *   - no crash and no hang (a signal or the alarm in the child is a failure);
 *   - a non-OK status with a non-empty message, or, when the library tolerated the failure (a
 *     fallback), the same result as the clean run (a digest of every output byte);
 *   - no leak: every block liboclip allocated during the run has been freed (the wrappers keep a
 *     table of live blocks). Scenarios that run first-use initialisers (the tokenizer's vocabulary,
 *     ftfy's tables: kept for the life of the process by design) are "cold": their leak check is
 *     LeakSanitizer's (memory still reachable from a global is no leak), which runs in each child
 *     of the ASan build (make test-asan); the plain build checks status and crashes only for them.
 *     The other scenarios run "warm": the parent has initialised everything before forking.
 * I/O faults: open / fstat / fopen fail with EIO, mmap fails with ENOMEM (mapping refused), fread
 * returns a short count (half the bytes asked for).
 *
 * A failed conversion must leave no file behind (the writes are atomic).
 *
 * Environment: FAULT_STRIDE=1 tests every k (slow); FAULT_ONLY=name runs one scenario;
 * FAULT_K=k (with FAULT_KIND=io for I/O) runs that one call, and FAULT_TRACE=1 prints the stack of
 * each injected fault (resolve it with addr2line -e build/tests/test_faults).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "oclip.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------------
 * The wrappers
 */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_open(const char *path, int flags, ...);
int __real_fstat(int fd, struct stat *st);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
FILE *__real_fopen(const char *path, const char *mode);
size_t __real_fread(void *p, size_t size, size_t n, FILE *f);
FILE *__real_fdopen(int fd, const char *mode);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_open(const char *path, int flags, ...);
int __wrap_fstat(int fd, struct stat *st);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
FILE *__wrap_fopen(const char *path, const char *mode);
size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f);
FILE *__wrap_fdopen(int fd, const char *mode);

/* LeakSanitizer's on-demand check, present in ASan builds only */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

enum { K_ALLOC = 0, K_IO = 1, K_KINDS };
static const char *const kind_name[K_KINDS] = {"allocation", "i/o"};

static volatile int armed;                 /* counting on (only inside a scenario's run) */
static unsigned long calls[K_KINDS];       /* calls seen while armed */
static unsigned long fail_at[K_KINDS];     /* 1-based call to fail; 0 = none */
static int injected;                       /* a fault was injected in this run */
static int trace;                          /* FAULT_TRACE=1: print the stack of each fault */

/* live blocks allocated while armed: open addressing with tombstones */
#define LIVE_SLOTS (1u << 20)
#define TOMB ((void *)1)
static void **live_tab;
static long live_count;
static int live_overflow;

static size_t live_hash(void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (LIVE_SLOTS - 1);
}

static void live_add(void *p) {
    if (!live_tab || !p) return;
    size_t h = live_hash(p);
    for (size_t i = 0; i < LIVE_SLOTS; i++, h = (h + 1) & (LIVE_SLOTS - 1)) {
        if (live_tab[h] == NULL || live_tab[h] == TOMB) {
            live_tab[h] = p;
            live_count++;
            return;
        }
    }
    live_overflow = 1;
}

static void live_del(void *p) {
    if (!live_tab || !p) return;
    size_t h = live_hash(p);
    for (size_t i = 0; i < LIVE_SLOTS; i++, h = (h + 1) & (LIVE_SLOTS - 1)) {
        if (live_tab[h] == NULL) return; /* not ours (allocated before arming, or by a library) */
        if (live_tab[h] == p) {
            live_tab[h] = TOMB;
            live_count--;
            return;
        }
    }
}

/* true when this call (of kind k) is the one to fail */
static int should_fail(int k) {
    if (!armed) return 0;
    unsigned long c = __atomic_add_fetch(&calls[k], 1, __ATOMIC_RELAXED);
    if (fail_at[k] && c == fail_at[k]) {
        injected = 1;
        if (trace) {
            void *frames[32];
            int n = backtrace(frames, 32);
            fprintf(stderr, "fault injected here (%s call %lu):\n", k ? "i/o" : "allocation", c);
            backtrace_symbols_fd(frames, n, 2);
        }
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) {
    if (should_fail(K_ALLOC)) return NULL;
    void *p = __real_malloc(n);
    if (armed) live_add(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t m) {
    if (should_fail(K_ALLOC)) return NULL;
    void *p = __real_calloc(n, m);
    if (armed) live_add(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    if (should_fail(K_ALLOC)) return NULL;
    void *q = __real_realloc(p, n);
    if (armed && (q || n == 0)) {
        live_del(p);
        live_add(q);
    }
    return q;
}

void __wrap_free(void *p) {
    if (armed) live_del(p);
    __real_free(p);
}

int __wrap_open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (should_fail(K_IO)) {
        errno = EIO;
        return -1;
    }
    return __real_open(path, flags, mode);
}

int __wrap_fstat(int fd, struct stat *st) {
    if (should_fail(K_IO)) {
        errno = EIO;
        return -1;
    }
    return __real_fstat(fd, st);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (should_fail(K_IO)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

FILE *__wrap_fopen(const char *path, const char *mode) {
    if (should_fail(K_IO)) {
        errno = EIO;
        return NULL;
    }
    return __real_fopen(path, mode);
}

FILE *__wrap_fdopen(int fd, const char *mode) {
    if (should_fail(K_IO)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_fdopen(fd, mode);
}

size_t __wrap_fread(void *p, size_t size, size_t n, FILE *f) {
    if (should_fail(K_IO)) /* a short read: half of what was asked for, then an error */
        return n > 1 ? __real_fread(p, size, n / 2, f) : 0;
    return __real_fread(p, size, n, f);
}

static void *hook_malloc(size_t n) { return __wrap_malloc(n); }
static void hook_free(void *p) { __wrap_free(p); }

/* ---------------------------------------------------------------------------------------------
 * Digests of results (FNV-1a), to compare a run that tolerated a fault with the clean run
 */
static uint64_t digest;
static void dig(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) digest = (digest ^ b[i]) * 0x100000001b3ULL;
}

static void dig_checkpoint(const oclip_checkpoint *ck) {
    size_t n = oclip_checkpoint_n_tensors(ck);
    dig(&n, sizeof n);
    for (size_t i = 0; i < n; i++) {
        const oclip_tensor *t = oclip_checkpoint_tensor(ck, i);
        dig(t->name, strlen(t->name));
        dig(&t->dtype, sizeof t->dtype);
        dig(t->shape, sizeof(int64_t) * (size_t)t->ndim);
        dig(t->data, (size_t)t->nbytes);
    }
    int c = (int)oclip_checkpoint_container(ck), l = (int)oclip_checkpoint_layout(ck);
    dig(&c, sizeof c);
    dig(&l, sizeof l);
}

/* ---------------------------------------------------------------------------------------------
 * Scenarios
 */
#define FX "tests/fixtures/"

/* a test-side failure (a fixture missing ...), never a library status */
static int setup_failed;
static oclip_status setup_fail(oclip_error *err) {
    setup_failed = 1;
    snprintf(err->msg, sizeof err->msg, "test setup failed");
    return err->code = OCLIP_E_ARG;
}

/* oclip_config_to_json reports memory failure as NULL: give it the message it cannot give */
static oclip_status to_json_null(oclip_error *err) {
    snprintf(err->msg, sizeof err->msg, "oclip_config_to_json: NULL (out of memory)");
    return err->code = OCLIP_E_NOMEM;
}

static oclip_model *g_model; /* loaded by the warm-up, before the children are forked */

static oclip_status open_file(const char *path, oclip_error *err) {
    oclip_checkpoint *ck = NULL;
    oclip_status s = oclip_checkpoint_open(path, NULL, &ck, err);
    if (s == OCLIP_OK) dig_checkpoint(ck);
    oclip_checkpoint_free(ck);
    return s;
}

static oclip_status sc_safetensors(oclip_error *err) { return open_file(FX "readers/oc_f16.safetensors", err); }
static oclip_status sc_zip(oclip_error *err) { return open_file(FX "readers/oc_zip_f32.bin", err); }
static oclip_status sc_zip64(oclip_error *err) { return open_file(FX "readers/oc_zip64.bin", err); }
static oclip_status sc_views(oclip_error *err) { return open_file(FX "readers/views.bin", err); }
static oclip_status sc_legacy(oclip_error *err) { return open_file(FX "readers/oc_legacy.bin", err); }
static oclip_status sc_legacy_train(oclip_error *err) { return open_file(FX "readers/legacy_train.pt", err); }
static oclip_status sc_legacy_views(oclip_error *err) { return open_file(FX "readers/views_legacy.bin", err); }
static oclip_status sc_torchscript(oclip_error *err) { return open_file(FX "readers/scripted.pt", err); }
static oclip_status sc_openai(oclip_error *err) { return open_file(FX "readers/openai_like.pt", err); }
static oclip_status sc_train(oclip_error *err) { return open_file(FX "readers/train_module.pt", err); }
static oclip_status sc_shards(oclip_error *err) {
    return open_file(FX "readers/hf_sharded/model.safetensors.index.json", err);
}

static oclip_status sc_memory(oclip_error *err) {
    /* a pickle from memory: no file I/O at all, the VM and the checkpoint builder only */
    static unsigned char *buf;
    static size_t len;
    if (!buf) {
        FILE *f = __real_fopen(FX "readers/oc_zip_bf16.bin", "rb");
        if (!f) return setup_fail(err);
        fseek(f, 0, SEEK_END);
        len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = __real_malloc(len);
        if (!buf || __real_fread(buf, 1, len, f) != len) {
            fclose(f);
            return setup_fail(err);
        }
        fclose(f);
    }
    oclip_checkpoint *ck = NULL;
    oclip_status s = oclip_checkpoint_open_memory(buf, len, "mem.bin", NULL, &ck, err);
    if (s == OCLIP_OK) dig_checkpoint(ck);
    oclip_checkpoint_free(ck);
    return s;
}

static oclip_status check_file(const char *path, const char *arch, oclip_error *err) {
    oclip_checkpoint *ck = NULL;
    oclip_status s = oclip_checkpoint_open(path, NULL, &ck, err);
    if (s != OCLIP_OK) return s;
    oclip_model_config cfg;
    oclip_check_options opt = {0};
    if (arch) {
        s = oclip_config_builtin(arch, &cfg, err);
        if (s != OCLIP_OK) {
            oclip_checkpoint_free(ck);
            return s;
        }
        opt.config = &cfg;
    }
    opt.scan = 1;
    oclip_report *r = NULL;
    s = oclip_check(ck, &opt, &r, err);
    if (s == OCLIP_OK) {
        int ok = oclip_report_ok(r);
        size_t ni = oclip_report_n_issues(r), nn = oclip_report_n_notes(r);
        dig(&ok, sizeof ok);
        dig(&ni, sizeof ni);
        for (size_t i = 0; i < nn; i++) dig(oclip_report_note(r, i), strlen(oclip_report_note(r, i)));
        dig_checkpoint(oclip_report_mapped(r));
    }
    oclip_report_free(r);
    oclip_checkpoint_free(ck);
    return s;
}

static oclip_status sc_check_hf(oclip_error *err) { return check_file(FX "readers/hf_model/model.safetensors", NULL, err); }
static oclip_status sc_check_zip(oclip_error *err) { return check_file(FX "readers/oc_zip_f32.bin", NULL, err); }
static oclip_status sc_check_mismatch(oclip_error *err) {
    return check_file(FX "readers/oc_zip_f32.bin", "ViT-B-32", err); /* a report full of issues */
}

static oclip_status sc_config(oclip_error *err) {
    /* an HF config.json and an open_clip_config.json beside their checkpoints (oclip_source),
     * then to JSON */
    oclip_source *src = NULL;
    oclip_status s = oclip_source_resolve(FX "readers/hf_model/model.safetensors", NULL, &src, err);
    if (s == OCLIP_OK) s = oclip_source_open(src, err);
    if (s == OCLIP_OK) {
        int found = oclip_source_config(src) != NULL;
        dig(&found, sizeof found);
        if (found) dig(&oclip_source_config(src)->vision, sizeof(oclip_vision_cfg));
    }
    oclip_source_free(src);
    if (s != OCLIP_OK) return s;
    if ((s = oclip_source_resolve(FX "e2e/open_clip_model.safetensors", NULL, &src, err)))
        return s;
    char *json = oclip_source_config(src) ? oclip_config_to_json(oclip_source_config(src)) : NULL;
    oclip_source_free(src);
    if (!json) return to_json_null(err);
    dig(json, strlen(json));
    oclip_free(json);
    return OCLIP_OK;
}

static oclip_status sc_model_load(oclip_error *err) {
    oclip_model_options opt = {.threads = 1};
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FX "e2e", &opt, &m, err);
    if (s == OCLIP_OK) {
        float ls = oclip_model_logit_scale(m);
        dig(&ls, sizeof ls);
        dig(oclip_model_source(m), strlen(oclip_model_source(m)));
    }
    oclip_model_free(m);
    return s;
}

/* a ModifiedResNet: the batch norms folded and the convolutions packed at load, then one image */
static oclip_status sc_model_load_resnet(oclip_error *err) {
    oclip_model_options opt = {.threads = 1};
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FX "resnet/rn50x4_tiny", &opt, &m, err);
    if (s == OCLIP_OK) {
        static float px[3 * 64 * 64];
        float out[16];
        for (size_t i = 0; i < sizeof px / sizeof *px; i++) px[i] = (float)(i % 7) * 0.25f - 0.5f;
        s = oclip_encode_image(m, px, 1, out, 1, err);
        if (s == OCLIP_OK) dig(out, sizeof out);
    }
    oclip_model_free(m);
    return s;
}

static oclip_status sc_model_load_hf(oclip_error *err) {
    oclip_model_options opt = {.threads = 1};
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FX "readers/hf_model", &opt, &m, err);
    if (s == OCLIP_OK) {
        float ls = oclip_model_logit_scale(m);
        dig(&ls, sizeof ls);
    }
    oclip_model_free(m);
    return s;
}

static oclip_status image_pipeline(const char *path, int size, oclip_error *err) {
    oclip_image *img = NULL;
    oclip_image_options io = {.exif_transpose = 1};
    oclip_status s = oclip_image_load(path, &io, &img, err);
    if (s != OCLIP_OK) return s;
    dig(img->pixels, (size_t)img->width * img->height * img->channels);
    oclip_preprocess_cfg cfg;
    oclip_preprocess_cfg_default(&cfg);
    cfg.size[0] = cfg.size[1] = size;
    float *px = __real_malloc(sizeof(float) * 3 * (size_t)size * (size_t)size);
    s = px ? oclip_preprocess(img, &cfg, px, err) : setup_fail(err);
    if (s == OCLIP_OK) dig(px, sizeof(float) * 3 * (size_t)size * (size_t)size);
    __real_free(px);
    oclip_image_free(img);
    return s;
}

static oclip_status sc_png(oclip_error *err) { return image_pipeline(FX "preprocess/img/p_601x589.png", 32, err); }
static oclip_status sc_jpeg(oclip_error *err) { return image_pipeline(FX "preprocess/img/jpg_exif_rot6.jpg", 24, err); }
static oclip_status sc_gif(oclip_error *err) { return image_pipeline(FX "preprocess/img/gif_trns.gif", 16, err); }
static oclip_status sc_bmp(oclip_error *err) { return image_pipeline(FX "preprocess/img/bmp_rle8.bmp", 16, err); }

static const char *const texts[] = {
    "a photo of a cat.", "A DIAGRAM &amp; ‘quotes’ — Ã©tÃ© mojibake", "\xff\xfe bad utf-8 \xc3",
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
};
#define N_TEXTS (sizeof texts / sizeof *texts)

static oclip_status sc_tokenizer(oclip_error *err) {
    oclip_status s = oclip_tokenizer_init(err);
    if (s != OCLIP_OK) return s;
    for (size_t i = 0; i < N_TEXTS; i++) {
        int64_t row[OCLIP_CONTEXT_LENGTH];
        for (int c = 0; c < 3; c++) {
            s = oclip_tokenize(texts[i], strlen(texts[i]), (oclip_clean)c, row,
                               OCLIP_CONTEXT_LENGTH, err);
            if (s != OCLIP_OK) return s;
            dig(row, sizeof row);
        }
        char clean[512];
        size_t n = 0;
        s = oclip_tokenize_clean(texts[i], strlen(texts[i]), OCLIP_CLEAN_LOWER, clean, sizeof clean,
                                 &n, err);
        if (s != OCLIP_OK) return s;
        dig(clean, strlen(clean));
    }
    return OCLIP_OK;
}

static const char *const image_files[] = {FX "preprocess/img/jpg_420.jpg", FX "preprocess/img/p_601x589.png"};

static oclip_status sc_encode_image(oclip_error *err) {
    int E = oclip_model_embed_dim(g_model);
    float out[2 * 1024];
    if (E > 1024) return setup_fail(err);
    oclip_status s = oclip_encode_image_files(g_model, image_files, 2, out, 1, err);
    if (s == OCLIP_OK) dig(out, sizeof(float) * 2 * (size_t)E);
    return s;
}

static oclip_status sc_encode_text(oclip_error *err) {
    int E = oclip_model_embed_dim(g_model);
    float out[N_TEXTS * 1024];
    if (E > 1024) return setup_fail(err);
    oclip_status s = oclip_encode_text_strings(g_model, texts, NULL, N_TEXTS, out, 1, err);
    if (s == OCLIP_OK) dig(out, sizeof(float) * N_TEXTS * (size_t)E);
    return s;
}

/* A fresh model's first two encodes of each tower, which pack it (int8 quantization: the first
 * call; fp32 panels: the second, the first small call reads the weights in place), each, when
 * it failed, made again: it must succeed (the packing is retried) and give the clean run's
 * bytes. */
static oclip_status first_encodes(oclip_dtype wd, oclip_error *err) {
    oclip_model_options opt = {.threads = 1, .weight_dtype = wd};
    oclip_model *m = NULL;
    oclip_status s = oclip_model_load(FX "e2e", &opt, &m, err);
    if (s != OCLIP_OK) return s;
    int E = oclip_model_embed_dim(m);
    float img[2][2 * 1024], txt[2][N_TEXTS * 1024];
    if (E > 1024) {
        oclip_model_free(m);
        return setup_fail(err);
    }
    for (int tower = 0; tower < 2 && s == OCLIP_OK; tower++)
        for (int call = 0; call < 2 && s == OCLIP_OK; call++)
            for (int attempt = 0; attempt < 2; attempt++) {
                s = tower ? oclip_encode_text_strings(m, texts, NULL, N_TEXTS, txt[call], 1, err)
                          : oclip_encode_image_files(m, image_files, 2, img[call], 1, err);
                if (s == OCLIP_OK || err->msg[0] == '\0') break;
            }
    if (s == OCLIP_OK)
        for (int call = 0; call < 2; call++) {
            dig(img[call], sizeof(float) * 2 * (size_t)E);
            dig(txt[call], sizeof(float) * N_TEXTS * (size_t)E);
        }
    oclip_model_free(m);
    return s;
}

static oclip_status sc_first_encode(oclip_error *err) { return first_encodes(OCLIP_DTYPE_F32, err); }
static oclip_status sc_first_encode_i8(oclip_error *err) { return first_encodes(OCLIP_DTYPE_I8, err); }

static oclip_status sc_zero_shot(oclip_error *err) {
    int E = oclip_model_embed_dim(g_model);
    const char *const labels[] = {"cat", "dog", "car"};
    const char *const *tpl = NULL;
    size_t nt = oclip_zero_shot_templates("simple", &tpl);
    float w[3 * 1024], img[1024], probs[3];
    if (E > 1024) return setup_fail(err);
    oclip_status s = oclip_zero_shot_classifier(g_model, labels, 3, tpl, nt, w, err);
    if (s != OCLIP_OK) return s;
    s = oclip_encode_image_files(g_model, image_files, 1, img, 1, err);
    if (s != OCLIP_OK) return s;
    s = oclip_zero_shot_probs(g_model, img, 1, w, 3, probs, err);
    if (s == OCLIP_OK) {
        dig(w, sizeof(float) * 3 * (size_t)E);
        dig(probs, sizeof probs);
    }
    return s;
}

/* oclip_convert to both formats in a fresh folder: on failure, nothing may be left there (the
 * writes are atomic); on success the files' bytes go into the digest. */
static int dir_entries(const char *dir, int remove_them, int digest_them) {
    int n = 0;
    const char *names[] = {"oc.safetensors", "hf/model.safetensors", "hf/config.json",
                           "hf/open_clip_config.json", "oc/open_clip_model.safetensors",
                           "oc/open_clip_config.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = __real_fopen(path, "rb");
        if (!f) continue;
        n++;
        if (digest_them) {
            unsigned char buf[4096];
            size_t k;
            while ((k = __real_fread(buf, 1, sizeof buf, f)) > 0) dig(buf, k);
        }
        fclose(f);
        if (remove_them) unlink(path);
    }
    return n;
}

static int convert_leftovers; /* files or temporaries left behind by a failed conversion */

static oclip_status sc_convert(oclip_error *err) {
    char dir[] = "/tmp/oclip-faults-XXXXXX";
    if (!mkdtemp(dir)) return setup_fail(err);
    oclip_checkpoint *ck = NULL;
    oclip_report *r = NULL;
    oclip_status s = oclip_checkpoint_open(FX "readers/oc_zip_f32.bin", NULL, &ck, err);
    if (s == OCLIP_OK) s = oclip_check(ck, NULL, &r, err);
    char out[600];
    if (s == OCLIP_OK) {
        snprintf(out, sizeof out, "%s/oc.safetensors", dir);
        s = oclip_save_safetensors(oclip_report_mapped(r), out, NULL, 0, OCLIP_DTYPE_F16, NULL, 0,
                                   err);
    }
    if (s == OCLIP_OK) {
        oclip_convert_options o = {.to = OCLIP_FORMAT_HF};
        snprintf(out, sizeof out, "%s/hf", dir);
        s = oclip_convert(r, out, &o, err);
    }
    if (s == OCLIP_OK) {
        oclip_convert_options o = {.to = OCLIP_FORMAT_OPEN_CLIP, .dtype = OCLIP_DTYPE_BF16};
        snprintf(out, sizeof out, "%s/oc/", dir);
        s = oclip_convert(r, out, &o, err);
    }
    oclip_report_free(r);
    oclip_checkpoint_free(ck);
    int files = dir_entries(dir, 1, s == OCLIP_OK);
    /* whatever else is there (a temporary) is a leftover; the folders may stay (mkdir is fine) */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/hf", dir);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/oc", dir);
    rmdir(sub);
    if (rmdir(dir) != 0) convert_leftovers = 1;
    if (s == OCLIP_OK && files != 6) convert_leftovers = 1;
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * The driver
 */
static oclip_status need_model(oclip_error *err) {
    if (g_model) return OCLIP_OK;
    oclip_model_options opt = {.threads = 1};
    return oclip_model_load(FX "e2e", &opt, &g_model, err);
}

typedef struct {
    const char *name;
    oclip_status (*run)(oclip_error *err);
    oclip_status (*setup)(oclip_error *err); /* unarmed, before run (NULL: none) */
    int cold;                                /* also run from a fresh process (first-use inits) */
} scenario;

static const scenario scenarios[] = {
    {"safetensors", sc_safetensors, NULL, 0},
    {"torch-zip", sc_zip, NULL, 0},
    {"torch-zip64", sc_zip64, NULL, 0},
    {"torch-zip-views", sc_views, NULL, 0},
    {"torch-zip-memory", sc_memory, NULL, 0},
    {"training-checkpoint", sc_train, NULL, 0},
    {"legacy", sc_legacy, NULL, 0},
    {"legacy-training", sc_legacy_train, NULL, 0},
    {"legacy-views", sc_legacy_views, NULL, 0},
    {"torchscript", sc_torchscript, NULL, 0},
    {"torchscript-openai", sc_openai, NULL, 0},
    {"shards", sc_shards, NULL, 0},
    {"check-hf", sc_check_hf, NULL, 0},
    {"check-zip", sc_check_zip, NULL, 0},
    {"check-mismatch", sc_check_mismatch, NULL, 0},
    {"config", sc_config, NULL, 0},
    {"model-load", sc_model_load, NULL, 1},
    {"model-load-hf", sc_model_load_hf, NULL, 0},
    {"model-load-resnet", sc_model_load_resnet, NULL, 0},
    {"image-png", sc_png, NULL, 0},
    {"image-jpeg", sc_jpeg, NULL, 0},
    {"image-gif", sc_gif, NULL, 0},
    {"image-bmp", sc_bmp, NULL, 0},
    {"tokenizer", sc_tokenizer, NULL, 1},
    {"encode-image", sc_encode_image, need_model, 0},
    {"encode-text", sc_encode_text, need_model, 1},
    {"first-encode", sc_first_encode, NULL, 0},
    {"first-encode-int8", sc_first_encode_i8, NULL, 0},
    {"zero-shot", sc_zero_shot, need_model, 1},
    {"convert", sc_convert, NULL, 0},
};
#define N_SCENARIOS (sizeof scenarios / sizeof *scenarios)

typedef struct {
    int exited;          /* the child reported (0: crashed or hung) */
    int signal;          /* the signal that ended it */
    int status;          /* oclip_status */
    int injected;
    int setup_failed;
    long leaks;          /* blocks allocated during the run and still live */
    int overflow;        /* the live table overflowed (leak count unknown) */
    int lsan;            /* LeakSanitizer found leaks (cold runs, ASan build) */
    int leftovers;       /* sc_convert: a failed conversion left files behind */
    unsigned long calls[K_KINDS];
    uint64_t digest;
    char msg[240];
} result;

static int child_timeout = 120;

/* copies s into out[n], cut short; flat = 1 turns newlines into '|' */
static void copy_line(char *out, size_t n, const char *s, int flat) {
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) out[i] = flat && s[i] == '\n' ? '|' : s[i];
    out[i] = '\0';
}

/* One run of `sc` in a child with call k of `kind` failing (k = 0: none). */
static void run_child(const scenario *sc, int cold, int kind, unsigned long k, result *r) {
    memset(r, 0, sizeof *r);
    int fd[2];
    if (pipe(fd) != 0) {
        r->setup_failed = 1;
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        r->setup_failed = 1;
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        alarm((unsigned)child_timeout);
        result out;
        memset(&out, 0, sizeof out);
        oclip_error err;
        memset(&err, 0, sizeof err);
        if (cold && sc->setup && sc->setup(&err) != OCLIP_OK) setup_failed = 1;
        memset(calls, 0, sizeof calls);
        memset(fail_at, 0, sizeof fail_at);
        fail_at[kind] = k;
        injected = 0;
        digest = 0xcbf29ce484222325ULL;
        live_count = 0;
        oclip_status s = OCLIP_OK;
        if (!setup_failed) {
            armed = 1;
            s = sc->run(&err);
            armed = 0;
        }
        out.exited = 1;
        out.status = (int)s;
        out.injected = injected;
        out.setup_failed = setup_failed;
        out.leaks = live_count;
        out.overflow = live_overflow;
        out.leftovers = convert_leftovers;
        if (cold && __lsan_do_recoverable_leak_check) out.lsan = __lsan_do_recoverable_leak_check();
        memcpy(out.calls, calls, sizeof calls);
        out.digest = digest;
        copy_line(out.msg, sizeof out.msg, err.msg, 0);
        ssize_t w = write(fd[1], &out, sizeof out);
        _exit(w == (ssize_t)sizeof out ? 0 : 3);
    }
    close(fd[1]);
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd[0], (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (got != sizeof *r) {
        memset(r, 0, sizeof *r);
        r->signal = WIFSIGNALED(ws) ? WTERMSIG(ws) : -1;
    }
}

static unsigned long dense = 200, max_sparse = 200, forced_stride = 0;
static unsigned long only_k; /* FAULT_K=k [FAULT_KIND=io]: that one call only */
static int only_kind;


/* Runs scenario `sc` (cold: from the unwarmed parent) for every fault kind. */
static void run_scenario(const scenario *sc, int cold) {
    const char *mode = cold ? "cold" : "warm";
    result clean;
    run_child(sc, cold, K_ALLOC, 0, &clean);
    CHECKF(clean.exited, "%s (%s): the clean run died (signal %d)", sc->name, mode, clean.signal);
    if (!clean.exited) return;
    CHECKF(!clean.setup_failed && clean.status == OCLIP_OK, "%s (%s): the clean run failed: %s",
           sc->name, mode, clean.msg);
    CHECKF(cold || (clean.leaks == 0 && !clean.overflow), "%s (%s): the clean run leaks %ld blocks",
           sc->name, mode, clean.leaks);
    CHECKF(!clean.lsan, "%s (%s): LeakSanitizer: the clean run leaks", sc->name, mode);
    if (clean.status != OCLIP_OK) return;

    for (int kind = 0; kind < K_KINDS; kind++) {
        unsigned long n = clean.calls[kind];
        if (n == 0) continue;
        unsigned long stride = 1;
        if (forced_stride) stride = forced_stride;
        else if (n > dense) stride = (n - dense + max_sparse - 1) / max_sparse;
        unsigned long tested = 0, tolerated = 0, by_code[16] = {0};
        char odd[300] = "";
        if (only_k && (only_kind != kind || only_k > n)) continue;
        for (unsigned long k = only_k ? only_k : 1; k <= n;) {
            result r;
            run_child(sc, cold, kind, k, &r);
            tested++;
            int ok = 1;
            if (!r.exited) {
                CHECKF(0, "%s (%s): %s call %lu of %lu: the child died (signal %d%s)", sc->name,
                       mode, kind_name[kind], k, n, r.signal,
                       r.signal == SIGALRM ? ": hang" : "");
                ok = 0;
            } else if (r.setup_failed) {
                CHECKF(0, "%s (%s): %s call %lu: test setup failed", sc->name, mode,
                       kind_name[kind], k);
                ok = 0;
            } else if (r.status == OCLIP_OK) {
                /* tolerated (a fallback) or not reached: then the result must be the clean one */
                tolerated += r.injected;
                CHECKF(r.digest == clean.digest,
                       "%s (%s): %s call %lu of %lu failed, the call returned OK with another "
                       "result", sc->name, mode, kind_name[kind], k, n);
                ok = r.digest == clean.digest;
            } else {
                CHECKF(r.msg[0] != '\0', "%s (%s): %s call %lu: status %d without a message",
                       sc->name, mode, kind_name[kind], k, r.status);
                by_code[r.status & 15]++;
                if (kind == K_ALLOC && r.status != OCLIP_E_NOMEM && !odd[0]) {
                    char m[200];
                    copy_line(m, sizeof m, r.msg, 1);
                    snprintf(odd, sizeof odd, "call %lu -> %s: %s", k,
                             oclip_status_str((oclip_status)r.status), m);
                }
            }
            if (r.exited && !cold) {
                CHECKF(r.leaks == 0 && !r.overflow,
                       "%s (%s): %s call %lu of %lu failed: %ld blocks leaked (status %d: %s)",
                       sc->name, mode, kind_name[kind], k, n, r.leaks, r.status, r.msg);
                ok &= r.leaks == 0;
            }
            if (r.exited && r.leftovers) {
                CHECKF(0, "%s (%s): %s call %lu of %lu failed: files left behind (%s)", sc->name,
                       mode, kind_name[kind], k, n, r.msg);
                ok = 0;
            }
            if (r.exited && r.lsan) {
                CHECKF(0, "%s (%s): %s call %lu of %lu failed: LeakSanitizer found leaks (%s)",
                       sc->name, mode, kind_name[kind], k, n, r.msg);
                ok = 0;
            }
            (void)ok;
            if (only_k) break;
            if (k < dense || stride == 1) k++;
            else if (k < n && k + stride > n) k = n;
            else k += stride;
        }
        printf("%-20s %s %-10s %6lu calls, %5lu failed in turn (%s), %lu tolerated; errors:",
               sc->name, mode, kind_name[kind], n, tested,
               tested == n ? "every one" : "dense then strided", tolerated);
        for (int c = 1; c < 16; c++)
            if (by_code[c]) printf(" %s %lu", oclip_status_str((oclip_status)c), by_code[c]);
        printf("\n");
        if (odd[0]) printf("    not NOMEM, e.g. %s\n", odd);
        if (tested != n && !forced_stride)
            printf("    (every call up to %lu, then every %lu-th, and the last)\n", dense, stride);
    }
}

int main(void) {
    const char *only = getenv("FAULT_ONLY"), *st = getenv("FAULT_STRIDE");
    if (st && atol(st) > 0) forced_stride = (unsigned long)atol(st);
    trace = getenv("FAULT_TRACE") != NULL;
    if (getenv("FAULT_K")) only_k = (unsigned long)atol(getenv("FAULT_K"));
    only_kind = getenv("FAULT_KIND") && strcmp(getenv("FAULT_KIND"), "io") == 0 ? K_IO : K_ALLOC;
    live_tab = __real_calloc(LIVE_SLOTS, sizeof *live_tab);
    if (!live_tab) return 1;
    cJSON_Hooks hooks = {hook_malloc, hook_free};
    cJSON_InitHooks(&hooks);
    setvbuf(stdout, NULL, _IOLBF, 0);
    time_t t0 = time(NULL);

    /* cold: from this still unwarmed process (first-use initialisers run inside the children) */
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (scenarios[i].cold && (!only || strcmp(only, scenarios[i].name) == 0))
            run_scenario(&scenarios[i], 1);

    /* warm up: every first-use initialiser, and the model the encode scenarios share */
    oclip_error err;
    CHECKF(need_model(&err) == OCLIP_OK, "%s", err.msg);
    if (!g_model) return TEST_REPORT("test_faults");
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        oclip_status s = scenarios[i].run(&err);
        CHECKF(s == OCLIP_OK, "%s (warm-up): %s", scenarios[i].name, err.msg);
    }
    for (size_t i = 0; i < N_SCENARIOS; i++)
        if (!only || strcmp(only, scenarios[i].name) == 0) run_scenario(&scenarios[i], 0);

    oclip_model_free(g_model);
    printf("test_faults: %ld s\n", (long)(time(NULL) - t0));
    return TEST_REPORT("test_faults");
}
