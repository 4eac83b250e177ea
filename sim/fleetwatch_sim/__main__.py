"""python -m fleetwatch_sim."""

import sys

from fleetwatch_sim.cli import main

sys.exit(main())
