"""The tuned faiss index (issue 24): chosen within a memory budget, tuned on held-out queries to a
recall target that it then meets on other queries, saved and loaded memory-mapped."""
from __future__ import annotations

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from xmr_core.retrieval.tuned_index import (Target, TunedIndex, candidates, load_tuned, memory_estimate,  # noqa: E402
                                            save_tuned, tune_index)


def _gallery(n: int, d: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors (400 centres + noise), and two query sets drawn alike (not in the gallery)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((400, d)).astype(np.float32)

    def draw(m: int) -> np.ndarray:
        v = centres[rng.integers(0, len(centres), m)] + 0.35 * rng.standard_normal((m, d)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return draw(n), draw(200), draw(300)


def _exact(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k by brute force in float64 numpy (independent of faiss)."""
    q64, x64 = q.astype(np.float64), x.astype(np.float64)
    d2 = (q64 ** 2).sum(1)[:, None] - 2 * q64 @ x64.T + (x64 ** 2).sum(1)[None, :]
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="module")
def tuned():
    faiss.omp_set_num_threads(1)
    x, tune_q, test_q = _gallery(20_000)
    index, choice, every = tune_index(x, tune_q, test_q, Target(recall=0.95, k=10, p50_ms=50.0))
    return x, test_q, index, choice, every


def test_the_tuned_index_meets_its_recall_target_on_other_queries(tuned):
    x, test_q, index, choice, _ = tuned
    assert choice.factory.startswith("IVF") and "nprobe=" in choice.params
    truth = _exact(x, test_q, 10)
    _, found = TunedIndex(index, choice).search(test_q, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.95, (choice, recall)
    assert choice.recall_at_k == pytest.approx(recall, abs=0.01)  # what it reports is what it does
    assert choice.meets and choice.p50_ms is not None and choice.p50_ms <= 50.0


def test_the_tuned_parameters_are_not_the_cheapest(tuned):
    """Tuning is doing something: at nprobe=1 the same index misses the target."""
    x, test_q, index, choice, _ = tuned
    truth = _exact(x, test_q, 10)
    faiss.ParameterSpace().set_index_parameters(index, "nprobe=1")
    _, found = index.search(test_q, 10)
    faiss.ParameterSpace().set_index_parameters(index, choice.params)
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]) < 0.95


def test_saved_and_loaded_memory_mapped_it_answers_alike(tuned, tmp_path):
    x, test_q, index, choice, _ = tuned
    path = save_tuned(index, choice, tmp_path / "images.faiss", {"n": len(x)})
    loaded = load_tuned(path)
    assert loaded.mapped and len(loaded) == len(x) and loaded.choice.params == choice.params
    d1, i1 = TunedIndex(index, choice).search(test_q[:50], 10)
    d2, i2 = loaded.search(test_q[:50], 10)
    assert np.array_equal(i1, i2) and np.allclose(d1, d2)
    assert np.all(np.diff(d2, axis=1) >= 0)  # L2 distances ascending
    exact = np.sqrt(((test_q[:1].astype(np.float64) - x[i2[0, 0]]) ** 2).sum())
    assert d2[0, 0] == pytest.approx(exact, abs=2e-2)  # L2, not squared (SQ8 codes: approximate)
    with pytest.raises(ValueError, match="read-only"):
        loaded.add(x[:1])


def test_the_memory_budget_decides_the_candidates():
    n, d = 1_000_000, 128
    assert memory_estimate("IVF4096_HNSW32,Flat", n, d) > n * d * 4
    assert memory_estimate("IVF4096_HNSW32,SQ8", n, d) < memory_estimate("IVF4096_HNSW32,Flat", n, d) / 3
    names = [f for f, _ in candidates(n, d, Target(memory_bytes=1 << 30))]
    assert names == ["IVF4096_HNSW32,SQ8", "IVF4096_HNSW32,Flat"]
    assert [f for f, _ in candidates(n, d, Target(memory_bytes=300 << 20))] == ["IVF4096_HNSW32,SQ8"]
    assert candidates(n, d, Target(memory_bytes=1 << 20)) == []
    x, q1, q2 = _gallery(2_000)
    with pytest.raises(ValueError, match="memory budget"):
        tune_index(x, q1, q2, Target(memory_bytes=1000))


def test_a_split_gallery_past_the_threshold_gets_a_saved_tuned_index(tmp_path):
    from xmr_core.retrieval.index import ExactIndex
    from xmr_core.retrieval.tuned_index import gallery_index

    x, q1, q2 = _gallery(6_000, seed=3)
    queries = np.concatenate([q1, q2])
    assert isinstance(gallery_index(x, queries, tmp_path / "g.faiss", "k1", threshold=10_000), ExactIndex)
    target = Target(p50_ms=50.0)
    first = gallery_index(x, queries, tmp_path / "g.faiss", "k1", target, threshold=5_000)
    assert isinstance(first, TunedIndex) and first.mapped and (tmp_path / "g.faiss").is_file()
    stamp = (tmp_path / "g.faiss").stat().st_mtime_ns
    again = gallery_index(x, queries, tmp_path / "g.faiss", "k1", target, threshold=5_000)
    assert (tmp_path / "g.faiss").stat().st_mtime_ns == stamp  # loaded, not tuned again
    assert np.array_equal(first.search(q2[:20], 5)[1], again.search(q2[:20], 5)[1])
    gallery_index(x, queries, tmp_path / "g.faiss", "other vectors", target, threshold=5_000)
    assert (tmp_path / "g.faiss").stat().st_mtime_ns != stamp  # another key: tuned and saved anew
