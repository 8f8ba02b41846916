"""The one ranking rule every retrieval view follows (docs/METHOD.md §7).

The R@K metric (``metrics.py``), the exact index behind Table 3, the Query page and the map's
R@K hit / miss (``index.py``) must order near-ties alike on every CPU, or a user sees a map
colouring that disagrees with the figure beside it (issue 21: float32 scores from different
BLAS kernels ranked two captions 1e-8 apart in different orders on the Intel Xeon and the
AMD EPYC). So the final order is always decided here:

* the score of a (query, gallery) pair is :func:`pair_scores`: float64, one ``einsum`` per
  pair of rows (its summation order depends only on the vector length, not on where the
  pair sits in a matrix, unlike a BLAS product), minus ``|g|^2 / 2`` unless the gallery is
  all unit vectors;
* higher score first; equal scores rank the smaller gallery id first.

Fast paths (float32 or bfloat16 matmuls) only *screen*: every pair whose cheap score lies
within a proven rounding bound (:func:`rounding_bound`) of the decision is re-scored here.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["UNIT_TOL", "is_unit", "pair_scores", "rounding_bound", "exact_topk"]

# Tolerance for "these vectors are unit length" (then the ranking score is q.g only).
UNIT_TOL = 1e-4
_PAIR_SLICE = 1 << 16  # pairs scored at a time (64k x 128 float64 = 64 MB a side)


def is_unit(gallery_sq_norms: np.ndarray) -> bool:
    """Whether every gallery vector is unit length within ``UNIT_TOL`` (an empty gallery is)."""
    sq = np.asarray(gallery_sq_norms)
    return sq.size == 0 or bool(np.abs(sq - 1.0).max() <= UNIT_TOL)


def pair_scores(q: np.ndarray, g: np.ndarray, unit: bool) -> np.ndarray:
    """Float64 ranking score of row pairs ``(q[i], g[i])``; higher = nearer (Euclidean)."""
    q = np.asarray(q, np.float64)
    g = np.asarray(g, np.float64)
    s = np.einsum("ij,ij->i", q, g)
    return s if unit else s - 0.5 * np.einsum("ij,ij->i", g, g)


def rounding_bound(d: int, qnorm: np.ndarray, gmax: float, unit: bool, unit_roundoff: float) -> np.ndarray:
    """Per query, a bound on |cheap score - :func:`pair_scores`| for a dot product of length ``d``
    accumulated with ``unit_roundoff`` (2**-24 float32, 2**-53 float64): ~(d + 2) u |q| |g|
    plus the cast, doubled for safety, plus the ``|g|^2 / 2`` term's rounding when it is used."""
    return 2.0 * (d + 4) * unit_roundoff * (np.asarray(qnorm, np.float64) * gmax + (0.0 if unit else gmax**2))


def _ordered(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's first ``k`` by (score desc, id asc)."""
    order = np.lexsort((ids, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _rescored(q: np.ndarray, gallery: np.ndarray, cand: np.ndarray, unit: bool) -> np.ndarray:
    """:func:`pair_scores` of every (row, candidate id) pair of ``cand (Q, m)``, in slices."""
    rows = np.repeat(np.arange(cand.shape[0]), cand.shape[1])
    flat = cand.reshape(-1)
    out = np.empty(flat.size, np.float64)
    for s in range(0, flat.size, _PAIR_SLICE):
        sl = slice(s, s + _PAIR_SLICE)
        out[sl] = pair_scores(q[rows[sl]], gallery[flat[sl]], unit)
    return out.reshape(cand.shape)


def exact_topk(q: np.ndarray, gallery: np.ndarray, cand_scores: np.ndarray, cand_ids: np.ndarray,
               k: int, unit: bool, unit_roundoff: float = 2.0**-24,
               more: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
               gmax: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The top-``k`` by the ranking rule, from a cheap search's ``k' > k`` best candidates.

    ``cand_scores`` (Q, k') are the cheap scores, best first, each within
    ``rounding_bound(..., unit_roundoff)`` of the exact one. A row whose first k + 1 cheap scores
    are each more than twice the bound apart is already in the rule's order (the common case:
    returned as it is). Otherwise its exact top-k lies among its candidates when the k'-th cheap
    score is below the k-th minus twice the bound (every exact top-k column has a cheap score
    >= that), or when the candidates are the whole gallery: those are re-scored by
    :func:`pair_scores`. Other rows get more candidates from ``more(rows)`` (the cheap search
    again, deeper: a first pass of k + 1 settles most rows) and, if still unsettled
    (near-duplicates crowding the k-th place), are ranked over the whole gallery.
    Returns float64 scores and int64 ids, ``(Q, k)``.
    """
    q = np.asarray(q, np.float64)
    n, kk = gallery.shape[0], cand_ids.shape[1]
    k = min(k, kk)
    if gmax is None:  # the largest gallery norm (an index passes the one it keeps)
        gmax = float(np.sqrt((np.asarray(gallery, np.float64) ** 2).sum(1).max())) if n else 0.0
    eps = rounding_bound(q.shape[1], np.sqrt((q**2).sum(1)), gmax, unit, unit_roundoff)
    cs = np.asarray(cand_scores, np.float64)
    apart = (np.diff(-cs[:, :k + 1], axis=1) > 2.0 * eps[:, None]).all(1)
    if kk >= n or k == 0:
        done = np.ones(q.shape[0], bool)
    else:
        done = cs[:, kk - 1] < cs[:, k - 1] - 2.0 * eps
    out_s, out_i = cs[:, :k].copy(), np.array(cand_ids[:, :k], np.int64)
    redo = done & ~apart
    if redo.any():
        ids = cand_ids[redo]
        out_s[redo], out_i[redo] = _ordered(_rescored(q[redo], gallery, ids, unit), ids, k)
    if not done.all():
        rows = np.flatnonzero(~done)
        if more is not None:  # a deeper cheap pass for these rows only
            s2, i2 = more(rows)
            out_s[rows], out_i[rows] = exact_topk(q[rows], gallery, s2, i2, k, unit, unit_roundoff, gmax=gmax)
        else:  # rare: near-duplicates crowd the k-th place; rank those rows over the gallery
            out_s[rows], out_i[rows] = _full_topk(q[rows], gallery, k, unit)
    return out_s, out_i


def _full_topk(q: np.ndarray, gallery: np.ndarray, k: int, unit: bool,
               chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of each query over the whole gallery: a float64 matmul screens (its error is within
    ``rounding_bound(..., 2**-53)``), and the pairs near each k-th score are re-scored by the rule."""
    g = np.asarray(gallery, np.float64)
    n, d = g.shape
    gsq = (g**2).sum(1)
    gmax = float(np.sqrt(gsq.max()))
    out_s, out_i = np.empty((q.shape[0], k), np.float64), np.empty((q.shape[0], k), np.int64)
    for s in range(0, q.shape[0], chunk):
        qq = q[s:s + chunk]
        e = qq @ g.T
        if not unit:
            e -= 0.5 * gsq
        eps = rounding_bound(d, np.sqrt((qq**2).sum(1)), gmax, unit, 2.0**-53)
        kth = np.partition(e, n - k, axis=1)[:, n - k]
        for j in range(qq.shape[0]):
            cand = np.flatnonzero(e[j] >= kth[j] - 2.0 * eps[j])[None, :]
            sc, ids = _ordered(_rescored(qq[j:j + 1], g, cand, unit), cand, k)
            out_s[s + j], out_i[s + j] = sc[0], ids[0]
    return out_s, out_i
