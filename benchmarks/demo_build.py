"""Rebuild the committed demo bundles in place and record how long it took: ``results/demo/build.json``.

    python -m benchmarks.demo_build [--note TEXT]

Builds ``checkpoints/demo`` and then ``checkpoints/demo-paper`` (``python -m xmr_core.cli.demo --force``,
each from its data generation to its t-SNE; the data is generated again, into the repository's
``data/`` as a user's first launch would), one after the other, and writes each bundle's seconds,
seconds per stage, test R@10 and the machine (CPU model, flags, threads, load) at its start and end.
DEMO.md's build figures and ``recipes.Timing`` cite this file (benchmarks/demo_docs.py). Run it on an
idle machine: the 5-minute target is a wall-clock time.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_demo import timed_build  # noqa: E402

OUT = ROOT / "results" / "demo" / "build.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--note", default="", help="what else ran on the machine, if anything")
    a = ap.parse_args(argv)
    from xmr_core.data.demo import DEMO_VERSION, default_demo_dir
    from xmr_core.files import write_text_atomic
    from xmr_core.hardware import cpu_description

    data = default_demo_dir()  # generated again, inside the first build's time
    if data.is_dir():
        shutil.rmtree(data)
    builds = []
    for bundle, losses in (("demo", "ours"), ("demo-paper", "paper")):
        start = cpu_description()
        secs, stages = timed_build(ROOT / "checkpoints" / bundle, losses=losses)
        m = json.loads((ROOT / "checkpoints" / bundle / "metrics.json").read_text(encoding="utf-8"))
        builds.append({"bundle": bundle, "command": f"python -m xmr_core.cli.demo --force --only {losses}",
                       "seconds": round(secs, 1), "stages_s": {k: round(v, 1) for k, v in stages.items()},
                       "test_R@10": [m["i2t"]["R@10"], m["t2i"]["R@10"]], "demo_version": DEMO_VERSION,
                       "machine_start": start, "machine_end": cpu_description()})
        print(f"{bundle}: {secs:.1f} s, stages {builds[-1]['stages_s']}, test R@10 {builds[-1]['test_R@10']}")
    write_text_atomic(OUT, json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": a.note,
                                       "builds": builds}, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
