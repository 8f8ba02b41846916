"""Regions for short queries, measured (``ModelConfig.regions``, docs/METHOD.md §7c; DEMO.md "Round seven").

    python -m benchmarks.typed_regions checkpoints/demo val
    python -m benchmarks.typed_regions checkpoints/f8k-lr3e3-e14 val --dataset $F8/dataset_flickr8k.json \\
        --images-dir $F8/images

For a trained run (copied first: nothing is written into it) and one split: the typed-query benchmark with
each picture scored by the best of itself and its half-side windows on a grid x grid grid, for grids 0 (whole
pictures: the paper's search), 2, 3, 4, 5 (``--grids``), and the full captions' text->image R@K with and without the windows
(why only short queries use them). Appends one JSON object to ``results/regions.jsonl`` with the CPU it ran on.
Choose the grid on val; the test split is for reporting.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "results" / "regions.jsonl"
GRIDS = (0, 2, 3, 4, 5)


def measure(run_path: str, split: str, dataset: str | None = None, images_dir: str | None = None,
            grids: tuple[int, ...] = GRIDS) -> dict:
    import numpy as np

    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation.evaluate import caption_semantics, split_embeddings
    from xmr_core.evaluation.split_regions import split_regions
    from xmr_core.evaluation.typed_eval import typed_query_metrics
    from xmr_core.hardware import cpu_description
    from xmr_core.retrieval.calibration import calibration_for
    from xmr_core.retrieval.metrics import evaluate_embeddings
    from xmr_core.retrieval.regions import region_topk
    from xmr_core.retrieval.semantic import caption_relevance

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(run_path).name
        shutil.copytree(run_path, copy, ignore=shutil.ignore_patterns("last.pt", "tsne"))
        run = load_run(copy)
        emb = split_embeddings(run, dataset, split, images_dir)
        text_sem, sem_model = caption_semantics(run, emb)
        cal = calibration_for(text_sem, emb.caption_image, getattr(sem_model, "kind", "custom"),
                              dataset=emb.dataset, split=split)
        rel = caption_relevance(text_sem, emb.caption_image, len(emb.images))
        out = {"how": f"python -m benchmarks.typed_regions {run_path} {split}", "run": run_path, "split": split,
               "dataset": emb.dataset, "images": len(emb.images), "machine": cpu_description(), "grids": {}}
        for grid in grids:
            run.model_cfg.regions = grid  # the search setting only: the same weights and embeddings
            t0 = time.time()
            regions = split_regions(run, emb) if grid else None
            seconds = time.time() - t0
            typed = typed_query_metrics(run, emb, dataset or run.dataset_spec, relevance=rel,
                                        sentence_embedder=sem_model, threshold=cal["threshold"] if cal else None)
            row = {"typed": {k: [v["P@5"], v["R@10"]] for k, v in typed["kinds"].items()},
                   "short_queries": (typed.get("regions") or {}).get("short_queries", 0),
                   "windows_seconds": round(seconds, 1)}
            if regions is not None:  # every full caption scored against the windows too
                _, ids = region_topk(emb.captions, emb.images, regions, 10)
                hit = ids == np.asarray(emb.caption_image)[:, None]
                row["t2i_full_captions_with_windows"] = [round(100 * float(hit[:, :k].any(1).mean()), 1)
                                                         for k in (1, 5, 10)]
            else:
                m = evaluate_embeddings(emb.images, emb.captions, emb.caption_image)
                row["t2i_full_captions"] = [m["t2i"][f"R@{k}"] for k in (1, 5, 10)]
            out["grids"][str(grid)] = row
            print(grid, json.dumps(row), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("split")
    ap.add_argument("--dataset")
    ap.add_argument("--images-dir")
    ap.add_argument("--grids", default=",".join(map(str, GRIDS)), help="comma-separated, 0 = whole pictures")
    a = ap.parse_args(argv)
    res = measure(a.run, a.split, a.dataset, a.images_dir, tuple(int(g) for g in a.grids.split(",")))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "a") as f:
        f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
