"""Which targets a cycle checks: the gateway, DNS servers, collectors, the site router, configured ones.

Pure: the discovered gateway and DNS servers are passed in. Names are the only label values
(never an address from the network); defaults probe nothing public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fleetwatch_agent.probes.connectivity.model import Kind
from fleetwatch_proto.limits import MAX_TARGETS

Role = Literal["gateway", "dns", "collector", "site_router", "custom"]


@dataclass(frozen=True)
class TargetConfig:
    """A target to check besides the discovered ones."""

    # Label value in metrics: a short name, e.g. "internet-portal".
    name: str
    kind: Kind
    # icmp: host; tcp: host:port; dns: server address (dns_name is resolved through it); http: URL.
    address: str
    # http: PEM CA bundle for its certificate ("" = the system's roots).
    ca_file: str = ""


@dataclass(frozen=True)
class PlannedTarget:
    name: str
    kind: Kind
    role: Role
    address: str
    ca_file: str = ""


def plan_targets(
    *,
    gateway: str | None,
    dns_servers: Sequence[str],
    dns_name: str,
    collector_addresses: Sequence[str],
    site_router: str,
    custom: Sequence[TargetConfig],
) -> list[PlannedTarget]:
    """The targets of one cycle, in a stable order, at most MAX_TARGETS."""
    planned: list[PlannedTarget] = []
    if gateway:
        planned.append(PlannedTarget("gateway", "icmp", "gateway", gateway))
    if dns_name:
        for i, server in enumerate(dns_servers, 1):
            planned.append(PlannedTarget(f"dns-{i}", "dns", "dns", server))
    for i, address in enumerate(collector_addresses, 1):
        name = "collector" if len(collector_addresses) == 1 else f"collector-{i}"
        planned.append(PlannedTarget(name, "tcp", "collector", address))
    if site_router:
        planned.append(PlannedTarget("site-router", "icmp", "site_router", site_router))
    taken = {p.name for p in planned}
    for target in custom:
        if target.name not in taken:
            planned.append(PlannedTarget(target.name, target.kind, "custom", target.address, target.ca_file))
            taken.add(target.name)
    return planned[:MAX_TARGETS]
