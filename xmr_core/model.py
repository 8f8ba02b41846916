"""One network for both modalities: InceptionResNet-V1 (SPEC §2), its input
preprocessing, and the ``Embedder`` that turns images / captions into unit vectors.

The network follows facenet-pytorch's ``inception_resnet_v1.py`` module for module
(same class names, attribute names and channel counts at ``width=1.0``), so a
facenet-pytorch ``state_dict`` loads into ``InceptionResNetV1(ModelConfig(
embedding_size=512))`` with ``strict=True`` and gives the same outputs
(``tests/test_model.py`` checks this).

    stem   conv 32/s2 -> 32 -> 64(pad 1) -> maxpool 3/s2 -> 80 (1x1) -> 192 -> 256/s2
    5  x Block35 (residual scale 0.17)        35x35 grid at 299 px
    Mixed_6a (reduction-A)                    -> 896 channels
    10 x Block17 (0.10)
    Mixed_7a (reduction-B)                    -> 1792 channels
    5  x Block8 (0.20), Block8 without ReLU (scale 1.0, as facenet)
    global average pool -> dropout(1 - keep) -> Linear(1792 -> emb, no bias) -> BatchNorm1d

``forward`` returns the pre-normalisation embedding (what the softmax classifier and
center loss see); ``embed`` L2-normalises it (what retrieval uses).

Speed on CPU, one training step (samples/s; ``benchmarks/bench_train_step.py`` and
BENCHMARKS.md for the side-by-side runs):

  * a 2-core AMD EPYC **with** AVX512-BF16 (this project's machine in later sessions), one
    torch thread: full width, 128 px, batch 45: fp32 channels_last 14.8, bf16 autocast +
    channels_last 27.5; half width, 96 px, batch 96: fp32 NCHW 89, fp32 channels_last 114,
    bf16 NCHW 161, bf16 channels_last 188;
  * a 2-core x86 machine **without** native bf16 (AVX2 only), full width, batch 45, 128 px:
    fp32 8.3, bf16 + channels_last 0.6 (emulated bf16); facenet-pytorch fp32 9.1.

Hence ``train --amp auto --channels-last auto``: bf16 autocast + channels_last on CUDA and on
CPUs with native bf16 (``avx512_bf16`` / ``amx_bf16`` in /proc/cpuinfo), fp32 NCHW elsewhere.
Our fp32 network runs at facenet-pytorch's speed (same modules). ``Embedder`` is fp32 by
default (``amp=False``), which keeps stored embeddings free of bf16 rounding; it uses
channels_last where ``prefer_channels_last`` says so.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

MIN_INPUT_SIZE = 75  # smallest side the stride-2 stages accept (facenet / Inception)


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 autocast pays."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def prefer_channels_last(device: torch.device) -> bool:
    """Whether NHWC (channels_last) is the faster memory format on ``device``.

    CUDA: yes (cuDNN). CPU: only where bf16 is native. Measured, one training step of the
    half-width net at 96 px, batch 96, one thread: on a 2-core AMD EPYC with AVX512-BF16,
    NHWC was 1.3x faster in fp32 and 1.2x in bf16; on a 2-core AVX2 machine without it,
    NHWC was ~25x *slower* (oneDNN reorders around every small conv).
    """
    device = torch.device(device)
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def _ch(n: int, width: float) -> int:
    """Channel count ``n`` scaled by the width multiplier (exactly ``n`` at width 1.0)."""
    return max(1, int(round(n * width)))


# ----------------------------------------------------------------------------- blocks

class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm(eps=0.001, momentum=0.1) + ReLU, as facenet."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=True)  # facenet: inplace=False; same result, less memory

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A: three branches (1x1; 1x1-3x3; 1x1-3x3-3x3) of 32 channels."""

    def __init__(self, channels: int = 256, scale: float = 1.0, width: float = 1.0):
        super().__init__()
        self.scale = scale
        b = _ch(32, width)
        self.branch0 = BasicConv2d(channels, b, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(channels, b, kernel_size=1),
            BasicConv2d(b, b, kernel_size=3, padding=1),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(channels, b, kernel_size=1),
            BasicConv2d(b, b, kernel_size=3, padding=1),
            BasicConv2d(b, b, kernel_size=3, padding=1),
        )
        self.conv2d = nn.Conv2d(3 * b, channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        out = self.conv2d(out)
        return self.relu(out * self.scale + x)


class Block17(nn.Module):
    """Inception-ResNet-B: 1x1 and 1x1-1x7-7x1 branches of 128 channels."""

    def __init__(self, channels: int = 896, scale: float = 1.0, width: float = 1.0):
        super().__init__()
        self.scale = scale
        b = _ch(128, width)
        self.branch0 = BasicConv2d(channels, b, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(channels, b, kernel_size=1),
            BasicConv2d(b, b, kernel_size=(1, 7), padding=(0, 3)),
            BasicConv2d(b, b, kernel_size=(7, 1), padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(2 * b, channels, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        out = self.conv2d(out)
        return self.relu(out * self.scale + x)


class Block8(nn.Module):
    """Inception-ResNet-C: 1x1 and 1x1-1x3-3x1 branches of 192 channels."""

    def __init__(self, channels: int = 1792, scale: float = 1.0, noReLU: bool = False,
                 width: float = 1.0):
        super().__init__()
        self.scale = scale
        self.noReLU = noReLU
        b = _ch(192, width)
        self.branch0 = BasicConv2d(channels, b, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(channels, b, kernel_size=1),
            BasicConv2d(b, b, kernel_size=(1, 3), padding=(0, 1)),
            BasicConv2d(b, b, kernel_size=(3, 1), padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(2 * b, channels, kernel_size=1)
        if not self.noReLU:
            self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat((self.branch0(x), self.branch1(x)), 1)
        out = self.conv2d(out)
        out = out * self.scale + x
        return out if self.noReLU else self.relu(out)


class Mixed_6a(nn.Module):
    """Reduction-A: 3x3/s2 conv (384), 1x1-3x3-3x3/s2 (192-192-256), maxpool 3/s2."""

    def __init__(self, channels: int = 256, width: float = 1.0):
        super().__init__()
        c384, c192, c256 = _ch(384, width), _ch(192, width), _ch(256, width)
        self.branch0 = BasicConv2d(channels, c384, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(channels, c192, kernel_size=1),
            BasicConv2d(c192, c192, kernel_size=3, padding=1),
            BasicConv2d(c192, c256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c384 + c256 + channels  # 896 at width 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):
    """Reduction-B: three conv branches (-> 384, 256, 256) and a maxpool 3/s2."""

    def __init__(self, channels: int = 896, width: float = 1.0):
        super().__init__()
        c384, c256 = _ch(384, width), _ch(256, width)
        self.branch0 = nn.Sequential(
            BasicConv2d(channels, c256, kernel_size=1),
            BasicConv2d(c256, c384, kernel_size=3, stride=2),
        )
        self.branch1 = nn.Sequential(
            BasicConv2d(channels, c256, kernel_size=1),
            BasicConv2d(c256, c256, kernel_size=3, stride=2),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(channels, c256, kernel_size=1),
            BasicConv2d(c256, c256, kernel_size=3, padding=1),
            BasicConv2d(c256, c256, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)
        self.out_channels = c384 + 2 * c256 + channels  # 1792 at width 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


# ----------------------------------------------------------------------------- network

class InceptionResNetV1(nn.Module):
    """InceptionResNet-V1 driven by a ``ModelConfig`` (see the module docstring).

    Input: float tensor (N, 3, H, W), H, W >= 75, already preprocessed
    (``preprocess_images``). Attribute names equal facenet-pytorch's.
    """

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        w = cfg.width
        n35, n17, n8 = (int(n) for n in cfg.blocks)
        s35, s17, s8 = (float(s) for s in cfg.scales)

        c32, c64, c80, c192, c256 = (_ch(n, w) for n in (32, 64, 80, 192, 256))
        self.conv2d_1a = BasicConv2d(3, c32, kernel_size=3, stride=2)
        self.conv2d_2a = BasicConv2d(c32, c32, kernel_size=3)
        self.conv2d_2b = BasicConv2d(c32, c64, kernel_size=3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(c64, c80, kernel_size=1)
        self.conv2d_4a = BasicConv2d(c80, c192, kernel_size=3)
        self.conv2d_4b = BasicConv2d(c192, c256, kernel_size=3, stride=2)
        self.repeat_1 = nn.Sequential(*[Block35(c256, s35, w) for _ in range(n35)])
        self.mixed_6a = Mixed_6a(c256, w)
        c896 = self.mixed_6a.out_channels
        self.repeat_2 = nn.Sequential(*[Block17(c896, s17, w) for _ in range(n17)])
        self.mixed_7a = Mixed_7a(c896, w)
        c1792 = self.mixed_7a.out_channels
        self.repeat_3 = nn.Sequential(*[Block8(c1792, s8, width=w) for _ in range(n8)])
        self.block8 = Block8(c1792, noReLU=True, width=w)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(1.0 - cfg.dropout_keep)
        self.last_linear = nn.Linear(c1792, cfg.embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(cfg.embedding_size, eps=0.001, momentum=0.1, affine=True)
        self.feature_dim = c1792

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) globally pooled features (before dropout and head)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"input {tuple(x.shape[-2:])} px: InceptionResNet-V1 needs >= "
                             f"{MIN_INPUT_SIZE} px a side")
        x = self.conv2d_1a(x)
        x = self.conv2d_2a(x)
        x = self.conv2d_2b(x)
        x = self.maxpool_3a(x)
        x = self.conv2d_3b(x)
        x = self.conv2d_4a(x)
        x = self.conv2d_4b(x)
        x = self.repeat_1(x)
        x = self.mixed_6a(x)
        x = self.repeat_2(x)
        x = self.mixed_7a(x)
        x = self.repeat_3(x)
        x = self.block8(x)
        return self.avgpool_1a(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, embedding_size) pre-normalisation embedding."""
        x = self.dropout(self.forward_features(x))
        return self.last_bn(self.last_linear(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, embedding_size) L2-normalised embedding."""
        return F.normalize(self.forward(x).float(), p=2, dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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
    ``torch.inference_mode`` in channels_last, fp32 unless ``amp=True`` (bf16 autocast);
    the model's previous train/eval mode is restored afterwards, so a trainer can
    validate mid-run.

    ``text_crop`` (0 = none) crops encoded captions to ``text_crop`` x ``text_crop`` from
    the top-left corner before resizing (the caption sits top-left; config-2 trains on
    227 px crops of the 256 px canvas, SPEC §1).

    ``progress``: ``True`` for a tqdm bar, or a callable ``progress(done, total)``.
    """

    def __init__(self, model: InceptionResNetV1, text_encoder: Any = None,
                 cfg: ModelConfig | None = None, device: str | torch.device | None = "cpu",
                 amp: bool = False, channels_last: bool | None = None, text_crop: int = 0):
        self.cfg = cfg if cfg is not None else getattr(model, "cfg", ModelConfig())
        self.device = resolve_device(device)
        # None = auto (``prefer_channels_last``): NHWC where it measured faster.
        self.channels_last = prefer_channels_last(self.device) if channels_last is None else channels_last
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.text_encoder = text_encoder
        self.amp = amp
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
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return self.model.embed(x).float()

    def _progress(self, progress: Any, total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        if progress is True:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, unit="img", leave=False)
            return bar.update, bar.close
        if callable(progress):
            done = [0]

            def step(n: int) -> None:
                done[0] += n
                progress(done[0], total)
            return step, lambda: None
        return (lambda n: None), (lambda: None)

    def _embed_batches(self, total: int, get_batch: Callable[[int, int], torch.Tensor],
                       batch_size: int, progress: Any) -> np.ndarray:
        out = np.empty((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        was_training = self.model.training
        self.model.eval()
        step, close = self._progress(progress, total)
        try:
            with torch.inference_mode():
                for a, b in _batches(total, max(1, int(batch_size))):
                    out[a:b] = self._run(get_batch(a, b)).cpu().numpy()
                    step(b - a)
        finally:
            close()
            self.model.train(was_training)
        return out

    # -- public
    def embed_images(self, images: Any, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """PIL image(s) / uint8 array (N,H,W,3) / tensor -> (N, emb) float32 unit vectors."""
        images, n = _len_inputs(images)
        size, std = self.cfg.input_size, self.cfg.standardize
        return self._embed_batches(n, lambda a, b: preprocess_images(images[a:b], size, std),
                                   batch_size, progress)

    def embed_encoded(self, encoded: np.ndarray, batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """Encoded captions, uint8 (N, H, W, 3) -> (N, emb) float32 unit vectors.

        Applies ``text_crop`` (top-left) if set, then the same preprocessing as images.
        """
        encoded, n = _len_inputs(encoded)
        if self.text_crop:
            c = self.text_crop
            encoded = encoded[:, :c, :c] if encoded.shape[-1] in (1, 3, 4) else encoded[..., :c, :c]
        size, std = self.cfg.input_size, self.cfg.standardize
        return self._embed_batches(n, lambda a, b: preprocess_images(encoded[a:b], size, std),
                                   batch_size, progress)

    def embed_texts(self, sentences: Sequence[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
        """Captions -> (N, emb) float32 unit vectors (painted by ``text_encoder`` batch by batch)."""
        if self.text_encoder is None:
            raise ValueError("this Embedder has no text_encoder; pass one to embed captions")
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        size, std, c = self.cfg.input_size, self.cfg.standardize, self.text_crop

        def get(a: int, b: int) -> torch.Tensor:
            enc = np.asarray(self.text_encoder.encode_batch(sentences[a:b]))
            if c:
                enc = enc[:, :c, :c]
            return preprocess_images(enc, size, std)

        return self._embed_batches(len(sentences), get, batch_size, progress)
