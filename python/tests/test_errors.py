"""Errors: every failure of the library is an oclip.Error subclass with its message and hint;
bad input never crashes the interpreter."""
import os

import numpy as np
import pytest

import oclip
from conftest import fix, load_json

CLASSES = {"unsafe": oclip.Unsafe, "format": oclip.FormatError, "unsupported": oclip.Unsupported,
           "any-error": oclip.Error}


def test_hierarchy():
    for c in (oclip.FileError, oclip.FormatError, oclip.Mismatch, oclip.Unsupported, oclip.Unsafe,
              oclip.Limit, oclip.ArgumentError, oclip.NotFound):
        assert issubclass(c, oclip.Error)
    assert issubclass(oclip.Mismatch, oclip.FormatError)
    assert issubclass(oclip.NotFound, LookupError) and issubclass(oclip.ArgumentError, ValueError)


@pytest.mark.parametrize("entry", load_json("hostile", "manifest.json")["files"],
                         ids=lambda e: e["path"])
def test_hostile_checkpoints_are_refused(entry):
    """tests/fixtures/hostile: every file refused with the class the manifest states."""
    path = fix("hostile", entry["path"])
    with pytest.raises(CLASSES[entry["expect"]]) as ei:
        oclip.create_model(path, download=False)
    assert ei.value.message and os.path.basename(path) in ei.value.message
    with pytest.raises(CLASSES[entry["expect"]]):
        oclip.inspect(path, download=False)


@pytest.mark.parametrize("name", sorted(os.listdir(fix("notckpt"))))
def test_files_that_are_no_checkpoint(name):
    with pytest.raises(oclip.Error) as ei:
        oclip.create_model(fix("notckpt", name), download=False)
    assert name in str(ei.value)


def test_missing_file_names_the_file():
    with pytest.raises(oclip.FileError) as ei:
        oclip.create_model("/no/such/model.safetensors")
    assert "/no/such/model.safetensors" in ei.value.message
    model = oclip.create_model()
    with pytest.raises(oclip.FileError, match="no-such-image.png"):
        model.encode_image([fix("e2e", "no-such-image.png")])


def test_weights_not_in_cache_have_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(oclip.NotFound) as ei:
        oclip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k",
                                          download=False)
    assert ei.value.hint and "oclip pull ViT-B-32:laion2b_s34b_b79k" in ei.value.hint
    assert str(ei.value) == ei.value.message + "\nhint: " + ei.value.hint
    with pytest.raises(oclip.NotFound):
        oclip.create_model("ViT-B-32:no_such_tag", download=False)


def test_checkpoint_that_does_not_fit_is_a_mismatch(tmp_path):
    path = fix("arch", "mismatch", "missing_layer.safetensors")
    cfg = fix("arch", "tiny", "b32like", "open_clip_config.json")
    with pytest.raises(oclip.Mismatch) as ei:
        oclip.create_model(path, config=cfg, download=False)
    assert "does not fit" in ei.value.message and "missing_layer" in ei.value.message
    assert ei.value.status == 8
    assert ei.value.hint
    rep = oclip.check(path, config=cfg)
    assert rep["ok"] is False and any(i["kind"] == "missing" for i in rep["issues"])
    out = tmp_path / "never-written.safetensors"
    with pytest.raises(oclip.Mismatch):
        oclip.convert(path, out, config=cfg)
    assert not out.exists()


def test_corrupt_image_bytes():
    model = oclip.create_model()
    with pytest.raises(oclip.Error) as ei:
        model.encode_image([b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
    assert isinstance(ei.value, (oclip.FormatError, oclip.Unsupported))
    with pytest.raises(oclip.Error):
        model.encode_image([b"not an image at all"])
    with pytest.raises(TypeError):
        model.encode_image([12345])


def test_bad_arrays():
    model = oclip.create_model()
    h, w = model.image_size
    with pytest.raises(ValueError, match="expected shape"):
        model.encode_image(np.zeros((2, 3, h + 1, w), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        model.encode_image(np.zeros((3, h, w), np.float32))
    with pytest.raises(ValueError, match="expected shape"):
        model.encode_text(np.zeros((1, model.context_length + 1), np.int64))
    bad = np.zeros((1, model.context_length), np.int64)
    bad[0, 0] = 10 ** 9
    with pytest.raises(oclip.ArgumentError):
        model.encode_text(bad)
    with pytest.raises(ValueError):
        oclip.create_model(threads=-1)
    with pytest.raises(ValueError):
        oclip.create_model(dtype="f8")
    with pytest.raises((TypeError, ValueError)):
        model.encode_text([b"bytes"])
    assert model.encode_image(np.zeros((0, 3, h, w), np.float32)).shape == (0, model.embed_dim)


def test_bad_specs_and_arguments():
    with pytest.raises(oclip.ArgumentError):
        oclip.create_model("hf-hub:../etc", download=False)
    with pytest.raises(oclip.Error):
        oclip.create_model("ViT-B-32", download=False)  # an architecture without weights
    with pytest.raises(oclip.Unsupported):
        oclip.create_model_and_transforms(None, device="cuda")
    with pytest.raises(oclip.Unsupported):
        oclip.create_model_and_transforms(None, precision="fp16")
    with pytest.raises(TypeError):
        oclip.create_model_and_transforms(None, no_such_option=1)
    with pytest.raises(oclip.FileError, match="no-such-arch"):  # neither file nor name
        oclip.get_tokenizer("no-such-arch")
    with pytest.raises(oclip.NotFound):
        oclip.create_model().classify([fix("default", "heldout", "000_blue_circle.png")], ["a"],
                                      templates="no-such-set")


def test_huge_raw_image_is_a_limit():
    with pytest.raises(oclip.Limit):
        oclip.Transform(64, max_pixels=100)(np.zeros((20, 20, 3), np.uint8))


def test_every_status_has_its_documented_class():
    """One class per oclip_status of this build (include/oclip.h), exported, documented with
    the status's name, raised with its message and status."""
    names = oclip._oclip._statuses()  # oclip_status_str of 0 .. the last status
    from oclip._errors import BY_STATUS
    assert len(BY_STATUS) == len(names) == 9
    assert "unknown" not in " ".join(names)
    for code, cls in enumerate(BY_STATUS):
        assert cls.__name__ in oclip.__all__ and getattr(oclip, cls.__name__) is cls
        assert cls.__doc__ and cls.__module__ == "oclip"
        if code == 0:
            continue
        assert cls.status == code and "OCLIP_E_" in cls.__doc__
        with pytest.raises(oclip.Error) as ei:
            oclip._oclip._raise(code, "what failed\nhint: what to do")
        assert type(ei.value) is cls and ei.value.status == code
        assert ei.value.message == "what failed" and ei.value.hint == "what to do"
    with pytest.raises(oclip.Error) as ei:  # a status this table lacks: the base class
        oclip._oclip._raise(99, "later")
    assert type(ei.value) is oclip.Error and ei.value.status == 99


def test_mismatch_is_its_status_not_a_message():
    """Mismatch comes from OCLIP_E_MISMATCH alone: a format error whose message happens to say
    "does not fit" (e.g. a tokenizer.json table) stays a FormatError."""
    with pytest.raises(oclip.FormatError) as ei:
        oclip._oclip._raise(2, "tokenizer.json: a trie of 9 bytes does not fit in its 4 bytes")
    assert type(ei.value) is oclip.FormatError
    assert oclip.Mismatch.status == 8
