"""Small pure helpers for the Streamlit app (no Streamlit import here).

The app's pages only lay out what these functions and :class:`xmr_core.facade.explorer.Explorer`
return; everything here is testable without a browser or a Streamlit runtime.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from .app_selection import (RESULT_COLUMNS, SELECTION_COLUMNS, pop_step, push_step,  # noqa: F401 - re-exported
                            result_rows, search_step, selection_rows, to_csv)
from ..errors import XmrError
from ..recipes import recorded_time, training_time_note

KS = (1, 5, 10)
IMAGE_COLOUR = "#d62728"   # the paper's Fig. 3: images red
TEXT_COLOUR = "#1f77b4"    # ... and text blue
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]
MISSING = "—"              # what a table shows for a value that does not exist (never "None")


# Every ASCII punctuation mark Markdown (and Streamlit's directives, LaTeX, HTML) could read as syntax.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$=&\"'])")


def md_text(value: Any) -> str:
    """Text from a dataset or a user (a caption, a file name, an id) for a Markdown-rendering call,
    shown literally: every punctuation mark backslash-escaped (no link, image, HTML, heading, list,
    colour directive or formula is ever formed) and line breaks folded to spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def html_text(value: Any) -> str:
    """Text from a dataset or a user for an HTML-rendering label (Plotly's hover text): every markup
    character escaped (``<``, ``>``, ``&`` and both quotes)."""
    import html

    return html.escape(str(value), quote=True)


# ---- runs -------------------------------------------------------------------------------------
def run_key(run_path: str | Path) -> tuple[str, int]:
    """(resolved path, weights mtime in ns): the cache key of a loaded run / explorer (``model.pt``, or
    another kind's file: ``bundle.kinds.identity_file``)."""
    from ..bundle.kinds import identity_file

    p = Path(run_path).resolve()
    try:
        mtime = identity_file(p).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return str(p), mtime


def run_label(run_path: str | Path) -> str:
    """A short label for a run in a select box: its name, its kind unless a network, whether it is evaluated."""
    from ..bundle.kinds import folder_kind

    p = Path(run_path)
    kind = folder_kind(p)
    return p.name + ("" if kind in (None, "network") else f" [{kind}]") + (
        "" if (p / "metrics.json").is_file() else " (not evaluated)")


def demo_minutes(fast: bool) -> int:
    """Wall time of ``build_demo`` for the button's label: the full build's recorded time on a CPU of
    this kind (``recipes.recorded_time("demo")``), rounded up; the fast build's rough 2 minutes."""
    if fast:
        return 2
    t = recorded_time("demo")
    return math.ceil(t.seconds / 60) if t else 30


# ---- metrics ------------------------------------------------------------------------------------
def recall_rows(m: dict[str, Any] | None, name: str = "ours") -> list[dict[str, Any]]:
    """Our R@K rows beside the paper's (``evaluate.PAPER_ROWS``), one dict per table row."""
    from ..evaluation.evaluate import PAPER_ROWS

    rows: list[dict[str, Any]] = []
    if m:
        rows.append(_recall_row(f"{name} ({m.get('dataset', '?')}/{m.get('split', '?')}, "
                                f"{m.get('n_images', '?')} images)",
                                [m["i2t"][f"R@{k}"] for k in KS], [m["t2i"][f"R@{k}"] for k in KS],
                                m["i2t"].get("medr"), m["t2i"].get("medr")))
        for key in ("coco1k", "coco5k"):
            if key in m:
                rows.append(_recall_row(f"{name} {key}", [m[key]["i2t"][f"R@{k}"] for k in KS],
                                        [m[key]["t2i"][f"R@{k}"] for k in KS]))
    for r in PAPER_ROWS:
        rows.append(_recall_row(f"{r['method']} ({r['set']}, 1,000 images)", r["i2t"], r["t2i"]))
    return rows


def _recall_row(name: str, i2t: list[float], t2i: list[float], medr_i2t: Any = None,
                medr_t2i: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {"method": name}
    for k, v in zip(KS, i2t):
        row[f"i2t R@{k}"] = round(float(v), 2)
    row["i2t medr"] = medr_i2t
    for k, v in zip(KS, t2i):
        row[f"t2i R@{k}"] = round(float(v), 2)
    row["t2i medr"] = medr_t2i
    row["rsum"] = round(float(sum(i2t) + sum(t2i)), 2)
    return row


def semantic_rows(m: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One row per direction: R@K, sR@K and NCS@K (the semantic metric), if present."""
    if not m or not m.get("semantic"):
        return []
    s = m["semantic"]
    out = []
    for d, label in (("i2t", "image->text"), ("t2i", "text->image")):
        row: dict[str, Any] = {"direction": label}
        for k in KS:
            row[f"R@{k}"] = round(float(m[d][f"R@{k}"]), 2)
        for key, v in s.get(d, {}).items():
            row[key] = round(float(v), 2) if isinstance(v, (int, float)) else v
        out.append(row)
    return out


def compare_rows(metrics: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Metrics of several runs side by side: one row per statistic, one column per run."""
    stats: list[tuple[str, Any]] = []
    for d in ("i2t", "t2i"):
        for k in KS:
            stats.append((f"{d} R@{k}", lambda m, d=d, k=k: m[d][f"R@{k}"]))
        stats.append((f"{d} medr", lambda m, d=d: m[d].get("medr")))
    stats.append(("rsum", lambda m: m.get("rsum")))
    for d in ("i2t", "t2i"):
        for k in KS:
            stats.append((f"{d} sR@{k}", lambda m, d=d, k=k: m["semantic"][d][f"sR@{k}"]))
            stats.append((f"{d} NCS@{k}", lambda m, d=d, k=k: m["semantic"][d][f"NCS@{k}"]))
    stats.append(("n_images", lambda m: m.get("n_images")))
    stats.append(("n_captions", lambda m: m.get("n_captions")))
    rows = []
    for name, get in stats:
        row: dict[str, Any] = {"statistic": name}
        for run, m in metrics.items():
            try:
                v = get(m) if m else None
            except (KeyError, TypeError):
                v = None
            row[run] = round(float(v), 2) if isinstance(v, (int, float)) else v
        rows.append(row)
    return rows


def network_summary(config: dict[str, Any]) -> str:
    """One line on a run's network: backbone, where its starting weights came from, what was frozen (or,
    for a run of another kind, what it is: ``bundle.kinds.describe``)."""
    from ..bundle.kinds import describe

    if other := describe(config):
        return other
    m = config.get("model", {})
    if m.get("backbone", "inception_resnet_v1") == "inception_resnet_v1":
        return (f"InceptionResNet-V1 (the paper's network), width {m.get('width', 1.0)}, "
                f"{m.get('input_size', '?')} px, trained from scratch")
    t = m.get("text_input_size") or 0  # captions at their own side (docs/METHOD.md §2d)
    line = f"EfficientNet-Lite0 trunk, {m.get('input_size', '?')} px" + (f" (captions {t} px), " if t else ", ")
    w = config.get("backbone_weights")
    if m.get("pretrained") and w:
        line += f"ImageNet weights from `{w.get('package', '?')}` (sha256 {str(w.get('sha256', '?'))[:12]}…)"
    elif m.get("pretrained"):
        line += "ImageNet weights (provenance not recorded)"
    else:
        line += "trained from scratch"
    n = int(m.get("freeze_blocks", 0) or 0)
    return line + (f"; stem and first {n} of 16 blocks frozen" if n else "; every block trained")


def losses_summary(config: dict[str, Any]) -> str:
    """The training losses of a run's config in words, e.g. "softmax 1 + center loss 0.01 + InfoNCE 1"."""
    from dataclasses import asdict

    from ..config import TrainConfig

    # A key a config lacks was trained with the default of its time, which is today's default (an
    # older bundle, e.g. the committed demo, predates the softmax_weight option: it trained with softmax).
    t = {**asdict(TrainConfig()), **(config.get("train", {}) if isinstance(config, dict) else {})}
    parts = []
    for key, name in (("softmax_weight", "softmax"), ("center_loss_factor", "center loss"),
                      ("contrastive_weight", "InfoNCE"), ("hard_negative_weight", "VSE++ hinge"),
                      ("words_weight", "caption-words head"), ("teacher_weight", "CCA teacher")):
        v = t.get(key)
        if isinstance(v, (int, float)) and v > 0:
            mult = t.get("teacher_text_mult") if key == "teacher_weight" else 1  # docs/METHOD.md §3c
            parts.append(f"{name} {v:g}" + (f" (captions x{mult:g})" if isinstance(mult, (int, float)) and mult != 1 else ""))
    width = config.get("model", {}).get("width") if isinstance(config, dict) else None
    return (" + ".join(parts) or "no loss recorded") + (f"; width {width:g}" if isinstance(width, (int, float)) else "")


def gap_rows(gap: dict[str, Any]) -> list[dict[str, Any]]:
    """The modality-gap statistics as (statistic, value) rows."""
    return [{"statistic": k, "value": (round(float(v), 4) if isinstance(v, (float, np.floating)) else v)}
            for k, v in gap.items()]


def train_curve(log: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Series to plot from ``run.train_log()``: {column: [(x, value), ...]} for loss and val recall columns.

    x is the epoch (or step) column when present, else the row number.
    """
    if not log:
        return {}
    xkey = next((k for k in ("epoch", "step") if k in log[0]), None)
    wanted = [k for k in log[0] if k != xkey and (("loss" in k.lower()) or ("r@" in k.lower())
                                                    or k.lower().startswith("val"))]
    out: dict[str, list[tuple[float, float]]] = {}
    for key in wanted:
        pts = []
        for i, row in enumerate(log):
            v = row.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                x = row.get(xkey, i + 1) if xkey else i + 1
                pts.append((float(x) if isinstance(x, (int, float)) else float(i + 1), float(v)))
        if pts:
            out[key] = pts
    return out


def dash_missing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows for display: a missing value (None / NaN) becomes ``MISSING`` ("—").

    A column holding any missing value is shown as text (numbers to two decimals, whole numbers
    without them) so the column has one type; other columns keep their numbers.
    """
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    def text(v: Any) -> str:
        if missing(v):
            return MISSING
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return f"{float(v):.2f}"
        return str(v)

    cols = {k for r in rows for k, v in r.items() if missing(v)}
    return [{k: (text(v) if k in cols else v) for k, v in r.items()} for r in rows]


# ---- what a run knows ------------------------------------------------------------------------------
def run_scope(config: dict[str, Any], dataset: str, split: str, n_images: int, n_captions: int) -> dict[str, Any]:
    """What a run was trained on and what its gallery holds, in words (the Query page's notice).

    Returns ``{"trained_on", "gallery", "synthetic", "advice"}``; ``advice`` (or None) says how to get
    a run that knows real photos when this one only knows the synthetic demo scenes.
    """
    ds = config.get("dataset", {}) if isinstance(config, dict) else {}
    spec = str(ds.get("spec", "?"))
    name = Path(spec.split(":", 1)[0]).name
    synthetic = name == "demo"
    n_classes = ds.get("n_classes")
    train_split = ds.get("train_split", "train")
    size = f"{n_classes:,} training images" if isinstance(n_classes, int) else "its training images"
    if synthetic:
        what = ("the synthetic demo dataset: generated scenes of 1–3 coloured shapes (circles, squares, "
                "triangles, ...) on plain backgrounds, each with 5 template captions")
    else:
        what = f"`{spec}`"
    trained_on = f"{what} ({size}, split `{train_split}`, recipe `{config.get('recipe', '?')}`)"
    gallery = (f"the {n_images:,} images and {n_captions:,} captions of `{dataset}/{split}`; every answer is "
               "one of these")
    advice = None
    if synthetic:
        advice = ("This run has only ever seen coloured shapes: a photo or a sentence about anything else still "
                  "gets the nearest shapes, which is expected, not a fault. For real photos, train on real data, "
                  "e.g. `python -m xmr_core train --recipe default --dataset dataset_flickr8k.json --images-dir "
                  f"images --name f8k` (recorded training time: {training_time_note('default')}; with two idle cores "
                  "use `--recipe two-cores`, the same run with two threads, "
                  f"recorded: {training_time_note('two-cores')}; on a slower CPU, `--recipe captions-192 --budget-min "
                  "60`: the run times its own steps and trains the epochs that fit the hour, each worth more). Then "
                  "`python -m xmr_core evaluate --run checkpoints/f8k`, and pick `f8k` in the sidebar.")
    return {"trained_on": trained_on, "gallery": gallery, "synthetic": synthetic, "advice": advice}


def data_uri(img: Any, max_side: int = 112, quality: int = 80) -> str:
    """A small JPEG of a PIL image as a ``data:`` URI (the map's hover thumbnails)."""
    import base64
    import io

    im = img.convert("RGB")
    im.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---- labels -------------------------------------------------------------------------------------
def hit_label(hit: Any) -> str:
    """'✓ ground truth' / 'related (score 0.87)' / 'unrelated (score 0.12)' for a labelled ``Hit``."""
    lab, rel = hit.label, hit.relevance
    if lab == "gt":
        return "✓ ground truth"
    if lab == "related":
        return f"related (score {rel:.2f})"
    return f"unrelated (score {rel:.2f})" if isinstance(rel, float) else "unrelated"


def contains_word(texts: Any, word: str) -> np.ndarray:
    """A boolean mask: which texts contain ``word`` as a token (case-insensitive)."""
    from ..text.tokenize import tokenize

    w = tokenize(word or "")
    if not w:
        return np.zeros(len(texts), bool)
    target = w[0]
    return np.array([target in tokenize(str(t)) for t in texts], bool)


def filter_rows(texts: Any, word: str) -> list[int]:
    """Rows of ``texts`` containing ``word`` (all rows when ``word`` is empty)."""
    if not (word or "").strip():
        return list(range(len(texts)))
    return np.nonzero(contains_word(texts, word))[0].tolist()


def page_slice(n: int, page: int, per_page: int) -> tuple[int, int, int]:
    """(start, stop, n_pages) of a 1-based ``page`` over ``n`` items."""
    n_pages = max(1, math.ceil(n / per_page))
    page = min(max(1, int(page)), n_pages)
    start = (page - 1) * per_page
    return start, min(n, start + per_page), n_pages


# ---- the encoded-text picture ---------------------------------------------------------------------
def annotate_encoding(encoded: np.ndarray, layout: Any, scale: int | None = None, labels: bool = True,
                      crop: bool = False, gap: int = 4, width: int = 640):
    """The encoded-text image scaled up with each placed word's block boxed and labelled (PIL).

    ``crop`` keeps only the painted region (plus ``gap`` px) so the words are readable; ``scale``
    defaults to what makes the picture about ``width`` px wide. Labels go in the gap under each block.
    """
    from PIL import Image, ImageDraw, ImageFont

    arr = np.asarray(encoded, dtype=np.uint8)
    x0 = y0 = 0
    if crop and layout is not None and layout.placed:
        x1 = max(p.x + p.w for p in layout.placed) + gap
        y1 = max(p.y + p.h for p in layout.placed) + gap
        x0 = max(0, min(p.x for p in layout.placed) - gap)
        y0 = max(0, min(p.y for p in layout.placed) - gap)
        arr = arr[y0:y1, x0:x1]
    if scale is None:
        scale = max(1, min(8, width // max(1, arr.shape[1])))
    img = Image.fromarray(np.ascontiguousarray(arr)).resize((arr.shape[1] * scale, arr.shape[0] * scale),
                                                            Image.NEAREST)
    if not labels or layout is None:
        return img
    draw = ImageDraw.Draw(img)
    size = max(8, min(18, gap * scale - 3))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for p in layout.placed:
        bx0, by0 = (p.x - x0) * scale, (p.y - y0) * scale
        bx1, by1 = (p.x - x0 + p.w) * scale - 1, (p.y - y0 + p.h) * scale - 1
        draw.rectangle([bx0, by0, bx1, by1], outline=(0, 0, 0), width=max(1, scale // 3))
        text = p.word
        while len(text) > 2 and draw.textlength(text, font=font) > (bx1 - bx0 + gap * scale):
            text = text[:-2] + "…"
        draw.text((bx0, by1 + 1), text, fill=(0, 0, 0), font=font)
    return img


# ---- query handlers (plain functions the page calls; tests call them directly) ---------------
def handle_text_query(explorer: Any, sentence: str, k: int = 10) -> tuple[Any, str | None]:
    """(QueryResult, None) or (None, a message for the user)."""
    try:
        return explorer.text_query(sentence, k), None
    except XmrError as e:
        return None, str(e)


def handle_image_query(explorer: Any, data: bytes | None, name: str = "uploaded image",
                       k: int = 10) -> tuple[Any, str | None]:
    """(QueryResult, None) or (None, a message for the user) for uploaded bytes."""
    if data is None:
        return None, "no file uploaded"
    try:
        return explorer.image_query(bytes(data), k, name=name), None
    except XmrError as e:
        return None, str(e)


__all__ = ["run_key", "run_label", "recall_rows", "semantic_rows", "compare_rows", "gap_rows", "train_curve",
           "dash_missing", "run_scope", "losses_summary", "search_step", "push_step", "pop_step", "to_csv", "data_uri",
           "selection_rows", "result_rows", "hit_label", "contains_word", "filter_rows", "page_slice",
           "annotate_encoding", "handle_text_query", "handle_image_query", "IMAGE_COLOUR", "TEXT_COLOUR",
           "UPLOAD_TYPES", "KS", "MISSING", "SELECTION_COLUMNS", "RESULT_COLUMNS", "md_text", "html_text"]
