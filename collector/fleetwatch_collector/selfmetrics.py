"""The collector's own metrics, in a private prometheus-client registry; help and labels from the catalog."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fleetwatch_collector import __version__
from fleetwatch_collector.catalog import BY_NAME


class TrapRejections(Collector):
    """fleetwatch_collector_snmp_traps_rejected_total: the trap receiver's counts by reason (read at
    scrape from ``source``) and the collector's own (unknown_sender)."""

    def __init__(self) -> None:
        self.source: Callable[[], dict[str, int]] = dict
        self._own: dict[str, int] = {"unknown_sender": 0}

    def count(self, reason: str) -> None:
        self._own[reason] = self._own.get(reason, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        spec = BY_NAME["fleetwatch_collector_snmp_traps_rejected_total"]
        family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
        counts = {**self.source(), **self._own}
        for reason in sorted(counts):
            family.add_metric([reason], counts[reason])
        yield family


PUSH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class CollectorMetrics:
    """Counters and gauges about the collector itself (see the catalog)."""

    def __init__(self) -> None:
        # The *_created series are not in the catalog and Prometheus does not need them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = r = CollectorRegistry()
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)

        def counter(name: str) -> Counter:
            spec = BY_NAME[name]
            return Counter(name.removesuffix("_total"), spec.help, spec.labels, registry=r)

        def gauge(name: str) -> Gauge:
            spec = BY_NAME[name]
            return Gauge(name, spec.help, spec.labels, registry=r)

        build = BY_NAME["fleetwatch_collector_build_info"]
        Info("fleetwatch_collector_build", build.help, registry=r).info({"version": __version__})
        self.agents = gauge("fleetwatch_collector_agents")
        self.pushes = counter("fleetwatch_collector_pushes_total")
        self.applied = counter("fleetwatch_collector_reports_applied_total")
        self.duplicates = counter("fleetwatch_collector_reports_duplicate_total")
        self.rejected = counter("fleetwatch_collector_rejected_total")
        self.calls_refused = counter("fleetwatch_collector_calls_refused_total")
        self.calls_cancelled = counter("fleetwatch_collector_calls_cancelled_total")
        self.calls_in_progress = gauge("fleetwatch_collector_calls_in_progress")
        self.enrolments = counter("fleetwatch_collector_enrolments_total")
        self.duplicate_hostnames = counter("fleetwatch_collector_duplicate_hostname_enrolments_total")
        self.hostname_changes = counter("fleetwatch_collector_hostname_changes_total")
        self.seq_restarts = counter("fleetwatch_collector_seq_restarts_total")
        self.http_refused = counter("fleetwatch_collector_http_refused_total")
        push = BY_NAME["fleetwatch_collector_push_duration_seconds"]
        self.push_duration = Histogram(push.name, push.help, buckets=PUSH_BUCKETS, registry=r)
        self.render_duration = gauge("fleetwatch_collector_render_duration_seconds")
        self.unknown_site = gauge("fleetwatch_collector_agents_unknown_site")
        self.inventory_sites = gauge("fleetwatch_collector_inventory_sites")
        self.inventory_errors = counter("fleetwatch_collector_inventory_reload_errors_total")

        self.snmp_devices = gauge("fleetwatch_collector_snmp_devices")
        self.snmp_poll_cycle = gauge("fleetwatch_collector_snmp_poll_cycle_seconds")
        self.snmp_reload_errors = counter("fleetwatch_collector_snmp_devices_reload_errors_total")
        self.traps_received = counter("fleetwatch_collector_snmp_traps_received_total")
        self.remote_write_reports = counter("fleetwatch_collector_remote_write_reports_total")
        self.remote_write_samples = counter("fleetwatch_collector_remote_write_samples_total")
        self.remote_write_requests = counter("fleetwatch_collector_remote_write_requests_total")
        self.remote_write_queue = gauge("fleetwatch_collector_remote_write_queue_samples")
        self.remote_write_held = gauge("fleetwatch_collector_remote_write_held_bytes")
        self.remote_write_last_success = gauge(
            "fleetwatch_collector_remote_write_last_success_timestamp_seconds"
        )
        self.traps_rejected = TrapRejections()
        r.register(self.traps_rejected)

    def push_refused(self, reason: str, code: str) -> None:
        """A Push refused before its handler ran (gate.py)."""
        self.rejected.labels(reason).inc()
        self.pushes.labels(code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
