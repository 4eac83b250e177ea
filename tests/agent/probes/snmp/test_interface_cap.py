"""The interfaces of one report together stay within what the collector accepts: an even share per
device, the rest counted in interfaces_omitted, link changes only for interfaces the report carries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.snmp import SnmpConfig, wire
from fleetwatch_agent.probes.snmp.collect import PollLoop, make_collect
from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_proto.limits import MAX_REPORT_DEVICE_INTERFACES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.snmp.devices_support import FakePoller, device, planned, unreachable

NOW = 1_760_000_000.0
CONFIG = SnmpConfig(timeout_seconds=2.0, deadline_seconds=1.0, request_timeout_seconds=0.5)
ROUTERS = ("rt-wan", "rt-lan", "sw-core")


def router(name: str, count: int, down: frozenset[int] = frozenset(), **extra: Any) -> pb.NetworkDevice:
    """A reachable device with interfaces ifIndex 1..count, all up but those in ``down``."""
    return device(name, {f"{name}-{i}": i not in down for i in range(1, count + 1)}, **extra)


class Site:
    """One agent polling its site's devices through a fake poller, committing cursors like the runner."""

    def __init__(self, script: dict[str, list[pb.NetworkDevice]]) -> None:
        self.cursors: dict[str, str] = {}
        self.now = NOW
        self.poller = FakePoller(script)
        self.polls = PollLoop(lambda: self.poller, name="snmp-poller-cap")
        context = ProbeContext(Path("."), cursors=self.cursors, clock=lambda: self.now)
        self.collect = make_collect(CONFIG, context, planned(script), self.polls)

    def cycle(self) -> SnmpResult:
        self.now += 15
        result = self.collect()
        self.cursors.update(result.cursors)
        return result


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for site in made:
        site.polls.close()


def new_site(sites: list[Site], script: dict[str, list[pb.NetworkDevice]]) -> Site:
    site = Site(script)
    sites.append(site)
    return site


def kept(result: SnmpResult) -> dict[str, tuple[int, int]]:
    """Device -> (interfaces carried, interfaces_omitted)."""
    return {d.name: (len(d.interfaces), d.interfaces_omitted) for d in result.devices}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([90, 90, 90], [85, 85, 86]),  # three large routers: even shares, the remainder to the last
        ([200, 40, 30], [186, 40, 30]),  # small devices keep all theirs, the large one the rest
        ([0, 300], [0, 256]),  # a device that did not answer leaves its share
        ([24, 48], [24, 48]),  # within the cap: everything
        ([], []),
    ],
)
def test_shares_are_even_and_what_a_small_device_leaves_goes_to_the_others(
    counts: list[int], expected: list[int]
) -> None:
    shares = wire.shares(counts, 256)
    assert shares == expected
    assert sum(shares) <= 256
    assert all(0 <= share <= count for share, count in zip(shares, counts, strict=True))


def test_three_large_routers_are_cut_to_the_reports_cap_and_say_how_many(sites: list[Site]) -> None:
    site = new_site(sites, {name: [router(name, 90, interfaces_omitted=4)] for name in ROUTERS})
    result = site.cycle()
    assert MAX_REPORT_DEVICE_INTERFACES == 256
    # Each keeps its lowest ifIndexes; the poller's own omitted (max_interfaces) are added to.
    assert kept(result) == {"rt-wan": (85, 4 + 5), "rt-lan": (85, 4 + 5), "sw-core": (86, 4 + 4)}
    for polled in result.devices:
        assert [nic.index for nic in polled.interfaces] == list(range(1, len(polled.interfaces) + 1))
    report = pb.Report(seq=1)
    wire.to_wire(result, report)
    assert sum(len(d.interfaces) for d in report.network_devices) == MAX_REPORT_DEVICE_INTERFACES
    assert [d.interfaces_omitted for d in report.network_devices] == [9, 9, 8]


def test_a_site_within_the_cap_is_sent_whole(sites: list[Site]) -> None:
    site = new_site(sites, {"rt-wan": [router("rt-wan", 24)], "sw-core": [router("sw-core", 90)]})
    assert kept(site.cycle()) == {"rt-wan": (24, 0), "sw-core": (90, 0)}


def test_a_device_that_does_not_answer_leaves_its_share_to_the_others(sites: list[Site]) -> None:
    script = {name: [router(name, 150), router(name, 150)] for name in ROUTERS}
    script["rt-wan"][1] = unreachable("rt-wan")
    site = new_site(sites, script)
    assert kept(site.cycle()) == {"rt-wan": (85, 65), "rt-lan": (85, 65), "sw-core": (86, 64)}
    assert kept(site.cycle()) == {"rt-wan": (0, 0), "rt-lan": (128, 22), "sw-core": (128, 22)}


def test_link_changes_are_made_only_for_interfaces_the_report_carries(sites: list[Site]) -> None:
    script = {name: [router(name, 100), router(name, 100, down=frozenset({2, 100}))] for name in ROUTERS}
    site = new_site(sites, script)
    site.cycle()
    result = site.cycle()
    # ifIndex 100 of every router is beyond its share: its flip is not reported, nor kept in a cursor.
    assert sorted((c.device, c.if_index, c.up) for c in result.link_changes) == [
        ("rt-lan", 2, False),
        ("rt-wan", 2, False),
        ("sw-core", 2, False),
    ]
    assert all(":" in value and ",100:" not in value for value in result.cursors.values())
