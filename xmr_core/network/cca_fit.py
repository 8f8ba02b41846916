"""Fitting the CCA reference (docs/METHOD.md §6): Word2Vec on the training captions, frozen ImageNet
EfficientNet-Lite0 features of the training photos, and canonical correlation analysis in closed form.
``evaluation/reference.py`` fits and evaluates the reference a user compares against; the trainer's
teacher (``train/teacher.py``, docs/METHOD.md §3c) fits the same on the training split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import EncodingConfig
from ..data import Dataset
from ..data.images import read_image
from ..errors import XmrError
from .cca_encoder import FEATURES, CCAEncoder, load_trunk, mean_vectors, trunk_features


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


def image_features(ds: Dataset, size: int, batch: int = 64, progress: bool = True,
                   net: torch.nn.Module | None = None) -> np.ndarray:
    """Pooled ImageNet EfficientNet-Lite0 features (n, 1280) of ``ds``'s photos."""
    net = net if net is not None else load_trunk()
    paths = [im.path for im in ds.images]
    out = np.empty((len(paths), FEATURES), dtype=np.float32)
    bar = None
    if progress:
        from ..progress import progress_bar
        bar = progress_bar(total=len(paths), desc="photo features", unit="img", leave=False, mininterval=2.0)
    for a in range(0, len(paths), batch):
        imgs = [read_image(p, max_side=2 * size) for p in paths[a:a + batch]]
        out[a:a + len(imgs)] = trunk_features(net, imgs, size)
        if bar is not None:
            bar.update(len(imgs))
    if bar is not None:
        bar.close()
    return out


def fit_encoder(tr: Dataset, cfg: CCAConfig, progress: bool = True) -> tuple[CCAEncoder, np.ndarray]:
    """Fit the CCA on the training split ``tr``: (the encoder, its photos' trunk features (n, 1280) in
    ``tr.images`` order). The training loop's teacher (``train/teacher.py``) reads both."""
    from ..text.vectors import train_word2vec

    kv = train_word2vec([c.text for c in tr.captions], EncodingConfig(w2v_epochs=cfg.w2v_epochs, seed=cfg.seed),
                        vector_size=cfg.w2v_dim)
    net = load_trunk()
    fx_tr = image_features(tr, cfg.image_size, progress=progress, net=net)
    cap_img = np.asarray(tr.caption_image_index())
    ty = mean_vectors(kv, [c.text for c in tr.captions])
    enc = CCAEncoder(kv, *fit_cca(fx_tr[cap_img], ty, cfg.dim, cfg.ridge, cfg.power), image_size=cfg.image_size)
    enc._trunk = net  # already loaded: the encoder embeds further photos with it
    return enc, fx_tr


def cca_word_vectors(enc: CCAEncoder, dim: int) -> Any:
    """The reference's word vectors projected onto its ``dim`` leading canonical directions: (vocabulary
    size, ``dim``) gensim KeyedVectors, what ``EncodingConfig.word_vectors = "cca"`` paints (docs/METHOD.md §1b).

    The reference places a sentence at ``(mean of its word vectors - mean_y) @ w_y``, which is linear, so
    the mean of a caption's painted words is, up to a constant, the first ``dim`` coordinates of the
    reference's own vector of it: a network that learns to average what it reads has the reference's
    text side. The per-direction weights (correlation ** power) do not survive the painting's
    per-dimension colour scaling, and need not: the network learns its own.
    """
    from gensim.models import KeyedVectors

    if not 1 <= dim <= enc.dim:
        raise XmrError(f"the CCA reference has {enc.dim} directions; cannot paint {dim} of them a word "
                       f"(--vector-size must be at most {enc.dim} with --word-vectors cca)")
    kv = KeyedVectors(vector_size=dim)
    keys = list(enc.kv.index_to_key)
    kv.add_vectors(keys, (np.asarray(enc.kv.vectors, np.float64) @ enc.w_y[:, :dim]).astype(np.float32))
    if "count" in getattr(enc.kv, "expandos", {}):  # word frequencies travel too (the vector file keeps them)
        kv.allocate_vecattrs(["count"], [np.int64])
        kv.expandos["count"][:] = enc.kv.expandos["count"]
    return kv
