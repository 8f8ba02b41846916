"""The app's pages, in sidebar order: (script, title, icon, section). No Streamlit import.

``app.py`` builds its ``st.navigation`` and its sidebar links from this list, and the
browser test checks that the sidebar never shows any other name.
"""
from __future__ import annotations

NAV: list[tuple[str, str, str, str]] = [
    ("pages/overview.py", "Overview", ":material/dashboard:", "Explore"),
    ("pages/encoded_text.py", "Encoded text", ":material/palette:", "Explore"),
    ("pages/embedding_map.py", "Embedding map", ":material/scatter_plot:", "Explore"),
    ("pages/retrieval.py", "Retrieval (Table 3)", ":material/table_rows:", "Explore"),
    ("pages/query.py", "Query", ":material/search:", "Explore"),
    ("pages/compare.py", "Compare runs", ":material/compare_arrows:", "Explore"),
    ("pages/setup.py", "Build demo run", ":material/build:", "Runs"),
]

TITLES: list[str] = [title for _, title, _, _ in NAV]


def url_path(script: str) -> str:
    """The URL path Streamlit gives a page script (its file stem); the first page is the root."""
    return "" if script == NAV[0][0] else script.rsplit("/", 1)[-1].removesuffix(".py")
