"""Logs a person can read: with output captured (not a terminal), `train` and `evaluate` write a
bounded number of progress lines instead of a carriage-return flood (xmr_core/progress.py)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lines(text: str) -> list[str]:
    """What a log viewer shows as lines: every carriage return or newline starts one."""
    return [s for s in re.split(r"[\r\n]+", text) if s.strip()]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmr_core", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("logs")
    path = generate_demo(out, n_images=60, seed=4, image_size=64, n_val=10, n_test=10)
    return str(path), str(out / "images")


def test_train_and_evaluate_logs_are_bounded(tiny, tmp_path):
    spec, images = tiny
    run = tmp_path / "run"
    # 80 steps of a tiny network: a bar redrawn every 0.1 s (tqdm's default) writes dozens of lines
    r = _cli("train", "--recipe", "demo", "--dataset", spec, "--images-dir", images, "--out", str(run),
             "--input-size", "80", "--width", "0.125", "--canvas", "80", "--batch-size", "16",
             "--captions-per-class", "3", "--epochs", "4", "--max-steps", "80", "--val-every", "2",
             "--val-images", "10", "--threads", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    train_lines = _lines(r.stdout + r.stderr)
    # per epoch: one summary row; plus the bar's first and last state and the final "done" line
    assert len(train_lines) <= 12, train_lines
    assert any(line.startswith("done:") for line in train_lines)
    r = _cli("evaluate", "--run", str(run), "--dataset", spec, "--images-dir", images, "--split", "test")
    assert r.returncode == 0, r.stderr[-2000:]
    eval_lines = _lines(r.stdout + r.stderr)
    assert len(eval_lines) <= 40, eval_lines
