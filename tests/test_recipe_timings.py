"""Recorded training times: each recipe's measured figure with the CPU it ran on, the one matching this
CPU's kind picked, and the Query page's estimate taken from it (never a literal in the page's text)."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from xmr_core.facade.app_support import run_scope
from xmr_core.recipes import RECIPES, Timing, format_duration, recorded_time, training_time_note

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = {"recipe": "demo", "dataset": {"spec": "demo:400", "n_classes": 200}}


def test_pretrained_recipe_records_both_cpu_kinds():
    amd, intel = recorded_time("pretrained", native_bf16=True), recorded_time("pretrained", native_bf16=False)
    assert amd.seconds == 58 * 60 and "AMD EPYC" in amd.cpu and "run P8" in amd.source
    assert intel.seconds == 128 * 60 and "Intel Xeon" in intel.cpu and not intel.native_bf16
    assert "2 h 8 min on one core of an Intel Xeon" in training_time_note("pretrained", native_bf16=False)
    assert recorded_time("paper") is None and training_time_note("paper") is None  # GPU recipes: none recorded


def test_default_is_the_teacher_recipe_with_its_own_record():
    assert RECIPES["default"] is RECIPES["teacher"]
    assert recorded_time("default", True) == recorded_time("teacher", True)  # the alias carries the same record
    # measured only where bf16 is native: on the Intel Xeon the page says to expect longer
    note = training_time_note("default", native_bf16=False)
    assert "AMD EPYC" in note and "expect it to take longer" in note


def test_a_record_of_another_cpu_kind_says_so():
    note = training_time_note("scratch", native_bf16=False)  # only measured where bf16 is native
    assert note.startswith("26 min on one core of a 2-core AMD EPYC") and "expect it to take longer" in note
    assert "expect" not in training_time_note("scratch", native_bf16=True)


def test_the_machine_kind_decides_by_default(monkeypatch):
    import xmr_core.hardware as hw

    monkeypatch.setattr(hw, "cpu_has_native_bf16", lambda: False)
    assert recorded_time("pretrained").seconds == 128 * 60
    monkeypatch.setattr(hw, "cpu_has_native_bf16", lambda: True)
    assert recorded_time("pretrained").seconds == 58 * 60


def test_format_duration():
    assert [format_duration(s) for s in (216, 26 * 60, 58 * 60, 128 * 60, 120 * 60)] == [
        "3.6 min", "26 min", "58 min", "2 h 8 min", "2 h 0 min"]


def test_query_page_estimate_comes_from_the_recorded_figure(monkeypatch):
    """The Query page shows ``run_scope``'s advice; change the recorded figures and the advice follows."""
    fake = (Timing(77 * 60, "Test CPU 9000 with bf16", True, "test data", "test record A"),
            Timing(301 * 60, "Test CPU 100 without bf16", False, "test data", "test record B"))
    monkeypatch.setitem(RECIPES, "default", replace(RECIPES["default"], timings=fake))
    import xmr_core.hardware as hw

    for native, want in ((True, "1 h 17 min on Test CPU 9000 with bf16"), (False, "5 h 1 min on Test CPU 100")):
        monkeypatch.setattr(hw, "cpu_has_native_bf16", lambda n=native: n)
        advice = run_scope(DEMO_CONFIG, "demo", "test", 100, 500)["advice"]
        assert want in advice and "--recipe default" in advice, advice
        assert "--recipe two-cores" in advice and training_time_note("two-cores", native) in advice
        assert "--budget-min 60" in advice  # a CPU slower than the recorded one can still fit the hour
    for src in ("pages/query.py", "xmr_core/facade/app_support.py"):  # no hand-written duration left in either
        assert not re.search(r"\d+\s*(min|minutes|h)\b.{0,20}(core|CPU)", (ROOT / src).read_text()), src


def test_demo_button_minutes_come_from_the_recorded_build(monkeypatch):
    import xmr_core.hardware as hw
    from xmr_core.facade.app_support import demo_minutes

    monkeypatch.setattr(hw, "cpu_has_native_bf16", lambda: True)
    assert demo_minutes(False) == 5  # 284 s (results/demo/build.json), rounded up
    monkeypatch.setattr(hw, "cpu_has_native_bf16", lambda: False)
    assert demo_minutes(False) == 9  # the Intel Xeon's estimate: 1.7 x 284 s = 483 s
    assert "estimated" in recorded_time("demo", native_bf16=False).source
    monkeypatch.setitem(RECIPES, "demo", replace(RECIPES["demo"], timings=(Timing(601, "x", False, "d", "s"),)))
    assert demo_minutes(False) == 11


def test_the_demo_record_is_the_committed_build():
    """The AMD figure in the demo recipe is results/demo/build.json's demo build, rounded to the second."""
    import json

    build = next(b for b in json.loads((ROOT / "results" / "demo" / "build.json").read_text())["builds"]
                 if b["bundle"] == "demo")
    rec = recorded_time("demo", native_bf16=True)
    assert rec.seconds == round(build["seconds"]) and "results/demo/build.json" in rec.source
    assert f"{build['seconds']:.1f} s" in rec.source and build["machine_start"]["cpu_model"] in rec.cpu
    # the demo's recipe before its Lite0 trunk (demo-irv1): its own build, kept beside the current one
    old = next(b for b in json.loads((ROOT / "results" / "demo" / "build-irv1.json").read_text())["builds"]
               if b["bundle"] == "demo")
    rec = recorded_time("demo-irv1", native_bf16=True)
    assert rec.seconds == round(old["seconds"]) and "results/demo/build-irv1.json" in rec.source


def test_the_two_core_record_is_the_committed_run():
    """The pretrained recipe's two-core figure is results/flickr8k/f8k-2threads/run.json's whole-run time, on
    the CPU that file names, trained with two threads."""
    import json

    d = ROOT / "results" / "flickr8k" / "f8k-2threads"
    run = json.loads((d / "run.json").read_text())
    cfg = json.loads((d / "config.json").read_text())
    rec = next(t for t in RECIPES["pretrained"].timings if "f8k-2threads" in t.source)
    assert rec.seconds == round(run["seconds"]) and "--threads 2" in rec.cpu and "--threads 2" in run["command"]
    assert run["machine"]["cpu_model"] in rec.cpu and cfg["train"]["threads"] == 2 and cfg["recipe"] == "default"


def _committed_run(rec: Timing) -> tuple[dict, dict, Path]:
    """The run.json and config.json of the results/flickr8k/ run a recorded time names, and its folder;
    the record's seconds and CPU are that file's."""
    import json

    d = ROOT / Path(rec.source).parent
    assert d.parent == ROOT / "results" / "flickr8k" and Path(rec.source).name == "run.json"
    run = json.loads((d / "run.json").read_text())
    assert rec.seconds == round(run["seconds"]) and run["machine"]["cpu_model"] in rec.cpu
    return run, json.loads((d / "config.json").read_text()), d


def _assert_trained_with(cfg: dict, r, **train) -> None:
    """A run's config.json holds the recipe's encoding, model and training configs (with ``train``'s fields
    changed); a field the run's config.json predates counts as its default."""
    from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig, from_dict, to_dict

    assert to_dict(from_dict(TrainConfig, cfg["train"])) == {**to_dict(r.train), **train}
    assert to_dict(from_dict(ModelConfig, cfg["model"])) == to_dict(r.model)
    assert to_dict(from_dict(EncodingConfig, cfg["encoding"])) == to_dict(r.encoding)


def test_the_teacher_record_is_the_committed_run():
    """The teacher recipe's figure is the whole-run time in the run.json its record names (results/flickr8k/),
    on the CPU that file names, trained with one thread and that recipe's settings (encoding, model and
    training; a field the run's config.json predates counts as its default)."""
    rec = recorded_time("teacher", native_bf16=True)
    run, cfg, _ = _committed_run(rec)
    assert run.get("cited_as") == "default"  # README cites that run too
    assert cfg["train"]["threads"] == 1 and "one core" in rec.cpu
    _assert_trained_with(cfg, RECIPES["teacher"], threads=1)


def test_the_two_cores_record_is_the_committed_run():
    """The two-cores recipe is the default recipe with two threads, nothing else changed; its recorded time is the
    whole-run time in the run.json it names, a run trained with exactly that recipe's settings (a field the run's
    config.json predates counts as its default) on the CPU that file names."""
    two, one = RECIPES["two-cores"], RECIPES["default"]
    assert two.train.threads == 2 and (two.encoding, two.model) == (one.encoding, one.model)
    assert replace(two.train, threads=one.train.threads) == one.train
    (rec,) = two.timings
    run, cfg, d = _committed_run(rec)
    assert "two" in rec.cpu and (d / "metrics.json").exists()  # an evaluated run, not a screen
    _assert_trained_with(cfg, two)


def test_the_captions_192_record_is_the_committed_run():
    """captions-192 is the default recipe with the captions at 192 px on 10 epochs, nothing else changed; its recorded
    time is the whole-run time in the run.json it names, a run trained with exactly its settings, evaluated."""
    big, one = RECIPES["captions-192"], RECIPES["default"]
    assert big.model == replace(one.model, text_input_size=192) and big.encoding == one.encoding
    assert big.train == replace(one.train, epochs=10)
    (rec,) = big.timings
    run, cfg, d = _committed_run(rec)
    assert "one core" in rec.cpu and (d / "metrics.json").exists() and rec.seconds == round(run["seconds"])
    _assert_trained_with(cfg, big, threads=1)  # one thread, as the record says
