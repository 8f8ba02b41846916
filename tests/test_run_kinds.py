"""Run kinds (issue 23): a ``network`` run, the CCA ``reference`` as a run, ``embeddings`` imported from
vectors. Each kind through ``load_run`` and the Explorer, the pages (AppTest), ``import``'s bad inputs
(nothing written), the export -> import round trip (the same R@K and Table-3 rows), the split picker.

Built from the fast demo run of ``test_app`` (no real data needed); the Flickr8k test is ``realdata``.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_app import _navigation_v2, _ok, _page, _text, fast_demo_run  # noqa: F401 - the AppTest fixture and helpers

ROOT = Path(__file__).resolve().parents[1]


def _with_data(data: Path):
    """``XMR_DATA_DIR`` set to the fast demo's data folder while building (restored after)."""
    class _Env:
        def __enter__(self):
            self.old = os.environ.get("XMR_DATA_DIR")
            os.environ["XMR_DATA_DIR"] = str(data)

        def __exit__(self, *exc):
            if self.old is None:
                os.environ.pop("XMR_DATA_DIR", None)
            else:
                os.environ["XMR_DATA_DIR"] = self.old
    return _Env()


def kinds_runs(tmp_path_factory) -> tuple[Path, Path]:
    """(runs folder, data folder) holding one run of each kind, all on the fast demo's data:
    ``demo-fast`` (network), ``cca-fast`` (the CCA reference fitted on its train split),
    ``imported`` (demo-fast's test vectors exported and imported) and ``imported-val`` (its val split
    only, so the app must open on val). Built once per session."""
    from xmr_core.bundle.importer import ImportConfig, import_run
    from xmr_core.evaluation.export import export_run
    from xmr_core.evaluation.reference import CCAConfig, fit_reference, save_reference

    ck, data = fast_demo_run(tmp_path_factory)
    base = tmp_path_factory.getbasetemp() / "xmr-kinds"
    runs = base / "runs"
    if (runs / "cca-fast" / "metrics.json").is_file():
        return runs, data
    runs.mkdir(parents=True, exist_ok=True)
    net = ck / "demo-fast"
    spec = json.loads((net / "config.json").read_text())["dataset"]["spec"]
    with _with_data(data):
        if not (runs / "demo-fast").exists():
            (runs / "demo-fast").symlink_to(net, target_is_directory=True)
        for split, name in (("test", "imported"), ("val", "imported-val")):
            pq = export_run(net, "parquet", split=split, out=base / "export", force=True)[0]
            import_run(ImportConfig(images=str(pq), captions=str(pq), dataset=spec, split=split,
                                    vectors=str(net / "vectors.bin")), runs / name, overwrite=True)
        enc, m = fit_reference(spec, None, split="val", cfg=CCAConfig(image_size=64, dim=16, w2v_epochs=3),
                               progress=False)
        save_reference(enc, m, runs / "cca-fast", spec, None, overwrite=True)
    return runs, data


@pytest.fixture(scope="session")
def kinds(tmp_path_factory):
    return kinds_runs(tmp_path_factory)


@pytest.fixture
def kenv(kinds, monkeypatch):
    runs, data = kinds
    monkeypatch.setenv("XMR_CHECKPOINTS", str(runs))
    monkeypatch.setenv("XMR_DATA_DIR", str(data))
    return runs


def _png() -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(im).ellipse([20, 20, 76, 76], fill=(220, 30, 30))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# ---- load_run, each kind -------------------------------------------------------------------------
def test_each_kind_through_load_run(kenv):
    from xmr_core.bundle.run import list_runs, load_run
    from xmr_core.network.cca_encoder import CCAEncoder
    from xmr_core.network.inference import Embedder

    assert [p.name for p in list_runs()] == ["cca-fast", "demo-fast", "imported", "imported-val"]
    net, ref, emb = (load_run(kenv / n) for n in ("demo-fast", "cca-fast", "imported"))
    assert (net.kind, ref.kind, emb.kind) == ("network", "reference", "embeddings")
    assert isinstance(net.embedder, Embedder) and net.encoder is not None and net.can_encode
    assert isinstance(ref.embedder, CCAEncoder) and ref.encoder is None and ref.can_encode
    assert emb.embedder is None and emb.encoder is None and not emb.can_encode
    assert ref.embedder.dim == 16 and ref.model_cfg is None and len(ref.weights_sha256) == 64
    cfg = json.loads((kenv / "imported" / "config.json").read_text())
    assert emb.weights_sha256 == cfg["embeddings"]["sha256"] and cfg["embeddings"]["splits"] == ["test"]
    for run in (net, ref, emb):   # the relevance model's word vectors, whatever the kind
        assert run.word_vectors is not None and len(run.word_vectors.key_to_index) > 10


def test_committed_bundles_without_a_kind_are_network_runs():
    from xmr_core.bundle.run import load_run

    for name in ("demo", "demo-paper"):
        assert "kind" not in json.loads((ROOT / "checkpoints" / name / "config.json").read_text())
        assert load_run(ROOT / "checkpoints" / name).kind == "network"


def test_a_fresh_clone_lists_an_imported_run_that_is_the_demo():
    """checkpoints/demo-imported is the committed demo's test vectors exported (parquet) and imported:
    a fresh clone lists it beside demo and demo-paper, and its figures are the demo's own (a demo
    rebuilt without re-importing them would fail here)."""
    from xmr_core.bundle.run import list_runs, load_run

    names = {p.name for p in list_runs(ROOT / "checkpoints")}
    assert {"demo", "demo-paper", "demo-imported"} <= names
    run = load_run(ROOT / "checkpoints" / "demo-imported")
    assert run.kind == "embeddings" and not run.can_encode
    ours, imported = (json.loads((ROOT / "checkpoints" / n / "metrics.json").read_text())
                      for n in ("demo", "demo-imported"))
    for d in ("i2t", "t2i"):
        assert imported[d] == ours[d], d


def test_compare_opens_beside_a_run_that_answers_sentences(kenv):
    """On a fresh clone Compare opens demo beside demo-paper (its imported vectors sort between them);
    an embeddings run is the partner only when nothing else is there."""
    from xmr_core.bundle.run import list_runs
    from xmr_core.bundle.kinds import compare_partner

    fresh = [str(p) for p in list_runs(ROOT / "checkpoints") if p.name.startswith("demo")]
    demo = str(ROOT / "checkpoints" / "demo")
    assert Path(compare_partner(fresh, demo)).name == "demo-paper"
    assert Path(compare_partner([demo, str(ROOT / "checkpoints" / "demo-imported")], demo)).name == "demo-imported"
    assert compare_partner([demo], demo) == demo
    kinds = {p.name: str(p) for p in list_runs(kenv)}  # network, reference, embeddings
    assert Path(compare_partner([kinds["imported"], kinds["cca-fast"], kinds["demo-fast"]],
                                kinds["demo-fast"])).name == "cca-fast"


def test_unknown_kind_and_damaged_reference_are_one_error(kenv, tmp_path):
    import shutil

    import torch

    from xmr_core.bundle.run import load_run
    from xmr_core.errors import RunError

    bad = tmp_path / "bad"
    shutil.copytree(kenv / "cca-fast", bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "kind": "clip"}))
    with pytest.raises(RunError, match="kind 'clip' is not one of network, reference, embeddings"):
        load_run(bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    sd = torch.load(bad / "reference.pt", weights_only=True)
    torch.save({**sd, "w_x": sd["w_x"][:, :5]}, bad / "reference.pt")        # a projection of another size
    with pytest.raises(RunError, match="do not fit a CCA"):
        load_run(bad)
    torch.save({**sd, "mean_y": sd["mean_y"] * float("nan")}, bad / "reference.pt")
    with pytest.raises(RunError, match="NaN"):
        load_run(bad)
    torch.save({"tensors": sd, "note": object()}, bad / "reference.pt")      # pickled objects: refused
    with pytest.raises(RunError, match="not a loadable weights file"):
        load_run(bad)
    (bad / "reference.pt").unlink()
    with pytest.raises(RunError, match="incomplete reference run bundle, missing reference.pt"):
        load_run(bad)


# ---- the Explorer, each kind ------------------------------------------------------------------------
def test_reference_answers_photos_and_sentences_like_a_network(kenv):
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(kenv / "cca-fast", split="test")
    words = [w for w in ("a", "red", "circle", "blue", "square") if w in ex.run.word_vectors.key_to_index]
    res = ex.text_query(" ".join(words) + " qqzzx", k=5)
    assert len(res.results) == 5 and res.encoded is None and abs(np.linalg.norm(res.vector) - 1) < 1e-5
    assert any("qqzzx" in n for n in res.notes)                       # the OOV word is named
    direct = ex.run.embedder.embed_texts([" ".join(words)])[0]       # the same calls a network run offers
    assert np.allclose(res.vector, direct, atol=1e-6)
    d = np.linalg.norm(ex.emb.images - res.vector, axis=1)
    assert [h.image_row for h in res.results] == np.argsort(d, kind="stable")[:5].tolist()
    img = ex.image_query(_png(), k=3, name="red.png")
    assert len(img.results) == 3 and all(h.text for h in img.results)
    from xmr_core.errors import EncodingError

    with pytest.raises(EncodingError, match="none of the words"):
        ex.text_query("qqzzx wwvvb")


def test_embeddings_run_searches_items_and_says_why_not_new_queries(kenv):
    from xmr_core.errors import RunError
    from xmr_core.facade.app_support import handle_image_query, handle_text_query
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(kenv / "imported", split="test")
    net = Explorer(kenv / "demo-fast", split="test")
    assert ex.n_images == net.n_images and np.allclose(ex.emb.images, net.emb.images, atol=1e-6)
    assert [h.caption_row for h in ex.image_to_text(3, 5)] == [h.caption_row for h in net.image_to_text(3, 5)]
    assert ex.neighbours("caption", 0, k=3)["images"]
    with pytest.raises(RunError, match="embeddings run .* cannot embed a new sentence"):
        ex.text_query("a red circle")
    res, err = handle_image_query(ex, _png())
    assert res is None and "cannot embed a new image" in err
    assert handle_text_query(ex, "a red circle")[1].startswith("`imported` is an embeddings run")
    with pytest.raises(RunError, match="no vectors for .*-val.npz"):
        Explorer(kenv / "imported", split="val")


# ---- import: the round trip and the formats ------------------------------------------------------------
def test_export_then_import_gives_the_same_recall_and_table3_rows(kenv):
    from xmr_core.evaluation.examples import examples_markdown
    from xmr_core.facade.explorer import Explorer

    # each run's test-split metrics file (metrics.json is whichever split was evaluated last, and the
    # session-wide fast run is evaluated on other splits by other tests)
    a, b = (json.loads(next((kenv / n / "metrics").glob("*-test.json")).read_text()) for n in ("demo-fast", "imported"))
    for d in ("i2t", "t2i"):
        assert a[d] == b[d]
    assert a["rsum"] == b["rsum"]
    if a["semantic"]["relevance"] == b["semantic"]["relevance"]:  # the shared fast run may have been
        assert a["semantic"]["i2t"] == b["semantic"]["i2t"]       # evaluated with word-vector relevance
    # The same vectors give the same rows at one threshold. Each run's stored threshold comes from its own
    # last calibration, and the shared fast run may have been re-evaluated with another relevance model by
    # other tests (then it falls back to the default), so both use the imported run's threshold here.
    exs = [Explorer(kenv / n, None, "test") for n in ("demo-fast", "imported")]
    assert exs[0].relevance_kind == exs[1].relevance_kind
    exs[0].threshold = exs[1].threshold
    rows = [examples_markdown(ex, 4, 5) for ex in exs]
    assert rows[0] == rows[1] and "**GT**" in rows[0] and rows[0].count("| 1 |") == 8   # 4 queries a direction


def _split_ids(kenv):
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(kenv / "demo-fast", split="test")
    return ex.emb, json.loads((kenv / "demo-fast" / "config.json").read_text())["dataset"]["spec"]


def test_import_reads_npz_npy_and_the_projector_export(kenv, tmp_path):
    from xmr_core.bundle.importer import ImportConfig, checked_vectors
    from xmr_core.evaluation.export import export_run

    emb, spec = _split_ids(kenv)
    from xmr_core.data import load_dataset

    ds = load_dataset(spec).split("test")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(emb.images))   # any row order: aligned by id
    np.savez(tmp_path / "img.npz", ids=emb.image_ids[order], vectors=emb.images[order] * 3.0)
    np.save(tmp_path / "cap.npy", emb.captions)
    (tmp_path / "cap.ids.txt").write_text("\n".join(emb.caption_ids.tolist()) + "\n")
    img, cap = checked_vectors(ImportConfig(str(tmp_path / "img.npz"), str(tmp_path / "cap.npy"), spec), ds)
    assert np.allclose(img, emb.images, atol=1e-6) and np.allclose(cap, emb.captions, atol=1e-6)
    vec, _ = export_run(kenv / "demo-fast", "projector", split="test", out=tmp_path / "proj")
    img, cap = checked_vectors(ImportConfig(str(vec), str(vec), spec), ds)
    assert np.allclose(img, emb.images, atol=1e-5) and np.allclose(cap, emb.captions, atol=1e-5)


@pytest.mark.parametrize("damage, message", [
    ("wrong ids", "are not in the split"),
    ("missing ids", "have no vector"),
    ("twice", "has two vectors"),
    ("dimension", "one space needs one dimension"),
    ("nan", "hold NaN or infinite values"),
    ("zero", "are all zeros"),
    ("column", "no column 'vector'"),
    ("not unit", "are not unit length"),
])
def test_import_refuses_bad_vectors_and_writes_nothing(kenv, tmp_path, damage, message):
    import pandas as pd

    emb, spec = _split_ids(kenv)
    img_ids, imgs = list(emb.image_ids), emb.images.copy()
    cap = pd.DataFrame({"caption_id": emb.caption_ids, "vector": list(emb.captions)})
    normalise = "l2"
    if damage == "wrong ids":
        img_ids[0] = "no-such-image.png"
    elif damage == "missing ids":
        img_ids, imgs = img_ids[1:], imgs[1:]
    elif damage == "twice":
        img_ids[1] = img_ids[0]
    elif damage == "dimension":
        imgs = np.concatenate([imgs, imgs[:, :1]], axis=1)
    elif damage == "nan":
        imgs[2, 3] = np.nan
    elif damage == "zero":
        imgs[4] = 0
    elif damage == "not unit":
        imgs, normalise = imgs * 2, "none"
    df = pd.DataFrame({"image_id": img_ids, "vector": list(imgs)})
    if damage == "column":
        df = df.rename(columns={"vector": "embedding"})
    df.to_parquet(tmp_path / "img.parquet")
    cap.to_parquet(tmp_path / "cap.parquet")
    runs = tmp_path / "runs"
    runs.mkdir()
    env = dict(os.environ, XMR_CHECKPOINTS=str(runs), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "xmr_core", "import", "--name", "bad", "--images",
                        str(tmp_path / "img.parquet"), "--captions", str(tmp_path / "cap.parquet"), "--dataset", spec,
                        "--split", "test", "--normalise", normalise, "--no-evaluate"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert "img.parquet" in lines[0]                      # the file is named
    assert list(runs.iterdir()) == []                     # no run, no staging folder, no lock left behind


def test_import_refuses_to_replace_a_run_and_cleans_up_a_failure(kenv, tmp_path, monkeypatch):
    from xmr_core.bundle import importer
    from xmr_core.bundle.importer import ImportConfig, import_run
    from xmr_core.errors import XmrError

    emb, spec = _split_ids(kenv)
    np.savez(tmp_path / "i.npz", ids=emb.image_ids, vectors=emb.images)
    np.savez(tmp_path / "c.npz", ids=emb.caption_ids, vectors=emb.captions)
    cfg = ImportConfig(str(tmp_path / "i.npz"), str(tmp_path / "c.npz"), spec,
                       vectors=str(kenv / "demo-fast" / "vectors.bin"))
    runs = tmp_path / "runs"
    import_run(cfg, runs / "one", evaluate=False)
    with pytest.raises(XmrError, match="a run of that name exists"):
        import_run(cfg, runs / "one", evaluate=False)

    def broken(*a, **k):  # a failure while writing: the staging folder goes, nothing is listed
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer, "_records", broken)
    with pytest.raises(OSError):
        import_run(cfg, runs / "two", evaluate=False)
    assert sorted(p.name for p in runs.iterdir()) == ["one"]


# ---- splits ----------------------------------------------------------------------------------------
def test_split_picker_offers_the_runs_splits(kenv):
    from xmr_core.bundle.kinds import default_split, run_splits

    assert run_splits(kenv / "demo-fast") == ["test", "val", "train"]
    assert run_splits(kenv / "imported-val") == ["val"]
    assert default_split(["val", "train"]) == "val" and default_split(["train", "test", "val"]) == "test"


def test_a_dataset_without_test_opens_on_val(tmp_path):
    """A run on a Karpathy JSON with only train and val: the picker offers those, and opens on val."""
    from xmr_core.bundle.kinds import default_split, run_splits
    from xmr_core.data.demo import generate_demo

    path = generate_demo(tmp_path, n_images=60, seed=3, image_size=48, n_val=10, n_test=10)
    data = json.loads(Path(path).read_text())
    data["images"] = [{**im, "split": "val" if im["split"] == "test" else im["split"]} for im in data["images"]]
    Path(path).write_text(json.dumps(data))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": {"spec": str(path), "images_dir": str(tmp_path / "images")}}))
    splits = run_splits(run)
    assert splits == ["val", "train"] and default_split(splits) == "val"


# ---- the pages ------------------------------------------------------------------------------------------
PAGES = ["pages/overview.py", "pages/encoded_text.py", "pages/embedding_map.py", "pages/retrieval.py",
         "pages/query.py", "pages/compare.py"]


@pytest.mark.parametrize("name", ["cca-fast", "imported", "imported-val"])
def test_every_page_opens_on_each_kind(kenv, name):
    from streamlit.testing.v1 import AppTest

    from test_app import APP, TIMEOUT

    for page in PAGES:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["xmr_run"] = str(kenv / name)
        at.run()
        at.switch_page(page).run()
        _ok(at)
        pick = at.sidebar.selectbox(key="xmr_split_pick")
        assert pick.value == ("val" if name == "imported-val" else "test")
        assert pick.options == (["val"] if name == "imported-val" else ["test"] if name == "imported"
                                else ["test", "val", "train"])
        text = _text(at)
        if page == "pages/encoded_text.py":
            assert ("is the CCA reference" if name == "cca-fast" else "is an embeddings run") in text
        if page == "pages/query.py" and name != "cca-fast":
            assert "cannot embed a new image" in text and "cannot embed a new sentence" in text
            assert at.text_input(key="q_sentence").disabled
        if page == "pages/overview.py":
            assert ("CCA reference" if name == "cca-fast" else "imported vectors") in text


def test_query_page_on_the_reference(kenv):
    from streamlit.testing.v1 import AppTest

    from test_app import APP, TIMEOUT

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["xmr_run"] = str(kenv / "cca-fast")
    at.run()
    at.switch_page("pages/query.py").run()
    at.text_input(key="q_sentence").input("a red circle").run()
    _ok(at)
    assert "mean of its words' Word2Vec vectors" in _text(at) and at.button(key="q_txt_map") is not None


def test_compare_network_beside_reference_and_embeddings(kenv):
    from streamlit.testing.v1 import AppTest

    from test_app import APP, TIMEOUT

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["xmr_run"] = str(kenv / "demo-fast")
    at.run()
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="cmp_b").set_value(str(kenv / "cca-fast")).run()
    at.text_input(key="cmp_sentence").input("a red circle").run()
    _ok(at)
    assert sum("library time" in c.value for c in at.caption) == 2       # both runs answered the sentence
    cols = at.dataframe[0].value.columns.tolist()
    assert "demo-fast" in cols and "cca-fast" in cols
    at.selectbox(key="cmp_b").set_value(str(kenv / "imported")).run()
    _ok(at)
    assert sum("library time" in c.value for c in at.caption) == 1
    assert any("is an embeddings run" in i.value for i in at.info)


# ---- real data ----------------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.slow
def test_flickr8k_reference_run_answers_a_photo_and_a_sentence(shared_data, tmp_path, monkeypatch):
    """The CCA on Flickr8k saved as a run (a few minutes on one core): its val R@10 as the command printed,
    and an uploaded photo and a typed sentence answered through the Explorer."""
    f8k = shared_data / "flickr8k"
    if not (f8k / "dataset_flickr8k.json").is_file():
        pytest.skip("Flickr8k is absent")
    monkeypatch.setenv("XMR_CHECKPOINTS", str(tmp_path))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "xmr_core", "reference", "--dataset", str(f8k / "dataset_flickr8k.json"),
                        "--images-dir", str(f8k / "images"), "--split", "val", "--save", str(tmp_path / "cca-f8k"),
                        "--json"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=3000)
    assert r.returncode == 0, r.stderr[-2000:]
    fit = json.loads(r.stdout)
    from xmr_core.facade.explorer import Explorer

    ex = Explorer(tmp_path / "cca-f8k", split="val")
    m = ex.metrics()
    assert fit["i2t"]["R@10"] > 30 and abs(m["i2t"]["R@10"] - fit["i2t"]["R@10"]) <= 0.5   # evaluate agrees with the fit
    res = ex.image_query(Path(ex.image_path(0)).read_bytes(), k=10)   # an upload of a gallery photo
    assert len(res.results) == 10 and float(res.vector @ ex.emb.images[0]) > 0.98
    res = ex.text_query("a dog runs on the grass", k=10)
    assert len(res.results) == 10 and float(res.vector @ ex.run.embedder.embed_texts(["a dog runs on the grass"])[0]) > 0.999
