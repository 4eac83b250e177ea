"""Helpers of the Windows antivirus tests: recorded PowerShell output, a collector with a fake runner."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import _windows as win
from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, ProductStatus
from fleetwatch_agent.probes.antivirus.windows_defender import defender_status, parse_defender_status
from fleetwatch_agent.probes.antivirus.windows_registrations import PathCheck, expand
from fleetwatch_agent.probes.context import ProbeContext

FIXTURES = Path(__file__).parent / "fixtures" / "windows"
SIGNATURES_MS = 1_700_000_000_000  # AntivirusSignatureLastUpdated of defender_status.*
NOW = SIGNATURES_MS / 1000 + 3600  # one hour after the signature update
DAY = 86_400
OUTDATED_AFTER = 3 * DAY
CURSOR = wd.DETECTIONS_CURSOR
# The environment of the recorded hosts (64-bit Windows, English folder names).
WINDOWS_ENV = {
    "ProgramFiles": r"C:\Program Files",
    "ProgramW6432": r"C:\Program Files",
    "ProgramFiles(x86)": r"C:\Program Files (x86)",
    "windir": r"C:\Windows",
}

ACCESS_DENIED = (
    "HRESULT 0x80041003,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand: Access denied"
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def present_files(name: str) -> frozenset[str] | None:
    """The programs present on the host a script recording was made on (``<stem>.files.txt``)."""
    sidecar = FIXTURES / f"{name.split('.', maxsplit=1)[0]}.files.txt"
    if not sidecar.exists():
        return None
    return frozenset(line for line in sidecar.read_text(encoding="utf-8").splitlines() if line)


def files_check(present: Iterable[str] | None) -> PathCheck:
    """A path check answering from a list of present programs (None: every program is present)."""
    known = None if present is None else {(expand(p, WINDOWS_ENV) or p).lower() for p in present}

    def check(path: str) -> bool | None:
        expanded = expand(path, WINDOWS_ENV)
        if expanded is None or expanded[1:3] != ":\\":
            return None  # not a file path, as the real check says
        return known is None or expanded.lower() in known

    return check


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
    present: Iterable[str] | None = None,
) -> Callable[[], AntivirusResult]:
    def run(script: str, timeout: float) -> tuple[int, str, str]:
        if calls is not None:
            calls.append((script, timeout))
        return exit_code, stdout() if callable(stdout) else stdout, stderr

    context = ProbeContext(
        data_dir=Path("."), cursors=cursors if cursors is not None else {}, clock=lambda: now
    )
    return win.make_collector(AntivirusConfig(), context, run=run, path_exists=files_check(present))


def recorded(name: str, *, now: float = NOW) -> AntivirusResult:
    """One collection of a recorded script output, on the recorded host's files."""
    return collector(fixture(name), now=now, present=present_files(name))()


def by_name(result: AntivirusResult) -> dict[str, ProductStatus]:
    return {p.name: p for p in result.products}


def security_center_status(state: object, name: str = "Some AV") -> ProductStatus:
    text = json.dumps({"displayName": name, "instanceGuid": "{0}", "productState": state})
    (product,) = wp.parse_security_center(text)
    return wp.security_center_status(product, now=NOW, outdated_after_seconds=OUTDATED_AFTER)


def defender(name_or_text: str, *, now: float = NOW, registered: int | None = None) -> ProductStatus:
    """Defender's record from a Get-MpComputerStatus recording (a fixture name or the text itself)."""
    text = fixture(name_or_text) if name_or_text.endswith(".json") else name_or_text
    status = parse_defender_status(text)
    assert status is not None
    entry = None
    if registered is not None:
        entry = wp.SecurityCenterProduct(
            "Windows Defender", wp.DEFENDER_GUID, "windowsdefender://", wp.decode_product_state(registered)
        )
    return defender_status(status, entry, now=now, outdated_after_seconds=OUTDATED_AFTER)
