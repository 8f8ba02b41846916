"""Regions for short queries (``ModelConfig.regions``, docs/METHOD.md §7c): a typed query that names one thing
is also scored against windows of each picture, and the best of the whole picture and its windows wins.

Why: a network whose global pooling reads a picture as a bag of colours and shapes (docs/METHOD.md §2c) scores
"a red circle" as high for a red square beside a blue circle as for a red circle, and lower for a red circle
that shares its picture with two other things than for one alone. A window that holds one thing has no other
thing to confuse it with: matching a sentence fragment to a picture's fragments, after Karpathy, Joulin and
Fei-Fei's fragment embeddings (NeurIPS 2014), with a fixed grid of windows where they used object detections.

The windows are :data:`WINDOW` of the picture's side, at ``grid x grid`` evenly spaced places (3: corners,
edge middles and the centre, overlapping by half). Only queries much shorter than the split's captions use
them (:func:`is_short`): a full caption describes the whole picture, and there windows only add near-misses
(measured: DEMO.md "Round seven"). Scores follow the one ranking rule (``ranking.py``): float64 per pair,
ties to the smaller image id.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

WINDOW = 0.5  # a window's side, as a share of the picture's
SHORT = 0.5   # a query under half the split's median caption length (in words) is short


def is_short(n_words: int, caption_words: Sequence[float] | np.ndarray) -> bool:
    """Whether a query of ``n_words`` is much shorter than the captions (their median word count)."""
    w = np.asarray(caption_words, float)
    w = w[np.isfinite(w)]
    return bool(w.size) and 0 < n_words < SHORT * float(np.median(w))


def window_boxes(width: int, height: int, grid: int) -> list[tuple[int, int, int, int]]:
    """``grid * grid`` (left, top, right, bottom) boxes of :data:`WINDOW` of each side, evenly spaced, row by row."""
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    ww, wh = max(1, round(width * WINDOW)), max(1, round(height * WINDOW))
    xs = np.linspace(0, width - ww, grid).round().astype(int)
    ys = np.linspace(0, height - wh, grid).round().astype(int)
    return [(int(x), int(y), int(x) + ww, int(y) + wh) for y in ys for x in xs]


def windows(img: Any, grid: int) -> list[Any]:
    """A PIL image's windows (:func:`window_boxes`)."""
    return [img.crop(b) for b in window_boxes(img.size[0], img.size[1], grid)]


def embed_regions(embedder: Any, images: Sequence[Any], grid: int, progress: Any = None) -> np.ndarray:
    """(N, grid * grid, d) unit embeddings of each picture's windows, by the run's own image path."""
    crops = [w for img in images for w in windows(img, grid)]
    vecs = embedder.embed_images(crops, progress=progress) if crops else np.zeros((0, 0), np.float32)
    return np.asarray(vecs, np.float32).reshape(len(images), grid * grid, -1)


def region_topk(q: np.ndarray, whole: np.ndarray, regions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top ``k`` pictures by the best of ``q . whole`` and ``q . window`` (unit vectors), float64
    per pair (its summation order does not depend on the matrix shapes), ties to the smaller picture id.
    Returns (scores, ids), each (Q, k)."""
    q = np.atleast_2d(np.asarray(q, np.float64))
    g = np.asarray(whole, np.float64)
    r = np.asarray(regions, np.float64)
    if r.shape[:1] != g.shape[:1] or r.shape[-1] != g.shape[-1]:
        raise ValueError(f"regions {r.shape} do not fit the pictures {g.shape}")
    best = np.maximum(np.einsum("qd,nd->qn", q, g), np.einsum("qd,nrd->qnr", q, r).max(axis=2))
    k = min(k, g.shape[0])
    ids = np.broadcast_to(np.arange(g.shape[0]), best.shape)
    order = np.lexsort((ids, -best), axis=-1)[:, :k]
    return np.take_along_axis(best, order, 1), order.astype(np.int64)
