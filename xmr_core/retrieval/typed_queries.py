"""Typed-query benchmark: how well a run answers what a person types, not its own test captions.

R@K asks whether a split's full captions find their own image. A person types "a red circle"
or "a dog on the beach": short, and relevant to many images. This module measures that, for
every run, by kind of query (``metrics.json["typed_queries"]``, docs/METHOD.md §7b):

* **Demo data** (a ``scene`` per image, from ``data/demo.py``): queries generated from the
  generator's vocabulary; an image is relevant when its scene holds what the query names
  (ground truth, no model involved). Kinds: one thing ("a red circle"), one thing in synonyms
  ("crimson disc"), one thing in phrasings no template writes ("a circle that is red"), one
  thing with its size or position, two things, a colour alone, a shape alone.
* **Real data**: short queries cut from the split's held-out captions by :func:`caption_phrases`
  (the subject noun phrase, and subject + place); an image is relevant when the sentence model's
  relevance of the query to the image's captions (the "related" label's score) reaches the
  run's threshold.

Scores per kind, averaged over queries: ``P@5`` = relevant among the top 5 over min(5, #relevant),
``R@10`` = relevant among the top 10 over min(10, #relevant): both 1.0 when the ranking is the
best possible, also for a query with fewer relevant images than K.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..text.short_queries import PREPOSITIONS, is_verb

__all__ = ["TypedQuery", "demo_queries", "caption_phrases", "phrase_queries", "score_queries",
           "typed_table", "SEARCH_K"]

SEARCH_K = 10  # the deepest rank the scores look at (R@10)


@dataclass(frozen=True)
class TypedQuery:
    """One query of the benchmark: its kind, its text and which gallery images are relevant."""

    kind: str
    text: str
    relevant: np.ndarray  # (N_images,) bool


# ---- demo: queries from the generator's vocabulary, relevance from its scenes ------------

def _demo_vocab():
    from ..data.demo import COLOURS, POSITIONS, SHAPES, SIZES

    return COLOURS, SHAPES, SIZES, POSITIONS


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


# Phrasings of one thing that none of the demo's caption templates writes (judged, never trained on).
_UNSEEN = (lambda c, s: f"a {s} that is {c}", lambda c, s: f"the {s} is {c}", lambda c, s: f"{c} coloured {s}",
           lambda c, s: f"{s} in {c}")


def demo_queries(scenes: Sequence[dict | None], seed: int = 0, per_kind: int = 60) -> list[TypedQuery]:
    """The demo's typed queries for a gallery whose image ``i`` shows ``scenes[i]`` (its
    ``dataset_demo.json`` ``scene``; ``None`` = unknown, never relevant). Deterministic for ``seed``;
    at most ``per_kind`` queries a kind (all of them where fewer exist)."""
    colours, shapes, sizes, positions = _demo_vocab()
    things = [[(t["colour"], t["shape"], t["size"], t["position"]) for t in (s or {}).get("things", [])]
              for s in scenes]
    # one RNG a kind of draw, so mending one kind never moves another's queries (round six's synonym fix
    # moved the unseen phrasings while they shared one)
    syn_rng, unseen_rng = random.Random(f"{seed}:synonyms"), random.Random(f"{seed}:unseen phrasing")

    def rel(pred: Callable[[list[tuple]], bool]) -> np.ndarray:
        return np.array([pred(ts) for ts in things], bool)

    pairs = sorted({(c, s) for ts in things for c, s, _, _ in ts})
    out: list[TypedQuery] = []
    kinds: dict[str, list[TypedQuery]] = {}

    def add(kind: str, text: str, r: np.ndarray) -> None:
        if r.any():
            kinds.setdefault(kind, []).append(TypedQuery(kind, text, r))

    for c, s in pairs:
        r = rel(lambda ts, c=c, s=s: any(t[:2] == (c, s) for t in ts))
        add("one thing", _article(f"{c} {s}"), r)
        # another word the captions use for each (never the name: "crimson disc"); before issue 25's sixth
        # round the shape was a letter of its second synonym ("scarlet s"), DEMO.md "Typed queries"
        add("one thing, synonyms", f"{syn_rng.choice([w for w in colours[c][1] if w != c])} "
                                   f"{syn_rng.choice([w for w in shapes[s] if w != s])}", r)
        add("one thing, unseen phrasing", unseen_rng.choice(_UNSEEN)(c, s), r)
    for c, s, z, p in sorted({t for ts in things for t in ts}):
        add("one thing + size", _article(f"{z} {c} {s}"), rel(lambda ts, k=(c, s, z): any(t[:3] == k for t in ts)))
        add("one thing + position", f"{_article(f'{c} {s}')} {positions[p][2][0]}",
            rel(lambda ts, k=(c, s, p): any((t[0], t[1], t[3]) == k for t in ts)))
    two = sorted({(a[:2], b[:2]) for ts in things for a in ts for b in ts if a[:2] < b[:2]})
    for a, b in two:
        add("two things", f"{_article(' '.join(a))} and {_article(' '.join(b))}",
            rel(lambda ts, a=a, b=b: {a, b} <= {t[:2] for t in ts}))
    for c in sorted({t[0] for ts in things for t in ts}):
        add("colour alone", _article(f"{c} shape"), rel(lambda ts, c=c: any(t[0] == c for t in ts)))
    for s in sorted({t[1] for ts in things for t in ts}):
        add("shape alone", _article(s), rel(lambda ts, s=s: any(t[1] == s for t in ts)))
    for kind, qs in kinds.items():
        out += qs if len(qs) <= per_kind else random.Random(f"{seed}:{kind}").sample(qs, per_kind)
    return out


# ---- real data: short phrases cut from held-out captions --------------------------------

def caption_phrases(caption: str) -> dict[str, str]:
    """Short queries cut from one caption, as a person might type them (no parser: a rule):

    * ``subject``: the words before the first verb (an auxiliary, a common verb in -s, or a word
      in -ing), at most 6: "A man on a bike rides down the hill" -> "a man on a bike";
    * ``subject + place``: the subject and the caption's last prepositional phrase (from its last
      preposition, at most 4 words) when that phrase is not already in the subject:
      "A dog runs on the beach" -> "a dog on the beach".

    A kind is left out when it would have fewer than 2 words."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", caption.lower())
    cut = next((i for i, w in enumerate(words) if i > 0 and is_verb(w)), len(words))
    subject = words[:min(cut, 6)]
    out: dict[str, str] = {}
    if len(subject) >= 2:
        out["subject"] = " ".join(subject)
    last = max((i for i, w in enumerate(words) if w in PREPOSITIONS and i >= cut), default=None)
    if last is not None and len(subject) >= 1:
        place = words[last:last + 4]
        if len(place) >= 2:
            out["subject + place"] = " ".join(subject + place)
    return out


def phrase_queries(captions: Sequence[str], relevance: Callable[[list[str]], np.ndarray],
                   threshold: float, n: int = 300, seed: int = 0) -> list[TypedQuery]:
    """Real-data typed queries: :func:`caption_phrases` of ``n`` captions drawn with ``seed``;
    ``relevance(texts)`` gives each query's (Q, N_images) relevance, relevant = ``>= threshold``."""
    picks = random.Random(seed).sample(range(len(captions)), min(n, len(captions)))
    seen: set[str] = set()
    texts: list[tuple[str, str]] = []
    for i in picks:
        for kind, text in caption_phrases(str(captions[i])).items():
            if text not in seen:
                seen.add(text)
                texts.append((kind, text))
    if not texts:
        return []
    rel = np.asarray(relevance([t for _, t in texts])) >= threshold
    return [TypedQuery(kind, text, r) for (kind, text), r in zip(texts, rel) if r.any()]


# ---- scores ------------------------------------------------------------------------------

def score_queries(queries: Sequence[TypedQuery], ranked: np.ndarray, examples: int = 5) -> dict:
    """Scores per kind from each query's ranked gallery rows ``ranked (Q, >= 10)``.

    Returns ``{"kinds": {kind: {"n", "P@5", "R@10"}}, "examples": [...]}``: ``examples`` are up to
    ``examples`` one-thing queries (else any) the run answers perfectly (P@5 = 1), for the Query page."""
    ranked = np.asarray(ranked)
    if ranked.shape[0] != len(queries) or (len(queries) and ranked.shape[1] < SEARCH_K):
        raise ValueError(f"need ({len(queries)}, >= {SEARCH_K}) ranked rows, got {ranked.shape}")
    per: dict[str, list[tuple[float, float]]] = {}
    perfect: list[tuple[str, str]] = []
    for q, row in zip(queries, ranked):
        n_rel = int(q.relevant.sum())
        got = q.relevant[row[:SEARCH_K]]
        p5 = got[:5].sum() / min(5, n_rel)
        per.setdefault(q.kind, []).append((float(p5), float(got.sum() / min(SEARCH_K, n_rel))))
        if p5 == 1.0:
            perfect.append((q.kind, q.text))
    kinds = {k: {"n": len(v), "P@5": round(100 * float(np.mean([a for a, _ in v])), 1),
                 "R@10": round(100 * float(np.mean([b for _, b in v])), 1)} for k, v in per.items()}
    pref = [t for k, t in perfect if k == "one thing"] + [t for k, t in perfect if k != "one thing"]
    return {"kinds": kinds, "examples": pref[:examples]}


def typed_table(typed: dict) -> str:
    """The scores as a Markdown table (report.md, README): one row a kind of query."""
    rows = [f"| {k} | {v['n']} | {v['P@5']:.1f} | {v['R@10']:.1f} |" for k, v in typed["kinds"].items()]
    return "\n".join(["| typed query | queries | P@5 | R@10 |", "|---|---|---|---|", *rows])
