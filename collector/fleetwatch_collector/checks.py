"""Push validation's shared pieces: the configurable Limits, Rejection, and the text and count checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc

from fleetwatch_proto.limits import (
    CONTROL_CHARACTERS,
    MAX_DEVICE_INTERFACES,
    MAX_EVENTS,
    MAX_FILESYSTEMS,
    MAX_INTERFACES,
    MAX_NETWORK_DEVICES,
    MAX_PROBES,
    MAX_PRODUCTS,
    MAX_REPORT_DEVICE_INTERFACES,
    MAX_REPORTS_PER_PUSH,
    MAX_TARGETS,
    MAX_TEXT_BYTES,
    MAX_TOTALS_KEYS,
)

# Longest duration or round-trip time anything reports, in seconds (one day).
MAX_SECONDS = 86400.0


@dataclass(frozen=True)
class Limits:
    """Hard limits on what one Push may carry; documented in the proto and the collector README."""

    max_message_bytes: int = 4 * 1024 * 1024
    max_reports_per_push: int = MAX_REPORTS_PER_PUSH
    max_probes: int = MAX_PROBES
    max_filesystems: int = MAX_FILESYSTEMS
    max_interfaces: int = MAX_INTERFACES
    max_products: int = MAX_PRODUCTS
    max_targets: int = MAX_TARGETS
    max_network_devices: int = MAX_NETWORK_DEVICES
    max_device_interfaces: int = MAX_DEVICE_INTERFACES
    max_report_device_interfaces: int = MAX_REPORT_DEVICE_INTERFACES
    max_events: int = MAX_EVENTS
    max_future_seconds: int = 300
    max_age_seconds: int = 7 * 86400
    pushes_per_second_per_agent: float = 2.0
    push_burst: int = 30
    max_pending_pushes: int = 4096
    store_wait_target_seconds: float = 1.0
    store_wait_interval_seconds: float = 5.0
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


def text_problem(value: str) -> str | None:
    """What is wrong with a label-like text, None when nothing (the hot path: no formatting)."""
    if len(value) * 4 > MAX_TEXT_BYTES and len(value.encode()) > MAX_TEXT_BYTES:
        return f"longer than {MAX_TEXT_BYTES} bytes"
    bad = CONTROL_CHARACTERS.search(value)
    return f"control character {bad.group()!r} at {bad.start()}" if bad else None


def check_text(where: str, field: str, value: str) -> None:
    """Refuse ``value`` (at ``where.field``) unless it is a bounded text without control characters."""
    problem = text_problem(value)
    if problem:
        raise Rejection("invalid_label", f"{where}.{field}: {problem}")


def check_texts(where: str, message: object, fields: tuple[str, ...]) -> None:
    """``check_text`` for each of ``fields`` of ``message``."""
    for field in fields:
        check_text(where, field, getattr(message, field))


def check_range(where: str, field: str, value: float, low: float, high: float) -> None:
    """Refuse ``value`` unless it is a finite number in [low, high] (NaN and infinities are not)."""
    if not low <= value <= high:  # also false for NaN
        raise Rejection("invalid_value", f"{where}.{field}: {value} is not a number in [{low:g}, {high:g}]")


def check_count(where: str, field: str, actual: int, limit: int) -> None:
    """Refuse more than ``limit`` entries in the repeated field ``field`` (with its leading dot)."""
    if actual > limit:
        raise Rejection("too_many_items", f"{where}{field}: {actual} entries, at most {limit} allowed")


def check_counts(
    where: str,
    field: str,
    counts: Mapping[str, float],
    key_problem: Callable[[str], str | None] = text_problem,
) -> None:
    """Refuse an agent's counts by key (Totals) with more keys than counters keep, a key
    ``key_problem`` objects to, or a count that is not a finite number >= 0. Counts lower than the
    newest stored are accepted: a new spool (reinstalled agent) restarts them, a counter reset."""
    check_count(where, f".{field}", len(counts), MAX_TOTALS_KEYS)
    for key, value in counts.items():
        problem = key_problem(key)
        if problem:
            raise Rejection("invalid_label", f"{where}.{field}[{key[:64]!r}]: {problem}")
        if not 0.0 <= value < math.inf:  # also false for NaN
            raise Rejection("invalid_value", f"{where}.{field}[{key[:64]!r}]: {value} is not a count")
