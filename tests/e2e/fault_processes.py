"""The fault tests' collector and agents, restartable at will, and what their store and spool hold."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.samples import Sample

from tests.e2e.support import (
    ManagedProcess,
    ProcessGroup,
    console_script,
    http_get,
    parse_samples,
    toml_string,
    two_free_ports,
    wait_until,
    write_token_file,
)

# Generous: a loaded runner may take long; never a performance claim.
DEADLINE_SECONDS = 60.0
# The agent's DEBUG line once a report is durably in the spool: the ground truth of the fault tests.
SPOOLED_RE = re.compile(r"spooled report seq=(\d+)")


@dataclass
class Collector:
    """A collector on fixed loopback ports, so it can be stopped and started again on the same ones."""

    group: ProcessGroup
    data_dir: Path
    grpc_port: int
    http_port: int
    runs: list[ManagedProcess] = field(default_factory=list)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def process(self) -> ManagedProcess:
        return self.runs[-1]

    def start(self) -> None:
        process = self.group.spawn(
            [
                console_script("fleetwatch-collector"),
                "run",
                "--grpc-listen",
                self.grpc_address,
                "--http-listen",
                f"127.0.0.1:{self.http_port}",
                "--data-dir",
                str(self.data_dir),
            ],
            f"collector-{len(self.runs) + 1}",
        )
        self.runs.append(process)
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2.0)[0] == 200,
            f"{process.name} /healthz",
            DEADLINE_SECONDS,
            watch=(process,),
        )

    def stop(self) -> None:
        code = self.process.stop()
        assert code == 0, f"collector did not exit cleanly on SIGTERM\n{self.process.describe()}"

    def samples(self) -> list[Sample]:
        status, body = http_get(f"http://127.0.0.1:{self.http_port}/metrics")
        assert status == 200, f"/metrics: {status} {body[:300]}\n{self.process.describe()}"
        return parse_samples(body)

    def store_row(self, agent_id: str) -> tuple[str, int] | None:
        """(applied JSON, reports_total) of an agent as committed in the collector's SQLite store."""
        db = sqlite3.connect(self.data_dir / "collector.sqlite", timeout=10)
        try:
            row = db.execute(
                "SELECT applied, reports_total FROM agents WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        finally:
            db.close()
        return None if row is None else (str(row[0]), int(row[1]))


def start_collector(group: ProcessGroup, data_dir: Path) -> Collector:
    """A collector on two free loopback ports, started and ready; restart it with stop() and start()."""
    collector = Collector(group, data_dir, *two_free_ports())
    collector.start()
    return collector


def spool_contents(data_dir: Path) -> set[int]:
    """Seqs in the agent's spool file; only while no agent process uses it."""
    path = data_dir / "spool.sqlite"
    if not path.exists():
        return set()
    db = sqlite3.connect(path, timeout=10)
    try:
        return {int(seq) for (seq,) in db.execute("SELECT seq FROM reports")}
    finally:
        db.close()


def spool_dropped_total(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "spool.sqlite", timeout=10)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()
    finally:
        db.close()
    return int(row[0]) if row else 0


@dataclass
class Agent:
    """A real `fleetwatch-agent run`, started again as often as needed with the same config and data."""

    group: ProcessGroup
    name: str
    config: Path
    data_dir: Path
    runs: list[ManagedProcess] = field(default_factory=list)
    # Seqs found in the spool after a SIGKILL: durably spooled even if the log line was cut off.
    found_after_kill: set[int] = field(default_factory=set)

    @property
    def process(self) -> ManagedProcess:
        return self.runs[-1]

    def start(self) -> ManagedProcess:
        process = self.group.spawn(
            [console_script("fleetwatch-agent"), "run", "--config", str(self.config)],
            f"{self.name}-{len(self.runs) + 1}",
        )
        self.runs.append(process)
        return process

    def kill(self) -> None:
        self.process.kill()
        self.found_after_kill |= spool_contents(self.data_dir)

    def stop(self) -> None:
        code = self.process.stop()
        assert code == 0, f"{self.process.name} did not exit cleanly on SIGTERM\n{self.process.describe()}"

    def logged_seqs(self) -> list[int]:
        return [int(m) for run in self.runs for m in SPOOLED_RE.findall(run.stderr())]

    def spooled(self) -> set[int]:
        return set(self.logged_seqs()) | self.found_after_kill

    def agent_id(self) -> str | None:
        try:
            return str(json.loads((self.data_dir / "credential.json").read_text())["agent_id"])
        except (OSError, ValueError, KeyError):
            return None

    def describe(self) -> str:
        return "\n".join(run.describe() for run in self.runs[-3:])


def make_agent(
    group: ProcessGroup,
    tmp_path: Path,
    name: str,
    collector: Collector,
    token: str,
    spool_max_reports: int | None = None,
) -> Agent:
    data_dir = tmp_path / f"{name}-data"
    token_file = tmp_path / f"{name}.token"
    write_token_file(token_file, token)
    spool = f"\n[spool]\nmax_reports = {spool_max_reports}\n" if spool_max_reports else ""
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f"""
[agent]
# Each test agent is a machine of its own (they share this host's machine id).
id = {toml_string("e2e-" + name)}
data_dir = {toml_string(str(data_dir))}
interval_seconds = 1
log_level = "debug"

[collector]
addresses = [{toml_string(collector.grpc_address)}]
timeout_seconds = 5.0
token_file = {toml_string(str(token_file))}
{spool}""",
        encoding="utf-8",
    )
    return Agent(group, name, config, data_dir)
