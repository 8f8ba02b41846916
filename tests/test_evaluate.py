"""Embedding, evaluation, t-SNE and export on a fast demo run (built once), plus the CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """The session's fast demo run (shared with the app tests), with its environment set."""
    from test_app import fast_demo_run

    ck, data = fast_demo_run(tmp_path_factory)
    env = {"XMR_CHECKPOINTS": str(ck), "XMR_DATA_DIR": str(data), "XMR_RELEVANCE": "word-vectors"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield ck / "demo-fast", env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_demo_fast_builds_everything(fast_run):
    from test_app import BUILD_STAGES

    path, _ = fast_run
    if BUILD_STAGES:  # built in this session (not reused): the progress callback saw every stage
        assert {s for s, _ in BUILD_STAGES} >= {"data", "train", "evaluate", "t-SNE"}
        assert all(0.0 <= f <= 1.0 for _, f in BUILD_STAGES)
    for f in ("config.json", "model.pt", "metrics.json", "report.md", "embeddings/demo-400-test.npz",
              "tsne/demo-400-test/coords.npy", "tsne/demo-400-test/tsne.png"):
        assert (path / f).is_file(), f
    m = json.loads((path / "metrics.json").read_text())
    assert m["n_images"] == 100 and m["n_captions"] == 500 and m["split"] == "test"
    for d in ("i2t", "t2i"):
        assert set(m[d]) >= {"R@1", "R@5", "R@10", "medr", "meanr"}
        assert 0 <= m[d]["R@1"] <= m[d]["R@5"] <= m[d]["R@10"] <= 100
    assert m["rsum"] == pytest.approx(sum(m[d][f"R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)))
    sem = m["semantic"]
    assert sem["i2t"]["sR@10"] >= m["i2t"]["R@10"] - 1e-9  # GT counts as related
    report = (path / "report.md").read_text()
    assert "paper, config-2" in report and "Modality gap" in report


def test_demo_rebuild_is_reproducible(fast_run, tmp_path, monkeypatch):
    """``demo --force`` again: the same metrics, weights and map (same machine and thread count)."""
    import torch

    from xmr_core.cli.demo import build_demo

    path, _ = fast_run
    first = json.loads((path / "metrics.json").read_text())
    monkeypatch.setenv("XMR_RELEVANCE", first["semantic"]["relevance"])  # as the first build measured it
    again = build_demo(fast=True, out=tmp_path / "demo-fast", force=True, progress=lambda s, f, m: None)
    second = json.loads((again / "metrics.json").read_text())
    for key in ("i2t", "t2i", "rsum", "semantic", "n_images", "n_captions"):
        assert first[key] == second[key], key
    wa, wb = (torch.load(p / "model.pt", weights_only=True) for p in (path, again))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ea, eb = (np.load(p / "embeddings" / "demo-400-test.npz") for p in (path, again))
    np.testing.assert_array_equal(ea["captions"], eb["captions"])
    np.testing.assert_array_equal(*(np.load(p / "tsne" / "demo-400-test" / "coords.npy") for p in (path, again)))


def test_embeddings_cached_and_consistent(fast_run):
    from xmr_core.evaluation.split_embeddings import embed_split, load_embeddings
    from xmr_core.bundle.run import load_run

    path, _ = fast_run
    run = load_run(path)
    npz = path / "embeddings" / "demo-400-test.npz"
    mtime = npz.stat().st_mtime_ns
    assert embed_split(run, split="test") == npz
    assert npz.stat().st_mtime_ns == mtime  # not recomputed
    e = load_embeddings(npz)
    assert e.images.shape == (100, 128) and e.captions.shape == (500, 128)
    np.testing.assert_allclose(np.linalg.norm(e.images, axis=1), 1, atol=1e-4)
    assert (np.bincount(e.caption_image) == 5).all()
    # the stored vectors are what the model gives now: the split's first batch of captions again (the
    # same batch, so the same kernels: under bf16 a caption alone and in a batch can differ by ~1e-3)
    first = [str(t) for t in e.caption_text[: run.embedder.batch_size]]
    again = run.embedder.embed_texts(first)
    np.testing.assert_allclose(again, e.captions[: len(first)], atol=1e-4)


def test_explorer_queries(fast_run):
    from xmr_core.errors import EncodingError, ImageError
    from xmr_core.facade.explorer import Explorer

    path, _ = fast_run
    ex = Explorer(path)
    hits = ex.image_to_text(0, k=5)
    assert len(hits) == 5 and all(h["label"] in ("gt", "related", "unrelated") for h in hits)
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(hits[i]["distance"] <= hits[i + 1]["distance"] + 1e-6 for i in range(4))
    back = ex.text_to_image(0, k=5)
    assert any(h["label"] == "gt" for h in back) == (0 in [h["image_row"] for h in back])
    q = ex.text_query("a red circle on the left", k=10)
    assert len(q.results) == 10 and q.encoded.shape[2] == 3
    xy = ex.place(q.vector)
    assert xy.shape == (1, 2)
    img_bytes = Path(ex.image_path(3)).read_bytes()
    r = ex.image_query(img_bytes, k=5)
    assert len(r.results) == 5
    with pytest.raises(EncodingError):
        ex.text_query("   ")
    with pytest.raises(EncodingError):
        ex.text_query("qqqq zzzz")
    with pytest.raises(ImageError):
        ex.image_query(b"")
    with pytest.raises(ImageError):
        ex.image_query(b"not an image at all")
    df = ex.map_frame()
    assert len(df) == 600 and set(df["modality"]) == {"image", "text"}


def test_examples_pick_each_kind_and_label_like_the_app(fast_run, tmp_path):
    """Table-3 examples: picked queries are what their reason says; marks match Explorer's labels."""
    from xmr_core.evaluation.examples import examples_markdown, pick_queries
    from xmr_core.facade.explorer import Explorer

    path, env = fast_run
    ex = Explorer(path)
    for direction in ("i2t", "t2i"):
        picked = pick_queries(ex, direction, 6, k=5)
        assert len(picked) == 6 and len({q for q, _ in picked}) == 6
        related = set(ex.failed_but_related(direction, 5).tolist())
        for q, why in picked:
            hits = ex.image_to_text(q, 5) if direction == "i2t" else ex.text_to_image(q, 5)
            labels = [h["label"] for h in hits]
            if why == "annotated pair at rank 1":
                assert labels[0] == "gt"
            else:
                assert "gt" not in labels and ((q in related) == why.startswith("top-k misses the annotated pair"))
                assert ("related" in labels) == (q in related)
    md = examples_markdown(ex, n=2)
    assert md.count("**Query image**") == 2 and md.count("**Query caption**") == 2
    q0, _ = pick_queries(ex, "i2t", 2)[0]
    first = ex.image_to_text(q0, 5)[0]
    assert f"| 1 | {first['text']} |" in md
    r = _cli(env, "examples", "--run", str(path), "--n", "1", "--out", str(tmp_path / "ex.md"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "ex.md").read_text().count("**Query") == 2


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "xmr_core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={**os.environ, **env})


def test_cli_evaluate_tsne_export(fast_run, tmp_path):
    path, env = fast_run
    r = _cli(env, "evaluate", "--run", str(path), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout)
    assert m["n_images"] == 100
    r = _cli(env, "evaluate", "--run", str(path))
    assert "image->text" in r.stdout and "100 images, 500 captions" in r.stdout
    r = _cli(env, "tsne", "--run", str(path), "--out", str(tmp_path / "map.png"))
    assert r.returncode == 0 and (tmp_path / "map.png").is_file()
    r = _cli(env, "export", "--run", str(path), "--format", "parquet", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    import pandas as pd

    df = pd.read_parquet(tmp_path / "demo-400-test.parquet")
    assert len(df) == 600 and len(df["vector"].iloc[0]) == 128
    r = _cli(env, "export", "--run", str(path), "--format", "projector", "--out", str(tmp_path))
    assert r.returncode == 0
    vec = np.loadtxt(tmp_path / "demo-400-test-vectors.tsv", delimiter="\t")
    meta = (tmp_path / "demo-400-test-metadata.tsv").read_text().splitlines()
    assert vec.shape == (600, 128) and len(meta) == 601
    r = _cli(env, "evaluate", "--run", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such run folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.realdata
def test_coco_format_end_to_end(fast_run, shared_data):
    """A COCO-format dataset through loader -> embed -> evaluate with a run trained elsewhere."""
    from xmr_core.evaluation.evaluate import evaluate_run

    path, _ = fast_run
    ann = shared_data / "coco_mini" / "annotations" / "captions_val2017.json"
    m = evaluate_run(path, dataset=str(ann), split="val")
    assert m["n_images"] == 79 and m["n_captions"] == 395 and m["dataset"] == "coco-val2017"
    assert (path / "metrics" / "coco-val2017-val.json").is_file()
