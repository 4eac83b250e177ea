"""DNS messages of the DNS check: A queries and responses encoded with struct (RFC 1035)."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

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
_FLAG_TC = 0x0200  # truncated: the whole answer did not fit the UDP datagram
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


@dataclass(frozen=True)
class Response:
    """What a DNS response says: its rcode, the A addresses of its answer section, its TC flag."""

    rcode: int
    addresses: tuple[str, ...] = ()
    truncated: bool = False


def parse_response(data: bytes, query_id: int) -> tuple[int, list[str]]:
    """The rcode and the IPv4 addresses of the answer section's A/IN records of a response."""
    # Other records (CNAME, AAAA, ...) and the authority and additional sections are skipped. Raises
    # DnsIdMismatch for a response to another query, DnsFormatError when the message is not a response or is
    # truncated or malformed (both are ValueError).
    response = parse_message(data, query_id)
    return response.rcode, list(response.addresses)


def parse_message(data: bytes, query_id: int) -> Response:
    """A response (see parse_response); with TC set, only the header is read (RFC 7766: ask over TCP)."""
    if len(data) < _HEADER.size:
        raise DnsFormatError(f"{len(data)} bytes, shorter than a DNS header")
    response_id, flags, qdcount, ancount, _, _ = _HEADER.unpack_from(data)
    if response_id != query_id:
        raise DnsIdMismatch(f"response id {response_id} does not match query id {query_id}")
    if not flags & _FLAG_QR:
        raise DnsFormatError("the message is a query, not a response")
    if flags & _FLAG_TC:
        return Response(flags & 0x000F, (), True)
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
    return Response(flags & 0x000F, tuple(addresses))
