"""What the captions' own side buys the default recipe's training step (issue 20, docs/METHOD.md §2d).

The ``default`` (= ``teacher``) recipe trains EfficientNet-Lite0 with photos at 160 px and its stem and first
11 blocks frozen and cached: a step runs blocks 11..15 and the head on 32 cached photos and 96 cached painted
captions. Its captions are painted on a 112 px canvas and resized to 160 like the photos; with
``--text-input-size 112`` they stay at 112 px and reach the trainable blocks as 7 x 7 maps instead of 10 x 10,
the two sides as two parts of one batch (BatchNorm's statistics shared). This times that step both ways:
forward, a squared-output loss on the 128-d embedding, backward, Adam, fp32 channels_last (what ``--amp auto``
picks for this recipe on both CPUs), one thread (as the recorded runs train), rounds alternating (reversed on odd
rounds), median and min-max (quick: 1 warm-up + 3, full: 2 + 5). docs/RESULTS.md sets the ratio beside what the
runs learnt ("Captions at their own side").

Run: ``python benchmarks/bench_text_side.py [--quick]``.
"""
from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xmr_core.network.backbones import build_network  # noqa: E402
from xmr_core.recipes import recipe  # noqa: E402

PHOTOS, CAPTIONS = 32, 96   # the default recipe's batch: 32 classes x (1 photo + 3 captions)
TEXT_SIDES = (0, 112)       # 0: the photos' side (the recipe as it stands); 112: the canvas's own side
THREADS = 1


class _Variant:
    def __init__(self, text_side: int):
        torch.manual_seed(0)
        r = recipe("default")
        self.cfg = replace(r.model, text_input_size=text_side)
        self.net = build_network(self.cfg).train().to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=1e-4)
        g = torch.Generator().manual_seed(0)
        photos = torch.randn(PHOTOS, 3, self.cfg.input_size, self.cfg.input_size, generator=g)
        captions = torch.randn(CAPTIONS, 3, self.cfg.text_size, self.cfg.text_size, generator=g)
        with torch.no_grad():  # the cache is computed once, before training: not timed
            parts = [self.net.frozen_features(x.contiguous(memory_format=torch.channels_last))
                     for x in (photos, captions)]
        self.x: Any = parts if text_side else torch.cat(parts)  # one tensor when the sides agree, as training does
        self.times: list[float] = []

    def step(self) -> float:
        t0 = time.perf_counter()
        out = self.net.forward_from_frozen_outputs(self.x)
        out.float().pow(2).mean().backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """samples/s of the default recipe's cached step with captions at the photos' side and at 112 px."""
    from benchmarks._script import alternate

    warmup, repeats = (1, 3) if quick else (2, 5)
    variants = [_Variant(s) for s in TEXT_SIDES]
    alternate(variants, warmup, repeats, THREADS)
    rows = []
    for v in variants:
        sps = [(PHOTOS + CAPTIONS) / t for t in v.times]
        rows.append({"case": f"default recipe's cached step, {PHOTOS} photos + {CAPTIONS} captions, fp32-cl",
                     "variant": f"photos {v.cfg.input_size} px, captions {v.cfg.text_size} px",
                     "text_input_size": v.cfg.text_input_size, "threads": THREADS,
                     "samples_per_s_median": statistics.median(sps), "min": min(sps), "max": max(sps),
                     "reference": not v.cfg.text_input_size, "repeats": len(sps)})
    ref = next(r for r in rows if r["reference"])
    for r in rows:
        r["ratio_to_reference"] = r["samples_per_s_median"] / ref["samples_per_s_median"]
    return rows


if __name__ == "__main__":
    from benchmarks._script import print_rate_rows, script_rows

    out = script_rows(__doc__, cases)
    if out is not None:
        print_rate_rows(out, 64, 34)
