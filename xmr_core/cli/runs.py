"""The commands that make a run of another kind (``bundle/kinds.py``) than the trainer's network:

    python -m xmr_core import --name NAME --images FILE --captions FILE --dataset DATASET --split test
    python -m xmr_core reference --dataset DATASET --images-dir DIR --save checkpoints/cca-f8k
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .args import add_dataset_args, check_writable


def cmd_import(a: argparse.Namespace) -> int:
    from ..bundle.importer import ImportConfig, import_run
    from .train import run_folder

    out = run_folder(argparse.Namespace(out=a.out, name=a.name, recipe=None))
    check_writable(str(out.parent), folder=True)
    cfg = ImportConfig(images=a.images, captions=a.captions, dataset=a.dataset, split=a.split,
                       images_dir=a.images_dir, column=a.column, normalise=a.normalise, vectors=a.vectors,
                       skip_missing=a.skip_missing)
    path = import_run(cfg, out, overwrite=a.overwrite, evaluate=not a.no_evaluate)
    print(f"imported: {path} (an embeddings run: {a.split} split of {a.dataset})")
    return 0


def add_import(sub: Any) -> None:
    from ..bundle.importer import NORMALISE

    p = sub.add_parser("import", help="import image and caption vectors as an embeddings run (vectors only)")
    p.add_argument("--name", default=None, help="run name: writes checkpoints/NAME")
    p.add_argument("--out", default=None, help="run folder (instead of --name)")
    p.add_argument("--images", required=True,
                   help="image vectors: .parquet (image_id + vector column; an export's file), .npz (ids, "
                        "vectors), .npy (+ <stem>.ids.txt) or an export's -vectors.tsv")
    p.add_argument("--captions", required=True, help="caption vectors, the same formats (ids: caption_id)")
    add_dataset_args(p, required=True)
    p.add_argument("--split", default="test", help="the split the vectors cover, all of it (default test)")
    p.add_argument("--column", default="vector", help="the vector column of a Parquet file (default vector)")
    p.add_argument("--normalise", choices=NORMALISE, default="l2",
                   help="l2: scale each vector to unit length (default); none: they must be unit already")
    p.add_argument("--vectors", default=None,
                   help="word2vec file for the relevance model (default: fitted on the dataset's train captions)")
    p.add_argument("--overwrite", action="store_true", help="replace a run of that name")
    p.add_argument("--no-evaluate", action="store_true", help="do not evaluate the run after the import")
    p.set_defaults(func=cmd_import)


def add_save_args(p: argparse.ArgumentParser) -> None:
    """``reference``'s options for writing the fitted CCA as a run."""
    p.add_argument("--save", default=None, metavar="RUN_FOLDER",
                   help="also write the fitted CCA as a reference run there (e.g. checkpoints/cca-f8k)")
    p.add_argument("--overwrite", action="store_true", help="with --save: replace a run there")


def save_reference_run(a: argparse.Namespace, cfg: Any) -> dict[str, Any]:
    """``reference --save``: fit, write the bundle, evaluate it; returns the fit's metrics."""
    from ..evaluation.reference import fit_reference, save_reference

    out = Path(a.save)
    check_writable(str(out.parent), folder=True)
    if out.exists() and not a.overwrite:  # before the fit (minutes), not after it
        from ..errors import XmrError

        raise XmrError(f"{out}: exists; choose another --save folder, or pass --overwrite to replace it")
    enc, m = fit_reference(a.dataset, a.images_dir, split=a.split, train_split=a.train_split, cfg=cfg,
                           skip_missing=a.skip_missing, progress=not a.json)
    save_reference(enc, m, out, a.dataset, a.images_dir, overwrite=a.overwrite)
    m["saved"] = str(out)
    return m
