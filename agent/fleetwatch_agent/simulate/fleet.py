"""Drives N simulated agents through the real gRPC transport, spread over the province's sites."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from fleetwatch_agent import __version__, convert
from fleetwatch_agent.aiotools import sleep_unless
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_agent.simulate.hosts import SimulatedHost
from fleetwatch_agent.simulate.topology import Site, allocate, sites
from fleetwatch_agent.transport import PushError, Transport

log = logging.getLogger(__name__)


@dataclass
class FleetStats:
    pushes_ok: int = 0
    pushes_failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulatedAgent:
    host: SimulatedHost
    location: Location


def build_fleet(count: int, seed: int) -> list[SimulatedAgent]:
    """``count`` simulated agents over the Tiền Giang sites; the same seed gives the same fleet."""
    rng = random.Random(seed)
    now = int(time.time())
    fleet = []
    for site, n in allocate(count, sites()):
        for number in range(1, n + 1):
            agent_id = f"sim-{site.slug}-{number:03d}"
            host = SimulatedHost.create(agent_id, _hostname(site, number), random.Random(rng.random()), now)
            fleet.append(SimulatedAgent(host, Location(site.slug, site.district, site.site_type, site.name)))
    return fleet


def _hostname(site: Site, number: int) -> str:
    return f"pc-{site.slug}-{number:03d}"[:63]


async def _drive(
    agent: SimulatedAgent,
    transport: Transport,
    interval: float,
    deadline: float,
    first_seq: int,
    stats: FleetStats,
    stop: asyncio.Event,
) -> None:
    rng = agent.host.rng
    await sleep_unless(stop, rng.uniform(0.0, interval))
    seq = first_seq
    last = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        now = time.monotonic()
        sample = agent.host.sample(now - last)
        last = now
        cycle = CycleReport(
            seq=seq,
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=interval,
            host=agent.host.facts,
            location=agent.location,
            agent_version=__version__,
            outcomes=(ProbeOutcome("resources", True, rng.uniform(0.001, 0.01)),),
            results={"resources": sample},
        )
        seq += 1
        try:
            await transport.push(agent.host.agent_id, [convert.report(cycle)])
            stats.pushes_ok += 1
        except PushError as exc:
            stats.pushes_failed += 1
            stats.errors[exc.code.name] = stats.errors.get(exc.code.name, 0) + 1
        await sleep_unless(stop, interval - (time.monotonic() - now))


async def run_fleet(
    collector: str,
    agents: int,
    interval: float,
    duration: float | None,
    seed: int,
    stop: asyncio.Event,
) -> FleetStats:
    """Run the fleet until ``duration`` elapsed or ``stop`` is set; returns push statistics."""
    fleet = build_fleet(agents, seed)
    # Sequence numbers start at the wall clock in ms, so a later run continues above an earlier one.
    first_seq = int(time.time() * 1000)
    transport = Transport([collector], timeout_seconds=max(10.0, interval))
    stats = FleetStats()
    deadline = time.monotonic() + duration if duration else float("inf")
    log.info(
        "simulating %d agents on %d sites against %s",
        len(fleet),
        len({a.location.site for a in fleet}),
        collector,
    )
    try:
        await asyncio.gather(
            *(_drive(a, transport, interval, deadline, first_seq, stats, stop) for a in fleet)
        )
    finally:
        await transport.close()
    return stats
