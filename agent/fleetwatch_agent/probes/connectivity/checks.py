"""One cycle's checks: every target at once on one event loop, each by its deadline, all within the budget."""
# Every check has one deadline covering its name lookup and everything after: the cycle's (the probe's
# budget), or for HTTP the earlier of that and ``http_timeout_seconds`` after it starts. A check still limited
# by the cycle's deadline when it ends is "cut": its work did not fit the budget, and it counts as the cycle's
# overrun; its verdict is still reported (a timeout).

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import (
    Address,
    Attempt,
    CycleResolver,
    LookupFailed,
    Resolver,
    invalid_host,
    is_loopback_host,
    split_host_port,
    try_each,
)
from fleetwatch_agent.probes.connectivity.dnsquery import dns_queries
from fleetwatch_agent.probes.connectivity.httpcheck import http_request, parse_url
from fleetwatch_agent.probes.connectivity.icmp import ping
from fleetwatch_agent.probes.connectivity.model import CheckResult
from fleetwatch_agent.probes.connectivity.targets import PlannedTarget
from fleetwatch_agent.probes.connectivity.tcpcheck import tcp_burst

DNS_PORT = 53
MAX_TCP_CONNECTIONS = 3
# A check ending this close to the cycle's deadline was stopped by it.
CUT_SLACK_SECONDS = 0.02
# The cycle waits this long past the checks' deadline before it abandons one (never needed when
# every check keeps its deadline).
ABANDON_GRACE_SECONDS = 0.1


@dataclass(frozen=True)
class CheckSettings:
    """What every check of a cycle needs from [probes.connectivity]."""

    count: int = 5
    spacing_seconds: float = 0.2
    attempt_timeout_seconds: float = 1.0
    http_timeout_seconds: float = 5.0
    dns_name: str = ""
    loopback_only: bool = False


@dataclass(frozen=True)
class Checked:
    """One target's verdict, and whether the cycle's deadline cut its check."""

    result: CheckResult
    cut: bool = False


def _where(target: PlannedTarget) -> tuple[str, int, str]:
    """(host, port, problem) of a target's address; problem is "" when it can be checked."""
    try:
        if target.kind == "http":
            request = parse_url(target.address, target.ca_file)
            if isinstance(request, str):
                return "", 0, request
            return request.host, request.port, ""
        if target.kind == "tcp":
            host, port = split_host_port(target.address, None)
        elif target.kind == "dns":
            host, port = split_host_port(target.address, DNS_PORT)
        else:
            host, port = split_host_port(target.address, 0)
    except ValueError as exc:
        return "", 0, str(exc)
    return host, port, invalid_host(host)


def is_loopback_target(target: PlannedTarget) -> bool:
    """Whether the target's host is "localhost" or a loopback literal (127.0.0.0/8, ::1), for every kind."""
    host, _, problem = _where(target)
    return not problem and is_loopback_host(host)


def _sent(target: PlannedTarget, s: CheckSettings) -> int:
    return {"icmp": s.count, "tcp": min(s.count, MAX_TCP_CONNECTIONS), "dns": s.count}.get(target.kind, 1)


async def check_target(
    target: PlannedTarget, s: CheckSettings, deadline: float, resolve: Resolver
) -> CheckResult:
    """The check of one target by its kind, by ``deadline``; a bad address is a failed check ("other")."""
    host, port, problem = _where(target)
    if problem:
        return CheckResult(False, error="other", detail=problem)
    if target.kind == "http":
        deadline = min(deadline, aio.now() + s.http_timeout_seconds)
    sent = _sent(target, s)
    try:
        addresses: Sequence[Address] = await resolve(host, deadline)
    except LookupFailed as exc:
        return CheckResult(False, sent, error=exc.error, detail=exc.detail)
    if s.loopback_only:
        addresses = [a for a in addresses if a.is_loopback]
        if not addresses:
            return CheckResult(False, error="other", detail=f"{host} is not on loopback (loopback-only mode)")
    timeout, spacing = s.attempt_timeout_seconds, s.spacing_seconds

    async def one(address: Address) -> Attempt:
        if target.kind == "icmp":
            return await ping(address, sent, timeout, spacing, deadline)
        if target.kind == "tcp":
            return await tcp_burst(address, port, sent, timeout, spacing, deadline)
        if target.kind == "dns":
            return await dns_queries(address, port, s.dns_name, sent, timeout, spacing, deadline)
        request = parse_url(target.address, target.ca_file)
        assert not isinstance(request, str)  # checked above
        return await http_request(request, address, timeout, deadline)

    return await try_each(addresses, one, deadline)


async def _guarded(target: PlannedTarget, s: CheckSettings, deadline: float, resolve: Resolver) -> Checked:
    try:
        result = await check_target(target, s, deadline, resolve)
    except Exception as exc:  # one broken target must not hide the others
        return Checked(CheckResult(False, error="other", detail=f"{type(exc).__name__}: {exc}"[:200]))
    return Checked(result, not result.success and aio.now() >= deadline - CUT_SLACK_SECONDS)


async def run_all(
    plan: Sequence[PlannedTarget], s: CheckSettings, deadline: float, resolve: Resolver
) -> list[Checked]:
    """Every target's verdict, in plan order, by ``deadline`` (plus a moment to collect the answers)."""
    resolver = CycleResolver(deadline, resolve)
    tasks = [asyncio.ensure_future(_guarded(t, s, deadline, resolver)) for t in plan]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=aio.left(deadline) + ABANDON_GRACE_SECONDS)
    for task in pending:
        task.cancel()
    budget = "the cycle's budget"
    abandoned = Checked(CheckResult(False, error="timeout", detail=f"not finished within {budget}"), True)
    checked = [task.result() if task in done else abandoned for task in tasks]
    return [
        replace(c, result=replace(c.result, detail=f"cut at {budget}: {c.result.detail}"))
        if c.cut and c is not abandoned
        else c
        for c in checked
    ]
