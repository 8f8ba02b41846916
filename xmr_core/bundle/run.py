"""Run bundles: the single hand-off between training and everything downstream.

    checkpoints/NAME/
      config.json        every config (encoding, model, train), the dataset reference, code version
      model.pt           the network's state_dict (tensors only; loaded with weights_only=True)
      vectors.bin        Word2Vec vectors (word2vec binary format, no pickle)
      encoder.json       encoding config + per-dimension colour scaling
      train_log.csv      one row an epoch (loss, center loss, samples/s, val R@K)
      last.pt            full training state for --resume (optional; not needed to use the run)
      metrics.json, report.md, embeddings/, tsne/, export/   written by evaluation

That is a ``network`` run; ``config.json``'s ``"kind"`` may also say ``reference`` (the CCA:
reference.pt + vectors.bin) or ``embeddings`` (imported vectors under embeddings/): ``kinds.py``.
``load_run(path)`` validates a bundle of any kind and returns a ready ``Run``.
"""
from __future__ import annotations

import csv
import os
import pickle
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..config import EncodingConfig, ModelConfig, TrainConfig, from_dict
from ..errors import RunError, XmrError
from ..files import (MAX_WEIGHTS_BYTES, atomic_save, bytes_sha256, read_bytes, read_json,  # noqa: F401 - re-exported
                    write_json_atomic, write_text_atomic)
from ..values import ConfigValueError

REQUIRED = ("config.json", "model.pt", "vectors.bin", "encoder.json")  # a network run's (kinds.FILES)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]  # xmr_core/bundle/run.py -> the repository


def checkpoints_dir() -> Path:
    """``$XMR_CHECKPOINTS`` or ``<repo>/checkpoints``."""
    return Path(os.environ.get("XMR_CHECKPOINTS") or repo_root() / "checkpoints")


def list_runs(root: str | Path | None = None) -> list[Path]:
    """Every folder under ``root`` that holds a run bundle of any kind (``kinds.folder_kind``)."""
    root = Path(root) if root else checkpoints_dir()
    if not root.is_dir():
        return []
    _recover_interrupted(root)
    # hidden folders are a run being written (train/runfolder.py) or being replaced
    from .kinds import folder_kind

    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and folder_kind(p))


def _recover_interrupted(root: Path) -> None:
    """A run whose replacement was killed between its two renames is put back (folders.recover)."""
    from .folders import RunLock, recover

    for old in root.glob(".*.old-*"):
        run_dir = root / old.name[1:].rsplit(".old-", 1)[0]
        if run_dir.exists():
            continue
        try:
            with RunLock(run_dir):
                recover(run_dir)
        except (XmrError, OSError):  # someone is training it, or the folder is read-only: leave it
            pass


def _code_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(), capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def write_bundle_meta(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Write ``config.json`` (adds the code version and time, and the dataset file's resolved path
    and fingerprint: ``data/provenance.py``)."""
    from ..data.provenance import describe

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = dict(config)
    ds = config.get("dataset")
    if isinstance(ds, dict) and isinstance(ds.get("spec"), str):
        config["dataset"] = {**ds, **describe(ds["spec"], ds.get("images_dir"))}
    config.setdefault("code_version", _code_version())
    config.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(run_dir / "config.json", config)


def save_weights(run_dir: str | Path, net: torch.nn.Module) -> None:
    """``model.pt``: the network's state_dict (fp32 tensors), written atomically."""
    atomic_save({k: v.detach().cpu() for k, v in net.state_dict().items()}, Path(run_dir) / "model.pt")


def load_state_dict(path: Path, data: bytes | None = None) -> dict[str, torch.Tensor]:
    """Load weights safely (from ``data``, the file's bytes, if given); truncated, foreign or
    malicious files give a ``RunError``."""
    import io

    try:
        if data is None:
            data = read_bytes(path, MAX_WEIGHTS_BYTES, RunError, "weights")
        sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RunError(f"{path}: not a loadable weights file (truncated, corrupt, or holding objects other "
                       f"than tensors, which are refused for safety): {first}") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise RunError(f"{path}: expected a state_dict (a dict of tensors)")
    return sd


@dataclass
class Run:
    """A loaded run bundle of any kind (``kinds.py``): configs, text encoder, embedder and paths.

    A ``reference`` run has no configs of a network and no painting encoder (its ``embedder`` is the
    ``CCAEncoder``); an ``embeddings`` run has neither encoder nor embedder: its vectors are stored.
    """

    path: Path
    config: dict[str, Any]
    encoding: EncodingConfig | None
    model_cfg: ModelConfig | None
    train_cfg: TrainConfig | None
    encoder: Any            # xmr_core.text.encoder.TextEncoder (network runs), else None
    embedder: Any           # network.inference.Embedder / network.cca_encoder.CCAEncoder / None
    extras: dict[str, Any] = field(default_factory=dict)  # embeddings runs: "kv", the relevance word vectors
    weights_sha256: str = ""  # of the bytes these weights were loaded from (kinds.IDENTITY)
    kind: str = "network"

    @property
    def can_encode(self) -> bool:
        """Whether a new photo or sentence can be a query (not for imported vectors)."""
        return self.embedder is not None

    @property
    def word_vectors(self) -> Any:
        """The run's Word2Vec vectors (the word-vector relevance model and the vocabulary), or None."""
        if self.encoder is not None:
            return self.encoder.kv
        return getattr(self.embedder, "kv", None) or self.extras.get("kv")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def dataset_spec(self) -> str:
        return str(self.config["dataset"]["spec"])

    @property
    def images_dir(self) -> str | None:
        return self.config["dataset"].get("images_dir")

    def dataset(self, spec: str | None = None, images_dir: str | None = None, skip_missing: bool = False):
        """The dataset the run was trained on (or another one)."""
        from ..data import load_dataset

        if spec is None:  # the run's own: the very file it was trained on (data/provenance.py)
            from ..data.provenance import locate

            spec, images_dir = locate(self.config["dataset"], self.path / "config.json")
        return load_dataset(spec, images_dir, skip_missing)

    @cached_property
    def metrics(self) -> dict[str, Any] | None:
        return read_metrics(self.path / "metrics.json", self.weights_sha256)

    def train_log(self) -> list[dict[str, Any]]:
        p = self.path / "train_log.csv"
        if not p.is_file():
            return []
        with open(p, newline="") as f:
            rows = list(csv.DictReader(f))
        return [{k: _num(v) for k, v in r.items()} for r in rows]


def read_metrics(path: Path, weights_sha256: str) -> dict[str, Any] | None:
    """An evaluation's figures if they are of these weights: None if absent, or if they carry the
    fingerprint of other weights (an evaluation of an intermediate checkpoint, a retrained run)."""
    if not path.is_file():
        return None
    m = read_json(path, RunError)
    if not isinstance(m, dict):
        raise RunError(f"{path}: expected a JSON object")
    if weights_sha256 and m.get("weights") not in (None, weights_sha256):
        return None
    return m


def _num(v: str) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def read_config(path: Path) -> dict[str, Any]:
    from .kinds import kind_of

    cfg = read_json(path / "config.json", RunError)
    if not isinstance(cfg, dict):
        raise RunError(f"{path / 'config.json'}: expected a JSON object")
    network = kind_of(cfg, path / "config.json") == "network"
    for k in (("encoding", "model", "train", "dataset") if network else ("dataset",)):
        if k not in cfg:
            raise RunError(f"{path / 'config.json'}: missing section '{k}'")
        if not isinstance(cfg[k], dict):
            raise RunError(f"{path / 'config.json'}: section '{k}' must be an object")
    spec = cfg["dataset"].get("spec")
    if not isinstance(spec, str) or not isinstance(cfg["dataset"].get("images_dir") or "", str):
        raise RunError(f"{path / 'config.json'}: dataset.spec and dataset.images_dir must be strings")
    return cfg


def configs_from(cfg: dict[str, Any], where: Path) -> tuple[EncodingConfig, ModelConfig, TrainConfig]:
    """The three configs of a bundle's ``config.json``; a bad value is one ``RunError`` naming
    the file and ``section.field``."""
    section = "encoding"
    try:
        enc = from_dict(EncodingConfig, cfg["encoding"])
        section = "model"
        mod = from_dict(ModelConfig, cfg["model"])
        section = "train"
        return enc, mod, from_dict(TrainConfig, cfg["train"])
    except ConfigValueError as e:
        raise RunError(f"{where}: {e.describe(f'{section}.{e.field}')}") from None
    except (TypeError, ValueError) as e:
        raise RunError(f"{where}: invalid config ({e})") from None


def load_encoder(path: str | Path):
    """Just the run's text encoder (word vectors + colour scaling)."""
    from ..text.encoder import TextEncoder

    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder")
    try:
        return TextEncoder.load(path)
    except XmrError as e:
        raise RunError(str(e)) from None


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Open and validate a run bundle of any kind; a network run gets its configs, encoder and a
    ready ``Embedder``, the others ``_load_other_kind``'s."""
    from ..network.backbones import build_network
    from .checks import check_network_size, check_state_dict
    from .kinds import FILES, kind_of
    from ..network.inference import Embedder

    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder (train one, or run `python -m xmr_core demo`)")
    kind = kind_of(read_json(path / "config.json", RunError), path / "config.json") \
        if (path / "config.json").is_file() else "network"
    missing = [f for f in FILES[kind] if not (path / f).is_file()]
    if missing:
        raise RunError(f"{path}: incomplete {kind} run bundle, missing {', '.join(missing)}")
    cfg = read_config(path)
    if kind != "network":
        return _load_other_kind(path, cfg, kind)
    enc_cfg, model_cfg, train_cfg = configs_from(cfg, path / "config.json")
    meta = check_network_size(model_cfg, path / "config.json")  # before anything is allocated
    encoder = load_encoder(path)
    data = read_bytes(path / "model.pt", MAX_WEIGHTS_BYTES, RunError, "weights")
    sd = load_state_dict(path / "model.pt", data)
    check_state_dict(sd, meta, path / "model.pt")
    net = build_network(model_cfg, load_pretrained=False)  # model.pt holds every weight
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()][1:3]
        raise RunError(f"{path}: model.pt does not match config.json's model settings "
                       f"(width {model_cfg.width}, embedding {model_cfg.embedding_size}): {' '.join(lines)[:300]}"
                       ) from None
    net.eval()
    embedder = Embedder(net, encoder, model_cfg, device=device, text_crop=train_cfg.crop)
    return Run(path, cfg, enc_cfg, model_cfg, train_cfg, encoder, embedder, weights_sha256=bytes_sha256(data))


def _load_other_kind(path: Path, cfg: dict[str, Any], kind: str) -> Run:
    """A ``reference`` run (the CCA's tensors and word vectors) or an ``embeddings`` run (its
    relevance word vectors if it has them; the vectors themselves are read per split)."""
    from ..text.vectors import load_vectors

    def vectors() -> Any:
        try:
            return load_vectors(path / "vectors.bin")
        except XmrError as e:
            raise RunError(str(e)) from None

    if kind == "embeddings":
        sha = cfg.get("embeddings", {}).get("sha256") if isinstance(cfg.get("embeddings"), dict) else None
        if not isinstance(sha, str) or not sha:
            raise RunError(f"{path / 'config.json'}: an embeddings run needs embeddings.sha256 (write it with "
                           "`python -m xmr_core import`)")
        kv = vectors() if (path / "vectors.bin").is_file() else None
        return Run(path, cfg, None, None, None, None, None, extras={"kv": kv}, weights_sha256=sha, kind=kind)
    from ..network.cca_encoder import CCAEncoder

    data = read_bytes(path / "reference.pt", MAX_WEIGHTS_BYTES, RunError, "weights")
    sd = load_state_dict(path / "reference.pt", data)  # tensors only, weights_only=True
    size = cfg.get("reference", {}).get("image_size") if isinstance(cfg.get("reference"), dict) else None
    if not isinstance(size, int) or not 32 <= size <= 512:
        raise RunError(f"{path / 'config.json'}: reference.image_size must be a whole number 32..512")
    enc = CCAEncoder.from_tensors(sd, vectors(), size, str(path / "reference.pt"))
    return Run(path, cfg, None, None, None, None, enc, weights_sha256=bytes_sha256(data), kind=kind)


def demo_encoder():
    """The demo run's encoder, or one fitted on the demo's training captions if there is no demo run."""
    demo = checkpoints_dir() / "demo"
    if (demo / "encoder.json").is_file():
        return load_encoder(demo)
    from ..data import load_demo
    from ..recipes import recipe
    from ..text.encoder import TextEncoder

    enc_cfg = recipe("demo").encoding
    ds = load_demo().split("train")
    return TextEncoder.fit([c.text for c in ds.captions], enc_cfg)
