"""The Overview's calibration chart: both relevance distributions the "related" threshold was read from.

``calibration_figure`` is plain plotly (tested without Streamlit); ``show_calibration`` lays it out.
"""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

POSITIVES = "same image (another of its captions)"
NEGATIVES = "random other image"


def calibration_figure(cal: dict[str, Any]) -> go.Figure:
    """Overlaid histograms (share of pairs per bin) of positives and negatives, the threshold marked."""
    h = cal["histogram"]
    edges = [float(e) for e in h["edges"]]
    if len(edges) < 2 or len(h["positives"]) != len(edges) - 1 or len(h["negatives"]) != len(edges) - 1:
        raise ValueError("calibration histogram: counts must have one entry fewer than the edges")
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    fig = go.Figure()
    for name, key, colour in ((POSITIVES, "positives", "#2a9d8f"), (NEGATIVES, "negatives", "#e76f51")):
        counts = [float(c) for c in h[key]]
        total = sum(counts) or 1.0
        fig.add_trace(go.Bar(x=centres, y=[c / total for c in counts], width=width, name=name,
                             marker_color=colour, opacity=0.6))
    t = float(cal["threshold"])
    fig.add_vline(x=t, line_color="black", annotation_text=f"calibrated {t:.2f}", annotation_position="top left")
    default = cal.get("default_threshold")
    if isinstance(default, (int, float)):
        fig.add_vline(x=float(default), line_dash="dash", line_color="grey",
                      annotation_text=f"default {default:.2f}", annotation_position="top right")
    fig.update_layout(barmode="overlay", height=300, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h"), xaxis_title=f"relevance ({cal.get('relevance', '?')})",
                      yaxis_title="share of pairs")
    return fig


def calibration_caption(cal: dict[str, Any]) -> str:
    src = cal.get("source") or {}
    err = cal.get("errors") or {}
    derr = cal.get("default_errors") or {}
    text = (f"\"Related\" threshold **{float(cal['threshold']):.2f}**, read from {src.get('dataset')}/"
            f"{src.get('split')}'s own captions ({cal.get('n_positives')} caption vs the centroid of its image's "
            f"other captions; {cal.get('n_negatives')} caption vs a random other image's centroid) at the equal "
            f"error rate: {100 * float(err.get('positives_unrelated', 0)):.1f} % of same-image captions fall "
            f"below it, {100 * float(err.get('negatives_related', 0)):.1f} % of random images above.")
    if derr:
        text += (f" The uncalibrated default {cal.get('default_threshold')} would call "
                 f"{100 * float(derr.get('positives_unrelated', 0)):.1f} % of same-image captions unrelated and "
                 f"{100 * float(derr.get('negatives_related', 0)):.1f} % of random images related.")
    return text


def show_calibration(cal: dict[str, Any]) -> None:
    import streamlit as st

    st.markdown("**Where \"related\" starts**")
    st.caption(calibration_caption(cal))
    st.plotly_chart(calibration_figure(cal), key="relevance_calibration")
