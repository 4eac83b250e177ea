"""The agent with two collectors: past one that refuses it, back once it accepts, each report once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from pathlib import Path

from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection, ProbesSection
from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.service import AgentService
from fleetwatch_collector import enrolment
from tests.agent.failover_support import enrol_at, highest_of, refusals, reports_of, teach
from tests.agent.inprocess import grpc_address, poll, running_collector

INTERVAL = 1.0
FAILBACK = 2.0


def spooled_seqs(data_dir: Path) -> list[int]:
    with contextlib.closing(sqlite3.connect(data_dir / "spool.sqlite")) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM reports")]


def test_failover_past_a_refusing_collector_and_failback_once_it_accepts(tmp_path: Path) -> None:
    data_dir = tmp_path / "agent"

    async def scenario() -> None:
        async with running_collector(tmp_path / "a") as first, running_collector(tmp_path / "b") as second:
            agent_id = enrol_at(second, data_dir).agent_id  # the first collector does not know it
            collector = CollectorSection(
                addresses=(grpc_address(first), grpc_address(second)),
                timeout_seconds=5.0,
                failback_seconds=FAILBACK,
            )
            config = AgentConfig(
                agent=AgentSection(data_dir=str(data_dir), interval_seconds=INTERVAL),
                collector=collector,
                probes=ProbesSection(
                    antivirus=AntivirusConfig(enabled=False), connectivity=ConnectivityConfig(enabled=False)
                ),
            )
            service = AgentService(config, random.Random(3))
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            try:
                # 1. The first refuses (UNAUTHENTICATED): the reports go to the second, and the
                #    first is tried again every failback period without holding them up.
                await poll(lambda: task.done() or reports_of(second, agent_id) >= 3, "reports at the second")
                refused_before = await refusals(first)
                assert refused_before >= 1
                await poll(lambda: task.done() or reports_of(second, agent_id) >= 6, "more at the second")
                assert await refusals(first) > refused_before, "the first address was not tried again"
                assert reports_of(first, agent_id) == 0
                # 2. The first learns the agent: after the failback period the agent is back there.
                teach(second, first, agent_id)
                await poll(lambda: task.done() or reports_of(first, agent_id) >= 3, "reports at the first")
                at_second = reports_of(second, agent_id)
                await poll(lambda: task.done() or reports_of(first, agent_id) >= 6, "more at the first")
                assert reports_of(second, agent_id) == at_second, "the agent left the first again"
                # 3. The first revokes the agent (PERMISSION_DENIED): over to the second again. (A
                #    collector stopped mid-Push may have applied a batch it could not acknowledge;
                #    a refusal happens before anything is applied, so the counts below stay exact.)
                enrolment.revoke_agent(first.store, agent_id)
                await poll(
                    lambda: task.done() or reports_of(second, agent_id) >= at_second + 3, "the second again"
                )
                assert not task.done()
            finally:
                stop.set()
                await task
            # Exactly once: every report made is at one collector or still spooled, none twice.
            left = spooled_seqs(data_dir)
            made = max(highest_of(first, agent_id), highest_of(second, agent_id), *left)
            assert reports_of(first, agent_id) + reports_of(second, agent_id) + len(left) == made

    asyncio.run(scenario())
