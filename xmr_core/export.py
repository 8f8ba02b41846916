"""Export a split's embeddings: parquet (pandas) or TensorBoard-projector TSVs.

    python -m xmr_core export --run checkpoints/demo --format parquet
    python -m xmr_core export --run checkpoints/demo --format projector   # vectors.tsv + metadata.tsv
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import XmrError
from .files import unique_tmp


def _frame(emb):
    import pandas as pd

    ni, nc = len(emb.images), len(emb.captions)
    return pd.DataFrame({
        "modality": ["image"] * ni + ["text"] * nc,
        "row": np.concatenate([np.arange(ni), np.arange(nc)]),
        "image_id": np.concatenate([emb.image_ids, emb.image_ids[emb.caption_image]]),
        "caption_id": np.concatenate([np.full(ni, ""), emb.caption_ids]),
        "caption": np.concatenate([np.full(ni, ""), emb.caption_text]),
        "path": np.concatenate([emb.image_paths, emb.image_paths[emb.caption_image]]),
        "vector": list(np.concatenate([emb.images, emb.captions]).astype(np.float32)),
    })


def export_run(run, fmt: str, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
               out: str | Path | None = None) -> list[Path]:
    """Write the export files and return their paths."""
    from .evaluate import _as_run, split_embeddings

    run = _as_run(run)
    emb = split_embeddings(run, dataset, split, images_dir)
    folder = Path(out) if out else Path(run.path) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    df = _frame(emb)
    stem = f"{emb.dataset}-{split}"
    if fmt == "parquet":
        path = folder / f"{stem}.parquet"
        tmp = unique_tmp(path)
        try:
            df.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return [path]
    if fmt == "projector":
        vec = folder / f"{stem}-vectors.tsv"
        meta = folder / f"{stem}-metadata.tsv"
        np.savetxt(vec, np.stack(df["vector"].to_numpy()), delimiter="\t", fmt="%.6f")
        clean = df.drop(columns=["vector"]).copy()
        for col in ("caption", "path", "image_id", "caption_id"):  # TSV: no tabs/newlines inside cells
            clean[col] = clean[col].astype(str).str.replace(r"[\t\r\n]+", " ", regex=True)
        clean.to_csv(meta, sep="\t", index=False)
        return [vec, meta]
    raise XmrError(f"unknown export format {fmt!r}; use parquet or projector")
