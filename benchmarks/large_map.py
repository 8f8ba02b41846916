"""A run whose test split is a whole dataset's worth of points, for the map at 200k (issue 24).

``large_run(base, runs_folder, n_images, per)`` copies a network run (``base``: weights, vectors,
encoder) to ``runs_folder/big`` and gives it a generated split of ``n_images`` images with ``per``
captions each: the image files are hard links to the base dataset's test images, the captions the base
dataset's own. What would take hours to compute here is generated instead, and said so:

- the embeddings: a mixture fitted to the base run's test-split vectors (``bench_index.mixture``),
  stored in the memory-mapped layout with the real fingerprint, so the run loads them as its own;
- the map: a **generated layout, not a t-SNE** (clusters, each image's captions beside it, a few
  images scattered alone), stored as the run's map with ``"generated": true`` in its ``tsne.json``.

Then one ``Explorer`` is built on it (the sentence vectors of the captions and, past 100k, the
tuned caption index are computed and cached in the run), so a server opens it warm.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def layout(n_images: int, per: int, seed: int = 0) -> np.ndarray:
    """(n_images * (1 + per), 2) map coordinates: images then captions (caption c of image c // per)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-120, 120, (max(2, n_images // 200), 2))
    img = centres[rng.integers(0, len(centres), n_images)] + rng.normal(0, 3.5, (n_images, 2))
    alone = rng.choice(n_images, max(1, n_images // 500), replace=False)
    img[alone] = rng.uniform(-150, 150, (len(alone), 2))  # a few images far from any cluster
    cap = np.repeat(img, per, axis=0) + rng.normal(0, 1.5, (n_images * per, 2))
    cap[np.repeat(np.isin(np.arange(n_images), alone), per)] += 6.0  # their captions a little apart
    return np.concatenate([img, cap]).astype(np.float32)


def _dataset(base_ds, folder: Path, n_images: int, per: int, seed: int) -> Path:
    """A Karpathy-format JSON of one ``test`` split; image files are hard links to the base's."""
    rng = np.random.default_rng(seed)
    src = [Path(im.path) for im in base_ds.images[:50]]
    texts = [c.text for c in base_ds.captions]
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n_images):
        name = f"img_{i:07d}{src[i % len(src)].suffix}"
        dst = folder / "images" / name
        if not dst.exists():
            try:
                os.link(src[i % len(src)], dst)
            except OSError:
                shutil.copyfile(src[i % len(src)], dst)
        sents = [{"raw": texts[j], "sentid": i * per + k} for k, j in enumerate(rng.integers(0, len(texts), per))]
        images.append({"filename": name, "imgid": i, "split": "test", "sentences": sents})
    path = folder / "dataset_big.json"
    path.write_text(json.dumps({"dataset": "big", "images": images}))
    return path


def large_run(base: Path, runs: Path, n_images: int = 40_000, per: int = 4, seed: int = 0,
              warm: bool = True) -> Path:
    """The run ``runs/big`` (see the module docstring); returns its folder."""
    from benchmarks.bench_index import mixture
    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation.evaluate import tsne_dir
    from xmr_core.evaluation.projection import TSNEMap
    from xmr_core.evaluation.split_embeddings import (embeddings_path, fingerprint, load_embeddings, record_arrays,
                                                      vectors_file)
    from xmr_core.files import atomic_file

    b = load_run(base)
    run_dir = runs / "big"
    shutil.copytree(base, run_dir, ignore=shutil.ignore_patterns("embeddings", "tsne", "metrics*", "*.lock",
                                                                 "last.pt", "report.md"))
    spec = _dataset(b.dataset().split("test"), runs.parent / "big-data", n_images, per, seed)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["dataset"] = {"spec": str(spec), "images_dir": str(spec.parent / "images"), "name": "big",
                      "train_split": "train", "val_split": "val", "skip_missing": False}
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=1))
    run = load_run(run_dir)
    ds = run.dataset().split("test")
    ref = load_embeddings(next((Path(base) / "embeddings").glob("*-test.npz")))
    path = embeddings_path(run, ds, str(spec), "test")
    path.parent.mkdir(parents=True, exist_ok=True)
    vecs = {"images": mixture(np.asarray(ref.images), len(ds.images), seed),
            "captions": mixture(np.asarray(ref.captions), len(ds.captions), seed + 1)}
    for key, v in vecs.items():
        np.save(vectors_file(path, key), v)
    with atomic_file(path) as f:
        np.savez(f, layout=np.array("npy"), **record_arrays(run, ds, str(spec), "test", fingerprint(run, ds)))
    emb = load_embeddings(path)
    TSNEMap(layout(len(ds.images), per, seed), np.concatenate([vecs["images"], vecs["captions"]]), None,
            {"seed": seed, "perplexity": 30.0, "n_jobs": 1, "ints_in_interval": 2.0, "weights": emb.weights,
             "generated": True}).save(tsne_dir(run, emb.dataset, "test"))
    if warm:
        from xmr_core.facade.explorer import Explorer

        Explorer(run).map_frame()
    return run_dir
