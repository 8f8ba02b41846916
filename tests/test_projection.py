"""t-SNE map: fit, place, save/load without pickle, PNG export."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("openTSNE")

from xmr_core.evaluation.projection import TSNEMap, export_png, fit_tsne  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((6, 32))
    img = centres[np.repeat(np.arange(6), 10)] + 0.3 * rng.standard_normal((60, 32))
    cap = np.repeat(img, 4, axis=0) + 0.3 * rng.standard_normal((240, 32)) + 0.5
    x = np.concatenate([img, cap]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    modality = np.array(["image"] * 60 + ["text"] * 240)
    return x, modality


@pytest.fixture(scope="module")
def fitted(data):
    return fit_tsne(data[0], seed=0, n_iter=80, early_exaggeration_iter=40)


def test_fit_shapes_and_determinism(data, fitted):
    x, _ = data
    assert fitted.coords.shape == (300, 2) and np.isfinite(fitted.coords).all()
    again = fit_tsne(x, seed=0, n_iter=80, early_exaggeration_iter=40)
    np.testing.assert_allclose(again.coords, fitted.coords, atol=1e-3)


def test_place_near_original(data, fitted):
    x, _ = data
    placed = fitted.place(x[:20] + 1e-3)
    assert placed.shape == (20, 2)
    # a copy of a fitted point lands near that point (relative to the map's size)
    span = np.ptp(fitted.coords, axis=0).max()
    err = np.linalg.norm(placed - fitted.coords[:20], axis=1)
    assert np.median(err) < 0.1 * span
    assert fitted.place(np.zeros((0, 32), np.float32)).shape == (0, 2)


def test_save_load_roundtrip(tmp_path, data, fitted):
    x, _ = data
    fitted.save(tmp_path / "map")
    files = sorted(p.name for p in (tmp_path / "map").iterdir())
    assert files == ["coords.npy", "tsne.json", "vectors.npy"]  # no pickle
    meta = json.loads((tmp_path / "map" / "tsne.json").read_text())
    assert meta["seed"] == 0 and meta["n"] == 300
    loaded = TSNEMap.load(tmp_path / "map")
    np.testing.assert_allclose(loaded.coords, fitted.coords, atol=1e-6)
    a = fitted.place(x[50:60])
    b = loaded.place(x[50:60])
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_load_rejects_other_folders(tmp_path):
    (tmp_path / "tsne.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError):
        TSNEMap.load(tmp_path)


def test_export_png(tmp_path, data, fitted):
    from PIL import Image

    _, modality = data
    path = export_png(fitted.coords, modality, tmp_path / "fig3.png", size=400, highlight=fitted.coords[:2])
    im = Image.open(path).convert("RGB")
    assert im.size == (400, 400)
    px = np.asarray(im).reshape(-1, 3)
    assert ((px[:, 0] > 180) & (px[:, 1] < 80) & (px[:, 2] < 80)).any()  # red images
    assert ((px[:, 2] > 150) & (px[:, 0] < 80)).any()  # blue text
    # bool modality works too
    export_png(fitted.coords, modality == "image", tmp_path / "b.png", size=200)
    with pytest.raises(ValueError):
        export_png(fitted.coords, modality[:5], tmp_path / "c.png")
