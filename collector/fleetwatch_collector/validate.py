"""Validation of incoming Push requests: limits, identities, timestamps (pure, no I/O)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import grpc

from fleetwatch_collector.textformat import CONTROL_CHARACTERS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9._-]{0,252})$")
SLUG_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
TARGET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
PROBE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_TEXT_BYTES = 256
AV_TEXT_FIELDS = ("name", "vendor", "product_version", "engine_version", "signature_version")
MAX_SEQ = 2**63 - 1  # SQLite integers are signed 64-bit


@dataclass(frozen=True)
class Limits:
    """Hard limits on what one Push may carry; documented in the proto and the collector README."""

    max_message_bytes: int = 4 * 1024 * 1024
    max_reports_per_push: int = 500
    max_probes: int = 32
    max_filesystems: int = 64
    max_interfaces: int = 64
    max_products: int = 16
    max_targets: int = 64
    max_network_devices: int = 16
    max_device_interfaces: int = 512
    max_events: int = 256
    max_future_seconds: int = 300
    max_age_seconds: int = 7 * 86400
    pushes_per_second_per_agent: float = 2.0
    push_burst: int = 30
    max_pending_pushes: int = 256
    retry_after_seconds: float = 2.0

    def validate(self) -> None:
        for name, value in vars(self).items():
            if value <= 0 or (isinstance(value, int) and value < 1):
                raise ValueError(f"{name}: must be at least 1")


class Rejection(Exception):
    """Input the collector refuses: a gRPC status, a reason label and a message for the agent."""

    def __init__(self, reason: str, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT):
        super().__init__(message)
        self.reason = reason
        self.code = code


def _text_problem(value: str) -> str | None:
    """What is wrong with a label-like text, None when nothing (the hot path: no formatting)."""
    if len(value) * 4 > MAX_TEXT_BYTES and len(value.encode()) > MAX_TEXT_BYTES:
        return f"longer than {MAX_TEXT_BYTES} bytes"
    bad = CONTROL_CHARACTERS.search(value)
    return f"control character {bad.group()!r} at {bad.start()}" if bad else None


def _text(where: str, field: str, value: str) -> None:
    problem = _text_problem(value)
    if problem:
        raise Rejection("invalid_label", f"{where}.{field}: {problem}")


def _count(where: str, field: str, actual: int, limit: int) -> None:
    if actual > limit:
        raise Rejection("too_many_items", f"{where}{field}: {actual} entries, at most {limit} allowed")


def validate_host(where: str, host: pb.HostInfo) -> None:
    """Hostname and site slugs strict (alerts group on them), other texts bounded."""
    if not HOSTNAME_RE.fullmatch(host.hostname):
        bad = next((c for c in host.hostname if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
        if bad is not None:
            detail = f"invalid character {bad!r}"
        elif host.hostname and host.hostname[0] in ".-":
            detail = "must start with a letter, digit or underscore"
        else:
            detail = "empty or longer than 253 bytes"
        raise Rejection("invalid_hostname", f"{where}.hostname: {detail} in {host.hostname[:64]!r}")
    for field in ("site", "district"):
        value = getattr(host, field)
        if value and not SLUG_RE.fullmatch(value):
            raise Rejection("invalid_label", f"{where}.{field}: {value[:64]!r} is not an ASCII slug")
    for field in (
        "os_family",
        "os_name",
        "os_version",
        "kernel",
        "arch",
        "agent_version",
        "site_name",
    ):
        _text(where, field, getattr(host, field))


def _resources(where: str, res: pb.Resources, limits: Limits) -> None:
    _count(where, ".filesystems", len(res.filesystems), limits.max_filesystems)
    _count(where, ".interfaces", len(res.interfaces), limits.max_interfaces)
    if not 0.0 <= res.cpu_utilization_ratio <= 1.0:  # also false for NaN
        raise Rejection(
            "invalid_value",
            f"{where}.cpu_utilization_ratio: {res.cpu_utilization_ratio} not in [0, 1]",
        )
    for value in (res.load.load1, res.load.load5, res.load.load15):
        if not math.isfinite(value) or value < 0:
            raise Rejection("invalid_value", f"{where}.load: {value} is not a finite non-negative number")
    for i, fs in enumerate(res.filesystems):
        if _text_problem(fs.mountpoint) or _text_problem(fs.fstype):
            _text(f"{where}.filesystems[{i}]", "mountpoint", fs.mountpoint)
            _text(f"{where}.filesystems[{i}]", "fstype", fs.fstype)
    for i, nic in enumerate(res.interfaces):
        if _text_problem(nic.name):
            _text(f"{where}.interfaces[{i}]", "name", nic.name)


def validate_report(
    where: str, report: pb.Report, now_ms: int, limits: Limits, check_host: bool = True
) -> None:
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
    if report.interval_seconds == 0 or report.interval_seconds > 3600:
        raise Rejection("invalid_value", f"{where}.interval_seconds: must be between 1 and 3600")
    _count(where, ".probes", len(report.probes), limits.max_probes)
    _count(where, ".events", len(report.events), limits.max_events)
    _count(where, ".network_devices", len(report.network_devices), limits.max_network_devices)
    for i, device in enumerate(report.network_devices):
        _count(
            f"{where}.network_devices[{i}]",
            ".interfaces",
            len(device.interfaces),
            limits.max_device_interfaces,
        )
    _count(where, ".antivirus.products", len(report.antivirus.products), limits.max_products)
    _count(where, ".connectivity.targets", len(report.connectivity.targets), limits.max_targets)
    for i, probe in enumerate(report.probes):
        if not PROBE_NAME_RE.fullmatch(probe.name):
            raise Rejection(
                "invalid_label",
                f"{where}.probes[{i}].name: {probe.name[:40]!r} is not a probe name",
            )
        if not math.isfinite(probe.duration_seconds) or probe.duration_seconds < 0:
            raise Rejection(
                "invalid_value",
                f"{where}.probes[{i}].duration_seconds: not a finite non-negative number",
            )
    if check_host and report.HasField("host"):
        validate_host(f"{where}.host", report.host)
    if report.HasField("resources"):
        _resources(f"{where}.resources", report.resources, limits)
    for i, product in enumerate(report.antivirus.products):
        for field in AV_TEXT_FIELDS:
            _text(f"{where}.antivirus.products[{i}]", field, getattr(product, field))
    for i, target in enumerate(report.connectivity.targets):
        if not TARGET_NAME_RE.fullmatch(target.name):
            raise Rejection(
                "invalid_label",
                f"{where}.connectivity.targets[{i}].name: {target.name[:64]!r} is not a target name",
            )
        for field in ("role", "path_last_hop", "detail"):
            _text(f"{where}.connectivity.targets[{i}]", field, getattr(target, field))
    for i, event in enumerate(report.events):
        if event.HasField("threat"):
            for field in ("product", "threat", "path", "action"):
                _text(f"{where}.events[{i}].threat", field, getattr(event.threat, field))
        elif event.HasField("device_seen"):
            for field in ("mac", "ip", "vendor"):
                _text(f"{where}.events[{i}].device_seen", field, getattr(event.device_seen, field))
        elif event.HasField("outage") and not TARGET_NAME_RE.fullmatch(event.outage.target):
            raise Rejection("invalid_label", f"{where}.events[{i}].outage.target: not a target name")


def validate_push(request: pb.PushRequest, now_ms: int, limits: Limits) -> None:
    """Raise Rejection for the first problem found; a Push is accepted or refused as a whole."""
    _count("", "reports", len(request.reports), limits.max_reports_per_push)
    valid_host: pb.HostInfo | None = None  # a backlog repeats one HostInfo: check it once
    for i, report in enumerate(request.reports):
        where = f"reports[{i}]"
        validate_report(where, report, now_ms, limits, check_host=False)
        if report.HasField("host") and report.host != valid_host:
            validate_host(f"{where}.host", report.host)
            valid_host = report.host
