"""What larger inputs cost the Lite0 recipes' training step (issue 20): 112 px vs 160 px, and what a
deeper frozen (cached) prefix gives back at 160 px.

The ``pretrained`` recipe trains EfficientNet-Lite0 at 112 px with its stem and first 6 blocks frozen
and cached (``--cache-frozen``): a step runs blocks 6..15 and the head on a batch of 128 cached inputs
(32 photos + 96 painted captions, all at the network's input size), forward, a squared-output loss on
the 128-d embedding, backward, Adam, on one thread (as the recorded runs train). This times that step
at 112 and 160 px, at fp32 channels_last and bf16 autocast + channels_last (the two settings ``--amp
auto`` chooses between), and at 160 px in fp32 channels_last with 8, 9 and 11 blocks frozen
(``--freeze-blocks``: fewer trainable blocks, smaller feature maps to train on; 160 px with 11 is the
``default`` = ``teacher`` recipe's step since issue 20), rounds alternating (reversed on odd rounds),
median and min-max (quick: 1 warm-up + 3, full: 2 + 5). The ratio per setting is what each variant
costs in epochs per hour against 112 px with 6 frozen; docs/RESULTS.md sets it beside the screens'
validation. (The rows' case name, "default recipe's cached step", is the one the committed results
file was written with: the default recipe was 112 px with 6 frozen when the module was written.)

Run: ``python benchmarks/bench_photo_size.py [--quick]``.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xmr_core.config import ModelConfig  # noqa: E402
from xmr_core.network.backbones import build_network  # noqa: E402

BATCH = 128     # the default recipe's batch: 32 classes x (1 photo + 3 captions)
SIZES = (112, 160)
THREADS = 1     # as the runs in results/flickr8k/ train (--threads 1)
SETTINGS = {"fp32-cl": False, "bf16-cl": True}  # channels_last always; bf16 autocast or not
FROZEN = 6      # the recipe's frozen prefix (stem + 6 of Lite0's 16 blocks)
DEEPER = (8, 9, 11)  # deeper frozen prefixes timed at 160 px, fp32-cl (the setting auto picks for this recipe)


class _Variant:
    def __init__(self, size: int, setting: str, frozen: int = FROZEN):
        torch.manual_seed(0)
        cfg = ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=frozen, input_size=size,
                          dropout_keep=1.0)
        self.size, self.setting, self.bf16, self.frozen = size, setting, SETTINGS[setting], frozen
        self.net = build_network(cfg).train().to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=1e-4)
        x = torch.randn(BATCH, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():  # the cache is computed once, before training: not timed
            self.x = self.net.frozen_features(x.contiguous(memory_format=torch.channels_last))
        self.times: list[float] = []

    def step(self) -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.net.forward_from_frozen_outputs(self.x)
        out.float().pow(2).mean().backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0


def _auto_setting() -> str:
    """The setting ``train --amp auto`` picks for the default recipe on this CPU."""
    from xmr_core.recipes import recipe
    from xmr_core.train.precision import amp_dtype

    r = recipe("default")
    return "bf16-cl" if amp_dtype(r.train, torch.device("cpu"), r.model.backbone) is torch.bfloat16 else "fp32-cl"


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """samples/s of the cached step per (size, setting), and 160 px's cost relative to 112 px."""
    from benchmarks._script import alternate

    warmup, repeats = (1, 3) if quick else (2, 5)
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)  # the cache is computed on as many threads as the step trains on
    try:
        variants = [_Variant(s, k) for s in SIZES for k in SETTINGS]
        variants += [_Variant(SIZES[1], "fp32-cl", f) for f in DEEPER]
    finally:
        torch.set_num_threads(threads)
    alternate(variants, warmup, repeats, THREADS)
    auto = _auto_setting()
    rows = []
    for v in variants:
        sps = [BATCH / t for t in v.times]
        deeper = "" if v.frozen == FROZEN else f", {v.frozen} blocks frozen"
        rows.append({"case": f"default recipe's cached step, batch {BATCH}, {v.setting}",
                     "variant": f"{v.size} px{deeper}", "size": v.size, "frozen_blocks": v.frozen,
                     "setting": v.setting, "threads": THREADS, "auto_setting": v.setting == auto,
                     "samples_per_s_median": statistics.median(sps), "min": min(sps), "max": max(sps),
                     "reference": v.size == SIZES[0] and v.frozen == FROZEN, "repeats": len(sps)})
    for r in rows:
        ref = next(x for x in rows if x["reference"] and x["setting"] == r["setting"])
        r["ratio_to_reference"] = r["samples_per_s_median"] / ref["samples_per_s_median"]
    return rows


if __name__ == "__main__":
    from benchmarks._script import print_rate_rows, script_rows

    out = script_rows(__doc__, cases)
    if out is not None:
        print_rate_rows(out, 48, 26, lambda r: "  (auto)" if r["auto_setting"] else "")
