"""Small, safe file primitives: writes that never destroy, bounded reads, fingerprints.

Leaf module (only ``errors``): the run bundle, the text encoder, the loaders, the trainer and the
CLI share these, so that

- every write goes to a uniquely named temp file in the same folder, is fsynced and renamed into
  place (``atomic_file`` / ``atomic_path``): on any failure (a full disk, a signal) the old file
  stays as it was and no half-written or 0-byte file remains; a folder, FIFO, device or socket is
  never replaced;
- an output the user names (``--out``) is replaced only if xmr wrote it (``check_output``);
- every read of an input is of a regular file within a size bound (``open_regular``): ``/dev/zero``,
  a FIFO or a symlink to either is refused before a byte is read;
- what a command wrote is recorded (``written``), so an interrupted command can say what it kept.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import uuid
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from .errors import XmrError

# A bundle's config.json / encoder.json is a few kB; 64 MB leaves room for any vocabulary scaling.
MAX_SMALL_JSON_BYTES = 64 * 1024 * 1024
# Dataset files: Karpathy's COCO JSON is ~150 MB, COCO's captions_train2017.json ~90 MB.
MAX_DATASET_BYTES = 2 * 1024 ** 3
# model.pt / last.pt: the full-width paper network is ~100 MB; 4 GB is far beyond any config's bound.
MAX_WEIGHTS_BYTES = 4 * 1024 ** 3
# An image file (a dataset's or an upload): a 64 MP photo is well under 100 MB.
MAX_IMAGE_FILE_BYTES = 256 * 1024 ** 2

_WRITTEN: list[Path] = []  # every file this process wrote (atomic writes), in order


def unique_tmp(path: Path) -> Path:
    """A temp name beside ``path``, unique to this process and call (two writers never share one)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _kind(mode: int) -> str:
    return ("folder" if stat.S_ISDIR(mode) else "symbolic link" if stat.S_ISLNK(mode) else
            "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else
            "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "file")


def refuse_special(path: Path) -> None:
    """Refuse to write over anything but a regular file or a symbolic link (which is replaced
    itself, never its target)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise XmrError(f"{path}: is a {_kind(mode)}, not a file; refusing to replace it")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp path beside ``path`` for a writer that wants a name; on success it is fsynced and
    renamed to ``path``; on any failure it is removed and ``path`` is untouched."""
    path = Path(path)
    refuse_special(path)
    tmp = unique_tmp(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    _WRITTEN.append(path)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """An open file that becomes ``path`` only when the block ends without an error."""
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: readers never see half a file."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file, fsync, then rename: a crash never leaves a corrupt file."""
    import torch

    with atomic_file(path, "wb") as f:
        torch.save(obj, f)


def written() -> list[Path]:
    """Files this process wrote that still exist (an interrupted command reports them as kept)."""
    seen, out = set(), []
    for p in _WRITTEN:
        if p not in seen and p.is_file():
            seen.add(p)
            out.append(p)
    return out


# ---- outputs the user names ------------------------------------------------------------------
OUTPUT_MARK = "xmr-output"  # PNG text key / Markdown comment that says which command wrote a file


def _png_mark(head: bytes) -> str | None:
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    key = OUTPUT_MARK.encode() + b"\x00"
    i = head.find(b"tEXt" + key)
    if i < 0:
        return None
    n = int.from_bytes(head[i - 4:i], "big") - len(key)
    return head[i + 4 + len(key):i + 4 + len(key) + max(0, n)].decode("latin-1")


def output_mark(path: Path) -> str | None:
    """The command kind xmr stamped into an output file (a PNG text chunk or a first Markdown line)."""
    try:
        with open_regular(path, MAX_IMAGE_FILE_BYTES, what="output") as f:
            head = f.read(1 << 16)
    except XmrError:
        return None
    mark = _png_mark(head)
    if mark is None and head.startswith(b"<!-- " + OUTPUT_MARK.encode() + b": "):
        mark = head.split(b"\n", 1)[0][len(OUTPUT_MARK) + 7:].split(b" ", 1)[0].decode("latin-1")
    return mark


def check_output(path: str | Path | None, kind: str, force: bool = False) -> None:
    """Refuse an existing ``--out`` that xmr's ``kind`` command did not write (unless ``force``);
    never anything but a regular file, even with ``force``."""
    if not path:
        return
    p = Path(path)
    try:
        mode = os.lstat(p).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise XmrError(f"{p}: is a {_kind(mode)}, not a file xmr wrote; refusing to replace it "
                       "(remove it, or choose another --out)")
    if not force and output_mark(p) != kind:
        raise XmrError(f"{p}: exists and is not a {kind} output written by xmr; refusing to replace it "
                       "(choose another --out, or pass --force to replace it)")


def markdown_mark(kind: str) -> str:
    return f"<!-- {OUTPUT_MARK}: {kind} -->\n"


# ---- bounded reads ---------------------------------------------------------------------------
def open_regular(path: str | Path, max_bytes: int, error: type[XmrError] = XmrError, what: str = "",
                 text: bool = False) -> IO[Any]:
    """Open ``path`` for reading only if it is a regular file of at most ``max_bytes`` (symlinks
    followed, then checked): ``/dev/zero``, ``/dev/urandom``, a FIFO (never waited on) or a folder
    is one ``error`` naming the file. Returns an open file (text: UTF-8, a BOM allowed)."""
    path = Path(path)
    label = f"{path}" + (f" ({what})" if what else "")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting
    except FileNotFoundError:
        raise error(f"{label}: file not found") from None
    except IsADirectoryError:
        raise error(f"{label}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{label}: cannot read it ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{label}: is a {_kind(st.st_mode)}, not a regular file; refusing to read it")
        if st.st_size > max_bytes:
            raise error(f"{label}: {st.st_size:,} bytes; the limit for this file is {max_bytes:,}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "r", encoding="utf-8-sig", newline="") if text else os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: str | Path, max_bytes: int, error: type[XmrError] = XmrError, what: str = "") -> Path:
    """``open_regular``'s checks for a reader that wants a path (gensim): returns the path."""
    open_regular(path, max_bytes, error, what).close()
    return Path(path)


def read_bytes(path: str | Path, max_bytes: int, error: type[XmrError] = XmrError, what: str = "") -> bytes:
    """A regular file's bytes, never more than ``max_bytes`` (a file growing while read is refused)."""
    with open_regular(path, max_bytes, error, what) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{path}: grew beyond {max_bytes:,} bytes while being read")
    return data


def read_json(path: Path, error: type[XmrError] = XmrError, max_bytes: int = MAX_SMALL_JSON_BYTES,
              what: str = "") -> Any:
    """Parse a JSON file (UTF-8, a BOM allowed), refusing files over ``max_bytes`` and deep nesting.

    Every problem is one ``error`` naming the file: missing, not a regular file, too large, not
    UTF-8, malformed, nested too deeply (json's recursion limit; checked, so it never becomes a
    traceback).
    """
    label = f"{path}" + (f" ({what})" if what else "")
    try:
        with open_regular(path, max_bytes, error, what, text=True) as f:
            return json.loads(f.read(max_bytes + 1))
    except json.JSONDecodeError as e:
        raise error(f"{label}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise error(f"{label}: not UTF-8 text ({e.reason})") from None
    except RecursionError:
        raise error(f"{label}: JSON nested too deeply") from None
    except OSError as e:
        raise error(f"{label}: cannot read it ({e.strerror})") from None


# ---- fingerprints ----------------------------------------------------------------------------
_HASHES: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | Path, max_bytes: int = MAX_DATASET_BYTES * 4) -> str:
    """SHA-256 of a regular file's content (cached per path, size, mtime and inode)."""
    with open_regular(path, max_bytes, what="fingerprint") as f:
        st = os.fstat(f.fileno())
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        if key not in _HASHES:
            h = hashlib.sha256()
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def notice(message: str, sink: Callable[[str], None] | None = None) -> None:
    """One line for a person about something xmr repaired on its own (a cache recomputed)."""
    import sys

    (sink or (lambda m: print(m, file=sys.stderr, flush=True)))(f"note: {message}")
