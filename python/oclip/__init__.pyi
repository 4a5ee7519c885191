# Type stubs of the oclip package (python/oclip/__init__.py). Names starting with '_' exist for
# type checkers only (the shapes of the report dicts, argument unions).
import os
from typing import (Any, Callable, Dict, Iterable, List, Literal, Optional, Sequence, Tuple,
                    TypedDict, Union, overload)

import numpy as np
import numpy.typing as npt

__version__: str

# one class per oclip_status (include/oclip.h); `status` is that number (None on Error itself
# unless given)
class Error(Exception):
    message: str
    hint: Optional[str]
    status: Optional[int]
    def __init__(self, message: str, hint: Optional[str] = ..., status: Optional[int] = ...) -> None: ...
class FileError(Error): ...                  # 1 OCLIP_E_IO
class FormatError(Error, ValueError): ...    # 2 OCLIP_E_FORMAT
class Unsupported(Error): ...                # 3 OCLIP_E_UNSUPPORTED
class Unsafe(Error): ...                     # 4 OCLIP_E_UNSAFE
class Limit(Error, MemoryError): ...         # 5 OCLIP_E_NOMEM
class ArgumentError(Error, ValueError): ...  # 6 OCLIP_E_ARG
class NotFound(Error, LookupError): ...      # 7 OCLIP_E_NOTFOUND
class Mismatch(FormatError): ...             # 8 OCLIP_E_MISMATCH

_Spec = Union[str, os.PathLike[str], None]
# a path, the bytes of an image file, a PIL image, or a uint8 [H, W, C] array
_ImageLike = Union[str, os.PathLike[str], bytes, bytearray, memoryview, Any, npt.NDArray[np.uint8]]
_Images = Union[_ImageLike, Sequence[_ImageLike]]
_F32 = npt.NDArray[np.float32]
_I64 = npt.NDArray[np.int64]
_Download = Union[bool, Literal["missing", "never", "always"]]
_Templates = Union[str, Sequence[str]]

# the reports (the fields of `oclip inspect --json` and `oclip check --json`, README.md)
class _TensorInfo(TypedDict):
    name: str
    dtype: str
    shape: List[int]
class _ArchitectureInfo(TypedDict):
    name: Optional[str]
    source: str
    fits: bool
    issues: int
    config: Optional[Dict[str, Any]]
    notes: List[str]
    warnings: List[str]
class _InspectBase(TypedDict):
    path: str
    container: str
    layout: str
    wrapper: Optional[str]
    prefix_stripped: Optional[str]
    tensors: int
    parameters: int
    dtypes: Dict[str, int]
    entries: Dict[str, str]
    architecture: Optional[_ArchitectureInfo]
class _InspectReport(_InspectBase, total=False):
    architecture_note: str          # when architecture is None: why
    tensor_list: List[_TensorInfo]  # with tensors=True
class _IssueBase(TypedDict):
    kind: Literal["missing", "unexpected", "shape", "dtype", "nonfinite"]
    key: str
class _Issue(_IssueBase, total=False):
    expected: List[int]
    found: List[int]
    detail: str
class _CheckReport(TypedDict):
    path: str
    ok: bool
    layout: str
    architecture: Optional[str]
    source: str
    quick_gelu: bool
    fits: Optional[str]
    issues: List[_Issue]
    notes: List[str]
    warnings: List[str]
class _FetchInfo(TypedDict):
    files: int
    downloaded: int
    bytes: int
    offline: bool
    commit: str
class _PullInfo(TypedDict):
    kind: str
    path: str
    config: Optional[Dict[str, Any]]
    config_origin: str
    preprocess: Dict[str, Any]
    preprocess_origin: str
    tag: str
    description: str
    notes: List[str]
    warnings: List[str]
    fetch: _FetchInfo
    hf_tokenizer: str

class Transform:
    size: Tuple[int, int]
    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]
    interpolation: str
    resize_mode: str
    fill_color: int
    max_pixels: int
    exif_transpose: bool
    def __init__(self, size: Union[int, Tuple[int, int]], mean: Sequence[float] = ...,
                 std: Sequence[float] = ..., interpolation: str = ..., resize_mode: str = ...,
                 fill_color: int = ..., max_pixels: int = ..., exif_transpose: bool = ...) -> None: ...
    def __call__(self, image: _ImageLike) -> _F32: ...
    def batch(self, images: _Images) -> _F32: ...

class Tokenizer:
    context_length: int
    clean: str
    sot_token_id: int
    eot_token_id: int
    vocab_size: int
    def __init__(self, context_length: int = ..., clean: Literal["lower", "whitespace", "canonicalize"] = ...) -> None: ...
    def __call__(self, texts: Union[str, Sequence[str]], context_length: Optional[int] = ...) -> _I64: ...

class CLIP:
    spec: Optional[str]
    name: Optional[str]
    embed_dim: int
    image_size: Tuple[int, int]
    context_length: int
    source: str
    config: Dict[str, Any]
    preprocess: Transform
    def __init__(self, handle: Any, spec: Optional[str] = ...) -> None: ...
    @property
    def threads(self) -> int: ...
    @threads.setter
    def threads(self, n: int) -> None: ...
    def set_threads(self, n: int) -> int: ...
    @property
    def logit_scale(self) -> np.float32: ...
    @property
    def logit_bias(self) -> Optional[np.float32]: ...
    def eval(self) -> "CLIP": ...
    def to(self, device: Optional[str] = ..., *args: Any, **kwargs: Any) -> "CLIP": ...
    def fingerprint(self) -> str: ...
    def encode_image(self, image: Union[npt.ArrayLike, _Images], normalize: bool = ...) -> _F32: ...
    def encode_text(self, text: Union[str, Sequence[str], npt.ArrayLike], normalize: bool = ...) -> _F32: ...
    def get_logits(self, image: Union[npt.ArrayLike, _Images], text: Union[str, Sequence[str], npt.ArrayLike]) -> Tuple[_F32, _F32]: ...
    def logits(self, image_features: npt.ArrayLike, text_features: npt.ArrayLike) -> _F32: ...
    def __call__(self, image: Any = ..., text: Any = ...) -> Tuple[Any, ...]: ...
    def forward(self, image: Any = ..., text: Any = ...) -> Tuple[Any, ...]: ...
    def zero_shot_classifier(self, classnames: Iterable[str], templates: Union[str, Sequence[str]] = ...) -> _F32: ...
    def classify(self, images: _Images, labels: Union[Iterable[str], _F32], templates: Union[str, Sequence[str]] = ...) -> _F32: ...
    @property
    def can_caption(self) -> bool: ...
    def caption_ids(self, image: Union[_ImageLike, npt.ArrayLike], *, num_beams: int = ..., num_beam_groups: int = ...,
                    seq_len: int = ..., min_seq_len: int = ..., repetition_penalty: float = ...) -> List[int]: ...
    def caption(self, image: Union[_ImageLike, npt.ArrayLike], *, num_beams: int = ..., num_beam_groups: int = ...,
                seq_len: int = ..., min_seq_len: int = ..., repetition_penalty: float = ...) -> str: ...

def create_model(model_name: _Spec = ..., pretrained: _Spec = ..., precision: str = ..., device: Optional[str] = ...,
                 jit: bool = ..., force_quick_gelu: bool = ..., cache_dir: None = ..., *, threads: int = ...,
                 dtype: Optional[str] = ..., quick_gelu: Optional[bool] = ..., download: _Download = ...,
                 offline: bool = ..., config: _Spec = ..., **kwargs: Any) -> CLIP: ...
def create_model_and_transforms(model_name: _Spec = ..., pretrained: _Spec = ..., precision: str = ...,
                                device: Optional[str] = ..., jit: bool = ..., force_quick_gelu: bool = ...,
                                image_mean: Optional[Sequence[float]] = ..., image_std: Optional[Sequence[float]] = ...,
                                image_interpolation: Optional[str] = ..., image_resize_mode: Optional[str] = ...,
                                cache_dir: None = ..., *, threads: int = ..., dtype: Optional[str] = ...,
                                quick_gelu: Optional[bool] = ..., download: _Download = ..., offline: bool = ...,
                                config: _Spec = ..., **kwargs: Any) -> Tuple[CLIP, None, Transform]: ...
def create_model_from_pretrained(model_name: _Spec = ..., pretrained: _Spec = ..., precision: str = ...,
                                 device: Optional[str] = ..., jit: bool = ..., force_quick_gelu: bool = ...,
                                 return_transform: bool = ..., image_mean: Optional[Sequence[float]] = ...,
                                 image_std: Optional[Sequence[float]] = ..., image_interpolation: Optional[str] = ...,
                                 image_resize_mode: Optional[str] = ..., cache_dir: None = ...,
                                 **kwargs: Any) -> Union[Tuple[CLIP, Transform], CLIP]: ...
def get_tokenizer(model_name: _Spec = ..., context_length: Optional[int] = ..., download: _Download = ...) -> Tokenizer: ...
def image_transform(image_size: Union[int, Tuple[int, int]], is_train: bool = ..., mean: Optional[Sequence[float]] = ...,
                    std: Optional[Sequence[float]] = ..., resize_mode: Optional[str] = ...,
                    interpolation: Optional[str] = ..., fill_color: int = ...) -> Transform: ...
def build_zero_shot_classifier(model: CLIP, tokenizer: Optional[Callable[[Sequence[str]], Any]],
                               classnames: Iterable[str], templates: Union[str, Sequence[Union[str, Callable[[str], str]]]],
                               num_classes_per_batch: Optional[int] = ..., device: Optional[str] = ...,
                               use_tqdm: bool = ...) -> _F32: ...
def inspect(spec: _Spec, tensors: bool = ..., download: _Download = ..., offline: bool = ...) -> _InspectReport: ...
def check(spec: _Spec, arch: Optional[str] = ..., config: _Spec = ..., quick_gelu: Optional[bool] = ...,
          scan: bool = ..., download: _Download = ..., offline: bool = ...) -> _CheckReport: ...
def convert(spec: _Spec, out: Union[str, os.PathLike[str]], to: Literal["open_clip", "hf"] = ..., dtype: Optional[str] = ...,
            metadata: bool = ..., arch: Optional[str] = ..., config: _Spec = ..., quick_gelu: Optional[bool] = ...,
            download: _Download = ..., offline: bool = ...) -> _CheckReport: ...
def pull(spec: str, offline: bool = ..., endpoint: Optional[str] = ..., token: Optional[str] = ...,
         revision: Optional[str] = ...) -> _PullInfo: ...
@overload
def list_pretrained(as_str: Literal[False] = ...) -> list[Tuple[str, str]]: ...
@overload
def list_pretrained(as_str: Literal[True]) -> list[str]: ...
def list_models() -> list[str]: ...
def list_pretrained_tags_by_model(model: str) -> list[str]: ...
def list_pretrained_models_by_tag(tag: str) -> list[str]: ...
def simd() -> str: ...
def decode(ids: Union[Sequence[int], npt.ArrayLike], caption: bool = ...) -> str: ...

OPENAI_IMAGENET_TEMPLATES: Tuple[str, ...]
SIMPLE_IMAGENET_TEMPLATES: Tuple[str, ...]
IMAGENET_CLASSNAMES: Tuple[str, ...]
