"""Converts probe results to wire messages: the only agent module besides transport that knows protobuf."""

from __future__ import annotations

import re

from fleetwatch_agent.hostfacts import HostFacts
from fleetwatch_agent.probes.antivirus.model import AntivirusResult
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult
from fleetwatch_agent.probes.resources import ResourcesSample
from fleetwatch_agent.report import CycleReport, Location
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

SITE_TYPES = {
    "department": pb.SITE_TYPE_DEPARTMENT,
    "district": pb.SITE_TYPE_DISTRICT,
    "commune": pb.SITE_TYPE_COMMUNE,
}
SITE_TYPE_NAMES = {number: name for name, number in SITE_TYPES.items()}
MAX_TEXT_BYTES = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOT_HOSTNAME = re.compile(r"[^A-Za-z0-9._-]")


def text(value: str) -> str:
    """A text field the collector accepts: no control characters, at most 256 bytes of UTF-8."""
    # errors="replace": names the OS gave as undecodable bytes (surrogates) become "?".
    encoded = _CONTROL.sub("?", value).encode("utf-8", errors="replace")
    return encoded[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


def hostname(value: str) -> str:
    """A hostname the collector accepts: RFC 1123 characters, no leading dot or dash."""
    cleaned = _NOT_HOSTNAME.sub("-", value).lstrip(".-")[:253]
    return cleaned or "unknown"


def host_info(facts: HostFacts, location: Location, agent_version: str) -> pb.HostInfo:
    return pb.HostInfo(
        hostname=hostname(facts.hostname),
        os_family=text(facts.os_family),
        os_name=text(facts.os_name),
        os_version=text(facts.os_version),
        kernel=text(facts.kernel),
        arch=text(facts.arch),
        agent_version=agent_version,
        cpu_count=facts.cpu_count,
        memory_total_bytes=facts.memory_total_bytes,
        boot_time_unix=facts.boot_time_unix,
        site=location.site,
        district=location.district,
        site_type=SITE_TYPES.get(location.site_type, pb.SITE_TYPE_UNSPECIFIED),
        site_name=text(location.site_name),
    )


def resources(sample: ResourcesSample) -> pb.Resources:
    message = pb.Resources(
        cpu_utilization_ratio=sample.cpu_utilization_ratio,
        cpu_count=sample.cpu_count,
        memory_total_bytes=sample.memory_total_bytes,
        memory_available_bytes=sample.memory_available_bytes,
        swap_total_bytes=sample.swap_total_bytes,
        swap_used_bytes=sample.swap_used_bytes,
        boot_time_unix=sample.boot_time_unix,
        process_count=sample.process_count,
    )
    if sample.load is not None:
        message.load.load1, message.load.load5, message.load.load15 = sample.load
    for fs in sample.filesystems:
        message.filesystems.add(
            mountpoint=text(fs.mountpoint),
            device=text(fs.device),
            fstype=text(fs.fstype),
            size_bytes=fs.size_bytes,
            used_bytes=fs.used_bytes,
            free_bytes=fs.free_bytes,
            has_inodes=fs.inodes_total is not None,
            inodes_total=fs.inodes_total or 0,
            inodes_free=fs.inodes_free or 0,
        )
    for nic in sample.interfaces:
        message.interfaces.add(
            name=text(nic.name),
            up=nic.up,
            speed_bits_per_second=nic.speed_bits_per_second,
            receive_bytes=nic.receive_bytes,
            transmit_bytes=nic.transmit_bytes,
            receive_packets=nic.receive_packets,
            transmit_packets=nic.transmit_packets,
            receive_errors=nic.receive_errors,
            transmit_errors=nic.transmit_errors,
            receive_drops=nic.receive_drops,
            transmit_drops=nic.transmit_drops,
        )
    return message


def report(cycle: CycleReport) -> pb.Report:
    """The wire message of one cycle."""
    message = pb.Report(
        seq=cycle.seq,
        collected_unix_ms=cycle.collected_unix_ms,
        interval_seconds=round(cycle.interval_seconds),
        host=host_info(cycle.host, cycle.location, cycle.agent_version),
    )
    for outcome in cycle.outcomes:
        message.probes.add(
            name=outcome.name,
            success=outcome.success,
            duration_seconds=outcome.duration_seconds,
            error=text(outcome.error),
        )
    sample = cycle.results.get("resources")
    if isinstance(sample, ResourcesSample):
        message.resources.CopyFrom(resources(sample))
    conn = cycle.results.get("connectivity")
    if isinstance(conn, ConnectivityResult):
        message.connectivity.CopyFrom(connectivity(conn))
        if conn.lan is not None:
            for mac, ip in conn.lan.new:
                message.events.add(
                    time_unix_ms=cycle.collected_unix_ms,
                    device_seen=pb.DeviceSeen(mac=text(mac), ip=text(ip)),
                )
        for outage in conn.outages:
            message.events.add(
                time_unix_ms=outage.end_unix_ms,
                outage=pb.Outage(
                    target=outage.target, start_unix_ms=outage.start_unix_ms, end_unix_ms=outage.end_unix_ms
                ),
            )
    av = cycle.results.get("antivirus")
    if isinstance(av, AntivirusResult):
        message.antivirus.CopyFrom(antivirus(av))
        for detection in av.detections:
            message.events.add(
                time_unix_ms=detection.time_unix_ms or cycle.collected_unix_ms,
                threat=pb.ThreatDetected(
                    product=text(detection.product),
                    threat=text(detection.threat),
                    path=text(detection.path),
                    action=text(detection.action),
                ),
            )
    return message


PROBE_KINDS = {
    "icmp": pb.PROBE_KIND_ICMP,
    "tcp": pb.PROBE_KIND_TCP,
    "dns": pb.PROBE_KIND_DNS,
    "http": pb.PROBE_KIND_HTTP,
}
PROBE_ERRORS = {
    "": pb.PROBE_ERROR_NONE,
    "timeout": pb.PROBE_ERROR_TIMEOUT,
    "refused": pb.PROBE_ERROR_REFUSED,
    "unreachable": pb.PROBE_ERROR_UNREACHABLE,
    "dns_error": pb.PROBE_ERROR_DNS_ERROR,
    "tls_error": pb.PROBE_ERROR_TLS_ERROR,
    "http_status": pb.PROBE_ERROR_HTTP_STATUS,
    "unsupported": pb.PROBE_ERROR_UNSUPPORTED,
    "other": pb.PROBE_ERROR_OTHER,
}


def connectivity(result: ConnectivityResult) -> pb.Connectivity:
    message = pb.Connectivity()
    if result.lan is not None:
        message.lan_swept = True
        message.lan_devices = result.lan.devices
        message.lan_error = text(result.lan.error)
    for status in result.targets:
        r = status.result
        target = message.targets.add(
            name=text(status.name),
            kind=PROBE_KINDS[status.kind],
            role=status.role,
            success=r.success,
            sent=r.sent,
            received=r.received,
            rtt_min_seconds=r.rtt_min_seconds,
            rtt_avg_seconds=r.rtt_avg_seconds,
            rtt_max_seconds=r.rtt_max_seconds,
            jitter_seconds=r.jitter_seconds,
            error=PROBE_ERRORS[r.error],
            http_status=r.http_status,
            detail=text(r.detail),
        )
        if r.tls_cert_days_left is not None:
            target.tls_cert_days_left = r.tls_cert_days_left
        if status.path is not None:
            target.path_diagnosed = True
            target.path_hops = status.path.hops
            target.path_last_hop = text(status.path.last_hop)
            target.path_reached = status.path.reached
    return message


AV_STATES = {
    "protected": pb.ANTIVIRUS_STATE_PROTECTED,
    "outdated": pb.ANTIVIRUS_STATE_OUTDATED,
    "disabled": pb.ANTIVIRUS_STATE_DISABLED,
    "expired": pb.ANTIVIRUS_STATE_EXPIRED,
    "not_installed": pb.ANTIVIRUS_STATE_NOT_INSTALLED,
    "unknown": pb.ANTIVIRUS_STATE_UNKNOWN,
}


def antivirus(result: AntivirusResult) -> pb.Antivirus:
    message = pb.Antivirus(host_state=AV_STATES[result.host_state], error=text(result.error))
    for p in result.products:
        message.products.add(
            name=text(p.name),
            vendor=text(p.vendor),
            product_version=text(p.product_version),
            engine_version=text(p.engine_version),
            signature_version=text(p.signature_version),
            signature_updated_unix=p.signature_updated_unix,
            realtime_protection=p.realtime_protection,
            last_quick_scan_unix=p.last_quick_scan_unix,
            last_full_scan_unix=p.last_full_scan_unix,
            state=AV_STATES[p.state],
            centrally_managed=p.centrally_managed,
            on_access_scanning=p.on_access_scanning,
            detail=text(p.detail),
        )
    return message
