/*
 * test_preprocess.c — image decoding and OpenCLIP's inference transform against the fixtures
 * tools/fixtures_preprocess.py made with Pillow 12 / torchvision / open_clip
 * (tests/fixtures/preprocess/manifest.json):
 *   - every image decodes to Pillow's mode and size;
 *   - JPEGs: our libjpeg-turbo's pixels vs the pixels Pillow's bundled libjpeg-turbo decoded
 *     (counted and bounded; see docs/PREPROCESSING.md), and the pipeline run on Pillow's own
 *     decoded pixels, which must be bit-exact;
 *   - every case: the uint8 RGB image before ToTensor (mismatch count) and the sha256 of the
 *     float32 [3, h, w] output, which must equal OpenCLIP's bit for bit;
 *   - hostile input: truncated and corrupted copies of every image never crash (run under
 *     ASan/UBSan by `make test-asan`), the pixel limit refuses large images.
 */
#include <cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oclip.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/preprocess/"

/* Max allowed |ours - Pillow| per JPEG sample (measured, documented in docs/PREPROCESSING.md). */
#define JPEG_MAX_DIFF 1

static cJSON *manifest;
static int n_exact, n_cases, n_jpeg_inexact, n_pillow_fails;

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static oclip_image *load(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s", rel);
    oclip_error err;
    oclip_image *im = NULL;
    if (oclip_image_load(path, NULL, &im, &err) != OCLIP_OK) {
        fprintf(stderr, "  load %s: %s\n", rel, err.msg);
        return NULL;
    }
    return im;
}

/* The image Pillow decoded for a JPEG: dec/<name>.png (L/RGB) or raw bytes (CMYK). */
static oclip_image *pillow_decoded(const cJSON *img, const oclip_image *ours) {
    const char *dec = jstr(img, "decoded");
    if (!dec) return NULL;
    if (strstr(dec, ".png")) return load(dec);
    char path[512];
    size_t n = 0;
    snprintf(path, sizeof path, FIX "%s", dec);
    unsigned char *raw = read_file(path, &n);
    oclip_image *im = NULL;
    if (raw && oclip_image_new(ours->width, ours->height, ours->mode, &im, NULL) == OCLIP_OK &&
        n == (size_t)im->width * im->height * im->channels) {
        memcpy(im->pixels, raw, n);
    } else {
        oclip_image_free(im);
        im = NULL;
    }
    free(raw);
    return im;
}

static void cfg_of(const cJSON *c, oclip_preprocess_cfg *cfg) {
    oclip_preprocess_cfg_default(cfg);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(c, "size");
    cfg->size[0] = cJSON_GetArrayItem(size, 0)->valueint;
    cfg->size[1] = cJSON_GetArrayItem(size, 1)->valueint;
    const cJSON *mean = cJSON_GetObjectItemCaseSensitive(c, "mean");
    const cJSON *std = cJSON_GetObjectItemCaseSensitive(c, "std");
    for (int i = 0; i < 3; i++) {
        cfg->mean[i] = cJSON_GetArrayItem(mean, i)->valuedouble;
        cfg->std[i] = cJSON_GetArrayItem(std, i)->valuedouble;
    }
    snprintf(cfg->interpolation, sizeof cfg->interpolation, "%s", jstr(c, "interpolation"));
    snprintf(cfg->resize_mode, sizeof cfg->resize_mode, "%s", jstr(c, "resize_mode"));
    cfg->fill_color = (int)jnum(c, "fill_color");
}

/* Runs one case on `im`; returns 1 when the float32 output is bit-identical. With `quiet`, only
 * reports (JPEG decoded by a different libjpeg-turbo), without failing the test. */
static int run_case(const cJSON *c, const oclip_image *im, int quiet, long *u8_mismatch,
                    int *u8_maxdiff) {
    oclip_preprocess_cfg cfg;
    cfg_of(c, &cfg);
    const char *name = jstr(c, "name");
    oclip_error err;
    size_t hw = (size_t)cfg.size[0] * (size_t)cfg.size[1];
    if (jstr(c, "pillow_fails")) { /* nothing to compare with: only check that oclip copes */
        float *buf = malloc(hw * 3 * sizeof *buf);
        CHECKF(oclip_preprocess(im, &cfg, buf, &err) == OCLIP_OK, "%s: %s", name, err.msg);
        free(buf);
        n_pillow_fails++;
        return 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(c, "error")) {
        float *buf = malloc(hw * 3 * sizeof *buf);
        oclip_status st = oclip_preprocess(im, &cfg, buf, &err);
        free(buf);
        CHECKF(st == OCLIP_E_ARG, "%s: OpenCLIP fails (%s), oclip gave %d", name,
               jstr(c, "error"), (int)st);
        return 1;
    }
    uint8_t *u8 = malloc(hw * 3);
    float *f = malloc(hw * 3 * sizeof *f);
    int exact = 0;
    *u8_mismatch = 0;
    *u8_maxdiff = 0;
    if (oclip_preprocess_u8(im, &cfg, u8, &err) != OCLIP_OK ||
        oclip_preprocess(im, &cfg, f, &err) != OCLIP_OK) {
        CHECKF(0, "%s: %s", name, err.msg);
        goto done;
    }
    const char *u8file = jstr(c, "u8");
    if (u8file) {
        char path[512];
        size_t n = 0;
        snprintf(path, sizeof path, FIX "%s", u8file);
        unsigned char *want = read_file(path, &n);
        if (!want || n != hw * 3) {
            CHECKF(0, "%s: cannot read %s", name, u8file);
        } else {
            for (size_t i = 0; i < n; i++) {
                int dd = abs((int)u8[i] - (int)want[i]);
                if (dd) (*u8_mismatch)++;
                if (dd > *u8_maxdiff) *u8_maxdiff = dd;
            }
        }
        free(want);
    }
    char hex[65];
    sha256_hex(f, hw * 3 * sizeof *f, hex);
    exact = !strcmp(hex, jstr(c, "f32_sha256"));
    if (!quiet) {
        CHECKF(exact && *u8_mismatch == 0,
               "%s: float32 %s, uint8 mismatches %ld of %zu (max diff %d)", name,
               exact ? "identical" : "DIFFERS", *u8_mismatch, hw * 3, *u8_maxdiff);
    }
done:
    free(u8);
    free(f);
    return exact;
}

static void test_images_and_cases(void) {
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(manifest, "images");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(manifest, "cases");
    int n_img = 0, n_jpeg = 0, n_jpeg_identical = 0;
    for (const cJSON *img = images->child; img; img = img->next) {
        oclip_image *im = load(jstr(img, "file"));
        CHECKF(im != NULL, "%s: decodes", img->string);
        if (!im) continue;
        n_img++;
        CHECKF(!strcmp(oclip_image_mode_name(im->mode), jstr(img, "mode")),
               "%s: mode %s, Pillow %s", img->string, oclip_image_mode_name(im->mode),
               jstr(img, "mode"));
        CHECKF(im->width == (uint32_t)jnum(img, "width") &&
                   im->height == (uint32_t)jnum(img, "height"),
               "%s: size %ux%u", img->string, im->width, im->height);
        /* JPEG: compare with Pillow's decode; if different, the cases run on Pillow's pixels */
        oclip_image *pil = pillow_decoded(img, im);
        int jpeg_same = 1;
        if (jstr(img, "decoded")) {
            n_jpeg++;
            CHECKF(pil && pil->width == im->width && pil->height == im->height &&
                       pil->channels == im->channels,
                   "%s: Pillow's decoded pixels load", img->string);
            if (pil && pil->channels == im->channels && pil->width == im->width &&
                pil->height == im->height) {
                size_t n = (size_t)im->width * im->height * im->channels, diff = 0;
                int maxd = 0;
                for (size_t i = 0; i < n; i++) {
                    int dd = abs((int)im->pixels[i] - (int)pil->pixels[i]);
                    diff += dd != 0;
                    if (dd > maxd) maxd = dd;
                }
                jpeg_same = diff == 0;
                n_jpeg_identical += jpeg_same;
                if (!jpeg_same)
                    fprintf(stderr, "  note: %s: Debian libjpeg-turbo vs Pillow's: %zu of %zu "
                            "samples differ, max %d\n", img->string, diff, n, maxd);
                CHECKF(maxd <= JPEG_MAX_DIFF, "%s: JPEG decode differs by %d > %d",
                       img->string, maxd, JPEG_MAX_DIFF);
            }
        }
        for (const cJSON *c = cases->child; c; c = c->next) {
            if (strcmp(jstr(c, "image"), img->string)) continue;
            long mism;
            int maxd;
            n_cases++;
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "exif_transpose"))) {
                /* oclip_image_options.exif_transpose vs ImageOps.exif_transpose */
                oclip_image_options opt = {.exif_transpose = 1};
                oclip_image *rot = NULL;
                char path[512];
                snprintf(path, sizeof path, FIX "%s", jstr(img, "file"));
                CHECK(oclip_image_load(path, &opt, &rot, NULL) == OCLIP_OK);
                if (rot) n_exact += run_case(c, rot, 0, &mism, &maxd);
                oclip_image_free(rot);
                continue;
            }
            if (jpeg_same || !pil) {
                n_exact += run_case(c, im, 0, &mism, &maxd);
            } else {
                /* the pipeline on Pillow's own decoded pixels must be exact ... */
                n_exact += run_case(c, pil, 0, &mism, &maxd);
                /* ... and on ours the differences stay within the decoder's */
                if (!run_case(c, im, 1, &mism, &maxd) &&
                    !cJSON_GetObjectItemCaseSensitive(c, "error")) {
                    n_jpeg_inexact++;
                    CHECKF(maxd <= JPEG_MAX_DIFF, "%s: uint8 differs by %d after decoding "
                           "with Debian's libjpeg-turbo", jstr(c, "name"), maxd);
                }
            }
        }
        oclip_image_free(pil);
        oclip_image_free(im);
    }
    fprintf(stderr, "  %d images decoded; %d of %d JPEGs decode identically to Pillow's\n",
            n_img, n_jpeg_identical, n_jpeg);
    fprintf(stderr, "  %d of %d cases bit-identical to OpenCLIP (%d where a Pillow bug makes "
            "OpenCLIP fail: oclip's output only checked to exist); %d JPEG cases differ only "
            "through the JPEG decoder (checked on Pillow's decoded pixels instead)\n",
            n_exact - n_pillow_fails, n_cases - n_pillow_fails, n_pillow_fails, n_jpeg_inexact);
}

/* Cases named after a pretrained tag: oclip's tag table plus the architecture's image size give
 * the config OpenCLIP's create_model_and_transforms builds (the float output is checked above). */
static void test_pretrained(void) {
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(manifest, "cases");
    int n = 0;
    for (const cJSON *c = cases->child; c; c = c->next) {
        const char *arch = jstr(c, "arch"), *tag = jstr(c, "tag");
        if (!arch || !tag) continue;
        oclip_pretrained pt;
        oclip_model_config mc;
        oclip_error err;
        if (oclip_pretrained_lookup(arch, tag, &pt, &err) != OCLIP_OK ||
            oclip_config_builtin(arch, &mc, &err) != OCLIP_OK) {
            CHECKF(0, "%s:%s: %s", arch, tag, err.msg);
            continue;
        }
        oclip_preprocess_cfg want, *got = &pt.preprocess;
        cfg_of(c, &want);
        if (got->size[0] <= 0) got->size[0] = mc.vision.image_size[0];
        if (got->size[1] <= 0) got->size[1] = mc.vision.image_size[1];
        CHECKF(got->size[0] == want.size[0] && got->size[1] == want.size[1] &&
                   !memcmp(got->mean, want.mean, sizeof want.mean) &&
                   !memcmp(got->std, want.std, sizeof want.std) &&
                   !strcmp(got->interpolation, want.interpolation) &&
                   !strcmp(got->resize_mode, want.resize_mode) &&
                   got->fill_color == want.fill_color,
               "%s:%s: preprocess config differs from OpenCLIP's", arch, tag);
        n++;
    }
    CHECK(n >= 8);
}

/* Truncated and corrupted copies of every image: an error or an image, never a crash. */
static void test_hostile(void) {
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(manifest, "images");
    int n_trunc = 0, n_trunc_err = 0, n_flip = 0;
    uint32_t rng = 12345;
    for (const cJSON *img = images->child; img; img = img->next) {
        char path[512];
        size_t n = 0;
        snprintf(path, sizeof path, FIX "%s", jstr(img, "file"));
        unsigned char *d = read_file(path, &n);
        if (!d) continue;
        for (int k = 0; k < 12; k++) {
            size_t cut = n * (size_t)k / 12;
            oclip_image *im = NULL;
            oclip_error err;
            oclip_status st = oclip_image_decode(d, cut, "cut", NULL, &im, &err);
            n_trunc++;
            n_trunc_err += st != OCLIP_OK;
            /* at most half the file must be an error naming the input (an animated GIF's first
             * frame may end before that, and then decodes, as in Pillow) */
            if (k < 6 && !strstr(img->string, "anim"))
                CHECKF(st != OCLIP_OK && strstr(err.msg, "'cut'"), "%s cut at %zu decoded",
                       img->string, cut);
            CHECK((st == OCLIP_OK) == (im != NULL));
            oclip_image_free(im);
        }
        unsigned char *c = malloc(n);
        for (int k = 0; k < 24; k++) {
            memcpy(c, d, n);
            for (int j = 0; j < 4; j++) {
                rng = rng * 1103515245u + 12345u;
                size_t pos = (rng >> 8) % n;
                c[pos] ^= (unsigned char)(1u << (rng & 7));
            }
            oclip_image *im = NULL;
            oclip_status st = oclip_image_decode(c, n, "flip", NULL, &im, NULL);
            CHECK((st == OCLIP_OK) == (im != NULL));
            n_flip++;
            oclip_image_free(im);
        }
        free(c);
        free(d);
    }
    fprintf(stderr, "  hostile: %d truncations (%d refused), %d corrupted copies, no crash\n",
            n_trunc, n_trunc_err, n_flip);
}

static void test_limits_and_args(void) {
    oclip_image_options opt = {.max_pixels = 100};
    oclip_image *im = NULL;
    oclip_error err;
    CHECK(oclip_image_load(FIX "img/rgb_61x47.png", &opt, &im, &err) == OCLIP_E_NOMEM);
    CHECK(im == NULL && strstr(err.msg, "rgb_61x47.png") && strstr(err.msg, "limit"));
    CHECK(oclip_image_load(FIX "img/jpg_photo.jpg", &opt, &im, &err) == OCLIP_E_NOMEM);
    opt.max_pixels = 61 * 47;
    CHECK(oclip_image_load(FIX "img/rgb_61x47.png", &opt, &im, &err) == OCLIP_OK);
    oclip_preprocess_cfg cfg;
    oclip_preprocess_cfg_default(&cfg);
    float *f = malloc(3 * 224 * 224 * sizeof *f);
    cfg.size[0] = 0;
    CHECK(oclip_preprocess(im, &cfg, f, &err) == OCLIP_E_ARG);
    oclip_preprocess_cfg_default(&cfg);
    snprintf(cfg.resize_mode, sizeof cfg.resize_mode, "crop");
    CHECK(oclip_preprocess(im, &cfg, f, &err) == OCLIP_E_ARG && strstr(err.msg, "crop"));
    /* the resize target's pixel limit: 61x47 "shortest" to 224 resizes to 290x224 (torchvision:
     * int(224 * 61 / 47)) = 64960 pixels before the crop */
    oclip_preprocess_cfg_default(&cfg);
    cfg.max_pixels = 64959;
    CHECK(oclip_preprocess(im, &cfg, f, &err) == OCLIP_E_ARG);
    CHECKF(strstr(err.msg, "resizes to 290x224 (64960 pixels)") &&
               strstr(err.msg, "limit of 64959") && strstr(err.msg, "max_pixels"),
           "%s", err.msg);
    uint8_t *u = malloc(3 * 224 * 224);
    CHECK(u && oclip_preprocess_u8(im, &cfg, u, &err) == OCLIP_E_ARG);
    cfg.max_pixels = 64960;
    CHECK(oclip_preprocess(im, &cfg, f, &err) == OCLIP_OK);
    /* a limit over 2^32 is capped there: an 8192 x 1 image "shortest" to 16384 would resize to
     * 134217728 x 16384 (2.2e12 pixels; refused before any output is written) */
    {
        static uint8_t row[8192 * 3];
        char hdr[32];
        int hl = snprintf(hdr, sizeof hdr, "P6\n8192 1\n255\n");
        uint8_t *ppm = malloc((size_t)hl + sizeof row);
        oclip_image *thin = NULL;
        CHECK(ppm != NULL);
        if (ppm) {
            memcpy(ppm, hdr, (size_t)hl);
            memcpy(ppm + hl, row, sizeof row);
            CHECK(oclip_image_decode(ppm, (size_t)hl + sizeof row, "thin.ppm", NULL, &thin,
                                     &err) == OCLIP_OK);
            oclip_preprocess_cfg_default(&cfg);
            cfg.size[0] = cfg.size[1] = 16384;
            cfg.max_pixels = UINT64_MAX;
            CHECKF(thin && oclip_preprocess_u8(thin, &cfg, u, &err) == OCLIP_E_ARG &&
                       strstr(err.msg, "limit of 4294967296"),
                   "%s", err.msg);
            oclip_image_free(thin);
            free(ppm);
        }
    }
    free(u);
    oclip_preprocess_cfg_default(&cfg);
    CHECK(oclip_preprocess(NULL, &cfg, f, &err) == OCLIP_E_ARG);
    CHECK(oclip_preprocess(im, &cfg, f, NULL) == OCLIP_OK);
    free(f);
    oclip_image_free(im);
    /* not an image at all */
    CHECK(oclip_image_decode("<!DOCTYPE html>", 15, "x.jpg", NULL, &im, &err) ==
              OCLIP_E_UNSUPPORTED &&
          strstr(err.msg, "HTML") && strstr(err.msg, "x.jpg"));
    CHECK(oclip_image_load(FIX "img/does-not-exist.png", NULL, &im, &err) == OCLIP_E_IO &&
          strstr(err.msg, "does-not-exist.png") && strstr(err.msg, "cannot open"));
    /* EXIF orientation 6 is ignored by default and applied on request */
    CHECK(oclip_image_load(FIX "img/jpg_exif_rot6.jpg", NULL, &im, &err) == OCLIP_OK &&
          im->width == 64 && im->height == 48);
    oclip_image *rot = NULL;
    opt.max_pixels = 0;
    opt.exif_transpose = 1;
    CHECK(oclip_image_load(FIX "img/jpg_exif_rot6.jpg", &opt, &rot, &err) == OCLIP_OK &&
          rot->width == 48 && rot->height == 64);
    if (im && rot && rot->width == 48) /* rotated 90 CW: out(x, y) = in(y, h-1-x) */
        CHECK(!memcmp(rot->pixels + (size_t)(0 * 48 + 47) * 3, im->pixels, 3) &&
              !memcmp(rot->pixels + (size_t)(5 * 48 + 2) * 3,
                      im->pixels + (size_t)(45 * 64 + 5) * 3, 3));
    oclip_image_free(rot);
    oclip_image_free(im);
}

/* Decoding and preprocessing from several threads at once give the single-threaded bytes (no
 * shared state in oclip or in the way it drives libjpeg/libpng/libtiff/giflib/libwebp). */
static const char *const thread_files[] = {"img/jpg_photo.jpg", "img/png_rgba16.png",
                                           "img/tif_lzw.tif", "img/gif_trns.gif",
                                           "img/webp_rgba_lossy.webp", "img/bmp_565.bmp"};
#define N_TF (sizeof thread_files / sizeof *thread_files)

typedef struct {
    char hex[N_TF][65];
    int failed;
} thread_out;

static void *thread_run(void *arg) {
    thread_out *o = arg;
    oclip_preprocess_cfg cfg;
    oclip_preprocess_cfg_default(&cfg);
    float *f = malloc(3 * 224 * 224 * sizeof *f);
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < N_TF; i++) {
            char path[256];
            snprintf(path, sizeof path, FIX "%s", thread_files[i]);
            oclip_image *im = NULL;
            if (!f || oclip_image_load(path, NULL, &im, NULL) != OCLIP_OK ||
                oclip_preprocess(im, &cfg, f, NULL) != OCLIP_OK)
                o->failed = 1;
            else
                sha256_hex(f, 3 * 224 * 224 * sizeof *f, o->hex[i]);
            oclip_image_free(im);
        }
    free(f);
    return NULL;
}

static void test_threads(void) {
    enum { NT = 4 };
    thread_out ref = {0}, outs[NT];
    pthread_t th[NT];
    thread_run(&ref);
    CHECK(!ref.failed);
    memset(outs, 0, sizeof outs);
    for (int t = 0; t < NT; t++) CHECK(pthread_create(&th[t], NULL, thread_run, &outs[t]) == 0);
    for (int t = 0; t < NT; t++) {
        pthread_join(th[t], NULL);
        CHECK(!outs[t].failed && !memcmp(outs[t].hex, ref.hex, sizeof ref.hex));
    }
}

int main(void) {
    size_t n = 0;
    char *text = (char *)read_file(FIX "manifest.json", &n);
    manifest = text ? cJSON_ParseWithLength(text, n) : NULL;
    free(text);
    CHECK(manifest != NULL);
    if (!manifest) return TEST_REPORT("test_preprocess");
    test_images_and_cases();
    test_pretrained();
    test_hostile();
    test_limits_and_args();
    test_threads();
    cJSON_Delete(manifest);
    return TEST_REPORT("test_preprocess");
}
