"""The embedded demo run built from nothing: ``python -m xmr_core demo`` end to end.

Times ``xmr_core.cli.demo.build_demo`` into a temporary folder (data generation,
Word2Vec, training the ``demo`` recipe, embedding + evaluation of the test split,
t-SNE), per stage, and reports the test split's R@10 both ways next to the time so a
faster recipe cannot hide a worse run, and builds it twice: both builds' metrics and weights
must be identical (``identical_metrics``, ``identical_weights``). Target: <= 5 min and test
R@10 >= 90 both ways. Full mode builds the real
demo (3,000 images, 11 epochs) twice; quick mode builds the ``--fast`` one (400 images,
1 epoch) twice, which checks the path and the reproducibility, not the time target.

Run: ``python benchmarks/bench_demo.py [--quick]`` (full: about 7 min on 2 cores with
native bf16; see BENCHMARKS.md).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402

TARGET_S = 300.0


def timed_build(out: Path, fast: bool = False, losses: str = "ours",
                data_dir: Path | None = None) -> tuple[float, dict[str, float]]:
    """One ``build_demo`` into ``out`` (``--force``): (seconds, seconds per stage). ``data_dir`` set:
    ``XMR_DATA_DIR`` points there while building (the data is generated too, not reused)."""
    from xmr_core.cli.demo import build_demo

    stages: dict[str, float] = {}
    current: dict[str, Any] = {"stage": None, "t": 0.0}

    def progress(stage: str, frac: float, msg: str) -> None:
        now = time.perf_counter()
        if current["stage"] != stage:
            if current["stage"] is not None:
                stages[current["stage"]] = stages.get(current["stage"], 0.0) + now - current["t"]
            current.update(stage=stage, t=now)

    old = os.environ.get("XMR_DATA_DIR")
    if data_dir is not None:
        os.environ["XMR_DATA_DIR"] = str(data_dir)
    try:
        t = time.perf_counter()
        build_demo(fast=fast, out=out, force=True, progress=progress, losses=losses)
        secs = time.perf_counter() - t
        if current["stage"] is not None:
            stages[current["stage"]] = stages.get(current["stage"], 0.0) + time.perf_counter() - current["t"]
    finally:
        if old is None:
            os.environ.pop("XMR_DATA_DIR", None)
        else:
            os.environ["XMR_DATA_DIR"] = old
    return secs, stages


def _build_once(tmp: Path, quick: bool) -> tuple[float, dict[str, float], Path]:
    """One timed ``build_demo`` into ``tmp/run`` (data generated into ``tmp/data``)."""
    secs, stages = timed_build(tmp / "run", quick, data_dir=tmp / "data")
    return secs, stages, tmp / "run"


def _same_weights(a: Path, b: Path) -> bool:
    import torch

    sa = torch.load(a / "model.pt", weights_only=True)
    sb = torch.load(b / "model.pt", weights_only=True)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Two builds of the demo run, each from nothing; see the module docstring."""
    rows, outs, metrics = [], [], []
    with tempfile.TemporaryDirectory(prefix="xmr-bench-demo-") as td:
        for build in (1, 2):
            tmp = Path(td) / f"build{build}"
            secs, stages, out = _build_once(tmp, quick)
            m = json.loads((out / "metrics.json").read_text())
            outs.append(out)
            metrics.append({d: m[d] for d in ("i2t", "t2i", "rsum", "semantic") if d in m})
            rows.append({"case": "demo run from scratch" + (" (--fast: 400 images, 1 epoch)" if quick else ""),
                         "variant": f"python -m xmr_core demo{' --fast' if quick else ''} --force, build {build}",
                         "seconds_median": secs, "min": secs, "max": secs, "reference": False, "repeats": 1,
                         "stages_s": {k: round(v, 1) for k, v in stages.items()},
                         "test_R@10_i2t": m["i2t"]["R@10"], "test_R@10_t2i": m["t2i"]["R@10"],
                         "train_threads": json.loads((out / "config.json").read_text())["train"]["threads"]})
            if not quick:
                rows[-1]["target"] = "<= 5 min, test R@10 >= 90 both ways"
                rows[-1]["met"] = bool(secs <= TARGET_S and min(m["i2t"]["R@10"], m["t2i"]["R@10"]) >= 90)
        same = {"identical_metrics": metrics[0] == metrics[1], "identical_weights": _same_weights(*outs)}
    for r in rows:
        r.update(same)
    return rows


if __name__ == "__main__":
    rows = script_rows(__doc__, cases)
    if rows is not None:
        for r in rows:
            print(f"{r['variant']}: {r['seconds_median']:.0f} s; stages {r['stages_s']}; "
                  f"test R@10 {r['test_R@10_i2t']:.1f} / {r['test_R@10_t2i']:.1f}; "
                  f"identical metrics {r['identical_metrics']}, weights {r['identical_weights']}")
