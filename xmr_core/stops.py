"""Stops stop: SIGINT and SIGTERM end a command with a non-zero exit and one line saying what
was kept.

The CLI installs ``install()`` first: SIGTERM then raises ``Interrupted`` (a ``KeyboardInterrupt``,
as SIGINT does), so ``except Exception`` never swallows it and every ``finally`` runs (a staging
folder is removed, a temp file is dropped). The trainer's own handler (``train/checkpoint.py``:
save at the next step, then stop) replaces this one while it trains. ``describe`` names the files
the command completed (``files.written``): every write is atomic, so nothing is half-written.
"""
from __future__ import annotations

import signal
from typing import Any

from .files import written

_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal; ``kept`` says what it leaves behind (None: the files written)."""

    def __init__(self, signum: int | None = None, kept: str | None = None) -> None:
        super().__init__(kept or "")
        self.signum, self.kept = signum, kept


def _raise(signum: int, frame: Any) -> None:
    raise Interrupted(signum)


def install() -> None:
    """SIGTERM raises ``Interrupted`` in the main thread (SIGINT already raises KeyboardInterrupt)."""
    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread: leave the default
        pass


def describe(e: BaseException) -> str:
    """One line: which signal, and what the command kept."""
    signum = getattr(e, "signum", signal.SIGINT)  # a bare KeyboardInterrupt is Ctrl-C
    kept = getattr(e, "kept", None)
    if not kept:
        files = written()
        shown = ", ".join(str(p) for p in files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
        kept = (f"kept the files it had completed: {shown}; nothing is half-written" if files
                else "nothing was written")
    what = f" ({_NAMES.get(signum, f'signal {signum}')})" if signum else ""
    return f"interrupted{what}: {kept}"
