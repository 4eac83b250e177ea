"""The collector's own metrics, in a private prometheus-client registry."""

from __future__ import annotations

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

from fleetwatch_collector import __version__


class CollectorMetrics:
    """Counters and gauges about the collector itself (see the catalog)."""

    def __init__(self) -> None:
        # The *_created series are not in the catalog and Prometheus does not need them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        r = self.registry
        Info("fleetwatch_collector_build", "Version of the collector; value is always 1.", registry=r).info(
            {"version": __version__}
        )
        self.agents = Gauge(
            "fleetwatch_collector_agents",
            "Known agents by state (up, down).",
            ["state"],
            registry=r,
        )
        self.pushes = Counter(
            "fleetwatch_collector_pushes", "Push calls by gRPC status code.", ["code"], registry=r
        )
        self.applied = Counter(
            "fleetwatch_collector_reports_applied",
            "Reports applied to the fleet state.",
            registry=r,
        )
        self.duplicates = Counter(
            "fleetwatch_collector_reports_duplicate",
            "Reports ignored because their seq was already applied.",
            registry=r,
        )
        self.rejected = Counter(
            "fleetwatch_collector_rejected",
            "Push calls refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.push_duration = Histogram(
            "fleetwatch_collector_push_duration_seconds",
            "Time to handle one Push call.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=r,
        )
        self.enrolments = Counter(
            "fleetwatch_collector_enrolments", "Enroll calls by result.", ["result"], registry=r
        )
        self.render_duration = Gauge(
            "fleetwatch_collector_render_duration_seconds",
            "Time the latest /metrics render of the fleet took.",
            registry=r,
        )

    def auth_refused(self, reason: str, code: str) -> None:
        self.rejected.labels(reason).inc()
        self.pushes.labels(code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
