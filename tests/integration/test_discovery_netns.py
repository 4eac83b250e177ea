"""LAN discovery against real namespaces: an ARP sweep from the agent finds the router once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration import netns

SWEEP_SNIPPET = """
import dataclasses, json, sys
from fleetwatch_agent.probes.connectivity.discovery import run_sweep
print(json.dumps(dataclasses.asdict(run_sweep(sys.argv[1], sys.argv[2], 200.0, 20.0))))
"""


@pytest.fixture
def lan() -> Iterator[netns.Network]:
    netns.require_netns()
    netns.sweep_stale()
    with netns.Network(("agent", "router")) as network:
        yield network


def test_the_sweep_finds_the_router_by_its_mac(lan: netns.Network) -> None:
    interface = lan.interface("agent", "router")
    router_ip = lan.address("router", "agent")
    router_mac = lan.run(
        "router", "cat", f"/sys/class/net/{lan.interface('router', 'agent')}/address"
    ).stdout.strip()
    result = lan.python("agent", SWEEP_SNIPPET, interface, f"{lan.address('agent', 'router')}/24", timeout=60)
    assert result["error"] == ""
    assert [list(d) for d in result["devices"]] == [[router_mac, router_ip]]


def test_a_sweep_of_a_missing_interface_reports_an_error(lan: netns.Network) -> None:
    result = lan.python("agent", SWEEP_SNIPPET, "no-such-if", "10.199.1.0/24", timeout=60)
    assert result["devices"] == []
    assert result["error"]
