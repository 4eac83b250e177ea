"""What one collection cycle produced, as plain data independent of the wire format."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetwatch_agent.hostfacts import HostFacts


@dataclass(frozen=True)
class ProbeOutcome:
    name: str
    success: bool
    duration_seconds: float
    error: str = ""


@dataclass(frozen=True)
class Location:
    site: str
    district: str
    site_type: str
    site_name: str = ""


@dataclass(frozen=True)
class CycleReport:
    """Everything one cycle produced; results maps probe name to its result dataclass."""

    seq: int
    collected_unix_ms: int
    interval_seconds: float
    host: HostFacts
    location: Location
    agent_version: str
    outcomes: tuple[ProbeOutcome, ...]
    results: dict[str, object] = field(default_factory=dict)
