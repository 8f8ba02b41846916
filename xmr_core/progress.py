"""Progress bars that stay readable in a log file.

On a terminal a bar redraws as usual. When stderr is not a terminal (CI, ``nohup``, a log
file) a redraw is a new line for whoever reads the file, so bars redraw at most every
``LOG_INTERVAL`` seconds (plus their last state). Under ``torchrun`` only rank 0 draws.
"""
from __future__ import annotations

import os
import sys
from typing import Any

LOG_INTERVAL = 30.0  # seconds between redraws when stderr is not a terminal


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_bar(**kwargs: Any):
    """A ``tqdm`` bar with the redraw policy above (same keyword arguments as tqdm)."""
    from tqdm.auto import tqdm

    if not _interactive():
        kwargs["mininterval"] = max(float(kwargs.get("mininterval", 0.1)), LOG_INTERVAL)
        kwargs["dynamic_ncols"] = False
        kwargs.setdefault("ncols", 100)
    if int(os.environ.get("RANK", "0") or 0) != 0:
        kwargs["disable"] = True
    return tqdm(**kwargs)


def set_fraction(bar: Any, frac: float, msg: str = "") -> None:
    """Move a 0..100 % bar to ``frac`` with a message; redrawn only as the bar's interval allows, except
    for its first move off 0 %, drawn at once (a log then shows that the stage is under way, e.g. its first
    training step, not only the bar's last state)."""
    was = bar.n
    bar.n = int(round(max(0.0, min(1.0, frac)) * 100))
    if msg:
        bar.set_postfix_str(msg[:60], refresh=False)
    if was == 0 < bar.n < 100:
        bar.refresh()
        return
    bar.update(0)  # rate-limited by mininterval, unlike refresh()
