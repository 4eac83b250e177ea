"""The antivirus probe: one normalized record per product, on Windows and Linux."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from fleetwatch_agent.probes.antivirus import summary, wire
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.definition import ProbeDefinition


@dataclass(frozen=True)
class AntivirusConfig:
    """Settings of the antivirus probe: [probes.antivirus]."""

    enabled: bool = True
    # Seconds one collection may take (PowerShell can be slow on a busy PC).
    timeout_seconds: float = 20.0
    # Signatures older than this many days make a product "outdated".
    outdated_after_days: float = 3.0
    # ClamAV (Linux): database folder, clamd socket (a path, or host:port for TCP), logs.
    clamav_database_dir: str = "/var/lib/clamav"
    clamd_socket: str = "/var/run/clamav/clamd.ctl"
    clamd_log: str = "/var/log/clamav/clamav.log"
    freshclam_log: str = "/var/log/clamav/freshclam.log"

    def validate(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be positive")
        if self.outdated_after_days <= 0:
            raise ValueError("outdated_after_days: must be positive")


def make_collector(config: AntivirusConfig, context: ProbeContext) -> Callable[[], AntivirusResult]:
    """The platform's collect function (psutil style: one public entry, platform modules behind)."""
    if sys.platform == "win32":
        from fleetwatch_agent.probes.antivirus import _windows

        return _windows.make_collector(config, context)
    from fleetwatch_agent.probes.antivirus import _linux

    return _linux.make_collector(config, context)


PROBE = ProbeDefinition("antivirus", AntivirusConfig, make_collector, wire.to_wire, summary.lines)
