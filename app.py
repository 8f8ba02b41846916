"""xmr explorer: the Streamlit app over a run bundle.

    streamlit run app.py

Pages (in ``pages/``): Overview, Encoded text, Embedding map, Retrieval (Table 3),
Query, Compare runs. The sidebar picks the run bundle (``xmr_core.run.list_runs()``,
under ``$XMR_CHECKPOINTS`` or ``checkpoints/``) and the split. With no run at all the
app offers to build the demo run. Pages only lay out what ``xmr_core`` returns.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:  # `pages._shared` and `xmr_core` import from the repo root
    sys.path.insert(0, _ROOT)

from xmr_core.app_support import run_label
from xmr_core.run import checkpoints_dir, list_runs

st.set_page_config(page_title="xmr explorer", page_icon=":material/image_search:", layout="wide")

from pages._shared import SPLITS, default_run, show_error  # noqa: E402  (after set_page_config)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/encoded_text.py", title="Encoded text", icon=":material/palette:"),
    st.Page("pages/embedding_map.py", title="Embedding map", icon=":material/scatter_plot:"),
    st.Page("pages/retrieval.py", title="Retrieval (Table 3)", icon=":material/table_rows:"),
    st.Page("pages/query.py", title="Query", icon=":material/search:"),
    st.Page("pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
]
SETUP = st.Page("pages/setup.py", title="Build demo run", icon=":material/build:")

runs = list_runs()
if not runs:
    st.session_state.pop("xmr_run", None)
    pg = st.navigation([SETUP], position="hidden")
else:
    with st.sidebar:
        st.markdown("### Run")
        paths = [str(p) for p in runs]
        current = st.session_state.get("xmr_run")
        if current not in paths:
            current = default_run()
        run = st.selectbox("Run bundle", paths, index=paths.index(current), format_func=run_label,
                           key="xmr_run_pick", help=f"run bundles found in {checkpoints_dir()}")
        split = st.selectbox("Split", SPLITS, index=SPLITS.index(st.session_state.get("xmr_split", "test")),
                             key="xmr_split_pick",
                             help="the test split is embedded by evaluation; another split is embedded "
                                  "(and mapped) on first use, which takes a while")
        st.session_state["xmr_run"] = run
        st.session_state["xmr_split"] = split
        st.caption(f"Runs folder: `{checkpoints_dir()}`")
    pg = st.navigation({"Explore": PAGES, "Runs": [SETUP]})
    if st.session_state.pop("xmr_goto_overview", False):  # just built the demo run: show it
        st.switch_page(PAGES[0])

try:
    pg.run()
except Exception as e:  # noqa: BLE001 - never a traceback on screen; st.rerun/st.stop are BaseExceptions
    show_error(e, pg.title)
