/*
 * test_image_limits.c — declared-size bombs: tiny files whose headers declare huge images must
 * be refused by every decoder as soon as the header is read, before the decoder or its library
 * allocates anything sized by it, with a message that names the declared size and the limit.
 *
 *   1. a bomb per format (PNG, JPEG, GIF, WebP, TIFF, BMP, PNM), built here byte by byte (JPEG:
 *      a fixture with its frame header patched), each decoded in a child process that measures
 *      its time and its peak memory: refused in under 2 s and 300 MB more than it started with;
 *   2. the limit is exact: images of exactly max_pixels decode, one pixel more is refused (small
 *      limits through oclip_image_options), and so is a TIFF tile over the limit;
 *   3. within the limit: a PNG whose compressed data cannot hold its declared rows is refused
 *      before libpng allocates them, while a PNG compressed as tightly as zlib can still decodes;
 *      a JPEG with more than OC_JPEG_MAX_SCANS scans is refused, one with that many decodes;
 *   4. stop_pixels (oc_img_decode, the fuzz_image harness's setting) stops after the check.
 *
 * `test_image_limits --write DIR` writes the bombs of part 1 as files (tests/fixtures/image_limits
 * holds them for tests/cli_image_limits.sh). Run from the repository root.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/image_int.h"
#include "oclip.h"
#include "test.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0 /* ASan reserves terabytes of address space: no RLIMIT_AS under it */
#endif

#define FIX "tests/fixtures/preprocess/img/"
#define LIM_FIX "tests/fixtures/image_limits/"

/* =============================================================================================
 * Byte buffers and the formats' building blocks
 */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            perror("realloc");
            exit(2);
        }
        b->p = p, b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put8(buf *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}
static void put16le(buf *b, unsigned v) { put8(b, v & 255), put8(b, (v >> 8) & 255); }
static void put32le(buf *b, uint32_t v) { put16le(b, v & 0xFFFF), put16le(b, v >> 16); }
static void put16be(buf *b, unsigned v) { put8(b, (v >> 8) & 255), put8(b, v & 255); }
static void put32be(buf *b, uint32_t v) { put16be(b, v >> 16), put16be(b, v & 0xFFFF); }
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static uint32_t crc32_png(const uint8_t *d, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= d[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void png_chunk(buf *b, const char *type, const uint8_t *d, size_t n) {
    put32be(b, (uint32_t)n);
    size_t at = b->n;
    put(b, type, 4);
    put(b, d, n);
    put32be(b, crc32_png(b->p + at, n + 4));
}

/* A zlib stream of stored (uncompressed) deflate blocks. */
static void zlib_stored(buf *z, const uint8_t *raw, size_t n) {
    put8(z, 0x78), put8(z, 0x01);
    size_t pos = 0;
    do {
        size_t k = n - pos > 65535 ? 65535 : n - pos;
        put8(z, pos + k == n); /* BFINAL, BTYPE 00 */
        put16le(z, (unsigned)k), put16le(z, (unsigned)(~k & 0xFFFF));
        put(z, raw + pos, k);
        pos += k;
    } while (pos < n);
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < n; i++) a = (a + raw[i]) % 65521, bsum = (bsum + a) % 65521;
    put32be(z, bsum << 16 | a);
}

/* A PNG with the given IHDR and `raw` (the filtered rows) as its only IDAT. */
static buf make_png(uint32_t w, uint32_t h, int depth, int ct, int interlace, const uint8_t *raw,
                    size_t rawn) {
    buf b = {0}, ihdr = {0}, z = {0};
    put(&b, "\x89PNG\r\n\x1a\n", 8);
    put32be(&ihdr, w), put32be(&ihdr, h);
    put8(&ihdr, (unsigned)depth), put8(&ihdr, (unsigned)ct), put8(&ihdr, 0), put8(&ihdr, 0);
    put8(&ihdr, (unsigned)interlace);
    png_chunk(&b, "IHDR", ihdr.p, ihdr.n);
    if (ct == 3) png_chunk(&b, "PLTE", (const uint8_t *)"\0\0\0\xff\xff\xff", 6);
    zlib_stored(&z, raw, rawn);
    png_chunk(&b, "IDAT", z.p, z.n);
    png_chunk(&b, "IEND", NULL, 0);
    free(ihdr.p), free(z.p);
    return b;
}

/* A GIF: w x h logical screen (global 2-colour palette), one fw x fh frame at (0, 0) whose LZW
 * data is `lzw` (min code size 2). */
static buf make_gif(unsigned w, unsigned h, unsigned fw, unsigned fh, const uint8_t *lzw,
                    size_t lzwn) {
    buf b = {0};
    puts_(&b, "GIF89a");
    put16le(&b, w), put16le(&b, h), put8(&b, 0x80), put8(&b, 0), put8(&b, 0);
    put(&b, "\0\0\0\xff\xff\xff", 6);
    put8(&b, 0x2C), put16le(&b, 0), put16le(&b, 0), put16le(&b, fw), put16le(&b, fh);
    put8(&b, 0), put8(&b, 2), put8(&b, (unsigned)lzwn), put(&b, lzw, lzwn), put8(&b, 0);
    put8(&b, 0x3B);
    return b;
}

/* A lossless WebP (VP8L) header declaring w x h (at most 16384 a side), no image data. */
static buf make_webp_vp8l(unsigned w, unsigned h) {
    buf b = {0};
    uint32_t bits = (w - 1) | (uint32_t)(h - 1) << 14;
    puts_(&b, "RIFF"), put32le(&b, 4 + 8 + 13), puts_(&b, "WEBP");
    puts_(&b, "VP8L"), put32le(&b, 13), put8(&b, 0x2F), put32le(&b, bits);
    put(&b, "\0\0\0\0\0\0\0\0", 8);
    return b;
}

/* An animated WebP: a VP8X canvas of w x h and its ANIM chunk, no frame. */
static buf make_webp_anim(uint32_t w, uint32_t h) {
    buf b = {0};
    puts_(&b, "RIFF"), put32le(&b, 4 + 18 + 14), puts_(&b, "WEBP");
    puts_(&b, "VP8X"), put32le(&b, 10), put8(&b, 0x02), put8(&b, 0), put16le(&b, 0);
    put8(&b, (w - 1) & 255), put16le(&b, (w - 1) >> 8);
    put8(&b, (h - 1) & 255), put16le(&b, (h - 1) >> 8);
    puts_(&b, "ANIM"), put32le(&b, 6), put(&b, "\0\0\0\0\0\0", 6);
    return b;
}

/* A little-endian 8-bit gray TIFF, uncompressed: one strip of `data` (rows_per_strip = h), or
 * tiles of tw x th when tw > 0 (one tile's offset and byte count: enough for a 1-tile image). */
static buf make_tiff(uint32_t w, uint32_t h, uint32_t tw, uint32_t th, const uint8_t *data,
                     size_t datan) {
    buf b = {0};
    int nent = tw ? 10 : 9;
    uint32_t data_off = 8 + 2 + 12 * (uint32_t)nent + 4;
    puts_(&b, "II*"), put8(&b, 0), put32le(&b, 8), put16le(&b, (unsigned)nent);
#define ENT(tag, type, val) put16le(&b, tag), put16le(&b, type), put32le(&b, 1), put32le(&b, val)
    ENT(256, 4, w);
    ENT(257, 4, h);
    ENT(258, 3, 8);
    ENT(259, 3, 1);
    ENT(262, 3, 1);
    if (tw) {
        ENT(277, 3, 1);
        ENT(322, 4, tw);
        ENT(323, 4, th);
        ENT(324, 4, data_off);
        ENT(325, 4, (uint32_t)datan);
    } else {
        ENT(273, 4, data_off);
        ENT(277, 3, 1);
        ENT(278, 4, h);
        ENT(279, 4, (uint32_t)datan);
    }
#undef ENT
    put32le(&b, 0);
    put(&b, data, datan);
    return b;
}

/* A 24-bit BMP (BITMAPINFOHEADER) declaring w x h (negative: top-down) with `data` after it. */
static buf make_bmp(int32_t w, int32_t h, const uint8_t *data, size_t datan) {
    buf b = {0};
    puts_(&b, "BM"), put32le(&b, (uint32_t)(54 + datan)), put32le(&b, 0), put32le(&b, 54);
    put32le(&b, 40), put32le(&b, (uint32_t)w), put32le(&b, (uint32_t)h), put16le(&b, 1);
    put16le(&b, 24), put32le(&b, 0), put32le(&b, (uint32_t)datan), put32le(&b, 0);
    put32le(&b, 0), put32le(&b, 0), put32le(&b, 0);
    put(&b, data, datan);
    return b;
}

/* The fixture JPEG at `path` with its frame header (SOF0/1/2) declaring w x h. */
static buf jpeg_resized(const char *path, unsigned w, unsigned h) {
    buf b = {0};
    size_t n = 0;
    uint8_t *d = read_file(path, &n);
    CHECKF(d != NULL, "cannot read %s", path);
    if (!d) return b;
    put(&b, d, n);
    free(d);
    for (size_t i = 2; i + 9 <= b.n && b.p[i] == 0xFF;) {
        unsigned m = b.p[i + 1], len = (unsigned)b.p[i + 2] << 8 | b.p[i + 3];
        if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
            b.p[i + 5] = (uint8_t)(h >> 8), b.p[i + 6] = (uint8_t)h;
            b.p[i + 7] = (uint8_t)(w >> 8), b.p[i + 8] = (uint8_t)w;
            return b;
        }
        i += 2 + len;
    }
    CHECKF(0, "%s: no frame header", path);
    return b;
}

/* The progressive fixture declaring w x h, its header followed by `scans` copies of its first
 * scan header (a DC scan) each with one byte of data, then EOI: a file of ~14 bytes a scan. */
static buf jpeg_scans(unsigned w, unsigned h, int scans) {
    buf src = jpeg_resized(FIX "jpg_progressive.jpg", w, h), b = {0};
    size_t i = 2;
    while (i + 4 <= src.n && !(src.p[i] == 0xFF && src.p[i + 1] == 0xDA))
        i += 2 + ((size_t)src.p[i + 2] << 8 | src.p[i + 3]);
    CHECK(i + 4 <= src.n);
    if (i + 4 > src.n) return b;
    size_t sos_len = 2 + ((size_t)src.p[i + 2] << 8 | src.p[i + 3]);
    put(&b, src.p, i);
    for (int s = 0; s < scans; s++) put(&b, src.p + i, sos_len), put8(&b, 0);
    put8(&b, 0xFF), put8(&b, 0xD9);
    free(src.p);
    return b;
}

/* =============================================================================================
 * The bombs
 */
typedef struct {
    const char *file; /* name under --write, and in messages */
    const char *want; /* in the message: the declared size */
    buf data;
} bomb;

static size_t make_bombs(bomb *out, size_t max) {
    size_t k = 0;
#define ADD(f, w, d)                                                                             \
    do {                                                                                         \
        if (k < max) out[k++] = (bomb){f, w, d};                                                 \
    } while (0)
    static const uint8_t row0[16];
    /* the reported bomb: 68 bytes, 2^31 - 1 pixels in one row; libpng sized two 2 GB row buffers
     * and zeroed one before the limit was checked (7.6 s and 2.1 GB here) */
    ADD("png_2147483647x1.png", "2147483647x1 = 2147483647 pixels",
        make_png(2147483647u, 1, 8, 0, 0, row0, sizeof row0));
    /* RGBA 16-bit, interlaced: 8 bytes a pixel of row buffer (16 GB) */
    ADD("png_2147483647x1_rgba16_interlaced.png", "2147483647x1",
        make_png(2147483647u, 1, 16, 6, 1, row0, sizeof row0));
    ADD("png_1x2147483647.png", "1x2147483647", make_png(1, 2147483647u, 8, 0, 0, row0, 2));
    ADD("png_100000x100000_palette.png", "100000x100000 = 10000000000 pixels",
        make_png(100000, 100000, 1, 3, 0, row0, sizeof row0));
    /* within the pixel limit, but 68 bytes cannot hold 1.4 GB of rows: refused as truncated
     * before libpng allocates two such rows (2.7 s and 1.4 GB before) */
    ADD("png_178956970x1_rgba16.png", "178956970x1 image needs 1431655761 bytes",
        make_png(178956970u, 1, 16, 6, 0, row0, sizeof row0));
    ADD("jpeg_65500x65500.jpg", "65500x65500 = 4290250000 pixels",
        jpeg_resized(FIX "jpg_444.jpg", 65500, 65500));
    ADD("jpeg_65500x65500_progressive.jpg", "65500x65500",
        jpeg_resized(FIX "jpg_progressive.jpg", 65500, 65500));
    static const uint8_t lzw1[] = {0x44, 0x01}; /* clear, index 0, end */
    ADD("gif_screen_65535x65535.gif", "logical screen is 65535x65535",
        make_gif(65535, 65535, 1, 1, lzw1, sizeof lzw1));
    ADD("gif_frame_65535x65535.gif", "65535x65535 = 4294836225 pixels",
        make_gif(1, 1, 65535, 65535, lzw1, sizeof lzw1));
    ADD("webp_16384x16384.webp", "16384x16384 = 268435456 pixels", make_webp_vp8l(16384, 16384));
    /* libwebp itself refuses canvases of 2^32 pixels or more */
    ADD("webp_anim_20000x20000.webp", "20000x20000 = 400000000 pixels",
        make_webp_anim(20000, 20000));
    ADD("tiff_1x4294967295.tif", "1x4294967295 = 4294967295 pixels",
        make_tiff(1, 4294967295u, 0, 0, row0, sizeof row0));
    ADD("tiff_100000x100000_tiled.tif", "100000x100000",
        make_tiff(100000, 100000, 16, 16, row0, sizeof row0));
    /* a 1 x 1 image in one 65536 x 65536 tile: the tile is the bomb */
    ADD("tiff_tile_65536x65536.tif", "tile is 65536x65536",
        make_tiff(1, 1, 65536, 65536, row0, sizeof row0));
    ADD("bmp_1000000x1000000.bmp", "1000000x1000000", make_bmp(1000000, -1000000, row0, 4));
    ADD("bmp_1xINT32_MIN.bmp", "1x2147483648", make_bmp(1, INT32_MIN, row0, 4));
    {
        buf b = {0};
        puts_(&b, "P6\n1000000000 1000000000\n65535\n");
        put(&b, row0, 6);
        ADD("pnm_1000000000x1000000000.ppm", "1000000000x1000000000", b);
    }
#undef ADD
    return k;
}

/* =============================================================================================
 * Decoding in a child: status, message, seconds and the growth of its peak RSS
 */
typedef struct {
    int status;
    double secs;
    long rss_grow_kib;
    char msg[sizeof(((oclip_error *)0)->msg)];
} outcome;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long max_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* Linux: KiB */
}

/* Decodes in a forked child (60 s alarm), so that a regression costs one failed check instead
 * of the machine's memory or the suite's time; outside sanitizers the child may also map no more
 * than 8 GB, so that the 16 GB row buffers of a regressed PNG check fail instead of paging. */
static outcome decode_guarded(const buf *b, const oclip_image_options *opt) {
    outcome o;
    memset(&o, 0, sizeof o);
    o.status = -1;
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(60);
#if !UNDER_ASAN
        struct rlimit rl = {8ull << 30, 8ull << 30};
        setrlimit(RLIMIT_AS, &rl);
#endif
        outcome c;
        memset(&c, 0, sizeof c);
        oclip_image *im = NULL;
        oclip_error err;
        memset(&err, 0, sizeof err);
        long rss0 = max_rss_kib();
        double t0 = now_s();
        c.status = oclip_image_decode(b->p, b->n, "bomb", opt, &im, &err);
        c.secs = now_s() - t0;
        c.rss_grow_kib = max_rss_kib() - rss0;
        snprintf(c.msg, sizeof c.msg, "%s", c.status == OCLIP_OK ? "" : err.msg);
        oclip_image_free(im);
        if (write(fds[1], &c, sizeof c) != (ssize_t)sizeof c) _exit(3);
        close(fds[1]);
        exit(0);
    }
    close(fds[1]);
    ssize_t got = read(fds[0], &o, sizeof o);
    close(fds[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0) {
    }
    if (got != (ssize_t)sizeof o || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        o.status = -1;
        snprintf(o.msg, sizeof o.msg, "child %s %d", WIFSIGNALED(ws) ? "killed by signal" : "exit",
                 WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
    }
    return o;
}

static void test_bombs(void) {
    bomb bombs[32];
    size_t nb = make_bombs(bombs, 32);
    double worst_s = 0;
    long worst_kib = 0;
    for (size_t i = 0; i < nb; i++) {
        const bomb *bm = &bombs[i];
        CHECKF(bm->data.n > 0 && bm->data.n < 5000, "%s: %zu bytes", bm->file, bm->data.n);
        outcome o = decode_guarded(&bm->data, NULL);
        int is_png_trunc = strstr(bm->want, "needs") != NULL;
        CHECKF(o.status == (is_png_trunc ? OCLIP_E_FORMAT : OCLIP_E_NOMEM), "%s: status %d: %s",
               bm->file, o.status, o.msg);
        CHECKF(strstr(o.msg, bm->want) != NULL, "%s: message lacks '%s': %s", bm->file, bm->want,
               o.msg);
        if (!is_png_trunc)
            CHECKF(strstr(o.msg, "more than the limit of 178956970") &&
                       strstr(o.msg, "max_pixels"),
                   "%s: message does not name the limit: %s", bm->file, o.msg);
        CHECKF(o.secs < 2.0, "%s: refused after %.2f s", bm->file, o.secs);
        CHECKF(o.rss_grow_kib < 300 * 1024, "%s: peak memory grew by %ld MiB", bm->file,
               o.rss_grow_kib / 1024);
        if (o.secs > worst_s) worst_s = o.secs;
        if (o.rss_grow_kib > worst_kib) worst_kib = o.rss_grow_kib;
    }
    fprintf(stderr, "  %zu bombs refused, slowest %.3f s, peak RSS grew at most %ld KiB\n", nb,
            worst_s, worst_kib);
    for (size_t i = 0; i < nb; i++) free(bombs[i].data.p);
}

/* =============================================================================================
 * The limit is exact
 */

/* Decodes b with max_pixels = limit: OCLIP_OK (checking w x h) or the status. */
static oclip_status decode_at(const buf *b, uint64_t limit, uint32_t w, uint32_t h,
                              oclip_error *err) {
    oclip_image_options opt;
    oclip_image_options_default(&opt);
    opt.max_pixels = limit;
    oclip_image *im = NULL;
    oclip_status st = oclip_image_decode(b->p, b->n, "edge", &opt, &im, err);
    if (st == OCLIP_OK) CHECKF(im && im->width == w && im->height == h, "decoded size");
    oclip_image_free(im);
    return st;
}

static void check_edge(const char *what, const buf *b, uint32_t w, uint32_t h) {
    oclip_error err;
    uint64_t px = (uint64_t)w * h;
    oclip_status st = decode_at(b, px, w, h, &err);
    CHECKF(st == OCLIP_OK, "%s %ux%u at max_pixels %llu: %s", what, w, h,
           (unsigned long long)px, err.msg);
    st = decode_at(b, px - 1, w, h, &err);
    char want[96];
    snprintf(want, sizeof want, "%ux%u = %llu pixels, more than the limit of %llu", w, h,
             (unsigned long long)px, (unsigned long long)(px - 1));
    CHECKF(st == OCLIP_E_NOMEM && strstr(err.msg, want), "%s at max_pixels %llu: %d: %s", what,
           (unsigned long long)(px - 1), st, err.msg);
}

static void test_edges(void) {
    enum { W = 37, H = 27 };
    uint8_t raw[H * (W * 3 + 1)];
    for (size_t i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)(i % (W * 3 + 1) ? i * 7 : 0);
    buf b = make_png(W, H, 8, 2, 0, raw, sizeof raw);
    check_edge("PNG", &b, W, H);
    {
        oclip_image *im = NULL;
        CHECK(oclip_image_decode(b.p, b.n, "edge", NULL, &im, NULL) == OCLIP_OK && im &&
              im->mode == OCLIP_IMAGE_RGB && !memcmp(im->pixels, raw + 1, W * 3) &&
              !memcmp(im->pixels + (H - 1) * W * 3, raw + (H - 1) * (W * 3 + 1) + 1, W * 3));
        oclip_image_free(im);
    }
    free(b.p);

    b = make_bmp(W, -H, NULL, 0);
    uint8_t bmp_rows[H * ((W * 3 + 3) & ~3)];
    memset(bmp_rows, 0x55, sizeof bmp_rows);
    put(&b, bmp_rows, sizeof bmp_rows);
    check_edge("BMP", &b, W, H);
    free(b.p);

    b = (buf){0};
    char hdr[32];
    snprintf(hdr, sizeof hdr, "P5\n%d %d\n255\n", W, H);
    puts_(&b, hdr);
    put(&b, raw, W * H);
    check_edge("PGM", &b, W, H);
    free(b.p);

    b = make_tiff(W, H, 0, 0, raw, W * H);
    check_edge("TIFF", &b, W, H);
    free(b.p);

    /* GIF: a W x H screen, its 1 x 1 frame; then a 1 x 1 screen that the frame grows to W x H */
    static const uint8_t lzw1[] = {0x44, 0x01};
    b = make_gif(W, H, 1, 1, lzw1, sizeof lzw1);
    check_edge("GIF screen", &b, W, H);
    free(b.p);

    /* JPEG: the fixture as it is */
    size_t n = 0;
    uint8_t *d = read_file(FIX "jpg_444.jpg", &n);
    CHECK(d != NULL);
    if (d) {
        oclip_image *im = NULL;
        CHECK(oclip_image_decode(d, n, "jpg_444.jpg", NULL, &im, NULL) == OCLIP_OK && im);
        if (im) {
            b = (buf){0};
            put(&b, d, n);
            check_edge("JPEG", &b, im->width, im->height);
            free(b.p);
        }
        oclip_image_free(im);
        free(d);
    }

    /* TIFF: a 16 x 16 image in one 32 x 32 tile is refused at max_pixels 1023 for its tile */
    {
        static uint8_t tile[32 * 32];
        b = make_tiff(16, 16, 32, 32, tile, sizeof tile);
        oclip_error err;
        CHECKF(decode_at(&b, 1024, 16, 16, &err) == OCLIP_OK, "TIFF tile at its size: %s",
               err.msg);
        CHECKF(decode_at(&b, 1023, 16, 16, &err) == OCLIP_E_NOMEM &&
                   strstr(err.msg, "TIFF tile is 32x32 = 1024 pixels, more than the limit of 1023"),
               "TIFF tile: %s", err.msg);
        free(b.p);
    }
}

/* =============================================================================================
 * Within the limit: compressed data that cannot hold the rows, and scans
 */
static void test_within_limit(void) {
    /* a PNG compressed by zlib level 9 (4096 x 4095 zeros, 1028 bytes of rows per byte of IDAT,
     * the ratio's ceiling being 1032) decodes */
    size_t n = 0;
    uint8_t *d = read_file(LIM_FIX "png_zeros_4096x4095.png", &n);
    CHECK(d != NULL && n < 20000);
    if (d) {
        oclip_image *im = NULL;
        oclip_error err;
        CHECKF(oclip_image_decode(d, n, "zeros", NULL, &im, &err) == OCLIP_OK && im &&
                   im->width == 4096 && im->height == 4095 && im->mode == OCLIP_IMAGE_L,
               "%s", err.msg);
        if (im) {
            size_t nz = 0;
            for (size_t i = 0; i < (size_t)4096 * 4095; i++) nz += im->pixels[i] != 0;
            CHECK(nz == 0);
        }
        oclip_image_free(im);
        /* the same file cut inside its IDAT: refused for its size before libpng allocates */
        CHECKF(oclip_image_decode(d, n / 2, "cut", NULL, &im, &err) == OCLIP_E_FORMAT &&
                   strstr(err.msg, "truncated: a 4096x4095 image needs 16777215 bytes"),
               "%s", err.msg);
        free(d);
    }
    /* a stored (ratio 1) interlaced PNG with its last row missing: truncated, found by libpng;
     * with every row: decodes */
    {
        enum { W = 9, H = 7 };
        uint8_t raw[512], want[W * H];
        size_t rn = 0;
        /* Adam7: each pass's first column and row and their steps */
        static const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, dx[7] = {8, 8, 4, 4, 2, 2, 1};
        static const int y0[7] = {0, 0, 4, 0, 2, 0, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
        for (int p = 0; p < 7; p++)
            for (int y = y0[p]; y < H; y += dy[p]) {
                if (x0[p] >= W) break;
                raw[rn++] = 0;
                for (int x = x0[p]; x < W; x += dx[p])
                    raw[rn++] = want[y * W + x] = (uint8_t)(p * 30 + y * 3 + x);
            }
        buf b = make_png(W, H, 8, 0, 1, raw, rn);
        oclip_image *im = NULL;
        oclip_error err;
        CHECKF(oclip_image_decode(b.p, b.n, "il", NULL, &im, &err) == OCLIP_OK && im &&
                   im->mode == OCLIP_IMAGE_L && !memcmp(im->pixels, want, sizeof want),
               "interlaced: %s", err.msg);
        oclip_image_free(im);
        free(b.p);
        b = make_png(W, H, 8, 0, 1, raw, rn - 10);
        CHECK(oclip_image_decode(b.p, b.n, "il", NULL, &im, &err) == OCLIP_E_FORMAT);
        free(b.p);
    }
    /* JPEG scans: OC_JPEG_MAX_SCANS decode, one more is refused */
    {
        buf b = jpeg_scans(64, 64, OC_JPEG_MAX_SCANS);
        oclip_image *im = NULL;
        oclip_error err;
        CHECKF(oclip_image_decode(b.p, b.n, "scans", NULL, &im, &err) == OCLIP_OK && im,
               "%d scans: %s", OC_JPEG_MAX_SCANS, err.msg);
        oclip_image_free(im);
        free(b.p);
        b = jpeg_scans(64, 64, OC_JPEG_MAX_SCANS + 1);
        char want[40];
        snprintf(want, sizeof want, "more than %d scans", OC_JPEG_MAX_SCANS);
        CHECKF(oclip_image_decode(b.p, b.n, "scans", NULL, &im, &err) == OCLIP_E_FORMAT &&
                   strstr(err.msg, want),
               "%d scans: %s", OC_JPEG_MAX_SCANS + 1, err.msg);
        free(b.p);
        /* at 4096 x 4096 (1 M blocks a scan) a thousand scans are refused within a second or
         * two instead of running each */
        b = jpeg_scans(4096, 4096, 1000);
        outcome o = decode_guarded(&b, NULL);
        CHECKF(o.status == OCLIP_E_FORMAT && strstr(o.msg, "scans"), "%d: %s", o.status, o.msg);
        free(b.p);
    }
}

/* =============================================================================================
 * stop_pixels: the fuzz harness's early stop comes after the limit check
 */
static void test_stop(void) {
    static const uint8_t row[16];
    buf big = make_png(2147483647u, 1, 8, 0, 0, row, sizeof row);
    enum { W = 5, H = 3 };
    uint8_t raw[H * (W + 1)];
    memset(raw, 0, sizeof raw);
    buf ok = make_png(W, H, 8, 0, 0, raw, sizeof raw);
    oc_img_limits lim = {0, W * H - 1};
    oclip_image *im = NULL;
    oclip_error err;
    CHECKF(oc_img_decode(big.p, big.n, "big", &lim, 0, &im, &err) == OCLIP_E_NOMEM &&
               strstr(err.msg, "more than the limit of 178956970"),
           "%s", err.msg);
    CHECKF(oc_img_decode(ok.p, ok.n, "ok", &lim, 0, &im, &err) == OCLIP_E_NOMEM && !im &&
               strstr(err.msg, "stop_pixels"),
           "%s", err.msg);
    lim.stop_pixels = W * H;
    CHECKF(oc_img_decode(ok.p, ok.n, "ok", &lim, 0, &im, &err) == OCLIP_OK && im, "%s", err.msg);
    oclip_image_free(im);
    free(big.p), free(ok.p);
}

/* =============================================================================================
 * Options structs from the caller: struct_size 0 or this version's size is read; a size this
 * library does not know (a struct from a different build) is refused, never read past
 */
static void test_struct_size(void) {
    static const uint8_t raw[3 * 3];
    buf png = make_png(2, 3, 8, 0, 0, raw, sizeof raw);
    oclip_image_options io;
    oclip_image_options_default(&io);
    io.max_pixels = 6;
    oclip_image *im = NULL;
    oclip_error err;
    CHECKF(oclip_image_decode(png.p, png.n, "opt", &io, &im, &err) == OCLIP_OK && im, "%s",
           err.msg);
    oclip_image_free(im);
    io.max_pixels = 5;
    CHECK(oclip_image_decode(png.p, png.n, "opt", &io, &im, &err) == OCLIP_E_NOMEM && !im);
    io.struct_size = 0;
    CHECK(oclip_image_decode(png.p, png.n, "opt", &io, &im, &err) == OCLIP_E_NOMEM && !im);
    io.struct_size = 4;
    CHECKF(oclip_image_decode(png.p, png.n, "opt", &io, &im, &err) == OCLIP_E_ARG && !im &&
               strstr(err.msg, "oclip_image_options: struct_size 4"),
           "%s", err.msg);
    CHECK(oclip_image_load("/nonexistent", &io, &im, &err) == OCLIP_E_ARG);
    free(png.p);
    oclip_limits lim;
    oclip_limits_default(&lim);
    oclip_checkpoint *ck = NULL;
    lim.struct_size = 4;
    CHECKF(oclip_checkpoint_open_memory("{}", 2, "m", &lim, &ck, &err) == OCLIP_E_ARG && !ck &&
               strstr(err.msg, "oclip_limits: struct_size 4"),
           "%s", err.msg);
    CHECK(oclip_checkpoint_open("/nonexistent", &lim, &ck, &err) == OCLIP_E_ARG && !ck);
}

static int write_bombs(const char *dir) {
    bomb bombs[32];
    size_t nb = make_bombs(bombs, 32);
    int rc = 0;
    for (size_t i = 0; i < nb; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, bombs[i].file);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(bombs[i].data.p, 1, bombs[i].data.n, f) != bombs[i].data.n) rc = 1;
        if (f && fclose(f) != 0) rc = 1;
        printf("%s\t%s\n", bombs[i].file, bombs[i].want);
        free(bombs[i].data.p);
    }
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write")) return write_bombs(argv[2]);
    test_bombs(); /* first: the children's peak RSS starts from a small process */
    test_edges();
    test_within_limit();
    test_stop();
    test_struct_size();
    return TEST_REPORT("test_image_limits");
}
