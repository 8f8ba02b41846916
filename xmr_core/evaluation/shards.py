"""A split embedded in shards, by one process or by every rank of ``torchrun`` (issue 24).

    torchrun --nproc_per_node 2 -m xmr_core embed --run checkpoints/NAME --dataset DATA --split test
    torchrun --nproc_per_node 2 -m xmr_core evaluate --run checkpoints/NAME

The split's images, then its captions, are cut into shards of ``shard_items`` items (a multiple of
the embedder's batch size, so every batch is the batch one process would run: the merged vectors
equal the single-process ones). Rank ``r`` of ``W`` embeds shards ``r, r + W, ...`` and writes each
atomically (``files.atomic_file``) to ``embeddings/.shards/<key>-<split>-<fingerprint>/``; a shard
already there (right shape, finite) is skipped, so an interrupted embed resumes, with any number of
processes. When every shard is written, rank 0 merges them, shard by shard, into the ``npy`` layout
of ``split_embeddings.py`` (``<stem>.images.npy``, ``<stem>.captions.npy``, then the ``.npz`` of records
last, which marks the split done) and removes the shards. Only the ranks' barriers go through
torch.distributed (``train/distributed.py``, gloo: no tensor is exchanged).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np

from ..data import Dataset
from ..files import atomic_file, atomic_path
from ..train.distributed import barrier, init_from_env, shutdown, world
from .split_embeddings import (Progress, cached, dataset_key, embed_dataset, embed_split, embeddings_path,
                               fingerprint, record_arrays, vectors_file)

# Items a shard (rounded down to a multiple of the batch size): a killed process loses at most this.
# ``$XMR_SHARD_ITEMS`` overrides it (tests use small shards).
SHARD_ITEMS = int(os.environ.get("XMR_SHARD_ITEMS", "4096") or 4096)
# One process embeds splits with more items than this through shards too (resumable, memory-mapped).
SHARD_THRESHOLD = 50_000
KINDS = ("images", "captions")


def shard_ranges(n: int, size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in pieces of ``size`` (the last may be shorter)."""
    return [(a, min(n, a + size)) for a in range(0, n, max(1, size))]


def shard_size(batch_size: int, shard_items: int = SHARD_ITEMS) -> int:
    """``shard_items`` rounded down to a multiple of ``batch_size`` (at least one batch)."""
    return max(batch_size, shard_items // batch_size * batch_size)


def shard_folder(run, ds: Dataset, spec: str, split: str, fp: str) -> Path:
    return Path(run.path) / "embeddings" / ".shards" / f"{dataset_key(spec, ds.name)}-{split}-{fp}"


def shard_file(folder: Path, kind: str, i: int) -> Path:
    return folder / f"{kind}-{i:06d}.npy"


def _shard_ok(path: Path, rows: int, dim: int) -> bool:
    """Whether ``path`` holds a finished shard: ``(rows, dim)`` float32, finite."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
        return a.dtype == np.float32 and a.shape == (rows, dim) and bool(np.isfinite(a).all())
    except (OSError, ValueError):
        return False


def _items(ds: Dataset, kind: str, a: int, b: int) -> SimpleNamespace:
    """A view of ``ds`` holding only items ``a:b`` of ``kind`` (what ``embed_dataset`` reads)."""
    if kind == "images":
        return SimpleNamespace(images=ds.images[a:b], captions=[])
    return SimpleNamespace(images=[], captions=ds.captions[a:b])


def embed_shards(run, ds: Dataset, folder: Path, shard_items: int = SHARD_ITEMS,
                 progress: Progress | None = None) -> dict[str, int]:
    """Embed this rank's shards that are not already in ``folder``; ``{"embedded": n, "skipped": m}``."""
    rank, size = world()
    emb = run.embedder
    step = shard_size(int(emb.batch_size), shard_items)
    mine = [(kind, i, a, b) for kind, n in (("images", len(ds.images)), ("captions", len(ds.captions)))
            for i, (a, b) in enumerate(shard_ranges(n, step)) if i % size == rank]
    folder.mkdir(parents=True, exist_ok=True)
    done = {"embedded": 0, "skipped": 0}
    for j, (kind, i, a, b) in enumerate(mine):
        path = shard_file(folder, kind, i)
        if _shard_ok(path, b - a, emb.dim):
            done["skipped"] += 1
            continue
        img, cap = embed_dataset(run, _items(ds, kind, a, b), batch_size=emb.batch_size)  # type: ignore[arg-type]
        with atomic_file(path) as f:
            np.save(f, img if kind == "images" else cap)
        done["embedded"] += 1
        if progress:
            progress((j + 1) / len(mine), f"rank {rank}: {kind} {a}-{b} ({j + 1}/{len(mine)} shards)")
    return done


def merge_shards(run, ds: Dataset, spec: str, split: str, folder: Path, fp: str,
                 shard_items: int = SHARD_ITEMS) -> Path:
    """Rank 0: the shards into the split's ``npy`` layout (one shard in memory at a time); the
    ``.npz`` of records is written last. Returns the ``.npz`` path."""
    emb = run.embedder
    step = shard_size(int(emb.batch_size), shard_items)
    path = embeddings_path(run, ds, spec, split)
    for kind, n in (("images", len(ds.images)), ("captions", len(ds.captions))):
        ranges = shard_ranges(n, step)
        missing = [i for i, (a, b) in enumerate(ranges) if not _shard_ok(shard_file(folder, kind, i), b - a, emb.dim)]
        if missing:
            raise RuntimeError(f"{folder}: {kind} shards {missing[:5]} are missing or damaged; run the embed again "
                               "(finished shards are kept)")
        with atomic_path(vectors_file(path, kind)) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, emb.dim))
            for i, (a, b) in enumerate(ranges):
                out[a:b] = np.load(shard_file(folder, kind, i), mmap_mode="r")
            out.flush()
            del out
    with atomic_file(path) as f:
        np.savez(f, layout=np.array("npy"), **record_arrays(run, ds, spec, split, fp))
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()  # .shards/, when no other split is half done
    except OSError:
        pass
    return path


def _bar(split: str, progress: Progress | bool | None) -> tuple[Progress | None, Callable[[], None]]:
    if progress is not True:
        return (progress if callable(progress) else None), lambda: None
    from ..progress import progress_bar, set_fraction

    bar = progress_bar(total=100, desc=f"embed {split}", unit="%")
    return (lambda frac, msg: set_fraction(bar, frac, msg)), bar.close


def embed_split_sharded(run, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
                        skip_missing: bool = False, force: bool = False, progress: Progress | bool | None = None,
                        ds: Dataset | None = None, shard_items: int = SHARD_ITEMS) -> Path:
    """``embed_split`` through shards: every rank embeds its shards, rank 0 merges; every rank returns
    the ``.npz`` path once the merge is done. Cached like ``embed_split`` (by fingerprint)."""
    spec = dataset or run.dataset_spec
    if ds is None:
        full = run.dataset(dataset, images_dir, skip_missing) if dataset else run.dataset()
        ds = full.split(split)
    path = embeddings_path(run, ds, spec, split)
    fp = fingerprint(run, ds)
    rank, _ = world()
    if path.exists() and not force and cached(path, ds, fp, run.embedder.dim):
        return path
    barrier()  # every rank has looked at the cache before rank 0 may replace it
    folder = shard_folder(run, ds, spec, split, fp)
    if force and rank == 0:
        shutil.rmtree(folder, ignore_errors=True)
    barrier()
    report, close = _bar(split, progress if rank == 0 else None)
    embed_shards(run, ds, folder, shard_items, report)
    close()
    barrier()
    if rank == 0:
        merge_shards(run, ds, spec, split, folder, fp, shard_items)
    barrier()
    return path


def embed_any(run, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
              skip_missing: bool = False, force: bool = False, progress: Progress | bool | None = None,
              ds: Dataset | None = None) -> Path:
    """The split's embeddings file: through shards under torchrun or for a split of more than
    :data:`SHARD_THRESHOLD` items, else ``embed_split`` (one ``.npz``)."""
    if ds is None:
        full = run.dataset(dataset, images_dir, skip_missing) if dataset else run.dataset()
        ds = full.split(split)
    if world()[1] > 1 or len(ds.images) + len(ds.captions) > SHARD_THRESHOLD:
        return embed_split_sharded(run, dataset, split, images_dir, skip_missing, force, progress, ds)
    return embed_split(run, dataset, split, images_dir, skip_missing, force, progress, ds)


def torchrun_world() -> int:
    """The world size torchrun describes in the environment (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def embed_on_every_rank(run_path: str, dataset: str | None, split: str, images_dir: str | None,
                        skip_missing: bool, force: bool = False) -> tuple[int, Path | None]:
    """Under torchrun: join the group (gloo; each rank on its own GPU where there are GPUs), embed the
    split sharded, leave the group; ``(rank, path)``. Outside torchrun: ``(0, None)``, nothing done."""
    if torchrun_world() <= 1:
        return 0, None
    import torch

    from ..bundle.run import load_run

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    init_from_env("cpu")  # gloo: the ranks only meet at barriers
    try:
        rank = world()[0]
        path = embed_split_sharded(load_run(run_path), dataset, split, images_dir, skip_missing, force,
                                   progress=True)
    finally:
        shutdown()
    return rank, path
