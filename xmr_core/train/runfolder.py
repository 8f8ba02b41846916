"""A run folder's life: never overwritten by accident, one trainer at a time, a new run moved in whole.

- ``RunLock``: a lock file beside the folder (``.NAME.lock``, holding the owner's pid) with an
  ``flock`` on it. The kernel drops the ``flock`` when its process dies, so a lock file left by a
  killed trainer is stale and taken over; a live one is refused, naming its pid.
- ``prepare``: refuses to train into a folder that holds a run unless resuming (which needs
  ``last.pt``) or overwriting; a new run is written to a hidden staging folder beside it.
- ``promote``: moves the staging folder into place once its first checkpoint exists, so a run
  that fails early leaves the old bundle untouched.
- ``clear_derived``: evaluation outputs describe the old weights; removed when the weights change.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import XmrError

# Files that make a folder a run (any one of them: a half-written run counts too).
BUNDLE_FILES = ("config.json", "model.pt", "last.pt", "vectors.bin", "encoder.json", "train_log.csv")
# Written by evaluation from model.pt: stale once the weights change.
DERIVED = ("metrics.json", "metrics", "report.md", "embeddings", "tsne", "export")


def lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


class RunLock:
    """Exclusive right to train into ``run_dir`` while held (a context manager)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.path, self.fd = run_dir, lock_path(run_dir), -1

    def __enter__(self) -> "RunLock":
        try:
            self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise XmrError(f"{self.run_dir}: cannot create the folder for it ({e.strerror})") from None
        for _ in range(5):  # a holder may unlink the file between our open and flock: retry
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise XmrError(f"{self.run_dir}: cannot write in its folder ({e.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").split()
                os.close(fd)
                raise XmrError(f"{self.run_dir}: another training (pid {owner[0] if owner else '?'}) is writing "
                               f"this run (lock {self.path}); wait for it, or stop it") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {int(time.time())}\n".encode(), 0)
                self.fd = fd
                return self
            os.close(fd)
        raise XmrError(f"{self.run_dir}: could not take the lock {self.path}; try again")

    def __exit__(self, *exc: Any) -> None:
        if self.fd >= 0:
            self.path.unlink(missing_ok=True)  # before closing: nobody can take a lock on a dead inode
            os.close(self.fd)
            self.fd = -1


def holds_run(run_dir: Path) -> bool:
    return any((run_dir / f).exists() for f in BUNDLE_FILES)


def prepare(run_dir: Path, resume: bool, overwrite: bool) -> Path:
    """The folder to write into: ``run_dir`` itself on resume, else a new staging folder beside it."""
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


def promote(staging: Path, run_dir: Path) -> None:
    """Move the staging folder to ``run_dir``; an old run there (``--overwrite``) goes only now."""
    old = None
    if run_dir.exists():
        old = run_dir.parent / f".{run_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(run_dir, old)
    os.rename(staging, run_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
