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

/* Bytes per pixel of a mode. */
uint32_t oc_img_channels(oclip_image_mode m);

/*
 * Allocates an image of w x h pixels after checking w, h > 0, w * h <= max_pixels (0: default)
 * and that the byte size fits size_t. Pixels and palette are zeroed.
 * On failure sets err (the caller adds the file name) and returns NULL.
 */
oclip_image *oc_img_alloc(uint32_t w, uint32_t h, oclip_image_mode mode, uint64_t max_pixels,
                          oclip_error *err);

/* Decoders: `d/n` is the whole file; `max_pixels` as above. Messages do not name the file (the
 * front end, oclip_image_decode, prefixes it). */
oclip_status oc_img_png(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_jpeg(const uint8_t *d, size_t n, uint64_t max_pixels, int exif_transpose,
                         oclip_image **out, oclip_error *err);
oclip_status oc_img_bmp(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_pnm(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_gif(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                        oclip_error *err);
oclip_status oc_img_webp(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                         oclip_error *err);
oclip_status oc_img_tiff(const uint8_t *d, size_t n, uint64_t max_pixels, oclip_image **out,
                         oclip_error *err);

#endif /* OCLIP_IMAGE_INT_H */
