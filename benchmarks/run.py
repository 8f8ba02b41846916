"""Run every benchmark module's ``cases(quick)`` in one process; one table + results.json.

    python -m benchmarks [--quick] [--only NAME ...] [--out PATH] [--note TEXT]

``NAME`` is a module name with or without the ``bench_`` prefix (``encode``,
``bench_query``...); ``--only`` may repeat or take a comma-separated list. Each row
gets: its metric's median, min-max, speed relative to the module's reference variant
where the module has one (``xN.N`` = N times faster than the reference; < 1 = slower),
and its target with met / NOT met where one is set. The results file (default
``benchmarks/_work/results.json``, not committed; ``--out benchmarks/results-NAME.json`` for a
run BENCHMARKS.md should show, then ``python -m benchmarks.report``) holds every row as the
module returned it plus a machine description (``xmr_core.hardware.cpu_description``). A module that fails is reported and the others still run.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import xmr_core  # noqa: F401,E402 - before any benchmark imports torch: sets the OMP_WAIT_POLICY default

# Cheapest first, so an interrupted run still has the quick cases.
MODULES = ["bench_encode", "bench_search", "bench_index", "bench_shards", "bench_query", "bench_eval", "bench_eval_floor", "bench_tsne", "bench_map", "bench_scale", "bench_train_step",
           "bench_backbone_step", "bench_allocator", "bench_two_cores", "bench_photo_size", "bench_text_side", "bench_memory", "bench_demo"]

# Targets of cases in modules that do not set ``target``/``met`` themselves:
# (module, variant prefix) -> (comparison, value, text).
EXTRA_TARGETS: dict[tuple[str, str], tuple[str, float, str]] = {
    ("bench_tsne", "xmr TSNEMap.place"): ("<=", 1.0, "<= 1 s for 100 points"),
}


# ----------------------------------------------------------------------------- quick overrides
def _train_step_quick() -> list[dict[str, Any]]:
    """bench_train_step's quick mode at 128 px only (every variant, 1 warm-up + 2 timed steps):
    the 160 px round roughly doubles the module's time."""
    from benchmarks import bench_train_step as m

    return m.cases(quick=True, sizes=(128,))


QUICK_OVERRIDES: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "bench_train_step": _train_step_quick,
}


# ----------------------------------------------------------------------------- machine
def machine(note: str | None = None) -> dict[str, Any]:
    """Date, software and ``hardware.cpu_description()``: CPU model, its relevant flags,
    cores, torch threads, load average and runnable tasks at the start."""
    import numpy
    import torch

    from xmr_core.hardware import cpu_description

    cpu = cpu_description()
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{k: v for k, v in cpu.items() if k not in ("loadavg", "procs_running")},
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "loadavg_at_start": cpu["loadavg"],
        "procs_running_at_start": cpu["procs_running"],
        "nice": os.nice(0) if hasattr(os, "nice") else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "note": note,
    }


def machine_at_end(info: dict[str, Any]) -> None:
    """Add the load at the end of the run (the machine may have got busier meanwhile)."""
    from xmr_core.hardware import cpu_description

    cpu = cpu_description()
    info["loadavg_at_end"] = cpu["loadavg"]
    info["procs_running_at_end"] = cpu["procs_running"]
    info["allocator_at_end"] = cpu["allocator"]  # training on the frozen-feature cache sets it (hardware.py)


# ----------------------------------------------------------------------------- rows
def _metric(row: dict[str, Any]) -> tuple[str, str, bool]:
    """(metric key, unit, higher is better) of a module's row."""
    key = next(k for k in row if k.endswith("_median"))
    unit = row.get("unit") or {"seconds_median": "s", "samples_per_s_median": "samples/s",
                               "ms_median": "ms"}.get(key, key[:-len("_median")])
    hib = row.get("higher_is_better")
    if hib is None:
        hib = "_per_s" in key
    return key, unit, bool(hib)


def normalise(module: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``module``, ``metric``, ``unit``, ``median``, ``speedup_vs_reference``, target fields."""
    out = []
    for r in rows:
        key, unit, hib = _metric(r)
        r = {"module": module, **r, "metric": key, "unit": unit, "higher_is_better": hib, "median": r[key]}
        for (mod, prefix), (op, value, text) in EXTRA_TARGETS.items():
            if mod == module and r["variant"].startswith(prefix) and "target" not in r:
                r["target"] = text
                r["met"] = bool(r["median"] <= value if op == "<=" else r["median"] >= value)
        out.append(r)
    for r in out:  # reference = the row marked reference in the same module and case
        ref = next((x for x in out if x.get("reference") and x["case"] == r["case"]), None)
        if ref is None or not ref["median"] or not r["median"]:
            r["speedup_vs_reference"] = None
        else:
            r["speedup_vs_reference"] = (r["median"] / ref["median"]) if r["higher_is_better"] \
                else (ref["median"] / r["median"])
    return out


def _fmt(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


def table(rows: list[dict[str, Any]]) -> list[list[str]]:
    lines = []
    for r in rows:
        if "error" in r:
            lines.append([r["module"], "ERROR", r["error"][:60], "", "", "", "", ""])
            continue
        sp = r.get("speedup_vs_reference")
        ratio = "(reference)" if r.get("reference") else ("" if sp is None else f"x{sp:.2f}")
        extra = []
        if r.get("extrapolated"):
            extra.append("extrapolated")
        if "p95_ms" in r:
            extra.append(f"p95 {_fmt(r['p95_ms'])}")
        unit = r["unit"] + ("" if r["unit"] != "ms" else " (p50)")
        lines.append([
            r["case"], r["variant"],
            f"{_fmt(r['median'])} {unit}" + (f" ({', '.join(extra)})" if extra else ""),
            f"{_fmt(r['min'])}-{_fmt(r['max'])}",
            ratio, r.get("target", ""),
            "" if "met" not in r else ("met" if r["met"] else "NOT met"),
        ])
    return lines


HEADER = ["case", "variant", "median", "min-max", "vs reference", "target", "met"]


def print_table(rows: list[dict[str, Any]]) -> None:
    lines = table(rows)
    widths = [max(len(HEADER[i]), *(len(l[i]) for l in lines)) if lines else len(HEADER[i])
              for i in range(len(HEADER))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*HEADER))
    print(fmt.format(*("-" * w for w in widths)))
    for l in lines:
        print(fmt.format(*l[:len(HEADER)]))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "/") for c in l[:len(HEADER)]) + " |" for l in table(rows)]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main
def _select(only: list[str] | None) -> list[str]:
    if not only:
        return list(MODULES)
    names = [n.strip() for o in only for n in o.split(",") if n.strip()]
    sel = []
    for n in names:
        mod = n if n.startswith("bench_") else f"bench_{n}"
        if mod not in MODULES:
            raise SystemExit(f"unknown benchmark {n!r}; choose from {', '.join(m[6:] for m in MODULES)}")
        sel.append(mod)
    return sel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (< 3 min on 2 idle cores)")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only these modules (repeatable)")
    ap.add_argument("--out", default=str(HERE / "_work" / "results.json"),
                    help="results file (default benchmarks/_work/results.json, not committed; commit a full run as "
                         "benchmarks/results-NAME.json, then python -m benchmarks.report writes BENCHMARKS.md)")
    ap.add_argument("--note", help="free text stored with the machine description (e.g. 'shared with a training job')")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = ap.parse_args(argv)

    mods = _select(args.only)
    info = machine(args.note)
    print(f"{info['cpu_model']} ({' '.join(info['flags'])}), {info['cpus_usable']} usable cores, torch {info['torch']} "
          f"({info['torch_threads']} threads), load {info['loadavg_at_start']}, quick={args.quick}")
    all_rows: list[dict[str, Any]] = []
    runs: dict[str, Any] = {}
    t_all = time.perf_counter()
    for name in mods:
        override = QUICK_OVERRIDES.get(name) if args.quick else None
        print(f"... {name}{' (quick override)' if override else ''}", flush=True)
        t, cpu = time.perf_counter(), time.process_time()
        try:
            if override:
                rows = override()
            else:
                rows = importlib.import_module(f"benchmarks.{name}").cases(args.quick)
            rows = normalise(name, rows)
            err = None
        except Exception as e:  # a broken module must not hide the others' results
            traceback.print_exc()
            err = f"{type(e).__name__}: {e}"
            rows = [{"module": name, "error": err}]
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        runs[name] = {"seconds": round(secs, 1), "cpu_seconds": round(cpu, 1), "quick_override": bool(override),
                      "error": err}
        print(f"    {name}: {secs:.1f} s wall, {cpu:.1f} s CPU (all threads)", flush=True)
        all_rows += rows
    total = time.perf_counter() - t_all
    total_cpu = sum(v["cpu_seconds"] for v in runs.values())
    machine_at_end(info)

    print()
    print_table(all_rows)
    print(f"\ntotal {total:.1f} s wall, {total_cpu:.1f} s CPU; "
          + ", ".join(f"{k[6:]} {v['seconds']} s" for k, v in runs.items()))
    if args.markdown:
        print()
        print(markdown_table(all_rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "quick": args.quick, "total_s": round(total, 1),
                               "total_cpu_s": round(total_cpu, 1),
                               "modules": runs, "rows": all_rows}, indent=2, default=str))
    print(f"wrote {out}")
    failed = [r for r in all_rows if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
