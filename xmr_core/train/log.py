"""What a run reports: a tqdm bar or a callback a step, a ``train_log.csv`` row an epoch."""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any, Callable

from ..losses import LOSS_TERMS
from ..bundle.run import write_text_atomic

COLUMNS = ("loss", *LOSS_TERMS)  # the running means logged an epoch, in this order


class EpochMeter:
    """Running sums of the loss terms and the sample rate over one epoch."""

    def __init__(self) -> None:
        self.sums = {k: 0.0 for k in COLUMNS}
        self.n, self.samples, self.t0 = 0, 0, time.time()

    def add(self, losses: dict[str, float], samples: int) -> float:
        """Count one step; returns samples/s so far this epoch."""
        for k, v in losses.items():
            self.sums[k] += v
        self.n += 1
        self.samples += samples
        return self.samples_per_s()

    def samples_per_s(self) -> float:
        return self.samples / max(1e-9, time.time() - self.t0)

    def means(self) -> dict[str, float]:
        return {k: v / max(1, self.n) for k, v in self.sums.items()}


class Reporter:
    """A tqdm bar (``progress=True``, rank 0), a callback ``progress(step, total, info)``, or nothing."""

    def __init__(self, progress: bool | Callable[..., Any], rank: int, total: int, initial: int, name: str):
        self.callback = progress if callable(progress) and rank == 0 else None
        self.bar = None
        if progress is True and rank == 0:
            from ..progress import progress_bar

            self.bar = progress_bar(total=total, initial=initial, unit="step", desc=f"train {name}", dynamic_ncols=True)

    def step(self, step: int, total_steps: int, epoch: int, losses: dict[str, float], sps: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(ep=epoch + 1, loss=f"{losses['loss']:.3f}", center=f"{losses['center']:.4f}",
                                 sps=f"{sps:.0f}", refresh=False)  # redraws follow the bar's interval
        elif self.callback is not None:
            self.callback(step, total_steps, {"epoch": epoch + 1, **losses, "samples_per_s": sps})

    def retotal(self, total: int) -> None:
        """The run's length changed (``budget.decide``)."""
        if self.bar is not None:
            self.bar.total = total
            self.bar.refresh()

    def note(self, text: str) -> None:
        """A line above the bar (and nothing for a callback: its caller reads ``config.json``)."""
        if self.bar is not None:
            self.bar.write(text)

    def epoch(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.write(format_row(row))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_row(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']}", f"loss {row['loss']:.3f}", f"ce {row['ce']:.3f}",
             f"center {row['center']:.4f}", f"{row['samples_per_s']:.0f} samples/s"]
    if "val_i2t_R@10" in row:
        parts.append(f"val R@10 i2t {row['val_i2t_R@10']:.1f} t2i {row['val_t2i_R@10']:.1f}")
    return " | ".join(parts)


def write_log(path: Path, log: list[dict[str, Any]]) -> None:
    """``train_log.csv``: one row an epoch, the union of every row's keys as columns; atomically."""
    keys: list[str] = []
    for r in log:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(log)
    write_text_atomic(path, buf.getvalue())
