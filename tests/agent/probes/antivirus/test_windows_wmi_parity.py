"""Parity: a host read through WMI gives the very records its PowerShell recording gives."""

# Each WMI recording (fixtures/windows/wmi_*.json, recorded by hand from the documented classes) holds the
# same host as a PowerShell recording (its "same_host_as"): the same products, dates in CIM_DATETIME instead
# of "\/Date(ms)\/", 64-bit ThreatIDs as strings, Windows Server without SecurityCenter2 (0x8004100E from
# WMI, "HRESULT 0x8004100e" from PowerShell), a Server without Defender (no namespace against no cmdlet).
# Only what the result says of its source may differ.

from __future__ import annotations

import dataclasses

import pytest

from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from tests.agent.probes.antivirus.windows_support import collector, fixture, present_files
from tests.agent.probes.antivirus.wmi_support import FakeWmi, recording, wmi_collector

BEFORE_THE_DETECTIONS = wd.DetectionCursor(floor_ms=1_699_980_000_000).encode()
PAIRS = [
    "wmi_client.json",
    "wmi_kaspersky_removed_defender_passive.json",
    "wmi_server_trend_leftover.json",
    "wmi_server_kaspersky.json",
]


def records(result: AntivirusResult) -> AntivirusResult:
    return dataclasses.replace(result, source="", source_note="")


@pytest.mark.parametrize(
    "cursors", [{}, {wd.DETECTIONS_CURSOR: BEFORE_THE_DETECTIONS}], ids=["first", "next"]
)
@pytest.mark.parametrize("name", PAIRS)
def test_wmi_and_powershell_give_equal_records(name: str, cursors: dict[str, str]) -> None:
    recorded = recording(name)
    same_host = recorded["same_host_as"]
    present = present_files(same_host)
    through_wmi = wmi_collector(FakeWmi(recorded), cursors=dict(cursors), present=present)()
    through_powershell = collector(fixture(same_host), cursors=dict(cursors), present=present)()
    assert records(through_wmi) == records(through_powershell)
    assert (through_wmi.source, through_powershell.source) == ("wmi", "powershell")
    assert through_wmi.products, "a pair without products would prove little"


def test_the_pairs_cover_detections_server_editions_and_passive_mode() -> None:
    """What the parity above is worth: the recordings hold detections, Server editions, passive mode."""
    client = wmi_collector(
        FakeWmi(recording("wmi_client.json")), cursors={wd.DETECTIONS_CURSOR: BEFORE_THE_DETECTIONS}
    )()
    assert len(client.detections) == 2
    passive = wmi_collector(FakeWmi(recording("wmi_kaspersky_removed_defender_passive.json")))()
    assert "Passive Mode" in passive.products[0].detail
    for server in ("wmi_server_trend_leftover.json", "wmi_server_kaspersky.json"):
        assert "root\\SecurityCenter2" not in recording(server)["namespaces"]
    assert "root\\Microsoft\\Windows\\Defender" not in recording("wmi_server_kaspersky.json")["namespaces"]
