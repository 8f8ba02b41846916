"""What the pages say about typed queries (``metrics.json["typed_queries"]``, evaluate.py): pure
helpers, no Streamlit. The Overview and Compare show the scores beside R@K; the Query page says
how well the run answers a query like the one typed, and when a query is unlike its training text."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluation.split_regions import regions_of  # the run's window grid (0: none), for the pages

HEADLINE = "one thing"  # the kind the Query page quotes ("a red circle", "a dog")


def typed_rows(m: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row a kind of typed query: queries, P@5, R@10 (empty without the benchmark)."""
    t = (m or {}).get("typed_queries") or {}
    return [{"typed query": k, "queries": v.get("n"), "P@5": v.get("P@5"), "R@10": v.get("R@10")}
            for k, v in (t.get("kinds") or {}).items()]


def typed_compare_rows(metrics: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Typed-query scores of several runs: one row a (kind, score), one column a run."""
    kinds = list(dict.fromkeys(k for m in metrics.values() for k in ((m or {}).get("typed_queries") or {})
                               .get("kinds", {})))
    rows = []
    for kind in kinds:
        for score in ("P@5", "R@10"):
            row: dict[str, Any] = {"statistic": f"typed: {kind} {score}"}
            for run, m in metrics.items():
                row[run] = (((m or {}).get("typed_queries") or {}).get("kinds", {}).get(kind) or {}).get(score)
            rows.append(row)
    return rows


def typed_headline(m: dict[str, Any] | None) -> str | None:
    """One sentence for the Query page: how well this run answers short typed queries, or None."""
    t = (m or {}).get("typed_queries") or {}
    kinds = t.get("kinds") or {}
    kind = HEADLINE if HEADLINE in kinds else next(iter(kinds), None)
    if kind is None:
        return None
    v = kinds[kind]
    grid = (t.get("regions") or {}).get("grid")
    how = f"; short queries also matched to each picture's {grid} x {grid} windows" if grid else ""
    return (f"Typed queries ({kind}, {v['n']} of them, e.g. “{(t.get('examples') or ['?'])[0]}”): "
            f"P@5 {v['P@5']:.0f} % of the top 5 relevant, R@10 {v['R@10']:.0f} % "
            f"(relevant = {t.get('ground_truth', '?')}{how}; every kind on the Overview).")


def typed_examples(m: dict[str, Any] | None) -> list[str]:
    """Queries this run answers well (P@5 = 100 % in its benchmark), for under the query box."""
    return list(((m or {}).get("typed_queries") or {}).get("examples") or [])


def length_note(n_words: int, caption_words: np.ndarray) -> str | None:
    """A line when a query is much shorter than the captions the run learned from (or None)."""
    from ..retrieval.regions import is_short

    if not is_short(n_words, caption_words):
        return None
    w = np.asarray(caption_words, float)
    med = float(np.median(w[np.isfinite(w)]))
    return (f"This query has {n_words} word{'s' * (n_words != 1)}; this dataset's captions have about {med:.0f}. "
            "Short queries are answered less well than full captions: see its typed-query scores.")


def sentence_search(ex: Any, sentence: str, vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """How a typed sentence (embedded: ``vec``) searches the split's images: (distances, image rows, notes), the
    arrays (1, k) as an index answers. A short query on a run with regions (``ModelConfig.regions``) is ranked by
    the best of each picture and its windows (``retrieval/regions.py``), as the typed-query benchmark ranks it,
    with a note saying so; any other query by the whole pictures' index."""
    from ..retrieval.regions import is_short, region_topk
    from ..text.tokenize import tokenize

    grid = regions_of(ex.run)
    if not grid or not is_short(len(tokenize(sentence)), ex.caption_stats()["words"]):
        d, ids = ex.image_index.search(vec[None], k)
        return d, ids, []
    s, ids = region_topk(vec[None], ex.emb.images, ex.regions, k)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * s, 0.0))  # Euclidean on unit vectors, as every hit reports
    return dist, ids, [f"A short query: each picture is scored by the best of itself and its {grid * grid} "
                       "windows, so a thing that shares its picture with others is found too."]
