"""The app's click-to-search trail and its CSV exports (map selections, result lists).

Pure functions over plain records, so the pages stay thin and the tests need no browser.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


# ---- click to search: a trail of queries taken from the collection ----------------------------------
def search_step(kind: str, row: int, run: str | Path, split: str) -> dict[str, Any]:
    """One step of the search trail: an item of a run's split used as the query.

    ``kind`` "image" (an image row: its top sentences are shown) or "caption" (a caption row: its top
    images). Raises ``ValueError`` for any other kind or a negative row.
    """
    if kind not in ("image", "caption"):
        raise ValueError(f"search step kind must be 'image' or 'caption', not {kind!r}")
    if int(row) < 0:
        raise ValueError(f"row must be >= 0, not {row}")
    return {"kind": kind, "row": int(row), "run": str(run), "split": str(split)}


def composed_step(terms: list[Any] | tuple[Any, ...], target: str, run: str | Path, split: str) -> dict[str, Any]:
    """A trail step for a composed query (``facade.composed.Term`` records, searched against ``target``),
    so its terms show in the trail and Back returns to it. Raises ``ValueError`` for no terms or
    another target than "images" / "sentences"."""
    if not terms:
        raise ValueError("a composed step needs at least one term")
    if target not in ("images", "sentences"):
        raise ValueError(f"target must be 'images' or 'sentences', not {target!r}")
    return {"kind": "composed", "terms": tuple(terms), "target": target, "run": str(run), "split": str(split)}


def push_step(trail: list[dict[str, Any]] | None, step: dict[str, Any], limit: int = 50) -> list[dict[str, Any]]:
    """The trail with ``step`` on top (not pushed twice in a row; the oldest steps fall off past ``limit``)."""
    trail = list(trail or [])
    if not trail or trail[-1] != step:
        trail.append(step)
    return trail[-limit:]


def pop_step(trail: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The trail one step back (an empty trail stays empty)."""
    return list(trail or [])[:-1]


# ---- selections and results out (CSV) ------------------------------------------------------------
SELECTION_COLUMNS = ["kind", "image_id", "image_file", "caption", "x", "y", "split"]
RESULT_COLUMNS = ["query", "rank", "kind", "image_id", "image_file", "caption", "distance", "relevance", "label"]


# OWASP's CSV-injection rule: a text cell a spreadsheet would run as a formula or a DDE command
# starts with one of these; such a cell gets a leading apostrophe (shown as text, not evaluated).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe for a spreadsheet: text starting with = + - @ tab or CR is prefixed with ``'``
    (numbers we computed, such as a negative map coordinate, stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    """UTF-8 CSV (with header) of ``rows``, in ``columns`` order; missing keys are empty cells;
    text cells neutralised against formula injection (``csv_cell``)."""
    import csv
    import io

    buf = io.StringIO()
    # CRLF (RFC 4180): the writer then quotes any cell holding a CR or LF, so a caption cannot split a row
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else csv_cell(r.get(c))) for c in columns})
    return buf.getvalue().encode("utf-8")


def selection_rows(frame: Any, rows: list[int], split: str, image_ids: Any = None) -> list[dict[str, Any]]:
    """The map's selected points as rows (kind, image id, image file name, caption, x, y, split).

    ``frame`` is ``Explorer.map_frame()``; ``rows`` index it. Images have an empty caption; a caption
    names the file of the image it describes. Raises ``IndexError`` for a row outside the map.
    """
    n = len(frame)
    out = []
    for r in rows:
        if not 0 <= int(r) < n:
            raise IndexError(f"map row {r} is outside the map (0..{n - 1})")
        rec = frame.iloc[int(r)]
        image_row = int(rec["image_row"])
        out.append({"kind": "image" if rec["modality"] == "image" else "caption",
                    "image_id": str(image_ids[image_row]) if image_ids is not None else "",
                    "image_file": Path(str(rec["path"])).name,
                    "caption": "" if rec["modality"] == "image" else str(rec["text"]),
                    "x": round(float(rec["x"]), 4), "y": round(float(rec["y"]), 4), "split": split})
    return out


def result_rows(hits: list[dict[str, Any]], query: str, image_paths: Any, image_ids: Any) -> list[dict[str, Any]]:
    """Ranked hits (images or captions, as ``Explorer`` returns them) as CSV rows, relevance to 2 decimals."""
    out = []
    for h in hits:
        image_row = int(h["image_row"])
        rel = h.get("relevance")
        out.append({"query": query, "rank": h["rank"], "kind": "caption" if "text" in h else "image",
                    "image_id": str(image_ids[image_row]), "image_file": Path(str(image_paths[image_row])).name,
                    "caption": h.get("text", ""), "distance": round(float(h["distance"]), 4),
                    "relevance": None if rel is None else f"{float(rel):.2f}", "label": h.get("label")})
    return out
