"""Validation of incoming Push requests: the envelope and host facts here, each kind's part in kinds/."""

from __future__ import annotations

from fleetwatch_collector.checks import (
    Limits,
    Rejection,
    check_count,
    check_text,
    check_texts,
)
from fleetwatch_collector.kinds import KINDS
from fleetwatch_proto.limits import (
    CONFIG_VERSION_RE,
    HOSTNAME_MAX_BYTES,
    HOSTNAME_RE,
    MAX_INTERVAL_SECONDS,
    MAX_SEQ,
    MIN_INTERVAL_SECONDS,
    SLUG_RE,
)
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

__all__ = ["Limits", "Rejection", "validate_host", "validate_push", "validate_report"]

HOST_TEXTS = ("os_family", "os_name", "os_version", "kernel", "arch", "agent_version", "site_name")
PROBE_FAILURE_TEXTS = ("probe", "error")


def validate_host(where: str, host: pb.HostInfo) -> None:
    """Hostname and site slugs strict (alerts group on them), other texts bounded."""
    if not HOSTNAME_RE.fullmatch(host.hostname):
        bad = next((c for c in host.hostname if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
        if bad is not None:
            detail = f"invalid character {bad!r}"
        elif host.hostname and host.hostname[0] in ".-":
            detail = "must start with a letter, digit or underscore"
        else:
            detail = f"empty or longer than {HOSTNAME_MAX_BYTES} bytes"
        raise Rejection("invalid_hostname", f"{where}.hostname: {detail} in {host.hostname[:64]!r}")
    for field in ("site", "district"):
        value = getattr(host, field)
        if value and not SLUG_RE.fullmatch(value):
            raise Rejection("invalid_label", f"{where}.{field}: {value[:64]!r} is not an ASCII slug")
    check_texts(where, host, HOST_TEXTS)


def _envelope(where: str, report: pb.Report, now_ms: int, limits: Limits) -> None:
    """What every report has, whatever kinds it carries: seq, timestamps, interval, list sizes."""
    if not 1 <= report.seq <= MAX_SEQ:
        raise Rejection("invalid_seq", f"{where}.seq: must be between 1 and {MAX_SEQ}")
    # Agents number their reports from 1, one per interval, or restart at their clock in
    # milliseconds: never beyond the clock of the report (with the skew allowed).
    if report.seq > report.collected_unix_ms + limits.max_future_seconds * 1000:
        raise Rejection(
            "invalid_seq",
            f"{where}.seq: {report.seq} is beyond its collection time in milliseconds, which no agent's"
            " numbering reaches",
        )
    if report.collected_unix_ms > now_ms + limits.max_future_seconds * 1000:
        raise Rejection(
            "timestamp_future",
            f"{where}.collected_unix_ms: {report.collected_unix_ms} is more than "
            f"{limits.max_future_seconds}s ahead of the collector's clock; check the agent's clock",
        )
    if report.collected_unix_ms < now_ms - limits.max_age_seconds * 1000:
        raise Rejection(
            "timestamp_stale",
            f"{where}.collected_unix_ms: {report.collected_unix_ms} is older than {limits.max_age_seconds}s",
        )
    if not MIN_INTERVAL_SECONDS <= report.interval_seconds <= MAX_INTERVAL_SECONDS:
        raise Rejection(
            "invalid_value",
            f"{where}.interval_seconds: must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}",
        )
    check_count(where, ".probes", len(report.probes), limits.max_probes)
    check_count(where, ".events", len(report.events), limits.max_events)


def _events(where: str, report: pb.Report, limits: Limits, not_before_ms: int) -> None:
    """Event times within the report's window: not after its collection (with the clock skew
    allowed), not before the agent could run (``not_before_ms``); an outage ends after it starts.
    Texts of the events no kind owns are bounded (the kinds check theirs)."""
    latest = report.collected_unix_ms + limits.max_future_seconds * 1000
    for i, event in enumerate(report.events):
        at = f"{where}.events[{i}]"
        if event.time_unix_ms and not not_before_ms <= event.time_unix_ms <= latest:
            raise Rejection(
                "invalid_value",
                f"{at}.time_unix_ms: {event.time_unix_ms} is outside [{not_before_ms}, {latest}], the"
                " time from the agent's enrolment (less limits.max_age_seconds) to its report",
            )
        if event.HasField("outage"):
            outage = event.outage
            if not not_before_ms <= outage.start_unix_ms <= outage.end_unix_ms <= latest:
                raise Rejection(
                    "invalid_value",
                    f"{at}.outage: [{outage.start_unix_ms}, {outage.end_unix_ms}] is not a time span within"
                    f" [{not_before_ms}, {latest}], what the agent can know about",
                )
        elif event.HasField("probe_failure"):
            check_texts(f"{at}.probe_failure", event.probe_failure, PROBE_FAILURE_TEXTS)


def _kinds(where: str, report: pb.Report, limits: Limits) -> None:
    for kind in KINDS:
        kind.validate(where, report, limits)


def validate_report(
    where: str, report: pb.Report, now_ms: int, limits: Limits, not_before_ms: int = 0
) -> None:
    """Raise Rejection for the first problem of one report: envelope, events, each kind, host facts."""
    _envelope(where, report, now_ms, limits)
    _events(where, report, limits, not_before_ms)
    _kinds(where, report, limits)
    if report.HasField("host"):
        validate_host(f"{where}.host", report.host)


def validate_push(request: pb.PushRequest, now_ms: int, limits: Limits, not_before_ms: int = 0) -> None:
    """Raise Rejection for the first problem found; a Push is accepted or refused as a whole.

    ``not_before_ms``: nothing the agent reports happened before (its enrolment less the oldest
    report age accepted; 0 = 1970)."""
    check_count("", "reports", len(request.reports), limits.max_reports_per_push)
    for name in ("config_version", "config_refused_version"):  # label values (fleetwatch_agent_config_*)
        value = getattr(request, name)
        if value and not CONFIG_VERSION_RE.fullmatch(value):
            raise Rejection("invalid_label", f"{name}: {value[:40]!r} is not a configuration version")
    if request.config_refused_reason:  # free text: logged, never a label
        check_text("", "config_refused_reason", request.config_refused_reason)
    # An agent holds the reports it sends: the lowest seq it holds is at most the highest it sends.
    highest = max((r.seq for r in request.reports), default=0)
    if request.oldest_held_seq > highest:
        raise Rejection(
            "invalid_seq",
            f"oldest_held_seq: {request.oldest_held_seq} is above every seq of this Push ({highest})",
        )
    valid_host: pb.HostInfo | None = None  # a backlog repeats one HostInfo: check it once
    for i, report in enumerate(request.reports):
        where = f"reports[{i}]"
        _envelope(where, report, now_ms, limits)
        _events(where, report, limits, not_before_ms)
        _kinds(where, report, limits)
        if report.HasField("host") and report.host != valid_host:
            validate_host(f"{where}.host", report.host)
            valid_host = report.host
