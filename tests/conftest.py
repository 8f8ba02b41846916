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


@pytest.fixture
def tiny_ddp_train():
    """``tiny_ddp_train(spec, images, out, *flags)``: the command line of a two-process CPU DDP run
    (torchrun) of the demo recipe shrunk to the tiny test set's sizes (80 px, width 0.125). ``--standalone``:
    torchrun takes a free port, so two suites side by side (README: as on each CPU) cannot collide."""
    import sys

    def cmd(spec: str, images: str, out: Path, *flags: str) -> list[str]:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                "-m", "xmr_core", "train", "--dataset", spec, "--images-dir", images, "--recipe", "demo",
                "--input-size", "80", "--width", "0.125", "--canvas", "80", "--superpixel", "2",
                "--batch-size", "16", "--classes-per-batch", "4", "--captions-per-class", "3", "--val-every", "0",
                "--threads", "1", "--device", "cpu", "--out", str(out), *flags]

    return cmd
