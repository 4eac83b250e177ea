"""Drives N simulated agents through the real gRPC transport, spread over the province's sites."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from fleetwatch_agent import __version__, convert
from fleetwatch_agent.aiotools import sleep_unless
from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_agent.transport import Identity, PushError, Transport
from fleetwatch_proto.sites import Inventory, Site
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim import probes
from fleetwatch_sim.hosts import SimulatedHost
from fleetwatch_sim.outbox import Outbox
from fleetwatch_sim.probes import HostIncidents
from fleetwatch_sim.scenario import NO_INCIDENTS, Effects, Scenario
from fleetwatch_sim.topology import allocate

log = logging.getLogger(__name__)
ENROL_CONCURRENCY = 64
MAX_BACKLOG = 5760  # a day at 15 s, as a real agent's spool
MAX_BATCH = 100


@dataclass
class FleetStats:
    reports_made: int = 0
    reports_acked: int = 0
    pushes_ok: int = 0
    pushes_failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, exc: PushError) -> None:
        self.pushes_failed += 1
        self.errors[exc.code.name] = self.errors.get(exc.code.name, 0) + 1


@dataclass(frozen=True)
class SimulatedAgent:
    host: SimulatedHost
    location: Location
    index: int = 0  # its number within its site, from 0: scenarios name "the first N hosts"


def build_fleet(count: int, seed: int, inventory: Inventory) -> list[SimulatedAgent]:
    """``count`` simulated agents over the inventory's sites; the same seed gives the same fleet."""
    rng = random.Random(seed)
    now = int(time.time())
    fleet = []
    for site, n in allocate(count, inventory.sites):
        for number in range(1, n + 1):
            agent_id = f"sim-{site.slug}-{number:03d}"
            host = SimulatedHost.create(agent_id, _hostname(site, number), random.Random(rng.random()), now)
            location = Location(site.slug, site.district, site.site_type, site.name)
            fleet.append(SimulatedAgent(host, location, number - 1))
    return fleet


def _hostname(site: Site, number: int) -> str:
    return f"pc-{site.slug}-{number:03d}"[:63]


def load_identities(path: Path | None) -> dict[str, Identity]:
    if path is None or not path.exists():
        return {}
    return {key: Identity(*value) for key, value in json.loads(path.read_text()).items()}


def save_identities(path: Path | None, identities: dict[str, Identity]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: [i.agent_id, i.secret] for k, i in identities.items()}))
    tmp.chmod(0o600)
    tmp.replace(path)


async def enrol_fleet(
    fleet: list[SimulatedAgent], transport: Transport, token: str, known: dict[str, Identity]
) -> dict[str, Identity]:
    """An identity per simulated agent: the known ones, the others enrolled with ``token``."""
    semaphore = asyncio.Semaphore(ENROL_CONCURRENCY)
    identities = dict(known)

    async def one(agent: SimulatedAgent) -> None:
        key = agent.host.agent_id
        if key in identities:
            return
        host = convert.host_info(agent.host.facts, agent.location, __version__)
        async with semaphore:
            response = await transport.enroll(token, host)
        identities[key] = Identity(response.agent_id, response.secret)

    await asyncio.gather(*(one(a) for a in fleet))
    return identities


@dataclass(frozen=True)
class Drive:
    """What every simulated agent shares: where to push, for how long, and the scenario."""

    transport: Transport
    interval: float
    deadline: float
    first_seq: int
    stats: FleetStats
    stop: asyncio.Event
    scenario: Scenario = NO_INCIDENTS
    started: float = field(default_factory=time.time)


def make_report(
    agent: SimulatedAgent, seq: int, dt: float, effects: Effects, memory: HostIncidents, drive: Drive
) -> pb.Report:
    """One cycle's report: resources, antivirus and connectivity, shaped by the scenario."""
    rng = agent.host.rng
    now = time.time()
    windows = agent.host.facts.os_family == "windows"
    resources = agent.host.sample(dt, effects.disk_fill)
    results: dict[str, object] = {
        "resources": resources,
        "antivirus": probes.antivirus(windows, effects, memory, now, drive.started, rng),
        "connectivity": probes.connectivity(effects, memory, now, rng),
    }
    cycle = CycleReport(
        seq=seq,
        collected_unix_ms=int(now * 1000),
        interval_seconds=drive.interval,
        host=agent.host.facts,
        location=agent.location,
        agent_version=__version__,
        outcomes=tuple(ProbeOutcome(name, True, rng.uniform(0.001, 0.01)) for name in results),
        results=results,
    )
    return convert.report(cycle)


async def _drive(agent: SimulatedAgent, identity: Identity, drive: Drive) -> None:
    """Like a real agent, keeps unacknowledged reports (in memory) and sends them again; a host
    the scenario silences keeps collecting but cannot reach the collector (a dark WAN), or
    stops altogether (host_silent)."""
    rng = agent.host.rng
    stats = drive.stats
    await sleep_unless(drive.stop, rng.uniform(0.0, drive.interval))
    seq = drive.first_seq
    last = time.monotonic()
    backlog = Outbox(MAX_BACKLOG)
    memory = HostIncidents()
    while not drive.stop.is_set() and time.monotonic() < drive.deadline:
        now = time.monotonic()
        effects = drive.scenario.effects(agent.location.site, agent.index, time.time() - drive.started)
        if not effects.switched_off:
            message = make_report(agent, seq, now - last, effects, memory, drive)
            message.spool.CopyFrom(backlog.stats())
            backlog.put(message)
            stats.reports_made += 1
            seq += 1
        last = now
        if not effects.silent and len(backlog):
            batch = backlog.batch(MAX_BATCH)
            try:
                await drive.transport.push(identity, batch, oldest_held_seq=batch[0].seq)
                stats.pushes_ok += 1
                stats.reports_acked += backlog.ack(batch[-1].seq)
            except PushError as exc:
                stats.failed(exc)
        await sleep_unless(drive.stop, drive.interval - (time.monotonic() - now))


async def run_fleet(
    collector: CollectorSection,
    agents: int,
    interval: float,
    duration: float | None,
    seed: int,
    token: str,
    state_file: Path | None,
    stop: asyncio.Event,
    inventory: Inventory,
    scenario: Scenario = NO_INCIDENTS,
) -> FleetStats:
    """Enrol, then run the fleet until ``duration`` elapsed or ``stop`` is set."""
    fleet = build_fleet(agents, seed, inventory)
    transport = Transport(collector)
    stats = FleetStats()
    try:
        identities = await enrol_fleet(fleet, transport, token, load_identities(state_file))
        save_identities(state_file, identities)
        # Sequence numbers start at the wall clock in ms, so a later run continues above an earlier one.
        first_seq = int(time.time() * 1000)
        deadline = time.monotonic() + duration if duration else float("inf")
        log.info(
            "simulating %d agents on %d sites against %s",
            len(fleet),
            len({a.location.site for a in fleet}),
            transport.address,
        )
        drive = Drive(transport, interval, deadline, first_seq, stats, stop, scenario)
        await asyncio.gather(*(_drive(a, identities[a.host.agent_id], drive) for a in fleet))
    finally:
        await transport.close()
    return stats
