"""Defender's record from Get-MpComputerStatus recordings: flags, running modes, signature dates."""

from __future__ import annotations

import json

import pytest

from fleetwatch_agent.probes.antivirus.model import FUTURE_TOLERANCE_SECONDS
from fleetwatch_agent.probes.antivirus.windows_defender import parse_defender_status
from tests.agent.probes.antivirus.windows_support import (
    DAY,
    NOW,
    SIGNATURES_MS,
    defender,
    fixture,
    recorded,
)


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
    assert product.signature_clock_skew_seconds == 0
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
    assert defender(json.dumps(old)).state == "outdated"


def test_defender_realtime_needs_all_three_flags() -> None:
    product = defender("defender_status_realtime_off.ps51.json")
    assert product.state == "disabled" and not product.realtime_protection
    assert "RealTimeProtectionEnabled false" in product.detail
    assert product.last_full_scan_unix == 1_698_969_600


def test_defender_missing_flag_is_unknown_not_protected() -> None:
    data = json.loads(fixture("defender_status.ps51.json")) | {"AntivirusEnabled": None}
    product = defender(json.dumps(data))
    assert product.state == "unknown" and not product.realtime_protection


# --- Running modes: only "Normal" protects -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("defender_status_passive.ps51.json", "Passive Mode"),
        ("defender_status_sxs_passive.ps51.json", "SxS Passive Mode"),
        ("defender_status_edr_block.ps51.json", "EDR Block Mode"),
        ("defender_status_not_running.ps51.json", "Not running"),
    ],
)
def test_any_running_mode_but_normal_is_not_protecting(name: str, mode: str) -> None:
    status = parse_defender_status(fixture(name))
    assert status is not None and status.running_mode == mode
    assert status.realtime_enabled is True  # the flag alone would say "protecting": the trap
    product = defender(name)
    assert product.state == "disabled"
    assert not product.realtime_protection and not product.on_access_scanning
    assert f"running mode {mode!r}: not normal active protection" in product.detail


@pytest.mark.parametrize("mode", ["Normal", "normal", " Normal "])
def test_normal_mode_protects(mode: str) -> None:
    data = json.loads(fixture("defender_status.ps51.json")) | {"AMRunningMode": mode}
    assert defender(json.dumps(data)).state == "protected"


def test_without_a_running_mode_the_flags_decide_and_the_detail_says_so() -> None:
    """Defender platforms before AMRunningMode existed report none (Select-Object gives null)."""
    product = defender("defender_status_no_running_mode.ps51.json")
    assert product.state == "protected"
    assert "running mode not reported" in product.detail


def test_security_center_off_or_snoozed_is_disabled_whatever_the_mode() -> None:
    assert defender("defender_status.ps51.json", registered=393472).state == "disabled"
    assert defender("defender_status.ps51.json", registered=401664).state == "disabled"  # snoozed


def test_a_client_with_defender_in_passive_mode_is_not_protected() -> None:
    result = recorded("script_kaspersky_removed_defender_passive.ps51.json")
    assert result.host_state != "protected"


# --- Signatures dated after the host's clock -------------------------------------------------------------


def test_signatures_in_the_future_of_the_clock_are_unknown_with_the_skew() -> None:
    product = defender("defender_status_future.ps51.json")
    assert product.state == "unknown"
    skew = 1_734_567_890 - int(NOW)
    assert product.signature_clock_skew_seconds == skew
    assert product.signature_updated_unix == 0  # no age from a date the clock has not reached
    assert product.signature_version == "1.419.163.0"
    assert "after the host's clock" in product.detail
    assert "clock is behind or the signature database carries a wrong date" in product.detail
    assert str(1_734_567_890) in product.detail
    # The same signatures on a host whose clock is right (400 days later) are simply fresh.
    assert defender("defender_status_future.ps51.json", now=1_734_567_890 + 3600).state == "protected"


def test_signatures_slightly_ahead_within_the_tolerance_are_fresh() -> None:
    product = defender("defender_status_slightly_ahead.ps7.json")  # 30 minutes ahead of NOW
    assert product.signature_updated_unix == int(NOW) + 1800
    assert (product.state, product.signature_clock_skew_seconds) == ("protected", 0)
    ahead = defender("defender_status_slightly_ahead.ps7.json", now=NOW + 1800 - FUTURE_TOLERANCE_SECONDS - 1)
    assert ahead.state == "unknown" and ahead.signature_clock_skew_seconds == FUTURE_TOLERANCE_SECONDS + 1


# --- Signatures never updated ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "defender_status_never_updated.ps51.json",  # AntivirusSignatureAge 65535, no date
        "defender_status_never_updated_1601.ps7.json",  # FILETIME 0 (1601-01-01), version 0.0.0.0
        "defender_status_never_updated_zero.ps51.json",  # /Date(0)/
    ],
)
def test_signatures_never_updated_are_outdated_not_unknown(name: str) -> None:
    product = defender(name)
    assert product.state == "outdated"
    assert product.signature_updated_unix == 0
    assert "signatures never updated" in product.detail


def test_an_unknown_signature_date_is_unknown_not_outdated() -> None:
    """No date and no age: nothing says "never", so it stays unknown (never protected)."""
    product = defender("defender_status_signature_date_unknown.ps51.json")
    assert product.state == "unknown"
    assert "signature date unknown" in product.detail


def test_never_updated_but_off_is_disabled() -> None:
    data = json.loads(fixture("defender_status_never_updated.ps51.json")) | {
        "RealTimeProtectionEnabled": False
    }
    assert defender(json.dumps(data)).state == "disabled"
