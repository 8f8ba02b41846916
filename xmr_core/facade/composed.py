"""Composed queries: several weighted terms (uploaded images, gallery items, sentences) as one query.

``Explorer.query(terms, target, k)`` answers with this module. Each term becomes its unit
embedding ``u_i`` (an uploaded image or a sentence through the run's encoder, the network or the
CCA reference: ``Explorer.encode_image`` / ``encode_sentence``; a gallery item is its stored embedding), and the query is ``q = sum_i w_i u_i / |sum_i w_i u_i|``. A negative weight
subtracts a term ("a dog" + "on snow" - "grass").

Why re-normalise: every stored vector and every query lives on the unit sphere, and retrieval is
Euclidean nearest neighbour there (docs/METHOD.md §2: on unit vectors the same order as cosine;
the ranking rule of §7 / ``retrieval/ranking.py``). Against a unit gallery the *order* does not
depend on the query's length (``|q - g|^2 = |q|^2 + 1 - 2 q.g``), but the distances shown beside
the results and the query's place on the t-SNE map (fitted on unit vectors) do, so the composed
query is put back on the sphere and reads like any other query. A weighted sum of zero length has
no direction: that is an error, not a query.

Labels, as the other queries: ``gt`` for a result belonging to the image of a gallery-item term
with a positive weight; otherwise ``related`` / ``unrelated`` by the text-side relevance model
(docs/METHOD.md §7) against the terms' text sides composed by the same rule (a sentence's
sentence embedding, a caption's own, an image's caption centroid). An uploaded image has no text
side: it is left out of that judgement, and with only uploaded images nothing is marked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import XmrError

# ``ex`` below is a ``facade.explorer.Explorer``; not imported, because the explorer imports this module.
Explorer = Any

TERM_KINDS = ("image", "item", "sentence")  # an uploaded image, a gallery item of the split, a typed sentence
TARGETS = ("images", "sentences")           # what a composed query searches
ZERO_NORM = 1e-6  # a weighted sum shorter than this (of unit vectors) has no usable direction


class QueryError(XmrError):
    """A composed query cannot be built (no terms, bad weights, unknown item, terms that cancel out)."""


@dataclass(frozen=True)
class Term:
    """One term of a composed query."""

    kind: str             # "image" (bytes or an image file), "item" (a gallery item id), "sentence"
    value: bytes | str    # the image's bytes or path / the item id / the sentence
    weight: float = 1.0   # negative subtracts the term; 0 leaves it out
    name: str = ""        # an uploaded image's file name, shown in labels

    def __post_init__(self) -> None:
        if self.kind not in TERM_KINDS:
            raise QueryError(f"term kind must be one of {', '.join(TERM_KINDS)}, not {self.kind!r}")
        try:
            w = float(self.weight)
        except (TypeError, ValueError):
            raise QueryError(f"a term's weight must be a number, not {self.weight!r}") from None
        if not math.isfinite(w):
            raise QueryError(f"a term's weight must be a finite number, not {self.weight!r}")

    @property
    def label(self) -> str:
        """The term as a person reads it: ``“on snow”``, ``image dog.jpg``, ``item 1234.jpg``."""
        if self.kind == "sentence":
            return f"“{self.value}”"
        if self.kind == "item":
            return f"item {self.value}"
        return f"image {self.name or (self.value if isinstance(self.value, str) else 'upload')}"

    def record(self) -> dict[str, Any]:
        """A JSON-able record (an image's bytes are named, not copied)."""
        value = self.value if isinstance(self.value, str) else (self.name or "uploaded image")
        return {"kind": self.kind, "value": value, "weight": float(self.weight)}


def describe_terms(terms: list[Term] | tuple[Term, ...]) -> str:
    """The composed query in one line: ``1 × image dog.jpg + 1 × “on snow” − 1 × “grass”``.

    The minus is U+2212, so a CSV cell holding this never starts with a formula character.
    """
    out = []
    for i, t in enumerate(terms):
        w = float(t.weight)
        sign = ("−" if w < 0 else "") if i == 0 else (" − " if w < 0 else " + ")
        out.append(f"{sign}{abs(w):g} × {t.label}")
    return "".join(out)


def compose(vectors: list[np.ndarray] | np.ndarray, weights: list[float] | np.ndarray) -> np.ndarray:
    """``sum_i w_i v_i / |v_i|``, re-normalised to unit length (float32).

    Each term is taken at unit length (an imported run's vectors need not be), and the sum is in
    float64. Raises ``QueryError`` for no terms, a count mismatch, all weights zero, a zero or
    non-finite term vector, or a sum of (near) zero length (the terms cancel out).
    """
    w = np.asarray(weights, np.float64).reshape(-1)
    v = np.asarray(vectors, np.float64)
    if w.size == 0:
        raise QueryError("a composed query needs at least one term")
    if v.ndim != 2 or v.shape[0] != w.size:
        raise QueryError(f"{w.size} weights for {v.shape[0] if v.ndim else 0} terms: give one weight per term")
    if not np.any(w):
        raise QueryError("every weight is 0: give at least one term a non-zero weight")
    norms = np.linalg.norm(v, axis=1)
    if not np.all(np.isfinite(norms)) or np.any(norms[w != 0] < ZERO_NORM):
        raise QueryError("a term's embedding is the zero vector or not finite: it has no direction to add")
    s = w @ (v / np.where(norms > 0, norms, 1.0)[:, None])
    n = float(np.linalg.norm(s))
    if not math.isfinite(n) or n < ZERO_NORM:
        raise QueryError("the terms cancel out: their weighted sum is the zero vector, which has no direction "
                         "to search in; change a weight or a term")
    return (s / n).astype(np.float32)


def resolve_item(ex: Explorer, item_id: str) -> tuple[str, int]:
    """A gallery item id of the explorer's split -> ``("image" | "caption", row)``.

    ``image:ID`` and ``caption:ID`` say which; a bare id is looked up among the image ids, then the
    caption ids (an id that is both must say which). Raises ``QueryError`` for an unknown id.
    """
    s = str(item_id).strip()
    kind, _, rest = s.partition(":")
    where = {"image": ex.image_ids, "caption": ex.emb.caption_ids}
    if kind in where and rest:
        rows = np.nonzero(where[kind].astype(str) == rest)[0]
        if rows.size:
            return kind, int(rows[0])
        raise QueryError(f"no {kind} with id {rest!r} in {ex.dataset_name}/{ex.split}")
    found = [(k, int(r[0])) for k, ids in where.items() if (r := np.nonzero(ids.astype(str) == s)[0]).size]
    if len(found) == 1:
        return found[0]
    if found:
        raise QueryError(f"{s!r} is both an image id and a caption id in {ex.dataset_name}/{ex.split}: "
                         f"write image:{s} or caption:{s}")
    raise QueryError(f"no image or caption with id {s!r} in {ex.dataset_name}/{ex.split} (image ids look like "
                     f"{ex.image_id(0)!r}; a caption is caption:ID, e.g. caption:{ex.emb.caption_ids[0]})")


def has_encoder(ex: Explorer) -> bool:
    """Whether the run can embed new images and sentences (every kind but ``embeddings``: imported
    vectors, no encoder; ``Explorer.can_encode``, ``bundle/kinds.py``)."""
    return bool(ex.can_encode)


@dataclass
class _Part:
    """A term, embedded: its unit vector, its text side (or None) and the image it is of (items)."""

    vector: np.ndarray
    text: np.ndarray | None = None
    image_row: int | None = None
    note: str | None = None


def _embed_term(ex: Explorer, t: Term) -> _Part:
    """One term's unit embedding and text side."""
    if t.kind == "item":
        kind, row = resolve_item(ex, str(t.value))
        if kind == "image":
            return _Part(ex.emb.images[row], ex.relevance.profiles[row], row)
        return _Part(ex.emb.captions[row], ex.relevance.text_emb[row], ex.image_of(row))
    if not has_encoder(ex):
        raise QueryError(f"run {ex.run_name} is an {ex.kind} run (imported vectors, no encoder), so the {t.label} "
                         "term cannot be embedded: use gallery items of the split (image or caption ids) as terms")
    if t.kind == "sentence":
        if not isinstance(t.value, str) or not t.value.strip():
            raise QueryError("a sentence term is empty: type a few words")
        vec, _, _, notes = ex.encode_sentence(t.value)
        sem = np.asarray(ex.sentence_embedder([t.value])[0], np.float64)
        note = "; ".join(f"{t.label}: {n}" for n in notes) or None
        return _Part(vec, sem / (np.linalg.norm(sem) or 1.0), note=note)
    from ..data.images import read_image

    img = read_image(t.value, name=t.name or None, max_side=512)
    return _Part(ex.encode_image(img))


def _labels(ex: Explorer, parts: list[_Part], terms: list[Term], target: str,
            ids: np.ndarray) -> tuple[list[tuple[str | None, float | None]], list[str]]:
    """Per result: (gt / related / unrelated or None, relevance or None); and notes on how."""
    gt = {p.image_row for p, t in zip(parts, terms) if p.image_row is not None and t.weight > 0}
    rows = ids if target == "images" else ex.emb.caption_image[ids]
    texts = [(p.text, t.weight) for p, t in zip(parts, terms) if p.text is not None and t.weight != 0]
    notes = []
    rel = None
    if texts:
        try:
            q = compose([v for v, _ in texts], [w for _, w in texts])
        except QueryError:  # the text sides cancel out: nothing to judge relatedness by
            q = None
            notes.append("the terms' text sides cancel out: results are not marked related / unrelated")
        if q is not None:
            side = ex.relevance.profiles if target == "images" else ex.relevance.text_emb
            rel = side[ids] @ q
            if any(t.kind == "image" and t.weight != 0 for t in terms):
                notes.append("related / unrelated judge the sentence and gallery-item terms only "
                             "(an uploaded image has no text side)")
    out = []
    for i, r in enumerate(rows):
        s = None if rel is None else float(rel[i])
        lab = "gt" if int(r) in gt else (None if s is None else "related" if s >= ex.threshold else "unrelated")
        out.append((lab, s))
    return out, notes


def run_composed(ex: Explorer, terms: list[Term] | tuple[Term, ...], target: str = "images",
                 k: int = 10) -> tuple[np.ndarray, list[Any], list[str]]:
    """The composed query of ``terms``, searched against the split's images or sentences (top ``k``):
    (the unit query vector, its ``Hit`` records, notes for the user)."""
    if target not in TARGETS:
        raise QueryError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a whole number >= 1, not {k!r}")
    terms = list(terms)
    if not terms:
        raise QueryError("a composed query needs at least one term")
    if not any(float(t.weight) for t in terms):
        raise QueryError("every weight is 0: give at least one term a non-zero weight")
    parts = [_embed_term(ex, t) for t in terms]
    vec = compose([p.vector for p in parts], [t.weight for t in terms])
    live = [t for t in terms if float(t.weight)]
    if target == "images" and len(live) == 1 and live[0].kind == "sentence" and float(live[0].weight) > 0:
        from .app_typed import sentence_search  # one sentence is the typed query: searched as it is (§7c)

        d, ids, more = sentence_search(ex, str(live[0].value), vec, int(k))
    else:
        d, ids = (ex.image_index if target == "images" else ex.caption_index).search(vec[None], int(k))
        more = []
    labels, notes = _labels(ex, parts, terms, target, ids[0])
    notes = [*notes, *more]
    hits = (ex._image_hits(ids[0], d[0], labels) if target == "images"
            else ex._caption_hits(ids[0], d[0], labels))
    return vec, hits, [p.note for p in parts if p.note] + notes


def handle_composed_query(ex: Explorer, terms: list[Term] | tuple[Term, ...], target: str = "images",
                          k: int = 10) -> tuple[Any, str | None]:
    """(QueryResult, None) or (None, a message for the user): the Query page's composed query."""
    try:
        return ex.query(list(terms), target, k), None
    except XmrError as e:
        return None, str(e)


def item_preview(ex: Explorer, item_id: str) -> str | None:
    """What a gallery item id names, in a few words (None for an unknown id)."""
    try:
        kind, row = resolve_item(ex, item_id)
    except QueryError:
        return None
    if kind == "image":
        caps = ex.captions_of(row)
        return f"image {ex.image_id(row)}" + (f", described as “{ex.caption_text(caps[0])}”" if caps else "")
    return f"caption {ex.emb.caption_ids[row]} of image {ex.image_id(ex.image_of(row))}: “{ex.caption_text(row)}”"


__all__ = ["Term", "QueryError", "TERM_KINDS", "TARGETS", "compose", "describe_terms", "resolve_item",
           "has_encoder", "run_composed", "handle_composed_query", "item_preview"]
