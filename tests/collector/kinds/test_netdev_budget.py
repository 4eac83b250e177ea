"""What one agent's devices may cost the collector: the interfaces of a report together are bounded, and
what the netdev state keeps stays within the interface budget whatever sequence of reports comes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds.netdev import INTERFACE_BUDGET, NetdevState
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.limits import MAX_NETWORK_DEVICES, MAX_REPORT_DEVICE_INTERFACES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.kinds.netdev_reports import AN_CU, polled, unreachable, value
from tests.collector.support import NOW_MS

AGENT = "a1"


def router(name: str, count: int, first: int = 1, down: frozenset[int] = frozenset()) -> pb.NetworkDevice:
    """A device that answered with ``count`` interfaces, ifIndex ``first`` on, all up but ``down``."""
    polled = pb.NetworkDevice(name=name, sys_name=name, reachable=True, address="192.0.2.1")
    for index in range(first, first + count):
        up = index not in down
        polled.interfaces.add(index=index, name=f"{name}-{index}", oper_up=up, oper_status=1 if up else 2)
    return polled


def new_fleet() -> FleetState:
    return FleetState(clock=lambda: NOW_MS / 1000 + 7200)


def push(fleet: FleetState, *reports: pb.Report) -> None:
    fleet.apply(AGENT, list(reports), site=AN_CU, hostname="pc-an-cu-01")


def state(fleet: FleetState) -> NetdevState:
    entry = fleet.get(AGENT)
    assert entry is not None
    netdev: NetdevState = entry.states["netdev"]
    return netdev


def interfaces_kept(fleet: FleetState) -> int:
    return sum(view.size() for view in state(fleet).devices.values())


def views_held(fleet: FleetState) -> int:
    return sum(len(view.oper) + len(view.names) for view in state(fleet).devices.values())


def changes_held(fleet: FleetState) -> int:
    return sum(len(counters["changes"]) for counters in state(fleet).netdev_devices.values())


def refused(report: pb.Report, limits: Limits) -> Rejection:
    with pytest.raises(Rejection) as info:
        validate_push(pb.PushRequest(reports=[report]), NOW_MS + 60_000, limits)
    return info.value


# --- validation ------------------------------------------------------------------------------------


def test_the_interfaces_of_a_report_together_are_bounded() -> None:
    limits = Limits()
    assert limits.max_report_device_interfaces == MAX_REPORT_DEVICE_INTERFACES == INTERFACE_BUDGET
    at_limit = polled(1, [router("rt-a", 200), router("rt-b", 56)])
    validate_push(pb.PushRequest(reports=[at_limit]), NOW_MS + 60_000, limits)
    over = refused(polled(1, [router("rt-a", 200), router("rt-b", 57)]), limits)
    assert over.reason == "too_many_items"
    assert "reports[0].network_devices[*].interfaces: 257 entries, at most 256 allowed" in str(over)


def test_the_bound_is_the_configured_one() -> None:
    limits = Limits(max_report_device_interfaces=64)
    validate_push(pb.PushRequest(reports=[polled(1, [router("rt-a", 64)])]), NOW_MS + 60_000, limits)
    assert refused(polled(1, [router("rt-a", 60), router("rt-b", 5)]), limits).reason == "too_many_items"


# --- what is kept ----------------------------------------------------------------------------------


def test_devices_of_older_reports_go_first_when_the_newest_fill_the_budget() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-old", 200)]))
    push(fleet, polled(2, [router("rt-a", 128), router("rt-b", 128)]))  # rt-old no longer polled
    assert sorted(state(fleet).devices) == ["rt-a", "rt-b"]
    assert interfaces_kept(fleet) == 256
    assert value(fleet, "fleetwatch_netdev_up", device="rt-old") is None


def test_devices_of_older_reports_stay_while_they_fit() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-old", 100)]))
    push(fleet, polled(2, [router("rt-a", 100)]))
    assert sorted(state(fleet).devices) == ["rt-a", "rt-old"]  # the hour of STALE_DEVICE_SECONDS


def test_devices_spread_over_reports_with_falling_times_stay_within_the_budget() -> None:
    """Each report names every device kept before (with no interfaces: older polls are not taken) and
    one more with a full report's worth: the kept polls would add up to 16 x 256 without the budget."""
    fleet = new_fleet()
    names: list[str] = []
    for seq in range(1, MAX_NETWORK_DEVICES + 1):
        name = f"rt-{seq}"
        devices = [pb.NetworkDevice(name=n, reachable=True) for n in names]
        push(fleet, polled(seq, [*devices, router(name, 256)], second=1000 - seq))
        names.append(name)
        assert interfaces_kept(fleet) <= INTERFACE_BUDGET, seq
    assert views_held(fleet) <= 4 * INTERFACE_BUDGET  # oper and names: kept polls, and as many retained


def test_devices_that_stop_answering_keep_bounded_views_of_their_last_answered_poll() -> None:
    fleet = new_fleet()
    names = [f"rt-{i}" for i in range(MAX_NETWORK_DEVICES)]
    for seq, name in enumerate(names, 1):  # each answers once with all 256, the others do not answer
        push(fleet, polled(seq, [router(n, 256) if n == name else unreachable(n) for n in names]))
        kept = state(fleet)
        retained = sum(len(view.oper) for view in kept.devices.values() if view.size() == 0)
        assert interfaces_kept(fleet) == 256 and retained <= INTERFACE_BUDGET, seq
    assert len(state(fleet).devices) == MAX_NETWORK_DEVICES  # no device dropped for it


def test_a_large_site_with_a_router_down_keeps_every_device_and_counts_its_flip_on_return() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-wan", 85), router("rt-lan", 85), router("sw-core", 86)]))
    push(fleet, polled(2, [unreachable("rt-wan"), router("rt-lan", 90), router("sw-core", 90)]))
    assert sorted(state(fleet).devices) == ["rt-lan", "rt-wan", "sw-core"]
    assert value(fleet, "fleetwatch_netdev_up", device="rt-wan") == 0
    back = router("rt-wan", 85, down=frozenset({1}))
    push(fleet, polled(3, [back, router("rt-lan", 85), router("sw-core", 86)]))
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device="rt-wan", ifname="rt-wan-1") == 1


def test_link_changes_of_interfaces_no_poll_shows_are_counted_within_the_budget() -> None:
    """Reports of link changes alone, each naming interfaces never polled: the flip counts of interfaces
    no view holds, the views and what the store keeps stay bounded."""
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-a", 10)]))
    for seq in range(2, 22):
        report = polled(seq, [])
        for i in range(256):
            device = "rt-a" if i % 2 else f"ghost-{i % 10}"  # never polled
            change = pb.LinkChange(device=device, interface=f"if-{seq}-{i}-" + "x" * 200, up=bool(i % 3))
            report.events.add(time_unix_ms=report.collected_unix_ms, link_change=change)
        push(fleet, report)
        assert changes_held(fleet) <= INTERFACE_BUDGET, seq
        assert views_held(fleet) <= 4 * INTERFACE_BUDGET, seq
    assert len(state(fleet).netdev_devices) <= 2 * MAX_NETWORK_DEVICES
    entry = fleet.get(AGENT)
    assert entry is not None
    saved: dict[str, Any] = json.loads(entry.counters())
    assert len(json.dumps(saved["netdev_devices"])) < INTERFACE_BUDGET * 300
    assert value(fleet, "fleetwatch_netdev_if_oper_up", device="rt-a", ifname="rt-a-1") == 1  # still shown


def test_a_flip_of_a_shown_interface_is_counted_whatever_came_before() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-a", 256)]))
    noise = polled(2, [])
    for i in range(256):
        change = pb.LinkChange(device="rt-a", interface=f"gone-{i}", up=False)
        noise.events.add(time_unix_ms=noise.collected_unix_ms, link_change=change)
    push(fleet, noise)
    push(fleet, polled(3, [router("rt-a", 256, down=frozenset({7}))]))
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device="rt-a", ifname="rt-a-7") == 1
    assert changes_held(fleet) <= INTERFACE_BUDGET


def test_a_poll_keeps_little_per_interface() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [router("rt-a", 3), unreachable("rt-b")]))
    a, b = state(fleet).devices["rt-a"], state(fleet).devices["rt-b"]
    assert all(a.names[index] is name for index, name in zip((1, 2, 3), a.oper, strict=True))  # one str
    assert b.device is not None and len(b.device.interfaces) == 0 and b.size() == 0
    sent = unreachable("rt-b")
    sent.interfaces.add(index=1, name="never-shown")  # a device that did not answer shows none
    push(fleet, polled(2, [router("rt-a", 3, down=frozenset({2})), sent]))
    assert state(fleet).devices["rt-b"].size() == 0
    assert all(a.names[index] is name for index, name in zip((1, 2, 3), a.oper, strict=True))  # still one
