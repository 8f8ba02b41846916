"""Dataset loaders: Karpathy-split JSON, official COCO captions JSON, CSV, demo.

Each loader checks its input and raises one ``DatasetError`` naming the file and
the problem (malformed JSON, missing keys, missing images, unsafe file names,
empty captions). ``load_dataset`` picks the loader from the file.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..files import MAX_DATASET_BYTES, open_regular, read_json
from .dataset import CaptionRecord, Dataset, ImageRecord
from .demo import ensure_demo

# A caption is a sentence; a longer "caption" is a broken file (and would be tokenised in full).
MAX_CAPTION_CHARS = 10_000
# demo:N generates N PNGs (~2 ms each) and trains on them: 20,000 is ~7x the default demo.
MAX_DEMO_IMAGES = 20_000


def _read_json(path: Path) -> Any:
    return read_json(path, DatasetError, MAX_DATASET_BYTES)


def _key(obj: Any, key: str, where: str, path: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DatasetError(f"{path}: missing key {key!r} in {where}")
    return obj[key]


def safe_join(root: Path, rel: str, source: Path) -> Path:
    """``root / rel``, refusing names that escape ``root`` (``../``, absolute paths, symlinks out)."""
    if not isinstance(rel, str) or not rel.strip():
        raise DatasetError(f"{source}: empty image file name")
    if os.path.isabs(rel) or "\x00" in rel:
        raise DatasetError(f"{source}: image file name {rel!r} is absolute; it must stay inside {root}")
    root_r = root.resolve()
    p = (root_r / rel).resolve()
    if root_r != p and root_r not in p.parents:
        raise DatasetError(f"{source}: image file name {rel!r} escapes the images folder {root}")
    return p


def _check_missing(images: list[ImageRecord], source: Path, skip_missing: bool) -> tuple[list[ImageRecord], list[str]]:
    missing = [im for im in images if not im.path.is_file()]
    if missing and not skip_missing:
        shown = ", ".join(str(m.path) for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DatasetError(
            f"{source}: {len(missing)} of {len(images)} image files are missing: {shown}{more}. "
            "Check --images-dir, or pass --skip-missing to leave them out."
        )
    gone = {m.image_id for m in missing}
    return [im for im in images if im.image_id not in gone], [str(m.path) for m in missing]


def _finish(name: str, images: list[ImageRecord], captions: list[CaptionRecord], source: Path,
            images_dir: Path, skip_missing: bool) -> Dataset:
    images, missing = _check_missing(images, source, skip_missing)
    keep = {im.image_id for im in images}
    captions = [c for c in captions if c.image_id in keep]
    has_caption = {c.image_id for c in captions}
    bare = [im.image_id for im in images if im.image_id not in has_caption]
    if bare:
        raise DatasetError(f"{source}: {len(bare)} images have no caption, e.g. {bare[:3]}")
    if not images:
        raise DatasetError(f"{source}: no usable images")
    return Dataset(name, images, captions, str(source), str(images_dir), missing)


def _clean_caption(text: Any, where: str, source: Path) -> str:
    if not isinstance(text, str):
        raise DatasetError(f"{source}: caption in {where} is not a string ({type(text).__name__})")
    if len(text) > MAX_CAPTION_CHARS:
        raise DatasetError(f"{source}: caption in {where} is {len(text):,} characters long; the limit is "
                           f"{MAX_CAPTION_CHARS:,}")
    text = " ".join(text.split())
    if not text:
        raise DatasetError(f"{source}: empty caption in {where}")
    return text


def load_karpathy(path: str | Path, images_dir: str | Path | None = None,
                  skip_missing: bool = False) -> Dataset:
    """Karpathy-split JSON (``dataset_flickr8k/30k/coco.json``).

    ``images[].filename`` (joined to ``filepath`` when present, as in COCO),
    ``.split``, ``.sentences[].raw``. ``images_dir`` defaults to an ``images/``
    folder beside the JSON.
    """
    path = Path(path)
    data = _read_json(path)
    items = _key(data, "images", "the top level", path)
    if not isinstance(items, list):
        raise DatasetError(f"{path}: 'images' must be a list")
    root = Path(images_dir) if images_dir else path.parent / "images"
    images, captions = [], []
    for i, it in enumerate(items):
        where = f"images[{i}]"
        fname = _key(it, "filename", where, path)
        split = _key(it, "split", where, path)
        sents = _key(it, "sentences", where, path)
        if not isinstance(fname, str) or not isinstance(it.get("filepath") or "", str):
            raise DatasetError(f"{path}: {where}: 'filename' and 'filepath' must be strings")
        rel = os.path.join(it["filepath"], fname) if it.get("filepath") else fname
        image_id = rel.replace(os.sep, "/")
        images.append(ImageRecord(image_id, safe_join(root, rel, path), str(split)))
        if not isinstance(sents, list) or not sents:
            raise DatasetError(f"{path}: {where} ({fname}) has no sentences")
        for j, s in enumerate(sents):
            raw = _key(s, "raw", f"{where}.sentences[{j}]", path)
            cid = str(s.get("sentid", f"{image_id}#{j}"))
            captions.append(CaptionRecord(cid, image_id, _clean_caption(raw, f"{where}.sentences[{j}] ({fname})", path)))
    return _finish(str(data.get("dataset", path.stem)), images, captions, path, root, skip_missing)


def load_coco(path: str | Path, images_dir: str | Path | None = None,
              skip_missing: bool = False, split: str | None = None) -> Dataset:
    """Official COCO ``captions_*.json``: ``images[].id/file_name``, ``annotations[].image_id/caption``.

    The split is taken from the file name (``captions_val2017.json`` -> ``val``)
    unless given; ``images_dir`` defaults to ``../<train2017|val2017>`` beside
    the annotations folder, as COCO is laid out.
    """
    path = Path(path)
    data = _read_json(path)
    items = _key(data, "images", "the top level", path)
    anns = _key(data, "annotations", "the top level", path)
    if not isinstance(items, list) or not isinstance(anns, list):
        raise DatasetError(f"{path}: 'images' and 'annotations' must be lists")
    stem = path.stem.replace("captions_", "")  # e.g. "val2017"
    if split is None:
        split = "val" if stem.startswith("val") else "test" if stem.startswith("test") else "train"
    root = Path(images_dir) if images_dir else path.parent.parent / stem
    images, ids = [], {}
    for i, it in enumerate(items):
        iid = _key(it, "id", f"images[{i}]", path)
        fname = _key(it, "file_name", f"images[{i}]", path)
        if not isinstance(iid, (int, str)):
            raise DatasetError(f"{path}: images[{i}].id must be a number or a string")
        ids[iid] = fname
        images.append(ImageRecord(fname, safe_join(root, fname, path), split))
    captions = []
    for k, a in enumerate(anns):
        iid = _key(a, "image_id", f"annotations[{k}]", path)
        cap = _key(a, "caption", f"annotations[{k}]", path)
        if not isinstance(iid, (int, str)) or iid not in ids:
            raise DatasetError(f"{path}: annotations[{k}] refers to image_id {iid} not in 'images'")
        cid = str(a.get("id", k))
        captions.append(CaptionRecord(cid, ids[iid], _clean_caption(cap, f"annotations[{k}]", path)))
    return _finish(f"coco-{stem}", images, captions, path, root, skip_missing)


def load_csv(path: str | Path, images_dir: str | Path | None = None,
             skip_missing: bool = False, split: str = "test") -> Dataset:
    """A CSV with ``image,caption`` columns (many rows per image) and an optional ``split`` column."""
    path = Path(path)
    root = Path(images_dir) if images_dir else path.parent
    images: dict[str, ImageRecord] = {}
    captions = []
    try:
        # utf-8-sig: Excel writes "UTF-8 CSV" with a byte-order mark, which would hide the 'image' column
        with open_regular(path, MAX_DATASET_BYTES, DatasetError, text=True) as f:  # not /dev/zero, a FIFO
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            for col in ("image", "caption"):
                if col not in cols:
                    raise DatasetError(f"{path}: missing column {col!r} (header is {cols}); expected 'image,caption'")
            for n, row in enumerate(reader, start=2):
                name = (row.get("image") or "").strip()
                if not name:
                    raise DatasetError(f"{path}: line {n}: empty image name")
                if name not in images:
                    images[name] = ImageRecord(name, safe_join(root, name, path),
                                               (row.get("split") or split).strip())
                text = _clean_caption(row.get("caption"), f"line {n}", path)
                captions.append(CaptionRecord(f"{name}#{n}", name, text))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: malformed CSV ({e})") from None
    return _finish(path.stem, list(images.values()), captions, path, root, skip_missing)


def load_demo(n_images: int = 3000, seed: int = 0, out_dir: str | Path | None = None,
              progress: bool = False) -> Dataset:
    """The generated demo dataset (``data/demo.py``), generated on first use."""
    path = ensure_demo(n_images, seed, out_dir, progress)
    ds = load_karpathy(path, path.parent / "images")
    ds.source = f"demo:{n_images}" if n_images != 3000 else "demo"
    return ds


def load_dataset(spec: str | Path, images_dir: str | Path | None = None,
                 skip_missing: bool = False) -> Dataset:
    """Load by spec: ``demo`` (generated), a ``.csv``, a COCO captions JSON or a Karpathy JSON."""
    spec_s = str(spec)
    if spec_s == "demo" or spec_s.startswith("demo:"):
        n = None
        if ":" in spec_s:
            arg = spec_s.split(":", 1)[1]
            if not (arg.isascii() and arg.isdigit()) or not 20 <= int(arg) <= MAX_DEMO_IMAGES:
                raise DatasetError(f"{spec_s[:40]}: 'demo:N' needs a whole number of images N, "
                                   f"20 <= N <= {MAX_DEMO_IMAGES:,} (got {arg[:30]!r})")
            n = int(arg)
        return load_demo(n_images=n) if n else load_demo()
    path = Path(spec_s)
    if path.suffix.lower() == ".csv":
        return load_csv(path, images_dir, skip_missing)
    if path.suffix.lower() != ".json":
        raise DatasetError(f"{path}: unknown dataset format; give 'demo', a .csv, a Karpathy JSON or a COCO captions JSON")
    data = _read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        return load_coco(path, images_dir, skip_missing)
    return load_karpathy(path, images_dir, skip_missing)
