"""ICMP and ICMPv6 echo packets: built and parsed with struct, and matched to the burst that sent them."""

from __future__ import annotations

import errno
import socket
import struct
from dataclasses import dataclass
from typing import Literal

ECHO_REPLY = 0
DEST_UNREACHABLE = 3
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
# ICMPv6 (RFC 4443).
ECHO_REQUEST_V6 = 128
ECHO_REPLY_V6 = 129
DEST_UNREACHABLE_V6 = 1
TIME_EXCEEDED_V6 = 3
NEXT_HEADER_ICMPV6 = 58
IPV6_HEADER_BYTES = 40
NONCE_BYTES = 8
PAYLOAD_BYTES = 56  # what ping sends: 64 bytes of ICMP, 84 with the IP header
# Linux: IP_RECVERR / IPV6_RECVERR control messages (struct sock_extended_err) from these origins.
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
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


def build_echo_request(identifier: int, sequence: int, payload: bytes, v6: bool = False) -> bytes:
    """An echo request, identifier and sequence taken mod 2**16."""
    # ICMPv4 (type 8) carries its checksum; ICMPv6 (type 128) leaves it 0: it covers the IPv6 pseudo-header,
    # and the kernel fills it in for raw and datagram ICMPv6 sockets (RFC 3542).
    kind = ECHO_REQUEST_V6 if v6 else ECHO_REQUEST
    header = struct.pack("!BBHHH", kind, 0, 0, identifier & 0xFFFF, sequence & 0xFFFF)
    if v6:
        return header + payload
    return header[:2] + struct.pack("!H", checksum(header + payload)) + header[4:] + payload


def make_payload(nonce: bytes) -> bytes:
    """The echo payload: the burst's nonce, padded to the usual 56 bytes."""
    return nonce + bytes(range(PAYLOAD_BYTES - len(nonce)))


@dataclass(frozen=True)
class IcmpMessage:
    """An ICMP message that may answer one of our echo requests."""

    # For an echo reply: its identifier, sequence and payload. For an error (destination unreachable, time
    # exceeded): the identifier and sequence of the echo request it quotes. ``source`` is the sender's address
    # when known, else "".

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
    """Parse what an ICMPv4 socket received; None for anything that cannot answer an echo request."""
    # Raw sockets (and macOS datagram sockets) deliver the IPv4 header, Linux datagram sockets do not. An IPv4
    # header starts with version nibble 4 and none of the ICMP types read here (0, 3, 11) does, so the header
    # is detected instead of assumed. Echo replies with a wrong checksum, errors that do not quote an echo
    # request, and every other type give None.
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


def parse_icmp6(packet: bytes, source: str = "") -> IcmpMessage | None:
    """Parse what an ICMPv6 socket received (never with the IPv6 header); None when it answers no echo."""
    # The kernel checks ICMPv6 checksums before delivery. An error (destination unreachable, time exceeded)
    # counts when it quotes an IPv6 header whose next header is ICMPv6, then an echo request (RFC 4443 2.4: as
    # much of the invoking packet as fits).
    if len(packet) < 8:
        return None
    kind_code, code, _, identifier, sequence = struct.unpack("!BBHHH", packet[:8])
    if kind_code == ECHO_REPLY_V6:
        return IcmpMessage("echo_reply", code, identifier, sequence, packet[8:], source)
    if kind_code not in (DEST_UNREACHABLE_V6, TIME_EXCEEDED_V6):
        return None
    quoted = packet[8:]
    if len(quoted) < IPV6_HEADER_BYTES + 8 or quoted[0] >> 4 != 6 or quoted[6] != NEXT_HEADER_ICMPV6:
        return None
    request = quoted[IPV6_HEADER_BYTES:]
    if request[0] != ECHO_REQUEST_V6:
        return None
    _, _, _, identifier, sequence = struct.unpack("!BBHHH", request[:8])
    kind: Kind = "unreachable" if kind_code == DEST_UNREACHABLE_V6 else "time_exceeded"
    return IcmpMessage(kind, code, identifier, sequence, b"", source)


def parse_extended_error(data: bytes) -> tuple[int, int, int, str] | None:
    """(errno, ICMP type, ICMP code, offender address) of a Linux IP_RECVERR/IPV6_RECVERR message."""
    # ``data`` is ``struct sock_extended_err`` (16 bytes) followed by the offender's ``sockaddr_in`` or
    # ``sockaddr_in6``; None unless the error came from an ICMP(v6) message.
    if len(data) < 16:
        return None
    error_number, origin, icmp_type, icmp_code = struct.unpack("=IBBB", data[:7])
    if origin == SO_EE_ORIGIN_ICMP:
        offender = socket.inet_ntoa(data[20:24]) if len(data) >= 24 else ""
    elif origin == SO_EE_ORIGIN_ICMP6:
        offender = socket.inet_ntop(socket.AF_INET6, data[24:40]) if len(data) >= 40 else ""
    else:
        return None
    return error_number, icmp_type, icmp_code, offender


class Burst:
    """The state of one burst: when each sequence was sent and what answered it."""

    # A message counts once, for a sequence that was sent and not yet answered, with the burst's identifier
    # (raw sockets only: the kernel rewrites it on datagram sockets) and, for an echo reply, the burst's nonce
    # at the start of the payload.

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
