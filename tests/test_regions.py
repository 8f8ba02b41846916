"""Regions for short queries (retrieval/regions.py, evaluation/split_regions.py, ModelConfig.regions)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xmr_core.retrieval.regions import WINDOW, is_short, region_topk, window_boxes, windows

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "checkpoints" / "demo"


def test_windows_are_half_side_boxes_on_an_even_grid():
    boxes = window_boxes(100, 80, 3)
    assert len(boxes) == 9 and WINDOW == 0.5
    assert all((r - l, b - t) == (50, 40) for l, t, r, b in boxes)
    assert boxes[0] == (0, 0, 50, 40) and boxes[4] == (25, 20, 75, 60) and boxes[-1] == (50, 40, 100, 80)
    assert window_boxes(100, 80, 1) == [(0, 0, 50, 40)]
    with pytest.raises(ValueError, match="grid"):
        window_boxes(100, 80, 0)
    from PIL import Image

    img = Image.new("RGB", (64, 64))
    assert [w.size for w in windows(img, 4)] == [(32, 32)] * 16


def test_short_means_under_half_the_median_caption():
    words = [10, 12, 14, np.nan]  # NaN rows (the map's images) do not count
    assert is_short(3, words) and is_short(5, words) and not is_short(6, words) and not is_short(12, words)
    assert not is_short(0, words) and not is_short(3, [])


def _unit(*rows):
    a = np.array(rows, float)
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def test_a_window_finds_the_thing_the_whole_picture_hides():
    """Axes: red, circle, blue, square, green, star. Picture 0 holds a red circle beside a blue square and a green
    star; picture 1 a red square beside a blue circle (colour and shape apart); picture 2 a red star. As whole
    pictures (bags), "a red circle" prefers picture 1, and 2 ties with 0; with windows, picture 0's red-circle
    window wins."""
    red, circle, blue, square, green, star = np.eye(6)
    whole = _unit(red + circle + blue + square + green + star, red + square + blue + circle, red + star)
    regions = np.stack([_unit(red + circle, blue + square, green + star),
                        _unit(red + square, blue + circle, red + square + blue + circle),
                        _unit(red + star, red + star, red + star)])
    q = _unit(red + circle)
    assert int(np.argmax(q @ whole.T)) == 1  # the bag's answer
    s, ids = region_topk(q, whole, regions, 3)
    assert ids.tolist() == [[0, 1, 2]] and s[0, 0] == pytest.approx(1.0)
    assert np.all(np.diff(s[0]) <= 0)
    with pytest.raises(ValueError, match="regions"):
        region_topk(q, whole, regions[:2], 3)


def test_region_ties_rank_the_smaller_picture_first():
    for g, order in ((_unit([1, 0], [1, 0], [0, 1]), [0, 1, 2]), (_unit([0, 1], [1, 0], [1, 0]), [1, 2, 0])):
        r = np.repeat(g[:, None, :], 2, axis=1)  # each picture's windows are the picture itself
        _, ids = region_topk(_unit([1, 0]), g, r, 3)
        assert ids.tolist() == [order]


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    """The committed demo bundle, copied (the window embeddings are written into the copy)."""
    if not (DEMO / "model.pt").is_file():
        pytest.skip("checkpoints/demo is not built")
    out = tmp_path_factory.mktemp("regions") / "demo"
    shutil.copytree(DEMO, out, ignore=shutil.ignore_patterns("last.pt", "tsne", "*.regions*.npz"))
    return out


def test_the_demo_answers_short_queries_by_its_windows(demo_copy):
    """The demo recipe scores short typed queries against windows (ModelConfig.regions); on the committed
    weights that finds more of the one-thing answers than the whole pictures do, the window embeddings are
    cached in the run (and reused), and full captions are still searched as whole pictures."""
    from xmr_core.bundle.run import load_run
    from xmr_core.evaluation.evaluate import split_embeddings
    from xmr_core.evaluation.split_regions import split_regions
    from xmr_core.evaluation.typed_eval import typed_query_metrics
    from xmr_core.recipes import recipe

    run = load_run(demo_copy)
    grid = run.model_cfg.regions
    assert grid == recipe("demo").model.regions > 0, "checkpoints/demo predates regions: rebuild it (demo_build)"
    emb = split_embeddings(run, None, "val")
    with_windows = typed_query_metrics(run, emb, run.dataset_spec)
    cache = emb.path.with_name(f"{emb.path.stem}.regions{grid}.npz")
    assert cache.is_file() and with_windows["regions"]["grid"] == grid
    assert with_windows["regions"]["short_queries"] > 0
    before = cache.stat().st_mtime_ns
    assert split_regions(run, emb).shape == (len(emb.images), grid * grid, emb.images.shape[1])
    assert cache.stat().st_mtime_ns == before  # read back, not embedded again
    run.model_cfg.regions = 0
    whole = typed_query_metrics(run, emb, run.dataset_spec)
    assert "regions" not in whole
    one = "one thing"
    assert with_windows["kinds"][one]["P@5"] > whole["kinds"][one]["P@5"] + 5
    # another network's windows are not read as this one's
    emb.weights = "0" * 64
    run.model_cfg.regions = grid
    split_regions(run, emb)
    assert cache.stat().st_mtime_ns != before and str(np.load(cache)["weights"]) == "0" * 64


def test_the_query_page_search_uses_windows_for_short_queries_only(demo_copy):
    from xmr_core.facade.explorer import Explorer
    from xmr_core.retrieval.regions import region_topk

    ex = Explorer(demo_copy, split="val")
    res = ex.text_query("a red circle", k=5)
    assert any("windows" in n for n in res.notes)
    _, ids = region_topk(res.vector, ex.emb.images, ex.regions, 5)
    assert [h.image_row for h in res.results] == ids[0].tolist()
    cap = str(ex.emb.caption_text[0])
    full = ex.text_query(cap, k=5)
    assert not any("windows" in n for n in full.notes)
    assert [h.image_row for h in full.results] == [h.image_row for h in ex.text_to_image(0, k=5)]
    metrics = json.loads((demo_copy / "metrics.json").read_text())
    assert (metrics["typed_queries"].get("regions") or {}).get("grid") == ex.run.model_cfg.regions


def test_the_query_page_line_says_when_windows_answer():
    from xmr_core.facade.app_typed import length_note, typed_headline

    m = {"typed_queries": {"kinds": {"one thing": {"n": 48, "P@5": 95.0, "R@10": 92.0}}, "examples": ["a red circle"],
                           "ground_truth": "the scenes", "regions": {"grid": 4, "short_queries": 300}}}
    assert "4 x 4 windows" in typed_headline(m) and "P@5 95 %" in typed_headline(m)
    del m["typed_queries"]["regions"]
    assert "windows" not in typed_headline(m)
    assert length_note(3, [10, 12, 14]) is not None and length_note(6, [10, 12, 14]) is None  # is_short's rule
