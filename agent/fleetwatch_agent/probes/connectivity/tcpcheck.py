"""TCP check: the connect time to host:port over a short burst of connections, and socket error reasons."""

from __future__ import annotations

import errno
import socket
import time

from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts

# errno values meaning "no route to the peer"; Windows reports sockets' WSAE* codes instead.
UNREACHABLE_ERRNOS = frozenset(
    code
    for name in (
        "EHOSTUNREACH",
        "ENETUNREACH",
        "EHOSTDOWN",
        "ENETDOWN",
        "WSAEHOSTUNREACH",
        "WSAENETUNREACH",
        "WSAEHOSTDOWN",
        "WSAENETDOWN",
    )
    if (code := getattr(errno, name, None)) is not None
)


def os_error_reason(exc: OSError) -> tuple[ErrorReason, str]:
    """The failure reason of a socket error (from the fixed set of CheckResult.error) and a detail."""
    detail = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return "dns_error", detail
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(exc, TimeoutError):
        return "timeout", "timed out"
    if exc.errno in UNREACHABLE_ERRNOS:
        return "unreachable", detail
    return "other", detail


def invalid_host(host: str) -> str:
    """Why ``host`` cannot be looked up ("" when it can): empty, or not encodable as IDNA."""
    if not host:
        return "empty host name"
    try:
        host.encode("idna")
    except UnicodeError as exc:
        return f"invalid host name {host!r}: {exc}"
    return ""


def tcp_connect(host: str, port: int, count: int = 3, timeout: float = 2.0) -> CheckResult:
    """Connect ``count`` times in a row to host:port; each round-trip time is one connect's duration.

    The name is resolved once (system resolver) before the burst and its time is not counted;
    the first address returned is used. Arguments that cannot work (bad port, count, name) give
    error "other" with sent 0: nothing was attempted. A name that does not resolve gives
    "dns_error" with sent ``count``, like a burst without answers.
    """
    problem = invalid_host(host)
    if not problem and not 0 < port < 65536:
        problem = f"port {port} out of range 1-65535"
    if not problem and count < 1:
        problem = f"count must be at least 1, not {count}"
    if problem:
        return from_rtts(0, [], "other", problem)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:  # socket.gaierror, or a resolver failure of the system
        reason, detail = os_error_reason(exc)
        return from_rtts(count, [], reason, f"{host}: {detail}")
    if not infos:
        return from_rtts(count, [], "dns_error", f"{host}: no address")
    family, kind, proto, _, sockaddr = infos[0]
    where = f"{sockaddr[0]}:{port}"
    rtts: list[float] = []
    failure: tuple[ErrorReason, str] = ("timeout", "")
    for _ in range(count):
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            start = time.perf_counter()
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                failure = os_error_reason(exc)
                continue
            rtts.append(time.perf_counter() - start)
    if rtts:
        return from_rtts(count, rtts, detail=where)
    reason, detail = failure
    return from_rtts(count, [], reason, f"{where}: {detail}")
