"""Training-step throughput of the pretrained EfficientNet-Lite0 backbone, side by side.

Variants, each a full step (forward, a squared-output loss on the 128-d embedding, backward,
Adam step) on the same random batch of 96 at 112 px (the ``pretrained`` recipe's size):
  ref-fp32            efficientnet_lite_pytorch (the wheel's reference implementation), all
                      blocks trained, fp32 NCHW (when installed: pip install --no-deps)
  all-fp32 / all-fp32-cl / all-bf16-cl
                      ours, all blocks trained: fp32 NCHW, fp32 channels_last, bf16 + channels_last
  frozen6-fp32-cl     ours, stem + first 6 blocks frozen (no backward through them)
  frozen6-cached      ours, training on cached frozen-block outputs (``--cache-frozen``):
                      only blocks 6..15 and the head run (fp32 channels_last; -bf16: with autocast)
Rounds alternate the variants so drifting load hits each alike. What it decided: the recipe's
precision (fp32 channels_last) and the feature cache (docs/RESULTS.md).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xmr_core.backbones import build_network  # noqa: E402
from xmr_core.config import ModelConfig  # noqa: E402

BATCH, SIZE = 96, 112


class _Ref(nn.Module):
    """The reference implementation's trunk with the same 128-d head as ours."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        from xmr_core.efficientnet import weights_path

        self.trunk = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path()))
        self.head = nn.Sequential(nn.Linear(1280, 128, bias=False), nn.BatchNorm1d(128))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.extract_features(x).mean(dim=(2, 3)))


class _Variant:
    def __init__(self, name: str, net: nn.Module, channels_last: bool, bf16: bool, cached: bool = False,
                 reference: bool = False):
        self.name, self.net, self.cl, self.bf16, self.cached, self.reference = name, net.train(), channels_last, bf16, cached, reference
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad], lr=1e-4)
        self.times: list[float] = []

    def step(self, x: torch.Tensor) -> float:
        if self.cl:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.cached:  # the cache is computed once, before training: not timed
            x = self.net.frozen_features(x)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            n = self.net
            out = n.forward_from_frozen_outputs(x) if self.cached else n(x)
        out.float().pow(2).mean().backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0


def _variants() -> list[_Variant]:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained=True, input_size=SIZE, dropout_keep=1.0)
    frozen = ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=6, input_size=SIZE,
                         dropout_keep=1.0)
    out = []
    try:
        out.append(_Variant("ref-fp32", _Ref(), False, False, reference=True))
    except ImportError:
        pass
    out += [_Variant("all-fp32", build_network(cfg), False, False),
            _Variant("all-fp32-cl", build_network(cfg), True, False),
            _Variant("all-bf16-cl", build_network(cfg), True, True),
            _Variant("frozen6-fp32-cl", build_network(frozen), True, False),
            _Variant("frozen6-cached", build_network(frozen), True, False, cached=True),
            _Variant("frozen6-cached-bf16", build_network(frozen), True, True, cached=True)]
    return out


def cases(quick: bool = False) -> list[dict]:
    """samples/s of one training step per variant (quick: 1 warm-up + 2 timed steps)."""
    warmup, repeats = (1, 2) if quick else (2, 5)
    variants = _variants()
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for _ in range(warmup):
        for v in variants:
            v.step(x)
    for _ in range(repeats):
        for v in variants:
            v.times.append(v.step(x))
    rows = []
    ref = next((v for v in variants if v.reference), None)
    ref_sps = statistics.median(BATCH / t for t in ref.times) if ref else None
    for v in variants:
        sps = [BATCH / t for t in v.times]
        med = statistics.median(sps)
        rows.append({"case": f"lite0_train_step_b{BATCH}_{SIZE}px", "variant": v.name, "size": SIZE,
                     "samples_per_s_median": med, "min": min(sps), "max": max(sps), "reference": v.reference,
                     "ratio_to_reference": (med / ref_sps) if ref_sps else None})
    return rows


if __name__ == "__main__":
    from benchmarks._script import script_rows

    rows = script_rows(__doc__, cases)
    if rows is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        for r in rows:
            ratio = f"  x{r['ratio_to_reference']:.2f} ref" if r["ratio_to_reference"] else ""
            print(f"{r['variant']:<18}{r['samples_per_s_median']:>8.1f} samples/s{ratio}")
