"""The Query page's composed query: the term rows, and its results (in the tab or from the trail).

Not a page. Layout only: the query itself is ``Explorer.query`` (``xmr_core/facade/composed.py``).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from pages._shared import caption_hits, download_results, image_hits
from xmr_core.facade.app_selection import composed_step
from xmr_core.facade.app_support import UPLOAD_TYPES, md_text
from xmr_core.facade.composed import Term, describe_terms, handle_composed_query, has_encoder, item_preview

MAX_TERMS = 6
KIND_NAMES = {"image": "Uploaded image", "item": "Gallery item", "sentence": "Sentence"}


def _term_row(ex, i: int, kinds: list[str]) -> Term | None:
    """One term's widgets: its kind, its value, its weight; the ``Term`` once a value is given."""
    c1, c2, c3 = st.columns([1.3, 3, 1])
    default = kinds.index("image") if i == 0 and "image" in kinds else len(kinds) - 1
    kind = c1.selectbox(f"Term {i + 1}", kinds, index=default, format_func=KIND_NAMES.get, key=f"cq_kind{i}")
    weight = c3.number_input("Weight", min_value=-10.0, max_value=10.0, value=1.0, step=0.5, key=f"cq_w{i}",
                             help="negative subtracts this term")
    with c2:
        if kind == "sentence":
            text = st.text_input("Sentence", key=f"cq_text{i}", placeholder="e.g. on snow")
            return Term("sentence", text, weight) if text.strip() else None
        if kind == "item":
            item = st.text_input("Gallery item id", key=f"cq_item{i}",
                                 placeholder=f"e.g. {ex.image_id(0)} or caption:{ex.emb.caption_ids[0]}")
            if not item.strip():
                return None
            seen = item_preview(ex, item)
            if seen:
                st.caption(md_text(seen))
            return Term("item", item.strip(), weight)
        up = st.file_uploader("Image (jpg, png, webp)", type=UPLOAD_TYPES, key=f"cq_up{i}")
        return Term("image", up.getvalue(), weight, name=up.name) if up is not None else None


def composed_tab(ex, k: int) -> None:
    """The composed-query builder and, once a term has a value, its results."""
    st.caption("Add terms (an uploaded image, a gallery item, a sentence), each with a weight; a negative weight "
               "subtracts. The query is the weighted sum of the terms' unit embeddings, re-normalised.")
    kinds = list(KIND_NAMES) if has_encoder(ex) else ["item"]
    if len(kinds) == 1:
        st.info(f"Run `{ex.run_name}` has no encoder (its vectors were imported), so uploaded images and typed "
                "sentences cannot be embedded: terms are gallery items of the split.")
    c1, c2 = st.columns(2)
    n = c1.number_input("Terms", min_value=1, max_value=MAX_TERMS, value=2, step=1, key="cq_n")
    target = c2.radio("Search", ["images", "sentences"], horizontal=True, key="cq_target")
    terms = [t for t in (_term_row(ex, i, kinds) for i in range(int(n))) if t is not None]
    if not terms:
        st.info("Give at least one term a value to search.")
        return
    show_composed(ex, terms, target, k, key="cq", parent=composed_step(terms, target, ex.run_path, ex.split))


def show_composed(ex, terms: list[Term] | tuple[Term, ...], target: str, k: int, key: str,
                  parent: dict[str, Any] | None = None) -> None:
    """A composed query's results: its terms, notes, map button, hits (click to search) and CSV."""
    res, err = handle_composed_query(ex, terms, target, k)
    if err:
        st.error(f"Cannot search with these terms: {err}")
        return
    label = describe_terms(res.terms)
    for note in res.notes:
        st.warning(note)
    st.markdown(f"**Top {k} {target} for** {md_text(label)}")
    st.caption(f"library time {res.seconds * 1000:.0f} ms")
    if st.button("Show this query on the map", key=f"{key}_map"):
        st.session_state["xmr_map_query"] = {"vector": res.vector, "label": f"composed: {label}", "kind": "composed",
                                             "run": ex.run_path, "split": ex.split}
        st.switch_page("pages/embedding_map.py")
    if target == "images":
        image_hits(ex, res.results, key=key, parent=parent)
    else:
        caption_hits(ex, res.results, key=key, parent=parent)
    download_results(ex, res.results, label, key=f"{key}_csv")


def composed_label(step: dict[str, Any]) -> str:
    """A composed trail step's name in the breadcrumb: its terms."""
    return f"composed ({md_text(describe_terms(step['terms']))})"
