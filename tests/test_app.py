"""The Streamlit app, headless (``streamlit.testing.v1.AppTest``): every page renders, queries answer,
bad input gives a message (never an exception), and a first launch offers to build the demo run.

A fast demo run is built once per session (about 1-3 min on 2 cores). To reuse one that is already
built, set ``XMR_APP_TEST_CHECKPOINTS`` (a runs folder holding ``demo-fast``) and ``XMR_APP_TEST_DATA``
(the ``XMR_DATA_DIR`` it was built with).
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120


BUILD_STAGES: list[tuple[str, float]] = []  # progress reported while building (checked in test_evaluate)


def fast_demo_run(tmp_path_factory) -> tuple[Path, Path]:
    """(runs folder, data folder) holding a built fast demo run; built once per pytest session."""
    ck, data = os.environ.get("XMR_APP_TEST_CHECKPOINTS"), os.environ.get("XMR_APP_TEST_DATA")
    if ck and data and (Path(ck) / "demo-fast" / "metrics.json").is_file():
        return Path(ck), Path(data)
    base = tmp_path_factory.getbasetemp() / "xmr-app"
    ck, data = base / "checkpoints", base / "data"
    ck.mkdir(parents=True, exist_ok=True)
    if not (ck / "demo-fast" / "metrics.json").is_file():
        from xmr_core.cli.demo import build_demo

        old = os.environ.get("XMR_DATA_DIR")
        os.environ["XMR_DATA_DIR"] = str(data)
        try:
            build_demo(fast=True, out=ck / "demo-fast", progress=lambda s, f, m: BUILD_STAGES.append((s, f)))
        finally:
            if old is None:
                os.environ.pop("XMR_DATA_DIR", None)
            else:
                os.environ["XMR_DATA_DIR"] = old
    return ck, data


@pytest.fixture(autouse=True)
def _navigation_v2(monkeypatch):
    """AppTest quirk (1.67): each run resets ``PagesManager.uses_pages_directory`` and, because a
    ``pages/`` folder exists, runs the page file alone (MPA v1) instead of ``app.py``'s
    ``st.navigation``. The real server sets the flag to False on the first ``st.navigation`` call;
    do the same here so every AppTest run goes through ``app.py``."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def patched(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory):
    return fast_demo_run(tmp_path_factory)


@pytest.fixture
def env(demo_env, monkeypatch):
    ck, data = demo_env
    monkeypatch.setenv("XMR_CHECKPOINTS", str(ck))
    monkeypatch.setenv("XMR_DATA_DIR", str(data))
    return ck


@pytest.fixture(scope="session")
def vocab_words(demo_env):
    from xmr_core.bundle.run import load_encoder

    enc = load_encoder(demo_env[0] / "demo-fast")
    return [w for w in enc.word_index if len(w) > 2][:60]


def _png(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(page).run()
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [x.value for x in (*at.info, *at.warning, *at.success, *at.error)]
    return "\n".join(str(p) for p in parts)


# ---- first launch ------------------------------------------------------------------------------
def test_no_run_offers_demo_build(tmp_path, monkeypatch, demo_env):
    empty = tmp_path / "runs"
    empty.mkdir()
    monkeypatch.setenv("XMR_CHECKPOINTS", str(empty))
    monkeypatch.setenv("XMR_DATA_DIR", str(demo_env[1]))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    _ok(at)
    assert "No run bundle found" in _text(at)
    build = [b for b in at.button if b.label.startswith("Build demo run")]
    assert build and "min" in build[0].label
    assert at.checkbox(key="demo_fast") is not None

    # Clicking the button runs build_demo with a progress callback, then the app shows the run.
    calls = []

    def fake_build(fast=False, out=None, force=False, progress=None):
        calls.append(fast)
        for stage in ("data", "train", "evaluate", "t-SNE"):
            progress(stage, 0.5, f"{stage} halfway")
            progress(stage, 1.0, f"{stage} done")
        link = empty / "demo-fast"
        link.symlink_to(demo_env[0] / "demo-fast", target_is_directory=True)
        return link

    monkeypatch.setattr("xmr_core.cli.demo.build_demo", fake_build)
    at.checkbox(key="demo_fast").check().run()
    at.button(key="build_demo").click().run()
    _ok(at)
    assert calls == [True]
    if not at.sidebar.selectbox:  # AppTest may stop at st.rerun: one more run shows the new state
        at.run()
    assert "demo-fast" in _text(at)          # now on the Overview of the new run
    assert at.sidebar.selectbox(key="xmr_run_pick").value.endswith("demo-fast")


# ---- every page ----------------------------------------------------------------------------------
def test_overview(env):
    at = _page()
    _ok(at)
    assert any("demo-fast" in t.value for t in at.title)
    assert len(at.dataframe) >= 3               # recall vs paper, semantic, modality gap
    assert at.sidebar.selectbox(key="xmr_split_pick").value == "test"
    txt = _text(at)
    assert "paper" in txt.lower()
    assert len(at.json) >= 4


def test_encoded_text_page(env, vocab_words):
    at = _page("pages/encoded_text.py")
    _ok(at)
    assert len(at.get("image")) >= 3
    # a sentence with an OOV word and more words than the canvas holds
    long = " ".join(vocab_words[:4] * 20) + " qqzzxxw"
    at.text_input(key="enc_sentence").input(long).run()
    _ok(at)
    warn = "\n".join(w.value for w in at.warning)
    assert "qqzzxxw" in warn and "dropped" in warn
    # all-OOV -> a message, not an exception
    at.text_input(key="enc_sentence").input("qqzzxxw zzqqyy").run()
    assert not at.exception and at.error
    # search the split's captions by word
    at.text_input(key="enc_sentence").input(vocab_words[0]).run()
    at.text_input(key="enc_search").input(vocab_words[0]).run()
    _ok(at)
    at.text_input(key="enc_search").input("qqzzxxw").run()
    assert not at.exception and any("No caption contains" in w.value for w in at.warning)


def test_embedding_map_page(env, vocab_words):
    at = _page("pages/embedding_map.py")
    _ok(at)
    assert at.get("plotly_chart")
    at.selectbox(key="map_colour").set_value("contains word").run()
    _ok(at)
    at.selectbox(key="map_colour").set_value("image id").run()
    at.selectbox(key="map_pick").set_value(0).run()
    _ok(at)
    # a typed sentence is placed on the map as a marked point
    at.text_input(key="map_sentence").input(" ".join(vocab_words[:3])).run()
    _ok(at)
    assert any("query" in str(p.proto.spec) for p in at.get("plotly_chart"))
    # a (stored) selection lists images and captions
    run = str((env / "demo-fast").resolve())
    at.session_state["xmr_map_sel"] = {"key": (run, "test"), "rows": [0, 1, 2, 100, 101]}
    at.run()
    _ok(at)
    assert any("Selected: 3 image(s), 2 caption(s)" in s.value for s in at.subheader)
    # an all-OOV sentence: a message, the map still renders
    at.text_input(key="map_sentence").input("qqzzxxw").run()
    assert not at.exception and at.error and at.get("plotly_chart")


def test_retrieval_page(env):
    at = _page("pages/retrieval.py")
    _ok(at)
    assert "Top 5 retrieved sentences" in _text(at)
    at.radio(key="ret_k").set_value(10).run()
    _ok(at)
    assert "Top 10 retrieved sentences" in _text(at)
    at.button(key="ret_rand_img").click().run()
    at.button(key="ret_rand_cap").click().run()
    _ok(at)
    at.toggle(key="ret_failed").set_value(True).run()
    _ok(at)
    at.radio(key="ret_k").set_value(1).run()
    _ok(at)


def test_query_page_text(env, vocab_words):
    at = _page("pages/query.py")
    _ok(at)
    at.text_input(key="q_sentence").input(" ".join(vocab_words[:5])).run()
    _ok(at)
    assert "Top 5 images" in _text(at)
    assert any("library time" in c.value for c in at.caption)
    # show it on the map: the vector travels in session_state, the map page draws it
    at.button(key="q_txt_map").click().run()
    _ok(at)
    assert at.session_state["xmr_map_query"]["kind"] == "text"
    assert any("your query" in str(p.proto.spec) for p in at.get("plotly_chart"))


@pytest.mark.parametrize("sentence", ["   ", "qqzzxxw zzqqyy"])
def test_query_page_bad_sentence(env, sentence):
    at = _page("pages/query.py")
    at.text_input(key="q_sentence").input(sentence).run()
    assert not at.exception
    assert at.error and "Cannot search" in at.error[0].value


def test_query_page_long_sentence(env, vocab_words):
    at = _page("pages/query.py")
    at.text_input(key="q_sentence").input(" ".join(vocab_words[:10] * 12)).run()
    _ok(at)
    assert any("dropped" in w.value for w in at.warning)


def test_query_page_image_upload(env):
    at = _page("pages/query.py")
    at.file_uploader(key="q_upload").set_value(("red.png", _png(), "image/png")).run()
    _ok(at)
    assert "Top 5 sentences" in _text(at)
    assert any("library time" in c.value for c in at.caption)


@pytest.mark.parametrize("name,data", [("notes.png", b"this is not an image at all"), ("empty.png", b""),
                                        ("cut.png", None)])
def test_query_page_bad_upload(env, name, data):
    if data is None:  # a truncated PNG
        data = _png((300, 300))[:200]
    at = _page("pages/query.py")
    at.file_uploader(key="q_upload").set_value((name, data, "image/png")).run()
    assert not at.exception
    assert at.error and "Cannot use this file" in at.error[0].value


def test_query_handlers_directly(env):
    """The page's handlers are plain functions: bad bytes and huge images give messages."""
    from PIL import Image

    from xmr_core.facade.app_support import handle_image_query, handle_text_query
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(env / "demo-fast")
    res, err = handle_image_query(ex, _png(), "ok.png", k=3)
    assert err is None and len(res.results) == 3 and res.seconds >= 0
    for data in (b"", b"GIF89a broken", None):
        res, err = handle_image_query(ex, data, "bad", k=3)
        assert res is None and err
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")  # 81 MP: refused before decoding
    res, err = handle_image_query(ex, buf.getvalue(), "huge.png", k=3)
    assert res is None and "pixels" in err
    res, err = handle_text_query(ex, "", k=3)
    assert res is None and "empty" in err


def test_compare_page(env, vocab_words):
    at = _page("pages/compare.py")
    _ok(at)
    assert at.dataframe
    at.text_input(key="cmp_sentence").input(" ".join(vocab_words[:4])).run()
    _ok(at)
    assert sum("library time" in c.value for c in at.caption) == 2


def test_setup_page_with_runs(env):
    at = _page("pages/setup.py")
    _ok(at)
    assert "Build the demo run" in _text(at)


def test_broken_run_shows_error(env, tmp_path, monkeypatch):
    """A run whose model.pt is garbage / from another config: st.error, and the other run still works."""
    import shutil

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "good").symlink_to(env / "demo-fast", target_is_directory=True)
    bad = runs / "broken"
    bad.mkdir()
    for f in ("config.json", "vectors.bin", "encoder.json"):
        shutil.copy(env / "demo-fast" / f, bad / f)
    (bad / "model.pt").write_bytes(b"not a torch file")
    monkeypatch.setenv("XMR_CHECKPOINTS", str(runs))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.sidebar.selectbox(key="xmr_run_pick").set_value(str(bad)).run()
    assert not at.exception
    assert at.error and "model.pt" in at.error[0].value
    for page in ("pages/query.py", "pages/retrieval.py"):
        at.switch_page(page).run()
        assert not at.exception and at.error
    at.sidebar.selectbox(key="xmr_run_pick").set_value(str(runs / "good")).run()
    _ok(at)


# ---- issue 13: tables, what a run knows, click to search, CSV out ---------------------------------------
def test_dash_missing_and_two_decimals():
    from xmr_core.facade.app_support import MISSING, dash_missing, recall_rows

    rows = dash_missing(recall_rows({"dataset": "d", "split": "test", "n_images": 5, "rsum": 1.0,
                                     "i2t": {"R@1": 1.0, "R@5": 2.0, "R@10": 3.0, "medr": 4.0},
                                     "t2i": {"R@1": 1.0, "R@5": 2.0, "R@10": 3.0, "medr": 2.5}}))
    assert rows[0]["i2t medr"] == "4" and rows[0]["t2i medr"] == "2.50"
    assert all(r["i2t medr"] == MISSING for r in rows[1:])            # the paper's rows have no median rank
    assert not any(v is None or v == "None" for r in rows for v in r.values())
    assert isinstance(rows[0]["i2t R@1"], float)                      # columns without gaps stay numbers
    assert dash_missing([{"a": float("nan"), "b": 1}]) == [{"a": MISSING, "b": 1}]


def test_overview_tables_show_dash_not_none(env):
    at = _page()
    _ok(at)
    table = at.dataframe[0].value
    assert (table.astype(str) == "None").sum().sum() == 0
    assert (table["i2t medr"] == "—").sum() >= 1


def test_run_scope():
    from xmr_core.facade.app_support import run_scope

    demo = run_scope({"recipe": "demo", "dataset": {"spec": "demo:400", "n_classes": 200}}, "demo", "test", 100, 500)
    assert demo["synthetic"] and "coloured shapes" in demo["trained_on"] and "200 training images" in demo["trained_on"]
    assert "100 images and 500 captions of `demo/test`" in demo["gallery"]
    assert "train on real data" in demo["advice"] and "python -m xmr_core train" in demo["advice"]
    real = run_scope({"recipe": "default", "dataset": {"spec": "/d/dataset_flickr8k.json"}}, "flickr8k", "val", 1, 5)
    assert not real["synthetic"] and real["advice"] is None and "dataset_flickr8k.json" in real["trained_on"]


def test_query_page_says_what_the_run_knows(env):
    at = _page("pages/query.py")
    _ok(at)
    info = "\n".join(i.value for i in at.info)
    assert "Trained on" in info and "coloured shapes" in info and "Gallery" in info and "train on real data" in info


def test_search_trail_helpers():
    from xmr_core.facade.app_support import pop_step, push_step, search_step

    a, b = search_step("image", 3, "r", "test"), search_step("caption", 7, "r", "test")
    t = push_step(push_step(push_step([], a), a), b)
    assert t == [a, b]                                   # the same step twice in a row is one step
    assert pop_step(t) == [a] and pop_step([]) == []
    assert len(push_step([search_step("image", i, "r", "test") for i in range(60)], b, limit=50)) == 50
    for bad in (("sound", 1), ("image", -1)):
        with pytest.raises(ValueError):
            search_step(bad[0], bad[1], "r", "test")


def test_click_to_search_and_back(env, vocab_words):
    """Retrieval page: a retrieved sentence -> its images (Query page) -> one of them -> its sentences; Back twice."""
    at = _page("pages/retrieval.py")
    _ok(at)
    buttons = [b for b in at.button if b.key and b.key.startswith("ret_i2t_cap")]
    assert len(buttons) == 5
    buttons[0].click().run()
    _ok(at)
    trail = at.session_state["xmr_trail"]
    assert [s["kind"] for s in trail] == ["caption"] and trail[0]["origin"] == "pages/retrieval.py"
    assert "Top 5 images for this sentence" in _text(at)
    at.switch_page("pages/query.py")  # AppTest stays on its own page after st.switch_page; the browser follows
    img_buttons = [b for b in at.button if b.key and b.key.startswith("q_trail_img")]
    assert len(img_buttons) == 5
    img_buttons[1].click().run()
    _ok(at)
    assert [s["kind"] for s in at.session_state["xmr_trail"]] == ["caption", "image"]
    assert "Top 5 sentences for this image" in _text(at)
    # the image step lists labelled sentences (ground truth / related / unrelated), relevance to 2 decimals
    assert any("ground truth" in m.value or "score" in m.value for m in at.markdown)
    at.button(key="q_back").click().run()
    _ok(at)
    assert [s["kind"] for s in at.session_state["xmr_trail"]] == ["caption"]
    assert "Top 5 images for this sentence" in _text(at)
    at.button(key="q_back").click().run()     # back from the first step: the page it came from
    _ok(at)
    assert not at.session_state["xmr_trail"] and any("Table 3" in t.value for t in at.title)


def test_click_to_search_from_query_and_compare(env, vocab_words):
    at = _page("pages/query.py")
    at.text_input(key="q_sentence").input(" ".join(vocab_words[:5])).run()
    _ok(at)
    [b for b in at.button if b.key and b.key.startswith("q_txt_img")][0].click().run()
    _ok(at)
    assert at.session_state["xmr_trail"][-1]["kind"] == "image"
    at.button(key="q_clear_trail").click().run()
    _ok(at)
    assert not at.session_state["xmr_trail"] and "Search from the collection" not in _text(at)

    at = _page("pages/compare.py")
    at.text_input(key="cmp_sentence").input(" ".join(vocab_words[:4])).run()
    _ok(at)
    assert len([b for b in at.button if b.key and b.key.startswith("cmp1_img")]) == 5
    [b for b in at.button if b.key and b.key.startswith("cmp1_img")][0].click().run()  # -> the Query page
    _ok(at)
    assert "Top 5 sentences for this image" in _text(at)


def test_results_csv(env):
    import csv

    from xmr_core.facade.app_support import RESULT_COLUMNS, result_rows, to_csv
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(env / "demo-fast")
    hits = ex.text_to_image(0, 3)
    rows = list(csv.DictReader(io.StringIO(to_csv(result_rows(hits, "q, with comma", ex.emb.image_paths,
                                                              ex.emb.image_ids), RESULT_COLUMNS).decode())))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and all(r["kind"] == "image" for r in rows)
    assert rows[0]["query"] == "q, with comma" and rows[0]["image_file"].endswith(".png")
    assert rows[0]["image_file"] == Path(ex.image_path(hits[0]["image_row"])).name
    assert all(len(r["relevance"].split(".")[1]) == 2 for r in rows)
    cap_hits = ex.image_to_text(0, 2)
    caps = result_rows(cap_hits, "img", ex.emb.image_paths, ex.emb.image_ids)
    assert caps[0]["kind"] == "caption" and caps[0]["caption"] == cap_hits[0]["text"]


def test_query_page_downloads(env, vocab_words):
    at = _page("pages/query.py")
    at.text_input(key="q_sentence").input(" ".join(vocab_words[:5])).run()
    _ok(at)
    keys = [d.proto.id for d in at.get("download_button")] if at.get("download_button") else []
    assert keys, "the text query's results have a CSV download"


def _arr(v) -> np.ndarray:
    """A figure array as plotly serialises it: a list, or a typed array {"dtype", "bdata"} (base64)."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _fig(at):
    """The map's plotly figure as the page sent it (typed arrays decoded)."""
    import plotly.io as pio

    return pio.from_json(at.get("plotly_chart")[0].proto.spec, skip_invalid=True)


def test_map_is_webgl_and_whole(env):
    at = _page("pages/embedding_map.py")
    _ok(at)
    pts = [t for t in _fig(at).data if t.name in ("images", "captions")]
    assert [t.type for t in pts] == ["scattergl", "scattergl"]
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(env / "demo-fast")
    assert [len(_arr(t.x)) for t in pts] == [ex.n_images, ex.n_captions]       # every point, no sampling
    hover = pts[1].hovertext[0]
    assert ex.caption_text(0)[:20] in hover and "caption of image" in hover


@pytest.mark.parametrize("colour", ["image id", "split", "R@K hit / miss", "relevance to a query", "caption length",
                                    "OOV count", "contains word"])
def test_map_colour_by(env, vocab_words, colour):
    at = _page("pages/embedding_map.py")
    at.selectbox(key="map_colour").set_value(colour).run()
    _ok(at)
    if colour in ("relevance to a query", "contains word"):
        at.text_input(key="map_word").input(" ".join(vocab_words[:3])).run()
        _ok(at)
    fig = _fig(at)
    caps = next(t for t in fig.data if t.name == "captions")
    if colour in ("image id", "relevance to a query", "caption length", "OOV count"):
        assert len(_arr(caps.marker.color)) == len(_arr(caps.x)) == 500 and caps.marker.colorscale
        assert f"{colour}: " in caps.hovertext[0]
    else:
        names = [t.name for t in fig.data]
        assert any(n.startswith(f"{colour}: ") for n in names), names   # a legend entry per category
    if colour == "R@K hit / miss":
        at.radio(key="map_hit_k").set_value(1).run()
        _ok(at)
        assert any("image->text R@1" in c.value for c in at.caption)


def test_map_colour_fields_are_right(env):
    """The values behind the colours: hit/miss agrees with R@K, relevance and caption stats line up with rows."""
    from xmr_core.facade.explorer import Explorer
    from xmr_core.text.tokenize import tokenize

    ex = Explorer(env / "demo-fast")
    hits = ex.recall_hits(10)
    assert hits.shape == (ex.n_images + ex.n_captions,)
    m = ex.metrics()
    assert abs(100 * hits[:ex.n_images].mean() - m["i2t"]["R@10"]) < 1e-6
    assert abs(100 * hits[ex.n_images:].mean() - m["t2i"]["R@10"]) < 1e-6
    stats = ex.caption_stats()
    assert np.isnan(stats["words"][:ex.n_images]).all()
    assert stats["words"][ex.n_images + 3] == len(tokenize(ex.caption_text(3)))
    assert stats["oov"][ex.n_images:].min() >= 0
    rel = ex.relevance_to(ex.caption_text(0))
    assert rel.shape == hits.shape and rel[ex.n_images] > 0.99      # a caption is most relevant to itself
    with pytest.raises(Exception, match="empty"):
        ex.relevance_to("  ")


def test_neighbours(env):
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(env / "demo-fast")
    nb = ex.neighbours("image", 0, k=4)
    assert len(nb["images"]) == 4 and len(nb["captions"]) == 4
    assert 0 not in [h["image_row"] for h in nb["images"]]           # not itself
    d = [h["distance"] for h in nb["captions"]]
    assert d == sorted(d)
    nb = ex.neighbours("caption", 5, k=3)
    assert 5 not in [h["caption_row"] for h in nb["captions"]]
    with pytest.raises(IndexError):
        ex.neighbours("image", ex.n_images)
    with pytest.raises(ValueError):
        ex.neighbours("sound", 0)


def test_map_selection_panel_download_and_search(env):
    import csv

    at = _page("pages/embedding_map.py")
    run = str((env / "demo-fast").resolve())
    at.session_state["xmr_map_sel"] = {"key": (run, "test"), "rows": [0, 1, 2, 100, 101]}
    at.run()
    _ok(at)
    assert any("Selected: 3 image(s), 2 caption(s)" in s.value for s in at.subheader)
    # the neighbour panel: the focused point's nearest images and captions, each searchable
    assert at.selectbox(key="map_focus").value == 0
    assert "Nearest images" in _text(at) and "Nearest captions" in _text(at)
    assert len([b for b in at.button if b.key.startswith("map_nb_img")]) == 5
    at.selectbox(key="map_focus").set_value(101).run()
    _ok(at)
    assert any(b.key == "map_focus_search_caption1" for b in at.button)
    # the CSV of the selection: what the download button carries
    from xmr_core.facade.app_support import SELECTION_COLUMNS, selection_rows, to_csv
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(env / "demo-fast")
    df = ex.map_frame()
    rows = list(csv.DictReader(io.StringIO(to_csv(selection_rows(df, [0, 1, 2, 100, 101], "test", ex.emb.image_ids),
                                                  SELECTION_COLUMNS).decode())))
    assert list(rows[0]) == SELECTION_COLUMNS
    assert [r["kind"] for r in rows] == ["image"] * 3 + ["caption"] * 2
    assert rows[3]["caption"] == ex.caption_text(0) and rows[3]["image_file"] == Path(ex.image_path(
        int(ex.emb.caption_image[0]))).name
    assert rows[0]["caption"] == "" and float(rows[0]["x"]) == pytest.approx(float(df.x[0]), abs=1e-4)
    with pytest.raises(IndexError):
        selection_rows(df, [len(df)], "test")
    assert at.get("download_button")
    # click to search from the selection
    [b for b in at.button if b.key == "map_sel_img1"][0].click().run()
    _ok(at)
    assert at.session_state["xmr_trail"][-1] == {"kind": "image", "row": 1, "run": run, "split": "test",
                                                 "origin": "pages/embedding_map.py"}


def test_map_figure_rejects_bad_input():
    import pandas as pd

    import sys

    if str(ROOT) not in sys.path:  # pages/ imports from the repo root, as app.py arranges
        sys.path.insert(0, str(ROOT))
    from pages._map import map_figure

    df = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "modality": ["image", "text"], "row": [0, 0],
                       "image_row": [0, 0], "text": ["a.png", "a cap"], "path": ["a.png", "a.png"]})
    with pytest.raises(ValueError, match="unknown colour"):
        map_figure(df, "mood")
    with pytest.raises(ValueError, match="one value per map point"):
        map_figure(df, "caption length", np.array([1.0]))
    fig = map_figure(df, "caption length", np.array([np.nan, 2.0]))
    assert fig.data[0].marker.color == "#d0d0d0"     # an image has no caption length: grey


def test_map_hover_thumbnails(env):
    """The map page ships a data-URI thumbnail per image for the hover script (drawn in the browser test)."""
    import re

    at = _page("pages/embedding_map.py")
    _ok(at)
    html = at.get("iframe")[0].proto.srcdoc if at.get("iframe") else ""
    uris = re.findall(r'"(\d+)": "data:image/jpeg;base64,', html)
    from xmr_core.facade.explorer import Explorer

    assert len(uris) == Explorer(env / "demo-fast").n_images and "plotly_hover" in html


# ---- the second demo bundle: the paper's losses ----------------------------------------------------------
@pytest.fixture(scope="session")
def two_demo_runs(demo_env, tmp_path_factory) -> Path:
    """A runs folder holding the fast demo (ours) and a fast paper-losses demo beside it."""
    from xmr_core.cli.demo import build_demo

    ck, data = demo_env
    base = tmp_path_factory.mktemp("two-demos")
    old = os.environ.get("XMR_DATA_DIR")
    os.environ["XMR_DATA_DIR"] = str(data)
    try:
        build_demo(fast=True, out=base / "built" / "demo-paper-fast", losses="paper", progress=lambda s, f, m: None)
    finally:
        if old is None:
            os.environ.pop("XMR_DATA_DIR", None)
        else:
            os.environ["XMR_DATA_DIR"] = old
    runs = base / "runs"
    runs.mkdir()
    (runs / "demo-fast").symlink_to(ck / "demo-fast", target_is_directory=True)
    (runs / "demo-paper-fast").symlink_to(base / "built" / "demo-paper-fast", target_is_directory=True)
    return runs


def test_paper_losses_demo_config(two_demo_runs):
    import json

    from xmr_core.cli.demo import PAPER_LOSSES, PAPER_WIDTH, build_demo
    from xmr_core.errors import XmrError

    cfg = json.loads((two_demo_runs / "demo-paper-fast" / "config.json").read_text())
    assert cfg["recipe"] == "demo-paper-losses" and cfg["model"]["width"] == PAPER_WIDTH
    assert {k: cfg["train"][k] for k in PAPER_LOSSES} == PAPER_LOSSES      # softmax + center loss only
    ours = json.loads((two_demo_runs / "demo-fast" / "config.json").read_text())
    assert ours["train"]["contrastive_weight"] > 0 and ours["train"]["words_weight"] > 0
    assert (two_demo_runs / "demo-paper-fast" / "metrics.json").is_file()
    with pytest.raises(XmrError, match="unknown demo losses"):
        build_demo(fast=True, out=two_demo_runs / "nope", losses="mine")


def test_compare_page_two_demos(two_demo_runs, demo_env, monkeypatch, vocab_words):
    monkeypatch.setenv("XMR_CHECKPOINTS", str(two_demo_runs))
    monkeypatch.setenv("XMR_DATA_DIR", str(demo_env[1]))
    at = _page("pages/compare.py")
    _ok(at)
    assert at.selectbox(key="cmp_a").value != at.selectbox(key="cmp_b").value
    assert "Only one run bundle" not in _text(at)
    caps = "\n".join(c.value for c in at.caption)
    assert "softmax 1 + center loss 0.01; width 0.25" in caps and "InfoNCE 1" in caps
    from xmr_core.facade.app_support import losses_summary

    # a config without softmax_weight (older bundles such as the committed demo) trained with softmax
    assert losses_summary({"train": {"center_loss_factor": 0.01}}).startswith("softmax 1 + center loss 0.01")
    assert losses_summary({"train": {"softmax_weight": 0, "contrastive_weight": 1, "teacher_weight": 5}}) == (
        "center loss 0.01 + InfoNCE 1 + CCA teacher 5")
    assert losses_summary({"train": {"softmax_weight": 0, "teacher_weight": 5, "teacher_text_mult": 3}}).endswith(
        "CCA teacher 5 (captions x3)")
    cols = at.dataframe[0].value.columns.tolist()
    assert "demo-fast" in cols and "demo-paper-fast" in cols
    at.text_input(key="cmp_sentence").input(" ".join(vocab_words[:4])).run()
    _ok(at)
    assert sum("library time" in c.value for c in at.caption) == 2


def test_stale_trail_step_is_a_message(env):
    """A trail step whose run is gone (deleted, renamed): an error box and a way out, never an exception."""
    at = _page("pages/query.py")
    at.session_state["xmr_trail"] = [{"kind": "image", "row": 0, "run": str(env / "gone"), "split": "test"}]
    at.run()
    assert not at.exception and at.error and "cannot search from this item" in at.error[0].value
    at.button(key="q_clear_bad_trail").click().run()
    _ok(at)
    assert at.session_state["xmr_trail"] == []


def test_map_relevance_without_a_sentence_and_with_only_oov(env):
    at = _page("pages/embedding_map.py")
    at.selectbox(key="map_colour").set_value("relevance to a query").run()
    _ok(at)
    assert any("Type a word or sentence" in i.value for i in at.info) and at.get("plotly_chart")
    at.text_input(key="map_word").input("qqzzxxw").run()       # OOV for the word-vector relevance: still a map
    assert not at.exception and at.get("plotly_chart")


def test_typed_queries_on_overview_compare_and_query(env, vocab_words):
    """The typed-query figure is in metrics.json and on the Overview, Compare and Query pages (issue 25)."""
    import json

    m = json.loads((env / "demo-fast" / "metrics.json").read_text())
    one = m["typed_queries"]["kinds"]["one thing"]
    assert one["n"] > 0 and 0 <= one["P@5"] <= 100
    at = _page("pages/overview.py")
    _ok(at)
    assert "Typed queries" in _text(at)
    assert any("typed query" in d.value.columns for d in at.dataframe)
    at = _page("pages/compare.py")
    _ok(at)
    assert any(d.value["statistic"].astype(str).str.startswith("typed: one thing P@5").any() for d in at.dataframe)
    at = _page("pages/query.py")
    _ok(at)
    assert f"P@5 {one['P@5']:.0f} %" in _text(at)        # the run's own figure, from its metrics.json
    at.text_input(key="q_sentence").input(vocab_words[0]).run()   # one word: much shorter than its captions
    _ok(at)
    # the demo recipe matches short queries to each picture's windows, and the page says that instead of
    # "much shorter" (docs/METHOD.md §7c; a run without windows: tests/test_regions.py, length_note)
    assert json.loads((env / "demo-fast" / "config.json").read_text())["model"]["regions"] > 0
    assert any("windows" in w.value for w in at.warning)
    assert not any("This query has 1 word" in w.value for w in at.warning)
