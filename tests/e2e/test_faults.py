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
import time
from pathlib import Path

import pytest

from tests.e2e.delivery_checks import (
    agent_value,
    assert_delivered_once,
    require_spool_log,
    stop_when_drained,
    wait_reporting,
)
from tests.e2e.fault_processes import (
    DEADLINE_SECONDS,
    SPOOLED_RE,
    make_agent,
    spool_dropped_total,
    start_collector,
)
from tests.e2e.support import ProcessGroup, console_script, create_token, value_of, wait_until

pytestmark = pytest.mark.e2e

SITE = "xa-an-cu"
ENDED_RE = re.compile(r"simulation ended: (\d+) reports made, (\d+) acknowledged")


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
