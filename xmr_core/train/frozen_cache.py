"""Training on cached frozen-trunk outputs (``TrainConfig.cache_frozen``).

With a pretrained trunk whose first blocks are frozen (``ModelConfig.freeze_blocks``), those
blocks are a fixed function of the pixels: computing them once for every training photo and
every encoded caption, instead of at every step, roughly doubles training speed on a CPU
(docs/RESULTS.md) and removes JPEG decoding and caption painting from the loop. The price is
no pixel-level augmentation; photos get a horizontal flip of their cached feature map instead
(a feature-space stand-in, drawn from the same per-sample RNG as the pixel pipeline, so a
resumed run stays exact). Features are stored in bfloat16 to halve memory (about 0.6 GB for
Flickr8k at 160 px with 6 frozen blocks).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ..config import ModelConfig, TrainConfig
from ..data import Dataset
from ..data.images import read_image
from ..network.inference import preprocess_images
from .samples import choose_captions, sample_rng


def _frozen_outputs(net: Any, batches: int, get: Callable[[int, int], torch.Tensor], total: int,
                    desc: str, progress: bool, channels_last: bool) -> torch.Tensor:
    out: torch.Tensor | None = None
    bar = None
    if progress:
        from ..progress import progress_bar
        bar = progress_bar(total=total, desc=desc, unit="img", leave=False, mininterval=2.0)
    device = next(net.parameters()).device
    for a in range(0, total, batches):
        b = min(total, a + batches)
        x = get(a, b).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = net.frozen_features(x).to("cpu", torch.bfloat16).contiguous()  # the cache lives in host memory
        if out is None:
            out = torch.empty((total, *h.shape[1:]), dtype=torch.bfloat16)
        out[a:b] = h
        if bar is not None:
            bar.update(b - a)
    if bar is not None:
        bar.close()
    assert out is not None
    return out


class CachedClassSamples(torch.utils.data.Dataset):
    """Item ``(epoch, class)`` -> that class's cached photo features and caption features.

    Same contract as ``train.samples.ClassSamples`` (the loop cannot tell them apart), but its
    tensors are the frozen part's outputs, to be fed to ``net.forward_from_frozen_outputs``.
    """

    def __init__(self, ds: Dataset, encoder: Any, net: Any, mcfg: ModelConfig, tcfg: TrainConfig,
                 progress: bool = True, channels_last: bool = False, batch: int = 64):
        if tcfg.crop:
            raise ValueError("cache_frozen cannot be combined with random crops (config-2); set crop 0")
        self.tcfg = tcfg
        self.texts_travel = tcfg.teacher_weight > 0  # the teacher reads each step's caption texts
        paths = [im.path for im in ds.images]
        caps = [[c.text for c in ds.captions_of(im.image_id)] for im in ds.images]
        flat = [c for cs in caps for c in cs]
        self.texts = flat
        self.cap_index: list[list[int]] = []
        i = 0
        for cs in caps:
            self.cap_index.append(list(range(i, i + len(cs))))
            i += len(cs)
        size, std = mcfg.input_size, mcfg.standardize
        was_training = net.training
        net.eval()
        try:
            self.images = _frozen_outputs(
                net, batch, lambda a, b: preprocess_images(
                    [read_image(p, max_side=max(2 * size, 256)) for p in paths[a:b]], size, std),
                len(paths), "cache photos", progress, channels_last)
            self.captions = _frozen_outputs(
                net, batch, lambda a, b: preprocess_images(encoder.encode_batch(flat[a:b]), mcfg.text_size, std),
                len(flat), "cache captions", progress, channels_last)
        finally:
            net.train(was_training)

    def __len__(self) -> int:
        return len(self.cap_index)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int]:
        epoch, k = key
        t = self.tcfg
        rng = sample_rng(t.seed, epoch, k)
        img = self.images[k]
        views = [img.flip(-1) if rng.random() < 0.5 else img]
        for v in range(1, t.images_per_class):
            views.append(img.flip(-1) if v % 2 else img)
        chosen = choose_captions(self.cap_index[k], t.captions_per_class, rng)
        out = torch.stack(views).float(), self.captions[np.asarray(chosen)].float(), k
        if self.texts_travel:  # ClassSamples' five-item form: texts, and none of them a short query
            return (*out, [self.texts[i] for i in chosen], [False] * len(chosen))
        return out
