"""Compare runs: metrics side by side and one typed query answered by both (any two run kinds: a network
beside the CCA reference; an embeddings run says why it cannot answer a typed sentence)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages._shared import explorer_for, image_hits, selected_run, selected_split, show_error, through_app
from xmr_core.bundle.kinds import compare_partner, no_encoder
from xmr_core.facade.app_support import (compare_rows, dash_missing, handle_text_query, losses_summary, network_summary,
                                         run_label)
from xmr_core.facade.app_typed import typed_compare_rows
from xmr_core.bundle.run import list_runs

through_app()

st.title("Compare runs")
runs = [str(p) for p in list_runs()]
split = selected_split()
if len(runs) < 2:
    st.info("Only one run bundle is present; comparing it with itself. `python -m xmr_core.cli.demo` builds the "
            "second demo bundle (`demo-paper`: the paper's losses on the same data), or train another run.")
cur = selected_run() if selected_run() in runs else runs[0]
other = compare_partner(runs, cur)
c1, c2 = st.columns(2)
a = c1.selectbox("Run A", runs, index=runs.index(cur), format_func=run_label, key="cmp_a")
b = c2.selectbox("Run B", runs, index=runs.index(other), format_func=run_label, key="cmp_b")
st.caption(f"Split: {split} (change it in the sidebar).")

explorers = {}
for col, path in ((c1, a), (c2, b)):
    try:
        explorers[path] = explorer_for(path, split)
        cfg = explorers[path].run.config
        col.caption(f"recipe `{cfg.get('recipe', '?')}`: " + (losses_summary(cfg) if explorers[path].kind == "network"
                                                              else network_summary(cfg)))
    except Exception as e:  # noqa: BLE001 - one broken run must not hide the other
        with col:
            show_error(e, f"cannot load {Path(path).name}")

names = {p: (Path(p).name if a != b else Path(p).name + (" (A)" if i == 0 else " (B)"))
         for i, p in enumerate([a, b])}
if explorers:
    st.subheader("Metrics")
    metrics = {names[p]: explorers[p].metrics() for p in dict.fromkeys([a, b]) if p in explorers}
    missing = [n for n, m in metrics.items() if m is None]
    if missing:
        st.warning("Not evaluated on this split (evaluate on the Overview page): " + ", ".join(missing))
    st.dataframe(pd.DataFrame(dash_missing(compare_rows(metrics))), hide_index=True)
    typed = typed_compare_rows(metrics)
    if typed:
        st.markdown("**Typed queries** (short queries a person types; % of the top 5 / top 10 relevant)")
        st.dataframe(pd.DataFrame(dash_missing(typed)), hide_index=True)

st.subheader("The same query, both runs")
sentence = st.text_input("Type a sentence", value="", key="cmp_sentence", placeholder="e.g. a dog on the beach")
k = st.radio("K", [1, 5, 10], index=1, horizontal=True, key="cmp_k")
if sentence:
    cols = st.columns(2)
    for side, (col, path) in enumerate(zip(cols, (a, b))):
        with col:
            st.markdown(f"**{names.get(path, Path(path).name)}**")
            ex = explorers.get(path)
            if ex is None:
                st.info("run not loaded")
                continue
            if not ex.can_encode:  # imported vectors: no encoder for the typed sentence
                st.info(no_encoder(ex.run_name, "sentence"))
                continue
            res, err = handle_text_query(ex, sentence, k=k)
            if err:
                st.error(err)
                continue
            for note in res.notes:
                st.warning(note)
            st.caption(f"library time {res.seconds * 1000:.0f} ms")
            image_hits(ex, res.results, key=f"cmp{side}")
