"""The Windows antivirus parsing on hand-made PowerShell recordings (fixtures/windows/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.windows_defender import parse_defender_status
from tests.agent.probes.antivirus.windows_support import SIGNATURES_MS, fixture, security_center_status

# --- JSON shapes and dates ---------------------------------------------------------------------------


def test_one_product_is_an_object_several_are_a_list() -> None:
    one = wp.parse_security_center(fixture("security_center_defender_on.ps51.json"))
    two = wp.parse_security_center(fixture("security_center_defender_off_kaspersky_on.ps51.json"))
    assert [(p.name, p.state.raw) for p in one] == [("Windows Defender", 397568)]
    assert [(p.name, p.state.raw, p.is_defender) for p in two] == [
        ("Windows Defender", 393472, True),
        ("Kaspersky Endpoint Security for Windows", 266240, False),
    ]


def test_powershell_51_array_wrapper_is_a_list() -> None:
    wrapped = json.dumps({"value": [{"displayName": "A", "productState": 266240}] * 2, "Count": 2})
    assert len(wp.parse_security_center(wrapped)) == 2


@pytest.mark.parametrize("empty", ["", "  \r\n", None])
def test_empty_output_is_no_product(empty: str | None) -> None:
    assert wp.parse_security_center(empty) == ()
    assert parse_defender_status(empty) is None
    assert wd.parse_detections(empty) == ()


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [
        ("/Date(1700000000000)/", 1_700_000_000_000),  # 5.1 (the JSON text is "\/Date(...)\/")
        ("/Date(1700000000000+0100)/", 1_700_000_000_000),  # offset is informational
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),  # 7, UTC
        ("2023-11-14T23:13:20.1234567+01:00", 1_700_000_000_123),  # 7, local kind, 7 digits
        ("2023-11-14T22:13:20", 1_700_000_000_000),  # no offset: taken as UTC
        ({"value": "/Date(1700000000000)/", "DisplayHint": 2, "DateTime": "..."}, 1_700_000_000_000),
        (None, None),
        ("", None),
        ("/Date(-62135596800000)/", None),  # DateTime.MinValue: never
        ("0001-01-01T00:00:00", None),
        ("last tuesday", None),
        (1700000000000, None),  # a bare number is no PowerShell date
    ],
)
def test_dates_of_both_powershells(value: object, expected_ms: int | None) -> None:
    assert wp.date_ms(value) == expected_ms


def test_both_date_formats_give_the_same_defender_status() -> None:
    old = parse_defender_status(fixture("defender_status.ps51.json"))
    new = parse_defender_status(fixture("defender_status.ps7.json"))
    assert old is not None and new is not None
    assert old.signature_updated_ms == SIGNATURES_MS
    assert new.signature_updated_ms == SIGNATURES_MS + 123
    assert old.quick_scan_end_ms == new.quick_scan_end_ms == 1_699_920_000_000
    assert old.full_scan_age_days is None  # 4294967295: never
    assert replace(old, signature_updated_ms=0) == replace(new, signature_updated_ms=0)


# --- Security Center productState ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "scanner", "out_of_date", "microsoft", "state"),
    [
        (397568, "on", False, True, "protected"),  # Defender on, up to date
        (393472, "off", False, True, "disabled"),  # Defender off
        (397584, "on", True, True, "outdated"),  # Defender on, out of date
        (266240, "on", False, False, "protected"),  # third-party on, up to date
        (262144, "off", False, False, "disabled"),  # third-party off
        (266256, "on", True, False, "outdated"),  # third-party on, out of date
        (401664, "snoozed", False, True, "disabled"),  # 0x62100: snoozed counts as off
        (274432, "expired", False, False, "expired"),  # 0x43000
    ],
)
def test_known_product_states(
    value: int, scanner: str, out_of_date: bool, microsoft: bool, state: str
) -> None:
    decoded = wp.decode_product_state(value)
    assert (decoded.scanner, decoded.definitions_out_of_date, decoded.microsoft) == (
        scanner,
        out_of_date,
        microsoft,
    )
    assert decoded.understood
    status = security_center_status(value)
    assert status.state == state
    assert status.realtime_protection is (scanner == "on")
    assert status.signature_updated_unix == 0  # Security Center has no signature date
    assert status.product_version == ""


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (397569, "unknown bits 0x1"),  # 0x61101: a low bit nobody decodes
        (282624, "unknown state 5"),  # 0x45000: state nibble 5
        (17043456, "unknown bits 0x1000000"),  # 0x1041000: beyond the top byte
        (0x41000 | 0x0200, "unknown bits 0x200"),  # on, up to date, plus an unknown bit
        (-1, "not a number"),
        ("on", "not a number"),
        (None, "not a number"),
    ],
)
def test_unknown_product_state_is_never_protected(value: object, named: str) -> None:
    status = security_center_status(value)
    assert status.state == "unknown"
    assert not status.realtime_protection
    assert named in status.detail
    if isinstance(value, int) and value >= 0:
        assert str(value) in status.detail


@pytest.mark.parametrize(
    ("value", "never"),
    [
        ("/Date(0)/", True),
        ("/Date(-11644473600000)/", True),  # FILETIME 0: 1601-01-01
        ("1601-01-01T07:00:00+07:00", True),
        ("/Date(-62135596800000)/", True),  # DateTime.MinValue
        ("0001-01-01T00:00:00", True),
        ("/Date(1700000000000)/", False),
        (None, False),  # absent is unknown, not never
        ("", False),
        ("last tuesday", False),
    ],
)
def test_dates_that_mean_never(value: object, never: bool) -> None:
    assert wp.never_date(value) is never
    assert wp.date_ms(value) is None or not never


@pytest.mark.parametrize(("value", "never"), [(65535, True), (4294967295, True), (2, False), (None, False)])
def test_ages_that_mean_never(value: object, never: bool) -> None:
    assert wp.never_age(value) is never


@pytest.mark.parametrize(
    ("value", "unix"),
    [
        ("Tue, 14 Nov 2023 22:10:05 GMT", 1_699_999_805),
        ("Mon, 04 Sep 2023 02:15:09 GMT", 1_693_793_709),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_security_center_timestamps(value: object, unix: int | None) -> None:
    assert wp.rfc1123_unix(value) == unix
