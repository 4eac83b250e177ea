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
from fleetwatch_agent.centralstate import CentralState, confirm_delay
from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.report import CycleReport, Location, ProbeOutcome
from fleetwatch_agent.transport import Identity, PushError, Transport, backoff_delay
from fleetwatch_proto.sites import Inventory, Site
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim import probes
from fleetwatch_sim.hosts import SimulatedHost
from fleetwatch_sim.outbox import Outbox
from fleetwatch_sim.probes import HostIncidents
from fleetwatch_sim.routers import SiteRouters
from fleetwatch_sim.scenario import NO_INCIDENTS, Effects, Scenario
from fleetwatch_sim.topology import allocate

log = logging.getLogger(__name__)
ENROL_CONCURRENCY = 64
MAX_BACKLOG = 5760  # a day at 15 s, as a real agent's spool
MAX_BATCH = 100
PUSH_ATTEMPTS = 3  # within one cycle; then the reports wait in the outbox for the next


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
    routers: SiteRouters | None = None  # the site's routers, which this agent's snmp probe polls


def build_fleet(count: int, seed: int, inventory: Inventory) -> list[SimulatedAgent]:
    """``count`` simulated agents over the inventory's sites; the same seed gives the same fleet. The
    first agent of each site polls the site's routers (one snmp probe per site, as docs/routers.md
    advises)."""
    rng = random.Random(seed)
    now = int(time.time())
    fleet = []
    for site, n in allocate(count, inventory.sites):
        for number in range(1, n + 1):
            agent_id = f"sim-{site.slug}-{number:03d}"
            host = SimulatedHost.create(agent_id, _hostname(site, number), random.Random(rng.random()), now)
            location = Location(site.slug, site.district, site.site_type, site.name)
            routers = SiteRouters.of_site(site, seed, now) if number == 1 else None
            fleet.append(SimulatedAgent(host, location, number - 1, routers))
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
    # False: reports carry the host facts and the central configuration fields only, no probe
    # results (lighter on the collector, for tests of delivery at scale).
    probes: bool = True


def make_report(
    agent: SimulatedAgent,
    seq: int,
    dt: float,
    effects: Effects,
    memory: HostIncidents,
    drive: Drive,
    now: float | None = None,
    interval: float | None = None,
) -> pb.Report:
    """One cycle's report, collected at ``now`` (default: the clock): resources, antivirus, connectivity
    and, by the agent polling them, the site's routers; shaped by the scenario. ``interval``: the one
    the agent runs (default: the drive's)."""
    rng = agent.host.rng
    now = time.time() if now is None else now
    if not drive.probes:
        return convert.report(
            CycleReport(
                seq=seq,
                collected_unix_ms=int(now * 1000),
                interval_seconds=interval or drive.interval,
                host=agent.host.facts,
                location=agent.location,
                agent_version=__version__,
                outcomes=(),
                results={},
            )
        )
    windows = agent.host.facts.os_family == "windows"
    resources = agent.host.sample(dt, effects.disk_fill)
    results: dict[str, object] = {
        "resources": resources,
        "antivirus": probes.antivirus(windows, effects, memory, now, drive.started, rng),
        "connectivity": probes.connectivity(effects, memory, now, rng),
    }
    outcomes = [ProbeOutcome(name, True, rng.uniform(0.001, 0.01)) for name in results]
    if agent.routers is not None:
        snmp = agent.routers.collect(now, effects.router)
        results["snmp"] = snmp
        outcomes.append(ProbeOutcome("snmp", True, max(d.poll_duration_seconds for d in snmp.devices)))
    cycle = CycleReport(
        seq=seq,
        collected_unix_ms=int(now * 1000),
        interval_seconds=interval or drive.interval,
        host=agent.host.facts,
        location=agent.location,
        agent_version=__version__,
        outcomes=tuple(outcomes),
        results=results,
    )
    return convert.report(cycle)


def _take_config(central: CentralState, response: pb.PushResponse, interval: float) -> float:
    """A central configuration offered in ``response`` decided by the agent's own code (applied or
    refused, the refusal kept for the next reports and Pushes); the interval to run from now on."""
    if not response.HasField("config"):
        return interval
    config = central.offer(response.config)
    if config is None or not response.config.interval_seconds:
        return interval
    return config.agent.interval_seconds


async def _drive(agent: SimulatedAgent, identity: Identity, drive: Drive) -> None:
    """Like a real agent, keeps unacknowledged reports (in memory) and sends them again, and
    applies or refuses the central configuration the collector offers (in memory: nothing on
    disk); a host the scenario silences keeps collecting but cannot reach the collector (a dark
    WAN), or stops altogether (host_silent)."""
    rng = agent.host.rng
    stats = drive.stats
    central = CentralState(Path("."), {}, save=None)
    interval = drive.interval
    await sleep_unless(drive.stop, rng.uniform(0.0, interval))
    seq = drive.first_seq
    last = time.monotonic()
    backlog = Outbox(MAX_BACKLOG)
    memory = HostIncidents()
    while not drive.stop.is_set() and time.monotonic() < drive.deadline:
        now = time.monotonic()
        pause = None  # as the agent: after a new decision on a configuration, the next cycle comes soon
        effects = drive.scenario.effects(agent.location.site, agent.index, time.time() - drive.started)
        if not effects.switched_off:
            message = make_report(agent, seq, now - last, effects, memory, drive, interval=interval)
            message.spool.CopyFrom(backlog.stats())
            central.stamp(message)
            backlog.put(message)
            stats.reports_made += 1
            seq += 1
        last = now
        if not effects.silent and len(backlog):
            batch = backlog.batch(MAX_BATCH)
            request = pb.PushRequest(reports=batch, oldest_held_seq=batch[0].seq)
            central.stamp(request)
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                try:
                    response = await drive.transport.push_request(identity, request)
                except PushError as exc:
                    stats.failed(exc)
                    log.debug("push of %s failed: %s", agent.host.agent_id, exc)
                    # As the agent: a retryable failure is tried again after a jittered backoff.
                    retry = backoff_delay(attempt, rng, base=0.25, cap=drive.interval / 4)
                    if exc.permanent or attempt == PUSH_ATTEMPTS or await sleep_unless(drive.stop, retry):
                        break
                    continue
                stats.pushes_ok += 1
                stats.reports_acked += backlog.ack(batch[-1].seq)
                said = central.said
                interval = _take_config(central, response, interval)
                pause = confirm_delay(interval, rng) if central.said != said else None
                break
        await sleep_unless(drive.stop, interval - (time.monotonic() - now) if pause is None else pause)


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
    probes: bool = True,
    transport: Transport | None = None,
) -> FleetStats:
    """Enrol, then run the fleet until ``duration`` elapsed or ``stop`` is set (``probes``: see Drive).

    One Transport carries every agent's calls; with ``collector.spread = "rendezvous"`` each agent
    calls its own home first and fails over and back along its own order (agents of one order share
    that order's failover state), as each real agent would. ``transport``: one made of ``collector``
    already (closed at the end)."""
    fleet = build_fleet(agents, seed, inventory)
    transport = transport or Transport(collector)
    stats = FleetStats()
    try:
        identities = await enrol_fleet(fleet, transport, token, load_identities(state_file))
        save_identities(state_file, identities)
        # Sequence numbers start at the wall clock in ms, so a later run continues above an earlier one.
        first_seq = int(time.time() * 1000)
        deadline = time.monotonic() + duration if duration else float("inf")
        log.info(
            "simulating %d agents on %d sites against %s (%s)",
            len(fleet),
            len({a.location.site for a in fleet}),
            ", ".join(transport.addresses),
            collector.spread,
        )
        drive = Drive(transport, interval, deadline, first_seq, stats, stop, scenario, probes=probes)
        await asyncio.gather(*(_drive(a, identities[a.host.agent_id], drive) for a in fleet))
    finally:
        await transport.close()
    return stats
