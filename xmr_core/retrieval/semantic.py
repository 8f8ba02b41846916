"""Semantic retrieval metrics: credit semantically right but unpaired retrievals.

The paper's Table 3 shows retrieved sentences that are "semantically related but not
necessarily in pairs" (docs/METHOD.md §7); R@K counts them as misses. Here the relevance of a
retrieved item to a query is measured on the *text side*, so it works both ways:

* i2t - query image A, retrieved caption c: ``cos(profile(A), e(c))``;
* t2i - query caption q, retrieved image B: ``cos(e(q), profile(B))``

(as Biten et al., WACV 2022, compare a retrieved item's captions with the query's
ground-truth text), where ``e`` is a sentence embedding (unit vector) and
``profile(X)`` the L2-normalised mean of the embeddings of X's captions (mode
``"centroid"``, the default). Caption-level variants: ``"mean"`` (mean of the
pairwise cosines) and ``"max"`` (best pairwise cosine). Image-to-image relevance is
``cos(profile(A), profile(B))``. A ground-truth pair always has relevance 1.0.

Scores
* ``NCS@K`` (Biten et al.): sum of the (clipped at 0) relevances of the top K
  retrieved over the sum of the K largest relevances in the whole gallery (the ideal
  ranking, GT included). 1 = ideal, 0 = nothing relevant. Per query, then averaged.
* ``sR@K`` (semantic recall): % of queries with at least one of the top K whose
  relevance is ``>= threshold`` (the GT counts as 1.0, so ``sR@K >= R@K``).

Default thresholds (a parameter everywhere): with mean word vectors, captions share
many function words and cosines between *unrelated* captions of the same domain are
already around 0.5-0.7, so "related" needs ``0.8``; MiniLM sentence cosines are
lower for unrelated text, and 0.72 is calibrated on the demo (see ``DEFAULT_THRESHOLDS``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .index import make_index
from .sentences import (DEFAULT_THRESHOLDS, SentenceEmbedder, WordVectorSentenceEmbedder, embedder_kind,
                        load_minilm_embedder, normalise_rows)

__all__ = [
    "SentenceEmbedder",
    "WordVectorSentenceEmbedder",
    "load_minilm_embedder",
    "DEFAULT_THRESHOLDS",
    "SemanticRelevance",
    "caption_relevance",
    "relevance_i2t",
    "relevance_t2i",
    "ideal_relevances",
    "ncs_at_k",
    "semantic_recall_at_k",
    "semantic_evaluate",
    "label_results",
    "failed_but_related",
]

# ---- relevance ---------------------------------------------------------------------


def _gather_dot(a: np.ndarray, qa: np.ndarray, b: np.ndarray, ib: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """``out[q, j] = a[qa[q]] . b[ib[q, j]]``, chunked so the gathered (chunk, K, D) stays small."""
    out = np.zeros(ib.shape, np.float32)
    for s in range(0, len(qa), chunk):
        out[s : s + chunk] = np.einsum("qd,qkd->qk", a[qa[s : s + chunk]], b[ib[s : s + chunk]])
    return out


@dataclass
class SemanticRelevance:
    """Text-side relevance between queries and retrieved items (see module docstring).

    ``text_emb`` (N_c, D) unit caption embeddings; ``caption_image`` (N_c,);
    ``profiles`` (N_i, D) normalised mean caption embedding per image ("centroid");
    ``means`` (N_i, D) the unnormalised mean, because the mean of pairwise cosines
    with an image's captions is the dot product with their mean ("mean" mode).
    """

    text_emb: np.ndarray
    caption_image: np.ndarray
    profiles: np.ndarray
    means: np.ndarray
    mode: str = "centroid"
    kind: str = "custom"

    def __post_init__(self) -> None:
        # Captions grouped by image, for the "max" mode's per-image reductions.
        self._order = np.argsort(self.caption_image, kind="stable")
        counts = np.bincount(self.caption_image, minlength=self.n_images)
        self._starts = np.concatenate([[0], np.cumsum(counts)])

    @property
    def n_images(self) -> int:
        return self.profiles.shape[0]

    def _image_side(self) -> np.ndarray:
        return self.profiles if self.mode == "centroid" else self.means

    def _captions_of(self, image: int) -> np.ndarray:
        return self.text_emb[self._order[self._starts[image] : self._starts[image + 1]]]

    def _max_over_images(self, c: np.ndarray) -> np.ndarray:
        """``c`` (Q, N_c) caption scores -> (Q, N_i) max over each image's captions (0 if none)."""
        out = np.zeros((c.shape[0], self.n_images), np.float32)
        has = self._starts[1:] > self._starts[:-1]
        if has.any():
            red = np.maximum.reduceat(c[:, self._order], self._starts[:-1][has], axis=1)
            out[:, has] = red
        return out

    def i2t(self, query_images: np.ndarray, caption_ids: np.ndarray) -> np.ndarray:
        """Relevance ``(Q, K)`` of retrieved captions to query images (GT = 1.0)."""
        qi = np.asarray(query_images, dtype=np.int64)
        cid = np.asarray(caption_ids, dtype=np.int64)
        if self.mode == "max":
            rel = np.zeros(cid.shape, np.float32)
            for r, img in enumerate(qi):
                gt = self._captions_of(int(img))
                if len(gt):
                    rel[r] = (self.text_emb[cid[r]] @ gt.T).max(1)
        else:
            rel = _gather_dot(self._image_side(), qi, self.text_emb, cid)
        rel = np.where(self.caption_image[cid] == qi[:, None], 1.0, rel)
        return np.clip(rel, -1.0, 1.0).astype(np.float32)

    def t2i(self, query_captions: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
        """Relevance ``(Q, K)`` of retrieved images to query captions (GT = 1.0)."""
        qc = np.asarray(query_captions, dtype=np.int64)
        iid = np.asarray(image_ids, dtype=np.int64)
        if self.mode == "max":
            rel = np.zeros(iid.shape, np.float32)
            for r, c in enumerate(qc):
                for j, img in enumerate(iid[r]):
                    caps = self._captions_of(int(img))
                    rel[r, j] = (caps @ self.text_emb[c]).max() if len(caps) else 0.0
        else:
            rel = _gather_dot(self.text_emb, qc, self._image_side(), iid)
        rel = np.where(iid == self.caption_image[qc][:, None], 1.0, rel)
        return np.clip(rel, -1.0, 1.0).astype(np.float32)

    def dense(self, direction: str, queries: np.ndarray) -> np.ndarray:
        """Relevance of *every* gallery item: ``(Q, N_c)`` for i2t, ``(Q, N_i)`` for t2i."""
        q = np.asarray(queries, dtype=np.int64)
        if direction == "i2t":
            if self.mode == "max":
                rel = np.zeros((len(q), self.text_emb.shape[0]), np.float32)
                for r, img in enumerate(q):
                    gt = self._captions_of(int(img))
                    if len(gt):
                        rel[r] = (gt @ self.text_emb.T).max(0)
            else:
                rel = self._image_side()[q] @ self.text_emb.T
            rel[self.caption_image[None, :] == q[:, None]] = 1.0
        elif direction == "t2i":
            c = self.text_emb[q] @ self.text_emb.T if self.mode == "max" else None
            rel = self._max_over_images(c) if c is not None else self.text_emb[q] @ self._image_side().T
            rel[np.arange(len(q)), self.caption_image[q]] = 1.0
        else:
            raise ValueError("direction must be 'i2t' or 't2i'")
        return np.clip(rel, -1.0, 1.0).astype(np.float32)

    def image_image(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Image-to-image relevance ``cos(profile(A), profile(B))``: ``a`` (Q,), ``b`` (Q, K)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        return _gather_dot(self.profiles, a, self.profiles, b)


def caption_relevance(
    text_emb: np.ndarray,
    caption_image: np.ndarray,
    n_images: int | None = None,
    mode: str = "centroid",
    kind: str = "custom",
) -> SemanticRelevance:
    """Build the relevance model from caption sentence embeddings ``(N_c, D)``.

    ``mode``: ``"centroid"`` (default; cosine to the normalised mean of the other
    side's captions), ``"mean"`` (mean pairwise caption cosine) or ``"max"`` (best
    pairwise caption cosine). Embeddings are L2-normalised here (zero rows stay 0).
    """
    if mode not in ("centroid", "mean", "max"):
        raise ValueError(f"mode must be 'centroid', 'mean' or 'max', got {mode!r}")
    e = normalise_rows(text_emb)
    ci = np.asarray(caption_image, dtype=np.int64)
    if ci.shape != (e.shape[0],):
        raise ValueError("caption_image must have one entry per caption embedding")
    n = int(n_images if n_images is not None else (ci.max() + 1 if ci.size else 0))
    sums = np.zeros((n, e.shape[1]), np.float64)
    np.add.at(sums, ci, e)
    counts = np.maximum(np.bincount(ci, minlength=n), 1)[:, None]
    means = (sums / counts).astype(np.float32)
    return SemanticRelevance(e, ci, normalise_rows(sums), means, mode, kind)


def relevance_i2t(rel: SemanticRelevance, query_images: np.ndarray, retrieved_caption_ids: np.ndarray) -> np.ndarray:
    """Relevance ``(Q, K)`` of each retrieved caption to its query image (GT = 1.0)."""
    return rel.i2t(query_images, retrieved_caption_ids)


def relevance_t2i(rel: SemanticRelevance, query_captions: np.ndarray, retrieved_image_ids: np.ndarray) -> np.ndarray:
    """Relevance ``(Q, K)`` of each retrieved image to its query caption (GT = 1.0)."""
    return rel.t2i(query_captions, retrieved_image_ids)


def ideal_relevances(rel: SemanticRelevance, direction: str, queries: np.ndarray, k: int, chunk: int = 512) -> np.ndarray:
    """The ``k`` largest relevances (clipped at 0, descending) any ranking could reach.

    Computed over the whole gallery (every caption for i2t, every image for t2i),
    GT included at 1.0, in query chunks so memory stays ``chunk x gallery``.
    """
    queries = np.asarray(queries, dtype=np.int64)
    n_gallery = rel.text_emb.shape[0] if direction == "i2t" else rel.n_images
    k = min(k, n_gallery)
    out = np.zeros((len(queries), k), np.float32)
    for s in range(0, len(queries), chunk):
        full = np.maximum(rel.dense(direction, queries[s : s + chunk]), 0.0)
        top = -np.partition(-full, k - 1, axis=1)[:, :k] if k < n_gallery else full
        out[s : s + len(top)] = -np.sort(-top, axis=1)
    return out


def ncs_at_k(relevances: np.ndarray, ideal: np.ndarray, k: int | None = None, per_query: bool = False) -> float | np.ndarray:
    """NCS@K in [0, 1]: sum of the top-K retrieved relevances over the ideal top-K sum.

    ``relevances`` (Q, >=K) in retrieval order; ``ideal`` (Q, >=K) descending (from
    :func:`ideal_relevances`). Both are clipped at 0 (Biten et al. 2022). A query
    whose ideal sum is 0 (nothing relevant exists) scores 1.
    """
    r = np.maximum(np.asarray(relevances, dtype=np.float64), 0.0)
    i = np.maximum(np.asarray(ideal, dtype=np.float64), 0.0)
    if k is not None:
        r, i = r[:, :k], i[:, :k]
    num, den = r.sum(1), i.sum(1)
    scores = np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
    scores = np.clip(scores, 0.0, 1.0)  # guards float noise; num <= den by construction
    return scores if per_query else float(scores.mean())


def semantic_recall_at_k(relevances: np.ndarray, k: int, threshold: float, per_query: bool = False) -> float | np.ndarray:
    """sR@K in percent: queries with a top-K item of relevance ``>= threshold`` (GT is 1.0)."""
    hit = (np.asarray(relevances)[:, :k] >= threshold).any(1)
    return hit if per_query else float(100.0 * hit.mean())


def semantic_evaluate(
    img_emb: np.ndarray,
    cap_emb: np.ndarray,
    caption_image: np.ndarray,
    captions_text: list[str],
    embedder: SentenceEmbedder,
    ks: Sequence[int] = (1, 5, 10),
    threshold: float | None = None,
    mode: str = "centroid",
    text_emb: np.ndarray | None = None,
) -> dict[str, Any]:
    """Semantic scores of a retrieval model in both directions.

    Returns ``{"i2t": {"NCS@K", "sR@K"...}, "t2i": {...}, "threshold", "relevance",
    "n_images", "n_captions"}``; NCS@K and sR@K are both in percent (0-100) here, like
    R@K. ``threshold`` defaults to the embedder's ``default_threshold`` (0.8 if it has
    none). ``text_emb`` may pass precomputed caption embeddings (skips the embedder).
    """
    img_emb = np.asarray(img_emb, dtype=np.float32)
    cap_emb = np.asarray(cap_emb, dtype=np.float32)
    ci = np.asarray(caption_image, dtype=np.int64)
    if len(captions_text) != cap_emb.shape[0]:
        raise ValueError("captions_text must have one sentence per caption embedding")
    if threshold is None:
        threshold = float(getattr(embedder, "default_threshold", DEFAULT_THRESHOLDS["word-vectors"]))
    kind = embedder_kind(embedder)
    temb = embedder(list(captions_text)) if text_emb is None else text_emb
    rel = caption_relevance(temb, ci, img_emb.shape[0], mode=mode, kind=kind)
    kmax = max(ks)
    out: dict[str, Any] = {}
    for direction, queries, gallery in (("i2t", img_emb, cap_emb), ("t2i", cap_emb, img_emb)):
        q_ids = np.arange(queries.shape[0])
        _, retrieved = make_index(gallery).search(queries, kmax)
        r = rel.i2t(q_ids, retrieved) if direction == "i2t" else rel.t2i(q_ids, retrieved)
        ideal = ideal_relevances(rel, direction, q_ids, kmax)
        res: dict[str, float] = {}
        for k in ks:
            res[f"NCS@{k}"] = 100.0 * ncs_at_k(r, ideal, k)  # type: ignore[operator]
        for k in ks:
            res[f"sR@{k}"] = semantic_recall_at_k(r, k, threshold)  # type: ignore[assignment]
        out[direction] = res
    out.update(
        threshold=float(threshold),
        relevance=kind,
        mode=mode,
        n_images=int(img_emb.shape[0]),
        n_captions=int(cap_emb.shape[0]),
    )
    return out


# ---- per-query helpers for the app -------------------------------------------------


def label_results(
    kind: str,
    query_id: int,
    retrieved_ids: Sequence[int],
    rel: SemanticRelevance,
    threshold: float,
) -> list[tuple[str, float]]:
    """For one query's top-K: ``("gt" | "related" | "unrelated", relevance)`` per item.

    ``kind`` is ``"i2t"`` (query image id, retrieved caption ids) or ``"t2i"``
    (query caption id, retrieved image ids). GT items have relevance 1.0.
    """
    ids = np.asarray(retrieved_ids, dtype=np.int64)[None, :]
    q = np.array([query_id], dtype=np.int64)
    if kind == "i2t":
        scores = rel.i2t(q, ids)[0]
        gt = rel.caption_image[ids[0]] == query_id
    elif kind == "t2i":
        scores = rel.t2i(q, ids)[0]
        gt = ids[0] == rel.caption_image[query_id]
    else:
        raise ValueError("kind must be 'i2t' or 't2i'")
    return [
        ("gt" if g else "related" if s >= threshold else "unrelated", float(s))
        for g, s in zip(gt.tolist(), scores.tolist())
    ]


def failed_but_related(
    kind: str,
    query_ids: np.ndarray,
    retrieved_ids: np.ndarray,
    rel: SemanticRelevance,
    k: int,
    threshold: float,
) -> np.ndarray:
    """Query ids whose top-``k`` holds no GT (an R@K miss) but a semantically related item."""
    q = np.asarray(query_ids, dtype=np.int64)
    r = np.asarray(retrieved_ids, dtype=np.int64)[:, :k]
    if kind == "i2t":
        scores = rel.i2t(q, r)
        gt = rel.caption_image[r] == q[:, None]
    elif kind == "t2i":
        scores = rel.t2i(q, r)
        gt = r == rel.caption_image[q][:, None]
    else:
        raise ValueError("kind must be 'i2t' or 't2i'")
    miss = ~gt.any(1)
    related = (np.where(gt, -np.inf, scores) >= threshold).any(1)
    return q[miss & related]
