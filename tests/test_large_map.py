"""The map of a whole dataset (issue 24, ``pages/_large_map.py``): the canvas map's payload carries
coordinates, one colour index and one flags byte a point (no per-point text), a density grid that counts
every point, every colour field; no browser needed here (tests/test_browser_large_map.py draws it)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pages._large_map import (DENSITY_BINS, IMAGE, LARGE_MAP, SCALE_STEPS, SELECTED, large_map_payload,
                              read_payload)
from pages._map import COLOUR_OPTIONS, NO_VALUE, PALETTE
from xmr_core.facade.app_support import IMAGE_COLOUR, TEXT_COLOUR

NI, PER = 12_000, 4


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    img = rng.normal(0, 30, (NI, 2))
    cap = np.repeat(img, PER, axis=0) + rng.normal(0, 1, (NI * PER, 2))
    xy = np.concatenate([img, cap])
    assert len(xy) > LARGE_MAP
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "modality": ["image"] * NI + ["text"] * (NI * PER),
                         "image_row": np.concatenate([np.arange(NI), np.repeat(np.arange(NI), PER)]),
                         "text": ["a caption that must not travel"] * len(xy)})


def test_only_coordinates_travel(frame):
    payload = large_map_payload(frame)
    p = read_payload(payload)
    n = len(frame)
    assert p["n"] == n and p["n_images"] == NI
    np.testing.assert_array_equal(p["x"], frame["x"].to_numpy(np.float32))
    np.testing.assert_array_equal(p["y"], frame["y"].to_numpy(np.float32))
    assert ((p["flags"] & IMAGE) > 0).sum() == NI and (p["flags"][:NI] & IMAGE).all()
    assert p["palette"] == [IMAGE_COLOUR, TEXT_COLOUR] and set(np.unique(p["colour"])) == {0, 1}
    assert b"must not travel" not in payload
    # 10 bytes a point (x, y, colour, flags) plus the density grid and a short header
    assert len(payload) < 10 * n + 4 * DENSITY_BINS ** 2 + 4096


def test_the_density_layer_counts_every_point(frame):
    p = read_payload(large_map_payload(frame))
    c, box = p["counts"], p["density"]
    assert c.shape == (DENSITY_BINS, DENSITY_BINS) and int(c.sum()) == len(frame)
    assert box["bins"] == DENSITY_BINS
    assert (box["x0"], box["x1"]) == pytest.approx((frame["x"].min(), frame["x"].max()))
    assert (box["y0"], box["y1"]) == pytest.approx((frame["y"].min(), frame["y"].max()))
    left = int(np.argmin(frame["x"].to_numpy()))  # x-major: the left-most point is counted in row 0
    j = min(DENSITY_BINS - 1, int((frame["y"].iloc[left] - box["y0"]) / (box["y1"] - box["y0"]) * DENSITY_BINS))
    assert c[0, j] >= 1


@pytest.mark.parametrize("colour", [c for c in COLOUR_OPTIONS if c != "modality"])
def test_every_colour_field(frame, colour):
    n = len(frame)
    rng = np.random.default_rng(1)
    categorical = colour in ("R@K hit / miss", "contains word", "split")
    values = np.where(rng.random(n) > 0.5, "hit", "miss") if categorical else rng.random(n)
    if not categorical:
        values[:NI] = np.nan  # e.g. caption length: it does not apply to images
    p = read_payload(large_map_payload(frame, colour, values, selected={0, 5, 12_001}))
    assert np.nonzero(p["flags"] & SELECTED)[0].tolist() == [0, 5, 12_001] and p["selected"] == 3
    if categorical:
        labels = [e["label"] for e in p["legend"]]
        assert sorted(labels) == [f"{colour}: hit", f"{colour}: miss"] and p["colorbar"] is None
        shown = np.asarray([e["label"].split(": ")[1] for e in p["legend"]])[p["colour"]]
        np.testing.assert_array_equal(shown, values)  # each point's colour index names its own category
        assert [p["palette"][labels.index(f"{colour}: {c}")] for c in ("hit", "miss")] == [PALETTE["hit"],
                                                                                              PALETTE["miss"]]
    else:
        bar = p["colorbar"]
        assert bar["title"] == colour and len(bar["colours"]) == SCALE_STEPS
        v = values[NI:]
        assert bar["lo"] == pytest.approx(v.min()) and bar["hi"] == pytest.approx(v.max())
        assert (p["colour"][:NI] == SCALE_STEPS).all() and p["palette"][SCALE_STEPS] == NO_VALUE
        expect = np.round((v - v.min()) / (v.max() - v.min()) * (SCALE_STEPS - 1))
        np.testing.assert_array_equal(p["colour"][NI:], expect.astype(np.uint8))


def test_marker_lines_and_highlight_travel(frame):
    p = read_payload(large_map_payload(frame, marker={"x": 1.5, "y": -2.0, "label": "query: a dog"},
                                       lines=[(0.0, 0.0, 1.0, 1.0)], highlight=7))
    assert p["marker"] == {"x": 1.5, "y": -2.0, "label": "query: a dog"}
    assert p["lines"] == [[0.0, 0.0, 1.0, 1.0]] and p["highlight"] == 7


def test_a_wrong_colour_length_or_order_is_refused(frame):
    with pytest.raises(ValueError, match="unknown colour"):
        large_map_payload(frame, "no such field")
    with pytest.raises(ValueError, match="one value per map point"):
        large_map_payload(frame, "image id", np.zeros(3))
    with pytest.raises(ValueError, match="images before its captions"):
        large_map_payload(frame.iloc[::-1].reset_index(drop=True))
    with pytest.raises(ValueError, match="expected"):
        read_payload(large_map_payload(frame) + b"\0")
