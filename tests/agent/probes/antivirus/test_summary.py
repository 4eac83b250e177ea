"""The readable antivirus lines `fleetwatch-agent check` prints for a technician."""

from __future__ import annotations

import dataclasses
from typing import Any

from fleetwatch_agent.probes.antivirus.model import AntivirusResult, Detection, ProductStatus
from fleetwatch_agent.probes.antivirus.summary import lines as antivirus_lines

NOW = 1_795_805_400.0
DAY = 86400


CLAMAV = ProductStatus(
    name="ClamAV",
    vendor="Cisco Talos",
    product_version="1.4.6",
    signature_version="27100",
    signature_updated_unix=int(NOW - 2 * 3600),
    realtime_protection=True,
    state="protected",
    detail="clamd answers on /run/clamav/clamd.ctl; on-access scanning off",
)


def clamav(**changes: Any) -> ProductStatus:
    return dataclasses.replace(CLAMAV, **changes)


def test_protected_clamav() -> None:
    result = AntivirusResult(products=(clamav(),), host_state="protected")
    assert antivirus_lines(result, NOW) == [
        "antivirus: PROTECTED",
        "  - ClamAV 1.4.6: PROTECTED, signatures 27100, 2 h old, real-time protection on"
        "\n      (clamd answers on /run/clamav/clamd.ctl; on-access scanning off)",
    ]


def test_disabled_says_real_time_protection_off_in_capitals() -> None:
    product = clamav(realtime_protection=False, state="disabled", detail="")
    lines = antivirus_lines(AntivirusResult(products=(product,), host_state="disabled"), NOW)
    assert lines == [
        "antivirus: DISABLED",
        "  - ClamAV 1.4.6: DISABLED, signatures 27100, 2 h old, real-time protection OFF",
    ]


def test_signature_ages_in_minutes_hours_and_days() -> None:
    def age_part(seconds: float) -> str:
        product = clamav(signature_updated_unix=int(NOW - seconds), detail="")
        return antivirus_lines(AntivirusResult((product,), "protected"), NOW)[1].split(", ")[2]

    assert age_part(25 * 60) == "25 min old"
    assert age_part(5 * 3600) == "5 h old"
    assert age_part(47 * 3600) == "47 h old"
    assert age_part(30 * DAY) == "30 days old"


def test_unknown_signature_time_and_version() -> None:
    product = clamav(signature_updated_unix=0, state="unknown", detail="")
    assert "signatures 27100, real-time" in antivirus_lines(AntivirusResult((product,), "unknown"), NOW)[1]
    product = clamav(signature_version="", signature_updated_unix=0, product_version="", state="unknown")
    line = antivirus_lines(AntivirusResult((product,), "unknown"), NOW)[1]
    assert line.startswith("  - ClamAV: UNKNOWN, real-time protection on")
    assert "signatures" not in line
    product = clamav(signature_version="", detail="")
    assert "signatures ?, 2 h old" in antivirus_lines(AntivirusResult((product,), "protected"), NOW)[1]


def test_no_database_detail_is_shown() -> None:
    product = clamav(
        product_version="",
        signature_version="",
        signature_updated_unix=0,
        realtime_protection=False,
        state="unknown",
        detail="no virus database in /var/lib/clamav; clamd does not answer on /run/clamav/clamd.ctl",
    )
    lines = antivirus_lines(AntivirusResult((product,), "unknown"), NOW)
    assert lines[0] == "antivirus: UNKNOWN"
    assert lines[1].endswith(
        "(no virus database in /var/lib/clamav; clamd does not answer on /run/clamav/clamd.ctl)"
    )


def test_nothing_installed() -> None:
    assert antivirus_lines(AntivirusResult((), "not_installed"), NOW) == [
        "antivirus: NOT INSTALLED",
        "  - no antivirus product found",
    ]


def test_scans_error_and_detections() -> None:
    defender = ProductStatus(
        name="Microsoft Defender Antivirus",
        product_version="4.18.24090.11",
        signature_version="1.421.1187.0",
        signature_updated_unix=int(NOW - 4 * DAY),
        realtime_protection=True,
        last_quick_scan_unix=int(NOW - 3 * 3600),
        last_full_scan_unix=int(NOW - 12 * DAY),
        state="outdated",
    )
    result = AntivirusResult(
        products=(defender, clamav(state="disabled", realtime_protection=False, detail="")),
        host_state="outdated",
        detections=(
            Detection(int(NOW * 1000), "ClamAV", "Eicar-Test-Sig.UNOFFICIAL", "/tmp/eicar.com", "detected"),
        ),
        error="Get-MpThreatDetection: access denied",
    )
    assert antivirus_lines(result, NOW) == [
        "antivirus: OUTDATED",
        "  - Microsoft Defender Antivirus 4.18.24090.11: OUTDATED, signatures 1.421.1187.0, 4 days old, "
        "real-time protection on, last quick scan 3 h ago, last full scan 12 days ago",
        "  - ClamAV 1.4.6: DISABLED, signatures 27100, 2 h old, real-time protection OFF",
        "  ! Get-MpThreatDetection: access denied",
        "  ! ClamAV detected Eicar-Test-Sig.UNOFFICIAL in /tmp/eicar.com (detected)",
    ]


def test_signatures_dated_after_the_clock_and_a_stale_registration() -> None:
    future = clamav(
        state="unknown", signature_updated_unix=0, signature_clock_skew_seconds=30 * DAY, detail=""
    )
    stale = ProductStatus(
        name="Kaspersky Endpoint Security for Windows", state="stale", detail="stale registration"
    )
    lines = antivirus_lines(AntivirusResult(products=(future, stale), host_state="unknown"), NOW)
    assert lines[1] == (
        "  - ClamAV 1.4.6: UNKNOWN, signatures 27100, signatures dated 30 days AFTER this host's clock,"
        " real-time protection on"
    )
    assert lines[2].startswith("  - Kaspersky Endpoint Security for Windows: STALE, real-time protection OFF")
