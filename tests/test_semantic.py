"""Semantic relevance, NCS@K, sR@K and the per-query helpers on a hand-made vocabulary."""
from __future__ import annotations

import numpy as np
import pytest

from xmr_core.retrieval.semantic import (
    SentenceEmbedder,
    WordVectorSentenceEmbedder,
    caption_relevance,
    failed_but_related,
    ideal_relevances,
    label_results,
    ncs_at_k,
    relevance_i2t,
    relevance_t2i,
    semantic_evaluate,
    semantic_recall_at_k,
)

# Tiny "KeyedVectors": dogs and puppies point one way, food another.
KV = {
    "dog": np.array([1.0, 0.0, 0.0]),
    "puppy": np.array([0.9, 0.1, 0.0]),
    "runs": np.array([0.0, 1.0, 0.0]),
    "running": np.array([0.1, 0.9, 0.0]),
    "pizza": np.array([0.0, 0.0, 1.0]),
    "plate": np.array([0.0, 0.1, 0.9]),
}
CAPTIONS = [
    "A dog runs.",        # 0 -> image 0
    "dog running",        # 1 -> image 0
    "a puppy running!",   # 2 -> image 1 (semantically like image 0)
    "pizza on a plate",   # 3 -> image 2
    "Plate of pizza",     # 4 -> image 2
]
CI = np.array([0, 0, 1, 2, 2])


@pytest.fixture()
def rel():
    emb = WordVectorSentenceEmbedder(KV)
    return caption_relevance(emb(CAPTIONS), CI, 3, kind=emb.kind)


def test_word_vector_embedder():
    emb = WordVectorSentenceEmbedder(KV)
    assert isinstance(emb, SentenceEmbedder) and emb.kind == "word-vectors"
    e = emb(["dog runs", "unknown words only", "DOG, runs!"])
    assert e.shape == (3, 3) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e[0]), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(e[1], 0.0)  # all OOV -> zero vector
    np.testing.assert_allclose(e[0], e[2], atol=1e-7)  # tokeniser: case and punctuation
    np.testing.assert_allclose(e[0], [2**-0.5, 2**-0.5, 0], atol=1e-6)


def test_relevance_values(rel):
    r = relevance_i2t(rel, np.array([0, 0]), np.array([[0, 2, 3], [1, 4, 2]]))
    assert r[0, 0] == 1.0 and r[1, 0] == 1.0  # GT captions count 1.0
    assert r[0, 1] > 0.95  # "a puppy running" is about image 0's content
    assert r[0, 2] < 0.2  # pizza is not
    t = relevance_t2i(rel, np.array([2]), np.array([[1, 0, 2]]))
    assert t[0, 0] == 1.0 and t[0, 1] > 0.95 and t[0, 2] < 0.2
    # image-image relevance is symmetric, 1 on the diagonal
    ii = rel.image_image(np.array([0, 1]), np.array([[0, 1], [0, 1]]))
    np.testing.assert_allclose(ii[0, 0], 1.0, rtol=1e-6)
    np.testing.assert_allclose(ii[0, 1], ii[1, 0], rtol=1e-6)


@pytest.mark.parametrize("mode", ["centroid", "mean", "max"])
def test_modes_dense_matches_gather(mode):
    emb = WordVectorSentenceEmbedder(KV)
    rel = caption_relevance(emb(CAPTIONS), CI, 3, mode=mode)
    dense_i2t = rel.dense("i2t", np.arange(3))
    np.testing.assert_allclose(dense_i2t, rel.i2t(np.arange(3), np.tile(np.arange(5), (3, 1))), atol=1e-6)
    dense_t2i = rel.dense("t2i", np.arange(5))
    np.testing.assert_allclose(dense_t2i, rel.t2i(np.arange(5), np.tile(np.arange(3), (5, 1))), atol=1e-6)
    assert dense_i2t.max() <= 1.0 and dense_t2i.min() >= -1.0


def test_ncs_bounds_and_ideal(rel):
    q = np.arange(3)
    ideal = ideal_relevances(rel, "i2t", q, 3)
    assert (np.diff(ideal, axis=1) <= 1e-7).all() and (ideal[:, 0] == 1.0).all()
    # the ideal retrieval (gallery sorted by relevance) scores exactly 1
    order = np.argsort(-rel.dense("i2t", q), axis=1, kind="stable")[:, :3]
    assert ncs_at_k(rel.i2t(q, order), ideal, 3) == pytest.approx(1.0)
    # the worst ranking scores lower but stays in [0, 1]
    worst = np.argsort(rel.dense("i2t", q), axis=1, kind="stable")[:, :3]
    per = ncs_at_k(rel.i2t(q, worst), ideal, 3, per_query=True)
    assert ((per >= 0) & (per <= 1)).all() and per.mean() < 0.8
    # negative relevances are clipped to 0, never below
    assert ncs_at_k(np.array([[-1.0, -1.0]]), np.array([[1.0, 0.5]])) == 0.0
    assert ncs_at_k(np.array([[0.0]]), np.array([[0.0]])) == 1.0


def test_semantic_recall_threshold():
    r = np.array([[0.2, 0.85, 0.1], [0.5, 0.6, 0.7], [1.0, 0.0, 0.0]])
    assert semantic_recall_at_k(r, 1, 0.8) == pytest.approx(100 / 3)
    assert semantic_recall_at_k(r, 2, 0.8) == pytest.approx(200 / 3)
    assert semantic_recall_at_k(r, 3, 0.7) == 100.0
    assert semantic_recall_at_k(r, 3, 0.9) == pytest.approx(100 / 3)
    np.testing.assert_array_equal(semantic_recall_at_k(r, 2, 0.8, per_query=True), [True, False, True])


def test_labels_and_failed_but_related(rel):
    labels = label_results("i2t", 0, [2, 0, 3], rel, threshold=0.8)
    assert [lab for lab, _ in labels] == ["related", "gt", "unrelated"]
    assert labels[1][1] == 1.0
    labels = label_results("t2i", 2, [0, 1, 2], rel, threshold=0.8)
    assert [lab for lab, _ in labels] == ["related", "gt", "unrelated"]
    # image 0 retrieves caption 2 (puppy, not its own) first: an R@1 miss, but related
    got = failed_but_related("i2t", np.array([0, 1, 2]), np.array([[2], [2], [0]]), rel, k=1, threshold=0.8)
    assert got.tolist() == [0]  # image 1 hit its GT; image 2 got an unrelated dog caption
    got = failed_but_related("t2i", np.array([0, 3]), np.array([[1], [0]]), rel, k=1, threshold=0.8)
    assert got.tolist() == [0]


def test_semantic_evaluate_end_to_end():
    emb = WordVectorSentenceEmbedder(KV)
    # retrieval embeddings: perfect pairing -> sR@K = 100, NCS@1 = 100 (GT relevance 1 is ideal)
    img = np.eye(3, dtype=np.float32)
    cap = img[CI]
    res = semantic_evaluate(img, cap, CI, CAPTIONS, emb, ks=(1, 2))
    assert res["relevance"] == "word-vectors" and res["threshold"] == 0.8
    assert set(res["i2t"]) == {"NCS@1", "NCS@2", "sR@1", "sR@2"}
    assert res["i2t"]["sR@1"] == 100.0 and res["t2i"]["sR@1"] == 100.0
    assert res["i2t"]["NCS@1"] == pytest.approx(100.0) and res["t2i"]["NCS@1"] == pytest.approx(100.0)
    # swap images 0 and 1 in the image embeddings: misses, but semantically related ones
    img2 = img[[1, 0, 2]]
    res2 = semantic_evaluate(img2, cap, CI, CAPTIONS, emb, ks=(1,), threshold=0.8)
    assert res2["t2i"]["sR@1"] == 100.0  # dog <-> puppy images are related
    assert res2["t2i"]["NCS@1"] < 100.0
    res3 = semantic_evaluate(img2, cap, CI, CAPTIONS, emb, ks=(1,), threshold=0.999)
    # at 0.999 only the 2 pizza captions (GT) and "A dog runs" (its embedding equals
    # "a puppy running", image 1's only caption: relevance 1.0) still count; "dog
    # running" vs image 1 is ~0.995 and "a puppy running" vs image 0 is ~0.9987
    assert res3["t2i"]["sR@1"] == pytest.approx(60.0)
    assert res2["i2t"]["sR@1"] == 100.0 and res2["i2t"]["NCS@1"] < 100.0
