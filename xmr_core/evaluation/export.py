"""Export a split's embeddings: parquet (pandas) or TensorBoard-projector TSVs.

    python -m xmr_core export --run checkpoints/demo --format parquet
    python -m xmr_core export --run checkpoints/demo --format projector   # vectors.tsv + metadata.tsv
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import XmrError
from ..facade.app_selection import csv_cell
from ..files import atomic_file, file_sha256, read_json, refuse_special, write_json_atomic


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


MANIFEST = ".xmr-export.json"  # in the output folder: the files export wrote there, with their SHA-256


def _check_owned(folder: Path, paths: list[Path], force: bool) -> dict[str, str]:
    """Refuse to replace a file in ``folder`` that export did not write (or that changed since)."""
    manifest = folder / MANIFEST
    try:
        owned = read_json(manifest) if manifest.exists() else {}
    except XmrError:
        owned = {}
    owned = owned if isinstance(owned, dict) else {}
    for p in paths:
        if not os.path.lexists(p):
            continue
        refuse_special(p)
        if not force and (not p.is_file() or owned.get(p.name) != file_sha256(p)):
            raise XmrError(f"{p}: exists and is not an export written by xmr (or was changed since); refusing "
                           "to replace it (choose another --out, or pass --force)")
    return owned


def _write_projector(df, vec: Path, meta: Path) -> None:
    with atomic_file(vec, "w") as f:
        np.savetxt(f, np.stack(df["vector"].to_numpy()), delimiter="\t", fmt="%.6f")
    clean = df.drop(columns=["vector"]).copy()
    for col in ("caption", "path", "image_id", "caption_id"):  # TSV: no tabs/newlines inside cells
        clean[col] = clean[col].astype(str).str.replace(r"[\t\r\n]+", " ", regex=True).map(csv_cell)
    with atomic_file(meta, "w") as f:
        clean.to_csv(f, sep="\t", index=False)


def export_run(run, fmt: str, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
               out: str | Path | None = None, force: bool = False) -> list[Path]:
    """Write the export files and return their paths (each atomically; a file in ``out`` that export
    did not write is replaced only with ``force``)."""
    from .evaluate import _as_run, split_embeddings

    if fmt not in ("parquet", "projector"):
        raise XmrError(f"unknown export format {fmt!r}; use parquet or projector")
    run = _as_run(run)
    emb = split_embeddings(run, dataset, split, images_dir)
    folder = Path(out) if out else Path(run.path) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{emb.dataset}-{split}"
    paths = ([folder / f"{stem}.parquet"] if fmt == "parquet"
             else [folder / f"{stem}-vectors.tsv", folder / f"{stem}-metadata.tsv"])
    owned = _check_owned(folder, paths, force)
    df = _frame(emb)
    if fmt == "parquet":
        with atomic_file(paths[0]) as f:
            df.to_parquet(f, index=False)
    else:
        _write_projector(df, *paths)
    owned.update({p.name: file_sha256(p) for p in paths})
    write_json_atomic(folder / MANIFEST, owned)
    return paths
