"""Validation of incoming Push requests: the envelope and host facts here, each kind's part in kinds/."""

from __future__ import annotations

from fleetwatch_collector.checks import Limits, Rejection, check_count, check_texts
from fleetwatch_collector.kinds import KINDS
from fleetwatch_proto.limits import (
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
    check_count(where, ".network_devices", len(report.network_devices), limits.max_network_devices)
    for i, device in enumerate(report.network_devices):
        check_count(
            f"{where}.network_devices[{i}]",
            ".interfaces",
            len(device.interfaces),
            limits.max_device_interfaces,
        )


def _kinds(where: str, report: pb.Report, limits: Limits) -> None:
    for kind in KINDS:
        kind.validate(where, report, limits)


def validate_report(where: str, report: pb.Report, now_ms: int, limits: Limits) -> None:
    """Raise Rejection for the first problem of one report: envelope, each kind, then host facts."""
    _envelope(where, report, now_ms, limits)
    _kinds(where, report, limits)
    if report.HasField("host"):
        validate_host(f"{where}.host", report.host)


def validate_push(request: pb.PushRequest, now_ms: int, limits: Limits) -> None:
    """Raise Rejection for the first problem found; a Push is accepted or refused as a whole."""
    check_count("", "reports", len(request.reports), limits.max_reports_per_push)
    valid_host: pb.HostInfo | None = None  # a backlog repeats one HostInfo: check it once
    for i, report in enumerate(request.reports):
        where = f"reports[{i}]"
        _envelope(where, report, now_ms, limits)
        _kinds(where, report, limits)
        if report.HasField("host") and report.host != valid_host:
            validate_host(f"{where}.host", report.host)
            valid_host = report.host
