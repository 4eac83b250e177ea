"""The Linux antivirus probe pointed at a test's own ClamAV files, run as the agent runs it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetwatch_agent.probes.antivirus import AntivirusConfig, make_collector
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, ProductStatus
from fleetwatch_agent.probes.context import ProbeContext
from tests.integration.clamav import Clamd


def probe_config(db: Path, tmp_path: Path, clamd: Clamd | None = None, **changes: Any) -> AntivirusConfig:
    """The probe pointed at this test's files only (the system's ClamAV is never read)."""
    config = AntivirusConfig(
        clamav_database_dir=str(db),
        clamd_socket=str(clamd.socket_path) if clamd else str(tmp_path / "no-clamd.sock"),
        clamd_log=str(clamd.log_path) if clamd else str(tmp_path / "clamd.log"),
        freshclam_log=str(tmp_path / "freshclam.log"),
    )
    return dataclasses.replace(config, **changes)


class Probe:
    """The probe as the agent runs it: each result's cursors are committed before the next collection
    (the agent stores them in the spool with the report, then updates the context's mapping)."""

    def __init__(
        self, config: AntivirusConfig, tmp_path: Path, cursors: Mapping[str, str] | None = None
    ) -> None:
        self.committed: dict[str, str] = dict(cursors or {})
        self._collect = make_collector(config, ProbeContext(tmp_path, cursors=self.committed))

    def __call__(self) -> AntivirusResult:
        result = self._collect()
        self.committed.update(result.cursors)
        return result


def collector(config: AntivirusConfig, tmp_path: Path, cursors: Mapping[str, str] | None = None) -> Probe:
    return Probe(config, tmp_path, cursors)


def clamav_of(result: AntivirusResult) -> ProductStatus:
    found = [p for p in result.products if p.name == "ClamAV"]
    assert len(found) == 1, result
    return found[0]
