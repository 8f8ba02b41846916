"""Retrieval (the paper's Table 3): a test image beside its top-K sentences, and the reverse."""
from __future__ import annotations

import random

import streamlit as st

from pages._shared import caption_hits, download_results, explorer, image_hits, thumbnail, through_app
from xmr_core.facade.app_support import md_text

through_app()

ex = explorer()
st.title("Retrieval, as in the paper's Table 3")
st.caption("Each result is marked ✓ ground truth, *related* (semantic relevance to the query's own captions at or "
           f"above {ex.threshold:.2f}, with its score) or *unrelated*.")

c1, c2 = st.columns([1, 2])
k = c1.radio("K", [1, 5, 10], index=1, horizontal=True, key="ret_k")
only_failed = c2.toggle("only queries where R@K failed but the results are semantically related", value=False,
                        key="ret_failed")

tab_i2t, tab_t2i = st.tabs(["Image → sentences", "Sentence → images"])

# ---- image -> text ---------------------------------------------------------------------------
with tab_i2t:
    options = list(range(ex.n_images))
    if only_failed:
        options = [int(q) for q in ex.failed_but_related("i2t", k)]
        st.caption(f"{len(options)} of {ex.n_images} query images miss every ground-truth caption in the top {k} "
                   "but hold a related one.")
    if not options:
        st.info("No such query image at this K.")
    else:
        if st.button("Random image", key="ret_rand_img"):
            st.session_state["ret_img"] = random.choice(options)
        if st.session_state.get("ret_img") not in options:
            st.session_state["ret_img"] = options[0]
        row = st.selectbox("Query image", options, key="ret_img",
                           format_func=lambda r: f"#{r} {ex.image_id(r)}")
        left, right = st.columns([1, 2])
        with left:
            thumbnail(ex, int(row), caption=f"image {md_text(ex.image_id(row))}")
            with st.expander("its own captions (ground truth)"):
                for c in ex.captions_of(int(row)):
                    st.markdown(f"- {md_text(ex.caption_text(c))}")
        with right:
            st.markdown(f"**Top {k} retrieved sentences**")
            hits = ex.image_to_text(int(row), k)
            caption_hits(ex, hits, key="ret_i2t")
            download_results(ex, hits, f"image {ex.image_id(int(row))}", key="ret_i2t_csv")

# ---- text -> image ---------------------------------------------------------------------------
with tab_t2i:
    options = list(range(ex.n_captions))
    if only_failed:
        options = [int(q) for q in ex.failed_but_related("t2i", k)]
        st.caption(f"{len(options)} of {ex.n_captions} query captions miss their image in the top {k} "
                   "but hold a related one.")
    if not options:
        st.info("No such query caption at this K.")
    else:
        if st.button("Random sentence", key="ret_rand_cap"):
            st.session_state["ret_cap"] = random.choice(options)
        if st.session_state.get("ret_cap") not in options:
            st.session_state["ret_cap"] = options[0]
        crow = st.selectbox("Query sentence", options, key="ret_cap",
                            format_func=lambda r: f"#{r} {ex.caption_text(r)[:90]}")
        st.markdown(f"> {md_text(ex.caption_text(int(crow)))}")
        true_img = ex.image_of(crow)
        hits = ex.text_to_image(int(crow), k)
        image_hits(ex, hits, key="ret_t2i")
        download_results(ex, hits, ex.caption_text(int(crow)), key="ret_t2i_csv")
        if true_img not in [h["image_row"] for h in hits]:
            st.markdown(f"**The true image** (#{true_img}) is not in the top {k}:")
            thumbnail(ex, true_img, caption=f"true image {md_text(ex.image_id(true_img))}", width=180)
