"""Full evaluation time of a 1,000-image / 5,000-caption split at 160 px input, before / after.

Two real (untrained) networks, each at 160 px: the paper's full-width InceptionResNet-V1
(``ModelConfig(input_size=160)``) and the default recipe's network (pretrained
EfficientNet-Lite0, ``recipe("default").model`` at 160 px). Text: a ``TextEncoder``
(EncodingConfig() defaults, 256 px canvas resized to 160 px) fitted on the split's captions
(``w2v_epochs=2``; not timed). Images: Flickr8k val (``../shared/data/flickr8k``, 160 px
JPEGs) when present, otherwise generated demo scenes at 160 px (PNG); 5 captions each.

Each network runs four ways, one after the other, through ``split_embeddings.embed_dataset`` (what
``evaluate`` runs: decode the files + forward, paint the captions + forward):
  before       fp32, batch 64, no prefetch, BatchNorm not folded (the path before issue 16)
  not folded   the "after" way with BatchNorm kept as separate layers (``fold_bn=False``): what
               folding it into the convolutions (``network/fuse.py``) saves
  no prefetch  the measured precision / memory format / batch size alone
  after        ``Embedder`` defaults: BatchNorm folded, the measured precision / memory format /
               batch size (``inference.inference_precision``, ``inference_batch_size``) and the next
               batch decoded / painted in a thread while the network runs
Then, once, on the "after" embeddings: (b1) ``evaluate_embeddings`` (R@K) and (b2)
``semantic_evaluate`` with word-vector relevance. total = (a) + b1 + b2. Target: <= 60 s.
Rows hold ``cpu_s`` (process CPU time, all threads) beside the wall-clock seconds.
Quick mode embeds 200 images / 1,000 captions and extrapolates (a) x5 (marked
``extrapolated``); (b1, b2) run at the full size on those embeddings tiled 5x.

Run: ``python benchmarks/bench_eval.py [--quick]``.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402
from xmr_core.network.backbones import build_network  # noqa: E402
from xmr_core.config import EncodingConfig, ModelConfig  # noqa: E402
from xmr_core.data import Dataset  # noqa: E402
from xmr_core.evaluation.split_embeddings import embed_dataset  # noqa: E402
from xmr_core.network.inference import Embedder  # noqa: E402
from xmr_core.recipes import recipe  # noqa: E402
from xmr_core.retrieval.metrics import evaluate_embeddings  # noqa: E402
from xmr_core.retrieval.semantic import WordVectorSentenceEmbedder, semantic_evaluate  # noqa: E402
from xmr_core.text.encoder import TextEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"
FULL_IMAGES, PER_IMAGE, SIZE = 1000, 5, 160
TARGET_S = 60.0


def _split(n: int, folder: Path) -> tuple[Dataset, str]:
    """The first ``n`` images of Flickr8k val (5 captions each), else generated demo scenes."""
    from xmr_core.data.loaders import load_karpathy

    meta = FLICKR8K / "dataset_flickr8k.json"
    if meta.is_file():
        ds = load_karpathy(meta).split("val")
        return ds.subset([im.image_id for im in ds.images[:n]]), "Flickr8k val (160 px JPEG)"
    from xmr_core.data.demo import generate_demo

    ds = load_karpathy(generate_demo(folder, n_images=n + 10, image_size=SIZE, n_val=0, n_test=0), folder / "images")
    return ds.subset([im.image_id for im in ds.images[:n]]), "generated demo scenes (160 px PNG)"


def _tile(x: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    y = np.tile(x, (reps, 1)) + 0.05 * rng.standard_normal((reps * len(x), x.shape[1])).astype(np.float32)
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def _networks() -> list[tuple[str, ModelConfig]]:
    return [("paper net, full width", ModelConfig(input_size=SIZE)),
            ("default recipe (Lite0)", replace(recipe("default").model, input_size=SIZE))]


def _embed(run: Any, ds: Dataset) -> tuple[np.ndarray, np.ndarray, float, float]:
    t, c = time.perf_counter(), time.process_time()
    img, cap = embed_dataset(run, ds)
    return img, cap, time.perf_counter() - t, time.process_time() - c


def _rank_rows(img: np.ndarray, cap: np.ndarray, ci: np.ndarray, caps: list[str], enc: TextEncoder,
               quick: bool, n: int) -> list[tuple[str, float, float]]:
    if quick:  # rank at the full size on tiled embeddings (ranking cost is not linear)
        reps = FULL_IMAGES // n
        rng = np.random.default_rng(0)
        img, cap = _tile(img, reps, rng), _tile(cap, reps, rng)
        ci = np.concatenate([ci + r * n for r in range(reps)])
        caps = caps * reps
    t, c = time.perf_counter(), time.process_time()
    evaluate_embeddings(img, cap, ci)
    rank = ("(b1) R@K evaluate_embeddings", time.perf_counter() - t, time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    semantic_evaluate(img, cap, ci, caps, WordVectorSentenceEmbedder(enc.kv))
    sem = ("(b2) semantic_evaluate (word vectors)", time.perf_counter() - t, time.process_time() - c)
    return [rank, sem]


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Seconds of each evaluation stage, before / after, per network; see the module docstring."""
    n = 200 if quick else FULL_IMAGES
    ext = FULL_IMAGES / n
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="xmr-bench-eval-") as td:
        ds, source = _split(n, Path(td))
        caps = [c.text for c in ds.captions]
        ci = np.asarray(ds.caption_image_index())
        enc = TextEncoder.fit(caps, EncodingConfig(w2v_epochs=2))
        for net_name, cfg in _networks():
            torch.manual_seed(0)
            net = build_network(cfg).eval()
            ways = {"before: fp32, batch 64, no prefetch": dict(amp=False, batch_size=64, prefetch=False, fold_bn=False),
                    "measured defaults + prefetch, BatchNorm not folded": dict(fold_bn=False),
                    "measured defaults, no prefetch": dict(prefetch=False),
                    "after: measured defaults + prefetch": {}}
            runs = {w: SimpleNamespace(embedder=Embedder(net, enc, cfg, **kw), model_cfg=cfg) for w, kw in ways.items()}
            for r in runs.values():
                r.embedder.embed_texts(caps[:8])  # warm-up: thread pool, allocator, oneDNN kernels
            timed = {w: _embed(r, ds) for w, r in runs.items()}
            img, cap = timed["after: measured defaults + prefetch"][:2]
            ranking = _rank_rows(img, cap, ci, caps, enc, quick, n)
            case = f"evaluate {FULL_IMAGES} images / {FULL_IMAGES * PER_IMAGE} captions @{SIZE}px, {net_name}"
            common = {"case": case, "unit": "s", "higher_is_better": False, "repeats": 1,
                      "images_source": source, "threads": torch.get_num_threads()}
            rank_s = sum(s for _, s, _ in ranking)
            for w, (_, _, secs, cpu) in timed.items():
                e = dict(amp=runs[w].embedder.amp, batch_size=runs[w].embedder.batch_size,
                         channels_last=runs[w].embedder.channels_last)
                rows.append({**common, "variant": f"(a) embed, {w}", "seconds_median": secs * ext, "min": secs * ext,
                             "max": secs * ext, "cpu_s": cpu * ext, "extrapolated": quick, "measured_s": secs,
                             "reference": w.startswith("before"), **e})
            for name, secs, cpu in ranking:  # a case of their own: "vs reference" compares embeds
                rows.append({**common, "case": f"{case}: ranking", "variant": name, "seconds_median": secs, "min": secs, "max": secs,
                             "cpu_s": cpu, "extrapolated": False, "reference": False})
            for w in timed:
                if ":" not in w:
                    continue
                total = timed[w][2] * ext + rank_s
                rows.append({**common, "case": f"{case}: total", "variant": f"total, {w.split(':')[0]}",
                             "seconds_median": total, "min": total, "max": total, "extrapolated": quick,
                             "reference": w.startswith("before"),
                             "target": f"<= {TARGET_S:.0f} s", "met": bool(total <= TARGET_S)})
    return rows


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    print(f"images: {rows[0]['images_source']}, {rows[0]['threads']} threads")
    case = None
    for r in rows:
        if r["case"] != case:
            case = r["case"]
            print(case)
        tag = "  (extrapolated from %.1f s)" % r["measured_s"] if r.get("extrapolated") and "measured_s" in r else ""
        tgt = f"  target {r['target']}: {'met' if r['met'] else 'NOT met'}" if "target" in r else ""
        print(f"  {r['variant']:46s} {r['seconds_median']:8.2f} s{tag}{tgt}")


if __name__ == "__main__":
    main()
