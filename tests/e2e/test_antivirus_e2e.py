"""ClamAV end to end: a real clamd, a real agent process, a real collector process, /metrics.

Shows the host's antivirus state on /metrics, and that each EICAR detection is counted exactly
once across agent restarts (SIGTERM) and crashes (kill -9): the probe's log cursor is committed
with the report that carries the detection. Also `fleetwatch-agent check`'s readable summary.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from tests.e2e.support import (
    CollectorProcess,
    ManagedProcess,
    ProcessGroup,
    console_script,
    create_token,
    read_credential,
    start_collector,
    toml_string,
    value_of,
    wait_until,
    write_token_file,
)
from tests.integration.clamav import (
    DATABASE_VERSION,
    DETECTED_AS,
    Clamd,
    build_database,
    running_clamd,
    wait_for_log,
    write_eicar,
)

pytestmark = [pytest.mark.e2e, pytest.mark.peer("clamd")]

SITE_SLUG = "xa-an-cu"
INTERVAL_SECONDS = 1
# Generous deadlines for a loaded CI runner; never a performance claim.
DEADLINE_SECONDS = 60.0
# Reports the collector must apply after an event before "nothing more changed" is believed.
SETTLE_REPORTS = 3


def antivirus_toml(clamd: Clamd, tmp_path: Path) -> str:
    """The [probes.antivirus] table pointing at the test's clamd (never the system's ClamAV)."""
    return f"""
[probes.antivirus]
clamav_database_dir = {toml_string(str(clamd.database_dir))}
clamd_socket = {toml_string(str(clamd.socket_path))}
clamd_log = {toml_string(str(clamd.log_path))}
freshclam_log = {toml_string(str(tmp_path / "freshclam.log"))}
"""


def agent_config(tmp_path: Path, clamd: Clamd, collector: CollectorProcess, token_file: Path) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[agent]
data_dir = {toml_string(str(tmp_path / "agent-data"))}
interval_seconds = {INTERVAL_SECONDS}

[site]
slug = {toml_string(SITE_SLUG)}
district = "h-cai-be"
type = "commune"

[collector]
addresses = [{toml_string(collector.grpc_address)}]
timeout_seconds = 5.0
token_file = {toml_string(str(token_file))}
"""
        + antivirus_toml(clamd, tmp_path),
        encoding="utf-8",
    )
    return path


class Fleet:
    """The collector, the agent of the test (restartable) and how to read its series."""

    def __init__(
        self, processes: ProcessGroup, collector: CollectorProcess, config: Path, data: Path
    ) -> None:
        self.processes = processes
        self.collector = collector
        self.config = config
        self.data = data
        self.starts = 0
        self.agent = self.start_agent()

    def start_agent(self) -> ManagedProcess:
        self.starts += 1
        args = [console_script("fleetwatch-agent"), "run", "--config", str(self.config)]
        self.agent = self.processes.spawn(args, f"agent-{self.starts}")
        return self.agent

    @property
    def agent_id(self) -> str:
        return read_credential(self.data)["agent_id"]

    def value(self, samples: list[Sample], name: str, **labels: str) -> float | None:
        return value_of(samples, name, agent_id=self.agent_id, **labels)

    def threats(self, samples: list[Sample]) -> float | None:
        return self.value(samples, "fleetwatch_antivirus_threats_detected_total", product="ClamAV")

    def reports(self, samples: list[Sample]) -> float:
        return self.value(samples, "fleetwatch_agent_reports_total") or 0.0

    def wait(self, what: str, predicate: Callable[[list[Sample]], bool]) -> list[Sample]:
        def scrape() -> list[Sample] | None:
            if not (self.data / "credential.json").exists():
                return None
            samples = self.collector.samples()
            return samples if predicate(samples) else None

        return wait_until(scrape, what, DEADLINE_SECONDS, 0.2, (self.collector.process, self.agent))

    def settle(self) -> list[Sample]:
        """Wait until the running agent had SETTLE_REPORTS more reports applied; that scrape."""
        start = self.reports(self.collector.samples())
        return self.wait(
            f"{SETTLE_REPORTS} more reports of {self.agent.name}",
            lambda s: self.reports(s) >= start + SETTLE_REPORTS,
        )

    def wait_threats(self, want: int) -> None:
        self.wait(f"threats_detected_total == {want}", lambda s: self.threats(s) == want)
        samples = self.settle()
        assert self.threats(samples) == want, "a detection was counted again"


def scan_eicar(clamd: Clamd, path: Path) -> None:
    write_eicar(path)
    assert clamd.scan(path) == f"{path}: {DETECTED_AS} FOUND"
    wait_for_log(clamd.log_path, f"{path}: {DETECTED_AS} FOUND")


def test_clamav_state_and_threats_counted_once_across_restarts_and_crashes(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    build_database(db)
    with running_clamd(db, log_path=tmp_path / "clamd.log") as clamd:
        collector_data = tmp_path / "collector-data"
        collector = start_collector(processes, collector_data)
        token_file = write_token_file(tmp_path / "token", create_token(collector_data, SITE_SLUG))
        config = agent_config(tmp_path, clamd, collector, token_file)
        fleet = Fleet(processes, collector, config, tmp_path / "agent-data")

        samples = fleet.wait(
            "fleetwatch_antivirus_protected == 1",
            lambda s: fleet.value(s, "fleetwatch_antivirus_protected") == 1,
        )
        assert fleet.value(samples, "fleetwatch_antivirus_state", state="protected") == 1
        for other in ("outdated", "expired", "disabled", "unknown", "not_installed"):
            assert fleet.value(samples, "fleetwatch_antivirus_state", state=other) == 0, other
        assert fleet.value(samples, "fleetwatch_antivirus_realtime_protection", product="ClamAV") == 1
        updated = fleet.value(
            samples, "fleetwatch_antivirus_signature_updated_timestamp_seconds", product="ClamAV"
        )
        assert updated is not None and 0 <= time.time() - updated < 3600, updated  # the build time
        assert (
            fleet.value(samples, "fleetwatch_antivirus_signature_version", product="ClamAV")
            == DATABASE_VERSION
        )
        protected = [s for s in samples if s.name == "fleetwatch_antivirus_protected"]
        assert protected[0].labels["site"] == SITE_SLUG
        # The state was shown, so the first collection set the log cursor: nothing counted yet.
        assert fleet.threats(fleet.settle()) is None

        scan_eicar(clamd, tmp_path / "eicar-1.com")
        fleet.wait_threats(1)

        assert fleet.agent.stop() == 0, fleet.agent.describe()  # SIGTERM: a clean stop
        fleet.start_agent()
        fleet.wait_threats(1)

        fleet.agent.kill()  # a crash: no cleanup at all
        fleet.start_agent()
        fleet.wait_threats(1)

        scan_eicar(clamd, tmp_path / "eicar-2.com")
        fleet.wait_threats(2)

        # A crash right after a detection was logged, before or after it was collected, spooled
        # or pushed: it is still counted exactly once.
        scan_eicar(clamd, tmp_path / "eicar-3.com")
        fleet.agent.kill()
        fleet.start_agent()
        fleet.wait_threats(3)

        # Detected while the agent is stopped: the restarted agent resumes from its committed
        # cursor, not from the end of the log, so the detection is not skipped.
        assert fleet.agent.stop() == 0, fleet.agent.describe()
        scan_eicar(clamd, tmp_path / "eicar-4.com")
        fleet.start_agent()
        fleet.wait_threats(4)

        clamd.stop()
        samples = fleet.wait(
            "fleetwatch_antivirus_state{state=disabled} == 1",
            lambda s: fleet.value(s, "fleetwatch_antivirus_state", state="disabled") == 1,
        )
        assert fleet.value(samples, "fleetwatch_antivirus_protected") == 0
        assert fleet.value(samples, "fleetwatch_antivirus_realtime_protection", product="ClamAV") == 0
        assert fleet.threats(samples) == 4


def run_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("fleetwatch-agent"), "check", "--no-collector", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_check_prints_a_readable_antivirus_summary(tmp_path: Path) -> None:
    db = tmp_path / "db"
    build_database(db)
    with running_clamd(db) as clamd:
        config = tmp_path / "agent.toml"
        config.write_text(
            f"[agent]\ndata_dir = {toml_string(str(tmp_path / 'agent-data'))}\n"
            + antivirus_toml(clamd, tmp_path),
            encoding="utf-8",
        )
        result = run_check(config)
        assert result.returncode == 0, result.stderr
        assert "antivirus: PROTECTED" in result.stderr
        clamav_line = next(line for line in result.stderr.splitlines() if line.startswith("  - ClamAV"))
        assert ": PROTECTED, signatures 27100, " in clamav_line
        assert "real-time protection on" in clamav_line
        document = json.loads(result.stdout)
        antivirus = document["results"]["antivirus"]
        assert antivirus["host_state"] == "protected"
        assert antivirus["products"][0]["signature_version"] == "27100"

        clamd.stop()
        result = run_check(config)
        assert result.returncode == 0, result.stderr  # a disabled antivirus is a finding, not a probe failure
        assert "antivirus: DISABLED" in result.stderr
        clamav_line = next(line for line in result.stderr.splitlines() if line.startswith("  - ClamAV"))
        assert ": DISABLED, " in clamav_line
        assert "real-time protection OFF" in clamav_line
        assert f"clamd does not answer on {clamd.socket_path}" in result.stderr
        assert json.loads(result.stdout)["results"]["antivirus"]["host_state"] == "disabled"
