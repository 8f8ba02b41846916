"""Per-dataset calibration of the semantic metric's "related" threshold, from the dataset's own captions.

The labels (related / unrelated) and sR@K call a retrieved item related when its text-side relevance
``cos(e(caption), profile(image))`` is ``>= threshold`` (``semantic.py``; ``profile`` = the L2-normalised
centroid of the image's caption embeddings). A fixed threshold (``DEFAULT_THRESHOLDS``, 0.72 for MiniLM)
was set on the synthetic demo; on photographs the same sentence model spreads scores differently. Here the
threshold is read off two distributions of exactly that relevance, computed from captions only (no
retrieval model is involved):

* **positives**: each caption against the profile of its own image's *other* captions (leave-one-out, so
  a caption is never compared with itself): how relevant a sentence that truly describes the image scores;
* **negatives**: each caption against the full profile of ``negatives_per_caption`` other images drawn at
  random (seeded, so the same captions give the same record): how relevant an arbitrary image scores.

Rule (``RULE``, the default): the **equal error rate** — the threshold where the share of positives called
unrelated equals the share of negatives called related, i.e. where the two distributions cross. It needs
no class prior: a precision target would depend on how many negatives are drawn per positive, while in a
real gallery a caption's own image is one of ~1,000. The threshold at 90 % precision (1:1 prior) is
recorded beside it, as are the error rates of the default threshold, so either can be read off.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .sentences import DEFAULT_THRESHOLDS, normalise_rows

RULE = "eer"
RULE_TEXT = ("equal error rate: the share of same-image captions called unrelated equals the share of "
             "random other images called related (where the two distributions cross)")
PRECISION_TARGET = 0.9
HIST_STEP = 0.025


def positive_scores(text_emb: np.ndarray, caption_image: np.ndarray) -> np.ndarray:
    """Each caption's relevance to the centroid of its image's *other* captions (images with >= 2 captions)."""
    e = normalise_rows(text_emb).astype(np.float64)
    ci = np.asarray(caption_image, dtype=np.int64)
    n = int(ci.max()) + 1 if ci.size else 0
    sums = np.zeros((n, e.shape[1]), np.float64)
    np.add.at(sums, ci, e)
    counts = np.bincount(ci, minlength=n)
    keep = (counts[ci] >= 2) & (np.linalg.norm(e, axis=1) > 0)
    loo = normalise_rows(sums[ci[keep]] - e[keep]).astype(np.float64)
    return np.einsum("nd,nd->n", e[keep], loo)


def negative_scores(text_emb: np.ndarray, caption_image: np.ndarray, seed: int = 0,
                    negatives_per_caption: int = 1) -> np.ndarray:
    """Each caption's relevance to the profiles of random *other* images (uniform over the rest, seeded)."""
    e = normalise_rows(text_emb).astype(np.float64)
    ci = np.asarray(caption_image, dtype=np.int64)
    n = int(ci.max()) + 1 if ci.size else 0
    if n < 2:
        raise ValueError("calibration needs captions of at least two images")
    sums = np.zeros((n, e.shape[1]), np.float64)
    np.add.at(sums, ci, e)
    profiles = normalise_rows(sums).astype(np.float64)
    has = np.bincount(ci, minlength=n) > 0
    keep = np.linalg.norm(e, axis=1) > 0
    rng = np.random.default_rng(seed)
    caps = np.repeat(np.flatnonzero(keep), negatives_per_caption)
    other = (ci[caps] + rng.integers(1, n, size=len(caps))) % n  # never the caption's own image
    ok = has[other]  # image ids without captions (gaps in the numbering) have no profile
    return np.einsum("nd,nd->n", e[caps[ok]], profiles[other[ok]])


def _error_rates(pos: np.ndarray, neg: np.ndarray, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(share of positives below ``t``, share of negatives at or above ``t``): "related" means ``>= t``."""
    ps, ns = np.sort(pos), np.sort(neg)
    fnr = np.searchsorted(ps, t, side="left") / max(len(ps), 1)
    fpr = 1.0 - np.searchsorted(ns, t, side="left") / max(len(ns), 1)
    return np.asarray(fnr, dtype=np.float64), np.asarray(fpr, dtype=np.float64)


def _candidates(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct score ``v_k`` and the midpoint of the interval ``(v_{k-1}, v_k]`` below it.

    The error rates are constant on each such interval, so these are all the distinct thresholds; the
    midpoint is the one reported (for separated classes: halfway across the gap)."""
    v = np.unique(np.concatenate([pos, neg]))
    mid = np.concatenate([v[:1], (v[:-1] + v[1:]) / 2])
    return v, mid


def eer_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(threshold, equal error rate): where the share of positives below equals that of negatives above."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if not len(pos) or not len(neg):
        raise ValueError("calibration needs positive and negative scores")
    v, mid = _candidates(pos, neg)
    fnr, fpr = _error_rates(pos, neg, v)
    gap, total = np.abs(fnr - fpr), fnr + fpr
    k = int(np.lexsort((total, gap))[0])  # the smallest gap; among equals, the fewest errors; then the lowest
    return float(mid[k]), float((fnr[k] + fpr[k]) / 2)


def precision_threshold(pos: np.ndarray, neg: np.ndarray, target: float = PRECISION_TARGET) -> float | None:
    """The lowest threshold whose precision at a 1:1 prior, ``TPR / (TPR + FPR)``, is ``>= target``
    (None if no threshold reaches it)."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    v, mid = _candidates(pos, neg)
    fnr, fpr = _error_rates(pos, neg, v)
    tpr = 1.0 - fnr
    prec = np.divide(tpr, tpr + fpr, out=np.zeros_like(tpr), where=(tpr + fpr) > 0)
    ok = np.flatnonzero((prec >= target) & (tpr > 0))
    return float(mid[ok[0]]) if len(ok) else None


def histogram(pos: np.ndarray, neg: np.ndarray, step: float = HIST_STEP) -> dict[str, list]:
    """Both distributions on shared bin edges (``step`` wide, from below the lowest score to 1.0)."""
    lo = min(float(np.min(pos)), float(np.min(neg)), 0.0)
    start = np.floor(lo / step) * step
    edges = np.round(np.arange(start, 1.0 + step / 2, step), 6)
    hp, _ = np.histogram(np.clip(pos, edges[0], edges[-1]), edges)
    hn, _ = np.histogram(np.clip(neg, edges[0], edges[-1]), edges)
    return {"edges": edges.tolist(), "positives": hp.tolist(), "negatives": hn.tolist()}


def _summary(x: np.ndarray) -> dict[str, float]:
    q = np.quantile(x, [0.05, 0.5, 0.95])
    return {"mean": round(float(x.mean()), 4), "p5": round(float(q[0]), 4), "median": round(float(q[1]), 4),
            "p95": round(float(q[2]), 4)}


def calibrate(text_emb: np.ndarray, caption_image: np.ndarray, kind: str = "minilm", seed: int = 0,
              negatives_per_caption: int = 1, dataset: str | None = None, split: str | None = None) -> dict[str, Any]:
    """The calibration record stored as ``metrics.json``'s ``semantic.calibration``.

    ``text_emb`` (N_c, D) sentence embeddings of a split's captions (the relevance model ``kind``),
    ``caption_image`` (N_c,) their image rows. Deterministic for the same inputs and ``seed``."""
    pos = positive_scores(text_emb, caption_image)
    neg = negative_scores(text_emb, caption_image, seed, negatives_per_caption)
    t, eer = eer_threshold(pos, neg)
    default = DEFAULT_THRESHOLDS.get(kind)
    fnr, fpr = _error_rates(pos, neg, t)
    p90 = precision_threshold(pos, neg)
    out: dict[str, Any] = {
        "rule": RULE, "rule_text": RULE_TEXT, "threshold": round(t, 4), "eer": round(eer, 4),
        "errors": {"positives_unrelated": round(float(fnr), 4), "negatives_related": round(float(fpr), 4)},
        f"precision{int(PRECISION_TARGET * 100)}_threshold": None if p90 is None else round(p90, 4),
        "default_threshold": default, "relevance": kind, "mode": "centroid",
        "n_positives": int(len(pos)), "n_negatives": int(len(neg)), "seed": int(seed),
        "negatives_per_caption": int(negatives_per_caption),
        "positives": _summary(pos), "negatives": _summary(neg), "histogram": histogram(pos, neg),
        "source": {"dataset": dataset, "split": split, "captions": int(len(caption_image)),
                   "what": "the evaluated split's captions only (no retrieval model involved)"},
    }
    if default is not None:
        dfnr, dfpr = _error_rates(pos, neg, default)
        out["default_errors"] = {"positives_unrelated": round(float(dfnr), 4),
                                 "negatives_related": round(float(dfpr), 4)}
    return out


def calibration_for(text_emb: np.ndarray, caption_image: np.ndarray, kind: str = "minilm",
                    **kw: Any) -> dict[str, Any] | None:
    """:func:`calibrate`, or None where a split cannot be calibrated: fewer than two images, or no image with
    two captions (a CSV with one caption an image); the labels then keep ``DEFAULT_THRESHOLDS``."""
    ci = np.asarray(caption_image, dtype=np.int64)
    counts = np.bincount(ci) if ci.size else np.zeros(0, np.int64)
    if (counts > 0).sum() < 2 or not (counts >= 2).any():
        return None
    return calibrate(text_emb, ci, kind, **kw)


def calibration_note(semantic: dict[str, Any] | None) -> str:
    """A clause for reports: how the stored threshold was set ("" when it was not calibrated)."""
    cal = (semantic or {}).get("calibration")
    if not isinstance(cal, dict):
        return ""
    src = cal.get("source") or {}
    return (f" (calibrated on {src.get('dataset')}/{src.get('split')}'s own captions at the equal error rate, "
            f"{100 * float(cal.get('eer', 0)):.1f} %; the uncalibrated default was {cal.get('default_threshold')})")


def stored_threshold(metrics: dict[str, Any] | None, kind: str) -> float | None:
    """The calibrated threshold stored in a run's metrics for relevance model ``kind``, or None."""
    cal = ((metrics or {}).get("semantic") or {}).get("calibration")
    if not isinstance(cal, dict) or cal.get("relevance") != kind:
        return None
    t = cal.get("threshold")
    return float(t) if isinstance(t, (int, float)) and np.isfinite(t) and -1.0 <= t <= 1.0 else None


__all__ = ["RULE", "calibrate", "calibration_for", "eer_threshold", "precision_threshold", "positive_scores", "negative_scores",
           "histogram", "stored_threshold", "calibration_note"]
