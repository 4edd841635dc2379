"""`python -m edge_vasa ...`: the edge-vasa command line."""

import sys

from edge_vasa.apps.cli import main

sys.exit(main())
