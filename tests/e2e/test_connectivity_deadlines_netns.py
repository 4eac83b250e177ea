"""Connectivity that holds when the network fails: a real agent with 20 targets behind one uplink."""
# The lab (tests/e2e/deadline_lab.py) runs the agent with the defaults that matter here: a 15 s interval, the
# probe's 10 s timeout, bursts of 5. Its reports stay in its spool, read with their times.
#
# - The uplink dies: the first report of the outage carries all 20 targets, each down, made within
#   the interval; every outage then starts in that cycle.
# - 10 of 20 targets time out with traceroute on: the report is made within the interval, and the
#   paths (hop 1, the router, for all 10) ride in the next one.
# Before, in this lab (benchmarks/bench_connectivity.py): 13.8 s for the uplink-dead cycle, its
# web targets' lookups waiting glibc's 2 x 5 s; 22.0 s for the first traceroute cycle, no hop found.

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.deadline_lab import DEAD, LIVE, TargetsLab, address_of, connectivity_of, target_table
from tests.e2e.support import ProcessGroup
from tests.integration import netns

pytestmark = [pytest.mark.e2e, pytest.mark.peer("netns")]

INTERVAL = 15.0
KINDS = ("icmp", "tcp", "dns", "http")


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    netns.require_netns()
    netns.sweep_stale()


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[[str], TargetsLab]]:
    """Builds the namespaces and servers; stops every process (SIGTERM first) before deleting them."""
    made: list[tuple[netns.Network, ProcessGroup]] = []

    def make(connectivity: str) -> TargetsLab:
        network = netns.Network(("agent", "router", "server")).__enter__()
        group = ProcessGroup(tmp_path / "logs")
        made.append((network, group))
        lab = TargetsLab(network, group, tmp_path, False, interval=INTERVAL, connectivity=connectivity)
        lab.collector_dir.mkdir()
        lab.build()
        lab.start_collector()
        lab.enroll()
        lab.stop_collector()
        lab.start_agent()
        return lab

    try:
        yield make
    finally:
        for network, group in made:
            try:
                group.stop_all()
            finally:
                network.close()


def cycle_start_ms(report: pb.Report) -> float:
    """When the report's connectivity cycle began (its checks' start), from its time and duration."""
    outcome, _ = connectivity_of(report)
    return report.collected_unix_ms - (outcome.duration_seconds * 1000 if outcome else 0)


def test_uplink_dead_every_target_is_down_in_the_first_report_within_the_interval(
    make_lab: Callable[[str], TargetsLab],
) -> None:
    # Five of each kind: the host's DNS server (dns-1, the agent namespace's resolver, beyond the
    # uplink) and four more; the web servers by name, resolved through that resolver.
    targets = [
        (f"{kind}-{n}", kind, address_of(kind, LIVE, n, named=kind == "http"))
        for i, kind in enumerate(KINDS)
        for n in range(5 * i + 1, 5 * i + 6)
        if (kind, n) != ("dns", 11)
    ]
    lab = make_lab("traceroute = false\n" + "".join(target_table(*t) for t in targets))
    names = {name for name, _, _ in targets} | {"dns-1"}
    assert len(names) == 20

    def all_up() -> pb.Report | None:
        reports = lab.spooled_reports()
        _, targets = connectivity_of(reports[-1]) if reports else (None, {})
        return reports[-1] if set(targets) == names and all(t.success for t in targets.values()) else None

    lab.wait(all_up, "a report with all 20 targets up")
    cut_ms = time.time() * 1000
    lab.uplink_dies()

    def first_of_the_outage() -> pb.Report | None:
        return next((r for r in lab.spooled_reports() if cycle_start_ms(r) > cut_ms), None)

    report = lab.wait(first_of_the_outage, "the first report of a cycle begun after the uplink died")
    outcome, targets = connectivity_of(report)
    assert outcome is not None and outcome.success, outcome
    assert outcome.duration_seconds < INTERVAL, f"the cycle took {outcome.duration_seconds:.1f} s"
    assert set(targets) == names, sorted(targets)
    down = {name: pb.ProbeError.Name(t.error) for name, t in targets.items() if not t.success}
    assert down == dict.fromkeys(names, "PROBE_ERROR_TIMEOUT"), down
    print(f"first report of the outage: cycle of {outcome.duration_seconds:.2f} s, 20 of 20 targets down")

    # The outage of each target starts in that first cycle: the event's start lies within it.
    lab.uplink_returns()
    back_ms = time.time() * 1000

    def outages() -> dict[str, pb.Outage] | None:
        events = [e for r in lab.spooled_reports() for e in r.events if e.HasField("outage")]
        found = {e.outage.target: e.outage for e in events if e.outage.end_unix_ms > back_ms}
        return found if set(found) == names else None

    ended = lab.wait(outages, "the outage events of all 20 targets")
    started = cycle_start_ms(report)
    for name, outage in ended.items():
        assert started - 50 <= outage.start_unix_ms <= report.collected_unix_ms, (name, outage, started)


def test_ten_of_twenty_timing_out_with_traceroute_the_report_is_in_time_and_the_paths_next(
    make_lab: Callable[[str], TargetsLab],
) -> None:
    kinds = [KINDS[n % len(KINDS)] for n in range(1, 11)]
    # Nine live ones and the host's DNS server (dns-1, live too).
    live = [(f"live-{kind}-{n}", kind, address_of(kind, LIVE, n)) for n, kind in enumerate(kinds[:9], 1)]
    dead = [(f"dead-{kind}-{n}", kind, address_of(kind, DEAD, n)) for n, kind in enumerate(kinds, 1)]
    lab = make_lab("traceroute = true\n" + "".join(target_table(*t) for t in live + dead))
    router = lab.network.address("router", "agent")

    reports = lab.wait(lambda: (r := lab.spooled_reports()) and len(r) >= 2 and r, "two reports")
    first, second = reports[:2]

    outcome, targets = connectivity_of(first)
    assert outcome is not None and outcome.success, outcome
    assert outcome.duration_seconds < INTERVAL, f"the cycle took {outcome.duration_seconds:.1f} s"
    assert len(targets) == 20
    assert {n for n, t in targets.items() if not t.success} == {n for n, _, _ in dead}
    assert {pb.ProbeError.Name(targets[n].error) for n, _, _ in dead} == {"PROBE_ERROR_TIMEOUT"}
    assert not any(t.path_diagnosed for t in targets.values()), "the report did not wait for traceroutes"

    _, later = connectivity_of(second)
    paths = {n: (t.path_diagnosed, t.path_hops, t.path_last_hop, t.path_reached) for n, t in later.items()}
    assert {n: paths[n] for n, _, _ in dead} == {n: (True, 1, router, False) for n, _, _ in dead}, paths
    assert not any(paths[n][0] for n, _, _ in [*live, ("dns-1", "", "")])
    gap = (second.collected_unix_ms - first.collected_unix_ms) / 1000
    assert abs(gap - INTERVAL) < 2.0, f"reports {gap:.1f} s apart"
    print(f"first report: cycle of {outcome.duration_seconds:.2f} s; 10 paths in the next, {gap:.1f} s later")
