"""Linux error-queue messages to hops: recorded control messages of real runs, hand-built and broken ones."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop
from fleetwatch_agent.probes.connectivity.traceroute_recverr import (
    IP_RECVERR,
    IPV6_RECVERR,
    SOL_IP,
    SOL_IPV6,
    MalformedError,
    icmp_probe_of,
    parse_error_message,
    probe_port,
    udp_probe_of,
)

# RECORDED: recvmsg(MSG_ERRQUEUE) of real probes on Linux 6.18, by a process running as uid 65534 without
# capabilities, in the namespaces of tests/integration/netns.py (agent <-> r1 <-> r2 <-> server, IPv4 and
# IPv6). Each row: what happened, the socket's protocol, the control message (level, type, data as hex), the
# payload's first bytes (ICMP sockets: our echo request) and the message's address (the probe's destination).
R1, R2 = "10.199.1.2", "10.199.2.2"
R1_6, R2_6 = "fd00:199:1::2", "fd00:199:2::2"
SERVER, SERVER6 = "10.199.3.2", "fd00:199:3::2"
RECORDED = [
    # time exceeded at r2 (TTL 2)
    ("v4 time exceeded", "icmp", SOL_IP, IP_RECVERR,
     "71000000020b00000000000000000000020000000ac702020000000000000000", "0800113a1a110104", (SERVER, 0)),
    ("v4 time exceeded", "udp", SOL_IP, IP_RECVERR,
     "71000000020b00000000000000000000020000000ac702020000000000000000", "", (SERVER, 33435)),
    ("v6 time exceeded", "icmp", SOL_IPV6, IPV6_RECVERR,
     "710000000303000000000000000000000a00000000000000fd00019900020000000000000000000200000000",
     "80009b831a120104", (SERVER6, 0, 0, 0)),
    ("v6 time exceeded", "udp", SOL_IPV6, IPV6_RECVERR,
     "710000000303000000000000000000000a00000000000000fd00019900020000000000000000000200000000", "",
     (SERVER6, 33435, 0, 0)),
    # the server's port unreachable (UDP, TTL 3)
    ("v4 port unreachable", "udp", SOL_IP, IP_RECVERR,
     "6f000000020303000000000000000000020000000ac703020000000000000000", "", (SERVER, 33436)),
    ("v6 port unreachable", "udp", SOL_IPV6, IPV6_RECVERR,
     "6f0000000301040000000000000000000a00000000000000fd00019900030000000000000000000200000000", "",
     (SERVER6, 33436, 0, 0)),
    # r1 cannot resolve a neighbour on its r2 link (ARP / neighbour discovery fails)
    ("v4 host unreachable", "icmp", SOL_IP, IP_RECVERR,
     "71000000020301000000000000000000020000000ac701020000000000000000", "080011331a150107",
     ("10.199.2.77", 0)),
    ("v6 address unreachable", "udp", SOL_IPV6, IPV6_RECVERR,
     "710000000301030000000000000000000a00000000000000fd00019900010000000000000000000200000000", "",
     ("fd00:199:2::77", 33437, 0, 0)),
    # r2 rejects forwarding (iptables REJECT --reject-with icmp-admin-prohibited / icmp6-adm-prohibited)
    ("v4 admin prohibited", "icmp", SOL_IP, IP_RECVERR,
     "7100000002030d000000000000000000020000000ac702020000000000000000", "080011311a170107", (SERVER, 0)),
    ("v6 admin prohibited", "udp", SOL_IPV6, IPV6_RECVERR,
     "0d0000000301010000000000000000000a00000000000000fd00019900020000000000000000000200000000", "",
     (SERVER6, 33438, 0, 0)),
    # the r1 <-> r2 link is down: r1 has no route
    ("v4 net unreachable", "udp", SOL_IP, IP_RECVERR,
     "65000000020300000000000000000000020000000ac701020000000000000000", "", (SERVER, 33439)),
    ("v6 no route", "icmp", SOL_IPV6, IPV6_RECVERR,
     "650000000301000000000000000000000a00000000000000fd00019900010000000000000000000200000000",
     "80009b781a1a0107", (SERVER6, 0, 0, 0)),
]  # fmt: skip
EXPECTED = {
    "v4 time exceeded": Hop("transit", R2, "time exceeded"),
    "v6 time exceeded": Hop("transit", R2_6, "hop limit exceeded"),
    "v4 port unreachable": Hop("reached", SERVER, "port unreachable"),
    "v6 port unreachable": Hop("reached", SERVER6, "port unreachable"),
    "v4 host unreachable": Hop("unreachable", R1, "ICMP 3/1 host unreachable"),
    "v6 address unreachable": Hop("unreachable", R1_6, "ICMPv6 1/3 address unreachable"),
    "v4 admin prohibited": Hop("unreachable", R2, "ICMP 3/13 communication administratively prohibited"),
    "v6 admin prohibited": Hop("unreachable", R2_6, "ICMPv6 1/1 communication administratively prohibited"),
    "v4 net unreachable": Hop("unreachable", R1, "ICMP 3/0 network unreachable"),
    "v6 no route": Hop("unreachable", R1_6, "ICMPv6 1/0 no route to destination"),
}


@pytest.mark.parametrize(
    ("label", "protocol", "level", "kind", "data", "payload", "address"),
    RECORDED,
    ids=[f"{row[0]} ({row[1]})" for row in RECORDED],
)
def test_recorded_messages_are_the_hops_they_report(
    label: str, protocol: str, level: int, kind: int, data: str, payload: str, address: tuple[object, ...]
) -> None:
    assert parse_error_message(level, kind, bytes.fromhex(data)) == EXPECTED[label]


@pytest.mark.parametrize(
    ("payload", "address", "probe"),
    [
        ("0800113a1a110104", (SERVER, 0), 0x0104),  # ICMP: the quoted echo request's sequence
        ("80009b831a120104", (SERVER6, 0, 0, 0), 0x0104),
        ("", (SERVER, 33435), 1),  # UDP: the probe's destination port
        ("", (SERVER6, 33439, 0, 0), 5),
    ],
)
def test_recorded_messages_name_their_probe(payload: str, address: tuple[object, ...], probe: int) -> None:
    found = icmp_probe_of(bytes.fromhex(payload)) if payload else udp_probe_of(address)
    assert found == probe


def test_probe_ports_wrap_within_the_classic_range() -> None:
    assert [probe_port(n) for n in (0, 1, 99, 100, 101)] == [33434, 33435, 33533, 33434, 33435]
    assert udp_probe_of(("192.0.2.1", 33433)) is None
    assert udp_probe_of(("192.0.2.1", 33534)) is None
    assert udp_probe_of("garbage") is None
    assert icmp_probe_of(b"\x00\x00\x00\x00\x00\x00\x00\x07") is None  # an echo reply is not a request
    assert icmp_probe_of(b"\x08\x00\x00") is None


# ---- hand-built: the layout of struct sock_extended_err and its offender ----------------------------------


def extended_error(origin: int, icmp_type: int, code: int, errno: int = 113) -> bytes:
    return struct.pack("=IBBBBII", errno, origin, icmp_type, code, 0, 0, 0)


def offender4(address: str) -> bytes:
    return struct.pack("=HH", 2, 0) + socket.inet_aton(address) + bytes(8)


def offender6(address: str) -> bytes:
    return struct.pack("=HHI", 10, 0, 0) + socket.inet_pton(socket.AF_INET6, address) + struct.pack("=I", 0)


@pytest.mark.parametrize(
    ("level", "kind", "data", "expected"),
    [
        (SOL_IP, IP_RECVERR, extended_error(2, 3, 10) + offender4("192.0.2.1"),
         Hop("unreachable", "192.0.2.1", "ICMP 3/10 host administratively prohibited")),
        (SOL_IP, IP_RECVERR, extended_error(2, 3, 9) + offender4("192.0.2.1"),
         Hop("unreachable", "192.0.2.1", "ICMP 3/9 network administratively prohibited")),
        (SOL_IP, IP_RECVERR, extended_error(2, 3, 15) + offender4("192.0.2.1"),
         Hop("unreachable", "192.0.2.1", "ICMP 3/15 destination unreachable")),
        (SOL_IP, IP_RECVERR, extended_error(2, 12, 0) + offender4("192.0.2.1"),
         Hop("unreachable", "192.0.2.1", "ICMP 12/0 parameter problem")),
        (SOL_IPV6, IPV6_RECVERR, extended_error(3, 1, 6) + offender6("2001:db8::1"),
         Hop("unreachable", "2001:db8::1", "ICMPv6 1/6 reject route to destination")),
        (SOL_IPV6, IPV6_RECVERR, extended_error(3, 4, 1) + offender6("2001:db8::1"),
         Hop("unreachable", "2001:db8::1", "ICMPv6 4/1 parameter problem")),
        # an IPv4 error on an IPv6 socket: the offender is a v4-mapped sockaddr_in6
        (SOL_IPV6, IPV6_RECVERR, extended_error(2, 11, 0) + offender6("::ffff:192.0.2.7"),
         Hop("transit", "192.0.2.7", "time exceeded")),
        # no offender (AF_UNSPEC): still a hop, of unknown address
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0) + bytes(16), Hop("transit", "", "time exceeded")),
        # about no hop: reassembly timeouts, redirects, packet too big, local errors, other messages
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 1) + offender4("192.0.2.1"), None),
        (SOL_IP, IP_RECVERR, extended_error(2, 5, 1) + offender4("192.0.2.1"), None),
        (SOL_IPV6, IPV6_RECVERR, extended_error(3, 2, 0) + offender6("2001:db8::1"), None),
        (SOL_IPV6, IPV6_RECVERR, extended_error(3, 3, 1) + offender6("2001:db8::1"), None),
        (SOL_IP, IP_RECVERR, extended_error(1, 0, 0, errno=90) + bytes(16), None),  # SO_EE_ORIGIN_LOCAL
        (SOL_IP, IP_RECVERR, extended_error(4, 0, 0) + bytes(16), None),  # SO_EE_ORIGIN_TIMESTAMPING
        (SOL_IP, 2, b"\x01", None),  # IP_TTL, not IP_RECVERR: not parsed at all
        (1, 29, b"garbage", None),  # SOL_SOCKET SO_TIMESTAMP
    ],
)  # fmt: skip
def test_hand_built_messages(level: int, kind: int, data: bytes, expected: Hop | None) -> None:
    assert parse_error_message(level, kind, data) == expected


@pytest.mark.parametrize(
    ("level", "kind", "data", "why"),
    [
        (SOL_IP, IP_RECVERR, b"", "needs 16 bytes, got 0"),
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0)[:15], "needs 16 bytes, got 15"),
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0), "no offender"),
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0) + offender4("192.0.2.1")[:7], "sockaddr_in cut at 7"),
        (SOL_IPV6, IPV6_RECVERR, extended_error(3, 3, 0) + offender6("2001:db8::1")[:20], "sockaddr_in6 cut"),
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0) + struct.pack("=H", 17) + bytes(14), "family 17"),
        (SOL_IP, IP_RECVERR, extended_error(2, 11, 0) + b"\xff" * 24, "family 65535"),
    ],
)
def test_truncated_or_garbled_messages_are_a_clean_error(
    level: int, kind: int, data: bytes, why: str
) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_error_message(level, kind, data)


def test_random_bytes_give_a_hop_none_or_a_clean_error() -> None:
    generator = random.Random(20240611)
    for _ in range(2000):
        data = generator.randbytes(generator.randrange(0, 60))
        if len(data) >= 5 and generator.random() < 0.8:
            data = data[:4] + bytes([generator.choice((2, 3))]) + data[5:]  # mostly ICMP origins
        level, kind = generator.choice(((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)))
        try:
            hop = parse_error_message(level, kind, data)
        except MalformedError:
            continue
        assert hop is None or hop.outcome in ("transit", "reached", "unreachable")
