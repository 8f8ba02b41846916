"""Global pooling of a trunk's last feature map into one vector (``ModelConfig.pool``, docs/METHOD.md §2c).

``avg`` is the paper's (InceptionResNet-V1's ``avgpool_1a``) and ImageNet EfficientNet-Lite0's: each thing in
a picture counts by its area, so a small red circle beside two other shapes weighs a fraction of a picture
of the red circle alone. ``max`` takes each channel at its strongest place: a thing anywhere counts in full,
whatever its size and the things beside it. ``avgmax`` is their mean (timm's ``avgmax``).
"""
from __future__ import annotations

import torch

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
