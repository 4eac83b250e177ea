"""The connectivity probe: reachability, latency, loss and outages seen from the workstation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from fleetwatch_agent.probes.connectivity import wire
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult
from fleetwatch_agent.probes.connectivity.targets import TargetConfig
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.definition import ProbeDefinition, check_interval
from fleetwatch_proto.limits import TARGET_NAME_RE


@dataclass(frozen=True)
class ConnectivityConfig:
    """Settings of the connectivity probe: [probes.connectivity]. Nothing public is probed by default."""

    enabled: bool = True
    # Seconds between two rounds of checks; an outage is measured to within this much.
    interval_seconds: float = 60.0
    # Seconds one cycle's checks may take (they end by 90% of it); keep it below interval_seconds.
    # Traceroutes and LAN sweeps run after the report, within as long again.
    timeout_seconds: float = 10.0
    # Attempts per ICMP/TCP/DNS burst (TCP: at most 3), the spacing between them and the wait for
    # each answer (for HTTP: for the connection to each address).
    count: int = 5
    spacing_seconds: float = 0.2
    attempt_timeout_seconds: float = 1.0
    # One deadline per HTTP check: name lookup, connect, TLS handshake and response headers.
    http_timeout_seconds: float = 5.0
    # Check the default gateway (ICMP) found in the routing table.
    gateway: bool = True
    # Resolve this name through each DNS server of the host ("" = no DNS checks).
    dns_name: str = ""
    # Check the TCP port of each collector address.
    collector: bool = True
    # Address of the site's router to ping ("" = none).
    site_router: str = ""
    # More targets: [[probes.connectivity.targets]] name, kind (icmp|tcp|dns|http), address, ca_file.
    targets: tuple[TargetConfig, ...] = ()
    # When a target fails (timeout, unreachable): a short traceroute in the background after the
    # report (no privilege needed: ICMP or UDP datagram sockets, IcmpSendEcho2 on Windows), reported
    # in the next one; at most once per target per this many seconds.
    traceroute: bool = True
    traceroute_min_interval_seconds: float = 900.0
    traceroute_max_hops: int = 15
    # LAN discovery: an ARP sweep of the local subnet (needs root or CAP_NET_RAW), at most once
    # per discovery_interval_seconds, at most discovery_rate_per_second requests; new MAC
    # addresses are reported as events. The subnet is the one holding the gateway unless
    # discovery_interface and discovery_network (e.g. "192.168.1.0/24", at most a /22) are set.
    discovery: bool = False
    discovery_interval_seconds: float = 3600.0
    discovery_rate_per_second: float = 50.0
    discovery_interface: str = ""
    discovery_network: str = ""
    # Windows: where the default gateway and DNS servers are read. "auto": the IP Helper API in-process,
    # or `route print` and PowerShell (a process each per cycle) when it fails when the agent starts;
    # decided once, logged, shown by `check`. "iphlpapi" or "commands": that one, no fallback.
    windows_source: Literal["auto", "iphlpapi", "commands"] = "auto"

    def validate(self) -> None:
        check_interval(self.interval_seconds)
        if min(self.timeout_seconds, self.attempt_timeout_seconds, self.http_timeout_seconds) <= 0:
            raise ValueError(
                "timeout_seconds, attempt_timeout_seconds, http_timeout_seconds: must be positive"
            )
        if self.spacing_seconds < 0:
            raise ValueError("spacing_seconds: must not be negative")
        if not 1 <= self.count <= 100:
            raise ValueError("count: must be between 1 and 100")
        if not 1 <= self.traceroute_max_hops <= 64:
            raise ValueError("traceroute_max_hops: must be between 1 and 64")
        if not 1 <= self.discovery_rate_per_second <= 1000 or self.discovery_interval_seconds < 60:
            raise ValueError("discovery_rate_per_second: 1-1000; discovery_interval_seconds: at least 60")
        if self.windows_source not in ("auto", "iphlpapi", "commands"):
            raise ValueError(f"windows_source: {self.windows_source!r} is not auto, iphlpapi or commands")
        if bool(self.discovery_interface) != bool(self.discovery_network):
            raise ValueError("discovery_interface and discovery_network: set both or neither")
        for i, target in enumerate(self.targets):
            if not TARGET_NAME_RE.fullmatch(target.name):
                raise ValueError(f"targets[{i}].name: {target.name!r} must be a short lowercase name")
            if target.kind == "dns" and not self.dns_name:
                raise ValueError(f"targets[{i}]: a dns target needs dns_name")


def make_collector(config: ConnectivityConfig, context: ProbeContext) -> Callable[[], ConnectivityResult]:
    from fleetwatch_agent.probes.connectivity.collect import make_collector as make

    return make(config, context)


def summary_lines(result: ConnectivityResult, now: float) -> list[str]:
    """The lines `fleetwatch-agent check` prints; summary.py is imported by `check` only."""
    from fleetwatch_agent.probes.connectivity import summary

    return summary.lines(result, now)


PROBE = ProbeDefinition("connectivity", ConnectivityConfig, make_collector, wire.to_wire, summary_lines)
