/*
 * cmd_preprocess.c — `oclip preprocess IMAGE... -o OUT.npy`: OpenCLIP's inference transform,
 * float32 [N, 3, H, W], bit-identical to open_clip.image_transform(is_train=False) in PyTorch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "text.h"
#include "npy.h"
#include "oclip.h"

static const char preprocess_help[] =
    "usage: oclip preprocess [-m SPEC] [--image-size N|HxW] [--mean R,G,B] [--std R,G,B]\n"
    "                        [--interpolation bicubic|bilinear]\n"
    "                        [--resize-mode shortest|longest|squash] [--fill-color N]\n"
    "                        [--exif-transpose] [--max-pixels N] IMAGE... -o OUT.npy\n"
    "\n"
    "Decodes each IMAGE as Pillow does and applies OpenCLIP's inference transform (resize in\n"
    "the image's own mode, center crop or pad, RGB, ToTensor, Normalize). Writes float32\n"
    "[N, 3, H, W] (.npy, little-endian, C order), bit-identical to OpenCLIP's output.\n"
    "\n"
    "IMAGE  a PNG, JPEG, BMP, PPM/PGM/PBM, GIF (first frame), WebP or TIFF file, or '-' for\n"
    "       standard input\n"
    "\n"
    "The settings come from the model, then the flags override them:\n"
    "  -m, --model SPEC     ARCH:TAG (a pretrained tag, e.g. ViT-B-32:laion2b_s34b_b79k),\n"
    "                       ARCH (a built-in config: its image size, OpenAI defaults),\n"
    "                       an open_clip_config.json, a folder holding one, a checkpoint with\n"
    "                       one beside it (or written by oclip convert), hf-hub:ORG/NAME[@REV]\n"
    "                       in the Hugging Face cache (not downloaded), or default (the model embedded in\n"
    "                       oclip: 64 px); without -m: 224 px, OpenAI mean/std, bicubic,\n"
    "                       shortest\n"
    "  --image-size N|HxW   output size\n"
    "  --mean R,G,B         normalisation mean (one value: all channels)\n"
    "  --std R,G,B          normalisation std (one value: all channels)\n"
    "  --interpolation I    bicubic or bilinear\n"
    "  --resize-mode M      shortest (resize the short side, center crop), longest (resize\n"
    "                       the long side, pad with --fill-color), squash (ignore aspect)\n"
    "  --fill-color N       padding value 0..255 for 'longest' (default 0)\n"
    "  --exif-transpose     apply a JPEG's EXIF orientation (OpenCLIP does not)\n"
    "  --max-pixels N       refuse larger images, and images whose resize target is larger\n"
    "                       (default 178956970, Pillow's limit)\n"
    "  -o, --output F       the .npy file to write (written whole or not at all)\n"
    "  -h, --help           this help\n"
    "\n"
    "examples:\n"
    "  oclip preprocess cat.jpg dog.png -o pixels.npy                 # OpenAI defaults, 224\n"
    "  oclip preprocess -m ViT-B-32:laion2b_s34b_b79k cat.jpg -o x.npy # the tag's settings\n"
    "  oclip preprocess --image-size 384 --resize-mode squash a.jpg -o x.npy\n";

/* Fills *pre from -m SPEC, resolved as every command resolves a model (weights are not
 * needed; nothing is downloaded); OpenAI's defaults without -m. 0 or an exit code. */
static int resolve_model(const char *spec, oclip_preprocess_cfg *pre) {
    oclip_preprocess_cfg_default(pre);
    if (!spec) return 0;
    cli_model m = {.spec = spec};
    oclip_source *src;
    int rc = cli_resolve(&m, 1, OCLIP_FETCH_NEVER, &src);
    if (rc) return rc;
    if (!cli_source_config("preprocess", src)) {
        rc = EXIT_FAIL;
    } else if (!oclip_source_preprocess_origin(src)[0]) {
        fprintf(stderr, "oclip: preprocess: '%s': nothing states how this model preprocesses "
                        "images (no open_clip_config.json, pretrained tag or checkpoint "
                        "metadata; architecture %s)\n", spec, oclip_source_config_origin(src));
        fprintf(stderr, "hint: use -m ARCH:TAG, or give --image-size/--mean/--std/...\n");
        rc = EXIT_FAIL;
    } else {
        *pre = *oclip_source_preprocess(src);
    }
    oclip_source_free(src);
    return rc;
}

/* "a,b,c" or "a" -> three doubles; 0 on success. */
static int parse_triple(const char *s, double v[3]) {
    char *end;
    for (int i = 0; i < 3; i++) {
        errno = 0;
        v[i] = strtod(s, &end);
        if (end == s || errno) return -1;
        if (*end == '\0') {
            if (i == 0) v[1] = v[2] = v[0];
            else if (i != 2) return -1;
            return 0;
        }
        if (*end != ',' || i == 2) return -1;
        s = end + 1;
    }
    return -1;
}

/* "N", "HxW" or "H,W" -> size; 0 on success. */
static int parse_size(const char *s, int size[2]) {
    char *end;
    long h = strtol(s, &end, 10), w = h;
    if (end == s) return -1;
    if (*end == 'x' || *end == 'X' || *end == ',') {
        const char *t = end + 1;
        w = strtol(t, &end, 10);
        if (end == t) return -1;
    }
    if (*end || h <= 0 || w <= 0 || h > 16384 || w > 16384) return -1;
    size[0] = (int)h, size[1] = (int)w;
    return 0;
}

/* The whole of standard input (at most 1 GiB). */
/* float32 to little-endian bytes in place (a no-op on little-endian hosts). */
static void to_le(float *f, size_t n) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one) return;
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = (uint8_t *)&f[i], t;
        t = b[0], b[0] = b[3], b[3] = t, t = b[1], b[1] = b[2], b[2] = t;
    }
}

int cmd_preprocess(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *size_s = NULL, *mean_s = NULL, *std_s = NULL;
    const char *interp = NULL, *rmode = NULL, *fill_s = NULL, *maxp_s = NULL;
    int exif = 0, n_images = 0;
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    if (!images) return EXIT_FAIL;
    int rc = EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(preprocess_help, stdout);
            free(images);
            return 0;
        } else if (!strcmp(a, "--exif-transpose")) {
            exif = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-o") ||
                   !strcmp(a, "--output") || !strcmp(a, "--image-size") ||
                   !strcmp(a, "--mean") || !strcmp(a, "--std") ||
                   !strcmp(a, "--interpolation") || !strcmp(a, "--resize-mode") ||
                   !strcmp(a, "--fill-color") || !strcmp(a, "--max-pixels")) {
            if (i + 1 >= argc) {
                rc = usage_error("preprocess", "%s needs a value", a);
                goto done;
            }
            const char *v = argv[++i];
            if (a[1] == 'm' || !strcmp(a, "--model")) model = v;
            else if (a[1] == 'o' || !strcmp(a, "--output")) out = v;
            else if (!strcmp(a, "--image-size")) size_s = v;
            else if (!strcmp(a, "--mean")) mean_s = v;
            else if (!strcmp(a, "--std")) std_s = v;
            else if (!strcmp(a, "--interpolation")) interp = v;
            else if (!strcmp(a, "--resize-mode")) rmode = v;
            else if (!strcmp(a, "--fill-color")) fill_s = v;
            else maxp_s = v;
        } else if (a[0] == '-' && a[1]) {
            rc = cli_unknown_option("preprocess", a, preprocess_help);
            goto done;
        } else {
            images[n_images++] = a;
        }
    }
    if (!n_images) {
        rc = usage_error("preprocess", "%s", "no IMAGE given");
        goto done;
    }
    if (!out) {
        rc = usage_error("preprocess", "%s", "missing -o OUT.npy");
        goto done;
    }

    oclip_preprocess_cfg cfg;
    if ((rc = resolve_model(model, &cfg)) != 0) goto done;
    rc = EXIT_USAGE;
    if (size_s && parse_size(size_s, cfg.size)) {
        rc = usage_error("preprocess", "--image-size '%s': expected N or HxW (1..16384)", size_s);
        goto done;
    }
    if (mean_s && parse_triple(mean_s, cfg.mean)) {
        rc = usage_error("preprocess", "--mean '%s': expected R,G,B or one number", mean_s);
        goto done;
    }
    if (std_s && (parse_triple(std_s, cfg.std) || !cfg.std[0] || !cfg.std[1] || !cfg.std[2])) {
        rc = usage_error("preprocess", "--std '%s': expected R,G,B (non-zero) or one number",
                         std_s);
        goto done;
    }
    if (interp) {
        if (strcmp(interp, "bicubic") && strcmp(interp, "bilinear")) {
            rc = usage_error("preprocess", "--interpolation '%s': expected bicubic or bilinear",
                             interp);
            goto done;
        }
        snprintf(cfg.interpolation, sizeof cfg.interpolation, "%s", interp);
    }
    if (rmode) {
        if (strcmp(rmode, "shortest") && strcmp(rmode, "longest") && strcmp(rmode, "squash")) {
            rc = usage_error("preprocess",
                             "--resize-mode '%s': expected shortest, longest or squash", rmode);
            goto done;
        }
        snprintf(cfg.resize_mode, sizeof cfg.resize_mode, "%s", rmode);
    }
    if (fill_s) {
        char *end;
        long v = strtol(fill_s, &end, 10);
        if (end == fill_s || *end || v < 0 || v > 255) {
            rc = usage_error("preprocess", "--fill-color '%s': expected 0..255", fill_s);
            goto done;
        }
        cfg.fill_color = (int)v;
    }
    oclip_image_options opt;
    oclip_image_options_default(&opt);
    opt.exif_transpose = exif;
    if (maxp_s) {
        char *end;
        unsigned long long v = strtoull(maxp_s, &end, 10);
        if (end == maxp_s || *end || v == 0) {
            rc = usage_error("preprocess", "--max-pixels '%s': expected a positive count",
                             maxp_s);
            goto done;
        }
        opt.max_pixels = v;
        cfg.max_pixels = v; /* the resize target too */
    }
    int n_stdin = 0;
    for (int i = 0; i < n_images; i++) n_stdin += !strcmp(images[i], "-");
    if (n_stdin > 1) {
        rc = usage_error("preprocess", "%s", "'-' (standard input) can be given once");
        goto done;
    }

    /* every image is preprocessed before anything is written: all or nothing */
    rc = EXIT_FAIL;
    size_t per = 3 * (size_t)cfg.size[0] * (size_t)cfg.size[1];
    float *px = malloc(per * (size_t)n_images * sizeof *px);
    if (!px) {
        fprintf(stderr, "oclip: preprocess: out of memory for %d images\n", n_images);
        goto done;
    }
    for (int i = 0; i < n_images; i++) {
        oclip_error err;
        oclip_image *img = NULL;
        oclip_status st;
        if (!strcmp(images[i], "-")) {
            size_t len = 0;
            unsigned char *data = (unsigned char *)read_stream(stdin, &len);
            if (!data) {
                fprintf(stderr, "oclip: <stdin>: cannot read standard input\n");
                free(px);
                goto done;
            }
            st = oclip_image_decode(data, len, "<stdin>", &opt, &img, &err);
            free(data);
        } else {
            st = oclip_image_load(images[i], &opt, &img, &err);
        }
        if (st == OCLIP_OK) {
            st = oclip_preprocess(img, &cfg, px + per * (size_t)i, &err);
            if (st != OCLIP_OK)
                fprintf(stderr, "oclip: '%s': %s\n", images[i], cli_esc_msg(err.msg));
        } else {
            print_error(&err);
        }
        oclip_image_free(img);
        if (st != OCLIP_OK) {
            free(px);
            goto done;
        }
    }
    to_le(px, per * (size_t)n_images);

    /* write OUT.tmp, then rename: never a partial file under the real name */
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int64_t shape[4] = {n_images, 3, cfg.size[0], cfg.size[1]};
    int ok = f && npy_write_header(f, "<f4", 4, shape) == 0 &&
             fwrite(px, sizeof *px, per * (size_t)n_images, f) == per * (size_t)n_images;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, out) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "oclip: '%s': cannot write: %s\n", out, strerror(errno));
        remove(tmp);
        free(px);
        goto done;
    }
    free(px);
    rc = 0;
done:
    free(images);
    return rc;
}
