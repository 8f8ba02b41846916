"""Exact top-10 search: ExactIndex (torch) vs faiss IndexFlatL2 vs sklearn NearestNeighbors.

Full case: 25,000 queries x 5,000 gallery x 128-d unit vectors (Flickr30K/COCO-5k
test sizes: every caption against every image). Variants run in alternating order,
repeated, so machine load affects them alike; each reports whether its neighbours
are identical to ExactIndex's and to faiss's (``agree_with_*`` = fraction of equal ids,
``rows_identical_with_faiss`` = fraction of queries with the identical top-10; float32
near-ties may differ in the last place). faiss is the reference; target: ExactIndex
<= 1.2x its time. Two more rows give the floors under any matmul-based search: the
torch float32 matmul alone and the bfloat16 matmul alone (same shapes, in ExactIndex's
512-query chunks). Threads: torch's (``OMP_NUM_THREADS``; faiss is set to match).

Run: ``python benchmarks/bench_search.py [--quick]``; one thread:
``OMP_NUM_THREADS=1 python benchmarks/bench_search.py``.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks._script import script_rows  # noqa: E402
from xmr_core.retrieval.index import ExactIndex, faiss_available  # noqa: E402

TARGET_RATIO = 1.2  # ExactIndex's median <= this x faiss IndexFlatL2's


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _matmul_alone(q: np.ndarray, g: np.ndarray, dtype: torch.dtype, chunk: int = 512) -> Callable[[], None]:
    """Only the score matmuls of a search, chunked like ExactIndex (no top-k)."""
    qt, gt = torch.from_numpy(q).to(dtype), torch.from_numpy(np.ascontiguousarray(g.T)).to(dtype)
    buf = torch.empty((min(chunk, len(q)), g.shape[0]), dtype=dtype)

    def run() -> None:
        with torch.inference_mode():
            for s in range(0, len(q), chunk):
                qq = qt[s : s + chunk]
                torch.mm(qq, gt, out=buf[: len(qq)])

    return run


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Timings of each variant; see the module docstring."""
    nq, ng, d, k = (5000, 1000, 128, 10) if quick else (25000, 5000, 128, 10)
    repeats = 3 if quick else 5
    rng = np.random.default_rng(0)
    g, q = _unit(rng, ng, d), _unit(rng, nq, d)

    exact = ExactIndex()
    exact.add(g)
    variants: dict[str, tuple[Callable[[], np.ndarray | None], bool]] = {
        "xmr ExactIndex (torch)": (lambda: exact.search(q, k)[1], False),
    }
    if faiss_available():
        import faiss

        faiss.omp_set_num_threads(torch.get_num_threads())
        flat = faiss.IndexFlatL2(d)
        flat.add(g)
        variants["faiss IndexFlatL2"] = (lambda: flat.search(q, k)[1], True)
    try:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=2).fit(g)
        variants["sklearn NearestNeighbors (brute)"] = (lambda: nn.kneighbors(q, k, return_distance=True)[1], False)
    except ImportError:
        pass
    variants["torch fp32 matmul alone (BLAS floor)"] = (_matmul_alone(q, g, torch.float32), False)
    variants["torch bf16 matmul alone"] = (_matmul_alone(q, g, torch.bfloat16), False)

    ids = {name: fn() for name, (fn, _) in variants.items()}  # warm-up (thread pools, allocations)
    ref_ids, faiss_ids = ids["xmr ExactIndex (torch)"], ids.get("faiss IndexFlatL2")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (fn, _) in variants.items():  # alternate variants within each repeat
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)

    case = f"top-{k} {nq}x{ng}x{d}"
    ref_median = next((statistics.median(times[n]) for n, (_, r) in variants.items() if r), None)
    out = []
    for name, (_, is_ref) in variants.items():
        med, got = statistics.median(times[name]), ids[name]
        row = {
            "case": case,
            "variant": name,
            "seconds_median": med,
            "min": min(times[name]),
            "max": max(times[name]),
            "reference": is_ref,
            "repeats": repeats,
            "threads": torch.get_num_threads(),
            "agree_with_exact": None if got is None else float((got == ref_ids).mean()),
            "agree_with_faiss": None if got is None or faiss_ids is None else float((got == faiss_ids).mean()),
            "rows_identical_with_faiss": None if got is None or faiss_ids is None
            else float((got == faiss_ids).all(1).mean()),
            "ratio_vs_reference": (med / ref_median) if ref_median else None,
        }
        if name.startswith("xmr ExactIndex") and ref_median:
            row["target"] = f"<= {TARGET_RATIO}x faiss IndexFlatL2"
            row["met"] = bool(med <= TARGET_RATIO * ref_median)
        out.append(row)
    return out


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    for r in rows:
        ratio = "" if r["ratio_vs_reference"] is None else f"  x{r['ratio_vs_reference']:.2f} vs ref"
        agree = "" if r["agree_with_exact"] is None else f"  agree {r['agree_with_exact']:.6f}"
        if r["agree_with_faiss"] is not None:
            agree += f"  faiss {r['agree_with_faiss']:.6f} (rows {r['rows_identical_with_faiss']:.5f})"
        print(f"{r['case']:28s} {r['variant']:38s} median {r['seconds_median']:.3f}s "
              f"[{r['min']:.3f}, {r['max']:.3f}]{agree}{ratio}"
              f"{'  (reference)' if r['reference'] else ''}  threads {r['threads']}")


if __name__ == "__main__":
    main()
