"""Query: upload an image -> top-K sentences; type a sentence -> its encoding + top-K images."""
from __future__ import annotations

import streamlit as st

from pages._shared import explorer, image_hits, through_app
from xmr_core.app_support import UPLOAD_TYPES, annotate_encoding, handle_image_query, handle_text_query

through_app()


def send_to_map(ex, result, label: str) -> None:
    st.session_state["xmr_map_query"] = {"vector": result.vector, "label": label, "kind": result.kind,
                                         "run": str(ex.run.path), "split": ex.split}


ex = explorer()
st.title("Query")
st.caption(f"Search the {ex.n_images:,} images / {ex.n_captions:,} captions of {ex.emb.dataset}/{ex.split} "
           f"with run `{ex.run.name}`.")
k = st.radio("K (results)", [1, 5, 10], index=1, horizontal=True, key="q_k")
tab_img, tab_txt = st.tabs(["Image → sentences", "Sentence → images"])

# ---- image query -------------------------------------------------------------------------------
with tab_img:
    up = st.file_uploader("Upload an image (jpg, png, webp)", type=UPLOAD_TYPES, key="q_upload")
    if up is not None:
        res, err = handle_image_query(ex, up.getvalue(), name=up.name, k=k)
        if err:
            st.error(f"Cannot use this file: {err}")
        else:
            left, right = st.columns([1, 2])
            with left:
                st.image(res.image, caption=up.name, width=280)
                st.caption(f"library time {res.seconds * 1000:.0f} ms")
                if st.button("Show this query on the map", key="q_img_map"):
                    send_to_map(ex, res, f"image: {up.name}")
                    st.switch_page("pages/embedding_map.py")
            with right:
                st.markdown(f"**Top {k} sentences**")
                for hit in res.results:
                    st.markdown(f"{hit['rank']}. {hit['text']}  \n:gray[distance {hit['distance']:.3f} · "
                                f"caption of image #{hit['image_row']}]")

# ---- text query ---------------------------------------------------------------------------------
with tab_txt:
    sentence = st.text_input("Type a sentence", value="", key="q_sentence",
                             placeholder="e.g. a dog runs on the grass")
    if sentence:
        res, err = handle_text_query(ex, sentence, k=k)
        if err:
            st.error(f"Cannot search with this sentence: {err}")
        else:
            for note in res.notes:
                st.warning(note)
            left, right = st.columns([1, 2])
            with left:
                st.image(annotate_encoding(res.encoded, res.layout, crop=True, gap=ex.run.encoder.cfg.gap, width=420),
                         caption="its encoded-text image (painted part, enlarged)")
                st.caption(f"library time {res.seconds * 1000:.0f} ms")
                if st.button("Show this query on the map", key="q_txt_map"):
                    send_to_map(ex, res, f"query: {sentence}")
                    st.switch_page("pages/embedding_map.py")
            with right:
                st.markdown(f"**Top {k} images**")
                image_hits(ex, res.results)
    else:
        st.info("Type a sentence to search the images.")
