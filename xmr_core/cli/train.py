"""``train``'s command-line checks: where the run goes (a safe name under ``checkpoints/``), and
on ``--resume`` that no given flag disagrees with the saved run."""
from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path

from .args import flag_name
from ..config import EncodingConfig, ModelConfig, TrainConfig
from ..errors import XmrError
from ..values import short_repr

# A run name is one folder under checkpoints/: no separators, no "..", not hidden (staging folders
# and locks are hidden names there), printable.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def run_folder(a: argparse.Namespace) -> Path:
    """``--out`` as given, else ``checkpoints/NAME`` with NAME checked to stay inside ``checkpoints/``."""
    from ..bundle.run import checkpoints_dir

    if a.out:
        return Path(a.out)
    name = a.name if a.name is not None else a.recipe or "default"
    if not RUN_NAME.fullmatch(name) or ".." in name:
        raise XmrError(f"--name {short_repr(name)}: a run name is one folder name of ASCII letters (a-z, A-Z), "
                       "digits, '.', '_', '-', '+' (up to 100, not starting with '.'); use --out for another place")
    return checkpoints_dir() / name


def check_device(device: str) -> None:
    """``--device cuda[:N]`` needs that CUDA device here: one clear line instead of a failure later."""
    if not device.startswith("cuda"):
        return
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= n:
        have = f"{n} CUDA device(s)" if n else ("no CUDA device" + ("" if torch.backends.cuda.is_built() else
                                                                  " (this torch is built without CUDA)"))
        raise XmrError(f"--device {device}: this machine has {have}; use --device cpu (or auto)")


def saved_device(out: Path) -> str | None:
    """The device a run being resumed was trained with (None if unreadable: resume reports that)."""
    from ..files import read_json

    try:
        return read_json(out / "config.json")["train"].get("device")
    except (XmrError, KeyError, TypeError, AttributeError):
        return None


def _same_spec(given: str, saved: object) -> bool:
    if given == saved:
        return True
    if given.startswith("demo") or not isinstance(saved, str):
        return False
    return Path(given).resolve() == Path(saved).resolve()


def check_resume_flags(a: argparse.Namespace, out: Path) -> None:
    """Refuse a flag given with ``--resume`` whose value differs from the saved run's."""
    from ..train.resume import CHANGEABLE, read_saved
    from ..train.runfolder import prepare

    prepare(out, resume=True, overwrite=False)  # "nothing to resume" before anything else
    saved = read_saved(out)
    where = out / "config.json"
    hint = "a resumed run keeps its settings: drop the flag, or train a new run with another --name"
    for section, cls in (("encoding", EncodingConfig), ("model", ModelConfig), ("train", TrainConfig)):
        for f in fields(cls):
            v = getattr(a, f"{cls.__name__}.{f.name}", None)
            if v is None or (cls is TrainConfig and f.name in CHANGEABLE):
                continue
            old = saved[section].get(f.name, f.default)
            if v != old:
                raise XmrError(f"--{flag_name(f)} {short_repr(v)} disagrees with the run being resumed "
                               f"({short_repr(old)} in {where}); {hint}")
    ds = saved["dataset"]
    for flag, key, v, default in (("--train-split", "train_split", a.train_split, "train"),
                                  ("--val-split", "val_split", a.val_split, "val"),
                                  ("--images-dir", "images_dir", a.images_dir, None)):
        if v is not None and v != ds.get(key, default):
            raise XmrError(f"{flag} {short_repr(v)} disagrees with the run being resumed "
                           f"({short_repr(ds.get(key, default))} in {where}); {hint}")
    if a.dataset is not None and not _same_spec(a.dataset, ds.get("spec")):
        raise XmrError(f"--dataset {short_repr(a.dataset)} disagrees with the run being resumed "
                       f"({short_repr(ds.get('spec'))} in {where}); {hint}")
    if a.recipe is not None and a.recipe != saved.get("recipe", a.recipe):
        raise XmrError(f"--recipe {a.recipe} disagrees with the run being resumed "
                       f"({saved.get('recipe')} in {where}); {hint}")
