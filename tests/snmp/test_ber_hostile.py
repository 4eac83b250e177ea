"""The SNMPv1/v2c BER codec against hostile bytes: truncations, corruptions, malformed cases."""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from fleetwatch_snmp import ber
from fleetwatch_snmp.session import plain
from fleetwatch_snmp.values import Value
from tests.snmp.bersupport import (
    SYS_UPTIME,
    TOP32,
    TOP64,
    V2C,
    Built,
    integer,
    message,
    responses,
    tlv,
    varbind,
)

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


@settings(max_examples=300, deadline=None)
@given(response=responses(), where=st.floats(0, 1, exclude_max=True), byte=st.integers(0, 255))
def test_a_corrupted_byte_is_refused_or_decoded(response: Built, where: float, byte: int) -> None:
    corrupted = bytearray(response.data)
    corrupted[int(where * len(corrupted))] = byte
    data = bytes(corrupted)
    decoded = decodes_or_refuses(data)
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
