"""bench_scale.py's load generators: simulated agents' single-report Pushes over gRPC, and the same series
pushed to a Pushgateway, in processes of their own driven by commands; with several collectors (a
cluster), each agent pushes to its rendezvous home."""

from __future__ import annotations

import asyncio
import functools
import heapq
import http.client
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
from drain_backlog import varint

SEED = 13
PUSH_METHOD = "/fleetwatch.v1.Collector/Push"
RETRY_AFTER_METADATA = "x-fleetwatch-retry-after-ms"
PUSHGATEWAY_THREADS = 8
# The simulated agents of a generator share HTTP/2 connections (a real agent holds one of its own):
# CHANNEL_AGENTS agents per connection, each always on the same one, and at most CHANNEL_STREAMS
# Pushes in flight on it; the others wait for a stream, as an agent waits for its slow connection.
# gRPC refuses streams beyond the collector's calls.max_streams_per_connection (256) on one
# connection before the collector sees them (RST_STREAM REFUSED_STREAM: UNAVAILABLE "Stream
# removed" here): with 4 connections per generator, a stall of a few seconds at 833 Pushes/s did.
CHANNEL_AGENTS = 500
CHANNEL_STREAMS = 64
# The collectors pushed to: one address, or the cluster members' addresses as their [cluster] members
# list spells them (each agent then pushes to its rendezvous home, as an agent with spread =
# "rendezvous" does while its home answers).
Addresses = str | Sequence[str]


def fleet_order(total: int) -> list[int]:
    """Positions in ``build_fleet(total)`` such that any prefix spreads over every site: the first
    agent of each site, then the second of each, and so on."""
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet

    fleet = build_fleet(total, SEED, load_inventory())
    return sorted(range(total), key=lambda i: (fleet[i].index, i))


async def enrol(address: str, total: int, positions: list[int], token: str) -> list[tuple[int, str, str]]:
    """Enrol the agents at ``positions`` of the fleet with Enroll calls; (position, agent id, secret)."""
    from fleetwatch_agent.config import CollectorSection
    from fleetwatch_agent.transport import Transport
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet, enrol_fleet

    fleet = build_fleet(total, SEED, load_inventory())
    chosen = [fleet[p] for p in positions]
    transport = Transport(CollectorSection(addresses=(address,), timeout_seconds=120.0))
    try:
        identities = await enrol_fleet(chosen, transport, token, {})
    finally:
        await transport.close()
    found = [identities[agent.host.agent_id] for agent in chosen]
    return [(p, i.agent_id, i.secret) for p, i in zip(positions, found, strict=True)]


@dataclass
class Stats:
    ok: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # by gRPC code or HTTP status
    retry_after: int = 0  # refusals that carried a retry hint (overloaded, rate limited)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    late: int = 0  # steady pushes sent more than 10 s after their time
    details: dict[str, str] = field(default_factory=dict)  # the first message of each code
    messages: dict[str, int] = field(default_factory=dict)  # "code: message" -> refusals

    def refuse(self, code: str, details: str = "", debug: str = "") -> None:
        self.refused[code] = self.refused.get(code, 0) + 1
        self.details.setdefault(code, (details + (f" ({debug})" if debug else ""))[:400])
        key = f"{code}: {details[:120]}"
        self.messages[key] = self.messages.get(key, 0) + 1


@dataclass
class Agent:
    agent_id: str
    secret: str
    rest: bytes  # the report serialized without seq and collected_unix_ms (fields 1 and 2)
    slot: int = 0  # its place among the generator's agents of its home: the connection it uses
    seq: int = 0
    home: int = 0  # the index of its rendezvous home among the members

    def request(self) -> bytes:
        """The next single-report PushRequest (oldest_held_seq = its seq, as an agent with no backlog)."""
        self.seq += 1
        body = b"\x08" + varint(self.seq) + b"\x10" + varint(int(time.time() * 1000)) + self.rest
        return b"\x0a" + varint(len(body)) + body + b"\x18" + varint(self.seq)


class Share:
    """One generator's agents: their report templates and the Pushgateway texts of their series; each
    agent's home among ``members`` (the cluster's addresses; none or one: a single collector)."""

    def __init__(self, total: int, members: Sequence[str] = ()) -> None:
        from fleetwatch_proto.sites import load_inventory
        from fleetwatch_sim.fleet import build_fleet

        self.fleet = build_fleet(total, SEED, load_inventory())
        self.members = list(members)
        self.placed = [0] * max(1, len(self.members))  # agents per home so far
        self.agents: list[Agent] = []
        self.reports: list[Any] = []  # the template Report of each agent, for the Pushgateway text

    def add(self, identities: list[tuple[int, str, str]]) -> None:
        from fleetwatch_sim.fleet import Drive, FleetStats, make_report
        from fleetwatch_sim.probes import HostIncidents
        from fleetwatch_sim.scenario import NO_INCIDENTS

        drive = Drive(None, 60.0, 0.0, 1, FleetStats(), asyncio.Event())  # type: ignore[arg-type]
        for position, agent_id, secret in identities:
            simulated = self.fleet[position]
            effects = NO_INCIDENTS.effects(simulated.location.site, simulated.index, 0.0)
            report = make_report(simulated, 1, 60.0, effects, HostIncidents(), drive)
            report.seq, report.collected_unix_ms = 0, 0
            home = home_of(agent_id, self.members)
            slot, self.placed[home] = self.placed[home], self.placed[home] + 1
            self.agents.append(Agent(agent_id, secret, report.SerializeToString(), slot, home=home))
            self.reports.append(report)

    def texts(self) -> Iterator[tuple[str, bytes]]:
        """(agent id, the text of its series as the collector exposes them), rendered one at a time."""
        from fleetwatch_collector.fleet import FleetState
        from fleetwatch_collector.sitedir import SiteDirectory

        sites = SiteDirectory(None)
        for agent, report in zip(self.agents, self.reports, strict=True):
            fleet = FleetState(sites=sites)
            report.seq, report.collected_unix_ms = 1, int(time.time() * 1000)
            fleet.apply(agent.agent_id, [report], hostname=report.host.hostname)
            yield agent.agent_id, fleet.render()[0]


def home_of(agent_id: str, members: Sequence[str]) -> int:
    """The index in ``members`` of the agent's rendezvous home (0 with fewer than two members)."""
    from fleetwatch_proto.rendezvous import home

    return members.index(home(agent_id, members)) if len(members) > 1 else 0


def _retry_after(exc: Any) -> float:
    for key, value in exc.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA:
            return int(value) / 1000.0
    return 0.0


class Pusher:
    """Pushes over gRPC channels (connections) shared by CHANNEL_AGENTS agents each, at most
    CHANNEL_STREAMS in flight on each; a refusal with a retry hint is retried after it, as an agent does."""

    def __init__(self, address: str, stats: Stats, agents: int) -> None:
        import grpc.aio

        options = [("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1)]
        count = max(4, -(-agents // CHANNEL_AGENTS))
        self._channels = [grpc.aio.insecure_channel(address, options=options) for _ in range(count)]
        self._calls = [
            c.unary_unary(PUSH_METHOD, request_serializer=None, response_deserializer=None)
            for c in self._channels
        ]
        self._streams = [asyncio.Semaphore(CHANNEL_STREAMS) for _ in self._channels]
        self.stats = stats

    async def push(self, agent: Agent) -> None:
        import grpc.aio

        metadata = (("x-fleetwatch-agent-id", agent.agent_id), ("authorization", f"Bearer {agent.secret}"))
        request = agent.request()
        slot = agent.slot % len(self._calls)
        call, streams = self._calls[slot], self._streams[slot]
        while True:
            try:
                async with streams:
                    await call(request, metadata=metadata, timeout=60)
            except grpc.aio.AioRpcError as exc:
                self.stats.refuse(exc.code().name, exc.details() or "", exc.debug_error_string() or "")
                delay = _retry_after(exc)
                if not delay:
                    return
                self.stats.retry_after += 1
                await asyncio.sleep(delay)
            else:
                self.stats.ok += 1
                return

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


class Homes:
    """One Pusher per collector, its connections shared by the agents of that home only (Agent.home)."""

    def __init__(self, addresses: Addresses, stats: Stats, agents: Sequence[Agent]) -> None:
        members = [addresses] if isinstance(addresses, str) else list(addresses)
        homed = [0] * len(members)
        for agent in agents:
            homed[agent.home] += 1
        self._pushers = [Pusher(address, stats, n) for address, n in zip(members, homed, strict=True)]
        self.stats = stats

    async def push(self, agent: Agent) -> None:
        await self._pushers[agent.home].push(agent)

    async def close(self) -> None:
        for pusher in self._pushers:
            await pusher.close()


def push_once(address: Addresses, agents: list[Agent], concurrency: int) -> Stats:
    """One report of every agent (the fill of a stage)."""

    async def run() -> Stats:
        pusher = Homes(address, Stats(), agents)
        in_flight = asyncio.Semaphore(concurrency)

        async def one(agent: Agent) -> None:
            async with in_flight:
                await pusher.push(agent)

        try:
            await asyncio.gather(*(one(agent) for agent in agents))
        finally:
            await pusher.close()
        return pusher.stats

    return asyncio.run(run())


def push_steady(address: Addresses, agents: list[Agent], interval: float, stop: Any, seed: int) -> Stats:
    """Every agent pushes one report every ``interval`` seconds at a phase of its own, until ``stop``.

    One scheduler for all of them (a heap of their next times), not a sleeping task per agent, so the
    generator's own CPU goes to the Pushes. An agent whose previous Push is still in flight when its
    next is due sends the next one after it, as an agent's single cycle would (counted late if it
    is more than 10 s behind)."""

    async def run() -> Stats:
        pusher = Homes(address, Stats(), agents)
        rng = random.Random(seed)
        start = time.monotonic()
        due = [(start + rng.uniform(0, interval), n) for n in range(len(agents))]
        heapq.heapify(due)
        busy: dict[int, asyncio.Task[None]] = {}

        async def one(n: int, after: asyncio.Task[None] | None) -> None:
            if after is not None:
                await asyncio.shield(after)
            await pusher.push(agents[n])

        def done(n: int, task: asyncio.Task[None]) -> None:
            if busy.get(n) is task:
                del busy[n]

        started = 0
        while not stop.is_set():
            at, n = due[0]
            wait = at - time.monotonic()
            if wait > 0 or started % 64 == 63:  # let the Pushes started run, even when behind
                await asyncio.sleep(min(max(wait, 0.0), 0.5))
                if wait > 0:
                    continue
            started += 1
            heapq.heapreplace(due, (at + interval, n))
            if wait < -10:
                pusher.stats.late += 1
            task = asyncio.create_task(one(n, busy.get(n)))
            busy[n] = task
            task.add_done_callback(functools.partial(done, n))
        try:
            if busy:
                await asyncio.wait(list(busy.values()), timeout=90)
        finally:
            await pusher.close()
        return pusher.stats

    return asyncio.run(run())


def push_burst(address: Addresses, agents: list[Agent], concurrency: int, seconds: float) -> Stats:
    """Single-report pushes as fast as the collector takes them: ``concurrency`` in flight, round robin
    over the agents (each pushes far below its rate limit)."""

    async def run() -> Stats:
        pusher = Homes(address, Stats(), agents)
        deadline = time.monotonic() + seconds
        turn = iter(range(1 << 62))

        async def worker() -> None:
            while time.monotonic() < deadline:
                await pusher.push(agents[next(turn) % len(agents)])

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await pusher.close()
        return pusher.stats

    return asyncio.run(run())


def pushgateway_puts(url: str, bodies: Iterator[tuple[str, bytes]], deadline: float | None = None) -> Stats:
    """PUT each body as the group job=fleetwatch,instance=<agent id> from PUSHGATEWAY_THREADS threads
    with keep-alive connections; with ``deadline``, cycles through ``bodies`` until then."""
    stats = Stats()
    host, _, port = url.removeprefix("http://").rpartition(":")
    work: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=256)
    lock = threading.Lock()

    def sender() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        while (item := work.get()) is not None:
            agent_id, body = item
            connection.request(
                "PUT",
                f"/metrics/job/fleetwatch/instance/{agent_id}",
                body,
                {"Content-Type": "text/plain; version=0.0.4"},
            )
            response = connection.getresponse()
            response.read()
            with lock:
                if response.status in (200, 202):
                    stats.ok += 1
                else:
                    stats.refuse(str(response.status))
        connection.close()

    threads = [threading.Thread(target=sender) for _ in range(PUSHGATEWAY_THREADS)]
    for thread in threads:
        thread.start()
    items = list(bodies) if deadline is not None else bodies
    if deadline is None:
        for item in items:
            work.put(item)
    else:
        while time.monotonic() < deadline:
            for item in items:
                work.put(item)
                if time.monotonic() >= deadline:
                    break
    for _ in threads:
        work.put(None)
    for thread in threads:
        thread.join()
    return stats


def generator(
    number: int, address: Addresses, pushgateway: str, total: int, commands: Any, results: Any, stop: Any
) -> None:
    """A load-generator process: runs the commands it is sent, answers with Stats (see bench_scale);
    ``address``: the collector's, or the cluster members' (each agent pushes to its home)."""
    try:
        share = Share(total, [address] if isinstance(address, str) else address)
        texts: list[tuple[str, bytes]] = []
        while True:
            command, argument = commands.get()
            if command == "quit":
                return
            cpu = psutil.Process().cpu_times()
            began = time.perf_counter()
            if command == "add":
                share.add(argument)
                stats = Stats(ok=len(argument))
            elif command == "fill":
                stats = push_once(address, share.agents, argument)
            elif command == "steady":
                stats = push_steady(address, share.agents, argument, stop, number)
            elif command == "burst":
                stats = push_burst(address, share.agents, 64, argument)
            elif command == "pushgateway_fill":
                stats = pushgateway_puts(pushgateway, share.texts())
            elif command == "pushgateway_burst":
                texts = texts if len(texts) == len(share.agents) else list(share.texts())
                began = time.perf_counter()
                cpu = psutil.Process().cpu_times()
                stats = pushgateway_puts(pushgateway, iter(texts), time.monotonic() + argument)
            else:
                raise ValueError(f"unknown command {command}")
            stats.seconds = time.perf_counter() - began
            after = psutil.Process().cpu_times()
            stats.cpu_seconds = after.user + after.system - cpu.user - cpu.system
            results.put(("done", number, stats))
    except BaseException as exc:
        results.put(("error", number, repr(exc)))
        raise
