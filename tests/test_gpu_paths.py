"""The GPU path's device handling, checked on a CPU: ``last.pt`` loaded for a non-CPU device
(RNG states stay CPU ByteTensors, optimiser state follows its parameters), the CUDA RNG states,
the fp16 GradScaler through the trainer's own step and resume, and the AMP / scaler choice on CUDA.
``benchmarks/gpu_smoke.sh`` runs the same path on a real GPU; its CPU dry mode is run here too."""
from __future__ import annotations

import os
import subprocess
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from xmr_core.config import EncodingConfig, ModelConfig, TrainConfig
from xmr_core.losses import CenterLoss
from xmr_core.train import checkpoint, loop, precision
from xmr_core.train.checkpoint import Position, load_state, save_state

ROOT = Path(__file__).resolve().parents[1]


def _objects(device: str = "cpu") -> tuple[nn.Module, torch.optim.Optimizer, CenterLoss]:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 8)).to(device)
    return module, torch.optim.Adam(module.parameters(), lr=1e-2), CenterLoss(5, 8).to(device)


def _saved_state(path: Path) -> torch.Tensor:
    """A training state after two Adam steps, saved; returns the torch RNG state saved in it."""
    module, opt, centers = _objects()
    for _ in range(2):
        emb = module(torch.randn(6, 3, 8, 8))
        (emb.pow(2).mean() + centers(emb, torch.arange(6) % 5)).backward()
        opt.step()
        opt.zero_grad()
    rng = torch.get_rng_state()
    save_state(path, module, opt, centers, Position(epoch=1, step=2, in_epoch=0, log=[{"epoch": 1}]))
    return rng


def test_state_loads_for_a_non_cpu_device(tmp_path):
    """Objects on another device (``meta`` stands in for CUDA): the file is read to the CPU, the RNG
    state restored from a CPU ByteTensor, the optimiser's state moved to its parameters' device.
    (``map_location=device``, the old code, made the RNG state a device tensor: set_rng_state refused.)"""
    rng = _saved_state(tmp_path / "last.pt")
    torch.manual_seed(123)  # a different RNG state, so restoring it shows
    module, opt, centers = _objects("meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "copying ... to a meta parameter is a no-op"
        pos = load_state(tmp_path / "last.pt", torch.device("meta"), module, opt, centers)
    assert (pos.epoch, pos.step, pos.log) == (1, 2, [{"epoch": 1}])
    assert torch.equal(torch.get_rng_state(), rng)
    assert len(opt.state) == len(list(module.parameters()))
    for p, st in opt.state.items():
        assert st["exp_avg"].device == p.device == torch.device("meta")
        assert st["exp_avg_sq"].device == p.device


def test_state_loads_onto_cpu_objects_exactly(tmp_path):
    _saved_state(tmp_path / "last.pt")
    ref = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    module, opt, centers = _objects()
    load_state(tmp_path / "last.pt", torch.device("cpu"), module, opt, centers)
    for k, v in module.state_dict().items():
        assert torch.equal(v, ref["module"][k]), k
    assert torch.equal(centers.centers, ref["centers"]["centers"])
    assert all(torch.equal(st["exp_avg"], ref["optimizer"]["state"][i]["exp_avg"])
               for i, st in enumerate(opt.state.values()))


def test_cuda_rng_states_are_saved_and_restored_as_cpu_bytes(tmp_path, monkeypatch):
    """With CUDA present (mocked: only the device checks and the CUDA RNG calls), each GPU's state is
    saved and handed back to ``torch.cuda.set_rng_state_all`` as CPU ByteTensors, one a GPU here."""
    saved = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]  # two GPUs at save
    got: list = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # one GPU at resume
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [s.clone() for s in saved])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", got.append)
    rng = _saved_state(tmp_path / "last.pt")
    torch.manual_seed(5)
    module, opt, centers = _objects()
    load_state(tmp_path / "last.pt", torch.device("cuda"), module, opt, centers)
    assert torch.equal(torch.get_rng_state(), rng)
    (states,) = got
    assert len(states) == 1 and torch.equal(states[0], saved[0])
    assert all(s.device.type == "cpu" and s.dtype == torch.uint8 for s in states)


def test_rng_states_given_on_another_device_are_set_from_cpu(monkeypatch):
    """Whatever device an RNG state arrives on, torch.set_rng_state gets a CPU ByteTensor."""
    seen: list[torch.Tensor] = []
    real = torch.set_rng_state
    monkeypatch.setattr(torch, "set_rng_state", lambda s: (seen.append(s), real(s)))
    state = torch.get_rng_state()
    checkpoint._set_rng_state({"torch": state.to(torch.int64)})  # not a ByteTensor (as some loaders give)
    assert seen[0].dtype == torch.uint8 and seen[0].device.type == "cpu" and torch.equal(seen[0], state)


# ----------------------------------------------------------------------------- AMP and the scaler
def test_amp_and_scaler_choice_on_cuda(monkeypatch):
    """fp16 only where the GPU lacks native bf16 (emulated bf16 does not count), and then a live scaler."""
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # GradScaler("cuda") checks only this here
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert precision.amp_dtype(TrainConfig(), cuda) is torch.float16         # e.g. a T4 / V100
    assert precision.amp_dtype(TrainConfig(amp="bf16"), cuda) is torch.bfloat16
    assert precision.amp_dtype(TrainConfig(amp="off"), cuda) is None
    assert precision.make_scaler(torch.float16, cuda).is_enabled()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert precision.amp_dtype(TrainConfig(), cuda) is torch.bfloat16        # Ampere on
    assert not precision.make_scaler(torch.bfloat16, cuda).is_enabled()
    assert not precision.make_scaler(None, cuda).is_enabled()
    assert not precision.make_scaler(torch.float16, torch.device("cpu")).is_enabled()


ENC = EncodingConfig(canvas=80, superpixel=2, gap=2, margin=2, w2v_epochs=2)
MOD = ModelConfig(input_size=80, width=0.125, standardize=True)
TR = TrainConfig(epochs=1, batch_size=16, captions_per_class=3, classes_per_batch=4, lr=1e-3, val_every=0,
                 seed=7, threads=1, amp="off", channels_last="off")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from xmr_core.data.demo import generate_demo

    out = tmp_path_factory.mktemp("tiny")
    path = generate_demo(out, n_images=44, seed=2, image_size=48, n_val=10, n_test=10)  # 6 steps an epoch
    return str(path), str(out / "images")


def test_grad_scaler_steps_through_the_trainer_and_resumes(tiny, tmp_path, monkeypatch):
    """A live GradScaler (the CPU one standing in for CUDA's) in the trainer's own step: the scale grows
    as configured, is saved in last.pt and restored on resume, and the weights equal an unscaled run's
    (scaling by powers of two and unscaling before the step changes nothing in fp32)."""
    spec, images = tiny
    made: list[torch.amp.GradScaler] = []

    def live_scaler(amp, device):
        made.append(torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=2))
        return made[-1]

    plain = tmp_path / "plain"
    loop.train(plain, spec, images, ENC, MOD, TR, progress=False)
    monkeypatch.setattr(loop, "make_scaler", live_scaler)
    part = tmp_path / "scaled"
    loop.train(part, spec, images, ENC, MOD, replace(TR, max_steps=4), progress=False)
    assert made[0].get_scale() == 2.0 ** 10  # 4 finite steps, doubled every 2
    assert torch.load(part / "last.pt", weights_only=True)["scaler"]["scale"] == 2.0 ** 10
    res = loop.train(part, spec, images, resume=True, resume_overrides={"max_steps": 0}, progress=False)
    assert res.steps == 6 and made[1].get_scale() == 2.0 ** 11  # restored at 2^10, two more steps
    a = torch.load(plain / "model.pt", weights_only=True)
    b = torch.load(part / "model.pt", weights_only=True)
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


def test_channels_last_survives_loading(tmp_path):
    """A state loaded into a channels_last module (the CUDA default) leaves it channels_last."""
    _saved_state(tmp_path / "last.pt")
    module, opt, centers = _objects()
    module = module.to(memory_format=torch.channels_last)
    load_state(tmp_path / "last.pt", torch.device("cpu"), module, opt, centers)
    assert module[0].weight.is_contiguous(memory_format=torch.channels_last)


# ----------------------------------------------------------------------------- the smoke script
def test_gpu_smoke_script_refuses_without_cuda_and_runs_its_cpu_dry_mode(tmp_path):
    script = ROOT / "benchmarks" / "gpu_smoke.sh"
    env = dict(os.environ, SMOKE_WORK=str(tmp_path / "work"), CUDA_VISIBLE_DEVICES="")
    r = subprocess.run(["bash", str(script)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3 and "needs a CUDA GPU" in r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
    r = subprocess.run(["bash", str(script), "--device", "cpu"], cwd=ROOT, capture_output=True, text=True,
                       env=env, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    for line in ("interrupted at step", "resumed to step", "samples/s", "R@1/5/10", "gpu_smoke: OK"):
        assert line in r.stdout, (line, out[-3000:])
