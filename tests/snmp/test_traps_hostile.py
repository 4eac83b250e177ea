"""TrapServer under hostile input: garbage datagrams, broken v1 traps, huge varbinds, a failing on_trap."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.traps import MAX_VALUE_BYTES, MAX_VARBINDS
from tests.snmp.traps_harness import BOOM, SYS_NAME, Harness, Senders

pytestmark = pytest.mark.peer("snmptrap")

COMMUNITY = "fw-hostile-community"
V1_COMMUNITY = "fw-hostile-v1"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
ENGINE = "80001f8880a1b2c3d4e5f607"


@pytest.fixture(scope="module")
def senders(tmp_path_factory: pytest.TempPathFactory) -> Senders:
    return Senders(tmp_path_factory.mktemp("net-snmp"))


@pytest.fixture(scope="module")
def harness(senders: Senders) -> Iterator[Harness]:
    site = Credential("site", "2c", community=COMMUNITY)
    old = Credential("old", "1", community=V1_COMMUNITY)
    router = Credential(
        "router", "3", user="fwtrap", auth_protocol="sha", auth_key="fw-auth-key", engine_id=ENGINE
    )
    running = Harness([site, old, router])
    yield running
    running.close()


def recorded(senders: Senders, tag: str, *varbinds: str) -> bytes:
    """The datagram snmptrap sends for a v2c linkDown tagged ``tag`` (its first varbind after the
    standard two), caught on a socket of the test's own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        port = sink.getsockname()[1]
        senders.trap(
            "-v2c", "-c", COMMUNITY, f"127.0.0.1:{port}", "", LINK_DOWN, SYS_NAME, "s", tag, *varbinds
        )
        datagram, _ = sink.recvfrom(65535)
        return datagram


def send(harness: Harness, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, ("127.0.0.1", harness.port))


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw), *raw]) + content


def ber_oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = [first * 40 + second]
    for part in rest:
        chunk = [part & 0x7F]
        while part := part >> 7:
            chunk.insert(0, 0x80 | (part & 0x7F))
        body += chunk
    return tlv(0x06, bytes(body))


def v3_no_auth_trap(user: bytes, engine_id: bytes, tag: str) -> bytes:
    """An SNMPv3 noAuthNoPriv TRAP (linkDown) built by hand: net-snmp refuses to send an empty user."""
    number = tlv(0x02, b"\x01")
    varbinds = tlv(
        0x30,
        tlv(0x30, ber_oid("1.3.6.1.2.1.1.3.0") + tlv(0x43, b"\x01"))
        + tlv(0x30, ber_oid("1.3.6.1.6.3.1.1.4.1.0") + ber_oid(LINK_DOWN))
        + tlv(0x30, ber_oid(SYS_NAME) + tlv(0x04, tag.encode())),
    )
    pdu = tlv(0xA7, number + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + varbinds)
    zero = tlv(0x02, b"\x00")
    usm = tlv(0x30, tlv(0x04, engine_id) + zero + zero + tlv(0x04, user) + tlv(0x04, b"") + tlv(0x04, b""))
    header = tlv(0x30, number + tlv(0x02, b"\x00\xff\xe3") + tlv(0x04, b"\x00") + tlv(0x02, b"\x03"))
    scoped = tlv(0x30, tlv(0x04, engine_id) + tlv(0x04, b"") + pdu)
    return tlv(0x30, tlv(0x02, b"\x03") + header + tlv(0x04, usm) + scoped)


def changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in after if after[key] != before[key]}


def test_garbage_datagrams_are_counted_as_malformed_and_the_server_goes_on(
    harness: Harness, senders: Senders
) -> None:
    valid = recorded(senders, "after-garbage", f"{IF_INDEX}.7", "i", "7")
    garbage = [
        b"",
        b"\x00" * 10,
        b"garbage" * 100,
        b"\x30\x03\x02\x01\x05",  # a message of SNMP version 6
        b"\x30\x82\xff\xff\x02\x01\x01",  # a length far beyond the datagram
        b"\x30" * 4000,  # deep nesting
        valid[: len(valid) // 2],  # cut short
        random.Random(1).randbytes(1400),
        bytes([0x30, 0x80]) + b"\x04\x00" * 30000,  # indefinite length, never ended
    ]
    before = harness.rejected()
    send(harness, *garbage, valid)
    event = harness.wait_event("after-garbage")
    assert (event.kind, event.if_index) == ("link_down", 7)
    assert changes(before, harness.rejected()) == {"malformed": len(garbage)}


def test_a_v1_trap_with_an_impossible_generic_trap_is_malformed(harness: Harness, senders: Senders) -> None:
    before = harness.rejected()
    v1_header = ("1.3.6.1.4.1.8072", "127.0.0.1", "99", "0", "")  # generic-trap 99: none such
    senders.trap(
        "-v1", "-c", V1_COMMUNITY, f"127.0.0.1:{harness.port}", *v1_header, SYS_NAME, "s", "v1-generic-99"
    )
    send(harness, recorded(senders, "after-v1-99"))
    harness.wait_event("after-v1-99")
    assert changes(before, harness.rejected()) == {"malformed": 1}
    assert harness.events("v1-generic-99") == []


def test_oversized_and_control_character_varbinds_are_bounded(harness: Harness, senders: Senders) -> None:
    hostile = "\x1b[2J\x1b]0;owned\x07 line\nbreak \u202eevil\u2028 " + "x" * 900
    varbinds = [f"{IF_INDEX}.9", "i", "9", "1.3.6.1.2.1.2.2.1.2.9", "s", "\x1b[31mGi0/9\r\n"]
    for n in range(40):
        varbinds += [f"1.3.6.1.4.1.8072.9.{n}", "s", hostile]
    send(harness, recorded(senders, "hostile-varbinds", *varbinds))
    event = harness.wait_event("hostile-varbinds")
    assert (event.kind, event.if_index, event.if_name) == ("link_down", 9, "[31mGi0/9")
    assert len(event.varbinds) == MAX_VARBINDS
    for oid, text in event.varbinds:
        assert len(text.encode()) <= MAX_VALUE_BYTES
        assert not {"\x1b", "\x07", "\n", "\r", "\u202e", "\u2028"} & set(oid + text)
    readable = ("[2J]0;owned linebreak evil " + "x" * 900)[:MAX_VALUE_BYTES]
    assert ("1.3.6.1.4.1.8072.9.0", readable) in event.varbinds


def test_an_on_trap_that_raises_does_not_stop_the_server(harness: Harness, senders: Senders) -> None:
    before = harness.rejected()
    send(harness, recorded(senders, BOOM))
    harness.wait_event(BOOM)
    send(harness, recorded(senders, "after-boom"))
    harness.wait_event("after-boom")
    assert harness.rejected() == before


def test_a_trap_reaches_on_trap_within_one_second(harness: Harness, senders: Senders) -> None:
    """The collector shows a linkDown in /metrics within 1 s of the trap: the receiver's share is far less."""
    datagram = recorded(senders, "in-time", f"{IF_INDEX}.12", "i", "12")
    sent = time.monotonic()
    send(harness, datagram)
    event = harness.wait_event("in-time")
    assert time.monotonic() - sent < 1.0
    assert (event.kind, event.if_index) == ("link_down", 12)


def test_unauthenticated_v3_traps_are_refused(harness: Harness, senders: Senders) -> None:
    """pysnmp alone would accept a noAuthNoPriv TRAP with an empty user name (from any engine id) and
    one naming an authenticated user with its engine id: both travel in clear text in every trap."""
    before = harness.rejected()
    engine_id = bytes.fromhex(ENGINE)
    send(
        harness,
        v3_no_auth_trap(b"", engine_id, "empty-user"),
        v3_no_auth_trap(b"", bytes.fromhex("80001f8880ffffffffffff"), "empty-user-other-engine"),
        v3_no_auth_trap(b"fwtrap", engine_id, "no-auth"),
        v3_no_auth_trap(b"fwtrap", engine_id, "no-auth"),
    )
    send(harness, recorded(senders, "after-no-auth"))
    harness.wait_event("after-no-auth")
    assert changes(before, harness.rejected()) == {"unknown_user": 2, "unsupported_security_level": 2}
    for tag in ("empty-user", "empty-user-other-engine", "no-auth"):
        assert harness.events(tag) == []
