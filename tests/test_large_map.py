"""The map figure of a whole dataset (issue 24, ``pages/_map.py``): coordinates only, binary arrays,
hover written in the browser, a density layer, every colour field; no browser needed here."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pages._map import COLOUR_OPTIONS, LARGE_MAP, large_map_figure, trace_rows


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    ni, per = 12_000, 4
    img = rng.normal(0, 30, (ni, 2))
    cap = np.repeat(img, per, axis=0) + rng.normal(0, 1, (ni * per, 2))
    xy = np.concatenate([img, cap])
    assert len(xy) > LARGE_MAP
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "modality": ["image"] * ni + ["text"] * (ni * per),
                         "image_row": np.concatenate([np.arange(ni), np.repeat(np.arange(ni), per)])})


def test_only_coordinates_travel(frame):
    fig = large_map_figure(frame)
    spec = json.loads(fig.to_json())
    images, captions = spec["data"][0], spec["data"][1]
    assert (images["name"], captions["name"]) == ("images", "captions")  # curves 0 / 1, as selections expect
    for t in (images, captions):
        assert t["type"] == "scattergl" and t["x"]["dtype"] == "f4" and "bdata" in t["x"]  # binary float32
        assert "hovertext" not in t and "customdata" not in t and "text" not in t
    assert images["hovertemplate"].startswith("image #%{pointNumber}")
    assert spec["data"][-1]["type"] == "heatmap" and spec["data"][-1]["hoverinfo"] == "skip"
    rows = trace_rows(frame)
    assert len(rows[0]) == 12_000 and len(rows[1]) == 48_000
    # the JSON is a few bytes a point, not a label a point
    assert len(fig.to_json()) < 16 * len(frame)


def test_the_density_layer_counts_every_point(frame):
    fig = large_map_figure(frame)
    z = np.asarray(fig.data[-1].z, dtype=float)
    assert np.nansum(np.expm1(z)) == pytest.approx(len(frame), rel=1e-4)


@pytest.mark.parametrize("colour", [c for c in COLOUR_OPTIONS if c != "modality"])
def test_every_colour_field(frame, colour):
    n = len(frame)
    rng = np.random.default_rng(1)
    values = (np.where(rng.random(n) > 0.5, "hit", "miss") if colour in ("R@K hit / miss", "contains word", "split")
              else rng.random(n))
    fig = large_map_figure(frame, colour, values, selected={0, 5, 12_001})
    img, cap = fig.data[0], fig.data[1]
    assert len(img.marker.color) == 12_000 and len(cap.marker.color) == 48_000
    assert list(img.selectedpoints) == [0, 5] and list(cap.selectedpoints) == [1]
    if isinstance(values[0], str):
        legend = [t.name for t in fig.data if t.name and t.name.startswith(colour)]
        assert sorted(legend) == [f"{colour}: hit", f"{colour}: miss"]
        codes = np.asarray(img.marker.color)
        assert set(np.unique(codes)) <= {0.5, 1.5}  # the middle of each category's colour step


def test_a_wrong_colour_or_length_is_refused(frame):
    with pytest.raises(ValueError):
        large_map_figure(frame, "no such field")
    with pytest.raises(ValueError):
        large_map_figure(frame, "image id", np.zeros(3))
