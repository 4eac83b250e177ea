"""Allows ``python -m fleetwatch_collector``."""

import sys

from fleetwatch_collector.cli import main

sys.exit(main())
