"""What the BER codec tests share: hypothesis strategies of messages built by pysnmp, hand-made BER."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from hypothesis import strategies as st
from pyasn1.codec.ber import encoder
from pysnmp.proto import api
from pysnmp.proto.api import v1, v2c

from fleetwatch_snmp import ber
from fleetwatch_snmp.oids import Oid

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
