"""Training peak memory (RSS) on a 2k- vs a 20k-image dataset: streaming means no growth.

Each size runs ``xmr_core.train.train`` in its own fresh subprocess (the ``paper``
recipe's full-width network at 160 px input, batch 45 = 9 classes x (1 image + 4
captions), a few optimiser steps, no validation) on a generated demo dataset of that
many images, and reports the subprocess's peak resident set size
(``VmHWM`` from /proc/self/status; Linux only). The 2k run is the reference; the 20k row's ratio is
``peak(2k) / peak(20k)`` (1.0 = no growth). Targets: the two within 10 %, and
<= 4 GB at batch 45 / 160 px.

What grows with the dataset by design: the caption records and the Word2Vec
vocabulary (trained on all captions before the first step). Images are decoded and
captions painted per batch in the DataLoader, so neither the pixels nor the encoded
captions of the whole dataset are ever held.

Quick mode: 1k vs 10k images, 2 steps. Run: ``python benchmarks/bench_memory.py [--quick]``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET_GB = 4.0

# The child: generate the dataset (not measured separately: PNGs go to disk), train a
# few steps, print its own peak RSS. A fresh process per size, so one size's peak
# cannot hide the other's.
_CHILD = textwrap.dedent("""
    import json, sys, time
    from dataclasses import replace
    from pathlib import Path
    from xmr_core.data.demo import generate_demo
    from xmr_core.recipes import recipe
    from xmr_core.train import train
    n, steps, work = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    spec = generate_demo(work / "data", n_images=n, image_size=160, n_val=50, n_test=50)
    enc, mod, tr = recipe("paper")
    mod = replace(mod, input_size=160)
    tr = replace(tr, batch_size=45, captions_per_class=4, images_per_class=1, max_steps=steps, epochs=1,
                 val_every=0, threads=0, workers=0)
    enc = replace(enc, w2v_epochs=1)
    t = time.perf_counter()
    train(work / "run", str(spec), None, enc, mod, tr, recipe_name="paper", progress=False)
    secs = time.perf_counter() - t
    # VmHWM (this process image's RSS high-water mark), not ru_maxrss: Linux keeps
    # ru_maxrss across fork+exec, so a child of a big parent reports the parent's peak
    # (a full suite run measured 10,494 MB for both sizes that way; 1,542 MB alone).
    hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    print(json.dumps({"peak_rss_mb": hwm / 1024, "seconds": secs}))
""")


def _peak(n_images: int, steps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="xmr-bench-mem-") as tmp:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(n_images), str(steps), tmp], cwd=REPO,
                             capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"training subprocess ({n_images} images) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Peak RSS of a short training run at two dataset sizes; see the module docstring."""
    small, large, steps = (1000, 10000, 2) if quick else (2000, 20000, 5)
    case = f"train peak RSS, batch 45, 160 px, {steps} steps"
    res = {n: _peak(n, steps) for n in (small, large)}
    rows = []
    for n in (small, large):
        mb = res[n]["peak_rss_mb"]
        row = {"case": case, "variant": f"{n:,} demo images", "peak_rss_mb_median": mb, "min": mb, "max": mb,
               "unit": "MB", "higher_is_better": False, "reference": n == small, "repeats": 1,
               "train_seconds": round(res[n]["seconds"], 1)}
        if n == large:
            growth = mb / res[small]["peak_rss_mb"]
            row["target"] = f"within 10 % of {small:,} images; <= {TARGET_GB:g} GB"
            row["met"] = bool(growth <= 1.10 and mb <= TARGET_GB * 1024)
            row["growth"] = round(growth, 3)
        rows.append(row)
    return rows


if __name__ == "__main__":
    rows = script_rows(__doc__, cases)
    if rows is not None:
        for r in rows:
            print(f"{r['case']:45s} {r['variant']:20s} {r['peak_rss_mb_median']:8.0f} MB"
                  + (f"  growth x{r['growth']:.3f}  {'met' if r['met'] else 'NOT met'}" if "growth" in r else ""))
