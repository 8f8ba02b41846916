"""Counterfactual twins in the demo data (data/demo.py ``twins`` / ``colour_twins``) and the batches
that hold a scene with its twin (train/samples.py ``twin_groups``, ``epoch_batches(groups=...)``)."""
from __future__ import annotations

import json

import numpy as np
import pytest


def _items(path):
    return json.loads(path.read_text())["images"]


def _differ(a: dict, b: dict) -> list[tuple[int, str]]:
    """(thing index, field) pairs where two scenes' things differ."""
    return [(k, f) for k, (x, y) in enumerate(zip(a["things"], b["things"])) for f in x if x[f] != y[f]]


@pytest.fixture(scope="module")
def twin_demo(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    root = tmp_path_factory.mktemp("twins")
    kw = dict(n_images=120, seed=5, image_size=48, n_val=20, n_test=20)
    plain = generate_demo(root / "plain", **kw)
    twins = generate_demo(root / "twins", twins=0.25, colour_twins=0.125, **kw)
    again = generate_demo(root / "again", twins=0.25, colour_twins=0.125, **kw)
    return plain, twins, again


def test_twins_differ_from_their_scene_in_exactly_one_shape_or_colour(twin_demo):
    _, twins, _ = twin_demo
    items = _items(twins)
    by_name = {it["filename"]: it for it in items}
    kinds = [it["scene"].get("twin") for it in items]
    assert kinds.count("shape") == 20 and kinds.count("colour") == 10  # 0.25 and 0.125 of 80 training images
    for it in items:
        sc = it["scene"]
        if "twin_of" not in sc:
            continue
        assert it["split"] == "train"
        orig = by_name[sc["twin_of"]]["scene"]
        assert "twin_of" not in orig and orig["background"] == sc["background"]
        assert len(orig["things"]) == len(sc["things"])
        diff = _differ(orig, sc)
        assert len(diff) == 1 and diff[0][1] == sc["twin"]
        # the twin's captions describe its own scene: its new shape or colour is named, in its own words
        assert it["sentences"] != by_name[sc["twin_of"]]["sentences"]


def test_twins_are_deterministic_and_leave_every_other_image_as_it_was(twin_demo):
    plain, twins, again = twin_demo
    a, b = _items(twins), _items(plain)
    assert twins.read_bytes() == again.read_bytes()
    for x, y in zip(a, b):
        png = (twins.parent / "images" / x["filename"]).read_bytes()
        if "twin_of" in x["scene"]:
            assert png == (again.parent / "images" / x["filename"]).read_bytes()
            continue
        assert x == y  # val and test are ordinary scenes, exactly those generated without twins
        assert png == (plain.parent / "images" / y["filename"]).read_bytes()
    assert all("twin_of" not in x["scene"] for x in a if x["split"] != "train")


def test_ensure_demo_regenerates_when_the_twin_share_changes(tmp_path):
    from xmr_core.data.demo import ensure_demo

    from xmr_core.data.demo import DEMO_TWINS

    assert DEMO_TWINS == 0.25  # demo data v3: the default demo has twins
    p = ensure_demo(60, seed=1, out_dir=tmp_path)
    assert json.loads(p.read_text())["twins"] == DEMO_TWINS and any("twin_of" in it["scene"] for it in _items(p))
    p = ensure_demo(60, seed=1, out_dir=tmp_path, twins=0.0)
    assert "twins" not in json.loads(p.read_text()) and not any("twin_of" in it["scene"] for it in _items(p))
    p = ensure_demo(60, seed=1, out_dir=tmp_path, twins=0.2)
    assert json.loads(p.read_text())["twins"] == 0.2
    assert any("twin_of" in it["scene"] for it in _items(p))


@pytest.mark.parametrize("hard", [0.0, 0.5])
def test_batches_put_each_twin_with_its_scene(twin_demo, hard):
    from xmr_core.data import load_dataset
    from xmr_core.train.samples import epoch_batches, twin_groups

    plain, twins, _ = twin_demo
    ds = load_dataset(twins).split("train")
    groups = twin_groups(ds)
    assert groups is not None and (groups != np.arange(len(ds))).sum() == 30
    assert twin_groups(load_dataset(plain).split("train")) is None  # no twins: batches as before
    feats = np.random.default_rng(0).standard_normal((len(ds), 8)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    batches = epoch_batches(len(ds), 8, seed=3, epoch=1, features=feats, hard=hard, groups=groups)
    assert len(batches) == len(ds) // 8 and all(len(b) == 8 for b in batches)
    where = {c: i for i, b in enumerate(batches) for c in b}
    assert len(where) == 8 * len(batches)  # no class twice
    for k, g in enumerate(groups):
        if g != k and (k in where or g in where):
            assert where.get(k) == where.get(int(g)) is not None
    assert epoch_batches(len(ds), 8, 3, 1, feats, hard, groups) == batches
    assert epoch_batches(len(ds), 8, 3, 2, feats, hard, groups) != batches


def test_swap_twins_trade_two_colours_and_keep_everything_else(tmp_path):
    """``swap_twins``: the twin holds the same colours and shapes, bound the other way round."""
    import random

    from xmr_core.data.demo import Thing, ensure_demo, generate_demo, twin_scene

    two = [Thing("circle", "red", "small", "left"), Thing("square", "blue", "large", "right")]
    assert [(t.shape, t.colour) for t in twin_scene(two, "swap", random.Random(0))] == [("circle", "blue"),
                                                                                     ("square", "red")]
    one = twin_scene(two[:1], "swap", random.Random(0))  # nothing to trade with: a colour twin
    assert one[0].shape == "circle" and one[0].colour != "red"

    p = generate_demo(tmp_path / "d", n_images=200, seed=3, image_size=32, n_val=20, n_test=20, twins=0.1,
                      swap_twins=0.15)
    items = _items(p)
    by_name = {it["filename"]: it for it in items}
    swaps = [it for it in items if it["scene"].get("twin") == "swap"]
    assert len(swaps) == round(0.15 * 160) and json.loads(p.read_text())["swap_twins"] == 0.15
    traded = 0
    for it in swaps:
        a, b = it["scene"], by_name[it["scene"]["twin_of"]]["scene"]
        assert [t["shape"] for t in a["things"]] == [t["shape"] for t in b["things"]]
        assert [(t["size"], t["position"]) for t in a["things"]] == [(t["size"], t["position"]) for t in b["things"]]
        if len({t["colour"] for t in b["things"]}) > 1:  # two colours to trade: the same colours, rebound
            assert sorted(t["colour"] for t in a["things"]) == sorted(t["colour"] for t in b["things"])
            assert [t["colour"] for t in a["things"]] != [t["colour"] for t in b["things"]]
            traded += 1
        else:  # nothing to trade: one colour changed
            assert sum(x["colour"] != y["colour"] for x, y in zip(a["things"], b["things"])) == 1
    assert traded > 0
    q = ensure_demo(200, seed=3, out_dir=tmp_path / "d", twins=0.1, swap_twins=0.15)
    assert q.read_bytes() == p.read_bytes()  # same parameters: not generated again
