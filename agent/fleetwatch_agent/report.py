"""What one collection cycle produced, as plain data independent of the wire format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_proto.limits import counted_key


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


@dataclass(frozen=True)
class Totals:
    """The agent's counts of its events since its spool was created, the report carrying them
    included: threats by product, ended outages and their seconds by target, new LAN devices. Keys
    beyond MAX_COUNTED_KEYS count under "other", as the collector's counters do."""

    threats: Mapping[str, int] = field(default_factory=dict)
    outages: Mapping[str, int] = field(default_factory=dict)
    outage_seconds: Mapping[str, float] = field(default_factory=dict)
    lan_new_devices: int = 0

    def plus(
        self,
        threats: Iterable[str] = (),
        outages: Iterable[tuple[str, float]] = (),
        lan_new_devices: int = 0,
    ) -> Totals:
        """These counts with more events: a threat per product named, an outage per (target, seconds)."""
        threat_counts = dict(self.threats)
        for product in threats:
            key = counted_key(threat_counts, product)
            threat_counts[key] = threat_counts.get(key, 0) + 1
        outage_counts, seconds = dict(self.outages), dict(self.outage_seconds)
        for target, duration in outages:
            key = counted_key(outage_counts, target)
            outage_counts[key] = outage_counts.get(key, 0) + 1
            seconds[key] = seconds.get(key, 0.0) + duration
        return Totals(threat_counts, outage_counts, seconds, self.lan_new_devices + lan_new_devices)
