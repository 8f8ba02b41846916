"""The periodic validation: R@K both ways and the modality gap on a subsample of val."""
from __future__ import annotations

import time

import numpy as np

from ..data import Dataset
from ..data.images import read_image
from ..network.inference import Embedder
from ..retrieval.diagnostics import modality_gap
from ..retrieval.metrics import evaluate_embeddings


def validates_after(epoch: int, epochs: int, val_every: int) -> bool:
    """Whether a run of ``epochs`` validates after its ``epoch``-th (1-based): every ``val_every``-th epoch
    and the last; never with ``val_every`` 0 (the loop's rule, and what ``budget.plan`` counts)."""
    return bool(val_every) and (epoch % val_every == 0 or epoch == epochs)


def validate(embedder: Embedder, ds: Dataset, n_images: int, seed: int = 0) -> dict[str, float]:
    """R@K both ways (and modality-gap figures) on up to ``n_images`` images of ``ds``."""
    ids = [im.image_id for im in ds.images]
    if len(ids) > n_images:
        ids = sorted(np.random.default_rng(seed).choice(len(ids), n_images, replace=False).tolist())
        ids = [ds.images[i].image_id for i in ids]
    sub = ds.subset(ids)
    imgs = [read_image(im.path, max_side=256) for im in sub.images]
    ie = embedder.embed_images(imgs)
    ce = embedder.embed_texts([c.text for c in sub.captions])
    cmap = np.asarray(sub.caption_image_index())
    m = evaluate_embeddings(ie, ce, cmap)
    out = {f"val_i2t_R@{k}": m["i2t"][f"R@{k}"] for k in (1, 5, 10)}
    out.update({f"val_t2i_R@{k}": m["t2i"][f"R@{k}"] for k in (1, 5, 10)})
    out["val_rsum"] = m["rsum"]
    gap = modality_gap(ie, ce, cmap)
    out["val_cos_img_txt"] = float(gap.get("mean_cos_cross", float("nan")))
    out["val_cos_pair"] = float(gap.get("mean_cos_pair", float("nan")))
    return out


def validation_seconds(embedder: Embedder, ds: Dataset, n_images: int, probe: int = 16) -> float:
    """About what ``validate(embedder, ds, n_images)`` takes: reading and embedding ``probe`` images
    and their captions, timed the second time and scaled (the first pass builds the kernels for the
    batch's shapes, once a run; the R@K arithmetic after it is a small share)."""
    n = min(n_images, len(ds.images))
    sub = ds.subset([im.image_id for im in ds.images[:min(probe, n)]])
    for _ in range(2):
        t0 = time.perf_counter()
        embedder.embed_images([read_image(im.path, max_side=256) for im in sub.images])
        embedder.embed_texts([c.text for c in sub.captions])
    return (time.perf_counter() - t0) * n / max(1, len(sub.images))
