"""The Windows source, chosen once at start: WMI when COM answers, else PowerShell; shown by check."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from fleetwatch_agent.cli import result_json
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import summary
from fleetwatch_agent.probes.antivirus import windows_wmi as wmi
from tests.agent.probes.antivirus.windows_support import NOW, fixture
from tests.agent.probes.antivirus.wmi_support import ACCESS_DENIED, FakeWmi, recording, wmi_collector


class PowerShell:
    """A runner answering the client's PowerShell recording, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, script: str, timeout: float) -> tuple[int, str, str]:
        assert script == win.SCRIPT
        self.runs += 1
        return 0, fixture("script_client.ps51.json"), ""


def check_output(result: object) -> tuple[dict[str, object], list[str]]:
    """What `fleetwatch-agent check` prints of the antivirus result: its JSON and its summary lines."""
    document = json.loads(json.dumps(result_json(result)))
    return document, summary.lines(result, NOW)  # type: ignore[arg-type]


def test_auto_reads_through_wmi_when_com_answers_and_never_starts_powershell() -> None:
    fake, powershell = FakeWmi(recording("wmi_client.json")), PowerShell()
    collect = wmi_collector(fake, run=powershell)
    results = [collect() for _ in range(3)]
    assert powershell.runs == 0
    assert {(r.source, r.host_state) for r in results} == {("wmi", "protected")}
    document, lines = check_output(results[0])
    assert (document["source"], document["source_note"]) == ("wmi", "")
    assert "  read through WMI, in-process" in lines


def test_auto_falls_back_to_powershell_when_com_raises_at_start() -> None:
    fake, powershell = FakeWmi(recording("wmi_client.json"), start_error=ACCESS_DENIED), PowerShell()
    collect = wmi_collector(fake, run=powershell)
    fake.start_error = None  # WMI recovering later changes nothing: the choice was made at start
    results = [collect() for _ in range(2)]
    assert powershell.runs == 2 and fake.queries == []
    note = "WMI unavailable at start: 0x80070005: Access is denied."
    assert {(r.source, r.source_note, r.host_state) for r in results} == {("powershell", note, "protected")}
    document, lines = check_output(results[0])
    assert (document["source"], document["source_note"]) == ("powershell", note)
    assert f"  read through PowerShell, one process per collection ({note})" in lines


def test_asked_for_wmi_without_it_every_collection_says_why_and_nothing_runs() -> None:
    fake, powershell = FakeWmi(recording("wmi_client.json"), start_error=ACCESS_DENIED), PowerShell()
    result = wmi_collector(fake, run=powershell, windows_source="wmi")()
    assert powershell.runs == 0
    assert (result.host_state, result.source) == ("unknown", "wmi")
    assert result.error == "WMI unavailable: 0x80070005: Access is denied."


def test_asked_for_powershell_wmi_is_not_even_tried() -> None:
    fake, powershell = FakeWmi(recording("wmi_client.json")), PowerShell()
    result = wmi_collector(fake, run=powershell, windows_source="powershell")()
    assert powershell.runs == 1 and fake.apartments == []
    assert (result.source, result.source_note) == ("powershell", 'windows_source = "powershell"')


@pytest.mark.parametrize(
    ("start_error", "logged"),
    [(None, "WMI, in-process"), (ACCESS_DENIED, "PowerShell, one process per collection (WMI unavailable")],
)
def test_the_choice_is_logged_once_at_info(
    start_error: tuple[object, ...] | None, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=win.__name__)
    collect: Callable[[], object] = wmi_collector(
        FakeWmi(recording("wmi_client.json"), start_error=start_error), run=PowerShell()
    )
    for _ in range(3):
        collect()
    messages = [r.getMessage() for r in caplog.records if r.name == win.__name__]
    assert len(messages) == 1 and logged in messages[0], messages
    assert caplog.records[0].levelno == logging.INFO


def test_an_unknown_setting_names_the_option() -> None:
    from fleetwatch_agent.probes.antivirus import AntivirusConfig

    with pytest.raises(ValueError, match="windows_source"):
        AntivirusConfig(windows_source="registry").validate()  # type: ignore[arg-type]


def test_the_source_line_is_absent_where_there_is_no_choice() -> None:
    """Linux results carry no source: check prints no such line for them."""
    from fleetwatch_agent.probes.antivirus.model import AntivirusResult

    assert not any(
        "read through" in line for line in summary.lines(AntivirusResult((), "not_installed"), NOW)
    )
    assert wmi.Source("wmi").describe() == "WMI, in-process"
