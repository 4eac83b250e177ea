"""The namespace lab of the edge outage tests: a collector and an agent inside the agent namespace.

Each is stopped and started again at will; /metrics and the agent's spool are read from inside.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from prometheus_client.samples import Sample

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import (
    ManagedProcess,
    ProcessGroup,
    agent_toml,
    console_script,
    create_token,
    find_samples,
    parse_samples,
    value_of,
    wait_until,
)
from tests.integration import netns

T = TypeVar("T")

INTERVAL_SECONDS = 1.0
# Fixed ports: the agent namespace is new, nothing else listens on its loopback; the collector is
# started again on the same ones.
GRPC_PORT = 50051
HTTP_PORT = 9464
# Generous: a loaded runner may be slow; the agent may be in push backoff (up to 16 s here).
DEADLINE_SECONDS = 60.0
TARGET = "server"
LOOPBACK_ONLY_ENV = "FLEETWATCH_LOOPBACK_ONLY"
SITE = "xa-an-cu"  # a built-in site

# Prints {"status": ..., "body": ...} for a GET, run inside a namespace; status 0 when nothing answers.
FETCH_SNIPPET = """
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        print(json.dumps({"status": response.status, "body": response.read().decode()}))
except urllib.error.HTTPError as exc:
    print(json.dumps({"status": exc.code, "body": exc.read().decode(errors="replace")}))
except Exception as exc:
    print(json.dumps({"status": 0, "body": repr(exc)}))
"""


@dataclass
class Lab:
    """The three namespaces, and a collector and an agent that can each be stopped and started again."""

    network: netns.Network
    group: ProcessGroup
    tmp_path: Path
    traceroute: bool
    collector_runs: list[ManagedProcess] = field(default_factory=list)
    agent_runs: list[ManagedProcess] = field(default_factory=list)

    @property
    def collector_dir(self) -> Path:
        return self.tmp_path / "collector"

    @property
    def agent_dir(self) -> Path:
        return self.tmp_path / "agent"

    @property
    def config(self) -> Path:
        return self.tmp_path / "agent.toml"

    @property
    def server_address(self) -> str:
        return self.network.address("server", "router")

    def in_agent_ns(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.network.namespaces["agent"], *command]

    # ---- HTTP from inside the agent namespace --------------------------------------------------

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{HTTP_PORT}{path}"
        answer = self.network.python("agent", FETCH_SNIPPET, url)
        return int(answer["status"]), str(answer["body"])

    def samples(self) -> list[Sample]:
        status, body = self.get("/metrics")
        assert status == 200, f"/metrics: {status} {body[:300]}\n{self.describe()}"
        return parse_samples(body)

    def value(self, name: str, **labels: str) -> float | None:
        return value_of(self.samples(), name, **labels)

    # ---- processes -----------------------------------------------------------------------------

    def start_collector(self) -> None:
        process = self.group.spawn(
            self.in_agent_ns(
                console_script("fleetwatch-collector"),
                "run",
                "--grpc-listen",
                f"127.0.0.1:{GRPC_PORT}",
                "--http-listen",
                f"127.0.0.1:{HTTP_PORT}",
                "--data-dir",
                str(self.collector_dir),
            ),
            f"collector-{len(self.collector_runs) + 1}",
        )
        self.collector_runs.append(process)
        wait_until(
            lambda: self.get("/healthz")[0] == 200,
            f"{process.name} /healthz",
            DEADLINE_SECONDS,
            0.2,
            watch=(process,),
        )

    def stop_collector(self) -> None:
        process = self.collector_runs[-1]
        assert process.stop() == 0, f"collector did not exit cleanly on SIGTERM\n{process.describe()}"

    def enroll(self) -> None:
        """Write the agent's config and enrol it (inside the namespace: the collector is on its loopback)."""
        token = create_token(self.collector_dir, SITE)
        targets = (
            "\n[[probes.connectivity.targets]]\n"
            f'name = "{TARGET}"\nkind = "icmp"\naddress = "{self.server_address}"\n'
        )
        self.config.write_text(
            agent_toml(self.agent_dir, f"127.0.0.1:{GRPC_PORT}", interval=INTERVAL_SECONDS)
            + f"""
[probes.resources]
enabled = false

[probes.antivirus]
enabled = false

[probes.connectivity]
enabled = true
count = 3
spacing_seconds = 0.2
attempt_timeout_seconds = 0.5
gateway = false
collector = false
dns_name = ""
traceroute = {str(self.traceroute).lower()}
{targets}""",
            encoding="utf-8",
        )
        agent = console_script("fleetwatch-agent")
        self.network.run(
            "agent",
            agent,
            "enroll",
            "--collector",
            f"127.0.0.1:{GRPC_PORT}",
            "--token",
            token,
            "--config",
            str(self.config),
        )

    def start_agent(self) -> None:
        # `ip netns exec` and `env` exec the agent in place: SIGTERM from stop() reaches the agent.
        process = self.group.spawn(
            self.in_agent_ns(
                "env",
                "-u",
                LOOPBACK_ONLY_ENV,
                console_script("fleetwatch-agent"),
                "run",
                "--config",
                str(self.config),
            ),
            f"agent-{len(self.agent_runs) + 1}",
        )
        self.agent_runs.append(process)

    def stop_agent(self) -> None:
        process = self.agent_runs[-1]
        assert process.stop() == 0, f"agent did not exit cleanly on SIGTERM\n{process.describe()}"

    def running(self) -> tuple[ManagedProcess, ...]:
        return tuple(p for p in (*self.collector_runs[-1:], *self.agent_runs[-1:]) if p.returncode is None)

    def describe(self) -> str:
        return "\n".join(p.describe() for p in (*self.collector_runs[-2:], *self.agent_runs[-2:]))

    def wait(self, check: Callable[[], T | None], what: str) -> T:
        """Poll ``check`` until it returns a truthy value; fails early if the collector or agent exits."""
        return wait_until(check, what, DEADLINE_SECONDS, 0.2, watch=self.running())

    # ---- the agent's spool (reports it could not deliver yet) ------------------------------------

    def spooled_reports(self) -> list[pb.Report]:
        db = sqlite3.connect(self.agent_dir / "spool.sqlite", timeout=10)
        try:
            rows = db.execute("SELECT body FROM reports ORDER BY seq").fetchall()
        finally:
            db.close()
        return [pb.Report.FromString(body) for (body,) in rows]


def server_status(report: pb.Report) -> pb.TargetResult | None:
    for target in report.connectivity.targets:
        if target.name == TARGET:
            return target
    return None


def failure_reasons(samples: list[Sample]) -> set[str]:
    return {
        s.labels["reason"]
        for s in find_samples(samples, "fleetwatch_connectivity_failure_info", target=TARGET)
    }
