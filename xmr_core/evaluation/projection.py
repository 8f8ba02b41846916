"""2-d t-SNE map of images and captions together (the paper's Fig. 3), with placement.

``fit_tsne`` runs openTSNE (FFT-accelerated negative gradient, Linderman et al.) on
the stacked image + caption embeddings; ``TSNEMap.place`` drops new points (a user's
query) onto the existing map with openTSNE's ``transform`` (each new point is
optimised against the fixed map only, so placing never moves the map).

Nearest neighbours (for the perplexity affinities) come from our exact torch index
(:class:`~xmr_core.retrieval.index.ExactIndex`), wrapped as an openTSNE ``KNNIndex``:
exact, deterministic and fast for maps of a few 10k points.

Persistence without pickle: ``save`` writes ``coords.npy`` (the map), ``vectors.npy``
(the fitted high-dimensional points) and ``tsne.json`` (parameters). ``load``
re-creates the affinity object from the saved vectors with the same parameters
(exact kNN, so the neighbour graph is bit-identical) and wraps the saved coordinates
in a ``TSNEEmbedding``; ``place`` then behaves as before the save.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..retrieval.index import ExactIndex

__all__ = ["TSNEMap", "fit_tsne", "export_png"]

_FORMAT = "xmr-tsne-map/1"


def _knn_index_class():
    """openTSNE ``KNNIndex`` backed by :class:`ExactIndex` (import openTSNE lazily)."""
    from openTSNE.nearest_neighbors import KNNIndex

    class TorchExactKNN(KNNIndex):
        VALID_METRICS = ["euclidean"]

        def build(self):
            self.index = ExactIndex()
            self.index.add(self.data)
            k = min(self.k + 1, self.n_samples)
            dist, ids = self.index.search(self.data, k)
            # Drop each point itself. With duplicate vectors the point may not be in
            # column 0 (ties go to the smaller id), so remove it wherever it is.
            own = ids == np.arange(self.n_samples)[:, None]
            drop = np.where(own.any(1), own.argmax(1), k - 1)
            keep = np.ones_like(own)
            keep[np.arange(self.n_samples), drop] = False
            ids = ids[keep].reshape(self.n_samples, k - 1)
            dist = dist[keep].reshape(self.n_samples, k - 1)
            return ids, dist.astype(np.float64)

        def query(self, query, k):
            dist, ids = self.index.search(np.asarray(query, dtype=np.float32), k)
            return ids, dist.astype(np.float64)

    return TorchExactKNN


@dataclass
class TSNEMap:
    """A fitted 2-d map: ``coords`` (N, 2) for the fitted ``vectors`` (N, d).

    ``embedding`` is the openTSNE ``TSNEEmbedding`` (needed by ``place``; None for a loaded map until
    the first ``place`` rebuilds its affinities, so a map of 200k points opens without them);
    ``params`` the fit and placement parameters (saved with the map).
    """

    coords: np.ndarray
    vectors: np.ndarray
    embedding: Any
    params: dict[str, Any] = field(default_factory=dict)

    def place(self, new_vectors: np.ndarray) -> np.ndarray:
        """2-d positions ``(M, 2)`` of new vectors on the fixed map (openTSNE ``transform``).

        Tuned for interactive use: 100 points in well under a second. Perplexity 5
        and a median-of-25-neighbours start (openTSNE's defaults for transform),
        then ``place_n_iter`` (default 100) small optimisation steps.
        """
        x = np.asarray(new_vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[0] == 0:
            return np.zeros((0, 2), np.float32)
        p = self.params
        if self.embedding is None:  # a loaded map: its affinities, once, on the first placement
            self.embedding = _make_embedding(self.coords.astype(np.float64), self.vectors, p)
        gd = self.embedding.gradient_descent_params
        fit_jobs = gd.get("n_jobs", 1)
        # One thread: placing ~100 points is ~15 ms of work per iteration with 2
        # threads (thread-pool start-up and hand-off) but ~1 ms with one, 25x faster.
        gd["n_jobs"] = p.get("place_n_jobs", 1)
        try:
            out = self.embedding.transform(
                x,
                perplexity=min(p.get("place_perplexity", 5), max(1, (len(self.coords) - 1) / 3)),
                k=min(25, len(self.coords)),
                n_iter=p.get("place_n_iter", 100),
                learning_rate=p.get("place_learning_rate", 0.1),
            )
        finally:
            gd["n_jobs"] = fit_jobs
        # transform re-centres the map in place; keep our copy in sync with it.
        self.coords = np.asarray(self.embedding, dtype=np.float32).copy()
        return np.asarray(out, dtype=np.float32).copy()

    def save(self, directory: str | Path) -> Path:
        """Write ``coords.npy``, ``vectors.npy`` and ``tsne.json`` into ``directory``."""
        from ..files import atomic_file, write_text_atomic

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "tsne.json").unlink(missing_ok=True)  # the map is whole again only when tsne.json is back
        for name, arr in (("coords.npy", self.coords), ("vectors.npy", self.vectors)):
            with atomic_file(d / name) as f:
                np.save(f, np.asarray(arr, dtype=np.float32))
        meta = {"format": _FORMAT, "n": int(len(self.coords)), "dim": int(self.vectors.shape[1]), **self.params}
        write_text_atomic(d / "tsne.json", json.dumps(meta, indent=2))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "TSNEMap":
        """Inverse of :meth:`save` (no pickle); the affinities are rebuilt from the saved vectors by the
        first ``place``."""
        from ..files import read_json

        d = Path(directory)
        meta = read_json(d / "tsne.json")
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"{d} is not a saved t-SNE map (format {meta.get('format')!r})")
        from ..files import MAX_DATASET_BYTES, open_regular

        with open_regular(d / "coords.npy", MAX_DATASET_BYTES) as f:
            coords = np.load(f, allow_pickle=False).astype(np.float64)
        with open_regular(d / "vectors.npy", MAX_DATASET_BYTES) as f:
            vectors = np.load(f, allow_pickle=False)
        if coords.shape != (meta["n"], 2) or vectors.shape != (meta["n"], meta["dim"]):
            raise ValueError(f"{d}: coords/vectors shapes do not match tsne.json")
        params = {k: v for k, v in meta.items() if k not in ("format", "n", "dim")}
        return cls(coords.astype(np.float32), vectors, None, params)


def _affinities(vectors: np.ndarray, perplexity: float, n_jobs: int, seed: int):
    from openTSNE import affinity

    n = vectors.shape[0]
    perplexity = min(perplexity, max(1.0, (n - 1) / 3))  # openTSNE needs 3*perplexity < n
    k = min(n - 1, int(3 * perplexity))
    knn = _knn_index_class()(vectors, k=k, metric="euclidean", n_jobs=n_jobs, random_state=seed)
    return affinity.PerplexityBasedNN(knn_index=knn, perplexity=perplexity, n_jobs=n_jobs, verbose=False)


def _make_embedding(coords: np.ndarray, vectors: np.ndarray, params: dict[str, Any]):
    from openTSNE import TSNEEmbedding

    aff = _affinities(vectors, params["perplexity"], params["n_jobs"], params["seed"])
    return TSNEEmbedding(
        np.ascontiguousarray(coords, dtype=np.float64),
        aff,
        negative_gradient_method="fft",
        ints_in_interval=params.get("ints_in_interval", 1),
        n_jobs=params["n_jobs"],
        random_state=params["seed"],
    )


def fit_tsne(
    vectors: np.ndarray,
    seed: int = 0,
    perplexity: float = 30.0,
    n_iter: int = 375,
    early_exaggeration_iter: int = 125,
    n_jobs: int = 1,
    ints_in_interval: float = 2.0,
    place_n_iter: int = 100,
    progress: Callable[[float, str], None] | None = None,
) -> TSNEMap:
    """t-SNE of ``vectors`` (N, d): images and captions stacked, in one call.

    openTSNE with the FFT negative gradient, PCA initialisation (openTSNE's default,
    rescaled; deterministic given ``seed``), learning rate "auto" (N / 12), early
    exaggeration 12 for ``early_exaggeration_iter`` steps then ``n_iter`` normal
    steps (125 + 375 instead of openTSNE's 250 + 500; with the "auto" learning rate
    the layout of a few thousand points has settled by then).

    Speed: the FFT grid has one cell per ``ints_in_interval`` map units, and the map
    grows to a span of 100-150 units, so openTSNE's default (1) makes late iterations
    ~4x slower than early ones; 2 halves the grid side (interpolation error of the
    repulsive forces stays small at 3 points per cell) and brings 6k points to
    ~15 s on 2 shared cores.

    ``n_jobs`` defaults to 1: on this project's 2-core machine, shared with other
    work, one thread measured 13 s for 6k points against 23 s with two (openTSNE's
    worker threads contend with everything else); pass 2 on an idle machine.
    """
    from openTSNE import TSNE

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"need at least 4 vectors (N, d), got shape {x.shape}")
    params = {
        "seed": int(seed),
        "perplexity": float(perplexity),
        "n_iter": int(n_iter),
        "early_exaggeration_iter": int(early_exaggeration_iter),
        "n_jobs": int(n_jobs),
        "ints_in_interval": float(ints_in_interval),
        "place_n_iter": int(place_n_iter),
        "place_perplexity": 5,
        "place_learning_rate": 0.1,
        "place_n_jobs": 1,
    }
    t0 = time.perf_counter()
    report = _progress_callback(progress, early_exaggeration_iter + n_iter, len(x))  # says "neighbours" first
    aff = _affinities(x, perplexity, n_jobs, seed)
    tsne = TSNE(
        n_iter=n_iter,
        early_exaggeration_iter=early_exaggeration_iter,
        negative_gradient_method="fft",
        ints_in_interval=ints_in_interval,
        n_jobs=n_jobs,
        random_state=seed, verbose=False, **report,
    )
    embedding = tsne.fit(affinities=aff, initialization="pca", X=x.astype(np.float64))
    params["fit_seconds"] = round(time.perf_counter() - t0, 3)
    return TSNEMap(np.asarray(embedding, dtype=np.float32).copy(), x, embedding, params)


def _progress_callback(progress: Callable[[float, str], None] | None, total: int, n: int,
                       every: int = 25) -> dict[str, Any]:
    """openTSNE's ``callbacks`` reporting ``progress(fraction, "iteration i/total, KL")`` every ``every``
    iterations of both phases (the callback only reads; the optimisation is the same without it);
    reports the neighbour search of ``n`` points at once."""
    if progress is None:
        return {}
    progress(0.0, f"neighbours of {n:,} points")
    done = [0]

    def report(iteration: int, error: float, embedding: Any) -> bool:  # noqa: ARG001 - openTSNE's signature
        done[0] = min(total, done[0] + every)
        progress(0.05 + 0.95 * done[0] / total, f"iteration {done[0]}/{total}, KL {error:.3f}")
        return False  # never stops the optimisation

    return {"callbacks": report, "callbacks_every_iters": every}


def export_png(
    coords: np.ndarray,
    modality: np.ndarray | list[str],
    path: str | Path,
    size: int = 1000,
    radius: int = 2,
    highlight: np.ndarray | None = None,
    mark: str | None = None,
) -> Path:
    """Fig.-3-style scatter, images red, text blue, on white (Pillow); written by ``save_png``.

    ``modality`` per point: ``"image"``/``"text"`` strings or a bool/int array
    (truthy/1 = image). ``highlight`` (optional (M, 2) coords, e.g. placed queries)
    are drawn as larger black-ringed points on top; ``mark``: see ``save_png``.
    """
    from PIL import Image, ImageDraw

    c = np.asarray(coords, dtype=np.float64)
    m = np.asarray(modality)
    is_img = np.isin(m, ["image", "img", "i"]) if m.dtype.kind in "US" else m.astype(bool)
    if c.ndim != 2 or c.shape[1] != 2 or len(is_img) != len(c):
        raise ValueError("coords must be (N, 2) with one modality per point")
    pts = c if highlight is None else np.concatenate([c, np.asarray(highlight, np.float64).reshape(-1, 2)])
    lo = pts.min(0) if len(pts) else np.zeros(2)
    span = np.maximum(pts.max(0) - lo, 1e-9) if len(pts) else np.ones(2)
    margin = 4 * radius + 10
    scale = (size - 2 * margin) / span.max()  # same scale on both axes (no distortion)
    offset = margin + ((size - 2 * margin) - span * scale) / 2

    def px(p: np.ndarray) -> np.ndarray:
        q = (p - lo) * scale + offset
        q[:, 1] = size - q[:, 1]  # y up, as in a plot
        return q

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    xy = px(c)
    # text first, images on top, each in a shuffled-free fixed order (deterministic)
    for sel, colour in ((~is_img, (31, 119, 180)), (is_img, (214, 39, 40))):
        for x, y in xy[sel]:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    if highlight is not None:
        r = 3 * radius + 2
        for x, y in px(np.asarray(highlight, np.float64).reshape(-1, 2)):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 200, 0), outline="black", width=2)
    # legend
    draw.ellipse((12, 12, 22, 22), fill=(214, 39, 40))
    draw.text((28, 10), "image", fill="black")
    draw.ellipse((12, 30, 22, 40), fill=(31, 119, 180))
    draw.text((28, 28), "text", fill="black")
    return save_png(img, path, mark)


def save_png(img: Any, path: str | Path, mark: str | None = None) -> Path:
    """Write a PIL image as PNG atomically, stamped with ``mark`` (the xmr command that made it)."""
    from PIL import PngImagePlugin

    from ..files import OUTPUT_MARK, atomic_file

    info = PngImagePlugin.PngInfo()
    if mark:
        info.add_text(OUTPUT_MARK, mark)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as f:
        img.save(f, format="PNG", pnginfo=info)
    return out
