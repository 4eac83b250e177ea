"""One Windows antivirus collection: merging, fallbacks, failures, detections exactly once, the runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_proto.limits import MAX_PRODUCTS
from tests.agent.probes.antivirus.windows_support import (
    ACCESS_DENIED,
    CURSOR,
    FIXTURES,
    NOW,
    by_name,
    collector,
    fixture,
    script_output,
)

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
    result = collector(fixture("script_kaspersky_defender_off.ps51.json"))()  # every program present
    products = by_name(result)
    assert products["Windows Defender"].state == "disabled"
    assert "0x800106ba" in products["Windows Defender"].detail  # why there are no versions
    kaspersky = products["Kaspersky Endpoint Security for Windows"]
    assert (kaspersky.state, kaspersky.vendor, kaspersky.product_version) == ("protected", "Kaspersky", "")
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
    assert len(result.products) == MAX_PRODUCTS
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
