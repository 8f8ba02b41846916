"""Write BENCHMARKS.md's tables from the committed results files: ``python -m benchmarks.report``.

Every ``benchmarks/results*.json`` (written by ``python -m benchmarks --out ...``) is read; the
text between each pair of marker comments in BENCHMARKS.md is replaced:

  <!-- generated:targets -->  ...  <!-- /generated:targets -->   one row per performance
      target, one column per CPU model measured (plus :data:`OTHER_CPUS`, the CPUs we run on
      that no committed file measured); each cell from the newest full run that has the rows
  <!-- generated:ratios -->   ...  <!-- /generated:ratios -->    every like-for-like "vs
      reference" row (ours against another implementation) of the newest full run of each module
      on each CPU, with the quality beside the time where the module measures it
  <!-- generated:files -->    ...  <!-- /generated:files -->     every results file, newest
      first: its machine (CPU model, flags, threads, load, note) and every row

Only the text between markers changes; everything else in BENCHMARKS.md is prose. ``--check``
exits 1 when the file differs from what would be written (``tests/test_benchmarks_doc.py`` does
the same check). Ratios ("vs reference") are only shown between rows measured at the same
settings: rows of older files whose reference ran unlike work (:data:`UNLIKE`) show none.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.report_targets import TARGETS  # noqa: E402
from benchmarks.run import HEADER, _fmt, table  # noqa: E402

DOC = REPO / "BENCHMARKS.md"
# CPUs this project runs on that a column is kept for even when no committed file measured them.
OTHER_CPUS = {"Intel Xeon (AVX-512, no native bf16)": "not measured this session"}
# References of older runs that did unlike work (issue 21): (module, reference variant) -> why.
UNLIKE = {
    ("bench_encode", "Pillow putpixel per pixel (reference)"): "the reference was a per-pixel putpixel loop, not what "
                                                               "a user would write",
    ("bench_tsne", "sklearn TSNE (Barnes-Hut)"): "scikit-learn ran 1000 iterations with 2 jobs, timed once; ours 500 "
                                                 "with 1 or 2",
}
# Old bench_train_step rows ran ours at three settings against facenet-pytorch in fp32 NCHW only.
_OLD_TRAIN_VARIANT = re.compile(r"^(ours|facenet)-(fp32|fp32-cl|bf16-cl)$")


def results_files(folder: Path = HERE) -> list[tuple[str, dict[str, Any]]]:
    """(file name, contents) of every results file, newest run first."""
    out = [(p.name, json.loads(p.read_text())) for p in sorted(folder.glob("results*.json"))]
    return sorted(out, key=lambda f: f[1]["machine"].get("date", ""), reverse=True)


def _group(r: dict[str, Any]) -> str:
    """Rows compare only within a group of their case: bench_eval's stages ("(a) embed", "total", ...)."""
    return r.get("variant", "").split(",")[0] if r.get("module") == "bench_eval" else ""


def _ratios(rows: list[dict[str, Any]]) -> None:
    """(Re)compute ``speedup_vs_reference``: against the reference row of the same case and group."""
    for r in rows:
        ref = next((x for x in rows if x.get("reference") and x.get("module") == r.get("module")
                    and x.get("case") == r.get("case") and _group(x) == _group(r)), None)
        if "error" in r or ref is None or not ref.get("median") or not r.get("median"):
            r["speedup_vs_reference"] = None
        else:
            r["speedup_vs_reference"] = (r["median"] / ref["median"] if r.get("higher_is_better")
                                         else ref["median"] / r["median"])


def _like_for_like(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows with ratios between unlike settings removed, and a footnote for each removal; a target
    stated relative to such a reference ("1.5x facenet") is marked withdrawn."""
    out = [dict(r) for r in rows]
    _ratios(out)
    notes = []
    for r in out:
        refs = {x["variant"] for x in out if x.get("reference") and x.get("case") == r.get("case")
                and x.get("module") == r.get("module")}
        why = next((w for (m, v), w in UNLIKE.items() if r.get("module") == m and v in refs), None)
        old = _OLD_TRAIN_VARIANT.match(r.get("variant", "")) if r.get("module") == "bench_train_step" else None
        if old and "setting" not in r and old.group(2) != "fp32":
            why = "facenet-pytorch ran fp32 NCHW only: no reference at this setting"
        if why and not r.get("reference"):
            r["speedup_vs_reference"] = None
            if re.search(r"\dx ", r.get("target", "")):
                r["target"] = f"{r['target']} (withdrawn: unlike settings)"
                r.pop("met", None)
            notes.append(f"{r['case']} / {r['variant']}: {why}")
    return out, notes


def machine_line(name: str, m: dict[str, Any], quick: bool) -> str:
    flags = " ".join(m["flags"]) if m.get("flags") is not None else "flags not recorded"
    load = f"load average {m.get('loadavg_at_start')} at the start, {m.get('loadavg_at_end')} at the end"
    if m.get("procs_running_at_start") is not None:
        load += f", {m['procs_running_at_start']} runnable tasks at the start"
    return (f"`benchmarks/{name}`: {m.get('date', '?')[:16].replace('T', ' ')} UTC, {'quick' if quick else 'full'} "
            f"run; {m.get('cpu_model', 'unknown CPU')} ({flags}), {m.get('cpus_usable', '?')} usable cores, "
            f"torch {m.get('torch', '?')}, torch threads: {m.get('torch_threads', '?')}; {load}."
            + (f" Note: {m['note']}" if m.get("note") else ""))


def files_section(files: list[tuple[str, dict[str, Any]]]) -> str:
    parts = []
    for name, data in files:
        rows, notes = _like_for_like(data["rows"])
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in table(rows)]
        parts.append(f"### {name}\n\n{machine_line(name, data['machine'], data.get('quick', False))}\n\n"
                     + "\n".join(lines))
        if notes:
            parts.append("Ratios not shown (unlike settings, issue 21):\n\n" + "\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts)


def targets_section(files: list[tuple[str, dict[str, Any]]]) -> str:
    full = [(n, d) for n, d in files if not d.get("quick")]
    cpus: list[str] = []
    for _, d in full:
        if d["machine"].get("cpu_model", "unknown CPU") not in cpus:
            cpus.append(d["machine"].get("cpu_model", "unknown CPU"))
    cols = cpus + [c for c in OTHER_CPUS if c not in cpus]
    heads = []
    for cpu in cols:
        flags = next((d["machine"]["flags"] for _, d in full
                      if d["machine"].get("cpu_model") == cpu and d["machine"].get("flags") is not None), None)
        heads.append(cpu if flags is None else f"{cpu} ({' '.join(flags)})")
    lines = ["| target | " + " | ".join(heads) + " |", "|---|" + "---|" * len(cols)]
    for label, cell in TARGETS:
        cells = []
        for cpu in cols:
            if cpu in OTHER_CPUS:
                cells.append(OTHER_CPUS[cpu])
                continue
            cells.append(_newest_cell(cell, [(n, d) for n, d in full if d["machine"].get("cpu_model") == cpu]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loaded(machine: dict[str, Any]) -> bool:
    """True when something else was running as the run started: another runnable process beside the
    benchmark's own (``procs_running_at_start`` > 1), or, in files that lack that count, a 1-minute
    load average of half the usable cores. The count decides where it exists: the load average trails
    by about a minute, so a job that had just ended still weighs on it."""
    procs = machine.get("procs_running_at_start")
    if isinstance(procs, int):
        return procs > 1
    load = machine.get("loadavg_at_start") or [0.0]
    return load[0] >= 0.5 * (machine.get("cpus_usable") or 1)


def _one_cell(text: str, name: str, m: dict[str, Any]) -> str:
    procs = f", {m['procs_running_at_start']} processes running" if isinstance(m.get("procs_running_at_start"), int) else ""
    busy = f", loaded: load {m['loadavg_at_start'][0]} on {m.get('cpus_usable')} cores{procs}" if loaded(m) else ", idle"
    return f"{text} ({name}, torch threads: {m.get('torch_threads', '?')}{busy})"


def _newest_cell(cell: Callable[[list[dict[str, Any]]], str | None], files: list[tuple[str, dict[str, Any]]]) -> str:
    """The newest run with rows for this target; if it ran loaded, also the newest idle one."""
    found = [(n, d, t) for n, d in files if (t := cell(d["rows"]))]  # newest first
    if not found:
        return "not measured"
    name, data, text = found[0]
    out = _one_cell(text, name, data["machine"])
    idle = next(((n, d, t) for n, d, t in found if not loaded(d["machine"])), None)
    if loaded(data["machine"]) and idle is not None:
        out += "; on an idle machine: " + _one_cell(idle[2], idle[0], idle[1]["machine"])
    return out


# Modules whose rows compare ours with another implementation (the "vs reference" rows of issue 21).
LIKE_MODULES = ("bench_train_step", "bench_backbone_step", "bench_tsne", "bench_encode", "bench_search")


def _quality(r: dict[str, Any]) -> str:
    if "kl_divergence" in r:
        return f"KL {r['kl_divergence']:.3f}, trustworthiness {r['trustworthiness_10']:.4f}, {r.get('n_iter')} it"
    if "pixel_equal_to_reference" in r:
        return f"pixel-equal {r['pixel_equal_to_reference']}"
    return ""


def ratios_section(files: list[tuple[str, dict[str, Any]]]) -> str:
    """Every like-for-like "vs reference" row of the newest full run of each module on each CPU."""
    lines = ["| CPU | case | variant | median | reference | vs reference | quality | file |", "|" + "---|" * 8]
    done: set[tuple[str, str]] = set()
    for name, data in files:
        cpu = data["machine"].get("cpu_model", "unknown CPU")
        if data.get("quick"):
            continue
        rows, _ = _like_for_like(data["rows"])
        for mod in LIKE_MODULES:
            mine = [r for r in rows if r.get("module") == mod]
            if (cpu, mod) in done or not mine:
                continue
            done.add((cpu, mod))
            for r in mine:
                if r.get("reference") or r.get("speedup_vs_reference") is None:
                    continue
                ref = next(x for x in rows if x.get("reference") and x["case"] == r["case"] and x["module"] == mod)
                if ref["variant"].startswith("all-"):  # ours against ours (what freezing buys): not a comparison
                    continue
                unit = r["unit"]
                lines.append(f"| {cpu} | {r['case']} | {r['variant']} | {_fmt(r['median'])} {unit} | {ref['variant']}: "
                             f"{_fmt(ref['median'])} {unit} | x{r['speedup_vs_reference']:.2f} | "
                             f"{_quality(r)}{' (reference: ' + _quality(ref) + ')' if _quality(ref) else ''} | {name} |")
    return "\n".join(lines)


SECTIONS: dict[str, Callable[[list[tuple[str, dict[str, Any]]]], str]] = {
    "targets": targets_section, "ratios": ratios_section, "files": files_section}


def render(doc: str, files: list[tuple[str, dict[str, Any]]]) -> str:
    """``doc`` with the text between every pair of markers rewritten from ``files``."""
    for key, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{key} -->\n).*?(<!-- /generated:{key} -->)", re.S)
        if not pattern.search(doc):
            raise ValueError(f"BENCHMARKS.md has no <!-- generated:{key} --> ... <!-- /generated:{key} --> markers")
        body = make(files)
        doc = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if BENCHMARKS.md differs from what would be written")
    args = ap.parse_args(argv)
    old = DOC.read_text(encoding="utf-8")
    new = render(old, results_files())
    if args.check:
        if new != old:
            print("BENCHMARKS.md differs from its results files: run python -m benchmarks.report", file=sys.stderr)
            return 1
        return 0
    if new != old:
        DOC.write_text(new, encoding="utf-8")
    print(f"{'wrote' if new != old else 'unchanged:'} {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
