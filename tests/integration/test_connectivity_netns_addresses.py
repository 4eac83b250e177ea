"""Addresses like a client, in namespaces: a dead first address, dead resolvers, IPv6 for every kind."""
# Layout (tests/integration/netns.py, with IPv6): agent <-> router <-> server. The server runs a DNS
# server (tests/integration/netns_servers.py) that the agent namespace's system resolver uses
# (/etc/netns/<agent>/resolv.conf: no /etc/hosts entries), and an HTTP server. The router discards
# everything sent to 10.199.77.0/24 and fd00:199::/64 without a word (blackhole routes): an
# address there is dead the way a host behind a dead link is. The agent's checks run in a child
# Python in the agent namespace, the way the probe runs them (collect.check_plan).

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration import netns
from tests.integration.netns_extra import address6, serve, use_resolver
from tests.integration.netns_servers import DNS_SERVER, HTTP_SERVER

pytestmark = pytest.mark.peer("netns")

DEAD = "10.199.77.7"
# In fd00:199:0::/64: it shares a longer prefix with the agent's fd00:199:1::1 than the server's
# fd00:199:2::2 does, so the resolver (RFC 6724 rule 9) keeps it first, like the DNS answer.
DEAD6 = "fd00:199::7"
WEB_PORT = 8080

# The probe's own check of a plan, printed as JSON; the loopback-only switch of the tests does not
# apply inside the lab's namespaces.
CHECK_SNIPPET = """
import dataclasses, json, os, sys, time
os.environ.pop("FLEETWATCH_LOOPBACK_ONLY", None)
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.connectivity.collect import check_plan
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget
plan = [PlannedTarget(name, kind, "custom", address) for name, kind, address in json.loads(sys.argv[1])]
started = time.monotonic()
checked = check_plan(plan, ConnectivityConfig(**json.loads(sys.argv[2])))
results = {s.name: {**dataclasses.asdict(s.result), "cut": cut} for s, cut in checked}
print(json.dumps({"elapsed": time.monotonic() - started, "results": results}))
"""

QUICK = {"count": 3, "spacing_seconds": 0.2, "attempt_timeout_seconds": 0.5, "dns_name": "portal.lab"}


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    netns.require_netns()
    netns.sweep_stale()


@pytest.fixture
def lab() -> Iterator[netns.Network]:
    """The network with the blackholes, the DNS server (port 53) and the web server (port 8080)."""
    with netns.Network(("agent", "router", "server"), ipv6=True) as network:
        network.ip("router", "route", "add", "blackhole", "10.199.77.0/24")
        network.ip("router", "-6", "route", "add", "blackhole", "fd00:199::/64")
        live, live6 = network.address("server", "router"), address6(network, "server", "router")
        names = {
            "dual.lab": [DEAD, live],
            "dual6.lab": [DEAD6, live6],
            "six.lab": [live6],
            "portal.lab": ["192.0.2.10"],
        }
        dns = {"bind": [[live, 53], [live6, 53]], "names": names}
        serve(network, "server", DNS_SERVER, json.dumps(dns))
        serve(network, "server", HTTP_SERVER, json.dumps([[live, WEB_PORT], [live6, WEB_PORT]]))
        use_resolver(network, "agent", live)
        yield network


def check(network: netns.Network, targets: list[tuple[str, str, str]], **options: Any) -> dict[str, Any]:
    """check_plan in the agent namespace: {"elapsed": seconds, "results": {name: CheckResult + cut}}."""
    settings = {**QUICK, **options}
    answer: dict[str, Any] = network.python("agent", CHECK_SNIPPET, json.dumps(targets), json.dumps(settings))
    return answer


def test_a_name_with_a_dead_first_address_is_up_through_the_second_for_every_kind(lab: netns.Network) -> None:
    live = lab.address("server", "router")
    answer = check(
        lab,
        [
            ("icmp", "icmp", "dual.lab"),
            ("tcp", "tcp", f"dual.lab:{WEB_PORT}"),
            ("dns", "dns", "dual.lab"),
            ("http", "http", f"http://dual.lab:{WEB_PORT}/"),
        ],
    )
    for name, result in answer["results"].items():
        assert (name, result["success"], result["address"]) == (name, True, live), result
        assert f"(after {DEAD}: timeout)" in result["detail"], result
    assert answer["results"]["dns"]["detail"].startswith("192.0.2.10")


def test_the_same_over_ipv6(lab: netns.Network) -> None:
    live6 = address6(lab, "server", "router")
    answer = check(
        lab,
        [
            ("icmp", "icmp", "dual6.lab"),
            ("tcp", "tcp", f"dual6.lab:{WEB_PORT}"),
            ("dns", "dns", "dual6.lab"),
            ("http", "http", f"http://dual6.lab:{WEB_PORT}/"),
        ],
    )
    for name, result in answer["results"].items():
        assert (name, result["success"], result["address"]) == (name, True, live6), result
        assert f"(after {DEAD6}: timeout)" in result["detail"], result


def test_every_kind_over_ipv6_literals_and_names(lab: netns.Network) -> None:
    live6 = address6(lab, "server", "router")
    answer = check(
        lab,
        [
            ("icmp", "icmp", live6),
            ("icmp-name", "icmp", "six.lab"),
            ("tcp", "tcp", f"[{live6}]:{WEB_PORT}"),
            ("dns", "dns", live6),
            ("dns-port", "dns", f"[{live6}]:53"),
            ("http", "http", f"http://[{live6}]:{WEB_PORT}/"),
            ("http-name", "http", f"http://six.lab:{WEB_PORT}/"),
        ],
    )
    for name, result in answer["results"].items():
        assert (name, result["success"], result["address"]) == (name, True, live6), result


def test_every_kind_to_a_dead_ipv6_address_is_a_timeout(lab: netns.Network) -> None:
    answer = check(
        lab,
        [
            ("icmp", "icmp", DEAD6),
            ("tcp", "tcp", f"[{DEAD6}]:{WEB_PORT}"),
            ("dns", "dns", DEAD6),
            ("http", "http", f"http://[{DEAD6}]:{WEB_PORT}/"),
        ],
    )
    assert {name: r["error"] for name, r in answer["results"].items()} == dict.fromkeys(
        ("icmp", "tcp", "dns", "http"), "timeout"
    )


def test_a_dead_resolver_is_bounded_by_each_checks_deadline(lab: netns.Network) -> None:
    """glibc would wait 30 s a try: HTTP ends at its deadline, the others at the cycle's budget."""
    use_resolver(lab, "agent", "10.199.77.53", options="timeout:30 attempts:3")
    answer = check(
        lab,
        [("web", "http", f"http://dual.lab:{WEB_PORT}/"), ("ping", "icmp", "dual.lab")],
        timeout_seconds=3.0,
        http_timeout_seconds=1.0,
    )
    web, ping = answer["results"]["web"], answer["results"]["ping"]
    assert (web["error"], web["cut"]) == ("timeout", False), web
    assert web["detail"].startswith("name lookup of dual.lab: no answer within 1.0 s"), web
    assert (ping["error"], ping["cut"]) == ("timeout", True), ping
    assert 2.7 <= answer["elapsed"] < 3.0, answer
