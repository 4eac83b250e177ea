"""Two-collector tests: a cluster member process, its configuration, what its /metrics says of each agent."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.support import ManagedProcess, ProcessGroup, console_script, http_get, toml_string, wait_until

UP = "fleetwatch_agent_up"
THREATS = "fleetwatch_antivirus_threats_detected_total"
OUTAGES = "fleetwatch_connectivity_outages_total"

LINE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Counts = dict[str, dict[str, float]]  # agent id -> product (or target) -> count


@dataclass
class View:
    """What one collector's /metrics says of each agent: agent_up, threats by product, outages by target."""

    up: dict[str, float] = field(default_factory=dict)
    threats: Counts = field(default_factory=dict)
    outages: Counts = field(default_factory=dict)


def read_view(text: str) -> View:
    view = View()
    for line in text.splitlines():
        if not line.startswith((UP, THREATS, OUTAGES)):
            continue
        match = LINE.match(line)
        if match is None:
            continue
        name, labels, value = match.group(1), dict(LABEL.findall(match.group(2))), float(match.group(3))
        agent_id = labels["agent_id"]
        if name == UP:
            view.up[agent_id] = value
        elif name == THREATS and value:
            view.threats.setdefault(agent_id, {})[labels["product"]] = value
        elif name == OUTAGES and value:
            view.outages.setdefault(agent_id, {})[labels["target"]] = value
    return view


@dataclass
class Member:
    """A collector process of the cluster, on fixed loopback ports, killed and started again at will."""

    group: ProcessGroup
    config: Path
    address: str
    http: str
    runs: list[ManagedProcess] = field(default_factory=list)

    def start(self) -> float:
        """Started and ready; the monotonic time it was."""
        process = self.group.spawn(
            [console_script("fleetwatch-collector"), "run", "--config", str(self.config)],
            f"{self.config.stem}-{len(self.runs) + 1}",
        )
        self.runs.append(process)
        wait_until(lambda: self._health() == 200, f"{process.name} /healthz", 60.0, 0.05, (process,))
        return time.monotonic()

    def _health(self) -> int:
        try:
            return http_get(f"http://{self.http}/healthz", timeout=2.0)[0]
        except OSError:
            return 0

    def view(self) -> View:
        status, body = http_get(f"http://{self.http}/metrics", timeout=30.0)
        assert status == 200, f"{self.address} /metrics: {status}\n{self.runs[-1].describe()}"
        return read_view(body)


def member_config(
    tmp_path: Path,
    name: str,
    ports: tuple[int, int],
    members: list[str],
    key: Path,
    check: float,
    handover: float,
) -> Path:
    address = f"127.0.0.1:{ports[0]}"
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""
[server]
grpc_listen = {toml_string(address)}
http_listen = {toml_string(f"127.0.0.1:{ports[1]}")}
data_dir = {toml_string(str(tmp_path / name))}
[fleet]
check_seconds = {check}
[cluster]
members = [{", ".join(toml_string(m) for m in members)}]
self = {toml_string(address)}
key_file = {toml_string(str(key))}
handover_seconds = {handover}
""",
        encoding="utf-8",
    )
    return path
