"""Command-line options generated from the config dataclasses, and the dataset options.

Each config field's help text lives beside the field (``config.opt``); ``add_config_args``
turns the fields of one config into ``--flags`` and ``apply_config_args`` puts the values
given back into a config. Leaf module: argparse and the configs only.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any, Callable, NoReturn, TypeVar

from ..errors import XmrError
from ..values import ConfigValueError

T = TypeVar("T")


def add_dataset_args(p: argparse.ArgumentParser, required: bool = False, default: str | None = None,
                     positional: bool = False) -> None:
    """``--dataset`` (or a positional ``dataset``), ``--images-dir``, ``--skip-missing``: the same
    options for every command that reads a dataset."""
    about = "'demo', a Karpathy-split JSON, a COCO captions_*.json, or a CSV (image,caption)"
    if positional:
        p.add_argument("dataset", help=about)
    else:
        p.add_argument("--dataset", required=required, default=default, help=about)
    p.add_argument("--images-dir", default=None, help="folder the dataset's image file names are relative to")
    p.add_argument("--skip-missing", action="store_true", help="leave out images whose files are missing")


class OneLineParser(argparse.ArgumentParser):
    """argparse with its errors as one ``error: ...`` line (the CLI's promise), raised, not exited."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class UsageError(XmrError):
    """A command line argparse refused: unknown option, bad value, missing argument."""


def one_line(e: BaseException) -> str:
    """An error's message on one line. A DataLoader worker re-raises with its traceback in the
    message: keep only the original error's own line."""
    msg = str(e)
    if "Original Traceback" in msg:
        last = [ln for ln in msg.splitlines() if ln.strip()][-1]
        msg = last.split(": ", 1)[1] if ": " in last and last.split(": ", 1)[0].endswith("Error") else last
    return " ".join(msg.split()) or type(e).__name__


def check_env() -> None:
    """The environment variables xmr reads, checked before any command runs."""
    from ..config import RELEVANCE_KINDS
    from ..values import short_repr

    kind = os.environ.get("XMR_RELEVANCE")
    if kind is not None and kind not in RELEVANCE_KINDS:
        raise XmrError(f"XMR_RELEVANCE={short_repr(kind)}: must be one of {', '.join(RELEVANCE_KINDS)}")
    for name in ("XMR_CHECKPOINTS", "XMR_DATA_DIR"):
        v = os.environ.get(name)
        if v and Path(v).exists() and not Path(v).is_dir():
            raise XmrError(f"{name}={v}: must be a folder")


def check_writable(path: str | None, folder: bool) -> None:
    """Refuse an output path that cannot be written, before any work: a file where a folder is
    needed (or the reverse), or a place under no writable folder (``/proc``, ``/sys``, read-only)."""
    if not path:
        return
    p = Path(path)
    if folder and p.exists() and not p.is_dir():
        raise XmrError(f"{p}: is a file, not a folder")
    if not folder and p.is_dir():
        raise XmrError(f"{p}: is a folder; give a file name")
    d = p if folder else p.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir() or not os.access(d, os.W_OK) or d.resolve().parts[1:2] in (("proc",), ("sys",), ("dev",)):
        raise XmrError(f"{p}: cannot write there ({d} is not a writable folder)")


def bounded(kind: type, lo: float, hi: float) -> Callable[[str], Any]:
    """An argparse ``type``: ``kind`` (int or float) within ``lo..hi``, finite."""
    def parse(s: str) -> Any:
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {s!r}") from None
        if not (lo <= v <= hi):  # False for NaN too
            raise argparse.ArgumentTypeError(f"{s!r} is out of range: must be in {lo}..{hi}")
        return v

    parse.__name__ = kind.__name__
    return parse


def _bool(s: str) -> bool:
    if s not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {s!r}")
    return s == "1"


def flag_name(f: Field) -> str | None:
    name = f.metadata.get("flag", "")
    return None if name is None else (name or f.name).replace("_", "-")


def _dest(cls: type, f: Field) -> str:
    return f"{cls.__name__}.{f.name}"


def add_config_args(p: argparse.ArgumentParser | Any, cls: type) -> None:
    """One ``--flag`` a field of the config dataclass ``cls`` (default None: the recipe decides)."""
    for f in fields(cls):
        flag = flag_name(f)
        if flag is None:
            continue
        typ = {bool: _bool, int: int, float: float, str: str}[type(f.default)]
        choices = f.metadata.get("choices")
        metavar = "{0,1}" if typ is _bool else (None if choices else f.name.upper())
        p.add_argument("--" + flag, dest=_dest(cls, f), type=typ, choices=choices, default=None,
                       metavar=metavar, help=f.metadata.get("help", f.name))


def apply_config_args(a: argparse.Namespace, cfg: T) -> T:
    """``cfg`` with every flag of its class that was given on the command line."""
    cls = type(cfg)
    given = {f.name: getattr(a, _dest(cls, f)) for f in fields(cls)
             if getattr(a, _dest(cls, f), None) is not None}
    try:
        return replace(cfg, **given)
    except ConfigValueError as e:  # a config's own check: name the flag when the field has one
        f = next((f for f in fields(cls) if f.name == e.field), None)
        flag = flag_name(f) if f is not None else None
        if flag is None:
            raise XmrError(e.describe(e.field or "")) from None
        source = "--" + flag if e.field in given else f"the recipe's {e.field}"
        raise XmrError(e.describe(source)) from None


def given(a: argparse.Namespace, cls: type, *names: str) -> dict[str, Any]:
    """The named fields of ``cls`` that were given on the command line."""
    out = {n: getattr(a, f"{cls.__name__}.{n}", None) for n in names}
    return {k: v for k, v in out.items() if v is not None}
