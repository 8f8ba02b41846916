"""``python -m xmr_core query``: a composed query against any run, printed as a table or JSON.

    python -m xmr_core query --run demo --text "a red circle" --text "blue" --weight 1 --weight -0.5
    python -m xmr_core query --run checkpoints/demo --image dog.jpg --item scene_02800.png --target sentences --json

Terms come in the order given (``--text``, ``--image``, ``--item`` may be mixed and repeated);
``--weight`` is given once per term, in the same order, or not at all (every weight 1). The query is
``Explorer.query`` (``facade/composed.py``), so the results are the Query page's.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .args import add_dataset_args, bounded
from ..errors import RunError


def _term(kind: str):
    """An argparse ``type`` tagging a value with its term kind (the three flags share one list)."""
    def parse(s: str) -> tuple[str, str]:
        return kind, s

    parse.__name__ = kind
    return parse


def add_query(sub: Any) -> None:
    """The ``query`` command's parser."""
    p = sub.add_parser("query", help="a composed query (sentences, images, gallery items, weighted) against a run",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run name (under checkpoints/) or run folder")
    p.add_argument("--text", dest="terms", action="append", type=_term("sentence"), metavar="SENTENCE",
                   help="a sentence term (repeatable)")
    p.add_argument("--image", dest="terms", action="append", type=_term("image"), metavar="FILE",
                   help="an image file term (repeatable)")
    p.add_argument("--item", dest="terms", action="append", type=_term("item"), metavar="ID",
                   help="a gallery item of the split: an image id, or caption:ID (repeatable)")
    p.add_argument("--weight", action="append", type=bounded(float, -1000, 1000), default=None,
                   help="one per term, in the order of the terms (default: 1 each); negative subtracts")
    p.add_argument("--target", choices=["images", "sentences"], default="images",
                   help="search the split's images or its sentences (default images)")
    p.add_argument("--k", type=bounded(int, 1, 1000), default=10, help="results, 1..1000 (default 10)")
    add_dataset_args(p)
    p.add_argument("--split", default=None, help="split to search (default: test if the run has one, else val)")
    p.add_argument("--json", action="store_true", help="print the query and its results as JSON")
    p.set_defaults(func=cmd_query)


def run_path(name: str) -> Path:
    """A run given by folder, or by name under the checkpoints folder."""
    from ..bundle.run import checkpoints_dir

    p = Path(name)
    if p.is_dir():
        return p
    q = checkpoints_dir() / name
    if q.is_dir():
        return q
    raise RunError(f"{name}: no such run (neither a folder nor a run under {checkpoints_dir()})")


def terms_from(pairs: list[tuple[str, str]] | None, weights: list[float] | None) -> list[Any]:
    """The ``Term`` list of the command line; one ``--weight`` per term or none at all."""
    from ..facade.composed import QueryError, Term

    pairs = pairs or []
    if not pairs:
        raise QueryError("give at least one term: --text SENTENCE, --image FILE or --item ID")
    if weights is not None and len(weights) != len(pairs):
        raise QueryError(f"{len(pairs)} term{'s' if len(pairs) != 1 else ''} but {len(weights)} --weight "
                         "value(s): give one --weight per term, in the order of the terms (or none: all 1)")
    ws = weights or [1.0] * len(pairs)
    if not any(ws):
        raise QueryError("every --weight is 0: give at least one term a non-zero weight")
    return [Term(kind, value, w, name=Path(value).name if kind == "image" else "")
            for (kind, value), w in zip(pairs, ws)]


def result_records(ex: Any, hits: list[Any]) -> list[dict[str, Any]]:
    """The hits as JSON-able records: rank, distance, image id and file, caption id and text, mark."""
    out = []
    for h in hits:
        rec = {"rank": h.rank, "distance": h.distance, "image_row": h.image_row, "image_id": ex.image_id(h.image_row),
               "file": Path(ex.image_path(h.image_row)).name}
        if h.caption_row is not None:
            rec.update(caption_row=h.caption_row, caption_id=str(ex.emb.caption_ids[h.caption_row]), caption=h.text)
        rec.update(label=h.label, relevance=h.relevance)
        out.append(rec)
    return out


def _print_table(ex: Any, res: Any, records: list[dict[str, Any]]) -> None:
    from ..facade.composed import describe_terms

    print(f"run {ex.run_name} · {ex.dataset_name}/{ex.split} ({ex.n_images:,} images, {ex.n_captions:,} captions)")
    print(f"query: {describe_terms(res.terms)} → {res.target}")
    for note in res.notes:
        print(f"note: {note}")
    if res.target == "images":
        print(f"{'rank':>4}  {'distance':>8}  {'mark':<9}  {'image id':<24}  file")
        for r in records:
            print(f"{r['rank']:>4}  {r['distance']:>8.4f}  {r['label'] or '-':<9}  {r['image_id']:<24}  {r['file']}")
    else:
        print(f"{'rank':>4}  {'distance':>8}  {'mark':<9}  {'caption id':<10}  {'image id':<24}  caption")
        for r in records:
            print(f"{r['rank']:>4}  {r['distance']:>8.4f}  {r['label'] or '-':<9}  {r['caption_id']:<10}  "
                  f"{r['image_id']:<24}  {r['caption']}")


def cmd_query(a: argparse.Namespace) -> int:
    from ..facade.explorer import Explorer

    terms = terms_from(a.terms, a.weight)  # before the run loads: a bad command line fails at once
    path = run_path(a.run)
    split = a.split
    if split is None:  # the split the app opens on (bundle/kinds.py)
        from ..bundle.kinds import default_split, run_splits

        split = default_split(run_splits(path)) if a.dataset is None else "test"
    ex = Explorer(path, dataset=a.dataset, split=split, images_dir=a.images_dir)
    res = ex.query(terms, a.target, a.k)
    records = result_records(ex, res.results)
    if a.json:
        print(json.dumps({"run": ex.run_name, "path": str(path), "dataset": ex.dataset_name, "split": ex.split,
                          "target": res.target, "k": a.k, "terms": [t.record() for t in res.terms],
                          "notes": res.notes, "results": records}))
    else:
        _print_table(ex, res, records)
    return 0
