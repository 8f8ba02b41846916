"""A run folder's life: never overwritten by accident, one trainer at a time, a new run moved in whole.

- ``RunLock`` (``xmr_core/folders.py``): one trainer a folder at a time; the lock file is never
  followed through a symlink.
- ``prepare``: refuses to train into a folder that holds a run unless resuming (which needs
  ``last.pt``) or overwriting; a new run is written to a hidden staging folder beside it.
- ``promote`` (``folders.py``): moves the staging folder into place once its first checkpoint
  exists (one atomic swap), so a run that fails early leaves the old bundle untouched; ``recover``
  repairs an interrupted move and removes stale staging folders.
- ``clear_derived``: evaluation outputs describe the old weights; removed when the weights change.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..errors import XmrError
from ..bundle.folders import RunLock, lock_path, promote, recover, stale_siblings  # noqa: F401 - re-exported

# Files that make a folder a run (any one of them: a half-written run counts too).
BUNDLE_FILES = ("config.json", "model.pt", "last.pt", "vectors.bin", "encoder.json", "train_log.csv")
# Written by evaluation from model.pt: stale once the weights change.
DERIVED = ("metrics.json", "metrics", "report.md", "embeddings", "tsne", "export")


def holds_run(run_dir: Path) -> bool:
    return any((run_dir / f).exists() for f in BUNDLE_FILES)


def prepare(run_dir: Path, resume: bool, overwrite: bool) -> Path:
    """The folder to write into: ``run_dir`` itself on resume, else a new staging folder beside it.
    Called with the run's lock held: an interrupted replacement is repaired and stale staging
    folders are removed first (``recover``)."""
    recover(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise XmrError(f"{run_dir}: is a file, not a run folder")
    if resume:
        if not (run_dir / "last.pt").is_file():
            raise XmrError(f"{run_dir}: nothing to resume (no last.pt: the run never started, or its training "
                           "state was removed); train a new run with another --name, or use --overwrite")
        return run_dir
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not holds_run(run_dir):
            raise XmrError(f"{run_dir}: the folder is not empty and holds no run; choose another --name / --out")
        if not overwrite:
            raise XmrError(f"{run_dir}: holds a trained run; continue it with --resume, replace it with "
                           "--overwrite, or choose another --name")
    staging = run_dir.parent / f".{run_dir.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
    except OSError as e:
        raise XmrError(f"{run_dir}: cannot create a folder beside it ({e.strerror})") from None
    return staging


def abandon(staging: Path) -> None:
    """Remove a staging folder whose run never reached its first checkpoint."""
    shutil.rmtree(staging, ignore_errors=True)


def clear_derived(run_dir: Path) -> list[str]:
    """Remove evaluation outputs of the old weights; returns what was removed."""
    gone = []
    for name in DERIVED:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            gone.append(name)
        elif p.exists():
            p.unlink(missing_ok=True)
            gone.append(name)
    return gone
