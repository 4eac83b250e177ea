"""ICMP packets built and parsed from literal bytes, the traceroute limiter, run_traceroute's failures."""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity import traceroute
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
from fleetwatch_agent.probes.connectivity.model import PathResult
from fleetwatch_agent.probes.connectivity.traceroute import PathLimiter, parse_output, run_traceroute

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


# ---- traceroute limiter and output -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_allows_one_traceroute_per_target_per_interval() -> None:
    clock = FakeClock()
    limiter = PathLimiter(900.0, clock)
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")
    assert limiter.allow("collector")  # targets are limited separately
    clock.now += 899.0
    assert not limiter.allow("gateway")
    clock.now += 1.0
    assert limiter.allow("gateway")
    assert not limiter.allow("gateway")  # the interval starts again from the allowed one


def test_limiter_refusals_do_not_push_the_next_run_back() -> None:
    clock = FakeClock()
    limiter = PathLimiter(60.0, clock)
    assert limiter.allow("dns-1")
    for _ in range(5):
        clock.now += 10.0
        assert not limiter.allow("dns-1")
    clock.now += 10.0
    assert limiter.allow("dns-1")


def test_per_hop_timeout_fits_the_hops_in_the_budget_within_bounds() -> None:
    assert traceroute.per_hop_timeout(16, 10.0) == pytest.approx(0.5)
    assert traceroute.per_hop_timeout(1, 60.0) == traceroute.MAX_PER_HOP_SECONDS
    assert traceroute.per_hop_timeout(64, 1.0) == traceroute.MIN_PER_HOP_SECONDS


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "expected"),
    [
        (
            0,
            '{"hops": 3, "last_hop": "10.199.3.2", "reached": true}\n',
            "",
            PathResult(3, "10.199.3.2", True),
        ),
        (0, 'WARNING: noise\n{"hops": 0, "last_hop": "", "reached": false}\n', "", PathResult()),
        (4, '{"error": "not_permitted: needs root"}\n', "", PathResult(error="not_permitted: needs root")),
        (0, '{"hops": true, "last_hop": "x", "reached": false}\n', "", None),
        (0, '{"hops": -1, "last_hop": "x", "reached": false}\n', "", None),
        (0, '{"hops": 1, "last_hop": 5, "reached": false}\n', "", None),
        (0, "[1, 2]\n", "", None),
        (0, "garbage\n", "", None),
        (0, "", "", None),
        (1, "", "Traceback ...\nSystemError: boom\n", None),
        (-9, '{"hops": 1, "last_hop": "x", "reached": false}', "", None),
    ],
)
def test_child_output_mapping(returncode: int, stdout: str, stderr: str, expected: PathResult | None) -> None:
    result = parse_output(returncode, stdout, stderr)
    if expected is not None:
        assert result == expected
    else:
        assert result.error.startswith("failed: ") and (result.hops, result.reached) == (0, False)
    if returncode == 1:
        assert "SystemError: boom" in result.error


# ---- run_traceroute against a fake scapy in the child ---------------------------------------------

FAKE_LAYERS = """
class Layer:
    def __init__(self, **fields):
        self.fields = fields
    def __truediv__(self, other):
        return (self, other)
class IP(Layer): pass
class ICMP(Layer): pass
"""

FAKE_SENDRECV = """
import json, os, time
from scapy.layers.inet import ICMP, IP
class Answer:
    def __init__(self, kind, source):
        self.kind, self.source = kind, source
    def __contains__(self, layer):
        return True
    def __getitem__(self, layer):
        return type("L", (), {"src": self.source, "type": self.kind})()
def sr1(probe, timeout, verbose):
    ip, icmp = probe
    with open(os.environ["FAKE_SCAPY_LOG"], "a") as log:
        log.write(f"{ip.fields['ttl']} {timeout}\\n")
    behaviour = os.environ["FAKE_SCAPY"]
    if behaviour == "not_root":
        raise PermissionError(1, "Operation not permitted")
    if behaviour == "hang":
        time.sleep(60)
    if behaviour == "crash":
        raise RuntimeError("boom")
    answer = json.loads(behaviour).get(str(ip.fields["ttl"]))
    return Answer(*answer) if answer else None
"""


@pytest.fixture
def fake_scapy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake scapy package first on the child's path; returns the file where it logs each probe."""
    package = tmp_path / "scapy"
    (package / "layers").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("conf = type('Conf', (), {})()\n")
    (package / "layers" / "__init__.py").write_text("")
    (package / "layers" / "inet.py").write_text(FAKE_LAYERS)
    (package / "sendrecv.py").write_text(FAKE_SENDRECV)
    log = tmp_path / "probes.log"
    log.touch()
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("FAKE_SCAPY_LOG", str(log))
    return log


def probed_ttls(log: Path) -> list[int]:
    return [int(line.split()[0]) for line in log.read_text().splitlines()]


def test_scapy_missing_is_unsupported(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (fake_scapy.parent / "scapy" / "sendrecv.py").unlink()
    monkeypatch.setenv("FAKE_SCAPY", "{}")
    result = run_traceroute(ADDRESS, 5, 20.0)
    assert result.error.startswith("unsupported: scapy is not installed"), result
    assert probed_ttls(fake_scapy) == []


def test_not_root_is_not_permitted(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "not_root")
    result = run_traceroute(ADDRESS, 5, 20.0)
    assert result.error.startswith("not_permitted: "), result
    assert "CAP_NET_RAW" in result.error


def test_exception_in_the_child_is_failed(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "crash")
    assert run_traceroute(ADDRESS, 5, 20.0).error == "failed: RuntimeError: boom"


def test_child_that_does_not_finish_is_a_timeout(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "hang")
    result = run_traceroute(ADDRESS, 5, 1.0)
    assert result == PathResult(error="timeout: no result within 1 s")


def test_ipv6_is_refused_before_starting_a_child(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", "{}")
    assert run_traceroute("::1").error.startswith("unsupported: ")
    assert probed_ttls(fake_scapy) == []


@pytest.mark.parametrize(
    ("answers", "expected", "ttls"),
    [
        pytest.param(
            {"1": [11, "10.0.0.1"], "2": [11, "10.0.1.1"], "3": [0, ADDRESS]},
            PathResult(3, ADDRESS, True),
            [1, 2, 3],
            id="reached: stops at the destination",
        ),
        pytest.param(
            {"1": [11, "10.0.0.1"], "2": [3, "10.0.1.1"], "3": [0, ADDRESS]},
            PathResult(2, "10.0.1.1", False),
            [1, 2],
            id="a router says unreachable: the path ends there",
        ),
        pytest.param(
            {"1": [11, "10.0.0.1"], "3": [11, "10.0.2.1"]},
            PathResult(3, "10.0.2.1", False),
            [1, 2, 2, 3, 4, 4, 5, 5, 6, 6],  # a silent hop is asked again once
            id="one silent router is skipped, three silent hops end the trace",
        ),
        pytest.param({}, PathResult(), [1, 1, 2, 2, 3, 3], id="nothing answers"),
    ],
)
def test_child_walks_the_ttls(
    fake_scapy: Path,
    monkeypatch: pytest.MonkeyPatch,
    answers: dict[str, list[object]],
    expected: PathResult,
    ttls: list[int],
) -> None:
    monkeypatch.setenv("FAKE_SCAPY", json.dumps(answers))
    assert run_traceroute(ADDRESS, 15, 20.0) == expected
    assert probed_ttls(fake_scapy) == ttls


def test_child_stops_at_max_hops(fake_scapy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SCAPY", json.dumps({str(ttl): [11, f"10.0.{ttl}.1"] for ttl in range(1, 20)}))
    assert run_traceroute(ADDRESS, 4, 10.0) == PathResult(4, "10.0.4.1", False)
    timeouts = {float(line.split()[1]) for line in fake_scapy.read_text().splitlines()}
    assert timeouts == {traceroute.per_hop_timeout(4, 10.0)}
