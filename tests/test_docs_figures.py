"""The demo's figures in README.md and DEMO.md are what ``python -m benchmarks.demo_docs`` writes from the
committed files (checkpoints/demo*/metrics.json, results/demo/), so a figure cannot drift from its file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import demo_docs, flickr_docs

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


@pytest.mark.parametrize("name", flickr_docs.DOCS)
def test_real_data_blocks_match_the_committed_files(name):
    """README.md and docs/RESULTS.md's Flickr8k tables are what results/flickr8k/ says (issue 20)."""
    doc = (ROOT / name).read_text(encoding="utf-8")
    assert "<!-- generated:f8k-" in doc
    assert flickr_docs.render(doc) == doc, f"{name} differs from results/flickr8k/: run python -m benchmarks.flickr_docs"


def test_every_recorded_run_names_its_cpu_and_keeps_its_files():
    runs = flickr_docs.runs()
    assert "cca-reference" in runs and any(r["run"].get("cited_as") == "default" for r in runs.values())
    for name, r in runs.items():
        mach = r["run"]["machine"]
        assert mach["cpu_model"] and "flags" in mach and "loadavg" in mach, name
        if r["config"] is not None:  # a trained run: its curve and its config beside the metrics
            assert r["log"], f"{name}: train_log.csv is empty"
            assert r["metrics"]["split"] == "val", name


def test_a_changed_real_data_metric_changes_the_page(monkeypatch):
    doc = (ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    real = flickr_docs.runs

    def edited(with_metrics=True):
        rs = json.loads(json.dumps(real(with_metrics)))
        rs["cca-reference"]["metrics"]["i2t"]["R@10"] = 12.3
        return rs

    monkeypatch.setattr(flickr_docs, "runs", edited)
    assert "12.3" in flickr_docs.render(doc) and flickr_docs.render(doc) != doc


def test_recipe_runs_keep_only_the_recipe_as_it_stands():
    """The cores table's default-recipe rows: runs that differ from the recipe only in the free fields
    (threads, epochs, learning rate); a run with another setting (f8k-wcca36: the teacher's caption weight 1;
    f8k-lr3e3-e14-s1: the seed) or another recipe (f8k-default) is left out, as is a screen without metrics
    (f8k-wcca36-tm5-e20)."""
    got = flickr_docs.recipe_runs("teacher", free=("epochs", "threads", "lr"))
    assert {"f8k-lr3e3-e14", "f8k-lr4e3-e12", "f8k-wcca36-tm3", "f8k-wcca36-tm3-2t-e20"} <= set(got)
    assert not {"f8k-wcca36-tm5-e20", "f8k-wcca36", "f8k-default", "f8k-lr3e3-e14-s1"} & set(got)
    exact = flickr_docs.recipe_runs("teacher", free=("threads",))
    assert "f8k-lr3e3-e14" in exact and not {"f8k-lr3e3-e12", "f8k-wcca36-tm3"} & set(exact)  # epochs, lr: not free


def test_collect_refuses_to_overwrite_a_collected_run_without_replace(tmp_path, monkeypatch):
    """A committed run's evidence is not replaced by a repeated --as name; --replace says so on purpose."""
    monkeypatch.setattr(flickr_docs, "RESULTS", tmp_path / "results")
    run = tmp_path / "run"
    run.mkdir()
    for f, text in (("config.json", "{}"), ("train_log.csv", "epoch,step\n1,10\n"), ("metrics.json", '{"a": 1}')):
        (run / f).write_text(text, encoding="utf-8")
    out = flickr_docs.collect(run, "r1", "first", 1, None, "cmd")
    assert json.loads((out / "run.json").read_text())["note"] == "first"
    (run / "metrics.json").write_text('{"a": 2}', encoding="utf-8")
    with pytest.raises(SystemExit, match="--replace"):
        flickr_docs.main(["collect", str(run), "--as", "r1", "--note", "second"])
    assert json.loads((out / "metrics.json").read_text()) == {"a": 1}  # nothing written
    assert json.loads((out / "run.json").read_text())["note"] == "first"
    flickr_docs.main(["collect", str(run), "--as", "r1", "--note", "second", "--replace"])
    assert json.loads((out / "metrics.json").read_text()) == {"a": 2}
    assert json.loads((out / "run.json").read_text())["note"] == "second"
    ref = tmp_path / "ref.json"
    ref.write_text('{"i2t": {}, "seconds": 3}', encoding="utf-8")
    with pytest.raises(SystemExit, match="already holds"):
        flickr_docs.record_reference(ref, "r1", "note", 1, "cmd")


def test_the_budget_prose_quotes_its_run():
    """README's and RESULTS.md's sentences on the time budget (issue 20) give f8k-budget35's own figures."""
    r = flickr_docs.runs()["f8k-budget35"]
    b = r["config"]["budget"]
    kept = f"kept {b['epochs']} of the {b['epochs_asked']} epochs"
    whole, rsum = f"{r['run']['seconds'] / 60:.1f} min", f"rsum {r['metrics']['rsum']:.1f}"
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"{kept} and finished in {whole} at {rsum}" in readme
    results = " ".join((ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8").split())
    assert f"The budget held ({whole[:-4]} min against {b['budget_min']:g}, projected {b['projected_min']:.1f})" in results
    assert f"{b['epochs']} epochs reach {rsum}" in results


def test_the_text_side_prose_quotes_its_files():
    """RESULTS.md's sentences on the captions' own side (issue 20) give the benchmark file's step ratio and the
    screens' own epoch-4 validations."""
    res = json.loads((ROOT / "benchmarks" / "results-issue20-text-side.json").read_text(encoding="utf-8"))
    ref, own = sorted(res["rows"], key=lambda r: not r["reference"])
    results = " ".join((ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8").split())
    assert (f"x{own['ratio_to_reference']:.2f} the samples/s ({own['samples_per_s_median']:.0f} against "
            f"{ref['samples_per_s_median']:.0f}") in results
    rs = flickr_docs.runs(with_metrics=False)

    def at4(name: str) -> str:
        return next(f"{float(r['val_rsum']):.1f}" for r in rs[name]["log"] if r["epoch"] == "4" and r["val_rsum"])

    assert (f"reached val rsum {at4('f8k-t112')} and {at4('f8k-t112-b35')} at epoch 4, where the default had "
            f"{at4('f8k-lr3e3-e14')} (and the 7-epoch budget run {at4('f8k-budget35')})") in results


def test_the_192_px_prose_quotes_its_runs():
    """RESULTS.md's sentence on captions at 192 px gives the two 10-epoch runs' own epoch-4 and final figures and
    the larger run's whole-run time."""
    rs = flickr_docs.runs(with_metrics=False)

    def val(name: str, epoch: str) -> str:
        return next(f"{float(r['val_rsum']):.1f}" for r in rs[name]["log"] if r["epoch"] == epoch and r["val_rsum"])

    results = " ".join((ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8").split())
    big, ref = "f8k-t192-e10", "f8k-lr3e3-e10"
    assert (f"val rsum {val(big, '4')} against {val(ref, '4')} at epoch 4 and {rs[big]['metrics']['rsum']:.1f} against "
            f"{rs[ref]['metrics']['rsum']:.1f} at epoch 10") in results
    assert f"{rs[big]['metrics']['rsum']:.1f} in a {rs[big]['run']['seconds'] / 60:.1f}-min whole run" in results


def test_the_captions_192_budget_prose_quotes_its_run():
    """README's sentence on captions-192 under the 35-min budget gives f8k-t192-b35's own epochs, minutes and rsum,
    and counts the R@K it falls short of the reference on from the two metrics files."""
    rs = flickr_docs.runs()
    r, ref = rs["f8k-t192-b35"], rs["cca-reference"]["metrics"]
    short = sum(r["metrics"][d][f"R@{k}"] < ref[d][f"R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10))
    words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert (f"kept {r['config']['budget']['epochs']} epochs and finished in {r['run']['seconds'] / 60:.1f} min at rsum "
            f"{r['metrics']['rsum']:.1f}, level with the reference's {rs['cca-reference']['metrics']['rsum']:.1f} but "
            f"short of it on {words[short]} of the six R@K") in readme
