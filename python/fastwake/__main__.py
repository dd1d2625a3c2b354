"""`python3 -m fastwake`: the command line (fastwake.cli)."""
import sys

from .cli import main

sys.exit(main())
