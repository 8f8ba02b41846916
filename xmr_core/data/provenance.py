"""A run knows its data: the dataset file it was trained on, resolved and fingerprinted.

``describe`` is what a run stores beside the path as given (``dataset.spec``): the absolute path
(``resolved``), the absolute images folder and the SHA-256 of the file. ``locate`` finds that
same file again from anywhere (the resolved path first, then the path as given) and refuses a
file with other content: a relative ``../ds/good.json`` run from another folder, where that
path names another dataset, is one clear error instead of another dataset's figures. A dataset
named explicitly (``--dataset``) is the user's choice and is not checked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ..files import MAX_DATASET_BYTES, file_sha256
from ..values import short_repr


def is_generated(spec: str) -> bool:
    """``demo`` / ``demo:N``: generated from a seed, the same everywhere."""
    return spec == "demo" or spec.startswith("demo:")


def fingerprint(path: str | Path) -> str:
    return file_sha256(path, MAX_DATASET_BYTES)


def describe(spec: str, images_dir: str | None) -> dict[str, Any]:
    """What a run stores about its dataset besides the spec as given (nothing for the demo)."""
    if is_generated(spec):
        return {}
    out: dict[str, Any] = {"resolved": str(Path(spec).resolve()), "sha256": fingerprint(spec)}
    if images_dir:
        out["images_dir_resolved"] = str(Path(images_dir).resolve())
    return out


def locate(ds: dict[str, Any], where: Path | str) -> tuple[str, str | None]:
    """The run's own dataset as (spec, images_dir) to load, checked against its fingerprint.

    ``ds`` is ``config.json``'s ``dataset`` section. Runs older than the fingerprint get their
    spec as it was stored.
    """
    spec, images_dir, sha = str(ds["spec"]), ds.get("images_dir"), ds.get("sha256")
    if is_generated(spec) or not isinstance(sha, str):
        return spec, images_dir
    tried = []
    for cand, folder in ((ds.get("resolved"), ds.get("images_dir_resolved")), (spec, images_dir)):
        if not isinstance(cand, str) or not cand or not Path(cand).exists():
            continue
        if fingerprint(cand) == sha:
            folder = folder if isinstance(folder, str) and Path(folder).is_dir() else images_dir
            return cand, folder
        tried.append(str(cand))
    found = (f"{', '.join(short_repr(t) for t in tried)} has other content than the file it was trained on"
             if tried else "that file is not there any more")
    raise DatasetError(f"{where}: the run was trained on {short_repr(spec)} ({short_repr(ds.get('resolved'))}, "
                       f"sha256 {sha[:12]}…) and {found}; pass --dataset (and --images-dir) explicitly to "
                       "use another dataset")


def same_as_trained(spec: str | None, ds: dict[str, Any]) -> bool:
    """Whether ``spec`` names the very dataset the run was trained on (content, not path)."""
    if spec is None:
        return True
    if is_generated(spec) or is_generated(str(ds.get("spec", ""))):
        return spec == ds.get("spec")
    sha = ds.get("sha256")
    if not isinstance(sha, str):
        return spec == ds.get("spec")
    try:
        return fingerprint(spec) == sha
    except Exception:  # noqa: BLE001 - unreadable (missing, a FIFO, too large): not the same
        return False
