"""The SNMPv1/v2c BER codec against pyasn1/pysnmp: requests, responses of every value type, hostile bytes."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import api
from pysnmp.proto.api import v1, v2c

from fleetwatch_snmp import ber
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.session import plain
from fleetwatch_snmp.values import Missing, Value

V1, V2C = 0, 1
TOP32, TOP64 = 2**32 - 1, 2**64 - 1
INT32_EDGES = [-(2**31), -129, -128, -1, 0, 1, 127, 128, 255, 256, 2**31 - 1]
UINT32_EDGES = [0, 1, 127, 128, 255, 256, 2**31 - 1, 2**31, 2**32 - 1]
ARC_EDGES = [0, 39, 40, 127, 128, 255, 16383, 16384, 2**21 - 1, 2**21, 2**28, 2**31 - 1, 2**32 - 1]

# --- strategies -------------------------------------------------------------------------------

INT32 = st.one_of(st.sampled_from(INT32_EDGES), st.integers(-(2**31), 2**31 - 1))
UINT32 = st.one_of(st.sampled_from(UINT32_EDGES), st.integers(0, 2**32 - 1))
UINT64 = st.one_of(st.sampled_from([0, 2**32 - 1, 2**32, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
ARC = st.one_of(st.sampled_from(ARC_EDGES), st.integers(0, 127), st.integers(0, 2**32 - 1))


@st.composite
def oids(draw: st.DrawFn) -> Oid:
    """OIDs BER can hold: first arc 0/1 with a second arc up to 39, or 2 with any second arc."""
    first = draw(st.integers(0, 2))
    if first < 2:
        second = draw(st.integers(0, 39))
    else:
        second = draw(st.one_of(st.sampled_from([0, 39, 40, 47, 48, 175, 176, 999, 2**32 - 1]), ARC))
    return (first, second, *draw(st.lists(ARC, max_size=16)))


BYTES = st.one_of(
    st.sampled_from([b"", b"\xff\xfe\x80\x00", "Gi0/1 xin chào".encode()]), st.binary(max_size=300)
)
IPV4 = st.binary(min_size=4, max_size=4)
MISSING = [v2c.NoSuchObject(""), v2c.NoSuchInstance(""), v2c.EndOfMibView(""), v2c.null]
V2C_VALUES = st.one_of(
    *(INT32.map(v2c.Integer), BYTES.map(v2c.OctetString), BYTES.map(v2c.Opaque), IPV4.map(v2c.IpAddress)),
    *(UINT32.map(kind) for kind in (v2c.Counter32, v2c.Gauge32, v2c.TimeTicks, v2c.Unsigned32)),
    *(UINT64.map(v2c.Counter64), oids().map(v2c.ObjectIdentifier), st.sampled_from(MISSING)),
)
V1_VALUES = st.one_of(
    *(INT32.map(v1.Integer), BYTES.map(v1.OctetString), BYTES.map(v1.Opaque), IPV4.map(v1.IpAddress)),
    *(UINT32.map(kind) for kind in (v1.Counter, v1.Gauge, v1.TimeTicks)),
    *(oids().map(v1.ObjectIdentifier), st.just(v1.null)),
)


def pysnmp_response(
    version: int, community: bytes, request_id: int, varbinds: list[Any], status: int = 0, index: int = 0
) -> bytes:
    """A Response message built and encoded by pysnmp/pyasn1."""
    module: ModuleType = api.PROTOCOL_MODULES[version]
    pdu = module.GetResponsePDU()
    module.apiPDU.set_defaults(pdu)
    module.apiPDU.set_request_id(pdu, request_id)
    module.apiPDU.set_error_status(pdu, status)
    module.apiPDU.set_error_index(pdu, index)
    module.apiPDU.set_varbinds(pdu, varbinds)
    message = module.Message()
    module.apiMessage.set_defaults(message)
    module.apiMessage.set_community(message, community)
    module.apiMessage.set_pdu(message, pdu)
    encoded: bytes = encoder.encode(message)
    return encoded


@dataclass(frozen=True)
class Built:
    """A Response encoded by pysnmp and what went into it."""

    data: bytes
    version: int
    community: bytes
    request_id: int
    status: int
    index: int
    varbinds: list[tuple[Oid, Any]]


@st.composite
def responses(draw: st.DrawFn) -> Built:
    version = draw(st.sampled_from([V1, V2C]))
    values = V1_VALUES if version == V1 else V2C_VALUES
    varbinds = draw(st.lists(st.tuples(oids(), values), max_size=24))
    community = draw(st.binary(max_size=40))
    request_id = draw(INT32)
    status = draw(st.integers(0, 5 if version == V1 else 18))
    index = draw(st.integers(0, 2**31 - 1))
    data = pysnmp_response(version, community, request_id, varbinds, status, index)
    return Built(data, version, community, request_id, status, index, varbinds)


# --- hand-made BER, for bytes pyasn1 will not produce ---------------------------------------


def tlv(tag: int, payload: bytes) -> bytes:
    size = len(payload)
    length = bytes((size,)) if size < 0x80 else bytes((0x82,)) + size.to_bytes(2, "big")
    return bytes((tag,)) + length + payload


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def varbind(oid_content: bytes, value: bytes) -> bytes:
    return tlv(0x30, tlv(0x06, oid_content) + value)


SYS_UPTIME = b"\x2b\x06\x01\x02\x01\x01\x03\x00"  # 1.3.6.1.2.1.1.3.0


def message(
    varbinds: bytes = varbind(SYS_UPTIME, tlv(0x43, b"\x01")),
    version: bytes = integer(1),
    pdu_tag: int = ber.RESPONSE,
    request_id: int = 7,
) -> bytes:
    pdu = integer(request_id) + integer(0) + integer(0) + tlv(0x30, varbinds)
    return tlv(0x30, version + tlv(0x04, b"public") + tlv(pdu_tag, pdu))


# --- (a) requests -----------------------------------------------------------------------------


REQUESTS = [(V1, ber.GET), (V1, ber.GETNEXT), (V2C, ber.GET), (V2C, ber.GETNEXT), (V2C, ber.GETBULK)]
PDU_CLASSES = {ber.GET: "GetRequestPDU", ber.GETNEXT: "GetNextRequestPDU", ber.GETBULK: "GetBulkRequestPDU"}


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(REQUESTS),
    community=st.binary(max_size=64),
    request_id=st.one_of(st.sampled_from([0, 1, 127, 128, 255, 2**31 - 1]), st.integers(0, 2**31 - 1)),
    asked=st.lists(oids(), max_size=30),
    repetitions=st.one_of(st.sampled_from([0, 1, 25, 127, 128, 200]), st.integers(0, 2**31 - 1)),
)
def test_requests_decode_with_pyasn1_to_what_was_asked(
    kind: tuple[int, int], community: bytes, request_id: int, asked: list[Oid], repetitions: int
) -> None:
    version, pdu_type = kind
    data = ber.encode_request(version, community, pdu_type, request_id, asked, repetitions)
    module: ModuleType = api.PROTOCOL_MODULES[version]
    decoded, _rest = decoder.decode(data, asn1Spec=module.Message())
    assert int(module.apiMessage.get_version(decoded)) == version
    assert bytes(module.apiMessage.get_community(decoded)) == community
    pdu = module.apiMessage.get_pdu(decoded)
    assert pdu.isSameTypeWith(getattr(module, PDU_CLASSES[pdu_type])())
    assert int(module.apiPDU.get_request_id(pdu)) == request_id
    names = [(tuple(oid), value) for oid, value in module.apiPDU.get_varbinds(pdu)]
    assert [oid for oid, _value in names] == asked
    assert all(value.isSameTypeWith(univ.Null()) for _oid, value in names)
    if pdu_type == ber.GETBULK:
        bulk = v2c.apiBulkPDU
        assert (int(bulk.get_non_repeaters(pdu)), int(bulk.get_max_repetitions(pdu))) == (0, repetitions)
    else:
        assert (int(module.apiPDU.get_error_status(pdu)), int(module.apiPDU.get_error_index(pdu))) == (0, 0)
    # Minimal lengths and integers throughout, nothing after the message: pyasn1 encodes it to the same bytes.
    assert encoder.encode(decoded) == data
    assert ber.peek_request_id(data) == request_id


def check_oid(oid: Oid) -> None:
    content = ber.encode_oid(oid)
    assert tlv(0x06, content) == encoder.encode(univ.ObjectIdentifier(oid))
    assert tuple(decoder.decode(tlv(0x06, content), asn1Spec=univ.ObjectIdentifier())[0]) == oid
    assert ber.decode_oid(content) == oid


@settings(max_examples=300, deadline=None)
@given(oid=oids())
def test_oids_encode_as_pyasn1_does_and_decode_back(oid: Oid) -> None:
    check_oid(oid)


OID_EDGES = [(0, 0), (0, 39), (1, 0), (1, 39, 128), (2, 0), (2, 39), (2, 40), (2, 47, TOP32), (2, 48)]


@pytest.mark.parametrize("oid", [*OID_EDGES, (2, 999, 3), (2, TOP32), (1, 3, 6, 1, 4, 1, TOP32, 128, 0)])
def test_oid_edges_round_trip_through_pyasn1(oid: Oid) -> None:
    check_oid(oid)


@pytest.mark.parametrize("oid", [(), (1,), (3, 1), (0, 40), (1, 40, 1), (1, 3, -1)])
def test_oids_ber_cannot_hold_are_refused(oid: Oid) -> None:
    with pytest.raises(ValueError, match="is not an OID BER can encode"):
        ber.encode_oid(oid)


def test_only_get_getnext_and_v2c_getbulk_are_encoded() -> None:
    with pytest.raises(ValueError, match="not a request"):
        ber.encode_request(V2C, b"public", ber.RESPONSE, 1, [(1, 3)])
    with pytest.raises(ValueError, match="SNMPv1 has no GETBULK"):
        ber.encode_request(V1, b"public", ber.GETBULK, 1, [(1, 3)], 10)


# --- (b) responses ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(response=responses())
def test_responses_built_by_pysnmp_decode_to_the_values_plain_gives(response: Built) -> None:
    """session.plain is the pysnmp path (SNMPv3): both paths give the poller the same values."""
    r, decoded = response, ber.decode_response(response.data)
    assert (decoded.version, decoded.community, decoded.request_id) == (r.version, r.community, r.request_id)
    assert (decoded.status, decoded.index) == (r.status, r.index)
    assert decoded.varbinds == [(oid, plain(value)) for oid, value in r.varbinds]
    assert ber.peek_request_id(r.data) == r.request_id


EDGE_VALUES: list[tuple[Any, object]] = [  # (a pysnmp value, the plain value the poller gets)
    (v2c.Integer(-1), -1),
    (v2c.Integer(2**31 - 1), 2**31 - 1),
    (v2c.Integer(-(2**31)), -(2**31)),
    (v2c.OctetString(b""), b""),
    (v2c.OctetString(b"\xff\xfe\x80\xc3"), b"\xff\xfe\x80\xc3"),
    (v2c.OctetString(b"x" * 65535), b"x" * 65535),  # the message has a three-byte length
    (v2c.ObjectIdentifier((2, 999, TOP32)), f"2.999.{TOP32}"),
    (v2c.IpAddress(b"\x7f\x00\x00\x01"), b"\x7f\x00\x00\x01"),
    (v2c.Counter32(0), 0),
    (v2c.Counter32(TOP32), TOP32),
    (v2c.Gauge32(TOP32), TOP32),
    (v2c.TimeTicks(TOP32), TOP32),
    (v2c.Counter64(TOP64), TOP64),
    (v2c.Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00"), b"\x9f\x78\x04\x3f\x80\x00\x00"),  # an opaque float
    (v2c.NoSuchObject(""), Missing.NO_SUCH_OBJECT),
    (v2c.NoSuchInstance(""), Missing.NO_SUCH_INSTANCE),
    (v2c.EndOfMibView(""), Missing.END_OF_MIB_VIEW),
    (v2c.null, b""),
]


@pytest.mark.parametrize(("value", "plain_value"), EDGE_VALUES, ids=lambda item: type(item).__name__)
def test_every_value_type_at_its_edges_decodes_as_plain_gives(value: Any, plain_value: object) -> None:
    oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 3)
    decoded = ber.decode_response(pysnmp_response(V2C, b"public", 42, [(oid, value)], status=5, index=1))
    assert decoded.varbinds == [(oid, plain(value))] == [(oid, plain_value)]
    assert (decoded.status, decoded.index) == (5, 1)


# --- (c) hostile input ------------------------------------------------------------------------


def decodes_or_refuses(data: bytes) -> ber.Response | None:
    """The response, or None when the codec refused it with BerError (any other exception fails)."""
    try:
        return ber.decode_response(data)
    except ber.BerError:
        return None


@settings(max_examples=100, deadline=None)
@given(response=responses())
def test_every_truncation_of_a_response_is_refused(response: Built) -> None:
    for size in range(len(response.data)):
        with pytest.raises(ber.BerError):
            ber.decode_response(response.data[:size])


@settings(max_examples=100, deadline=None)
@given(response=responses())
def test_variable_bindings_cut_anywhere_are_refused_or_a_prefix(response: Built) -> None:
    """The cut inside the variable bindings, every enclosing length made to fit: the inner checks decide."""
    whole = ber.decode_response(response.data)
    module: ModuleType = api.PROTOCOL_MODULES[response.version]
    pdu = module.apiMessage.get_pdu(decoder.decode(response.data, asn1Spec=module.Message())[0])
    encoded = b"".join(encoder.encode(item) for item in module.apiPDU.get_varbind_list(pdu))
    for size in range(len(encoded)):
        cut = message(encoded[:size], version=integer(whole.version), request_id=whole.request_id)
        decoded = decodes_or_refuses(cut)
        if decoded is not None:
            assert decoded.varbinds == whole.varbinds[: len(decoded.varbinds)]


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda raw: tlv(0x30, raw))))
def test_random_bytes_are_refused_with_ber_error_or_decoded(data: bytes) -> None:
    decodes_or_refuses(data)
    peeked = ber.peek_request_id(data)
    assert peeked is None or isinstance(peeked, int)


@settings(max_examples=300, deadline=None)
@given(response=responses(), where=st.floats(0, 1, exclude_max=True), byte=st.integers(0, 255))
def test_a_corrupted_byte_is_refused_or_decoded(response: Built, where: float, byte: int) -> None:
    corrupted = bytearray(response.data)
    corrupted[int(where * len(corrupted))] = byte
    data = bytes(corrupted)
    decoded = decodes_or_refuses(data)
    ber.peek_request_id(data)
    if decoded is None:
        return
    # Where pyasn1 reads the corrupted message as well, both read the same.
    try:
        module: ModuleType = api.PROTOCOL_MODULES[api.decodeMessageVersion(data)]
        parsed, rest = decoder.decode(data, asn1Spec=module.Message())
        pdu = module.apiMessage.get_pdu(parsed)
        theirs = [(tuple(oid), plain(value)) for oid, value in module.apiPDU.get_varbinds(pdu)]
        request_id = int(module.apiPDU.get_request_id(pdu))
    except Exception:  # pyasn1 refuses it (pyasn1 is stricter in places: sizes, constraints)
        return
    if rest == b"":
        assert (decoded.request_id, decoded.varbinds) == (request_id, theirs)


def test_the_hand_made_message_decodes() -> None:
    """The base of the malformed cases below is itself well-formed."""
    decoded = ber.decode_response(message())
    assert (decoded.version, decoded.community, decoded.request_id) == (V2C, b"public", 7)
    assert decoded.varbinds == [((1, 3, 6, 1, 2, 1, 1, 3, 0), 1)]


VALID = message()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x30\x7f" + VALID[2:], "truncated"),  # a length larger than the datagram
        (b"\x30\x83\x01\x00\x00" + VALID[2:], "truncated"),
        (b"\x30\x80" + VALID[2:] + b"\x00\x00", "indefinite"),
        (b"\x30\x85\x00\x00\x00\x00" + bytes((len(VALID) - 2,)) + VALID[2:], "length too large"),
        (VALID + b"\x00", "bytes after the message"),
        (VALID + VALID, "bytes after the message"),
        (tlv(0x30, VALID[2:] + b"\x05\x00"), "after the PDU"),
        (
            tlv(
                0x30,
                integer(1)
                + tlv(0x04, b"public")
                + tlv(0xA2, integer(7) + integer(0) + integer(0) + tlv(0x30, b"") + b"\x05\x00"),
            ),
            "after the variable bindings",
        ),
        (message(pdu_tag=ber.GET), "PDU: tag 0xa0"),
        (message(pdu_tag=0xA4), "PDU: tag 0xa4"),  # an SNMPv1 Trap
        (message(pdu_tag=0xA7), "PDU: tag 0xa7"),  # an SNMPv2 Trap
        (message(version=integer(3)), "version 3"),
        (message(version=integer(-1)), "version -1"),
        (message(varbind(SYS_UPTIME, tlv(0x41, b"\x01\x00\x00\x00\x00"))), "unsigned value over 32 bits"),
        (message(varbind(SYS_UPTIME, tlv(0x46, b"\x01" + bytes(8)))), "unsigned value over 64 bits"),
        (message(varbind(SYS_UPTIME, tlv(0x41, b""))), "unsigned value of 0 bytes"),
        (message(varbind(SYS_UPTIME, tlv(0x02, b""))), "INTEGER of 0 bytes"),
        (message(varbind(SYS_UPTIME, tlv(0x02, bytes(9)))), "INTEGER of 9 bytes"),
        (message(varbind(SYS_UPTIME, tlv(0x48, b"\x01"))), "unknown tag 0x48"),
        (message(varbind(SYS_UPTIME, tlv(0x45, b"\x01"))), "unknown tag 0x45"),  # NsapAddress (RFC 1442)
        (message(varbind(SYS_UPTIME, tlv(0x83, b""))), "unknown tag 0x83"),
        (message(varbind(b"", tlv(0x05, b""))), "empty OBJECT IDENTIFIER"),
        (message(varbind(b"\x2b\x86", tlv(0x05, b""))), "cut inside an arc"),
        (message(varbind(b"\x2b\x80\x01", tlv(0x05, b""))), "leading zero septet"),
        (message(varbind(SYS_UPTIME, tlv(0x06, b""))), "empty OBJECT IDENTIFIER"),
        (message(tlv(0x31, tlv(0x06, SYS_UPTIME) + b"\x05\x00")), "variable binding: tag 0x31"),
        (message(tlv(0x30, tlv(0x04, SYS_UPTIME) + b"\x05\x00")), "variable binding name: tag 0x04"),
        (message(tlv(0x30, tlv(0x06, SYS_UPTIME) + b"\x05\x00\x05\x00")), "bytes after a variable binding"),
        (message(tlv(0x30, tlv(0x06, SYS_UPTIME))), "truncated"),
        (tlv(0x30, integer(1) + tlv(0x02, b"public")), "community: tag 0x02"),
        (tlv(0x31, VALID[2:]), "message: tag 0x31"),
        (b"", "truncated"),
        (b"\x30", "truncated"),
    ],
)
def test_malformed_responses_raise_ber_error_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ber.BerError, match=reason):
        ber.decode_response(data)


LENIENT_BUT_READ = [  # (a value's TLV, what it reads)
    (tlv(0x41, b"\xff\xff\xff\xff"), TOP32),  # Counter32 without its leading zero byte, as some agents send
    (tlv(0x41, b"\x00\xff\xff\xff\xff"), TOP32),
    (tlv(0x46, b"\xff" * 8), TOP64),  # Counter64 likewise
    (tlv(0x47, b"\x00\x80\x00\x00\x00"), 2**31),  # UInteger32 (RFC 1442)
    # RFC 3417 section 8: the definite long form may use more length octets than needed.
    *(
        (b"\x04" + length + b"hello", b"hello")
        for length in (b"\x81\x05", b"\x82\x00\x05", b"\x84\x00\x00\x00\x05")
    ),
]


@pytest.mark.parametrize(("value", "read"), LENIENT_BUT_READ)
def test_lenient_encodings_are_read(value: bytes, read: Value) -> None:
    decoded = ber.decode_response(message(varbind(SYS_UPTIME, value)))
    assert decoded.varbinds == [((1, 3, 6, 1, 2, 1, 1, 3, 0), read)]


def test_peek_request_id_reads_requests_and_responses_and_nothing_else() -> None:
    assert ber.peek_request_id(message(request_id=2**31 - 1)) == 2**31 - 1
    assert ber.peek_request_id(ber.encode_request(V2C, b"c", ber.GET, 99, [(1, 3)])) == 99
    assert ber.peek_request_id(b"") is None
    assert ber.peek_request_id(b"\x30\x03\x02\x01") is None
    assert ber.peek_request_id(VALID[:20]) is None
