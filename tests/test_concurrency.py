"""Eight browser sessions on one ``streamlit run app.py`` querying at once: every session answers, and
each sees only its own sentence, its own K and its own upload (Streamlit session state is per browser
context; the cached explorer is shared between them).

    python -m pytest tests/test_concurrency.py -m browser

Uses tests/test_browser.py's server (a fast demo run built once per session, or
``XMR_APP_TEST_CHECKPOINTS`` / ``XMR_APP_TEST_DATA``) and Debian's chromium; skipped without them.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from test_browser import CHROMIUM, _png, no_exception, settle  # noqa: F401
from test_browser import browser, runs, server  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} is missing"),
]

N = 8


def _vocab(runs) -> list[str]:  # noqa: F811
    from xmr_core.bundle.run import list_runs, load_encoder

    paths = list_runs(runs[0])
    run = next((p for p in paths if p.name == "demo"), paths[0])
    return [w for w in load_encoder(run).word_index if len(w) > 2]


def _marker(i: int) -> str:
    """A word no run knows, unique to session i: the page reports it as out of vocabulary."""
    return "nonword" + chr(ord("a") + i) * 3


def test_eight_sessions_query_at_once(server, browser, runs, tmp_path):  # noqa: F811
    vocab = _vocab(runs)
    assert len(vocab) >= N + 4
    sentences = [" ".join(vocab[i:i + 4] + [_marker(i)]) for i in range(N)]
    ks = [10 if i % 2 else 5 for i in range(N)]
    upload = tmp_path / "session0-upload.png"
    upload.write_bytes(_png())
    t_start = time.time()

    contexts, pages = [], []
    try:
        for i in range(N):
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            contexts.append(ctx)
            pages.append(pg)
        for pg in pages:
            pg.goto(f"{server}/query")
        for i, pg in enumerate(pages):
            settle(pg, "Query")
            if ks[i] != 5:  # a per-session selection: K = 10 on odd sessions
                pg.locator('[data-testid="stRadio"]').first.get_by_text("10", exact=True).click()
                settle(pg)
            pg.get_by_role("tab", name="Sentence → images").click()

        # all at once: session 0 uploads an image, every session submits its own sentence
        pages[0].locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(upload))
        boxes = [pg.get_by_label("Type a sentence") for pg in pages]
        for box, s in zip(boxes, sentences):
            box.fill(s)
        t_sent = time.time()
        for box in boxes:
            box.press("Enter")

        for i, pg in enumerate(pages):
            pg.get_by_text(f"Top {ks[i]} images").wait_for()
            settle(pg)
        t_all = time.time() - t_sent

        for i, pg in enumerate(pages):
            no_exception(pg)
            main = pg.locator('[data-testid="stMain"]')
            shown = main.inner_text()
            everything = main.text_content() or ""  # hidden tab panels too
            assert f"Top {ks[i]} images" in shown, (i, shown[:1500])
            assert pg.get_by_label("Type a sentence").input_value() == sentences[i]
            assert _marker(i) in shown, (i, shown[:1500])             # its own sentence was encoded ...
            others = [_marker(j) for j in range(N) if j != i and _marker(j) in everything]
            assert others == [], (i, others)                        # ... and nobody else's
            if i == 0:
                assert "session0-upload.png" in everything and "Top" in everything
                assert f"Top {ks[0]} sentences" in everything
            else:                                                   # nobody else sees session 0's upload
                assert "session0-upload.png" not in everything, i
                assert not any(f"Top {k} sentences" in everything for k in (1, 5, 10)), i
        print(f"{N} sessions answered {t_all:.1f} s after submitting (test total {time.time() - t_start:.0f} s)")
    finally:
        for ctx in contexts:
            ctx.close()
