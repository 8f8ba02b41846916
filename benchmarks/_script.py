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
