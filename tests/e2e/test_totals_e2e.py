"""Counters owned by the agent, end to end: a real agent measures an outage of a loopback TCP server and
a real collector shows it on /metrics; a collector that lost its counts (as another collector, which
never saw the outage's report, would have none) shows them again from the next report's totals, and
the agent keeps its totals across a restart."""

from __future__ import annotations

import socketserver
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.fault_processes import DEADLINE_SECONDS, Collector, start_collector
from tests.e2e.support import (
    ManagedProcess,
    ProcessGroup,
    agent_toml,
    console_script,
    create_token,
    read_credential,
    toml_string,
    value_of,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e

TARGET = "svc"
OUTAGES = "fleetwatch_connectivity_outages_total"
OUTAGE_SECONDS = "fleetwatch_connectivity_outage_seconds_total"


class Quiet(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        """Accept and close: all a TCP check needs."""


class Server:
    """A TCP server on a fixed loopback port that can be stopped (refusing) and started again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Quiet)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def connectivity_toml(port: int) -> str:
    """Only the test's server is checked, every second, fast; no gateway, collector or traceroute."""
    return f"""
[probes.resources]
enabled = false
[probes.antivirus]
enabled = false
[probes.connectivity]
interval_seconds = 1
timeout_seconds = 0.8
count = 1
attempt_timeout_seconds = 0.3
gateway = false
collector = false
traceroute = false
[[probes.connectivity.targets]]
name = {toml_string(TARGET)}
kind = "tcp"
address = {toml_string(f"127.0.0.1:{port}")}
"""


def shown(collector: Collector, name: str) -> float | None:
    return value_of(collector.samples(), name, target=TARGET)


def wait_shown(collector: Collector, agent: ManagedProcess, name: str, want: float) -> None:
    watch = (collector.process, agent)
    wait_until(lambda: shown(collector, name) == want, f"{name} == {want:g}", DEADLINE_SECONDS, 0.2, watch)


def clear_counters(collector: Collector, agent_id: str) -> None:
    """Forget what the collector counted for the agent, as a collector that never saw its events."""
    db = sqlite3.connect(collector.data_dir / "collector.sqlite", timeout=10)
    try:
        with db:
            changed = db.execute("UPDATE agents SET counters = '{}' WHERE agent_id = ?", (agent_id,))
            assert changed.rowcount == 1
    finally:
        db.close()


def test_the_agents_counters_reach_metrics_from_its_totals(processes: ProcessGroup, tmp_path: Path) -> None:
    server = Server(free_port())
    server.start()
    try:
        collector = start_collector(processes, tmp_path / "collector-data")
        token = write_token_file(tmp_path / "token", create_token(collector.data_dir))
        config = tmp_path / "agent.toml"
        data_dir = tmp_path / "agent-data"
        toml = agent_toml(data_dir, collector.grpc_address, collector={"token_file": str(token)})
        config.write_text(toml + connectivity_toml(server.port), encoding="utf-8")
        command = [console_script("fleetwatch-agent"), "run", "--config", str(config)]
        agent = processes.spawn(command, "agent-1")

        wait_shown(collector, agent, "fleetwatch_connectivity_up", 1)
        server.stop()
        wait_shown(collector, agent, "fleetwatch_connectivity_up", 0)
        server.start()
        wait_shown(collector, agent, OUTAGES, 1)
        seconds = shown(collector, OUTAGE_SECONDS)
        assert seconds is not None and seconds > 0
        assert agent.stop() == 0, agent.describe()

        # The collector restarts without its counts of the agent: nothing shows them any more ...
        collector.stop()
        agent_id = read_credential(data_dir)["agent_id"]
        clear_counters(collector, agent_id)
        collector.start()
        assert shown(collector, OUTAGES) is None
        # ... until the agent, started again, reports: its totals, kept in its spool, set them again.
        agent = processes.spawn(command, "agent-2")
        wait_shown(collector, agent, OUTAGES, 1)
        assert shown(collector, OUTAGE_SECONDS) == seconds
        assert agent.stop() == 0, agent.describe()
    finally:
        server.stop()
