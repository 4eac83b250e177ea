"""The netdev kind: what it refuses, what it keeps, how it renders (labels from records), what it stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.store import Store
from fleetwatch_collector.validate import Limits, Rejection, validate_push
from fleetwatch_proto.limits import DEVICE_NAME_RE, MAX_DEVICE_INTERFACES, MAX_NETWORK_DEVICES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.kinds.netdev_reports import (
    AN_CU,
    LAN,
    ROUTER,
    WAN,
    device,
    link,
    polled,
    trap,
    unreachable,
    value,
)
from tests.collector.support import NOW_MS, check_metrics, parsed_samples, register

CLOCK = NOW_MS / 1000 + 100


def fleet_of(*reports: pb.Report, agent_id: str = "a1") -> FleetState:
    fleet = FleetState(clock=lambda: CLOCK)
    fleet.apply(agent_id, list(reports), site=AN_CU, hostname="pc-an-cu-01")
    return fleet


def refused(report: pb.Report, limits: Limits | None = None) -> Rejection:
    with pytest.raises(Rejection) as info:
        validate_push(pb.PushRequest(reports=[report]), NOW_MS + 60_000, limits or Limits())
    return info.value


# --- validation ------------------------------------------------------------------------------------


def test_a_report_with_devices_and_link_changes_is_accepted() -> None:
    report = polled(1, [device(), unreachable("sw-1")], link(False))
    validate_push(pb.PushRequest(reports=[report]), NOW_MS + 60_000, Limits())


def test_the_device_name_pattern_is_the_contracts() -> None:
    assert DEVICE_NAME_RE.fullmatch("rt-an-cu.core_1")
    for bad in ("", "-rt", "rt cu", "rt/1", "x" * 64, "rt\n"):
        assert not DEVICE_NAME_RE.fullmatch(bad), bad


@pytest.mark.parametrize("name", ["", "-rt", "rt an cu", 'rt"1', "r" * 64, "rt\u00e9"])
def test_a_device_name_that_is_no_label_value_is_refused(name: str) -> None:
    rejection = refused(polled(1, [device(name)]))
    assert rejection.reason == "invalid_label"
    assert "network_devices[0].name" in str(rejection)


def test_too_many_devices_and_interfaces_are_refused() -> None:
    limits = Limits(max_network_devices=2, max_device_interfaces=1)
    many = refused(polled(1, [device("a"), device("b"), device("c")]), limits)
    assert (many.reason, "network_devices: 3 entries, at most 2" in str(many)) == ("too_many_items", True)
    wide = refused(polled(1, [device("a")]), limits)  # two interfaces
    assert wide.reason == "too_many_items" and "network_devices[0].interfaces" in str(wide)
    assert Limits().max_network_devices == MAX_NETWORK_DEVICES
    assert Limits().max_device_interfaces == MAX_DEVICE_INTERFACES


@pytest.mark.parametrize(
    ("field", "corrupt"),
    [
        ("sys_name", lambda d: setattr(d, "sys_name", "rt\x1b[31m")),
        ("sys_descr", lambda d: setattr(d, "sys_descr", "d" * 257)),
        ("error", lambda d: setattr(d, "error", "bad\nline")),
        ("address", lambda d: setattr(d, "address", "a" * 300)),
        ("sys_object_id", lambda d: setattr(d, "sys_object_id", "1.3\x00")),
        ("interfaces[1].name", lambda d: setattr(d.interfaces[1], "name", "Gi0/1\r")),
        ("interfaces[0].alias", lambda d: setattr(d.interfaces[0], "alias", "x" * 257)),
    ],
)
def test_texts_must_be_label_safe(field: str, corrupt: object) -> None:
    bad = device()
    corrupt(bad)  # type: ignore[operator]
    rejection = refused(polled(1, [bad]))
    assert rejection.reason == "invalid_label"
    assert f"network_devices[0].{field}" in str(rejection)


@pytest.mark.parametrize(
    ("field", "number"),
    [
        ("uptime_seconds", float("nan")),
        ("uptime_seconds", -1.0),
        ("uptime_seconds", 2**32),
        ("poll_duration_seconds", float("inf")),
        ("poll_duration_seconds", -0.5),
        ("poll_duration_seconds", 86401.0),
    ],
)
def test_durations_must_be_finite_and_sane(field: str, number: float) -> None:
    bad = device()
    setattr(bad, field, number)
    rejection = refused(polled(1, [bad]))
    assert rejection.reason == "invalid_value" and f"network_devices[0].{field}" in str(rejection)


def test_link_changes_name_a_device_and_carry_safe_texts() -> None:
    nameless = refused(polled(1, [device()], link(False, name="bad name")))
    assert nameless.reason == "invalid_label" and "events[0].link_change.device" in str(nameless)
    control = refused(polled(1, [device()], link(False, ifname="Gi0/0\x07")))
    assert control.reason == "invalid_label" and "events[0].link_change.interface" in str(control)


# --- state and rendering ---------------------------------------------------------------------------


def test_labels_come_from_the_agents_records_never_from_the_payload() -> None:
    report = polled(1, [device()])
    report.host.site, report.host.district, report.host.hostname = "xa-my-phong", "tp-my-tho", "pc-an-cu-01"
    fleet = fleet_of(report)
    samples = [(n, lab) for n, lab, _ in parsed_samples(fleet.render()[0].decode()) if "netdev" in n]
    assert samples
    for name, labels in samples:
        assert (labels["agent_id"], labels["site"], labels["district"]) == ("a1", "xa-an-cu", "h-cai-be"), (
            name
        )
        assert (labels["site_type"], labels["host"], labels["device"]) == ("commune", "pc-an-cu-01", ROUTER)
    info = value(fleet, "fleetwatch_netdev_info", sys_name="rt1.an-cu", poller="agent")
    assert info == 1


def test_an_answered_poll_renders_device_and_interface_series() -> None:
    fleet = fleet_of(polled(1, [device(wan_up=True, lan_up=False, in_octets=5000)]))
    assert value(fleet, "fleetwatch_netdev_up") == 1
    assert value(fleet, "fleetwatch_netdev_uptime_seconds") == 1234.5
    assert value(fleet, "fleetwatch_netdev_poll_duration_seconds") == 0.08
    assert value(fleet, "fleetwatch_netdev_last_poll_timestamp_seconds") == NOW_MS / 1000 + 1
    assert value(fleet, "fleetwatch_netdev_poll_error", **{"class": "timeout"}) == 0
    assert value(fleet, "fleetwatch_netdev_if_oper_up", ifname=WAN) == 1
    assert value(fleet, "fleetwatch_netdev_if_oper_up", ifname=LAN) == 0
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=LAN) == 10_000
    assert value(fleet, "fleetwatch_netdev_if_speed_bytes", ifname=WAN) == 12_500_000
    assert value(fleet, "fleetwatch_netdev_if_info", ifname=WAN, ifalias="Gi0/0 link", ifindex="1") == 1
    assert value(fleet, "fleetwatch_netdev_traps_total", trap="link_down") == 0
    assert value(fleet, "fleetwatch_netdev_last_trap_timestamp_seconds") is None  # no trap yet


def test_a_failed_poll_shows_its_class_and_no_interfaces() -> None:
    fleet = fleet_of(polled(1, [device()]))
    fleet.apply("a1", [polled(2, [unreachable(error=pb.SNMP_ERROR_AUTH)])], site=AN_CU)
    assert value(fleet, "fleetwatch_netdev_up") == 0
    errors = {
        labels["class"]: v
        for n, labels, v in parsed_samples(fleet.render()[0].decode())
        if n == "fleetwatch_netdev_poll_error"
    }
    assert errors == {"timeout": 0, "auth": 1, "no_such_object": 0, "malformed": 0, "other": 0}
    assert value(fleet, "fleetwatch_netdev_if_oper_up", ifname=WAN) is None
    assert value(fleet, "fleetwatch_netdev_uptime_seconds") is None
    # sysName stays what the device last said, so the info series does not change identity.
    assert value(fleet, "fleetwatch_netdev_info", sys_name="rt1.an-cu") == 1


def test_counters_are_the_devices_own_and_a_resend_changes_nothing() -> None:
    fleet = fleet_of(polled(1, [device(in_octets=1000)]))
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 1000
    fleet.apply("a1", [polled(1, [device(in_octets=999_999)])], site=AN_CU)  # the same seq again
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 1000
    fleet.apply("a1", [polled(2, [device(in_octets=3000)])], site=AN_CU)
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 3000


def test_devices_are_kept_by_name_from_the_newest_report_that_has_them() -> None:
    fleet = fleet_of(polled(1, [device("rt-a"), device("rt-b", in_octets=7)]))
    fleet.apply("a1", [polled(2, [device("rt-a", in_octets=50)]), polled(3, [])], site=AN_CU)
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", device="rt-a", ifname=WAN) == 50
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", device="rt-b", ifname=WAN) == 7
    # An hour after the agent last reported rt-b, it stopped polling it: its series go.
    fleet.apply("a1", [polled(4, [device("rt-a")], second=3700)], site=AN_CU)
    assert value(fleet, "fleetwatch_netdev_up", device="rt-b") is None
    assert value(fleet, "fleetwatch_netdev_up", device="rt-a") == 1


def test_an_older_report_never_replaces_a_newer_poll() -> None:
    fleet = fleet_of(polled(5, [device(in_octets=5000)]))
    fleet.apply("a1", [polled(3, [device(in_octets=3000)])], site=AN_CU)  # a late backlog report
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 5000


def test_twin_interface_names_render_one_series() -> None:
    twins = device()
    twins.interfaces[1].name = WAN
    fleet = fleet_of(polled(1, [twins]))
    assert value(fleet, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 1000  # the first one


def test_an_interface_without_a_name_is_named_by_its_index() -> None:
    nameless = device()
    nameless.interfaces[1].name = ""
    fleet = fleet_of(polled(1, [nameless]))
    assert value(fleet, "fleetwatch_netdev_if_oper_up", ifname="ifindex-2") == 1


def test_render_passes_promtool(promtool: str) -> None:
    fleet = fleet_of(polled(1, [device(), unreachable("sw-1")], link(False, LAN, 2)))
    trap(fleet, "a1", "link_down", second=2)
    text = fleet.render()[0].decode()
    assert "fleetwatch_netdev_last_trap_timestamp_seconds{" in text
    result = check_metrics(promtool, text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_site_relabels_the_device_lines() -> None:
    fleet = fleet_of(polled(1, [device()]))
    other = AN_CU.__class__("xa-my-phong", "tp-my-tho", "commune")
    fleet.apply("a1", [], site=other)
    assert value(fleet, "fleetwatch_netdev_up", site="xa-my-phong") == 1
    assert value(fleet, "fleetwatch_netdev_up", site="xa-an-cu") is None


# --- the store -------------------------------------------------------------------------------------


def test_flips_and_traps_survive_a_collector_restart(tmp_path: Path) -> None:
    store = register(Store(tmp_path / "collector.sqlite"), "a1")
    fleet = fleet_of(polled(1, [device()]), polled(2, [device(wan_up=False)], link(False)))
    assert trap(fleet, "a1", "link_up", second=3)
    assert trap(fleet, "a1", "cold_start", second=4)
    assert value(fleet, "fleetwatch_netdev_if_oper_changes_total", ifname=WAN) == 2
    store.save_agents([fleet.snapshot("a1")])
    store.close()

    store = Store(tmp_path / "collector.sqlite")
    restarted = FleetState(clock=lambda: CLOCK)
    restarted.restore(store.load_agents())
    store.close()
    # The counts are back with the next report's devices; the device's own counters come from it.
    restarted.apply("a1", [polled(3, [device(in_octets=4000)])], site=AN_CU)
    assert value(restarted, "fleetwatch_netdev_if_oper_changes_total", ifname=WAN) == 2
    assert value(restarted, "fleetwatch_netdev_traps_total", trap="cold_start") == 1
    assert value(restarted, "fleetwatch_netdev_traps_total", trap="link_up") == 1
    assert value(restarted, "fleetwatch_netdev_last_trap_timestamp_seconds") == NOW_MS / 1000 + 4
    assert value(restarted, "fleetwatch_netdev_if_in_octets_total", ifname=WAN) == 4000
