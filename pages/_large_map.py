"""The map of a whole dataset (issue 24): past ``LARGE_MAP`` points the page draws the map in a 2-D canvas
(``pages/_large_map.js``, a Streamlit components-v2 element in the page itself: no iframe, no plotly).

Why not plotly past 50k points: on the 2-core machine without a GPU, the 200k-point page spent about 5 s
before the points showed (``benchmarks/results-issue24-scale-idle.json``): plotly's bundle evaluated on the
first chart, its pass over the points, software WebGL drawing them, twice. A canvas filled pixel by pixel
from typed arrays does the same picture in tens of milliseconds.

What travels is one binary payload (:func:`large_map_payload`): a JSON header (palette, legend, colour bar,
the query marker, the pick lines, the density grid's bounds), then per point its float32 x and y, a colour
index and a flags byte (image / caption, selected), then the density grid's counts (uint32). No per-point
text: the hover label "image #N" / "caption #N" is written in the browser from the point's index, and a
click or a box / lasso selection brings the points' text, images and neighbours from the server.
:func:`read_payload` decodes it (tests, tools). :func:`large_map` mounts the element and returns the rows a
person selected in it this run, if any.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from pages._map import CONTINUOUS, COLOUR_OPTIONS, NO_VALUE, _category_colour
from xmr_core.facade.app_support import IMAGE_COLOUR, TEXT_COLOUR

LARGE_MAP = 50_000    # more points than this: the canvas map (a COCO-5k test split, 30k points, stays plotly)
DENSITY_BINS = 160    # the density layer's grid, bins x bins over the points' bounds
SCALE_STEPS = 64      # a continuous field is drawn in this many colours of its scale
IMAGE, SELECTED = 1, 2  # flags bits
_JS = Path(__file__).with_name("_large_map.js")


def _scale_colours(name: str, steps: int = SCALE_STEPS) -> list[str]:
    """``steps`` colours sampled along plotly's named colour scale, as ``#rrggbb``."""
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    out = []
    for c in sample_colorscale(get_colorscale(name), [i / (steps - 1) for i in range(steps)]):
        r, g, b = (int(round(float(v))) for v in unlabel_rgb(c))
        out.append(f"#{r:02x}{g:02x}{b:02x}")
    return out


def _colours(df: Any, colour: str, values: np.ndarray | None, is_image: np.ndarray
             ) -> tuple[np.ndarray, list[str], list[dict[str, str]], dict[str, Any] | None]:
    """(per-point palette index, palette, legend entries, colour bar) for one colour field."""
    n = len(df)
    if colour == "modality" or values is None:
        return (np.where(is_image, 0, 1).astype(np.uint8), [IMAGE_COLOUR, TEXT_COLOUR],
                [{"label": "images", "colour": IMAGE_COLOUR}, {"label": "captions", "colour": TEXT_COLOUR}], None)
    if colour in CONTINUOUS:
        v = values.astype(float)
        ok = np.isfinite(v)
        lo, hi = (float(v[ok].min()), float(v[ok].max())) if ok.any() else (0.0, 1.0)
        steps = _scale_colours(CONTINUOUS[colour])
        t = np.zeros(n) if hi <= lo else (np.where(ok, v, lo) - lo) / (hi - lo)
        idx = np.clip(np.round(t * (SCALE_STEPS - 1)), 0, SCALE_STEPS - 1).astype(np.uint8)
        idx[~ok] = SCALE_STEPS  # the field does not apply (an image's caption length): grey
        return idx, steps + [NO_VALUE], [], {"title": colour, "lo": lo, "hi": hi, "colours": steps}
    v = values.astype(str)
    categories = list(dict.fromkeys(v.tolist()))
    if len(categories) > 255:
        raise ValueError(f"colour {colour!r} has {len(categories)} categories; the large map draws at most 255")
    code = {c: i for i, c in enumerate(categories)}
    idx = np.fromiter((code[c] for c in v), dtype=np.uint8, count=n)
    palette = [_category_colour(c, categories) for c in categories]
    return idx, palette, [{"label": f"{colour}: {c}", "colour": p} for c, p in zip(categories, palette)], None


def large_map_payload(df: Any, colour: str = "modality", values: np.ndarray | None = None,
                      selected: set[int] | frozenset[int] = frozenset(), marker: dict[str, Any] | None = None,
                      lines: list[tuple[float, float, float, float]] | None = None,
                      highlight: int | None = None, height: int = 640) -> bytes:
    """The canvas map's payload for every point of ``df`` (``Explorer.map_frame()``; row i = point i).

    ``values`` (one per frame row) colour the points as ``pages/_map.py``'s plotly map does; ``selected``
    frame rows stay opaque and the rest fade; ``marker`` ({"x", "y", "label"}) is the query star; ``lines``
    join a picked image (frame row ``highlight``) to its captions. Raises ``ValueError`` for an unknown colour
    or a ``values`` array of the wrong length.
    """
    if colour not in COLOUR_OPTIONS:
        raise ValueError(f"unknown colour {colour!r}; choose one of {COLOUR_OPTIONS}")
    if colour != "modality" and (values is None or len(values) != len(df)):
        raise ValueError(f"colour {colour!r} needs one value per map point ({len(df)})")
    values = None if values is None else np.asarray(values)
    n = len(df)
    x, y = df["x"].to_numpy(np.float32), df["y"].to_numpy(np.float32)
    is_image = df["modality"].to_numpy() == "image"
    n_images = int(is_image.sum())
    if not is_image[:n_images].all():  # hover numbers images 0.. and captions 0.. by frame order
        raise ValueError("the map frame must list its images before its captions")
    idx, palette, legend, bar = _colours(df, colour, values, is_image)
    flags = is_image.astype(np.uint8) * IMAGE
    if selected:
        rows = np.fromiter((int(r) for r in selected), np.int64)
        flags[rows[(rows >= 0) & (rows < n)]] |= SELECTED
    counts, xe, ye = np.histogram2d(x, y, bins=DENSITY_BINS) if n else (np.zeros((DENSITY_BINS,) * 2), [0, 1], [0, 1])
    head = {"n": n, "n_images": n_images, "colour": colour, "palette": palette, "legend": legend, "colorbar": bar,
            "selected": int((flags & SELECTED).astype(bool).sum()), "height": int(height),
            "density": {"bins": DENSITY_BINS, "x0": float(xe[0]), "x1": float(xe[-1]), "y0": float(ye[0]),
                        "y1": float(ye[-1])},
            "marker": None if marker is None else {"x": float(marker["x"]), "y": float(marker["y"]),
                                                   "label": str(marker["label"])[:80]},
            "lines": [[float(v) for v in seg] for seg in (lines or [])],
            "highlight": None if highlight is None else int(highlight)}
    raw = json.dumps(head).encode()
    raw += b" " * ((-(4 + len(raw))) % 4)  # the arrays after it start on a 4-byte boundary
    # counts in x-major order as histogram2d gives them: counts[i, j] is x bin i, y bin j
    return b"".join([struct.pack("<I", len(raw)), raw, x.tobytes(), y.tobytes(),
                     np.ascontiguousarray(counts, dtype=np.uint32).tobytes(), idx.tobytes(), flags.tobytes()])


def _header(payload: bytes) -> tuple[dict[str, Any], int]:
    """A payload's JSON header and the offset its arrays start at."""
    (hl,) = struct.unpack_from("<I", payload, 0)
    return json.loads(payload[4:4 + hl].decode()), 4 + hl


def read_payload(payload: bytes) -> dict[str, Any]:
    """:func:`large_map_payload`'s header, with its arrays: x, y, counts (the density grid, bins x bins,
    x-major), colour, flags."""
    head, off = _header(payload)
    n, g = head["n"], head["density"]["bins"]
    out = dict(head)
    for name, dtype, count in (("x", np.float32, n), ("y", np.float32, n), ("counts", np.uint32, g * g),
                               ("colour", np.uint8, n), ("flags", np.uint8, n)):
        out[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=off)
        off += count * np.dtype(dtype).itemsize
    out["counts"] = out["counts"].reshape(g, g)
    if off != len(payload):
        raise ValueError(f"payload of {len(payload)} bytes, expected {off}")
    return out


_COMPONENT: Any = None


def large_map(payload: bytes, key: str) -> list[int] | None:
    """Mounts the canvas map; the frame rows a person clicked or box- / lasso-selected in it this run
    (``[]`` after a double-click, which clears), or None when nothing was selected this run."""
    import streamlit as st

    global _COMPONENT
    if _COMPONENT is None:  # registered once per process; the JS is read from its own file
        _COMPONENT = st.components.v2.component("xmr_large_map", js=_JS.read_text(), isolate_styles=False)
    height = _header(payload)[0]["height"]
    result = _COMPONENT(data=payload, key=key, height=height + 40, on_select_change=lambda: None)
    rows = getattr(result, "select", None)
    if rows is None:
        return None
    return [int(r) for r in rows]
