"""bench_scale's load generator against a gRPC server in-process: simulated agents share a few
connections, each agent always the same one, never more Pushes in flight on one than CHANNEL_STREAMS,
one report per Push at increasing sequence numbers, every agent once per interval."""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio
import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def scale_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import each other by bare name
    yield importlib.import_module("scale_load")


class Recorder:
    """A Push method that holds each call a while and records who pushed what over which connection."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.open: dict[str, int] = defaultdict(int)  # calls in progress per connection (peer)
        self.most: dict[str, int] = defaultdict(int)
        self.peers: dict[str, set[str]] = defaultdict(set)  # agent id -> connections it used
        self.seqs: dict[str, list[int]] = defaultdict(list)  # agent id -> seq of each Push
        self.reports: list[int] = []  # reports per Push

    async def push(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        peer = context.peer()
        agent_id = dict(context.invocation_metadata() or ())["x-fleetwatch-agent-id"]
        message = pb.PushRequest.FromString(request)
        self.reports.append(len(message.reports))
        self.seqs[agent_id].append(message.reports[0].seq)
        self.peers[agent_id].add(peer)
        self.open[peer] += 1
        self.most[peer] = max(self.most[peer], self.open[peer])
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.open[peer] -= 1
        return b""


def serve(recorder: Recorder, ready: threading.Event, stop: threading.Event, port: list[int]) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(recorder.push)
        service = grpc.method_handlers_generic_handler("fleetwatch.v1.Collector", {"Push": handler})
        server.add_generic_rpc_handlers((service,))
        port.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await server.stop(None)

    asyncio.run(main())


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(hold=0.2)
    ready, stop = threading.Event(), threading.Event()
    port: list[int] = []
    thread = threading.Thread(target=serve, args=(recorder, ready, stop, port), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"127.0.0.1:{port[0]}", recorder
    stop.set()
    thread.join(30)


def make_agents(scale_load: ModuleType, count: int) -> list[Any]:
    report = pb.Report(seq=0, collected_unix_ms=0)
    report.host.hostname = "pc"
    rest = report.SerializeToString()
    return [scale_load.Agent(f"agent-{n}", "secret", rest, n) for n in range(count)]


def test_agents_share_few_connections_and_never_more_streams_than_allowed(
    scale_load: ModuleType, server: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, recorder = server
    monkeypatch.setattr(scale_load, "CHANNEL_AGENTS", 40)
    monkeypatch.setattr(scale_load, "CHANNEL_STREAMS", 6)
    agents = make_agents(scale_load, 200)
    # All at once (200 in flight wanted), twice over the same connections.
    stats = asyncio.run(push_twice(scale_load, address, agents))
    assert stats.ok == 400 and not stats.refused
    assert all(len(peers) == 1 for peers in recorder.peers.values())  # an agent keeps its connection
    agents_per_connection: dict[str, int] = defaultdict(int)
    for (peer,) in recorder.peers.values():
        agents_per_connection[peer] += 1
    assert sorted(agents_per_connection.values()) == [40] * 5
    assert max(recorder.most.values()) == 6  # the bound reached, never passed
    assert set(recorder.reports) == {1}  # one report per Push
    assert all(seqs == [1, 2] for seqs in recorder.seqs.values())


async def push_twice(scale_load: ModuleType, address: str, agents: list[Any]) -> Any:
    pusher = scale_load.Pusher(address, scale_load.Stats(), len(agents))
    try:
        for _ in range(2):
            await asyncio.gather(*(pusher.push(agent) for agent in agents))
    finally:
        await pusher.close()
    return pusher.stats


def test_steady_agents_push_once_per_interval_each(
    scale_load: ModuleType, server: tuple[str, Recorder]
) -> None:
    address, recorder = server
    agents = make_agents(scale_load, 300)
    stop = threading.Event()
    interval = 1.0
    began = time.monotonic()
    timer = threading.Timer(2.5 * interval, stop.set)
    timer.start()
    stats = scale_load.push_steady(address, agents, interval, stop, 1)
    timer.cancel()
    elapsed = time.monotonic() - began
    assert not stats.refused and stats.late == 0
    assert stats.ok == sum(len(seqs) for seqs in recorder.seqs.values())
    # Every agent pushed at its own phase once per interval: two or three times in 2.5 intervals.
    assert {len(recorder.seqs[agent.agent_id]) for agent in agents} <= {2, 3}
    assert all(seqs == sorted(seqs) for seqs in recorder.seqs.values())
    assert stats.ok <= len(agents) * (elapsed / interval + 1)
