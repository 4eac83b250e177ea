"""Microsoft Defender from Get-MpComputerStatus, merged with its Security Center registration."""

from __future__ import annotations

from dataclasses import dataclass

from fleetwatch_agent.probes.antivirus.model import ProductStatus, classify, signature_date, skew_note
from fleetwatch_agent.probes.antivirus.windows_parse import (
    DEFENDER_NAME,
    DEFENDER_VENDOR,
    SecurityCenterProduct,
    age_days,
    bool_value,
    date_ms,
    json_records,
    never_age,
    never_date,
    str_value,
)

DEFENDER_STATUS_COMMAND = "Get-MpComputerStatus"
_DAY = 86_400
# AMRunningMode of a Defender that protects in real time; every other mode ("Passive Mode",
# "SxS Passive Mode", "EDR Block Mode", "Not running", ...) does not.
NORMAL_MODE = "normal"
# A signature version that means the signatures were never updated.
_NEVER_VERSIONS = frozenset({"0.0.0.0", "0.0.0"})


@dataclass(frozen=True)
class DefenderStatus:
    am_service_enabled: bool | None
    antivirus_enabled: bool | None
    realtime_enabled: bool | None
    product_version: str = ""
    engine_version: str = ""
    signature_version: str = ""
    signature_updated_ms: int | None = None
    signature_age_days: int | None = None
    quick_scan_age_days: int | None = None
    full_scan_age_days: int | None = None
    quick_scan_end_ms: int | None = None
    full_scan_end_ms: int | None = None
    running_mode: str = ""  # AMRunningMode: "Normal", "Passive Mode", ... ("" when not reported)
    signatures_never_updated: bool = False  # a "never" date, age or version, and no real date


def parse_defender_status(text: str | None) -> DefenderStatus | None:
    """Get-MpComputerStatus's fields; None for empty output."""
    items = json_records(text, DEFENDER_STATUS_COMMAND)
    if not items:
        return None
    item = items[0]
    updated = item.get("AntivirusSignatureLastUpdated")
    age = item.get("AntivirusSignatureAge")
    version = str_value(item.get("AntivirusSignatureVersion"))
    real_date = date_ms(updated) is not None or age_days(age) is not None
    sentinel = never_date(updated) or never_age(age) or version in _NEVER_VERSIONS
    return DefenderStatus(
        am_service_enabled=bool_value(item.get("AMServiceEnabled")),
        antivirus_enabled=bool_value(item.get("AntivirusEnabled")),
        realtime_enabled=bool_value(item.get("RealTimeProtectionEnabled")),
        product_version=str_value(item.get("AMProductVersion")),
        engine_version=str_value(item.get("AMEngineVersion")),
        signature_version=version,
        signature_updated_ms=date_ms(updated),
        signature_age_days=age_days(age),
        quick_scan_age_days=age_days(item.get("QuickScanAge")),
        full_scan_age_days=age_days(item.get("FullScanAge")),
        quick_scan_end_ms=date_ms(item.get("QuickScanEndTime")),
        full_scan_end_ms=date_ms(item.get("FullScanEndTime")),
        running_mode=str_value(item.get("AMRunningMode")),
        signatures_never_updated=sentinel and not real_date,
    )


def _unix(ms: int | None, age: int | None, now: float) -> int:
    """Seconds of a date, else estimated from an age in days, else 0 (never or unknown)."""
    if ms is not None:
        return ms // 1000
    if age is not None:
        return int(now) - age * _DAY
    return 0


def _realtime(status: DefenderStatus, notes: list[str]) -> bool | None:
    """Real-time protection from the three flags and the running mode (None: a flag is missing)."""
    flags = {
        "AMServiceEnabled": status.am_service_enabled,
        "AntivirusEnabled": status.antivirus_enabled,
        "RealTimeProtectionEnabled": status.realtime_enabled,
    }
    realtime: bool | None = True
    off = [name for name, flag in flags.items() if flag is False]
    if off:
        realtime = False
        notes.append(f"{', '.join(off)} false")
    elif None in flags.values():
        realtime = None
        notes.append(f"{', '.join(n for n, f in flags.items() if f is None)} missing")
    mode = " ".join(status.running_mode.split()).lower()
    if mode and mode != NORMAL_MODE:
        realtime = False
        notes.append(f"running mode {status.running_mode!r}: not normal active protection")
    elif not mode:
        notes.append("running mode not reported")
    return realtime


def defender_status(
    status: DefenderStatus,
    registered: SecurityCenterProduct | None,
    *,
    now: float,
    outdated_after_seconds: float,
) -> ProductStatus:
    """Defender from Get-MpComputerStatus, merged with its Security Center entry when there is one.

    Real-time protection needs AMServiceEnabled, AntivirusEnabled and RealTimeProtectionEnabled and
    the running mode "Normal"; any flag false, another mode, or Security Center saying off/snoozed
    makes it off. ``centrally_managed`` stays False: none of these fields tells a policy-set
    (Intune, GPO, Configuration Manager) Defender from a locally set one reliably.
    """
    notes: list[str] = []
    realtime = _realtime(status, notes)
    wsc = registered.state if registered is not None and registered.state.understood else None
    if wsc is not None:
        if realtime is None and wsc.scanner == "on":
            realtime = True
            notes.append("Security Center reports it on")
        elif wsc.scanner in ("off", "snoozed"):
            realtime = False
            notes.append(f"Security Center reports it {wsc.scanner}")
        if wsc.definitions_out_of_date:
            notes.append("Security Center flags definitions out of date")
    elif registered is not None:
        notes.append(f"Security Center: {registered.state.problem()}")
    read_unix = _unix(status.signature_updated_ms, status.signature_age_days, now)
    never = status.signatures_never_updated and read_unix <= 0
    if never:
        notes.append("signatures never updated")
    elif status.signature_updated_ms is None:
        notes.append(
            "signature date unknown"
            if status.signature_age_days is None
            else f"signature date from AntivirusSignatureAge ({status.signature_age_days} days)"
        )
    signature_unix, skew = signature_date(read_unix, now)
    if skew:
        notes.append(skew_note(read_unix, skew))
    state = classify(
        realtime_protection=realtime,
        signature_updated_unix=read_unix,
        now_unix=now,
        outdated_after_seconds=outdated_after_seconds,
        flagged_outdated=wsc is not None and wsc.definitions_out_of_date,
        expired=wsc is not None and wsc.scanner == "expired",
        never_updated=never,
    )
    protection = {True: "on", False: "off", None: "unknown"}[realtime]
    return ProductStatus(
        name=DEFENDER_NAME,
        vendor=DEFENDER_VENDOR,
        product_version=status.product_version,
        engine_version=status.engine_version,
        signature_version=status.signature_version,
        signature_updated_unix=signature_unix,
        realtime_protection=realtime is True,
        last_quick_scan_unix=_unix(status.quick_scan_end_ms, status.quick_scan_age_days, now),
        last_full_scan_unix=_unix(status.full_scan_end_ms, status.full_scan_age_days, now),
        state=state,
        on_access_scanning=realtime is True,
        detail="; ".join([f"real-time protection {protection}", *notes]),
        signature_clock_skew_seconds=skew,
    )
