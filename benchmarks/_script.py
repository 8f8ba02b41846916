"""The command line every ``bench_*.py`` shares when run as a script: ``[--quick] [--json]``."""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable


def script_rows(doc: str, cases: Callable[[bool], list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """Parse ``--quick/--json``, run ``cases``; print JSON and return None, or return the rows to print."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    rows = cases(args.quick)
    if args.json:
        print(json.dumps(rows, indent=2))
        return None
    return rows


def print_seconds_rows(rows: list[dict[str, Any]], case_width: int = 40, variant_width: int = 40) -> None:
    """The table every seconds-timed benchmark prints: case, variant, median [min, max]."""
    for r in rows:
        print(f"{r['case']:{case_width}s} {r['variant']:{variant_width}s} median {r['seconds_median']:.2f}s "
              f"[{r['min']:.2f}, {r['max']:.2f}]{'  (reference)' if r['reference'] else ''}")


def alternate(variants: list[Any], warmup: int, repeats: int, threads: int) -> None:
    """Time ``v.step()`` (it returns seconds) of every variant in rounds, reversed on odd rounds so that drifting
    load and position hit each alike, on ``threads`` torch threads (restored after); the timed rounds' seconds go
    to each variant's ``times``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i in range(warmup + repeats):
            for v in (variants if i % 2 == 0 else variants[::-1]):
                t = v.step()
                if i >= warmup:
                    v.times.append(t)
    finally:
        torch.set_num_threads(before)


def print_rate_rows(rows: list[dict[str, Any]], case_width: int, variant_width: int,
                    extra: Callable[[dict[str, Any]], str] = lambda r: "") -> None:
    """The table every samples/s benchmark prints: case, variant, median samples/s, ratio to its reference."""
    for r in rows:
        print(f"{r['case']:<{case_width}}{r['variant']:>{variant_width}}{r['samples_per_s_median']:>9.1f} samples/s  "
              f"x{r['ratio_to_reference']:.2f}{extra(r)}")
