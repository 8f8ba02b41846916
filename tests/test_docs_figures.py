"""The demo's figures in README.md and DEMO.md are what ``python -m benchmarks.demo_docs`` writes from the
committed files (checkpoints/demo*/metrics.json, results/demo/), so a figure cannot drift from its file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import demo_docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", demo_docs.DOCS)
def test_generated_demo_blocks_match_the_committed_files(name):
    doc = (ROOT / name).read_text(encoding="utf-8")
    assert "<!-- generated:" in doc
    assert demo_docs.render(doc) == doc, f"{name} differs from its files: run python -m benchmarks.demo_docs"


def test_a_changed_metric_changes_the_page(monkeypatch):
    doc = (ROOT / "DEMO.md").read_text(encoding="utf-8")
    real = demo_docs._metrics

    def edited(name):
        m = json.loads(json.dumps(real(name)))
        m["i2t"]["R@10"] = 12.3
        return m

    monkeypatch.setattr(demo_docs, "_metrics", edited)
    assert "**12.3**" in demo_docs.render(doc) and demo_docs.render(doc) != doc


def test_unknown_block_is_an_error():
    with pytest.raises(KeyError):
        demo_docs.render("<!-- generated:nope -->\nx\n<!-- /generated -->")
