"""The `connectivity` kind: targets checked by the agent, the outages it measured, and its LAN sweeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetwatch_collector.checks import (
    MAX_SECONDS,
    Limits,
    Rejection,
    check_count,
    check_counts,
    check_range,
    check_text,
    check_texts,
)
from fleetwatch_collector.kinds.base import Kind, bounded, counted_by_events, newest_section, newest_totals
from fleetwatch_collector.metricspec import host_metric
from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.limits import CONTROL_CHARACTERS, MAX_TEXT_BYTES, TARGET_NAME_RE
from fleetwatch_proto.names import PROBE_ERROR, PROBE_KIND
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

if TYPE_CHECKING:
    from fleetwatch_collector.agentstate import AgentEntry
    from fleetwatch_collector.exposition import Chunks

TARGET_TEXTS = ("role", "path_last_hop", "detail", "address")
ROUND_TRIPS = ("rtt_min_seconds", "rtt_avg_seconds", "rtt_max_seconds", "jitter_seconds")
# A certificate's days left (deprecated field): a century either way is already no certificate.
MAX_CERT_DAYS = 36500.0
DEVICE_TEXTS = ("mac", "ip", "vendor")
TARGET = ("target",)
TARGET_KIND = ("target", "kind")

METRICS = (
    host_metric(
        "fleetwatch_connectivity_up",
        "gauge",
        "1 if the target answered at least once in the agent's latest check.",
        *TARGET_KIND,
        "role",
    ),
    host_metric(
        "fleetwatch_connectivity_rtt_seconds",
        "gauge",
        "Average round-trip time of the latest burst.",
        *TARGET_KIND,
    ),
    host_metric(
        "fleetwatch_connectivity_rtt_min_seconds",
        "gauge",
        "Shortest round-trip time of the latest burst.",
        *TARGET_KIND,
    ),
    host_metric(
        "fleetwatch_connectivity_rtt_max_seconds",
        "gauge",
        "Longest round-trip time of the latest burst.",
        *TARGET_KIND,
    ),
    host_metric(
        "fleetwatch_connectivity_jitter_seconds",
        "gauge",
        "Mean difference between consecutive round-trip times of the latest burst.",
        *TARGET_KIND,
    ),
    host_metric(
        "fleetwatch_connectivity_loss_ratio",
        "gauge",
        "Share of the latest burst left unanswered (0-1).",
        *TARGET_KIND,
    ),
    host_metric(
        "fleetwatch_connectivity_failure_info",
        "info",
        f"Present while the target fails, with the reason ({', '.join(PROBE_ERROR.names())}); "
        "value is always 1.",
        *TARGET_KIND,
        "reason",
    ),
    host_metric(
        "fleetwatch_connectivity_http_status_code", "gauge", "HTTP status of the latest check.", *TARGET
    ),
    host_metric(
        "fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds",
        "gauge",
        "When the TLS certificate of an https target expires (its notAfter), in Unix seconds. "
        "Time left: this - time().",
        *TARGET,
    ),
    host_metric(
        "fleetwatch_connectivity_path_hops",
        "gauge",
        "Hop number of the last router that answered the latest traceroute of a failing target.",
        *TARGET,
    ),
    host_metric(
        "fleetwatch_connectivity_outages_total",
        "counter",
        "Outages of the target measured by the agent, counted when they ended, each exactly once.",
        *TARGET,
    ),
    host_metric(
        "fleetwatch_connectivity_outage_seconds_total",
        "counter",
        "Seconds the target was unreachable from the agent, summed over ended outages.",
        *TARGET,
    ),
    host_metric(
        "fleetwatch_lan_devices",
        "gauge",
        "Devices that answered the agent's newest ARP sweep of its LAN (discovery on).",
    ),
    host_metric(
        "fleetwatch_lan_new_devices_total",
        "counter",
        "MAC addresses the agent's LAN sweeps found for the first time, each counted once.",
    ),
)


@dataclass
class ConnectivityState:
    """The newest Connectivity section and LAN sweep; outages and new LAN devices, from the agent's
    totals, else from events."""

    section: pb.Connectivity | None = None
    lan_devices: int | None = None  # devices that answered the newest successful sweep
    lan_new_devices: int = 0
    outages: dict[str, int] = field(default_factory=dict)  # ended outages by target
    outage_seconds: dict[str, float] = field(default_factory=dict)
    # Collection time of the report whose totals the three counters hold; 0: counted from events.
    outages_as_of_ms: int = 0


def validate(where: str, report: pb.Report, limits: Limits) -> None:
    """Bounded target list; target names are label values; other texts label-safe; round trips,
    jitter and certificate times finite and not negative; no more answers than probes sent."""
    targets = report.connectivity.targets
    check_count(where, ".connectivity.targets", len(targets), limits.max_targets)
    check_text(f"{where}.connectivity", "lan_error", report.connectivity.lan_error)
    if not _targets_pass(targets):
        _check_targets(where, targets)
    for i, event in enumerate(report.events):
        if event.HasField("device_seen"):
            check_texts(f"{where}.events[{i}].device_seen", event.device_seen, DEVICE_TEXTS)
        elif event.HasField("outage") and not TARGET_NAME_RE.fullmatch(event.outage.target):
            raise Rejection("invalid_label", f"{where}.events[{i}].outage.target: not a target name")
    if report.HasField("totals"):
        totals = report.totals
        check_counts(f"{where}.totals", "outages", totals.outages, _target_problem)
        check_counts(f"{where}.totals", "outage_seconds", totals.outage_seconds, _target_problem)


def _target_problem(name: str) -> str | None:
    return None if TARGET_NAME_RE.fullmatch(name) else "not a target name"


def _targets_pass(targets: Sequence[pb.TargetResult]) -> bool:
    """True when every target passes ``_check_targets`` (the common case), found without formatting
    the path of each; False when one may not (then ``_check_targets`` says which, and why)."""
    texts: list[str] = []
    name_ok = TARGET_NAME_RE.fullmatch
    for t in targets:
        if name_ok(t.name) is None or t.received > t.sent or t.tls_cert_not_after_unix < 0:
            return False
        if not (
            0.0 <= t.rtt_min_seconds <= MAX_SECONDS
            and 0.0 <= t.rtt_avg_seconds <= MAX_SECONDS
            and 0.0 <= t.rtt_max_seconds <= MAX_SECONDS
            and 0.0 <= t.jitter_seconds <= MAX_SECONDS
        ):
            return False
        if t.HasField("tls_cert_days_left") and not -MAX_CERT_DAYS <= t.tls_cert_days_left <= MAX_CERT_DAYS:
            return False
        texts += (t.role, t.path_last_hop, t.detail, t.address)
    # No text can be too long when none has a quarter of the byte limit in characters, and joining
    # texts makes no control character.
    short = all(len(text) * 4 <= MAX_TEXT_BYTES for text in texts)
    return short and CONTROL_CHARACTERS.search("".join(texts)) is None


def _check_targets(where: str, targets: Sequence[pb.TargetResult]) -> None:
    for i, target in enumerate(targets):
        at = f"{where}.connectivity.targets[{i}]"
        if not TARGET_NAME_RE.fullmatch(target.name):
            raise Rejection("invalid_label", f"{at}.name: {target.name[:64]!r} is not a target name")
        check_texts(at, target, TARGET_TEXTS)
        for name in ROUND_TRIPS:
            check_range(at, name, getattr(target, name), 0.0, MAX_SECONDS)
        if target.received > target.sent:
            raise Rejection(
                "invalid_value", f"{at}.received: {target.received} answers to {target.sent} probes sent"
            )
        if target.tls_cert_not_after_unix < 0:
            raise Rejection("invalid_value", f"{at}.tls_cert_not_after_unix: negative time")
        if target.HasField("tls_cert_days_left"):
            check_range(at, "tls_cert_days_left", target.tls_cert_days_left, -MAX_CERT_DAYS, MAX_CERT_DAYS)


def take(state: ConnectivityState, newer: Sequence[pb.Report]) -> None:
    state.section = newest_section(newer, "connectivity", state.section)
    for report in reversed(newer):  # sweeps are rare: the newest successful one counts
        if report.connectivity.lan_swept and not report.connectivity.lan_error:
            state.lan_devices = report.connectivity.lan_devices
            break
    newest, later = newest_totals(newer)
    if newest is not None:  # the agent's own counts: set, never added (a resend changes nothing)
        totals = newest.totals
        state.outages = dict(totals.outages)
        state.outage_seconds = dict(totals.outage_seconds)
        state.lan_new_devices = totals.lan_new_devices
        state.outages_as_of_ms = newest.collected_unix_ms
        for report in later:
            _add_events(state, report)


def count_events(state: ConnectivityState, report: pb.Report) -> None:
    if counted_by_events(report, state.outages_as_of_ms):
        _add_events(state, report)


def _add_events(state: ConnectivityState, report: pb.Report) -> None:
    for event in report.events:
        if event.HasField("device_seen"):
            state.lan_new_devices += 1
        elif event.HasField("outage"):
            outage = event.outage
            target = bounded(state.outages, outage.target)
            state.outages[target] = state.outages.get(target, 0) + 1
            # start <= end, both within what the agent can know (validate.py)
            seconds = max(0, outage.end_unix_ms - outage.start_unix_ms) / 1000.0
            state.outage_seconds[target] = state.outage_seconds.get(target, 0.0) + seconds


def render(c: Chunks, agent: AgentEntry, state: ConnectivityState) -> None:
    if state.section is not None:
        _targets(c, state.section, agent.last_report_ms / 1000.0)
    if state.lan_devices is not None:
        c.add("fleetwatch_lan_devices", state.lan_devices)
    if state.lan_new_devices or state.lan_devices is not None:
        c.add("fleetwatch_lan_new_devices_total", state.lan_new_devices)
    for target, count in state.outages.items():
        c.add("fleetwatch_connectivity_outages_total", count, (("target", target),))
        c.add(
            "fleetwatch_connectivity_outage_seconds_total",
            state.outage_seconds.get(target, 0.0),
            (("target", target),),
        )


def render_key(agent: AgentEntry, state: ConnectivityState) -> object:
    section = state.section
    # The report's collection time counts only for a certificate given in days left (cert_not_after).
    dated = section is not None and any(
        t.tls_cert_not_after_unix <= 0 and t.HasField("tls_cert_days_left") for t in section.targets
    )
    return (
        section,
        agent.last_report_ms if dated else None,
        state.lan_devices,
        state.lan_new_devices,
        tuple(state.outages.items()),
        tuple(state.outage_seconds.items()),
    )


def cert_not_after(t: pb.TargetResult, collected: float) -> float | None:
    """The target's certificate notAfter (Unix seconds); from an older agent, which sends only the
    deprecated days left at check time, that many days after the report's collection."""
    if t.tls_cert_not_after_unix > 0:
        return t.tls_cert_not_after_unix
    if t.HasField("tls_cert_days_left"):  # finite and within a century (validate)
        return collected + t.tls_cert_days_left * 86400
    return None


def _targets(c: Chunks, conn: pb.Connectivity, collected: float) -> None:
    kinds = PROBE_KIND.name
    for t in distinct(conn.targets, lambda t: t.name):
        target = (("target", t.name),)
        labels = (*target, ("kind", kinds(t.kind, "other")))
        c.add("fleetwatch_connectivity_up", int(t.success), (*labels, ("role", t.role)))
        samples: list[tuple[str, float]]
        if t.success:
            samples = [
                ("fleetwatch_connectivity_rtt_seconds", t.rtt_avg_seconds),
                ("fleetwatch_connectivity_rtt_min_seconds", t.rtt_min_seconds),
                ("fleetwatch_connectivity_rtt_max_seconds", t.rtt_max_seconds),
                ("fleetwatch_connectivity_jitter_seconds", t.jitter_seconds),
            ]
        else:
            reason = PROBE_ERROR.name(t.error, "other")
            c.add("fleetwatch_connectivity_failure_info", 1, (*labels, ("reason", reason)))
            samples = []
        if t.sent:
            samples.append(("fleetwatch_connectivity_loss_ratio", 1.0 - t.received / t.sent))
        c.add_all(labels, samples)
        samples = []
        if t.http_status:
            samples.append(("fleetwatch_connectivity_http_status_code", t.http_status))
        not_after = cert_not_after(t, collected)
        if not_after is not None:
            samples.append(("fleetwatch_connectivity_tls_cert_not_after_timestamp_seconds", not_after))
        if t.path_diagnosed:
            samples.append(("fleetwatch_connectivity_path_hops", t.path_hops))
        if samples:
            c.add_all(target, samples)


KIND = Kind(
    name="connectivity",
    section="connectivity",
    summary="Targets the agent checks (gateway, DNS, collector, ...), outages it measured, its LAN sweeps.",
    metrics=METRICS,
    new_state=ConnectivityState,
    validate=validate,
    take=take,
    render=render,
    count_events=count_events,
    counters=("outages", "outage_seconds", "lan_new_devices", "outages_as_of_ms"),
    render_key=render_key,
)
