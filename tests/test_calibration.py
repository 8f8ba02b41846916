"""The "related" threshold calibrated per dataset from its own captions (xmr_core/retrieval/calibration.py):
the threshold where it is known, determinism, what evaluate stores, what the Explorer uses, the Overview chart."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xmr_core.retrieval.calibration import (calibrate, calibration_for, eer_threshold, negative_scores, positive_scores,
                                            precision_threshold, stored_threshold)
from xmr_core.retrieval.sentences import DEFAULT_THRESHOLDS, WordVectorSentenceEmbedder


class OneHotWords:
    """KeyedVectors-like: every word its own orthogonal unit vector."""

    def __init__(self, words: list[str]) -> None:
        self.index = {w: i for i, w in enumerate(words)}
        self.vector_size = len(words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        v = np.zeros(self.vector_size, np.float32)
        v[self.index[word]] = 1.0
        return v


def _topic_captions(n_images: int = 12, per_image: int = 5) -> tuple[list[str], np.ndarray]:
    """Image i's captions are "topic<i> detail<i>_<k>": one shared word, one word of their own."""
    texts, owner = [], []
    for i in range(n_images):
        for k in range(per_image):
            texts.append(f"topic{i} detail{i}x{k}")
            owner.append(i)
    return texts, np.array(owner)


def test_known_threshold_on_a_generated_caption_set():
    # Mean of one-hot word vectors: caption = (t + u_k)/sqrt2. Against the centroid of the 4 other captions,
    # (4t + sum u_j)/sqrt(20), the cosine is 4 / (sqrt2 * sqrt20) for every caption; against another image's
    # captions it is 0 (no shared word). The classes separate, so the threshold is halfway across the gap.
    texts, owner = _topic_captions()
    words = sorted({w for t in texts for w in t.split()})
    emb = WordVectorSentenceEmbedder(OneHotWords(words))(texts)
    p = 4 / (math.sqrt(2) * math.sqrt(20))
    pos, neg = positive_scores(emb, owner), negative_scores(emb, owner, seed=3)
    assert np.allclose(pos, p, atol=1e-6) and len(pos) == len(texts)
    assert np.allclose(neg, 0.0, atol=1e-6)                # never the caption's own image (that would be > 0)
    cal = calibrate(emb, owner, kind="word-vectors", dataset="gen", split="test")
    assert cal["threshold"] == pytest.approx(p / 2, abs=1e-3)
    assert cal["eer"] == 0.0 and cal["errors"] == {"positives_unrelated": 0.0, "negatives_related": 0.0}
    assert cal["default_threshold"] == DEFAULT_THRESHOLDS["word-vectors"]
    assert cal["default_errors"]["positives_unrelated"] == 1.0   # 0.8 calls every same-image caption unrelated
    assert cal["n_positives"] == cal["n_negatives"] == len(texts)
    h = cal["histogram"]
    assert len(h["edges"]) == len(h["positives"]) + 1 == len(h["negatives"]) + 1
    assert sum(h["positives"]) == sum(h["negatives"]) == len(texts)
    assert cal["source"] == {"dataset": "gen", "split": "test", "captions": len(texts),
                             "what": cal["source"]["what"]}


def test_eer_where_the_distributions_cross():
    # positives uniform on [0.4, 1.0], negatives uniform on [0.0, 0.6]: the error rates are equal at 0.5,
    # where each is (0.5 - 0.4) / 0.6 = 1/6. At a 1:1 prior precision (1-t) / ((1-t) + (0.6-t)) is 0.9 at 0.55.
    pos = np.linspace(0.4, 1.0, 6001)
    neg = np.linspace(0.0, 0.6, 6001)
    t, eer = eer_threshold(pos, neg)
    assert t == pytest.approx(0.5, abs=1e-3) and eer == pytest.approx(1 / 6, abs=1e-3)
    assert precision_threshold(pos, neg, 0.9) == pytest.approx(0.55, abs=1e-3)
    assert precision_threshold(neg, pos, 0.9) is None       # swapped classes never reach 90 %
    t_shift, _ = eer_threshold(pos + 0.1, neg + 0.1)        # follows the data
    assert t_shift == pytest.approx(0.6, abs=1e-3)
    with pytest.raises(ValueError):
        eer_threshold(pos, np.array([]))


def test_calibration_is_deterministic():
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(30, 16))
    owner = np.repeat(np.arange(30), 5)
    emb = topics[owner] + 0.8 * rng.normal(size=(150, 16))
    a = calibrate(emb, owner, seed=7)
    b = calibrate(emb.copy(), owner.copy(), seed=7)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = calibrate(emb, owner, seed=8)
    assert c["histogram"]["negatives"] != a["histogram"]["negatives"]   # the seed picks the negatives
    assert c["positives"] == a["positives"]                              # positives use every caption
    assert 0.0 < a["threshold"] < 1.0 and a["positives"]["median"] > a["threshold"] > a["negatives"]["median"]
    with pytest.raises(ValueError):
        calibrate(emb[:5], np.zeros(5, int))                # one image: no negatives


def test_splits_that_cannot_be_calibrated_keep_the_default():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(20, 8))
    assert calibration_for(emb, np.arange(20)) is None             # one caption an image: no positives
    assert calibration_for(emb, np.zeros(20, int)) is None         # one image: no negatives
    assert calibration_for(emb, np.repeat(np.arange(4), 5), seed=2) == calibrate(emb, np.repeat(np.arange(4), 5), seed=2)


def test_stored_threshold():
    m = {"semantic": {"threshold": 0.43, "calibration": {"relevance": "minilm", "threshold": 0.43}}}
    assert stored_threshold(m, "minilm") == 0.43
    assert stored_threshold(m, "word-vectors") is None       # calibrated for another relevance model
    assert stored_threshold(None, "minilm") is None
    assert stored_threshold({"semantic": {"threshold": 0.72}}, "minilm") is None
    assert stored_threshold({"semantic": {"calibration": {"relevance": "minilm", "threshold": "x"}}}, "minilm") is None
    assert stored_threshold({"semantic": {"calibration": {"relevance": "minilm", "threshold": 7.0}}}, "minilm") is None


def test_calibration_figure():
    from pages._calibration import NEGATIVES, POSITIVES, calibration_caption, calibration_figure

    texts, owner = _topic_captions()
    words = sorted({w for t in texts for w in t.split()})
    cal = calibrate(WordVectorSentenceEmbedder(OneHotWords(words))(texts), owner, kind="word-vectors")
    fig = calibration_figure(cal)
    assert [t.name for t in fig.data] == [POSITIVES, NEGATIVES]
    assert all(sum(t.y) == pytest.approx(1.0) for t in fig.data)
    xs = sorted(s.x0 for s in fig.layout.shapes)
    assert xs == pytest.approx(sorted([cal["threshold"], cal["default_threshold"]]))
    assert f"{cal['threshold']:.2f}" in calibration_caption(cal)
    bad = dict(cal, histogram=dict(cal["histogram"], positives=[1, 2]))
    with pytest.raises(ValueError):
        calibration_figure(bad)


# ---- what evaluate stores, what the Explorer and the Overview use (the fast demo run of test_app) ----------------
@pytest.fixture
def calibrated_runs(tmp_path_factory, tmp_path, monkeypatch):
    """A runs folder holding the fast demo run, evaluated by this code (so its metrics carry a calibration)."""
    pytest.importorskip("streamlit")
    import shutil

    from test_app import fast_demo_run

    from xmr_core.evaluation.evaluate import evaluate_run

    ck, data = fast_demo_run(tmp_path_factory)
    monkeypatch.setenv("XMR_DATA_DIR", str(data))
    m = json.loads((ck / "demo-fast" / "metrics.json").read_text())
    if "calibration" not in m["semantic"]:  # a reused build from older code: evaluate a copy anew
        shutil.copytree(ck / "demo-fast", tmp_path / "runs" / "demo-fast")
        ck = tmp_path / "runs"
        evaluate_run(ck / "demo-fast", split="test")
    monkeypatch.setenv("XMR_CHECKPOINTS", str(ck))
    return ck


def test_evaluate_stores_the_calibration_and_the_explorer_uses_it(calibrated_runs, tmp_path):
    import shutil

    from xmr_core.facade.explorer import Explorer

    s = json.loads((calibrated_runs / "demo-fast" / "metrics.json").read_text())["semantic"]
    cal = s["calibration"]
    assert s["threshold"] == cal["threshold"] and cal["rule"] == "eer"
    assert cal["source"]["split"] == "test" and cal["relevance"] == s["relevance"]
    assert cal["n_positives"] == s["n_captions"]
    ex = Explorer(calibrated_runs / "demo-fast")
    assert (ex.threshold, ex.threshold_source) == (cal["threshold"], "calibrated")
    labels = [h.label for h in ex.image_to_text(0, k=10)]
    rel = [h.relevance for h in ex.image_to_text(0, k=10)]
    assert all(lab == "gt" or (lab == "related") == (r >= cal["threshold"]) for lab, r in zip(labels, rel))
    from xmr_core.evaluation.calibration_report import label_change

    from xmr_core.retrieval.metrics import evaluate_embeddings
    from xmr_core.retrieval.semantic import semantic_evaluate

    e = ex.emb  # the metric as evaluate computes it, on these embeddings (a near-chance run's ties make a
    m = evaluate_embeddings(e.images, e.captions, e.caption_image)  # re-embedding shift its ranks)
    sem = semantic_evaluate(e.images, e.captions, e.caption_image, list(e.caption_text), ex.sentence_embedder,
                            threshold=cal["threshold"], text_emb=ex.caption_sem)
    lab = label_change(ex, {"calibrated": cal["threshold"], "none": 1.0})  # only the GT (1.0) is related
    for d in ("i2t", "t2i"):
        assert lab[d]["R@K"]["R@10"] == pytest.approx(m[d]["R@10"], abs=0.01)
        assert lab[d]["calibrated"]["sR@10"] == pytest.approx(sem[d]["sR@10"], abs=0.01)
        assert lab[d]["none"]["sR@5"] == pytest.approx(m[d]["R@5"], abs=0.01)   # nothing related: sR@K = R@K
        assert lab[d]["none"]["related_share_top5"] == 0.0
    # without a stored calibration the labels fall back to the default threshold
    shutil.copytree(calibrated_runs / "demo-fast", tmp_path / "old")
    for p in [tmp_path / "old" / "metrics.json", *(tmp_path / "old" / "metrics").glob("*.json")]:
        m = json.loads(p.read_text())
        m["semantic"].pop("calibration")
        p.write_text(json.dumps(m))
    old = Explorer(tmp_path / "old")
    assert (old.threshold, old.threshold_source) == (DEFAULT_THRESHOLDS.get(old.relevance_kind, 0.8), "default")


def test_overview_shows_both_distributions(calibrated_runs, monkeypatch):
    import plotly.io as pio
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest
    from test_app import APP, TIMEOUT

    from pages._calibration import NEGATIVES, POSITIVES

    init = PagesManager.__init__  # as test_app's _navigation_v2: every AppTest run goes through app.py

    def patched(self, *a, **kw):
        init(self, *a, **kw)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)
    cal = json.loads((calibrated_runs / "demo-fast" / "metrics.json").read_text())["semantic"]["calibration"]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    figs = [pio.from_json(c.proto.spec, skip_invalid=True) for c in at.get("plotly_chart")]
    chart = [f for f in figs if [t.name for t in f.data] == [POSITIVES, NEGATIVES]]
    assert len(chart) == 1
    assert cal["threshold"] in [pytest.approx(s.x0) for s in chart[0].layout.shapes]
    assert any(f"{cal['threshold']:.2f}" in c.value and "equal error rate" in c.value for c in at.caption)


def test_ideal_labels_and_text_side_query():
    from xmr_core.evaluation.calibration_report import ideal_labels, text_side_query
    from xmr_core.retrieval.semantic import caption_relevance

    # images 2g and 2g+1 share the word topic<g>: a caption (t + u)/sqrt2 scores 5 / (sqrt2 * sqrt30) against its
    # twin image's centroid (5t + sum u)/sqrt30 and 0 against every other image
    texts = [f"topic{i // 2} detail{i}x{k}" for i in range(8) for k in range(5)]
    owner = np.repeat(np.arange(8), 5)
    embedder = WordVectorSentenceEmbedder(OneHotWords(sorted({w for t in texts for w in t.split()})))
    rel = caption_relevance(embedder(texts), owner, kind="word-vectors")
    twin = 5 / (math.sqrt(2) * math.sqrt(30))
    out = ideal_labels(rel, {"low": twin - 0.01, "high": twin + 0.01}, k=5)
    assert out["low"] == {"threshold": twin - 0.01, "related_share_ideal_top5": 0.2, "rank1_related": 1.0,
                          "related_images_per_query": 1.0}
    assert out["high"]["related_share_ideal_top5"] == out["high"]["related_images_per_query"] == 0.0
    q = text_side_query(rel, texts, embedder, "topic3", {"low": 0.5, "high": 0.95}, k=3)
    assert q["related_images"] == {"low": 2, "high": 0}            # cos(t, centroid) = 5 / sqrt30 = 0.913
    assert [r["image_row"] for r in q["top"][:2]] == [6, 7] and q["top"][0]["first_caption"] == "topic3 detail6x0"
    assert q["top"][0]["relevance"] == pytest.approx(5 / math.sqrt(30), abs=1e-4)
    assert (q["top"][0]["low"], q["top"][0]["high"], q["top"][2]["low"]) == ("related", "unrelated", "unrelated")
