"""``python -m xmr_core import``: someone's image and caption vectors of one split as an ``embeddings`` run.

    python -m xmr_core import --name clip-f8k --images img.parquet --captions cap.parquet \\
        --dataset dataset_flickr8k.json --images-dir images --split test

The vectors (``vector_files.py``) are checked against the dataset's split before anything is
written: every id known, none missing or twice, one dimension on both sides, no NaN / infinite or
zero rows. They are normalised as ``--normalise`` says (the app searches unit vectors), stored in
the layout a network run caches its own in, with word vectors for the relevance model, in a hidden
staging folder promoted to ``checkpoints/NAME`` only when complete (``folders.staged_run``). Then
the run is evaluated like any other (metrics.json, report.md), unless told not to.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VectorsError

NORMALISE = ("l2", "none")


@dataclass
class ImportConfig:
    """What ``import`` reads and how (each field is the flag of the same name)."""

    images: str                      # file of image vectors (ids: image_id)
    captions: str                    # file of caption vectors (ids: caption_id); may be the same export file
    dataset: str                     # the dataset the ids belong to ('demo', a Karpathy / COCO JSON, a CSV)
    split: str = "test"              # the split the vectors cover, all of it
    images_dir: str | None = None    # folder the dataset's image files are relative to
    column: str = "vector"           # the vector column of a Parquet file (or array of an .npz)
    normalise: str = "l2"            # "l2": each row scaled to unit length; "none": rows must be unit already
    vectors: str | None = None       # word2vec file for the relevance model (default: fitted on the train captions)
    skip_missing: bool = False       # leave out dataset images whose files are missing
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in config.json's embeddings section

    def __post_init__(self) -> None:
        if self.normalise not in NORMALISE:
            raise VectorsError(f"--normalise {self.normalise!r}: must be one of {', '.join(NORMALISE)}")


def aligned(ids: list[str], vecs: np.ndarray, want: list[str], what: str, where: str, normalise: str) -> np.ndarray:
    """``vecs`` in the dataset's order of ``want`` ids, checked and normalised (float32)."""
    pos = {}
    for i, x in enumerate(ids):
        if x in pos:
            raise VectorsError(f"{where}: {what} id {x!r} has two vectors (rows {pos[x]} and {i})")
        pos[x] = i
    known = set(want)
    unknown = [x for x in ids if x not in known]
    if unknown:
        raise VectorsError(f"{where}: {len(unknown)} {what} id(s) are not in the split (e.g. "
                           f"{', '.join(map(repr, unknown[:3]))}): is it the right --dataset and --split?")
    missing = [x for x in want if x not in pos]
    if missing:
        raise VectorsError(f"{where}: {len(missing)} of the split's {len(want)} {what}s have no vector (e.g. "
                           f"{', '.join(map(repr, missing[:3]))}); import vectors of the whole split")
    m = vecs[[pos[x] for x in want]]
    bad = ~np.isfinite(m).all(axis=1)
    if bad.any():
        raise VectorsError(f"{where}: {int(bad.sum())} {what} vector(s) hold NaN or infinite values (e.g. id "
                           f"{want[int(np.argmax(bad))]!r})")
    norms = np.linalg.norm(m, axis=1)
    zero = norms <= 1e-12
    if zero.any():
        raise VectorsError(f"{where}: {int(zero.sum())} {what} vector(s) are all zeros (e.g. id "
                           f"{want[int(np.argmax(zero))]!r}): a zero vector has no direction to search by")
    if normalise == "none" and np.abs(norms - 1).max() > 1e-3:
        raise VectorsError(f"{where}: {what} vectors are not unit length (norms {norms.min():.3f}..{norms.max():.3f}) "
                           "and --normalise none keeps them as they are; use --normalise l2")
    # Rows already of unit length are kept bit for bit (an export imported back ranks exactly as its run);
    # dividing them by a norm of 1 +- 1e-7 would move ties deep in a ranking.
    keep = (np.abs(norms - 1) <= 1e-6) | (normalise == "none")
    return (m / np.where(keep, 1.0, norms)[:, None]).astype(np.float32)


def _sha(img: np.ndarray, cap: np.ndarray, img_ids: list[str], cap_ids: list[str]) -> str:
    h = hashlib.sha256()
    for part in (img.tobytes(), cap.tobytes(), "\n".join(img_ids).encode(), "\n".join(cap_ids).encode()):
        h.update(part)
    return h.hexdigest()


def checked_vectors(cfg: ImportConfig, ds) -> tuple[np.ndarray, np.ndarray]:
    """(image vectors, caption vectors) of the split ``ds``, in its order, checked and normalised."""
    from .vector_files import read_vectors

    img_ids = [im.image_id for im in ds.images]
    cap_ids = [c.caption_id for c in ds.captions]
    a, b = read_vectors(cfg.images, "image", cfg.column), read_vectors(cfg.captions, "caption", cfg.column)
    if a[1].shape[1] != b[1].shape[1]:
        raise VectorsError(f"{cfg.images}: image vectors are {a[1].shape[1]}-d but {cfg.captions}'s caption "
                           f"vectors are {b[1].shape[1]}-d: one space needs one dimension")
    if a[1].shape[1] < 2:
        raise VectorsError(f"{cfg.images}: vectors of dimension {a[1].shape[1]}; an embedding space needs 2 or more")
    return (aligned(*a, img_ids, "image", cfg.images, cfg.normalise),
            aligned(*b, cap_ids, "caption", cfg.captions, cfg.normalise))


def _word_vectors(cfg: ImportConfig, full):
    """The relevance model's word vectors: ``--vectors``, else Word2Vec on the dataset's train captions."""
    from ..config import EncodingConfig
    from ..text.vectors import load_vectors, train_word2vec

    if cfg.vectors:
        return load_vectors(cfg.vectors)
    fit_on = full.split("train") if "train" in full.splits else full.split(cfg.split)
    return train_word2vec([c.text for c in fit_on.captions], EncodingConfig())


def import_run(cfg: ImportConfig, run_dir: str | Path, overwrite: bool = False, evaluate: bool = True) -> Path:
    """Check the vectors, write the ``embeddings`` run ``run_dir`` whole, evaluate it; returns its path."""
    from ..data import load_dataset
    from ..evaluation.split_embeddings import dataset_key
    from ..files import atomic_file
    from ..text.vectors import save_vectors
    from .folders import staged_run
    from .run import write_bundle_meta

    run_dir = Path(run_dir)
    full = load_dataset(cfg.dataset, cfg.images_dir, cfg.skip_missing)
    ds = full.split(cfg.split)
    img, cap = checked_vectors(cfg, ds)  # every check before anything is written
    sha = _sha(img, cap, [im.image_id for im in ds.images], [c.caption_id for c in ds.captions])
    kv = _word_vectors(cfg, full)
    key = dataset_key(cfg.dataset, ds.name)
    with staged_run(run_dir, overwrite) as staging:
        write_bundle_meta(staging, {
            "kind": "embeddings", "recipe": "imported",
            "dataset": {"spec": cfg.dataset, "images_dir": cfg.images_dir, "name": ds.name},
            "embeddings": {"splits": [cfg.split], "dim": int(img.shape[1]), "normalise": cfg.normalise,
                           "sha256": sha, "images": str(Path(cfg.images).resolve()),
                           "captions": str(Path(cfg.captions).resolve()),
                           "relevance_vectors": str(Path(cfg.vectors).resolve()) if cfg.vectors else
                           "Word2Vec fitted on the dataset's train captions", **cfg.extra}})
        save_vectors(kv, staging / "vectors.bin")
        (staging / "embeddings").mkdir()
        with atomic_file(staging / "embeddings" / f"{key}-{cfg.split}.npz") as f:
            np.savez(f, images=img, captions=cap, **_records(ds, key, cfg.split, sha))
    if evaluate:
        from ..evaluation.evaluate import evaluate_run

        evaluate_run(run_dir, split=cfg.split)
    return run_dir


def _records(ds, key: str, split: str, sha: str) -> dict[str, np.ndarray]:
    """The arrays an embeddings file holds besides the vectors (``split_embeddings``'s layout)."""
    return dict(image_ids=np.array([im.image_id for im in ds.images], dtype=str),
                image_paths=np.array([str(im.path) for im in ds.images], dtype=str),
                caption_ids=np.array([c.caption_id for c in ds.captions], dtype=str),
                caption_text=np.array([c.text for c in ds.captions], dtype=str),
                caption_image=np.asarray(ds.caption_image_index(), dtype=np.int64),
                dataset=np.array(key), split=np.array(split), fingerprint=np.array(sha[:16]),
                weights=np.array(sha))


__all__ = ["ImportConfig", "import_run", "checked_vectors", "aligned"]
