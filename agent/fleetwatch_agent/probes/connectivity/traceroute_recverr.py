"""Linux IP_RECVERR/IPV6_RECVERR error-queue messages parsed into hops, and which probe each one answers."""
# A datagram socket with IP_RECVERR (IPV6_RECVERR) set keeps the ICMP errors about what it sent in its error
# queue; recvmsg(MSG_ERRQUEUE) returns, for each:
# - a control message (level SOL_IP type IP_RECVERR, or SOL_IPV6 type IPV6_RECVERR) holding
#   ``struct sock_extended_err`` (errno u32, origin u8, type u8, code u8, pad u8, info u32, data u32; native
#   byte order) followed by the offender, the sender of the ICMP error (SO_EE_OFFENDER: a sockaddr_in or
#   sockaddr_in6, family AF_UNSPEC when there is none);
# - the payload the error quotes: for an ICMP datagram ("ping") socket our echo request from its header on,
#   for a UDP socket what followed our UDP header;
# - as the message's address, the probe's destination (for UDP, with the probe's port).
# Everything here is pure: the socket code in traceroute_linux.py hands the bytes over.

from __future__ import annotations

import socket
import struct

from fleetwatch_agent.probes.connectivity.traceroute_hops import Hop

SOL_IP = 0
SOL_IPV6 = 41
IP_RECVERR = 11
IPV6_RECVERR = 25
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
AF_UNSPEC = 0
AF_INET = 2  # the Linux values (the sockaddr the kernel writes), whatever platform parses them
AF_INET6 = 10
_EXTENDED_ERROR = struct.Struct("=IBBBBII")
_FAMILY = struct.Struct("=H")
SOCKADDR_IN_BYTES = 16
SOCKADDR_IN6_BYTES = 28
# UDP probes go to this port plus the probe's number modulo PORT_SPAN (traceroute's classic 33434-33533).
BASE_PORT = 33434
PORT_SPAN = 100
ECHO_REQUEST, ECHO_REQUEST_V6 = 8, 128

_UNREACHABLE = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    11: "network unreachable for TOS",
    12: "host unreachable for TOS",
    13: "communication administratively prohibited",
}
_UNREACHABLE_V6 = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}


class MalformedError(ValueError):
    """The bytes are not a whole sock_extended_err with a well-formed offender."""


def _offender(data: bytes) -> str:
    """The address after the sock_extended_err ("" for AF_UNSPEC)."""
    rest = data[_EXTENDED_ERROR.size :]
    if len(rest) < _FAMILY.size:
        raise MalformedError(f"no offender address after the {_EXTENDED_ERROR.size}-byte error")
    (family,) = _FAMILY.unpack_from(rest)
    if family == AF_UNSPEC:
        return ""
    if family == AF_INET:
        if len(rest) < SOCKADDR_IN_BYTES:
            raise MalformedError(f"offender sockaddr_in cut at {len(rest)} bytes")
        return socket.inet_ntop(socket.AF_INET, rest[4:8])
    if family == AF_INET6:
        if len(rest) < SOCKADDR_IN6_BYTES:
            raise MalformedError(f"offender sockaddr_in6 cut at {len(rest)} bytes")
        address = socket.inet_ntop(socket.AF_INET6, rest[8:24])
        return address.removeprefix("::ffff:") if rest[8:20] == bytes(10) + b"\xff\xff" else address
    raise MalformedError(f"offender of unknown address family {family}")


def _classify_v4(icmp_type: int, code: int, source: str) -> Hop | None:
    if icmp_type == 11:
        return Hop("transit", source, "time exceeded") if code == 0 else None  # 1: reassembly, not a hop
    if icmp_type == 3:
        if code == 3:
            return Hop("reached", source, "port unreachable")
        what = _UNREACHABLE.get(code, "destination unreachable")
        return Hop("unreachable", source, f"ICMP 3/{code} {what}")
    if icmp_type == 12:
        return Hop("unreachable", source, f"ICMP 12/{code} parameter problem")
    return None  # redirect, source quench, ...: about no hop


def _classify_v6(icmp_type: int, code: int, source: str) -> Hop | None:
    if icmp_type == 3:
        return Hop("transit", source, "hop limit exceeded") if code == 0 else None
    if icmp_type == 1:
        if code == 4:
            return Hop("reached", source, "port unreachable")
        what = _UNREACHABLE_V6.get(code, "destination unreachable")
        return Hop("unreachable", source, f"ICMPv6 1/{code} {what}")
    if icmp_type == 4:
        return Hop("unreachable", source, f"ICMPv6 4/{code} parameter problem")
    return None  # packet too big (our probes are small), ...


def parse_error_message(level: int, kind: int, data: bytes) -> Hop | None:
    """The hop one error-queue control message reports; None when it is about no hop (not ICMP, ...)."""
    # Raises MalformedError for a truncated or garbled IP_RECVERR/IPV6_RECVERR message; control messages of
    # other levels and types give None.
    if (level, kind) not in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
        return None
    if len(data) < _EXTENDED_ERROR.size:
        raise MalformedError(f"sock_extended_err needs {_EXTENDED_ERROR.size} bytes, got {len(data)}")
    _, origin, icmp_type, code, _, _, _ = _EXTENDED_ERROR.unpack_from(data)
    if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
        return None  # local errors (EMSGSIZE...), transmit timestamps, zero-copy notices
    source = _offender(data)
    if origin == SO_EE_ORIGIN_ICMP:
        return _classify_v4(icmp_type, code, source)
    return _classify_v6(icmp_type, code, source)


def probe_port(number: int) -> int:
    """The UDP destination port of probe ``number``."""
    return BASE_PORT + number % PORT_SPAN


def udp_probe_of(address: object) -> int | None:
    """The probe number (modulo PORT_SPAN) an error answers, from the message's address (the probe's)."""
    if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
        offset = address[1] - BASE_PORT
        return offset if 0 <= offset < PORT_SPAN else None
    return None


def icmp_probe_of(payload: bytes) -> int | None:
    """The sequence of the echo request an error quotes (ICMP datagram sockets), or None."""
    if len(payload) < 8 or payload[0] not in (ECHO_REQUEST, ECHO_REQUEST_V6):
        return None
    return int.from_bytes(payload[6:8], "big")
