"""Encoded text: captions beside their encoded-text images; type any sentence to see its encoding."""
from __future__ import annotations

import streamlit as st

from pages._shared import explorer, show_error, thumbnail, through_app
from xmr_core.facade.app_support import annotate_encoding, md_text, filter_rows, page_slice
from xmr_core.errors import XmrError

through_app()

ex = explorer()
enc = ex.encoder
if enc is None:  # only a network run paints sentences (bundle/kinds.py)
    from xmr_core.bundle.kinds import no_painting

    st.title("Encoded text")
    st.info(no_painting(ex.kind, ex.run_name), icon=":material/info:")
    st.stop()
cfg = enc.cfg
st.title("Encoded text")
st.caption(f"Each word's {enc.kv.vector_size}-d {cfg.vectors_name} is painted as a {cfg.block_w}x{cfg.block_h} block of "
           f"{cfg.superpixel}px superpixels (3 values = one RGB superpixel) on a white {cfg.canvas}px canvas, "
           f"{cfg.words_per_row} words a row, {cfg.rows} rows. Vocabulary: {len(enc.word_index):,} words.")

# ---- live encoding ---------------------------------------------------------------------------
st.subheader("Type a sentence")
sentence = st.text_input("Sentence to encode", value=ex.caption_text(0) if ex.n_captions else "", key="enc_sentence")
labels = st.toggle("label each word's block", value=True, key="enc_labels")
if sentence.strip():
    try:
        encoded, layout = enc.encode(sentence, strict=True)
        c1, c2 = st.columns([3, 2])
        with c1:
            st.image(annotate_encoding(encoded, layout, labels=labels, crop=True, gap=cfg.gap, width=720),
                     caption=f"{len(layout.placed)} word(s) painted (the painted part of the canvas, enlarged)")
        with c2:
            st.markdown("**Placed words** (in reading order)")
            st.write(", ".join(f"`{p.word}`" for p in layout.placed) or "none")
            if layout.oov:
                st.warning("Not in the vocabulary (skipped): " + ", ".join(f"`{w}`" for w in layout.oov))
            if layout.dropped:
                st.warning(f"No room on the canvas (dropped, capacity {cfg.capacity} words): "
                           + ", ".join(f"`{w}`" for w in layout.dropped))
            if not layout.oov and not layout.dropped:
                st.success("every word was painted")
            st.image(annotate_encoding(encoded, layout, scale=max(1, 256 // cfg.canvas), labels=False),
                     caption=f"the whole {cfg.canvas}px canvas the network sees (shown at 256 px)")
    except XmrError as e:
        show_error(e, "cannot encode this sentence")
else:
    st.info("Type a few words to see their encoding.")

# ---- the split's captions --------------------------------------------------------------------
st.subheader(f"Captions of the {ex.split} split")
f1, f2, f3 = st.columns([2, 1, 1])
word = f1.text_input("Search captions containing the word", value="", key="enc_search")
per_page = f2.selectbox("Per page", [5, 10, 20], index=1, key="enc_per_page")
rows = filter_rows(ex.caption_texts, word)
start, stop, n_pages = page_slice(len(rows), 1, per_page)
page = f3.number_input(f"Page (of {n_pages})", min_value=1, max_value=n_pages, value=1, step=1, key="enc_page")
start, stop, n_pages = page_slice(len(rows), page, per_page)
st.caption(f"{len(rows):,} caption(s)" + (f" containing `{word}`" if word.strip() else "")
           + f"; showing {start + 1 if rows else 0}-{stop}")
if not rows:
    st.warning(f"No caption contains `{word}`.")
for r in rows[start:stop]:
    text = ex.caption_text(r)
    img_row = ex.image_of(r)
    a, b, c = st.columns([2, 2, 1.4])
    with a:
        st.markdown(f"**#{r}** {md_text(text)}")
        try:
            lay, _ = enc.layout(text)
            notes = []
            if lay.oov:
                notes.append("OOV: " + ", ".join(lay.oov))
            if lay.dropped:
                notes.append("dropped: " + ", ".join(lay.dropped))
            if notes:
                st.caption("; ".join(notes))
        except XmrError:
            pass
    with b:
        encoded, lay = enc.encode(text)
        st.image(annotate_encoding(encoded, lay, scale=max(1, 220 // cfg.canvas), labels=False), width=220)
    with c:
        thumbnail(ex, img_row, caption=f"image {md_text(ex.image_id(img_row))}", width=160)
