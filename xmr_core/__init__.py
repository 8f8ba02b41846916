"""xmr: cross-modal (image <-> text) retrieval with one network for both modalities.

Library only (no Streamlit). ``load_run(path)`` opens a trained run bundle.
"""
import os

from ._version import __version__

# OpenMP worker threads that spin-wait between parallel regions collapse when another
# process holds a core: on the 2-core machine here, with one core busy, embedding ran at
# 26 captions/s with 2 torch threads against 923 with OMP_WAIT_POLICY=PASSIVE (and 957 with
# 1 thread). PASSIVE lets idle threads sleep. It must be set before torch loads its OpenMP
# runtime, i.e. before the first `import torch`; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def load_run(path):  # noqa: D401 - thin lazy wrapper so `import xmr_core` stays light
    """Open a run bundle (see ``xmr_core.bundle.run.load_run``)."""
    from .bundle.run import load_run as _load_run

    return _load_run(path)
