"""The antivirus probe on Windows: Security Center, Defender and services, through WMI or PowerShell."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from dataclasses import replace

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus import windows_detections as wd
from fleetwatch_agent.probes.antivirus import windows_parse as wp
from fleetwatch_agent.probes.antivirus import windows_wmi as wmi
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, Detection, host_state
from fleetwatch_agent.probes.antivirus.windows_defender import DEFENDER_STATUS_COMMAND, parse_defender_status
from fleetwatch_agent.probes.antivirus.windows_parse import Part
from fleetwatch_agent.probes.antivirus.windows_products import Readings, products
from fleetwatch_agent.probes.antivirus.windows_registrations import PathCheck, file_state
from fleetwatch_agent.probes.antivirus.windows_services import SERVICES_COMMAND, parse_services, wql_filter
from fleetwatch_agent.probes.antivirus.windows_text import decode, nfc, oem_code_page
from fleetwatch_agent.probes.antivirus.windows_wmi_values import error_text
from fleetwatch_agent.probes.context import ProbeContext

log = logging.getLogger(__name__)

# The same five reads come from WMI in-process (windows_wmi, the default) or from PowerShell; the choice
# is made once when the probe starts (windows_wmi.choose_source) and every result names it.
#
# One ``powershell -NoProfile -NonInteractive -Command <script>`` per collection (each start costs
# about 300 ms) runs the five commands below, each in its own try/catch, and prints one JSON object:
# ``{"security_center": "<that command's JSON>", "security_center_error": "<id>: <message>", ...}``.
# Each part is the exact text the command alone prints, so the single-command parsers of
# ``windows_parse`` read it. The script is passed as plain text, not ``-EncodedCommand``: endpoint
# products flag encoded PowerShell as suspicious.
#
# Errors carry PowerShell's FullyQualifiedErrorId, which is not translated, so "no Security Center"
# (Windows Server) and "no Defender module" are recognised on any display language. The object is
# written with every non-ASCII character escaped (``\\u1ec7``), so no console code page can damage a
# Vietnamese name; the bytes are still decoded whatever their encoding (``windows_text.decode``).

Runner = Callable[
    [str, float], tuple[int, str, str]
]  # (script, timeout seconds) -> (exit code, stdout, stderr)

POWERSHELL = "powershell"  # Windows PowerShell 5.1, present on every supported Windows
# The script gets this share of the probe's timeout, so that its own timeout (which kills
# PowerShell and says so) fires before the runner abandons the collection.
SCRIPT_SHARE_OF_TIMEOUT = 0.9

SECURITY_CENTER = (
    "Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct"
    " | Select-Object displayName,instanceGuid,pathToSignedProductExe,pathToSignedReportingExe,"
    "productState,timestamp | ConvertTo-Json -Compress"
)
# AMRunningMode is read too: in passive mode Defender does not protect in real time.
DEFENDER_STATUS = (
    "Get-MpComputerStatus | Select-Object AMServiceEnabled,AntivirusEnabled,RealTimeProtectionEnabled,"
    "AMProductVersion,AMEngineVersion,AntivirusSignatureVersion,AntivirusSignatureLastUpdated,"
    "AntivirusSignatureAge,QuickScanAge,FullScanAge,QuickScanEndTime,FullScanEndTime,AMRunningMode"
    " | ConvertTo-Json -Compress"
)
DETECTIONS = (
    "Get-MpThreatDetection | Select-Object DetectionID,ThreatID,InitialDetectionTime,"
    "LastThreatStatusChangeTime,ActionSuccess,Resources,ThreatStatusID | ConvertTo-Json -Compress -Depth 4"
)
THREATS = "Get-MpThreat | Select-Object ThreatID,ThreatName | ConvertTo-Json -Compress"
# The services of the third-party products of windows_services.SERVICE_PRODUCTS (WQL quotes doubled
# inside the script's single-quoted string).
SERVICES = (
    "Get-CimInstance -ClassName Win32_Service -Filter '" + wql_filter().replace("'", "''") + "'"
    " | Select-Object Name,DisplayName,State,StartMode,PathName | ConvertTo-Json -Compress"
)
PARTS = {
    "security_center": SECURITY_CENTER,
    "defender_status": DEFENDER_STATUS,
    "detections": DETECTIONS,
    "threats": THREATS,
    "services": SERVICES,
}
# The last statement: the object as JSON, every non-ASCII UTF-16 unit escaped as \uXXXX.
ASCII_JSON = (
    r"[regex]::Replace(($r | ConvertTo-Json -Compress), '[^\x00-\x7F]', "
    r"{ param($m) '\u{0:x4}' -f [int][char]$m.Value })"
)


def collection_script() -> str:
    """One line, single quotes only, so it survives Windows command-line quoting unchanged."""
    statements = [
        "$ErrorActionPreference = 'Stop'",
        "$ProgressPreference = 'SilentlyContinue'",
        # Without a console (a service) setting the encoding throws; output then stays in the code page.
        "try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }",
        "$r = [ordered]@{}",
    ]
    statements += [
        f"try {{ $r.{key} = [string]({command}) }} "
        f"catch {{ $r.{key}_error = [string]$_.FullyQualifiedErrorId + ': ' + $_.Exception.Message }}"
        for key, command in PARTS.items()
    ]
    statements.append(ASCII_JSON)
    return "; ".join(statements)


SCRIPT = collection_script()


def run_powershell(script: str, timeout: float) -> tuple[int, str, str]:
    """Run ``script`` in Windows PowerShell; raises FileNotFoundError or subprocess.TimeoutExpired."""
    completed = subprocess.run(
        [POWERSHELL, "-NoProfile", "-NonInteractive", "-Command", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
    )
    code_page = oem_code_page()
    return completed.returncode, decode(completed.stdout, code_page), decode(completed.stderr, code_page)


def parse_script_output(stdout: str) -> dict[str, Part]:
    """The script's JSON object split into its parts; raises wp.ParseError when it is not one."""
    text = stdout.strip().lstrip("\ufeff")
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise wp.ParseError(f"collection script: output is not a JSON object: {wp.one_line(stdout, 80)!r}")

    def string(key: str) -> str | None:
        value = data.get(key)
        return nfc(value) if isinstance(value, str) else None

    return {key: Part(string(key), string(f"{key}_error")) for key in PARTS}


def unknown(error: str) -> AntivirusResult:
    return AntivirusResult(products=(), host_state="unknown", error=error)


def build_result(
    exit_code: int,
    stdout: str,
    stderr: str,
    *,
    committed_cursor: str | None,
    now: float,
    outdated_after_seconds: float,
    path_exists: PathCheck = lambda path: None,
) -> AntivirusResult:
    """The probe's result from one run of the script (pure: everything it needs is passed in)."""
    try:
        parts = parse_script_output(stdout)
    except wp.ParseError as exc:
        if exit_code != 0:
            return unknown(f"powershell exited with code {exit_code}: {wp.one_line(stderr, 150)}")
        return unknown(str(exc))
    return result_from_parts(
        parts,
        committed_cursor=committed_cursor,
        now=now,
        outdated_after_seconds=outdated_after_seconds,
        path_exists=path_exists,
    )


def result_from_parts(
    parts: dict[str, Part],
    *,
    committed_cursor: str | None,
    now: float,
    outdated_after_seconds: float,
    path_exists: PathCheck = lambda path: None,
) -> AntivirusResult:
    """The probe's result from the five reads, whichever source gave them (pure)."""
    errors: list[str] = []  # unexpected failures, reported in the result's error

    registered: tuple[wp.SecurityCenterProduct, ...] = ()
    wsc = parts["security_center"]
    if wsc.error is not None:
        if not wp.security_center_missing(wsc.error):  # Windows Server has no Security Center
            errors.append(f"{wp.SECURITY_CENTER_COMMAND}: {wp.one_line(wsc.error)}")
    else:
        try:
            registered = wp.parse_security_center(wsc.output)
        except wp.ParseError as exc:
            errors.append(str(exc))

    status = None
    status_error = ""
    mp = parts["defender_status"]
    if mp.error is not None:
        if not wp.product_missing(mp.error):  # no Defender module or namespace: not installed
            status_error = f"{DEFENDER_STATUS_COMMAND}: {wp.one_line(mp.error)}"
    else:
        try:
            status = parse_defender_status(mp.output)
        except wp.ParseError as exc:
            status_error = str(exc)
            errors.append(status_error)  # garbage is never expected
    if status_error and not any(p.is_defender for p in registered) and status_error not in errors:
        errors.append(status_error)  # no Security Center view of Defender to fall back on

    services = None
    listed = parts["services"]
    if listed.error is not None:
        errors.append(f"{SERVICES_COMMAND}: {wp.one_line(listed.error)}")
    elif listed.output is not None:
        try:
            services = parse_services(listed.output)
        except wp.ParseError as exc:
            errors.append(str(exc))

    readings = Readings(registered, status, status_error, services)
    found = products(
        readings, path_exists=path_exists, now=now, outdated_after_seconds=outdated_after_seconds
    )
    # With Defender's status unreadable (its service stopped), failing detections say nothing new.
    defender_down = mp.error is not None
    detections, cursors, detection_errors = _detections(parts, committed_cursor, quiet=defender_down)
    errors += detection_errors
    state = host_state(found)
    if state == "not_installed" and errors:
        state = "unknown"  # nothing found, but something could not be read
    return AntivirusResult(
        products=found,
        host_state=state,
        detections=detections,
        error="; ".join(errors),
        cursors=cursors,
    )


def _detections(
    parts: dict[str, Part], committed_cursor: str | None, *, quiet: bool
) -> tuple[tuple[Detection, ...], dict[str, str], list[str]]:
    """New Defender detections and the cursor recording them; no cursor when they could not be read."""
    part = parts["detections"]
    if part.error is not None:
        if quiet or wp.product_missing(part.error):
            return (), {}, []
        return (), {}, [f"{wd.DETECTIONS_COMMAND}: {wp.one_line(part.error)}"]
    try:
        listed = wd.parse_detections(part.output)
    except wp.ParseError as exc:
        return (), {}, [str(exc)]
    batch, cursor = wd.new_detections(listed, wd.decode_cursor(committed_cursor))
    names: dict[int, str] = {}
    errors: list[str] = []
    threats = parts["threats"]
    if batch and threats.error is None:
        try:
            names = wd.parse_threat_names(threats.output)
        except wp.ParseError as exc:
            errors.append(str(exc))  # the detections still count, named by ThreatID
    return tuple(wd.to_detection(d, names) for d in batch), {wd.DETECTIONS_CURSOR: cursor.encode()}, errors


def make_collector(
    config: AntivirusConfig,
    context: ProbeContext,
    run: Runner = run_powershell,
    path_exists: PathCheck = file_state,
    open_wmi: Callable[[], wmi.Wmi | str] = wmi.open_system_wmi,
) -> Callable[[], AntivirusResult]:
    """The collect function, reading through the source chosen now (``config.windows_source``).

    ``open_wmi`` reaches WMI, ``run`` executes a PowerShell script, ``path_exists`` checks a program.
    """
    timeout = config.timeout_seconds * SCRIPT_SHARE_OF_TIMEOUT
    outdated_after_seconds = config.outdated_after_days * 86_400
    source = wmi.choose_source(config.windows_source, open_wmi)
    log.info("antivirus: Security Center, Defender and services read through %s", source.describe())

    def through_powershell(now: float) -> AntivirusResult:
        try:
            exit_code, stdout, stderr = run(SCRIPT, timeout)
        except FileNotFoundError:
            return unknown("powershell not found")
        except subprocess.TimeoutExpired:
            return unknown("powershell timed out")
        except OSError as exc:
            return unknown(f"powershell could not start: {wp.one_line(str(exc))}")
        return build_result(
            exit_code,
            stdout,
            stderr,
            committed_cursor=context.cursors.get(wd.DETECTIONS_CURSOR),
            now=now,
            outdated_after_seconds=outdated_after_seconds,
            path_exists=path_exists,
        )

    def through_wmi(access: wmi.Wmi, now: float) -> AntivirusResult:
        # Each query's own failure is its part's error; what raises here is COM refusing this thread.
        try:
            parts = access.read()
        except Exception as exc:
            return unknown(f"WMI: {error_text(exc)}")
        return result_from_parts(
            parts,
            committed_cursor=context.cursors.get(wd.DETECTIONS_CURSOR),
            now=now,
            outdated_after_seconds=outdated_after_seconds,
            path_exists=path_exists,
        )

    def collect() -> AntivirusResult:
        now = context.clock()
        if source.wmi is not None:
            result = through_wmi(source.wmi, now)
        elif source.name == "wmi":
            result = unknown(source.note)
        else:
            result = through_powershell(now)
        return replace(result, source=source.name, source_note=source.note)

    return collect
