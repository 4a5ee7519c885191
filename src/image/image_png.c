/*
 * image_png.c — PNG through libpng, giving the mode and samples PngImagePlugin gives:
 *
 *   gray 1-bit  -> "1"      (0 / 255)           palette 1/2/4/8-bit -> "P" (indices unscaled)
 *   gray 2/4-bit-> "L"      (scaled x85 / x17)  gray+alpha 8-bit    -> "LA"
 *   gray 8-bit  -> "L"                           gray+alpha 16-bit   -> "RGBA" (Pillow's LA;16B)
 *   gray 16-bit -> "I;16"   (all 16 bits)        RGB(A) 16-bit       -> RGB(A), high byte only
 *
 * No gamma, sBIT or tRNS processing: Pillow applies none when it decodes (tRNS only matters for
 * RGBA conversion, which OpenCLIP never asks for). libpng reports errors through longjmp; the
 * handlers below record its message into the oclip_error and print nothing.
 *
 * Sizes: libpng allocates two row buffers of the declared width (8 bytes a pixel for RGBA 16-bit)
 * and zeroes one in png_read_update_info, so the size IHDR declares is checked against the limit
 * before libpng is even started, and against the compressed data the file holds before rows are
 * allocated.
 */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_int.h"

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    oclip_status fail; /* set when the failure is ours (limit, memory), not libpng's */
    char msg[200];
} png_src;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png, (void)msg; /* warnings (bad ancillary chunk CRC, ...) are not errors: ignore */
}

static void png_read_fn(png_structp png, png_bytep out, size_t n) {
    png_src *s = png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "truncated file");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static uint32_t rd32be(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Bytes of compressed data (IDAT chunk contents) in the file. A chunk that runs past the end
 * counts the rest of the file, so that the figure is never below what libpng could read. */
static uint64_t png_idat_bytes(const uint8_t *d, size_t n) {
    uint64_t total = 0;
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = rd32be(d + pos);
        if (len > n - pos - 8) return total + (n - pos);
        if (!memcmp(d + pos + 4, "IDAT", 4)) total += len;
        if (!memcmp(d + pos + 4, "IEND", 4)) break;
        pos += 8 + (size_t)len + 4;
    }
    return total;
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return oc_mul_overflow_u64(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Bytes of the decompressed, filtered pixel stream: each row (each Adam7 pass's rows) is a filter
 * byte and the packed samples. */
static uint64_t png_raw_bytes(png_uint_32 w, png_uint_32 h, int bits_per_pixel, int interlace) {
    uint64_t total = 0;
    for (int pass = 0; pass < (interlace ? 7 : 1); pass++) {
        uint64_t pw = interlace ? PNG_PASS_COLS(w, pass) : w;
        uint64_t ph = interlace ? PNG_PASS_ROWS(h, pass) : h;
        if (!pw || !ph) continue;
        uint64_t row = sat_add(sat_mul(pw, (uint64_t)bits_per_pixel), 7) / 8 + 1;
        total = sat_add(total, sat_mul(ph, row));
    }
    return total;
}

oclip_status oc_img_png(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err) {
    /* IHDR comes first in every PNG libpng reads: refuse its size before libpng allocates */
    if (n >= 8 + 8 + 8 && !memcmp(d + 12, "IHDR", 4)) {
        oclip_status st = oc_img_check_size("PNG image", rd32be(d + 16), rd32be(d + 20), lim, err);
        if (st != OCLIP_OK) return st;
    }
    png_src src = {d, n, 0, OCLIP_OK, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_err_fn, png_warn_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    /* volatile: assigned between setjmp and a possible longjmp */
    oclip_image *volatile im = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return oc_err_set(err, OCLIP_E_NOMEM, "PNG: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        oclip_image_free(im);
        png_destroy_read_struct(&png, &info, NULL);
        if (src.fail != OCLIP_OK) return src.fail; /* err already says why */
        /* libpng's own allocation failures ("Out of memory", "Insufficient memory ...") */
        if (strstr(src.msg, "ut of memory") || strstr(src.msg, "nsufficient memory"))
            return oc_err_set(err, OCLIP_E_NOMEM, "PNG: %s", src.msg);
        return oc_err_set(err, OCLIP_E_FORMAT, "PNG: %s", src.msg[0] ? src.msg : "corrupt");
    }
    png_set_read_fn(png, &src, png_read_fn);
    /* libpng's own limits follow oclip's: a side up to the pixel limit (Pillow reads any shape
     * its pixel limit allows, where libpng's default is 1,000,000 a side); its limits on
     * metadata chunks (8 MB, 1000 chunks: pnglibconf.h's defaults) set here so that they hold
     * whatever a libpng build was configured with */
    png_uint_32 side = lim->max_pixels < PNG_UINT_31_MAX ? (png_uint_32)lim->max_pixels
                                                         : PNG_UINT_31_MAX;
    png_set_user_limits(png, side, side);
    png_set_chunk_malloc_max(png, 8000000);
    png_set_chunk_cache_max(png, 1000);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ct = png_get_color_type(png, info);
    src.fail = oc_img_check_size("PNG image", w, h, lim, err);
    if (src.fail != OCLIP_OK) png_longjmp(png, 1);
    /* deflate writes at most 258 bytes per 2 bits (a longest match with 1-bit length and
     * distance codes), 1032 per byte: fewer compressed bytes than that cannot hold the rows, and
     * libpng would fail only after allocating them ("Not enough image data"; Pillow: "image file
     * is truncated") */
    uint64_t need = png_raw_bytes(w, h, depth * png_get_channels(png, info),
                                  png_get_interlace_type(png, info) != PNG_INTERLACE_NONE);
    uint64_t have = png_idat_bytes(d, n);
    if (need > sat_add(sat_mul(have, 1032), 1032)) {
        src.fail = oc_err_set(err, OCLIP_E_FORMAT,
                              "PNG: truncated: a %ux%u image needs %llu bytes of pixel data, "
                              "more than the file's %llu bytes of compressed data can hold",
                              (unsigned)w, (unsigned)h, (unsigned long long)need,
                              (unsigned long long)have);
        png_longjmp(png, 1);
    }
    oclip_image_mode mode;
    switch (ct) {
    case PNG_COLOR_TYPE_GRAY:
        mode = depth == 1 ? OCLIP_IMAGE_1 : depth == 16 ? OCLIP_IMAGE_I16 : OCLIP_IMAGE_L;
        if (depth < 8) png_set_expand_gray_1_2_4_to_8(png); /* scales to 0..255 like L;2/L;4 */
        if (depth == 16) {
            const uint16_t one = 1;
            if (*(const uint8_t *)&one) png_set_swap(png); /* PNG is big-endian; I;16 host */
        }
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        mode = depth == 16 ? OCLIP_IMAGE_RGBA : OCLIP_IMAGE_LA;
        if (depth == 16) png_set_gray_to_rgb(png);
        break;
    case PNG_COLOR_TYPE_RGB: mode = OCLIP_IMAGE_RGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: mode = OCLIP_IMAGE_RGBA; break;
    case PNG_COLOR_TYPE_PALETTE:
        mode = OCLIP_IMAGE_P;
        if (depth < 8) png_set_packing(png); /* one index per byte, not scaled */
        break;
    default: png_error(png, "unknown color type");
    }
    if (depth == 16 && mode != OCLIP_IMAGE_I16) png_set_strip_16(png); /* high byte, as RGB;16B */
    (void)png_set_interlace_handling(png); /* Adam7: png_read_image runs the passes */
    png_read_update_info(png, info);
    im = oc_img_alloc(w, h, mode, lim->max_pixels, err);
    if (!im) {
        src.fail = err ? err->code : OCLIP_E_NOMEM;
        png_longjmp(png, 1);
    }
    im->format = "png";
    if (png_get_rowbytes(png, info) != (size_t)w * im->channels)
        png_error(png, "unexpected row size (internal)");
    if (mode == OCLIP_IMAGE_P) {
        png_colorp pal;
        int npal = 0;
        if (png_get_PLTE(png, info, &pal, &npal) && npal > 0) {
            for (int i = 0; i < npal && i < 256; i++) {
                im->palette[3 * i] = pal[i].red;
                im->palette[3 * i + 1] = pal[i].green;
                im->palette[3 * i + 2] = pal[i].blue;
            }
        }
    }
    rows = malloc((size_t)h * sizeof *rows);
    if (!rows) {
        src.fail = oc_err_set(err, OCLIP_E_NOMEM, "PNG: out of memory");
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = im->pixels + (size_t)y * w * im->channels;
    /* png_read_end is not called: like Pillow, data after the last pixel row (a missing IEND,
     * trailing chunks) does not matter */
    png_read_image(png, rows);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *out = im;
    return OCLIP_OK;
}
