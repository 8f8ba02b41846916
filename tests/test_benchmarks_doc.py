"""BENCHMARKS.md is written from the committed results files (issue 21): no benchmark runs here.

The tables between the ``generated`` markers must equal what ``python -m benchmarks.report``
writes from ``benchmarks/results*.json``; the prose outside them states no measured figure;
every results file names its CPU.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from benchmarks import report

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "BENCHMARKS.md"
# a number with a unit of time, rate, memory or speed-up ("0.16 s", "188 samples/s", "2.1x", "1.9×")
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(\s?(?:ms|s|min|h|samples/s|captions/s|MB|GB)|×|x)(?![\w/])")


def test_benchmarks_md_is_what_the_report_writes_from_the_results_files():
    doc = DOC.read_text(encoding="utf-8")
    assert report.render(doc, report.results_files()) == doc, \
        "BENCHMARKS.md differs from its results files: run python -m benchmarks.report and commit it"


def test_a_changed_figure_in_a_results_file_changes_the_page():
    doc = DOC.read_text(encoding="utf-8")
    files = report.results_files()
    changed = copy.deepcopy(files)
    row = next(r for r in changed[0][1]["rows"] if "median" in r and "error" not in r)
    row["median"] *= 1.5
    assert report.render(doc, changed) != doc


def test_the_page_has_both_generated_sections():
    doc = DOC.read_text(encoding="utf-8")
    for key in report.SECTIONS:
        assert f"<!-- generated:{key} -->" in doc and f"<!-- /generated:{key} -->" in doc
    with pytest.raises(ValueError, match="markers"):
        report.render("no markers here", report.results_files())


def _prose(doc: str) -> str:
    """The page without its generated sections and code blocks."""
    doc = re.sub(r"<!-- generated:(\w+) -->.*?<!-- /generated:\1 -->", "", doc, flags=re.S)
    return re.sub(r"```.*?```", "", doc, flags=re.S)


def measured_figures(text: str) -> list[str]:
    """Figures with a unit that are not targets (a target follows <=, >=, ≤ or ≥)."""
    out = []
    for m in FIGURE.finditer(text):
        before = text[max(0, m.start() - 3):m.start()]
        if not re.search(r"(<=|>=|≤|≥)\s*$", before):
            out.append(m.group(0))
    return out


def test_the_prose_states_no_measured_figure():
    assert measured_figures("took 0.16 s, 188 samples/s, 2.1x faster; target <= 60 s, >= 1.0x") == \
        ["0.16 s", "188 samples/s", "2.1x"]
    assert measured_figures(_prose(DOC.read_text(encoding="utf-8"))) == [], \
        "measured figures belong in a results file and a generated table"


def test_every_results_file_names_its_machine():
    files = sorted((ROOT / "benchmarks").glob("results*.json"))
    assert files
    for f in files:
        m = json.loads(f.read_text())["machine"]
        assert m.get("cpu_model"), f"{f.name}: no CPU model"
        assert "torch_threads" in m and "loadavg_at_start" in m, f"{f.name}: no thread count or load"
        if "flags" in m:  # files written since issue 21 record the flags and the bf16 verdict
            assert isinstance(m["flags"], list) and "native_bf16" in m and "kind" in m


def test_ratios_are_only_between_like_settings():
    rows = [
        {"module": "bench_train_step", "case": "c", "variant": "ours-bf16-cl", "median": 30.0, "higher_is_better": True,
         "reference": False, "target": ">= 1.5x facenet-pytorch", "met": True},
        {"module": "bench_train_step", "case": "c", "variant": "ours-fp32", "median": 14.0, "higher_is_better": True,
         "reference": False},
        {"module": "bench_train_step", "case": "c", "variant": "facenet-fp32", "median": 13.0, "higher_is_better": True,
         "reference": True},
    ]
    out, notes = report._like_for_like(rows)
    assert out[0]["speedup_vs_reference"] is None and "withdrawn" in out[0]["target"] and "met" not in out[0]
    assert out[1]["speedup_vs_reference"] == pytest.approx(14 / 13)
    assert len(notes) == 1
