"""What kind of embedding space a run bundle is, and what each kind holds (a leaf of the bundle layer).

``config.json``'s ``"kind"`` says it; a bundle without the key is a ``network`` run (every bundle
written before the kinds existed, the committed ``demo`` and ``demo-paper`` among them).

==============  ==========================================  =======================================
kind            files                                       queries
==============  ==========================================  =======================================
``network``     model.pt, vectors.bin, encoder.json         any photo or sentence (the network)
``reference``   reference.pt, vectors.bin                   any photo or sentence (the CCA, frozen
                                                            trunk + Word2Vec + its projections)
``embeddings``  embeddings/<dataset>-<split>.npz (imported)  gallery items only (vectors, no encoder)
==============  ==========================================  =======================================
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RunError

KINDS = ("network", "reference", "embeddings")
# The files a complete bundle of each kind holds (embeddings: its vectors are under embeddings/).
FILES = {"network": ("config.json", "model.pt", "vectors.bin", "encoder.json"),
         "reference": ("config.json", "reference.pt", "vectors.bin"),
         "embeddings": ("config.json",)}
# The file whose bytes are the run's weights: what its caches and metrics are keyed on.
IDENTITY = {"network": "model.pt", "reference": "reference.pt", "embeddings": "config.json"}
# Why a run cannot encode a new query, in words a page or the CLI shows.
NO_ENCODER = ("`{name}` is an embeddings run (imported vectors, no encoder): it cannot embed a new {what}. "
              "Search from a gallery item instead (Retrieval page, or a result's search button).")
SPLIT_ORDER = ("test", "val", "train")  # the split picker's order; the others follow as the dataset has them


def kind_of(cfg: dict[str, Any], where: Path | str) -> str:
    """The kind ``config.json`` declares (``network`` when it declares none)."""
    kind = cfg.get("kind", "network")
    if kind not in KINDS:
        raise RunError(f"{where}: kind {str(kind)[:40]!r} is not one of {', '.join(KINDS)}")
    return kind


def folder_kind(path: Path) -> str | None:
    """The kind of the bundle in ``path`` if it is complete enough to list, else None (cheap: a
    network run is known by its ``model.pt``; only other folders have their config read)."""
    from ..files import read_json

    if not (path / "config.json").is_file():
        return None
    if (path / "model.pt").is_file():
        return "network"
    try:
        cfg = read_json(path / "config.json", RunError)
        kind = kind_of(cfg, path) if isinstance(cfg, dict) else None
    except RunError:
        return None
    if kind == "reference" and (path / "reference.pt").is_file():
        return kind
    if kind == "embeddings" and (path / "embeddings").is_dir():
        return kind
    return None


def compare_partner(runs: list[str], current: str) -> str:
    """The run the Compare page opens beside ``current``: the first other run that answers a typed
    sentence (a network or reference run), so a fresh clone compares ``demo`` with ``demo-paper`` rather
    than with its own imported vectors; else the first other run; else ``current`` itself."""
    others = [r for r in runs if r != current]
    return next((r for r in others if folder_kind(Path(r)) in ("network", "reference")), others[0] if others else current)


def identity_file(path: str | Path) -> Path:
    """The file a loaded run (and the app's cache of it) is keyed on: its weights, or an
    embeddings run's config (which records the imported vectors' SHA-256)."""
    path = Path(path)
    return path / IDENTITY[folder_kind(path) or "network"]


def no_encoder(name: str, what: str) -> str:
    return NO_ENCODER.format(name=name, what=what)


def ordered_splits(names: list[str]) -> list[str]:
    """``test``, ``val``, ``train`` first (those present), then the others in their order."""
    return [s for s in SPLIT_ORDER if s in names] + [s for s in names if s not in SPLIT_ORDER]


def default_split(names: list[str]) -> str:
    """The split a run opens on: ``test`` when it has one, else ``val``, else its first."""
    return next((s for s in ("test", "val") if s in names), names[0] if names else "test")


def run_splits(path: str | Path) -> list[str]:
    """The splits the app can show for a run: an embeddings run's imported splits, else the splits of
    the dataset the run was trained on (``default_split`` picks among them)."""
    from ..data import load_dataset
    from ..data.provenance import locate
    from ..files import read_json

    path = Path(path)
    cfg = read_json(path / "config.json", RunError)
    if not isinstance(cfg, dict) or not isinstance(cfg.get("dataset"), dict):
        raise RunError(f"{path / 'config.json'}: no dataset section")
    if kind_of(cfg, path / "config.json") == "embeddings":
        return ordered_splits([str(s) for s in cfg.get("embeddings", {}).get("splits", [])])
    spec, images_dir = locate(cfg["dataset"], path / "config.json")
    return ordered_splits(list(load_dataset(spec, images_dir, skip_missing=True).splits))


def describe(cfg: dict[str, Any]) -> str | None:
    """One line on a run that is not a network (None for a network run: ``app_support.network_summary``)."""
    kind = cfg.get("kind", "network")
    if kind == "reference":
        r = cfg.get("reference", {}) if isinstance(cfg.get("reference"), dict) else {}
        return (f"CCA reference (no training): frozen ImageNet EfficientNet-Lite0 features of the photos at "
                f"{r.get('image_size', '?')} px × the mean of {r.get('w2v_dim', '?')}-d Word2Vec vectors of the "
                f"captions, projected to one {r.get('dim', '?')}-d space (ridge {r.get('ridge', '?')}, directions "
                f"weighted by correlation^{r.get('power', '?')}), fitted on split "
                f"`{cfg.get('dataset', {}).get('train_split', 'train')}`; it embeds any photo or sentence")
    if kind == "embeddings":
        e = cfg.get("embeddings", {}) if isinstance(cfg.get("embeddings"), dict) else {}
        return (f"imported vectors ({e.get('dim', '?')}-d, normalised: {e.get('normalise', '?')}) of split(s) "
                f"{', '.join(e.get('splits', [])) or '?'} from `{Path(str(e.get('images', '?'))).name}`; no "
                "encoder, so every query is an item of the gallery")
    return None


def no_painting(kind: str, name: str) -> str | None:
    """Why a run has no encoded-text image to show (the Encoded-text page), or None for a network run."""
    if kind == "reference":
        return (f"`{name}` is the CCA reference: it reads a sentence as the mean of its words' Word2Vec vectors, "
                "so there is no encoded-text image to show. Pick a network run in the sidebar for this page.")
    if kind == "embeddings":
        return no_encoder(name, "sentence") + " Pick a network run in the sidebar for this page."
    return None
