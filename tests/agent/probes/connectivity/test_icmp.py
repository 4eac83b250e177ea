"""ICMP and ICMPv6 packets built and parsed from bytes, answers matched to a burst; pings to loopback."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from fleetwatch_agent.probes.connectivity import icmp
from fleetwatch_agent.probes.connectivity.icmp import icmp_echo
from fleetwatch_agent.probes.connectivity.icmppacket import (
    Burst,
    IcmpMessage,
    Kind,
    build_echo_request,
    checksum,
    make_payload,
    parse_extended_error,
    parse_icmp,
    parse_icmp6,
)

# No packet leaves the host in this file: pings go to loopback only.
ADDRESS = "127.0.0.2"


def ipv4_header(source: str, destination: str, payload_length: int, ihl: int = 5) -> bytes:
    fields = (0x40 | ihl, 0, ihl * 4 + payload_length, 0, 0, 64, socket.IPPROTO_ICMP, 0)
    addresses = socket.inet_aton(source) + socket.inet_aton(destination)
    options = b"\x01" * ((ihl - 5) * 4)  # NOP options, to move the payload
    return struct.pack("!BBHHHBBH", *fields) + addresses + options


def echo_reply(identifier: int, sequence: int, payload: bytes) -> bytes:
    request = build_echo_request(identifier, sequence, payload)
    return b"\x00\x00" + struct.pack("!H", checksum(b"\x00\x00\x00\x00" + request[4:])) + request[4:]


def icmp_error(kind: int, code: int, quoted: bytes) -> bytes:
    body = struct.pack("!BBHI", kind, code, 0, 0) + quoted
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


# ---- checksum and echo requests -------------------------------------------------------------------


def test_checksum_of_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2; the checksum is its complement.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_checksum_pads_odd_lengths_with_a_zero_byte() -> None:
    assert checksum(b"\x12\x34\x56") == checksum(b"\x12\x34\x56\x00") == (~(0x1234 + 0x5600) & 0xFFFF)


def test_echo_request_bytes() -> None:
    # 0800 + 1234 + 0001 + 6162 + 6364 = 0xdefb, complement 0x2104.
    assert build_echo_request(0x1234, 1, b"abcd") == bytes.fromhex("0800210412340001") + b"abcd"


def test_echo_request_checksums_to_zero_and_wraps_identifier_and_sequence() -> None:
    packet = build_echo_request(0x1_0005, 0x1_0007, make_payload(b"N" * 8))
    assert checksum(packet) == 0
    assert struct.unpack("!BBHHH", packet[:8])[3:] == (5, 7)
    assert len(packet) == 64 and packet[8:16] == b"N" * 8


def test_echo_request_matches_scapy() -> None:
    layers = pytest.importorskip("scapy.layers.inet")
    assert build_echo_request(77, 3, b"xyz") == bytes(layers.ICMP(type=8, id=77, seq=3) / b"xyz")


# ---- parsing what comes back ---------------------------------------------------------------------


def test_echo_reply_without_ip_header_as_from_a_datagram_socket() -> None:
    message = parse_icmp(echo_reply(0xBEEF, 9, b"nonce123rest"))
    assert message == IcmpMessage("echo_reply", 0, 0xBEEF, 9, b"nonce123rest", "")


@pytest.mark.parametrize("ihl", [5, 6])
def test_echo_reply_with_ip_header_as_from_a_raw_socket(ihl: int) -> None:
    reply = echo_reply(1, 2, b"payload!")
    message = parse_icmp(ipv4_header("10.199.3.2", "10.199.1.1", len(reply), ihl) + reply)
    assert message == IcmpMessage("echo_reply", 0, 1, 2, b"payload!", "10.199.3.2")


def test_echo_reply_with_a_wrong_checksum_is_ignored() -> None:
    reply = bytearray(echo_reply(1, 2, b"payload!"))
    reply[-1] ^= 0xFF
    assert parse_icmp(bytes(reply)) is None


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(build_echo_request(1, 2, b"x"), id="our own request, seen on loopback"),
        pytest.param(icmp_error(5, 1, b""), id="redirect"),
        pytest.param(b"\x00\x00\x00", id="truncated"),
        pytest.param(b"\x45\x00\x00", id="truncated ip header"),
        pytest.param(b"", id="empty"),
    ],
)
def test_unrelated_packets_are_ignored(packet: bytes) -> None:
    assert parse_icmp(packet) is None


@pytest.mark.parametrize(
    ("kind", "name", "quoted_bytes"),
    [(3, "unreachable", 8), (11, "time_exceeded", 64)],  # 8 bytes: the RFC 792 minimum
)
def test_error_names_the_request_it_quotes(kind: int, name: Kind, quoted_bytes: int) -> None:
    request = build_echo_request(0x4242, 17, b"nonce123" + bytes(48))
    error = icmp_error(kind, 1, ipv4_header("10.199.1.1", "10.199.3.2", 64) + request[:quoted_bytes])
    message = parse_icmp(ipv4_header("10.199.1.2", "10.199.1.1", len(error)) + error)
    assert message == IcmpMessage(name, 1, 0x4242, 17, b"", "10.199.1.2")


def test_error_about_another_protocol_is_ignored() -> None:
    udp = struct.pack("!HHHH", 40000, 33434, 8, 0)
    header = bytearray(ipv4_header("10.199.1.1", "10.199.3.2", len(udp)))
    header[9] = socket.IPPROTO_UDP
    error = icmp_error(3, 3, bytes(header) + udp)  # the first byte of UDP is not an echo request
    assert parse_icmp(ipv4_header("10.199.3.2", "10.199.1.1", len(error)) + error) is None


def test_error_quoting_too_little_is_ignored() -> None:
    request = build_echo_request(7, 3, b"")
    error = icmp_error(3, 1, ipv4_header("10.199.1.1", "10.199.3.2", 8) + request[:4])
    assert parse_icmp(error) is None


def test_extended_error_of_an_icmp_message() -> None:
    # struct sock_extended_err {errno, origin=2 (ICMP), type, code, pad, info, data} + sockaddr_in.
    data = struct.pack("=IBBBBII", 113, 2, 3, 1, 0, 0, 0)
    data += struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton("10.199.1.2"))
    assert parse_extended_error(data) == (113, 3, 1, "10.199.1.2")
    local = struct.pack("=IBBBBII", 90, 1, 0, 0, 0, 0, 0) + bytes(16)  # origin 1: the local stack
    assert parse_extended_error(local) is None
    assert parse_extended_error(b"\x00" * 8) is None


# ---- ICMPv6 ----------------------------------------------------------------------------------------


def ipv6_header(source: str, destination: str, payload_length: int) -> bytes:
    addresses = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
    return struct.pack("!IHBB", 6 << 28, payload_length, 58, 64) + addresses


def test_icmpv6_echo_request_leaves_the_checksum_to_the_kernel() -> None:
    assert build_echo_request(0x1234, 1, b"abcd", v6=True) == bytes.fromhex("8000000012340001") + b"abcd"


def test_icmpv6_echo_reply_and_its_sender() -> None:
    reply = bytes.fromhex("8100000012340001") + b"nonce123"
    assert parse_icmp6(reply, "fd00:199:2::2") == IcmpMessage(
        "echo_reply", 0, 0x1234, 1, b"nonce123", "fd00:199:2::2"
    )


@pytest.mark.parametrize(("kind", "name"), [(1, "unreachable"), (3, "time_exceeded")])
def test_icmpv6_error_names_the_request_it_quotes(kind: int, name: Kind) -> None:
    request = build_echo_request(0x4242, 17, b"nonce123", v6=True)
    quoted = ipv6_header("fd00:199:1::1", "fd00:199:2::2", len(request)) + request
    error = struct.pack("!BBHI", kind, 3, 0, 0) + quoted
    assert parse_icmp6(error, "fd00:199:1::2") == IcmpMessage(name, 3, 0x4242, 17, b"", "fd00:199:1::2")


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(bytes.fromhex("8000000012340001"), id="our own request, seen on loopback"),
        pytest.param(bytes.fromhex("8700000000000000") + bytes(16), id="neighbour solicitation"),
        pytest.param(struct.pack("!BBHI", 1, 4, 0, 0) + bytes(20), id="error quoting too little"),
        pytest.param(b"\x81\x00", id="truncated"),
    ],
)
def test_unrelated_icmpv6_is_ignored(packet: bytes) -> None:
    assert parse_icmp6(packet) is None


def test_extended_error_of_an_icmpv6_message() -> None:
    # origin 3 (ICMP6), type 1 (unreachable), code 3 + sockaddr_in6 of the router that said so.
    data = struct.pack("=IBBBBII", 113, 3, 1, 3, 0, 0, 0)
    data += struct.pack("=HHI16sI", socket.AF_INET6, 0, 0, socket.inet_pton(socket.AF_INET6, "fd00::2"), 0)
    assert parse_extended_error(data) == (113, 1, 3, "fd00::2")


# ---- matching answers to the burst ----------------------------------------------------------------

NONCE = b"12345678"


def sent_burst(raw: bool) -> Burst:
    burst = Burst(0x4242, NONCE, raw)
    burst.sent_at.update({0: 10.0, 1: 10.2})
    return burst


def reply(identifier: int, sequence: int, payload: bytes = NONCE + b"pad") -> IcmpMessage:
    return IcmpMessage("echo_reply", 0, identifier, sequence, payload)


def test_reply_gives_its_round_trip_time_once() -> None:
    burst = sent_burst(raw=True)
    burst.on_message(reply(0x4242, 1), 10.25)
    burst.on_message(reply(0x4242, 1), 10.30)  # duplicate
    assert burst.rtts == [pytest.approx(0.05)]
    assert burst.outstanding()
    burst.on_message(reply(0x4242, 0), 10.5)
    assert burst.rtts == [pytest.approx(0.05), pytest.approx(0.5)]
    assert not burst.outstanding()


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(reply(0x4242, 1, b"87654321pad"), id="another nonce"),
        pytest.param(reply(0x4243, 1), id="another identifier"),
        pytest.param(reply(0x4242, 2), id="a sequence not sent"),
        pytest.param(None, id="unparsable"),
    ],
)
def test_foreign_answers_do_not_count_on_a_raw_socket(message: IcmpMessage | None) -> None:
    burst = sent_burst(raw=True)
    burst.on_message(message, 10.3)
    assert (burst.rtts, burst.unreachable, burst.done) == ([], "", set())


def test_datagram_socket_ignores_the_rewritten_identifier() -> None:
    burst = sent_burst(raw=False)
    burst.on_message(reply(0x9999, 0), 10.1)
    assert burst.rtts == [pytest.approx(0.1)]


def test_unreachable_answers_its_request_and_says_who_sent_it() -> None:
    burst = sent_burst(raw=True)
    burst.on_message(IcmpMessage("unreachable", 1, 0x4242, 0, b"", "10.199.1.2"), 10.1)
    assert burst.rtts == [] and burst.done == {0}
    assert burst.unreachable == "destination unreachable (code 1) from 10.199.1.2"


def test_unreachable_errno_and_other_socket_errors() -> None:
    burst = sent_burst(raw=True)
    burst.on_socket_error(OSError(errno.EPERM, "Operation not permitted"))
    assert (burst.unreachable, burst.other_error) == ("", "Operation not permitted")
    burst.on_socket_error(OSError(errno.ENETUNREACH, "Network is unreachable"))
    assert burst.unreachable == "Network is unreachable"


# ---- icmp_echo arguments that send nothing ----------------------------------------------------------


def _can_ping(family: int) -> bool:
    opened = icmp.open_icmp_socket(family)
    if isinstance(opened, str):
        return False
    opened[0].close()
    return True


@pytest.mark.parametrize(("address", "family"), [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)])
def test_loopback_answers_over_both_families(address: str, family: int) -> None:
    if not _can_ping(family):
        pytest.skip("no ICMP socket here (neither root nor in net.ipv4.ping_group_range)")
    result = icmp_echo(address, count=3, timeout=1.0, interval=0.05)
    assert (result.success, result.sent, result.received, result.address) == (True, 3, 3, address), result


def test_no_icmp_socket_is_unsupported_naming_the_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(icmp, "open_icmp_socket", lambda family: "raw socket: Operation not permitted")
    result = icmp_echo("::1", count=2, timeout=0.2)
    assert (result.success, result.error) == (False, "unsupported")
    assert result.detail.startswith("ICMPv6 needs") and "Operation not permitted" in result.detail


@pytest.mark.parametrize(
    ("count", "timeout", "interval"), [(0, 1.0, 0.2), (70000, 1.0, 0.2), (3, 0.0, 0.2), (3, 1.0, -1.0)]
)
def test_impossible_arguments_are_an_error(count: int, timeout: float, interval: float) -> None:
    result = icmp_echo(ADDRESS, count, timeout, interval)
    assert (result.success, result.sent, result.error) == (False, 0, "other")
