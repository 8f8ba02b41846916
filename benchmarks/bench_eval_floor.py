"""Where a full evaluation's time goes, and its floor on this CPU (issue 21: the target a CPU misses).

The evaluation of 1,000 images / 5,000 captions at 160 px (``bench_eval``) is mostly the network's
forward pass over 6,000 items. For each of ``bench_eval``'s two networks (untrained, BatchNorm folded,
the ``Embedder``'s measured precision, memory format and batch size), this measures apart:

  forward alone     the network on inputs prepared beforehand (no decoding, painting or resizing in
                    the timed loop), seconds an item x 6,000 items
  prepare captions  painting (``TextEncoder.encode_batch``) + resizing to the input tensor, x 5,000
  prepare images    decoding the files + resizing, x 1,000 (Flickr8k val when present, else demo PNGs)
  arithmetic floor  the forward's floating-point operations (``torch.utils.flop_counter``) x 6,000
                    over this CPU's own large-GEMM rate at the same thread count and precision: what
                    the forward would cost if every convolution ran as fast as one big matrix product

plus a ``torch.profiler`` table of one batch's forward by operator (share of the time). When forward
alone already exceeds the 60 s target, no scheduling of the work (prefetch threads, batching) can meet
it on this CPU: only fewer operations (a smaller network or input) or a faster CPU can.

Run: ``python benchmarks/bench_eval_floor.py [--quick]`` (quick: fewer items, the same rows).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402
from benchmarks.bench_eval import FULL_IMAGES, PER_IMAGE, SIZE, TARGET_S, _networks, _split  # noqa: E402
from xmr_core.config import EncodingConfig  # noqa: E402
from xmr_core.data.images import read_image  # noqa: E402
from xmr_core.network.backbones import build_network  # noqa: E402
from xmr_core.network.inference import Embedder, preprocess_images  # noqa: E402
from xmr_core.text.encoder import TextEncoder  # noqa: E402

ITEMS = FULL_IMAGES * (1 + PER_IMAGE)  # 6,000 forward passes in a full evaluation


def gemm_rate(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n x n matrix product at torch's thread count (best of ``repeats``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def forward_flops(net: torch.nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        net.embed(x[:1].float())
    return int(fc.get_total_flops())


def op_profile(emb: Embedder, x: torch.Tensor, top: int = 6) -> list[list[Any]]:
    """[[operator, share of one batch's forward time %], ...], the largest ``top`` by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    net = emb._network()
    with torch.inference_mode():
        emb._run(x, net)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            emb._run(x, net)
    ev = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    total = sum(t for _, t in ev) or 1
    return [[k, round(100 * t / total, 1)] for k, t in sorted(ev, key=lambda kv: -kv[1])[:top]]


def _seconds_per_item(fn, n: int) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / n


def cases(quick: bool = False) -> list[dict[str, Any]]:
    n_img, n_cap = (40, 200) if quick else (200, 1000)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="xmr-bench-floor-") as td:
        ds, source = _split(n_img, Path(td))
        caps = [c.text for c in ds.captions][:n_cap]
        enc = TextEncoder.fit([c.text for c in ds.captions], EncodingConfig(w2v_epochs=2))
        rates = {False: gemm_rate(torch.float32), True: gemm_rate(torch.bfloat16)}
        for net_name, cfg in _networks():
            torch.manual_seed(0)
            emb = Embedder(build_network(cfg).eval(), enc, cfg)
            emb.embed_texts(caps[:8])  # warm-up: thread pool, allocator, oneDNN kernels
            painted = [None]
            paint = _seconds_per_item(lambda: painted.__setitem__(0, np.asarray(enc.encode_batch(caps))), len(caps))
            x = [None]
            resize = _seconds_per_item(lambda: x.__setitem__(0, preprocess_images(painted[0], cfg.input_size,
                                                                                   cfg.standardize)), len(caps))
            files = [im.path for im in ds.images]
            side = max(2 * cfg.input_size, 256)  # what embed_dataset decodes to
            decode = _seconds_per_item(lambda: preprocess_images([read_image(p, max_side=side) for p in files],
                                                                 cfg.input_size, cfg.standardize), len(files))
            net, bs = emb._network(), emb.batch_size

            def forward() -> None:
                with torch.inference_mode():
                    for a in range(0, len(x[0]), bs):
                        emb._run(x[0][a:a + bs], net)

            forward()  # warm
            fwd = min(_seconds_per_item(forward, len(x[0])) for _ in range(2))
            flops = forward_flops(net, x[0])
            rate = rates[bool(emb.amp)]
            case = f"evaluate {FULL_IMAGES} images / {ITEMS - FULL_IMAGES} captions @{SIZE}px, {net_name}: where the time goes"
            common = {"case": case, "unit": "s", "higher_is_better": False, "repeats": 1, "reference": False,
                      "images_source": source, "threads": torch.get_num_threads(), "amp": bool(emb.amp),
                      "batch_size": bs, "channels_last": bool(emb.channels_last), "measured_items": len(x[0])}

            def row(variant: str, secs: float, **extra: Any) -> None:
                rows.append({**common, "variant": variant, "seconds_median": secs, "min": secs, "max": secs, **extra})

            row(f"forward alone, {ITEMS:,} items ({1000 * fwd:.2f} ms an item)", fwd * ITEMS, forward=True,
                ms_per_item=1000 * fwd, over_target=bool(fwd * ITEMS > TARGET_S), profile=op_profile(emb, x[0][:bs]))
            row(f"prepare captions: paint + resize, {ITEMS - FULL_IMAGES:,}", (paint + resize) * (ITEMS - FULL_IMAGES),
                paint_ms=1000 * paint, resize_ms=1000 * resize)
            row(f"prepare images: decode + resize, {FULL_IMAGES:,}", decode * FULL_IMAGES, ms_per_item=1000 * decode)
            row(f"arithmetic floor: {flops / 1e9:.2f} GFLOP an item x {ITEMS:,} / {rate:.0f} GFLOP/s "
                f"({'bf16' if emb.amp else 'fp32'} GEMM, {torch.get_num_threads()} threads)",
                flops * ITEMS / rate / 1e9, floor=True, gflop_per_item=flops / 1e9, gemm_gflops=rate)
    return rows


if __name__ == "__main__":
    out = script_rows(__doc__, cases)
    if out is not None:
        for r in out:
            print(f"{r['case'][-60:]:60s} {r['variant'][:90]:90s} {r['seconds_median']:7.1f} s")
            if r.get("profile"):
                print("   ", r["profile"])
