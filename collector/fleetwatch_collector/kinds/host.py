"""The `host` kind, what every agent reports: liveness, host facts, reports, probe outcomes, its queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetwatch_collector.checks import MAX_SECONDS, Limits, Rejection, check_range, check_text
from fleetwatch_collector.kinds.base import Kind, copy_message, newest_section
from fleetwatch_collector.metricspec import host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.limits import PROBE_NAME_RE
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

METRICS = (
    # Rendered by exposition.py: its value depends on the time of the scrape.
    host_metric("fleetwatch_agent_up", "gauge", "1 if the agent reported within 3 of its intervals, else 0."),
    host_metric(
        "fleetwatch_agent_last_report_timestamp_seconds",
        "gauge",
        "Collection time of the agent's latest report (Unix seconds).",
    ),
    host_metric(
        "fleetwatch_agent_reports_total",
        "counter",
        "Reports of the agent applied by the collector, each exactly once.",
    ),
    host_metric(
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
    host_metric(
        "fleetwatch_agent_probe_success",
        "gauge",
        "1 if the probe succeeded in the agent's latest cycle.",
        "probe",
    ),
    host_metric(
        "fleetwatch_agent_probe_duration_seconds",
        "gauge",
        "Duration of the probe in the agent's latest cycle.",
        "probe",
    ),
    host_metric(
        "fleetwatch_agent_spool_reports",
        "gauge",
        "Reports waiting in the agent's queue when the latest report was made.",
    ),
    host_metric(
        "fleetwatch_agent_spool_dropped_reports_total",
        "counter",
        "Reports the agent dropped because its queue bound was hit.",
    ),
)


@dataclass
class HostState:
    """Outcomes of the probes of the newest cycle that ran any, and the newest queue figures."""

    probes: Sequence[pb.ProbeResult] = ()
    spool: pb.SpoolStats | None = None


def validate(where: str, report: pb.Report, limits: Limits) -> None:
    """Probe names are label values, errors bounded texts, durations within a day (the envelope
    and host facts: validate.py)."""
    for i, probe in enumerate(report.probes):
        if not PROBE_NAME_RE.fullmatch(probe.name):
            raise Rejection(
                "invalid_label",
                f"{where}.probes[{i}].name: {probe.name[:40]!r} is not a probe name",
            )
        check_range(f"{where}.probes[{i}]", "duration_seconds", probe.duration_seconds, 0.0, MAX_SECONDS)
        if probe.error:
            check_text(f"{where}.probes[{i}]", "error", probe.error)


def take(state: HostState, newer: Sequence[pb.Report]) -> None:
    for report in reversed(newer):
        if report.probes:
            state.probes = tuple(copy_message(p) for p in report.probes)
            break
    state.spool = newest_section(newer, "spool", state.spool)


def render(c: Chunks, agent: AgentEntry, state: HostState) -> None:
    host = agent.host
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
    for probe in distinct(state.probes, lambda p: p.name):
        extra = (("probe", probe.name),)
        c.add("fleetwatch_agent_probe_success", int(probe.success), extra)
        c.add("fleetwatch_agent_probe_duration_seconds", probe.duration_seconds, extra)
    if state.spool is not None:
        c.add("fleetwatch_agent_spool_reports", state.spool.queued_reports)
        c.add("fleetwatch_agent_spool_dropped_reports_total", state.spool.dropped_reports_total)


KIND = Kind(
    name="host",
    section=None,
    summary="What every agent has: liveness, reports applied, host facts (`Report.host`), "
    "probe outcomes (`Report.probes`), its queue (`Report.spool`).",
    metrics=METRICS,
    new_state=HostState,
    validate=validate,
    take=take,
    render=render,
)
