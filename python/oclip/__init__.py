"""oclip: OpenCLIP in C, from Python.

The calls mirror OpenCLIP's (open_clip 3.3.0) and compute what it computes, on the CPU, with
NumPy arrays in and out::

    import oclip
    model, _, preprocess = oclip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
    tokenizer = oclip.get_tokenizer("ViT-B-32")
    image = preprocess(PIL.Image.open("cat.jpg"))[None]          # float32 [1, 3, 224, 224]
    probs = model.classify(["cat.jpg"], ["cat", "dog"])         # or the OpenCLIP way:
    img = model.encode_image(image, normalize=True)
    txt = model.encode_text(tokenizer(["a cat", "a dog"]), normalize=True)
    probs = softmax(np.exp(model.logit_scale) * img @ txt.T)

Model specs are those of the oclip program's -m: None or "default" (the small model embedded in
the library), a checkpoint file, a folder, "hf-hub:ORG/NAME", "ARCH:TAG" (OpenCLIP's pretrained
table), downloaded into the Hugging Face cache when missing (download=False: never).

A CoCa model also captions: ``model.caption("cat.jpg")`` (OpenCLIP's model.generate(image) and
decode, beam search with its defaults); ``oclip.decode(ids)`` is open_clip.decode.

Every failure of the library raises an oclip.Error subclass (FileError, FormatError, Mismatch,
Unsupported, Unsafe, Limit, ArgumentError, NotFound) with ``message`` and ``hint``. The
computations release the GIL, and one model may be used by several threads at once
(model.set_threads(n) changes its thread count, also meanwhile).
"""
import json as _json
import operator as _operator
import os as _os

import numpy as _np

from . import _oclip
from ._errors import (ArgumentError, BY_STATUS as _BY_STATUS, Error, FileError, FormatError,
                      Limit, Mismatch, NotFound, Unsafe, Unsupported)

_oclip._set_errors(_BY_STATUS)

__version__ = _oclip.__version__

__all__ = [
    "Error", "FileError", "FormatError", "Mismatch", "Unsupported", "Unsafe", "Limit",
    "ArgumentError", "NotFound",
    "CLIP", "Tokenizer", "Transform",
    "create_model_and_transforms", "create_model_from_pretrained", "create_model",
    "get_tokenizer", "image_transform", "list_pretrained", "list_models",
    "list_pretrained_tags_by_model", "list_pretrained_models_by_tag",
    "build_zero_shot_classifier", "inspect", "check", "convert", "pull", "simd", "decode",
    "OPENAI_IMAGENET_TEMPLATES", "SIMPLE_IMAGENET_TEMPLATES", "IMAGENET_CLASSNAMES",
]

# Pillow's mode names -> oclip_image_mode (include/oclip.h)
_MODES = {"1": 0, "L": 1, "P": 2, "I;16": 3, "LA": 4, "RGB": 5, "RGBA": 6, "CMYK": 7, "I;16B": 8}
_CLEAN = {"lower": 0, "whitespace": 1, "canonicalize": 2}


def _fetch(download):
    if download in (True, "missing"):
        return 1
    if download in (False, None, "never"):
        return 0
    if download == "always":
        return 2
    raise ValueError("download: True, False or 'always', not %r" % (download,))


def _quick(q):
    return 0 if q is None else 1 if q else 2


def _spec(x):
    if x is None:
        return None
    if isinstance(x, _os.PathLike):
        return _os.fsdecode(x)
    if not isinstance(x, str):
        raise TypeError("a model spec is a str or a path, not %s" % type(x).__name__)
    return x


def _is_pil(x):
    return hasattr(x, "mode") and hasattr(x, "tobytes") and hasattr(x, "size") and \
        hasattr(x, "convert")


def _image_tuple(x):
    """One image as the binding takes it: a path, the bytes of an image file, or raw pixels."""
    if isinstance(x, (str, _os.PathLike)):
        return ("path", _os.fsencode(x))
    if isinstance(x, (bytes, bytearray, memoryview)):
        return ("data", bytes(x))
    if _is_pil(x):
        w, h = x.size
        mode = x.mode
        if mode == "1":  # Pillow stores bilevel pixels as 0 / 255 bytes, as oclip does
            return ("raw", w, h, 0, x.convert("L").tobytes(), None)
        if mode in _MODES:
            pal = None
            if mode == "P":
                p = bytes(x.getpalette() or [])[:768]
                pal = p + bytes(768 - len(p))  # entries the image leaves unset are black
            return ("raw", w, h, _MODES[mode], x.tobytes(), pal)
        # other modes (I, F, RGBX, YCbCr, PA ...): OpenCLIP resizes them in their own mode,
        # oclip after a conversion to RGB (results may differ slightly)
        return ("raw", w, h, 5, x.convert("RGB").tobytes(), None)
    if isinstance(x, _np.ndarray) and x.dtype == _np.uint8:
        a = _np.ascontiguousarray(x)
        if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
            return ("raw", a.shape[1], a.shape[0], 1, a.tobytes(), None)
        if a.ndim == 3 and a.shape[2] in (3, 4):
            return ("raw", a.shape[1], a.shape[0], 5 if a.shape[2] == 3 else 6, a.tobytes(), None)
        raise ValueError("a uint8 image array is [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], "
                         "not %s" % (list(a.shape),))
    raise TypeError("an image is a path, the bytes of an image file, a PIL image or a uint8 "
                    "[H, W, C] array, not %s" % type(x).__name__)


def _image_list(images):
    if isinstance(images, (str, _os.PathLike, bytes, bytearray, memoryview, _np.ndarray)) or \
            _is_pil(images):
        images = [images]
    return [_image_tuple(x) for x in images]


# ---------------------------------------------------------------------------------------------
# Preprocessing
class Transform:
    """OpenCLIP's inference transform (open_clip.image_transform(is_train=False)): resize,
    center crop (or pad), convert to RGB, ToTensor, Normalize -- bit-exact with Pillow 12 and
    torchvision 0.24. ``transform(image)`` gives a float32 [3, H, W] array, ``transform.batch(
    images)`` [N, 3, H, W]. An image is a path, the bytes of an image file, a PIL image or a
    uint8 [H, W, C] array."""

    def __init__(self, size, mean=(0.48145466, 0.4578275, 0.40821073),
                 std=(0.26862954, 0.26130258, 0.27577711), interpolation="bicubic",
                 resize_mode="shortest", fill_color=0, max_pixels=0, exif_transpose=False):
        """size: an int or (H, W); mean, std: per channel (OpenAI's by default);
        interpolation 'bicubic' or 'bilinear'; resize_mode 'shortest' (resize + center crop),
        'longest' (resize + pad with fill_color) or 'squash'; max_pixels: the largest image
        decoded (0: the library's limit); exif_transpose: apply the EXIF orientation first."""
        if isinstance(size, int):
            size = (size, size)
        self.size = (int(size[0]), int(size[1]))
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std: three values each")
        if interpolation not in ("bicubic", "bilinear"):
            raise Unsupported("interpolation %r: oclip computes 'bicubic' and 'bilinear'"
                              % (interpolation,))
        if resize_mode not in ("shortest", "longest", "squash"):
            raise Unsupported("resize_mode %r: expected 'shortest', 'longest' or 'squash'"
                              % (resize_mode,))
        self.interpolation = interpolation
        self.resize_mode = resize_mode
        self.fill_color = int(fill_color)
        self.max_pixels = int(max_pixels)
        self.exif_transpose = bool(exif_transpose)

    def _cfg(self):
        return (self.size[0], self.size[1], self.mean, self.std, self.interpolation,
                self.resize_mode, self.fill_color, self.max_pixels)

    def batch(self, images):
        """The transform of each image: float32 [N, 3, H, W]."""
        items = _image_list(images)
        out = _np.empty((len(items), 3, self.size[0], self.size[1]), _np.float32)
        _oclip.preprocess(items, self._cfg(), out, self.exif_transpose)
        return out

    def __call__(self, image):
        """The transform of one image: float32 [3, H, W]."""
        return self.batch([image])[0]

    def __repr__(self):
        return ("Transform(size=%r, mean=%r, std=%r, interpolation=%r, resize_mode=%r, "
                "fill_color=%r)" % (self.size, self.mean, self.std, self.interpolation,
                                    self.resize_mode, self.fill_color))


def _transform_from(pre, image_mean=None, image_std=None, image_interpolation=None,
                    image_resize_mode=None):
    return Transform(tuple(pre["size"]), image_mean or pre["mean"], image_std or pre["std"],
                     image_interpolation or pre["interpolation"],
                     image_resize_mode or pre["resize_mode"], pre["fill_color"])


def image_transform(image_size, is_train=False, mean=None, std=None, resize_mode=None,
                    interpolation=None, fill_color=0, **kwargs):
    """open_clip.image_transform for inference (is_train=False): a Transform."""
    if is_train:
        raise Unsupported("image_transform(is_train=True): oclip has the inference transform "
                          "only")
    if kwargs:
        raise TypeError("image_transform: unexpected arguments %s" % sorted(kwargs))
    t = Transform(image_size)
    return Transform(image_size, mean or t.mean, std or t.std, interpolation or "bicubic",
                     resize_mode or "shortest", fill_color)


# ---------------------------------------------------------------------------------------------
# Tokenizer
class Tokenizer:
    """OpenCLIP's SimpleTokenizer (open_clip tokenizer.py), id for id: ``tokenizer(texts)``
    gives int64 [N, context_length] (a str is one text), [SOT] + ids + [EOT], cut with EOT in
    the last slot, zero-padded. ``clean``: 'lower' (default), 'whitespace', 'canonicalize'."""

    def __init__(self, context_length=77, clean="lower"):
        """context_length: tokens per text (77 for CLIP); clean: OpenCLIP's text cleaning
        ('lower': ftfy + whitespace + lower case, its default)."""
        if clean not in _CLEAN:
            raise ValueError("clean: 'lower', 'whitespace' or 'canonicalize', not %r" % (clean,))
        if int(context_length) < 1:
            raise ValueError("context_length: 1 or more")
        self.context_length = int(context_length)
        self.clean = clean
        self.sot_token_id = 49406
        self.eot_token_id = 49407
        self.vocab_size = 49408

    def __call__(self, texts, context_length=None):
        """Token ids int64 [N, context_length] of texts (a str or a sequence of str)."""
        if isinstance(texts, str):
            texts = [texts]
        ctx = int(context_length or self.context_length)
        texts = list(texts)
        out = _np.zeros((len(texts), ctx), _np.int64)
        _oclip.tokenize(texts, ctx, _CLEAN[self.clean], out)
        return out

    def __repr__(self):
        return "Tokenizer(context_length=%d, clean=%r)" % (self.context_length, self.clean)


def _check_tokenizer(info, what):
    if info.get("hf_tokenizer"):
        raise Unsupported("%s: the text tower uses the Hugging Face tokenizer '%s', which oclip "
                          "does not have" % (what, info["hf_tokenizer"]),
                          "tokenize with transformers' AutoTokenizer and pass the int64 ids to "
                          "encode_text")


def get_tokenizer(model_name=None, context_length=None, download=True, **kwargs):
    """open_clip.get_tokenizer: the tokenizer of a model spec (its context length), e.g.
    "ViT-B-32", "ViT-B-32:openai", "hf-hub:ORG/NAME", a folder, None for the default model."""
    if kwargs:
        raise TypeError("get_tokenizer: unexpected arguments %s" % sorted(kwargs))
    info = _oclip.source_info(_spec(model_name), True, fetch=_fetch(download))
    _check_tokenizer(info, model_name or "default")
    ctx = context_length
    if ctx is None and info["config"]:
        ctx = _json.loads(info["config"]).get("text_cfg", {}).get("context_length")
    return Tokenizer(ctx or 77)


# ---------------------------------------------------------------------------------------------
# Model
def _f32(x, what):
    a = _np.ascontiguousarray(x, dtype=_np.float32)  # the same array when already so
    return a


def _is_pixels(x):
    """A float array (NumPy, or anything with __array__: preprocessed pixels), not images."""
    if isinstance(x, _np.ndarray):
        return x.dtype != _np.uint8
    if isinstance(x, (str, _os.PathLike, bytes, bytearray, memoryview, list, tuple)) or _is_pil(x):
        return False
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__")


def _softmax(x):
    e = _np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class CLIP:
    """A loaded model (create_model_and_transforms). Thread-safe: several threads may encode
    with one model at once; each call releases the GIL."""

    def __init__(self, handle, spec=None):
        """Wraps a handle of the binding (oclip._oclip.load); made by create_model*, not by
        users."""
        self._m = handle
        info = handle.info()
        self._info = info
        self.spec = spec
        self.embed_dim = info["embed_dim"]
        self.image_size = tuple(info["image_size"])
        self.context_length = info["context_length"]
        self.source = info["source"]
        self.config = _json.loads(info["config"])
        self.name = info["name"] or None
        self.preprocess = _transform_from(info["preprocess"])

    @property
    def threads(self):
        """Worker threads per call. Assigning sets it (0: all online cores), as
        ``set_threads``."""
        return self._m.threads()

    @threads.setter
    def threads(self, n):
        self.set_threads(n)

    def set_threads(self, n):
        """Sets the worker threads of this model's calls (0: all online cores; like
        torch.set_num_threads, but per model) and returns the count now in effect. Safe at any
        time, also while other threads encode with this model: a call already running may use
        either count for each of its steps, and every result has the same bytes for any count.
        Raises ArgumentError when n is negative."""
        if isinstance(n, bool):
            raise TypeError("threads: an int, not bool")
        return self._m.set_threads(_operator.index(n))

    # OpenCLIP's nn.Module habits
    def eval(self):
        """Returns the model (OpenCLIP's model.eval(): oclip has inference only)."""
        return self

    def to(self, device=None, *args, **kwargs):
        """Returns the model for device None or 'cpu' (OpenCLIP's model.to(device)); other
        devices raise Unsupported."""
        if device not in (None, "cpu"):
            raise Unsupported("device %r: oclip computes on the CPU" % (device,))
        return self

    @property
    def logit_scale(self):
        """The stored (log) temperature, as OpenCLIP's model.logit_scale: the scale is
        np.exp(model.logit_scale)."""
        return _np.float32(self._info["logit_scale"])

    @property
    def logit_bias(self):
        """SigLIP-style bias added to the logits, or None when the model has none."""
        return _np.float32(self._info["logit_bias"]) if self._info["has_logit_bias"] else None

    def fingerprint(self):
        """32 hex digits identifying the weights and the architecture."""
        return self._m.fingerprint()

    def encode_image(self, image, normalize=False):
        """Image embeddings float32 [N, E]. ``image``: preprocessed pixels float32 [N, 3, H, W]
        (a C-contiguous float32 array is read in place; others are converted once), or images
        (paths, image-file bytes, PIL images, uint8 [H, W, C] arrays; one or a list), each
        preprocessed with the model's transform."""
        if _is_pixels(image):
            x = _f32(image, "image")
            out = _np.empty((x.shape[0] if x.ndim else 0, self.embed_dim), _np.float32)
            self._m.encode_image(x, out, bool(normalize))
            return out
        items = _image_list(image)
        out = _np.empty((len(items), self.embed_dim), _np.float32)
        self._m.encode_images(items, out, bool(normalize), self.preprocess.max_pixels,
                              self.preprocess.exif_transpose)
        return out

    def encode_text(self, text, normalize=False):
        """Text embeddings float32 [N, E] from token ids int64 [N, context_length] (a
        tokenizer's output) or from strings (a str or a list of str)."""
        if isinstance(text, str):
            text = [text]
        if isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            out = _np.empty((len(text), self.embed_dim), _np.float32)
            self._m.encode_text_strings(list(text), out, bool(normalize))
            return out
        t = _np.ascontiguousarray(text, dtype=_np.int64)
        if t.ndim == 1:
            t = t[None]
        out = _np.empty((t.shape[0] if t.ndim else 0, self.embed_dim), _np.float32)
        self._m.encode_text(t, out, bool(normalize))
        return out

    def get_logits(self, image, text):
        """OpenCLIP's CLIP.get_logits: (logits_per_image [N, M], logits_per_text [M, N])."""
        img = self.encode_image(image)
        txt = self.encode_text(text)
        out = _np.empty((img.shape[0], txt.shape[0]), _np.float32)
        self._m.logits(img, txt, out)
        return out, out.T

    def logits(self, image_features, text_features):
        """exp(logit_scale) * cos(image, text) (+ logit_bias): float32 [N, M]; the features
        need not be normalized."""
        i = _f32(image_features, "image_features")
        t = _f32(text_features, "text_features")
        out = _np.empty((i.shape[0], t.shape[0]), _np.float32)
        self._m.logits(i, t, out)
        return out

    def __call__(self, image=None, text=None):
        """OpenCLIP's CLIP.forward: (image_features, text_features, logit_scale.exp()) with
        normalized features (and logit_bias when the model has one)."""
        i = self.encode_image(image, normalize=True) if image is not None else None
        t = self.encode_text(text, normalize=True) if text is not None else None
        scale = _np.exp(self.logit_scale)
        if self.logit_bias is not None:
            return i, t, scale, self.logit_bias
        return i, t, scale

    forward = __call__

    def zero_shot_classifier(self, classnames, templates="imagenet"):
        """Class embeddings float32 [L, E] (OpenCLIP's build_zero_shot_classifier, transposed):
        templates a set name ('imagenet', 'simple') or strings with "{}"."""
        templates = _templates(templates)
        classnames = list(classnames)
        out = _np.empty((len(classnames), self.embed_dim), _np.float32)
        self._m.zero_shot_classifier(classnames, templates, out)
        return out

    def classify(self, images, labels, templates="imagenet"):
        """Zero-shot probabilities float32 [N, L]: softmax over labels of exp(logit_scale) *
        cos(image, class embedding), as OpenCLIP's zero-shot evaluation. ``images`` as for
        encode_image; ``labels`` class names; ``templates`` 'imagenet' (OpenCLIP's 80, the
        default), 'simple' (7), or strings with "{}"; or a classifier [L, E] array."""
        if isinstance(labels, _np.ndarray):
            w = _f32(labels, "classifier")
        else:
            w = self.zero_shot_classifier(labels, templates)
        img = self.encode_image(images)
        out = _np.empty((img.shape[0], w.shape[0]), _np.float32)
        self._m.zero_shot_probs(img, w, out)
        return out

    # CoCa captioning (coca_model.py CoCa.generate, generation_type "beam_search")
    @property
    def can_caption(self):
        """True for a model with a text decoder (a CoCa), which caption() needs."""
        return self._m.can_caption()

    def caption_ids(self, image, *, num_beams=6, num_beam_groups=3, seq_len=30, min_seq_len=5,
                    repetition_penalty=1.0):
        """The caption's token ids (a list of int) of one image: what OpenCLIP's
        model.generate(image, seq_len=..., ...) returns for it -- start-of-text 49406 first,
        end-of-text 49407 last unless the caption reached seq_len ids. ``image``: a path, the
        bytes of an image file, a PIL image, a uint8 [H, W, C] array (preprocessed with the
        model's transform), or preprocessed pixels float32 [3, H, W] (or [1, 3, H, W]). The
        options are generate()'s: num_beams (at least 2), num_beam_groups (dividing num_beams),
        seq_len (the most ids), min_seq_len (no end-of-text before that many ids),
        repetition_penalty (1.0: none). Raises Unsupported for a model without a text decoder,
        ArgumentError for options it cannot take."""
        opts = _caption_options(num_beams, num_beam_groups, seq_len, min_seq_len,
                                repetition_penalty)
        if not self._m.can_caption():
            raise Unsupported("%s has no text decoder: captions need a CoCa model"
                              % (self.name or self.spec or "the default model"),
                              "load a CoCa model, e.g. oclip.create_model_and_transforms("
                              "'coca_ViT-B-32', pretrained='mscoco_finetuned_laion2b_s13b_b90k')")
        if _is_pixels(image):
            x = _f32(image, "image")
            if x.ndim == 4 and x.shape[0] == 1:
                x = x[0]
            return self._m.caption(x, opts)
        if isinstance(image, (list, tuple)):
            raise TypeError("caption: one image (a path, bytes, a PIL image or an array), not a "
                            "%s: call it for each image" % type(image).__name__)
        return self._m.caption(_image_list(image), opts, self.preprocess.max_pixels,
                               self.preprocess.exif_transpose)

    def caption(self, image, *, num_beams=6, num_beam_groups=3, seq_len=30, min_seq_len=5,
                repetition_penalty=1.0):
        """The caption (a str) of one image, as OpenCLIP's recipe gives it:
        open_clip.decode(model.generate(image)[0]).split("<end_of_text>")[0].replace(
        "<start_of_text>", ""). Arguments as caption_ids."""
        return decode(self.caption_ids(image, num_beams=num_beams,
                                       num_beam_groups=num_beam_groups, seq_len=seq_len,
                                       min_seq_len=min_seq_len,
                                       repetition_penalty=repetition_penalty), caption=True)

    def __repr__(self):
        return "<oclip.CLIP %s: embed_dim %d, image %dx%d, context %d, %d threads>" % (
            self.name or self.spec or "default", self.embed_dim, self.image_size[0],
            self.image_size[1], self.context_length, self.threads)


def _caption_options(num_beams, num_beam_groups, seq_len, min_seq_len, repetition_penalty):
    vals = {}
    for k, v in (("num_beams", num_beams), ("num_beam_groups", num_beam_groups),
                 ("seq_len", seq_len), ("min_seq_len", min_seq_len)):
        if isinstance(v, bool):
            raise TypeError("%s: an int, not bool" % k)
        vals[k] = _operator.index(v)
    if isinstance(repetition_penalty, bool):
        raise TypeError("repetition_penalty: a number, not bool")
    rp = float(repetition_penalty)
    # min_seq_len 0 and 1 are the same to generate(): no end-of-text before the first id after
    # start-of-text either way (MinLengthLogitsProcessor counts start-of-text)
    if vals["min_seq_len"] == 0:
        vals["min_seq_len"] = 1
    for k, lo in (("num_beams", 2), ("num_beam_groups", 1), ("seq_len", 2), ("min_seq_len", 1)):
        if vals[k] < lo:
            raise ArgumentError("%s=%d: at least %d" % (k, vals[k], lo))
    for k in ("num_beams", "num_beam_groups", "seq_len", "min_seq_len"):
        if vals[k] > 1 << 20:
            raise ArgumentError("%s=%d: too large" % (k, vals[k]))
    if not rp > 0 or rp == float("inf"):
        raise ArgumentError("repetition_penalty=%r: a positive number" % (repetition_penalty,))
    return (vals["num_beams"], vals["num_beam_groups"], vals["seq_len"], vals["min_seq_len"], rp)


def decode(ids, caption=False):
    """open_clip.decode: the text of token ids (a 1-D sequence or array of int), as
    SimpleTokenizer.decode gives it (byte-level symbols as UTF-8, ill-formed bytes as U+FFFD,
    "</w>" as a space; "<start_of_text>" / "<end_of_text>" for 49406 / 49407). With caption=True,
    what OpenCLIP's captioning recipe keeps of it: the text before the first "<end_of_text>",
    without "<start_of_text>". Raises ArgumentError for an id outside the vocabulary."""
    a = _np.asarray(ids)
    if a.ndim != 1:
        raise ValueError("decode: a 1-D sequence of ids, not shape %s" % (list(a.shape),))
    if a.size and a.dtype.kind not in "iu":
        raise TypeError("decode: integer ids, not %s" % a.dtype)
    if a.size and a.dtype.kind == "u" and a.max() > _np.iinfo(_np.int64).max:
        raise ArgumentError("decode: id %d is not in the vocabulary [0, 49408)" % a.max())
    return _oclip.decode(_np.ascontiguousarray(a, dtype=_np.int64), bool(caption))


def _templates(templates):
    if isinstance(templates, str):
        return _oclip.templates(templates)
    return list(templates)


def _load(model_name, pretrained, precision, device, jit, force_quick_gelu, cache_dir, threads,
          dtype, quick_gelu, download, offline, config, kwargs):
    for k, v in kwargs.items():
        # OpenCLIP arguments that change nothing here at their defaults
        if k in ("load_weights", "weights_only") and v is True or \
                k in ("output_dict", "force_preprocess_cfg", "aug_cfg", "force_custom_text",
                      "force_patch_dropout", "pretrained_image", "pretrained_text",
                      "pretrained_image_path", "pretrained_text_path") and not v:
            continue
        raise TypeError("unexpected argument %s=%r (oclip does not support it)" % (k, v))
    if device not in (None, "cpu"):
        raise Unsupported("device %r: oclip computes on the CPU" % (device,))
    if jit:
        raise Unsupported("jit=True: oclip has no TorchScript model")
    if precision not in (None, "fp32", "pure_fp32"):
        raise Unsupported("precision %r: oclip computes in fp32" % (precision,),
                          "dtype='bf16' / 'f16' / 'int8' rounds the weights instead")
    if cache_dir is not None:
        raise Unsupported("cache_dir: oclip uses the Hugging Face cache of the environment",
                          "set HF_HUB_CACHE (or HF_HOME) before the call")
    name = _spec(model_name)
    arch = None
    if pretrained is not None:
        pretrained = _spec(pretrained)
        if name in (None, "", "default"):
            raise ArgumentError("pretrained=%r with the default model" % (pretrained,))
        if _os.path.exists(pretrained):
            spec, arch = pretrained, name
        else:
            spec = "%s:%s" % (name, pretrained)
    else:
        spec = name
    if force_quick_gelu:
        quick_gelu = True
    h = _oclip.load(spec, threads=int(threads or 0), dtype=dtype, arch=arch,
                    config_file=_spec(config), quick_gelu=_quick(quick_gelu), fetch=_fetch(download), offline=bool(offline))
    return CLIP(h, spec)


def create_model(model_name=None, pretrained=None, precision="fp32", device="cpu", jit=False,
                 force_quick_gelu=False, cache_dir=None, *, threads=0, dtype=None,
                 quick_gelu=None, download=True, offline=False, config=None, **kwargs):
    """open_clip.create_model: the model alone (see create_model_and_transforms)."""
    return _load(model_name, pretrained, precision, device, jit, force_quick_gelu, cache_dir,
                 threads, dtype, quick_gelu, download, offline, config, kwargs)


def create_model_and_transforms(model_name=None, pretrained=None, precision="fp32",
                                device="cpu", jit=False, force_quick_gelu=False,
                                image_mean=None, image_std=None, image_interpolation=None,
                                image_resize_mode=None, cache_dir=None, *, threads=0,
                                dtype=None, quick_gelu=None, download=True, offline=False,
                                config=None, **kwargs):
    """open_clip.create_model_and_transforms: (model, None, preprocess).

    model_name: a model spec -- None / "default" (the embedded model), "ARCH:TAG", an
    architecture with ``pretrained`` (a tag of OpenCLIP's table, or a checkpoint file),
    "hf-hub:ORG/NAME[@REV]", a checkpoint file or a folder. preprocess: the model's inference
    transform (a Transform: image -> float32 [3, H, W]); there is no training transform (None).

    oclip's own options (keywords): threads (0 = all cores), dtype (None: the weights as stored,
    fp32 arithmetic; 'bf16', 'f16', 'int8': rounded weights), quick_gelu (True / False override
    the activation; force_quick_gelu=True is quick_gelu=True), download (True: fetch what the
    cache lacks, as OpenCLIP; False: the cache only), offline, config (an OpenCLIP model config
    or open_clip_config.json file: the architecture, as `oclip check --config`).
    """
    model = _load(model_name, pretrained, precision, device, jit, force_quick_gelu, cache_dir,
                  threads, dtype, quick_gelu, download, offline, config, kwargs)
    pre = _transform_from(model._info["preprocess"], image_mean, image_std, image_interpolation,
                          image_resize_mode)
    model.preprocess = pre
    return model, None, pre


def create_model_from_pretrained(model_name=None, pretrained=None, precision="fp32",
                                 device="cpu", jit=False, force_quick_gelu=False,
                                 return_transform=True, image_mean=None, image_std=None,
                                 image_interpolation=None, image_resize_mode=None,
                                 cache_dir=None, **kwargs):
    """open_clip.create_model_from_pretrained: (model, preprocess), or the model alone with
    return_transform=False."""
    model, _, pre = create_model_and_transforms(
        model_name, pretrained, precision, device, jit, force_quick_gelu, image_mean, image_std,
        image_interpolation, image_resize_mode, cache_dir, **kwargs)
    return (model, pre) if return_transform else model


def build_zero_shot_classifier(model, tokenizer, classnames, templates, num_classes_per_batch=10,
                               device="cpu", use_tqdm=False):
    """open_clip.build_zero_shot_classifier: class embeddings float32 [E, L] (each class: every
    template formatted with it, encoded with normalize=True, averaged, renormalized).
    ``templates``: strings with "{}" (formatted by the library), callables (as OpenCLIP's
    lambdas: computed here with ``tokenizer``), or a set name ('imagenet', 'simple')."""
    templates = _templates(templates)
    classnames = list(classnames)
    if all(isinstance(t, str) for t in templates) and \
            (tokenizer is None or isinstance(tokenizer, Tokenizer) and
             tokenizer.context_length == model.context_length and tokenizer.clean == "lower"):
        return model.zero_shot_classifier(classnames, templates).T
    texts = [t.format(c) if isinstance(t, str) else t(c) for c in classnames for t in templates]
    emb = model.encode_text(tokenizer(texts), normalize=True)
    emb = emb.reshape(len(classnames), len(templates), -1).mean(axis=1)
    emb /= _np.linalg.norm(emb, axis=1, keepdims=True)
    return emb.T


# ---------------------------------------------------------------------------------------------
# Checkpoints, tables
def inspect(spec, tensors=False, download=True, offline=False):
    """`oclip inspect --json SPEC`: a dict (path, container, layout, wrapper, prefix_stripped,
    tensors, parameters, dtypes, entries, architecture; tensor_list with tensors=True)."""
    return _json.loads(_oclip.inspect(_spec(spec), bool(tensors), fetch=_fetch(download),
                                      offline=bool(offline)))


def check(spec, arch=None, config=None, quick_gelu=None, scan=False, download=True,
          offline=False):
    """`oclip check --json SPEC`: a dict (path, ok, layout, architecture, source, quick_gelu,
    fits, issues, notes, warnings). A checkpoint that does not fit gives ok=False (no
    exception); an error only when the check could not run. arch: a built-in NAME or NAME:TAG;
    config: an OpenCLIP model config or open_clip_config.json file."""
    return _json.loads(_oclip.check(_spec(spec), bool(scan), arch=arch, config_file=_spec(config),
                                    quick_gelu=_quick(quick_gelu), fetch=_fetch(download),
                                    offline=bool(offline)))


def convert(spec, out, to="open_clip", dtype=None, metadata=True, arch=None, config=None,
            quick_gelu=None, download=True, offline=False):
    """`oclip convert SPEC OUT`: writes the checkpoint as an OpenCLIP state dict (to=
    'open_clip': a .safetensors file, or a folder when OUT ends with '/' or exists) or a
    transformers CLIPModel folder (to='hf'); dtype None (kept), 'f32', 'f16', 'bf16'. Returns
    the check report (a dict, as check()); raises Mismatch when the checkpoint does not fit."""
    return _json.loads(_oclip.convert(_spec(spec), _os.fspath(out), to, dtype, bool(metadata),
                                      arch=arch, config_file=_spec(config),
                                      quick_gelu=_quick(quick_gelu), fetch=_fetch(download),
                                      offline=bool(offline)))


def pull(spec, offline=False, endpoint=None, token=None, revision=None):
    """`oclip pull SPEC` (hf-hub:ORG/NAME[@REV] or ARCH:TAG): downloads what the cache lacks
    and returns where it is: a dict (kind, path, config, preprocess, description, notes,
    warnings, fetch: files, downloaded, bytes, offline, commit)."""
    d = _oclip.pull(spec, bool(offline), endpoint, token, revision)
    if d.get("config"):
        d["config"] = _json.loads(d["config"])
    return d


def list_pretrained(as_str=False):
    """open_clip.list_pretrained: [(arch, tag), ...] of OpenCLIP 3.3.0's table (oclip runs the
    native ViT ones); as_str: "arch:tag" strings."""
    pairs = _oclip.list_pretrained()
    return ["%s:%s" % p for p in pairs] if as_str else pairs


def list_models():
    """open_clip.list_models: the built-in architecture names."""
    return _oclip.list_models()


def list_pretrained_tags_by_model(model):
    """open_clip.list_pretrained_tags_by_model: the tags of architecture ``model``."""
    return [t for a, t in _oclip.list_pretrained() if a == model]


def list_pretrained_models_by_tag(tag):
    """open_clip.list_pretrained_models_by_tag: the architectures with tag ``tag``."""
    return [a for a, t in _oclip.list_pretrained() if t == tag]


def simd():
    """The CPU kernel path in use: 'avx512', 'avx2' or 'scalar'."""
    return _oclip.simd()


def __getattr__(name):
    if name == "OPENAI_IMAGENET_TEMPLATES":
        return tuple(_oclip.templates("imagenet"))
    if name == "SIMPLE_IMAGENET_TEMPLATES":
        return tuple(_oclip.templates("simple"))
    if name == "IMAGENET_CLASSNAMES":
        return tuple(_oclip.imagenet_classnames())
    raise AttributeError("module 'oclip' has no attribute %r" % (name,))
