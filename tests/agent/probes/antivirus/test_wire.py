"""The antivirus probe's wire step: products, host state and detection events, checked after a round trip."""

from __future__ import annotations

import pytest

from fleetwatch_agent.probes.antivirus import wire
from fleetwatch_agent.probes.antivirus.model import STATE_ORDER, AntivirusResult, Detection, ProductStatus
from fleetwatch_proto.limits import CONTROL_CHARACTERS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

COLLECTED_MS = 1_760_000_000_000
DEFENDER = ProductStatus(
    name="Microsoft Defender Antivirus",
    vendor="Microsoft",
    product_version="4.18.24090.11",
    engine_version="1.1.24090.11",
    signature_version="1.421.1187.0",
    signature_updated_unix=1_759_990_000,
    realtime_protection=True,
    last_quick_scan_unix=1_759_900_000,
    last_full_scan_unix=1_759_000_000,
    state="outdated",
    centrally_managed=True,
    on_access_scanning=True,
    detail="signatures 4 days old\nsee Get-MpComputerStatus",
)


def wired(result: AntivirusResult) -> pb.Report:
    report = pb.Report(seq=1, collected_unix_ms=COLLECTED_MS)
    wire.to_wire(result, report)
    return pb.Report.FromString(report.SerializeToString())


def test_products_and_host_state() -> None:
    report = wired(AntivirusResult((DEFENDER,), "outdated", error="Get-MpThreatDetection: access denied"))
    section = report.antivirus
    assert section.host_state == pb.ANTIVIRUS_STATE_OUTDATED
    assert section.error == "Get-MpThreatDetection: access denied"
    (product,) = section.products
    assert (product.name, product.vendor, product.product_version, product.engine_version) == (
        "Microsoft Defender Antivirus",
        "Microsoft",
        "4.18.24090.11",
        "1.1.24090.11",
    )
    assert (product.signature_version, product.signature_updated_unix) == ("1.421.1187.0", 1_759_990_000)
    assert (product.last_quick_scan_unix, product.last_full_scan_unix) == (1_759_900_000, 1_759_000_000)
    assert product.state == pb.ANTIVIRUS_STATE_OUTDATED
    assert (product.realtime_protection, product.centrally_managed, product.on_access_scanning) == (
        True,
        True,
        True,
    )
    assert product.detail == "signatures 4 days old?see Get-MpComputerStatus"
    assert not report.events


@pytest.mark.parametrize("state", STATE_ORDER)
def test_every_state_has_its_enum_value(state: str) -> None:
    product = ProductStatus(name="X", state=state)  # type: ignore[arg-type]
    section = wired(AntivirusResult((product,), product.state)).antivirus
    expected = pb.AntivirusState.Value("ANTIVIRUS_STATE_" + state.upper())
    assert (section.host_state, section.products[0].state) == (expected, expected)


def test_detections_become_threat_events_at_their_time_or_the_reports() -> None:
    detections = (
        Detection(1_759_999_000_000, "ClamAV", "Eicar-Test-Signature", "/tmp/eicar.com", "detected"),
        Detection(0, "Microsoft Defender Antivirus", "Trojan:Win32/X\n", "C:\\x.exe", "quarantined"),
    )
    events = wired(AntivirusResult((), "not_installed", detections)).events
    assert [e.WhichOneof("detail") for e in events] == ["threat", "threat"]
    assert [e.time_unix_ms for e in events] == [1_759_999_000_000, COLLECTED_MS]
    first, second = (e.threat for e in events)
    assert (first.product, first.threat, first.path, first.action) == (
        "ClamAV",
        "Eicar-Test-Signature",
        "/tmp/eicar.com",
        "detected",
    )
    assert not CONTROL_CHARACTERS.search(second.threat)


def test_stale_state_and_clock_skew_reach_the_wire() -> None:
    skewed = ProductStatus(name="ClamAV", state="unknown", signature_clock_skew_seconds=2_592_000)
    stale = ProductStatus(name="Kaspersky Endpoint Security for Windows", state="stale")
    section = wired(AntivirusResult((skewed, stale), "unknown")).antivirus
    assert [(p.state, p.signature_clock_skew_seconds) for p in section.products] == [
        (pb.ANTIVIRUS_STATE_UNKNOWN, 2_592_000),
        (pb.ANTIVIRUS_STATE_STALE, 0),
    ]
