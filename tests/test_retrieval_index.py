"""ExactIndex / FaissIndex against a brute-force numpy reference."""
from __future__ import annotations

import numpy as np
import pytest

from xmr_core.retrieval.index import ExactIndex, FaissIndex, Index, faiss_available, make_index


def _unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(q: np.ndarray, g: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(np.maximum(((q[:, None, :].astype(np.float64) - g[None, :, :]) ** 2).sum(-1), 0))
    ids = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, ids, 1), ids


def test_exact_matches_bruteforce():
    rng = np.random.default_rng(0)
    g, q = _unit(rng, 300), _unit(rng, 50)
    index = ExactIndex()
    index.add(g)
    assert isinstance(index, Index) and len(index) == 300
    d, i = index.search(q, 10)
    bd, bi = _brute(q, g, 10)
    assert d.shape == (50, 10) and d.dtype == np.float32 and i.dtype == np.int64
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, atol=1e-5)  # L2, not squared


def test_non_unit_vectors_use_true_l2():
    rng = np.random.default_rng(1)
    g = rng.standard_normal((200, 8)).astype(np.float32) * rng.uniform(0.1, 3, (200, 1)).astype(np.float32)
    q = rng.standard_normal((20, 8)).astype(np.float32)
    d, i = make_index(g).search(q, 7)
    bd, bi = _brute(q, g, 7)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("qc,gc", [(1, 1), (3, 7), (16, 64), (7, 1000)])
def test_tiny_chunks_same_result(qc, gc):
    rng = np.random.default_rng(2)
    g, q = _unit(rng, 130), _unit(rng, 23)
    full = ExactIndex()
    full.add(g)
    ref_d, ref_i = full.search(q, 9)
    small = ExactIndex(query_chunk=qc, gallery_chunk=gc)
    small.add(g[:50])
    small.add(g[50:])  # incremental add keeps ids
    d, i = small.search(q, 9)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_allclose(d, ref_d, atol=1e-6)


@pytest.mark.parametrize("gc", [1000, 4, 3])
def test_ties_broken_by_smaller_id(gc):
    base = np.eye(4, dtype=np.float32)
    # rows 0..3 are distinct axes; rows 4..9 duplicate axis 0 -> exact distance ties
    g = np.concatenate([base, np.repeat(base[:1], 6, axis=0)])
    index = ExactIndex(gallery_chunk=gc)
    index.add(g)
    d, i = index.search(base[:1], 5)
    assert i[0].tolist() == [0, 4, 5, 6, 7]
    assert np.allclose(d[0], 0)
    d, i = index.search(base[1:2], 3)  # 0, 2, 3 and duplicates all at sqrt(2): smallest ids
    assert i[0].tolist() == [1, 0, 2]


def test_k_clamped_and_empty():
    rng = np.random.default_rng(3)
    index = ExactIndex()
    d, i = index.search(_unit(rng, 2), 5)
    assert d.shape == (2, 0)
    index.add(_unit(rng, 3))
    d, i = index.search(_unit(rng, 2), 5)
    assert i.shape == (2, 3) and sorted(i[0].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 5), np.float32), 1)


def test_make_index_errors():
    with pytest.raises(ValueError):
        make_index(np.zeros((2, 3), np.float32), backend="nope")
    if not faiss_available():
        with pytest.raises(ImportError, match="faiss"):
            make_index(np.zeros((2, 3), np.float32), backend="faiss")


@pytest.mark.skipif(not faiss_available(), reason="faiss not installed")
def test_exact_vs_faiss_flat():
    rng = np.random.default_rng(4)
    g, q = _unit(rng, 2000, 32), _unit(rng, 300, 32)
    e = make_index(g, backend="exact")
    f = make_index(g, backend="faiss", kind="flat")
    assert isinstance(f, FaissIndex) and f.resolved_kind == "flat" and isinstance(f, Index)
    ed, ei = e.search(q, 10)
    fd, fi = f.search(q, 10)
    np.testing.assert_allclose(ed, fd, atol=1e-5)
    # identical neighbours except where float32 rounding swaps a near-tie
    agree = ei == fi
    assert agree.mean() > 0.999
    # rows whose distances are well separated (no near-tie) must agree exactly
    sep = (np.diff(ed, axis=1) > 1e-5).all(1)
    assert (agree.all(1) | ~sep).all()


@pytest.mark.skipif(not faiss_available(), reason="faiss not installed")
def test_faiss_ivf_recall():
    rng = np.random.default_rng(5)
    g, q = _unit(rng, 3000, 16), _unit(rng, 100, 16)
    f = FaissIndex(kind="ivf", nprobe=64)
    f.add(g)
    assert f.resolved_kind == "ivf"
    fd, fi = f.search(q, 5)
    _, bi = _brute(q, g, 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(fi.tolist(), bi.tolist())])
    assert recall > 0.95


@pytest.mark.parametrize("unit", [True, False])
def test_grouped_topk_matches_bruteforce_on_wide_galleries(unit):
    """Galleries wide enough for the two-stage (grouped) top-k, with a ragged last group."""
    rng = np.random.default_rng(6)
    g = _unit(rng, 3001, 8)
    if not unit:
        g = g * rng.uniform(0.2, 2.0, (3001, 1)).astype(np.float32)
    q = _unit(rng, 97, 8)
    for k in (1, 10, 30):
        d, i = make_index(g).search(q, k)
        bd, bi = _brute(q, g, k)
        np.testing.assert_array_equal(i, bi)
        np.testing.assert_allclose(d, bd, rtol=1e-4, atol=1e-4)


def test_grouped_topk_ties_across_groups_by_smaller_id():
    """Exact duplicates spread over many groups: the k-th place goes to the smaller id."""
    rng = np.random.default_rng(7)
    g = _unit(rng, 4000, 8)
    target = _unit(rng, 1, 8)[0]
    dup_ids = np.array([3999, 2500, 1700, 64, 900, 33, 3000, 1234, 77, 2222, 5, 3500])
    g[dup_ids] = target  # 12 identical best matches, in 12 different groups
    index = make_index(g, backend="exact")
    for k in (3, 10, 11):
        d, i = index.search(target[None, :], k)
        assert i[0].tolist() == sorted(dup_ids.tolist())[:k]
    # queries away from the duplicates still agree with the stable brute force
    q = _unit(rng, 40, 8)
    np.testing.assert_array_equal(index.search(q, 10)[1], _brute(q, g, 10)[1])


def _spy(monkeypatch) -> dict[str, int]:
    """Count the bf16 re-scores and float32 block searches an ExactIndex search makes."""
    calls = {"rescore": 0, "float32": 0}
    for name, key in (("_rescore_topk", "rescore"), ("_exact_block", "float32")):
        orig = getattr(ExactIndex, name)

        def wrapped(self, *a, _orig=orig, _key=key, **kw):
            calls[_key] += 1
            return _orig(self, *a, **kw)

        monkeypatch.setattr(ExactIndex, name, wrapped)
    return calls


@pytest.mark.parametrize("qc,gc", [(512, 16384), (7, 4096)])
def test_bf16_screen_matches_float64_reference(monkeypatch, qc, gc):
    """Unit gallery wide enough for the bf16 screen (k=22 asks the screen for 22 + 8 re-ranking
    candidates: 124 groups a block), one block or two."""
    rng = np.random.default_rng(8)
    g, q = _unit(rng, 8192, 32), _unit(rng, 40, 32)
    calls = _spy(monkeypatch)
    index = ExactIndex(bf16_screen=True, query_chunk=qc, gallery_chunk=gc)
    index.add(g)
    for k in (1, 10, 22):
        d, i = index.search(q, k)
        bd, bi = _brute(q, g, k)
        np.testing.assert_array_equal(i, bi)
        np.testing.assert_allclose(d, bd, atol=2e-6)  # float64 scores, not bf16 ones
    assert calls["rescore"] > 0 and calls["float32"] == 0


def _near_ties(rng: np.random.Generator, q: np.ndarray, n_close: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors whose scores with q are 0.9 + step * (a shuffled 0..n_close-1), so they
    differ by ``step`` - far below bf16's resolution (~0.004 at 0.9)."""
    w = rng.standard_normal((n_close, q.shape[0]))
    w -= np.outer(w @ q, q)  # orthogonal to q
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    c = 0.9 + step * rng.permutation(n_close)
    return (c[:, None] * q + np.sqrt(1 - c[:, None] ** 2) * w).astype(np.float32), c


def test_bf16_screen_rescores_near_ties_below_bf16_resolution(monkeypatch):
    """Scores 1e-4 apart collapse in bf16; the result must still follow the float64 order
    (fails if the candidates are ranked by their bf16 scores instead of re-scored)."""
    rng = np.random.default_rng(9)
    g, q = _unit(rng, 6000, 32), _unit(rng, 5, 32)
    for j in range(len(q)):  # 40 near-tied vectors per query, at scattered ids
        close, _ = _near_ties(rng, q[j].astype(np.float64), 40, 1e-4)
        g[rng.choice(len(g), 40, replace=False)] = close
        g[rng.choice(len(g), 1)] = close[0]  # and one exact duplicate: a tie by id
    calls = _spy(monkeypatch)
    index = make_index(g, bf16_screen=True)
    for k in (1, 10, 30):
        d, i = index.search(q, k)
        bd, bi = _brute(q, g, k)
        np.testing.assert_array_equal(i, bi)
        np.testing.assert_allclose(d, bd, atol=2e-6)
    assert calls["rescore"] > 0 and calls["float32"] == 0


@pytest.mark.parametrize("k", [3, 10, 11])
def test_bf16_screen_ties_across_groups_by_smaller_id(monkeypatch, k):
    """Exact duplicates in 12 groups, the k-th place inside the tie: smaller ids win."""
    rng = np.random.default_rng(10)
    g = _unit(rng, 6000, 32)
    target = _unit(rng, 1, 32)[0]
    dup_ids = np.array([5999, 2500, 1700, 64, 900, 33, 3000, 1234, 77, 2222, 5, 3500])
    g[dup_ids] = target
    calls = _spy(monkeypatch)
    index = make_index(g, bf16_screen=True)
    d, i = index.search(np.stack([target, -target]), k)
    assert i[0].tolist() == sorted(dup_ids.tolist())[:k]
    np.testing.assert_allclose(d[0], 0, atol=1e-3)
    assert calls["rescore"] > 0 and calls["float32"] == 0


def test_clustered_gallery_falls_back_to_float32(monkeypatch):
    """Thousands of near-duplicates all pass the bf16 screen: the block is done in float32."""
    rng = np.random.default_rng(11)
    centers = _unit(rng, 3, 32)
    g = centers[rng.integers(0, 3, 6000)] + 0.01 * rng.standard_normal((6000, 32)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = centers + 0.001 * rng.standard_normal((3, 32)).astype(np.float32)
    q = np.concatenate([q / np.linalg.norm(q, axis=1, keepdims=True), _unit(rng, 20, 32)])
    calls = _spy(monkeypatch)
    index = ExactIndex(bf16_screen=True, query_chunk=3)
    index.add(g)
    d, i = index.search(q, 10)
    bd, bi = _brute(q, g, 10)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, atol=2e-5)  # |q|^2 + 1 - 2 s cancels near 0
    assert calls["float32"] > 0


def test_non_unit_wide_gallery_skips_the_bf16_screen(monkeypatch):
    rng = np.random.default_rng(12)
    g = _unit(rng, 6000, 32) * rng.uniform(0.5, 1.5, (6000, 1)).astype(np.float32)
    q = _unit(rng, 30, 32)
    calls = _spy(monkeypatch)
    d, i = make_index(g, bf16_screen=True).search(q, 10)
    bd, bi = _brute(q, g, 10)
    np.testing.assert_array_equal(i, bi)
    np.testing.assert_allclose(d, bd, rtol=1e-5, atol=1e-5)
    assert calls["rescore"] == 0 and calls["float32"] > 0


def test_worker_threads_same_result_and_thread_count_restored():
    """Several threads search query slices in workers; torch's thread count comes back."""
    import threading

    import torch

    rng = np.random.default_rng(13)
    g, q = _unit(rng, 4000, 16), _unit(rng, 300, 16)  # 3 workers of 100 queries
    ref = ExactIndex(num_threads=1)
    ref.add(g)
    rd, ri = ref.search(q, 10)
    index = ExactIndex(num_threads=3, query_chunk=100)
    index.add(g)
    before = torch.get_num_threads()
    out = [None, None]

    def run(j):
        out[j] = index.search(q, 10)

    workers = [threading.Thread(target=run, args=(j,)) for j in range(2)]  # concurrent searches
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert torch.get_num_threads() == before
    for d, i in out:
        np.testing.assert_array_equal(i, ri)
        np.testing.assert_allclose(d, rd, atol=1e-6)  # float32 sums of other shapes: last bit
    np.testing.assert_array_equal(ri, _brute(q, g, 10)[1])


def test_bf16_screen_defaults_to_native_bf16_hardware(monkeypatch):
    """Auto: the screen only where bf16 is native (emulated bf16 is slower than float32)."""
    import xmr_core.retrieval.index as m

    for native in (False, True):
        monkeypatch.setattr(m, "cpu_has_native_bf16", lambda native=native: native)
        assert ExactIndex().bf16_screen is native
        assert ExactIndex(bf16_screen=not native).bf16_screen is (not native)


def _float32_ties(rng: np.random.Generator, n_q: int, n_g: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Captions in clusters of near-duplicates (1e-8 apart: float32 scores cannot order them, float64
    can), five a cluster, one cluster an image: the case where the map's hit / miss and R@K disagreed
    on the Intel Xeon when one ranked by float32 and the other by float64."""
    img = _unit(rng, n_q, d)
    base = img + 0.3 * rng.standard_normal(img.shape).astype(np.float32)
    cap = np.repeat(base, 5, axis=0).astype(np.float64) + 1e-8 * rng.standard_normal((5 * n_q, d))
    cap = (cap / np.linalg.norm(cap, axis=1, keepdims=True)).astype(np.float32)
    # the captions' images: shuffled within clusters of neighbours so a near-duplicate is often another image's
    owner = np.repeat(np.arange(n_q), 5)
    rng.shuffle(owner)
    return img, cap, owner


@pytest.mark.parametrize("bf16", [False, True])
def test_index_and_metric_share_one_ranking_rule(bf16):
    """Top-k of the index (Table 3, the map's hit / miss) is the float64 rule's, ties by smaller id, and
    its hits are exactly R@K's ranks < k: the two cannot disagree, whatever the CPU's float32 kernels."""
    from xmr_core.retrieval.metrics import i2t_ranks, t2i_ranks
    from xmr_core.retrieval.ranking import pair_scores

    rng = np.random.default_rng(21)
    img, cap, owner = _float32_ties(rng, 60, 300, 16)
    index = ExactIndex(bf16_screen=bf16)
    index.add(cap)
    _, ids = index.search(img, 10)
    s = np.stack([pair_scores(np.repeat(img[i:i + 1], len(cap), 0), cap, True) for i in range(len(img))])
    ref = np.lexsort((np.broadcast_to(np.arange(len(cap)), s.shape), -s), axis=1)[:, :10]
    np.testing.assert_array_equal(ids, ref)
    hits = (owner[ids] == np.arange(len(img))[:, None]).any(1)
    np.testing.assert_array_equal(hits, i2t_ranks(img, cap, owner) < 10)
    index = ExactIndex(bf16_screen=bf16)
    index.add(img)
    _, ids = index.search(cap, 10)
    np.testing.assert_array_equal((ids == owner[:, None]).any(1), t2i_ranks(img, cap, owner) < 10)


def test_rows_crowded_by_duplicates_are_ranked_over_the_whole_gallery():
    """More exact duplicates at the k-th place than the float32 pass hands over: the row is redone
    over the whole gallery and still comes out by the rule (equal scores: smaller id first)."""
    rng = np.random.default_rng(5)
    g = _unit(rng, 200, 8)
    g[50:90] = g[3]  # 41 identical vectors
    q = g[3:4] + 0.01 * _unit(rng, 1, 8)
    index = ExactIndex(bf16_screen=False)
    index.add(g)
    d, i = index.search(q, 10)
    assert i[0].tolist() == [3] + list(range(50, 59))
    assert np.all(np.diff(d[0]) >= 0)
