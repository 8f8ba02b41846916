"""t-SNE of 6,000 points (1,000 images + 5,000 captions, 128-d) and placement of 100.

Variants: ``xmr fit_tsne`` (openTSNE, FFT, our defaults, with 1 and 2 jobs) vs scikit-learn's
``TSNE`` (Barnes-Hut; the reference, skipped in quick mode); plus ``TSNEMap.place``
of 100 new points (target <= 1 s). Synthetic clustered data with a modality offset.

Run: ``python benchmarks/bench_tsne.py [--quick]``.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._script import print_seconds_rows, script_rows  # noqa: E402
from xmr_core.projection import fit_tsne  # noqa: E402


def _data(n_img: int, per: int = 5, d: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(2, n_img // 20), d))
    img = centres[rng.integers(0, len(centres), n_img)] + 0.5 * rng.standard_normal((n_img, d))
    cap = np.repeat(img, per, axis=0) + 0.5 * rng.standard_normal((n_img * per, d)) + 0.3
    x = np.concatenate([img, cap]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _row(case: str, variant: str, times: list[float], reference: bool, **extra: Any) -> dict[str, Any]:
    return {"case": case, "variant": variant, "seconds_median": statistics.median(times),
            "min": min(times), "max": max(times), "reference": reference, "repeats": len(times), **extra}


def cases(quick: bool = False) -> list[dict[str, Any]]:
    """Fit and placement timings; see the module docstring."""
    n_img = 250 if quick else 1000
    x = _data(n_img)
    n = len(x)
    case = f"t-SNE {n} points x 128-d"
    rows = []
    fits: dict[int, list[float]] = {1: [], 2: []}
    m = None
    for _ in range(1 if quick else 2):
        for jobs in (1, 2):  # alternate, so machine load hits both alike
            t = time.perf_counter()
            m = fit_tsne(x, seed=0, n_jobs=jobs)
            fits[jobs].append(time.perf_counter() - t)
    for jobs, times in fits.items():
        rows.append(_row(case, f"xmr fit_tsne (openTSNE FFT, n_jobs={jobs})", times, False,
                         n_iter=m.params["n_iter"] + m.params["early_exaggeration_iter"]))
    if not quick:
        from sklearn.manifold import TSNE

        t = time.perf_counter()
        TSNE(n_components=2, perplexity=30, init="pca", random_state=0, n_jobs=2).fit_transform(x)
        rows.append(_row(case, "sklearn TSNE (Barnes-Hut)", [time.perf_counter() - t], True))
    new = _data(20, per=4, seed=1)  # 100 unseen points
    m.place(new[:5])  # warm-up: first transform prepares openTSNE's thread pools
    places = []
    for _ in range(5):
        t = time.perf_counter()
        m.place(new)
        places.append(time.perf_counter() - t)
    rows.append(_row(f"place {len(new)} points on the {n}-point map", "xmr TSNEMap.place (openTSNE transform)", places, False))
    return rows


def main() -> None:
    rows = script_rows(__doc__, cases)
    if rows is None:
        return
    print_seconds_rows(rows, 40, 40)


if __name__ == "__main__":
    main()
