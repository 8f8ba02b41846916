"""The typed-query benchmark of a run (``retrieval/typed_queries.py``) on one split's gallery:
the queries embedded by the run's own text path, ranked by the one ranking rule (short ones by the best of each
picture and its windows where the run has regions, ``retrieval/regions.py``), scored."""
from __future__ import annotations

from typing import Any

import numpy as np

from .split_embeddings import SplitEmbeddings


def typed_query_metrics(run: Any, emb: SplitEmbeddings, source: str, relevance: Any = None,
                        sentence_embedder: Any = None, threshold: float | None = None,
                        seed: int = 0) -> dict[str, Any] | None:
    """``metrics.json["typed_queries"]`` for a run on ``emb``'s split of the dataset ``source``.

    Demo data (images with a generated scene): queries from the generator's vocabulary,
    ground truth from the scenes. Other data: phrases of the split's captions, relevant where
    ``relevance.profiles @ sentence_embedder(query) >= threshold`` (the "related" label's rule);
    ``None`` when neither is available.
    """
    from ..data.demo import dataset_scenes
    from ..retrieval.index import ExactIndex
    from ..retrieval.regions import is_short, region_topk
    from ..retrieval.typed_queries import SEARCH_K, demo_queries, phrase_queries, score_queries
    from ..text.tokenize import tokenize
    from .split_regions import regions_of, split_regions

    if getattr(run, "embedder", None) is None:  # an embeddings run cannot embed a typed query
        return None
    scenes = dataset_scenes(source)
    if scenes:
        queries = demo_queries([scenes.get(str(i)) for i in emb.image_ids], seed=seed)
        truth = "the generator's scene of each image (data/demo.py)"
    elif relevance is not None and sentence_embedder is not None and threshold is not None:
        profiles = relevance.profiles

        def rel(texts: list[str]) -> np.ndarray:
            return np.asarray(sentence_embedder(texts), np.float32) @ profiles.T

        queries = phrase_queries(list(emb.caption_text), rel, threshold, seed=seed)
        truth = f"relevance to the image's captions >= {threshold:.2f} ({getattr(sentence_embedder, 'kind', 'custom')})"
    else:
        return None
    if not queries or len(emb.images) < SEARCH_K:
        return None
    vecs = run.embedder.embed_texts([q.text for q in queries])
    index = ExactIndex(emb.images.shape[1])
    index.add(emb.images)
    _, ranked = index.search(vecs, SEARCH_K)
    regions = split_regions(run, emb)
    if regions is not None:  # short queries ranked by the best of each picture and its windows, as the app does
        words = [len(tokenize(str(t))) for t in emb.caption_text]
        short = np.array([is_short(len(tokenize(q.text)), words) for q in queries], bool)
        if short.any():
            ranked[short] = region_topk(vecs[short], emb.images, regions, SEARCH_K)[1]
    out = score_queries(queries, ranked)
    if regions is not None:
        out["regions"] = {"grid": regions_of(run), "short_queries": int(short.sum())}
    out.update(ground_truth=truth, n_queries=len(queries), n_images=len(emb.images))
    return out
