"""Probes at different intervals: each cycle runs those due; the collector keeps every probe's last run."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from fleetwatch_agent import credentials
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.credentials import AgentCredential
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.resources import ResourcesConfig
from fleetwatch_agent.runner import BoundProbe
from fleetwatch_agent.service import AgentService
from fleetwatch_collector import enrolment
from tests.agent.inprocess import any_site_token, grpc_address, poll, running_collector

SLOW_EVERY = 3  # cycles
REPORTS = 10
Seen = dict[int, tuple[int, int, dict[str, int]]]  # seq -> (collected ms, interval, ran ms by probe)


def test_each_cycle_runs_the_probes_due_and_the_collector_keeps_each_probes_last_run(tmp_path: Path) -> None:
    calls = {"fast": 0, "slow": 0}

    def counting(name: str) -> BoundProbe:
        def collect() -> object:
            calls[name] += 1
            return None  # no section: the outcome is what this test follows

        return BoundProbe(name, collect, 0.5, 1.0 if name == "fast" else float(SLOW_EVERY))

    def two_probes(section: ProbesSection, context: ProbeContext) -> tuple[BoundProbe, ...]:
        return (counting("fast"), counting("slow"))

    async def scenario() -> Seen:
        seen: Seen = {}
        async with running_collector(tmp_path / "collector") as server:
            enrolled = enrolment.enrol(server.store, any_site_token(server), time.time())
            data_dir = tmp_path / "agent"
            credentials.save(data_dir, AgentCredential(enrolled.agent_id, enrolled.secret, "", "", ""))
            config = AgentConfig(
                agent=AgentSection(data_dir=str(data_dir)),  # interval 0: the shortest probe interval
                collector=CollectorSection(addresses=(grpc_address(server),), timeout_seconds=5.0),
                probes=ProbesSection(
                    resources=ResourcesConfig(enabled=False),
                    antivirus=AntivirusConfig(enabled=False),
                    connectivity=ConnectivityConfig(enabled=False),
                ),
            )
            service = AgentService(config, random.Random(3), bind=two_probes)
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))

            def record() -> bool:
                entry = server.fleet.get(enrolled.agent_id)
                if entry is not None and entry.state_seq not in seen:
                    runs = {name: ran for name, (_, ran) in entry.states["host"].runs.items()}
                    seen[entry.state_seq] = (entry.last_report_ms, entry.interval_seconds, runs)
                return task.done() or (entry is not None and entry.reports_total >= REPORTS)

            try:
                await poll(record, f"{REPORTS} reports", timeout=REPORTS + 30.0)
                assert not task.done(), task
            finally:
                stop.set()
                await task
        return seen

    seen = asyncio.run(scenario())
    assert len(seen) >= REPORTS - 2, seen  # a report or two may have shared a Push
    for seq, (collected_ms, interval, runs) in seen.items():
        assert interval == 1, (seq, interval)  # the cadence liveness follows: the fast probe's interval
        assert runs["fast"] == collected_ms, (seq, runs)  # the fast probe is in every report
        assert runs.get("slow", 0) <= collected_ms  # absent until its first run
    slow_runs = {runs["slow"] for _, _, runs in seen.values() if "slow" in runs}
    # The slow probe ran in every third cycle; in the others the collector kept its last run.
    kept = [seq for seq, (collected, _, runs) in seen.items() if runs.get("slow", collected) < collected]
    assert len(kept) >= len(seen) // 2, seen
    assert abs(len(slow_runs) - len(seen) / SLOW_EVERY) <= 1.5, (slow_runs, seen)
    assert calls["fast"] >= REPORTS
    assert abs(calls["slow"] - calls["fast"] / SLOW_EVERY) <= 1, calls
