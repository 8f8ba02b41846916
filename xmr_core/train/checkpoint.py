"""Training state (``last.pt``) for an exact ``--resume``, and stopping cleanly on a signal."""
from __future__ import annotations

import json
import pickle
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import XmrError
from ..losses import CenterLoss
from ..bundle.run import atomic_save


@dataclass
class Position:
    """Where a run is: epochs done, optimiser steps, steps into the current epoch, the epoch rows."""

    epoch: int = 0
    step: int = 0
    in_epoch: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


def _rng_state() -> dict[str, Any]:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _cpu_bytes(state: Any) -> torch.Tensor:
    """An RNG state as torch's setters take it: a CPU ByteTensor (never a CUDA tensor)."""
    return torch.as_tensor(state).to("cpu", torch.uint8)


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(_cpu_bytes(st["torch"]))
    if "cuda" in st and torch.cuda.is_available():  # one state a GPU seen at save time, as many as are here
        torch.cuda.set_rng_state_all([_cpu_bytes(s) for s in st["cuda"]][: torch.cuda.device_count()])


def save_state(path: Path, module: nn.Module, opt: torch.optim.Optimizer, centers: CenterLoss,
               pos: Position, scaler: torch.amp.GradScaler | None = None) -> None:
    """Everything an exact resume needs, the torch RNG and the fp16 loss scale included, written atomically."""
    atomic_save({"module": module.state_dict(), "optimizer": opt.state_dict(), "centers": centers.state_dict(),
                 "epoch": pos.epoch, "step": pos.step, "in_epoch": pos.in_epoch, "rng": _rng_state(),
                 "scaler": scaler.state_dict() if scaler is not None else {},
                 "log": json.dumps(pos.log)}, path)


def load_state(path: Path, device: torch.device, module: nn.Module, opt: torch.optim.Optimizer,
               centers: CenterLoss, scaler: torch.amp.GradScaler | None = None) -> Position:
    """Restore ``save_state``'s file into the given objects (and the RNG); returns the position.

    The file is read to the CPU whatever ``device`` the objects live on: the RNG states must stay
    CPU ByteTensors (``map_location=device`` made them CUDA tensors, and ``torch.set_rng_state``
    refused them, so ``--resume`` on CUDA failed). Each ``load_state_dict`` then copies the tensors
    to where its object is: the module's and centres' into their ``device`` parameters and buffers,
    the optimiser's state to each parameter's device (torch's ``Optimizer.load_state_dict``).
    """
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(st["module"])
        opt.load_state_dict(st["optimizer"])
        centers.load_state_dict(st["centers"])
        if scaler is not None and st.get("scaler"):  # {} from a run without fp16 (or an older file)
            scaler.load_state_dict(st["scaler"])
        _set_rng_state(st["rng"])
        return Position(int(st["epoch"]), int(st["step"]), int(st["in_epoch"]), json.loads(st["log"]))
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, KeyError, TypeError,
            AttributeError) as e:  # truncated, foreign, or from a run of another shape
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise XmrError(f"{path}: not a loadable training state for this run ({first})") from None


class Stop:
    """SIGINT/SIGTERM set a flag; the loop checkpoints after the current step and exits."""

    def __init__(self) -> None:
        self.flag = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "Stop":
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread (e.g. inside Streamlit): no handlers
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.flag = True

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
