"""Training-step throughput of InceptionResNet-V1, ours vs facenet-pytorch at the same settings (batch 45).

One step = forward, CE over a linear classifier on the 512-d embedding, backward, Adam 1e-3, on
the same random batch. Each network runs at each setting, the pair under identical conditions:
  fp32             fp32, NCHW
  fp32-cl          fp32, channels_last (model and input)
  bf16-cl          bf16 autocast + channels_last
ours = ``xmr_core.network.model.InceptionResNetV1`` (512-d head, so output shapes match: checked);
reference = facenet-pytorch's ``InceptionResnetV1`` (installed ``--no-deps``), random init.
Targets: ours >= 1.0x facenet-pytorch at every setting (like for like: the same autocast and
memory format on both sides), and the setting that ``train --amp auto --channels-last auto``
picks on this machine is the fastest measured (a "default setting" row per size).

All six (network, setting) variants alternate every round, in reversed order on odd rounds, so
drifting load and position hit each alike; median and min-max of the timed rounds (quick: 1
warm-up + 3, full: 2 + 5). ``python benchmarks/bench_train_step.py [--quick]`` prints a table.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
from xmr_core.network.model import InceptionResNetV1  # noqa: E402

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


SETTINGS = {"fp32": (False, False), "fp32-cl": (True, False), "bf16-cl": (True, True)}  # (channels_last, bf16)


class _Variant:
    def __init__(self, net: str, setting: str, model: nn.Module, reference: bool):
        self.net, self.setting, self.reference = net, setting, reference
        self.channels_last, self.bf16 = SETTINGS[setting]
        self.model = model.train()
        self.clf = nn.Linear(512, NUM_CLASSES)
        if self.channels_last:
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
    """ours and facenet-pytorch at each setting (facenet rows only when it is installed)."""
    ref = load_facenet_reference()
    out = []
    for setting in SETTINGS:
        torch.manual_seed(0)
        out.append(_Variant("ours", setting, InceptionResNetV1(ModelConfig(embedding_size=512)), False))
        if ref is not None:
            torch.manual_seed(0)
            out.append(_Variant("facenet-pytorch", setting, ref.InceptionResnetV1(pretrained=None, classify=False),
                                True))
    return out


def auto_setting() -> str:
    """The setting ``train --amp auto --channels-last auto`` picks for this network on this CPU."""
    from xmr_core.config import TrainConfig
    from xmr_core.train.precision import amp_dtype, use_channels_last

    cpu, t = torch.device("cpu"), TrainConfig()
    cl, bf16 = use_channels_last(t, cpu), amp_dtype(t, cpu) is torch.bfloat16
    return next((k for k, v in SETTINGS.items() if v == (cl, bf16)), f"channels_last={cl}, bf16={bf16}")


def _time_rounds(variants: list[_Variant], size: int, warmup: int, repeats: int) -> None:
    g = torch.Generator().manual_seed(size)
    x = torch.randn(BATCH, 3, size, size, generator=g)
    y = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g)
    for i in range(warmup + repeats):  # alternate every round; reverse the order on odd rounds
        for v in (variants if i % 2 == 0 else variants[::-1]):
            t = v.step(x, y)
            if i >= warmup:
                v.times.append(t)
    shapes = {v.out_shape for v in variants}
    assert len(shapes) == 1, f"output shapes differ: {shapes}"


def _size_rows(variants: list[_Variant], size: int) -> list[dict]:
    rows, auto = [], auto_setting()
    for v in variants:
        sps = [BATCH / t for t in v.times]
        rows.append({"case": f"train_step_b{BATCH}_{size}px, {v.setting}", "variant": v.net, "setting": v.setting,
                     "size": size, "samples_per_s_median": statistics.median(sps), "min": min(sps), "max": max(sps),
                     "reference": v.reference, "repeats": len(sps), "output_shape": list(v.out_shape)})
    ours = {r["setting"]: r for r in rows if not r["reference"]}
    for r in rows:
        ref = next((x for x in rows if x["reference"] and x["setting"] == r["setting"]), None)
        if ref is not None and not r["reference"]:
            r["target"] = ">= 1.0x facenet-pytorch at the same setting"
            r["met"] = bool(r["samples_per_s_median"] >= ref["samples_per_s_median"])
    fastest = max(ours.values(), key=lambda r: r["samples_per_s_median"])["setting"]
    if auto in ours:
        a = ours[auto]
        rows.append({"case": f"train_step_b{BATCH}_{size}px: default setting", "variant": f"ours, auto picks {auto}",
                     "setting": auto, "size": size, "samples_per_s_median": a["samples_per_s_median"],
                     "min": a["min"], "max": a["max"], "reference": False, "fastest_setting": fastest,
                     "target": "auto's setting is the fastest measured", "met": auto == fastest})
    return rows


def cases(quick: bool = False, sizes: tuple[int, ...] = SIZES) -> list[dict]:
    """samples/s of one training step, per network, setting and input size (quick: 1 warm-up + 3 timed)."""
    warmup, repeats = (1, 3) if quick else (2, 5)
    results = []
    for size in sizes:
        variants = _variants()
        _time_rounds(variants, size, warmup, repeats)
        results += _size_rows(variants, size)
        del variants
    return results


def profile_ops(size: int = 128, setting: str = "fp32", steps: int = 3) -> dict:
    """Both networks' training steps under ``torch.profiler`` at one setting, alternated: each operator's
    self CPU time (ms a step) and calls a step, side by side. Same architecture, same kernels: the
    table shows whether any difference is in the operators run or only in their timing."""
    from torch.profiler import ProfilerActivity, profile

    variants = [v for v in _variants() if v.setting == setting]
    g = torch.Generator().manual_seed(size)
    x = torch.randn(BATCH, 3, size, size, generator=g)
    y = torch.randint(0, NUM_CLASSES, (BATCH,), generator=g)
    for v in variants:  # warm-up
        v.step(x, y)
    ops: dict[str, dict[str, dict]] = {}
    totals = {}
    for v in variants + variants[::-1]:  # each profiled twice, in both orders
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                v.step(x, y)
        for e in prof.key_averages():
            row = ops.setdefault(e.key, {}).setdefault(v.net, {"self_ms": 0.0, "calls": 0})
            row["self_ms"] += e.self_cpu_time_total / 1e3 / (2 * steps)
            row["calls"] = e.count // steps
        totals[v.net] = totals.get(v.net, 0.0) + sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3 / (
            2 * steps)
    top = sorted(ops, key=lambda k: -max(r["self_ms"] for r in ops[k].values()))[:25]
    return {"size": size, "setting": setting, "batch": BATCH, "steps_per_profile": steps,
            "total_self_ms_per_step": {k: round(t, 1) for k, t in totals.items()},
            "ops": {k: {n: {"self_ms": round(r["self_ms"], 2), "calls": r["calls"]} for n, r in ops[k].items()}
                    for k in top}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 warm-up + 2 timed steps per variant")
    ap.add_argument("--profile", metavar="OUT", help="instead: profile both networks' steps (128 px, fp32) "
                                                  "operator by operator and write OUT (JSON)")
    args = ap.parse_args(argv)
    if args.profile:
        from xmr_core.hardware import cpu_description

        machine = {**cpu_description(), "torch_threads": torch.get_num_threads(),
                   "loadavg_at_start": list(os.getloadavg())}
        out = {"how": "python benchmarks/bench_train_step.py --profile OUT", "machine": machine, **profile_ops()}
        Path(args.profile).write_text(json.dumps(out, indent=1) + "\n")
        print(out["total_self_ms_per_step"])
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH}")
    print(f"{'case':<44}{'variant':<26}{'median':>9}{'min':>9}{'max':>9}  samples/s")
    for r in cases(args.quick):
        tag = " (reference)" if r["reference"] else ("" if "met" not in r else
                                                     f"  {r['target']}: {'met' if r['met'] else 'NOT met'}")
        print(f"{r['case']:<44}{r['variant']:<26}{r['samples_per_s_median']:>9.1f}"
              f"{r['min']:>9.1f}{r['max']:>9.1f}{tag}")


if __name__ == "__main__":
    main()
