"""One connectivity collection: plan targets, check them concurrently, diagnose failures, track outages."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from fleetwatch_agent.probes.connectivity import ConnectivityConfig, discovery, netinfo
from fleetwatch_agent.probes.connectivity.dnscheck import dns_resolve
from fleetwatch_agent.probes.connectivity.httpcheck import http_get
from fleetwatch_agent.probes.connectivity.icmp import icmp_echo
from fleetwatch_agent.probes.connectivity.model import (
    CheckResult,
    ConnectivityResult,
    LanResult,
    PathResult,
    TargetStatus,
)
from fleetwatch_agent.probes.connectivity.outages import track
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget, plan_targets
from fleetwatch_agent.probes.connectivity.tcpcheck import tcp_connect
from fleetwatch_agent.probes.connectivity.traceroute import (
    ICMP_ERROR_INTERVAL_SECONDS,
    PathLimiter,
    run_traceroute,
)
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_proto.addresses import host_of, is_loopback_host

MAX_WORKERS = 8
# Set to 1 in labs, tests and the demo: only targets on 127.0.0.0/8 (or ::1) are checked.
LOOPBACK_ONLY_ENV = "FLEETWATCH_LOOPBACK_ONLY"


def loopback_only() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "") == "1"


def is_loopback_target(target: PlannedTarget) -> bool:
    host = urlsplit(target.address).hostname if target.kind == "http" else host_of(target.address)
    return is_loopback_host(host or "")


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


def discover(config: ConnectivityConfig, context: ProbeContext) -> tuple[LanResult, str | None]:
    """One ARP sweep, the new devices, and the known-devices cursor to commit (None on failure)."""
    interface, network = config.discovery_interface, config.discovery_network
    if not interface:
        gateway = netinfo.default_gateway()
        import psutil

        addresses = {
            name: [(a.address, a.netmask or "") for a in addrs if a.family == socket.AF_INET]
            for name, addrs in psutil.net_if_addrs().items()
        }
        found = discovery.network_of(gateway, addresses) if gateway else None
        if found is None:
            return LanResult(0, error="no interface holds the default gateway's subnet"), None
        interface, network = found
    if loopback_only():
        return LanResult(0, error=f"{LOOPBACK_ONLY_ENV}=1: no sweep"), None
    sweep = discovery.run_sweep(interface, network, config.discovery_rate_per_second, config.timeout_seconds)
    if sweep.error:
        return LanResult(0, error=sweep.error), None
    known = discovery.known_from_cursor(context.cursors.get(discovery.CURSOR))
    fresh, cursor = discovery.new_devices(known, sweep)
    return LanResult(len(sweep.devices), tuple(fresh)), cursor


def make_collector(config: ConnectivityConfig, context: ProbeContext) -> Callable[[], ConnectivityResult]:
    limiter = PathLimiter(config.traceroute_min_interval_seconds, time.monotonic)
    lan_limiter = PathLimiter(config.discovery_interval_seconds, time.monotonic)
    path_timeout = max(1.0, config.timeout_seconds / 3)

    def diagnose(target: PlannedTarget, result: CheckResult) -> PathResult | None:
        if result.success or not config.traceroute or target.kind not in ("icmp", "tcp"):
            return None
        if not limiter.allow(target.name):
            return None
        # The failing burst has just spent the routers' ICMP error budget for this host (about
        # one error per second): give it that second before the first hop is asked.
        time.sleep(ICMP_ERROR_INTERVAL_SECONDS)
        return run_traceroute(host_of(target.address), config.traceroute_max_hops, path_timeout)

    def collect() -> ConnectivityResult:
        # The cycle's time is when its checks start: a traceroute after a failure takes seconds,
        # and stamping after it would make every outage that long too short.
        started_ms = int(context.clock() * 1000)
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
        outages, cursors = track(context.cursors, statuses, started_ms)
        lan = None
        if config.discovery and lan_limiter.allow("lan"):
            lan, known = discover(config, context)
            if known is not None:
                cursors[discovery.CURSOR] = known
        return ConnectivityResult(statuses, tuple(outages), lan, cursors)

    return collect
