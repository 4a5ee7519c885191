"""inspect / check / convert / pull and the tables: the same reports as the oclip program's
--json, and converted files that load with the same features."""
import json
import os

import numpy as np
import pytest

import oclip
from conftest import fix


def test_inspect_and_check_match_the_cli(cli):
    for spec in (fix("e2e"), "default", fix("arch", "tiny", "b32like", "epoch_2.pt"),
                 fix("arch", "tiny", "b32like", "hf")):
        want = json.loads(cli("inspect", "--json", "--tensors", spec).stdout)
        assert oclip.inspect(spec, tensors=True) == want
        want = json.loads(cli("check", "--json", spec).stdout)
        assert oclip.check(spec) == want
    bad = fix("arch", "mismatch", "missing_layer.safetensors")
    cfg = fix("arch", "tiny", "b32like", "open_clip_config.json")
    want = json.loads(cli("check", "--json", bad, "--config", cfg, check=False).stdout)
    got = oclip.check(bad, config=cfg)
    assert got == want and got["ok"] is False


def test_inspect_fields():
    r = oclip.inspect(None)
    assert r["path"] == "default model (embedded)" and r["container"] == "safetensors"
    assert r["architecture"]["fits"] is True and r["tensors"] > 0 and "tensor_list" not in r
    r = oclip.check(fix("arch", "tiny", "b32like", "epoch_2.pt"))
    assert r["ok"] is True and r["layout"] == "open_clip" and r["issues"] == []


@pytest.mark.parametrize("to", ["open_clip", "hf"])
def test_convert_gives_the_same_features(tmp_path, to):
    src = fix("e2e")
    out = str(tmp_path / ("m.safetensors" if to == "open_clip" else "hf"))
    rep = oclip.convert(src, out, to=to)
    assert rep["ok"] is True
    a = oclip.create_model(src)
    b = oclip.create_model(out)
    img = [fix("preprocess", "img", "p_601x589.png")]
    np.testing.assert_array_equal(a.encode_image(img), b.encode_image(img))
    np.testing.assert_array_equal(a.encode_text(["a cat"]), b.encode_text(["a cat"]))


def test_convert_dtype(tmp_path):
    out = tmp_path / "m16.safetensors"
    oclip.convert(fix("e2e"), out, dtype="f16")
    assert oclip.inspect(out)["dtypes"] == {"F16": oclip.inspect(out)["tensors"]}


def test_pull_offline_without_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(oclip.NotFound):
        oclip.pull("ViT-B-32:laion2b_s34b_b79k", offline=True)
    with pytest.raises(oclip.ArgumentError):
        oclip.pull(fix("e2e"), offline=True)


def test_tables():
    pairs = oclip.list_pretrained()
    assert ("ViT-B-32", "laion2b_s34b_b79k") in pairs and ("ViT-B-32", "openai") in pairs
    assert all(isinstance(p, tuple) and len(p) == 2 for p in pairs)
    assert "ViT-B-32:openai" in oclip.list_pretrained(as_str=True)
    assert "openai" in oclip.list_pretrained_tags_by_model("ViT-B-32")
    assert "ViT-B-32" in oclip.list_models()
    assert len(oclip.OPENAI_IMAGENET_TEMPLATES) == 80 and "{}" in oclip.OPENAI_IMAGENET_TEMPLATES[0]
    assert len(oclip.IMAGENET_CLASSNAMES) == 1000 and oclip.IMAGENET_CLASSNAMES[0] == "tench"
    assert oclip.simd() in ("avx512", "avx2", "scalar")
    assert oclip.__version__.count(".") == 2
