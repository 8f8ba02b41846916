"""Retrieval metrics with VSE++ ``evaluation.py`` conventions (docs/METHOD.md §7).

Inputs everywhere: image embeddings ``img (N_i, d)``, caption embeddings
``cap (N_c, d)`` and ``caption_image (N_c,)``, the image row of each caption (any
number of captions per image, in any order).

* Image -> text: an image's rank is the best (smallest) rank of any of its
  ground-truth captions among *all* captions.
* Text -> image: each caption ranks all images; its rank is that of its own image.
* Ranks are 0-based; R@K = % of queries with rank < K; ``medr`` = floor(median) + 1
  and ``meanr`` = mean + 1 (1-based, exactly as VSE++ computes them).
* Ordering is Euclidean nearest neighbour. On unit vectors (all gallery norms within
  1e-4 of 1) that is the order of the dot product, which is what we compute (as
  VSE++ does); otherwise the score ``q.g - |g|^2/2`` reproduces L2 order exactly.
  Ranks are those of float64 scores (float32 bulk pass, float64 re-scoring of the
  near-ties), so they do not depend on BLAS summation order.
* Ties (equal score) rank the smaller gallery id first (deterministic; VSE++'s
  ``argsort`` leaves ties in arbitrary order).

Every result states its query and gallery sizes (``n_images``, ``n_captions``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .index import make_index
from .ranking import is_unit, pair_scores, rounding_bound

__all__ = [
    "i2t_ranks",
    "t2i_ranks",
    "recall_summary",
    "evaluate_embeddings",
    "evaluate_coco",
    "topk",
    "i2t_topk",
    "t2i_topk",
    "gt_mask_i2t",
    "gt_mask_t2i",
]


def _inputs(
    img: np.ndarray, cap: np.ndarray, caption_image: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes and return float64 embeddings and int64 caption->image map."""
    img = np.asarray(img, dtype=np.float64)
    cap = np.asarray(cap, dtype=np.float64)
    ci = np.asarray(caption_image)
    if img.ndim != 2 or cap.ndim != 2 or img.shape[1] != cap.shape[1]:
        raise ValueError(f"need img (N_i, d) and cap (N_c, d); got {img.shape} and {cap.shape}")
    if ci.shape != (cap.shape[0],):
        raise ValueError(f"caption_image must have shape ({cap.shape[0]},), got {ci.shape}")
    if ci.size and not np.issubdtype(ci.dtype, np.integer):
        raise ValueError("caption_image must hold integer image rows")
    ci = ci.astype(np.int64)
    if ci.size and (ci.min() < 0 or ci.max() >= img.shape[0]):
        raise ValueError(f"caption_image values must be in [0, {img.shape[0]})")
    return img, cap, ci


_exact_scores = pair_scores  # the one ranking rule (ranking.py), shared with the index


_BAND_SLICE = 1 << 16  # uncertain pairs re-scored at a time (64k x 128 float64 = 64 MB a side)
# Above this fraction of a chunk in the band (near-collapsed embeddings, e.g. an untrained model),
# one float64 matmul of the chunk is cheaper than gathering the pairs (bench_eval: "(b1) R@K").
_DENSE_BAND = 0.125


def _target_ranks(
    queries: np.ndarray, gallery: np.ndarray, target: np.ndarray, chunk: int
) -> np.ndarray:
    """0-based stable rank of gallery row ``target[i]`` for query ``i`` (float64 inputs).

    Rank = #(gallery rows with a higher score) + #(equal score and smaller id).
    The bulk comparison uses a float32 matmul (about 5x faster than float64 on CPU);
    only entries whose float32 score lies within a rigorous rounding bound ``eps`` of
    the target's exact score are re-scored in float64, so ranks are exactly those of
    a float64 computation (and independent of BLAS summation order). A chunk with more
    than ``_DENSE_BAND`` of its pairs in the band (near-collapsed embeddings) is re-scored
    whole by one float64 matmul instead; its ranks are those of that matmul's scores.
    """
    n, d = gallery.shape
    gsq = (gallery**2).sum(1)
    unit = is_unit(gsq)
    ts = _exact_scores(queries, gallery[target], unit)
    gmax = float(np.sqrt(gsq.max())) if n else 0.0
    qnorm = np.sqrt((queries**2).sum(1))
    eps = rounding_bound(d, qnorm, gmax, unit, 2.0**-24)  # float32 bulk pass vs the rule
    g32 = torch.from_numpy(np.ascontiguousarray(gallery.T, dtype=np.float32))
    half32 = None if unit else torch.from_numpy((0.5 * gsq).astype(np.float32))
    q32 = torch.from_numpy(queries.astype(np.float32))
    cols = np.arange(n)
    ranks = np.empty(queries.shape[0], np.int64)
    with torch.inference_mode():
        for s in range(0, queries.shape[0], chunk):
            S = q32[s : s + chunk] @ g32
            if half32 is not None:
                S -= half32
            S = S.numpy()
            m = S.shape[0]
            lo = (ts[s : s + m] - eps[s : s + m])[:, None]
            hi = (ts[s : s + m] + eps[s : s + m])[:, None]
            band = (S >= lo) & (S <= hi)  # the uncertain band (target included)
            if np.count_nonzero(band) > _DENSE_BAND * band.size:
                ranks[s : s + m] = _dense_ranks(queries[s : s + m], gallery, gsq, ts[s : s + m], target[s : s + m], unit)
                continue
            better = np.count_nonzero(S > hi, axis=1)
            r, c = np.nonzero(band)
            # Re-score the band in slices: for near-collapsed embeddings (an untrained or
            # collapsed model) the band is nearly the whole chunk, and gathering it at once
            # took gigabytes (1024 x 5,000 x 128 float64 = 5 GB).
            for b in range(0, len(r), _BAND_SLICE):
                rb, cb = r[b:b + _BAND_SLICE], c[b:b + _BAND_SLICE]
                exact = _exact_scores(queries[s + rb], gallery[cb], unit)
                t_s, t_id = ts[s + rb], target[s + rb]
                wins = (exact > t_s) | ((exact == t_s) & (cols[cb] < t_id))
                better += np.bincount(rb[wins], minlength=m)
            ranks[s : s + m] = better
    return ranks


def _dense_ranks(q: np.ndarray, gallery: np.ndarray, gsq: np.ndarray, ts: np.ndarray, target: np.ndarray,
                 unit: bool) -> np.ndarray:
    """Stable ranks of ``target`` (exact scores ``ts``) from one float64 matmul of the chunk: pairs
    clearly above count, the few within its rounding bound of ``ts`` are re-scored by the rule."""
    e = q @ gallery.T
    if not unit:
        e -= 0.5 * gsq
    eps = rounding_bound(q.shape[1], np.sqrt((q**2).sum(1)), float(np.sqrt(gsq.max())), unit, 2.0**-53)[:, None]
    better = np.count_nonzero(e > ts[:, None] + eps, axis=1)
    r, c = np.nonzero(np.abs(e - ts[:, None]) <= eps)
    for b in range(0, len(r), _BAND_SLICE):  # bounded memory even if every pair ties
        rb, cb = r[b:b + _BAND_SLICE], c[b:b + _BAND_SLICE]
        exact = _exact_scores(q[rb], gallery[cb], unit)
        wins = (exact > ts[rb]) | ((exact == ts[rb]) & (cb < target[rb]))
        better += np.bincount(rb[wins], minlength=len(q))
    return better


def i2t_ranks(
    img: np.ndarray,
    cap: np.ndarray,
    caption_image: np.ndarray,
    *,
    chunk: int = 1024,
    return_best: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """0-based image->text rank of every image (best rank of any of its captions).

    With ``return_best=True`` also returns the id of the caption achieving it.
    Raises ``ValueError`` if an image has no caption (its rank is undefined).
    """
    img, cap, ci = _inputs(img, cap, caption_image)
    counts = np.bincount(ci, minlength=img.shape[0])
    if (counts == 0).any():
        raise ValueError(
            f"{int((counts == 0).sum())} image(s) have no caption; image->text rank is undefined"
        )
    # The best GT caption (highest exact score, smallest id on ties) has the minimum
    # stable rank of all the image's captions, so only its rank is needed.
    unit = is_unit((cap**2).sum(1))
    pair = _exact_scores(img[ci], cap, unit)
    ids = np.arange(cap.shape[0])
    order = np.lexsort((ids, -pair, ci))  # by image, then score desc, then id
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    best = order[first]
    ranks = _target_ranks(img, cap, best, chunk)
    return (ranks, best) if return_best else ranks


def t2i_ranks(
    img: np.ndarray, cap: np.ndarray, caption_image: np.ndarray, *, chunk: int = 4096
) -> np.ndarray:
    """0-based text->image rank of every caption (rank of its own image among all images)."""
    img, cap, ci = _inputs(img, cap, caption_image)
    return _target_ranks(cap, img, ci, chunk)


def recall_summary(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"R@1", "R@5", "R@10", "medr", "meanr"}``: R@K in percent, medr/meanr 1-based."""
    r = np.asarray(ranks)
    if r.size == 0:
        raise ValueError("no ranks to summarise")
    out: dict[str, float] = {f"R@{k}": float(100.0 * np.count_nonzero(r < k) / r.size) for k in ks}
    out["medr"] = float(np.floor(np.median(r)) + 1)  # VSE++: floor(median(ranks)) + 1
    out["meanr"] = float(r.mean() + 1)
    return out


def evaluate_embeddings(
    img: np.ndarray,
    cap: np.ndarray,
    caption_image: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, Any]:
    """Both directions: ``{"i2t": summary, "t2i": summary, "rsum", "n_images", "n_captions"}``.

    ``rsum`` is the sum of the R@K values of both directions (the six R@K for the
    default ks). Queries/galleries: i2t ranks ``n_captions`` captions for each of
    ``n_images`` images; t2i ranks ``n_images`` images for each caption.
    """
    i2t = recall_summary(i2t_ranks(img, cap, caption_image), ks)
    t2i = recall_summary(t2i_ranks(img, cap, caption_image), ks)
    rsum = sum(i2t[f"R@{k}"] + t2i[f"R@{k}"] for k in ks)
    return {
        "i2t": i2t,
        "t2i": t2i,
        "rsum": float(rsum),
        "n_images": int(np.asarray(img).shape[0]),
        "n_captions": int(np.asarray(cap).shape[0]),
    }


def evaluate_coco(
    img: np.ndarray,
    cap: np.ndarray,
    caption_image: np.ndarray,
    folds: int = 5,
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, Any]:
    """COCO protocol: ``{"coco1k": mean over folds, "coco5k": all images at once}``.

    The images are cut into ``folds`` contiguous blocks of ``N_i // folds`` images
    (VSE++: five folds of 1,000 of the 5,000 test images); each fold is evaluated
    with only its own captions and every number (R@K, medr, meanr, rsum) is averaged
    over folds, as VSE++ does. ``coco1k`` also holds ``"folds"`` (per-fold results),
    ``"n_folds"`` and ``"dropped_images"`` (the remainder when ``N_i`` is not a
    multiple of ``folds``; 0 for the COCO 5k test set). Intended for ``N_i >= 5000``,
    but any size with at least one image per fold works.
    """
    img, cap, ci = _inputs(img, cap, caption_image)
    n = img.shape[0]
    if folds < 1:
        raise ValueError("folds must be >= 1")
    size = n // folds
    if size < 1:
        raise ValueError(f"{n} images cannot make {folds} folds")
    per_fold = []
    for f in range(folds):
        lo, hi = f * size, (f + 1) * size
        sel = np.nonzero((ci >= lo) & (ci < hi))[0]  # keeps caption order
        per_fold.append(evaluate_embeddings(img[lo:hi], cap[sel], ci[sel] - lo, ks))
    avg: dict[str, Any] = {}
    for side in ("i2t", "t2i"):
        avg[side] = {key: float(np.mean([r[side][key] for r in per_fold])) for key in per_fold[0][side]}
    avg["rsum"] = float(np.mean([r["rsum"] for r in per_fold]))
    avg["n_images"] = size
    avg["n_captions"] = float(np.mean([r["n_captions"] for r in per_fold]))
    avg["n_folds"] = folds
    avg["dropped_images"] = n - folds * size
    avg["folds"] = per_fold
    return {"coco1k": avg, "coco5k": evaluate_embeddings(img, cap, ci, ks)}


# ---- top-K neighbour lists (for the app) -------------------------------------------


def topk(
    queries: np.ndarray, gallery: np.ndarray, k: int, backend: str = "exact", **index_kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``(distances, ids)`` of the ``k`` nearest gallery rows per query (L2, not squared)."""
    index = make_index(np.asarray(gallery, dtype=np.float32), backend=backend, **index_kwargs)
    return index.search(np.asarray(queries, dtype=np.float32), k)


def i2t_topk(img: np.ndarray, cap: np.ndarray, k: int, backend: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Nearest ``k`` captions of every image: ``(distances, caption ids)``, ``(N_i, k)``."""
    return topk(img, cap, k, backend)


def t2i_topk(img: np.ndarray, cap: np.ndarray, k: int, backend: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """Nearest ``k`` images of every caption: ``(distances, image ids)``, ``(N_c, k)``."""
    return topk(cap, img, k, backend)


def gt_mask_i2t(query_images: np.ndarray, retrieved_caption_ids: np.ndarray, caption_image: np.ndarray) -> np.ndarray:
    """Bool ``(Q, K)``: is retrieved caption ``[q, j]`` a ground-truth caption of image ``q``?"""
    ci = np.asarray(caption_image)
    return ci[np.asarray(retrieved_caption_ids)] == np.asarray(query_images)[:, None]


def gt_mask_t2i(query_captions: np.ndarray, retrieved_image_ids: np.ndarray, caption_image: np.ndarray) -> np.ndarray:
    """Bool ``(Q, K)``: is retrieved image ``[q, j]`` the image of caption ``q``?"""
    ci = np.asarray(caption_image)
    return np.asarray(retrieved_image_ids) == ci[np.asarray(query_captions)][:, None]
