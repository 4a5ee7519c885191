"""Preprocessing fixtures: images in every format oclip decodes, and OpenCLIP's own output for them.

Run as `.venv/bin/python tools/gen_fixtures.py preprocess` (registered by gen_fixtures.py).

Writes tests/fixtures/preprocess/
  img/<name>.<ext>      synthetic test images (fixed seeds: gradients, blocks, noise, edges), written
                        by Pillow where Pillow can write the variant and by the small encoders below
                        (PNG bit depths/interlace Pillow cannot write, BMP 4/16-bit, plain PPM).
  out/<case>.u8         the HWC uint8 RGB image OpenCLIP's inference transform hands to ToTensor
                        (every transform but the last two), for mismatch diagnostics.
  dec/<name>.png|.u8    JPEG files only: the pixels Pillow's own libjpeg-turbo decodes (before any
                        resize; CMYK as raw bytes), to measure Debian's libjpeg-turbo against it.
  manifest.json         per image: file, Pillow mode and size; per case: image, preprocess
                        config (size [h, w], mean, std, interpolation, resize_mode, fill_color),
                        the u8 file and the sha256 of the float32 CHW bytes
                        open_clip.image_transform gives ("error" where OpenCLIP raises by
                        design, "pillow_fails" where a Pillow bug makes it raise).
Everything expected comes from open_clip.image_transform(..., is_train=False) run on the image as
PIL.Image.open reads it.
"""

import hashlib
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image, features

import gen_fixtures as gf

OUT = os.path.join(gf.FIX, "preprocess")

OPENAI = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


# ------------------------------------------------------------------------------------------------
# Synthetic content: smooth gradients, 8x8 random blocks (sharp edges), a noisy corner. Compresses
# well in PNG, yet every resampling filter tap sees varied values.
# ------------------------------------------------------------------------------------------------

def content(w, h, seed, channels=3, noise=True):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(channels):
        g = (x * (c + 1) * 255.0 / max(w - 1, 1) + y * (3 - c) * 97.0 / max(h - 1, 1)) % 256
        chans.append(g)
    img = np.stack(chans, -1)
    bw, bh = (w + 7) // 8, (h + 7) // 8
    blocks = rng.integers(0, 256, (bh, bw, channels)).repeat(8, 0).repeat(8, 1)[:h, :w]
    mask = ((np.arange(h)[:, None] // 8 + np.arange(w)[None, :] // 8) % 3 == 0)
    img = np.where(mask[..., None], blocks, img)
    if noise:
        nh, nw = max(1, h // 3), max(1, w // 3)
        img[:nh, :nw] = rng.integers(0, 256, (nh, nw, channels))
    return np.clip(img, 0, 255).astype(np.uint8)


def photo(w, h, seed):
    """Photo-like: smooth blobs plus mild sensor noise (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.4) * max(w, h)
        col = rng.uniform(0, 255, 3)
        wgt = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        img = img * (1 - wgt) + col * wgt
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# Small encoders for variants Pillow does not write
# ------------------------------------------------------------------------------------------------

def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pack_rows(a, depth):
    """a: (h, w, c) unsigned ints -> list of filter-less row bytes at `depth` bits per sample."""
    h, w, c = a.shape
    rows = []
    for r in range(h):
        v = a[r].reshape(-1)
        if depth == 16:
            rows.append(v.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(v.astype(np.uint8).tobytes())
        else:
            per = 8 // depth
            n = (len(v) + per - 1) // per * per
            vv = np.zeros(n, np.uint8)
            vv[:len(v)] = v
            vv = vv.reshape(-1, per)
            b = np.zeros(len(vv), np.uint8)
            for i in range(per):
                b |= (vv[:, i] << (8 - depth * (i + 1))).astype(np.uint8)
            rows.append(b.tobytes())
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def write_png(path, a, color_type, depth, palette=None, trns=None, interlace=False):
    """a: (h, w, channels) array of sample values (palette indices for color type 3)."""
    h, w = a.shape[:2]
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for i, row in enumerate(_pack_rows(sub, depth)):
            # alternate filter types 0 and 1 (Sub) so the decoder's unfiltering is exercised
            if i % 2:
                bpp = max(1, depth * a.shape[2] // 8)
                rb = bytearray(row)
                for k in range(len(rb) - 1, bpp - 1, -1):
                    rb[k] = (rb[k] - rb[k - bpp]) & 255
                raw += b"\x01" + bytes(rb)
            else:
                raw += b"\x00" + row
    png = b"\x89PNG\r\n\x1a\n"
    png += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if palette is not None:
        png += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        png += _chunk(b"tRNS", trns)
    png += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def write_bmp(path, w, h, bpp, pixel_rows, palette=None, top_down=False, compression=0,
              masks=None):
    """Minimal BITMAPINFOHEADER writer; pixel_rows top-to-bottom, already packed, unpadded."""
    stride = (w * bpp + 31) // 32 * 4
    rows = [r + b"\0" * (stride - len(r)) for r in pixel_rows]
    if not top_down:
        rows = rows[::-1]
    data = b"".join(rows)
    pal = b"" if palette is None else b"".join(bytes([b, g, r, 0]) for r, g, b in palette)
    extra = b"" if masks is None else struct.pack("<III", *masks)
    off = 14 + 40 + len(extra) + len(pal)
    hdr = struct.pack("<2sIHHI", b"BM", off + len(data), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, compression,
                       len(data), 2835, 2835, 0 if palette is None else len(palette), 0)
    with open(path, "wb") as f:
        f.write(hdr + info + extra + pal + data)


def rle_rows(idx, rle4, delta=False):
    """BI_RLE8 / BI_RLE4 stream for index rows (top to bottom; written bottom-up): encoded runs
    for repeats, absolute runs (even byte counts, word-aligned) otherwise, end-of-line per row,
    end-of-bitmap. With `delta`, one row starts with a delta escape."""
    out = bytearray()
    for r, row in enumerate(idx[::-1]):
        row = [int(v) for v in row]
        i = 0
        if delta and r == 2:
            out += bytes([0, 2, 5, 0, 3, 0])  # Pillow reads (5, 0), then (3, 0) as right, up
        while i < len(row):
            j = i
            while j < len(row) and row[j] == row[i] and j - i < 255:
                j += 1
            if j - i >= 3 or len(row) - i < 4:
                n = j - i if j - i >= 3 else 1
                out += bytes([n, (row[i] << 4 | row[i]) if rle4 else row[i]])
                i += n
            else:
                n = min(len(row) - i, 4 if rle4 else 5)
                n -= n % 2 if rle4 else 0
                vals = row[i:i + n]
                body = bytes((vals[k] << 4) | vals[k + 1] for k in range(0, n, 2)) if rle4 \
                    else bytes(vals)
                out += bytes([0, n]) + body + (b"\0" if len(body) % 2 else b"")
                i += n
        out += bytes([0, 0])
    return bytes(out + bytes([0, 1]))


def write_bmp_rle(path, w, h, idx, palette, rle4, delta=False):
    data = rle_rows(idx, rle4, delta)
    pal = b"".join(bytes([b, g, r, 0]) for r, g, b in palette)
    off = 14 + 40 + len(pal)
    hdr = struct.pack("<2sIHHI", b"BM", off + len(data), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 4 if rle4 else 8, 2 if rle4 else 1,
                       len(data), 2835, 2835, len(palette), 0)
    with open(path, "wb") as f:
        f.write(hdr + info + pal + data)


def _gif_lzw(indices):
    """LZW data for 8-bit indices without compression: 9-bit literal codes, a clear code before
    the table would need 10 bits (the classic "uncompressed GIF" stream)."""
    codes, run = [256], 0
    for v in indices:
        if run == 250:
            codes.append(256)
            run = 0
        codes.append(int(v))
        run += 1
    codes.append(257)
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += 9
        while nbits >= 8:
            out.append(acc & 255)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 255)
    blocks = b"".join(bytes([len(out[i:i + 255])]) + bytes(out[i:i + 255])
                      for i in range(0, len(out), 255))
    return b"\x08" + blocks + b"\x00"


def write_gif(path, screen, frame_box, idx, global_pal=None, local_pal=None, transparent=None,
              interlace=False):
    """One-frame GIF89a: `idx` (h, w) indices drawn at frame_box = (left, top)."""
    def table(pal):
        return bytes(np.asarray(pal, np.uint8).reshape(-1))

    def size_bits(pal):
        return (len(pal).bit_length() - 2) & 7  # 2^(bits+1) entries
    h, w = idx.shape
    out = b"GIF89a" + struct.pack("<HH", *screen)
    out += bytes([(0x80 | size_bits(global_pal)) if global_pal is not None else 0, 0, 0])
    if global_pal is not None:
        out += table(global_pal)
    if transparent is not None:
        out += b"\x21\xf9\x04" + bytes([1, 0, 0, transparent, 0])
    flags = (0x80 | size_bits(local_pal)) if local_pal is not None else 0
    flags |= 0x40 if interlace else 0
    out += b"\x2c" + struct.pack("<HHHH", frame_box[0], frame_box[1], w, h) + bytes([flags])
    if local_pal is not None:
        out += table(local_pal)
    rows = list(range(h))
    if interlace:
        rows = list(range(0, h, 8)) + list(range(4, h, 8)) + list(range(2, h, 4)) + \
            list(range(1, h, 2))
    out += _gif_lzw(idx[rows].reshape(-1)) + b"\x3b"
    with open(path, "wb") as f:
        f.write(out)


def write_tiff(path, a, photometric, extra=None, big_endian=False, tile=None, inkset=None):
    """Uncompressed baseline TIFF of a (h, w, spp) uint8/uint16 array: one strip, or tiles of
    `tile` x `tile` (edge tiles padded), with ExtraSamples `extra` (a tuple) when given."""
    h, w, spp = a.shape
    bo = ">" if big_endian else "<"
    bps = 16 if a.dtype == np.uint16 else 8
    arr = a.astype(bo + ("u2" if bps == 16 else "u1"))
    if tile:
        nty, ntx = (h + tile - 1) // tile, (w + tile - 1) // tile
        pad = np.zeros((nty * tile, ntx * tile, spp), arr.dtype)
        pad[:h, :w] = arr
        chunks = [pad[ty * tile:(ty + 1) * tile, tx * tile:(tx + 1) * tile].tobytes()
                  for ty in range(nty) for tx in range(ntx)]
    else:
        chunks = [arr.tobytes()]
    data = b"".join(chunks)
    offs, o = [], 8
    for c in chunks:
        offs.append(o)
        o += len(c)
    ifd_at = o + (o % 2)
    tags = [(256, 4, [w]), (257, 4, [h]), (258, 3, [bps] * spp), (259, 3, [1]),
            (262, 3, [photometric]), (277, 3, [spp])]
    if tile:
        tags += [(322, 4, [tile]), (323, 4, [tile]), (324, 4, offs),
                 (325, 4, [len(c) for c in chunks])]
    else:
        tags += [(273, 4, offs), (278, 4, [h]), (279, 4, [len(data)])]
    tags += [(284, 3, [1])]
    if inkset:
        tags += [(332, 3, [inkset])]
    if extra is not None:
        tags += [(338, 3, list(extra))]
    tags.sort()
    extra_blob, entries = b"", b""
    blob_at = ifd_at + 2 + 12 * len(tags) + 4
    for tag, typ, vals in tags:
        raw = struct.pack(bo + ("H" if typ == 3 else "I") * len(vals), *vals)
        if len(raw) <= 4:
            entries += struct.pack(bo + "HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0")
        else:
            entries += struct.pack(bo + "HHII", tag, typ, len(vals), blob_at + len(extra_blob))
            extra_blob += raw
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(bo + "I", ifd_at)
    with open(path, "wb") as f:
        f.write(head + data + b"\0" * (ifd_at - o) + struct.pack(bo + "H", len(tags)) + entries +
                struct.pack(bo + "I", 0) + extra_blob)


# ------------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------------

def make_images(d):
    """Writes the images; returns {name: filename}."""
    imgs = {}

    def pil(name, im, ext, **kw):
        fn = name + "." + ext
        im.save(os.path.join(d, fn), **kw)
        imgs[name] = fn

    def rgb(w, h, seed, **kw):
        return Image.fromarray(content(w, h, seed, **kw))

    # sizes (PNG RGB 8-bit via Pillow)
    for w, h in [(1, 1), (2, 3), (3, 2), (299, 301), (301, 303), (303, 299), (224, 224),
                 (4000, 30), (30, 4000), (61, 47), (47, 61), (64, 48)]:
        pil("rgb_%dx%d" % (w, h), rgb(w, h, w * 7 + h), "png")

    # PNG variants (own encoder): gray 1/2/4/8/16, gray+alpha 8/16, RGB 16, RGBA 8/16,
    # palette 1/2/4/8 (with and without tRNS), interlaced
    rng = np.random.default_rng(5)
    w, h = 45, 37
    gray = content(w, h, 11, channels=1)
    col = content(w, h, 12)
    alpha = np.clip(content(w, h, 13, channels=1).astype(int) * 2 - 60, 0, 255)
    for depth in (1, 2, 4, 8):
        g = gray >> (8 - depth)
        write_png(os.path.join(d, "png_g%d.png" % depth), g, 0, depth)
        imgs["png_g%d" % depth] = "png_g%d.png" % depth
    g16 = gray.astype(np.uint16) * 257 + rng.integers(0, 256, gray.shape)
    write_png(os.path.join(d, "png_g16.png"), g16 // 200, 0, 16)  # mostly < 256: I;16 clips
    imgs["png_g16"] = "png_g16.png"
    write_png(os.path.join(d, "png_g16full.png"), g16, 0, 16)
    imgs["png_g16full"] = "png_g16full.png"
    write_png(os.path.join(d, "png_ga8.png"), np.concatenate([gray, alpha], 2), 4, 8)
    imgs["png_ga8"] = "png_ga8.png"
    ga16 = np.concatenate([g16, alpha.astype(np.uint16) * 257], 2)
    write_png(os.path.join(d, "png_ga16.png"), ga16, 4, 16)
    imgs["png_ga16"] = "png_ga16.png"
    write_png(os.path.join(d, "png_rgb8_filt.png"), col, 2, 8)
    imgs["png_rgb8_filt"] = "png_rgb8_filt.png"
    c16 = col.astype(np.uint16) * 257 + rng.integers(0, 256, col.shape)
    write_png(os.path.join(d, "png_rgb16.png"), c16, 2, 16)
    imgs["png_rgb16"] = "png_rgb16.png"
    write_png(os.path.join(d, "png_rgba8.png"), np.concatenate([col, alpha], 2), 6, 8)
    imgs["png_rgba8"] = "png_rgba8.png"
    rgba16 = np.concatenate([c16, alpha.astype(np.uint16) * 257 + 3], 2)
    write_png(os.path.join(d, "png_rgba16.png"), rgba16, 6, 16)
    imgs["png_rgba16"] = "png_rgba16.png"
    write_png(os.path.join(d, "png_rgb8_interlaced.png"), col, 2, 8, interlace=True)
    imgs["png_rgb8_interlaced"] = "png_rgb8_interlaced.png"
    write_png(os.path.join(d, "png_ga8_interlaced.png"), np.concatenate([gray, alpha], 2), 4, 8,
              interlace=True)
    imgs["png_ga8_interlaced"] = "png_ga8_interlaced.png"
    for depth in (1, 2, 4, 8):
        n = 1 << depth
        pal = rng.integers(0, 256, (n, 3))
        idx = (content(w, h, 20 + depth, channels=1) >> (8 - depth))
        write_png(os.path.join(d, "png_p%d.png" % depth), idx, 3, depth, palette=pal)
        imgs["png_p%d" % depth] = "png_p%d.png" % depth
    pal = rng.integers(0, 256, (200, 3))
    idx = content(w, h, 30, channels=1) % 200
    trns = bytes(rng.integers(0, 256, 150).astype(np.uint8))
    write_png(os.path.join(d, "png_p8_trns.png"), idx, 3, 8, palette=pal, trns=trns)
    imgs["png_p8_trns"] = "png_p8_trns.png"
    write_png(os.path.join(d, "png_p4_interlaced.png"), idx % 16, 3, 4, palette=pal[:16],
              interlace=True)
    imgs["png_p4_interlaced"] = "png_p4_interlaced.png"
    write_png(os.path.join(d, "png_rgb_trns.png"), col, 2, 8, trns=struct.pack(">HHH", 1, 2, 3))
    imgs["png_rgb_trns"] = "png_rgb_trns.png"
    # Pillow-written modes
    pil("pil_L", Image.fromarray(gray[..., 0]), "png")
    pil("pil_1", Image.fromarray(gray[..., 0]).convert("1"), "png")
    pil("pil_LA", Image.fromarray(np.concatenate([gray, alpha.astype(np.uint8)], 2), "LA"),
        "png")
    pil("pil_P", rgb(53, 41, 40).quantize(37), "png")
    # palette images large enough that NEAREST's accumulated source position (Pillow adds the
    # scale step by step in double) drifts from a multiplied one
    pil("p_4000x30", rgb(4000, 30, 41, noise=False).quantize(64), "png")
    pil("p_601x589", rgb(601, 589, 42, noise=False).quantize(200), "png")

    # JPEG (Pillow's encoder; decoded by Pillow's libjpeg-turbo for the expected values)
    base = rgb(61, 47, 50)
    pil("jpg_420", base, "jpg", quality=90, subsampling="4:2:0")
    pil("jpg_422", base, "jpg", quality=90, subsampling="4:2:2")
    pil("jpg_444", base, "jpg", quality=95, subsampling="4:4:4")
    pil("jpg_progressive", base, "jpg", quality=85, progressive=True)
    pil("jpg_gray", Image.fromarray(gray[..., 0]), "jpg", quality=90)
    pil("jpg_cmyk", base.convert("CMYK"), "jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display; OpenCLIP ignores it
    pil("jpg_exif_rot6", rgb(64, 48, 51), "jpg", quality=90, exif=exif.tobytes())
    for o in (2, 3, 4, 5, 7, 8):
        exif[0x0112] = o
        pil("jpg_exif_o%d" % o, rgb(40, 24, 52), "jpg", quality=90, exif=exif.tobytes())
    pil("jpg_photo", Image.fromarray(photo(640, 480, 52)), "jpg", quality=85)
    pil("jpg_photo_prog", Image.fromarray(photo(333, 250, 53)), "jpg", quality=75,
        progressive=True, subsampling="4:2:0")
    pil("jpg_odd", Image.fromarray(photo(17, 9, 54)), "jpg", quality=80)

    # BMP
    pil("bmp_rgb", base, "bmp")
    pil("bmp_rgba", Image.fromarray(np.concatenate([col, alpha.astype(np.uint8)], 2), "RGBA"),
        "bmp")
    pil("bmp_L", Image.fromarray(gray[..., 0]), "bmp")
    pil("bmp_1", Image.fromarray(gray[..., 0]).convert("1"), "bmp")
    pil("bmp_P", rgb(53, 41, 40).quantize(37), "bmp")
    pal16 = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(16)]
    idx4 = content(w, h, 60, channels=1)[..., 0] >> 4
    rows4 = [bytes((int(r[i]) << 4) | (int(r[i + 1]) if i + 1 < w else 0) for i in range(0, w, 2))
             for r in idx4]
    write_bmp(os.path.join(d, "bmp_p4.bmp"), w, h, 4, rows4, palette=pal16)
    imgs["bmp_p4"] = "bmp_p4.bmp"
    blocky = (content(w, h, 61, channels=1, noise=False)[..., 0] // 64).astype(np.int64)
    blocky[5:9] = np.arange(w) % 7  # a few rows without repeats: absolute runs
    pal256 = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(256)]
    write_bmp_rle(os.path.join(d, "bmp_rle8.bmp"), w, h, blocky * 37 % 256, pal256, False)
    write_bmp_rle(os.path.join(d, "bmp_rle4.bmp"), w, h, blocky % 16, pal16, True)
    write_bmp_rle(os.path.join(d, "bmp_rle8_delta.bmp"), w, h, blocky * 37 % 256, pal256, False,
                  delta=True)
    write_bmp_rle(os.path.join(d, "bmp_rle8_gray.bmp"), w, h, blocky * 37 % 256,
                  [(i, i, i) for i in range(256)], False)
    for nm in ("bmp_rle8", "bmp_rle4", "bmp_rle8_delta", "bmp_rle8_gray"):
        imgs[nm] = nm + ".bmp"
    c = col.astype(np.uint32)
    p555 = ((c[..., 0] >> 3) << 10) | ((c[..., 1] >> 3) << 5) | (c[..., 2] >> 3)
    write_bmp(os.path.join(d, "bmp_555.bmp"), w, h, 16,
              [r.astype("<u2").tobytes() for r in p555], top_down=True)
    imgs["bmp_555"] = "bmp_555.bmp"
    p565 = ((c[..., 0] >> 3) << 11) | ((c[..., 1] >> 2) << 5) | (c[..., 2] >> 3)
    write_bmp(os.path.join(d, "bmp_565.bmp"), w, h, 16,
              [r.astype("<u2").tobytes() for r in p565], compression=3,
              masks=(0xF800, 0x07E0, 0x001F))
    imgs["bmp_565"] = "bmp_565.bmp"
    bgrx = np.concatenate([col[..., ::-1], np.full((h, w, 1), 7, np.uint8)], 2)
    write_bmp(os.path.join(d, "bmp_32.bmp"), w, h, 32, [r.tobytes() for r in bgrx])
    imgs["bmp_32"] = "bmp_32.bmp"

    # PPM / PGM / PBM
    pil("ppm_rgb", base, "ppm")
    pil("pgm_L", Image.fromarray(gray[..., 0]), "pgm")
    pil("pbm_1", Image.fromarray(gray[..., 0]).convert("1"), "pbm")
    small = content(7, 5, 70)
    with open(os.path.join(d, "ppm_plain.ppm"), "w") as f:
        f.write("P3\n# plain\n7 5\n255\n")
        f.write("\n".join(" ".join(str(int(v)) for v in r.reshape(-1)) for r in small) + "\n")
    imgs["ppm_plain"] = "ppm_plain.ppm"
    with open(os.path.join(d, "pgm_plain.pgm"), "w") as f:
        f.write("P2\n7 5\n255\n")
        f.write("\n".join(" ".join(str(int(v)) for v in r[:, 0]) for r in small) + "\n")
    imgs["pgm_plain"] = "pgm_plain.pgm"
    # other maxvals: scaled by round(v / maxval * 255); 16-bit colour samples big-endian
    for nm, magic, maxval, chans in (("ppm_max1000", b"P6", 1000, 3), ("ppm_max100", b"P6", 100, 3),
                                     ("pgm_max77", b"P5", 77, 1), ("ppm_max65535", b"P6", 65535, 3)):
        v = (content(w, h, 71, channels=chans).astype(np.int64) * maxval) // 255
        v[0, 0, 0] = maxval
        body = v.astype(">u2" if maxval > 255 else np.uint8).tobytes()
        with open(os.path.join(d, nm + ".ppm"), "wb") as f:
            f.write(magic + b"\n%d %d\n%d\n" % (w, h, maxval) + body)
        imgs[nm] = nm + ".ppm"
    with open(os.path.join(d, "ppm_plain_max300.ppm"), "w") as f:
        v = small.astype(np.int64) * 300 // 255
        f.write("P3\n7 5\n300\n" + "\n".join(" ".join(str(int(x)) for x in r.reshape(-1))
                                               for r in v) + "\n")
    imgs["ppm_plain_max300"] = "ppm_plain_max300.ppm"

    # GIF (first frame), WebP, TIFF
    pil("gif_P", rgb(53, 41, 40).quantize(37), "gif")
    pil("gif_L", Image.fromarray(gray[..., 0]), "gif")
    pil("gif_trns", rgb(53, 41, 40).quantize(37), "gif", transparency=3, interlace=True)
    frames = [rgb(40, 30, 80 + i).quantize(16) for i in range(3)]
    pil("gif_anim", frames[0], "gif", save_all=True, append_images=frames[1:], duration=50)
    # hand-made GIFs: a frame smaller than the screen at an offset (rest: index 0, or the
    # transparent index), a frame larger than the screen (Pillow grows the canvas), a local gray
    # ramp palette (-> "L"), an interlaced frame with a local palette
    gidx = content(20, 15, 90, channels=1)[..., 0] % 16
    gpal = rng.integers(0, 256, (16, 3))
    write_gif(os.path.join(d, "gif_offset.gif"), (40, 30), (5, 7), gidx, global_pal=gpal)
    write_gif(os.path.join(d, "gif_offset_trns.gif"), (40, 30), (5, 7), gidx, global_pal=gpal,
              transparent=3)
    write_gif(os.path.join(d, "gif_grow.gif"), (20, 20), (10, 5),
              content(25, 20, 91, channels=1)[..., 0] % 16, global_pal=gpal)
    write_gif(os.path.join(d, "gif_local_gray.gif"), (33, 21), (0, 0),
              content(33, 21, 92, channels=1)[..., 0], global_pal=gpal,
              local_pal=[(i, i, i) for i in range(256)])
    write_gif(os.path.join(d, "gif_interlaced_local.gif"), (37, 29), (0, 0),
              content(37, 29, 93, channels=1)[..., 0] % 64, local_pal=rng.integers(0, 256, (64, 3)),
              interlace=True)
    for nm in ("gif_offset", "gif_offset_trns", "gif_grow", "gif_local_gray",
               "gif_interlaced_local"):
        imgs[nm] = nm + ".gif"
    pil("webp_lossless", base, "webp", lossless=True)
    pil("webp_lossy", base, "webp", quality=80)
    pil("webp_rgba", Image.fromarray(np.concatenate([col, alpha.astype(np.uint8)], 2), "RGBA"),
        "webp", lossless=True)
    pil("webp_rgba_lossy", Image.fromarray(np.concatenate([col, alpha.astype(np.uint8)], 2),
                                           "RGBA"), "webp", quality=70)
    pil("tif_rgb", base, "tif")
    pil("tif_lzw", base, "tif", compression="tiff_lzw")
    pil("tif_deflate_rgba", Image.fromarray(np.concatenate([col, alpha.astype(np.uint8)], 2),
                                            "RGBA"), "tif", compression="tiff_adobe_deflate")
    pil("tif_L", Image.fromarray(gray[..., 0]), "tif", compression="packbits")
    pil("tif_1", Image.fromarray(gray[..., 0]).convert("1"), "tif")
    pil("tif_P", rgb(53, 41, 40).quantize(37), "tif")
    rgba8 = np.concatenate([col, alpha.astype(np.uint8)], 2)
    premul = rgba8.copy()
    premul[..., :3] = (col.astype(np.int64) * alpha // 255).astype(np.uint8)
    c16a = np.concatenate([c16, (alpha.astype(np.uint16) * 257)], 2)
    for nm, arr, ph, kw in (
            ("tif_g16", g16[..., :1].astype(np.uint16), 1, {}),
            ("tif_g16_be", g16[..., :1].astype(np.uint16), 1, dict(big_endian=True)),
            ("tif_g16_white", g16[..., :1].astype(np.uint16) // 300, 0, {}),
            ("tif_L_white", gray, 0, {}),
            ("tif_rgb16", c16.astype(np.uint16), 2, {}),
            ("tif_rgba16", c16a.astype(np.uint16), 2, dict(extra=(2,), big_endian=True)),
            ("tif_rgba_assoc", premul, 2, dict(extra=(1,))),
            ("tif_rgba_noextra", rgba8, 2, {}),
            ("tif_rgbx", rgba8, 2, dict(extra=(0,))),
            ("tif_cmyk", content(w, h, 73, channels=4), 5, dict(inkset=1)),
            ("tif_tiled", col, 2, dict(tile=16)),
            ("tif_tiled_g16", g16[..., :1].astype(np.uint16), 1, dict(tile=32))):
        write_tiff(os.path.join(d, nm + ".tif"), arr, ph, **kw)
        imgs[nm] = nm + ".tif"
    return imgs


# ------------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------------

def make_cases(imgs):
    cases = []

    def add(img, size, mode="shortest", interp="bicubic", ms=OPENAI, fill=0):
        name = "%s__%s_%s_%dx%d" % (img, mode, interp, size[0], size[1])
        if ms is not OPENAI:
            name += "_inception" if ms is INCEPTION else "_imagenet"
        if fill:
            name += "_fill%d" % fill
        cases.append(dict(name=name, image=img, size=list(size), resize_mode=mode,
                          interpolation=interp, mean=list(ms[0]), std=list(ms[1]),
                          fill_color=fill))

    full = ["rgb_1x1", "rgb_2x3", "rgb_3x2", "rgb_299x301", "rgb_301x303", "rgb_303x299",
            "rgb_4000x30", "rgb_30x4000", "rgb_61x47", "rgb_47x61", "rgb_64x48"]
    for img in full:
        for mode in ("shortest", "longest", "squash"):
            for interp in ("bicubic", "bilinear"):
                add(img, (64, 64), mode, interp)
        add(img, (48, 64), "shortest")
        add(img, (64, 40), "longest")
    for img in ("rgb_224x224", "rgb_299x301", "rgb_4000x30"):
        add(img, (224, 224))
    add("rgb_224x224", (224, 224), "squash", "bilinear", IMAGENET)
    add("rgb_303x299", (256, 256), "longest", "bicubic", INCEPTION)
    add("rgb_61x47", (64, 64), "longest", "bicubic", OPENAI, fill=128)
    add("rgb_61x47", (37, 37), "shortest", "bicubic")  # odd crop offsets (banker's rounding)
    add("rgb_61x47", (47, 47), "shortest", "bilinear")  # upscale by 1 px
    for img in sorted(imgs):
        if img.startswith("rgb_"):
            continue
        add(img, (32, 32), "shortest", "bicubic")
        add(img, (40, 40), "longest", "bilinear")
        add(img, (29, 53), "squash", "bicubic")
        add(img, (72, 72), "longest", "bicubic", fill=9)  # upscaling + padding
    for img in ("p_4000x30", "p_601x589"):
        for size in ((224, 224), (61, 61), (97, 203)):
            add(img, size, "shortest")
            add(img, size, "squash")
        add(img, (224, 224), "longest", fill=3)
    # --exif-transpose (not OpenCLIP's default): expected from ImageOps.exif_transpose
    for o in (2, 3, 4, 5, 6, 7, 8):
        img = "jpg_exif_rot6" if o == 6 else "jpg_exif_o%d" % o
        add(img, (32, 32), "squash", "bilinear")
        cases[-1]["name"] += "_exif_transpose"
        cases[-1]["exif_transpose"] = True
    add("jpg_photo", (224, 224))
    add("jpg_photo", (224, 224), "squash", "bilinear", INCEPTION)
    add("jpg_photo_prog", (224, 224))
    return cases


# (arch, tag) pairs whose preprocessing differs: OpenAI defaults, Inception stats, DFN5B / SigLIP
# squash, CLIPA bilinear + ImageNet stats at 336, MobileCLIP mean 0 / std 1 at 256
PRETRAINED = [("ViT-B-32", "openai"), ("ViT-B-32", "laion2b_s34b_b79k"),
              ("ViT-L-14", "laion2b_s32b_b82k"), ("ViT-H-14-quickgelu", "dfn5b"),
              ("ViT-SO400M-14-SigLIP", "webli"), ("ViT-B-16-SigLIP-384", "webli"),
              ("ViT-bigG-14-CLIPA-336", "datacomp1b"), ("MobileCLIP-S1", "datacompdr")]
PRETRAINED_IMAGE = "rgb_303x299"


def pretrained_cases():
    """The preprocess config create_model_and_transforms would build (factory.py: PreprocessCfg
    defaults merged with the tag's entries, size = the model's image_size), without weights."""
    import open_clip
    from dataclasses import asdict
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict
    out = []
    for arch, tag in PRETRAINED:
        cfg = merge_preprocess_dict(asdict(PreprocessCfg()), open_clip.get_pretrained_cfg(arch, tag))
        size = open_clip.get_model_config(arch)["vision_cfg"]["image_size"]
        size = list(size) if isinstance(size, (list, tuple)) else [size, size]
        out.append(dict(name="pretrained__%s__%s" % (arch, tag), arch=arch, tag=tag,
                        image=PRETRAINED_IMAGE, size=size, resize_mode=cfg["resize_mode"],
                        interpolation=cfg["interpolation"], mean=list(cfg["mean"]),
                        std=list(cfg["std"]), fill_color=cfg["fill_color"]))
    return out


KEEP_LARGE = {"rgb_224x224__shortest_bicubic_224x224", "jpg_photo__shortest_bicubic_224x224"}


def run_case(path, c):
    import open_clip
    import torch
    size = tuple(c["size"])
    tf = open_clip.image_transform(size if size[0] != size[1] else size[0], is_train=False,
                                   mean=tuple(c["mean"]), std=tuple(c["std"]),
                                   interpolation=c["interpolation"],
                                   resize_mode=c["resize_mode"], fill_color=c["fill_color"])
    from PIL import ImageOps
    img = Image.open(path)
    if c.get("exif_transpose"):
        img = ImageOps.exif_transpose(img)
    x = img
    for t in tf.transforms[:-2]:
        x = t(x)
    u8 = np.asarray(x, dtype=np.uint8)
    assert x.mode == "RGB" and u8.shape == (size[0], size[1], 3), (x.mode, u8.shape)
    with torch.no_grad():
        f = tf(img)
    assert f.dtype == torch.float32 and tuple(f.shape) == (3, size[0], size[1])
    return u8, hashlib.sha256(f.contiguous().numpy().tobytes()).hexdigest()


def generate(vers):
    gf.fresh_dir(OUT)
    for sub in ("img", "out", "dec"):
        os.makedirs(os.path.join(OUT, sub))
    imgs = make_images(os.path.join(OUT, "img"))
    images = {}
    for name, fn in sorted(imgs.items()):
        im = Image.open(os.path.join(OUT, "img", fn))
        e = dict(file="img/" + fn, mode=im.mode, width=im.width, height=im.height,
                 format=im.format)
        if im.format == "JPEG":
            im.load()
            if im.mode in ("RGB", "L"):
                dn = "dec/%s.png" % name
                im.save(os.path.join(OUT, dn))
            else:
                dn = "dec/%s.u8" % name
                with open(os.path.join(OUT, dn), "wb") as f:
                    f.write(im.tobytes())
            e["decoded"] = dn
        images[name] = e
    cases = make_cases(imgs) + pretrained_cases()
    for c in cases:
        try:
            u8, sha = run_case(os.path.join(OUT, images[c["image"]]["file"]), c)
        except ValueError as e:
            if "must be > 0" in str(e):  # a side resized to 0 px: OpenCLIP refuses, so must oclip
                c["error"] = str(e)
            else:  # a Pillow bug (e.g. "image has wrong mode" for a GIF with a local gray ramp)
                c["pillow_fails"] = str(e)
            continue
        # raw pixels for diagnostics where small; large outputs keep only the digest
        if u8.size <= 64 * 64 * 3 or c["name"] in KEEP_LARGE:
            with open(os.path.join(OUT, "out", c["name"] + ".u8"), "wb") as f:
                f.write(u8.tobytes())
            c["u8"] = "out/%s.u8" % c["name"]
        c["f32_sha256"] = sha
    v = dict(vers)
    v["pillow"] = Image.__version__
    v["pillow_libjpeg_turbo"] = features.version("libjpeg_turbo")
    v["pillow_libwebp"] = features.version("webp")
    import torchvision
    v["torchvision"] = torchvision.__version__
    gf.write_json(os.path.join(OUT, "manifest.json"),
                  {"generator": "tools/gen_fixtures.py preprocess", "versions": v,
                   "images": images, "cases": cases})
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(OUT) for f in fs)
    print("wrote %d images, %d cases to %s (%.1f MB)" % (len(images), len(cases), OUT,
                                                         total / 1e6))
