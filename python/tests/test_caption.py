"""CoCa captions: Model.caption / caption_ids / can_caption and oclip.decode against OpenCLIP
3.3.0's model.generate(image, **kwargs) ids and open_clip.decode texts for the tiny CoCa of
tests/fixtures/coca/b32_tiny (written by tools/fixtures_coca.py): three images under three
option sets (defaults; repetition_penalty 1.5 + seq_len 12; 4 beams in 1 group, min_seq_len 8,
seq_len 16)."""
import os
import pathlib
import threading
import time

import numpy as np
import pytest

import oclip
from conftest import ROOT, fix, load_json

COCA = fix("coca", "b32_tiny")
GEN = load_json("coca", "b32_tiny", "expected.json")["generate"]
CASES = sorted(GEN)  # gen_KIND_I


def image_path(case):
    return os.path.join(ROOT, GEN[case]["image"])


@pytest.fixture(scope="module")
def coca():
    model, _, pre = oclip.create_model_and_transforms(COCA, threads=2)
    return model, pre


def test_fixture_covers_several_option_sets():
    kinds = {c.split("_")[1] for c in CASES}
    assert kinds == {"default", "rep", "b4"} and len(CASES) == 9
    assert GEN["gen_default_0"]["kwargs"] == {}


@pytest.mark.parametrize("case", CASES)
def test_caption_ids_and_text_equal_openclip(coca, case):
    model, _ = coca
    want = GEN[case]
    kw = want["kwargs"]  # generate()'s keywords, forwarded as they are
    assert model.caption_ids(image_path(case), **kw) == want["ids"]
    assert model.caption(image_path(case), **kw) == want["text"]


def test_options_change_the_ids(coca):
    """the option sets of the fixture give other ids for the same image: each is forwarded"""
    model, _ = coca
    p = image_path("gen_default_0")
    got = {k: model.caption_ids(p, **GEN["gen_%s_0" % k]["kwargs"]) for k in ("default", "rep", "b4")}
    assert len({tuple(v) for v in got.values()}) == 3
    for k, v in got.items():
        assert v == GEN["gen_%s_0" % k]["ids"]


def test_image_forms(coca):
    """a path (str or PathLike), the file's bytes, preprocessed pixels [3, H, W] or
    [1, 3, H, W] (float32 or converted), a PIL image and a uint8 array: the same caption"""
    model, pre = coca
    case = "gen_default_1"
    p, want = image_path(case), GEN[case]["ids"]
    assert model.caption_ids(pathlib.Path(p)) == want
    with open(p, "rb") as f:
        data = f.read()
    assert model.caption_ids(data) == want
    assert model.caption_ids(bytearray(data)) == want
    px = pre(p)
    assert px.shape == (3,) + model.image_size
    assert model.caption_ids(px) == want
    assert model.caption_ids(px[None]) == want
    assert model.caption_ids(px.astype(np.float64)) == want
    Image = pytest.importorskip("PIL.Image")
    with Image.open(p) as im:
        im.load()
        assert model.caption_ids(im) == want
        assert model.caption_ids(np.asarray(im.convert("RGB"))) == want


def test_min_seq_len_zero_is_one(coca):
    """generate() counts start-of-text as the first id: min_seq_len 0 and 1 forbid nothing"""
    model, _ = coca
    p = image_path("gen_default_0")
    assert model.caption_ids(p, min_seq_len=0) == model.caption_ids(p, min_seq_len=1)


def test_decode_equals_openclip():
    for case in CASES:
        ids, text = GEN[case]["ids"], GEN[case]["text"]
        assert oclip.decode(ids, caption=True) == text
        assert oclip.decode(np.array(ids, np.int64), caption=True) == text
        assert oclip.decode(np.array(ids, np.int32), caption=True) == text
        # the whole decode keeps the special tokens (open_clip.decode(ids) itself)
        full = "<start_of_text>" + text + ("<end_of_text>" if ids[-1] == 49407 else "")
        assert oclip.decode(ids) == full
    assert oclip.decode([]) == ""
    ids = GEN["gen_default_0"]["ids"]
    assert oclip.decode(ids + [320, 49407], caption=True) == GEN["gen_default_0"]["text"]


def test_decode_errors():
    with pytest.raises(oclip.ArgumentError) as e:
        oclip.decode([49406, 49408])
    assert "49408" in e.value.message
    with pytest.raises(oclip.ArgumentError):
        oclip.decode([-1])
    with pytest.raises(ValueError):
        oclip.decode([[49406, 49407]])
    with pytest.raises(TypeError):
        oclip.decode([1.5, 2.0])


def test_can_caption_and_a_clip_refused(coca):
    model, _ = coca
    assert model.can_caption is True
    clip = oclip.create_model(None)
    assert clip.can_caption is False
    for call in (clip.caption, clip.caption_ids):
        with pytest.raises(oclip.Unsupported) as e:
            call(image_path("gen_default_0"))
        assert "no text decoder" in e.value.message and "coca" in e.value.hint.lower()


def test_option_errors(coca):
    model, _ = coca
    p = image_path("gen_default_0")
    for kw in ({"num_beams": 1}, {"num_beams": 4},  # 4 beams do not split into 3 groups
               {"num_beam_groups": 0}, {"seq_len": 200},  # past the decoder's context
               {"seq_len": 5},  # not above min_seq_len 5 (coca_model.py asserts it)
               {"min_seq_len": -1}, {"repetition_penalty": 0.0},
               {"repetition_penalty": float("nan")}):
        with pytest.raises(oclip.ArgumentError):
            model.caption_ids(p, **kw)
    with pytest.raises(TypeError):
        model.caption_ids(p, num_beams=True)
    with pytest.raises(TypeError):
        model.caption_ids(p, seq_len=12.5)
    with pytest.raises(TypeError):
        model.caption_ids(p, 6)  # the options are keywords
    with pytest.raises(TypeError):
        model.caption([p, p])  # one image per call
    with pytest.raises(ValueError):
        model.caption_ids(np.zeros((3, 8, 8), np.float32))  # not the model's image size
    with pytest.raises(oclip.FileError):
        model.caption_ids(os.path.join(ROOT, "no-such-image.png"))
    with pytest.raises(oclip.Unsupported):  # no image format's signature
        model.caption_ids(b"not an image")
    with open(image_path("gen_default_0"), "rb") as f:
        with pytest.raises(oclip.FormatError):  # a PNG cut short
            model.caption_ids(f.read()[:200])


def test_threads_share_the_model_and_the_gil_is_released(coca):
    """captions from several threads equal the sequential ones; while one captions, another
    Python thread runs (the GIL is released for the decode, the preprocessing and the beam
    search)"""
    model, _ = coca
    results, errors = [], []

    def work(k):
        try:
            for i in range(3):
                case = CASES[(k + 2 * i) % len(CASES)]
                results.append((case, model.caption_ids(image_path(case), **GEN[case]["kwargs"])))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors
    assert len(results) == 12
    for case, ids in results:
        assert ids == GEN[case]["ids"], case

    one = oclip.create_model(COCA, threads=1)
    p = image_path("gen_default_2")  # the longest: 30 ids, 6 beams
    one.caption_ids(p)  # packs the weights first
    took, done = [], threading.Event()

    def caption():
        t0 = time.perf_counter()
        one.caption_ids(p)
        took.append((t0, time.perf_counter()))
        done.set()

    # the main thread notes the time as often as it runs; with the GIL held during the beam
    # search it would stop for the whole search (a gap of nearly the call's time), released
    # it stops at most for the interpreter's switch interval (5 ms) and the OS's scheduling
    stamps = []
    th = threading.Thread(target=caption)
    th.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    th.join()
    t0, t1 = took[0]
    gap = float(np.max(np.diff([t0] + [t for t in stamps if t0 < t < t1] + [t1])))
    assert t1 - t0 > 0.02
    assert gap < (t1 - t0) / 2, "the main thread stopped %.3f s of the call's %.3f s" % (gap, t1 - t0)
