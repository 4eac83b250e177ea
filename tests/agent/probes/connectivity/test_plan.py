"""Connectivity planning: gateway and DNS discovery parsers, target plans, outage tracking, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetwatch_agent.config import AgentConfig
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.connectivity.model import CheckResult, Outage, TargetStatus, from_rtts
from fleetwatch_agent.probes.connectivity.netinfo import (
    parse_dns_client_json,
    parse_proc_net_route,
    parse_resolv_conf,
    parse_route_print,
)
from fleetwatch_agent.probes.connectivity.outages import CURSOR_PREFIX, track
from fleetwatch_agent.probes.connectivity.targets import TargetConfig, plan_targets
from fleetwatch_proto.limits import MAX_TARGETS
from fleetwatch_proto.tomlconfig import ConfigError, from_dict

FIXTURES = Path(__file__).parent / "fixtures"

PROC_NET_ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
    "wlan0\t00000000\t0102A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
)


def test_gateway_from_proc_net_route_takes_the_lowest_metric() -> None:
    assert parse_proc_net_route(PROC_NET_ROUTE) == "192.168.1.1"


def test_no_default_route_gives_no_gateway() -> None:
    only_local = PROC_NET_ROUTE.splitlines()[0] + "\n" + PROC_NET_ROUTE.splitlines()[2] + "\n"
    assert parse_proc_net_route(only_local) is None
    assert parse_proc_net_route("garbage\nnot a route table\n") is None


def test_resolv_conf_lists_ipv4_servers_in_order_once() -> None:
    text = (
        "# generated\nsearch example.vn\nnameserver 10.0.0.53\nnameserver fe80::1\n"
        "nameserver 10.0.0.54 # second\nnameserver 10.0.0.53\n;nameserver 9.9.9.9\noptions edns0\n"
    )
    assert parse_resolv_conf(text) == ["10.0.0.53", "10.0.0.54"]


def test_resolv_conf_keeps_ipv6_servers_and_scoped_link_local_ones() -> None:
    text = "nameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver fe80::2\nnameserver 10.0.0.53\n"
    assert parse_resolv_conf(text) == ["2001:db8::53", "fe80::1%eth0", "10.0.0.53"]


def test_windows_route_print_recorded_output() -> None:
    """Recorded `route print -4` of a Windows 10 PC with Ethernet and Wi-Fi (hand-made recording)."""
    text = (FIXTURES / "route-print-windows10.txt").read_text()
    assert parse_route_print(text) == "192.168.10.1"
    assert parse_route_print("no routes here") is None


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ('"10.1.1.1"', ["10.1.1.1"]),
        ('["10.1.1.1","fec0:0:0:ffff::1","10.1.1.2","10.1.1.1"]', ["10.1.1.1", "10.1.1.2"]),
        ('["2001:db8::53","fec0:0:0:ffff::2","10.1.1.1"]', ["2001:db8::53", "10.1.1.1"]),
        ("", []),
        ("not json", []),
    ],
)
def test_windows_dns_client_json(text: str, servers: list[str]) -> None:
    assert parse_dns_client_json(text) == servers


def test_plan_names_discovered_targets_and_keeps_custom_names_unique() -> None:
    plan = plan_targets(
        gateway="192.168.1.1",
        dns_servers=["10.0.0.53", "10.0.0.54"],
        dns_name="portal.tiengiang.gov.vn",
        collector_addresses=["collector.example:50051"],
        site_router="10.10.0.1",
        custom=[TargetConfig("gateway", "icmp", "1.2.3.4"), TargetConfig("portal", "http", "https://x/")],
    )
    assert [(p.name, p.kind, p.role) for p in plan] == [
        ("gateway", "icmp", "gateway"),
        ("dns-1", "dns", "dns"),
        ("dns-2", "dns", "dns"),
        ("collector", "tcp", "collector"),
        ("site-router", "icmp", "site_router"),
        ("portal", "http", "custom"),
    ]


def test_plan_without_dns_name_checks_no_dns_server_and_caps_targets() -> None:
    custom = [TargetConfig(f"t{i}", "icmp", "10.0.0.1") for i in range(100)]
    plan = plan_targets(
        gateway=None,
        dns_servers=["10.0.0.53"],
        dns_name="",
        collector_addresses=[],
        site_router="",
        custom=custom,
    )
    assert len(plan) == MAX_TARGETS
    assert all(p.kind != "dns" for p in plan)


def status(name: str, ok: bool) -> TargetStatus:
    return TargetStatus(
        name, "icmp", "gateway", from_rtts(3, [0.01] * 3) if ok else CheckResult(False, 3, error="timeout")
    )


def test_outage_is_reported_once_with_its_start_and_end() -> None:
    committed: dict[str, str] = {}
    outages, updates = track(committed, [status("gateway", True)], 1_000)
    assert (outages, updates) == ([], {})
    outages, updates = track(committed, [status("gateway", False)], 2_000)
    assert outages == [] and updates == {CURSOR_PREFIX + "gateway": "2000"}
    committed.update(updates)
    outages, updates = track(committed, [status("gateway", False)], 3_000)
    assert (outages, updates) == ([], {})  # still down: nothing new to commit
    outages, updates = track(committed, [status("gateway", True)], 9_000)
    assert outages == [Outage("gateway", 2_000, 9_000)]
    committed.update(updates)
    assert track(committed, [status("gateway", True)], 10_000) == ([], {})


def test_an_uncommitted_recovery_is_reported_again_by_the_next_cycle() -> None:
    """The report with the outage was not kept (crash): the cursor still says down, so it is redone."""
    committed = {CURSOR_PREFIX + "gateway": "2000"}
    first, _ = track(committed, [status("gateway", True)], 5_000)
    again, _ = track(committed, [status("gateway", True)], 6_000)
    assert first == [Outage("gateway", 2_000, 5_000)]
    assert again == [Outage("gateway", 2_000, 6_000)]


def test_config_with_targets_loads_and_names_bad_options() -> None:
    data = {
        "probes": {
            "connectivity": {
                "dns_name": "portal.example",
                "targets": [{"name": "portal", "kind": "http", "address": "https://portal.example/"}],
            }
        }
    }
    config = from_dict(AgentConfig, data)
    assert config.probes.connectivity.targets == (TargetConfig("portal", "http", "https://portal.example/"),)
    bad_kind = {"probes": {"connectivity": {"targets": [{"name": "x", "kind": "ping", "address": "a"}]}}}
    with pytest.raises(ConfigError, match=r"probes\.connectivity\.targets\[0\]\.kind"):
        from_dict(AgentConfig, bad_kind)
    bad_name = {
        "probes": {"connectivity": {"targets": [{"name": "Bad Name", "kind": "icmp", "address": "a"}]}}
    }
    with pytest.raises(ConfigError, match="targets"):
        from_dict(AgentConfig, bad_name)
    with pytest.raises(ConfigError, match="count"):
        from_dict(ConnectivityConfig, {"count": 0})
