"""Training-step throughput of the pretrained EfficientNet-Lite0 backbone, side by side.

Variants, each a full step (forward, a squared-output loss on the 128-d embedding, backward,
Adam step) on the same random batch of 96 at 112 px (the ``pretrained`` recipe's size).
Like for like, all blocks trained, at each setting (fp32 NCHW, fp32 channels_last, bf16 autocast
+ channels_last), ours vs the reference:
  ref-<setting>       efficientnet_lite_pytorch (the wheel's reference implementation), the same
                      weights and 128-d head (when installed: pip install --no-deps)
  all-<setting>       ours (``xmr_core.network.efficientnet``)
What freezing and caching buy (ours against ours with every block trained, fp32 channels_last):
  frozen6-fp32-cl     ours, stem + first 6 blocks frozen (no backward through them)
  frozen6-cached      ours, training on cached frozen-block outputs (``--cache-frozen``):
                      only blocks 6..15 and the head run (fp32 channels_last; -bf16: with autocast)
Rounds alternate the variants (reversed on odd rounds) so drifting load hits each alike; median
and min-max of the timed rounds (quick: 1 warm-up + 3, full: 2 + 5). What it decided: the
``pretrained`` recipe's precision (fp32 channels_last) and the feature cache (docs/RESULTS.md).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xmr_core.network.backbones import build_network  # noqa: E402
from xmr_core.config import ModelConfig  # noqa: E402

BATCH, SIZE = 96, 112


class _Ref(nn.Module):
    """The reference implementation's trunk with the same 128-d head as ours."""

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        from xmr_core.network.efficientnet import weights_path

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


SETTINGS = {"fp32": (False, False), "fp32-cl": (True, False), "bf16-cl": (True, True)}  # (channels_last, bf16)


def _variants() -> list[_Variant]:
    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained=True, input_size=SIZE, dropout_keep=1.0)
    frozen = ModelConfig(backbone="efficientnet_lite0", pretrained=True, freeze_blocks=6, input_size=SIZE,
                         dropout_keep=1.0)
    out = []
    for setting, (cl, bf16) in SETTINGS.items():
        torch.manual_seed(0)
        try:
            out.append(_Variant(f"ref-{setting}", _Ref(), cl, bf16, reference=True))
        except ImportError:
            pass
        torch.manual_seed(0)
        out.append(_Variant(f"all-{setting}", build_network(cfg), cl, bf16))
    out += [_Variant("frozen6-fp32-cl", build_network(frozen), True, False),
            _Variant("frozen6-cached", build_network(frozen), True, False, cached=True),
            _Variant("frozen6-cached-bf16", build_network(frozen), True, True, cached=True)]
    return out


def _case(v: _Variant) -> tuple[str, bool]:
    """(case, is this case's reference) of a variant's row: per setting, or the freezing case."""
    base = f"lite0_train_step_b{BATCH}_{SIZE}px"
    if v.name.startswith(("ref-", "all-")):
        return f"{base}, all blocks, {v.name.split('-', 1)[1]}", v.reference
    return f"{base}: frozen / cached vs all blocks (ours, fp32-cl)", False


def cases(quick: bool = False) -> list[dict]:
    """samples/s of one training step per variant (quick: 1 warm-up + 3 timed steps)."""
    warmup, repeats = (1, 3) if quick else (2, 5)
    variants = _variants()
    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for i in range(warmup + repeats):
        for v in (variants if i % 2 == 0 else variants[::-1]):
            t = v.step(x)
            if i >= warmup:
                v.times.append(t)
    rows = []
    for v in variants:
        sps = [BATCH / t for t in v.times]
        case, ref = _case(v)
        rows.append({"case": case, "variant": v.name, "size": SIZE, "samples_per_s_median": statistics.median(sps),
                     "min": min(sps), "max": max(sps), "reference": ref, "repeats": len(sps)})
    base = next(r for r in rows if r["variant"] == "all-fp32-cl")  # what freezing is compared with
    rows.append({**base, "case": _case(variants[-1])[0], "reference": True})
    for r in rows:
        ref = next((x for x in rows if x["reference"] and x["case"] == r["case"]), None)
        r["ratio_to_reference"] = r["samples_per_s_median"] / ref["samples_per_s_median"] if ref else None
        if ref is not None and not r["reference"] and r["variant"].startswith("all-"):
            r["target"] = ">= 1.0x the reference implementation at the same setting"
            r["met"] = bool(r["ratio_to_reference"] >= 1.0)
    return rows


if __name__ == "__main__":
    from benchmarks._script import script_rows

    rows = script_rows(__doc__, cases)
    if rows is not None:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        for r in rows:
            ratio = f"  x{r['ratio_to_reference']:.2f} ref" if r["ratio_to_reference"] else ""
            print(f"{r['variant']:<18}{r['samples_per_s_median']:>8.1f} samples/s{ratio}")
