"""The `host` kind, what every agent reports: liveness, host facts, reports, probe outcomes, its queue.

Probes run at intervals of their own (agent/fleetwatch_agent/schedule.py): a report carries the
outcomes of the probes that ran in its cycle only, so each probe's newest outcome is kept by name,
with the collection time of the report that carried it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetwatch_collector.checks import MAX_SECONDS, Limits, Rejection, check_range, check_text
from fleetwatch_collector.kinds.base import Kind, copy_message, newest_section
from fleetwatch_collector.metricspec import host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.limits import CONFIG_VERSION_RE, MAX_PROBES, PROBE_NAME_RE
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
        "1 if the probe succeeded in its latest run.",
        "probe",
    ),
    host_metric(
        "fleetwatch_agent_probe_duration_seconds",
        "gauge",
        "Duration of the probe's latest run.",
        "probe",
    ),
    host_metric(
        "fleetwatch_agent_probe_last_run_timestamp_seconds",
        "gauge",
        "Collection time of the report that carried the probe's latest run (Unix seconds); each probe "
        "runs at its own interval.",
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
    host_metric(
        "fleetwatch_agent_config_info",
        "info",
        "Central configuration version the agent ran its latest report with (docs/central-config.md); "
        "value is always 1.",
        "version",
    ),
    host_metric(
        "fleetwatch_agent_config_refused",
        "gauge",
        "1 while the agent refuses this central configuration version as invalid for it (it keeps the "
        "one it had; the reason is in its log).",
        "version",
    ),
)


@dataclass
class HostState:
    """Each probe's newest outcome and when it ran, and the newest queue figures."""

    # By probe name, in the order the probes first appeared; at most MAX_PROBES names (the one that
    # ran longest ago goes first), so an agent naming new probes cannot grow it without bound.
    runs: dict[str, tuple[pb.ProbeResult, int]] = field(default_factory=dict)  # (outcome, collected ms)
    spool: pb.SpoolStats | None = None
    # The newest report's central configuration: (version run, version refused, why).
    config: tuple[str, str, str] = ("", "", "")

    @property
    def probes(self) -> tuple[pb.ProbeResult, ...]:
        """The newest outcome of each probe."""
        return tuple(outcome for outcome, _ in self.runs.values())


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
    for name in ("config_version", "config_refused_version"):
        value = getattr(report, name)
        if value and not CONFIG_VERSION_RE.fullmatch(value):
            raise Rejection("invalid_label", f"{where}.{name}: {value[:40]!r} is not a configuration version")
    if report.config_refused_reason:
        check_text(where, "config_refused_reason", report.config_refused_reason)


def take(state: HostState, newer: Sequence[pb.Report]) -> None:
    for report in newer:
        for probe in distinct(report.probes, lambda p: p.name):
            state.runs[probe.name] = (copy_message(probe), report.collected_unix_ms)
    while len(state.runs) > MAX_PROBES:
        del state.runs[min(state.runs, key=lambda name: state.runs[name][1])]
    state.spool = newest_section(newer, "spool", state.spool)
    if newer:
        newest = max(newer, key=lambda r: r.seq)
        state.config = (newest.config_version, newest.config_refused_version, newest.config_refused_reason)


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
    for probe, ran_ms in state.runs.values():  # names are label values (validate), one run each
        c.add_all(
            (("probe", probe.name),),
            (
                ("fleetwatch_agent_probe_success", int(probe.success)),
                ("fleetwatch_agent_probe_duration_seconds", probe.duration_seconds),
                ("fleetwatch_agent_probe_last_run_timestamp_seconds", ran_ms / 1000.0),
            ),
        )
    if state.spool is not None:
        c.add_all(
            (),
            (
                ("fleetwatch_agent_spool_reports", state.spool.queued_reports),
                ("fleetwatch_agent_spool_dropped_reports_total", state.spool.dropped_reports_total),
            ),
        )
    version, refused, _reason = state.config
    if version:
        c.add("fleetwatch_agent_config_info", 1, (("version", version),))
    if refused:
        c.add("fleetwatch_agent_config_refused", 1, (("version", refused),))


KIND = Kind(
    name="host",
    section=None,
    summary="What every agent has: liveness, reports applied, host facts (`Report.host`), "
    "each probe's newest outcome and run time (`Report.probes`, kept by probe name across reports), "
    "its queue (`Report.spool`).",
    metrics=METRICS,
    new_state=HostState,
    validate=validate,
    take=take,
    render=render,
)
