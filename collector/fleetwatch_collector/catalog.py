"""The metric catalog: every metric the collector exposes, declared once (name, type, help, labels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram", "info"]
Scope = Literal["host", "collector", "runtime"]

HOST_LABELS = ("agent_id", "host", "site", "district", "site_type")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    scope: Scope

    def header(self) -> str:
        """The # HELP and # TYPE lines of this family in the text format."""
        kind = "gauge" if self.type == "info" else self.type
        return f"# HELP {self.name} {self.help}\n# TYPE {self.name} {kind}\n"


def _host(name: str, type_: MetricType, help_: str, *extra: str) -> MetricSpec:
    return MetricSpec(name, type_, help_, HOST_LABELS + extra, "host")


def _collector(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, type_, help_, labels, "collector")


def _runtime(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, type_, help_, labels, "runtime")


HOST_METRICS: tuple[MetricSpec, ...] = (
    _host("fleetwatch_agent_up", "gauge", "1 if the agent reported within 3 of its intervals, else 0."),
    _host(
        "fleetwatch_agent_last_report_timestamp_seconds",
        "gauge",
        "Collection time of the agent's latest report (Unix seconds).",
    ),
    _host(
        "fleetwatch_agent_reports_total",
        "counter",
        "Reports of the agent applied by the collector, each exactly once.",
    ),
    _host(
        "fleetwatch_agent_info",
        "info",
        "Host facts of the agent; value is always 1.",
        "os_family",
        "os_name",
        "os_version",
        "kernel",
        "arch",
        "agent_version",
        "site_name",
    ),
    _host(
        "fleetwatch_agent_probe_success",
        "gauge",
        "1 if the probe succeeded in the agent's latest cycle.",
        "probe",
    ),
    _host(
        "fleetwatch_agent_probe_duration_seconds",
        "gauge",
        "Duration of the probe in the agent's latest cycle.",
        "probe",
    ),
    _host(
        "fleetwatch_agent_spool_reports",
        "gauge",
        "Reports waiting in the agent's queue when the latest report was made.",
    ),
    _host(
        "fleetwatch_agent_spool_dropped_reports_total",
        "counter",
        "Reports the agent dropped because its queue bound was hit.",
    ),
    _host(
        "fleetwatch_host_cpu_utilization_ratio",
        "gauge",
        "Share of CPU time busy over the agent's latest interval (0-1).",
    ),
    _host("fleetwatch_host_cpus", "gauge", "Number of logical CPUs."),
    _host("fleetwatch_host_load1", "gauge", "1-minute load average (absent on Windows)."),
    _host("fleetwatch_host_load5", "gauge", "5-minute load average (absent on Windows)."),
    _host("fleetwatch_host_load15", "gauge", "15-minute load average (absent on Windows)."),
    _host("fleetwatch_host_memory_total_bytes", "gauge", "Physical memory."),
    _host(
        "fleetwatch_host_memory_available_bytes",
        "gauge",
        "Memory available to new processes without swapping.",
    ),
    _host("fleetwatch_host_swap_total_bytes", "gauge", "Swap space (page file on Windows)."),
    _host("fleetwatch_host_swap_used_bytes", "gauge", "Swap space in use."),
    _host("fleetwatch_host_boot_time_seconds", "gauge", "Boot time (Unix seconds)."),
    _host("fleetwatch_host_processes", "gauge", "Number of processes."),
    _host("fleetwatch_host_filesystem_size_bytes", "gauge", "Filesystem size.", "mountpoint", "fstype"),
    _host(
        "fleetwatch_host_filesystem_used_bytes",
        "gauge",
        "Filesystem space used.",
        "mountpoint",
        "fstype",
    ),
    _host(
        "fleetwatch_host_filesystem_free_bytes",
        "gauge",
        "Filesystem space available to unprivileged users.",
        "mountpoint",
        "fstype",
    ),
    _host(
        "fleetwatch_host_filesystem_inodes",
        "gauge",
        "Inodes of the filesystem (where it has an inode table).",
        "mountpoint",
        "fstype",
    ),
    _host(
        "fleetwatch_host_filesystem_inodes_free",
        "gauge",
        "Free inodes of the filesystem.",
        "mountpoint",
        "fstype",
    ),
    _host("fleetwatch_host_network_up", "gauge", "1 if the interface is up.", "interface"),
    _host(
        "fleetwatch_host_network_speed_bytes",
        "gauge",
        "Link speed in bytes per second (0 when unknown).",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_receive_bytes_total",
        "counter",
        "Bytes received since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_transmit_bytes_total",
        "counter",
        "Bytes sent since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_receive_packets_total",
        "counter",
        "Packets received since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_transmit_packets_total",
        "counter",
        "Packets sent since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_receive_errors_total",
        "counter",
        "Receive errors since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_transmit_errors_total",
        "counter",
        "Transmit errors since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_receive_drops_total",
        "counter",
        "Received packets dropped since boot.",
        "interface",
    ),
    _host(
        "fleetwatch_host_network_transmit_drops_total",
        "counter",
        "Outgoing packets dropped since boot.",
        "interface",
    ),
)

ANTIVIRUS_STATES = ("protected", "outdated", "expired", "disabled", "unknown", "not_installed")

ANTIVIRUS_METRICS: tuple[MetricSpec, ...] = (
    _host(
        "fleetwatch_antivirus_protected",
        "gauge",
        "1 if the host's best antivirus product is protecting with fresh signatures (state protected).",
    ),
    _host(
        "fleetwatch_antivirus_state",
        "gauge",
        "Host antivirus state: 1 for the current state, 0 for the others "
        "(protected, outdated, expired, disabled, unknown, not_installed).",
        "state",
    ),
    _host(
        "fleetwatch_antivirus_product_info",
        "info",
        "An antivirus product found on the host; value is always 1.",
        "product",
        "vendor",
        "product_version",
        "engine_version",
        "signature_version",
        "state",
    ),
    _host(
        "fleetwatch_antivirus_realtime_protection",
        "gauge",
        "1 if the product's real-time protection is on.",
        "product",
    ),
    _host(
        "fleetwatch_antivirus_on_access_scanning",
        "gauge",
        "1 if on-access scanning runs (Linux: clamonacc or the product's equivalent).",
        "product",
    ),
    _host(
        "fleetwatch_antivirus_signature_age_seconds",
        "gauge",
        "Age of the product's signatures when the report was collected (absent when unknown).",
        "product",
    ),
    _host(
        "fleetwatch_antivirus_last_scan_age_seconds",
        "gauge",
        "Time since the product's last scan of this kind (quick, full) when the report was collected.",
        "product",
        "kind",
    ),
    _host(
        "fleetwatch_antivirus_threats_detected_total",
        "counter",
        "Threats the product detected, each counted exactly once.",
        "product",
    ),
)

CONNECTIVITY_METRICS: tuple[MetricSpec, ...] = (
    _host(
        "fleetwatch_connectivity_up",
        "gauge",
        "1 if the target answered at least once in the agent's latest check.",
        "target",
        "kind",
        "role",
    ),
    _host(
        "fleetwatch_connectivity_rtt_seconds",
        "gauge",
        "Average round-trip time of the latest burst.",
        "target",
        "kind",
    ),
    _host(
        "fleetwatch_connectivity_rtt_min_seconds",
        "gauge",
        "Shortest round-trip time of the latest burst.",
        "target",
        "kind",
    ),
    _host(
        "fleetwatch_connectivity_rtt_max_seconds",
        "gauge",
        "Longest round-trip time of the latest burst.",
        "target",
        "kind",
    ),
    _host(
        "fleetwatch_connectivity_jitter_seconds",
        "gauge",
        "Mean difference between consecutive round-trip times of the latest burst.",
        "target",
        "kind",
    ),
    _host(
        "fleetwatch_connectivity_loss_ratio",
        "gauge",
        "Share of the latest burst left unanswered (0-1).",
        "target",
        "kind",
    ),
    _host(
        "fleetwatch_connectivity_failure_info",
        "info",
        "Present while the target fails, with the reason (timeout, refused, unreachable, dns_error, "
        "tls_error, http_status, unsupported, other); value is always 1.",
        "target",
        "kind",
        "reason",
    ),
    _host("fleetwatch_connectivity_http_status_code", "gauge", "HTTP status of the latest check.", "target"),
    _host(
        "fleetwatch_connectivity_tls_cert_expiry_seconds",
        "gauge",
        "Time left until the target's TLS certificate expires.",
        "target",
    ),
    _host(
        "fleetwatch_connectivity_path_hops",
        "gauge",
        "Hop number of the last router that answered the latest traceroute of a failing target.",
        "target",
    ),
    _host(
        "fleetwatch_connectivity_outages_total",
        "counter",
        "Outages of the target measured by the agent, counted when they ended, each exactly once.",
        "target",
    ),
    _host(
        "fleetwatch_connectivity_outage_seconds_total",
        "counter",
        "Seconds the target was unreachable from the agent, summed over ended outages.",
        "target",
    ),
)

LAN_METRICS: tuple[MetricSpec, ...] = (
    _host(
        "fleetwatch_lan_devices",
        "gauge",
        "Devices that answered the agent's newest ARP sweep of its LAN (discovery on).",
    ),
    _host(
        "fleetwatch_lan_new_devices_total",
        "counter",
        "MAC addresses the agent's LAN sweeps found for the first time, each counted once.",
    ),
)

COLLECTOR_METRICS: tuple[MetricSpec, ...] = (
    _collector(
        "fleetwatch_collector_build_info",
        "info",
        "Version of the collector; value is always 1.",
        "version",
    ),
    _collector("fleetwatch_collector_agents", "gauge", "Known agents by state (up, down).", "state"),
    _collector("fleetwatch_collector_pushes_total", "counter", "Push calls by gRPC status code.", "code"),
    _collector(
        "fleetwatch_collector_reports_applied_total",
        "counter",
        "Reports applied to the fleet state.",
    ),
    _collector(
        "fleetwatch_collector_reports_duplicate_total",
        "counter",
        "Reports ignored because their seq was already applied.",
    ),
    _collector("fleetwatch_collector_rejected_total", "counter", "Push calls refused, by reason.", "reason"),
    _collector(
        "fleetwatch_collector_enrolments_total",
        "counter",
        "Enroll calls by result (ok, token_*, invalid_request).",
        "result",
    ),
    _collector("fleetwatch_collector_push_duration_seconds", "histogram", "Time to handle one Push call."),
    _collector(
        "fleetwatch_collector_render_duration_seconds",
        "gauge",
        "Time the latest /metrics render of the fleet took.",
    ),
)

RUNTIME_METRICS: tuple[MetricSpec, ...] = (
    _runtime("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    _runtime("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    _runtime("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    _runtime(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
    _runtime("process_open_fds", "gauge", "Number of open file descriptors."),
    _runtime("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    _runtime(
        "python_info",
        "gauge",
        "Python platform information",
        "implementation",
        "major",
        "minor",
        "patchlevel",
        "version",
    ),
    _runtime("python_gc_objects_collected_total", "counter", "Objects collected during gc", "generation"),
    _runtime(
        "python_gc_objects_uncollectable_total",
        "counter",
        "Uncollectable objects found during GC",
        "generation",
    ),
    _runtime(
        "python_gc_collections_total",
        "counter",
        "Number of times this generation was collected",
        "generation",
    ),
)

PER_HOST = HOST_METRICS + ANTIVIRUS_METRICS + CONNECTIVITY_METRICS + LAN_METRICS
CATALOG: tuple[MetricSpec, ...] = PER_HOST + COLLECTOR_METRICS + RUNTIME_METRICS
BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in CATALOG}
HOST_INDEX: dict[str, int] = {spec.name: i for i, spec in enumerate(PER_HOST)}
