/*
 * image_misc.c — GIF (first frame, giflib), WebP (libwebp) and TIFF (libtiff), each giving the
 * mode Pillow's plugin gives:
 *
 *   GIF   "P" with the frame's palette (local, else global), or "L" when that palette is the
 *         identity gray ramp (GifImagePlugin._is_palette_needed) or absent. The canvas is the
 *         logical screen (grown to hold the first frame, as Pillow does), filled with the
 *         transparent index when the frame has one, else 0; the frame is drawn at its offset.
 *   WebP  "RGBA" when the bitstream has alpha, else "RGB" (Pillow's WebPAnimDecoder modes).
 *   TIFF  contiguous samples, strips or tiles, any compression libtiff decodes, as Pillow's
 *         OPEN_INFO table maps them: 8-bit gray "L" (MinIsWhite inverted), gray+alpha "LA",
 *         "RGB", "RGBA" (unassociated alpha, or 4 samples without ExtraSamples; associated
 *         alpha is un-premultiplied like Pillow's "RGBa" raw mode), "CMYK", palette "P"
 *         (colormap >> 8), bilevel "1"; 16-bit unsigned gray "I;16" (not inverted, as Pillow),
 *         16-bit RGB/RGBA/CMYK keep the high byte. Planar, YCbCr, Lab, signed or float samples
 *         are refused.
 *
 * None of the three libraries prints here: giflib and libwebp return codes, libtiff gets
 * per-handle error/warning handlers (libtiff >= 4.5) that record the message.
 *
 * Sizes are checked as soon as they are read: the GIF logical screen after DGifOpen (Pillow
 * checks it when it opens the file) and the canvas grown to the first frame; WebP's canvas from
 * WebPGetFeatures; a TIFF's first directory before libtiff reads it (libtiff sizes its strip and
 * tile tables by the image) and again from libtiff, and its tile size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <tiffio.h>
#include <webp/decode.h>

#include "image/image_int.h"

/* =============================================================================================
 * GIF
 */
typedef struct {
    const uint8_t *d;
    size_t n, pos;
} mem_reader;

static int gif_read(GifFileType *gif, GifByteType *buf, int len) {
    mem_reader *r = gif->UserData;
    size_t k = len < 0 ? 0 : (size_t)len;
    if (k > r->n - r->pos) k = r->n - r->pos;
    memcpy(buf, r->d + r->pos, k);
    r->pos += k;
    return (int)k;
}

/* GifImagePlugin._is_palette_needed: false only for the identity ramp 0, 1, 2, ... */
static int palette_needed(const ColorMapObject *cm) {
    for (int i = 0; i < cm->ColorCount; i++) {
        const GifColorType *c = &cm->Colors[i];
        if (c->Red != i || c->Green != i || c->Blue != i) return 1;
    }
    return 0;
}

oclip_status oc_img_gif(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                        oclip_error *err) {
    mem_reader r = {d, n, 0};
    int gerr = 0;
    GifFileType *gif = DGifOpen(&r, gif_read, &gerr);
    if (!gif) return oc_err_set(err, OCLIP_E_FORMAT, "GIF: %s", GifErrorString(gerr));
    /* an empty screen is allowed: the canvas grows to the first frame */
    if (gif->SWidth > 0 && gif->SHeight > 0) {
        oclip_status st0 = oc_img_check_size("GIF logical screen", (uint64_t)gif->SWidth,
                                             (uint64_t)gif->SHeight, lim, err);
        if (st0 != OCLIP_OK) {
            DGifCloseFile(gif, &gerr);
            return st0;
        }
    }
    oclip_image *im = NULL;
    GifByteType *line = NULL;
    int transparent = -1;
    oclip_status st = OCLIP_E_FORMAT;
    const char *why = NULL;
    for (;;) {
        GifRecordType rt;
        if (DGifGetRecordType(gif, &rt) == GIF_ERROR) goto gif_error;
        if (rt == TERMINATE_RECORD_TYPE) {
            why = "no image in the file";
            goto fail;
        }
        if (rt == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) goto gif_error;
            /* graphic control: ext[0] = 4, flags, delay (2), transparent index */
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4 && (ext[1] & 1))
                transparent = ext[4];
            while (ext)
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) goto gif_error;
            continue;
        }
        if (rt != IMAGE_DESC_RECORD_TYPE) continue;
        if (DGifGetImageDesc(gif) == GIF_ERROR) goto gif_error;
        const GifImageDesc *id = &gif->Image;
        if (id->Width <= 0 || id->Height <= 0) {
            why = "empty frame";
            goto fail;
        }
        /* Pillow grows the canvas to hold the first frame */
        uint32_t cw = (uint32_t)gif->SWidth, ch = (uint32_t)gif->SHeight;
        uint32_t x1 = (uint32_t)id->Left + (uint32_t)id->Width;
        uint32_t y1 = (uint32_t)id->Top + (uint32_t)id->Height;
        if (x1 > cw) cw = x1;
        if (y1 > ch) ch = y1;
        st = oc_img_check_size("GIF canvas (screen and first frame)", cw, ch, lim, err);
        if (st != OCLIP_OK) goto done;
        const ColorMapObject *cm = id->ColorMap ? id->ColorMap : gif->SColorMap;
        int use_p = cm && palette_needed(cm);
        im = oc_img_alloc(cw, ch, use_p ? OCLIP_IMAGE_P : OCLIP_IMAGE_L, lim->max_pixels, err);
        if (!im) {
            st = err ? err->code : OCLIP_E_NOMEM;
            goto done;
        }
        im->format = "gif";
        if (use_p)
            for (int i = 0; i < cm->ColorCount && i < 256; i++) {
                im->palette[3 * i] = cm->Colors[i].Red;
                im->palette[3 * i + 1] = cm->Colors[i].Green;
                im->palette[3 * i + 2] = cm->Colors[i].Blue;
            }
        if (transparent >= 0) memset(im->pixels, transparent, (size_t)cw * ch);
        line = malloc((size_t)id->Width);
        if (!line) {
            st = oc_err_set(err, OCLIP_E_NOMEM, "GIF: out of memory");
            goto done;
        }
        /* interlaced frames store rows in 4 passes: 0, 8, ...; 4, 12, ...; 2, 6, ...; 1, 3, ... */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        int passes = id->Interlace ? 4 : 1;
        for (int p = 0; p < passes; p++)
            for (int y = id->Interlace ? start[p] : 0; y < id->Height;
                 y += id->Interlace ? step[p] : 1) {
                if (DGifGetLine(gif, line, id->Width) == GIF_ERROR) goto gif_error;
                memcpy(im->pixels + ((size_t)(id->Top + y) * cw + (size_t)id->Left), line,
                       (size_t)id->Width);
            }
        st = OCLIP_OK;
        goto done;
    }
gif_error:
    why = GifErrorString(gif->Error);
fail:
    st = oc_err_set(err, OCLIP_E_FORMAT, "GIF: %s", why ? why : "corrupt");
done:
    free(line);
    DGifCloseFile(gif, &gerr);
    if (st != OCLIP_OK) {
        oclip_image_free(im);
        return st;
    }
    *out = im;
    return OCLIP_OK;
}

/* =============================================================================================
 * WebP
 */
oclip_status oc_img_webp(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                         oclip_error *err) {
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(d, n, &f);
    if (vs != VP8_STATUS_OK)
        return oc_err_set(err, vs == VP8_STATUS_NOT_ENOUGH_DATA ? OCLIP_E_FORMAT : OCLIP_E_FORMAT,
                          "WebP: bad header (status %d)", (int)vs);
    if (f.width <= 0 || f.height <= 0) return oc_err_set(err, OCLIP_E_FORMAT, "WebP: no pixels");
    /* the canvas (VP8X) or bitstream size, before anything is decoded */
    oclip_status st = oc_img_check_size("WebP image", (uint64_t)f.width, (uint64_t)f.height, lim,
                                        err);
    if (st != OCLIP_OK) return st;
    if (f.has_animation)
        return oc_err_set(err, OCLIP_E_UNSUPPORTED, "WebP: animated files are not supported");
    oclip_image *im = oc_img_alloc((uint32_t)f.width, (uint32_t)f.height,
                                   f.has_alpha ? OCLIP_IMAGE_RGBA : OCLIP_IMAGE_RGB,
                                   lim->max_pixels, err);
    if (!im) return err ? err->code : OCLIP_E_NOMEM;
    im->format = "webp";
    size_t stride = (size_t)im->width * im->channels, total = stride * im->height;
    /* default decoder options, as Pillow's: fancy upsampling, no dithering, no scaling */
    uint8_t *ok = f.has_alpha ? WebPDecodeRGBAInto(d, n, im->pixels, total, (int)stride)
                              : WebPDecodeRGBInto(d, n, im->pixels, total, (int)stride);
    if (!ok) {
        oclip_image_free(im);
        return oc_err_set(err, OCLIP_E_FORMAT, "WebP: corrupt or truncated image data");
    }
    *out = im;
    return OCLIP_OK;
}

/* =============================================================================================
 * TIFF
 */
typedef struct {
    mem_reader r;
    char msg[256];
} tiff_src;

static tmsize_t tiff_read(thandle_t h, void *buf, tmsize_t size) {
    mem_reader *r = &((tiff_src *)h)->r;
    size_t k = size < 0 ? 0 : (size_t)size;
    if (r->pos > r->n) return 0;
    if (k > r->n - r->pos) k = r->n - r->pos;
    memcpy(buf, r->d + r->pos, k);
    r->pos += k;
    return (tmsize_t)k;
}

static tmsize_t tiff_write(thandle_t h, void *buf, tmsize_t size) {
    (void)h, (void)buf, (void)size;
    return 0;
}

static toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
    mem_reader *r = &((tiff_src *)h)->r;
    uint64_t base = whence == SEEK_CUR ? r->pos : whence == SEEK_END ? r->n : 0;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    r->pos = (size_t)(base + off > r->n ? r->n + 1 : base + off); /* past the end: reads give 0 */
    return base + off;
}

static int tiff_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t tiff_size(thandle_t h) { return ((tiff_src *)h)->r.n; }

static int tiff_map(thandle_t h, void **base, toff_t *size) {
    (void)h, (void)base, (void)size;
    return 0;
}

static void tiff_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

static int tiff_on_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t;
    tiff_src *s = user;
    if (!s->msg[0]) { /* keep the first (innermost) message */
        int k = snprintf(s->msg, sizeof s->msg, "%s: ", module ? module : "libtiff");
        if (k > 0 && (size_t)k < sizeof s->msg)
            vsnprintf(s->msg + k, sizeof s->msg - (size_t)k, fmt, ap);
    }
    return 1; /* handled: libtiff's global handler (stderr) is not called */
}

static int tiff_on_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/*
 * ImageWidth and ImageLength of a classic TIFF's first directory, read the way libtiff will
 * (SHORT or LONG, one value, in the entry itself), so that the size is checked before libtiff
 * sizes anything by it. 0 when absent or stored some other way: libtiff then reports the file,
 * or the check after TIFFClientOpen sees its values.
 */
static void tiff_declared_size(const uint8_t *d, size_t n, uint64_t *w, uint64_t *h) {
    *w = *h = 0;
    int be = d[0] == 'M';
#define T16(p) (be ? (uint32_t)(p)[0] << 8 | (p)[1] : (uint32_t)(p)[1] << 8 | (p)[0])
#define T32(p) (be ? T16(p) << 16 | T16((p) + 2) : T16((p) + 2) << 16 | T16(p))
    if (n < 8) return;
    uint32_t ifd = T32(d + 4);
    if (ifd > n || n - ifd < 2) return;
    uint32_t count = T16(d + ifd);
    for (uint32_t i = 0; i < count && (n - ifd - 2) / 12 > i; i++) {
        const uint8_t *e = d + ifd + 2 + 12 * (size_t)i;
        uint32_t tag = T16(e), type = T16(e + 2), cnt = T32(e + 4);
        if ((tag != TIFFTAG_IMAGEWIDTH && tag != TIFFTAG_IMAGELENGTH) || cnt != 1) continue;
        uint64_t v = type == TIFF_SHORT ? T16(e + 8) : type == TIFF_LONG ? T32(e + 8) : 0;
        *(tag == TIFFTAG_IMAGEWIDTH ? w : h) = v;
    }
#undef T16
#undef T32
}

oclip_status oc_img_tiff(const uint8_t *d, size_t n, const oc_img_limits *lim, oclip_image **out,
                         oclip_error *err) {
    tiff_src src = {{d, n, 0}, ""};
    uint64_t dw, dh;
    tiff_declared_size(d, n, &dw, &dh);
    if (dw && dh) {
        oclip_status st0 = oc_img_check_size("TIFF image", dw, dh, lim, err);
        if (st0 != OCLIP_OK) return st0;
    }
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return oc_err_set(err, OCLIP_E_NOMEM, "TIFF: out of memory");
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, &src);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, &src);
    /* libtiff's largest single allocation follows the pixel limit: 8 bytes a pixel (a strip's
     * data, which compression need not make smaller than its samples, in the widest layout read
     * here, 4 samples of 16 bits) and 1 MiB; 0 (libtiff: no cap) only where that does not fit */
    uint64_t cap = lim->max_pixels > ((uint64_t)INT64_MAX - (1u << 20)) / 8
                       ? 0
                       : lim->max_pixels * 8 + (1u << 20);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)cap);
    TIFF *t = TIFFClientOpenExt("image", "rm", (thandle_t)&src, tiff_read, tiff_write, tiff_seek,
                                tiff_close, tiff_size, tiff_map, tiff_unmap, opts);
    TIFFOpenOptionsFree(opts);
    if (!t) return oc_err_set(err, OCLIP_E_FORMAT, "TIFF: %s", src.msg[0] ? src.msg : "corrupt");
    oclip_image *im = NULL;
    uint8_t *buf = NULL;
    oclip_status st = OCLIP_E_UNSUPPORTED;
    const char *why = NULL;
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, photo = 0, planar = PLANARCONFIG_CONTIG, nextra = 0;
    uint16_t *extra = NULL, sfmt = SAMPLEFORMAT_UINT, inkset = INKSET_CMYK;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    /* not ...Defaulted: libtiff invents "unspecified" ExtraSamples when the tag is missing, but
     * Pillow reads 4 RGB samples without the tag as RGBA */
    TIFFGetField(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &sfmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_INKSET, &inkset);
    st = oc_img_check_size("TIFF image", w, h, lim, err);
    if (st != OCLIP_OK) goto done;
    st = OCLIP_E_UNSUPPORTED;
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) {
        why = "no photometric interpretation";
        goto fail;
    }
    oclip_image_mode mode;
    int invert = 0, assoc = 0, bilevel = bps == 1;
    if (planar != PLANARCONFIG_CONTIG && spp > 1) {
        why = "planar (separate) sample layout";
        goto fail;
    }
    int gray = photo == PHOTOMETRIC_MINISWHITE || photo == PHOTOMETRIC_MINISBLACK;
    if (bilevel && spp == 1 && gray) {
        mode = OCLIP_IMAGE_1;
        invert = photo == PHOTOMETRIC_MINISWHITE;
    } else if ((bps != 8 && bps != 16) || sfmt != SAMPLEFORMAT_UINT) {
        why = "sample format (only unsigned 8- and 16-bit, or 1-bit bilevel)";
        goto fail;
    } else if (gray && spp == 1) {
        /* Pillow: little-endian files "I;16", big-endian ones "I;16B" */
        mode = bps == 8 ? OCLIP_IMAGE_L : TIFFIsBigEndian(t) ? OCLIP_IMAGE_I16B : OCLIP_IMAGE_I16;
        invert = photo == PHOTOMETRIC_MINISWHITE && bps == 8;
    } else if (gray && spp == 2 && bps == 8) {
        mode = OCLIP_IMAGE_LA;
        invert = photo == PHOTOMETRIC_MINISWHITE;
    } else if (photo == PHOTOMETRIC_RGB && (spp == 3 || spp == 4)) {
        /* 4 samples: RGBA, unless ExtraSamples says "unspecified" (Pillow's RGBX) */
        mode = spp == 4 && !(nextra >= 1 && extra && extra[0] == EXTRASAMPLE_UNSPECIFIED)
                   ? OCLIP_IMAGE_RGBA
                   : OCLIP_IMAGE_RGB;
        assoc = mode == OCLIP_IMAGE_RGBA && nextra >= 1 && extra[0] == EXTRASAMPLE_ASSOCALPHA;
    } else if (photo == PHOTOMETRIC_SEPARATED && spp == 4 && inkset == INKSET_CMYK) {
        mode = OCLIP_IMAGE_CMYK;
    } else if (photo == PHOTOMETRIC_PALETTE && spp == 1 && bps == 8) {
        mode = OCLIP_IMAGE_P;
    } else {
        why = "photometric interpretation / sample layout (YCbCr, CMYK, Lab ...)";
        goto fail;
    }
    if (TIFFIsTiled(t)) { /* a tile is a buffer of its own, whatever the image's size */
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        st = oc_img_check_size("TIFF tile", tw, th, lim, err);
        if (st != OCLIP_OK) goto done;
    }
    im = oc_img_alloc(w, h, mode, lim->max_pixels, err);
    if (!im) {
        st = err ? err->code : OCLIP_E_NOMEM;
        goto done;
    }
    im->format = "tiff";
    if (mode == OCLIP_IMAGE_P) {
        uint16_t *rm, *gm, *bm;
        if (!TIFFGetField(t, TIFFTAG_COLORMAP, &rm, &gm, &bm)) {
            why = "palette image without a colormap";
            st = OCLIP_E_FORMAT;
            goto fail;
        }
        for (int i = 0; i < 256; i++) { /* libtiff sizes the colormap 1 << bps = 256 */
            im->palette[3 * i] = (uint8_t)(rm[i] >> 8);
            im->palette[3 * i + 1] = (uint8_t)(gm[i] >> 8);
            im->palette[3 * i + 2] = (uint8_t)(bm[i] >> 8);
        }
    }
    /* file bytes per pixel and per row (1-bit: packed); libtiff hands 16-bit samples over in
     * host byte order */
    size_t fpx = (size_t)spp * (bps == 16 ? 2 : 1);
    size_t frow = bilevel ? ((size_t)w + 7) / 8 : (size_t)w * fpx;
    size_t orow = (size_t)w * im->channels;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        tmsize_t ts = TIFFTileSize(t);
        if (bilevel || tw == 0 || th == 0 || ts <= 0 || (uint64_t)ts != (uint64_t)tw * th * fpx) {
            why = "tile layout";
            goto fail;
        }
        buf = malloc((size_t)ts + frow * h);
        if (!buf) goto nomem;
        uint8_t *whole = buf + ts;
        for (uint32_t ty = 0; ty < h; ty += th)
            for (uint32_t tx = 0; tx < w; tx += tw) {
                if (TIFFReadTile(t, buf, tx, ty, 0, 0) < 0) goto read_error;
                for (uint32_t y = 0; y < th && ty + y < h; y++) {
                    uint32_t cwid = tx + tw > w ? w - tx : tw;
                    memcpy(whole + (size_t)(ty + y) * frow + (size_t)tx * fpx,
                           buf + (size_t)y * tw * fpx, (size_t)cwid * fpx);
                }
            }
        memmove(buf, whole, frow * h);
    } else {
        if ((uint64_t)TIFFScanlineSize64(t) != frow) {
            why = "scanline size";
            goto fail;
        }
        buf = malloc(frow * h);
        if (!buf) goto nomem;
        for (uint32_t y = 0; y < h; y++)
            if (TIFFReadScanline(t, buf + (size_t)y * frow, y, 0) < 0) goto read_error;
    }
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *s = buf + (size_t)y * frow;
        uint8_t *o = im->pixels + (size_t)y * orow;
        if (bilevel) {
            for (uint32_t x = 0; x < w; x++)
                o[x] = (((s[x >> 3] >> (7 - (x & 7))) & 1) ^ invert) ? 255 : 0;
            continue;
        }
        if (mode == OCLIP_IMAGE_I16) {
            memcpy(o, s, orow);
            continue;
        }
        if (mode == OCLIP_IMAGE_I16B) { /* host order from libtiff -> big-endian */
            for (uint32_t x = 0; x < w; x++) {
                uint16_t v;
                memcpy(&v, s + 2 * (size_t)x, 2);
                o[2 * (size_t)x] = (uint8_t)(v >> 8), o[2 * (size_t)x + 1] = (uint8_t)v;
            }
            continue;
        }
        /* keep the first `channels` samples of each pixel (RGBX drops X), 16-bit: high byte */
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t c = 0; c < im->channels; c++) {
                size_t i = (size_t)x * spp + c;
                uint16_t v16;
                if (bps == 16) memcpy(&v16, s + 2 * i, 2);
                o[(size_t)x * im->channels + c] = bps == 16 ? (uint8_t)(v16 >> 8) : s[i];
            }
        if (invert) /* MinIsWhite: Pillow's "L;I" inverts the gray sample only */
            for (uint32_t x = 0; x < w; x++) o[x * im->channels] ^= 0xFF;
        if (assoc) /* Pillow's unpackRGBa: alpha 0 -> all 0, else 255 * c / a clamped */
            for (uint32_t x = 0; x < w; x++) {
                uint8_t *q = o + 4 * (size_t)x;
                if (q[3] == 0) memset(q, 0, 4);
                if (q[3] == 0 || q[3] == 255) continue;
                for (int c = 0; c < 3; c++) {
                    unsigned v = 255u * q[c] / q[3];
                    q[c] = (uint8_t)(v > 255 ? 255 : v);
                }
            }
    }
    st = OCLIP_OK;
    goto done;
nomem:
    st = oc_err_set(err, OCLIP_E_NOMEM, "TIFF: out of memory");
    goto done;
read_error:
    st = OCLIP_E_FORMAT;
    why = src.msg[0] ? src.msg : "corrupt or truncated image data";
fail:
    st = oc_err_set(err, st, "TIFF: %s", why ? why : "unsupported");
done:
    free(buf);
    TIFFClose(t);
    if (st != OCLIP_OK) {
        oclip_image_free(im);
        return st;
    }
    *out = im;
    return OCLIP_OK;
}
