"""/metrics in gzip against a real collector process and a real Prometheus: the headers follow
Accept-Encoding, Prometheus (which asks for gzip) stores the series of a plain scrape, and agents
added, changed and forgotten between scrapes are right in both encodings."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import math
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import grpc
import pytest

from fleetwatch_agent import __version__, convert
from fleetwatch_agent.transport import Transport
from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_proto.v1 import fleetwatch_pb2_grpc as pb_grpc
from fleetwatch_sim.fleet import Drive, FleetStats, SimulatedAgent, build_fleet, make_report
from fleetwatch_sim.probes import HostIncidents
from fleetwatch_sim.scenario import NO_INCIDENTS
from tests.conftest import require_program
from tests.e2e.support import (
    CollectorProcess,
    ProcessGroup,
    auth_metadata,
    create_token,
    parse_samples,
    run_command,
    start_collector,
    wait_until,
)
from tests.integration.dashboards_prometheus import PrometheusServer, start_prometheus

AGENTS = 12
INTERVAL_SECONDS = 600  # the agents stay up for the whole module
HOST_PREFIXES = ("fleetwatch_agent_", "fleetwatch_host_", "fleetwatch_antivirus_", "fleetwatch_connectivity_")
SERIES_TIMEOUT_SECONDS = 40.0
Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


class RecordingProxy:
    """A TCP relay on loopback that keeps the head of every request and response it passes."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: list[bytearray] = []  # filled as the bytes pass
        self.responses: list[bytearray] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._upstream, timeout=30)
            request_head, response_head = bytearray(), bytearray()
            self.requests.append(request_head)
            self.responses.append(response_head)
            threading.Thread(target=self._pump, args=(client, server, request_head), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, response_head), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, head: bytearray) -> None:
        try:
            while data := source.recv(65536):
                if len(head) < 4096:
                    head.extend(data[: 4096 - len(head)])
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped = True
        self._listener.close()


@dataclass
class Agents:
    """Simulated agents enrolled and pushed by the test itself (interval 600 s: never down here)."""

    address: str
    token: str
    fleet: list[SimulatedAgent]
    identities: dict[str, tuple[str, str]] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)

    def push(self, agent: SimulatedAgent, cpu: float | None = None) -> None:
        key = agent.host.agent_id
        drive = Drive(cast(Transport, None), INTERVAL_SECONDS, 0.0, 1, FleetStats(), asyncio.Event())
        self.seqs[key] = self.seqs.get(key, 0) + 1
        report = make_report(
            agent, self.seqs[key], 60.0, NO_INCIDENTS.effects("", 0, 0), HostIncidents(), drive
        )
        if cpu is not None:
            report.resources.cpu_utilization_ratio = cpu
        with grpc.insecure_channel(self.address) as channel:
            stub = pb_grpc.CollectorStub(channel)  # type: ignore[no-untyped-call]
            if key not in self.identities:
                host = convert.host_info(agent.host.facts, agent.location, __version__)
                enrolled = stub.Enroll(pb.EnrollRequest(token=self.token, host=host), timeout=10.0)
                self.identities[key] = (enrolled.agent_id, enrolled.secret)
            agent_id, secret = self.identities[key]
            response = stub.Push(
                pb.PushRequest(reports=[report]), metadata=auth_metadata(agent_id, secret), timeout=10.0
            )
        assert response.acked_seq == self.seqs[key]


@dataclass
class Stack:
    collector: CollectorProcess
    data_dir: Path
    agents: Agents
    proxy: RecordingProxy
    prometheus: PrometheusServer


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus = require_program("prometheus", "apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("metrics-gzip")
    group = ProcessGroup(tmp / "logs")
    proxy: RecordingProxy | None = None
    try:
        data_dir = tmp / "collector-data"
        collector = start_collector(group, data_dir)
        fleet = build_fleet(AGENTS + 1, 5, load_inventory())  # the last one joins later
        agents = Agents(collector.grpc_address, create_token(data_dir), fleet)
        for agent in fleet[:AGENTS]:
            agents.push(agent)
        proxy = RecordingProxy(collector.http_address)
        server = start_prometheus(group, prometheus, tmp / "prometheus", proxy.address)
        yield Stack(collector, data_dir, agents, proxy, server)
    finally:
        if proxy is not None:
            proxy.close()
        group.stop_all()


def fetch(url: str, accept_encoding: str | None) -> tuple[dict[str, str], bytes]:
    headers = {} if accept_encoding is None else {"Accept-Encoding": accept_encoding}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return dict(response.headers.items()), response.read()


def host_series(text: str) -> Series:
    """The per-host series of an exposition, by name and labels (an empty label is no label to
    Prometheus)."""
    return {
        (s.name, frozenset((k, v) for k, v in s.labels.items() if v)): s.value
        for s in parse_samples(text)
        if s.name.startswith(HOST_PREFIXES)
    }


def plain_series(stack: Stack) -> Series:
    return host_series(fetch(stack.collector.metrics_url, None)[1].decode())


def stored_series(stack: Stack) -> Series:
    """The per-host series Prometheus has now, without the target labels it adds."""
    prefixes = "|".join(prefix.removesuffix("_") for prefix in HOST_PREFIXES)
    result = stack.prometheus.result(f'{{__name__=~"({prefixes})_.+"}}')
    series: Series = {}
    for item in result:
        labels = {k: v for k, v in item["metric"].items() if k not in ("job", "instance", "__name__")}
        series[(item["metric"]["__name__"], frozenset(labels.items()))] = float(item["value"][1])
    return series


def same(expected: Series, got: Series) -> bool:
    return expected.keys() == got.keys() and all(
        math.isclose(expected[key], got[key], rel_tol=1e-12) for key in expected
    )


def prometheus_matches_plain(stack: Stack) -> Series:
    """Waits until Prometheus holds exactly the series of a plain scrape, with their values."""
    expected: Series = {}

    def matched() -> bool:
        nonlocal expected
        expected = plain_series(stack)
        return same(expected, stored_series(stack))

    deadline = time.monotonic() + SERIES_TIMEOUT_SECONDS
    while not matched():
        if time.monotonic() > deadline:
            got = stored_series(stack)
            missing = sorted(str(k) for k in expected.keys() - got.keys())[:5]
            extra = sorted(str(k) for k in got.keys() - expected.keys())[:5]
            pytest.fail(f"Prometheus differs from a plain scrape: missing {missing}, extra {extra}")
        time.sleep(0.5)
    return expected


@pytest.mark.peer("prometheus")
def test_gzip_only_when_accepted(stack: Stack) -> None:
    url = stack.collector.metrics_url
    headers, body = fetch(url, "gzip")
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Vary"] == "Accept-Encoding"
    zipped = host_series(gzip.decompress(body).decode())
    for accept_encoding in (None, "identity", "gzip;q=0", "br, deflate"):
        headers, body = fetch(url, accept_encoding)
        assert "Content-Encoding" not in headers, accept_encoding
        assert headers["Vary"] == "Accept-Encoding"
        assert host_series(body.decode()) == zipped
    assert len({labels for _, labels in zipped}) > AGENTS  # every agent, and its targets, products...
    assert len(body) > 5 * len(gzip.compress(body))  # the text compresses well: worth the header


@pytest.mark.peer("prometheus")
def test_prometheus_scrapes_gzip_and_stores_the_plain_series(stack: Stack) -> None:
    series = prometheus_matches_plain(stack)
    assert len({dict(labels)["agent_id"] for _, labels in series}) == AGENTS
    scrapes = [
        (request, response)
        for request, response in zip(stack.proxy.requests, stack.proxy.responses, strict=False)
        if bytes(request).startswith(b"GET /metrics")
    ]
    assert scrapes, "Prometheus did not scrape through the proxy"
    for request, response in scrapes:
        assert b"\r\naccept-encoding: gzip" in bytes(request).lower()
        if response:
            assert b"\r\ncontent-encoding: gzip\r\n" in bytes(response).lower()


@pytest.mark.peer("prometheus")
def test_agents_added_changed_and_forgotten_between_scrapes(stack: Stack) -> None:
    prometheus_matches_plain(stack)
    fleet = stack.agents.fleet
    changed, forgotten, added = fleet[0], fleet[1], fleet[AGENTS]
    stack.agents.push(changed, cpu=0.875)
    stack.agents.push(added)
    forgotten_id = stack.agents.identities[forgotten.host.agent_id][0]
    result = run_command(
        "fleetwatch-collector", "agent", "forget", forgotten_id, "--data-dir", str(stack.data_dir)
    )
    assert result.returncode == 0, result.stderr

    def applied() -> bool:  # the collector's periodic check takes the forgotten agent off
        ids = {dict(labels)["agent_id"] for _, labels in plain_series(stack)}
        return forgotten_id not in ids and stack.agents.identities[added.host.agent_id][0] in ids

    wait_until(applied, "the forgotten agent off /metrics", watch=(stack.collector.process,))
    series = prometheus_matches_plain(stack)
    by_agent = {dict(labels)["agent_id"] for _, labels in series}
    assert forgotten_id not in by_agent
    assert len(by_agent) == AGENTS  # one forgotten, one added
    changed_id = stack.agents.identities[changed.host.agent_id][0]
    cpu = [
        value
        for (name, labels), value in series.items()
        if name == "fleetwatch_host_cpu_utilization_ratio" and dict(labels)["agent_id"] == changed_id
    ]
    assert cpu == [0.875]
    # The next gzip scrape too, read directly.
    _, body = fetch(stack.collector.metrics_url, "gzip")
    assert same(plain_series(stack), host_series(gzip.decompress(body).decode()))
