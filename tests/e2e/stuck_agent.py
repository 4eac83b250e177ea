"""`fleetwatch-agent` with one more probe, "stuck", that never returns: for fault tests only.

Run as ``python -c "from tests.e2e.stuck_agent import main; main()" run --config FILE`` from the
repository root. No configuration can add this probe: it exists only in this test module.
"""

from __future__ import annotations

import os
import sys

from fleetwatch_agent import cli, service
from fleetwatch_agent.config import ProbesSection
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import BoundProbe, bind_probes

STUCK_TIMEOUT_SECONDS = 0.5


def hang_in_the_kernel() -> object:
    """Block in a read that nothing will ever answer, as on a dead NFS mount."""
    read_end, _write_end = os.pipe()
    os.read(read_end, 1)
    return None


def with_stuck_probe(section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
    return (*bind_probes(section, context), BoundProbe("stuck", hang_in_the_kernel, STUCK_TIMEOUT_SECONDS))


def main() -> None:
    service.bind_probes = with_stuck_probe  # AgentService binds its probes through this name
    sys.exit(cli.main(sys.argv[1:]))
