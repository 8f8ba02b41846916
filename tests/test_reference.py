"""The classical CCA reference (xmr_core/reference.py): the closed-form CCA itself, the caption side,
and the command end to end on a small generated dataset."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmr_core.evaluation.reference import CCAConfig, fit_cca, mean_vectors, run_reference

ROOT = Path(__file__).resolve().parents[1]


def _two_views(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two noisy linear views (40-d and 25-d) of one 5-d latent."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 5))
    x = z @ rng.normal(size=(5, 40)) + 0.3 * rng.normal(size=(n, 40))
    y = z @ rng.normal(size=(5, 25)) + 0.3 * rng.normal(size=(n, 25))
    return x, y, z


def test_cca_recovers_the_shared_latent():
    x, y, _ = _two_views()
    mx, wx, my, wy, corr = fit_cca(x[:500], y[:500], dim=5, ridge=1e-3, power=0.0)
    assert corr.shape == (5,) and np.all(np.diff(corr) <= 1e-9) and corr[0] > 0.9 and corr[-1] > 0.8
    px, py = (x[500:] - mx) @ wx, (y[500:] - my) @ wy
    px /= np.linalg.norm(px, axis=1, keepdims=True)
    py /= np.linalg.norm(py, axis=1, keepdims=True)
    top1 = (px @ py.T).argmax(1)
    assert (top1 == np.arange(100)).mean() > 0.5   # held-out pairs found among 100 (chance 1 %)


def test_cca_directions_are_uncorrelated_and_weighted():
    x, y, _ = _two_views(seed=1)
    mx, wx, my, wy, corr = fit_cca(x, y, dim=4, ridge=1e-6, power=0.0)
    px = (x - mx) @ wx
    cov = px.T @ px / len(px)
    assert np.allclose(cov, np.eye(4), atol=1e-3)   # whitened: unit variance, uncorrelated
    _, wx2, _, _, _ = fit_cca(x, y, dim=4, ridge=1e-6, power=2.0)
    assert np.allclose(wx2, wx * corr ** 2)


def test_cca_rejects_unpaired_rows():
    from xmr_core.errors import XmrError

    with pytest.raises(XmrError, match="paired"):
        fit_cca(np.zeros((5, 3)), np.zeros((4, 3)), dim=2, ridge=0.1, power=1.0)


def test_mean_vectors_average_known_words_only():
    class KV:  # the KeyedVectors surface mean_vectors reads
        vector_size = 2
        key_to_index = {"dog": 0, "runs": 1}
        vectors = np.array([[1.0, 0.0], [0.0, 3.0]], dtype=np.float32)

    out = mean_vectors(KV(), ["A dog runs!", "qqq zzz", ""])
    assert np.allclose(out, [[0.5, 1.5], [0, 0], [0, 0]])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("cca")
    path = generate_demo(out, n_images=120, seed=5, image_size=64, n_val=20, n_test=20)
    return str(path), str(out / "images")


def test_reference_end_to_end(tiny):
    spec, images = tiny
    m = run_reference(spec, images, split="val", cfg=CCAConfig(image_size=64, dim=16, w2v_epochs=3),
                      progress=False)
    assert m["n_images"] == 20 and m["n_captions"] == 100
    # the demo's captions name colours and shapes the photo features see: well above chance (R@10 = 50 %)
    assert m["i2t"]["R@10"] > 60 and m["t2i"]["R@10"] > 60
    r = subprocess.run([sys.executable, "-m", "xmr_core", "reference", "--dataset", spec, "--images-dir", images,
                        "--split", "val", "--image-size", "64", "--dim", "16", "--json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    out = json.loads(r.stdout)
    assert out["config"]["dim"] == 16 and out["split"] == "val" and "R@10" in out["t2i"]
