"""``python -m xmr_core``: see ``xmr_core.cli.commands``."""
import sys

from .cli.commands import main

sys.exit(main())
