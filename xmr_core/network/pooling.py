"""Global pooling of a trunk's last feature map into one vector (``ModelConfig.pool``, docs/METHOD.md §2c).

``avg`` is the paper's (InceptionResNet-V1's ``avgpool_1a``) and ImageNet EfficientNet-Lite0's: each thing in
a picture counts by its area, so a small red circle beside two other shapes weighs a fraction of a picture
of the red circle alone. ``max`` takes each channel at its strongest place: a thing anywhere counts in full,
whatever its size and the things beside it. ``avgmax`` is their mean (timm's ``avgmax``).

:class:`BilinearPool` (``ModelConfig.bilinear``) is a second-order term beside any of them (bilinear CNNs, Lin et
al. 2015): two learnt 1x1 projections of the map, their outer product at each place, averaged over places. A
first-order pool of a map whose channels say "red" at one place and "circle" at another gives the same vector
for a red circle beside a blue square as for a red square beside a blue circle (a bag of colours and shapes);
the outer product at each place keeps which colour goes with which shape.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOLS = ("avg", "max", "avgmax")


def global_pool(x: torch.Tensor, kind: str = "avg") -> torch.Tensor:
    """(N, C, H, W) -> (N, C) by ``kind`` (one of :data:`POOLS`)."""
    if kind == "avg":
        return x.mean(dim=(2, 3))
    if kind == "max":
        return x.amax(dim=(2, 3))
    if kind == "avgmax":
        return 0.5 * (x.mean(dim=(2, 3)) + x.amax(dim=(2, 3)))
    raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {kind!r}")


class BilinearPool(nn.Module):
    """(N, C, H, W) -> (N, rank * rank): ``a(x) b(x)^T`` averaged over places, ``a``, ``b`` learnt 1x1
    projections to ``rank`` non-negative channels (ReLU: "how much of this is here"), square-rooted elementwise
    as bilinear CNNs do (it evens out a few large products)."""

    def __init__(self, channels: int, rank: int):
        super().__init__()
        self.rank = rank
        self.a = nn.Conv2d(channels, rank, 1, bias=False)
        self.b = nn.Conv2d(channels, rank, 1, bias=False)

    @property
    def out_dim(self) -> int:
        return self.rank * self.rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.a(x)).flatten(2).float()  # (N, r, places); fp32: products of bf16 lose the small ones
        b = F.relu(self.b(x)).flatten(2).float()
        m = torch.bmm(a, b.transpose(1, 2)) / a.shape[-1]
        return torch.sqrt(m.flatten(1) + 1e-6).to(x.dtype)
