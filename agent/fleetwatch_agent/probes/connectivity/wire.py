"""The connectivity probe on the wire: the Connectivity section, Outage and DeviceSeen events."""

from __future__ import annotations

from fleetwatch_agent.probes.connectivity.model import ConnectivityResult
from fleetwatch_agent.wiretext import text
from fleetwatch_proto.names import PROBE_ERROR, PROBE_KIND
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def to_wire(result: ConnectivityResult, report: pb.Report) -> None:
    """Fill report.connectivity; new LAN devices are events at the report's time, outages at their end."""
    section = report.connectivity
    section.SetInParent()  # present even when empty: the probe ran
    section.checks_cut = result.checks_cut
    section.overruns_total = result.overruns_total
    if result.lan is not None:
        section.lan_swept = True
        section.lan_devices = result.lan.devices
        section.lan_error = text(result.lan.error)
    for status in result.targets:
        r = status.result
        target = section.targets.add(
            name=text(status.name),
            kind=PROBE_KIND.number(status.kind),
            role=status.role,
            success=r.success,
            sent=r.sent,
            received=r.received,
            rtt_min_seconds=r.rtt_min_seconds,
            rtt_avg_seconds=r.rtt_avg_seconds,
            rtt_max_seconds=r.rtt_max_seconds,
            jitter_seconds=r.jitter_seconds,
            error=PROBE_ERROR.number(r.error),
            http_status=r.http_status,
            detail=text(r.detail),
        )
        if r.address:
            target.address = text(r.address)
        if r.tls_cert_not_after_unix is not None:  # the deprecated tls_cert_days_left stays unset
            target.tls_cert_not_after_unix = r.tls_cert_not_after_unix
        if status.path is not None:
            target.path_diagnosed = True
            target.path_hops = status.path.hops
            target.path_last_hop = text(status.path.last_hop)
            target.path_reached = status.path.reached
    if result.lan is not None:
        for mac, ip in result.lan.new:
            report.events.add(
                time_unix_ms=report.collected_unix_ms, device_seen=pb.DeviceSeen(mac=text(mac), ip=text(ip))
            )
    for outage in result.outages:
        report.events.add(
            time_unix_ms=outage.end_unix_ms,
            outage=pb.Outage(
                target=outage.target, start_unix_ms=outage.start_unix_ms, end_unix_ms=outage.end_unix_ms
            ),
        )
