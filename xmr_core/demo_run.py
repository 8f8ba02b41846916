"""``python -m xmr_core demo``: the embedded default run, built from nothing.

Generates the synthetic demo dataset, trains the ``demo`` recipe, then embeds,
evaluates (metrics.json, report.md) and maps (t-SNE) its test split, all into
``checkpoints/demo``. ``--fast`` builds a tiny run in well under a minute (tests,
first-launch smoke checks); it learns little.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .run import checkpoints_dir

# progress(stage, fraction 0..1, message) - the app draws a progress bar from it.
Progress = Callable[[str, float, str], None]

DEMO_IMAGES = 3000      # full demo: 2,600 train / 200 val / 200 test images
FAST_IMAGES = 400       # --fast: 200 train / 100 val / 100 test (data/demo-400)


def _tqdm_progress() -> Progress:
    state = {"stage": None, "bar": None}

    def cb(stage: str, frac: float, msg: str) -> None:
        from tqdm.auto import tqdm

        if state["stage"] != stage:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=100, desc=stage, unit="%", dynamic_ncols=True)
            state["stage"] = stage
        bar = state["bar"]
        bar.n = int(round(frac * 100))
        bar.set_postfix_str(msg[:60])
        bar.refresh()
        if frac >= 1.0:
            bar.close()
            state["stage"] = None
            state["bar"] = None

    return cb


def build_demo(fast: bool = False, out: str | Path | None = None, force: bool = False,
               progress: Progress | None = None) -> Path:
    """Build the demo run bundle and return its folder."""
    from .data import load_demo
    from .evaluate import evaluate_run, tsne_run
    from .recipes import recipe
    from .train import train

    progress = progress or _tqdm_progress()
    out = Path(out) if out else checkpoints_dir() / ("demo-fast" if fast else "demo")
    if (out / "metrics.json").is_file() and not force:
        progress("done", 1.0, f"{out} exists (use --force to rebuild)")
        return out
    t0 = time.time()
    n_images = FAST_IMAGES if fast else DEMO_IMAGES
    progress("data", 0.0, "generating the demo dataset")
    spec = f"demo:{n_images}" if fast else "demo"
    load_demo(n_images=n_images)
    progress("data", 1.0, f"{n_images} images")

    enc, mod, tr = recipe("demo")
    if fast:
        tr = replace(tr, epochs=1, max_steps=0, val_every=1, val_images=50, warmup_steps=2)
        enc = replace(enc, w2v_epochs=3)

    def on_step(step: int, total: int, info: dict) -> None:
        progress("train", step / max(1, total),
                 f"step {step}/{total}, loss {info['loss']:.3f}, {info['samples_per_s']:.0f} samples/s")

    progress("train", 0.0, "training")
    # An unfinished or --force'd demo is replaced, but only once the new one has its first checkpoint.
    train(out, spec, None, enc, mod, tr, recipe_name="demo", progress=on_step, overwrite=True)
    progress("train", 1.0, "trained")
    progress("evaluate", 0.0, "embedding and evaluating the test split")
    evaluate_run(out, split="test", progress=lambda f, m: progress("evaluate", f, m))
    progress("evaluate", 1.0, "metrics.json, report.md")
    progress("t-SNE", 0.0, "mapping the test split")
    tsne_run(out, split="test")
    progress("t-SNE", 1.0, f"done in {time.time() - t0:.0f} s")
    return out
