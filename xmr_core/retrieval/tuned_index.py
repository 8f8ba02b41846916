"""An index for millions (issue 24): a faiss index chosen and tuned to a target, saved with the run,
memory-mapped when loaded.

What autofaiss does, with faiss's own tools (autofaiss does not install beside our pins):

1. **Candidates** (:func:`candidates`): faiss factory strings sized to the gallery: an inverted file of
   ``nlist`` ~ 4 sqrt(n) lists (a power of two; an HNSW coarse quantiser from 1M vectors, so that
   assigning a query to its lists stays cheap) with full vectors (``Flat``) or 8-bit scalar codes
   (``SQ8``), or a graph (``HNSW32``); each with its memory estimated (:func:`memory_estimate`), those
   over the memory budget dropped.
2. **Tuning** on held-out queries: exact neighbours from ``IndexFlatL2``; ``faiss.ParameterSpace.explore``
   walks ``nprobe`` / ``efSearch`` (and the quantiser's ``efSearch``) and keeps the Pareto-optimal
   settings of recall@k against time; the cheapest setting with recall@k >= the target is taken.
3. **Check**: p50 / p99 latency of one query a call at that setting, on other held-out queries;
   the chosen candidate is the one that meets recall, latency and memory with the least memory
   (then the least latency); if none meets all, the best recall within the budgets, reported so.

``save_tuned`` writes the index (``faiss.write_index``) and a JSON of the choice beside it;
``load_tuned`` reads it with ``IO_FLAG_MMAP`` (the inverted lists / vectors stay on disk, paged
in as queries touch them) and applies the tuned parameters. :class:`TunedIndex` follows the
``Index`` conventions (L2 distances, not squared; ties by the smaller id).
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..files import atomic_path, write_json_atomic
from .faiss_index import IVF_THRESHOLD, _stable_order
from .index_base import as_matrix, empty_result

__all__ = ["Target", "TunedIndex", "tune_index", "candidates", "memory_estimate", "save_tuned", "load_tuned",
           "gallery_index", "TUNE_THRESHOLD"]

# Galleries from this size get a tuned index (below it exact search is fast enough: bench_search).
TUNE_THRESHOLD = IVF_THRESHOLD


@dataclass(frozen=True)
class Target:
    """What the tuned index must reach: recall@k against exact search on held-out queries, p50
    latency of one query a call, and the index's memory."""

    recall: float = 0.95
    k: int = 10
    p50_ms: float = 10.0
    memory_bytes: int = 1 << 30


@dataclass
class Choice:
    """One candidate as measured: its factory string, tuned parameters and figures."""

    factory: str
    params: str = ""
    memory_estimate: int = 0
    build_s: float = 0.0
    tune_s: float = 0.0
    recall_tuning: float = 0.0
    recall_at_1: float | None = None
    recall_at_k: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    meets: bool = False
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _nlist(n: int) -> int:
    """~4 sqrt(n) lists, a power of two, with >= 39 training points a list (faiss's minimum)."""
    want = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n))))
    return int(max(1, min(want, n // 39 or 1)))


def candidates(n: int, d: int, target: Target = Target()) -> list[tuple[str, int]]:
    """``[(factory string, estimated bytes), ...]`` for ``n`` vectors of ``d`` dims within the memory
    budget, least memory first."""
    nlist = _nlist(n)
    coarse = f"IVF{nlist}_HNSW32" if n >= 1_000_000 else f"IVF{nlist}"
    out = [f"{coarse},SQ8", f"{coarse},Flat"]
    if n < 1_000_000:  # a graph over every vector: its one-thread build is the slowest past that
        out.append("HNSW32")
    sized = sorted(((f, memory_estimate(f, n, d)) for f in out), key=lambda x: x[1])
    return [(f, m) for f, m in sized if m <= target.memory_bytes]


def memory_estimate(factory: str, n: int, d: int) -> int:
    """Bytes an index of ``n`` vectors takes in RAM (codes, ids, lists, quantiser, graph links)."""
    m = re.fullmatch(r"IVF(\d+)(?:_HNSW(\d+))?,(Flat|SQ8)", factory)
    if m:
        nlist, hnsw = int(m.group(1)), int(m.group(2) or 0)
        code = 4 * d if m.group(3) == "Flat" else d
        quant = nlist * 4 * d + (nlist * hnsw * 2 * 4 * 1.1 if hnsw else 0)
        return int(n * (code + 8) + quant + nlist * 64)
    m = re.fullmatch(r"HNSW(\d+)", factory)
    if m:  # level 0 has 2M links a vector, upper levels ~M / (M - 1) more
        return int(n * (4 * d + 2 * int(m.group(1)) * 4 * 1.1 + 8))
    if factory == "Flat":
        return n * 4 * d
    raise ValueError(f"no memory estimate for the factory string {factory!r}")


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` ids of each query (``IndexFlatL2``), the ground truth of recall."""
    import faiss

    flat = faiss.IndexFlatL2(vectors.shape[1])
    flat.add(as_matrix(vectors))
    return flat.search(as_matrix(queries), k)[1]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of the exact top-``k`` among the found top-``k`` (faiss's ``IntersectionCriterion``)."""
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def latency_ms(index, queries: np.ndarray, k: int) -> tuple[float, float]:
    """(p50, p99) milliseconds of one query a ``search`` call."""
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], k)
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def build(factory: str, vectors: np.ndarray, train_points: int = 64, seed: int = 0, niter: int = 10):
    """The index of ``factory`` over ``vectors``: trained on a sample (``train_points`` a list, k-means
    of ``niter`` iterations: the lists need not be optimal, ``nprobe`` is tuned after), filled."""
    import faiss

    x = as_matrix(vectors)
    index = faiss.index_factory(x.shape[1], factory)
    if factory.startswith("IVF"):
        faiss.extract_index_ivf(index).cp.niter = niter
    if not index.is_trained:
        m = re.match(r"IVF(\d+)", factory)
        want = int(m.group(1)) * train_points if m else 65_536
        rows = np.random.default_rng(seed).choice(len(x), min(len(x), want), replace=False)
        index.train(x[np.sort(rows)])
    for a in range(0, len(x), 262_144):  # in blocks: one copy of a block at a time
        index.add(x[a:a + 262_144])
    return index


def _explore(index, tune_q: np.ndarray, truth: np.ndarray, target: Target, margin: float = 0.01) -> tuple[str, float]:
    """faiss's ParameterSpace over ``index``'s parameters: the fastest setting with recall@k >= target
    + ``margin`` on the tuning queries (the margin: recall on other queries scatters around it),
    else the setting of the best recall; (parameters, its recall)."""
    import faiss

    ps = faiss.ParameterSpace()
    ps.initialize(index)
    crit = faiss.IntersectionCriterion(len(tune_q), target.k)
    crit.set_groundtruth(None, np.ascontiguousarray(truth[:, :target.k], dtype=np.int64))
    ps.verbose = 0
    ops = ps.explore(index, as_matrix(tune_q), crit)
    points = [(ops.all_pts.at(i).perf, ops.all_pts.at(i).t, ops.all_pts.at(i).key)
              for i in range(ops.all_pts.size())]
    ok = sorted((t, -p, key, p) for p, t, key in points if p >= min(1.0, target.recall + margin))
    if ok:
        return ok[0][2], ok[0][3]
    best = max(points, key=lambda x: (x[0], -x[1]))
    return best[2], best[0]


def _measure(index, factory: str, mem: int, build_s: float, tune_q: np.ndarray, test_q: np.ndarray,
             truth_tune: np.ndarray, truth_test: np.ndarray, target: Target) -> Choice:
    import faiss

    t = time.perf_counter()
    params, rec = _explore(index, tune_q, truth_tune, target)
    c = Choice(factory, params, mem, build_s, time.perf_counter() - t, rec)
    faiss.ParameterSpace().set_index_parameters(index, params)
    found = index.search(as_matrix(test_q), target.k)[1]
    c.recall_at_k = recall_at(found, truth_test, target.k)
    c.recall_at_1 = float(np.mean(found[:, 0] == truth_test[:, 0]))
    c.p50_ms, c.p99_ms = latency_ms(index, as_matrix(test_q), target.k)
    misses = [w for w, bad in ((f"recall@{target.k} {c.recall_at_k:.3f} < {target.recall}",
                                c.recall_at_k < target.recall),
                               (f"p50 {c.p50_ms:.2f} ms > {target.p50_ms} ms", c.p50_ms > target.p50_ms),
                               (f"memory {mem / 2**20:.0f} MiB > {target.memory_bytes / 2**20:.0f} MiB",
                                mem > target.memory_bytes)) if bad]
    c.meets, c.why = not misses, "; ".join(misses) or "meets the target"
    return c


def tune_index(vectors: np.ndarray, tune_queries: np.ndarray, test_queries: np.ndarray,
               target: Target = Target(), factories: list[str] | None = None,
               keep_all: bool = False, each: Callable[[Any, Choice], None] | None = None
               ) -> tuple[Any, Choice, list[Choice]]:
    """Build and tune each candidate; ``(the chosen faiss index, its Choice, every Choice)``.

    ``tune_queries`` choose the parameters, ``test_queries`` (others) measure recall and latency;
    ``keep_all`` measures every candidate (else the first to meet the target ends the search);
    ``each(index, choice)`` sees every candidate while it is in memory (benchmarks save them)."""
    x = as_matrix(vectors)
    n, d = x.shape
    cands = [(f, memory_estimate(f, n, d)) for f in factories] if factories else candidates(n, d, target)
    truth_tune = exact_neighbours(x, tune_queries, target.k)
    truth_test = exact_neighbours(x, test_queries, target.k)
    best, best_index, all_choices = None, None, []
    for factory, mem in cands:
        t = time.perf_counter()
        index = build(factory, x)
        c = _measure(index, factory, mem, time.perf_counter() - t, tune_queries, test_queries, truth_tune,
                     truth_test, target)
        all_choices.append(c)
        if each is not None:
            each(index, c)
        rank = (not c.meets, c.memory_estimate if c.meets else -c.recall_at_k, c.p50_ms)
        if best is None or rank < best[0]:
            best, best_index = (rank, c), index
        if c.meets and not keep_all:
            break  # least memory first: the first that meets every target is the choice
    if best is None:
        raise ValueError(f"no candidate index fits the memory budget of {target.memory_bytes} bytes")
    return best_index, best[1], all_choices


class TunedIndex:
    """A tuned (or loaded) faiss index behind the ``Index`` interface; read-only when memory-mapped."""

    def __init__(self, index, choice: Choice | None = None, mapped: bool = False) -> None:
        self._index, self.choice, self.mapped = index, choice, mapped
        self.dim = int(index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if self.mapped:
            raise ValueError("a memory-mapped tuned index is read-only; rebuild it with tune_index")
        self._index.add(as_matrix(vectors, self.dim))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by L2 distance (not squared), ties by smaller id; fewer than ``k`` found = inf / -1."""
        q = as_matrix(queries, self.dim, "queries")
        k = min(int(k), len(self))
        if k <= 0 or q.shape[0] == 0:
            return empty_result(q.shape[0], k)
        d2, ids = self._index.search(q, k)
        d2 = np.where(ids < 0, np.inf, d2)
        return _stable_order(np.sqrt(np.maximum(d2, 0.0)).astype(np.float32), ids.astype(np.int64))


def save_tuned(index, choice: Choice, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """The index at ``path`` (atomically) and ``path + ".json"``: the choice, its figures and ``info``
    (e.g. the embeddings' fingerprint the index was built from)."""
    import faiss

    path = Path(path)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    write_json_atomic(path.with_name(path.name + ".json"), {"choice": asdict(choice), **(info or {})})
    return path


def load_tuned(path: str | Path, mmap: bool = True) -> TunedIndex:
    """A saved tuned index, memory-mapped (``IO_FLAG_MMAP``: lists and codes stay in the page cache,
    not in the process's own memory) with its tuned parameters set."""
    import faiss

    path = Path(path)
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    choice = Choice(**meta["choice"])
    # inverted lists are mapped by IO_FLAG_MMAP; flat codes (Flat, HNSW's storage) by IO_FLAG_MMAP_IFC
    ivf = choice.factory.startswith("IVF")
    flags = (faiss.IO_FLAG_MMAP if ivf else getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)) if mmap else 0
    index = faiss.read_index(str(path), flags | (faiss.IO_FLAG_READ_ONLY if mmap else 0))
    if choice.params:
        faiss.ParameterSpace().set_index_parameters(index, choice.params)
    return TunedIndex(index, choice, mapped=mmap)


def gallery_index(gallery: np.ndarray, queries: np.ndarray, path: str | Path | None, key: str,
                  target: Target = Target(), threshold: int = TUNE_THRESHOLD):
    """The index a split's gallery is searched with: exact (``ExactIndex``) below ``threshold``
    vectors; from there the tuned index saved at ``path`` when its ``key`` (weights and size) matches,
    memory-mapped, else one tuned now on ``queries`` (the other modality's vectors: real held-out
    queries, half to tune, half to check) and saved there."""
    from .index import ExactIndex

    if len(gallery) < threshold or not path:
        index = ExactIndex(gallery.shape[1])
        index.add(gallery)
        return index
    path = Path(path)
    meta = path.with_name(path.name + ".json")
    if path.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()).get("key") == key:
                return load_tuned(path)
        except (OSError, ValueError, RuntimeError, TypeError):
            pass  # unreadable or of other vectors: tuned again below
    rng = np.random.default_rng(0)
    q = np.asarray(queries, np.float32)[rng.choice(len(queries), min(len(queries), 1000), replace=False)]
    index, choice, _ = tune_index(gallery, q[: len(q) // 2], q[len(q) // 2:], target)
    save_tuned(index, choice, path, {"key": key, "n": int(len(gallery))})
    return load_tuned(path)
