"""Metrics against an independent numpy re-implementation of VSE++ evaluation.py."""
from __future__ import annotations

import numpy as np
import pytest

from xmr_core.retrieval.metrics import (
    evaluate_coco,
    evaluate_embeddings,
    gt_mask_i2t,
    gt_mask_t2i,
    i2t_ranks,
    i2t_topk,
    recall_summary,
    t2i_ranks,
    t2i_topk,
)


# --- VSE++ evaluation.py, re-written from its algorithm (5 captions per image) -------
def vsepp_i2t(images: np.ndarray, captions: np.ndarray) -> tuple[float, ...]:
    """images (N, d) unique; captions (5N, d), captions 5i..5i+4 belong to image i."""
    npts = images.shape[0]
    ranks = np.zeros(npts)
    for index in range(npts):
        im = images[index].reshape(1, -1)
        d = np.dot(im, captions.T).flatten()
        inds = np.argsort(d)[::-1]
        rank = 1e20
        for i in range(5 * index, 5 * index + 5):
            tmp = np.where(inds == i)[0][0]
            if tmp < rank:
                rank = tmp
        ranks[index] = rank
    r1 = 100.0 * len(np.where(ranks < 1)[0]) / len(ranks)
    r5 = 100.0 * len(np.where(ranks < 5)[0]) / len(ranks)
    r10 = 100.0 * len(np.where(ranks < 10)[0]) / len(ranks)
    medr = np.floor(np.median(ranks)) + 1
    meanr = ranks.mean() + 1
    return r1, r5, r10, medr, meanr, ranks


def vsepp_t2i(images: np.ndarray, captions: np.ndarray) -> tuple[float, ...]:
    npts = images.shape[0]
    ranks = np.zeros(5 * npts)
    for index in range(npts):
        queries = captions[5 * index : 5 * index + 5]
        d = np.dot(queries, images.T)
        for i in range(len(queries)):
            inds = np.argsort(d[i])[::-1]
            ranks[5 * index + i] = np.where(inds == index)[0][0]
    r1 = 100.0 * len(np.where(ranks < 1)[0]) / len(ranks)
    r5 = 100.0 * len(np.where(ranks < 5)[0]) / len(ranks)
    r10 = 100.0 * len(np.where(ranks < 10)[0]) / len(ranks)
    medr = np.floor(np.median(ranks)) + 1
    meanr = ranks.mean() + 1
    return r1, r5, r10, medr, meanr, ranks


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _paired(rng: np.random.Generator, n: int, d: int = 16, noise: float = 1.2):
    """Images and 5 noisy captions each, so ranks spread over 0..N (not all 0, not chance)."""
    img = _unit(rng.standard_normal((n, d)))
    cap = _unit(np.repeat(img, 5, axis=0) + noise * rng.standard_normal((5 * n, d)))
    return img, cap, np.repeat(np.arange(n), 5)


def _check_summary(ours: dict, ref: tuple) -> None:
    for key, value in zip(("R@1", "R@5", "R@10", "medr", "meanr"), ref[:5]):
        assert ours[key] == pytest.approx(float(value), abs=1e-9), key


def test_matches_vsepp_random():
    rng = np.random.default_rng(0)
    img, cap, ci = _paired(rng, 200)
    ref_i2t, ref_t2i = vsepp_i2t(img.astype(np.float64), cap.astype(np.float64)), vsepp_t2i(
        img.astype(np.float64), cap.astype(np.float64)
    )
    ri, rt = i2t_ranks(img, cap, ci), t2i_ranks(img, cap, ci)
    np.testing.assert_array_equal(ri, ref_i2t[5])
    np.testing.assert_array_equal(rt, ref_t2i[5])
    res = evaluate_embeddings(img, cap, ci)
    _check_summary(res["i2t"], ref_i2t)
    _check_summary(res["t2i"], ref_t2i)
    assert res["rsum"] == pytest.approx(sum(ref_i2t[:3]) + sum(ref_t2i[:3]))
    assert (res["n_images"], res["n_captions"]) == (200, 1000)
    assert 0 < res["i2t"]["R@10"] < 100  # the test data is neither trivial nor chance


def test_caption_order_does_not_matter():
    rng = np.random.default_rng(1)
    img, cap, ci = _paired(rng, 50)
    perm = rng.permutation(len(cap))
    np.testing.assert_array_equal(i2t_ranks(img, cap, ci), i2t_ranks(img, cap[perm], ci[perm]))
    np.testing.assert_array_equal(t2i_ranks(img, cap, ci)[perm], t2i_ranks(img, cap[perm], ci[perm]))


def test_hand_computed_example():
    # 3 images on the axes of R^3; captions placed by hand.
    img = np.eye(3, dtype=np.float32)
    cap = _unit(np.array([
        [1.0, 0.1, 0.0],   # c0 -> image 0, nearest image 0
        [0.0, 1.0, 0.2],   # c1 -> image 0, nearest image 1 (a miss)
        [0.1, 0.0, 1.0],   # c2 -> image 1, nearest image 2 (miss); image 1 is 2nd
        [0.0, 0.2, 1.0],   # c3 -> image 2, nearest image 2
    ]))
    ci = np.array([0, 0, 1, 2])
    # t2i: c0 rank 0; c1: order 1,2,0 -> image 0 rank 2; c2: order 2,0,1 -> rank 2; c3 rank 0
    np.testing.assert_array_equal(t2i_ranks(img, cap, ci), [0, 2, 2, 0])
    # i2t: image 0 dots: c0 .995, c1 0, c2 .0995, c3 0 -> c0 first: rank 0
    # image 1 dots: c0 .0995, c1 .98, c2 0, c3 .196 -> its caption c2 is last: rank 3
    # image 2 dots: c0 0, c1 .196, c2 .995, c3 .98 -> c2, c3: its c3 is rank 1
    ranks, best = i2t_ranks(img, cap, ci, return_best=True)
    np.testing.assert_array_equal(ranks, [0, 3, 1])
    np.testing.assert_array_equal(best, [0, 2, 3])
    s = recall_summary(ranks, ks=(1, 2))
    assert s == {"R@1": pytest.approx(100 / 3), "R@2": pytest.approx(200 / 3), "medr": 2.0, "meanr": pytest.approx(7 / 3)}
    res = evaluate_embeddings(img, cap, ci, ks=(1,))
    assert res["t2i"]["R@1"] == 50.0 and res["rsum"] == pytest.approx(50 + 100 / 3)


def test_variable_caption_counts():
    rng = np.random.default_rng(2)
    n = 60
    img = _unit(rng.standard_normal((n, 8)))
    counts = rng.integers(1, 8, n)  # 1..7 captions per image, as in COCO's extras
    ci = np.repeat(np.arange(n), counts)
    cap = _unit(img[ci] + 1.0 * rng.standard_normal((len(ci), 8)))
    ri = i2t_ranks(img, cap, ci)
    rt = t2i_ranks(img, cap, ci)
    # reference: plain argsort, min over an image's captions
    d = img.astype(np.float64) @ cap.T.astype(np.float64)
    for q in range(n):
        inds = np.argsort(d[q])[::-1]
        assert ri[q] == min(np.where(inds == c)[0][0] for c in np.nonzero(ci == q)[0])
    for c in range(len(ci)):
        inds = np.argsort(d[:, c])[::-1]
        assert rt[c] == np.where(inds == ci[c])[0][0]


def test_image_without_caption_is_an_error():
    img = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="no caption"):
        i2t_ranks(img, img[:2], np.array([0, 1]))
    with pytest.raises(ValueError):
        t2i_ranks(img, img[:2], np.array([0, 5]))


def test_ties_rank_smaller_id_first():
    img = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)  # images 0, 1 identical
    cap = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    ci = np.array([0, 1, 2])
    np.testing.assert_array_equal(t2i_ranks(img, cap, ci), [0, 1, 0])
    np.testing.assert_array_equal(i2t_ranks(img, cap, ci), [0, 1, 0])


def test_coco_folds_on_5000_images():
    rng = np.random.default_rng(3)
    n, d = 5000, 32
    img, cap, ci = _paired(rng, n, d, noise=0.9)
    res = evaluate_coco(img, cap, ci, folds=5)
    c1, c5 = res["coco1k"], res["coco5k"]
    assert c1["n_images"] == 1000 and c1["n_folds"] == 5 and c1["dropped_images"] == 0
    assert c5["n_images"] == 5000 and c5["n_captions"] == 25000
    # fold f = images 1000f..1000f+999 with their own captions, as VSE++ slices
    for f, fold in enumerate(c1["folds"]):
        lo = 1000 * f
        sl = slice(5 * lo, 5 * lo + 5000)
        ref_i = vsepp_i2t(img[lo : lo + 1000].astype(np.float64), cap[sl].astype(np.float64))
        _check_summary(fold["i2t"], ref_i)
        assert fold["n_captions"] == 5000
    for side in ("i2t", "t2i"):
        for key in ("R@1", "R@5", "R@10", "medr", "meanr"):
            assert c1[side][key] == pytest.approx(np.mean([f[side][key] for f in c1["folds"]]))
    # a 5x larger gallery makes retrieval harder
    assert c5["i2t"]["R@1"] < c1["i2t"]["R@1"] and c5["t2i"]["R@10"] < c1["t2i"]["R@10"]


def test_coco_uneven_folds():
    rng = np.random.default_rng(4)
    img, cap, ci = _paired(rng, 23)
    res = evaluate_coco(img, cap, ci, folds=5)
    assert res["coco1k"]["n_images"] == 4 and res["coco1k"]["dropped_images"] == 3


def test_topk_helpers_agree_with_ranks():
    rng = np.random.default_rng(5)
    img, cap, ci = _paired(rng, 100)
    _, cids = i2t_topk(img, cap, 10)
    hit = gt_mask_i2t(np.arange(100), cids, ci).any(1)
    np.testing.assert_array_equal(hit, i2t_ranks(img, cap, ci) < 10)
    _, iids = t2i_topk(img, cap, 5)
    hit = gt_mask_t2i(np.arange(500), iids, ci).any(1)
    np.testing.assert_array_equal(hit, t2i_ranks(img, cap, ci) < 5)


def test_modality_gap_diagnostics():
    from xmr_core.retrieval.diagnostics import modality_gap

    rng = np.random.default_rng(6)
    img, cap, ci = _paired(rng, 40, noise=0.05)
    near = modality_gap(img, cap, ci)
    assert near["n_images"] == 40 and near["n_captions"] == 200
    assert near["mean_cos_pair"] > 0.9 and near["pair_closer_than_other_image"] > 0.9
    assert near["mean_dist_pair"] < near["mean_dist_nearest_other_image"]
    # shift every caption far along one axis: a large gap, captions cluster together
    shifted = cap + 3.0 * np.eye(16, dtype=np.float32)[0]
    far = modality_gap(img, shifted, ci)
    assert far["centroid_distance"] > near["centroid_distance"] + 0.5
    assert far["nearest_is_same_modality"] > 0.9 and far["mean_cos_text_text"] > far["mean_cos_image_image"]
    assert 0.0 <= far["text_centroid_norm"] <= 1.0


def _collapsed(seed: int, n: int, d: int, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n images and 5n captions all within ``noise`` of one direction (an untrained model's output)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(d)
    img = base + noise * rng.standard_normal((n, d))
    cap = base + noise * rng.standard_normal((5 * n, d))
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    cap /= np.linalg.norm(cap, axis=1, keepdims=True)
    return img, cap, np.repeat(np.arange(n), 5)


def test_band_rescoring_in_slices_matches_one_pass(monkeypatch):
    """Near-collapsed embeddings put almost every pair in the uncertain band; slicing it changes nothing."""
    import xmr_core.retrieval.metrics as M

    img, cap, ci = _collapsed(3, 40, 16, 1e-5)
    whole = (M.i2t_ranks(img, cap, ci), M.t2i_ranks(img, cap, ci))
    monkeypatch.setattr(M, "_BAND_SLICE", 7)
    sliced = (M.i2t_ranks(img, cap, ci), M.t2i_ranks(img, cap, ci))
    for a, b in zip(whole, sliced):
        np.testing.assert_array_equal(a, b)
    # and both equal a direct float64 computation
    s = img.astype(np.float64) @ cap.astype(np.float64).T
    best = np.array([max(np.flatnonzero(ci == i), key=lambda j: (s[i, j], -j)) for i in range(40)])
    ref = np.array([np.sum(s[i] > s[i, best[i]]) + np.sum((s[i] == s[i, best[i]]) & (np.arange(200) < best[i]))
                    for i in range(40)])
    assert (np.abs(whole[0] - ref) <= 1).all()  # float64 matmul vs einsum may order a near-tie differently


def test_dense_band_matches_pairwise_rescoring(monkeypatch):
    """A near-collapsed chunk is re-scored by one float64 matmul; ranks agree with the pairwise path."""
    import xmr_core.retrieval.metrics as M

    img, cap, ci = _collapsed(4, 60, 32, 3e-4)
    calls = []
    dense = M._dense_ranks
    monkeypatch.setattr(M, "_dense_ranks", lambda *a: calls.append(1) or dense(*a))
    fast = (M.i2t_ranks(img, cap, ci), M.t2i_ranks(img, cap, ci))
    assert calls  # the dense path ran
    monkeypatch.setattr(M, "_DENSE_BAND", 2.0)  # never dense: pairwise float64 re-scoring
    pairwise = (M.i2t_ranks(img, cap, ci), M.t2i_ranks(img, cap, ci))
    for a, b in zip(fast, pairwise):
        assert (np.abs(a - b) <= 1).all() and (a == b).mean() > 0.95  # float64 sums may order a near-tie apart
    assert len(calls) == 2
