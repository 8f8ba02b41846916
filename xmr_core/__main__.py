"""``python -m xmr_core``: see ``xmr_core.cli``."""
import sys

from .cli import main

sys.exit(main())
