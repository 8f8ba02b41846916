"""The embedding map's figure: plotly only (no Streamlit), shared by the page and the render benchmark.

Two WebGL traces (``Scattergl``: curve 0 = images, curve 1 = captions) hold every point of the map,
never a sample, so a COCO-5k map (5,000 images + 25,000 captions) is drawn whole. The page maps a
selection back to frame rows with :func:`trace_rows`. Past ``LARGE_MAP`` points the page draws a canvas
map instead (``pages/_large_map.py``), with the same colour fields.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from xmr_core.facade.app_support import IMAGE_COLOUR, TEXT_COLOUR, html_text

# Colour-by options and how each one is drawn.
CONTINUOUS = {"image id": "Turbo", "relevance to a query": "Viridis", "caption length": "Cividis",
              "OOV count": "Reds"}
CATEGORICAL = {"split", "R@K hit / miss", "contains word"}
COLOUR_OPTIONS = ["modality", "image id", "split", "R@K hit / miss", "relevance to a query", "caption length",
                  "OOV count", "contains word"]
NO_VALUE = "#d0d0d0"  # points the field does not apply to (an image's caption length, say)
PALETTE = {"hit": "#2ca02c", "miss": "#d62728", "yes": "#2ca02c", "no": "#c7c7c7"}
_CYCLE = ["#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def trace_rows(df: Any) -> list[np.ndarray]:
    """Frame rows of curve 0 (images) and curve 1 (captions), in trace point order."""
    mod = df["modality"].to_numpy()
    return [np.nonzero(mod == "image")[0], np.nonzero(mod == "text")[0]]


def hover_texts(df: Any, image_ids: Any = None, values: np.ndarray | None = None, colour: str = "modality",
                max_chars: int = 90) -> list[str]:
    """One hover label per frame row: an image's id and file with its first caption, or a caption and
    the image it describes; plus the colour field's value (numbers to two decimals)."""
    text = df["text"].astype(str).to_numpy()
    mod = df["modality"].to_numpy()
    img_row = df["image_row"].to_numpy()
    first_caption: dict[int, str] = {}
    for t, m, r in zip(text, mod, img_row):
        if m == "text" and int(r) not in first_caption:
            first_caption[int(r)] = t
    out = []
    for i, (t, m, r) in enumerate(zip(text, mod, img_row)):
        ident = str(image_ids[r]) if image_ids is not None else f"#{r}"
        if m == "image":  # dataset text is escaped: Plotly reads <a>, <b>, <img>-like tags in labels
            cap = first_caption.get(int(r), "")
            name = f"<b>image {html_text(ident)}</b>" + ("" if ident == t else f" ({html_text(t)})")
            label = f"{name}<br>{html_text(_short(cap, max_chars))}"
        else:
            label = f"{html_text(_short(t, max_chars))}<br><i>caption of image {html_text(ident)}</i>"
        if values is not None and colour != "modality":
            v = values[i]
            shown = "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else (
                f"{v:.2f}" if isinstance(v, (float, np.floating)) else str(v))
            label += f"<br>{colour}: {html_text(shown)}"
        out.append(label)
    return out


def _short(t: str, n: int) -> str:
    return t if len(t) <= n else t[: n - 1] + "…"


def map_figure(df: Any, colour: str = "modality", values: np.ndarray | None = None, hover: list[str] | None = None,
               selected: set[int] | frozenset[int] = frozenset(), height: int = 640) -> go.Figure:
    """The map: every point of ``df`` (``Explorer.map_frame()``) in two ``Scattergl`` traces.

    ``values`` (one per frame row) colour the points for any ``colour`` but "modality": numbers on a
    colour scale for the continuous fields (a modality whose values are all NaN, i.e. the field does not
    apply to it, is grey; a stray NaN among numbers takes the scale's low end), a fixed palette with a
    legend for categories.
    ``selected`` frame rows stay opaque, the rest fade. Raises ``ValueError`` for an unknown colour or
    a ``values`` array of the wrong length.
    """
    if colour not in COLOUR_OPTIONS:
        raise ValueError(f"unknown colour {colour!r}; choose one of {COLOUR_OPTIONS}")
    if colour != "modality":
        if values is None or len(values) != len(df):
            raise ValueError(f"colour {colour!r} needs one value per map point ({len(df)})")
        values = np.asarray(values)
    rows_of = trace_rows(df)
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    hover = hover if hover is not None else df["text"].astype(str).tolist()
    fig = go.Figure()
    categories: list[str] = []
    if colour in CONTINUOUS and values is not None:
        finite = values[np.isfinite(values.astype(float))].astype(float)
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for cn, (rows, name, base, symbol, size) in enumerate(((rows_of[0], "images", IMAGE_COLOUR, "square", 7),
                                                            (rows_of[1], "captions", TEXT_COLOUR, "circle", 5))):
        marker: dict[str, Any] = dict(size=size, symbol=symbol, opacity=0.85)
        if colour == "modality":
            marker["color"] = base
        elif colour in CONTINUOUS:
            v = values[rows].astype(float)
            if v.size and np.isfinite(v).any():
                marker.update(color=np.where(np.isfinite(v), v, lo), colorscale=CONTINUOUS[colour], cmin=lo, cmax=hi,
                              showscale=cn == 0 or not np.isfinite(values[rows_of[0]].astype(float)).any(),
                              colorbar=dict(title=colour, thickness=12))
            else:
                marker["color"] = NO_VALUE  # the field does not apply to this modality
        else:
            v = values[rows].astype(str)
            for c in dict.fromkeys(v.tolist()):
                if c not in categories:
                    categories.append(c)
            marker["color"] = [_category_colour(c, categories) for c in v]
        hov = [hover[int(r)] for r in rows]
        tr = go.Scattergl(x=x[rows], y=y[rows], mode="markers", name=name, customdata=rows, hovertext=hov,
                          hovertemplate="%{hovertext}<extra></extra>", marker=marker)
        if selected:
            tr.selectedpoints = [i for i, r in enumerate(rows) if int(r) in selected]
            tr.unselected = dict(marker=dict(opacity=0.12))
        fig.add_trace(tr)
    for c in categories:  # legend-only entries after curves 0 and 1, so selections still map to them
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", name=f"{colour}: {c}", hoverinfo="skip",
                                   marker=dict(color=_category_colour(c, categories), size=9)))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                      legend=dict(orientation="h", y=1.04), xaxis=dict(showticklabels=False, title=None),
                      yaxis=dict(showticklabels=False, title=None), hoverlabel=dict(align="left"))
    return fig


def _category_colour(c: str, categories: list[str]) -> str:
    return PALETTE.get(c) or _CYCLE[categories.index(c) % len(_CYCLE)]


# ---- hover thumbnails ------------------------------------------------------------------------------
# plotly's hover label is text only, so a tiny script (in a zero-height components.html iframe, which is
# same-origin with the app) finds the map's plotly div in the page and shows the hovered image's
# thumbnail beside the cursor. It re-attaches when Streamlit re-creates the chart.
_HOVER_JS = """<script>
const THUMBS = __THUMBS__;
const doc = window.parent.document;
function tip() {
  let t = doc.getElementById('xmr-hover-thumb');
  if (!t) {
    t = doc.createElement('img'); t.id = 'xmr-hover-thumb'; t.alt = 'hovered image';
    Object.assign(t.style, {position: 'fixed', zIndex: 100000, pointerEvents: 'none', display: 'none',
      border: '2px solid #d62728', background: '#fff', borderRadius: '4px', maxWidth: '128px',
      boxShadow: '0 2px 8px rgba(0,0,0,.3)'});
    doc.body.appendChild(t);
  }
  return t;
}
let mouse = [0, 0];
doc.addEventListener('mousemove', e => { mouse = [e.clientX, e.clientY]; }, true);
function attach() {
  for (const gd of doc.querySelectorAll('.js-plotly-plot')) {
    if (!gd.on || gd.__xmrThumbs || !(gd._fullData || []).some(t => t.name === 'images')) continue;
    gd.__xmrThumbs = true;
    gd.on('plotly_hover', ev => {
      const p = ev.points && ev.points[0], t = tip();
      const row = p && (p.customdata !== undefined ? p.customdata : p.pointNumber);
      const src = p && p.data && p.data.name === 'images' ? THUMBS[row] : null;
      if (!src) { t.style.display = 'none'; return; }
      t.src = src; t.style.display = 'block';
      const x = mouse[0] + 18, y = mouse[1] + 18;
      t.style.left = Math.min(x, doc.documentElement.clientWidth - 140) + 'px';
      t.style.top = Math.min(y, doc.documentElement.clientHeight - 140) + 'px';
    });
    gd.on('plotly_unhover', () => { tip().style.display = 'none'; });
  }
}
attach();
setInterval(attach, 700);
</script>"""


def hover_thumbnail_html(thumbs: dict[int, str]) -> str:
    """The script that shows ``thumbs`` (frame row of an image point -> ``data:`` URI) on hover."""
    import json

    return _HOVER_JS.replace("__THUMBS__", json.dumps({str(int(k)): v for k, v in thumbs.items()}))
