"""Render time of the app's embedding map in Chromium: a COCO-5k-sized map (5,000 images + 25,000 captions).

Variants: the app's figure (``pages/_map.py``: two WebGL ``Scattergl`` traces, every point, hover
labels) vs the same points as SVG ``Scatter`` traces (the reference: what the map page drew before).
Each time is from handing plotly.js the figure JSON to two animation frames after ``Plotly.newPlot``
resolves (the points are on screen), in headless Debian Chromium (SwiftShader WebGL on a machine
without a GPU), median of a few fresh page loads. Also the Python side: building the figure and its
JSON. Target: WebGL render <= 3 s for 30k points, no sampling.

Needs /usr/bin/chromium and the playwright package (never downloads a browser).
Run: ``python benchmarks/bench_map.py [--quick]``.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._script import print_seconds_rows, script_rows  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TARGET_S = 3.0


def synthetic_frame(n_images: int, per: int = 5, seed: int = 0):
    """A map frame shaped like ``Explorer.map_frame()``: clustered 2-D points, captions near their image."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-60, 60, (max(2, n_images // 50), 2))
    img_xy = centres[rng.integers(0, len(centres), n_images)] + rng.normal(0, 4, (n_images, 2))
    cap_img = np.repeat(np.arange(n_images), per)
    cap_xy = img_xy[cap_img] + rng.normal(0, 3, (len(cap_img), 2))
    words = np.array("a man woman dog cat red blue small large runs sits on the in grass street beach".split())
    caps = [" ".join(words[rng.integers(0, len(words), rng.integers(6, 14))]) for _ in range(len(cap_img))]
    paths = np.array([f"/data/images/{i:012d}.jpg" for i in range(n_images)])
    img = pd.DataFrame({"x": img_xy[:, 0], "y": img_xy[:, 1], "modality": "image", "row": np.arange(n_images),
                        "image_row": np.arange(n_images), "text": [Path(p).name for p in paths], "path": paths})
    cap = pd.DataFrame({"x": cap_xy[:, 0], "y": cap_xy[:, 1], "modality": "text", "row": np.arange(len(cap_img)),
                        "image_row": cap_img, "text": caps, "path": paths[cap_img]})
    return pd.concat([img, cap], ignore_index=True)


def _svg_figure(fig):
    """The same figure with SVG ``Scatter`` traces instead of ``Scattergl`` (the reference)."""
    import plotly.graph_objects as go

    out = go.Figure(layout=fig.layout)
    for tr in fig.data:
        d = tr.to_plotly_json()
        d.pop("type", None)
        out.add_trace(go.Scatter(**d))
    return out


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><script>{plotly}</script></head>
<body style="margin:0"><div id="map" style="width:1200px;height:640px"></div>
<script id="fig" type="application/json">{fig}</script>
<script>
window.renderMap = async () => {{
  const t0 = performance.now();
  const fig = JSON.parse(document.getElementById('fig').textContent);
  await Plotly.newPlot('map', fig.data, fig.layout);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const gl = document.querySelectorAll('#map canvas').length, svg = document.querySelectorAll('#map .point').length;
  return [performance.now() - t0, gl, svg];
}};
</script></body></html>"""


def render_seconds(fig_json: str, repeats: int) -> tuple[list[float], int, int]:
    """Times (s) to draw the figure in fresh Chromium pages; plus GL canvases and SVG points seen."""
    import plotly.offline
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "map.html"
        html.write_text(_PAGE.format(plotly=plotly.offline.get_plotlyjs(), fig=fig_json.replace("</", "<\\/")),
                        encoding="utf-8")
        times: list[float] = []
        gl = svg = 0
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            try:
                for _ in range(repeats):
                    page = b.new_page(viewport={"width": 1280, "height": 720})
                    page.goto(html.as_uri())
                    ms, gl, svg = page.evaluate("window.renderMap()")
                    times.append(ms / 1000)
                    page.close()
            finally:
                b.close()
    return times, gl, svg


def _row(case: str, variant: str, times: list[float], reference: bool, **extra: Any) -> dict[str, Any]:
    return {"case": case, "variant": variant, "seconds_median": statistics.median(times), "min": min(times),
            "max": max(times), "reference": reference, "repeats": len(times), **extra}


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Figure building (Python) and rendering (Chromium) of the whole map; see the module docstring."""
    from pages._map import hover_texts, map_figure

    n_images = 1000 if quick else 5000
    repeats = 2 if quick else 3
    df = synthetic_frame(n_images)
    n = len(df)
    case = f"map of {n:,} points ({n_images:,} images + {n - n_images:,} captions)"
    rows = []
    builds = []
    for _ in range(repeats):
        t = time.perf_counter()
        hover = hover_texts(df, None)
        fig = map_figure(df, "modality", hover=hover)
        fig_json = fig.to_json()
        builds.append(time.perf_counter() - t)
    rows.append(_row(f"{case}, built in Python", "xmr map_figure + to_json", builds, False))
    times, gl, _ = render_seconds(fig_json, repeats)
    # the target is for the full 30k-point map; quick mode only checks the path
    target = {} if quick else {"target": f"<= {TARGET_S:.0f} s for 30k points, no sampling",
                               "met": bool(statistics.median(times) <= TARGET_S)}
    rows.append(_row(case, "xmr map (Scattergl) render in Chromium", times, False, gl_canvases=gl,
                     points_drawn=n, **target))
    times, _, svg = render_seconds(_svg_figure(fig).to_json(), 1)
    rows.append(_row(case, "same points as SVG Scatter (before)", times, True, svg_points=svg))
    return rows


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    print_seconds_rows(rows, 50, 42)


if __name__ == "__main__":
    main()
