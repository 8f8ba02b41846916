"""Query: upload an image -> top-K sentences; type a sentence -> its encoding + top-K images;
compose weighted terms (images, gallery items, sentences) into one query;
or search from any item of the collection (click to search), with a trail to go back."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._composed import composed_label, composed_tab, show_composed
from pages._shared import (TRAIL, caption_hits, download_results, explorer, explorer_for, image_hits, show_error,
                           thumbnail, through_app)
from xmr_core.facade.app_support import (UPLOAD_TYPES, annotate_encoding, handle_image_query, handle_text_query, md_text,
                                  pop_step, run_scope)
from xmr_core.bundle.kinds import no_encoder
from xmr_core.facade.app_typed import length_note, regions_of, typed_examples, typed_headline
from xmr_core.text.tokenize import tokenize

through_app()


def send_to_map(ex, result, label: str) -> None:
    st.session_state["xmr_map_query"] = {"vector": result.vector, "label": label, "kind": result.kind,
                                         "run": ex.run_path, "split": ex.split}


def step_label(ex, step: dict) -> str:
    """A short name for a trail step (breadcrumb)."""
    if step["kind"] == "composed":
        return composed_label(step)
    if step["kind"] == "image":
        return f"image {md_text(ex.image_id(step['row']))}"
    text = ex.caption_text(step["row"])
    return f"“{md_text(text[:40])}{'…' if len(text) > 40 else ''}”"


ex = explorer()
st.title("Query")
st.caption(f"Search the {ex.n_images:,} images / {ex.n_captions:,} captions of {ex.dataset_name}/{ex.split} "
           f"with run `{ex.run_name}`.")

# ---- what this run knows (so an out-of-domain answer is not mistaken for a broken app) ---------
scope = run_scope(ex.run.config, ex.dataset_name, ex.split, ex.n_images, ex.n_captions)
st.info(f"**Trained on** {scope['trained_on']}.  \n**Gallery:** {scope['gallery']}."
        + (f"  \n{scope['advice']}" if scope["advice"] else ""), icon=":material/info:")

k = st.radio("K (results)", [1, 5, 10], index=1, horizontal=True, key="q_k")

# ---- search from the collection (click to search), with history --------------------------------
trail = st.session_state.get(TRAIL) or []
if trail:
    step = trail[-1]
    st.subheader("Search from the collection")
    try:
        tex = explorer_for(step["run"], step["split"])
        names = [step_label(tex, s) if (s["run"], s["split"]) == (step["run"], step["split"]) else s["kind"]
                 for s in trail]
        st.caption("Trail: " + " → ".join(names)
                   + (f" · run `{Path(step['run']).name}`, {step['split']} split" if step["run"] != ex.run_path
                      or step["split"] != ex.split else ""))
        b1, b2, _ = st.columns([1, 1, 4])
        if b1.button("Back", key="q_back", icon=":material/arrow_back:",
                     help="the previous query of the trail (the page you came from when it is the first)"):
            st.session_state[TRAIL] = pop_step(trail)
            origin = step.get("origin")
            if len(trail) == 1 and origin and origin != "pages/query.py":
                st.switch_page(origin)
            st.rerun()
        if b2.button("Clear trail", key="q_clear_trail", icon=":material/close:"):
            st.session_state[TRAIL] = []
            st.rerun()
        left, right = st.columns([1, 2])
        if step["kind"] == "composed":  # its terms, results and map button (pages/_composed.py)
            show_composed(tex, step["terms"], step["target"], k, key="q_trail")
        elif step["kind"] == "image":
            with left:
                thumbnail(tex, step["row"], caption=f"query: image {md_text(tex.image_id(step['row']))}")
            with right:
                hits = tex.image_to_text(step["row"], k)
                st.markdown(f"**Top {k} sentences for this image**")
                caption_hits(tex, hits, key="q_trail")
                download_results(tex, hits, f"image {tex.image_id(step['row'])}", key="q_trail_csv")
        else:
            text = tex.caption_text(step["row"])
            with left:
                st.markdown(f"**query: caption #{step['row']}**  \n> {md_text(text)}")
            with right:
                st.markdown(f"**Top {k} images for this sentence**")
            hits = tex.text_to_image(step["row"], k)
            image_hits(tex, hits, key="q_trail")
            download_results(tex, hits, text, key="q_trail_csv")
    except Exception as e:  # noqa: BLE001 - a stale step (run deleted, rows changed) must not break the page
        show_error(e, "cannot search from this item")
        if st.button("Clear trail", key="q_clear_bad_trail"):
            st.session_state[TRAIL] = []
            st.rerun()
    st.divider()

tab_img, tab_txt, tab_cmp = st.tabs(["Image → sentences", "Sentence → images", "Composed query"])

# ---- image query -------------------------------------------------------------------------------
with tab_img:
    if not ex.can_encode:  # imported vectors: no encoder for a new photo (bundle/kinds.py)
        st.info(no_encoder(ex.run_name, "image"), icon=":material/info:")
    up = st.file_uploader("Upload an image (jpg, png, webp)", type=UPLOAD_TYPES, key="q_upload",
                          disabled=not ex.can_encode)
    if up is not None:
        res, err = handle_image_query(ex, up.getvalue(), name=up.name, k=k)
        if err:
            st.error(f"Cannot use this file: {err}")
        else:
            left, right = st.columns([1, 2])
            with left:
                st.image(res.image, caption=md_text(up.name), width=280)
                st.caption(f"library time {res.seconds * 1000:.0f} ms")
                if st.button("Show this query on the map", key="q_img_map"):
                    send_to_map(ex, res, f"image: {up.name}")
                    st.switch_page("pages/embedding_map.py")
            with right:
                st.markdown(f"**Top {k} sentences**")
                if scope["synthetic"]:
                    st.caption("Only captions of the demo's shape scenes exist in this gallery (see above).")
                caption_hits(ex, res.results, key="q_img")
                download_results(ex, res.results, f"image: {up.name}", key="q_img_csv")

# ---- text query ---------------------------------------------------------------------------------
with tab_txt:
    m = ex.metrics()
    examples = typed_examples(m)
    if not ex.can_encode:
        st.info(no_encoder(ex.run_name, "sentence"), icon=":material/info:")
    sentence = st.text_input("Type a sentence", value="", key="q_sentence", disabled=not ex.can_encode,
                             placeholder=f"e.g. {examples[0]}" if examples else "e.g. a dog runs on the grass")
    headline = typed_headline(m)
    if headline:
        st.caption(headline)
    if examples:
        st.caption("Queries this run answers well: " + " · ".join(f"“{md_text(e)}”" for e in examples))
    if sentence:
        res, err = handle_text_query(ex, sentence, k=k)
        if err:
            st.error(f"Cannot search with this sentence: {err}")
        else:
            n_words = len(res.layout.tokens) if res.layout is not None else len(tokenize(sentence))
            # a run that matches short queries to windows says so in res.notes instead (docs/METHOD.md §7c)
            short = None if regions_of(ex.run) else length_note(n_words, ex.caption_stats()["words"])
            for note in res.notes + ([short] if short else []):
                st.warning(note)
            left, right = st.columns([1, 2])
            with left:
                if res.encoded is not None:  # a network run paints the sentence; the CCA reference does not
                    st.image(annotate_encoding(res.encoded, res.layout, crop=True, gap=ex.encoder.cfg.gap,
                                               width=420), caption="its encoded-text image (painted part, enlarged)")
                else:
                    st.caption("The CCA reference reads the sentence as the mean of its words' Word2Vec vectors.")
                st.caption(f"library time {res.seconds * 1000:.0f} ms")
                if st.button("Show this query on the map", key="q_txt_map"):
                    send_to_map(ex, res, f"query: {sentence}")
                    st.switch_page("pages/embedding_map.py")
            with right:
                st.markdown(f"**Top {k} images**")
                image_hits(ex, res.results, key="q_txt")
                download_results(ex, res.results, sentence, key="q_txt_csv")
    elif ex.can_encode:
        st.info("Type a sentence to search the images.")

# ---- composed query: several weighted terms as one query (pages/_composed.py) -------------------
with tab_cmp:
    composed_tab(ex, k)
