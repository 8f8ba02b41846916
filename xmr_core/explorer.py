"""The library behind the app: one object answering every question a page asks of a run.

``Explorer(run, dataset, split)`` holds a run's embeddings of one split, its
search indexes, the semantic relevance model and the t-SNE map; pages only lay
out what it returns (and cache it with ``st.cache_resource``). Every query
method returns plain data (dicts, numpy arrays, PIL images).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .embed import SplitEmbeddings
from .errors import EncodingError, ImageError
from .run import Run, load_run


@dataclass
class QueryResult:
    """A typed sentence or an uploaded image, answered."""

    kind: str                           # "text" (-> images) or "image" (-> captions)
    vector: np.ndarray                  # (d,) the query's unit embedding
    results: list[dict[str, Any]]       # ranked hits (see Explorer.text_query / image_query)
    seconds: float                      # time in the library call
    encoded: np.ndarray | None = None   # the encoded-text image of a sentence query
    layout: Any = None                  # its layout record (xmr_core.text.encoder.Layout)
    image: Any = None                   # the decoded query image (PIL)
    map_xy: np.ndarray | None = None    # where the query lands on the t-SNE map (after place())
    notes: list[str] = field(default_factory=list)


class Explorer:
    """A run + one split of a dataset, ready for retrieval, labelling and mapping."""

    def __init__(self, run: Run | str | Path, dataset: str | None = None, split: str = "test",
                 images_dir: str | None = None,
                 progress: Callable[[float, str], None] | None = None) -> None:
        from .evaluate import caption_semantics, split_embeddings
        from .retrieval.index import ExactIndex
        from .retrieval.semantic import DEFAULT_THRESHOLDS, caption_relevance

        self.run = run if isinstance(run, Run) else load_run(run)
        self.split = split
        self.dataset_spec, self.images_dir = dataset, images_dir
        self.emb: SplitEmbeddings = split_embeddings(self.run, dataset, split, images_dir, progress=progress)
        self.image_index = ExactIndex(self.emb.images.shape[1])
        self.image_index.add(self.emb.images)
        self.caption_index = ExactIndex(self.emb.captions.shape[1])
        self.caption_index.add(self.emb.captions)
        self.caption_sem, self.sentence_embedder = caption_semantics(self.run, self.emb)
        kind = getattr(self.sentence_embedder, "kind", "word-vectors")
        self.relevance_kind = kind
        self.relevance = caption_relevance(self.caption_sem, self.emb.caption_image, len(self.emb.images),
                                           kind=kind)
        self.threshold = DEFAULT_THRESHOLDS.get(kind, 0.8)
        self._tsne = None

    # ---- sizes and records ------------------------------------------------------------
    @property
    def n_images(self) -> int:
        return len(self.emb.images)

    @property
    def n_captions(self) -> int:
        return len(self.emb.captions)

    def image_path(self, row: int) -> str:
        return str(self.emb.image_paths[row])

    def caption_text(self, row: int) -> str:
        return str(self.emb.caption_text[row])

    def captions_of(self, image_row: int) -> list[int]:
        return self.emb.captions_of(image_row).tolist()

    def load_image(self, row: int, max_side: int = 320):
        from .data.images import read_image

        return read_image(self.image_path(row), max_side=max_side)

    # ---- test-set retrieval (Table 3) ---------------------------------------------------
    def image_to_text(self, image_row: int, k: int = 5) -> list[dict[str, Any]]:
        """Top-k captions for a test image, each labelled gt / related / unrelated."""
        from .retrieval.semantic import label_results

        d, ids = self.caption_index.search(self.emb.images[image_row:image_row + 1], k)
        labels = label_results("i2t", image_row, ids[0].tolist(), self.relevance, self.threshold)
        return [{"rank": r + 1, "caption_row": int(c), "text": self.caption_text(int(c)), "distance": float(dist),
                 "label": lab, "relevance": float(rel), "image_row": int(self.emb.caption_image[c])}
                for r, (c, dist, (lab, rel)) in enumerate(zip(ids[0], d[0], labels))]

    def text_to_image(self, caption_row: int, k: int = 5) -> list[dict[str, Any]]:
        """Top-k images for a test caption, each labelled gt / related / unrelated."""
        from .retrieval.semantic import label_results

        d, ids = self.image_index.search(self.emb.captions[caption_row:caption_row + 1], k)
        labels = label_results("t2i", caption_row, ids[0].tolist(), self.relevance, self.threshold)
        return [{"rank": r + 1, "image_row": int(i), "path": self.image_path(int(i)),
                 "image_id": str(self.emb.image_ids[i]), "distance": float(dist), "label": lab,
                 "relevance": float(rel)}
                for r, (i, dist, (lab, rel)) in enumerate(zip(ids[0], d[0], labels))]

    def failed_but_related(self, direction: str, k: int = 5) -> np.ndarray:
        """Queries whose top-k misses the ground truth but holds a semantically related item."""
        from .retrieval.semantic import failed_but_related

        if direction == "i2t":
            q = np.arange(self.n_images)
            _, ids = self.caption_index.search(self.emb.images, k)
        else:
            q = np.arange(self.n_captions)
            _, ids = self.image_index.search(self.emb.captions, k)
        return failed_but_related(direction, q, ids, self.relevance, k, self.threshold)

    # ---- free queries -------------------------------------------------------------------
    def text_query(self, sentence: str, k: int = 10) -> QueryResult:
        """A typed sentence -> its encoded image and the top-k test images.

        Raises ``EncodingError`` (a message for the user) for an empty or all-OOV sentence.
        """
        t0 = time.perf_counter()
        if not isinstance(sentence, str) or not sentence.strip():
            raise EncodingError("the sentence is empty: type a few words")
        encoded, layout = self.run.encoder.encode(sentence, strict=True)
        vec = self.run.embedder.embed_encoded(encoded[None])[0]
        d, ids = self.image_index.search(vec[None], k)
        q_sem = self.sentence_embedder([sentence])[0]
        rel = self.relevance.profiles @ q_sem  # text-side relevance of each image to the typed sentence
        results = [{"rank": r + 1, "image_row": int(i), "path": self.image_path(int(i)),
                    "image_id": str(self.emb.image_ids[i]), "distance": float(dist), "relevance": float(rel[i]),
                    "label": "related" if rel[i] >= self.threshold else "unrelated"}
                   for r, (i, dist) in enumerate(zip(ids[0], d[0]))]
        notes = []
        if layout.oov:
            notes.append(f"not in the vocabulary (skipped): {', '.join(layout.oov)}")
        if layout.dropped:
            notes.append(f"no room on the canvas (dropped): {', '.join(layout.dropped)}")
        return QueryResult("text", vec, results, time.perf_counter() - t0, encoded=encoded, layout=layout,
                           notes=notes)

    def image_query(self, src: Any, k: int = 10, name: str = "uploaded image") -> QueryResult:
        """An image (bytes, file, path or PIL) -> the top-k test captions.

        Raises ``ImageError`` (a message for the user) for non-images, corrupt, empty or huge files.
        """
        from PIL import Image

        from .data.images import read_image, to_rgb

        t0 = time.perf_counter()
        img = to_rgb(src) if isinstance(src, Image.Image) else read_image(src, name=name, max_side=512)
        vec = self.run.embedder.embed_images([img])[0]
        d, ids = self.caption_index.search(vec[None], k)
        results = [{"rank": r + 1, "caption_row": int(c), "text": self.caption_text(int(c)), "distance": float(dist),
                    "image_row": int(self.emb.caption_image[c])}
                   for r, (c, dist) in enumerate(zip(ids[0], d[0]))]
        return QueryResult("image", vec, results, time.perf_counter() - t0, image=img)

    # ---- the map ------------------------------------------------------------------------
    @property
    def tsne(self):
        """The split's t-SNE map (loaded from the run, fitted and cached there if missing)."""
        if self._tsne is None:
            from .evaluate import tsne_dir, tsne_run
            from .projection import TSNEMap

            folder = tsne_dir(self.run, self.emb.dataset, self.split)
            if not (folder / "coords.npy").is_file():
                tsne_run(self.run, self.dataset_spec, self.split, self.images_dir)
            self._tsne = TSNEMap.load(folder)
        return self._tsne

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Put new vectors (queries) on the existing map (openTSNE transform)."""
        return self.tsne.place(np.atleast_2d(vectors).astype(np.float32))

    def map_frame(self):
        """A pandas DataFrame of the map: x, y, modality, row, image_row, label text, path."""
        import pandas as pd

        c = self.tsne.coords
        ni = self.n_images
        img = pd.DataFrame({"x": c[:ni, 0], "y": c[:ni, 1], "modality": "image", "row": np.arange(ni),
                            "image_row": np.arange(ni), "text": [Path(p).name for p in self.emb.image_paths],
                            "path": self.emb.image_paths})
        cap = pd.DataFrame({"x": c[ni:, 0], "y": c[ni:, 1], "modality": "text", "row": np.arange(self.n_captions),
                            "image_row": self.emb.caption_image, "text": self.emb.caption_text,
                            "path": self.emb.image_paths[self.emb.caption_image]})
        return pd.concat([img, cap], ignore_index=True)

    # ---- diagnostics ----------------------------------------------------------------------
    def modality_gap(self) -> dict[str, Any]:
        from .retrieval.diagnostics import modality_gap

        return modality_gap(self.emb.images, self.emb.captions, self.emb.caption_image)

    def metrics(self) -> dict[str, Any] | None:
        """The run's metrics for this split if evaluated (metrics/<dataset>-<split>.json or metrics.json)."""
        import json

        p = Path(self.run.path) / "metrics" / f"{self.emb.dataset}-{self.split}.json"
        if p.is_file():
            return json.loads(p.read_text())
        m = self.run.metrics
        if m and m.get("dataset") == self.emb.dataset and m.get("split") == self.split:
            return m
        return None


__all__ = ["Explorer", "QueryResult", "ImageError", "EncodingError"]
