"""``TrainConfig.budget_min``: train the epochs that fit a wall-time budget on *this* machine.

A recipe's epochs are timed on one CPU; another can take far longer (docs/RESULTS.md: the Intel
Xeon without bf16 ran the same step at about 0.58x the AMD EPYC's rate). With a budget the run
times its own optimiser steps (``SKIP_STEPS`` untimed, then ``PROBE_STEPS``) and a validation's
work on a sample of val, then keeps the most epochs, up to the asked ones, whose steps and
validations fit what is left of the budget. It decides while the LR is still warming up, so the
schedule is set to that length and anneals inside the budget instead of being cut mid-schedule.
The decision is written to ``config.json`` (``train.epochs`` becomes the chosen count, ``budget``
keeps what was measured), so a resumed run keeps it and ``--epochs N`` reproduces it anywhere.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..files import read_json, write_json_atomic
from .distributed import broadcast_int
from .validate import validates_after, validation_seconds

SKIP_STEPS = 3    # the first steps fault memory in and pick oneDNN kernels: not typical, not timed
PROBE_STEPS = 20  # timed steps (about 20 s on the default recipe's step)
# Plan to use this share of what is left: the step rate drifts within a run (115-142 samples/s in
# results/flickr8k/f8k-lr3e3-e14/train_log.csv) and the time after the last step is not timed.
MARGIN = 0.95


def validations(epochs: int, val_every: int, done: int = 0) -> int:
    """Periodic validations a run of ``epochs`` still makes after ``done`` epochs (the loop's rule,
    ``validate.validates_after``)."""
    return sum(validates_after(e, epochs, val_every) for e in range(done + 1, epochs + 1))


@dataclass
class Plan:
    """What was measured and what it chose (``config.json``'s ``budget``)."""

    budget_min: float
    elapsed_s: float        # the run's time when it planned (set-up and the probe steps)
    step_s: float           # mean seconds an optimiser step, data loading included
    val_s: float            # a periodic validation's seconds, scaled from a sample of val
    steps_per_epoch: int
    epochs_asked: int
    epochs: int             # chosen: the most that fit, at least 1
    projected_asked_min: float  # the whole run's minutes had it trained the asked epochs
    projected_min: float        # ... with the chosen epochs

    def record(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def summary(self) -> str:
        kept = (f"all {self.epochs} asked epochs fit" if self.epochs == self.epochs_asked else
                f"{self.epochs} of the {self.epochs_asked} asked epochs were trained (all {self.epochs_asked}: "
                f"{self.projected_asked_min:.0f} min projected)")
        return (f"Trained under a {self.budget_min:g}-min budget (--budget-min): a step took {self.step_s:.2f} s "
                f"and a validation about {self.val_s:.0f} s on its machine, so {kept}; projected "
                f"{self.projected_min:.0f} min for the whole run.")

    def message(self) -> str:
        head = (f"budget {self.budget_min:g} min: a step takes {self.step_s:.2f} s and a validation about "
                f"{self.val_s:.0f} s here")
        if self.epochs == self.epochs_asked:
            return f"{head}; all {self.epochs} epochs fit (projected {self.projected_min:.0f} min)"
        return (f"{head}; {self.epochs_asked} epochs would take {self.projected_asked_min:.0f} min, so "
                f"{self.epochs} are trained (projected {self.projected_min:.0f} min), the LR schedule set to "
                f"that length (--budget-min 0 trains all {self.epochs_asked})")


def budget_note(config: dict[str, Any]) -> str | None:
    """A run's budget in words (the Overview page), from ``config.json``'s ``budget``; None without one."""
    b = config.get("budget") if isinstance(config, dict) else None
    try:
        return Plan(**{k: b[k] for k in Plan.__dataclass_fields__}).summary()
    except (KeyError, TypeError):  # no budget, or an unreadable record
        return None


def plan(budget_min: float, elapsed_s: float, step: int, epochs_done: int, step_s: float,
         steps_per_epoch: int, val_s: float, val_every: int, epochs_asked: int) -> Plan:
    """The most epochs (1 .. ``epochs_asked``) whose remaining steps and validations fit
    ``MARGIN`` of what is left of the budget; ``step`` optimiser steps are already done."""
    def projected(e: int) -> float:
        rest = max(0, e * steps_per_epoch - step) * step_s + validations(e, val_every, epochs_done) * val_s
        return elapsed_s + rest

    left = max(0.0, budget_min * 60 - elapsed_s) * MARGIN
    chosen = next((e for e in range(epochs_asked, epochs_done, -1) if projected(e) - elapsed_s <= left),
                  max(1, epochs_done + 1))
    return Plan(budget_min, elapsed_s, step_s, val_s, steps_per_epoch, epochs_asked, chosen,
                projected(epochs_asked) / 60, projected(chosen) / 60)


class StepClock:
    """Times optimiser steps, never what runs between epochs (a validation is timed on its own)."""

    def __init__(self) -> None:
        self.t_prev = time.perf_counter()
        self.seen = 0
        self.times: list[float] = []

    def tick(self, epoch_start: bool) -> float | None:
        """After a step; returns the mean step time once ``PROBE_STEPS`` steps are timed. An epoch's
        first step is not timed: its interval holds what ran between epochs (a validation, a save)."""
        now = time.perf_counter()
        dt, self.t_prev = now - self.t_prev, now
        self.seen += 1
        if self.seen > SKIP_STEPS and not epoch_start:
            self.times.append(dt)
        return sum(self.times) / len(self.times) if len(self.times) == PROBE_STEPS else None


def decide(r: Any, pos: Any, rep: Any, step_s: float) -> Plan | None:
    """Plan (rank 0, every rank then takes its epochs) and set the run to it: ``r.t.epochs``, the
    schedule's length, the progress bar's total and ``config.json``. Returns rank 0's plan (None elsewhere)."""
    p = None
    if r.rank == 0:
        val_s = validation_seconds(r.embedder, r.ds_val, r.t.val_images) if r.ds_val is not None else 0.0
        p = plan(r.t.budget_min, time.time() - r.started, pos.step, pos.epoch, step_s, r.steps_per_epoch, val_s,
                 r.t.val_every if r.ds_val is not None else 0, r.t.epochs)
    epochs = broadcast_int(p.epochs if p is not None else 0)
    r.t = replace(r.t, epochs=epochs)
    r.total_steps = r.steps_per_epoch * epochs
    rep.retotal(min(r.total_steps, r.t.max_steps) if r.t.max_steps else r.total_steps)
    if p is not None:
        cfg = read_json(r.run_dir / "config.json")
        cfg["train"]["epochs"], cfg["budget"] = epochs, p.record()
        write_json_atomic(r.run_dir / "config.json", cfg)
        rep.note(p.message())
    return p
