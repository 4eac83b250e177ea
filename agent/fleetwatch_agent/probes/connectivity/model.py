"""What one connectivity check measured, the same for every kind (ICMP, TCP, DNS, HTTP)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

# The short names of the contract's ProbeKind and ProbeError (fleetwatch_proto.names), spelled
# out for the type checker; tests/agent/test_registry.py keeps them equal to the descriptors.
Kind = Literal["icmp", "tcp", "dns", "http"]
# The fixed set of reasons a check fails; "" when it succeeded.
ErrorReason = Literal[
    "", "timeout", "refused", "unreachable", "dns_error", "tls_error", "http_status", "unsupported", "other"
]


@dataclass(frozen=True)
class CheckResult:
    success: bool
    sent: int = 0
    received: int = 0
    rtt_min_seconds: float = 0.0
    rtt_avg_seconds: float = 0.0
    rtt_max_seconds: float = 0.0
    jitter_seconds: float = 0.0
    error: ErrorReason = ""
    detail: str = ""  # for people: what exactly failed
    http_status: int = 0
    tls_cert_not_after_unix: int | None = None  # https: the peer certificate's notAfter (Unix seconds)
    # The address this verdict is about: the one that answered, else the first one tried.
    address: str = ""

    @property
    def loss_ratio(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 0.0


def _mean(values: Sequence[float]) -> float:
    """statistics.fmean, without importing statistics (and decimal, fractions) into the running agent."""
    return math.fsum(values) / len(values)


def from_rtts(
    sent: int, rtts: Sequence[float], error: ErrorReason = "", detail: str = "", **extra: object
) -> CheckResult:
    """A result from the round-trip times of the answered attempts of a burst."""
    # Jitter is the mean absolute difference of consecutive round-trip times (RFC 3550's interarrival jitter
    # without smoothing, over one burst). Success means at least one answer.
    if not rtts:
        return CheckResult(False, sent, 0, error=error or "timeout", detail=detail, **extra)  # type: ignore[arg-type]
    jitter = _mean([abs(b - a) for a, b in itertools.pairwise(rtts)]) if len(rtts) > 1 else 0.0
    return CheckResult(
        True,
        sent,
        len(rtts),
        min(rtts),
        _mean(rtts),
        max(rtts),
        jitter,
        "",
        detail,
        **extra,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class PathResult:
    """A short traceroute: hops answered up to the last one, and that hop's address."""

    hops: int = 0  # number of the last hop that answered (its TTL), 0 when none
    last_hop: str = ""
    reached: bool = False
    error: str = ""


@dataclass(frozen=True)
class TargetStatus:
    name: str  # configured name: the only label value
    kind: Kind
    role: str  # gateway, dns, collector, site_router, custom
    result: CheckResult
    path: PathResult | None = None


@dataclass(frozen=True)
class Outage:
    target: str
    start_unix_ms: int
    end_unix_ms: int


@dataclass(frozen=True)
class LanResult:
    """One ARP sweep: how many devices answered, which of them are new (mac, ip)."""

    devices: int
    new: tuple[tuple[str, str], ...] = ()
    error: str = ""


@dataclass(frozen=True)
class ConnectivityResult:
    targets: tuple[TargetStatus, ...]
    outages: tuple[Outage, ...] = ()
    lan: LanResult | None = None
    # New cursor values (see probes/context.py): per-target "down since", committed with the report.
    cursors: dict[str, str] = field(default_factory=dict)
    # Checks of this cycle stopped at the cycle's budget (each reported as a timeout).
    checks_cut: int = 0
    # Since the agent started: cycles with checks cut, and path diagnoses cut at their budget or
    # skipped because the previous one was still running.
    overruns_total: int = 0
    # Where the gateway and DNS servers were read (netinfo.Reader, chosen once at start), and why when
    # it is not the preferred one. Shown by `check`, not sent.
    network_source: str = ""
    network_source_note: str = ""


# The sources of network_source, for people.
NETWORK_SOURCES: dict[str, str] = {
    "files": "/proc/net/route and /etc/resolv.conf",
    "iphlpapi": "the IP Helper API, in-process",
    "commands": "`route print` and PowerShell, a process each per cycle",
}
