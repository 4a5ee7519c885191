"""Models: embeddings, logits and zero-shot against OpenCLIP's values (tests/fixtures, written by
tools/gen_fixtures.py from OpenCLIP 3.3.0) and against the C library's own (the oclip program)."""
import os

import numpy as np
import pytest

import oclip
from conftest import ROOT, close, fix, load_json, read_safetensors

E2E = load_json("e2e", "expected.json")
E2E_IMAGES = [os.path.join(ROOT, p) for p in E2E["images"]]


@pytest.fixture(scope="module")
def e2e():
    model, train, pre = oclip.create_model_and_transforms(fix("e2e"))
    assert train is None
    return model, pre


def test_e2e_image_features_from_files(e2e):
    model, _ = e2e
    close(model.encode_image(E2E_IMAGES, normalize=True), E2E["image_embeddings"], 1e-4)


def test_e2e_image_features_from_preprocessed_pixels(e2e):
    model, pre = e2e
    px = np.stack([pre(p) for p in E2E_IMAGES])
    assert px.dtype == np.float32 and px.shape == (3, 3) + model.image_size
    close(model.encode_image(px, normalize=True), E2E["image_embeddings"], 1e-4)
    # a float64 or non-contiguous array is converted, with the same result
    f64 = model.encode_image(px.astype(np.float64), normalize=True)
    nc = np.asfortranarray(px)
    assert not nc.flags.c_contiguous
    np.testing.assert_array_equal(f64, model.encode_image(px, normalize=True))
    np.testing.assert_array_equal(model.encode_image(nc, normalize=True), f64)


def test_e2e_text_features(e2e):
    model, _ = e2e
    tok = oclip.get_tokenizer(fix("e2e"))
    assert tok.context_length == model.context_length
    ids = tok(E2E["prompts"])
    np.testing.assert_array_equal(ids, np.array(E2E["tokens"], np.int64))
    close(model.encode_text(ids, normalize=True), E2E["text_embeddings"], 1e-4)
    close(model.encode_text(E2E["prompts"], normalize=True), E2E["text_embeddings"], 1e-4)


def test_e2e_logits_and_forward(e2e):
    model, _ = e2e
    per_image, per_text = model.get_logits(E2E_IMAGES, E2E["prompts"])
    want = np.array(E2E["logits"])
    assert np.max(np.abs(per_image - want) / np.maximum(1, np.abs(want))) <= 1e-4
    np.testing.assert_array_equal(per_text, per_image.T)
    i, t, scale = model(E2E_IMAGES, E2E["prompts"])
    np.testing.assert_allclose(scale * i @ t.T, want, rtol=1e-4, atol=1e-4)
    assert model.logit_bias is None
    assert scale == pytest.approx(np.exp(model.logit_scale))


def test_e2e_normalize_keyword(e2e):
    model, _ = e2e
    raw = model.encode_image(E2E_IMAGES)
    norm = model.encode_image(E2E_IMAGES, normalize=True)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1, atol=1e-3)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), norm, atol=1e-6)


def test_e2e_zero_shot(e2e):
    model, _ = e2e
    zs = E2E["zero_shot"]
    tok = oclip.get_tokenizer(fix("e2e"))
    templates = oclip.SIMPLE_IMAGENET_TEMPLATES
    assert zs["templates"] == "simple" and len(templates) == 7
    w = oclip.build_zero_shot_classifier(model, tok, zs["labels"], templates)
    assert w.shape == (model.embed_dim, len(zs["labels"]))  # OpenCLIP's [E, classes]
    close(w.T, zs["classifier"], 1e-4)
    # templates as callables (OpenCLIP's lambdas): computed in Python, the same values
    lam = [lambda c, t=t: t.format(c) for t in templates]
    close(oclip.build_zero_shot_classifier(model, tok, zs["labels"], lam).T, zs["classifier"], 1e-4)
    probs = model.classify(E2E_IMAGES, zs["labels"], templates="simple")
    assert np.max(np.abs(probs - np.array(zs["probs"]))) <= 1e-4


@pytest.mark.parametrize("variant", ["gelu", "quickgelu_ls", "clipa_like"])
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_engine_fixtures(variant, dtype):
    """tests/fixtures/engine: tiny models in each stored dtype, OpenCLIP's features computed in
    fp32 on the same (upcast) weights (tools/fixtures_engine.py)."""
    d = fix("engine", variant, dtype)
    if not os.path.isdir(d):
        pytest.skip("no fixture %s" % d)
    exp = read_safetensors(os.path.join(d, "expected.safetensors"))
    model = oclip.create_model(d)
    close(model.encode_image(exp["pixels"]), exp["img_proj"], 1e-4)
    close(model.encode_text(exp["tokens"]), exp["txt_proj"], 1e-4)
    if "logits" in exp:
        lg = model.logits(exp["img_proj"], exp["txt_proj"])
        assert np.max(np.abs(lg - exp["logits"]) / np.maximum(1, np.abs(exp["logits"]))) <= 1e-4


def test_default_model_heldout_probabilities():
    """The embedded default model classifies tests/fixtures/default/heldout as OpenCLIP did
    (tools/eval_default.py: OpenCLIP's 80 ImageNet templates): top-1 and probabilities."""
    exp = load_json("default", "expected.json")
    model, _, pre = oclip.create_model_and_transforms(None)
    assert oclip.create_model("default").fingerprint() == model.fingerprint()
    files = [os.path.join(ROOT, im["file"]) for im in exp["images"]]
    probs = model.classify(files, exp["labels"])  # templates: 'imagenet' by default
    want = np.array([im["probs"] for im in exp["images"]])
    assert probs.shape == want.shape
    assert np.max(np.abs(probs - want)) <= 1e-4
    np.testing.assert_array_equal(probs.argmax(1), [im["top1"] for im in exp["images"]])
    assert float(np.exp(model.logit_scale)) == pytest.approx(exp["logit_scale_exp"], rel=1e-6)
    # the OpenCLIP way: tokenizer + classifier + softmax, the same numbers
    tok = oclip.get_tokenizer()
    w = oclip.build_zero_shot_classifier(model, tok, exp["labels"], oclip.OPENAI_IMAGENET_TEMPLATES)
    img = model.encode_image(pre.batch(files[:8]), normalize=True)
    logits = np.exp(model.logit_scale) * img @ w
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.max(np.abs(p - want[:8])) <= 1e-4


def test_features_equal_the_c_library(cli, tmp_path, e2e):
    """The same features as the oclip program (liboclip built by make), within 1e-5."""
    model, _ = e2e
    out = str(tmp_path / "img.npy")
    cli("embed-image", "-m", fix("e2e"), *E2E_IMAGES, "-o", out)
    d = np.abs(model.encode_image(E2E_IMAGES, normalize=True) - np.load(out)).max()
    assert d <= 1e-5
    out = str(tmp_path / "txt.npy")
    cli("embed-text", "-m", fix("e2e"), *E2E["prompts"][:3], "-o", out)
    d = np.abs(model.encode_text(E2E["prompts"][:3], normalize=True) - np.load(out)).max()
    assert d <= 1e-5
    heldout = sorted(os.listdir(fix("default", "heldout")))[:6]
    files = [fix("default", "heldout", f) for f in heldout]
    out = str(tmp_path / "def.npy")
    cli("embed-image", *files, "-o", out)
    d = np.abs(oclip.create_model().encode_image(files, normalize=True) - np.load(out)).max()
    assert d <= 1e-5


def test_pil_images_give_the_file_features(e2e):
    Image = pytest.importorskip("PIL.Image")
    model, pre = e2e
    png = [p for p in E2E_IMAGES if p.endswith(".png")]
    pil = [Image.open(p) for p in png]
    np.testing.assert_array_equal(model.encode_image(pil), model.encode_image(png))
    np.testing.assert_array_equal(pre(pil[0]), pre(png[0]))
    with open(png[0], "rb") as f:  # the bytes of a file
        np.testing.assert_array_equal(pre(f.read()), pre(png[0]))


def test_model_attributes(e2e):
    model, pre = e2e
    assert model.embed_dim == len(E2E["image_embeddings"][0])
    assert model.context_length == len(E2E["tokens"][0])
    assert model.threads >= 1
    assert isinstance(model.config, dict) and "vision_cfg" in model.config
    assert model.eval() is model and model.to("cpu") is model
    assert pre.size == model.image_size
    assert len(model.fingerprint()) == 32
    m2 = oclip.create_model(fix("e2e"), threads=1, quick_gelu=True)
    assert m2.threads == 1 and m2.fingerprint() != model.fingerprint()
