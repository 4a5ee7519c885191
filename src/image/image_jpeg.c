/*
 * image_jpeg.c — JPEG through libjpeg(-turbo) with Pillow's settings (JpegDecode.c): the library
 * defaults, i.e. JDCT_ISLOW, fancy upsampling and block smoothing on, no scaling or draft mode;
 * 1 component -> "L", 3 -> "RGB" (libjpeg's YCbCr->RGB), 4 -> "CMYK" stored inverted, because
 * Pillow reads every CMYK JPEG with rawmode "CMYK;I" ("assume adobe conventions"); YCCK is
 * converted to CMYK by libjpeg first, as in Pillow.
 *
 * Errors longjmp out of libjpeg back here (error_exit); messages are formatted into the
 * oclip_error, never printed. Warnings are ignored as Pillow ignores them, except running out of
 * data, which Pillow reports as "image file is truncated".
 *
 * Sizes: the declared size is checked right after jpeg_read_header, before jpeg_start_decompress
 * allocates anything sized by it (a progressive or multi-scan JPEG keeps coefficients for the
 * whole image); libjpeg's memory for such whole-image buffers is capped at what the checked size
 * needs, and the number of scans at OC_JPEG_MAX_SCANS.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image/image_int.h"

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_err;

/* Called by libjpeg while it reads the scans of a buffered (progressive or multi-scan) image. */
static void jpeg_progress(j_common_ptr ci) {
    j_decompress_ptr di = (j_decompress_ptr)ci;
    if (di->input_scan_number > OC_JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)(void *)ci->err;
        snprintf(e->msg, sizeof e->msg,
                 "more than %d scans (each one runs over the whole image; a scan bomb?)",
                 OC_JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

static void jpeg_error_exit(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)(void *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jb, 1);
}

static void jpeg_emit(j_common_ptr ci, int level) {
    jpeg_err *e = (jpeg_err *)(void *)ci->err;
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) {
        e->truncated = 1;
        snprintf(e->msg, sizeof e->msg, "truncated file (image data ends early)");
        longjmp(e->jb, 1);
    }
}

static void jpeg_output(j_common_ptr ci) { (void)ci; }

/* EXIF orientation (tag 0x0112) from an APP1 "Exif\0\0" TIFF block; 1 when absent or bad. */
static int exif_orientation(const uint8_t *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6)) return 1;
    p += 6, n -= 6;
    int le = p[0] == 'I';
#define RD16(q) (uint16_t)(le ? ((q)[0] | (q)[1] << 8) : ((q)[0] << 8 | (q)[1]))
#define RD32(q) (le ? (uint32_t)RD16(q) | (uint32_t)RD16((q) + 2) << 16 \
                    : (uint32_t)RD16(q) << 16 | (uint32_t)RD16((q) + 2))
    uint32_t ifd = RD32(p + 4);
    if (ifd > n - 2) return 1;
    unsigned cnt = RD16(p + ifd);
    for (unsigned i = 0; i < cnt; i++) {
        size_t e = ifd + 2 + 12 * (size_t)i;
        if (e + 12 > n) break;
        if (RD16(p + e) == 0x0112) {
            unsigned v = RD16(p + e + 8);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
#undef RD16
#undef RD32
    return 1;
}

/* ImageOps.exif_transpose: orientation 2..8 as flips / rotations / transposes. */
static oclip_status orient(oclip_image **imp, int o, uint64_t max_pixels, oclip_error *err) {
    oclip_image *a = *imp;
    if (o <= 1) return OCLIP_OK;
    int swap = o >= 5; /* 5..8 exchange width and height */
    uint32_t w = a->width, h = a->height, ow = swap ? h : w, oh = swap ? w : h;
    oclip_image *b = oc_img_alloc(ow, oh, a->mode, max_pixels, err);
    if (!b) return err ? err->code : OCLIP_E_NOMEM;
    b->format = a->format;
    size_t c = a->channels;
    for (uint32_t y = 0; y < oh; y++)
        for (uint32_t x = 0; x < ow; x++) {
            uint32_t sx, sy; /* source of output (x, y) */
            switch (o) {
            case 2: sx = w - 1 - x, sy = y; break;          /* mirror horizontal */
            case 3: sx = w - 1 - x, sy = h - 1 - y; break;  /* rotate 180 */
            case 4: sx = x, sy = h - 1 - y; break;          /* mirror vertical */
            case 5: sx = y, sy = x; break;                  /* transpose */
            case 6: sx = y, sy = h - 1 - x; break;          /* rotate 90 CW to display */
            case 7: sx = w - 1 - y, sy = h - 1 - x; break;  /* transverse */
            default: sx = w - 1 - y, sy = x; break;         /* 8: rotate 90 CCW to display */
            }
            memcpy(b->pixels + ((size_t)y * ow + x) * c, a->pixels + ((size_t)sy * w + sx) * c, c);
        }
    oclip_image_free(a);
    *imp = b;
    return OCLIP_OK;
}

oclip_status oc_img_jpeg(const uint8_t *d, size_t n, const oc_img_limits *lim, int exif_transpose,
                         oclip_image **out, oclip_error *err) {
    struct jpeg_decompress_struct ci;
    struct jpeg_progress_mgr progress = {jpeg_progress, 0, 0, 0, 0};
    jpeg_err je;
    oclip_image *volatile im = NULL;
    volatile oclip_status fail = OCLIP_OK;
    memset(&ci, 0, sizeof ci);
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.pub);
    je.pub.error_exit = jpeg_error_exit;
    je.pub.emit_message = jpeg_emit;
    je.pub.output_message = jpeg_output;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        oclip_image_free(im);
        if (fail != OCLIP_OK) return fail;
        return oc_err_set(err, OCLIP_E_FORMAT, "JPEG: %s", je.msg);
    }
    jpeg_create_decompress(&ci);
    if (n > (unsigned long)-1) {
        snprintf(je.msg, sizeof je.msg, "file too large");
        longjmp(je.jb, 1);
    }
    jpeg_mem_src(&ci, d, (unsigned long)n);
    if (exif_transpose) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    fail = oc_img_check_size("JPEG image", ci.image_width, ci.image_height, lim, err);
    if (fail != OCLIP_OK) longjmp(je.jb, 1);
    oclip_image_mode mode;
    switch (ci.num_components) {
    case 1: mode = OCLIP_IMAGE_L, ci.out_color_space = JCS_GRAYSCALE; break;
    case 3: mode = OCLIP_IMAGE_RGB, ci.out_color_space = JCS_RGB; break;
    case 4: mode = OCLIP_IMAGE_CMYK, ci.out_color_space = JCS_CMYK; break;
    default:
        snprintf(je.msg, sizeof je.msg, "cannot handle %d-layer images", ci.num_components);
        longjmp(je.jb, 1);
    }
    /* Pillow's settings are libjpeg's defaults; set them anyway so nothing depends on that */
    ci.dct_method = JDCT_ISLOW;
    ci.do_fancy_upsampling = TRUE;
    ci.do_block_smoothing = TRUE;
    ci.scale_num = ci.scale_denom = 1;
    /* libjpeg's whole-image coefficient buffers (jdcoefct.c, jinit_d_coef_controller): per
     * component, its blocks rounded up to its sampling factors (at most 4), 64 coefficients of
     * 2 bytes each; at most 4 components here. Twice that, so that this only ever stops what the
     * size check above should already have. */
    ci.mem->max_memory_to_use = (long)(2 * 4 * 128 * ((uint64_t)ci.image_width / 8 + 5) *
                                       ((uint64_t)ci.image_height / 8 + 5));
    ci.progress = &progress;
    im = oc_img_alloc(ci.image_width, ci.image_height, mode, lim->max_pixels, err);
    if (!im) {
        fail = err ? err->code : OCLIP_E_NOMEM;
        longjmp(je.jb, 1);
    }
    im->format = "jpeg";
    jpeg_start_decompress(&ci);
    if (ci.output_components != (int)im->channels || ci.output_width != im->width ||
        ci.output_height != im->height) {
        snprintf(je.msg, sizeof je.msg, "unexpected output layout");
        longjmp(je.jb, 1);
    }
    size_t stride = (size_t)im->width * im->channels;
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = im->pixels + (size_t)ci.output_scanline * stride;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    if (mode == OCLIP_IMAGE_CMYK) { /* CMYK;I */
        size_t nb = stride * im->height;
        for (size_t i = 0; i < nb; i++) im->pixels[i] = (uint8_t)(255 - im->pixels[i]);
    }
    int o = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && o == 1) o = exif_orientation(m->data, m->data_length);
    /* no jpeg_finish_decompress: every row is in, and Pillow does not need the EOI marker */
    jpeg_destroy_decompress(&ci);
    oclip_image *res = im;
    oclip_status st = orient(&res, o, lim->max_pixels, err);
    if (st != OCLIP_OK) {
        oclip_image_free(res);
        return st;
    }
    *out = res;
    return OCLIP_OK;
}
