"""An ``embeddings`` run's vectors (``python -m xmr_core import``): stored per split in the same file a
network run caches (``split_embeddings.embed_split``'s layout), never recomputed, and checked against
the dataset every time they are read (the dataset may have changed since the import)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Dataset
from ..errors import RunError
from ..files import MAX_DATASET_BYTES, open_regular
from .split_embeddings import _cache_problem, embeddings_path, stored_vectors


def stored_split_path(run, ds: Dataset, spec: str, split: str) -> Path:
    """The stored vectors of ``ds`` (the run's split ``split``); ``RunError`` naming the fix when the
    run has none for it or they no longer fit the dataset's ids."""
    path = embeddings_path(run, ds, spec, split)
    have = ", ".join(run.config.get("embeddings", {}).get("splits", [])) or "none"
    if not path.is_file():
        raise RunError(f"{run.name} is an embeddings run (imported vectors of the split(s): {have}); it has no "
                       f"vectors for {path.name}. Pick one of its splits, or import this one with `python -m "
                       f"xmr_core import --name {run.name} --split {split} ...`")
    try:
        with open_regular(path, MAX_DATASET_BYTES) as f, np.load(f, allow_pickle=False) as z:
            images = stored_vectors(z, path, "images")
            dim = int(images.shape[1]) if images.ndim == 2 else -1
            why = _cache_problem(z, ds, dim, path)
            if why is None and str(z["weights"]) != run.weights_sha256:
                why = "they are not the vectors config.json's embeddings.sha256 records"
    except RunError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated zip, bad header, missing keys: one message
        why = f"unreadable ({type(e).__name__}: {str(e)[:80]})"
    if why:
        raise RunError(f"{path}: the imported vectors do not fit the dataset any more ({why}); import them again "
                       "with `python -m xmr_core import ... --overwrite`")
    return path
