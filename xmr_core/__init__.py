"""xmr: cross-modal (image <-> text) retrieval with one network for both modalities.

Library only (no Streamlit). ``load_run(path)`` opens a trained run bundle.
"""
__version__ = "0.1.0"


def load_run(path):  # noqa: D401 - thin lazy wrapper so `import xmr_core` stays light
    """Open a run bundle (see ``xmr_core.run.load_run``)."""
    from .run import load_run as _load_run

    return _load_run(path)
