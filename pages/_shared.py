"""Streamlit glue shared by the pages: the cached run / explorer and small display helpers.

Not a page (``app.py`` lists the pages explicitly with ``st.navigation``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from xmr_core.facade.app_support import (RESULT_COLUMNS, hit_label, md_text, push_step, result_rows, run_key, search_step,
                                  to_csv)
from xmr_core.errors import RunError, XmrError
from xmr_core.facade.explorer import Hit

SPLITS = ["test", "val", "train"]  # offered when a run's dataset cannot be read (its pages then say why)


@st.cache_data(show_spinner=False, max_entries=32)
def _split_options(path: str, mtime: int) -> list[str]:  # noqa: ARG001 - mtime is part of the cache key
    from xmr_core.bundle.kinds import run_splits

    try:
        return run_splits(path) or SPLITS
    except XmrError:
        return SPLITS


def split_options(run_path: str) -> list[str]:
    """The splits the sidebar offers for a run: its dataset's (an embeddings run: its imported ones)."""
    return _split_options(*run_key(run_path))


@st.cache_resource(show_spinner=False, max_entries=6)
def _explorer(path: str, split: str, mtime: int):  # noqa: ARG001 - mtime is part of the cache key
    from xmr_core.facade.explorer import Explorer

    return Explorer(path, split=split)


@st.cache_resource(show_spinner=False, max_entries=6)
def _map_frame(path: str, split: str, mtime: int):
    return _explorer(path, split, mtime).map_frame()


def through_app() -> None:
    """Make sure this page runs inside ``app.py`` (its sidebar: links, run and split pickers).

    Every page calls this first. On a freshly started server, Streamlit's pages-folder detection is
    still on for the very first script run (``app.py`` turns it off by calling ``st.navigation``), so a
    page URL opened as the server's first request runs that page's file alone. Rerun once: the rerun
    keeps the page (same URL, same page hash) and goes through ``app.py``.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


MAX_HOVER_THUMBS = 2000  # above this many images the map hovers names and captions only (page weight)


@st.cache_resource(show_spinner=False, max_entries=4)
def _hover_thumbs(path: str, split: str, mtime: int) -> dict[int, str]:
    from xmr_core.facade.app_support import data_uri

    ex = _explorer(path, split, mtime)
    out = {}
    for r in range(min(ex.n_images, MAX_HOVER_THUMBS)):
        try:
            out[r] = data_uri(ex.load_image(r, max_side=224), max_side=112)
        except XmrError:  # a missing or broken file: that point hovers text only
            continue
    return out


def hover_thumbs(ex) -> dict[int, str]:
    """Image row -> small JPEG data URI, for the map's hover (the first ``MAX_HOVER_THUMBS`` images)."""
    path, mtime = run_key(ex.run_path)
    with st.spinner("Making the map's hover thumbnails (once per run and split)..."):
        return _hover_thumbs(path, ex.split, mtime)


def default_run() -> str | None:
    """The run the sidebar starts on: ``demo`` if present, else the first run found."""
    from xmr_core.bundle.run import list_runs

    runs = list_runs()
    if not runs:
        return None
    named = {p.name: str(p) for p in runs}
    return named.get("demo", str(runs[0]))


def selected_run() -> str | None:
    # Normally app.py has set it; the default run is a fallback for a page run on its own.
    return st.session_state.get("xmr_run") or default_run()


def selected_split() -> str:
    return st.session_state.get("xmr_split", "test")


def explorer_for(run_path: str | Path, split: str = "test"):
    """The cached ``Explorer`` of a run + split (loaded once; reloaded only when its weights change)."""
    from xmr_core.bundle.kinds import folder_kind

    path, mtime = run_key(run_path)
    if folder_kind(Path(path)) is None:
        raise RunError(f"{path}: not a run bundle of any kind (no model.pt, reference.pt or imported vectors), "
                       "or it is still being written")
    with st.spinner(f"Loading run {Path(path).name} ({split} split): embeddings, indexes, relevance model..."):
        return _explorer(path, split, mtime)


def explorer():
    """The explorer of the run and split picked in the sidebar."""
    run = selected_run()
    if not run:
        raise RunError("no run selected: pick one in the sidebar")
    return explorer_for(run, selected_split())


def map_frame(ex) -> Any:
    path, mtime = run_key(ex.run_path)
    with st.spinner("Loading the t-SNE map (fitted once and stored in the run if missing)..."):
        return _map_frame(path, ex.split, mtime)


def show_error(e: BaseException, what: str = "") -> None:
    """A user-facing error box instead of a traceback."""
    prefix = f"{what}: " if what else ""
    if isinstance(e, XmrError):
        st.error(f"{prefix}{e}", icon=":material/warning:")
    else:
        st.error(f"{prefix}unexpected error ({type(e).__name__}): {e}. The rest of the app keeps working; "
                 "pick another run or page.", icon=":material/error:")


def label_markdown(hit: Hit) -> str:
    lab = hit.label
    text = hit_label(hit)
    colour = {"gt": "green", "related": "orange"}.get(lab, "gray")
    return f":{colour}[{text}]"


def thumbnail(ex, image_row: int, caption: str | None = None, width: int | None = None) -> None:
    try:
        st.image(ex.load_image(image_row, max_side=256), caption=caption, width=width or "stretch")
    except XmrError as e:
        st.warning(f"image {image_row}: {e}")


TRAIL = "xmr_trail"  # session_state: the click-to-search trail (list of app_support.search_step dicts)


def search_button(ex, kind: str, row: int, key: str, parent: dict[str, Any] | None = None) -> None:
    """A small button that makes a collection item the new query in the other direction.

    An image -> its top sentences, a caption -> its top images; the step goes on the trail (so the
    Query page can go back) and the Query page opens. ``parent``: the step of the query these results
    answer (a composed query), put on the trail first so Back returns to it.
    """
    label = "Its sentences" if kind == "image" else "Its images"
    if st.button(label, key=key, icon=":material/manage_search:", type="tertiary",
                 help=f"search with this {kind} as the query (Query page; Back returns here)"):
        step = search_step(kind, row, ex.run_path, ex.split)
        origin = st.session_state.get("xmr_page")  # where Back from the first step returns
        trail = st.session_state.get(TRAIL)
        if parent is not None:
            trail = push_step(trail, {**parent, "origin": origin})
        step["origin"] = origin
        st.session_state[TRAIL] = push_step(trail, step)
        st.switch_page("pages/query.py")


def image_hits(ex, hits: list[dict[str, Any]], key: str | None = None, parent: dict[str, Any] | None = None) -> None:
    """Retrieved images in a row of up to five columns: thumbnail, label badge, distance.

    With ``key`` (unique on the page) each image gets a click-to-search button.
    """
    cols = st.columns(min(5, max(1, len(hits))))
    for i, hit in enumerate(hits):
        with cols[i % len(cols)]:
            thumbnail(ex, hit["image_row"], caption=f"{hit['rank']}. image {md_text(hit['image_id'])}")
            badge = f"{label_markdown(hit)}  \n" if "label" in hit else ""
            st.markdown(f"{badge}distance {hit['distance']:.3f}")
            if key:
                search_button(ex, "image", hit["image_row"], key=f"{key}_img{i}_{hit['image_row']}", parent=parent)


def caption_hits(ex, hits: list[dict[str, Any]], key: str | None = None, parent: dict[str, Any] | None = None) -> None:
    """Retrieved sentences as a numbered list: text, label badge (if labelled), distance, search button."""
    for i, hit in enumerate(hits):
        badge = f"{label_markdown(hit)} · " if "label" in hit else ""
        st.markdown(f"{hit['rank']}\\. {md_text(hit['text'])}  \n{badge}:gray[distance {hit['distance']:.3f} · "
                    f"caption of image #{hit['image_row']}]")
        if key:
            search_button(ex, "caption", hit["caption_row"], key=f"{key}_cap{i}_{hit['caption_row']}", parent=parent)


def download_results(ex, hits: list[dict[str, Any]], query: str, key: str) -> None:
    """A CSV download of the results shown (query, rank, kind, image id and file, caption, distance, relevance)."""
    data = to_csv(result_rows(hits, query, ex.image_paths, ex.image_ids), RESULT_COLUMNS)
    st.download_button("Download these results (CSV)", data=data, file_name=f"{key}.csv", mime="text/csv",
                       key=key, icon=":material/download:", on_click="ignore")
