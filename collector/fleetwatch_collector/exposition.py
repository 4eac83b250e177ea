"""Renders agents to Prometheus text: per-agent chunks cached at ingest, joined per family at scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.catalog import ANTIVIRUS_STATES, HOST_INDEX, PER_HOST
from fleetwatch_collector.textformat import label_pairs, sample, sanitize
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")
PROBE_KIND_NAMES = {
    pb.PROBE_KIND_ICMP: "icmp",
    pb.PROBE_KIND_TCP: "tcp",
    pb.PROBE_KIND_DNS: "dns",
    pb.PROBE_KIND_HTTP: "http",
}
PROBE_ERROR_NAMES = {
    pb.PROBE_ERROR_TIMEOUT: "timeout",
    pb.PROBE_ERROR_REFUSED: "refused",
    pb.PROBE_ERROR_UNREACHABLE: "unreachable",
    pb.PROBE_ERROR_DNS_ERROR: "dns_error",
    pb.PROBE_ERROR_TLS_ERROR: "tls_error",
    pb.PROBE_ERROR_HTTP_STATUS: "http_status",
    pb.PROBE_ERROR_UNSUPPORTED: "unsupported",
}
AV_STATE_NAMES = {
    pb.ANTIVIRUS_STATE_PROTECTED: "protected",
    pb.ANTIVIRUS_STATE_OUTDATED: "outdated",
    pb.ANTIVIRUS_STATE_DISABLED: "disabled",
    pb.ANTIVIRUS_STATE_EXPIRED: "expired",
    pb.ANTIVIRUS_STATE_NOT_INSTALLED: "not_installed",
    pb.ANTIVIRUS_STATE_UNKNOWN: "unknown",
}
UP = HOST_INDEX["fleetwatch_agent_up"]
HEADERS = tuple(spec.header().encode() for spec in PER_HOST)


def base_labels(agent: AgentEntry) -> str:
    """The labels every host series carries, in sorted order."""
    site = agent.labels()
    return label_pairs(
        (
            ("agent_id", agent.agent_id),
            ("district", site.district),
            ("host", agent.host.hostname),
            ("site", site.site),
            ("site_type", site.site_type),
        )
    )


class _Chunks:
    """Accumulates sample lines per host family."""

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.lines: list[list[str]] = [[] for _ in PER_HOST]

    def add(self, name: str, value: float, extra: Iterable[tuple[str, str]] = ()) -> None:
        extra_text = label_pairs(extra)
        labels = f"{self.labels},{extra_text}" if extra_text else self.labels
        self.lines[HOST_INDEX[name]].append(sample(name, labels, value))

    def done(self) -> tuple[bytes, ...]:
        return tuple("".join(lines).encode() for lines in self.lines)


def render_agent(agent: AgentEntry) -> tuple[bytes, tuple[bytes, ...]]:
    """The up-line prefix and the per-family chunks of one agent, UTF-8 encoded once at ingest."""
    labels = base_labels(agent)
    host = agent.host
    c = _Chunks(labels)
    c.add("fleetwatch_agent_last_report_timestamp_seconds", agent.last_report_ms / 1000.0)
    c.add("fleetwatch_agent_reports_total", agent.reports_total)
    c.add(
        "fleetwatch_agent_info",
        1,
        (
            ("os_family", host.os_family),
            ("os_name", host.os_name),
            ("os_version", host.os_version),
            ("kernel", host.kernel),
            ("arch", host.arch),
            ("agent_version", host.agent_version),
            ("site_name", agent.labels().site_name),
        ),
    )
    for probe in _distinct(agent.probes, lambda p: p.name):
        extra = (("probe", probe.name),)
        c.add("fleetwatch_agent_probe_success", int(probe.success), extra)
        c.add("fleetwatch_agent_probe_duration_seconds", probe.duration_seconds, extra)
    if agent.spool is not None:
        c.add("fleetwatch_agent_spool_reports", agent.spool.queued_reports)
        c.add("fleetwatch_agent_spool_dropped_reports_total", agent.spool.dropped_reports_total)
    if agent.resources is not None:
        _resources(c, agent.resources)
    if agent.antivirus is not None:
        _antivirus(c, agent.antivirus, agent.last_report_ms / 1000.0)
    for product, count in agent.threats.items():
        c.add("fleetwatch_antivirus_threats_detected_total", count, (("product", product),))
    if agent.connectivity is not None:
        _connectivity(c, agent.connectivity)
    if agent.lan_devices is not None:
        c.add("fleetwatch_lan_devices", agent.lan_devices)
    if agent.lan_new_devices or agent.lan_devices is not None:
        c.add("fleetwatch_lan_new_devices_total", agent.lan_new_devices)
    for target, count in agent.outages.items():
        c.add("fleetwatch_connectivity_outages_total", count, (("target", target),))
        c.add(
            "fleetwatch_connectivity_outage_seconds_total",
            agent.outage_seconds.get(target, 0.0),
            (("target", target),),
        )
    return f"fleetwatch_agent_up{{{labels}}} ".encode(), c.done()


def _distinct(items: Iterable[T], key: Callable[[T], str]) -> list[T]:
    """Items whose label value, once sanitized, no earlier item has: Prometheus drops twin series."""
    seen: set[str] = set()
    result = []
    for item in items:
        value = sanitize(key(item))
        if value not in seen:
            seen.add(value)
            result.append(item)
    return result


def _resources(c: _Chunks, r: pb.Resources) -> None:
    c.add("fleetwatch_host_cpu_utilization_ratio", r.cpu_utilization_ratio)
    c.add("fleetwatch_host_cpus", r.cpu_count)
    if r.HasField("load"):
        c.add("fleetwatch_host_load1", r.load.load1)
        c.add("fleetwatch_host_load5", r.load.load5)
        c.add("fleetwatch_host_load15", r.load.load15)
    c.add("fleetwatch_host_memory_total_bytes", r.memory_total_bytes)
    c.add("fleetwatch_host_memory_available_bytes", r.memory_available_bytes)
    c.add("fleetwatch_host_swap_total_bytes", r.swap_total_bytes)
    c.add("fleetwatch_host_swap_used_bytes", r.swap_used_bytes)
    c.add("fleetwatch_host_boot_time_seconds", r.boot_time_unix)
    c.add("fleetwatch_host_processes", r.process_count)
    for fs in _distinct(r.filesystems, lambda fs: fs.mountpoint):
        extra = (("mountpoint", fs.mountpoint), ("fstype", fs.fstype))
        c.add("fleetwatch_host_filesystem_size_bytes", fs.size_bytes, extra)
        c.add("fleetwatch_host_filesystem_used_bytes", fs.used_bytes, extra)
        c.add("fleetwatch_host_filesystem_free_bytes", fs.free_bytes, extra)
        if fs.has_inodes:
            c.add("fleetwatch_host_filesystem_inodes", fs.inodes_total, extra)
            c.add("fleetwatch_host_filesystem_inodes_free", fs.inodes_free, extra)
    for nic in _distinct(r.interfaces, lambda nic: nic.name):
        extra_nic = (("interface", nic.name),)
        c.add("fleetwatch_host_network_up", int(nic.up), extra_nic)
        c.add("fleetwatch_host_network_speed_bytes", nic.speed_bits_per_second // 8, extra_nic)
        c.add("fleetwatch_host_network_receive_bytes_total", nic.receive_bytes, extra_nic)
        c.add("fleetwatch_host_network_transmit_bytes_total", nic.transmit_bytes, extra_nic)
        c.add("fleetwatch_host_network_receive_packets_total", nic.receive_packets, extra_nic)
        c.add("fleetwatch_host_network_transmit_packets_total", nic.transmit_packets, extra_nic)
        c.add("fleetwatch_host_network_receive_errors_total", nic.receive_errors, extra_nic)
        c.add("fleetwatch_host_network_transmit_errors_total", nic.transmit_errors, extra_nic)
        c.add("fleetwatch_host_network_receive_drops_total", nic.receive_drops, extra_nic)
        c.add("fleetwatch_host_network_transmit_drops_total", nic.transmit_drops, extra_nic)


def _antivirus(c: _Chunks, av: pb.Antivirus, collected: float) -> None:
    state = AV_STATE_NAMES.get(av.host_state, "unknown")
    c.add("fleetwatch_antivirus_protected", int(state == "protected"))
    for name in ANTIVIRUS_STATES:
        c.add("fleetwatch_antivirus_state", int(name == state), (("state", name),))
    for p in _distinct(av.products, lambda p: p.name):
        product = (("product", p.name),)
        info = (
            ("vendor", p.vendor),
            ("product_version", p.product_version),
            ("engine_version", p.engine_version),
            ("signature_version", p.signature_version),
            ("state", AV_STATE_NAMES.get(p.state, "unknown")),
        )
        c.add("fleetwatch_antivirus_product_info", 1, product + info)
        c.add("fleetwatch_antivirus_realtime_protection", int(p.realtime_protection), product)
        c.add("fleetwatch_antivirus_on_access_scanning", int(p.on_access_scanning), product)
        if p.signature_updated_unix > 0:
            age = max(0.0, collected - p.signature_updated_unix)
            c.add("fleetwatch_antivirus_signature_age_seconds", age, product)
        for kind, when in (("quick", p.last_quick_scan_unix), ("full", p.last_full_scan_unix)):
            if when > 0:
                age = max(0.0, collected - when)
                c.add("fleetwatch_antivirus_last_scan_age_seconds", age, (*product, ("kind", kind)))


def _connectivity(c: _Chunks, conn: pb.Connectivity) -> None:
    for t in _distinct(conn.targets, lambda t: t.name):
        kind = PROBE_KIND_NAMES.get(t.kind, "other")
        labels = (("target", t.name), ("kind", kind))
        c.add("fleetwatch_connectivity_up", int(t.success), (*labels, ("role", t.role)))
        if t.success:
            c.add("fleetwatch_connectivity_rtt_seconds", t.rtt_avg_seconds, labels)
            c.add("fleetwatch_connectivity_rtt_min_seconds", t.rtt_min_seconds, labels)
            c.add("fleetwatch_connectivity_rtt_max_seconds", t.rtt_max_seconds, labels)
            c.add("fleetwatch_connectivity_jitter_seconds", t.jitter_seconds, labels)
        else:
            reason = PROBE_ERROR_NAMES.get(t.error, "other")
            c.add("fleetwatch_connectivity_failure_info", 1, (*labels, ("reason", reason)))
        if t.sent:
            c.add("fleetwatch_connectivity_loss_ratio", 1.0 - t.received / t.sent, labels)
        target = (("target", t.name),)
        if t.http_status:
            c.add("fleetwatch_connectivity_http_status_code", t.http_status, target)
        if t.HasField("tls_cert_days_left"):
            c.add("fleetwatch_connectivity_tls_cert_expiry_seconds", t.tls_cert_days_left * 86400, target)
        if t.path_diagnosed:
            c.add("fleetwatch_connectivity_path_hops", t.path_hops, target)


def render_fleet(families: Sequence[Sequence[bytes]], up_lines: Sequence[bytes]) -> Iterator[bytes]:
    """Each host family as one chunk: its header followed by every agent's samples;
    ``families[UP]`` is replaced by ``up_lines``, which depend on the time of the scrape.

    One chunk per family (about 1 MB for 4,130 agents), not one body: a 22 MB allocation per
    scrape, from whichever thread serves it, leaves glibc arenas holding hundreds of MiB; and
    the joins stay in C, with no Python loop over the 100,000 samples."""
    for index, header in enumerate(HEADERS):
        body = up_lines if index == UP else families[index]
        if body:
            yield header + b"".join(body)
