"""The traceroute without privileges, in real namespaces: as nobody without capabilities, IPv4 and IPv6."""
# Each test builds agent <-> r1 <-> r2 <-> server (tests/integration/netns.py, with IPv6 addresses) and runs
# run_traceroutes in the agent namespace in a child Python started by setpriv as uid/gid 65534, no
# supplementary groups, no capabilities (bounding set emptied) and no_new_privs: what the hardened systemd
# unit leaves the agent. Both of its probe kinds are used: ICMP echo over ICMP datagram sockets
# (net.ipv4.ping_group_range opened in the agent namespace) and UDP (the range closed). Where the path breaks,
# the hop named is the one the scapy traceroute (root, raw sockets) named in test_connectivity_netns.py.

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_program
from tests.integration import netns
from tests.integration.netns_extra import address6

pytestmark = pytest.mark.peer("netns")

NOBODY = "65534"
TRACE_SNIPPET = """
import dataclasses, json, os, socket, sys, time
from fleetwatch_agent.probes.connectivity import traceroute, traceroute_linux
protocols = {}
def opener(addresses, protocol):
    prober, errors = traceroute_linux.open_prober(addresses, protocol)
    protocols.update(prober.protocols)
    return prober, errors
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    raw = "opened"
except PermissionError:
    raw = "refused"
status = dict(line.split(":", 1) for line in open("/proc/self/status") if line.startswith("Cap"))
max_hops, timeout, *addresses = sys.argv[1:]
started = time.monotonic()
paths = traceroute.run_traceroutes(addresses, int(max_hops), float(timeout), opener=opener)
print(json.dumps({
    "seconds": time.monotonic() - started,
    "paths": {a: dataclasses.asdict(p) for a, p in paths.items()},
    "protocols": protocols,
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "raw_socket": raw,
    "capabilities": {k: int(v, 16) for k, v in status.items()},
}))
"""
KINDS = ("icmp", "udp")


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    netns.require_netns()
    netns.sweep_stale()


@pytest.fixture
def two_routers() -> Iterator[netns.Network]:
    """agent <-> r1 <-> r2 <-> server, IPv4 and IPv6."""
    with netns.Network(("agent", "r1", "r2", "server"), ipv6=True) as network:
        yield network


def servers(network: netns.Network) -> tuple[str, str]:
    return network.address("server", "r2"), address6(network, "server", "r2")


def trace_unprivileged(
    network: netns.Network, kind: str, addresses: list[str], max_hops: int = 8, timeout: float = 20.0
) -> dict[str, Any]:
    """run_traceroutes in the agent namespace as nobody without capabilities; the snippet's JSON."""
    setpriv = require_program("setpriv", "apt-get install util-linux")
    network.allow_unprivileged_ping("agent", kind == "icmp")
    drop = (
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    )
    command = (
        setpriv,
        *drop,
        "--no-new-privs",
        sys.executable,
        "-c",
        TRACE_SNIPPET,
        str(max_hops),
        str(timeout),
    )
    result = network.run("agent", *command, *addresses, timeout=timeout + 30)
    lines = result.stdout.strip().splitlines()
    if not lines:
        pytest.fail(f"the traceroute printed nothing:\n{result.stderr}")
    answer: dict[str, Any] = json.loads(lines[-1])
    # The run had no privilege at all, and probed with the kind the namespace allows.
    assert (answer["uid"], answer["gid"], answer["groups"]) == (65534, 65534, []), answer
    assert answer["raw_socket"] == "refused", answer
    assert answer["capabilities"]["CapEff"] == 0 and answer["capabilities"]["CapBnd"] == 0, answer
    assert answer["protocols"] == dict.fromkeys(addresses, kind), answer
    return answer


def path(hops: int, last_hop: str, reached: bool, error: str = "") -> dict[str, Any]:
    return {"hops": hops, "last_hop": last_hop, "reached": reached, "error": error}


@pytest.mark.parametrize("kind", KINDS)
def test_reaches_the_server_over_both_routers(two_routers: netns.Network, kind: str) -> None:
    server, server6 = servers(two_routers)

    answer = trace_unprivileged(two_routers, kind, [server, server6])

    assert answer["paths"] == {server: path(3, server, True), server6: path(3, server6, True)}


@pytest.mark.parametrize("kind", KINDS)
def test_names_the_hop_where_the_path_breaks(two_routers: netns.Network, kind: str) -> None:
    """r1 <-> r2 down: r1 answers "network unreachable" (ICMPv6 "no route"); hop 1, as scapy said."""
    server, server6 = servers(two_routers)
    two_routers.cut("r1", "r2")

    answer = trace_unprivileged(two_routers, kind, [server, server6])

    r1, r1_6 = two_routers.address("r1", "agent"), address6(two_routers, "r1", "agent")
    assert answer["paths"] == {server: path(1, r1, False), server6: path(1, r1_6, False)}


@pytest.mark.parametrize("kind", KINDS)
def test_past_a_silent_router_stops_after_the_last_answer(two_routers: netns.Network, kind: str) -> None:
    """r2 drops everything from r1 before routing, neighbour discovery too: r1 is the last hop, as scapy said.

    IPv4 ends with three silent hops; over IPv6 r1 gives up resolving r2 and answers "address unreachable" for
    a later probe: still hop 1.
    """
    for program in ("iptables", "ip6tables"):
        tables = require_program(program, "apt-get install iptables")
        two_routers.run("r2", tables, "-t", "raw", "-A", "PREROUTING", "-i", "to-r1", "-j", "DROP")
    server, server6 = servers(two_routers)

    answer = trace_unprivileged(two_routers, kind, [server, server6])

    r1, r1_6 = two_routers.address("r1", "agent"), address6(two_routers, "r1", "agent")
    assert answer["paths"] == {server: path(1, r1, False), server6: path(1, r1_6, False)}


@pytest.mark.parametrize("kind", KINDS)
def test_a_router_that_refuses_to_forward_is_the_end(two_routers: netns.Network, kind: str) -> None:
    """r2 rejects what it would forward (administratively prohibited): hop 2, r2, not reached."""
    for program, reject in (("iptables", "icmp-admin-prohibited"), ("ip6tables", "icmp6-adm-prohibited")):
        tables = require_program(program, "apt-get install iptables")
        two_routers.run("r2", tables, "-A", "FORWARD", "-j", "REJECT", "--reject-with", reject)
    server, server6 = servers(two_routers)

    answer = trace_unprivileged(two_routers, kind, [server, server6])

    r2, r2_6 = two_routers.address("r2", "r1"), address6(two_routers, "r2", "r1")
    assert answer["paths"] == {server: path(2, r2, False), server6: path(2, r2_6, False)}


def test_several_silent_paths_are_traced_together_within_the_budget(two_routers: netns.Network) -> None:
    """r1 forwards nothing: each of four paths costs about 5 s of silent hops, 20 s one after the other.

    Traced together they all end within the 8 s budget, each with hop 1 (r1) and no "cut" error.
    """
    for program in ("iptables", "ip6tables"):
        tables = require_program(program, "apt-get install iptables")
        two_routers.run("r1", tables, "-A", "FORWARD", "-j", "DROP")
    server, server6 = servers(two_routers)
    r2, r2_6 = two_routers.address("r2", "r1"), address6(two_routers, "r2", "r1")
    budget = 8.0

    answer = trace_unprivileged(two_routers, "udp", [server, server6, r2, r2_6], max_hops=8, timeout=budget)

    r1, r1_6 = two_routers.address("r1", "agent"), address6(two_routers, "r1", "agent")
    assert answer["paths"] == {
        server: path(1, r1, False),
        r2: path(1, r1, False),
        server6: path(1, r1_6, False),
        r2_6: path(1, r1_6, False),
    }
    assert answer["seconds"] <= budget + 1.0, answer  # the budget, plus closing the sockets
    print(f"four silent paths traced together in {answer['seconds']:.2f} s (budget {budget:g} s)")
