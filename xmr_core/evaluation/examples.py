"""Table-3-style retrieval examples as Markdown (the app's Retrieval page, in text).

    python -m xmr_core examples checkpoints/demo --split test --n 5
    python -m xmr_core examples /runs/f8k --dataset dataset_flickr8k.json --images-dir images --split val

Picks ``n`` queries of each direction so the examples show what R@K counts and what it
misses: queries answered at rank 1 (a hit), queries whose top-k misses the annotated
pair but holds semantically related items (what the semantic metric credits), and
misses with nothing related. Each retrieved item is marked GT / related / unrelated,
with the same labels and threshold the app uses. Images are named by file and
described by their first annotated caption, so the document carries no pixels (some
datasets may not be redistributed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..facade.explorer import Explorer
from ..retrieval.semantic import failed_but_related

MARK = {"gt": "**GT**", "related": "related", "unrelated": "unrelated"}


def pick_queries(ex: Explorer, direction: str, n: int, k: int = 5, seed: int = 0) -> list[tuple[int, str]]:
    """``n`` query rows of ``direction`` ("i2t" | "t2i") as (row, why-picked), deterministic.

    Round-robin over: a miss in the top-k with a related item, a hit at rank 1, a miss
    with nothing related, so every kind is shown when it exists.
    """
    rng = np.random.default_rng(seed)
    if direction == "i2t":
        queries, index, gallery_owner = ex.emb.images, ex.caption_index, ex.emb.caption_image
        own = np.arange(ex.n_images)
    elif direction == "t2i":
        queries, index, gallery_owner = ex.emb.captions, ex.image_index, np.arange(ex.n_images)
        own = ex.emb.caption_image
    else:
        raise ValueError("direction must be 'i2t' or 't2i'")
    _, ids = index.search(queries, k)
    gt = gallery_owner[ids] == own[:, None]
    related = set(failed_but_related(direction, np.arange(len(queries)), ids, ex.relevance, k,
                                     ex.threshold).tolist())
    pools = {
        "top-k misses the annotated pair but holds related items": [q for q in range(len(queries)) if q in related],
        "annotated pair at rank 1": np.flatnonzero(gt[:, 0]).tolist(),
        "top-k misses, nothing related": [q for q in np.flatnonzero(~gt.any(1)).tolist() if q not in related],
    }
    for key in pools:
        rng.shuffle(pools[key])
    picked: list[tuple[int, str]] = []
    while len(picked) < n and any(pools.values()):
        for why, pool in pools.items():
            if pool and len(picked) < n:
                picked.append((int(pool.pop()), why))
    return picked


def _image_label(ex: Explorer, row: int) -> str:
    caps = ex.captions_of(row)
    first = ex.caption_text(caps[0]) if caps else ""
    return f"`{Path(ex.image_path(row)).name}` ({first})"


def examples_markdown(ex: Explorer, n: int = 5, k: int = 5, seed: int = 0) -> str:
    """Markdown with ``n`` image->text and ``n`` text->image examples (see the module docstring)."""
    out = [f"Relevance: {ex.relevance_kind}, related if >= {ex.threshold:g} (the app's setting); "
           f"{ex.n_images} images / {ex.n_captions} captions of split `{ex.split}`.", ""]
    # per direction: heading, query label, result column, search, result label
    directions = [
        ("i2t", "Image → text", lambda q: f"**Query image** {_image_label(ex, q)}", "retrieved caption",
         ex.image_to_text, lambda h: h.text),
        ("t2i", "Text → image", lambda q: f"**Query caption** \"{ex.caption_text(q)}\"",
         "retrieved image (its first caption)", ex.text_to_image, lambda h: _image_label(ex, h.image_row)),
    ]
    for direction, heading, query, column, search, item in directions:
        out += [f"### {heading}", ""]
        for q, why in pick_queries(ex, direction, n, k, seed):
            out += [f"{query(q)} — *{why}*", "", f"| rank | {column} | mark | relevance |", "|---|---|---|---|"]
            out += [f"| {h['rank']} | {item(h)} | {MARK[h['label']]} | {h['relevance']:.2f} |" for h in search(q, k)]
            out.append("")
    return "\n".join(out)


def write_examples(run: Any, dataset: str | None = None, split: str = "test", images_dir: str | None = None,
                   n: int = 5, k: int = 5, out: str | Path | None = None) -> str:
    """Build the Explorer and return (and optionally write) the examples Markdown."""
    ex = Explorer(run, dataset, split, images_dir)
    md = examples_markdown(ex, n, k)
    if out:
        from ..files import markdown_mark, write_text_atomic

        write_text_atomic(Path(out), markdown_mark("examples") + md + "\n")
    return md
