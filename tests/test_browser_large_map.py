"""The embedding map of a whole dataset in a real browser (issue 24): 200,000 points (40,000 images
+ 160,000 captions, a generated run: ``benchmarks/large_map.py``) open, hover and select in Chromium.

Past ``LARGE_MAP`` points the page draws a canvas map (``pages/_large_map.py``) from coordinates only; the
hover label is written in the browser from the point's index, a click or a lasso brings the points' text and
neighbours from the server. The time to
open the map is measured here and asserted loosely (a regression such as per-point hover text going
back into the figure takes it far past); the target itself (<= 3 s) is ``bench_map``'s, on an idle
machine, in a results file.

    python -m pytest tests/test_browser_large_map.py -m browser
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from test_browser import CHROMIUM, browser, no_exception, settle, shot, streamlit_server  # noqa: F401 - browser: the fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is missing"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

N_IMAGES, PER = 40_000, 4
N_POINTS = N_IMAGES * (1 + PER)

# True once the canvas map has painted every point (then two animation frames).
DRAWN_JS = "n => { const m = document.querySelector('.xmr-large-map'); return m !== null && m.dataset.drawn === String(n); }"
FRAMES_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"

# A point of the wanted kind alone in its neighbourhood, found from the map's own data (its coordinates
# and its screen transform, ``root.__xmap``): every point binned to 8-px cells, the first point of that
# kind inside the canvas whose 3x3 cells hold no other (so no other point lies within the 8-px hover reach). Returns [clientX, clientY, index within its kind].
ALONE_JS = """image => { const m = document.querySelector('.xmr-large-map'); m.scrollIntoView({block: 'center'});
    const X = m.__xmap, cv = m.querySelector('canvas').getBoundingClientRect(), C = 8, grid = new Map(), cand = [];
    for (let i = 0; i < X.n; i++) {
        const [x, y] = X.screenOf(i);
        const k = Math.floor(x / C) + ',' + Math.floor(y / C);
        grid.set(k, (grid.get(k) || 0) + 1);
        if (((X.flags[i] & 1) === 1) === image) cand.push([x, y, i]); }
    for (const [x, y, i] of cand) {
        if (x < cv.left + 20 || y < cv.top + 20 || x > cv.right - 20 || y > cv.bottom - 20) continue;
        if (y > window.innerHeight - 20 || y < 20) continue;
        let n = 0; const cx = Math.floor(x / C), cy = Math.floor(y / C);
        for (let a = -1; a <= 1; a++) for (let b = -1; b <= 1; b++) n += grid.get((cx + a) + ',' + (cy + b)) || 0;
        if (n === 1) return [x, y, image ? i : i - X.nImages]; }
    return null; }"""

# The first caption point inside the canvas and the window (after scrolling the map to the middle).
IN_VIEW_JS = """() => { const m = document.querySelector('.xmr-large-map'); m.scrollIntoView({block: 'center'});
    const X = m.__xmap, r = m.querySelector('canvas').getBoundingClientRect();
    for (let i = X.nImages; i < X.n; i++) { const [x, y] = X.screenOf(i);
        if (x > r.left + 40 && x < r.right - 40 && y > Math.max(r.top, 0) + 40 && y < Math.min(r.bottom, window.innerHeight) - 40)
            return [x, y]; }
    return null; }"""


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    from test_app import fast_demo_run

    from benchmarks.large_map import large_run

    ck, data = fast_demo_run(tmp_path_factory)
    ready = os.environ.get("XMR_LARGE_MAP_CHECKPOINTS")  # a runs folder large_run() already wrote (reruns)
    if ready and (Path(ready) / "big" / "tsne").is_dir():
        yield Path(ready), data
        return
    runs = tmp_path_factory.mktemp("large-map") / "checkpoints"
    runs.mkdir()
    # The map is under test, not the semantic labels: word-vector relevance, not MiniLM over 160,000
    # captions (minutes on a CPU), here and in the app server started below (it inherits os.environ).
    old = os.environ.get("XMR_RELEVANCE")
    os.environ["XMR_RELEVANCE"] = "word-vectors"
    try:
        large_run(ck / "demo-fast", runs, N_IMAGES, PER)
        yield runs, data
    finally:
        if old is None:
            os.environ.pop("XMR_RELEVANCE", None)
        else:
            os.environ["XMR_RELEVANCE"] = old


def open_map(browser, url: str) -> tuple[object, object, float]:
    """(context, page, seconds from navigation to the 200k points drawn) in a fresh tab."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(300_000)
    t = time.perf_counter()
    page.goto(f"{url}/embedding_map")
    page.wait_for_function(DRAWN_JS, arg=N_POINTS, polling=50, timeout=300_000)
    page.evaluate(FRAMES_JS)
    return ctx, page, time.perf_counter() - t


def test_a_200k_point_map_opens_hovers_and_selects(big, browser, tmp_path):
    runs, data = big
    with streamlit_server(runs, data, tmp_path) as url:
        ctx, page, cold = open_map(browser, url)  # the server loads the run (from its caches) once
        settle(page, "Embedding map", timeout=300)
        ctx.close()
        ctx, page, warm = open_map(browser, url)
        print(f"200k-point map drawn: {cold:.2f} s on the server's first visit, {warm:.2f} s in a fresh tab after")
        assert warm <= 15.0, f"the map took {warm:.1f} s to open (target 3 s on an idle machine)"
        settle(page, "Embedding map")
        no_exception(page)
        assert page.locator(".js-plotly-plot").count() == 0  # no plotly past LARGE_MAP points: the canvas map
        assert page.get_by_text("density layer").count() >= 1
        sent = page.evaluate("() => { const X = document.querySelector('.xmr-large-map').__xmap;"
                             " return [X.n, X.nImages, X.x.length]; }")
        assert sent == [N_POINTS, N_IMAGES, N_POINTS]

        # hover: the label names the very image point under the cursor (its index, from the data)
        x, y, i = page.evaluate(ALONE_JS, True)
        page.mouse.move(x - 25, y - 25)
        page.mouse.move(x, y, steps=5)
        label = page.locator(".xmr-large-map .tip")
        label.wait_for(state="visible", timeout=15_000)
        assert label.text_content().strip() == f"image #{i}"
        shot(page, "embedding_map_200k_hover")

        # lasso it alone (its 3x3 cells hold no other point): the server sends that image's record and
        # neighbours, the text on demand
        page.mouse.move(x - 5, y - 5)
        page.mouse.down()
        for a, b in ((x + 5, y - 5), (x + 5, y + 5), (x - 5, y + 5), (x - 5, y - 4)):
            page.mouse.move(a, b, steps=6)
        page.mouse.up()
        page.get_by_text(re.compile(r"Selected: 1 image\(s\), 0 caption\(s\)")).wait_for(timeout=120_000)
        settle(page, timeout=180)
        no_exception(page)
        assert page.get_by_text(f"img_{i:07d}").count() >= 1  # the selected image's id
        assert page.get_by_text("Nearest captions").count() >= 1
        assert page.evaluate("() => document.querySelector('.xmr-large-map').__xmap.flags.filter(f => f & 2).length") == 1
        shot(page, "embedding_map_200k_selected", height=1800)

        # zoomed in with the wheel (captions pile up at full view), a click on a lone caption selects that
        # caption instead; a double-click clears the selection
        page.wait_for_function(DRAWN_JS, arg=N_POINTS, timeout=60_000)
        x, y = page.evaluate(IN_VIEW_JS)  # zoom in where captions are
        page.mouse.move(x, y)
        for _ in range(5):
            page.mouse.wheel(0, -600)
        zoom = page.evaluate("() => document.querySelector('.xmr-large-map').__state.view.zoom")
        assert zoom > 20
        x, y, c = page.evaluate(ALONE_JS, False)
        page.mouse.click(x, y)
        page.get_by_text(re.compile(r"Selected: 0 image\(s\), 1 caption\(s\)")).wait_for(timeout=120_000)
        settle(page, timeout=180)
        assert page.get_by_text(f"#{c}", exact=False).count() >= 1
        x, y, _ = page.evaluate(ALONE_JS, False)
        page.mouse.dblclick(x, y)
        page.get_by_text("Nothing selected yet.").wait_for(timeout=120_000)
        no_exception(page)
        ctx.close()
