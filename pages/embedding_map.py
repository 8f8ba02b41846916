"""Embedding map: the split's t-SNE (images red, text blue, as the paper's Fig. 3), drawn whole with WebGL;
colour by any field, hover labels, a neighbour panel for a selected point, selections out as CSV."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages._large_map import LARGE_MAP, large_map, large_map_payload
from pages._map import COLOUR_OPTIONS, hover_texts, hover_thumbnail_html, map_figure, trace_rows
from pages._shared import (MAX_HOVER_THUMBS, caption_hits, explorer, hover_thumbs, image_hits, map_frame,
                           search_button, show_error, thumbnail, through_app)
from xmr_core.facade.app_support import (IMAGE_COLOUR, md_text, SELECTION_COLUMNS, contains_word, handle_text_query, selection_rows,
                                  to_csv)

through_app()

ex = explorer()
st.title("Embedding map")
df = map_frame(ex)
rows_of = trace_rows(df)  # curve 0 = images, curve 1 = captions (global df rows)
large = len(df) > LARGE_MAP  # a whole dataset: a canvas map, hover "image #N", text on click (pages/_large_map.py)
what = f"t-SNE of the {ex.n_images:,} images and {ex.n_captions:,} encoded captions of {ex.dataset_name}/{ex.split}"
if large:
    st.caption(f"{what} in one map: all {len(df):,} points, drawn in a canvas over a density layer where points "
               "pile up. Hover shows a point's number; click a point, or lasso / box points, for their text, images "
               "and neighbours; the wheel zooms, *Pan* moves the map; a double-click or *Clear selection* resets.")
else:
    st.caption(f"{what} in one map, every point drawn (WebGL). Hover a point for its caption or image; click one for "
               "its neighbours; box- or lasso-select to list and download points; double-click the chart or press "
               "*Clear selection* to reset.")

# ---- controls -------------------------------------------------------------------------------
c1, c2, c3 = st.columns([1.2, 1.5, 1.5])
colour_by = c1.selectbox("Colour by", COLOUR_OPTIONS, key="map_colour",
                         help="R@K hit / miss: whether that item's own query (image->text for an image, text->image "
                              "for a caption) finds its pair in the top K. Caption length and OOV count apply to "
                              "captions only (images grey).")
needs_text = colour_by in ("contains word", "relevance to a query")
word = c2.text_input("Word or sentence (for *contains word* / *relevance to a query*)", value="", key="map_word",
                     disabled=not needs_text, placeholder="e.g. red circle")
hit_k = c2.radio("K (for R@K hit / miss)", [1, 5, 10], index=2, horizontal=True, key="map_hit_k",
                 disabled=colour_by != "R@K hit / miss")
if large:  # tens of thousands of options would outweigh the map itself
    pick = c3.number_input("Draw lines from image # to its own captions (-1: none)", -1, ex.n_images - 1, -1,
                           key="map_pick")
else:
    pick = c3.selectbox("Draw lines from an image to its own captions", [-1] + list(range(ex.n_images)),
                        key="map_pick", format_func=lambda r: "(none)" if r < 0 else f"#{r} {df['text'].iloc[int(r)]}")
q1, q2 = st.columns([3, 1])
typed = q1.text_input("Place a sentence on the map", value="", key="map_sentence", disabled=not ex.can_encode,
                      placeholder="e.g. a red car on a street" if ex.can_encode else "this run has no text encoder")
if not ex.can_encode:  # imported vectors: a new sentence has no place in their space
    from xmr_core.bundle.kinds import no_encoder

    q1.caption(no_encoder(ex.run_name, "sentence"))

# ---- the colour field --------------------------------------------------------------------------
values = None
try:
    if colour_by == "image id":
        values = df["image_row"].to_numpy().astype(float)
    elif colour_by == "split":
        values = np.full(len(df), ex.split, dtype=object)
    elif colour_by == "R@K hit / miss":
        values = np.where(ex.recall_hits(int(hit_k)), "hit", "miss")
        st.caption(f"hit: {int((values[:ex.n_images] == 'hit').sum())} of {ex.n_images} images (image->text R@{hit_k}), "
                   f"{int((values[ex.n_images:] == 'hit').sum())} of {ex.n_captions} captions (text->image).")
    elif colour_by == "relevance to a query":
        if word.strip():
            values = ex.relevance_to(word)
        else:
            st.info("Type a word or sentence to colour each point by its relevance to it.")
    elif colour_by in ("caption length", "OOV count"):
        values = ex.caption_stats()["words" if colour_by == "caption length" else "oov"]
    elif colour_by == "contains word":
        values = np.where(contains_word(df["text"].to_numpy(), word), "yes", "no")
except Exception as e:  # noqa: BLE001 - a bad query must not lose the map
    show_error(e, f"cannot colour by {colour_by}")
    values = None
shown_colour = colour_by if values is not None else "modality"

# ---- the query marker: typed here, or sent from the Query page -------------------------------
marker = None
if typed.strip() and ex.can_encode:
    res, err = handle_text_query(ex, typed, k=5)
    if err:
        st.error(f"cannot place this sentence: {err}")
    else:
        marker = {"vector": res.vector, "label": f"query: {typed}", "kind": "text"}
elif st.session_state.get("xmr_map_query"):
    q = st.session_state["xmr_map_query"]
    if q.get("run") == ex.run_path and q.get("split") == ex.split:
        marker = q
        if q2.button("Remove query marker", key="map_forget_query"):
            st.session_state.pop("xmr_map_query", None)
            marker = None
marker_xy = None
if marker is not None:
    cache = st.session_state.setdefault("xmr_map_placed", {})
    ck = (ex.run_path, ex.split, marker["label"])
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
        if cn in (0, 1) and pi is not None and pi < len(rows_of[cn]):
            sel.append(int(rows_of[cn][pi]))
    if sel:
        st.session_state["xmr_map_sel"] = {"key": (ex.run_path, ex.split), "rows": sorted(set(sel))}
stored = st.session_state.get("xmr_map_sel")
selected = stored["rows"] if stored and stored["key"] == (ex.run_path, ex.split) else []
if selected and st.button("Clear selection", key="map_clear"):
    st.session_state.pop("xmr_map_sel", None)
    selected = []

# ---- the figure -------------------------------------------------------------------------------
pick_row = int(pick) if pick is not None and int(pick) >= 0 else None
lines = []
if pick_row is not None:  # the picked image joined to each of its own captions
    ix, iy = df.iloc[pick_row][["x", "y"]]
    for c in ex.captions_of(pick_row):
        cx, cy = df.iloc[ex.n_images + c][["x", "y"]]
        lines.append((float(ix), float(iy), float(cx), float(cy)))
if large:
    payload = large_map_payload(df, shown_colour, values, selected=set(selected), lines=lines, highlight=pick_row,
                                marker=None if marker_xy is None else {"x": marker_xy[0], "y": marker_xy[1],
                                                                       "label": marker["label"]})
    chosen = large_map(payload, key="map_canvas")
    if chosen is not None and sorted(set(chosen)) != selected:  # a click, box or lasso (or a double-click: none)
        if chosen:
            st.session_state["xmr_map_sel"] = {"key": (ex.run_path, ex.split), "rows": sorted(set(chosen))}
        else:
            st.session_state.pop("xmr_map_sel", None)
        st.rerun()
else:
    fig = map_figure(df, shown_colour, values, hover=hover_texts(df, ex.image_ids, values, shown_colour),
                     selected=set(selected))
    if pick_row is not None:
        fig.add_trace(go.Scatter(x=[v for a, b, c, d in lines for v in (a, c, None)],
                                 y=[v for a, b, c, d in lines for v in (b, d, None)], mode="lines",
                                 name=f"image #{pick_row} -> its captions", line=dict(color="black", width=1.5),
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[df["x"].iloc[pick_row]], y=[df["y"].iloc[pick_row]], mode="markers",
                                 name=f"image #{pick_row}", hoverinfo="skip",
                                 marker=dict(color=IMAGE_COLOUR, size=14, symbol="square-open", line=dict(width=3))))
    if marker_xy is not None:
        fig.add_trace(go.Scatter(x=[marker_xy[0]], y=[marker_xy[1]], mode="markers+text", name="your query",
                                 text=[marker["label"][:40]], textposition="top center", hovertext=[marker["label"]],
                                 hoverinfo="text", marker=dict(color="gold", size=20, symbol="star",
                                                               line=dict(color="black", width=1.5))))
    st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("box", "lasso", "points"))
try:  # image thumbnails on hover (plotly's own hover label is text only); a large map shows them on click
    import streamlit.components.v1 as components

    if not large:
        components.html(hover_thumbnail_html(hover_thumbs(ex)), height=0)
    if ex.n_images > MAX_HOVER_THUMBS and not large:
        st.caption(f"Hover thumbnails for the first {MAX_HOVER_THUMBS:,} images; the others hover their file name "
                   "and first caption (select them for thumbnails).")
except Exception as e:  # noqa: BLE001 - the map works without thumbnails
    show_error(e, "hover thumbnails")


def item_of(row: int) -> tuple[str, int]:
    """(kind, row within its modality) of a map row."""
    return ("image", row) if row < ex.n_images else ("caption", row - ex.n_images)


# ---- what is selected --------------------------------------------------------------------------
if selected:
    sel_imgs = [r for r in selected if r < ex.n_images]
    sel_caps = [r - ex.n_images for r in selected if r >= ex.n_images]
    h1, h2 = st.columns([3, 1])
    h1.subheader(f"Selected: {len(sel_imgs)} image(s), {len(sel_caps)} caption(s)")
    h2.download_button("Download the selection (CSV)", key="map_sel_csv", mime="text/csv",
                       file_name=f"map-selection-{ex.dataset_name}-{ex.split}.csv", icon=":material/download:",
                       data=to_csv(selection_rows(df, selected, ex.split, ex.image_ids), SELECTION_COLUMNS),
                       on_click="ignore", help="every selected point: kind, image id, image file, caption, x, y, split")

    # the neighbour panel: one selected point, its nearest items of each modality
    focus_opts = selected[:500]
    focus = st.selectbox("Neighbours of", focus_opts, key="map_focus",
                         format_func=lambda r: (f"image {ex.image_id(r)}" if r < ex.n_images else
                                                f"caption #{r - ex.n_images}: {ex.caption_text(r - ex.n_images)[:70]}"))
    kind, row = item_of(int(focus))
    with st.container(border=True):
        n1, n2 = st.columns([1, 3])
        with n1:
            if kind == "image":
                thumbnail(ex, row, caption=f"image {md_text(ex.image_id(row))}")
            else:
                st.markdown(f"> {md_text(ex.caption_text(row))}")
                st.caption(f"caption of image {md_text(ex.image_id(ex.image_of(row)))}")
            search_button(ex, kind, row, key=f"map_focus_search_{kind}{row}")
        with n2:
            nb = ex.neighbours(kind, row, k=5)
            st.markdown("**Nearest images**")
            image_hits(ex, nb["images"], key="map_nb")
            st.markdown("**Nearest captions**")
            caption_hits(ex, nb["captions"], key="map_nb")

    if sel_imgs:
        shown = sel_imgs[:24]
        cols = st.columns(8)
        for i, r in enumerate(shown):
            with cols[i % 8]:
                thumbnail(ex, r, caption=f"#{r}")
                search_button(ex, "image", r, key=f"map_sel_img{r}")
        if len(sel_imgs) > len(shown):
            st.caption(f"... and {len(sel_imgs) - len(shown)} more images (all of them in the CSV)")
    for c in sel_caps[:50]:
        a, b = st.columns([6, 1])
        a.markdown(f"`#{c}` (image #{ex.image_of(c)}) {md_text(ex.caption_text(c))}")
        with b:
            search_button(ex, "caption", c, key=f"map_sel_cap{c}")
    if len(sel_caps) > 50:
        st.caption(f"... and {len(sel_caps) - 50} more captions (all of them in the CSV)")
else:
    st.caption("Nothing selected yet.")
