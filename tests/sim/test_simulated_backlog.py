"""The simulator against an in-process collector: every report made is delivered, each exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from fleetwatch_agent.config import CollectorSection
from fleetwatch_collector.server import CollectorServer
from fleetwatch_collector.validate import Limits
from fleetwatch_proto.sites import load_inventory
from fleetwatch_sim.fleet import FleetStats, load_identities, run_fleet
from tests.agent.inprocess import any_site_token, grpc_address, metric_sum, running_collector

AGENTS = 5
INTERVAL_SECONDS = 1.0
DURATION_SECONDS = 4.0
REPORTS_TOTAL = "fleetwatch_agent_reports_total"


def collector_section(server: CollectorServer) -> CollectorSection:
    return dataclasses.replace(CollectorSection(), addresses=(grpc_address(server),), timeout_seconds=10.0)


async def simulate(server: CollectorServer, state_file: Path | None = None) -> FleetStats:
    return await run_fleet(
        collector_section(server),
        AGENTS,
        INTERVAL_SECONDS,
        DURATION_SECONDS,
        seed=7,
        token=any_site_token(server),
        state_file=state_file,
        stop=asyncio.Event(),
        inventory=load_inventory(),
    )


def applied_per_agent(server: CollectorServer, agent_ids: list[str]) -> int:
    total = 0
    for agent_id in agent_ids:
        entry = server.fleet.get(agent_id)
        total += entry.reports_total if entry is not None else 0
    return total


def test_a_healthy_collector_gets_every_report_exactly_once(tmp_path: Path) -> None:
    """reports made == acknowledged == counted by the collector."""
    state_file = tmp_path / "sim-state.json"

    async def scenario() -> None:
        async with running_collector(tmp_path / "data") as server:
            stats = await simulate(server, state_file)
            identities = load_identities(state_file)
            assert len(identities) == AGENTS
            assert stats.reports_made >= AGENTS * 2
            assert stats.pushes_failed == 0, stats.errors
            assert stats.reports_acked == stats.reports_made
            ids = [identity.agent_id for identity in identities.values()]
            assert applied_per_agent(server, ids) == stats.reports_made
            assert await metric_sum(server, REPORTS_TOTAL) == stats.reports_made

    asyncio.run(scenario())


def test_refused_pushes_are_resent_and_counted_once(tmp_path: Path) -> None:
    """With a strict rate limit half of the pushes fail; their reports come with the next push."""
    strict = Limits(pushes_per_second_per_agent=0.5, push_burst=1)

    async def scenario() -> None:
        async with running_collector(tmp_path / "data", limits=strict) as server:
            stats = await simulate(server)
            assert stats.pushes_failed > 0
            assert set(stats.errors) == {"RESOURCE_EXHAUSTED"}
            assert stats.pushes_ok > 0
            counted = await metric_sum(server, REPORTS_TOTAL)
            # Acknowledged reports are exactly those the collector applied, none twice.
            assert counted == stats.reports_acked
            # Reports of a refused push went out again: only the last cycles can be pending.
            assert stats.reports_acked > stats.pushes_ok
            assert stats.reports_made - stats.reports_acked <= 2 * AGENTS

    asyncio.run(scenario())


def test_a_second_run_reuses_the_cached_credentials_and_continues_counting(tmp_path: Path) -> None:
    """With --state-file the same agents report again, their seqs above the first run's."""
    state_file = tmp_path / "sim-state.json"

    async def scenario() -> None:
        async with running_collector(tmp_path / "data") as server:
            first = await simulate(server, state_file)
            identities = load_identities(state_file)
            second = await simulate(server, state_file)
            assert load_identities(state_file) == identities
            assert len(server.fleet) == AGENTS
            made = first.reports_made + second.reports_made
            assert first.reports_acked + second.reports_acked == made
            assert await metric_sum(server, REPORTS_TOTAL) == made

    asyncio.run(scenario())
