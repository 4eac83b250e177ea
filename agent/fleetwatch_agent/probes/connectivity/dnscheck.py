"""DNS check: A queries over UDP to one given server (not the system resolver), encoded with struct."""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import socket
import struct
import time
from dataclasses import dataclass

from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts
from fleetwatch_agent.probes.connectivity.tcpcheck import os_error_reason

TYPE_A = 1
CLASS_IN = 1
RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount (RFC 1035 4.1.1)
_QUESTION_TAIL = struct.Struct("!HH")  # qtype, qclass
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength after the owner name
_FLAG_QR = 0x8000  # a response
_FLAG_RD = 0x0100  # recursion desired
_MAX_NAME_WIRE = 255  # RFC 1035 2.3.4, length bytes and final zero included
_MAX_LABEL = 63
_MAX_DATAGRAM = 65535


class DnsError(ValueError):
    """A name that cannot be queried, or a response that cannot be used."""


class DnsNameError(DnsError):
    """The name is empty, not IDNA-encodable, or has a label or total length over the limits."""


class DnsFormatError(DnsError):
    """The response is truncated or malformed."""


class DnsIdMismatch(DnsError):
    """The response answers another query (its id differs)."""


def rcode_name(rcode: int) -> str:
    return RCODE_NAMES.get(rcode, f"RCODE {rcode}")


def encode_name(name: str) -> bytes:
    """``name`` in wire form: IDNA-encoded labels, each after its length byte, then a zero byte."""
    text = name[:-1] if name.endswith(".") else name
    if not text:
        raise DnsNameError("empty name")
    try:
        ascii_name = text.encode("idna")
    except UnicodeError as exc:
        raise DnsNameError(f"invalid name {name!r}: {exc}") from None
    wire = bytearray()
    for label in ascii_name.split(b"."):
        if not 0 < len(label) <= _MAX_LABEL:
            raise DnsNameError(f"invalid name {name!r}: labels must have 1 to {_MAX_LABEL} characters")
        wire += bytes([len(label)]) + label
    wire.append(0)
    if len(wire) > _MAX_NAME_WIRE:
        raise DnsNameError(f"name {name[:40]!r}... too long: {len(wire)} bytes encoded, at most 255")
    return bytes(wire)


def build_query(query_id: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A standard query with recursion desired for (name, qtype, IN); raises DnsNameError on bad names."""
    if not 0 <= query_id <= 0xFFFF or not 0 <= qtype <= 0xFFFF:
        raise ValueError(f"query id {query_id} and type {qtype} must fit in 16 bits")
    header = _HEADER.pack(query_id, _FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + _QUESTION_TAIL.pack(qtype, CLASS_IN)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name at ``offset``; pointers are checked, not followed."""
    start = offset
    while True:
        if offset >= len(data):
            raise DnsFormatError(f"name at offset {start} runs past the end of the message")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # compression pointer (RFC 1035 4.1.4): ends the name in place
            if offset + 1 >= len(data):
                raise DnsFormatError(f"compression pointer at offset {offset} is cut")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if not _HEADER.size <= target < start:
                raise DnsFormatError(f"compression pointer at offset {offset} to {target} is not backwards")
            return offset + 2
        if length & 0xC0:
            raise DnsFormatError(f"reserved label type {length >> 6} at offset {offset}")
        offset += 1 + length
        if offset - start > _MAX_NAME_WIRE:
            raise DnsFormatError(f"name at offset {start} is longer than 255 bytes")


def parse_response(data: bytes, query_id: int) -> tuple[int, list[str]]:
    """The rcode and the IPv4 addresses of the answer section's A/IN records of a response.

    Other records (CNAME, AAAA, ...) and the authority and additional sections are skipped.
    Raises DnsIdMismatch for a response to another query, DnsFormatError when the message is
    not a response or is truncated or malformed (both are ValueError).
    """
    if len(data) < _HEADER.size:
        raise DnsFormatError(f"{len(data)} bytes, shorter than a DNS header")
    response_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    if response_id != query_id:
        raise DnsIdMismatch(f"response id {response_id} does not match query id {query_id}")
    if not flags & _FLAG_QR:
        raise DnsFormatError("the message is a query, not a response")
    offset = _HEADER.size
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + _QUESTION_TAIL.size
        if offset > len(data):
            raise DnsFormatError("question section is truncated")
    addresses: list[str] = []
    for index in range(1, ancount + 1):
        offset = _skip_name(data, offset)
        if offset + _RR_FIXED.size > len(data):
            raise DnsFormatError(f"answer {index} of {ancount} is truncated")
        rtype, rclass, _, rdlength = _RR_FIXED.unpack_from(data, offset)
        offset += _RR_FIXED.size
        end = offset + rdlength
        if end > len(data):
            raise DnsFormatError(f"data of answer {index} of {ancount} is truncated")
        if rtype == TYPE_A and rclass == CLASS_IN:
            if rdlength != 4:
                raise DnsFormatError(f"A record {index} has {rdlength} bytes of data instead of 4")
            addresses.append(socket.inet_ntoa(data[offset:end]))
        offset = end
    return flags & 0x000F, addresses


@dataclass(frozen=True)
class _Attempt:
    """One query: answered (rtt set, with rcode and addresses) or failed (error and detail)."""

    rtt: float | None = None
    rcode: int = 0
    addresses: tuple[str, ...] = ()
    error: ErrorReason = ""
    detail: str = ""


def _query_once(family: int, server: tuple[str, int], name: str, timeout: float) -> _Attempt:
    """Send one query from a fresh socket (fresh source port and id) and wait for its answer.

    The socket is connected so that the kernel drops datagrams from other peers and reports an
    ICMP port unreachable as ConnectionRefusedError. Responses with another id are ignored.
    """
    query_id = secrets.randbelow(0x10000)
    query = build_query(query_id, name)
    where = f"{server[0]}:{server[1]}"
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(server)
            start = time.perf_counter()
            deadline = start + timeout
            sock.send(query)
            while (remaining := deadline - time.perf_counter()) > 0:
                sock.settimeout(remaining)
                data = sock.recv(_MAX_DATAGRAM)
                rtt = time.perf_counter() - start
                try:
                    rcode, addresses = parse_response(data, query_id)
                except DnsIdMismatch:
                    continue
                except DnsFormatError as exc:
                    return _Attempt(error="dns_error", detail=f"malformed response from {where}: {exc}")
                return _Attempt(rtt, rcode, tuple(addresses))
        except TimeoutError:
            pass
        except OSError as exc:
            reason, detail = os_error_reason(exc)
            return _Attempt(error=reason, detail=f"{where}: {detail}")
    return _Attempt(error="timeout", detail=f"no answer from {where} within {timeout:g} s")


def dns_resolve(server: str, name: str, timeout: float = 2.0, count: int = 1, port: int = 53) -> CheckResult:
    """Ask ``server`` (an IP address) ``count`` times in a row for the A records of ``name``.

    Each attempt waits up to ``timeout`` for its answer. Every well-formed answer counts as
    received with its round-trip time, whatever its rcode. Success means at least one answer
    with rcode NOERROR and an address (detail: the addresses). Otherwise, when answers came:
    error "dns_error" with the rcode's name as detail (e.g. "SERVFAIL"), or "no address" for
    NOERROR without an A record, round-trip times kept. Without answers: "dns_error" for a
    malformed answer, else "refused", "unreachable", "other" or "timeout" (first such reason).
    Arguments that cannot work (server not an IP address, bad name, count, port) give "other"
    with sent 0; this function never raises for them.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(server).version == 6 else socket.AF_INET
    except ValueError:
        return from_rtts(0, [], "other", f"DNS server {server!r} is not an IP address")
    if count < 1 or not 0 < port < 65536:
        return from_rtts(0, [], "other", f"count {count} must be at least 1 and port {port} in 1-65535")
    try:
        encode_name(name)
    except DnsNameError as exc:
        return from_rtts(0, [], "other", str(exc))
    attempts = [_query_once(family, (server, port), name, timeout) for _ in range(count)]
    answered = [attempt for attempt in attempts if attempt.rtt is not None]
    rtts = [attempt.rtt for attempt in answered if attempt.rtt is not None]
    addresses = list(
        dict.fromkeys(a for attempt in answered if attempt.rcode == 0 for a in attempt.addresses)
    )
    if addresses:
        return from_rtts(count, rtts, detail=", ".join(addresses))
    if answered:
        rcode = answered[-1].rcode
        detail = rcode_name(rcode) if rcode else "no address"
        return dataclasses.replace(from_rtts(count, rtts), success=False, error="dns_error", detail=detail)
    failed = [attempt for attempt in attempts if attempt.error != "timeout"] or attempts
    return from_rtts(count, [], failed[0].error, failed[0].detail)
