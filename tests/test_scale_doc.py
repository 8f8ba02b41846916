"""docs/SCALE.md is what ``python -m benchmarks.scale_doc`` writes from the committed results files
(issue 24): its measured figures and its extrapolations follow those files; its prose quotes none."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from benchmarks import scale_doc

ROOT = Path(__file__).resolve().parents[1]


def test_scale_md_is_what_the_generator_writes():
    doc = scale_doc.DOC.read_text(encoding="utf-8")
    assert scale_doc.render(doc) == doc, "docs/SCALE.md differs from its results files: run python -m benchmarks.scale_doc"
    assert set(m.group(2) for m in scale_doc.BLOCK.finditer(doc)) == set(scale_doc.BLOCKS)


def test_a_changed_figure_changes_the_page(monkeypatch):
    doc = scale_doc.DOC.read_text(encoding="utf-8")
    real = scale_doc.load

    def faster(key):
        data = copy.deepcopy(real(key))
        if key == "scale":
            for r in data["rows"]:
                r["median"] *= 0.5
        return data

    monkeypatch.setattr(scale_doc, "load", faster)
    assert scale_doc.render(doc) != doc


def test_the_prose_quotes_no_measured_figure():
    from test_benchmarks_doc import measured_figures

    prose = re.sub(r"<!-- generated:([a-z-]+) -->.*?<!-- /generated -->", "", scale_doc.DOC.read_text(), flags=re.S)
    assert measured_figures(prose) == []


def test_the_results_files_name_their_machine():
    for name in scale_doc.FILES.values():
        m = json.loads((ROOT / "benchmarks" / name).read_text())["machine"]
        assert m["cpu_model"] and isinstance(m["flags"], list) and m["loadavg_at_start"]
