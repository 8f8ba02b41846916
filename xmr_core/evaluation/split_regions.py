"""The window embeddings of a split's pictures, for a run that scores short queries against regions
(``ModelConfig.regions``, ``retrieval/regions.py``): ``embeddings/<dataset>-<split>.regions<grid>.npz``,
recomputed when the weights or the split's pictures changed."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..data.images import read_image
from ..files import atomic_file, notice
from .split_embeddings import SplitEmbeddings, read_side


def regions_of(run: Any) -> int:
    """The run's window grid for short queries (``ModelConfig.regions``); 0 for none or a run without a model config."""
    return int(getattr(getattr(run, "model_cfg", None), "regions", 0) or 0)


def split_regions(run: Any, emb: SplitEmbeddings, grid: int | None = None, progress: Any = None) -> np.ndarray | None:
    """(N, grid * grid, d) window embeddings of ``emb``'s pictures, cached beside its embeddings;
    None for a run without regions (``grid`` None: the run's ``ModelConfig.regions``) or without a network."""
    from ..retrieval.regions import embed_regions

    grid = regions_of(run) if grid is None else grid
    if grid <= 0 or getattr(run, "embedder", None) is None:
        return None
    ids = [str(i) for i in emb.image_ids]
    path = emb.path.with_name(f"{emb.path.stem}.regions{grid}.npz") if emb.path else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                vecs = z["vectors"]
                if (str(z["weights"]) == emb.weights and z["image_ids"].tolist() == ids
                        and vecs.shape == (len(ids), grid * grid, emb.images.shape[1]) and np.isfinite(vecs).all()):
                    return vecs
        except Exception as e:  # noqa: BLE001 - truncated zip, bad header, missing keys: recomputed
            notice(f"{path}: cached window embeddings unreadable ({type(e).__name__}); recomputing them")
    pics = [read_image(p, max_side=read_side(run)) for p in emb.image_paths]  # as the whole pictures are read
    vecs = embed_regions(run.embedder, pics, grid, progress=progress)
    if path is not None:
        with atomic_file(path) as f:
            np.savez(f, vectors=vecs, weights=np.array(emb.weights), image_ids=np.array(ids, dtype=str))
    return vecs
