"""The probe registry: every probe the agent can run, listed once, explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetwatch_agent.probes import antivirus, connectivity, resources
from fleetwatch_agent.probes.context import ProbeContext

if TYPE_CHECKING:
    from fleetwatch_agent.config import ProbesSection


@dataclass(frozen=True)
class ProbeDefinition:
    """A probe: its name, how to find its config, how to build its collect function."""

    name: str
    config_of: Callable[[ProbesSection], Any]
    make_collector: Callable[[Any, ProbeContext], Callable[[], object]]


PROBES: tuple[ProbeDefinition, ...] = (
    ProbeDefinition("resources", lambda probes: probes.resources, resources.make_collector),
    ProbeDefinition("antivirus", lambda probes: probes.antivirus, antivirus.make_collector),
    ProbeDefinition("connectivity", lambda probes: probes.connectivity, connectivity.make_collector),
)
