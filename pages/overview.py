"""Overview: the run's config, training curve, metrics beside the paper's, modality gap."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages._shared import explorer, show_error, through_app
from xmr_core.facade.app_support import dash_missing, gap_rows, network_summary, recall_rows, semantic_rows, train_curve
from xmr_core.facade.app_typed import typed_rows
from xmr_core.train.budget import budget_note

through_app()

ex = explorer()
run = ex.run
st.title(f"Run `{run.name}`")
st.caption(f"Network: {network_summary(run.config)}")
if (budget := budget_note(run.config)) is not None:  # fewer epochs than asked, to fit a time budget
    st.caption(budget)
m = ex.metrics()
c1, c2, c3, c4 = st.columns(4)
c1.metric("split", f"{ex.dataset_name}/{ex.split}")
c2.metric("images", f"{ex.n_images:,}")
c3.metric("captions", f"{ex.n_captions:,}")
c4.metric("rsum", f"{m['rsum']:.1f}" if m else "not evaluated")

# ---- metrics ---------------------------------------------------------------------------------
st.subheader("Retrieval metrics beside the paper")
if m is None:
    st.warning(f"This run has no metrics for {ex.dataset_name}/{ex.split} yet.")
    if st.button(f"Evaluate {run.name} on the {ex.split} split", type="primary", key="evaluate_run"):
        from xmr_core.evaluation.evaluate import evaluate_run

        bar = st.progress(0.0, text="evaluating")
        try:
            evaluate_run(run, split=ex.split,
                         progress=lambda f, msg: bar.progress(min(1.0, max(0.0, float(f))), text=msg[:100]))
            st.rerun()
        except Exception as e:  # noqa: BLE001
            show_error(e, "evaluation failed")
else:
    st.caption(f"Image->text: {m['n_images']} query images over {m['n_captions']} captions; text->image: "
               f"{m['n_captions']} query captions over {m['n_images']} images. Recall in %. The paper's rows are "
               "on 1,000-image Flickr30K / COCO test sets, so not directly comparable to another dataset.")
    st.dataframe(pd.DataFrame(dash_missing(recall_rows(m, f"ours: {run.name}"))), hide_index=True)
    typed = typed_rows(m)
    if typed:  # what a person types, beside R@K (retrieval/typed_queries.py)
        t = m["typed_queries"]
        st.markdown(f"**Typed queries** ({t['n_queries']} short queries such as “{(t.get('examples') or ['?'])[0]}”; "
                    f"relevant = {t['ground_truth']}): P@5 = relevant among the top 5 (of min(5, relevant)), "
                    "R@10 = relevant among the top 10 (of min(10, relevant)), in %.")
        st.dataframe(pd.DataFrame(dash_missing(typed)), hide_index=True)
    sem = semantic_rows(m)
    if sem:
        s = m["semantic"]
        thr = s.get("threshold")
        thr = f"{thr:.2f}" if isinstance(thr, (int, float)) else "?"
        st.markdown(f"**Semantic metric** ({s.get('relevance', '?')}; related if relevance >= {thr}): sR@K = % of "
                    "queries with a related or ground-truth item in the top K; NCS@K = summed relevance of the top K "
                    "over the ideal.")
        st.dataframe(pd.DataFrame(dash_missing(sem)), hide_index=True)
        if isinstance(s.get("calibration"), dict):  # both relevance distributions, the threshold marked
            from pages._calibration import show_calibration

            show_calibration(s["calibration"])

# ---- training curve --------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.subheader("Training curve")
    curve = train_curve(run.train_log())
    if not curve:
        st.info("No training log rows in this run (train_log.csv missing or empty).")
    else:
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        for name, pts in curve.items():
            xs, ys = zip(*pts)
            recall = "r@" in name.lower()
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name), secondary_y=recall)
        fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))
        fig.update_xaxes(title_text="epoch")
        fig.update_yaxes(title_text="loss", secondary_y=False)
        fig.update_yaxes(title_text="val R@10 (%)", secondary_y=True)
        st.plotly_chart(fig, key="train_curve")
with right:
    st.subheader("Modality gap")
    st.caption("How far apart images and painted captions sit (cosines and distances on unit vectors). "
               "`nearest_is_same_modality` near 1 means two separate clouds.")
    try:
        st.dataframe(pd.DataFrame(dash_missing(gap_rows(ex.modality_gap()))), hide_index=True)
    except Exception as e:  # noqa: BLE001
        show_error(e, "modality gap")

# ---- config ----------------------------------------------------------------------------------
st.subheader("Configuration")
cols = st.columns(4)
for col, key in zip(cols, ("encoding", "model", "train", "dataset") if ex.kind == "network" else (ex.kind, "dataset")):
    with col:
        st.markdown(f"**{key}**")
        st.json(run.config.get(key, {}), expanded=False)
with st.expander("the whole config.json"):
    st.json(run.config)
