"""The Windows antivirus parsing on hand-made PowerShell recordings (fixtures/windows/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.model import ProductStatus
from tests.agent.probes.antivirus.windows_support import (
    DAY,
    NOW,
    OUTDATED_AFTER,
    SIGNATURES_MS,
    fixture,
    security_center_status,
)

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
    assert wp.parse_defender_status(empty) is None
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
    old = wp.parse_defender_status(fixture("defender_status.ps51.json"))
    new = wp.parse_defender_status(fixture("defender_status.ps7.json"))
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


# --- Defender status -------------------------------------------------------------------------------------


def defender(name: str, *, now: float = NOW, registered: int | None = None) -> ProductStatus:
    status = wp.parse_defender_status(fixture(name))
    assert status is not None
    entry = None
    if registered is not None:
        entry = wp.SecurityCenterProduct(
            "Windows Defender", wp.DEFENDER_GUID, "windowsdefender://", wp.decode_product_state(registered)
        )
    return wp.defender_status(status, entry, now=now, outdated_after_seconds=OUTDATED_AFTER)


def test_defender_status_fields() -> None:
    product = defender("defender_status.ps51.json")
    assert product.state == "protected"
    assert product.realtime_protection and product.on_access_scanning
    assert (product.product_version, product.engine_version, product.signature_version) == (
        "4.18.23100.2009",
        "1.1.23100.2009",
        "1.401.1166.0",
    )
    assert product.signature_updated_unix == SIGNATURES_MS // 1000
    assert product.last_quick_scan_unix == 1_699_920_000
    assert product.last_full_scan_unix == 0  # FullScanAge 4294967295, no end time
    assert not product.centrally_managed


def test_defender_signatures_older_than_the_limit_are_outdated() -> None:
    assert defender("defender_status.ps7.json", now=NOW + 2 * DAY).state == "protected"
    assert defender("defender_status.ps7.json", now=SIGNATURES_MS / 1000 + 3 * DAY + 1).state == "outdated"


def test_security_center_out_of_date_flag_makes_fresh_defender_outdated() -> None:
    assert defender("defender_status.ps51.json", registered=397584).state == "outdated"


def test_never_scanned_and_signature_age_without_a_date() -> None:
    product = defender("defender_status_never_scanned.ps51.json")
    assert product.last_quick_scan_unix == 0 and product.last_full_scan_unix == 0
    assert product.signature_updated_unix == int(NOW) - 2 * DAY  # from AntivirusSignatureAge
    assert product.state == "protected"
    assert "AntivirusSignatureAge" in product.detail
    old = json.loads(fixture("defender_status_never_scanned.ps51.json")) | {"AntivirusSignatureAge": 5}
    status = wp.parse_defender_status(json.dumps(old))
    assert status is not None
    assert (
        wp.defender_status(status, None, now=NOW, outdated_after_seconds=OUTDATED_AFTER).state == "outdated"
    )


def test_defender_realtime_needs_all_three_flags() -> None:
    product = defender("defender_status_realtime_off.ps51.json")
    assert product.state == "disabled" and not product.realtime_protection
    assert "RealTimeProtectionEnabled false" in product.detail
    assert product.last_full_scan_unix == 1_698_969_600


def test_defender_missing_flag_is_unknown_not_protected() -> None:
    data = json.loads(fixture("defender_status.ps51.json")) | {"AntivirusEnabled": None}
    status = wp.parse_defender_status(json.dumps(data))
    assert status is not None
    product = wp.defender_status(status, None, now=NOW, outdated_after_seconds=OUTDATED_AFTER)
    assert product.state == "unknown" and not product.realtime_protection


def test_passive_mode_or_security_center_off_is_disabled() -> None:
    data = json.loads(fixture("defender_status.ps51.json")) | {"AMRunningMode": "Passive Mode"}
    status = wp.parse_defender_status(json.dumps(data))
    assert status is not None
    assert (
        wp.defender_status(status, None, now=NOW, outdated_after_seconds=OUTDATED_AFTER).state == "disabled"
    )
    assert defender("defender_status.ps51.json", registered=393472).state == "disabled"
    assert defender("defender_status.ps51.json", registered=401664).state == "disabled"  # snoozed
