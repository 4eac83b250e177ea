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


# --- The probe without root's file-permission override --------------------------------------------------
#
# Tests run as root here, and root reads any file whatever its mode. To show an unreadable file,
# the probe runs in a child process that keeps uid 0 but loses CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH (setpriv): a file of mode 000 is then unreadable, as for the agent's user.


def collect_without_file_override(
    config: AntivirusConfig, tmp_path: Path, cursors: Mapping[str, str]
) -> dict[str, Any]:
    """One collection in a child process that file modes bind; the result as a dict."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, require_program

    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = require_program("setpriv", "apt-get install util-linux")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    request = {"config": dataclasses.asdict(config), "data_dir": str(tmp_path), "cursors": dict(cursors)}
    completed = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.integration.clamav_probe", json.dumps(request)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _child(argument: str) -> None:
    import json

    request = json.loads(argument)
    context = ProbeContext(Path(request["data_dir"]), cursors=request["cursors"])
    result = make_collector(AntivirusConfig(**request["config"]), context)()
    print(json.dumps(dataclasses.asdict(result)))


if __name__ == "__main__":
    import sys

    _child(sys.argv[1])
