"""Free-query latency of ``Explorer`` after warm-up (what the app's search box waits for).

Run bundle: ``checkpoints/demo`` if it is complete (model.pt, embeddings/, metrics.json),
copied to a temporary folder so nothing is written into it; otherwise a fast demo built
with ``xmr_core.cli.demo.build_demo(fast=True)`` into a temporary folder
(``XMR_DATA_DIR``/``XMR_CHECKPOINTS`` pointed there; in quick mode only its training
step, without the evaluation and t-SNE that querying does not need). Relevance: word vectors
(``XMR_RELEVANCE=word-vectors``).

Cases, each with p50/p95 (and min/max) over N queries after 3 warm-up queries
(N = 50, quick 20), text and image queries alternating:
  * ``Explorer.text_query(sentence, k=10)`` over the run's test split (sentences: test captions)
  * ``Explorer.image_query(png_bytes, k=10)`` over the test split (queries: test image files' bytes)
  * the same two on a synthetic 1,000-image / 5,000-caption gallery (the test split's
    embeddings tiled with jitter), when the test split is smaller than that.
Target: p50 <= 100 ms. There is no reference implementation.

Run: ``python benchmarks/bench_query.py [--quick] [--run PATH]``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _complete(run: Path) -> bool:
    return (run / "model.pt").is_file() and (run / "embeddings").is_dir() and (run / "metrics.json").is_file()


def _prepare_run(tmp: Path, run: Path | None, quick: bool) -> tuple[Path, str]:
    """A run bundle to query (a private copy or a fresh fast demo) and where it came from."""
    src = run if run is not None else REPO / "checkpoints" / "demo"
    if _complete(src):
        dst = tmp / "run"
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("last.pt", "tsne", "export"))
        return dst, f"copy of {src.relative_to(REPO) if src.is_relative_to(REPO) else src}"
    if run is not None:
        raise SystemExit(f"{run}: not a complete run bundle (model.pt, embeddings/, metrics.json)")
    t = time.perf_counter()
    out = tmp / "ckpt" / "demo-fast"
    if quick:
        _train_fast_demo(out)
        how = "fast demo (trained only)"
    else:
        from xmr_core.cli.demo import build_demo

        build_demo(fast=True, out=out, progress=lambda *a: None)
        how = "build_demo(fast=True)"
    return out, f"{how} built in {time.perf_counter() - t:.0f} s (checkpoints/demo incomplete)"


def _train_fast_demo(out: Path) -> None:
    """``build_demo(fast=True)`` without its evaluation and t-SNE steps (the Explorer embeds
    the test split itself); same data, recipe and step count. Saves ~1-2 min in quick mode."""
    from dataclasses import replace

    from xmr_core.data import load_demo
    from xmr_core.cli.demo import FAST_IMAGES
    from xmr_core.recipes import recipe
    from xmr_core.train import train

    load_demo(n_images=FAST_IMAGES)
    enc, mod, tr = recipe("demo")
    tr = replace(tr, epochs=1, max_steps=6, val_every=0, warmup_steps=2)
    enc = replace(enc, w2v_epochs=3)
    train(out, f"demo:{FAST_IMAGES}", None, enc, mod, tr, recipe_name="demo", progress=lambda *a: None)


def _synthetic_gallery(ex: Any, n_images: int = 1000, seed: int = 0) -> None:
    """Grow the explorer's gallery to ``n_images`` by tiling its split with small jitter."""
    from xmr_core.retrieval.index import ExactIndex

    e = ex.emb
    reps = -(-n_images // len(e.images))
    rng = np.random.default_rng(seed)

    def jitter(x: np.ndarray, n: int) -> np.ndarray:
        y = np.tile(x, (reps, 1))[:n] + 0.05 * rng.standard_normal((n, x.shape[1])).astype(np.float32)
        return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)

    n_cap = len(e.caption_image)
    cap_image = np.tile(e.caption_image, reps) + np.repeat(np.arange(reps), n_cap) * len(e.images)
    sel = np.nonzero(cap_image < n_images)[0]  # captions of the first n_images images
    ex.emb = dataclasses.replace(
        e,
        images=jitter(e.images, n_images),
        captions=jitter(e.captions, reps * len(e.captions))[sel],
        image_ids=np.tile(e.image_ids, reps)[:n_images],
        image_paths=np.tile(e.image_paths, reps)[:n_images],
        caption_ids=np.tile(e.caption_ids, reps)[sel],
        caption_text=np.tile(e.caption_text, reps)[sel],
        caption_image=cap_image[sel],
    )
    ex.caption_sem = np.tile(ex.caption_sem, (reps, 1))[sel]
    ex.image_index = ExactIndex(ex.emb.images.shape[1])
    ex.image_index.add(ex.emb.images)
    ex.caption_index = ExactIndex(ex.emb.captions.shape[1])
    ex.caption_index.add(ex.emb.captions)
    from xmr_core.retrieval.semantic import caption_relevance

    # the relevance model (whose image profiles a text query scores) must cover the grown gallery
    ex.relevance = caption_relevance(ex.caption_sem, ex.emb.caption_image, n_images, kind=ex.relevance_kind)


def _latencies(ex: Any, sentences: list[str], images: list[bytes], n: int) -> dict[str, list[float]]:
    calls: dict[str, Callable[[int], Any]] = {
        "text_query": lambda i: ex.text_query(sentences[i % len(sentences)], k=10),
        "image_query": lambda i: ex.image_query(images[i % len(images)], k=10),
    }
    for i in range(3):  # warm-up: thread pools, caches, the image profiles
        for fn in calls.values():
            fn(i)
    out: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(n):
        for name, fn in calls.items():  # alternate text and image queries
            t = time.perf_counter()
            fn(i)
            out[name].append(1000.0 * (time.perf_counter() - t))
    return out


def _rows(case: str, lat: dict[str, list[float]], extra: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, ms in lat.items():
        p50 = float(np.percentile(ms, 50))
        rows.append({
            "case": case, "variant": f"Explorer.{name}(k=10)",
            "ms_median": p50, "p95_ms": float(np.percentile(ms, 95)), "min": min(ms), "max": max(ms),
            "unit": "ms", "higher_is_better": False, "reference": False, "repeats": len(ms),
            "target": f"p50 <= {TARGET_MS:.0f} ms", "met": bool(p50 <= TARGET_MS), **extra,
        })
    return rows


def cases(quick: bool = False, run: str | Path | None = None) -> list[dict[str, Any]]:
    """Query latencies; see the module docstring."""
    n = 20 if quick else 50
    with tempfile.TemporaryDirectory(prefix="xmr-bench-query-") as td:
        tmp = Path(td)
        with _env(XMR_DATA_DIR=str(tmp / "data"), XMR_CHECKPOINTS=str(tmp / "ckpt"),
                  XMR_RELEVANCE="word-vectors"):
            run_dir, origin = _prepare_run(tmp, Path(run) if run else None, quick)
            from xmr_core.facade.explorer import Explorer

            t = time.perf_counter()
            ex = Explorer(run_dir, split="test")
            load_s = time.perf_counter() - t
            sentences = [str(s) for s in ex.emb.caption_text[::5]]
            images = [Path(p).read_bytes() for p in ex.emb.image_paths[:50]]
            ni, nc = ex.n_images, ex.n_captions
            size = ex.run.model_cfg.input_size if hasattr(ex.run, "model_cfg") else None
            extra = {"run": origin, "explorer_load_s": round(load_s, 2), "input_px": size}
            rows = _rows(f"query, test split ({ni} images / {nc} captions)", _latencies(ex, sentences, images, n),
                         {**extra, "gallery_images": ni, "gallery_captions": nc, "synthetic_gallery": False})
            if ni < 1000:
                _synthetic_gallery(ex, 1000)
                rows += _rows(f"query, synthetic gallery ({ex.n_images} images / {ex.n_captions} captions)",
                              _latencies(ex, sentences, images, n),
                              {**extra, "gallery_images": ex.n_images, "gallery_captions": ex.n_captions,
                               "synthetic_gallery": True})
            del ex
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--run", help="run bundle folder (default: checkpoints/demo or a fast demo)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = cases(args.quick, args.run)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"run: {rows[0]['run']}, Explorer loaded in {rows[0]['explorer_load_s']} s")
    for r in rows:
        print(f"{r['case']:55s} {r['variant']:28s} p50 {r['ms_median']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms "
              f"[{r['min']:.1f}, {r['max']:.1f}]  target {r['target']}: {'met' if r['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
