"""The one dataset model: images and their captions, with split views.

Images are referenced by path and decoded only when asked (``Dataset.load_image``),
so a dataset of any size costs a few hundred bytes an entry in memory.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import DatasetError


@dataclass(frozen=True)
class ImageRecord:
    """One image: where it lives, its id, and which split it belongs to."""

    image_id: str   # stable id within the dataset (the file name or the source's id)
    path: Path      # absolute path of the image file
    split: str      # "train", "val", "test", "restval", ...


@dataclass(frozen=True)
class CaptionRecord:
    """One caption of one image."""

    caption_id: str  # stable id within the dataset
    image_id: str    # the image this caption describes
    text: str


@dataclass
class Dataset:
    """Images + captions. ``split(name)`` returns a view holding one split."""

    name: str
    images: list[ImageRecord]
    captions: list[CaptionRecord]
    source: str = ""                       # file or spec it was loaded from (for run bundles)
    images_dir: str = ""                   # folder the image paths were resolved against
    missing: list[str] = field(default_factory=list)  # image files skipped because absent

    def __post_init__(self) -> None:
        self._by_id = {im.image_id: i for i, im in enumerate(self.images)}
        if len(self._by_id) != len(self.images):
            dup = [k for k, n in Counter(im.image_id for im in self.images).items() if n > 1][:5]
            raise DatasetError(f"{self.source or self.name}: duplicate image ids {dup}")
        self._caps: dict[str, list[int]] = {}
        for j, c in enumerate(self.captions):
            if c.image_id not in self._by_id:
                raise DatasetError(
                    f"{self.source or self.name}: caption {c.caption_id!r} refers to unknown image {c.image_id!r}"
                )
            self._caps.setdefault(c.image_id, []).append(j)

    # ---- views -------------------------------------------------------------
    @property
    def splits(self) -> dict[str, int]:
        """Images per split, in first-seen order."""
        return dict(Counter(im.split for im in self.images))

    def split(self, name: str) -> "Dataset":
        """A dataset holding only the images (and their captions) of split ``name``.

        ``"train+restval"`` style names join splits (Karpathy's COCO training set).
        """
        where, parts = self.source or self.name, name.split("+")
        have = self.splits
        for part in parts:  # each part on its own: train+bogus is refused, not trained on train
            problem = ("an empty part" if not part else f"{part!r} named twice" if parts.count(part) > 1
                       else None if part in have else f"no images in split {part!r}")
            if problem:
                raise DatasetError(f"{where}: split {name[:80]!r}: {problem}; splits here: {have}")
        names = set(parts)
        imgs = [im for im in self.images if im.split in names]
        keep = {im.image_id for im in imgs}
        caps = [c for c in self.captions if c.image_id in keep]
        return Dataset(f"{self.name}", imgs, caps, self.source, self.images_dir, [])

    def subset(self, image_ids: list[str]) -> "Dataset":
        """A dataset holding the given images, in that order."""
        imgs = [self.images[self._by_id[i]] for i in image_ids]
        keep = set(image_ids)
        caps = [c for c in self.captions if c.image_id in keep]
        return Dataset(self.name, imgs, caps, self.source, self.images_dir, [])

    def folds(self, n_folds: int = 5, fold_size: int = 1000) -> list["Dataset"]:
        """COCO-1k style folds: consecutive blocks of ``fold_size`` images."""
        if len(self.images) < n_folds * fold_size:
            raise DatasetError(
                f"{n_folds} folds of {fold_size} images need {n_folds * fold_size} images; have {len(self.images)}"
            )
        return [
            self.subset([im.image_id for im in self.images[k * fold_size:(k + 1) * fold_size]])
            for k in range(n_folds)
        ]

    # ---- lookups -----------------------------------------------------------
    def image(self, image_id: str) -> ImageRecord:
        return self.images[self._by_id[image_id]]

    def image_index(self, image_id: str) -> int:
        return self._by_id[image_id]

    def captions_of(self, image_id: str) -> list[CaptionRecord]:
        return [self.captions[j] for j in self._caps.get(image_id, [])]

    def caption_image_index(self) -> list[int]:
        """For each caption (in order), the row of its image in ``images``."""
        return [self._by_id[c.image_id] for c in self.captions]

    def load_image(self, image_id: str, max_side: int | None = None):
        """Decode one image as RGB PIL (lazy; see ``xmr_core.data.images.read_image``)."""
        from .images import read_image

        return read_image(self.image(image_id).path, max_side=max_side)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def summary(self) -> dict[str, dict[str, int]]:
        """Images and captions per split."""
        out: dict[str, dict[str, int]] = {}
        for im in self.images:
            d = out.setdefault(im.split, {"images": 0, "captions": 0})
            d["images"] += 1
            d["captions"] += len(self._caps.get(im.image_id, []))
        return out
