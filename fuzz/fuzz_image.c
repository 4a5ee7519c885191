/*
 * fuzz_image.c — libFuzzer target for the image decoders and the preprocessing transform.
 *
 * Input: byte 0 selects the options, the rest is the image file. The file is decoded under
 * oclip's default limits (178,956,970 pixels; oc_img_decode), so that any size a header declares
 * reaches the decoder's real size check, which must come before anything sized by it is
 * allocated; a size that passes the check but is over 1 << 22 pixels stops right after it
 * (oc_img_limits.stop_pixels), so that the harness stays fast. A size bomb that gets past the
 * check shows as an out-of-memory: LLVMFuzzerInitialize lowers -malloc_limit_mb to 256 unless
 * the command line sets it (the largest legitimate allocations, libpng's rows, libjpeg's
 * coefficients and oclip's TIFF buffer for a 1 << 22 pixel image, are 64 MB at most).
 *
 * PNG inputs get every chunk's CRC recomputed first: libpng refuses a critical chunk whose CRC is
 * wrong, and as a system library it gives the fuzzer no coverage or comparison feedback to learn
 * CRCs from, so without this a mutated IHDR (size, depth, colour type) or IDAT never gets past it.
 *
 * When it decodes, every pixel byte is read (a short pixel buffer is caught by AddressSanitizer), and
 * when the resize is small enough oclip_preprocess_u8 runs into an exactly sized buffer, and
 * so does oclip_preprocess, checked against it: when the resize's work, source pixels plus both
 * passes' outputs, stays under 1 << 15 pixels (a resize costs about 4 multiply-adds per source pixel and channel whatever its
 * target; without the bound, resizing took three quarters of the time, at 700-1000 inputs a
 * second, thin images that "shortest" scales up, 1 x 262144 to 8 x 2097152, the worst);
 * ratios up to 1 : 450 stay in.
 *
 * Selector byte s:
 *   bits 0-1  h = SIDES[s & 3]
 *   bit  2    non-square: w = SIDES[(s >> 3) & 3] (else w = h)
 *   bits 5-6  0 shortest, 1 longest, 2 squash, 3 shortest with EXIF transpose on decode
 *   bit  7    bilinear (else bicubic)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_int.h"
#include "oclip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_PIXELS (1u << 22) /* decoded further than the size check: at most this */
#define FUZZ_RESIZE_WORK (1u << 15)

static const int SIDES[4] = {8, 17, 32, 64};

static uint32_t mode_channels(oclip_image_mode m) {
    switch (m) {
    case OCLIP_IMAGE_1:
    case OCLIP_IMAGE_L:
    case OCLIP_IMAGE_P: return 1;
    case OCLIP_IMAGE_I16:
    case OCLIP_IMAGE_I16B:
    case OCLIP_IMAGE_LA: return 2;
    case OCLIP_IMAGE_RGB: return 3;
    case OCLIP_IMAGE_RGBA:
    case OCLIP_IMAGE_CMYK: return 4;
    }
    return 0;
}

/* -malloc_limit_mb=256 first, so that a value on the command line (parsed later) wins */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static char flag[] = "-malloc_limit_mb=256";
    char **v = malloc(((size_t)*argc + 2) * sizeof *v);
    if (!v || *argc < 1) return 0;
    v[0] = (*argv)[0];
    v[1] = flag;
    for (int i = 1; i < *argc; i++) v[i + 1] = (*argv)[i];
    v[*argc + 1] = NULL;
    *argc += 1;
    *argv = v; /* kept for the process's lifetime, as libFuzzer keeps argv */
    return 0;
}

static uint32_t crc32_png(const uint8_t *d, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = table[(c ^ d[i]) & 255] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Rewrites the CRC of every whole chunk of a PNG. */
static void png_fix_crcs(uint8_t *d, size_t n) {
    if (n < 8 || memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return;
    for (size_t pos = 8; pos + 12 <= n;) {
        uint32_t len = (uint32_t)d[pos] << 24 | (uint32_t)d[pos + 1] << 16 |
                       (uint32_t)d[pos + 2] << 8 | d[pos + 3];
        if (len > n - pos - 12) break;
        uint32_t c = crc32_png(d + pos + 4, 4 + (size_t)len);
        uint8_t *q = d + pos + 8 + len;
        q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8);
        q[3] = (uint8_t)c;
        pos += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t s = data[0];
    size_t n = size - 1;
    /* copy, so that ASan sees exactly where the file ends */
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) abort();
    if (n) memcpy(buf, data + 1, n);
    png_fix_crcs(buf, n);

    /* the default limit, and a stop after the size check above FUZZ_MAX_PIXELS */
    oc_img_limits lim = {0, FUZZ_MAX_PIXELS};
    oclip_image *img = (oclip_image *)1;
    oclip_error err;
    oclip_status st =
        oc_img_decode(buf, n, "fuzz.img", &lim, ((s >> 5) & 3) == 3, &img, &err);
    free(buf);
    if (st != OCLIP_OK) {
        /* a failure must say so, and leave nothing behind */
        if (img != NULL || err.code != st || err.msg[0] == '\0') abort();
        return 0;
    }
    if (!img || !img->pixels || img->width == 0 || img->height == 0 || !img->format) abort();
    if ((uint64_t)img->width * img->height > FUZZ_MAX_PIXELS) abort();
    if (img->channels != mode_channels(img->mode)) abort();
    (void)oclip_image_mode_name(img->mode);

    volatile uint8_t sink = 0;
    size_t nbytes = (size_t)img->width * img->height * img->channels;
    uint8_t acc = 0;
    for (size_t i = 0; i < nbytes; i++) acc = (uint8_t)(acc + img->pixels[i]);
    if (img->mode == OCLIP_IMAGE_1)
        for (size_t i = 0; i < nbytes; i++)
            if (img->pixels[i] != 0 && img->pixels[i] != 255) abort();
    sink = (uint8_t)(sink + acc);

    oclip_preprocess_cfg cfg;
    oclip_preprocess_cfg_default(&cfg);
    cfg.size[0] = SIDES[s & 3];
    cfg.size[1] = (s & 4) ? SIDES[(s >> 3) & 3] : cfg.size[0];
    static const char *const MODES[4] = {"shortest", "longest", "squash", "shortest"};
    strcpy(cfg.resize_mode, MODES[(s >> 5) & 3]);
    strcpy(cfg.interpolation, (s & 0x80) ? "bilinear" : "bicubic");
    cfg.fill_color = (s & 0x10) ? 255 : 0;

    /* an upper bound of the resize's work: scale sc = the target side over the image's shortest
     * side (longest: over its longest), the first pass writes w sc x h, the second w sc x h sc */
    double wd = img->width, hd = img->height, side = cfg.size[0] > cfg.size[1] ? cfg.size[0]
                                                                                 : cfg.size[1];
    double mn = wd < hd ? wd : hd, mx = wd < hd ? hd : wd;
    double sc = side / (strcmp(cfg.resize_mode, "longest") ? mn : mx);
    if (wd * hd * (1.0 + sc + sc * sc) > FUZZ_RESIZE_WORK) {
        oclip_image_free(img);
        return 0;
    }

    size_t px = (size_t)cfg.size[0] * (size_t)cfg.size[1] * 3;
    float *f = malloc(px * sizeof *f);
    uint8_t *u = malloc(px);
    if (!f || !u) abort();
    oclip_status st1 = oclip_preprocess(img, &cfg, f, &err);
    if (st1 != OCLIP_OK) {
        if (err.code != st1 || err.msg[0] == '\0') abort();
    } else {
        float sum = 0.0f;
        for (size_t i = 0; i < px; i++) {
            if (!isfinite(f[i])) abort();
            sum += f[i];
        }
        sink = (uint8_t)(sink + (sum > 0.0f));
    }
    oclip_status st2 = oclip_preprocess_u8(img, &cfg, u, &err);
    if (st2 != st1) abort(); /* same transform, same verdict */
    if (st2 != OCLIP_OK) {
        if (err.code != st2 || err.msg[0] == '\0') abort();
    } else {
        /* oclip_preprocess is ToTensor + Normalize of the u8 image, in CHW order */
        size_t hw = (size_t)cfg.size[0] * (size_t)cfg.size[1];
        for (size_t i = 0; i < hw; i++)
            for (int c = 0; c < 3; c++) {
                float want = (float)(((double)u[i * 3 + c] / 255.0 - cfg.mean[c]) / cfg.std[c]);
                if (fabsf(f[(size_t)c * hw + i] - want) > 1e-3f) abort();
            }
    }
    (void)sink;
    free(f);
    free(u);
    oclip_image_free(img);
    return 0;
}
