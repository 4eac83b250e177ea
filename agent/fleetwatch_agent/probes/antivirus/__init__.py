"""The antivirus probe: one normalized record per product, on Windows and Linux."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fleetwatch_agent.probes.antivirus import wire
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.definition import ProbeDefinition, check_interval


@dataclass(frozen=True)
class AntivirusConfig:
    """Settings of the antivirus probe: [probes.antivirus]."""

    enabled: bool = True
    # Seconds between two collections (signatures change a few times a day; detections wait as long).
    interval_seconds: float = 300.0
    # Seconds one collection may take (PowerShell can be slow on a busy PC).
    timeout_seconds: float = 20.0
    # Windows: how Security Center, Defender and services are read. "auto": WMI in-process (pywin32),
    # or PowerShell (a process per collection) when pywin32 is missing or WMI fails when the agent
    # starts; decided once, logged, shown by `check`. "wmi" or "powershell": that one, no fallback.
    windows_source: Literal["auto", "wmi", "powershell"] = "auto"
    # Signatures older than this many days make a product "outdated".
    outdated_after_days: float = 3.0
    # ClamAV (Linux): database folder, clamd socket (a path, or host:port for TCP), logs.
    clamav_database_dir: str = "/var/lib/clamav"
    clamd_socket: str = "/var/run/clamav/clamd.ctl"
    clamd_log: str = "/var/log/clamav/clamav.log"
    freshclam_log: str = "/var/log/clamav/freshclam.log"

    def validate(self) -> None:
        check_interval(self.interval_seconds)
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be positive")
        if self.outdated_after_days <= 0:
            raise ValueError("outdated_after_days: must be positive")
        if self.windows_source not in ("auto", "wmi", "powershell"):
            raise ValueError(f"windows_source: {self.windows_source!r} is not auto, wmi or powershell")


def make_collector(config: AntivirusConfig, context: ProbeContext) -> Callable[[], AntivirusResult]:
    """The platform's collect function (psutil style: one public entry, platform modules behind)."""
    if sys.platform == "win32":
        from fleetwatch_agent.probes.antivirus import _windows

        return _windows.make_collector(config, context)
    from fleetwatch_agent.probes.antivirus import _linux

    return _linux.make_collector(config, context)


def summary_lines(result: AntivirusResult, now: float) -> list[str]:
    """The lines `fleetwatch-agent check` prints; summary.py is imported by `check` only."""
    from fleetwatch_agent.probes.antivirus import summary

    return summary.lines(result, now)


PROBE = ProbeDefinition("antivirus", AntivirusConfig, make_collector, wire.to_wire, summary_lines)
