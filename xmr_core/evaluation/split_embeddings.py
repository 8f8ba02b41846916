"""Embed every image and caption of a split into the run: ``embeddings/<dataset>-<split>.npz``.

The file holds unit float32 vectors, ids, the caption -> image map, caption
texts and image paths (unicode arrays, no pickle), plus a fingerprint of the
weights and the data: it is recomputed only when either changed. Large or sharded splits
(``shards.py``) keep the vectors beside it instead (``layout`` "npy": ``<stem>.images.npy`` and
``<stem>.captions.npy``), memory-mapped when loaded.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..data import Dataset
from ..data.images import read_image
from ..errors import RunError
from ..files import MAX_DATASET_BYTES, atomic_file, file_sha256, notice, open_regular

# progress(fraction 0..1, message)
Progress = Callable[[float, str], None]


@dataclass
class SplitEmbeddings:
    """A split's embeddings and the records that go with them (rows align)."""

    images: np.ndarray          # (N_i, d) unit float32
    captions: np.ndarray        # (N_c, d) unit float32
    image_ids: np.ndarray       # (N_i,) str
    image_paths: np.ndarray     # (N_i,) str
    caption_ids: np.ndarray     # (N_c,) str
    caption_text: np.ndarray    # (N_c,) str
    caption_image: np.ndarray   # (N_c,) int64: row of each caption's image
    dataset: str
    split: str
    path: Path | None = None
    weights: str = ""           # SHA-256 of the model.pt they came from ("" in files older than that)

    def captions_of(self, image_row: int) -> np.ndarray:
        """Caption rows of one image."""
        return np.nonzero(self.caption_image == image_row)[0]


def dataset_key(spec: str, name: str) -> str:
    """A short file-name-safe key for a dataset: ``demo``, ``flickr8k``, ``coco-val2017``..."""
    if spec.startswith("demo"):
        return spec.replace(":", "-")
    base = name or Path(spec).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-") or "dataset"


def weights_sha256(run) -> str:
    """SHA-256 of the weights the run was loaded from (``Run.weights_sha256``; else of model.pt now)."""
    return getattr(run, "weights_sha256", "") or file_sha256(Path(run.path) / "model.pt")


def fingerprint(run, ds: Dataset) -> str:
    # By content, not mtime: a fresh clone (new mtimes) still reuses the committed embeddings.
    h = hashlib.sha256()
    h.update(weights_sha256(run).encode())
    h.update(file_sha256(Path(run.path) / "vectors.bin").encode())
    for im in ds.images:
        h.update(im.image_id.encode())
    for c in ds.captions:
        h.update(c.text.encode())
    return h.hexdigest()[:16]


def vectors_file(path: Path, key: str) -> Path:
    """Where the ``npy`` layout keeps a split's ``images`` / ``captions`` vectors beside its ``.npz``."""
    return path.with_name(f"{path.stem}.{key}.npy")


def stored_vectors(z, path: Path, key: str) -> np.ndarray:
    """``key``'s vectors of the opened ``.npz`` ``z``: inside it, or (layout "npy") memory-mapped from
    the regular file beside it (read-only; pages are read when touched)."""
    if "layout" not in z.files or str(z["layout"]) != "npy":
        return z[key]
    f = vectors_file(path, key)
    if not stat.S_ISREG(os.stat(f).st_mode):
        raise RunError(f"{f}: not a regular file")
    return np.load(f, mmap_mode="r", allow_pickle=False)


def _cache_problem(z, ds: Dataset, dim: int, path: Path) -> str | None:
    """Why a cached embeddings file does not fit ``ds`` (ids, shapes, dtype, finite unit vectors)."""
    ni, nc = len(ds.images), len(ds.captions)
    for key, n in (("images", ni), ("captions", nc)):
        a = stored_vectors(z, path, key)
        if a.dtype != np.float32 or a.shape != (n, dim):
            return f"'{key}' is {a.dtype} {a.shape}, expected float32 {(n, dim)}"
        if not np.isfinite(a).all():
            return f"'{key}' holds NaN or infinite values"
        if n and np.abs(np.linalg.norm(a, axis=1) - 1).max() > 1e-3:
            return f"'{key}' are not unit vectors"
    if z["image_ids"].tolist() != [im.image_id for im in ds.images]:
        return "its image ids are not the dataset's"
    if z["caption_ids"].tolist() != [c.caption_id for c in ds.captions]:
        return "its caption ids are not the dataset's"
    if z["caption_image"].tolist() != list(ds.caption_image_index()):
        return "its caption -> image map is not the dataset's"
    return None


def cached(path: Path, ds: Dataset, fp: str, dim: int) -> bool:
    """Whether ``path`` holds this split's embeddings of these weights; an unreadable or invalid
    file is reported in one line (and then recomputed)."""
    try:
        with open_regular(path, MAX_DATASET_BYTES) as f, np.load(f, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fp:
                return False  # other weights or data: recomputed without a word
            why = _cache_problem(z, ds, dim, path)
    except Exception as e:  # noqa: BLE001 - truncated zip (BadZipFile), bad header, missing keys: all unreadable
        why = f"unreadable ({type(e).__name__}: {str(e)[:80]})"
    if why:
        notice(f"{path}: cached embeddings {why}; recomputing them")
    return why is None


def embeddings_path(run, ds: Dataset, spec: str, split: str) -> Path:
    return Path(run.path) / "embeddings" / f"{dataset_key(spec, ds.name)}-{split}.npz"


def read_side(run) -> int:
    """The longest side a split's pictures are decoded at before the run's own resize (twice its input, at least
    256 px; a CCAEncoder has its own input size)."""
    return max(2 * (getattr(run.embedder, "image_size", None) or run.model_cfg.input_size), 256)


def embed_dataset(run, ds: Dataset, batch_size: int | None = None, progress: Progress | None = None,
                  workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(image vectors, caption vectors) of ``ds`` with the run's model, streamed in chunks.

    ``batch_size`` None = the embedder's measured default. Files of the next chunk are
    decoded in ``workers`` threads while the network runs (and inside a chunk the
    embedder prepares batch i+1 while it runs batch i).
    """
    emb = run.embedder
    bs = int(batch_size or emb.batch_size)
    chunk = bs * max(1, 256 // bs)  # progress about every 256 items
    n_i, n_c = len(ds.images), len(ds.captions)
    total = n_i + n_c
    side = read_side(run)
    img_vecs = np.empty((n_i, emb.dim), np.float32)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        def load(a: int):
            return list(pool.map(lambda im: read_image(im.path, max_side=side), ds.images[a:a + chunk]))

        fut = pool.submit(load, 0) if n_i else None
        for a in range(0, n_i, chunk):
            batch = fut.result()
            if a + chunk < n_i:
                fut = pool.submit(load, a + chunk)
            img_vecs[a:a + len(batch)] = emb.embed_images(batch, batch_size=bs)
            if progress:
                progress((a + len(batch)) / total, f"images {a + len(batch)}/{n_i}")
    texts = [c.text for c in ds.captions]
    cap_vecs = np.empty((n_c, emb.dim), np.float32)
    for a in range(0, n_c, chunk):
        cap_vecs[a:a + chunk] = emb.embed_texts(texts[a:a + chunk], batch_size=bs)
        if progress:
            progress((n_i + min(n_c, a + chunk)) / total, f"captions {min(n_c, a + chunk)}/{n_c}")
    return img_vecs, cap_vecs


def embed_split(run, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
                skip_missing: bool = False, force: bool = False, progress: Progress | bool | None = None,
                ds: Dataset | None = None) -> Path:
    """Embed a split into the run (cached by fingerprint) and return the ``.npz`` path."""
    spec = dataset or run.dataset_spec
    if ds is None:
        full = run.dataset(dataset, images_dir, skip_missing) if dataset else run.dataset()
        ds = full.split(split)
    path = embeddings_path(run, ds, spec, split)
    fp = fingerprint(run, ds)
    if path.exists() and not force and cached(path, ds, fp, run.embedder.dim):
        return path
    bar = None
    if progress is True:
        from ..progress import progress_bar, set_fraction

        bar = progress_bar(total=100, desc=f"embed {split}", unit="%")

        def progress(frac: float, msg: str) -> None:  # noqa: F811 - tqdm adapter
            set_fraction(bar, frac, msg)
    img, cap = embed_dataset(run, ds, progress=progress if callable(progress) else None)
    if bar is not None:
        bar.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        np.savez(f, images=img, captions=cap, **record_arrays(run, ds, spec, split, fp))
    return path


def record_arrays(run, ds: Dataset, spec: str, split: str, fp: str) -> dict[str, np.ndarray]:
    """Everything an embeddings file holds but the vectors: ids, paths, texts, the caption -> image
    map, the dataset key, the split, the fingerprint and the weights' SHA-256."""
    return dict(image_ids=np.array([im.image_id for im in ds.images], dtype=str),
                image_paths=np.array([str(im.path) for im in ds.images], dtype=str),
                caption_ids=np.array([c.caption_id for c in ds.captions], dtype=str),
                caption_text=np.array([c.text for c in ds.captions], dtype=str),
                caption_image=np.asarray(ds.caption_image_index(), dtype=np.int64),
                dataset=np.array(dataset_key(spec, ds.name)), split=np.array(split), fingerprint=np.array(fp),
                weights=np.array(weights_sha256(run)))


def load_embeddings(path: str | Path) -> SplitEmbeddings:
    """Read an embeddings file written by ``embed_split`` (``RunError`` if it cannot be read)."""
    path = Path(path)
    try:
        with open_regular(path, MAX_DATASET_BYTES) as f, np.load(f, allow_pickle=False) as z:
            return SplitEmbeddings(
                images=stored_vectors(z, path, "images"), captions=stored_vectors(z, path, "captions"), image_ids=z["image_ids"], image_paths=z["image_paths"],
                caption_ids=z["caption_ids"], caption_text=z["caption_text"], caption_image=z["caption_image"],
                dataset=str(z["dataset"]), split=str(z["split"]), path=path,
                weights=str(z["weights"]) if "weights" in z.files else "")
    except Exception as e:  # noqa: BLE001 - a file changed under us: one message, not a traceback
        raise RunError(f"{path}: cannot read the embeddings ({type(e).__name__}: {str(e)[:100]}); "
                       "recompute them with `python -m xmr_core embed --force`") from None
