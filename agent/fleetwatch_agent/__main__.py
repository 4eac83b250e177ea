"""Allows ``python -m fleetwatch_agent``."""

import sys

from fleetwatch_agent.cli import main

sys.exit(main())
