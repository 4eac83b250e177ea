"""The antivirus probe on the wire: the Antivirus section and one ThreatDetected event per detection."""

from __future__ import annotations

from typing import cast

from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.wiretext import text
from fleetwatch_proto.names import ANTIVIRUS_STATE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def to_wire(result: AntivirusResult, report: pb.Report) -> None:
    """Fill report.antivirus; a detection without its own time gets the report's."""
    section = report.antivirus
    section.SetInParent()  # present even when empty: the probe ran
    section.host_state = cast("pb.AntivirusState", ANTIVIRUS_STATE.number(result.host_state))
    section.error = text(result.error)
    for p in result.products:
        section.products.add(
            name=text(p.name),
            vendor=text(p.vendor),
            product_version=text(p.product_version),
            engine_version=text(p.engine_version),
            signature_version=text(p.signature_version),
            signature_updated_unix=p.signature_updated_unix,
            realtime_protection=p.realtime_protection,
            last_quick_scan_unix=p.last_quick_scan_unix,
            last_full_scan_unix=p.last_full_scan_unix,
            state=ANTIVIRUS_STATE.number(p.state),
            centrally_managed=p.centrally_managed,
            on_access_scanning=p.on_access_scanning,
            detail=text(p.detail),
            signature_clock_skew_seconds=p.signature_clock_skew_seconds,
        )
    for detection in result.detections:
        report.events.add(
            time_unix_ms=detection.time_unix_ms or report.collected_unix_ms,
            threat=pb.ThreatDetected(
                product=text(detection.product),
                threat=text(detection.threat),
                path=text(detection.path),
                action=text(detection.action),
            ),
        )
