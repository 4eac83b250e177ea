"""bench_scale's soak against a cluster: collector members sharing one key and members list, the agents
enrolled through the first, each agent's Pushes at its rendezvous home only, over connections of that
home shared as for one collector."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import re
import stat
import threading
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fleetwatch_collector.config import load_config
from fleetwatch_proto import rendezvous
from tests.integration.test_bench_scale_load import Recorder, make_agents, serve

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
AGENTS = 300
AGENT_UP = re.compile(r'^fleetwatch_agent_up\{[^}]*\bagent_id="([^"]+)"[^}]*\} (\S+)$', re.M)


@pytest.fixture
def benchmarks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType]]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import each other by bare name
    yield importlib.import_module("scale_load"), importlib.import_module("scale_peers")


@contextlib.contextmanager
def push_server() -> Iterator[tuple[str, Recorder]]:
    """An in-process Push server recording who pushed over which connection (test_bench_scale_load)."""
    recorder = Recorder(hold=0.2)
    ready, stop = threading.Event(), threading.Event()
    port: list[int] = []
    thread = threading.Thread(target=serve, args=(recorder, ready, stop, port), daemon=True)
    thread.start()
    try:
        assert ready.wait(30)
        yield f"127.0.0.1:{port[0]}", recorder
    finally:
        stop.set()
        thread.join(30)


@pytest.fixture
def servers() -> Iterator[list[tuple[str, Recorder]]]:
    with push_server() as first, push_server() as second:
        yield [first, second]


def agents_up(metrics_url: str) -> dict[str, float]:
    """fleetwatch_agent_up of every agent a member's plain /metrics lists, by agent id."""
    with urllib.request.urlopen(metrics_url, timeout=60) as response:
        text = response.read().decode()
    return {agent_id: float(value) for agent_id, value in AGENT_UP.findall(text)}


def test_each_agent_pushes_to_its_rendezvous_home_only(
    benchmarks: tuple[ModuleType, ModuleType], tmp_path: Path
) -> None:
    scale_load, scale_peers = benchmarks
    peers = scale_peers.Peers(tmp_path, pushgateway=False, members=2)
    generators: Any = None
    try:
        order = scale_load.fleet_order(AGENTS)
        generators = scale_peers.Generators(2, peers, AGENTS)
        identities = asyncio.run(scale_load.enrol(peers.grpc_address, AGENTS, order, peers.token))
        generators.send("add", scale_peers.split(identities, 2))  # what grow() does, keeping the ids
        generators.gather()
        stats = generators.run("fill", 64)
        views = [agents_up(member.metrics_url) for member in peers.members]
        check = peers.check()
    finally:
        if generators is not None:
            generators.close()
        peers.close()

    # Both members run one cluster: the same members list (their gRPC addresses) and key file.
    key = tmp_path / "cluster.key"
    assert len(key.read_bytes()) == 64 and stat.S_IMODE(key.stat().st_mode) == 0o600
    for member in peers.members:
        cluster = load_config(member.config).cluster
        assert cluster.members == tuple(peers.addresses) and cluster.self == member.address
        assert Path(cluster.key_file) == key
    # Enrolled through the first member, every agent's Push was accepted wherever it went.
    assert stats.ok == AGENTS and not stats.refused and stats.retry_after == 0
    homes = {agent_id: rendezvous.home(agent_id, peers.addresses) for _, agent_id, _ in identities}
    assert len(homes) == AGENTS
    for member, view, scraped in zip(peers.members, views, check.scrapes, strict=True):
        own = {agent_id for agent_id, home in homes.items() if home == member.address}
        assert own, "300 agents over 2 members: each is the home of some"
        # A Push at another member would list the agent there too (handover_seconds after it).
        assert set(view) == own and set(view.values()) == {1.0}
        assert scraped.value("pushes_total", "code", "OK") == len(own)
        assert scraped.value("agents", "state", "up") == len(own)
        assert scraped.value("agents", "state", "handed_over") == 0
    assert set(views[0]) | set(views[1]) == set(homes)
    assert check.total("agents", "state", "up") == AGENTS
    assert check.total("agents", "state", "down") == 0
    assert check.total("rejected_total", "reason", "overloaded") == 0


def test_each_home_has_its_own_shared_connections(
    benchmarks: tuple[ModuleType, ModuleType],
    servers: list[tuple[str, Recorder]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scale_load, _ = benchmarks
    monkeypatch.setattr(scale_load, "CHANNEL_AGENTS", 20)
    monkeypatch.setattr(scale_load, "CHANNEL_STREAMS", 4)
    addresses = [address for address, _ in servers]
    agents = make_agents(scale_load, 200)
    placed = [0, 0]
    for agent in agents:  # as Share.add places them: a home, and a slot among that home's agents
        agent.home = scale_load.home_of(agent.agent_id, addresses)
        agent.slot, placed[agent.home] = placed[agent.home], placed[agent.home] + 1
    assert all(placed)

    async def push_all() -> Any:
        homes = scale_load.Homes(addresses, scale_load.Stats(), agents)
        try:
            await asyncio.gather(*(homes.push(agent) for agent in agents))
        finally:
            await homes.close()
        return homes.stats

    stats = asyncio.run(push_all())
    assert stats.ok == len(agents) and not stats.refused
    for n, (address, recorder) in enumerate(servers):
        own = {a.agent_id for a in agents if rendezvous.home(a.agent_id, addresses) == address}
        assert set(recorder.seqs) == own  # every agent at its home, none elsewhere
        per_connection: dict[str, int] = defaultdict(int)
        for peers in recorder.peers.values():
            assert len(peers) == 1  # an agent keeps its connection
            per_connection[next(iter(peers))] += 1
        # placed[n] agents over max(4, ceil(placed[n] / 20)) connections, evenly (so never above 20 each).
        count = max(4, -(-placed[n] // 20))
        assert len(per_connection) == count
        assert placed[n] // count <= min(per_connection.values())
        assert max(per_connection.values()) <= -(-placed[n] // count) <= 20
        assert max(recorder.most.values()) == 4  # the bound reached, never passed
