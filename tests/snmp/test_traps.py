"""traps.py: classification, ifIndex and name from each varbind style, bounds on hostile text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetwatch_snmp.traps import (
    MAX_VALUE_BYTES,
    MAX_VARBINDS,
    SNMP_TRAP_ADDRESS,
    SNMP_TRAP_COMMUNITY,
    SNMP_TRAP_ENTERPRISE,
    SNMP_TRAP_OID,
    SYS_UP_TIME,
    TrapEvent,
    TrapRejection,
    VarbindValue,
    classify,
    to_event,
    value_text,
)

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"


def event(*varbinds: tuple[str, VarbindValue], trap_oid: str | None = LINK_DOWN) -> TrapEvent:
    head: list[tuple[str, VarbindValue]] = [(SYS_UP_TIME, 12345)]
    if trap_oid is not None:
        head.append((SNMP_TRAP_OID, trap_oid))
    result = to_event([*head, *varbinds], sender="192.0.2.1", version="2c", inform=False, received_unix=1.5)
    assert isinstance(result, TrapEvent), result
    return result


@pytest.mark.parametrize(
    ("trap_oid", "kind"),
    [
        ("1.3.6.1.6.3.1.1.5.1", "cold_start"),
        ("1.3.6.1.6.3.1.1.5.2", "warm_start"),
        ("1.3.6.1.6.3.1.1.5.3", "link_down"),
        ("1.3.6.1.6.3.1.1.5.4", "link_up"),
        ("1.3.6.1.6.3.1.1.5.5", "authentication_failure"),
        # a v1 trap with enterprise snmpTraps and specific-trap N, translated (RFC 3584 3.1)
        ("1.3.6.1.6.3.1.1.5.0.3", "link_down"),
        ("1.3.6.1.6.3.1.1.5.6", "other"),  # egpNeighborLoss
        ("1.3.6.1.6.3.1.1.5.30", "other"),
        ("1.3.6.1.6.3.1.1.5.3.1", "other"),
        ("1.3.6.1.6.3.1.1.5", "other"),
        ("1.3.6.1.6.3.1.1.53", "other"),
        ("1.3.6.1.4.1.9.9.41.2.0.1", "other"),  # an enterprise notification (Cisco clogMessageGenerated)
        ("1.3.6.1.4.1.8072.0.3", "other"),  # v1 enterprise-specific, translated
    ],
)
def test_classification_by_snmp_trap_oid(trap_oid: str, kind: str) -> None:
    assert classify(trap_oid) == kind
    result = event(trap_oid=trap_oid)
    assert (result.kind, result.trap_oid) == (kind, trap_oid)


def test_v2_link_down_with_interface() -> None:
    result = event(
        (f"{IF_INDEX}.3", 3), (f"{IF_ADMIN}.3", 1), (f"{IF_OPER}.3", 2), (f"{IF_DESCR}.3", b"Gi0/2")
    )
    assert (result.kind, result.if_index, result.if_name) == ("link_down", 3, "Gi0/2")
    assert (result.sender, result.version, result.inform, result.received_unix) == (
        "192.0.2.1",
        "2c",
        False,
        1.5,
    )
    assert result.varbinds[:2] == ((SYS_UP_TIME, "12345"), (SNMP_TRAP_OID, LINK_DOWN))
    assert result.varbinds[-1] == (f"{IF_DESCR}.3", "Gi0/2")


def test_v1_translated_link_down_drops_the_community() -> None:
    """What a v1 generic-trap 2 becomes: snmpTrapOID linkDown plus snmpTrapAddress, snmpTrapCommunity
    and snmpTrapEnterprise; the community is a secret and is not kept."""
    result = event(
        (SNMP_TRAP_ADDRESS, "192.0.2.7"),
        (SNMP_TRAP_COMMUNITY, b"s3cret-community"),
        (SNMP_TRAP_ENTERPRISE, "1.3.6.1.4.1.8072"),
        (f"{IF_INDEX}.7", 7),
    )
    assert (result.kind, result.if_index) == ("link_down", 7)
    assert (SNMP_TRAP_ADDRESS, "192.0.2.7") in result.varbinds
    assert (SNMP_TRAP_ENTERPRISE, "1.3.6.1.4.1.8072") in result.varbinds
    assert all(oid != SNMP_TRAP_COMMUNITY for oid, _ in result.varbinds)
    assert not any("s3cret" in text for _, text in result.varbinds)


def test_v1_enterprise_specific_is_other() -> None:
    result = event(
        (SNMP_TRAP_ENTERPRISE, "1.3.6.1.4.1.9"), (f"{IF_INDEX}.2", 2), trap_oid="1.3.6.1.4.1.9.0.1"
    )
    assert (result.kind, result.if_index) == ("other", 2)


@pytest.mark.parametrize(
    ("varbinds", "if_index"),
    [
        ([(f"{IF_INDEX}.5", 5)], 5),
        ([(f"{IF_INDEX}.5", 0)], 5),  # an invalid value: the index of the varbind
        ([(f"{IF_INDEX}.5", b"junk")], 5),
        ([(f"{IF_ADMIN}.6", 2)], 6),
        ([(f"{IF_OPER}.8", 2)], 8),
        ([(f"{IF_DESCR}.9", b"eth9")], 9),
        ([(f"{IF_NAME}.10", b"Gi0/10")], 10),
        ([(f"{IF_OPER}.8", 2), (f"{IF_INDEX}.4", 4)], 4),  # the ifIndex varbind wins
        ([(f"{IF_OPER}.2147483647", 2)], 2147483647),
        ([(f"{IF_OPER}.2147483648", 2)], None),  # beyond InterfaceIndex
        ([(f"{IF_OPER}.0", 2)], None),
        ([(f"{IF_OPER}.3.1", 2)], None),  # not a single-number index
        ([(f"{IF_OPER}.", 2)], None),
        ([(f"{IF_OPER}.٣", 2)], None),  # a non-ASCII digit
        ([("1.3.6.1.2.1.2.2.1.10.3", 5)], None),  # ifInOctets: not an interface identity column
        ([], None),
    ],
)
def test_if_index_from_each_varbind_style(
    varbinds: list[tuple[str, VarbindValue]], if_index: int | None
) -> None:
    assert event(*varbinds).if_index == if_index


def test_if_name_prefers_if_name_and_matches_the_index() -> None:
    both = event((f"{IF_INDEX}.3", 3), (f"{IF_DESCR}.3", b"GigabitEthernet0/2"), (f"{IF_NAME}.3", b"Gi0/2"))
    assert both.if_name == "Gi0/2"
    other_interface = event((f"{IF_INDEX}.3", 3), (f"{IF_DESCR}.4", b"Gi0/3"))
    assert (other_interface.if_index, other_interface.if_name) == (3, None)
    padded = event((f"{IF_DESCR}.3", b"eth0\x00\x00"))
    assert (padded.if_index, padded.if_name) == (3, "eth0")
    hostile = event((f"{IF_NAME}.3", b"\x1b[31mGi0/2\n\x00" + b"x" * 1000))
    assert hostile.if_name is not None and hostile.if_name.startswith("[31mGi0/2")
    assert len(hostile.if_name.encode()) <= MAX_VALUE_BYTES
    assert event((f"{IF_NAME}.3", b"")).if_name is None


@pytest.mark.parametrize(
    "varbinds",
    [
        [],
        [(SYS_UP_TIME, 1)],
        [(SNMP_TRAP_OID, 5)],  # not an OID
        [(SNMP_TRAP_OID, b"1.3.6.1.6.3.1.1.5.3")],
        [(SNMP_TRAP_OID, "link down")],
        [(SNMP_TRAP_OID, "1")],
        [(SNMP_TRAP_OID, "1." * 200 + "1")],
        [(SNMP_TRAP_OID, None)],
        [(SNMP_TRAP_OID + ".1", LINK_DOWN)],
    ],
)
def test_without_a_valid_trap_oid_is_rejected(varbinds: list[tuple[str, VarbindValue]]) -> None:
    result = to_event(varbinds, sender="192.0.2.1", version="1", inform=False, received_unix=0.0)
    assert result == TrapRejection("no_trap_oid")


def test_bounds_on_varbinds_and_values() -> None:
    many = event(*[(f"1.3.6.1.4.1.9999.{n}", b"v" * 10_000) for n in range(500)])
    assert len(many.varbinds) == MAX_VARBINDS
    assert all(len(text.encode()) <= MAX_VALUE_BYTES for _, text in many.varbinds)
    assert many.varbinds[-1][1] == "v" * MAX_VALUE_BYTES


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (-7, "-7"),
        (2**64 - 1, "18446744073709551615"),
        ("1.3.6.1.4.1.8072", "1.3.6.1.4.1.8072"),
        (b"Gi0/2", "Gi0/2"),
        (b"up\r\nsince\t3 days\x00\x00", "upsince3 days"),
        ("\x1b]0;owned\x07title", "]0;ownedtitle"),
        ("admin\u202egpj.exe\u2028x\u200b", "admingpj.exex"),
        (b"\x00\x1b\x3c\x4d\x5e\x6f", "0x001b3c4d5e6f"),  # a MAC address
        (b"\xff\xfe", "0xfffe"),
        ("đường truyền", "đường truyền"),
        (b"\xc4\x91" * 200, "đ" * (MAX_VALUE_BYTES // 2)),  # cut on a character boundary
        ("€" * 100, "€" * (MAX_VALUE_BYTES // 3)),
    ],
)
def test_value_text(value: VarbindValue, text: str) -> None:
    assert value_text(value) == text


def test_binary_values_stay_bounded() -> None:
    text = value_text(bytes(range(256)) * 100)
    assert text.startswith("0x000102") and len(text) <= MAX_VALUE_BYTES


OIDS = st.one_of(
    st.sampled_from([SNMP_TRAP_OID, SYS_UP_TIME, SNMP_TRAP_COMMUNITY, f"{IF_INDEX}.3", f"{IF_DESCR}.3"]),
    st.builds(
        lambda column, index: f"{column}.{index}",
        st.sampled_from([IF_INDEX, IF_ADMIN, IF_OPER, IF_DESCR, IF_NAME]),
        st.integers(-5, 2**40),
    ),
    st.text(max_size=60),
)
VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=400),
    st.binary(max_size=600),
    st.sampled_from([LINK_DOWN, "1.3.6.1.6.3.1.1.5.0.1", "1.3.6.1.6.3.1.1.5.99", "1..2", ""]),
)
UNSAFE = {chr(c) for c in [*range(32), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x202E, 0x200B, 0xFEFF]}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(OIDS, VALUES), max_size=80))
def test_any_varbinds_give_an_event_or_a_rejection(varbinds: list[tuple[str, VarbindValue]]) -> None:
    result = to_event(varbinds, sender="192.0.2.1", version="2c", inform=True, received_unix=2.0)
    if isinstance(result, TrapRejection):
        assert result.reason == "no_trap_oid"
        return
    assert result.kind in {
        "link_down",
        "link_up",
        "cold_start",
        "warm_start",
        "authentication_failure",
        "other",
    }
    assert len(result.varbinds) <= MAX_VARBINDS
    for oid, text in result.varbinds:
        assert oid != SNMP_TRAP_COMMUNITY
        for piece in (oid, text):
            assert len(piece.encode("utf-8")) <= MAX_VALUE_BYTES
            assert not UNSAFE & set(piece), piece
    assert result.if_index is None or 1 <= result.if_index <= 2**31 - 1
    if result.if_name is not None:
        assert result.if_name and len(result.if_name.encode()) <= MAX_VALUE_BYTES
        assert not UNSAFE & set(result.if_name)
