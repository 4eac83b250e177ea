"""Whole cycles on loopback: deadlines that hold, every target reported, paths in the next report."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity import ConnectivityConfig, discovery, netinfo
from fleetwatch_agent.probes.connectivity.addressing import SYSTEM, Address
from fleetwatch_agent.probes.connectivity.collect import (
    LOOPBACK_ONLY_ENV,
    LanSweeps,
    check_budget,
    make_collector,
)
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult, LanResult, PathResult
from fleetwatch_agent.probes.connectivity.outages import CURSOR_PREFIX
from fleetwatch_agent.probes.connectivity.pathdiag import PathDiagnosis
from fleetwatch_agent.probes.connectivity.targets import TargetConfig
from fleetwatch_agent.probes.context import ProbeContext
from tests.agent.probes.connectivity.servers import (
    FakeDnsServer,
    silent_http,
    silent_udp,
    syn_dropping_listener,
    trickling_http,
)
from tests.agent.probes.connectivity.test_tcp_http import serve

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_INET6"), reason="needs IPv6")

V4, V6 = socket.AF_INET, socket.AF_INET6
QUICK = {"count": 3, "spacing_seconds": 0.05, "attempt_timeout_seconds": 0.5, "gateway": False}


def config(targets: Sequence[TargetConfig], **options: object) -> ConnectivityConfig:
    settings: dict[str, object] = {**QUICK, "collector": False, "dns_name": "ok.test", "traceroute": False}
    return ConnectivityConfig(targets=tuple(targets), **{**settings, **options})  # type: ignore[arg-type]


async def hanging_lookup(host: str, deadline: float) -> list[Address]:
    """A resolver that never answers for names (a dead DNS server behind the system resolver)."""
    if host in ("127.0.0.1", "::1"):
        return await SYSTEM.resolve(host, deadline)
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


class RecordingDiagnosis(PathDiagnosis):
    """The real background machinery with a fake traceroute: records what it was asked, answers hop 1."""

    def __init__(self, seconds: float = 0.0) -> None:
        super().__init__(15, 5.0, self.trace, pause_seconds=0.0)
        self.asked: list[list[str]] = []
        self.seconds = seconds

    def trace(self, addresses: Sequence[str], max_hops: int, budget: float) -> dict[str, PathResult]:
        self.asked.append(list(addresses))
        time.sleep(self.seconds)
        return {a: PathResult(1, "192.0.2.1", False) for a in addresses}


@pytest.fixture
def names_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the loopback-only switch (resolvers here are fakes); hide the host's DNS servers and gateway."""
    monkeypatch.delenv(LOOPBACK_ONLY_ENV, raising=False)
    monkeypatch.setattr(netinfo, "dns_servers", lambda timeout=5.0: [])
    monkeypatch.setattr(netinfo, "default_gateway", lambda timeout=5.0: None)


@pytest.fixture
def dead_everything(names_allowed: None) -> Iterator[list[TargetConfig]]:
    """20 targets that all time out: silent DNS and web servers, dropped SYNs, names never looked up."""
    with ExitStack() as stack:
        targets = []
        for i in range(5):
            udp = stack.enter_context(silent_udp())
            targets.append(TargetConfig(f"dns-{i}", "dns", f"127.0.0.1:{udp}"))
            web = stack.enter_context(silent_http())
            targets.append(TargetConfig(f"web-{i}", "http", f"http://127.0.0.1:{web}/"))
            syn = stack.enter_context(syn_dropping_listener())
            targets.append(TargetConfig(f"tcp-{i}", "tcp", f"127.0.0.1:{syn}"))
            targets.append(TargetConfig(f"named-{i}", "icmp", f"host-{i}.example"))
        yield targets


def test_every_target_timing_out_is_reported_within_the_budget(dead_everything: list[TargetConfig]) -> None:
    cfg = config(dead_everything, timeout_seconds=2.0, http_timeout_seconds=1.0)
    collect = make_collector(cfg, ProbeContext(Path("."), clock=lambda: 1_000.0), resolve=hanging_lookup)

    started = time.monotonic()
    result = collect()
    elapsed = time.monotonic() - started

    assert elapsed < cfg.timeout_seconds, f"the cycle took {elapsed:.2f} s"
    assert [s.name for s in result.targets] == [t.name for t in dead_everything]
    assert {s.result.error for s in result.targets} == {"timeout"}, [s.result for s in result.targets]
    # The names' lookups are what did not fit: cut at the budget, and counted as the cycle's overrun.
    cut = {s.name for s in result.targets if s.result.detail.startswith("cut at the cycle's budget")}
    assert cut == {f"named-{i}" for i in range(5)}
    assert (result.checks_cut, result.overruns_total) == (5, 1)
    # Each is down since this cycle: its outage starts in the first cycle that saw it fail.
    assert result.cursors == {CURSOR_PREFIX + t.name: "1000000" for t in dead_everything}


def test_a_slow_web_server_is_a_timeout_and_the_others_are_up_in_the_same_cycle() -> None:
    with trickling_http(0.2) as slow, serve() as fast, FakeDnsServer() as dns:
        targets = [
            TargetConfig("slow", "http", slow),
            TargetConfig("fast", "http", fast + "/"),
            TargetConfig("lo", "icmp", "127.0.0.1"),
            TargetConfig("lo6", "icmp", "::1"),
            TargetConfig("dns", "dns", f"127.0.0.1:{dns.port}"),
        ]
        cfg = config(targets, timeout_seconds=3.0, http_timeout_seconds=1.0)
        started = time.monotonic()
        result = make_collector(cfg, ProbeContext(Path(".")))()
        elapsed = time.monotonic() - started
    verdicts = {s.name: s.result.error for s in result.targets}
    if not _can_ping():
        verdicts.update(lo="", lo6="")
    assert verdicts == {"slow": "timeout", "fast": "", "lo": "", "lo6": "", "dns": ""}
    assert 1.0 <= elapsed < 2.0  # the slow one's deadline, not the cycle's
    assert result.checks_cut == 0


def _can_ping() -> bool:
    from fleetwatch_agent.probes.connectivity.icmp import open_icmp_socket

    opened = open_icmp_socket()
    if isinstance(opened, str):
        return False
    opened[0].close()
    return True


def test_paths_are_diagnosed_after_the_report_and_ride_in_the_next_one() -> None:
    diagnosis = RecordingDiagnosis(seconds=0.3)
    with syn_dropping_listener() as port:
        cfg = config([TargetConfig("app", "tcp", f"127.0.0.1:{port}")], timeout_seconds=2.0, traceroute=True)
        collect = make_collector(cfg, ProbeContext(Path(".")), paths=diagnosis)
        started = time.monotonic()
        first = collect()
        first_took = time.monotonic() - started
        assert diagnosis.wait(5.0)
        second = collect()
        third = collect()
    (failed,) = first.targets
    assert (failed.result.error, failed.path) == ("timeout", None)
    assert first_took < 1.0 + 0.3  # the report did not wait for the traceroute
    assert second.targets[0].path == PathResult(1, "192.0.2.1", False)
    assert third.targets[0].path is None  # once per target per traceroute_min_interval_seconds
    assert diagnosis.asked == [["127.0.0.1"]]


def test_a_target_not_due_again_waits_for_no_diagnosis() -> None:
    """The first diagnosis still runs, but the failing target was just diagnosed: no overrun."""
    diagnosis = RecordingDiagnosis(seconds=1.5)
    with syn_dropping_listener() as port:
        targets = [TargetConfig("one", "tcp", f"127.0.0.1:{port}")]
        cfg = config(targets, timeout_seconds=2.0, traceroute=True, attempt_timeout_seconds=0.2)
        collect = make_collector(cfg, ProbeContext(Path(".")), paths=diagnosis)
        collect()
        second = collect()
        diagnosis.wait(5.0)
    assert second.overruns_total == 0
    assert diagnosis.asked == [["127.0.0.1"]]


def test_a_busy_diagnosis_counts_an_overrun_when_a_due_target_must_wait() -> None:
    diagnosis = RecordingDiagnosis(seconds=1.5)
    with syn_dropping_listener() as port:
        targets = [TargetConfig("one", "tcp", f"127.0.0.1:{port}")]
        cfg = config(targets, timeout_seconds=2.0, traceroute=True, traceroute_min_interval_seconds=0.0)
        collect = make_collector(cfg, ProbeContext(Path(".")), paths=diagnosis)
        collect()
        second = collect()
        diagnosis.wait(5.0)
        third = collect()
    assert second.overruns_total == 1
    assert third.targets[0].path == PathResult(1, "192.0.2.1", False)


@pytest.mark.usefixtures("names_allowed")
def test_a_name_whose_first_address_is_dead_gives_the_same_verdict_for_every_kind() -> None:
    """dual.test is 127.0.0.1 (silent DNS server, SYNs dropped), then ::1, where everything answers."""
    # ICMP: loopback always answers; see tests/integration/test_connectivity_netns_addresses.py.

    async def dual(host: str, deadline: float) -> list[Address]:
        if host == "dual.test":
            return [Address(V4, "127.0.0.1"), Address(V6, "::1")]
        return await SYSTEM.resolve(host, deadline)

    with ExitStack() as stack:
        dns = stack.enter_context(FakeDnsServer(V6))
        stack.enter_context(silent_udp("127.0.0.1", dns.port))
        port = stack.enter_context(syn_dropping_listener("127.0.0.1"))
        stack.enter_context(serve(ipv6=True, port=port))
        targets = [
            TargetConfig("dns", "dns", f"dual.test:{dns.port}"),
            TargetConfig("web", "http", f"http://dual.test:{port}/"),
            TargetConfig("tcp", "tcp", f"dual.test:{port}"),
        ]
        cfg = config(targets, timeout_seconds=5.0, http_timeout_seconds=3.0)
        result = make_collector(cfg, ProbeContext(Path(".")), resolve=dual)()
    for status in result.targets:
        assert (status.name, status.result.success, status.result.address) == (status.name, True, "::1")
        assert "(after 127.0.0.1: timeout)" in status.result.detail, status


def test_the_collect_function_returns_within_the_probe_timeout_in_a_thread(
    dead_everything: list[TargetConfig],
) -> None:
    """How the runner calls it: in a thread, waiting at most timeout_seconds."""
    cfg = config(dead_everything, timeout_seconds=1.5, http_timeout_seconds=5.0)
    collect = make_collector(cfg, ProbeContext(Path(".")), resolve=hanging_lookup)
    box: list[ConnectivityResult] = []
    thread = threading.Thread(target=lambda: box.append(collect()), daemon=True)
    thread.start()
    thread.join(cfg.timeout_seconds)
    assert box, f"no result within the probe's timeout of {cfg.timeout_seconds} s"
    assert len(box[0].targets) == 20
    assert check_budget(cfg) < cfg.timeout_seconds


def test_the_lan_sweep_runs_in_the_background_and_its_new_devices_come_with_a_later_report() -> None:
    swept = threading.Event()

    def sweep(config: ConnectivityConfig) -> discovery.Sweep:
        swept.set()
        return discovery.Sweep((("aa:bb:cc:dd:ee:01", "192.168.1.10"), ("aa:bb:cc:dd:ee:02", "192.168.1.11")))

    sweeps = LanSweeps(ConnectivityConfig(discovery=True), sweep)
    known = json.dumps(["aa:bb:cc:dd:ee:01"])
    context = ProbeContext(Path("."), cursors={discovery.CURSOR: known})
    assert sweeps.take(context) == (None, {})  # started, nothing finished yet
    assert swept.wait(5.0)
    deadline = time.monotonic() + 5.0
    lan, cursors = None, {}
    while lan is None and time.monotonic() < deadline:
        lan, cursors = sweeps.take(context)
        time.sleep(0.01)
    assert lan == LanResult(2, (("aa:bb:cc:dd:ee:02", "192.168.1.11"),))
    assert json.loads(cursors[discovery.CURSOR]) == ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"]
    assert sweeps.take(context) == (None, {})  # once per discovery_interval_seconds


def event_polls() -> int:
    """This process's epoll descriptors: one per open selector event loop (the servers here use none)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            found += "eventpoll" in os.readlink(f"/proc/self/fd/{fd}")
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
def test_one_event_loop_serves_cycle_after_cycle_and_closes_with_the_probe(
    dead_everything: list[TargetConfig],
) -> None:
    # The checks' loop is kept between cycles: what a cycle cut at its budget left on it (lookups,
    # half-open connections, timers) must not reach the next cycle, and dropping the probe (a new
    # configuration) must close it.
    cfg = config(dead_everything, timeout_seconds=2.0, http_timeout_seconds=1.0)
    before = event_polls()
    collect = make_collector(cfg, ProbeContext(Path("."), clock=lambda: 1_000.0), resolve=hanging_lookup)
    results = []
    for _ in range(3):
        started = time.monotonic()
        results.append(collect())
        assert time.monotonic() - started < cfg.timeout_seconds
    during = event_polls()
    for result in results:
        assert [(s.name, s.result.error) for s in result.targets] == [
            (s.name, s.result.error) for s in results[0].targets
        ]
        assert result.checks_cut == 5
    del collect, results
    gc.collect()
    assert during == before + 1  # one loop for the three cycles
    assert event_polls() == before
