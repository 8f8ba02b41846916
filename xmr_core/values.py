"""Checking a config's values against the ranges written beside each field (``config.opt``).

Every config dataclass calls ``check_fields(self)`` first in ``__post_init__``: one place that
checks types, finiteness, choices and ranges for values from any source (CLI flags, a bundle's
``config.json`` / ``encoder.json``, code). A failure is a ``ConfigValueError`` that knows its
field, so the CLI can name the ``--flag`` and a bundle loader the file and ``section.field``.
Leaf module: nothing of xmr is imported here.
"""
from __future__ import annotations

import math
import re
from dataclasses import Field, fields
from typing import Any


class ConfigValueError(ValueError):
    """A config value out of its type or range; ``field`` is None for a check across fields."""

    def __init__(self, config: str, field: str | None, value: Any, reason: str) -> None:
        self.config, self.field, self.value, self.reason = config, field, value, reason
        super().__init__(self.describe(field or ""))

    def describe(self, name: str) -> str:
        """The message with the field shown as ``name`` (a flag, or ``file: section.field``)."""
        if not self.field:
            return self.reason
        return f"{name}={short_repr(self.value)}: {self.reason}"


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as a person typed it (strings bare), cut to ``limit`` characters for one-line messages."""
    s = value if isinstance(value, str) else repr(value)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _number_problem(v: Any, kind: type) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "must be a whole number" if kind is int else "must be a number"
    if kind is int and not isinstance(v, int):
        return "must be a whole number"
    if isinstance(v, float) and not math.isfinite(v):
        return "must be a finite number"
    return None


def _range_problem(v: float, meta: Any) -> str | None:
    lo, hi, above = meta.get("lo"), meta.get("hi"), meta.get("above")
    if above is not None and not v > above:
        return f"must be > {above}" + (f" and <= {hi}" if hi is not None else "")
    if lo is not None and v < lo or hi is not None and v > hi:
        return f"must be in {lo}..{hi}" if lo is not None and hi is not None else (
            f"must be >= {lo}" if lo is not None else f"must be <= {hi}")
    return None


def value_problem(v: Any, kind: type, meta: Any) -> str | None:
    """Why ``v`` is not a valid value of a field of type ``kind`` with metadata ``meta`` (None: it is)."""
    choices, pattern = meta.get("choices"), meta.get("pattern")
    if kind is bool:
        return None if isinstance(v, bool) else "must be true or false (0 or 1 on the command line)"
    if kind is str:
        if not isinstance(v, str):
            return "must be a string"
        if choices and v not in choices:
            return f"must be one of {', '.join(map(str, choices))}"
        if pattern and not re.fullmatch(pattern, v):
            return f"must look like {meta.get('pattern_help', pattern)}"
        return None
    problem = _number_problem(v, kind)
    if problem:
        return problem
    if choices and v not in choices:
        return f"must be one of {', '.join(map(str, choices))}"
    problem = _range_problem(v, meta)
    return f"{problem} ({meta['note']})" if problem and meta.get("note") else problem


def _tuple_problem(v: Any, f: Field) -> str | None:
    n = len(f.default)
    if not isinstance(v, (tuple, list)) or len(v) != n:
        return f"must be a list of {n} numbers"
    kind = type(f.default[0])
    for x in v:
        problem = value_problem(x, kind, f.metadata)
        if problem:
            return f"each of the {n} values {problem}"
    return None


def check_fields(cfg: Any) -> None:
    """Raise ``ConfigValueError`` for the first field of ``cfg`` whose value breaks its type or range."""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        kind = type(f.default)
        problem = _tuple_problem(v, f) if kind is tuple else value_problem(v, kind, f.metadata)
        if problem:
            raise ConfigValueError(type(cfg).__name__, f.name, v, problem)
