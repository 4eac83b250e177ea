"""The probe registry: every probe the agent can run, listed once, explicitly, in report order.

Adding a probe: a package ``probes/<name>/`` whose ``__init__.py`` defines ``PROBE``, and one
entry here. The ``[probes]`` table of the configuration, ``check``'s summaries and the report's
sections all follow this tuple (agent/README.md, "Adding a report kind").
"""

from __future__ import annotations

from typing import Any

from fleetwatch_agent.probes import antivirus, connectivity, resources, snmp
from fleetwatch_agent.probes.definition import ProbeConfig, ProbeDefinition

__all__ = ["PROBES", "ProbeConfig", "ProbeDefinition"]

PROBES: tuple[ProbeDefinition[Any, Any], ...] = (
    resources.PROBE,
    antivirus.PROBE,
    connectivity.PROBE,
    snmp.PROBE,
)
