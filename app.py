"""xmr explorer: the Streamlit app over a run bundle.

    streamlit run app.py

Pages (in ``pages/``, listed in ``pages/_nav.py``): Overview, Encoded text, Embedding map,
Retrieval (Table 3), Query, Compare runs. The sidebar shows their links (drawn here), then
picks the run bundle (``xmr_core.bundle.run.list_runs()``, under ``$XMR_CHECKPOINTS`` or
``checkpoints/``; a network, the CCA reference or imported vectors: ``bundle/kinds.py``) and the split
(those the run's dataset has; ``test`` first, else ``val``). With no run at all the
app offers to build the demo run. Pages only lay out what ``xmr_core`` returns.
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

_ROOT = str(Path(__file__).resolve().parent)
if _ROOT not in sys.path:  # `pages._shared` and `xmr_core` import from the repo root
    sys.path.insert(0, _ROOT)

from xmr_core.facade.app_support import run_label
from xmr_core.bundle.run import checkpoints_dir, list_runs

st.set_page_config(page_title="xmr explorer", page_icon=":material/image_search:", layout="wide")

from pages._nav import NAV  # noqa: E402
from pages._shared import default_run, show_error, split_options  # noqa: E402  (after set_page_config)
from xmr_core.bundle.kinds import default_split  # noqa: E402

# One navigation, drawn by this script. `.streamlit/config.toml` sets client.showSidebarNavigation
# = false, which hides Streamlit's own page list from the first byte: without it, a freshly started
# server first lists every file of pages/ (its pages-folder detection) until st.navigation below
# replaces the list. The sidebar links are ours (st.page_link), built from the same list.
_ALL = [st.Page(script, title=title, icon=icon, default=i == 0) for i, (script, title, icon, _) in enumerate(NAV)]
PAGES = [p for p, (_, _, _, section) in zip(_ALL, NAV) if section == "Explore"]
SETUP = next(p for p, (_, _, _, section) in zip(_ALL, NAV) if section == "Runs")


def sidebar_links() -> None:
    """The app's page links at the top of the sidebar (the only navigation the user sees)."""
    with st.sidebar:
        for section in dict.fromkeys(sec for *_, sec in NAV):
            st.caption(section)
            for page, (*_, sec) in zip(_ALL, NAV):
                if sec == section:
                    st.page_link(page)


runs = list_runs()
if not runs:
    st.session_state.pop("xmr_run", None)
    pg = st.navigation([SETUP], position="hidden")
else:
    pg = st.navigation({"Explore": PAGES, "Runs": [SETUP]}, position="hidden")
    sidebar_links()
    with st.sidebar:
        st.markdown("### Run")
        paths = [str(p) for p in runs]
        current = st.session_state.get("xmr_run")
        if current not in paths:
            current = default_run()
        run = st.selectbox("Run bundle", paths, index=paths.index(current), format_func=run_label,
                           key="xmr_run_pick", help=f"run bundles found in {checkpoints_dir()}")
        splits = split_options(run)  # the splits this run's dataset has (an embeddings run: its imported ones)
        if st.session_state.get("xmr_split_pick") not in splits:  # first run, or a run without that split
            kept = st.session_state.get("xmr_split")
            st.session_state["xmr_split_pick"] = kept if kept in splits else default_split(splits)
        split = st.selectbox("Split", splits, key="xmr_split_pick",
                             help="the test split is embedded by evaluation; another split is embedded "
                                  "(and mapped) on first use, which takes a while")
        st.session_state["xmr_run"] = run
        st.session_state["xmr_split"] = split
        st.caption(f"Runs folder: `{checkpoints_dir()}`")
    if st.session_state.pop("xmr_goto_overview", False):  # just built the demo run: show it
        st.switch_page(PAGES[0])

# The script of the page being shown (click-to-search's Back returns to it).
st.session_state["xmr_page"] = next((script for script, title, *_ in NAV if title == pg.title), None)
try:
    pg.run()
except Exception as e:  # noqa: BLE001 - never a traceback on screen; st.rerun/st.stop are BaseExceptions
    show_error(e, pg.title)
