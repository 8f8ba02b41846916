"""One query path for every run kind: a typed sentence or a photo -> a unit vector in the run's space.

A ``network`` run paints the sentence (``text/encoder.py``) and runs it through the network; the
``reference`` run (the CCA) averages the sentence's Word2Vec vectors and projects them; both embed
photos with ``embed_images``. An ``embeddings`` run has no encoder: a ``RunError`` says so, and why.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EncodingError, RunError


def need_encoder(run: Any, what: str) -> None:
    """``RunError`` (the reason, in words) when ``run`` cannot embed a new ``what``."""
    if not run.can_encode:
        from ..bundle.kinds import no_encoder

        raise RunError(no_encoder(run.name, what))


def encode_sentence(run: Any, sentence: str) -> tuple[np.ndarray, np.ndarray | None, Any, list[str]]:
    """(unit vector, encoded-text image or None, its layout or None, notes for the user).

    ``EncodingError`` for an empty or all-OOV sentence, ``RunError`` on an embeddings run.
    """
    if not isinstance(sentence, str) or not sentence.strip():
        raise EncodingError("the sentence is empty: type a few words")
    need_encoder(run, "sentence")
    if run.encoder is None:  # the reference: no painting
        vec, oov = run.embedder.embed_sentence(sentence)
        return vec, None, None, ([f"not in the vocabulary (skipped): {', '.join(oov)}"] if oov else [])
    encoded, layout = run.encoder.encode(sentence, strict=True)
    vec = run.embedder.embed_encoded(encoded[None])[0]
    notes = []
    if layout.oov:
        notes.append(f"not in the vocabulary (skipped): {', '.join(layout.oov)}")
    if layout.dropped:
        notes.append(f"no room on the canvas (dropped): {', '.join(layout.dropped)}")
    return vec, encoded, layout, notes


def encode_image(run: Any, img: Any) -> np.ndarray:
    """A decoded (PIL) image -> its unit vector (``RunError`` on an embeddings run)."""
    need_encoder(run, "image")
    return run.embedder.embed_images([img])[0]
