"""Small, safe file primitives: atomic writes with unique temp names, bounded JSON reads.

Leaf module (only ``errors``): the run bundle, the text encoder, the loaders and the trainer
share these, so two processes never write the same temp file and no JSON read can take
unbounded memory or recursion.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from .errors import XmrError

# A bundle's config.json / encoder.json is a few kB; 64 MB leaves room for any vocabulary scaling.
MAX_SMALL_JSON_BYTES = 64 * 1024 * 1024
# Dataset files: Karpathy's COCO JSON is ~150 MB, COCO's captions_train2017.json ~90 MB.
MAX_DATASET_BYTES = 2 * 1024 ** 3


def unique_tmp(path: Path) -> Path:
    """A temp name beside ``path``, unique to this process and call (two writers never share one)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename: readers never see half a file."""
    tmp = unique_tmp(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1))


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file, fsync, then rename: a crash never leaves a corrupt file."""
    import torch

    tmp = unique_tmp(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # the previous file stays as it was; drop the half-written temp file
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, error: type[XmrError] = XmrError, max_bytes: int = MAX_SMALL_JSON_BYTES,
              what: str = "") -> Any:
    """Parse a JSON file (UTF-8, a BOM allowed), refusing files over ``max_bytes`` and deep nesting.

    Every problem is one ``error`` naming the file: missing, too large, not UTF-8, malformed,
    nested too deeply (json's recursion limit; checked, so it never becomes a traceback).
    """
    label = f"{path}" + (f" ({what})" if what else "")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise error(f"{label}: file not found") from None
    except OSError as e:
        raise error(f"{label}: cannot read it ({e.strerror})") from None
    if size > max_bytes:
        raise error(f"{label}: {size:,} bytes; the limit for this file is {max_bytes:,}")
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise error(f"{label}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except UnicodeDecodeError as e:
        raise error(f"{label}: not UTF-8 text ({e.reason})") from None
    except RecursionError:
        raise error(f"{label}: JSON nested too deeply") from None
    except IsADirectoryError:
        raise error(f"{label}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{label}: cannot read it ({e.strerror})") from None
