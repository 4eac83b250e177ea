"""The resources probe: CPU, load, memory, swap, filesystems, interfaces, uptime (psutil)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.definition import ProbeDefinition, check_interval
from fleetwatch_agent.probes.resources import wire
from fleetwatch_agent.probes.resources.collect import make_reader


@dataclass(frozen=True)
class ResourcesConfig:
    """Settings of the resources probe: [probes.resources]."""

    enabled: bool = True
    # Seconds between two collections; the CPU share is the average over this interval.
    interval_seconds: float = 15.0
    # Seconds one collection may take before it is reported as failed.
    timeout_seconds: float = 5.0
    # Interface names to leave out (shell patterns).
    ignore_interfaces: tuple[str, ...] = ("lo",)
    # Filesystem types to leave out besides the pseudo filesystems psutil already skips.
    ignore_fstypes: tuple[str, ...] = ("squashfs", "iso9660", "udf")

    def validate(self) -> None:
        check_interval(self.interval_seconds)
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be positive")


def make_collector(
    config: ResourcesConfig, context: ProbeContext | None = None
) -> Callable[[], wire.Resources]:
    """The collect function: one psutil reading, as the Resources message."""
    read = make_reader(config.ignore_fstypes, config.ignore_interfaces)
    return lambda: wire.message(read())


def summary_lines(result: wire.Resources, now: float) -> list[str]:
    """The lines `fleetwatch-agent check` prints; summary.py is imported by `check` only."""
    from fleetwatch_agent.probes.resources import summary

    return summary.lines(result, now)


PROBE = ProbeDefinition("resources", ResourcesConfig, make_collector, wire.to_wire, summary_lines)
