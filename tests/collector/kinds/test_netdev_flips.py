"""Flips of an interface's oper state: counted once each, by whichever saw it first (poll, event, trap)."""

from __future__ import annotations

from fleetwatch_collector.fleet import FleetState
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.kinds.netdev_reports import (
    AN_CU,
    LAN,
    ROUTER,
    WAN,
    changes,
    device,
    link,
    oper_up,
    polled,
    trap,
    value,
)
from tests.collector.support import NOW_MS


def new_fleet() -> FleetState:
    return FleetState(clock=lambda: NOW_MS / 1000 + 7200)


def push(fleet: FleetState, *reports: pb.Report) -> None:
    fleet.apply("a1", list(reports), site=AN_CU, hostname="pc-an-cu-01")


def test_polls_alone_count_each_change_of_state() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device(wan_up=True)]))
    assert (oper_up(fleet), changes(fleet)) == (1, 0)
    push(fleet, polled(2, [device(wan_up=False)]))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)
    push(fleet, polled(3, [device(wan_up=False)]))
    assert changes(fleet) == 1
    push(fleet, polled(4, [device(wan_up=True)]))
    assert (oper_up(fleet), changes(fleet)) == (1, 2)
    assert changes(fleet, LAN) == 0


def test_a_report_with_its_link_change_counts_the_flip_once() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    push(fleet, polled(2, [device(wan_up=False)], link(False)))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)


def test_a_link_change_of_a_device_first_seen_counts() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device(wan_up=False)], link(False)))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)


def test_a_trap_shows_at_once_and_the_poll_that_sees_it_too_counts_nothing() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    assert trap(fleet, "a1", "link_down", second=1.5)
    assert (oper_up(fleet), changes(fleet)) == (0, 1)
    assert value(fleet, "fleetwatch_netdev_traps_total", trap="link_down") == 1
    assert value(fleet, "fleetwatch_netdev_last_trap_timestamp_seconds") == NOW_MS / 1000 + 1.5
    # The agent's next poll sees it down too and reports the change it saw: the same flip.
    push(fleet, polled(2, [device(wan_up=False)], link(False)))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)
    push(fleet, polled(3, [device(wan_up=False)]))
    assert changes(fleet) == 1


def test_a_trap_then_a_poll_without_a_link_change_counts_once() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    trap(fleet, "a1", "link_down", second=1.5)
    push(fleet, polled(2, [device(wan_up=False)]))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)


def test_a_repeated_trap_is_no_new_flip() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    trap(fleet, "a1", "link_down", second=1.5)
    trap(fleet, "a1", "link_down", second=1.6)
    assert changes(fleet) == 1
    assert value(fleet, "fleetwatch_netdev_traps_total", trap="link_down") == 2


def test_a_lost_link_up_trap_is_caught_by_the_next_poll() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    trap(fleet, "a1", "link_down", second=1.5)  # down, then up again: the linkUp trap was lost
    push(fleet, polled(2, [device(wan_up=True)]))  # the agent saw it up at both its polls
    assert (oper_up(fleet), changes(fleet)) == (1, 2)


def test_a_report_collected_before_the_trap_does_not_undo_it() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    trap(fleet, "a1", "link_down", second=5)
    push(fleet, polled(2, [device(wan_up=True)], second=4))  # polled before the trap, arrived after
    assert (oper_up(fleet), changes(fleet)) == (0, 1)
    push(fleet, polled(3, [device(wan_up=False)], link(False), second=6))
    assert (oper_up(fleet), changes(fleet)) == (0, 1)


def test_a_trap_for_an_interface_the_polls_do_not_show_changes_no_series() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    assert trap(fleet, "a1", "link_down", index=99)
    assert (oper_up(fleet), changes(fleet), changes(fleet, LAN)) == (1, 0, 0)
    assert value(fleet, "fleetwatch_netdev_traps_total", trap="link_down") == 1
    assert "ifindex-99" not in fleet.render()[0].decode()


def test_a_trap_for_a_device_the_agent_no_longer_has_is_not_applied() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device("rt-other")]))
    assert not trap(fleet, "a1", "link_down")
    assert not trap(fleet, "nobody", "link_down")


def test_cold_and_warm_starts_count_without_touching_interfaces() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device()]))
    trap(fleet, "a1", "cold_start", second=2)
    trap(fleet, "a1", "warm_start", second=3)
    trap(fleet, "a1", "something_else", second=4)
    counted = {
        k: value(fleet, "fleetwatch_netdev_traps_total", trap=k)
        for k in ("cold_start", "warm_start", "other")
    }
    assert counted == {"cold_start": 1, "warm_start": 1, "other": 1}
    assert changes(fleet) == 0


def spooled() -> list[pb.Report]:
    """Reports 1-10 of an agent whose WAN flapped while the collector could not be reached: down at
    3, up at 5, down at 7, up at 8; its polls between saw the state in between."""
    states = {1: True, 2: True, 3: False, 4: False, 5: True, 6: True, 7: False, 8: True, 9: True, 10: True}
    reports = []
    for seq, up in states.items():
        flipped = seq > 1 and states[seq - 1] != up
        reports.append(polled(seq, [device(wan_up=up)], *([link(up)] if flipped else [])))
    return reports


def test_a_spooled_backlog_counts_each_link_change_once() -> None:
    fleet = new_fleet()
    reports = spooled()
    # The agent sends its newest report first, then the oldest ones in order (docs/decisions.md).
    push(fleet, reports[9], *reports[:4])
    # The link change at 3, and the newest report shows it up again: one flip more, which one of the
    # link changes still to come (at 5 or 8) is.
    assert (oper_up(fleet), changes(fleet)) == (1, 2)
    push(fleet, *reports[4:9])
    assert (oper_up(fleet), changes(fleet)) == (1, 4)
    push(fleet, *reports[4:9])  # resent: every seq already applied
    push(fleet, reports[9])
    assert (oper_up(fleet), changes(fleet)) == (1, 4)
    assert value(fleet, "fleetwatch_agent_reports_total") == 10


def test_the_same_backlog_in_one_push_counts_the_same() -> None:
    fleet = new_fleet()
    push(fleet, *spooled())
    assert (oper_up(fleet), changes(fleet)) == (1, 4)


def test_link_changes_of_two_devices_are_counted_apart() -> None:
    fleet = new_fleet()
    push(fleet, polled(1, [device(ROUTER), device("rt-core")]))
    push(
        fleet,
        polled(
            2,
            [device(ROUTER, wan_up=False), device("rt-core", lan_up=False)],
            link(False),
            link(False, LAN, 2, "rt-core"),
        ),
    )
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device=ROUTER, ifname=WAN) == 1
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device=ROUTER, ifname=LAN) == 0
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device="rt-core", ifname=LAN) == 1
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", device="rt-core", ifname=WAN) == 0
