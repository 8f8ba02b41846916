"""The one network (docs/METHOD.md §2): InceptionResNet-V1 as in facenet-pytorch.

References: Nawaz et al., "Revisiting Cross Modal Retrieval" (the method; docs/METHOD.md);
Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
Learning", arXiv:1602.07261 (the network); facenet-pytorch, github.com/timesler/facenet-pytorch,
``models/inception_resnet_v1.py`` (followed module for module: same names and channel counts at
width 1.0, so its state_dict loads with strict=True; tests/test_model.py). Timings: BENCHMARKS.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .pooling import global_pool

MIN_INPUT_SIZE = 75  # smallest side the stride-2 stages accept (facenet / Inception)


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
        if self.cfg.pool == "avg":  # the paper's
            return self.avgpool_1a(x).flatten(1)
        return global_pool(x, self.cfg.pool)

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
