"""What every search backend shares: the :class:`Index` interface and its input checks
(conventions in ``index.py``'s docstring)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Index"]


@runtime_checkable
class Index(Protocol):
    """What every search backend offers."""

    def add(self, vectors: np.ndarray) -> None:
        """Append ``(n, d)`` vectors to the gallery; their ids continue from ``len(self)``."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, ids)``, both ``(Q, min(k, len(self)))``; L2 distance (not squared), ascending."""

    def __len__(self) -> int: ...


def as_matrix(x: np.ndarray, dim: int | None = None, name: str = "vectors") -> np.ndarray:
    """C-contiguous float32 ``(n, d)`` (a single vector becomes one row)."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n, d), got shape {a.shape}")
    if dim is not None and a.shape[1] != dim:
        raise ValueError(f"{name} have dimension {a.shape[1]}, index has {dim}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contain NaN or inf")
    return np.ascontiguousarray(a)


def empty_result(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((nq, max(k, 0)), np.float32), np.zeros((nq, max(k, 0)), np.int64)
