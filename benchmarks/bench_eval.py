"""Full evaluation time of a 1,000-image / 5,000-caption test split at 160 px input.

An untrained but real model: ``Embedder.build(ModelConfig(input_size=160, width=W))``
with W the ``demo`` recipe's width, and a ``TextEncoder`` (EncodingConfig() defaults,
256 px canvas resized to 160 px) trained on the split's captions (``w2v_epochs=2``;
not timed). Images: Flickr8k val (``../shared/data/flickr8k``, 160 px JPEGs) when
present, otherwise generated demo scenes at 160 px (PNG); captions: theirs, 5 each.

Timed parts (one pass each; the torch thread pool is warmed up first):
  (a1) embed images    decode the files + ``Embedder.embed_images`` (batch 64)
  (a2) embed captions  ``Embedder.embed_texts`` (paint with the text encoder + forward)
  (b1) R@K             ``retrieval.metrics.evaluate_embeddings``
  (b2) semantic        ``retrieval.semantic.semantic_evaluate`` with word-vector relevance
  total                a1 + a2 + b1 + b2. Target: <= 60 s.
Rows also hold ``cpu_s``, the process CPU time of each part (all threads).
Quick mode embeds 200 images / 1,000 captions and extrapolates (a1, a2) linearly to
1k/5k (marked ``extrapolated``); (b1, b2) then run at the full 1k/5k size on the quick
embeddings tiled 5x with jitter (measured, not extrapolated: ranking is quadratic).

Run: ``python benchmarks/bench_eval.py [--quick]``.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402
from xmr_core.config import EncodingConfig, ModelConfig  # noqa: E402
from xmr_core.data.images import read_image  # noqa: E402
from xmr_core.embedder import Embedder  # noqa: E402
from xmr_core.retrieval.metrics import evaluate_embeddings  # noqa: E402
from xmr_core.retrieval.semantic import WordVectorSentenceEmbedder, semantic_evaluate  # noqa: E402
from xmr_core.text.encoder import TextEncoder  # noqa: E402
from xmr_core.recipes import recipe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"
FULL_IMAGES, PER_IMAGE, SIZE = 1000, 5, 160
TARGET_S = 60.0


def _flickr8k(n: int) -> tuple[list[Path], list[str], str] | None:
    meta = FLICKR8K / "dataset_flickr8k.json"
    if not meta.is_file():
        return None
    items = json.loads(meta.read_text())["images"]
    items = [it for it in items if it.get("split") == "val"] + [it for it in items if it.get("split") != "val"]
    paths, caps = [], []
    for it in items:
        p = FLICKR8K / "images" / it["filename"]
        if len(it["sentences"]) < PER_IMAGE or not p.is_file():
            continue
        paths.append(p)
        caps.extend(s["raw"] for s in it["sentences"][:PER_IMAGE])
        if len(paths) == n:
            return paths, caps, "Flickr8k val (160 px JPEG)"
    return None


def _demo(n: int, folder: Path) -> tuple[list[Path], list[str], str]:
    from xmr_core.data.demo import generate_demo

    meta = json.loads(generate_demo(folder, n_images=n + 10, image_size=SIZE, n_val=0, n_test=0).read_text())
    items = meta["images"][:n]
    return ([folder / "images" / it["filename"] for it in items],
            [s["raw"] for it in items for s in it["sentences"][:PER_IMAGE]], "generated demo scenes (160 px PNG)")


def _tile(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    y = np.tile(x, (reps, 1)) + 0.05 * rng.standard_normal((reps * len(x), x.shape[1])).astype(np.float32)
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Seconds of each evaluation stage; see the module docstring."""
    n = 200 if quick else FULL_IMAGES
    scale = FULL_IMAGES / n
    width = recipe("demo").model.width
    with tempfile.TemporaryDirectory(prefix="xmr-bench-eval-") as td:
        data = _flickr8k(n) or _demo(n, Path(td))
        paths, caps, source = data
        ci = np.repeat(np.arange(n), PER_IMAGE)
        enc = TextEncoder.fit(caps, EncodingConfig(w2v_epochs=2))
        torch.manual_seed(0)
        emb = Embedder.build(ModelConfig(input_size=SIZE, width=width), text_encoder=enc)
        emb.embed_texts(caps[:8])  # warm-up: thread pool, allocator

        t, c = time.perf_counter(), time.process_time()
        img = emb.embed_images([read_image(p) for p in paths])
        t_img, c_img = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        cap = emb.embed_texts(caps)
        t_cap, c_cap = time.perf_counter() - t, time.process_time() - c

    if quick:  # rank at the full size on tiled embeddings (ranking cost is not linear)
        reps = int(round(scale))
        rng = np.random.default_rng(0)
        img, cap = _tile(img, reps, rng), _tile(cap, reps, rng)
        ci = np.concatenate([ci + r * n for r in range(reps)])
        caps = caps * reps
    t, c = time.perf_counter(), time.process_time()
    evaluate_embeddings(img, cap, ci)
    t_rank, c_rank = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    semantic_evaluate(img, cap, ci, caps, WordVectorSentenceEmbedder(enc.kv))
    t_sem, c_sem = time.perf_counter() - t, time.process_time() - c

    ext = scale if quick else 1.0
    case = f"evaluate {FULL_IMAGES} images / {FULL_IMAGES * PER_IMAGE} captions @{SIZE}px (width {width})"
    common = {"unit": "s", "higher_is_better": False, "reference": False, "repeats": 1,
              "images_source": source, "threads": torch.get_num_threads()}
    parts = [
        ("(a1) embed images: decode + forward", t_img, c_img, quick, n),
        ("(a2) embed captions: paint + forward", t_cap, c_cap, quick, n * PER_IMAGE),
        ("(b1) R@K evaluate_embeddings", t_rank, c_rank, False, None),
        ("(b2) semantic_evaluate (word vectors)", t_sem, c_sem, False, None),
    ]
    rows = []
    for name, secs, cpu, extrapolated, measured_n in parts:
        s = secs * ext if extrapolated else secs
        row = {"case": case, "variant": name, "seconds_median": s, "min": s, "max": s,
               "extrapolated": extrapolated, "cpu_s": cpu * ext if extrapolated else cpu, **common}
        if extrapolated:
            row["measured_s"] = secs
            row["measured_items"] = measured_n
        rows.append(row)
    total = sum(r["seconds_median"] for r in rows)
    rows.append({"case": case, "variant": "total (a1+a2+b1+b2)", "seconds_median": total, "min": total,
                 "max": total, "extrapolated": bool(quick), "cpu_s": sum(r["cpu_s"] for r in rows), "target": f"<= {TARGET_S:.0f} s",
                 "met": bool(total <= TARGET_S), **common})
    return rows


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    print(f"{rows[0]['case']}  images: {rows[0]['images_source']}, {rows[0]['threads']} threads")
    for r in rows:
        tag = "  (extrapolated from %.1f s)" % r["measured_s"] if "measured_s" in r else (
            "  (extrapolated)" if r["extrapolated"] else "")
        tgt = f"  target {r['target']}: {'met' if r['met'] else 'NOT met'}" if "target" in r else ""
        print(f"  {r['variant']:40s} {r['seconds_median']:8.2f} s  ({r['cpu_s']:.1f} CPU-s){tag}{tgt}")


if __name__ == "__main__":
    main()
