/*
 * image.c — image decoding front end (format recognition, limits, ownership) and the two small
 * formats decoded by hand the way Pillow's plugins read them: BMP and PPM/PGM/PBM.
 *
 * Every decoder reproduces the *mode* PIL.Image.open gives a file (open_clip transform.py image_transform; the
 * resize happens in that mode), not just its pixels: e.g. a BMP whose palette is the gray ramp is
 * "L" (resized bicubic), any other palette "P" (resized nearest).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_int.h"

uint32_t oc_img_channels(oclip_image_mode m) {
    switch (m) {
    case OCLIP_IMAGE_LA:
    case OCLIP_IMAGE_I16:
    case OCLIP_IMAGE_I16B: return 2;
    case OCLIP_IMAGE_RGB: return 3;
    case OCLIP_IMAGE_RGBA:
    case OCLIP_IMAGE_CMYK: return 4;
    default: return 1;
    }
}

const char *oclip_image_mode_name(oclip_image_mode m) {
    static const char *const names[] = {"1",   "L",   "P",    "I;16", "LA",
                                        "RGB", "RGBA", "CMYK", "I;16B"};
    return (unsigned)m < sizeof names / sizeof *names ? names[m] : "?";
}

static oclip_status over_limit(const char *what, uint64_t w, uint64_t h, uint64_t limit,
                               oclip_error *err) {
    uint64_t npix;
    if (oc_mul_overflow_u64(w, h, &npix))
        oc_err_set(err, OCLIP_E_NOMEM,
                   "%s is %llux%llu pixels, more than the limit of %llu (a decompression bomb?)",
                   what, (unsigned long long)w, (unsigned long long)h,
                   (unsigned long long)limit);
    else
        oc_err_set(err, OCLIP_E_NOMEM,
                   "%s is %llux%llu = %llu pixels, more than the limit of %llu (a decompression "
                   "bomb?)",
                   what, (unsigned long long)w, (unsigned long long)h, (unsigned long long)npix,
                   (unsigned long long)limit);
    oc_err_hint(err, "if the image is genuine, raise the limit (oclip_image_options.max_pixels; "
                     "oclip preprocess --max-pixels N)");
    return OCLIP_E_NOMEM;
}

oclip_status oc_img_check_size(const char *what, uint64_t w, uint64_t h, const oc_img_limits *lim,
                               oclip_error *err) {
    uint64_t npix;
    if (w == 0 || h == 0)
        return oc_err_set(err, OCLIP_E_FORMAT, "%s has no pixels (%llux%llu)", what,
                          (unsigned long long)w, (unsigned long long)h);
    if (oc_mul_overflow_u64(w, h, &npix) || npix > lim->max_pixels)
        return over_limit(what, w, h, lim->max_pixels, err);
    if (lim->stop_pixels && npix > lim->stop_pixels)
        return oc_err_set(err, OCLIP_E_NOMEM, "%s is %llux%llu: within the limit, over the "
                          "stop_pixels of %llu (fuzzing)", what, (unsigned long long)w,
                          (unsigned long long)h, (unsigned long long)lim->stop_pixels);
    return OCLIP_OK;
}

oclip_image *oc_img_alloc(uint32_t w, uint32_t h, oclip_image_mode mode, uint64_t max_pixels,
                          oclip_error *err) {
    if (!max_pixels) max_pixels = OC_IMG_DEFAULT_MAX_PIXELS;
    uint64_t npix, nbytes;
    if (w == 0 || h == 0) {
        oc_err_set(err, OCLIP_E_FORMAT, "image has no pixels (%ux%u)", w, h);
        return NULL;
    }
    if (oc_mul_overflow_u64(w, h, &npix) || npix > max_pixels) {
        over_limit("image", w, h, max_pixels, err);
        return NULL;
    }
    if (oc_mul_overflow_u64(npix, oc_img_channels(mode), &nbytes) || nbytes > SIZE_MAX / 2) {
        oc_err_set(err, OCLIP_E_NOMEM, "image %ux%u is too large for this machine", w, h);
        return NULL;
    }
    oclip_image *im = calloc(1, sizeof *im);
    if (im) im->pixels = calloc((size_t)nbytes, 1);
    if (!im || !im->pixels) {
        free(im);
        oc_err_set(err, OCLIP_E_NOMEM, "out of memory for a %ux%u image", w, h);
        return NULL;
    }
    im->width = w;
    im->height = h;
    im->mode = mode;
    im->channels = oc_img_channels(mode);
    /* the palette stays black where a file defines fewer entries: Pillow's convert("RGB") maps
     * such indices (e.g. a pad index past a 2-colour palette) to (0, 0, 0) */
    im->format = "raw";
    return im;
}

oclip_status oclip_image_new(uint32_t width, uint32_t height, oclip_image_mode mode,
                             oclip_image **out, oclip_error *err) {
    if (!out || (unsigned)mode > OCLIP_IMAGE_I16B)
        return oc_err_set(err, OCLIP_E_ARG, "oclip_image_new: bad arguments");
    *out = oc_img_alloc(width, height, mode, UINT64_MAX, err);
    return *out ? OCLIP_OK : err ? err->code : OCLIP_E_NOMEM;
}

void oclip_image_free(oclip_image *img) {
    if (!img) return;
    free(img->pixels);
    free(img);
}

/* =============================================================================================
 * BMP (BmpImagePlugin): BITMAPINFOHEADER and later (V4/V5), OS/2 1.x core header; 1/4/8-bit
 * palette, 16-bit (BI_RGB = 5-5-5, BI_BITFIELDS 5-6-5 or 5-5-5), 24-bit, 32-bit (BI_RGB: the 4th
 * byte ignored, "RGB"; BI_BITFIELDS with an alpha mask: "RGBA"), RLE8 and RLE4 decoded exactly
 * as Pillow's BmpRleDecoder (quirks included, see bmp_rle).
 */
#define BMP_MAX_SIDE 1000000 /* a sanity cap before the pixel limit */

static oclip_status bmp_fail(oclip_error *err, oclip_status code, const char *what) {
    return oc_err_set(err, code, "BMP: %s", what);
}

/* Pillow's BGR;15 / BGR;16 unpackers: each field scaled by v * 255 / max (integer). */
static void bmp_16(uint16_t px, int is565, uint8_t *rgb) {
    if (is565) {
        rgb[0] = (uint8_t)(((px >> 11) & 31) * 255 / 31);
        rgb[1] = (uint8_t)(((px >> 5) & 63) * 255 / 63);
    } else {
        rgb[0] = (uint8_t)(((px >> 10) & 31) * 255 / 31);
        rgb[1] = (uint8_t)(((px >> 5) & 31) * 255 / 31);
    }
    rgb[2] = (uint8_t)((px & 31) * 255 / 31);
}

/*
 * Pillow's BmpRleDecoder, step by step, so that damaged or unusual streams give Pillow's pixels:
 * runs past the row end are cut; end-of-line pads the row with 0; a delta skips 2 bytes and then
 * reads (right, up) from the *next* two (Pillow reads the pair twice); RLE4 absolute runs take
 * count / 2 bytes (an odd count loses its last pixel) but advance x by the full count; absolute
 * runs realign to an even *file* offset. Decoding stops at end-of-bitmap or once w * h pixels
 * are out; fewer pixels is an error ("not enough image data"). Rows come bottom-up unless the
 * height was negative.
 */
static oclip_status bmp_rle(const uint8_t *d, size_t n, size_t pos, int rle4, int top_down,
                            oclip_image *im, oclip_error *err) {
    size_t w = im->width, total = w * im->height, len = 0;
    uint8_t *data = malloc(total);
    if (!data) return bmp_fail(err, OCLIP_E_NOMEM, "out of memory");
    size_t x = 0;
#define PUT(v)                                                                                   \
    do {                                                                                         \
        if (len < total) data[len] = (uint8_t)(v);                                               \
        len++;                                                                                   \
    } while (0)
    while (len < total) {
        if (pos + 2 > n) break;
        unsigned cnt = d[pos], byte = d[pos + 1];
        pos += 2;
        if (cnt) { /* encoded run */
            size_t k = x + cnt > w ? (w > x ? w - x : 0) : cnt;
            for (size_t i = 0; i < k; i++) PUT(rle4 ? (i % 2 ? byte & 15 : byte >> 4) : byte);
            x += k;
        } else if (byte == 0) { /* end of line */
            while (len % w) PUT(0);
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta, with Pillow's double read */
            if (pos + 2 > n) break;
            pos += 2;
            if (pos + 2 > n) break; /* Python would fail unpacking fewer than 2 bytes */
            size_t right = d[pos], up = d[pos + 1];
            pos += 2;
            for (size_t i = 0; i < right + up * w && len < total; i++) PUT(0);
            x = len % w;
        } else { /* absolute run */
            size_t nbytes = rle4 ? byte / 2 : byte, avail = n - pos < nbytes ? n - pos : nbytes;
            for (size_t i = 0; i < avail; i++) {
                if (rle4) {
                    PUT(d[pos + i] >> 4);
                    PUT(d[pos + i] & 15);
                } else {
                    PUT(d[pos + i]);
                }
            }
            pos += avail;
            if (avail < nbytes) break;
            x += byte;
            if (pos % 2) pos++;
        }
    }
#undef PUT
    if (len < total) {
        free(data);
        return bmp_fail(err, OCLIP_E_FORMAT, "truncated RLE data (not enough image data)");
    }
    for (size_t y = 0; y < im->height; y++)
        memcpy(im->pixels + y * w, data + (top_down ? y : im->height - 1 - y) * w, w);
    free(data);
    return OCLIP_OK;
}

oclip_status oc_img_bmp(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err) {
    if (n < 26) return bmp_fail(err, OCLIP_E_FORMAT, "truncated header");
    uint32_t off = oc_rd32(d + 10), hsize = oc_rd32(d + 14);
    int64_t w, h;
    uint32_t bits, comp = 0, colors = 0;
    uint32_t masks[4] = {0, 0, 0, 0};
    int have_masks = 0;
    if (hsize == 12) { /* OS/2 1.x: 16-bit sizes, 3-byte palette entries */
        w = oc_rd16(d + 18);
        h = (int16_t)oc_rd16(d + 20);
        bits = oc_rd16(d + 24);
    } else if (hsize >= 40 && hsize <= 1024) {
        if (n < 14 + (size_t)hsize) return bmp_fail(err, OCLIP_E_FORMAT, "truncated header");
        w = (int32_t)oc_rd32(d + 18);
        h = (int32_t)oc_rd32(d + 22);
        bits = oc_rd16(d + 28);
        comp = oc_rd32(d + 30);
        colors = oc_rd32(d + 46);
        if (comp == 3 || comp == 6) { /* BI_BITFIELDS / BI_ALPHABITFIELDS */
            size_t mo = 14 + 40;      /* masks follow a 40-byte header, or sit inside V2+ */
            if (n < mo + 16) return bmp_fail(err, OCLIP_E_FORMAT, "truncated bitfield masks");
            for (int i = 0; i < 4; i++) masks[i] = oc_rd32(d + mo + 4 * (size_t)i);
            if (hsize < 56 && comp == 3) masks[3] = 0;
            have_masks = 1;
        }
    } else {
        return bmp_fail(err, OCLIP_E_UNSUPPORTED, "unknown header size");
    }
    int top_down = h < 0;
    if (top_down) h = -h; /* int64: -INT32_MIN fits */
    if (w < 0) return bmp_fail(err, OCLIP_E_FORMAT, "negative width");
    oclip_status st = oc_img_check_size("BMP image", (uint64_t)w, (uint64_t)h, lim, err);
    if (st != OCLIP_OK) return st;
    if (w > BMP_MAX_SIDE || h > BMP_MAX_SIDE)
        return bmp_fail(err, OCLIP_E_FORMAT, "bad dimensions");
    int rle = comp == 1 || comp == 2;
    if (rle && bits != (comp == 1 ? 8u : 4u))
        return bmp_fail(err, OCLIP_E_FORMAT, "RLE compression with a wrong bit depth");
    if (!rle && comp != 0 && comp != 3 && comp != 6)
        return bmp_fail(err, OCLIP_E_UNSUPPORTED, "compression (JPEG/PNG inside BMP)");

    oclip_image_mode mode;
    int is565 = 0, rgba_order = 0; /* rgba_order: 32-bit masks as "RGBA" rather than "BGRA" */
    if (bits == 1 || bits == 4 || bits == 8) {
        mode = OCLIP_IMAGE_P;
    } else if (bits == 16) {
        mode = OCLIP_IMAGE_RGB;
        if (have_masks) {
            if (masks[0] == 0xF800 && masks[1] == 0x7E0 && masks[2] == 0x1F) is565 = 1;
            else if (!(masks[0] == 0x7C00 && masks[1] == 0x3E0 && masks[2] == 0x1F))
                return bmp_fail(err, OCLIP_E_UNSUPPORTED, "16-bit bitfield layout");
        }
    } else if (bits == 24) {
        mode = OCLIP_IMAGE_RGB;
    } else if (bits == 32) {
        mode = OCLIP_IMAGE_RGB;
        if (have_masks) {
            if (masks[0] == 0xFF0000 && masks[1] == 0xFF00 && masks[2] == 0xFF) {
                if (masks[3] == 0xFF000000) mode = OCLIP_IMAGE_RGBA;
                else if (masks[3] != 0)
                    return bmp_fail(err, OCLIP_E_UNSUPPORTED, "32-bit bitfield layout");
            } else if (masks[0] == 0xFF && masks[1] == 0xFF00 && masks[2] == 0xFF0000 &&
                       masks[3] == 0xFF000000) {
                mode = OCLIP_IMAGE_RGBA, rgba_order = 1;
            } else if (!(masks[0] | masks[1] | masks[2] | masks[3])) {
                mode = OCLIP_IMAGE_RGBA; /* all-zero masks: Pillow reads BGRA */
            } else {
                return bmp_fail(err, OCLIP_E_UNSUPPORTED, "32-bit bitfield layout");
            }
        }
    } else {
        return bmp_fail(err, OCLIP_E_UNSUPPORTED, "bit depth");
    }

    /* palette: after the header (and 12 bytes of masks for a 40-byte BI_BITFIELDS header) */
    uint8_t pal[256 * 3];
    uint32_t ncol = 0;
    if (mode == OCLIP_IMAGE_P) {
        ncol = colors ? colors : 1u << bits;
        if (ncol > 256) return bmp_fail(err, OCLIP_E_FORMAT, "palette larger than 256");
        size_t esz = hsize == 12 ? 3 : 4, po = 14 + (size_t)hsize;
        if (n < po + ncol * esz) return bmp_fail(err, OCLIP_E_FORMAT, "truncated palette");
        for (uint32_t i = 0; i < ncol; i++) {
            const uint8_t *e = d + po + i * esz;
            pal[3 * i] = e[2], pal[3 * i + 1] = e[1], pal[3 * i + 2] = e[0];
        }
        /* Pillow ditches a gray palette: 2 colours black/white -> "1", the ramp 0..n-1 -> "L" */
        int gray = 1;
        for (uint32_t i = 0; i < ncol && gray; i++) {
            unsigned v = ncol == 2 ? (i ? 255 : 0) : i;
            gray = pal[3 * i] == v && pal[3 * i + 1] == v && pal[3 * i + 2] == v;
        }
        if (gray && (ncol == 2 ? bits == 1 : bits == 8 || rle))
            mode = ncol == 2 ? OCLIP_IMAGE_1 : OCLIP_IMAGE_L;
        if (rle && mode == OCLIP_IMAGE_1) /* Pillow: raw mode "P" into "1": refused there too */
            return bmp_fail(err, OCLIP_E_UNSUPPORTED, "RLE with a black/white palette");
    }
    if (rle) {
        oclip_image *im = oc_img_alloc((uint32_t)w, (uint32_t)h, mode, lim->max_pixels, err);
        if (!im) return err ? err->code : OCLIP_E_NOMEM;
        im->format = "bmp";
        if (mode == OCLIP_IMAGE_P) memcpy(im->palette, pal, 3 * ncol);
        st = bmp_rle(d, n, off, comp == 2, top_down, im, err);
        if (st != OCLIP_OK) {
            oclip_image_free(im);
            return st;
        }
        *out = im;
        return OCLIP_OK;
    }

    uint64_t stride = (((uint64_t)w * bits + 31) >> 3) & ~(uint64_t)3;
    if (off > n || (uint64_t)(n - off) / stride < (uint64_t)h)
        return bmp_fail(err, OCLIP_E_FORMAT, "truncated pixel data");
    oclip_image *im = oc_img_alloc((uint32_t)w, (uint32_t)h, mode, lim->max_pixels, err);
    if (!im) return err ? err->code : OCLIP_E_NOMEM;
    im->format = "bmp";
    if (mode == OCLIP_IMAGE_P) memcpy(im->palette, pal, 3 * ncol);
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = d + off + (size_t)((top_down ? y : h - 1 - y) * stride);
        uint8_t *o = im->pixels + (size_t)y * (size_t)w * im->channels;
        for (int64_t x = 0; x < w; x++) {
            switch (bits) {
            case 1: {
                unsigned v = (row[x >> 3] >> (7 - (x & 7))) & 1;
                o[x] = mode == OCLIP_IMAGE_1 ? (uint8_t)(v ? 255 : 0) : (uint8_t)v;
                break;
            }
            case 4: o[x] = (row[x >> 1] >> ((x & 1) ? 0 : 4)) & 15; break;
            case 8: o[x] = row[x]; break;
            case 16: bmp_16(oc_rd16(row + 2 * x), is565, o + 3 * x); break;
            case 24: o[3 * x] = row[3 * x + 2], o[3 * x + 1] = row[3 * x + 1],
                     o[3 * x + 2] = row[3 * x]; break;
            case 32: {
                const uint8_t *p = row + 4 * x;
                uint8_t *q = o + (size_t)x * im->channels;
                if (rgba_order) memcpy(q, p, 4);
                else q[0] = p[2], q[1] = p[1], q[2] = p[0];
                if (mode == OCLIP_IMAGE_RGBA && !rgba_order) q[3] = p[3];
                break;
            }
            }
        }
    }
    *out = im;
    return OCLIP_OK;
}

/* =============================================================================================
 * PPM family (PpmImagePlugin): P1/P4 -> "1" (1 = black), P2/P5 -> "L", P3/P6 -> "RGB".
 * Samples are scaled as Pillow's decoders do, min(255, round(value / maxval * 255)) in double
 * with Python's half-to-even round (the identity for maxval 255); 16-bit colour samples (P3/P6
 * with maxval > 255, big-endian in P6) the same way. 16-bit gray (P2/P5 with maxval > 255) is
 * Pillow mode "I" (32-bit integer), which oclip does not have: refused.
 */
typedef struct {
    const uint8_t *p, *end;
} pnm_cur;

static void pnm_skip_ws(pnm_cur *c) {
    while (c->p < c->end) {
        if (*c->p == '#') {
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r') c->p++;
        } else if (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' ||
                   *c->p == '\v' || *c->p == '\f') {
            c->p++;
        } else {
            break;
        }
    }
}

/* A decimal token; false when absent or > 1e9. */
static bool pnm_int(pnm_cur *c, uint32_t *v) {
    pnm_skip_ws(c);
    uint64_t x = 0;
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && x <= 1000000000)
        x = x * 10 + (uint64_t)(*c->p++ - '0');
    if (c->p == s || x > 1000000000) return false;
    *v = (uint32_t)x;
    return true;
}

static uint8_t pnm_scale(uint32_t v, uint32_t maxval) {
    double r = nearbyint((double)v / maxval * 255.0);
    return r > 255.0 ? 255 : (uint8_t)r;
}

oclip_status oc_img_pnm(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err) {
    pnm_cur c = {d + 2, d + n};
    int kind = d[1] - '0'; /* 1..6 */
    uint32_t w, h, maxval = 1;
    if (!pnm_int(&c, &w) || !pnm_int(&c, &h) || (kind != 1 && kind != 4 && !pnm_int(&c, &maxval)))
        return oc_err_set(err, OCLIP_E_FORMAT, "PNM: bad header");
    if (maxval == 0 || maxval > 65535)
        return oc_err_set(err, OCLIP_E_FORMAT, "PNM: maxval %u not in 1..65535", maxval);
    if (maxval > 255 && (kind == 2 || kind == 5))
        return oc_err_set(err, OCLIP_E_UNSUPPORTED,
                          "PGM: 16-bit gray (maxval %u; Pillow mode \"I\") is not supported",
                          maxval);
    oclip_status st = oc_img_check_size("PNM image", w, h, lim, err);
    if (st != OCLIP_OK) return st;
    size_t bps = maxval > 255 ? 2 : 1; /* bytes per binary sample */
    oclip_image_mode mode = kind == 1 || kind == 4   ? OCLIP_IMAGE_1
                            : kind == 2 || kind == 5 ? OCLIP_IMAGE_L
                                                     : OCLIP_IMAGE_RGB;
    oclip_image *im = oc_img_alloc(w, h, mode, lim->max_pixels, err);
    if (!im) return err ? err->code : OCLIP_E_NOMEM;
    im->format = "ppm";
    size_t nsamp = (size_t)w * h * im->channels;
    if (kind >= 4) {
        if (c.p >= c.end) goto truncated;
        c.p++; /* exactly one whitespace byte ends the header */
        if (kind == 4) {
            size_t stride = ((size_t)w + 7) / 8;
            if ((size_t)(c.end - c.p) / stride < h) goto truncated;
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                    im->pixels[(size_t)y * w + x] =
                        (c.p[y * stride + x / 8] >> (7 - x % 8)) & 1 ? 0 : 255;
        } else {
            if ((size_t)(c.end - c.p) / bps < nsamp) goto truncated;
            for (size_t i = 0; i < nsamp; i++)
                im->pixels[i] = pnm_scale(bps == 2 ? (uint32_t)c.p[2 * i] << 8 | c.p[2 * i + 1]
                                                   : c.p[i],
                                          maxval);
        }
    } else {
        for (size_t i = 0; i < nsamp; i++) {
            uint32_t v;
            if (kind == 1) { /* plain bitmap: digits need no separators */
                pnm_skip_ws(&c);
                if (c.p >= c.end || (*c.p != '0' && *c.p != '1')) goto truncated;
                im->pixels[i] = *c.p++ == '1' ? 0 : 255;
                continue;
            }
            if (!pnm_int(&c, &v) || v > maxval) goto truncated; /* Pillow: ValueError */
            im->pixels[i] = pnm_scale(v, maxval);
        }
    }
    *out = im;
    return OCLIP_OK;
truncated:
    oclip_image_free(im);
    return oc_err_set(err, OCLIP_E_FORMAT, "PNM: truncated or malformed pixel data");
}

/* =============================================================================================
 * Front end
 */
typedef oclip_status (*decoder_fn)(const uint8_t *, size_t, const oc_img_limits *,
                                   oclip_image **, oclip_error *);

static const char *sniff(const uint8_t *d, size_t n) {
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "png";
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpeg";
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
    if (n >= 2 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6') return "ppm";
    if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6))) return "gif";
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "webp";
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return "tiff";
    return NULL;
}

/* What a non-image looks like, for the message. */
static const char *not_image(const uint8_t *d, size_t n) {
    if (n == 0) return "an empty file";
    if (n >= 5 && (!memcmp(d, "<!DOC", 5) || !memcmp(d, "<html", 5) || !memcmp(d, "<HTML", 5)))
        return "an HTML page (a failed download?)";
    if (n >= 4 && !memcmp(d + (n >= 8 ? 4 : 0), "ftyp", 4)) return "an ISO media file (HEIC/AVIF)";
    if (n >= 4 && !memcmp(d, "PK\3\4", 4)) return "a zip archive";
    return "not an image format oclip reads";
}

oclip_status oc_img_decode(const void *data, size_t size, const char *name,
                           const oc_img_limits *lim, int exif_transpose, oclip_image **out,
                           oclip_error *err) {
    if (!out || !lim || (!data && size))
        return oc_err_set(err, OCLIP_E_ARG, "image: bad arguments");
    *out = NULL;
    if (!name) name = "<memory>";
    const uint8_t *d = data;
    oc_img_limits l = *lim;
    if (!l.max_pixels) l.max_pixels = OC_IMG_DEFAULT_MAX_PIXELS;
    const char *fmt = sniff(d, size);
    oclip_error local;
    oclip_error *e = err ? err : &local;
    oclip_status st;
    if (!fmt) {
        st = oc_err_set(e, OCLIP_E_UNSUPPORTED, "%s", not_image(d, size));
        oc_err_hint(e, "supported: PNG, JPEG, BMP, PPM/PGM/PBM, GIF, WebP, TIFF");
    } else if (!strcmp(fmt, "jpeg")) {
        st = oc_img_jpeg(d, size, &l, exif_transpose, out, e);
    } else {
        static const struct {
            const char *name;
            decoder_fn fn;
        } table[] = {{"png", oc_img_png},   {"bmp", oc_img_bmp},   {"ppm", oc_img_pnm},
                     {"gif", oc_img_gif},   {"webp", oc_img_webp}, {"tiff", oc_img_tiff}};
        st = OCLIP_E_UNSUPPORTED;
        for (size_t i = 0; i < sizeof table / sizeof *table; i++)
            if (!strcmp(fmt, table[i].name)) st = table[i].fn(d, size, &l, out, e);
    }
    if (st != OCLIP_OK) {
        *out = NULL;
        oc_err_wrap(e, "'%s'", name);
    }
    return st;
}

oclip_status oclip_image_decode(const void *data, size_t size, const char *name,
                                const oclip_image_options *opt, oclip_image **out,
                                oclip_error *err) {
    if (opt && OC_OPTIONS_OK(opt, "oclip_image_options", err)) return OCLIP_E_ARG;
    oc_img_limits lim = {opt ? opt->max_pixels : 0, 0};
    return oc_img_decode(data, size, name, &lim, opt ? opt->exif_transpose : 0, out, err);
}

oclip_status oclip_image_load(const char *path, const oclip_image_options *opt,
                              oclip_image **out, oclip_error *err) {
    if (!path || !out) return oc_err_set(err, OCLIP_E_ARG, "image: bad arguments");
    *out = NULL;
    if (opt && OC_OPTIONS_OK(opt, "oclip_image_options", err)) return OCLIP_E_ARG;
    oc_map m;
    oclip_status st = oc_map_file(path, &m, err);
    if (st != OCLIP_OK) {
        oc_err_wrap(err, "'%s'", path); /* as the decoder names it */
        return st;
    }
    st = oclip_image_decode(m.data, m.size, path, opt, out, err);
    oc_unmap(&m);
    return st;
}
