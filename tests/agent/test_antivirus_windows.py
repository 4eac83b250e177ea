"""The Windows antivirus probe on hand-made PowerShell recordings (fixtures/windows/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, ProductStatus
from fleetwatch_agent.probes.context import ProbeContext

FIXTURES = Path(__file__).parent / "fixtures" / "windows"
SIGNATURES_MS = 1_700_000_000_000  # AntivirusSignatureLastUpdated of defender_status.*
NOW = SIGNATURES_MS / 1000 + 3600  # one hour after the signature update
DAY = 86_400
OUTDATED_AFTER = 3 * DAY
CURSOR = wd.DETECTIONS_CURSOR

ACCESS_DENIED = (
    "HRESULT 0x80041003,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand: Access denied"
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def script_output(**parts: str) -> str:
    """What the combined script prints: each part the single command's text (or ``<part>_error``)."""
    return json.dumps(parts)


def collector(
    stdout: str | Callable[[], str],
    *,
    cursors: dict[str, str] | None = None,
    now: float = NOW,
    exit_code: int = 0,
    stderr: str = "",
    calls: list[tuple[str, float]] | None = None,
) -> Callable[[], AntivirusResult]:
    def run(script: str, timeout: float) -> tuple[int, str, str]:
        if calls is not None:
            calls.append((script, timeout))
        return exit_code, stdout() if callable(stdout) else stdout, stderr

    context = ProbeContext(
        data_dir=Path("."), cursors=cursors if cursors is not None else {}, clock=lambda: now
    )
    return win.make_collector(AntivirusConfig(), context, run=run)


def by_name(result: AntivirusResult) -> dict[str, ProductStatus]:
    return {p.name: p for p in result.products}


def security_center_status(state: object, name: str = "Some AV") -> ProductStatus:
    text = json.dumps({"displayName": name, "instanceGuid": "{0}", "productState": state})
    (product,) = wp.parse_security_center(text)
    return wp.security_center_status(product, now=NOW, outdated_after_seconds=OUTDATED_AFTER)


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


# --- One collection: merging, fallbacks, failures ---------------------------------------------------------


def test_one_powershell_run_per_collection_with_a_quote_safe_script() -> None:
    calls: list[tuple[str, float]] = []
    result = collector(fixture("script_client.ps51.json"), calls=calls)()
    assert len(calls) == 1
    script, timeout = calls[0]
    assert '"' not in script and "\n" not in script  # survives Windows command-line quoting
    for command in ("root/SecurityCenter2", "Get-MpComputerStatus", "Get-MpThreatDetection", "Get-MpThreat "):
        assert command in script
    assert 0 < timeout < AntivirusConfig().timeout_seconds  # its own timeout fires first
    assert result.error == ""


def test_client_merges_defender_from_security_center_and_get_mpcomputerstatus() -> None:
    result = collector(fixture("script_client.ps51.json"))()
    assert [p.name for p in result.products] == ["Windows Defender"]  # one record, not two
    (product,) = result.products
    assert product.vendor == "Microsoft"
    assert product.signature_version == "1.401.1166.0"
    assert product.state == "protected" and result.host_state == "protected"


def test_defender_off_and_kaspersky_on_host_is_protected() -> None:
    result = collector(fixture("script_kaspersky_defender_off.ps51.json"))()
    products = by_name(result)
    assert products["Windows Defender"].state == "disabled"
    assert "0x800106ba" in products["Windows Defender"].detail  # why there are no versions
    kaspersky = products["Kaspersky Endpoint Security for Windows"]
    assert (kaspersky.state, kaspersky.vendor, kaspersky.product_version) == ("protected", "", "")
    assert result.host_state == "protected"
    assert result.error == ""  # Defender's cmdlets failing while it is off is expected
    assert result.cursors == {}  # detections could not be read: keep the committed cursor


def test_defender_off_by_get_mpcomputerstatus_and_third_party_on() -> None:
    stdout = script_output(
        security_center=fixture("security_center_defender_off_kaspersky_on.ps51.json"),
        defender_status=fixture("defender_status_realtime_off.ps51.json"),
        detections="",
        threats="",
    )
    result = collector(stdout)()
    products = by_name(result)
    assert len(result.products) == 2
    assert products["Windows Defender"].state == "disabled"
    assert products["Windows Defender"].signature_version == "1.401.1166.0"  # richer data kept
    assert products["Kaspersky Endpoint Security for Windows"].state == "protected"
    assert result.host_state == "protected"


def test_windows_server_falls_back_to_defender_alone() -> None:
    result = collector(fixture("script_server.ps51.json"))()
    assert [(p.name, p.state) for p in result.products] == [("Windows Defender", "protected")]
    assert result.host_state == "protected"
    assert result.error == ""


def test_windows_server_without_defender_is_not_installed() -> None:
    result = collector(fixture("script_server_no_defender.ps51.json"))()
    assert result.products == ()
    assert result.host_state == "not_installed"
    assert result.error == ""


def test_server_error_text_of_the_single_command_is_recognised() -> None:
    assert wp.security_center_missing(fixture("security_center_server.stderr.txt"))
    assert not wp.security_center_missing(ACCESS_DENIED)


def test_security_center_empty_output_and_no_defender_is_not_installed() -> None:
    stdout = script_output(
        security_center="",
        defender_status_error="CommandNotFoundException: The term 'Get-MpComputerStatus' is not recognized",
        detections_error="CommandNotFoundException: The term 'Get-MpThreatDetection' is not recognized",
    )
    result = collector(stdout)()
    assert (result.products, result.host_state, result.error) == ((), "not_installed", "")


def test_security_center_failure_with_nothing_else_is_unknown() -> None:
    stdout = script_output(
        security_center_error=ACCESS_DENIED,
        defender_status_error="CommandNotFoundException: The term 'Get-MpComputerStatus' is not recognized",
    )
    result = collector(stdout)()
    assert result.host_state == "unknown"
    assert "Access denied" in result.error and "SecurityCenter2" in result.error


def test_powershell_missing() -> None:
    def run(script: str, timeout: float) -> tuple[int, str, str]:
        raise FileNotFoundError(2, "No such file", "powershell")

    context = ProbeContext(Path("."), cursors={CURSOR: '{"v":1,"floor_ms":5,"seen":[]}'}, clock=lambda: NOW)
    result = win.make_collector(AntivirusConfig(), context, run=run)()
    assert (result.host_state, result.error, result.products) == ("unknown", "powershell not found", ())
    assert result.cursors == {}


def test_powershell_timeout() -> None:
    def run(script: str, timeout: float) -> tuple[int, str, str]:
        raise subprocess.TimeoutExpired(["powershell"], timeout)

    context = ProbeContext(Path("."), clock=lambda: NOW)
    result = win.make_collector(AntivirusConfig(timeout_seconds=4), context, run=run)()
    assert (result.host_state, result.error) == ("unknown", "powershell timed out")


def test_garbage_instead_of_the_script_output() -> None:
    result = collector(fixture("garbage_banner.txt"))()
    assert result.host_state == "unknown"
    assert "collection script" in result.error and "not a JSON object" in result.error
    failed = collector("", exit_code=1, stderr="The term 'x' is not recognized\r\nAt line:1")()
    assert failed.host_state == "unknown"
    assert failed.error.startswith("powershell exited with code 1: The term 'x' is not recognized")


def test_garbage_from_one_command_names_it_and_keeps_the_others() -> None:
    stdout = script_output(
        security_center=fixture("security_center_defender_off_kaspersky_on.ps51.json"),
        defender_status=fixture("garbage_banner.txt"),
        detections="",
    )
    result = collector(stdout)()
    products = by_name(result)
    assert "Get-MpComputerStatus: output is not JSON" in result.error
    assert products["Windows Defender"].state == "disabled"  # Security Center's view of it
    assert "Get-MpComputerStatus: output is not JSON" in products["Windows Defender"].detail
    assert products["Kaspersky Endpoint Security for Windows"].state == "protected"
    assert result.host_state == "protected"

    broken = script_output(security_center="{not json", defender_status=fixture("defender_status.ps51.json"))
    result = collector(broken)()
    assert "Get-CimInstance root/SecurityCenter2 AntiVirusProduct: output is not JSON" in result.error
    assert result.host_state == "protected"  # Defender still read


def test_unreadable_defender_without_security_center_is_an_unknown_product() -> None:
    stdout = script_output(
        security_center_error=fixture("security_center_server.stderr.txt"), defender_status="[1, 2]"
    )
    result = collector(stdout)()
    assert [(p.name, p.state) for p in result.products] == [("Windows Defender", "unknown")]
    assert result.host_state == "unknown"
    assert "Get-MpComputerStatus" in result.error


def test_products_are_capped_for_the_collector() -> None:
    many = json.dumps([{"displayName": f"AV {i}", "productState": 262144} for i in range(20)])
    result = collector(
        script_output(security_center=many, defender_status=fixture("defender_status.ps51.json"))
    )()
    assert len(result.products) == win.MAX_PRODUCTS
    assert result.products[0].name == "Windows Defender"  # Defender is never the one dropped


# --- Detections, exactly once across restarts --------------------------------------------------------------


def detections_output(detections: str) -> str:
    return script_output(
        security_center=fixture("security_center_defender_on.ps51.json"),
        defender_status=fixture("defender_status.ps51.json"),
        detections=detections,
        threats=fixture("defender_threats.ps51.json"),
    )


def test_detections_first_run_next_run_and_restart() -> None:
    committed: dict[str, str] = {}  # what the spool committed; the agent updates it after each report
    listing = [fixture("defender_detections.ps51.json")]
    collect = collector(lambda: detections_output(listing[0]), cursors=committed)

    first = collect()
    assert first.detections == ()  # history is not reported
    assert CURSOR in first.cursors
    committed.update(first.cursors)

    listing[0] = fixture("defender_detections_one_more.ps51.json")
    second = collect()
    assert [(d.time_unix_ms, d.product, d.threat, d.path, d.action) for d in second.detections] == [
        (
            1_700_001_000_000,
            "Windows Defender",
            "Virus:DOS/EICAR_Test_File",
            r"C:\Users\anna\Downloads\tools.zip",
            "quarantined",
        )
    ]
    committed.update(second.cursors)

    after_restart = collector(lambda: detections_output(listing[0]), cursors=dict(committed))()
    assert after_restart.detections == ()
    assert after_restart.cursors == committed  # nothing new: the same position


def test_a_report_that_was_not_committed_is_reported_again() -> None:
    committed: dict[str, str] = {}
    collect = collector(
        lambda: detections_output(fixture("defender_detections.ps51.json")), cursors=committed
    )
    committed.update(collect().cursors)
    newer = collector(detections_output(fixture("defender_detections_one_more.ps51.json")), cursors=committed)
    assert len(newer().detections) == 1
    assert len(newer().detections) == 1  # its cursor was never committed (crash before the spool write)


def test_detection_that_shows_up_late_with_an_older_time_is_reported_once() -> None:
    items = json.loads(fixture("defender_detections.ps51.json"))
    newest, older = items[1], items[0]
    cursor = wd.new_detections(wd.parse_detections(json.dumps([newest])), None)[1]
    batch, cursor = wd.new_detections(wd.parse_detections(json.dumps(items)), cursor)
    assert [d.detection_id for d in batch] == [older["DetectionID"]]
    assert wd.new_detections(wd.parse_detections(json.dumps(items)), cursor)[0] == ()


def make_detections(count: int, start_ms: int = 1_699_000_000_000, step_ms: int = 1000) -> str:
    return json.dumps(
        [
            {
                "DetectionID": f"{{00000000-0000-4000-8000-{i:012d}}}",
                "ThreatID": 2147519003,
                "InitialDetectionTime": f"/Date({start_ms + (i // 3) * step_ms})/",  # three per instant
                "ActionSuccess": True,
                "Resources": [f"file:_C:\\x\\{i}.com"],
                "ThreatStatusID": 3,
            }
            for i in range(count)
        ]
    )


def test_a_burst_is_reported_in_parts_without_loss_or_repeat() -> None:
    committed = {CURSOR: wd.DetectionCursor().encode()}  # an earlier run saw no detection at all
    collect = collector(detections_output(make_detections(250)), cursors=committed)
    reported: list[str] = []
    for _ in range(4):
        result = collect()
        assert len(result.detections) <= wd.MAX_DETECTIONS_PER_COLLECTION
        reported += [d.path for d in result.detections]
        committed.update(result.cursors)
        cursor = wd.decode_cursor(committed[CURSOR])
        assert cursor is not None and len(cursor.seen) <= wd.CURSOR_MAX_SEEN  # the cursor stays small
    assert sorted(reported) == sorted(f"C:\\x\\{i}.com" for i in range(250))


def detection(detection_id: str, time_ms: int) -> wd.DefenderDetection:
    return wd.DefenderDetection(detection_id, time_ms, None, 3, True, ())


def test_bounding_the_cursor_never_skips_a_detection_still_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wd, "CURSOR_MAX_SEEN", 1)
    cursor = wd.DetectionCursor(0, ((100, "a"), (130, "g"), (300, "c")))
    late = [detection("d", 110), detection("e", 120), detection("f", 130)]  # older than the newest
    batch, cursor = wd.new_detections(late, cursor, limit=2)
    assert [d.detection_id for d in batch] == ["d", "e"]
    batch, cursor = wd.new_detections(late, cursor, limit=2)
    assert [d.detection_id for d in batch] == ["f"]  # trimming the cursor must not pass over it
    assert wd.new_detections(late, cursor, limit=2)[0] == ()


def test_unreadable_cursor_starts_afresh_without_reporting_history() -> None:
    result = collector(
        detections_output(fixture("defender_detections.ps51.json")), cursors={CURSOR: "garbage"}
    )()
    assert result.detections == ()
    cursor = wd.decode_cursor(result.cursors[CURSOR])
    assert cursor is not None and cursor.floor_ms < 1_699_990_000_000
    assert {i for _, i in cursor.seen} == {
        "{3F2D1E0A-5B6C-4D7E-8F90-A1B2C3D4E501}",
        "{3F2D1E0A-5B6C-4D7E-8F90-A1B2C3D4E502}",
    }


def test_detection_failure_keeps_the_committed_cursor() -> None:
    stdout = script_output(
        security_center=fixture("security_center_defender_on.ps51.json"),
        defender_status=fixture("defender_status.ps51.json"),
        detections_error="HRESULT 0x80070005,Get-MpThreatDetection: Access is denied.",
    )
    result = collector(stdout, cursors={CURSOR: wd.DetectionCursor().encode()})()
    assert result.cursors == {}
    assert "Get-MpThreatDetection: HRESULT 0x80070005" in result.error
    assert result.host_state == "protected"


def test_one_detection_as_an_object_in_the_powershell_7_format_without_names() -> None:
    stdout = script_output(
        detections=fixture("defender_detection_one.ps7.json"),
        threats_error="HRESULT 0x80070005,Get-MpThreat: Access is denied.",
    )
    result = collector(stdout, cursors={CURSOR: wd.DetectionCursor().encode()})()
    assert [(d.time_unix_ms, d.threat, d.path, d.action) for d in result.detections] == [
        (1_699_999_200_000, "ThreatID 2147519003", r"D:\share\eicar.txt", "quarantine_failed")
    ]


@pytest.mark.parametrize(
    ("status_id", "success", "action"),
    [
        (1, True, "detected"),
        (2, True, "cleaned"),
        (3, True, "quarantined"),
        (4, True, "removed"),
        (5, True, "allowed"),
        (6, True, "blocked"),
        (3, False, "quarantine_failed"),  # ActionSuccess denies the remediation
        (1, False, "detected"),
        (103, True, "quarantine_failed"),
        (106, None, "abandoned"),
        (0, None, "unknown"),
        (42, True, "status_42"),
        (None, True, "unknown"),
    ],
)
def test_threat_status_to_action(status_id: int | None, success: bool | None, action: str) -> None:
    assert wd.action_word(status_id, success) == action


@pytest.mark.parametrize(
    ("resources", "path"),
    [
        ([r"file:_C:\Users\x\eicar.com"], r"C:\Users\x\eicar.com"),
        (["process:_pid:1,ProcessStart:1", r"file:_C:\a.exe"], r"C:\a.exe"),
        ([r"regkey:_HKLM\Software\Run"], r"HKLM\Software\Run"),
        ([], ""),
        (["no kind at all"], ""),
    ],
)
def test_detection_path(resources: list[str], path: str) -> None:
    assert wd.resource_path(resources) == path


# --- The default runner, with a stand-in executable -----------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-ins are POSIX shell scripts")
def test_default_runner_reads_stdout_kills_on_timeout_and_reports_a_missing_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = ProbeContext(tmp_path, clock=lambda: NOW)
    fake = tmp_path / "powershell"
    # A UTF-8 BOM, as PowerShell may write one after switching the console to UTF-8.
    fake.write_bytes(
        b"#!/bin/sh\nprintf '\\357\\273\\277'\ncat "
        + str(FIXTURES / "script_server.ps51.json").encode()
        + b"\n"
    )
    fake.chmod(0o755)
    monkeypatch.setattr(win, "POWERSHELL", str(fake))
    assert win.make_collector(AntivirusConfig(), context)().host_state == "protected"

    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    monkeypatch.setattr(win, "POWERSHELL", str(fake))
    result = win.make_collector(AntivirusConfig(timeout_seconds=0.5), context)()
    assert (result.host_state, result.error) == ("unknown", "powershell timed out")

    monkeypatch.setattr(win, "POWERSHELL", str(tmp_path / "missing"))
    assert win.make_collector(AntivirusConfig(), context)().error == "powershell not found"
