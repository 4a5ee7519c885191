/*
 * image_int.h — declarations shared by the image decoders (image*.c) and preprocess.c.
 * Not installed. Prefix: oc_img_.
 */
#ifndef OCLIP_IMAGE_INT_H
#define OCLIP_IMAGE_INT_H

#include "internal.h"

/* Pillow's Image.MAX_IMAGE_PIXELS is 89,478,485; it raises DecompressionBombError above twice
 * that (and only warns between), so this is the largest image OpenCLIP itself would accept. */
#define OC_IMG_DEFAULT_MAX_PIXELS 178956970ull

/*
 * The limits one decode runs under: oclip_image_decode fills them from oclip_image_options, and
 * every decoder derives its library's own limits from them (libpng's user limits, libjpeg's
 * max_memory_to_use, libtiff's largest allocation), so max_pixels is the one source of truth.
 */
typedef struct {
    uint64_t max_pixels;  /* refuse a declared size above this; never 0 here */
    uint64_t stop_pixels; /* 0, or (fuzz_image) a declared size within max_pixels but above this
                           * stops with OCLIP_E_NOMEM right after the check, before anything
                           * sized by it is allocated, so that a fuzzer reaches the real limit
                           * check without decoding images of hundreds of megapixels */
} oc_img_limits;

/* A JPEG with more scans than this is refused: each scan of a progressive (or multi-scan) JPEG
 * runs over every block of the image, so a file of a few bytes a scan buys time in proportion to
 * the image's size times its scans. libjpeg's own progressive encoder writes 10 (jcparam.c,
 * jpeg_simple_progression); one scan per band of coefficients and bit of precision for each of
 * 3 components would still be fewer. */
#define OC_JPEG_MAX_SCANS 256

/* Bytes per pixel of a mode. */
uint32_t oc_img_channels(oclip_image_mode m);

/*
 * Checks the size a file declares, right after a decoder has read it from the header and before
 * anything sized by it is allocated: w, h > 0 and w * h <= lim->max_pixels ("FMT: image is WxH =
 * N pixels, more than the limit of M", OCLIP_E_NOMEM, with a hint), then lim->stop_pixels. `what`
 * starts the message ("PNG", "TIFF tile"). OCLIP_OK or the error set in err.
 */
oclip_status oc_img_check_size(const char *what, uint64_t w, uint64_t h, const oc_img_limits *lim,
                               oclip_error *err);

/*
 * Allocates an image of w x h pixels after checking w, h > 0, w * h <= max_pixels (0: default)
 * and that the byte size fits size_t. Pixels and palette are zeroed.
 * On failure sets err (the caller adds the file name) and returns NULL.
 */
oclip_image *oc_img_alloc(uint32_t w, uint32_t h, oclip_image_mode mode, uint64_t max_pixels,
                          oclip_error *err);

/* Decoders: `d/n` is the whole file. Each checks the declared size with oc_img_check_size as soon
 * as its header is read. Messages do not name the file (the front end prefixes it). */
oclip_status oc_img_png(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_jpeg(const uint8_t *d, size_t n, const oc_img_limits *lim, int exif_transpose,
                         oclip_image **out, oclip_error *err);
oclip_status oc_img_bmp(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_pnm(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_gif(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_webp(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                         oclip_error *err);
oclip_status oc_img_tiff(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                         oclip_error *err);

/* oclip_image_decode with explicit limits (lim->max_pixels 0: the default); fuzz_image calls it
 * with a stop_pixels. */
oclip_status oc_img_decode(const void *data, size_t size, const char *name,
                           const oc_img_limits *lim, int exif_transpose, oclip_image **out,
                           oclip_error *err);

#endif /* OCLIP_IMAGE_INT_H */
