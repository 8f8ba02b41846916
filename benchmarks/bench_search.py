"""Exact top-10 search: ExactIndex (torch) vs faiss IndexFlatL2 vs sklearn NearestNeighbors.

Full case: 25,000 queries x 5,000 gallery x 128-d unit vectors (Flickr30K/COCO-5k
test sizes: every caption against every image). Variants run in alternating order,
repeated, so machine load affects them alike; each reports whether its neighbours
are identical to ExactIndex's (``agree`` = fraction of equal ids; near-ties in float32
may differ in the last place). faiss is the reference.

Run: ``python benchmarks/bench_search.py [--quick]``.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import script_rows  # noqa: E402
from xmr_core.retrieval.index import ExactIndex, faiss_available  # noqa: E402


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Timings of each variant; see the module docstring."""
    nq, ng, d, k = (5000, 1000, 128, 10) if quick else (25000, 5000, 128, 10)
    repeats = 3 if quick else 5
    rng = np.random.default_rng(0)
    g, q = _unit(rng, ng, d), _unit(rng, nq, d)

    exact = ExactIndex()
    exact.add(g)
    variants: dict[str, tuple[Callable[[], np.ndarray], bool]] = {
        "xmr ExactIndex (torch)": (lambda: exact.search(q, k)[1], False),
    }
    if faiss_available():
        import faiss

        flat = faiss.IndexFlatL2(d)
        flat.add(g)
        variants["faiss IndexFlatL2"] = (lambda: flat.search(q, k)[1], True)
    try:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=2).fit(g)
        variants["sklearn NearestNeighbors (brute)"] = (lambda: nn.kneighbors(q, k, return_distance=True)[1], False)
    except ImportError:
        pass

    ref_ids = exact.search(q, k)[1]
    times: dict[str, list[float]] = {name: [] for name in variants}
    agree: dict[str, float] = {}
    for name, (fn, _) in variants.items():  # warm-up (thread pools, allocations)
        agree[name] = float((fn() == ref_ids).mean())
    for _ in range(repeats):
        for name, (fn, _) in variants.items():  # alternate variants within each repeat
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)

    case = f"top-{k} {nq}x{ng}x{d}"
    ref_median = next((statistics.median(times[n]) for n, (_, r) in variants.items() if r), None)
    out = []
    for name, (_, is_ref) in variants.items():
        med = statistics.median(times[name])
        out.append({
            "case": case,
            "variant": name,
            "seconds_median": med,
            "min": min(times[name]),
            "max": max(times[name]),
            "reference": is_ref,
            "repeats": repeats,
            "agree_with_exact": agree[name],
            "ratio_vs_reference": (med / ref_median) if ref_median else None,
        })
    return out


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    for r in rows:
        ratio = "" if r["ratio_vs_reference"] is None else f"  x{r['ratio_vs_reference']:.2f} vs ref"
        print(f"{r['case']:28s} {r['variant']:34s} median {r['seconds_median']:.3f}s "
              f"[{r['min']:.3f}, {r['max']:.3f}]  agree {r['agree_with_exact']:.6f}{ratio}"
              f"{'  (reference)' if r['reference'] else ''}")


if __name__ == "__main__":
    main()
