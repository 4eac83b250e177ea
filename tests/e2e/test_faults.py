"""Faults with real processes: agents killed while sending, collector restarts under load, outages longer
than the spool bound, a corrupt spool. Every report an agent durably spooled is delivered exactly once or
counted as dropped.

Ground truth is the agent's own DEBUG line "spooled report seq=N", logged once a report is durably in the
spool; seqs found in the spool file after a SIGKILL are added (a kill can fall between the commit and the
log line).
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.samples import Sample

from tests.e2e.support import (
    ManagedProcess,
    ProcessGroup,
    console_script,
    http_get,
    parse_samples,
    toml_string,
    two_free_ports,
    value_of,
    wait_until,
)

pytestmark = pytest.mark.e2e

SITE = "xa-h-cai-be-01"
# Generous: a loaded runner may take long; never a performance claim.
DEADLINE_SECONDS = 60.0
SPOOLED_RE = re.compile(r"spooled report seq=(\d+)")
ENDED_RE = re.compile(r"simulation ended: (\d+) reports made, (\d+) acknowledged")
MISSING_LOG = (
    "the agent logged no 'spooled report seq=N' line at DEBUG although it delivered reports; "
    "design.md promises one per durably spooled report (agent.log_level = 'debug')"
)


# ---------------------------------------------------------------------------------------------------
# Local helpers


def create_token(data_dir: Path, site: str | None) -> str:
    """`fleetwatch-collector token create` for ``site`` (None: any site); the token from stdout."""
    where = ["--site", site] if site else ["--any-site"]
    result = subprocess.run(
        [console_script("fleetwatch-collector"), "token", "create", *where, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"token create failed: {result.stderr}"
    token = result.stdout.strip()
    assert token.startswith("fwt1."), f"unexpected token output {result.stdout!r}"
    return token


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
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    spool = f"\n[spool]\nmax_reports = {spool_max_reports}\n" if spool_max_reports else ""
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f"""
[agent]
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


def require_spool_log(agent: Agent) -> None:
    """Called once the agent delivered a report: its spool line was logged before the push."""
    assert agent.logged_seqs(), f"{MISSING_LOG}\n{agent.describe()}"


def agent_value(samples: list[Sample], name: str, agent_id: str) -> float | None:
    return value_of(samples, name, agent_id=agent_id)


def wait_reporting(collector: Collector, agent: Agent, more_than: float = 0) -> tuple[str, float]:
    """Wait until the agent is enrolled and its reports_total exceeds ``more_than``."""

    def check() -> tuple[str, float] | None:
        agent_id = agent.agent_id()
        if agent_id is None:
            return None
        total = agent_value(collector.samples(), "fleetwatch_agent_reports_total", agent_id)
        return (agent_id, total) if total is not None and total > more_than else None

    return wait_until(
        check,
        f"{agent.name} reports_total > {more_than:g}",
        DEADLINE_SECONDS,
        0.2,
        (collector.process, agent.process),
    )


def stop_when_drained(collector: Collector, agent: Agent, agent_id: str) -> set[int]:
    """Wait for a fresh report saying the spool was empty, SIGTERM the agent; the seqs still spooled."""
    since = time.time()

    def drained() -> bool:
        samples = collector.samples()
        last = agent_value(samples, "fleetwatch_agent_last_report_timestamp_seconds", agent_id) or 0
        return last > since and agent_value(samples, "fleetwatch_agent_spool_reports", agent_id) == 0

    wait_until(
        drained, f"{agent.name}'s spool drained", DEADLINE_SECONDS, 0.2, (collector.process, agent.process)
    )
    agent.stop()
    return spool_contents(agent.data_dir)


def covered(applied_json: str, seqs: set[int]) -> set[int]:
    """The seqs NOT covered by an AppliedSeqs JSON [watermark, [above...]]."""
    watermark, above = json.loads(applied_json)
    above_set = set(above)
    return {s for s in seqs if s > watermark and s not in above_set}


def assert_delivered_once(collector: Collector, agent: Agent, agent_id: str, still_spooled: set[int]) -> None:
    """reports_total (metrics and store) == distinct spooled seqs not held any more; store covers them."""
    spooled = agent.spooled()
    assert agent.logged_seqs() or not spooled, MISSING_LOG
    assert still_spooled <= spooled, f"spool holds seqs never logged: {sorted(still_spooled - spooled)}"
    delivered = spooled - still_spooled
    total = agent_value(collector.samples(), "fleetwatch_agent_reports_total", agent_id)
    assert total == len(delivered), (
        f"{agent.name}: fleetwatch_agent_reports_total={total}, but {len(delivered)} distinct reports "
        f"were spooled and delivered ({len(spooled)} spooled, {len(still_spooled)} still in the spool)\n"
        f"{agent.describe()}"
    )
    row = collector.store_row(agent_id)
    assert row is not None, f"{agent_id} missing from the collector's store"
    applied, stored_total = row
    assert stored_total == len(delivered), f"store reports_total={stored_total}, expected {len(delivered)}"
    missing = covered(applied, delivered)
    assert not missing, f"store's applied {applied[:200]} misses spooled seqs {sorted(missing)[:20]}"


# ---------------------------------------------------------------------------------------------------
# (a) SIGKILL while sending


def test_agent_killed_while_sending_delivers_every_spooled_report_once(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir)
    agent = make_agent(processes, tmp_path, "agent", collector, token)
    agent.start()
    agent_id, _ = wait_reporting(collector, agent)
    require_spool_log(agent)

    def applied() -> float:
        return value_of(collector.samples(), "fleetwatch_collector_reports_applied_total") or 0

    kills = 9
    for number in range(kills):
        process = agent.process
        applied_before = applied()
        # Wait for a report spooled by this run: it is being pushed right now.
        wait_until(
            lambda process=process: SPOOLED_RE.search(process.stderr()),
            f"a report spooled by {process.name}",
            DEADLINE_SECONDS,
            0.005,
            (process, collector.process),
        )
        if number % 3 == 0:  # mid-push
            time.sleep(rng.uniform(0.0, 0.015))
        elif number % 3 == 1:  # just acknowledged: likely before the agent deleted it from its spool
            wait_until(
                lambda applied_before=applied_before: applied() > applied_before,
                "the collector to apply a report",
                DEADLINE_SECONDS,
                0.001,
                (process, collector.process),
            )
        else:  # any moment
            time.sleep(rng.uniform(0.05, 1.5))
        agent.kill()
        agent.start()

    time.sleep(2.0)  # a few reports from the last run too
    still_spooled = stop_when_drained(collector, agent, agent_id)

    samples = collector.samples()
    duplicates = value_of(samples, "fleetwatch_collector_reports_duplicate_total") or 0
    applied_total = value_of(samples, "fleetwatch_collector_reports_applied_total")
    total = agent_value(samples, "fleetwatch_agent_reports_total", agent_id)
    # One agent, one collector run: the collector's own counter must agree (no report applied twice).
    assert applied_total == total, f"reports_applied_total={applied_total}, agent reports_total={total}"
    assert_delivered_once(collector, agent, agent_id, still_spooled)
    print(f"seed={seed} spooled={len(agent.spooled())} duplicates={duplicates:g}")


# ---------------------------------------------------------------------------------------------------
# (b) collector restart under a simulated fleet


def test_collector_restart_under_load_loses_and_doubles_nothing(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    data_dir = tmp_path / "collector-data"
    site_token = create_token(data_dir, SITE)
    any_token_file = tmp_path / "any-site.token"
    any_token_file.write_text(create_token(data_dir, None) + "\n")
    state_file = tmp_path / "sim-state.json"
    collector = start_collector(processes, data_dir)

    agents = [make_agent(processes, tmp_path, f"agent{i}", collector, site_token) for i in (1, 2)]
    for agent in agents:
        agent.start()
    sim_agents = 40
    simulator = processes.spawn(
        [
            console_script("fleetwatch-sim"),
            "--collector",
            collector.grpc_address,
            "--agents",
            str(sim_agents),
            "--interval",
            "1",
            "--duration",
            "20",
            "--token-file",
            str(any_token_file),
            "--state-file",
            str(state_file),
        ],
        "simulate",
    )
    everyone = sim_agents + len(agents)

    def all_up() -> bool:
        return value_of(collector.samples(), "fleetwatch_collector_agents", state="up") == everyone

    watch = (collector.process, simulator, *(a.process for a in agents))
    wait_until(all_up, f"{everyone} agents up", DEADLINE_SECONDS, 0.2, watch)
    ids = [wait_reporting(collector, agent)[0] for agent in agents]
    for agent in agents:
        require_spool_log(agent)

    collector.stop()
    time.sleep(6.0)
    assert simulator.returncode is None, (
        f"the simulator exited while the collector was down\n{simulator.describe()}"
    )
    for agent in agents:
        assert agent.process.returncode is None, (
            f"agent died while the collector was down\n{agent.describe()}"
        )
    restarted = time.time()
    collector.start()
    # Each agent is seen up again with a report collected after the restart. Not all at once: the
    # simulation may end, and a real agent may be in a long backoff, before the last one is back.
    sim_ids = [agent_id for agent_id, _ in json.loads(state_file.read_text()).values()]
    assert len(sim_ids) == sim_agents
    waiting = {*sim_ids, *ids}

    def all_back() -> bool:
        samples = collector.samples()
        for agent_id in list(waiting):
            last = agent_value(samples, "fleetwatch_agent_last_report_timestamp_seconds", agent_id) or 0
            if agent_value(samples, "fleetwatch_agent_up", agent_id) == 1 and last > restarted:
                waiting.discard(agent_id)
        return not waiting

    watch = (collector.process, *(a.process for a in agents))
    wait_until(all_back, "every agent up again after the restart", 2 * DEADLINE_SECONDS, 0.2, watch)

    assert simulator.wait(DEADLINE_SECONDS) == 0, simulator.describe()
    ended = ENDED_RE.search(simulator.stderr())
    assert ended, f"no 'simulation ended' line\n{simulator.describe()}"
    made, acked = int(ended.group(1)), int(ended.group(2))
    still = [
        stop_when_drained(collector, agent, agent_id) for agent, agent_id in zip(agents, ids, strict=True)
    ]

    samples = collector.samples()
    sim_totals = [agent_value(samples, "fleetwatch_agent_reports_total", i) for i in sim_ids]
    assert None not in sim_totals, f"simulated agents missing from /metrics: {sim_totals}"
    sim_sum = sum(t for t in sim_totals if t is not None)
    assert acked == made, f"the simulator made {made} reports but only {acked} were acknowledged"
    assert sim_sum == made, f"sum of reports_total over simulated agents {sim_sum:g} != {made} reports made"
    for agent, agent_id, held in zip(agents, ids, still, strict=True):
        assert_delivered_once(collector, agent, agent_id, held)


# ---------------------------------------------------------------------------------------------------
# (c) outage longer than the spool bound


def test_outage_beyond_spool_bound_drops_and_counts_the_oldest(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir)
    agent = make_agent(processes, tmp_path, "agent", collector, token, spool_max_reports=5)
    agent.start()
    agent_id, before = wait_reporting(collector, agent)
    require_spool_log(agent)

    collector.stop()
    time.sleep(10.0)
    assert agent.process.returncode is None, f"the agent died during the outage\n{agent.describe()}"
    assert "spool bound hit" in agent.process.stderr(), "10 reports at 1 s into a spool of 5 dropped none"
    collector.start()
    agent_id, _ = wait_reporting(collector, agent, more_than=before)
    still_spooled = stop_when_drained(collector, agent, agent_id)

    spooled = agent.spooled()
    samples = collector.samples()
    total = agent_value(samples, "fleetwatch_agent_reports_total", agent_id)
    dropped = agent_value(samples, "fleetwatch_agent_spool_dropped_reports_total", agent_id)
    assert total is not None
    assert dropped is not None and dropped > 0, f"spool_dropped_reports_total={dropped}"
    assert dropped == spool_dropped_total(agent.data_dir), "the exposed drop count differs from the spool's"
    assert total + dropped == len(spooled) - len(still_spooled), (
        f"{len(spooled)} spooled ({len(still_spooled)} still held): {total:g} delivered + {dropped:g} "
        f"dropped; every report must be delivered or counted as dropped, never both\n{agent.describe()}"
    )


# ---------------------------------------------------------------------------------------------------
# (d) corrupt spool


def test_corrupt_spool_is_moved_aside_and_reporting_continues(
    processes: ProcessGroup, tmp_path: Path
) -> None:
    data_dir = tmp_path / "collector-data"
    token = create_token(data_dir, SITE)
    collector = start_collector(processes, data_dir)
    agent = make_agent(processes, tmp_path, "agent", collector, token)
    agent.start()
    wait_reporting(collector, agent, more_than=1)
    agent.stop()

    _, before = wait_reporting(collector, agent)
    spool = agent.data_dir / "spool.sqlite"
    spool.write_bytes(random.Random(7).randbytes(64 * 1024))
    for suffix in ("-wal", "-shm"):
        Path(f"{spool}{suffix}").unlink(missing_ok=True)

    agent.start()
    wait_until(
        lambda: "is corrupt" in agent.process.stderr(),
        "the agent to log the corrupt spool",
        DEADLINE_SECONDS,
        0.1,
        (agent.process,),
    )
    aside = sorted(p.name for p in agent.data_dir.iterdir() if p.name.startswith("spool.sqlite.corrupt-"))
    assert aside, f"no spool.sqlite.corrupt-* in {sorted(os.listdir(agent.data_dir))}"
    assert aside[0] in agent.process.stderr(), "the log does not name where the corrupt spool went"
    wait_reporting(collector, agent, more_than=before + 2)
    assert agent.process.returncode is None
