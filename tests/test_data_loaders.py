"""Loaders on generated files and on the real data in ../shared/data (skipped when absent)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xmr_core.data import load_coco, load_csv, load_dataset, load_karpathy, read_image
from xmr_core.errors import DatasetError, ImageError

ROOT = Path(__file__).resolve().parents[1]


def _img(path: Path, mode: str = "RGB", size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)
    return path


def _karpathy(tmp: Path, items: list[dict]) -> Path:
    p = tmp / "dataset_x.json"
    p.write_text(json.dumps({"dataset": "x", "images": items}))
    return p


def test_karpathy_layout_with_filepath(tmp_path):
    _img(tmp_path / "imgs" / "val2014" / "a.jpg")
    _img(tmp_path / "imgs" / "b.jpg")
    p = _karpathy(tmp_path, [
        {"filename": "a.jpg", "filepath": "val2014", "split": "test",
         "sentences": [{"raw": "A dog."}, {"raw": "  a  brown dog "}]},
        {"filename": "b.jpg", "split": "train", "sentences": [{"raw": "x"}] * 7},
    ])
    ds = load_karpathy(p, tmp_path / "imgs")
    assert ds.summary() == {"test": {"images": 1, "captions": 2}, "train": {"images": 1, "captions": 7}}
    assert ds.images[0].image_id == "val2014/a.jpg"
    assert ds.captions[1].text == "a brown dog"  # whitespace normalised
    test = ds.split("test")
    assert len(test) == 1 and len(test.captions) == 2
    assert test.caption_image_index() == [0, 0]


@pytest.mark.parametrize("content,needle", [
    ("{not json", "malformed JSON"),
    (json.dumps({"nope": []}), "missing key 'images'"),
    (json.dumps({"images": [{"filename": "a.jpg", "sentences": []}]}), "missing key 'split'"),
])
def test_karpathy_bad_files(tmp_path, content, needle):
    p = tmp_path / "d.json"
    p.write_text(content)
    with pytest.raises(DatasetError, match=needle) as e:
        load_karpathy(p, tmp_path)
    assert str(p) in str(e.value)


def test_missing_images_reported_and_skippable(tmp_path):
    _img(tmp_path / "a.jpg")
    items = [{"filename": f, "split": "test", "sentences": [{"raw": "cap"}]} for f in ("a.jpg", "b.jpg", "c.jpg")]
    p = _karpathy(tmp_path, items)
    with pytest.raises(DatasetError, match="2 of 3 image files are missing") as e:
        load_karpathy(p, tmp_path)
    assert "b.jpg" in str(e.value) and "--skip-missing" in str(e.value)
    ds = load_karpathy(p, tmp_path, skip_missing=True)
    assert len(ds) == 1 and len(ds.missing) == 2


def test_escaping_file_names_rejected(tmp_path):
    p = _karpathy(tmp_path, [{"filename": "../../etc/passwd", "split": "test", "sentences": [{"raw": "x"}]}])
    with pytest.raises(DatasetError, match="escapes the images folder"):
        load_karpathy(p, tmp_path / "imgs")
    p = _karpathy(tmp_path, [{"filename": "/etc/passwd", "split": "test", "sentences": [{"raw": "x"}]}])
    with pytest.raises(DatasetError, match="absolute"):
        load_karpathy(p, tmp_path / "imgs")


def test_empty_caption_rejected(tmp_path):
    _img(tmp_path / "a.jpg")
    p = _karpathy(tmp_path, [{"filename": "a.jpg", "split": "test", "sentences": [{"raw": "   "}]}])
    with pytest.raises(DatasetError, match="empty caption"):
        load_karpathy(p, tmp_path)


def test_coco_official_format(tmp_path):
    ann = tmp_path / "annotations" / "captions_val2017.json"
    ann.parent.mkdir()
    _img(tmp_path / "val2017" / "1.jpg")
    _img(tmp_path / "val2017" / "2.jpg")
    ann.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "1.jpg"}, {"id": 2, "file_name": "2.jpg"}],
        "annotations": [{"image_id": 1, "caption": f"c{i}", "id": i} for i in range(6)]
                       + [{"image_id": 2, "caption": "d", "id": 9}],
    }))
    ds = load_coco(ann)
    assert ds.summary() == {"val": {"images": 2, "captions": 7}}
    assert len(ds.captions_of("1.jpg")) == 6  # COCO: variable caption counts
    assert load_dataset(ann).name == ds.name  # auto-detected


def test_coco_unknown_image_id(tmp_path):
    ann = tmp_path / "captions_val2017.json"
    ann.write_text(json.dumps({"images": [], "annotations": [{"image_id": 5, "caption": "x"}]}))
    with pytest.raises(DatasetError, match="image_id 5"):
        load_coco(ann, tmp_path)


def test_csv_loader(tmp_path):
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    p = tmp_path / "caps.csv"
    p.write_text("image,caption\na.png,a cat\na.png,\"a cat, sitting\"\nb.png,a dog\n")
    ds = load_csv(p)
    assert ds.summary() == {"test": {"images": 2, "captions": 3}}
    assert ds.captions_of("a.png")[1].text == "a cat, sitting"
    bad = tmp_path / "bad.csv"
    bad.write_text("img,text\na.png,x\n")
    with pytest.raises(DatasetError, match="missing column 'image'"):
        load_csv(bad)
    esc = tmp_path / "esc.csv"
    esc.write_text("image,caption\n../x.png,hi\n")
    with pytest.raises(DatasetError, match="escapes"):
        load_csv(esc)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "LA"])
def test_read_image_converts_modes(tmp_path, mode):
    ext = "tiff" if mode == "CMYK" else "png"
    im = Image.new(mode, (5, 4))
    p = tmp_path / f"x.{ext}"
    im.save(p)
    out = read_image(p)
    assert out.mode == "RGB" and out.size == (5, 4)


def test_read_image_exif_orientation(tmp_path):
    im = Image.new("RGB", (10, 4), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "r.jpg"
    im.save(p, exif=exif)
    assert read_image(p).size == (4, 10)


def test_read_image_bad_inputs(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(tmp_path / "empty.jpg")
    (tmp_path / "text.jpg").write_text("hello, I am not an image")
    with pytest.raises(ImageError, match="not an image"):
        read_image(tmp_path / "text.jpg")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(good)
    (tmp_path / "trunc.jpg").write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(tmp_path / "trunc.jpg")
    with pytest.raises(ImageError, match="empty"):
        read_image(b"", name="upload")


def test_read_image_pixel_cap(tmp_path, monkeypatch):
    import xmr_core.data.images as images

    p = tmp_path / "big.png"
    Image.new("L", (400, 300)).save(p)
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000)
    with pytest.raises(ImageError, match="pixels"):
        images.read_image(p)


# ---- demo generator -------------------------------------------------------------------
def test_demo_deterministic_and_varied(tmp_path):
    from xmr_core.data.demo import generate_demo

    a = generate_demo(tmp_path / "a", n_images=240, seed=3, image_size=64, n_val=20, n_test=20)
    b = generate_demo(tmp_path / "b", n_images=240, seed=3, image_size=64, n_val=20, n_test=20)
    c = generate_demo(tmp_path / "c", n_images=240, seed=4, image_size=64, n_val=20, n_test=20)
    ja, jb, jc = (json.loads(p.read_text()) for p in (a, b, c))
    assert ja["images"] == jb["images"]
    assert ja["images"] != jc["images"]
    assert (tmp_path / "a/images/scene_00007.png").read_bytes() == (tmp_path / "b/images/scene_00007.png").read_bytes()
    caps = [s["raw"] for im in ja["images"] for s in im["sentences"]]
    assert len(caps) == 240 * 5
    assert len(set(caps)) > 0.8 * len(caps)  # varied wording
    per_image = [len({s["raw"] for s in im["sentences"]}) for im in ja["images"]]
    assert np.mean(per_image) > 4.5  # five different captions for almost every image
    vocab = {w for c in caps for w in c.split()}
    assert len(vocab) > 80
    ds = load_karpathy(a, tmp_path / "a" / "images")
    assert ds.summary()["test"]["images"] == 20 and ds.summary()["train"]["images"] == 200


def test_demo_has_semantic_twins(tmp_path):
    """Other images share content (shapes+colours), described in other words."""
    from xmr_core.data.demo import generate_demo

    p = generate_demo(tmp_path, n_images=600, seed=0, image_size=48, n_val=50, n_test=50)
    items = json.loads(p.read_text())["images"]
    keys = [tuple(sorted((t["shape"], t["colour"]) for t in im["scene"]["things"])) for im in items]
    from collections import Counter

    counts = Counter(keys)
    twins = sum(1 for k in keys if counts[k] > 1)
    assert twins > 0.3 * len(keys)


# ---- real data ------------------------------------------------------------------------
@pytest.mark.realdata
def test_real_flickr8k(shared_data):
    ds = load_karpathy(shared_data / "flickr8k" / "dataset_flickr8k.json")
    s = ds.summary()
    assert s["train"] == {"images": 6000, "captions": 30000}
    assert s["val"] == {"images": 1000, "captions": 5000}
    im = ds.load_image(ds.images[0].image_id)
    assert im.mode == "RGB" and im.size == (160, 160)


@pytest.mark.realdata
def test_real_coco_mini(shared_data):
    ds = load_dataset(shared_data / "coco_mini" / "annotations" / "captions_val2017.json")
    assert len(ds) == 79
    counts = [len(ds.captions_of(im.image_id)) for im in ds.images]
    assert min(counts) >= 5  # (variable counts are covered by test_coco_official_format)
    assert ds.load_image(ds.images[0].image_id).mode == "RGB"
    tr = load_coco(shared_data / "coco_mini" / "annotations" / "captions_train2017.json")
    assert len(tr) == 80 and set(tr.splits) == {"train"}


# ---- CLI ------------------------------------------------------------------------------
def _cli(*args: str, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "xmr_core", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_cli_data_info_and_errors(tmp_path):
    _img(tmp_path / "a.jpg")
    p = _karpathy(tmp_path, [{"filename": "a.jpg", "split": "test", "sentences": [{"raw": "a cat"}] * 5}])
    r = _cli("data", "info", str(p), "--images-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "test" in r.stdout and "5" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    r = _cli("data", "info", str(bad))
    assert r.returncode == 2
    assert "malformed JSON" in r.stderr and "Traceback" not in r.stderr
    r = _cli("data", "info", str(p), "--images-dir", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "missing" in r.stderr
    r = _cli("data", "info", str(p), "--bogus")
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
