"""Nearest-neighbour search over embeddings (docs/METHOD.md §2: Euclidean NN on unit vectors).

One interface, :class:`Index`, two backends:

* :class:`ExactIndex` - brute force in torch, chunked over queries *and* gallery so
  peak memory is bounded (``query_chunk * gallery_chunk`` floats) for any gallery.
* :class:`FaissIndex` - optional ``faiss`` (``IndexFlatL2`` exact, or ``IndexIVFFlat``
  approximate for large galleries).

Conventions shared by every backend:

* ``search`` returns **Euclidean (L2) distances, not squared** (faiss natively returns
  squared distances; we take the square root), ascending, shape ``(Q, k)``, float32,
  and ``int64`` gallery ids (row order of ``add`` calls).
* ``k`` is clamped to ``len(index)``: a gallery of 3 items answers at most 3 columns.
* Ties (equal distance) are broken by the smaller id, so results are deterministic.
"""
from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np
import torch

__all__ = [
    "Index",
    "ExactIndex",
    "FaissIndex",
    "make_index",
    "faiss_available",
    "IVF_THRESHOLD",
]

# Gallery size from which ``FaissIndex(kind="auto")`` switches to IVF (approximate).
IVF_THRESHOLD = 100_000
# Tolerance for "these vectors are unit length" (then the ranking score is q.g only).
_UNIT_TOL = 1e-4
# Gallery columns per group in the two-stage top-k (see ``ExactIndex._block_topk``).
# 32 minimised the time at 25k x 5k (16: +20 %, 64: +11 %; BENCHMARKS.md, exact search).
_GROUP = 32


@runtime_checkable
class Index(Protocol):
    """What every search backend offers."""

    def add(self, vectors: np.ndarray) -> None:
        """Append ``(n, d)`` vectors to the gallery; their ids continue from ``len(self)``."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, ids)``, both ``(Q, min(k, len(self)))``; L2 distance (not squared), ascending."""
        ...

    def __len__(self) -> int: ...


def faiss_available() -> bool:
    """Whether the optional faiss package can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _as_matrix(x: np.ndarray, dim: int | None = None, name: str = "vectors") -> np.ndarray:
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


def _stable_order(dist: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, id) so ties come out by smaller id."""
    order = np.lexsort((ids, dist), axis=-1) if dist.size else np.zeros(dist.shape, np.int64)
    return np.take_along_axis(dist, order, 1), np.take_along_axis(ids, order, 1)


class ExactIndex:
    """Exact brute-force L2 search in torch (float32 matmul + ``torch.topk``).

    The ranking score is ``q.g - |g|^2 / 2`` (so ``|q - g|^2 = |q|^2 - 2 * score``);
    when every gallery vector is unit length the ``|g|^2`` term is a constant and is
    skipped, leaving one matmul and one top-k per block. A gallery larger than
    ``gallery_chunk`` is searched block by block and the per-block top-k lists are
    merged, so memory stays at ``query_chunk * gallery_chunk`` floats.

    The top-k of a wide block is taken in two stages (``_block_topk``): the maximum of
    each group of 32 columns, the k best groups, then the top-k of those k * 32
    scores. That is exact (every column outside the chosen groups scores at most the
    (k+1)-th group maximum) and does about a tenth of the selection work of one
    ``torch.topk`` over the whole row, which was a third of the search time.

    ``num_threads`` (optional) sets torch's intra-op threads for the duration of a
    search only (torch's setting is process-global; the app should not be surprised).
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        query_chunk: int = 512,
        gallery_chunk: int = 16384,
        num_threads: int | None = None,
    ) -> None:
        if query_chunk < 1 or gallery_chunk < 1:
            raise ValueError("query_chunk and gallery_chunk must be >= 1")
        self.dim = dim
        self.query_chunk = int(query_chunk)
        self.gallery_chunk = int(gallery_chunk)
        self.num_threads = num_threads
        self._parts: list[np.ndarray] = []
        self._gallery: torch.Tensor | None = None  # (d, n) transposed, contiguous
        self._half_sq: torch.Tensor | None = None  # |g|^2 / 2, or None when all unit
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (float32, ``(n, d)``)."""
        v = _as_matrix(vectors, self.dim)
        if self.dim is None:
            self.dim = v.shape[1]
        self._parts.append(v)
        self._n += v.shape[0]
        self._gallery = None  # rebuilt lazily on the next search

    def vectors(self) -> np.ndarray:
        """The gallery as one ``(n, d)`` float32 array."""
        if not self._parts:
            return np.zeros((0, self.dim or 0), np.float32)
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    def _prepare(self) -> None:
        g = self.vectors()
        n = g.shape[0]
        # Transposed once so each block matmul reads a contiguous (d, chunk) operand;
        # zero columns pad it to whole groups (their scores are set to -inf).
        padded = -(-n // _GROUP) * _GROUP
        gt = np.zeros((g.shape[1], padded), np.float32)
        gt[:, :n] = g.T
        self._gallery = torch.from_numpy(gt)
        sq = (g.astype(np.float64) ** 2).sum(1)
        if n and np.abs(sq - 1.0).max() <= _UNIT_TOL:
            self._half_sq = None
        else:
            self._half_sq = torch.from_numpy((0.5 * sq).astype(np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` by L2 distance; see the module docstring for conventions."""
        q = _as_matrix(queries, self.dim, "queries")
        k = min(int(k), self._n)
        nq = q.shape[0]
        if k <= 0 or nq == 0:
            return np.zeros((nq, max(k, 0)), np.float32), np.zeros((nq, max(k, 0)), np.int64)
        if self._gallery is None:
            self._prepare()
        old_threads = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(self.num_threads)
        try:
            with torch.inference_mode():
                scores, ids = self._search_scores(torch.from_numpy(q), k)
        finally:
            if self.num_threads:
                torch.set_num_threads(old_threads)
        # |q-g|^2 = |q|^2 - 2*score (score includes -|g|^2/2, or |g|^2 = 1 is folded in).
        qsq = (q.astype(np.float64) ** 2).sum(1, keepdims=True)
        const = 0.0 if self._half_sq is not None else 1.0
        d2 = qsq + const - 2.0 * scores.astype(np.float64)
        dist = np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)
        return dist, ids

    def _search_scores(self, q: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k highest scores per query and their ids, ties by smaller id."""
        g, half_sq = self._gallery, self._half_sq
        assert g is not None
        n = self._n
        # Blocks are whole groups (the padded gallery's width is a multiple of _GROUP).
        gc = min(max(self.gallery_chunk // _GROUP, 1) * _GROUP, g.shape[1])
        if self.gallery_chunk < _GROUP:
            gc = self.gallery_chunk  # tiny blocks (tests): plain top-k, no groups
        qc = self.query_chunk
        out_s = np.empty((q.shape[0], k), np.float32)
        out_i = np.empty((q.shape[0], k), np.int64)
        buf = torch.empty((min(qc, q.shape[0]), gc), dtype=torch.float32)
        for qs in range(0, q.shape[0], qc):
            qq = q[qs : qs + qc]
            best_s: torch.Tensor | None = None
            best_i: torch.Tensor | None = None
            for gs in range(0, n, gc):
                gblock = g[:, gs : gs + gc]
                # Reuse one output buffer: allocating a fresh (qc, gc) block per chunk
                # costs as much as the top-k itself on 2 cores.
                s = torch.mm(qq, gblock, out=buf[: qq.shape[0], : gblock.shape[1]])
                if half_sq is not None:
                    s[:, : min(gc, n - gs)] -= half_sq[gs : gs + gblock.shape[1]]
                if gs + gblock.shape[1] > n:  # padding columns never win
                    s[:, n - gs :] = -math.inf
                v, i = self._block_topk(s, min(k, n - gs, gblock.shape[1]))
                i = i + gs
                if best_s is None:
                    best_s, best_i = v, i
                else:
                    # Merge with previous blocks; all candidates of later blocks have
                    # larger ids, so a stable sort keeps "smaller id first" on ties.
                    cs = torch.cat([best_s, v], 1)
                    ci = torch.cat([best_i, i], 1)
                    best_s, best_i = self._top_stable(cs, ci, k)
            assert best_s is not None and best_i is not None
            best_s, best_i = self._top_stable(best_s, best_i, k)
            out_s[qs : qs + qq.shape[0]] = best_s.numpy()
            out_i[qs : qs + qq.shape[0]] = best_i.numpy()
        return out_s, out_i

    @classmethod
    def _block_topk(cls, s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k of each row of a score block, its k-th place decided by smaller id.

        Wide blocks go through groups of ``_GROUP`` columns: the k groups with the
        largest maxima hold the top-k, because every column outside them scores at
        most the (k+1)-th largest group maximum, and the k chosen maxima are k
        distinct candidates at least that large. Rows where the k-th candidate only
        *equals* that bound (exact float ties) are redone by a stable full sort.
        """
        rows, cols = s.shape
        groups = cols // _GROUP
        if cols % _GROUP or groups < 4 * (k + 1):
            # Narrow block: one top-k; one extra candidate tells whether a tie
            # straddles the k-th place.
            if k >= cols:
                return torch.topk(s, k, dim=1, sorted=True)
            v, i = torch.topk(s, k + 1, dim=1, sorted=True)
            return cls._fix_ties(s, v, i, k)
        s3 = s.view(rows, groups, _GROUP)
        gmax, gid = torch.topk(s3.amax(2), k + 1, dim=1, sorted=True)
        chosen = gid[:, :k, None]
        cand = torch.gather(s3, 1, chosen.expand(rows, k, _GROUP)).reshape(rows, k * _GROUP)
        cand_id = (chosen * _GROUP + torch.arange(_GROUP)).reshape(rows, k * _GROUP)
        v, j = torch.topk(cand, k + 1, dim=1, sorted=True)
        i = torch.gather(cand_id, 1, j)
        # Exact unless the k-th candidate ties the bound or the (k+1)-th candidate.
        redo = torch.nonzero((v[:, k - 1] <= gmax[:, k]) | (v[:, k] == v[:, k - 1])).flatten()
        v, i = v[:, :k], i[:, :k]
        if redo.numel():
            sub = s[redo]
            order = torch.argsort(sub, dim=1, descending=True, stable=True)[:, :k]
            v, i = v.clone(), i.clone()
            v[redo] = torch.gather(sub, 1, order)
            i[redo] = order
        return v, i

    @staticmethod
    def _top_stable(s: torch.Tensor, i: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k of small candidate lists ordered by (score desc, id asc)."""
        order = torch.argsort(i, dim=1, stable=True)
        s, i = torch.gather(s, 1, order), torch.gather(i, 1, order)
        order = torch.argsort(s, dim=1, descending=True, stable=True)[:, :k]
        return torch.gather(s, 1, order), torch.gather(i, 1, order)

    @staticmethod
    def _fix_ties(
        s: torch.Tensor, v: torch.Tensor, i: torch.Tensor, k: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Drop the extra (k+1)-th candidate, making the top-k boundary deterministic.

        ``torch.topk`` picks arbitrary members of a tie that straddles the k-th place.
        Such a tie exists exactly when the (k+1)-th best equals the k-th; only those
        rows (rare: exact float ties) are redone with a stable full sort by id.
        """
        rows = torch.nonzero(v[:, k] == v[:, k - 1]).flatten()
        v, i = v[:, :k], i[:, :k]
        if rows.numel():
            sub = s[rows]
            order = torch.argsort(sub, dim=1, descending=True, stable=True)[:, :k]
            v = v.clone()
            i = i.clone()
            v[rows] = torch.gather(sub, 1, order)
            i[rows] = order
        return v, i


class FaissIndex:
    """faiss backend: ``IndexFlatL2`` (exact) or ``IndexIVFFlat`` (approximate).

    ``kind="auto"`` picks IVF when the first batch added has ``>= IVF_THRESHOLD``
    vectors, else flat. IVF uses ``nlist`` lists (default ``round(sqrt(n))``, trained
    on the first batch added) and searches ``nprobe`` of them (default 16; raise it
    for recall, 1 is fastest). Distances are returned as L2 (square root of faiss's).
    """

    def __init__(
        self,
        dim: int | None = None,
        *,
        kind: str = "auto",
        nlist: int | None = None,
        nprobe: int = 16,
        num_threads: int | None = None,
    ) -> None:
        try:
            import faiss
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "FaissIndex needs the optional package faiss-cpu "
                "(pip install -r requirements-optional.txt), or use backend='exact'"
            ) from e
        if kind not in ("auto", "flat", "ivf"):
            raise ValueError(f"kind must be 'auto', 'flat' or 'ivf', got {kind!r}")
        self._faiss = faiss
        self.dim = dim
        self.kind = kind
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.num_threads = num_threads
        self._index = None
        self._quantizer = None

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def resolved_kind(self) -> str | None:
        """``"flat"`` or ``"ivf"`` once vectors have been added."""
        if self._index is None:
            return None
        return "ivf" if isinstance(self._index, self._faiss.IndexIVF) else "flat"

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; the first call also builds (and for IVF trains) the index."""
        v = _as_matrix(vectors, self.dim)
        if self._index is None:
            self.dim = v.shape[1]
            self._index = self._build(v)
        self._index.add(v)

    def _build(self, v: np.ndarray):
        faiss = self._faiss
        n = v.shape[0]
        use_ivf = self.kind == "ivf" or (self.kind == "auto" and n >= IVF_THRESHOLD)
        if not use_ivf:
            return faiss.IndexFlatL2(self.dim)
        nlist = self.nlist or max(1, int(round(math.sqrt(n))))
        nlist = min(nlist, n)  # k-means needs at least one point per list
        quantizer = faiss.IndexFlatL2(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_L2)
        index.train(v)
        index.nprobe = min(self.nprobe, nlist)
        self._quantizer = quantizer  # keep the quantizer alive (SWIG does not own it)
        return index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by L2 distance (not squared), ties by smaller id."""
        q = _as_matrix(queries, self.dim, "queries")
        k = min(int(k), len(self))
        if k <= 0 or q.shape[0] == 0:
            return np.zeros((q.shape[0], max(k, 0)), np.float32), np.zeros((q.shape[0], max(k, 0)), np.int64)
        if self.num_threads:
            self._faiss.omp_set_num_threads(self.num_threads)
        d2, ids = self._index.search(q, k)
        ids = ids.astype(np.int64)
        # IVF may find fewer than k candidates in the probed lists (id -1).
        d2 = np.where(ids < 0, np.inf, d2)
        dist = np.sqrt(np.maximum(d2, 0.0)).astype(np.float32)
        return _stable_order(dist, ids)


def make_index(vectors: np.ndarray | None = None, backend: str = "exact", **kwargs) -> Index:
    """Build an index (and add ``vectors`` if given).

    ``backend``: ``"exact"`` (:class:`ExactIndex`), ``"faiss"`` (:class:`FaissIndex`,
    raises ``ImportError`` with an install hint if faiss is missing) or ``"auto"``
    (faiss IVF for galleries ``>= IVF_THRESHOLD`` when faiss is installed, else exact).
    Extra keyword arguments go to the backend's constructor.
    """
    if backend == "exact":
        index: Index = ExactIndex(**kwargs)
    elif backend == "faiss":
        if not faiss_available():
            raise ImportError(
                "backend='faiss' requested but faiss is not installed "
                "(pip install faiss-cpu, see requirements-optional.txt); use backend='exact'"
            )
        index = FaissIndex(**kwargs)
    elif backend == "auto":
        n = 0 if vectors is None else np.asarray(vectors).shape[0]
        if n >= IVF_THRESHOLD and faiss_available():
            index = FaissIndex(**kwargs)
        else:
            index = ExactIndex(**kwargs)
    else:
        raise ValueError(f"backend must be 'exact', 'faiss' or 'auto', got {backend!r}")
    if vectors is not None:
        index.add(vectors)
    return index
