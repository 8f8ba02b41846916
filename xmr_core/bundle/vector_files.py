"""Reading someone's vectors for ``python -m xmr_core import``: (ids, vectors) of one modality.

Formats (by file name):

* ``.parquet``: an id column (``image_id`` / ``caption_id``) and a vector column (``vector`` unless
  told otherwise) holding one list or array a row. The project's own export (``export --format
  parquet``) holds both modalities in one file with a ``modality`` column: the rows of the wanted
  modality are taken, so the same file can be given as ``--images`` and ``--captions``.
* ``.npz``: arrays ``ids`` (or ``image_id`` / ``caption_id``) and ``vectors`` (or the vector
  column's name); no pickles.
* ``.npy``: the vectors; their ids one a line in ``<stem>.ids.txt`` beside it.
* ``*-vectors.tsv``: the project's TensorBoard-projector export, with its ``*-metadata.tsv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import VectorsError
from ..files import MAX_DATASET_BYTES, check_regular, open_regular

ID_COLUMN = {"image": "image_id", "caption": "caption_id"}
EXPORT_MODALITY = {"image": "image", "caption": "text"}  # export.py's ``modality`` values


def read_vectors(path: str | Path, modality: str, column: str = "vector") -> tuple[list[str], np.ndarray]:
    """(ids as strings, vectors (n, d) float64) of ``modality`` ("image" / "caption") from ``path``."""
    path = Path(path)
    check_regular(path, MAX_DATASET_BYTES, VectorsError, "vectors")
    name = path.name.lower()
    if name.endswith(".parquet"):
        ids, rows = _parquet(path, modality, column)
    elif name.endswith(".npz"):
        ids, rows = _npz(path, modality, column)
    elif name.endswith(".npy"):
        ids, rows = _npy(path)
    elif name.endswith("-vectors.tsv"):
        ids, rows = _projector(path, modality)
    else:
        raise VectorsError(f"{path}: unknown vectors format; give a .parquet, .npz, .npy (+ .ids.txt) or an "
                           "export's -vectors.tsv")
    vecs = _matrix(rows, path)
    if len(ids) != len(vecs):
        raise VectorsError(f"{path}: {len(ids)} ids but {len(vecs)} vectors")
    return [str(i) for i in ids], vecs


def _matrix(rows, path: Path) -> np.ndarray:
    """Rows of numbers -> one (n, d) float64 matrix; ragged or non-numeric rows are refused."""
    try:
        if isinstance(rows, list):  # Parquet: one list or array a row
            m = np.stack([np.asarray(r, dtype=np.float64) for r in rows]) if rows else np.empty((0, 0))
        else:
            m = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError) as e:
        raise VectorsError(f"{path}: the vectors are not one number matrix (rows of different lengths, or "
                           f"not numbers): {str(e)[:100]}") from None
    if m.ndim != 2:
        raise VectorsError(f"{path}: expected one vector a row (a 2-D array), got shape {m.shape}")
    return m


def _parquet(path: Path, modality: str, column: str) -> tuple[list, list]:
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise VectorsError(f"{path}: not a readable Parquet file ({type(e).__name__}: {str(e)[:100]})") from None
    if "modality" in df.columns:  # the project's export: both modalities in one file
        df = df[df["modality"] == EXPORT_MODALITY[modality]]
    _need_columns(path, list(df.columns), [ID_COLUMN[modality], column])
    return df[ID_COLUMN[modality]].tolist(), df[column].tolist()


def _need_columns(path: Path, have: list[str], want: list[str]) -> None:
    missing = [c for c in want if c not in have]
    if missing:
        raise VectorsError(f"{path}: no column {', '.join(repr(c) for c in missing)} (it has "
                           f"{', '.join(map(repr, have[:12])) or 'none'}); name the vector column with --column")


def _npz(path: Path, modality: str, column: str) -> tuple[list, np.ndarray]:
    try:
        with open_regular(path, MAX_DATASET_BYTES, VectorsError) as f, np.load(f, allow_pickle=False) as z:
            keys = list(z.files)
            id_key = next((k for k in ("ids", ID_COLUMN[modality]) if k in keys), "ids")
            vec_key = next((k for k in ("vectors", column) if k in keys), column)
            _need_columns(path, keys, [id_key, vec_key])
            return z[id_key].tolist(), z[vec_key]
    except VectorsError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated zip, object arrays (pickles refused)
        raise VectorsError(f"{path}: not a readable .npz of plain arrays ({type(e).__name__}: {str(e)[:100]})") from None


def _npy(path: Path) -> tuple[list, np.ndarray]:
    ids_file = path.with_name(path.name[:-4] + ".ids.txt")
    if not ids_file.is_file():
        raise VectorsError(f"{path}: a .npy holds no ids; put them one a line in {ids_file.name} beside it")
    try:
        with open_regular(path, MAX_DATASET_BYTES, VectorsError) as f:
            vecs = np.load(f, allow_pickle=False)
    except VectorsError:
        raise
    except Exception as e:  # noqa: BLE001
        raise VectorsError(f"{path}: not a readable .npy of numbers ({type(e).__name__}: {str(e)[:100]})") from None
    with open_regular(ids_file, MAX_DATASET_BYTES, VectorsError) as f:
        ids = [ln.strip() for ln in f.read().decode("utf-8", errors="replace").splitlines() if ln.strip()]
    return ids, vecs


def _projector(path: Path, modality: str) -> tuple[list, np.ndarray]:
    import pandas as pd

    meta = path.with_name(path.name[: -len("-vectors.tsv")] + "-metadata.tsv")
    if not meta.is_file():
        raise VectorsError(f"{path}: its metadata file {meta.name} is not beside it (export writes both)")
    try:
        vecs = np.loadtxt(path, delimiter="\t", ndmin=2)
        df = pd.read_csv(meta, sep="\t", dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001
        raise VectorsError(f"{path}: not a readable projector export ({type(e).__name__}: {str(e)[:100]})") from None
    _need_columns(meta, list(df.columns), ["modality", ID_COLUMN[modality]])
    if len(df) != len(vecs):
        raise VectorsError(f"{meta}: {len(df)} rows but {path.name} has {len(vecs)} vectors")
    keep = (df["modality"] == EXPORT_MODALITY[modality]).to_numpy()
    return df[ID_COLUMN[modality]][keep].tolist(), vecs[keep]
