"""Composed queries (issue 23 items 4, 5): the arithmetic, ``Explorer.query``, the ``query`` command
and the Query page's composed tab.

The library and CLI tests use the committed ``checkpoints/demo`` run (its test-split embeddings are
committed, so nothing is embedded or written); the page test uses test_app.py's fast demo run, the
reference-run test test_run_kinds.py's CCA run built on it.
"""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmr_core.facade.composed import QueryError, Term, compose, describe_terms, resolve_item

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "checkpoints" / "demo"


def _png(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


# ---- the arithmetic --------------------------------------------------------------------------------
def test_compose_against_a_hand_computed_vector():
    e = np.eye(4)
    # 1 x e1 + 0.5 x e2 - 1 x e3 = (1, 0.5, -1, 0), of length sqrt(1 + 0.25 + 1) = 1.5
    q = compose([e[0], e[1], e[2]], [1.0, 0.5, -1.0])
    np.testing.assert_allclose(q, [2 / 3, 1 / 3, -2 / 3, 0.0], atol=1e-7)
    assert q.dtype == np.float32 and math.isclose(float(np.linalg.norm(q)), 1.0, rel_tol=1e-6)
    # two unit vectors 60 degrees apart: u + v has length sqrt(3); u - v has length 1
    u, v = np.array([1.0, 0, 0]), np.array([0.5, math.sqrt(3) / 2, 0])
    np.testing.assert_allclose(compose([u, v], [1, 1]), [math.sqrt(3) / 2, 0.5, 0], atol=1e-6)  # (1.5, .87) / 1.73
    np.testing.assert_allclose(compose([u, v], [1, -1]), [0.5, -math.sqrt(3) / 2, 0], atol=1e-6)
    # each term is taken at unit length: a longer vector does not weigh more
    np.testing.assert_allclose(compose([3 * e[0], e[1]], [1, 1]), [math.sqrt(0.5), math.sqrt(0.5), 0, 0], atol=1e-6)
    # a single term with a negative weight is that term's opposite
    np.testing.assert_allclose(compose([e[3]], [-2.0]), -e[3], atol=1e-7)


@pytest.mark.parametrize("vectors,weights,message", [
    ([], [], "at least one term"),
    ([[1.0, 0.0]], [0.0], "every weight is 0"),
    ([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], "every weight is 0"),
    ([[1.0, 0.0], [1.0, 0.0]], [1.0, -1.0], "cancel out"),
    ([[1.0, 0.0], [0.0, 1.0]], [1.0], "one weight per term"),
    ([[0.0, 0.0], [0.0, 1.0]], [1.0, 1.0], "zero vector"),
])
def test_compose_refuses_what_has_no_direction(vectors, weights, message):
    with pytest.raises(QueryError, match=message):
        compose(np.asarray(vectors, np.float64).reshape(len(vectors), -1) if vectors else [], weights)


def test_term_checks_and_labels():
    with pytest.raises(QueryError, match="kind"):
        Term("sound", "x")
    with pytest.raises(QueryError, match="finite"):
        Term("sentence", "x", float("nan"))
    terms = [Term("image", b"...", 1.0, name="dog.jpg"), Term("sentence", "on snow", 0.5),
             Term("sentence", "grass", -1.0)]
    assert describe_terms(terms) == "1 × image dog.jpg + 0.5 × “on snow” − 1 × “grass”"
    # a first negative term starts with U+2212, not "-": the CSV cell is text, not a formula
    assert describe_terms([Term("item", "a.png", -2)]).startswith("−2 × item a.png")
    assert terms[0].record() == {"kind": "image", "value": "dog.jpg", "weight": 1.0}


# ---- Explorer.query on the committed demo run ---------------------------------------------------------
@pytest.fixture(scope="module")
def demo_ex():
    if not (DEMO / "model.pt").is_file():
        pytest.skip("checkpoints/demo is absent")
    from xmr_core.facade.explorer import Explorer

    return Explorer(DEMO)


def _nearest(gallery: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force, float64: Euclidean nearest first, ties to the smaller row."""
    d = np.linalg.norm(gallery.astype(np.float64) - q.astype(np.float64), axis=1)
    order = np.lexsort((np.arange(len(d)), d))[:k]
    return order, d[order]


def test_query_of_gallery_items_is_the_hand_computed_vector(demo_ex):
    ex = demo_ex
    img, cap = 3, 17  # an image and a caption of another image
    terms = [Term("item", ex.image_id(img), 1.0), Term("item", f"caption:{ex.emb.caption_ids[cap]}", -0.5)]
    res = ex.query(terms, "images", k=10)
    want = _unit(ex.emb.images[img].astype(np.float64) - 0.5 * ex.emb.captions[cap].astype(np.float64))
    np.testing.assert_allclose(res.vector, want, atol=1e-6)
    rows, dist = _nearest(ex.emb.images, want, 10)
    assert [h.image_row for h in res.results] == rows.tolist()
    np.testing.assert_allclose([h.distance for h in res.results], dist, atol=1e-5)
    assert res.kind == "composed" and res.target == "images" and res.terms == tuple(terms)
    # the positive image term's own image is ground truth; the other marks come from the relevance model
    assert res.results[0].image_row == img and res.results[0].label == "gt"
    assert all(h.label in ("related", "unrelated") for h in res.results[1:] if h.image_row != img)

    # deep enough to reach the image's own nearest caption (where it ranks depends on the trained weights)
    order, _ = _nearest(ex.emb.captions, want, len(ex.emb.captions))
    k = max(10, 1 + next(i for i, c in enumerate(order) if ex.image_of(int(c)) == img))
    res = ex.query(terms, "sentences", k=k)
    rows, dist = _nearest(ex.emb.captions, want, k)
    assert [h.caption_row for h in res.results] == rows.tolist()
    gt = [h for h in res.results if ex.image_of(h.caption_row) == img]
    assert gt and all(h.label == "gt" for h in gt)


def test_query_of_sentences_and_an_image_composes_their_own_query_vectors(demo_ex):
    """Image + sentence - sentence (the issue's "dog" + "on snow" - "grass", in the demo's words)."""
    ex = demo_ex
    png = _png(colour=(20, 20, 20))
    s1, s2 = "a big black circle", "orange hexagon"
    terms = [Term("image", png, 1.0, name="dark.png"), Term("sentence", s1, 1.0), Term("sentence", s2, -0.5)]
    res = ex.query(terms, "images", k=10)
    parts = [ex.image_query(png, 1).vector, ex.text_query(s1, 1).vector, ex.text_query(s2, 1).vector]
    want = _unit(parts[0].astype(np.float64) + parts[1] - 0.5 * parts[2])
    np.testing.assert_allclose(res.vector, want, atol=1e-6)
    rows, _ = _nearest(ex.emb.images, want, 10)
    assert [h.image_row for h in res.results] == rows.tolist() and len(res.results) == 10
    assert all(h.label in ("related", "unrelated") and h.relevance is not None for h in res.results)
    assert any("uploaded image has no text side" in n for n in res.notes)
    # the map places it like any query vector
    assert np.asarray(ex.place(res.vector)).shape == (1, 2)
    # an uploaded image alone: no text side, so nothing is marked (as the image -> sentences query)
    alone = ex.query([Term("image", png, 2.0, name="dark.png")], "sentences", k=5)
    assert [h.caption_row for h in alone.results] == [h.caption_row for h in ex.image_query(png, 5).results]
    assert all(h.label is None and h.relevance is None for h in alone.results)


@pytest.mark.parametrize("sentence", ["a red square on the left", "a big black circle"])
def test_one_sentence_term_is_the_typed_sentence_query(demo_ex, sentence):
    """Any positive weight on one sentence: the Sentence -> images query, its marks included."""
    typed, composed = demo_ex.text_query(sentence, 10), demo_ex.query([Term("sentence", sentence, 2.5)], k=10)
    assert [(h.image_row, h.label) for h in composed.results] == [(h.image_row, h.label) for h in typed.results]
    np.testing.assert_allclose([h.relevance for h in composed.results], [h.relevance for h in typed.results],
                               atol=1e-5)
    np.testing.assert_allclose([h.distance for h in composed.results], [h.distance for h in typed.results],
                               atol=1e-5)


def test_resolve_item_and_bad_terms(demo_ex):
    ex = demo_ex
    assert resolve_item(ex, ex.image_id(5)) == ("image", 5)
    assert resolve_item(ex, f"image:{ex.image_id(5)}") == ("image", 5)
    assert resolve_item(ex, str(ex.emb.caption_ids[7])) == ("caption", 7)
    assert resolve_item(ex, f"caption:{ex.emb.caption_ids[7]}") == ("caption", 7)
    for bad in ("no-such-item.png", "caption:no-such", "image:"):
        with pytest.raises(QueryError, match="no (image or caption|caption|image) with id"):
            resolve_item(ex, bad)
    with pytest.raises(QueryError, match="every weight is 0"):
        ex.query([Term("sentence", "a red circle", 0.0)], "images")
    with pytest.raises(QueryError, match="target"):
        ex.query([Term("sentence", "a red circle")], "videos")
    with pytest.raises(QueryError, match="cancel out"):
        ex.query([Term("item", ex.image_id(0), 1.0), Term("item", f"image:{ex.image_id(0)}", -1.0)], "images")
    with pytest.raises(QueryError, match="empty"):
        ex.query([Term("sentence", "   ")], "images")


@pytest.fixture(scope="module")
def imported_run(demo_ex, tmp_path_factory) -> Path:
    """An ``embeddings`` run (no encoder): the demo's test vectors exported and imported."""
    import json as _json

    from xmr_core.bundle.importer import ImportConfig, import_run
    from xmr_core.evaluation.export import export_run

    base = tmp_path_factory.mktemp("imported")
    pq = export_run(DEMO, "parquet", split="test", out=base / "export", force=True)[0]
    spec = _json.loads((DEMO / "config.json").read_text())["dataset"]["spec"]
    return import_run(ImportConfig(images=str(pq), captions=str(pq), dataset=spec, split="test",
                                   vectors=str(DEMO / "vectors.bin")), base / "runs" / "imported", evaluate=False)


def test_a_run_without_an_encoder_takes_gallery_items_only(demo_ex, imported_run):
    """An ``embeddings`` run: gallery items compose as on the network run they came from; sentence and
    image terms say why they cannot be used; the command line says it in one error line."""
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(imported_run)
    assert not ex.can_encode
    terms = [Term("item", demo_ex.image_id(3)), Term("item", f"caption:{demo_ex.emb.caption_ids[17]}", -0.5)]
    got, want = ex.query(terms, "images", k=10), demo_ex.query(terms, "images", k=10)
    assert [h.image_row for h in got.results] == [h.image_row for h in want.results]
    np.testing.assert_allclose(got.vector, want.vector, atol=1e-5)
    for term in (Term("sentence", "a red circle"), Term("image", _png(), name="red.png")):
        with pytest.raises(QueryError, match="embeddings run .*no encoder.* use gallery items"):
            ex.query([Term("item", ex.image_id(0)), term], "images")
    r = _cli("--run", str(imported_run), "--item", ex.image_id(0), "--text", "a red circle")
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 2 and len(errors) == 1 and "no encoder" in errors[0], r.stderr
    r = _cli("--run", str(imported_run), "--item", ex.image_id(0), "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert [x["image_id"] for x in json.loads(r.stdout)["results"]] == [
        h.image_id for h in ex.query([Term("item", ex.image_id(0))], "images", k=3).results]


def test_results_csv_names_the_terms(demo_ex):
    import csv

    from xmr_core.facade.app_support import RESULT_COLUMNS, result_rows, to_csv

    ex = demo_ex
    terms = [Term("sentence", "a red circle", -1.0), Term("item", ex.image_id(2), 2.0)]
    res = ex.query(terms, "images", k=3)
    rows = list(csv.DictReader(io.StringIO(to_csv(result_rows(res.results, describe_terms(terms), ex.image_paths,
                                                              ex.image_ids), RESULT_COLUMNS).decode())))
    assert [r["query"] for r in rows] == ["−1 × “a red circle” + 2 × item " + ex.image_id(2)] * 3
    assert [r["image_id"] for r in rows] == [h.image_id for h in res.results]


# ---- the query command ----------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XMR_CHECKPOINTS": str(ROOT / "checkpoints")}
    return subprocess.run([sys.executable, "-m", "xmr_core", "query", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_cli_query_json_is_explorer_query(demo_ex, tmp_path):
    ex = demo_ex
    png = tmp_path / "dark.png"
    png.write_bytes(_png(colour=(20, 20, 20)))
    r = _cli("--run", "demo", "--image", str(png), "--text", "a big black circle", "--item", ex.image_id(4),
             "--weight", "1", "--weight", "0.5", "--weight", "-1", "--target", "images", "--k", "10", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    terms = [Term("image", png.read_bytes(), 1.0, name="dark.png"), Term("sentence", "a big black circle", 0.5),
             Term("item", ex.image_id(4), -1.0)]
    res = ex.query(terms, "images", k=10)
    assert [x["image_id"] for x in out["results"]] == [h.image_id for h in res.results]
    np.testing.assert_allclose([x["distance"] for x in out["results"]], [h.distance for h in res.results], atol=1e-6)
    assert [x["label"] for x in out["results"]] == [h.label for h in res.results]
    assert out["terms"] == [{"kind": "image", "value": str(png), "weight": 1.0},
                            {"kind": "sentence", "value": "a big black circle", "weight": 0.5},
                            {"kind": "item", "value": ex.image_id(4), "weight": -1.0}]
    assert out["results"][0]["file"].endswith(".png") and len(out["results"]) == 10

    # sentences, as a table: ranks, distances, marks, caption ids and texts
    r = _cli("--run", str(DEMO), "--item", f"caption:{ex.emb.caption_ids[0]}", "--target", "sentences", "--k", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "→ sentences" in lines[1] and "caption id" in lines[2]
    first = lines[3].split()
    assert first[0] == "1" and first[2] == "gt" and first[3] == str(ex.emb.caption_ids[0])
    assert ex.caption_text(0) in lines[3]


@pytest.mark.parametrize("args,message", [
    (["--text", "a red circle", "--text", "blue", "--weight", "1"], "2 terms but 1 --weight"),
    (["--text", "a red circle", "--weight", "0"], "every --weight is 0"),
    (["--item", "no-such-item.png"], "no image or caption with id 'no-such-item.png'"),
    (["--text", "a red circle", "--text", "a red circle", "--weight", "1", "--weight", "-1"], "cancel out"),
    ([], "give at least one term"),
    (["--text", "a red circle", "--weight", "nan"], "out of range"),
])
def test_cli_query_bad_input_is_one_error_line(args, message):
    r = _cli("--run", "demo", *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr and not r.stdout


# ---- the Query page -------------------------------------------------------------------------------------
def test_query_page_composed(tmp_path_factory, monkeypatch):
    """Image + sentence - sentence on the page: results, the map marker, the trail, and the CLI's top-5."""
    pytest.importorskip("streamlit")
    from test_app import _ok, _page, _text, fast_demo_run

    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def patched(self, *a, **kw):  # AppTest quirk, as test_app's _navigation_v2
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)
    ck, data = fast_demo_run(tmp_path_factory)
    monkeypatch.setenv("XMR_CHECKPOINTS", str(ck))
    monkeypatch.setenv("XMR_DATA_DIR", str(data))
    from xmr_core.bundle.run import load_encoder

    words = [w for w in load_encoder(ck / "demo-fast").word_index if len(w) > 2]
    s1, s2 = " ".join(words[:3]), " ".join(words[3:5])
    png = _png(colour=(30, 60, 200))

    at = _page("pages/query.py")
    at.number_input(key="cq_n").set_value(3).run()
    at.file_uploader(key="cq_up0").set_value(("blue.png", png, "image/png")).run()
    at.text_input(key="cq_text1").input(s1).run()
    at.text_input(key="cq_text2").input(s2).run()
    at.number_input(key="cq_w2").set_value(-1.0).run()
    at.radio(key="cq_target").set_value("sentences").run()
    _ok(at)
    label = f"1 × image blue.png + 1 × “{s1}” − 1 × “{s2}”"
    from xmr_core.facade.app_support import md_text

    assert f"**Top 5 sentences for** {md_text(label)}" in _text(at)
    shown = [m.value.split("  \n")[0].split("\\. ", 1)[1] for m in at.markdown
             if m.value[:1].isdigit() and "\\. " in m.value.split("  \n")[0]]

    # the same terms through the command line: the same top 5
    img = tmp_path_factory.mktemp("q") / "blue.png"
    img.write_bytes(png)
    r = subprocess.run([sys.executable, "-m", "xmr_core", "query", "--run", "demo-fast", "--image", str(img),
                        "--text", s1, "--text", s2, "--weight", "1", "--weight", "1", "--weight", "-1",
                        "--target", "sentences", "--k", "5", "--json"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "XMR_CHECKPOINTS": str(ck), "XMR_DATA_DIR": str(data)}, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(shown) == 5 and shown == [md_text(x["caption"]) for x in json.loads(r.stdout)["results"]]

    # click to search from a result: the composed query goes on the trail first, with its terms
    [b for b in at.button if b.key and b.key.startswith("cq_cap")][0].click().run()
    _ok(at)
    assert [s["kind"] for s in at.session_state["xmr_trail"]] == ["composed", "caption"]
    at.switch_page("pages/query.py")
    assert any(f"composed ({md_text(label)})" in c.value for c in at.caption)
    at.button(key="q_back").click().run()
    _ok(at)
    assert [s["kind"] for s in at.session_state["xmr_trail"]] == ["composed"]
    assert [b for b in at.button if b.key and b.key.startswith("q_trail_cap")]  # its results, from the trail
    assert at.get("download_button")

    # on the map: the composed query's marker
    at.button(key="cq_map").click().run()
    _ok(at)
    assert at.session_state["xmr_map_query"]["kind"] == "composed"
    assert at.session_state["xmr_map_query"]["label"] == f"composed: {label}"
    assert any("your query" in str(p.proto.spec) for p in at.get("plotly_chart"))


def test_composed_query_on_the_cca_reference_run(tmp_path_factory, monkeypatch):
    """The ``reference`` kind (the CCA as a run) encodes image and sentence terms like a network run."""
    from test_run_kinds import kinds_runs

    from xmr_core.facade.explorer import Explorer

    runs, data = kinds_runs(tmp_path_factory)
    monkeypatch.setenv("XMR_DATA_DIR", str(data))
    ex = Explorer(runs / "cca-fast", split="test")
    words = [w for w in ("red", "circle", "blue", "square") if w in ex.run.word_vectors.key_to_index]
    assert len(words) >= 2
    png = _png(colour=(220, 30, 30))
    terms = [Term("image", png, 1.0, name="red.png"), Term("sentence", words[0], 1.0),
             Term("sentence", words[1], -0.5)]
    res = ex.query(terms, "images", k=5)
    parts = [ex.image_query(png, 1).vector, ex.text_query(words[0], 1).vector, ex.text_query(words[1], 1).vector]
    want = _unit(parts[0].astype(np.float64) + parts[1] - 0.5 * parts[2])
    np.testing.assert_allclose(res.vector, want, atol=1e-5)
    rows, _ = _nearest(ex.emb.images, want, 5)
    assert [h.image_row for h in res.results] == rows.tolist()
