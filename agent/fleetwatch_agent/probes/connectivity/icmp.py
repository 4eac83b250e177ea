"""ICMP echo check: round-trip times and loss of a short burst of pings, over IPv4."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Literal

from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts

ECHO_REPLY = 0
DEST_UNREACHABLE = 3
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
NONCE_BYTES = 8
PAYLOAD_BYTES = 56  # what ping sends: 64 bytes of ICMP, 84 with the IP header
RECV_BYTES = 4096
MAX_READS = 256
# Linux: a raw socket option that drops ICMP types we never read (bit set = type blocked).
SOL_RAW = 255
ICMP_FILTER = 1
# Linux: deliver ICMP errors for a datagram socket to its error queue (not in Python 3.11's socket).
IP_RECVERR = 11
SO_EE_ORIGIN_ICMP = 2
UNREACHABLE_ERRNOS = frozenset(
    code
    for name in ("EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "WSAEHOSTUNREACH", "WSAENETUNREACH")
    if (code := getattr(errno, name, None)) is not None
)

Kind = Literal["echo_reply", "unreachable", "time_exceeded"]


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(identifier: int, sequence: int, payload: bytes) -> bytes:
    """An ICMP echo request (type 8) with its checksum; identifier and sequence are taken mod 2**16."""
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, identifier & 0xFFFF, sequence & 0xFFFF)
    return header[:2] + struct.pack("!H", checksum(header + payload)) + header[4:] + payload


def make_payload(nonce: bytes) -> bytes:
    """The echo payload: the burst's nonce, padded to the usual 56 bytes."""
    return nonce + bytes(range(PAYLOAD_BYTES - len(nonce)))


@dataclass(frozen=True)
class IcmpMessage:
    """An ICMP message that may answer one of our echo requests.

    For an echo reply: its identifier, sequence and payload. For an error (destination
    unreachable, time exceeded): the identifier and sequence of the echo request it quotes.
    ``source`` is the sender's address when the packet came with its IP header, else "".
    """

    kind: Kind
    code: int
    identifier: int
    sequence: int
    payload: bytes = b""
    source: str = ""


def _split_ip_header(packet: bytes) -> tuple[bytes, str] | None:
    """(the IPv4 payload, the source address), or None when ``packet`` is not a whole IPv4 packet."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    if header_length < 20 or len(packet) < header_length:
        return None
    return packet[header_length:], socket.inet_ntoa(packet[12:16])


def parse_icmp(packet: bytes) -> IcmpMessage | None:
    """Parse what an ICMP socket received; None for anything that cannot answer an echo request.

    Raw sockets (and macOS datagram sockets) deliver the IPv4 header, Linux datagram sockets do
    not. An IPv4 header starts with version nibble 4 and none of the ICMP types read here (0, 3,
    11) does, so the header is detected instead of assumed. Echo replies with a wrong checksum,
    errors that do not quote an echo request, and every other type give None.
    """
    source = ""
    if packet and packet[0] >> 4 == 4:
        split = _split_ip_header(packet)
        if split is None:
            return None
        packet, source = split
    if len(packet) < 8:
        return None
    kind_code, code, _, identifier, sequence = struct.unpack("!BBHHH", packet[:8])
    if kind_code == ECHO_REPLY:
        if checksum(packet) != 0:
            return None
        return IcmpMessage("echo_reply", code, identifier, sequence, packet[8:], source)
    if kind_code not in (DEST_UNREACHABLE, TIME_EXCEEDED):
        return None
    # The error quotes the IP header of our request and at least its first 8 bytes (RFC 792).
    quoted = _split_ip_header(packet[8:])
    if quoted is None or len(quoted[0]) < 8 or quoted[0][0] != ECHO_REQUEST:
        return None
    _, _, _, identifier, sequence = struct.unpack("!BBHHH", quoted[0][:8])
    kind: Kind = "unreachable" if kind_code == DEST_UNREACHABLE else "time_exceeded"
    return IcmpMessage(kind, code, identifier, sequence, b"", source)


def parse_extended_error(data: bytes) -> tuple[int, int, int, str] | None:
    """(errno, ICMP type, ICMP code, offender address) of a Linux IP_RECVERR control message.

    ``data`` is ``struct sock_extended_err`` (16 bytes) followed by the offender's
    ``sockaddr_in``; None unless the error came from an ICMP message.
    """
    if len(data) < 16:
        return None
    error_number, origin, icmp_type, icmp_code = struct.unpack("=IBBB", data[:7])
    if origin != SO_EE_ORIGIN_ICMP:
        return None
    offender = socket.inet_ntoa(data[20:24]) if len(data) >= 24 else ""
    return error_number, icmp_type, icmp_code, offender


def open_icmp_socket() -> tuple[socket.socket, bool] | str:
    """(socket, is_raw) for sending echo requests, or why none can be opened.

    An unprivileged datagram socket first (Linux needs the process's group in
    net.ipv4.ping_group_range; macOS allows it), else a raw socket (root or CAP_NET_RAW).
    """
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except OSError as dgram_error:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except OSError as raw_error:
            dgram_why = dgram_error.strerror or str(dgram_error)
            return f"datagram socket: {dgram_why}; raw socket: {raw_error.strerror or raw_error}"
        if sys.platform.startswith("linux"):
            blocked = ~((1 << ECHO_REPLY) | (1 << DEST_UNREACHABLE) | (1 << TIME_EXCEEDED)) & 0xFFFFFFFF
            # Only an optimisation: unrelated packets are ignored anyway.
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", blocked))
        return sock, True
    if sys.platform.startswith("linux"):
        # Without it, routers' "unreachable" answers end as timeouts.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
    return sock, False


def resolve_ipv4(address: str) -> str:
    """The IPv4 address of a literal or a name (resolved once, system resolver).

    Raises ValueError for an IPv6 address (these checks are IPv4 only) and socket.gaierror
    (or UnicodeError) for a name that does not resolve.
    """
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        pass
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        pass
    else:
        raise ValueError(f"{address} is an IPv6 address")
    infos = socket.getaddrinfo(address, None, socket.AF_INET, socket.SOCK_RAW)
    return str(infos[0][4][0])


class Burst:
    """The state of one burst: when each sequence was sent and what answered it.

    A message counts once, for a sequence that was sent and not yet answered, with the burst's
    identifier (raw sockets only: the kernel rewrites it on datagram sockets) and, for an echo
    reply, the burst's nonce at the start of the payload.
    """

    def __init__(self, identifier: int, nonce: bytes, raw: bool) -> None:
        self.identifier = identifier
        self.nonce = nonce
        self.raw = raw
        self.sent_at: dict[int, float] = {}
        self.rtts: list[float] = []
        self.done: set[int] = set()
        self.unreachable = ""  # detail of the last "unreachable" seen
        self.other_error = ""

    def outstanding(self) -> bool:
        return any(seq not in self.done for seq in self.sent_at)

    def on_message(self, message: IcmpMessage | None, now: float) -> None:
        if message is None or message.sequence not in self.sent_at or message.sequence in self.done:
            return
        # The kernel rewrites the identifier of datagram sockets and demultiplexes by it itself.
        if self.raw and message.identifier != self.identifier:
            return
        if message.kind == "echo_reply":
            if not message.payload.startswith(self.nonce):
                return
            self.rtts.append(now - self.sent_at[message.sequence])
        else:
            what = "destination unreachable" if message.kind == "unreachable" else "time exceeded"
            sender = f" from {message.source}" if message.source else ""
            self.unreachable = f"{what} (code {message.code}){sender}"
        self.done.add(message.sequence)

    def on_socket_error(self, exc: OSError) -> None:
        if exc.errno in UNREACHABLE_ERRNOS:
            self.unreachable = exc.strerror or str(exc)
        else:
            self.other_error = exc.strerror or str(exc)


def _drain(sock: socket.socket, burst: Burst) -> None:
    """Read what is queued on the socket (replies, then Linux's error queue) without blocking.

    At most MAX_READS packets per call, so a flood of unrelated ICMP cannot hold the burst past
    its deadline.
    """
    for _ in range(MAX_READS):
        try:
            packet = sock.recv(RECV_BYTES)
        except BlockingIOError:
            break
        except OSError as exc:  # an ICMP error reported on the socket itself
            burst.on_socket_error(exc)
            continue
        burst.on_message(parse_icmp(packet), time.perf_counter())
    flag = getattr(socket, "MSG_ERRQUEUE", 0)
    for _ in range(MAX_READS if flag and not burst.raw else 0):
        try:
            packet, ancillary, _, _ = sock.recvmsg(RECV_BYTES, 1024, flag)
        except OSError:  # BlockingIOError: queue empty
            break
        for level, kind, data in ancillary:
            error = parse_extended_error(data) if (level, kind) == (socket.SOL_IP, IP_RECVERR) else None
            if error is None or error[1] not in (DEST_UNREACHABLE, TIME_EXCEEDED) or len(packet) < 8:
                continue
            # The error queue returns our own request: its sequence says which one failed.
            sequence = struct.unpack("!H", packet[6:8])[0]
            kind_name: Kind = "unreachable" if error[1] == DEST_UNREACHABLE else "time_exceeded"
            burst.on_message(
                IcmpMessage(kind_name, error[2], 0, sequence, b"", error[3]), time.perf_counter()
            )


def icmp_echo(address: str, count: int = 5, timeout: float = 1.0, interval: float = 0.2) -> CheckResult:
    """Send ``count`` echo requests ``interval`` seconds apart and wait ``timeout`` after the last.

    IPv4 only (an IPv6 address gives error "unsupported"); a name is resolved once first
    ("dns_error" when it does not resolve). Replies are matched by sequence, payload nonce and,
    on raw sockets, identifier; anything else on the socket is ignored. RTTs are measured with
    time.perf_counter. No answer at all gives "unreachable" when a router said so (ICMP
    destination unreachable / time exceeded, or ENETUNREACH/EHOSTUNREACH from the local stack),
    else "timeout". The call returns within count * interval + timeout seconds (plus resolving).
    """
    if not 1 <= count <= 0xFFFF or timeout <= 0 or interval < 0:
        detail = "count must be 1..65535, timeout > 0, interval >= 0"
        return CheckResult(False, error="other", detail=detail)
    try:
        target = resolve_ipv4(address)
    except ValueError as exc:
        return CheckResult(False, error="unsupported", detail=f"{exc}; the ICMP check is IPv4 only")
    except (socket.gaierror, UnicodeError) as exc:
        return CheckResult(False, count, error="dns_error", detail=f"{address}: {exc}")
    opened = open_icmp_socket()
    if isinstance(opened, str):
        detail = f"ICMP needs net.ipv4.ping_group_range or root ({opened})"
        return CheckResult(False, error="unsupported", detail=detail)
    sock, raw = opened
    with sock:
        sock.setblocking(False)
        burst = Burst(int.from_bytes(os.urandom(2), "big"), os.urandom(NONCE_BYTES), raw)
        payload = make_payload(burst.nonce)
        start = time.perf_counter()
        deadline = start + (count - 1) * interval + timeout
        sequence = 0
        while True:
            now = time.perf_counter()
            if sequence < count and now >= start + sequence * interval:
                packet = build_echo_request(burst.identifier, sequence, payload)
                sent_at = time.perf_counter()
                try:
                    sock.sendto(packet, (target, 0))
                    burst.sent_at[sequence] = sent_at
                except OSError as exc:
                    burst.on_socket_error(exc)
                sequence += 1
                continue
            if now >= deadline or (sequence >= count and not burst.outstanding()):
                break
            wake = deadline if sequence >= count else min(deadline, start + sequence * interval)
            readable, _, _ = select.select([sock], [], [], max(0.0, wake - now))
            if readable:
                _drain(sock, burst)
    error: ErrorReason = ""
    detail = ""
    if not burst.rtts:
        if burst.unreachable:
            error, detail = "unreachable", burst.unreachable
        elif burst.other_error and not burst.sent_at:
            error, detail = "other", burst.other_error
        else:
            error, detail = "timeout", f"no reply from {target} within {timeout:g} s"
    return from_rtts(count, burst.rtts, error, detail)
