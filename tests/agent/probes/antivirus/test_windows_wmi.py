"""The WMI adapters: CIM values as PowerShell's JSON, COM errors as text, recorded hosts read in-process."""

# The WMI objects are recorded by hand from the documented classes (fixtures/windows/wmi_*.json, see their
# "about"); nothing here ran on Windows. The fake COM layer is wmi_support's.

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest

from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus import windows_wmi as wmi
from fleetwatch_agent.probes.antivirus.windows_services import wql_filter
from fleetwatch_agent.probes.antivirus.windows_wmi_values import (
    cim_datetime_iso,
    error_text,
    hresult,
    json_value,
    record,
)
from tests.agent.probes.antivirus.windows_support import by_name, present_files
from tests.agent.probes.antivirus.wmi_support import (
    ACCESS_DENIED,
    INVALID_CLASS,
    INVALID_NAMESPACE,
    FakeComError,
    FakeWmi,
    fake_object,
    recording,
    wmi_collector,
)

S, B, U8, U32, S64, U64, DT = 8, 11, 17, 19, 20, 21, 101
SIGNATURES_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
BEFORE_THE_DETECTIONS = wd.DetectionCursor(floor_ms=1_699_980_000_000).encode()


# --- Values: by their CIM type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("20231114221320.000000+000", "2023-11-14T22:13:20+00:00"),
        ("20231115051320.000000+420", "2023-11-15T05:13:20+07:00"),  # Vietnam: local time, offset in minutes
        ("20231114171320.250000-300", "2023-11-14T17:13:20.250000-05:00"),
        ("16010101000000.000000+000", "1601-01-01T00:00:00+00:00"),  # FILETIME 0: "never"
    ],
)
def test_cim_datetime_becomes_iso_8601_with_its_offset(text: str, iso: str) -> None:
    assert cim_datetime_iso(text) == iso


def test_cim_datetimes_read_as_the_same_instant_by_the_parsers() -> None:
    for text in ("20231114221320.000000+000", "20231115051320.000000+420", "20231114171320.000000-300"):
        assert wp.date_ms(cim_datetime_iso(text)) == SIGNATURES_MS
    assert wp.never_date(cim_datetime_iso("16010101000000.000000+000"))


@pytest.mark.parametrize(
    "text",
    [
        "00000001123456.000000:000",  # an interval, not a date
        "2023111422****.000000+000",  # fields left unknown
        "00000101000000.000000+000",  # year 0
        "20231314221320.000000+000",  # month 13
        "2023-11-14T22:13:20Z",
        "",
        None,
        1700000000,
    ],
)
def test_what_is_no_cim_date_is_none(text: object) -> None:
    assert cim_datetime_iso(text) is None


@pytest.mark.parametrize(
    ("value", "cim_type", "is_array", "expected"),
    [
        ("2147519003", S64, False, 2147519003),  # Automation has no 64-bit integer: WMI gives a string
        ("-42", S64, False, -42),
        ("18446744073709551615", U64, False, 18446744073709551615),
        ("not a number", U64, False, None),
        ("²", U64, False, None),  # a digit to str.isdigit(), not to int()
        ("--5", S64, False, None),
        (4294967295, U32, False, 4294967295),
        (True, B, False, True),
        ("20231114221320.000000+000", DT, False, "2023-11-14T22:13:20+00:00"),
        (None, DT, False, None),
        (("file:_C:\\a.exe", "process:_pid:4"), S, True, ["file:_C:\\a.exe", "process:_pid:4"]),
        (("1", "2"), U64, True, [1, 2]),
        ((), S, True, []),
        ("Passive Mode", S, False, "Passive Mode"),
    ],
)
def test_values_are_converted_by_their_cim_type(
    value: Any, cim_type: int, is_array: bool, expected: Any
) -> None:
    assert json_value(value, cim_type, is_array) == expected


def test_a_record_keeps_the_selected_properties_and_a_missing_one_is_null() -> None:
    # An older Defender platform: MSFT_MpComputerStatus has no AMRunningMode (Select-Object gives null).
    item = fake_object(
        {"AMServiceEnabled": [B, True], "ComputerID": [S, "x"], "FullScanAge": [U32, 4294967295]}
    )
    assert record(item, ("AMServiceEnabled", "FullScanAge", "AMRunningMode")) == {
        "AMServiceEnabled": True,
        "FullScanAge": 4294967295,
        "AMRunningMode": None,
    }


# --- COM errors ---------------------------------------------------------------------------------------


def test_com_errors_read_with_wmis_own_code() -> None:
    assert error_text(FakeComError(*INVALID_NAMESPACE)) == "0x8004100E: OLE error 0x8004100e"
    assert (
        error_text(FakeComError(*INVALID_CLASS)) == "0x80041010: Invalid class"
    )  # scode of DISP_E_EXCEPTION
    assert error_text(FakeComError(*ACCESS_DENIED)) == "0x80070005: Access is denied."
    assert error_text(ValueError("bad\nvalue")) == "ValueError: bad value"
    assert hresult(OSError(2, "No such file")) is None  # an errno is not an HRESULT


def test_the_parsers_tell_a_missing_namespace_or_class_from_a_failure() -> None:
    missing_namespace, missing_class = (
        error_text(FakeComError(*INVALID_NAMESPACE)),
        error_text(FakeComError(*INVALID_CLASS)),
    )
    assert wp.security_center_missing(missing_namespace)  # Windows Server: no SecurityCenter2
    assert wp.product_missing(missing_namespace) and wp.product_missing(missing_class)
    denied = error_text(FakeComError(*ACCESS_DENIED))
    assert not wp.security_center_missing(denied) and not wp.product_missing(denied)


# --- The queries --------------------------------------------------------------------------------------


def powershell_selection(command: str) -> tuple[str, ...]:
    match = re.search(r"Select-Object ([\w,]+)", command)
    assert match, command
    return tuple(match.group(1).split(","))


@pytest.mark.parametrize("part", sorted(win.PARTS))
def test_each_query_keeps_what_the_powershell_command_selects(part: str) -> None:
    assert wmi.QUERIES[part].properties == powershell_selection(win.PARTS[part])


def test_one_collection_one_connection_per_namespace_and_the_service_filter() -> None:
    fake = FakeWmi(recording("wmi_client.json"))
    with fake.apartment():
        connections: list[str] = []

        def connect(namespace: str) -> Any:
            connections.append(namespace)
            return fake.connect(namespace)

        parts = wmi.read_parts(connect)
    assert sorted(connections) == sorted({q.namespace for q in wmi.QUERIES.values()})
    assert ("root\\cimv2", f"SELECT * FROM Win32_Service WHERE {wql_filter()}") in fake.queries
    assert all(part.error is None for part in parts.values()), parts
    names = wd.parse_threat_names(parts["threats"].output)
    assert names[2147519003] == "Virus:DOS/EICAR_Test_File"  # a sint64 ThreatID, a string through COM
    (first, second) = wd.parse_detections(parts["detections"].output)
    assert (first.time_ms, first.threat_id, first.status_id) == (1_699_990_000_000, 2147519003, 3)
    assert second.resources[1] == "process:_pid:4242,ProcessStart:133444321990000000"


def test_threat_names_are_asked_only_when_there_are_detections() -> None:
    fake = FakeWmi(recording("wmi_kaspersky_removed_defender_passive.json"))
    with fake.apartment():
        parts = wmi.read_parts(fake.connect)
    assert parts["threats"] == wp.Part(output="")
    assert not any("MSFT_MpThreat " in q or q.endswith("MSFT_MpThreat") for _, q in fake.queries)


def test_a_namespace_that_failed_is_not_connected_to_again_in_the_same_collection() -> None:
    fake = FakeWmi(recording("wmi_server_kaspersky.json"))  # neither SecurityCenter2 nor Defender
    attempts: list[str] = []

    def connect(namespace: str) -> Any:
        attempts.append(namespace)
        return fake.connect(namespace)

    with fake.apartment():
        parts = wmi.read_parts(connect)
    assert attempts.count(wmi.DEFENDER_NAMESPACE) == 1
    assert parts["defender_status"].error == parts["detections"].error == "0x8004100E: OLE error 0x8004100e"


# --- Recorded hosts through the collector -------------------------------------------------------------


def test_client_with_defender_and_two_new_detections() -> None:
    fake = FakeWmi(recording("wmi_client.json"))
    result = wmi_collector(fake, cursors={wd.DETECTIONS_CURSOR: BEFORE_THE_DETECTIONS})()
    (defender,) = result.products
    assert (defender.name, defender.state, defender.signature_updated_unix) == (
        "Windows Defender",
        "protected",
        SIGNATURES_MS // 1000,
    )
    assert defender.last_full_scan_unix == 0  # FullScanAge 4294967295 and no date: never
    assert [(d.threat, d.path, d.action) for d in result.detections] == [
        ("Virus:DOS/EICAR_Test_File", "C:\\Users\\anna\\Downloads\\eicar.com", "quarantined"),
        ("Trojan:Win32/Wacatac.B!ml", "C:\\Users\\anna\\AppData\\Local\\Temp\\setup_tool.exe", "removed"),
    ]
    assert (result.error, result.source, result.source_note) == ("", "wmi", "")


def test_client_first_run_reports_no_history_and_sets_the_cursor() -> None:
    result = wmi_collector(FakeWmi(recording("wmi_client.json")))()
    assert result.detections == ()
    cursor = wd.decode_cursor(result.cursors[wd.DETECTIONS_CURSOR])
    assert cursor is not None and {i for _, i in cursor.seen} >= {"{3F2D1E0A-5B6C-4D7E-8F90-A1B2C3D4E502}"}


def test_defender_in_passive_mode_after_kaspersky_was_removed() -> None:
    name = "script_kaspersky_removed_defender_passive.ps51.json"
    result = wmi_collector(
        FakeWmi(recording("wmi_kaspersky_removed_defender_passive.json")), present=present_files(name)
    )()
    products = by_name(result)
    assert products["Windows Defender"].state == "disabled"
    assert "Passive Mode" in products["Windows Defender"].detail
    assert products["Kaspersky Endpoint Security for Windows"].state == "stale"
    assert result.host_state == "disabled"


def test_server_without_security_center_reads_defender_and_services() -> None:
    name = "script_server_trend_leftover.ps51.json"
    result = wmi_collector(
        FakeWmi(recording("wmi_server_trend_leftover.json")), present=present_files(name)
    )()
    assert [(p.name, p.state) for p in result.products] == [
        ("Windows Defender", "protected"),
        ("Trend Micro Apex One Security Agent", "stale"),
    ]
    assert (result.host_state, result.error) == ("protected", "")  # no SecurityCenter2 is no error


def test_server_without_security_center_and_defender() -> None:
    name = "script_server_kaspersky.ps51.json"
    result = wmi_collector(FakeWmi(recording("wmi_server_kaspersky.json")), present=present_files(name))()
    (kaspersky,) = result.products
    assert (kaspersky.name, kaspersky.state, kaspersky.realtime_protection) == (
        "Kaspersky Security for Windows Server",
        "unknown",
        True,
    )
    assert result.error == ""  # no Defender namespace: Defender is not installed, not an error


def test_defender_queries_failing_while_a_third_party_product_protects() -> None:
    name = "script_eset_replaced_kaspersky.ps51.json"
    result = wmi_collector(
        FakeWmi(recording("wmi_eset_replaced_kaspersky.json")), present=present_files(name)
    )()
    products = by_name(result)
    assert products["ESET Endpoint Antivirus"].state == "protected"
    assert products["Kaspersky Endpoint Security for Windows"].state == "stale"
    assert products["Windows Defender"].state == "disabled"
    assert "0x800106BA" in products["Windows Defender"].detail  # why there are no versions
    assert (result.host_state, result.error, result.cursors) == ("protected", "", {})


def test_security_center_refused_is_an_error_naming_it() -> None:
    data = recording("wmi_client.json")
    data["failing_queries"] = {"AntiVirusProduct": list(ACCESS_DENIED)}
    result = wmi_collector(FakeWmi(data))()
    assert "SecurityCenter2" in result.error and "0x80070005" in result.error
    assert by_name(result)["Windows Defender"].state == "protected"  # the other parts still count


def test_com_not_initialisable_in_the_collecting_thread_is_an_unknown_result() -> None:
    fake = FakeWmi(recording("wmi_client.json"))
    collect = wmi_collector(fake)  # chosen at start: WMI works
    fake.apartment_error = (-2147418113, "Catastrophic failure", None, None)  # E_UNEXPECTED
    result = collect()
    assert (result.host_state, result.error, result.source) == (
        "unknown",
        "WMI: 0x8000FFFF: Catastrophic failure",
        "wmi",
    )


# --- COM per thread -----------------------------------------------------------------------------------


def test_each_collection_enters_its_own_threads_apartment() -> None:
    fake = FakeWmi(recording("wmi_client.json"))
    collect = wmi_collector(fake)
    results = []
    threads = [threading.Thread(target=lambda: results.append(collect())) for _ in range(2)]
    for thread in threads:
        thread.start()
        thread.join()
    assert [r.host_state for r in results] == ["protected", "protected"]
    assert {t.ident for t in threads} <= set(fake.apartments)
    with pytest.raises(AssertionError, match="outside an apartment"):
        fake.connect(wmi.CIMV2_NAMESPACE)  # the fake holds the adapter to it


class ComCalls:
    """pythoncom's CoInitializeEx and CoUninitialize, recorded; ``refuse`` is the HRESULT to raise."""

    def __init__(self, refuse: int | None = None) -> None:
        self.calls: list[str] = []
        self.refuse = refuse

    def initialize(self, flags: int) -> None:
        self.calls.append(f"init {flags}")
        if self.refuse is not None:
            raise FakeComError(self.refuse - (1 << 32), "refused", None, None)

    def uninitialize(self) -> None:
        self.calls.append("uninit")


def test_com_apartment_initialises_and_uninitialises_once() -> None:
    com = ComCalls()
    with pytest.raises(RuntimeError), wmi.com_apartment(com.initialize, com.uninitialize, 0):
        com.calls.append("body")
        raise RuntimeError("a failing read still leaves the apartment")
    assert com.calls == ["init 0", "body", "uninit"]


def test_com_apartment_of_another_model_already_there_is_used_as_it_is() -> None:
    com = ComCalls(refuse=wmi.RPC_E_CHANGED_MODE)  # the main thread after `import pythoncom`
    with wmi.com_apartment(com.initialize, com.uninitialize, 0):
        com.calls.append("body")
    assert com.calls == ["init 0", "body"]  # not uninitialised: this call did not initialise it


def test_com_apartment_that_cannot_be_had_raises() -> None:
    com = ComCalls(refuse=0x80004005)  # E_FAIL
    with pytest.raises(FakeComError), wmi.com_apartment(com.initialize, com.uninitialize, 0):
        com.calls.append("body")
    assert com.calls == ["init 0"]


# --- Choosing the source, once --------------------------------------------------------------------------


def test_without_windows_there_is_no_wmi_and_it_says_why() -> None:
    reason = wmi.open_system_wmi()
    assert isinstance(reason, str) and "Windows only" in reason


def counting(opener: Callable[[], wmi.Wmi | str]) -> tuple[Callable[[], wmi.Wmi | str], list[int]]:
    calls: list[int] = []

    def open_wmi() -> wmi.Wmi | str:
        calls.append(1)
        return opener()

    return open_wmi, calls


@pytest.mark.parametrize(
    ("setting", "opener", "name", "note"),
    [
        ("auto", "works", "wmi", ""),
        ("auto", "fails", "powershell", "WMI unavailable at start: 0x80070005: Access is denied."),
        ("auto", "no pywin32", "powershell", "WMI unavailable at start: pywin32 is not installed"),
        ("wmi", "fails", "wmi", "WMI unavailable: 0x80070005: Access is denied."),
        ("powershell", "works", "powershell", 'windows_source = "powershell"'),
    ],
)
def test_choose_source(setting: wmi.SourceSetting, opener: str, name: str, note: str) -> None:
    fake = FakeWmi(recording("wmi_client.json"), start_error=ACCESS_DENIED if opener == "fails" else None)
    open_wmi, calls = counting(lambda: "pywin32 is not installed" if opener == "no pywin32" else fake.wmi())
    source = wmi.choose_source(setting, open_wmi)
    assert (source.name, source.note) == (name, note)
    assert (source.wmi is not None) == (opener == "works" and setting != "powershell")
    assert calls == ([] if setting == "powershell" else [1])


def test_json_of_a_result_names_the_source() -> None:
    from fleetwatch_agent.cli import result_json

    result = wmi_collector(FakeWmi(recording("wmi_client.json")))()
    document = json.loads(json.dumps(result_json(result)))
    assert (document["source"], document["source_note"]) == ("wmi", "")
