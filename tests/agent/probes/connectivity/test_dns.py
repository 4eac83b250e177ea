"""DNS check: query building and response parsing on literal bytes, and dns_resolve against a local server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleetwatch_agent.probes.connectivity.dnscheck import (
    DnsFormatError,
    DnsIdMismatch,
    DnsNameError,
    build_query,
    parse_response,
)
from fleetwatch_agent.probes.connectivity.dnsquery import dns_resolve
from tests.agent.probes.connectivity.servers import TRUNCATED_ADDRESSES, FakeDnsServer

# --- pure building and parsing -------------------------------------------------------------------


def test_build_query_literal_bytes() -> None:
    assert build_query(0x1234, "example.com") == (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"  # id, RD, one question
        b"\x07example\x03com\x00"
        b"\x00\x01\x00\x01"  # A, IN
    )


def test_build_query_trailing_dot_idna_and_type() -> None:
    assert (
        build_query(1, "bücher.example.", qtype=28)[12:]
        == b"\x0dxn--bcher-kva\x07example\x00\x00\x1c\x00\x01"
    )


@pytest.mark.parametrize(
    "name",
    ["", ".", "a" * 64 + ".test", "a..b", "x.test..", ".".join(["a" * 63] * 4)],
    ids=["empty", "root", "long-label", "empty-label", "double-dot", "over-255"],
)
def test_build_query_rejects_bad_names(name: str) -> None:
    with pytest.raises(DnsNameError):
        build_query(1, name)


def test_build_query_accepts_limits() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 253 characters: 255 bytes encoded
    assert len(build_query(1, name)) == 12 + 255 + 4
    with pytest.raises(ValueError, match="16 bits"):
        build_query(0x10000, "ok.test")


# A recursive resolver's answer to "www.github.com A" (EDNS OPT in the additional section):
# a CNAME to github.com, whose name points into the question's name (offset 16), then the A
# record owned by that same compressed name.
GITHUB_RESPONSE = bytes.fromhex(
    "beef 8180 0001 0002 0000 0001"  # id, QR RD RA NOERROR, 1 question, 2 answers, 1 additional
    "03777777 06676974687562 03636f6d 00 0001 0001"  # www.github.com A IN
    "c00c 0005 0001 00000e10 0002 c010"  # www.github.com CNAME github.com (pointer to offset 16)
    "c010 0001 0001 0000003c 0004 8c527904"  # github.com A 140.82.121.4
    "00 0029 04d0 00000000 0000"  # OPT, 1232 bytes
)


def test_parse_real_world_response_with_compression() -> None:
    assert parse_response(GITHUB_RESPONSE, 0xBEEF) == (0, ["140.82.121.4"])


def test_parse_several_addresses_skipping_aaaa() -> None:
    data = bytes.fromhex(
        "0001 8180 0001 0003 0000 0000 02 6f6b 04 74657374 00 0001 0001"
        "c00c 0001 0001 0000003c 0004 0a010203"
        "c00c 001c 0001 0000003c 0010 20010db8000000000000000000000001"  # AAAA: skipped
        "c00c 0001 0001 0000003c 0004 0a010204"
    )
    assert parse_response(data, 1) == (0, ["10.1.2.3", "10.1.2.4"])


def test_parse_rcode_without_answers() -> None:
    nxdomain = bytes.fromhex("0007 8183 0001 0000 0000 0000 02 6f6b 04 74657374 00 0001 0001")
    assert parse_response(nxdomain, 7) == (3, [])


def test_parse_wrong_id_is_a_value_error_of_its_own() -> None:
    with pytest.raises(DnsIdMismatch) as caught:
        parse_response(GITHUB_RESPONSE, 0xBEEE)
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, DnsFormatError)


@pytest.mark.parametrize(
    "data",
    [
        GITHUB_RESPONSE[:11],  # header cut
        GITHUB_RESPONSE[:20],  # question cut
        GITHUB_RESPONSE[:40],  # first answer cut
        GITHUB_RESPONSE[:60],  # A record data cut
        GITHUB_RESPONSE[:2] + b"\x01\x00" + GITHUB_RESPONSE[4:],  # a query, not a response
        GITHUB_RESPONSE[:32] + b"\xc0\x30" + GITHUB_RESPONSE[34:],  # pointer forwards
        GITHUB_RESPONSE[:32] + b"\xc0\x20" + GITHUB_RESPONSE[34:],  # pointer to itself
        GITHUB_RESPONSE[:32] + b"\xc0\x02" + GITHUB_RESPONSE[34:],  # pointer into the header
        GITHUB_RESPONSE[:32] + b"\x40\x10" + GITHUB_RESPONSE[34:],  # reserved label type
        # An A record of 5 bytes.
        GITHUB_RESPONSE[:56] + b"\x00\x05" + GITHUB_RESPONSE[58:62] + b"\x00" + GITHUB_RESPONSE[62:],
    ],
)
def test_parse_rejects_malformed(data: bytes) -> None:
    with pytest.raises(DnsFormatError):
        parse_response(data, 0xBEEF)


@given(st.binary(max_size=80))
def test_parse_arbitrary_bytes_raises_only_value_error(data: bytes) -> None:
    try:
        rcode, addresses = parse_response(data, int.from_bytes(data[:2] or b"\0\0", "big"))
    except ValueError:
        return
    assert 0 <= rcode <= 15
    assert all(len(address.split(".")) == 4 for address in addresses)


# --- dns_resolve against a UDP server on 127.0.0.1 -----------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeDnsServer]:
    fake = FakeDnsServer()
    try:
        yield fake
    finally:
        fake.stop()


def test_answer_with_address(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "ok.test", timeout=2.0, count=3, port=server.port)
    assert result.success and result.error == ""
    assert (result.sent, result.received) == (3, 3)
    assert 0 < result.rtt_min_seconds <= result.rtt_avg_seconds <= result.rtt_max_seconds < 2.0
    assert result.detail == "10.1.2.3"
    assert server.queries == ["ok.test"] * 3


def test_idna_name_goes_out_encoded(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "bücher.test", timeout=2.0, port=server.port)
    assert server.queries == ["xn--bcher-kva.test"]
    assert (result.error, result.detail) == ("dns_error", "REFUSED")


@pytest.mark.parametrize(("name", "detail"), [("fail.test", "SERVFAIL"), ("missing.test", "NXDOMAIN")])
def test_error_rcode_is_dns_error_with_the_rcode_name(server: FakeDnsServer, name: str, detail: str) -> None:
    result = dns_resolve("127.0.0.1", name, timeout=2.0, count=2, port=server.port)
    assert not result.success
    assert (result.error, result.detail) == ("dns_error", detail)
    # The server answered: its round-trip times are kept.
    assert (result.sent, result.received) == (2, 2)
    assert result.rtt_avg_seconds > 0


def test_noerror_without_a_record_is_no_address(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "noaddr.test", timeout=2.0, port=server.port)
    assert not result.success
    assert (result.error, result.detail, result.received) == ("dns_error", "no address", 1)


def test_no_answer_is_timeout(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "slow.test", timeout=0.2, count=2, port=server.port)
    assert not result.success
    assert (result.error, result.sent, result.received) == ("timeout", 2, 0)
    assert server.queries == ["slow.test", "slow.test"]


def test_garbled_answer_is_dns_error(server: FakeDnsServer) -> None:
    """A malformed answer counts as a DNS failure (the server is there but unusable), not received."""
    result = dns_resolve("127.0.0.1", "garbled.test", timeout=2.0, port=server.port)
    assert not result.success
    assert (result.error, result.received) == ("dns_error", 0)
    assert "malformed" in result.detail and "truncated" in result.detail


def test_answer_with_another_id_is_ignored(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "stray.test", timeout=2.0, port=server.port)
    assert result.success
    assert result.detail == "10.9.8.7"


def test_stopped_server_is_refused() -> None:
    """Loopback answers a datagram to a closed port with ICMP port unreachable: refused, at once."""
    fake = FakeDnsServer()
    port = fake.port
    fake.stop()
    result = dns_resolve("127.0.0.1", "ok.test", timeout=2.0, count=2, port=port)
    assert not result.success
    assert (result.error, result.sent, result.received) == ("refused", 2, 0)


@pytest.mark.parametrize(
    ("server_address", "name", "words"),
    [
        ("127.0.0.1", "a" * 64 + ".test", "label"),
        ("127.0.0.1", "x" * 300, "label"),
        ("127.0.0.1", "", "empty"),
        ("", "ok.test", "empty host name"),
    ],
)
def test_arguments_that_cannot_work_are_other_never_raise(server_address: str, name: str, words: str) -> None:
    result = dns_resolve(server_address, name, timeout=0.2, port=9)
    assert not result.success
    assert (result.error, result.sent) == ("other", 0)
    assert words in result.detail


def test_a_truncated_answer_is_asked_again_over_tcp(server: FakeDnsServer) -> None:
    result = dns_resolve("127.0.0.1", "truncated.test", timeout=2.0, count=2, port=server.port)
    assert result.success, result
    assert (result.sent, result.received) == (2, 2)
    assert result.detail.startswith(", ".join(TRUNCATED_ADDRESSES[:3]))
    assert result.detail.endswith("truncated over UDP, answered over TCP")
    assert (server.queries, server.tcp_queries) == (["truncated.test"] * 2, ["truncated.test"] * 2)


def test_truncated_over_udp_and_no_tcp_is_not_no_address() -> None:
    """TC set but nothing listens on TCP: the server said something, but there is no answer."""
    fake = FakeDnsServer(tcp=False)
    try:
        result = dns_resolve("127.0.0.1", "truncated.test", timeout=1.0, port=fake.port)
    finally:
        fake.stop()
    assert (result.success, result.error) == (False, "refused"), result
    assert "truncated answer over UDP" in result.detail


def test_count_queries_are_sent_spaced_like_the_other_checks(server: FakeDnsServer) -> None:
    started = time.monotonic()
    result = dns_resolve("127.0.0.1", "ok.test", timeout=1.0, count=5, port=server.port, spacing=0.05)
    assert (result.sent, result.received) == (5, 5)
    assert server.queries == ["ok.test"] * 5
    assert 0.2 <= time.monotonic() - started < 1.0


def test_an_ipv6_server() -> None:
    fake = FakeDnsServer(socket.AF_INET6)
    try:
        result = dns_resolve("::1", "ok.test", timeout=2.0, port=fake.port)
    finally:
        fake.stop()
    assert (result.success, result.detail, result.address) == (True, "10.1.2.3", "::1")


def test_a_dead_server_costs_one_wait_per_query_spaced_not_in_a_row(server: FakeDnsServer) -> None:
    started = time.monotonic()
    result = dns_resolve("127.0.0.1", "slow.test", timeout=0.5, count=5, port=server.port, spacing=0.05)
    assert (result.error, result.sent, result.received) == ("timeout", 5, 0)
    assert time.monotonic() - started < 1.2  # 4 * 0.05 + 0.5, not 5 * 0.5
