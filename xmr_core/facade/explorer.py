"""The library behind the app: one object answering every question a page asks of a run.

``Explorer(run, dataset, split)`` holds a run's embeddings of one split, its
search indexes, the semantic relevance model and the t-SNE map; pages only lay
out what it returns (and cache it with ``st.cache_resource``). Every search returns
``Hit`` records; everything else is plain data (numpy arrays, PIL images).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..evaluation.split_embeddings import SplitEmbeddings
from ..errors import EncodingError, ImageError
from ..bundle.run import Run, load_run


@dataclass(frozen=True)
class Hit:
    """One search result: an image of the split, or one of its captions, at a rank."""

    rank: int                        # 1-based
    distance: float                  # Euclidean, on unit vectors
    image_row: int                   # the image, or the image the caption belongs to
    caption_row: int | None = None   # caption hits: the caption
    text: str | None = None          # caption hits: its text
    path: str | None = None          # image hits: the image file
    image_id: str | None = None      # image hits: the dataset's id of the image
    label: str | None = None         # "gt" / "related" / "unrelated"; None when not labelled
    relevance: float | None = None   # the text-side relevance behind the label

    # Hits also read as the dicts they replaced: a field that does not apply (None) is "absent".
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return getattr(self, key, None) is not None

    def get(self, key: str, default: Any = None) -> Any:
        v = getattr(self, key, None)
        return default if v is None else v


@dataclass
class QueryResult:
    """A typed sentence or an uploaded image, answered."""

    kind: str                           # "text" (-> images) or "image" (-> captions)
    vector: np.ndarray                  # (d,) the query's unit embedding
    results: list[Hit]                  # ranked hits
    seconds: float                      # time in the library call
    encoded: np.ndarray | None = None   # the encoded-text image of a sentence query
    layout: Any = None                  # its layout record (xmr_core.text.encoder.Layout)
    image: Any = None                   # the decoded query image (PIL)
    notes: list[str] = field(default_factory=list)
    terms: tuple = ()                   # a composed query's terms (facade.composed.Term)
    target: str | None = None           # a composed query's target: "images" or "sentences"


class Explorer:
    """A run + one split of a dataset, ready for retrieval, labelling and mapping."""

    def __init__(self, run: Run | str | Path, dataset: str | None = None, split: str = "test",
                 images_dir: str | None = None,
                 progress: Callable[[float, str], None] | None = None) -> None:
        from ..evaluation.evaluate import caption_semantics, split_embeddings
        from ..retrieval.tuned_index import gallery_index
        from ..retrieval.calibration import stored_threshold
        from ..retrieval.semantic import DEFAULT_THRESHOLDS, caption_relevance

        self.run = run if isinstance(run, Run) else load_run(run)
        self.split = split
        self.dataset_spec, self.images_dir = dataset, images_dir
        self.emb: SplitEmbeddings = split_embeddings(self.run, dataset, split, images_dir, progress=progress)
        # exact search; a gallery of millions gets a tuned faiss index, saved beside the embeddings (issue 24)
        stem, key = self.emb.path and self.emb.path.with_suffix(""), f"{self.emb.weights}:{self.emb.images.shape}"
        self.image_index = gallery_index(self.emb.images, self.emb.captions, stem and f"{stem}.images.faiss", key)
        self.caption_index = gallery_index(self.emb.captions, self.emb.images, stem and f"{stem}.captions.faiss",
                                           f"{key}:{self.emb.captions.shape}")
        self.caption_sem, self.sentence_embedder = caption_semantics(self.run, self.emb)
        self.relevance_kind = kind = getattr(self.sentence_embedder, "kind", "word-vectors")
        self.relevance = caption_relevance(self.caption_sem, self.emb.caption_image, len(self.emb.images), kind=kind)
        stored = stored_threshold(self.metrics(), kind)  # calibrated on this split's captions by evaluate
        self.threshold = stored if stored is not None else DEFAULT_THRESHOLDS.get(kind, 0.8)
        self.threshold_source = "calibrated" if stored is not None else "default"
        self._tsne = self._regions = None
        self._gap: dict[str, Any] | None = None
        self._hits: dict[int, np.ndarray] = {}
        self._caption_stats: dict[str, np.ndarray] | None = None

    # ---- sizes and records ------------------------------------------------------------
    @property
    def run_path(self) -> str:
        return str(self.run.path)

    @property
    def run_name(self) -> str:
        return self.run.name

    @property
    def encoder(self) -> Any:
        """The run's text encoder (``xmr_core.text.encoder.TextEncoder``); None unless a network run
        (only the network paints sentences: the Encoded-text page needs it)."""
        return self.run.encoder

    @property
    def kind(self) -> str:
        """The run's kind: ``network``, ``reference`` or ``embeddings`` (``bundle/kinds.py``)."""
        return self.run.kind

    @property
    def can_encode(self) -> bool:
        """Whether a new photo or sentence can be a query (every kind but ``embeddings``)."""
        return self.run.can_encode

    def encode_sentence(self, sentence: str) -> tuple[np.ndarray, np.ndarray | None, Any, list[str]]:
        """A typed sentence -> (unit vector, encoded-text image or None, layout or None, notes) through
        the run's encoder, whatever its kind (``facade/encoding.py``)."""
        from .encoding import encode_sentence

        return encode_sentence(self.run, sentence)

    def encode_image(self, img: Any) -> np.ndarray:
        """A decoded (PIL) image -> its unit vector through the run's encoder (``facade/encoding.py``)."""
        from .encoding import encode_image

        return encode_image(self.run, img)

    @property
    def dataset_name(self) -> str:
        return self.emb.dataset

    @property
    def caption_texts(self) -> np.ndarray:
        """Every caption of the split, by caption row."""
        return self.emb.caption_text

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

    def image_of(self, caption_row: int) -> int:
        """The image row a caption belongs to."""
        return int(self.emb.caption_image[caption_row])

    def image_id(self, row: int) -> str:
        return str(self.emb.image_ids[row])

    @property
    def image_ids(self) -> np.ndarray:
        """Every image's dataset id, by image row."""
        return self.emb.image_ids

    @property
    def image_paths(self) -> np.ndarray:
        """Every image's file, by image row."""
        return self.emb.image_paths

    def captions_of(self, image_row: int) -> list[int]:
        return self.emb.captions_of(image_row).tolist()

    def load_image(self, row: int, max_side: int = 320):
        from ..data.images import read_image

        return read_image(self.image_path(row), max_side=max_side)

    # ---- search hits ---------------------------------------------------------------------
    def _caption_hits(self, ids: np.ndarray, dist: np.ndarray,
                      labels: list[tuple[str, float]] | None = None) -> list[Hit]:
        labels = labels or [(None, None)] * len(ids)
        return [Hit(r + 1, float(d), self.image_of(int(c)), caption_row=int(c), text=self.caption_text(int(c)),
                    label=lab, relevance=None if rel is None else float(rel))
                for r, (c, d, (lab, rel)) in enumerate(zip(ids, dist, labels))]

    def _image_hits(self, ids: np.ndarray, dist: np.ndarray, labels: list[tuple[str, float]]) -> list[Hit]:
        return [Hit(r + 1, float(d), int(i), path=self.image_path(int(i)), image_id=self.image_id(int(i)),
                    label=lab, relevance=None if rel is None else float(rel))
                for r, (i, d, (lab, rel)) in enumerate(zip(ids, dist, labels))]

    # ---- test-set retrieval (Table 3) ---------------------------------------------------
    def image_to_text(self, image_row: int, k: int = 5) -> list[Hit]:
        """Top-k captions for a test image, each labelled gt / related / unrelated."""
        from ..retrieval.semantic import label_results

        d, ids = self.caption_index.search(self.emb.images[image_row:image_row + 1], k)
        return self._caption_hits(ids[0], d[0], label_results("i2t", image_row, ids[0].tolist(), self.relevance,
                                                              self.threshold))

    def text_to_image(self, caption_row: int, k: int = 5) -> list[Hit]:
        """Top-k images for a test caption, each labelled gt / related / unrelated."""
        from ..retrieval.semantic import label_results

        d, ids = self.image_index.search(self.emb.captions[caption_row:caption_row + 1], k)
        return self._image_hits(ids[0], d[0], label_results("t2i", caption_row, ids[0].tolist(), self.relevance,
                                                            self.threshold))

    def failed_but_related(self, direction: str, k: int = 5) -> np.ndarray:
        """Queries whose top-k misses the ground truth but holds a semantically related item."""
        from ..retrieval.semantic import failed_but_related

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
        from .app_typed import sentence_search

        t0 = time.perf_counter()
        vec, encoded, layout, notes = self.encode_sentence(sentence)
        d, ids, more = sentence_search(self, sentence, vec, k)  # windows for a short query on a run with regions
        q_sem = self.sentence_embedder([sentence])[0]
        rel = self.relevance.profiles @ q_sem  # text-side relevance of each image to the typed sentence
        results = self._image_hits(ids[0], d[0], [("related" if rel[i] >= self.threshold else "unrelated", rel[i])
                                                  for i in ids[0]])
        return QueryResult("text", vec, results, time.perf_counter() - t0, encoded=encoded, layout=layout,
                           notes=[*notes, *more])

    def image_query(self, src: Any, k: int = 10, name: str = "uploaded image") -> QueryResult:
        """An image (bytes, file, path or PIL) -> the top-k test captions.

        Raises ``ImageError`` (a message for the user) for non-images, corrupt, empty or huge files.
        """
        from PIL import Image

        from ..data.images import read_image, to_rgb
        from .encoding import need_encoder

        t0 = time.perf_counter()
        need_encoder(self.run, "image")  # before decoding: an embeddings run says why at once
        img = to_rgb(src) if isinstance(src, Image.Image) else read_image(src, name=name, max_side=512)
        vec = self.encode_image(img)
        d, ids = self.caption_index.search(vec[None], k)
        return QueryResult("image", vec, self._caption_hits(ids[0], d[0]), time.perf_counter() - t0, image=img)

    def query(self, terms: list[Any], target: str = "images", k: int = 10) -> QueryResult:
        """A composed query: weighted terms (``facade.composed.Term``: uploaded images, gallery items,
        sentences) summed as unit embeddings, re-normalised, and searched against the split's
        ``target`` ("images" or "sentences"); the top ``k`` as ``Hit`` records.

        Raises ``facade.composed.QueryError`` (a message for the user) for no terms, all weights
        zero, an unknown item id, terms that cancel out, or a sentence / image term on a run
        without an encoder; ``EncodingError`` / ``ImageError`` for a bad sentence or image.
        """
        from .composed import run_composed

        t0 = time.perf_counter()
        vec, hits, notes = run_composed(self, terms, target, k)
        return QueryResult("composed", vec, hits, time.perf_counter() - t0, notes=notes, terms=tuple(terms),
                           target=target)

    # ---- the map ------------------------------------------------------------------------
    @property
    def tsne(self):
        """The split's t-SNE map (loaded from the run, fitted and cached there if missing)."""
        if self._tsne is None:  # checked against these embeddings and weights, refitted if it does not fit
            from ..evaluation.evaluate import split_map

            self._tsne = split_map(self.run, self.emb, self.split)
        return self._tsne

    @property
    def regions(self) -> np.ndarray:
        """Each picture's window embeddings (``ModelConfig.regions``; split_regions.py), read or made once."""
        if self._regions is None:
            from ..evaluation.split_regions import split_regions
            self._regions = split_regions(self.run, self.emb)
        return self._regions

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """Put new vectors (queries) on the existing map (openTSNE transform)."""
        return self.tsne.place(np.atleast_2d(vectors).astype(np.float32))

    def map_frame(self):
        """A pandas DataFrame of the map: x, y, modality, row, image_row, label text, path."""
        import pandas as pd

        c, ni = self.tsne.coords, self.n_images
        img = pd.DataFrame({"x": c[:ni, 0], "y": c[:ni, 1], "modality": "image", "row": np.arange(ni),
                            "image_row": np.arange(ni), "text": [Path(p).name for p in self.emb.image_paths],
                            "path": self.emb.image_paths})
        cap = pd.DataFrame({"x": c[ni:, 0], "y": c[ni:, 1], "modality": "text", "row": np.arange(self.n_captions),
                            "image_row": self.emb.caption_image, "text": self.emb.caption_text,
                            "path": self.emb.image_paths[self.emb.caption_image]})
        return pd.concat([img, cap], ignore_index=True)

    def neighbours(self, kind: str, row: int, k: int = 5) -> dict[str, list[dict[str, Any]]]:
        """The ``k`` nearest images and ``k`` nearest captions of one item of the split (itself left out).

        ``kind`` "image" or "caption"; distances are in the shared embedding space. Raises
        ``ValueError`` for another kind and ``IndexError`` for a row outside the split.
        """
        if kind not in ("image", "caption"):
            raise ValueError(f"kind must be 'image' or 'caption', not {kind!r}")
        n = self.n_images if kind == "image" else self.n_captions
        if not 0 <= int(row) < n:
            raise IndexError(f"{kind} row {row} is outside the split (0..{n - 1})")
        row = int(row)
        vec = (self.emb.images if kind == "image" else self.emb.captions)[row:row + 1]
        skip_img, skip_cap = (row, -1) if kind == "image" else (-1, row)
        d, ids = self.image_index.search(vec, k + 1)
        images = [{"image_row": int(i), "path": self.image_path(int(i)), "image_id": str(self.emb.image_ids[i]),
                   "distance": float(dist)} for i, dist in zip(ids[0], d[0]) if int(i) != skip_img][:k]
        d, ids = self.caption_index.search(vec, k + 1)
        captions = [{"caption_row": int(c), "text": self.caption_text(int(c)), "distance": float(dist),
                     "image_row": int(self.emb.caption_image[c])}
                    for c, dist in zip(ids[0], d[0]) if int(c) != skip_cap][:k]
        for hits in (images, captions):
            for r, h in enumerate(hits):
                h["rank"] = r + 1  # after the query's own item was left out
        return {"images": images, "captions": captions}

    def recall_hits(self, k: int = 10) -> np.ndarray:
        """Per map row (images, then captions): did that item's query find its pair in the top ``k``?

        An image hits when one of its own captions is among its ``k`` nearest captions (image->text
        R@K); a caption hits when its image is among its ``k`` nearest images (text->image R@K).
        """
        if (cached := self._hits.get(k)) is not None:
            return cached
        _, cap_ids = self.caption_index.search(self.emb.images, k)
        img_hit = (self.emb.caption_image[cap_ids] == np.arange(self.n_images)[:, None]).any(axis=1)
        _, img_ids = self.image_index.search(self.emb.captions, k)
        cap_hit = (img_ids == self.emb.caption_image[:, None]).any(axis=1)
        self._hits[k] = np.concatenate([img_hit, cap_hit])
        return self._hits[k]

    def caption_stats(self) -> dict[str, np.ndarray]:
        """Per map row: ``words`` (tokens in the caption) and ``oov`` (of them, not in the run's
        vocabulary); NaN for image rows, which have no caption of their own."""
        if self._caption_stats is None:
            from ..text.tokenize import tokenize

            kv = self.run.word_vectors  # the network's or the reference's vocabulary; None: all words count
            vocab = kv.key_to_index if kv is not None else None
            toks = [tokenize(str(t)) for t in self.emb.caption_text]
            nan = np.full(self.n_images, np.nan)
            self._caption_stats = {
                "words": np.concatenate([nan, np.array([len(t) for t in toks], float)]),
                "oov": np.concatenate([nan, np.array([sum(vocab is not None and w not in vocab for w in t)
                                                      for t in toks], float)])}
        return self._caption_stats

    def relevance_to(self, sentence: str) -> np.ndarray:
        """Per map row: semantic relevance of each image (its captions' centroid) and each caption to
        ``sentence`` (cosine of sentence embeddings, as the "related" badge uses).

        Raises ``EncodingError`` for an empty sentence.
        """
        if not isinstance(sentence, str) or not sentence.strip():
            raise EncodingError("the sentence is empty: type a few words")
        q = np.asarray(self.sentence_embedder([sentence])[0], np.float32)
        return np.concatenate([self.relevance.profiles @ q, self.caption_sem @ q]).astype(float)

    # ---- diagnostics ----------------------------------------------------------------------
    def modality_gap(self) -> dict[str, Any]:
        """The split's modality-gap figures (computed once: an O(captions x items) search)."""
        if self._gap is None:
            from ..retrieval.diagnostics import modality_gap

            self._gap = modality_gap(self.emb.images, self.emb.captions, self.emb.caption_image)
        return self._gap

    def metrics(self) -> dict[str, Any] | None:
        """The run's metrics for this split if evaluated (metrics/<dataset>-<split>.json or metrics.json)."""
        from ..bundle.run import read_metrics

        m = read_metrics(Path(self.run.path) / "metrics" / f"{self.emb.dataset}-{self.split}.json",
                         self.run.weights_sha256)  # None if of other weights
        if m is not None:
            return m
        m = self.run.metrics
        if m and m.get("dataset") == self.emb.dataset and m.get("split") == self.split:
            return m
        return None


__all__ = ["Explorer", "Hit", "QueryResult", "ImageError", "EncodingError"]
