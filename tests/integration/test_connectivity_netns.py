"""ICMP (v4, v6) checks and traceroutes in real namespaces: delay, loss, cut links, where a path breaks."""
# Each test builds its own network (tests/integration/netns.py) and runs the agent's code inside the agent
# namespace, in a child Python that prints the result as JSON. The ICMP checks run both ways the agent can
# send: a raw socket as root, and an unprivileged datagram socket (a child without CAP_NET_RAW,
# net.ipv4.ping_group_range opened in the agent namespace).

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import require_program
from tests.integration import netns
from tests.integration.netns_extra import address6

ICMP_SNIPPET = """
import dataclasses, json, socket, sys
from fleetwatch_agent.probes.connectivity.icmp import icmp_echo, open_icmp_socket
opened = open_icmp_socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
socket_kind = opened if isinstance(opened, str) else ("raw" if opened[1] else "datagram")
if not isinstance(opened, str):
    opened[0].close()
address, count, timeout, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
result = icmp_echo(address, count, timeout, interval)
print(json.dumps({**dataclasses.asdict(result), "loss_ratio": result.loss_ratio, "socket": socket_kind}))
"""

TRACEROUTE_SNIPPET = """
import dataclasses, json, sys
from fleetwatch_agent.probes.connectivity.traceroute import run_traceroute
print(json.dumps(dataclasses.asdict(run_traceroute(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))))
"""

DELAY_SECONDS = 0.100
LOSS_PROBABILITY = 0.3
# Binomial loss over a burst of 100: sigma = sqrt(100 * 0.3 * 0.7) / 100 = 0.046, so 0.15..0.45
# is about ±3.3 sigma around 0.3: a correct probe fails it about once in a thousand runs.
LOSS_BURST = 100
LOSS_RANGE = (0.15, 0.45)
SOCKETS = ("raw", "datagram")


@pytest.fixture(scope="module", autouse=True)
def _netns_available() -> None:
    netns.require_netns()
    netns.sweep_stale()


@pytest.fixture
def three_hosts() -> Iterator[netns.Network]:
    """agent <-> router <-> server."""
    with netns.Network(("agent", "router", "server")) as network:
        yield network


@pytest.fixture
def three_hosts6() -> Iterator[netns.Network]:
    """agent <-> router <-> server, with IPv6 addresses too."""
    with netns.Network(("agent", "router", "server"), ipv6=True) as network:
        yield network


@pytest.fixture
def two_routers() -> Iterator[netns.Network]:
    """agent <-> r1 <-> r2 <-> server."""
    with netns.Network(("agent", "r1", "r2", "server")) as network:
        yield network


def ping(
    network: netns.Network,
    socket_kind: str,
    count: int = 5,
    timeout: float = 1.0,
    interval: float = 0.2,
    ipv6: bool = False,
) -> dict[str, Any]:
    """icmp_echo to the server, run in the agent namespace with the given kind of socket."""
    unprivileged = socket_kind == "datagram"
    network.allow_unprivileged_ping("agent", unprivileged)
    toward = network.roles[-2]
    server = address6(network, "server", toward) if ipv6 else network.address("server", toward)
    args = (server, str(count), str(timeout), str(interval))
    result: dict[str, Any] = network.python("agent", ICMP_SNIPPET, *args, without_net_raw=unprivileged)
    assert result["socket"] == socket_kind, result
    assert result["sent"] == count, result
    return result


def traceroute(network: netns.Network, max_hops: int = 8) -> dict[str, Any]:
    """run_traceroute to the server from the agent namespace as root (as nobody: test_traceroute_netns.py)."""
    server = network.address("server", network.roles[-2])
    result: dict[str, Any] = network.python("agent", TRACEROUTE_SNIPPET, server, str(max_hops), "20")
    return result


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
def test_added_delay_is_the_measured_round_trip(three_hosts: netns.Network, socket_kind: str) -> None:
    three_hosts.delay_responder("server", DELAY_SECONDS)

    result = ping(three_hosts, socket_kind)

    assert result["success"] and result["received"] == 5, result
    assert result["rtt_avg_seconds"] == pytest.approx(DELAY_SECONDS, rel=0.2), result
    assert result["rtt_min_seconds"] <= result["rtt_avg_seconds"] <= result["rtt_max_seconds"]


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
def test_random_loss_is_the_reported_loss_ratio(three_hosts: netns.Network, socket_kind: str) -> None:
    three_hosts.add_loss("router", LOSS_PROBABILITY, arriving_from="agent")

    result = ping(three_hosts, socket_kind, count=LOSS_BURST, timeout=1.0, interval=0.01)

    assert result["success"], result
    assert LOSS_RANGE[0] <= result["loss_ratio"] <= LOSS_RANGE[1], result


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
@pytest.mark.parametrize(
    ("cut", "how"),
    [
        (("agent", "router"), "no route on the agent: ENETUNREACH when sending"),
        (("router", "server"), "the router answers ICMP destination unreachable"),
    ],
)
def test_cut_link_is_unreachable(
    three_hosts: netns.Network, socket_kind: str, cut: tuple[str, str], how: str
) -> None:
    assert ping(three_hosts, socket_kind, count=2)["success"]
    three_hosts.cut(*cut)

    result = ping(three_hosts, socket_kind, count=3)

    assert not result["success"] and result["received"] == 0, how
    assert result["error"] == "unreachable", (how, result)
    assert result["detail"], result

    three_hosts.restore(*cut)
    assert ping(three_hosts, socket_kind, count=2)["received"] == 2


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
def test_silent_drop_is_a_timeout(three_hosts: netns.Network, socket_kind: str) -> None:
    three_hosts.add_loss("router", 1.0, arriving_from="agent")

    result = ping(three_hosts, socket_kind, count=3, timeout=0.5, interval=0.1)

    assert not result["success"] and result["received"] == 0, result
    assert result["error"] == "timeout", result


@pytest.mark.peer("netns")
def test_no_icmp_socket_is_unsupported(three_hosts: netns.Network) -> None:
    """Neither root nor in ping_group_range: the check says so instead of failing obscurely."""
    three_hosts.allow_unprivileged_ping("agent", False)
    server = three_hosts.address("server", "router")

    result = three_hosts.python("agent", ICMP_SNIPPET, server, "2", "0.5", "0.1", without_net_raw=True)

    assert not result["success"] and result["sent"] == 0, result
    assert result["error"] == "unsupported", result
    assert "ping_group_range" in result["detail"], result


@pytest.mark.peer("netns")
def test_traceroute_reaches_the_server_over_both_routers(two_routers: netns.Network) -> None:
    result = traceroute(two_routers)

    assert result == {
        "hops": 3,
        "last_hop": two_routers.address("server", "r2"),
        "reached": True,
        "error": "",
    }


@pytest.mark.peer("netns")
def test_traceroute_names_the_hop_where_the_path_breaks(two_routers: netns.Network) -> None:
    two_routers.cut("r1", "r2")

    result = traceroute(two_routers)

    assert result == {
        "hops": 1,
        "last_hop": two_routers.address("r1", "agent"),
        "reached": False,
        "error": "",
    }


@pytest.mark.peer("netns")
def test_traceroute_past_a_silent_router_stops_after_the_last_answer(two_routers: netns.Network) -> None:
    """r2 drops everything from r1 before routing (so it sends no "time exceeded" either)."""
    iptables = require_program("iptables", "apt-get install iptables")
    two_routers.run("r2", iptables, "-t", "raw", "-A", "PREROUTING", "-i", "to-r1", "-j", "DROP")

    result = traceroute(two_routers)

    assert result == {
        "hops": 1,
        "last_hop": two_routers.address("r1", "agent"),
        "reached": False,
        "error": "",
    }


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
def test_icmpv6_echo_through_the_router(three_hosts6: netns.Network, socket_kind: str) -> None:
    result = ping(three_hosts6, socket_kind, count=3, ipv6=True)

    assert result["success"] and result["received"] == 3, result
    assert result["address"] == address6(three_hosts6, "server", "router")


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
@pytest.mark.parametrize(
    ("cut", "how"),
    [
        (("agent", "router"), "no route on the agent: ENETUNREACH when sending"),
        (("router", "server"), "the router answers ICMPv6 destination unreachable"),
    ],
)
def test_icmpv6_cut_link_is_unreachable(
    three_hosts6: netns.Network, socket_kind: str, cut: tuple[str, str], how: str
) -> None:
    three_hosts6.cut(*cut)

    result = ping(three_hosts6, socket_kind, count=3, ipv6=True)

    assert not result["success"] and result["received"] == 0, how
    assert result["error"] == "unreachable", (how, result)


@pytest.mark.peer("netns")
@pytest.mark.parametrize("socket_kind", SOCKETS)
def test_icmpv6_silent_drop_is_a_timeout(three_hosts6: netns.Network, socket_kind: str) -> None:
    ip6tables = require_program("ip6tables", "apt-get install iptables")
    three_hosts6.run("router", ip6tables, "-A", "FORWARD", "-p", "ipv6-icmp", "-j", "DROP")

    result = ping(three_hosts6, socket_kind, count=3, timeout=0.5, interval=0.1, ipv6=True)

    assert (result["success"], result["received"], result["error"]) == (False, 0, "timeout"), result
