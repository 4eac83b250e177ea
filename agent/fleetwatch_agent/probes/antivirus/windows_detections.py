"""Pure parsing of Defender detections and the cursor that makes each one reported exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fleetwatch_agent.probes.antivirus.model import Detection
from fleetwatch_agent.probes.antivirus.windows_parse import (
    DEFENDER_NAME,
    as_list,
    bool_value,
    date_ms,
    int_value,
    json_records,
    str_value,
)
from fleetwatch_agent.probes.antivirus.windows_text import nfc

DETECTIONS_COMMAND = "Get-MpThreatDetection"
THREATS_COMMAND = "Get-MpThreat"

# ThreatStatusID -> action word, after MPTHREAT_STATUS in MpClient.h
# (https://learn.microsoft.com/windows/win32/lwef/mpthreat-status), which the WMI class
# MSFT_MpThreatDetection reports as ThreatStatusID.
THREAT_STATUS_ACTIONS: Mapping[int, str] = {
    0: "unknown",
    1: "detected",
    2: "cleaned",
    3: "quarantined",
    4: "removed",
    5: "allowed",
    6: "blocked",
    102: "clean_failed",
    103: "quarantine_failed",
    104: "remove_failed",
    105: "allow_failed",
    106: "abandoned",
    107: "block_failed",
}
# A remediation the status claims but ActionSuccess denies is reported as failed.
_FAILED_ACTIONS: Mapping[int, str] = {
    2: "clean_failed",
    3: "quarantine_failed",
    4: "remove_failed",
    6: "block_failed",
}


def action_word(status_id: int | None, action_success: bool | None) -> str:
    if status_id is None:
        return "unknown"
    if action_success is False and status_id in _FAILED_ACTIONS:
        return _FAILED_ACTIONS[status_id]
    return THREAT_STATUS_ACTIONS.get(status_id, f"status_{status_id}")


@dataclass(frozen=True)
class DefenderDetection:
    detection_id: str
    time_ms: int  # InitialDetectionTime (LastThreatStatusChangeTime when it is missing)
    threat_id: int | None
    status_id: int | None
    action_success: bool | None
    resources: tuple[str, ...]


def parse_detections(text: str | None) -> tuple[DefenderDetection, ...]:
    """Get-MpThreatDetection's records; those without an id or a date are left out (no cursor fits them)."""
    detections = []
    for item in json_records(text, DETECTIONS_COMMAND):
        detection_id = str_value(item.get("DetectionID"))
        time_ms = date_ms(item.get("InitialDetectionTime")) or date_ms(item.get("LastThreatStatusChangeTime"))
        if not detection_id or time_ms is None:
            continue
        detections.append(
            DefenderDetection(
                detection_id=detection_id,
                time_ms=time_ms,
                threat_id=int_value(item.get("ThreatID")),
                status_id=int_value(item.get("ThreatStatusID")),
                action_success=bool_value(item.get("ActionSuccess")),
                resources=tuple(nfc(r) for r in as_list(item.get("Resources")) if isinstance(r, str)),
            )
        )
    return tuple(detections)


def parse_threat_names(text: str | None) -> dict[int, str]:
    """ThreatID -> ThreatName from Get-MpThreat."""
    names = {}
    for item in json_records(text, THREATS_COMMAND):
        threat_id, name = int_value(item.get("ThreatID")), str_value(item.get("ThreatName"))
        if threat_id is not None and name:
            names[threat_id] = name
    return names


def resource_path(resources: Iterable[str]) -> str:
    """The path of the first file resource (``file:_C:\\x``), else of the first resource of any kind."""
    stripped = [(kind.lower(), rest) for kind, sep, rest in (r.partition(":_") for r in resources) if sep]
    for kind, rest in stripped:
        if kind in ("file", "containerfile"):
            return rest
    return stripped[0][1] if stripped else ""


def to_detection(detection: DefenderDetection, names: Mapping[int, str]) -> Detection:
    threat = "unknown"
    if detection.threat_id is not None:
        threat = names.get(detection.threat_id, f"ThreatID {detection.threat_id}")
    return Detection(
        time_unix_ms=detection.time_ms,
        product=DEFENDER_NAME,
        threat=threat,
        path=resource_path(detection.resources),
        action=action_word(detection.status_id, detection.action_success),
    )


# --- Exactly-once cursor over the detection list ------------------------------------------------------
#
#   time ──────────────────────────────────────────────────────────────────────────────────▶
#   ...reported (or history)... floor_ms │ reported iff DetectionID in `seen` │ newer: new
#
# Detections at or before ``floor_ms`` count as reported. Between the floor and the newest
# reported detection, the DetectionIDs in ``seen`` are the reported ones, so a detection that
# shows up late with an older time (Defender writes a record after remediating) is still
# reported, within ``CURSOR_GRACE_MS`` of the newest one.

DETECTIONS_CURSOR = "windows_defender_detections"
CURSOR_GRACE_MS = 24 * 3600 * 1000
CURSOR_MAX_SEEN = 200  # bounds the cursor to ~12 KB; whole oldest time groups go below the floor
MAX_DETECTIONS_PER_COLLECTION = 100  # the rest wait for the next collection (reports carry <= 256 events)


@dataclass(frozen=True)
class DetectionCursor:
    floor_ms: int = 0
    seen: tuple[tuple[int, str], ...] = ()  # (time ms, DetectionID), sorted

    def ids(self) -> frozenset[str]:
        return frozenset(i for _, i in self.seen)

    def encode(self) -> str:
        return json.dumps(
            {"v": 1, "floor_ms": self.floor_ms, "seen": [list(e) for e in self.seen]}, separators=(",", ":")
        )


def decode_cursor(value: str | None) -> DetectionCursor | None:
    """The committed cursor; None when there is none or it cannot be read (then: start afresh)."""
    if not value:
        return None
    try:
        data = json.loads(value)
        floor_ms, seen = data["floor_ms"], data["seen"]
        if data.get("v") != 1 or int_value(floor_ms) is None:
            return None
        entries = tuple(
            sorted((int(ms), str(i)) for ms, i in seen if int_value(ms) is not None and isinstance(i, str))
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return DetectionCursor(floor_ms=int(floor_ms), seen=entries)


def advance_cursor(
    cursor: DetectionCursor, batch: Iterable[DefenderDetection], *, keep_after_ms: int | None = None
) -> DetectionCursor:
    """The cursor once ``batch`` is reported; the floor never reaches ``keep_after_ms`` (still pending)."""
    entries = {i: ms for ms, i in cursor.seen}
    entries.update((d.detection_id, d.time_ms) for d in batch)
    if not entries:
        return cursor
    floor = max(cursor.floor_ms, max(entries.values()) - CURSOR_GRACE_MS)
    kept = sorted((ms, i) for i, ms in entries.items() if ms > floor)
    while len(kept) > CURSOR_MAX_SEEN and kept[0][0] != kept[-1][0]:  # never drop the newest group
        floor = kept[0][0]
        kept = [e for e in kept if e[0] > floor]
    if keep_after_ms is not None and floor >= keep_after_ms:
        floor = keep_after_ms - 1
        kept = sorted((ms, i) for i, ms in entries.items() if ms > floor)
    return DetectionCursor(floor_ms=floor, seen=tuple(kept))


def new_detections(
    detections: Iterable[DefenderDetection],
    cursor: DetectionCursor | None,
    *,
    limit: int = MAX_DETECTIONS_PER_COLLECTION,
) -> tuple[tuple[DefenderDetection, ...], DetectionCursor]:
    """The detections to report now and the cursor that records them.

    Without a cursor (first run, or one that cannot be read) history is not reported: every
    listed detection is taken as already reported, so only later ones ever are.
    """
    listed = {d.detection_id: d for d in detections}  # a record listed twice is one detection
    if cursor is None:
        return (), advance_cursor(DetectionCursor(), listed.values())
    seen = cursor.ids()
    fresh = sorted(
        (d for d in listed.values() if d.time_ms > cursor.floor_ms and d.detection_id not in seen),
        key=lambda d: (d.time_ms, d.detection_id),
    )
    batch, pending = fresh[:limit], fresh[limit:]
    keep_after = min(d.time_ms for d in pending) if pending else None
    return tuple(batch), advance_cursor(cursor, batch, keep_after_ms=keep_after)
