"""ICMP packets built and parsed from literal bytes, answers matched to a burst; nothing is sent."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from fleetwatch_agent.probes.connectivity.icmp import (
    Burst,
    IcmpMessage,
    Kind,
    build_echo_request,
    checksum,
    icmp_echo,
    make_payload,
    parse_extended_error,
    parse_icmp,
)

# No packet leaves the host in this file: the traceroute child runs against a fake scapy.
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


def test_ipv6_is_unsupported_without_sending() -> None:
    result = icmp_echo("::1")
    assert (result.success, result.sent, result.error) == (False, 0, "unsupported")
    assert "IPv4" in result.detail


@pytest.mark.parametrize(
    ("count", "timeout", "interval"), [(0, 1.0, 0.2), (70000, 1.0, 0.2), (3, 0.0, 0.2), (3, 1.0, -1.0)]
)
def test_impossible_arguments_are_an_error(count: int, timeout: float, interval: float) -> None:
    result = icmp_echo(ADDRESS, count, timeout, interval)
    assert (result.success, result.sent, result.error) == (False, 0, "other")
