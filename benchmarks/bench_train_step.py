"""Training-step throughput of InceptionResNet-V1 on this machine (batch 45, docs/METHOD.md §3).

Variants, each a full step (forward, CE over a linear classifier on the embedding,
backward, Adam step) on the same random batch:
  ours-fp32         our model, fp32, NCHW
  ours-fp32-cl      our model, fp32, channels_last
  ours-bf16-cl      our model, channels_last + bf16 autocast
  facenet-fp32      facenet-pytorch's InceptionResnetV1 (reference), fp32, NCHW
All with a 512-d head, so every variant has the same output shape (checked), the same
input batch and the same optimiser (Adam 1e-3). Target: our fastest variant >= 1.5x
facenet-pytorch's samples/s at each size.

Runs alternate (one step of each variant per round) so drifting machine load hits
every variant alike. ``cases(quick)`` returns one dict per (variant, size);
``python benchmarks/bench_train_step.py [--quick]`` prints a table.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from xmr_core.config import ModelConfig  # noqa: E402
from xmr_core.model import InceptionResNetV1  # noqa: E402

BATCH = 45
SIZES = (128, 160)
NUM_CLASSES = 1000


def load_facenet_reference():
    """facenet-pytorch's ``models/inception_resnet_v1.py`` alone (see tests/test_model.py), or None."""
    name = "_xmr_facenet_ref"
    if f"{name}.inception_resnet_v1" in sys.modules:
        return sys.modules[f"{name}.inception_resnet_v1"]
    top = importlib.util.find_spec("facenet_pytorch")
    if top is None or not top.submodule_search_locations:
        return None
    path = Path(list(top.submodule_search_locations)[0]) / "models" / "inception_resnet_v1.py"
    if not path.is_file():
        return None
    for mod_name in (name, f"{name}.utils", f"{name}.utils.download"):
        mod = types.ModuleType(mod_name)
        mod.__path__ = []
        sys.modules.setdefault(mod_name, mod)
    sys.modules[f"{name}.utils.download"].download_url_to_file = None
    try:
        import requests.adapters  # noqa: F401
    except ImportError:
        req = types.ModuleType("requests")
        req.adapters = types.ModuleType("requests.adapters")
        req.adapters.HTTPAdapter = object
        sys.modules.setdefault("requests", req)
        sys.modules.setdefault("requests.adapters", req.adapters)
    spec = importlib.util.spec_from_file_location(f"{name}.inception_resnet_v1", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _Variant:
    def __init__(self, name: str, model: nn.Module, emb: int, channels_last: bool, bf16: bool,
                 reference: bool):
        self.name, self.reference = name, reference
        self.channels_last, self.bf16 = channels_last, bf16
        self.model = model.train()
        self.emb = emb
        self.clf = nn.Linear(emb, NUM_CLASSES)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(list(self.model.parameters()) + list(self.clf.parameters()), lr=1e-3)
        self.times: list[float] = []

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.model(x)
            loss = F.cross_entropy(self.clf(out).float(), y)
        self.out_shape = tuple(out.shape)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return time.perf_counter() - t0


def _variants() -> list[_Variant]:
    torch.manual_seed(0)
    cfg = ModelConfig(embedding_size=512)  # facenet's head size: identical output shapes
    out = [
        _Variant("ours-fp32", InceptionResNetV1(cfg), 512, False, False, False),
        _Variant("ours-fp32-cl", InceptionResNetV1(cfg), 512, True, False, False),
        _Variant("ours-bf16-cl", InceptionResNetV1(cfg), 512, True, True, False),
    ]
    ref = load_facenet_reference()
    if ref is not None:
        out.append(_Variant("facenet-fp32", ref.InceptionResnetV1(pretrained=None, classify=False),
                            512, False, False, True))
    return out


def cases(quick: bool = False, sizes: tuple[int, ...] = SIZES) -> list[dict]:
    """samples/s of one training step, per variant and input size (quick: 1 warm-up + 2 timed)."""
    warmup, repeats = (1, 2) if quick else (2, 5)
    results = []
    for size in sizes:
        variants = _variants()
        g = torch.Generator().manual_seed(size)
        x = torch.randn(BATCH, 3, size, size, generator=g)
        y = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g)
        for _ in range(warmup):
            for v in variants:
                v.step(x, y)
        for _ in range(repeats):  # alternate the variants every round
            for v in variants:
                v.times.append(v.step(x, y))
        shapes = {v.out_shape for v in variants}
        assert len(shapes) == 1, f"output shapes differ: {shapes}"
        rows = []
        for v in variants:
            sps = [BATCH / t for t in v.times]
            rows.append({
                "case": f"train_step_b{BATCH}_{size}px",
                "variant": v.name,
                "size": size,
                "samples_per_s_median": statistics.median(sps),
                "min": min(sps),
                "max": max(sps),
                "reference": v.reference,
                "output_shape": list(v.out_shape),
            })
        ref = next((r for r in rows if r["reference"]), None)
        ours = [r for r in rows if not r["reference"]]
        if ref is not None:
            best = max(ours, key=lambda r: r["samples_per_s_median"])
            best["target"] = ">= 1.5x facenet-pytorch (fastest of ours)"
            best["met"] = bool(best["samples_per_s_median"] >= 1.5 * ref["samples_per_s_median"])
        results += rows
        del variants
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 warm-up + 2 timed steps per variant")
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}")
    print(f"{'case':<24}{'variant':<16}{'median':>9}{'min':>9}{'max':>9}  samples/s")
    for r in cases(args.quick):
        tag = " (reference)" if r["reference"] else ""
        print(f"{r['case']:<24}{r['variant']:<16}{r['samples_per_s_median']:>9.1f}"
              f"{r['min']:>9.1f}{r['max']:>9.1f}{tag}")


if __name__ == "__main__":
    main()
