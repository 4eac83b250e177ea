"""One connectivity collection: plan targets, check them concurrently within the budget, track outages."""
# The cycle's checks end by its budget, ``timeout_seconds`` times BUDGET_SHARE (the rest is margin for the
# runner, which abandons the probe at ``timeout_seconds``); ``timeout_seconds`` itself must be below the
# agent's interval. Slow work that is not a check runs in the background after the report is made, within its
# own budget (``timeout_seconds`` again), and its result rides in the next report: traceroutes of failing
# targets and the LAN sweep.

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from fleetwatch_agent.probes.connectivity import ConnectivityConfig, aio, discovery, netinfo
from fleetwatch_agent.probes.connectivity.addressing import SYSTEM, Resolver
from fleetwatch_agent.probes.connectivity.checks import CheckSettings, is_loopback_target, run_all
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult, LanResult, TargetStatus
from fleetwatch_agent.probes.connectivity.outages import track
from fleetwatch_agent.probes.connectivity.pathdiag import PathDiagnosis
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget, plan_targets
from fleetwatch_agent.probes.connectivity.traceroute import PathLimiter
from fleetwatch_agent.probes.context import ProbeContext

log = logging.getLogger(__name__)

BUDGET_SHARE = 0.9
PLANNING_SHARE = 0.25
# Set to 1 in labs, tests and the demo: only targets on 127.0.0.0/8 (or ::1) are checked.
LOOPBACK_ONLY_ENV = "FLEETWATCH_LOOPBACK_ONLY"
DIAGNOSED_ERRORS = ("timeout", "unreachable")


def loopback_only() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "") == "1"


def check_budget(config: ConnectivityConfig) -> float:
    """Seconds the checks of one cycle may take."""
    return config.timeout_seconds * BUDGET_SHARE


def settings(config: ConnectivityConfig) -> CheckSettings:
    return CheckSettings(
        config.count,
        config.spacing_seconds,
        config.attempt_timeout_seconds,
        config.http_timeout_seconds,
        config.dns_name,
        loopback_only(),
    )


def check_plan(
    plan: Sequence[PlannedTarget],
    config: ConnectivityConfig,
    resolve: Resolver = SYSTEM.resolve,
    deadline: float | None = None,
    loop: aio.Loop | None = None,
) -> list[tuple[TargetStatus, bool]]:
    """Check every target of ``plan`` by ``deadline`` (default: one budget from now), on ``loop`` (default:
    a new one)."""
    # Returns each target's status (without a path) and whether the deadline cut its check.
    deadline = aio.now() + check_budget(config) if deadline is None else deadline
    run = loop.run if loop is not None else aio.run
    checked = run(run_all(plan, settings(config), deadline, resolve)) if plan else []
    return [
        (TargetStatus(t.name, t.kind, t.role, c.result), c.cut) for t, c in zip(plan, checked, strict=True)
    ]


def _sweep(config: ConnectivityConfig) -> discovery.Sweep:
    """One ARP sweep of the configured subnet, or of the one holding the default gateway."""
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
            return discovery.Sweep(error="no interface holds the default gateway's subnet")
        interface, network = found
    if loopback_only():
        return discovery.Sweep(error=f"{LOOPBACK_ONLY_ENV}=1: no sweep")
    return discovery.run_sweep(interface, network, config.discovery_rate_per_second, config.timeout_seconds)


class LanSweeps:
    """The LAN sweep in a background thread; the cycle after it finished reports it."""

    def __init__(
        self, config: ConnectivityConfig, sweep: Callable[[ConnectivityConfig], discovery.Sweep] = _sweep
    ):
        self._config = config
        self._sweep = sweep
        self._limiter = PathLimiter(config.discovery_interval_seconds, time.monotonic)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done: discovery.Sweep | None = None

    def _run(self) -> None:
        try:
            result = self._sweep(self._config)
        except Exception as exc:  # never let the thread die silently
            result = discovery.Sweep(error=f"{type(exc).__name__}: {exc}"[:200])
        with self._lock:
            self._done = result

    def take(self, context: ProbeContext) -> tuple[LanResult | None, dict[str, str]]:
        """The finished sweep's result and cursor, if any; starts the next one when due."""
        with self._lock:
            done, self._done = self._done, None
            idle = self._thread is None or not self._thread.is_alive()
        if idle and self._limiter.allow("lan"):
            self._thread = threading.Thread(target=self._run, name="lan-sweep", daemon=True)
            self._thread.start()
        if done is None:
            return None, {}
        if done.error:
            return LanResult(0, error=done.error), {}
        known = discovery.known_from_cursor(context.cursors.get(discovery.CURSOR))
        fresh, cursor = discovery.new_devices(known, done)
        return LanResult(len(done.devices), tuple(fresh)), {discovery.CURSOR: cursor}


def _ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def make_collector(
    config: ConnectivityConfig,
    context: ProbeContext,
    *,
    resolve: Resolver = SYSTEM.resolve,
    paths: PathDiagnosis | None = None,
    network: netinfo.Reader | None = None,
) -> Callable[[], ConnectivityResult]:
    """The probe's collect function; tests replace name lookups (``resolve``), traceroutes (``paths``) and
    where the gateway and DNS servers are read (``network``, else chosen now from ``windows_source``)."""
    network = network or netinfo.choose_reader(config.windows_source)
    limiter = PathLimiter(config.traceroute_min_interval_seconds, time.monotonic)
    diagnosis = paths or PathDiagnosis(config.traceroute_max_hops, config.timeout_seconds)
    sweeps = LanSweeps(config)
    loop = aio.Loop()  # the checks' loop, closed when the probe is dropped (a new configuration)
    overruns = 0

    def diagnose(statuses: Sequence[TargetStatus]) -> int:
        """Start the diagnosis of the failing targets that are due; 1 when the previous one still runs."""
        failing = {
            s.name: s.result.address
            for s in statuses
            if not s.result.success and s.result.error in DIAGNOSED_ERRORS and _ip_literal(s.result.address)
        }
        due = {name: address for name, address in failing.items() if limiter.due(name)}
        if not due:
            return 0
        if diagnosis.busy():
            log.warning(
                "connectivity: path diagnosis still running; %s wait for the next cycle", ", ".join(due)
            )
            return 1
        diagnosis.start({name: address for name, address in due.items() if limiter.allow(name)})
        return 0

    def collect() -> ConnectivityResult:
        nonlocal overruns
        # The cycle's time is when its checks start: outages begin in the first cycle that saw them.
        started_ms = int(context.clock() * 1000)
        deadline = aio.now() + check_budget(config)
        finished, path_overruns = diagnosis.take()
        # Windows's fallback asks `route print` and PowerShell: a share of the budget at most.
        ask = max(0.5, check_budget(config) * PLANNING_SHARE)
        plan = plan_targets(
            gateway=network.default_gateway(ask) if config.gateway else None,
            dns_servers=network.dns_servers(ask) if config.dns_name else [],
            dns_name=config.dns_name,
            collector_addresses=context.collector_addresses if config.collector else (),
            site_router=config.site_router,
            custom=config.targets,
        )
        if loopback_only():
            plan = [t for t in plan if is_loopback_target(t)]
        checked = check_plan(plan, config, resolve, deadline, loop)
        cut = [status.name for status, was_cut in checked if was_cut]
        overruns += path_overruns + bool(cut)
        if cut:
            budget = check_budget(config)
            log.warning("connectivity: checks cut at the cycle's budget of %g s: %s", budget, ", ".join(cut))
        statuses = tuple(
            TargetStatus(s.name, s.kind, s.role, s.result, finished.get(s.name)) for s, _ in checked
        )
        outages, cursors = track(context.cursors, statuses, started_ms)
        if config.traceroute:
            overruns += diagnose(statuses)
        lan = None
        if config.discovery:
            lan, known = sweeps.take(context)
            cursors.update(known)
        return ConnectivityResult(
            statuses,
            tuple(outages),
            lan,
            cursors,
            len(cut),
            overruns,
            network_source=network.source,
            network_source_note=network.note,
        )

    weakref.finalize(collect, loop.close)
    return collect
