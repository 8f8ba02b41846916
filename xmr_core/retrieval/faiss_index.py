"""The faiss search backend (optional ``faiss-cpu``): flat exact, or IVF past a gallery size.
Same conventions as ``index.py``: L2 distances (not squared), ascending, ties by smaller id."""
from __future__ import annotations

import math

import numpy as np

from .index_base import as_matrix, empty_result

__all__ = ["FaissIndex", "faiss_available", "IVF_THRESHOLD"]

# Gallery size from which ``FaissIndex(kind="auto")`` switches to IVF (approximate).
IVF_THRESHOLD = 100_000


def faiss_available() -> bool:
    """Whether the optional faiss package can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _stable_order(dist: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, id) so ties come out by smaller id."""
    order = np.lexsort((ids, dist), axis=-1) if dist.size else np.zeros(dist.shape, np.int64)
    return np.take_along_axis(dist, order, 1), np.take_along_axis(ids, order, 1)


class FaissIndex:
    """faiss backend: ``IndexFlatL2`` (exact) or ``IndexIVFFlat`` (approximate).

    ``kind="auto"`` picks IVF when the first batch added has ``>= IVF_THRESHOLD`` vectors,
    else flat. IVF uses ``nlist`` lists (default ``round(sqrt(n))``, trained on the first
    batch) and searches ``nprobe`` of them (default 16; raise it for recall, 1 is fastest).
    Distances are returned as L2 (square root of faiss's)."""

    def __init__(self, dim: int | None = None, *, kind: str = "auto", nlist: int | None = None,
                 nprobe: int = 16, num_threads: int | None = None) -> None:
        try:
            import faiss
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("FaissIndex needs the optional package faiss-cpu "
                              "(pip install -r requirements-optional.txt), or use backend='exact'") from e
        if kind not in ("auto", "flat", "ivf"):
            raise ValueError(f"kind must be 'auto', 'flat' or 'ivf', got {kind!r}")
        self._faiss, self.dim, self.kind, self.nlist = faiss, dim, kind, nlist
        self.nprobe, self.num_threads = int(nprobe), num_threads
        self._index = self._quantizer = None

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def resolved_kind(self) -> str | None:
        """``"flat"`` or ``"ivf"`` once vectors have been added."""
        return None if self._index is None else ("ivf" if isinstance(self._index, self._faiss.IndexIVF) else "flat")

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; the first call also builds (and for IVF trains) the index."""
        v = as_matrix(vectors, self.dim)
        if self._index is None:
            self.dim = v.shape[1]
            self._index = self._build(v)
        self._index.add(v)

    def _build(self, v: np.ndarray):
        faiss, n = self._faiss, v.shape[0]
        use_ivf = self.kind == "ivf" or (self.kind == "auto" and n >= IVF_THRESHOLD)
        if not use_ivf:
            return faiss.IndexFlatL2(self.dim)
        nlist = min(self.nlist or max(1, int(round(math.sqrt(n)))), n)  # k-means: >= 1 point per list
        quantizer = faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_L2)
        index.train(v)
        index.nprobe = min(self.nprobe, nlist)
        self._quantizer = quantizer  # keep the quantizer alive (SWIG does not own it)
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by L2 distance (not squared), ties by smaller id."""
        q = as_matrix(queries, self.dim, "queries")
        k = min(int(k), len(self))
        if k <= 0 or q.shape[0] == 0:
            return empty_result(q.shape[0], k)
        if self.num_threads:
            self._faiss.omp_set_num_threads(self.num_threads)
        d2, ids = self._index.search(q, k)
        # IVF may find fewer than k candidates in the probed lists (id -1).
        d2 = np.where(ids < 0, np.inf, d2)
        return _stable_order(np.sqrt(np.maximum(d2, 0.0)).astype(np.float32), ids.astype(np.int64))
