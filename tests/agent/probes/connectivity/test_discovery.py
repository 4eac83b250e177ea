"""LAN discovery, pure parts: sweep bounds, the subnet of the gateway, new devices and their cursor."""

from __future__ import annotations

import json

import pytest

from fleetwatch_agent.probes.connectivity.discovery import (
    MAX_KNOWN,
    MAX_NEW_PER_REPORT,
    Sweep,
    known_from_cursor,
    network_of,
    new_devices,
    parse_output,
    run_sweep,
    sweep_network,
)


def test_sweeps_are_bounded_to_a_slash_22() -> None:
    assert str(sweep_network("192.168.1.77/24")) == "192.168.1.0/24"
    assert sweep_network("10.0.0.0/22").num_addresses == 1024
    with pytest.raises(ValueError, match="at most 1024"):
        sweep_network("10.0.0.0/21")
    refused = run_sweep("eth0", "10.0.0.0/16", 50, 5)
    assert refused.devices == () and "at most 1024" in refused.error


def test_the_subnet_holding_the_gateway_is_swept() -> None:
    interfaces = {
        "lo": [("127.0.0.1", "255.0.0.0")],
        "eth0": [("192.168.10.23", "255.255.255.0")],
        "wlan0": [("10.20.30.44", "255.255.254.0")],
    }
    assert network_of("192.168.10.1", interfaces) == ("eth0", "192.168.10.0/24")
    assert network_of("10.20.31.1", interfaces) == ("wlan0", "10.20.30.0/23")
    assert network_of("172.16.0.1", interfaces) is None


def test_new_devices_are_reported_once_and_the_cursor_records_them() -> None:
    sweep = Sweep((("aa:aa:aa:aa:aa:01", "10.0.0.1"), ("aa:aa:aa:aa:aa:02", "10.0.0.2")))
    fresh, cursor = new_devices([], sweep)
    assert fresh == list(sweep.devices)
    again, cursor2 = new_devices(known_from_cursor(cursor), sweep)
    assert again == []
    assert set(known_from_cursor(cursor2)) == {"aa:aa:aa:aa:aa:01", "aa:aa:aa:aa:aa:02"}
    third = Sweep((*sweep.devices, ("aa:aa:aa:aa:aa:03", "10.0.0.3")))
    assert new_devices(known_from_cursor(cursor2), third)[0] == [("aa:aa:aa:aa:aa:03", "10.0.0.3")]


def test_a_flood_of_devices_is_bounded_per_report_and_in_the_cursor() -> None:
    many = Sweep(
        tuple(
            (f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", f"10.0.{i // 256}.{i % 256}") for i in range(5000)
        )
    )
    fresh, cursor = new_devices([], many)
    assert len(fresh) == MAX_NEW_PER_REPORT
    known = known_from_cursor(cursor)
    second, cursor = new_devices(known, many)
    assert len(second) == MAX_NEW_PER_REPORT and not set(second) & set(fresh)
    assert len(known_from_cursor(json.dumps([f"m{i}" for i in range(2 * MAX_KNOWN)]))) == 2 * MAX_KNOWN
    _, bounded = new_devices([f"m{i}" for i in range(MAX_KNOWN)], many)
    assert len(known_from_cursor(bounded)) == MAX_KNOWN


@pytest.mark.parametrize("garbage", ["", "not json", '{"devices": 3}', "[1, 2]"])
def test_unreadable_cursor_or_output_is_handled(garbage: str) -> None:
    assert known_from_cursor(garbage) == []
    assert parse_output(garbage).error


def test_sweep_output_is_sorted_by_address() -> None:
    out = parse_output(
        '{"devices": [["aa:aa:aa:aa:aa:02", "10.0.0.20"], ["aa:aa:aa:aa:aa:01", "10.0.0.3"]]}\n'
    )
    assert out == Sweep((("aa:aa:aa:aa:aa:02", "10.0.0.20"), ("aa:aa:aa:aa:aa:01", "10.0.0.3")))
