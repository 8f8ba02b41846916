"""The network plus its training-only heads, as one module (what DDP wraps)."""
from __future__ import annotations

import torch
from torch import nn

from ..network.backbones import build_network
from ..config import ModelConfig
from ..losses import Outputs


class TrainModule(nn.Module):
    """The network plus its training-only heads.

    ``classifier``: softmax over the training classes (the paper). ``words``: a
    multi-label head predicting the class's caption words from either modality
    (ours, ``words_weight``); it gives every sample a dense, shared target, so
    image and encoded text learn the same word-level semantics early on. A head whose
    loss has weight 0 is not built (``n_words=0``).
    """

    def __init__(self, mcfg: ModelConfig, n_classes: int, n_words: int = 0, from_frozen: bool = False,
                 words_hidden: int = 0):
        super().__init__()
        self.net = build_network(mcfg)
        self.classifier = nn.Linear(mcfg.embedding_size, n_classes)
        d = mcfg.embedding_size
        # words_hidden > 0: an MLP head (TrainConfig.words_hidden says why)
        self.words = (None if not n_words else nn.Linear(d, n_words) if not words_hidden else
                      nn.Sequential(nn.Linear(d, words_hidden), nn.ReLU(inplace=True),
                                    nn.Linear(words_hidden, n_words)))
        self.from_frozen = from_frozen  # inputs are cached frozen-trunk outputs (frozen_cache.py)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        emb = self.net.forward_from_frozen_outputs(x) if self.from_frozen else self.net(x)
        return emb, self.classifier(emb), (self.words(emb) if self.words is not None else None)


def as_outputs(out: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]) -> Outputs:
    """``TrainModule``'s (possibly autocast) outputs, in fp32, for the losses."""
    emb, logits, words = out
    return Outputs(emb.float(), logits.float(), words.float() if words is not None else None)


def split_negatives(out: Outputs, n: int) -> tuple[Outputs, torch.Tensor | None]:
    """The batch's first ``n`` rows (photos and captions) and the embeddings of the rows after them, the swapped
    captions (``TrainConfig.swap_negatives``): they leave every term but the contrastive one (None: no rows)."""
    if out.emb.shape[0] == n:
        return out, None
    cut = lambda x: x[:n] if x is not None else None  # noqa: E731
    return Outputs(out.emb[:n], cut(out.logits), cut(out.words)), out.emb[n:]
