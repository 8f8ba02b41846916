"""Build the demo run (first launch: there is no run bundle yet)."""
from __future__ import annotations

import streamlit as st

from pages._shared import through_app
from xmr_core.facade.app_support import demo_minutes
from xmr_core.bundle.run import checkpoints_dir, list_runs

through_app()

# Share of the whole build each stage of build_demo takes (for one overall bar).
STAGES = {"data": (0.0, 0.05), "train": (0.05, 0.75), "evaluate": (0.75, 0.9), "t-SNE": (0.9, 1.0),
          "done": (1.0, 1.0)}

runs = list_runs()
if not runs:
    st.title("Welcome to the xmr explorer")
    st.info(f"No run bundle found in `{checkpoints_dir()}`. Build the demo run to start: it generates a "
            "synthetic image + caption dataset, trains the network on it, evaluates and maps the test split. "
            "(Or train your own with `python -m xmr_core train`, or point `XMR_CHECKPOINTS` at a runs folder.)")
else:
    st.title("Build the demo run")
    st.write(f"{len(runs)} run(s) in `{checkpoints_dir()}`: " + ", ".join(f"`{p.name}`" for p in runs))

fast = st.checkbox("fast (a tiny run in about 2 min that learns little; for a quick look)", value=False,
                   key="demo_fast")
minutes = demo_minutes(fast)
if st.button(f"Build demo run (about {minutes} min)", type="primary", key="build_demo"):
    from xmr_core.cli.demo import build_demo

    bar = st.progress(0.0, text="starting")
    stage_text = st.empty()

    def progress(stage: str, frac: float, msg: str) -> None:
        lo, hi = STAGES.get(stage, (0.0, 1.0))
        overall = min(1.0, max(0.0, lo + (hi - lo) * float(frac)))
        bar.progress(overall, text=f"{stage}: {msg}"[:120])
        stage_text.caption(f"stage **{stage}** {frac * 100:.0f} %")

    with st.spinner("Building the demo run..."):
        out = build_demo(fast=fast, progress=progress)
    bar.progress(1.0, text="done")
    st.success(f"Built {out}")
    st.session_state["xmr_run"] = str(out)
    st.session_state["xmr_goto_overview"] = True
    st.rerun()
