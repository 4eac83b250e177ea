"""The SNMPv1/v2c BER codec against pyasn1/pysnmp: requests, and responses of every value type."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.proto import api
from pysnmp.proto.api import v2c

from fleetwatch_snmp import ber
from fleetwatch_snmp.oids import Oid
from fleetwatch_snmp.session import plain
from fleetwatch_snmp.values import Missing
from tests.snmp.bersupport import (
    TOP32,
    TOP64,
    V1,
    V2C,
    Built,
    oids,
    pysnmp_response,
    responses,
    tlv,
)

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
