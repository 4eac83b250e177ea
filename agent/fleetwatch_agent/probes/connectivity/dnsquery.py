"""DNS check: ``count`` A queries for one name to one given server (not the system resolver)."""
# Each query goes over UDP from a fresh socket (fresh source port and id); an answer with TC set (truncated)
# is asked again over TCP (RFC 7766), within the same query's wait. IPv4 and IPv6 servers alike.

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import struct
from dataclasses import dataclass

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import (
    SYSTEM,
    Address,
    Attempt,
    LookupFailed,
    invalid_host,
    try_each,
)
from fleetwatch_agent.probes.connectivity.dnscheck import (
    DnsFormatError,
    DnsIdMismatch,
    DnsNameError,
    Response,
    build_query,
    encode_name,
    parse_message,
    rcode_name,
)
from fleetwatch_agent.probes.connectivity.model import CheckResult, ErrorReason, from_rtts
from fleetwatch_agent.probes.connectivity.tcpcheck import os_error_reason

MAX_DATAGRAM = 65535
LOOKUP_SECONDS = 5.0


def query_id_now() -> int:
    """An unpredictable query id from the OS's generator (RFC 5452), as secrets.randbelow(0x10000) gives."""
    return int.from_bytes(os.urandom(2), "big")


@dataclass(frozen=True)
class _Answer:
    """One query: answered (rtt set, with the response) or failed (error and detail)."""

    rtt: float | None = None
    response: Response | None = None
    error: ErrorReason = ""
    detail: str = ""
    over_tcp: bool = False
    heard: bool = False  # the server said something, even if the answer was unusable


async def _udp(address: Address, port: int, name: str, deadline: float) -> tuple[Response | None, _Answer]:
    """One UDP query on a connected socket; responses with another id are ignored."""
    # Connected: the kernel drops other peers' datagrams and turns an ICMP port unreachable into
    # ConnectionRefusedError.
    query_id = query_id_now()
    where = address.with_port(port)
    with socket.socket(address.family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.connect(address.sockaddr(port))
            sock.send(build_query(query_id, name))
            while await aio.readable(sock, aio.left(deadline)):
                try:
                    data = sock.recv(MAX_DATAGRAM)
                except BlockingIOError:
                    continue
                try:
                    return parse_message(data, query_id), _Answer(heard=True)
                except DnsIdMismatch:
                    continue
                except DnsFormatError as exc:
                    return None, _Answer(
                        error="dns_error", detail=f"malformed response from {where}: {exc}", heard=True
                    )
        except ConnectionResetError:  # Windows reports an ICMP port unreachable on UDP this way
            return None, _Answer(error="refused", detail=f"{where}: connection refused")
        except OSError as exc:
            reason, detail = os_error_reason(exc)
            return None, _Answer(error=reason, detail=f"{where}: {detail}")
    return None, _Answer(error="timeout", detail=f"no answer from {where}")


async def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        data += chunk
    return data


async def _tcp(address: Address, port: int, name: str, deadline: float) -> tuple[Response | None, _Answer]:
    """One query over TCP, two-byte length prefixed (RFC 1035 4.2.2), on a connection of its own."""
    query_id = query_id_now()
    where = f"{address.with_port(port)} over TCP"
    query = build_query(query_id, name)
    with socket.socket(address.family, socket.SOCK_STREAM) as sock:
        try:
            await aio.connect(sock, address.sockaddr(port), aio.left(deadline))

            async def exchange() -> bytes:
                await asyncio.get_running_loop().sock_sendall(sock, struct.pack("!H", len(query)) + query)
                (length,) = struct.unpack("!H", await _recv_exactly(sock, 2))
                return await _recv_exactly(sock, length)

            data = await asyncio.wait_for(exchange(), aio.left(deadline))
            response = parse_message(data, query_id)
        except (DnsFormatError, DnsIdMismatch) as exc:
            return None, _Answer(
                error="dns_error", detail=f"malformed response from {where}: {exc}", heard=True
            )
        except OSError as exc:  # TimeoutError included
            reason, detail = os_error_reason(exc)
            return None, _Answer(error=reason, detail=f"{where}: {detail}")
    return response, _Answer()


async def _query(address: Address, port: int, name: str, timeout: float, deadline: float) -> _Answer:
    """One query within ``timeout``: over UDP, and over TCP again when the UDP answer was truncated."""
    start = aio.now()
    until = min(deadline, start + timeout)
    response, failure = await _udp(address, port, name, until)
    over_tcp = response is not None and response.truncated
    if over_tcp:
        response, failure = await _tcp(address, port, name, until)
        if response is None:
            detail = f"truncated answer over UDP; {failure.detail}"
            return _Answer(error=failure.error, detail=detail, over_tcp=True, heard=True)
    if response is None:
        if failure.error == "timeout":
            failure = _Answer(error="timeout", detail=f"{failure.detail} within {timeout:g} s")
        return failure
    return _Answer(aio.now() - start, response, over_tcp=over_tcp, heard=True)


async def dns_queries(
    address: Address, port: int, name: str, count: int, timeout: float, spacing: float, deadline: float
) -> Attempt:
    """``count`` queries to the server at address:port started ``spacing`` apart, each waiting ``timeout``."""
    # Every well-formed answer counts as received with its round-trip time, whatever its rcode. Success means
    # at least one answer with rcode NOERROR and an address (detail: the addresses). Otherwise, when answers
    # came: error "dns_error" with the rcode's name as detail (e.g. "SERVFAIL"), or "no address" for NOERROR
    # without an A record, round-trip times kept. Without answers: "dns_error" for a malformed answer, else
    # "refused", "unreachable", "other" or "timeout" (the first such reason). The server answered when it said
    # anything at all.

    async def one(index: int) -> _Answer:
        await asyncio.sleep(index * spacing)
        if aio.left(deadline) <= 0:
            return _Answer(error="timeout", detail="no time left for this query")
        return await _query(address, port, name, timeout, deadline)

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=aio.left(deadline))
    for task in pending:
        task.cancel()
    answers = [
        t.result() if t in done else _Answer(error="timeout", detail="cut at the deadline") for t in tasks
    ]
    answered = [a for a in answers if a.rtt is not None and a.response is not None]
    rtts = [a.rtt for a in answered if a.rtt is not None]
    heard = any(a.heard for a in answers)
    tcp_note = "; truncated over UDP, answered over TCP" if any(a.over_tcp for a in answered) else ""
    found = list(
        dict.fromkeys(
            x for a in answered if a.response and a.response.rcode == 0 for x in a.response.addresses
        )
    )
    if found:
        return Attempt(from_rtts(count, rtts, detail=", ".join(found) + tcp_note), True)
    if answered:
        rcode = answered[-1].response.rcode if answered[-1].response else 0
        detail = (rcode_name(rcode) if rcode else "no address") + tcp_note
        result = dataclasses.replace(from_rtts(count, rtts), success=False, error="dns_error", detail=detail)
        return Attempt(result, True)
    failed = [a for a in answers if a.error != "timeout"] or answers
    return Attempt(from_rtts(count, [], failed[0].error, failed[0].detail), heard)


def dns_resolve(
    server: str,
    name: str,
    timeout: float = 2.0,
    count: int = 1,
    port: int = 53,
    spacing: float = 0.2,
    deadline: float | None = None,
) -> CheckResult:
    """Ask ``server`` (an address, or a name: each address in turn) for the A records of ``name``."""
    # See dns_queries. Arguments that cannot work (bad name, count, port, server) give "other" with sent 0;
    # this function never raises for them. Everything ends by ``deadline`` (monotonic seconds; by default the
    # queries of two addresses after a lookup).
    problem = invalid_host(server)
    if not problem and (count < 1 or not 0 < port < 65536):
        problem = f"count {count} must be at least 1 and port {port} in 1-65535"
    if not problem:
        try:
            encode_name(name)
        except DnsNameError as exc:
            problem = str(exc)
    if problem:
        return from_rtts(0, [], "other", problem)
    until = (
        deadline
        if deadline is not None
        else aio.now() + LOOKUP_SECONDS + 2 * ((count - 1) * spacing + timeout)
    )

    async def check() -> CheckResult:
        try:
            addresses = await SYSTEM.resolve(server, until)
        except LookupFailed as exc:
            return from_rtts(count, [], exc.error, exc.detail)
        return await try_each(
            addresses, lambda a: dns_queries(a, port, name, count, timeout, spacing, until), until
        )

    return aio.run(check())
