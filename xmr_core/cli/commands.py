"""Command line: ``python -m xmr_core <command> ...``.

    python -m xmr_core demo                       # build checkpoints/demo (data, training, evaluation, t-SNE)
    python -m xmr_core data info demo             # images/captions per split of a dataset
    python -m xmr_core encode "a dog runs" --out dog.png
    python -m xmr_core train --dataset DATASET.json --images-dir DIR --name NAME
    python -m xmr_core embed --run checkpoints/NAME
    torchrun --nproc_per_node 2 -m xmr_core -- embed --run checkpoints/NAME   # sharded (also evaluate)
    python -m xmr_core evaluate --run checkpoints/NAME [--json]
    python -m xmr_core tsne --run checkpoints/NAME
    python -m xmr_core export --run checkpoints/NAME --format parquet
    python -m xmr_core import --name NAME --images FILE --captions FILE --dataset DATASET --split test
    python -m xmr_core reference --dataset DATASET --images-dir DIR --save checkpoints/cca-NAME
    python -m xmr_core query --run NAME --text "a dog" --text "grass" --weight 1 --weight -1 [--json]

Every command reports bad input as one line on stderr (no traceback) and exits non-zero.
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from .args import (OneLineParser, add_config_args, add_dataset_args, apply_config_args, bounded,
                       check_env, check_writable, given, one_line)
from .train import check_device, check_resume_flags, run_folder, saved_device
from .query import add_query
from .runs import add_import, add_save_args, save_reference_run
from ..config import EncodingConfig, ModelConfig, TrainConfig
from ..errors import XmrError
from ..files import check_output
from ..stops import describe as describe_stop, install as install_stops


# ---- data / encode -------------------------------------------------------------
def cmd_data_info(a: argparse.Namespace) -> int:
    from ..data import load_dataset

    ds = load_dataset(a.dataset, a.images_dir, a.skip_missing)
    summary = ds.summary()
    if a.json:
        print(json.dumps({"dataset": ds.name, "source": ds.source, "splits": summary,
                          "missing": len(ds.missing)}))
        return 0
    print(f"dataset {ds.name}  ({ds.source})")
    print(f"{'split':<10}{'images':>10}{'captions':>10}")
    for split, d in summary.items():
        print(f"{split:<10}{d['images']:>10}{d['captions']:>10}")
    print(f"{'total':<10}{len(ds.images):>10}{len(ds.captions):>10}")
    if ds.missing:
        print(f"skipped {len(ds.missing)} missing image files, e.g. {ds.missing[:3]}")
    return 0


def _encoder_from(a: argparse.Namespace):
    from ..text.encoder import TextEncoder
    from ..text.vectors import load_vectors

    if a.run:
        from ..bundle.run import load_encoder

        return load_encoder(a.run)
    if a.vectors:
        return TextEncoder(load_vectors(a.vectors))
    from ..bundle.run import demo_encoder

    return demo_encoder()


def _save_image(img, out: Path, mark: str) -> None:
    """An image file, written atomically (a PNG stamped as ``mark``'s output); the format from the name."""
    from PIL import Image

    from ..files import atomic_file
    from ..evaluation.projection import save_png

    if not out.parent.is_dir():
        raise XmrError(f"{out}: cannot write the encoded image (no folder {out.parent})")
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None:
        raise XmrError(f"{out}: cannot write the encoded image (unknown file extension {out.suffix!r}; use .png)")
    try:
        if fmt == "PNG":
            save_png(Image.fromarray(img), out, mark)
        else:
            with atomic_file(out) as f:
                Image.fromarray(img).save(f, format=fmt)
    except (OSError, ValueError, KeyError) as e:  # no such folder, not writable, disk full, format refuses RGB
        raise XmrError(f"{out}: cannot write the encoded image ({e})") from None


def cmd_encode(a: argparse.Namespace) -> int:
    check_writable(a.out, folder=False)
    check_output(a.out, "encode", a.force)
    enc = _encoder_from(a)
    img, lay = enc.encode(a.sentence, strict=True)
    out = Path(a.out)
    _save_image(img, out, "encode")
    rec = lay.to_dict()
    if a.json:
        print(json.dumps({"out": str(out), **rec}))
    else:
        print(f"wrote {out} ({img.shape[1]}x{img.shape[0]})")
        for p in lay.placed:
            print(f"  {p.word:<16} block at x={p.x:<4} y={p.y:<4} ({p.w}x{p.h} px)")
        print(f"  out of vocabulary: {', '.join(lay.oov) or '-'}")
        print(f"  dropped (no room): {', '.join(lay.dropped) or '-'}")
    return 0


# ---- training and evaluation ------------------------------------------------------
def add_train_args(p: argparse.ArgumentParser) -> None:
    """Every option of ``train``: a recipe, then any of its values overridden one by one."""
    from ..recipes import RECIPES

    add_dataset_args(p)
    p.add_argument("--name", default=None, help="run name: writes checkpoints/NAME (default: the recipe name)")
    p.add_argument("--out", default=None, help="run folder (overrides --name)")
    names: dict[int, list[str]] = {}
    for name, r in RECIPES.items():  # aliases share one Recipe object
        names.setdefault(id(r), []).append(name)
    about = "; ".join(f"{' = '.join(n)}: {RECIPES[n[0]].about}" for n in names.values())
    p.add_argument("--recipe", choices=list(RECIPES), default=None,
                   help=f"starting configs, default 'default' ({about})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out/--name exactly")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out/--name (kept until the "
                                                            "new run's first checkpoint)")
    p.add_argument("--train-split", default=None, help="split(s) to train on, e.g. train+restval (default train)")
    p.add_argument("--val-split", default=None, help="split for periodic validation R@K (default val)")
    for title, cls in (("model", ModelConfig), ("text encoding", EncodingConfig), ("training", TrainConfig)):
        add_config_args(p.add_argument_group(title), cls)


def cmd_train(a: argparse.Namespace) -> int:
    from ..recipes import recipe
    from ..train import train
    from ..train.distributed import init_from_env, shutdown, world
    from ..train.resume import CHANGEABLE

    out = run_folder(a)
    if a.resume and a.overwrite:
        raise XmrError("--resume continues a run and --overwrite replaces it: give one of them")
    if a.resume:
        check_resume_flags(a, out)
        apply_config_args(a, TrainConfig())  # the ranges of what may change (--epochs 0), by flag name
        enc = mod = tr = None
        over = given(a, TrainConfig, *CHANGEABLE)
    else:
        enc, mod, tr = (apply_config_args(a, c) for c in recipe(a.recipe or "default"))
        over = {}
    check_device((tr.device if tr else over.get("device") or saved_device(out)) or "auto")
    init_from_env((tr.device if tr else over.get("device")) or "auto")
    try:
        res = train(out, a.dataset or "demo", a.images_dir, enc, mod, tr, resume=a.resume,
                    skip_missing=a.skip_missing, recipe_name=a.recipe or "default",
                    train_split=a.train_split or "train", val_split=a.val_split or "val",
                    resume_overrides=over, overwrite=a.overwrite)
        rank = world()[0]  # before shutdown(): afterwards every process would read itself as rank 0
    finally:
        shutdown()
    if rank == 0 and res.interrupted:
        print(f"interrupted: kept the run at its last checkpoint ({res.steps} steps, {res.epochs_done} epochs) "
              f"in {res.run_dir}; continue with --resume", file=sys.stderr)
    elif rank == 0:
        print(f"done: {res.steps} steps, {res.epochs_done} epochs -> {res.run_dir}")
    return 130 if res.interrupted else 0


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo import build_demo

    build_demo(fast=a.fast, out=a.out, force=a.force)
    return 0


def cmd_embed(a: argparse.Namespace) -> int:
    from ..evaluation.shards import embed_any, embed_on_every_rank
    from ..bundle.run import load_run

    rank, path = embed_on_every_rank(a.run, a.dataset, a.split, a.images_dir, a.skip_missing, a.force)  # torchrun
    if path is None:
        run = load_run(a.run)
        if not run.can_encode:
            raise XmrError(f"{run.name}: an embeddings run holds imported vectors; there is nothing to embed "
                           "(import another split with `python -m xmr_core import`)")
        path = embed_any(run, a.dataset, a.split, images_dir=a.images_dir, skip_missing=a.skip_missing,
                         force=a.force)
    if rank == 0:
        print(f"embeddings: {path}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ..evaluation.evaluate import evaluate_run, format_table
    from ..evaluation.shards import embed_on_every_rank

    if embed_on_every_rank(a.run, a.dataset, a.split, a.images_dir, a.skip_missing)[0] != 0:
        return 0  # under torchrun every rank embeds its shards; rank 0 alone evaluates the merged split
    metrics = evaluate_run(a.run, dataset=a.dataset, split=a.split, images_dir=a.images_dir,
                           skip_missing=a.skip_missing, backend=a.backend)
    print(json.dumps(metrics, indent=1) if a.json else format_table(metrics))
    return 0


def cmd_tsne(a: argparse.Namespace) -> int:
    from ..evaluation.evaluate import tsne_run

    check_writable(a.out, folder=False)
    png = tsne_run(a.run, dataset=a.dataset, split=a.split, images_dir=a.images_dir, out=a.out,
                   replace_out=a.force)
    print(f"t-SNE map: {png}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from ..evaluation.export import export_run

    check_writable(a.out, folder=True)
    paths = export_run(a.run, fmt=a.format, dataset=a.dataset, split=a.split, images_dir=a.images_dir, out=a.out,
                       force=a.force)
    for p in paths:
        print(p)
    return 0


def cmd_examples(a: argparse.Namespace) -> int:
    from ..evaluation.examples import write_examples

    check_writable(a.out, folder=False)
    check_output(a.out, "examples", a.force)
    print(write_examples(a.run, dataset=a.dataset, split=a.split, images_dir=a.images_dir, n=a.n, k=a.k,
                         out=a.out))
    return 0


def cmd_reference(a: argparse.Namespace) -> int:
    from ..evaluation.reference import CCAConfig, run_reference

    cfg = CCAConfig(image_size=a.image_size, dim=a.dim, ridge=a.ridge, power=a.power)
    if a.save:  # the fitted CCA as a reference run the app lists (cli/runs.py)
        m = save_reference_run(a, cfg)
    else:
        m = run_reference(a.dataset, a.images_dir, split=a.split, train_split=a.train_split, cfg=cfg,
                          skip_missing=a.skip_missing, progress=not a.json)
    if a.json:
        print(json.dumps(m))
        return 0
    r = lambda d: " / ".join(f"{d[f'R@{k}']:.1f}" for k in (1, 5, 10))  # noqa: E731
    print(f"CCA reference on {a.split} ({m['n_images']} images, {m['n_captions']} captions), "
          f"{m['seconds']:.0f} s: R@1/5/10 image->text {r(m['i2t'])}, text->image {r(m['t2i'])}, "
          f"rsum {m['rsum']:.1f}; median rank {m['i2t']['medr']:.0f} / {m['t2i']['medr']:.0f}")
    if a.save:
        print(f"saved the reference run: {m['saved']}")
    return 0


def _add_data_and_encode(sub: Any) -> None:
    p = sub.add_parser("data", help="inspect a dataset")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    q = dsub.add_parser("info", help="images and captions per split")
    add_dataset_args(q, positional=True)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_data_info)

    p = sub.add_parser("encode", help="paint a sentence as an encoded-text image")
    p.add_argument("sentence")
    p.add_argument("--out", default="encoded.png", help="PNG to write (default encoded.png)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--run", default=None, help="use this run's word vectors (checkpoints/NAME)")
    g.add_argument("--vectors", default=None, help="word2vec binary/text file")
    p.add_argument("--json", action="store_true", help="print the layout record as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing --out that xmr did not write (never a folder, link or device)")
    p.set_defaults(func=cmd_encode)


def _add_run_commands(sub: Any) -> None:
    """The commands that read a trained run: embed, evaluate, tsne, examples, export."""
    for name, func, hlp in (("embed", cmd_embed, "embed a split's images and captions into the run"),
                            ("evaluate", cmd_evaluate, "Recall@K both ways, semantic metric, report.md"),
                            ("tsne", cmd_tsne, "t-SNE map of a split (cached in the run) and its PNG")):
        p = sub.add_parser(name, help=hlp)
        p.add_argument("--run", required=True, help="run bundle folder (checkpoints/NAME)")
        add_dataset_args(p)
        p.add_argument("--split", default="test", help="split to use (default test)")
        if name == "embed":
            p.add_argument("--force", action="store_true", help="recompute even if cached")
        if name == "evaluate":
            p.add_argument("--json", action="store_true", help="print metrics as JSON")
            p.add_argument("--backend", choices=["exact", "faiss", "auto"], default="exact")
        if name == "tsne":
            p.add_argument("--out", default=None, help="PNG path (default RUN/tsne/<dataset>-<split>.png)")
            p.add_argument("--force", action="store_true", help="replace an existing --out that xmr did not write (never a folder, link or device)")
        p.set_defaults(func=func)

    p = sub.add_parser("examples", help="Table-3-style examples (GT / related / unrelated) as Markdown")
    p.add_argument("--run", required=True, help="run bundle folder (checkpoints/NAME)")
    add_dataset_args(p)
    p.add_argument("--split", default="test", help="split to use (default test)")
    p.add_argument("--n", type=bounded(int, 1, 100), default=5, help="examples per direction, 1..100 (default 5)")
    p.add_argument("--k", type=bounded(int, 1, 100), default=5, help="results per example, 1..100 (default 5)")
    p.add_argument("--out", default=None, help="also write the Markdown to this file")
    p.add_argument("--force", action="store_true", help="replace an existing --out that xmr did not write (never a folder, link or device)")
    p.set_defaults(func=cmd_examples)

    p = sub.add_parser("export", help="export embeddings (parquet, TensorBoard projector)")
    p.add_argument("--run", required=True)
    p.add_argument("--format", choices=["parquet", "projector"], required=True)
    add_dataset_args(p)
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="output folder (default RUN/export)")
    p.add_argument("--force", action="store_true", help="replace export files in --out that xmr did not write")
    p.set_defaults(func=cmd_export)


def _add_reference(sub: Any) -> None:
    p = sub.add_parser("reference", help="the classical reference: CCA of frozen ImageNet features x mean Word2Vec")
    add_dataset_args(p, required=True)
    p.add_argument("--split", default="val", help="split to evaluate on")
    p.add_argument("--train-split", default="train", help="split(s) to fit Word2Vec and CCA on")
    from ..evaluation.reference import CCAConfig

    d = CCAConfig()
    p.add_argument("--image-size", type=bounded(int, 32, 512), default=d.image_size,
                   help="photos' side in px for the frozen trunk (32..512)")
    p.add_argument("--dim", type=bounded(int, 1, 1024), default=d.dim, help="shared-space dimension (1..1024)")
    p.add_argument("--ridge", type=bounded(float, 0, 1e6), default=d.ridge,
                   help="ridge on each covariance (relative)")
    p.add_argument("--power", type=bounded(float, 0, 10), default=d.power,
                   help="weight directions by correlation ** power")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_save_args(p)
    p.set_defaults(func=cmd_reference)


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="python -m xmr_core", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_and_encode(sub)

    p = sub.add_parser("demo", help="generate the demo data, train, evaluate: checkpoints/demo")
    p.add_argument("--fast", action="store_true", help="a tiny, quick run (tests)")
    p.add_argument("--out", default=None, help="run folder (default checkpoints/demo, or demo-fast)")
    p.add_argument("--force", action="store_true", help="rebuild even if the run exists")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a model and write a run bundle",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_args(p)
    p.set_defaults(func=cmd_train)
    _add_run_commands(sub)
    _add_reference(sub)
    add_import(sub)
    add_query(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one ``error: ...`` line on stderr and exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # wherever it is given, so an unexpected error can be shown in full
    try:
        install_stops()  # SIGTERM, like Ctrl-C, ends the command with a line saying what was kept
        a = build_parser().parse_args([x for x in argv if x != "--debug"])
        check_env()
        return int(a.func(a) or 0)
    except XmrError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(describe_stop(e), file=sys.stderr)
        return 130
    except OSError as e:  # the file system said no: name the file and the reason
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - the CLI's promise: never a traceback unless asked for
        if debug:
            traceback.print_exc()
        print(f"error: unexpected {type(e).__name__}: {one_line(e)[:300]} (a bug in xmr: please report it "
              "with the command line; rerun with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
