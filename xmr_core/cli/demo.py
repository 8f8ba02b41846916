"""``python -m xmr_core demo``: the embedded default run, built from nothing.

Generates the synthetic demo dataset, trains the ``demo`` recipe, then embeds,
evaluates (metrics.json, report.md) and maps (t-SNE) its test split, all into
``checkpoints/demo``. ``--fast`` builds a tiny run in well under a minute (tests,
first-launch smoke checks); it learns little.
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..bundle.run import checkpoints_dir

# progress(stage, fraction 0..1, message) - the app draws a progress bar from it.
Progress = Callable[[str, float, str], None]

DEMO_IMAGES = 3000      # full demo: 2,600 train / 200 val / 200 test images
FAST_IMAGES = 400       # --fast: 200 train / 100 val / 100 test (data/demo-400)

# The second demo bundle (checkpoints/demo-paper): the same data, the paper's InceptionResNet-V1 trained from
# scratch on the `demo-irv1` recipe's schedule, with the paper's own losses only (softmax over the training
# classes + center loss), on a narrow network (width 0.25) so the bundle stays a few MB. The Compare page
# shows it beside ours on the same query.
PAPER_LOSSES = {"softmax_weight": 1.0, "center_loss_factor": 0.01, "center_loss_alpha": 0.95,
                "contrastive_weight": 0.0, "words_weight": 0.0}
PAPER_WIDTH = 0.25
# ... and on full captions only, as the paper trained: no short queries cut from them (docs/METHOD.md §5b).
PAPER_DATA = {"short_queries": 0.0}
LOSSES = ("ours", "paper")


def _tqdm_progress() -> Progress:
    state = {"stage": None, "bar": None}

    def cb(stage: str, frac: float, msg: str) -> None:
        from ..progress import progress_bar, set_fraction

        if state["stage"] != stage:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = progress_bar(total=100, desc=stage, unit="%", dynamic_ncols=True)
            state["stage"] = stage
        bar = state["bar"]
        set_fraction(bar, frac, msg)
        if frac >= 1.0:
            bar.close()
            state["stage"] = None
            state["bar"] = None

    return cb


def build_demo(fast: bool = False, out: str | Path | None = None, force: bool = False,
               progress: Progress | None = None, losses: str = "ours") -> Path:
    """Build the demo run bundle and return its folder.

    ``losses="paper"`` builds the paper-losses variant (``PAPER_LOSSES``, width ``PAPER_WIDTH``;
    default folder ``checkpoints/demo-paper``, or ``demo-paper-fast``). The bundle is built whole
    (trained, evaluated, mapped) in a hidden folder beside ``out`` and moved into place only then:
    a failed or interrupted build leaves the bundle that was there as it was.
    """
    if losses not in LOSSES:
        from ..errors import XmrError

        raise XmrError(f"unknown demo losses {losses!r}; choose from {', '.join(LOSSES)}")
    from ..train.runfolder import RunLock, abandon, promote, stale_siblings

    progress = progress or _tqdm_progress()
    name = "demo" if losses == "ours" else "demo-paper"
    out = Path(out) if out else checkpoints_dir() / (f"{name}-fast" if fast else name)
    if (out / "metrics.json").is_file() and not force:
        progress("done", 1.0, f"{out} exists (use --force to rebuild)")
        return out
    t0 = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    stale_siblings(out, "build")  # builds whose process is gone
    build = out.parent / f".{out.name}.build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _build_into(build / out.name, fast, losses, progress)
        with RunLock(out):  # no training is writing it while it is replaced
            promote(build / out.name, out)
    finally:
        abandon(build)
    progress("t-SNE", 1.0, f"done in {time.time() - t0:.0f} s")
    return out


def _build_into(folder: Path, fast: bool, losses: str, progress: Progress) -> None:
    """Generate the data, train, evaluate and map the demo bundle in ``folder``."""
    from ..data import load_demo
    from ..evaluation.evaluate import evaluate_run, tsne_run
    from ..recipes import recipe
    from ..stops import Interrupted
    from ..train import train

    n_images = FAST_IMAGES if fast else DEMO_IMAGES
    progress("data", 0.0, "generating the demo dataset")
    spec = f"demo:{n_images}" if fast else "demo"
    load_demo(n_images=n_images)
    progress("data", 1.0, f"{n_images} images")
    enc, mod, tr = recipe("demo" if losses == "ours" else "demo-irv1")
    if losses == "paper":  # the paper's network trained from scratch, as the demo was before the Lite0 trunk
        mod = replace(mod, width=PAPER_WIDTH)
        tr = replace(tr, **PAPER_LOSSES, **PAPER_DATA)
    if fast:
        tr = replace(tr, epochs=1, max_steps=0, val_every=1, val_images=50, warmup_steps=2)
        enc = replace(enc, w2v_epochs=3)

    def on_step(step: int, total: int, info: dict) -> None:
        progress("train", step / max(1, total),
                 f"step {step}/{total}, loss {info['loss']:.3f}, {info['samples_per_s']:.0f} samples/s")

    progress("train", 0.0, "training")
    res = train(folder, spec, None, enc, mod, tr, recipe_name="demo" if losses == "ours" else "demo-paper-losses",
                progress=on_step)
    if res.interrupted:  # a half-trained demo is never evaluated, mapped or moved into place
        raise Interrupted(kept=f"the demo build stopped at step {res.steps}; {folder.parent.parent / folder.name} "
                               "is as it was (the partial build was removed)")
    progress("train", 1.0, "trained")
    progress("evaluate", 0.0, "embedding and evaluating the test split")
    evaluate_run(folder, split="test", progress=lambda f, m: progress("evaluate", f, m))
    progress("evaluate", 1.0, "metrics.json, report.md")
    progress("t-SNE", 0.0, "mapping the test split")
    tsne_run(folder, split="test")


def build_demos(fast: bool = False, force: bool = False, progress: Progress | None = None) -> list[Path]:
    """Both demo bundles, ours (``checkpoints/demo``) and the paper's losses (``checkpoints/demo-paper``)."""
    return [build_demo(fast=fast, force=force, progress=progress, losses=losses) for losses in LOSSES]


if __name__ == "__main__":  # python -m xmr_core.cli.demo [--fast] [--force] [--only ours|paper]
    import argparse

    ap = argparse.ArgumentParser(prog="python -m xmr_core.cli.demo",
                                 description="build both demo bundles: checkpoints/demo and checkpoints/demo-paper")
    ap.add_argument("--fast", action="store_true", help="tiny runs (1 epoch, 400 images): smoke checks")
    ap.add_argument("--force", action="store_true", help="rebuild bundles that exist")
    ap.add_argument("--only", choices=LOSSES, help="build just one of the two")
    a = ap.parse_args()
    for losses in ([a.only] if a.only else LOSSES):
        print(build_demo(fast=a.fast, force=a.force, losses=losses))
