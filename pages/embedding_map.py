"""Embedding map: the split's t-SNE (images red, text blue, as the paper's Fig. 3), with selection and queries."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._shared import explorer, map_frame, show_error, thumbnail, through_app
from xmr_core.app_support import IMAGE_COLOUR, TEXT_COLOUR, contains_word, handle_text_query

through_app()

ex = explorer()
st.title("Embedding map")
st.caption(f"t-SNE of the {ex.n_images:,} images and {ex.n_captions:,} encoded captions of "
           f"{ex.emb.dataset}/{ex.split} in one map. Box- or lasso-select points to list them; "
           "double-click a point set in the chart or press *Clear selection* to reset.")
df = map_frame(ex)
img_idx = np.nonzero((df["modality"] == "image").to_numpy())[0]
txt_idx = np.nonzero((df["modality"] == "text").to_numpy())[0]
trace_rows = [img_idx, txt_idx]  # curve 0 = images, curve 1 = captions (global df rows)

# ---- controls -------------------------------------------------------------------------------
c1, c2, c3 = st.columns([1.2, 1.5, 1.5])
colour_by = c1.radio("Colour by", ["modality", "image id", "contains word"], key="map_colour")
word = c2.text_input("Word (for *contains word*)", value="dog", key="map_word",
                     disabled=colour_by != "contains word")
pick_opts = [-1] + list(range(ex.n_images))
pick = c3.selectbox("Draw lines from an image to its own captions", pick_opts, key="map_pick",
                    format_func=lambda r: "(none)" if r < 0 else f"#{r} {df['text'].iloc[int(r)]}")
q1, q2 = st.columns([3, 1])
typed = q1.text_input("Place a sentence on the map", value="", key="map_sentence",
                      placeholder="e.g. a red car on a street")

# ---- the query marker: typed here, or sent from the Query page -------------------------------
marker = None
if typed.strip():
    res, err = handle_text_query(ex, typed, k=5)
    if err:
        st.error(f"cannot place this sentence: {err}")
    else:
        marker = {"vector": res.vector, "label": f"query: {typed}", "kind": "text"}
elif st.session_state.get("xmr_map_query"):
    q = st.session_state["xmr_map_query"]
    if q.get("run") == str(ex.run.path) and q.get("split") == ex.split:
        marker = q
        if q2.button("Remove query marker", key="map_forget_query"):
            st.session_state.pop("xmr_map_query", None)
            marker = None
marker_xy = None
if marker is not None:
    cache = st.session_state.setdefault("xmr_map_placed", {})
    ck = (str(ex.run.path), ex.split, marker["label"])
    try:
        if ck not in cache:
            with st.spinner("placing the query on the map..."):
                cache[ck] = np.asarray(ex.place(np.asarray(marker["vector"], np.float32)))[0]
        marker_xy = cache[ck]
    except Exception as e:  # noqa: BLE001
        show_error(e, "cannot place the query on the map")

# ---- selection (kept across reruns; the chart itself is re-created when its figure changes) ----
ev = st.session_state.get("map_chart")
points = []
try:
    points = list(ev["selection"]["points"]) if ev else []
except (KeyError, TypeError):
    points = []
if points:
    sel = []
    for p in points:
        cn, pi = p.get("curve_number"), p.get("point_index", p.get("point_number"))
        if cn in (0, 1) and pi is not None and pi < len(trace_rows[cn]):
            sel.append(int(trace_rows[cn][pi]))
    if sel:
        st.session_state["xmr_map_sel"] = {"key": (str(ex.run.path), ex.split), "rows": sorted(set(sel))}
stored = st.session_state.get("xmr_map_sel")
selected = stored["rows"] if stored and stored["key"] == (str(ex.run.path), ex.split) else []
if selected and st.button("Clear selection", key="map_clear"):
    st.session_state.pop("xmr_map_sel", None)
    selected = []
sel_set = set(selected)

# ---- the figure -------------------------------------------------------------------------------
highlight = contains_word(df["text"].to_numpy(), word) if colour_by == "contains word" else None
fig = go.Figure()
for cn, (rows, name, colour, symbol) in enumerate(((img_idx, "images", IMAGE_COLOUR, "square"),
                                                    (txt_idx, "text", TEXT_COLOUR, "circle"))):
    sub = df.iloc[rows]
    if colour_by == "image id":
        mcolour, extra = sub["image_row"].to_numpy(), dict(colorscale="Turbo", showscale=cn == 0,
                                                            colorbar=dict(title="image"))
    elif colour_by == "contains word":
        mcolour = np.where(highlight[rows], "#2ca02c", "#c7c7c7").tolist()
        extra = {}
    else:
        mcolour, extra = colour, {}
    hover = [(t if len(t) <= 90 else t[:87] + "...") for t in sub["text"].astype(str)]
    tr = go.Scatter(x=sub["x"], y=sub["y"], mode="markers", name=name, customdata=rows, hovertext=hover,
                    hoverinfo="text", marker=dict(color=mcolour, size=7 if cn == 0 else 5, symbol=symbol,
                                                  opacity=0.85, **extra))
    if sel_set:
        tr.selectedpoints = [i for i, r in enumerate(rows) if int(r) in sel_set]
        tr.unselected = dict(marker=dict(opacity=0.12))
    fig.add_trace(tr)
if pick is not None and int(pick) >= 0:
    ir = int(pick)
    ix, iy = df.iloc[ir][["x", "y"]]
    xs, ys = [], []
    for c in ex.captions_of(ir):
        cx, cy = df.iloc[ex.n_images + c][["x", "y"]]
        xs += [ix, cx, None]
        ys += [iy, cy, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"image #{ir} -> its captions",
                             line=dict(color="black", width=1.5), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[ix], y=[iy], mode="markers", name=f"image #{ir}", hoverinfo="skip",
                             marker=dict(color=IMAGE_COLOUR, size=14, symbol="square-open", line=dict(width=3))))
if marker_xy is not None:
    fig.add_trace(go.Scatter(x=[marker_xy[0]], y=[marker_xy[1]], mode="markers+text", name="your query",
                             text=[marker["label"][:40]], textposition="top center", hovertext=[marker["label"]],
                             hoverinfo="text", marker=dict(color="gold", size=20, symbol="star",
                                                           line=dict(color="black", width=1.5))))
fig.update_layout(height=640, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                  legend=dict(orientation="h", y=1.04), xaxis=dict(showticklabels=False, title=None),
                  yaxis=dict(showticklabels=False, title=None))
st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("box", "lasso", "points"))

# ---- what is selected --------------------------------------------------------------------------
if selected:
    sel_imgs = [r for r in selected if r < ex.n_images]
    sel_caps = [r - ex.n_images for r in selected if r >= ex.n_images]
    st.subheader(f"Selected: {len(sel_imgs)} image(s), {len(sel_caps)} caption(s)")
    if sel_imgs:
        shown = sel_imgs[:24]
        cols = st.columns(8)
        for i, r in enumerate(shown):
            with cols[i % 8]:
                thumbnail(ex, r, caption=f"#{r}")
        if len(sel_imgs) > len(shown):
            st.caption(f"... and {len(sel_imgs) - len(shown)} more images")
    if sel_caps:
        st.markdown("\n".join(f"- `#{c}` (image #{int(ex.emb.caption_image[c])}) {ex.caption_text(c)}"
                              for c in sel_caps[:50]))
        if len(sel_caps) > 50:
            st.caption(f"... and {len(sel_caps) - 50} more captions")
else:
    st.caption("Nothing selected yet.")
