"""Target addresses as a client sees them: host and port, IPv4 and IPv6, names looked up by a deadline."""
# Literals are parsed without any lookup. A name is resolved by the system resolver (getaddrinfo: hosts file,
# DNS, whatever the host uses) in a daemon thread of a small bounded pool: a lookup cannot be interrupted, so
# the check stops waiting at its deadline and the thread ends on its own later; while every slot is taken,
# further lookups wait for one until their deadline. The addresses come in the resolver's order of preference
# (RFC 6724), and a check tries them in that order like a client (``try_each``).

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason

MAX_ADDRESSES = 8
MAX_LOOKUP_THREADS = 4
SLOT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Address:
    """One IP address to check: its family, its text and, for IPv6 link-local, its scope (interface index)."""

    family: int
    ip: str
    scope_id: int = 0

    def sockaddr(self, port: int = 0) -> tuple[Any, ...]:
        if self.family == socket.AF_INET6:
            return (self.ip, port, 0, self.scope_id)
        return (self.ip, port)

    @functools.cached_property
    def is_loopback(self) -> bool:
        parsed = ipaddress.ip_address(self.ip)
        mapped = getattr(parsed, "ipv4_mapped", None)
        return parsed.is_loopback or (mapped is not None and mapped.is_loopback)

    def with_port(self, port: int) -> str:
        return f"[{self}]:{port}" if self.family == socket.AF_INET6 else f"{self.ip}:{port}"

    def __str__(self) -> str:
        return f"{self.ip}%{self.scope_id}" if self.scope_id else self.ip


class LookupFailed(Exception):
    """A name that gave no address: the check's error reason and a detail for people."""

    def __init__(self, error: ErrorReason, detail: str) -> None:
        super().__init__(detail)
        self.error: ErrorReason = error
        self.detail = detail


Resolver = Callable[[str, float], Awaitable[list[Address]]]


def split_host_port(address: str, default_port: int | None) -> tuple[str, int]:
    """(host, port) of "host", "host:port", "[IPv6]", "[IPv6]:port" or a bare IPv6 literal."""
    # Without a port ``default_port`` is used; ValueError when none is given and none is allowed, or when the
    # port is not a number in 1-65535.
    text = address.strip()
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not text[end + 1 :].startswith(":")):
            raise ValueError(f"{address!r}: write an IPv6 address as [address] or [address]:port")
        host, port = text[1:end], text[end + 2 :]
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not port:
        if default_port is None:
            raise ValueError(f"{address!r} is not host:port (IPv6: [address]:port)")
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r}: port {port!r} is not a number in 1-65535")
    return host, int(port)


def invalid_host(host: str) -> str:
    """Why ``host`` cannot be looked up ("" when it can): empty, or not encodable as IDNA."""
    if not host:
        return "empty host name"
    if literal(host) is not None:
        return ""
    try:
        host.encode("idna")
    except UnicodeError as exc:
        return f"invalid host name {host!r}: {exc}"
    return ""


def literal(host: str) -> Address | None:
    """The Address of an IP literal (IPv6 with an optional %scope), None for a name; no lookup."""
    # A probe asks this of the same few addresses several times a cycle, every cycle; a scope given by an
    # interface name is looked up each time (the interface may come and go).
    return _literal(host) if "%" not in host else _parse_literal(host)


@functools.lru_cache(maxsize=256)
def _literal(host: str) -> Address | None:
    return _parse_literal(host)


def _parse_literal(host: str) -> Address | None:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (ValueError, OSError):
        return None
    return addresses_of(infos)[0]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is "localhost" or a loopback literal (127.0.0.0/8, ::1, ::ffff:127.x)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    found = literal(host)
    return found is not None and found.is_loopback


def addresses_of(infos: Sequence[tuple[Any, ...]]) -> list[Address]:
    """The distinct IPv4 and IPv6 addresses of getaddrinfo's answer, in its order, at most MAX_ADDRESSES."""
    found: list[Address] = []
    for family, _, _, _, sockaddr in infos:
        if family == socket.AF_INET:
            address = Address(family, str(sockaddr[0]))
        elif family == socket.AF_INET6:
            address = Address(family, str(sockaddr[0]).split("%")[0], int(sockaddr[3]))
        else:
            continue
        if address not in found:
            found.append(address)
    return found[:MAX_ADDRESSES]


class LookupPool:
    """System name lookups in daemon threads, at most ``max_threads`` at once; see the module docstring."""

    def __init__(
        self,
        max_threads: int = MAX_LOOKUP_THREADS,
        getaddrinfo: Callable[..., list[tuple[Any, ...]]] | None = None,
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_threads)
        self._getaddrinfo = getaddrinfo

    async def resolve(self, host: str, deadline: float) -> list[Address]:
        """The addresses of ``host`` (a literal needs no lookup); LookupFailed by ``deadline``."""
        found = literal(host)
        if found is not None:
            return [found]
        started = aio.now()
        while not self._slots.acquire(blocking=False):
            if aio.left(deadline) <= 0:
                raise LookupFailed("timeout", f"name lookup of {host}: every lookup slot is busy")
            await asyncio.sleep(min(SLOT_POLL_SECONDS, aio.left(deadline)))
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[list[tuple[Any, ...]], OSError | None]] = loop.create_future()

        def settle(outcome: tuple[list[tuple[Any, ...]], OSError | None]) -> None:
            if not answer.done():
                answer.set_result(outcome)

        def lookup() -> None:
            try:
                getaddrinfo = self._getaddrinfo or socket.getaddrinfo
                outcome: tuple[list[tuple[Any, ...]], OSError | None] = (
                    getaddrinfo(host, None, socket.AF_UNSPEC, socket.SOCK_STREAM),
                    None,
                )
            except OSError as exc:
                outcome = ([], exc)
            except Exception as exc:  # e.g. UnicodeError from the IDNA codec
                outcome = ([], OSError(str(exc)))
            finally:
                self._slots.release()
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=lookup, name=f"lookup-{host}"[:40], daemon=True).start()
        try:
            infos, error = await asyncio.wait_for(answer, aio.left(deadline))
        except TimeoutError:
            waited = aio.now() - started
            raise LookupFailed("timeout", f"name lookup of {host}: no answer within {waited:.1f} s") from None
        if error is not None:
            raise LookupFailed("dns_error", f"{host}: {error.strerror or error}")
        addresses = addresses_of(infos)
        if not addresses:
            raise LookupFailed("dns_error", f"{host}: no address")
        return addresses


SYSTEM = LookupPool()


def _retrieve(task: asyncio.Task[list[Address]]) -> None:
    if not task.cancelled():
        task.exception()


class CycleResolver:
    """One cycle's lookups: a name several targets share is looked up once; each waits to its deadline."""

    def __init__(self, deadline: float, resolve: Resolver = SYSTEM.resolve) -> None:
        self._deadline = deadline  # the cycle's: a lookup serves checks with shorter deadlines too
        self._resolve = resolve
        self._pending: dict[str, asyncio.Task[list[Address]]] = {}

    async def __call__(self, host: str, deadline: float) -> list[Address]:
        found = literal(host)
        if found is not None:
            return [found]
        task = self._pending.get(host)
        if task is None:
            task = asyncio.ensure_future(self._resolve(host, self._deadline))
            task.add_done_callback(_retrieve)  # a lookup nobody waits for any more fails quietly
            self._pending[host] = task
        started = aio.now()
        try:
            return await asyncio.wait_for(asyncio.shield(task), aio.left(deadline))
        except TimeoutError:
            waited = aio.now() - started
            raise LookupFailed("timeout", f"name lookup of {host}: no answer within {waited:.1f} s") from None


@dataclass(frozen=True)
class Attempt:
    """What checking one address gave, and whether that address answered at all (like a client's connect)."""

    result: CheckResult
    answered: bool


def _said(address: Address, result: CheckResult) -> str:
    return f"{address}: {result.error or 'failed'}"


async def try_each(
    addresses: Sequence[Address], check: Callable[[Address], Awaitable[Attempt]], deadline: float
) -> CheckResult:
    """Check the addresses in order until one answers, like a client; the verdict is that address's."""
    # The result names the address it is about (``address``): the one that answered, else the first one tried,
    # whose error it keeps; the detail lists the addresses that did not answer and those left untried when
    # ``deadline`` came.
    failed: list[tuple[Address, CheckResult]] = []
    for address in addresses:
        if failed and aio.left(deadline) <= 0:
            break
        attempt = await check(address)
        if attempt.answered:
            result = dataclasses.replace(attempt.result, address=str(address))
            if failed:
                others = ", ".join(_said(a, r) for a, r in failed)
                result = dataclasses.replace(result, detail=f"{result.detail} (after {others})".strip())
            return result
        failed.append((address, attempt.result))
    if not failed:
        return CheckResult(False, error="timeout", detail="no time left to try an address")
    first_address, first = failed[0]
    untried = [str(a) for a in addresses[len(failed) :]]
    detail = first.detail
    if len(failed) > 1 or untried:
        detail = "; ".join(f"{_said(a, r)} ({r.detail})" if r.detail else _said(a, r) for a, r in failed)
        if untried:
            detail += f"; not tried in time: {', '.join(untried)}"
    return dataclasses.replace(first, detail=detail, address=str(first_address))
