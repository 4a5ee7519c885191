"""Preprocessing against OpenCLIP's transform (tests/fixtures/preprocess/manifest.json: for each
case the SHA-256 of the float32 [3, H, W] tensor open_clip.image_transform gave, and the RGB
image ToTensor received)."""
import hashlib
import os

import numpy as np
import pytest

import oclip
from conftest import fix, load_json

MAN = load_json("preprocess", "manifest.json")
CASES = MAN["cases"]


def transform(case):
    return oclip.Transform(tuple(case["size"]), mean=case["mean"], std=case["std"],
                           resize_mode=case["resize_mode"], interpolation=case["interpolation"],
                           fill_color=case["fill_color"],
                           exif_transpose=case.get("exif_transpose", False))


def image_path(case):
    return fix("preprocess", MAN["images"][case["image"]]["file"])


def test_every_case_is_bit_exact():
    """Every case of the manifest: the bytes of OpenCLIP's float32 output."""
    assert len(CASES) > 100
    bad, refused = [], 0
    for case in CASES:
        if "pillow_fails" in case:
            continue  # Pillow itself could not run OpenCLIP's transform: no reference
        if "error" in case:  # OpenCLIP refuses it (a side resized to 0 pixels): so does oclip
            with pytest.raises(oclip.ArgumentError, match="OpenCLIP fails too"):
                transform(case)(image_path(case))
            refused += 1
            continue
        out = transform(case)(image_path(case))
        assert out.dtype == np.float32 and out.shape == (3,) + tuple(case["size"])
        if hashlib.sha256(out.tobytes()).hexdigest() != case["f32_sha256"]:
            bad.append(case["name"])
    assert not bad, "%d cases differ from OpenCLIP: %s" % (len(bad), bad[:10])
    assert refused > 0


def test_pil_images_are_bit_exact():
    """PIL images (decoded by Pillow) in every mode the cases use give OpenCLIP's bytes too."""
    Image = pytest.importorskip("PIL.Image")
    n, bad, modes = 0, [], set()
    for case in CASES:
        if "f32_sha256" not in case or case.get("exif_transpose"):
            continue
        if MAN["images"][case["image"]].get("format") not in ("PNG", "BMP", "GIF", "PPM"):
            continue  # JPEG/WebP/TIFF pixels depend on the codec library's version
        if "_rle" in case["image"]:
            continue  # Pillow 13 decodes RLE BMP deltas otherwise than Pillow 12 (the fixtures')
        with Image.open(image_path(case)) as im:
            im.load()
            out = transform(case)(im)
            modes.add(im.mode)
        n += 1
        if hashlib.sha256(out.tobytes()).hexdigest() != case["f32_sha256"]:
            bad.append(case["name"])
    assert n > 50 and {"P", "L", "RGB", "RGBA"} <= modes, (n, modes)
    assert not bad, "%d PIL cases differ from OpenCLIP: %s" % (len(bad), bad[:10])


def test_model_preprocess_is_the_models_transform():
    model, _, pre = oclip.create_model_and_transforms(None)
    assert pre.size == model.image_size == (64, 64)
    case = next(c for c in CASES if c["name"] == "rgb_2x3__shortest_bicubic_64x64")
    out = pre(image_path(case))
    assert hashlib.sha256(out.tobytes()).hexdigest() == case["f32_sha256"]
    batch = pre.batch([image_path(case)] * 2)
    assert batch.shape == (2, 3, 64, 64)
    np.testing.assert_array_equal(batch[1], out)


def test_uint8_arrays_are_rgb_images():
    case = next(c for c in CASES if c["name"] == "rgb_2x3__shortest_bicubic_64x64")
    Image = pytest.importorskip("PIL.Image")
    with Image.open(image_path(case)) as im:
        arr = np.asarray(im.convert("RGB"))
    t = transform(case)
    assert hashlib.sha256(t(arr).tobytes()).hexdigest() == case["f32_sha256"]


def test_image_transform_arguments():
    with pytest.raises(oclip.Unsupported):
        oclip.image_transform(224, is_train=True)
    with pytest.raises(oclip.Unsupported):
        oclip.image_transform(224, interpolation="lanczos")
    t = oclip.image_transform(224)
    assert t.size == (224, 224) and t.resize_mode == "shortest"
