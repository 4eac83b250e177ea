"""Helpers of the Windows antivirus tests: recorded PowerShell output, a collector with a fake runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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
