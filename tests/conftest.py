"""Shared fixtures: a small generated demo dataset, the real data folder (skipped when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import xmr_core  # noqa: F401,E402 - first, so its OMP_WAIT_POLICY default holds before any test imports torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XMR_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A 260-image demo dataset (train 220 / val 20 / test 20) in a temp folder."""
    from xmr_core.data.demo import generate_demo
    from xmr_core.data.loaders import load_karpathy

    out = tmp_path_factory.mktemp("demo")
    path = generate_demo(out, n_images=260, seed=1, image_size=96, n_val=20, n_test=20)
    return load_karpathy(path, out / "images")


@pytest.fixture(scope="session")
def small_encoder(small_demo):
    from xmr_core.config import EncodingConfig
    from xmr_core.text.encoder import TextEncoder

    cfg = EncodingConfig(canvas=96, superpixel=3, gap=3, margin=3, w2v_epochs=5)
    return TextEncoder.fit([c.text for c in small_demo.split("train").captions], cfg)
