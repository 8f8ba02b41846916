"""The embedded demo run built from nothing: ``python -m xmr_core demo`` end to end.

Times ``xmr_core.demo_run.build_demo`` into a temporary folder (data generation,
Word2Vec, training the ``demo`` recipe, embedding + evaluation of the test split,
t-SNE), per stage, and reports the test split's R@10 both ways next to the time so a
faster recipe cannot hide a worse run. Target: <= 5 min. Full mode builds the real
demo (3,000 images, 12 epochs); quick mode builds the ``--fast`` one (400 images,
1 epoch), which checks the path, not the target.

Run: ``python benchmarks/bench_demo.py [--quick]`` (full: about 10-45 min on 2 cores,
depending on the CPU; see BENCHMARKS.md).
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


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """One build of the demo run; see the module docstring."""
    from xmr_core.demo_run import build_demo

    stages: dict[str, float] = {}
    current: dict[str, Any] = {"stage": None, "t": 0.0}

    def progress(stage: str, frac: float, msg: str) -> None:
        now = time.perf_counter()
        if current["stage"] != stage:
            if current["stage"] is not None:
                stages[current["stage"]] = stages.get(current["stage"], 0.0) + now - current["t"]
            current.update(stage=stage, t=now)

    with tempfile.TemporaryDirectory(prefix="xmr-bench-demo-") as tmp:
        old = os.environ.get("XMR_DATA_DIR")
        os.environ["XMR_DATA_DIR"] = str(Path(tmp) / "data")  # generate the data too, not reuse it
        try:
            t = time.perf_counter()
            out = build_demo(fast=quick, out=Path(tmp) / "run", force=True, progress=progress)
            secs = time.perf_counter() - t
            if current["stage"] is not None:
                stages[current["stage"]] = stages.get(current["stage"], 0.0) + time.perf_counter() - current["t"]
            m = json.loads((out / "metrics.json").read_text())
        finally:
            if old is None:
                os.environ.pop("XMR_DATA_DIR", None)
            else:
                os.environ["XMR_DATA_DIR"] = old
    row = {"case": "demo run from scratch" + (" (--fast: 400 images, 1 epoch)" if quick else ""),
           "variant": "python -m xmr_core demo" + (" --fast" if quick else ""),
           "seconds_median": secs, "min": secs, "max": secs, "reference": False, "repeats": 1,
           "stages_s": {k: round(v, 1) for k, v in stages.items()},
           "test_R@10_i2t": m["i2t"]["R@10"], "test_R@10_t2i": m["t2i"]["R@10"]}
    if not quick:
        row["target"] = "<= 5 min"
        row["met"] = bool(secs <= TARGET_S)
    return [row]


if __name__ == "__main__":
    rows = script_rows(__doc__, cases)
    if rows is not None:
        for r in rows:
            print(f"{r['case']}: {r['seconds_median']:.0f} s; stages {r['stages_s']}; "
                  f"test R@10 {r['test_R@10_i2t']:.1f} / {r['test_R@10_t2i']:.1f}")
