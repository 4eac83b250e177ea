"""TCP check: the handshake time to host:port over a short burst of connections, and socket error reasons."""
# "Up" means the TCP handshake completed: our SYN was answered by a SYN-ACK. A server that accepts and then
# resets at once (or closes) is up: the reset comes after the handshake, and the verdict does not depend on
# whether it arrives before or after the connect is seen to finish.

from __future__ import annotations

import asyncio
import errno
import socket

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import (
    SYSTEM,
    Address,
    Attempt,
    LookupFailed,
    invalid_host,
    try_each,
)
from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts

__all__ = ["invalid_host", "os_error_reason", "tcp_burst", "tcp_connect"]


def _codes(*names: str) -> frozenset[int]:
    return frozenset(code for name in names if (code := getattr(errno, name, None)) is not None)


# errno values meaning "no route to the peer"; Windows reports sockets' WSAE* codes instead.
UNREACHABLE_ERRNOS = _codes(
    "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN",
    "WSAEHOSTUNREACH", "WSAENETUNREACH", "WSAEHOSTDOWN", "WSAENETDOWN",
)  # fmt: skip
REFUSED_ERRNOS = _codes("ECONNREFUSED", "WSAECONNREFUSED") | {10061}
# A reset or abort seen when the connect finishes: the handshake had completed (a reset
# answering a SYN is ECONNREFUSED instead). Windows: WSAECONNRESET, WSAECONNABORTED.
RESET_AFTER_HANDSHAKE = _codes("ECONNRESET", "ECONNABORTED", "EPIPE") | {10053, 10054}
TIMEOUT_ERRNOS = _codes("ETIMEDOUT", "WSAETIMEDOUT") | {10060}
# The wait for a name lookup when tcp_connect is called directly (the probe passes its deadline).
LOOKUP_SECONDS = 5.0


def os_error_reason(exc: OSError) -> tuple[ErrorReason, str]:
    """The failure reason of a socket error (from the fixed set of CheckResult.error) and a detail."""
    detail = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return "dns_error", detail
    if isinstance(exc, ConnectionRefusedError) or exc.errno in REFUSED_ERRNOS:
        return "refused", "connection refused"
    if isinstance(exc, TimeoutError) or exc.errno in TIMEOUT_ERRNOS:
        return "timeout", "timed out"
    if exc.errno in UNREACHABLE_ERRNOS:
        return "unreachable", detail
    return "other", detail


async def _handshake(address: Address, port: int, timeout: float) -> float | OSError:
    """The handshake time of one connection to address:port, or the error that prevented it."""
    try:
        sock = socket.socket(address.family, socket.SOCK_STREAM)
    except OSError as exc:
        return exc
    with sock:
        start = aio.now()
        try:
            await aio.connect(sock, address.sockaddr(port), timeout)
        except TimeoutError:
            return TimeoutError(f"no answer within {timeout:g} s")
        except OSError as exc:
            if exc.errno not in RESET_AFTER_HANDSHAKE:
                return exc
        return aio.now() - start


async def tcp_burst(
    address: Address, port: int, count: int, timeout: float, spacing: float, deadline: float
) -> Attempt:
    """``count`` connections to address:port started ``spacing`` apart, each waiting up to ``timeout``."""
    # The round-trip time of each is its handshake time. Everything ends by ``deadline``: a connection still
    # waiting then counts as a timeout. The address answered when a handshake completed.
    start = aio.now()

    async def one(index: int) -> float | OSError:
        if index:  # the first one now, without a turn of the loop
            await asyncio.sleep(index * spacing)
        left = min(timeout, aio.left(deadline))
        if left <= 0:
            return TimeoutError("no time left")
        return await _handshake(address, port, left)

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - start))
    for task in pending:
        task.cancel()
    outcomes = [t.result() if t in done else TimeoutError("cut at the deadline") for t in tasks]
    rtts = [o for o in outcomes if isinstance(o, float)]
    where = address.with_port(port)
    if rtts:
        return Attempt(from_rtts(count, rtts, detail=where), True)
    errors = [o for o in outcomes if isinstance(o, OSError)]
    first = next((e for e in errors if not isinstance(e, TimeoutError)), errors[0])
    reason, detail = os_error_reason(first)
    return Attempt(from_rtts(count, [], reason, f"{where}: {detail}"), False)


def tcp_connect(
    host: str,
    port: int,
    count: int = 3,
    timeout: float = 2.0,
    spacing: float = 0.2,
    deadline: float | None = None,
) -> CheckResult:
    """Connect ``count`` times to host:port (a literal or a name), each address in turn until one answers."""
    # Arguments that cannot work (bad port, count, name) give error "other" with sent 0: nothing was
    # attempted. A name that does not resolve gives "dns_error" with sent ``count``, like a burst without
    # answers. Everything ends by ``deadline`` (monotonic seconds; by default the bursts of two addresses
    # after a lookup).
    problem = invalid_host(host)
    if not problem and not 0 < port < 65536:
        problem = f"port {port} out of range 1-65535"
    if not problem and count < 1:
        problem = f"count must be at least 1, not {count}"
    if problem:
        return from_rtts(0, [], "other", problem)
    burst_seconds = (count - 1) * spacing + timeout
    until = deadline if deadline is not None else aio.now() + LOOKUP_SECONDS + 2 * burst_seconds

    async def check() -> CheckResult:
        try:
            addresses = await SYSTEM.resolve(host, until)
        except LookupFailed as exc:
            return from_rtts(count, [], exc.error, exc.detail)
        return await try_each(addresses, lambda a: tcp_burst(a, port, count, timeout, spacing, until), until)

    return aio.run(check())
