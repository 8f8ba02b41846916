"""Runs are never overwritten by accident (issue 14, serious cases 1-4): training into a run refuses
without --resume / --overwrite, --resume needs saved state and restores the run's data, a run folder
has one trainer at a time, a failed start leaves the old bundle untouched; and the CLI's last line of
defence (any exception -> one line, exit 2)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from test_train import ENC, MOD, TR, tiny_ds  # noqa: F401 - tiny_ds is a fixture used below
from xmr_core.cli.commands import main
from xmr_core.bundle.run import load_run
from xmr_core.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--recipe", "demo", "--input-size", "80", "--width", "0.125", "--canvas", "80", "--superpixel", "2",
        "--batch-size", "16", "--classes-per-batch", "4", "--captions-per-class", "3", "--val-every", "0",
        "--threads", "1", "--w2v-epochs", "2"]


def _error(capsys, rc: int, needle: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("\r")]
    lines = [ln for ln in lines if "step/s" not in ln and "%|" not in ln]
    assert rc == 2 and "Traceback" not in err, (rc, err[-1500:])
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-1500:]
    assert needle in lines[0], lines[0]
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture
def ck(tmp_path, monkeypatch):
    monkeypatch.setenv("XMR_CHECKPOINTS", str(tmp_path / "ck"))
    return tmp_path / "ck"


def _data(tiny_ds) -> list[str]:  # noqa: F811
    spec, images = tiny_ds
    return ["--dataset", spec, "--images-dir", images]


def test_training_into_a_run_refuses_keeps_it_and_overwrite_replaces_it(tiny_ds, ck, capsys):  # noqa: F811
    """Case 1: `train --recipe demo` into checkpoints/demo no longer replaces the run."""
    assert main(["train", *_data(tiny_ds), *TINY, "--max-steps", "1"]) == 0
    run = ck / "demo"
    (run / "metrics.json").write_text('{"R@10": 99}')
    (run / "report.md").write_text("R@10 99 %")
    before = _snapshot(run)
    _error(capsys, main(["train", *_data(tiny_ds), *TINY, "--max-steps", "1", "--seed", "5"]), "holds a trained run")
    assert _snapshot(run) == before
    # --overwrite whose start fails (an unknown split): the old bundle is untouched, nothing left over
    _error(capsys, main(["train", *_data(tiny_ds), *TINY, "--overwrite", "--train-split", "nope"]), "nope")
    assert _snapshot(run) == before and _hidden(ck) == []
    # --overwrite that trains: a new bundle, with no metrics or report of the old weights
    assert main(["train", *_data(tiny_ds), *TINY, "--max-steps", "1", "--seed", "5", "--overwrite"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 5
    assert not (run / "metrics.json").exists() and not (run / "report.md").exists()
    assert _hidden(ck) == []
    load_run(run)
    _error(capsys, main(["train", *_data(tiny_ds), "--resume", "--overwrite", "--name", "demo"]), "--overwrite")


def test_a_folder_that_is_not_a_run_is_never_trained_into(tiny_ds, tmp_path, capsys):  # noqa: F811
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("x")
    for extra in ([], ["--overwrite"]):
        _error(capsys, main(["train", *_data(tiny_ds), *TINY, "--out", str(tmp_path / "mine"), *extra]),
               "holds no run")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]
    (tmp_path / "f").write_text("x")
    _error(capsys, main(["train", *_data(tiny_ds), *TINY, "--out", str(tmp_path / "f")]), "is a file")


def test_resume_needs_saved_state(tiny_ds, ck, capsys):  # noqa: F811
    """Case 2: --resume on a finished run without last.pt (or on nothing) refuses; nothing is written."""
    _error(capsys, main(["train", "--resume", "--name", "demo"]), "nothing to resume")
    assert main(["train", *_data(tiny_ds), *TINY, "--max-steps", "1"]) == 0
    (ck / "demo" / "last.pt").unlink()
    before = _snapshot(ck / "demo")
    _error(capsys, main(["train", "--resume", "--name", "demo"]), "nothing to resume")
    assert _snapshot(ck / "demo") == before


def test_resume_restores_the_split_and_refuses_disagreeing_flags(tiny_ds, tmp_path, capsys):  # noqa: F811
    """Case 4: a run trained on train+val resumes (it used to fail with a size mismatch); a flag that
    disagrees with the saved run is one clear line; the run's length may change."""
    out = ["--out", str(tmp_path / "r")]
    assert main(["train", *_data(tiny_ds), *TINY, *out, "--train-split", "train+val", "--epochs", "2",
                 "--max-steps", "2"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["dataset"]["train_split"] == "train+val" and cfg["dataset"]["n_classes"] == 34
    for flag, value in (("--train-split", "train"), ("--lr", "0.5"), ("--width", "0.25"), ("--recipe", "paper"),
                        ("--canvas", "96"), ("--dataset", "demo"), ("--words-weight", "0.5")):
        _error(capsys, main(["train", *out, "--resume", flag, value]), f"{flag} {value} disagrees")
    saved_lr = str(cfg["train"]["lr"])
    assert main(["train", *out, "--resume", "--max-steps", "0", "--lr", saved_lr]) == 0  # the saved lr: fine
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["epoch"] == 2
    assert main(["train", *out, "--resume", "--epochs", "3", "--max-steps", "0"]) == 0
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["epoch"] == 3
    _error(capsys, main(["train", *out, "--resume", "--epochs", "0"]), "--epochs")


def test_resume_removes_outputs_of_the_old_weights(tiny_ds, tmp_path):  # noqa: F811
    spec, images = tiny_ds
    run = tmp_path / "run"
    train(run, spec, images, ENC, MOD, replace(TR, val_every=0, epochs=1), progress=False)
    (run / "metrics.json").write_text("{}")
    (run / "report.md").write_text("old")
    derived = ("metrics.json", "metrics", "report.md", "embeddings", "tsne", "export")
    for d in derived[1:]:
        if not (run / d).exists():
            (run / d).mkdir()
            (run / d / "x.npy").write_bytes(b"old")
    train(run, spec, images, resume=True, resume_overrides={"epochs": 2}, progress=False)
    assert not any((run / n).exists() for n in derived)


def test_live_lock_refuses_and_a_stale_lock_is_taken_over(tiny_ds, tmp_path, capsys):  # noqa: F811
    """Case 3: one trainer a folder; the lock of a killed trainer does not block the next one."""
    run = tmp_path / "run"
    code = ("import sys, time; from pathlib import Path; from xmr_core.train.runfolder import RunLock\n"
            f"with RunLock(Path({str(run)!r})):\n    print('locked', flush=True); time.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        line = _error(capsys, main(["train", *_data(tiny_ds), *TINY, "--out", str(run), "--max-steps", "1"]),
                      "another training")
        assert f"pid {p.pid}" in line and not run.exists()
    finally:
        p.kill()
        p.wait()
    lock = tmp_path / ".run.lock"
    assert lock.is_file() and lock.read_text().split()[0] == str(p.pid)  # stale: its owner was killed
    assert main(["train", *_data(tiny_ds), *TINY, "--out", str(run), "--max-steps", "1"]) == 0
    assert not lock.exists()
    load_run(run)


def test_two_trainings_into_one_folder(tiny_ds, tmp_path):  # noqa: F811
    """Case 3: two trainings started together: one trains, the other refuses; the bundle is one run's."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "xmr_core", "train", *_data(tiny_ds), *TINY, "--out", str(run), "--max-steps", "3"]
    ps = [subprocess.Popen(args + ["--seed", str(s)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=dict(os.environ, OMP_NUM_THREADS="1")) for s in (11, 12)]
    outs = [p.communicate(timeout=300) for p in ps]
    codes = [p.returncode for p in ps]
    assert sorted(codes) == [0, 2], (codes, [e[-800:] for _, e in outs])
    loser = outs[codes.index(2)][1]
    assert "Traceback" not in loser
    assert "another training" in loser or "holds a trained run" in loser, loser[-800:]
    seed = (11, 12)[codes.index(0)]
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == seed
    load_run(run)
    assert _hidden(tmp_path) == [] and not list(run.glob("*.tmp*"))


def test_failed_validation_keeps_the_epoch(tiny_ds, tmp_path, monkeypatch):  # noqa: F811
    """A periodic validation that throws no longer loses the epoch trained before it."""
    from xmr_core.errors import XmrError
    from xmr_core.train import loop

    def boom(*a, **k):
        raise XmrError("validation failed (simulated)")

    monkeypatch.setattr(loop, "validate", boom)
    spec, images = tiny_ds
    with pytest.raises(XmrError, match="simulated"):
        train(tmp_path / "run", spec, images, ENC, MOD, replace(TR, epochs=2), progress=False)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 1
    load_run(tmp_path / "run")


@pytest.mark.parametrize("name", ["../outside", "/abs/path", "a/b", "..", ".hidden", "x" * 101, "a\\b", ""])
def test_run_names_stay_inside_checkpoints(name, ck, tmp_path, capsys):
    _error(capsys, main(["train", "--name", name, "--max-steps", "1"]), "--name")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_dataloader_worker_error_is_one_line(tiny_ds, tmp_path):  # noqa: F811
    """An unreadable image met in a DataLoader worker: the worker's traceback is not shown."""
    import shutil

    spec, images = tiny_ds
    imgs = tmp_path / "images"
    shutil.copytree(images, imgs)
    items = json.loads(Path(spec).read_text())["images"]
    bad = imgs / next(it["filename"] for it in items if it["split"] == "train")
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    r = subprocess.run([sys.executable, "-m", "xmr_core", "train", "--dataset", spec, "--images-dir", str(imgs),
                        *TINY, "--workers", "1", "--out", str(tmp_path / "run"), "--max-steps", "6"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "%|" not in ln]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and bad.name in lines[0], r.stderr[-2000:]
    assert not (tmp_path / "run").exists()


def test_unexpected_errors_are_one_line_and_debug_shows_them(monkeypatch, capsys):
    import xmr_core.cli.commands as cli

    def broken(a):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(cli, "cmd_data_info", broken)
    line = _error(capsys, main(["data", "info", "demo"]), "unexpected ZeroDivisionError")
    assert "report" in line and "--debug" in line
    assert main(["--debug", "data", "info", "demo"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: unexpected")
    monkeypatch.setattr(cli, "cmd_data_info", lambda a: (_ for _ in ()).throw(MemoryError()))
    _error(capsys, main(["data", "info", "demo"]), "unexpected MemoryError")


def test_temp_names_are_unique_and_never_fixed():
    """Two writers of one file never share a temp file (a fixed NAME.tmp mixed two runs' bytes)."""
    from xmr_core.files import unique_tmp

    p = Path("/x/model.pt")
    a, b = unique_tmp(p), unique_tmp(p)
    assert a != b and a.parent == p.parent and str(os.getpid()) in a.name
    fixed = [f"{f.relative_to(ROOT)}" for f in (ROOT / "xmr_core").rglob("*.py")
             if '+ ".tmp"' in f.read_text() or '".json.tmp"' in f.read_text() or '.json.tmp"' in f.read_text()]
    assert fixed == []


def test_truncated_training_state_on_resume_is_one_line(tiny_ds, tmp_path, capsys):  # noqa: F811
    spec, images = tiny_ds
    run = tmp_path / "run"
    train(run, spec, images, ENC, MOD, replace(TR, val_every=0, max_steps=1), progress=False)
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 2])
    weights = (run / "model.pt").read_bytes()
    _error(capsys, main(["train", "--out", str(run), "--resume"]), "not a loadable training state")
    assert (run / "model.pt").read_bytes() == weights
