"""Scale check, run by hand: a central configuration reaches 4,130 simulated agents, and an invalid
one is refused and reported by every agent, which keeps the version it runs.

    .venv/bin/python -m pytest -s benchmarks/central_config_fleet.py

Real processes: a collector and `fleetwatch-sim` (4,130 agents over real gRPC, each deciding with the
agent's own code, fleetwatch_agent.centralstate, and confirming as the agent does). The configuration
is set with `fleetwatch-collector config set` against the collector's data folder, then SIGHUP.
Everything is read from /metrics. An agent learns a new version in a Push response, within one
interval, and tells the collector with its next cycle brought forward (a tenth of the interval at
most: centralstate.confirm_delay), so the collector's view needs a little over one interval. It
prints, for each change, how many agents the scrapes saw on it within one and two intervals and the
worst time, and fails when an agent was not seen on it two intervals (and 2 s for the delivery)
after the set. It is not part of the test suite: it asserts a wall-clock bound, which the shared
machines of CI cannot keep.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetwatch_collector.centralconfig import merge, validate_document, version_of
from tests.e2e.conftest import processes  # noqa: F401  (the fixture)
from tests.e2e.support import (
    CollectorProcess,
    ManagedProcess,
    ProcessGroup,
    console_script,
    create_token,
    http_get,
    run_command,
    start_collector,
    write_token_file,
)

AGENTS = 4130
INTERVAL_SECONDS = 10.0  # 413 Pushes/s: gentle enough for 2 shared cores, short enough for the test
# Beyond the two intervals: the Push of the report that shows the new version, and the collector's
# reading of it (SIGHUP makes the collector read the table at once).
DELIVERY_SECONDS = 2.0
GOOD = {"targets": [{"name": "portal", "kind": "tcp", "address": "127.0.0.1:9"}]}
# Passes the collector's schema; an agent refuses it (a dns target needs a dns_name).
INVALID = {"targets": [{"name": "resolver", "kind": "dns", "address": "127.0.0.1"}]}
AGENT_ID = re.compile(r'agent_id="([^"]*)"')
VERSION = re.compile(r'version="([^"]*)"')


@dataclass(frozen=True)
class FleetView:
    """What /metrics says of every agent: reporting, the version it runs, the version it refuses."""

    reporting: set[str]
    running: dict[str, str]
    refusing: dict[str, str]


def read_view(collector: CollectorProcess) -> FleetView:
    """The agents' configuration series, read line by line (the page holds the whole fleet)."""
    status, body = http_get(collector.metrics_url, timeout=30.0)
    assert status == 200, body[:500]
    reporting: set[str] = set()
    running: dict[str, str] = {}
    refusing: dict[str, str] = {}
    for line in body.splitlines():
        if not line.startswith("fleetwatch_agent_"):
            continue
        found = AGENT_ID.search(line)
        if found is None:
            continue
        if line.startswith("fleetwatch_agent_reports_total{"):
            reporting.add(found.group(1))
        elif line.startswith(("fleetwatch_agent_config_info{", "fleetwatch_agent_config_refused{")):
            version = VERSION.search(line)
            assert version is not None, line
            into = running if line.startswith("fleetwatch_agent_config_info{") else refusing
            into[found.group(1)] = version.group(1)
    return FleetView(reporting, running, refusing)


def version_of_document(document: Mapping[str, object]) -> str:
    return version_of(merge([validate_document(document)]))


def write_document(path: Path, document: dict[str, list[dict[str, str]]]) -> Path:
    lines = []
    for entry in document["targets"]:
        lines.append("[[targets]]")
        lines.extend(f'{key} = "{value}"' for key, value in entry.items())
    path.write_text("\n".join(lines) + "\n")
    return path


def set_everywhere(collector: CollectorProcess, data_dir: Path, document: Path) -> float:
    """`config set --scope all` then SIGHUP; the monotonic time the collector was told."""
    result = run_command(
        "fleetwatch-collector", "config", "set", "--scope", "all", str(document), "--data-dir", str(data_dir)
    )
    assert result.returncode == 0, result.stderr
    collector.process.popen.send_signal(signal.SIGHUP)
    return time.monotonic()


@dataclass(frozen=True)
class Convergence:
    """When each agent was first seen on the wanted version, in seconds after the set (upper bounds:
    the end of the scrape that showed it; scrapes follow each other about a second apart)."""

    seconds: dict[str, float]

    def within(self, bound: float) -> int:
        return sum(1 for t in self.seconds.values() if t <= bound)

    @property
    def worst(self) -> float:
        return max(self.seconds.values())

    def summary(self, what: str) -> str:
        bound = 2 * INTERVAL_SECONDS
        return (
            f"{what}: {self.within(bound)} of {AGENTS} agents within two intervals "
            f"(2 x {INTERVAL_SECONDS:g} s), "
            f"{self.within(INTERVAL_SECONDS)} within one; worst {self.worst:.1f} s "
            f"({self.worst / INTERVAL_SECONDS:.2f} intervals) after the set"
        )


def converge(
    collector: CollectorProcess,
    since: float,
    lagging: Callable[[FleetView], list[str]],
    what: str,
    watch: tuple[ManagedProcess, ...],
) -> tuple[FleetView, Convergence]:
    """Scrape until no agent lags (at most four intervals), noting when each agent was first seen on
    time; fails when one was not by two intervals and the delivery after ``since``."""
    seconds: dict[str, float] = {}
    while True:
        view = read_view(collector)
        done = time.monotonic() - since
        late = set(lagging(view))
        for agent in view.reporting - late:
            seconds.setdefault(agent, done)
        if not late:
            break
        for process in watch:
            assert process.returncode is None, f"{process.name} exited\n{process.describe()}"
        if done > 4 * INTERVAL_SECONDS:
            pytest.fail(
                f"{len(late)} of {AGENTS} agents not {what} four intervals after the set: {sorted(late)[:5]}"
            )
        time.sleep(1.0)  # a scrape renders the whole fleet: not too often
    convergence = Convergence(seconds)
    print(convergence.summary(what))
    bound = 2 * INTERVAL_SECONDS + DELIVERY_SECONDS
    late_ones = sorted(agent for agent, t in seconds.items() if t > bound)
    assert not late_ones, (
        f"{len(late_ones)} of {AGENTS} agents not {what} two intervals (and {DELIVERY_SECONDS:g} s for the "
        f"delivery) after the set; e.g. {late_ones[:5]}"
    )
    return view, convergence


def test_a_configuration_reaches_the_whole_fleet_and_an_invalid_one_is_refused_by_all(
    tmp_path: Path,
    processes: ProcessGroup,  # noqa: F811  (the fixture imported above)
) -> None:
    data_dir = tmp_path / "collector"
    config = tmp_path / "collector.toml"
    config.write_text(
        "[fleet]\ncheck_seconds = 1.0\n"
        # The whole fleet enrols at once from loopback.
        "[enrolment]\nper_second = 5000.0\nburst = 5000\n"
    )
    collector = start_collector(processes, data_dir, config=config)
    token_file = write_token_file(tmp_path / "token", create_token(data_dir))
    sim = processes.spawn(
        [
            console_script("fleetwatch-sim"),
            "--collector",
            collector.grpc_address,
            "--agents",
            str(AGENTS),
            "--interval",
            f"{INTERVAL_SECONDS:g}",
            "--duration",
            "170",
            "--token-file",
            str(token_file),
            "--no-probes",
        ],
        "fleetwatch-sim",
    )
    watch = (collector.process, sim)

    started = time.monotonic()
    while len(read_view(collector).reporting) < AGENTS:
        for process in watch:
            assert process.returncode is None, f"{process.name} exited\n{process.describe()}"
        assert time.monotonic() - started < 90, "the simulated fleet did not report whole in 90 s"
        time.sleep(1.0)

    good = version_of_document(GOOD)
    since = set_everywhere(collector, data_dir, write_document(tmp_path / "good.toml", GOOD))
    view, _ = converge(
        collector,
        since,
        lambda v: [a for a in v.reporting if v.running.get(a) != good],
        f"running {good}",
        watch,
    )
    assert len(view.reporting) == AGENTS and not view.refusing

    bad = version_of_document(INVALID)
    since = set_everywhere(collector, data_dir, write_document(tmp_path / "invalid.toml", INVALID))
    view, _ = converge(
        collector,
        since,
        lambda v: [a for a in v.reporting if v.refusing.get(a) != bad or v.running.get(a) != good],
        f"refusing {bad} while running {good}",
        watch,
    )
    assert len(view.reporting) == AGENTS
