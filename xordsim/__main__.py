"""``python -m xordsim``: the command line."""

import sys

from xordsim.cli import main

sys.exit(main())
