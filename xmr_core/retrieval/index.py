"""Nearest-neighbour search over embeddings (docs/METHOD.md §2: Euclidean NN on unit vectors).

One interface, :class:`Index`, two backends: :class:`ExactIndex` (brute force in torch, memory
bounded by chunks) and :class:`FaissIndex` (optional ``faiss``: flat exact, or IVF). Conventions:

* ``search`` returns **Euclidean (L2) distances, not squared** (faiss's are squared), ascending,
  shape ``(Q, k)``, float32, and ``int64`` gallery ids (row order of ``add`` calls).
* ``k`` is clamped to ``len(index)``; ties (equal distance) go to the smaller id (deterministic).
* :class:`ExactIndex` orders its results by ``ranking.py``'s rule (float64 pair scores), the
  rule the R@K metric ranks by, so Table 3, the map's hit / miss and R@K agree on every CPU.
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..hardware import cpu_has_native_bf16
from .faiss_index import IVF_THRESHOLD, FaissIndex, faiss_available
from .index_base import Index, as_matrix, empty_result
from .ranking import UNIT_TOL as _UNIT_TOL
from .ranking import exact_topk

__all__ = ["Index", "ExactIndex", "FaissIndex", "make_index", "faiss_available", "IVF_THRESHOLD"]

# Float32 candidates per query of the deeper pass for rows the first (k + 1) does not settle.
_EXTRA = 8
# Gallery columns per group of the two-stage top-k (``_block_topk``): 32 was fastest at 25k x 5k.
_GROUP = 32
_THREADS_LOCK = threading.Lock()  # held while a search has changed torch's thread count
TopK = tuple[torch.Tensor, torch.Tensor]  # (scores, ids) of each row's best, best first


class ExactIndex:
    """Exact brute-force L2 search in torch (matmul + top-k), memory bounded by chunks.

    The ranking score is ``q.g - |g|^2 / 2`` (``|q - g|^2 = |q|^2 - 2 * score``; for an
    all-unit gallery ``|g|^2`` is skipped). Queries go in chunks of ``query_chunk``, the
    gallery in blocks of ``gallery_chunk`` columns whose top-k lists are merged, so memory
    stays at ``query_chunk * gallery_chunk`` floats per thread. Unit galleries are screened
    in bfloat16 (``_screened_topk``, 4.5x faster matmul with AVX512-BF16), the candidates
    re-scored in float32 (the float32 result) when the CPU has native bf16 (``bf16_screen``
    None = auto); other galleries, ``bf16_screen=False`` and
    near-duplicate blocks use the float32 matmul and the grouped ``_block_topk``. Threads:
    ``num_threads`` or torch's setting, as workers; torch's (process-global) setting is 1
    during a multi-threaded search and restored after it.
    """

    def __init__(self, dim: int | None = None, *, query_chunk: int = 512, gallery_chunk: int = 16384,
                 num_threads: int | None = None, bf16_screen: bool | None = None) -> None:
        if query_chunk < 1 or gallery_chunk < 1:
            raise ValueError("query_chunk and gallery_chunk must be >= 1")
        native = cpu_has_native_bf16() if bf16_screen is None else bf16_screen  # emulated bf16 is slower
        self.dim, self.num_threads, self.bf16_screen = dim, num_threads, bool(native)
        self.query_chunk, self.gallery_chunk = int(query_chunk), int(gallery_chunk)
        self._parts: list[np.ndarray] = []
        self._gallery: torch.Tensor | None = None  # (d, n) transposed, contiguous
        self._gallery_bf16: torch.Tensor | None = None  # same, bfloat16 (unit galleries)
        self._half_sq: torch.Tensor | None = None  # |g|^2 / 2, or None when all unit
        self._gnorm_max, self._g16, self._n = 0.0, (0.0, 0.0), 0
        self._prep_lock = threading.Lock()

    def __len__(self) -> int:
        return self._n

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (float32, ``(n, d)``)."""
        v = as_matrix(vectors, self.dim)
        self.dim = v.shape[1]  # as_matrix checked it against a set dim
        self._parts.append(v)
        self._n += v.shape[0]
        self._gallery = None  # rebuilt lazily on the next search

    def vectors(self) -> np.ndarray:
        """The gallery as one ``(n, d)`` float32 array."""
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts) if self._parts else np.zeros((0, self.dim or 0), np.float32)]
        return self._parts[0]

    def _prepare(self) -> None:
        """Build the search operands once; every field is set before ``_gallery`` (the "ready" mark),
        under a lock, so a concurrent search never sees half of them."""
        with self._prep_lock:
            if self._gallery is not None:
                return
            g = self.vectors()
            n = g.shape[0]
            # Transposed once so each block matmul reads a contiguous (d, chunk) operand;
            # zero columns pad it to whole groups (their scores are set to -inf).
            gt = np.zeros((g.shape[1], -(-n // _GROUP) * _GROUP), np.float32)
            gt[:, :n] = g.T
            gallery = torch.from_numpy(gt)
            sq = (g.astype(np.float64) ** 2).sum(1)
            self._gnorm_max = float(np.sqrt(sq.max())) if n else 0.0
            self._half_sq, self._gallery_bf16 = None, None
            if not (n and np.abs(sq - 1.0).max() <= _UNIT_TOL):
                self._half_sq = torch.from_numpy((0.5 * sq).astype(np.float32))
            elif self.bf16_screen:
                g16 = gallery.bfloat16()  # |g~|max and |g - g~|max bound the screen's error
                self._g16 = (float(g16.float().norm(dim=0).max()), float((gallery - g16.float()).norm(dim=0).max()))
                self._gallery_bf16 = g16
            self._gallery = gallery

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` by L2 distance; see the module docstring for conventions."""
        q = as_matrix(queries, self.dim, "queries")
        k = min(int(k), self._n)
        if k <= 0 or q.shape[0] == 0:
            return empty_result(q.shape[0], k)
        # float32 candidates (k + 1: the gap at the k-th place settles most rows), settled by the one
        # rule (float64; ties by smaller id); unsettled rows get a deeper float32 pass of their own.
        scores, ids = self._float32_topk(q, min(k + 1, self._n))
        unit = self._half_sq is None
        scores, ids = exact_topk(q, self.vectors(), scores, ids, k, unit,
                                 more=lambda rows: self._float32_topk(q[rows], min(k + _EXTRA, self._n)),
                                 gmax=self._gnorm_max)
        # |q-g|^2 = |q|^2 - 2*score (score includes -|g|^2/2, or |g|^2 = 1 is folded in).
        d2 = (q.astype(np.float64) ** 2).sum(1, keepdims=True) + unit - 2.0 * scores
        return np.sqrt(np.maximum(d2, 0.0)).astype(np.float32), ids

    def _float32_topk(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` float32 scores and ids (ties by smaller id), over worker threads."""
        if self._gallery is None:
            self._prepare()
        # Threads run as single-threaded workers over query slices, not intra-op: each short op's
        # OpenMP fork/join costs ~10 ms when another process holds a core (25k x 5k: 7.9 s, not 0.3).
        with _THREADS_LOCK:
            old, threads = torch.get_num_threads(), self.num_threads or torch.get_num_threads()
            workers = min(threads, max(1, q.shape[0] // 64))
            cut = np.linspace(0, q.shape[0], workers + 1).astype(int)
            try:
                if workers == 1:  # in this thread: a new one would start a new OpenMP thread team
                    return self._search_part(q, k, threads)
                with ThreadPoolExecutor(workers) as pool:
                    parts = list(pool.map(lambda w: self._search_part(q[cut[w] : cut[w + 1]], k, 1), range(workers)))
                return tuple(np.concatenate(x) for x in zip(*parts))
            finally:
                torch.set_num_threads(old)

    def _search_part(self, q: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
        """``_search_scores`` of some queries with ``threads`` intra-op threads (set per OS thread)."""
        torch.set_num_threads(threads)
        with torch.inference_mode():
            return self._search_scores(torch.from_numpy(q), k)

    def _search_scores(self, q: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k highest scores per query and their ids, ties by smaller id."""
        g, n, qc = self._gallery, self._n, self.query_chunk
        # Blocks are whole groups (the padded gallery's width is a multiple of _GROUP).
        gc = min(max(self.gallery_chunk // _GROUP, 1) * _GROUP, g.shape[1])
        if self.gallery_chunk < _GROUP:
            gc = self.gallery_chunk  # tiny blocks (tests): plain top-k, no groups
        out_s, out_i = np.empty((q.shape[0], k), np.float32), np.empty((q.shape[0], k), np.int64)
        # One reused score buffer: a fresh (qc, gc) block per chunk costs as much as the top-k.
        buf = torch.empty((min(qc, q.shape[0]), gc), dtype=torch.float32)
        qnorm = torch.linalg.vector_norm(q, dim=1)
        for qs in range(0, q.shape[0], qc):
            qq = q[qs : qs + qc]
            best: TopK | None = None
            for gs in range(0, n, gc):
                width = min(gc, g.shape[1] - gs)
                kb = min(k, n - gs, width)
                screen = self._gallery_bf16 is not None and width // _GROUP >= 4 * (kb + 1)
                got = self._screened_topk(qq, qnorm[qs : qs + qc], gs, width, kb, buf) if screen else None
                v, i = got if got is not None else self._exact_block(qq, gs, width, kb, buf)
                i = i + gs
                if best is not None:
                    # All of this block's ids are larger than the earlier ones, so a
                    # stable sort keeps "smaller id first" on ties.
                    v, i = torch.cat([best[0], v], 1), torch.cat([best[1], i], 1)
                best = self._top_stable(v, i, k)
            out_s[qs : qs + qq.shape[0]] = best[0].numpy()
            out_i[qs : qs + qq.shape[0]] = best[1].numpy()
        return out_s, out_i

    def _exact_block(self, qq: torch.Tensor, gs: int, width: int, k: int, buf: torch.Tensor) -> TopK:
        """Top-k of one gallery block by a float32 matmul (ids relative to the block)."""
        s = torch.mm(qq, self._gallery[:, gs : gs + width], out=buf[: qq.shape[0], :width])
        if self._half_sq is not None:
            s[:, : min(width, self._n - gs)] -= self._half_sq[gs : gs + width]
        if gs + width > self._n:  # padding columns never win
            s[:, self._n - gs :] = -math.inf
        return self._block_topk(s, k)

    def _screened_topk(self, qq: torch.Tensor, qnorm: torch.Tensor, gs: int, width: int, k: int,
                       buf: torch.Tensor) -> TopK | None:
        """Top-k of one block of a unit gallery: bfloat16 screen, exact float32 re-score.

        Error bound per query row (u = 2**-8, bf16's unit roundoff; u32 = 2**-24; q~, g~: q, g in
        bf16; gmax = max |g|): q~.g~ - q.g = (q~ - q).g~ + q.(g~ - g), so rounding the inputs moves
        the score by <= |q~ - q| |g~|max + |q| |g~ - g|max (Cauchy-Schwarz; measured, ~1u |q| gmax;
        a priori 2u); float32 accumulation adds <= 1.01 d u32 (1+u)^2 |q| gmax, rounding the sum to
        bf16 <= u(1 + 3u)|q| gmax, and our float32 re-score s is within 1.01 d u32 |q| gmax of q.g.
        So |s_hat - s| <= eps = that input term + |q| gmax (1.1 u + 2 d u32) + d 2**-100 (room to
        spare for float32 rounding of norms and thr; flushed denormals). Candidates: s_hat >= thr
        = t - 2 eps, t = the k-th largest group maximum (k distinct columns reach it, so t <=
        s_hat_(k)). Every top-k column by s is one: the k best by s_hat have s >= s_hat_(k) - eps,
        so s_(k) >= s_hat_(k) - eps; s_j >= s_(k) gives s_hat_j >= s_j - eps >= s_hat_(k) - 2 eps
        >= thr. Returns None (use float32) when there are too many candidates."""
        rows, groups = qq.shape[0], width // _GROUP
        s = buf.view(-1)[: rows * width].view(rows, width)  # contiguous prefix of buf
        q16 = qq.bfloat16()  # float32 copy below: amax over bf16 is 10x slower than copy + amax
        s.copy_(torch.mm(q16, self._gallery_bf16[:, gs : gs + width]))
        if gs + width > self._n:
            s[:, self._n - gs :] = -math.inf
        gmax = s.view(rows, groups, _GROUP).amax(2)
        t = torch.topk(gmax, k, dim=1, sorted=False).values.amin(1)
        rq, (g16max, rgmax) = torch.linalg.vector_norm(qq - q16.float(), dim=1), self._g16
        eps = rq * g16max + qnorm * (rgmax + self._gnorm_max * (1.1 * 2.0**-8 + qq.shape[1] * 2.0**-23))
        thr = t - 2.0 * (eps + qq.shape[1] * 2.0**-100)
        if not bool(torch.isfinite(thr).all()):
            return None  # overflowing queries: leave them to float32
        # Candidate groups (flat row * groups + group), then the columns inside them;
        # index_select is several times faster than advanced indexing here.
        fg = torch.nonzero((gmax >= thr[:, None]).view(-1)).view(-1)
        r = torch.div(fg, groups, rounding_mode="floor")
        vals = torch.index_select(s.view(rows * groups, _GROUP), 0, fg)
        fp = torch.nonzero((vals >= torch.index_select(thr, 0, r)[:, None]).view(-1)).view(-1)
        if fp.numel() * 16 > rows * width:
            return None  # near-duplicates: the float32 path is cheaper
        pair = torch.div(fp, _GROUP, rounding_mode="floor")
        col = torch.index_select(fg, 0, pair) % groups * _GROUP + fp % _GROUP
        return self._rescore_topk(qq, torch.index_select(r, 0, pair), col, gs, k)

    def _rescore_topk(self, qq: torch.Tensor, row: torch.Tensor, col: torch.Tensor, gs: int, k: int) -> TopK:
        """Exact float32 scores of the (row, col) candidates, then each row's top-k. ``row`` ascends,
        and ``col`` within a row (``nonzero`` order): a stable sort of a padded row puts smaller ids first."""
        rows, g = qq.shape[0], torch.from_numpy(self.vectors())  # (n, d), no copy
        sc = torch.index_select(qq, 0, row).mul_(torch.index_select(g, 0, col + gs)).sum(1)
        cnt = torch.bincount(row, minlength=rows)  # every row has >= k candidates
        width = max(int(cnt.max()), k + 1)
        slot = row * width + torch.arange(row.numel()) - torch.index_select(cnt.cumsum(0) - cnt, 0, row)
        m = torch.full((rows * width,), -math.inf).index_copy_(0, slot, sc).view(rows, width)
        ids = torch.zeros(rows * width, dtype=torch.long).index_copy_(0, slot, col).view(rows, width)
        v, j = torch.topk(m, k + 1, dim=1, sorted=True)
        v, j = self._redo_rows(m, v, j, v[:, k] == v[:, k - 1], k)
        return v, torch.gather(ids, 1, j)

    @classmethod
    def _block_topk(cls, s: torch.Tensor, k: int) -> TopK:
        """Top-k of each row of a score block, its k-th place decided by smaller id.

        Wide blocks go through groups of ``_GROUP`` columns: the k groups with the largest
        maxima hold the top-k (every column outside them scores at most the (k+1)-th group
        maximum; the k chosen maxima are k distinct columns at least that large), a tenth
        of the work of one ``torch.topk`` over the row. Rows where the k-th candidate only
        *equals* that bound, or ties the (k+1)-th, are redone by a stable full sort."""
        (rows, cols), groups = s.shape, s.shape[1] // _GROUP
        if k >= cols:
            return torch.topk(s, k, dim=1, sorted=True)
        if cols % _GROUP or groups < 4 * (k + 1):
            # Narrow block: one top-k; the extra candidate tells whether a tie straddles k.
            v, i = torch.topk(s, k + 1, dim=1, sorted=True)
            return cls._redo_rows(s, v, i, v[:, k] == v[:, k - 1], k)
        s3 = s.view(rows, groups, _GROUP)
        gmax, gid = torch.topk(s3.amax(2), k + 1, dim=1, sorted=True)
        chosen = gid[:, :k, None]
        cand = torch.gather(s3, 1, chosen.expand(rows, k, _GROUP)).reshape(rows, k * _GROUP)
        cand_id = (chosen * _GROUP + torch.arange(_GROUP)).reshape(rows, k * _GROUP)
        v, j = torch.topk(cand, k + 1, dim=1, sorted=True)
        redo = (v[:, k - 1] <= gmax[:, k]) | (v[:, k] == v[:, k - 1])
        return cls._redo_rows(s, v, torch.gather(cand_id, 1, j), redo, k)

    @staticmethod
    def _redo_rows(s: torch.Tensor, v: torch.Tensor, i: torch.Tensor, redo: torch.Tensor, k: int) -> TopK:
        """The first k of ``(v, i)``; rows flagged in ``redo`` (``torch.topk`` may split an exact
        tie at the k-th place arbitrarily; rare) get a stable full sort, smaller index first."""
        rows = torch.nonzero(redo).flatten()
        v, i = v[:, :k], i[:, :k]
        if rows.numel():
            sub = s[rows]
            order = torch.argsort(sub, dim=1, descending=True, stable=True)[:, :k]
            v, i = v.index_put((rows,), torch.gather(sub, 1, order)), i.index_put((rows,), order)
        return v, i

    @staticmethod
    def _top_stable(s: torch.Tensor, i: torch.Tensor, k: int) -> TopK:
        """Top-k of small candidate lists ordered by (score desc, id asc)."""
        order = torch.argsort(i, dim=1, stable=True)
        s, i = torch.gather(s, 1, order), torch.gather(i, 1, order)
        order = torch.argsort(s, dim=1, descending=True, stable=True)[:, :k]
        return torch.gather(s, 1, order), torch.gather(i, 1, order)


def make_index(vectors: np.ndarray | None = None, backend: str = "exact", **kwargs) -> Index:
    """Build an index (and add ``vectors`` if given).

    ``backend``: ``"exact"`` (:class:`ExactIndex`), ``"faiss"`` (:class:`FaissIndex`; ``ImportError``
    with an install hint if faiss is missing) or ``"auto"`` (faiss IVF for galleries ``>= IVF_THRESHOLD``
    when faiss is installed, else exact). Extra keyword arguments go to the backend's constructor."""
    if backend == "exact":
        index: Index = ExactIndex(**kwargs)
    elif backend == "faiss":
        if not faiss_available():
            raise ImportError("backend='faiss' requested but faiss is not installed "
                              "(pip install faiss-cpu, see requirements-optional.txt); use backend='exact'")
        index = FaissIndex(**kwargs)
    elif backend == "auto":
        n = 0 if vectors is None else np.asarray(vectors).shape[0]
        index = FaissIndex(**kwargs) if n >= IVF_THRESHOLD and faiss_available() else ExactIndex(**kwargs)
    else:
        raise ValueError(f"backend must be 'exact', 'faiss' or 'auto', got {backend!r}")
    if vectors is not None:
        index.add(vectors)
    return index
