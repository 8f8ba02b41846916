"""Run folders moved and locked safely (leaf module: ``errors`` only, so ``run.list_runs`` can use it).

- ``RunLock``: a lock file beside the folder (``.NAME.lock``, holding the owner's pid) with an
  ``flock`` on it. The kernel drops the ``flock`` when its process dies, so a lock file left by a
  killed trainer is stale and taken over; a live one is refused, naming its pid. The file is opened
  with ``O_NOFOLLOW`` and must be a plain file of its own: a symlink planted there is never followed.
- ``promote``: moves a finished staging folder into place in one atomic swap where the file
  system can; ``recover`` repairs a move interrupted between two renames elsewhere.
- ``stale_siblings``: hidden staging / old / build folders whose process is gone are removed.
- ``staged_run``: a run written whole in a hidden staging folder and promoted only when complete
  (``import``, ``reference --save``), as the trainer does.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import os
import shutil
import socket
import stat
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import XmrError


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
            fd = self._open()
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

    def _open(self) -> int:
        """The lock file, never through a symbolic link (``O_NOFOLLOW``) and only a plain file of ours
        (not a FIFO or device, not a hard link to another file): its text is overwritten."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise XmrError(f"{self.path}: the run's lock file is a symbolic link; refusing to follow it "
                               "(remove it)") from None
            raise XmrError(f"{self.run_dir}: cannot write in its folder ({e.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise XmrError(f"{self.path}: the run's lock file is not a plain file of its own (a FIFO, device or "
                           "hard link); refusing to write it (remove it)")
        os.set_blocking(fd, True)
        return fd

    def __exit__(self, *exc: Any) -> None:
        if self.fd >= 0:
            self.path.unlink(missing_ok=True)  # before closing: nobody can take a lock on a dead inode
            os.close(self.fd)
            self.fd = -1


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def promote(staging: Path, run_dir: Path) -> None:
    """Move the staging folder to ``run_dir``; an old run there (``--overwrite``) goes only now.

    One atomic swap where the file system can (Linux ``RENAME_EXCHANGE``): a kill at any point
    leaves the old run or the new one in place. Elsewhere two renames, and a kill between them is
    repaired by the next ``recover`` (``list_runs``, the next training of that name).
    """
    if run_dir.exists() and _exchange(staging, run_dir):
        shutil.rmtree(staging, ignore_errors=True)  # it holds the old run now
        return
    old = None
    if run_dir.exists():
        old = run_dir.parent / f".{run_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(run_dir, old)
    os.rename(staging, run_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_of(folder: Path) -> int | None:
    try:
        return int(folder.name.rsplit("-", 2)[-2])
    except (ValueError, IndexError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_siblings(run_dir: Path, kind: str) -> list[Path]:
    """Remove hidden ``.NAME.<kind>-PID-*`` folders beside ``run_dir`` whose process is gone
    (``new``: a training killed before its first checkpoint; ``old``: a replaced run; ``build``: a
    demo build); returns what was removed."""
    gone = []
    for p in run_dir.parent.glob(f".{glob.escape(run_dir.name)}.{kind}-*"):
        if p.is_dir() and not p.is_symlink() and not _alive(_pid_of(p)):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def recover(run_dir: Path) -> str | None:
    """Repair a move interrupted between its two renames (``run_dir`` gone, its ``.old-`` copy
    beside it): the new run goes in if it was complete, else the old one goes back. Then stale
    staging folders are removed. Call with the run's lock held. Returns what was done, if anything."""
    done = None
    olds = [p for p in run_dir.parent.glob(f".{glob.escape(run_dir.name)}.old-*") if not _alive(_pid_of(p))]
    if not run_dir.exists() and olds:
        news = sorted((p for p in run_dir.parent.glob(f".{glob.escape(run_dir.name)}.new-*")
                       if not _alive(_pid_of(p)) and (p / "model.pt").is_file() and (p / "last.pt").is_file()),
                      key=lambda p: p.stat().st_mtime)
        src = news[-1] if news else max(olds, key=lambda p: p.stat().st_mtime)
        os.rename(src, run_dir)
        done = f"{run_dir}: restored from {src.name} (a replacement was interrupted)"
    for kind in ("new", "old"):
        stale_siblings(run_dir, kind)
    return done


@contextmanager
def staged_run(run_dir: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh hidden staging folder beside ``run_dir``; when the block ends without an error
    it is promoted to ``run_dir`` (the old run goes only then), else removed: nothing half-written
    is ever listed. The run's lock is held throughout; an existing run is refused unless ``overwrite``."""
    with RunLock(run_dir):
        if os.path.lexists(run_dir) and not overwrite:
            raise XmrError(f"{run_dir}: a run of that name exists; choose another name, or pass --overwrite "
                           "to replace it")
        if os.path.lexists(run_dir) and (run_dir.is_symlink() or not run_dir.is_dir()):
            raise XmrError(f"{run_dir}: is not a run folder (a file or a link); refusing to replace it")
        stale_siblings(run_dir, "new")
        staging = run_dir.parent / f".{run_dir.name}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        promote(staging, run_dir)
