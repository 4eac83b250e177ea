"""One connectivity collection: plan targets, check them concurrently, diagnose failures, track outages."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from fleetwatch_agent.probes.connectivity import ConnectivityConfig, netinfo
from fleetwatch_agent.probes.connectivity.dnscheck import dns_resolve
from fleetwatch_agent.probes.connectivity.httpcheck import http_get
from fleetwatch_agent.probes.connectivity.icmp import icmp_echo
from fleetwatch_agent.probes.connectivity.model import (
    CheckResult,
    ConnectivityResult,
    PathResult,
    TargetStatus,
)
from fleetwatch_agent.probes.connectivity.outages import track
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget, host_of, plan_targets
from fleetwatch_agent.probes.connectivity.tcpcheck import tcp_connect
from fleetwatch_agent.probes.connectivity.traceroute import PathLimiter, run_traceroute
from fleetwatch_agent.probes.context import ProbeContext

MAX_WORKERS = 8
# Set to 1 in labs, tests and the demo: only targets on 127.0.0.0/8 (or ::1) are checked.
LOOPBACK_ONLY_ENV = "FLEETWATCH_LOOPBACK_ONLY"


def loopback_only() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "") == "1"


def is_loopback_target(target: PlannedTarget) -> bool:
    host = urlsplit(target.address).hostname if target.kind == "http" else host_of(target.address)
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return host == "localhost"


def run_check(config: ConnectivityConfig, target: PlannedTarget) -> CheckResult:
    """The check of one target by its kind; a bad address is a failed check, never an exception."""
    timeout = config.attempt_timeout_seconds
    try:
        if target.kind == "icmp":
            return icmp_echo(host_of(target.address), config.count, timeout, config.spacing_seconds)
        if target.kind == "tcp":
            host, _, port = target.address.rpartition(":")
            if not port.isdigit():
                return CheckResult(False, error="other", detail=f"{target.address!r} is not host:port")
            return tcp_connect(host.strip("[]"), int(port), min(config.count, 3), timeout)
        if target.kind == "dns":
            return dns_resolve(target.address, config.dns_name, timeout)
        return http_get(target.address, max(timeout, 5.0), target.ca_file)
    except Exception as exc:  # one broken target must not hide the others
        return CheckResult(False, error="other", detail=f"{type(exc).__name__}: {exc}"[:200])


def make_collector(config: ConnectivityConfig, context: ProbeContext) -> Callable[[], ConnectivityResult]:
    limiter = PathLimiter(config.traceroute_min_interval_seconds, time.monotonic)
    path_timeout = max(1.0, config.timeout_seconds / 3)

    def diagnose(target: PlannedTarget, result: CheckResult) -> PathResult | None:
        if result.success or not config.traceroute or target.kind not in ("icmp", "tcp"):
            return None
        if not limiter.allow(target.name):
            return None
        return run_traceroute(host_of(target.address), config.traceroute_max_hops, path_timeout)

    def collect() -> ConnectivityResult:
        plan = plan_targets(
            gateway=netinfo.default_gateway() if config.gateway else None,
            dns_servers=netinfo.dns_servers() if config.dns_name else [],
            dns_name=config.dns_name,
            collector_addresses=context.collector_addresses if config.collector else (),
            site_router=config.site_router,
            custom=config.targets,
        )
        if loopback_only():
            plan = [t for t in plan if is_loopback_target(t)]
        if not plan:
            return ConnectivityResult(())
        with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(plan))) as pool:
            results = list(pool.map(lambda t: run_check(config, t), plan))
            paths = list(pool.map(diagnose, plan, results))
        statuses = tuple(
            TargetStatus(t.name, t.kind, t.role, r, p) for t, r, p in zip(plan, results, paths, strict=True)
        )
        outages, cursors = track(context.cursors, statuses, int(context.clock() * 1000))
        return ConnectivityResult(statuses, tuple(outages), cursors)

    return collect
