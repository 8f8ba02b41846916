"""TrainConfig.budget_min: the epochs that fit a wall-time budget, chosen from the run's own timings."""
from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig
from xmr_core.train import train
from xmr_core.train.budget import MARGIN, StepClock, budget_note, plan, validations
from xmr_core.train.optim import lr_factor

ENC = EncodingConfig(canvas=80, superpixel=2, gap=2, margin=2, w2v_epochs=2)
MOD = ModelConfig(input_size=80, width=0.125, standardize=True)
# 6 steps an epoch on the tiny set. The clock skips SKIP_STEPS steps and each epoch's first step, so its
# PROBE_STEPS-th timed step is step 27, in epoch 5; inside the warm-up, so the schedule before the
# decision does not depend on the run's length.
TR = TrainConfig(epochs=10, batch_size=16, captions_per_class=3, classes_per_batch=4, lr=1e-3,
                 contrastive_weight=1.0, val_every=2, val_images=10, seed=7, threads=1, warmup_steps=30,
                 lr_schedule="cosine")
DECIDED_AT = 27
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_ds(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("tiny-budget")
    path = generate_demo(out, n_images=44, seed=2, image_size=64, n_val=10, n_test=10)
    return str(path), str(out / "images")


def test_validations_follow_the_loops_rule():
    assert validations(14, 4) == 4          # epochs 4, 8, 12 and the last
    assert validations(12, 4) == 3          # the last is a multiple
    assert validations(14, 4, done=5) == 3  # 8, 12, 14 are left
    assert validations(9, 0) == 0


def test_plan_keeps_the_most_epochs_that_fit():
    # 100 steps an epoch at 3 s, a 30 s validation every 4 epochs, 5 min spent when the probe ended
    args = dict(elapsed_s=300, step=23, epochs_done=0, step_s=3.0, steps_per_epoch=100, val_s=30, val_every=4,
                epochs_asked=14)
    p = plan(60, **args)
    left = (3600 - 300) * MARGIN                                  # 3,135 s
    need = lambda e: 3 * (e * 100 - 23) + validations(e, 4) * 30  # noqa: E731  10: 3,021 s; 11: 3,321 s
    assert p.epochs == 10 and need(10) <= left < need(11)
    assert math.isclose(p.projected_asked_min * 60, 300 + need(14)) and math.isclose(p.projected_min * 60, 300 + need(10))
    assert plan(600, **args).epochs == 14                      # everything fits: the asked epochs
    assert plan(1, **args).epochs == 1                         # nothing fits: at least one epoch
    assert plan(1, **{**args, "epochs_done": 3}).epochs == 4   # ... after the ones already done
    assert "--budget-min 0" in p.message() and "all 14" in plan(600, **args).message()


def test_step_clock_times_steps_not_what_runs_between_epochs():
    clock = StepClock()
    out = [clock.tick(epoch_start=(i % 6 == 0)) for i in range(40)]  # 6-step epochs
    assert next(i + 1 for i, v in enumerate(out) if v is not None) == DECIDED_AT


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def five_epochs(tiny_ds, tmp_path_factory):
    """The run a spent budget should equal: TR asked for 5 epochs, no budget."""
    out = tmp_path_factory.mktemp("e5") / "run"
    train(out, *tiny_ds, ENC, MOD, replace(TR, epochs=5), progress=False)
    return _weights(out)


def test_a_spent_budget_trains_to_the_epoch_it_decided_in_and_matches_that_run(tiny_ds, five_epochs, tmp_path):
    """A budget already spent when the probe ends keeps the epoch it is in: 5 epochs, the schedule set to
    that length, bit for bit the run asked for 5 epochs; config.json says what was measured and chosen."""
    spec, images = tiny_ds
    res = train(tmp_path / "b", spec, images, ENC, MOD, replace(TR, budget_min=1e-4), progress=False)
    assert res.epochs_done == 5 and res.steps == 30
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    b = cfg["budget"]
    assert cfg["train"]["epochs"] == 5 and b["epochs"] == 5 and b["epochs_asked"] == 10
    assert b["step_s"] > 0 and b["val_s"] > 0 and b["projected_asked_min"] > b["projected_min"]
    rows = [r.split(",") for r in (tmp_path / "b" / "train_log.csv").read_text().splitlines()]
    head = rows[0]
    assert len(rows) == 6 and rows[-1][head.index("val_rsum")] != ""  # the last epoch (5) validated
    lr = float(rows[-1][head.index("lr")])  # the last step's: the cosine's end at 30 steps
    assert math.isclose(lr, 1e-3 * lr_factor(TR, 29, 30), rel_tol=1e-6)
    w = _weights(tmp_path / "b")
    assert all(torch.equal(w[k], five_epochs[k]) for k in w)


def test_a_resume_keeps_the_decision_and_a_large_budget_every_epoch(tiny_ds, five_epochs, tmp_path):
    spec, images = tiny_ds
    part = tmp_path / "part"
    r1 = train(part, spec, images, ENC, MOD, replace(TR, budget_min=1e-4, max_steps=DECIDED_AT), progress=False)
    assert r1.steps == DECIDED_AT and json.loads((part / "config.json").read_text())["train"]["epochs"] == 5
    r2 = train(part, spec, images, resume=True, resume_overrides={"max_steps": 0}, progress=False)
    assert r2.epochs_done == 5 and r2.steps == 30  # not planned again (it would choose 5 + 1 now)
    w = _weights(part)
    assert all(torch.equal(w[k], five_epochs[k]) for k in w)
    big = train(tmp_path / "big", spec, images, ENC, MOD, replace(TR, epochs=6, budget_min=1000), progress=False)
    assert big.epochs_done == 6
    b = json.loads((tmp_path / "big" / "config.json").read_text())["budget"]
    assert b["epochs"] == b["epochs_asked"] == 6


@pytest.mark.slow
def test_ddp_ranks_train_the_epochs_rank_0_chose(tiny_ds, tmp_path, tiny_ddp_train):
    """Each rank times its own steps; rank 0's choice is broadcast, so no rank waits for another's step."""
    spec, images = tiny_ds
    out = tmp_path / "ddp"
    r = subprocess.run(tiny_ddp_train(spec, images, out, "--epochs", "30", "--budget-min", "0.0001"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    epochs = cfg["train"]["epochs"]
    assert cfg["world_size"] == 2 and cfg["budget"]["epochs"] == epochs < 30
    assert len((out / "train_log.csv").read_text().splitlines()) == 1 + epochs
    assert "budget 0.0001 min" in r.stdout  # the line above the bar (tqdm.write)


def test_the_overview_line_reads_the_record():
    cfg = json.loads((ROOT / "results" / "flickr8k" / "f8k-budget35" / "config.json").read_text())
    note = budget_note(cfg)
    b = cfg["budget"]
    assert f"{b['budget_min']:g}-min budget" in note and f"{b['epochs']} of the {b['epochs_asked']} asked" in note
    assert budget_note({"train": {}}) is None and budget_note({"budget": {"epochs": 3}}) is None
