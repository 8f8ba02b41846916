"""The app in a real browser: ``streamlit run app.py`` + Debian's chromium through Playwright.

Every page loads without an exception box and is screenshotted to ``test-artifacts/screenshots/``;
an image upload and a typed sentence on the Query page give results; the map draws a plotly chart.
On freshly started servers the sidebar is polled every 0.25 s for the first 5 s and may only ever
list the app's page titles (``pages/_nav.py``), whether the first request is the root or a page URL;
every page URL opened in a fresh tab shows that page. The map is hovered, lasso-selected and its
selection downloaded as CSV; click-to-search goes image -> sentences -> images and Back twice.

    python -m pytest tests/test_browser.py -m browser

README screenshots (against the real demo run, say):

    XMR_SCREENSHOTS_DIR=docs/screenshots XMR_APP_TEST_CHECKPOINTS=checkpoints XMR_APP_TEST_DATA=data \\
        python -m pytest tests/test_browser.py -m browser

``XMR_APP_TEST_CHECKPOINTS`` / ``XMR_APP_TEST_DATA``: a runs folder (any run in it; ``demo`` is picked
first) and the ``XMR_DATA_DIR`` its dataset lives in; without them a fast demo run is built once per
session. Skipped when /usr/bin/chromium or the playwright package is missing (never downloads a browser).
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
PAGES = [  # (url path, file stem for the screenshot, text that shows the page rendered)
    ("", "overview", "Retrieval metrics"),
    ("encoded_text", "encoded_text", "Encoded text"),
    ("embedding_map", "embedding_map", "Embedding map"),
    ("retrieval", "retrieval", "Table 3"),
    ("query", "query", "Query"),
    ("compare", "compare", "Compare runs"),
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is missing"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")


def _runs_folder(tmp_path_factory) -> tuple[Path, Path]:
    ck, data = os.environ.get("XMR_APP_TEST_CHECKPOINTS"), os.environ.get("XMR_APP_TEST_DATA")
    if ck and data:
        from xmr_core.bundle.run import list_runs

        if list_runs(ck):
            return Path(ck).resolve(), Path(data).resolve()
    from test_app import fast_demo_run  # the same session-wide fast demo run as the AppTest suite

    return fast_demo_run(tmp_path_factory)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return _runs_folder(tmp_path_factory)


@contextlib.contextmanager
def streamlit_server(ck: Path, data: Path, log_dir: Path):
    """A fresh ``streamlit run app.py`` on a free port; yields its URL once /_stcore/health answers."""
    port = _free_port()
    env = dict(os.environ, XMR_CHECKPOINTS=str(ck), XMR_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    log = log_dir / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--server.runOnSave", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and nothing else
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture(scope="module")
def server(runs, tmp_path_factory):
    ck, data = runs
    with streamlit_server(ck, data, tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


def settle(page, text: str | None = None, timeout: float = 90) -> None:
    """Wait until the script run finished: the page's text is there and the status widget is gone."""
    page.wait_for_selector('[data-testid="stAppViewContainer"]')
    if text:
        page.get_by_text(text, exact=False).first.wait_for()
    deadline = time.time() + timeout
    quiet = 0
    while time.time() < deadline:  # "Running..." and lazy-loading skeletons must stay away a moment
        if (page.locator('[data-testid="stStatusWidget"]').count() == 0
                and page.locator('[data-testid="stSkeleton"]').count() == 0):
            quiet += 1
            if quiet >= 3:
                return
        else:
            quiet = 0
        time.sleep(0.4)
    raise AssertionError("the app kept running")


def no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()[:2000]


def shot(page, name: str, height: int | None = None) -> None:
    """Screenshot to test-artifacts/ (and $XMR_SCREENSHOTS_DIR). Streamlit scrolls inside its own
    container, so ``height`` makes the window that tall for the shot to show more of the page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    old = page.viewport_size
    if height:
        page.set_viewport_size({"width": old["width"], "height": height})
        page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")
        time.sleep(1.0)  # plotly charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    if height:
        page.set_viewport_size(old)
    extra = os.environ.get("XMR_SCREENSHOTS_DIR")  # README screenshots (docs/screenshots)
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)


def _vocab_sentence(runs) -> str:
    from xmr_core.bundle.run import list_runs, load_encoder

    paths = list_runs(runs[0])
    run = next((p for p in paths if p.name == "demo"), paths[0])
    enc = load_encoder(run)
    common = [w for w in ("a", "red", "circle", "on", "the", "left", "of", "blue", "square") if w in enc.word_index]
    return " ".join(common or [w for w in enc.word_index if len(w) > 2][:6])


def _png() -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (160, 120), "white")
    ImageDraw.Draw(im).ellipse([30, 20, 110, 100], fill=(220, 30, 30))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_every_page_renders(server, page):
    for path, name, text in PAGES:
        page.goto(f"{server}/{path}")
        settle(page, text)
        no_exception(page)
        if name == "embedding_map":
            page.wait_for_selector(".js-plotly-plot")
            assert page.locator(".js-plotly-plot").count() >= 1
        shot(page, name)


def test_query_page_upload_and_sentence(server, page, runs, tmp_path):
    page.goto(f"{server}/query")
    settle(page, "Query")
    img = tmp_path / "red-circle.png"
    img.write_bytes(_png())
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(img))
    page.get_by_text("Top 5 sentences").wait_for()
    settle(page)
    no_exception(page)
    shot(page, "query_image")

    page.get_by_role("tab", name="Sentence → images").click()
    box = page.get_by_label("Type a sentence")
    box.fill(_vocab_sentence(runs))
    box.press("Enter")
    page.get_by_text("Top 5 images").wait_for()
    settle(page)
    no_exception(page)
    shot(page, "query_text")

    # a bad upload: a message, no exception, and the page still works
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    page.get_by_role("tab", name="Image → sentences").click()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(bad))
    page.get_by_text("Cannot use this file").wait_for()
    settle(page)
    no_exception(page)


# ---- one navigation, from the first byte ---------------------------------------------------------
# The text of every link in the sidebar (icons, which Streamlit renders as ligature text, removed).
_SIDEBAR_LINKS_JS = """() => Array.from(document.querySelectorAll(
        '[data-testid="stSidebar"] a, [data-testid="stSidebarNav"] a, [data-testid="stTopNavLink"]'))
    .map(a => { const c = a.cloneNode(true);
                c.querySelectorAll('[data-testid="stIconMaterial"], [data-testid="stIconEmoji"]')
                 .forEach(e => e.remove());
                return c.textContent.trim(); })"""


def _nav():
    """``pages/_nav.py``: the app's page list (the only names the sidebar may show)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from pages import _nav

    return _nav


def poll_sidebar(page, url: str, seconds: float = 5.0, every: float = 0.25) -> list[list[str]]:
    """Open ``url`` and read the sidebar's link names every ``every`` s for ``seconds`` s."""
    page.goto(url, wait_until="commit")
    seen = []
    end = time.time() + seconds
    while time.time() < end:
        try:
            seen.append(page.evaluate(_SIDEBAR_LINKS_JS))
        except sync_api.Error:  # the document is being replaced; try again next tick
            pass
        time.sleep(every)
    return seen


def _check_links(seen: list[list[str]], where: str) -> None:
    titles = set(_nav().TITLES)
    wrong = sorted({name for names in seen for name in names if name not in titles})
    assert not wrong, f"{where}: the sidebar showed names that are not the app's pages: {wrong}"
    assert any(set(names) == titles for names in seen), \
        f"{where}: the app's own navigation never appeared in the sidebar (last seen: {seen[-1] if seen else None})"


@pytest.mark.parametrize("first", ["", "query"], ids=["root", "deep-link"])
def test_sidebar_never_shows_file_pages(runs, browser, tmp_path_factory, first):
    """A freshly started server: from the first byte, the sidebar lists only the app's own pages,
    whether the very first request is the root or a page's URL (the case Streamlit's pages/ folder
    detection used to run alone, without app.py)."""
    ck, data = runs
    with streamlit_server(ck, data, tmp_path_factory.mktemp("fresh")) as url:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            pg = ctx.new_page()
            pg.set_default_timeout(90_000)
            seen = poll_sidebar(pg, f"{url}/{first}")
            # the page may still be loading its run after 5 s (a cold server on a busy core): wait for it,
            # then read the sidebar again
            title = "Query" if first == "query" else "Retrieval metrics"
            pg.locator("h1, h2, h3", has_text=title).first.wait_for()   # the page's own heading
            settle(pg)
            seen.append(pg.evaluate(_SIDEBAR_LINKS_JS))
            _check_links(seen, f"first request /{first}")
            no_exception(pg)
            # the sidebar's run picker is there too: the page ran inside app.py, not alone
            assert pg.locator('[data-testid="stSidebar"]').get_by_text("Run bundle").count() >= 1
        finally:
            ctx.close()


def test_every_page_by_url_in_a_fresh_tab(server, browser):
    """A bookmark / reload: each page's URL opened in a new browser context shows that page."""
    nav = _nav()
    for script, title, _, _ in nav.NAV:
        ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
        try:
            pg = ctx.new_page()
            pg.set_default_timeout(90_000)
            seen = poll_sidebar(pg, f"{server}/{nav.url_path(script)}", seconds=1.0)
            pg.locator("h1").first.wait_for()
            settle(pg)
            seen.append(pg.evaluate(_SIDEBAR_LINKS_JS))
            _check_links(seen, f"/{nav.url_path(script)}")
            no_exception(pg)
            heading = pg.locator("h1").first.inner_text()
            expected = {"Overview": "Run", "Build demo run": "Build the demo run"}.get(title, title.split(" (")[0])
            assert heading.lower().startswith(expected.lower()), f"/{nav.url_path(script)} shows {heading!r}"
        finally:
            ctx.close()


# ---- the map, selections out, click to search ------------------------------------------------------
# An image point to hover, found from the figure's data, not from where float details put it: the
# plot is scrolled into view first, and of the image points inside the plot area and the viewport,
# the one farthest (in pixels) from every other point is taken, so no caption point or edge takes
# its hover (a point below the window's fold gave no hover text on one CPU's t-SNE layout).
_POINT_JS = """() => { const gd = document.querySelector('.js-plotly-plot');
    gd.scrollIntoView({block: 'center'}); const L = gd._fullLayout; const r = gd.getBoundingClientRect();
    const pts = t => Array.from(t.x, (v, i) => [L.xaxis.l2p(v), L.yaxis.l2p(t.y[i])])
        .filter(p => isFinite(p[0]) && isFinite(p[1]));  // x may be a typed array (WebGL traces)
    const imgs = pts(gd._fullData.find(d => d.name === 'images'));
    const all = gd._fullData.filter(d => d.mode === 'markers').flatMap(pts);
    const inside = ([x, y]) => x > 8 && y > 8 && x < L._size.w - 8 && y < L._size.h - 8
        && r.top + L._size.t + y > 8 && r.top + L._size.t + y < window.innerHeight - 8;
    let best = null, far = -1;
    for (const p of imgs.filter(inside)) {
        let d = Infinity;
        for (const o of all) { const e = (o[0] - p[0]) ** 2 + (o[1] - p[1]) ** 2; if (e > 0 && e < d) d = e; }
        if (d > far) { far = d; best = p; } }
    return [r.left + L._size.l + best[0], r.top + L._size.t + best[1]]; }"""


def _lasso(page) -> None:
    """Lasso the middle two thirds of the map (the figure's default drag mode)."""
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] / 6, box["y"] + box["height"] / 6
    x1, y1 = box["x"] + box["width"] * 5 / 6, box["y"] + box["height"] * 5 / 6
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 2)):
        page.mouse.move(x, y, steps=12)
    page.mouse.up()


def _csv(download) -> list[dict]:
    import csv

    return list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))


def test_map_hover_selection_download_and_click_to_search(server, page):
    import re

    page.goto(f"{server}/embedding_map")
    settle(page, "Embedding map")
    page.wait_for_selector(".js-plotly-plot .nsewdrag")
    no_exception(page)
    # WebGL: the points are drawn on a GL canvas, not as SVG paths
    assert page.locator(".js-plotly-plot canvas").count() >= 1
    # hover an image point: its label names the image
    x, y = page.evaluate(_POINT_JS)
    page.mouse.move(x - 20, y - 20)
    page.mouse.move(x, y, steps=5)
    page.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
    assert "image" in page.locator(".hoverlayer .hovertext").first.text_content()
    thumb = page.locator("#xmr-hover-thumb")            # ... and its thumbnail appears beside the cursor
    thumb.wait_for(state="visible", timeout=10_000)
    assert thumb.get_attribute("src").startswith("data:image/jpeg;base64,")
    assert thumb.evaluate("t => t.naturalWidth") > 0
    shot(page, "embedding_map_hover")
    page.mouse.move(5, 5)
    thumb.wait_for(state="hidden", timeout=10_000)

    _lasso(page)
    head = page.get_by_text(re.compile(r"Selected: \d+ image\(s\), \d+ caption\(s\)"))
    head.wait_for()
    settle(page)
    no_exception(page)
    n_img, n_cap = map(int, re.findall(r"\d+", head.inner_text()))
    assert n_img + n_cap > 0
    assert page.get_by_text("Nearest captions").count() >= 1          # the neighbour panel
    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Download the selection")).click()
    rows = _csv(dl.value)
    assert len(rows) == n_img + n_cap
    assert list(rows[0]) == ["kind", "image_id", "image_file", "caption", "x", "y", "split"]
    assert sum(r["kind"] == "image" for r in rows) == n_img and all(r["image_file"] for r in rows)
    shot(page, "embedding_map_selection", height=2100)

    # click to search: a selected image -> its sentences -> one of them -> its images -> back
    page.get_by_role("button", name=re.compile("Its sentences")).first.click()
    page.get_by_text("Top 5 sentences for this image").wait_for()
    settle(page)
    no_exception(page)
    assert page.url.rstrip("/").endswith("/query")
    page.get_by_role("button", name=re.compile("Its images")).first.click()
    page.get_by_text("Top 5 images for this sentence").wait_for()
    settle(page)
    no_exception(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name=re.compile("Download these results")).first.click()
    res = _csv(dl.value)
    assert [r["rank"] for r in res] == ["1", "2", "3", "4", "5"] and all(r["kind"] == "image" for r in res)
    shot(page, "query_trail", height=1500)
    page.get_by_role("button", name="Back").click()
    page.get_by_text("Top 5 sentences for this image").wait_for()
    settle(page)
    page.get_by_role("button", name="Back").click()                   # the first step: back to the map
    # "Embedding map" is also the sidebar's link on every page, so its text cannot say the map is back:
    # wait for the address to change (on a loaded machine the switch comes after the click returns)
    deadline = time.time() + 60
    while not page.url.rstrip("/").endswith("/embedding_map") and time.time() < deadline:
        time.sleep(0.2)
    settle(page, "Embedding map")
    no_exception(page)
    assert page.url.rstrip("/").endswith("/embedding_map")


def test_query_page_says_what_the_run_knows(server, page):
    page.goto(f"{server}/query")
    settle(page, "Query")
    assert page.get_by_text("Trained on").count() >= 1 and page.get_by_text("Gallery").count() >= 1


def _pick(page, label: str, option: str) -> None:
    """Choose ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_map_colour_by_every_field(server, page, runs):
    import re

    page.goto(f"{server}/embedding_map")
    settle(page, "Embedding map")
    page.wait_for_selector(".js-plotly-plot .nsewdrag")
    legend = '() => Array.from(document.querySelectorAll(".js-plotly-plot .legendtext")).map(e => e.textContent)'
    for option in ("image id", "split", "R@K hit / miss", "caption length", "OOV count", "relevance to a query",
                   "contains word"):
        _pick(page, "Colour by", option)
        if option in ("relevance to a query", "contains word"):
            box = page.get_by_role("textbox", name=re.compile(r"^Word or sentence"))
            box.fill(_vocab_sentence(runs))
            box.press("Enter")
        settle(page)
        no_exception(page)
        page.wait_for_selector(".js-plotly-plot .nsewdrag")
        if option in ("split", "R@K hit / miss", "contains word"):  # a legend entry per category
            page.wait_for_function(f"() => {legend[6:]}.some(t => t.startsWith({option!r} + ': '))")
        else:                                                      # a colour bar titled by the field
            page.wait_for_function("() => Array.from(document.querySelectorAll('.js-plotly-plot .cbtitle'))"
                                   f".some(e => e.textContent.includes({option!r}))")
        if option == "R@K hit / miss":
            shot(page, "embedding_map_hits")


def test_compare_same_query_and_search_from_run_b(server, page, runs):
    import re

    page.goto(f"{server}/compare")
    settle(page, "Compare runs")
    box = page.get_by_label("Type a sentence")
    box.fill(_vocab_sentence(runs))
    box.press("Enter")
    page.get_by_text("library time").nth(1).wait_for()
    settle(page)
    no_exception(page)
    assert page.get_by_text(re.compile(r"^recipe ")).count() == 2      # each run's recipe and losses
    shot(page, "compare", height=1400)
    page.get_by_role("button", name=re.compile("Its sentences")).last.click()   # run B's last image
    page.get_by_text("Top 5 sentences for this image").wait_for()
    settle(page)
    no_exception(page)


# ---- run kinds: the CCA reference and imported vectors beside the network ---------------------------------
@pytest.fixture(scope="module")
def kinds_server(tmp_path_factory):
    """A server over a runs folder holding one run of each kind, built from the demo data
    (``test_run_kinds.kinds_runs``: no real data needed)."""
    from test_run_kinds import kinds_runs

    ck, data = kinds_runs(tmp_path_factory)
    with streamlit_server(ck, data, tmp_path_factory.mktemp("streamlit-kinds")) as url:
        yield url


def test_reference_and_embeddings_runs_listed_and_opened(kinds_server, page):
    """The sidebar lists the reference and the imported run with their kind; each opens on the Overview,
    the reference answers a typed sentence on the Query page and the imported run says why it cannot."""
    page.goto(kinds_server)
    settle(page, "Retrieval metrics")
    page.get_by_role("combobox", name="Run bundle").click()
    listed = page.get_by_role("option").all_inner_texts()
    assert any(t.startswith("cca-fast [reference]") for t in listed), listed
    assert any(t.startswith("imported [embeddings]") for t in listed), listed
    page.keyboard.press("Escape")
    _pick(page, "Run bundle", "cca-fast [reference]")
    settle(page, "CCA reference (no training)")      # the Overview's summary of the reference
    no_exception(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Query", exact=True).click()   # the sidebar's link: the same session, the same run
    settle(page, "Trained on")
    page.get_by_role("tab", name="Sentence → images").click()
    box = page.get_by_label("Type a sentence")
    box.fill("a red circle")
    box.press("Enter")
    page.get_by_text("Top 5 images").wait_for()
    settle(page)
    no_exception(page)
    shot(page, "query_reference")
    _pick(page, "Run bundle", "imported [embeddings]")
    settle(page, "Query")
    no_exception(page)
    assert page.get_by_text("is an embeddings run").count() >= 1
    sidebar.get_by_text("Overview", exact=True).click()
    settle(page, "imported vectors")                 # the Overview's summary of the imported run
    no_exception(page)
    assert page.get_by_text("Retrieval metrics").count() >= 1


_TRACE_NAMES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .flatMap(gd => (gd.data || []).map(t => String(t.name || '') + ' ' + [].concat(t.text || []).join(' ')))"""


def test_composed_query_image_plus_and_minus_sentences(server, page, runs, tmp_path):
    """Issue 23: an uploaded image + a sentence - another sentence gives results, a screenshot, and
    "Show this query on the map" puts a composed marker on the map."""
    words = _vocab_sentence(runs).split()
    plus, minus = " ".join(words[:3]), " ".join(words[-3:])
    page.goto(f"{server}/query")
    settle(page, "Query")
    page.get_by_role("tab", name="Composed query").click()
    # every tab's widgets are in the page; work inside the composed tab's panel only
    panel = page.locator('[role="tabpanel"]').filter(has=page.get_by_label("Terms", exact=True))
    panel.get_by_label("Terms", exact=True).fill("3")
    panel.get_by_label("Terms", exact=True).press("Enter")
    settle(page)
    img = tmp_path / "red-circle.png"
    img.write_bytes(_png())
    panel.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(img))
    settle(page)
    for i, text in enumerate((plus, minus)):
        box = panel.get_by_label("Sentence", exact=True).nth(i)
        box.fill(text)
        box.press("Enter")
        settle(page)
    weight = panel.get_by_label("Weight", exact=True).nth(2)
    weight.fill("-1")
    weight.press("Enter")
    page.get_by_text("Top 5 images for").wait_for()
    settle(page)
    no_exception(page)
    label = panel.locator("p").filter(has_text="Top 5 images for").first.inner_text()
    assert plus in label and minus in label and "−" in label, label  # both sentences, one subtracted
    shot(page, "query_composed", height=1900)

    page.get_by_role("button", name="Show this query on the map").click()
    settle(page, "Embedding map")
    page.wait_for_selector(".js-plotly-plot")
    page.wait_for_function(f"() => ({_TRACE_NAMES_JS})().some(n => n.includes('composed'))", timeout=60_000)
    no_exception(page)
