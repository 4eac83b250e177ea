"""SNMPv1/v2c messages in BER (pure): requests encoded, responses decoded straight into plain values.

The community-based poll needs three requests (GET, GETNEXT, GETBULK) and one answer (Response), so
this codec is small: definite lengths only, one-byte tags, the SNMP application types. Responses
decode straight to the poller's plain values (values.py) without an object per tag; on the poller's
answers this is about 20 times cheaper than pysnmp's pyasn1 path (benchmarks/RESULTS.md, bench_snmp).
SNMPv3 (USM, encryption) stays with pysnmp (session.py).

Anything that is not a well-formed response raises BerError with a short reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetwatch_snmp.oids import Oid, dotted
from fleetwatch_snmp.values import Missing, Value, Varbind

GET = 0xA0
GETNEXT = 0xA1
RESPONSE = 0xA2
GETBULK = 0xA5
# The message's version field: SNMPv1 and SNMPv2c.
VERSION_NUMBERS = {"1": 0, "2c": 1}

_SEQUENCE = 0x30
_INTEGER = 0x02
_OCTET_STRING = 0x04
_NULL = 0x05
_OID = 0x06
# Application types (RFC 2578) with the width of the unsigned ones.
_IP_ADDRESS = 0x40
_OPAQUE = 0x44
# Counter32, Gauge32, TimeTicks, Counter64, UInteger32
_UNSIGNED_BITS = {0x41: 32, 0x42: 32, 0x43: 32, 0x46: 64, 0x47: 32}
_MISSING = {0x80: Missing.NO_SUCH_OBJECT, 0x81: Missing.NO_SUCH_INSTANCE, 0x82: Missing.END_OF_MIB_VIEW}

MAX_REQUEST_ID = 2**31 - 1
# Long-form lengths in up to 4 octets: RFC 3417 lets a sender use more than it needs (as net-snmp reads).
_MAX_LENGTH_BYTES = 4


class BerError(ValueError):
    """Bytes that are not a well-formed SNMPv1/v2c response."""


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded Response PDU and the message fields around it."""

    version: int
    community: bytes
    request_id: int
    status: int
    index: int
    varbinds: list[Varbind]


# --- encoding ---------------------------------------------------------------------------------


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def _tlv(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _length(len(payload)) + payload


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def encode_oid(oid: Oid) -> bytes:
    """The content octets of an OBJECT IDENTIFIER (ValueError for one BER cannot hold)."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40) or min(oid) < 0:
        raise ValueError(f"{dotted(oid)} is not an OID BER can encode")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        septets = []
        rest = arc
        while rest:
            septets.append(rest & 0x7F)
            rest >>= 7
        out.extend(s | 0x80 for s in reversed(septets[1:]))
        out.append(septets[0])
    return bytes(out)


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Sequence[Oid],
    max_repetitions: int = 0,
) -> bytes:
    """A GET, GETNEXT or GETBULK request for ``oids`` (GETBULK: no non-repeaters)."""
    if pdu_type not in (GET, GETNEXT, GETBULK):
        raise ValueError(f"PDU type {pdu_type:#x} is not a request this codec sends")
    if pdu_type == GETBULK and version == 0:
        raise ValueError("SNMPv1 has no GETBULK")
    null = b"\x05\x00"
    varbinds = b"".join(_tlv(_SEQUENCE, _tlv(_OID, encode_oid(oid)) + null) for oid in oids)
    second, third = (0, max_repetitions) if pdu_type == GETBULK else (0, 0)
    pdu = _integer(request_id) + _integer(second) + _integer(third) + _tlv(_SEQUENCE, varbinds)
    message = _integer(version) + _tlv(_OCTET_STRING, community) + _tlv(pdu_type, pdu)
    return _tlv(_SEQUENCE, message)


# --- decoding ---------------------------------------------------------------------------------


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The tag at ``pos`` and its content's start and end; BerError when it leaves ``end``."""
    if pos + 2 > end:
        raise BerError("truncated")
    tag = data[pos]
    size = data[pos + 1]
    pos += 2
    if size & 0x80:
        count = size & 0x7F
        if count == 0 or count > _MAX_LENGTH_BYTES:
            raise BerError("indefinite or oversized length" if count == 0 else "length too large")
        if pos + count > end:
            raise BerError("truncated")
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    stop = pos + size
    if stop > end:
        raise BerError("truncated")
    return tag, pos, stop


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    found, start, stop = _header(data, pos, end)
    if found != tag:
        raise BerError(f"{what}: tag {found:#04x} where {tag:#04x} was expected")
    return start, stop


def _int(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    start, stop = _expect(data, pos, end, _INTEGER, what)
    if start == stop or stop - start > 8:
        raise BerError(f"{what}: an INTEGER of {stop - start} bytes")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_oid(raw: bytes) -> Oid:
    """An OBJECT IDENTIFIER from its content octets."""
    if not raw:
        raise BerError("an empty OBJECT IDENTIFIER")
    first = raw[0]
    if max(raw) < 0x80:  # every arc in one byte: nearly every OID of IF-MIB
        return (first // 40, first % 40, *raw[1:]) if first < 80 else (2, first - 80, *raw[1:])
    if raw[-1] & 0x80:
        raise BerError("an OBJECT IDENTIFIER cut inside an arc")
    arcs: list[int] = []
    arc = 0
    for byte in raw:
        if arc == 0 and byte == 0x80:
            raise BerError("an OBJECT IDENTIFIER arc with a leading zero septet")
        arc = (arc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(arc)
            arc = 0
    head = arcs[0]
    pair = (head // 40, head % 40) if head < 80 else (2, head - 80)
    return (*pair, *arcs[1:])


def _value(tag: int, raw: bytes) -> Value:
    bits = _UNSIGNED_BITS.get(tag)
    if bits is not None:
        if not raw or len(raw) > bits // 8 + 1:
            raise BerError(f"an unsigned value of {len(raw)} bytes (tag {tag:#04x})")
        value = int.from_bytes(raw, "big")  # a value sent without its leading zero byte reads the same
        if value >> bits:
            raise BerError(f"an unsigned value over {bits} bits (tag {tag:#04x})")
        return value
    if tag == _INTEGER:
        if not raw or len(raw) > 8:
            raise BerError(f"an INTEGER of {len(raw)} bytes")
        return int.from_bytes(raw, "big", signed=True)
    if tag in (_OCTET_STRING, _IP_ADDRESS, _OPAQUE):
        return raw
    if tag == _OID:
        return dotted(decode_oid(raw))
    missing = _MISSING.get(tag)
    if missing is not None:
        return missing
    if tag == _NULL:
        return b""
    raise BerError(f"a value of unknown tag {tag:#04x}")


def decode_response(data: bytes) -> Response:
    """A Response message (SNMPv1 or v2c); BerError for anything else or anything malformed."""
    start, end = _expect(data, 0, len(data), _SEQUENCE, "message")
    if end != len(data):
        raise BerError("bytes after the message")
    version, pos = _int(data, start, end, "version")
    if version not in (0, 1):
        raise BerError(f"version {version} is not SNMPv1 or v2c")
    start, pos = _expect(data, pos, end, _OCTET_STRING, "community")
    community = data[start:pos]
    start, stop = _expect(data, pos, end, RESPONSE, "PDU")
    if stop != end:
        raise BerError("bytes after the PDU")
    request_id, pos = _int(data, start, stop, "request-id")
    status, pos = _int(data, pos, stop, "error-status")
    index, pos = _int(data, pos, stop, "error-index")
    start, end = _expect(data, pos, stop, _SEQUENCE, "variable bindings")
    if end != stop:
        raise BerError("bytes after the variable bindings")
    varbinds: list[Varbind] = []
    append = varbinds.append
    pos = start
    while pos < end:
        # One variable binding: SEQUENCE { OID, value }; the short length form inlined (the usual case).
        if data[pos] != _SEQUENCE:
            raise BerError(f"variable binding: tag {data[pos]:#04x}")
        _tag, inner, pos = _header(data, pos, end)
        oid_tag, oid_start, oid_end = _header(data, inner, pos)
        if oid_tag != _OID:
            raise BerError(f"variable binding name: tag {oid_tag:#04x}")
        value_tag, value_start, value_end = _header(data, oid_end, pos)
        if value_end != pos:
            raise BerError("bytes after a variable binding's value")
        append((decode_oid(data[oid_start:oid_end]), _value(value_tag, data[value_start:value_end])))
    return Response(version, community, request_id, status, index, varbinds)
