"""What ``--resume`` restores: the saved run's configs and data, with only its length and how it
runs open to change (``CHANGEABLE``)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import RunError, XmrError
from ..bundle.run import read_config, configs_from
from ..values import ConfigValueError

# TrainConfig fields a resumed run may change: they do not shape the model, the data or the
# optimisation (epochs / max_steps extend or cut the schedule's end, as before).
CHANGEABLE = frozenset({"epochs", "max_steps", "workers", "threads", "device", "compile", "val_every",
                        "val_images"})
# config.json's "dataset" entries a resume restores (older runs lack skip_missing).
SOURCE_KEYS = ("spec", "images_dir", "train_split", "val_split", "skip_missing")


def read_saved(run_dir: Path) -> dict[str, Any]:
    """The run's ``config.json``, checked (sections present, values in range)."""
    try:
        cfg = read_config(run_dir)
        configs_from(cfg, run_dir / "config.json")
    except RunError as e:
        raise XmrError(f"cannot resume: {e}") from None
    return cfg


def saved_configs(saved: dict[str, Any], run_dir: Path, overrides: dict[str, Any] | None) -> tuple:
    """The saved (encoding, model, train) configs, ``overrides`` (``CHANGEABLE`` fields only) applied."""
    enc, mod, tr = configs_from(saved, run_dir / "config.json")
    bad = sorted(set(overrides or {}) - CHANGEABLE)
    if bad:
        raise XmrError(f"{run_dir}: a resumed run keeps its settings; {', '.join(bad)} cannot change "
                       f"(changeable: {', '.join(sorted(CHANGEABLE))})")
    try:
        return enc, mod, replace(tr, **(overrides or {}))
    except ConfigValueError as e:
        raise XmrError(e.describe(str(e.field))) from None


def saved_source(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The dataset the run trained on and its splits (``given`` fills what older runs lack)."""
    from ..data.provenance import locate

    ds = saved["dataset"]
    out = {k: ds.get(k, given.get(k)) for k in SOURCE_KEYS}
    out["skip_missing"] = bool(out["skip_missing"])
    out["spec"], out["images_dir"] = locate(ds, "cannot resume")  # the very file it trained on, from anywhere
    return out
