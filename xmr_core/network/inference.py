"""Images and captions -> unit vectors: input preprocessing, the device's preferred memory
format, and the ``Embedder`` around the one network (``model.py`` / ``backbones.py``).

``Embedder`` picks its precision, memory format and batch size from measurements
(``inference_precision``, ``prefer_channels_last``, ``inference_batch_size``; BENCHMARKS.md,
"full evaluation"), and prepares the next batch (decode / paint + resize) in a thread while
the network runs on the current one.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..hardware import cpu_has_native_bf16  # noqa: F401 - re-exported (train/precision.py)
from .fuse import fold_batchnorm, weights_version
from .model import InceptionResNetV1


def prefer_channels_last(device: torch.device) -> bool:
    """Whether NHWC (channels_last) is the faster memory format on ``device``.

    CUDA: yes (cuDNN). CPU: only where bf16 is native. Measured, one training step of the
    half-width net at 96 px, batch 96, one thread: on a 2-core AMD EPYC with AVX512-BF16,
    NHWC was 1.3x faster in fp32 and 1.2x in bf16; on a 2-core AVX2 machine without it,
    NHWC was ~25x *slower* (oneDNN reorders around every small conv).
    """
    device = torch.device(device)
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def inference_precision(cfg: ModelConfig, device: torch.device) -> bool:
    """Whether inference runs under bf16 autocast (``Embedder(amp="auto")``).

    bf16 where the hardware computes it natively and it leaves retrieval unchanged.
    Measured on this project's bundles (2-core AMD EPYC with AVX512-BF16, BENCHMARKS.md):
    InceptionResNet-V1: 2.1x faster at full width and 160 px (4.1 vs 8.7 ms an item), R@K
    within +-1 point (test rsum fp32 / bf16: the demo bundle 536.4 / 536.2, demo-paper
    187.2 / 188.0, the width-0.5 demo before issue 16 480.7 / 482.6); EfficientNet-Lite0
    (run P7, Flickr8k val 1k / 5k): caption vectors moved by up to 0.05 in cosine and rsum
    fell 85.3 -> 83.1, so Lite0 stays fp32 (fast enough there: 1.4 ms an item at 112 px).
    """
    device = torch.device(device)
    if cfg.backbone != "inception_resnet_v1":
        return False
    if device.type == "cuda":  # not where bf16 is only emulated (before Ampere), nor refused by autocast
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and cpu_has_native_bf16()


def inference_batch_size(cfg: ModelConfig, device: torch.device, amp: bool) -> int:
    """Batch size of ``Embedder`` passes when none is given, chosen by measurement.

    CPU, ms an item (2 cores, channels_last): Lite0 fp32 at 112 px 1.4 / 3.1 / 3.2 at
    batch 16 / 32 / 64 (small batches keep activations in cache); InceptionResNet-V1 at
    160 px, full width, bf16: 4.5 / 4.1 at 16 / 32, fp32 8.7 / 9.1 / 10.1 at 8 / 16 / 32.
    """
    if torch.device(device).type == "cuda":
        return 128
    if cfg.backbone != "inception_resnet_v1":
        return 16
    return 32 if amp else 8


# ----------------------------------------------------------------------------- preprocessing

def _standardize(x: torch.Tensor, standardize: bool) -> torch.Tensor:
    """Pixel values 0..255 (float, N,3,H,W) -> network input, in place where possible.

    standardize=False: facenet's ``fixed_image_standardization``: (x - 127.5) / 128.
    standardize=True:  facenet's ``prewhiten`` per image:
                       (x - mean) / max(std, 1 / sqrt(numel)), std with ddof=0.
    """
    if not standardize:
        return x.sub_(127.5).div_(128.0)
    flat = x.reshape(x.shape[0], -1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False)
    std = torch.clamp(std, min=1.0 / math.sqrt(flat.shape[1]))
    return x.sub_(mean.view(-1, 1, 1, 1)).div_(std.view(-1, 1, 1, 1))


def _resize_nchw(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2] == size and x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _is_pil(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a runtime dependency
        return False
    return isinstance(obj, Image.Image)


def _as_nchw_float(x: torch.Tensor) -> torch.Tensor:
    """A uint8 or float tensor in HWC / NHWC / CHW / NCHW layout -> float32 NCHW (copy)."""
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"expected an image batch (N,H,W,3) or (N,3,H,W), got shape {tuple(x.shape)}")
    if x.shape[1] != 3 and x.shape[-1] in (1, 3, 4):  # NHWC -> NCHW
        x = x.permute(0, 3, 1, 2)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 4:  # RGBA: drop alpha (the text encoder paints on white, opaque)
        x = x[:, :3]
    if x.shape[1] != 3:
        raise ValueError(f"cannot find the channel axis (1, 3 or 4 channels) in shape {tuple(x.shape)}")
    return x.to(torch.float32, copy=True).contiguous()


def preprocess_images(images: Any, size: int, standardize: bool = False) -> torch.Tensor:
    """Images -> float32 tensor (N, 3, size, size) ready for ``InceptionResNetV1``.

    Accepts
      * a PIL image or a list/tuple of PIL images (any mode, any size): converted to RGB
        and resized each with Pillow ``BILINEAR`` (Pillow widens the filter when
        shrinking, i.e. it antialiases);
      * a uint8 numpy array (N, H, W, 3) (what the text encoder returns) or (H, W, 3);
      * a torch tensor, uint8 or float, NHWC or NCHW (or a single HWC/CHW image).
        Float inputs are read as pixel values on the 0..255 scale, like uint8 (NOT 0..1).
    Arrays and tensors are resized in one vectorised call of
    ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)``, which matches
    Pillow's BILINEAR to within rounding (Pillow rounds to uint8, we do not).

    Values are then scaled with facenet's ``fixed_image_standardization``
    ((x - 127.5) / 128) or, if ``standardize``, per image with facenet's ``prewhiten``
    ((x - mean) / max(std, 1/sqrt(numel))).
    """
    if size < 32:  # the smallest input any backbone takes (InceptionResNet-V1 checks its own 75)
        raise ValueError(f"size={size}: the networks need >= 32 px")
    if _is_pil(images):
        images = [images]
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            return torch.empty(0, 3, size, size)
        if all(_is_pil(im) for im in images):
            from PIL import Image
            arrs = []
            for im in images:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arrs.append(np.asarray(im, dtype=np.uint8))
            x = _as_nchw_float(torch.from_numpy(np.stack(arrs)))
        else:  # a list of arrays / tensors: each resized, then stacked
            x = torch.cat([_resize_nchw(_as_nchw_float(torch.as_tensor(np.asarray(im))
                                                       if not isinstance(im, torch.Tensor) else im), size)
                           for im in images])
    elif isinstance(images, np.ndarray):
        x = _resize_nchw(_as_nchw_float(torch.from_numpy(np.ascontiguousarray(images))), size)
    elif isinstance(images, torch.Tensor):
        x = _resize_nchw(_as_nchw_float(images.detach().cpu()), size)
    else:
        raise TypeError(f"unsupported image input {type(images).__name__}: expected PIL image(s), "
                        "a uint8 numpy array (N,H,W,3) or a torch tensor")
    return _standardize(x, standardize)


# ----------------------------------------------------------------------------- embedder

def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto"/None -> cuda if available else cpu; anything else as torch.device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _batches(n: int, batch_size: int) -> Iterable[tuple[int, int]]:
    for start in range(0, n, batch_size):
        yield start, min(n, start + batch_size)


def _len_inputs(images: Any) -> tuple[Any, int]:
    """Normalise a single image to a batch of one; return (batchable inputs, count)."""
    if _is_pil(images):
        return [images], 1
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim == 3:
            images = images[None]
        return images, int(images.shape[0])
    if isinstance(images, (list, tuple)):
        return list(images), len(images)
    raise TypeError(f"unsupported image input {type(images).__name__}")


class Embedder:
    """Images and captions -> L2-normalised embeddings (float32 numpy, (N, emb)).

    Holds the ``model``, an optional ``text_encoder`` (anything with
    ``encode_batch(list[str]) -> uint8 (N, H, W, 3)``), the ``ModelConfig`` (input size
    and standardisation) and the ``device``. Runs the model in eval mode under
    ``torch.inference_mode``; ``amp`` (bf16 autocast: True / False / ``"auto"`` =
    ``inference_precision``), ``channels_last`` (None = ``prefer_channels_last``) and
    ``batch_size`` (None = ``inference_batch_size``) default to what measured fastest.
    The model's previous train/eval mode is restored afterwards, so a trainer can
    validate mid-run.

    ``text_crop`` (0 = none) crops encoded captions to ``text_crop`` x ``text_crop`` from
    the top-left corner before resizing (the caption sits top-left; config-2 trains on
    227 px crops of the 256 px canvas, docs/METHOD.md §1).

    ``progress``: ``True`` for a tqdm bar, or a callable ``progress(done, total)``.
    """

    def __init__(self, model: InceptionResNetV1, text_encoder: Any = None,
                 cfg: ModelConfig | None = None, device: str | torch.device | None = "cpu",
                 amp: bool | str = "auto", channels_last: bool | None = None, text_crop: int = 0,
                 batch_size: int | None = None, prefetch: bool = True, fold_bn: bool = True):
        self.cfg = cfg if cfg is not None else getattr(model, "cfg", ModelConfig())
        self.device = resolve_device(device)
        if amp not in (True, False, "auto"):
            raise ValueError(f"amp must be True, False or 'auto', got {amp!r}")
        self.amp = inference_precision(self.cfg, self.device) if amp == "auto" else bool(amp)
        self.batch_size = int(batch_size or inference_batch_size(self.cfg, self.device, self.amp))
        # None = auto (``prefer_channels_last``): NHWC where it measured faster.
        self.channels_last = prefer_channels_last(self.device) if channels_last is None else channels_last
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.prefetch = prefetch  # prepare the next batch in a thread (False: one after the other)
        # Run a copy with BatchNorm folded into its convolutions (fuse.py: ~15 % faster under bf16
        # on CPU); rebuilt when the weights change, so a trainer validating mid-run sees its weights.
        self.fold_bn = fold_bn
        self._folded: tuple[Any, torch.nn.Module] | None = None
        self.text_encoder = text_encoder
        self.text_crop = text_crop

    @classmethod
    def build(cls, cfg: ModelConfig, text_encoder: Any = None,
              device: str | torch.device | None = "cpu", **kwargs: Any) -> "Embedder":
        """A fresh (randomly initialised) model for ``cfg`` wrapped in an Embedder."""
        return cls(InceptionResNetV1(cfg), text_encoder, cfg, device, **kwargs)

    @property
    def dim(self) -> int:
        return self.cfg.embedding_size

    # -- internals
    def _network(self) -> torch.nn.Module:
        """The module that runs: ``self.model``, or its BatchNorm-folded copy (cached by weights)."""
        if not self.fold_bn:
            return self.model
        key = weights_version(self.model)
        cached = self._folded  # one read: another thread may replace it meanwhile
        if cached is None or cached[0] != key:
            net = fold_batchnorm(self.model)
            if self.channels_last:
                net = net.to(memory_format=torch.channels_last)
            cached = self._folded = (key, net)
        return cached[1]

    def _run(self, x: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return (net if net is not None else self._network()).embed(x).float()

    def _progress(self, progress: Any, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        if progress is True:
            from ..progress import progress_bar
            bar = progress_bar(total=total, unit="img", leave=False)
            return bar.update, bar.close
        if callable(progress):
            done = [0]

            def step(n: int) -> None:
                done[0] += n
                progress(done[0], total)
            return step, lambda: None
        return (lambda n: None), (lambda: None)

    def _embed_batches(self, total: int, get_batch: Callable[[int, int], torch.Tensor],
                       batch_size: int | None, progress: Any) -> np.ndarray:
        out = np.empty((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        was_training = self.model.training
        self.model.eval()
        step, close = self._progress(progress, total)
        spans = list(_batches(total, max(1, int(batch_size or self.batch_size))))
        # One thread prepares batch i+1 (paint / resize: ~1.2 ms a caption at 160 px) while the
        # network runs batch i (1.4-9 ms an item); both release the GIL. Measured gain: small
        # (-1 to +7 %, BENCHMARKS.md), as torch's own threads already fill both cores.
        pool = None
        if self.prefetch and len(spans) > 1:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xmr-prepare")
        try:
            net = self._network()
            with torch.inference_mode():
                nxt = pool.submit(get_batch, *spans[0]) if pool else None
                for n, (a, b) in enumerate(spans):
                    x = nxt.result() if nxt is not None else get_batch(a, b)
                    if pool and n + 1 < len(spans):
                        nxt = pool.submit(get_batch, *spans[n + 1])
                    out[a:b] = self._run(x, net).cpu().numpy()
                    step(b - a)
        finally:
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)
            close()
            self.model.train(was_training)
        return out

    # -- public
    def embed_images(self, images: Any, batch_size: int | None = None, progress: Any = None) -> np.ndarray:
        """PIL image(s) / uint8 array (N,H,W,3) / tensor -> (N, emb) float32 unit vectors."""
        images, n = _len_inputs(images)
        size, std = self.cfg.input_size, self.cfg.standardize
        return self._embed_batches(n, lambda a, b: preprocess_images(images[a:b], size, std),
                                   batch_size, progress)

    def embed_encoded(self, encoded: np.ndarray, batch_size: int | None = None, progress: Any = None) -> np.ndarray:
        """Encoded captions, uint8 (N, H, W, 3) -> (N, emb) float32 unit vectors.

        Applies ``text_crop`` (top-left) if set, then the same preprocessing as images.
        """
        encoded, n = _len_inputs(encoded)
        if self.text_crop:
            c = self.text_crop
            encoded = encoded[:, :c, :c] if encoded.shape[-1] in (1, 3, 4) else encoded[..., :c, :c]
        size, std = self.cfg.text_size, self.cfg.standardize
        return self._embed_batches(n, lambda a, b: preprocess_images(encoded[a:b], size, std),
                                   batch_size, progress)

    def embed_texts(self, sentences: Sequence[str], batch_size: int | None = None, progress: Any = None) -> np.ndarray:
        """Captions -> (N, emb) float32 unit vectors (painted by ``text_encoder`` batch by batch)."""
        if self.text_encoder is None:
            raise ValueError("this Embedder has no text_encoder; pass one to embed captions")
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        size, std, c = self.cfg.text_size, self.cfg.standardize, self.text_crop

        def get(a: int, b: int) -> torch.Tensor:
            enc = np.asarray(self.text_encoder.encode_batch(sentences[a:b]))
            if c:
                enc = enc[:, :c, :c]
            return preprocess_images(enc, size, std)

        return self._embed_batches(len(sentences), get, batch_size, progress)
