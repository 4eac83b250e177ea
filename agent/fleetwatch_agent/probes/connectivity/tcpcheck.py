"""TCP check: the handshake time to host:port over a short burst of connections, and socket error reasons."""
# "Up" means the TCP handshake completed: our SYN was answered by a SYN-ACK. A server that accepts and then
# resets at once (or closes) is up: the reset comes after the handshake, and the verdict does not depend on
# whether it arrives before or after the connect is seen to finish.

from __future__ import annotations

import asyncio
import errno
import os
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


class _Burst:
    """The connections of one burst, driven by the loop's callbacks: a timer starts each one, the socket
    turning writable (or its own timer) ends it."""

    # A task per connection took five turns of the loop each (its sleep, its start, the socket ready, its
    # end, the wait for it), a few hundred microseconds of CPU when the probe wakes cold every minute;
    # callbacks take two (benchmarks/RESULTS.md, bench_agent_rss --footprint).

    def __init__(self, address: Address, port: int, count: int, timeout: float, deadline: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockaddr = address.sockaddr(port)
        self._family = address.family
        self._timeout, self._deadline = timeout, deadline
        self.outcomes: list[float | OSError] = [TimeoutError("cut at the deadline")] * count
        self._left = count
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._timers: list[asyncio.TimerHandle] = []
        self._open: dict[int, tuple[socket.socket, float]] = {}  # index: socket, when it started

    def start(self, index: int, delay: float) -> None:
        """Start connection ``index`` after ``delay`` seconds (now when 0)."""
        if delay <= 0:
            self._connect(index)
        else:
            self._timers.append(self._loop.call_later(delay, self._connect, index))

    def _connect(self, index: int) -> None:
        wait = min(self._timeout, aio.left(self._deadline))
        if wait <= 0:
            self._end(index, TimeoutError("no time left"))
            return
        try:
            sock = socket.socket(self._family, socket.SOCK_STREAM)
        except OSError as exc:
            self._end(index, exc)
            return
        try:
            sock.setblocking(False)
            started = aio.now()
            code = sock.connect_ex(self._sockaddr)
            if code in aio.IN_PROGRESS:
                self._loop.add_writer(sock.fileno(), self._finish, index)
                self._open[index] = (sock, started)
                self._timers.append(self._loop.call_later(wait, self._expire, index, wait))
                return
        except OSError as exc:
            sock.close()
            self._end(index, exc)
            return
        sock.close()
        self._end(index, _outcome(code, aio.now() - started))

    def _finish(self, index: int) -> None:
        sock, started = self._close(index)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        sock.close()
        self._end(index, _outcome(code, aio.now() - started))

    def _expire(self, index: int, wait: float) -> None:
        if index in self._open:
            self._close(index)[0].close()
            self._end(index, TimeoutError(f"no answer within {wait:g} s"))

    def _close(self, index: int) -> tuple[socket.socket, float]:
        sock, started = self._open.pop(index)
        self._loop.remove_writer(sock.fileno())
        return sock, started

    def _end(self, index: int, outcome: float | OSError) -> None:
        self.outcomes[index] = outcome
        self._left -= 1
        if not self._left and not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        """Stop what has not ended (the deadline came, or the check was cancelled): it stays a timeout."""
        for timer in self._timers:
            timer.cancel()
        for index in list(self._open):
            self._close(index)[0].close()


def _outcome(code: int, elapsed: float) -> float | OSError:
    """The handshake time, or the error of a connect that ended with ``code``."""
    if code and code not in RESET_AFTER_HANDSHAKE:
        return OSError(code, os.strerror(code))
    return elapsed


async def tcp_burst(
    address: Address, port: int, count: int, timeout: float, spacing: float, deadline: float
) -> Attempt:
    """``count`` connections to address:port started ``spacing`` apart, each waiting up to ``timeout``."""
    # The round-trip time of each is its handshake time. Everything ends by ``deadline``: a connection still
    # waiting then counts as a timeout. The address answered when a handshake completed.
    burst = _Burst(address, port, count, timeout, deadline)
    for index in range(count):
        burst.start(index, index * spacing)
    try:
        async with asyncio.timeout(max(0.0, aio.left(deadline))):
            await burst.done
    except TimeoutError:
        pass  # what had not ended by the deadline stays "cut at the deadline"
    finally:
        burst.close()
    outcomes = burst.outcomes
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
