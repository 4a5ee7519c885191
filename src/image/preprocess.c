/*
 * preprocess.c — OpenCLIP's inference transform, bit-exact (open_clip transform.py image_transform).
 *
 * open_clip.image_transform(is_train=False) is, for a PIL image:
 *   resize (torchvision Resize / open_clip ResizeKeepRatio -> PIL Image.resize, in the image's
 *   own mode) -> CenterCrop / CenterCropOrPad -> convert("RGB") -> ToTensor -> Normalize.
 * Each step below names the Pillow / torchvision code it reproduces. Pillow's arithmetic is
 * integer except the filter coefficients, which are computed in double exactly as Resample.c
 * does; this file is compiled with -std=c11, which keeps GCC from contracting a*b+c into FMA
 * (-ffp-contract=off), so the doubles round as in Pillow's build. No -ffast-math anywhere.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_int.h"

/* Largest preprocess side accepted (config.c caps image_size the same way). */
#define PP_MAX_SIDE 16384

/* =============================================================================================
 * Pillow Resample.c: filters and coefficients
 */
#define PRECISION_BITS 22 /* Resample.c: 32 - 8 (pixel) - 2 (negative lobes headroom) */

typedef struct {
    double (*fn)(double);
    double support;
} pp_filter;

/* Keys' cubic with a = -0.5 (Pillow; torch's non-antialiased bicubic uses -0.75). */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double bilinear(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

static const pp_filter BICUBIC = {bicubic, 2.0}, BILINEAR = {bilinear, 1.0};

/* Coefficients of one axis (Resample.c precompute_coeffs, box = [0, in_size)): for output index
 * i, taps bounds[2i] .. bounds[2i] + bounds[2i+1] - 1 with weights kk[i * ksize ...], normalised
 * to sum 1 in double. Returns ksize, 0 on allocation failure. */
static int precompute_coeffs(int in_size, int out_size, const pp_filter *f, int **bounds_out,
                             double **kk_out) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale; /* widen the filter only when shrinking */
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *kk = calloc((size_t)out_size * (size_t)ksize, sizeof *kk);
    int *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    if (!kk || !bounds) {
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5); /* C truncation, as Pillow ("round") */
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kk[(size_t)xx * (size_t)ksize];
        for (int x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w; /* sequential sum: the order matters for the last bit */
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        bounds[xx * 2 + 0] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

/* normalize_coeffs_8bpp: double -> 22-bit fixed point, rounding half away from zero. */
static void fixed_coeffs(const double *kk, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++)
        out[i] = kk[i] < 0 ? (int32_t)(-0.5 + kk[i] * (1 << PRECISION_BITS))
                           : (int32_t)(0.5 + kk[i] * (1 << PRECISION_BITS));
}

/* Resample.c clip8: the accumulator carries a +2^21 bias, so >> 22 rounds; then clamp. */
static inline uint8_t clip8(int32_t v) {
    v >>= PRECISION_BITS; /* arithmetic shift on every compiler oclip supports, as in Pillow */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* Pillow's ROUND_UP for the 16-bit path. */
static inline int32_t round_up(double f) {
    return (int32_t)(f >= 0.0 ? floor(f + 0.5) : -floor(fabs(f) + 0.5));
}

static inline uint8_t clamp8(int32_t v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v; }

/*
 * One pass over `nb` interleaved 8-bit bands (each band independent, as Pillow's per-band
 * accumulators). Horizontal: out row r <- in row r + offset. Vertical: stride = row bytes.
 * `in_step` is the distance between taps (nb horizontally, a row vertically).
 */
static void pass8(const uint8_t *in, size_t in_stride, uint8_t *out, size_t out_stride,
                  int out_w, int out_h, int nb, int horizontal, int ksize, const int *bounds,
                  const int32_t *kk) {
    for (int yy = 0; yy < out_h; yy++) {
        uint8_t *o = out + (size_t)yy * out_stride;
        for (int xx = 0; xx < out_w; xx++) {
            int i = horizontal ? xx : yy;
            int tmin = bounds[i * 2], tn = bounds[i * 2 + 1];
            const int32_t *k = &kk[(size_t)i * (size_t)ksize];
            const uint8_t *p;
            size_t step;
            if (horizontal) {
                p = in + (size_t)yy * in_stride + (size_t)tmin * (size_t)nb;
                step = (size_t)nb;
            } else {
                p = in + (size_t)tmin * in_stride + (size_t)xx * (size_t)nb;
                step = in_stride;
            }
            for (int b = 0; b < nb; b++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int t = 0; t < tn; t++) ss += p[(size_t)t * step + (size_t)b] * k[t];
                o[(size_t)xx * (size_t)nb + (size_t)b] = clip8(ss);
            }
        }
    }
}

/* The same for I;16 (host-endian uint16), with double coefficients and Pillow's byte-wise
 * clamping of the result (low byte CLIP8(v % 256), high byte CLIP8(v >> 8)). */
static void pass16(const uint8_t *in, size_t in_stride, uint8_t *out, size_t out_stride,
                   int out_w, int out_h, int horizontal, int ksize, const int *bounds,
                   const double *kk) {
    for (int yy = 0; yy < out_h; yy++) {
        uint16_t *o = (uint16_t *)(void *)(out + (size_t)yy * out_stride);
        for (int xx = 0; xx < out_w; xx++) {
            int i = horizontal ? xx : yy;
            int tmin = bounds[i * 2], tn = bounds[i * 2 + 1];
            const double *k = &kk[(size_t)i * (size_t)ksize];
            double ss = 0.0;
            for (int t = 0; t < tn; t++) {
                size_t at = horizontal ? (size_t)yy * in_stride + (size_t)(tmin + t) * 2
                                       : (size_t)(tmin + t) * in_stride + (size_t)xx * 2;
                uint16_t v;
                memcpy(&v, in + at, 2);
                ss += v * k[t];
            }
            int32_t v = round_up(ss);
            o[xx] = (uint16_t)(clamp8(v % 256) | clamp8(v >> 8) << 8);
        }
    }
}

/* Pillow ImagingResampleInner for one image: vertical coefficients first, horizontal pass only
 * over the rows the vertical pass reads (ybox), uint8 (uint16) intermediate, pass skipped when
 * its size is unchanged. `src` is w x h with nb bytes per pixel; dst is ow x oh. */
static oclip_status resample(const uint8_t *src, int w, int h, int nb, int is16, uint8_t *dst,
                             int ow, int oh, const pp_filter *f, oclip_error *err) {
    int *bh = NULL, *bv = NULL;
    double *kh = NULL, *kv = NULL;
    int32_t *ih = NULL, *iv = NULL;
    uint8_t *tmp = NULL;
    oclip_status st = OCLIP_E_NOMEM;
    int ksh = precompute_coeffs(w, ow, f, &bh, &kh);
    int ksv = ksh ? precompute_coeffs(h, oh, f, &bv, &kv) : 0;
    if (!ksv) goto done;
    if (!is16) {
        ih = malloc((size_t)ow * (size_t)ksh * sizeof *ih);
        iv = malloc((size_t)oh * (size_t)ksv * sizeof *iv);
        if (!ih || !iv) goto done;
        fixed_coeffs(kh, (size_t)ow * (size_t)ksh, ih);
        fixed_coeffs(kv, (size_t)oh * (size_t)ksv, iv);
    }
    int ybox_first = bv[0], ybox_last = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    const uint8_t *cur = src;
    int cw = w;
    size_t px = (size_t)nb;
    if (ow != w) {
        for (int i = 0; i < oh; i++) bv[i * 2] -= ybox_first;
        int th = ybox_last - ybox_first; /* == h when the height is unchanged (support >= 1) */
        if (oh == h && th != h) {
            st = OCLIP_E_ARG; /* cannot happen with these filters; never write past dst */
            goto done;
        }
        uint8_t *out = oh != h ? (tmp = malloc((size_t)ow * (size_t)th * px)) : dst;
        if (!out) goto done;
        const uint8_t *rows = src + (size_t)ybox_first * (size_t)w * px;
        if (is16)
            pass16(rows, (size_t)w * px, out, (size_t)ow * px, ow, th, 1, ksh, bh, kh);
        else
            pass8(rows, (size_t)w * px, out, (size_t)ow * px, ow, th, nb, 1, ksh, bh, ih);
        cur = out;
        cw = ow;
    }
    if (oh != h) {
        if (is16)
            pass16(cur, (size_t)cw * px, dst, (size_t)ow * px, ow, oh, 0, ksv, bv, kv);
        else
            pass8(cur, (size_t)cw * px, dst, (size_t)ow * px, ow, oh, nb, 0, ksv, bv, iv);
    }
    if (ow == w && oh == h) memcpy(dst, src, (size_t)w * (size_t)h * px);
    st = OCLIP_OK;
done:
    free(bh), free(bv), free(kh), free(kv), free(ih), free(iv), free(tmp);
    return st == OCLIP_OK ? st
                          : oc_err_set(err, st, "%s resizing %dx%d to %dx%d",
                                       st == OCLIP_E_NOMEM ? "out of memory" : "internal error", w,
                                       h, ow, oh);
}

/* =============================================================================================
 * Pillow NEAREST (modes "1" and "P"): Geometry.c ImagingScaleAffine. The source position is
 * accumulated in double (xo += scale), not multiplied, and truncated toward zero.
 */
static bool nearest(const uint8_t *src, int w, int h, int nb, uint8_t *dst, int ow, int oh) {
    double ax = (double)w / ow, ay = (double)h / oh;
    double xo = ax * 0.5, yo = ay * 0.5;
    int *xin = malloc((size_t)ow * sizeof *xin); /* the caller checked ow > 0 */
    if (!xin) return false;
    for (int x = 0; x < ow; x++, xo += ax) {
        int xi = xo < 0.0 ? -1 : (int)xo;
        xin[x] = xi < w ? xi : w - 1; /* always inside for these scales; keeps reads bounded */
    }
    for (int y = 0; y < oh; y++, yo += ay) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        if (yi >= h) yi = h - 1;
        const uint8_t *in = src + (size_t)yi * (size_t)w * (size_t)nb;
        uint8_t *out = dst + (size_t)y * (size_t)ow * (size_t)nb;
        for (int x = 0; x < ow; x++) memcpy(out + (size_t)x * nb, in + (size_t)xin[x] * nb, nb);
    }
    free(xin);
    return true;
}

/* =============================================================================================
 * Premultiplied alpha around the resize (Image.resize: RGBA -> RGBa, LA -> La, and back), with
 * Convert.c's integer formulas.
 */
static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void premultiply(uint8_t *p, size_t npix, int nb) {
    for (size_t i = 0; i < npix; i++, p += nb) {
        unsigned a = p[nb - 1];
        for (int c = 0; c < nb - 1; c++) p[c] = muldiv255(p[c], a);
    }
}

static void unpremultiply(uint8_t *p, size_t npix, int nb) {
    for (size_t i = 0; i < npix; i++, p += nb) {
        unsigned a = p[nb - 1];
        if (a == 255 || a == 0) continue;
        for (int c = 0; c < nb - 1; c++) {
            unsigned v = 255u * p[c] / a;
            p[c] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* =============================================================================================
 * Geometry of the transform
 */

/* Python's round() on a double: half to even (nearbyint in the default rounding mode). */
static long round_half_even(double x) { return (long)nearbyint(x); }

/* open_clip ResizeKeepRatio.get_params (timm): returns (h, w); longest is 0.0 or 1.0. */
static void keep_ratio(int h, int w, int th, int tw, double longest, long *nh, long *nw) {
    double rh = (double)h / th, rw = (double)w / tw;
    double mx = rh > rw ? rh : rw, mn = rh > rw ? rw : rh;
    double ratio = mx * longest + mn * (1.0 - longest);
    *nh = round_half_even(h * 1.0 / ratio);
    *nw = round_half_even(w * 1.0 / ratio);
}

/* torchvision CenterCrop / open_clip CenterCropOrPad along one axis: pad (t - n) // 2 before
 * when the crop is larger, else start at int(round((n - t) / 2.0)) (half to even). */
static void crop_axis(long n, long t, long *src_off, long *dst_off) {
    if (t > n) {
        *src_off = 0;
        *dst_off = (t - n) / 2;
    } else {
        *src_off = round_half_even((double)(n - t) / 2.0);
        *dst_off = 0;
    }
}

/* =============================================================================================
 * convert("RGB") (Convert.c): 1 -> 0/255, L and I;16(B) replicated (saturating at 255: Pillow's
 * I16_RGB), LA/RGBA drop alpha without compositing, P through the palette, CMYK by cmyk2rgb.
 */
static void to_rgb(const oclip_image *im, const uint8_t *p, size_t npix, uint8_t *out) {
    for (size_t i = 0; i < npix; i++, out += 3) {
        switch (im->mode) {
        case OCLIP_IMAGE_1: out[0] = out[1] = out[2] = p[i] ? 255 : 0; break;
        case OCLIP_IMAGE_L: out[0] = out[1] = out[2] = p[i]; break;
        case OCLIP_IMAGE_P: memcpy(out, im->palette + 3 * (size_t)p[i], 3); break;
        case OCLIP_IMAGE_I16: {
            uint16_t v;
            memcpy(&v, p + 2 * i, 2);
            out[0] = out[1] = out[2] = v > 255 ? 255 : (uint8_t)v;
            break;
        }
        case OCLIP_IMAGE_I16B: { /* Pillow's I16B_RGB: saturating, big-endian */
            unsigned v = (unsigned)p[2 * i] << 8 | p[2 * i + 1];
            out[0] = out[1] = out[2] = v > 255 ? 255 : (uint8_t)v;
            break;
        }
        case OCLIP_IMAGE_LA: out[0] = out[1] = out[2] = p[2 * i]; break;
        case OCLIP_IMAGE_RGB: memcpy(out, p + 3 * i, 3); break;
        case OCLIP_IMAGE_RGBA: memcpy(out, p + 4 * i, 3); break;
        case OCLIP_IMAGE_CMYK: {
            const uint8_t *q = p + 4 * i;
            int nk = 255 - q[3];
            for (int c = 0; c < 3; c++) out[c] = clamp8(nk - muldiv255(q[c], (unsigned)nk));
            break;
        }
        }
    }
}

/* Validates cfg; fills the target size and whether bilinear was asked for. */
static oclip_status check_cfg(const oclip_image *img, const oclip_preprocess_cfg *cfg,
                              oclip_error *err) {
    if (!img || !img->pixels || !cfg)
        return oc_err_set(err, OCLIP_E_ARG, "preprocess: NULL image or config");
    if (img->width == 0 || img->height == 0 || img->width > INT32_MAX / 4 ||
        img->height > INT32_MAX / 4 || (unsigned)img->mode > OCLIP_IMAGE_I16B ||
        img->channels != oc_img_channels(img->mode))
        return oc_err_set(err, OCLIP_E_ARG, "preprocess: invalid image (%ux%u, mode %d)",
                          img->width, img->height, (int)img->mode);
    if (cfg->size[0] <= 0 || cfg->size[1] <= 0 || cfg->size[0] > PP_MAX_SIDE ||
        cfg->size[1] > PP_MAX_SIDE)
        return oc_err_set(err, OCLIP_E_ARG, "preprocess: size [%d, %d] must be in 1..%d",
                          cfg->size[0], cfg->size[1], PP_MAX_SIDE);
    if (strcmp(cfg->interpolation, "bicubic") && strcmp(cfg->interpolation, "bilinear") &&
        strcmp(cfg->interpolation, "random"))
        return oc_err_set(err, OCLIP_E_ARG,
                          "preprocess: interpolation '%s' (want bicubic or bilinear)",
                          cfg->interpolation);
    if (strcmp(cfg->resize_mode, "shortest") && strcmp(cfg->resize_mode, "longest") &&
        strcmp(cfg->resize_mode, "squash"))
        return oc_err_set(err, OCLIP_E_ARG,
                          "preprocess: resize_mode '%s' (want shortest, longest or squash)",
                          cfg->resize_mode);
    if (cfg->fill_color < 0 || cfg->fill_color > 255)
        return oc_err_set(err, OCLIP_E_ARG, "preprocess: fill_color %d not in 0..255",
                          cfg->fill_color);
    return OCLIP_OK;
}

oclip_status oclip_preprocess_u8(const oclip_image *img, const oclip_preprocess_cfg *cfg,
                                 uint8_t *out, oclip_error *err) {
    oclip_status st = check_cfg(img, cfg, err);
    if (st != OCLIP_OK) return st;
    const long th = cfg->size[0], tw = cfg->size[1];
    const long h = img->height, w = img->width;
    const int nb = (int)img->channels;
    /* transform.py: "bilinear" -> BILINEAR, anything else -> BICUBIC */
    const pp_filter *filter = strcmp(cfg->interpolation, "bilinear") ? &BICUBIC : &BILINEAR;

    /* 1. the resize target (h, w), as torchvision / open_clip compute it */
    long rh = h, rw = w;
    if (!strcmp(cfg->resize_mode, "squash")) {
        rh = th, rw = tw; /* Resize((h, w)) */
    } else if (!strcmp(cfg->resize_mode, "longest")) {
        keep_ratio((int)h, (int)w, (int)th, (int)tw, 1.0, &rh, &rw);
    } else if (th == tw) {
        /* torchvision _compute_resized_output_size: int(S * long / short), Python float
         * division (S * long is exact in double for these sizes), truncated */
        long s_short = w <= h ? w : h, s_long = w <= h ? h : w;
        long nl = (long)((double)(th * s_long) / (double)s_short);
        if (w <= h) rw = th, rh = nl;
        else rw = nl, rh = th;
    } else {
        /* non-square shortest: ResizeKeepRatio((h, w)) without the interpolation argument */
        keep_ratio((int)h, (int)w, (int)th, (int)tw, 0.0, &rh, &rw);
        filter = &BICUBIC;
    }
    if (rh <= 0 || rw <= 0)
        return oc_err_set(err, OCLIP_E_ARG,
                          "preprocess: a %ldx%ld image resizes to %ldx%ld for size [%ld, %ld] "
                          "(OpenCLIP fails too: 'height and width must be > 0')",
                          w, h, rw, rh, th, tw);
    uint64_t maxp = cfg->max_pixels ? cfg->max_pixels : OC_IMG_DEFAULT_MAX_PIXELS;
    if (maxp > (1ull << 32)) maxp = 1ull << 32; /* a larger one is not honoured */
    if (rh > INT32_MAX / 4 || rw > INT32_MAX / 4 || (uint64_t)rh * (uint64_t)rw > maxp) {
        oc_err_set(err, OCLIP_E_ARG,
                   "preprocess: a %ldx%ld image resizes to %ldx%ld (%llu pixels) before the crop "
                   "to [%ld, %ld], over the limit of %llu", w, h, rw, rh,
                   (unsigned long long)((uint64_t)rh * (uint64_t)rw), th, tw,
                   (unsigned long long)maxp);
        oc_err_hint(err, "such a thin image is likely hostile; raise "
                    "oclip_preprocess_cfg.max_pixels if it is genuine");
        return OCLIP_E_ARG;
    }

    /* 2. PIL Image.resize in the image's mode (a copy when the size is unchanged) */
    uint8_t *res = NULL, *work = NULL;
    const uint8_t *cur = img->pixels;
    if (rh != h || rw != w) {
        res = malloc((size_t)rw * (size_t)rh * (size_t)nb);
        if (!res) return oc_err_set(err, OCLIP_E_NOMEM, "preprocess: out of memory");
        if (img->mode == OCLIP_IMAGE_P || img->mode == OCLIP_IMAGE_1) {
            /* Image.resize forces NEAREST for "1" and "P" */
            if (!nearest(img->pixels, (int)w, (int)h, nb, res, (int)rw, (int)rh)) {
                free(res);
                return oc_err_set(err, OCLIP_E_NOMEM, "preprocess: out of memory");
            }
        } else {
            const uint8_t *src = img->pixels;
            int alpha = img->mode == OCLIP_IMAGE_RGBA || img->mode == OCLIP_IMAGE_LA;
            if (alpha) {
                size_t n = (size_t)w * (size_t)h * (size_t)nb;
                work = malloc(n);
                if (!work) {
                    free(res);
                    return oc_err_set(err, OCLIP_E_NOMEM, "preprocess: out of memory");
                }
                memcpy(work, img->pixels, n);
                premultiply(work, (size_t)w * (size_t)h, nb);
                src = work;
            }
            /* I;16B goes through the same host-order 16-bit pass: Pillow's 16-bit resampler
             * reads "I;16B" in host byte order too (its big-endian test only knows I;16N /
             * big-endian hosts), so on little-endian machines it resizes byte-swapped values;
             * storing I;16B big-endian and reading host order reproduces that on any host */
            int is16 = img->mode == OCLIP_IMAGE_I16 || img->mode == OCLIP_IMAGE_I16B;
            st = resample(src, (int)w, (int)h, nb, is16, res, (int)rw,
                          (int)rh, filter, err);
            free(work);
            if (st != OCLIP_OK) {
                free(res);
                return st;
            }
            if (alpha) unpremultiply(res, (size_t)rw * (size_t)rh, nb);
        }
        cur = res;
    }

    /* 3. center crop, padding with fill_color where the crop is larger (every band, P: index) */
    if (!strcmp(cfg->resize_mode, "squash")) {
        to_rgb(img, cur, (size_t)rw * (size_t)rh, out);
        free(res);
        return OCLIP_OK;
    }
    int fill = !strcmp(cfg->resize_mode, "longest") ? cfg->fill_color : 0;
    long sy, dy, sx, dx;
    crop_axis(rh, th, &sy, &dy);
    crop_axis(rw, tw, &sx, &dx);
    long ch = rh - sy < th - dy ? rh - sy : th - dy, cw = rw - sx < tw - dx ? rw - sx : tw - dx;
    size_t opix = (size_t)th * (size_t)tw;
    uint8_t *crop = malloc(opix * (size_t)nb);
    if (!crop) {
        free(res);
        return oc_err_set(err, OCLIP_E_NOMEM, "preprocess: out of memory");
    }
    if (img->mode == OCLIP_IMAGE_I16 || img->mode == OCLIP_IMAGE_I16B) {
        uint16_t f16 = (uint16_t)fill;
        if (img->mode == OCLIP_IMAGE_I16B) {
            uint8_t be[2] = {(uint8_t)(fill >> 8), (uint8_t)fill};
            memcpy(&f16, be, 2);
        }
        for (size_t i = 0; i < opix; i++) memcpy(crop + 2 * i, &f16, 2);
    } else {
        memset(crop, fill, opix * (size_t)nb);
    }
    for (long y = 0; y < ch; y++)
        memcpy(crop + ((size_t)(y + dy) * (size_t)tw + (size_t)dx) * (size_t)nb,
               cur + ((size_t)(y + sy) * (size_t)rw + (size_t)sx) * (size_t)nb,
               (size_t)cw * (size_t)nb);
    free(res);

    /* 4. convert("RGB") */
    to_rgb(img, crop, opix, out);
    free(crop);
    return OCLIP_OK;
}

oclip_status oclip_preprocess(const oclip_image *img, const oclip_preprocess_cfg *cfg, float *out,
                              oclip_error *err) {
    oclip_status st = check_cfg(img, cfg, err);
    if (st != OCLIP_OK) return st;
    if (!out) return oc_err_set(err, OCLIP_E_ARG, "preprocess: NULL output");
    size_t hw = (size_t)cfg->size[0] * (size_t)cfg->size[1];
    uint8_t *rgb = malloc(hw * 3);
    if (!rgb) return oc_err_set(err, OCLIP_E_NOMEM, "preprocess: out of memory");
    if ((st = oclip_preprocess_u8(img, cfg, rgb, err)) != OCLIP_OK) {
        free(rgb);
        return st;
    }
    /* ToTensor: float32(u8) / 255 (a float32 division); Normalize: (x - float32(mean)) /
     * float32(std), again a true division. Every u8 value maps to one float, so a table per
     * channel gives the same bits as computing each pixel. */
    for (int c = 0; c < 3; c++) {
        float lut[256], m = (float)cfg->mean[c], s = (float)cfg->std[c];
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - m) / s;
        float *o = out + (size_t)c * hw;
        for (size_t i = 0; i < hw; i++) o[i] = lut[rgb[3 * i + (size_t)c]];
    }
    free(rgb);
    return OCLIP_OK;
}
