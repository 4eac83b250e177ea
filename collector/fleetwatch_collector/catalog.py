"""The metric catalog: every metric exposed, declared once; per-host ones by their kind (kinds/*.py)."""

from __future__ import annotations

from collections import Counter

from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.metricspec import HOST_LABELS, MetricSpec, MetricType

__all__ = [
    "BY_NAME",
    "CATALOG",
    "COLLECTOR_METRICS",
    "HOST_INDEX",
    "HOST_LABELS",
    "PER_HOST",
    "RUNTIME_METRICS",
    "MetricSpec",
]


def _collector(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, type_, help_, labels, "collector")


def _runtime(name: str, type_: MetricType, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, type_, help_, labels, "runtime")


COLLECTOR_METRICS: tuple[MetricSpec, ...] = (
    _collector(
        "fleetwatch_collector_build_info",
        "info",
        "Version of the collector; value is always 1.",
        "version",
    ),
    _collector(
        "fleetwatch_collector_agents",
        "gauge",
        "Known agents by state: up, down (both on /metrics), retired (revoked, or silent longer than"
        " fleet.retire_after_days: off /metrics), handed_over (homed at another cluster member and silent"
        " here for cluster.handover_seconds: off /metrics until they report here again).",
        "state",
    ),
    _collector(
        "fleetwatch_collector_agents_unknown_site",
        "gauge",
        "Agents on /metrics whose site slug is not in the site inventory; they keep their enrolment labels.",
    ),
    _collector("fleetwatch_collector_inventory_sites", "gauge", "Sites in the site inventory in use."),
    _collector(
        "fleetwatch_collector_inventory_reload_errors_total",
        "counter",
        "Changed site inventory files that could not be loaded; the previous inventory stays in use.",
    ),
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
    _collector(
        "fleetwatch_collector_rejected_total",
        "counter",
        "Push calls refused, by reason: before the message is read (credential, busy, evicted,"
        " request_timeout, oversized beyond gRPC's limit) or after (validation, rate, load, store).",
        "reason",
    ),
    _collector(
        "fleetwatch_collector_calls_refused_total",
        "counter",
        "Calls other than Push refused before their handler ran (Enroll, Check, Watch, other: an unknown"
        " method), by reason: busy, peer_busy, evicted, request_timeout, oversized, malformed,"
        " unknown_method.",
        "method",
        "reason",
    ),
    _collector(
        "fleetwatch_collector_calls_cancelled_total",
        "counter",
        "Calls that ended before the collector answered, by phase: message (while the collector waited for"
        " or read the request: the client cancelled, its deadline passed, or gRPC refused a message over its"
        " receive limit) or handling (the client cancelled or its deadline passed, or a shutdown cut it).",
        "method",
        "phase",
    ),
    _collector(
        "fleetwatch_collector_calls_in_progress",
        "gauge",
        "gRPC calls in progress by pool: push (authenticated), open_waiting and open_reading (Enroll and"
        " health before their message is read), watch (health Watch streams).",
        "pool",
    ),
    _collector(
        "fleetwatch_collector_enrolments_total",
        "counter",
        "Enroll calls by result (ok: a new agent, reenrolled: a known machine got its agent id back,"
        " token_* including token_exhausted, invalid_request, rate_limited).",
        "result",
    ),
    _collector(
        "fleetwatch_collector_duplicate_hostname_enrolments_total",
        "counter",
        "Enrolments whose host name another enrolled agent of the same site already has (logged with both"
        " agent ids).",
    ),
    _collector(
        "fleetwatch_collector_hostname_changes_total",
        "counter",
        "Reports whose host name differs from the agent's host label: applied (the label follows) or"
        " conflict (another listed agent of its site has that name: the label stays).",
        "result",
    ),
    _collector(
        "fleetwatch_collector_seq_restarts_total",
        "counter",
        "Pushes with reports numbered from the agent's clock after its sequence numbers restarted (a lost"
        " sequence file, a new simulator run).",
    ),
    _collector(
        "fleetwatch_collector_http_refused_total",
        "counter",
        "HTTP connections and requests refused: busy (http.max_connections taken), evicted (cut, still"
        " sending its request, for a newer connection), timeout, unauthorized, tls_error.",
        "reason",
    ),
    _collector(
        "fleetwatch_collector_snmp_devices",
        "gauge",
        "Devices the collector polls itself over SNMP (its [snmp] devices_file).",
    ),
    _collector(
        "fleetwatch_collector_snmp_poll_cycle_seconds",
        "gauge",
        "Time the latest poll of every central device took (compare with [snmp] interval_seconds).",
    ),
    _collector(
        "fleetwatch_collector_snmp_devices_reload_errors_total",
        "counter",
        "Changed SNMP devices files that could not be loaded; the previous devices stay in use.",
    ),
    _collector(
        "fleetwatch_collector_snmp_traps_received_total",
        "counter",
        "SNMP traps and informs accepted from known devices, by SNMP version (1, 2c, 3).",
        "version",
    ),
    _collector(
        "fleetwatch_collector_snmp_traps_rejected_total",
        "counter",
        "SNMP notifications dropped, by reason: the receiver's (bad_community, unknown_user, wrong_digest,"
        " unknown_engine_id, malformed, ...) or unknown_sender (no known device has the sender's address).",
        "reason",
    ),
    _collector(
        "fleetwatch_collector_remote_write_reports_total",
        "counter",
        "Late reports (not the newest of their Push, or older than the one /metrics shows) while remote"
        " write is on, by what became of them: queued (their samples wait to be sent), queue_full (not"
        " written: no room in the queue), over_budget (not written: held beyond remote_write.max_held_bytes"
        " while older reports of the agent were awaited).",
        "result",
    ),
    _collector(
        "fleetwatch_collector_remote_write_samples_total",
        "counter",
        "Samples of late reports that left the remote write queue: sent (the receiver took them), rejected"
        " (it refused them for good: a 4xx, out of order, out of bounds, too old), dropped (retried longer"
        " than remote_write.max_retry_seconds, or still queued at shutdown).",
        "result",
    ),
    _collector(
        "fleetwatch_collector_remote_write_requests_total",
        "counter",
        "Remote write requests by result: success, rejected (refused for good), error (a connection error,"
        " 408, 429 or 5xx: sent again after a backoff).",
        "result",
    ),
    _collector(
        "fleetwatch_collector_remote_write_queue_samples",
        "gauge",
        "Samples waiting to be sent by remote write (at most remote_write.max_queue_samples).",
    ),
    _collector(
        "fleetwatch_collector_remote_write_held_bytes",
        "gauge",
        "Bytes of late reports held until the older reports of the same agent arrive (at most"
        " remote_write.max_held_bytes).",
    ),
    _collector(
        "fleetwatch_collector_remote_write_last_success_timestamp_seconds",
        "gauge",
        "When a remote write request last succeeded (Unix seconds; 0: never).",
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

# Every kind's metrics, in the order of KINDS: the families of /metrics, in this order.
PER_HOST: tuple[MetricSpec, ...] = tuple(spec for kind in KINDS for spec in kind.metrics)
CATALOG: tuple[MetricSpec, ...] = PER_HOST + COLLECTOR_METRICS + RUNTIME_METRICS
BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in CATALOG}
HOST_INDEX: dict[str, int] = {spec.name: i for i, spec in enumerate(PER_HOST)}

_twice = sorted(name for name, n in Counter(spec.name for spec in CATALOG).items() if n > 1)
if _twice:  # a family exposed twice would be refused by Prometheus; say which at start
    raise ValueError(f"metrics declared more than once in the catalog: {', '.join(_twice)}")
