"""Embedding a split at 1 and 2 processes (issue 24): ``python -m xmr_core embed`` against
``torchrun --nproc_per_node 2 -m xmr_core -- embed`` on the same run and split.

The run is a private copy of ``checkpoints/demo`` (weights, vectors, encoder; no embeddings), the
split the demo dataset's ``train`` (2,600 images + 13,000 captions; quick: ``test``, 200 + 1,000).
Three variants, each a fresh command with ``--force``, alternating, timed from start to exit (so
process start and model load are in every figure): one process with one thread, one process with
two threads (``OMP_NUM_THREADS=2``: the whole machine to one process) and two torchrun processes
of one thread each (gloo; each its shards, rank 0 merges). Items per second = (images + captions)
/ wall seconds. Each output is compared with the first one-thread single-process output:
``identical`` (bit for bit) or the largest absolute difference.

Run: ``python benchmarks/bench_shards.py [--quick]`` (on an idle machine: the two-process figure
needs both cores).
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._script import script_rows  # noqa: E402

BASE = REPO / "checkpoints" / "demo"
VARIANTS = {  # name -> (command prefix, OMP_NUM_THREADS)
    "1 process, 1 thread": ([sys.executable, "-m", "xmr_core"], "1"),
    "1 process, 2 threads": ([sys.executable, "-m", "xmr_core"], "2"),
    "2 processes (torchrun, gloo), 1 thread each": (
        [shutil.which("torchrun") or "torchrun", "--standalone", "--nproc_per_node", "2", "-m", "xmr_core", "--"], "1"),
}


def _vectors(run: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from xmr_core.evaluation.split_embeddings import load_embeddings

    e = load_embeddings(next((run / "embeddings").glob(f"*-{split}.npz")))
    return np.array(e.images), np.array(e.captions)


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> str:
    if all(np.array_equal(x, y) for x, y in zip(a, b)):
        return "identical"
    return f"max abs difference {max(float(np.abs(x - y).max()) for x, y in zip(a, b)):.2e}"


def cases(quick: bool) -> list[dict[str, Any]]:
    split = "test" if quick else "train"
    rounds = 1 if quick else 2
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    same: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="xmr-bench-shards-") as tmp:
        run = Path(tmp) / "demo"
        shutil.copytree(BASE, run, ignore=shutil.ignore_patterns("embeddings", "tsne", "metrics*", "*.lock",
                                                                 "last.pt", "report.md"))
        ref = None
        for _ in range(rounds):
            for name, (cmd, threads) in VARIANTS.items():
                env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": str(REPO),
                       "XMR_RELEVANCE": "word-vectors"}
                t = time.perf_counter()
                p = subprocess.run(cmd + ["embed", "--run", str(run), "--split", split, "--force"], env=env,
                                   cwd=REPO, capture_output=True, text=True, timeout=3600)
                times[name].append(time.perf_counter() - t)
                if p.returncode != 0:
                    raise RuntimeError(f"{name}: exit {p.returncode}: {p.stderr[-1500:]}")
                out = _vectors(run, split)
                ref = ref if ref is not None else out
                same[name] = _same(out, ref)
        n_items = int(sum(len(x) for x in ref))
    rows = []
    for name, ts in times.items():
        rates = [n_items / t for t in ts]
        rows.append({"case": f"embed the demo {split} split ({n_items:,} images + captions), whole command",
                     "variant": name, "items_per_s_median": statistics.median(rates), "unit": "items/s",
                     "higher_is_better": True, "min": min(rates), "max": max(rates),
                     "seconds": [round(t, 2) for t in ts], "reference": name == "1 process, 1 thread",
                     "vs_one_thread_single_process": same[name], "items": n_items})
    return rows


if __name__ == "__main__":
    out = script_rows(__doc__, cases)
    if out is not None:
        for r in out:
            print(f"{r['variant']:45s} {r['items_per_s_median']:8.1f} items/s  {r['seconds']}  "
                  f"{r['vs_one_thread_single_process']}")
